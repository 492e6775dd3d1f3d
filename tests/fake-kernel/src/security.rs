//! Process tokens as a driver reads them (`ZwOpenProcessTokenEx`, `ZwQueryInformationToken`
//! with `TokenUser`): the current process runs as the user a test sets (default
//! `S-1-5-21-1-2-3-1001`), or opening its token fails with the status a test scripts.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;

use wsk_bindings::{self as sys, NtStatus};

use crate::{lock, violation};

/// The current process's user: (authority, sub-authorities).
static USER: Mutex<(u64, Vec<u32>)> = Mutex::new((5, Vec::new()));
/// What the next `ZwOpenProcessTokenEx` returns instead of working (0: work).
static FAIL_OPEN_TOKEN: AtomicI32 = AtomicI32::new(0);
/// What a token handle names (the fake's only token: the current process's).
const TOKEN: usize = 0x7070;

/// Back to the default user; no failure scripted.
pub(crate) fn reset() {
    *lock(&USER) = (5, vec![21, 1, 2, 3, 1001]);
    FAIL_OPEN_TOKEN.store(0, Ordering::Relaxed);
}

/// The current process runs as the SID `authority`-`sub_authorities` from now on.
pub fn set_current_user(authority: u64, sub_authorities: &[u32]) {
    *lock(&USER) = (authority, sub_authorities.to_vec());
}

/// Makes the next `ZwOpenProcessTokenEx` fail with `status`.
pub fn fail_next_open_token(status: i32) {
    FAIL_OPEN_TOKEN.store(status, Ordering::Relaxed);
}

/// `ZwOpenProcessTokenEx` of the current process.
///
/// # Safety
/// `token` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ZwOpenProcessTokenEx(
    process: *mut core::ffi::c_void,
    _desired_access: u32,
    _handle_attributes: u32,
    token: *mut *mut core::ffi::c_void,
) -> sys::NTSTATUS {
    if process as isize != sys::NT_CURRENT_PROCESS {
        violation(format!(
            "ZwOpenProcessTokenEx({process:p}): only the current process is modelled"
        ));
    }
    let failure = FAIL_OPEN_TOKEN.swap(0, Ordering::Relaxed);
    if failure != 0 {
        return failure;
    }
    let handle = crate::devices::open_handle(TOKEN);
    // SAFETY: caller's contract.
    unsafe { token.write(handle as *mut core::ffi::c_void) };
    0
}

/// `ZwQueryInformationToken(TokenUser)`: a `TOKEN_USER` whose SID follows it in the buffer.
///
/// # Safety
/// `information` is valid for `length` bytes of writes; `return_length` for a write.
#[no_mangle]
pub unsafe extern "C" fn ZwQueryInformationToken(
    token: *mut core::ffi::c_void,
    information_class: u32,
    information: *mut core::ffi::c_void,
    length: u32,
    return_length: *mut u32,
) -> sys::NTSTATUS {
    if crate::devices::handle_object(token as usize) != Some(TOKEN)
        || information_class != sys::TOKEN_USER_CLASS
    {
        violation(format!(
            "ZwQueryInformationToken({token:p}, class {information_class}): only TokenUser of an opened token"
        ));
        return NtStatus::INVALID_PARAMETER.0;
    }
    let (authority, subs) = lock(&USER).clone();
    let mut sid = vec![1u8, u8::try_from(subs.len()).unwrap_or(0)];
    sid.extend_from_slice(&authority.to_be_bytes()[2..]);
    for sub in &subs {
        sid.extend_from_slice(&sub.to_le_bytes());
    }
    let needed = 16 + sid.len();
    // SAFETY: caller's contract.
    unsafe { return_length.write(u32::try_from(needed).unwrap_or(u32::MAX)) };
    if (length as usize) < needed {
        return NtStatus::BUFFER_TOO_SMALL.0;
    }
    let base = information.cast::<u8>();
    // The buffer holds `needed` bytes (checked above): SID_AND_ATTRIBUTES { Sid pointing 16
    // bytes on, Attributes 0 }, then the SID.
    let mut reply = (base as usize + 16).to_ne_bytes().to_vec();
    reply.extend_from_slice(&0u64.to_ne_bytes());
    reply.extend_from_slice(&sid);
    // SAFETY: `needed` (= reply.len()) bytes fit the caller's buffer.
    unsafe { std::ptr::copy_nonoverlapping(reply.as_ptr(), base, reply.len()) };
    0
}

/// What `IoGetCurrentProcess` returns: one fake process object (never dereferenced).
const PROCESS: usize = 0x7e70;

/// `IoGetCurrentProcess`: the fake's one process.
#[no_mangle]
pub extern "C" fn IoGetCurrentProcess() -> sys::PEPROCESS {
    PROCESS as sys::PEPROCESS
}

/// `PsGetProcessId` of the fake's one process: this test process's id.
#[no_mangle]
pub extern "C" fn PsGetProcessId(process: sys::PEPROCESS) -> *mut core::ffi::c_void {
    if process as usize != PROCESS {
        violation(format!("PsGetProcessId({process:p}): not a process object"));
    }
    std::process::id() as usize as *mut core::ffi::c_void
}
