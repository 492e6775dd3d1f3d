//! Client side: encoding requests and checking replies.

use core::net::SocketAddr;
use zerocopy::FromBytes;

use crate::wire::{
    header, CloseReply, CloseRequest, EndpointInfo, EndpointReply, Header, InfoReply, InfoRequest,
    ListReply, ListRequest, RecvReply, RecvRequest, SendReply, SendRequest, TcpConnectRequest,
    TcpListenRequest, WireAddr, WireSize,
};
use crate::{
    EndpointId, EndpointKind, EndpointState, ProtocolError, Service, ABI_VERSION, FLAG_DETACH,
    INFO_DETACHED, INFO_OWNED_BY_CALLER, MAX_TRANSFER, RECV_EOF,
};

const fn flags_for(detach: bool) -> u32 {
    if detach {
        FLAG_DETACH
    } else {
        0
    }
}

/// The INFO request.
#[must_use]
pub fn encode_info() -> [u8; 8] {
    zerocopy::transmute!(InfoRequest {
        header: header(InfoRequest::LEN_U32)
    })
}

/// The LIST request.
#[must_use]
pub fn encode_list() -> [u8; 8] {
    zerocopy::transmute!(ListRequest {
        header: header(ListRequest::LEN_U32)
    })
}

/// A `TCP_CONNECT` request; `timeout_ms` 0 means [`crate::DEFAULT_TIMEOUT_MS`].
#[must_use]
pub fn encode_tcp_connect(
    remote: SocketAddr,
    local: Option<SocketAddr>,
    detach: bool,
    timeout_ms: u32,
) -> [u8; 72] {
    zerocopy::transmute!(TcpConnectRequest {
        header: header(TcpConnectRequest::LEN_U32),
        remote: WireAddr::from(remote),
        local: WireAddr::from_option(local),
        flags: flags_for(detach),
        timeout_ms,
    })
}

/// A `TCP_LISTEN` request; `backlog` 0 lets the driver choose.
#[must_use]
pub fn encode_tcp_listen(
    local: SocketAddr,
    service: Service,
    backlog: u32,
    detach: bool,
) -> [u8; 52] {
    zerocopy::transmute!(TcpListenRequest {
        header: header(TcpListenRequest::LEN_U32),
        local: WireAddr::from(local),
        service: service.as_u32(),
        backlog,
        flags: flags_for(detach),
        reserved: 0,
    })
}

/// The fixed 24-byte part of a SEND request for `length` data bytes (the data follows it).
#[must_use]
pub fn encode_send_header(id: EndpointId, timeout_ms: u32, length: u32) -> [u8; 24] {
    zerocopy::transmute!(SendRequest {
        header: header(length.saturating_add(SendRequest::LEN_U32)),
        id: id.0,
        timeout_ms,
        length,
    })
}

/// Writes a whole SEND request (header and `data`) to the start of `out`; returns its length.
///
/// # Errors
///
/// [`ProtocolError::InvalidParameter`] if `data` is longer than [`MAX_TRANSFER`];
/// [`ProtocolError::BufferTooSmall`] if `out` is shorter than 24 + `data.len()`.
pub fn encode_send(
    out: &mut [u8],
    id: EndpointId,
    timeout_ms: u32,
    data: &[u8],
) -> Result<usize, ProtocolError> {
    let length = u32::try_from(data.len()).map_err(|_| ProtocolError::InvalidParameter)?;
    if length > MAX_TRANSFER {
        return Err(ProtocolError::InvalidParameter);
    }
    let total = SendRequest::LEN
        .checked_add(data.len())
        .ok_or(ProtocolError::BufferTooSmall)?;
    let message = out.get_mut(..total).ok_or(ProtocolError::BufferTooSmall)?;
    let (fixed, payload) = message.split_at_mut(SendRequest::LEN);
    fixed.copy_from_slice(&encode_send_header(id, timeout_ms, length));
    payload.copy_from_slice(data);
    Ok(total)
}

/// A RECV request for at most `max_length` bytes.
#[must_use]
pub fn encode_recv(id: EndpointId, timeout_ms: u32, max_length: u32) -> [u8; 24] {
    zerocopy::transmute!(RecvRequest {
        header: header(RecvRequest::LEN_U32),
        id: id.0,
        timeout_ms,
        max_length
    })
}

/// A CLOSE request.
#[must_use]
pub fn encode_close(id: EndpointId) -> [u8; 16] {
    zerocopy::transmute!(CloseRequest {
        header: header(CloseRequest::LEN_U32),
        id: id.0
    })
}

/// Checks the reply header against `bytes` and reads the fixed reply `T`; returns it and the
/// bytes after it.
fn read_reply<T: FromBytes + WireSize>(bytes: &[u8]) -> Result<(T, &[u8]), ProtocolError> {
    let (reply_header, _) =
        Header::read_from_prefix(bytes).map_err(|_| ProtocolError::LengthMismatch)?;
    if reply_header.abi_version != ABI_VERSION {
        return Err(ProtocolError::VersionMismatch);
    }
    if usize::try_from(reply_header.size) != Ok(bytes.len()) {
        return Err(ProtocolError::LengthMismatch);
    }
    T::read_from_prefix(bytes).map_err(|_| ProtocolError::LengthMismatch)
}

/// Like [`read_reply`] for a reply with no trailing data.
fn read_fixed_reply<T: FromBytes + WireSize>(bytes: &[u8]) -> Result<T, ProtocolError> {
    let (reply, rest) = read_reply::<T>(bytes)?;
    if rest.is_empty() {
        Ok(reply)
    } else {
        Err(ProtocolError::LengthMismatch)
    }
}

/// What the INFO reply says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DriverInfo {
    /// The driver's version (major, minor, patch).
    pub driver_version: (u16, u16, u16),
    /// The WSK provider's dispatch version (`major << 8 | minor`), 0 if unknown.
    pub wsk_version: u16,
    /// The ABI version the driver speaks.
    pub abi_version: u32,
    /// Endpoints open in the driver.
    pub endpoint_count: u32,
}

impl DriverInfo {
    /// The WSK version as (major, minor), or `None` if the driver does not know it.
    #[must_use]
    pub fn wsk_version_parts(&self) -> Option<(u8, u8)> {
        let [minor, major] = self.wsk_version.to_le_bytes();
        (self.wsk_version != 0).then_some((major, minor))
    }
}

/// Reads an INFO reply (`bytes` = what the driver returned).
///
/// # Errors
///
/// [`ProtocolError::LengthMismatch`] if `bytes` is not exactly one reply of the size its
/// header states; [`ProtocolError::VersionMismatch`] if the header's version differs.
pub fn parse_info_reply(bytes: &[u8]) -> Result<DriverInfo, ProtocolError> {
    let reply: InfoReply = read_fixed_reply(bytes)?;
    Ok(DriverInfo {
        driver_version: (reply.driver_major, reply.driver_minor, reply.driver_patch),
        wsk_version: reply.wsk_version,
        abi_version: reply.abi_version,
        endpoint_count: reply.endpoint_count,
    })
}

/// What a `TCP_CONNECT` or `TCP_LISTEN` reply says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenedEndpoint {
    /// The new endpoint's id.
    pub id: EndpointId,
    /// What it is.
    pub kind: EndpointKind,
    /// Its local address, if the driver knows it.
    pub local: Option<SocketAddr>,
    /// Its peer, if it has one and the driver knows it.
    pub remote: Option<SocketAddr>,
}

/// Reads a `TCP_CONNECT` / `TCP_LISTEN` reply.
///
/// # Errors
///
/// As [`parse_info_reply`]; [`ProtocolError::InvalidParameter`] for id 0, an unknown kind or
/// a nonzero reserved field; [`ProtocolError::BadAddress`] for a malformed address.
pub fn parse_endpoint_reply(bytes: &[u8]) -> Result<OpenedEndpoint, ProtocolError> {
    let reply: EndpointReply = read_fixed_reply(bytes)?;
    if reply.reserved != 0 {
        return Err(ProtocolError::InvalidParameter);
    }
    Ok(OpenedEndpoint {
        id: EndpointId::checked(reply.id)?,
        kind: EndpointKind::from_u32(reply.kind).ok_or(ProtocolError::InvalidParameter)?,
        local: reply.local.to_socket_addr()?,
        remote: reply.remote.to_socket_addr()?,
    })
}

/// Reads a SEND reply; returns the bytes sent.
///
/// # Errors
///
/// As [`parse_info_reply`]; [`ProtocolError::InvalidParameter`] for a nonzero reserved field.
pub fn parse_send_reply(bytes: &[u8]) -> Result<u32, ProtocolError> {
    let reply: SendReply = read_fixed_reply(bytes)?;
    if reply.reserved != 0 {
        return Err(ProtocolError::InvalidParameter);
    }
    Ok(reply.sent)
}

/// What a RECV reply says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received<'a> {
    /// The bytes received.
    pub data: &'a [u8],
    /// The peer closed its side ([`RECV_EOF`]).
    pub eof: bool,
}

/// Reads a RECV reply and the data after it.
///
/// # Errors
///
/// As [`parse_info_reply`], and [`ProtocolError::LengthMismatch`] if `length` disagrees with
/// the data present; [`ProtocolError::InvalidParameter`] for unknown flag bits.
pub fn parse_recv_reply(bytes: &[u8]) -> Result<Received<'_>, ProtocolError> {
    let (reply, data) = read_reply::<RecvReply>(bytes)?;
    if usize::try_from(reply.length) != Ok(data.len()) {
        return Err(ProtocolError::LengthMismatch);
    }
    if reply.flags & !RECV_EOF != 0 {
        return Err(ProtocolError::InvalidParameter);
    }
    Ok(Received {
        data,
        eof: reply.flags & RECV_EOF != 0,
    })
}

/// Reads a CLOSE reply.
///
/// # Errors
///
/// As [`parse_info_reply`].
pub fn parse_close_reply(bytes: &[u8]) -> Result<(), ProtocolError> {
    read_fixed_reply::<CloseReply>(bytes).map(|_| ())
}

/// One endpoint of a LIST reply, validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndpointStatus {
    /// The endpoint's id.
    pub id: EndpointId,
    /// What it is.
    pub kind: EndpointKind,
    /// Where it is in its life.
    pub state: EndpointState,
    /// Its service ([`Service::None`] for connections).
    pub service: Service,
    /// It outlives the handle that created it ([`INFO_DETACHED`]).
    pub detached: bool,
    /// It belongs to the handle that asked for the list ([`INFO_OWNED_BY_CALLER`]).
    pub owned_by_caller: bool,
    /// Its local address, if known.
    pub local: Option<SocketAddr>,
    /// Its peer, if any and known.
    pub remote: Option<SocketAddr>,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Connections accepted and served (listeners).
    pub connections_served: u64,
    /// Connections being served now (listeners).
    pub connections_active: u32,
}

impl TryFrom<&EndpointInfo> for EndpointStatus {
    type Error = ProtocolError;

    fn try_from(info: &EndpointInfo) -> Result<Self, Self::Error> {
        if info.flags & !(INFO_DETACHED | INFO_OWNED_BY_CALLER) != 0 || info.reserved != 0 {
            return Err(ProtocolError::InvalidParameter);
        }
        Ok(Self {
            id: EndpointId::checked(info.id)?,
            kind: EndpointKind::from_u32(info.kind).ok_or(ProtocolError::InvalidParameter)?,
            state: EndpointState::from_u32(info.state).ok_or(ProtocolError::InvalidParameter)?,
            service: Service::from_u32(info.service).ok_or(ProtocolError::InvalidParameter)?,
            detached: info.flags & INFO_DETACHED != 0,
            owned_by_caller: info.flags & INFO_OWNED_BY_CALLER != 0,
            local: info.local.to_socket_addr()?,
            remote: info.remote.to_socket_addr()?,
            bytes_sent: info.bytes_sent,
            bytes_received: info.bytes_received,
            connections_served: info.connections_served,
            connections_active: info.connections_active,
        })
    }
}

impl From<&EndpointStatus> for EndpointInfo {
    fn from(status: &EndpointStatus) -> Self {
        let detached = if status.detached { INFO_DETACHED } else { 0 };
        let owned = if status.owned_by_caller {
            INFO_OWNED_BY_CALLER
        } else {
            0
        };
        Self {
            id: status.id.0,
            kind: status.kind.as_u32(),
            state: status.state.as_u32(),
            service: status.service.as_u32(),
            flags: detached | owned,
            local: WireAddr::from_option(status.local),
            remote: WireAddr::from_option(status.remote),
            bytes_sent: status.bytes_sent,
            bytes_received: status.bytes_received,
            connections_served: status.connections_served,
            connections_active: status.connections_active,
            reserved: 0,
        }
    }
}

/// A validated LIST reply.
#[derive(Clone, Copy, Debug)]
pub struct EndpointList<'a> {
    count: u32,
    total: u32,
    entries: &'a [u8],
}

impl<'a> EndpointList<'a> {
    /// Entries in the reply.
    #[must_use]
    pub const fn count(&self) -> u32 {
        self.count
    }

    /// Endpoints visible to the caller; more than [`count`](Self::count) when the output
    /// buffer was too small for all of them.
    #[must_use]
    pub const fn total(&self) -> u32 {
        self.total
    }

    /// True when some endpoints did not fit in the reply.
    #[must_use]
    pub const fn is_truncated(&self) -> bool {
        self.total > self.count
    }

    /// The entries, in the driver's order.
    pub fn iter(&self) -> impl Iterator<Item = EndpointStatus> + 'a {
        // Every entry was validated by `parse_list_reply`, so none is dropped here.
        self.entries
            .chunks_exact(EndpointInfo::LEN)
            .filter_map(|chunk| EndpointInfo::read_from_bytes(chunk).ok())
            .filter_map(|info| EndpointStatus::try_from(&info).ok())
    }
}

/// Reads a LIST reply and validates every entry.
///
/// # Errors
///
/// As [`parse_info_reply`]; [`ProtocolError::LengthMismatch`] if the data is not `count`
/// entries or `count` exceeds `total`; any entry's error from [`EndpointStatus::try_from`].
pub fn parse_list_reply(bytes: &[u8]) -> Result<EndpointList<'_>, ProtocolError> {
    let (reply, entries) = read_reply::<ListReply>(bytes)?;
    let expected = usize::try_from(reply.count)
        .ok()
        .and_then(|count| count.checked_mul(EndpointInfo::LEN))
        .ok_or(ProtocolError::LengthMismatch)?;
    if entries.len() != expected || reply.count > reply.total {
        return Err(ProtocolError::LengthMismatch);
    }
    for chunk in entries.chunks_exact(EndpointInfo::LEN) {
        let info =
            EndpointInfo::read_from_bytes(chunk).map_err(|_| ProtocolError::LengthMismatch)?;
        EndpointStatus::try_from(&info)?;
    }
    Ok(EndpointList {
        count: reply.count,
        total: reply.total,
        entries,
    })
}
