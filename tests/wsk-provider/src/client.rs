//! Client registration (`WskRegister` ... `WskDeregister`) and the provider dispatch table
//! (`WskSocket`, `WskSocketConnect`, `WskControlClient`, name resolution).

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use windows_sys::Win32::Networking::WinSock as ws;
use wsk_bindings::{self as sys, make_wsk_version, NtStatus};
use wskrs_provider_model::dispatch;

use crate::addr::Addr;
use crate::irp::PendingIrp;
use crate::ops::{Kind, Op};
use crate::socket::{fail, new_winsock_socket, Category, Socket};

/// The WSK NPI version this provider implements.
pub(crate) const VERSION: u16 = make_wsk_version(1, 0);

/// How long `WskDeregister` waits for captured NPIs and sockets before giving up (and leaking
/// the registration rather than freeing memory still in use).
const DEREGISTER_WAIT: Duration = Duration::from_secs(10);

/// One registered client: what `WSK_CLIENT *` points to.
pub(crate) struct Client {
    /// Open sockets (not yet closed by the client).
    pub(crate) sockets: AtomicUsize,
    /// Captured provider NPIs not yet released.
    captures: AtomicUsize,
    /// Events enabled by `WSK_SET_STATIC_EVENT_CALLBACKS` (see `events.rs`).
    pub(crate) static_events: AtomicU32,
    /// Whether the client has created a socket (static events must come before).
    pub(crate) created_sockets: AtomicBool,
}

impl Client {
    /// Borrows the client behind a `WSK_CLIENT *` (a new reference).
    ///
    /// # Safety
    /// `p` is null or a `WSK_CLIENT *` this provider returned and whose registration is live.
    unsafe fn from_ptr(p: *mut sys::WSK_CLIENT) -> Option<Arc<Client>> {
        // SAFETY: caller's contract.
        unsafe { Self::borrow(p) }
    }

    /// Borrows the client behind a `WSK_CLIENT *` (a new reference).
    ///
    /// # Safety
    /// As [`Client::from_ptr`].
    pub(crate) unsafe fn borrow(p: *mut sys::WSK_CLIENT) -> Option<Arc<Client>> {
        if p.is_null() {
            return None;
        }
        let p = p.cast_const().cast::<Client>();
        // SAFETY: the registration's reference keeps the client alive (caller's contract).
        unsafe { Arc::increment_strong_count(p) };
        // SAFETY: we own the reference just added.
        Some(unsafe { Arc::from_raw(p) })
    }
}

/// The client of a registration, if registered.
///
/// # Safety
/// `registration` is null or a `WSK_REGISTRATION` passed to `WskRegister`.
unsafe fn client_of(registration: *const sys::WSK_REGISTRATION) -> *mut sys::WSK_CLIENT {
    if registration.is_null() {
        return std::ptr::null_mut();
    }
    // SAFETY: caller's contract.
    unsafe { (*registration).ReservedRegistrationContext.cast() }
}

/// `WskRegister`.
///
/// # Safety
/// WSK contract: both pointers valid until `WskDeregister`.
pub(crate) unsafe fn register(
    npi: *const sys::WSK_CLIENT_NPI,
    registration: *mut sys::WSK_REGISTRATION,
) -> NtStatus {
    if npi.is_null() || registration.is_null() {
        return NtStatus::INVALID_PARAMETER;
    }
    crate::fault::configure();
    crate::verify::configure();
    if let Err(status) = crate::engine::get() {
        return status;
    }
    let client = Arc::new(Client {
        sockets: AtomicUsize::new(0),
        captures: AtomicUsize::new(0),
        static_events: AtomicU32::new(0),
        created_sockets: AtomicBool::new(false),
    });
    // SAFETY: the registration is writable (caller's contract); its reserved fields are ours.
    unsafe {
        (*registration).ReservedRegistrationContext = Arc::into_raw(client).cast_mut().cast();
    };
    crate::trace::trace_line!("WskRegister {registration:p}");
    NtStatus::SUCCESS
}

/// `WskDeregister`: waits for every captured NPI to be released and every socket closed.
///
/// # Safety
/// As [`register`].
pub(crate) unsafe fn deregister(registration: *mut sys::WSK_REGISTRATION) {
    // SAFETY: caller's contract.
    let p = unsafe { client_of(registration) };
    if p.is_null() {
        return;
    }
    let client = p.cast_const().cast::<Client>();
    // SAFETY: the registration's reference is alive until we drop it below.
    let c = unsafe { &*client };
    let start = Instant::now();
    while (c.captures.load(Ordering::Acquire) > 0 || c.sockets.load(Ordering::Acquire) > 0)
        && start.elapsed() < DEREGISTER_WAIT
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    crate::trace::trace_line!(
        "WskDeregister {registration:p}: {} capture(s), {} socket(s) left",
        c.captures.load(Ordering::Acquire),
        c.sockets.load(Ordering::Acquire)
    );
    // SAFETY: the registration is writable; after this the client pointer is forgotten.
    unsafe { (*registration).ReservedRegistrationContext = std::ptr::null_mut() };
    // SAFETY: releases the registration's reference (from Arc::into_raw in `register`);
    // sockets still open hold their own.
    unsafe { Arc::decrement_strong_count(client) };
}

/// `WskCaptureProviderNPI`: always available at once (the provider is this DLL).
///
/// # Safety
/// WSK contract: `registration` registered, `npi` writable.
pub(crate) unsafe fn capture(
    registration: *mut sys::WSK_REGISTRATION,
    npi: *mut sys::WSK_PROVIDER_NPI,
) -> NtStatus {
    // SAFETY: caller's contract.
    let p = unsafe { client_of(registration) };
    if p.is_null() || npi.is_null() {
        return NtStatus::INVALID_PARAMETER;
    }
    // SAFETY: p is the live client of this registration.
    unsafe {
        (*p.cast::<Client>())
            .captures
            .fetch_add(1, Ordering::AcqRel)
    };
    // SAFETY: `npi` is writable (caller's contract).
    unsafe {
        npi.write(sys::WSK_PROVIDER_NPI {
            Client: p,
            Dispatch: &raw const PROVIDER_DISPATCH,
        });
    };
    NtStatus::SUCCESS
}

/// `WskReleaseProviderNPI`.
///
/// # Safety
/// As [`capture`].
pub(crate) unsafe fn release(registration: *mut sys::WSK_REGISTRATION) {
    // SAFETY: caller's contract.
    let p = unsafe { client_of(registration) };
    if !p.is_null() {
        // SAFETY: live client; never below zero.
        let _ = unsafe {
            (*p.cast::<Client>())
                .captures
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
        };
    }
}

/// The provider dispatch (`WSK_PROVIDER_DISPATCH`), version 1.0.
static PROVIDER_DISPATCH: sys::WSK_PROVIDER_DISPATCH = sys::WSK_PROVIDER_DISPATCH {
    Version: VERSION,
    Reserved: 0,
    WskSocket: Some(dispatch::socket::<WinsockProvider>),
    WskSocketConnect: Some(dispatch::socket_connect::<WinsockProvider>),
    WskControlClient: Some(dispatch::control_client::<WinsockProvider>),
    WskGetAddressInfo: Some(dispatch::get_address_info::<WinsockProvider>),
    WskFreeAddressInfo: Some(crate::names::wsk_free_address_info),
    WskGetNameInfo: Some(dispatch::get_name_info::<WinsockProvider>),
};

/// This provider's handlers of the routines whose parameter lists it shares with the host
/// fake ([`dispatch`]): each lives with its subject (options, control, names, sockets).
pub(crate) struct WinsockProvider;

impl dispatch::Provider for WinsockProvider {
    const SOCKET: dispatch::Handler<dispatch::Socket> = wsk_socket;
    const SOCKET_CONNECT: dispatch::Handler<dispatch::SocketConnect> = wsk_socket_connect;
    const CONTROL_CLIENT: dispatch::Handler<dispatch::ControlClient> =
        crate::control::wsk_control_client;
    const GET_ADDRESS_INFO: dispatch::Handler<dispatch::GetAddressInfo> =
        crate::names::wsk_get_address_info;
    const GET_NAME_INFO: dispatch::Handler<dispatch::GetNameInfo> = crate::names::wsk_get_name_info;
    const CONTROL_SOCKET: dispatch::Handler<dispatch::ControlSocket> =
        crate::options::wsk_control_socket;
    const ACCEPT: dispatch::Handler<dispatch::Accept> = crate::socket::wsk_accept;
    const SEND_TO: dispatch::Handler<dispatch::SendTo> = crate::socket::wsk_send_to;
    const RECEIVE_FROM: dispatch::Handler<dispatch::ReceiveFrom> = crate::socket::wsk_receive_from;
}

/// Creates the Winsock socket and its WSK socket object (`WskSocket`'s parameters).
#[allow(clippy::too_many_arguments)]
fn create(
    client: &Arc<Client>,
    category: Category,
    family: u16,
    socket_type: u16,
    protocol: u32,
    context: *mut c_void,
    dispatch: *const c_void,
    process: sys::PEPROCESS,
    security: *mut sys::SECURITY_DESCRIPTOR,
) -> Result<Arc<Socket>, NtStatus> {
    if let Some(status) = crate::fault::inject("socket") {
        return Err(status);
    }
    let engine = crate::engine::get()?;
    client.created_sockets.store(true, Ordering::Release);
    let s = new_winsock_socket(family, socket_type, protocol)?;
    if let Err(e) = engine.associate(s) {
        // SAFETY: just created, ours.
        unsafe { ws::closesocket(s) };
        return Err(e);
    }
    let socket = Socket::new(
        Arc::clone(client),
        category,
        family,
        socket_type,
        protocol,
        s,
        context,
        dispatch,
    );
    crate::events::created(&socket);
    if !process.is_null() {
        // SAFETY: WSK contract: a process object the caller keeps alive during the call.
        let pid = unsafe { sys::PsGetProcessId(process) } as usize;
        socket.set_owner(u32::try_from(pid).unwrap_or(0));
    }
    if !security.is_null() {
        let sd = crate::security::CACHE
            .find(security.cast())
            .ok_or(NtStatus::INVALID_PARAMETER);
        match sd.and_then(|sd| socket.set_security(sd)) {
            Ok(()) => {}
            Err(e) => {
                socket.discard();
                return Err(e);
            }
        }
    }
    Ok(socket)
}

/// `WskSocket` ([`dispatch::Provider`]).
///
/// # Safety
/// The WSK contract of `WskSocket` for `call`'s parameters.
unsafe fn wsk_socket(call: dispatch::Socket) -> sys::NTSTATUS {
    let (client, family, socket_type, protocol) =
        (call.client, call.family, call.socket_type, call.protocol);
    let (flags, context, dispatch) = (call.flags, call.context, call.dispatch);
    let (process, security, irp) = (call.process, call.security, call.irp);
    // SAFETY: WSK contract: the client's IRP with a stack location for us, or null.
    let Some(irp) = (unsafe { PendingIrp::take(irp, "WskSocket", std::ptr::null()) }) else {
        return NtStatus::INVALID_PARAMETER.0;
    };
    // SAFETY: WSK contract: the WSK_CLIENT from the captured NPI.
    let Some(client) = (unsafe { Client::from_ptr(client) }) else {
        return fail(irp, NtStatus::INVALID_HANDLE).0;
    };
    let category = match flags {
        sys::WSK_FLAG_BASIC_SOCKET => Category::Basic,
        sys::WSK_FLAG_LISTEN_SOCKET => Category::Listen,
        sys::WSK_FLAG_CONNECTION_SOCKET => Category::Connection,
        sys::WSK_FLAG_DATAGRAM_SOCKET => Category::Datagram,
        // Windows 10 1703+: a socket that WskListen or WskConnect later commits to a role.
        sys::WSK_FLAG_STREAM_SOCKET if socket_type == sys::SOCK_STREAM_TYPE => Category::Stream,
        _ => return fail(irp, NtStatus::INVALID_PARAMETER).0,
    };
    #[allow(clippy::useless_conversion)]
    let family = u16::try_from(family).unwrap_or(0);
    match create(
        &client,
        category,
        family,
        socket_type,
        protocol,
        context,
        dispatch,
        process,
        security,
    ) {
        Ok(socket) => {
            let handle = Socket::into_handle(socket);
            crate::trace::trace_line!("WskSocket {category:?} family {family} -> {handle:p}");
            irp.complete(NtStatus::SUCCESS, handle as usize);
            NtStatus::PENDING.0
        }
        Err(e) => {
            irp.complete(e, 0);
            NtStatus::PENDING.0
        }
    }
}

/// `WskSocketConnect` ([`dispatch::Provider`]).
///
/// # Safety
/// The WSK contract of `WskSocketConnect` for `call`'s parameters.
unsafe fn wsk_socket_connect(call: dispatch::SocketConnect) -> sys::NTSTATUS {
    let (client, socket_type, protocol, flags) =
        (call.client, call.socket_type, call.protocol, call.flags);
    let (local, remote) = (call.local, call.remote);
    let (context, dispatch, security, irp) = (call.context, call.dispatch, call.security, call.irp);
    let process = call.process;
    // SAFETY: as in wsk_socket.
    let Some(irp) = (unsafe { PendingIrp::take(irp, "WskSocketConnect", std::ptr::null()) }) else {
        return NtStatus::INVALID_PARAMETER.0;
    };
    // SAFETY: as in wsk_socket.
    let Some(client) = (unsafe { Client::from_ptr(client) }) else {
        return fail(irp, NtStatus::INVALID_HANDLE).0;
    };
    // SAFETY: WSK contract: readable addresses of their family's size.
    let (Some(local), Some(remote)) = (unsafe { Addr::read(local) }, unsafe { Addr::read(remote) })
    else {
        return fail(irp, NtStatus::INVALID_PARAMETER).0;
    };
    if flags != 0 || local.family() != remote.family() {
        return fail(irp, NtStatus::INVALID_PARAMETER).0;
    }
    let socket = match create(
        &client,
        Category::Connection,
        remote.family(),
        socket_type,
        protocol,
        context,
        dispatch.cast(),
        process,
        security,
    ) {
        Ok(s) => s,
        Err(e) => return fail(irp, e).0,
    };
    // The socket is bound here, synchronously; the connect completes the IRP.
    let Some(h) = socket.raw_handle() else {
        socket.discard();
        return fail(irp, NtStatus::INVALID_DEVICE_STATE).0;
    };
    let bound = crate::sharing::bind(&socket, h, &local, || {
        // SAFETY: `local` holds `len` valid bytes.
        if unsafe { ws::bind(h, local.as_ptr(), local.len) } != 0 {
            return crate::status::last_wsa();
        }
        NtStatus::SUCCESS
    });
    if !bound.is_success() {
        socket.discard();
        irp.complete(bound, 0);
        return NtStatus::PENDING.0;
    }
    socket.mark_bound();
    Op::start(
        socket,
        irp,
        Kind::Connect {
            remote: Box::new(remote),
            hand_over: true,
            data: Vec::new(),
        },
    )
    .0
}
