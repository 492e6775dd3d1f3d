//! TCP messages: bind flags, TCP_CONNECT and TCP_LISTEN (round trips, every option, the
//! boundaries, malformed requests), SEND and RECV (the data is the direct output buffer),
//! ACCEPT, DISCONNECT (request and reply) and SERVE.
//! Layouts: TCP_CONNECT remote 8, local 36, flags 64, timeout 68; TCP_LISTEN local 8,
//! service 36, backlog 40, flags 44, reserved 48, max_connections 52, sddl 56..312;
//! DISCONNECT id 8, timeout 16, flags 20. WireAddr: family +0, port +2, flowinfo +4,
//! scope_id +8, addr +12.

use wskrs_protocol::{
    direct_output_len, encode_accept, encode_disconnect, encode_recv, encode_send,
    encode_tcp_connect, encode_tcp_connect_with, encode_tcp_listen, encode_tcp_listen_with,
    parse_disconnect_reply, parse_request, write_close, write_disconnect, Accept, BindFlags,
    Disconnect, EndpointId, IoctlCode, ListenOptions, ProtocolError, Recv, Request, Send, Service,
    TcpConnect, TcpListen, DEFAULT_MAX_CONNECTIONS, DEFAULT_TIMEOUT_MS, MAX_CONNECTIONS,
    MAX_TRANSACT, MAX_TRANSFER,
};

mod common;

use common::{expect_all, put_u16, put_u32, put_u64, v4, v6, v6_any, Mutation, ALL_BIND_FLAGS};

#[test]
fn bind_flags_map_to_the_documented_bits() {
    assert_eq!(BindFlags::default().to_flags(), 0);
    let all = |reuse, exclusive, v6only| {
        BindFlags {
            reuse,
            exclusive,
            v6only,
        }
        .to_flags()
    };
    assert_eq!(all(true, false, None), 2);
    assert_eq!(all(false, true, None), 4);
    assert_eq!(all(false, false, Some(true)), 8);
    assert_eq!(all(false, false, Some(false)), 16);
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
            security: None,
            peer_target_name: None,
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
            security: None,
            peer_target_name: None,
        }))
    );
}

#[test]
fn tcp_connect_carries_bind_flags() {
    for bind in ALL_BIND_FLAGS {
        for detach in [false, true] {
            let bytes = encode_tcp_connect_with(v6(443), Some(v6(0)), detach, 7, bind);
            assert_eq!(
                parse_request(IoctlCode::TCP_CONNECT.0, &bytes),
                Ok(Request::TcpConnect(TcpConnect {
                    remote: v6(443),
                    local: Some(v6(0)),
                    detach,
                    timeout_ms: 7,
                    bind,
                    security: None,
                    peer_target_name: None,
                })),
                "{bind:?}"
            );
        }
    }
    // IPv4: every flag except the IPv6 ones.
    let bind = BindFlags {
        reuse: true,
        ..BindFlags::default()
    };
    let bytes = encode_tcp_connect_with(v4(80), None, true, 0, bind);
    assert_eq!(
        parse_request(IoctlCode::TCP_CONNECT.0, &bytes),
        Ok(Request::TcpConnect(TcpConnect {
            remote: v4(80),
            local: None,
            detach: true,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            bind,
            security: None,
            peer_target_name: None,
        }))
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
    for flags in [64, 65, 0x8000_0000, u32::MAX, 2 | 4, 8 | 16, 8, 16, 1 | 16] {
        let mut bytes = encode_tcp_connect(v4(9000), None, false, 0);
        put_u32(&mut bytes, 64, flags);
        assert_eq!(
            parse_request(IoctlCode::TCP_CONNECT.0, &bytes),
            Err(ProtocolError::InvalidParameter),
            "{flags:#x}"
        );
    }
}

#[test]
fn tcp_connect_ipv6_flags_need_an_ipv6_socket() {
    for v6only in [true, false] {
        let bind = BindFlags {
            v6only: Some(v6only),
            ..BindFlags::default()
        };
        let bytes = encode_tcp_connect_with(v4(80), None, false, 0, bind);
        assert_eq!(
            parse_request(IoctlCode::TCP_CONNECT.0, &bytes),
            Err(ProtocolError::InvalidParameter),
            "v6only {v6only}"
        );
    }
    let base = encode_tcp_connect_with(v6(80), None, false, 0, BindFlags::default());
    let cases: Vec<Mutation> = vec![
        ("reuse + exclusive", Box::new(|b| put_u32(b, 64, 2 | 4))),
        ("v6only + dual stack", Box::new(|b| put_u32(b, 64, 8 | 16))),
        ("unknown bit 64", Box::new(|b| put_u32(b, 64, 64))),
        ("unknown high bit", Box::new(|b| put_u32(b, 64, 1 << 31))),
    ];
    expect_all(
        IoctlCode::TCP_CONNECT,
        &base,
        cases,
        ProtocolError::InvalidParameter,
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
            security: None,
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
            security: None,
        }))
    );
}

#[test]
fn encode_tcp_listen_fills_the_defaults() {
    let bytes = encode_tcp_listen(v4(9100), Service::Echo, 5, true);
    assert_eq!(bytes.len(), 320);
    assert_eq!(&bytes[..8], &[7, 0, 0, 0, 0x40, 1, 0, 0]);
    assert!(bytes[48..].iter().all(|&b| b == 0));
    assert_eq!(
        parse_request(IoctlCode::TCP_LISTEN.0, &bytes),
        Ok(Request::TcpListen(TcpListen {
            local: v4(9100),
            service: Service::Echo,
            backlog: 5,
            detach: true,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            bind: BindFlags::default(),
            sddl: None,
            security: None,
        }))
    );
    assert_eq!(DEFAULT_MAX_CONNECTIONS, 256);
    assert_eq!(MAX_CONNECTIONS, 1 << 20);
}

#[test]
fn tcp_listen_with_round_trips_every_option() {
    let sddl = "O:SYD:(A;;GA;;;SY)(A;;GA;;;BA)";
    for service in [
        Service::None,
        Service::Echo,
        Service::Discard,
        Service::Source,
    ] {
        for bind in ALL_BIND_FLAGS {
            let options = ListenOptions {
                backlog: 64,
                detach: true,
                max_connections: 3,
                bind,
                sddl: Some(sddl),
                security: None,
            };
            let bytes = encode_tcp_listen_with(v6_any(9200), service, &options).unwrap();
            assert_eq!(
                parse_request(IoctlCode::TCP_LISTEN.0, &bytes),
                Ok(Request::TcpListen(TcpListen {
                    local: v6_any(9200),
                    service,
                    backlog: 64,
                    detach: true,
                    max_connections: 3,
                    bind,
                    sddl: Some(sddl),
                    security: None,
                })),
                "{service:?} {bind:?}"
            );
        }
    }
}

#[test]
fn tcp_listen_max_connections_boundaries() {
    for (requested, parsed) in [
        (0, 256),
        (1, 1),
        (256, 256),
        (10_000, 10_000),
        (1 << 20, 1 << 20),
    ] {
        let options = ListenOptions {
            max_connections: requested,
            ..ListenOptions::default()
        };
        let bytes = encode_tcp_listen_with(v4(1), Service::Echo, &options).unwrap();
        match parse_request(IoctlCode::TCP_LISTEN.0, &bytes) {
            Ok(Request::TcpListen(listen)) => assert_eq!(listen.max_connections, parsed),
            other => panic!("{requested}: {other:?}"),
        }
    }
    for requested in [(1 << 20) + 1, u32::MAX] {
        let options = ListenOptions {
            max_connections: requested,
            ..ListenOptions::default()
        };
        let bytes = encode_tcp_listen_with(v4(1), Service::Echo, &options).unwrap();
        assert_eq!(
            parse_request(IoctlCode::TCP_LISTEN.0, &bytes),
            Err(ProtocolError::InvalidParameter),
            "{requested}"
        );
    }
}

#[test]
fn tcp_listen_sddl_boundaries() {
    // Exactly 256 bytes: the whole field, no NUL needed.
    let full = "D:".to_owned() + &"A".repeat(254);
    assert_eq!(full.len(), 256);
    let options = ListenOptions {
        sddl: Some(&full),
        ..ListenOptions::default()
    };
    let bytes = encode_tcp_listen_with(v4(1), Service::Echo, &options).unwrap();
    match parse_request(IoctlCode::TCP_LISTEN.0, &bytes) {
        Ok(Request::TcpListen(listen)) => assert_eq!(listen.sddl, Some(full.as_str())),
        other => panic!("{other:?}"),
    }
    // The client refuses what the field cannot carry.
    let long = full.clone() + "A";
    for sddl in [long.as_str(), "D:\0P"] {
        let options = ListenOptions {
            sddl: Some(sddl),
            ..ListenOptions::default()
        };
        assert_eq!(
            encode_tcp_listen_with(v4(1), Service::Echo, &options),
            Err(ProtocolError::InvalidParameter)
        );
    }
    // An empty SDDL is the same as none.
    let options = ListenOptions {
        sddl: Some(""),
        ..ListenOptions::default()
    };
    assert_eq!(
        encode_tcp_listen_with(v4(1), Service::Echo, &options),
        Ok(encode_tcp_listen(v4(1), Service::Echo, 0, false))
    );
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
        ("unknown flag", Box::new(|b| put_u32(b, 44, 64))),
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
fn tcp_listen_option_errors() {
    let options = ListenOptions {
        sddl: Some("D:P"),
        ..ListenOptions::default()
    };
    let base = encode_tcp_listen_with(v4(9100), Service::Echo, &options).unwrap();
    let invalid: Vec<Mutation> = vec![
        ("service 4", Box::new(|b| put_u32(b, 36, 4))),
        ("reserved", Box::new(|b| put_u32(b, 48, 1))),
        ("unknown flag 64", Box::new(|b| put_u32(b, 44, 64))),
        ("reuse + exclusive", Box::new(|b| put_u32(b, 44, 6))),
        ("v6only on IPv4", Box::new(|b| put_u32(b, 44, 8))),
        ("dual stack on IPv4", Box::new(|b| put_u32(b, 44, 16))),
        (
            "max_connections past the wire's limit",
            Box::new(|b| put_u32(b, 52, (1 << 20) + 1)),
        ),
        ("SDDL not UTF-8", Box::new(|b| b[56] = 0xFF)),
        ("SDDL cut multi-byte", Box::new(|b| b[58] = 0xC3)),
        ("byte after the NUL", Box::new(|b| b[311] = b'x')),
        (
            "text after an empty SDDL",
            Box::new(|b| {
                b[56..312].fill(0);
                b[100] = b'D';
            }),
        ),
    ];
    expect_all(
        IoctlCode::TCP_LISTEN,
        &base,
        invalid,
        ProtocolError::InvalidParameter,
    );
    let v6_base = encode_tcp_listen_with(v6_any(9100), Service::Echo, &options).unwrap();
    let invalid_v6: Vec<Mutation> = vec![("v6only + dual stack", Box::new(|b| put_u32(b, 44, 24)))];
    expect_all(
        IoctlCode::TCP_LISTEN,
        &v6_base,
        invalid_v6,
        ProtocolError::InvalidParameter,
    );
    let bad_address: Vec<Mutation> = vec![
        ("no address", Box::new(|b| b[8..36].fill(0))),
        ("port 0", Box::new(|b| put_u16(b, 10, 0))),
    ];
    expect_all(
        IoctlCode::TCP_LISTEN,
        &base,
        bad_address,
        ProtocolError::BadAddress,
    );
    // A request that ends before max_connections is a length mismatch.
    let mut short = base[..52].to_vec();
    put_u32(&mut short, 4, 52);
    assert_eq!(
        parse_request(IoctlCode::TCP_LISTEN.0, &short),
        Err(ProtocolError::LengthMismatch)
    );
}

fn send_request(id: u64, timeout_ms: u32, length: u32) -> Vec<u8> {
    encode_send(EndpointId(id), timeout_ms, length).to_vec()
}

#[test]
fn recv_round_trips() {
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
}

#[test]
fn send_round_trips_its_length_and_carries_no_data() {
    let bytes = send_request(3, 0, 5);
    assert_eq!(bytes.len(), 24, "the data is the output buffer");
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
fn transact_round_trips_and_its_bounds() {
    let bytes = wskrs_protocol::encode_transact(EndpointId(4), 0, 64, MAX_TRANSACT);
    assert_eq!(bytes.len(), 32);
    assert_eq!(u32::from_le_bytes(bytes[4..8].try_into().unwrap()), 32);
    let request = parse_request(IoctlCode::TRANSACT.0, &bytes).unwrap();
    assert_eq!(
        request,
        Request::Transact(wskrs_protocol::Transact {
            id: EndpointId(4),
            timeout_ms: DEFAULT_TIMEOUT_MS,
            length: 64,
            max_reply: MAX_TRANSACT
        })
    );
    assert_eq!(direct_output_len(&request), Some(MAX_TRANSACT as usize));
    // The buffer holds the request first: a short reply still needs room for the request.
    let long_request = wskrs_protocol::encode_transact(EndpointId(4), 9, 1000, 10);
    let parsed = parse_request(IoctlCode::TRANSACT.0, &long_request).unwrap();
    assert_eq!(direct_output_len(&parsed), Some(1000));
    for (length, max_reply) in [
        (0, 1),
        (1, 0),
        (MAX_TRANSACT + 1, 1),
        (1, MAX_TRANSACT + 1),
        (u32::MAX, u32::MAX),
    ] {
        assert_eq!(
            parse_request(
                IoctlCode::TRANSACT.0,
                &wskrs_protocol::encode_transact(EndpointId(1), 0, length, max_reply)
            ),
            Err(ProtocolError::InvalidParameter),
            "length {length}, max_reply {max_reply}"
        );
    }
    // Id 0 and a nonzero reserved field (offset 28) are refused.
    let zero_id = wskrs_protocol::encode_transact(EndpointId(0), 0, 1, 1);
    assert_eq!(
        parse_request(IoctlCode::TRANSACT.0, &zero_id),
        Err(ProtocolError::InvalidParameter)
    );
    let mut reserved = wskrs_protocol::encode_transact(EndpointId(1), 0, 1, 1);
    put_u32(&mut reserved, 28, 1);
    assert_eq!(
        parse_request(IoctlCode::TRANSACT.0, &reserved),
        Err(ProtocolError::InvalidParameter)
    );
}

#[test]
fn accept_round_trips_and_errors() {
    for (detach, timeout) in [(false, 0), (true, 7)] {
        let bytes = encode_accept(EndpointId(5), timeout, detach);
        assert_eq!(bytes.len(), 24);
        let request = parse_request(IoctlCode::ACCEPT.0, &bytes).unwrap();
        assert_eq!(
            request,
            Request::Accept(Accept {
                id: EndpointId(5),
                timeout_ms: if timeout == 0 {
                    DEFAULT_TIMEOUT_MS
                } else {
                    timeout
                },
                detach,
            })
        );
        // Direct I/O: the output buffer is exactly the new connection's EndpointReply.
        assert_eq!(direct_output_len(&request), Some(80));
    }
    let base = encode_accept(EndpointId(5), 0, false);
    let invalid: Vec<Mutation> = vec![
        ("id 0", Box::new(|b| put_u64(b, 8, 0))),
        ("unknown flag", Box::new(|b| put_u32(b, 20, 2))),
        ("bind flag", Box::new(|b| put_u32(b, 20, 4))),
    ];
    expect_all(
        IoctlCode::ACCEPT,
        &base,
        invalid,
        ProtocolError::InvalidParameter,
    );
}

#[test]
fn disconnect_round_trips_and_errors() {
    for abortive in [false, true] {
        assert_eq!(
            parse_request(
                IoctlCode::DISCONNECT.0,
                &encode_disconnect(EndpointId(3), 250, abortive)
            ),
            Ok(Request::Disconnect(Disconnect {
                id: EndpointId(3),
                timeout_ms: 250,
                abortive,
            }))
        );
    }
    let base = encode_disconnect(EndpointId(3), 0, true);
    assert_eq!(u32::from_le_bytes(base[20..24].try_into().unwrap()), 1);
    let invalid: Vec<Mutation> = vec![
        ("flag 2", Box::new(|b| put_u32(b, 20, 2))),
        ("flags max", Box::new(|b| put_u32(b, 20, u32::MAX))),
        ("id 0", Box::new(|b| put_u64(b, 8, 0))),
    ];
    expect_all(
        IoctlCode::DISCONNECT,
        &base,
        invalid,
        ProtocolError::InvalidParameter,
    );
}

#[test]
fn disconnect_reply_is_the_header_alone() {
    let mut out = [0u8; 16];
    assert_eq!(write_disconnect(&mut out), Ok(8));
    assert_eq!(parse_disconnect_reply(&out[..8]), Ok(()));
    assert_eq!(
        parse_disconnect_reply(&out),
        Err(ProtocolError::LengthMismatch)
    );
    // A close reply has the same shape.
    write_close(&mut out).unwrap();
    assert_eq!(parse_disconnect_reply(&out[..8]), Ok(()));
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
