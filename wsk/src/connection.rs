//! [`ConnectionSocket`]: a connected TCP socket (`WSK_FLAG_CONNECTION_SOCKET`).

use core::net::SocketAddr;
use core::ptr;
use core::time::Duration;

use wsk_bindings as sys;

use crate::irp::Blocking;
use crate::socket::{self, BindOptions, Category, RawSocket, SocketCore, CHUNK};
use crate::{Error, NtStatus, Result, SockAddr, WskClient};

/// A connected TCP socket.
pub struct ConnectionSocket {
    pub(crate) core: SocketCore,
}

/// How a connection ends ([`ConnectionSocket::disconnect`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disconnect<'a> {
    /// Send this final data (may be empty), then FIN; received data can still be read.
    Graceful(&'a [u8]),
    /// Reset the connection at once (`WSK_FLAG_ABORTIVE`); unsent data is dropped.
    Abortive,
}

impl ConnectionSocket {
    pub(crate) fn from_raw(raw: RawSocket, client: WskClient) -> Self {
        Self { core: SocketCore { raw, blocking: Blocking::new(), client } }
    }

    pub(crate) fn into_parts(self) -> (RawSocket, WskClient) {
        self.core.into_parts()
    }

    /// Connects to `remote` from `local` (or the unspecified address of the same family, port
    /// 0): `WskSocket` + `WskBind` + `WskConnect`. IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// `STATUS_CONNECTION_REFUSED`, `STATUS_IO_TIMEOUT`, or another provider status.
    pub fn connect(client: &WskClient, remote: SocketAddr, local: Option<SocketAddr>, timeout: Duration) -> Result<Self> {
        Self::connect_with(client, remote, local, BindOptions::default(), timeout)
    }

    /// Creates, binds and connects in one request (`WskSocketConnect`). IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// `STATUS_NOT_IMPLEMENTED` from a provider without it (Wine's netio); otherwise as
    /// [`ConnectionSocket::connect`].
    pub fn socket_connect(client: &WskClient, remote: SocketAddr, local: Option<SocketAddr>, timeout: Duration) -> Result<Self> {
        let (npi_client, dispatch) = client.provider();
        let Some(socket_connect_fn) = dispatch.WskSocketConnect else { return Err(Error::new(NtStatus::NOT_IMPLEMENTED)) };
        let local = local.or_else(|| SockAddr::unspecified_like(&remote).to_socket_addr()).unwrap_or(remote);
        let mut blocking = Blocking::new();
        let (info, _) = blocking.run(
            0,
            timeout,
            |m| m.addresses = [SockAddr::from(local), SockAddr::from(remote)],
            |irp, m| {
                let [local, remote] = &mut m.addresses;
                // SAFETY: the NPI is captured for the client's lifetime; both addresses live in
                // the request's memory; no context, client dispatch, owner or descriptor.
                unsafe {
                    socket_connect_fn(
                        npi_client,
                        sys::SOCK_STREAM_TYPE,
                        sys::IPPROTO_TCP,
                        local.as_mut_ptr(),
                        remote.as_mut_ptr(),
                        0,
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
        let socket = core::ptr::NonNull::new(info as *mut sys::WSK_SOCKET).ok_or(Error::new(NtStatus::UNSUCCESSFUL))?;
        Ok(Self::from_raw(RawSocket::accepted(socket), client.clone()))
    }

    /// Like [`ConnectionSocket::connect`], with options applied before binding. Without
    /// options it uses `WskSocketConnect` (one request) where the provider has it.
    ///
    /// # Errors
    /// As [`ConnectionSocket::connect`], or the status of setting an option.
    pub fn connect_with(
        client: &WskClient,
        remote: SocketAddr,
        local: Option<SocketAddr>,
        options: BindOptions<'_>,
        timeout: Duration,
    ) -> Result<Self> {
        let plain = !options.reuse_address && !options.exclusive_address && options.ipv6_only.is_none() && options.security.is_none();
        if plain {
            match Self::socket_connect(client, remote, local, timeout) {
                Err(e) if e.status() == NtStatus::NOT_IMPLEMENTED => {}
                result => return result,
            }
        }
        let family = SockAddr::socket_family(&remote);
        let (raw, blocking) = socket::create(client, family, Category::Connection, options, timeout)?;
        Self::connect_created(raw, blocking, client, remote, local, timeout)
    }

    /// Binds and connects a connection socket just created; closes it on failure.
    pub(crate) fn connect_created(
        mut raw: RawSocket,
        mut blocking: Blocking,
        client: &WskClient,
        remote: SocketAddr,
        local: Option<SocketAddr>,
        timeout: Duration,
    ) -> Result<Self> {
        if let Err(e) = Self::bind_and_connect(&mut raw, &mut blocking, remote, local, timeout) {
            let _ = raw.close();
            return Err(e);
        }
        Ok(Self { core: SocketCore { raw, blocking, client: client.clone() } })
    }

    pub(crate) fn raw(&self) -> &RawSocket {
        &self.core.raw
    }

    fn bind_and_connect(
        raw: &mut RawSocket,
        blocking: &mut Blocking,
        remote: SocketAddr,
        local: Option<SocketAddr>,
        timeout: Duration,
    ) -> Result<()> {
        // SAFETY: `raw` is a connection socket.
        let dispatch = unsafe { raw.dispatch::<sys::WSK_PROVIDER_CONNECTION_DISPATCH>() };
        let (bind_fn, connect_fn) = (dispatch.WskBind, dispatch.WskConnect);
        let local = local.or_else(|| SockAddr::unspecified_like(&remote).to_socket_addr()).unwrap_or(remote);
        socket::bind(raw, blocking, bind_fn, local, timeout)?;
        let Some(connect_fn) = connect_fn else { return Err(Error::new(NtStatus::NOT_IMPLEMENTED)) };
        let socket = raw.as_ptr();
        blocking
            .run(
                0,
                timeout,
                |m| m.addresses[1] = SockAddr::from(remote),
                // SAFETY: the socket is open and bound; the address lives in the request's memory.
                |irp, m| unsafe { connect_fn(socket, m.addresses[1].as_mut_ptr(), 0, irp) },
                || {
                    let _ = raw.close();
                },
            )
            .map(|_| ())
    }

    fn dispatch(&self) -> Result<&sys::WSK_PROVIDER_CONNECTION_DISPATCH> {
        if !self.core.raw.is_open() {
            return Err(Error::new(NtStatus::CONNECTION_ABORTED));
        }
        // SAFETY: `raw` is an open connection socket.
        Ok(unsafe { self.core.raw.dispatch::<sys::WSK_PROVIDER_CONNECTION_DISPATCH>() })
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
        let Some(send_fn) = self.dispatch()?.WskSend else { return Err(Error::new(NtStatus::NOT_IMPLEMENTED)) };
        let socket = self.core.raw.as_ptr();
        let raw = &mut self.core.raw;
        let (sent, _) = self.core.blocking.run(
            CHUNK,
            timeout,
            |m| {
                if let Some(dst) = m.buffer.as_mut().and_then(|b| b.as_mut_slice().get_mut(..len)) {
                    dst.copy_from_slice(chunk);
                }
            },
            |irp, m| {
                let Some(mut wsk_buf) = m.buffer.as_ref().and_then(|b| b.wsk_buf(0, len)) else {
                    return NtStatus::INSUFFICIENT_RESOURCES.0;
                };
                // SAFETY: the socket is open; `wsk_buf` describes the request's pool buffer,
                // which lives until the request completes; WSK copies the WSK_BUF itself.
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
        self.receive_with_flags(out, 0, timeout)
    }

    /// Like [`ConnectionSocket::receive`] with `WskReceive` flags (`WSK_FLAG_WAITALL`:
    /// complete only when `out` is full or the connection ends).
    ///
    /// # Errors
    /// As [`ConnectionSocket::receive`].
    pub fn receive_with_flags(&mut self, out: &mut [u8], flags: u32, timeout: Duration) -> Result<usize> {
        let len = out.len().min(CHUNK);
        let Some(receive_fn) = self.dispatch()?.WskReceive else { return Err(Error::new(NtStatus::NOT_IMPLEMENTED)) };
        let socket = self.core.raw.as_ptr();
        let raw = &mut self.core.raw;
        let (received, memory) = self.core.blocking.run(
            CHUNK,
            timeout,
            |_| {},
            |irp, m| {
                let Some(mut wsk_buf) = m.buffer.as_ref().and_then(|b| b.wsk_buf(0, len)) else {
                    return NtStatus::INSUFFICIENT_RESOURCES.0;
                };
                // SAFETY: the socket is open; `wsk_buf` describes the request's pool buffer.
                unsafe { receive_fn(socket, &raw mut wsk_buf, flags, irp) }
            },
            || {
                let _ = raw.close();
            },
        )?;
        let n = received.min(len);
        let src = memory.buffer.as_ref().and_then(|b| b.as_slice().get(..n));
        if let (Some(dst), Some(src)) = (out.get_mut(..n), src) {
            dst.copy_from_slice(src);
        }
        Ok(n)
    }

    /// The local address (`WskGetLocalAddress`). IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// The provider's status (`STATUS_NOT_IMPLEMENTED` from Wine's built-in netio).
    pub fn local_addr(&mut self) -> Result<SocketAddr> {
        let f = self.dispatch()?.WskGetLocalAddress;
        socket::address(&self.core.raw, &mut self.core.blocking, f, crate::options::OPTION_TIMEOUT)
    }

    /// The peer's address (`WskGetRemoteAddress`). IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// The provider's status (`STATUS_NOT_IMPLEMENTED` from Wine's built-in netio).
    pub fn peer_addr(&mut self) -> Result<SocketAddr> {
        let f = self.dispatch()?.WskGetRemoteAddress;
        socket::address(&self.core.raw, &mut self.core.blocking, f, crate::options::OPTION_TIMEOUT)
    }

    /// Ends the connection (`WskDisconnect`): gracefully after optional final data (at most
    /// [`CHUNK`] bytes), or abortively. The socket stays open (receive what the peer still
    /// sends, then close). IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// `STATUS_INVALID_BUFFER_SIZE` for final data over [`CHUNK`]; the provider's status.
    pub fn disconnect(&mut self, how: Disconnect<'_>, timeout: Duration) -> Result<()> {
        let (data, flags) = match how {
            Disconnect::Graceful(data) => (data, 0),
            Disconnect::Abortive => (&[][..], sys::WSK_FLAG_ABORTIVE),
        };
        if data.len() > CHUNK {
            return Err(Error::new(NtStatus::INVALID_BUFFER_SIZE));
        }
        let len = data.len();
        let Some(disconnect_fn) = self.dispatch()?.WskDisconnect else { return Err(Error::new(NtStatus::NOT_IMPLEMENTED)) };
        let socket = self.core.raw.as_ptr();
        let raw = &mut self.core.raw;
        self.core.blocking
            .run(
                if len == 0 { 0 } else { CHUNK },
                timeout,
                |m| {
                    if let Some(dst) = m.buffer.as_mut().and_then(|b| b.as_mut_slice().get_mut(..len)) {
                        dst.copy_from_slice(data);
                    }
                },
                |irp, m| {
                    let mut wsk_buf = if len == 0 { None } else { m.buffer.as_ref().and_then(|b| b.wsk_buf(0, len)) };
                    let buffer = wsk_buf.as_mut().map_or(ptr::null_mut(), ptr::from_mut);
                    // SAFETY: the socket is open; the optional WSK_BUF describes the
                    // request's pool buffer.
                    unsafe { disconnect_fn(socket, buffer, flags, irp) }
                },
                || {
                    let _ = raw.close();
                },
            )
            .map(|_| ())
    }

    /// Whether the socket is still open (a timed-out request that the provider could not
    /// cancel closes it).
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.core.raw.is_open()
    }

    /// Closes the connection on a worker thread. IRQL <= DISPATCH_LEVEL (where dropping,
    /// which closes and waits, is not allowed).
    pub fn close_later(self) {
        let (raw, client) = self.core.into_parts();
        socket::close_later(raw, client);
    }

    /// Closes the connection (abortively if data is unsent). IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// The status of `WskCloseSocket`; the socket is released either way.
    pub fn close(self) -> Result<()> {
        let (mut raw, _client) = self.core.into_parts();
        raw.close()
    }
}


