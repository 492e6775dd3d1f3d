//! Client side: encoding requests and checking replies.

use core::marker::PhantomData;
use core::net::SocketAddr;
use wskrs_ntstatus::NtStatus;
use zerocopy::FromBytes;

use crate::text::{read_padded, write_padded};
use crate::wire::{
    header, AcceptRequest, CloseReply, CloseRequest, DeletePeerTargetNameReply,
    DeletePeerTargetNameRequest, DeviceSecurityRequest, DisconnectReply, DisconnectRequest,
    EndpointInfo, EndpointReply, Header, HeldReply, HeldRequest, InfoReply, InfoRequest, ListReply,
    ListRequest, PeerTargetNameReply, PeerTargetNameRequest, QuerySecurityReply,
    QuerySecurityRequest, RecvFromReply, RecvFromRequest, RecvRequest, ResolveReply,
    ResolveRequest, SecurityReply, SecurityRequest, SendRequest, SendToRequest, ServeReply,
    ServeRequest, SocketOptionReply, SocketOptionRequest, StatsReply, StatsRequest,
    TcpConnectRequest, TcpListenRequest, TransactRequest, UdpBindRequest, WireAddr, WireSize,
    WireSocketSecurity,
};
use crate::{
    BindFlags, EndpointId, EndpointKind, EndpointState, Held, OptionId, ProtocolError,
    SecureProtocol, SecurityQuery, Service, SocketSecurity, Stats, UdpService, ABI_VERSION,
    DISCONNECT_ABORTIVE, FLAG_DETACH, FLAG_SECURE, INFO_DETACHED, INFO_OWNED_BY_CALLER,
    PEER_TARGET_NAME_LEN, RESOLVE_NAME_LEN, RESOLVE_SERVICE_LEN,
};

/// The `flags` bit and wire field of optional secure socket settings.
fn security_wire(security: Option<SocketSecurity>) -> (u32, WireSocketSecurity) {
    security.map_or((0, WireSocketSecurity::default()), |s| {
        (
            FLAG_SECURE,
            WireSocketSecurity {
                protocol: s.protocol.as_u32(),
                settings: s.settings(),
            },
        )
    })
}

/// Writes a peer target name into its field: 1 to 127 bytes, no NUL.
fn write_peer_target_name_field(field: &mut [u8], name: &str) -> Result<(), ProtocolError> {
    if name.is_empty() || name.len() >= PEER_TARGET_NAME_LEN {
        return Err(ProtocolError::InvalidParameter);
    }
    write_padded(field, name)
}

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

/// A `TCP_CONNECT` request without bind options or security; `timeout_ms` 0 means
/// [`crate::DEFAULT_TIMEOUT_MS`].
#[must_use]
pub fn encode_tcp_connect(
    remote: SocketAddr,
    local: Option<SocketAddr>,
    detach: bool,
    timeout_ms: u32,
) -> [u8; 208] {
    zerocopy::transmute!(connect_request(
        remote,
        local,
        detach,
        timeout_ms,
        BindFlags::default()
    ))
}

fn connect_request(
    remote: SocketAddr,
    local: Option<SocketAddr>,
    detach: bool,
    timeout_ms: u32,
    bind: BindFlags,
) -> TcpConnectRequest {
    TcpConnectRequest {
        header: header(TcpConnectRequest::LEN_U32),
        remote: WireAddr::from(remote),
        local: WireAddr::from_option(local),
        flags: flags_for(detach) | bind.to_flags(),
        timeout_ms,
        ..TcpConnectRequest::default()
    }
}

/// The optional parts of a `TCP_CONNECT` request; the default connects from any address,
/// not detached, within the driver's default timeout, without bind options or security.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectOptions<'a> {
    /// The local address to bind first; `None` for the wildcard of the remote's family.
    pub local: Option<SocketAddr>,
    /// The connection outlives the handle that created it ([`FLAG_DETACH`]).
    pub detach: bool,
    /// Connect timeout in milliseconds; 0 means [`crate::DEFAULT_TIMEOUT_MS`].
    pub timeout_ms: u32,
    /// Options applied before binding.
    pub bind: BindFlags,
    /// Secure socket settings applied before binding ([`FLAG_SECURE`]).
    pub security: Option<SocketSecurity>,
    /// The peer's target name for the settings' protocol (1 to 127 bytes, no NUL); only
    /// with `security`.
    pub peer_target_name: Option<&'a str>,
}

/// A `TCP_CONNECT` request with bind options; `timeout_ms` 0 means
/// [`crate::DEFAULT_TIMEOUT_MS`].
#[must_use]
pub fn encode_tcp_connect_with(
    remote: SocketAddr,
    local: Option<SocketAddr>,
    detach: bool,
    timeout_ms: u32,
    bind: BindFlags,
) -> [u8; 208] {
    zerocopy::transmute!(connect_request(remote, local, detach, timeout_ms, bind))
}

/// A `TCP_CONNECT` request with every option.
///
/// # Errors
///
/// [`ProtocolError::InvalidParameter`] for a peer target name that is empty, longer than 127
/// bytes or has a NUL, or one without `security`.
///
/// # Examples
///
/// ```
/// use wskrs_protocol::{encode_tcp_connect_options, parse_request, ConnectOptions, IoctlCode, Request};
/// use wskrs_protocol::{SecureProtocol, SocketSecurity};
///
/// let security = SocketSecurity { protocol: SecureProtocol::Default, guarantee_encryption: false, allow_insecure: true };
/// let options = ConnectOptions { security: Some(security), peer_target_name: Some("host/server"), ..Default::default() };
/// let bytes = encode_tcp_connect_options("127.0.0.1:80".parse().unwrap(), &options)?;
/// let Request::TcpConnect(connect) = parse_request(IoctlCode::TCP_CONNECT.0, &bytes)? else { unreachable!() };
/// assert_eq!((connect.security, connect.peer_target_name), (Some(security), Some("host/server")));
/// # Ok::<(), wskrs_protocol::ProtocolError>(())
/// ```
pub fn encode_tcp_connect_options(
    remote: SocketAddr,
    options: &ConnectOptions<'_>,
) -> Result<[u8; 208], ProtocolError> {
    let mut request = connect_request(
        remote,
        options.local,
        options.detach,
        options.timeout_ms,
        options.bind,
    );
    let (flag, security) = security_wire(options.security);
    request.flags |= flag;
    request.security = security;
    if let Some(name) = options.peer_target_name {
        if options.security.is_none() {
            return Err(ProtocolError::InvalidParameter);
        }
        write_peer_target_name_field(&mut request.peer_target_name, name)?;
    }
    Ok(zerocopy::transmute!(request))
}

/// The optional parts of a `TCP_LISTEN` request; the default is the plain listener (driver's
/// backlog, not detached, default connection limit, no bind options, no descriptor).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListenOptions<'a> {
    /// The listen backlog; 0 lets the driver choose.
    pub backlog: u32,
    /// The listener outlives the handle that created it ([`FLAG_DETACH`]).
    pub detach: bool,
    /// Connections served at once, at most [`crate::MAX_CONNECTIONS`]; 0 means
    /// [`crate::DEFAULT_MAX_CONNECTIONS`].
    pub max_connections: u32,
    /// Options applied before binding.
    pub bind: BindFlags,
    /// The listener's security descriptor as SDDL (at most 256 bytes, no NUL); `None` (or
    /// an empty string) for the provider's default.
    pub sddl: Option<&'a str>,
    /// Secure socket settings applied before binding ([`FLAG_SECURE`]).
    pub security: Option<SocketSecurity>,
}

/// A `TCP_LISTEN` request with the plain parameters (default connection limit, no bind
/// options or descriptor); `backlog` 0 lets the driver choose.
#[must_use]
pub fn encode_tcp_listen(
    local: SocketAddr,
    service: Service,
    backlog: u32,
    detach: bool,
) -> [u8; 320] {
    zerocopy::transmute!(listen_request(local, service, backlog, detach))
}

fn listen_request(
    local: SocketAddr,
    service: Service,
    backlog: u32,
    detach: bool,
) -> TcpListenRequest {
    TcpListenRequest {
        header: header(TcpListenRequest::LEN_U32),
        local: WireAddr::from(local),
        service: service.as_u32(),
        backlog,
        flags: flags_for(detach),
        ..TcpListenRequest::default()
    }
}

/// A `TCP_LISTEN` request with every option.
///
/// # Errors
///
/// [`ProtocolError::InvalidParameter`] if the SDDL is longer than [`crate::SDDL_LEN`] bytes
/// or contains a NUL.
///
/// # Examples
///
/// ```
/// use wskrs_protocol::{encode_tcp_listen_with, parse_request, IoctlCode, ListenOptions, Request, Service};
///
/// let options = ListenOptions { max_connections: 8, sddl: Some("D:(A;;GA;;;WD)"), ..Default::default() };
/// let bytes = encode_tcp_listen_with("127.0.0.1:9100".parse().unwrap(), Service::Discard, &options)?;
/// let Request::TcpListen(listen) = parse_request(IoctlCode::TCP_LISTEN.0, &bytes)? else { unreachable!() };
/// assert_eq!((listen.max_connections, listen.sddl), (8, Some("D:(A;;GA;;;WD)")));
/// # Ok::<(), wskrs_protocol::ProtocolError>(())
/// ```
pub fn encode_tcp_listen_with(
    local: SocketAddr,
    service: Service,
    options: &ListenOptions<'_>,
) -> Result<[u8; 320], ProtocolError> {
    let mut request = listen_request(local, service, options.backlog, options.detach);
    let (flag, security) = security_wire(options.security);
    request.flags |= options.bind.to_flags() | flag;
    request.security = security;
    request.max_connections = options.max_connections;
    write_padded(&mut request.sddl, options.sddl.unwrap_or(""))?;
    Ok(zerocopy::transmute!(request))
}

/// The optional parts of a `UDP_BIND` request; the default is a socket closed with its
/// handle, without bind options, descriptor or security.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UdpBindOptions<'a> {
    /// The socket outlives the handle that created it ([`FLAG_DETACH`]).
    pub detach: bool,
    /// Options applied before binding.
    pub bind: BindFlags,
    /// The socket's security descriptor as SDDL (at most 256 bytes, no NUL); `None` for the
    /// provider's default.
    pub sddl: Option<&'a str>,
    /// Secure socket settings applied before binding ([`FLAG_SECURE`]).
    pub security: Option<SocketSecurity>,
}

/// A `UDP_BIND` request without security: a UDP socket on `local` (port 0: the stack
/// chooses) that runs `service`.
///
/// # Errors
///
/// [`ProtocolError::InvalidParameter`] if `sddl` is longer than [`crate::SDDL_LEN`] bytes or
/// contains a NUL.
pub fn encode_udp_bind(
    local: SocketAddr,
    service: UdpService,
    detach: bool,
    bind: BindFlags,
    sddl: Option<&str>,
) -> Result<[u8; 308], ProtocolError> {
    let options = UdpBindOptions {
        detach,
        bind,
        sddl,
        security: None,
    };
    encode_udp_bind_options(local, service, &options)
}

/// A `UDP_BIND` request with every option.
///
/// # Errors
///
/// [`ProtocolError::InvalidParameter`] if the SDDL is longer than [`crate::SDDL_LEN`] bytes
/// or contains a NUL.
pub fn encode_udp_bind_options(
    local: SocketAddr,
    service: UdpService,
    options: &UdpBindOptions<'_>,
) -> Result<[u8; 308], ProtocolError> {
    let (flag, security) = security_wire(options.security);
    let mut request = UdpBindRequest {
        header: header(UdpBindRequest::LEN_U32),
        local: WireAddr::from(local),
        service: service.as_u32(),
        flags: flags_for(options.detach) | options.bind.to_flags() | flag,
        security,
        ..UdpBindRequest::default()
    };
    write_padded(&mut request.sddl, options.sddl.unwrap_or(""))?;
    Ok(zerocopy::transmute!(request))
}

/// A `SET_PEER_TARGET_NAME` request: `name` (1 to 127 bytes, no NUL) for `peer` of UDP
/// endpoint `id`, for `protocol`.
///
/// # Errors
///
/// [`ProtocolError::InvalidParameter`] for a name that is empty, longer than 127 bytes or
/// has a NUL.
pub fn encode_set_peer_target_name(
    id: EndpointId,
    peer: SocketAddr,
    protocol: SecureProtocol,
    name: &str,
) -> Result<[u8; 176], ProtocolError> {
    let mut request = PeerTargetNameRequest {
        header: header(PeerTargetNameRequest::LEN_U32),
        id: id.0,
        peer: WireAddr::from(peer),
        protocol: protocol.as_u32(),
        ..PeerTargetNameRequest::default()
    };
    write_peer_target_name_field(&mut request.name, name)?;
    Ok(zerocopy::transmute!(request))
}

/// A `DELETE_PEER_TARGET_NAME` request for `peer` of UDP endpoint `id`.
#[must_use]
pub fn encode_delete_peer_target_name(id: EndpointId, peer: SocketAddr) -> [u8; 48] {
    zerocopy::transmute!(DeletePeerTargetNameRequest {
        header: header(DeletePeerTargetNameRequest::LEN_U32),
        id: id.0,
        peer: WireAddr::from(peer),
        reserved: 0,
    })
}

/// A `QUERY_SECURITY` request: a TCP connection's security (`peer` `None`) or a UDP
/// endpoint's with `peer`.
#[must_use]
pub fn encode_query_security(id: EndpointId, peer: Option<SocketAddr>) -> [u8; 48] {
    zerocopy::transmute!(QuerySecurityRequest {
        header: header(QuerySecurityRequest::LEN_U32),
        id: id.0,
        peer: WireAddr::from_option(peer),
        reserved: 0,
    })
}

/// Reads a `SET_PEER_TARGET_NAME` reply.
///
/// # Errors
/// As [`parse_info_reply`].
pub fn parse_peer_target_name_reply(bytes: &[u8]) -> Result<(), ProtocolError> {
    read_fixed_reply::<PeerTargetNameReply>(bytes).map(|_| ())
}

/// Reads a `DELETE_PEER_TARGET_NAME` reply.
///
/// # Errors
/// As [`parse_info_reply`].
pub fn parse_delete_peer_target_name_reply(bytes: &[u8]) -> Result<(), ProtocolError> {
    read_fixed_reply::<DeletePeerTargetNameReply>(bytes).map(|_| ())
}

/// Reads a `QUERY_SECURITY` reply.
///
/// # Errors
/// As [`parse_info_reply`].
pub fn parse_query_security_reply(bytes: &[u8]) -> Result<SecurityQuery, ProtocolError> {
    let reply: QuerySecurityReply = read_fixed_reply(bytes)?;
    Ok(SecurityQuery {
        protocol: SecureProtocol::from_u32(reply.protocol).ok_or(reply.protocol),
        flags: reply.flags,
    })
}

/// A SEND request for `length` bytes (1 to [`MAX_TRANSFER`](crate::MAX_TRANSFER)); the bytes
/// themselves go as the request's output buffer, which must be exactly `length` bytes long.
#[must_use]
pub fn encode_send(id: EndpointId, timeout_ms: u32, length: u32) -> [u8; 24] {
    zerocopy::transmute!(SendRequest {
        header: header(SendRequest::LEN_U32),
        id: id.0,
        timeout_ms,
        length,
    })
}

/// A `SEND_TO` request for a `length`-byte datagram (1 to
/// [`MAX_DATAGRAM`](crate::MAX_DATAGRAM)) to `remote`; the datagram goes as the request's
/// output buffer, which must be exactly `length` bytes.
#[must_use]
pub fn encode_send_to(
    id: EndpointId,
    timeout_ms: u32,
    remote: SocketAddr,
    length: u32,
) -> [u8; 56] {
    zerocopy::transmute!(SendToRequest {
        header: header(SendToRequest::LEN_U32),
        id: id.0,
        timeout_ms,
        length,
        remote: WireAddr::from(remote),
        reserved: 0,
    })
}

/// A `RECV_FROM` request for one datagram of at most `max_length` bytes (1 to
/// [`MAX_DATAGRAM`](crate::MAX_DATAGRAM)); its output buffer must be
/// [`recv_from_output_len`]`(max_length)` bytes.
#[must_use]
pub fn encode_recv_from(id: EndpointId, timeout_ms: u32, max_length: u32) -> [u8; 24] {
    zerocopy::transmute!(RecvFromRequest {
        header: header(RecvFromRequest::LEN_U32),
        id: id.0,
        timeout_ms,
        max_length
    })
}

/// A DISCONNECT request: graceful (shut down the send direction) or `abortive` (reset).
#[must_use]
pub fn encode_disconnect(id: EndpointId, timeout_ms: u32, abortive: bool) -> [u8; 24] {
    zerocopy::transmute!(DisconnectRequest {
        header: header(DisconnectRequest::LEN_U32),
        id: id.0,
        timeout_ms,
        flags: if abortive { DISCONNECT_ABORTIVE } else { 0 },
    })
}

/// An ACCEPT request; `detach` keeps the connection open after the handle closes.
#[must_use]
pub fn encode_accept(id: EndpointId, timeout_ms: u32, detach: bool) -> [u8; 24] {
    zerocopy::transmute!(AcceptRequest {
        header: header(AcceptRequest::LEN_U32),
        id: id.0,
        timeout_ms,
        flags: if detach { FLAG_DETACH } else { 0 },
    })
}

/// A SERVE request: `service` (echo, discard or source) takes over connection `id`.
#[must_use]
pub fn encode_serve(id: EndpointId, service: Service) -> [u8; 24] {
    zerocopy::transmute!(ServeRequest {
        header: header(ServeRequest::LEN_U32),
        id: id.0,
        service: service.as_u32(),
        reserved: 0,
    })
}

/// Reads a SERVE reply.
///
/// # Errors
/// As [`parse_info_reply`].
pub fn parse_serve_reply(bytes: &[u8]) -> Result<(), ProtocolError> {
    read_fixed_reply::<ServeReply>(bytes).map(|_| ())
}

/// A `SOCKET_OPTION` request: `set` `None` gets the option, `Some(value)` sets it.
#[must_use]
pub fn encode_socket_option(id: EndpointId, option: OptionId, set: Option<u32>) -> [u8; 32] {
    zerocopy::transmute!(SocketOptionRequest {
        header: header(SocketOptionRequest::LEN_U32),
        id: id.0,
        option: option.as_u32(),
        set: u32::from(set.is_some()),
        value: set.unwrap_or(0),
        reserved: 0,
    })
}

/// A SECURITY request.
#[must_use]
pub fn encode_security(id: EndpointId) -> [u8; 16] {
    zerocopy::transmute!(SecurityRequest {
        header: header(SecurityRequest::LEN_U32),
        id: id.0
    })
}

/// A RESOLVE request for `name` (a host name or address literal) and `service` (a port
/// number or service name; empty for none).
///
/// # Errors
///
/// [`ProtocolError::InvalidParameter`] if `name` is empty or longer than 255 bytes,
/// `service` is longer than 31 bytes, or either contains a NUL.
pub fn encode_resolve(
    name: &str,
    service: &str,
    timeout_ms: u32,
) -> Result<[u8; 304], ProtocolError> {
    if name.is_empty() || name.len() >= RESOLVE_NAME_LEN || service.len() >= RESOLVE_SERVICE_LEN {
        return Err(ProtocolError::InvalidParameter);
    }
    let mut request = ResolveRequest {
        header: header(ResolveRequest::LEN_U32),
        timeout_ms,
        ..ResolveRequest::default()
    };
    write_padded(&mut request.name, name)?;
    write_padded(&mut request.service, service)?;
    Ok(zerocopy::transmute!(request))
}

/// The STATS request.
#[must_use]
pub fn encode_stats() -> [u8; 8] {
    zerocopy::transmute!(StatsRequest {
        header: header(StatsRequest::LEN_U32)
    })
}

/// The HELD request.
#[must_use]
pub fn encode_held() -> [u8; 8] {
    zerocopy::transmute!(HeldRequest {
        header: header(HeldRequest::LEN_U32)
    })
}

/// The `DEVICE_SECURITY` request.
#[must_use]
pub fn encode_device_security() -> [u8; 8] {
    zerocopy::transmute!(DeviceSecurityRequest {
        header: header(DeviceSecurityRequest::LEN_U32)
    })
}

/// The output buffer length a LIST needs for `entries` endpoints (saturating).
#[must_use]
pub const fn list_output_len(entries: usize) -> usize {
    entries
        .saturating_mul(EndpointInfo::LEN)
        .saturating_add(ListReply::LEN)
}

/// The output buffer length of a `RECV_FROM` for at most `max_length` bytes: the 48-byte
/// [`RecvFromReply`] and the room for the datagram (saturating).
#[must_use]
pub const fn recv_from_output_len(max_length: u32) -> usize {
    (max_length as usize).saturating_add(RecvFromReply::LEN)
}

/// The output buffer length a RESOLVE needs for `addresses` addresses (saturating).
#[must_use]
pub const fn resolve_output_len(addresses: usize) -> usize {
    addresses
        .saturating_mul(WireAddr::LEN)
        .saturating_add(ResolveReply::LEN)
}

/// A RECV request for at most `max_length` bytes (1 to
/// [`MAX_TRANSFER`](crate::MAX_TRANSFER)); its output buffer, which receives the data, must
/// be exactly `max_length` bytes long.
#[must_use]
pub fn encode_recv(id: EndpointId, timeout_ms: u32, max_length: u32) -> [u8; 24] {
    zerocopy::transmute!(RecvRequest {
        header: header(RecvRequest::LEN_U32),
        id: id.0,
        timeout_ms,
        max_length
    })
}

/// A TRANSACT request: send `length` bytes (1 to [`MAX_TRANSACT`](crate::MAX_TRANSACT)),
/// then receive at most `max_reply` (1 to `MAX_TRANSACT`). Its output buffer must be exactly
/// [`transact_output_len`]`(length, max_reply)` bytes and hold the bytes to send at its
/// start; the reply overwrites them.
///
/// # Examples
///
/// ```
/// use wskrs_protocol::{direct_output_len, encode_transact, parse_request, EndpointId, IoctlCode};
///
/// let input = encode_transact(EndpointId(3), 0, 64, 1500);
/// let request = parse_request(IoctlCode::TRANSACT.0, &input)?;
/// assert_eq!(direct_output_len(&request), Some(1500));
/// # Ok::<(), wskrs_protocol::ProtocolError>(())
/// ```
#[must_use]
pub fn encode_transact(id: EndpointId, timeout_ms: u32, length: u32, max_reply: u32) -> [u8; 32] {
    zerocopy::transmute!(TransactRequest {
        header: header(TransactRequest::LEN_U32),
        id: id.0,
        timeout_ms,
        length,
        max_reply,
        reserved: 0,
    })
}

/// The output buffer length of a TRANSACT that sends `length` bytes and takes a reply of at
/// most `max_reply`: the larger of the two (the reply overwrites the request).
#[must_use]
pub const fn transact_output_len(length: u32, max_reply: u32) -> usize {
    let larger = if length > max_reply {
        length
    } else {
        max_reply
    };
    larger as usize
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

/// What a `TCP_CONNECT`, `TCP_LISTEN` or `UDP_BIND` reply says.
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

/// Reads a `TCP_CONNECT` / `TCP_LISTEN` / `UDP_BIND` reply.
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

/// Reads a CLOSE reply.
///
/// # Errors
///
/// As [`parse_info_reply`].
pub fn parse_close_reply(bytes: &[u8]) -> Result<(), ProtocolError> {
    read_fixed_reply::<CloseReply>(bytes).map(|_| ())
}

/// One endpoint of a LIST reply, validated: what it is (its counters are in
/// [`EndpointActivity`]).
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
        if info.flags & !(INFO_DETACHED | INFO_OWNED_BY_CALLER) != 0
            || info.reserved != 0
            || info.reserved2 != 0
        {
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

/// The activity counters of a LIST entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EndpointActivity {
    /// Milliseconds the endpoint has been open.
    pub opened_ms: u64,
    /// Send operations completed.
    pub send_ops: u64,
    /// Receive operations completed.
    pub recv_ops: u64,
    /// Operations that failed.
    pub errors: u64,
    /// The status of the last failure, `None` if nothing failed.
    pub last_status: Option<NtStatus>,
}

impl From<&EndpointInfo> for EndpointActivity {
    fn from(info: &EndpointInfo) -> Self {
        Self {
            opened_ms: info.opened_ms,
            send_ops: info.send_ops,
            recv_ops: info.recv_ops,
            errors: info.errors,
            last_status: (info.last_status != 0).then(|| NtStatus::from_u32(info.last_status)),
        }
    }
}

impl From<(&EndpointStatus, &EndpointActivity)> for EndpointInfo {
    fn from((status, activity): (&EndpointStatus, &EndpointActivity)) -> Self {
        Self {
            opened_ms: activity.opened_ms,
            send_ops: activity.send_ops,
            recv_ops: activity.recv_ops,
            errors: activity.errors,
            last_status: activity.last_status.map_or(0, NtStatus::as_u32),
            ..Self::from(status)
        }
    }
}

impl From<&EndpointStatus> for EndpointInfo {
    /// The entry with zero activity counters.
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
            opened_ms: 0,
            send_ops: 0,
            recv_ops: 0,
            errors: 0,
            last_status: 0,
            reserved2: 0,
        }
    }
}

/// A validated counted reply: `count` entries of the wire type `E`, out of `total` (LIST:
/// [`EndpointList`]; RESOLVE: [`ResolvedAddresses`]).
#[derive(Clone, Copy, Debug)]
pub struct CountedReply<'a, E> {
    count: u32,
    total: u32,
    entries: &'a [u8],
    entry: PhantomData<E>,
}

impl<E> CountedReply<'_, E> {
    /// Entries in the reply.
    #[must_use]
    pub const fn count(&self) -> u32 {
        self.count
    }

    /// Entries there were (endpoints visible to the caller, addresses the name resolved to);
    /// more than [`count`](Self::count) when the output buffer was too small for all of them.
    #[must_use]
    pub const fn total(&self) -> u32 {
        self.total
    }

    /// True when some entries did not fit in the reply.
    #[must_use]
    pub const fn is_truncated(&self) -> bool {
        self.total > self.count
    }
}

/// A validated LIST reply.
pub type EndpointList<'a> = CountedReply<'a, EndpointInfo>;

impl<'a> EndpointList<'a> {
    /// The entries, in the driver's order.
    pub fn iter(&self) -> impl Iterator<Item = EndpointStatus> + 'a {
        self.iter_with_activity().map(|(status, _)| status)
    }

    /// The entries with their activity counters, in the driver's order.
    pub fn iter_with_activity(
        &self,
    ) -> impl Iterator<Item = (EndpointStatus, EndpointActivity)> + 'a {
        // Every entry was validated by `parse_list_reply`, so none is dropped here.
        self.entries
            .chunks_exact(EndpointInfo::LEN)
            .filter_map(|chunk| EndpointInfo::read_from_bytes(chunk).ok())
            .filter_map(|info| {
                let status = EndpointStatus::try_from(&info).ok()?;
                Some((status, EndpointActivity::from(&info)))
            })
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
    let list = counted_entries::<EndpointInfo>(entries, reply.count, reply.total)?;
    for chunk in entries.chunks_exact(EndpointInfo::LEN) {
        let info =
            EndpointInfo::read_from_bytes(chunk).map_err(|_| ProtocolError::LengthMismatch)?;
        EndpointStatus::try_from(&info)?;
    }
    Ok(list)
}

/// What a `RECV_FROM` reply says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceivedFrom<'a> {
    /// The datagram (truncated to the room the request left for it).
    pub data: &'a [u8],
    /// Its sender, if the driver knows it.
    pub remote: Option<SocketAddr>,
}

/// Reads a `RECV_FROM` reply and the datagram after it: `bytes` is the output buffer up to
/// `IoStatus.Information` (48 + the datagram's length).
///
/// # Errors
///
/// As [`parse_info_reply`], and [`ProtocolError::LengthMismatch`] if `length` disagrees with
/// the data present; [`ProtocolError::InvalidParameter`] for a nonzero reserved field;
/// [`ProtocolError::BadAddress`] for a malformed address.
pub fn parse_recv_from_reply(bytes: &[u8]) -> Result<ReceivedFrom<'_>, ProtocolError> {
    let (reply, data) = read_reply::<RecvFromReply>(bytes)?;
    if usize::try_from(reply.length) != Ok(data.len()) {
        return Err(ProtocolError::LengthMismatch);
    }
    if reply.reserved != 0 || reply.reserved2 != 0 {
        return Err(ProtocolError::InvalidParameter);
    }
    Ok(ReceivedFrom {
        data,
        remote: reply.remote.to_socket_addr()?,
    })
}

/// Reads a DISCONNECT reply.
///
/// # Errors
///
/// As [`parse_info_reply`].
pub fn parse_disconnect_reply(bytes: &[u8]) -> Result<(), ProtocolError> {
    read_fixed_reply::<DisconnectReply>(bytes).map(|_| ())
}

/// Reads a `SOCKET_OPTION` reply; returns the option's value.
///
/// # Errors
///
/// As [`parse_info_reply`]; [`ProtocolError::InvalidParameter`] for a nonzero reserved field.
pub fn parse_socket_option_reply(bytes: &[u8]) -> Result<u32, ProtocolError> {
    let reply: SocketOptionReply = read_fixed_reply(bytes)?;
    if reply.reserved != 0 {
        return Err(ProtocolError::InvalidParameter);
    }
    Ok(reply.value)
}

/// Reads a SECURITY reply; returns the SDDL (empty when the endpoint has no descriptor).
///
/// # Errors
///
/// As [`parse_info_reply`]; [`ProtocolError::InvalidParameter`] for a nonzero reserved
/// field, a `length` above 256, text that is not UTF-8 or contains a NUL, or a nonzero byte
/// after `length`.
pub fn parse_security_reply(bytes: &[u8]) -> Result<&str, ProtocolError> {
    let reply: SecurityReply = read_fixed_reply(bytes)?;
    if reply.reserved != 0 {
        return Err(ProtocolError::InvalidParameter);
    }
    // The text borrows from `bytes`, which `read_fixed_reply` checked to be exactly the reply.
    let field = bytes
        .get(core::mem::offset_of!(SecurityReply, sddl)..)
        .ok_or(ProtocolError::LengthMismatch)?;
    let length = usize::try_from(reply.length).map_err(|_| ProtocolError::InvalidParameter)?;
    let (text, padding) = field
        .split_at_checked(length)
        .ok_or(ProtocolError::InvalidParameter)?;
    if padding.iter().any(|&byte| byte != 0) {
        return Err(ProtocolError::InvalidParameter);
    }
    let sddl = read_padded(text)?;
    if sddl.len() == length {
        Ok(sddl)
    } else {
        Err(ProtocolError::InvalidParameter)
    }
}

/// A validated RESOLVE reply.
pub type ResolvedAddresses<'a> = CountedReply<'a, WireAddr>;

impl<'a> ResolvedAddresses<'a> {
    /// The addresses, in the provider's order.
    pub fn iter(&self) -> impl Iterator<Item = SocketAddr> + 'a {
        // Every entry was validated by `parse_resolve_reply`, so none is dropped here.
        self.entries
            .chunks_exact(WireAddr::LEN)
            .filter_map(|chunk| WireAddr::read_from_bytes(chunk).ok())
            .filter_map(|address| address.to_socket_addr().ok().flatten())
    }
}

/// The entries of a counted reply (`count` entries of `E` after the fixed part), checked for
/// their length and `count <= total`; the entries themselves are the caller's to validate.
fn counted_entries<E: WireSize>(
    entries: &[u8],
    count: u32,
    total: u32,
) -> Result<CountedReply<'_, E>, ProtocolError> {
    let expected = usize::try_from(count)
        .ok()
        .and_then(|count| count.checked_mul(E::LEN))
        .ok_or(ProtocolError::LengthMismatch)?;
    if entries.len() != expected || count > total {
        return Err(ProtocolError::LengthMismatch);
    }
    Ok(CountedReply {
        count,
        total,
        entries,
        entry: PhantomData,
    })
}

/// Reads a RESOLVE reply and validates every address.
///
/// # Errors
///
/// As [`parse_info_reply`]; [`ProtocolError::LengthMismatch`] if the data is not `count`
/// addresses or `count` exceeds `total`; [`ProtocolError::BadAddress`] for a malformed
/// address or one of family 0.
pub fn parse_resolve_reply(bytes: &[u8]) -> Result<ResolvedAddresses<'_>, ProtocolError> {
    let (reply, entries) = read_reply::<ResolveReply>(bytes)?;
    let addresses = counted_entries::<WireAddr>(entries, reply.count, reply.total)?;
    for chunk in entries.chunks_exact(WireAddr::LEN) {
        let address =
            WireAddr::read_from_bytes(chunk).map_err(|_| ProtocolError::LengthMismatch)?;
        address.to_socket_addr()?.ok_or(ProtocolError::BadAddress)?;
    }
    Ok(addresses)
}

/// Reads a STATS reply.
///
/// # Errors
///
/// As [`parse_info_reply`].
pub fn parse_stats_reply(bytes: &[u8]) -> Result<Stats, ProtocolError> {
    let reply: StatsReply = read_fixed_reply(bytes)?;
    Ok(reply.stats)
}

/// Reads a HELD reply.
///
/// # Errors
///
/// As [`parse_info_reply`].
pub fn parse_held_reply(bytes: &[u8]) -> Result<Held, ProtocolError> {
    let reply: HeldReply = read_fixed_reply(bytes)?;
    Ok(reply.held)
}
