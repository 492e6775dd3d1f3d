//! End-to-end cases for the data path of ABI v3 (pended direct-I/O requests): what a slow
//! peer does to a sender. Real Linux peers (tests/peers/*.py) on 127.0.0.1.

use std::time::Duration;

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
        &["--host".into(), "127.0.0.1".into(), "--port".into(), "0".into(), "--hold".into()],
    )?;
    let port = json_u64(&sink.wait_event("listening", Duration::from_secs(10))?, "port")?;
    let out = cx.wine.wskctl_ok(
        &["--json", "tcp", "connect", &format!("127.0.0.1:{port}"), "--detach"],
        WSKCTL_TIMEOUT,
    )?;
    let id = json_u64(&parse_json_output(&out.stdout)?, "id")?;
    let id_s = id.to_string();
    sink.wait_event("accept", Duration::from_secs(5))?;

    let file = cx.layout.scratch.join("back-pressure.bin");
    let len = usize::try_from(OFFERED).context("size")?;
    write_random_file(&file, len)?;
    let out = cx.wine.wskctl(
        &["send", &id_s, "--file", &wine_path(&file)?, "--timeout-ms", "2000"],
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
    cx.wine.wskctl_ok(&["send", &id_s, "--file", &wine_path(&more)?, "--timeout-ms", "10000"], TRANSFER_TIMEOUT)?;
    let total = sent_by(cx, id)?;
    ensure!(total == sent + AFTER, "endpoint {id}: {total} bytes sent after {sent} + {AFTER}");
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

/// Bytes LIST reports sent on endpoint `id`; also checks the endpoint saw the timeout.
fn sent_by(cx: &Ctx<'_>, id: u64) -> Result<u64> {
    let entry = find_endpoint(&list(cx.wine)?, id).with_context(|| format!("endpoint {id} vanished"))?;
    ensure!(
        json_str(&entry, "last_status")? == "STATUS_IO_TIMEOUT" && json_u64(&entry, "errors")? == 1,
        "endpoint {id} should show the one timed-out SEND: {entry}"
    );
    json_u64(&entry, "sent")
}
