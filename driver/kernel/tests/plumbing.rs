//! `wskrs-kernel` on the fake kernel: the control device and its link, the cancel spin lock
//! guard, IRP completion.

use std::ptr;

use wsk_bindings::{self as sys, irp};
use wskrs_fake_kernel::{self as fake, devices, Kernel};
use wskrs_kernel::{
    complete_irp, CancelSpinLockGuard, ControlDevice, ControlDeviceSlot, ControlDeviceSpec,
    DispatchTable,
};
use wskrs_ntstatus::NtStatus;

const NAME: &str = r"\Device\PlumbingTest";
const LINK: &str = r"\DosDevices\PlumbingTest";

fn utf16(s: &str) -> &'static [u16] {
    Box::leak(s.encode_utf16().collect::<Vec<_>>().into_boxed_slice())
}

fn spec() -> &'static ControlDeviceSpec {
    Box::leak(Box::new(ControlDeviceSpec {
        name: utf16(NAME),
        link: utf16(LINK),
        device_type: 0x8A57,
        characteristics: 0,
        exclusive: true,
        sddl: None,
    }))
}

fn driver() -> *mut sys::DRIVER_OBJECT {
    Box::leak(Box::new(sys::DRIVER_OBJECT::default()))
}

#[test]
fn control_device_creates_device_and_link_and_deletes_both_on_drop() {
    let kernel = Kernel::start();
    // SAFETY: a driver object the fake accepts.
    let mut device = unsafe { ControlDevice::create(driver(), spec()) }.expect("create");
    let created = devices::devices();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].name, NAME);
    assert_eq!(created[0].object, device.device_object().as_ptr() as usize);
    assert_eq!(created[0].device_type, 0x8A57);
    assert_eq!(created[0].characteristics, sys::FILE_DEVICE_SECURE_OPEN);
    assert!(created[0].exclusive);
    assert_eq!(devices::links(), vec![(LINK.to_owned(), NAME.to_owned())]);
    device.set_flags(0x10); // DO_DIRECT_IO
    assert_eq!(
        // SAFETY: the device lives while `device` does.
        unsafe { (*device.device_object().as_ptr()).Flags } & 0x10,
        0x10
    );
    drop(device);
    assert!(devices::devices().is_empty());
    assert!(devices::links().is_empty());
    // The fake records deleting the device before its link as a violation.
    kernel.assert_clean();
}

#[test]
fn device_creation_failure_creates_nothing() {
    let kernel = Kernel::start();
    devices::fail_next_create_device(NtStatus::INSUFFICIENT_RESOURCES.0);
    // SAFETY: as above.
    let result = unsafe { ControlDevice::create(driver(), spec()) };
    assert_eq!(result.err(), Some(NtStatus::INSUFFICIENT_RESOURCES));
    assert!(devices::devices().is_empty());
    assert!(devices::links().is_empty());
    kernel.assert_clean();
}

#[test]
fn link_creation_failure_deletes_the_device() {
    let kernel = Kernel::start();
    devices::fail_next_create_link(NtStatus::INSUFFICIENT_RESOURCES.0);
    // SAFETY: as above.
    let result = unsafe { ControlDevice::create(driver(), spec()) };
    assert_eq!(result.err(), Some(NtStatus::INSUFFICIENT_RESOURCES));
    assert!(devices::devices().is_empty());
    assert!(devices::links().is_empty());
    kernel.assert_clean();
}

#[test]
fn slot_holds_the_device_until_taken() {
    let kernel = Kernel::start();
    let slot: &'static ControlDeviceSlot = Box::leak(Box::new(ControlDeviceSlot::new(*spec())));
    assert!(slot.device_object().is_none());
    // SAFETY: as above.
    unsafe { slot.create(driver()) }.expect("create");
    let object = slot.device_object().expect("device");
    assert_eq!(devices::devices()[0].object, object.as_ptr() as usize);
    // A second create neither replaces nor leaks the first.
    // SAFETY: as above.
    let again = unsafe { slot.create(driver()) };
    assert_eq!(again.err(), Some(NtStatus::INVALID_DEVICE_STATE));
    assert_eq!(devices::devices().len(), 1);
    // SAFETY: nothing uses the device any more.
    let taken = unsafe { slot.take() }.expect("taken");
    assert!(slot.device_object().is_none());
    assert_eq!(
        devices::links().len(),
        1,
        "taking does not delete; dropping does"
    );
    drop(taken);
    assert!(devices::devices().is_empty());
    assert!(devices::links().is_empty());
    // SAFETY: as above.
    assert!(unsafe { slot.take() }.is_none());
    kernel.assert_clean();
}

#[test]
fn cancel_spin_lock_guard_raises_and_restores_irql() {
    let kernel = Kernel::start();
    assert_eq!(fake::current_irql(), fake::PASSIVE_LEVEL);
    {
        let guard = CancelSpinLockGuard::acquire();
        assert_eq!(fake::current_irql(), fake::DISPATCH_LEVEL);
        assert_eq!(guard.previous_irql(), fake::PASSIVE_LEVEL);
    }
    assert_eq!(fake::current_irql(), fake::PASSIVE_LEVEL);
    // Released: acquiring again does not deadlock.
    drop(CancelSpinLockGuard::acquire());
    assert_eq!(fake::current_irql(), fake::PASSIVE_LEVEL);
    kernel.assert_clean();
}

/// What the completion routine saw: (status, information), set before IofCompleteRequest ran it.
static SEEN: std::sync::Mutex<Option<(i32, usize)>> = std::sync::Mutex::new(None);

unsafe extern "C" fn record_completion(
    _device: *mut sys::DEVICE_OBJECT,
    irp: *mut sys::IRP,
    _context: *mut core::ffi::c_void,
) -> i32 {
    // SAFETY: the IRP is live during its completion routine.
    let status = unsafe { irp::status(irp) };
    // SAFETY: as above.
    let information = unsafe { irp::information(irp) };
    *SEEN.lock().unwrap() = Some((status, information));
    NtStatus::MORE_PROCESSING_REQUIRED.0
}

#[test]
fn complete_irp_sets_io_status_then_completes() {
    let kernel = Kernel::start();
    *SEEN.lock().unwrap() = None;
    // SAFETY: a plain allocation of a one-location IRP.
    let irp = unsafe { sys::IoAllocateIrp(1, 0) };
    assert!(!irp.is_null());
    // SAFETY: the IRP is live and ours, with one location below the current one.
    unsafe { irp::set_completion_routine(irp, record_completion, ptr::null_mut()) };
    // The IRP as a dispatch routine receives it (IoCallDriver).
    // SAFETY: the IRP is live, ours, and has that location.
    unsafe { fake::provider::pass_down(irp) };
    // SAFETY: the IRP is live, ours, without a cancel routine, completed once.
    let status = unsafe { complete_irp(irp, NtStatus::BUFFER_OVERFLOW, 42) };
    assert_eq!(status, NtStatus::BUFFER_OVERFLOW);
    assert_eq!(
        *SEEN.lock().unwrap(),
        Some((NtStatus::BUFFER_OVERFLOW.0, 42))
    );
    // SAFETY: the routine returned MORE_PROCESSING_REQUIRED: the IRP is ours to free.
    unsafe { sys::IoFreeIrp(irp) };
    kernel.assert_clean();
}

unsafe extern "C" fn routine_a(_device: *mut sys::DEVICE_OBJECT, _irp: *mut sys::IRP) -> i32 {
    1
}

unsafe extern "C" fn routine_b(_device: *mut sys::DEVICE_OBJECT, _irp: *mut sys::IRP) -> i32 {
    2
}

unsafe extern "C" fn unload(_driver: *mut sys::DRIVER_OBJECT) {}

#[test]
fn dispatch_table_fills_its_four_major_functions_and_unload_only() {
    let mut driver = sys::DRIVER_OBJECT::default();
    DispatchTable {
        create: routine_a,
        cleanup: routine_b,
        close: routine_b,
        device_control: routine_a,
        unload,
    }
    .install(&mut driver);
    let filled: Vec<(usize, i32)> = driver
        .MajorFunction
        .iter()
        .enumerate()
        .filter_map(|(major, slot)| {
            // SAFETY: the routines above ignore their arguments.
            slot.map(|f| (major, unsafe { f(ptr::null_mut(), ptr::null_mut()) }))
        })
        .collect();
    let major = |m: u32| usize::try_from(m).unwrap();
    assert_eq!(
        filled,
        vec![
            (major(sys::IRP_MJ_CREATE), 1),
            (major(sys::IRP_MJ_CLOSE), 2),
            (major(sys::IRP_MJ_DEVICE_CONTROL), 1),
            (major(sys::IRP_MJ_CLEANUP), 2),
        ]
    );
    assert!(driver.DriverUnload.is_some());
}

/// The test spec with the admin-only DACL.
fn secured() -> (&'static str, &'static ControlDeviceSpec) {
    let sddl = "D:P(A;;GA;;;SY)(A;;GA;;;BA)";
    let spec = Box::leak(Box::new(ControlDeviceSpec {
        sddl: Some(sddl),
        ..*spec()
    }));
    (sddl, spec)
}

#[test]
fn a_spec_with_sddl_gets_that_dacl_before_its_link_exists() {
    let kernel = Kernel::start();
    let (sddl, secured) = secured();
    // SAFETY: a driver object the fake accepts.
    let device = unsafe { ControlDevice::create(driver(), secured) }.expect("create");
    let mut expected = [0u8; 128];
    let expected = wsk::security::parse_sddl(sddl, &mut expected).expect("SDDL");
    let created = devices::devices();
    assert_eq!(
        created[0].dacl_descriptor.as_deref(),
        Some(expected.as_bytes()),
        "the device object carries exactly the descriptor of the SDDL"
    );
    assert_eq!(
        devices::open_handles(),
        0,
        "the handle to the device is closed"
    );
    drop(device);

    // A failure to set it leaves nothing behind, and no link was ever made.
    devices::fail_next_set_security(NtStatus::ACCESS_DENIED.0);
    // SAFETY: as above.
    let refused = unsafe { ControlDevice::create(driver(), secured) };
    assert_eq!(refused.err(), Some(NtStatus::ACCESS_DENIED));
    assert!(devices::devices().is_empty());
    assert!(devices::links().is_empty());
    // Not a DACL: refused before anything is set.
    let owner_only: &'static ControlDeviceSpec = Box::leak(Box::new(ControlDeviceSpec {
        sddl: Some("O:SY"),
        ..*spec()
    }));
    // SAFETY: as above.
    let refused = unsafe { ControlDevice::create(driver(), owner_only) };
    assert_eq!(refused.err(), Some(NtStatus::INVALID_PARAMETER));
    assert!(devices::devices().is_empty());
    kernel.assert_clean();
}

#[test]
fn the_dacl_reads_back_from_the_device_object() {
    let kernel = Kernel::start();
    let (sddl, secured) = secured();
    // SAFETY: a driver object the fake accepts.
    let device = unsafe { ControlDevice::create(driver(), secured) }.expect("create");
    let mut out = [0u8; 256];
    // SAFETY: the device was just created and lives until dropped below.
    let len = unsafe { wskrs_kernel::query_device_dacl(device.device_object(), &mut out) }
        .expect("query");
    let read = wsk::security::SecurityDescriptor::from_bytes(&out[..len]).expect("layout");
    assert_eq!(read.sddl().to_string(), sddl);
    assert_eq!(
        devices::open_handles(),
        0,
        "the handle to the device is closed"
    );
    // Too small a buffer: the kernel's status, nothing claimed written.
    let mut short = [0u8; 16];
    // SAFETY: as above.
    let refused = unsafe { wskrs_kernel::query_device_dacl(device.device_object(), &mut short) };
    assert_eq!(refused, Err(NtStatus::BUFFER_TOO_SMALL));
    assert_eq!(devices::open_handles(), 0);
    drop(device);
    kernel.assert_clean();
}

#[test]
fn the_current_process_user_is_read_from_its_token() {
    let kernel = Kernel::start();
    let user = wskrs_kernel::current_process_user().expect("the token's user");
    assert_eq!(user.to_string(), "S-1-5-21-1-2-3-1001");
    wskrs_fake_kernel::security::set_current_user(5, &[18]);
    assert_eq!(
        wskrs_kernel::current_process_user().map(|s| s.to_string()),
        Ok("S-1-5-18".to_owned())
    );
    wskrs_fake_kernel::security::fail_next_open_token(NtStatus::ACCESS_DENIED.0);
    assert_eq!(
        wskrs_kernel::current_process_user(),
        Err(NtStatus::ACCESS_DENIED)
    );
    kernel.assert_clean();
}
