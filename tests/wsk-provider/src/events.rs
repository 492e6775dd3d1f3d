//! Event callbacks: `SO_WSK_EVENT_CALLBACK` (per socket), `WSK_SET_STATIC_EVENT_CALLBACKS`
//! (per client), and the callbacks themselves — `WskReceiveEvent`, `WskDisconnectEvent`,
//! `WskSendBacklogEvent` (connection sockets), `WskAcceptEvent` (listening sockets),
//! `WskReceiveFromEvent` (datagram sockets) — with `WskRelease` for retained indications.
//!
//! Rules followed (Microsoft's WSK documentation, pages named on each item):
//! - Enabling takes no IRP; any combination of the category's events at once. Disabling is
//!   one event at a time (`WSK_EVENT_DISABLE | flag`), with an optional IRP; if that callback
//!   is running, the call returns `STATUS_PENDING` (IRP completed when the running calls have
//!   returned) or, without an IRP, `STATUS_EVENT_PENDING` (`SO_WSK_EVENT_CALLBACK`).
//! - Listening and datagram sockets must be bound, connection sockets connected
//!   (`SO_WSK_EVENT_CALLBACK`). Connection events enabled on a listening socket are enabled on
//!   the sockets accepted on it (`WskAcceptEvent`).
//! - Static callbacks are set before the client creates any socket, with no IRP, and can never
//!   be disabled (`WSK_SET_STATIC_EVENT_CALLBACKS`).
//! - A pending `WskReceive`/`WskAccept`/`WskReceiveFrom` takes precedence over the event.
//! - `WskReceiveEvent`: `STATUS_SUCCESS` = consumed (or `*BytesAccepted` of it; the rest stays
//!   and the event pauses until the next `WskReceive`), `STATUS_DATA_NOT_ACCEPTED` = the data
//!   stays for `WskReceive` and the event pauses until then (a zero-length `WskReceive`
//!   resumes it), `STATUS_PENDING` = the client keeps the chain until `WskRelease`.
//!   A null indication tells the client the socket no longer works.
//! - `WskReceiveFromEvent`: the same three statuses; `STATUS_DATA_NOT_ACCEPTED` disables the
//!   event (unless it was enabled statically) and keeps the datagrams for `WskReceiveFrom` or
//!   for when the event is enabled again.
//! - `WskAcceptEvent`: `STATUS_SUCCESS` keeps the connection (the callback returns its context
//!   and dispatch); anything else (`STATUS_REQUEST_NOT_ACCEPTED`) closes it.
//!
//! How: a connection socket with receive or disconnect events enabled switches to *pump mode*:
//! the provider keeps one receive of its own pending ([`Kind::Pump`]) and hands the data to
//! queued `WskReceive` requests first, then to `WskReceiveEvent`; the end of the stream (or an
//! error) becomes `WskDisconnectEvent`. Listening sockets keep one `AcceptEx` of their own for
//! `WskAcceptEvent`, datagram sockets one receive-from for `WskReceiveFromEvent`. Every
//! callback runs on a provider thread from the completion of such a request (or of a packet
//! posted to the completion port, [`Kind::Notify`]) while that request still counts as
//! pending on its socket, so `WskCloseSocket` completes only after the callback returned; no
//! provider lock is held during a callback.

use std::collections::VecDeque;
use std::ffi::c_void;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use windows_sys::Win32::Networking::WinSock as ws;
use wsk_bindings::{self as sys, NtStatus};

use crate::addr::Addr;
use crate::buf::Bufs;
use crate::client::Client;
use crate::irp::{self, Cancel, PendingIrp};
use crate::ops::{FromOut, Kind, Op};
use crate::socket::{Category, Socket};

/// `STATUS_EVENT_PENDING` (ntstatus.h): a disable without IRP while the callback runs.
const STATUS_EVENT_PENDING: NtStatus = NtStatus::from_u32(0x4000_0013);

/// `SIO_IDEAL_SEND_BACKLOG_QUERY` (ws2def.h: `_IOR('t', 123, ULONG)`).
const SIO_IDEAL_SEND_BACKLOG_QUERY: u32 = 0x4004_747B;

/// Bytes one stream pump receive asks for.
const STREAM_CHUNK: usize = 16 * 1024;
/// Bytes a connection socket buffers (not yet taken by the client) before its pump pauses.
const STREAM_WINDOW: usize = 256 * 1024;
/// The largest UDP payload, the size of a datagram pump's buffer.
const DATAGRAM_CHUNK: usize = 65_536;
/// Datagrams kept for `WskReceiveFrom` after the client refused them; older ones are dropped.
const DATAGRAM_QUEUE: usize = 64;
/// Consecutive failed datagram receives after which the socket is reported as not working.
const DATAGRAM_ERRORS: u32 = 16;

/// Events valid on connection sockets (and inherited from listening sockets).
const CONNECTION_EVENTS: u32 =
    sys::WSK_EVENT_RECEIVE | sys::WSK_EVENT_DISCONNECT | sys::WSK_EVENT_SEND_BACKLOG;
/// Every standard event flag.
const ALL_EVENTS: u32 = CONNECTION_EVENTS | sys::WSK_EVENT_ACCEPT | sys::WSK_EVENT_RECEIVE_FROM;

/// The events `SO_WSK_EVENT_CALLBACK` may name for a category.
fn valid_for(category: Category) -> u32 {
    match category {
        Category::Basic | Category::Stream => 0,
        Category::Listen => sys::WSK_EVENT_ACCEPT | CONNECTION_EVENTS,
        Category::Connection => CONNECTION_EVENTS,
        Category::Datagram => sys::WSK_EVENT_RECEIVE_FROM,
    }
}

/// Index of an event flag in [`Events::busy`].
fn slot(bit: u32) -> usize {
    match bit {
        sys::WSK_EVENT_ACCEPT => 0,
        sys::WSK_EVENT_RECEIVE => 1,
        sys::WSK_EVENT_DISCONNECT => 2,
        sys::WSK_EVENT_SEND_BACKLOG => 3,
        _ => 4,
    }
}

/// A data indication handed to `WskReceiveEvent`: the chain entry, its MDL and the bytes, in
/// one allocation that stays put until the callback returns or, if the client retained it,
/// until `WskRelease`.
///
/// # Invariants
/// `indication.Buffer.Mdl` points to `mdl`, whose memory is `data`.
struct DataIndication {
    indication: sys::WSK_DATA_INDICATION,
    mdl: sys::MDL,
    data: Vec<u8>,
}

/// A datagram indication handed to `WskReceiveFromEvent` (same layout rules).
///
/// # Invariants
/// `indication.Buffer.Mdl` points to `mdl` (memory `datagram.data`), `RemoteAddress` to
/// `datagram.from`.
struct DatagramIndication {
    indication: sys::WSK_DATAGRAM_INDICATION,
    mdl: sys::MDL,
    datagram: Datagram,
}

// SAFETY: the raw pointers point into the same allocation (type invariants); nothing in it is
// tied to a thread.
unsafe impl Send for DataIndication {}
// SAFETY: as above.
unsafe impl Send for DatagramIndication {}

/// An MDL describing `len` bytes at `data` as nonpaged memory with a system address (what
/// `MmBuildMdlForNonPagedPool` would produce; it is a stub in Wine 8.0, so it is filled here).
/// No PFN array follows: nothing in the driver host reads one.
fn mdl_for(data: *mut u8, len: usize) -> sys::MDL {
    let address = data as usize;
    // MDL sizes and flag bits are small constants that fit the C short fields.
    #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
    sys::MDL {
        Next: std::ptr::null_mut(),
        Size: size_of::<sys::MDL>() as i16,
        MdlFlags: sys::MDL_SOURCE_IS_NONPAGED_POOL as i16,
        Process: std::ptr::null_mut(),
        MappedSystemVa: data.cast(),
        StartVa: (address & !0xfff) as *mut c_void,
        ByteCount: u32::try_from(len).unwrap_or(u32::MAX),
        ByteOffset: (address & 0xfff) as u32,
    }
}

impl DataIndication {
    // Boxed on purpose: the client gets pointers into it, so it must never move.
    #[allow(clippy::unnecessary_box_returns)]
    fn new(data: Vec<u8>) -> Box<Self> {
        let mut this = Box::new(Self {
            indication: sys::WSK_DATA_INDICATION {
                Next: std::ptr::null_mut(),
                Buffer: sys::WSK_BUF {
                    Mdl: std::ptr::null_mut(),
                    Offset: 0,
                    Length: 0,
                },
            },
            // SAFETY: MDL is plain data; it is filled just below.
            mdl: unsafe { std::mem::zeroed() },
            data,
        });
        let len = this.data.len();
        this.mdl = mdl_for(this.data.as_mut_ptr(), len);
        // INVARIANT: the box does not move; the MDL describes its own data.
        this.indication.Buffer = sys::WSK_BUF {
            Mdl: &raw mut this.mdl,
            Offset: 0,
            Length: len as u64,
        };
        this
    }
}

impl DatagramIndication {
    // Boxed on purpose, as above.
    #[allow(clippy::unnecessary_box_returns)]
    fn new(datagram: Datagram) -> Box<Self> {
        let mut this = Box::new(Self {
            indication: sys::WSK_DATAGRAM_INDICATION {
                Next: std::ptr::null_mut(),
                Buffer: sys::WSK_BUF {
                    Mdl: std::ptr::null_mut(),
                    Offset: 0,
                    Length: 0,
                },
                ControlInfo: std::ptr::null_mut(),
                ControlInfoLength: 0,
                RemoteAddress: std::ptr::null_mut(),
            },
            // SAFETY: MDL is plain data; it is filled just below.
            mdl: unsafe { std::mem::zeroed() },
            datagram,
        });
        let len = this.datagram.data.len();
        this.mdl = mdl_for(this.datagram.data.as_mut_ptr(), len);
        // INVARIANT: the box does not move; MDL and address point into it.
        this.indication.Buffer = sys::WSK_BUF {
            Mdl: &raw mut this.mdl,
            Offset: 0,
            Length: len as u64,
        };
        this.indication.RemoteAddress = this.datagram.from.as_mut_ptr().cast();
        this
    }
}

/// An indication the client may hold a pointer into: a heap allocation that never moves,
/// freed when this is dropped (after the callback answered, or at `WskRelease`, or with the
/// socket).
///
/// # Invariants
/// `0` comes from `Box::into_raw` and is freed only by `Drop`.
struct Owned<T>(std::ptr::NonNull<T>);

impl<T> Owned<T> {
    fn new(value: Box<T>) -> Self {
        // INVARIANT: from Box::into_raw, which never returns null.
        Self(std::ptr::NonNull::from(Box::leak(value)))
    }

    fn as_ptr(&self) -> *mut T {
        self.0.as_ptr()
    }
}

impl<T> Drop for Owned<T> {
    fn drop(&mut self) {
        // SAFETY: from Box::into_raw (type invariant), freed once, here.
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

// SAFETY: an owned heap value; Send when the value is (the client's pointers into it are its
// business under the WSK contract).
unsafe impl<T: Send> Send for Owned<T> {}

/// One received datagram.
pub(crate) struct Datagram {
    data: Vec<u8>,
    from: Addr,
}

/// A `WskReceive` waiting for pump data.
struct Reader {
    id: u64,
    irp: PendingIrp,
    bufs: Bufs,
    total: usize,
    filled: usize,
    waitall: bool,
}

// SAFETY: the WSABUFs point to the client's MDL memory, valid until the IRP completes (WSK
// contract), from any thread.
unsafe impl Send for Reader {}

/// Per-socket event state.
// The flags are independent conditions of three kinds of pumps, not states of one machine.
#[allow(clippy::struct_excessive_bools)]
#[derive(Default)]
pub(crate) struct Events {
    /// Enabled events.
    enabled: u32,
    /// Events enabled by `WSK_SET_STATIC_EVENT_CALLBACKS` (never disabled).
    fixed: u32,
    /// Callbacks running now, per event ([`slot`]).
    busy: [u32; 5],
    /// Disable requests (event flag, IRP) waiting for running callbacks to return.
    waiters: Vec<(u32, PendingIrp)>,
    /// A notification packet is queued (at most one at a time).
    notify_queued: bool,
    /// A send-backlog indication is due.
    backlog_due: bool,

    // Connection sockets.
    /// Receives go through the pump (set once receive or disconnect events were enabled).
    pump_mode: bool,
    pump_pending: bool,
    /// Received bytes nobody has taken yet.
    buffered: VecDeque<u8>,
    /// How the stream ended: `STATUS_SUCCESS` for the peer's FIN, else the error.
    end: Option<NtStatus>,
    /// The end was reported (`WskDisconnectEvent` or a null `WskReceiveEvent`).
    end_reported: bool,
    /// `WskReceiveEvent` paused until the next `WskReceive`.
    suspended: bool,
    /// A `WskReceiveEvent` call is running.
    indicating: bool,
    /// `WskReceive` calls so far (a call made while an indication runs cancels the pause
    /// that indication's answer would cause).
    receive_calls: u64,
    /// `receive_calls` when the running indication started.
    indication_epoch: u64,
    readers: VecDeque<Reader>,
    next_reader: u64,
    /// Data indications the client has (during a callback, or retained until `WskRelease`).
    retained: Vec<Owned<DataIndication>>,

    // Datagram sockets.
    datagram_pending: bool,
    datagram_indicating: bool,
    refused: VecDeque<Datagram>,
    datagram_errors: u32,
    /// Datagram indications the client has (as above).
    retained_datagrams: Vec<Owned<DatagramIndication>>,

    // Listening sockets.
    accept_pending: bool,
    accept_failed: bool,
}

impl Events {
    fn on(&self, bit: u32) -> bool {
        self.enabled & bit != 0
    }

    /// Marks a callback of `bit` as running (only when enabled). Returns whether it may run.
    fn enter(&mut self, bit: u32) -> bool {
        if !self.on(bit) {
            return false;
        }
        if let Some(n) = self.busy.get_mut(slot(bit)) {
            *n = n.saturating_add(1);
        }
        true
    }

    /// A callback of `bit` returned; returns the disable requests it was holding up.
    fn leave(&mut self, bit: u32) -> Vec<PendingIrp> {
        let i = slot(bit);
        if let Some(n) = self.busy.get_mut(i) {
            *n = n.saturating_sub(1);
        }
        if self.busy.get(i).copied().unwrap_or(0) > 0 {
            return Vec::new();
        }
        let (done, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiters)
            .into_iter()
            .partition(|(b, _)| *b == bit);
        self.waiters = keep;
        done.into_iter().map(|(_, irp)| irp).collect()
    }
}

/// Completes disable requests once their callbacks have returned.
fn release_waiters(waiters: Vec<PendingIrp>) {
    for irp in waiters {
        irp.complete(NtStatus::SUCCESS, 0);
    }
}

// ---- enabling -------------------------------------------------------------------------------

/// Reads and checks a `WSK_EVENT_CALLBACK_CONTROL` input buffer.
///
/// # Safety
/// `input` is null or readable for `size` bytes.
unsafe fn read_control(input: *const c_void, size: usize) -> Result<u32, NtStatus> {
    if input.is_null() || size < size_of::<sys::WSK_EVENT_CALLBACK_CONTROL>() {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    // SAFETY: readable for the structure's size (checked above, caller's contract).
    let control = unsafe {
        input
            .cast::<sys::WSK_EVENT_CALLBACK_CONTROL>()
            .read_unaligned()
    };
    if control.NpiId.is_null() {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    // SAFETY: a non-null NPI id points to a GUID (WSK contract).
    let id = unsafe { control.NpiId.read_unaligned() };
    let wsk = &sys::NPI_WSK_INTERFACE_ID;
    if (id.Data1, id.Data2, id.Data3, id.Data4) != (wsk.Data1, wsk.Data2, wsk.Data3, wsk.Data4) {
        // Extension interfaces (another NPI id) are not provided.
        return Err(NtStatus::NOT_SUPPORTED);
    }
    Ok(control.EventMask)
}

/// `WskControlClient(WSK_SET_STATIC_EVENT_CALLBACKS)`.
///
/// # Safety
/// `input` is null or readable for `size` bytes.
pub(crate) unsafe fn set_static(
    client: &Client,
    input: *const c_void,
    size: usize,
    has_irp: bool,
) -> NtStatus {
    if has_irp {
        return NtStatus::INVALID_PARAMETER;
    }
    // SAFETY: caller's contract.
    let mask = match unsafe { read_control(input, size) } {
        Ok(m) => m,
        Err(e) => return e,
    };
    if mask & sys::WSK_EVENT_DISABLE != 0 || mask & !ALL_EVENTS != 0 {
        return NtStatus::INVALID_PARAMETER;
    }
    client.set_static_events(mask)
}

/// Applies the client's static events to a socket it just created.
pub(crate) fn created(socket: &Arc<Socket>) {
    let mask = socket.client.static_events() & valid_for(socket.category());
    // Connection events on a listening socket only matter for the sockets it accepts.
    let mut ev = socket.events();
    ev.enabled |= mask;
    ev.fixed |= mask;
}

/// Events for a socket accepted on `listen`: the connection events enabled there (or
/// statically). Starts the pump if they need it.
pub(crate) fn accepted(listen: &Arc<Socket>, socket: &Arc<Socket>) {
    let inherited = listen.events().enabled & CONNECTION_EVENTS;
    let fixed = socket.client.static_events() & CONNECTION_EVENTS;
    {
        let mut ev = socket.events();
        ev.enabled |= inherited | fixed;
        ev.fixed |= fixed;
    }
    connected(socket);
}

/// Bytes the provider received for an event client and has not handed over yet.
pub(crate) fn buffered_len(socket: &Socket) -> usize {
    socket.events().buffered.len()
}

/// A listening or datagram socket was bound: start what its (static) events need.
pub(crate) fn bound(socket: &Arc<Socket>) {
    let wanted = socket.events().enabled & (sys::WSK_EVENT_ACCEPT | sys::WSK_EVENT_RECEIVE_FROM);
    if wanted != 0 {
        notify(socket);
    }
}

/// A connection socket is connected: start what its enabled events need.
pub(crate) fn connected(socket: &Arc<Socket>) {
    let mut ev = socket.events();
    if ev.on(sys::WSK_EVENT_RECEIVE | sys::WSK_EVENT_DISCONNECT) {
        ev.pump_mode = true;
        socket.start_pumping();
    }
    if ev.on(sys::WSK_EVENT_SEND_BACKLOG) {
        ev.backlog_due = true;
    }
    let kick = ev.pump_mode || ev.backlog_due;
    drop(ev);
    if kick {
        notify(socket);
    }
}

/// The connection was dropped (`WSKRS_PROVIDER_DROP`): in pump mode, the stream ends with a
/// reset. The pump's pending receive fails with it (and reports it); when no pump receive is
/// pending (the pump is paused, or this runs from the completion of the pump's receive, whose
/// result is handled next), the end is reported by the next `stream_progress` — run here if
/// nothing else will.
pub(crate) fn dropped(socket: &Arc<Socket>) {
    let report = {
        let mut ev = socket.events();
        if !ev.pump_mode {
            return;
        }
        ev.end.get_or_insert(NtStatus::CONNECTION_RESET);
        !ev.pump_pending && !ev.indicating
    };
    if report {
        // On the provider thread finishing a request of this socket (which still counts as
        // pending), as every callback.
        stream_progress(socket);
    }
}

/// `SO_WSK_SEND_BUFFER`-like changes: the ideal send backlog follows `SO_SNDBUF`.
pub(crate) fn send_buffer_changed(socket: &Arc<Socket>) {
    let mut ev = socket.events();
    if ev.on(sys::WSK_EVENT_SEND_BACKLOG) {
        ev.backlog_due = true;
        drop(ev);
        notify(socket);
    }
}

/// `WskControlSocket(WskSetOption, SO_WSK_EVENT_CALLBACK)`. Completes `irp` (if any) unless
/// the disable has to wait for a running callback; returns the call's status.
///
/// An enable with an IRP is accepted: the documentation says a client "does not specify" one
/// to enable, but `WskControlSocket`'s page says that a control operation that completed
/// returns `STATUS_SUCCESS` with the IRP, if one was given, completed with success, and
/// Windows' WSK does exactly that (kernel socket tests that pass an IRP on every enable pass
/// on Windows). The IRP is completed inline with the enable's status, which is returned.
///
/// # Safety
/// `input` is null or readable for `size` bytes.
pub(crate) unsafe fn control(
    socket: &Arc<Socket>,
    input: *const c_void,
    size: usize,
    irp: Option<PendingIrp>,
) -> NtStatus {
    // SAFETY: caller's contract.
    let status = match unsafe { read_control(input, size) } {
        Ok(mask) if mask & sys::WSK_EVENT_DISABLE != 0 => {
            return disable(socket, mask & !sys::WSK_EVENT_DISABLE, irp);
        }
        Ok(mask) => enable(socket, mask),
        Err(e) => e,
    };
    crate::trace::trace_line!(
        "SO_WSK_EVENT_CALLBACK on {:p} -> {status:?}",
        Arc::as_ptr(socket)
    );
    match irp {
        Some(irp) => irp.complete_inline(status, 0),
        None => status,
    }
}

/// Whether the socket is in the state the documentation requires for its category.
fn ready_for_events(socket: &Socket) -> bool {
    let (bound, connected) = socket.bound_connected();
    match socket.category() {
        Category::Listen | Category::Datagram => bound,
        Category::Connection => connected,
        Category::Basic | Category::Stream => false,
    }
}

fn enable(socket: &Arc<Socket>, mask: u32) -> NtStatus {
    let valid = valid_for(socket.category());
    if mask == 0 || mask & !valid != 0 {
        return NtStatus::INVALID_PARAMETER;
    }
    if socket.is_closing() || !ready_for_events(socket) {
        return NtStatus::INVALID_DEVICE_STATE;
    }
    if socket.client_dispatch().is_null() && socket.category() != Category::Listen {
        // No table to call through.
        return NtStatus::INVALID_PARAMETER;
    }
    let mut ev = socket.events();
    if ev.fixed & mask != 0 {
        // Static callbacks cannot be enabled again (they never stop).
        return NtStatus::INVALID_DEVICE_STATE;
    }
    ev.enabled |= mask;
    if socket.category() == Category::Connection {
        if mask & (sys::WSK_EVENT_RECEIVE | sys::WSK_EVENT_DISCONNECT) != 0 {
            ev.pump_mode = true;
            socket.start_pumping();
        }
        if mask & sys::WSK_EVENT_SEND_BACKLOG != 0 {
            ev.backlog_due = true;
        }
    }
    if mask & sys::WSK_EVENT_ACCEPT != 0 {
        ev.accept_failed = false;
    }
    drop(ev);
    notify(socket);
    NtStatus::SUCCESS
}

fn disable(socket: &Arc<Socket>, bit: u32, irp: Option<PendingIrp>) -> NtStatus {
    let valid = valid_for(socket.category());
    // One event at a time, per the documentation.
    let status = if bit.count_ones() != 1 || bit & !valid != 0 {
        NtStatus::INVALID_PARAMETER
    } else if !ready_for_events(socket) {
        NtStatus::INVALID_DEVICE_STATE
    } else {
        let mut ev = socket.events();
        if ev.fixed & bit != 0 {
            NtStatus::INVALID_DEVICE_STATE
        } else {
            ev.enabled &= !bit;
            if ev.busy.get(slot(bit)).copied().unwrap_or(0) == 0 {
                NtStatus::SUCCESS
            } else if let Some(irp) = irp {
                ev.waiters.push((bit, irp));
                return NtStatus::PENDING;
            } else {
                STATUS_EVENT_PENDING
            }
        }
    };
    crate::trace::trace_line!(
        "SO_WSK_EVENT_CALLBACK disable {bit:#x} on {:p} -> {status:?}",
        Arc::as_ptr(socket)
    );
    match irp {
        Some(irp) => irp.complete_inline(status, 0),
        None => status,
    }
}

// ---- work on provider threads ---------------------------------------------------------------

/// Queues a notification packet (once): [`notified`] then runs on a provider thread.
fn notify(socket: &Arc<Socket>) {
    {
        let mut ev = socket.events();
        if ev.notify_queued {
            return;
        }
        ev.notify_queued = true;
    }
    Op::start_internal(socket, Kind::Notify);
}

/// A notification packet was dequeued (`status` success), or could not be queued (then this
/// runs on the caller's thread, where no callback may run, so nothing is done).
pub(crate) fn notified(socket: &Arc<Socket>, status: NtStatus, cancelled: bool) {
    socket.events().notify_queued = false;
    if cancelled || !status.is_success() || socket.is_closing() {
        return;
    }
    progress(socket);
}

/// Does whatever the socket's events need now: serve readers, indicate, re-arm pumps.
fn progress(socket: &Arc<Socket>) {
    match socket.category() {
        Category::Connection => {
            send_backlog(socket);
            stream_progress(socket);
        }
        Category::Datagram => datagram_progress(socket),
        Category::Listen => accept_progress(socket),
        Category::Basic | Category::Stream => {}
    }
}

/// The client's connection dispatch table, if it set one.
fn connection_dispatch(socket: &Socket) -> Option<sys::WSK_CLIENT_CONNECTION_DISPATCH> {
    let table = socket
        .client_dispatch()
        .cast::<sys::WSK_CLIENT_CONNECTION_DISPATCH>();
    // SAFETY: the client's dispatch table for this socket stays valid until the socket is
    // closed (WSK contract); the socket is not closed while its requests are pending.
    unsafe { table.as_ref() }.copied()
}

/// `WskSendBacklogEvent` when due.
fn send_backlog(socket: &Arc<Socket>) {
    let callback = connection_dispatch(socket).and_then(|d| d.WskSendBacklogEvent);
    let mut ev = socket.events();
    if !ev.backlog_due {
        return;
    }
    ev.backlog_due = false;
    let Some(callback) = callback else { return };
    if !ev.enter(sys::WSK_EVENT_SEND_BACKLOG) {
        return;
    }
    drop(ev);
    let ideal = ideal_send_backlog(socket);
    crate::trace::trace_line!("WskSendBacklogEvent {:p}: {ideal}", Arc::as_ptr(socket));
    // SAFETY: the client's callback with its context (WSK contract); no lock held.
    unsafe { callback(socket.client_context(), ideal as sys::SIZE_T) };
    let waiters = socket.events().leave(sys::WSK_EVENT_SEND_BACKLOG);
    release_waiters(waiters);
}

/// The ideal send backlog: `SIO_IDEAL_SEND_BACKLOG_QUERY` if Winsock has it, else the send
/// buffer size (`SO_SNDBUF`), else 64 KiB.
pub(crate) fn ideal_send_backlog(socket: &Socket) -> usize {
    const FALLBACK: usize = 65_536;
    let Some(h) = socket.raw_handle() else {
        return FALLBACK;
    };
    let mut ideal: u32 = 0;
    let mut returned = 0u32;
    // SAFETY: an output buffer of 4 bytes (the ULONG the ioctl returns); no overlapped.
    let r = unsafe {
        ws::WSAIoctl(
            h,
            SIO_IDEAL_SEND_BACKLOG_QUERY,
            std::ptr::null(),
            0,
            (&raw mut ideal).cast(),
            4,
            &raw mut returned,
            std::ptr::null_mut(),
            None,
        )
    };
    if r == 0 && ideal > 0 {
        return usize::try_from(ideal).unwrap_or(FALLBACK);
    }
    let mut size = 0i32;
    let mut len = 4i32;
    // SAFETY: a 4-byte output buffer for SO_SNDBUF.
    let r = unsafe {
        ws::getsockopt(
            h,
            ws::SOL_SOCKET,
            ws::SO_SNDBUF,
            (&raw mut size).cast(),
            &raw mut len,
        )
    };
    if r == 0 && size > 0 {
        usize::try_from(size).unwrap_or(FALLBACK)
    } else {
        FALLBACK
    }
}

// ---- connection sockets: the stream pump ----------------------------------------------------

/// A stream pump receive finished (`data` empty with success: the peer's FIN).
pub(crate) fn stream_pumped(socket: &Arc<Socket>, status: NtStatus, data: &[u8], cancelled: bool) {
    {
        let mut ev = socket.events();
        ev.pump_pending = false;
        if cancelled || socket.is_closing() {
            return;
        }
        if !status.is_success() {
            ev.end.get_or_insert(status);
        } else if data.is_empty() {
            ev.end.get_or_insert(NtStatus::SUCCESS);
        } else {
            ev.buffered.extend(data);
        }
    }
    stream_progress(socket);
}

/// What [`stream_progress`] does next, outside the lock.
enum Step {
    /// Indicate this chain (registered in `retained`) of this many bytes.
    Indicate(*mut sys::WSK_DATA_INDICATION, usize),
    Disconnect(u32),
    ReceiveNull,
    Done,
}

/// Serves queued readers, indicates buffered data, reports the end, re-arms the pump.
fn stream_progress(socket: &Arc<Socket>) {
    loop {
        let dispatch = connection_dispatch(socket);
        let mut completions = Vec::new();
        let step = {
            let mut ev = socket.events();
            if ev.indicating {
                // The running indication's thread continues the loop when it returns.
                return;
            }
            serve_readers(&mut ev, &mut completions);
            next_step(&mut ev, dispatch.as_ref())
        };
        for (irp, status, bytes) in completions {
            irp::clear_cancellable(&irp);
            irp.complete(status, bytes);
        }
        match step {
            Step::Done => break,
            Step::Indicate(chain, len) => indicate(socket, dispatch.as_ref(), chain, len),
            Step::Disconnect(flags) => {
                if let Some(callback) = dispatch.and_then(|d| d.WskDisconnectEvent) {
                    crate::trace::trace_line!(
                        "WskDisconnectEvent {:p} flags {flags}",
                        Arc::as_ptr(socket)
                    );
                    // SAFETY: the client's callback with its context; no lock held.
                    unsafe { callback(socket.client_context(), flags) };
                }
                let waiters = socket.events().leave(sys::WSK_EVENT_DISCONNECT);
                release_waiters(waiters);
            }
            Step::ReceiveNull => {
                if let Some(callback) = dispatch.and_then(|d| d.WskReceiveEvent) {
                    crate::trace::trace_line!(
                        "WskReceiveEvent {:p}: no longer functional",
                        Arc::as_ptr(socket)
                    );
                    // SAFETY: as above; a null indication means the socket stopped working.
                    unsafe {
                        callback(
                            socket.client_context(),
                            0,
                            std::ptr::null_mut(),
                            0,
                            std::ptr::null_mut(),
                        )
                    };
                }
                let waiters = socket.events().leave(sys::WSK_EVENT_RECEIVE);
                release_waiters(waiters);
            }
        }
    }
    rearm_stream(socket);
}

/// Hands buffered bytes (and the end of the stream) to queued `WskReceive`s, in order.
fn serve_readers(ev: &mut Events, done: &mut Vec<(PendingIrp, NtStatus, usize)>) {
    while let Some(reader) = ev.readers.front_mut() {
        let n = (reader.total - reader.filled).min(ev.buffered.len());
        if n > 0 {
            let src = ev.buffered.make_contiguous();
            // SAFETY: the reader's buffers are the client's MDL memory, valid until its IRP
            // completes; `n` bytes fit after `filled`.
            unsafe {
                copy_to(
                    &reader.bufs,
                    reader.filled,
                    src.get(..n).unwrap_or_default(),
                );
            };
            ev.buffered.drain(..n);
            reader.filled += n;
        }
        let full = reader.filled == reader.total;
        let outcome = if full || (reader.filled > 0 && !reader.waitall) {
            Some((NtStatus::SUCCESS, reader.filled))
        } else {
            match ev.end {
                // End of stream: what arrived so far (0 bytes = the peer closed).
                Some(NtStatus::SUCCESS) => Some((NtStatus::SUCCESS, reader.filled)),
                Some(e) if reader.filled == 0 => Some((e, 0)),
                Some(_) => Some((NtStatus::SUCCESS, reader.filled)),
                None => None,
            }
        };
        let Some((status, bytes)) = outcome else {
            break;
        };
        if let Some(r) = ev.readers.pop_front() {
            done.push((r.irp, status, bytes));
        }
    }
}

/// Copies `src` into the buffers `bufs` from byte `offset` on.
///
/// # Safety
/// The buffers are writable and hold at least `offset + src.len()` bytes.
unsafe fn copy_to(bufs: &[ws::WSABUF], mut offset: usize, mut src: &[u8]) {
    for b in bufs {
        if src.is_empty() {
            return;
        }
        let len = b.len as usize;
        if offset >= len {
            offset -= len;
            continue;
        }
        let n = (len - offset).min(src.len());
        let dst = b.buf.wrapping_add(offset);
        // SAFETY: `dst` starts `n` writable bytes inside this buffer (caller's contract); `src`
        // is a separate, provider-owned slice.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst, n) };
        src = src.get(n..).unwrap_or_default();
        offset = 0;
    }
}

/// Chooses the next callback (marking it running), or `Done`.
fn next_step(ev: &mut Events, dispatch: Option<&sys::WSK_CLIENT_CONNECTION_DISPATCH>) -> Step {
    let receive_cb = dispatch.and_then(|d| d.WskReceiveEvent).is_some();
    let receive_active = ev.on(sys::WSK_EVENT_RECEIVE) && receive_cb && !ev.suspended;
    if ev.readers.is_empty() && !ev.buffered.is_empty() && receive_active {
        if !ev.enter(sys::WSK_EVENT_RECEIVE) {
            return Step::Done;
        }
        ev.indicating = true;
        ev.indication_epoch = ev.receive_calls;
        let data: Vec<u8> = ev.buffered.drain(..).collect();
        let len = data.len();
        // Registered before the call: the client may release it before the callback returns.
        let owned = Owned::new(DataIndication::new(data));
        // SAFETY: a live allocation of ours; only the field's address is taken.
        let chain = unsafe { &raw mut (*owned.as_ptr()).indication };
        ev.retained.push(owned);
        return Step::Indicate(chain, len);
    }
    let Some(end) = ev.end else {
        return Step::Done;
    };
    // Report the end once the data before it has been offered.
    if ev.end_reported || (!ev.buffered.is_empty() && receive_active) {
        return Step::Done;
    }
    ev.end_reported = true;
    let disconnect_cb = dispatch.and_then(|d| d.WskDisconnectEvent).is_some();
    if disconnect_cb && ev.enter(sys::WSK_EVENT_DISCONNECT) {
        let flags = if end.is_success() {
            0
        } else {
            sys::WSK_FLAG_ABORTIVE
        };
        return Step::Disconnect(flags);
    }
    if !end.is_success() && receive_cb && ev.enter(sys::WSK_EVENT_RECEIVE) {
        return Step::ReceiveNull;
    }
    Step::Done
}

/// Calls `WskReceiveEvent` with `chain` (`len` bytes, registered in `retained`) and applies
/// the answer.
fn indicate(
    socket: &Arc<Socket>,
    dispatch: Option<&sys::WSK_CLIENT_CONNECTION_DISPATCH>,
    chain: *mut sys::WSK_DATA_INDICATION,
    len: usize,
) {
    let mut accepted: sys::SIZE_T = len as sys::SIZE_T;
    let status = match dispatch.and_then(|d| d.WskReceiveEvent) {
        // SAFETY: the client's callback with its context; the chain stays valid during the
        // call (and after it, until WskRelease, if retained); no lock held.
        Some(callback) => NtStatus(unsafe {
            callback(
                socket.client_context(),
                0,
                chain,
                len as sys::SIZE_T,
                &raw mut accepted,
            )
        }),
        None => NtStatus::DATA_NOT_ACCEPTED,
    };
    crate::trace::trace_line!(
        "WskReceiveEvent {:p}: {len} byte(s) -> {status:?}, accepted {accepted}",
        Arc::as_ptr(socket)
    );
    let mut ev = socket.events();
    ev.indicating = false;
    let waiters = ev.leave(sys::WSK_EVENT_RECEIVE);
    if status != NtStatus::PENDING {
        // Not retained: take it back (unless the client released it anyway).
        let i = ev
            .retained
            .iter()
            // SAFETY: live allocations of ours; only field addresses are compared.
            .position(|r| std::ptr::eq(unsafe { &raw mut (*r.as_ptr()).indication }, chain));
        let owned = i.map(|i| ev.retained.swap_remove(i));
        let taken = if status.is_success() {
            usize::try_from(accepted).unwrap_or(len).min(len)
        } else {
            0
        };
        if let (Some(owned), true) = (owned, taken < len) {
            // Not (all) accepted: the rest goes back in front, and the event waits for the
            // next WskReceive (unless one came while the callback ran).
            if ev.receive_calls == ev.indication_epoch {
                ev.suspended = true;
            }
            // SAFETY: ours again (removed from `retained`); the callback has returned.
            let data = unsafe { &(*owned.as_ptr()).data };
            let rest = data.get(taken..).unwrap_or_default();
            for b in rest.iter().rev() {
                ev.buffered.push_front(*b);
            }
        }
    }
    drop(ev);
    release_waiters(waiters);
}

/// Keeps one pump receive pending while the socket is in pump mode and has room.
fn rearm_stream(socket: &Arc<Socket>) {
    {
        let mut ev = socket.events();
        if !ev.pump_mode
            || ev.pump_pending
            || ev.end.is_some()
            || ev.buffered.len() >= STREAM_WINDOW
            || socket.is_closing()
        {
            return;
        }
        ev.pump_pending = true;
    }
    Op::start_internal(socket, Kind::pump(STREAM_CHUNK, false));
}

/// `WskReceive` on a socket in pump mode: queued behind earlier readers, served from the pump.
pub(crate) fn receive(socket: &Arc<Socket>, irp: PendingIrp, bufs: Bufs, flags: u32) -> NtStatus {
    let total = crate::buf::total(&bufs);
    if total == 0 {
        // A zero-length receive resumes WskReceiveEvent (documented), and returns at once.
        {
            let mut ev = socket.events();
            ev.suspended = false;
            ev.receive_calls = ev.receive_calls.wrapping_add(1);
        }
        irp.complete(NtStatus::SUCCESS, 0);
        notify(socket);
        return NtStatus::PENDING;
    }
    #[allow(clippy::cast_sign_loss)]
    let waitall = flags & (ws::MSG_WAITALL as u32) != 0;
    let id = {
        let mut ev = socket.events();
        ev.suspended = false;
        ev.receive_calls = ev.receive_calls.wrapping_add(1);
        let id = ev.next_reader;
        ev.next_reader = id.wrapping_add(1);
        let cancellable = irp::set_cancellable(
            &irp,
            Arc::new(ReaderCancel {
                socket: Arc::clone(socket),
                id,
            }),
        );
        if !cancellable {
            drop(ev);
            irp.complete(NtStatus::CANCELLED, 0);
            return NtStatus::PENDING;
        }
        ev.readers.push_back(Reader {
            id,
            irp,
            bufs,
            total,
            filled: 0,
            waitall,
        });
        id
    };
    crate::trace::trace_line!(
        "receive {id} on {:p} queued for the pump: {total} byte(s)",
        Arc::as_ptr(socket)
    );
    notify(socket);
    NtStatus::PENDING
}

/// Cancels one queued `WskReceive`.
struct ReaderCancel {
    socket: Arc<Socket>,
    id: u64,
}

impl Cancel for ReaderCancel {
    fn cancel(&self) {
        let reader = {
            let mut ev = self.socket.events();
            let i = ev.readers.iter().position(|r| r.id == self.id);
            i.and_then(|i| ev.readers.remove(i))
        };
        if let Some(r) = reader {
            irp::clear_cancellable(&r.irp);
            r.irp.complete(NtStatus::CANCELLED, r.filled);
        }
    }
}

/// `WskCloseSocket` began: queued readers complete as cancelled.
pub(crate) fn closing(socket: &Arc<Socket>) {
    let readers: Vec<Reader> = socket.events().readers.drain(..).collect();
    for r in readers {
        irp::clear_cancellable(&r.irp);
        r.irp.complete(NtStatus::CANCELLED, 0);
    }
}

/// `WskRelease` of a data indication chain.
pub(crate) fn release_data(socket: &Socket, data: *mut sys::WSK_DATA_INDICATION) -> NtStatus {
    let mut ev = socket.events();
    let i = ev
        .retained
        .iter()
        // SAFETY: live allocations of ours; only field addresses are compared.
        .position(|r| std::ptr::eq(unsafe { &raw mut (*r.as_ptr()).indication }, data));
    match i {
        Some(i) => {
            drop(ev.retained.swap_remove(i));
            NtStatus::SUCCESS
        }
        None => NtStatus::INVALID_PARAMETER,
    }
}

// ---- datagram sockets -----------------------------------------------------------------------

/// The client's datagram dispatch table's receive-from callback, if any.
fn receive_from_callback(socket: &Socket) -> sys::PFN_WSK_RECEIVE_FROM_EVENT {
    let table = socket
        .client_dispatch()
        .cast::<sys::WSK_CLIENT_DATAGRAM_DISPATCH>();
    // SAFETY: as in `connection_dispatch`.
    unsafe { table.as_ref() }.and_then(|d| d.WskReceiveFromEvent)
}

/// A datagram pump receive finished.
pub(crate) fn datagram_pumped(
    socket: &Arc<Socket>,
    status: NtStatus,
    data: &[u8],
    from: Addr,
    cancelled: bool,
) {
    {
        let mut ev = socket.events();
        ev.datagram_pending = false;
        if cancelled || socket.is_closing() {
            return;
        }
        // A truncated datagram (longer than the pump's buffer) is delivered as far as it fit.
        if crate::ops::moved_data(status) {
            ev.datagram_errors = 0;
            if ev.refused.len() >= DATAGRAM_QUEUE {
                ev.refused.pop_front();
            }
            ev.refused.push_back(Datagram {
                data: data.to_vec(),
                from,
            });
        } else {
            // ICMP errors surface as failed receives on UDP sockets; they are transient.
            ev.datagram_errors = ev.datagram_errors.saturating_add(1);
        }
    }
    datagram_progress(socket);
}

/// Indicates queued datagrams while the event is enabled; keeps one pump receive pending.
fn datagram_progress(socket: &Arc<Socket>) {
    let callback = receive_from_callback(socket);
    loop {
        let indication = {
            let mut ev = socket.events();
            if ev.datagram_indicating || callback.is_none() {
                break;
            }
            if ev.datagram_errors >= DATAGRAM_ERRORS {
                ev.datagram_errors = 0;
                if !ev.enter(sys::WSK_EVENT_RECEIVE_FROM) {
                    break;
                }
                ev.datagram_indicating = true;
                None
            } else {
                if ev.refused.is_empty() || !ev.enter(sys::WSK_EVENT_RECEIVE_FROM) {
                    break;
                }
                ev.datagram_indicating = true;
                ev.refused.pop_front().map(|datagram| {
                    let len = datagram.data.len();
                    // Registered before the call, as for data indications.
                    let owned = Owned::new(DatagramIndication::new(datagram));
                    // SAFETY: a live allocation of ours; only the field's address is taken.
                    let chain = unsafe { &raw mut (*owned.as_ptr()).indication };
                    ev.retained_datagrams.push(owned);
                    (chain, len)
                })
            }
        };
        let Some(callback) = callback else { break };
        let Some((chain, len)) = indication else {
            // SAFETY: the client's callback; a null indication: the socket stopped working.
            unsafe { callback(socket.client_context(), 0, std::ptr::null_mut()) };
            let mut ev = socket.events();
            ev.datagram_indicating = false;
            let waiters = ev.leave(sys::WSK_EVENT_RECEIVE_FROM);
            drop(ev);
            release_waiters(waiters);
            return;
        };
        // SAFETY: the client's callback with its context; the indication stays valid during
        // the call (and after it, until WskRelease, if retained); no lock held.
        let status = NtStatus(unsafe { callback(socket.client_context(), 0, chain) });
        crate::trace::trace_line!(
            "WskReceiveFromEvent {:p}: {len} byte(s) -> {status:?}",
            Arc::as_ptr(socket)
        );
        let mut ev = socket.events();
        ev.datagram_indicating = false;
        let waiters = ev.leave(sys::WSK_EVENT_RECEIVE_FROM);
        if status != NtStatus::PENDING {
            let i = ev
                .retained_datagrams
                .iter()
                // SAFETY: live allocations of ours; only field addresses are compared.
                .position(|r| std::ptr::eq(unsafe { &raw mut (*r.as_ptr()).indication }, chain));
            let owned = i.map(|i| ev.retained_datagrams.swap_remove(i));
            if let (Some(owned), false) = (owned, status.is_success()) {
                // Not accepted: kept for WskReceiveFrom; the event stops unless it is static.
                // SAFETY: ours again; the callback has returned.
                let datagram = unsafe { &mut (*owned.as_ptr()).datagram };
                let datagram = Datagram {
                    data: std::mem::take(&mut datagram.data),
                    from: datagram.from,
                };
                ev.refused.push_front(datagram);
                if ev.fixed & sys::WSK_EVENT_RECEIVE_FROM == 0 {
                    ev.enabled &= !sys::WSK_EVENT_RECEIVE_FROM;
                }
            }
        }
        drop(ev);
        release_waiters(waiters);
    }
    let start = {
        let mut ev = socket.events();
        let go = ev.on(sys::WSK_EVENT_RECEIVE_FROM)
            && !ev.datagram_pending
            && ev.refused.len() < DATAGRAM_QUEUE
            && !socket.is_closing();
        if go {
            ev.datagram_pending = true;
        }
        go
    };
    if start {
        Op::start_internal(socket, Kind::pump(DATAGRAM_CHUNK, true));
    }
}

/// The oldest datagram the client refused, for a `WskReceiveFrom`.
pub(crate) fn take_refused(socket: &Socket) -> Option<Datagram> {
    socket.events().refused.pop_front()
}

/// Completes a `WskReceiveFrom` with a datagram kept by the provider.
pub(crate) fn receive_refused(
    irp: PendingIrp,
    bufs: &[ws::WSABUF],
    out: &FromOut,
    datagram: &Datagram,
) -> NtStatus {
    let n = crate::buf::total(bufs).min(datagram.data.len());
    // SAFETY: the client's buffers (WSK contract), `n` bytes fit.
    unsafe { copy_to(bufs, 0, datagram.data.get(..n).unwrap_or_default()) };
    // SAFETY: the client's address buffer, sized for the family (WSK contract).
    unsafe { datagram.from.write(out.remote) };
    for p in [out.control_length, out.control_flags] {
        if !p.is_null() {
            // SAFETY: the client's ULONGs when not null (WSK contract).
            unsafe { p.write_unaligned(0) };
        }
    }
    irp.complete(NtStatus::SUCCESS, n);
    NtStatus::PENDING
}

/// `WskRelease` of a datagram indication chain.
pub(crate) fn release_datagrams(
    socket: &Socket,
    data: *mut sys::WSK_DATAGRAM_INDICATION,
) -> NtStatus {
    let mut ev = socket.events();
    let i = ev
        .retained_datagrams
        .iter()
        // SAFETY: live allocations of ours; only field addresses are compared.
        .position(|r| std::ptr::eq(unsafe { &raw mut (*r.as_ptr()).indication }, data));
    match i {
        Some(i) => {
            drop(ev.retained_datagrams.swap_remove(i));
            NtStatus::SUCCESS
        }
        None => NtStatus::INVALID_PARAMETER,
    }
}

// ---- listening sockets ----------------------------------------------------------------------

/// Keeps one `AcceptEx` of the provider's pending while `WskAcceptEvent` is enabled.
fn accept_progress(socket: &Arc<Socket>) {
    {
        let mut ev = socket.events();
        if !ev.on(sys::WSK_EVENT_ACCEPT)
            || ev.accept_pending
            || ev.accept_failed
            || socket.is_closing()
        {
            return;
        }
        ev.accept_pending = true;
    }
    let accepted = match socket.new_acceptor() {
        Ok(s) => s,
        Err(e) => {
            crate::trace::trace_line!("accept-event: no acceptor socket: {e:?}");
            let mut ev = socket.events();
            ev.accept_pending = false;
            ev.accept_failed = true;
            return;
        }
    };
    let kind = Kind::Accept {
        accepted,
        buffer: Box::new(std::cell::UnsafeCell::new(
            [0; 2 * crate::ops::ACCEPT_ADDR_ROOM],
        )),
        context: std::ptr::null_mut(),
        dispatch: std::ptr::null(),
        local_out: std::ptr::null_mut(),
        remote_out: std::ptr::null_mut(),
        event: true,
    };
    Op::start_internal(socket, kind);
}

/// The provider's accept finished: offer the connection to `WskAcceptEvent`.
pub(crate) fn accept_pumped(
    listen: &Arc<Socket>,
    status: NtStatus,
    handle: *mut sys::WSK_SOCKET,
    addresses: Option<&(Addr, Addr)>,
    cancelled: bool,
) {
    let table = listen
        .client_dispatch()
        .cast::<sys::WSK_CLIENT_LISTEN_DISPATCH>();
    // SAFETY: as in `connection_dispatch`.
    let callback = unsafe { table.as_ref() }.and_then(|d| d.WskAcceptEvent);
    let may_call = {
        let mut ev = listen.events();
        ev.accept_pending = false;
        if !status.is_success() && !cancelled && !listen.is_closing() {
            ev.accept_failed = true;
        }
        !cancelled && !listen.is_closing() && callback.is_some() && ev.enter(sys::WSK_EVENT_ACCEPT)
    };
    let Some(callback) = callback.filter(|_| may_call) else {
        if status.is_success() && !handle.is_null() {
            // Nobody wants it (closing, or the event was disabled meanwhile).
            // SAFETY: the handle never reached the client.
            unsafe { Socket::close_unwanted(handle) };
        }
        return;
    };
    let (mut local, mut remote) = addresses.copied().unwrap_or((Addr::empty(), Addr::empty()));
    let accept_socket = if status.is_success() {
        handle
    } else {
        // The listening socket no longer works: a null socket says so.
        std::ptr::null_mut()
    };
    // Our own reference, taken before the client sees the handle (it may close it from the
    // callback).
    // SAFETY: a live handle from `Socket::into_handle` that no client has yet, or null.
    let held = unsafe { Socket::from_handle(accept_socket) };
    let mut context: *mut c_void = std::ptr::null_mut();
    let mut dispatch: *const sys::WSK_CLIENT_CONNECTION_DISPATCH = std::ptr::null();
    // SAFETY: the client's callback with its context; the addresses live across the call;
    // Wine's header types the context out-parameter as `void *`, the WDK's as `void **`
    // (the same pointer in the x64 ABI). No lock held.
    let answer = NtStatus(unsafe {
        callback(
            listen.client_context(),
            0,
            local.as_mut_ptr().cast(),
            remote.as_mut_ptr().cast(),
            accept_socket,
            (&raw mut context).cast(),
            &raw mut dispatch,
        )
    });
    crate::trace::trace_line!(
        "WskAcceptEvent {:p}: socket {accept_socket:p} -> {answer:?}",
        Arc::as_ptr(listen)
    );
    if let Some(socket) = held {
        if answer.is_success() {
            socket.set_client(context, dispatch.cast());
            if !socket.is_closing() {
                accepted(listen, &socket);
            }
        } else {
            // Rejected (STATUS_REQUEST_NOT_ACCEPTED): closed on the client's behalf.
            // SAFETY: the client rejected the socket and must not use it.
            unsafe { Socket::close_unwanted(accept_socket) };
        }
    }
    let waiters = listen.events().leave(sys::WSK_EVENT_ACCEPT);
    release_waiters(waiters);
    accept_progress(listen);
}

/// Clients' static events: kept on the client object.
impl Client {
    /// The events `WSK_SET_STATIC_EVENT_CALLBACKS` enabled.
    pub(crate) fn static_events(&self) -> u32 {
        self.static_events.load(Ordering::Acquire)
    }

    /// Sets the static events: only before the client created its first socket.
    fn set_static_events(&self, mask: u32) -> NtStatus {
        if self.created_sockets.load(Ordering::Acquire) {
            return NtStatus::INVALID_DEVICE_STATE;
        }
        self.static_events.fetch_or(mask, Ordering::AcqRel);
        NtStatus::SUCCESS
    }
}
