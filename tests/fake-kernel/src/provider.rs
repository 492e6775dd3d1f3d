//! A scriptable fake WSK provider with byte-stream and datagram loopback.
//!
//! The dispatch tables are the `wsk-bindings` structs. Listen sockets accept connections made
//! by connection sockets of the same process; bytes sent on one end of a connection arrive at
//! the other (a send waits while the peer holds a full receive window of unread bytes);
//! datagrams go to the datagram socket bound at the destination address.
//!
//! Each call consults the script for its [`Op`] ([`script`], else [`set_default`], else
//! [`Behavior::Normal`]). Completion follows what real providers do: the provider moves the
//! IRP's current stack location down to the location the client prepared (as `IoCallDriver`
//! would have; Wine's netio does it just before completing), sets `IoStatus` and calls
//! `IofCompleteRequest`, never while holding its own lock. A pending request gets a cancel
//! routine when [`Config::honour_cancel`] says so (Windows) or not (Wine); closing a socket
//! completes its pending requests with `STATUS_CANCELLED` before the close completes.
//!
//! What it models as the Wine provider (`tests/wsk-provider`) does comes from
//! `wskrs_provider_model`, shared with it: socket options answered from one catalogue
//! (Windows' defaults, booleans read back as 0/1, the statuses of unknown options, options of
//! another kind of socket and short buffers; `SO_RCVBUF`/`SO_SNDBUF` start at the fake
//! transport's 8192), socket addresses, the parameter lists of the dispatch routines, and the
//! exchange of `Irp->CancelRoutine`.
//!
//! Name resolution (`WskGetAddressInfo`, see the `names` module) knows `localhost`
//! (127.0.0.1, then ::1), address literals and numeric services; other names are
//! `STATUS_NOT_FOUND`. `WskGetNameInfo` answers numerically. Lists not freed yet:
//! [`address_lists_live`].
//!
//! # Safety
//! The `unsafe extern "C"` functions here are WSK dispatch routines with the contracts of the
//! WSK DDIs they imitate; the client calls them through the dispatch tables.

// Field paths through bindgen's nested unions count as several unsafe operations; each such
// block is one logical access to one field of a live IRP, under one SAFETY argument.
#![allow(clippy::multiple_unsafe_ops_per_block)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::ffi::c_void;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ptr;
use std::sync::Mutex;
use std::time::Duration;

use wsk_bindings::{self as sys, sockaddr, NtStatus};
use wskrs_provider_model::secure::{self, SecureSocket};
use wskrs_provider_model::security::{self, CachedSd, ClientControl, SdCache};
use wskrs_provider_model::{self as model, dispatch, options::OptionStore};

use crate::netio::{self, Event};

mod names;
use crate::ntoskrnl;
use crate::{lock, violation, Tally};

/// A provider operation, for scripts and statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `WskSocket`.
    Socket,
    /// `WskBind`.
    Bind,
    /// `WskConnect`.
    Connect,
    /// `WskListen` (stream sockets).
    Listen,
    /// `WskAccept`.
    Accept,
    /// `WskSend`.
    Send,
    /// `WskReceive`.
    Receive,
    /// `WskDisconnect`.
    Disconnect,
    /// `WskSendTo`.
    SendTo,
    /// `WskReceiveFrom`.
    ReceiveFrom,
    /// `WskControlSocket`.
    Control,
    /// `WskCloseSocket`.
    Close,
    /// `WskGetLocalAddress`.
    LocalAddress,
    /// `WskGetRemoteAddress`.
    RemoteAddress,
    /// `WskGetNameInfo`.
    NameInfo,
    /// `WskGetAddressInfo`.
    AddressInfo,
}

/// What the provider does with one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behavior {
    /// Loopback semantics: a result available during the call completes the IRP inline
    /// (before the call returns); otherwise the request waits for data, a connection or close.
    Normal,
    /// Like `Normal`, but a result available during the call is completed from another thread
    /// after this (virtual) delay.
    Later(Duration),
    /// Like `Normal`, but the call first blocks its caller for this (virtual) time, as a
    /// provider call does that waits for the provider's own lock (Wine's netio takes its
    /// socket's lock in `WskSend` and holds it while it completes that socket's requests).
    Stall(Duration),
    /// Returns this status without completing the IRP, as Wine's stubs do.
    FailSync(NtStatus),
    /// Completes the IRP inline with this status.
    Fail(NtStatus),
    /// Never completes by itself. `cancel`: a cancel routine completes it as cancelled;
    /// `close`: closing the socket completes it as cancelled. Otherwise only
    /// [`release_stuck`] completes it.
    Hang {
        /// Honour `IoCancelIrp`.
        cancel: bool,
        /// Complete when the socket is closed.
        close: bool,
    },
}

/// Provider-wide behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Return `STATUS_PENDING` even after completing the IRP inline (Wine's netio and the
    /// wsk-rs provider do); otherwise return the completion status.
    pub pending_after_inline: bool,
    /// Waiting requests get a cancel routine (Windows); Wine's netio sets none.
    pub honour_cancel: bool,
    /// Every request the call returns `STATUS_PENDING` for is marked pending
    /// (`IoMarkIrpPending` on the provider's stack location, before anything can complete
    /// it), so the client's completion routine sees `Irp->PendingReturned` TRUE; requests
    /// completed inline whose real status is returned are not. Wine's netio marks nothing.
    pub mark_pending: bool,
}

impl Config {
    /// Windows: inline completions return their status, requests that wait are marked
    /// pending, cancellation works.
    pub const WINDOWS: Self = Self {
        pending_after_inline: false,
        honour_cancel: true,
        mark_pending: true,
    };
    /// Wine 8's netio: `STATUS_PENDING` after inline completion without marking the IRP
    /// pending, `IoCancelIrp` does nothing.
    pub const WINE: Self = Self {
        pending_after_inline: true,
        honour_cancel: false,
        mark_pending: false,
    };
    /// The wsk-rs provider (tests/wsk-provider): `STATUS_PENDING` also after an inline
    /// completion, with the IRP marked pending first (as Windows does for `WskSocket`,
    /// `WskBind`, `WskCloseSocket`); cancellation works.
    pub const WSKRS: Self = Self {
        pending_after_inline: true,
        honour_cancel: true,
        mark_pending: true,
    };
    /// Every flavour, for tests that must hold whatever the provider does.
    pub const ALL: [Self; 3] = [Self::WINDOWS, Self::WINE, Self::WSKRS];
}

/// `IoMarkIrpPending` by the provider, or its undoing: `SL_PENDING_RETURNED` in the location
/// the provider owns, the one below the client's current location (this provider moves there
/// only when it completes, see [`complete`]).
///
/// # Safety
/// The provider holds `irp`, which has a location below the current one.
unsafe fn set_pending_mark(irp: usize, on: bool) {
    let irp = irp as *mut sys::IRP;
    // SAFETY: the caller guarantees the IRP is live with a location below the current one.
    let location = unsafe { &mut *sys::irp::next_stack_location(irp) };
    // SL_PENDING_RETURNED (0x01) fits the u8 Control field.
    #[allow(clippy::cast_possible_truncation)]
    let bit = sys::SL_PENDING_RETURNED as u8;
    if on {
        location.Control |= bit;
    } else {
        location.Control &= !bit;
    }
}

/// Bytes a connection socket holds unread before its peer's sends wait (flow control); a send
/// into a window with room is taken whole, however large.
const RECEIVE_WINDOW: usize = 1 << 20;

#[derive(Clone, Copy)]
struct Buf {
    mdl: usize,
    offset: usize,
    len: usize,
}

struct Request {
    irp: usize,
    op: Op,
    buf: Option<Buf>,
    /// SOCKADDR pointers the provider writes at completion (accept: local, remote;
    /// receive-from: sender).
    addr: [usize; 2],
    /// Complete when the socket closes (hung requests only; waiting requests always do).
    on_close: bool,
}

impl Request {
    fn new(irp: *mut sys::IRP, op: Op) -> Self {
        Self {
            irp: irp as usize,
            op,
            buf: None,
            addr: [0; 2],
            on_close: true,
        }
    }
}

struct Done {
    irp: usize,
    status: i32,
    info: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Category {
    Basic,
    Listen,
    Connection,
    Datagram,
    /// `WSK_FLAG_STREAM_SOCKET` before `WskListen` or `WskConnect`; the first of them makes it
    /// a [`Category::Listen`] or a [`Category::Connection`] socket (on its stream dispatch).
    Stream,
}

impl Category {
    /// What kind of socket the option catalogue sees.
    fn option_kind(self) -> model::options::SocketKind {
        match self {
            Self::Listen | Self::Connection | Self::Stream => model::options::SocketKind::Tcp,
            Self::Datagram => model::options::SocketKind::Datagram,
            Self::Basic => model::options::SocketKind::Basic,
        }
    }
}

/// The fake transport's send and receive buffer size: the value of `SO_RCVBUF` and
/// `SO_SNDBUF` before a set ("transport-specific" on Windows).
const TRANSPORT_BUFFER: u32 = 8192;

// The flags are independent states of one socket, as a real provider keeps them.
#[allow(clippy::struct_excessive_bools)]
struct Sock {
    category: Category,
    open: bool,
    /// Handed to the client (created, or accepted), so the client must close it.
    delivered: bool,
    local: Option<SocketAddr>,
    remote: Option<SocketAddr>,
    peer: Option<usize>,
    rx: VecDeque<u8>,
    eof: bool,
    reset: bool,
    backlog: VecDeque<usize>,
    datagrams: VecDeque<(Vec<u8>, SocketAddr)>,
    waiting: VecDeque<Request>,
    /// Sends waiting for room in the peer's receive window (flow control), with their data.
    blocked: VecDeque<(Request, Vec<u8>)>,
    hung: Vec<Request>,
    /// Option values, answered as the catalogue says (`wskrs_provider_model::options`).
    options: OptionStore,
    /// `SO_WSK_SECURITY` (or `WskSocket`'s descriptor): a reference to a cached copy.
    security: Option<CachedSd>,
    /// The client's event context and dispatch table (`WskSocket`), as addresses; a stream
    /// socket's is its `WSK_CLIENT_STREAM_DISPATCH` until it takes a role.
    client_events: (usize, usize),
    /// Created as a stream socket: its role is taken from its category at `WskListen` or
    /// `WskConnect`.
    stream: bool,
    /// `WSK_EVENT_*` callbacks enabled with `SO_WSK_EVENT_CALLBACK`.
    event_mask: u32,
    /// Secure socket extensions (`SIO_SET_SECURITY` and the rest), answered by the model.
    secure: SecureSocket,
}

impl Sock {
    fn new(category: Category, delivered: bool) -> Self {
        Self {
            category,
            open: true,
            delivered,
            local: None,
            remote: None,
            peer: None,
            rx: VecDeque::new(),
            eof: false,
            reset: false,
            backlog: VecDeque::new(),
            datagrams: VecDeque::new(),
            waiting: VecDeque::new(),
            blocked: VecDeque::new(),
            hung: Vec::new(),
            options: OptionStore::new(category.option_kind(), TRANSPORT_BUFFER),
            security: None,
            client_events: (0, 0),
            stream: category == Category::Stream,
            event_mask: 0,
            secure: SecureSocket::default(),
        }
    }

    /// A stream socket takes `role` (listen or connection) with its first `WskListen` or
    /// `WskConnect`: its client dispatch becomes the matching member of the client's
    /// `WSK_CLIENT_STREAM_DISPATCH`. False if the socket is not a role-less stream socket.
    fn take_stream_role(&mut self, role: Category) -> bool {
        if self.category != Category::Stream {
            return false;
        }
        self.category = role;
        let table = self.client_events.1 as *const sys::WSK_CLIENT_STREAM_DISPATCH;
        // SAFETY: WSK contract: the WSK_CLIENT_STREAM_DISPATCH given to WskSocket (or null)
        // stays valid while the socket is open.
        if let Some(t) = unsafe { table.as_ref() } {
            self.client_events.1 = if role == Category::Listen {
                t.Listen as usize
            } else {
                t.Connect as usize
            };
        }
        true
    }
}

struct Net {
    config: Config,
    scripts: HashMap<Op, VecDeque<Behavior>>,
    defaults: HashMap<Op, Behavior>,
    calls: Tally<Op>,
    sockets: HashMap<usize, Sock>,
    /// Every socket object ever created (freed at reset).
    objects: Vec<usize>,
    /// Hung client-level requests (`WskSocket`).
    client_hung: Vec<Request>,
    bound: HashMap<SocketAddr, usize>,
    next_port: u16,
}

impl Default for Net {
    fn default() -> Self {
        Self {
            config: Config::WINDOWS,
            scripts: HashMap::new(),
            defaults: HashMap::new(),
            calls: Tally::default(),
            sockets: HashMap::new(),
            objects: Vec::new(),
            client_hung: Vec::new(),
            bound: HashMap::new(),
            next_port: 50_000,
        }
    }
}

static NET: Mutex<Option<Net>> = Mutex::new(None);
/// IRPs handed to the provider and not completed yet.
static HELD: Mutex<Option<HashSet<usize>>> = Mutex::new(None);

fn with_net<R>(f: impl FnOnce(&mut Net) -> R) -> R {
    f(lock(&NET).get_or_insert_with(Net::default))
}

fn with_held<R>(f: impl FnOnce(&mut HashSet<usize>) -> R) -> R {
    f(lock(&HELD).get_or_insert_with(HashSet::new))
}

/// Whether the provider holds `irp` (a request on it is pending).
pub(crate) fn holds(irp: *mut sys::IRP) -> bool {
    with_held(|h| h.contains(&(irp as usize)))
}

/// Hands `irp` down to a driver under test, as `IoCallDriver` does: moves to the location
/// below the current one, and lets that driver complete it (the fake counts it as held, like an
/// IRP the provider received). For tests of drivers' own dispatch and completion code.
///
/// # Safety
/// `irp` is live, owned by the caller, and has a location below the current one.
pub unsafe fn pass_down(irp: *mut sys::IRP) {
    with_held(|h| h.insert(irp as usize));
    // SAFETY: caller's contract: the location below exists; plain field writes.
    unsafe { ntoskrnl::move_location(irp, -1) };
}

/// The provider lets go of `irp` as it completes it.
pub(crate) fn release_hold(irp: *mut sys::IRP) {
    if !with_held(|h| h.remove(&(irp as usize))) {
        violation(format!(
            "IofCompleteRequest({irp:p}): the provider did not hold this IRP"
        ));
    }
}

/// Number of IRPs the provider holds.
pub(crate) fn irps_held() -> usize {
    with_held(|h| h.len())
}

pub(crate) fn reset() {
    SD_CACHE.clear();
    *lock(&RETAINED) = None;
    lock(&EVENTS).clear();
    let objects = with_net(|net| std::mem::take(net).objects);
    for object in objects {
        // SAFETY: created by Box in `new_socket`; the previous test is over, nothing uses it.
        drop(unsafe { Box::from_raw(object as *mut sys::WSK_SOCKET) });
    }
    with_held(HashSet::clear);
}

/// Sets the provider-wide behaviour (default: [`Config::WINDOWS`]).
pub fn configure(config: Config) {
    with_net(|net| net.config = config);
}

/// Queues behaviours for the next calls of `op`, one per call, before the default applies.
pub fn script(op: Op, behaviors: impl IntoIterator<Item = Behavior>) {
    with_net(|net| net.scripts.entry(op).or_default().extend(behaviors));
}

/// The behaviour of `op` calls once its script is used up.
pub fn set_default(op: Op, behavior: Behavior) {
    with_net(|net| {
        net.defaults.insert(op, behavior);
    });
}

/// Calls of `op` since [`crate::Kernel::start`].
#[must_use]
pub fn calls(op: Op) -> u64 {
    with_net(|net| net.calls.get(&op))
}

/// `WskGetAddressInfo` lists handed to clients and not freed yet.
#[must_use]
pub fn address_lists_live() -> usize {
    names::live_lists()
}

/// Sockets handed to the client and not closed.
#[must_use]
pub fn open_sockets() -> usize {
    with_net(|net| {
        net.sockets
            .values()
            .filter(|s| s.open && s.delivered)
            .count()
    })
}

/// Completes every hung request (see [`Behavior::Hang`]) with `status`; returns how many.
#[must_use = "the number of requests completed"]
pub fn release_stuck(status: NtStatus) -> usize {
    let stuck: Vec<usize> = with_net(|net| {
        let sockets = net.sockets.values_mut().flat_map(|s| s.hung.drain(..));
        sockets
            .chain(net.client_hung.drain(..))
            .map(|r| r.irp)
            .collect()
    });
    let n = stuck.len();
    for irp in stuck {
        complete(&Done {
            irp,
            status: status.0,
            info: 0,
        });
    }
    n
}

/// Security descriptors cached with `WSK_CACHE_SD` and still referenced (by the client, a
/// socket or a read of `SO_WSK_SECURITY` not yet released).
#[must_use]
pub fn cached_security_descriptors() -> usize {
    SD_CACHE.live()
}

/// Requests waiting in the provider (for data, a connection, window room, or hung).
#[must_use]
pub fn waiting_requests() -> usize {
    with_net(|net| {
        net.sockets
            .values()
            .map(|s| s.waiting.len() + s.hung.len() + s.blocked.len())
            .sum::<usize>()
            + net.client_hung.len()
    })
}

/// The provider NPI handed out by `WskCaptureProviderNPI`.
pub(crate) fn npi() -> sys::WSK_PROVIDER_NPI {
    sys::WSK_PROVIDER_NPI {
        Client: (&raw const CLIENT).cast_mut().cast(),
        Dispatch: &raw const PROVIDER,
    }
}

/// The client object (its address is all that matters).
static CLIENT: u8 = 0;

/// The security descriptors cached with `WSK_CACHE_SD` (copies made by their self-relative
/// layout).
static SD_CACHE: SdCache = SdCache::new();

/// Dispatch tables hold raw pointers (the unused `WskSendEx`/`WskReceiveEx` slots), which are
/// not `Sync`; they are immutable and point nowhere.
struct Table<T>(T);
// SAFETY: immutable data; the raw pointers in it are null.
unsafe impl<T> Sync for Table<T> {}

static PROVIDER: sys::WSK_PROVIDER_DISPATCH = sys::WSK_PROVIDER_DISPATCH {
    Version: sys::make_wsk_version(1, 0),
    Reserved: 0,
    WskSocket: Some(dispatch::socket::<Fake>),
    WskSocketConnect: Some(dispatch::socket_connect::<Fake>),
    WskControlClient: Some(dispatch::control_client::<Fake>),
    WskGetAddressInfo: Some(dispatch::get_address_info::<Fake>),
    WskFreeAddressInfo: Some(wsk_free_address_info),
    WskGetNameInfo: Some(dispatch::get_name_info::<Fake>),
};

const BASIC: sys::WSK_PROVIDER_BASIC_DISPATCH = sys::WSK_PROVIDER_BASIC_DISPATCH {
    WskControlSocket: Some(dispatch::control_socket::<Fake>),
    WskCloseSocket: Some(close_socket),
};

static LISTEN: sys::WSK_PROVIDER_LISTEN_DISPATCH = sys::WSK_PROVIDER_LISTEN_DISPATCH {
    Basic: BASIC,
    WskBind: Some(bind),
    WskAccept: Some(dispatch::accept::<Fake>),
    WskInspectComplete: None,
    WskGetLocalAddress: Some(local_address),
};

static CONNECTION: Table<sys::WSK_PROVIDER_CONNECTION_DISPATCH> =
    Table(sys::WSK_PROVIDER_CONNECTION_DISPATCH {
        Basic: BASIC,
        WskBind: Some(bind),
        WskConnect: Some(connect),
        WskGetLocalAddress: Some(local_address),
        WskGetRemoteAddress: Some(remote_address),
        WskSend: Some(send),
        WskReceive: Some(receive),
        WskDisconnect: Some(disconnect),
        WskRelease: Some(release_data),
        WskConnectEx: None,
        WskSendEx: ptr::null_mut(),
        WskReceiveEx: ptr::null_mut(),
    });

static DATAGRAM: sys::WSK_PROVIDER_DATAGRAM_DISPATCH = sys::WSK_PROVIDER_DATAGRAM_DISPATCH {
    Basic: BASIC,
    WskBind: Some(bind),
    WskSendTo: Some(dispatch::send_to::<Fake>),
    WskReceiveFrom: Some(dispatch::receive_from::<Fake>),
    WskRelease: Some(release_datagrams),
    WskGetLocalAddress: Some(local_address),
    WskSendMessages: None,
};

static STREAM: Table<sys::WSK_PROVIDER_STREAM_DISPATCH> =
    Table(sys::WSK_PROVIDER_STREAM_DISPATCH {
        Basic: BASIC,
        WskBind: Some(bind),
        WskAccept: Some(dispatch::accept::<Fake>),
        WskConnect: Some(connect),
        WskListen: Some(listen),
        WskSend: Some(send),
        WskReceive: Some(receive),
        WskDisconnect: Some(disconnect),
        WskRelease: Some(release_data),
        WskGetLocalAddress: Some(local_address),
        WskGetRemoteAddress: Some(remote_address),
        WskConnectEx: None,
        WskSendEx: ptr::null_mut(),
        WskReceiveEx: ptr::null_mut(),
    });

static BASIC_TABLE: sys::WSK_PROVIDER_BASIC_DISPATCH = BASIC;

// ------------------------------------------------------------------------------------------
// Completion

/// Completes a request the provider holds: clears the cancel routine (waiting for a running
/// one to let go of the IRP), moves to the client's stack location, completes.
fn complete(done: &Done) {
    let irp = done.irp as *mut sys::IRP;
    // SAFETY: the provider holds the IRP, so it is live.
    if unsafe { ntoskrnl::set_cancel_routine(irp, None) }.is_none() {
        // A cancel routine may be running: it holds the cancel spin lock while it reads the IRP.
        let mut irql: sys::KIRQL = 0;
        // SAFETY: plain acquire/release pair.
        unsafe { ntoskrnl::IoAcquireCancelSpinLock(&raw mut irql) };
        // SAFETY: acquired just above.
        unsafe { ntoskrnl::IoReleaseCancelSpinLock(irql) };
    }
    // SAFETY: the provider holds the IRP.
    unsafe { sys::irp::set_io_status(irp, done.status, done.info) };
    // SAFETY: as above. The client prepared the location below the current one; a provider
    // moves there before completing (what IoCallDriver does on the way down).
    unsafe { ntoskrnl::move_location(irp, -1) };
    // SAFETY: the provider holds the IRP and gives it back here.
    unsafe { ntoskrnl::IofCompleteRequest(irp, 0) };
}

/// Cancel routine of waiting requests: called by IoCancelIrp with the cancel spin lock held.
unsafe extern "C" fn cancel_routine(_device: *mut sys::DEVICE_OBJECT, irp: *mut sys::IRP) {
    // SAFETY: IoCancelIrp passes a live IRP and set CancelIrql.
    let irql = unsafe { (*irp).CancelIrql };
    let found = with_net(|net| net.take_request(irp as usize));
    // SAFETY: IoCancelIrp acquired the cancel spin lock for this routine.
    unsafe { ntoskrnl::IoReleaseCancelSpinLock(irql) };
    if found {
        complete(&Done {
            irp: irp as usize,
            status: NtStatus::CANCELLED.0,
            info: 0,
        });
    }
}

/// The common path of every call that takes an IRP.
///
/// `key` is the socket (0 for `WskSocket`); `body` runs the operation under the provider's
/// lock and returns this request's result, or `None` when it left the request waiting;
/// requests it finished on the way (a peer's receive) go to `done`.
fn call(
    op: Op,
    key: usize,
    request: Request,
    body: impl FnOnce(&mut Net, usize, Request, &mut Vec<Done>) -> Option<(NtStatus, usize)>,
) -> i32 {
    let irp = request.irp;
    let mut done = Vec::new();
    let behavior = {
        let mut guard = lock(&NET);
        let net = guard.get_or_insert_with(Net::default);
        net.calls.add(op);
        net.next_behavior(op)
    };
    if let Behavior::Stall(delay) = behavior {
        std::thread::sleep(crate::real(delay));
    }
    let (behavior, config, own) = {
        let mut guard = lock(&NET);
        let net = guard.get_or_insert_with(Net::default);
        if let Behavior::FailSync(status) = behavior {
            return status.0;
        }
        if irp == 0 {
            violation(format!("{op:?} without an IRP"));
            return NtStatus::INVALID_PARAMETER.0;
        }
        if !with_held(|h| h.insert(irp)) {
            violation(format!(
                "{op:?}: IRP {irp:#x} handed to the provider while a request is pending on it"
            ));
            return NtStatus::INVALID_PARAMETER.0;
        }
        if net.config.mark_pending {
            // Marked as soon as it is taken (before another thread can complete it); taken
            // back below if the call completes it inline and returns the real status.
            // SAFETY: the provider holds the IRP; the client prepared the location below.
            unsafe { set_pending_mark(irp, true) };
        }
        let open = key == 0 || net.sockets.get(&key).is_some_and(|s| s.open);
        let own = if open {
            match behavior {
                Behavior::Fail(status) => Some((status, 0)),
                Behavior::Hang { close, .. } => {
                    let mut request = request;
                    request.on_close = close;
                    match net.sockets.get_mut(&key) {
                        Some(s) => s.hung.push(request),
                        None => net.client_hung.push(request),
                    }
                    None
                }
                Behavior::Normal
                | Behavior::Later(_)
                | Behavior::Stall(_)
                | Behavior::FailSync(_) => body(net, key, request, &mut done),
            }
        } else {
            violation(format!(
                "{op:?} on a socket that is closed or unknown ({key:#x})"
            ));
            Some((NtStatus::INVALID_HANDLE, 0))
        };
        let own = match own {
            Some(result) => Some(result),
            None => net.make_cancellable(irp, behavior),
        };
        (behavior, net.config, own)
    };
    for d in done {
        complete(&d);
    }
    run_events();
    let Some((status, info)) = own else {
        return NtStatus::PENDING.0;
    };
    if let Behavior::Later(delay) = behavior {
        let spawned = std::thread::Builder::new()
            .name("fake-provider-later".into())
            .spawn(move || {
                std::thread::sleep(crate::real(delay));
                complete(&Done {
                    irp,
                    status: status.0,
                    info,
                });
            });
        if let Err(e) = spawned {
            panic!("fake provider: cannot spawn a completion thread: {e}");
        }
        return NtStatus::PENDING.0;
    }
    if config.mark_pending && !config.pending_after_inline {
        // Completed inline and the real status is returned: not pending after all.
        // SAFETY: the provider still holds the IRP (completed just below).
        unsafe { set_pending_mark(irp, false) };
    }
    complete(&Done {
        irp,
        status: status.0,
        info,
    });
    if config.pending_after_inline {
        NtStatus::PENDING.0
    } else {
        status.0
    }
}

/// [`call`] with the plain request of `op` on `irp`.
fn call_on(
    op: Op,
    key: usize,
    irp: *mut sys::IRP,
    body: impl FnOnce(&mut Net, usize, Request, &mut Vec<Done>) -> Option<(NtStatus, usize)>,
) -> i32 {
    call(op, key, Request::new(irp, op), body)
}

impl Net {
    fn next_behavior(&mut self, op: Op) -> Behavior {
        if let Some(b) = self.scripts.get_mut(&op).and_then(VecDeque::pop_front) {
            return b;
        }
        self.defaults.get(&op).copied().unwrap_or(Behavior::Normal)
    }

    /// A request was left waiting: give it a cancel routine if cancellation is honoured. If it
    /// was cancelled already, takes it back and returns its result (cancelled).
    fn make_cancellable(&mut self, irp: usize, behavior: Behavior) -> Option<(NtStatus, usize)> {
        let cancellable = match behavior {
            Behavior::Hang { cancel, .. } => cancel,
            _ => self.config.honour_cancel,
        };
        if !cancellable {
            return None;
        }
        let p = irp as *mut sys::IRP;
        // SAFETY: the provider holds the IRP.
        unsafe { ntoskrnl::set_cancel_routine(p, Some(cancel_routine)) };
        // SAFETY: as above.
        let cancelled = unsafe { (*p).Cancel } != 0;
        // SAFETY: as above.
        if cancelled && unsafe { ntoskrnl::set_cancel_routine(p, None) }.is_some() {
            self.take_request(irp);
            return Some((NtStatus::CANCELLED, 0));
        }
        None
    }

    /// Removes a waiting or hung request; true if it was there.
    fn take_request(&mut self, irp: usize) -> bool {
        if let Some(i) = self.client_hung.iter().position(|r| r.irp == irp) {
            self.client_hung.remove(i);
            return true;
        }
        for s in self.sockets.values_mut() {
            if let Some(i) = s.waiting.iter().position(|r| r.irp == irp) {
                s.waiting.remove(i);
                return true;
            }
            if let Some(i) = s.hung.iter().position(|r| r.irp == irp) {
                s.hung.remove(i);
                return true;
            }
            if let Some(i) = s.blocked.iter().position(|(r, _)| r.irp == irp) {
                s.blocked.remove(i);
                return true;
            }
        }
        false
    }

    fn sock(&mut self, key: usize) -> &mut Sock {
        self.sockets
            .get_mut(&key)
            .unwrap_or_else(|| panic!("fake provider: unknown socket {key:#x}"))
    }

    fn new_socket(&mut self, category: Category, delivered: bool) -> usize {
        let dispatch: *const c_void = match category {
            Category::Basic => (&raw const BASIC_TABLE).cast(),
            Category::Listen => (&raw const LISTEN).cast(),
            Category::Connection => (&raw const CONNECTION.0).cast(),
            Category::Datagram => (&raw const DATAGRAM).cast(),
            Category::Stream => (&raw const STREAM.0).cast(),
        };
        let object = Box::into_raw(Box::new(sys::WSK_SOCKET { Dispatch: dispatch })) as usize;
        self.objects.push(object);
        self.sockets.insert(object, Sock::new(category, delivered));
        if delivered {
            netio::record(Event::SocketOpened);
        }
        object
    }

    fn ephemeral(&mut self, ip: IpAddr) -> SocketAddr {
        self.next_port = self.next_port.wrapping_add(1).max(50_000);
        SocketAddr::new(ip, self.next_port)
    }

    /// The open socket of `category` bound at `addr` (or at the unspecified address, same port).
    fn find_bound(&self, addr: SocketAddr, category: Category) -> Option<usize> {
        let any = SocketAddr::new(unspecified(addr.ip()), addr.port());
        [addr, any]
            .into_iter()
            .filter_map(|a| self.bound.get(&a).copied())
            .find(|k| {
                self.sockets
                    .get(k)
                    .is_some_and(|s| s.open && s.category == category)
            })
    }

    /// Completes what can complete on socket `key`: receives with data (or end of stream),
    /// receive-froms with a datagram, accepts with a connection.
    fn pump(&mut self, key: usize, done: &mut Vec<Done>) {
        loop {
            self.refill(key, done);
            let s = self.sock(key);
            let Some(front) = s.waiting.front() else {
                return;
            };
            let result = match front.op {
                Op::Receive if !s.rx.is_empty() => {
                    let Some(r) = s.waiting.pop_front() else {
                        return;
                    };
                    let n = copy_out(&r, &mut s.rx);
                    (r, NtStatus::SUCCESS, n)
                }
                Op::Receive if s.reset || s.eof => {
                    let status = if s.reset {
                        NtStatus::CONNECTION_RESET
                    } else {
                        NtStatus::SUCCESS
                    };
                    let Some(r) = s.waiting.pop_front() else {
                        return;
                    };
                    (r, status, 0)
                }
                Op::ReceiveFrom if !s.datagrams.is_empty() => {
                    let Some(r) = s.waiting.pop_front() else {
                        return;
                    };
                    let Some((data, from)) = s.datagrams.pop_front() else {
                        return;
                    };
                    let mut bytes: VecDeque<u8> = data.into();
                    let n = copy_out(&r, &mut bytes);
                    // SAFETY: the client keeps the address storage alive while the request is pending.
                    unsafe { write_addr(r.addr[0], from) };
                    (r, NtStatus::SUCCESS, n)
                }
                Op::Accept if !s.backlog.is_empty() => {
                    let Some(r) = s.waiting.pop_front() else {
                        return;
                    };
                    let Some(accepted) = s.backlog.pop_front() else {
                        return;
                    };
                    let a = self.sock(accepted);
                    a.delivered = true;
                    let (local, remote) = (a.local, a.remote);
                    netio::record(Event::SocketOpened);
                    for (slot, addr) in r.addr.iter().zip([local, remote]) {
                        if let Some(addr) = addr {
                            // SAFETY: as above.
                            unsafe { write_addr(*slot, addr) };
                        }
                    }
                    (r, NtStatus::SUCCESS, accepted)
                }
                _ => return,
            };
            let (r, status, info) = result;
            done.push(Done {
                irp: r.irp,
                status: status.0,
                info,
            });
        }
    }

    /// Queues `request` on socket `key`, completes what can complete, and returns this
    /// request's result if it completed.
    fn wait(
        &mut self,
        key: usize,
        request: Request,
        done: &mut Vec<Done>,
    ) -> Option<(NtStatus, usize)> {
        let irp = request.irp;
        self.sock(key).waiting.push_back(request);
        self.pump(key, done);
        let i = done.iter().position(|d| d.irp == irp)?;
        let d = done.remove(i);
        Some((NtStatus(d.status), d.info))
    }

    /// Moves the peer's blocked sends into `key`'s receive window while it has room.
    fn refill(&mut self, key: usize, done: &mut Vec<Done>) {
        let Some(sender) = self.sock(key).peer else {
            return;
        };
        while self.sock(key).rx.len() < RECEIVE_WINDOW {
            let Some((r, data)) = self.sock(sender).blocked.pop_front() else {
                return;
            };
            self.sock(key).rx.extend(&data);
            done.push(Done {
                irp: r.irp,
                status: NtStatus::SUCCESS.0,
                info: data.len(),
            });
        }
    }

    /// Bytes arrive at `peer`.
    fn deliver(&mut self, peer: usize, data: &[u8], done: &mut Vec<Done>) {
        let p = self.sock(peer);
        let idle = p.waiting.iter().all(|r| r.op != Op::Receive) && p.rx.is_empty();
        if p.event_mask & sys::WSK_EVENT_RECEIVE != 0 && idle && !data.is_empty() {
            lock(&EVENTS).push_back(Indicate::Receive(peer, data.to_vec()));
            return;
        }
        p.rx.extend(data);
        self.pump(peer, done);
    }

    fn close(&mut self, key: usize, done: &mut Vec<Done>) {
        let retained = lock(&RETAINED)
            .as_ref()
            .is_some_and(|r| r.values().any(|c| c.socket == key));
        if retained {
            violation("WskCloseSocket with retained indications not released (WskRelease first)");
        }
        let s = self.sock(key);
        s.open = false;
        s.security = None;
        let cancelled = NtStatus::CANCELLED.0;
        done.extend(s.waiting.drain(..).map(|r| Done {
            irp: r.irp,
            status: cancelled,
            info: 0,
        }));
        done.extend(s.blocked.drain(..).map(|(r, _)| Done {
            irp: r.irp,
            status: cancelled,
            info: 0,
        }));
        let (finish, keep): (Vec<Request>, Vec<Request>) =
            s.hung.drain(..).partition(|r| r.on_close);
        s.hung = keep;
        done.extend(finish.into_iter().map(|r| Done {
            irp: r.irp,
            status: cancelled,
            info: 0,
        }));
        let backlog: Vec<usize> = s.backlog.drain(..).collect();
        let (peer, local, delivered) = (s.peer.take(), s.local, s.delivered);
        if let Some(local) = local {
            if self.bound.get(&local) == Some(&key) {
                self.bound.remove(&local);
            }
        }
        for never_accepted in backlog {
            self.close(never_accepted, done);
        }
        if let Some(peer) = peer {
            let p = self.sock(peer);
            p.peer = None;
            p.eof = true;
            // Sends still waiting for this socket's window can never be delivered.
            let reset = NtStatus::CONNECTION_RESET.0;
            done.extend(p.blocked.drain(..).map(|(r, _)| Done {
                irp: r.irp,
                status: reset,
                info: 0,
            }));
            self.pump(peer, done);
        }
        if delivered {
            netio::record(Event::SocketClosed);
        }
    }
}

fn unspecified(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

// ------------------------------------------------------------------------------------------
// Memory the client passes

/// Copies a `WSK_BUF` (the provider keeps its own copy, as WSK does) after checking its MDL.
///
/// # Safety
/// `buf` is null or points to a `WSK_BUF`.
unsafe fn take_buf(buf: *const sys::WSK_BUF, op: Op) -> Result<Option<Buf>, NtStatus> {
    if buf.is_null() {
        return Ok(None);
    }
    // SAFETY: caller's contract.
    let b = unsafe { *buf };
    let mdl = b.Mdl;
    if !ntoskrnl::is_live_mdl(mdl) {
        violation(format!(
            "{op:?}: WSK_BUF with an MDL that is not live ({mdl:p})"
        ));
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let (offset, len) = (
        b.Offset as usize,
        usize::try_from(b.Length).unwrap_or(usize::MAX),
    );
    // The WSK_BUF may run through the chain (`Next`): every MDL on the way must be live and
    // built for nonpaged pool, and the chain must hold `Offset + Length` bytes (Windows
    // bugchecks otherwise).
    let mut held = 0usize;
    let mut m = mdl;
    let needed = offset.checked_add(len);
    while !m.is_null() && needed.is_some_and(|n| held < n) {
        if !ntoskrnl::is_live_mdl(m) {
            violation(format!(
                "{op:?}: MDL chain with a link that is not live ({m:p})"
            ));
            return Err(NtStatus::INVALID_PARAMETER);
        }
        // SAFETY: a live MDL.
        let link = unsafe { &*m };
        #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
        // MDL flags fit a CSHORT
        let mapped = (sys::MDL_SOURCE_IS_NONPAGED_POOL | sys::MDL_MAPPED_TO_SYSTEM_VA) as i16;
        if link.MdlFlags & mapped == 0 {
            violation(format!("{op:?}: MDL not built for nonpaged pool"));
            return Err(NtStatus::INVALID_PARAMETER);
        }
        held += link.ByteCount as usize;
        m = link.Next;
    }
    if needed.is_none_or(|end| end > held) {
        violation(format!(
            "{op:?}: WSK_BUF {offset}+{len} longer than its MDL chain ({held} bytes)"
        ));
        return Err(NtStatus::INVALID_PARAMETER);
    }
    Ok(Some(Buf {
        mdl: mdl as usize,
        offset,
        len,
    }))
}

/// The pieces of memory a request's buffer describes, in order (one per MDL of the chain it
/// spans), or `None` (a violation) if one of its MDLs was freed.
fn segments<'a>(buf: Buf) -> Option<Vec<&'a mut [u8]>> {
    let mut out = Vec::new();
    let (mut skip, mut left) = (buf.offset, buf.len);
    let mut mdl = buf.mdl as *mut sys::MDL;
    while left > 0 {
        if !ntoskrnl::is_live_mdl(mdl) {
            violation("the MDL of a pending request was freed before the request completed");
            return None;
        }
        // SAFETY: a live MDL built for nonpaged pool (checked in take_buf): MappedSystemVa
        // maps ByteCount bytes. The client owns the memory and lets the provider use it while
        // the request is pending.
        let (base, count, next) = unsafe {
            (
                (*mdl).MappedSystemVa.cast::<u8>(),
                (*mdl).ByteCount as usize,
                (*mdl).Next,
            )
        };
        if skip < count {
            let take = (count - skip).min(left);
            // SAFETY: `skip + take <= ByteCount`, inside the mapping.
            out.push(unsafe { std::slice::from_raw_parts_mut(base.add(skip), take) });
            left -= take;
            skip = 0;
        } else {
            skip -= count;
        }
        mdl = next;
    }
    Some(out)
}

/// The bytes a request's buffer describes, gathered (`None`: an MDL was freed).
fn gather(buf: Buf) -> Option<Vec<u8>> {
    segments(buf).map(|parts| parts.concat())
}

/// Moves up to the request's buffer length from `from` into the buffer; returns the count.
fn copy_out(request: &Request, from: &mut VecDeque<u8>) -> usize {
    let Some(parts) = request.buf.and_then(segments) else {
        return 0;
    };
    let mut n = 0;
    for dst in parts {
        let take = dst.len().min(from.len());
        for (d, s) in dst.iter_mut().zip(from.drain(..take)) {
            *d = s;
        }
        n += take;
    }
    n
}

/// Writes `addr` as SOCKADDR_IN or SOCKADDR_IN6 at `p` (0: nowhere).
///
/// # Safety
/// `p` is 0 or points to storage for a SOCKADDR_IN6.
unsafe fn write_addr(p: usize, addr: SocketAddr) {
    if p != 0 {
        // SAFETY: caller's contract: room for a SOCKADDR_IN6.
        unsafe { model::sockaddr::write(p as *mut sys::SOCKADDR, addr) };
    }
}

// ------------------------------------------------------------------------------------------
// Client-level dispatch (WSK_PROVIDER_DISPATCH)

unsafe extern "C" fn wsk_free_address_info(
    _client: *mut sys::WSK_CLIENT,
    info: *mut sys::ADDRINFOEXW,
) {
    // SAFETY: the client passes a list this provider returned (checked before use).
    unsafe { names::free_list(info) };
}

/// The fake's handling of the routines whose parameter lists the providers share
/// ([`model::dispatch`]).
struct Fake;

impl dispatch::Provider for Fake {
    const SOCKET: dispatch::Handler<dispatch::Socket> = wsk_socket;
    const SOCKET_CONNECT: dispatch::Handler<dispatch::SocketConnect> = wsk_socket_connect;
    const CONTROL_CLIENT: dispatch::Handler<dispatch::ControlClient> = wsk_control_client;
    const GET_ADDRESS_INFO: dispatch::Handler<dispatch::GetAddressInfo> = wsk_get_address_info;
    const GET_NAME_INFO: dispatch::Handler<dispatch::GetNameInfo> = wsk_get_name_info;
    const CONTROL_SOCKET: dispatch::Handler<dispatch::ControlSocket> = control_socket;
    const ACCEPT: dispatch::Handler<dispatch::Accept> = accept;
    const SEND_TO: dispatch::Handler<dispatch::SendTo> = send_to;
    const RECEIVE_FROM: dispatch::Handler<dispatch::ReceiveFrom> = receive_from;
}

/// `WskSendTo` (`dispatch::Provider::SEND_TO`).
///
/// # Safety
/// The WSK contract of `WskSendTo`.
unsafe fn send_to(routine: dispatch::SendTo) -> sys::NTSTATUS {
    let (socket, buf, remote, irp) = (routine.socket, routine.buffer, routine.remote, routine.irp);
    // SAFETY: the client passes a WSK_BUF.
    let buf = unsafe { take_buf(buf, Op::SendTo) };
    // SAFETY: the client passes a socket address.
    let to = unsafe { model::sockaddr::read(remote) };
    call_on(Op::SendTo, socket as usize, irp, |net, key, _, done| {
        let buf = match buf {
            Ok(Some(b)) => b,
            Ok(None) => return Some((NtStatus::INVALID_PARAMETER, 0)),
            Err(status) => return Some((status, 0)),
        };
        let Some(to) = to else {
            return Some((NtStatus::INVALID_ADDRESS, 0));
        };
        let Some(data) = gather(buf) else {
            return Some((NtStatus::INVALID_PARAMETER, 0));
        };
        let from = match net.sock(key).local {
            Some(l) if l.ip().is_unspecified() => SocketAddr::new(to.ip(), l.port()),
            Some(l) => l,
            None => return Some((NtStatus::INVALID_DEVICE_STATE, 0)),
        };
        let len = data.len();
        if let Some(target) = net.find_bound(to, Category::Datagram) {
            let t = net.sock(target);
            if t.event_mask & sys::WSK_EVENT_RECEIVE_FROM != 0 && t.waiting.is_empty() {
                lock(&EVENTS).push_back(Indicate::ReceiveFrom(target, vec![(data, from)]));
            } else {
                t.datagrams.push_back((data, from));
                net.pump(target, done);
            }
        }
        Some((NtStatus::SUCCESS, len))
    })
}

/// `WskAccept` (`dispatch::Provider::ACCEPT`).
///
/// # Safety
/// The WSK contract of `WskAccept`.
unsafe fn accept(routine: dispatch::Accept) -> sys::NTSTATUS {
    let (socket, dispatch, irp) = (routine.socket, routine.dispatch, routine.irp);
    let (local, remote) = (routine.local, routine.remote);
    if !dispatch.is_null() {
        violation("WskAccept with a client dispatch: event callbacks are not faked");
    }
    let mut request = Request::new(irp, Op::Accept);
    request.addr = [local as usize, remote as usize];
    call(Op::Accept, socket as usize, request, Net::wait)
}

/// `WskSocket` (`dispatch::Provider::SOCKET`).
///
/// # Safety
/// The WSK contract of `WskSocket`.
unsafe fn wsk_socket(routine: dispatch::Socket) -> sys::NTSTATUS {
    let (client, flags, irp) = (routine.client, routine.flags, routine.irp);
    let (context, dispatch) = (routine.context, routine.dispatch);
    if client != (&raw const CLIENT).cast_mut().cast() {
        violation("WskSocket with a client that is not the captured NPI's");
    }
    let category = match flags {
        sys::WSK_FLAG_LISTEN_SOCKET => Category::Listen,
        sys::WSK_FLAG_CONNECTION_SOCKET => Category::Connection,
        sys::WSK_FLAG_DATAGRAM_SOCKET => Category::Datagram,
        sys::WSK_FLAG_STREAM_SOCKET => Category::Stream,
        _ => Category::Basic,
    };
    if !dispatch.is_null() && category == Category::Basic {
        violation("WskSocket of a basic socket with a client dispatch");
    }
    let events = (context as usize, dispatch as usize);
    let descriptor = routine.security as usize;
    call_on(Op::Socket, 0, irp, |net, _, _, _| {
        let security = match descriptor {
            0 => None,
            sd => match SD_CACHE.find(sd as *const c_void) {
                Some(sd) => Some(sd),
                None => return Some((NtStatus::INVALID_PARAMETER, 0)),
            },
        };
        let socket = net.new_socket(category, true);
        let s = net.sock(socket);
        s.client_events = events;
        s.security = security;
        Some((NtStatus::SUCCESS, socket))
    })
}

/// `WskSocketConnect` (`dispatch::Provider::SOCKET_CONNECT`).
///
/// # Safety
/// The WSK contract of `WskSocketConnect`.
unsafe fn wsk_socket_connect(_: dispatch::SocketConnect) -> sys::NTSTATUS {
    NtStatus::NOT_IMPLEMENTED.0
}

/// `WskControlClient` (`dispatch::Provider::CONTROL_CLIENT`).
///
/// # Safety
/// The WSK contract of `WskControlClient`.
unsafe fn wsk_control_client(routine: dispatch::ControlClient) -> sys::NTSTATUS {
    if routine.client != (&raw const CLIENT).cast_mut().cast() {
        violation("WskControlClient with a client that is not the captured NPI's");
    }
    if !routine.irp.is_null() {
        violation("WskControlClient with an IRP (the documented codes take none)");
    }
    let (status, bytes) = match ClientControl::of(routine.code) {
        ClientControl::CacheSd => {
            let copy = |sd| {
                // SAFETY: WSK contract: `sd` is the client's security descriptor.
                unsafe { security::copy_self_relative(sd) }
            };
            // SAFETY: WSK contract: PSECURITY_DESCRIPTOR variables of their sizes.
            unsafe { security::cache_sd(&routine, &SD_CACHE, copy) }
        }
        // SAFETY: as above.
        ClientControl::ReleaseSd => (unsafe { security::release_sd(&routine, &SD_CACHE) }, 0),
        // The fake keeps no static event callbacks.
        ClientControl::SetStaticEventCallbacks | ClientControl::Unsupported => {
            (NtStatus::NOT_SUPPORTED, 0)
        }
    };
    if !routine.returned.is_null() {
        // SAFETY: the client passes a writable SIZE_T or null.
        unsafe { routine.returned.write(bytes as sys::SIZE_T) };
    }
    status.0
}

/// `WskGetAddressInfo` (`dispatch::Provider::GET_ADDRESS_INFO`).
///
/// # Safety
/// The WSK contract of `WskGetAddressInfo`.
unsafe fn wsk_get_address_info(routine: dispatch::GetAddressInfo) -> sys::NTSTATUS {
    let (client, irp, result) = (routine.client, routine.irp, routine.result);
    if client != (&raw const CLIENT).cast_mut().cast() {
        violation("WskGetAddressInfo with a client that is not the captured NPI's");
    }
    if result.is_null() {
        violation("WskGetAddressInfo without a result pointer");
    }
    // SAFETY: the client passes NULL or a UNICODE_STRING with `Length` readable bytes.
    let (node, service) = unsafe { (read_unicode(routine.node), read_unicode(routine.service)) };
    let result = result as usize;
    call_on(Op::AddressInfo, 0, irp, move |_, _, _, _| {
        let addresses = match names::resolve(node.as_deref().unwrap_or(""), service.as_deref()) {
            Ok(addresses) => addresses,
            Err(status) => return Some((status, 0)),
        };
        let head = names::build_list(&addresses);
        // SAFETY: the client's result pointer stays valid until the request completes.
        unsafe { (result as *mut *mut sys::ADDRINFOEXW).write(head) };
        Some((NtStatus::SUCCESS, 0))
    })
}

/// The text of the UNICODE_STRING at `p` (`None` for NULL).
///
/// # Safety
/// `p` is null or points to a UNICODE_STRING whose `Buffer` has `Length` readable bytes.
unsafe fn read_unicode(p: *const sys::UNICODE_STRING) -> Option<String> {
    // SAFETY: caller's contract.
    let s = unsafe { p.as_ref() }?;
    if s.Buffer.is_null() {
        return Some(String::new());
    }
    let units = usize::from(s.Length) / 2;
    // SAFETY: caller's contract: `Length` readable bytes at `Buffer`.
    let text = unsafe { std::slice::from_raw_parts(s.Buffer, units) };
    Some(String::from_utf16_lossy(text))
}

/// `WskGetNameInfo` (`dispatch::Provider::GET_NAME_INFO`).
///
/// # Safety
/// The WSK contract of `WskGetNameInfo`.
unsafe fn wsk_get_name_info(routine: dispatch::GetNameInfo) -> sys::NTSTATUS {
    let (client, addr, length, irp) =
        (routine.client, routine.address, routine.length, routine.irp);
    let (node, service) = (routine.node, routine.service);
    if client != (&raw const CLIENT).cast_mut().cast() {
        violation("WskGetNameInfo with a client that is not the captured NPI's");
    }
    if node.is_null() && service.is_null() {
        violation("WskGetNameInfo with neither NodeName nor ServiceName");
    }
    let (a, n, sv) = (addr as usize, node as usize, service as usize);
    // Numeric answers: the host as its address text, the service as its port number.
    call_on(Op::NameInfo, 0, irp, move |_, _, _, _| {
        if a == 0 || (length as usize) < std::mem::size_of::<sys::SOCKADDR_IN>() {
            return Some((NtStatus::INVALID_PARAMETER, 0));
        }
        // SAFETY: the client passes a socket address of `length` bytes.
        let Some(remote) = (unsafe { model::sockaddr::read(a as *const sys::SOCKADDR) }) else {
            return Some((NtStatus::INVALID_PARAMETER, 0));
        };
        for (p, text) in [
            (n, remote.ip().to_string()),
            (sv, remote.port().to_string()),
        ] {
            // SAFETY: the client passes NULL or a UNICODE_STRING with a writable buffer.
            if let Err(status) = unsafe { write_unicode(p, &text) } {
                return Some((status, 0));
            }
        }
        Some((NtStatus::SUCCESS, 0))
    })
}

/// `WskControlSocket` (`dispatch::Provider::CONTROL_SOCKET`).
///
/// # Safety
/// The WSK contract of `WskControlSocket`.
unsafe fn control_socket(routine: dispatch::ControlSocket) -> sys::NTSTATUS {
    let (socket, irp, input, output) = (routine.socket, routine.irp, routine.input, routine.output);
    let (input_size, output_size) = (routine.input_len(), routine.output_len());
    let (request_type, level, code) = (routine.request, routine.level, routine.code);
    let returned = routine.returned;
    if routine.is_event_callback() {
        // SAFETY: the client passes `input_size` bytes (checked below before reading).
        return unsafe { event_callback_option(socket as usize, input, input_size, irp) };
    }
    call_on(Op::Control, socket as usize, irp, |net, key, _, _| {
        let s = net.sock(key);
        let security_option = level == sys::SOL_SOCKET && code == sys::SO_WSK_SECURITY;
        let has_irp = !irp.is_null();
        match request_type {
            sys::WskSetOption if security_option => {
                // SAFETY: the client passes `input_size` readable bytes.
                let sd = unsafe { security::option_to_set(&SD_CACHE, input, input_size, has_irp) };
                let status = match sd {
                    Ok(_) if s.local.is_some() => security::SET_AFTER_BIND,
                    Ok(sd) => {
                        s.security = Some(sd);
                        NtStatus::SUCCESS
                    }
                    Err(status) => status,
                };
                Some((status, 0))
            }
            sys::WskGetOption if security_option => {
                let current = s.security.as_ref().map(CachedSd::add_ref);
                // SAFETY: the client passes `output_size` writable bytes.
                let (status, n) =
                    unsafe { security::write_option(current, output, output_size, has_irp) };
                if !returned.is_null() {
                    // SAFETY: the client passes a writable SIZE_T or null.
                    unsafe { returned.write(n as sys::SIZE_T) };
                }
                Some((status, n))
            }
            sys::WskSetOption => {
                let value = (!input.is_null()).then(|| {
                    // SAFETY: the client passes `input_size` readable bytes.
                    unsafe { std::slice::from_raw_parts(input.cast::<u8>(), input_size) }
                });
                let status = s.options.set(level, code, value).err();
                Some((status.unwrap_or(NtStatus::SUCCESS), 0))
            }
            sys::WskGetOption => {
                let room = if output.is_null() { 0 } else { output_size };
                let value = match s.options.get(level, code, room) {
                    Ok(value) => value,
                    Err(status) => return Some((status, 0)),
                };
                let n = value.len();
                // SAFETY: the client passes `output_size` writable bytes; the store
                // answers only values that fit.
                unsafe { ptr::copy_nonoverlapping(value.as_ptr(), output.cast::<u8>(), n) };
                if !returned.is_null() {
                    // SAFETY: the client passes a writable SIZE_T or null.
                    unsafe { returned.write(n as sys::SIZE_T) };
                }
                Some((NtStatus::SUCCESS, n))
            }
            sys::WskIoctl if secure::is_secure_socket_code(code) => {
                let input = (!input.is_null()).then(|| {
                    // SAFETY: the client passes `input_size` readable bytes.
                    unsafe { std::slice::from_raw_parts(input.cast::<u8>(), input_size) }
                });
                let output = (!output.is_null()).then(|| {
                    // SAFETY: the client passes `output_size` writable bytes.
                    unsafe { std::slice::from_raw_parts_mut(output.cast::<u8>(), output_size) }
                });
                let phase = secure::Phase {
                    kind: match s.category {
                        Category::Connection | Category::Stream => secure::Kind::Connection,
                        Category::Listen => secure::Kind::Listen,
                        Category::Datagram => secure::Kind::Datagram,
                        Category::Basic => secure::Kind::Basic,
                    },
                    family: match s.local {
                        Some(SocketAddr::V6(_)) => sys::AF_INET6_FAMILY,
                        _ => sys::AF_INET_FAMILY,
                    },
                    bound: s.local.is_some(),
                    connected: s.remote.is_some() && s.category != Category::Datagram,
                };
                let answer = s.secure.ioctl(phase, code, input, output);
                if answer.status == NtStatus::SUCCESS && answer.exclusive_address {
                    let on = 1u32.to_ne_bytes();
                    let set = s
                        .options
                        .set(sys::SOL_SOCKET, sys::SO_EXCLUSIVEADDRUSE, Some(&on));
                    if let Err(status) = set {
                        return Some((status, 0));
                    }
                }
                if !returned.is_null() {
                    // SAFETY: the client passes a writable SIZE_T or null.
                    unsafe { returned.write(answer.returned as sys::SIZE_T) };
                }
                Some((answer.status, answer.returned))
            }
            _ => Some((NtStatus::INVALID_DEVICE_REQUEST, 0)),
        }
    })
}

/// `WskReceiveFrom` (`dispatch::Provider::RECEIVE_FROM`).
///
/// # Safety
/// The WSK contract of `WskReceiveFrom`.
unsafe fn receive_from(routine: dispatch::ReceiveFrom) -> sys::NTSTATUS {
    let (socket, buf, remote, irp) = (routine.socket, routine.buffer, routine.remote, routine.irp);
    let (control_length, control_flags) = (routine.control_length, routine.control_flags);
    // The fake has no control information: 0 bytes of it and no flags (written now; the
    // client's ULONGs stay valid until the IRP completes).
    for p in [control_length, control_flags] {
        if !p.is_null() {
            // SAFETY: the client's ULONG when not null (WSK contract).
            unsafe { p.write_unaligned(0) };
        }
    }
    // SAFETY: the client passes a WSK_BUF.
    let buf = unsafe { take_buf(buf, Op::ReceiveFrom) };
    let mut request = Request::new(irp, Op::ReceiveFrom);
    request.addr[0] = remote as usize;
    call_on(
        Op::ReceiveFrom,
        socket as usize,
        irp,
        |net, key, _, done| {
            match buf {
                Ok(Some(b)) => request.buf = Some(b),
                Ok(None) => return Some((NtStatus::INVALID_PARAMETER, 0)),
                Err(status) => return Some((status, 0)),
            }
            net.wait(key, request, done)
        },
    )
}

/// Writes `text` NUL-terminated into the UNICODE_STRING at `p` (0: nowhere) and sets `Length`.
///
/// # Safety
/// `p` is 0 or points to a UNICODE_STRING whose `Buffer` has `MaximumLength` writable bytes.
unsafe fn write_unicode(p: usize, text: &str) -> Result<(), NtStatus> {
    if p == 0 {
        return Ok(());
    }
    // SAFETY: caller's contract.
    let s = unsafe { &mut *(p as *mut sys::UNICODE_STRING) };
    let units: Vec<u16> = text.encode_utf16().chain([0]).collect();
    if units.len() * 2 > usize::from(s.MaximumLength) || s.Buffer.is_null() {
        return Err(NtStatus::BUFFER_TOO_SMALL);
    }
    // SAFETY: checked to fit in `MaximumLength` bytes of the caller's buffer.
    unsafe { ptr::copy_nonoverlapping(units.as_ptr(), s.Buffer, units.len()) };
    s.Length = u16::try_from((units.len() - 1) * 2).unwrap_or(u16::MAX);
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Socket dispatch

unsafe extern "C" fn close_socket(
    socket: *mut sys::WSK_SOCKET,
    irp: *mut sys::IRP,
) -> sys::NTSTATUS {
    call_on(Op::Close, socket as usize, irp, |net, key, _, done| {
        net.close(key, done);
        Some((NtStatus::SUCCESS, 0))
    })
}

/// `SO_WSK_EVENT_CALLBACK`: synchronous, without an IRP (WSK requires NULL).
///
/// # Safety
/// `input` points to `input_size` readable bytes or is null.
unsafe fn event_callback_option(
    key: usize,
    input: *mut c_void,
    input_size: usize,
    irp: *mut sys::IRP,
) -> sys::NTSTATUS {
    if !irp.is_null() {
        violation("SO_WSK_EVENT_CALLBACK with an IRP (WSK requires NULL)");
        return NtStatus::INVALID_PARAMETER.0;
    }
    if input.is_null() || input_size < std::mem::size_of::<sys::WSK_EVENT_CALLBACK_CONTROL>() {
        return NtStatus::INVALID_PARAMETER.0;
    }
    // SAFETY: checked size; the client passes a WSK_EVENT_CALLBACK_CONTROL.
    let control = unsafe {
        input
            .cast::<sys::WSK_EVENT_CALLBACK_CONTROL>()
            .read_unaligned()
    };
    with_net(|net| {
        net.calls.add(Op::Control);
        let Some(s) = net.sockets.get_mut(&key).filter(|s| s.open) else {
            violation(format!(
                "SO_WSK_EVENT_CALLBACK on a closed or unknown socket ({key:#x})"
            ));
            return NtStatus::INVALID_HANDLE.0;
        };
        if s.client_events.1 == 0 {
            return NtStatus::INVALID_DEVICE_STATE.0;
        }
        let mask = control.EventMask & !sys::WSK_EVENT_DISABLE;
        if control.EventMask & sys::WSK_EVENT_DISABLE != 0 {
            s.event_mask &= !mask;
        } else {
            s.event_mask |= mask;
        }
        NtStatus::SUCCESS.0
    })
}

// ------------------------------------------------------------------------------------------
// Event callbacks (accept, receive-from)

/// Event callbacks due, run after the provider's lock is released.
static EVENTS: Mutex<VecDeque<Indicate>> = Mutex::new(VecDeque::new());

/// One indicated datagram and the memory its indication points to.
type DatagramParts = (
    Box<sys::WSK_DATAGRAM_INDICATION>,
    Box<sys::MDL>,
    Vec<u8>,
    Box<sys::SOCKADDR_IN6>,
);

/// A retained datagram indication: the chain and what it owns.
struct RetainedChain {
    socket: usize,
    _datagrams: Vec<DatagramParts>,
    _data: Option<DataParts>,
}

/// One indicated stream buffer and the memory its indication points to.
type DataParts = (Box<sys::WSK_DATA_INDICATION>, Box<sys::MDL>, Vec<u8>);

// SAFETY: the chain's raw pointers point into memory it owns; only the provider touches it,
// under the RETAINED lock.
unsafe impl Send for RetainedChain {}

/// Datagram chains the client retained (returned STATUS_PENDING), by head address.
static RETAINED: Mutex<Option<HashMap<usize, RetainedChain>>> = Mutex::new(None);

/// Number of datagram indications the client retained and has not released.
#[must_use]
pub fn retained_indications() -> usize {
    lock(&RETAINED).as_ref().map_or(0, HashMap::len)
}

enum Indicate {
    /// A connection for listener `.0`: accepted socket `.1`.
    Accept(usize, usize),
    /// Datagrams for socket `.0`: one chain.
    ReceiveFrom(usize, Vec<(Vec<u8>, SocketAddr)>),
    /// Stream data for connection socket `.0`.
    Receive(usize, Vec<u8>),
}

/// Runs the event callbacks queued so far, at DISPATCH_LEVEL, outside the provider's lock.
fn run_events() {
    loop {
        let Some(event) = lock(&EVENTS).pop_front() else {
            return;
        };
        let old = crate::state::raise_irql(crate::DISPATCH_LEVEL);
        match event {
            Indicate::Accept(listener, accepted) => indicate_accept(listener, accepted),
            Indicate::ReceiveFrom(socket, datagrams) => indicate_datagrams(socket, datagrams),
            Indicate::Receive(socket, data) => indicate_data(socket, data),
        }
        crate::state::set_irql(old);
    }
}

fn indicate_accept(listener: usize, accepted: usize) {
    let Some(((context, dispatch), local, remote)) = with_net(|net| {
        let l = net.sockets.get(&listener).filter(|s| s.open)?;
        let a = net.sockets.get(&accepted)?;
        Some((l.client_events, a.local, a.remote))
    }) else {
        return;
    };
    let mut local_storage = Box::new(sockaddr::v6([0; 16], 0, 0, 0));
    let mut remote_storage = Box::new(sockaddr::v6([0; 16], 0, 0, 0));
    let lp = ptr::from_mut(&mut *local_storage) as usize;
    let rp = ptr::from_mut(&mut *remote_storage) as usize;
    // SAFETY: both point to SOCKADDR_IN6 storage.
    unsafe {
        write_addr(
            lp,
            local.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))),
        );
        write_addr(
            rp,
            remote.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))),
        );
    }
    // SAFETY: the client registered this table with WskSocket; it lives while the socket does.
    let table = unsafe { &*(dispatch as *const sys::WSK_CLIENT_LISTEN_DISPATCH_WDK) };
    let Some(accept) = table.WskAcceptEvent else {
        violation("WSK_EVENT_ACCEPT enabled without a WskAcceptEvent");
        return;
    };
    let mut out_context: *mut c_void = 1usize as *mut c_void;
    let mut out_dispatch: *const sys::WSK_CLIENT_CONNECTION_DISPATCH = 1usize as *const _;
    // SAFETY: the contract of WskAcceptEvent: addresses valid during the call, a socket the
    // client owns if it accepts.
    let status = unsafe {
        accept(
            context as *mut c_void,
            0,
            lp as *mut sys::SOCKADDR,
            rp as *mut sys::SOCKADDR,
            accepted as *mut sys::WSK_SOCKET,
            &raw mut out_context,
            &raw mut out_dispatch,
        )
    };
    let mut done = Vec::new();
    with_net(|net| {
        if status == NtStatus::SUCCESS.0 {
            if (out_context as usize == 1) || (out_dispatch as usize == 1) {
                violation("WskAcceptEvent accepted without setting AcceptSocketContext and AcceptSocketDispatch");
            }
            let a = net.sock(accepted);
            a.delivered = true;
            a.client_events = (out_context as usize, out_dispatch as usize);
            netio::record(Event::SocketOpened);
        } else {
            if status != sys::STATUS_REQUEST_NOT_ACCEPTED {
                violation(format!("WskAcceptEvent returned {status:#x}"));
            }
            // Rejected: the WSK subsystem closes the socket; the connecting side is reset.
            let peer = net.sock(accepted).peer;
            net.close(accepted, &mut done);
            if let Some(peer) = peer {
                net.sock(peer).reset = true;
                net.pump(peer, &mut done);
            }
        }
    });
    for d in done {
        complete(&d);
    }
}

fn indicate_datagrams(socket: usize, datagrams: Vec<(Vec<u8>, SocketAddr)>) {
    let Some((context, dispatch)) = with_net(|net| {
        let s = net.sockets.get(&socket).filter(|s| s.open)?;
        Some(s.client_events)
    }) else {
        return;
    };
    // Build the chain back to front.
    let mut parts = Vec::new();
    let mut next: *mut sys::WSK_DATAGRAM_INDICATION = ptr::null_mut();
    for (mut data, from) in datagrams.clone().into_iter().rev() {
        // SAFETY: an all-zero MDL is valid plain data.
        let mut mdl: Box<sys::MDL> = Box::new(unsafe { std::mem::zeroed() });
        mdl.MappedSystemVa = data.as_mut_ptr().cast();
        mdl.StartVa = data.as_mut_ptr().cast();
        mdl.ByteCount = u32::try_from(data.len()).unwrap_or(u32::MAX);
        mdl.MdlFlags =
            i16::try_from(sys::MDL_SOURCE_IS_NONPAGED_POOL | sys::MDL_MAPPED_TO_SYSTEM_VA)
                .unwrap_or(0);
        let mut addr = Box::new(sockaddr::v6([0; 16], 0, 0, 0));
        // SAFETY: SOCKADDR_IN6 storage.
        unsafe { write_addr(ptr::from_mut(&mut *addr) as usize, from) };
        let mut indication = Box::new(sys::WSK_DATAGRAM_INDICATION {
            Next: next,
            Buffer: sys::WSK_BUF {
                Mdl: ptr::from_mut(&mut *mdl),
                Offset: 0,
                Length: data.len() as u64,
            },
            ControlInfo: ptr::null_mut(),
            ControlInfoLength: 0,
            RemoteAddress: ptr::from_mut(&mut *addr).cast(),
        });
        next = ptr::from_mut(&mut *indication);
        parts.push((indication, mdl, data, addr));
    }
    // SAFETY: the client registered this table with WskSocket; it lives while the socket does.
    let table = unsafe { &*(dispatch as *const sys::WSK_CLIENT_DATAGRAM_DISPATCH) };
    let Some(receive_from) = table.WskReceiveFromEvent else {
        violation("WSK_EVENT_RECEIVE_FROM enabled without a WskReceiveFromEvent");
        return;
    };
    // SAFETY: the chain is valid during the call (and until released, if retained).
    let status = unsafe {
        receive_from(
            context as *mut c_void,
            sys::WSK_FLAG_AT_DISPATCH_LEVEL,
            next,
        )
    };
    if status == NtStatus::PENDING.0 {
        lock(&RETAINED).get_or_insert_with(HashMap::new).insert(
            next as usize,
            RetainedChain {
                socket,
                _datagrams: parts,
                _data: None,
            },
        );
    } else if status == NtStatus::DATA_NOT_ACCEPTED.0 {
        // Not accepted: kept for WskReceiveFrom.
        with_net(|net| {
            if let Some(s) = net.sockets.get_mut(&socket) {
                s.datagrams.extend(datagrams);
            }
        });
    } else if status != NtStatus::SUCCESS.0 {
        violation(format!("WskReceiveFromEvent returned {status:#x}"));
    }
}

/// An MDL over `data` as the provider's own nonpaged buffer, mapped.
#[allow(clippy::unnecessary_box_returns)] // the indication points to it: its address must not move
fn provider_mdl(data: &mut [u8]) -> Box<sys::MDL> {
    // SAFETY: an all-zero MDL is valid plain data.
    let mut mdl: Box<sys::MDL> = Box::new(unsafe { std::mem::zeroed() });
    mdl.MappedSystemVa = data.as_mut_ptr().cast();
    mdl.StartVa = data.as_mut_ptr().cast();
    mdl.ByteCount = u32::try_from(data.len()).unwrap_or(u32::MAX);
    mdl.MdlFlags =
        i16::try_from(sys::MDL_SOURCE_IS_NONPAGED_POOL | sys::MDL_MAPPED_TO_SYSTEM_VA).unwrap_or(0);
    mdl
}

fn indicate_data(socket: usize, mut data: Vec<u8>) {
    let Some((context, dispatch)) = with_net(|net| {
        let s = net.sockets.get(&socket).filter(|s| s.open)?;
        Some(s.client_events)
    }) else {
        return;
    };
    let mut mdl = provider_mdl(&mut data);
    let mut indication = Box::new(sys::WSK_DATA_INDICATION {
        Next: ptr::null_mut(),
        Buffer: sys::WSK_BUF {
            Mdl: ptr::from_mut(&mut *mdl),
            Offset: 0,
            Length: data.len() as u64,
        },
    });
    let head = ptr::from_mut(&mut *indication);
    // SAFETY: the client registered this table with WskSocket; it lives while the socket does.
    let table = unsafe { &*(dispatch as *const sys::WSK_CLIENT_CONNECTION_DISPATCH) };
    let Some(receive) = table.WskReceiveEvent else {
        violation("WSK_EVENT_RECEIVE enabled without a WskReceiveEvent");
        return;
    };
    let mut accepted: sys::SIZE_T = 0;
    // SAFETY: the indication is valid during the call (and until released, if retained).
    let status = unsafe {
        receive(
            context as *mut c_void,
            sys::WSK_FLAG_AT_DISPATCH_LEVEL,
            head,
            data.len() as sys::SIZE_T,
            &raw mut accepted,
        )
    };
    if status == NtStatus::PENDING.0 {
        lock(&RETAINED).get_or_insert_with(HashMap::new).insert(
            head as usize,
            RetainedChain {
                socket,
                _datagrams: Vec::new(),
                _data: Some((indication, mdl, data)),
            },
        );
    } else if status == NtStatus::DATA_NOT_ACCEPTED.0 {
        let mut done = Vec::new();
        with_net(|net| {
            if net.sockets.get(&socket).is_some_and(|s| s.open) {
                net.sock(socket).rx.extend(&data);
                net.pump(socket, &mut done);
            }
        });
        for d in done {
            complete(&d);
        }
    } else if status != NtStatus::SUCCESS.0 {
        violation(format!("WskReceiveEvent returned {status:#x}"));
    }
}

/// `WskRelease` (connection sockets).
unsafe extern "C" fn release_data(
    socket: *mut sys::WSK_SOCKET,
    indication: *mut sys::WSK_DATA_INDICATION,
) -> sys::NTSTATUS {
    // SAFETY: same bookkeeping as for datagram chains, keyed by the head's address.
    unsafe { release_datagrams(socket, indication.cast()) }
}

/// `WskRelease` (datagram sockets).
unsafe extern "C" fn release_datagrams(
    socket: *mut sys::WSK_SOCKET,
    indication: *mut sys::WSK_DATAGRAM_INDICATION,
) -> sys::NTSTATUS {
    let chain = lock(&RETAINED)
        .get_or_insert_with(HashMap::new)
        .remove(&(indication as usize));
    match chain {
        Some(c) if c.socket == socket as usize => NtStatus::SUCCESS.0,
        Some(_) => {
            violation("WskRelease of an indication list on another socket");
            NtStatus::INVALID_PARAMETER.0
        }
        None => {
            violation("WskRelease of an indication list the client did not retain");
            NtStatus::INVALID_PARAMETER.0
        }
    }
}

unsafe extern "C" fn bind(
    socket: *mut sys::WSK_SOCKET,
    local: *mut sys::SOCKADDR,
    _flags: u32,
    irp: *mut sys::IRP,
) -> sys::NTSTATUS {
    // SAFETY: the client passes a socket address.
    let addr = unsafe { model::sockaddr::read(local) };
    call_on(Op::Bind, socket as usize, irp, |net, key, _, _| {
        let Some(mut addr) = addr else {
            return Some((NtStatus::INVALID_ADDRESS, 0));
        };
        if addr.port() == 0 {
            addr = net.ephemeral(addr.ip());
        }
        let category = net.sock(key).category;
        if category != Category::Connection {
            if net.bound.contains_key(&addr) {
                return Some((NtStatus::ADDRESS_ALREADY_EXISTS, 0));
            }
            net.bound.insert(addr, key);
        }
        net.sock(key).local = Some(addr);
        Some((NtStatus::SUCCESS, 0))
    })
}

unsafe extern "C" fn connect(
    socket: *mut sys::WSK_SOCKET,
    remote: *mut sys::SOCKADDR,
    _flags: u32,
    irp: *mut sys::IRP,
) -> sys::NTSTATUS {
    // SAFETY: the client passes a socket address.
    let remote = unsafe { model::sockaddr::read(remote) };
    call_on(Op::Connect, socket as usize, irp, |net, key, _, done| {
        let Some(remote) = remote else {
            return Some((NtStatus::INVALID_ADDRESS, 0));
        };
        let s = net.sock(key);
        if s.stream && !s.take_stream_role(Category::Connection) {
            return Some((NtStatus::INVALID_DEVICE_STATE, 0));
        }
        let Some(listener) = net.find_bound(remote, Category::Listen) else {
            return Some((NtStatus::CONNECTION_REFUSED, 0));
        };
        let local = match net.sock(key).local {
            Some(l) if l.port() != 0 && !l.ip().is_unspecified() => l,
            Some(l) if !l.ip().is_unspecified() => net.ephemeral(l.ip()),
            Some(l) => SocketAddr::new(remote.ip(), l.port()),
            None => net.ephemeral(remote.ip()),
        };
        let server = net.new_socket(Category::Connection, false);
        {
            let s = net.sock(server);
            s.local = Some(remote);
            s.remote = Some(local);
            s.peer = Some(key);
        }
        let c = net.sock(key);
        c.local = Some(local);
        c.remote = Some(remote);
        c.peer = Some(server);
        let l = net.sock(listener);
        if l.event_mask & sys::WSK_EVENT_ACCEPT != 0 && l.waiting.is_empty() {
            lock(&EVENTS).push_back(Indicate::Accept(listener, server));
        } else {
            l.backlog.push_back(server);
            net.pump(listener, done);
        }
        Some((NtStatus::SUCCESS, 0))
    })
}

/// `WskListen` (stream sockets): a bound stream socket without a role becomes a listener.
unsafe extern "C" fn listen(socket: *mut sys::WSK_SOCKET, irp: *mut sys::IRP) -> sys::NTSTATUS {
    call_on(Op::Listen, socket as usize, irp, |net, key, _, _| {
        let s = net.sock(key);
        if s.local.is_none() || !s.take_stream_role(Category::Listen) {
            return Some((NtStatus::INVALID_DEVICE_STATE, 0));
        }
        Some((NtStatus::SUCCESS, 0))
    })
}

unsafe extern "C" fn send(
    socket: *mut sys::WSK_SOCKET,
    buf: *mut sys::WSK_BUF,
    _flags: u32,
    irp: *mut sys::IRP,
) -> sys::NTSTATUS {
    // SAFETY: the client passes a WSK_BUF.
    let buf = unsafe { take_buf(buf, Op::Send) };
    call_on(Op::Send, socket as usize, irp, |net, key, request, done| {
        let buf = match buf {
            Ok(Some(b)) => b,
            Ok(None) => return Some((NtStatus::INVALID_PARAMETER, 0)),
            Err(status) => return Some((status, 0)),
        };
        let Some(data) = gather(buf) else {
            return Some((NtStatus::INVALID_PARAMETER, 0));
        };
        let s = net.sock(key);
        let Some(peer) = s.peer else {
            let status = if s.remote.is_some() {
                NtStatus::CONNECTION_RESET
            } else {
                NtStatus::INVALID_CONNECTION
            };
            return Some((status, 0));
        };
        // Flow control: a full receive window holds the send until the peer reads.
        if net.sock(peer).rx.len() >= RECEIVE_WINDOW || !net.sock(key).blocked.is_empty() {
            net.sock(key).blocked.push_back((request, data));
            return None;
        }
        net.deliver(peer, &data, done);
        Some((NtStatus::SUCCESS, data.len()))
    })
}

unsafe extern "C" fn receive(
    socket: *mut sys::WSK_SOCKET,
    buf: *mut sys::WSK_BUF,
    _flags: u32,
    irp: *mut sys::IRP,
) -> sys::NTSTATUS {
    // SAFETY: the client passes a WSK_BUF.
    let buf = unsafe { take_buf(buf, Op::Receive) };
    let mut request = Request::new(irp, Op::Receive);
    call_on(Op::Receive, socket as usize, irp, |net, key, _, done| {
        match buf {
            Ok(Some(b)) => request.buf = Some(b),
            Ok(None) => return Some((NtStatus::INVALID_PARAMETER, 0)),
            Err(status) => return Some((status, 0)),
        }
        let s = net.sock(key);
        if s.peer.is_none() && s.remote.is_none() {
            return Some((NtStatus::INVALID_CONNECTION, 0));
        }
        net.wait(key, request, done)
    })
}

unsafe extern "C" fn disconnect(
    socket: *mut sys::WSK_SOCKET,
    buf: *mut sys::WSK_BUF,
    flags: u32,
    irp: *mut sys::IRP,
) -> sys::NTSTATUS {
    // SAFETY: the client passes a WSK_BUF or null.
    let buf = unsafe { take_buf(buf, Op::Disconnect) };
    call_on(Op::Disconnect, socket as usize, irp, |net, key, _, done| {
        let data = match buf {
            Ok(Some(b)) => gather(b).unwrap_or_default(),
            Ok(None) => Vec::new(),
            Err(status) => return Some((status, 0)),
        };
        let Some(peer) = net.sock(key).peer else {
            return Some((NtStatus::INVALID_CONNECTION, 0));
        };
        if flags & sys::WSK_FLAG_ABORTIVE != 0 {
            net.sock(key).peer = None;
            let p = net.sock(peer);
            p.peer = None;
            p.reset = true;
            net.pump(peer, done);
        } else {
            net.deliver(peer, &data, done);
            net.sock(peer).eof = true;
            net.pump(peer, done);
        }
        Some((NtStatus::SUCCESS, 0))
    })
}

unsafe extern "C" fn local_address(
    socket: *mut sys::WSK_SOCKET,
    addr: *mut sys::SOCKADDR,
    irp: *mut sys::IRP,
) -> sys::NTSTATUS {
    socket_address(socket, addr, irp, Op::LocalAddress)
}

unsafe extern "C" fn remote_address(
    socket: *mut sys::WSK_SOCKET,
    addr: *mut sys::SOCKADDR,
    irp: *mut sys::IRP,
) -> sys::NTSTATUS {
    socket_address(socket, addr, irp, Op::RemoteAddress)
}

/// `WskGetLocalAddress` (`op` [`Op::LocalAddress`]; `STATUS_INVALID_DEVICE_STATE` before
/// bind) or `WskGetRemoteAddress` (`STATUS_INVALID_CONNECTION` before connect).
fn socket_address(
    socket: *mut sys::WSK_SOCKET,
    addr: *mut sys::SOCKADDR,
    irp: *mut sys::IRP,
    op: Op,
) -> sys::NTSTATUS {
    let p = addr as usize;
    call(
        op,
        socket as usize,
        Request::new(irp, op),
        |net, key, _, _| {
            let s = net.sock(key);
            let (address, missing) = if op == Op::LocalAddress {
                (s.local, NtStatus::INVALID_DEVICE_STATE)
            } else {
                (s.remote, NtStatus::INVALID_CONNECTION)
            };
            let Some(address) = address else {
                return Some((missing, 0));
            };
            // SAFETY: the client passes storage for a socket address.
            unsafe { write_addr(p, address) };
            Some((NtStatus::SUCCESS, 0))
        },
    )
}
