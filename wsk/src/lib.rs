//! Safe Rust over Winsock Kernel (WSK), for Windows kernel drivers.
//!
//! ```
//! # use wskrs_fake_kernel as fake; // on the host, a fake kernel and WSK provider
//! # let _kernel = fake::Kernel::start();
//! # let device = fake::device(); // in a driver: its DEVICE_OBJECT
//! use core::time::Duration;
//! use wsk::{ConnectionSocket, ListenSocket, WskClient};
//!
//! let timeout = Duration::from_secs(5);
//! // SAFETY: the device object outlives the client and its sockets.
//! let client = unsafe { WskClient::register(device, timeout) }?;
//! let mut listener = ListenSocket::bind(&client, "127.0.0.1:0".parse().unwrap(), timeout)?;
//! let server = listener.local_addr()?;
//! let mut connection = ConnectionSocket::connect(&client, server, None, timeout)?;
//! let (mut accepted, _from) = listener.accept(timeout)?;
//! connection.send_all(b"hello", timeout)?;
//! let mut reply = [0u8; 16];
//! let n = accepted.receive(&mut reply, timeout)?;
//! assert_eq!(&reply[..n], b"hello");
//! drop((connection, accepted, listener));
//! assert!(client.shutdown(timeout));
//! # Ok::<(), wsk::Error>(())
//! ```
//!
//! `wsk` is organised by two axes, each named once.
//!
//! **Socket categories** (crate root; `src/socket/`): each category is its own type, so an
//! operation a category lacks does not compile. Their methods are the blocking calls
//! (PASSIVE_LEVEL, each with a timeout).
//! - [`BasicSocket`]: options and I/O controls only (`WSK_FLAG_BASIC_SOCKET`).
//! - [`ListenSocket`]: TCP listener; [`ListenSocket::accept`] gives [`ConnectionSocket`]s.
//! - [`ConnectionSocket`]: TCP connection (also `WskConnectEx` and scatter/gather over a
//!   [`BufferChain`]).
//! - [`DatagramSocket`]: UDP (with control information, [`cmsg`]).
//! - [`StreamSocket`]: one socket that becomes a [`StreamListenSocket`] or a
//!   [`StreamConnectionSocket`] after bind (`WSK_FLAG_STREAM_SOCKET`).
//!
//! **Completion styles**, by category:
//! - blocking calls: the methods of the socket types above;
//! - completion-driven tasks ([`task`]): [`task::ListenTask`], [`task::ConnectionTask`],
//!   [`task::DatagramTask`], each run by a handler ([`task::ListenHandler`],
//!   [`task::ConnectionHandler`], [`task::DatagramHandler`]), started with `start` and
//!   stopped with `stop`; no thread per socket; a listen handler gets each connection as an
//!   [`AcceptedConnection`], which has no blocking calls;
//! - event callbacks ([`events`]): [`events::ListenEventSocket`],
//!   [`events::ConnectionEventSocket`], [`events::DatagramEventSocket`], each calling an
//!   events trait ([`events::ListenEvents`], [`events::ConnectionEvents`],
//!   [`events::DatagramEvents`]);
//! - direct I/O into a caller's locked pages ([`io`]): [`io::IoSlot`] over [`io::MdlBuffer`]s.
//!
//! Around them: the registration ([`WskClient`]), options ([`SocketOptions`],
//! [`TcpOptions`], [`BindOptions`]), name resolution ([`resolve`]), security descriptors
//! ([`security`]), pool memory ([`PoolBox`], [`PoolSlice`], [`PoolBuffer`], [`PoolArc`]), [`SpinLock`] and
//! [`timer`]; what the crate holds now, for leak checks ([`held`]).
//!
//! # Completion model
//! - Blocking calls run at PASSIVE_LEVEL and take a timeout. When it expires the IRP is
//!   cancelled and the call waits for the cancellation to finish before any buffer is freed;
//!   a provider that ignores cancellation (Wine's netio) gets its socket closed, which completes
//!   the IRP. Memory a provider may still write is never freed under it. What a timeout
//!   costs: under a provider that honours cancellation, about the timeout, and the socket
//!   stays usable ([`Error::TIMEOUT`]); under one that ignores it, the timeout plus a one-second
//!   grace period, after which the socket is closed and the error says so
//!   ([`Error::TIMEOUT_SOCKET_CLOSED`], [`Error::socket_closed`]): a 1 s receive timeout under
//!   Wine's netio.sys returns after about 2 s, and the connection is gone.
//! - Tasks complete through handlers, reuse one IRP per task and never recurse when a
//!   provider completes synchronously.
//!
//! # IRQL
//! Every function documents its IRQL. Blocking functions require PASSIVE_LEVEL; handlers and
//! event callbacks run at IRQL <= DISPATCH_LEVEL and must not block.
//!
//! See the crate's README (`wsk/README.md`) for the guide to embedding it in a WDM or KMDF
//! driver. Around the sockets, a driver finds the NT items it needs in [`nt`], the control
//! device, dispatch table, panic handler and a `static` home for the client in [`driver`],
//! and logging to the debugger without allocation in [`mod@log`] ([`info!`], [`error!`], ...).
//!
//! # Teardown
//! Sockets hold a reference to their [`WskClient`]; the registration is released only after
//! the last socket is closed. [`WskClient::shutdown`] waits (bounded) for that.
#![no_std]
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

/// A NUL-free ASCII string constant as a `&'static [u16; N]`, built at compile time (device
/// and link names for `UNICODE_STRING`s, which need no terminating NUL).
///
/// ```
/// static NAME: &[u16] = wsk::utf16!("\\Device\\WskRs");
/// assert_eq!(NAME.len(), 13);
/// ```
#[macro_export]
macro_rules! utf16 {
    ($s:expr) => {{
        const S: &str = $s;
        const N: usize = S.len();
        // Evaluated at compile time: an out-of-range index fails the build, it cannot panic.
        #[allow(clippy::indexing_slicing)]
        const W: [u16; N] = {
            let bytes = S.as_bytes();
            let mut w = [0u16; N];
            let mut i = 0;
            while i < N {
                w[i] = bytes[i] as u16;
                i += 1;
            }
            w
        };
        &W
    }};
}

mod addr;
#[cfg(doctest)]
mod category_checks;
/// The README's Rust snippets, run as doctests (its build recipe and smallest driver are
/// `examples/wdm-echo-client`'s files, checked by xtask and built by `cargo xtask test`).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
mod chain;
mod client;
pub mod driver;
/// The categories a [`ConnectedSocket`] belongs to: type parameters, nothing to construct.
pub mod category {
    pub use crate::socket::connected::{Connected, Connection, Stream};
}
pub mod cmsg;
mod error;
pub mod events;
mod exact;
pub mod held;
pub mod io;
mod irp;
pub mod log;
mod memory;
pub mod nt;
mod options;
mod pool_arc;
pub mod resolve;
pub mod secure;
pub mod security;
mod socket;
mod sync;
pub mod task;
mod time;
pub mod timer;

pub use addr::SockAddr;
pub use chain::BufferChain;
pub use client::{ProviderCharacteristics, WskClient};
pub use error::{nt_result, Error, Result};
pub use held::Held;
pub use memory::{PoolBox, PoolBuffer, PoolSlice};
pub use options::{SocketOptions, TcpOptions};
pub use pool_arc::PoolArc;
pub use resolve::{name_of, AddressInfo, HostName, ServiceName};
pub use socket::basic::{BasicSocket, Transport};
pub use socket::connected::{ConnectedSocket, Disconnect};
pub use socket::connection::{AcceptedConnection, ConnectionSocket};
pub use socket::datagram::{DatagramSocket, Received};
pub use socket::listen::ListenSocket;
pub use socket::stream::{StreamConnectionSocket, StreamListenSocket, StreamSocket};
pub use socket::{BindOptions, SocketOwner};
pub use sync::{PoolEvent, SpinLock, SpinLockGuard};
pub use time::{sleep, uptime};
pub use wskrs_ntstatus::NtStatus;
