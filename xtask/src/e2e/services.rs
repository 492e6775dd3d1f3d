//! The driver's in-kernel services and the hand-over of connections: echo, discard and
//! source listeners (IPv4, IPv6, dual stack, many clients at once), a listener without a
//! service whose connections `tcp accept` hands to the user, and `serve`, which hands a
//! user's connection to a service.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use serde_json::Value;

use super::helpers::{
    at, close, connect_detached, connected_sink, json_ok, listen, wait_entry, LOOPBACK4, LOOPBACK6,
    MIB,
};
use super::{abi, Ctx};
use crate::peers::{self, Peer};
use crate::scenarios::{self, find_endpoint, list, TRANSFER_TIMEOUT};
use crate::util::{fmt_bytes, free_port, json_str, json_u64, parse_json_output, say, wine_path};
use crate::wine::WSKCTL_TIMEOUT;

/// An in-kernel echo listener serves 50 concurrent Linux clients, 64 KiB each.
pub(super) fn listener_50_clients(cx: &Ctx<'_>) -> Result<()> {
    scenarios::listener_echo(cx.layout, cx.wine, "e2e", 50, 64 << 10).map(|_| ())
}

/// A discard listener counts exactly the bytes a Linux client sent, and sends none.
pub(super) fn discard_counts_bytes(cx: &Ctx<'_>) -> Result<()> {
    const SENT: u64 = 3 * MIB + 12_345;
    let port = free_port()?;
    let id = listen(cx.wine, &at(LOOPBACK4, port), "discard", &[])?;
    let mut client = Peer::spawn(
        cx.layout,
        "stream_client.py",
        "discard-client",
        &[
            "--port".into(),
            port.to_string(),
            "--send".into(),
            SENT.to_string(),
        ],
    )?;
    let done = client.wait_event("done", TRANSFER_TIMEOUT)?;
    ensure!(
        json_u64(&done, "sent")? == SENT,
        "the client sent {done}, expected {SENT} bytes"
    );
    ensure!(
        json_u64(&done, "received")? == 0,
        "the discard service sent data back: {done}"
    );
    let entry = wait_entry(cx.wine, id, Duration::from_secs(10), "full count", |e| {
        e.get("received").and_then(Value::as_u64) == Some(SENT)
    })?;
    ensure!(
        json_u64(&entry, "sent")? == 0 && json_u64(&entry, "served")? >= 1,
        "listener {id}: {entry}, expected sent 0 and served >= 1"
    );
    close(cx.wine, id)
}

/// A source listener sends byte i = i % 251; a Linux client reads 1 MiB and checks each one.
pub(super) fn source_sends_the_pattern(cx: &Ctx<'_>) -> Result<()> {
    let port = free_port()?;
    let id = listen(cx.wine, &at(LOOPBACK4, port), "source", &[])?;
    let mut client = Peer::spawn(
        cx.layout,
        "stream_client.py",
        "source-client",
        &[
            "--port".into(),
            port.to_string(),
            "--read".into(),
            MIB.to_string(),
        ],
    )?;
    let done = client.wait_event("done", TRANSFER_TIMEOUT)?;
    ensure!(
        json_u64(&done, "received")? == MIB,
        "the client read {done}, expected {MIB} bytes"
    );
    ensure!(
        done.get("pattern_ok").and_then(Value::as_bool) == Some(true),
        "the stream differs from i % 251: {done}"
    );
    let entry = wait_entry(cx.wine, id, Duration::from_secs(5), "1 MiB sent", |e| {
        e.get("sent").and_then(Value::as_u64) >= Some(MIB)
    })?;
    ensure!(
        json_u64(&entry, "served")? >= 1,
        "listener {id} served nobody: {entry}"
    );
    close(cx.wine, id)
}

/// An echo listener serves 200 concurrent Linux clients, 16 KiB each.
pub(super) fn echo_200_concurrent(cx: &Ctx<'_>) -> Result<()> {
    scenarios::listener_echo_on(cx.layout, cx.wine, "e2e-200", LOOPBACK4, 200, 16 << 10).map(|_| ())
}

/// An echo listener on [::1] serves 20 concurrent IPv6 Linux clients, 64 KiB each.
pub(super) fn ipv6_echo_listener(cx: &Ctx<'_>) -> Result<()> {
    scenarios::listener_echo_on(cx.layout, cx.wine, "e2e-ipv6", LOOPBACK6, 20, 64 << 10).map(|_| ())
}

/// An echo listener on `[::]` with `--dual-stack` serves Linux clients over both 127.0.0.1
/// and ::1, each getting exactly its bytes back.
pub(super) fn dual_stack_listener_accepts_ipv4_and_ipv6(cx: &Ctx<'_>) -> Result<()> {
    const CLIENTS: u64 = 4;
    const BYTES: u64 = 64 << 10;
    let port = free_port()?;
    let wildcard = at(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
    let id = listen(cx.wine, &wildcard, "echo", &["--dual-stack"])?;
    for host in [LOOPBACK4, LOOPBACK6] {
        let mut peer = Peer::spawn(
            cx.layout,
            "echo_clients.py",
            &format!("dual-stack-clients-{}", if host.is_ipv4() { 4 } else { 6 }),
            &[
                "--host".into(),
                host.to_string(),
                "--port".into(),
                port.to_string(),
                "--clients".into(),
                CLIENTS.to_string(),
                "--bytes".into(),
                BYTES.to_string(),
                "--timeout".into(),
                "30".into(),
            ],
        )?;
        let done = peer.wait_event("done", TRANSFER_TIMEOUT)?;
        let status = peer.finish(Duration::from_secs(10))?;
        ensure!(
            json_u64(&done, "ok")? == CLIENTS && status.success(),
            "over {host}: {done}"
        );
        ensure!(
            json_u64(&done, "bytes_received")? == CLIENTS * BYTES,
            "over {host} the clients got {done} back, expected {} bytes",
            CLIENTS * BYTES
        );
    }
    let entry = wait_entry(
        cx.wine,
        id,
        Duration::from_secs(5),
        "both families served",
        |e| e.get("served").and_then(Value::as_u64) >= Some(2 * CLIENTS),
    )?;
    ensure!(
        json_str(&entry, "local")? == wildcard,
        "the dual-stack listener is listed as {entry}"
    );
    close(cx.wine, id)
}

/// A listener without a service (`--service none`) queues a Linux client's connection;
/// `tcp accept` hands it over as a connection endpoint that `recv` and `send` drive; a second
/// accept with nothing queued times out with STATUS_IO_TIMEOUT; closing the connection
/// reaches the client as end of stream, and closing the listener stops it listening.
pub(super) fn accept_service_hands_connections_to_user(cx: &Ctx<'_>) -> Result<()> {
    const LINE: &str = "hello from linux";
    const REPLY: &str = "hello from the kernel";
    let port = free_port()?;
    let listener = listen(
        cx.wine,
        &at(LOOPBACK4, port),
        "none",
        &["--max-connections", "4"],
    )?;
    let mut client = Peer::spawn(
        cx.layout,
        "line_client.py",
        "accept-line-client",
        &[
            "--port".into(),
            port.to_string(),
            "--line".into(),
            LINE.into(),
            "--expect".into(),
            REPLY.len().to_string(),
        ],
    )?;
    let sent = client.wait_event("sent", Duration::from_secs(10))?;
    let client_at = json_str(&sent, "local")?.to_owned();
    let accepted = json_ok(
        cx.wine,
        &[
            "tcp",
            "accept",
            &listener.to_string(),
            "--detach",
            "--timeout-ms",
            "10000",
        ],
    )?;
    let id = json_u64(&accepted, "id")?;
    let id_s = id.to_string();
    ensure!(
        json_str(&accepted, "kind")? == "tcp"
            && json_u64(&accepted, "listener")? == listener
            && id != listener,
        "`tcp accept {listener}` printed {accepted}, expected a new tcp connection endpoint"
    );
    ensure!(
        json_str(&accepted, "remote")? == client_at,
        "the accepted connection's remote is {accepted}, the Linux client is at {client_at}"
    );
    let line = format!("{LINE}\n");
    line_then_reply(cx, &mut client, &id_s, &line, REPLY)?;
    // Nothing else is queued: a second accept times out.
    let out = cx.wine.wskctl(
        &[
            "tcp",
            "accept",
            &listener.to_string(),
            "--timeout-ms",
            "500",
        ],
        WSKCTL_TIMEOUT,
    )?;
    let text = out.combined();
    ensure!(
        out.code() == Some(1) && text.contains("STATUS_IO_TIMEOUT"),
        "a second `tcp accept {listener} --timeout-ms 500`: expected exit 1 with STATUS_IO_TIMEOUT, got exit {:?}: {text}",
        out.code()
    );
    ensure!(
        out.elapsed >= Duration::from_millis(500) && out.elapsed < Duration::from_secs(5),
        "the timed-out accept returned after {} ms (expected 0.5 s to 5 s)",
        out.elapsed.as_millis()
    );
    let entries = list(cx.wine)?;
    let connection =
        find_endpoint(&entries, id).context("the accepted connection is not listed")?;
    ensure!(
        json_str(&connection, "state")? == "connected"
            && json_u64(&connection, "received")? == line.len() as u64
            && json_u64(&connection, "sent")? == REPLY.len() as u64,
        "the accepted connection is listed as {connection}"
    );
    let listening = find_endpoint(&entries, listener).context("the listener is not listed")?;
    ensure!(
        json_str(&listening, "state")? == "listening" && json_str(&listening, "service")? == "none",
        "the listener is listed as {listening}"
    );
    close(cx.wine, id)?;
    let closed = client.wait_event("closed", Duration::from_secs(5))?;
    ensure!(
        json_str(&closed, "how")? == "eof",
        "closing the accepted connection reached the client as {closed}, expected end of stream"
    );
    cancelled_by_closing_the_listener(cx, listener)?;
    let address = SocketAddr::new(LOOPBACK4, port);
    ensure!(
        std::net::TcpStream::connect_timeout(&address, Duration::from_secs(2)).is_err(),
        "{address} still accepts connections after the listener was closed"
    );
    Ok(())
}

/// `recv` on accepted connection `id` gets exactly `line` (what the Linux client sent), and
/// `send` of `reply` reaches the client.
fn line_then_reply(
    cx: &Ctx<'_>,
    client: &mut Peer,
    id_s: &str,
    line: &str,
    reply: &str,
) -> Result<()> {
    let file = cx.layout.scratch.join("accept-line.bin");
    cx.wine.wskctl_ok(
        &[
            "recv",
            id_s,
            "--exact",
            &line.len().to_string(),
            "--to-file",
            &wine_path(&file)?,
            "--timeout-ms",
            "5000",
        ],
        WSKCTL_TIMEOUT,
    )?;
    let data = std::fs::read(&file).context("reading what recv wrote")?;
    ensure!(
        data == line.as_bytes(),
        "recv on the accepted connection got {:?}, the client sent {line:?}",
        String::from_utf8_lossy(&data)
    );
    cx.wine
        .wskctl_ok(&["send", id_s, "--text", reply], WSKCTL_TIMEOUT)?;
    let got = client.wait_for("the reply or a close", Duration::from_secs(5), |e| {
        peers::event_is(e, "reply") || peers::event_is(e, "closed")
    })?;
    ensure!(
        peers::event_is(&got, "reply") && json_str(&got, "hex")? == abi::hex(reply.as_bytes()),
        "the Linux client got {got}, expected {reply:?}"
    );
    Ok(())
}

/// While one `tcp accept` waits on `listener` (in another wskctl process), a second gets
/// STATUS_DEVICE_BUSY at once; closing the listener ends the waiting one with
/// STATUS_CANCELLED.
fn cancelled_by_closing_the_listener(cx: &Ctx<'_>, listener: u64) -> Result<()> {
    let listener_s = listener.to_string();
    std::thread::scope(|scope| -> Result<()> {
        let waiting = scope.spawn(|| {
            cx.wine.wskctl(
                &["tcp", "accept", &listener_s, "--timeout-ms", "20000"],
                WSKCTL_TIMEOUT,
            )
        });
        // Let the first accept reach the driver and park there (Wine starts a program in well
        // under 3 s here).
        std::thread::sleep(Duration::from_secs(3));
        ensure!(
            !waiting.is_finished(),
            "`tcp accept {listener} --timeout-ms 20000` ended before anything happened"
        );
        let busy = cx.wine.wskctl(
            &["tcp", "accept", &listener_s, "--timeout-ms", "500"],
            WSKCTL_TIMEOUT,
        )?;
        let text = busy.combined();
        ensure!(
            busy.code() == Some(1) && text.contains("STATUS_DEVICE_BUSY"),
            "a second accept while one waits: expected exit 1 with STATUS_DEVICE_BUSY, got exit {:?}: {text}",
            busy.code()
        );
        let closing = Instant::now();
        close(cx.wine, listener)?;
        let out = waiting
            .join()
            .map_err(|_| anyhow::anyhow!("the waiting accept's thread panicked"))??;
        let text = out.combined();
        ensure!(
            out.code() == Some(130) && text.contains("STATUS_CANCELLED"),
            "closing listener {listener} should end its waiting accept with STATUS_CANCELLED (exit 130), got exit {:?}: {text}",
            out.code()
        );
        ensure!(
            closing.elapsed() < Duration::from_secs(10),
            "the waiting accept ended {} ms after the listener closed",
            closing.elapsed().as_millis()
        );
        Ok(())
    })
}

/// What the Linux peer of `serve_hands_an_outbound_connection_to_echo` sends through the
/// kernel's echo.
const ECHOED: u64 = MIB + 4321;

/// `tcp connect` (detached) to a Linux server, then `serve ID --service echo`: the server's
/// random bytes come back exactly, from the driver's echo service; LIST shows the endpoint
/// with the service and the bytes; `send` on it is STATUS_INVALID_DEVICE_STATE; `close`
/// ends the service's connection (the server sees end of stream) and the endpoint.
pub(super) fn serve_hands_an_outbound_connection_to_echo(cx: &Ctx<'_>) -> Result<()> {
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
    let id = connect_detached(cx.wine, &at(LOOPBACK4, u16::try_from(port)?))?;
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
        checked.get("match").and_then(Value::as_bool) == Some(true)
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

    close(cx.wine, id)?;
    let closed = server.wait_event("closed", Duration::from_secs(10))?;
    ensure!(
        json_str(&closed, "how")? == "eof" && json_u64(&closed, "extra")? == 0,
        "closing served endpoint {id} reached the Linux server as {closed}, expected end of stream and nothing more"
    );
    ensure!(
        find_endpoint(&list(cx.wine)?, id).is_none(),
        "endpoint {id} is still listed after `close`"
    );
    say(&format!(
        "    echo service on an outbound connection: {} back exactly",
        fmt_bytes(ECHOED)
    ));
    Ok(())
}

/// Round trips through an in-kernel echo listener, 1 B to 1 MiB (9 of each size, the Linux
/// client with TCP_NODELAY), never wait for a delayed ACK: the fastest of each size stays
/// under 30 ms. Linux delays an ACK by 40 ms; with Nagle's algorithm on the service's
/// connections, every 64 KiB round trip waited for one (44 ms, issue 11). The stall delays
/// every round trip and a machine busy with other work only some, so the fastest is the
/// figure that tells them apart (a median of 35 ms was seen under load with no stall).
pub(super) fn echo_round_trips_without_stall(cx: &Ctx<'_>) -> Result<()> {
    const SLOW_MS: f64 = 30.0;
    const SIZES: [u64; 7] = [1, 64, 1024, 16 << 10, 64 << 10, 256 << 10, MIB];
    let port = free_port()?;
    let id = listen(cx.wine, &at(LOOPBACK4, port), "echo", &[])?;
    let sizes: Vec<String> = SIZES.iter().map(u64::to_string).collect();
    let mut client = Peer::spawn(
        cx.layout,
        "echo_round_trips.py",
        "echo-round-trips",
        &[
            "--port".into(),
            port.to_string(),
            "--sizes".into(),
            sizes.join(","),
            "--slow-ms".into(),
            SLOW_MS.to_string(),
        ],
    )?;
    client.wait_event("done", TRANSFER_TIMEOUT)?;
    let mut table = Vec::new();
    let mut slow = Vec::new();
    let reported: Vec<Value> = client
        .drain()
        .iter()
        .filter(|e| peers::event_is(e, "size"))
        .cloned()
        .collect();
    for (event, expected) in reported.iter().zip(SIZES) {
        let bytes = json_u64(event, "bytes")?;
        ensure!(bytes == expected, "sizes out of order: {event}");
        let ms = |key: &str| {
            event
                .get(key)
                .and_then(Value::as_f64)
                .with_context(|| format!("no {key} in {event}"))
        };
        let (fastest, median) = (ms("min_ms")?, ms("median_ms")?);
        table.push(format!(
            "{} {fastest:.2} ms (median {median:.2})",
            fmt_bytes(bytes)
        ));
        if fastest > SLOW_MS {
            slow.push(event.to_string());
        }
    }
    ensure!(
        reported.len() == SIZES.len(),
        "the client reported {} sizes, expected {}",
        reported.len(),
        SIZES.len()
    );
    say(&format!(
        "  echo round trips, fastest of 9: {}",
        table.join(", ")
    ));
    ensure!(
        slow.is_empty(),
        "every round trip of a size took longer than {SLOW_MS} ms (a delayed-ACK wait): {}",
        slow.join("; ")
    );
    close(cx.wine, id)
}

/// How much the source must have sent in
/// [`serving_a_source_into_a_fast_reader_holds_no_caller`]: enough that a loop of inline
/// completions would have been seen holding the caller.
const SOURCED: u64 = 256 * MIB;

/// `serve ID --service source` on a connection to a Linux sink, a reader as fast as the
/// sender: a provider that completes each send during the call (both do, while the peer
/// keeps up) must not keep the thread that started the service, or the one that completed a
/// request, sending forever. Every request beside it is answered while 256 MiB flow, and
/// closing the endpoint ends the service (the sink sees end of stream). Until the task
/// trampoline handed a long run of inline completions to a worker thread, the fuzzer found
/// Wine's one dispatch thread stuck in SERVE's send loop (docs/reliability.md, finding 7).
pub(super) fn serving_a_source_into_a_fast_reader_holds_no_caller(cx: &Ctx<'_>) -> Result<()> {
    let (mut sink, id) = connected_sink(cx, "source-sink", &[])?;
    let served = cx.wine.wskctl(
        &["--json", "serve", &id.to_string(), "--service", "source"],
        WSKCTL_TIMEOUT,
    )?;
    ensure!(
        served.success(),
        "`wskctl serve {id} --service source` into a Linux sink: {}",
        served.combined()
    );
    let started = Instant::now();
    // Each LIST is a request beside the running service; one that never returns fails here
    // after WSKCTL_TIMEOUT.
    let entry = wait_entry(cx.wine, id, TRANSFER_TIMEOUT, "256 MiB sent", |e| {
        e.get("sent").and_then(Value::as_u64) >= Some(SOURCED)
    })?;
    cx.wine.wskctl_ok(&["info"], WSKCTL_TIMEOUT)?;
    say(&format!(
        "  source into a Linux sink: {} sent in {:.1} s, every request beside it answered",
        fmt_bytes(json_u64(&entry, "sent")?),
        started.elapsed().as_secs_f64()
    ));
    close(cx.wine, id)?;
    let done = sink.wait_event("done", Duration::from_secs(10))?;
    ensure!(
        json_u64(&done, "received")? >= SOURCED && json_str(&done, "how")? == "eof",
        "closing the served endpoint reached the sink as {done}; expected end of stream after \
         at least {}",
        fmt_bytes(SOURCED)
    );
    Ok(())
}
