//! Framework objects and their handles.
//!
//! A handle is the address of the object (`WDFDEVICE` is a `*mut Device`, ...). Every object
//! is `#[repr(C)]` with a [`Tag`] first, so a handle of the wrong kind (or a stale one whose
//! memory was reused) is caught before it is used: the runtime reports a WDF_VIOLATION, as
//! KMDF's verifier does for an invalid handle.

use core::ffi::c_void;

/// The kind of object at a handle's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Tag {
    Driver = u32::from_le_bytes(*b"WDrv"),
    DeviceInit = u32::from_le_bytes(*b"WIni"),
    Device = u32::from_le_bytes(*b"WDev"),
    Queue = u32::from_le_bytes(*b"WQue"),
    File = u32::from_le_bytes(*b"WFil"),
    Request = u32::from_le_bytes(*b"WReq"),
    SpinLock = u32::from_le_bytes(*b"WSpn"),
    Timer = u32::from_le_bytes(*b"WTmr"),
    /// Written over an object's tag when it is freed.
    Dead = u32::from_le_bytes(*b"dead"),
}

/// An object that a handle may point at.
///
/// # Safety
/// The type is `#[repr(C)]` with a `Tag` as its first field, set to `TAG` while the object
/// lives.
pub(crate) unsafe trait Object {
    const TAG: Tag;
    /// What the handle is called in messages (`WDFDEVICE`).
    const KIND: &'static str;
}

/// The tag at a handle's address, if the handle is not null.
///
/// # Safety
/// `handle` is null or points to readable memory of at least four bytes.
pub(crate) unsafe fn tag_of(handle: *const c_void) -> Option<u32> {
    if handle.is_null() {
        return None;
    }
    // SAFETY: readable (caller's contract); tags are u32-aligned as the first field.
    Some(unsafe { handle.cast::<u32>().read() })
}

/// The object behind `handle`, checked to be a live `T`; a wrong handle is a WDF_VIOLATION
/// naming `ddi`.
///
/// # Safety
/// `handle` is null or was handed out by this runtime (the object it named may be gone only
/// if the driver breaks the rules, which the tag catches as long as the memory was not
/// reused).
pub(crate) unsafe fn get<'a, T: Object>(handle: *const c_void, ddi: &str) -> &'a T {
    // SAFETY: the caller's contract.
    let tag = unsafe { tag_of(handle) };
    if tag != Some(T::TAG as u32) {
        crate::log::violation(
            &format!(
                "{ddi}: {handle:p} is not a live {} (tag {tag:08x?})",
                T::KIND
            ),
            handle as usize,
        );
    }
    // SAFETY: the tag says a live T is there (trait contract), allocated by this runtime and
    // freed only when the driver (or the runtime) deletes it.
    unsafe { &*handle.cast::<T>() }
}
