//! Scale: hundreds of sockets and pended requests torn down at once, by closing their handles
//! and by unloading the driver under them (issue 13 item 5; the default per-handle quotas,
//! 64 endpoints and 32 pended requests, spread them over several handles of one process:
//! `wskrs-fuzz.exe scale`, tests/fuzz/src/scale.rs); and the driver's limits raised through
//! its registry parameters to hold 10,000 idle connections in an in-kernel listener and 1,000
//! user-driven ones (issue 11's scale item).

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use serde_json::Value;

use super::helpers::{close, json_ok, listen, wait_entry};
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

/// User-driven connections of [`limits_from_parameters_hold_thousands`].
const USER_CONNECTIONS: u64 = 1_000;
/// Idle connections an in-kernel echo listener holds in [`limits_from_parameters_hold_thousands`].
const IDLE_CONNECTIONS: u64 = 10_000;

/// Sets the driver's parameters (`wskctl driver parameters ARGS`) and reloads it.
fn reload_with_parameters(cx: &Ctx<'_>, args: &[&str]) -> Result<()> {
    let mut full = vec!["driver", "parameters", "--name", SERVICE];
    full.extend_from_slice(args);
    cx.wine.wskctl_ok(&full, WSKCTL_TIMEOUT)?;
    cx.wine.wskctl_ok(
        &["driver", "stop", "--name", SERVICE],
        Duration::from_secs(60),
    )?;
    cx.wine
        .wskctl_ok(&["driver", "start", "--name", SERVICE], WSKCTL_TIMEOUT)?;
    Ok(())
}

/// The limits the running driver applied (`wskctl --json stats`, `limits`).
fn applied_limits(cx: &Ctx<'_>) -> Result<(Value, Value)> {
    let stats = json_ok(cx.wine, &["stats"])?;
    let limits = stats.get("limits").cloned().unwrap_or(Value::Null);
    Ok((stats, limits))
}

/// The driver's limits come from its registry parameters: with `MaxEndpoints` 2048 and
/// `EndpointsPerHandle` 1500 (set by `wskctl driver parameters`, read when the driver loads),
/// one handle opens 1,000 user-driven connections to a Linux echo server, an in-kernel echo
/// listener with `--max-connections 10000` serves 10,000 idle Linux clients (each echoes a
/// byte when connected and again after all are held), the memory per idle connection is
/// measured from HELD, the clients go and the sessions end, and the driver unloads within 5 s
/// with the 1,000 connections open. The parameters are then removed: the reloaded driver
/// applies the defaults again.
pub(super) fn limits_from_parameters_hold_thousands(cx: &Ctx<'_>) -> Result<()> {
    reload_with_parameters(
        cx,
        &[
            "--set",
            "MaxEndpoints=2048",
            "--set",
            "EndpointsPerHandle=1500",
        ],
    )?;
    let result = hold_thousands(cx);
    // Back to the defaults whatever happened.
    let restored = reload_with_parameters(
        cx,
        &["--unset", "MaxEndpoints", "--unset", "EndpointsPerHandle"],
    );
    result?;
    restored?;
    let (_, limits) = applied_limits(cx)?;
    ensure!(
        json_u64(&limits, "max_endpoints")? == 4_096 && json_u64(&limits, "quota_endpoints")? == 64,
        "after removing the parameters the driver applies {limits}, expected the defaults"
    );
    Ok(())
}

fn hold_thousands(cx: &Ctx<'_>) -> Result<()> {
    let (_, limits) = applied_limits(cx)?;
    ensure!(
        json_u64(&limits, "max_endpoints")? == 2_048
            && json_u64(&limits, "quota_endpoints")? == 1_500
            && json_u64(&limits, "max_connections_per_listener")? == 16_384,
        "the driver applies {limits}, not the parameters set"
    );
    let connected_ms = user_driven_connections(cx)?;
    idle_connections(cx, connected_ms)?;
    unload_with_connections_open(cx)
}

/// 1,000 user-driven connections on one handle, detached and left open; data on the first
/// and the last. Returns the milliseconds the connects took.
fn user_driven_connections(cx: &Ctx<'_>) -> Result<u64> {
    let (_server, port) = crate::peers::echo_server(cx.layout, "scale-echo-server")?;
    let exe = crate::fuzz::build_fuzzer(cx.layout)?;
    let exe = exe.to_str().context("the fuzzer's path is not UTF-8")?;
    let out = cx.wine.run(
        "wine",
        &[
            exe,
            "scale",
            "connect",
            &USER_CONNECTIONS.to_string(),
            &format!("127.0.0.1:{port}"),
        ],
        WSKCTL_TIMEOUT,
    )?;
    ensure!(
        out.success(),
        "wskrs-fuzz scale connect: {}",
        out.combined().trim()
    );
    let report = parse_json_output(&out.stdout)?;
    ensure!(
        json_u64(&report, "connections")? == USER_CONNECTIONS,
        "connections opened: {report}"
    );
    // Data on the first and the last of them, from another process of the same user.
    let first = json_u64(&report, "first_id")?;
    for id in [first, first + USER_CONNECTIONS - 1] {
        let id = id.to_string();
        cx.wine
            .wskctl_ok(&["send", &id, "--text", "ping"], WSKCTL_TIMEOUT)?;
        let got = cx.wine.wskctl_ok(
            &["recv", &id, "--exact", "4", "--timeout-ms", "5000"],
            WSKCTL_TIMEOUT,
        )?;
        ensure!(
            got.stdout.contains("ping"),
            "connection {id} did not echo: {}",
            got.combined()
        );
    }
    json_u64(&report, "connected_ms")
}

/// 10,000 idle connections served by one in-kernel listener, checked, measured, closed.
fn idle_connections(cx: &Ctx<'_>, connected_ms: u64) -> Result<()> {
    let (_, held_before) = crate::e2e::held::now(cx.wine)?;
    let listen_port = free_port()?;
    let listener = listen(
        cx.wine,
        &format!("127.0.0.1:{listen_port}"),
        "echo",
        &[
            "--max-connections",
            &IDLE_CONNECTIONS.to_string(),
            "--backlog",
            "512",
        ],
    )?;
    let mut clients = crate::peers::Peer::spawn(
        cx.layout,
        "idle_clients.py",
        "scale-idle-clients",
        &[
            "--port".into(),
            listen_port.to_string(),
            "--count".into(),
            IDLE_CONNECTIONS.to_string(),
        ],
    )?;
    let held = clients.wait_for("all idle clients", Duration::from_secs(600), |e| {
        crate::peers::event_is(e, "held") || crate::peers::event_is(e, "error")
    })?;
    ensure!(
        crate::peers::event_is(&held, "held"),
        "the idle clients: {held}"
    );
    let entry = wait_entry(
        cx.wine,
        listener,
        Duration::from_secs(30),
        "10,000 active",
        |e| e.get("active").and_then(Value::as_u64) == Some(IDLE_CONNECTIONS),
    )?;
    let (stats, _) = applied_limits(cx)?;
    let (_, held_now) = crate::e2e::held::now(cx.wine)?;
    let per_connection = json_u64(&held_now, "pool_bytes")?
        .saturating_sub(json_u64(&held_before, "pool_bytes")?)
        / IDLE_CONNECTIONS;
    clients.send_line("check")?;
    let checked = clients.wait_for("the second echo", Duration::from_secs(300), |e| {
        crate::peers::event_is(e, "checked") || crate::peers::event_is(e, "error")
    })?;
    ensure!(
        crate::peers::event_is(&checked, "checked") && json_u64(&checked, "closed")? == 0,
        "held connections no longer echo: {checked}"
    );
    crate::util::say(&format!(
        "  {USER_CONNECTIONS} user-driven connections in {} ms; {IDLE_CONNECTIONS} idle \
         connections held in {} s ({} endpoints open, listener {entry}); {per_connection} \
         bytes of pool per idle connection",
        connected_ms,
        held["seconds"],
        json_u64(&stats, "endpoints_open")?,
    ));
    // The clients go; every session ends.
    clients.send_line("close")?;
    clients.wait_event("closed", Duration::from_secs(120))?;
    wait_entry(
        cx.wine,
        listener,
        Duration::from_secs(60),
        "no session left",
        |e| e.get("active").and_then(Value::as_u64) == Some(0),
    )?;
    close(cx.wine, listener)
}

/// Unload with the 1,000 user-driven connections open, then load again.
fn unload_with_connections_open(cx: &Ctx<'_>) -> Result<()> {
    let stop = cx.wine.wskctl_ok(
        &["driver", "stop", "--name", SERVICE],
        Duration::from_secs(60),
    )?;
    ensure!(
        stop.elapsed < TEARDOWN_LIMIT,
        "`wskctl driver stop` took {} with {USER_CONNECTIONS} connections open (limit 5 s)",
        fmt_duration(stop.elapsed)
    );
    crate::util::say(&format!(
        "  the driver unloaded in {} with {USER_CONNECTIONS} connections open",
        fmt_duration(stop.elapsed)
    ));
    cx.wine
        .wskctl_ok(&["driver", "start", "--name", SERVICE], WSKCTL_TIMEOUT)?;
    Ok(())
}
