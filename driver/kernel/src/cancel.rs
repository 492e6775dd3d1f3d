//! The I/O manager's global cancel spin lock, held through a guard.

use wsk_bindings as sys;

/// The cancel spin lock, held: acquired by [`CancelSpinLockGuard::acquire`], released on drop
/// at the IRQL it was acquired from.
///
/// # Invariants
/// The current thread holds the cancel spin lock, acquired at `previous_irql`; it is released
/// once, in `Drop`. The guard is not `Send`: a spin lock is released on the thread that holds it.
#[must_use = "the cancel spin lock is released when the guard is dropped"]
pub struct CancelSpinLockGuard {
    previous_irql: sys::KIRQL,
    _not_send: core::marker::PhantomData<*mut ()>,
}

impl CancelSpinLockGuard {
    /// Acquires the cancel spin lock ([`IoAcquireCancelSpinLock`]), raising to DISPATCH_LEVEL.
    ///
    /// IRQL: <= DISPATCH_LEVEL; DISPATCH_LEVEL while the guard lives.
    ///
    /// [`IoAcquireCancelSpinLock`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-ioacquirecancelspinlock
    pub fn acquire() -> Self {
        let mut previous_irql: sys::KIRQL = 0;
        // SAFETY: `previous_irql` is a valid local for the DDI to write; the lock is released
        // by the guard built below (type invariant).
        unsafe { sys::IoAcquireCancelSpinLock(&raw mut previous_irql) };
        // INVARIANT: acquired just above at `previous_irql`.
        Self {
            previous_irql,
            _not_send: core::marker::PhantomData,
        }
    }

    /// The IRQL the lock was acquired from (restored on drop). IRQL: DISPATCH_LEVEL.
    #[must_use]
    pub fn previous_irql(&self) -> sys::KIRQL {
        self.previous_irql
    }
}

impl Drop for CancelSpinLockGuard {
    /// Releases the lock ([`IoReleaseCancelSpinLock`]) and returns to the saved IRQL.
    /// IRQL: DISPATCH_LEVEL.
    ///
    /// [`IoReleaseCancelSpinLock`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-ioreleasecancelspinlock
    fn drop(&mut self) {
        // SAFETY: this thread holds the lock, acquired at `previous_irql` (type invariant);
        // released once, here.
        unsafe { sys::IoReleaseCancelSpinLock(self.previous_irql) };
    }
}
