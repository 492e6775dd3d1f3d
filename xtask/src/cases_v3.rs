//! End-to-end cases for ABI v3: what a slow peer does to a sender (pended direct-I/O
//! requests), and a connection handed to an in-kernel service (SERVE). Real Linux peers
//! (tests/peers/*.py) on 127.0.0.1.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};

use crate::e2e::Ctx;
use crate::peers::Peer;
use crate::scenarios::{find_endpoint, list, TRANSFER_TIMEOUT};
use crate::util::{fmt_bytes, json_str, json_u64, parse_json_output, wine_path, write_random_file};
use crate::wine::WSKCTL_TIMEOUT;

const MIB: u64 = 1 << 20;

/// What `wskctl send` offers a peer that reads nothing.
const OFFERED: u64 = 64 * MIB;

/// More than the transport may hold for a stalled reader (the sender's socket buffer plus the
/// reader's 64 KiB): reaching it would mean the driver buffered on the sender's behalf.
const BOUND: u64 = 32 * MIB;

/// What is sent once the reader reads again.
const AFTER: u64 = 3 * MIB;

/// The most one SEND request carries (`MAX_TRANSFER`, which `wskctl send` chunks by).
const ONE_REQUEST: u64 = 4 * MIB;

/// A Linux peer that accepts and then reads nothing: the driver must hold the sender back
/// (its SEND stays pending until the transport takes the bytes, then times out), not buffer.
/// With a reader this stalled even the first 4 MiB request may not fit the transport, so
/// LIST may report 0 sent. Once the peer reads, the connection carries more data and the
/// peer gets exactly what the driver reported as sent, give or take the one request that
/// timed out while partly transferred.
pub(crate) fn slow_reader_back_pressure(cx: &Ctx<'_>) -> Result<()> {
    let mut sink = Peer::spawn(
        cx.layout,
        "sink_server.py",
        "sink-server-held",
        &[
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            "0".into(),
            "--hold".into(),
        ],
    )?;
    let port = json_u64(
        &sink.wait_event("listening", Duration::from_secs(10))?,
        "port",
    )?;
    let out = cx.wine.wskctl_ok(
        &[
            "--json",
            "tcp",
            "connect",
            &format!("127.0.0.1:{port}"),
            "--detach",
        ],
        WSKCTL_TIMEOUT,
    )?;
    let id = json_u64(&parse_json_output(&out.stdout)?, "id")?;
    let id_s = id.to_string();
    sink.wait_event("accept", Duration::from_secs(5))?;

    let file = cx.layout.scratch.join("back-pressure.bin");
    let len = usize::try_from(OFFERED).context("size")?;
    write_random_file(&file, len)?;
    let out = cx.wine.wskctl(
        &[
            "send",
            &id_s,
            "--file",
            &wine_path(&file)?,
            "--timeout-ms",
            "2000",
        ],
        TRANSFER_TIMEOUT,
    )?;
    let text = out.combined();
    ensure!(
        !out.success() && text.contains("STATUS_IO_TIMEOUT"),
        "`wskctl send` of {} to a reader that reads nothing: expected STATUS_IO_TIMEOUT, got exit {:?}: {text}",
        fmt_bytes(OFFERED),
        out.code()
    );
    let sent = sent_by(cx, id)?;
    ensure!(
        sent < BOUND,
        "endpoint {id} reports {} sent to a stalled reader (expected less than {}): the driver must not buffer for it",
        fmt_bytes(sent),
        fmt_bytes(BOUND)
    );

    // Once the reader reads, the same connection moves data again.
    sink.send_line("release")?;
    let more = cx.layout.scratch.join("after-release.bin");
    write_random_file(&more, usize::try_from(AFTER).context("size")?)?;
    cx.wine.wskctl_ok(
        &[
            "send",
            &id_s,
            "--file",
            &wine_path(&more)?,
            "--timeout-ms",
            "10000",
        ],
        TRANSFER_TIMEOUT,
    )?;
    let total = sent_by(cx, id)?;
    ensure!(
        total == sent + AFTER,
        "endpoint {id}: {total} bytes sent after {sent} + {AFTER}"
    );
    cx.wine.wskctl_ok(&["close", &id_s], WSKCTL_TIMEOUT)?;
    let done = sink.wait_event("done", Duration::from_secs(30))?;
    let received = json_u64(&done, "received")?;
    ensure!(
        received >= total && received <= total.saturating_add(ONE_REQUEST),
        "the reader got {received} bytes; the driver reported {total} sent (the timed-out request may add at most {ONE_REQUEST})"
    );
    println!(
        "    stalled reader: {} offered, {} taken before the send timed out; after release {} more sent, {} delivered in all",
        fmt_bytes(OFFERED),
        fmt_bytes(sent),
        fmt_bytes(AFTER),
        fmt_bytes(received)
    );
    Ok(())
}

/// What the Linux peer of `serve_hands_an_outbound_connection_to_echo` sends through the
/// kernel's echo.
const ECHOED: u64 = MIB + 4321;

/// `tcp connect` (detached) to a Linux server, then `serve ID --service echo`: the server's
/// random bytes come back exactly, from the driver's echo service; LIST shows the endpoint
/// with the service and the bytes; `send` on it is STATUS_INVALID_DEVICE_STATE; `close`
/// ends the service's connection (the server sees end of stream) and the endpoint.
pub(crate) fn serve_hands_an_outbound_connection_to_echo(cx: &Ctx<'_>) -> Result<()> {
    let mut server = Peer::spawn(
        cx.layout,
        "echo_checker.py",
        "echo-checker",
        &[
            "--host".into(),
            "127.0.0.1".into(),
            "--bytes".into(),
            ECHOED.to_string(),
        ],
    )?;
    let port = json_u64(
        &server.wait_event("listening", Duration::from_secs(10))?,
        "port",
    )?;
    let out = cx.wine.wskctl_ok(
        &[
            "--json",
            "tcp",
            "connect",
            &format!("127.0.0.1:{port}"),
            "--detach",
        ],
        WSKCTL_TIMEOUT,
    )?;
    let id = json_u64(&parse_json_output(&out.stdout)?, "id")?;
    let id_s = id.to_string();
    server.wait_event("accept", Duration::from_secs(5))?;

    let out = cx.wine.wskctl_ok(
        &["--json", "serve", &id_s, "--service", "echo"],
        WSKCTL_TIMEOUT,
    )?;
    let handed = parse_json_output(&out.stdout)?;
    ensure!(
        json_u64(&handed, "id")? == id && json_str(&handed, "service")? == "echo",
        "`wskctl --json serve {id} --service echo` printed {handed}"
    );
    server.send_line("go")?;
    let checked = server.wait_event("checked", Duration::from_secs(60))?;
    ensure!(
        checked.get("match").and_then(serde_json::Value::as_bool) == Some(true)
            && json_u64(&checked, "received")? == ECHOED,
        "the Linux server sent {ECHOED} random bytes through the echo service and reports {checked}"
    );

    // The service counts what it moved; its last send may be counted just after the peer
    // has the bytes, so LIST is read again for a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    let entry = loop {
        let entry = find_endpoint(&list(cx.wine)?, id)
            .with_context(|| format!("served endpoint {id} is not listed"))?;
        let counted =
            json_u64(&entry, "sent")? == ECHOED && json_u64(&entry, "received")? == ECHOED;
        if counted || Instant::now() >= deadline {
            break entry;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    ensure!(
        json_str(&entry, "kind")? == "tcp"
            && json_str(&entry, "service")? == "echo"
            && json_u64(&entry, "sent")? == ECHOED
            && json_u64(&entry, "received")? == ECHOED,
        "served endpoint {id} is listed as {entry}; expected kind tcp, service echo, {ECHOED} bytes each way"
    );

    let out = cx
        .wine
        .wskctl(&["send", &id_s, "--text", "mine"], WSKCTL_TIMEOUT)?;
    let text = out.combined();
    ensure!(
        out.code() == Some(1) && text.contains("STATUS_INVALID_DEVICE_STATE"),
        "`wskctl send` on served endpoint {id}: expected exit 1 with STATUS_INVALID_DEVICE_STATE, got exit {:?}: {text}",
        out.code()
    );

    cx.wine.wskctl_ok(&["close", &id_s], WSKCTL_TIMEOUT)?;
    let closed = server.wait_event("closed", Duration::from_secs(10))?;
    ensure!(
        json_str(&closed, "how")? == "eof" && json_u64(&closed, "extra")? == 0,
        "closing served endpoint {id} reached the Linux server as {closed}, expected end of stream and nothing more"
    );
    ensure!(
        find_endpoint(&list(cx.wine)?, id).is_none(),
        "endpoint {id} is still listed after `close`"
    );
    println!(
        "    echo service on an outbound connection: {} back exactly",
        fmt_bytes(ECHOED)
    );
    Ok(())
}

/// Bytes LIST reports sent on endpoint `id`; also checks the endpoint saw the timeout.
fn sent_by(cx: &Ctx<'_>, id: u64) -> Result<u64> {
    let entry =
        find_endpoint(&list(cx.wine)?, id).with_context(|| format!("endpoint {id} vanished"))?;
    ensure!(
        json_str(&entry, "last_status")? == "STATUS_IO_TIMEOUT" && json_u64(&entry, "errors")? == 1,
        "endpoint {id} should show the one timed-out SEND: {entry}"
    );
    json_u64(&entry, "sent")
}
