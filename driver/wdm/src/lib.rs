//! The WDM shell of the wsk-rs driver (`wskrs.sys`).
//!
//! It creates `\Device\WskRs` and `\DosDevices\WskRs`, turns each IRP into a call on the
//! framework-neutral core ([`wskrs_driver::Driver`]) and completes it with the core's answer.
//! All unsafe code of the driver outside `wsk` and the shared kernel plumbing
//! ([`wskrs_kernel`]: device and link, cancel spin lock, IRP completion, panic bug check) lives
//! here: the entry point and the dispatch routines.
#![no_std]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

use core::ptr::NonNull;
use core::time::Duration;

use wsk::driver::ServiceParameters;
use wsk::io::MdlBuffer;
use wsk::{NtStatus, WskClient};
use wsk_bindings::{self as sys, irp};
use wskrs_driver::{Caller, Driver, Limits, PendingRequest, Ticket};
use wskrs_kernel::{
    complete_irp, CancelSpinLockGuard, ControlDeviceSlot, ControlDeviceSpec, DispatchTable,
};

/// The core, shared by every dispatch routine.
static DRIVER: Driver<PendedIrp> = Driver::new(register_wsk);

/// This driver's device (`\Device\WskRs`, SYSTEM and Administrators only) and its link,
/// created in `DriverEntry`, deleted in unload.
static DEVICE: ControlDeviceSlot = ControlDeviceSlot::new(ControlDeviceSpec {
    name: wsk::utf16!(wskrs_protocol::DEVICE_NAME),
    link: wsk::utf16!(wskrs_protocol::DOS_DEVICE_NAME),
    device_type: wskrs_protocol::DEVICE_TYPE,
    characteristics: 0,
    exclusive: false,
    sddl: Some(wskrs_protocol::DEVICE_SDDL),
});

/// Registers the WSK client on the core's first request. IRQL: PASSIVE_LEVEL.
fn register_wsk(capture_wait: Duration) -> wsk::Result<WskClient> {
    let device = DEVICE
        .device_object()
        .ok_or(wsk::Error::new(NtStatus::DEVICE_NOT_READY))?;
    // SAFETY: the device object lives until unload, which shuts the client down first.
    unsafe { WskClient::register(device, capture_wait) }
}

/// Driver entry point. IRQL: PASSIVE_LEVEL.
///
/// # Safety
/// Called by the I/O manager with a valid driver object.
#[no_mangle]
pub unsafe extern "system" fn DriverEntry(
    driver: *mut sys::DRIVER_OBJECT,
    registry_path: *mut sys::UNICODE_STRING,
) -> i32 {
    // The limits in the service key's Parameters (defaults where absent), before any request.
    // SAFETY: `registry_path` is the I/O manager's counted string (caller's contract).
    let limits = match unsafe { ServiceParameters::open(registry_path) } {
        Ok(parameters) => Limits::from_parameters(|name| parameters.dword(name)),
        Err(_) => Limits::DEFAULT,
    };
    // Cannot fail: no request has arrived.
    let _ = DRIVER.set_limits(limits);
    // SAFETY: `driver` is valid (I/O manager contract).
    if let Err(status) = unsafe { DEVICE.create(driver) } {
        return status.0;
    }
    DRIVER.set_device_dacl_query(|out| DEVICE.query_dacl(out));
    if let Err(status) = DRIVER.loaded() {
        // SAFETY: no request can have arrived (dispatch routines not set yet).
        drop(unsafe { DEVICE.take() });
        return status.0;
    }
    DispatchTable {
        create: dispatch_create,
        // Windows sends CLEANUP when the last handle closes, then CLOSE; Wine sends only
        // CLOSE. Both release the handle's endpoints (the second finds none left).
        cleanup: dispatch_cleanup_close,
        close: dispatch_cleanup_close,
        device_control: dispatch_device_control,
        unload: driver_unload,
    }
    // SAFETY: `driver` is valid and ours to fill during DriverEntry.
    .install(unsafe { &mut *driver });
    NtStatus::SUCCESS.0
}

/// IRP_MJ_CREATE: the new handle's identity is the user of the opener's token (this runs in
/// the opener's thread on Windows; under Wine, in winedevice.exe's, whose user is every
/// process's). A token that cannot be read leaves the handle unidentified (see
/// `Driver::identify`); a full identity table refuses the open.
unsafe extern "C" fn dispatch_create(_device: *mut sys::DEVICE_OBJECT, irp: *mut sys::IRP) -> i32 {
    // SAFETY: the I/O manager passes a live IRP we now own.
    let caller = unsafe { caller_of(irp) };
    let status = match wskrs_kernel::current_process_user() {
        Ok(user) => DRIVER
            .identify(caller, user)
            .err()
            .unwrap_or(NtStatus::SUCCESS),
        Err(_) => NtStatus::SUCCESS,
    };
    // SAFETY: as above.
    unsafe { complete_irp(irp, status, 0) }.0
}

/// The caller identity of a request: its file object's address.
///
/// # Safety
/// `irp` is a live IRP at this driver's stack location.
unsafe fn caller_of(irp: *mut sys::IRP) -> Caller {
    // SAFETY: the caller guarantees the IRP is live.
    let location = unsafe { irp::current_stack_location(irp) };
    // SAFETY: the current location of a live IRP is valid.
    Caller(unsafe { irp::file_object(location) } as usize)
}

/// IRP_MJ_CLEANUP and IRP_MJ_CLOSE: the handle is gone; its endpoints close with it.
unsafe extern "C" fn dispatch_cleanup_close(
    _device: *mut sys::DEVICE_OBJECT,
    irp: *mut sys::IRP,
) -> i32 {
    // SAFETY: the I/O manager passes a live IRP we now own.
    let caller = unsafe { caller_of(irp) };
    DRIVER.cleanup(caller);
    // SAFETY: as above.
    unsafe { complete_irp(irp, NtStatus::SUCCESS, 0) }.0
}

/// IRP_MJ_DEVICE_CONTROL: METHOD_BUFFERED requests to the core, completed here; direct-I/O
/// data requests pended and handed over ([`PendedIrp`]).
unsafe extern "C" fn dispatch_device_control(
    _device: *mut sys::DEVICE_OBJECT,
    irp: *mut sys::IRP,
) -> i32 {
    // SAFETY: the I/O manager passes a live IRP we now own.
    let location = unsafe { irp::current_stack_location(irp) };
    // SAFETY: this is a device-control request, so its location has those parameters.
    let (code, input_len, output_len) = unsafe { irp::device_io_control(location) };
    // SAFETY: as above.
    let caller = unsafe { caller_of(irp) };
    let (input_len, output_len) = (input_len as usize, output_len as usize);
    if wskrs_protocol::IoctlCode(code).is_direct() {
        // SAFETY: as above.
        return unsafe { dispatch_direct(irp, caller, code, input_len, output_len) };
    }
    let len = input_len.max(output_len);
    // SAFETY: as above.
    let system_buffer = unsafe { irp::system_buffer(irp) }.cast::<u8>();
    let completion = if len == 0 || !system_buffer.is_null() {
        let buffer: &mut [u8] = if len == 0 {
            &mut []
        } else {
            // SAFETY: for METHOD_BUFFERED the I/O manager allocated a nonpaged system buffer of
            // max(input, output) bytes, owned by this IRP until we complete it.
            unsafe { core::slice::from_raw_parts_mut(system_buffer, len) }
        };
        DRIVER.device_control(caller, code, buffer, input_len, output_len)
    } else {
        wskrs_driver::Completion {
            status: NtStatus::INVALID_PARAMETER,
            information: 0,
        }
    };
    // SAFETY: as above; the buffer slice is no longer used.
    unsafe { complete_irp(irp, completion.status, completion.information) }.0
}

/// A direct-I/O request: its input (the request struct) is in the system buffer, its data in
/// `Irp->MdlAddress` (pages locked by the I/O manager). Always returns `STATUS_PENDING`: the
/// core completes the IRP, possibly before this returns.
///
/// # Safety
/// `irp` is a live device-control IRP we own, of a METHOD_IN_DIRECT/OUT_DIRECT code.
unsafe fn dispatch_direct(
    irp: *mut sys::IRP,
    caller: Caller,
    code: u32,
    input_len: usize,
    output_len: usize,
) -> i32 {
    // SAFETY: the IRP is ours (caller's contract).
    unsafe { irp::mark_pending(irp) };
    // SAFETY: as above.
    let system_buffer = unsafe { irp::system_buffer(irp) }.cast::<u8>().cast_const();
    let input: &[u8] = if input_len == 0 || system_buffer.is_null() {
        &[]
    } else {
        // SAFETY: for direct I/O the input buffer is copied to a system buffer of
        // `input_len` bytes, owned by the IRP; the core reads it before it completes the IRP
        // (it parses the request first and keeps nothing borrowed from it).
        unsafe { core::slice::from_raw_parts(system_buffer, input_len) }
    };
    // INVARIANT: the IRP is live, ours, marked pending, and completed once by the core.
    let request = PendedIrp(NonNull::from(
        // SAFETY: `irp` is non-null (the I/O manager passed a live IRP).
        unsafe { &mut *irp },
    ));
    DRIVER.direct(caller, code, input, output_len, request);
    NtStatus::PENDING.0
}

/// A pended direct-I/O IRP, as the core sees it.
///
/// # Invariants
/// The IRP is live, owned by this driver, marked pending, and not yet completed; its MDL (if
/// any) stays valid until it is completed, which only `complete` does.
struct PendedIrp(NonNull<sys::IRP>);

// SAFETY: an IRP may be completed from any thread.
unsafe impl Send for PendedIrp {}

impl PendingRequest for PendedIrp {
    fn data(&self) -> Option<MdlBuffer> {
        // SAFETY: the IRP is live (type invariant).
        let mdl = NonNull::new(unsafe { irp::mdl_address(self.0.as_ptr()) })?;
        // SAFETY: the I/O manager built this MDL over the locked data buffer of a direct-I/O
        // request; it stays valid until the IRP is completed, which happens only after every
        // WSK request using it has completed (the core completes from the WSK completion).
        unsafe { MdlBuffer::from_raw(mdl) }.ok()
    }

    fn arm_cancel(&mut self, ticket: Ticket) -> bool {
        let irp = self.0.as_ptr();
        // SAFETY: the IRP is ours; DriverContext is ours to use while we hold it.
        let context = unsafe { irp::driver_context(irp) };
        // SAFETY: `context` points into the live IRP we own (just above).
        let context = unsafe { &mut *context };
        // The ticket's words are kept as pointer-sized values (x64: no truncation).
        #[allow(clippy::cast_possible_truncation)]
        let words = ticket.to_words().map(|word| word as usize);
        for (slot, word) in context.iter_mut().zip(words) {
            // Plain numbers kept in pointer-sized slots; never dereferenced.
            *slot = word as *mut core::ffi::c_void;
        }
        // SAFETY: as above.
        let _ = unsafe { irp::set_cancel_routine(irp, Some(cancel_pended)) };
        // SAFETY: as above.
        let cancelled = unsafe { irp::is_cancelled(irp) };
        // SAFETY: as above.
        if cancelled && unsafe { irp::set_cancel_routine(irp, None) }.is_some() {
            // Cancelled before the routine was set: nothing will call it.
            return false;
        }
        true
    }

    fn complete(self, status: NtStatus, information: usize) {
        let irp = self.0.as_ptr();
        // SAFETY: the IRP is ours until completed below.
        if unsafe { irp::set_cancel_routine(irp, None) }.is_none() {
            // IoCancelIrp took the routine (or none was set): wait until a running routine
            // has read the IRP, which it does holding the cancel spin lock.
            drop(CancelSpinLockGuard::acquire());
        }
        // SAFETY: the IRP is ours and completed exactly once, here (type invariant).
        let _ = unsafe { complete_irp(irp, status, information) };
    }
}

/// Cancel routine of pended requests (`DRIVER_CANCEL`): called by `IoCancelIrp` holding the
/// cancel spin lock; reads the ticket, releases the lock, then asks the core to cancel.
/// IRQL: DISPATCH_LEVEL.
unsafe extern "C" fn cancel_pended(_device: *mut sys::DEVICE_OBJECT, irp: *mut sys::IRP) {
    // SAFETY: IoCancelIrp passes a live IRP whose completion waits for the cancel spin lock
    // we hold, so reading its DriverContext here is safe.
    let context = unsafe { irp::driver_context(irp) };
    // SAFETY: as above: the IRP is live while we hold the cancel spin lock.
    let context = unsafe { *context };
    let ticket = Ticket::from_words(context.map(|p| p as usize as u64));
    // SAFETY: as above; CancelIrql was set by IoCancelIrp before calling us.
    let irql = unsafe { irp::cancel_irql(irp) };
    // SAFETY: IoCancelIrp acquired the cancel spin lock for us; released once, here.
    unsafe { sys::IoReleaseCancelSpinLock(irql) };
    // The IRP may be completed from here on: only the ticket is used. Words that are not a
    // ticket name no request: its deadline still ends it.
    if let Some(ticket) = ticket {
        DRIVER.cancel(ticket);
    }
}

/// Unload: close every socket, release WSK, then delete the link and the device.
unsafe extern "C" fn driver_unload(_driver: *mut sys::DRIVER_OBJECT) {
    let _ = DRIVER.shutdown();
    // SAFETY: no request can arrive after unload started, and the WSK client (the only other
    // user of the device object) was shut down just above.
    drop(unsafe { DEVICE.take() });
}

wskrs_kernel::driver_image_items!();
