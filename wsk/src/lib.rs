//! Safe Rust over Winsock Kernel (WSK), for Windows kernel drivers.
//!
//! `wsk` owns the WSK client registration ([`WskClient`]), sockets by category
//! ([`ListenSocket`], [`ConnectionSocket`]), the IRPs and buffers beneath every operation, and
//! the completion-driven machinery ([`stream`], [`accept`]) that lets a driver serve many
//! connections without a thread each.
//!
//! Every socket category is its own type, so an operation a category lacks does not compile:
//! [`basic::BasicSocket`] (options and I/O controls only), [`ListenSocket`],
//! [`ConnectionSocket`] (also [`ConnectionSocket::connect_with_data`], `WskConnectEx`, and
//! scatter/gather over a [`BufferChain`]), [`DatagramSocket`] (with control information,
//! [`cmsg`]), and stream sockets ([`stream_socket`]) that become a listener or a connection.
//! Event callbacks are in [`events`], name resolution in [`resolve`], security descriptors in
//! [`security`].
//!
//! # Completion model
//! - Blocking calls run at PASSIVE_LEVEL and take a timeout. When it expires the IRP is
//!   cancelled and the call waits for the cancellation to finish before any buffer is freed;
//!   a provider that ignores cancellation (Wine's netio) gets its socket closed, which completes
//!   the IRP. Memory a provider may still write is never freed under it.
//! - Asynchronous tasks complete through handlers, reuse one IRP per task and never recurse
//!   when a provider completes synchronously.
//!
//! # IRQL
//! Every function documents its IRQL. Blocking functions require PASSIVE_LEVEL; handlers run
//! at IRQL <= DISPATCH_LEVEL and must not block.
//!
//! See the crate's README (`wsk/README.md`) for the guide to embedding it in a WDM or KMDF
//! driver.
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

pub mod accept;
mod addr;
pub mod basic;
#[cfg(doctest)]
mod category_checks;
mod chain;
mod client;
pub mod cmsg;
mod connection;
mod datagram;
pub mod datagrams;
mod error;
pub mod events;
pub mod io;
mod irp;
mod listen;
mod memory;
mod options;
pub mod resolve;
pub mod security;
mod shared;
mod socket;
pub mod stream;
pub mod stream_socket;
mod sync;
mod task;
mod time;
pub mod timer;

pub use addr::SockAddr;
pub use chain::{BufferChain, MAX_LINKS};
pub use client::{ProviderCharacteristics, WskClient};
pub use connection::{ConnectionSocket, Disconnect};
pub use datagram::DatagramSocket;
pub use datagram::Received;
pub use error::{nt_result, Error, Result};
pub use listen::ListenSocket;
pub use memory::{PoolBox, PoolBuffer};
pub use options::{SocketOptions, TcpOptions};
pub use resolve::{name_of, AddressInfo, HostName, ServiceName};
pub use shared::Shared;
pub use socket::{BindOptions, CHUNK};
pub use sync::{SpinLock, SpinLockGuard};
pub use time::{sleep, uptime};
pub use wskrs_ntstatus::NtStatus;
