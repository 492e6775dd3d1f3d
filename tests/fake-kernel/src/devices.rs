//! Device objects and symbolic links: `IoCreateDevice`, `IoDeleteDevice`,
//! `IoCreateSymbolicLink`, `IoDeleteSymbolicLink`, with injectable failures and a log of what
//! exists, so that tests can check that a driver creates and deletes both (link first); and a
//! device's DACL as a driver sets it (`ObOpenObjectByPointer`, `ZwSetSecurityObject`,
//! `ZwClose`).

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;

use wsk_bindings::{self as sys, NtStatus};

use crate::{lock, violation};

/// `STATUS_OBJECT_NAME_COLLISION` (ntstatus.h).
const OBJECT_NAME_COLLISION: i32 = NtStatus::OBJECT_NAME_COLLISION.0;

/// A device the fake created and has not deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// The device object's address.
    pub object: usize,
    /// Its name.
    pub name: String,
    /// `DeviceType`.
    pub device_type: u32,
    /// `DeviceCharacteristics`.
    pub characteristics: u32,
    /// `Exclusive`.
    pub exclusive: bool,
    /// The self-relative security descriptor last set with `DACL_SECURITY_INFORMATION`
    /// (`None`: the default security `IoCreateDevice` gives).
    pub dacl_descriptor: Option<Vec<u8>>,
}

static DEVICES: Mutex<Vec<Device>> = Mutex::new(Vec::new());
/// Symbolic links: (link name, target name).
static LINKS: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
/// What the next `IoCreateDevice` / `IoCreateSymbolicLink` returns instead of working (0: work).
static FAIL_CREATE_DEVICE: AtomicI32 = AtomicI32::new(0);
static FAIL_CREATE_LINK: AtomicI32 = AtomicI32::new(0);
/// Kernel handles `ObOpenObjectByPointer` gave out and `ZwClose` did not close yet: (handle,
/// device object address).
static HANDLES: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());
/// The next handle value.
static NEXT_HANDLE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0x1000);
/// What the next `ZwSetSecurityObject` returns instead of working (0: work).
static FAIL_SET_SECURITY: AtomicI32 = AtomicI32::new(0);

/// Forgets every failure script (devices and links stay: a test that leaves one fails in its
/// own assertions).
pub(crate) fn reset() {
    FAIL_CREATE_DEVICE.store(0, Ordering::Relaxed);
    FAIL_CREATE_LINK.store(0, Ordering::Relaxed);
    FAIL_SET_SECURITY.store(0, Ordering::Relaxed);
}

/// Makes the next `ZwSetSecurityObject` fail with `status` (setting nothing).
pub fn fail_next_set_security(status: i32) {
    FAIL_SET_SECURITY.store(status, Ordering::Relaxed);
}

/// Kernel handles (to devices and tokens) opened and not closed yet.
#[must_use]
pub fn open_handles() -> usize {
    lock(&HANDLES).len()
}

/// Makes the next `IoCreateDevice` fail with `status` (creating nothing).
pub fn fail_next_create_device(status: i32) {
    FAIL_CREATE_DEVICE.store(status, Ordering::Relaxed);
}

/// Makes the next `IoCreateSymbolicLink` fail with `status` (creating nothing).
pub fn fail_next_create_link(status: i32) {
    FAIL_CREATE_LINK.store(status, Ordering::Relaxed);
}

/// The devices that exist now.
#[must_use]
pub fn devices() -> Vec<Device> {
    lock(&DEVICES).clone()
}

/// The symbolic links that exist now: (link name, target name).
#[must_use]
pub fn links() -> Vec<(String, String)> {
    lock(&LINKS).clone()
}

/// The text of a counted string.
///
/// # Safety
/// `s` is a valid `UNICODE_STRING`.
unsafe fn text(s: *const sys::UNICODE_STRING) -> String {
    // SAFETY: caller's contract.
    let s = unsafe { &*s };
    if s.Buffer.is_null() {
        return String::new();
    }
    // SAFETY: a valid UNICODE_STRING's buffer holds Length bytes.
    let units = unsafe { std::slice::from_raw_parts(s.Buffer, usize::from(s.Length) / 2) };
    String::from_utf16_lossy(units)
}

/// `IoCreateDevice` (no device extension supported; a non-zero size is a violation).
///
/// # Safety
/// `name` is a valid `UNICODE_STRING`; `device` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn IoCreateDevice(
    _driver: *mut sys::DRIVER_OBJECT,
    extension_size: sys::ULONG,
    name: *mut sys::UNICODE_STRING,
    device_type: sys::ULONG,
    characteristics: sys::ULONG,
    exclusive: sys::BOOLEAN,
    device: *mut *mut sys::DEVICE_OBJECT,
) -> sys::NTSTATUS {
    if extension_size != 0 {
        violation(format!(
            "IoCreateDevice: extension of {extension_size} bytes"
        ));
    }
    let failure = FAIL_CREATE_DEVICE.swap(0, Ordering::Relaxed);
    if failure != 0 {
        return failure;
    }
    // SAFETY: caller's contract.
    let name = unsafe { text(name) };
    let mut devices = lock(&DEVICES);
    if devices.iter().any(|d| d.name == name) {
        return OBJECT_NAME_COLLISION;
    }
    let mut object = Box::new(sys::DEVICE_OBJECT::default());
    object.DeviceType = device_type;
    object.Characteristics = characteristics;
    let object = Box::into_raw(object);
    devices.push(Device {
        object: object as usize,
        name,
        device_type,
        characteristics,
        exclusive: exclusive != 0,
        dacl_descriptor: None,
    });
    // SAFETY: caller's contract.
    unsafe { device.write(object) };
    0
}

/// `IoDeleteDevice`: deleting a device a link still names is a violation (drivers delete
/// the link first), as is deleting an unknown one.
///
/// # Safety
/// `device` came from `IoCreateDevice` and is not used after this.
#[no_mangle]
pub unsafe extern "C" fn IoDeleteDevice(device: *mut sys::DEVICE_OBJECT) {
    let mut devices = lock(&DEVICES);
    let Some(index) = devices.iter().position(|d| d.object == device as usize) else {
        violation(format!("IoDeleteDevice({device:p}): not a device"));
        return;
    };
    let removed = devices.remove(index);
    if lock(&LINKS)
        .iter()
        .any(|(_, target)| *target == removed.name)
    {
        violation(format!(
            "IoDeleteDevice({}) while a symbolic link names it",
            removed.name
        ));
    }
    // SAFETY: allocated by Box in IoCreateDevice, removed from the live list once.
    drop(unsafe { Box::from_raw(device) });
}

/// `IoCreateSymbolicLink`: the target must be a device that exists.
///
/// # Safety
/// Both are valid `UNICODE_STRING`s.
#[no_mangle]
pub unsafe extern "C" fn IoCreateSymbolicLink(
    link: *mut sys::UNICODE_STRING,
    target: *mut sys::UNICODE_STRING,
) -> sys::NTSTATUS {
    let failure = FAIL_CREATE_LINK.swap(0, Ordering::Relaxed);
    if failure != 0 {
        return failure;
    }
    // SAFETY: caller's contract.
    let link = unsafe { text(link) };
    // SAFETY: caller's contract.
    let target = unsafe { text(target) };
    if !lock(&DEVICES).iter().any(|d| d.name == target) {
        return NtStatus::OBJECT_NAME_NOT_FOUND.0;
    }
    let mut links = lock(&LINKS);
    if links.iter().any(|(name, _)| *name == link) {
        return OBJECT_NAME_COLLISION;
    }
    links.push((link, target));
    0
}

/// `IoDeleteSymbolicLink`.
///
/// # Safety
/// `link` is a valid `UNICODE_STRING`.
#[no_mangle]
pub unsafe extern "C" fn IoDeleteSymbolicLink(link: *mut sys::UNICODE_STRING) -> sys::NTSTATUS {
    // SAFETY: caller's contract.
    let link = unsafe { text(link) };
    let mut links = lock(&LINKS);
    match links.iter().position(|(name, _)| *name == link) {
        Some(index) => {
            links.remove(index);
            0
        }
        None => NtStatus::OBJECT_NAME_NOT_FOUND.0,
    }
}

/// `ObOpenObjectByPointer` for a device the fake created (kernel handles only).
///
/// # Safety
/// `handle` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ObOpenObjectByPointer(
    object: *mut core::ffi::c_void,
    handle_attributes: u32,
    _access_state: *mut core::ffi::c_void,
    _desired_access: u32,
    _object_type: *mut core::ffi::c_void,
    access_mode: i8,
    handle: *mut *mut core::ffi::c_void,
) -> sys::NTSTATUS {
    if handle_attributes & sys::OBJ_KERNEL_HANDLE == 0 || access_mode != 0 {
        violation(format!(
            "ObOpenObjectByPointer: attributes {handle_attributes:#x}, mode {access_mode}: a driver opens kernel handles in kernel mode"
        ));
    }
    if !lock(&DEVICES).iter().any(|d| d.object == object as usize) {
        return NtStatus::INVALID_HANDLE.0;
    }
    let value = open_handle(object as usize);
    // SAFETY: caller's contract.
    unsafe { handle.write(value as *mut core::ffi::c_void) };
    0
}

/// A new kernel handle to `object` (closed by `ZwClose`).
pub(crate) fn open_handle(object: usize) -> usize {
    let value = NEXT_HANDLE.fetch_add(4, Ordering::Relaxed);
    lock(&HANDLES).push((value, object));
    value
}

/// Kernel handles open now (devices' and registry keys'): a driver closes each it opens.
#[must_use]
pub fn open_kernel_handles() -> usize {
    lock(&HANDLES).len()
}

/// The object a kernel handle names, if it is open.
pub(crate) fn handle_object(handle: usize) -> Option<usize> {
    lock(&HANDLES)
        .iter()
        .find(|(h, _)| *h == handle)
        .map(|&(_, object)| object)
}

/// The length of a self-relative security descriptor: its header and its furthest part.
///
/// # Safety
/// `sd` points to a valid self-relative security descriptor.
unsafe fn descriptor_len(sd: *const u8) -> usize {
    const HEADER: usize = 20;
    let word = |bytes: &[u8], at: usize| {
        bytes
            .get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map_or(0, |b| u32::from_le_bytes(b) as usize)
    };
    // SAFETY: a self-relative descriptor starts with its 20-byte header (caller's contract).
    let header = unsafe { std::slice::from_raw_parts(sd, HEADER) };
    let mut end = HEADER;
    // Owner and group SIDs (8 bytes + 4 per sub-authority), then SACL and DACL (AclSize).
    for (field, is_acl) in [(4, false), (8, false), (12, true), (16, true)] {
        let at = word(header, field);
        if at == 0 {
            continue;
        }
        // SAFETY: each part lies where the header says and starts with 4 bytes that give its
        // size (caller's contract).
        let head = unsafe { std::slice::from_raw_parts(sd.wrapping_add(at), 4) };
        let len = if is_acl {
            usize::from(u16::from_le_bytes([head[2], head[3]]))
        } else {
            8 + 4 * usize::from(head[1])
        };
        end = end.max(at + len);
    }
    end
}

/// `ZwSetSecurityObject` with `DACL_SECURITY_INFORMATION` on a handle from
/// `ObOpenObjectByPointer`: keeps a copy of the descriptor on the device.
///
/// # Safety
/// `descriptor` is a valid self-relative security descriptor.
#[no_mangle]
pub unsafe extern "C" fn ZwSetSecurityObject(
    handle: *mut core::ffi::c_void,
    security_information: u32,
    descriptor: *mut core::ffi::c_void,
) -> sys::NTSTATUS {
    let failure = FAIL_SET_SECURITY.swap(0, Ordering::Relaxed);
    if failure != 0 {
        return failure;
    }
    if security_information != sys::DACL_SECURITY_INFORMATION {
        violation(format!(
            "ZwSetSecurityObject: information {security_information:#x}, only the DACL is modelled"
        ));
    }
    let Some(&(_, object)) = lock(&HANDLES).iter().find(|(h, _)| *h == handle as usize) else {
        violation(format!(
            "ZwSetSecurityObject({handle:p}): not an open handle"
        ));
        return NtStatus::INVALID_HANDLE.0;
    };
    let bytes = descriptor.cast::<u8>().cast_const();
    // SAFETY: the caller passes a valid self-relative descriptor.
    let len = unsafe { descriptor_len(bytes) };
    // SAFETY: the caller's descriptor spans `len` bytes (its own offsets say so).
    let copy = unsafe { std::slice::from_raw_parts(bytes, len) }.to_vec();
    if let Some(device) = lock(&DEVICES).iter_mut().find(|d| d.object == object) {
        device.dacl_descriptor = Some(copy);
    }
    0
}

/// `ZwQuerySecurityObject` with `DACL_SECURITY_INFORMATION` on a handle from
/// `ObOpenObjectByPointer`: the descriptor last set on the device, or (never set) an empty
/// self-relative one, as `IoCreateDevice`'s default security is not modelled.
///
/// # Safety
/// `descriptor` is writable for `length` bytes; `length_needed` is writable.
#[no_mangle]
pub unsafe extern "C" fn ZwQuerySecurityObject(
    handle: *mut core::ffi::c_void,
    security_information: u32,
    descriptor: *mut core::ffi::c_void,
    length: u32,
    length_needed: *mut u32,
) -> sys::NTSTATUS {
    if security_information != sys::DACL_SECURITY_INFORMATION {
        violation(format!(
            "ZwQuerySecurityObject: information {security_information:#x}, only the DACL is modelled"
        ));
    }
    let Some(object) = handle_object(handle as usize) else {
        violation(format!(
            "ZwQuerySecurityObject({handle:p}): not an open handle"
        ));
        return NtStatus::INVALID_HANDLE.0;
    };
    // Revision 1, control SE_SELF_RELATIVE, no owner, group or ACLs.
    let empty = [
        1u8, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let bytes = lock(&DEVICES)
        .iter()
        .find(|d| d.object == object)
        .and_then(|d| d.dacl_descriptor.clone())
        .unwrap_or_else(|| empty.to_vec());
    let needed = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    // SAFETY: the caller passes a writable `length_needed`.
    unsafe { *length_needed = needed };
    if needed > length {
        return NtStatus::BUFFER_TOO_SMALL.0;
    }
    // SAFETY: `descriptor` is writable for `length` >= `bytes.len()` bytes (caller's contract).
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), descriptor.cast::<u8>(), bytes.len()) };
    0
}

/// `ZwClose` of a handle from `ObOpenObjectByPointer`.
#[no_mangle]
pub extern "C" fn ZwClose(handle: *mut core::ffi::c_void) -> sys::NTSTATUS {
    let mut handles = lock(&HANDLES);
    let Some(index) = handles.iter().position(|(h, _)| *h == handle as usize) else {
        violation(format!("ZwClose({handle:p}): not an open handle"));
        return NtStatus::INVALID_HANDLE.0;
    };
    handles.remove(index);
    0
}
