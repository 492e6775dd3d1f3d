//! [`DatagramSocket`]: a UDP socket (`WSK_FLAG_DATAGRAM_SOCKET`).

use core::net::SocketAddr;
use core::ptr;
use core::time::Duration;

use wsk_bindings as sys;

use crate::socket::{self, BindOptions, Category, RawSocket, SocketCore, CHUNK};
use crate::{Error, NtStatus, Result, SockAddr, WskClient};

/// A bound UDP socket.
pub struct DatagramSocket {
    pub(crate) core: SocketCore,
}

impl DatagramSocket {
    /// Creates a UDP socket bound to `local` (port 0: the provider picks one).
    /// IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// The status of `WskSocket` (`STATUS_NOT_IMPLEMENTED` from Wine's built-in netio) or
    /// `WskBind`.
    pub fn bind(client: &WskClient, local: SocketAddr, timeout: Duration) -> Result<Self> {
        Self::bind_with(client, local, BindOptions::default(), timeout)
    }

    /// Like [`DatagramSocket::bind`], with options applied before binding.
    ///
    /// # Errors
    /// As [`DatagramSocket::bind`], or the status of setting an option.
    pub fn bind_with(client: &WskClient, local: SocketAddr, options: BindOptions<'_>, timeout: Duration) -> Result<Self> {
        let family = SockAddr::socket_family(&local);
        let (mut raw, mut blocking) = socket::create(client, family, Category::Datagram, options, timeout)?;
        // SAFETY: `raw` is a datagram socket.
        let bind_fn = unsafe { raw.dispatch::<sys::WSK_PROVIDER_DATAGRAM_DISPATCH>() }.WskBind;
        if let Err(e) = socket::bind(&raw, &mut blocking, bind_fn, local, timeout) {
            let _ = raw.close();
            return Err(e);
        }
        Ok(Self { core: SocketCore { raw, blocking, client: client.clone() } })
    }

    fn dispatch(&self) -> Result<&sys::WSK_PROVIDER_DATAGRAM_DISPATCH> {
        if !self.core.raw.is_open() {
            return Err(Error::new(NtStatus::INVALID_HANDLE));
        }
        // SAFETY: `raw` is an open datagram socket.
        Ok(unsafe { self.core.raw.dispatch::<sys::WSK_PROVIDER_DATAGRAM_DISPATCH>() })
    }

    /// Sends one datagram of at most [`CHUNK`] bytes to `remote` (`WskSendTo`); returns the
    /// bytes sent. IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// `STATUS_INVALID_BUFFER_SIZE` for a datagram over [`CHUNK`]; the provider's status.
    pub fn send_to(&mut self, data: &[u8], remote: SocketAddr, timeout: Duration) -> Result<usize> {
        let len = data.len();
        if len > CHUNK {
            return Err(Error::new(NtStatus::INVALID_BUFFER_SIZE));
        }
        let Some(send_to_fn) = self.dispatch()?.WskSendTo else { return Err(Error::new(NtStatus::NOT_IMPLEMENTED)) };
        let socket = self.core.raw.as_ptr();
        let raw = &mut self.core.raw;
        let (sent, _) = self.core.blocking.run(
            CHUNK,
            timeout,
            |m| {
                if let Some(dst) = m.buffer.as_mut().and_then(|b| b.as_mut_slice().get_mut(..len)) {
                    dst.copy_from_slice(data);
                }
                m.addresses[1] = SockAddr::from(remote);
            },
            |irp, m| {
                let Some(mut wsk_buf) = m.buffer.as_ref().and_then(|b| b.wsk_buf(0, len)) else {
                    return NtStatus::INSUFFICIENT_RESOURCES.0;
                };
                // SAFETY: the socket is open; the buffer and the address live in the
                // request's memory; no control information.
                unsafe { send_to_fn(socket, &raw mut wsk_buf, 0, m.addresses[1].as_mut_ptr(), 0, ptr::null_mut(), irp) }
            },
            || {
                let _ = raw.close();
            },
        )?;
        Ok(sent.min(len))
    }

    /// Receives one datagram into `out` (`WskReceiveFrom`); returns its length (truncated to
    /// `out`, at most [`CHUNK`]) and sender. IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// `STATUS_IO_TIMEOUT`, or the provider's status.
    pub fn receive_from(&mut self, out: &mut [u8], timeout: Duration) -> Result<(usize, Option<SocketAddr>)> {
        let len = out.len().min(CHUNK);
        let Some(receive_fn) = self.dispatch()?.WskReceiveFrom else { return Err(Error::new(NtStatus::NOT_IMPLEMENTED)) };
        let socket = self.core.raw.as_ptr();
        let raw = &mut self.core.raw;
        let (received, memory) = self.core.blocking.run(
            CHUNK,
            timeout,
            |m| m.addresses[1] = SockAddr::empty(),
            |irp, m| {
                let Some(mut wsk_buf) = m.buffer.as_ref().and_then(|b| b.wsk_buf(0, CHUNK)) else {
                    return NtStatus::INSUFFICIENT_RESOURCES.0;
                };
                // SAFETY: the socket is open; the buffer and the address storage live in the
                // request's memory; no control information is requested.
                unsafe {
                    receive_fn(socket, &raw mut wsk_buf, 0, m.addresses[1].as_mut_ptr(), ptr::null_mut(), ptr::null_mut(), ptr::null_mut(), irp)
                }
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
        Ok((n, memory.addresses[1].to_socket_addr()))
    }

    /// The local address (`WskGetLocalAddress`), e.g. the port chosen for port 0.
    /// IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// The provider's status.
    pub fn local_addr(&mut self) -> Result<SocketAddr> {
        let f = self.dispatch()?.WskGetLocalAddress;
        socket::address(&self.core.raw, &mut self.core.blocking, f, crate::options::OPTION_TIMEOUT)
    }

    /// Whether the socket is still open (a timed-out request that the provider could not
    /// cancel closes it).
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.core.raw.is_open()
    }

    pub(crate) fn into_parts(self) -> (RawSocket, WskClient) {
        self.core.into_parts()
    }

    /// Closes the socket; pending requests complete as cancelled. IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// The status of `WskCloseSocket`; the socket is released either way.
    pub fn close(self) -> Result<()> {
        let (mut raw, _client) = self.core.into_parts();
        raw.close()
    }
}


