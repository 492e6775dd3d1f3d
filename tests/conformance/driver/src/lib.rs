//! The WSK provider conformance driver (`wskrs-conformance.sys`).
//!
//! It creates `\Device\WskRsConformance` (link `\DosDevices\WskRsConformance`) and answers one
//! METHOD_BUFFERED IOCTL, `IOCTL_RUN` (`wskrs-conformance-abi`): given the Linux peers'
//! addresses, it registers as a WSK client, runs every check in [`checks`] against whatever
//! provider the system gives it, and returns one fixed record per check: what the provider
//! did (PASS / FAIL / UNSUPPORTED, the NTSTATUS it reported, a short detail).
//!
//! The checks are about WSK behaviour, not about this driver: they use raw WSK calls
//! ([`raw`]) so that they see what the provider returned, whether it completed the IRP and
//! in which order. Every wait is bounded; a request the provider never completes is
//! abandoned (its memory leaked, never freed under the provider) and reported.
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

mod checks;
mod lib_checks;
mod raw;
mod report;
mod secure_checks;
mod wdm;

use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;

use wsk::NtStatus;
use wsk_bindings::{self as sys, irp};
use wskrs_conformance_abi as abi;
use wskrs_kernel::{complete_irp, ControlDeviceSlot, ControlDeviceSpec, DispatchTable};

/// This driver's device (`\Device\WskRsConformance`) and its link, created in `DriverEntry`,
/// deleted in unload.
static DEVICE: ControlDeviceSlot = ControlDeviceSlot::new(ControlDeviceSpec {
    name: wsk::utf16!(abi::DEVICE_NAME),
    link: wsk::utf16!(abi::DOS_DEVICE_NAME),
    device_type: abi::DEVICE_TYPE,
    characteristics: 0,
    exclusive: false,
    // A test driver: the default security of IoCreateDevice.
    sddl: None,
});
/// One RUN at a time.
static RUNNING: AtomicBool = AtomicBool::new(false);

/// Driver entry point. IRQL: PASSIVE_LEVEL.
///
/// # Safety
/// Called by the I/O manager with a valid driver object.
#[no_mangle]
pub unsafe extern "system" fn DriverEntry(
    driver: *mut sys::DRIVER_OBJECT,
    _registry_path: *mut sys::UNICODE_STRING,
) -> i32 {
    // SAFETY: `driver` is valid (I/O manager contract).
    if let Err(status) = unsafe { DEVICE.create(driver) } {
        return status.0;
    }
    DispatchTable {
        create: dispatch_nothing,
        cleanup: dispatch_nothing,
        close: dispatch_nothing,
        device_control: dispatch_device_control,
        unload: driver_unload,
    }
    // SAFETY: `driver` is valid and ours to fill during DriverEntry.
    .install(unsafe { &mut *driver });
    NtStatus::SUCCESS.0
}

/// CREATE, CLEANUP, CLOSE: no per-handle state.
unsafe extern "C" fn dispatch_nothing(_device: *mut sys::DEVICE_OBJECT, irp: *mut sys::IRP) -> i32 {
    // SAFETY: the I/O manager passes a live IRP we now own.
    unsafe { complete_irp(irp, NtStatus::SUCCESS, 0) }.0
}

/// IRP_MJ_DEVICE_CONTROL: `IOCTL_RUN` only.
unsafe extern "C" fn dispatch_device_control(
    _device: *mut sys::DEVICE_OBJECT,
    irp: *mut sys::IRP,
) -> i32 {
    // SAFETY: the I/O manager passes a live IRP we now own.
    let location = unsafe { irp::current_stack_location(irp) };
    // SAFETY: this is a device-control request, so its location has those parameters.
    let (code, input_len, output_len) = unsafe { irp::device_io_control(location) };
    let (input_len, output_len) = (input_len as usize, output_len as usize);
    // SAFETY: as above.
    let system_buffer = unsafe { irp::system_buffer(irp) }.cast::<u8>();
    if code != abi::IOCTL_RUN {
        // SAFETY: as above.
        return unsafe { complete_irp(irp, NtStatus::INVALID_DEVICE_REQUEST, 0) }.0;
    }
    if input_len != abi::REQUEST_LEN || system_buffer.is_null() {
        // SAFETY: as above.
        return unsafe { complete_irp(irp, NtStatus::INFO_LENGTH_MISMATCH, 0) }.0;
    }
    if output_len < abi::REPLY_LEN {
        // SAFETY: as above.
        return unsafe { complete_irp(irp, NtStatus::BUFFER_TOO_SMALL, 0) }.0;
    }
    // SAFETY: for METHOD_BUFFERED the I/O manager allocated a nonpaged system buffer of
    // max(input, output) bytes, owned by this IRP until we complete it.
    let buffer =
        unsafe { core::slice::from_raw_parts_mut(system_buffer, input_len.max(output_len)) };
    // Read the input once, before the reply overwrites the buffer.
    let request = buffer
        .get(..abi::REQUEST_LEN)
        .and_then(abi::RunRequest::decode);
    let Some(request) = request else {
        // SAFETY: as above; the slice is no longer used.
        return unsafe { complete_irp(irp, NtStatus::REVISION_MISMATCH, 0) }.0;
    };
    if RUNNING.swap(true, Ordering::AcqRel) {
        // SAFETY: as above.
        return unsafe { complete_irp(irp, NtStatus::DEVICE_BUSY, 0) }.0;
    }
    buffer.fill(0);
    let reply = buffer.get_mut(..abi::REPLY_LEN).unwrap_or_default();
    let device = DEVICE
        .device_object()
        .map_or(ptr::null_mut(), NonNull::as_ptr);
    let used = checks::run(&request, reply, device);
    RUNNING.store(false, Ordering::Release);
    // SAFETY: as above; the slice is no longer used.
    unsafe { complete_irp(irp, NtStatus::SUCCESS, used) }.0
}

/// Unload: wait (bounded) for requests the provider still holds, then delete the device.
/// Requests that never complete stay leaked (see `raw`).
unsafe extern "C" fn driver_unload(_driver: *mut sys::DRIVER_OBJECT) {
    let _ = raw::drain_outstanding(Duration::from_secs(3));
    // SAFETY: no request can arrive after unload started; a RUN (the only user of the device
    // object) cannot be in progress while the driver unloads.
    drop(unsafe { DEVICE.take() });
}

wskrs_kernel::driver_image_items!();
