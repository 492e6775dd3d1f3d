//! The fake's kernel timers and DPCs against what the documentation says (see `src/timer.rs`).

use std::ffi::c_void;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use fake::timer::{
    KeCancelTimer, KeFlushQueuedDpcs, KeInitializeDpc, KeInitializeTimer, KeSetTimerEx,
};
use wsk_bindings as sys;
use wskrs_fake_kernel as fake;

/// Pool tag of the test's own allocations.
const TAG: u32 = u32::from_le_bytes(*b"TEST");

/// A timer and its DPC, counting DPC calls; optionally each call sleeps.
struct Fixture {
    timer: Box<sys::KTIMER>,
    dpc: Box<sys::KDPC>,
    calls: Box<(AtomicUsize, Duration)>,
}

unsafe extern "C" fn count(
    _: *mut sys::KDPC,
    context: *mut c_void,
    a1: *mut c_void,
    a2: *mut c_void,
) {
    assert!(
        a1.is_null() && a2.is_null(),
        "a timer DPC gets no system arguments"
    );
    // SAFETY: the fixture's counter, alive while the timer may fire.
    let calls = unsafe { &*context.cast_const().cast::<(AtomicUsize, Duration)>() };
    thread::sleep(calls.1);
    calls.0.fetch_add(1, Ordering::SeqCst);
}

impl Fixture {
    fn new(dwell: Duration) -> Self {
        let mut f = Self {
            timer: Box::default(),
            dpc: Box::default(),
            calls: Box::new((AtomicUsize::new(0), dwell)),
        };
        let context = std::ptr::from_ref(&*f.calls).cast_mut().cast::<c_void>();
        // SAFETY: boxed objects at their final addresses.
        unsafe { KeInitializeTimer(&raw mut *f.timer) };
        // SAFETY: as above; `count` reads the boxed counter.
        unsafe { KeInitializeDpc(&raw mut *f.dpc, Some(count), context) };
        f
    }

    fn set(&mut self, due: Duration, period_ms: i32) -> bool {
        let due = sys::LARGE_INTEGER {
            QuadPart: -i64::try_from(due.as_nanos() / 100).unwrap(),
        };
        // SAFETY: initialized in `new`, alive until the test cancels it.
        unsafe { KeSetTimerEx(&raw mut *self.timer, due, period_ms, &raw mut *self.dpc) != 0 }
    }

    fn cancel(&mut self) -> bool {
        // SAFETY: initialized in `new`.
        unsafe { KeCancelTimer(&raw mut *self.timer) != 0 }
    }

    fn calls(&self) -> usize {
        self.calls.0.load(Ordering::SeqCst)
    }
}

fn wait_until(f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !f() {
        assert!(Instant::now() < deadline, "timed out");
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_one_shot_timer_fires_once_and_leaves_the_queue() {
    let kernel = fake::Kernel::start();
    let mut f = Fixture::new(Duration::ZERO);
    assert!(!f.set(Duration::from_millis(5), 0), "was not queued");
    assert_eq!(fake::counts().timers_queued, 1);
    wait_until(|| f.calls() == 1);
    thread::sleep(Duration::from_millis(30));
    assert_eq!(f.calls(), 1);
    assert!(!f.cancel(), "an expired one-shot timer is not queued");
    kernel.assert_clean();
}

#[test]
fn cancelling_before_expiry_returns_true_and_the_dpc_never_runs() {
    let kernel = fake::Kernel::start();
    let mut f = Fixture::new(Duration::ZERO);
    assert!(!f.set(Duration::from_millis(50), 0));
    assert!(
        f.set(Duration::from_millis(50), 0),
        "setting a queued timer reports it was queued"
    );
    assert!(f.cancel());
    assert!(!f.cancel(), "already dequeued");
    thread::sleep(Duration::from_millis(100));
    assert_eq!(f.calls(), 0);
    kernel.assert_clean();
}

#[test]
fn a_periodic_timer_stays_queued_until_cancelled() {
    let kernel = fake::Kernel::start();
    let mut f = Fixture::new(Duration::ZERO);
    assert!(!f.set(Duration::from_millis(1), 2));
    wait_until(|| f.calls() >= 3);
    assert_eq!(
        fake::counts().timers_queued,
        1,
        "periodic timers stay in the queue"
    );
    assert!(f.cancel(), "always TRUE for a set periodic timer");
    // SAFETY: PASSIVE_LEVEL test thread.
    unsafe { KeFlushQueuedDpcs() };
    let calls = f.calls();
    thread::sleep(Duration::from_millis(30));
    assert_eq!(f.calls(), calls, "no DPC after cancel + flush");
    kernel.assert_clean();
}

#[test]
fn flush_waits_for_a_dpc_that_already_started() {
    let kernel = fake::Kernel::start();
    let mut f = Fixture::new(Duration::from_millis(100));
    assert!(!f.set(Duration::ZERO, 0));
    wait_until(|| fake::counts().dpcs_outstanding == 1);
    assert!(!f.cancel(), "expired: the DPC runs to completion");
    assert_eq!(f.calls(), 0, "still in its dwell");
    // SAFETY: PASSIVE_LEVEL test thread.
    unsafe { KeFlushQueuedDpcs() };
    assert_eq!(f.calls(), 1, "flush returned after the DPC finished");
    kernel.assert_clean();
}

#[test]
fn misuse_is_reported() {
    let kernel = fake::Kernel::start();
    let mut unknown = sys::KTIMER::default();
    // SAFETY: the fake only looks the address up.
    assert_eq!(unsafe { KeCancelTimer(&raw mut unknown) }, 0);
    let mut f = Fixture::new(Duration::ZERO);
    let absolute = sys::LARGE_INTEGER { QuadPart: 1 };
    // SAFETY: an initialized timer and DPC; the absolute time is the misuse under test.
    let _ = unsafe { KeSetTimerEx(&raw mut *f.timer, absolute, 0, &raw mut *f.dpc) };
    assert!(f.cancel());
    // A queued timer in pool memory that is freed (no KeCancelTimer first).
    let size = std::mem::size_of::<sys::KTIMER>() as u64;
    // SAFETY: a plain allocation of the fake's pool.
    let p = unsafe { fake::ntoskrnl::ExAllocatePoolWithTag(sys::NonPagedPoolNx, size, TAG) }
        .cast::<sys::KTIMER>();
    // SAFETY: pool memory for a KTIMER.
    unsafe { KeInitializeTimer(p) };
    // SAFETY: initialized just above; one second: it is still queued when freed.
    let _ = unsafe {
        KeSetTimerEx(
            p,
            sys::LARGE_INTEGER {
                QuadPart: -10_000_000,
            },
            0,
            std::ptr::null_mut(),
        )
    };
    // SAFETY: allocated above with this tag; freeing it queued is the misuse under test.
    unsafe { fake::ntoskrnl::ExFreePoolWithTag(p.cast(), TAG) };
    let v = fake::violations();
    assert_eq!(v.len(), 3, "{v:#?}");
    assert!(v[0].contains("not an initialized timer"), "{v:#?}");
    assert!(v[1].contains("absolute due time"), "{v:#?}");
    assert!(v[2].contains("still queued"), "{v:#?}");
    drop(kernel);
}
