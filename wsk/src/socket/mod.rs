//! Socket categories and their blocking calls, one file each: [`crate::BasicSocket`]
//! (`basic.rs`), [`crate::ListenSocket`] (`listen.rs`), [`crate::ConnectionSocket`]
//! (`connection.rs`), [`crate::DatagramSocket`] (`datagram.rs`), [`crate::StreamSocket`] and
//! its roles (`stream.rs`); the data calls both connected categories share
//! ([`crate::ConnectedSocket`], `connected.rs`).
//!
//! This module owns what every category shares: the provider socket pointer
//! ([`RawSocket`]), [`SocketCore`], creation, bind, addresses and control requests, and
//! [`BindOptions`]. The categories are distinct types, so an operation a category lacks does
//! not compile. Dropping a socket closes it (bounded wait).

pub(crate) mod basic;
pub(crate) mod connected;
pub(crate) mod connection;
pub(crate) mod datagram;
pub(crate) mod listen;
pub(crate) mod stream;

use core::net::SocketAddr;
use core::ptr::{self, NonNull};
use core::time::Duration;

use wsk_bindings as sys;

use crate::irp::Blocking;
use crate::{Error, NtStatus, Result, SockAddr, WskClient};

/// Largest chunk one blocking send or receive moves (the size of the socket's own buffer).
pub(crate) const CHUNK: usize = 64 * 1024;

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

    /// A socket the provider just handed over (accepted, or created by WskSocketConnect).
    pub(crate) fn accepted(socket: NonNull<sys::WSK_SOCKET>) -> Self {
        crate::held::socket(true);
        // INVARIANT: the provider returned it open, as a connection socket.
        Self { socket, open: true }
    }

    pub(crate) fn is_open(&self) -> bool {
        self.open
    }

    /// The basic dispatch of the open socket (every category's table starts with it).
    ///
    /// # Errors
    /// `STATUS_INVALID_HANDLE` once the socket is closed.
    pub(crate) fn basic_dispatch(&self) -> Result<&sys::WSK_PROVIDER_BASIC_DISPATCH> {
        if !self.open {
            return Err(Error::new(NtStatus::INVALID_HANDLE));
        }
        // SAFETY: every category's dispatch starts with the basic dispatch; the socket is open.
        Ok(unsafe { self.dispatch::<sys::WSK_PROVIDER_BASIC_DISPATCH>() })
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
        crate::held::socket(false);
        let Some(close) = close else {
            return Err(Error::new(NtStatus::NOT_IMPLEMENTED));
        };
        let mut blocking = Blocking::new();
        blocking
            .request(CLOSE_TIMEOUT)
            // SAFETY: the socket is open and closed exactly once (`open` was true).
            .start(|irp, _| unsafe { close(socket, irp) })
            .map(|_| ())
    }
}

/// What every socket type owns: the provider socket, its blocking-request slot and its
/// client. Dropping it closes the socket (bounded wait, PASSIVE_LEVEL).
pub struct SocketCore {
    pub(crate) raw: RawSocket,
    pub(crate) blocking: Blocking,
    pub(crate) client: WskClient,
}

impl SocketCore {
    /// The provider socket and client, without closing the socket (for tasks that take it over).
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
}

/// Closes `raw` on a worker thread (closing waits, which is not allowed at DISPATCH_LEVEL).
/// If no work item can be had, the socket stays open rather than block. IRQL <= DISPATCH_LEVEL.
#[allow(clippy::needless_pass_by_value)] // takes ownership of the client reference it hands over
pub(crate) fn close_later(raw: RawSocket, client: WskClient) {
    let core = SocketCore {
        raw,
        blocking: Blocking::new(),
        client: client.clone(),
    };
    if let Err(core) = client.defer(core, drop) {
        core::mem::forget(core);
    }
}

impl SocketCore {
    /// Creates a socket of `category` for `local`'s family, applies `options` and binds it to
    /// `local` through the bind function `bind_fn` reads from its dispatch table; the socket
    /// is closed on failure. IRQL: PASSIVE_LEVEL.
    pub(crate) fn bind(
        client: &WskClient,
        local: SocketAddr,
        category: Category,
        options: BindOptions<'_>,
        timeout: Duration,
    ) -> Result<Self> {
        let family = SockAddr::socket_family(&local);
        let (raw, blocking) = create(client, family, category, options, timeout)?;
        // From here dropping `core` closes the socket.
        let mut core = Self {
            raw,
            blocking,
            client: client.clone(),
        };
        // SAFETY: `core.raw` was just created with `category`.
        let bind_fn = unsafe { category.bind_fn(&core.raw) };
        bind(&core.raw, &mut core.blocking, bind_fn, local, timeout)?;
        Ok(core)
    }

    /// `WskGetLocalAddress` or `WskGetRemoteAddress` through `address_fn`, read from the
    /// socket's dispatch table. IRQL: PASSIVE_LEVEL.
    pub(crate) fn address(
        &mut self,
        address_fn: sys::PFN_WSK_GET_LOCAL_ADDRESS,
    ) -> Result<SocketAddr> {
        address(
            &self.raw,
            &mut self.blocking,
            address_fn,
            crate::options::OPTION_TIMEOUT,
        )
    }
}

impl Drop for SocketCore {
    fn drop(&mut self) {
        let _ = self.raw.close();
    }
}

/// Socket category and protocol for `WskSocket`.
#[derive(Clone, Copy)]
pub(crate) enum Category {
    Listen,
    Connection,
    Datagram,
    /// `WSK_FLAG_BASIC_SOCKET` over TCP (`false`) or UDP (`true`).
    Basic {
        datagram: bool,
    },
    /// `WSK_FLAG_STREAM_SOCKET` (TCP).
    Stream,
}

impl Category {
    fn flags(self) -> u32 {
        match self {
            Self::Listen => sys::WSK_FLAG_LISTEN_SOCKET,
            Self::Connection => sys::WSK_FLAG_CONNECTION_SOCKET,
            Self::Datagram => sys::WSK_FLAG_DATAGRAM_SOCKET,
            Self::Basic { .. } => sys::WSK_FLAG_BASIC_SOCKET,
            Self::Stream => sys::WSK_FLAG_STREAM_SOCKET,
        }
    }

    /// `WskBind` of a socket of this category, from the category's provider dispatch table
    /// (basic sockets have none).
    ///
    /// # Safety
    /// `raw` was created with this category's flags (so its dispatch table is the category's).
    pub(crate) unsafe fn bind_fn(self, raw: &RawSocket) -> sys::PFN_WSK_BIND {
        match self {
            // SAFETY: the caller's contract: the dispatch table is the listen dispatch.
            Self::Listen => unsafe { raw.dispatch::<sys::WSK_PROVIDER_LISTEN_DISPATCH>() }.WskBind,
            Self::Connection => {
                // SAFETY: as above, the connection dispatch.
                unsafe { raw.dispatch::<sys::WSK_PROVIDER_CONNECTION_DISPATCH>() }.WskBind
            }
            Self::Datagram => {
                // SAFETY: as above, the datagram dispatch.
                unsafe { raw.dispatch::<sys::WSK_PROVIDER_DATAGRAM_DISPATCH>() }.WskBind
            }
            // SAFETY: as above, the stream dispatch.
            Self::Stream => unsafe { raw.dispatch::<sys::WSK_PROVIDER_STREAM_DISPATCH>() }.WskBind,
            Self::Basic { .. } => None,
        }
    }

    fn type_and_protocol(self) -> (u16, u32) {
        match self {
            Self::Listen | Self::Connection | Self::Stream | Self::Basic { datagram: false } => {
                (sys::SOCK_STREAM_TYPE, sys::IPPROTO_TCP)
            }
            Self::Datagram | Self::Basic { datagram: true } => {
                (sys::SOCK_DGRAM_TYPE, sys::IPPROTO_UDP)
            }
        }
    }
}

/// On whose behalf a socket is created: `WskSocket`'s `OwningProcess`, whose security context
/// is the one checked when the socket asks to share an address another socket holds
/// ("Sharing Transport Addresses": the `CHECK` cells).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SocketOwner {
    /// `OwningProcess` NULL: the context of the process that creates the socket.
    #[default]
    Creator,
    /// The process current when the socket is created (`IoGetCurrentProcess`): in a
    /// top-level driver's dispatch routine, the process that sent the request.
    CurrentProcess,
}

impl SocketOwner {
    /// `OwningProcess` for `WskSocket` / `WskSocketConnect`; not referenced, valid while the
    /// current thread runs in that process (for the creating call). IRQL <= DISPATCH_LEVEL.
    pub(crate) fn process(self) -> sys::PEPROCESS {
        match self {
            Self::Creator => ptr::null_mut(),
            // SAFETY: no preconditions; the current thread's process outlives the call.
            Self::CurrentProcess => unsafe { sys::IoGetCurrentProcess() },
        }
    }
}

/// Options applied between creating a socket and binding it (they only take effect then).
#[derive(Clone, Copy, Default)]
pub struct BindOptions<'a> {
    /// On whose behalf the socket is created ([`SocketOwner`]).
    pub owner: SocketOwner,
    /// `SO_REUSEADDR`: allow binding an address in use.
    pub reuse_address: bool,
    /// `SO_EXCLUSIVEADDRUSE`: forbid any other socket from binding this address.
    pub exclusive_address: bool,
    /// `IPV6_V6ONLY` for IPv6 sockets: `Some(false)` makes a dual-stack socket.
    pub ipv6_only: Option<bool>,
    /// `SO_WSK_SECURITY`: the cached descriptor that protects the bound address, applied
    /// with `WskControlSocket` after the socket is created and before it is bound (it must
    /// outlive only the creating call).
    pub security: Option<&'a crate::security::CachedSecurityDescriptor>,
    /// The cached descriptor passed to `WskSocket` itself (its `SecurityDescriptor`
    /// parameter), the other documented way to secure a socket (SO_WSK_SECURITY page:
    /// "...when the socket is first created"). It must outlive only the creating call. When
    /// both are given, `security` replaces this one before bind.
    pub creation_security: Option<&'a crate::security::CachedSecurityDescriptor>,
    /// `SIO_SET_SECURITY` (Winsock's secure socket extensions), applied after the options
    /// above and before bind, as its page requires; on Windows it also takes the address
    /// exclusively (`SO_EXCLUSIVEADDRUSE`). See [`crate::secure`].
    pub socket_security: Option<&'a crate::secure::SecuritySettings<'a>>,
    /// `SIO_SET_PEER_TARGET_NAME` before bind, hence before connect (connection sockets: the
    /// peer address is ignored; datagram sockets: the peer it names).
    pub peer_target_name: Option<&'a crate::secure::PeerTargetName<'a>>,
}

impl BindOptions<'_> {
    /// No option set: nothing to apply between `WskSocket` and `WskBind`.
    pub(crate) fn is_empty(&self) -> bool {
        !self.reuse_address
            && !self.exclusive_address
            && self.ipv6_only.is_none()
            && self.security.is_none()
            && self.creation_security.is_none()
            && self.socket_security.is_none()
            && self.peer_target_name.is_none()
    }
}

impl core::fmt::Debug for BindOptions<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BindOptions")
            .field("owner", &self.owner)
            .field("reuse_address", &self.reuse_address)
            .field("exclusive_address", &self.exclusive_address)
            .field("ipv6_only", &self.ipv6_only)
            .field("security", &self.security.is_some())
            .field("creation_security", &self.creation_security.is_some())
            .field("socket_security", &self.socket_security)
            .field("peer_target_name", &self.peer_target_name)
            .finish()
    }
}

/// The client dispatch table and context a socket's event callbacks receive.
#[derive(Clone, Copy)]
pub(crate) struct Callbacks {
    pub(crate) context: *mut core::ffi::c_void,
    pub(crate) dispatch: *const core::ffi::c_void,
}

impl Callbacks {
    /// No event callbacks.
    pub(crate) const NONE: Self = Self {
        context: ptr::null_mut(),
        dispatch: ptr::null(),
    };
}

/// Creates a socket and applies `options`, ready to bind.
pub(crate) fn create(
    client: &WskClient,
    family: u16,
    category: Category,
    options: BindOptions<'_>,
    timeout: Duration,
) -> Result<(RawSocket, Blocking)> {
    create_with(client, family, category, options, Callbacks::NONE, timeout)
}

/// Like [`create`], with event callbacks (`callbacks.context` must stay valid until the
/// socket's close completes).
pub(crate) fn create_with(
    client: &WskClient,
    family: u16,
    category: Category,
    options: BindOptions<'_>,
    callbacks: Callbacks,
    timeout: Duration,
) -> Result<(RawSocket, Blocking)> {
    let (npi_client, dispatch) = client.provider();
    let Some(socket_fn) = dispatch.WskSocket else {
        return Err(Error::new(NtStatus::NOT_IMPLEMENTED));
    };
    let (socket_type, protocol) = category.type_and_protocol();
    let creation_security = options.creation_security.map_or(
        ptr::null_mut(),
        crate::security::CachedSecurityDescriptor::as_ptr,
    );
    let owning_process = options.owner.process();
    let mut blocking = Blocking::new();
    let (info, _) = blocking.request(timeout).start(|irp, _| {
        // SAFETY: the NPI is captured for the client's lifetime; the context and dispatch
        // are NULL or valid until the socket closes (caller's contract); the owning process
        // is NULL or the current one, alive for this call; the security descriptor is NULL or
        // a cached copy alive for this call (borrowed).
        unsafe {
            socket_fn(
                npi_client,
                family,
                socket_type,
                protocol,
                category.flags(),
                callbacks.context,
                callbacks.dispatch,
                owning_process,
                ptr::null_mut(),
                creation_security,
                irp,
            )
        }
    })?;
    let socket =
        NonNull::new(info as *mut sys::WSK_SOCKET).ok_or(Error::new(NtStatus::UNSUCCESSFUL))?;
    // INVARIANT: WskSocket succeeded and returned an open socket of this category.
    let mut raw = RawSocket { socket, open: true };
    crate::held::socket(true);
    if let Err(e) = apply_bind_options(&raw, &mut blocking, family, options, timeout) {
        let _ = raw.close();
        return Err(e);
    }
    Ok((raw, blocking))
}

fn apply_bind_options(
    raw: &RawSocket,
    blocking: &mut Blocking,
    family: u16,
    options: BindOptions<'_>,
    timeout: Duration,
) -> Result<()> {
    if let Some(sd) = options.security {
        crate::security::apply_security(raw, blocking, sd, timeout)?;
    }
    if options.reuse_address {
        set_option(
            raw,
            blocking,
            sys::SOL_SOCKET,
            sys::SO_REUSEADDR,
            &1u32.to_ne_bytes(),
            timeout,
        )?;
    }
    if options.exclusive_address {
        set_option(
            raw,
            blocking,
            sys::SOL_SOCKET,
            sys::SO_EXCLUSIVEADDRUSE,
            &1u32.to_ne_bytes(),
            timeout,
        )?;
    }
    if let (Some(only), sys::AF_INET6_FAMILY) = (options.ipv6_only, family) {
        set_option(
            raw,
            blocking,
            sys::IPPROTO_IPV6,
            sys::IPV6_V6ONLY,
            &u32::from(only).to_ne_bytes(),
            timeout,
        )?;
    }
    let mut buffer = [0u8; MAX_CONTROL];
    if let Some(settings) = options.socket_security {
        let len = settings.encode(&mut buffer)?;
        let input = buffer.get(..len).unwrap_or_default();
        control(
            raw,
            blocking,
            Control::ioctl(sys::SIO_SET_SECURITY),
            input,
            &mut [],
            timeout,
        )?;
    }
    if let Some(name) = options.peer_target_name {
        let len = name.encode(&mut buffer)?;
        let input = buffer.get(..len).unwrap_or_default();
        let code = Control::ioctl(sys::SIO_SET_PEER_TARGET_NAME);
        control(raw, blocking, code, input, &mut [], timeout)?;
    }
    Ok(())
}

/// `WskBind` through the category's bind function.
/// A dispatch member the provider filled in.
///
/// # Errors
/// `STATUS_NOT_IMPLEMENTED` when the member is NULL.
pub(crate) fn present<F>(member: Option<F>) -> Result<F> {
    member.ok_or(Error::new(NtStatus::NOT_IMPLEMENTED))
}

pub(crate) fn bind(
    raw: &RawSocket,
    blocking: &mut Blocking,
    bind_fn: sys::PFN_WSK_BIND,
    local: SocketAddr,
    timeout: Duration,
) -> Result<()> {
    let Some(bind_fn) = bind_fn else {
        return Err(Error::new(NtStatus::NOT_IMPLEMENTED));
    };
    let socket = raw.as_ptr();
    blocking
        .request(timeout)
        .fill(|m| m.local = SockAddr::from(local))
        // SAFETY: the socket is open; the address lives in the request's memory.
        .start(|irp, m| unsafe { bind_fn(socket, m.local.as_mut_ptr(), 0, irp) })
        .map(|_| ())
}

/// `WskGetLocalAddress` / `WskGetRemoteAddress` through `address_fn`.
pub(crate) fn address(
    raw: &RawSocket,
    blocking: &mut Blocking,
    address_fn: sys::PFN_WSK_GET_LOCAL_ADDRESS,
    timeout: Duration,
) -> Result<SocketAddr> {
    let Some(address_fn) = address_fn else {
        return Err(Error::new(NtStatus::NOT_IMPLEMENTED));
    };
    if !raw.is_open() {
        return Err(Error::new(NtStatus::INVALID_HANDLE));
    }
    let socket = raw.as_ptr();
    // Local or remote, the provider writes the one address into the request's `local`.
    let (_, memory) = blocking
        .request(timeout)
        .fill(|m| m.local = SockAddr::empty())
        // SAFETY: the socket is open; the address storage lives in the request's memory.
        .start(|irp, m| unsafe { address_fn(socket, m.local.as_mut_ptr(), irp) })?;
    memory
        .local
        .to_socket_addr()
        .ok_or(Error::new(NtStatus::INVALID_ADDRESS))
}

/// Largest option value or control buffer passed through [`control`] (room for a peer
/// target name of 186 UTF-16 units, `crate::secure`).
pub(crate) const MAX_CONTROL: usize = 512;

/// What a `WskControlSocket` request addresses.
#[derive(Clone, Copy)]
pub(crate) struct Control {
    /// `WskSetOption`, `WskGetOption` or `WskIoctl`.
    pub(crate) request: sys::WSK_CONTROL_SOCKET_TYPE,
    /// The option name or IOCTL code.
    pub(crate) code: u32,
    /// The option level (ignored for IOCTLs).
    pub(crate) level: u32,
}

impl Control {
    /// A `WskIoctl` of `code`.
    pub(crate) const fn ioctl(code: u32) -> Self {
        Self {
            request: sys::WskIoctl,
            code,
            level: 0,
        }
    }
}

/// `WskControlSocket`: `input` is copied into the request's memory and up to `output.len()`
/// bytes are copied back; returns the bytes the provider returned.
pub(crate) fn control(
    raw: &RawSocket,
    blocking: &mut Blocking,
    what: Control,
    input: &[u8],
    output: &mut [u8],
    timeout: Duration,
) -> Result<usize> {
    let Control {
        request,
        code,
        level,
    } = what;
    if input.len() > MAX_CONTROL || output.len() > MAX_CONTROL {
        return Err(Error::new(NtStatus::INVALID_BUFFER_SIZE));
    }
    let control_fn = present(raw.basic_dispatch()?.WskControlSocket)?;
    let socket = raw.as_ptr();
    let (in_len, out_len) = (input.len(), output.len());
    let (returned, memory) = blocking
        .request(timeout)
        .buffer(2 * MAX_CONTROL)
        .fill(|m| {
            if let Some(dst) = m
                .buffer
                .as_mut()
                .and_then(|b| b.as_mut_slice().get_mut(..in_len))
            {
                dst.copy_from_slice(input);
            }
        })
        .start(|irp, m| {
            let Some(buffer) = m.buffer.as_mut() else {
                return NtStatus::INSUFFICIENT_RESOURCES.0;
            };
            let base = buffer.as_mut_slice().as_mut_ptr();
            let in_ptr = if in_len == 0 {
                ptr::null_mut()
            } else {
                base.cast()
            };
            // The output area starts after the largest input, inside the same buffer.
            let out_ptr = if out_len == 0 {
                ptr::null_mut()
            } else {
                base.wrapping_add(MAX_CONTROL).cast()
            };
            // SAFETY: the socket is open; both areas lie in the request's pool buffer
            // (2 * MAX_CONTROL bytes) and stay alive until the request completes. With an
            // IRP, the returned size comes back in IoStatus.Information.
            unsafe {
                control_fn(
                    socket,
                    request,
                    code,
                    level,
                    in_len as u64,
                    in_ptr,
                    out_len as u64,
                    out_ptr,
                    ptr::null_mut(),
                    irp,
                )
            }
        })?;
    let n = returned.min(out_len);
    let src = memory
        .buffer
        .as_ref()
        .and_then(|b| b.as_slice().get(MAX_CONTROL..MAX_CONTROL.saturating_add(n)));
    if let (Some(src), Some(dst)) = (src, output.get_mut(..n)) {
        dst.copy_from_slice(src);
    }
    Ok(n)
}

/// `WskControlSocket(WskSetOption, SO_WSK_EVENT_CALLBACK)`: enables (or, with
/// `WSK_EVENT_DISABLE`, disables) event callbacks. Synchronous: this option takes no IRP.
pub(crate) fn event_callbacks(raw: &RawSocket, mask: u32) -> Result<()> {
    let control_fn = present(raw.basic_dispatch()?.WskControlSocket)?;
    let mut control = sys::WSK_EVENT_CALLBACK_CONTROL {
        NpiId: &raw const sys::NPI_WSK_INTERFACE_ID,
        EventMask: mask,
    };
    let size = core::mem::size_of::<sys::WSK_EVENT_CALLBACK_CONTROL>() as u64;
    // SAFETY: the socket is open; the request is synchronous (no IRP), so `control` only
    // needs to live across the call.
    let status = unsafe {
        control_fn(
            raw.as_ptr(),
            sys::WskSetOption,
            sys::SO_WSK_EVENT_CALLBACK,
            sys::SOL_SOCKET,
            size,
            (&raw mut control).cast(),
            0,
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    crate::nt_result(status)
}

/// `WskControlSocket(WskSetOption)`.
pub(crate) fn set_option(
    raw: &RawSocket,
    blocking: &mut Blocking,
    level: u32,
    name: u32,
    value: &[u8],
    timeout: Duration,
) -> Result<()> {
    let what = Control {
        request: sys::WskSetOption,
        code: name,
        level,
    };
    control(raw, blocking, what, value, &mut [], timeout).map(|_| ())
}

/// `WskControlSocket(WskGetOption)` into `value`; returns the bytes written.
pub(crate) fn get_option(
    raw: &RawSocket,
    blocking: &mut Blocking,
    level: u32,
    name: u32,
    value: &mut [u8],
    timeout: Duration,
) -> Result<usize> {
    let what = Control {
        request: sys::WskGetOption,
        code: name,
        level,
    };
    control(raw, blocking, what, &[], value, timeout)
}
