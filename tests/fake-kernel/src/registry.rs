//! A registry of `REG_DWORD` values for `ZwOpenKey` / `ZwQueryValueKey` (a driver reading its
//! service key's parameters): tests set values with [`set_dword`]; a key exists when a value
//! was set under it or under one of its subkeys. Handles are the fake's kernel handles
//! (closed by `ZwClose`, counted with the devices' handles).

use std::sync::Mutex;

use wsk_bindings::{self as sys, NtStatus};

use crate::devices::{handle_object, open_handle};
use crate::{lock, violation};

/// (key path in lower case, value name in lower case, value).
static VALUES: Mutex<Vec<(String, String, u32)>> = Mutex::new(Vec::new());
/// Paths of the keys opened so far; a key handle's object is [`KEY_TAG`] | its index here.
static OPENED: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Marks a handle's object as a key rather than a device.
const KEY_TAG: usize = 1 << 62;

/// Forgets every value (between tests).
pub(crate) fn reset() {
    lock(&VALUES).clear();
}

/// Sets the `REG_DWORD` `name` under the key `path` (absolute, `\Registry\Machine\...`;
/// names compare without case, as the registry's do).
pub fn set_dword(path: &str, name: &str, value: u32) {
    let (path, name) = (path.to_lowercase(), name.to_lowercase());
    let mut values = lock(&VALUES);
    values.retain(|(p, n, _)| *p != path || *n != name);
    values.push((path, name, value));
}

/// The text of a counted UTF-16 string.
///
/// # Safety
/// `s` points to a valid `UNICODE_STRING`.
unsafe fn text(s: *const sys::UNICODE_STRING) -> String {
    // SAFETY: caller's contract.
    let s = unsafe { &*s };
    if s.Buffer.is_null() || s.Length == 0 {
        return String::new();
    }
    // SAFETY: a valid UNICODE_STRING has `Length` bytes at `Buffer`.
    let units = unsafe { std::slice::from_raw_parts(s.Buffer, usize::from(s.Length / 2)) };
    String::from_utf16_lossy(units)
}

/// `ZwOpenKey`: opens a key under which some value was set (`RootDirectory`: a key handle).
///
/// # Safety
/// The pointers are valid as the DDI requires.
#[no_mangle]
pub unsafe extern "C" fn ZwOpenKey(
    key: *mut sys::HANDLE,
    _access: u32,
    attributes: *const sys::OBJECT_ATTRIBUTES,
) -> sys::NTSTATUS {
    // SAFETY: caller's contract.
    let attributes = unsafe { &*attributes };
    if attributes.Attributes & sys::OBJ_KERNEL_HANDLE == 0 {
        violation("ZwOpenKey without OBJ_KERNEL_HANDLE: a driver opens kernel handles");
    }
    // SAFETY: caller's contract.
    let name = unsafe { text(attributes.ObjectName) }.to_lowercase();
    let path = if attributes.RootDirectory.is_null() {
        name
    } else {
        let Some(root) = key_path(attributes.RootDirectory) else {
            return NtStatus::INVALID_HANDLE.0;
        };
        format!("{root}\\{name}")
    };
    let exists = lock(&VALUES)
        .iter()
        .any(|(p, _, _)| *p == path || p.starts_with(&format!("{path}\\")));
    if !exists {
        return NtStatus::OBJECT_NAME_NOT_FOUND.0;
    }
    let mut opened = lock(&OPENED);
    opened.push(path);
    let handle = open_handle(KEY_TAG | (opened.len() - 1));
    // SAFETY: caller's contract.
    unsafe { key.write(handle as sys::HANDLE) };
    0
}

/// The path of the key `handle` names, if it is an open key handle.
fn key_path(handle: sys::HANDLE) -> Option<String> {
    let object = handle_object(handle as usize)?;
    if object & KEY_TAG == 0 {
        return None;
    }
    lock(&OPENED).get(object & !KEY_TAG).cloned()
}

/// `ZwQueryValueKey` with `KeyValuePartialInformation` for `REG_DWORD` values.
///
/// # Safety
/// The pointers are valid as the DDI requires; `buffer` holds `length` bytes.
#[no_mangle]
pub unsafe extern "C" fn ZwQueryValueKey(
    key: sys::HANDLE,
    name: *const sys::UNICODE_STRING,
    class: sys::KEY_VALUE_INFORMATION_CLASS,
    buffer: *mut core::ffi::c_void,
    length: u32,
    result_length: *mut u32,
) -> sys::NTSTATUS {
    if class != sys::KeyValuePartialInformation {
        violation(format!(
            "ZwQueryValueKey: class {class}, only KeyValuePartialInformation is modelled"
        ));
        return NtStatus::INVALID_PARAMETER.0;
    }
    let Some(path) = key_path(key) else {
        violation(format!("ZwQueryValueKey({key:p}): not an open key handle"));
        return NtStatus::INVALID_HANDLE.0;
    };
    // SAFETY: caller's contract.
    let name = unsafe { text(name) }.to_lowercase();
    let value = lock(&VALUES)
        .iter()
        .find(|(p, n, _)| *p == path && *n == name)
        .map(|&(_, _, v)| v);
    let Some(value) = value else {
        return NtStatus::OBJECT_NAME_NOT_FOUND.0;
    };
    // TitleIndex, Type, DataLength, Data.
    let info = [0, sys::REG_DWORD, 4, value];
    let needed = std::mem::size_of_val(&info);
    // SAFETY: caller's contract.
    unsafe { result_length.write(u32::try_from(needed).unwrap_or(u32::MAX)) };
    if (length as usize) < needed {
        return NtStatus::BUFFER_TOO_SMALL.0;
    }
    // SAFETY: `buffer` holds at least `needed` bytes (checked above).
    unsafe { std::ptr::copy_nonoverlapping(info.as_ptr(), buffer.cast::<u32>(), info.len()) };
    0
}
