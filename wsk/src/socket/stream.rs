//! Stream sockets (`WSK_FLAG_STREAM_SOCKET`): one socket that becomes either a listener or a
//! connection after it is bound, through `WSK_PROVIDER_STREAM_DISPATCH`.
//!
//! The stream category and its dispatch table exist from Windows 10, version 1703 on
//! (<https://learn.microsoft.com/windows-hardware/drivers/ddi/wsk/ns-wsk-_wsk_provider_stream_dispatch>);
//! a provider without them refuses `WskSocket` with `WSK_FLAG_STREAM_SOCKET`
//! (`STATUS_NOT_SUPPORTED`, `STATUS_INVALID_PARAMETER` or `STATUS_NOT_IMPLEMENTED`), which
//! [`StreamSocket::bind`] returns. The roles are distinct types: a [`StreamSocket`] (bound,
//! no role yet) is consumed by [`StreamSocket::listen`] into a [`StreamListenSocket`] or by
//! [`StreamSocket::connect`] into a [`StreamConnectionSocket`], so an operation of the other role
//! does not compile. Both use the stream dispatch table; connections accepted on a
//! [`StreamListenSocket`] are ordinary [`ConnectionSocket`]s.
//!
//! The same calls run in the kernel, under Wine, in the conformance suite's
//! `lib.stream_socket.*` checks (`tests/conformance/driver/src/lib_checks.rs`).
//!
//! ```
//! # use wskrs_fake_kernel as fake; // on the host, a fake kernel and WSK provider
//! # let _kernel = fake::Kernel::start();
//! # let device = fake::device(); // in a driver: its DEVICE_OBJECT
//! use core::time::Duration;
//! use wsk::{BindOptions, StreamSocket, WskClient};
//!
//! let timeout = Duration::from_secs(5);
//! // SAFETY: the device object outlives the client and its sockets.
//! let client = unsafe { WskClient::register(device, timeout) }?;
//! let any = "127.0.0.1:0".parse().unwrap();
//! let mut listener = StreamSocket::bind(&client, any, BindOptions::default(), timeout)?;
//! let server = listener.local_addr()?;
//! let mut listener = listener.listen(timeout)?;
//! let mut out = StreamSocket::bind(&client, any, BindOptions::default(), timeout)?
//!     .connect(server, timeout)?;
//! out.send_all(b"hello", timeout)?;
//! let (mut accepted, from) = listener.accept(timeout)?;
//! assert_eq!(from, Some(out.local_addr()?));
//! let mut reply = [0u8; 16];
//! let n = accepted.receive(&mut reply, timeout)?;
//! assert_eq!(&reply[..n], b"hello");
//! drop((out, accepted, listener));
//! assert!(client.shutdown(timeout));
//! # Ok::<(), wsk::Error>(())
//! ```

use core::net::SocketAddr;
use core::time::Duration;

use wsk_bindings as sys;

use crate::socket::connected::{ConnectedSocket, Stream};
use crate::socket::connection::connect_ex_on;
use crate::socket::{BindOptions, Category, SocketCore};
use crate::{ConnectionSocket, Error, NtStatus, Result, SockAddr, WskClient};

/// The stream dispatch of `core`'s socket, if it is open.
fn dispatch(core: &SocketCore) -> Result<&sys::WSK_PROVIDER_STREAM_DISPATCH> {
    if !core.raw.is_open() {
        return Err(Error::new(NtStatus::INVALID_HANDLE));
    }
    // SAFETY: every socket of this module was created with WSK_FLAG_STREAM_SOCKET.
    Ok(unsafe { core.raw.dispatch::<sys::WSK_PROVIDER_STREAM_DISPATCH>() })
}

/// A bound stream socket that has not taken a role yet. Dropping it closes it.
pub struct StreamSocket {
    pub(crate) core: SocketCore,
}

impl StreamSocket {
    /// Creates a stream socket (`WskSocket` with `WSK_FLAG_STREAM_SOCKET`, TCP), applies
    /// `options` and binds it to `local` (`WskBind`). IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// The status of `WskSocket` (a provider without stream sockets refuses them), of an
    /// option or of `WskBind`.
    pub fn bind(
        client: &WskClient,
        local: SocketAddr,
        options: BindOptions<'_>,
        timeout: Duration,
    ) -> Result<Self> {
        let core = SocketCore::bind(client, local, Category::Stream, options, timeout)?;
        Ok(Self { core })
    }

    /// The local address (`WskGetLocalAddress`), e.g. the port chosen for port 0.
    /// IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// The provider's status.
    pub fn local_addr(&mut self) -> Result<SocketAddr> {
        let f = dispatch(&self.core)?.WskGetLocalAddress;
        self.core.address(f)
    }

    /// Makes the socket a listener (`WskListen`). IRQL: PASSIVE_LEVEL.
    ///
    /// See <https://learn.microsoft.com/windows-hardware/drivers/ddi/wsk/nc-wsk-pfn_wsk_listen>.
    ///
    /// # Errors
    /// The provider's status; the socket is closed.
    pub fn listen(mut self, timeout: Duration) -> Result<StreamListenSocket> {
        let Some(listen_fn) = dispatch(&self.core)?.WskListen else {
            return Err(Error::new(NtStatus::NOT_IMPLEMENTED));
        };
        let socket = self.core.raw.as_ptr();
        self.core
            .blocking
            .request(timeout)
            .close_if_stuck(&mut self.core.raw)
            // SAFETY: the socket is an open, bound stream socket.
            .start(|irp, _| unsafe { listen_fn(socket, irp) })?;
        Ok(StreamListenSocket { core: self.core })
    }

    /// Makes the socket a connection to `remote` (`WskConnect`). IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// `STATUS_CONNECTION_REFUSED`, `STATUS_IO_TIMEOUT` or another provider status; the
    /// socket is closed.
    pub fn connect(
        mut self,
        remote: SocketAddr,
        timeout: Duration,
    ) -> Result<StreamConnectionSocket> {
        let Some(connect_fn) = dispatch(&self.core)?.WskConnect else {
            return Err(Error::new(NtStatus::NOT_IMPLEMENTED));
        };
        let socket = self.core.raw.as_ptr();
        self.core
            .blocking
            .request(timeout)
            .fill(|m| m.remote = SockAddr::from(remote))
            .close_if_stuck(&mut self.core.raw)
            // SAFETY: the socket is open and bound; the address lives in the request's memory.
            .start(|irp, m| unsafe { connect_fn(socket, m.remote.as_mut_ptr(), 0, irp) })?;
        Ok(ConnectedSocket::from_core(self.core))
    }

    /// Like [`StreamSocket::connect`], sending `data` (at most
    /// [`ConnectionSocket::MAX_CONNECT_DATA`] bytes) with the connection (`WskConnectEx`);
    /// returns the connection and the bytes sent. IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// `STATUS_INVALID_BUFFER_SIZE` for too much data; `STATUS_NOT_IMPLEMENTED` when the
    /// provider's stream dispatch has no `WskConnectEx`; otherwise as
    /// [`StreamSocket::connect`].
    pub fn connect_with_data(
        mut self,
        remote: SocketAddr,
        data: &[u8],
        timeout: Duration,
    ) -> Result<(StreamConnectionSocket, usize)> {
        if data.len() > ConnectionSocket::MAX_CONNECT_DATA {
            return Err(Error::new(NtStatus::INVALID_BUFFER_SIZE));
        }
        let Some(connect_ex_fn) = dispatch(&self.core)?.WskConnectEx else {
            return Err(Error::new(NtStatus::NOT_IMPLEMENTED));
        };
        let sent = connect_ex_on(
            &mut self.core.raw,
            &mut self.core.blocking,
            connect_ex_fn,
            remote,
            data,
            timeout,
        )?;
        Ok((ConnectedSocket::from_core(self.core), sent.min(data.len())))
    }
}

/// A stream socket that listens. Dropping it closes it (pending accepts complete cancelled).
pub struct StreamListenSocket {
    pub(crate) core: SocketCore,
}

impl StreamListenSocket {
    /// Waits up to `timeout` for a connection (`WskAccept` through the stream dispatch);
    /// returns it with the remote address. IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// `STATUS_IO_TIMEOUT`, or the provider's status.
    pub fn accept(&mut self, timeout: Duration) -> Result<(ConnectionSocket, Option<SocketAddr>)> {
        let accept_fn = dispatch(&self.core)?.WskAccept;
        crate::socket::listen::accept_on(&mut self.core, accept_fn, timeout)
    }

    /// The local address (`WskGetLocalAddress`). IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// The provider's status.
    pub fn local_addr(&mut self) -> Result<SocketAddr> {
        let f = dispatch(&self.core)?.WskGetLocalAddress;
        self.core.address(f)
    }

    /// Closes the listener. IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// The status of `WskCloseSocket`; the socket is released either way.
    pub fn close(self) -> Result<()> {
        let (mut raw, _client) = self.core.into_parts();
        raw.close()
    }
}

/// A connected stream socket (`WSK_PROVIDER_STREAM_DISPATCH`), from
/// [`StreamSocket::connect`] or [`StreamSocket::connect_with_data`]. Its data calls are
/// [`ConnectedSocket`]'s, the same as a [`ConnectionSocket`]'s. Dropping it closes it.
pub type StreamConnectionSocket = ConnectedSocket<Stream>;
