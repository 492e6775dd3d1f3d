//! Process kills during the run: worker processes (this program in `victim` mode, the same
//! workers as the threads) run beside the fuzzer's threads; each is killed with
//! `TerminateProcess` at a seeded random moment while it has requests in flight, and a new one
//! takes its place. The driver then sees the handles of a process that did not close them:
//! the process's end closes them, with whatever the process had pended on them.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{Shared, SLOT_HELD, SLOT_IN_FLIGHT, SLOT_PENDED, SLOT_READY, SLOT_REQUESTS};
use crate::gen::Rng;
use crate::win::Counters;

/// Mixed into the seed for the killer's own choices.
const KILL_SEED: u64 = 0x6b69_6c6c;
/// Worker threads in each worker process.
const PROCESS_THREADS: usize = 2;
/// A worker process is killed this long after its workers started, at most (seeded: from
/// 0 up to it).
const KILL_WITHIN_MS: usize = 1_500;
/// Requests in flight a worker process is killed with, at least (seeded: from 1 up to it;
/// its held RECVs count): past its moment the killer waits for that many, then for one,
/// then kills anyway.
const WANT_IN_FLIGHT: usize = 8;
/// How long past its moment the killer waits for the wanted count; the same again for one
/// request in flight; then the process is killed anyway (counted as killed idle).
const WAIT_IN_FLIGHT: Duration = Duration::from_secs(2);
/// A worker process must have its workers running within this.
const START_LIMIT: Duration = Duration::from_secs(30);
/// A worker process ends by itself after this many seconds (the parent is gone).
pub(crate) const PROCESS_LIFETIME_S: u64 = 120;

/// What the killer did.
#[derive(Default)]
pub(crate) struct Kills {
    /// Worker processes started.
    started: u64,
    /// Worker processes killed.
    killed: u64,
    /// Of those, killed with nothing in flight.
    idle: u64,
    /// Requests in flight in the killed processes at their kill, summed.
    in_flight: u64,
    /// The most one process had in flight at its kill.
    max_in_flight: u64,
    /// Requests the killed processes sent, and how many of them pended.
    requests: u64,
    pended: u64,
}

impl Kills {
    /// The summary line's fields (`"kills":...,`), empty when no process ran.
    pub(crate) fn json_fields(&self) -> String {
        if self.started == 0 {
            return String::new();
        }
        format!(
            "\"processes_started\":{},\"processes_killed\":{},\"killed_in_flight\":{},\
             \"killed_max_in_flight\":{},\"killed_idle\":{},\"process_requests\":{},\
             \"process_pended\":{},",
            self.started,
            self.killed,
            self.in_flight,
            self.max_in_flight,
            self.idle,
            self.requests,
            self.pended
        )
    }
}

/// One worker process and the counters it publishes.
struct Victim {
    number: u64,
    child: Child,
    counters: Counters,
    started: Instant,
    ready_at: Option<Instant>,
    kill_after: Duration,
    /// Requests in flight to kill it with, if they come within [`WAIT_IN_FLIGHT`].
    want: u64,
}

impl Victim {
    fn read(&self, slot: usize) -> u64 {
        self.counters
            .slot(slot)
            .map_or(0, |s| s.load(Ordering::Relaxed))
    }

    /// Its requests in flight: the held RECVs and each worker thread's.
    fn in_flight(&self) -> u64 {
        self.read(SLOT_HELD)
            + (SLOT_IN_FLIGHT..SLOT_IN_FLIGHT + PROCESS_THREADS)
                .map(|s| self.read(s))
                .sum::<u64>()
    }

    /// An error if the process ended without being killed.
    fn check_alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!(
                "worker process {} ended by itself ({status}) before it was killed; its \
                 output is above",
                self.number
            )),
            Err(err) => Err(format!("worker process {}: {err}", self.number)),
        }
    }
}

fn start(
    exe: &Path,
    seed: u64,
    number: u64,
    args: &[String],
    rng: &mut Rng,
) -> Result<Victim, String> {
    let name = format!("Local\\wskrs-fuzz-{}-{number}", std::process::id());
    let counters = Counters::create(&name).map_err(|e| format!("counter mapping `{name}`: {e}"))?;
    // Each process draws from its own seed (its threads from that + i).
    let seed = seed.wrapping_add(number.wrapping_mul(1_000_000));
    let child = Command::new(exe)
        .arg("victim")
        .arg(seed.to_string())
        .arg(&name)
        .arg(PROCESS_THREADS.to_string())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting worker process {number}: {e}"))?;
    let kill_after = Duration::from_millis(u64::try_from(rng.below(KILL_WITHIN_MS)).unwrap_or(0));
    let want = u64::try_from(1 + rng.below(WANT_IN_FLIGHT)).unwrap_or(1);
    Ok(Victim {
        number,
        child,
        counters,
        started: Instant::now(),
        ready_at: None,
        kill_after,
        want,
    })
}

/// Kills `victim` (TerminateProcess) and counts what it had in flight.
fn kill(mut victim: Victim, kills: &mut Kills) -> Result<(), String> {
    victim.check_alive()?;
    let in_flight = victim.in_flight();
    victim
        .child
        .kill()
        .map_err(|e| format!("TerminateProcess of worker process {}: {e}", victim.number))?;
    victim
        .child
        .wait()
        .map_err(|e| format!("waiting for worker process {}: {e}", victim.number))?;
    kills.killed += 1;
    kills.in_flight += in_flight;
    kills.max_in_flight = kills.max_in_flight.max(in_flight);
    if in_flight == 0 {
        kills.idle += 1;
    }
    kills.requests += victim.read(SLOT_REQUESTS);
    kills.pended += victim.read(SLOT_PENDED);
    Ok(())
}

/// Keeps `processes` worker processes running while the run lasts, killing each at its
/// moment; at the end kills the last ones. A process that ends by itself fails the run.
pub(super) fn killer(
    shared: &Shared,
    seed: u64,
    processes: usize,
    args: &[String],
) -> Result<Kills, String> {
    let exe = std::env::current_exe().map_err(|e| format!("this program's path: {e}"))?;
    let mut rng = Rng::new(seed ^ KILL_SEED);
    let mut victims: Vec<Victim> = Vec::new();
    let mut kills = Kills::default();
    while shared.more() {
        while victims.len() < processes {
            kills.started += 1;
            victims.push(start(&exe, seed, kills.started, args, &mut rng)?);
        }
        let mut index = 0;
        while let Some(victim) = victims.get_mut(index) {
            victim.check_alive()?;
            let Some(ready_at) = victim.ready_at else {
                if victim.read(SLOT_READY) == 1 {
                    victim.ready_at = Some(Instant::now());
                } else if victim.started.elapsed() > START_LIMIT {
                    return Err(format!(
                        "worker process {} did not start its workers within {} s",
                        victim.number,
                        START_LIMIT.as_secs()
                    ));
                }
                index += 1;
                continue;
            };
            let late = ready_at.elapsed().saturating_sub(victim.kill_after);
            let in_flight = victim.in_flight();
            if ready_at.elapsed() >= victim.kill_after
                && (in_flight >= victim.want
                    || (in_flight > 0 && late >= WAIT_IN_FLIGHT)
                    || late >= 2 * WAIT_IN_FLIGHT)
            {
                kill(victims.swap_remove(index), &mut kills)?;
                continue;
            }
            index += 1;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    for victim in victims {
        kill(victim, &mut kills)?;
    }
    Ok(kills)
}
