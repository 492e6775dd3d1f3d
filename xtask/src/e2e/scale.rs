//! Scale: hundreds of sockets and pended requests torn down at once, by closing their handles
//! and by unloading the driver under them (issue 13 item 5; the default per-handle quotas,
//! 64 endpoints and 32 pended requests, spread them over several handles of one process:
//! `wskrs-fuzz.exe scale`, tests/fuzz/src/scale.rs); and the driver's limits raised through
//! its registry parameters to hold 10,000 idle connections in an in-kernel listener and 1,000
//! user-driven ones (issue 11's scale item), with, under those raised limits, a handle closed
//! with 416 data requests pended and the unload with 1,000 connections open and 1,016 data
//! requests pended (`wskrs-fuzz.exe scale pend`).

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

/// The driver's limits come from its registry parameters: with `MaxEndpoints` 2048,
/// `EndpointsPerHandle` 1500, `PendedRequestsPerHandle` 2048 and `LockedBytesPerHandle` 128
/// MiB (set by `wskctl driver parameters`, read when the driver loads), one handle opens 1,000
/// user-driven connections to a Linux echo server, an in-kernel echo listener with
/// `--max-connections 10000` serves 10,000 idle Linux clients (each echoes a byte when
/// connected and again after all are held), the memory per idle connection is measured from
/// HELD, the clients go and the sessions end; a handle is closed with 416 data requests
/// pended ([`close_with_pended_data`]), and the driver unloads within 5 s with the 1,000
/// connections open and 1,016 data requests pended ([`unload_with_connections_open`]). The
/// parameters are then removed: the reloaded driver applies the defaults again.
pub(super) fn limits_from_parameters_hold_thousands(cx: &Ctx<'_>) -> Result<()> {
    reload_with_parameters(
        cx,
        &[
            "--set",
            "MaxEndpoints=2048",
            "--set",
            "EndpointsPerHandle=1500",
            "--set",
            "PendedRequestsPerHandle=2048",
            "--set",
            "LockedBytesPerHandle=134217728",
        ],
    )?;
    let result = hold_thousands(cx);
    // Back to the defaults whatever happened.
    let restored = reload_with_parameters(
        cx,
        &[
            "--unset",
            "MaxEndpoints",
            "--unset",
            "EndpointsPerHandle",
            "--unset",
            "PendedRequestsPerHandle",
            "--unset",
            "LockedBytesPerHandle",
        ],
    );
    result?;
    restored?;
    let (_, limits) = applied_limits(cx)?;
    ensure!(
        json_u64(&limits, "max_endpoints")? == 4_096
            && json_u64(&limits, "quota_endpoints")? == 64
            && json_u64(&limits, "quota_pended")? == 32
            && json_u64(&limits, "quota_locked_bytes")? == 16 << 20,
        "after removing the parameters the driver applies {limits}, expected the defaults"
    );
    Ok(())
}

fn hold_thousands(cx: &Ctx<'_>) -> Result<()> {
    let (_, limits) = applied_limits(cx)?;
    ensure!(
        json_u64(&limits, "max_endpoints")? == 2_048
            && json_u64(&limits, "quota_endpoints")? == 1_500
            && json_u64(&limits, "max_connections_per_listener")? == 16_384
            && json_u64(&limits, "quota_pended")? == 2_048
            && json_u64(&limits, "quota_locked_bytes")? == 128 << 20,
        "the driver applies {limits}, not the parameters set"
    );
    // The echo server lives until the unload: its connections must stay open (a RECV on a
    // connection it closed would end at once).
    let (_server, port) = crate::peers::echo_server(cx.layout, "scale-echo-server")?;
    let (connected_ms, first_id) = user_driven_connections(cx, port)?;
    idle_connections(cx, connected_ms)?;
    let (mut sink, sink_port) = holding_sink(cx)?;
    close_with_pended_data(cx, port, sink_port)?;
    let unloaded = unload_with_connections_open(cx, first_id, sink_port);
    // The held SENDs' connections are gone with the driver; the sink may go.
    let _ = sink.send_line("release");
    unloaded
}

/// A Linux peer that accepts and reads nothing (`sink_server.py --hold`, 64 KiB receive
/// buffers): SENDs to it stay pended.
fn holding_sink(cx: &Ctx<'_>) -> Result<(crate::peers::Peer, u16)> {
    let mut sink = crate::peers::Peer::spawn(
        cx.layout,
        "sink_server.py",
        "scale-holding-sink",
        &[
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            "0".into(),
            "--hold".into(),
        ],
    )?;
    let ready = sink.wait_event("listening", Duration::from_secs(10))?;
    let port = u16::try_from(json_u64(&ready, "port")?).context("the sink's port")?;
    Ok((sink, port))
}

/// Connections of [`close_with_pended_data`], each with a RECV pended.
const CLOSE_RECVS: u64 = 400;
/// SENDs to a peer that does not read, pended beside the RECVs (at the close and the unload).
const HELD_SENDS: u64 = 16;

/// Statuses a pended data request may end with when its handle closes or the driver unloads
/// under it: cancelled, or its socket closed under it (the provider's words for that).
const TEARDOWN_STATUSES: &[&str] = &[
    "STATUS_CANCELLED",
    "STATUS_CONNECTION_ABORTED",
    "STATUS_LOCAL_DISCONNECT",
    "STATUS_FILE_CLOSED",
];

/// Checks a `scale pend` report: every request pended, every one completed with a teardown
/// status within 5 s. Returns the time to the last completion.
fn check_pended(report: &Value, recvs: u64, what: &str) -> Result<Duration> {
    ensure!(
        json_u64(report, "recvs")? == recvs && json_u64(report, "pended")? == recvs + HELD_SENDS,
        "not every RECV and SEND pended: {report}"
    );
    let statuses = report["statuses"]
        .as_object()
        .context("no statuses in the report")?;
    let other: Vec<&String> = statuses
        .keys()
        .filter(|k| !TEARDOWN_STATUSES.contains(&k.as_str()))
        .collect();
    ensure!(
        other.is_empty(),
        "pended requests ended with {other:?} at {what} (expected {TEARDOWN_STATUSES:?}): {report}"
    );
    let took = Duration::from_millis(json_u64(report, "completed_ms")?);
    ensure!(
        took < TEARDOWN_LIMIT,
        "the pended requests completed {} after {what} began (limit 5 s): {report}",
        fmt_duration(took)
    );
    Ok(took)
}

/// Runs `wskrs-fuzz.exe scale pend ARGS`; returns its JSON line.
fn scale_pend(cx: &Ctx<'_>, args: &[&str]) -> Result<Value> {
    let exe = crate::fuzz::build_fuzzer(cx.layout)?;
    let exe = exe.to_str().context("the fuzzer's path is not UTF-8")?;
    let mut full = vec![exe, "scale", "pend"];
    full.extend_from_slice(args);
    let out = cx.wine.run("wine", &full, Duration::from_secs(300))?;
    ensure!(
        out.success(),
        "wskrs-fuzz scale pend {}: {}",
        args.join(" "),
        out.combined().trim()
    );
    parse_json_output(&out.stdout)
}

/// A handle closed with hundreds of data requests in flight: 400 new connections to the
/// echo server with a RECV pended on each and 16 to a peer that does not read with a 4 MiB
/// SEND pended on each, all on one handle, which is closed; every request completes within
/// 5 s with a teardown status, and HELD comes back to what it was before.
fn close_with_pended_data(cx: &Ctx<'_>, echo_port: u16, sink_port: u16) -> Result<()> {
    let (open_before, held_before) = crate::e2e::held::now(cx.wine)?;
    let report = scale_pend(
        cx,
        &[
            "close",
            &format!("new:{CLOSE_RECVS}@127.0.0.1:{echo_port}"),
            &format!("127.0.0.1:{sink_port}"),
            &HELD_SENDS.to_string(),
        ],
    )?;
    let took = check_pended(&report, CLOSE_RECVS, "the handle's close")?;
    // Closes are partly asynchronous: give the sockets a moment to go.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let (open, held) = loop {
        let (open, held) = crate::e2e::held::now(cx.wine)?;
        if (open == open_before && held == held_before) || std::time::Instant::now() >= deadline {
            break (open, held);
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    ensure!(
        open == open_before && held == held_before,
        "after the close: {open} endpoints open (before {open_before}), HELD {held} (before \
         {held_before})"
    );
    crate::util::say(&format!(
        "  a handle closed with {} pended data requests ({CLOSE_RECVS} RECVs, {HELD_SENDS} \
         SENDs of 4 MiB to a peer that does not read): all completed {} after the close \
         ({}); HELD back to {held_before}",
        json_u64(&report, "pended")?,
        fmt_duration(took),
        report["statuses"]
    ));
    Ok(())
}

/// 1,000 user-driven connections on one handle, detached and left open; data on the first
/// and the last. Returns the milliseconds the connects took and the first connection's id.
fn user_driven_connections(cx: &Ctx<'_>, port: u16) -> Result<(u64, u64)> {
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
    Ok((json_u64(&report, "connected_ms")?, first))
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

/// Unload with the 1,000 user-driven connections open and requests pended: a process's
/// handle pends a RECV on each of them and a 4 MiB SEND on each of 16 connections to a peer
/// that does not read, then runs `wskctl driver stop` with its handle open; the unload takes
/// under 5 s and every pended request completes within 5 s with a teardown status. Then the
/// driver loads again. (The counters die with the unloaded driver: the clean reload and the
/// completions are what this checks, not HELD.)
fn unload_with_connections_open(cx: &Ctx<'_>, first_id: u64, sink_port: u16) -> Result<()> {
    let wskctl = crate::util::wine_path(&cx.layout.wskctl_exe())?;
    let report = scale_pend(
        cx,
        &[
            "unload",
            &format!("{first_id}+{USER_CONNECTIONS}"),
            &format!("127.0.0.1:{sink_port}"),
            &HELD_SENDS.to_string(),
            &wskctl,
            SERVICE,
        ],
    )?;
    let took = check_pended(&report, USER_CONNECTIONS, "the unload")?;
    let stop = Duration::from_millis(json_u64(&report, "stop_ms")?);
    ensure!(
        stop < TEARDOWN_LIMIT,
        "`wskctl driver stop` took {} with {USER_CONNECTIONS} connections open and requests \
         pended (limit 5 s)",
        fmt_duration(stop)
    );
    crate::util::say(&format!(
        "  the driver unloaded in {} with {} connections open and {} requests pended \
         ({USER_CONNECTIONS} RECVs, {HELD_SENDS} SENDs of 4 MiB to a peer that does not read); \
         all completed {} after the stop began ({})",
        fmt_duration(stop),
        USER_CONNECTIONS + HELD_SENDS,
        json_u64(&report, "pended")?,
        fmt_duration(took),
        report["statuses"]
    ));
    cx.wine
        .wskctl_ok(&["driver", "start", "--name", SERVICE], WSKCTL_TIMEOUT)?;
    Ok(())
}
