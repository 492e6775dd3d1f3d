//! The wsk-rs IOCTL ABI (version 5): the one definition of the requests and replies that
//! pass between the driver and its user-mode clients.
//!
//! - [`wire`]: the `#[repr(C)]` message layouts, byte for byte.
//! - [`parse_request`]: the driver's validation of an input buffer into a [`Request`];
//!   [`direct_output_len`]: the exact data buffer a direct-I/O request (SEND, RECV, `SEND_TO`,
//!   `RECV_FROM`) must come with.
//! - `write_*`, [`ListWriter`] and [`ResolveWriter`]: the driver's reply writers
//!   ([`write_recv_from_header`] for the one direct request that has a reply header).
//! - `encode_*` and `parse_*_reply`: the client's side of the same messages.
//! - [`source_byte`] / [`fill_source_pattern`]: the byte stream of [`Service::Source`].
//!
//! The crate is `no_std`, has no `unsafe`, never panics and never allocates: the driver
//! runs it in the kernel on caller-supplied bytes. Its reference documentation for users
//! is `docs/protocol.md`.
//!
//! # Examples
//!
//! ```
//! use wskrs_protocol::{encode_close, parse_request, EndpointId, IoctlCode, Request};
//!
//! let bytes = encode_close(EndpointId(7));
//! let request = parse_request(IoctlCode::CLOSE.0, &bytes)?;
//! assert_eq!(request, Request::Close(EndpointId(7)));
//! # Ok::<(), wskrs_protocol::ProtocolError>(())
//! ```
#![no_std]
#![deny(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

mod client;
mod codes;
mod error;
mod parameters;
mod pattern;
mod reply;
mod request;
mod text;
mod types;
pub mod wire;

pub use client::{
    encode_accept, encode_close, encode_delete_peer_target_name, encode_device_security,
    encode_disconnect, encode_held, encode_info, encode_list, encode_query_security, encode_recv,
    encode_recv_from, encode_resolve, encode_security, encode_send, encode_send_to, encode_serve,
    encode_set_peer_target_name, encode_socket_option, encode_stats, encode_tcp_connect,
    encode_tcp_connect_options, encode_tcp_connect_with, encode_tcp_listen, encode_tcp_listen_with,
    encode_transact, encode_udp_bind, encode_udp_bind_options, list_output_len, parse_close_reply,
    parse_delete_peer_target_name_reply, parse_disconnect_reply, parse_endpoint_reply,
    parse_held_reply, parse_info_reply, parse_list_reply, parse_peer_target_name_reply,
    parse_query_security_reply, parse_recv_from_reply, parse_resolve_reply, parse_security_reply,
    parse_serve_reply, parse_socket_option_reply, parse_stats_reply, recv_from_output_len,
    resolve_output_len, transact_output_len, ConnectOptions, CountedReply, DriverInfo,
    EndpointActivity, EndpointList, EndpointStatus, ListenOptions, OpenedEndpoint, ReceivedFrom,
    ResolvedAddresses, UdpBindOptions,
};
pub use codes::{
    ctl_code, IoctlCode, DEVICE_TYPE, FILE_ANY_ACCESS, FILE_READ_DATA, FILE_WRITE_DATA,
    METHOD_BUFFERED, METHOD_IN_DIRECT, METHOD_OUT_DIRECT,
};
pub use error::ProtocolError;
pub use parameters::{
    driver_parameter, DriverParameter, DRIVER_PARAMETERS, PARAMETERS_SUBKEY,
    PARAM_ENDPOINTS_PER_HANDLE, PARAM_LOCKED_BYTES_PER_HANDLE, PARAM_MAX_CONNECTIONS_PER_LISTENER,
    PARAM_MAX_ENDPOINTS, PARAM_PENDED_REQUESTS_PER_HANDLE,
};
pub use pattern::{fill_source_pattern, source_byte, SOURCE_PATTERN_PERIOD};
pub use reply::{
    min_output_len, recv_from_data_area, write_close, write_delete_peer_target_name,
    write_disconnect, write_endpoint, write_held, write_info, write_peer_target_name,
    write_query_security, write_recv_from_header, write_security, write_security_fmt, write_serve,
    write_socket_option, write_stats, ListWriter, ResolveWriter,
};
pub use request::{
    direct_output_len, parse_request, Accept, BindFlags, DeletePeerTargetName, Disconnect,
    QuerySecurity, Recv, RecvFrom, Request, Resolve, Send, SendTo, Serve, SetPeerTargetName,
    SocketOption, TcpConnect, TcpListen, Transact, UdpBind,
};
pub use types::{
    EndpointId, EndpointKind, EndpointState, Held, OptionId, SecureProtocol, SecurityQuery,
    Service, SocketSecurity, Stats, UdpService,
};
pub use wire::{
    AcceptRequest, CloseReply, CloseRequest, DeletePeerTargetNameReply,
    DeletePeerTargetNameRequest, DeviceSecurityRequest, DisconnectReply, DisconnectRequest,
    EndpointInfo, EndpointReply, Header, HeldReply, HeldRequest, InfoReply, InfoRequest, ListReply,
    ListRequest, PeerTargetNameReply, PeerTargetNameRequest, QuerySecurityReply,
    QuerySecurityRequest, RecvFromReply, RecvFromRequest, RecvRequest, ResolveReply,
    ResolveRequest, SecurityReply, SecurityRequest, SendRequest, SendToRequest, ServeReply,
    ServeRequest, SocketOptionReply, SocketOptionRequest, StatsReply, StatsRequest,
    TcpConnectRequest, TcpListenRequest, TransactRequest, UdpBindRequest, WireAddr,
    WireSocketSecurity,
};
pub use wskrs_ntstatus::NtStatus;

/// The kernel name of the driver's device object.
pub const DEVICE_NAME: &str = "\\Device\\WskRs";
/// The symbolic link the driver creates so user mode can open the device.
pub const DOS_DEVICE_NAME: &str = "\\DosDevices\\WskRs";
/// The path user mode passes to `CreateFileW`.
pub const USER_DEVICE_PATH: &str = "\\\\.\\WskRs";
/// Who may open the device: SYSTEM and Administrators, full access; nobody else
/// (`SDDL_DEVOBJ_SYS_ALL_ADM_ALL`, wdmsec.h). Both shells apply it to the device object.
pub const DEVICE_SDDL: &str = "D:P(A;;GA;;;SY)(A;;GA;;;BA)";
/// [`DEVICE_SDDL`] with its generic rights mapped by the device object type's generic
/// mapping (`GENERIC_ALL` -> `FILE_ALL_ACCESS`): Windows' object manager maps the generic
/// rights of an ACL it stores with the object type's `GENERIC_MAPPING`
/// (`SeSetSecurityDescriptorInfo`). `DEVICE_SECURITY` returns one of the two, depending on
/// the kernel (Wine 8.0 keeps them as given; not run on Windows here, so both are accepted).
pub const DEVICE_SDDL_MAPPED: &str = "D:P(A;;FA;;;SY)(A;;FA;;;BA)";

/// Whether `sddl` (as `DEVICE_SECURITY` returns it) is the device's documented DACL:
/// [`DEVICE_SDDL`], or [`DEVICE_SDDL_MAPPED`], the same after generic mapping.
#[must_use]
pub fn is_device_sddl(sddl: &str) -> bool {
    sddl == DEVICE_SDDL || sddl == DEVICE_SDDL_MAPPED
}
/// The service (driver) name under which the driver is installed.
pub const SERVICE_NAME: &str = "WskRs";
/// The version of this ABI; every request and reply carries it in its [`Header`].
///
/// Any change to a code, a layout or a meaning bumps it. Version 3 moved SEND, RECV,
/// `SEND_TO` and `RECV_FROM` to direct I/O; version 4 made the query codes (INFO, LIST,
/// SECURITY, RESOLVE, STATS) require `FILE_READ_DATA` instead of `FILE_ANY_ACCESS`; version
/// 5 added the secure socket extensions (`FLAG_SECURE` and the grown `TCP_CONNECT`,
/// `TCP_LISTEN`, `UDP_BIND`; `SET_PEER_TARGET_NAME`, `DELETE_PEER_TARGET_NAME`,
/// `QUERY_SECURITY`), the refused connections and the driver's limits to STATS, and
/// TRANSACT (a request and its reply in one IOCTL); version 6 added `DEVICE_SECURITY` (the
/// device's DACL as the kernel holds it); version 7 moved RESOLVE to direct I/O (it pends while
/// the name resolves, and can be cancelled).
pub const ABI_VERSION: u32 = 7;

/// [`EndpointKind::TcpConnection`] on the wire.
pub const KIND_TCP_CONNECTION: u32 = 1;
/// [`EndpointKind::TcpListener`] on the wire.
pub const KIND_TCP_LISTENER: u32 = 2;
/// [`EndpointKind::Udp`] on the wire.
pub const KIND_UDP: u32 = 3;

/// [`EndpointState::Connected`] on the wire.
pub const STATE_CONNECTED: u32 = 1;
/// [`EndpointState::Listening`] on the wire.
pub const STATE_LISTENING: u32 = 2;
/// [`EndpointState::PeerClosed`] on the wire.
pub const STATE_PEER_CLOSED: u32 = 3;
/// [`EndpointState::Broken`] on the wire.
pub const STATE_BROKEN: u32 = 4;
/// [`EndpointState::Bound`] on the wire (UDP).
pub const STATE_BOUND: u32 = 5;
/// [`EndpointState::Disconnected`] on the wire (a connection after DISCONNECT).
pub const STATE_DISCONNECTED: u32 = 6;

/// [`Service::None`] / [`UdpService::None`] on the wire: a listener that accepts and serves
/// nothing; a UDP socket driven by `SEND_TO` / `RECV_FROM`.
pub const SERVICE_NONE: u32 = 0;
/// [`Service::Echo`] / [`UdpService::Echo`] on the wire: every accepted connection echoes
/// what it receives; a UDP socket sends every datagram back to its sender.
pub const SERVICE_ECHO: u32 = 1;
/// [`Service::Discard`] on the wire (TCP): reads and drops everything, counting the bytes.
pub const SERVICE_DISCARD: u32 = 2;
/// [`Service::Source`] on the wire (TCP): sends [`source_byte`]s as fast as the peer takes
/// them, until the peer closes.
pub const SERVICE_SOURCE: u32 = 3;

/// Request flag (`TCP_CONNECT`, `TCP_LISTEN`, `UDP_BIND`): the endpoint outlives the handle
/// that created it.
pub const FLAG_DETACH: u32 = 1;
/// Bind-option flag: set `SO_REUSEADDR` before binding ([`BindFlags::reuse`]).
pub const FLAG_REUSEADDR: u32 = 2;
/// Bind-option flag: set `SO_EXCLUSIVEADDRUSE` before binding ([`BindFlags::exclusive`]).
pub const FLAG_EXCLUSIVEADDRUSE: u32 = 4;
/// Bind-option flag: set `IPV6_V6ONLY` to 1 before binding (IPv6 only;
/// [`BindFlags::v6only`] `Some(true)`).
pub const FLAG_V6ONLY: u32 = 8;
/// Bind-option flag: set `IPV6_V6ONLY` to 0 before binding, so an IPv6 wildcard listener or
/// UDP socket also accepts IPv4 (IPv6 only; [`BindFlags::v6only`] `Some(false)`).
pub const FLAG_DUAL_STACK: u32 = 16;

/// Request flag (`TCP_CONNECT`, `TCP_LISTEN`, `UDP_BIND`): apply the request's `security`
/// (`SIO_SET_SECURITY`) and, for `TCP_CONNECT`, its `peer_target_name`
/// (`SIO_SET_PEER_TARGET_NAME`) after the bind options and before bind.
pub const FLAG_SECURE: u32 = 32;

/// [`SecureProtocol::Default`] on the wire (`SOCKET_SECURITY_PROTOCOL_DEFAULT`, mstcpip.h).
pub const SECURE_PROTOCOL_DEFAULT: u32 = 0;
/// [`SecureProtocol::Ipsec`] on the wire (`SOCKET_SECURITY_PROTOCOL_IPSEC`).
pub const SECURE_PROTOCOL_IPSEC: u32 = 1;
/// [`SecureProtocol::Ipsec2`] on the wire (`SOCKET_SECURITY_PROTOCOL_IPSEC2`).
pub const SECURE_PROTOCOL_IPSEC2: u32 = 2;
/// Settings bit (`SOCKET_SETTINGS_GUARANTEE_ENCRYPTION`): no packet leaves unencrypted.
pub const SECURE_GUARANTEE_ENCRYPTION: u32 = 0x1;
/// Settings bit (`SOCKET_SETTINGS_ALLOW_INSECURE`): clear text when security cannot be
/// negotiated.
pub const SECURE_ALLOW_INSECURE: u32 = 0x2;
/// `QUERY_SECURITY` flag (`SOCKET_INFO_CONNECTION_SECURED`): the traffic is authenticated.
pub const SECURE_INFO_SECURED: u32 = 0x1;
/// `QUERY_SECURITY` flag (`SOCKET_INFO_CONNECTION_ENCRYPTED`): the traffic is encrypted.
pub const SECURE_INFO_ENCRYPTED: u32 = 0x2;
/// `QUERY_SECURITY` flag (`SOCKET_INFO_CONNECTION_IMPERSONATED`).
pub const SECURE_INFO_IMPERSONATED: u32 = 0x4;
/// Bytes of a peer target name field (`TCP_CONNECT`, `SET_PEER_TARGET_NAME`); the name is 1
/// to 127 bytes (NUL-terminated).
pub const PEER_TARGET_NAME_LEN: usize = 128;

/// `DISCONNECT` flag: reset the connection (abortive) instead of a graceful shutdown of the
/// send direction.
pub const DISCONNECT_ABORTIVE: u32 = 1;

/// [`OptionId::Keepalive`] on the wire: `SO_KEEPALIVE` (bool, get and set).
pub const OPT_KEEPALIVE: u32 = 1;
/// [`OptionId::NoDelay`] on the wire: `TCP_NODELAY` (bool, get and set).
pub const OPT_NODELAY: u32 = 2;
/// [`OptionId::RcvBuf`] on the wire: `SO_RCVBUF` (u32, get and set).
pub const OPT_RCVBUF: u32 = 3;
/// [`OptionId::SndBuf`] on the wire: `SO_SNDBUF` (u32, get and set).
pub const OPT_SNDBUF: u32 = 4;
/// [`OptionId::ReuseAddr`] on the wire: `SO_REUSEADDR` (bool, get only: see [`FLAG_REUSEADDR`]).
pub const OPT_REUSEADDR: u32 = 5;
/// [`OptionId::ExclusiveAddrUse`] on the wire: `SO_EXCLUSIVEADDRUSE` (bool, get only: see
/// [`FLAG_EXCLUSIVEADDRUSE`]).
pub const OPT_EXCLUSIVEADDRUSE: u32 = 6;
/// [`OptionId::Ipv6V6Only`] on the wire: `IPV6_V6ONLY` (bool, get only: see [`FLAG_V6ONLY`]).
pub const OPT_IPV6_V6ONLY: u32 = 7;
/// The largest value a set of [`OPT_RCVBUF`] / [`OPT_SNDBUF`] accepts: the options are C
/// `int`s, so anything larger would turn negative.
pub const MAX_OPTION_VALUE: u32 = 0x7FFF_FFFF;

/// [`EndpointInfo::flags`] bit: the endpoint is detached from any handle.
pub const INFO_DETACHED: u32 = 1;
/// [`EndpointInfo::flags`] bit: the endpoint belongs to the handle that asked for the list.
pub const INFO_OWNED_BY_CALLER: u32 = 2;

/// The largest SEND `length` and RECV `max_length` (4 MiB): the most bytes one request locks.
pub const MAX_TRANSFER: u32 = 4 << 20;
/// The largest `SEND_TO` `length` and `RECV_FROM` `max_length`: the largest UDP payload over
/// IPv4.
pub const MAX_DATAGRAM: u32 = 65_507;
/// The largest TRANSACT `length` and `max_reply` (64 KiB): a request/response exchange is
/// for messages, not bulk (SEND and RECV take up to [`MAX_TRANSFER`]).
pub const MAX_TRANSACT: u32 = 64 << 10;
/// The timeout applied when a request's `timeout_ms` is 0.
pub const DEFAULT_TIMEOUT_MS: u32 = 10_000;
/// The most connections a `TCP_LISTEN` request may ask a listener to serve at once
/// (`max_connections`); the driver's own limit, its `MaxConnectionsPerListener` parameter
/// (STATS reports it), is at most this and may be lower.
pub const MAX_CONNECTIONS: u32 = 1 << 20;
/// The `max_connections` applied when a `TCP_LISTEN` request's is 0.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 256;
/// Bytes of an inline SDDL field (`TCP_LISTEN`, `UDP_BIND`, the SECURITY reply).
pub const SDDL_LEN: usize = 256;
/// Bytes of the RESOLVE `name` field; the name itself is at most 255 bytes (NUL-terminated).
pub const RESOLVE_NAME_LEN: usize = 256;
/// Bytes of the RESOLVE `service` field; the service is at most 31 bytes (NUL-terminated).
pub const RESOLVE_SERVICE_LEN: usize = 32;
