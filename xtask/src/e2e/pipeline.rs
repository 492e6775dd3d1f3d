//! Pipelined data requests (issue 11 item 4): `wskctl send` cuts a file into 128 KiB SENDs
//! with several outstanding at once, which the driver queues per endpoint and direction and
//! completes in order; Ctrl-C cancels the one in flight and the ones waiting behind it.

use std::time::Duration;

use anyhow::{ensure, Context, Result};

use super::helpers::{close, connected_sink, MIB};
use super::terminal::{tmux_wskctl, Tmux};
use super::Ctx;
use crate::scenarios::{find_endpoint, list, TRANSFER_TIMEOUT};
use crate::util::{fmt_bytes, fmt_duration, json_str, json_u64, say, wine_path, write_random_file};

/// Bytes of [`pipelined_sends_arrive_in_order`].
const PIPELINED_BYTES: u64 = 16 * MIB;

/// The bytes of one pipelined SEND (`wskrs_client::SEND_CHUNK`).
const SEND_CHUNK: u64 = 128 << 10;

/// 16 MiB of random data by `wskctl send --file` to a Linux sink: the sink receives exactly
/// the file (its SHA-256), in order, and LIST counts one completed SEND per 128 KiB chunk.
pub(super) fn pipelined_sends_arrive_in_order(cx: &Ctx<'_>) -> Result<()> {
    let (mut sink, id) = connected_sink(cx, "sink-server-pipelined", &[])?;
    let id_s = id.to_string();
    let file = cx.layout.scratch.join("pipelined.bin");
    std::fs::create_dir_all(&cx.layout.scratch)
        .with_context(|| format!("creating {}", cx.layout.scratch.display()))?;
    let digest = write_random_file(&file, usize::try_from(PIPELINED_BYTES)?)?;
    let out = cx.wine.wskctl_ok(
        &[
            "send",
            &id_s,
            "--file",
            &wine_path(&file)?,
            "--timeout-ms",
            "30000",
        ],
        TRANSFER_TIMEOUT,
    );
    let _ = std::fs::remove_file(&file);
    let out = out?;
    let entry =
        find_endpoint(&list(cx.wine)?, id).with_context(|| format!("endpoint {id} vanished"))?;
    let (sent, send_ops, errors) = (
        json_u64(&entry, "sent")?,
        json_u64(&entry, "send_ops")?,
        json_u64(&entry, "errors")?,
    );
    ensure!(
        sent == PIPELINED_BYTES && errors == 0,
        "endpoint {id} reports {sent} bytes sent and {errors} errors, expected {PIPELINED_BYTES} and 0: {entry}"
    );
    ensure!(
        send_ops == PIPELINED_BYTES / SEND_CHUNK,
        "endpoint {id} counts {send_ops} SENDs, expected {} of {}: {entry}",
        PIPELINED_BYTES / SEND_CHUNK,
        fmt_bytes(SEND_CHUNK)
    );
    close(cx.wine, id)?;
    let done = sink.wait_event("done", Duration::from_secs(30))?;
    let received = json_u64(&done, "received")?;
    let sink_digest = json_str(&done, "sha256")?;
    ensure!(
        received == PIPELINED_BYTES && sink_digest == digest,
        "the sink received {received} bytes with sha256 {sink_digest}; sent {PIPELINED_BYTES} with {digest}"
    );
    say(&format!(
        "    {} in {send_ops} pipelined SENDs, in order; wskctl ran {}",
        fmt_bytes(PIPELINED_BYTES),
        fmt_duration(out.elapsed)
    ));
    Ok(())
}

/// `wskctl send` of 32 MiB to a Linux peer that reads nothing: its pipelined SENDs stall (one
/// at the transport, the others waiting in the driver). Ctrl-C cancels them all: wskctl
/// reports the cancellation and exits 130 within 5 s, the endpoint is still listed with one
/// failed SEND (the waiting ones never started), and it closes in order.
pub(super) fn ctrl_c_cancels_queued_sends(cx: &Ctx<'_>) -> Result<()> {
    let (mut sink, id) = connected_sink(cx, "sink-server-queued", &["--hold"])?;
    let file = cx.layout.scratch.join("queued-sends.bin");
    std::fs::create_dir_all(&cx.layout.scratch)
        .with_context(|| format!("creating {}", cx.layout.scratch.display()))?;
    write_random_file(&file, usize::try_from(32 * MIB)?)?;
    let tmux = Tmux::new("wskrs-e2e-queued-sends");
    let started = tmux_wskctl(
        cx,
        &tmux,
        &format!(
            "send {id} --file '{}' --timeout-ms 60000",
            wine_path(&file)?
        ),
    );
    let result = started.and_then(|()| {
        // Once started, the sends fill the transport and the queue.
        let (screen, took) =
            super::cancel::ctrl_c_while_waiting(&tmux, &format!("wskctl send {id}"))?;
        ensure!(
            screen.contains(&format!("cancelled: send on endpoint {id}"))
                && screen.contains("wskctl exited 130"),
            "expected `cancelled: send on endpoint {id}: ...` and exit 130 {} after Ctrl-C:\n{screen}",
            fmt_duration(took)
        );
        Ok(took)
    });
    let _ = std::fs::remove_file(&file);
    let took = result?;
    let entry =
        find_endpoint(&list(cx.wine)?, id).with_context(|| format!("endpoint {id} vanished"))?;
    ensure!(
        json_u64(&entry, "errors")? == 1,
        "endpoint {id} should show exactly one failed SEND (the one at the transport): {entry}"
    );
    close(cx.wine, id)?;
    sink.send_line("release")?;
    let done = sink.wait_event("done", Duration::from_secs(30))?;
    say(&format!(
        "    queued sends cancelled {} after Ctrl-C; the peer got {} before the close",
        fmt_duration(took),
        fmt_bytes(json_u64(&done, "received")?)
    ));
    Ok(())
}

/// TRANSACT (issue 11 item 4) against a Linux echo server: `wskctl transact` sends a request
/// and prints the echoed reply from one IOCTL; a reply room shorter than the request takes
/// the reply's start and leaves the rest in the stream for `recv`; a 64 KiB request (the
/// largest) comes back whole (its first part from the TRANSACT, the rest by `recv`); LIST
/// counts one send and one receive per TRANSACT.
pub(super) fn transact_request_response(cx: &Ctx<'_>) -> Result<()> {
    let (_echo, port) = crate::peers::echo_server(cx.layout, "echo-server-transact")?;
    let id = super::helpers::connect_detached(cx.wine, &format!("127.0.0.1:{port}"))?;
    let id_s = id.to_string();
    let transact = |args: &[&str]| {
        let mut all = vec!["--json", "transact", id_s.as_str()];
        all.extend_from_slice(args);
        cx.wine.wskctl_ok(&all, crate::wine::WSKCTL_TIMEOUT)
    };
    let out = transact(&["--text", "hello-transact", "--max", "64"])?;
    let summary = crate::util::parse_json_output(&out.stderr)?;
    ensure!(
        out.stdout == "hello-transact"
            && json_u64(&summary, "sent")? == 14
            && json_u64(&summary, "received")? == 14,
        "expected the echo of `hello-transact` (14 bytes): stdout {:?}, stderr {}",
        out.stdout,
        out.stderr
    );
    // The reply overwrites the request in one buffer: a shorter room takes the start.
    let out = transact(&["--text", "0123456789", "--max", "4"])?;
    ensure!(
        out.stdout == "0123",
        "a 4-byte reply room should return `0123`, got {:?} ({})",
        out.stdout,
        out.stderr
    );
    let rest = cx.wine.wskctl_ok(
        &["recv", &id_s, "--exact", "6"],
        crate::wine::WSKCTL_TIMEOUT,
    )?;
    ensure!(
        rest.stdout == "456789",
        "the rest of the echo should wait in the stream, got {:?}",
        rest.stdout
    );
    // The largest request: the echo may come back in parts; TRANSACT returns the first.
    let file = cx.layout.scratch.join("transact-64k.bin");
    let reply = cx.layout.scratch.join("transact-64k.reply");
    std::fs::create_dir_all(&cx.layout.scratch)
        .with_context(|| format!("creating {}", cx.layout.scratch.display()))?;
    write_random_file(&file, 64 << 10)?;
    let sent = std::fs::read(&file).context("reading the request back")?;
    let out = transact(&[
        "--file",
        &wine_path(&file)?,
        "--to-file",
        &wine_path(&reply)?,
    ])?;
    let first = std::fs::read(&reply).context("reading the reply")?;
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(&reply);
    let got = usize::try_from(json_u64(
        &crate::util::parse_json_output(&out.stderr)?,
        "received",
    )?)?;
    ensure!(
        got == first.len() && got > 0 && sent.get(..got) == Some(&first[..]),
        "the 64 KiB TRANSACT's reply ({got} bytes) should be the start of its request"
    );
    let remaining = sent.len() - got;
    if remaining > 0 {
        let rest = cx.wine.wskctl_ok(
            &[
                "recv",
                &id_s,
                "--exact",
                &remaining.to_string(),
                "--to-file",
                &wine_path(&reply)?,
            ],
            crate::wine::WSKCTL_TIMEOUT,
        )?;
        let tail = std::fs::read(&reply).context("reading the rest")?;
        let _ = std::fs::remove_file(&reply);
        ensure!(
            sent.get(got..) == Some(&tail[..]),
            "the rest of the 64 KiB echo differs ({})",
            rest.stderr
        );
    }
    let entry =
        find_endpoint(&list(cx.wine)?, id).with_context(|| format!("endpoint {id} vanished"))?;
    let (send_ops, recv_ops, errors) = (
        json_u64(&entry, "send_ops")?,
        json_u64(&entry, "recv_ops")?,
        json_u64(&entry, "errors")?,
    );
    let recvs = if remaining > 0 { 2 } else { 1 };
    ensure!(
        send_ops == 3 && recv_ops >= 3 + recvs && errors == 0,
        "LIST should count 3 sends, at least {} receives and no error: {entry}",
        3 + recvs
    );
    close(cx.wine, id)?;
    say(&format!(
        "    3 TRANSACTs through one IOCTL each; the 64 KiB one's first reply was {}",
        fmt_bytes(u64::try_from(got)?)
    ));
    Ok(())
}
