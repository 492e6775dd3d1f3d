//! Nonpaged pool memory: owned objects ([`PoolBox`]), arrays whose length is known only at
//! run time ([`PoolSlice`]) and byte buffers with their MDL ([`PoolBuffer`]). Every allocation is fallible; nothing here panics on exhaustion.

use core::marker::PhantomData;
use core::mem::{align_of, size_of};
use core::ops::{Deref, DerefMut};
use core::ptr::{self, NonNull};

use wsk_bindings as sys;

use crate::{held, Error, Result};

/// Pool tag of every wsk-rs allocation ("WskR" as shown by pool tools).
const POOL_TAG: u32 = u32::from_le_bytes(*b"WskR");

/// Pool allocations are 16-byte aligned on x64.
const POOL_ALIGNMENT: usize = 16;

fn allocate(bytes: usize) -> Result<NonNull<u8>> {
    // SAFETY: ExAllocatePoolWithTag has no preconditions beyond IRQL <= DISPATCH_LEVEL for
    // nonpaged pool, which holds for every caller in this crate.
    let p =
        unsafe { sys::ExAllocatePoolWithTag(sys::NonPagedPoolNx, bytes.max(1) as u64, POOL_TAG) };
    let p = NonNull::new(p.cast::<u8>()).ok_or(Error::NO_MEMORY)?;
    held::pool_taken(bytes);
    Ok(p)
}

/// # Safety
/// `p` came from [`allocate`]`(bytes)` and is not used afterwards.
unsafe fn free(p: NonNull<u8>, bytes: usize) {
    // SAFETY: guaranteed by the caller.
    unsafe { sys::ExFreePoolWithTag(p.as_ptr().cast(), POOL_TAG) };
    held::pool_given_back(bytes);
}

/// A `T` in nonpaged pool with a stable address, freed on drop.
///
/// # Invariants
/// `ptr` points to an initialized `T` allocated by [`allocate`] and owned by this box.
pub struct PoolBox<T> {
    ptr: NonNull<T>,
    _owns: PhantomData<T>,
}

// SAFETY: PoolBox owns its T like Box does.
unsafe impl<T: Send> Send for PoolBox<T> {}
// SAFETY: PoolBox owns its T like Box does.
unsafe impl<T: Sync> Sync for PoolBox<T> {}

impl<T> PoolBox<T> {
    const FITS_POOL_ALIGNMENT: () = assert!(align_of::<T>() <= POOL_ALIGNMENT);

    /// Moves `value` into nonpaged pool. IRQL <= DISPATCH_LEVEL.
    ///
    /// # Errors
    /// `STATUS_INSUFFICIENT_RESOURCES` when the pool is exhausted.
    pub fn try_new(value: T) -> Result<Self> {
        Self::try_new_or_return(value).map_err(|_| Error::NO_MEMORY)
    }

    /// Like [`PoolBox::try_new`], but gives `value` back when the pool is exhausted.
    ///
    /// # Errors
    /// Returns `value` when no memory could be allocated.
    pub fn try_new_or_return(value: T) -> core::result::Result<Self, T> {
        let () = Self::FITS_POOL_ALIGNMENT;
        let Ok(ptr) = allocate(size_of::<T>()) else {
            return Err(value);
        };
        let ptr = ptr.cast::<T>();
        // SAFETY: fresh allocation of size_of::<T>() bytes, aligned to 16 >= align_of::<T>().
        unsafe { ptr.as_ptr().write(value) };
        // INVARIANT: initialized just above.
        Ok(Self {
            ptr,
            _owns: PhantomData,
        })
    }

    /// The address of the `T`, stable for the box's lifetime.
    #[must_use]
    pub fn as_ptr(&self) -> *mut T {
        self.ptr.as_ptr()
    }

    /// Gives up ownership; [`PoolBox::from_raw`] takes it back.
    #[must_use]
    pub fn into_raw(self) -> *mut T {
        let p = self.ptr.as_ptr();
        core::mem::forget(self);
        p
    }

    /// Moves the `T` out and frees the allocation.
    #[must_use]
    pub fn into_inner(this: Self) -> T {
        let ptr = this.ptr;
        core::mem::forget(this);
        // SAFETY: `ptr` holds an initialized T that we own; it is read once and the memory is
        // freed without dropping the T again.
        let value = unsafe { ptr.as_ptr().read() };
        // SAFETY: the allocation came from `allocate` and is not used afterwards.
        unsafe { free(ptr.cast(), size_of::<T>()) };
        value
    }

    /// Takes back ownership of a pointer from [`PoolBox::into_raw`].
    ///
    /// # Safety
    /// `p` came from `into_raw` and ownership was not taken back before.
    #[must_use]
    pub unsafe fn from_raw(p: *mut T) -> Self {
        // SAFETY: into_raw never yields null.
        let ptr = unsafe { NonNull::new_unchecked(p) };
        Self {
            ptr,
            _owns: PhantomData,
        }
    }
}

impl<T> Deref for PoolBox<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: by the type invariant the T is initialized and owned.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> DerefMut for PoolBox<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: by the type invariant; `&mut self` makes the access unique.
        unsafe { self.ptr.as_mut() }
    }
}

impl<T> Drop for PoolBox<T> {
    fn drop(&mut self) {
        // SAFETY: the T is initialized and owned (type invariant) and dropped only here.
        unsafe { ptr::drop_in_place(self.ptr.as_ptr()) };
        // SAFETY: the allocation came from `allocate` and is not used after this.
        unsafe { free(self.ptr.cast(), size_of::<T>()) };
    }
}

/// `len` values of `T` in one nonpaged pool allocation, freed on drop: a table sized at run
/// time (for example from the driver's registry parameters) instead of at compile time.
///
/// # Invariants
/// `ptr` points to `len` initialized `T`s in one allocation of `len * size_of::<T>()` bytes
/// from [`allocate`], owned by this slice.
pub struct PoolSlice<T> {
    ptr: NonNull<T>,
    len: usize,
    _owns: PhantomData<T>,
}

// SAFETY: PoolSlice owns its Ts like Box<[T]> does.
unsafe impl<T: Send> Send for PoolSlice<T> {}
// SAFETY: PoolSlice owns its Ts like Box<[T]> does.
unsafe impl<T: Sync> Sync for PoolSlice<T> {}

impl<T> PoolSlice<T> {
    const FITS_POOL_ALIGNMENT: () = assert!(align_of::<T>() <= POOL_ALIGNMENT);

    /// `len` values, the `i`-th made by `make(i)`. IRQL <= DISPATCH_LEVEL.
    ///
    /// # Errors
    /// `STATUS_INSUFFICIENT_RESOURCES` when the pool is exhausted or `len` values of `T` do
    /// not fit in the address space.
    pub fn try_new_with(len: usize, mut make: impl FnMut(usize) -> T) -> Result<Self> {
        let () = Self::FITS_POOL_ALIGNMENT;
        let bytes = len.checked_mul(size_of::<T>()).ok_or(Error::NO_MEMORY)?;
        let ptr = allocate(bytes)?.cast::<T>();
        for i in 0..len {
            // SAFETY: `i < len`: inside the fresh allocation of `len` Ts.
            let slot = unsafe { ptr.as_ptr().add(i) };
            // SAFETY: `slot` is in bounds, aligned (16 >= align_of::<T>()) and uninitialized.
            unsafe { slot.write(make(i)) };
        }
        // INVARIANT: every one of the `len` values was written just above. (`make` cannot
        // unwind: kernel crates abort on panic, so no partly initialized slice is dropped.)
        Ok(Self {
            ptr,
            len,
            _owns: PhantomData,
        })
    }
}

impl<T> Deref for PoolSlice<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: by the type invariant `ptr` holds `len` initialized, owned Ts.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> DerefMut for PoolSlice<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`; `&mut self` makes the access unique.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> Drop for PoolSlice<T> {
    fn drop(&mut self) {
        // SAFETY: the Ts are initialized and owned (type invariant) and dropped only here.
        unsafe {
            ptr::drop_in_place(core::ptr::slice_from_raw_parts_mut(
                self.ptr.as_ptr(),
                self.len,
            ));
        }
        // SAFETY: the allocation came from `allocate` with this size and is not used after.
        unsafe { free(self.ptr.cast(), self.len.saturating_mul(size_of::<T>())) };
    }
}

/// A byte buffer in nonpaged pool with an MDL describing exactly its bytes.
///
/// # Invariants
/// `va` points to `len` owned bytes; `mdl` describes exactly those bytes and was built for
/// nonpaged pool. `len` fits in `u32` (an MDL's limit).
pub struct PoolBuffer {
    va: NonNull<u8>,
    len: usize,
    mdl: NonNull<sys::MDL>,
}

// SAFETY: the buffer is plain owned memory.
unsafe impl Send for PoolBuffer {}
// SAFETY: shared access only reads.
unsafe impl Sync for PoolBuffer {}

impl PoolBuffer {
    /// Allocates `len` zeroed bytes (at least 1) and their MDL. IRQL <= DISPATCH_LEVEL.
    ///
    /// # Errors
    /// `STATUS_INSUFFICIENT_RESOURCES` on exhaustion; `STATUS_INVALID_PARAMETER` when `len`
    /// does not fit an MDL.
    pub fn try_new(len: usize) -> Result<Self> {
        let len = len.max(1);
        let mdl_len =
            u32::try_from(len).map_err(|_| Error::new(crate::NtStatus::INVALID_PARAMETER))?;
        let va = allocate(len)?;
        // SAFETY: `va` points to `len` freshly allocated bytes.
        unsafe { ptr::write_bytes(va.as_ptr(), 0, len) };
        // SAFETY: `va`/`mdl_len` describe our own allocation; no IRP is associated.
        let mdl = unsafe { sys::IoAllocateMdl(va.as_ptr().cast(), mdl_len, 0, 0, ptr::null_mut()) };
        let Some(mdl) = NonNull::new(mdl) else {
            // SAFETY: `va` came from `allocate` and is not used afterwards.
            unsafe { free(va, len) };
            return Err(Error::NO_MEMORY);
        };
        held::mdl(true);
        // SAFETY: the MDL describes nonpaged pool we own.
        unsafe { sys::MmBuildMdlForNonPagedPool(mdl.as_ptr()) };
        // INVARIANT: `mdl` describes exactly the `len` bytes at `va`.
        Ok(Self { va, len, mdl })
    }

    /// Number of bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never true: a buffer has at least one byte.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The bytes.
    #[must_use]
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: by the type invariant `va` points to `len` owned, initialized bytes.
        unsafe { core::slice::from_raw_parts(self.va.as_ptr(), self.len) }
    }

    /// The bytes, mutably.
    #[must_use]
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`; `&mut self` makes the access unique.
        unsafe { core::slice::from_raw_parts_mut(self.va.as_ptr(), self.len) }
    }

    /// The buffer's MDL (for linking chains: [`crate::BufferChain`]).
    pub(crate) fn mdl_ptr(&self) -> *mut sys::MDL {
        self.mdl.as_ptr()
    }

    /// The buffer's start as a `*mut T`, if the buffer is large and aligned enough for a `T`
    /// (pool memory is 16-byte aligned). Writing a `T` there is the caller's business.
    pub(crate) fn typed_ptr<T>(&self) -> Option<*mut T> {
        let p = self.va.as_ptr();
        let aligned = p.cast::<T>().is_aligned();
        #[allow(clippy::cast_ptr_alignment)] // checked just above
        (aligned && self.len >= size_of::<T>()).then_some(p.cast::<T>())
    }

    /// A `WSK_BUF` over `offset..offset + len` of this buffer, or `None` if that range is not
    /// inside the buffer: a `WSK_BUF` never describes more bytes than its MDL.
    #[must_use]
    pub(crate) fn wsk_buf(&self, offset: usize, len: usize) -> Option<sys::WSK_BUF> {
        let end = offset.checked_add(len)?;
        if end > self.len {
            return None;
        }
        Some(sys::WSK_BUF {
            Mdl: self.mdl.as_ptr(),
            Offset: u32::try_from(offset).ok()?,
            Length: len as u64,
        })
    }
}

impl Drop for PoolBuffer {
    fn drop(&mut self) {
        // SAFETY: the MDL is ours and no I/O uses it any more (owners guarantee that).
        unsafe { sys::IoFreeMdl(self.mdl.as_ptr()) };
        held::mdl(false);
        // SAFETY: `va` came from `allocate` and is not used afterwards.
        unsafe { free(self.va, self.len) };
    }
}
