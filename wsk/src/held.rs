//! What `wsk` holds right now: pool allocations and their bytes, IRPs, MDLs, provider
//! sockets and work items, counted where each is taken and given back.
//!
//! This module owns the counters (process-wide atomics) and their snapshot, [`Held`]. A
//! driver that closed everything it opened should read the same snapshot as before it
//! opened anything; a difference is a leak (or something still closing). Counting costs one
//! relaxed atomic add per allocation and per free; counters wrap rather than panic.

use core::sync::atomic::{AtomicU64, Ordering};

/// One counter per kind of thing held.
struct Counters {
    pool_allocations: AtomicU64,
    pool_bytes: AtomicU64,
    irps: AtomicU64,
    mdls: AtomicU64,
    sockets: AtomicU64,
    work_items: AtomicU64,
}

static HELD: Counters = Counters {
    pool_allocations: AtomicU64::new(0),
    pool_bytes: AtomicU64::new(0),
    irps: AtomicU64::new(0),
    mdls: AtomicU64::new(0),
    sockets: AtomicU64::new(0),
    work_items: AtomicU64::new(0),
};

/// What `wsk` holds at one moment (a snapshot of its counters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Held {
    /// Nonpaged pool allocations not yet freed.
    pub pool_allocations: u64,
    /// Bytes of those allocations (as requested).
    pub pool_bytes: u64,
    /// IRPs allocated for requests to WSK and not yet freed.
    pub irps: u64,
    /// MDLs allocated (for pool buffers) and not yet freed.
    pub mdls: u64,
    /// Provider sockets created or accepted and not yet closed.
    pub sockets: u64,
    /// Work items allocated and not yet freed.
    pub work_items: u64,
}

impl Held {
    /// The counters now. Each is read on its own: while other threads allocate, the
    /// snapshot is not one instant. Any IRQL.
    #[must_use]
    pub fn now() -> Self {
        Self {
            pool_allocations: HELD.pool_allocations.load(Ordering::Relaxed),
            pool_bytes: HELD.pool_bytes.load(Ordering::Relaxed),
            irps: HELD.irps.load(Ordering::Relaxed),
            mdls: HELD.mdls.load(Ordering::Relaxed),
            sockets: HELD.sockets.load(Ordering::Relaxed),
            work_items: HELD.work_items.load(Ordering::Relaxed),
        }
    }
}

/// Counts a pool allocation of `bytes` taken.
pub(crate) fn pool_taken(bytes: usize) {
    HELD.pool_allocations.fetch_add(1, Ordering::Relaxed);
    HELD.pool_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
}

/// Counts a pool allocation of `bytes` given back.
pub(crate) fn pool_given_back(bytes: usize) {
    HELD.pool_allocations.fetch_sub(1, Ordering::Relaxed);
    HELD.pool_bytes.fetch_sub(bytes as u64, Ordering::Relaxed);
}

/// Counts one IRP taken (`true`) or given back (`false`).
pub(crate) fn irp(taken: bool) {
    count(&HELD.irps, taken);
}

/// Counts one MDL taken (`true`) or given back (`false`).
pub(crate) fn mdl(taken: bool) {
    count(&HELD.mdls, taken);
}

/// Counts one provider socket taken (`true`) or closed (`false`).
pub(crate) fn socket(taken: bool) {
    count(&HELD.sockets, taken);
}

/// Counts one work item taken (`true`) or given back (`false`).
pub(crate) fn work_item(taken: bool) {
    count(&HELD.work_items, taken);
}

fn count(counter: &AtomicU64, taken: bool) {
    if taken {
        counter.fetch_add(1, Ordering::Relaxed);
    } else {
        counter.fetch_sub(1, Ordering::Relaxed);
    }
}
