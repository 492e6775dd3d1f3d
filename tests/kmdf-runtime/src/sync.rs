//! `WDFSPINLOCK` over a KSPIN_LOCK and `WDFTIMER` over a KTIMER + KDPC (what the `wdk`
//! crate's `wdf` module wraps). Both belong to the driver and are freed at unload.

use core::ffi::c_void;
use core::mem::size_of;
use core::ptr;
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::PoisonError;

use wsk_bindings::NtStatus;

use crate::log::{log, violation};
use crate::object::{self, Object, Tag};
use crate::sys::*;

/// `WDFSPINLOCK`.
///
/// # Invariants
/// `tag` is [`Tag::SpinLock`] while the driver is bound; `irql` is written only by the holder.
#[repr(C)]
pub(crate) struct SpinLock {
    tag: Tag,
    lock: UnsafeCell<KSPIN_LOCK>,
    irql: UnsafeCell<KIRQL>,
}

// SAFETY: repr(C) with the tag first.
unsafe impl Object for SpinLock {
    const TAG: Tag = Tag::SpinLock;
    const KIND: &'static str = "WDFSPINLOCK";
}

/// The bound driver (spin locks and timers are kept with it).
fn driver() -> &'static crate::driver::Driver {
    let d = crate::driver::DRIVER.load(Ordering::Acquire);
    if d.is_null() {
        violation("a spin lock or timer before WdfDriverCreate", 0);
    }
    // SAFETY: freed only at unbind, after which the driver calls nothing.
    unsafe { &*d }
}

/// `WdfSpinLockCreate`.
pub(crate) unsafe extern "C" fn spin_lock_create(
    _globals: PWDF_DRIVER_GLOBALS,
    _attributes: PWDF_OBJECT_ATTRIBUTES,
    out: *mut WDFSPINLOCK,
) -> NTSTATUS {
    if out.is_null() {
        return NtStatus::INVALID_PARAMETER.0;
    }
    let lock = Box::new(SpinLock {
        tag: Tag::SpinLock,
        lock: UnsafeCell::new(0),
        irql: UnsafeCell::new(0),
    });
    let handle = ptr::from_ref::<SpinLock>(&lock).cast_mut();
    driver()
        .spin_locks
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(lock);
    // SAFETY: the caller's output.
    unsafe { out.write(handle.cast()) };
    NtStatus::SUCCESS.0
}

/// `WdfSpinLockAcquire`: KeAcquireSpinLockRaiseToDpc; the previous IRQL is kept in the lock.
pub(crate) unsafe extern "C" fn spin_lock_acquire(
    _globals: PWDF_DRIVER_GLOBALS,
    handle: WDFSPINLOCK,
) {
    // SAFETY: the driver's handle.
    let l = unsafe { object::get::<SpinLock>(handle.cast::<c_void>(), "WdfSpinLockAcquire") };
    // SAFETY: a KSPIN_LOCK of this object, initialized to 0.
    let irql = unsafe { KeAcquireSpinLockRaiseToDpc(l.lock.get()) };
    // SAFETY: we hold the lock: the only writer.
    unsafe { *l.irql.get() = irql };
}

/// `WdfSpinLockRelease`.
pub(crate) unsafe extern "C" fn spin_lock_release(
    _globals: PWDF_DRIVER_GLOBALS,
    handle: WDFSPINLOCK,
) {
    // SAFETY: the driver's handle.
    let l = unsafe { object::get::<SpinLock>(handle.cast::<c_void>(), "WdfSpinLockRelease") };
    // SAFETY: the holder reads what it wrote.
    let irql = unsafe { *l.irql.get() };
    // SAFETY: the caller holds the lock (KMDF's contract).
    unsafe { KeReleaseSpinLock(l.lock.get(), irql) };
}

/// `WDFTIMER`.
///
/// # Invariants
/// `tag` is [`Tag::Timer`] while the driver is bound; `timer` and `dpc` are initialized and
/// never move (boxed).
#[repr(C)]
pub(crate) struct Timer {
    tag: Tag,
    ktimer: UnsafeCell<KTIMER>,
    dpc: UnsafeCell<KDPC>,
    evt: PFN_WDF_TIMER,
    period: u32,
    /// EvtTimerFunc calls in progress (WdfTimerStop with Wait waits for them).
    running: AtomicU32,
}

// SAFETY: repr(C) with the tag first.
unsafe impl Object for Timer {
    const TAG: Tag = Tag::Timer;
    const KIND: &'static str = "WDFTIMER";
}

// SAFETY: the kernel objects are used only through the kernel's own synchronization.
unsafe impl Send for Timer {}

impl Timer {
    /// Cancels the timer and waits for a running callback (unload).
    pub(crate) fn cancel_and_wait(&self) {
        // SAFETY: an initialized KTIMER (type invariant).
        let _ = unsafe { KeCancelTimer(self.ktimer.get()) };
        self.wait_idle();
    }

    fn wait_idle(&self) {
        for _ in 0..10_000 {
            if self.running.load(Ordering::Acquire) == 0 {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        log!("WdfTimerStop: EvtTimerFunc still running after 10 s");
    }
}

/// The timer's DPC: calls EvtTimerFunc.
unsafe extern "C" fn timer_dpc(
    _dpc: *mut KDPC,
    context: *mut c_void,
    _a: *mut c_void,
    _b: *mut c_void,
) {
    // SAFETY: the context is the boxed Timer, alive until unload cancels it and waits.
    let t = unsafe { &*context.cast::<Timer>() };
    t.running.fetch_add(1, Ordering::AcqRel);
    if let Some(evt) = t.evt {
        // SAFETY: the driver's callback with its timer.
        unsafe { evt(context.cast()) };
    }
    t.running.fetch_sub(1, Ordering::AcqRel);
}

/// `WdfTimerCreate`: a KTIMER with a DPC that calls EvtTimerFunc (periodic if Period > 0).
/// AutomaticSerialization, TolerableDelay and high-resolution timers are not modelled.
pub(crate) unsafe extern "C" fn timer_create(
    _globals: PWDF_DRIVER_GLOBALS,
    config: PWDF_TIMER_CONFIG,
    _attributes: PWDF_OBJECT_ATTRIBUTES,
    out: *mut WDFTIMER,
) -> NTSTATUS {
    if config.is_null() || out.is_null() {
        return NtStatus::INVALID_PARAMETER.0;
    }
    // SAFETY: the caller's config.
    let c = unsafe { &*config };
    if c.Size as usize != size_of::<WDF_TIMER_CONFIG>() {
        log!("WdfTimerCreate: WDF_TIMER_CONFIG.Size {}", c.Size);
        return NtStatus::INFO_LENGTH_MISMATCH.0;
    }
    if c.UseHighResolutionTimer != 0 {
        log!("WdfTimerCreate: high-resolution timers are not modelled (a normal KTIMER is used)");
    }
    // SAFETY: a plain C struct, initialized below before any use.
    let ktimer = unsafe { core::mem::zeroed::<KTIMER>() };
    // SAFETY: as above.
    let kdpc = unsafe { core::mem::zeroed::<KDPC>() };
    let timer = Box::new(Timer {
        tag: Tag::Timer,
        ktimer: UnsafeCell::new(ktimer),
        dpc: UnsafeCell::new(kdpc),
        evt: c.EvtTimerFunc,
        period: c.Period,
        running: AtomicU32::new(0),
    });
    let handle = ptr::from_ref::<Timer>(&timer).cast_mut();
    // SAFETY: the boxed KTIMER, which never moves.
    unsafe { KeInitializeTimer(timer.ktimer.get()) };
    // SAFETY: the boxed KDPC; the context is the boxed Timer.
    unsafe { KeInitializeDpc(timer.dpc.get(), Some(timer_dpc), handle.cast()) };
    driver()
        .timers
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(timer);
    // SAFETY: the caller's output.
    unsafe { out.write(handle.cast()) };
    NtStatus::SUCCESS.0
}

/// `WdfTimerStart`: KeSetTimerEx (DueTime in 100-ns units, negative = relative; the period
/// from the config, in ms). Returns whether the timer was already queued.
pub(crate) unsafe extern "C" fn timer_start(
    _globals: PWDF_DRIVER_GLOBALS,
    handle: WDFTIMER,
    due: LONGLONG,
) -> BOOLEAN {
    // SAFETY: the driver's handle.
    let t = unsafe { object::get::<Timer>(handle.cast::<c_void>(), "WdfTimerStart") };
    let due = LARGE_INTEGER { QuadPart: due };
    // SAFETY: the initialized timer and DPC (type invariant).
    unsafe {
        KeSetTimerEx(
            t.ktimer.get(),
            due,
            i32::try_from(t.period).unwrap_or(i32::MAX),
            t.dpc.get(),
        )
    }
}

/// `WdfTimerStop`: KeCancelTimer; with Wait, also waits for a running EvtTimerFunc (unless
/// called from it). Returns whether the timer was queued.
pub(crate) unsafe extern "C" fn timer_stop(
    _globals: PWDF_DRIVER_GLOBALS,
    handle: WDFTIMER,
    wait: BOOLEAN,
) -> BOOLEAN {
    // SAFETY: the driver's handle.
    let t = unsafe { object::get::<Timer>(handle.cast::<c_void>(), "WdfTimerStop") };
    // SAFETY: the initialized timer.
    let queued = unsafe { KeCancelTimer(t.ktimer.get()) };
    if wait != 0 {
        t.wait_idle();
    }
    queued
}
