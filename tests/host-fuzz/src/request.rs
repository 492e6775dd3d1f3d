//! Target `request`: the driver's decoding of an IOCTL input buffer
//! (`wskrs_protocol::parse_request`), for every code.
//!
//! Input: the code (4 bytes, little-endian), then the input buffer. Properties of an accepted
//! request: the client's encoders write it back (canonical form) in exactly as many bytes,
//! and that form parses to the same request; borrowed text lies inside the input and within
//! its field; a direct request's output length is within the ABI's limits.

use std::net::SocketAddr;

use wskrs_protocol::{
    direct_output_len, encode_accept, encode_close, encode_device_security, encode_disconnect,
    encode_held, encode_info, encode_list, encode_recv, encode_recv_from, encode_resolve,
    encode_security, encode_send, encode_send_to, encode_serve, encode_socket_option, encode_stats,
    encode_tcp_connect_with, encode_tcp_listen_with, encode_udp_bind, parse_request, BindFlags,
    EndpointId, IoctlCode, ListenOptions, OptionId, Request, Service, UdpService, MAX_DATAGRAM,
    MAX_TRANSACT, MAX_TRANSFER, RESOLVE_NAME_LEN, RESOLVE_SERVICE_LEN, SDDL_LEN,
};
use wskrs_protocol::{
    encode_delete_peer_target_name, encode_query_security, encode_set_peer_target_name,
    encode_tcp_connect_options, encode_transact, encode_udp_bind_options, ConnectOptions,
    SecureProtocol, SocketSecurity, UdpBindOptions, PEER_TARGET_NAME_LEN,
};

use crate::{Input, Seed};

/// Runs one input (see the module docs).
///
/// # Panics
/// When a property fails.
pub fn check(data: &[u8]) {
    let mut input = Input::new(data);
    let code = input.u32();
    let bytes = input.rest();
    let Ok(request) = parse_request(code, bytes) else {
        return;
    };
    let canonical = encode(&request);
    assert_eq!(
        canonical.len(),
        bytes.len(),
        "an accepted request is exactly its struct: {request:?}"
    );
    assert_eq!(
        parse_request(code, &canonical),
        Ok(request),
        "the canonical encoding parses back to the same request"
    );
    check_bounds(&request, bytes);
}

/// Borrowed text inside the input and within its field; direct lengths within the limits.
fn check_bounds(request: &Request<'_>, input: &[u8]) {
    let inside = |text: &str| {
        let range = input.as_ptr_range();
        let start = text.as_ptr();
        range.start <= start && start.wrapping_add(text.len()) <= range.end
    };
    match request {
        Request::TcpListen(listen) => {
            if let Some(sddl) = listen.sddl {
                assert!(!sddl.is_empty() && sddl.len() <= SDDL_LEN && inside(sddl));
            }
        }
        Request::UdpBind(bind) => {
            if let Some(sddl) = bind.sddl {
                assert!(!sddl.is_empty() && sddl.len() <= SDDL_LEN && inside(sddl));
            }
        }
        Request::TcpConnect(connect) => {
            if let Some(name) = connect.peer_target_name {
                assert!(connect.security.is_some() && inside(name));
                assert!(!name.is_empty() && name.len() < PEER_TARGET_NAME_LEN);
            }
        }
        Request::SetPeerTargetName(set) => {
            assert!(!set.name.is_empty() && set.name.len() < PEER_TARGET_NAME_LEN);
            assert!(inside(set.name) && !set.name.contains('\0'));
        }
        Request::Resolve(resolve) => {
            assert!(!resolve.name.is_empty() && resolve.name.len() < RESOLVE_NAME_LEN);
            assert!(resolve.service.len() < RESOLVE_SERVICE_LEN);
            assert!(inside(resolve.name) && inside(resolve.service));
            assert!(!resolve.name.contains('\0') && !resolve.service.contains('\0'));
        }
        _ => {}
    }
    let limit = match request {
        Request::Send(_) | Request::Recv(_) => MAX_TRANSFER as usize,
        Request::SendTo(_) => MAX_DATAGRAM as usize,
        Request::RecvFrom(_) => MAX_DATAGRAM as usize + size_of::<wskrs_protocol::RecvFromReply>(),
        Request::Accept(_) => size_of::<wskrs_protocol::EndpointReply>(),
        Request::Transact(_) => wskrs_protocol::MAX_TRANSACT as usize,
        _ => {
            assert_eq!(direct_output_len(request), None, "a buffered request");
            return;
        }
    };
    let length = direct_output_len(request).expect("a direct request has an output length");
    assert!(
        (1..=limit).contains(&length),
        "direct length {length} of {request:?}"
    );
}

/// The client's encoding of `request` (timeouts and limits as the driver applied them).
fn encode(request: &Request<'_>) -> Vec<u8> {
    match *request {
        Request::Info => encode_info().to_vec(),
        Request::TcpConnect(c) => {
            let options = ConnectOptions {
                local: c.local,
                detach: c.detach,
                timeout_ms: c.timeout_ms,
                bind: c.bind,
                security: c.security,
                peer_target_name: c.peer_target_name,
            };
            encode_tcp_connect_options(c.remote, &options)
                .expect("an accepted connect request re-encodes")
                .to_vec()
        }
        Request::TcpListen(l) => {
            let options = ListenOptions {
                backlog: l.backlog,
                detach: l.detach,
                max_connections: l.max_connections,
                bind: l.bind,
                sddl: l.sddl,
                security: l.security,
            };
            encode_tcp_listen_with(l.local, l.service, &options)
                .expect("an accepted listen request re-encodes")
                .to_vec()
        }
        Request::Send(s) => encode_send(s.id, s.timeout_ms, s.length).to_vec(),
        Request::Recv(r) => encode_recv(r.id, r.timeout_ms, r.max_length).to_vec(),
        Request::Close(id) => encode_close(id).to_vec(),
        Request::List => encode_list().to_vec(),
        Request::UdpBind(u) => {
            let options = UdpBindOptions {
                detach: u.detach,
                bind: u.bind,
                sddl: u.sddl,
                security: u.security,
            };
            encode_udp_bind_options(u.local, u.service, &options)
                .expect("an accepted bind request re-encodes")
                .to_vec()
        }
        Request::SendTo(s) => encode_send_to(s.id, s.timeout_ms, s.remote, s.length).to_vec(),
        Request::RecvFrom(r) => encode_recv_from(r.id, r.timeout_ms, r.max_length).to_vec(),
        Request::Disconnect(d) => encode_disconnect(d.id, d.timeout_ms, d.abortive).to_vec(),
        Request::Accept(a) => encode_accept(a.id, a.timeout_ms, a.detach).to_vec(),
        Request::Serve(s) => encode_serve(s.id, s.service).to_vec(),
        Request::SocketOption(o) => encode_socket_option(o.id, o.option, o.set).to_vec(),
        Request::Security(id) => encode_security(id).to_vec(),
        Request::Resolve(r) => encode_resolve(r.name, r.service, r.timeout_ms)
            .expect("an accepted resolve request re-encodes")
            .to_vec(),
        Request::Stats => encode_stats().to_vec(),
        Request::Held => encode_held().to_vec(),
        Request::DeviceSecurity => encode_device_security().to_vec(),
        Request::SetPeerTargetName(p) => {
            encode_set_peer_target_name(p.id, p.peer, p.protocol, p.name)
                .expect("an accepted peer target name re-encodes")
                .to_vec()
        }
        Request::DeletePeerTargetName(d) => encode_delete_peer_target_name(d.id, d.peer).to_vec(),
        Request::QuerySecurity(q) => encode_query_security(q.id, q.peer).to_vec(),
        Request::Transact(t) => encode_transact(t.id, t.timeout_ms, t.length, t.max_reply).to_vec(),
    }
}

/// An input of this target: `code` and its input buffer.
#[must_use]
pub fn input(code: IoctlCode, request: &[u8]) -> Vec<u8> {
    let mut bytes = code.0.to_le_bytes().to_vec();
    bytes.extend_from_slice(request);
    bytes
}

/// A valid request of every code (several forms of most), then edge cases.
#[must_use]
#[allow(clippy::too_many_lines)] // one list
pub fn seeds() -> Vec<Seed> {
    let mut seeds: Vec<Seed> = valid_requests()
        .into_iter()
        .map(|(name, code, bytes)| Seed::new(&name, input(code, &bytes)))
        .collect();
    let info = encode_info();
    seeds.push(Seed::new("empty", Vec::new()));
    seeds.push(Seed::new("info_no_input", input(IoctlCode::INFO, &[])));
    seeds.push(Seed::new(
        "info_short_header",
        input(IoctlCode::INFO, &info[..5]),
    ));
    let mut old = info;
    old[0] = 3;
    seeds.push(Seed::new(
        "info_before_abi_4",
        input(IoctlCode::INFO_BEFORE_ABI_4, &old),
    ));
    seeds.push(Seed::new("info_old_version", input(IoctlCode::INFO, &old)));
    let mut long = info.to_vec();
    long.extend_from_slice(&[0; 8]);
    seeds.push(Seed::new(
        "info_trailing_bytes",
        input(IoctlCode::INFO, &long),
    ));
    seeds.push(Seed::new(
        "unknown_code",
        input(IoctlCode(0x0022_2FFF), &info),
    ));
    seeds
}

/// (name, code, input buffer) of valid requests: the driver fuzz target and the client
/// target reuse them.
#[allow(clippy::too_many_lines)] // one list
pub(crate) fn valid_requests() -> Vec<(String, IoctlCode, Vec<u8>)> {
    let v4: SocketAddr = "127.0.0.1:9000".parse().expect("address");
    let v6: SocketAddr = "[::1]:9000".parse().expect("address");
    let scoped: SocketAddr = "[fe80::1%7]:9000".parse().expect("address");
    let id = EndpointId(0x0001_0000_0001);
    let dual = BindFlags {
        reuse: false,
        exclusive: true,
        v6only: Some(false),
    };
    let reuse = BindFlags {
        reuse: true,
        ..BindFlags::default()
    };
    let max_sddl = "D:P(A;;GA;;;SY)".repeat(SDDL_LEN / 15) + "(A;;GA;;;BA)";
    let max_sddl = &max_sddl[..SDDL_LEN];
    let max_name = "a".repeat(RESOLVE_NAME_LEN - 1);
    let mut all = vec![
        ("info".into(), IoctlCode::INFO, encode_info().to_vec()),
        (
            "tcp_connect_v4".into(),
            IoctlCode::TCP_CONNECT,
            encode_tcp_connect_with(v4, None, false, 0, BindFlags::default()).to_vec(),
        ),
        (
            "tcp_connect_v6_local_dual_detach".into(),
            IoctlCode::TCP_CONNECT,
            encode_tcp_connect_with(
                scoped,
                Some("[::]:0".parse().expect("address")),
                true,
                1,
                dual,
            )
            .to_vec(),
        ),
        (
            "tcp_listen_v4_echo".into(),
            IoctlCode::TCP_LISTEN,
            encode_tcp_listen_with(v4, Service::Echo, &ListenOptions::default())
                .expect("encodes")
                .to_vec(),
        ),
        (
            "tcp_listen_v6_sddl_max".into(),
            IoctlCode::TCP_LISTEN,
            encode_tcp_listen_with(
                v6,
                Service::Source,
                &ListenOptions {
                    backlog: 5,
                    detach: true,
                    max_connections: wskrs_protocol::MAX_CONNECTIONS,
                    bind: reuse,
                    sddl: Some(max_sddl),
                    security: None,
                },
            )
            .expect("encodes")
            .to_vec(),
        ),
        (
            "send_max".into(),
            IoctlCode::SEND,
            encode_send(id, 0, MAX_TRANSFER).to_vec(),
        ),
        (
            "recv_one".into(),
            IoctlCode::RECV,
            encode_recv(id, u32::MAX, 1).to_vec(),
        ),
        ("close".into(), IoctlCode::CLOSE, encode_close(id).to_vec()),
        ("list".into(), IoctlCode::LIST, encode_list().to_vec()),
        (
            "udp_bind_v4_echo".into(),
            IoctlCode::UDP_BIND,
            encode_udp_bind(v4, UdpService::Echo, false, BindFlags::default(), None)
                .expect("encodes")
                .to_vec(),
        ),
        (
            "udp_bind_v6_sddl".into(),
            IoctlCode::UDP_BIND,
            encode_udp_bind(v6, UdpService::None, true, dual, Some("D:(A;;GA;;;WD)"))
                .expect("encodes")
                .to_vec(),
        ),
        (
            "send_to_v6".into(),
            IoctlCode::SEND_TO,
            encode_send_to(id, 0, scoped, MAX_DATAGRAM).to_vec(),
        ),
        (
            "recv_from".into(),
            IoctlCode::RECV_FROM,
            encode_recv_from(id, 0, 1500).to_vec(),
        ),
        (
            "disconnect_abortive".into(),
            IoctlCode::DISCONNECT,
            encode_disconnect(id, 0, true).to_vec(),
        ),
        (
            "accept_detach".into(),
            IoctlCode::ACCEPT,
            encode_accept(id, 0, true).to_vec(),
        ),
        (
            "serve_discard".into(),
            IoctlCode::SERVE,
            encode_serve(id, Service::Discard).to_vec(),
        ),
        (
            "security".into(),
            IoctlCode::SECURITY,
            encode_security(id).to_vec(),
        ),
        (
            "resolve_max_name".into(),
            IoctlCode::RESOLVE,
            encode_resolve(&max_name, "65535", 0)
                .expect("encodes")
                .to_vec(),
        ),
        (
            "resolve_localhost_http".into(),
            IoctlCode::RESOLVE,
            encode_resolve("localhost", "http", 100)
                .expect("encodes")
                .to_vec(),
        ),
        ("stats".into(), IoctlCode::STATS, encode_stats().to_vec()),
        ("held".into(), IoctlCode::HELD, encode_held().to_vec()),
        (
            "device_security".into(),
            IoctlCode::DEVICE_SECURITY,
            encode_device_security().to_vec(),
        ),
    ];
    let secure = SocketSecurity {
        protocol: SecureProtocol::Ipsec2,
        guarantee_encryption: true,
        allow_insecure: true,
    };
    let max_target = "h".repeat(PEER_TARGET_NAME_LEN - 1);
    all.extend([
        (
            "tcp_connect_secure_max_target".into(),
            IoctlCode::TCP_CONNECT,
            encode_tcp_connect_options(
                v4,
                &ConnectOptions {
                    security: Some(secure),
                    peer_target_name: Some(&max_target),
                    ..ConnectOptions::default()
                },
            )
            .expect("encodes")
            .to_vec(),
        ),
        (
            "tcp_listen_secure".into(),
            IoctlCode::TCP_LISTEN,
            encode_tcp_listen_with(
                v6,
                Service::None,
                &ListenOptions {
                    security: Some(secure),
                    ..ListenOptions::default()
                },
            )
            .expect("encodes")
            .to_vec(),
        ),
        (
            "udp_bind_secure".into(),
            IoctlCode::UDP_BIND,
            encode_udp_bind_options(
                v4,
                UdpService::None,
                &UdpBindOptions {
                    security: Some(secure),
                    ..UdpBindOptions::default()
                },
            )
            .expect("encodes")
            .to_vec(),
        ),
        (
            "set_peer_target_name".into(),
            IoctlCode::SET_PEER_TARGET_NAME,
            encode_set_peer_target_name(id, scoped, SecureProtocol::Ipsec, "host/peer")
                .expect("encodes")
                .to_vec(),
        ),
        (
            "delete_peer_target_name".into(),
            IoctlCode::DELETE_PEER_TARGET_NAME,
            encode_delete_peer_target_name(id, v4).to_vec(),
        ),
        (
            "query_security_connection".into(),
            IoctlCode::QUERY_SECURITY,
            encode_query_security(id, None).to_vec(),
        ),
        (
            "query_security_peer".into(),
            IoctlCode::QUERY_SECURITY,
            encode_query_security(id, Some(v6)).to_vec(),
        ),
        (
            "transact_small".into(),
            IoctlCode::TRANSACT,
            encode_transact(id, 0, 64, 64).to_vec(),
        ),
        (
            "transact_max".into(),
            IoctlCode::TRANSACT,
            encode_transact(id, u32::MAX, MAX_TRANSACT, MAX_TRANSACT).to_vec(),
        ),
    ]);
    for option in OptionId::ALL {
        all.push((
            format!("socket_option_get_{}", option.name()),
            IoctlCode::SOCKET_OPTION,
            encode_socket_option(id, option, None).to_vec(),
        ));
    }
    all.push((
        "socket_option_set_sndbuf".into(),
        IoctlCode::SOCKET_OPTION,
        encode_socket_option(id, OptionId::SndBuf, Some(wskrs_protocol::MAX_OPTION_VALUE)).to_vec(),
    ));
    all
}
