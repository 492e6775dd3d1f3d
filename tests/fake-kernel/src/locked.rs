//! A data buffer locked behind an MDL, as the I/O manager prepares the output buffer of a
//! direct-I/O (`METHOD_IN_DIRECT` / `METHOD_OUT_DIRECT`) request: for tests that play a
//! driver shell's role.

use std::ptr::NonNull;

use wsk_bindings as sys;

use crate::ntoskrnl;

/// Heap bytes and the MDL that describes them.
///
/// # Invariants
/// `bytes` points to `len` bytes from a boxed slice that this value owns; `mdl` is a live MDL
/// over exactly those bytes, freed before them in `Drop`.
pub struct LockedBuffer {
    bytes: NonNull<u8>,
    len: usize,
    mdl: NonNull<sys::MDL>,
}

// SAFETY: plain heap memory and an MDL over it; whoever uses the MDL (one request at a time)
// synchronizes with the owner through the request's completion.
unsafe impl Send for LockedBuffer {}
// SAFETY: as above; `&self` methods only read.
unsafe impl Sync for LockedBuffer {}

impl LockedBuffer {
    /// A locked copy of `data` (which must not be empty: an MDL describes at least a byte).
    #[must_use]
    pub fn new(data: &[u8]) -> Self {
        assert!(!data.is_empty(), "an MDL describes at least one byte");
        let len = data.len();
        let boxed: Box<[u8]> = data.into();
        let bytes = NonNull::from(Box::leak(boxed)).cast::<u8>();
        let length = u32::try_from(len).expect("an MDL describes at most 4 GiB");
        // SAFETY: `bytes` points to `len` bytes that live until Drop frees the MDL first.
        let mdl = unsafe {
            ntoskrnl::IoAllocateMdl(bytes.as_ptr().cast(), length, 0, 0, std::ptr::null_mut())
        };
        let mdl = NonNull::new(mdl).expect("IoAllocateMdl");
        // SAFETY: the MDL was just allocated over our memory.
        unsafe { ntoskrnl::MmBuildMdlForNonPagedPool(mdl.as_ptr()) };
        // INVARIANT: the MDL describes the `len` bytes this value now owns.
        Self { bytes, len, mdl }
    }

    /// The MDL over the bytes (valid while `self` lives).
    #[must_use]
    pub fn mdl(&self) -> NonNull<sys::MDL> {
        self.mdl
    }

    /// The bytes now (read once no request writes them any more).
    #[must_use]
    pub fn contents(&self) -> Vec<u8> {
        // SAFETY: `bytes` points to `len` live bytes (invariant).
        unsafe { std::slice::from_raw_parts(self.bytes.as_ptr(), self.len) }.to_vec()
    }
}

impl Drop for LockedBuffer {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` and freed once, here; no request uses it any more (the
        // owner drops the buffer after the request completed).
        unsafe { ntoskrnl::IoFreeMdl(self.mdl.as_ptr()) };
        let slice = std::ptr::slice_from_raw_parts_mut(self.bytes.as_ptr(), self.len);
        // SAFETY: from `Box::leak` in `new`, freed once.
        drop(unsafe { Box::from_raw(slice) });
    }
}
