//! What the project's two WSK providers model alike, defined once: the Wine provider
//! (`tests/wsk-provider`, WSK over Winsock) and the host fake's scriptable provider
//! (`tests/fake-kernel`).
//!
//! - [`sockaddr`]: `SOCKADDR_IN` / `SOCKADDR_IN6` in client memory and [`std::net::SocketAddr`].
//! - [`options`]: the socket-option catalogue (value kind, default, which sockets, the status
//!   a bad request gets), the `IPPROTO_TCP` options Wine's Winsock refuses that the providers
//!   answer themselves ([`options::TcpOptions`]), and a per-socket store of option values for
//!   a provider with no transport beneath it ([`options::OptionStore`]).
//!
//! - [`dispatch`]: the parameter lists of the WSK routines both providers implement alike,
//!   written once as generic routines that hand a call struct to the provider.
//! - [`security`]: cached security descriptors (`WSK_CACHE_SD`, `WSK_RELEASE_SD`,
//!   `SO_WSK_SECURITY`) and the client control codes that manage them.
//! - [`irp`]: `Irp->CancelRoutine` swapped as `IoSetCancelRoutine` does.
//! - [`secure`]: Winsock's secure socket extensions (`SIO_SET_SECURITY` and the rest) as a
//!   provider without IPsec answers them.
//! - [`sharing`]: which second bind to an address in use succeeds (the WSK documentation's
//!   `SO_REUSEADDR` / `SO_EXCLUSIVEADDRUSE` table) and the addresses a provider has bound.
//!
//! It builds for the host (the fake) and for `x86_64-pc-windows-gnu` (the Wine provider), on
//! `std`, with every WSK type from `wsk-bindings`.

pub mod dispatch;
pub mod irp;
pub mod options;
pub mod secure;
pub mod security;
pub mod sharing;
pub mod sockaddr;
