//! IRP and stack-location accessors whose C spelling goes through anonymous unions.
//!
//! The WDK writes these as macros (`IoGetCurrentIrpStackLocation`, `IoSetCompletionRoutine`,
//! ...); bindgen names the anonymous members `__bindgen_anon_N`. Keeping every such path here
//! lets the crates above compile unchanged against either header set.
//!
//! # Safety
//! Every function takes raw pointers and requires that they point to live, properly
//! initialized objects of the named type for the duration of the call.

// A field path through nested unions counts as several unsafe operations; each block here is
// one logical access to one field, under one SAFETY argument.
#![allow(clippy::multiple_unsafe_ops_per_block)]

use core::sync::atomic::{AtomicPtr, Ordering};

use crate::{
    ctypes::c_void, FILE_OBJECT, IO_STACK_LOCATION, IRP, MDL, NTSTATUS, PDRIVER_CANCEL,
    SL_INVOKE_ON_CANCEL, SL_INVOKE_ON_ERROR, SL_INVOKE_ON_SUCCESS, SL_PENDING_RETURNED,
};

/// Completion routine as called by `IofCompleteRequest`.
pub type CompletionRoutine = unsafe extern "C" fn(
    device: *mut crate::DEVICE_OBJECT,
    irp: *mut IRP,
    context: *mut c_void,
) -> NTSTATUS;

/// `IoGetCurrentIrpStackLocation`.
///
/// # Safety
/// `irp` points to a live IRP.
#[must_use]
pub unsafe fn current_stack_location(irp: *mut IRP) -> *mut IO_STACK_LOCATION {
    // SAFETY: the caller guarantees `irp` is live; reading a union member that the I/O
    // manager always keeps as the stack pointer for non-packet IRPs.
    unsafe {
        (*irp)
            .Tail
            .Overlay
            .__bindgen_anon_2
            .__bindgen_anon_1
            .CurrentStackLocation
    }
}

/// `IoGetNextIrpStackLocation`: the location a lower driver (here, the WSK provider) uses.
///
/// # Safety
/// `irp` points to a live IRP that has at least one stack location below the current one.
#[must_use]
pub unsafe fn next_stack_location(irp: *mut IRP) -> *mut IO_STACK_LOCATION {
    // SAFETY: the caller guarantees the IRP is live.
    let current = unsafe { current_stack_location(irp) };
    // The next location sits just below the current one in the IRP's stack array; computed
    // with wrapping arithmetic because, for a freshly allocated IRP, "current" is one past the end.
    current.wrapping_sub(1)
}

/// `IoSetCompletionRoutine` with invocation on success, error and cancel.
///
/// # Safety
/// `irp` is live, owned by the caller, and has a next stack location.
pub unsafe fn set_completion_routine(
    irp: *mut IRP,
    routine: CompletionRoutine,
    context: *mut c_void,
) {
    // SAFETY: the caller guarantees the IRP has a next stack location we may write.
    let next = unsafe { &mut *next_stack_location(irp) };
    next.CompletionRoutine = Some(routine);
    next.Context = context;
    // The SL_* flags fit in the u8 `Control` field (0x20 | 0x40 | 0x80).
    #[allow(clippy::cast_possible_truncation)]
    let control = (SL_INVOKE_ON_SUCCESS | SL_INVOKE_ON_ERROR | SL_INVOKE_ON_CANCEL) as u8;
    next.Control = control;
}

/// `Irp->IoStatus.Status`.
///
/// # Safety
/// `irp` points to a live IRP.
#[must_use]
pub unsafe fn status(irp: *const IRP) -> NTSTATUS {
    // SAFETY: the caller guarantees the IRP is live; Status is the member in use.
    unsafe { (*irp).IoStatus.__bindgen_anon_1.Status }
}

/// `Irp->IoStatus.Information`.
///
/// # Safety
/// `irp` points to a live IRP.
#[must_use]
pub unsafe fn information(irp: *const IRP) -> usize {
    // SAFETY: the caller guarantees the IRP is live.
    let information = unsafe { (*irp).IoStatus.Information };
    // ULONG_PTR is pointer-sized: the crate only builds for 64-bit targets.
    #[allow(clippy::cast_possible_truncation)]
    let information = information as usize;
    information
}

/// Sets `Irp->IoStatus` before completing an IRP.
///
/// # Safety
/// `irp` points to a live IRP owned by the caller.
pub unsafe fn set_io_status(irp: *mut IRP, status: NTSTATUS, information: usize) {
    // SAFETY: the caller guarantees the IRP is live and owned.
    let io = unsafe { &mut (*irp).IoStatus };
    io.__bindgen_anon_1.Status = status;
    io.Information = information as u64;
}

/// `Irp->AssociatedIrp.SystemBuffer` (METHOD_BUFFERED requests).
///
/// # Safety
/// `irp` points to a live IRP.
#[must_use]
pub unsafe fn system_buffer(irp: *const IRP) -> *mut c_void {
    // SAFETY: the caller guarantees the IRP is live; for buffered I/O this member is in use.
    unsafe { (*irp).AssociatedIrp.SystemBuffer }
}

/// The `Parameters.DeviceIoControl` fields of a stack location: (code, input length, output length).
///
/// # Safety
/// `location` points to a live stack location of an IRP_MJ_DEVICE_CONTROL request.
#[must_use]
pub unsafe fn device_io_control(location: *const IO_STACK_LOCATION) -> (u32, u32, u32) {
    // SAFETY: the caller guarantees this is a device-control location, so this member is in use.
    let p = unsafe { &(*location).Parameters.DeviceIoControl };
    (p.IoControlCode, p.InputBufferLength, p.OutputBufferLength)
}

/// The file object a request was issued on (identifies the caller's handle).
///
/// # Safety
/// `location` points to a live stack location.
#[must_use]
pub unsafe fn file_object(location: *const IO_STACK_LOCATION) -> *mut FILE_OBJECT {
    // SAFETY: the caller guarantees the location is live.
    unsafe { (*location).FileObject }
}

/// The major function code of a stack location.
///
/// # Safety
/// `location` points to a live stack location.
#[must_use]
pub unsafe fn major_function(location: *const IO_STACK_LOCATION) -> u8 {
    // SAFETY: the caller guarantees the location is live.
    unsafe { (*location).MajorFunction }
}

/// `IoMarkIrpPending`: the dispatch routine will return `STATUS_PENDING`.
///
/// # Safety
/// `irp` is a live IRP owned by the caller's dispatch routine.
pub unsafe fn mark_pending(irp: *mut IRP) {
    // SAFETY: the caller guarantees the IRP is live and ours; the current location is ours.
    let location = unsafe { &mut *current_stack_location(irp) };
    // SL_PENDING_RETURNED (0x01) fits the u8 `Control` field.
    #[allow(clippy::cast_possible_truncation)]
    let pending = SL_PENDING_RETURNED as u8;
    location.Control |= pending;
}

/// Undoes [`mark_pending`] on the current stack location, for a dispatch routine that
/// marked an IRP pending early and then completed it before returning: it returns the real
/// status, so `Irp->PendingReturned` must read FALSE in the completion routines above it.
/// Only valid while the IRP is still the caller's (not yet completed, not handed on).
///
/// # Safety
/// `irp` is a live IRP owned by the caller's dispatch routine.
pub unsafe fn unmark_pending(irp: *mut IRP) {
    // SAFETY: the caller guarantees the IRP is live and ours; the current location is ours.
    let location = unsafe { &mut *current_stack_location(irp) };
    // SL_PENDING_RETURNED (0x01) fits the u8 `Control` field.
    #[allow(clippy::cast_possible_truncation)]
    let pending = SL_PENDING_RETURNED as u8;
    location.Control &= !pending;
}

/// `Irp->PendingReturned`: what `IoCompleteRequest` copied from `SL_PENDING_RETURNED` of the
/// stack location whose completion routine is running (read it in a completion routine).
///
/// # Safety
/// `irp` points to a live IRP.
#[must_use]
pub unsafe fn pending_returned(irp: *const IRP) -> bool {
    // SAFETY: the caller guarantees the IRP is live; PendingReturned is a BOOLEAN.
    let value = unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*irp).PendingReturned)) };
    value != 0
}

/// `Irp->CancelRoutine` is set (a completion routine may check that the driver below cleared
/// it before completing).
///
/// # Safety
/// `irp` points to a live IRP.
#[must_use]
pub unsafe fn has_cancel_routine(irp: *const IRP) -> bool {
    // SAFETY: the IRP is live; the field is pointer-sized and accessed atomically by
    // IoCancelIrp / IoSetCancelRoutine, so an atomic load is the matching access.
    let slot = unsafe { &*core::ptr::addr_of!((*irp).CancelRoutine).cast::<AtomicPtr<c_void>>() };
    !slot.load(Ordering::Acquire).is_null()
}

/// `Irp->MdlAddress`: the locked pages of a direct-I/O request (null when it has no buffer).
///
/// # Safety
/// `irp` points to a live IRP.
#[must_use]
pub unsafe fn mdl_address(irp: *const IRP) -> *mut MDL {
    // SAFETY: the caller guarantees the IRP is live.
    unsafe { (*irp).MdlAddress }
}

/// `IoSetCancelRoutine`: atomically exchanges `Irp->CancelRoutine`; returns the previous one.
/// `None` back from setting `None` means `IoCancelIrp` took the routine (it runs or ran).
///
/// # Safety
/// `irp` points to a live IRP owned by the caller.
pub unsafe fn set_cancel_routine(irp: *mut IRP, routine: PDRIVER_CANCEL) -> PDRIVER_CANCEL {
    // SAFETY: the IRP is live; `CancelRoutine` is a pointer-sized, pointer-aligned field that
    // IoCancelIrp also accesses with interlocked exchanges (the WDK macro is
    // InterlockedExchangePointer on it), so viewing it as an AtomicPtr is sound.
    let slot = unsafe { &*core::ptr::addr_of!((*irp).CancelRoutine).cast::<AtomicPtr<c_void>>() };
    let new = routine.map_or(core::ptr::null_mut(), |f| f as *mut c_void);
    let old = slot.swap(new, Ordering::AcqRel);
    if old.is_null() {
        return None;
    }
    // SAFETY: only cancel routines (or null) are ever stored in this field.
    Some(unsafe {
        core::mem::transmute::<*mut c_void, unsafe extern "C" fn(*mut crate::DEVICE_OBJECT, *mut IRP)>(
            old,
        )
    })
}

/// `Irp->Cancel`: whether `IoCancelIrp` was called on the IRP.
///
/// # Safety
/// `irp` points to a live IRP.
#[must_use]
pub unsafe fn is_cancelled(irp: *const IRP) -> bool {
    // SAFETY: the caller guarantees the IRP is live; `Cancel` is a BOOLEAN written by
    // IoCancelIrp before it calls the cancel routine.
    let cancel = unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*irp).Cancel)) };
    cancel != 0
}

/// `Irp->CancelIrql`: the IRQL a cancel routine restores with `IoReleaseCancelSpinLock`.
///
/// # Safety
/// `irp` points to a live IRP whose cancel routine is running.
#[must_use]
pub unsafe fn cancel_irql(irp: *const IRP) -> u8 {
    // SAFETY: the caller guarantees the IRP is live.
    unsafe { (*irp).CancelIrql }
}

/// `Irp->Tail.Overlay.DriverContext`: four pointer-sized values the owning driver may use
/// while it holds the IRP.
///
/// # Safety
/// `irp` points to a live IRP owned by the caller.
#[must_use]
pub unsafe fn driver_context(irp: *mut IRP) -> *mut [*mut c_void; 4] {
    // SAFETY: the caller guarantees the IRP is live; DriverContext is the union member a
    // driver that owns the IRP may use.
    unsafe {
        core::ptr::addr_of_mut!(
            (*irp)
                .Tail
                .Overlay
                .__bindgen_anon_1
                .__bindgen_anon_1
                .DriverContext
        )
    }
}
