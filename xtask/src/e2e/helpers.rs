//! What several case files use: loopback addresses, wskctl calls that must succeed, waiting
//! for an endpoint's LIST entry, and a Linux sink server with a connection to it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use super::Ctx;
use crate::layout::Layout;
use crate::peers::Peer;
use crate::scenarios::{find_endpoint, list};
use crate::util::{json_u64, parse_json_output};
use crate::wine::{Wine, WSKCTL_TIMEOUT};

pub(super) const MIB: u64 = 1 << 20;
pub(super) const LOOPBACK4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
pub(super) const LOOPBACK6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

/// `host:port` with brackets for IPv6.
pub(super) fn at(host: IpAddr, port: u16) -> String {
    SocketAddr::new(host, port).to_string()
}

/// `wskctl --json ARGS` that must succeed; its JSON from stdout.
pub(super) fn json_ok(wine: &Wine, args: &[&str]) -> Result<Value> {
    let mut full = vec!["--json"];
    full.extend_from_slice(args);
    let out = wine.wskctl_ok(&full, WSKCTL_TIMEOUT)?;
    parse_json_output(&out.stdout)
}

/// `wskctl --json tcp listen ADDR --service S --detach EXTRA...`; returns the id.
pub(super) fn listen(wine: &Wine, local: &str, service: &str, extra: &[&str]) -> Result<u64> {
    let mut args = vec!["tcp", "listen", local, "--service", service, "--detach"];
    args.extend_from_slice(extra);
    json_u64(&json_ok(wine, &args)?, "id")
}

/// `wskctl --json tcp connect REMOTE --detach`; returns the id.
pub(super) fn connect_detached(wine: &Wine, remote: &str) -> Result<u64> {
    json_u64(
        &json_ok(wine, &["tcp", "connect", remote, "--detach"])?,
        "id",
    )
}

/// `wskctl close ID`, which must succeed.
pub(super) fn close(wine: &Wine, id: u64) -> Result<()> {
    wine.wskctl_ok(&["close", &id.to_string()], WSKCTL_TIMEOUT)
        .map(|_| ())
}

/// Polls `wskctl --json list` until endpoint `id` satisfies `pred` (services count
/// asynchronously); returns the entry, or fails with the last one seen.
pub(super) fn wait_entry(
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

/// Starts `tests/peers/sink_server.py` on 127.0.0.1 (with `extra` arguments); returns it and
/// its port.
pub(super) fn sink_server(layout: &Layout, name: &str, extra: &[&str]) -> Result<(Peer, u16)> {
    let mut args: Vec<String> = ["--host", "127.0.0.1", "--port", "0"]
        .map(String::from)
        .to_vec();
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    let mut peer = Peer::spawn(layout, "sink_server.py", name, &args)?;
    let ready = peer.wait_event("listening", Duration::from_secs(10))?;
    let port = json_u64(&ready, "port")
        .ok()
        .and_then(|p| u16::try_from(p).ok())
        .with_context(|| format!("{name}: bad `listening` event {ready}"))?;
    Ok((peer, port))
}

/// A sink server (as [`sink_server`]) with a detached connection from the driver that it
/// has accepted; returns the sink and the connection's endpoint id.
pub(super) fn connected_sink(cx: &Ctx<'_>, name: &str, extra: &[&str]) -> Result<(Peer, u64)> {
    let (mut sink, port) = sink_server(cx.layout, name, extra)?;
    let id = connect_detached(cx.wine, &at(LOOPBACK4, port))?;
    sink.wait_event("accept", Duration::from_secs(5))?;
    Ok((sink, id))
}
