//! Overlapped requests: one [`Op`] per WSK call that waits on the network (accept, connect,
//! send, receive, send-to, receive-from, a graceful disconnect with data), except the sends
//! and receives a connection socket runs in its request slots (`slot.rs`).
//!
//! # Ownership
//! An op is shared (`Arc`) by: the socket's pending list (so close can cancel it), the cancel
//! table while its IRP is cancellable, and, while Winsock owns the request, the completion
//! port (one reference given up with `Arc::into_raw`, taken back by the worker that dequeues
//! it). Its buffers (`OVERLAPPED`, addresses, the accept buffer) live inside it, so they stay
//! valid until the completion is dequeued, whatever happens to the IRP.

use std::cell::UnsafeCell;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use windows_sys::Win32::Foundation::HANDLE;
use windows_sys::Win32::Networking::WinSock as ws;
use windows_sys::Win32::System::IO::{CancelIoEx, OVERLAPPED};
use wsk_bindings::{self as sys, NtStatus};

use crate::addr::Addr;
use crate::buf::Bufs;
use crate::irp::{self, Cancel, PendingIrp};
use crate::socket::{Category, Socket};

/// Room for one address in the `AcceptEx` buffer (the function wants 16 bytes more than the
/// largest address).
pub(crate) const ACCEPT_ADDR_ROOM: usize = size_of::<ws::SOCKADDR_STORAGE>() + 16;

/// Where `WskReceiveFrom` reports its results in client memory.
pub(crate) struct FromOut {
    pub(crate) remote: *mut sys::SOCKADDR,
    pub(crate) control_length: *mut u32,
    pub(crate) control_flags: *mut u32,
    /// The client's control buffer and its size (`*ControlLength` at the call), or null / 0
    /// when no control information was asked for.
    pub(crate) control: *mut sys::CMSGHDR,
    pub(crate) control_room: u32,
}

/// Receive flags `WskReceiveFrom` reports in `ControlFlags` (ws2def.h values, which the WSK
/// page names: `MSG_TRUNC`, `MSG_CTRUNC`, `MSG_BCAST`, `MSG_MCAST`).
const CONTROL_FLAGS: u32 = MSG_TRUNC | 0x0200 | 0x0400 | 0x0800;

/// How the Winsock call that starts a request ended, when it did not fail.
#[derive(Clone, Copy, Debug)]
enum Issued {
    /// In progress: a completion packet follows.
    Pending,
    /// Finished during the call, with its status and bytes: `STATUS_SUCCESS`, or
    /// `STATUS_BUFFER_OVERFLOW` for a datagram longer than the buffer (received truncated:
    /// a warning, not a failure). Its OVERLAPPED holds the same result, and a completion
    /// packet follows unless the socket is in skip-on-success mode (Wine queues one for the
    /// warning too: finishing it here as a failure let that packet take back a reference
    /// already dropped, a double free of the op; fuzz finding 1).
    Done(NtStatus, u32),
}

/// Whether a request that ended with `status` moved data: success, or a truncated datagram.
pub(crate) fn moved_data(status: NtStatus) -> bool {
    status.is_success() || status == NtStatus::BUFFER_OVERFLOW
}

/// A zeroed `WSAMSG` (filled in just before the Winsock call, when the op is in place).
#[allow(clippy::unnecessary_box_returns, reason = "boxed to keep `Kind` small")]
pub(crate) fn empty_msg() -> Box<UnsafeCell<ws::WSAMSG>> {
    // SAFETY: WSAMSG is plain data (pointers and integers); all zeros is a valid value.
    Box::new(UnsafeCell::new(unsafe { std::mem::zeroed() }))
}

/// A zeroed address for Winsock to fill in (the sender of a datagram).
#[allow(clippy::unnecessary_box_returns, reason = "boxed to keep `Kind` small")]
pub(crate) fn empty_from() -> Box<UnsafeCell<Addr>> {
    Box::new(UnsafeCell::new(Addr::empty()))
}

/// The request an op carries, with what its completion needs.
///
/// The large fields of the other kinds (addresses, `WSAMSG`s, a receive-from's outputs, the
/// accept buffer) are boxed: an op is built and moved on every send and receive, and those
/// two kinds stay small only when the largest does (a request of another kind pays a small
/// allocation or two instead).
pub(crate) enum Kind {
    /// `WskSend`, or a graceful `WskDisconnect` with final data (`then_shutdown`).
    Send {
        bufs: Bufs,
        flags: u32,
        then_shutdown: bool,
    },
    /// `WskReceive`.
    Receive { bufs: Bufs, flags: UnsafeCell<u32> },
    /// `WskSendTo`; with control information (copied at the start) it is a `WSASendMsg`.
    SendTo {
        bufs: Bufs,
        to: Box<Addr>,
        control: Vec<u8>,
        msg: Box<UnsafeCell<ws::WSAMSG>>,
    },
    /// `WskReceiveFrom`; with a control buffer it is a `WSARecvMsg` over `msg`.
    ReceiveFrom {
        bufs: Bufs,
        flags: UnsafeCell<u32>,
        from: Box<UnsafeCell<Addr>>,
        out: Box<FromOut>,
        msg: Box<UnsafeCell<ws::WSAMSG>>,
    },
    /// `WskAccept`, or the provider's own accept for `WskAcceptEvent` (`event`): the new
    /// connection's socket handle and where its addresses go (null for `event`).
    Accept {
        accepted: ws::SOCKET,
        buffer: Box<UnsafeCell<[u8; 2 * ACCEPT_ADDR_ROOM]>>,
        context: *mut c_void,
        dispatch: *const c_void,
        local_out: *mut sys::SOCKADDR,
        remote_out: *mut sys::SOCKADDR,
        event: bool,
    },
    /// `WskConnect`, `WskConnectEx` (`data`: sent with the connection, copied at the start),
    /// or `WskSocketConnect` (`hand_over`: the IRP's Information is the socket).
    Connect {
        remote: Box<Addr>,
        hand_over: bool,
        data: Vec<u8>,
    },
    /// The provider's own receive on a connection socket whose data goes to `WskReceiveEvent`
    /// or to queued `WskReceive`s (see `events.rs`); no IRP.
    Pump {
        data: UnsafeCell<Vec<u8>>,
        bufs: Bufs,
        flags: UnsafeCell<u32>,
    },
    /// The provider's own receive-from on a datagram socket for `WskReceiveFromEvent`; no IRP.
    PumpFrom {
        data: UnsafeCell<Vec<u8>>,
        bufs: Bufs,
        flags: UnsafeCell<u32>,
        from: Box<UnsafeCell<Addr>>,
    },
    /// A packet posted to the completion port so that event work runs on a provider thread.
    Notify,
}

impl Kind {
    /// An internal receive into a buffer of `size` bytes (`from`: a receive-from).
    pub(crate) fn pump(size: usize, from: bool) -> Self {
        let mut data = vec![0u8; size];
        let bufs = Bufs::one(ws::WSABUF {
            len: u32::try_from(size).unwrap_or(u32::MAX),
            buf: data.as_mut_ptr(),
        });
        // The Vec's heap buffer does not move when the Vec is moved into the op.
        let data = UnsafeCell::new(data);
        if from {
            Kind::PumpFrom {
                data,
                bufs,
                flags: UnsafeCell::new(0),
                from: empty_from(),
            }
        } else {
            Kind::Pump {
                data,
                bufs,
                flags: UnsafeCell::new(0),
            }
        }
    }
}

impl Kind {
    /// For traces.
    /// The kind `WSKRS_PROVIDER_FAULT_OP` selects it by (`fault.rs`); the provider's own
    /// requests have names no switch selects.
    fn fault_kind(&self) -> &'static str {
        match self {
            Kind::Send {
                then_shutdown: true,
                ..
            } => "disconnect",
            other => other.name(),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Kind::Send {
                then_shutdown: false,
                ..
            } => "send",
            Kind::Send {
                then_shutdown: true,
                ..
            } => "disconnect-send",
            Kind::Receive { .. } => "receive",
            Kind::SendTo { .. } => "send-to",
            Kind::ReceiveFrom { .. } => "receive-from",
            Kind::Accept { event: false, .. } => "accept",
            Kind::Accept { event: true, .. } => "accept-event",
            Kind::Connect { .. } => "connect",
            Kind::Pump { .. } => "receive-event",
            Kind::PumpFrom { .. } => "receive-from-event",
            Kind::Notify => "notify",
        }
    }

    /// Buffer bytes of the request (for traces).
    fn len(&self) -> usize {
        match self {
            Kind::Send { bufs, .. }
            | Kind::Receive { bufs, .. }
            | Kind::SendTo { bufs, .. }
            | Kind::ReceiveFrom { bufs, .. }
            | Kind::Pump { bufs, .. }
            | Kind::PumpFrom { bufs, .. } => crate::buf::total(bufs),
            Kind::Accept { .. } | Kind::Connect { .. } | Kind::Notify => 0,
        }
    }
}

/// One overlapped request.
///
/// # Invariants
/// `ovl` is the first field (the completion port gives back `*mut OVERLAPPED`, which is also
/// the op's address). `irp` is `Some` until the op completes it, exactly once; it is written
/// only by [`Op::start`] before anything that may finish the op can see it, and taken only by
/// the one call of [`Op::finish`] that sets `finished` (no lock: every other path to the op,
/// its cancel included, leaves the IRP alone).
#[repr(C)]
pub(crate) struct Op {
    ovl: UnsafeCell<OVERLAPPED>,
    pub(crate) socket: Arc<Socket>,
    irp: UnsafeCell<Option<PendingIrp>>,
    cancel_requested: AtomicBool,
    /// Set by the first `finish`: a request that close's watchdog completed by hand is not
    /// finished again when Winsock's packet arrives after all (its accept socket would be
    /// closed twice, its events handled twice).
    finished: AtomicBool,
    /// `WSKRS_PROVIDER_DELAY` chose this request (boxed: every other request keeps its op
    /// small, fewer cache lines to fill and touch).
    parking: Option<Box<Parking>>,
    /// `WSKRS_PROVIDER_DROP` reset the connection under this pending request: its failure is
    /// reported as `STATUS_CONNECTION_RESET`.
    reset: AtomicBool,
    kind: Kind,
}

/// The requests pending on one socket (so that its close can cancel them), listed by address:
/// listing one costs no reference count.
///
/// # Invariants
/// A listed op is alive: [`Op::start`] lists it while holding a reference, and the
/// [`Op::finish`] that completes it unlists it before letting go of its own reference.
#[derive(Default)]
pub(crate) struct PendingOps(Vec<*const Op>);

impl PendingOps {
    /// Lists `op`.
    pub(crate) fn add(&mut self, op: &Arc<Op>) {
        self.0.push(Arc::as_ptr(op));
    }

    /// Unlists `op`.
    pub(crate) fn remove(&mut self, op: &Op) {
        self.0.retain(|&listed| !std::ptr::eq(listed, op));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A reference to every listed op, to use after the socket's lock is released.
    pub(crate) fn to_vec(&self) -> Vec<Arc<Op>> {
        self.0
            .iter()
            .map(|&op| {
                // SAFETY: a listed op is alive (type invariant), so its count is at least 1;
                // the reference added is the one from_raw takes.
                unsafe { Arc::increment_strong_count(op) };
                // SAFETY: as above.
                unsafe { Arc::from_raw(op) }
            })
            .collect()
    }
}

/// A delayed request's hold: how long, where it stands, and the result it had.
struct Parking {
    /// Its completion is held back this long.
    delay: Duration,
    /// [`IDLE`], [`PARKED`] (completed by Winsock, waiting in `delay.rs`) or [`RELEASED`].
    state: AtomicU8,
    /// The result the request had when it was parked.
    result: Mutex<Option<(NtStatus, usize)>>,
}

/// Not parked (yet).
const IDLE: u8 = 0;
/// Completed by Winsock and held back by `WSKRS_PROVIDER_DELAY`.
const PARKED: u8 = 1;
/// Taken out of the delay (time up, or cancelled): on its way to a worker thread.
const RELEASED: u8 = 2;

// SAFETY: the raw pointers in `kind` point to client memory that the WSK contract keeps valid
// until the IRP completes; the UnsafeCells are written only by Winsock while the request is
// pending and read only by the one worker that dequeues its completion.
unsafe impl Send for Op {}
// SAFETY: as above.
unsafe impl Sync for Op {}

impl Cancel for Op {
    fn cancel(&self) {
        self.cancel_requested.store(true, Ordering::SeqCst);
        // A parked request has nothing left in Winsock to cancel: release it now (it then
        // completes with STATUS_CANCELLED).
        if self
            .parking
            .as_ref()
            .is_some_and(|p| p.state.load(Ordering::SeqCst) == PARKED)
        {
            self.release_parked();
        }
        self.cancel_io();
    }
}

impl Op {
    fn new(socket: Arc<Socket>, kind: Kind, delay: Option<Duration>) -> Arc<Self> {
        Arc::new(Op {
            // SAFETY: OVERLAPPED is plain data; all-zero is its initial state.
            ovl: UnsafeCell::new(unsafe { std::mem::zeroed() }),
            socket,
            irp: UnsafeCell::new(None),
            cancel_requested: AtomicBool::new(false),
            finished: AtomicBool::new(false),
            parking: delay.map(|delay| {
                Box::new(Parking {
                    delay,
                    state: AtomicU8::new(IDLE),
                    result: Mutex::new(None),
                })
            }),
            reset: AtomicBool::new(false),
            kind,
        })
    }

    /// Starts `kind` on `socket` for `irp`. Returns what the WSK call returns: always
    /// `STATUS_PENDING`, as the IRP is completed (now or later) in every case.
    #[cfg_attr(windows, link_section = ".text$wskhot")]
    pub(crate) fn start(socket: Arc<Socket>, irp: PendingIrp, kind: Kind) -> NtStatus {
        let op = Op::new(socket, kind, crate::fault::delay());
        crate::trace::trace_line!(
            "start {} on {:p}: irp {:p}, {} byte(s)",
            op.kind.name(),
            Arc::as_ptr(&op.socket),
            irp.as_ptr(),
            op.kind.len()
        );
        // SAFETY: the op outlives the routine: its finish clears the routine before letting go
        // of its reference (and an op that never finishes is never freed).
        let cancellable = unsafe { irp::set_cancellable_borrowed(&irp, &op) };
        // SAFETY: nothing can finish the op yet (it is in no list and not issued), and its
        // cancel does not touch the IRP (type invariant).
        unsafe { *op.irp.get() = Some(irp) };
        if !cancellable {
            // Cancelled already: completes at once (never parked).
            op.cancel_requested.store(true, Ordering::SeqCst);
            op.finish(NtStatus::CANCELLED, 0);
            return NtStatus::PENDING;
        }
        let handle = match op.socket.add_pending(&op) {
            Ok(handle) => handle,
            Err(status) => {
                op.finish(status, 0);
                return NtStatus::PENDING;
            }
        };
        // (The kind's name is looked up only when a fault switch is on.)
        let injected = if crate::switches::faults() {
            crate::fault::inject(op.kind.fault_kind())
        } else {
            None
        };
        if let Some(status) = injected {
            op.finish(status, 0);
            return NtStatus::PENDING;
        }
        let raw = Arc::into_raw(op.clone());
        // Read before the Winsock call: after it, what Wine did not touch is cold.
        let (tracing, skip) = (crate::trace::on(), skips_packets());
        // SAFETY: `raw` is the in-flight reference; its OVERLAPPED is the op's first field and
        // stays valid until the completion port gives `raw` back.
        let started = unsafe { op.issue(handle, raw.cast_mut().cast()) };
        if tracing {
            let name = op.kind.name();
            crate::trace::line(format_args!("issued {name} {raw:p}: {started:?}"));
        }
        op.after_issue(raw, started, skip);
        NtStatus::PENDING
    }

    /// What follows the Winsock call: a request that failed, or (in skip-on-success mode:
    /// `skip`) finished at once ([`Issued::Done`]), gets no packet, so it is finished here
    /// with the in-flight reference `raw` taken back; a pending one is left to the port (and
    /// cancelled now if the client asked while it was being issued: `CancelIoEx` may have
    /// found nothing then).
    fn after_issue(
        self: &Arc<Self>,
        raw: *const Self,
        started: Result<Issued, NtStatus>,
        skip: bool,
    ) {
        let finished_now = match started {
            Err(status) => Some((status, 0)),
            Ok(Issued::Done(status, bytes)) if skip => Some((status, bytes as usize)),
            Ok(_) => None,
        };
        if let Some((status, bytes)) = finished_now {
            // SAFETY: `raw` came from Arc::into_raw in the caller and no packet will give it
            // back: it is the reference this finish uses.
            unsafe { Arc::from_raw(raw) }.finish(status, bytes);
        } else if self.cancel_requested.load(Ordering::SeqCst) {
            self.cancel_io();
        }
    }

    /// Starts a provider-internal request (event pumps, notifications): no IRP; its result
    /// goes to `events.rs` on the provider thread that dequeues it.
    pub(crate) fn start_internal(socket: &Arc<Socket>, kind: Kind) {
        let op = Op::new(Arc::clone(socket), kind, None);
        crate::trace::trace_line!("start {} on {:p}", op.kind.name(), Arc::as_ptr(socket));
        let handle = match socket.add_pending(&op) {
            Ok(handle) => handle,
            Err(status) => {
                op.finish(status, 0);
                return;
            }
        };
        let raw = Arc::into_raw(op.clone());
        // SAFETY: as in `start`.
        let started = match unsafe { op.issue(handle, raw.cast_mut().cast()) } {
            // Event callbacks never run inside the client's call that started the pump: a
            // request that finished at once goes through the port as if it had pended (a
            // truncated datagram then arrives as a success of the bytes that fit).
            Ok(Issued::Done(status, bytes)) => match crate::engine::get() {
                // (Should the port refuse the packet, the request is finished here after all:
                // it did finish.)
                Ok(engine) if engine.skip_on_success => engine
                    .post_completed(raw.cast_mut().cast(), bytes)
                    .map_or(Ok(Issued::Done(status, bytes)), |()| Ok(Issued::Pending)),
                _ => Ok(Issued::Done(status, bytes)),
            },
            other => other,
        };
        op.after_issue(raw, started, skips_packets());
    }

    /// The Winsock call: [`Issued`], or `Err` when it failed synchronously (no packet).
    ///
    /// # Safety
    /// `ovl` is this op's OVERLAPPED, with the in-flight reference given up.
    // One flat match over the request kinds, one Winsock call each.
    #[allow(clippy::too_many_lines)]
    #[cfg_attr(windows, link_section = ".text$wskhot")]
    unsafe fn issue(&self, s: ws::SOCKET, ovl: *mut OVERLAPPED) -> Result<Issued, NtStatus> {
        let engine = crate::engine::get()?;
        let mut bytes = 0u32;
        let ok = match &self.kind {
            Kind::Send { bufs, flags, .. } => {
                // SAFETY: buffers point to the client's MDL memory, valid until completion.
                unsafe {
                    ws::WSASend(
                        s,
                        bufs.as_ptr(),
                        count(bufs),
                        &raw mut bytes,
                        *flags,
                        ovl,
                        None,
                    ) == 0
                }
            }
            Kind::Receive { bufs, flags } | Kind::Pump { bufs, flags, .. } => {
                // SAFETY: as above; `flags` lives in the op.
                unsafe {
                    ws::WSARecv(
                        s,
                        bufs.as_ptr(),
                        count(bufs),
                        &raw mut bytes,
                        flags.get(),
                        ovl,
                        None,
                    ) == 0
                }
            }
            Kind::SendTo {
                bufs,
                to,
                control,
                msg,
            } if !control.is_empty() => {
                let msg = msg.get();
                // SAFETY: `msg` lives in the op, which no longer moves; every pointer in it
                // (address, buffers, control bytes) lives in the op or the client's MDLs
                // until completion.
                unsafe {
                    msg.write(ws::WSAMSG {
                        name: to.as_ptr().cast_mut(),
                        namelen: to.len,
                        lpBuffers: bufs.as_ptr().cast_mut(),
                        dwBufferCount: count(bufs),
                        Control: ws::WSABUF {
                            len: u32::try_from(control.len())
                                .map_err(|_| NtStatus::INVALID_PARAMETER)?,
                            buf: control.as_ptr().cast_mut(),
                        },
                        dwFlags: 0,
                    });
                }
                // SAFETY: as above.
                unsafe { ws::WSASendMsg(s, msg, 0, &raw mut bytes, ovl, None) == 0 }
            }
            Kind::SendTo { bufs, to, .. } => {
                // SAFETY: as above; `to` lives in the op.
                unsafe {
                    ws::WSASendTo(
                        s,
                        bufs.as_ptr(),
                        count(bufs),
                        &raw mut bytes,
                        0,
                        to.as_ptr(),
                        to.len,
                        ovl,
                        None,
                    ) == 0
                }
            }
            Kind::ReceiveFrom {
                bufs,
                from,
                out,
                msg,
                ..
            } if !out.control.is_null() && out.control_room > 0 => {
                let recv_msg = engine.recv_msg.ok_or(NtStatus::NOT_SUPPORTED)?;
                let from = from.get();
                // SAFETY: `from` points into this op; taking a field's address reads nothing.
                let from_len = unsafe { (*from).len };
                let msg = msg.get();
                // SAFETY: `msg` lives in the op, which no longer moves; the address and the
                // buffer list live in the op, the data and control buffers are the client's,
                // valid until completion (WSK contract).
                unsafe {
                    msg.write(ws::WSAMSG {
                        name: from.cast(),
                        namelen: from_len,
                        lpBuffers: bufs.as_ptr().cast_mut(),
                        dwBufferCount: count(bufs),
                        Control: ws::WSABUF {
                            len: out.control_room,
                            buf: out.control.cast(),
                        },
                        dwFlags: 0,
                    });
                }
                // SAFETY: as above.
                unsafe { recv_msg(s, msg, &raw mut bytes, ovl, None) == 0 }
            }
            Kind::ReceiveFrom {
                bufs, flags, from, ..
            }
            | Kind::PumpFrom {
                bufs, flags, from, ..
            } => {
                let from = from.get();
                let from_addr = from.cast::<ws::SOCKADDR>();
                // SAFETY: `from` points into this op; taking a field's address reads nothing.
                let from_len = unsafe { &raw mut (*from).len };
                // SAFETY: as above; `from` and its length live in the op until completion.
                unsafe {
                    ws::WSARecvFrom(
                        s,
                        bufs.as_ptr(),
                        count(bufs),
                        &raw mut bytes,
                        flags.get(),
                        from_addr,
                        from_len,
                        ovl,
                        None,
                    ) == 0
                }
            }
            Kind::Accept {
                accepted, buffer, ..
            } => {
                let accept_ex = engine.accept_ex.ok_or(NtStatus::NOT_SUPPORTED)?;
                // ACCEPT_ADDR_ROOM (144) fits in u32.
                #[allow(clippy::cast_possible_truncation)]
                let room = ACCEPT_ADDR_ROOM as u32;
                // SAFETY: `buffer` holds two address slots and lives in the op.
                unsafe {
                    accept_ex(
                        s,
                        *accepted,
                        buffer.get().cast(),
                        0,
                        room,
                        room,
                        &raw mut bytes,
                        ovl,
                    ) != 0
                }
            }
            Kind::Notify => return engine.post(ovl).map(|()| Issued::Pending),
            Kind::Connect { remote, data, .. } => {
                let connect_ex = engine.connect_ex.ok_or(NtStatus::NOT_SUPPORTED)?;
                let send = if data.is_empty() {
                    std::ptr::null()
                } else {
                    data.as_ptr().cast()
                };
                let send_len =
                    u32::try_from(data.len()).map_err(|_| NtStatus::INVALID_PARAMETER)?;
                // SAFETY: `remote` and `data` live in the op until it completes.
                unsafe {
                    connect_ex(
                        s,
                        remote.as_ptr(),
                        remote.len,
                        send,
                        send_len,
                        &raw mut bytes,
                        ovl,
                    ) != 0
                }
            }
        };
        if ok {
            return Ok(Issued::Done(NtStatus::SUCCESS, bytes));
        }
        // SAFETY: no preconditions.
        match unsafe { ws::WSAGetLastError() } {
            ws::WSA_IO_PENDING => Ok(Issued::Pending),
            ws::WSAEMSGSIZE
                if matches!(self.kind, Kind::ReceiveFrom { .. } | Kind::PumpFrom { .. }) =>
            {
                // Winsock reports the bytes of a call that "failed" in the OVERLAPPED only.
                // SAFETY: the request finished during the call: Winsock no longer writes the
                // OVERLAPPED, which lives in this op.
                let bytes = unsafe { (*ovl).InternalHigh };
                Ok(Issued::Done(
                    NtStatus::BUFFER_OVERFLOW,
                    u32::try_from(bytes).unwrap_or(u32::MAX),
                ))
            }
            error => Err(crate::status::from_wsa(error)),
        }
    }

    /// The NTSTATUS Winsock left in the OVERLAPPED of a failed request.
    pub(crate) fn overlapped_status(&self) -> NtStatus {
        // SAFETY: the request is complete (its packet was dequeued), so nothing writes it now.
        let internal = unsafe { (*self.ovl.get()).Internal };
        // NTSTATUS values are 32-bit; Internal is pointer-sized.
        #[allow(clippy::cast_possible_truncation)]
        NtStatus::from_u32(internal as u32)
    }

    /// The connection was dropped (`WSKRS_PROVIDER_DROP`) under this pending request: stop it;
    /// it fails with `STATUS_CONNECTION_RESET`. A parked request already has its result.
    pub(crate) fn reset(&self) {
        self.reset.store(true, Ordering::SeqCst);
        self.cancel_io();
    }

    /// `CancelIoEx` on this request (harmless when it already completed).
    fn cancel_io(&self) {
        if let Some(s) = self.socket.raw_handle() {
            // SAFETY: the OVERLAPPED lives as long as `self`; cancelling a request that is not
            // (or no longer) pending fails harmlessly with ERROR_NOT_FOUND.
            unsafe { CancelIoEx(s as HANDLE, self.ovl.get()) };
        }
    }

    /// Completes the op: post-processing by kind, the IRP, then (when it was the last pending
    /// request of a closing socket) the close.
    #[cfg_attr(windows, link_section = ".text$wskhot")]
    pub(crate) fn finish(self: Arc<Self>, status: NtStatus, bytes: usize) {
        if self.park(status, bytes) {
            return;
        }
        if self.finished.swap(true, Ordering::AcqRel) {
            return;
        }
        let cancelled = self.cancel_requested.load(Ordering::SeqCst) || self.socket.is_closing();
        let status = if moved_data(status) {
            status
        } else if cancelled {
            NtStatus::CANCELLED
        } else if self.reset.load(Ordering::SeqCst) {
            NtStatus::CONNECTION_RESET
        } else {
            status
        };
        let (status, information) = self.complete_kind(status, bytes);
        if status.is_success()
            && matches!(
                self.kind,
                Kind::Send { .. } | Kind::Receive { .. } | Kind::Pump { .. }
            )
            && self.socket.take_doomed()
        {
            // WSKRS_PROVIDER_DROP: the connection's first send or receive completed; it is
            // reset now, before this request's own completion reaches the client.
            self.socket.drop_connection(&self);
        }
        // SAFETY: this call set `finished`, so it alone takes the IRP (type invariant).
        let irp = unsafe { (*self.irp.get()).take() };
        if irp.is_none() {
            // A provider-internal request: event callbacks run here, while the op still counts
            // as pending, so a close cannot complete before they have returned.
            self.internal_done(status, information, bytes, cancelled);
        }
        let close = self.socket.remove_pending(&self);
        if let Some(irp) = irp {
            irp::clear_cancellable(&irp);
            irp.complete(status, information);
        }
        if let Some(close) = close {
            Socket::finish_close(&self.socket, close);
        }
    }

    /// Holds back the completion of a request `WSKRS_PROVIDER_DELAY` chose (once): stores the
    /// result and parks the op on the timer. Returns whether it was parked. A request that is
    /// being cancelled or whose socket is closing is not parked.
    fn park(self: &Arc<Self>, status: NtStatus, bytes: usize) -> bool {
        let Some(parking) = &self.parking else {
            return false;
        };
        let delay = parking.delay;
        if self.finished.load(Ordering::Acquire)
            || self.cancel_requested.load(Ordering::SeqCst)
            || self.socket.is_closing()
        {
            return false;
        }
        *parking
            .result
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some((status, bytes));
        if parking
            .state
            .compare_exchange(IDLE, PARKED, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            // Parked before (this is its release, or a late second finish).
            return false;
        }
        crate::trace::trace_line!(
            "delay {} {:p} by {} ms: {status:?}, {bytes} byte(s)",
            self.kind.name(),
            Arc::as_ptr(self),
            delay.as_millis()
        );
        // A cancel that came in meanwhile may have looked before the op was parked.
        if self.cancel_requested.load(Ordering::SeqCst)
            || self.socket.is_closing()
            || !crate::delay::park(Arc::clone(self), delay)
        {
            self.release_parked();
        }
        true
    }

    /// Takes a parked op out of its delay (once; later calls do nothing) and hands it to a
    /// worker thread through the completion port, which calls [`Op::finish_parked`].
    pub(crate) fn release_parked(&self) {
        if self.parking.as_ref().is_none_or(|p| {
            p.state
                .compare_exchange(PARKED, RELEASED, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
        }) {
            return;
        }
        let ptr: *const Op = self;
        // SAFETY: `self` is inside an Arc (ops only exist as Arc<Op>); the reference added here
        // is the packet's, given back by the worker that dequeues it (or just below).
        unsafe { Arc::increment_strong_count(ptr) };
        let posted = crate::engine::get().and_then(|e| e.post_released(ptr.cast_mut().cast()));
        if posted.is_err() {
            // SAFETY: the reference added above, not consumed by the port.
            let op = unsafe { Arc::from_raw(ptr) };
            op.finish_parked();
        }
    }

    /// Finishes a released op: with `STATUS_CANCELLED` when it was cancelled (or its socket
    /// is closing) while parked, else with the result it was parked with.
    pub(crate) fn finish_parked(self: Arc<Self>) {
        let stored = self.parking.as_ref().and_then(|p| {
            p.result
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
        });
        let (status, bytes) =
            if self.cancel_requested.load(Ordering::SeqCst) || self.socket.is_closing() {
                (NtStatus::CANCELLED, 0)
            } else {
                stored.unwrap_or((NtStatus::UNSUCCESSFUL, 0))
            };
        crate::trace::trace_line!(
            "release {} {:p}: {status:?}",
            self.kind.name(),
            Arc::as_ptr(&self)
        );
        self.finish(status, bytes);
    }

    /// Hands the result of a provider-internal request to the event machinery.
    fn internal_done(&self, status: NtStatus, information: usize, bytes: usize, cancelled: bool) {
        let socket = &self.socket;
        match &self.kind {
            Kind::Pump { data, .. } => {
                // SAFETY: the request is complete; Winsock no longer writes the buffer.
                let data = unsafe { &*data.get() };
                let got = data.get(..bytes.min(data.len())).unwrap_or_default();
                crate::events::stream_pumped(socket, status, got, cancelled);
            }
            Kind::PumpFrom { data, from, .. } => {
                // SAFETY: as above.
                let data = unsafe { &*data.get() };
                let got = data.get(..bytes.min(data.len())).unwrap_or_default();
                // SAFETY: as above; Winsock filled the address.
                let from = unsafe { *from.get() };
                crate::events::datagram_pumped(socket, status, got, from, cancelled);
            }
            Kind::Accept {
                event: true,
                buffer,
                ..
            } => {
                let addresses = status.is_success().then(|| {
                    // SAFETY: the request is complete; Winsock filled the buffer.
                    unsafe { accept_addresses(buffer.get().cast()) }
                });
                crate::events::accept_pumped(
                    socket,
                    status,
                    information as *mut sys::WSK_SOCKET,
                    addresses.as_ref(),
                    cancelled,
                );
            }
            Kind::Notify => crate::events::notified(socket, status, cancelled),
            _ => {}
        }
    }

    /// Kind-specific work after the network part finished: returns the IRP's final status
    /// and Information.
    #[cfg_attr(windows, link_section = ".text$wskhot")]
    fn complete_kind(&self, status: NtStatus, bytes: usize) -> (NtStatus, usize) {
        match &self.kind {
            Kind::Send { then_shutdown, .. } => {
                if status.is_success() && *then_shutdown {
                    if let Err(e) = self.socket.shutdown_send() {
                        return (e, bytes);
                    }
                }
                (status, if status.is_success() { bytes } else { 0 })
            }
            Kind::Receive { .. }
            | Kind::SendTo { .. }
            | Kind::Pump { .. }
            | Kind::PumpFrom { .. }
            | Kind::Notify => (status, if status.is_success() { bytes } else { 0 }),
            Kind::ReceiveFrom { from, out, msg, .. } => {
                if moved_data(status) {
                    let truncated = !status.is_success();
                    // SAFETY: the request completed with a datagram; Winsock no longer writes
                    // `from` or `msg`, and the client's buffers in `out` stay valid until its
                    // IRP completes (WSK contract).
                    unsafe { finish_receive_from(from, out, msg, truncated) };
                    // A truncated datagram: STATUS_BUFFER_OVERFLOW, a warning whose
                    // Information is the bytes received (as NT reports a short buffer).
                    (status, bytes)
                } else {
                    (status, 0)
                }
            }
            Kind::Accept {
                accepted,
                buffer,
                context,
                dispatch,
                local_out,
                remote_out,
                event,
            } => {
                if !status.is_success() {
                    // SAFETY: the accept socket is ours and never handed out.
                    unsafe { ws::closesocket(*accepted) };
                    return (status, 0);
                }
                // SAFETY: the request is complete; Winsock filled the buffer.
                let (local, remote) = unsafe { accept_addresses(buffer.get().cast()) };
                let listen = self.socket.raw_handle().unwrap_or(ws::INVALID_SOCKET);
                // SAFETY: SO_UPDATE_ACCEPT_CONTEXT takes the listening socket handle (Winsock
                // needs it before getsockname/getpeername/shutdown on an AcceptEx socket).
                unsafe {
                    ws::setsockopt(
                        *accepted,
                        ws::SOL_SOCKET,
                        ws::SO_UPDATE_ACCEPT_CONTEXT,
                        (&raw const listen).cast(),
                        SOCKET_LEN,
                    )
                };
                let socket = Socket::new_connected(&self.socket, *accepted, *context, *dispatch);
                socket.established();
                if !*event {
                    // SAFETY: client buffers valid until completion (WSK contract); sized by
                    // family.
                    unsafe { local.write(*local_out) };
                    // SAFETY: as above.
                    unsafe { remote.write(*remote_out) };
                    // Connection events enabled on the listening socket (or statically) apply
                    // to the sockets accepted on it.
                    crate::events::accepted(&self.socket, &socket);
                }
                (NtStatus::SUCCESS, Socket::into_handle(socket) as usize)
            }
            Kind::Connect {
                hand_over, data, ..
            } => {
                if status.is_success() {
                    self.socket.connected();
                    self.socket.established();
                    crate::events::connected(&self.socket);
                }
                if !*hand_over {
                    // WskConnectEx: Information is the bytes of `data` sent.
                    let sent = if status.is_success() {
                        bytes.min(data.len())
                    } else {
                        0
                    };
                    return (status, sent);
                }
                if status.is_success() {
                    (
                        status,
                        Socket::into_handle(Arc::clone(&self.socket)) as usize,
                    )
                } else {
                    // WskSocketConnect failed: the socket never reached the client.
                    self.socket.discard();
                    (status, 0)
                }
            }
        }
    }
}

/// Whether a request that succeeds at once gets no completion packet (the engine's mode).
fn skips_packets() -> bool {
    crate::engine::get().is_ok_and(|e| e.skip_on_success)
}

/// The size of a SOCKET handle as Winsock's option length (8).
#[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
const SOCKET_LEN: i32 = size_of::<ws::SOCKET>() as i32;

/// Buffer count for Winsock (a handful of MDLs; saturates rather than wraps).
fn count(bufs: &[ws::WSABUF]) -> u32 {
    u32::try_from(bufs.len()).unwrap_or(u32::MAX)
}

/// The (local, remote) addresses `AcceptEx` stored.
///
/// # Safety
/// `buffer` is a completed `AcceptEx` output buffer of `2 * ACCEPT_ADDR_ROOM` bytes.
unsafe fn accept_addresses(buffer: *const c_void) -> (Addr, Addr) {
    let mut local = Addr::empty();
    let mut remote = Addr::empty();
    let Some(get) = crate::engine::get()
        .ok()
        .and_then(|e| e.get_accept_ex_sockaddrs)
    else {
        return (local, remote);
    };
    let (mut lp, mut rp) = (std::ptr::null_mut(), std::ptr::null_mut());
    let (mut ll, mut rl) = (0i32, 0i32);
    #[allow(clippy::cast_possible_truncation)]
    let room = ACCEPT_ADDR_ROOM as u32;
    // SAFETY: the buffer is a completed AcceptEx buffer with no data and two address slots.
    unsafe {
        get(
            buffer,
            0,
            room,
            room,
            &raw mut lp,
            &raw mut ll,
            &raw mut rp,
            &raw mut rl,
        );
    };
    for (p, len, out) in [(lp, ll, &mut local), (rp, rl, &mut remote)] {
        let len = usize::try_from(len)
            .unwrap_or(0)
            .min(size_of::<ws::SOCKADDR_STORAGE>());
        if !p.is_null() {
            // SAFETY: GetAcceptExSockaddrs points into `buffer` with `len` valid bytes.
            unsafe {
                std::ptr::copy_nonoverlapping(p.cast::<u8>(), out.as_mut_ptr().cast::<u8>(), len);
            };
            out.len = i32::try_from(len).unwrap_or(0);
        }
    }
    (local, remote)
}

/// Which categories may start which op (checked by the socket before building one).
pub(crate) fn allowed(category: Category, kind: &Kind) -> bool {
    matches!(
        (category, kind),
        (
            Category::Connection,
            Kind::Send { .. } | Kind::Receive { .. } | Kind::Connect { .. }
        ) | (
            Category::Datagram,
            Kind::SendTo { .. } | Kind::ReceiveFrom { .. }
        ) | (Category::Listen, Kind::Accept { .. })
    )
}

/// `MSG_TRUNC` (ws2def.h): the datagram was longer than the buffer.
const MSG_TRUNC: u32 = 0x0100;

/// Writes a completed `WskReceiveFrom`'s outputs: the sender's address and, with a control
/// buffer, the control bytes written and the receive flags (`WSARecvMsg` updated `msg`);
/// `MSG_TRUNC` in the flags when the datagram was `truncated`.
///
/// # Safety
/// The request completed with a datagram (Winsock no longer writes `from` or `msg`) and the
/// client's pointers in `out` are valid or null (WSK contract: until its IRP completes).
unsafe fn finish_receive_from(
    from: &UnsafeCell<Addr>,
    out: &FromOut,
    msg: &UnsafeCell<ws::WSAMSG>,
    truncated: bool,
) {
    // SAFETY: the caller guarantees Winsock no longer writes `from`.
    let from = unsafe { &*from.get() };
    // SAFETY: the client's buffers stay valid until its IRP completes (WSK contract); null
    // pointers are skipped.
    unsafe { from.write(out.remote) };
    let (control_len, control_flags) = if out.control.is_null() || out.control_room == 0 {
        (0, 0)
    } else {
        // SAFETY: the caller guarantees Winsock no longer writes `msg`.
        let msg = unsafe { &*msg.get() };
        (
            msg.Control.len.min(out.control_room),
            msg.dwFlags & CONTROL_FLAGS,
        )
    };
    let control_flags = if truncated {
        control_flags | MSG_TRUNC
    } else {
        control_flags
    };
    for (p, value) in [
        (out.control_length, control_len),
        (out.control_flags, control_flags),
    ] {
        if !p.is_null() {
            // SAFETY: as above.
            unsafe { p.write_unaligned(value) };
        }
    }
}

// The variants a send and a receive use stay small (see `Kind`).
const _: () = assert!(size_of::<Kind>() <= 96);
// And the op with them: three cache lines with its reference counts (a delayed request's
// state is boxed, see `Parking`).
const _: () = assert!(size_of::<Op>() <= 168);
