//! Per-thread state of the fake: IRQL, completion-routine nesting, work-item threads.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// `PASSIVE_LEVEL`.
pub const PASSIVE_LEVEL: u8 = 0;
/// `DISPATCH_LEVEL`.
pub const DISPATCH_LEVEL: u8 = 2;

thread_local! {
    static IRQL: Cell<u8> = const { Cell::new(PASSIVE_LEVEL) };
    static COMPLETION_DEPTH: Cell<usize> = const { Cell::new(0) };
    static WORK_ITEM_THREAD: Cell<bool> = const { Cell::new(false) };
    static TOKEN: u64 = {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        NEXT.fetch_add(1, Ordering::Relaxed)
    };
}

/// The calling thread's IRQL as the fake models it.
#[must_use]
pub fn current_irql() -> u8 {
    IRQL.with(Cell::get)
}

pub(crate) fn set_irql(irql: u8) {
    IRQL.with(|c| c.set(irql));
}

/// Raises the thread's IRQL to `irql` if it is lower; returns the previous IRQL.
pub(crate) fn raise_irql(irql: u8) -> u8 {
    let old = current_irql();
    set_irql(old.max(irql));
    old
}

/// Whether the calling thread is inside a completion routine called by `IofCompleteRequest`.
#[must_use]
pub fn in_completion_routine() -> bool {
    COMPLETION_DEPTH.with(Cell::get) > 0
}

/// Enters a completion routine; returns the new nesting depth.
pub(crate) fn enter_completion() -> usize {
    COMPLETION_DEPTH.with(|c| {
        let depth = c.get() + 1;
        c.set(depth);
        depth
    })
}

pub(crate) fn leave_completion() {
    COMPLETION_DEPTH.with(|c| c.set(c.get().saturating_sub(1)));
}

/// Whether the calling thread runs a work item (`IoQueueWorkItem`).
#[must_use]
pub fn on_work_item_thread() -> bool {
    WORK_ITEM_THREAD.with(Cell::get)
}

pub(crate) fn mark_work_item_thread() {
    WORK_ITEM_THREAD.with(|c| c.set(true));
}

/// A nonzero number unique to the calling thread (spin lock owner).
pub(crate) fn thread_token() -> u64 {
    TOKEN.with(|t| *t)
}

/// Records a violation if the caller may not block (IRQL above PASSIVE_LEVEL).
pub(crate) fn check_may_block(what: &str) {
    let irql = current_irql();
    if irql >= DISPATCH_LEVEL {
        crate::violation(format!(
            "{what} would block at IRQL {irql} (completion routine or spin lock held)"
        ));
    }
}
