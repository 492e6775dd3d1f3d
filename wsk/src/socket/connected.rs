//! [`ConnectedSocket`]: the data calls every connected TCP socket shares (send, receive,
//! disconnect, addresses, close), written once for both categories that connect:
//! [`crate::ConnectionSocket`] (`WSK_PROVIDER_CONNECTION_DISPATCH`) and
//! [`crate::StreamConnectionSocket`] (`WSK_PROVIDER_STREAM_DISPATCH`). The category, a type
//! parameter, says which provider dispatch table carries the calls.

use core::marker::PhantomData;
use core::net::SocketAddr;
use core::ptr;
use core::time::Duration;

use wsk_bindings as sys;

use crate::irp::Blocking;
use crate::socket::{self, RawSocket, SocketCore, CHUNK};
use crate::{Error, NtStatus, Result, WskClient};

/// The provider functions a connected socket's data calls go through, read from its
/// category's dispatch table.
pub struct DataCalls {
    send: sys::PFN_WSK_SEND,
    receive: sys::PFN_WSK_RECEIVE,
    disconnect: sys::PFN_WSK_DISCONNECT,
    local_address: sys::PFN_WSK_GET_LOCAL_ADDRESS,
    remote_address: sys::PFN_WSK_GET_REMOTE_ADDRESS,
}

/// The [`DataCalls`] of a provider dispatch table (connection and stream tables name the
/// members alike).
macro_rules! data_calls {
    ($dispatch:expr) => {
        DataCalls {
            send: $dispatch.WskSend,
            receive: $dispatch.WskReceive,
            disconnect: $dispatch.WskDisconnect,
            local_address: $dispatch.WskGetLocalAddress,
            remote_address: $dispatch.WskGetRemoteAddress,
        }
    };
}

pub(crate) mod sealed {
    /// How a category's provider dispatch table is read; not implementable outside this crate.
    pub trait Dispatch {
        /// What a data call on a closed socket returns.
        const CLOSED: crate::NtStatus;
        /// The data calls of `core`'s socket.
        ///
        /// # Safety
        /// `core`'s socket is open and of this category.
        unsafe fn calls(core: &crate::socket::SocketCore) -> super::DataCalls;
    }
}

/// A category whose sockets connect: [`Connection`] or [`Stream`]. Sealed.
pub trait Connected: sealed::Dispatch + 'static {}

/// `WSK_FLAG_CONNECTION_SOCKET`: connected by [`crate::ConnectionSocket::connect`] or
/// accepted on a listener. A type parameter only.
pub enum Connection {}

/// `WSK_FLAG_STREAM_SOCKET`: a [`crate::StreamSocket`] that connected. A type parameter only.
pub enum Stream {}

impl Connected for Connection {}
impl Connected for Stream {}

impl sealed::Dispatch for Connection {
    const CLOSED: NtStatus = NtStatus::CONNECTION_ABORTED;
    unsafe fn calls(core: &SocketCore) -> DataCalls {
        // SAFETY: the caller's socket is an open connection socket (this fn's contract).
        let d = unsafe { core.raw.dispatch::<sys::WSK_PROVIDER_CONNECTION_DISPATCH>() };
        data_calls!(d)
    }
}

impl sealed::Dispatch for Stream {
    const CLOSED: NtStatus = NtStatus::INVALID_HANDLE;
    unsafe fn calls(core: &SocketCore) -> DataCalls {
        // SAFETY: the caller's socket is an open stream socket (this fn's contract).
        let d = unsafe { core.raw.dispatch::<sys::WSK_PROVIDER_STREAM_DISPATCH>() };
        data_calls!(d)
    }
}

/// A connected TCP socket of category `C`: [`crate::ConnectionSocket`] or
/// [`crate::StreamConnectionSocket`]. Dropping it closes it (bounded wait, PASSIVE_LEVEL).
///
/// # Invariants
/// `core`'s socket was created (or accepted) as a socket of category `C` and is connected.
pub struct ConnectedSocket<C: Connected> {
    pub(crate) core: SocketCore,
    category: PhantomData<C>,
}

impl<C: Connected> ConnectedSocket<C> {
    /// A socket of category `C` that just connected.
    pub(crate) fn from_core(core: SocketCore) -> Self {
        // INVARIANT: the caller's socket is a connected socket of category `C`.
        Self {
            core,
            category: PhantomData,
        }
    }

    /// A socket of category `C` the provider just handed over, connected.
    pub(crate) fn from_raw(raw: RawSocket, client: WskClient) -> Self {
        Self::from_core(SocketCore {
            raw,
            blocking: Blocking::new(),
            client,
        })
    }

    pub(crate) fn into_parts(self) -> (RawSocket, WskClient) {
        self.core.into_parts()
    }

    pub(crate) fn raw(&self) -> &RawSocket {
        &self.core.raw
    }

    fn calls(&self) -> Result<DataCalls> {
        if !self.core.raw.is_open() {
            return Err(Error::new(C::CLOSED));
        }
        // SAFETY: the socket is open (checked above) and of category `C` (type invariant).
        Ok(unsafe { C::calls(&self.core) })
    }

    /// Sends up to 64 KiB of `data` (`WskSend`); returns how many were sent.
    /// IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// `STATUS_IO_TIMEOUT` (the connection is then closed if the provider could not cancel),
    /// or the provider's status (`STATUS_CONNECTION_RESET`, ...).
    pub fn send(&mut self, data: &[u8], timeout: Duration) -> Result<usize> {
        let send_fn = self.calls()?.send;
        send_on(&mut self.core, send_fn, data, timeout)
    }

    /// Sends all of `data`, each chunk within `timeout`. IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// As [`ConnectedSocket::send`]; bytes sent before the error are not reported.
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

    /// Receives up to `out.len()` (at most 64 KiB) bytes (`WskReceive`); 0 means the peer
    /// closed its side. IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// `STATUS_IO_TIMEOUT` when nothing arrived in time (the connection is then closed if the
    /// provider could not cancel), or the provider's status.
    pub fn receive(&mut self, out: &mut [u8], timeout: Duration) -> Result<usize> {
        self.receive_with_flags(out, 0, timeout)
    }

    /// Like [`ConnectedSocket::receive`] with `WskReceive` flags (`WSK_FLAG_WAITALL`:
    /// complete only when `out` is full or the connection ends).
    ///
    /// # Errors
    /// As [`ConnectedSocket::receive`].
    pub fn receive_with_flags(
        &mut self,
        out: &mut [u8],
        flags: u32,
        timeout: Duration,
    ) -> Result<usize> {
        let receive_fn = self.calls()?.receive;
        receive_on(&mut self.core, receive_fn, out, flags, timeout)
    }

    /// The local address (`WskGetLocalAddress`). IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// The provider's status (`STATUS_NOT_IMPLEMENTED` from Wine's built-in netio).
    pub fn local_addr(&mut self) -> Result<SocketAddr> {
        let f = self.calls()?.local_address;
        self.core.address(f)
    }

    /// The peer's address (`WskGetRemoteAddress`). IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// The provider's status (`STATUS_NOT_IMPLEMENTED` from Wine's built-in netio).
    pub fn peer_addr(&mut self) -> Result<SocketAddr> {
        let f = self.calls()?.remote_address;
        self.core.address(f)
    }

    /// Ends the connection (`WskDisconnect`): gracefully after optional final data (at most
    /// 64 KiB), or abortively. The socket stays open (receive what the peer still
    /// sends, then close). IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// `STATUS_INVALID_BUFFER_SIZE` for final data over 64 KiB; the provider's status.
    pub fn disconnect(&mut self, how: Disconnect<'_>, timeout: Duration) -> Result<()> {
        let disconnect_fn = self.calls()?.disconnect;
        disconnect_on(&mut self.core, disconnect_fn, how, timeout)
    }

    /// Whether the socket is still open (a timed-out request that the provider could not
    /// cancel closes it). IRQL: any.
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

/// How a connection ends ([`ConnectedSocket::disconnect`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disconnect<'a> {
    /// Send this final data (may be empty), then FIN; received data can still be read.
    Graceful(&'a [u8]),
    /// Reset the connection at once (`WSK_FLAG_ABORTIVE`); unsent data is dropped.
    Abortive,
}

/// `WskSend` of up to `CHUNK` bytes through `send_fn` (a connection's or a stream
/// socket's). IRQL: PASSIVE_LEVEL.
fn send_on(
    core: &mut SocketCore,
    send_fn: sys::PFN_WSK_SEND,
    data: &[u8],
    timeout: Duration,
) -> Result<usize> {
    let len = data.len().min(CHUNK);
    let chunk = data.get(..len).unwrap_or_default();
    let Some(send_fn) = send_fn else {
        return Err(Error::new(NtStatus::NOT_IMPLEMENTED));
    };
    let socket = core.raw.as_ptr();
    let (sent, _) = core
        .blocking
        .request(timeout)
        .buffer(CHUNK)
        .fill(|m| {
            if let Some(dst) = m
                .buffer
                .as_mut()
                .and_then(|b| b.as_mut_slice().get_mut(..len))
            {
                dst.copy_from_slice(chunk);
            }
        })
        .close_if_stuck(&mut core.raw)
        .start(|irp, m| {
            let Some(mut wsk_buf) = m.buffer.as_ref().and_then(|b| b.wsk_buf(0, len)) else {
                return NtStatus::INSUFFICIENT_RESOURCES.0;
            };
            // SAFETY: the socket is open; `wsk_buf` describes the request's pool buffer,
            // which lives until the request completes; WSK copies the WSK_BUF itself.
            unsafe { send_fn(socket, &raw mut wsk_buf, 0, irp) }
        })?;
    Ok(sent.min(len))
}

/// `WskReceive` of up to `out.len()` (at most `CHUNK`) bytes through `receive_fn`.
/// IRQL: PASSIVE_LEVEL.
fn receive_on(
    core: &mut SocketCore,
    receive_fn: sys::PFN_WSK_RECEIVE,
    out: &mut [u8],
    flags: u32,
    timeout: Duration,
) -> Result<usize> {
    let len = out.len().min(CHUNK);
    let Some(receive_fn) = receive_fn else {
        return Err(Error::new(NtStatus::NOT_IMPLEMENTED));
    };
    let socket = core.raw.as_ptr();
    let (received, memory) = core
        .blocking
        .request(timeout)
        .buffer(CHUNK)
        .close_if_stuck(&mut core.raw)
        .start(|irp, m| {
            let Some(mut wsk_buf) = m.buffer.as_ref().and_then(|b| b.wsk_buf(0, len)) else {
                return NtStatus::INSUFFICIENT_RESOURCES.0;
            };
            // SAFETY: the socket is open; `wsk_buf` describes the request's pool buffer.
            unsafe { receive_fn(socket, &raw mut wsk_buf, flags, irp) }
        })?;
    let n = received.min(len);
    let src = memory.buffer.as_ref().and_then(|b| b.as_slice().get(..n));
    if let (Some(dst), Some(src)) = (out.get_mut(..n), src) {
        dst.copy_from_slice(src);
    }
    Ok(n)
}

/// `WskDisconnect` through `disconnect_fn`. IRQL: PASSIVE_LEVEL.
fn disconnect_on(
    core: &mut SocketCore,
    disconnect_fn: sys::PFN_WSK_DISCONNECT,
    how: Disconnect<'_>,
    timeout: Duration,
) -> Result<()> {
    let (data, flags) = match how {
        Disconnect::Graceful(data) => (data, 0),
        Disconnect::Abortive => (&[][..], sys::WSK_FLAG_ABORTIVE),
    };
    if data.len() > CHUNK {
        return Err(Error::new(NtStatus::INVALID_BUFFER_SIZE));
    }
    let len = data.len();
    let Some(disconnect_fn) = disconnect_fn else {
        return Err(Error::new(NtStatus::NOT_IMPLEMENTED));
    };
    let socket = core.raw.as_ptr();
    core.blocking
        .request(timeout)
        .buffer(if len == 0 { 0 } else { CHUNK })
        .fill(|m| {
            if let Some(dst) = m
                .buffer
                .as_mut()
                .and_then(|b| b.as_mut_slice().get_mut(..len))
            {
                dst.copy_from_slice(data);
            }
        })
        .close_if_stuck(&mut core.raw)
        .start(|irp, m| {
            let mut wsk_buf = if len == 0 {
                None
            } else {
                m.buffer.as_ref().and_then(|b| b.wsk_buf(0, len))
            };
            let buffer = wsk_buf.as_mut().map_or(ptr::null_mut(), ptr::from_mut);
            // SAFETY: the socket is open; the optional WSK_BUF describes the
            // request's pool buffer.
            unsafe { disconnect_fn(socket, buffer, flags, irp) }
        })
        .map(|_| ())
}
