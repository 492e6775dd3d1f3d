//! What the Wine processes spend per operation: CPU time and context switches of every
//! process of the prefix (wineserver, the driver host `winedevice.exe`, a Winsock server),
//! read from `/proc` before and after a measurement.
//!
//! Unlike a time, these counts hardly move when other work shares the CPU, so they compare
//! two providers (or a provider and Winsock) on a loaded machine: a path that wakes more
//! threads, or asks Wine's server more often, shows it here whatever the load.

use std::fs;
use std::path::Path;

use crate::wine::Wine;

/// Totals over every thread of a set of processes.
#[derive(Clone, Copy, Default)]
pub(super) struct Cost {
    /// Time on a CPU (`/proc/PID/task/TID/schedstat`, first field), ns.
    cpu_ns: u64,
    /// Voluntary and involuntary context switches (`/proc/PID/task/TID/status`).
    switches: u64,
}

impl Cost {
    /// The Wine processes of `wine`'s prefix now.
    pub(super) fn of_wine(wine: &Wine) -> Self {
        let mut total = Self::default();
        for (pid, _) in wine.processes() {
            let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
                continue;
            };
            for task in tasks.flatten() {
                let one = Self::of_task(&task.path());
                total.cpu_ns = total.cpu_ns.saturating_add(one.cpu_ns);
                total.switches = total.switches.saturating_add(one.switches);
            }
        }
        total
    }

    fn of_task(dir: &Path) -> Self {
        let cpu_ns = fs::read_to_string(dir.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        let switches = fs::read_to_string(dir.join("status"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("ctxt_switches:"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum();
        Self { cpu_ns, switches }
    }

    /// Per operation since `before`, for `ops` operations: (CPU µs, context switches). A
    /// thread that ended in between takes its counts with it, so a difference is never
    /// negative (it reads 0 instead).
    pub(super) fn per_op_since(self, before: Self, ops: u64) -> (f64, f64) {
        let ops = super::count_f64(ops.max(1));
        (
            super::count_f64(self.cpu_ns.saturating_sub(before.cpu_ns)) / 1e3 / ops,
            super::count_f64(self.switches.saturating_sub(before.switches)) / ops,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_counters_and_a_difference_per_operation() {
        let dir = Path::new("/proc/thread-self");
        let first = Cost::of_task(dir);
        // Work that takes CPU time and at least one context switch (the sleep).
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_add(std::hint::black_box(i));
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = Cost::of_task(dir);
        assert!(second.cpu_ns > first.cpu_ns, "no CPU time counted ({x})");
        assert!(second.switches > first.switches, "no context switch counted");
        let (cpu, switches) = second.per_op_since(first, 2);
        assert!(cpu > 0.0 && switches >= 0.5);
        let (cpu, switches) = first.per_op_since(second, 2);
        assert!(cpu == 0.0 && switches == 0.0, "a decrease reads 0");
    }
}
