//! The driver's statistics (STATS): what a connection's traffic does to the counters.

use std::time::Duration;

use anyhow::{ensure, Result};

use super::helpers::{at, json_ok, LOOPBACK4};
use super::Ctx;
use crate::peers;
use crate::scenarios::TRANSFER_TIMEOUT;
use crate::util::{json_u64, wine_path, write_random_file};

/// STATS counts the bytes of a connection exactly and the endpoint it opened.
pub(super) fn stats_reflect_traffic(cx: &Ctx<'_>) -> Result<()> {
    const BYTES: u64 = 256 << 10;
    let (mut server, port) = peers::echo_server(cx.layout, "echo-server-stats")?;
    let upload = cx.layout.scratch.join("stats-upload.bin");
    let echoed = cx.layout.scratch.join("stats-echo.bin");
    write_random_file(&upload, usize::try_from(BYTES)?)?;
    let before = json_ok(cx.wine, &["stats"])?;
    cx.wine.wskctl_ok(
        &[
            "tcp",
            "connect",
            &at(LOOPBACK4, port),
            "--send-file",
            &wine_path(&upload)?,
            "--recv-exact",
            &BYTES.to_string(),
            "--recv-to-file",
            &wine_path(&echoed)?,
        ],
        TRANSFER_TIMEOUT,
    )?;
    server.wait_event("closed", Duration::from_secs(5))?;
    let after = json_ok(cx.wine, &["stats"])?;
    let delta = |key: &str| -> Result<u64> {
        Ok(json_u64(&after, key)?.wrapping_sub(json_u64(&before, key)?))
    };
    for (key, expected) in [
        ("bytes_sent", BYTES),
        ("bytes_received", BYTES),
        ("endpoints_opened", 1),
    ] {
        let moved = delta(key)?;
        ensure!(
            moved == expected,
            "STATS {key} grew by {moved}, expected {expected} (before {before}, after {after})"
        );
    }
    ensure!(
        json_u64(&after, "endpoints_open")? == json_u64(&before, "endpoints_open")?,
        "the connection's endpoint is still counted open after wskctl exited: {after}"
    );
    // Not "advanced": under Wine, KeQueryInterruptTime counts milliseconds where Windows
    // counts 100 ns (docs/design.md), so uptime moves once every 10 s of real time.
    ensure!(
        json_u64(&after, "uptime_ms")? >= json_u64(&before, "uptime_ms")?,
        "uptime went backwards: {before} then {after}"
    );
    Ok(())
}
