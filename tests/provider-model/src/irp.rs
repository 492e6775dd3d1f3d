//! `Irp->CancelRoutine` as both providers touch it: an atomic pointer, swapped the way
//! `IoSetCancelRoutine` does (an interlocked exchange that returns the previous routine).

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use wsk_bindings as sys;

/// A cancel routine (`DRIVER_CANCEL`).
type CancelRoutine = unsafe extern "C" fn(*mut sys::DEVICE_OBJECT, *mut sys::IRP);

/// `Irp->CancelRoutine` as an atomic pointer.
///
/// # Safety
/// `irp` is live for `'a`, and everyone accesses its `CancelRoutine` atomically (as
/// `IoSetCancelRoutine` and `IoCancelIrp` do).
#[must_use]
pub unsafe fn cancel_routine_slot<'a>(irp: *mut sys::IRP) -> &'a AtomicPtr<c_void> {
    // SAFETY: the IRP is live (caller's contract); only the field's address is taken.
    let field = unsafe { ptr::addr_of_mut!((*irp).CancelRoutine) };
    // SAFETY: CancelRoutine is a pointer-sized, pointer-aligned field of a live IRP that
    // everyone accesses atomically (caller's contract).
    unsafe { AtomicPtr::from_ptr(field.cast::<*mut c_void>()) }
}

/// `IoSetCancelRoutine`: sets `routine` (or none) and returns the previous one.
///
/// # Safety
/// As [`cancel_routine_slot`]; only cancel routines (or NULL) are ever stored in the field.
pub unsafe fn exchange_cancel_routine(
    irp: *mut sys::IRP,
    routine: sys::PDRIVER_CANCEL,
) -> sys::PDRIVER_CANCEL {
    let new = routine.map_or(ptr::null_mut(), |f| f as *mut c_void);
    // SAFETY: caller's contract.
    let old = unsafe { cancel_routine_slot(irp) }.swap(new, Ordering::AcqRel);
    if old.is_null() {
        return None;
    }
    // SAFETY: only cancel routines (or NULL) are ever stored in this field (caller's
    // contract), and `old` is not NULL.
    Some(unsafe { std::mem::transmute::<*mut c_void, CancelRoutine>(old) })
}

#[cfg(test)]
mod tests {
    use super::*;

    unsafe extern "C" fn first(_: *mut sys::DEVICE_OBJECT, _: *mut sys::IRP) {}

    #[test]
    fn the_exchange_returns_the_previous_routine() {
        // SAFETY: an all-zero IRP is plain data with no cancel routine.
        let mut irp: sys::IRP = unsafe { std::mem::zeroed() };
        let irp = ptr::addr_of_mut!(irp);
        // SAFETY: `irp` is live for the test and only touched through these functions.
        unsafe {
            assert!(exchange_cancel_routine(irp, Some(first)).is_none());
        }
        // SAFETY: as above.
        let previous = unsafe { exchange_cancel_routine(irp, None) };
        let routine: CancelRoutine = first;
        assert_eq!(
            previous.map(|f| f as *const () as usize),
            Some(routine as *const () as usize)
        );
        // SAFETY: as above.
        assert!(unsafe { cancel_routine_slot(irp) }
            .load(Ordering::Acquire)
            .is_null());
    }
}
