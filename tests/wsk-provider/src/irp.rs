//! The client's IRPs as the provider sees them: taken over as if `IoCallDriver` had passed
//! them down, made cancellable, and completed exactly once through `IofCompleteRequest`.
//!
//! Field paths here follow bindgen's spelling of Wine's `wdm.h` (the only header set this
//! crate is built against; it runs only inside Wine).

// A field path through bindgen's nested unions counts as several unsafe operations; each
// block here is one logical access to one field, under one SAFETY argument.
#![allow(clippy::multiple_unsafe_ops_per_block)]

use std::ptr::NonNull;
use std::sync::Arc;

use wsk_bindings::{self as sys, irp as fields, NtStatus};
pub(crate) use wskrs_provider_model::irp::Cancel;
use wskrs_provider_model::irp::{arm, arm_borrowed, disarm, forget};

/// An IRP the provider owns: handed over by a WSK call, completed exactly once by
/// [`PendingIrp::complete`] or [`PendingIrp::complete_inline`] (dropping one without
/// completing would strand the client, so `Drop` completes it with `STATUS_UNSUCCESSFUL` as a
/// last resort).
///
/// # The pending protocol
/// A driver that returns `STATUS_PENDING` must have called `IoMarkIrpPending` on its stack
/// location before the IRP can complete: `IoCompleteRequest` copies that location's
/// `SL_PENDING_RETURNED` into `Irp->PendingReturned` before it calls the completion routine the
/// client set in the same location, and a client whose routine signals its waiter only when
/// `PendingReturned` is TRUE (a common, correct WDM pattern) waits forever otherwise. Windows'
/// WSK returns `STATUS_PENDING` for requests that reached the transport even when they are
/// already complete (README, "Requests and IRPs"), so the provider does the same and marks
/// every IRP pending the moment it takes it ([`PendingIrp::take`]), before anything can
/// complete it on another thread. The requests it answers at once with their real status (a
/// request rejected up front, `WskControlSocket`, `WskControlClient`) go through
/// [`PendingIrp::complete_inline`], which clears the mark before completing, so that the
/// returned status and `PendingReturned` agree in both cases.
///
/// # Invariants
/// `0` points to a live IRP whose current stack location is the client's (the provider
/// "was called") and is marked pending, and no one else completes it.
pub(crate) struct PendingIrp(NonNull<sys::IRP>);

// SAFETY: an IRP is not tied to a thread; the provider may complete it from any thread
// (IRQL rules do not exist inside Wine's user-mode driver host).
unsafe impl Send for PendingIrp {}

impl PendingIrp {
    /// Takes over `irp` the way `IoCallDriver` hands an IRP to the next driver: one stack
    /// location down. Null gives `None`.
    ///
    /// `op` and `socket` (null for client-level calls) name the call for the verifier
    /// (`crate::verify`), which refuses (`None`) an IRP still in flight or without a stack
    /// location for the provider when `WSKRS_PROVIDER_VERIFY=1`.
    ///
    /// # Safety
    /// `irp` is null or a live IRP the caller passed to a WSK function, with a stack location
    /// reserved for the provider (`IoAllocateIrp(1, ..)` or more).
    #[cfg_attr(windows, link_section = ".text$wskhot")]
    pub(crate) unsafe fn take(
        irp: *mut sys::IRP,
        op: &str,
        socket: *const std::ffi::c_void,
    ) -> Option<Self> {
        let irp = NonNull::new(irp)?;
        // SAFETY: the caller guarantees the IRP is live.
        if !unsafe { crate::verify::take(irp.as_ptr(), op, socket) } {
            return None;
        }
        // SAFETY: the caller guarantees the IRP is live and is now ours.
        let r = unsafe { &mut *irp.as_ptr() };
        r.CurrentLocation = r.CurrentLocation.wrapping_sub(1);
        // SAFETY: the IRP is live; CurrentStackLocation is the union member in use for a
        // non-packet IRP. Moving one location down mirrors IoCallDriver; IofCompleteRequest
        // moves it back up before calling the client's completion routine.
        let location = unsafe {
            &mut r
                .Tail
                .Overlay
                .__bindgen_anon_2
                .__bindgen_anon_1
                .CurrentStackLocation
        };
        *location = location.wrapping_sub(1);
        // SAFETY: the IRP is live and ours; its current location is now the provider's, the
        // one the client's completion routine is in (IoMarkIrpPending).
        unsafe { fields::mark_pending(irp.as_ptr()) };
        // INVARIANT: taken over and marked pending.
        Some(Self(irp))
    }

    /// The raw IRP (for identity only).
    pub(crate) fn as_ptr(&self) -> *mut sys::IRP {
        self.0.as_ptr()
    }

    /// Completes an IRP whose WSK call returns (or returned) `STATUS_PENDING`: sets
    /// `IoStatus` and calls `IofCompleteRequest`; the client's completion routine runs now, on
    /// this thread, and sees `PendingReturned` TRUE. Never call this while holding a lock the
    /// client's next call would need.
    #[cfg_attr(windows, link_section = ".text$wskhot")]
    pub(crate) fn complete(self, status: NtStatus, information: usize) {
        let irp = self.0.as_ptr();
        std::mem::forget(self);
        crate::trace::irp_completed(irp, status, information);
        crate::verify::release(irp);
        // SAFETY: the IRP is live and ours (type invariant).
        unsafe { fields::set_io_status(irp, status.0, information) };
        // SAFETY: as above; completing hands it back to its owner, and `self` is gone.
        unsafe { sys::IofCompleteRequest(irp, 0) };
    }
}

impl PendingIrp {
    /// Completes the IRP inside the WSK call that took it, for a call that then returns the
    /// real status instead of `STATUS_PENDING`: clears the pending mark first (the completion
    /// routine sees `PendingReturned` FALSE). Returns `status`, which the caller must return.
    #[must_use = "the WSK call must return the status it completed the IRP with"]
    pub(crate) fn complete_inline(self, status: NtStatus, information: usize) -> NtStatus {
        // SAFETY: the IRP is live and still ours (type invariant); nothing else has seen it
        // since the mark was set, so the mark can be taken back.
        unsafe { fields::unmark_pending(self.0.as_ptr()) };
        self.complete(status, information);
        status
    }
}

impl Drop for PendingIrp {
    fn drop(&mut self) {
        // Only reached on a provider bug; completing is better than a hung client.
        let irp = PendingIrp(self.0);
        irp.complete(NtStatus::UNSUCCESSFUL, 0);
    }
}

/// `IoSetCancelRoutine` on an IRP this provider holds.
#[cfg_attr(windows, link_section = ".text$wskhot")]
fn exchange_cancel_routine(
    irp: *mut sys::IRP,
    routine: sys::PDRIVER_CANCEL,
) -> sys::PDRIVER_CANCEL {
    // SAFETY: the IRP is live (callers hold a PendingIrp); IoCancelIrp accesses its
    // CancelRoutine with interlocked operations too, and only cancel routines are stored there
    // (ours, or the previous owner's, which has none while the IRP is with us).
    unsafe { wskrs_provider_model::irp::exchange_cancel_routine(irp, routine) }
}

/// Makes `irp` cancellable through `IoCancelIrp`: the cancel routine calls `request.cancel()`.
/// Returns false when the IRP was already cancelled (the caller then completes it with
/// `STATUS_CANCELLED` instead of starting the request).
///
/// The request is kept in the IRP's `DriverContext` (no table, no lock): whoever takes the
/// cancel routine back out of the IRP (the cancel routine's caller, or
/// [`clear_cancellable`]) takes the request with it.
pub(crate) fn set_cancellable<T: Cancel + 'static>(irp: &PendingIrp, request: Arc<T>) -> bool {
    // SAFETY: we hold the IRP and no request of ours is armed in it (each arm is taken back
    // by whoever clears the routine, before the IRP completes).
    unsafe { arm(irp.as_ptr(), request) };
    set_routine(irp)
}

/// Like [`set_cancellable`] without giving the IRP a reference to `request` (no reference
/// count on a request that is never cancelled; the cancel routine adds one under the cancel
/// spin lock).
///
/// # Safety
/// The owner of `request` calls [`clear_cancellable`] on `irp` before it lets go of its last
/// reference.
#[cfg_attr(windows, link_section = ".text$wskhot")]
pub(crate) unsafe fn set_cancellable_borrowed<T: Cancel + 'static>(
    irp: &PendingIrp,
    request: &Arc<T>,
) -> bool {
    // SAFETY: as in set_cancellable; `request` outlives the routine: clear_cancellable either
    // takes the routine back or waits for the cancel spin lock, under which the cancel routine
    // claims its reference (caller's contract).
    unsafe { arm_borrowed(irp.as_ptr(), request) };
    set_routine(irp)
}

/// Like [`set_cancellable_borrowed`], for a request object that is used again once its IRP
/// has completed (a connection socket's request slot, `slot.rs`): its `cancel` runs before
/// the cancel routine releases the cancel spin lock, so [`clear_cancellable`] returns only
/// after it, and a cancel that came late for one IRP never reaches the next request in the
/// same object. (`cancel` then runs under the lock: it must not take locks of its own.)
///
/// # Safety
/// As [`set_cancellable_borrowed`].
#[cfg_attr(windows, link_section = ".text$wskhot")]
pub(crate) unsafe fn set_cancellable_reused<T: Cancel + 'static>(
    irp: &PendingIrp,
    request: &Arc<T>,
) -> bool {
    // SAFETY: as in set_cancellable_borrowed (caller's contract).
    unsafe { arm_borrowed(irp.as_ptr(), request) };
    set_routine_to(irp, cancel_routine_under_lock)
}

/// Sets the cancel routine on an IRP armed with its request; false (and the request let go)
/// when the IRP was cancelled before.
fn set_routine(irp: &PendingIrp) -> bool {
    set_routine_to(irp, cancel_routine)
}

/// [`set_routine`] with `routine` as the cancel routine.
#[cfg_attr(windows, link_section = ".text$wskhot")]
fn set_routine_to(
    irp: &PendingIrp,
    routine: unsafe extern "C" fn(*mut sys::DEVICE_OBJECT, *mut sys::IRP),
) -> bool {
    exchange_cancel_routine(irp.as_ptr(), Some(routine));
    // SAFETY: the IRP is live (we hold it).
    let cancelled = unsafe { (*irp.as_ptr()).Cancel } != 0;
    if cancelled && exchange_cancel_routine(irp.as_ptr(), None).is_some() {
        // Cancelled before the routine was set: IoCancelIrp found nothing to call.
        // SAFETY: we took the routine back, so the armed request is ours to clear.
        unsafe { forget(irp.as_ptr()) };
        return false;
    }
    true
}

/// Makes `irp` non-cancellable again before it is completed. If `IoCancelIrp` is running our
/// cancel routine right now, waits until that routine has let go of the IRP (it holds the
/// cancel spin lock while it reads the IRP).
#[cfg_attr(windows, link_section = ".text$wskhot")]
pub(crate) fn clear_cancellable(irp: &PendingIrp) {
    if exchange_cancel_routine(irp.as_ptr(), None).is_some() {
        // SAFETY: we took the routine back, so the armed request is ours to clear.
        unsafe { forget(irp.as_ptr()) };
    } else {
        let mut irql: sys::KIRQL = 0;
        // SAFETY: plain acquire/release of the global cancel spin lock.
        unsafe { sys::IoAcquireCancelSpinLock(&raw mut irql) };
        // SAFETY: acquired just above.
        unsafe { sys::IoReleaseCancelSpinLock(irql) };
    }
}

/// The cancel routine of [`set_cancellable_reused`]: cancels the request, then releases the
/// cancel spin lock `IoCancelIrp` acquired for it.
unsafe extern "C" fn cancel_routine_under_lock(
    _device: *mut sys::DEVICE_OBJECT,
    irp: *mut sys::IRP,
) {
    // SAFETY: IoCancelIrp took the routine out of the IRP, so the armed request is ours; the
    // IRP and the request stay live while we hold the cancel spin lock (clear_cancellable
    // waits for it).
    let request = unsafe { disarm(irp) };
    // SAFETY: IoCancelIrp passes a live IRP; CancelIrql was set before we were called.
    let irql = unsafe { (*irp).CancelIrql };
    if let Some(request) = request {
        request.cancel();
    }
    // SAFETY: IoCancelIrp acquired the cancel spin lock for us; we release it once.
    unsafe { sys::IoReleaseCancelSpinLock(irql) };
}

/// The cancel routine (`DRIVER_CANCEL`): called by `IoCancelIrp` with the cancel spin lock
/// held; it releases the lock (`IoReleaseCancelSpinLock(Irp->CancelIrql)`), then cancels.
unsafe extern "C" fn cancel_routine(_device: *mut sys::DEVICE_OBJECT, irp: *mut sys::IRP) {
    // SAFETY: IoCancelIrp took the routine out of the IRP, so the armed request is ours; the
    // IRP (and a borrowed request) stays live while we hold the cancel spin lock
    // (clear_cancellable waits for it).
    let request = unsafe { disarm(irp) };
    // SAFETY: IoCancelIrp passes a live IRP; CancelIrql was set before we were called.
    let irql = unsafe { (*irp).CancelIrql };
    // SAFETY: IoCancelIrp acquired the cancel spin lock for us; we release it once.
    unsafe { sys::IoReleaseCancelSpinLock(irql) };
    // The IRP may complete (and be freed) from here on: only the request is used.
    if let Some(request) = request {
        request.cancel();
    }
}
