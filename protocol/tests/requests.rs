//! Driver-side validation: every request round trips, and every documented error is produced
//! by the input the spec says produces it.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use wskrs_protocol::{
    direct_output_len, encode_accept, encode_close, encode_disconnect, encode_info, encode_list,
    encode_recv, encode_recv_from, encode_resolve, encode_security, encode_send, encode_send_to,
    encode_socket_option, encode_stats, encode_tcp_connect, encode_tcp_listen, encode_udp_bind,
    parse_request, BindFlags, EndpointId, IoctlCode, NtStatus, OptionId, ProtocolError, Recv,
    Request, Send, Service, TcpConnect, TcpListen, UdpService, ABI_VERSION,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_TIMEOUT_MS, MAX_TRANSFER,
};

fn v4(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

fn v6(port: u16) -> SocketAddr {
    SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, port, 0, 0))
}

/// Overwrites the little-endian u32 at `offset`.
fn put_u32(bytes: &mut [u8], offset: usize, value: u32) {
    bytes[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
}

fn put_u16(bytes: &mut [u8], offset: usize, value: u16) {
    bytes[offset..offset + 2].copy_from_slice(&value.to_le_bytes());
}

fn put_u64(bytes: &mut [u8], offset: usize, value: u64) {
    bytes[offset..offset + 8].copy_from_slice(&value.to_le_bytes());
}

/// A named corruption of a valid request.
type Mutation = (&'static str, Box<dyn Fn(&mut [u8])>);

fn send_request(id: u64, timeout_ms: u32, length: u32) -> Vec<u8> {
    encode_send(EndpointId(id), timeout_ms, length).to_vec()
}

#[test]
fn info_and_list_round_trip() {
    assert_eq!(
        parse_request(IoctlCode::INFO.0, &encode_info()),
        Ok(Request::Info)
    );
    assert_eq!(
        parse_request(IoctlCode::LIST.0, &encode_list()),
        Ok(Request::List)
    );
    assert_eq!(encode_info(), [3, 0, 0, 0, 8, 0, 0, 0]);
}

#[test]
fn tcp_connect_round_trips_v4_and_v6() {
    let bytes = encode_tcp_connect(v4(9000), Some(v4(50000)), true, 2500);
    assert_eq!(
        parse_request(IoctlCode::TCP_CONNECT.0, &bytes),
        Ok(Request::TcpConnect(TcpConnect {
            remote: v4(9000),
            local: Some(v4(50000)),
            detach: true,
            timeout_ms: 2500,
            bind: BindFlags::default(),
        }))
    );
    let bytes = encode_tcp_connect(v6(443), None, false, 0);
    assert_eq!(
        parse_request(IoctlCode::TCP_CONNECT.0, &bytes),
        Ok(Request::TcpConnect(TcpConnect {
            remote: v6(443),
            local: None,
            detach: false,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            bind: BindFlags::default(),
        }))
    );
}

#[test]
fn tcp_listen_round_trips() {
    let bytes = encode_tcp_listen(v4(9100), Service::Echo, 16, false);
    assert_eq!(
        parse_request(IoctlCode::TCP_LISTEN.0, &bytes),
        Ok(Request::TcpListen(TcpListen {
            local: v4(9100),
            service: Service::Echo,
            backlog: 16,
            detach: false,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            bind: BindFlags::default(),
            sddl: None,
        }))
    );
    let bytes = encode_tcp_listen(v6(1), Service::None, 0, true);
    assert_eq!(
        parse_request(IoctlCode::TCP_LISTEN.0, &bytes),
        Ok(Request::TcpListen(TcpListen {
            local: v6(1),
            service: Service::None,
            backlog: 0,
            detach: true,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            bind: BindFlags::default(),
            sddl: None,
        }))
    );
}

#[test]
fn send_round_trips_its_length_and_carries_no_data() {
    let bytes = send_request(3, 0, 5);
    assert_eq!(bytes.len(), 24, "v3: the data is the output buffer");
    assert_eq!(u32::from_le_bytes(bytes[4..8].try_into().unwrap()), 24);
    let request = parse_request(IoctlCode::SEND.0, &bytes).unwrap();
    assert_eq!(
        request,
        Request::Send(Send {
            id: EndpointId(3),
            timeout_ms: DEFAULT_TIMEOUT_MS,
            length: 5
        })
    );
    assert_eq!(direct_output_len(&request), Some(5));
    assert_eq!(
        parse_request(IoctlCode::SEND.0, &send_request(3, 7, 1)),
        Ok(Request::Send(Send {
            id: EndpointId(3),
            timeout_ms: 7,
            length: 1
        }))
    );
}

#[test]
fn send_length_is_one_to_max_transfer() {
    let bytes = send_request(1, 1, MAX_TRANSFER);
    let max = parse_request(IoctlCode::SEND.0, &bytes).unwrap();
    assert_eq!(direct_output_len(&max), Some(MAX_TRANSFER as usize));
    for length in [0, MAX_TRANSFER + 1, u32::MAX] {
        assert_eq!(
            parse_request(IoctlCode::SEND.0, &send_request(1, 1, length)),
            Err(ProtocolError::InvalidParameter),
            "length {length}"
        );
    }
}

#[test]
fn recv_and_close_round_trip() {
    assert_eq!(
        parse_request(
            IoctlCode::RECV.0,
            &encode_recv(EndpointId(9), 0, MAX_TRANSFER)
        ),
        Ok(Request::Recv(Recv {
            id: EndpointId(9),
            timeout_ms: DEFAULT_TIMEOUT_MS,
            max_length: MAX_TRANSFER
        }))
    );
    let bytes = encode_recv(EndpointId(9), 5, 1);
    let one = parse_request(IoctlCode::RECV.0, &bytes).unwrap();
    assert_eq!(
        one,
        Request::Recv(Recv {
            id: EndpointId(9),
            timeout_ms: 5,
            max_length: 1
        })
    );
    assert_eq!(direct_output_len(&one), Some(1));
    assert_eq!(
        parse_request(IoctlCode::CLOSE.0, &encode_close(EndpointId(u64::MAX))),
        Ok(Request::Close(EndpointId(u64::MAX)))
    );
}

#[test]
fn unknown_codes() {
    for code in [
        0,
        0x8057_201C,
        IoctlCode::INFO.0 | 3,
        IoctlCode::TCP_CONNECT.0 & !0xC000,
        u32::MAX,
    ] {
        assert_eq!(
            parse_request(code, &encode_info()),
            Err(ProtocolError::UnknownCode),
            "{code:#x}"
        );
    }
    assert_eq!(
        ProtocolError::UnknownCode.status(),
        NtStatus::INVALID_DEVICE_REQUEST
    );
}

/// One valid request per code, for the checks that apply to all of them.
fn valid_requests() -> Vec<(IoctlCode, Vec<u8>)> {
    vec![
        (IoctlCode::INFO, encode_info().to_vec()),
        (
            IoctlCode::TCP_CONNECT,
            encode_tcp_connect(v4(1), None, false, 0).to_vec(),
        ),
        (
            IoctlCode::TCP_LISTEN,
            encode_tcp_listen(v4(1), Service::Echo, 0, false).to_vec(),
        ),
        (IoctlCode::SEND, send_request(1, 0, 3)),
        (IoctlCode::RECV, encode_recv(EndpointId(1), 0, 1).to_vec()),
        (IoctlCode::CLOSE, encode_close(EndpointId(1)).to_vec()),
        (IoctlCode::LIST, encode_list().to_vec()),
        (
            IoctlCode::UDP_BIND,
            encode_udp_bind(v4(0), UdpService::None, false, BindFlags::default(), None)
                .unwrap()
                .to_vec(),
        ),
        (
            IoctlCode::SEND_TO,
            encode_send_to(EndpointId(1), 0, v4(9), 3).to_vec(),
        ),
        (
            IoctlCode::RECV_FROM,
            encode_recv_from(EndpointId(1), 0, 1).to_vec(),
        ),
        (
            IoctlCode::DISCONNECT,
            encode_disconnect(EndpointId(1), 0, false).to_vec(),
        ),
        (
            IoctlCode::SOCKET_OPTION,
            encode_socket_option(EndpointId(1), OptionId::NoDelay, None).to_vec(),
        ),
        (IoctlCode::SECURITY, encode_security(EndpointId(1)).to_vec()),
        (
            IoctlCode::RESOLVE,
            encode_resolve("localhost", "80", 0).unwrap().to_vec(),
        ),
        (IoctlCode::STATS, encode_stats().to_vec()),
        (
            IoctlCode::ACCEPT,
            encode_accept(EndpointId(1), 0, false).to_vec(),
        ),
        (
            IoctlCode::SERVE,
            wskrs_protocol::encode_serve(EndpointId(1), Service::Echo).to_vec(),
        ),
    ]
}

#[test]
fn valid_requests_cover_every_code() {
    let codes: Vec<IoctlCode> = valid_requests().into_iter().map(|(code, _)| code).collect();
    assert_eq!(codes, IoctlCode::ALL);
}

#[test]
fn every_code_parses_its_valid_request() {
    for (code, bytes) in valid_requests() {
        assert!(parse_request(code.0, &bytes).is_ok(), "{code:?}");
    }
}

#[test]
fn short_input_is_a_length_mismatch() {
    for (code, bytes) in valid_requests() {
        for len in 0..bytes.len() {
            let mut short = bytes[..len].to_vec();
            if len >= 8 {
                put_u32(&mut short, 4, u32::try_from(len).unwrap());
            }
            assert_eq!(
                parse_request(code.0, &short),
                Err(ProtocolError::LengthMismatch),
                "{code:?} len {len}"
            );
        }
    }
}

#[test]
fn header_size_must_equal_input_length() {
    for (code, bytes) in valid_requests() {
        let real = u32::try_from(bytes.len()).unwrap();
        for size in [0, 8, 16, real - 1, real + 1, u32::MAX]
            .into_iter()
            .filter(|&size| size != real)
        {
            let mut wrong = bytes.clone();
            put_u32(&mut wrong, 4, size);
            assert_eq!(
                parse_request(code.0, &wrong),
                Err(ProtocolError::LengthMismatch),
                "{code:?} size {size}"
            );
        }
    }
}

#[test]
fn trailing_bytes_are_a_length_mismatch() {
    // Every request is fixed-size in v3, SEND and SEND_TO included (no trailing data).
    for (code, bytes) in valid_requests() {
        let mut long = bytes.clone();
        long.push(0);
        let len = u32::try_from(long.len()).unwrap();
        put_u32(&mut long, 4, len);
        assert_eq!(
            parse_request(code.0, &long),
            Err(ProtocolError::LengthMismatch),
            "{code:?}"
        );
    }
}

#[test]
fn only_the_data_codes_have_a_direct_output_length() {
    for (code, bytes) in valid_requests() {
        let request = parse_request(code.0, &bytes).unwrap();
        let expected = match code {
            IoctlCode::SEND | IoctlCode::SEND_TO => Some(3),
            IoctlCode::RECV => Some(1),
            IoctlCode::RECV_FROM => Some(48 + 1),
            // ACCEPT's output buffer is the new connection's EndpointReply.
            IoctlCode::ACCEPT => Some(80),
            _ => None,
        };
        assert_eq!(direct_output_len(&request), expected, "{code:?}");
        assert_eq!(code.is_direct(), expected.is_some(), "{code:?}");
    }
}

#[test]
fn other_abi_versions_are_rejected_first() {
    for (code, bytes) in valid_requests() {
        for version in [0, 1, 2, ABI_VERSION + 1, ABI_VERSION + 100, u32::MAX] {
            let mut other = bytes.clone();
            put_u32(&mut other, 0, version);
            assert_eq!(
                parse_request(code.0, &other),
                Err(ProtocolError::VersionMismatch),
                "{code:?} v{version}"
            );
            // Even when the size is also wrong: a newer client must learn about the version.
            put_u32(&mut other, 4, 9999);
            assert_eq!(
                parse_request(code.0, &other),
                Err(ProtocolError::VersionMismatch)
            );
        }
    }
    assert_eq!(
        ProtocolError::VersionMismatch.status().as_u32(),
        0xC000_0059
    );
}

// Offsets in TCP_CONNECT: remote at 8, local at 36, flags at 64, timeout at 68.
// WireAddr: family +0, port +2, flowinfo +4, scope_id +8, addr +12.
#[test]
fn tcp_connect_address_errors() {
    let base = encode_tcp_connect(v4(9000), Some(v4(1)), false, 0);
    let cases: Vec<Mutation> = vec![
        ("remote family 0", Box::new(|b| b[8..36].fill(0))),
        ("remote port 0", Box::new(|b| put_u16(b, 10, 0))),
        ("remote unknown family", Box::new(|b| put_u16(b, 8, 1))),
        (
            "remote family 10 (Linux AF_INET6)",
            Box::new(|b| put_u16(b, 8, 10)),
        ),
        (
            "remote IPv4 with nonzero tail",
            Box::new(|b| b[8 + 12 + 4] = 1),
        ),
        ("remote IPv4 with flowinfo", Box::new(|b| put_u32(b, 12, 1))),
        ("remote IPv4 with scope", Box::new(|b| put_u32(b, 16, 1))),
        ("local unknown family", Box::new(|b| put_u16(b, 36, 3))),
        (
            "local IPv4 with last byte set",
            Box::new(|b| b[36 + 27] = 1),
        ),
        (
            "local family 0 with a port",
            Box::new(|b| {
                b[36..64].fill(0);
                put_u16(b, 38, 80);
            }),
        ),
        (
            "local IPv6 for an IPv4 remote",
            Box::new(|b| put_u16(b, 36, 23)),
        ),
    ];
    for (name, mutate) in cases {
        let mut bytes = base;
        mutate(&mut bytes);
        assert_eq!(
            parse_request(IoctlCode::TCP_CONNECT.0, &bytes),
            Err(ProtocolError::BadAddress),
            "{name}"
        );
    }
    assert_eq!(ProtocolError::BadAddress.status().as_u32(), 0xC000_0207);
}

#[test]
fn tcp_connect_flag_errors() {
    // Unknown bits, REUSEADDR with EXCLUSIVEADDRUSE, V6ONLY with DUAL_STACK, and the IPv6
    // flags on an IPv4 socket.
    for flags in [32, 33, 0x8000_0000, u32::MAX, 2 | 4, 8 | 16, 8, 16, 1 | 16] {
        let mut bytes = encode_tcp_connect(v4(9000), None, false, 0);
        put_u32(&mut bytes, 64, flags);
        assert_eq!(
            parse_request(IoctlCode::TCP_CONNECT.0, &bytes),
            Err(ProtocolError::InvalidParameter),
            "{flags:#x}"
        );
    }
}

// Offsets in TCP_LISTEN: local at 8, service 36, backlog 40, flags 44, reserved 48.
#[test]
fn tcp_listen_errors() {
    let base = encode_tcp_listen(v4(9100), Service::Echo, 0, false);
    let bad_address: Vec<Mutation> = vec![
        ("no local address", Box::new(|b| b[8..36].fill(0))),
        ("port 0", Box::new(|b| put_u16(b, 10, 0))),
        ("unknown family", Box::new(|b| put_u16(b, 8, 0xFFFF))),
    ];
    for (name, mutate) in bad_address {
        let mut bytes = base;
        mutate(&mut bytes);
        assert_eq!(
            parse_request(IoctlCode::TCP_LISTEN.0, &bytes),
            Err(ProtocolError::BadAddress),
            "{name}"
        );
    }
    let invalid: Vec<Mutation> = vec![
        ("unknown service", Box::new(|b| put_u32(b, 36, 4))),
        (
            "unknown service max",
            Box::new(|b| put_u32(b, 36, u32::MAX)),
        ),
        ("unknown flag", Box::new(|b| put_u32(b, 44, 32))),
        ("reserved", Box::new(|b| put_u32(b, 48, 1))),
    ];
    for (name, mutate) in invalid {
        let mut bytes = base;
        mutate(&mut bytes);
        assert_eq!(
            parse_request(IoctlCode::TCP_LISTEN.0, &bytes),
            Err(ProtocolError::InvalidParameter),
            "{name}"
        );
    }
    // The backlog is the driver's to interpret: any value is accepted.
    let mut bytes = base;
    put_u32(&mut bytes, 40, u32::MAX);
    assert!(parse_request(IoctlCode::TCP_LISTEN.0, &bytes).is_ok());
}

#[test]
fn id_zero_is_invalid_everywhere() {
    let send = send_request(0, 0, 1);
    assert_eq!(
        parse_request(IoctlCode::SEND.0, &send),
        Err(ProtocolError::InvalidParameter)
    );
    let mut recv = encode_recv(EndpointId(1), 0, 1);
    put_u64(&mut recv, 8, 0);
    assert_eq!(
        parse_request(IoctlCode::RECV.0, &recv),
        Err(ProtocolError::InvalidParameter)
    );
    assert_eq!(
        parse_request(IoctlCode::CLOSE.0, &encode_close(EndpointId(0))),
        Err(ProtocolError::InvalidParameter)
    );
    assert_eq!(
        ProtocolError::InvalidParameter.status().as_u32(),
        0xC000_000D
    );
}

#[test]
fn recv_max_length_boundary() {
    assert!(parse_request(
        IoctlCode::RECV.0,
        &encode_recv(EndpointId(1), 0, MAX_TRANSFER)
    )
    .is_ok());
    assert_eq!(
        parse_request(
            IoctlCode::RECV.0,
            &encode_recv(EndpointId(1), 0, MAX_TRANSFER + 1)
        ),
        Err(ProtocolError::InvalidParameter)
    );
    for max_length in [0, u32::MAX] {
        assert_eq!(
            parse_request(
                IoctlCode::RECV.0,
                &encode_recv(EndpointId(1), 0, max_length)
            ),
            Err(ProtocolError::InvalidParameter),
            "max_length {max_length}"
        );
    }
}

#[test]
fn length_mismatch_status() {
    assert_eq!(ProtocolError::LengthMismatch.status().as_u32(), 0xC000_0004);
}

#[test]
fn serve_round_trips_and_needs_a_service() {
    let code = IoctlCode::SERVE.0;
    for service in [Service::Echo, Service::Discard, Service::Source] {
        let request = wskrs_protocol::encode_serve(EndpointId(3), service);
        assert_eq!(request.len(), 24);
        let Ok(Request::Serve(serve)) = parse_request(code, &request) else {
            panic!("SERVE parses");
        };
        assert_eq!((serve.id, serve.service), (EndpointId(3), service));
        assert_eq!(direct_output_len(&Request::Serve(serve)), None, "buffered");
    }
    let none = wskrs_protocol::encode_serve(EndpointId(3), Service::None);
    assert_eq!(
        parse_request(code, &none),
        Err(ProtocolError::InvalidParameter),
        "no service"
    );
    let mut unknown = wskrs_protocol::encode_serve(EndpointId(3), Service::Echo);
    put_u32(&mut unknown, 16, 9);
    assert_eq!(
        parse_request(code, &unknown),
        Err(ProtocolError::InvalidParameter),
        "service 9"
    );
    let mut reserved = wskrs_protocol::encode_serve(EndpointId(3), Service::Echo);
    put_u32(&mut reserved, 20, 1);
    assert_eq!(
        parse_request(code, &reserved),
        Err(ProtocolError::InvalidParameter),
        "reserved"
    );
    let mut buffer = [0u8; 8];
    assert_eq!(wskrs_protocol::write_serve(&mut buffer), Ok(8));
    assert_eq!(wskrs_protocol::parse_serve_reply(&buffer), Ok(()));
}
