//! TCP connections the driver opens: a connect-out echo, a 100 MiB stream through
//! `KernelTcpStream`, a receive that times out, graceful and abortive DISCONNECT, and the
//! back pressure a reader that reads nothing puts on a sender.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use serde_json::Value;

use super::helpers::{at, close, connected_sink, json_ok, sink_server, LOOPBACK4, MIB};
use super::{abi, Ctx};
use crate::peers::{self, Peer};
use crate::scenarios::{self, find_endpoint, list, TRANSFER_TIMEOUT};
use crate::util::{
    fmt_bytes, fmt_duration, fmt_rate, json_str, json_u64, parse_json_output, say, wine_path,
    write_random_file,
};
use crate::wine::WSKCTL_TIMEOUT;

/// The driver connects out to a Linux echo server; 1 MiB of random data comes back intact.
pub(super) fn connect_out_echo_1mib(cx: &Ctx<'_>) -> Result<()> {
    scenarios::outbound_echo(cx.layout, cx.wine, "e2e", MIB).map(|_| ())
}

/// Bytes of [`stream_send_100mib`].
const STREAM_BYTES: u64 = 100 * MIB;

/// Its time limit under Wine.
const STREAM_LIMIT: Duration = Duration::from_secs(60);

/// 100 MiB of random data through the library's `KernelTcpStream` (`wskctl stream-send`:
/// `std::io::copy` into the stream) to a Linux sink: the SHA-256 wskctl computed, the one
/// the sink computed and the file's agree, the sink sees an orderly end of stream, and it
/// takes less than a minute.
pub(super) fn stream_send_100mib(cx: &Ctx<'_>) -> Result<()> {
    let (mut sink, port) = sink_server(cx.layout, "sink-server-stream", &[])?;
    let file = cx.layout.scratch.join("stream-100mib.bin");
    std::fs::create_dir_all(&cx.layout.scratch)
        .with_context(|| format!("creating {}", cx.layout.scratch.display()))?;
    let len = usize::try_from(STREAM_BYTES).context("100 MiB does not fit in memory")?;
    let digest = write_random_file(&file, len)?;
    let remote = format!("127.0.0.1:{port}");
    let out = cx.wine.wskctl_ok(
        &[
            "--json",
            "stream-send",
            &remote,
            "--file",
            &wine_path(&file)?,
            "--timeout-ms",
            "30000",
        ],
        TRANSFER_TIMEOUT,
    );
    let _ = std::fs::remove_file(&file);
    let out = out?;
    let reply = parse_json_output(&out.stdout)?;
    let sent = json_u64(&reply, "sent")?;
    let client_digest = json_str(&reply, "sha256")?;
    ensure!(
        sent == STREAM_BYTES,
        "stream-send sent {sent} bytes, expected {STREAM_BYTES}"
    );
    ensure!(
        client_digest == digest,
        "stream-send hashed sha256 {client_digest}, the file is {digest}"
    );
    let done = sink.wait_event("done", Duration::from_secs(30))?;
    let received = json_u64(&done, "received")?;
    let sink_digest = json_str(&done, "sha256")?;
    let how = json_str(&done, "how")?;
    ensure!(
        received == STREAM_BYTES && sink_digest == digest,
        "the sink received {received} bytes with sha256 {sink_digest}; sent {STREAM_BYTES} with {digest}"
    );
    ensure!(
        how == "eof",
        "the sink saw the stream end by {how}, expected an orderly EOF"
    );
    say(&format!(
        "  stream_send_100mib: {} in {} ({}) through KernelTcpStream; wskctl ran {}",
        fmt_bytes(STREAM_BYTES),
        fmt_duration(Duration::from_secs_f64(
            reply.get("seconds").and_then(Value::as_f64).unwrap_or(0.0)
        )),
        fmt_rate(
            STREAM_BYTES,
            Duration::from_secs_f64(reply.get("seconds").and_then(Value::as_f64).unwrap_or(0.0))
        ),
        fmt_duration(out.elapsed)
    ));
    ensure!(
        out.elapsed < STREAM_LIMIT,
        "100 MiB took {} (limit {})",
        fmt_duration(out.elapsed),
        fmt_duration(STREAM_LIMIT)
    );
    Ok(())
}

/// A receive on a connection whose peer sends nothing ends with `STATUS_IO_TIMEOUT` after
/// its `--timeout-ms 500`, not before and not much later; the connection then still closes
/// in order.
pub(super) fn recv_timeout_status(cx: &Ctx<'_>) -> Result<()> {
    let (mut sink, id) = connected_sink(cx, "sink-server-timeout", &[])?;
    let id = id.to_string();
    let out = cx
        .wine
        .wskctl(&["recv", &id, "--timeout-ms", "500"], WSKCTL_TIMEOUT)?;
    let text = out.combined();
    ensure!(
        out.code() == Some(1) && text.contains("STATUS_IO_TIMEOUT") && text.contains("WSAETIMEDOUT"),
        "`wskctl recv {id} --timeout-ms 500`: expected exit 1 with STATUS_IO_TIMEOUT [WSAETIMEDOUT], got exit {:?}: {text}",
        out.code()
    );
    ensure!(
        out.elapsed >= Duration::from_millis(500) && out.elapsed < Duration::from_secs(5),
        "the timed-out receive returned after {} (expected 0.5 s to 5 s)",
        fmt_duration(out.elapsed)
    );
    let entry = find_endpoint(&list(cx.wine)?, id.parse()?)
        .with_context(|| format!("endpoint {id} vanished after its receive timed out"))?;
    ensure!(
        json_str(&entry, "last_status")? == "STATUS_IO_TIMEOUT",
        "endpoint {id}'s last status is {}, expected STATUS_IO_TIMEOUT",
        entry["last_status"]
    );
    cx.wine.wskctl_ok(&["close", &id], WSKCTL_TIMEOUT)?;
    let done = sink.wait_event("done", Duration::from_secs(5))?;
    ensure!(
        json_u64(&done, "received")? == 0,
        "the sink received bytes from a connection that sent none: {done}"
    );
    Ok(())
}

/// Starts `half_close_server.py` on 127.0.0.1; connects a detached endpoint to it and
/// sends `text`; returns the server, the endpoint id.
fn half_close_pair(cx: &Ctx<'_>, name: &str, text: &str) -> Result<(Peer, String)> {
    let mut server = Peer::spawn(cx.layout, "half_close_server.py", name, &[])?;
    let ready = server.wait_event("listening", Duration::from_secs(10))?;
    let port = u16::try_from(json_u64(&ready, "port")?)?;
    let id = json_u64(
        &json_ok(
            cx.wine,
            &[
                "tcp",
                "connect",
                &at(LOOPBACK4, port),
                "--detach",
                "--send-text",
                text,
            ],
        )?,
        "id",
    )?;
    server.wait_event("accept", Duration::from_secs(5))?;
    Ok((server, id.to_string()))
}

/// How the half-close server saw its connection end: its first `eof` or `reset` event.
fn wait_end(server: &mut Peer) -> Result<Value> {
    server.wait_for("end of stream or reset", Duration::from_secs(5), |e| {
        peers::event_is(e, "eof") || peers::event_is(e, "reset")
    })
}

/// Graceful DISCONNECT: the peer gets the final data then EOF, and can still send to us.
pub(super) fn graceful_disconnect(cx: &Ctx<'_>) -> Result<()> {
    let text = "final words";
    let (mut server, id) = half_close_pair(cx, "half-close-graceful", text)?;
    cx.wine.wskctl_ok(&["disconnect", &id], WSKCTL_TIMEOUT)?;
    let end = wait_end(&mut server)?;
    ensure!(
        peers::event_is(&end, "eof"),
        "the peer saw {end}, expected an orderly EOF"
    );
    ensure!(
        json_str(&end, "hex")? == abi::hex(text.as_bytes()),
        "the peer received {end} before EOF, expected {text:?}"
    );
    server.wait_event("replied", Duration::from_secs(5))?;
    let file = cx.layout.scratch.join("after-eof.bin");
    cx.wine.wskctl_ok(
        &[
            "recv",
            &id,
            "--exact",
            "9",
            "--to-file",
            &wine_path(&file)?,
            "--timeout-ms",
            "5000",
        ],
        WSKCTL_TIMEOUT,
    )?;
    let data = std::fs::read(&file).context("reading what recv wrote")?;
    ensure!(
        data == b"after-eof",
        "after the disconnect we received {:?}, expected the peer's \"after-eof\"",
        String::from_utf8_lossy(&data)
    );
    let last = cx.wine.wskctl_ok(
        &["--json", "recv", &id, "--timeout-ms", "5000"],
        WSKCTL_TIMEOUT,
    )?;
    let summary = parse_json_output(&last.stderr)?;
    ensure!(
        summary.get("eof").and_then(Value::as_bool) == Some(true),
        "the peer's close did not reach us as end of stream: {summary}"
    );
    let entry = find_endpoint(&list(cx.wine)?, id.parse()?).context("endpoint gone")?;
    ensure!(
        json_str(&entry, "state")? == "disconnected",
        "after DISCONNECT the endpoint is listed as {entry}"
    );
    close(cx.wine, id.parse()?)
}

/// Abortive DISCONNECT: the peer sees a reset.
pub(super) fn abortive_disconnect(cx: &Ctx<'_>) -> Result<()> {
    let (mut server, id) = half_close_pair(cx, "half-close-abortive", "doomed")?;
    cx.wine
        .wskctl_ok(&["disconnect", &id, "--abortive"], WSKCTL_TIMEOUT)?;
    let end = wait_end(&mut server)?;
    ensure!(
        peers::event_is(&end, "reset"),
        "the peer saw {end} after an abortive disconnect, expected a reset (RST)"
    );
    let entry = find_endpoint(&list(cx.wine)?, id.parse()?).context("endpoint gone")?;
    ensure!(
        json_str(&entry, "state")? == "disconnected",
        "after an abortive DISCONNECT the endpoint is listed as {entry}"
    );
    close(cx.wine, id.parse()?)
}

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
pub(super) fn slow_reader_back_pressure(cx: &Ctx<'_>) -> Result<()> {
    let (mut sink, id) = connected_sink(cx, "sink-server-held", &["--hold"])?;
    let id_s = id.to_string();

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
    say(&format!(
        "    stalled reader: {} offered, {} taken before the send timed out; after release {} more sent, {} delivered in all",
        fmt_bytes(OFFERED),
        fmt_bytes(sent),
        fmt_bytes(AFTER),
        fmt_bytes(received)
    ));
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
