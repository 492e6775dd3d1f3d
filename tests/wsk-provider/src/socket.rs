//! WSK sockets over Winsock sockets: the object behind a `WSK_SOCKET *`, its dispatch tables
//! (basic, listen, connection, datagram) and their functions.
//!
//! # Handles
//! The `WSK_SOCKET *` a client holds is `Arc::into_raw` of a [`Socket`] (its first field is
//! the `WSK_SOCKET`); that reference is the client's and is released when `WskCloseSocket`
//! completes. Each call borrows a new reference for its duration ([`Socket::from_handle`]).

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use windows_sys::Win32::Networking::WinSock as ws;
use wsk_bindings::{self as sys, NtStatus};
use wskrs_provider_model::dispatch;

use crate::addr::Addr;
use crate::buf::Bufs;
use crate::client::Client;
use crate::irp::PendingIrp;
use crate::ops::{self, FromOut, Kind, Op, PendingOps};
use crate::security::CachedSd;
use crate::slot::{Direction, RequestSlot};

/// The WSK socket category chosen by `WskSocket`'s flags.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Category {
    /// `WSK_FLAG_BASIC_SOCKET`: control and close only.
    Basic,
    /// `WSK_FLAG_LISTEN_SOCKET`.
    Listen,
    /// `WSK_FLAG_CONNECTION_SOCKET`.
    Connection,
    /// `WSK_FLAG_DATAGRAM_SOCKET`.
    Datagram,
    /// `WSK_FLAG_STREAM_SOCKET` (Windows 10 1703+) before `WskListen` or `WskConnect`
    /// committed it: bind, control and close only. It then acts as [`Category::Listen`] or
    /// [`Category::Connection`] (see [`Socket::category`]).
    Stream,
}

/// What a stream socket has become (`Socket::role`).
const ROLE_NONE: u8 = 0;
const ROLE_LISTEN: u8 = 1;
const ROLE_CONNECTION: u8 = 2;

/// How long `WskCloseSocket` lets cancelled requests finish before it closes the Winsock
/// socket under them, and then before it completes them itself.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The backlog of listen sockets: winsock2.h's `SOMAXCONN` (`0x7fffffff`, "as many as the
/// system allows"; Wine passes it to Linux, which clamps it to `net.core.somaxconn`).
///
/// Not `windows_sys::...::SOMAXCONN`: that constant is winsock.h's Winsock 1.1 value, **5**.
/// With a backlog of 5, 50 clients connecting at once overflow the Linux listen queue; the
/// kernel answers the overflow with SYN cookies, drops the handshake ACKs it cannot queue, and
/// resets each such client at its first data segment (`TcpExtSyncookiesFailed`). The WSK client
/// then sees an accept that never completes (no connection is left to accept) while the peers
/// see "connection reset" — the `listener_50_clients` failure this value fixes. WSK has no
/// backlog parameter; Windows sizes the queue itself.
const LISTEN_BACKLOG: i32 = 0x7fff_ffff;

/// Mutable socket state.
#[derive(Default)]
struct State {
    /// Requests started and not yet completed.
    pending: PendingOps,
    /// The `WskCloseSocket` IRP, once close has begun.
    closing: Option<PendingIrp>,
    bound: bool,
    /// An abortive disconnect closed the Winsock socket already.
    aborted: bool,
    /// `SO_WSK_SECURITY` (a cached security descriptor reference).
    security: Option<CachedSd>,
    /// `SO_REUSEADDR` / `SO_EXCLUSIVEADDRUSE`, which decide its bind (`sharing.rs`).
    sharing: wskrs_provider_model::sharing::SharingOptions,
    /// The id of the process the socket was created on behalf of (`WskSocket`'s
    /// `OwningProcess`); `None`: the provider's own process.
    owner: Option<u32>,
    /// Datagram sockets: the fixed destination (`SIO_WSK_SET_SENDTO_ADDRESS` or
    /// `SIO_WSK_SET_REMOTE_ADDRESS`) a `WskSendTo` without a remote address goes to.
    fixed_to: Option<Addr>,
    /// `IPPROTO_TCP` options Wine's Winsock refuses, answered by the provider.
    tcp: wskrs_provider_model::options::TcpOptions,
}

/// A WSK socket.
///
/// # Invariants
/// `wsk` is the first field, so a `WSK_SOCKET *` given to the client is also a `*const Socket`.
/// `handle` is the Winsock socket, or `INVALID_SOCKET` once it is closed.
#[repr(C)]
pub(crate) struct Socket {
    wsk: sys::WSK_SOCKET,
    /// The category `WskSocket` chose ([`Category::Stream`] for stream sockets, whose
    /// current role is in `role`).
    base: Category,
    /// Stream sockets: `ROLE_NONE`, `ROLE_LISTEN` after `WskListen`, `ROLE_CONNECTION` after
    /// `WskConnect`.
    role: std::sync::atomic::AtomicU8,
    /// Stream sockets: the client's `WSK_CLIENT_STREAM_DISPATCH` (its `Listen` or `Connect`
    /// member becomes the socket's client dispatch when the role is chosen).
    stream_dispatch: usize,
    pub(crate) family: u16,
    sock_type: u16,
    protocol: u32,
    handle: AtomicUsize,
    closing: AtomicBool,
    /// `WSKRS_PROVIDER_DROP` chose this connection: reset it after its first completed send
    /// or receive.
    doomed: AtomicBool,
    /// Whether `WskReceive` goes through the receive pump (`events.rs`): the events' own flag,
    /// mirrored so that each receive need not take the events' lock to learn it (once on,
    /// it stays on).
    pumping: AtomicBool,
    /// Connected (accepted, or `WskConnect` / `WskSocketConnect` succeeded); never cleared.
    /// An atomic, not socket state, because every send and receive checks it.
    connected: AtomicBool,
    pub(crate) client: Arc<Client>,
    /// The client's socket context and dispatch table (for event callbacks); set at creation,
    /// or by `WskAcceptEvent` for sockets accepted through it.
    context: AtomicUsize,
    dispatch: AtomicUsize,
    state: Mutex<State>,
    /// Event callback state (`events.rs`); never held while a client callback runs.
    events: Mutex<crate::events::Events>,
    /// Secure socket extensions (`ioctl.rs`, rules in `wskrs_provider_model::secure`).
    pub(crate) secure: Mutex<wskrs_provider_model::secure::SecureSocket>,
    /// Stream and connection sockets: the send and the receive slot (`slot.rs`).
    slots: Option<[Arc<RequestSlot>; 2]>,
    /// `State::aborted`, readable without the lock (the slots' path checks it).
    aborted: AtomicBool,
}

// SAFETY: the dispatch pointer in `wsk` points to a static table; everything else is
// synchronised (atomics, mutex) or immutable.
unsafe impl Send for Socket {}
// SAFETY: as above.
unsafe impl Sync for Socket {}

impl Socket {
    /// A socket over the Winsock socket `handle` (already associated with the engine).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        client: Arc<Client>,
        category: Category,
        family: u16,
        socket_type: u16,
        protocol: u32,
        handle: ws::SOCKET,
        context: *mut c_void,
        dispatch: *const c_void,
    ) -> Arc<Self> {
        let table: *const c_void = match category {
            Category::Basic => (&raw const BASIC_DISPATCH.0).cast(),
            Category::Listen => (&raw const LISTEN_DISPATCH.0).cast(),
            Category::Connection => (&raw const CONNECTION_DISPATCH.0).cast(),
            Category::Datagram => (&raw const DATAGRAM_DISPATCH.0).cast(),
            Category::Stream => (&raw const STREAM_DISPATCH.0).cast(),
        };
        // A stream socket's client dispatch is a WSK_CLIENT_STREAM_DISPATCH: kept aside until
        // the socket becomes a listening or a connection socket.
        let (dispatch, stream_dispatch) = if category == Category::Stream {
            (std::ptr::null(), dispatch as usize)
        } else {
            (dispatch, 0)
        };
        client.sockets.fetch_add(1, Ordering::AcqRel);
        Arc::new(Self {
            wsk: sys::WSK_SOCKET { Dispatch: table },
            base: category,
            role: std::sync::atomic::AtomicU8::new(ROLE_NONE),
            stream_dispatch,
            family,
            sock_type: socket_type,
            protocol,
            handle: AtomicUsize::new(handle),
            closing: AtomicBool::new(false),
            doomed: AtomicBool::new(false),
            pumping: AtomicBool::new(false),
            connected: AtomicBool::new(false),
            client,
            context: AtomicUsize::new(context as usize),
            dispatch: AtomicUsize::new(dispatch as usize),
            state: Mutex::new(State::default()),
            events: Mutex::new(crate::events::Events::default()),
            secure: Mutex::new(wskrs_provider_model::secure::SecureSocket::default()),
            slots: matches!(category, Category::Stream | Category::Connection)
                .then(|| [RequestSlot::new(), RequestSlot::new()]),
            aborted: AtomicBool::new(false),
        })
    }

    /// The connection socket for a connection `listen` accepted.
    pub(crate) fn new_connected(
        listen: &Arc<Socket>,
        handle: ws::SOCKET,
        context: *mut c_void,
        dispatch: *const c_void,
    ) -> Arc<Self> {
        let socket = Self::new(
            Arc::clone(&listen.client),
            Category::Connection,
            listen.family,
            listen.sock_type,
            listen.protocol,
            handle,
            context,
            dispatch,
        );
        // The emulated TCP options are inherited, as Winsock's `accept` documents for the
        // socket it returns ("the same properties as socket s"); the Linux socket inherits
        // its own options from the listening one.
        let tcp = listen.lock().tcp;
        {
            let mut st = socket.lock();
            st.bound = true;
            st.tcp = tcp;
        }
        socket.connected.store(true, Ordering::Release);
        socket
    }

    /// Gives the client its reference: the `WSK_SOCKET *` it will call us with.
    pub(crate) fn into_handle(socket: Arc<Self>) -> *mut sys::WSK_SOCKET {
        Arc::into_raw(socket).cast_mut().cast()
    }

    /// A new reference to the socket behind a client's handle.
    ///
    /// # Safety
    /// `handle` is null or a handle from [`Socket::into_handle`] that the client has not
    /// closed yet (the client's reference keeps it alive during the call).
    pub(crate) unsafe fn from_handle(handle: *mut sys::WSK_SOCKET) -> Option<Arc<Self>> {
        // SAFETY: a non-null handle is a live Socket (caller's contract).
        let socket = unsafe { handle.cast_const().cast::<Socket>().as_ref() }?;
        // SAFETY: the reference `hold` adds is given back once, here.
        unsafe { Self::unhold(Self::hold(socket)) }
    }

    /// The category the socket acts as now: its own, or for a stream socket
    /// [`Category::Stream`] until `WskListen` ([`Category::Listen`]) or `WskConnect`
    /// ([`Category::Connection`]).
    pub(crate) fn category(&self) -> Category {
        if self.base != Category::Stream {
            return self.base;
        }
        match self.role.load(Ordering::Acquire) {
            ROLE_LISTEN => Category::Listen,
            ROLE_CONNECTION => Category::Connection,
            _ => Category::Stream,
        }
    }

    /// Commits a stream socket to `role` (once): its client dispatch becomes the matching
    /// member of the client's `WSK_CLIENT_STREAM_DISPATCH`. False if it is not a stream
    /// socket or already committed.
    fn commit_stream(&self, role: u8) -> bool {
        if self.base != Category::Stream
            || self
                .role
                .compare_exchange(ROLE_NONE, role, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return false;
        }
        let table = self.stream_dispatch as *const sys::WSK_CLIENT_STREAM_DISPATCH;
        // SAFETY: WSK contract: the WSK_CLIENT_STREAM_DISPATCH given to WskSocket (or null)
        // stays valid while the socket is open.
        if let Some(t) = unsafe { table.as_ref() } {
            let member: *const c_void = if role == ROLE_LISTEN {
                t.Listen.cast()
            } else {
                t.Connect.cast()
            };
            self.dispatch.store(member as usize, Ordering::Release);
        }
        true
    }

    /// A stream socket that is not committed yet.
    fn uncommitted_stream(&self) -> bool {
        self.category() == Category::Stream
    }

    /// Datagram sockets: the fixed destination, if one is set.
    pub(crate) fn fixed_destination(&self) -> Option<Addr> {
        self.lock().fixed_to
    }

    /// `SIO_WSK_SET_SENDTO_ADDRESS` (`connect` false) / `SIO_WSK_SET_REMOTE_ADDRESS`
    /// (`connect` true: the Winsock socket is connected too, so that only datagrams from
    /// that address are received; clearing dissolves the association with an `AF_UNSPEC`
    /// connect). Datagram sockets, after bind.
    pub(crate) fn set_fixed_destination(
        &self,
        to: Option<Addr>,
        connect: bool,
    ) -> Result<(), NtStatus> {
        if self.category() != Category::Datagram {
            return Err(NtStatus::INVALID_DEVICE_REQUEST);
        }
        let h = self.usable()?;
        if !self.lock().bound {
            return Err(NtStatus::INVALID_DEVICE_STATE);
        }
        if let Some(a) = &to {
            if a.family() != self.family {
                return Err(NtStatus::INVALID_PARAMETER);
            }
        }
        if connect {
            // Clearing: 16 bytes of zeroes, family AF_UNSPEC, which dissolves a datagram
            // socket's association.
            let target = to.unwrap_or_else(|| {
                let mut unspec = Addr::empty();
                unspec.len = 16;
                unspec
            });
            // SAFETY: `target` holds `len` valid bytes.
            let r = unsafe { ws::connect(h, target.as_ptr(), target.len) };
            if r != 0 {
                return Err(crate::status::last_wsa());
            }
        }
        self.lock().fixed_to = to;
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends this socket's `WskReceive`s through the receive pump from now on (called by
    /// `events.rs` with the events' lock held, as it sets its own flag).
    pub(crate) fn start_pumping(&self) {
        self.pumping.store(true, Ordering::Release);
    }

    /// The event callback state.
    pub(crate) fn events(&self) -> MutexGuard<'_, crate::events::Events> {
        self.events.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The client's socket context (the first argument of its event callbacks).
    pub(crate) fn client_context(&self) -> *mut c_void {
        self.context.load(Ordering::Acquire) as *mut c_void
    }

    /// The client's dispatch table for this socket's category (may be null).
    pub(crate) fn client_dispatch(&self) -> *const c_void {
        self.dispatch.load(Ordering::Acquire) as *const c_void
    }

    /// Sets the context and dispatch a `WskAcceptEvent` callback returned.
    pub(crate) fn set_client(&self, context: *mut c_void, dispatch: *const c_void) {
        self.context.store(context as usize, Ordering::Release);
        self.dispatch.store(dispatch as usize, Ordering::Release);
    }

    /// Whether the socket is bound / connected (for the event rules).
    pub(crate) fn bound_connected(&self) -> (bool, bool) {
        let st = self.lock();
        (st.bound, self.connected.load(Ordering::Acquire))
    }

    /// The Winsock socket, if it is still open.
    /// The slot for `direction`, on a socket that has slots.
    pub(crate) fn slot_for(&self, direction: Direction) -> Option<&Arc<RequestSlot>> {
        let [send, receive] = self.slots.as_ref()?;
        Some(match direction {
            Direction::Send => send,
            Direction::Receive => receive,
        })
    }

    /// The Winsock socket when a send or receive may run in a slot: connected, open, not
    /// aborted, receives not pumped into events, not doomed by `WSKRS_PROVIDER_DROP`.
    #[cfg_attr(windows, link_section = ".text$wskhot")]
    pub(crate) fn slot_ready(&self) -> Option<ws::SOCKET> {
        if !self.connected.load(Ordering::Acquire)
            || self.pumping.load(Ordering::Acquire)
            || self.is_closing()
            || self.aborted.load(Ordering::Acquire)
            || self.doomed.load(Ordering::Acquire)
        {
            return None;
        }
        self.raw_handle()
    }

    /// Adds one reference to `socket` for a request in a slot; [`Socket::unhold`] gives it
    /// back.
    pub(crate) fn hold(socket: &Socket) -> *const Socket {
        let p: *const Socket = socket;
        // SAFETY: every Socket lives in an Arc (sockets are only made by `new`), and the
        // caller's borrow keeps the count at 1 or more.
        unsafe { Arc::increment_strong_count(p) };
        p
    }

    /// The reference [`Socket::hold`] added, as an `Arc` (`None` for null).
    ///
    /// # Safety
    /// `held` is null or came from `hold`, and is given back once.
    pub(crate) unsafe fn unhold(held: *const Socket) -> Option<Arc<Socket>> {
        // SAFETY: caller's contract.
        (!held.is_null()).then(|| unsafe { Arc::from_raw(held) })
    }

    /// Whether no request of this socket is in flight: the pending list is empty and both
    /// slots are free.
    fn all_finished(&self, st: &State) -> bool {
        st.pending.is_empty()
            && self
                .slots
                .as_ref()
                .is_none_or(|slots| slots.iter().all(|slot| slot.is_free()))
    }

    /// The close IRP, taken, when close has begun and no request is left in flight.
    fn take_close_if_idle(&self, st: &mut State) -> Option<PendingIrp> {
        if self.all_finished(st) {
            st.closing.take()
        } else {
            None
        }
    }

    /// For a closing socket whose last request just finished: completes the close.
    pub(crate) fn finish_close_if_idle(&self) {
        let ready = self.take_close_if_idle(&mut self.lock());
        if let Some(close) = ready {
            // SAFETY: `self` is alive (borrowed), so a reference can be added for the close.
            if let Some(this) = unsafe { Self::unhold(Self::hold(self)) } {
                Self::finish_close(&this, close);
            }
        }
    }

    /// Runs `f` on each slot (none for sockets without slots).
    fn each_slot(&self, f: impl Fn(&RequestSlot)) {
        for slot in self.slots.iter().flatten() {
            f(slot);
        }
    }

    pub(crate) fn raw_handle(&self) -> Option<ws::SOCKET> {
        let h = self.handle.load(Ordering::Acquire);
        (h != ws::INVALID_SOCKET).then_some(h)
    }

    /// The Winsock socket for a new synchronous operation.
    fn usable(&self) -> Result<ws::SOCKET, NtStatus> {
        if self.is_closing() {
            return Err(NtStatus::INVALID_DEVICE_STATE);
        }
        let st = self.lock();
        if st.aborted {
            return Err(NtStatus::CONNECTION_ABORTED);
        }
        drop(st);
        self.raw_handle().ok_or(NtStatus::INVALID_DEVICE_STATE)
    }

    /// Whether `WskCloseSocket` has begun.
    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// Registers a request about to start; returns the Winsock socket to start it on.
    #[cfg_attr(windows, link_section = ".text$wskhot")]
    pub(crate) fn add_pending(&self, op: &Arc<Op>) -> Result<ws::SOCKET, NtStatus> {
        let mut st = self.lock();
        if st.closing.is_some() || self.is_closing() {
            return Err(NtStatus::INVALID_DEVICE_STATE);
        }
        if st.aborted {
            return Err(NtStatus::CONNECTION_ABORTED);
        }
        let handle = self.raw_handle().ok_or(NtStatus::INVALID_DEVICE_STATE)?;
        st.pending.add(op);
        Ok(handle)
    }

    /// Forgets a finished request. When it was the last one of a closing socket, returns the
    /// close IRP, which the caller completes (after the request's own IRP).
    #[cfg_attr(windows, link_section = ".text$wskhot")]
    pub(crate) fn remove_pending(&self, op: &Arc<Op>) -> Option<PendingIrp> {
        let mut st = self.lock();
        st.pending.remove(op);
        self.take_close_if_idle(&mut st)
    }

    /// A connection was established on this socket (accepted, or connected): counts it for
    /// `WSKRS_PROVIDER_DROP`.
    pub(crate) fn established(&self) {
        if crate::fault::drop_connection() {
            crate::trace::trace_line!(
                "fault injection: connection {:p} will be reset after its first send or receive",
                std::ptr::from_ref(self)
            );
            self.doomed.store(true, Ordering::SeqCst);
        }
    }

    /// Whether this connection is to be reset now (true once).
    pub(crate) fn take_doomed(&self) -> bool {
        self.doomed.load(Ordering::Relaxed) && self.doomed.swap(false, Ordering::SeqCst)
    }

    /// `WSKRS_PROVIDER_DROP`: resets the connection as if the network had dropped it. Like an
    /// abortive disconnect (`SO_LINGER(1, 0)` + `closesocket`: the peer gets an RST), except
    /// that the requests pending now (other than `trigger`, whose send or receive just
    /// completed) fail with `STATUS_CONNECTION_RESET`, and a socket with receive or disconnect
    /// events reports the end as a reset (`WskDisconnectEvent` with `WSK_FLAG_ABORTIVE`).
    /// Later requests fail with `STATUS_CONNECTION_ABORTED`, as after `WskDisconnect` with
    /// `WSK_FLAG_ABORTIVE`. Runs on the provider thread finishing `trigger`.
    pub(crate) fn drop_connection(self: &Arc<Self>, trigger: &Op) {
        let Some(h) = self.raw_handle() else {
            return;
        };
        let pending = {
            let mut st = self.lock();
            if st.aborted || st.closing.is_some() {
                return;
            }
            st.aborted = true;
            self.aborted.store(true, Ordering::SeqCst);
            st.pending.to_vec()
        };
        crate::events::dropped(self);
        for op in pending
            .iter()
            .filter(|op| !std::ptr::eq(Arc::as_ptr(op), trigger))
        {
            op.reset();
        }
        self.each_slot(RequestSlot::mark_reset);
        let r = linger_reset(h);
        crate::trace::trace_line!(
            "fault injection: connection {:p} dropped (reset); SO_LINGER(1, 0) -> {r}, {} \
             request(s) pending",
            Arc::as_ptr(self),
            pending.len().saturating_sub(1)
        );
        self.close_handle();
    }

    /// Records a bind done outside `WskBind` (by `WskSocketConnect`).
    pub(crate) fn mark_bound(&self) {
        self.lock().bound = true;
    }

    pub(crate) fn connected(&self) {
        self.connected.store(true, Ordering::Release);
    }

    /// `shutdown(SD_SEND)`: the graceful half of `WskDisconnect`.
    pub(crate) fn shutdown_send(&self) -> Result<(), NtStatus> {
        let s = self.usable()?;
        // SAFETY: `s` is an open socket.
        if unsafe { ws::shutdown(s, ws::SD_SEND) } != 0 {
            return Err(crate::status::last_wsa());
        }
        Ok(())
    }

    /// Closes the Winsock socket (once), releasing its local address.
    fn close_handle(&self) {
        let h = self.handle.swap(ws::INVALID_SOCKET, Ordering::AcqRel);
        if h != ws::INVALID_SOCKET {
            crate::sharing::forget(self);
            // SAFETY: the handle was ours and is closed once (swapped out above).
            unsafe { ws::closesocket(h) };
        }
    }

    /// A socket made by `WskSocketConnect` whose connect failed: close it without the client.
    pub(crate) fn discard(&self) {
        self.closing.store(true, Ordering::Release);
        self.close_handle();
        self.client.sockets.fetch_sub(1, Ordering::AcqRel);
    }

    /// `WskCloseSocket`: cancel every pending request; when the last one has completed (with
    /// `STATUS_CANCELLED`), close the Winsock socket and complete `irp`.
    fn close(self: &Arc<Self>, irp: PendingIrp) -> NtStatus {
        let pending = {
            let mut st = self.lock();
            if st.closing.is_some() || self.is_closing() {
                drop(st);
                return irp.complete_inline(NtStatus::INVALID_DEVICE_STATE, 0);
            }
            self.closing.store(true, Ordering::SeqCst);
            st.closing = Some(irp);
            st.pending.to_vec()
        };
        crate::events::closing(self);
        for op in &pending {
            crate::irp::Cancel::cancel(&**op);
        }
        self.each_slot(RequestSlot::cancel_in_flight);
        let ready = self.take_close_if_idle(&mut self.lock());
        if let Some(irp) = ready {
            Self::finish_close(self, irp);
        } else {
            self.watch_close();
        }
        NtStatus::PENDING
    }

    /// Teardown never hangs: if cancelled requests do not complete, close the Winsock socket
    /// under them; if even that does not complete them, complete their IRPs here.
    fn watch_close(self: &Arc<Self>) {
        let socket = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("wsk-provider-close".into())
            .spawn(move || {
                std::thread::sleep(CLOSE_GRACE);
                if socket.lock().closing.is_none() {
                    return;
                }
                crate::trace::trace_line!(
                    "close: requests still pending after cancel; closing the socket"
                );
                socket.close_handle();
                std::thread::sleep(CLOSE_GRACE);
                let stuck = socket.lock().pending.to_vec();
                if !stuck.is_empty() {
                    crate::trace::trace_line!("close: completing {} stuck request(s)", stuck.len());
                }
                for op in stuck {
                    op.finish(NtStatus::CANCELLED, 0);
                }
                socket.each_slot(crate::slot::finish_stuck);
            });
        if spawned.is_err() {
            self.close_handle();
        }
    }

    /// Closes the Winsock socket, completes the close IRP and releases the client's reference
    /// (`WSKRS_PROVIDER_HOLD_CLOSE`: all that happens that much later, on a thread of its own).
    pub(crate) fn finish_close(this: &Arc<Self>, irp: PendingIrp) {
        let Some(hold) = crate::fault::hold_close() else {
            Self::finish_close_now(this, irp);
            return;
        };
        crate::trace::trace_line!(
            "fault injection: WskCloseSocket {:p} held {} ms",
            Arc::as_ptr(this),
            hold.as_millis()
        );
        let slot = Arc::new(Mutex::new(Some(irp)));
        let (socket, parked) = (Arc::clone(this), Arc::clone(&slot));
        let spawned = std::thread::Builder::new()
            .name("wsk-provider-hold-close".into())
            .spawn(move || {
                std::thread::sleep(hold);
                let irp = parked.lock().unwrap_or_else(PoisonError::into_inner).take();
                if let Some(irp) = irp {
                    Self::finish_close_now(&socket, irp);
                }
            });
        if spawned.is_err() {
            let irp = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(irp) = irp {
                Self::finish_close_now(this, irp);
            }
        }
    }

    fn finish_close_now(this: &Arc<Self>, irp: PendingIrp) {
        this.close_handle();
        if let Some(sd) = this.lock().security.take() {
            drop(sd);
        }
        this.client.sockets.fetch_sub(1, Ordering::AcqRel);
        irp.complete(NtStatus::SUCCESS, 0);
        // SAFETY: the client's reference (from into_handle) is given back exactly once, here;
        // `this` is another reference, so the socket outlives this call.
        unsafe { Arc::decrement_strong_count(Arc::as_ptr(this)) };
    }

    /// `WskBind`: listen sockets also start listening (as on Windows).
    fn bind(self: &Arc<Self>, address: *mut sys::SOCKADDR, irp: PendingIrp) -> NtStatus {
        // SAFETY: the WSK contract: a readable address of its family's size.
        let Some(addr) = (unsafe { Addr::read(address) }) else {
            return fail(irp, NtStatus::INVALID_PARAMETER);
        };
        if self.category() == Category::Listen && self.sock_type == wsk_bindings::SOCK_DGRAM_TYPE {
            // Windows creates a UDP "listen" socket but fails its bind (Wine's WSK tests).
            irp.complete(NtStatus::NOT_IMPLEMENTED, 0);
            return NtStatus::PENDING;
        }
        let s = match self.usable() {
            Ok(s) => s,
            Err(e) => return fail(irp, e),
        };
        if self.lock().bound {
            return fail(irp, NtStatus::INVALID_DEVICE_STATE);
        }
        let kind = if self.category() == Category::Listen {
            "listen"
        } else {
            "bind"
        };
        let status = crate::fault::inject(kind)
            .unwrap_or_else(|| crate::sharing::bind(self, s, &addr, || self.bind_listen(s, &addr)));
        if status.is_success() {
            self.lock().bound = true;
        }
        irp.complete(status, 0);
        if status.is_success() {
            crate::events::bound(self);
        }
        NtStatus::PENDING
    }

    /// `bind`, then `listen` for listen sockets.
    fn bind_listen(&self, s: ws::SOCKET, addr: &Addr) -> NtStatus {
        // SAFETY: `addr` holds `len` valid bytes.
        if unsafe { ws::bind(s, addr.as_ptr(), addr.len) } != 0 {
            return crate::status::last_wsa();
        }
        // SAFETY: plain call on an open, bound socket.
        if self.category() == Category::Listen && unsafe { ws::listen(s, LISTEN_BACKLOG) } != 0 {
            return crate::status::last_wsa();
        }
        NtStatus::SUCCESS
    }

    /// `WskListen` (stream sockets): a bound, uncommitted stream socket starts listening
    /// (backlog as for listen sockets) and from then on acts as a listening socket.
    fn listen(self: &Arc<Self>, irp: PendingIrp) -> NtStatus {
        let s = match self.usable() {
            Ok(s) => s,
            Err(e) => return fail(irp, e),
        };
        if !self.uncommitted_stream() || !self.lock().bound {
            return fail(irp, NtStatus::INVALID_DEVICE_STATE);
        }
        if let Some(status) = crate::fault::inject_named("listen") {
            return fail(irp, status);
        }
        // SAFETY: plain call on an open, bound socket.
        if unsafe { ws::listen(s, LISTEN_BACKLOG) } != 0 {
            let e = crate::status::last_wsa();
            irp.complete(e, 0);
            return NtStatus::PENDING;
        }
        let committed = self.commit_stream(ROLE_LISTEN);
        crate::trace::trace_line!(
            "WskListen {:p} -> listening (committed {committed})",
            Arc::as_ptr(self)
        );
        irp.complete(NtStatus::SUCCESS, 0);
        NtStatus::PENDING
    }

    /// `WskGetLocalAddress` / `WskGetRemoteAddress`.
    fn address(&self, out: *mut sys::SOCKADDR, remote: bool, irp: PendingIrp) -> NtStatus {
        let s = match self.usable() {
            Ok(s) => s,
            Err(e) => return fail(irp, e),
        };
        let (bound, connected) = {
            let st = self.lock();
            (st.bound, self.connected.load(Ordering::Acquire))
        };
        if (remote && !connected) || (!remote && !bound) {
            return fail(irp, NtStatus::INVALID_DEVICE_STATE);
        }
        let mut a = Addr::empty();
        let name = a.as_mut_ptr();
        let r = if remote {
            // SAFETY: `a` has room for any address; `len` is its size.
            unsafe { ws::getpeername(s, name, &raw mut a.len) }
        } else {
            // SAFETY: as above.
            unsafe { ws::getsockname(s, name, &raw mut a.len) }
        };
        if r != 0 {
            return fail(irp, crate::status::last_wsa());
        }
        // SAFETY: the WSK contract: room for an address of the socket's family.
        unsafe { a.write(out) };
        irp.complete(NtStatus::SUCCESS, 0);
        NtStatus::PENDING
    }

    /// Starts an overlapped request of `kind` (after the category and state checks).
    #[cfg_attr(windows, link_section = ".text$wskhot")]
    fn start(self: Arc<Self>, irp: PendingIrp, kind: Kind) -> NtStatus {
        if matches!(kind, Kind::Connect { .. }) && self.uncommitted_stream() && self.lock().bound {
            // WskConnect commits a bound stream socket to the connection role.
            self.commit_stream(ROLE_CONNECTION);
        }
        if !ops::allowed(self.category(), &kind) {
            return fail(irp, NtStatus::INVALID_DEVICE_REQUEST);
        }
        let connected = self.connected.load(Ordering::Acquire);
        let ready = match &kind {
            // (Sends and receives, the busy path, take no lock here.)
            Kind::Send { .. } | Kind::Receive { .. } => connected,
            Kind::Connect { .. } => self.lock().bound && !connected,
            _ => self.lock().bound,
        };
        if !ready {
            // Windows fails WskConnect on an unbound socket with this status, synchronously
            // (Wine's WSK tests); the same rule is applied to the other state errors.
            return fail(irp, NtStatus::INVALID_DEVICE_STATE);
        }
        let kind = match kind {
            Kind::Receive { bufs, flags } if self.pumping.load(Ordering::Acquire) => {
                if let Err(e) = self.usable() {
                    return fail(irp, e);
                }
                return crate::events::receive(&self, irp, bufs, flags.into_inner());
            }
            Kind::ReceiveFrom {
                bufs,
                flags,
                from,
                out,
                msg,
            } => match crate::events::take_refused(&self) {
                // A datagram the receive-from event refused was kept without its control
                // information: it is delivered with none.
                Some(datagram) => {
                    return crate::events::receive_refused(irp, &bufs, &out, &datagram);
                }
                None => Kind::ReceiveFrom {
                    bufs,
                    flags,
                    from,
                    out,
                    msg,
                },
            },
            other => other,
        };
        Op::start(self, irp, kind)
    }

    /// A new Winsock socket for `AcceptEx` on this listening socket, associated with the engine.
    pub(crate) fn new_acceptor(&self) -> Result<ws::SOCKET, NtStatus> {
        let engine = crate::engine::get()?;
        let accepted = new_winsock_socket(self.family, self.sock_type, self.protocol)?;
        if let Err(e) = engine.associate(accepted) {
            // SAFETY: just created, ours.
            unsafe { ws::closesocket(accepted) };
            return Err(e);
        }
        Ok(accepted)
    }

    /// Closes a socket on the client's behalf (a connection `WskAcceptEvent` rejected, or one
    /// accepted after the listening socket began closing): the handle's reference is given up
    /// here, so `handle` must not reach the client afterwards.
    ///
    /// # Safety
    /// `handle` came from [`Socket::into_handle`] and the client will not use it.
    pub(crate) unsafe fn close_unwanted(handle: *mut sys::WSK_SOCKET) {
        // SAFETY: the caller hands over the handle's reference.
        let socket = unsafe { Arc::from_raw(handle.cast_const().cast::<Socket>()) };
        socket.closing.store(true, Ordering::Release);
        let pending = socket.lock().pending.to_vec();
        for op in &pending {
            crate::irp::Cancel::cancel(&**op);
        }
        socket.close_handle();
        socket.client.sockets.fetch_sub(1, Ordering::AcqRel);
    }

    /// `WskAccept`.
    fn accept(
        self: &Arc<Self>,
        context: *mut c_void,
        dispatch: *const c_void,
        local: *mut sys::SOCKADDR,
        remote: *mut sys::SOCKADDR,
        irp: PendingIrp,
    ) -> NtStatus {
        if !self.lock().bound || self.category() != Category::Listen {
            return fail(irp, NtStatus::INVALID_DEVICE_STATE);
        }
        let accepted = match self.new_acceptor() {
            Ok(s) => s,
            Err(e) => return fail(irp, e),
        };
        let kind = Kind::Accept {
            accepted,
            buffer: Box::new(std::cell::UnsafeCell::new([0; 2 * ops::ACCEPT_ADDR_ROOM])),
            context,
            dispatch,
            local_out: local,
            remote_out: remote,
            event: false,
        };
        Op::start(Arc::clone(self), irp, kind)
    }

    /// `WskDisconnect`.
    fn disconnect(
        self: &Arc<Self>,
        buffer: *mut sys::WSK_BUF,
        flags: u32,
        irp: PendingIrp,
    ) -> NtStatus {
        if !self.connected.load(Ordering::Acquire) {
            return fail(irp, NtStatus::INVALID_DEVICE_STATE);
        }
        if flags & sys::WSK_FLAG_ABORTIVE != 0 {
            if let Some(status) = crate::fault::inject_named("disconnect") {
                return fail(irp, status);
            }
            return self.abort(irp);
        }
        // SAFETY: the WSK contract: the buffer and its MDLs are valid until completion.
        let bufs = match unsafe { crate::buf::wsabufs(buffer) } {
            Ok(b) => b,
            Err(e) => return fail(irp, e),
        };
        if crate::buf::total(&bufs) > 0 {
            return Op::start(
                Arc::clone(self),
                irp,
                Kind::Send {
                    bufs,
                    flags: 0,
                    then_shutdown: true,
                },
            );
        }
        let status = match crate::fault::inject_named("disconnect") {
            Some(status) => status,
            None => match self.shutdown_send() {
                Ok(()) => NtStatus::SUCCESS,
                Err(e) => e,
            },
        };
        irp.complete(status, 0);
        NtStatus::PENDING
    }

    /// Abortive disconnect: cancel what is pending and reset the connection (linger 0 +
    /// close). The WSK socket stays until `WskCloseSocket`; later requests fail.
    fn abort(self: &Arc<Self>, irp: PendingIrp) -> NtStatus {
        let Some(h) = self.raw_handle() else {
            return fail(irp, NtStatus::INVALID_DEVICE_STATE);
        };
        let pending = {
            let mut st = self.lock();
            st.aborted = true;
            self.aborted.store(true, Ordering::SeqCst);
            st.pending.to_vec()
        };
        for op in &pending {
            crate::irp::Cancel::cancel(&**op);
        }
        self.each_slot(RequestSlot::cancel_in_flight);
        let r = linger_reset(h);
        crate::trace::trace_line!(
            "abortive disconnect: SO_LINGER(1, 0) -> {r} ({:?})",
            crate::status::last_wsa()
        );
        self.close_handle();
        irp.complete(NtStatus::SUCCESS, 0);
        NtStatus::PENDING
    }

    /// `SO_REUSEADDR` / `SO_EXCLUSIVEADDRUSE` as set, and the owning process's id.
    pub(crate) fn sharing(&self) -> (wskrs_provider_model::sharing::SharingOptions, Option<u32>) {
        let st = self.lock();
        (st.sharing, st.owner)
    }

    /// Sets `SO_REUSEADDR` or `SO_EXCLUSIVEADDRUSE` (kept by the provider; it acts at bind).
    pub(crate) fn set_sharing(&self, code: u32, on: bool) -> Result<(), NtStatus> {
        self.lock().sharing.set(code, on)
    }

    /// Records the process the socket was created on behalf of.
    pub(crate) fn set_owner(&self, pid: u32) {
        self.lock().owner = Some(pid);
    }

    /// The IP protocol (6 TCP, 17 UDP; the registry keeps addresses per protocol).
    pub(crate) fn protocol_number(&self) -> i32 {
        if self.sock_type == wsk_bindings::SOCK_STREAM_TYPE {
            6
        } else {
            17
        }
    }

    /// The socket's `SO_WSK_SECURITY` (a new reference), if one was applied.
    pub(crate) fn security(&self) -> Option<CachedSd> {
        self.lock().security.as_ref().map(CachedSd::add_ref)
    }

    /// Applies `SO_WSK_SECURITY` (only before bind, per the documentation).
    pub(crate) fn set_security(&self, sd: CachedSd) -> Result<(), NtStatus> {
        let mut st = self.lock();
        if st.bound {
            drop(st);
            drop(sd);
            return Err(NtStatus::INVALID_DEVICE_STATE);
        }
        if let Some(old) = st.security.replace(sd) {
            drop(st);
            drop(old);
        }
        Ok(())
    }

    /// The Winsock socket for option calls.
    pub(crate) fn option_handle(&self) -> Result<ws::SOCKET, NtStatus> {
        self.usable()
    }

    /// Whether this is a TCP socket (the emulated `IPPROTO_TCP` options apply to it).
    pub(crate) fn is_tcp(&self) -> bool {
        self.sock_type == wsk_bindings::SOCK_STREAM_TYPE
    }

    /// Sets an emulated `IPPROTO_TCP` option (`wskrs_provider_model::options::emulated`).
    pub(crate) fn set_tcp_option(&self, code: u32, value: u32) -> Result<(), NtStatus> {
        self.lock().tcp.set(code, value)
    }

    /// An emulated `IPPROTO_TCP` option's value.
    pub(crate) fn tcp_option(&self, code: u32) -> Option<u32> {
        self.lock().tcp.get(code)
    }

    /// The keep-alive time and interval the client tuned, if it did.
    pub(crate) fn tcp_keepalive(&self) -> Option<wskrs_provider_model::options::KeepAlive> {
        self.lock().tcp.keepalive()
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        // Normally closed by WskCloseSocket already; this covers sockets never handed out.
        self.close_handle();
    }
}

/// Completes `irp` with a synchronous failure and returns that status (Windows returns the
/// status of a request it rejects at once, e.g. WskConnect on an unbound socket).
pub(crate) fn fail(irp: PendingIrp, status: NtStatus) -> NtStatus {
    irp.complete_inline(status, 0)
}

/// `WSASocketW` with overlapped I/O.
pub(crate) fn new_winsock_socket(
    family: u16,
    socket_type: u16,
    protocol: u32,
) -> Result<ws::SOCKET, NtStatus> {
    let protocol = i32::try_from(protocol).map_err(|_| NtStatus::INVALID_PARAMETER)?;
    // SAFETY: plain socket creation.
    let s = unsafe {
        ws::WSASocketW(
            i32::from(family),
            i32::from(socket_type),
            protocol,
            std::ptr::null(),
            0,
            ws::WSA_FLAG_OVERLAPPED,
        )
    };
    if s == ws::INVALID_SOCKET {
        Err(crate::status::last_wsa())
    } else {
        Ok(s)
    }
}

// ---- dispatch trampolines -------------------------------------------------------------------

/// Takes the IRP and the socket of a socket-level call; `None` (and the status to return)
/// when either is missing.
///
/// # Safety
/// As [`Socket::from_handle`] and [`PendingIrp::take`].
#[cfg_attr(windows, link_section = ".text$wskhot")]
unsafe fn enter(
    op: &str,
    handle: *mut sys::WSK_SOCKET,
    irp: *mut sys::IRP,
) -> Result<(Arc<Socket>, PendingIrp), NtStatus> {
    // SAFETY: caller's contract.
    let Some(irp) = (unsafe { PendingIrp::take(irp, op, handle.cast_const().cast()) }) else {
        return Err(NtStatus::INVALID_PARAMETER);
    };
    // SAFETY: caller's contract.
    match unsafe { Socket::from_handle(handle) } {
        Some(s) => {
            crate::verify::after_close(op, handle.cast_const().cast(), s.is_closing());
            Ok((s, irp))
        }
        None => Err(fail(irp, NtStatus::INVALID_HANDLE)),
    }
}

macro_rules! enter_or_return {
    ($op:expr, $socket:expr, $irp:expr) => {
        // SAFETY: WSK passes the handle it gave the client and the client's IRP.
        match unsafe { enter($op, $socket, $irp) } {
            Ok(pair) => pair,
            Err(status) => return status.0,
        }
    };
}

unsafe extern "C" fn wsk_close_socket(
    socket: *mut sys::WSK_SOCKET,
    irp: *mut sys::IRP,
) -> sys::NTSTATUS {
    let (s, irp) = enter_or_return!("WskCloseSocket", socket, irp);
    crate::trace::trace_line!("WskCloseSocket {socket:p}");
    s.close(irp).0
}

unsafe extern "C" fn wsk_bind(
    socket: *mut sys::WSK_SOCKET,
    address: *mut sys::SOCKADDR,
    _flags: u32,
    irp: *mut sys::IRP,
) -> sys::NTSTATUS {
    let (s, irp) = enter_or_return!("WskBind", socket, irp);
    s.bind(address, irp).0
}

unsafe extern "C" fn wsk_get_local_address(
    socket: *mut sys::WSK_SOCKET,
    address: *mut sys::SOCKADDR,
    irp: *mut sys::IRP,
) -> sys::NTSTATUS {
    let (s, irp) = enter_or_return!("WskGetLocalAddress", socket, irp);
    s.address(address, false, irp).0
}

unsafe extern "C" fn wsk_get_remote_address(
    socket: *mut sys::WSK_SOCKET,
    address: *mut sys::SOCKADDR,
    irp: *mut sys::IRP,
) -> sys::NTSTATUS {
    let (s, irp) = enter_or_return!("WskGetRemoteAddress", socket, irp);
    s.address(address, true, irp).0
}

/// `WskAccept` ([`dispatch::Provider`]).
///
/// # Safety
/// The WSK contract of `WskAccept` for `call`'s parameters.
pub(crate) unsafe fn wsk_accept(call: dispatch::Accept) -> sys::NTSTATUS {
    let dispatch::Accept {
        socket,
        context,
        dispatch,
        local,
        remote,
        irp,
        ..
    } = call;
    let (s, irp) = enter_or_return!("WskAccept", socket, irp);
    s.accept(context, dispatch.cast(), local, remote, irp).0
}

unsafe extern "C" fn wsk_connect(
    socket: *mut sys::WSK_SOCKET,
    remote: *mut sys::SOCKADDR,
    _flags: u32,
    irp: *mut sys::IRP,
) -> sys::NTSTATUS {
    let (s, irp) = enter_or_return!("WskConnect", socket, irp);
    // SAFETY: the WSK contract: a readable address of its family's size.
    let Some(remote) = (unsafe { Addr::read(remote) }) else {
        return fail(irp, NtStatus::INVALID_PARAMETER).0;
    };
    s.start(
        irp,
        Kind::Connect {
            remote: Box::new(remote),
            hand_over: false,
            data: Vec::new(),
        },
    )
    .0
}

/// Starts on `s` the request `kind` makes of the caller's `WSK_BUF` (its pages as
/// `WSABUF`s), or fails the IRP with the buffer's error.
///
/// # Safety
/// `buffer` is null or a `WSK_BUF` whose MDLs stay valid until the IRP completes (the WSK
/// contract of the send and receive calls).
#[cfg_attr(windows, link_section = ".text$wskhot")]
unsafe fn start_on_buffer(
    s: Arc<Socket>,
    irp: PendingIrp,
    buffer: *const sys::WSK_BUF,
    kind: impl FnOnce(Bufs) -> Kind,
) -> NtStatus {
    // SAFETY: the caller's contract.
    match unsafe { crate::buf::wsabufs(buffer) } {
        Ok(bufs) => s.start(irp, kind(bufs)),
        Err(e) => fail(irp, e),
    }
}

/// Send and receive flags WSK shares with Winsock.
fn recv_flags(flags: u32) -> u32 {
    // MSG_WAITALL is 8 and WSK_FLAG_WAITALL 2; other WSK flags have no Winsock counterpart.
    #[allow(clippy::cast_sign_loss)]
    let waitall = ws::MSG_WAITALL as u32;
    if flags & sys::WSK_FLAG_WAITALL != 0 {
        waitall
    } else {
        0
    }
}

#[cfg_attr(windows, link_section = ".text$wskhot")]
unsafe extern "C" fn wsk_send(
    socket: *mut sys::WSK_SOCKET,
    buffer: *mut sys::WSK_BUF,
    _flags: u32,
    irp: *mut sys::IRP,
) -> sys::NTSTATUS {
    // SAFETY: WSK passes the handle it gave the client, the client's buffer and IRP.
    if let Some(status) = unsafe { crate::slot::start(socket, buffer, irp, Direction::Send, 0) } {
        return status;
    }
    let (s, irp) = enter_or_return!("WskSend", socket, irp);
    let kind = |bufs| Kind::Send {
        bufs,
        flags: 0,
        then_shutdown: false,
    };
    // SAFETY: the WSK contract: the buffer and its MDLs are valid until completion.
    unsafe { start_on_buffer(s, irp, buffer, kind) }.0
}

#[cfg_attr(windows, link_section = ".text$wskhot")]
unsafe extern "C" fn wsk_receive(
    socket: *mut sys::WSK_SOCKET,
    buffer: *mut sys::WSK_BUF,
    flags: u32,
    irp: *mut sys::IRP,
) -> sys::NTSTATUS {
    let flags = recv_flags(flags);
    // SAFETY: as in wsk_send.
    let slotted = unsafe { crate::slot::start(socket, buffer, irp, Direction::Receive, flags) };
    if let Some(status) = slotted {
        return status;
    }
    let (s, irp) = enter_or_return!("WskReceive", socket, irp);
    let kind = |bufs| Kind::Receive {
        bufs,
        flags: std::cell::UnsafeCell::new(flags),
    };
    // SAFETY: as in wsk_send.
    unsafe { start_on_buffer(s, irp, buffer, kind) }.0
}

unsafe extern "C" fn wsk_disconnect(
    socket: *mut sys::WSK_SOCKET,
    buffer: *mut sys::WSK_BUF,
    flags: u32,
    irp: *mut sys::IRP,
) -> sys::NTSTATUS {
    let (s, irp) = enter_or_return!("WskDisconnect", socket, irp);
    s.disconnect(buffer, flags, irp).0
}

/// `WskSendTo` ([`dispatch::Provider`]).
///
/// # Safety
/// The WSK contract of `WskSendTo` for `call`'s parameters.
pub(crate) unsafe fn wsk_send_to(call: dispatch::SendTo) -> sys::NTSTATUS {
    let dispatch::SendTo {
        socket,
        buffer,
        remote,
        control_length,
        control,
        irp,
        ..
    } = call;
    let (s, irp) = enter_or_return!("WskSendTo", socket, irp);
    // A null remote address: the fixed destination, if one was set
    // (SIO_WSK_SET_SENDTO_ADDRESS / SIO_WSK_SET_REMOTE_ADDRESS).
    let to = if remote.is_null() {
        s.fixed_destination()
    } else {
        // SAFETY: the WSK contract: a readable address of its family's size.
        unsafe { Addr::read(remote) }
    };
    let Some(to) = to else {
        return fail(irp, NtStatus::INVALID_PARAMETER).0;
    };
    // Control information (e.g. IN_PKTINFO for the source address) goes to WSASendMsg as is;
    // it is copied, so the client's buffer is only read during this call.
    let control = if control.is_null() || control_length == 0 {
        Vec::new()
    } else {
        // SAFETY: the WSK contract: `control_length` readable bytes at `control`.
        unsafe { std::slice::from_raw_parts(control.cast::<u8>(), control_length as usize) }
            .to_vec()
    };
    let to = Box::new(to);
    let kind = |bufs| Kind::SendTo {
        bufs,
        to,
        control,
        msg: crate::ops::empty_msg(),
    };
    // SAFETY: as in wsk_send.
    unsafe { start_on_buffer(s, irp, buffer, kind) }.0
}

/// `WskReceiveFrom` ([`dispatch::Provider`]).
///
/// # Safety
/// The WSK contract of `WskReceiveFrom` for `call`'s parameters.
pub(crate) unsafe fn wsk_receive_from(call: dispatch::ReceiveFrom) -> sys::NTSTATUS {
    let dispatch::ReceiveFrom {
        socket,
        buffer,
        remote,
        control_length,
        control,
        control_flags,
        irp,
        ..
    } = call;
    let (s, irp) = enter_or_return!("WskReceiveFrom", socket, irp);
    // The page: ControlLength NULL means no control information (ControlInfo ignored).
    let control_room = if control_length.is_null() || control.is_null() {
        0
    } else {
        // SAFETY: the WSK contract: a readable ULONG, valid until completion.
        unsafe { control_length.read_unaligned() }
    };
    // SAFETY: as in wsk_send.
    let bufs = match unsafe { crate::buf::wsabufs(buffer) } {
        Ok(b) => b,
        Err(e) => return fail(irp, e).0,
    };
    let kind = Kind::ReceiveFrom {
        bufs,
        flags: std::cell::UnsafeCell::new(0),
        from: crate::ops::empty_from(),
        out: Box::new(FromOut {
            remote,
            control_length,
            control_flags,
            control,
            control_room,
        }),
        msg: crate::ops::empty_msg(),
    };
    s.start(irp, kind).0
}

/// `WskRelease` (connection sockets): gives back a data indication chain the client retained
/// (its `WskReceiveEvent` returned `STATUS_PENDING`).
unsafe extern "C" fn wsk_release_data(
    socket: *mut sys::WSK_SOCKET,
    data: *mut sys::WSK_DATA_INDICATION,
) -> sys::NTSTATUS {
    // SAFETY: WSK contract: a handle from this provider, not yet closed.
    match unsafe { Socket::from_handle(socket) } {
        Some(s) => released(socket, data.cast(), crate::events::release_data(&s, data)).0,
        None => NtStatus::INVALID_HANDLE.0,
    }
}

/// `WskRelease` (datagram sockets): gives back a datagram indication chain the client
/// retained (its `WskReceiveFromEvent` returned `STATUS_PENDING`).
unsafe extern "C" fn wsk_release_datagrams(
    socket: *mut sys::WSK_SOCKET,
    data: *mut sys::WSK_DATAGRAM_INDICATION,
) -> sys::NTSTATUS {
    // SAFETY: as above.
    match unsafe { Socket::from_handle(socket) } {
        Some(s) => {
            released(
                socket,
                data.cast(),
                crate::events::release_datagrams(&s, data),
            )
            .0
        }
        None => NtStatus::INVALID_HANDLE.0,
    }
}

/// `WskRelease`'s result; a chain the provider does not know is a client mistake the
/// verifier reports (a second release of the same chain, or one never handed out).
fn released(socket: *mut sys::WSK_SOCKET, chain: *const c_void, status: NtStatus) -> NtStatus {
    if status == NtStatus::INVALID_PARAMETER && crate::verify::on() {
        crate::verify::report(
            "WskRelease",
            socket.cast_const().cast(),
            format_args!("indication chain {chain:p} is not the client's (released twice, or never handed out)"),
        );
    }
    status
}

unsafe extern "C" fn wsk_listen(socket: *mut sys::WSK_SOCKET, irp: *mut sys::IRP) -> sys::NTSTATUS {
    let (s, irp) = enter_or_return!("WskListen", socket, irp);
    s.listen(irp).0
}

unsafe extern "C" fn wsk_inspect_complete(
    socket: *mut sys::WSK_SOCKET,
    _id: *mut sys::WSK_INSPECT_ID,
    _action: sys::WSK_INSPECT_ACTION,
    irp: *mut sys::IRP,
) -> sys::NTSTATUS {
    let (_s, irp) = enter_or_return!("WskInspectComplete", socket, irp);
    fail(irp, NtStatus::NOT_SUPPORTED).0
}

/// Largest `WskConnectEx` buffer (its page: 65,535 bytes, else `STATUS_BUFFER_OVERFLOW`).
const CONNECT_EX_MAX: usize = 65_535;

/// `WskConnectEx`: `WskConnect` that sends `buffer` with the connection (`ConnectEx` with a
/// send buffer). The bytes are copied at the start (the page lets the caller free the MDL once
/// the request completes); Information is the bytes sent. Flags must be 0.
unsafe extern "C" fn wsk_connect_ex(
    socket: *mut sys::WSK_SOCKET,
    remote: *mut sys::SOCKADDR,
    buffer: *mut sys::WSK_BUF,
    flags: u32,
    irp: *mut sys::IRP,
) -> sys::NTSTATUS {
    let (s, irp) = enter_or_return!("WskConnectEx", socket, irp);
    if flags != 0 {
        return fail(irp, NtStatus::INVALID_PARAMETER).0;
    }
    // SAFETY: the WSK contract: a readable address of its family's size.
    let Some(remote) = (unsafe { Addr::read(remote) }) else {
        return fail(irp, NtStatus::INVALID_PARAMETER).0;
    };
    // SAFETY: the WSK contract: the buffer and its MDLs are valid until completion.
    let bufs = match unsafe { crate::buf::wsabufs(buffer) } {
        Ok(bufs) => bufs,
        Err(e) => return fail(irp, e).0,
    };
    if crate::buf::total(&bufs) > CONNECT_EX_MAX {
        return fail(irp, NtStatus::BUFFER_OVERFLOW).0;
    }
    let mut data = Vec::with_capacity(crate::buf::total(&bufs));
    for b in bufs.iter() {
        // SAFETY: each WSABUF points to `len` readable bytes of the client's MDLs.
        data.extend_from_slice(unsafe {
            std::slice::from_raw_parts(b.buf.cast_const(), b.len as usize)
        });
    }
    s.start(
        irp,
        Kind::Connect {
            remote: Box::new(remote),
            hand_over: false,
            data,
        },
    )
    .0
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn wsk_send_messages(
    socket: *mut sys::WSK_SOCKET,
    _list: *mut sys::WSK_BUF_LIST,
    _flags: u32,
    _remote: *mut sys::SOCKADDR,
    _control_length: u32,
    _control: *mut sys::CMSGHDR,
    irp: *mut sys::IRP,
) -> sys::NTSTATUS {
    let (_s, irp) = enter_or_return!("WskSendMessages", socket, irp);
    fail(irp, NtStatus::NOT_SUPPORTED).0
}

/// `WskSendEx` (Windows 10): `(Socket, Buffer, Flags, ControlInfoLength, ControlInfo, Irp)`;
/// Wine's header types the slot as `void *`.
unsafe extern "C" fn wsk_send_ex(
    socket: *mut sys::WSK_SOCKET,
    _buffer: *mut sys::WSK_BUF,
    _flags: u32,
    _control_length: u32,
    _control: *mut sys::CMSGHDR,
    irp: *mut sys::IRP,
) -> sys::NTSTATUS {
    let (_s, irp) = enter_or_return!("WskSendEx", socket, irp);
    fail(irp, NtStatus::NOT_SUPPORTED).0
}

/// `WskReceiveEx` (Windows 10): `(Socket, Buffer, Flags, ControlInfoLength*, ControlInfo,
/// ControlFlags*, Irp)`.
unsafe extern "C" fn wsk_receive_ex(
    socket: *mut sys::WSK_SOCKET,
    _buffer: *mut sys::WSK_BUF,
    _flags: u32,
    _control_length: *mut u32,
    _control: *mut sys::CMSGHDR,
    _control_flags: *mut u32,
    irp: *mut sys::IRP,
) -> sys::NTSTATUS {
    let (_s, irp) = enter_or_return!("WskReceiveEx", socket, irp);
    fail(irp, NtStatus::NOT_SUPPORTED).0
}

const BASIC: sys::WSK_PROVIDER_BASIC_DISPATCH = sys::WSK_PROVIDER_BASIC_DISPATCH {
    WskControlSocket: Some(dispatch::control_socket::<crate::client::WinsockProvider>),
    WskCloseSocket: Some(wsk_close_socket),
};

/// A dispatch table in a static: shared read-only by every socket of its category.
#[repr(transparent)]
struct Table<T>(T);
// SAFETY: the tables hold only function pointers (two of them in `void *` slots, as Wine's
// header types WskSendEx/WskReceiveEx) and are never written.
unsafe impl<T> Sync for Table<T> {}

/// Dispatch of basic sockets.
static BASIC_DISPATCH: Table<sys::WSK_PROVIDER_BASIC_DISPATCH> = Table(BASIC);

/// Dispatch of listening sockets.
static LISTEN_DISPATCH: Table<sys::WSK_PROVIDER_LISTEN_DISPATCH> =
    Table(sys::WSK_PROVIDER_LISTEN_DISPATCH {
        Basic: BASIC,
        WskBind: Some(wsk_bind),
        WskAccept: Some(dispatch::accept::<crate::client::WinsockProvider>),
        WskInspectComplete: Some(wsk_inspect_complete),
        WskGetLocalAddress: Some(wsk_get_local_address),
    });

/// Dispatch of connection-oriented sockets.
static CONNECTION_DISPATCH: Table<sys::WSK_PROVIDER_CONNECTION_DISPATCH> =
    Table(sys::WSK_PROVIDER_CONNECTION_DISPATCH {
        Basic: BASIC,
        WskBind: Some(wsk_bind),
        WskConnect: Some(wsk_connect),
        WskGetLocalAddress: Some(wsk_get_local_address),
        WskGetRemoteAddress: Some(wsk_get_remote_address),
        WskSend: Some(wsk_send),
        WskReceive: Some(wsk_receive),
        WskDisconnect: Some(wsk_disconnect),
        WskRelease: Some(wsk_release_data),
        WskConnectEx: Some(wsk_connect_ex),
        WskSendEx: wsk_send_ex as *mut c_void,
        WskReceiveEx: wsk_receive_ex as *mut c_void,
    });

/// Dispatch of datagram sockets.
static DATAGRAM_DISPATCH: Table<sys::WSK_PROVIDER_DATAGRAM_DISPATCH> =
    Table(sys::WSK_PROVIDER_DATAGRAM_DISPATCH {
        Basic: BASIC,
        WskBind: Some(wsk_bind),
        WskSendTo: Some(dispatch::send_to::<crate::client::WinsockProvider>),
        WskReceiveFrom: Some(dispatch::receive_from::<crate::client::WinsockProvider>),
        WskRelease: Some(wsk_release_datagrams),
        WskGetLocalAddress: Some(wsk_get_local_address),
        WskSendMessages: Some(wsk_send_messages),
    });

/// Dispatch of stream sockets (`WSK_PROVIDER_STREAM_DISPATCH`, member order as on Microsoft's
/// page, asserted in wsk-bindings). Each function checks the role the socket has taken.
static STREAM_DISPATCH: Table<sys::WSK_PROVIDER_STREAM_DISPATCH> =
    Table(sys::WSK_PROVIDER_STREAM_DISPATCH {
        Basic: BASIC,
        WskBind: Some(wsk_bind),
        WskAccept: Some(dispatch::accept::<crate::client::WinsockProvider>),
        WskConnect: Some(wsk_connect),
        WskListen: Some(wsk_listen),
        WskSend: Some(wsk_send),
        WskReceive: Some(wsk_receive),
        WskDisconnect: Some(wsk_disconnect),
        WskRelease: Some(wsk_release_data),
        WskGetLocalAddress: Some(wsk_get_local_address),
        WskGetRemoteAddress: Some(wsk_get_remote_address),
        WskConnectEx: Some(wsk_connect_ex),
        WskSendEx: wsk_send_ex as *mut c_void,
        WskReceiveEx: wsk_receive_ex as *mut c_void,
    });

/// `SO_LINGER` on with 0 seconds: closing `h` then resets the connection (RST) instead of
/// ending it gracefully. Returns `setsockopt`'s result.
fn linger_reset(h: ws::SOCKET) -> i32 {
    let linger = ws::LINGER {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: plain option set on an open socket; LINGER is 4 bytes.
    unsafe {
        ws::setsockopt(
            h,
            ws::SOL_SOCKET,
            ws::SO_LINGER,
            (&raw const linger).cast(),
            4,
        )
    }
}
