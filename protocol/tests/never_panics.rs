//! Property tests: the driver-side parser and the client-side reply parsers accept any
//! bytes without panicking, what they accept keeps the documented invariants, and valid
//! requests round trip.

use std::net::{IpAddr, SocketAddr};

use proptest::prelude::*;
use wskrs_protocol::{
    direct_output_len, encode_accept, encode_close, encode_disconnect, encode_info, encode_list,
    encode_recv, encode_recv_from, encode_resolve, encode_security, encode_send, encode_send_to,
    encode_socket_option, encode_stats, encode_tcp_listen_with, encode_udp_bind, parse_close_reply,
    parse_disconnect_reply, parse_endpoint_reply, parse_info_reply, parse_list_reply,
    parse_recv_from_reply, parse_request, parse_resolve_reply, parse_security_reply,
    parse_socket_option_reply, parse_stats_reply, write_recv_from_header, BindFlags, EndpointId,
    IoctlCode, ListenOptions, OptionId, ProtocolError, Request, Resolve, SecureProtocol, SendTo,
    Service, SocketSecurity, UdpService, ABI_VERSION, MAX_CONNECTIONS, MAX_DATAGRAM, MAX_TRANSACT,
    MAX_TRANSFER, SDDL_LEN,
};

fn any_code() -> impl Strategy<Value = u32> {
    prop_oneof![
        any::<u32>(),
        prop::sample::select(IoctlCode::ALL.iter().map(|code| code.0).collect::<Vec<_>>()),
    ]
}

/// Writes a consistent header (this version, size = length) over the first 8 bytes.
fn fix_header(bytes: &mut [u8]) {
    if bytes.len() >= 8 {
        bytes[..4].copy_from_slice(&ABI_VERSION.to_le_bytes());
        let len = u32::try_from(bytes.len()).unwrap();
        bytes[4..8].copy_from_slice(&len.to_le_bytes());
    }
}

/// Arbitrary bytes, often starting with a plausible header.
fn any_input() -> impl Strategy<Value = Vec<u8>> {
    (prop::collection::vec(any::<u8>(), 0..400), any::<bool>()).prop_map(|(mut bytes, fix)| {
        if fix {
            fix_header(&mut bytes);
        }
        bytes
    })
}

/// The secure socket settings of the valid creation requests.
const SECURITY: SocketSecurity = SocketSecurity {
    protocol: SecureProtocol::Default,
    guarantee_encryption: false,
    allow_insecure: true,
};

/// A valid request for `code` (one of [`IoctlCode::ALL`]).
fn valid_request(code: IoctlCode) -> Vec<u8> {
    let v4: SocketAddr = "127.0.0.1:9000".parse().unwrap();
    let v6: SocketAddr = "[::]:9000".parse().unwrap();
    let id = EndpointId(1);
    let bind = BindFlags {
        reuse: true,
        exclusive: false,
        v6only: Some(false),
    };
    match code {
        IoctlCode::INFO => encode_info().to_vec(),
        IoctlCode::TCP_CONNECT => {
            let options = wskrs_protocol::ConnectOptions {
                detach: true,
                bind,
                security: Some(SECURITY),
                peer_target_name: Some("host/server.example"),
                ..wskrs_protocol::ConnectOptions::default()
            };
            wskrs_protocol::encode_tcp_connect_options(v6, &options)
                .unwrap()
                .to_vec()
        }
        IoctlCode::TCP_LISTEN => {
            let options = ListenOptions {
                max_connections: 4,
                bind,
                sddl: Some("D:(A;;GA;;;WD)"),
                security: Some(SECURITY),
                ..ListenOptions::default()
            };
            encode_tcp_listen_with(v6, Service::Source, &options)
                .unwrap()
                .to_vec()
        }
        IoctlCode::SEND => encode_send(id, 0, 5).to_vec(),
        IoctlCode::RECV => encode_recv(id, 0, 100).to_vec(),
        IoctlCode::CLOSE => encode_close(id).to_vec(),
        IoctlCode::LIST => encode_list().to_vec(),
        IoctlCode::UDP_BIND => encode_udp_bind(v6, UdpService::Echo, false, bind, Some("D:P"))
            .unwrap()
            .to_vec(),
        IoctlCode::SEND_TO => encode_send_to(id, 0, v4, 5).to_vec(),
        IoctlCode::RECV_FROM => encode_recv_from(id, 0, 100).to_vec(),
        IoctlCode::DISCONNECT => encode_disconnect(id, 0, true).to_vec(),
        IoctlCode::SOCKET_OPTION => encode_socket_option(id, OptionId::SndBuf, Some(4096)).to_vec(),
        IoctlCode::SECURITY => encode_security(id).to_vec(),
        IoctlCode::RESOLVE => encode_resolve("example.com", "http", 0).unwrap().to_vec(),
        IoctlCode::STATS => encode_stats().to_vec(),
        IoctlCode::HELD => wskrs_protocol::encode_held().to_vec(),
        IoctlCode::DEVICE_SECURITY => wskrs_protocol::encode_device_security().to_vec(),
        IoctlCode::ACCEPT => encode_accept(id, 0, true).to_vec(),
        IoctlCode::SERVE => wskrs_protocol::encode_serve(id, Service::Discard).to_vec(),
        code => valid_secure_request(code),
    }
}

/// A valid request for one of the secure socket codes.
fn valid_secure_request(code: IoctlCode) -> Vec<u8> {
    let v4: SocketAddr = "127.0.0.1:9000".parse().unwrap();
    let id = EndpointId(1);
    match code {
        IoctlCode::SET_PEER_TARGET_NAME => {
            wskrs_protocol::encode_set_peer_target_name(id, v4, SecureProtocol::Ipsec2, "host/p")
                .unwrap()
                .to_vec()
        }
        IoctlCode::DELETE_PEER_TARGET_NAME => {
            wskrs_protocol::encode_delete_peer_target_name(id, v4).to_vec()
        }
        IoctlCode::QUERY_SECURITY => wskrs_protocol::encode_query_security(id, Some(v4)).to_vec(),
        IoctlCode::TRANSACT => wskrs_protocol::encode_transact(id, 0, 64, 100).to_vec(),
        _ => unreachable!("{code:?}"),
    }
}

/// A valid request of a random code with a few bytes overwritten (the header kept
/// consistent half the time), so that field validation is reached far more often than by
/// random bytes.
fn mutated_request() -> impl Strategy<Value = (u32, Vec<u8>)> {
    (
        prop::sample::select(IoctlCode::ALL.to_vec()),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        any::<bool>(),
        -3i32..4,
    )
        .prop_map(|(code, edits, fix, resize)| {
            let mut bytes = valid_request(code);
            for (index, value) in edits {
                let at = index.index(bytes.len());
                bytes[at] = value;
            }
            let len = bytes.len().saturating_add_signed(resize as isize);
            bytes.resize(len, 0);
            if fix {
                fix_header(&mut bytes);
            }
            (code.0, bytes)
        })
}

/// A peer target name only with settings, 1 to 127 bytes without NUL.
fn name_ok(name: Option<&str>, secure: bool) -> bool {
    name.is_none_or(|name| secure && (1..128).contains(&name.len()) && !name.contains('\0'))
}

/// The invariants of an accepted secure socket request or TRANSACT; its code.
fn check_secure(request: &Request<'_>) -> Result<IoctlCode, TestCaseError> {
    Ok(match *request {
        Request::SetPeerTargetName(set) => {
            prop_assert!(set.id.0 != 0 && set.peer.port() != 0);
            prop_assert!((1..128).contains(&set.name.len()) && !set.name.contains('\0'));
            IoctlCode::SET_PEER_TARGET_NAME
        }
        Request::DeletePeerTargetName(delete) => {
            prop_assert!(delete.id.0 != 0 && delete.peer.port() != 0);
            IoctlCode::DELETE_PEER_TARGET_NAME
        }
        Request::QuerySecurity(query) => {
            prop_assert!(query.id.0 != 0 && query.peer.is_none_or(|peer| peer.port() != 0));
            IoctlCode::QUERY_SECURITY
        }
        Request::Transact(transact) => {
            prop_assert!(transact.id.0 != 0 && transact.timeout_ms != 0);
            prop_assert!((1..=MAX_TRANSACT).contains(&transact.length));
            prop_assert!((1..=MAX_TRANSACT).contains(&transact.max_reply));
            prop_assert_eq!(
                direct_output_len(request),
                Some(transact.length.max(transact.max_reply) as usize)
            );
            IoctlCode::TRANSACT
        }
        _ => return Err(TestCaseError::fail(format!("{request:?} unchecked"))),
    })
}

/// Checks the documented invariants of an accepted request.
fn check_accepted(code: u32, input: &[u8], request: Request<'_>) -> Result<(), TestCaseError> {
    prop_assert_eq!(&input[..4], &ABI_VERSION.to_le_bytes());
    let bind_ok = |bind: BindFlags, address: SocketAddr| {
        !(bind.reuse && bind.exclusive) && (bind.v6only.is_none() || address.is_ipv6())
    };
    let sddl_ok = |sddl: Option<&str>| {
        sddl.is_none_or(|s| !s.is_empty() && s.len() <= SDDL_LEN && !s.contains('\0'))
    };
    // The direct codes but RESOLVE (whose output length only has a minimum) have an exact
    // output length that follows their request.
    prop_assert_eq!(
        direct_output_len(&request).is_some(),
        IoctlCode(code).is_direct() && code != IoctlCode::RESOLVE.0
    );
    let expected_code = match request {
        Request::Info => IoctlCode::INFO,
        Request::TcpConnect(connect) => {
            prop_assert!(connect.remote.port() != 0 && connect.timeout_ms != 0);
            prop_assert!(bind_ok(connect.bind, connect.remote));
            prop_assert!(name_ok(
                connect.peer_target_name,
                connect.security.is_some()
            ));
            IoctlCode::TCP_CONNECT
        }
        Request::TcpListen(listen) => {
            prop_assert!(listen.local.port() != 0);
            prop_assert!((1..=MAX_CONNECTIONS).contains(&listen.max_connections));
            prop_assert!(bind_ok(listen.bind, listen.local) && sddl_ok(listen.sddl));
            IoctlCode::TCP_LISTEN
        }
        Request::Send(send) => {
            prop_assert_eq!(input.len(), 24);
            prop_assert!((1..=MAX_TRANSFER).contains(&send.length) && send.timeout_ms != 0);
            prop_assert_eq!(direct_output_len(&request), Some(send.length as usize));
            IoctlCode::SEND
        }
        Request::Recv(recv) => {
            prop_assert!((1..=MAX_TRANSFER).contains(&recv.max_length) && recv.timeout_ms != 0);
            prop_assert_eq!(direct_output_len(&request), Some(recv.max_length as usize));
            IoctlCode::RECV
        }
        Request::Close(id) => {
            prop_assert!(id.0 != 0);
            IoctlCode::CLOSE
        }
        Request::List => IoctlCode::LIST,
        Request::UdpBind(bind) => {
            prop_assert!(bind_ok(bind.bind, bind.local) && sddl_ok(bind.sddl));
            IoctlCode::UDP_BIND
        }
        Request::SendTo(send) => {
            prop_assert_eq!(input.len(), 56);
            prop_assert!((1..=MAX_DATAGRAM).contains(&send.length));
            prop_assert_eq!(direct_output_len(&request), Some(send.length as usize));
            prop_assert!(send.remote.port() != 0 && send.id.0 != 0 && send.timeout_ms != 0);
            IoctlCode::SEND_TO
        }
        Request::RecvFrom(recv) => {
            prop_assert!((1..=MAX_DATAGRAM).contains(&recv.max_length) && recv.id.0 != 0);
            prop_assert_eq!(
                direct_output_len(&request),
                Some(48 + recv.max_length as usize)
            );
            IoctlCode::RECV_FROM
        }
        Request::Disconnect(disconnect) => {
            prop_assert!(disconnect.id.0 != 0 && disconnect.timeout_ms != 0);
            IoctlCode::DISCONNECT
        }
        Request::SocketOption(option) => {
            prop_assert!(option.id.0 != 0);
            if let Some(value) = option.set {
                prop_assert!(option.option.is_settable() && option.option.accepts(value));
            }
            IoctlCode::SOCKET_OPTION
        }
        Request::Security(id) => {
            prop_assert!(id.0 != 0);
            IoctlCode::SECURITY
        }
        Request::Resolve(resolve) => {
            prop_assert!(!resolve.name.is_empty() && resolve.name.len() < 256);
            prop_assert!(resolve.service.len() < 32);
            prop_assert!(!resolve.name.contains('\0') && !resolve.service.contains('\0'));
            IoctlCode::RESOLVE
        }
        Request::Stats => IoctlCode::STATS,
        Request::Held => IoctlCode::HELD,
        Request::DeviceSecurity => IoctlCode::DEVICE_SECURITY,
        Request::Serve(serve) => {
            prop_assert!(serve.service != Service::None);
            IoctlCode::SERVE
        }
        Request::Accept(accept) => {
            prop_assert!(accept.id.0 != 0 && accept.timeout_ms != 0);
            prop_assert_eq!(direct_output_len(&request), Some(80));
            IoctlCode::ACCEPT
        }
        _ => check_secure(&request)?,
    };
    prop_assert_eq!(expected_code.0, code);
    Ok(())
}

fn check_parse(code: u32, input: &[u8]) -> Result<(), TestCaseError> {
    match parse_request(code, input) {
        Ok(request) => check_accepted(code, input, request)?,
        Err(ProtocolError::UnknownCode) => prop_assert!(IoctlCode(code).name().is_none()),
        Err(_) => prop_assert!(IoctlCode(code).name().is_some()),
    }
    Ok(())
}

fn any_socket_addr(port_zero_ok: bool) -> impl Strategy<Value = SocketAddr> {
    let min_port = u16::from(!port_zero_ok);
    prop_oneof![
        (any::<[u8; 4]>(), min_port..=u16::MAX)
            .prop_map(|(ip, port)| SocketAddr::new(IpAddr::from(ip), port)),
        (
            any::<[u8; 16]>(),
            min_port..=u16::MAX,
            any::<u32>(),
            any::<u32>()
        )
            .prop_map(|(ip, port, flow, scope)| {
                SocketAddr::V6(std::net::SocketAddrV6::new(ip.into(), port, flow, scope))
            }),
    ]
}

proptest! {
    #[test]
    fn parse_request_never_panics(code in any_code(), input in any_input()) {
        check_parse(code, &input)?;
    }

    #[test]
    fn parse_request_never_panics_on_mutated_requests((code, input) in mutated_request()) {
        check_parse(code, &input)?;
    }

    #[test]
    fn reply_parsers_never_panic(input in any_input()) {
        let _ = parse_info_reply(&input);
        let _ = parse_endpoint_reply(&input);
        let _ = parse_close_reply(&input);
        let _ = parse_disconnect_reply(&input);
        let _ = parse_socket_option_reply(&input);
        let _ = parse_stats_reply(&input);
        if let Ok(received) = parse_recv_from_reply(&input) {
            prop_assert_eq!(received.data.len() + 48, input.len());
        }
        if let Ok(list) = parse_list_reply(&input) {
            prop_assert_eq!(list.iter().count(), list.count() as usize);
            prop_assert_eq!(list.iter_with_activity().count(), list.count() as usize);
        }
        if let Ok(resolved) = parse_resolve_reply(&input) {
            prop_assert_eq!(resolved.iter().count(), resolved.count() as usize);
        }
        if let Ok(sddl) = parse_security_reply(&input) {
            prop_assert!(sddl.len() <= SDDL_LEN && !sddl.contains('\0'));
        }
    }

    #[test]
    fn transact_round_trips(
        id in 1..=u64::MAX,
        timeout_ms in 1..=u32::MAX,
        length in 1..=MAX_TRANSACT,
        max_reply in 1..=MAX_TRANSACT,
    ) {
        let bytes = wskrs_protocol::encode_transact(EndpointId(id), timeout_ms, length, max_reply);
        let request = parse_request(IoctlCode::TRANSACT.0, &bytes);
        prop_assert_eq!(
            request,
            Ok(Request::Transact(wskrs_protocol::Transact {
                id: EndpointId(id),
                timeout_ms,
                length,
                max_reply
            }))
        );
        prop_assert_eq!(
            wskrs_protocol::transact_output_len(length, max_reply),
            length.max(max_reply) as usize
        );
    }

    #[test]
    fn send_to_round_trips(
        id in 1..=u64::MAX,
        timeout_ms in 1..=u32::MAX,
        remote in any_socket_addr(false),
        length in 1..=MAX_DATAGRAM,
    ) {
        let bytes = encode_send_to(EndpointId(id), timeout_ms, remote, length);
        prop_assert_eq!(
            parse_request(IoctlCode::SEND_TO.0, &bytes),
            Ok(Request::SendTo(SendTo { id: EndpointId(id), timeout_ms, remote, length }))
        );
    }

    #[test]
    fn recv_from_header_round_trips(
        data in prop::collection::vec(any::<u8>(), 0..2000),
        from in proptest::option::of(any_socket_addr(true)),
        room in 0usize..64,
    ) {
        let mut out = vec![0; 48 + data.len() + room];
        out[48..48 + data.len()].copy_from_slice(&data);
        let length = u32::try_from(data.len()).unwrap();
        let information = write_recv_from_header(&mut out, length, from).unwrap();
        prop_assert_eq!(information, 48 + data.len());
        let reply = parse_recv_from_reply(&out[..information]).unwrap();
        prop_assert_eq!(reply.data, &data[..]);
        // Port 0 and no address both travel; an address with port 0 stays one.
        prop_assert_eq!(reply.remote, from);
    }

    #[test]
    fn resolve_round_trips(
        name in "[^\0]{1,60}",
        service in "[a-z0-9]{0,31}",
        timeout_ms in 1..=u32::MAX,
    ) {
        match encode_resolve(&name, &service, timeout_ms) {
            Ok(bytes) => prop_assert_eq!(
                parse_request(IoctlCode::RESOLVE.0, &bytes),
                Ok(Request::Resolve(Resolve { name: &name, service: &service, timeout_ms }))
            ),
            // Up to 60 characters of up to 4 bytes each can exceed 255 bytes.
            Err(error) => {
                prop_assert_eq!(error, ProtocolError::InvalidParameter);
                prop_assert!(name.len() > 255);
            }
        }
    }

    #[test]
    fn udp_bind_round_trips(
        local in any_socket_addr(true),
        echo in any::<bool>(),
        detach in any::<bool>(),
        reuse in any::<bool>(),
        sddl in proptest::option::of("[ -~]{1,256}"),
    ) {
        let service = if echo { UdpService::Echo } else { UdpService::None };
        let bind = BindFlags { reuse, exclusive: false, v6only: local.is_ipv6().then_some(true) };
        let bytes = encode_udp_bind(local, service, detach, bind, sddl.as_deref()).unwrap();
        match parse_request(IoctlCode::UDP_BIND.0, &bytes) {
            Ok(Request::UdpBind(parsed)) => {
                prop_assert_eq!(parsed.local, local);
                prop_assert_eq!(parsed.service, service);
                prop_assert_eq!(parsed.detach, detach);
                prop_assert_eq!(parsed.bind, bind);
                prop_assert_eq!(parsed.sddl, sddl.as_deref());
            }
            other => prop_assert!(false, "{:?}", other),
        }
    }
}
