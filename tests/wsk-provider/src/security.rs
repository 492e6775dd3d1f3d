//! Cached security descriptors (`WSK_CACHE_SD`, `WSK_RELEASE_SD`, `SO_WSK_SECURITY`).
//!
//! A cached copy is a self-relative copy made by the provider, reference counted: caching
//! creates it with one reference, applying it to a socket adds one, reading `SO_WSK_SECURITY`
//! hands out one more (the client releases it with `WSK_RELEASE_SD`), closing the socket
//! drops the socket's. The pointer the client sees is the copy's address.
//!
//! Under Wine the descriptor controls nothing (Winsock has no per-socket descriptor); it is
//! stored and returned so that clients' set/get round trips behave as on Windows.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use windows_sys::Win32::Security::{
    GetSecurityDescriptorLength, IsValidSecurityDescriptor, MakeSelfRelativeSD,
};
use wsk_bindings::NtStatus;

/// Address of a cached copy -> (the copy, 8-aligned; its reference count).
type Cache = HashMap<usize, (Box<[u64]>, usize)>;

/// Live cached copies.
static CACHE: Mutex<Option<Cache>> = Mutex::new(None);

fn with_cache<R>(f: impl FnOnce(&mut Cache) -> R) -> R {
    let mut guard = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    f(guard.get_or_insert_with(HashMap::new))
}

/// One reference to a cached security descriptor.
///
/// # Invariants
/// `0` is a key of `CACHE` whose count includes this reference.
pub(crate) struct CachedSd(usize);

impl CachedSd {
    /// `WSK_CACHE_SD`: copies the client's descriptor (absolute or self-relative).
    ///
    /// # Safety
    /// `sd` is null or points to a security descriptor.
    pub(crate) unsafe fn cache(sd: *mut core::ffi::c_void) -> Result<Self, NtStatus> {
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
        let key = copy.as_ptr() as usize;
        with_cache(|c| c.insert(key, (copy, 1)));
        Ok(Self(key))
    }

    /// A new reference to a cached copy the client passes back (`SO_WSK_SECURITY`,
    /// `WskSocket`'s descriptor); `None` if `sd` is not one of ours.
    pub(crate) fn find(sd: *const core::ffi::c_void) -> Option<Self> {
        let key = sd as usize;
        with_cache(|c| {
            let entry = c.get_mut(&key)?;
            entry.1 += 1;
            Some(Self(key))
        })
    }

    /// Another reference to the same copy.
    pub(crate) fn add_ref(&self) -> Self {
        with_cache(|c| {
            if let Some(entry) = c.get_mut(&self.0) {
                entry.1 += 1;
            }
        });
        Self(self.0)
    }

    /// The address the client sees.
    pub(crate) fn as_ptr(&self) -> *mut core::ffi::c_void {
        self.0 as *mut core::ffi::c_void
    }

    /// Gives the client this reference (it releases it with `WSK_RELEASE_SD`).
    pub(crate) fn into_client(self) -> *mut core::ffi::c_void {
        let p = self.as_ptr();
        std::mem::forget(self);
        p
    }

    /// Drops this reference; the copy is freed with the last one.
    pub(crate) fn release(self) {
        let key = self.0;
        std::mem::forget(self);
        release_key(key);
    }
}

impl Drop for CachedSd {
    fn drop(&mut self) {
        release_key(self.0);
    }
}

fn release_key(key: usize) -> bool {
    with_cache(|c| match c.get_mut(&key) {
        Some(entry) if entry.1 > 1 => {
            entry.1 -= 1;
            true
        }
        Some(_) => {
            c.remove(&key);
            true
        }
        None => false,
    })
}

/// `WSK_RELEASE_SD` of a pointer the client holds.
///
/// # Errors
/// `STATUS_INVALID_PARAMETER` if it is not a cached copy of this provider.
pub(crate) fn release_client(sd: *const core::ffi::c_void) -> Result<(), NtStatus> {
    if release_key(sd as usize) {
        Ok(())
    } else {
        Err(NtStatus::INVALID_PARAMETER)
    }
}
