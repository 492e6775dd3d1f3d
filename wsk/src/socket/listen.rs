//! [`ListenSocket`]: a TCP listening socket (`WSK_FLAG_LISTEN_SOCKET`).

use core::net::SocketAddr;
use core::ptr::{self, NonNull};
use core::time::Duration;

use wsk_bindings as sys;

use crate::socket::{BindOptions, Category, RawSocket, SocketCore};
use crate::{ConnectionSocket, Error, NtStatus, Result, SockAddr, WskClient};

/// A listening TCP socket (`WSK_FLAG_LISTEN_SOCKET`): it listens once bound, and each
/// [`ListenSocket::accept`] gives a [`ConnectionSocket`]. To accept without a thread, start a
/// [`crate::task::ListenTask`] on it; for accept callbacks, bind a
/// [`crate::events::ListenEventSocket`] instead. Dropping it closes it (PASSIVE_LEVEL).
///
/// ```
/// # use wskrs_fake_kernel as fake; // on the host: the fake kernel and WSK provider
/// # let _kernel = fake::Kernel::start();
/// # let timeout = core::time::Duration::from_secs(5);
/// # // SAFETY: the fake kernel's device object lives for the whole process.
/// # let client = unsafe { wsk::WskClient::register(fake::device(), timeout) }?;
/// use wsk::{ConnectionSocket, ListenSocket};
///
/// let mut listener = ListenSocket::bind(&client, "127.0.0.1:0".parse().unwrap(), timeout)?;
/// let server = listener.local_addr()?; // the port the provider chose
/// let mut near = ConnectionSocket::connect(&client, server, None, timeout)?;
/// let (far, from) = listener.accept(timeout)?;
/// assert_eq!(from, Some(near.local_addr()?));
/// # drop((near, far, listener));
/// # assert!(client.shutdown(timeout));
/// # Ok::<(), wsk::Error>(())
/// ```
pub struct ListenSocket {
    pub(crate) core: SocketCore,
    pub(crate) local: SocketAddr,
}

impl ListenSocket {
    /// Creates a listening socket bound to `local` (the provider starts listening on bind).
    /// IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// The status of `WskSocket` or `WskBind` (e.g. `STATUS_ADDRESS_ALREADY_ASSOCIATED`), or
    /// `STATUS_IO_TIMEOUT`.
    pub fn bind(client: &WskClient, local: SocketAddr, timeout: Duration) -> Result<Self> {
        Self::bind_with(client, local, BindOptions::default(), timeout)
    }

    /// Like [`ListenSocket::bind`], with options applied before binding (use
    /// `ipv6_only: Some(false)` on `[::]` for a dual-stack listener).
    ///
    /// # Errors
    /// As [`ListenSocket::bind`], or the status of setting an option.
    pub fn bind_with(
        client: &WskClient,
        local: SocketAddr,
        options: BindOptions<'_>,
        timeout: Duration,
    ) -> Result<Self> {
        let core = SocketCore::bind(client, local, Category::Listen, options, timeout)?;
        Ok(Self { core, local })
    }

    /// The address this socket was bound to, as requested (see [`ListenSocket::local_addr`]
    /// for the provider's answer, e.g. the port chosen for port 0).
    #[must_use]
    pub fn bound_addr(&self) -> SocketAddr {
        self.local
    }

    /// The local address (`WskGetLocalAddress`). IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// The provider's status (`STATUS_NOT_IMPLEMENTED` from Wine's built-in netio).
    pub fn local_addr(&mut self) -> Result<SocketAddr> {
        // SAFETY: `raw` is a listen socket.
        let f = unsafe {
            self.core
                .raw
                .dispatch::<sys::WSK_PROVIDER_LISTEN_DISPATCH>()
        }
        .WskGetLocalAddress;
        self.core.address(f)
    }

    /// Waits up to `timeout` for a connection (`WskAccept`); returns it with the remote
    /// address. IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// `STATUS_IO_TIMEOUT`, or the provider's status.
    pub fn accept(&mut self, timeout: Duration) -> Result<(ConnectionSocket, Option<SocketAddr>)> {
        // SAFETY: `raw` is a listen socket.
        let accept_fn = unsafe {
            self.core
                .raw
                .dispatch::<sys::WSK_PROVIDER_LISTEN_DISPATCH>()
        }
        .WskAccept;
        accept_on(&mut self.core, accept_fn, timeout)
    }

    pub(crate) fn into_parts(self) -> (RawSocket, WskClient) {
        self.core.into_parts()
    }

    /// Closes the socket; pending accepts complete as cancelled. IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// The status of `WskCloseSocket`; the socket is released either way.
    pub fn close(self) -> Result<()> {
        let (mut raw, _client) = self.core.into_parts();
        raw.close()
    }
}

/// `WskAccept` through `accept_fn` (a listen socket's or a stream socket's); the accepted
/// socket is a connection socket. IRQL: PASSIVE_LEVEL.
pub(crate) fn accept_on(
    core: &mut SocketCore,
    accept_fn: sys::PFN_WSK_ACCEPT,
    timeout: Duration,
) -> Result<(ConnectionSocket, Option<SocketAddr>)> {
    let Some(accept_fn) = accept_fn else {
        return Err(Error::new(NtStatus::NOT_IMPLEMENTED));
    };
    let socket = core.raw.as_ptr();
    let (info, memory) = core
        .blocking
        .request(timeout)
        .fill(|m| {
            m.local = SockAddr::empty();
            m.remote = SockAddr::empty();
        })
        .close_if_stuck(&mut core.raw)
        .start(|irp, m| {
            // SAFETY: the socket is open; the address storage lives in the request's memory.
            unsafe {
                accept_fn(
                    socket,
                    0,
                    ptr::null_mut(),
                    ptr::null(),
                    m.local.as_mut_ptr(),
                    m.remote.as_mut_ptr(),
                    irp,
                )
            }
        })?;
    let remote = memory.remote.to_socket_addr();
    let accepted =
        NonNull::new(info as *mut sys::WSK_SOCKET).ok_or(Error::new(NtStatus::UNSUCCESSFUL))?;
    Ok((
        ConnectionSocket::from_raw(RawSocket::accepted(accepted), core.client.clone()),
        remote,
    ))
}
