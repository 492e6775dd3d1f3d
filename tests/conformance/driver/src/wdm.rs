//! The WDM rules for a driver that completes IRPs it did not create, judged on every raw
//! request the checks make: each completion routine records what it saw (`raw::Seen`), each
//! request's observation is judged here, and [`report`] turns the tallies into one record per
//! rule (`wdm.*`) at the end of the raw checks.
//!
//! The rules (Microsoft's "Completing IRPs", "Using IoMarkIrpPending", "Cancel routines"):
//! - a dispatch routine that returns `STATUS_PENDING` has marked the IRP pending, and one that
//!   returns anything else has completed it without the mark (`Irp->PendingReturned`, which
//!   `IoCompleteRequest` copies from the completing driver's stack location, agrees with the
//!   returned value);
//! - `IoStatus` is set before `IoCompleteRequest` (the armed IRP carries a marker status);
//! - the cancel routine is cleared (`IoSetCancelRoutine(Irp, NULL)`) before completion;
//! - the IRP is not touched after it was completed (markers the completion routine writes
//!   into `IoStatus` must still be there when the IRP is armed again or freed);
//! - completion runs at IRQL <= DISPATCH_LEVEL.

use core::sync::atomic::{AtomicU32, Ordering};

use wsk::{NtStatus, SpinLock};
use wskrs_conformance_abi::Outcome;

use crate::raw::{Seen, ARMED_INFO, ARMED_STATUS};
use crate::report::{detail, Report, St};

/// `DISPATCH_LEVEL`.
const DISPATCH_LEVEL: u8 = 2;

/// One rule's tally.
struct Tally {
    judged: AtomicU32,
    broken: AtomicU32,
    /// The first request that broke the rule: (WSK function, returned, IRP status).
    first: SpinLock<Option<(&'static str, NtStatus, NtStatus, u32)>>,
}

impl Tally {
    const fn new() -> Self {
        Self {
            judged: AtomicU32::new(0),
            broken: AtomicU32::new(0),
            first: SpinLock::new(None),
        }
    }

    fn record(
        &self,
        ok: bool,
        what: &'static str,
        returned: NtStatus,
        status: NtStatus,
        extra: u32,
    ) {
        self.judged.fetch_add(1, Ordering::AcqRel);
        if !ok {
            self.broken.fetch_add(1, Ordering::AcqRel);
            let mut first = self.first.lock();
            if first.is_none() {
                *first = Some((what, returned, status, extra));
            }
        }
    }
}

static PENDING: Tally = Tally::new();
static IO_STATUS: Tally = Tally::new();
static CANCEL_ROUTINE: Tally = Tally::new();
static UNTOUCHED: Tally = Tally::new();
static IRQL: Tally = Tally::new();

/// Judges one completed request against the rules that its completion routine can see.
pub(crate) fn judge(what: &'static str, returned: NtStatus, seen: &Seen) {
    let marked = seen.pending_returned;
    PENDING.record(
        marked == (returned == NtStatus::PENDING),
        what,
        returned,
        seen.status,
        u32::from(marked),
    );
    IO_STATUS.record(
        seen.status != ARMED_STATUS && seen.info != ARMED_INFO,
        what,
        returned,
        seen.status,
        0,
    );
    CANCEL_ROUTINE.record(!seen.cancel_routine, what, returned, seen.status, 0);
    IRQL.record(
        seen.irql <= DISPATCH_LEVEL,
        what,
        returned,
        seen.status,
        u32::from(seen.irql),
    );
}

/// Records whether a completed IRP still carried the completion routine's markers.
pub(crate) fn untouched(what: &'static str, intact: bool) {
    UNTOUCHED.record(intact, what, NtStatus::SUCCESS, NtStatus::SUCCESS, 0);
}

/// What a rule's FAIL detail shows of its first offender.
#[derive(Clone, Copy)]
enum Shown {
    Pending,
    Statuses,
    Request,
    Irql,
}

/// One record per rule. A rule no request reached is UNSUPPORTED (nothing was completed).
pub(crate) fn report(report: &mut Report<'_>) {
    let rules: [(&str, &Tally, &str, Shown); 5] = [
        ("wdm.pending_returned_iff_status_pending", &PENDING, "PendingReturned TRUE exactly when the call returned STATUS_PENDING", Shown::Pending),
        ("wdm.io_status_set_before_completion", &IO_STATUS, "IoStatus set before IoCompleteRequest", Shown::Statuses),
        ("wdm.cancel_routine_cleared_before_completion", &CANCEL_ROUTINE, "no cancel routine left on a completed IRP", Shown::Statuses),
        ("wdm.irp_untouched_after_completion", &UNTOUCHED, "IoStatus unchanged after the completion routine ran", Shown::Request),
        ("wdm.completion_at_most_dispatch_level", &IRQL, "completion routine ran at IRQL <= DISPATCH_LEVEL (under Wine always PASSIVE_LEVEL: no IRQL)", Shown::Irql),
    ];
    for (name, tally, rule, shown) in rules {
        let judged = tally.judged.load(Ordering::Acquire);
        let broken = tally.broken.load(Ordering::Acquire);
        let first = *tally.first.lock();
        match first {
            _ if judged == 0 => report.push(
                name,
                Outcome::Unsupported,
                NtStatus::SUCCESS,
                &detail!("needs completed requests: none"),
            ),
            None => report.push(
                name,
                Outcome::Pass,
                NtStatus::SUCCESS,
                &detail!("{judged} requests: {rule}"),
            ),
            Some((what, returned, status, extra)) => {
                let text = match shown {
                    Shown::Pending => {
                        detail!("{broken}/{judged} broke it; first {what}: ret {}, IRP {}, PendingReturned {}", St(returned), St(status), extra != 0)
                    }
                    Shown::Irql => {
                        detail!("{broken}/{judged} broke it; first {what}: IRQL {extra}")
                    }
                    Shown::Request => detail!("{broken}/{judged} broke it; first {what}"),
                    Shown::Statuses => detail!(
                        "{broken}/{judged} broke it; first {what}: ret {}, IRP {}",
                        St(returned),
                        St(status)
                    ),
                };
                report.push(name, Outcome::Fail, status, &text);
            }
        }
    }
}
