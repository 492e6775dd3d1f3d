//! Raw WSK requests that record what the provider did: the value it returned, whether and
//! when it completed the IRP, and with which status.
//!
//! The `wsk` crate hides exactly these details (it waits, cancels and closes for you); a
//! conformance check needs to see them. Everything the provider may read or write during a
//! request (IRP, addresses, buffers, name strings) lives in one pool object, [`Op`]. An `Op`
//! whose request never completes is abandoned, never freed: its completion routine frees it
//! should the provider ever complete it, and the counters below report it.
//!
//! Every wait is bounded. IRQL: PASSIVE_LEVEL for everything that waits.

use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};
use core::time::Duration;

use wsk::{NtStatus, PoolBox, SpinLock};
use wsk_bindings::{self as sys, irp as irp_fields};

/// How long a request that did not return `STATUS_PENDING` gets to show it completed its IRP
/// (a conforming provider has completed it before returning).
pub(crate) const SYNC_GRACE: Duration = Duration::from_millis(50);
/// Default wait for a request that returned `STATUS_PENDING`.
pub(crate) const WAIT: Duration = Duration::from_secs(5);
/// How long closing a socket may take.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Requests abandoned to the provider (memory leaked until it completes them, if ever).
pub(crate) static LEAKED: AtomicU32 = AtomicU32::new(0);
/// Abandoned requests the provider acknowledged (it returned `STATUS_PENDING`) and has not
/// completed yet: unload waits (bounded) for these.
pub(crate) static OUTSTANDING: AtomicU32 = AtomicU32::new(0);
/// Sockets created and not (yet) closed: the registration is released only at zero, since
/// `WskDeregister` waits for every socket to close.
pub(crate) static OPEN_SOCKETS: AtomicU32 = AtomicU32::new(0);
/// While set, [`Op::new`] makes strict ops: their completion routine signals the waiter only
/// when `Irp->PendingReturned` is TRUE, the common WDM pattern "if the call returned
/// STATUS_PENDING, wait for the event; else the IRP is already complete". A provider that
/// returns `STATUS_PENDING` without marking the IRP pending leaves such a waiter hanging
/// ([`Op::hung`]). Global, so that the requests the helpers here make are strict too.
static STRICT: AtomicBool = AtomicBool::new(false);

/// Makes every op created from now on strict (or not).
pub(crate) fn set_strict(on: bool) {
    STRICT.store(on, Ordering::Release);
}

/// Completion order: each completion takes the next number.
static NEXT_SEQ: AtomicU32 = AtomicU32::new(1);

/// `STATUS_NOINTERFACE`: no provider NPI was captured.
pub(crate) const NOINTERFACE: NtStatus = NtStatus::from_u32(0xC000_02B9);

const IDLE: u8 = 0;
const PENDING: u8 = 1;
const COMPLETED: u8 = 2;
const ABANDONED: u8 = 3;

/// `IoStatus` of an armed IRP (a customer-defined error code no provider reports): a provider
/// that completes without setting `IoStatus` leaves it there.
pub(crate) const ARMED_STATUS: NtStatus = NtStatus::from_u32(0xE0DE_0001);
/// `IoStatus.Information` of an armed IRP.
pub(crate) const ARMED_INFO: usize = 0xA5A5_A5A5_A5A5_A5A5;
/// What the completion routine writes into `IoStatus` once it has copied the result: the IRP
/// is the driver's again, so a later change means the provider touched it after completing.
const TAKEN_STATUS: NtStatus = NtStatus::from_u32(0xE0DE_0002);
/// `IoStatus.Information` written by the completion routine.
const TAKEN_INFO: usize = 0x5A5A_5A5A_5A5A_5A5A;

/// What the completion routine saw, for the WDM rules (`crate::wdm`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Seen {
    /// `Irp->PendingReturned`.
    pub(crate) pending_returned: bool,
    /// `IoStatus` as the provider left it.
    pub(crate) status: NtStatus,
    pub(crate) info: usize,
    /// `Irp->CancelRoutine` was still set.
    pub(crate) cancel_routine: bool,
    /// The IRQL the routine ran at (as `KeAcquireSpinLockRaiseToDpc` reports it).
    pub(crate) irql: u8,
}

/// A relative NT time (negative 100-ns units).
fn relative(d: Duration) -> i64 {
    let ticks = i64::try_from(d.as_nanos() / 100).unwrap_or(i64::MAX);
    ticks.saturating_neg()
}

/// Sleeps the calling thread. IRQL: PASSIVE_LEVEL.
pub(crate) fn sleep(d: Duration) {
    let mut interval = sys::LARGE_INTEGER {
        QuadPart: relative(d),
    };
    // SAFETY: `interval` outlives the call; a non-alertable kernel-mode delay is valid at
    // PASSIVE_LEVEL, which every caller runs at.
    let _ = unsafe { sys::KeDelayExecutionThread(sys::KERNEL_MODE, 0, &raw mut interval) };
}

/// Socket address storage (large enough for `SOCKADDR_IN6`, aligned for both layouts).
#[repr(C, align(8))]
#[derive(Clone, Copy)]
pub(crate) struct AddrBuf(pub(crate) [u8; 32]);

impl AddrBuf {
    /// Bytes a provider must not write past: `SOCKADDR_IN6`.
    pub(crate) const V6_LEN: usize = 28;

    /// Storage prefilled with `0xAA`, to see how many bytes a provider wrote.
    pub(crate) const fn poisoned() -> Self {
        Self([0xAA; 32])
    }

    /// `SOCKADDR_IN` / `SOCKADDR_IN6` bytes for `peer`.
    pub(crate) fn from_peer(family: u16, port: u16, addr: [u8; 16]) -> Self {
        let mut b = [0u8; 32];
        let [f0, f1] = family.to_le_bytes();
        let [p0, p1] = port.to_be_bytes();
        let [a0, a1, a2, a3, ..] = addr;
        let head = if family == sys::AF_INET6_FAMILY {
            // family, port, flowinfo 0, address, scope id 0.
            let mut h = [0u8; 28];
            for (dst, src) in h
                .iter_mut()
                .zip([f0, f1, p0, p1, 0, 0, 0, 0].iter().chain(addr.iter()))
            {
                *dst = *src;
            }
            h
        } else {
            let mut h = [0u8; 28];
            for (dst, src) in h.iter_mut().zip([f0, f1, p0, p1, a0, a1, a2, a3].iter()) {
                *dst = *src;
            }
            h
        };
        for (dst, src) in b.iter_mut().zip(head.iter()) {
            *dst = *src;
        }
        Self(b)
    }

    /// The address family in the first two bytes.
    pub(crate) fn family(&self) -> u16 {
        let [a, b, ..] = self.0;
        u16::from_le_bytes([a, b])
    }

    /// The port (host order).
    pub(crate) fn port(&self) -> u16 {
        let [_, _, a, b, ..] = self.0;
        u16::from_be_bytes([a, b])
    }

    /// How many of the first 28 bytes differ from the `0xAA` poison, counting from the end:
    /// the length a provider wrote, assuming it wrote a prefix.
    pub(crate) fn written_len(&self) -> usize {
        let head = self.0.get(..Self::V6_LEN).unwrap_or_default();
        head.iter()
            .rposition(|b| *b != 0xAA)
            .map_or(0, |i| i.saturating_add(1))
    }

    /// The first `len` bytes.
    pub(crate) fn head(&self, len: usize) -> &[u8] {
        self.0.get(..len).unwrap_or_default()
    }

    pub(crate) fn as_sockaddr(&mut self) -> *mut sys::SOCKADDR {
        ptr::from_mut(self).cast()
    }
}

/// Everything besides the data buffer that a provider may read or write during a request.
#[repr(C)]
pub(crate) struct Mem {
    /// Socket addresses (local, remote).
    pub(crate) addr: [AddrBuf; 2],
    /// Pointer-sized in/out values (cached descriptors, address lists).
    pub(crate) ptrs: [*mut c_void; 2],
    /// ULONG out values (control lengths and flags, option values).
    pub(crate) ulongs: [u32; 4],
    /// `SIZE_T` out value (`OutputSizeReturned`).
    pub(crate) size: u64,
    /// The data buffer descriptor (providers may keep the pointer while pending).
    pub(crate) wsk_buf: sys::WSK_BUF,
    /// `SO_WSK_EVENT_CALLBACK`'s input, for an enable with an IRP.
    pub(crate) event_control: sys::WSK_EVENT_CALLBACK_CONTROL,
    /// Counted strings (node, service).
    pub(crate) names: [sys::UNICODE_STRING; 2],
    /// Their characters.
    pub(crate) name_chars: [[u16; 128]; 2],
}

impl Mem {
    fn new() -> Self {
        Self {
            addr: [AddrBuf::poisoned(); 2],
            ptrs: [ptr::null_mut(); 2],
            ulongs: [0; 4],
            size: 0,
            wsk_buf: sys::WSK_BUF {
                Mdl: ptr::null_mut(),
                Offset: 0,
                Length: 0,
            },
            event_control: sys::WSK_EVENT_CALLBACK_CONTROL {
                NpiId: ptr::null(),
                EventMask: 0,
            },
            names: [sys::UNICODE_STRING {
                Length: 0,
                MaximumLength: 0,
                Buffer: ptr::null_mut(),
            }; 2],
            name_chars: [[0; 128]; 2],
        }
    }
}

/// The pool object behind an [`Op`].
struct OpInner {
    irp: NonNull<sys::IRP>,
    event: UnsafeCell<sys::KEVENT>,
    state: AtomicU8,
    /// Completion sequence number (0: not completed).
    seq: AtomicU32,
    /// Set before abandoning when the provider had acknowledged the request (`OUTSTANDING`
    /// was incremented and the completion routine decrements it).
    counted: AtomicBool,
    /// Written by the completion routine before it publishes `state` (read after that).
    seen: UnsafeCell<Option<Seen>>,
    /// Taken in the completion routine only to learn the IRQL it runs at.
    irql_probe: UnsafeCell<sys::KSPIN_LOCK>,
    /// The completion routine signals the event only when `Irp->PendingReturned` is TRUE, as
    /// many WDM clients do (see [`set_strict`]).
    strict: bool,
    buffer: Buf,
    mem: UnsafeCell<Mem>,
}

// SAFETY: shared between the issuing thread and the completion routine, which only touch the
// atomics and the event (designed for that); the rest is used by one side at a time, as the
// state says.
unsafe impl Send for OpInner {}
// SAFETY: as above.
unsafe impl Sync for OpInner {}

impl Drop for OpInner {
    fn drop(&mut self) {
        // SAFETY: the IRP is ours (from IoAllocateIrp) and no request is pending on it: an
        // OpInner is dropped only when idle, completed, or from its completion routine.
        unsafe { sys::IoFreeIrp(self.irp.as_ptr()) };
    }
}

/// The IRQL the caller runs at: what `KeAcquireSpinLockRaiseToDpc` returns as the previous
/// IRQL (x64 Windows exports no `KeGetCurrentIrql`; the WDK's inline reads CR8). IRQL <=
/// DISPATCH_LEVEL.
fn current_irql(probe: *mut sys::KSPIN_LOCK) -> u8 {
    // SAFETY: `probe` is a spin lock only this routine takes, initialized (zero) in place.
    let old = unsafe { sys::KeAcquireSpinLockRaiseToDpc(probe) };
    // SAFETY: acquired just above at `old`.
    unsafe { sys::KeReleaseSpinLock(probe, old) };
    old
}

/// Completion routine of every request. IRQL <= DISPATCH_LEVEL.
unsafe extern "C" fn on_complete(
    _: *mut sys::DEVICE_OBJECT,
    irp: *mut sys::IRP,
    context: *mut c_void,
) -> i32 {
    let op = context.cast::<OpInner>().cast_const();
    // SAFETY: `context` is the OpInner that issued the IRP; it is alive until this routine
    // either signals its event (the owner frees it afterwards) or frees it (abandoned).
    let inner = unsafe { &*op };
    let irql = current_irql(inner.irql_probe.get());
    // SAFETY: the IRP is live and ours again (its completion routine runs).
    let pending_returned = unsafe { irp_fields::pending_returned(irp) };
    // SAFETY: as above.
    let status = unsafe { irp_fields::status(irp) };
    // SAFETY: as above.
    let info = unsafe { irp_fields::information(irp) };
    // SAFETY: as above.
    let cancel_routine = unsafe { irp_fields::has_cancel_routine(irp) };
    let seen = Seen {
        pending_returned,
        status: NtStatus(status),
        info,
        cancel_routine,
        irql,
    };
    // SAFETY: only this routine writes `seen` while the request is in flight; the owner reads
    // it after `state` says COMPLETED (the swap below publishes it).
    unsafe { *inner.seen.get() = Some(seen) };
    // From here the IRP carries markers: a provider that writes IoStatus after completing
    // changes them (checked before the IRP is armed again or freed).
    // SAFETY: the IRP is ours again.
    unsafe { irp_fields::set_io_status(irp, TAKEN_STATUS.0, TAKEN_INFO) };
    inner
        .seq
        .store(NEXT_SEQ.fetch_add(1, Ordering::AcqRel), Ordering::Release);
    let previous = inner.state.swap(COMPLETED, Ordering::AcqRel);
    if previous == ABANDONED {
        if inner.counted.load(Ordering::Acquire) {
            OUTSTANDING.fetch_sub(1, Ordering::AcqRel);
        }
        // SAFETY: the owner gave ownership up (PoolBox::into_raw) when it abandoned the op.
        drop(unsafe { PoolBox::from_raw(op.cast_mut()) });
    } else if !inner.strict || pending_returned {
        // SAFETY: the event was initialized in place and the op is alive (see above).
        let _ = unsafe { sys::KeSetEvent(inner.event.get(), 0, 0) };
    }
    // A strict op whose IRP came back without PendingReturned is not signalled: its owner
    // sees COMPLETED in `state` and nothing here touches the op after the swap.
    NtStatus::MORE_PROCESSING_REQUIRED.0
}

/// What one request did.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Obs {
    /// The value the WSK function returned.
    pub(crate) returned: NtStatus,
    /// Whether the IRP was completed (within the wait).
    pub(crate) completed: bool,
    /// `IoStatus.Status` when completed, else `returned`.
    pub(crate) status: NtStatus,
    /// `IoStatus.Information` when completed, else 0.
    pub(crate) info: usize,
    /// Whether the WSK function was called at all (false: NULL dispatch entry, no memory).
    pub(crate) made: bool,
    /// A strict op's call returned `STATUS_PENDING` but its completion routine saw
    /// `PendingReturned` FALSE: a client that waits that way would never wake.
    pub(crate) hung: bool,
}

impl Obs {
    /// Completed with a success status.
    pub(crate) fn ok(&self) -> bool {
        self.completed && self.status.is_success()
    }

    /// The provider said it does not implement the request.
    pub(crate) fn unsupported(&self) -> bool {
        matches!(
            self.status,
            NtStatus::NOT_IMPLEMENTED
                | NtStatus::NOT_SUPPORTED
                | NtStatus::INVALID_DEVICE_REQUEST
                | NOINTERFACE
        )
    }

    /// An observation for a call that could not be made (NULL dispatch entry, no memory).
    pub(crate) fn not_made(status: NtStatus) -> Self {
        Self {
            returned: status,
            completed: false,
            status,
            info: 0,
            made: false,
            hung: false,
        }
    }
}

/// One request slot: an IRP, its event and the memory of the request, in pool.
///
/// # Invariants
/// `inner` is `Some` until the op is dropped. While the state is `PENDING` and the
/// completion was not observed (`consumed`), the provider may use the IRP and the memory, so
/// the memory is only reached through raw pointers.
pub(crate) struct Op {
    inner: Option<PoolBox<OpInner>>,
    /// The event was seen signaled for the current request (the completion routine is done).
    consumed: bool,
    returned: NtStatus,
    /// The WSK function of the current request (for the WDM rules' details).
    what: &'static str,
    /// The current request's completion was given to the WDM rules already.
    judged: bool,
}

impl Op {
    /// A slot with a `buffer_len`-byte data buffer (with MDL). IRQL <= DISPATCH_LEVEL.
    pub(crate) fn new(buffer_len: usize) -> Option<Self> {
        Self::with_routine(buffer_len, STRICT.load(Ordering::Acquire))
    }

    fn with_routine(buffer_len: usize, strict: bool) -> Option<Self> {
        let buffer = Buf::try_new(buffer_len)?;
        // SAFETY: no preconditions; one stack location for the provider.
        let irp = NonNull::new(unsafe { sys::IoAllocateIrp(1, 0) })?;
        let inner = OpInner {
            irp,
            event: UnsafeCell::new(sys::KEVENT::default()),
            state: AtomicU8::new(IDLE),
            seq: AtomicU32::new(0),
            counted: AtomicBool::new(false),
            seen: UnsafeCell::new(None),
            irql_probe: UnsafeCell::new(0),
            strict,
            buffer,
            mem: UnsafeCell::new(Mem::new()),
        };
        let inner = match PoolBox::try_new_or_return(inner) {
            Ok(b) => b,
            Err(inner) => {
                drop(inner);
                return None;
            }
        };
        // SAFETY: the event is at its final (pool) address.
        unsafe { sys::KeInitializeEvent(inner.event.get(), sys::SynchronizationEvent, 0) };
        Some(Self {
            inner: Some(inner),
            consumed: true,
            returned: NtStatus::SUCCESS,
            what: "",
            judged: true,
        })
    }

    fn inner(&self) -> Option<&OpInner> {
        self.inner.as_deref()
    }

    /// Whether the provider may still use the op's memory.
    fn busy(&self) -> bool {
        !self.consumed
    }

    /// The request memory, when no request is in flight.
    pub(crate) fn mem(&mut self) -> Option<&mut Mem> {
        if self.busy() {
            return None;
        }
        // SAFETY: no request is in flight, so nothing else uses the memory; `&mut self`
        // makes this access unique.
        self.inner().map(|i| unsafe { &mut *i.mem.get() })
    }

    /// The data buffer, when no request is in flight.
    pub(crate) fn data(&mut self) -> Option<&mut [u8]> {
        if self.busy() {
            return None;
        }
        let inner = self.inner.as_deref_mut()?;
        Some(inner.buffer.as_mut_slice())
    }

    /// A `WSK_BUF` over the first `len` bytes of the data buffer, stored in the request
    /// memory; returns its address for the provider. Call before [`Op::issue`].
    pub(crate) fn prepare_buf(&mut self, len: usize) -> *mut sys::WSK_BUF {
        let Some(inner) = self.inner.as_deref() else {
            return ptr::null_mut();
        };
        let len = len.min(inner.buffer.len());
        let mdl = inner.buffer.mdl.as_ptr();
        let Some(mem) = self.mem() else {
            return ptr::null_mut();
        };
        mem.wsk_buf = sys::WSK_BUF {
            Mdl: mdl,
            Offset: 0,
            Length: len as u64,
        };
        &raw mut mem.wsk_buf
    }

    /// Completion sequence number of the last request (0: not completed).
    pub(crate) fn seq(&self) -> u32 {
        self.inner().map_or(0, |i| i.seq.load(Ordering::Acquire))
    }

    /// Issues one request: `call(irp, mem)` must call the WSK function with the IRP and only
    /// pointers into `mem` (or the data buffer's `WSK_BUF`). Returns what the call returned.
    /// IRQL: PASSIVE_LEVEL.
    pub(crate) fn issue(
        &mut self,
        what: &'static str,
        call: impl FnOnce(*mut sys::IRP, *mut Mem) -> i32,
    ) -> NtStatus {
        if self.busy() {
            return NtStatus::DEVICE_BUSY;
        }
        self.judge();
        self.check_untouched();
        let Some(inner) = self.inner() else {
            return NtStatus::INSUFFICIENT_RESOURCES;
        };
        let irp = inner.irp.as_ptr();
        let context = ptr::from_ref(inner).cast::<c_void>().cast_mut();
        // SAFETY: the IRP is ours and idle (not busy).
        unsafe { sys::IoReuseIrp(irp, ARMED_STATUS.0) };
        // SAFETY: as above.
        unsafe { irp_fields::set_io_status(irp, ARMED_STATUS.0, ARMED_INFO) };
        // SAFETY: no request is in flight, so the routine does not write `seen` now.
        unsafe { *inner.seen.get() = None };
        // SAFETY: as above; an IRP from IoAllocateIrp(1) has one location below the current one.
        unsafe { irp_fields::set_completion_routine(irp, on_complete, context) };
        // SAFETY: the event was initialized in place.
        unsafe { sys::KeClearEvent(inner.event.get()) };
        inner.seq.store(0, Ordering::Release);
        inner.state.store(PENDING, Ordering::Release);
        let mem = inner.mem.get();
        self.consumed = false;
        self.what = what;
        self.judged = false;
        self.returned = NtStatus(call(irp, mem));
        self.returned
    }

    /// What the completion routine saw for the current request, once it was observed.
    pub(crate) fn seen(&self) -> Option<Seen> {
        if !self.consumed {
            return None;
        }
        // SAFETY: the completion routine is done (consumed) and no request is in flight, so
        // nothing writes `seen` now.
        self.inner().and_then(|i| unsafe { *i.seen.get() })
    }

    /// Gives the current request's completion to the WDM rules (once).
    fn judge(&mut self) {
        if self.judged || !self.consumed {
            return;
        }
        self.judged = true;
        if let Some(seen) = self.seen() {
            crate::wdm::judge(self.what, self.returned, &seen);
        }
    }

    /// The markers the completion routine left in `IoStatus` must still be there: tells the
    /// WDM rules whether the provider touched the IRP after completing it.
    fn check_untouched(&self) {
        if !self.consumed || self.seen().is_none() {
            return;
        }
        let Some(inner) = self.inner() else { return };
        let irp = inner.irp.as_ptr();
        // SAFETY: the IRP is ours and completed.
        let status = unsafe { irp_fields::status(irp) };
        // SAFETY: as above.
        let info = unsafe { irp_fields::information(irp) };
        crate::wdm::untouched(
            self.what,
            NtStatus(status) == TAKEN_STATUS && info == TAKEN_INFO,
        );
    }

    /// Waits up to `timeout` for the completion; true once it was seen. IRQL: PASSIVE_LEVEL.
    pub(crate) fn wait(&mut self, timeout: Duration) -> bool {
        if self.consumed {
            return true;
        }
        let Some(inner) = self.inner() else {
            return false;
        };
        let mut t = sys::LARGE_INTEGER {
            QuadPart: relative(timeout),
        };
        // SAFETY: the event was initialized in place; `t` outlives the call.
        let status = unsafe {
            sys::KeWaitForSingleObject(
                inner.event.get().cast(),
                sys::Executive,
                sys::KERNEL_MODE,
                0,
                &raw mut t,
            )
        };
        if status == NtStatus::SUCCESS.0 {
            self.consumed = true;
        } else if inner.strict && inner.state.load(Ordering::Acquire) == COMPLETED {
            // SAFETY: `seen` was written before COMPLETED was published (read just above with
            // Acquire) and the routine does not write it again.
            let unsignalled = unsafe { *inner.seen.get() }.is_some_and(|s| !s.pending_returned);
            // A strict routine that did not signal has finished with the op (it does not touch
            // it after publishing COMPLETED in that case); one that signals may still be
            // about to, so only the former counts as consumed here.
            if unsignalled {
                self.consumed = true;
            }
        }
        self.consumed
    }

    /// A strict op (see [`set_strict`]) whose call returned `STATUS_PENDING` but whose
    /// completion routine saw `PendingReturned` FALSE: a waiter of that pattern never wakes.
    pub(crate) fn hung(&self) -> bool {
        self.returned == NtStatus::PENDING && self.seen().is_some_and(|s| !s.pending_returned)
    }

    /// The observation of the last request after waiting: up to `timeout` if it returned
    /// `STATUS_PENDING`, [`SYNC_GRACE`] otherwise.
    pub(crate) fn observe(&mut self, timeout: Duration) -> Obs {
        let wait = if self.returned == NtStatus::PENDING {
            timeout
        } else {
            SYNC_GRACE
        };
        let completed = self.wait(wait);
        self.current(completed)
    }

    /// The observation now, without waiting further.
    pub(crate) fn current(&mut self, completed: bool) -> Obs {
        let completed = completed && self.consumed;
        let (status, info) = match self.seen() {
            Some(seen) if completed => (seen.status, seen.info),
            _ => (self.returned, 0),
        };
        self.judge();
        let hung = self.inner().is_some_and(|i| i.strict) && self.hung();
        Obs {
            returned: self.returned,
            completed,
            status,
            info,
            made: true,
            hung,
        }
    }

    /// Issue + observe.
    pub(crate) fn run(
        &mut self,
        what: &'static str,
        timeout: Duration,
        call: impl FnOnce(*mut sys::IRP, *mut Mem) -> i32,
    ) -> Obs {
        self.issue(what, call);
        self.observe(timeout)
    }

    /// `IoCancelIrp` on the request in flight; returns its BOOLEAN result. IRQL <= DISPATCH_LEVEL.
    pub(crate) fn cancel(&self) -> bool {
        if !self.busy() {
            return false;
        }
        let Some(inner) = self.inner() else {
            return false;
        };
        // SAFETY: the IRP stays allocated until its completion routine ran (an op in flight
        // is never freed, only abandoned), so cancelling it is valid even if it completes now.
        unsafe { sys::IoCancelIrp(inner.irp.as_ptr()) != 0 }
    }

    /// Whether the request in flight has not completed (so dropping the op abandons it).
    pub(crate) fn in_flight(&self) -> bool {
        self.busy()
    }
}

impl Drop for Op {
    fn drop(&mut self) {
        if self.consumed {
            self.judge();
            self.check_untouched();
        }
        let Some(inner) = self.inner.take() else {
            return;
        };
        if self.consumed {
            return;
        }
        let acknowledged = self.returned == NtStatus::PENDING;
        inner.counted.store(acknowledged, Ordering::Release);
        if acknowledged {
            OUTSTANDING.fetch_add(1, Ordering::AcqRel);
        }
        let raw = inner.into_raw();
        // SAFETY: `raw` is the live op just released; nothing frees it before the exchange.
        let state = unsafe { &(*raw).state };
        if state
            .compare_exchange(PENDING, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            // The completion routine frees it, if the provider ever completes the request.
            LEAKED.fetch_add(1, Ordering::AcqRel);
            return;
        }
        // Completed meanwhile: the routine is signalling the event; free once it has.
        if acknowledged {
            OUTSTANDING.fetch_sub(1, Ordering::AcqRel);
        }
        // SAFETY: the completion routine did not take ownership (the state was not ABANDONED).
        let inner = unsafe { PoolBox::from_raw(raw) };
        let mut t = sys::LARGE_INTEGER {
            QuadPart: relative(WAIT),
        };
        // SAFETY: the event was initialized in place; `t` outlives the call.
        let status = unsafe {
            sys::KeWaitForSingleObject(
                inner.event.get().cast(),
                sys::Executive,
                sys::KERNEL_MODE,
                0,
                &raw mut t,
            )
        };
        if status != NtStatus::SUCCESS.0 {
            // Never seen signaled: keep the memory rather than free it under the routine.
            LEAKED.fetch_add(1, Ordering::AcqRel);
            let _ = inner.into_raw();
        }
    }
}

/// Pool tag of the conformance driver's allocations ("WkCf").
const TAG: u32 = u32::from_le_bytes(*b"WkCf");

/// A data buffer in nonpaged pool with an MDL describing exactly its bytes.
///
/// # Invariants
/// `va` points to `len` owned bytes (`len >= 1`, fits `u32`); `mdl` describes them.
pub(crate) struct Buf {
    va: NonNull<u8>,
    len: usize,
    mdl: NonNull<sys::MDL>,
}

impl Buf {
    fn try_new(len: usize) -> Option<Self> {
        let len = len.max(1);
        let mdl_len = u32::try_from(len).ok()?;
        // SAFETY: nonpaged pool at IRQL <= DISPATCH_LEVEL has no other precondition.
        let va = NonNull::new(
            unsafe { sys::ExAllocatePoolWithTag(sys::NonPagedPoolNx, len as u64, TAG) }
                .cast::<u8>(),
        )?;
        // SAFETY: `va` points to `len` freshly allocated bytes.
        unsafe { ptr::write_bytes(va.as_ptr(), 0, len) };
        // SAFETY: `va`/`mdl_len` describe our own allocation; no IRP is associated.
        let mdl = unsafe { sys::IoAllocateMdl(va.as_ptr().cast(), mdl_len, 0, 0, ptr::null_mut()) };
        let Some(mdl) = NonNull::new(mdl) else {
            // SAFETY: allocated above with this tag, not used afterwards.
            unsafe { sys::ExFreePoolWithTag(va.as_ptr().cast(), TAG) };
            return None;
        };
        // SAFETY: the MDL describes nonpaged pool we own.
        unsafe { sys::MmBuildMdlForNonPagedPool(mdl.as_ptr()) };
        // INVARIANT: `mdl` describes exactly the `len` bytes at `va`.
        Some(Self { va, len, mdl })
    }

    fn len(&self) -> usize {
        self.len
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: `va` points to `len` owned, initialized bytes (type invariant); `&mut self`
        // makes the access unique.
        unsafe { core::slice::from_raw_parts_mut(self.va.as_ptr(), self.len) }
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        // SAFETY: the MDL is ours and no request uses it any more (owners guarantee that).
        unsafe { sys::IoFreeMdl(self.mdl.as_ptr()) };
        // SAFETY: allocated in `try_new` with this tag, not used afterwards.
        unsafe { sys::ExFreePoolWithTag(self.va.as_ptr().cast(), TAG) };
    }
}

/// The WSK client registration with its captured provider NPI.
///
/// # Invariants
/// `mem` holds a registration done with `WskRegister` (and, when `captured`, a captured
/// provider NPI); both are undone in drop unless sockets or requests are left, in which case
/// the registration is leaked (`WskDeregister` would wait for them forever).
pub(crate) struct Client {
    mem: Option<PoolBox<ClientMem>>,
}

struct ClientMem {
    registration: UnsafeCell<sys::WSK_REGISTRATION>,
    client_npi: sys::WSK_CLIENT_NPI,
    provider: UnsafeCell<sys::WSK_PROVIDER_NPI>,
    captured: bool,
}

// SAFETY: the registration and NPI are used from the RUN thread only; WSK allows any thread.
unsafe impl Send for ClientMem {}
// SAFETY: as above.
unsafe impl Sync for ClientMem {}

/// The client dispatch we register: WSK 1.0, no client-level event callback.
static CLIENT_DISPATCH: sys::WSK_CLIENT_DISPATCH = sys::WSK_CLIENT_DISPATCH {
    Version: sys::make_wsk_version(1, 0),
    Reserved: 0,
    WskClientEvent: None,
};

impl Client {
    /// `WskRegister` + `WskCaptureProviderNPI(wait_ms)`. Returns the client (when registered)
    /// and the status of the step that decided. IRQL: PASSIVE_LEVEL.
    pub(crate) fn register(wait_ms: u32) -> (Option<Self>, NtStatus, &'static str) {
        let mem = ClientMem {
            registration: UnsafeCell::new(sys::WSK_REGISTRATION::default()),
            client_npi: sys::WSK_CLIENT_NPI {
                ClientContext: ptr::null_mut(),
                Dispatch: &raw const CLIENT_DISPATCH,
            },
            provider: UnsafeCell::new(sys::WSK_PROVIDER_NPI {
                Client: ptr::null_mut(),
                Dispatch: ptr::null(),
            }),
            captured: false,
        };
        let Ok(mut mem) = PoolBox::try_new(mem) else {
            return (None, NtStatus::INSUFFICIENT_RESOURCES, "pool");
        };
        let client_npi = ptr::from_ref(&mem.client_npi).cast_mut();
        // SAFETY: both structures live in pool at a stable address until WskDeregister.
        let status = NtStatus(unsafe { sys::WskRegister(client_npi, mem.registration.get()) });
        if !status.is_success() {
            return (None, status, "WskRegister");
        }
        // SAFETY: registered above; `provider` is valid for writes.
        let status = NtStatus(unsafe {
            sys::WskCaptureProviderNPI(mem.registration.get(), wait_ms, mem.provider.get())
        });
        mem.captured = status.is_success();
        let this = Self { mem: Some(mem) };
        (Some(this), status, "WskCaptureProviderNPI")
    }

    /// The provider dispatch, when the NPI was captured.
    pub(crate) fn dispatch(&self) -> Option<(*mut sys::WSK_CLIENT, &sys::WSK_PROVIDER_DISPATCH)> {
        let mem = self.mem.as_deref()?;
        if !mem.captured {
            return None;
        }
        // SAFETY: written once by WskCaptureProviderNPI before this point, read-only since.
        let npi = unsafe { &*mem.provider.get() };
        // SAFETY: the provider's dispatch table stays valid while the NPI is captured.
        let dispatch = unsafe { npi.Dispatch.as_ref() }?;
        Some((npi.Client, dispatch))
    }

    /// Releases the NPI and deregisters if nothing is left open; returns whether it did.
    /// IRQL: PASSIVE_LEVEL.
    pub(crate) fn release(mut self) -> bool {
        let Some(mem) = self.mem.take() else {
            return true;
        };
        if OPEN_SOCKETS.load(Ordering::Acquire) != 0 || OUTSTANDING.load(Ordering::Acquire) != 0 {
            // WskDeregister would wait for those forever: leak the registration instead.
            let _ = mem.into_raw();
            LEAKED.fetch_add(1, Ordering::AcqRel);
            return false;
        }
        if mem.captured {
            // SAFETY: captured in `register`; released once, here.
            unsafe { sys::WskReleaseProviderNPI(mem.registration.get()) };
        }
        // SAFETY: registered in `register`; deregistered once, here.
        unsafe { sys::WskDeregister(mem.registration.get()) };
        true
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Some(mem) = self.mem.take() {
            let _ = Self { mem: Some(mem) }.release();
        }
    }
}

/// Socket categories.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Basic,
    Listen,
    Connection,
    Datagram,
    /// `WSK_FLAG_STREAM_SOCKET` (Windows 10 1703+): `WSK_PROVIDER_STREAM_DISPATCH`; becomes
    /// a listening socket with `WskListen` or a connection with `WskConnect`.
    Stream,
}

impl Kind {
    pub(crate) fn flags(self) -> u32 {
        match self {
            Self::Basic => sys::WSK_FLAG_BASIC_SOCKET,
            Self::Listen => sys::WSK_FLAG_LISTEN_SOCKET,
            Self::Connection => sys::WSK_FLAG_CONNECTION_SOCKET,
            Self::Datagram => sys::WSK_FLAG_DATAGRAM_SOCKET,
            Self::Stream => sys::WSK_FLAG_STREAM_SOCKET,
        }
    }
}

/// A provider socket; closed (bounded wait) on drop.
///
/// # Invariants
/// `ptr` is an open WSK socket of category `kind` while `open`.
pub(crate) struct Socket {
    ptr: NonNull<sys::WSK_SOCKET>,
    kind: Kind,
    open: bool,
}

impl Socket {
    /// A socket the provider returned in an IRP's Information (`WskSocket`, `WskAccept`,
    /// `WskSocketConnect`).
    pub(crate) fn from_info(info: usize, kind: Kind) -> Option<Self> {
        let ptr = NonNull::new(info as *mut sys::WSK_SOCKET)?;
        OPEN_SOCKETS.fetch_add(1, Ordering::AcqRel);
        // INVARIANT: the provider handed over an open socket of this category.
        Some(Self {
            ptr,
            kind,
            open: true,
        })
    }

    pub(crate) fn as_ptr(&self) -> *mut sys::WSK_SOCKET {
        self.ptr.as_ptr()
    }

    fn dispatch_ptr(&self) -> *const c_void {
        // SAFETY: the socket is open (type invariant), so the provider's object is live.
        unsafe { self.ptr.as_ref() }.Dispatch
    }

    /// The basic dispatch (every category's table starts with it).
    pub(crate) fn basic(&self) -> Option<&sys::WSK_PROVIDER_BASIC_DISPATCH> {
        if !self.open {
            return None;
        }
        // SAFETY: every category's dispatch starts with the basic dispatch; valid while open.
        unsafe {
            self.dispatch_ptr()
                .cast::<sys::WSK_PROVIDER_BASIC_DISPATCH>()
                .as_ref()
        }
    }

    /// The connection dispatch, for connection sockets.
    pub(crate) fn connection(&self) -> Option<&sys::WSK_PROVIDER_CONNECTION_DISPATCH> {
        if !self.open || self.kind != Kind::Connection {
            return None;
        }
        // SAFETY: a connection socket's dispatch is a connection dispatch; valid while open.
        unsafe {
            self.dispatch_ptr()
                .cast::<sys::WSK_PROVIDER_CONNECTION_DISPATCH>()
                .as_ref()
        }
    }

    /// The listen dispatch, for listen sockets.
    pub(crate) fn listen(&self) -> Option<&sys::WSK_PROVIDER_LISTEN_DISPATCH> {
        if !self.open || self.kind != Kind::Listen {
            return None;
        }
        // SAFETY: a listen socket's dispatch is a listen dispatch; valid while open.
        unsafe {
            self.dispatch_ptr()
                .cast::<sys::WSK_PROVIDER_LISTEN_DISPATCH>()
                .as_ref()
        }
    }

    /// The datagram dispatch, for datagram sockets.
    pub(crate) fn datagram(&self) -> Option<&sys::WSK_PROVIDER_DATAGRAM_DISPATCH> {
        if !self.open || self.kind != Kind::Datagram {
            return None;
        }
        // SAFETY: a datagram socket's dispatch is a datagram dispatch; valid while open.
        unsafe {
            self.dispatch_ptr()
                .cast::<sys::WSK_PROVIDER_DATAGRAM_DISPATCH>()
                .as_ref()
        }
    }

    /// The stream dispatch, for stream sockets.
    pub(crate) fn stream(&self) -> Option<&sys::WSK_PROVIDER_STREAM_DISPATCH> {
        if !self.open || self.kind != Kind::Stream {
            return None;
        }
        // SAFETY: a stream socket's dispatch is a stream dispatch (its layout is asserted in
        // wsk-bindings against Microsoft's page); valid while open.
        unsafe {
            self.dispatch_ptr()
                .cast::<sys::WSK_PROVIDER_STREAM_DISPATCH>()
                .as_ref()
        }
    }

    /// `WskConnect`, from the connection or the stream dispatch.
    fn connect_fn(&self) -> sys::PFN_WSK_CONNECT {
        self.connection()
            .and_then(|d| d.WskConnect)
            .or_else(|| self.stream().and_then(|d| d.WskConnect))
    }

    /// `WskSend`, from the connection or the stream dispatch.
    fn send_fn(&self) -> sys::PFN_WSK_SEND {
        self.connection()
            .and_then(|d| d.WskSend)
            .or_else(|| self.stream().and_then(|d| d.WskSend))
    }

    /// `WskReceive`, from the connection or the stream dispatch.
    fn receive_fn(&self) -> sys::PFN_WSK_RECEIVE {
        self.connection()
            .and_then(|d| d.WskReceive)
            .or_else(|| self.stream().and_then(|d| d.WskReceive))
    }

    /// `WskAccept`, from the listen or the stream dispatch.
    fn accept_fn(&self) -> sys::PFN_WSK_ACCEPT {
        self.listen()
            .and_then(|d| d.WskAccept)
            .or_else(|| self.stream().and_then(|d| d.WskAccept))
    }

    /// Issues `WskCloseSocket` on `op` without waiting (the caller observes it). The socket
    /// counts as closed once the close completes ([`Socket::closed`]).
    pub(crate) fn issue_close(&mut self, op: &mut Op) -> NtStatus {
        let Some(close) = self.basic().and_then(|b| b.WskCloseSocket) else {
            return NtStatus::NOT_IMPLEMENTED;
        };
        let socket = self.as_ptr();
        self.open = false;
        // SAFETY: the socket was open and is closed exactly once (`open` is now false).
        op.issue("WskCloseSocket", |irp, _| unsafe { close(socket, irp) })
    }

    /// Records that a close issued with [`Socket::issue_close`] completed (takes the socket
    /// so that only its owner can say so).
    #[allow(clippy::unused_self)]
    pub(crate) fn closed(&mut self) {
        OPEN_SOCKETS.fetch_sub(1, Ordering::AcqRel);
    }

    /// `WskCloseSocket`, waiting up to 5 s. If the close does not complete, the socket and
    /// the request are leaked. IRQL: PASSIVE_LEVEL.
    pub(crate) fn close(mut self) -> Obs {
        self.close_now()
    }

    fn close_now(&mut self) -> Obs {
        if !self.open {
            return Obs::not_made(NtStatus::INVALID_HANDLE);
        }
        let Some(mut op) = Op::new(1) else {
            // No memory for the request: the socket stays open (leaked).
            self.open = false;
            LEAKED.fetch_add(1, Ordering::AcqRel);
            return Obs::not_made(NtStatus::INSUFFICIENT_RESOURCES);
        };
        self.issue_close(&mut op);
        let obs = op.observe(CLOSE_WAIT);
        if obs.completed {
            self.closed();
        }
        obs
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        let _ = self.close_now();
    }
}

/// `WskSocket` through `client`. Returns the observation and the socket on success.
pub(crate) fn socket(
    client: &Client,
    family: u16,
    kind: Kind,
    context: *mut c_void,
    dispatch: *const c_void,
    security: *mut sys::SECURITY_DESCRIPTOR,
) -> (Obs, Option<Socket>) {
    let Some((npi, provider)) = client.dispatch() else {
        return (Obs::not_made(NOINTERFACE), None);
    };
    let Some(socket_fn) = provider.WskSocket else {
        return (Obs::not_made(NtStatus::NOT_IMPLEMENTED), None);
    };
    let Some(mut op) = Op::new(1) else {
        return (Obs::not_made(NtStatus::INSUFFICIENT_RESOURCES), None);
    };
    let (ty, proto) = match kind {
        Kind::Datagram => (sys::SOCK_DGRAM_TYPE, sys::IPPROTO_UDP),
        _ => (sys::SOCK_STREAM_TYPE, sys::IPPROTO_TCP),
    };
    let obs = op.run("WskSocket", WAIT, |irp, _| {
        // SAFETY: the NPI is captured; the context and dispatch are NULL or outlive the
        // socket (callers' contract); the descriptor is NULL or a cached copy.
        unsafe {
            socket_fn(
                npi,
                family,
                ty,
                proto,
                kind.flags(),
                context,
                dispatch,
                ptr::null_mut(),
                ptr::null_mut(),
                security,
                irp,
            )
        }
    });
    let socket = if obs.ok() {
        Socket::from_info(obs.info, kind)
    } else {
        None
    };
    (obs, socket)
}

/// `WskBind` on a socket of any category with a bind function.
pub(crate) fn bind(socket: &Socket, local: AddrBuf) -> Obs {
    let bind_fn = match socket.kind {
        Kind::Connection => socket.connection().and_then(|d| d.WskBind),
        Kind::Listen => socket.listen().and_then(|d| d.WskBind),
        Kind::Datagram => socket.datagram().and_then(|d| d.WskBind),
        Kind::Stream => socket.stream().and_then(|d| d.WskBind),
        Kind::Basic => None,
    };
    let Some(bind_fn) = bind_fn else {
        return Obs::not_made(NtStatus::NOT_IMPLEMENTED);
    };
    let Some(mut op) = Op::new(1) else {
        return Obs::not_made(NtStatus::INSUFFICIENT_RESOURCES);
    };
    let Some(mem) = op.mem() else {
        return Obs::not_made(NtStatus::DEVICE_BUSY);
    };
    mem.addr[0] = local;
    let addr = mem.addr[0].as_sockaddr();
    let s = socket.as_ptr();
    // SAFETY: the socket is open; the address lives in the op's memory.
    op.run("WskBind", WAIT, |irp, _| unsafe {
        bind_fn(s, addr, 0, irp)
    })
}

/// `WskConnect` on a bound connection socket, on `op` (address in `mem.addr[1]`).
pub(crate) fn connect(socket: &Socket, op: &mut Op, remote: AddrBuf, timeout: Duration) -> Obs {
    let Some(connect_fn) = socket.connect_fn() else {
        return Obs::not_made(NtStatus::NOT_IMPLEMENTED);
    };
    let Some(mem) = op.mem() else {
        return Obs::not_made(NtStatus::DEVICE_BUSY);
    };
    mem.addr[1] = remote;
    let addr = mem.addr[1].as_sockaddr();
    let s = socket.as_ptr();
    // SAFETY: the socket is open; the address lives in the op's memory.
    op.run("WskConnect", timeout, |irp, _| unsafe {
        connect_fn(s, addr, 0, irp)
    })
}

/// Issues `WskSend` of `data` on `op` and waits.
pub(crate) fn send(socket: &Socket, op: &mut Op, data: &[u8]) -> Obs {
    let Some(send_fn) = socket.send_fn() else {
        return Obs::not_made(NtStatus::NOT_IMPLEMENTED);
    };
    let len = data.len();
    match op.data().and_then(|d| d.get_mut(..len)) {
        Some(dst) => dst.copy_from_slice(data),
        None => return Obs::not_made(NtStatus::BUFFER_TOO_SMALL),
    }
    let buf = op.prepare_buf(len);
    let s = socket.as_ptr();
    // SAFETY: the socket is open; the WSK_BUF and its MDL live in the op.
    op.run("WskSend", WAIT, |irp, _| unsafe { send_fn(s, buf, 0, irp) })
}

/// Issues `WskReceive` of up to `len` bytes on `op` without waiting; returns what it returned.
pub(crate) fn issue_receive(socket: &Socket, op: &mut Op, len: usize) -> NtStatus {
    let Some(receive_fn) = socket.receive_fn() else {
        return NtStatus::NOT_IMPLEMENTED;
    };
    let buf = op.prepare_buf(len);
    let s = socket.as_ptr();
    // SAFETY: the socket is open; the WSK_BUF and its MDL live in the op.
    op.issue("WskReceive", |irp, _| unsafe { receive_fn(s, buf, 0, irp) })
}

/// Receives until `want` bytes arrived, the peer closed, or `timeout` passed per receive.
/// Returns (the last observation, the bytes received so far).
pub(crate) fn receive_exact(
    socket: &Socket,
    op: &mut Op,
    want: usize,
    out: &mut [u8],
    timeout: Duration,
) -> (Obs, usize) {
    let mut got = 0usize;
    let mut obs = Obs::not_made(NtStatus::UNSUCCESSFUL);
    while got < want {
        let returned = issue_receive(socket, op, want.saturating_sub(got));
        if returned == NtStatus::NOT_IMPLEMENTED && !op.in_flight() {
            return (Obs::not_made(returned), got);
        }
        obs = op.observe(timeout);
        if !obs.ok() || obs.info == 0 {
            break;
        }
        let n = obs.info.min(want.saturating_sub(got));
        let end = got.saturating_add(n);
        if let (Some(src), Some(dst)) = (op.data().and_then(|d| d.get(..n)), out.get_mut(got..end))
        {
            dst.copy_from_slice(src);
        }
        got = got.saturating_add(n);
    }
    (obs, got)
}

/// Waits until `OUTSTANDING` drops to zero or `limit` passes. IRQL: PASSIVE_LEVEL.
pub(crate) fn drain_outstanding(limit: Duration) -> bool {
    let step = Duration::from_millis(20);
    let mut waited = Duration::ZERO;
    while OUTSTANDING.load(Ordering::Acquire) != 0 && waited < limit {
        sleep(step);
        waited = waited.saturating_add(step);
    }
    OUTSTANDING.load(Ordering::Acquire) == 0
}

/// `WskAccept` on a bound listen socket, without waiting; the local and remote address
/// buffers (`mem.addr[0]`, `mem.addr[1]`) are prefilled with `0xAA`.
pub(crate) fn issue_accept(listener: &Socket, op: &mut Op) -> Result<NtStatus, Obs> {
    let Some(accept_fn) = listener.accept_fn() else {
        return Err(Obs::not_made(NtStatus::NOT_IMPLEMENTED));
    };
    let Some(mem) = op.mem() else {
        return Err(Obs::not_made(NtStatus::DEVICE_BUSY));
    };
    mem.addr = [AddrBuf::poisoned(); 2];
    let (local, remote) = (mem.addr[0].as_sockaddr(), mem.addr[1].as_sockaddr());
    let l = listener.as_ptr();
    // SAFETY: the listener is open and bound; both address buffers live in the op.
    Ok(op.issue("WskAccept", |irp, _| unsafe {
        accept_fn(l, 0, ptr::null_mut(), ptr::null(), local, remote, irp)
    }))
}

/// `WskGetLocalAddress` (or `WskGetRemoteAddress`) of a connection socket into
/// `mem.addr[0]` (prefilled with `0xAA`).
pub(crate) fn get_address(socket: &Socket, op: &mut Op, remote: bool) -> Obs {
    let f = match socket.kind {
        Kind::Listen if !remote => socket.listen().and_then(|d| d.WskGetLocalAddress),
        _ => socket.connection().and_then(|d| {
            if remote {
                d.WskGetRemoteAddress
            } else {
                d.WskGetLocalAddress
            }
        }),
    };
    let Some(f) = f else {
        return Obs::not_made(NtStatus::NOT_IMPLEMENTED);
    };
    let Some(mem) = op.mem() else {
        return Obs::not_made(NtStatus::DEVICE_BUSY);
    };
    mem.addr[0] = AddrBuf::poisoned();
    let out = mem.addr[0].as_sockaddr();
    let s = socket.as_ptr();
    // SAFETY: the socket is open; the address buffer lives in the op.
    op.run("WskGetLocal/RemoteAddress", WAIT, |irp, _| unsafe {
        f(s, out, irp)
    })
}

/// `WskControlSocket` with an IRP on a fresh op (one a provider never completes stays
/// abandoned): `value` in, or up to 4 bytes out. Returns the observation and the value read
/// back as a ULONG (1-byte booleans read as 0 or 1).
pub(crate) fn control_socket(
    socket: &Socket,
    request: sys::WSK_CONTROL_SOCKET_TYPE,
    level: u32,
    code: u32,
    value: Option<u32>,
) -> (Obs, u32) {
    let Some(f) = socket.basic().and_then(|b| b.WskControlSocket) else {
        return (Obs::not_made(NtStatus::NOT_IMPLEMENTED), 0);
    };
    let Some(mut op) = Op::new(1) else {
        return (Obs::not_made(NtStatus::INSUFFICIENT_RESOURCES), 0);
    };
    let Some(mem) = op.mem() else {
        return (Obs::not_made(NtStatus::DEVICE_BUSY), 0);
    };
    mem.ulongs = [value.unwrap_or(0), 0, 0, 0];
    mem.size = 0;
    let input: *mut c_void = if value.is_some() {
        (&raw mut mem.ulongs[0]).cast()
    } else {
        ptr::null_mut()
    };
    let output: *mut c_void = if value.is_some() {
        ptr::null_mut()
    } else {
        (&raw mut mem.ulongs[1]).cast()
    };
    let (in_len, out_len) = if value.is_some() {
        (4u64, 0u64)
    } else {
        (0, 4)
    };
    let returned: *mut u64 = &raw mut mem.size;
    let s = socket.as_ptr();
    // SAFETY: the socket is open; the buffers live in the op until the request completes.
    let obs = op.run("WskControlSocket", WAIT, |irp, _| unsafe {
        f(
            s, request, code, level, in_len, input, out_len, output, returned, irp,
        )
    });
    let read = op.mem().map_or(0, |m| m.ulongs[1]);
    (obs, read)
}

/// `SO_WSK_SECURITY` set (`Some(descriptor)`, a cached copy) or get (`None`) with an IRP, on
/// `op`. Returns the observation and, for a get, the copy returned (the caller releases it).
pub(crate) fn socket_security(
    socket: &Socket,
    op: &mut Op,
    set: Option<*mut c_void>,
) -> (Obs, *mut c_void) {
    let Some(f) = socket.basic().and_then(|b| b.WskControlSocket) else {
        return (Obs::not_made(NtStatus::NOT_IMPLEMENTED), ptr::null_mut());
    };
    let size = core::mem::size_of::<*mut c_void>() as u64;
    let Some(mem) = op.mem() else {
        return (Obs::not_made(NtStatus::DEVICE_BUSY), ptr::null_mut());
    };
    mem.ptrs = [set.unwrap_or(ptr::null_mut()), ptr::null_mut()];
    let (request, input, in_len, output, out_len): (_, *mut c_void, u64, *mut c_void, u64) =
        match set {
            Some(_) => (
                sys::WskSetOption,
                (&raw mut mem.ptrs[0]).cast(),
                size,
                ptr::null_mut(),
                0,
            ),
            None => (
                sys::WskGetOption,
                ptr::null_mut(),
                0,
                (&raw mut mem.ptrs[1]).cast(),
                size,
            ),
        };
    let s = socket.as_ptr();
    // SAFETY: the socket is open; the pointer variables live in the op; a descriptor being
    // set is a cached copy the caller keeps until the request completed.
    let obs = op.run("WskControlSocket(SO_WSK_SECURITY)", WAIT, |irp, _| unsafe {
        f(
            s,
            request,
            sys::SO_WSK_SECURITY,
            sys::SOL_SOCKET,
            in_len,
            input,
            out_len,
            output,
            ptr::null_mut(),
            irp,
        )
    });
    let got = op.mem().map_or(ptr::null_mut(), |m| m.ptrs[1]);
    (obs, got)
}

/// `SO_WSK_EVENT_CALLBACK` (no IRP): enables (or, with `WSK_EVENT_DISABLE`, disables) the
/// events in `mask`; returns the provider's status.
pub(crate) fn event_callbacks(socket: &Socket, mask: u32) -> NtStatus {
    let Some(f) = socket.basic().and_then(|b| b.WskControlSocket) else {
        return NtStatus::NOT_IMPLEMENTED;
    };
    let mut control = sys::WSK_EVENT_CALLBACK_CONTROL {
        NpiId: &raw const sys::NPI_WSK_INTERFACE_ID,
        EventMask: mask,
    };
    let size = core::mem::size_of::<sys::WSK_EVENT_CALLBACK_CONTROL>() as u64;
    // SAFETY: the socket is open; this option takes no IRP, so `control` only needs to live
    // across the call.
    NtStatus(unsafe {
        f(
            socket.as_ptr(),
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
    })
}

/// `WskControlSocket(WskSetOption, SO_WSK_EVENT_CALLBACK)` with an IRP (the input lives in
/// the op).
pub(crate) fn event_callbacks_with_irp(socket: &Socket, op: &mut Op, mask: u32) -> Obs {
    let Some(f) = socket.basic().and_then(|b| b.WskControlSocket) else {
        return Obs::not_made(NtStatus::NOT_IMPLEMENTED);
    };
    let Some(mem) = op.mem() else {
        return Obs::not_made(NtStatus::DEVICE_BUSY);
    };
    mem.event_control = sys::WSK_EVENT_CALLBACK_CONTROL {
        NpiId: &raw const sys::NPI_WSK_INTERFACE_ID,
        EventMask: mask,
    };
    let input: *mut c_void = (&raw mut mem.event_control).cast();
    let size = core::mem::size_of::<sys::WSK_EVENT_CALLBACK_CONTROL>() as u64;
    let s = socket.as_ptr();
    // SAFETY: the socket is open; the input lives in the op until the IRP completed.
    op.run(
        "WskControlSocket(SO_WSK_EVENT_CALLBACK)",
        WAIT,
        |irp, _| unsafe {
            f(
                s,
                sys::WskSetOption,
                sys::SO_WSK_EVENT_CALLBACK,
                sys::SOL_SOCKET,
                size,
                input,
                0,
                ptr::null_mut(),
                ptr::null_mut(),
                irp,
            )
        },
    )
}

/// `WskControlClient` without an IRP (synchronous): `input` and `output` are the pointer
/// variables `WSK_CACHE_SD` / `WSK_RELEASE_SD` take.
pub(crate) fn control_client(
    client: &Client,
    code: u32,
    input: &mut *mut c_void,
    output: Option<&mut *mut c_void>,
) -> NtStatus {
    let Some((npi, provider)) = client.dispatch() else {
        return NOINTERFACE;
    };
    let Some(f) = provider.WskControlClient else {
        return NtStatus::NOT_IMPLEMENTED;
    };
    let size = core::mem::size_of::<*mut c_void>() as u64;
    let (out_ptr, out_len): (*mut c_void, u64) = match output {
        Some(o) => (ptr::from_mut(o).cast(), size),
        None => (ptr::null_mut(), 0),
    };
    let in_ptr: *mut c_void = ptr::from_mut(input).cast();
    // SAFETY: the NPI is captured; both pointer variables live across this synchronous call
    // (no IRP: the provider completes the request before returning).
    NtStatus(unsafe {
        f(
            npi,
            code,
            size,
            in_ptr,
            out_len,
            out_ptr,
            ptr::null_mut(),
            ptr::null_mut(),
        )
    })
}

/// `WskDisconnect` without data, with `flags` (0 or `WSK_FLAG_ABORTIVE`), on `op`.
pub(crate) fn disconnect(socket: &Socket, op: &mut Op, flags: u32) -> Obs {
    let Some(f) = socket.connection().and_then(|d| d.WskDisconnect) else {
        return Obs::not_made(NtStatus::NOT_IMPLEMENTED);
    };
    let s = socket.as_ptr();
    // SAFETY: the socket is open and connected; no buffer is passed.
    op.run("WskDisconnect", WAIT, |irp, _| unsafe {
        f(s, ptr::null_mut(), flags, irp)
    })
}

/// `WskSocketConnect` (TCP, no callbacks, default security) from `local` to `remote`.
pub(crate) fn socket_connect(
    client: &Client,
    op: &mut Op,
    local: AddrBuf,
    remote: AddrBuf,
) -> (Obs, Option<Socket>) {
    let Some((npi, provider)) = client.dispatch() else {
        return (Obs::not_made(NOINTERFACE), None);
    };
    let Some(f) = provider.WskSocketConnect else {
        return (Obs::not_made(NtStatus::NOT_IMPLEMENTED), None);
    };
    let Some(mem) = op.mem() else {
        return (Obs::not_made(NtStatus::DEVICE_BUSY), None);
    };
    mem.addr = [local, remote];
    let (local, remote) = (mem.addr[0].as_sockaddr(), mem.addr[1].as_sockaddr());
    let obs = op.run("WskSocketConnect", WAIT, |irp, _| {
        // SAFETY: the NPI is captured; both addresses live in the op; no callbacks.
        unsafe {
            f(
                npi,
                sys::SOCK_STREAM_TYPE,
                sys::IPPROTO_TCP,
                local,
                remote,
                0,
                ptr::null_mut(),
                ptr::null(),
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null_mut(),
                irp,
            )
        }
    });
    let socket = if obs.ok() {
        Socket::from_info(obs.info, Kind::Connection)
    } else {
        None
    };
    (obs, socket)
}

/// Sets counted string `slot` of `mem` to ASCII `text` (NUL-terminated too: Wine passes the
/// buffer on as a C string); returns its address.
fn set_name(mem: &mut Mem, slot: usize, text: &str) -> *mut sys::UNICODE_STRING {
    let (Some(chars), Some(name)) = (mem.name_chars.get_mut(slot), mem.names.get_mut(slot)) else {
        return ptr::null_mut();
    };
    chars.fill(0);
    let mut n = 0usize;
    for (dst, src) in chars.iter_mut().take(127).zip(text.bytes()) {
        *dst = u16::from(src);
        n = n.saturating_add(1);
    }
    let bytes = u16::try_from(n.saturating_mul(2)).unwrap_or(0);
    *name = sys::UNICODE_STRING {
        Length: bytes,
        MaximumLength: 256,
        Buffer: chars.as_mut_ptr(),
    };
    ptr::from_mut(name)
}

/// What `WskGetAddressInfo` returned (the list itself is freed at once).
pub(crate) struct Resolved {
    /// Entries in the list (at most 64 are walked).
    pub(crate) count: u32,
    /// `ai_family` of the first entry.
    pub(crate) first_family: i32,
    /// The first eight addresses.
    pub(crate) addrs: [Option<AddrBuf>; 8],
}

/// `WskGetAddressInfo(name)` (all namespaces, no service, no hints), then `WskFreeAddressInfo`.
pub(crate) fn get_address_info(client: &Client, name: &str) -> (Obs, Resolved) {
    let mut resolved = Resolved {
        count: 0,
        first_family: 0,
        addrs: [None; 8],
    };
    let Some((npi, provider)) = client.dispatch() else {
        return (Obs::not_made(NOINTERFACE), resolved);
    };
    let Some(f) = provider.WskGetAddressInfo else {
        return (Obs::not_made(NtStatus::NOT_IMPLEMENTED), resolved);
    };
    let Some(mut op) = Op::new(1) else {
        return (Obs::not_made(NtStatus::INSUFFICIENT_RESOURCES), resolved);
    };
    let Some(mem) = op.mem() else {
        return (Obs::not_made(NtStatus::DEVICE_BUSY), resolved);
    };
    let node = set_name(mem, 0, name);
    mem.ptrs[0] = ptr::null_mut();
    let result: *mut *mut sys::ADDRINFOEXW = (&raw mut mem.ptrs[0]).cast();
    // SAFETY: the NPI is captured; the name and the result variable live in the op.
    let obs = op.run("WskGetAddressInfo", WAIT, |irp, _| unsafe {
        f(
            npi,
            node,
            ptr::null_mut(),
            0,
            ptr::null_mut(),
            ptr::null_mut(),
            result,
            ptr::null_mut(),
            ptr::null_mut(),
            irp,
        )
    });
    if !obs.ok() {
        return (obs, resolved);
    }
    let head = op
        .mem()
        .map_or(ptr::null_mut(), |m| m.ptrs[0])
        .cast::<sys::ADDRINFOEXW>();
    let mut next = head.cast_const();
    while resolved.count < 64 {
        // SAFETY: `next` is NULL or an entry of the list the provider just returned.
        let Some(entry) = (unsafe { next.as_ref() }) else {
            break;
        };
        if resolved.count == 0 {
            resolved.first_family = entry.ai_family;
        }
        let mut addr = AddrBuf([0; 32]);
        let len = usize::try_from(entry.ai_addrlen)
            .unwrap_or(0)
            .min(AddrBuf::V6_LEN);
        if !entry.ai_addr.is_null() {
            // SAFETY: `ai_addr` points to `ai_addrlen` readable bytes; at most 28 are copied.
            unsafe {
                ptr::copy_nonoverlapping(
                    entry.ai_addr.cast::<u8>().cast_const(),
                    addr.0.as_mut_ptr(),
                    len,
                );
            }
        }
        if let Some(slot) = usize::try_from(resolved.count)
            .ok()
            .and_then(|i| resolved.addrs.get_mut(i))
        {
            *slot = Some(addr);
        }
        resolved.count = resolved.count.saturating_add(1);
        next = entry.ai_next;
    }
    if let (Some(free), false) = (provider.WskFreeAddressInfo, head.is_null()) {
        // SAFETY: the list came from this provider and is freed once, here.
        unsafe { free(npi, head) };
    }
    (obs, resolved)
}

/// `WskGetNameInfo(addr)` into a 127-character node name; returns it as ASCII (`?` for the
/// rest) in `out`, with its length.
pub(crate) fn get_name_info(client: &Client, addr: AddrBuf, out: &mut [u8]) -> (Obs, usize) {
    let Some((npi, provider)) = client.dispatch() else {
        return (Obs::not_made(NOINTERFACE), 0);
    };
    let Some(f) = provider.WskGetNameInfo else {
        return (Obs::not_made(NtStatus::NOT_IMPLEMENTED), 0);
    };
    let Some(mut op) = Op::new(1) else {
        return (Obs::not_made(NtStatus::INSUFFICIENT_RESOURCES), 0);
    };
    let Some(mem) = op.mem() else {
        return (Obs::not_made(NtStatus::DEVICE_BUSY), 0);
    };
    mem.addr[0] = addr;
    let sockaddr = mem.addr[0].as_sockaddr();
    let len = if addr.family() == sys::AF_INET6_FAMILY {
        28
    } else {
        16
    };
    let node = set_name(mem, 0, "");
    let service = set_name(mem, 1, "");
    // SAFETY: the NPI is captured; the address and both strings (256-byte buffers) live in the op.
    let obs = op.run("WskGetNameInfo", WAIT, |irp, _| unsafe {
        f(
            npi,
            sockaddr,
            len,
            node,
            service,
            0,
            ptr::null_mut(),
            ptr::null_mut(),
            irp,
        )
    });
    let mut n = 0usize;
    if obs.ok() {
        if let Some(mem) = op.mem() {
            let units = usize::from(mem.names[0].Length / 2).min(127);
            for (dst, unit) in out.iter_mut().zip(mem.name_chars[0].iter().take(units)) {
                *dst = u8::try_from(*unit)
                    .ok()
                    .filter(u8::is_ascii)
                    .unwrap_or(b'?');
                n = n.saturating_add(1);
            }
        }
    }
    (obs, n)
}

/// `WskListen` on a bound stream socket (IRP required), on a fresh op.
pub(crate) fn listen(socket: &Socket) -> Obs {
    let Some(f) = socket.stream().and_then(|d| d.WskListen) else {
        return Obs::not_made(NtStatus::NOT_IMPLEMENTED);
    };
    let Some(mut op) = Op::new(1) else {
        return Obs::not_made(NtStatus::INSUFFICIENT_RESOURCES);
    };
    let s = socket.as_ptr();
    // SAFETY: the socket is open; WskListen takes nothing but the IRP.
    op.run("WskListen", WAIT, |irp, _| unsafe { f(s, irp) })
}

/// `WskControlSocket(WskIoctl, code)` with an IRP and a `SIZE_T` output (level 0, no input,
/// `OutputSizeReturned` NULL, as `SIO_WSK_QUERY_RECEIVE_BACKLOG`'s page gives), on a fresh
/// op. Returns the observation and the value.
pub(crate) fn ioctl_size(socket: &Socket, code: u32) -> (Obs, u64) {
    let Some(f) = socket.basic().and_then(|b| b.WskControlSocket) else {
        return (Obs::not_made(NtStatus::NOT_IMPLEMENTED), 0);
    };
    let Some(mut op) = Op::new(1) else {
        return (Obs::not_made(NtStatus::INSUFFICIENT_RESOURCES), 0);
    };
    let Some(mem) = op.mem() else {
        return (Obs::not_made(NtStatus::DEVICE_BUSY), 0);
    };
    mem.size = u64::MAX;
    let output: *mut c_void = (&raw mut mem.size).cast();
    let s = socket.as_ptr();
    let size = core::mem::size_of::<u64>() as u64;
    // SAFETY: the socket is open; the output SIZE_T lives in the op until the request completes.
    let obs = op.run("WskControlSocket(WskIoctl)", WAIT, |irp, _| unsafe {
        f(
            s,
            sys::WskIoctl,
            code,
            0,
            0,
            ptr::null_mut(),
            size,
            output,
            ptr::null_mut(),
            irp,
        )
    });
    let value = op.mem().map_or(0, |m| m.size);
    (obs, value)
}

/// `WskControlSocket(WskIoctl, code)` with an IRP and a socket address as input (level 0,
/// `InputSize` the address's size, no output: `SIO_WSK_SET_SENDTO_ADDRESS` /
/// `SIO_WSK_SET_REMOTE_ADDRESS`), on a fresh op.
pub(crate) fn ioctl_set_address(socket: &Socket, code: u32, to: AddrBuf) -> Obs {
    let Some(f) = socket.basic().and_then(|b| b.WskControlSocket) else {
        return Obs::not_made(NtStatus::NOT_IMPLEMENTED);
    };
    let Some(mut op) = Op::new(1) else {
        return Obs::not_made(NtStatus::INSUFFICIENT_RESOURCES);
    };
    let Some(mem) = op.mem() else {
        return Obs::not_made(NtStatus::DEVICE_BUSY);
    };
    mem.addr[0] = to;
    let input: *mut c_void = mem.addr[0].as_sockaddr().cast();
    let len: u64 = if to.family() == sys::AF_INET6_FAMILY {
        28
    } else {
        16
    };
    let s = socket.as_ptr();
    // SAFETY: the socket is open; the address lives in the op until the request completes.
    op.run("WskControlSocket(WskIoctl)", WAIT, |irp, _| unsafe {
        f(
            s,
            sys::WskIoctl,
            code,
            0,
            len,
            input,
            0,
            ptr::null_mut(),
            ptr::null_mut(),
            irp,
        )
    })
}

/// `WskReceiveFrom` of up to `len` bytes on a datagram socket, without waiting; the sender's
/// address goes to `mem.addr[0]` (prefilled with `0xAA`).
pub(crate) fn issue_receive_from(socket: &Socket, op: &mut Op, len: usize) -> NtStatus {
    let Some(receive_from) = socket.datagram().and_then(|d| d.WskReceiveFrom) else {
        return NtStatus::NOT_IMPLEMENTED;
    };
    let buf = op.prepare_buf(len);
    let Some(mem) = op.mem() else {
        return NtStatus::DEVICE_BUSY;
    };
    mem.addr[0] = AddrBuf::poisoned();
    let from = mem.addr[0].as_sockaddr();
    let control_len: *mut u32 = &raw mut mem.ulongs[0];
    let control_flags: *mut u32 = &raw mut mem.ulongs[1];
    let s = socket.as_ptr();
    // SAFETY: the socket is open and bound; every pointer is into the op.
    op.issue("WskReceiveFrom", |irp, _| unsafe {
        receive_from(
            s,
            buf,
            0,
            from,
            control_len,
            ptr::null_mut(),
            control_flags,
            irp,
        )
    })
}

/// `WskSendTo` of `data` to `to` on a datagram socket, on `op`.
pub(crate) fn send_to(socket: &Socket, op: &mut Op, data: &[u8], to: AddrBuf) -> Obs {
    send_to_opt(socket, op, data, Some(to))
}

/// `WskSendTo` of `data` to `to`, or with a NULL remote address (`None`: the fixed
/// destination `SIO_WSK_SET_SENDTO_ADDRESS` / `SIO_WSK_SET_REMOTE_ADDRESS` set), on `op`.
pub(crate) fn send_to_opt(socket: &Socket, op: &mut Op, data: &[u8], to: Option<AddrBuf>) -> Obs {
    let Some(send_to) = socket.datagram().and_then(|d| d.WskSendTo) else {
        return Obs::not_made(NtStatus::NOT_IMPLEMENTED);
    };
    match op.data().and_then(|d| d.get_mut(..data.len())) {
        Some(dst) => dst.copy_from_slice(data),
        None => return Obs::not_made(NtStatus::BUFFER_TOO_SMALL),
    }
    let out = op.prepare_buf(data.len());
    let Some(mem) = op.mem() else {
        return Obs::not_made(NtStatus::DEVICE_BUSY);
    };
    let to = match to {
        Some(a) => {
            mem.addr[1] = a;
            mem.addr[1].as_sockaddr()
        }
        None => ptr::null_mut(),
    };
    let s = socket.as_ptr();
    // SAFETY: the socket is open and bound; the data, its WSK_BUF and the address (if any)
    // are in the op.
    op.run("WskSendTo", WAIT, |irp, _| unsafe {
        send_to(s, out, 0, to, 0, ptr::null_mut(), irp)
    })
}

/// What the connection event callbacks saw.
#[derive(Clone, Copy)]
pub(crate) struct EventData {
    /// Receive events.
    pub(crate) calls: u32,
    /// Bytes indicated in total.
    pub(crate) bytes: usize,
    /// The first 64 bytes indicated.
    pub(crate) data: [u8; 64],
    /// How many of `data` are valid.
    pub(crate) len: usize,
    /// Indication buffers whose pages could not be mapped.
    pub(crate) unmapped: u32,
    /// Disconnect events.
    pub(crate) disconnects: u32,
}

/// The socket context of a connection socket with event callbacks, in pool; it must live
/// until the socket's close completed ([`EventSink::release`]).
pub(crate) struct EventSink(PoolBox<SpinLock<EventData>>);

/// `WskReceiveEvent`. IRQL <= DISPATCH_LEVEL.
unsafe extern "C" fn on_receive(
    context: *mut c_void,
    _flags: u32,
    indication: *mut sys::WSK_DATA_INDICATION,
    size: u64,
    _accepted: *mut u64,
) -> i32 {
    // SAFETY: `context` is the sink's pool object, alive until the socket's close completed.
    let Some(state) = (unsafe { context.cast::<SpinLock<EventData>>().as_ref() }) else {
        return NtStatus::SUCCESS.0;
    };
    let mut data = state.lock();
    data.calls = data.calls.saturating_add(1);
    data.bytes = data
        .bytes
        .saturating_add(usize::try_from(size).unwrap_or(usize::MAX));
    let mut next = indication.cast_const();
    // SAFETY: the chain is valid during the callback.
    while let Some(item) = unsafe { next.as_ref() } {
        next = item.Next;
        let Some(slice) = mapped(&item.Buffer) else {
            data.unmapped = data.unmapped.saturating_add(1);
            continue;
        };
        for b in slice {
            let at = data.len;
            let Some(slot) = data.data.get_mut(at) else {
                break;
            };
            *slot = *b;
            data.len = at.saturating_add(1);
        }
    }
    NtStatus::SUCCESS.0
}

/// `WskDisconnectEvent`. IRQL <= DISPATCH_LEVEL.
unsafe extern "C" fn on_disconnect(context: *mut c_void, _flags: u32) -> i32 {
    // SAFETY: as in `on_receive`.
    if let Some(state) = unsafe { context.cast::<SpinLock<EventData>>().as_ref() } {
        let mut data = state.lock();
        data.disconnects = data.disconnects.saturating_add(1);
    }
    NtStatus::SUCCESS.0
}

static EVENT_DISPATCH: sys::WSK_CLIENT_CONNECTION_DISPATCH = sys::WSK_CLIENT_CONNECTION_DISPATCH {
    WskReceiveEvent: Some(on_receive),
    WskDisconnectEvent: Some(on_disconnect),
    WskSendBacklogEvent: None,
};

/// The bytes of an indication buffer (`MmGetSystemAddressForMdlSafe`).
fn mapped<'a>(buf: &sys::WSK_BUF) -> Option<&'a [u8]> {
    // SAFETY: the MDL belongs to the indication, valid during the callback.
    let mdl = unsafe { buf.Mdl.as_ref() }?;
    let count = usize::try_from(mdl.ByteCount).ok()?;
    let offset = usize::try_from(buf.Offset).ok()?.min(count);
    let len = usize::try_from(buf.Length)
        .ok()?
        .min(count.saturating_sub(offset));
    #[allow(clippy::cast_sign_loss)]
    let flags = u32::from(mdl.MdlFlags as u16);
    let base = if flags & (sys::MDL_MAPPED_TO_SYSTEM_VA | sys::MDL_SOURCE_IS_NONPAGED_POOL) != 0 {
        mdl.MappedSystemVa
    } else {
        let priority = sys::NormalPagePriority | sys::MdlMappingNoExecute;
        // SAFETY: the MDL describes locked pages of the indication; mapping them for the
        // callback is what MmGetSystemAddressForMdlSafe does.
        unsafe {
            sys::MmMapLockedPagesSpecifyCache(
                ptr::from_ref(mdl).cast_mut(),
                sys::KERNEL_MODE,
                sys::MmCached,
                ptr::null_mut(),
                0,
                priority,
            )
        }
    };
    if base.is_null() {
        return None;
    }
    // SAFETY: `base` maps the MDL's ByteCount bytes; offset + len <= ByteCount.
    Some(unsafe {
        core::slice::from_raw_parts(base.cast::<u8>().cast_const().wrapping_add(offset), len)
    })
}

impl EventSink {
    pub(crate) fn new() -> Option<Self> {
        let data = EventData {
            calls: 0,
            bytes: 0,
            data: [0; 64],
            len: 0,
            unmapped: 0,
            disconnects: 0,
        };
        PoolBox::try_new(SpinLock::new(data)).ok().map(Self)
    }

    /// The socket context to pass to `WskSocket`.
    pub(crate) fn context(&self) -> *mut c_void {
        self.0.as_ptr().cast()
    }

    /// The client connection dispatch to pass to `WskSocket`.
    pub(crate) fn dispatch() -> *const c_void {
        ptr::from_ref(&EVENT_DISPATCH).cast()
    }

    /// What the callbacks saw so far. IRQL <= DISPATCH_LEVEL.
    pub(crate) fn snapshot(&self) -> EventData {
        *self.0.lock()
    }

    /// Frees the context once no callback can run (`closed`: the socket's close completed);
    /// leaks it otherwise.
    pub(crate) fn release(self, closed: bool) {
        if !closed {
            LEAKED.fetch_add(1, Ordering::AcqRel);
            let _ = self.0.into_raw();
        }
    }
}

/// What `WskAcceptEvent` saw on a listening socket.
#[derive(Clone, Copy)]
pub(crate) struct AcceptData {
    /// Calls.
    pub(crate) calls: u32,
    /// The first connection's socket (accepted: the sink's owner closes it), 0 if none.
    pub(crate) socket: usize,
    /// Its remote address.
    pub(crate) remote: AddrBuf,
}

/// The socket context of a listening socket with the accept event, in pool; it must live
/// until the socket's close completed ([`AcceptSink::release`]).
pub(crate) struct AcceptSink(PoolBox<SpinLock<AcceptData>>);

/// `WskAcceptEvent`: accepts the first connection (no context, no dispatch: no events on
/// it), refuses any other. IRQL <= DISPATCH_LEVEL.
unsafe extern "C" fn on_accept(
    context: *mut c_void,
    _flags: u32,
    _local: *mut sys::SOCKADDR,
    remote: *mut sys::SOCKADDR,
    accept_socket: *mut sys::WSK_SOCKET,
    _accept_context: *mut c_void,
    _accept_dispatch: *mut *const sys::WSK_CLIENT_CONNECTION_DISPATCH,
) -> i32 {
    // SAFETY: `context` is the sink's pool object, alive until the socket's close completed.
    let Some(state) = (unsafe { context.cast::<SpinLock<AcceptData>>().as_ref() }) else {
        return NtStatus::DATA_NOT_ACCEPTED.0;
    };
    let mut data = state.lock();
    data.calls = data.calls.saturating_add(1);
    if accept_socket.is_null() || data.socket != 0 {
        return NtStatus::DATA_NOT_ACCEPTED.0;
    }
    data.socket = accept_socket as usize;
    if !remote.is_null() {
        // SAFETY: the provider passes a socket address of the listener's family, readable
        // during the callback; an IPv4 one is 16 bytes.
        let family = unsafe { remote.cast::<u16>().read_unaligned() };
        let len = if family == sys::AF_INET6_FAMILY {
            AddrBuf::V6_LEN
        } else {
            16
        };
        // SAFETY: as above, `len` bytes readable; the destination holds 32.
        unsafe { ptr::copy_nonoverlapping(remote.cast::<u8>(), data.remote.0.as_mut_ptr(), len) };
    }
    NtStatus::SUCCESS.0
}

static LISTEN_EVENTS: sys::WSK_CLIENT_LISTEN_DISPATCH = sys::WSK_CLIENT_LISTEN_DISPATCH {
    WskAcceptEvent: Some(on_accept),
    WskInspectEvent: None,
    WskAbortEvent: None,
};

impl AcceptSink {
    pub(crate) fn new() -> Option<Self> {
        let data = AcceptData {
            calls: 0,
            socket: 0,
            remote: AddrBuf::poisoned(),
        };
        PoolBox::try_new(SpinLock::new(data)).ok().map(Self)
    }

    /// The socket context to pass to `WskSocket`.
    pub(crate) fn context(&self) -> *mut c_void {
        self.0.as_ptr().cast()
    }

    /// The client listen dispatch to pass to `WskSocket`.
    pub(crate) fn dispatch() -> *const c_void {
        ptr::from_ref(&LISTEN_EVENTS).cast()
    }

    /// What the callback saw so far. IRQL <= DISPATCH_LEVEL.
    pub(crate) fn snapshot(&self) -> AcceptData {
        *self.0.lock()
    }

    /// Frees the context once no callback can run (`closed`: the socket's close completed);
    /// leaks it otherwise.
    pub(crate) fn release(self, closed: bool) {
        if !closed {
            LEAKED.fetch_add(1, Ordering::AcqRel);
            let _ = self.0.into_raw();
        }
    }
}
