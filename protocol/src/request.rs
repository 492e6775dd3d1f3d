//! Driver side: validating an input buffer into a [`Request`].

use core::net::SocketAddr;
use zerocopy::FromBytes;

use crate::wire::{
    CloseRequest, Header, InfoRequest, ListRequest, RecvRequest, SendRequest, TcpConnectRequest,
    TcpListenRequest,
};
use crate::{
    EndpointId, IoctlCode, ProtocolError, Service, ABI_VERSION, DEFAULT_TIMEOUT_MS, FLAG_DETACH,
    MAX_TRANSFER,
};

/// A validated request: every field has been checked, so the driver can trust it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// INFO.
    Info,
    /// `TCP_CONNECT`.
    TcpConnect(TcpConnect),
    /// `TCP_LISTEN`.
    TcpListen(TcpListen),
    /// SEND, borrowing its data from the input buffer.
    Send(Send<'a>),
    /// RECV.
    Recv(Recv),
    /// CLOSE of this endpoint.
    Close(EndpointId),
    /// LIST.
    List,
}

/// A validated `TCP_CONNECT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpConnect {
    /// The peer (nonzero port).
    pub remote: SocketAddr,
    /// The local address to bind; `None` binds the wildcard address of the remote's family.
    /// When given, it has the remote's family.
    pub local: Option<SocketAddr>,
    /// [`crate::FLAG_DETACH`] was set: the endpoint outlives the creating handle.
    pub detach: bool,
    /// Connect timeout in milliseconds, never 0 ([`DEFAULT_TIMEOUT_MS`] already applied).
    pub timeout_ms: u32,
}

/// A validated `TCP_LISTEN`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpListen {
    /// The address to listen on (nonzero port).
    pub local: SocketAddr,
    /// The service run on each accepted connection.
    pub service: Service,
    /// The requested backlog; 0 lets the driver choose.
    pub backlog: u32,
    /// [`crate::FLAG_DETACH`] was set: the endpoint outlives the creating handle.
    pub detach: bool,
}

/// A validated SEND.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Send<'a> {
    /// The connection to send on (nonzero).
    pub id: EndpointId,
    /// Timeout in milliseconds, never 0 ([`DEFAULT_TIMEOUT_MS`] already applied).
    pub timeout_ms: u32,
    /// The bytes to send, at most [`MAX_TRANSFER`].
    pub data: &'a [u8],
}

/// A validated RECV.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recv {
    /// The connection to receive from (nonzero).
    pub id: EndpointId,
    /// Timeout in milliseconds, never 0 ([`DEFAULT_TIMEOUT_MS`] already applied).
    pub timeout_ms: u32,
    /// The most bytes to return, at most [`MAX_TRANSFER`]; the reply also limits it to the
    /// output buffer's room after the 16-byte [`crate::RecvReply`].
    pub max_length: u32,
}

/// Validates the input buffer of an IOCTL.
///
/// Checks, in order: the code is known; the buffer holds a [`Header`]; the header's
/// `abi_version` is [`ABI_VERSION`]; `header.size` equals the buffer length; the buffer is
/// exactly the request's struct (SEND: struct plus `length` bytes); then the fields.
///
/// Runs at any IRQL (it only reads `input`).
///
/// # Errors
///
/// The [`ProtocolError`] of the first check that fails; complete the IRP with its
/// [`ProtocolError::status`].
pub fn parse_request(code: u32, input: &[u8]) -> Result<Request<'_>, ProtocolError> {
    let code = IoctlCode(code);
    if code.name().is_none() {
        return Err(ProtocolError::UnknownCode);
    }
    let (header, _) = Header::read_from_prefix(input).map_err(|_| ProtocolError::LengthMismatch)?;
    if header.abi_version != ABI_VERSION {
        return Err(ProtocolError::VersionMismatch);
    }
    if usize::try_from(header.size) != Ok(input.len()) {
        return Err(ProtocolError::LengthMismatch);
    }
    match code {
        IoctlCode::INFO => read_exact::<InfoRequest>(input).map(|_| Request::Info),
        IoctlCode::TCP_CONNECT => parse_tcp_connect(&read_exact(input)?).map(Request::TcpConnect),
        IoctlCode::TCP_LISTEN => parse_tcp_listen(&read_exact(input)?).map(Request::TcpListen),
        IoctlCode::SEND => parse_send(input).map(Request::Send),
        IoctlCode::RECV => parse_recv(&read_exact(input)?).map(Request::Recv),
        IoctlCode::CLOSE => {
            let request: CloseRequest = read_exact(input)?;
            EndpointId::checked(request.id).map(Request::Close)
        }
        IoctlCode::LIST => read_exact::<ListRequest>(input).map(|_| Request::List),
        _ => Err(ProtocolError::UnknownCode),
    }
}

/// The whole of `input` as one `T`: shorter or longer is a length mismatch.
fn read_exact<T: FromBytes>(input: &[u8]) -> Result<T, ProtocolError> {
    T::read_from_bytes(input).map_err(|_| ProtocolError::LengthMismatch)
}

const fn effective_timeout(timeout_ms: u32) -> u32 {
    if timeout_ms == 0 {
        DEFAULT_TIMEOUT_MS
    } else {
        timeout_ms
    }
}

/// The `detach` bit of a flags field that allows only [`FLAG_DETACH`].
const fn detach_flag(flags: u32) -> Result<bool, ProtocolError> {
    if flags & !FLAG_DETACH != 0 {
        return Err(ProtocolError::InvalidParameter);
    }
    Ok(flags & FLAG_DETACH != 0)
}

fn parse_tcp_connect(request: &TcpConnectRequest) -> Result<TcpConnect, ProtocolError> {
    let remote = request
        .remote
        .to_socket_addr()?
        .ok_or(ProtocolError::BadAddress)?;
    if remote.port() == 0 {
        return Err(ProtocolError::BadAddress);
    }
    let local = request.local.to_socket_addr()?;
    if local.is_some_and(|local| local.is_ipv4() != remote.is_ipv4()) {
        return Err(ProtocolError::BadAddress);
    }
    Ok(TcpConnect {
        remote,
        local,
        detach: detach_flag(request.flags)?,
        timeout_ms: effective_timeout(request.timeout_ms),
    })
}

fn parse_tcp_listen(request: &TcpListenRequest) -> Result<TcpListen, ProtocolError> {
    let local = request
        .local
        .to_socket_addr()?
        .ok_or(ProtocolError::BadAddress)?;
    if local.port() == 0 {
        return Err(ProtocolError::BadAddress);
    }
    if request.reserved != 0 {
        return Err(ProtocolError::InvalidParameter);
    }
    let service = Service::from_u32(request.service).ok_or(ProtocolError::InvalidParameter)?;
    Ok(TcpListen {
        local,
        service,
        backlog: request.backlog,
        detach: detach_flag(request.flags)?,
    })
}

fn parse_send(input: &[u8]) -> Result<Send<'_>, ProtocolError> {
    let (request, data) =
        SendRequest::read_from_prefix(input).map_err(|_| ProtocolError::LengthMismatch)?;
    if usize::try_from(request.length) != Ok(data.len()) {
        return Err(ProtocolError::LengthMismatch);
    }
    if request.length > MAX_TRANSFER {
        return Err(ProtocolError::InvalidParameter);
    }
    Ok(Send {
        id: EndpointId::checked(request.id)?,
        timeout_ms: effective_timeout(request.timeout_ms),
        data,
    })
}

fn parse_recv(request: &RecvRequest) -> Result<Recv, ProtocolError> {
    if request.max_length > MAX_TRANSFER {
        return Err(ProtocolError::InvalidParameter);
    }
    Ok(Recv {
        id: EndpointId::checked(request.id)?,
        timeout_ms: effective_timeout(request.timeout_ms),
        max_length: request.max_length,
    })
}
