//! Kernel timers and DPCs, faked on the host: `KeInitializeTimer`, `KeSetTimerEx`,
//! `KeCancelTimer`, `KeInitializeDpc`, `KeFlushQueuedDpcs`.
//!
//! What the fake keeps from the documentation (learn.microsoft.com, wdm.h pages of each name):
//! - `KeSetTimerEx`: `DueTime` negative is relative, in 100-ns units (the fake supports only
//!   relative times, in its virtual time, see [`crate::set_time_scale`]); `Period` is in
//!   milliseconds, 0 for a one-shot timer; a timer already queued is implicitly cancelled
//!   first (with its pending DPC); returns TRUE if the timer was already queued.
//! - On expiry a one-shot timer leaves the timer queue; a periodic one stays queued and is
//!   re-armed. The associated DPC runs at DISPATCH_LEVEL, here on the timer's own thread,
//!   with `SystemArgument1`/`2` unused (NULL).
//! - `KeCancelTimer`: removes the timer (and its DPC, if not started) from the queue; returns
//!   TRUE if the timer was queued, so always TRUE for a periodic timer that was set. A DPC
//!   that already started runs to completion ("the driver must make sure the DPC has
//!   completed before it frees resources the DPC uses").
//! - `KeFlushQueuedDpcs`: PASSIVE_LEVEL; returns once every DPC queued before the call has
//!   run to completion (DPCs queued during the call are not waited for).
//!
//! Misuse is recorded with [`crate::violation`]: an uninitialized or freed timer or DPC, an
//! absolute due time, a negative period, a pool block freed while a timer in it is queued or
//! while a DPC in it runs, `KeFlushQueuedDpcs` above PASSIVE_LEVEL.
//!
//! # Safety
//! Each function has the contract of the DDI it imitates.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::c_void;
use std::ptr;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use wsk_bindings as sys;

use crate::state::{self, DISPATCH_LEVEL, PASSIVE_LEVEL};
use crate::{lock, violation};

/// How long `KeFlushQueuedDpcs` waits (real time) before it reports a DPC that never returns.
const FLUSH_LIMIT: Duration = Duration::from_secs(10);

type DeferredRoutine = unsafe extern "C" fn(*mut sys::KDPC, *mut c_void, *mut c_void, *mut c_void);

struct Timer {
    /// Renewed (from [`Registry::next_generation`], never reused) by every set, cancel and
    /// initialization: an expiry thread armed under another generation exits without expiring.
    generation: u64,
    /// In the timer queue (set and not expired, or periodic).
    queued: bool,
}

struct Dpc {
    routine: DeferredRoutine,
    context: usize,
    /// Invocations started and not returned.
    running: usize,
}

#[derive(Default)]
struct Registry {
    timers: BTreeMap<usize, Timer>,
    dpcs: BTreeMap<usize, Dpc>,
    /// Numbers DPC invocations in the order they were queued.
    next_ticket: u64,
    /// Source of timer generations (unique across timers, so a timer re-initialized at a
    /// freed timer's address never matches the old timer's expiry thread).
    next_generation: u64,
    /// Tickets of DPC invocations queued and not finished.
    outstanding: BTreeSet<u64>,
}

static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);
/// Signalled on every change a waiter may care about (set, cancel, DPC finished).
static CHANGED: Condvar = Condvar::new();

struct Guard(MutexGuard<'static, Option<Registry>>);

impl Guard {
    fn get(&mut self) -> &mut Registry {
        self.0.get_or_insert_with(Registry::default)
    }
}

impl Registry {
    fn generation(&mut self) -> u64 {
        self.next_generation += 1;
        self.next_generation
    }
}

fn registry() -> Guard {
    Guard(lock(&REGISTRY))
}

/// Forgets every timer and DPC (a new test starts); their expiry threads exit.
pub(crate) fn reset() {
    let mut r = registry();
    let r = r.get();
    r.timers.clear();
    r.dpcs.clear();
    r.outstanding.clear();
    CHANGED.notify_all();
}

/// (timers queued, DPC invocations started or queued and not finished).
pub(crate) fn counts() -> (usize, usize) {
    let mut r = registry();
    let r = r.get();
    (
        r.timers.values().filter(|t| t.queued).count(),
        r.outstanding.len(),
    )
}

/// A pool block is freed: the timers and DPCs in it are gone. Freeing a queued timer or a DPC
/// whose routine runs is the use-after-free the documentation warns about.
pub(crate) fn forget_in(start: usize, len: usize) {
    let end = start.saturating_add(len.max(1));
    let mut r = registry();
    let r = r.get();
    let timers: Vec<usize> = r.timers.range(start..end).map(|(k, _)| *k).collect();
    for k in timers {
        if r.timers.remove(&k).is_some_and(|t| t.queued) {
            violation(format!(
                "pool block freed with the timer at {k:#x} still queued (KeCancelTimer first)"
            ));
        }
    }
    let dpcs: Vec<usize> = r.dpcs.range(start..end).map(|(k, _)| *k).collect();
    for k in dpcs {
        if r.dpcs.remove(&k).is_some_and(|d| d.running > 0) {
            violation(format!(
                "pool block freed while the DPC at {k:#x} runs (KeFlushQueuedDpcs first)"
            ));
        }
    }
    CHANGED.notify_all();
}

/// `KeInitializeTimer`: a notification timer, not queued.
///
/// # Safety
/// `timer` points to a KTIMER at its final address.
#[no_mangle]
pub unsafe extern "C" fn KeInitializeTimer(timer: *mut sys::KTIMER) {
    if state::current_irql() > DISPATCH_LEVEL {
        violation("KeInitializeTimer above DISPATCH_LEVEL");
    }
    let mut r = registry();
    let r = r.get();
    if r.timers.get(&(timer as usize)).is_some_and(|t| t.queued) {
        violation(format!("KeInitializeTimer({timer:p}): the timer is queued"));
    }
    let generation = r.generation();
    r.timers.insert(
        timer as usize,
        Timer {
            generation,
            queued: false,
        },
    );
    CHANGED.notify_all();
}

/// `KeInitializeDpc`.
///
/// # Safety
/// `dpc` points to a KDPC at its final address; `routine` may be called with `context` at
/// DISPATCH_LEVEL on any thread.
#[no_mangle]
pub unsafe extern "C" fn KeInitializeDpc(
    dpc: *mut sys::KDPC,
    routine: sys::PKDEFERRED_ROUTINE,
    context: *mut c_void,
) {
    let Some(routine) = routine else {
        violation(format!("KeInitializeDpc({dpc:p}) without a routine"));
        return;
    };
    let mut r = registry();
    let r = r.get();
    if r.dpcs.get(&(dpc as usize)).is_some_and(|d| d.running > 0) {
        violation(format!("KeInitializeDpc({dpc:p}): its routine is running"));
    }
    r.dpcs.insert(
        dpc as usize,
        Dpc {
            routine,
            context: context as usize,
            running: 0,
        },
    );
}

/// `KeSetTimerEx`: (re)arms the timer; TRUE if it was queued.
///
/// # Safety
/// `timer` was initialized with [`KeInitializeTimer`]; `dpc` is null or was initialized with
/// [`KeInitializeDpc`]; both stay valid while the timer is queued.
#[no_mangle]
pub unsafe extern "C" fn KeSetTimerEx(
    timer: *mut sys::KTIMER,
    due: sys::LARGE_INTEGER,
    period: sys::LONG,
    dpc: *mut sys::KDPC,
) -> sys::BOOLEAN {
    if state::current_irql() > DISPATCH_LEVEL {
        violation("KeSetTimerEx above DISPATCH_LEVEL");
    }
    // SAFETY: QuadPart overlays the whole union.
    let due = unsafe { due.QuadPart };
    if due > 0 {
        violation(format!(
            "KeSetTimerEx({timer:p}): absolute due time {due} (the fake supports relative ones)"
        ));
    }
    let Ok(period_ms) = u64::try_from(period) else {
        violation(format!("KeSetTimerEx({timer:p}): negative period {period}"));
        return 0;
    };
    let mut r = registry();
    let r = r.get();
    if !dpc.is_null() && !r.dpcs.contains_key(&(dpc as usize)) {
        violation(format!(
            "KeSetTimerEx({timer:p}): DPC {dpc:p} is not initialized (or freed)"
        ));
        return 0;
    }
    let Some(t) = r.timers.get_mut(&(timer as usize)) else {
        violation(format!("KeSetTimerEx({timer:p}): not an initialized timer (freed, or never KeInitializeTimer'ed)"));
        return 0;
    };
    let was_queued = t.queued;
    t.queued = true;
    let generation = r.generation();
    if let Some(t) = r.timers.get_mut(&(timer as usize)) {
        t.generation = generation;
    }
    let arm = Arm {
        timer: timer as usize,
        generation,
        dpc: dpc as usize,
        period: Duration::from_millis(period_ms),
        first: Duration::from_nanos(due.unsigned_abs().saturating_mul(100)),
    };
    CHANGED.notify_all();
    let spawned = std::thread::Builder::new()
        .name("fake-timer".into())
        .spawn(move || arm.run());
    if let Err(e) = spawned {
        panic!("fake-kernel: cannot spawn a timer thread: {e}");
    }
    sys::BOOLEAN::from(was_queued)
}

/// `KeCancelTimer`: dequeues the timer; TRUE if it was queued.
///
/// # Safety
/// `timer` was initialized with [`KeInitializeTimer`].
#[no_mangle]
pub unsafe extern "C" fn KeCancelTimer(timer: *mut sys::KTIMER) -> sys::BOOLEAN {
    if state::current_irql() > DISPATCH_LEVEL {
        violation("KeCancelTimer above DISPATCH_LEVEL");
    }
    let mut r = registry();
    let r = r.get();
    let generation = r.generation();
    let Some(t) = r.timers.get_mut(&(timer as usize)) else {
        violation(format!("KeCancelTimer({timer:p}): not an initialized timer (freed, or never KeInitializeTimer'ed)"));
        return 0;
    };
    let was_queued = t.queued;
    t.queued = false;
    t.generation = generation;
    CHANGED.notify_all();
    sys::BOOLEAN::from(was_queued)
}

/// `KeFlushQueuedDpcs`: waits for every DPC queued before the call to finish.
///
/// # Safety
/// None beyond PASSIVE_LEVEL.
#[no_mangle]
pub unsafe extern "C" fn KeFlushQueuedDpcs() {
    if state::current_irql() != PASSIVE_LEVEL {
        // From a DPC this would wait for itself.
        violation(format!(
            "KeFlushQueuedDpcs at IRQL {} (PASSIVE_LEVEL only)",
            state::current_irql()
        ));
        return;
    }
    let deadline = Instant::now() + FLUSH_LIMIT;
    let mut r = registry();
    let before = r.get().next_ticket;
    loop {
        if r.get().outstanding.range(..before).next().is_none() {
            return;
        }
        let now = Instant::now();
        if now >= deadline {
            violation("KeFlushQueuedDpcs: a DPC queued before the call did not finish within 10 s");
            return;
        }
        r = Guard(
            CHANGED
                .wait_timeout(r.0, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0,
        );
    }
}

/// One arming of a timer, run by its own thread until it expires for good or is superseded.
struct Arm {
    timer: usize,
    generation: u64,
    dpc: usize,
    /// Virtual.
    period: Duration,
    /// Virtual, from the set call.
    first: Duration,
}

impl Arm {
    fn run(self) {
        let mut due = Instant::now() + crate::real(self.first);
        loop {
            let mut r = registry();
            // Wait for the due time unless superseded.
            loop {
                if !self.current(r.get()) {
                    return;
                }
                let now = Instant::now();
                if now >= due {
                    break;
                }
                r = Guard(
                    CHANGED
                        .wait_timeout(r.0, due - now)
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .0,
                );
            }
            let periodic = !self.period.is_zero();
            if let Some(t) = r.get().timers.get_mut(&self.timer) {
                // A one-shot timer leaves the queue as it expires; a periodic one stays.
                t.queued = periodic;
            }
            let call = if self.dpc == 0 {
                None
            } else {
                Self::queue_dpc(r.get(), self.dpc)
            };
            drop(r);
            if let Some((routine, context, ticket)) = call {
                self.call_dpc(routine, context, ticket);
            }
            if !periodic {
                return;
            }
            let now = Instant::now();
            due += crate::real(self.period);
            if due < now {
                due = now;
            }
        }
    }

    fn current(&self, r: &Registry) -> bool {
        r.timers
            .get(&self.timer)
            .is_some_and(|t| t.generation == self.generation && t.queued)
    }

    /// Queues (and here at once starts) the DPC: counted running and outstanding.
    fn queue_dpc(r: &mut Registry, dpc: usize) -> Option<(DeferredRoutine, usize, u64)> {
        let ticket = r.next_ticket;
        let Some(d) = r.dpcs.get_mut(&dpc) else {
            violation(format!(
                "timer expired with its DPC at {dpc:#x} freed or re-initialized away"
            ));
            return None;
        };
        d.running += 1;
        let call = (d.routine, d.context, ticket);
        r.next_ticket += 1;
        r.outstanding.insert(ticket);
        Some(call)
    }

    fn call_dpc(&self, routine: DeferredRoutine, context: usize, ticket: u64) {
        let old = state::raise_irql(DISPATCH_LEVEL);
        // SAFETY: the routine and context were registered together with KeInitializeDpc for
        // this KDPC; a timer DPC gets no system arguments.
        unsafe {
            routine(
                self.dpc as *mut sys::KDPC,
                context as *mut c_void,
                ptr::null_mut(),
                ptr::null_mut(),
            );
        }
        if state::current_irql() != DISPATCH_LEVEL {
            violation(format!(
                "DPC routine returned at IRQL {} (entered at DISPATCH_LEVEL)",
                state::current_irql()
            ));
        }
        state::set_irql(old);
        let mut r = registry();
        let r = r.get();
        r.outstanding.remove(&ticket);
        if let Some(d) = r.dpcs.get_mut(&self.dpc) {
            d.running = d.running.saturating_sub(1);
        }
        CHANGED.notify_all();
    }
}
