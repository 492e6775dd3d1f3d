//! The wsk-rs IOCTL ABI (version 1): the one definition of the requests and replies that
//! pass between the driver and its user-mode clients.
//!
//! - [`wire`]: the `#[repr(C)]` message layouts, byte for byte.
//! - [`parse_request`]: the driver's validation of an input buffer into a [`Request`].
//! - `write_*` and [`ListWriter`]: the driver's reply writers.
//! - `encode_*` and `parse_*_reply`: the client's side of the same messages.
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
mod reply;
mod request;
mod types;
pub mod wire;

pub use client::{
    encode_close, encode_info, encode_list, encode_recv, encode_send, encode_send_header,
    encode_tcp_connect, encode_tcp_listen, parse_close_reply, parse_endpoint_reply,
    parse_info_reply, parse_list_reply, parse_recv_reply, parse_send_reply, DriverInfo,
    EndpointList, EndpointStatus, OpenedEndpoint, Received,
};
pub use codes::{
    ctl_code, IoctlCode, DEVICE_TYPE, FILE_ANY_ACCESS, FILE_READ_DATA, FILE_WRITE_DATA,
    METHOD_BUFFERED,
};
pub use error::ProtocolError;
pub use reply::{
    min_output_len, recv_data_area, write_close, write_endpoint, write_info, write_recv,
    write_send, ListWriter,
};
pub use request::{parse_request, Recv, Request, Send, TcpConnect, TcpListen};
pub use types::{EndpointId, EndpointKind, EndpointState, Service};
pub use wire::{
    CloseReply, CloseRequest, EndpointInfo, EndpointReply, Header, InfoReply, InfoRequest,
    ListReply, ListRequest, RecvReply, RecvRequest, SendReply, SendRequest, TcpConnectRequest,
    TcpListenRequest, WireAddr,
};
pub use wskrs_ntstatus::NtStatus;

/// The kernel name of the driver's device object.
pub const DEVICE_NAME: &str = "\\Device\\WskRs";
/// The symbolic link the driver creates so user mode can open the device.
pub const DOS_DEVICE_NAME: &str = "\\DosDevices\\WskRs";
/// The path user mode passes to `CreateFileW`.
pub const USER_DEVICE_PATH: &str = "\\\\.\\WskRs";
/// The service (driver) name under which the driver is installed.
pub const SERVICE_NAME: &str = "WskRs";
/// The version of this ABI; every request and reply carries it in its [`Header`].
///
/// Any change to a code, a layout or a meaning bumps it.
pub const ABI_VERSION: u32 = 1;

/// [`EndpointKind::TcpConnection`] on the wire.
pub const KIND_TCP_CONNECTION: u32 = 1;
/// [`EndpointKind::TcpListener`] on the wire.
pub const KIND_TCP_LISTENER: u32 = 2;

/// [`EndpointState::Connected`] on the wire.
pub const STATE_CONNECTED: u32 = 1;
/// [`EndpointState::Listening`] on the wire.
pub const STATE_LISTENING: u32 = 2;
/// [`EndpointState::PeerClosed`] on the wire.
pub const STATE_PEER_CLOSED: u32 = 3;
/// [`EndpointState::Broken`] on the wire.
pub const STATE_BROKEN: u32 = 4;

/// [`Service::None`] on the wire: a listener that accepts and serves nothing.
pub const SERVICE_NONE: u32 = 0;
/// [`Service::Echo`] on the wire: every accepted connection echoes what it receives.
pub const SERVICE_ECHO: u32 = 1;

/// Request flag (`TCP_CONNECT`, `TCP_LISTEN`): the endpoint outlives the handle that created it.
pub const FLAG_DETACH: u32 = 1;

/// [`EndpointInfo::flags`] bit: the endpoint is detached from any handle.
pub const INFO_DETACHED: u32 = 1;
/// [`EndpointInfo::flags`] bit: the endpoint belongs to the handle that asked for the list.
pub const INFO_OWNED_BY_CALLER: u32 = 2;

/// [`RecvReply::flags`] bit: the peer closed its side (set with length 0).
pub const RECV_EOF: u32 = 1;

/// The largest SEND `length` and RECV `max_length` (4 MiB).
pub const MAX_TRANSFER: u32 = 4 << 20;
/// The timeout applied when a request's `timeout_ms` is 0.
pub const DEFAULT_TIMEOUT_MS: u32 = 10_000;
