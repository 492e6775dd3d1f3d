//! The "lib.secure" checks: Winsock's secure socket extensions through `wsk::secure` and, for
//! malformed input, raw `WskIoctl` requests, on the provider in place. Expected results: as
//! the `WSASetSocketSecurity` family's pages describe them, with the statuses
//! `wskrs_provider_model::secure` documents where Winsock names only an error code. A
//! provider without `WskControlSocket` (Wine's netio) makes them UNSUPPORTED.

use core::net::SocketAddr;

use wsk::secure::{PeerTargetName, SecurityProtocol, SecuritySettings};
use wsk::SocketOptions;
use wsk::{BindOptions, ConnectionSocket, DatagramSocket, Error, ListenSocket, NtStatus};
use wsk_bindings as sys;
use wskrs_conformance_abi::Outcome;

use crate::lib_checks::{LibCx, LOOPBACK4, WAIT};
use crate::report::{detail, St};

const CLEAR_TEXT_ALLOWED: SecuritySettings<'static> = SecuritySettings {
    protocol: SecurityProtocol::Default,
    guarantee_encryption: false,
    allow_insecure: true,
    ipsec: None,
};

static SERVER: &[u16] = wsk::utf16!("host/wskrs-conformance");

/// Runs the group's checks. IRQL: PASSIVE_LEVEL.
pub(crate) fn run(cx: &mut LibCx<'_, '_>) {
    settings_then_query(cx);
    required_security(cx);
    datagram_peer_names(cx);
    malformed_requests(cx);
}

fn status_of<T>(r: &Result<T, Error>) -> NtStatus {
    r.as_ref()
        .map_or_else(|e| e.status(), |_| NtStatus::SUCCESS)
}

/// Settings that allow clear text on a listener and a connection (before bind), a peer target
/// name on the connection (before connect); both ends then query an unsecured connection.
fn settings_then_query(cx: &mut LibCx<'_, '_>) {
    let name = "lib.secure.settings_peer_name_query";
    let options = BindOptions {
        socket_security: Some(&CLEAR_TEXT_ALLOWED),
        ..BindOptions::default()
    };
    let mut listener = match ListenSocket::bind_with(cx.client, LOOPBACK4, options, WAIT) {
        Ok(l) => l,
        Err(e) => return cx.failed(name, "ListenSocket::bind_with(socket_security)", e),
    };
    let exclusive = listener.exclusive_address();
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => return cx.failed(name, "local_addr", e),
    };
    let target = PeerTargetName {
        protocol: SecurityProtocol::Ipsec,
        peer: None,
        name: SERVER,
    };
    let options = BindOptions {
        socket_security: Some(&CLEAR_TEXT_ALLOWED),
        peer_target_name: Some(&target),
        ..BindOptions::default()
    };
    let mut near = match ConnectionSocket::connect_with(cx.client, addr, None, options, WAIT) {
        Ok(c) => c,
        Err(e) => return cx.failed(name, "ConnectionSocket::connect_with(security, name)", e),
    };
    let mut far = match listener.accept(WAIT) {
        Ok((c, _)) => c,
        Err(e) => return cx.failed(name, "accept", e),
    };
    let (near_info, far_info) = (near.query_security(), far.query_security());
    match (exclusive, near_info, far_info) {
        (Ok(true), Ok(a), Ok(b)) if a == b && a.protocol == 1 && !a.is_secured() => cx.push(
            name,
            Outcome::Pass,
            NtStatus::SUCCESS,
            &detail!(
                "exclusive address; both ends: protocol IPSEC, flags {:#x}",
                a.flags
            ),
        ),
        (_, Err(e), _) | (_, _, Err(e)) => cx.failed(name, "query_security", e),
        (exclusive, Ok(a), Ok(b)) => cx.push(
            name,
            Outcome::Fail,
            NtStatus::SUCCESS,
            &detail!("exclusive {exclusive:?}; near {a:?}; far {b:?}"),
        ),
    }
}

/// Settings that require security get STATUS_NOT_SUPPORTED from a provider without IPsec
/// (the wsk-rs provider; on Windows they would apply IPsec policy instead).
fn required_security(cx: &mut LibCx<'_, '_>) {
    let name = "lib.secure.required_security_refused";
    let settings = SecuritySettings::default();
    let options = BindOptions {
        socket_security: Some(&settings),
        ..BindOptions::default()
    };
    let bound = ListenSocket::bind_with(cx.client, LOOPBACK4, options, WAIT);
    let status = status_of(&bound);
    let outcome = match status {
        NtStatus::NOT_SUPPORTED => Outcome::Pass,
        NtStatus::NOT_IMPLEMENTED => Outcome::Unsupported,
        _ => Outcome::Fail,
    };
    cx.push(
        name,
        outcome,
        status,
        &detail!("default settings (IPsec required): {}", St(status)),
    );
}

/// A datagram socket names a peer, queries it, deletes the name, and deleting again is
/// STATUS_NOT_FOUND.
fn datagram_peer_names(cx: &mut LibCx<'_, '_>) {
    let name = "lib.secure.datagram_peer_names";
    let mut udp = match DatagramSocket::bind(cx.client, LOOPBACK4, WAIT) {
        Ok(u) => u,
        Err(e) => return cx.failed(name, "DatagramSocket::bind", e),
    };
    let peer = SocketAddr::new(LOOPBACK4.ip(), 9);
    let target = PeerTargetName {
        protocol: SecurityProtocol::Ipsec2,
        peer: Some(peer),
        name: SERVER,
    };
    if let Err(e) = udp.set_peer_target_name(&target) {
        return cx.failed(name, "set_peer_target_name", e);
    }
    let info = udp.query_security(peer);
    let first = status_of(&udp.delete_peer_target_name(peer));
    let second = status_of(&udp.delete_peer_target_name(peer));
    match info {
        Ok(i) if first == NtStatus::SUCCESS && second == NtStatus::NOT_FOUND && i.flags == 0 => {
            cx.push(
                name,
                Outcome::Pass,
                NtStatus::SUCCESS,
                &detail!("set, query (unsecured), delete, delete again: NOT_FOUND"),
            );
        }
        Err(e) => cx.failed(name, "query_security", e),
        Ok(i) => cx.push(
            name,
            Outcome::Fail,
            second,
            &detail!("query {i:?}; delete {}; again {}", St(first), St(second)),
        ),
    }
}

/// A `SOCKET_PEER_TARGET_NAME` (protocol, IPv4 peer, length field) followed by `units`.
fn peer_name_bytes(out: &mut [u8; 200], protocol: u32, len: u32, units: usize) -> usize {
    out.fill(0);
    let family = sys::AF_INET_FAMILY.to_ne_bytes();
    for (at, bytes) in [
        (0usize, &protocol.to_ne_bytes()[..]),
        (8, &family[..]),
        (10, &[0, 9][..]),
    ] {
        if let Some(dst) = out.get_mut(at..at.saturating_add(bytes.len())) {
            dst.copy_from_slice(bytes);
        }
    }
    // 127.0.0.1
    if let Some(dst) = out.get_mut(12..16) {
        dst.copy_from_slice(&[127, 0, 0, 1]);
    }
    if let Some(dst) = out.get_mut(136..140) {
        dst.copy_from_slice(&len.to_ne_bytes());
    }
    let end = sys::SOCKET_PEER_TARGET_NAME_STRINGS.saturating_add(units.saturating_mul(2));
    if let Some(dst) = out.get_mut(sys::SOCKET_PEER_TARGET_NAME_STRINGS..end) {
        dst.fill(b'h');
    }
    end.min(out.len())
}

/// Malformed and out-of-order requests, each with its expected status.
fn malformed_requests(cx: &mut LibCx<'_, '_>) {
    let name = "lib.secure.malformed_requests";
    let mut udp = match DatagramSocket::bind(cx.client, LOOPBACK4, WAIT) {
        Ok(u) => u,
        Err(e) => return cx.failed(name, "DatagramSocket::bind", e),
    };
    let mut buf = [0u8; 200];
    let mut out = [0u8; 24];
    let mut cases: [(&str, NtStatus, NtStatus); 6] =
        [("", NtStatus::SUCCESS, NtStatus::SUCCESS); 6];
    let status = |r: Result<usize, Error>| r.map_or_else(Error::status, |_| NtStatus::SUCCESS);
    let n = peer_name_bytes(&mut buf, 1, 3, 3);
    let short = udp.ioctl_raw(
        sys::SIO_SET_PEER_TARGET_NAME,
        buf.get(..100).unwrap_or_default(),
        &mut [],
    );
    cases[0] = (
        "name structure cut short",
        NtStatus::BUFFER_TOO_SMALL,
        status(short),
    );
    let past = udp.ioctl_raw(
        sys::SIO_SET_PEER_TARGET_NAME,
        buf.get(..n.saturating_sub(2)).unwrap_or_default(),
        &mut [],
    );
    cases[1] = (
        "name longer than the buffer",
        NtStatus::INVALID_PARAMETER,
        status(past),
    );
    let n = peer_name_bytes(&mut buf, 3, 3, 3);
    let bad_protocol = udp.ioctl_raw(
        sys::SIO_SET_PEER_TARGET_NAME,
        buf.get(..n).unwrap_or_default(),
        &mut [],
    );
    cases[2] = (
        "protocol INVALID",
        NtStatus::INVALID_PARAMETER,
        status(bad_protocol),
    );
    let n = peer_name_bytes(&mut buf, 2, 5, 3);
    let odd = udp.ioctl_raw(
        sys::SIO_SET_PEER_TARGET_NAME,
        buf.get(..n).unwrap_or_default(),
        &mut [],
    );
    cases[3] = (
        "IPSEC2 odd byte count",
        NtStatus::INVALID_PARAMETER,
        status(odd),
    );
    let settings = [0, 0, 0, 0, 2, 0, 0, 0];
    let late = udp.ioctl_raw(sys::SIO_SET_SECURITY, &settings, &mut []);
    cases[4] = (
        "settings after bind",
        NtStatus::INVALID_DEVICE_STATE,
        status(late),
    );
    let no_peer = udp.ioctl_raw(sys::SIO_QUERY_SECURITY, &[0u8; 144], &mut out);
    cases[5] = (
        "datagram query without a peer",
        NtStatus::INVALID_PARAMETER,
        status(no_peer),
    );
    drop(udp);
    if cases
        .iter()
        .any(|(_, _, got)| *got == NtStatus::NOT_IMPLEMENTED)
    {
        return cx.push(
            name,
            Outcome::Unsupported,
            NtStatus::NOT_IMPLEMENTED,
            &detail!("no WskControlSocket"),
        );
    }
    let wrong = cases.iter().find(|(_, want, got)| want != got);
    match wrong {
        None => cx.push(
            name,
            Outcome::Pass,
            NtStatus::SUCCESS,
            &detail!("{} malformed requests refused as documented", cases.len()),
        ),
        Some((what, want, got)) => cx.push(
            name,
            Outcome::Fail,
            *got,
            &detail!("{what}: {} (expected {})", St(*got), St(*want)),
        ),
    }
}
