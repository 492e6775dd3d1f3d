//! Owned IRPs and the blocking call: issue a WSK request, wait with a timeout, cancel.

use core::ffi::c_void;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use core::time::Duration;

use wsk_bindings::{self as sys, irp as irp_fields};

use crate::socket::RawSocket;
use crate::sync::Event;
use crate::{Error, NtStatus, PoolBox, PoolBuffer, Result, SockAddr};

/// How long a cancelled request may take to complete before its socket is closed under it.
/// A blocking call's timeout therefore costs up to `timeout + CANCEL_GRACE` under a provider
/// that ignores cancellation (Wine's netio), and the socket is closed afterwards: the call
/// then fails with [`Error::TIMEOUT_SOCKET_CLOSED`]. Documented on the socket types' calls.
pub(crate) const CANCEL_GRACE: Duration = Duration::from_secs(1);
/// How long closing the socket may take to complete a request before it is abandoned. A
/// request with no socket to close (a name resolution) is abandoned after [`CANCEL_GRACE`]:
/// waiting longer would hold the caller (and, under Wine, every request to the driver) for
/// nothing.
const FORCE_GRACE: Duration = Duration::from_secs(5);

/// An IRP allocated by this driver for requests to WSK (one stack location), freed on drop.
///
/// # Invariants
/// `0` points to an IRP from `IoAllocateIrp(1, FALSE)` owned by this value.
pub(crate) struct Irp(NonNull<sys::IRP>);

// SAFETY: an IRP is not tied to a thread.
unsafe impl Send for Irp {}
// SAFETY: shared access only reads the IRP's status after completion.
unsafe impl Sync for Irp {}

impl Irp {
    /// `IoAllocateIrp(1, FALSE)`. IRQL <= DISPATCH_LEVEL.
    pub(crate) fn try_new() -> Result<Self> {
        // SAFETY: no preconditions.
        let p = unsafe { sys::IoAllocateIrp(1, 0) };
        let irp = NonNull::new(p).map(Self).ok_or(Error::NO_MEMORY)?;
        crate::held::irp(true);
        Ok(irp)
    }

    pub(crate) fn as_ptr(&self) -> *mut sys::IRP {
        self.0.as_ptr()
    }

    /// Prepares the IRP for the next request and sets `routine(context)` as its completion.
    ///
    /// # Safety
    /// No request is pending on the IRP, and `context` stays valid until `routine` runs.
    pub(crate) unsafe fn prepare(
        &self,
        routine: irp_fields::CompletionRoutine,
        context: *const c_void,
    ) {
        // SAFETY: the IRP is ours and idle (caller's contract).
        unsafe { sys::IoReuseIrp(self.as_ptr(), NtStatus::UNSUCCESSFUL.0) };
        // SAFETY: as above; an IRP from IoAllocateIrp(1) has one location below the current one.
        unsafe { irp_fields::set_completion_routine(self.as_ptr(), routine, context.cast_mut()) };
    }

    /// The completed request's (status, information).
    pub(crate) fn result(&self) -> (NtStatus, usize) {
        // SAFETY: the IRP is live (type invariant).
        let status = unsafe { irp_fields::status(self.as_ptr()) };
        // SAFETY: as above.
        let info = unsafe { irp_fields::information(self.as_ptr()) };
        (NtStatus(status), info)
    }

    /// `IoCancelIrp`. IRQL <= DISPATCH_LEVEL.
    pub(crate) fn cancel(&self) {
        // SAFETY: the IRP is live; cancelling an IRP that completed meanwhile is harmless
        // because we keep it allocated until its completion routine ran.
        let _ = unsafe { sys::IoCancelIrp(self.as_ptr()) };
    }
}

impl Drop for Irp {
    fn drop(&mut self) {
        // SAFETY: the IRP is ours and no request is pending on it (owners guarantee that).
        unsafe { sys::IoFreeIrp(self.as_ptr()) };
        crate::held::irp(false);
    }
}

const IDLE: u8 = 0;
const PENDING: u8 = 1;
const COMPLETED: u8 = 2;
const ABANDONED: u8 = 3;

/// Blocking requests abandoned to the provider whose completion routine has not run yet: code
/// in this driver's image the provider will still call, so unload waits for it
/// ([`crate::WskClient::shutdown`]).
static ABANDONED_REQUESTS: AtomicUsize = AtomicUsize::new(0);

/// Requests abandoned to the provider and not completed yet. IRQL: any.
pub(crate) fn abandoned_requests() -> usize {
    ABANDONED_REQUESTS.load(Ordering::Acquire)
}

/// Everything a provider may read or write during a blocking request. It lives in the
/// request's pool object, never on the caller's stack, so a request abandoned to a provider
/// that never completes it cannot write into freed memory.
pub(crate) struct OpMemory {
    /// Data sent or received, with its MDL.
    pub(crate) buffer: Option<PoolBuffer>,
    /// The local address passed in or filled by the provider.
    pub(crate) local: SockAddr,
    /// The remote address passed in or filled by the provider.
    pub(crate) remote: SockAddr,
    /// `OutputSizeReturned` of control requests.
    pub(crate) size_returned: usize,
    /// A caller's buffer chain, moved here for the request (see [`Blocking::take_chain`]).
    pub(crate) chain: Option<crate::BufferChain>,
}

/// One blocking request's IRP, event and memory, in pool so that it can outlive its caller
/// when a provider never completes the request.
struct SyncOp {
    event: Event,
    irp: Irp,
    state: AtomicU8,
    memory: OpMemory,
}

/// Completion routine of blocking requests. Runs at IRQL <= DISPATCH_LEVEL.
unsafe extern "C" fn sync_completion(
    _: *mut sys::DEVICE_OBJECT,
    _: *mut sys::IRP,
    context: *mut c_void,
) -> i32 {
    let op = context.cast::<SyncOp>().cast_const();
    // SAFETY: `context` is the SyncOp that issued this IRP; it stays allocated until this
    // routine has either set the event (owner frees it later) or, when abandoned, freed it.
    let previous = unsafe { (*op).state.swap(COMPLETED, Ordering::AcqRel) };
    if previous == ABANDONED {
        // SAFETY: the waiter gave ownership up (into_raw) when it abandoned the request.
        drop(unsafe { PoolBox::from_raw(op.cast_mut()) });
        // Last: after this, unload may go on (nothing below touches the image's data).
        ABANDONED_REQUESTS.fetch_sub(1, Ordering::AcqRel);
    } else {
        // SAFETY: the op is alive until the waiter sees the event; nothing touches it after.
        unsafe { (*op).event.set() };
    }
    NtStatus::MORE_PROCESSING_REQUIRED.0
}

/// Runs blocking WSK requests for one socket, one at a time.
pub(crate) struct Blocking {
    slot: Option<PoolBox<SyncOp>>,
}

impl Blocking {
    pub(crate) const fn new() -> Self {
        Self { slot: None }
    }

    fn op(&mut self, buffer_len: usize) -> Result<&mut SyncOp> {
        let fits = match &self.slot {
            Some(op) => {
                buffer_len == 0
                    || op
                        .memory
                        .buffer
                        .as_ref()
                        .is_some_and(|b| b.len() >= buffer_len)
            }
            None => false,
        };
        if !fits {
            let buffer = if buffer_len == 0 {
                None
            } else {
                Some(PoolBuffer::try_new(buffer_len)?)
            };
            let memory = OpMemory {
                buffer,
                local: SockAddr::empty(),
                remote: SockAddr::empty(),
                size_returned: 0,
                chain: None,
            };
            let op = PoolBox::try_new(SyncOp {
                event: Event::uninit(),
                irp: Irp::try_new()?,
                state: AtomicU8::new(IDLE),
                memory,
            })?;
            op.event.init();
            self.slot = Some(op);
        }
        self.slot.as_deref_mut().ok_or(Error::NO_MEMORY)
    }

    /// A blocking request that waits at most `timeout`, to describe with [`Request`]'s
    /// methods and issue with [`Request::start`]. IRQL: PASSIVE_LEVEL.
    pub(crate) fn request(&mut self, timeout: Duration) -> Request<'_, fn(&mut OpMemory)> {
        Request {
            blocking: self,
            timeout,
            buffer_len: 0,
            fill: |_| {},
            stuck: None,
            cancel: None,
        }
    }

    /// Issues one request and waits for it. IRQL: PASSIVE_LEVEL.
    ///
    /// `fill` prepares the request's memory (outgoing bytes in a buffer of at least
    /// `buffer_len` bytes, addresses). `start` calls the WSK function with the IRP, passing
    /// only pointers into that memory. When `timeout` expires, the IRP is cancelled; if the
    /// provider does not complete it within a grace period, `force` must make it (by closing
    /// the socket; it returns true if it did). Returns the IRP's `Information` and the memory.
    fn run(
        &mut self,
        buffer_len: usize,
        wait: Wait<'_>,
        fill: impl FnOnce(&mut OpMemory),
        start: impl FnOnce(*mut sys::IRP, &mut OpMemory) -> i32,
        force: impl FnOnce() -> bool,
    ) -> Result<(usize, &OpMemory)> {
        let op = self.op(buffer_len)?;
        op.memory.size_returned = 0;
        fill(&mut op.memory);
        op.event.clear();
        op.state.store(PENDING, Ordering::Release);
        let context = core::ptr::from_ref::<SyncOp>(op).cast::<c_void>();
        // SAFETY: the op is idle and pool-allocated; it outlives the request (freed only by
        // the owner after completion, or by the completion routine once abandoned).
        unsafe { op.irp.prepare(sync_completion, context) };
        let returned = NtStatus(start(op.irp.as_ptr(), &mut op.memory));

        let (completed, cancelled) = if returned == NtStatus::PENDING {
            wait.for_completion(&op.event)
        } else {
            // A provider completes the IRP even on synchronous failure; Wine's stubs return
            // an error without completing it, and then the IRP is still ours.
            (op.event.wait(Duration::ZERO), false)
        };
        if !completed && returned != NtStatus::PENDING {
            op.state.store(IDLE, Ordering::Release);
            return Err(Error::new(returned));
        }
        let timed_out = if completed {
            Error::TIMEOUT
        } else {
            let (ended, closed) = self.cancel_and_wait(force);
            let timed_out = if cancelled {
                Error::CANCELLED
            } else if closed {
                Error::TIMEOUT_SOCKET_CLOSED
            } else {
                Error::TIMEOUT
            };
            if !ended {
                return Err(timed_out);
            }
            timed_out
        };
        let op = self.slot.as_deref_mut().ok_or(Error::NO_MEMORY)?;
        op.state.store(IDLE, Ordering::Release);
        let (status, info) = op.irp.result();
        if !status.is_success() {
            return Err(if completed {
                Error::new(status)
            } else {
                timed_out
            });
        }
        Ok((info, &op.memory))
    }

    /// Takes back the buffer chain a request's memory holds; `None` if there is none or the
    /// request was abandoned (the chain then stays with it, never freed under the provider).
    pub(crate) fn take_chain(&mut self) -> Option<crate::BufferChain> {
        self.slot
            .as_deref_mut()
            .and_then(|op| op.memory.chain.take())
    }

    /// After a timeout: cancel, then force, then abandon. Returns (true if the request
    /// completed, with whatever status, false if it was abandoned to its completion routine;
    /// true if `force` closed the socket).
    fn cancel_and_wait(&mut self, force: impl FnOnce() -> bool) -> (bool, bool) {
        let Some(op) = self.slot.as_deref() else {
            return (false, false);
        };
        op.irp.cancel();
        if op.event.wait(CANCEL_GRACE) {
            return (true, false);
        }
        let closed = force();
        if closed && op.event.wait(FORCE_GRACE) {
            return (true, closed);
        }
        let Some(op) = self.slot.take() else {
            return (false, closed);
        };
        let raw = op.into_raw();
        // SAFETY: `raw` is the live op we just released; the completion routine frees it.
        let state = unsafe { &(*raw).state };
        // Counted before the exchange, so that a completion right after it never finds the
        // count at zero.
        ABANDONED_REQUESTS.fetch_add(1, Ordering::AcqRel);
        if state
            .compare_exchange(PENDING, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            return (false, closed);
        }
        ABANDONED_REQUESTS.fetch_sub(1, Ordering::AcqRel);
        // Completed between the wait and the exchange: the op is ours again.
        // SAFETY: the completion routine ran without taking ownership (state was not ABANDONED).
        self.slot = Some(unsafe { PoolBox::from_raw(raw) });
        (true, closed)
    }
}

/// How often a blocking request with a cancel flag ([`Request::cancelled_by`]) looks at it.
pub(crate) const CANCEL_POLL: Duration = Duration::from_millis(50);

/// How long a blocking request waits for its completion: its timeout, and the flag that ends
/// the wait early.
#[derive(Clone, Copy)]
struct Wait<'a> {
    timeout: Duration,
    cancel: Option<&'a AtomicBool>,
}

impl Wait<'_> {
    /// Waits for `event`; returns (completed, cancelled: the flag ended the wait). IRQL:
    /// PASSIVE_LEVEL.
    fn for_completion(&self, event: &Event) -> (bool, bool) {
        let Some(cancel) = self.cancel else {
            return (event.wait(self.timeout), false);
        };
        let mut left = self.timeout;
        loop {
            if cancel.load(Ordering::Acquire) {
                return (false, true);
            }
            let slice = left.min(CANCEL_POLL);
            if event.wait(slice) {
                return (true, false);
            }
            left = left.saturating_sub(slice);
            if left.is_zero() {
                return (false, false);
            }
        }
    }
}

/// One blocking request, described step by step: the pool buffer it needs ([`Request::buffer`]),
/// what goes into its memory first ([`Request::fill`]), whether a request the provider does not
/// complete after cancellation closes its socket ([`Request::close_if_stuck`]), and the
/// provider call that starts it ([`Request::start`]).
pub(crate) struct Request<'b, Fill> {
    blocking: &'b mut Blocking,
    timeout: Duration,
    buffer_len: usize,
    fill: Fill,
    stuck: Option<&'b mut RawSocket>,
    cancel: Option<&'b AtomicBool>,
}

impl<'b, Fill: FnOnce(&mut OpMemory)> Request<'b, Fill> {
    /// The request's memory gets a pool buffer of at least `len` bytes (with its MDL).
    pub(crate) fn buffer(mut self, len: usize) -> Self {
        self.buffer_len = len;
        self
    }

    /// `fill` prepares the request's memory (outgoing bytes, addresses) before the call.
    pub(crate) fn fill<F: FnOnce(&mut OpMemory)>(self, fill: F) -> Request<'b, F> {
        Request {
            blocking: self.blocking,
            timeout: self.timeout,
            buffer_len: self.buffer_len,
            fill,
            stuck: self.stuck,
            cancel: self.cancel,
        }
    }

    /// The request also ends early, as a timeout does but with `STATUS_CANCELLED`, once
    /// `cancel` is set (looked at every [`CANCEL_POLL`]): for a caller whose own request was
    /// cancelled while this one runs for it on a worker thread.
    pub(crate) fn cancelled_by(mut self, cancel: &'b AtomicBool) -> Self {
        self.cancel = Some(cancel);
        self
    }

    /// When the provider completes a timed-out request neither after cancellation nor in a
    /// grace period, `socket` is closed to make it complete (a provider that ignores
    /// cancellation, as Wine's netio does). Without this the request is abandoned to its
    /// completion routine then.
    pub(crate) fn close_if_stuck(mut self, socket: &'b mut RawSocket) -> Self {
        self.stuck = Some(socket);
        self
    }

    /// Issues the request: `call` passes the IRP and pointers into the request's memory to
    /// the WSK function and returns its status. Waits for completion; returns the IRP's
    /// `Information` and the memory. IRQL: PASSIVE_LEVEL.
    pub(crate) fn start(
        self,
        call: impl FnOnce(*mut sys::IRP, &mut OpMemory) -> i32,
    ) -> Result<(usize, &'b OpMemory)> {
        let stuck = self.stuck;
        let force = || match stuck {
            Some(socket) => {
                let _ = socket.close();
                true
            }
            None => false,
        };
        let wait = Wait {
            timeout: self.timeout,
            cancel: self.cancel,
        };
        self.blocking
            .run(self.buffer_len, wait, self.fill, call, force)
    }
}
