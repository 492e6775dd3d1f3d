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

/// The most one SEND request carries (`MAX_TRANSFER`, which `wskctl send` chunks by).
const ONE_REQUEST: u64 = MIB;

/// A Linux peer that accepts and then reads nothing: the driver must hold the sender back
/// (its SEND stays pending until the transport takes the bytes, then times out), not buffer.
/// Once the peer reads, it gets exactly what the driver reported as sent, give or take the
/// one request that timed out while partly transferred.
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
    let entry = find_endpoint(&list(cx.wine)?, id).with_context(|| format!("endpoint {id} vanished"))?;
    let sent = json_u64(&entry, "sent")?;
    ensure!(
        sent > 0 && sent < BOUND,
        "endpoint {id} reports {} sent to a stalled reader (expected more than 0 and less than {}): {entry}",
        fmt_bytes(sent),
        fmt_bytes(BOUND)
    );
    ensure!(
        json_str(&entry, "last_status")? == "STATUS_IO_TIMEOUT",
        "endpoint {id}'s last status: {entry}"
    );

    sink.send_line("release")?;
    cx.wine.wskctl_ok(&["close", &id_s], WSKCTL_TIMEOUT)?;
    let done = sink.wait_event("done", Duration::from_secs(30))?;
    let received = json_u64(&done, "received")?;
    ensure!(
        received >= sent && received <= sent.saturating_add(ONE_REQUEST),
        "the reader got {received} bytes; the driver reported {sent} sent (the timed-out request may add at most {ONE_REQUEST})"
    );
    println!(
        "    {} offered, {} taken by the transport before the send timed out, {} delivered",
        fmt_bytes(OFFERED),
        fmt_bytes(sent),
        fmt_bytes(received)
    );
    Ok(())
}
