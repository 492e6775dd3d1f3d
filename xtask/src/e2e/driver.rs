//! The driver as a whole: it loads and answers INFO with the documented versions, refuses
//! malformed requests with the documented statuses (a direct request's output buffer
//! included), unloads with endpoints open and loads again, and last stops and uninstalls.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use serde_json::Value;

use super::helpers::{at, close, connect_detached, connected_sink, listen, LOOPBACK4};
use super::{abi, Ctx};
use crate::peers::{self, Peer};
use crate::scenarios::wait_closed;
use crate::util::{fmt_duration, free_port, json_str, json_u64, parse_json_output, say};
use crate::wine::{Wine, SERVICE, WSKCTL_TIMEOUT};

/// Checks `wskctl --json info`: driver version 0.1.0, the documented ABI version. Returns the
/// reply.
fn check_info(wine: &Wine) -> Result<Value> {
    let out = wine.wskctl_ok(&["--json", "info"], WSKCTL_TIMEOUT)?;
    let info = parse_json_output(&out.stdout)?;
    let version = json_str(&info, "driver_version")?;
    ensure!(
        version == "0.1.0",
        "driver version {version}, expected 0.1.0"
    );
    let protocol = json_u64(&info, "protocol")?;
    ensure!(
        u32::try_from(protocol) == Ok(abi::ABI_VERSION),
        "protocol {protocol}, expected {}",
        abi::ABI_VERSION
    );
    Ok(info)
}

/// The driver installs and starts as a kernel service; `info` answers.
pub(super) fn driver_loads(cx: &Ctx<'_>) -> Result<()> {
    cx.wine.load_driver()?;
    let status = cx.wine.wskctl_ok(
        &["--json", "driver", "status", "--name", SERVICE],
        WSKCTL_TIMEOUT,
    )?;
    let status = parse_json_output(&status.stdout)?;
    let state = json_str(&status, "state")?;
    ensure!(
        state == "running",
        "`driver status` says {state}, expected running"
    );
    let info = check_info(cx.wine)?;
    let endpoints = json_u64(&info, "endpoints")?;
    ensure!(
        endpoints == 0,
        "a freshly loaded driver reports {endpoints} endpoints"
    );
    Ok(())
}

/// Expects wskctl to have exited 1 naming `status` (e.g. `STATUS_NOT_FOUND`).
fn expect_refusal(wine: &Wine, args: &[&str], status: &str) -> Result<()> {
    let out = wine.wskctl(args, WSKCTL_TIMEOUT)?;
    let text = out.combined();
    ensure!(
        out.code() == Some(1) && text.contains(status),
        "`wskctl {}`: expected exit 1 with {status}, got exit {:?}: {}",
        args.join(" "),
        out.code(),
        text
    );
    Ok(())
}

/// `wskctl raw --code CODE --input-hex HEX --output-len N` must exit 1 naming `status`.
fn expect_raw_refusal(
    wine: &Wine,
    code: u32,
    input: &[u8],
    out_len: u32,
    status: &str,
) -> Result<()> {
    expect_refusal(
        wine,
        &[
            "raw",
            "--code",
            &format!("{code:#010x}"),
            "--input-hex",
            &abi::hex(input),
            "--output-len",
            &out_len.to_string(),
        ],
        status,
    )
}

/// Malformed requests are refused with the documented statuses; the driver keeps working.
pub(super) fn malformed_requests(cx: &Ctx<'_>) -> Result<()> {
    let before = json_u64(&check_info(cx.wine)?, "endpoints")?;
    let header = abi::header(abi::ABI_VERSION, 8);
    let cases: [(&str, u32, Vec<u8>, u32, &str); 7] = [
        // The header alone is 8 bytes.
        (
            "INFO with 4 bytes",
            abi::INFO,
            header[..4].to_vec(),
            24,
            "STATUS_INFO_LENGTH_MISMATCH",
        ),
        (
            "INFO with the next ABI version",
            abi::INFO,
            abi::header(abi::ABI_VERSION + 1, 8),
            24,
            "STATUS_REVISION_MISMATCH",
        ),
        // Clients of earlier ABI versions: the version is checked before anything else.
        (
            "INFO with ABI version 1",
            abi::INFO,
            abi::header(1, 8),
            24,
            "STATUS_REVISION_MISMATCH",
        ),
        (
            "INFO with ABI version 2",
            abi::INFO,
            abi::header(2, 8),
            24,
            "STATUS_REVISION_MISMATCH",
        ),
        // How a version 3 client sends INFO (its code without the read-access bits).
        (
            "INFO of a version 3 client",
            abi::INFO_BEFORE_ABI_4,
            abi::header(3, 8),
            24,
            "STATUS_REVISION_MISMATCH",
        ),
        (
            "TCP_CONNECT with family 99",
            abi::TCP_CONNECT,
            abi::tcp_connect(99, 80),
            80,
            "STATUS_INVALID_ADDRESS_COMPONENT",
        ),
        (
            "unknown IOCTL code",
            abi::UNKNOWN,
            header.clone(),
            64,
            "STATUS_INVALID_DEVICE_REQUEST",
        ),
    ];
    for (what, code, input, out_len, status) in &cases {
        expect_raw_refusal(cx.wine, *code, input, *out_len, status).context(*what)?;
    }

    // An endpoint id the driver never issued.
    expect_refusal(cx.wine, &["close", "999999"], "STATUS_NOT_FOUND")
        .context("close of an unknown endpoint")?;

    // A well-formed INFO through `raw` succeeds: the refusals above were about the input.
    let ok = cx.wine.wskctl(
        &[
            "raw",
            "--code",
            &format!("{:#010x}", abi::INFO),
            "--input-hex",
            &abi::hex(&header),
            "--output-len",
            "24",
        ],
        WSKCTL_TIMEOUT,
    )?;
    ensure!(
        ok.success() && ok.combined().contains("STATUS_SUCCESS"),
        "a valid INFO through `wskctl raw` failed: {}",
        ok.combined()
    );

    let after = json_u64(&check_info(cx.wine)?, "endpoints")?;
    ensure!(
        after == before,
        "endpoint count changed from {before} to {after} after refused requests"
    );
    Ok(())
}

/// The rules for a direct request's output buffer (docs/protocol.md, validation step 6):
/// a RECV whose output buffer is not `max_length` bytes, or whose `max_length` is 0, is
/// refused with `STATUS_INVALID_PARAMETER` before the endpoint is looked at.
pub(super) fn direct_output_length_checked(cx: &Ctx<'_>) -> Result<()> {
    // The sink stays up until the case ends: the connection must not close under the checks.
    let (_sink, id) = connected_sink(cx, "sink-server-direct", &[])?;
    let cases: [(&str, Vec<u8>, u32); 3] = [
        (
            "RECV of 16 bytes with a 15-byte buffer",
            abi::recv(id, 500, 16),
            15,
        ),
        (
            "RECV of 16 bytes with a 17-byte buffer",
            abi::recv(id, 500, 16),
            17,
        ),
        ("RECV of 0 bytes", abi::recv(id, 500, 0), 0),
    ];
    let mut failures = Vec::new();
    for (what, input, out_len) in &cases {
        if let Err(error) = expect_raw_refusal(
            cx.wine,
            abi::RECV,
            input,
            *out_len,
            "STATUS_INVALID_PARAMETER",
        ) {
            failures.push(format!("{what}: {error:#}"));
        }
    }
    close(cx.wine, id)?;
    ensure!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}

/// Unloading with open endpoints (a listener with an idle client, an outbound connection)
/// takes under 5 s, closes the sockets, and the driver loads again.
pub(super) fn unload_with_open_endpoints(cx: &Ctx<'_>) -> Result<()> {
    let (mut server, sport) = peers::echo_server(cx.layout, "echo-server-unload")?;
    connect_detached(cx.wine, &at(LOOPBACK4, sport))?;
    server.wait_event("accept", Duration::from_secs(5))?;

    let lport = free_port()?;
    listen(cx.wine, &at(LOOPBACK4, lport), "echo", &[])?;
    let mut idle = Peer::spawn(
        cx.layout,
        "idle_client.py",
        "idle-client-unload",
        &["--port".into(), lport.to_string()],
    )?;
    idle.wait_event("connected", Duration::from_secs(10))
        .context("the idle client never got its ping echoed")?;

    let stop = cx.wine.wskctl_ok(
        &["driver", "stop", "--name", SERVICE],
        Duration::from_secs(20),
    )?;
    ensure!(
        stop.elapsed < Duration::from_secs(5),
        "`wskctl driver stop` took {} with endpoints open (limit 5 s)",
        fmt_duration(stop.elapsed)
    );
    let gone = cx.wine.wskctl(&["info"], WSKCTL_TIMEOUT)?;
    ensure!(
        gone.code() == Some(3),
        "after `driver stop`, `wskctl info` exited {:?} (expected 3, no device): {}",
        gone.code(),
        gone.combined()
    );
    wait_closed(&mut server, Duration::from_secs(5))
        .context("the outbound connection was not closed by the unload")?;
    idle.wait_event("closed", Duration::from_secs(5))
        .context("the idle client's connection was not closed by the unload")?;

    cx.wine
        .wskctl_ok(&["driver", "start", "--name", SERVICE], WSKCTL_TIMEOUT)
        .context("reloading the driver")?;
    let info = check_info(cx.wine)?;
    let endpoints = json_u64(&info, "endpoints")?;
    ensure!(
        endpoints == 0,
        "the reloaded driver reports {endpoints} endpoints"
    );
    Ok(())
}

/// How long the provider holds each `WskCloseSocket` in [`unload_waits_for_held_requests`]:
/// longer than the library's close (5 s, then 1 s after cancelling, then 5 s after forcing,
/// before it abandons the request) plus the provider's own `WskDeregister` wait (10 s), so
/// that an unload that stopped waiting would return before the provider completes the close.
const HOLD_CLOSE: Duration = Duration::from_secs(25);

/// Unload with a request the provider holds (`WSKRS_PROVIDER_HOLD_CLOSE`: every
/// `WskCloseSocket` completes 25 s late): `driver stop` returns only after the provider
/// completed the close (the library abandoned it after 11 s; unload waits on for its
/// completion routine, then deregisters), and the driver loads and answers again.
pub(super) fn unload_waits_for_held_requests(cx: &Ctx<'_>) -> Result<()> {
    let hold_ms = HOLD_CLOSE.as_millis().to_string();
    with_provider_switch(cx, "WSKRS_PROVIDER_HOLD_CLOSE", &hold_ms, || {
        held_unload(cx)
    })?;
    let info = check_info(cx.wine)?;
    ensure!(
        json_u64(&info, "endpoints")? == 0,
        "the reloaded driver reports endpoints: {info}"
    );
    Ok(())
}

/// Reloads the driver (a new registration reads the switch), opens a UDP socket and unloads:
/// the unload must last until the provider completed the held close. Wine's services.exe
/// answers a control that takes longer than 10 s with `ERROR_SERVICE_REQUEST_TIMEOUT` while
/// the service goes on stopping, so the stop is followed through `driver status`.
fn held_unload(cx: &Ctx<'_>) -> Result<()> {
    restart(cx.wine)?;
    let udp = cx.wine.wskctl_ok(
        &["--json", "udp", "bind", &at(LOOPBACK4, 0), "--detach"],
        WSKCTL_TIMEOUT,
    )?;
    json_u64(&parse_json_output(&udp.stdout)?, "id")?;
    let started = Instant::now();
    let stop = cx.wine.wskctl(
        &["driver", "stop", "--name", SERVICE, "--timeout", "90"],
        Duration::from_secs(100),
    )?;
    ensure!(
        stop.success() || stop.combined().contains("1053"),
        "`driver stop` failed: {}",
        stop.combined()
    );
    let deadline = started + HOLD_CLOSE + Duration::from_secs(60);
    loop {
        let status = cx.wine.wskctl_ok(
            &["--json", "driver", "status", "--name", SERVICE],
            WSKCTL_TIMEOUT,
        )?;
        let reply = parse_json_output(&status.stdout)?;
        let state = json_str(&reply, "state")?;
        if state == "stopped" {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "the driver is still `{state}` {} after `driver stop`",
            fmt_duration(started.elapsed())
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let elapsed = started.elapsed();
    ensure!(
        elapsed >= HOLD_CLOSE,
        "the driver stopped {} after `driver stop` while the provider held a close for {}: \
         unload did not wait for it",
        fmt_duration(elapsed),
        fmt_duration(HOLD_CLOSE)
    );
    say(&format!(
        "unload with a close held {}: the driver stopped after {}",
        fmt_duration(HOLD_CLOSE),
        fmt_duration(elapsed)
    ));
    Ok(())
}

/// Runs `case` with the provider switch `name` set to `value` in `HKCU\Environment`, where
/// the wsk-rs provider reads it at the driver's next WSK registration (`case` reloads the
/// driver for it); then deletes it and reloads the driver, whatever `case` returned.
pub(super) fn with_provider_switch(
    cx: &Ctx<'_>,
    name: &str,
    value: &str,
    case: impl FnOnce() -> Result<()>,
) -> Result<()> {
    let env = r"HKCU\Environment";
    cx.wine.reg(&["add", env, "/v", name, "/d", value, "/f"])?;
    let ran = case();
    let off = cx.wine.reg(&["delete", env, "/v", name, "/f"]);
    let restart = restart(cx.wine);
    ran?;
    off?;
    restart
}

/// `driver stop` (if running) and `driver start`.
pub(super) fn restart(wine: &Wine) -> Result<()> {
    wine.wskctl_ok(
        &["driver", "stop", "--name", SERVICE, "--timeout", "90"],
        Duration::from_secs(100),
    )?;
    wine.wskctl_ok(&["driver", "start", "--name", SERVICE], WSKCTL_TIMEOUT)
        .context("reloading the driver")?;
    Ok(())
}

/// Last: the driver stops and uninstalls; then (checked by the caller through
/// `Session::finish`) no Wine process of the prefix survives `wineserver -k`.
pub(super) fn clean_teardown(cx: &Ctx<'_>) -> Result<()> {
    cx.wine.unload_driver()?;
    Ok(())
}
