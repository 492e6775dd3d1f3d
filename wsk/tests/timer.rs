//! `wsk::timer::PeriodicTimer` on the fake kernel's timers and DPCs: it ticks repeatedly at
//! DISPATCH_LEVEL, and once dropped it never ticks again, even when dropped during a tick.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use wsk::timer::PeriodicTimer;
use wskrs_fake_kernel as fake;

const PERIOD: Duration = Duration::from_millis(5);
const DEADLINE: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Ticks {
    count: AtomicUsize,
    /// A tick is running now.
    in_tick: AtomicBool,
    /// IRQLs the ticks ran at.
    irqls: Mutex<Vec<u8>>,
    /// How long each tick sleeps (real time), to widen the window for a drop during a tick.
    dwell: Mutex<Duration>,
}

fn tick(ticks: &Arc<Ticks>) {
    ticks.in_tick.store(true, Ordering::SeqCst);
    ticks.irqls.lock().unwrap().push(fake::current_irql());
    let dwell = *ticks.dwell.lock().unwrap();
    thread::sleep(dwell);
    ticks.count.fetch_add(1, Ordering::SeqCst);
    ticks.in_tick.store(false, Ordering::SeqCst);
}

fn wait_until(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_periodic_timer_ticks_repeatedly_and_stops_on_drop() {
    let kernel = fake::Kernel::start();
    let ticks = Arc::new(Ticks::default());
    let timer = PeriodicTimer::start(PERIOD, ticks.clone(), tick).unwrap();
    assert_eq!(fake::counts().timers_queued, 1);
    wait_until("five ticks", || ticks.count.load(Ordering::SeqCst) >= 5);
    assert!(Arc::ptr_eq(timer.context(), &ticks));
    drop(timer);
    let after_drop = ticks.count.load(Ordering::SeqCst);
    assert!(
        !ticks.in_tick.load(Ordering::SeqCst),
        "no tick runs once drop returned"
    );
    // Twenty periods: a timer still queued would have ticked.
    thread::sleep(PERIOD * 20);
    assert_eq!(
        ticks.count.load(Ordering::SeqCst),
        after_drop,
        "no tick after drop"
    );
    assert!(
        ticks
            .irqls
            .lock()
            .unwrap()
            .iter()
            .all(|irql| *irql == fake::DISPATCH_LEVEL),
        "ticks run at DISPATCH_LEVEL"
    );
    assert_eq!(fake::counts().timers_queued, 0);
    kernel.assert_clean();
}

#[test]
fn dropping_during_a_tick_waits_for_it() {
    let kernel = fake::Kernel::start();
    let ticks = Arc::new(Ticks::default());
    *ticks.dwell.lock().unwrap() = Duration::from_millis(100);
    let timer = PeriodicTimer::start(PERIOD, ticks.clone(), tick).unwrap();
    wait_until("a tick runs", || ticks.in_tick.load(Ordering::SeqCst));
    let started = Instant::now();
    drop(timer);
    // The tick was in its 100 ms dwell: drop waited for it (KeFlushQueuedDpcs) before freeing
    // the memory the DPC reads; the fake reports freeing a running DPC as a violation.
    assert!(
        !ticks.in_tick.load(Ordering::SeqCst),
        "drop returned while a tick ran"
    );
    assert!(
        started.elapsed() > Duration::from_millis(10),
        "drop waited for the tick"
    );
    let after_drop = ticks.count.load(Ordering::SeqCst);
    assert!(after_drop >= 1);
    thread::sleep(Duration::from_millis(150));
    assert_eq!(
        ticks.count.load(Ordering::SeqCst),
        after_drop,
        "no tick after drop"
    );
    kernel.assert_clean();
}

#[test]
fn the_period_follows_virtual_time() {
    let kernel = fake::Kernel::start();
    // A 1-second period at 100x runs every 10 ms of real time.
    fake::set_time_scale(100);
    let ticks = Arc::new(Ticks::default());
    let timer = PeriodicTimer::start(Duration::from_secs(1), ticks.clone(), tick).unwrap();
    wait_until("three ticks", || ticks.count.load(Ordering::SeqCst) >= 3);
    drop(timer);
    kernel.assert_clean();
}
