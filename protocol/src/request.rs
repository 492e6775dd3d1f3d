//! Driver side: validating an input buffer into a [`Request`].

use core::mem::offset_of;
use core::net::SocketAddr;
use core::ops::Range;
use zerocopy::FromBytes;

use crate::text::{read_padded, read_sddl};
use crate::wire::{
    AcceptRequest, CloseRequest, DeletePeerTargetNameRequest, DeviceSecurityRequest,
    DisconnectRequest, Header, HeldRequest, InfoRequest, ListRequest, PeerTargetNameRequest,
    QuerySecurityRequest, RecvFromRequest, RecvRequest, ResolveRequest, SecurityRequest,
    SendRequest, SendToRequest, ServeRequest, SocketOptionRequest, StatsRequest, TcpConnectRequest,
    TcpListenRequest, TransactRequest, UdpBindRequest, WireAddr, WireSize, WireSocketSecurity,
};
use crate::{
    EndpointId, IoctlCode, OptionId, ProtocolError, SecureProtocol, Service, SocketSecurity,
    UdpService, ABI_VERSION, DEFAULT_MAX_CONNECTIONS, DEFAULT_TIMEOUT_MS, DISCONNECT_ABORTIVE,
    FLAG_DETACH, FLAG_DUAL_STACK, FLAG_EXCLUSIVEADDRUSE, FLAG_REUSEADDR, FLAG_SECURE, FLAG_V6ONLY,
    MAX_CONNECTIONS, MAX_DATAGRAM, MAX_TRANSACT, MAX_TRANSFER, PEER_TARGET_NAME_LEN,
    SECURE_ALLOW_INSECURE, SECURE_GUARANTEE_ENCRYPTION,
};

/// A validated request: every field has been checked, so the driver can trust it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// INFO.
    Info,
    /// `TCP_CONNECT`, borrowing its peer target name from the input buffer.
    TcpConnect(TcpConnect<'a>),
    /// `TCP_LISTEN`, borrowing its SDDL from the input buffer.
    TcpListen(TcpListen<'a>),
    /// SEND (its data is the output buffer).
    Send(Send),
    /// RECV.
    Recv(Recv),
    /// CLOSE of this endpoint.
    Close(EndpointId),
    /// LIST.
    List,
    /// `UDP_BIND`, borrowing its SDDL from the input buffer.
    UdpBind(UdpBind<'a>),
    /// `SEND_TO` (its datagram is the output buffer).
    SendTo(SendTo),
    /// `RECV_FROM`.
    RecvFrom(RecvFrom),
    /// DISCONNECT.
    Disconnect(Disconnect),
    /// `ACCEPT`: take a queued connection (direct I/O: the reply goes to the output buffer).
    Accept(Accept),
    /// `SERVE`: hand a connection to an in-kernel service.
    Serve(Serve),
    /// `SOCKET_OPTION`.
    SocketOption(SocketOption),
    /// SECURITY of this endpoint.
    Security(EndpointId),
    /// RESOLVE, borrowing the name and service from the input buffer.
    Resolve(Resolve<'a>),
    /// STATS.
    Stats,
    /// HELD.
    Held,
    /// `DEVICE_SECURITY`.
    DeviceSecurity,
    /// `SET_PEER_TARGET_NAME`, borrowing the name from the input buffer.
    SetPeerTargetName(SetPeerTargetName<'a>),
    /// `DELETE_PEER_TARGET_NAME`.
    DeletePeerTargetName(DeletePeerTargetName),
    /// `QUERY_SECURITY`.
    QuerySecurity(QuerySecurity),
    /// TRANSACT: send, then receive the reply (both in the output buffer).
    Transact(Transact),
}

/// The bind options of a `TCP_CONNECT`, `TCP_LISTEN` or `UDP_BIND`, applied to the socket
/// before it is bound. The default changes nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BindFlags {
    /// Set `SO_REUSEADDR` ([`FLAG_REUSEADDR`]).
    pub reuse: bool,
    /// Set `SO_EXCLUSIVEADDRUSE` ([`FLAG_EXCLUSIVEADDRUSE`]). Never together with `reuse`.
    pub exclusive: bool,
    /// Set `IPV6_V6ONLY`: `Some(true)` IPv6 only ([`FLAG_V6ONLY`]), `Some(false)` dual stack
    /// ([`FLAG_DUAL_STACK`]), `None` the provider's default. Only on IPv6 sockets.
    pub v6only: Option<bool>,
}

impl BindFlags {
    /// The `FLAG_*` bits for these options (without [`FLAG_DETACH`]).
    #[must_use]
    pub const fn to_flags(self) -> u32 {
        let mut flags = 0;
        if self.reuse {
            flags |= FLAG_REUSEADDR;
        }
        if self.exclusive {
            flags |= FLAG_EXCLUSIVEADDRUSE;
        }
        match self.v6only {
            Some(true) => flags |= FLAG_V6ONLY,
            Some(false) => flags |= FLAG_DUAL_STACK,
            None => {}
        }
        flags
    }

    /// Splits a request's `flags` into the detach bit and the bind options, for a socket of
    /// `address`'s family.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::InvalidParameter`] for unknown bits, `REUSEADDR` with
    /// `EXCLUSIVEADDRUSE`, `V6ONLY` with `DUAL_STACK`, or either of those on an IPv4 socket.
    fn from_flags(flags: u32, address: SocketAddr) -> Result<(bool, Self), ProtocolError> {
        // FLAG_SECURE is the security settings' ([`parse_security`]).
        const KNOWN: u32 = FLAG_DETACH
            | FLAG_REUSEADDR
            | FLAG_EXCLUSIVEADDRUSE
            | FLAG_V6ONLY
            | FLAG_DUAL_STACK
            | FLAG_SECURE;
        let set = |flag: u32| flags & flag != 0;
        if flags & !KNOWN != 0
            || (set(FLAG_REUSEADDR) && set(FLAG_EXCLUSIVEADDRUSE))
            || (set(FLAG_V6ONLY) && set(FLAG_DUAL_STACK))
        {
            return Err(ProtocolError::InvalidParameter);
        }
        let v6only = if set(FLAG_V6ONLY) {
            Some(true)
        } else if set(FLAG_DUAL_STACK) {
            Some(false)
        } else {
            None
        };
        if v6only.is_some() && address.is_ipv4() {
            return Err(ProtocolError::InvalidParameter);
        }
        let bind = Self {
            reuse: set(FLAG_REUSEADDR),
            exclusive: set(FLAG_EXCLUSIVEADDRUSE),
            v6only,
        };
        Ok((set(FLAG_DETACH), bind))
    }
}

/// A validated `TCP_CONNECT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpConnect<'a> {
    /// The peer (nonzero port).
    pub remote: SocketAddr,
    /// The local address to bind; `None` binds the wildcard address of the remote's family.
    /// When given, it has the remote's family.
    pub local: Option<SocketAddr>,
    /// [`crate::FLAG_DETACH`] was set: the endpoint outlives the creating handle.
    pub detach: bool,
    /// Connect timeout in milliseconds, never 0 ([`DEFAULT_TIMEOUT_MS`] already applied).
    pub timeout_ms: u32,
    /// Options applied before binding (`v6only` only for an IPv6 remote).
    pub bind: BindFlags,
    /// Secure socket settings applied before binding ([`FLAG_SECURE`]).
    pub security: Option<SocketSecurity>,
    /// The peer's target name for the settings' protocol, applied before connect: 1 to 127
    /// bytes of UTF-8 without NUL; only with `security`.
    pub peer_target_name: Option<&'a str>,
}

/// A validated `TCP_LISTEN`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpListen<'a> {
    /// The address to listen on (nonzero port).
    pub local: SocketAddr,
    /// The service run on each accepted connection.
    pub service: Service,
    /// The requested backlog; 0 lets the driver choose.
    pub backlog: u32,
    /// [`crate::FLAG_DETACH`] was set: the endpoint outlives the creating handle.
    pub detach: bool,
    /// Connections served at once: 1 to [`MAX_CONNECTIONS`] ([`DEFAULT_MAX_CONNECTIONS`]
    /// already applied for 0).
    pub max_connections: u32,
    /// Options applied before binding (`v6only` only for an IPv6 address).
    pub bind: BindFlags,
    /// The listener's security descriptor as SDDL (non-empty UTF-8 without NUL, at most 256
    /// bytes; not yet checked as SDDL), or `None` for the provider's default.
    pub sddl: Option<&'a str>,
    /// Secure socket settings applied before binding ([`FLAG_SECURE`]).
    pub security: Option<SocketSecurity>,
}

/// A validated SEND. The bytes to send are the request's output buffer (direct I/O), which
/// must be exactly `length` bytes long ([`direct_output_len`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Send {
    /// The connection to send on (nonzero).
    pub id: EndpointId,
    /// Timeout in milliseconds, never 0 ([`DEFAULT_TIMEOUT_MS`] already applied).
    pub timeout_ms: u32,
    /// Bytes to send: 1 to [`MAX_TRANSFER`].
    pub length: u32,
}

/// A validated RECV. The bytes land in the request's output buffer (direct I/O), which must
/// be exactly `max_length` bytes long ([`direct_output_len`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recv {
    /// The connection to receive from (nonzero).
    pub id: EndpointId,
    /// Timeout in milliseconds, never 0 ([`DEFAULT_TIMEOUT_MS`] already applied).
    pub timeout_ms: u32,
    /// The most bytes to return: 1 to [`MAX_TRANSFER`].
    pub max_length: u32,
}

/// A validated TRANSACT. Its output buffer (direct I/O) must be exactly
/// `max(length, max_reply)` bytes ([`direct_output_len`]): the driver sends the first
/// `length`, then receives at most `max_reply` bytes into its start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transact {
    /// The connection (nonzero).
    pub id: EndpointId,
    /// Timeout in milliseconds for send and reply together, never 0 ([`DEFAULT_TIMEOUT_MS`]
    /// already applied).
    pub timeout_ms: u32,
    /// Bytes to send: 1 to [`MAX_TRANSACT`].
    pub length: u32,
    /// The most reply bytes to return: 1 to [`MAX_TRANSACT`].
    pub max_reply: u32,
}

/// A validated `UDP_BIND`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpBind<'a> {
    /// The address to bind (port 0: the stack chooses).
    pub local: SocketAddr,
    /// What the socket does with its datagrams.
    pub service: UdpService,
    /// Options applied before binding (`v6only` only for an IPv6 address).
    pub bind: BindFlags,
    /// [`crate::FLAG_DETACH`] was set: the endpoint outlives the creating handle.
    pub detach: bool,
    /// The socket's security descriptor as SDDL, as in [`TcpListen::sddl`].
    pub sddl: Option<&'a str>,
    /// Secure socket settings applied before binding ([`FLAG_SECURE`]).
    pub security: Option<SocketSecurity>,
}

/// A validated `SEND_TO`. The datagram is the request's output buffer (direct I/O), which
/// must be exactly `length` bytes long ([`direct_output_len`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendTo {
    /// The UDP endpoint to send from (nonzero).
    pub id: EndpointId,
    /// Timeout in milliseconds, never 0 ([`DEFAULT_TIMEOUT_MS`] already applied).
    pub timeout_ms: u32,
    /// The destination (nonzero port).
    pub remote: SocketAddr,
    /// The datagram's length: 1 to [`MAX_DATAGRAM`] (an empty datagram is not a request).
    pub length: u32,
}

/// A validated `RECV_FROM`. Its output buffer (direct I/O) must be exactly 48 +
/// `max_length` bytes: the [`crate::RecvFromReply`] the driver writes
/// ([`crate::write_recv_from_header`]), then the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecvFrom {
    /// The UDP endpoint to receive on (nonzero).
    pub id: EndpointId,
    /// Timeout in milliseconds, never 0 ([`DEFAULT_TIMEOUT_MS`] already applied).
    pub timeout_ms: u32,
    /// The most bytes to return: 1 to [`MAX_DATAGRAM`]. A longer datagram is truncated.
    pub max_length: u32,
}

/// A validated DISCONNECT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Disconnect {
    /// The connection to shut down (nonzero).
    pub id: EndpointId,
    /// Timeout in milliseconds, never 0 ([`DEFAULT_TIMEOUT_MS`] already applied).
    pub timeout_ms: u32,
    /// [`DISCONNECT_ABORTIVE`]: reset the connection instead of shutting down the send
    /// direction gracefully.
    pub abortive: bool,
}

/// A validated ACCEPT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accept {
    /// The accept-mode listener (nonzero).
    pub id: EndpointId,
    /// How long to wait for a connection, never 0 ([`DEFAULT_TIMEOUT_MS`] already applied).
    pub timeout_ms: u32,
    /// [`FLAG_DETACH`] was set: the connection outlives the handle that accepted it.
    pub detach: bool,
}

/// A validated SERVE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Serve {
    /// The TCP connection (nonzero).
    pub id: EndpointId,
    /// The service: echo, discard or source (never [`Service::None`]).
    pub service: Service,
}

/// A validated `SOCKET_OPTION`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketOption {
    /// The endpoint (nonzero).
    pub id: EndpointId,
    /// The option.
    pub option: OptionId,
    /// `Some(value)` to set it (only [`OptionId::is_settable`] options, with a value
    /// [`OptionId::accepts`]), `None` to get it.
    pub set: Option<u32>,
}

/// A validated RESOLVE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resolve<'a> {
    /// The host name or address literal: 1 to 255 bytes of UTF-8 without NUL.
    pub name: &'a str,
    /// The service (a port number or a service name): 0 to 31 bytes of UTF-8 without NUL;
    /// empty for none.
    pub service: &'a str,
    /// Timeout in milliseconds, never 0 ([`DEFAULT_TIMEOUT_MS`] already applied).
    pub timeout_ms: u32,
}

/// A validated `SET_PEER_TARGET_NAME`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetPeerTargetName<'a> {
    /// The UDP endpoint (nonzero).
    pub id: EndpointId,
    /// The peer the name is for (nonzero port).
    pub peer: SocketAddr,
    /// The protocol the name is for.
    pub protocol: SecureProtocol,
    /// The name: 1 to 127 bytes of UTF-8 without NUL.
    pub name: &'a str,
}

/// A validated `DELETE_PEER_TARGET_NAME`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeletePeerTargetName {
    /// The UDP endpoint (nonzero).
    pub id: EndpointId,
    /// The peer whose name to forget (nonzero port).
    pub peer: SocketAddr,
}

/// A validated `QUERY_SECURITY`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuerySecurity {
    /// A TCP connection or a UDP endpoint (nonzero).
    pub id: EndpointId,
    /// A UDP endpoint's peer (nonzero port); `None` for a TCP connection. Which one the
    /// endpoint needs is the driver's check.
    pub peer: Option<SocketAddr>,
}

/// Validates the input buffer of an IOCTL.
///
/// Checks, in order: the code is known; the buffer holds a [`Header`]; the header's
/// `abi_version` is [`ABI_VERSION`]; `header.size` equals the buffer length; the buffer is
/// exactly the request's struct; then the fields. The output buffer of a direct request is
/// the caller's to check against [`direct_output_len`].
///
/// Runs at any IRQL (it only reads `input`).
///
/// # Errors
///
/// The [`ProtocolError`] of the first check that fails; complete the IRP with its
/// [`ProtocolError::status`].
pub fn parse_request(code: u32, input: &[u8]) -> Result<Request<'_>, ProtocolError> {
    let code = IoctlCode(code);
    if code == IoctlCode::INFO_BEFORE_ABI_4 {
        // An older client's INFO: its header says which version it speaks.
        Header::read_from_prefix(input).map_err(|_| ProtocolError::LengthMismatch)?;
        return Err(ProtocolError::VersionMismatch);
    }
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
        IoctlCode::TCP_CONNECT => parse_tcp_connect(input).map(Request::TcpConnect),
        IoctlCode::TCP_LISTEN => parse_tcp_listen(input).map(Request::TcpListen),
        IoctlCode::SEND => parse_send(&read_exact(input)?).map(Request::Send),
        IoctlCode::RECV => parse_recv(&read_exact(input)?).map(Request::Recv),
        IoctlCode::CLOSE => {
            let request: CloseRequest = read_exact(input)?;
            EndpointId::checked(request.id).map(Request::Close)
        }
        IoctlCode::LIST => read_exact::<ListRequest>(input).map(|_| Request::List),
        IoctlCode::UDP_BIND => parse_udp_bind(input).map(Request::UdpBind),
        IoctlCode::SEND_TO => parse_send_to(&read_exact(input)?).map(Request::SendTo),
        IoctlCode::RECV_FROM => parse_recv_from(&read_exact(input)?).map(Request::RecvFrom),
        IoctlCode::DISCONNECT => parse_disconnect(&read_exact(input)?).map(Request::Disconnect),
        IoctlCode::ACCEPT => parse_accept(&read_exact(input)?).map(Request::Accept),
        IoctlCode::SERVE => parse_serve(&read_exact(input)?).map(Request::Serve),
        IoctlCode::SOCKET_OPTION => {
            parse_socket_option(&read_exact(input)?).map(Request::SocketOption)
        }
        IoctlCode::SECURITY => {
            let request: SecurityRequest = read_exact(input)?;
            EndpointId::checked(request.id).map(Request::Security)
        }
        IoctlCode::RESOLVE => parse_resolve(input).map(Request::Resolve),
        IoctlCode::STATS => read_exact::<StatsRequest>(input).map(|_| Request::Stats),
        IoctlCode::HELD => read_exact::<HeldRequest>(input).map(|_| Request::Held),
        IoctlCode::DEVICE_SECURITY => {
            read_exact::<DeviceSecurityRequest>(input).map(|_| Request::DeviceSecurity)
        }
        IoctlCode::SET_PEER_TARGET_NAME => {
            parse_set_peer_target_name(input).map(Request::SetPeerTargetName)
        }
        IoctlCode::DELETE_PEER_TARGET_NAME => {
            parse_delete_peer_target_name(&read_exact(input)?).map(Request::DeletePeerTargetName)
        }
        IoctlCode::QUERY_SECURITY => {
            parse_query_security(&read_exact(input)?).map(Request::QuerySecurity)
        }
        IoctlCode::TRANSACT => parse_transact(&read_exact(input)?).map(Request::Transact),
        _ => Err(ProtocolError::UnknownCode),
    }
}

/// The exact output buffer length a direct-I/O request requires: SEND `length`, RECV
/// `max_length`, `SEND_TO` `length`, `RECV_FROM` 48 + `max_length`, ACCEPT 80, TRANSACT
/// `max(length, max_reply)`. `None` for the buffered
/// codes and RESOLVE (direct, but its output buffer, like theirs, only has a minimum:
/// [`crate::min_output_len`]).
///
/// The driver fails a direct request whose output buffer has another length with
/// `STATUS_INVALID_PARAMETER` ([`ProtocolError::InvalidParameter`]). Runs at any IRQL.
///
/// # Examples
///
/// ```
/// use wskrs_protocol::{direct_output_len, encode_recv_from, parse_request, EndpointId, IoctlCode};
///
/// let input = encode_recv_from(EndpointId(3), 0, 1500);
/// let request = parse_request(IoctlCode::RECV_FROM.0, &input)?;
/// assert_eq!(direct_output_len(&request), Some(48 + 1500));
/// # Ok::<(), wskrs_protocol::ProtocolError>(())
/// ```
#[must_use]
pub fn direct_output_len(request: &Request<'_>) -> Option<usize> {
    let length = match request {
        Request::Send(send) => send.length,
        Request::Recv(recv) => recv.max_length,
        Request::SendTo(send) => send.length,
        Request::RecvFrom(recv) => {
            return usize::try_from(recv.max_length)
                .ok()?
                .checked_add(crate::RecvFromReply::LEN);
        }
        Request::Accept(_) => return Some(crate::EndpointReply::LEN),
        Request::Transact(transact) => transact.length.max(transact.max_reply),
        Request::Info
        | Request::TcpConnect(_)
        | Request::TcpListen(_)
        | Request::Close(_)
        | Request::List
        | Request::UdpBind(_)
        | Request::Disconnect(_)
        | Request::Serve(_)
        | Request::SocketOption(_)
        | Request::Security(_)
        | Request::Resolve(_)
        | Request::Stats
        | Request::Held
        | Request::DeviceSecurity
        | Request::SetPeerTargetName(_)
        | Request::DeletePeerTargetName(_)
        | Request::QuerySecurity(_) => return None,
    };
    usize::try_from(length).ok()
}

/// The whole of `input` as one `T`: shorter or longer is a length mismatch.
fn read_exact<T: FromBytes>(input: &[u8]) -> Result<T, ProtocolError> {
    T::read_from_bytes(input).map_err(|_| ProtocolError::LengthMismatch)
}

/// The bytes of a text field of a request already checked to be exactly its struct: the
/// parsed form borrows its text from the input buffer rather than from a copy.
fn text_field(input: &[u8], range: Range<usize>) -> Result<&[u8], ProtocolError> {
    input.get(range).ok_or(ProtocolError::LengthMismatch)
}

/// Where the text fields lie in their requests.
const LISTEN_SDDL: Range<usize> =
    offset_of!(TcpListenRequest, sddl)..offset_of!(TcpListenRequest, security);
const UDP_BIND_SDDL: Range<usize> =
    offset_of!(UdpBindRequest, sddl)..offset_of!(UdpBindRequest, security);
const RESOLVE_NAME: Range<usize> =
    offset_of!(ResolveRequest, name)..offset_of!(ResolveRequest, service);
const RESOLVE_SERVICE: Range<usize> = offset_of!(ResolveRequest, service)..ResolveRequest::LEN;
const CONNECT_PEER_TARGET_NAME: Range<usize> =
    offset_of!(TcpConnectRequest, peer_target_name)..TcpConnectRequest::LEN;
const PEER_TARGET_NAME: Range<usize> =
    offset_of!(PeerTargetNameRequest, name)..PeerTargetNameRequest::LEN;

/// The secure socket settings of a creation request: `None` without [`FLAG_SECURE`] (the
/// field must then be all zero).
///
/// # Errors
///
/// [`ProtocolError::InvalidParameter`] for an unknown protocol or settings bit, or nonzero
/// settings without the flag.
fn parse_security(
    flags: u32,
    wire: WireSocketSecurity,
) -> Result<Option<SocketSecurity>, ProtocolError> {
    if flags & FLAG_SECURE == 0 {
        return if wire == WireSocketSecurity::default() {
            Ok(None)
        } else {
            Err(ProtocolError::InvalidParameter)
        };
    }
    let protocol =
        SecureProtocol::from_u32(wire.protocol).ok_or(ProtocolError::InvalidParameter)?;
    if wire.settings & !(SECURE_GUARANTEE_ENCRYPTION | SECURE_ALLOW_INSECURE) != 0 {
        return Err(ProtocolError::InvalidParameter);
    }
    Ok(Some(SocketSecurity {
        protocol,
        guarantee_encryption: wire.settings & SECURE_GUARANTEE_ENCRYPTION != 0,
        allow_insecure: wire.settings & SECURE_ALLOW_INSECURE != 0,
    }))
}

/// A peer target name field: at most 127 bytes (it must end with a NUL inside its field);
/// `None` when empty.
fn read_peer_target_name(field: &[u8]) -> Result<Option<&str>, ProtocolError> {
    let name = read_padded(field)?;
    if name.len() >= PEER_TARGET_NAME_LEN {
        return Err(ProtocolError::InvalidParameter);
    }
    Ok((!name.is_empty()).then_some(name))
}

const fn effective_timeout(timeout_ms: u32) -> u32 {
    if timeout_ms == 0 {
        DEFAULT_TIMEOUT_MS
    } else {
        timeout_ms
    }
}

/// A required address: present, and with a nonzero port unless `port_zero_ok`.
fn required_address(address: &WireAddr, port_zero_ok: bool) -> Result<SocketAddr, ProtocolError> {
    let address = address.to_socket_addr()?.ok_or(ProtocolError::BadAddress)?;
    if address.port() == 0 && !port_zero_ok {
        return Err(ProtocolError::BadAddress);
    }
    Ok(address)
}

fn parse_tcp_connect(input: &[u8]) -> Result<TcpConnect<'_>, ProtocolError> {
    let request: TcpConnectRequest = read_exact(input)?;
    let remote = required_address(&request.remote, false)?;
    let local = request.local.to_socket_addr()?;
    if local.is_some_and(|local| local.is_ipv4() != remote.is_ipv4()) {
        return Err(ProtocolError::BadAddress);
    }
    let (detach, bind) = BindFlags::from_flags(request.flags, remote)?;
    let security = parse_security(request.flags, request.security)?;
    let peer_target_name = read_peer_target_name(text_field(input, CONNECT_PEER_TARGET_NAME)?)?;
    // The name is for the settings' protocol: without settings it names nothing.
    if peer_target_name.is_some() && security.is_none() {
        return Err(ProtocolError::InvalidParameter);
    }
    Ok(TcpConnect {
        remote,
        local,
        detach,
        timeout_ms: effective_timeout(request.timeout_ms),
        bind,
        security,
        peer_target_name,
    })
}

fn parse_tcp_listen(input: &[u8]) -> Result<TcpListen<'_>, ProtocolError> {
    let fixed: TcpListenRequest = read_exact(input)?;
    let local = required_address(&fixed.local, false)?;
    if fixed.reserved != 0 {
        return Err(ProtocolError::InvalidParameter);
    }
    let service = Service::from_u32(fixed.service).ok_or(ProtocolError::InvalidParameter)?;
    let (detach, bind) = BindFlags::from_flags(fixed.flags, local)?;
    let max_connections = match fixed.max_connections {
        0 => DEFAULT_MAX_CONNECTIONS,
        n if n <= MAX_CONNECTIONS => n,
        _ => return Err(ProtocolError::InvalidParameter),
    };
    Ok(TcpListen {
        local,
        service,
        backlog: fixed.backlog,
        detach,
        max_connections,
        bind,
        sddl: read_sddl(text_field(input, LISTEN_SDDL)?)?,
        security: parse_security(fixed.flags, fixed.security)?,
    })
}

/// A direct request's data length: 1 to `max` (an empty transfer is not a request).
fn check_data_length(length: u32, max: u32) -> Result<(), ProtocolError> {
    if length == 0 || length > max {
        return Err(ProtocolError::InvalidParameter);
    }
    Ok(())
}

fn parse_send(request: &SendRequest) -> Result<Send, ProtocolError> {
    check_data_length(request.length, MAX_TRANSFER)?;
    Ok(Send {
        id: EndpointId::checked(request.id)?,
        timeout_ms: effective_timeout(request.timeout_ms),
        length: request.length,
    })
}

fn parse_recv(request: &RecvRequest) -> Result<Recv, ProtocolError> {
    check_data_length(request.max_length, MAX_TRANSFER)?;
    Ok(Recv {
        id: EndpointId::checked(request.id)?,
        timeout_ms: effective_timeout(request.timeout_ms),
        max_length: request.max_length,
    })
}

fn parse_transact(request: &TransactRequest) -> Result<Transact, ProtocolError> {
    check_data_length(request.length, MAX_TRANSACT)?;
    check_data_length(request.max_reply, MAX_TRANSACT)?;
    if request.reserved != 0 {
        return Err(ProtocolError::InvalidParameter);
    }
    Ok(Transact {
        id: EndpointId::checked(request.id)?,
        timeout_ms: effective_timeout(request.timeout_ms),
        length: request.length,
        max_reply: request.max_reply,
    })
}

fn parse_udp_bind(input: &[u8]) -> Result<UdpBind<'_>, ProtocolError> {
    let fixed: UdpBindRequest = read_exact(input)?;
    let local = required_address(&fixed.local, true)?;
    let service = UdpService::from_u32(fixed.service).ok_or(ProtocolError::InvalidParameter)?;
    let (detach, bind) = BindFlags::from_flags(fixed.flags, local)?;
    Ok(UdpBind {
        local,
        service,
        bind,
        detach,
        sddl: read_sddl(text_field(input, UDP_BIND_SDDL)?)?,
        security: parse_security(fixed.flags, fixed.security)?,
    })
}

fn parse_send_to(request: &SendToRequest) -> Result<SendTo, ProtocolError> {
    let remote = required_address(&request.remote, false)?;
    check_data_length(request.length, MAX_DATAGRAM)?;
    if request.reserved != 0 {
        return Err(ProtocolError::InvalidParameter);
    }
    Ok(SendTo {
        id: EndpointId::checked(request.id)?,
        timeout_ms: effective_timeout(request.timeout_ms),
        remote,
        length: request.length,
    })
}

fn parse_recv_from(request: &RecvFromRequest) -> Result<RecvFrom, ProtocolError> {
    check_data_length(request.max_length, MAX_DATAGRAM)?;
    Ok(RecvFrom {
        id: EndpointId::checked(request.id)?,
        timeout_ms: effective_timeout(request.timeout_ms),
        max_length: request.max_length,
    })
}

fn parse_disconnect(request: &DisconnectRequest) -> Result<Disconnect, ProtocolError> {
    if request.flags & !DISCONNECT_ABORTIVE != 0 {
        return Err(ProtocolError::InvalidParameter);
    }
    Ok(Disconnect {
        id: EndpointId::checked(request.id)?,
        timeout_ms: effective_timeout(request.timeout_ms),
        abortive: request.flags & DISCONNECT_ABORTIVE != 0,
    })
}

fn parse_accept(request: &AcceptRequest) -> Result<Accept, ProtocolError> {
    if request.flags & !FLAG_DETACH != 0 {
        return Err(ProtocolError::InvalidParameter);
    }
    Ok(Accept {
        id: EndpointId::checked(request.id)?,
        timeout_ms: effective_timeout(request.timeout_ms),
        detach: request.flags & FLAG_DETACH != 0,
    })
}

fn parse_serve(request: &ServeRequest) -> Result<Serve, ProtocolError> {
    let service = Service::from_u32(request.service).ok_or(ProtocolError::InvalidParameter)?;
    if service == Service::None || request.reserved != 0 {
        return Err(ProtocolError::InvalidParameter);
    }
    Ok(Serve {
        id: EndpointId::checked(request.id)?,
        service,
    })
}

fn parse_socket_option(request: &SocketOptionRequest) -> Result<SocketOption, ProtocolError> {
    let option = OptionId::from_u32(request.option).ok_or(ProtocolError::InvalidParameter)?;
    if request.reserved != 0 {
        return Err(ProtocolError::InvalidParameter);
    }
    let set = match request.set {
        // A get carries no value: like a reserved field, it must be 0.
        0 if request.value == 0 => None,
        1 if option.is_settable() && option.accepts(request.value) => Some(request.value),
        _ => return Err(ProtocolError::InvalidParameter),
    };
    Ok(SocketOption {
        id: EndpointId::checked(request.id)?,
        option,
        set,
    })
}

fn parse_resolve(input: &[u8]) -> Result<Resolve<'_>, ProtocolError> {
    let fixed: ResolveRequest = read_exact(input)?;
    if fixed.reserved != 0 {
        return Err(ProtocolError::InvalidParameter);
    }
    let name = read_padded(text_field(input, RESOLVE_NAME)?)?;
    let service = read_padded(text_field(input, RESOLVE_SERVICE)?)?;
    // Both need their NUL (the WSK call takes at most 255 / 31 characters); the name is
    // required.
    if name.is_empty()
        || name.len() >= crate::RESOLVE_NAME_LEN
        || service.len() >= crate::RESOLVE_SERVICE_LEN
    {
        return Err(ProtocolError::InvalidParameter);
    }
    Ok(Resolve {
        name,
        service,
        timeout_ms: effective_timeout(fixed.timeout_ms),
    })
}

fn parse_set_peer_target_name(input: &[u8]) -> Result<SetPeerTargetName<'_>, ProtocolError> {
    let fixed: PeerTargetNameRequest = read_exact(input)?;
    let peer = required_address(&fixed.peer, false)?;
    let protocol =
        SecureProtocol::from_u32(fixed.protocol).ok_or(ProtocolError::InvalidParameter)?;
    let name = read_peer_target_name(text_field(input, PEER_TARGET_NAME)?)?
        .ok_or(ProtocolError::InvalidParameter)?;
    Ok(SetPeerTargetName {
        id: EndpointId::checked(fixed.id)?,
        peer,
        protocol,
        name,
    })
}

fn parse_delete_peer_target_name(
    request: &DeletePeerTargetNameRequest,
) -> Result<DeletePeerTargetName, ProtocolError> {
    let peer = required_address(&request.peer, false)?;
    if request.reserved != 0 {
        return Err(ProtocolError::InvalidParameter);
    }
    Ok(DeletePeerTargetName {
        id: EndpointId::checked(request.id)?,
        peer,
    })
}

fn parse_query_security(request: &QuerySecurityRequest) -> Result<QuerySecurity, ProtocolError> {
    let peer = request.peer.to_socket_addr()?;
    if peer.is_some_and(|peer| peer.port() == 0) {
        return Err(ProtocolError::BadAddress);
    }
    if request.reserved != 0 {
        return Err(ProtocolError::InvalidParameter);
    }
    Ok(QuerySecurity {
        id: EndpointId::checked(request.id)?,
        peer,
    })
}
