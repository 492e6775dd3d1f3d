//! Sockets by category: [`ListenSocket`] and [`ConnectionSocket`], with blocking operations.
//!
//! Each type exposes only what its WSK category supports, so an operation a category lacks
//! does not compile. Dropping a socket closes it (bounded wait).

use core::net::SocketAddr;
use core::ptr::{self, NonNull};
use core::time::Duration;

use wsk_bindings as sys;

use crate::irp::Blocking;
use crate::{Error, NtStatus, Result, SockAddr, WskClient};

/// Largest chunk one blocking send or receive moves (the size of the socket's own buffer).
pub const CHUNK: usize = 64 * 1024;

/// How long closing a socket may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// A provider socket pointer that is closed at most once.
///
/// # Invariants
/// `socket` is an open WSK socket of the category this value was created for, until
/// `close` ran; after that it is never dereferenced.
pub(crate) struct RawSocket {
    socket: NonNull<sys::WSK_SOCKET>,
    open: bool,
}

// SAFETY: WSK sockets may be used from any thread.
unsafe impl Send for RawSocket {}
// SAFETY: as above; shared access goes through the provider, which serializes.
unsafe impl Sync for RawSocket {}

impl RawSocket {
    pub(crate) fn as_ptr(&self) -> *mut sys::WSK_SOCKET {
        self.socket.as_ptr()
    }

    /// The socket's provider dispatch table, read as category `D`.
    ///
    /// # Safety
    /// `D` is the dispatch type of this socket's category.
    pub(crate) unsafe fn dispatch<D>(&self) -> &D {
        // SAFETY: the socket is open (type invariant), so the provider's object is live.
        let dispatch = unsafe { self.socket.as_ref() }.Dispatch;
        // SAFETY: the caller names the socket's category, whose dispatch table this is; it
        // stays valid while the socket is open.
        unsafe { &*dispatch.cast::<D>() }
    }

    /// A socket the provider just handed over (accepted).
    pub(crate) fn accepted(socket: NonNull<sys::WSK_SOCKET>) -> Self {
        // INVARIANT: the provider returned it open, as a connection socket.
        Self { socket, open: true }
    }

    pub(crate) fn is_open(&self) -> bool {
        self.open
    }

    /// `WskCloseSocket`, waiting at most `CLOSE_TIMEOUT`. Pending requests on the socket
    /// complete (cancelled) before the close does. IRQL: PASSIVE_LEVEL.
    pub(crate) fn close(&mut self) -> Result<()> {
        if !self.open {
            return Ok(());
        }
        let socket = self.socket.as_ptr();
        // SAFETY: every category's dispatch starts with the basic dispatch; the socket was open.
        let close = unsafe { self.dispatch::<sys::WSK_PROVIDER_BASIC_DISPATCH>() }.WskCloseSocket;
        self.open = false;
        let Some(close) = close else { return Err(Error::new(NtStatus::NOT_IMPLEMENTED)) };
        let mut blocking = Blocking::new();
        blocking
            .run(
                0,
                CLOSE_TIMEOUT,
                |_| {},
                // SAFETY: the socket is open and closed exactly once (`open` was true).
                |irp, _| unsafe { close(socket, irp) },
                || {},
            )
            .map(|_| ())
    }
}

/// Creates a socket of `flags` category and returns the provider's socket pointer.
fn create(client: &WskClient, family: u16, flags: u32, timeout: Duration) -> Result<RawSocket> {
    let (npiclient, dispatch) = client.provider();
    let Some(socket_fn) = dispatch.WskSocket else { return Err(Error::new(NtStatus::NOT_IMPLEMENTED)) };
    let mut blocking = Blocking::new();
    let (info, _) = blocking.run(
        0,
        timeout,
        |_| {},
        |irp, _| {
            // SAFETY: the NPI is captured for the client's lifetime; all optional arguments
            // are NULL (no socket context or client dispatch, default owner and security).
            unsafe {
                socket_fn(
                    npiclient,
                    family,
                    sys::SOCK_STREAM_TYPE,
                    sys::IPPROTO_TCP,
                    flags,
                    ptr::null_mut(),
                    ptr::null(),
                    ptr::null_mut(),
                    ptr::null_mut(),
                    ptr::null_mut(),
                    irp,
                )
            }
        },
        || {},
    )?;
    let socket = NonNull::new(info as *mut sys::WSK_SOCKET).ok_or(Error::new(NtStatus::UNSUCCESSFUL))?;
    // INVARIANT: WskSocket succeeded and returned an open socket of category `flags`.
    Ok(RawSocket { socket, open: true })
}

/// `WskBind` through a dispatch's bind function.
fn bind(raw: &RawSocket, bind_fn: sys::PFN_WSK_BIND, local: SocketAddr, timeout: Duration) -> Result<()> {
    let Some(bind_fn) = bind_fn else { return Err(Error::new(NtStatus::NOT_IMPLEMENTED)) };
    let mut address = SockAddr::from(local);
    let socket = raw.as_ptr();
    let mut blocking = Blocking::new();
    blocking
        .run(
            0,
            timeout,
            |_| {},
            // SAFETY: the socket is open; `address` outlives the wait (bind completes before
            // `run` returns, or the socket is closed first).
            |irp, _| unsafe { bind_fn(socket, address.as_mut_ptr(), 0, irp) },
            || {},
        )
        .map(|_| ())
}

/// A listening TCP socket (`WSK_FLAG_LISTEN_SOCKET`).
pub struct ListenSocket {
    raw: RawSocket,
    blocking: Blocking,
    local: SocketAddr,
    client: WskClient,
}

impl ListenSocket {
    /// Creates a listening socket bound to `local` (Wine's and Windows' providers start
    /// listening on bind). IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// The status of `WskSocket` or `WskBind` (e.g. `STATUS_ADDRESS_ALREADY_ASSOCIATED`), or
    /// `STATUS_IO_TIMEOUT`.
    pub fn bind(client: &WskClient, local: SocketAddr, timeout: Duration) -> Result<Self> {
        let mut raw = create(client, SockAddr::socket_family(&local), sys::WSK_FLAG_LISTEN_SOCKET, timeout)?;
        // SAFETY: `raw` is a listen socket.
        let bind_fn = unsafe { raw.dispatch::<sys::WSK_PROVIDER_LISTEN_DISPATCH>() }.WskBind;
        if let Err(e) = bind(&raw, bind_fn, local, timeout) {
            let _ = raw.close();
            return Err(e);
        }
        Ok(Self { raw, blocking: Blocking::new(), local, client: client.clone() })
    }

    /// The address this socket was bound to.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Waits up to `timeout` for a connection (`WskAccept`). IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// `STATUS_IO_TIMEOUT`, or the provider's status.
    pub fn accept(&mut self, timeout: Duration) -> Result<(ConnectionSocket, Option<SocketAddr>)> {
        let client = self.client.clone();
        let (socket, remote) = accept_on(&self.raw, &mut self.blocking, timeout)?;
        Ok((ConnectionSocket::from_raw(socket, client), remote))
    }

    pub(crate) fn into_parts(self) -> (RawSocket, WskClient) {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again, so each field is moved out once.
        let raw = unsafe { ptr::read(&raw const this.raw) };
        // SAFETY: as above.
        let client = unsafe { ptr::read(&raw const this.client) };
        // SAFETY: as above; no request is pending on the blocking slot.
        drop(unsafe { ptr::read(&raw const this.blocking) });
        (raw, client)
    }

    /// Closes the socket; pending accepts complete as cancelled. IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// The status of `WskCloseSocket`; the socket is released either way.
    pub fn close(mut self) -> Result<()> {
        self.raw.close()
    }
}

impl Drop for ListenSocket {
    fn drop(&mut self) {
        let _ = self.raw.close();
    }
}

/// `WskAccept` on a listen socket, blocking.
fn accept_on(raw: &RawSocket, blocking: &mut Blocking, timeout: Duration) -> Result<(RawSocket, Option<SocketAddr>)> {
    // SAFETY: `raw` is a listen socket.
    let accept_fn = unsafe { raw.dispatch::<sys::WSK_PROVIDER_LISTEN_DISPATCH>() }.WskAccept;
    let Some(accept_fn) = accept_fn else { return Err(Error::new(NtStatus::NOT_IMPLEMENTED)) };
    let socket = raw.as_ptr();
    let mut local = SockAddr::empty();
    let mut remote = SockAddr::empty();
    let (info, _) = blocking.run(
        0,
        timeout,
        |_| {},
        // SAFETY: the socket is open; the address buffers outlive the request (it completes
        // or is cancelled before `run` returns, or `run` abandons it only after the close).
        |irp, _| unsafe {
            accept_fn(socket, 0, ptr::null_mut(), ptr::null(), local.as_mut_ptr(), remote.as_mut_ptr(), irp)
        },
        || {},
    )?;
    let accepted = NonNull::new(info as *mut sys::WSK_SOCKET).ok_or(Error::new(NtStatus::UNSUCCESSFUL))?;
    // INVARIANT: WskAccept returned an open connection socket.
    Ok((RawSocket { socket: accepted, open: true }, remote.to_socket_addr()))
}

/// A connected TCP socket (`WSK_FLAG_CONNECTION_SOCKET`).
pub struct ConnectionSocket {
    raw: RawSocket,
    blocking: Blocking,
    client: WskClient,
}

impl ConnectionSocket {
    pub(crate) fn from_raw(raw: RawSocket, client: WskClient) -> Self {
        Self { raw, blocking: Blocking::new(), client }
    }

    pub(crate) fn into_parts(self) -> (RawSocket, WskClient) {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again, so each field is moved out once.
        let raw = unsafe { ptr::read(&raw const this.raw) };
        // SAFETY: as above.
        let client = unsafe { ptr::read(&raw const this.client) };
        // SAFETY: as above; the blocking slot is dropped here (no request is pending on it).
        drop(unsafe { ptr::read(&raw const this.blocking) });
        (raw, client)
    }

    /// Connects to `remote` from `local` (or the unspecified address of the same family, port
    /// 0): `WskSocket` + `WskBind` + `WskConnect`. IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// `STATUS_CONNECTION_REFUSED`, `STATUS_IO_TIMEOUT`, or another provider status.
    pub fn connect(client: &WskClient, remote: SocketAddr, local: Option<SocketAddr>, timeout: Duration) -> Result<Self> {
        let family = SockAddr::socket_family(&remote);
        let mut raw = create(client, family, sys::WSK_FLAG_CONNECTION_SOCKET, timeout)?;
        let result = Self::bind_and_connect(&mut raw, remote, local, timeout);
        if let Err(e) = result {
            let _ = raw.close();
            return Err(e);
        }
        Ok(Self::from_raw(raw, client.clone()))
    }

    fn bind_and_connect(raw: &mut RawSocket, remote: SocketAddr, local: Option<SocketAddr>, timeout: Duration) -> Result<()> {
        // SAFETY: `raw` is a connection socket.
        let dispatch = unsafe { raw.dispatch::<sys::WSK_PROVIDER_CONNECTION_DISPATCH>() };
        let (bind_fn, connect_fn) = (dispatch.WskBind, dispatch.WskConnect);
        let local = local.unwrap_or_else(|| SockAddr::unspecified_like(&remote).to_socket_addr().unwrap_or(remote));
        bind(raw, bind_fn, local, timeout)?;
        let Some(connect_fn) = connect_fn else { return Err(Error::new(NtStatus::NOT_IMPLEMENTED)) };
        let mut address = SockAddr::from(remote);
        let socket = raw.as_ptr();
        let mut blocking = Blocking::new();
        blocking
            .run(
                0,
                timeout,
                |_| {},
                // SAFETY: the socket is open and bound; `address` outlives the request.
                |irp, _| unsafe { connect_fn(socket, address.as_mut_ptr(), 0, irp) },
                || {
                    let _ = raw.close();
                },
            )
            .map(|_| ())
    }

    /// Sends up to [`CHUNK`] bytes of `data` (`WskSend`); returns how many were sent.
    /// IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// `STATUS_IO_TIMEOUT` (the connection is then closed if the provider could not cancel),
    /// or the provider's status (`STATUS_CONNECTION_RESET`, ...).
    pub fn send(&mut self, data: &[u8], timeout: Duration) -> Result<usize> {
        let len = data.len().min(CHUNK);
        let chunk = data.get(..len).unwrap_or_default();
        let send_fn = self.connection_dispatch()?.WskSend;
        let Some(send_fn) = send_fn else { return Err(Error::new(NtStatus::NOT_IMPLEMENTED)) };
        let socket = self.raw.as_ptr();
        let raw = &mut self.raw;
        let (sent, _) = self.blocking.run(
            CHUNK,
            timeout,
            |buffer| {
                if let Some(dst) = buffer.get_mut(..len) {
                    dst.copy_from_slice(chunk);
                }
            },
            |irp, buffer| {
                let Some(mut wsk_buf) = buffer.and_then(|b| b.wsk_buf(0, len)) else {
                    return NtStatus::INSUFFICIENT_RESOURCES.0;
                };
                // SAFETY: the socket is open; `wsk_buf` describes our pool buffer, which lives
                // until the request completes.
                unsafe { send_fn(socket, &raw mut wsk_buf, 0, irp) }
            },
            || {
                let _ = raw.close();
            },
        )?;
        Ok(sent.min(len))
    }

    /// Sends all of `data`, each chunk within `timeout`. IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// As [`ConnectionSocket::send`]; bytes sent before the error are not reported.
    pub fn send_all(&mut self, mut data: &[u8], timeout: Duration) -> Result<()> {
        while !data.is_empty() {
            let n = self.send(data, timeout)?;
            if n == 0 {
                return Err(Error::new(NtStatus::CONNECTION_ABORTED));
            }
            data = data.get(n..).unwrap_or_default();
        }
        Ok(())
    }

    /// Receives up to `out.len()` (at most [`CHUNK`]) bytes (`WskReceive`); 0 means the peer
    /// closed its side. IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// `STATUS_IO_TIMEOUT` when nothing arrived in time (the connection is then closed if the
    /// provider could not cancel), or the provider's status.
    pub fn receive(&mut self, out: &mut [u8], timeout: Duration) -> Result<usize> {
        let len = out.len().min(CHUNK);
        let receive_fn = self.connection_dispatch()?.WskReceive;
        let Some(receive_fn) = receive_fn else { return Err(Error::new(NtStatus::NOT_IMPLEMENTED)) };
        let socket = self.raw.as_ptr();
        let raw = &mut self.raw;
        let (received, data) = self.blocking.run(
            CHUNK,
            timeout,
            |_| {},
            |irp, buffer| {
                let Some(mut wsk_buf) = buffer.and_then(|b| b.wsk_buf(0, len)) else {
                    return NtStatus::INSUFFICIENT_RESOURCES.0;
                };
                // SAFETY: the socket is open; `wsk_buf` describes our pool buffer, which lives
                // until the request completes.
                unsafe { receive_fn(socket, &raw mut wsk_buf, 0, irp) }
            },
            || {
                let _ = raw.close();
            },
        )?;
        let n = received.min(len);
        if let (Some(dst), Some(src)) = (out.get_mut(..n), data.get(..n)) {
            dst.copy_from_slice(src);
        }
        Ok(n)
    }

    fn connection_dispatch(&self) -> Result<&sys::WSK_PROVIDER_CONNECTION_DISPATCH> {
        if !self.raw.is_open() {
            return Err(Error::new(NtStatus::CONNECTION_ABORTED));
        }
        // SAFETY: `raw` is an open connection socket.
        Ok(unsafe { self.raw.dispatch::<sys::WSK_PROVIDER_CONNECTION_DISPATCH>() })
    }

    /// Whether the socket is still open (a timed-out request that the provider could not
    /// cancel closes it).
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.raw.is_open()
    }

    /// Closes the connection on a worker thread. IRQL <= DISPATCH_LEVEL (where dropping,
    /// which closes and waits, is not allowed).
    pub fn close_later(self) {
        let client = self.client.clone();
        if let Err(this) = client.defer(self, drop) {
            // No memory for a work item: keep the socket open rather than block here.
            core::mem::forget(this);
        }
    }

    /// Closes the connection (abortively if data is unsent). IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// The status of `WskCloseSocket`; the socket is released either way.
    pub fn close(mut self) -> Result<()> {
        self.raw.close()
    }
}

impl Drop for ConnectionSocket {
    fn drop(&mut self) {
        let _ = self.raw.close();
    }
}

