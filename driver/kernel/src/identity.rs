//! Who opens a handle: the user SID of the current process's primary token, read when a
//! handle is created (IRP_MJ_CREATE of a top-level driver, and KMDF's EvtDeviceFileCreate,
//! run in the opener's thread on Windows). Shared by the WDM and KMDF shells.

use core::ptr;

use wsk::security::Sid;
use wsk_bindings as sys;
use wskrs_ntstatus::NtStatus;

/// Room for a `TOKEN_USER`: the 16-byte `SID_AND_ATTRIBUTES` and the largest SID (68 bytes).
/// `u64` words keep the pointer in it aligned.
const TOKEN_USER_WORDS: usize = 16;

/// `NtCurrentProcess()`: the pseudo-handle [`sys::NT_CURRENT_PROCESS`] (all bits set).
fn current_process() -> *mut core::ffi::c_void {
    debug_assert_eq!(sys::NT_CURRENT_PROCESS, -1);
    ptr::null_mut::<core::ffi::c_void>().wrapping_byte_sub(1)
}

/// The user of the current process's primary token ([`ZwOpenProcessTokenEx`],
/// [`ZwQueryInformationToken`] with `TokenUser`). At IRP_MJ_CREATE of a top-level driver (and
/// in KMDF's EvtDeviceFileCreate) the current process is the one opening the handle.
/// IRQL: PASSIVE_LEVEL.
///
/// # Errors
/// The failing status of either call; `STATUS_UNSUCCESSFUL` if the reply holds no valid SID.
///
/// [`ZwOpenProcessTokenEx`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/ntifs/nf-ntifs-zwopenprocesstokenex
/// [`ZwQueryInformationToken`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/ntifs/nf-ntifs-zwqueryinformationtoken
pub fn current_process_user() -> Result<Sid, NtStatus> {
    let mut token = ptr::null_mut();
    // SAFETY: the current-process pseudo-handle; `token` is a valid local; a kernel handle.
    let status = NtStatus(unsafe {
        sys::ZwOpenProcessTokenEx(
            current_process(),
            sys::TOKEN_QUERY,
            sys::OBJ_KERNEL_HANDLE,
            &raw mut token,
        )
    });
    if !status.is_success() {
        return Err(status);
    }
    let mut words = [0u64; TOKEN_USER_WORDS];
    let mut returned = 0u32;
    let size = u32::try_from(core::mem::size_of_val(&words)).unwrap_or(0);
    // SAFETY: `token` was just opened with TOKEN_QUERY; the buffer and `returned` are valid
    // locals of the sizes given.
    let status = NtStatus(unsafe {
        sys::ZwQueryInformationToken(
            token,
            sys::TOKEN_USER_CLASS,
            words.as_mut_ptr().cast(),
            size,
            &raw mut returned,
        )
    });
    // SAFETY: opened above, closed once here. Nothing to do if closing fails.
    let _ = unsafe { sys::ZwClose(token) };
    if !status.is_success() {
        return Err(status);
    }
    let bytes: [u8; TOKEN_USER_WORDS * 8] = bytemuck_words(&words);
    // TOKEN_USER.User.Sid: a pointer into the buffer itself.
    let base = words.as_ptr() as usize;
    let sid_at = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map(usize::from_ne_bytes)
        .and_then(|address| address.checked_sub(base))
        .ok_or(NtStatus::UNSUCCESSFUL)?;
    let sid = bytes.get(sid_at..).ok_or(NtStatus::UNSUCCESSFUL)?;
    Sid::decode(sid)
        .map(|(sid, _)| sid)
        .map_err(|_| NtStatus::UNSUCCESSFUL)
}

/// The bytes of `words`, in memory order.
fn bytemuck_words(words: &[u64; TOKEN_USER_WORDS]) -> [u8; TOKEN_USER_WORDS * 8] {
    let mut bytes = [0u8; TOKEN_USER_WORDS * 8];
    for (chunk, word) in bytes.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&word.to_ne_bytes());
    }
    bytes
}
