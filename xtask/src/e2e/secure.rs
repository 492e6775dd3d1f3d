//! Winsock's secure socket extensions through the driver: the settings of `tcp connect`, `tcp
//! listen` and `udp bind` (`--secure`, `FLAG_SECURE`), a connection's peer target name,
//! `secure set-peer-name` / `delete-peer-name` on a UDP endpoint, and `secure query`, each
//! with a good case against a real Linux peer and the bad input the driver or the provider
//! refuses with its documented status (docs/protocol.md, *Secure socket extensions*).
//!
//! They need the provider's `WskControlSocket` (Wine's netio.sys has none). The project's
//! provider has no IPsec: it keeps settings that allow clear text, refuses those that require
//! security (`STATUS_NOT_SUPPORTED`) and reports every connection as IPsec, neither
//! authenticated nor encrypted (`tests/wsk-provider/README.md`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use serde_json::Value;

use super::helpers::{at, close, json_ok, LOOPBACK4};
use super::{abi, Ctx};
use crate::peers::{self, Peer};
use crate::scenarios::wait_closed;
use crate::util::{free_port, json_str, json_u64};
use crate::wine::{Wine, WSKCTL_TIMEOUT};

/// `wskctl ARGS`, which must fail (exit 1) naming `status`.
fn refused(wine: &Wine, args: &[&str], status: &str) -> Result<()> {
    let out = wine.wskctl(args, WSKCTL_TIMEOUT)?;
    let text = out.combined();
    ensure!(
        out.code() == Some(1) && text.contains(status),
        "`wskctl {}` should fail with {status}: exit {:?}, {text}",
        args.join(" "),
        out.code()
    );
    Ok(())
}

/// `wskctl raw --code CODE --input-hex INPUT`: the status it prints.
fn raw_status(wine: &Wine, code: u32, input: &[u8], output_len: u32) -> Result<String> {
    let out = wine.wskctl(
        &[
            "raw",
            "--code",
            &format!("{code:#010x}"),
            "--input-hex",
            &abi::hex(input),
            "--output-len",
            &output_len.to_string(),
        ],
        WSKCTL_TIMEOUT,
    )?;
    let text = out.combined();
    text.lines()
        .find_map(|line| line.strip_prefix("status "))
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .with_context(|| format!("no status line from `wskctl raw`: {text}"))
}

/// A `secure query` reply says: IPsec (the project's provider reports it), neither
/// authenticated nor encrypted, and nothing of tokens.
fn check_unsecured(reply: &Value, what: &str) -> Result<()> {
    ensure!(
        json_str(reply, "protocol")? == "ipsec"
            && json_u64(reply, "flags")? == 0
            && reply.get("secured") == Some(&Value::Bool(false))
            && reply.get("encrypted") == Some(&Value::Bool(false)),
        "{what}: `secure query` gave {reply}, expected protocol ipsec, not secured, not encrypted"
    );
    Ok(())
}

/// A connection opened with settings that allow clear text and a peer target name reaches a
/// Linux echo server and echoes; its query reports an unsecured connection; settings that
/// require security are not supported here; a bad protocol value and a name too long are
/// refused by the driver; a peer target name after connect and a query with a peer on a
/// connection are refused; a listener with settings serves a Linux client.
pub(super) fn secure_connection_settings(cx: &Ctx<'_>) -> Result<()> {
    let (mut server, port) = peers::echo_server(cx.layout, "echo-server-secure")?;
    let remote = at(LOOPBACK4, port);
    let opened = json_ok(
        cx.wine,
        &[
            "tcp",
            "connect",
            &remote,
            "--secure",
            "default",
            "--allow-insecure",
            "--peer-target-name",
            "host/echo.example",
            "--detach",
        ],
    )?;
    let id = json_u64(&opened, "id")?;
    let id_s = id.to_string();
    server.wait_event("accept", Duration::from_secs(5))?;
    // Clear text is allowed: the connection carries data both ways.
    cx.wine
        .wskctl_ok(&["send", &id_s, "--text", "secured?"], WSKCTL_TIMEOUT)?;
    let echoed = cx
        .wine
        .wskctl_ok(&["recv", &id_s, "--exact", "8"], WSKCTL_TIMEOUT)?;
    ensure!(
        echoed.stdout == "secured?",
        "the echo came back as {:?}",
        echoed.stdout
    );
    // The query of an unsecured connection: text and JSON from the same reply.
    let text = cx
        .wine
        .wskctl_ok(&["secure", "query", &id_s], WSKCTL_TIMEOUT)?;
    ensure!(
        text.stdout.trim() == format!("endpoint {id}: protocol ipsec, not secured, not encrypted"),
        "`wskctl secure query {id}` printed {:?}",
        text.stdout
    );
    check_unsecured(
        &json_ok(cx.wine, &["secure", "query", &id_s])?,
        "connection",
    )?;
    // Too late and the wrong form: a peer target name after connect, a peer on a query.
    refused(
        cx.wine,
        &["secure", "set-peer-name", &id_s, &remote, "host/late"],
        "STATUS_INVALID_DEVICE_STATE",
    )?;
    refused(
        cx.wine,
        &["secure", "query", &id_s, "--peer", &remote],
        "STATUS_INVALID_PARAMETER",
    )?;
    close(cx.wine, id)?;
    wait_closed(&mut server, Duration::from_secs(5))?;

    refused_at_creation(cx, port)?;
    drop(server);

    // A listener with settings serves a Linux client; a listener has no security to query.
    let listen_port = free_port()?;
    let listen_at = at(LOOPBACK4, listen_port);
    let listener = json_u64(
        &json_ok(
            cx.wine,
            &[
                "tcp",
                "listen",
                &listen_at,
                "--service",
                "echo",
                "--secure",
                "ipsec2",
                "--allow-insecure",
                "--detach",
            ],
        )?,
        "id",
    )?;
    let mut client = TcpStream::connect(listen_at.as_str())
        .with_context(|| format!("connecting to the secured listener on {listen_at}"))?;
    client.set_read_timeout(Some(Duration::from_secs(5)))?;
    client.write_all(b"through")?;
    let mut back = [0u8; 7];
    client
        .read_exact(&mut back)
        .context("reading the secured listener's echo")?;
    ensure!(&back == b"through", "the listener echoed {back:?}");
    drop(client);
    refused(
        cx.wine,
        &["secure", "query", &listener.to_string()],
        "STATUS_INVALID_DEVICE_STATE",
    )?;
    close(cx.wine, listener)
}

/// Connections the provider or the driver refuses at creation: settings that require
/// security (the provider has no IPsec to honour them), and bad input through the IOCTL
/// itself (wskctl refuses it before sending).
fn refused_at_creation(cx: &Ctx<'_>, port: u16) -> Result<()> {
    let remote = at(LOOPBACK4, port);
    refused(
        cx.wine,
        &["tcp", "connect", &remote, "--secure", "ipsec", "--detach"],
        "STATUS_NOT_SUPPORTED",
    )?;
    for (what, request) in [
        (
            "protocol 3 (SOCKET_SECURITY_PROTOCOL_INVALID)",
            abi::tcp_connect_secure(2, port, Some((3, 2)), b""),
        ),
        (
            "a 128-byte peer target name",
            abi::tcp_connect_secure(2, port, Some((0, 2)), &[b'n'; 128]),
        ),
        (
            "a peer target name without FLAG_SECURE",
            abi::tcp_connect_secure(2, port, None, b"host/x"),
        ),
    ] {
        let status = raw_status(cx.wine, abi::TCP_CONNECT, &request, 80)?;
        ensure!(
            status == "STATUS_INVALID_PARAMETER",
            "TCP_CONNECT with {what}: {status}, expected STATUS_INVALID_PARAMETER"
        );
    }
    let usage = cx.wine.wskctl(
        &["tcp", "connect", &remote, "--peer-target-name", "host/x"],
        WSKCTL_TIMEOUT,
    )?;
    ensure!(
        usage.code() == Some(2),
        "--peer-target-name without --secure: exit {:?}",
        usage.code()
    );
    Ok(())
}

/// A UDP endpoint with settings names a Linux peer, exchanges datagrams with it, queries the
/// security of that traffic and forgets the name; a bad protocol value and a name too long
/// are refused by the driver, a second delete by the provider.
pub(super) fn secure_udp_peer_names(cx: &Ctx<'_>) -> Result<()> {
    let mut peer = Peer::spawn(
        cx.layout,
        "udp_peer.py",
        "udp-answer-secure",
        &[
            "--mode".into(),
            "answer".into(),
            "--host".into(),
            "127.0.0.1".into(),
        ],
    )?;
    let bound = peer.wait_event("bound", Duration::from_secs(10))?;
    let peer_port = u16::try_from(json_u64(&bound, "port")?)?;
    let peer_at = at(LOOPBACK4, peer_port);
    let id = json_u64(
        &json_ok(
            cx.wine,
            &[
                "udp",
                "bind",
                &at(LOOPBACK4, 0),
                "--secure",
                "default",
                "--allow-insecure",
                "--detach",
            ],
        )?,
        "id",
    )?;
    let id_s = id.to_string();
    let named = json_ok(
        cx.wine,
        &[
            "secure",
            "set-peer-name",
            &id_s,
            &peer_at,
            "host/udp.example",
            "--protocol",
            "ipsec",
        ],
    )?;
    ensure!(
        json_str(&named, "name")? == "host/udp.example",
        "set-peer-name gave {named}"
    );
    for (what, protocol, name) in [
        ("protocol 3", 3, b"host/x".to_vec()),
        ("a 128-byte name", 0, vec![b'n'; 128]),
        ("an empty name", 0, Vec::new()),
    ] {
        let request = abi::set_peer_target_name(id, peer_port, protocol, &name);
        let status = raw_status(cx.wine, abi::SET_PEER_TARGET_NAME, &request, 8)?;
        ensure!(
            status == "STATUS_INVALID_PARAMETER",
            "SET_PEER_TARGET_NAME with {what}: {status}, expected STATUS_INVALID_PARAMETER"
        );
    }
    // Traffic with the named peer, clear text allowed.
    cx.wine.wskctl_ok(
        &["sendto", &id_s, &peer_at, "--text", "named"],
        WSKCTL_TIMEOUT,
    )?;
    peer.wait_event("datagram", Duration::from_secs(5))?;
    let answer = cx
        .wine
        .wskctl_ok(&["recvfrom", &id_s, "--timeout-ms", "5000"], WSKCTL_TIMEOUT)?;
    ensure!(
        answer.stdout == "re:named",
        "recvfrom got {:?}",
        answer.stdout
    );
    check_unsecured(
        &json_ok(cx.wine, &["secure", "query", &id_s, "--peer", &peer_at])?,
        "UDP traffic",
    )?;
    refused(
        cx.wine,
        &["secure", "query", &id_s],
        "STATUS_INVALID_PARAMETER",
    )?;
    cx.wine.wskctl_ok(
        &["secure", "delete-peer-name", &id_s, &peer_at],
        WSKCTL_TIMEOUT,
    )?;
    refused(
        cx.wine,
        &["secure", "delete-peer-name", &id_s, &peer_at],
        "STATUS_NOT_FOUND",
    )?;
    close(cx.wine, id)
}
