//! A fake NT kernel and a scriptable fake WSK provider, for host tests of `wsk`.
//!
//! On the Linux host, `wsk-bindings` declares the ntoskrnl and NETIO exports without a link
//! attribute. This crate defines every one that `wsk` calls (`#[no_mangle] extern "C"`, which
//! is what `extern "system"` means on x86-64 Linux), so a test binary that links this crate
//! runs `wsk` unchanged against:
//!
//! - The [`ntoskrnl`] module: pool (16-byte aligned, counted, poisoned and quarantined on free), IRPs
//!   (`IofCompleteRequest` runs completion routines per their `Control` flags, one stack
//!   location at a time, as the I/O manager does; `IoCancelIrp` honours `CancelRoutine` under a
//!   cancel spin lock), MDLs, events keyed by address, spin locks, work items (each on its own
//!   thread, at "PASSIVE_LEVEL"), interrupt time and delays (scalable, see [`set_time_scale`]).
//! - The [`devices`] module: `IoCreateDevice`/`IoDeleteDevice`/`IoCreateSymbolicLink`/
//!   `IoDeleteSymbolicLink`, with injectable failures and the list of what exists.
//! - The [`registry`] module: `ZwOpenKey`/`ZwQueryValueKey` over `REG_DWORD` values a test
//!   sets (a driver's service parameters).
//! - The [`timer`] module: kernel timers (one-shot and periodic, relative due times in virtual
//!   time) whose DPCs run at DISPATCH_LEVEL on a timer thread; `KeCancelTimer` and
//!   `KeFlushQueuedDpcs` as documented; freeing a queued timer or a running DPC is a violation.
//! - The [`locked`] module: a data buffer behind an MDL, as the I/O manager locks the output
//!   buffer of a direct-I/O request (for tests that play a driver shell).
//! - The [`netio`] module: `WskRegister`/`WskDeregister`/`WskCaptureProviderNPI`/`WskReleaseProviderNPI`,
//!   counted and logged ([`netio::log`]).
//! - The [`provider`] module: a WSK provider whose dispatch tables are the `wsk-bindings` structs, with
//!   byte-stream and datagram loopback, and a per-call script ([`provider::Behavior`]):
//!   complete inline, later on another thread, fail without completing (Wine's stubs), fail,
//!   or hang until cancelled / closed / released.
//!
//! The fake models IRQL per thread: spin locks and completion routines run at
//! DISPATCH_LEVEL, work items at PASSIVE_LEVEL, and a blocking wait at DISPATCH_LEVEL is
//! recorded as a [`violation`] (as is every other misuse the fake can see: freeing an IRP
//! the provider still owns, reusing a pending IRP, a completion routine that lets an IRP run
//! past its top location, an unknown pool pointer, ...). Tests serialize on [`Kernel`], which
//! resets the fake and checks for leaks.
//!
//! Host-only: it uses std, threads and panics freely (it is test infrastructure, never loaded
//! into a kernel), so the kernel crates' panic-freedom lints do not apply here.

// Test infrastructure: a panic is the right answer to an impossible state in the fake, and
// the raw FFI signatures are fixed by the DDIs they imitate.
#![allow(clippy::missing_panics_doc)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

pub mod debug_print;
pub mod devices;
pub mod locked;
pub mod netio;
pub mod ntoskrnl;
pub mod provider;
pub mod registry;
pub mod security;
mod state;
pub mod timer;

pub use state::{
    current_irql, in_completion_routine, on_work_item_thread, DISPATCH_LEVEL, PASSIVE_LEVEL,
};

/// Locks a mutex of the fake, ignoring poison (a failed test must not cascade).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

static VIOLATIONS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Records a contract violation seen by the fake (the client misused a DDI).
pub(crate) fn violation(what: impl Into<String>) {
    let what = what.into();
    eprintln!("fake-kernel: violation: {what}");
    lock(&VIOLATIONS).push(what);
}

/// Every violation recorded since [`Kernel::start`].
#[must_use]
pub fn violations() -> Vec<String> {
    lock(&VIOLATIONS).clone()
}

/// Virtual time runs this many times faster than real time (1 by default).
static TIME_SCALE: AtomicU32 = AtomicU32::new(1);

/// Makes the fake's clock run `scale` times faster than real time: every kernel wait, delay,
/// `KeQueryInterruptTime` and provider delay is in virtual time, so a 5-second grace period
/// takes 5 / `scale` seconds. Reset to 1 by [`Kernel::start`].
pub fn set_time_scale(scale: u32) {
    TIME_SCALE.store(scale.max(1), Ordering::Relaxed);
}

/// `KeQueryInterruptTime` in milliseconds instead of 100-ns units (what Wine 8.0 returns).
static INTERRUPT_TIME_IN_MS: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Makes `KeQueryInterruptTime` return milliseconds, as Wine 8.0's does (its tick count),
/// instead of the documented 100-ns units. Reset by [`Kernel::start`].
pub fn set_interrupt_time_in_ms(on: bool) {
    INTERRUPT_TIME_IN_MS.store(on, Ordering::Relaxed);
}

/// What `KeQueryInterruptTime` returns now (see [`set_interrupt_time_in_ms`]).
pub(crate) fn interrupt_time() -> u64 {
    let ticks = virtual_now_ticks();
    if INTERRUPT_TIME_IN_MS.load(Ordering::Relaxed) {
        ticks / 10_000
    } else {
        ticks
    }
}

/// A virtual duration as the real time it takes.
pub(crate) fn real(virtual_time: Duration) -> Duration {
    virtual_time / TIME_SCALE.load(Ordering::Relaxed)
}

/// Virtual time since the fake started, in 100-ns units.
pub(crate) fn virtual_now_ticks() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let elapsed = START.get_or_init(Instant::now).elapsed();
    let ticks = elapsed.as_nanos() / 100 * u128::from(TIME_SCALE.load(Ordering::Relaxed));
    u64::try_from(ticks).unwrap_or(u64::MAX)
}

/// Deepest nesting of completion routines seen on any thread since [`Kernel::start`].
static MAX_COMPLETION_DEPTH: AtomicUsize = AtomicUsize::new(0);

/// The deepest nesting of completion routines (a completion routine running inside another
/// one's call chain) seen on any thread since [`Kernel::start`]. A client that issues its next
/// request from a completion routine, with a provider completing inline, nests one level per
/// request; a trampoline keeps this bounded.
#[must_use]
pub fn max_completion_depth() -> usize {
    MAX_COMPLETION_DEPTH.load(Ordering::Relaxed)
}

/// Counters of the fake's kernel objects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// `ExAllocatePoolWithTag` calls that succeeded.
    pub pool_allocations: u64,
    /// `ExFreePoolWithTag` calls on live blocks.
    pub pool_frees: u64,
    /// Pool blocks allocated and not freed.
    pub pool_live: usize,
    /// IRPs allocated and not freed.
    pub irps_live: usize,
    /// MDLs allocated and not freed.
    pub mdls_live: usize,
    /// Work items allocated and not freed.
    pub work_items_live: usize,
    /// Work items queued whose routine has not returned yet.
    pub work_items_running: usize,
    /// `IoCancelIrp` calls.
    pub cancel_calls: u64,
    /// Cancel routines `IoCancelIrp` called.
    pub cancel_routines_called: u64,
    /// IRPs the provider holds (handed over and not completed yet).
    pub irps_in_provider: usize,
    /// Provider sockets handed to the client and not closed.
    pub sockets_open: usize,
    /// Kernel timers set and not cancelled or expired (periodic ones stay queued).
    pub timers_queued: usize,
    /// DPCs queued or running and not finished.
    pub dpcs_outstanding: usize,
}

/// The fake's counters now.
#[must_use]
pub fn counts() -> Counts {
    let (pool_allocations, pool_frees, pool_live) = ntoskrnl::pool_counts();
    let (work_items_live, work_items_running) = ntoskrnl::work_item_counts();
    let (cancel_calls, cancel_routines_called) = ntoskrnl::cancel_counts();
    let (timers_queued, dpcs_outstanding) = timer::counts();
    Counts {
        pool_allocations,
        pool_frees,
        pool_live,
        irps_live: ntoskrnl::irps_live(),
        mdls_live: ntoskrnl::mdls_live(),
        work_items_live,
        work_items_running,
        cancel_calls,
        cancel_routines_called,
        irps_in_provider: provider::irps_held(),
        sockets_open: provider::open_sockets(),
        timers_queued,
        dpcs_outstanding,
    }
}

static SERIAL: Mutex<()> = Mutex::new(());

/// One test's exclusive use of the fake kernel (tests in one binary run one at a time, since
/// the kernel is global). Starting resets every script, log and counter baseline.
pub struct Kernel {
    baseline: Counts,
    _serial: MutexGuard<'static, ()>,
}

impl Kernel {
    /// Waits for the previous test to finish with the fake, then resets it: provider scripts
    /// and configuration, registration log, violations, time scale, depth statistics.
    #[must_use]
    pub fn start() -> Self {
        let serial = lock(&SERIAL);
        let _ = wait_for_work_items(Duration::from_secs(10));
        provider::reset();
        netio::reset();
        devices::reset();
        registry::reset();
        security::reset();
        timer::reset();
        lock(&VIOLATIONS).clear();
        TIME_SCALE.store(1, Ordering::Relaxed);
        INTERRUPT_TIME_IN_MS.store(false, Ordering::Relaxed);
        ntoskrnl::fail_pool_allocations(u64::MAX, 0);
        MAX_COMPLETION_DEPTH.store(0, Ordering::Relaxed);
        Self {
            baseline: counts(),
            _serial: serial,
        }
    }

    /// The counters when this test started.
    #[must_use]
    pub fn baseline(&self) -> Counts {
        self.baseline
    }

    /// Waits (real time, at most `timeout`) until no work item or DPC runs and every pool
    /// block, IRP, MDL, work item, provider socket and queued timer since [`Kernel::start`] is released;
    /// returns the counters then.
    #[must_use]
    pub fn settle(&self, timeout: Duration) -> Counts {
        let deadline = Instant::now() + timeout;
        loop {
            let now = counts();
            if self.is_settled(&now) || Instant::now() >= deadline {
                return now;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn is_settled(&self, now: &Counts) -> bool {
        let b = &self.baseline;
        now.work_items_running == 0
            && now.pool_live == b.pool_live
            && now.irps_live == b.irps_live
            && now.mdls_live == b.mdls_live
            && now.work_items_live == b.work_items_live
            && now.irps_in_provider == b.irps_in_provider
            && now.sockets_open == b.sockets_open
            && now.timers_queued == b.timers_queued
            && now.dpcs_outstanding == 0
    }

    /// [`Kernel::settle`], then asserts that nothing leaked and no violation was recorded.
    pub fn assert_clean(&self) {
        let now = self.settle(Duration::from_secs(10));
        assert!(
            self.is_settled(&now),
            "leak: baseline {:?}, now {now:?}",
            self.baseline
        );
        assert_eq!(
            now.pool_allocations - self.baseline.pool_allocations,
            now.pool_frees - self.baseline.pool_frees,
            "every pool allocation is freed"
        );
        let v = violations();
        assert!(v.is_empty(), "violations: {v:#?}");
    }
}

/// Waits until no work item routine is running (real time, at most `timeout`).
#[must_use]
pub fn wait_for_work_items(timeout: Duration) -> bool {
    ntoskrnl::wait_work_items_idle(timeout)
}

/// A device object for `WskClient::register` (work items are queued on it). It lives for the
/// whole process.
#[must_use]
pub fn device() -> std::ptr::NonNull<core::ffi::c_void> {
    struct Device(std::ptr::NonNull<wsk_bindings::DEVICE_OBJECT>);
    // SAFETY: the device object is never written after creation; it only serves as an address.
    unsafe impl Send for Device {}
    // SAFETY: as above.
    unsafe impl Sync for Device {}
    static DEVICE: OnceLock<Device> = OnceLock::new();
    let device = DEVICE.get_or_init(|| {
        let boxed = Box::new(wsk_bindings::DEVICE_OBJECT::default());
        Device(std::ptr::NonNull::from(Box::leak(boxed)))
    });
    device.0.cast()
}

/// Counts calls by key, for the provider and registration statistics.
pub(crate) struct Tally<K>(HashMap<K, u64>);

impl<K> Default for Tally<K> {
    fn default() -> Self {
        Self(HashMap::new())
    }
}

impl<K: std::hash::Hash + Eq> Tally<K> {
    pub(crate) fn add(&mut self, key: K) {
        *self.0.entry(key).or_default() += 1;
    }

    pub(crate) fn get(&self, key: &K) -> u64 {
        self.0.get(key).copied().unwrap_or(0)
    }
}

pub(crate) fn note_completion_depth(depth: usize) {
    MAX_COMPLETION_DEPTH.fetch_max(depth, Ordering::Relaxed);
}
