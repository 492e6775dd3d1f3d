//! [`ConnectionSocket`]: a connected TCP socket (`WSK_FLAG_CONNECTION_SOCKET`): how it
//! connects, and the calls only this category has (`WskConnectEx`, buffer chains). Its data
//! calls are [`ConnectedSocket`]'s.

use core::mem::ManuallyDrop;
use core::net::SocketAddr;
use core::ptr::{self, NonNull};
use core::time::Duration;

use wsk_bindings as sys;

use crate::irp::Blocking;
use crate::socket::connected::{ConnectedSocket, Connection};
use crate::socket::{self, BindOptions, Category, RawSocket, SocketCore, SocketOwner};
use crate::{Error, NtStatus, Result, SockAddr, WskClient};

/// A connected TCP socket (`WSK_FLAG_CONNECTION_SOCKET`): from
/// [`ConnectionSocket::connect`], or accepted on a [`crate::ListenSocket`]. Its data calls
/// (`send`, `receive`, `disconnect`, addresses, `close`) are [`ConnectedSocket`]'s; this
/// category adds [`ConnectionSocket::connect_with_data`] and buffer chains. To serve it
/// without a thread, start a [`crate::task::ConnectionTask`] on it. Dropping it closes it
/// (bounded wait, PASSIVE_LEVEL).
///
/// ```
/// # use wskrs_fake_kernel as fake; // on the host: the fake kernel and WSK provider
/// # let _kernel = fake::Kernel::start();
/// # let timeout = core::time::Duration::from_secs(5);
/// # // SAFETY: the fake kernel's device object lives for the whole process.
/// # let client = unsafe { wsk::WskClient::register(fake::device(), timeout) }?;
/// # let (mut listener, server) = {
/// #     let mut l = wsk::ListenSocket::bind(&client, "127.0.0.1:0".parse().unwrap(), timeout)?;
/// #     let a = l.local_addr()?;
/// #     (l, a)
/// # };
/// use wsk::ConnectionSocket;
///
/// let mut connection = ConnectionSocket::connect(&client, server, None, timeout)?;
/// connection.send_all(b"ping", timeout)?;
/// # let (mut peer, _) = listener.accept(timeout)?;
/// # let mut got = [0u8; 4];
/// # assert_eq!(peer.receive(&mut got, timeout)?, 4);
/// # peer.send_all(b"pong", timeout)?;
/// let mut reply = [0u8; 64];
/// let n = connection.receive(&mut reply, timeout)?;
/// assert_eq!(&reply[..n], b"pong");
/// connection.close()?;
/// # drop((peer, listener));
/// # assert!(client.shutdown(timeout));
/// # Ok::<(), wsk::Error>(())
/// ```
pub type ConnectionSocket = ConnectedSocket<Connection>;

impl ConnectedSocket<Connection> {
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
        Self::socket_connect_as(client, remote, local, SocketOwner::Creator, timeout)
    }

    /// [`ConnectionSocket::socket_connect`] on behalf of `owner`.
    fn socket_connect_as(
        client: &WskClient,
        remote: SocketAddr,
        local: Option<SocketAddr>,
        owner: SocketOwner,
        timeout: Duration,
    ) -> Result<Self> {
        let (npi_client, dispatch) = client.provider();
        let Some(socket_connect_fn) = dispatch.WskSocketConnect else {
            return Err(Error::new(NtStatus::NOT_IMPLEMENTED));
        };
        let local = local
            .or_else(|| SockAddr::unspecified_like(&remote).to_socket_addr())
            .unwrap_or(remote);
        let owning_process = owner.process();
        let mut blocking = Blocking::new();
        let (info, _) = blocking
            .request(timeout)
            .fill(|m| {
                m.local = SockAddr::from(local);
                m.remote = SockAddr::from(remote);
            })
            .start(|irp, m| {
                // SAFETY: the NPI is captured for the client's lifetime; both addresses live in
                // the request's memory; no context, client dispatch or descriptor; the owning
                // process is NULL or the current one, alive for this call.
                unsafe {
                    socket_connect_fn(
                        npi_client,
                        sys::SOCK_STREAM_TYPE,
                        sys::IPPROTO_TCP,
                        m.local.as_mut_ptr(),
                        m.remote.as_mut_ptr(),
                        0,
                        ptr::null_mut(),
                        ptr::null(),
                        owning_process,
                        ptr::null_mut(),
                        ptr::null_mut(),
                        irp,
                    )
                }
            })?;
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
        if options.is_empty() {
            match Self::socket_connect_as(client, remote, local, options.owner, timeout) {
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
    /// Not run as a doctest: the host's fake provider models one without `WskConnectEx`.
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
                Self::from_core(SocketCore {
                    raw,
                    blocking,
                    client: client.clone(),
                }),
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
        Ok(Self::from_core(SocketCore {
            raw,
            blocking,
            client: client.clone(),
        }))
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
            .request(timeout)
            .fill(|m| m.remote = SockAddr::from(remote))
            .close_if_stuck(raw)
            // SAFETY: the socket is open and bound; the address lives in the request's memory.
            .start(|irp, m| unsafe { connect_fn(socket, m.remote.as_mut_ptr(), 0, irp) })
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
        let result = self
            .core
            .blocking
            .request(timeout)
            .fill(|m| m.chain = moved.take())
            .close_if_stuck(&mut self.core.raw)
            .start(|irp, m| {
                let Some(mut wsk_buf) = m.chain.as_ref().and_then(|c| c.wsk_buf(offset, len))
                else {
                    return NtStatus::INVALID_BUFFER_SIZE.0;
                };
                start(irp, &mut wsk_buf)
            })
            .map(|(n, _)| n.min(len));
        // Back to the caller: from the request's memory, or never handed over at all.
        if let Some(back) = moved.or_else(|| self.core.blocking.take_chain()) {
            *chain = back;
        }
        result
    }
}

/// A connection just accepted, as a listen handler ([`crate::task::ListenHandler`]) or an
/// accept callback ([`crate::events::ListenEvents`]) receives it, at IRQL <= DISPATCH_LEVEL.
/// It has no blocking calls (they need PASSIVE_LEVEL), so the callback cannot block on it by
/// mistake: start a [`crate::task::ConnectionTask`] on it, close it with
/// [`AcceptedConnection::close_later`] (dropping it does the same), or keep it and take the
/// blocking [`ConnectionSocket`] out with [`AcceptedConnection::into_socket`] where
/// PASSIVE_LEVEL code will use it.
///
/// # Invariants
/// `socket` is a connected socket that is taken out (and never used again) only by
/// `into_socket` or `drop`.
pub struct AcceptedConnection {
    socket: ManuallyDrop<ConnectionSocket>,
}

impl AcceptedConnection {
    /// A connection the provider handed over on `client`'s listen socket.
    pub(crate) fn new(socket: NonNull<sys::WSK_SOCKET>, client: WskClient) -> Self {
        Self {
            socket: ManuallyDrop::new(ConnectionSocket::from_raw(
                RawSocket::accepted(socket),
                client,
            )),
        }
    }

    /// The blocking connection socket. IRQL: any; the socket's own calls, and dropping it,
    /// need PASSIVE_LEVEL.
    #[must_use]
    pub fn into_socket(self) -> ConnectionSocket {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped or used again, so the socket is taken out once.
        unsafe { ManuallyDrop::take(&mut this.socket) }
    }

    /// Closes the connection on a worker thread. IRQL <= DISPATCH_LEVEL.
    pub fn close_later(self) {
        self.into_socket().close_later();
    }

    /// Gives the socket up without closing it (the provider closes a rejected connection).
    pub(crate) fn forget(self) {
        // The raw socket has no Drop: splitting the handle forgets it without closing.
        let (_raw, _client) = self.into_socket().into_parts();
    }
}

impl From<AcceptedConnection> for ConnectionSocket {
    fn from(accepted: AcceptedConnection) -> Self {
        accepted.into_socket()
    }
}

impl Drop for AcceptedConnection {
    fn drop(&mut self) {
        // SAFETY: `drop` runs once and nothing uses the socket after it.
        let socket = unsafe { ManuallyDrop::take(&mut self.socket) };
        socket.close_later();
    }
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
    let (sent, _) = blocking
        .request(timeout)
        .buffer(len)
        .fill(|m| {
            m.remote = SockAddr::from(remote);
            if let Some(dst) = m
                .buffer
                .as_mut()
                .and_then(|b| b.as_mut_slice().get_mut(..len))
            {
                dst.copy_from_slice(data);
            }
        })
        .close_if_stuck(raw)
        .start(|irp, m| {
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
            unsafe { connect_ex_fn(socket, m.remote.as_mut_ptr(), buffer, 0, irp) }
        })?;
    Ok(sent)
}
