//! The wire layouts of the ABI: `#[repr(C)]`, native x64 (little-endian) layout,
//! explicit reserved fields instead of padding.
//!
//! Every message starts with a [`Header`]; its `size` counts the whole message, trailing
//! data included.

use core::mem::size_of;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};

use crate::{Held, ProtocolError, Stats};

/// The first field of every request and reply.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct Header {
    /// [`crate::ABI_VERSION`].
    pub abi_version: u32,
    /// Total bytes of the message, header and trailing data included.
    pub size: u32,
}

/// Declares a message that is only its [`Header`] (a request without parameters, a reply
/// without results), with the derives of every wire struct.
macro_rules! header_only {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[repr(C)]
        #[derive(
            Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
        )]
        pub struct $name {
            /// Common header.
            pub header: Header,
        }
    };
}

/// A socket address on the wire.
///
/// `family` 0 means none, 2 (`AF_INET`) IPv4 in `addr[0..4]` with everything after it,
/// `flowinfo` and `scope_id` zero, 23 (`AF_INET6`) IPv6. `port` is in host byte order.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct WireAddr {
    /// 0, [`WireAddr::AF_INET`] or [`WireAddr::AF_INET6`].
    pub family: u16,
    /// The port, host byte order.
    pub port: u16,
    /// IPv6 flow information; 0 for IPv4.
    pub flowinfo: u32,
    /// IPv6 scope id; 0 for IPv4.
    pub scope_id: u32,
    /// The address bytes in network order (IPv4 uses the first 4).
    pub addr: [u8; 16],
}

impl WireAddr {
    /// No address (family 0, every field zero).
    pub const NONE: Self = Self {
        family: 0,
        port: 0,
        flowinfo: 0,
        scope_id: 0,
        addr: [0; 16],
    };
    /// The family value of IPv4 (`AF_INET`).
    pub const AF_INET: u16 = 2;
    /// The family value of IPv6 (`AF_INET6` on Windows).
    pub const AF_INET6: u16 = 23;

    /// The wire form of an optional address ([`WireAddr::NONE`] for `None`).
    #[must_use]
    pub fn from_option(address: Option<SocketAddr>) -> Self {
        address.map_or(Self::NONE, Self::from)
    }

    /// The address this describes: `None` for family 0.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::BadAddress`] for an unknown family, an IPv4 address with nonzero
    /// bytes after the first four or nonzero `flowinfo`/`scope_id`, or family 0 with any
    /// nonzero field.
    pub fn to_socket_addr(&self) -> Result<Option<SocketAddr>, ProtocolError> {
        match self.family {
            0 if *self == Self::NONE => Ok(None),
            Self::AF_INET => {
                let (octets, tail) = self.addr.split_at(4);
                let octets: [u8; 4] = octets.try_into().map_err(|_| ProtocolError::BadAddress)?;
                if tail.iter().any(|&byte| byte != 0) || self.flowinfo != 0 || self.scope_id != 0 {
                    return Err(ProtocolError::BadAddress);
                }
                Ok(Some(SocketAddr::V4(SocketAddrV4::new(
                    Ipv4Addr::from(octets),
                    self.port,
                ))))
            }
            Self::AF_INET6 => Ok(Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(self.addr),
                self.port,
                self.flowinfo,
                self.scope_id,
            )))),
            _ => Err(ProtocolError::BadAddress),
        }
    }
}

impl From<SocketAddr> for WireAddr {
    fn from(address: SocketAddr) -> Self {
        match address {
            SocketAddr::V4(v4) => {
                let [a, b, c, d] = v4.ip().octets();
                let addr = [a, b, c, d, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
                Self {
                    family: Self::AF_INET,
                    port: v4.port(),
                    flowinfo: 0,
                    scope_id: 0,
                    addr,
                }
            }
            SocketAddr::V6(v6) => Self {
                family: Self::AF_INET6,
                port: v6.port(),
                flowinfo: v6.flowinfo(),
                scope_id: v6.scope_id(),
                addr: v6.ip().octets(),
            },
        }
    }
}

impl From<IpAddr> for WireAddr {
    /// The address with port 0.
    fn from(ip: IpAddr) -> Self {
        Self::from(SocketAddr::new(ip, 0))
    }
}

header_only! {
    /// INFO request.
    InfoRequest
}

/// INFO reply.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct InfoReply {
    /// Common header.
    pub header: Header,
    /// Driver version, major part.
    pub driver_major: u16,
    /// Driver version, minor part.
    pub driver_minor: u16,
    /// Driver version, patch part.
    pub driver_patch: u16,
    /// The WSK provider's dispatch version (`major << 8 | minor`), 0 if unknown.
    pub wsk_version: u16,
    /// The ABI version the driver speaks.
    pub abi_version: u32,
    /// Endpoints currently open in the driver.
    pub endpoint_count: u32,
}

/// `TCP_CONNECT` request.
///
/// `flags` may hold [`crate::FLAG_DETACH`], the bind-option flags
/// ([`crate::FLAG_REUSEADDR`], [`crate::FLAG_EXCLUSIVEADDRUSE`], [`crate::FLAG_V6ONLY`],
/// [`crate::FLAG_DUAL_STACK`]) and [`crate::FLAG_SECURE`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct TcpConnectRequest {
    /// Common header.
    pub header: Header,
    /// The peer to connect to (required, nonzero port).
    pub remote: WireAddr,
    /// The local address to bind, or [`WireAddr::NONE`] for the wildcard of the remote's family.
    pub local: WireAddr,
    /// `FLAG_*` bits.
    pub flags: u32,
    /// Connect timeout in milliseconds; 0 means [`crate::DEFAULT_TIMEOUT_MS`].
    pub timeout_ms: u32,
    /// Secure socket settings, applied before bind when `flags` has [`crate::FLAG_SECURE`];
    /// all zero otherwise.
    pub security: WireSocketSecurity,
    /// The peer's target name for the settings' protocol (`SIO_SET_PEER_TARGET_NAME` before
    /// connect): UTF-8, NUL-padded, at most 127 bytes; all zero for none. Needs
    /// [`crate::FLAG_SECURE`].
    pub peer_target_name: [u8; 128],
}

/// Winsock's secure socket settings on the wire (`SOCKET_SECURITY_SETTINGS`, without the
/// IPsec-specific form): part of `TCP_CONNECT`, `TCP_LISTEN` and `UDP_BIND`.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct WireSocketSecurity {
    /// A `SECURE_PROTOCOL_*` value (`SOCKET_SECURITY_PROTOCOL_*`).
    pub protocol: u32,
    /// `SECURE_GUARANTEE_ENCRYPTION` / `SECURE_ALLOW_INSECURE` bits (`SOCKET_SETTINGS_*`).
    pub settings: u32,
}

/// `TCP_LISTEN` request: 52 bytes of address, service, backlog and flags, then
/// `max_connections` and an inline SDDL.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct TcpListenRequest {
    /// Common header.
    pub header: Header,
    /// The local address to listen on (required, nonzero port).
    pub local: WireAddr,
    /// A `SERVICE_*` value.
    pub service: u32,
    /// The listen backlog; 0 lets the driver choose.
    pub backlog: u32,
    /// `FLAG_*` bits (detach and bind options).
    pub flags: u32,
    /// Must be 0.
    pub reserved: u32,
    /// Connections served at once, at most [`crate::MAX_CONNECTIONS`]; 0 means
    /// [`crate::DEFAULT_MAX_CONNECTIONS`].
    pub max_connections: u32,
    /// The listener's security descriptor as SDDL: UTF-8, NUL-padded; all zero for none.
    pub sddl: [u8; 256],
    /// Secure socket settings, applied before bind when `flags` has [`crate::FLAG_SECURE`];
    /// all zero otherwise.
    pub security: WireSocketSecurity,
}

/// The reply to `TCP_CONNECT`, `TCP_LISTEN` and `UDP_BIND`.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct EndpointReply {
    /// Common header.
    pub header: Header,
    /// The new endpoint's id.
    pub id: u64,
    /// A `KIND_*` value.
    pub kind: u32,
    /// 0.
    pub reserved: u32,
    /// The local address, [`WireAddr::NONE`] if unknown.
    pub local: WireAddr,
    /// The remote address, [`WireAddr::NONE`] for a listener or if unknown.
    pub remote: WireAddr,
}

/// SEND request. The data to send is the request's output buffer (`METHOD_IN_DIRECT`), not
/// part of this message.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct SendRequest {
    /// Common header; `size` = 24.
    pub header: Header,
    /// The connection to send on.
    pub id: u64,
    /// Timeout in milliseconds; 0 means [`crate::DEFAULT_TIMEOUT_MS`].
    pub timeout_ms: u32,
    /// Bytes to send: the output buffer's length, 1 to [`crate::MAX_TRANSFER`].
    pub length: u32,
}

/// RECV request. The data lands in the request's output buffer (`METHOD_OUT_DIRECT`);
/// `IoStatus.Information` is the byte count, 0 at the end of the peer's stream.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct RecvRequest {
    /// Common header.
    pub header: Header,
    /// The connection to receive from.
    pub id: u64,
    /// Timeout in milliseconds; 0 means [`crate::DEFAULT_TIMEOUT_MS`].
    pub timeout_ms: u32,
    /// The most bytes to return: the output buffer's length, 1 to [`crate::MAX_TRANSFER`].
    pub max_length: u32,
}

/// TRANSACT request: send `length` bytes, then receive the reply, in one request. Both live
/// in the request's output buffer (`METHOD_OUT_DIRECT`), which is `max(length, max_reply)`
/// bytes: the driver sends its first `length` bytes, then receives at most `max_reply` bytes
/// into its start; `IoStatus.Information` is the reply's byte count, 0 at the end of the
/// peer's stream.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct TransactRequest {
    /// Common header; `size` = 32.
    pub header: Header,
    /// The connection.
    pub id: u64,
    /// Timeout in milliseconds for the whole exchange; 0 means [`crate::DEFAULT_TIMEOUT_MS`].
    pub timeout_ms: u32,
    /// Bytes to send from the start of the output buffer: 1 to [`crate::MAX_TRANSACT`].
    pub length: u32,
    /// The most reply bytes to return: 1 to [`crate::MAX_TRANSACT`].
    pub max_reply: u32,
    /// Must be zero.
    pub reserved: u32,
}

/// CLOSE request.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct CloseRequest {
    /// Common header.
    pub header: Header,
    /// The endpoint to close.
    pub id: u64,
}

header_only! {
    /// CLOSE reply.
    CloseReply
}

header_only! {
    /// LIST request.
    ListRequest
}

/// LIST reply; `count` [`EndpointInfo`] entries follow it.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct ListReply {
    /// Common header; `size` = 16 + 112 × `count`.
    pub header: Header,
    /// Entries written (as many as fit in the output buffer).
    pub count: u32,
    /// Endpoints visible to the caller.
    pub total: u32,
}

/// One endpoint in a LIST reply.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct EndpointInfo {
    /// The endpoint's id.
    pub id: u64,
    /// `KIND_*`.
    pub kind: u32,
    /// `STATE_*`.
    pub state: u32,
    /// `SERVICE_*` (listeners; [`crate::SERVICE_NONE`] for connections).
    pub service: u32,
    /// `INFO_*` bits.
    pub flags: u32,
    /// Local address, [`WireAddr::NONE`] if unknown.
    pub local: WireAddr,
    /// Remote address, [`WireAddr::NONE`] for listeners or if unknown.
    pub remote: WireAddr,
    /// Bytes sent (by a listener: by all its connections).
    pub bytes_sent: u64,
    /// Bytes received (by a listener: by all its connections).
    pub bytes_received: u64,
    /// Connections accepted and served (listeners).
    pub connections_served: u64,
    /// Connections being served now (listeners).
    pub connections_active: u32,
    /// 0.
    pub reserved: u32,
    /// Milliseconds the endpoint has been open.
    pub opened_ms: u64,
    /// Send operations completed (SEND, SEND_TO; for a service, its sends).
    pub send_ops: u64,
    /// Receive operations completed (RECV, RECV_FROM; for a service, its receives).
    pub recv_ops: u64,
    /// Operations that failed.
    pub errors: u64,
    /// The NTSTATUS of the last failure, 0 if none.
    pub last_status: u32,
    /// 0.
    pub reserved2: u32,
}

/// `UDP_BIND` request.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct UdpBindRequest {
    /// Common header.
    pub header: Header,
    /// The local address to bind (required; port 0 lets the stack choose).
    pub local: WireAddr,
    /// [`crate::SERVICE_NONE`] (user-driven) or [`crate::SERVICE_ECHO`].
    pub service: u32,
    /// `FLAG_*` bits (detach and bind options).
    pub flags: u32,
    /// The socket's security descriptor as SDDL: UTF-8, NUL-padded; all zero for none.
    pub sddl: [u8; 256],
    /// Secure socket settings, applied before bind when `flags` has [`crate::FLAG_SECURE`];
    /// all zero otherwise.
    pub security: WireSocketSecurity,
}

/// `SEND_TO` request. The datagram is the request's output buffer (`METHOD_IN_DIRECT`).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct SendToRequest {
    /// Common header; `size` = 56.
    pub header: Header,
    /// The UDP endpoint to send from.
    pub id: u64,
    /// Timeout in milliseconds; 0 means [`crate::DEFAULT_TIMEOUT_MS`].
    pub timeout_ms: u32,
    /// The datagram's length: the output buffer's length, 1 to [`crate::MAX_DATAGRAM`]
    /// (zero-length datagrams cannot be sent).
    pub length: u32,
    /// The destination (required, nonzero port).
    pub remote: WireAddr,
    /// Must be 0.
    pub reserved: u32,
}

/// `RECV_FROM` request. Its output buffer (`METHOD_OUT_DIRECT`) is a [`RecvFromReply`]
/// followed by room for `max_length` bytes of datagram.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct RecvFromRequest {
    /// Common header.
    pub header: Header,
    /// The UDP endpoint to receive on.
    pub id: u64,
    /// Timeout in milliseconds; 0 means [`crate::DEFAULT_TIMEOUT_MS`].
    pub timeout_ms: u32,
    /// The most bytes to return: the output buffer's length − 48, 1 to
    /// [`crate::MAX_DATAGRAM`].
    pub max_length: u32,
}

/// `RECV_FROM` reply, written by the driver at the start of the output buffer; `length`
/// data bytes follow it.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct RecvFromReply {
    /// Common header; `size` = 48 + `length`.
    pub header: Header,
    /// Bytes of data after this struct (a longer datagram was truncated to fit).
    pub length: u32,
    /// 0.
    pub reserved: u32,
    /// The datagram's sender, [`WireAddr::NONE`] if the provider did not say.
    pub remote: WireAddr,
    /// 0.
    pub reserved2: u32,
}

/// DISCONNECT request.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct DisconnectRequest {
    /// Common header.
    pub header: Header,
    /// The connection to shut down.
    pub id: u64,
    /// Timeout in milliseconds; 0 means [`crate::DEFAULT_TIMEOUT_MS`].
    pub timeout_ms: u32,
    /// [`crate::DISCONNECT_ABORTIVE`] or 0.
    pub flags: u32,
}

/// ACCEPT request: take a connection queued on an accept-mode listener.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct AcceptRequest {
    /// Common header.
    pub header: Header,
    /// The listener (opened with `SERVICE_NONE`).
    pub id: u64,
    /// How long to wait for a connection, in milliseconds; 0 means
    /// [`crate::DEFAULT_TIMEOUT_MS`].
    pub timeout_ms: u32,
    /// [`crate::FLAG_DETACH`] (the connection outlives the handle) or 0.
    pub flags: u32,
}

/// SERVE request: hand a connection to an in-kernel service.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct ServeRequest {
    /// Common header.
    pub header: Header,
    /// The TCP connection (nothing outstanding on it).
    pub id: u64,
    /// `SERVICE_ECHO`, `SERVICE_DISCARD` or `SERVICE_SOURCE`.
    pub service: u32,
    /// Must be 0.
    pub reserved: u32,
}

header_only! {
    /// SERVE reply.
    ServeReply
}

header_only! {
    /// DISCONNECT reply.
    DisconnectReply
}

/// `SOCKET_OPTION` request.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct SocketOptionRequest {
    /// Common header.
    pub header: Header,
    /// The endpoint whose socket option this is.
    pub id: u64,
    /// An `OPT_*` value.
    pub option: u32,
    /// 0 to get, 1 to set.
    pub set: u32,
    /// The value to set; 0 for a get.
    pub value: u32,
    /// Must be 0.
    pub reserved: u32,
}

/// `SOCKET_OPTION` reply.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct SocketOptionReply {
    /// Common header.
    pub header: Header,
    /// The option's value (after a set: the value read back).
    pub value: u32,
    /// 0.
    pub reserved: u32,
}

/// SECURITY request.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct SecurityRequest {
    /// Common header.
    pub header: Header,
    /// The endpoint whose security descriptor to read.
    pub id: u64,
}

/// SECURITY reply.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct SecurityReply {
    /// Common header.
    pub header: Header,
    /// Bytes of SDDL text at the start of `sddl`, at most 256.
    pub length: u32,
    /// 0.
    pub reserved: u32,
    /// The endpoint's `SO_WSK_SECURITY` as SDDL: UTF-8, zero after `length` bytes.
    pub sddl: [u8; 256],
}

/// `SET_PEER_TARGET_NAME` request: name a UDP endpoint's peer for the security protocol.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct PeerTargetNameRequest {
    /// Common header.
    pub header: Header,
    /// The UDP endpoint.
    pub id: u64,
    /// The peer the name is for (required, nonzero port).
    pub peer: WireAddr,
    /// A `SECURE_PROTOCOL_*` value: the protocol the name is for.
    pub protocol: u32,
    /// The name: UTF-8, NUL-padded, 1 to 127 bytes.
    pub name: [u8; 128],
}

header_only! {
    /// `SET_PEER_TARGET_NAME` reply.
    PeerTargetNameReply
}

/// `DELETE_PEER_TARGET_NAME` request.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct DeletePeerTargetNameRequest {
    /// Common header.
    pub header: Header,
    /// The UDP endpoint.
    pub id: u64,
    /// The peer whose name to forget (required, nonzero port).
    pub peer: WireAddr,
    /// Must be 0.
    pub reserved: u32,
}

header_only! {
    /// `DELETE_PEER_TARGET_NAME` reply.
    DeletePeerTargetNameReply
}

/// `QUERY_SECURITY` request.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct QuerySecurityRequest {
    /// Common header.
    pub header: Header,
    /// A TCP connection or a UDP endpoint.
    pub id: u64,
    /// A UDP endpoint's peer (required, nonzero port); [`WireAddr::NONE`] for a TCP
    /// connection.
    pub peer: WireAddr,
    /// Must be 0.
    pub reserved: u32,
}

/// `QUERY_SECURITY` reply (`SOCKET_SECURITY_QUERY_INFO` without its token handles).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct QuerySecurityReply {
    /// Common header.
    pub header: Header,
    /// The `SECURE_PROTOCOL_*` value that secures the traffic.
    pub protocol: u32,
    /// `SECURE_INFO_*` bits (`SOCKET_INFO_CONNECTION_*`).
    pub flags: u32,
}

/// RESOLVE request.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct ResolveRequest {
    /// Common header.
    pub header: Header,
    /// Timeout in milliseconds; 0 means [`crate::DEFAULT_TIMEOUT_MS`].
    pub timeout_ms: u32,
    /// Must be 0.
    pub reserved: u32,
    /// The host name or address literal: UTF-8, NUL-padded, 1 to 255 bytes.
    pub name: [u8; 256],
    /// The service (port number or name): UTF-8, NUL-padded, 0 to 31 bytes.
    pub service: [u8; 32],
}

/// RESOLVE reply; `count` [`WireAddr`]s follow it.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct ResolveReply {
    /// Common header; `size` = 16 + 28 × `count`.
    pub header: Header,
    /// Addresses written (as many as fit in the output buffer).
    pub count: u32,
    /// Addresses the name resolved to.
    pub total: u32,
}

header_only! {
    /// STATS request.
    StatsRequest
}

/// STATS reply: driver-wide counters since the driver loaded.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct StatsReply {
    /// Common header.
    pub header: Header,
    /// The counters, in [`Stats`]' own layout.
    pub stats: Stats,
}

/// HELD request.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct HeldRequest {
    /// Common header.
    pub header: Header,
}

/// `DEVICE_SECURITY` request (the reply is a [`SecurityReply`]).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct DeviceSecurityRequest {
    /// Common header.
    pub header: Header,
}

/// HELD reply: what the driver's WSK library holds now (each count: taken minus given back).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct HeldReply {
    /// Common header.
    pub header: Header,
    /// The counts, in [`Held`]'s own layout.
    pub held: Held,
}

/// The fixed size of a wire struct, checked at compile time against the documented number.
pub(crate) trait WireSize {
    /// Bytes.
    const LEN: usize;
    /// Bytes, as the `u32` a header carries.
    const LEN_U32: u32;
}

macro_rules! wire_size {
    ($($type:ty = $len:literal;)*) => {$(
        const _: () = assert!(size_of::<$type>() == $len);
        impl WireSize for $type {
            const LEN: usize = $len;
            const LEN_U32: u32 = $len;
        }
    )*};
}

wire_size! {
    Header = 8;
    WireAddr = 28;
    InfoRequest = 8;
    InfoReply = 24;
    WireSocketSecurity = 8;
    TcpConnectRequest = 208;
    TcpListenRequest = 320;
    EndpointReply = 80;
    SendRequest = 24;
    RecvRequest = 24;
    CloseRequest = 16;
    CloseReply = 8;
    ListRequest = 8;
    ListReply = 16;
    EndpointInfo = 152;
    UdpBindRequest = 308;
    SendToRequest = 56;
    RecvFromRequest = 24;
    RecvFromReply = 48;
    DisconnectRequest = 24;
    AcceptRequest = 24;
    ServeRequest = 24;
    ServeReply = 8;
    DisconnectReply = 8;
    SocketOptionRequest = 32;
    SocketOptionReply = 16;
    SecurityRequest = 16;
    SecurityReply = 272;
    ResolveRequest = 304;
    ResolveReply = 16;
    StatsRequest = 8;
    StatsReply = 96;
    HeldRequest = 8;
    HeldReply = 56;
    PeerTargetNameRequest = 176;
    PeerTargetNameReply = 8;
    DeletePeerTargetNameRequest = 48;
    DeletePeerTargetNameReply = 8;
    QuerySecurityRequest = 48;
    QuerySecurityReply = 16;
    TransactRequest = 32;
    DeviceSecurityRequest = 8;
}

/// `Default` for the wire structs with arrays too long to derive it: all zero, as every
/// default message is (an empty address, no SDDL, no name).
macro_rules! zeroed_default {
    ($($type:ty),*) => {$(
        impl Default for $type {
            fn default() -> Self {
                Self::new_zeroed()
            }
        }
    )*};
}

zeroed_default!(
    TcpConnectRequest,
    PeerTargetNameRequest,
    TcpListenRequest,
    UdpBindRequest,
    SecurityReply,
    ResolveRequest
);

/// A header for a message of `len` bytes.
pub(crate) const fn header(len: u32) -> Header {
    Header {
        abi_version: crate::ABI_VERSION,
        size: len,
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::{
        DeletePeerTargetNameRequest, PeerTargetNameRequest, QuerySecurityReply,
        QuerySecurityRequest, WireSocketSecurity,
    };
    use super::{
        DisconnectRequest, EndpointInfo, EndpointReply, HeldReply, InfoReply, RecvFromReply,
        RecvFromRequest, ResolveReply, ResolveRequest, SecurityReply, SecurityRequest,
        SendToRequest, SocketOptionReply, SocketOptionRequest, StatsReply, TcpConnectRequest,
        TcpListenRequest, TransactRequest, UdpBindRequest, WireAddr,
    };
    use crate::{Held, ProtocolError, Stats};
    use core::mem::offset_of;
    use core::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
    use zerocopy::IntoBytes;

    #[test]
    fn field_offsets_match_the_spec() {
        assert_eq!(offset_of!(WireAddr, addr), 12);
        assert_eq!(offset_of!(InfoReply, abi_version), 16);
        assert_eq!(offset_of!(InfoReply, endpoint_count), 20);
        assert_eq!(offset_of!(TcpConnectRequest, local), 36);
        assert_eq!(offset_of!(TcpConnectRequest, timeout_ms), 68);
        assert_eq!(offset_of!(TcpConnectRequest, security), 72);
        assert_eq!(offset_of!(TcpConnectRequest, peer_target_name), 80);
        assert_eq!(offset_of!(EndpointReply, id), 8);
        assert_eq!(offset_of!(EndpointReply, local), 24);
        assert_eq!(offset_of!(EndpointReply, remote), 52);
        assert_eq!(offset_of!(EndpointInfo, local), 24);
        assert_eq!(offset_of!(EndpointInfo, bytes_sent), 80);
        assert_eq!(offset_of!(EndpointInfo, connections_active), 104);
    }

    #[test]
    fn secure_socket_offsets_match_the_spec() {
        assert_eq!(offset_of!(WireSocketSecurity, settings), 4);
        assert_eq!(offset_of!(PeerTargetNameRequest, id), 8);
        assert_eq!(offset_of!(PeerTargetNameRequest, peer), 16);
        assert_eq!(offset_of!(PeerTargetNameRequest, protocol), 44);
        assert_eq!(offset_of!(PeerTargetNameRequest, name), 48);
        assert_eq!(offset_of!(DeletePeerTargetNameRequest, peer), 16);
        assert_eq!(offset_of!(DeletePeerTargetNameRequest, reserved), 44);
        assert_eq!(offset_of!(QuerySecurityRequest, peer), 16);
        assert_eq!(offset_of!(QuerySecurityRequest, reserved), 44);
        assert_eq!(offset_of!(QuerySecurityReply, protocol), 8);
        assert_eq!(offset_of!(QuerySecurityReply, flags), 12);
    }

    #[test]
    fn listen_and_endpoint_info_offsets_match_the_spec() {
        assert_eq!(offset_of!(TcpListenRequest, local), 8);
        assert_eq!(offset_of!(TcpListenRequest, service), 36);
        assert_eq!(offset_of!(TcpListenRequest, backlog), 40);
        assert_eq!(offset_of!(TcpListenRequest, flags), 44);
        assert_eq!(offset_of!(TcpListenRequest, reserved), 48);
        assert_eq!(offset_of!(TcpListenRequest, max_connections), 52);
        assert_eq!(offset_of!(TcpListenRequest, sddl), 56);
        assert_eq!(offset_of!(TcpListenRequest, security), 312);
        assert_eq!(offset_of!(EndpointInfo, reserved), 108);
        assert_eq!(offset_of!(EndpointInfo, opened_ms), 112);
        assert_eq!(offset_of!(EndpointInfo, send_ops), 120);
        assert_eq!(offset_of!(EndpointInfo, recv_ops), 128);
        assert_eq!(offset_of!(EndpointInfo, errors), 136);
        assert_eq!(offset_of!(EndpointInfo, last_status), 144);
        assert_eq!(offset_of!(EndpointInfo, reserved2), 148);
        assert_eq!(offset_of!(UdpBindRequest, local), 8);
        assert_eq!(offset_of!(UdpBindRequest, service), 36);
        assert_eq!(offset_of!(UdpBindRequest, flags), 40);
        assert_eq!(offset_of!(UdpBindRequest, sddl), 44);
        assert_eq!(offset_of!(UdpBindRequest, security), 300);
        assert_eq!(offset_of!(SendToRequest, id), 8);
        assert_eq!(offset_of!(SendToRequest, timeout_ms), 16);
        assert_eq!(offset_of!(SendToRequest, length), 20);
        assert_eq!(offset_of!(SendToRequest, remote), 24);
        assert_eq!(offset_of!(SendToRequest, reserved), 52);
        assert_eq!(offset_of!(TransactRequest, id), 8);
        assert_eq!(offset_of!(TransactRequest, timeout_ms), 16);
        assert_eq!(offset_of!(TransactRequest, length), 20);
        assert_eq!(offset_of!(TransactRequest, max_reply), 24);
        assert_eq!(offset_of!(TransactRequest, reserved), 28);
        assert_eq!(size_of::<TransactRequest>(), 32);
        assert_eq!(offset_of!(RecvFromRequest, id), 8);
        assert_eq!(offset_of!(RecvFromRequest, timeout_ms), 16);
        assert_eq!(offset_of!(RecvFromRequest, max_length), 20);
        assert_eq!(offset_of!(RecvFromReply, length), 8);
        assert_eq!(offset_of!(RecvFromReply, reserved), 12);
        assert_eq!(offset_of!(RecvFromReply, remote), 16);
        assert_eq!(offset_of!(RecvFromReply, reserved2), 44);
        assert_eq!(offset_of!(DisconnectRequest, id), 8);
        assert_eq!(offset_of!(DisconnectRequest, timeout_ms), 16);
        assert_eq!(offset_of!(DisconnectRequest, flags), 20);
        assert_eq!(offset_of!(SocketOptionRequest, id), 8);
        assert_eq!(offset_of!(SocketOptionRequest, option), 16);
        assert_eq!(offset_of!(SocketOptionRequest, set), 20);
        assert_eq!(offset_of!(SocketOptionRequest, value), 24);
        assert_eq!(offset_of!(SocketOptionRequest, reserved), 28);
        assert_eq!(offset_of!(SocketOptionReply, value), 8);
        assert_eq!(offset_of!(SocketOptionReply, reserved), 12);
        assert_eq!(offset_of!(SecurityRequest, id), 8);
        assert_eq!(offset_of!(SecurityReply, length), 8);
        assert_eq!(offset_of!(SecurityReply, reserved), 12);
        assert_eq!(offset_of!(SecurityReply, sddl), 16);
        assert_eq!(offset_of!(ResolveRequest, timeout_ms), 8);
        assert_eq!(offset_of!(ResolveRequest, reserved), 12);
        assert_eq!(offset_of!(ResolveRequest, name), 16);
        assert_eq!(offset_of!(ResolveRequest, service), 272);
        assert_eq!(offset_of!(ResolveReply, count), 8);
        assert_eq!(offset_of!(ResolveReply, total), 12);
        assert_eq!(offset_of!(StatsReply, stats), 8);
        assert_eq!(offset_of!(Stats, endpoints_peak), 4);
        assert_eq!(offset_of!(Stats, endpoints_opened), 8);
        assert_eq!(offset_of!(Stats, bytes_sent), 16);
        assert_eq!(offset_of!(Stats, bytes_received), 24);
        assert_eq!(offset_of!(Stats, connections_served), 32);
        assert_eq!(offset_of!(Stats, errors), 40);
        assert_eq!(offset_of!(Stats, uptime_ms), 48);
        assert_eq!(offset_of!(HeldReply, held), 8);
        assert_eq!(offset_of!(Held, pool_bytes), 8);
        assert_eq!(offset_of!(Held, irps), 16);
        assert_eq!(offset_of!(Held, mdls), 24);
        assert_eq!(offset_of!(Held, sockets), 32);
        assert_eq!(offset_of!(Held, work_items), 40);
    }

    #[test]
    fn defaults_are_all_zero() {
        assert!(TcpListenRequest::default()
            .as_bytes()
            .iter()
            .all(|&b| b == 0));
        assert!(UdpBindRequest::default().as_bytes().iter().all(|&b| b == 0));
        assert!(SecurityReply::default().as_bytes().iter().all(|&b| b == 0));
        assert!(ResolveRequest::default().as_bytes().iter().all(|&b| b == 0));
    }

    #[test]
    fn ipv4_round_trip_and_layout() {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, 9000));
        let wire = WireAddr::from(address);
        assert_eq!(wire.family, 2);
        assert_eq!(&wire.as_bytes()[..4], &[2, 0, 0x28, 0x23]); // little-endian family, port
        assert_eq!(&wire.as_bytes()[12..16], &[127, 0, 0, 1]);
        assert_eq!(wire.to_socket_addr(), Ok(Some(address)));
    }

    #[test]
    fn ipv6_round_trip_keeps_flowinfo_and_scope() {
        let address = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 443, 7, 3));
        let wire = WireAddr::from(address);
        assert_eq!(wire.family, 23);
        assert_eq!(wire.to_socket_addr(), Ok(Some(address)));
    }

    #[test]
    fn none_and_malformed_addresses() {
        assert_eq!(WireAddr::NONE.to_socket_addr(), Ok(None));
        assert_eq!(WireAddr::from_option(None), WireAddr::NONE);
        let mut stray_port = WireAddr::NONE;
        stray_port.port = 1;
        assert_eq!(stray_port.to_socket_addr(), Err(ProtocolError::BadAddress));
        let mut unknown = WireAddr::NONE;
        unknown.family = 1;
        assert_eq!(unknown.to_socket_addr(), Err(ProtocolError::BadAddress));
        let v4 = WireAddr::from(SocketAddr::from((Ipv4Addr::LOCALHOST, 1)));
        let mut tail = v4;
        tail.addr[4] = 1;
        assert_eq!(tail.to_socket_addr(), Err(ProtocolError::BadAddress));
        let mut tail_end = v4;
        tail_end.addr[15] = 1;
        assert_eq!(tail_end.to_socket_addr(), Err(ProtocolError::BadAddress));
        let mut flow = v4;
        flow.flowinfo = 1;
        assert_eq!(flow.to_socket_addr(), Err(ProtocolError::BadAddress));
        let mut scope = v4;
        scope.scope_id = 1;
        assert_eq!(scope.to_socket_addr(), Err(ProtocolError::BadAddress));
    }
}
