//! The request slots of a connection socket: one `WskSend` and one `WskReceive` at a time
//! run in a slot the socket owns, without an [`Op`](crate::ops::Op) of their own: no
//! allocation, no lock and no pending list per request.
//!
//! Why: Wine's `netio.sys` runs each send and receive as one short C function over a fixed
//! request array of its socket. The general path (an `Arc<Op>` per request, the socket's
//! pending list behind its lock, the op's kind and fault hooks) cost the provider about 1% of
//! a 64 B echo round trip more than that (docs/performance.md, "Request slots").
//!
//! A request takes its slot only when nothing else is asked of it: the socket is connected,
//! open, not aborted and not pumping receives into events, no fault, trace or verifier switch
//! is on, and the slot is free (a second send while one is in flight takes the general path;
//! Winsock keeps the order they were issued in). Everything else is the general path's.
//!
//! # Lifetime and teardown
//! - A slot is in an `Arc` owned by its socket, so that a cancel routine can hold it.
//! - A request in a slot holds one reference to the socket from issue to finish; close waits
//!   for both slots to be free as it waits for the pending list ([`Socket::all_finished`]).
//! - The slot's `OVERLAPPED` is its first field and carries [`TAG`] in `Offset` (ignored by
//!   Winsock for sockets; every op's is zero), so the engine's worker tells a slot's completion
//!   from an op's.
//! - A slot's cancel runs under the cancel spin lock
//!   ([`irp::set_cancellable_reused`]): a cancel for one IRP never reaches the slot's next
//!   request through the same `OVERLAPPED`.
//!
//! IRQL: everything here runs in Wine's driver host, where IRQL has no meaning; the WSK
//! contract of `WskSend`/`WskReceive` (callable at `<= DISPATCH_LEVEL`) is kept: nothing
//! waits.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

use windows_sys::Win32::Foundation::HANDLE;
use windows_sys::Win32::Networking::WinSock as ws;
use windows_sys::Win32::System::IO::{CancelIoEx, OVERLAPPED};
use wsk_bindings::{self as sys, NtStatus};

use crate::irp::{self, Cancel, PendingIrp};
use crate::socket::Socket;

/// `OVERLAPPED.Offset` of a slot's request: "WSKs".
const TAG: u32 = u32::from_le_bytes(*b"WSKs");

/// Slot states.
const FREE: u8 = 0;
const ISSUED: u8 = 1;

/// Which slot: the send slot or the receive slot.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Direction {
    Send,
    Receive,
}

/// One request slot.
///
/// # Invariants
/// - `ovl` is the first field (`repr(C)`): the completion port gives back its address.
/// - While `state` is `ISSUED`, `irp` holds the request's IRP until its finish takes it, and
///   `socket` holds one reference to the socket the request was issued on; `flags`, `ovl` and
///   the client's buffers are Winsock's until the request completes.
/// - Only the thread that set `ISSUED` writes `ovl`, `flags`, `irp` and `socket` before the
///   Winsock call; after it, only the one finish of that request touches them.
#[repr(C)]
pub(crate) struct RequestSlot {
    ovl: UnsafeCell<OVERLAPPED>,
    state: AtomicU8,
    cancel_requested: AtomicBool,
    /// `WSKRS_PROVIDER_DROP` reset the connection while the request was in flight.
    reset: AtomicBool,
    /// The Winsock socket the request was issued on (for `CancelIoEx`).
    handle: AtomicUsize,
    socket: AtomicPtr<Socket>,
    flags: UnsafeCell<u32>,
    irp: UnsafeCell<Option<PendingIrp>>,
}

// SAFETY: the cells are written only by the one thread that owns the slot's current request
// (type invariant); the rest are atomics.
unsafe impl Send for RequestSlot {}
// SAFETY: as above.
unsafe impl Sync for RequestSlot {}

impl RequestSlot {
    /// A free slot.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            // SAFETY: OVERLAPPED is plain data; all-zero is its initial state.
            ovl: UnsafeCell::new(unsafe { std::mem::zeroed() }),
            state: AtomicU8::new(FREE),
            cancel_requested: AtomicBool::new(false),
            reset: AtomicBool::new(false),
            handle: AtomicUsize::new(ws::INVALID_SOCKET),
            socket: AtomicPtr::new(std::ptr::null_mut()),
            flags: UnsafeCell::new(0),
            irp: UnsafeCell::new(None),
        })
    }

    /// Whether no request is in the slot.
    pub(crate) fn is_free(&self) -> bool {
        self.state.load(Ordering::SeqCst) == FREE
    }

    /// Asks the request in the slot (if any) to end with `STATUS_CANCELLED`; for close and
    /// abortive disconnect.
    pub(crate) fn cancel_in_flight(&self) {
        if !self.is_free() {
            self.cancel();
        }
    }

    /// Marks the request in flight as ended by a reset (`WSKRS_PROVIDER_DROP`).
    pub(crate) fn mark_reset(&self) {
        if !self.is_free() {
            self.reset.store(true, Ordering::SeqCst);
        }
    }
}

impl Cancel for RequestSlot {
    /// Runs under the cancel spin lock (see the module doc): no lock of its own.
    fn cancel(&self) {
        self.cancel_requested.store(true, Ordering::SeqCst);
        let handle = self.handle.load(Ordering::Acquire);
        if handle != ws::INVALID_SOCKET {
            // SAFETY: cancelling by this slot's OVERLAPPED, which stays valid (the slot lives
            // as long as its socket, which the request holds); a request that is not (or no
            // longer) pending makes it fail harmlessly with ERROR_NOT_FOUND.
            unsafe { CancelIoEx(handle as HANDLE, self.ovl.get()) };
        }
    }
}

/// Whether a request may take a slot at all: no switch that wants the general path.
#[cfg_attr(windows, link_section = ".text$wskhot")]
fn switches_allow() -> bool {
    !crate::switches::faults() && !crate::trace::on() && !crate::verify::on()
}

/// `WskSend` / `WskReceive` through the socket's slot: `Some(status)` to return when the slot
/// took the request (always `STATUS_PENDING`, or `STATUS_INVALID_PARAMETER` for an IRP the
/// provider cannot take), `None` for the general path.
///
/// # Safety
/// The WSK contract of `WskSend` / `WskReceive`: `handle` is a socket this provider gave the
/// client and still open to it, `buffer` and its MDLs stay valid until the IRP completes, and
/// `irp` is null or a live IRP with a stack location for the provider.
#[cfg_attr(windows, link_section = ".text$wskhot")]
pub(crate) unsafe fn start(
    handle: *mut sys::WSK_SOCKET,
    buffer: *const sys::WSK_BUF,
    irp: *mut sys::IRP,
    direction: Direction,
    flags: u32,
) -> Option<sys::NTSTATUS> {
    if handle.is_null() || irp.is_null() || !switches_allow() {
        return None;
    }
    // SAFETY: caller's contract: a live socket of ours (`wsk` is its first field).
    let socket = unsafe { &*handle.cast_const().cast::<Socket>() };
    let slot = socket.slot_for(direction)?;
    if slot
        .state
        .compare_exchange(FREE, ISSUED, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        return None;
    }
    // Taken before looking at `closing` (close sets it, then looks at the slots): one of the
    // two sees the other.
    let Some(winsock) = socket.slot_ready() else {
        release_unused(socket, slot);
        return None;
    };
    // SAFETY: caller's contract.
    let Ok(bufs) = (unsafe { crate::buf::wsabufs(buffer) }) else {
        release_unused(socket, slot);
        return None;
    };
    let name = match direction {
        Direction::Send => "WskSend",
        Direction::Receive => "WskReceive",
    };
    // SAFETY: caller's contract.
    let Some(taken) = (unsafe { PendingIrp::take(irp, name, handle.cast_const().cast()) }) else {
        release_unused(socket, slot);
        return Some(NtStatus::INVALID_PARAMETER.0);
    };
    let held = Socket::hold(socket);
    slot.socket.store(held.cast_mut(), Ordering::Release);
    slot.handle.store(winsock, Ordering::Release);
    // (`cancel_requested` and `reset` were cleared by the last finish: a close that cancels
    // between the state change above and the Winsock call is kept, and acted on below.)
    // SAFETY: OVERLAPPED is plain data; all-zero is its initial state.
    let mut fresh: OVERLAPPED = unsafe { std::mem::zeroed() };
    fresh.Anonymous.Anonymous.Offset = TAG;
    // SAFETY: the slot is ours (ISSUED, type invariant); Winsock has no request in it.
    unsafe { slot.ovl.get().write(fresh) };
    // SAFETY: as above.
    unsafe { slot.flags.get().write(flags) };
    // SAFETY: the slot outlives the routine (its socket does: the request holds it), and its
    // finish clears the routine before the slot is used again.
    let cancellable = unsafe { irp::set_cancellable_reused(&taken, slot) };
    // SAFETY: the slot is ours; nothing finishes the request before it is issued.
    unsafe { *slot.irp.get() = Some(taken) };
    if !cancellable {
        slot.cancel_requested.store(true, Ordering::SeqCst);
        finish(slot, NtStatus::CANCELLED, 0);
        return Some(NtStatus::PENDING.0);
    }
    let skip = crate::engine::get().is_ok_and(|e| e.skip_on_success);
    let mut done = 0u32;
    let count = u32::try_from(bufs.len()).unwrap_or(u32::MAX);
    let r = match direction {
        // SAFETY: the buffers are the client's, valid until the IRP completes (caller's
        // contract); the OVERLAPPED is the slot's, valid until the completion is dequeued
        // (the request holds the socket, which holds the slot).
        Direction::Send => unsafe {
            ws::WSASend(
                winsock,
                bufs.as_ptr(),
                count,
                &raw mut done,
                0,
                slot.ovl.get(),
                None,
            )
        },
        // SAFETY: as above; the flags are the slot's too.
        Direction::Receive => unsafe {
            ws::WSARecv(
                winsock,
                bufs.as_ptr(),
                count,
                &raw mut done,
                slot.flags.get(),
                slot.ovl.get(),
                None,
            )
        },
    };
    if r == 0 {
        // Finished during the call: no packet follows in skip-on-success mode.
        if skip {
            finish(slot, NtStatus::SUCCESS, done as usize);
        }
    } else {
        // SAFETY: plain Winsock call.
        let error = unsafe { ws::WSAGetLastError() };
        if error != ws::WSA_IO_PENDING {
            finish(slot, crate::status::from_wsa(error), 0);
        } else if slot.cancel_requested.load(Ordering::SeqCst) {
            // Cancelled while being issued: CancelIoEx may have found nothing then.
            slot.cancel();
        }
    }
    Some(NtStatus::PENDING.0)
}

/// Frees a slot taken for a request that then went to the general path (or failed before
/// anything was issued), and finishes a close that was waiting for it.
fn release_unused(socket: &Socket, slot: &RequestSlot) {
    slot.state.store(FREE, Ordering::SeqCst);
    if socket.is_closing() {
        socket.finish_close_if_idle();
    }
}

/// From the engine's worker: when `ovl` is a slot's, finishes its request (with `ok` and
/// `bytes` from the port) and returns true.
///
/// # Safety
/// `ovl` is an `OVERLAPPED` the completion port gave back: an op's or a slot's.
#[cfg_attr(windows, link_section = ".text$wskhot")]
pub(crate) unsafe fn dequeued(ovl: *mut OVERLAPPED, ok: bool, bytes: u32) -> bool {
    // SAFETY: caller's contract: a live OVERLAPPED (an op's or a slot's).
    let overlapped = unsafe { &*ovl };
    // SAFETY: reading the plain-data union member every OVERLAPPED has.
    if unsafe { overlapped.Anonymous.Anonymous.Offset } != TAG {
        return false;
    }
    // SAFETY: only slots tag their OVERLAPPED, their first field (type invariant); the slot
    // is alive (its request holds its socket).
    let slot = unsafe { &*ovl.cast_const().cast::<RequestSlot>() };
    let status = if ok {
        NtStatus::SUCCESS
    } else {
        // The request's NTSTATUS, as Winsock leaves it in `Internal` (32 bits of it).
        #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
        NtStatus(overlapped.Internal as u32 as i32)
    };
    finish(slot, status, bytes as usize);
    true
}

/// Completes the request in `slot` (exactly once per request: the issuer for a request that
/// ended during the call, else the worker that dequeued its packet).
#[cfg_attr(windows, link_section = ".text$wskhot")]
fn finish(slot: &RequestSlot, status: NtStatus, bytes: usize) {
    let held = slot.socket.swap(std::ptr::null_mut(), Ordering::AcqRel);
    // SAFETY: the reference the request took at issue (type invariant), given back here once.
    let Some(socket) = (unsafe { Socket::unhold(held) }) else {
        return;
    };
    let status = if crate::ops::moved_data(status) {
        status
    } else if slot.cancel_requested.load(Ordering::SeqCst) || socket.is_closing() {
        NtStatus::CANCELLED
    } else if slot.reset.load(Ordering::SeqCst) {
        NtStatus::CONNECTION_RESET
    } else {
        status
    };
    let information = if status.is_success() { bytes } else { 0 };
    // SAFETY: the slot's request is finishing here alone (type invariant).
    let taken = unsafe { (*slot.irp.get()).take() };
    if let Some(taken) = &taken {
        // Returns only after a cancel routine that is running has cancelled (module doc).
        irp::clear_cancellable(taken);
    }
    slot.handle.store(ws::INVALID_SOCKET, Ordering::Release);
    slot.cancel_requested.store(false, Ordering::Relaxed);
    slot.reset.store(false, Ordering::Relaxed);
    // Free before the completion: the client's routine may issue its next request now.
    slot.state.store(FREE, Ordering::SeqCst);
    if let Some(taken) = taken {
        taken.complete(status, information);
    }
    if socket.is_closing() {
        socket.finish_close_if_idle();
    }
}

/// The stuck-request fallback of close: completes a request still in `slot` with
/// `STATUS_CANCELLED` after its Winsock socket was closed and no completion came.
pub(crate) fn finish_stuck(slot: &RequestSlot) {
    if !slot.socket.load(Ordering::Acquire).is_null() {
        slot.cancel_requested.store(true, Ordering::SeqCst);
        finish(slot, NtStatus::CANCELLED, 0);
    }
}
