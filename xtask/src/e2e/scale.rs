//! Teardown at scale (issue 13 item 5): hundreds of sockets and pended requests torn down at
//! once, by closing their handles and by unloading the driver under them. The per-handle
//! quotas (64 endpoints, 32 pended requests) spread them over several handles of one process
//! (`wskrs-fuzz.exe scale`, tests/fuzz/src/scale.rs).

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use serde_json::Value;

use super::Ctx;
use crate::util::{fmt_duration, free_port, json_u64, parse_json_output};
use crate::wine::{SERVICE, WSKCTL_TIMEOUT};

/// Teardown of everything must finish within this.
const TEARDOWN_LIMIT: Duration = Duration::from_secs(5);

/// Handles and listeners per handle of the close case: 192 listeners with an ACCEPT each.
const CLOSE_HANDLES: u64 = 6;
/// Listeners per handle of the close case (the pended-request quota is 32).
const CLOSE_PER_HANDLE: u64 = 32;

/// Handles and detached listeners per handle of the unload case: 192 sockets.
const DETACH_HANDLES: u64 = 4;
/// Detached listeners per handle of the unload case (the endpoint quota is 64).
const DETACH_PER_HANDLE: u64 = 48;

/// Runs `wskrs-fuzz.exe scale MODE HANDLES PER_HANDLE FIRST_PORT` and returns its JSON line.
fn scale(cx: &Ctx<'_>, mode: &str, handles: u64, per_handle: u64) -> Result<Value> {
    let exe = crate::fuzz::build_fuzzer(cx.layout)?;
    let exe = exe.to_str().context("the fuzzer's path is not UTF-8")?;
    // Listeners need explicit ports (port 0 is refused): from a free port up, the fuzzer
    // skipping those in use.
    let first_port = free_port()?.clamp(10_000, 60_000);
    let out = cx.wine.run(
        "wine",
        &[
            exe,
            "scale",
            mode,
            &handles.to_string(),
            &per_handle.to_string(),
            &first_port.to_string(),
        ],
        WSKCTL_TIMEOUT,
    )?;
    ensure!(
        out.success(),
        "wskrs-fuzz scale {mode}: {}",
        out.combined().trim()
    );
    parse_json_output(&out.stdout)
}

/// 192 listeners on 6 handles, an ACCEPT parked on each; the handles are closed at once:
/// every ACCEPT completes with STATUS_CANCELLED within 5 s of the first close, and (the
/// runner's check after the case) every socket, IRP and allocation is given back.
pub(super) fn close_handles_with_hundreds_pended(cx: &Ctx<'_>) -> Result<()> {
    let report = scale(cx, "close", CLOSE_HANDLES, CLOSE_PER_HANDLE)?;
    let expected = CLOSE_HANDLES * CLOSE_PER_HANDLE;
    ensure!(
        json_u64(&report, "listeners")? == expected && json_u64(&report, "pended")? == expected,
        "not every listener had its ACCEPT pending: {report}"
    );
    let cancelled = report["statuses"]["STATUS_CANCELLED"].as_u64().unwrap_or(0);
    ensure!(
        cancelled == expected,
        "{cancelled} of {expected} ACCEPTs completed with STATUS_CANCELLED: {report}"
    );
    let took = Duration::from_millis(json_u64(&report, "completed_ms")?);
    ensure!(
        took < TEARDOWN_LIMIT,
        "the {expected} ACCEPTs completed {} after their handles' close (limit 5 s)",
        fmt_duration(took)
    );
    let info = parse_json_output(
        &cx.wine
            .wskctl_ok(&["--json", "info"], WSKCTL_TIMEOUT)?
            .stdout,
    )?;
    crate::util::say(&format!(
        "  {expected} pended ACCEPTs on {CLOSE_HANDLES} handles completed {} after the closes; \
         {} endpoint(s) left",
        fmt_duration(took),
        json_u64(&info, "endpoints")?
    ));
    Ok(())
}

/// 192 detached listeners (their handles closed); `wskctl driver stop` unloads the driver
/// under them within 5 s, and the reloaded driver starts with no endpoint.
pub(super) fn unload_with_hundreds_of_sockets(cx: &Ctx<'_>) -> Result<()> {
    let report = scale(cx, "detach", DETACH_HANDLES, DETACH_PER_HANDLE)?;
    let expected = DETACH_HANDLES * DETACH_PER_HANDLE;
    ensure!(
        json_u64(&report, "listeners")? == expected,
        "listeners opened: {report}"
    );
    let info = parse_json_output(
        &cx.wine
            .wskctl_ok(&["--json", "info"], WSKCTL_TIMEOUT)?
            .stdout,
    )?;
    let open = json_u64(&info, "endpoints")?;
    ensure!(
        open >= expected,
        "{open} endpoints open after {expected} detached listeners"
    );
    let stop = cx.wine.wskctl_ok(
        &["driver", "stop", "--name", SERVICE],
        Duration::from_secs(30),
    )?;
    ensure!(
        stop.elapsed < TEARDOWN_LIMIT,
        "`wskctl driver stop` took {} with {open} endpoints open (limit 5 s)",
        fmt_duration(stop.elapsed)
    );
    cx.wine
        .wskctl_ok(&["driver", "start", "--name", SERVICE], WSKCTL_TIMEOUT)
        .context("reloading the driver")?;
    let info = parse_json_output(
        &cx.wine
            .wskctl_ok(&["--json", "info"], WSKCTL_TIMEOUT)?
            .stdout,
    )?;
    ensure!(
        json_u64(&info, "endpoints")? == 0,
        "the reloaded driver reports endpoints: {info}"
    );
    crate::util::say(&format!(
        "  the driver unloaded in {} with {open} endpoints open",
        fmt_duration(stop.elapsed)
    ));
    Ok(())
}
