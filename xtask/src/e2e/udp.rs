//! UDP sockets: an in-kernel echo of many datagrams, and `sendto`/`recvfrom` against a
//! Linux peer on IPv4 and IPv6.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use serde_json::Value;

use super::helpers::{at, close, json_ok, wait_entry, LOOPBACK4, LOOPBACK6};
use super::{abi, Ctx};
use crate::peers::Peer;
use crate::scenarios::TRANSFER_TIMEOUT;
use crate::util::{free_port, json_str, json_u64, parse_json_output, wine_path};
use crate::wine::WSKCTL_TIMEOUT;

/// A UDP echo socket returns 1,000 datagrams of 1..1400 bytes from a Linux sender unchanged.
pub(super) fn udp_echo_1000_datagrams(cx: &Ctx<'_>) -> Result<()> {
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
pub(super) fn udp_sendto_recvfrom(cx: &Ctx<'_>) -> Result<()> {
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
            json_str(&got, "hex")? == abi::hex(text.as_bytes()),
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

/// `recvfrom --max 8` of a longer datagram (fuzz finding 1, docs/reliability.md): the first 8
/// bytes and the sender, with success (docs/protocol.md: a longer datagram is truncated), and
/// the endpoint keeps receiving. Under the wsk-rs provider the datagram is queued when the
/// receive starts, so Winsock reports it truncated during the call (`WSAEMSGSIZE`, a warning
/// whose completion packet once freed the provider's request a second time).
pub(super) fn udp_recvfrom_truncates_a_longer_datagram(cx: &Ctx<'_>) -> Result<()> {
    let mut peer = Peer::spawn(
        cx.layout,
        "udp_peer.py",
        "udp-answer-truncate",
        &["--mode".into(), "answer".into()],
    )?;
    let bound = peer.wait_event("bound", Duration::from_secs(10))?;
    let peer_port = u16::try_from(json_u64(&bound, "port")?)?;
    let peer_at = at(LOOPBACK4, peer_port);
    let id = json_u64(
        &json_ok(cx.wine, &["udp", "bind", &at(LOOPBACK4, 0), "--detach"])?,
        "id",
    )?;
    let id_s = id.to_string();
    for round in 0..3 {
        let text = format!("round {round}: a datagram much longer than eight bytes");
        json_ok(cx.wine, &["sendto", &id_s, &peer_at, "--text", &text])?;
        // The answer ("re:" + text) is queued on the endpoint's socket before recvfrom starts.
        peer.wait_event("datagram", Duration::from_secs(5))?;
        let file = cx
            .layout
            .scratch
            .join(format!("recvfrom-truncated-{round}.bin"));
        let out = cx.wine.wskctl_ok(
            &[
                "--json",
                "recvfrom",
                &id_s,
                "--max",
                "8",
                "--timeout-ms",
                "5000",
                "--to-file",
                &wine_path(&file)?,
            ],
            WSKCTL_TIMEOUT,
        )?;
        let summary = parse_json_output(&out.stderr)?;
        let data = std::fs::read(&file).context("reading what recvfrom wrote")?;
        let whole = format!("re:{text}");
        ensure!(
            data == whole.as_bytes()[..8],
            "round {round}: recvfrom --max 8 got {:?}, expected {:?}",
            String::from_utf8_lossy(&data),
            &whole[..8]
        );
        ensure!(
            json_str(&summary, "from")? == peer_at,
            "round {round}: recvfrom says the datagram came from {summary}, expected {peer_at}"
        );
    }
    close(cx.wine, id)?;
    drop(peer);
    Ok(())
}
