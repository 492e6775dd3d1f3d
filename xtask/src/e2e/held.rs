//! The leak check after each case: what the driver's WSK library holds (HELD, shown by
//! `wskctl --json stats` under `held`) must come back to what it held before the case, once
//! the case closed everything it opened. A difference prints both sets of counters.
//!
//! This module owns the baseline and the comparison; the runner (`mod.rs`) calls
//! [`Baseline::read`] after the driver loads and [`Baseline::after_case`] after each case.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use super::helpers::json_ok;
use crate::util::json_u64;
use crate::wine::Wine;

/// How long closes started by a case may take to finish (they are partly asynchronous).
const SETTLE: Duration = Duration::from_secs(10);

/// Cases that unload and load the driver again: its counters start afresh.
const RELOADS: &[&str] = &[
    "unload_with_open_endpoints",
    "unload_with_hundreds_of_sockets",
    "unload_waits_for_held_requests",
    "a_held_resolve_holds_only_its_caller",
    "limits_from_parameters_hold_thousands",
    "fault_matrix",
];

/// The counters before a case, and the number of endpoints open then.
pub(super) struct Baseline {
    held: Value,
    endpoints_open: u64,
}

/// (endpoints open, HELD counters) now, as `wskctl --json stats` reports them.
pub(crate) fn now(wine: &Wine) -> Result<(u64, Value)> {
    let stats = json_ok(wine, &["stats"])?;
    let held = stats
        .get("held")
        .filter(|h| h.is_object())
        .cloned()
        .with_context(|| format!("`wskctl stats` reports no HELD counters: {stats}"))?;
    Ok((json_u64(&stats, "endpoints_open")?, held))
}

impl Baseline {
    /// What the loaded driver holds now.
    pub(super) fn read(wine: &Wine) -> Result<Self> {
        let (endpoints_open, held) = now(wine)?;
        Ok(Self {
            held,
            endpoints_open,
        })
    }

    /// After case `name` (which passed): waits until the counters are back to the
    /// baseline, or fails printing both. A case that reloads the driver or leaves endpoints
    /// open sets a new baseline instead.
    pub(super) fn after_case(&mut self, wine: &Wine, name: &str) -> Result<()> {
        let deadline = Instant::now() + SETTLE;
        loop {
            let (endpoints_open, held) = now(wine)?;
            if RELOADS.contains(&name) || endpoints_open != self.endpoints_open {
                *self = Self {
                    held,
                    endpoints_open,
                };
                return Ok(());
            }
            if held == self.held {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "leak: with {endpoints_open} endpoint(s) open as before, the driver holds \
                     {held} after the case, {} before (waited {}s)",
                    self.held,
                    SETTLE.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
