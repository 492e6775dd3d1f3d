//! Timeouts in the kernel's relative 100-ns units.

use core::time::Duration;

/// A relative NT time (negative 100-ns intervals) for `KeWaitForSingleObject` and friends.
/// Saturates at the largest representable wait.
pub(crate) fn relative(d: Duration) -> i64 {
    let ticks = d.as_nanos() / 100;
    let ticks = i64::try_from(ticks).unwrap_or(i64::MAX);
    ticks.saturating_neg()
}

/// Time since boot (interrupt time, monotonic), for measuring durations. IRQL: any.
#[must_use]
pub fn uptime() -> Duration {
    // SAFETY: KeQueryInterruptTime has no preconditions.
    let ticks = unsafe { wsk_bindings::KeQueryInterruptTime() };
    Duration::from_nanos(ticks.saturating_mul(100))
}

/// Sleeps the calling thread. IRQL: PASSIVE_LEVEL.
pub fn sleep(d: Duration) {
    let mut interval = wsk_bindings::LARGE_INTEGER {
        QuadPart: relative(d),
    };
    // SAFETY: `interval` outlives the call; KernelMode, non-alertable waits are always valid
    // at PASSIVE_LEVEL, which the caller guarantees.
    let _ = unsafe {
        wsk_bindings::KeDelayExecutionThread(wsk_bindings::KERNEL_MODE, 0, &raw mut interval)
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_to_negative_hundreds_of_nanoseconds() {
        assert_eq!(relative(Duration::from_millis(1)), -10_000);
        assert_eq!(relative(Duration::ZERO), 0);
        assert_eq!(relative(Duration::MAX), -i64::MAX);
    }
}
