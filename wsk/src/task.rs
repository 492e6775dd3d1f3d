//! The completion trampoline shared by asynchronous tasks ([`crate::stream`], [`crate::accept`]).
//!
//! A task has one request in flight at a time on one reused IRP. Its state is explicit:
//! `IDLE` -> `ISSUING` (inside the provider call) -> `PENDING` (provider owns the IRP) or
//! `DONE_INLINE` (completed during the call). A completion during the call is handled by the
//! issuing loop after the call returns, never by recursion, so a provider that completes
//! synchronously (Wine often does) cannot grow the stack.

use core::ffi::c_void;
use core::sync::atomic::{AtomicU8, Ordering};

use wsk_bindings as sys;

use crate::irp::Irp;
use crate::{NtStatus, Shared};

pub(crate) const IDLE: u8 = 0;
const ISSUING: u8 = 1;
const PENDING: u8 = 2;
const DONE_INLINE: u8 = 3;

/// A completion-driven task.
pub(crate) trait Task: Send + Sync + Sized + 'static {
    fn irp(&self) -> &Irp;
    fn state(&self) -> &AtomicU8;
    /// Calls the provider with `irp` for the next request, or returns `None` when the task
    /// is closing (nothing issued). Runs at IRQL <= DISPATCH_LEVEL.
    fn issue(&self, irp: *mut sys::IRP) -> Option<i32>;
    /// Handles a finished request; returns whether to issue another. IRQL <= DISPATCH_LEVEL.
    fn completed(this: &Shared<Self>, status: NtStatus, information: usize) -> bool;
}

/// Issues requests until one is left pending or the task stops. IRQL <= DISPATCH_LEVEL.
pub(crate) fn drive<T: Task>(this: &Shared<T>) {
    loop {
        let context = Shared::into_raw(this.clone());
        this.state().store(ISSUING, Ordering::Release);
        // SAFETY: the state was IDLE (one request at a time), and `context` holds a
        // reference that keeps the task alive until the completion routine or this loop
        // takes it back.
        unsafe { this.irp().prepare(completion::<T>, context.cast()) };
        let returned = this.issue(this.irp().as_ptr());
        let pending = this.state().compare_exchange(ISSUING, PENDING, Ordering::AcqRel, Ordering::Acquire).is_ok();
        let (status, info) = if pending {
            match returned {
                // The provider owns the IRP; the completion routine continues.
                Some(status) if status == NtStatus::PENDING.0 || NtStatus(status).is_success() => return,
                // Refused without completing the IRP (it is still ours), or not issued.
                Some(status) => (NtStatus(status), 0),
                None => {
                    // SAFETY: nothing was issued, so no completion will take the reference.
                    drop(unsafe { Shared::<T>::from_raw(context) });
                    this.state().store(IDLE, Ordering::Release);
                    return;
                }
            }
        } else {
            // Completed during the call: the routine left the reference to us.
            this.irp().result()
        };
        // SAFETY: either no completion will run, or it ran and left the reference to us.
        drop(unsafe { Shared::<T>::from_raw(context) });
        this.state().store(IDLE, Ordering::Release);
        if !T::completed(this, status, info) {
            return;
        }
    }
}

/// IRP completion routine of tasks. IRQL <= DISPATCH_LEVEL.
unsafe extern "C" fn completion<T: Task>(_: *mut sys::DEVICE_OBJECT, _: *mut sys::IRP, context: *mut c_void) -> i32 {
    let context = context.cast_const().cast::<()>();
    // SAFETY: `context` is a raw reference from `drive`, still held (not yet taken back).
    let task = unsafe { Shared::<T>::clone_raw(context) };
    if task.state().compare_exchange(ISSUING, DONE_INLINE, Ordering::AcqRel, Ordering::Acquire).is_ok() {
        return NtStatus::MORE_PROCESSING_REQUIRED.0;
    }
    // SAFETY: the request was pending, so this routine owns the raw reference.
    drop(unsafe { Shared::<T>::from_raw(context) });
    task.state().store(IDLE, Ordering::Release);
    let (status, info) = task.irp().result();
    if T::completed(&task, status, info) {
        drive(&task);
    }
    NtStatus::MORE_PROCESSING_REQUIRED.0
}
