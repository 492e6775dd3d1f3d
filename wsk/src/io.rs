//! Asynchronous requests over memory the caller owns: what a driver needs to hand a user's
//! locked pages (direct I/O) to WSK with no copy and no waiting thread.
//!
//! - [`MdlBuffer`]: a caller's MDL chain (for example `Irp->MdlAddress` of a METHOD_IN_DIRECT
//!   or METHOD_OUT_DIRECT request), with its length; a `WSK_BUF` made from it never describes
//!   more bytes than the chain.
//! - [`IoSlot`]: one reusable IRP for one request at a time (send, receive, send-to or
//!   receive-from), completed through an [`IoHandler`]. A request that finishes during the
//!   call that starts it is returned to the caller ([`Started::Done`]) instead of calling the
//!   handler, so a provider that completes inline (Wine's does) never re-enters the caller
//!   while it holds its locks. [`IoSlot::cancel`] cancels the request in flight, and tells
//!   a timeout from a user's cancellation.

use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::net::SocketAddr;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, AtomicU8, Ordering};

use wsk_bindings as sys;

use crate::irp::Irp;
use crate::{
    ConnectionSocket, DatagramSocket, Error, NtStatus, PoolArc, Result, SockAddr, SpinLock,
};

/// Longest MDL chain accepted (a bound on the walk over caller-supplied links).
const MAX_CHAIN: usize = 1024;

/// Memory described by a caller's MDL chain.
///
/// # Invariants
/// `mdl` heads a chain (linked by `Next`) of at most [`MAX_CHAIN`] MDLs whose `ByteCount`s add
/// up to `len`; the pages are locked (or nonpaged) and stay valid, and no one else writes them
/// while a request uses them, until every request started with this value has completed.
pub struct MdlBuffer {
    mdl: NonNull<sys::MDL>,
    len: usize,
}

// SAFETY: the described memory is locked and not tied to a thread.
unsafe impl Send for MdlBuffer {}
// SAFETY: shared access only reads the MDLs.
unsafe impl Sync for MdlBuffer {}

impl MdlBuffer {
    /// Wraps the chain that starts at `mdl`. IRQL <= DISPATCH_LEVEL.
    ///
    /// # Safety
    /// `mdl` heads a valid MDL chain describing locked or nonpaged memory, which stays valid
    /// (and is not otherwise written while a receive uses it) until every request started
    /// with the returned value has completed. For a direct-I/O IRP that holds until the IRP
    /// is completed, so complete it only from the request's completion.
    ///
    /// # Errors
    /// `STATUS_INVALID_PARAMETER` for an empty chain, a chain longer than 1,024 MDLs or one
    /// whose length overflows.
    pub unsafe fn from_raw(mdl: NonNull<sys::MDL>) -> Result<Self> {
        let mut len = 0usize;
        let mut next = Some(mdl);
        let mut links = 0usize;
        while let Some(m) = next {
            links = links.saturating_add(1);
            if links > MAX_CHAIN {
                return Err(Error::new(NtStatus::INVALID_PARAMETER));
            }
            // SAFETY: the caller guarantees every MDL of the chain is valid.
            let m = unsafe { m.as_ref() };
            let count = usize::try_from(m.ByteCount)
                .map_err(|_| Error::new(NtStatus::INVALID_PARAMETER))?;
            len = len
                .checked_add(count)
                .ok_or(Error::new(NtStatus::INVALID_PARAMETER))?;
            next = NonNull::new(m.Next);
        }
        if len == 0 {
            return Err(Error::new(NtStatus::INVALID_PARAMETER));
        }
        // INVARIANT: the chain was walked and bounded above; the rest is the caller's contract.
        Ok(Self { mdl, len })
    }

    /// Bytes described by the chain.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never true: an `MdlBuffer` has at least one byte.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// A `WSK_BUF` over `offset..offset + len`, or `None` when that range is not inside the
    /// chain (or the offset does not fit the first MDL, where WSK applies it).
    fn wsk_buf(&self, offset: usize, len: usize) -> Option<sys::WSK_BUF> {
        let end = offset.checked_add(len)?;
        // SAFETY: the head MDL is valid (type invariant).
        let first = usize::try_from(unsafe { self.mdl.as_ref() }.ByteCount).ok()?;
        if end > self.len || (offset > 0 && offset >= first) {
            return None;
        }
        Some(sys::WSK_BUF {
            Mdl: self.mdl.as_ptr(),
            Offset: u32::try_from(offset).ok()?,
            Length: len as u64,
        })
    }

    /// Copies `bytes` into the first MDL at `offset` (a reply header in front of received
    /// data). IRQL <= DISPATCH_LEVEL.
    ///
    /// # Errors
    /// `STATUS_BUFFER_TOO_SMALL` when the range does not fit the first MDL;
    /// `STATUS_INSUFFICIENT_RESOURCES` when the pages cannot be mapped.
    pub fn write_at(&self, offset: usize, bytes: &[u8]) -> Result<()> {
        // SAFETY: the head MDL is valid (type invariant).
        let first = unsafe { self.mdl.as_ref() };
        let count =
            usize::try_from(first.ByteCount).map_err(|_| Error::new(NtStatus::BUFFER_TOO_SMALL))?;
        let end = offset
            .checked_add(bytes.len())
            .ok_or(Error::new(NtStatus::BUFFER_TOO_SMALL))?;
        if end > count {
            return Err(Error::new(NtStatus::BUFFER_TOO_SMALL));
        }
        let base = crate::events::mapped_address(first).ok_or(Error::NO_MEMORY)?;
        // SAFETY: `base` maps the MDL's `ByteCount` bytes, `offset + bytes.len() <= ByteCount`,
        // and the memory is the caller's (not in use by a request while it writes a header).
        unsafe {
            core::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                base.as_ptr().wrapping_add(offset),
                bytes.len(),
            );
        }
        Ok(())
    }
}

/// What a finished request moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transferred {
    /// Bytes sent or received (0 from a receive: the peer closed its side).
    pub bytes: usize,
    /// A datagram's sender (receive-from), if the provider said.
    pub remote: Option<SocketAddr>,
}

/// Why a request was cancelled: decides the error it completes with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelReason {
    /// The requester cancelled: `STATUS_CANCELLED`.
    Cancelled,
    /// Its deadline passed: `STATUS_IO_TIMEOUT`.
    TimedOut,
}

/// The owner of an [`IoSlot`]: told when a request finishes.
pub trait IoHandler: Send + Sync + 'static {
    /// What the owner keeps with each request (for example the user's IRP).
    type Context: Send + 'static;

    /// A request that was [`Started::Pending`] finished. IRQL <= DISPATCH_LEVEL; must not
    /// block. Runs once per such request.
    fn completed(&self, context: Self::Context, result: Result<Transferred>);
}

/// How a start call ended.
#[must_use]
pub enum Started<C> {
    /// The provider has the request; [`IoHandler::completed`] will run.
    Pending {
        /// Identifies this request for [`IoSlot::cancel`].
        generation: u32,
    },
    /// The request finished (or was refused) during the call; the handler will not run.
    Done(C, Result<Transferred>),
}

const IDLE: u8 = 0;
const ISSUING: u8 = 1;
const PENDING: u8 = 2;
const DONE_INLINE: u8 = 3;
/// A canceller is in `IoCancelIrp` with `cancel_lock` held.
const CANCELLING: u8 = 4;
/// Completed while `CANCELLING`: the canceller delivers the result once it released the lock,
/// so that the handler may start the next request (which takes that lock).
const DONE_IN_CANCEL: u8 = 5;

const NO_CANCEL: u8 = 0;
const CANCELLED: u8 = 1;
const TIMED_OUT: u8 = 2;

struct SlotInner<H: IoHandler> {
    irp: Irp,
    state: AtomicU8,
    /// Incremented by every start; names the request in flight.
    generation: AtomicU32,
    /// [`NO_CANCEL`], [`CANCELLED`] or [`TIMED_OUT`] for the request in flight.
    cancel: AtomicU8,
    /// Serializes cancellation with starts (so a cancel never hits the next request).
    cancel_lock: SpinLock<()>,
    context: SpinLock<Option<H::Context>>,
    /// The request's WSK_BUF and address, which the provider may read until completion.
    wsk_buf: UnsafeCell<sys::WSK_BUF>,
    address: UnsafeCell<SockAddr>,
    handler: H,
}

// SAFETY: `wsk_buf` and `address` are written only by the starter while the slot is IDLE and
// read by the provider and the completion while a request is in flight (ordered by `state`).
unsafe impl<H: IoHandler> Sync for SlotInner<H> {}
// SAFETY: as above; every other field is Send.
unsafe impl<H: IoHandler> Send for SlotInner<H> {}

/// One reusable asynchronous request on a socket: one IRP, at most one request in flight.
/// Clones share the slot. The slot's memory lives while a request is in flight even if every
/// handle is dropped (the completion holds a reference).
pub struct IoSlot<H: IoHandler>(PoolArc<SlotInner<H>>);

impl<H: IoHandler> Clone for IoSlot<H> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

/// The WSK call that a start makes with the slot's IRP and memory.
#[derive(Clone, Copy)]
enum Operation<'a> {
    /// `WskSend` with its flags.
    Send(&'a ConnectionSocket, u32),
    /// `WskReceive` with its flags.
    Receive(&'a ConnectionSocket, u32),
    /// `WskSendTo` to the remote address.
    SendTo(&'a DatagramSocket, SocketAddr),
    /// `WskReceiveFrom`.
    ReceiveFrom(&'a DatagramSocket),
}

impl<H: IoHandler> IoSlot<H> {
    /// A slot whose requests complete through `handler`. IRQL <= DISPATCH_LEVEL.
    ///
    /// # Errors
    /// `STATUS_INSUFFICIENT_RESOURCES`.
    pub fn new(handler: H) -> Result<Self> {
        let inner = PoolArc::try_new(SlotInner {
            irp: Irp::try_new()?,
            state: AtomicU8::new(IDLE),
            generation: AtomicU32::new(0),
            cancel: AtomicU8::new(NO_CANCEL),
            cancel_lock: SpinLock::new(()),
            context: SpinLock::new(None),
            wsk_buf: UnsafeCell::new(sys::WSK_BUF::default()),
            address: UnsafeCell::new(SockAddr::empty()),
            handler,
        })?;
        Ok(Self(inner))
    }

    /// The handler.
    #[must_use]
    pub fn handler(&self) -> &H {
        &self.0.handler
    }

    /// Whether a request is in flight.
    #[must_use]
    pub fn is_busy(&self) -> bool {
        self.0.state.load(Ordering::Acquire) != IDLE
    }

    /// Sends `len` bytes of `buffer` (`WskSend`, `flags` as WSK takes them); completes when
    /// the transport accepted all of them. IRQL <= DISPATCH_LEVEL.
    pub fn send(
        &self,
        socket: &ConnectionSocket,
        buffer: &MdlBuffer,
        len: usize,
        flags: u32,
        context: H::Context,
    ) -> Started<H::Context> {
        self.start(Operation::Send(socket, flags), buffer, 0, len, context)
    }

    /// Receives up to `len` bytes into `buffer` (`WskReceive`); 0 bytes means the peer closed
    /// its side. IRQL <= DISPATCH_LEVEL.
    pub fn receive(
        &self,
        socket: &ConnectionSocket,
        buffer: &MdlBuffer,
        len: usize,
        flags: u32,
        context: H::Context,
    ) -> Started<H::Context> {
        self.start(Operation::Receive(socket, flags), buffer, 0, len, context)
    }

    /// Sends `len` bytes of `buffer` as one datagram to `remote` (`WskSendTo`).
    /// IRQL <= DISPATCH_LEVEL.
    pub fn send_to(
        &self,
        socket: &DatagramSocket,
        buffer: &MdlBuffer,
        len: usize,
        remote: SocketAddr,
        context: H::Context,
    ) -> Started<H::Context> {
        self.start(Operation::SendTo(socket, remote), buffer, 0, len, context)
    }

    /// Receives one datagram into `buffer[offset..offset + len]` (`WskReceiveFrom`; a longer
    /// datagram is truncated); the sender is in [`Transferred::remote`]. IRQL <= DISPATCH_LEVEL.
    pub fn receive_from(
        &self,
        socket: &DatagramSocket,
        buffer: &MdlBuffer,
        offset: usize,
        len: usize,
        context: H::Context,
    ) -> Started<H::Context> {
        self.start(Operation::ReceiveFrom(socket), buffer, offset, len, context)
    }

    /// The one funnel of the four public starts.
    fn start(
        &self,
        operation: Operation<'_>,
        buffer: &MdlBuffer,
        offset: usize,
        len: usize,
        context: H::Context,
    ) -> Started<H::Context> {
        let inner = &self.0;
        if inner
            .state
            .compare_exchange(IDLE, ISSUING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Started::Done(context, Err(Error::new(NtStatus::DEVICE_BUSY)));
        }
        let Some(wsk_buf) = buffer.wsk_buf(offset, len) else {
            inner.state.store(IDLE, Ordering::Release);
            return Started::Done(context, Err(Error::new(NtStatus::INVALID_PARAMETER)));
        };
        let generation = {
            let _serial = inner.cancel_lock.lock();
            inner.cancel.store(NO_CANCEL, Ordering::Release);
            inner
                .generation
                .fetch_add(1, Ordering::AcqRel)
                .wrapping_add(1)
        };
        *inner.context.lock() = Some(context);
        // SAFETY: the slot is ISSUING (ours alone); nothing in flight reads these.
        unsafe { *inner.wsk_buf.get() = wsk_buf };
        // SAFETY: as above.
        unsafe {
            *inner.address.get() = match operation {
                Operation::SendTo(_, remote) => SockAddr::from(remote),
                _ => SockAddr::empty(),
            }
        };

        let reference = PoolArc::into_raw(inner.clone());
        // SAFETY: no request is pending on the IRP (state was IDLE); `reference` keeps the slot
        // alive until the completion routine or this function takes it back.
        unsafe { inner.irp.prepare(slot_completion::<H>, reference.cast()) };
        let returned = issue(
            &operation,
            inner.irp.as_ptr(),
            inner.wsk_buf.get(),
            inner.address.get(),
        );
        let pending = inner
            .state
            .compare_exchange(ISSUING, PENDING, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok();
        if pending {
            match returned {
                Some(status) if status == NtStatus::PENDING.0 || NtStatus(status).is_success() => {
                    // A cancel that arrived while the provider call ran found no IRP to cancel.
                    // SeqCst with `cancel`: one of the two sees the other's write.
                    if inner.cancel.load(Ordering::SeqCst) != NO_CANCEL {
                        let finished = {
                            let _serial = inner.cancel_lock.lock();
                            // Under the lock: the request in flight is still this one.
                            if inner.generation.load(Ordering::Acquire) == generation {
                                cancel_pending(inner)
                            } else {
                                None
                            }
                        };
                        // Completed during IoCancelIrp, so during this call: returned, not handled.
                        if let Some((Some(context), result)) = finished {
                            return Started::Done(context, result);
                        }
                    }
                    return Started::Pending { generation };
                }
                _ => {
                    // Refused without completing the IRP, or not issued: it is still ours.
                    // SAFETY: no completion will run, so the reference is ours to take back.
                    drop(unsafe { PoolArc::<SlotInner<H>>::from_raw(reference) });
                    let status = returned.map_or(NtStatus::NOT_IMPLEMENTED, NtStatus);
                    let context = inner.context.lock().take();
                    inner.state.store(IDLE, Ordering::Release);
                    return match context {
                        Some(context) => Started::Done(context, Err(Error::new(status))),
                        None => Started::Pending { generation },
                    };
                }
            }
        }
        // Completed during the call: the routine left the reference and the result to us.
        // SAFETY: the completion routine ran without taking the reference back.
        drop(unsafe { PoolArc::<SlotInner<H>>::from_raw(reference) });
        let (context, result) = finish(inner);
        match context {
            Some(context) => Started::Done(context, result),
            None => Started::Pending { generation },
        }
    }

    /// Cancels the request `generation` if it is still in flight (`IoCancelIrp`); it then
    /// completes with `STATUS_CANCELLED` or, for [`CancelReason::TimedOut`],
    /// `STATUS_IO_TIMEOUT`. A provider that ignores cancellation (Wine's netio) completes it
    /// only when the socket is closed. A provider that completes the request during
    /// `IoCancelIrp` (Windows does for a waiting request) has the handler called before
    /// `cancel` returns, on this thread, with no lock of the slot held (so the handler may start
    /// the next request); do not call `cancel` holding a lock the handler takes.
    /// IRQL <= DISPATCH_LEVEL.
    pub fn cancel(&self, generation: u32, reason: CancelReason) {
        let inner = &self.0;
        let finished = {
            let _serial = inner.cancel_lock.lock();
            if inner.generation.load(Ordering::Acquire) != generation
                || inner.state.load(Ordering::Acquire) == IDLE
            {
                return;
            }
            let code = if reason == CancelReason::TimedOut {
                TIMED_OUT
            } else {
                CANCELLED
            };
            // SeqCst with the starter's ISSUING -> PENDING: one of the two sees the other's write.
            let _ =
                inner
                    .cancel
                    .compare_exchange(NO_CANCEL, code, Ordering::SeqCst, Ordering::SeqCst);
            cancel_pending(inner)
        };
        // Completed during IoCancelIrp (Windows completes a waiting request there): delivered
        // now that the lock is released, so the handler may start the next request.
        if let Some((Some(context), result)) = finished {
            inner.handler.completed(context, result);
        }
    }
}

/// With `cancel_lock` held: cancels the request in flight if it is PENDING (`IoCancelIrp`).
/// Returns its context and result if it completed during the call (the caller delivers them
/// after releasing the lock); `None` if it was not pending or is still in flight.
fn cancel_pending<H: IoHandler>(
    inner: &SlotInner<H>,
) -> Option<(Option<H::Context>, Result<Transferred>)> {
    // SeqCst: see `IoSlot::cancel`.
    if inner
        .state
        .compare_exchange(PENDING, CANCELLING, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        // ISSUING: the starter cancels after the provider call. IDLE or done: nothing to cancel.
        return None;
    }
    // The IRP stays allocated until its completion routine ran, so cancelling one that
    // completes meanwhile is harmless.
    inner.irp.cancel();
    if inner
        .state
        .compare_exchange(CANCELLING, PENDING, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
    {
        return None;
    }
    // DONE_IN_CANCEL: the completion routine left the result to us.
    Some(finish(inner))
}

/// Calls the provider. `None` when the socket is closed or the provider lacks the function.
fn issue(
    operation: &Operation<'_>,
    irp: *mut sys::IRP,
    wsk_buf: *mut sys::WSK_BUF,
    address: *mut SockAddr,
) -> Option<i32> {
    match *operation {
        Operation::Send(socket, flags) | Operation::Receive(socket, flags) => {
            let raw = socket.raw();
            if !raw.is_open() {
                return None;
            }
            // SAFETY: an open connection socket's dispatch is the connection dispatch.
            let dispatch = unsafe { raw.dispatch::<sys::WSK_PROVIDER_CONNECTION_DISPATCH>() };
            let f = if matches!(operation, Operation::Send(..)) {
                dispatch.WskSend
            } else {
                dispatch.WskReceive
            }?;
            // SAFETY: the socket is open; `wsk_buf` lives in the slot, describes the caller's
            // MdlBuffer (valid until completion by its contract) and stays put until completion.
            Some(unsafe { f(raw.as_ptr(), wsk_buf, flags, irp) })
        }
        Operation::SendTo(socket, _) | Operation::ReceiveFrom(socket) => {
            let raw = &socket.core.raw;
            if !raw.is_open() {
                return None;
            }
            // SAFETY: an open datagram socket's dispatch is the datagram dispatch.
            let dispatch = unsafe { raw.dispatch::<sys::WSK_PROVIDER_DATAGRAM_DISPATCH>() };
            // SAFETY: `address` is the slot's SockAddr, alive and unmoved until completion.
            let address = unsafe { (*address).as_mut_ptr() };
            if matches!(operation, Operation::SendTo(..)) {
                let f = dispatch.WskSendTo?;
                // SAFETY: as for sends; the remote address lives in the slot until completion.
                Some(unsafe {
                    f(
                        raw.as_ptr(),
                        wsk_buf,
                        0,
                        address,
                        0,
                        core::ptr::null_mut(),
                        irp,
                    )
                })
            } else {
                let f = dispatch.WskReceiveFrom?;
                // SAFETY: as above; the provider writes the sender into the slot's address.
                Some(unsafe {
                    f(
                        raw.as_ptr(),
                        wsk_buf,
                        0,
                        address,
                        core::ptr::null_mut(),
                        core::ptr::null_mut(),
                        core::ptr::null_mut(),
                        irp,
                    )
                })
            }
        }
    }
}

/// Takes the finished request's context and result and makes the slot idle.
fn finish<H: IoHandler>(inner: &SlotInner<H>) -> (Option<H::Context>, Result<Transferred>) {
    let (status, information) = inner.irp.result();
    // STATUS_BUFFER_OVERFLOW is a warning: a datagram longer than the buffer, of which the
    // `information` bytes that fit were received (a receive-from truncates, as documented).
    let result = if status.is_success() || status == NtStatus::BUFFER_OVERFLOW {
        // SAFETY: the request finished; the provider no longer writes the address.
        let remote = unsafe { (*inner.address.get()).to_socket_addr() };
        Ok(Transferred {
            bytes: information,
            remote,
        })
    } else if status == NtStatus::CANCELLED && inner.cancel.load(Ordering::Acquire) == TIMED_OUT {
        Err(Error::TIMEOUT)
    } else {
        Err(Error::new(status))
    };
    let context = inner.context.lock().take();
    inner.state.store(IDLE, Ordering::Release);
    (context, result)
}

/// Completion routine of slot requests. IRQL <= DISPATCH_LEVEL.
unsafe extern "C" fn slot_completion<H: IoHandler>(
    _: *mut sys::DEVICE_OBJECT,
    _: *mut sys::IRP,
    context: *mut c_void,
) -> i32 {
    let reference = context.cast_const().cast::<()>();
    // SAFETY: `context` is the raw reference taken by `start`, not yet given back.
    let inner = unsafe { PoolArc::<SlotInner<H>>::clone_raw(reference) };
    if inner
        .state
        .compare_exchange(ISSUING, DONE_INLINE, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
    {
        // The starter is still in the provider call: it takes the result (and the reference).
        return NtStatus::MORE_PROCESSING_REQUIRED.0;
    }
    // SAFETY: the request was pending, so this routine owns the raw reference.
    drop(unsafe { PoolArc::<SlotInner<H>>::from_raw(reference) });
    if inner
        .state
        .compare_exchange(
            CANCELLING,
            DONE_IN_CANCEL,
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_ok()
    {
        // A canceller holds the slot's lock in IoCancelIrp (perhaps this very call): it
        // delivers the result once it let go of the lock (its handle keeps the slot alive).
        return NtStatus::MORE_PROCESSING_REQUIRED.0;
    }
    let (context, result) = finish(&inner);
    if let Some(context) = context {
        inner.handler.completed(context, result);
    }
    NtStatus::MORE_PROCESSING_REQUIRED.0
}
