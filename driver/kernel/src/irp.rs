//! Completing an IRP a dispatch routine owns.

use wsk_bindings::{self as sys, irp};
use wskrs_ntstatus::NtStatus;

/// Sets `irp`'s `IoStatus` to (`status`, `information`), then completes it
/// ([`IofCompleteRequest`], `IO_NO_INCREMENT`); returns `status` for the dispatch routine to
/// return.
///
/// IRQL: <= DISPATCH_LEVEL.
///
/// # Safety
/// `irp` is a live IRP this driver owns (passed to its dispatch routine, or pended and not yet
/// completed), with no cancel routine set, and it is completed nowhere else: after this call
/// the IRP belongs to the I/O manager and must not be touched, nor any buffer it described.
///
/// [`IofCompleteRequest`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-iocompleterequest
pub unsafe fn complete_irp(irp: *mut sys::IRP, status: NtStatus, information: usize) -> NtStatus {
    // SAFETY: the IRP is live and ours (caller's contract).
    unsafe { irp::set_io_status(irp, status.0, information) };
    // SAFETY: as above; completed once, here (caller's contract). IO_NO_INCREMENT is 0.
    unsafe { sys::IofCompleteRequest(irp, 0) };
    status
}
