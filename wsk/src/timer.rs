//! [`PeriodicTimer`]: a kernel timer whose DPC calls a function at a fixed period, for work
//! that must happen on time without a thread (request deadlines, grace periods).

use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::time::Duration;

use wsk_bindings as sys;

use crate::{PoolBox, Result};

/// The timer, its DPC and what the DPC calls, at a stable pool address.
struct TimerInner<T> {
    timer: UnsafeCell<sys::KTIMER>,
    dpc: UnsafeCell<sys::KDPC>,
    tick: fn(&T),
    context: T,
}

/// A periodic `KTIMER` with a `KDPC` that calls `tick(&context)` every period, at
/// DISPATCH_LEVEL. Dropping it stops the timer and waits for a DPC in progress to finish.
///
/// # Invariants
/// `inner` was initialized in place (`KeInitializeTimer`, `KeInitializeDpc` with `inner` as
/// context) and the timer is set; both live until `Drop` cancelled the timer and flushed DPCs.
pub struct PeriodicTimer<T: Sync + 'static> {
    inner: PoolBox<TimerInner<T>>,
}

// SAFETY: the timer objects are used only through the Ke* functions, which are thread-safe;
// `context` is Sync and only shared.
unsafe impl<T: Sync + Send + 'static> Send for PeriodicTimer<T> {}
// SAFETY: as above; no method mutates through `&self`.
unsafe impl<T: Sync + 'static> Sync for PeriodicTimer<T> {}

impl<T: Sync + 'static> PeriodicTimer<T> {
    /// Starts calling `tick(&context)` every `period` (at least 1 ms), first after one
    /// period. `tick` runs at DISPATCH_LEVEL and must not block. IRQL <= DISPATCH_LEVEL.
    ///
    /// # Errors
    /// `STATUS_INSUFFICIENT_RESOURCES` when no pool memory is left.
    pub fn start(period: Duration, context: T, tick: fn(&T)) -> Result<Self> {
        let inner = PoolBox::try_new(TimerInner {
            timer: UnsafeCell::new(sys::KTIMER::default()),
            dpc: UnsafeCell::new(sys::KDPC::default()),
            tick,
            context,
        })?;
        let millis = i32::try_from(period.as_millis()).unwrap_or(i32::MAX).max(1);
        let context = inner.as_ptr().cast::<c_void>();
        // SAFETY: the KTIMER is pool memory at its final address, not yet in use.
        unsafe { sys::KeInitializeTimer(inner.timer.get()) };
        // SAFETY: the KDPC is pool memory at its final address; `context` is the TimerInner<T>
        // that `timer_dpc::<T>` reads, alive until Drop flushed every DPC.
        unsafe { sys::KeInitializeDpc(inner.dpc.get(), Some(timer_dpc::<T>), context) };
        let due = sys::LARGE_INTEGER {
            QuadPart: crate::time::relative(Duration::from_millis(u64::from(
                millis.unsigned_abs(),
            ))),
        };
        // SAFETY: both objects were initialized just above and live until Drop.
        let _ = unsafe { sys::KeSetTimerEx(inner.timer.get(), due, millis, inner.dpc.get()) };
        // INVARIANT: initialized and set.
        Ok(Self { inner })
    }

    /// What the DPC is called with.
    #[must_use]
    pub fn context(&self) -> &T {
        &self.inner.context
    }
}

impl<T: Sync + 'static> Drop for PeriodicTimer<T> {
    /// IRQL: PASSIVE_LEVEL (waits for DPCs).
    fn drop(&mut self) {
        // SAFETY: the timer was initialized and set (type invariant).
        let _ = unsafe { sys::KeCancelTimer(self.inner.timer.get()) };
        // A DPC dequeued before the cancel may still be running: wait for it before the
        // memory it reads is freed.
        // SAFETY: no preconditions beyond PASSIVE_LEVEL, which Drop requires.
        unsafe { sys::KeFlushQueuedDpcs() };
    }
}

/// The timer's DPC routine. IRQL: DISPATCH_LEVEL.
unsafe extern "C" fn timer_dpc<T: Sync + 'static>(
    _: *mut sys::KDPC,
    context: *mut c_void,
    _: *mut c_void,
    _: *mut c_void,
) {
    // SAFETY: `context` is the TimerInner<T> given to KeInitializeDpc; Drop cancels the timer
    // and flushes DPCs before freeing it, so it is alive while this runs.
    let inner = unsafe { &*context.cast_const().cast::<TimerInner<T>>() };
    (inner.tick)(&inner.context);
}
