//! Who may do what with the device: the access each IOCTL code needs (a handle opened for
//! reading only is refused every code that changes state), and the isolation between
//! callers (a second process, with a handle of its own, reaches none of a first process's
//! endpoints with any code; the first is still served afterwards). Both print their matrix.
//!
//! Under Wine every process runs as the same user, so a second *identity* is not
//! representable here: detached endpoints, which belong to the identity that created them,
//! are reachable by the second process (same user), as docs/protocol.md says. The
//! per-identity rule is tested on the driver core with identities handed in
//! (driver/core/tests/isolation.rs).

use std::time::Duration;

use anyhow::{ensure, Context, Result};

use super::terminal::{shell_line, tmux_wskctl, Tmux};
use super::{abi, Ctx};
use crate::peers;
use crate::provider::Provider;
use crate::scenarios::{find_endpoint, list};
use crate::util::{free_port, say};
use crate::wine::{Wine, WSKCTL_TIMEOUT};

/// `wskctl raw --read-only --code CODE --input-hex HEADER`: the status line it prints.
fn read_only_raw(wine: &Wine, code: u32, output_len: u32) -> Result<String> {
    let out = wine.wskctl(
        &[
            "raw",
            "--read-only",
            "--code",
            &format!("{code:#010x}"),
            "--input-hex",
            &abi::hex(&abi::header(abi::ABI_VERSION, 8)),
            "--output-len",
            &output_len.to_string(),
        ],
        WSKCTL_TIMEOUT,
    )?;
    let text = out.combined();
    text.lines()
        .find_map(|line| line.strip_prefix("status "))
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .with_context(|| format!("no status line from `wskctl raw --read-only`: {text}"))
}

/// A handle opened with read access only: the query codes reach the driver, every code that
/// changes state is refused by the I/O manager with `STATUS_ACCESS_DENIED` (ABI 4: the codes
/// carry `FILE_READ_DATA`, or `FILE_READ_DATA | FILE_WRITE_DATA`). Prints the matrix.
pub(super) fn device_access_bits(cx: &Ctx<'_>) -> Result<()> {
    // (code name, function, needs write access)
    let codes: [(&str, u32, bool); 23] = [
        ("INFO", 0x800, false),
        ("TCP_CONNECT", 0x801, true),
        ("TCP_LISTEN", 0x802, true),
        ("SEND", 0x803, true),
        ("RECV", 0x804, true),
        ("CLOSE", 0x805, true),
        ("LIST", 0x806, false),
        ("UDP_BIND", 0x807, true),
        ("SEND_TO", 0x808, true),
        ("RECV_FROM", 0x809, true),
        ("DISCONNECT", 0x80A, true),
        ("SOCKET_OPTION", 0x80B, true),
        ("SECURITY", 0x80C, false),
        ("RESOLVE", 0x80D, false),
        ("STATS", 0x80E, false),
        ("ACCEPT", 0x80F, true),
        ("SERVE", 0x810, true),
        ("HELD", 0x811, false),
        ("SET_PEER_TARGET_NAME", 0x812, true),
        ("DELETE_PEER_TARGET_NAME", 0x813, true),
        ("QUERY_SECURITY", 0x814, false),
        ("TRANSACT", 0x815, true),
        ("DEVICE_SECURITY", 0x816, false),
    ];
    say("     code                    access      read-only handle gets");
    let mut wrong = Vec::new();
    for (name, function, writes) in codes {
        let method = match name {
            "SEND" | "SEND_TO" => 1,
            "RECV" | "RECV_FROM" | "RESOLVE" | "ACCEPT" | "TRANSACT" => 2,
            _ => 0,
        };
        let access = if writes {
            abi::FILE_READ_WRITE
        } else {
            abi::FILE_READ_ACCESS
        };
        let code = abi::ctl_code(function, access) | method;
        let status = read_only_raw(cx.wine, code, 4096)?;
        say(&format!(
            "     {name:<23} {:<11} {status}",
            if writes { "read+write" } else { "read" }
        ));
        // A query with only the header is answered by the driver (INFO, LIST, STATS,
        // DEVICE_SECURITY: success; SECURITY and RESOLVE: a length mismatch), never refused
        // for access.
        let expected_ok = if writes {
            status == "STATUS_ACCESS_DENIED"
        } else {
            status != "STATUS_ACCESS_DENIED"
                && (!matches!(name, "INFO" | "LIST" | "STATS" | "DEVICE_SECURITY")
                    || status == "STATUS_SUCCESS")
        };
        if !expected_ok {
            wrong.push(format!("{name}: {status}"));
        }
    }
    ensure!(
        wrong.is_empty(),
        "a read-only handle got: {}",
        wrong.join("; ")
    );
    // The same device opened for reading and writing (wskctl's default) is served.
    let out = cx.wine.wskctl_ok(&["info"], WSKCTL_TIMEOUT)?;
    ensure!(
        out.stdout.contains("driver"),
        "`wskctl info` printed {:?}",
        out.stdout
    );
    Ok(())
}

/// The device's DACL as the kernel holds it, read back through a user-mode handle
/// (`wskctl security device`: the driver reads its device object's descriptor with
/// `ZwQuerySecurityObject` and answers `DEVICE_SECURITY`), is the documented admin-only DACL
/// (docs/protocol.md): set on the device object by both shells, not merely asked for.
pub(super) fn device_dacl_read_back(cx: &Ctx<'_>) -> Result<()> {
    // docs/protocol.md, "Device"; Windows' object manager may map GA to FA when it stores it.
    const DOCUMENTED: &str = "D:P(A;;GA;;;SY)(A;;GA;;;BA)";
    const MAPPED: &str = "D:P(A;;FA;;;SY)(A;;FA;;;BA)";
    let out = cx
        .wine
        .wskctl_ok(&["--json", "security", "device"], WSKCTL_TIMEOUT)?;
    let reply: serde_json::Value = serde_json::from_str(out.stdout.trim())
        .with_context(|| format!("`wskctl --json security device` printed {:?}", out.stdout))?;
    let sddl = crate::util::json_str(&reply, "sddl")?;
    say(&format!("     the device's DACL reads back as {sddl}"));
    ensure!(
        sddl == DOCUMENTED || sddl == MAPPED,
        "the device's DACL reads back as {sddl}, not {DOCUMENTED}"
    );
    ensure!(
        reply.get("admin_only") == Some(&serde_json::Value::Bool(true)),
        "wskctl does not call {sddl} admin-only: {reply}"
    );
    let text = cx.wine.wskctl_ok(&["security", "device"], WSKCTL_TIMEOUT)?;
    ensure!(
        text.stdout.trim() == sddl,
        "`wskctl security device` printed {:?}",
        text.stdout
    );
    Ok(())
}

/// The id in a shell line `endpoint N <verb> ...` on `screen` whose rest contains `marker`.
fn endpoint_id(screen: &str, verb: &str, marker: &str) -> Result<String> {
    screen
        .lines()
        .find_map(|line| {
            let rest = line.trim().strip_prefix("endpoint ")?;
            let (id, rest) = rest.split_once(' ')?;
            (rest.starts_with(verb) && rest.contains(marker)).then(|| id.to_owned())
        })
        .with_context(|| format!("no `endpoint N {verb} ..{marker}..` line in:\n{screen}"))
}

/// Types `line` into the shell and returns the id it opened.
fn open_in_shell(tmux: &Tmux, line: &str, verb: &str, marker: &str) -> Result<String> {
    let screen = shell_line(tmux, line, line, |s| {
        endpoint_id(s, verb, marker).is_ok() || s.contains("error:")
    })?;
    endpoint_id(&screen, verb, marker)
}

/// What a second process gets for each code on `id`: (code, exit code, status or reply).
fn second_process(wine: &Wine, id: &str, udp: bool) -> Result<Vec<(&'static str, String)>> {
    let line =
        |text: String| -> Vec<String> { text.split_whitespace().map(str::to_owned).collect() };
    let mut commands: Vec<(&'static str, Vec<String>)> = vec![
        ("SEND", line(format!("send {id} --text x"))),
        ("RECV", line(format!("recv {id} --timeout-ms 300"))),
        ("ACCEPT", line(format!("tcp accept {id} --timeout-ms 300"))),
        ("DISCONNECT", line(format!("disconnect {id}"))),
        ("SOCKET_OPTION", line(format!("opt {id} rcvbuf"))),
        ("SECURITY", line(format!("security {id}"))),
        (
            "QUERY_SECURITY",
            line(if udp {
                format!("secure query {id} --peer 127.0.0.1:9")
            } else {
                format!("secure query {id}")
            }),
        ),
        ("SERVE", line(format!("serve {id} --service echo"))),
    ];
    if udp {
        commands.extend([
            ("SEND_TO", line(format!("sendto {id} 127.0.0.1:9 --text x"))),
            ("RECV_FROM", line(format!("recvfrom {id} --timeout-ms 300"))),
            (
                "SET_PEER_TARGET_NAME",
                line(format!("secure set-peer-name {id} 127.0.0.1:9 host/x")),
            ),
            (
                "DELETE_PEER_TARGET_NAME",
                line(format!("secure delete-peer-name {id} 127.0.0.1:9")),
            ),
        ]);
    }
    commands.push(("CLOSE", vec!["close".into(), id.into()]));
    let mut results = Vec::new();
    for (code, args) in commands {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = wine.wskctl(&args, WSKCTL_TIMEOUT)?;
        let text = out.combined();
        let status = text
            .split_whitespace()
            .find(|word| word.starts_with("STATUS_"))
            .map_or_else(
                || format!("exit {:?}", out.code()),
                |s| s.trim_end_matches([',', ':', ')', '.']).to_owned(),
            );
        results.push((code, status));
    }
    // LIST: the id is not among what the second process sees.
    let number: u64 = id.parse().context("endpoint id")?;
    let listed = find_endpoint(&list(wine)?, number).is_some();
    results.push((
        "LIST",
        if listed {
            "listed".into()
        } else {
            "not listed".into()
        },
    ));
    Ok(results)
}

/// What the screen shows after the last time `line` was typed at the prompt.
fn after_line(screen: &str, line: &str) -> String {
    screen
        .rsplit_once(&format!("wskctl> {line}"))
        .map(|(_, after)| after.to_owned())
        .unwrap_or_default()
}

/// Types `line` (unique in the session) and waits for the shell's next prompt after it;
/// returns what the command printed.
fn finished(tmux: &Tmux, line: &str) -> Result<String> {
    let screen = shell_line(tmux, line, line, |s| {
        after_line(s, line).contains("wskctl>")
    })?;
    Ok(after_line(&screen, line))
}

/// Types `line` (unique in the session); what it prints must contain `done` and no error.
fn answer(tmux: &Tmux, line: &str, done: &str) -> Result<String> {
    let after = finished(tmux, line)?;
    ensure!(
        after.contains(done) && !after.contains("error:"),
        "`{line}` in the first process: {after}"
    );
    Ok(after)
}

/// The first process's connection still echoes; then its shell exits.
fn still_served(tmux: &Tmux, connection: &str) -> Result<()> {
    answer(
        tmux,
        &format!("send {connection} --text still-mine"),
        "sent 10 bytes",
    )
    .context("the first process is not served after the second's attempts")?;
    answer(
        tmux,
        &format!("recv {connection} --exact 10"),
        "received 10 bytes",
    )
    .context("the first process is not served after the second's attempts")?;
    shell_line(tmux, "exit", "the shell's exit", |s| {
        s.contains("wskctl exited")
    })?;
    Ok(())
}

/// A first process (`wskctl shell` in tmux, one handle) opens an echo listener, a connection
/// to it, an accept-mode listener, a UDP socket (wsk-rs provider) and a detached listener; a
/// second process (separate `wskctl` invocations, handles of their own) runs every code that
/// names an endpoint against each: the first four refuse every code with
/// `STATUS_NOT_FOUND` (as an id that does not exist) and are not listed; the detached one is
/// reachable (same user under Wine). The first process is still served: an echo round trip
/// on its connection. Prints the matrix.
pub(super) fn isolation_between_processes(cx: &Ctx<'_>) -> Result<()> {
    let udp = cx.provider == Provider::Wskrs;
    let echo_port = free_port()?;
    let accept_port = free_port()?;
    let detached_port = free_port()?;
    let tmux = Tmux::new("wskrs-e2e-isolation");
    tmux_wskctl(cx, &tmux, "shell --no-history")?;
    tmux.wait("prompt", Duration::from_secs(30), |s| s.contains("wskctl>"))?;
    let echo = open_in_shell(
        &tmux,
        &format!("tcp listen 127.0.0.1:{echo_port} --service echo"),
        "listening",
        &format!(":{echo_port}"),
    )?;
    let connection = open_in_shell(
        &tmux,
        &format!("tcp connect 127.0.0.1:{echo_port}"),
        "connected",
        &format!("-> 127.0.0.1:{echo_port}"),
    )?;
    let accepting = open_in_shell(
        &tmux,
        &format!("tcp listen 127.0.0.1:{accept_port} --service none"),
        "listening",
        &format!(":{accept_port}"),
    )?;
    let mut targets = vec![
        ("echo listener", echo.clone(), false),
        ("connection", connection.clone(), false),
        ("accept listener", accepting, false),
    ];
    if udp {
        let udp_port = free_port()?;
        let socket = open_in_shell(
            &tmux,
            &format!("udp bind 127.0.0.1:{udp_port}"),
            "bound",
            &format!(":{udp_port}"),
        )?;
        targets.push(("UDP socket", socket, true));
    }
    let detached = open_in_shell(
        &tmux,
        &format!("tcp listen 127.0.0.1:{detached_port} --service echo --detach"),
        "listening",
        &format!(":{detached_port}"),
    )?;

    let mut wrong = Vec::new();
    for (what, id, is_udp) in &targets {
        let results = second_process(cx.wine, id, *is_udp)?;
        say(&format!(
            "     {what} {id} (the first process's, not detached), from a second process:"
        ));
        for (code, got) in &results {
            say(&format!("       {code:<23} {got}"));
            let expected = if *code == "LIST" {
                "not listed"
            } else {
                "STATUS_NOT_FOUND"
            };
            if got != expected {
                wrong.push(format!("{what} {id} {code}: {got}, expected {expected}"));
            }
        }
    }
    // The detached listener belongs to the user (the same for both processes under Wine).
    let out = cx.wine.wskctl(&["security", &detached], WSKCTL_TIMEOUT)?;
    say(&format!(
        "     detached listener {detached}, from a second process of the same user: SECURITY {}",
        if out.code() == Some(0) {
            "answered (reachable: same identity)".to_owned()
        } else {
            out.combined().trim().to_owned()
        }
    ));
    if out.code() != Some(0) {
        wrong.push(format!(
            "the detached listener {detached}: {}",
            out.combined().trim()
        ));
    }
    cx.wine.wskctl_ok(&["close", &detached], WSKCTL_TIMEOUT)?;

    still_served(&tmux, &connection)?;
    ensure!(wrong.is_empty(), "isolation broken: {}", wrong.join("; "));
    Ok(())
}

/// The default endpoint quota of a handle (docs/protocol.md, Security).
const ENDPOINT_QUOTA: usize = 64;

/// A handle's endpoint quota: a `wskctl shell` (one handle) opens connections to a Linux echo
/// server until it owns 64 endpoints; the next connect gets
/// `STATUS_QUOTA_EXCEEDED`. A second process (its own handle) still connects, and the first
/// handle's connections still echo; closing one gives the first handle room again.
/// (The quotas of pended requests and locked bytes need many requests in flight on one
/// handle, which `wskctl` does not issue: they are tested on the driver core.)
pub(super) fn endpoint_quota_per_handle(cx: &Ctx<'_>) -> Result<()> {
    // A Linux echo server: the handle's endpoints are its 64 connections.
    let (_server, port) = peers::echo_server(cx.layout, "echo-server-quota")?;
    let tmux = Tmux::new("wskrs-e2e-quota");
    tmux_wskctl(cx, &tmux, "shell --no-history")?;
    tmux.wait("prompt", Duration::from_secs(30), |s| s.contains("wskctl>"))?;
    let first = open_in_shell(
        &tmux,
        &format!("tcp connect 127.0.0.1:{port}"),
        "connected",
        &format!("-> 127.0.0.1:{port}"),
    )?;
    let first_id: u64 = first.parse().context("endpoint id")?;
    let mut connections = vec![first];
    for _ in 1..ENDPOINT_QUOTA {
        let line = format!("tcp connect 127.0.0.1:{port}");
        // Ids grow by one per endpoint: wait for the next one's line.
        let expected = first_id
            .saturating_add(u64::try_from(connections.len()).unwrap_or(u64::MAX))
            .to_string();
        let marker = format!("endpoint {expected} connected");
        let screen = shell_line(&tmux, &line, &marker, |s| {
            s.contains(&marker) || s.contains("error:")
        })?;
        ensure!(
            !screen.contains("error:"),
            "connection {} of the handle failed:\n{screen}",
            connections.len() + 1
        );
        connections.push(expected);
    }
    // A line of its own: the wait is for the prompt after it.
    let screen = finished(
        &tmux,
        &format!("tcp connect 127.0.0.1:{port} --timeout-ms 4998"),
    )?;
    ensure!(
        screen.contains("STATUS_QUOTA_EXCEEDED"),
        "endpoint {} of one handle was not refused with STATUS_QUOTA_EXCEEDED:\n{screen}",
        ENDPOINT_QUOTA + 1
    );
    say(&format!(
        "     one handle: {ENDPOINT_QUOTA} endpoints open, the next connect gets STATUS_QUOTA_EXCEEDED"
    ));
    // Another process's handle is unaffected.
    let other = cx.wine.wskctl(
        &[
            "tcp",
            "connect",
            &format!("127.0.0.1:{port}"),
            "--send-text",
            "hi",
            "--recv-exact",
            "2",
        ],
        WSKCTL_TIMEOUT,
    )?;
    ensure!(
        other.success(),
        "a second process could not connect while the first is at its quota: {}",
        other.combined()
    );
    say("     a second process's handle: connects and echoes");
    // The first handle is still served, and closing one endpoint gives it room again.
    let first = connections.first().context("no connection")?.clone();
    answer(
        &tmux,
        &format!("close {first}"),
        &format!("closed endpoint {first}"),
    )?;
    answer(
        &tmux,
        &format!("tcp connect 127.0.0.1:{port} --timeout-ms 4999"),
        " connected ",
    )
    .context("after closing one endpoint the handle still cannot connect")?;
    say("     after closing one endpoint, the first handle connects again");
    let last = connections.last().context("no connection")?.clone();
    still_served(&tmux, &last)
}

/// Most handles the driver identifies at once (`wskrs_driver::MAX_HANDLES`).
const MAX_HANDLES: u64 = 256;
/// Handles the case opens (past [`MAX_HANDLES`]).
const HANDLES_OPENED: u64 = 300;
/// `ERROR_NO_SYSTEM_RESOURCES`: what CreateFile reports for `STATUS_INSUFFICIENT_RESOURCES`.
const ERROR_NO_SYSTEM_RESOURCES: u64 = 1450;

/// Every handle is identified when it is opened (the WDM shell's IRP_MJ_CREATE, the KMDF
/// shell's EvtDeviceFileCreate), and a detached endpoint is reachable by the handles of its
/// identity only. The driver keeps identities in a table of 256 and refuses an open past it
/// with `STATUS_INSUFFICIENT_RESOURCES`; Wine 8.0's server does not wait for IRP_MJ_CREATE,
/// so under Wine that handle opens anyway, unidentified: a stranger to every identified
/// handle. One process (`wskrs-fuzz.exe scale handles 300 PORT`) opens a detached listener
/// on a first handle, then 299 more handles; the last (unidentified) must not close the
/// listener, and the second (identified, same user) then closes it. A shell that leaves
/// handles unidentified fails this: all its handles share one identity, so the last closes
/// the listener. (Where a refused open fails, as on Windows, the open is refused with
/// `ERROR_NO_SYSTEM_RESOURCES` at most 256 handles in, and the second handle closes the
/// listener. Which user each handle gets is tested on the driver core:
/// driver/core/tests/isolation.rs.)
pub(super) fn handles_are_identified(cx: &Ctx<'_>) -> Result<()> {
    let exe = crate::fuzz::build_fuzzer(cx.layout)?;
    let exe = exe.to_str().context("the fuzzer's path is not UTF-8")?;
    let port = free_port()?.clamp(10_000, 60_000).to_string();
    let out = cx.wine.run(
        "wine",
        &[exe, "scale", "handles", &HANDLES_OPENED.to_string(), &port],
        Duration::from_secs(120),
    )?;
    ensure!(
        out.success(),
        "wskrs-fuzz scale handles: {}",
        out.combined().trim()
    );
    let report = crate::util::parse_json_output(&out.stdout)?;
    let opened = crate::util::json_u64(&report, "opened")?;
    let refused = report["refused_error"].as_u64();
    let last_close = report["last_close"].as_str().unwrap_or("?");
    let identified_close = report["identified_close"].as_str().unwrap_or("?");
    say(&format!(
        "     {opened} handles open at once ({}); CLOSE of the first handle's detached \
         listener from the last: {last_close}; then from the second: {identified_close}",
        refused.map_or_else(
            || "no open refused".to_owned(),
            |e| format!("the next open refused with error {e}")
        ),
    ));
    match refused {
        None => ensure!(
            opened == HANDLES_OPENED
                && last_close != "STATUS_SUCCESS"
                && identified_close == "STATUS_SUCCESS",
            "the last of {HANDLES_OPENED} handles (past the {MAX_HANDLES} the driver \
             identifies) must not reach the first handle's detached listener, and the second \
             handle must: {report} (a CLOSE from the last that succeeds means the shell does \
             not identify handles)"
        ),
        Some(error) => ensure!(
            error == ERROR_NO_SYSTEM_RESOURCES
                && opened <= MAX_HANDLES
                && identified_close == "STATUS_SUCCESS",
            "an open was refused: expected ERROR_NO_SYSTEM_RESOURCES ({ERROR_NO_SYSTEM_RESOURCES}) \
             at most {MAX_HANDLES} handles in, and the second handle closing the listener: \
             {report}"
        ),
    }
    Ok(())
}
