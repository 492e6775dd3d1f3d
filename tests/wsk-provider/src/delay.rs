//! Delayed completions for `WSKRS_PROVIDER_DELAY` (see `fault.rs`): a request chosen for a
//! delay is *parked* here once Winsock has completed it; when its time is up, it goes back to
//! the completion port and a worker thread finishes it (completes its IRP). One timer thread
//! for the process waits for the earliest deadline on a condition variable (which releases
//! the queue's lock while it waits); no worker thread ever sleeps for a delay, so a delayed
//! request holds up nothing else. Cancellation takes a parked request out early
//! (`Op::cancel` → [`Op::release_parked`](crate::ops::Op)).

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crate::ops::Op;

/// A parked request and when it is due.
struct Entry {
    due: Instant,
    /// Arrival order, so that equal deadlines keep it.
    seq: u64,
    op: Arc<Op>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    /// Reversed: `BinaryHeap` is a max-heap, the earliest deadline must come out first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}

#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Entry>,
    seq: u64,
}

struct Timer {
    queue: Mutex<Queue>,
    wake: Condvar,
}

/// The timer, started on first use (`None` when its thread could not be started).
fn timer() -> Option<&'static Timer> {
    static TIMER: OnceLock<Option<&'static Timer>> = OnceLock::new();
    *TIMER.get_or_init(|| {
        let timer: &'static Timer = Box::leak(Box::new(Timer {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("wsk-provider-delay".into())
            .spawn(move || run(timer))
            .ok()
            .map(|_| timer)
    })
}

/// Parks `op` for `delay`; it is released (posted back to the completion port) when the time
/// is up, unless something released it before. Returns false when there is no timer (the
/// caller then releases it at once).
pub(crate) fn park(op: Arc<Op>, delay: Duration) -> bool {
    let Some(timer) = timer() else {
        return false;
    };
    let due = Instant::now() + delay;
    let mut q = timer.queue.lock().unwrap_or_else(PoisonError::into_inner);
    let seq = q.seq;
    q.seq = seq.wrapping_add(1);
    q.heap.push(Entry { due, seq, op });
    drop(q);
    timer.wake.notify_one();
    true
}

/// The timer thread: releases each parked request at its deadline.
fn run(timer: &'static Timer) {
    let mut q = timer.queue.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        let now = Instant::now();
        let next = q.heap.peek().map(|e| e.due);
        match next {
            None => {
                q = timer.wake.wait(q).unwrap_or_else(PoisonError::into_inner);
            }
            Some(due) if due > now => {
                q = timer
                    .wake
                    .wait_timeout(q, due - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            Some(_) => {
                if let Some(entry) = q.heap.pop() {
                    // Released without the queue's lock: posting takes the op's own state.
                    drop(q);
                    entry.op.release_parked();
                    drop(entry);
                    q = timer.queue.lock().unwrap_or_else(PoisonError::into_inner);
                }
            }
        }
    }
}
