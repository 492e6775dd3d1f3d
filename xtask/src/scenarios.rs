//! Traffic scenarios shared by the demo and the end-to-end suite. Each one checks its own
//! result (an `Err` is a failure) and returns the figures the demo prints.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use serde_json::Value;

use crate::layout::Layout;
use crate::peers::{self, event_is, Peer};
use crate::util::{
    free_port, json_str, json_u64, parse_json_output, sha256_file, wine_path, write_random_file,
};
use crate::wine::{Wine, WSKCTL_TIMEOUT};

/// Deadline of a wskctl call that moves a lot of data.
pub(crate) const TRANSFER_TIMEOUT: Duration = Duration::from_secs(120);

/// What [`outbound_echo`] observed.
#[derive(Debug)]
pub(crate) struct Outbound {
    pub(crate) id: u64,
    pub(crate) local: String,
    pub(crate) remote: String,
    pub(crate) bytes: u64,
    pub(crate) connect: Duration,
    pub(crate) send: Duration,
    pub(crate) recv: Duration,
    pub(crate) close: Duration,
    pub(crate) server_received: u64,
    pub(crate) server_sent: u64,
    pub(crate) server_close: String,
}

/// The driver connects to a Linux echo server, sends `bytes` random bytes from a file,
/// receives them back into another file, closes. Checks the SHA-256 and the server's counts.
pub(crate) fn outbound_echo(
    layout: &Layout,
    wine: &Wine,
    tag: &str,
    bytes: u64,
) -> Result<Outbound> {
    let (mut server, port) = peers::echo_server(layout, &format!("echo-server-{tag}"))?;
    let upload = layout.scratch.join(format!("{tag}-upload.bin"));
    let download = layout.scratch.join(format!("{tag}-download.bin"));
    let len = usize::try_from(bytes).context("transfer size does not fit in memory")?;
    let digest = write_random_file(&upload, len)?;
    let remote = format!("127.0.0.1:{port}");

    let out = wine.wskctl_ok(
        &["--json", "tcp", "connect", &remote, "--detach"],
        WSKCTL_TIMEOUT,
    )?;
    let endpoint = parse_json_output(&out.stdout)?;
    let id = json_u64(&endpoint, "id")?;
    let id_s = id.to_string();
    let connect = out.elapsed;
    server.wait_event("accept", Duration::from_secs(5))?;

    let sent = wine.wskctl_ok(
        &["send", &id_s, "--file", &wine_path(&upload)?],
        TRANSFER_TIMEOUT,
    )?;
    let received = wine.wskctl_ok(
        &[
            "recv",
            &id_s,
            "--exact",
            &bytes.to_string(),
            "--to-file",
            &wine_path(&download)?,
        ],
        TRANSFER_TIMEOUT,
    )?;
    let (got_len, got_digest) = sha256_file(&download)?;
    ensure!(
        got_len == bytes,
        "received {got_len} bytes back, sent {bytes}"
    );
    ensure!(
        got_digest == digest,
        "data came back changed: sha256 {got_digest}, sent {digest}"
    );

    let closed = wine.wskctl_ok(&["close", &id_s], WSKCTL_TIMEOUT)?;
    let end = server.wait_event("closed", Duration::from_secs(5))?;
    let server_received = json_u64(&end, "received")?;
    let server_sent = json_u64(&end, "sent")?;
    ensure!(
        server_received == bytes && server_sent == bytes,
        "echo server counted {server_received} bytes in and {server_sent} out, expected {bytes}"
    );
    Ok(Outbound {
        id,
        local: endpoint_addr(&endpoint, "local"),
        remote: endpoint_addr(&endpoint, "remote"),
        bytes,
        connect,
        send: sent.elapsed,
        recv: received.elapsed,
        close: closed.elapsed,
        server_received,
        server_sent,
        server_close: json_str(&end, "how").unwrap_or("?").to_owned(),
    })
}

/// What [`listener_echo`] observed.
#[derive(Debug)]
pub(crate) struct Inbound {
    pub(crate) id: u64,
    pub(crate) port: u16,
    pub(crate) clients: u64,
    pub(crate) bytes_each: u64,
    pub(crate) listen: Duration,
    pub(crate) clients_seconds: f64,
    pub(crate) total_sent: u64,
    pub(crate) total_received: u64,
    pub(crate) served: u64,
    pub(crate) close: Duration,
}

/// An in-kernel echo listener on 127.0.0.1 serves `clients` concurrent Linux clients,
/// `bytes_each` each; every byte must come back. Then the listener is closed and must stop
/// accepting.
pub(crate) fn listener_echo(
    layout: &Layout,
    wine: &Wine,
    tag: &str,
    clients: u64,
    bytes_each: u64,
) -> Result<Inbound> {
    listener_echo_on(
        layout,
        wine,
        tag,
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        clients,
        bytes_each,
    )
}

/// [`listener_echo`] on `host` (127.0.0.1 or ::1).
pub(crate) fn listener_echo_on(
    layout: &Layout,
    wine: &Wine,
    tag: &str,
    host: IpAddr,
    clients: u64,
    bytes_each: u64,
) -> Result<Inbound> {
    let port = free_port()?;
    let local = SocketAddr::new(host, port).to_string();
    let out = wine.wskctl_ok(
        &[
            "--json",
            "tcp",
            "listen",
            &local,
            "--service",
            "echo",
            "--backlog",
            "128",
            "--detach",
        ],
        WSKCTL_TIMEOUT,
    )?;
    let id = json_u64(&parse_json_output(&out.stdout)?, "id")?;
    let listen = out.elapsed;

    let mut peer = Peer::spawn(
        layout,
        "echo_clients.py",
        &format!("echo-clients-{tag}"),
        &[
            "--host".into(),
            host.to_string(),
            "--port".into(),
            port.to_string(),
            "--clients".into(),
            clients.to_string(),
            "--bytes".into(),
            bytes_each.to_string(),
            "--timeout".into(),
            "60".into(),
        ],
    )?;
    let done = peer.wait_event("done", TRANSFER_TIMEOUT)?;
    let status = peer.finish(Duration::from_secs(10))?;
    let ok = json_u64(&done, "ok")?;
    let total_sent = json_u64(&done, "bytes_sent")?;
    let total_received = json_u64(&done, "bytes_received")?;
    ensure!(
        ok == clients && status.success(),
        "{ok} of {clients} clients got their data back exactly: {}",
        done.get("errors")
            .map_or_else(String::new, Value::to_string)
    );
    let expected = clients * bytes_each;
    ensure!(
        total_sent == expected && total_received == expected,
        "clients sent {total_sent} and received {total_received} bytes, expected {expected}"
    );

    let entry = find_endpoint(&list(wine)?, id)
        .with_context(|| format!("listener {id} missing from `wskctl list`"))?;
    let served = json_u64(&entry, "served")?;
    ensure!(
        served >= clients,
        "listener {id} reports {served} connections served, expected {clients}"
    );

    let closed = wine.wskctl_ok(&["close", &id.to_string()], WSKCTL_TIMEOUT)?;
    ensure!(
        find_endpoint(&list(wine)?, id).is_none(),
        "listener {id} still listed after `wskctl close`"
    );
    let addr = SocketAddr::new(host, port);
    ensure!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err(),
        "{addr} still accepts connections after the listener was closed"
    );
    Ok(Inbound {
        id,
        port,
        clients,
        bytes_each,
        listen,
        clients_seconds: done.get("seconds").and_then(Value::as_f64).unwrap_or(0.0),
        total_sent,
        total_received,
        served,
        close: closed.elapsed,
    })
}

/// `wskctl --json list` as a vector of endpoint objects.
pub(crate) fn list(wine: &Wine) -> Result<Vec<Value>> {
    let out = wine.wskctl_ok(&["--json", "list"], WSKCTL_TIMEOUT)?;
    let value = parse_json_output(&out.stdout)?;
    let array = match &value {
        Value::Array(items) => items.clone(),
        Value::Object(map) => map
            .get("endpoints")
            .and_then(Value::as_array)
            .cloned()
            .with_context(|| format!("`wskctl --json list` gave no array: {value}"))?,
        _ => anyhow::bail!("`wskctl --json list` gave no array: {value}"),
    };
    Ok(array)
}

pub(crate) fn find_endpoint(list: &[Value], id: u64) -> Option<Value> {
    list.iter()
        .find(|e| e.get("id").and_then(Value::as_u64) == Some(id))
        .cloned()
}

/// An address field of wskctl's JSON, as text whatever its shape.
fn endpoint_addr(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".to_owned(),
        Some(other) => other.to_string(),
    }
}

/// Waits until the peer reports that its connection ended (EOF or reset); returns how.
pub(crate) fn wait_closed(peer: &mut Peer, timeout: Duration) -> Result<String> {
    let event = peer.wait_for("end of its connection (eof or reset)", timeout, |e| {
        event_is(e, "eof") || event_is(e, "reset") || event_is(e, "closed")
    })?;
    Ok(event
        .get("how")
        .and_then(Value::as_str)
        .or_else(|| event.get("event").and_then(Value::as_str))
        .unwrap_or("?")
        .to_owned())
}
