//! What the Wine processes spend per operation: CPU time and context switches of every
//! process of the prefix (wineserver, the driver host `winedevice.exe`, a Winsock server),
//! read from `/proc` before and after a measurement.
//!
//! Unlike a time, these counts hardly move when other work shares the CPU, so they compare
//! two providers (or a provider and Winsock) on a loaded machine: a path that wakes more
//! threads, or asks Wine's server more often, shows it here whatever the load.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use crate::wine::Wine;

/// What one thread has spent so far.
#[derive(Clone, Copy, Default)]
struct Counters {
    /// Time on a CPU (`/proc/PID/task/TID/schedstat`, first field), ns.
    cpu_ns: u64,
    /// Voluntary and involuntary context switches (`/proc/PID/task/TID/status`).
    switches: u64,
}

/// The counters of every thread of a set of processes, by thread id.
pub(super) struct Cost(BTreeMap<u32, Counters>);

impl Cost {
    /// The Wine processes of `wine`'s prefix now.
    pub(super) fn of_wine(wine: &Wine) -> Self {
        let mut threads = BTreeMap::new();
        for (pid, _) in wine.processes() {
            let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
                continue;
            };
            for task in tasks.flatten() {
                if let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) {
                    threads.insert(tid, Counters::of_task(&task.path()));
                }
            }
        }
        Self(threads)
    }

    /// Per operation since `before`, for `ops` operations: (CPU µs, context switches), over
    /// the threads that lived through both readings (a thread that ended in between took its
    /// counts with it; one that started, a program starting, is not the work measured).
    pub(super) fn per_op_since(&self, before: &Self, ops: u64) -> (f64, f64) {
        let (mut cpu_ns, mut switches) = (0u64, 0u64);
        for (tid, now) in &self.0 {
            if let Some(then) = before.0.get(tid) {
                cpu_ns = cpu_ns.saturating_add(now.cpu_ns.saturating_sub(then.cpu_ns));
                switches = switches.saturating_add(now.switches.saturating_sub(then.switches));
            }
        }
        let ops = super::count_f64(ops.max(1));
        (
            super::count_f64(cpu_ns) / 1e3 / ops,
            super::count_f64(switches) / ops,
        )
    }
}

impl Counters {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn this_thread() -> (u32, Counters) {
        let tid = fs::read_link("/proc/thread-self")
            .ok()
            .and_then(|p| p.file_name()?.to_str()?.parse().ok())
            .unwrap_or(0);
        (tid, Counters::of_task(Path::new("/proc/thread-self")))
    }

    #[test]
    fn a_thread_has_counters_and_a_difference_per_operation() {
        let (tid, first) = this_thread();
        // Work that takes CPU time and at least one context switch (the sleep).
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_add(std::hint::black_box(i));
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
        let (_, second) = this_thread();
        assert!(second.cpu_ns > first.cpu_ns, "no CPU time counted ({x})");
        assert!(
            second.switches > first.switches,
            "no context switch counted"
        );
        let before = Cost(BTreeMap::from([(tid, first), (tid + 1, second)]));
        let after = Cost(BTreeMap::from([(tid, second), (tid + 2, second)]));
        // Only the thread in both readings counts.
        let (cpu, switches) = after.per_op_since(&before, 2);
        let expected = super::super::count_f64(second.cpu_ns - first.cpu_ns) / 1e3 / 2.0;
        assert!((cpu - expected).abs() < 1e-9, "{cpu} vs {expected}");
        assert!(switches >= 0.5);
        let (cpu, switches) = before.per_op_since(&after, 2);
        assert!(cpu == 0.0 && switches == 0.0, "a decrease reads 0");
    }
}
