//! Kernel synchronization: a spin lock that owns its data, and events embedded in pool objects.

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::time::Duration;

use wsk_bindings as sys;

/// A kernel spin lock (`KeAcquireSpinLockRaiseToDpc`) owning a `T`.
///
/// Holding the guard raises IRQL to DISPATCH_LEVEL: code under the lock must not block,
/// allocate paged memory or call anything that requires PASSIVE_LEVEL.
pub struct SpinLock<T> {
    lock: UnsafeCell<sys::KSPIN_LOCK>,
    data: UnsafeCell<T>,
}

// SAFETY: access to `data` is serialized by the lock.
unsafe impl<T: Send> Send for SpinLock<T> {}
// SAFETY: access to `data` is serialized by the lock.
unsafe impl<T: Send> Sync for SpinLock<T> {}

impl<T> SpinLock<T> {
    /// A new, unlocked lock. (`KeInitializeSpinLock` stores zero on x64.)
    pub const fn new(data: T) -> Self {
        Self {
            lock: UnsafeCell::new(0),
            data: UnsafeCell::new(data),
        }
    }

    /// The data, through exclusive access (no locking needed). IRQL: any.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// Acquires the lock, raising IRQL to DISPATCH_LEVEL. IRQL <= DISPATCH_LEVEL.
    pub fn lock(&self) -> SpinLockGuard<'_, T> {
        // SAFETY: `lock` is a valid KSPIN_LOCK for the lifetime of `self`, which the guard
        // borrows, so it cannot move or be freed while held.
        let old_irql = unsafe { sys::KeAcquireSpinLockRaiseToDpc(self.lock.get()) };
        SpinLockGuard {
            owner: self,
            old_irql,
        }
    }
}

/// Access to a [`SpinLock`]'s data; releases the lock (and restores IRQL) on drop.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct SpinLockGuard<'a, T> {
    owner: &'a SpinLock<T>,
    old_irql: sys::KIRQL,
}

impl<T> Deref for SpinLockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the lock is held, so no other reference to the data exists.
        unsafe { &*self.owner.data.get() }
    }
}

impl<T> DerefMut for SpinLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the lock is held and the guard is borrowed mutably.
        unsafe { &mut *self.owner.data.get() }
    }
}

impl<T> Drop for SpinLockGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: this guard acquired the lock at `old_irql`.
        unsafe { sys::KeReleaseSpinLock(self.owner.lock.get(), self.old_irql) };
    }
}

/// A synchronization event embedded in a pool object (never moved once initialized).
pub(crate) struct Event(UnsafeCell<sys::KEVENT>);

// SAFETY: KEVENTs are designed for concurrent use through the Ke* functions.
unsafe impl Send for Event {}
// SAFETY: as above.
unsafe impl Sync for Event {}

impl Event {
    /// An event that must be initialized in place with [`Event::init`] before use.
    pub(crate) fn uninit() -> Self {
        Self(UnsafeCell::new(sys::KEVENT::default()))
    }

    /// `KeInitializeEvent` (synchronization, not signaled). Call once the event is at its
    /// final address. IRQL <= DISPATCH_LEVEL.
    pub(crate) fn init(&self) {
        // SAFETY: the KEVENT is valid memory at its final address (caller's contract).
        unsafe { sys::KeInitializeEvent(self.0.get(), sys::SynchronizationEvent, 0) };
    }

    /// `KeSetEvent`. IRQL <= DISPATCH_LEVEL.
    pub(crate) fn set(&self) {
        // SAFETY: the event was initialized in place.
        let _ = unsafe { sys::KeSetEvent(self.0.get(), 0, 0) };
    }

    /// `KeClearEvent`. IRQL <= DISPATCH_LEVEL.
    pub(crate) fn clear(&self) {
        // SAFETY: the event was initialized in place.
        unsafe { sys::KeClearEvent(self.0.get()) };
    }

    /// Waits up to `timeout`; true if signaled. IRQL: PASSIVE_LEVEL (zero timeout: <= DISPATCH).
    pub(crate) fn wait(&self, timeout: Duration) -> bool {
        let mut t = sys::LARGE_INTEGER {
            QuadPart: crate::time::relative(timeout),
        };
        // SAFETY: the event was initialized in place; `t` outlives the call.
        let status = unsafe {
            sys::KeWaitForSingleObject(
                self.0.get().cast(),
                sys::Executive,
                sys::KERNEL_MODE,
                0,
                &raw mut t,
            )
        };
        status == 0
    }
}

/// A synchronization event in a pool allocation of its own, so that it never moves once
/// initialized: one thread waits for it (with a timeout), another sets it.
pub struct PoolEvent(crate::PoolBox<Event>);

impl PoolEvent {
    /// A new event, not signaled. IRQL <= DISPATCH_LEVEL.
    ///
    /// # Errors
    /// `STATUS_INSUFFICIENT_RESOURCES` on pool exhaustion.
    pub fn try_new() -> crate::Result<Self> {
        let event = crate::PoolBox::try_new(Event::uninit())?;
        // The pool object is the event's final address.
        event.init();
        Ok(Self(event))
    }

    /// Signals the event: one waiter wakes (and the event resets). IRQL <= DISPATCH_LEVEL.
    pub fn set(&self) {
        self.0.set();
    }

    /// Waits up to `timeout`; true if the event was signaled. IRQL: PASSIVE_LEVEL.
    #[must_use]
    pub fn wait(&self, timeout: Duration) -> bool {
        self.0.wait(timeout)
    }
}
