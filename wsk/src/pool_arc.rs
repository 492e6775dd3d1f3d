//! [`PoolArc`]: a reference-counted object in nonpaged pool, usable from completion routines.
//! The raw-reference functions that carry one through an IRP's completion context are
//! crate-private: tasks and event sockets use them, drivers share objects through clones.

use core::ops::Deref;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::{PoolBox, Result};

struct Inner<T> {
    count: AtomicUsize,
    value: T,
}

/// Like `Arc<T>`, in nonpaged pool, with fallible allocation: an object that completion
/// routines, handlers and their owner share.
///
/// ```
/// # use wskrs_fake_kernel as _; // host tests: the fake kernel provides the pool
/// let counter = wsk::PoolArc::try_new(core::sync::atomic::AtomicU32::new(0))?;
/// let handler_copy = counter.clone();
/// handler_copy.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
/// assert_eq!(counter.load(core::sync::atomic::Ordering::Relaxed), 1);
/// assert_eq!(wsk::PoolArc::count(&counter), 2);
/// # Ok::<(), wsk::Error>(())
/// ```
///
/// # Invariants
/// `ptr` came from `PoolBox::<Inner<T>>::into_raw`; `count` is the number of live `PoolArc`
/// handles plus raw references from `PoolArc::into_raw`; the allocation is freed when it
/// reaches zero.
pub struct PoolArc<T> {
    ptr: *mut Inner<T>,
}

// SAFETY: like Arc: handles may move across threads when T is Send + Sync.
unsafe impl<T: Send + Sync> Send for PoolArc<T> {}
// SAFETY: like Arc.
unsafe impl<T: Send + Sync> Sync for PoolArc<T> {}

impl<T> PoolArc<T> {
    /// Allocates a shared `value`. IRQL <= DISPATCH_LEVEL.
    ///
    /// # Errors
    /// `STATUS_INSUFFICIENT_RESOURCES` on exhaustion.
    pub fn try_new(value: T) -> Result<Self> {
        let boxed = PoolBox::try_new(Inner {
            count: AtomicUsize::new(1),
            value,
        })?;
        // INVARIANT: one handle, the one returned.
        Ok(Self {
            ptr: boxed.into_raw(),
        })
    }

    fn inner(&self) -> &Inner<T> {
        // SAFETY: by the type invariant the allocation lives while this handle exists.
        unsafe { &*self.ptr }
    }

    /// The value, mutably, if this is the only reference.
    #[must_use]
    pub fn get_mut(this: &mut Self) -> Option<&mut T> {
        if this.inner().count.load(Ordering::Acquire) != 1 {
            return None;
        }
        // SAFETY: the only reference, borrowed mutably: no other access can exist.
        Some(unsafe { &mut (*this.ptr).value })
    }

    /// Number of handles and raw references.
    #[must_use]
    pub fn count(this: &Self) -> usize {
        this.inner().count.load(Ordering::Acquire)
    }

    /// Turns the handle into a raw reference (for an IRP's completion context).
    #[must_use]
    pub(crate) fn into_raw(this: Self) -> *const () {
        let p = this.ptr;
        core::mem::forget(this);
        p.cast_const().cast()
    }

    /// Takes back a raw reference from [`PoolArc::into_raw`].
    ///
    /// # Safety
    /// `p` came from `into_raw` on a `PoolArc<T>` and is taken back once.
    #[must_use]
    pub(crate) unsafe fn from_raw(p: *const ()) -> Self {
        Self {
            ptr: p.cast_mut().cast(),
        }
    }

    /// A new handle to the object a raw reference points to, leaving the raw reference intact.
    ///
    /// # Safety
    /// `p` came from `into_raw` on a `PoolArc<T>` and has not been taken back yet.
    #[must_use]
    pub(crate) unsafe fn clone_raw(p: *const ()) -> Self {
        // SAFETY: the raw reference keeps the object alive (guaranteed by the caller).
        let borrowed = core::mem::ManuallyDrop::new(unsafe { Self::from_raw(p) });
        PoolArc::clone(&borrowed)
    }

    /// Borrows the object a raw reference points to, without taking the reference.
    ///
    /// # Safety
    /// `p` came from `into_raw` on a `PoolArc<T>` and is not taken back while the borrow lives.
    #[must_use]
    pub(crate) unsafe fn borrow_raw<'a>(p: *const ()) -> &'a T {
        // SAFETY: the raw reference keeps the allocation alive (caller's contract).
        unsafe { &(*p.cast::<Inner<T>>()).value }
    }

    /// Whether two handles point to the same object.
    #[must_use]
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        core::ptr::eq(a.ptr, b.ptr)
    }
}

impl<T> Clone for PoolArc<T> {
    fn clone(&self) -> Self {
        // Relaxed is enough to take a new reference from an existing one (as in Arc).
        self.inner().count.fetch_add(1, Ordering::Relaxed);
        Self { ptr: self.ptr }
    }
}

impl<T> Deref for PoolArc<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner().value
    }
}

impl<T> Drop for PoolArc<T> {
    fn drop(&mut self) {
        if self.inner().count.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        core::sync::atomic::fence(Ordering::Acquire);
        // SAFETY: the count reached zero, so this was the last reference to the allocation
        // made by PoolBox::try_new in `PoolArc::try_new`.
        drop(unsafe { PoolBox::from_raw(self.ptr) });
    }
}
