//! End-to-end cases for the commands and services of ABI v2. Every case asserts against a real
//! Linux peer on 127.0.0.1 or ::1 (tests/peers/*.py); [`crate::e2e`] runs them and skips those
//! whose [`Need`]s the provider of the run lacks.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;

use crate::e2e::Ctx;
use crate::peers::{self, Peer};
use crate::scenarios::{self, find_endpoint, list, wait_closed, TRANSFER_TIMEOUT};
use crate::util::{free_port, json_str, json_u64, parse_json_output, wine_path};
use crate::wine::{Wine, WSKCTL_TIMEOUT};

const MIB: u64 = 1 << 20;
const LOOPBACK4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const LOOPBACK6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);
/// The descriptor of the security round trip: SYSTEM has all access, nobody else any.
const SDDL: &str = "D:P(A;;GA;;;SY)";

/// A WSK capability a case needs beyond what Wine 8.0's built-in netio.sys implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Need {
    /// Datagram sockets (`WskSendTo`, `WskReceiveFrom`).
    Datagram,
    /// `WskControlSocket` option gets and sets.
    SocketOptions,
    /// `WskDisconnect`.
    Disconnect,
    /// `SO_WSK_SECURITY` and `WSK_CACHE_SD` (`WskControlSocket`, `WskControlClient`).
    Security,
    /// Cancelling a pending request (`IoCancelIrp`): Wine's netio sets no cancel routines, so
    /// the driver can only end the request by closing the connection.
    Cancel,
    /// IPv6 sockets: Wine 8.0's `WskBind` passes `sizeof(SOCKADDR)` (16 bytes) as the address
    /// length, so binding an IPv6 address fails (`WSAEFAULT`, reported as STATUS_NO_MEMORY).
    Ipv6,
}

impl Need {
    /// What Wine's netio.sys lacks, for the SKIP line.
    pub(crate) const fn lacking(self) -> &'static str {
        match self {
            Self::Datagram => "datagram sockets: WskSendTo/WskReceiveFrom",
            Self::SocketOptions => "WskControlSocket",
            Self::Disconnect => "WskDisconnect",
            Self::Security => "SO_WSK_SECURITY and WSK_CACHE_SD",
            Self::Ipv6 => "IPv6 binds: WskBind passes a 16-byte address length",
            Self::Cancel => "cancellation of pending requests (IoCancelIrp)",
        }
    }
}

/// `host:port` with brackets for IPv6.
fn at(host: IpAddr, port: u16) -> String {
    SocketAddr::new(host, port).to_string()
}

/// `wskctl --json ARGS` that must succeed; its JSON from stdout.
fn json_ok(wine: &Wine, args: &[&str]) -> Result<Value> {
    let mut full = vec!["--json"];
    full.extend_from_slice(args);
    let out = wine.wskctl_ok(&full, WSKCTL_TIMEOUT)?;
    parse_json_output(&out.stdout)
}

/// `wskctl --json tcp listen ADDR --service S --detach EXTRA...`; returns the id.
fn listen(wine: &Wine, local: &str, service: &str, extra: &[&str]) -> Result<u64> {
    let mut args = vec!["tcp", "listen", local, "--service", service, "--detach"];
    args.extend_from_slice(extra);
    json_u64(&json_ok(wine, &args)?, "id")
}

/// Polls `wskctl --json list` until endpoint `id` satisfies `pred` (services count
/// asynchronously); returns the entry, or fails with the last one seen.
fn wait_entry(
    wine: &Wine,
    id: u64,
    timeout: Duration,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Result<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let entry = find_endpoint(&list(wine)?, id)
            .with_context(|| format!("endpoint {id} missing from `wskctl list`"))?;
        if pred(&entry) {
            return Ok(entry);
        }
        if Instant::now() >= deadline {
            bail!(
                "endpoint {id}: no {what} within {} ms; last LIST entry: {entry}",
                timeout.as_millis()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn close(wine: &Wine, id: u64) -> Result<()> {
    wine.wskctl_ok(&["close", &id.to_string()], WSKCTL_TIMEOUT)
        .map(|_| ())
}

/// A discard listener counts exactly the bytes a Linux client sent, and sends none.
pub(crate) fn discard_counts_bytes(cx: &Ctx<'_>) -> Result<()> {
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
pub(crate) fn source_sends_the_pattern(cx: &Ctx<'_>) -> Result<()> {
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
pub(crate) fn echo_200_concurrent(cx: &Ctx<'_>) -> Result<()> {
    scenarios::listener_echo_on(cx.layout, cx.wine, "e2e-200", LOOPBACK4, 200, 16 << 10).map(|_| ())
}

/// An echo listener on [::1] serves 20 concurrent IPv6 Linux clients, 64 KiB each.
pub(crate) fn ipv6_echo_listener(cx: &Ctx<'_>) -> Result<()> {
    scenarios::listener_echo_on(cx.layout, cx.wine, "e2e-ipv6", LOOPBACK6, 20, 64 << 10).map(|_| ())
}

/// RESOLVE of `localhost` gives loopback addresses only, at least one of 127.0.0.1 and
/// ::1, carrying the service's port.
pub(crate) fn resolve_localhost(cx: &Ctx<'_>) -> Result<()> {
    for (service, port) in [(None, 0), (Some("9"), 9)] {
        let mut args = vec!["resolve", "localhost"];
        if let Some(service) = service {
            args.extend(["--service", service]);
        }
        let reply = json_ok(cx.wine, &args)?;
        let addresses: Vec<SocketAddr> = reply
            .get("addresses")
            .and_then(Value::as_array)
            .with_context(|| format!("no addresses in {reply}"))?
            .iter()
            .map(|a| {
                a.as_str()
                    .and_then(|s| s.parse().ok())
                    .with_context(|| format!("{a} is not an address"))
            })
            .collect::<Result<_>>()?;
        ensure!(
            addresses
                .iter()
                .any(|a| a.ip() == LOOPBACK4 || a.ip() == LOOPBACK6),
            "localhost resolved to {addresses:?}: neither 127.0.0.1 nor ::1"
        );
        ensure!(
            addresses
                .iter()
                .all(|a| a.ip().is_loopback() && a.port() == port),
            "localhost (service {service:?}) resolved to {addresses:?}: expected loopback addresses with port {port}"
        );
    }
    Ok(())
}

/// STATS counts the bytes of a connection exactly and the endpoint it opened.
pub(crate) fn stats_reflect_traffic(cx: &Ctx<'_>) -> Result<()> {
    const BYTES: u64 = 256 << 10;
    let (mut server, port) = peers::echo_server(cx.layout, "echo-server-stats")?;
    let upload = cx.layout.scratch.join("stats-upload.bin");
    let echoed = cx.layout.scratch.join("stats-echo.bin");
    crate::util::write_random_file(&upload, usize::try_from(BYTES)?)?;
    let before = json_ok(cx.wine, &["stats"])?;
    cx.wine.wskctl_ok(
        &[
            "tcp",
            "connect",
            &at(LOOPBACK4, port),
            "--send-file",
            &wine_path(&upload)?,
            "--recv-exact",
            &BYTES.to_string(),
            "--recv-to-file",
            &wine_path(&echoed)?,
        ],
        TRANSFER_TIMEOUT,
    )?;
    server.wait_event("closed", Duration::from_secs(5))?;
    let after = json_ok(cx.wine, &["stats"])?;
    let delta = |key: &str| -> Result<u64> {
        Ok(json_u64(&after, key)?.wrapping_sub(json_u64(&before, key)?))
    };
    for (key, expected) in [
        ("bytes_sent", BYTES),
        ("bytes_received", BYTES),
        ("endpoints_opened", 1),
    ] {
        let moved = delta(key)?;
        ensure!(
            moved == expected,
            "STATS {key} grew by {moved}, expected {expected} (before {before}, after {after})"
        );
    }
    ensure!(
        json_u64(&after, "endpoints_open")? == json_u64(&before, "endpoints_open")?,
        "the connection's endpoint is still counted open after wskctl exited: {after}"
    );
    // Not "advanced": under Wine, KeQueryInterruptTime counts milliseconds where Windows
    // counts 100 ns (docs/design.md), so uptime moves once every 10 s of real time.
    ensure!(
        json_u64(&after, "uptime_ms")? >= json_u64(&before, "uptime_ms")?,
        "uptime went backwards: {before} then {after}"
    );
    Ok(())
}

/// A UDP echo socket returns 1,000 datagrams of 1..1400 bytes from a Linux sender unchanged.
pub(crate) fn udp_echo_1000_datagrams(cx: &Ctx<'_>) -> Result<()> {
    let port = free_port()?;
    let reply = json_ok(
        cx.wine,
        &[
            "udp",
            "bind",
            &at(LOOPBACK4, port),
            "--service",
            "echo",
            "--detach",
        ],
    )?;
    let id = json_u64(&reply, "id")?;
    let mut peer = Peer::spawn(
        cx.layout,
        "udp_peer.py",
        "udp-check",
        &[
            "--mode".into(),
            "check".into(),
            "--port".into(),
            port.to_string(),
            "--count".into(),
            "1000".into(),
            "--min".into(),
            "1".into(),
            "--max".into(),
            "1400".into(),
        ],
    )?;
    let done = peer.wait_event("done", TRANSFER_TIMEOUT)?;
    ensure!(
        json_u64(&done, "ok")? == 1000
            && json_u64(&done, "altered")? == 0
            && json_u64(&done, "lost")? == 0,
        "of 1000 datagrams: {done}"
    );
    let bytes = json_u64(&done, "bytes")?;
    let entry = wait_entry(cx.wine, id, Duration::from_secs(5), "echo counts", |e| {
        e.get("received").and_then(Value::as_u64) >= Some(bytes)
            && e.get("sent").and_then(Value::as_u64) >= Some(bytes)
    })?;
    ensure!(
        json_str(&entry, "state")? == "bound" && json_str(&entry, "kind")? == "udp",
        "UDP endpoint {id} listed as {entry}"
    );
    close(cx.wine, id)
}

/// `sendto` and `recvfrom` against a Linux UDP peer that answers `re:` + the datagram, on
/// 127.0.0.1 and ::1.
pub(crate) fn udp_sendto_recvfrom(cx: &Ctx<'_>) -> Result<()> {
    for host in [LOOPBACK4, LOOPBACK6] {
        let mut peer = Peer::spawn(
            cx.layout,
            "udp_peer.py",
            &format!("udp-answer-{}", if host.is_ipv4() { 4 } else { 6 }),
            &[
                "--mode".into(),
                "answer".into(),
                "--host".into(),
                host.to_string(),
            ],
        )?;
        let bound = peer.wait_event("bound", Duration::from_secs(10))?;
        let peer_port = u16::try_from(json_u64(&bound, "port")?)?;
        let peer_at = at(host, peer_port);
        let id = json_u64(
            &json_ok(cx.wine, &["udp", "bind", &at(host, 0), "--detach"])?,
            "id",
        )?;
        let id_s = id.to_string();
        let text = "hello from the kernel";
        let sent = json_ok(cx.wine, &["sendto", &id_s, &peer_at, "--text", text])?;
        ensure!(
            json_u64(&sent, "sent")? == text.len() as u64,
            "sendto reported {sent}"
        );
        let got = peer.wait_event("datagram", Duration::from_secs(5))?;
        ensure!(
            json_str(&got, "hex")? == crate::e2e::hex(text.as_bytes()),
            "the peer received {got}, expected {text:?}"
        );
        let file = cx.layout.scratch.join(format!("recvfrom-{peer_port}.bin"));
        let out = cx.wine.wskctl_ok(
            &[
                "--json",
                "recvfrom",
                &id_s,
                "--timeout-ms",
                "5000",
                "--to-file",
                &wine_path(&file)?,
            ],
            WSKCTL_TIMEOUT,
        )?;
        let summary = parse_json_output(&out.stderr)?;
        let data = std::fs::read(&file).context("reading what recvfrom wrote")?;
        ensure!(
            data == format!("re:{text}").as_bytes(),
            "recvfrom got {:?}",
            String::from_utf8_lossy(&data)
        );
        ensure!(
            json_str(&summary, "from")? == peer_at,
            "recvfrom says the datagram came from {summary}, expected {peer_at}"
        );
        close(cx.wine, id)?;
        drop(peer);
    }
    Ok(())
}

/// keepalive, nodelay and rcvbuf of a connection round trip on IPv4 and IPv6: each starts
/// different from the value set, and the value read back after the set is the value set.
pub(crate) fn options_round_trip(cx: &Ctx<'_>) -> Result<()> {
    for host in [LOOPBACK4, LOOPBACK6] {
        let (mut server, port) = peers::echo_server_on(
            cx.layout,
            &format!("echo-server-options-{}", if host.is_ipv4() { 4 } else { 6 }),
            host,
        )?;
        let id = json_u64(
            &json_ok(cx.wine, &["tcp", "connect", &at(host, port), "--detach"])?,
            "id",
        )?;
        let id_s = id.to_string();
        server.wait_event("accept", Duration::from_secs(5))?;
        for (name, set, wire) in [
            ("keepalive", "on", 1),
            ("nodelay", "on", 1),
            ("rcvbuf", "262144", 262_144),
        ] {
            let get = |what: &str| -> Result<u64> {
                json_u64(&json_ok(cx.wine, &["opt", &id_s, name])?, "value")
                    .with_context(|| format!("{what} {name} on {host}"))
            };
            let initial = get("reading")?;
            ensure!(
                initial != wire,
                "{name} on {host} is already {initial} before the set; the round trip would prove nothing"
            );
            let echoed = json_u64(&json_ok(cx.wine, &["opt", &id_s, name, set])?, "value")?;
            ensure!(
                echoed == wire,
                "setting {name} to {set} on {host} read back {echoed}"
            );
            let again = get("re-reading")?;
            ensure!(again == wire, "{name} on {host} reads {again} after set");
        }
        close(cx.wine, id)?;
        wait_closed(&mut server, Duration::from_secs(5))?;
    }
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

/// Graceful DISCONNECT: the peer gets the final data then EOF, and can still send to us.
pub(crate) fn graceful_disconnect(cx: &Ctx<'_>) -> Result<()> {
    let text = "final words";
    let (mut server, id) = half_close_pair(cx, "half-close-graceful", text)?;
    cx.wine.wskctl_ok(&["disconnect", &id], WSKCTL_TIMEOUT)?;
    let end = server.wait_for("end of stream or reset", Duration::from_secs(5), |e| {
        peers::event_is(e, "eof") || peers::event_is(e, "reset")
    })?;
    ensure!(
        peers::event_is(&end, "eof"),
        "the peer saw {end}, expected an orderly EOF"
    );
    ensure!(
        json_str(&end, "hex")? == crate::e2e::hex(text.as_bytes()),
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
pub(crate) fn abortive_disconnect(cx: &Ctx<'_>) -> Result<()> {
    let (mut server, id) = half_close_pair(cx, "half-close-abortive", "doomed")?;
    cx.wine
        .wskctl_ok(&["disconnect", &id, "--abortive"], WSKCTL_TIMEOUT)?;
    let end = server.wait_for("end of stream or reset", Duration::from_secs(5), |e| {
        peers::event_is(e, "eof") || peers::event_is(e, "reset")
    })?;
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

/// `tcp listen --sddl` then `security` prints the same SDDL.
pub(crate) fn security_round_trip(cx: &Ctx<'_>) -> Result<()> {
    let port = free_port()?;
    let id = listen(cx.wine, &at(LOOPBACK4, port), "echo", &["--sddl", SDDL])?;
    let out = cx
        .wine
        .wskctl_ok(&["security", &id.to_string()], WSKCTL_TIMEOUT)?;
    ensure!(
        out.stdout.trim() == SDDL,
        "`wskctl security {id}` printed {:?}, expected {SDDL}",
        out.stdout.trim()
    );
    let reply = json_ok(cx.wine, &["security", &id.to_string()])?;
    ensure!(
        json_str(&reply, "sddl")? == SDDL,
        "`wskctl --json security {id}` gave {reply}"
    );
    close(cx.wine, id)?;
    // A UDP socket gets its descriptor through WskSocket's SecurityDescriptor parameter
    // (the listener above through SO_WSK_SECURITY): read back the same way.
    let udp_port = free_port()?;
    let udp = json_ok(
        cx.wine,
        &[
            "udp",
            "bind",
            &at(LOOPBACK4, udp_port),
            "--sddl",
            SDDL,
            "--detach",
        ],
    )?;
    let udp_id = json_u64(&udp, "id")?;
    let reply = json_ok(cx.wine, &["security", &udp_id.to_string()])?;
    ensure!(
        json_str(&reply, "sddl")? == SDDL,
        "UDP socket {udp_id} created with {SDDL}: `wskctl --json security` gave {reply}"
    );
    close(cx.wine, udp_id)
}

/// A listener without a service (`--service none`) queues a Linux client's connection;
/// `tcp accept` hands it over as a connection endpoint that `recv` and `send` drive; a second
/// accept with nothing queued times out with STATUS_IO_TIMEOUT; closing the connection
/// reaches the client as end of stream, and closing the listener stops it listening.
pub(crate) fn accept_service_hands_connections_to_user(cx: &Ctx<'_>) -> Result<()> {
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
        peers::event_is(&got, "reply")
            && json_str(&got, "hex")? == crate::e2e::hex(reply.as_bytes()),
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

/// An echo listener on `[::]` with `--dual-stack` serves Linux clients over both 127.0.0.1
/// and ::1, each getting exactly its bytes back.
pub(crate) fn dual_stack_listener_accepts_ipv4_and_ipv6(cx: &Ctx<'_>) -> Result<()> {
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
