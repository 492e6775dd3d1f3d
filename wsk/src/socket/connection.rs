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
        Self {
            core: SocketCore {
                raw,
                blocking: Blocking::new(),
                client,
            },
        }
    }

    pub(crate) fn into_parts(self) -> (RawSocket, WskClient) {
        self.core.into_parts()
    }

    /// Connects to `remote` from `local` (or the unspecified address of the same family, port
    /// 0): `WskSocket` + `WskBind` + `WskConnect`. IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// `STATUS_CONNECTION_REFUSED`, `STATUS_IO_TIMEOUT`, or another provider status.
    pub fn connect(
        client: &WskClient,
        remote: SocketAddr,
        local: Option<SocketAddr>,
        timeout: Duration,
    ) -> Result<Self> {
        Self::connect_with(client, remote, local, BindOptions::default(), timeout)
    }

    /// Creates, binds and connects in one request (`WskSocketConnect`). IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// `STATUS_NOT_IMPLEMENTED` from a provider without it (Wine's netio); otherwise as
    /// [`ConnectionSocket::connect`].
    pub fn socket_connect(
        client: &WskClient,
        remote: SocketAddr,
        local: Option<SocketAddr>,
        timeout: Duration,
    ) -> Result<Self> {
        let (npi_client, dispatch) = client.provider();
        let Some(socket_connect_fn) = dispatch.WskSocketConnect else {
            return Err(Error::new(NtStatus::NOT_IMPLEMENTED));
        };
        let local = local
            .or_else(|| SockAddr::unspecified_like(&remote).to_socket_addr())
            .unwrap_or(remote);
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
        let socket = core::ptr::NonNull::new(info as *mut sys::WSK_SOCKET)
            .ok_or(Error::new(NtStatus::UNSUCCESSFUL))?;
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
        let plain = !options.reuse_address
            && !options.exclusive_address
            && options.ipv6_only.is_none()
            && options.security.is_none();
        if plain {
            match Self::socket_connect(client, remote, local, timeout) {
                Err(e) if e.status() == NtStatus::NOT_IMPLEMENTED => {}
                result => return result,
            }
        }
        let family = SockAddr::socket_family(&remote);
        let (raw, blocking) =
            socket::create(client, family, Category::Connection, options, timeout)?;
        Self::connect_created(raw, blocking, client, remote, local, timeout)
    }

    /// Largest `data` of [`ConnectionSocket::connect_with_data`]: "The maximum allowed size
    /// in bytes is 65,535" (`WskConnectEx`'s page).
    pub const MAX_CONNECT_DATA: usize = 65_535;

    /// Connects to `remote` and sends `data` with the connection, in one request:
    /// `WskSocket` + `WskBind` (to `local`, or the unspecified address, port 0) +
    /// `WskConnectEx` with `data` as its buffer ("send a buffer of data during or after
    /// connection synchronization"). Returns the socket and the bytes of `data` the provider
    /// reports sent. IRQL: PASSIVE_LEVEL.
    ///
    /// `WskConnectEx` is a member of `WSK_PROVIDER_CONNECTION_DISPATCH` from Windows 10,
    /// version 1703 on: on older Windows (`RtlGetVersion`), or when the member is NULL, this
    /// returns `STATUS_NOT_IMPLEMENTED` without reading past the provider's table. The
    /// alternative there is [`ConnectionSocket::connect`] followed by
    /// [`ConnectionSocket::send_all`].
    ///
    /// See <https://learn.microsoft.com/windows-hardware/drivers/ddi/wsk/nc-wsk-pfn_wsk_connect_ex>.
    ///
    /// ```no_run
    /// # fn demo(client: &wsk::WskClient, server: core::net::SocketAddr) -> wsk::Result<()> {
    /// let timeout = core::time::Duration::from_secs(5);
    /// let (mut connection, sent) = wsk::ConnectionSocket::connect_with_data(client, server, None, b"GET / HTTP/1.0\r\n\r\n", timeout)?;
    /// # let _ = (&mut connection, sent); Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `STATUS_INVALID_BUFFER_SIZE` for `data` over [`ConnectionSocket::MAX_CONNECT_DATA`];
    /// `STATUS_NOT_IMPLEMENTED` when the provider has no `WskConnectEx` (Wine's netio);
    /// otherwise as [`ConnectionSocket::connect`]. The socket is closed on failure.
    pub fn connect_with_data(
        client: &WskClient,
        remote: SocketAddr,
        local: Option<SocketAddr>,
        data: &[u8],
        timeout: Duration,
    ) -> Result<(Self, usize)> {
        let len = data.len();
        if len > Self::MAX_CONNECT_DATA {
            return Err(Error::new(NtStatus::INVALID_BUFFER_SIZE));
        }
        let family = SockAddr::socket_family(&remote);
        let (mut raw, mut blocking) = socket::create(
            client,
            family,
            Category::Connection,
            BindOptions::default(),
            timeout,
        )?;
        match Self::bind_and_connect_ex(&mut raw, &mut blocking, remote, local, data, timeout) {
            Ok(sent) => Ok((
                Self {
                    core: SocketCore {
                        raw,
                        blocking,
                        client: client.clone(),
                    },
                },
                sent.min(len),
            )),
            Err(e) => {
                let _ = raw.close();
                Err(e)
            }
        }
    }

    fn bind_and_connect_ex(
        raw: &mut RawSocket,
        blocking: &mut Blocking,
        remote: SocketAddr,
        local: Option<SocketAddr>,
        data: &[u8],
        timeout: Duration,
    ) -> Result<usize> {
        // The member exists in the provider's table only from Windows 10, version 1703 on;
        // reading it from an older, shorter table would read past its end.
        if !has_connect_ex() {
            return Err(Error::new(NtStatus::NOT_IMPLEMENTED));
        }
        // SAFETY: `raw` is a connection socket.
        let dispatch = unsafe { raw.dispatch::<sys::WSK_PROVIDER_CONNECTION_DISPATCH>() };
        let (bind_fn, connect_ex_fn) = (dispatch.WskBind, dispatch.WskConnectEx);
        let Some(connect_ex_fn) = connect_ex_fn else {
            return Err(Error::new(NtStatus::NOT_IMPLEMENTED));
        };
        let local = local
            .or_else(|| SockAddr::unspecified_like(&remote).to_socket_addr())
            .unwrap_or(remote);
        socket::bind(raw, blocking, bind_fn, local, timeout)?;
        connect_ex_on(raw, blocking, connect_ex_fn, remote, data, timeout)
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
        Ok(Self {
            core: SocketCore {
                raw,
                blocking,
                client: client.clone(),
            },
        })
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
        let local = local
            .or_else(|| SockAddr::unspecified_like(&remote).to_socket_addr())
            .unwrap_or(remote);
        socket::bind(raw, blocking, bind_fn, local, timeout)?;
        let Some(connect_fn) = connect_fn else {
            return Err(Error::new(NtStatus::NOT_IMPLEMENTED));
        };
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
        Ok(unsafe {
            self.core
                .raw
                .dispatch::<sys::WSK_PROVIDER_CONNECTION_DISPATCH>()
        })
    }

    /// Sends up to [`CHUNK`] bytes of `data` (`WskSend`); returns how many were sent.
    /// IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// `STATUS_IO_TIMEOUT` (the connection is then closed if the provider could not cancel),
    /// or the provider's status (`STATUS_CONNECTION_RESET`, ...).
    pub fn send(&mut self, data: &[u8], timeout: Duration) -> Result<usize> {
        let send_fn = self.dispatch()?.WskSend;
        send_on(&mut self.core, send_fn, data, timeout)
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
    pub fn receive_with_flags(
        &mut self,
        out: &mut [u8],
        flags: u32,
        timeout: Duration,
    ) -> Result<usize> {
        let receive_fn = self.dispatch()?.WskReceive;
        receive_on(&mut self.core, receive_fn, out, flags, timeout)
    }

    /// Sends `offset..offset + len` of `chain` in one `WskSend` whose `WSK_BUF` spans the
    /// chain's MDLs; returns the bytes sent. The chain is moved into the request's memory
    /// while it runs and given back after, also on failure; only if the request had to be
    /// abandoned (the provider completed it neither after cancellation nor after the socket
    /// was closed) does the chain stay with the request, and `chain` is left empty.
    /// IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// `STATUS_INVALID_BUFFER_SIZE` when the range is not inside the chain (a `WSK_BUF` never
    /// describes more than its MDLs); otherwise as [`ConnectionSocket::send`].
    pub fn send_chain(
        &mut self,
        chain: &mut crate::BufferChain,
        offset: usize,
        len: usize,
        timeout: Duration,
    ) -> Result<usize> {
        if chain.locate(offset, len).is_none() {
            return Err(Error::new(NtStatus::INVALID_BUFFER_SIZE));
        }
        let send_fn = self.dispatch()?.WskSend;
        let Some(send_fn) = send_fn else {
            return Err(Error::new(NtStatus::NOT_IMPLEMENTED));
        };
        let socket = self.core.raw.as_ptr();
        // SAFETY: the socket is open; the WSK_BUF describes the chain, which lives in the
        // request's memory until the request completes (or forever, if abandoned).
        let start =
            move |irp, wsk_buf: &mut sys::WSK_BUF| unsafe { send_fn(socket, wsk_buf, 0, irp) };
        self.chain_request(chain, offset, len, timeout, start)
    }

    /// Receives into `chain` (from its start, up to its length) in one `WskReceive` whose
    /// `WSK_BUF` spans the chain's MDLs; returns the bytes received (0: the peer closed).
    /// The chain is handed over as in [`ConnectionSocket::send_chain`]. IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// `STATUS_INVALID_BUFFER_SIZE` for an empty chain; otherwise as
    /// [`ConnectionSocket::receive`].
    pub fn receive_chain(
        &mut self,
        chain: &mut crate::BufferChain,
        timeout: Duration,
    ) -> Result<usize> {
        let len = chain.len();
        if chain.locate(0, len).is_none() {
            return Err(Error::new(NtStatus::INVALID_BUFFER_SIZE));
        }
        let receive_fn = self.dispatch()?.WskReceive;
        let Some(receive_fn) = receive_fn else {
            return Err(Error::new(NtStatus::NOT_IMPLEMENTED));
        };
        let socket = self.core.raw.as_ptr();
        // SAFETY: as in `send_chain`.
        let start =
            move |irp, wsk_buf: &mut sys::WSK_BUF| unsafe { receive_fn(socket, wsk_buf, 0, irp) };
        self.chain_request(chain, 0, len, timeout, start)
    }

    /// Runs one request over `offset..offset + len` of `chain`, moved into the request's
    /// memory for its duration and taken back after.
    fn chain_request(
        &mut self,
        chain: &mut crate::BufferChain,
        offset: usize,
        len: usize,
        timeout: Duration,
        start: impl FnOnce(*mut sys::IRP, &mut sys::WSK_BUF) -> i32,
    ) -> Result<usize> {
        let mut moved = Some(core::mem::take(chain));
        let raw = &mut self.core.raw;
        let result = self
            .core
            .blocking
            .run(
                0,
                timeout,
                |m| m.chain = moved.take(),
                |irp, m| {
                    let Some(mut wsk_buf) = m.chain.as_ref().and_then(|c| c.wsk_buf(offset, len))
                    else {
                        return NtStatus::INVALID_BUFFER_SIZE.0;
                    };
                    start(irp, &mut wsk_buf)
                },
                || {
                    let _ = raw.close();
                },
            )
            .map(|(n, _)| n.min(len));
        // Back to the caller: from the request's memory, or never handed over at all.
        if let Some(back) = moved.or_else(|| self.core.blocking.take_chain()) {
            *chain = back;
        }
        result
    }

    /// The local address (`WskGetLocalAddress`). IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// The provider's status (`STATUS_NOT_IMPLEMENTED` from Wine's built-in netio).
    pub fn local_addr(&mut self) -> Result<SocketAddr> {
        let f = self.dispatch()?.WskGetLocalAddress;
        socket::address(
            &self.core.raw,
            &mut self.core.blocking,
            f,
            crate::options::OPTION_TIMEOUT,
        )
    }

    /// The peer's address (`WskGetRemoteAddress`). IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// The provider's status (`STATUS_NOT_IMPLEMENTED` from Wine's built-in netio).
    pub fn peer_addr(&mut self) -> Result<SocketAddr> {
        let f = self.dispatch()?.WskGetRemoteAddress;
        socket::address(
            &self.core.raw,
            &mut self.core.blocking,
            f,
            crate::options::OPTION_TIMEOUT,
        )
    }

    /// Ends the connection (`WskDisconnect`): gracefully after optional final data (at most
    /// [`CHUNK`] bytes), or abortively. The socket stays open (receive what the peer still
    /// sends, then close). IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// `STATUS_INVALID_BUFFER_SIZE` for final data over [`CHUNK`]; the provider's status.
    pub fn disconnect(&mut self, how: Disconnect<'_>, timeout: Duration) -> Result<()> {
        let disconnect_fn = self.dispatch()?.WskDisconnect;
        disconnect_on(&mut self.core, disconnect_fn, how, timeout)
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

/// `WskSend` of up to [`CHUNK`] bytes through `send_fn` (a connection's or a stream
/// socket's). IRQL: PASSIVE_LEVEL.
pub(crate) fn send_on(
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
    let raw = &mut core.raw;
    let (sent, _) = core.blocking.run(
        CHUNK,
        timeout,
        |m| {
            if let Some(dst) = m
                .buffer
                .as_mut()
                .and_then(|b| b.as_mut_slice().get_mut(..len))
            {
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

/// `WskReceive` of up to `out.len()` (at most [`CHUNK`]) bytes through `receive_fn`.
/// IRQL: PASSIVE_LEVEL.
pub(crate) fn receive_on(
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
    let raw = &mut core.raw;
    let (received, memory) = core.blocking.run(
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

/// `WskDisconnect` through `disconnect_fn`. IRQL: PASSIVE_LEVEL.
pub(crate) fn disconnect_on(
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
    let raw = &mut core.raw;
    core.blocking
        .run(
            if len == 0 { 0 } else { CHUNK },
            timeout,
            |m| {
                if let Some(dst) = m
                    .buffer
                    .as_mut()
                    .and_then(|b| b.as_mut_slice().get_mut(..len))
                {
                    dst.copy_from_slice(data);
                }
            },
            |irp, m| {
                let mut wsk_buf = if len == 0 {
                    None
                } else {
                    m.buffer.as_ref().and_then(|b| b.wsk_buf(0, len))
                };
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

/// Build of Windows 10, version 1703, the first whose WSK dispatch tables have `WskConnectEx`,
/// `WskSendEx` and `WskReceiveEx` (the pages' "Minimum supported client").
const WIN10_1703_BUILD: u32 = 15063;
/// `sizeof(RTL_OSVERSIONINFOW)`.
const OSVERSIONINFO_SIZE: u32 = 276;
const _: () =
    assert!(core::mem::size_of::<sys::RTL_OSVERSIONINFOW>() == OSVERSIONINFO_SIZE as usize);

/// Whether the running Windows' connection dispatch table has the `WskConnectEx` member.
/// IRQL: PASSIVE_LEVEL.
fn has_connect_ex() -> bool {
    // SAFETY: every field of the structure is an integer; all zeros is a valid value.
    let mut info: sys::RTL_OSVERSIONINFOW = unsafe { core::mem::zeroed() };
    info.dwOSVersionInfoSize = OSVERSIONINFO_SIZE;
    // SAFETY: `info` is writable and its size field set, as the page requires.
    let status = unsafe { sys::RtlGetVersion(&raw mut info) };
    NtStatus(status).is_success()
        && (info.dwMajorVersion, info.dwBuildNumber) >= (10, WIN10_1703_BUILD)
}

/// `WskConnectEx` through `connect_ex_fn` on a bound socket, sending `data` (at most
/// [`ConnectionSocket::MAX_CONNECT_DATA`] bytes, checked by the caller) with the connection;
/// returns the bytes the provider reports sent. IRQL: PASSIVE_LEVEL.
pub(crate) fn connect_ex_on(
    raw: &mut RawSocket,
    blocking: &mut Blocking,
    connect_ex_fn: unsafe extern "C" fn(
        *mut sys::WSK_SOCKET,
        *mut sys::SOCKADDR,
        *mut sys::WSK_BUF,
        u32,
        *mut sys::IRP,
    ) -> i32,
    remote: SocketAddr,
    data: &[u8],
    timeout: Duration,
) -> Result<usize> {
    let socket = raw.as_ptr();
    let len = data.len();
    let (sent, _) = blocking.run(
        len,
        timeout,
        |m| {
            m.addresses[1] = SockAddr::from(remote);
            if let Some(dst) = m
                .buffer
                .as_mut()
                .and_then(|b| b.as_mut_slice().get_mut(..len))
            {
                dst.copy_from_slice(data);
            }
        },
        |irp, m| {
            let mut wsk_buf = if len == 0 {
                None
            } else {
                m.buffer.as_ref().and_then(|b| b.wsk_buf(0, len))
            };
            if len > 0 && wsk_buf.is_none() {
                return NtStatus::INSUFFICIENT_RESOURCES.0;
            }
            let buffer = wsk_buf.as_mut().map_or(ptr::null_mut(), ptr::from_mut);
            // SAFETY: the socket is open and bound; the address and the data (described by
            // `wsk_buf`, copied by WSK) live in the request's memory until it completes;
            // Flags must be 0.
            unsafe { connect_ex_fn(socket, m.addresses[1].as_mut_ptr(), buffer, 0, irp) }
        },
        || {
            let _ = raw.close();
        },
    )?;
    Ok(sent)
}
