//! Cached security descriptors (`WSK_CACHE_SD`, `WSK_RELEASE_SD`, `SO_WSK_SECURITY`): the
//! bookkeeping is the one the host fake uses (`wskrs_provider_model::security`); this module
//! makes the copies with Windows' security API.
//!
//! Winsock has no per-socket descriptor: the provider itself makes the descriptor decide who
//! may share the socket's local address (`sharing.rs`), and returns it on `SO_WSK_SECURITY`
//! gets as Windows does.

use windows_sys::Win32::Security::{
    GetSecurityDescriptorLength, IsValidSecurityDescriptor, MakeSelfRelativeSD,
};
use wsk_bindings::NtStatus;
use wskrs_provider_model::security::SdCache;

pub(crate) use wskrs_provider_model::security::CachedSd;

/// This provider's live cached copies.
pub(crate) static CACHE: SdCache = SdCache::new();

/// `WSK_CACHE_SD`'s copy: a self-relative, 8-aligned copy of the client's descriptor
/// (absolute or self-relative), which the caller caches in [`CACHE`].
///
/// # Safety
/// `sd` is null or points to a security descriptor.
pub(crate) unsafe fn self_relative_copy(
    sd: *mut core::ffi::c_void,
) -> Result<Box<[u64]>, NtStatus> {
    // SAFETY: validity check of a caller-provided descriptor; null is rejected by it.
    if sd.is_null() || unsafe { IsValidSecurityDescriptor(sd) } == 0 {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    // SAFETY: a valid descriptor; returns its self-relative size.
    let len = unsafe { GetSecurityDescriptorLength(sd) } as usize;
    let mut copy = vec![0u64; len.div_ceil(8).max(1)].into_boxed_slice();
    let mut size = u32::try_from(copy.len() * 8).map_err(|_| NtStatus::INVALID_PARAMETER)?;
    // SAFETY: `copy` has `size` writable bytes, 8-aligned.
    let made = unsafe { MakeSelfRelativeSD(sd, copy.as_mut_ptr().cast(), &raw mut size) } != 0;
    if !made {
        // Already self-relative: MakeSelfRelativeSD refuses those; copy the bytes.
        // SAFETY: a valid self-relative descriptor is `len` contiguous bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(sd.cast::<u8>(), copy.as_mut_ptr().cast::<u8>(), len);
        };
    }
    Ok(copy)
}
