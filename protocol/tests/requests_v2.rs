//! Driver-side validation of what ABI v2 added: the new requests round trip, every
//! documented error comes from the input the spec says produces it, and the boundaries sit
//! exactly where documented.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use wskrs_protocol::{
    direct_output_len, encode_accept, encode_disconnect, encode_recv_from, encode_resolve,
    encode_security, encode_send_to, encode_socket_option, encode_stats, encode_tcp_connect_with,
    encode_tcp_listen, encode_tcp_listen_with, encode_udp_bind, parse_request, Accept, BindFlags,
    Disconnect, EndpointId, IoctlCode, ListenOptions, OptionId, ProtocolError, RecvFrom, Request,
    Resolve, SendTo, Service, SocketOption, TcpConnect, TcpListen, UdpBind, UdpService,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_TIMEOUT_MS, MAX_CONNECTIONS, MAX_DATAGRAM,
};

fn v4(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

fn v6(port: u16) -> SocketAddr {
    SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, port, 0, 0))
}

fn v6_any(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv6Addr::UNSPECIFIED, port))
}

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

/// Applies each mutation to `base` and expects `expected` from parsing it as `code`.
fn expect_all(code: IoctlCode, base: &[u8], cases: Vec<Mutation>, expected: ProtocolError) {
    for (name, mutate) in cases {
        let mut bytes = base.to_vec();
        mutate(&mut bytes);
        assert_eq!(
            parse_request(code.0, &bytes),
            Err(expected),
            "{code:?}: {name}"
        );
    }
}

const ALL_BIND_FLAGS: [BindFlags; 4] = [
    BindFlags {
        reuse: false,
        exclusive: false,
        v6only: None,
    },
    BindFlags {
        reuse: true,
        exclusive: false,
        v6only: Some(true),
    },
    BindFlags {
        reuse: false,
        exclusive: true,
        v6only: Some(false),
    },
    BindFlags {
        reuse: false,
        exclusive: true,
        v6only: None,
    },
];

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

// ---- TCP_CONNECT (flags at 64) ----

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
        }))
    );
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
        ("unknown bit 32", Box::new(|b| put_u32(b, 64, 32))),
        ("unknown high bit", Box::new(|b| put_u32(b, 64, 1 << 31))),
    ];
    expect_all(
        IoctlCode::TCP_CONNECT,
        &base,
        cases,
        ProtocolError::InvalidParameter,
    );
}

// ---- TCP_LISTEN (local 8, service 36, backlog 40, flags 44, reserved 48,
//      max_connections 52, sddl 56..312) ----

#[test]
fn tcp_listen_v1_encoder_fills_v2_defaults() {
    let bytes = encode_tcp_listen(v4(9100), Service::Echo, 5, true);
    assert_eq!(bytes.len(), 312);
    assert_eq!(&bytes[..8], &[3, 0, 0, 0, 0x38, 1, 0, 0]);
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
        }))
    );
    assert_eq!(DEFAULT_MAX_CONNECTIONS, 256);
    assert_eq!(MAX_CONNECTIONS, 256);
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
                })),
                "{service:?} {bind:?}"
            );
        }
    }
}

#[test]
fn tcp_listen_max_connections_boundaries() {
    for (requested, parsed) in [(0, 256), (1, 1), (255, 255), (256, 256)] {
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
    for requested in [257, 1000, u32::MAX] {
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

#[test]
fn tcp_listen_v2_errors() {
    let options = ListenOptions {
        sddl: Some("D:P"),
        ..ListenOptions::default()
    };
    let base = encode_tcp_listen_with(v4(9100), Service::Echo, &options).unwrap();
    let invalid: Vec<Mutation> = vec![
        ("service 4", Box::new(|b| put_u32(b, 36, 4))),
        ("reserved", Box::new(|b| put_u32(b, 48, 1))),
        ("unknown flag 32", Box::new(|b| put_u32(b, 44, 32))),
        ("reuse + exclusive", Box::new(|b| put_u32(b, 44, 6))),
        ("v6only on IPv4", Box::new(|b| put_u32(b, 44, 8))),
        ("dual stack on IPv4", Box::new(|b| put_u32(b, 44, 16))),
        ("max_connections 257", Box::new(|b| put_u32(b, 52, 257))),
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
    // The v1 size is now a length mismatch.
    let mut v1_sized = base[..52].to_vec();
    put_u32(&mut v1_sized, 4, 52);
    assert_eq!(
        parse_request(IoctlCode::TCP_LISTEN.0, &v1_sized),
        Err(ProtocolError::LengthMismatch)
    );
}

// ---- UDP_BIND (local 8, service 36, flags 40, sddl 44..300) ----

#[test]
fn udp_bind_round_trips() {
    for (local, service, bind, detach, sddl) in [
        (v4(0), UdpService::None, BindFlags::default(), false, None),
        (
            v4(5353),
            UdpService::Echo,
            ALL_BIND_FLAGS[3],
            true,
            Some("D:P"),
        ),
        (v6_any(0), UdpService::Echo, ALL_BIND_FLAGS[2], false, None),
        (v6(7), UdpService::None, ALL_BIND_FLAGS[1], true, Some("é")),
    ] {
        let bytes = encode_udp_bind(local, service, detach, bind, sddl).unwrap();
        assert_eq!(bytes.len(), 300);
        assert_eq!(
            parse_request(IoctlCode::UDP_BIND.0, &bytes),
            Ok(Request::UdpBind(UdpBind {
                local,
                service,
                bind,
                detach,
                sddl,
            }))
        );
    }
}

#[test]
fn udp_bind_errors() {
    let base = encode_udp_bind(v4(0), UdpService::Echo, false, BindFlags::default(), None).unwrap();
    let bad_address: Vec<Mutation> = vec![
        ("no address", Box::new(|b| b[8..36].fill(0))),
        ("unknown family", Box::new(|b| put_u16(b, 8, 10))),
        ("IPv4 with scope", Box::new(|b| put_u32(b, 16, 1))),
        (
            "family 0 with a port",
            Box::new(|b| {
                b[8..36].fill(0);
                put_u16(b, 10, 53);
            }),
        ),
    ];
    expect_all(
        IoctlCode::UDP_BIND,
        &base,
        bad_address,
        ProtocolError::BadAddress,
    );
    let invalid: Vec<Mutation> = vec![
        (
            "service discard (TCP only)",
            Box::new(|b| put_u32(b, 36, 2)),
        ),
        ("service source (TCP only)", Box::new(|b| put_u32(b, 36, 3))),
        ("service max", Box::new(|b| put_u32(b, 36, u32::MAX))),
        ("unknown flag", Box::new(|b| put_u32(b, 40, 64))),
        ("reuse + exclusive", Box::new(|b| put_u32(b, 40, 6))),
        ("v6only on IPv4", Box::new(|b| put_u32(b, 40, 8))),
        ("SDDL not UTF-8", Box::new(|b| b[44] = 0x80)),
        ("byte after the NUL", Box::new(|b| b[299] = 1)),
    ];
    expect_all(
        IoctlCode::UDP_BIND,
        &base,
        invalid,
        ProtocolError::InvalidParameter,
    );
    let long = "A".repeat(257);
    assert_eq!(
        encode_udp_bind(
            v4(0),
            UdpService::None,
            false,
            BindFlags::default(),
            Some(&long)
        ),
        Err(ProtocolError::InvalidParameter)
    );
}

// ---- SEND_TO (id 8, timeout 16, length 20, remote 24..52, reserved 52; v3: no data) ----

fn send_to_request(id: u64, timeout_ms: u32, remote: SocketAddr, length: u32) -> Vec<u8> {
    encode_send_to(EndpointId(id), timeout_ms, remote, length).to_vec()
}

#[test]
fn send_to_round_trips() {
    for (remote, length, timeout) in [
        (v4(53), 5, 0),
        (v6(5353), 1, 9),
        (
            SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 1, 5, 2)),
            MAX_DATAGRAM,
            1,
        ),
    ] {
        let bytes = send_to_request(4, timeout, remote, length);
        assert_eq!(bytes.len(), 56);
        let request = parse_request(IoctlCode::SEND_TO.0, &bytes).unwrap();
        assert_eq!(
            request,
            Request::SendTo(SendTo {
                id: EndpointId(4),
                timeout_ms: if timeout == 0 {
                    DEFAULT_TIMEOUT_MS
                } else {
                    timeout
                },
                remote,
                length,
            })
        );
        assert_eq!(direct_output_len(&request), Some(length as usize));
    }
}

#[test]
fn send_to_length_is_one_to_max_datagram() {
    assert_eq!(MAX_DATAGRAM, 65_507);
    // Zero-length datagrams cannot be sent in v3 (a direct request needs a data buffer).
    for length in [0, MAX_DATAGRAM + 1, u32::MAX] {
        assert_eq!(
            parse_request(IoctlCode::SEND_TO.0, &send_to_request(1, 0, v4(9), length)),
            Err(ProtocolError::InvalidParameter),
            "length {length}"
        );
    }
}

#[test]
fn send_to_errors() {
    let base = send_to_request(1, 0, v4(53), 4);
    let length: Vec<Mutation> = vec![
        (
            "size long (trailing data is in requests.rs)",
            Box::new(|b| put_u32(b, 4, 60)),
        ),
        ("size short", Box::new(|b| put_u32(b, 4, 55))),
    ];
    expect_all(
        IoctlCode::SEND_TO,
        &base,
        length,
        ProtocolError::LengthMismatch,
    );
    let bad_address: Vec<Mutation> = vec![
        ("no remote", Box::new(|b| b[24..52].fill(0))),
        ("remote port 0", Box::new(|b| put_u16(b, 26, 0))),
        ("remote family 1", Box::new(|b| put_u16(b, 24, 1))),
        ("IPv4 tail", Box::new(|b| b[24 + 12 + 4] = 1)),
    ];
    expect_all(
        IoctlCode::SEND_TO,
        &base,
        bad_address,
        ProtocolError::BadAddress,
    );
    let invalid: Vec<Mutation> = vec![
        ("reserved", Box::new(|b| put_u32(b, 52, 1))),
        ("id 0", Box::new(|b| put_u64(b, 8, 0))),
        ("length 0", Box::new(|b| put_u32(b, 20, 0))),
    ];
    expect_all(
        IoctlCode::SEND_TO,
        &base,
        invalid,
        ProtocolError::InvalidParameter,
    );
}

// ---- RECV_FROM (id 8, timeout 16, max_length 20) ----

#[test]
fn recv_from_round_trips_and_boundaries() {
    for max_length in [1, 1500, MAX_DATAGRAM] {
        assert_eq!(
            parse_request(
                IoctlCode::RECV_FROM.0,
                &encode_recv_from(EndpointId(2), 0, max_length)
            ),
            Ok(Request::RecvFrom(RecvFrom {
                id: EndpointId(2),
                timeout_ms: DEFAULT_TIMEOUT_MS,
                max_length,
            }))
        );
    }
    for max_length in [0, MAX_DATAGRAM + 1, 65_535, u32::MAX] {
        assert_eq!(
            parse_request(
                IoctlCode::RECV_FROM.0,
                &encode_recv_from(EndpointId(2), 0, max_length)
            ),
            Err(ProtocolError::InvalidParameter),
            "{max_length}"
        );
    }
    assert_eq!(
        parse_request(
            IoctlCode::RECV_FROM.0,
            &encode_recv_from(EndpointId(0), 1, 1)
        ),
        Err(ProtocolError::InvalidParameter)
    );
}

// ---- DISCONNECT (id 8, timeout 16, flags 20) ----

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

// ---- SOCKET_OPTION (id 8, option 16, set 20, value 24, reserved 28) ----

#[test]
fn socket_option_gets_every_option() {
    for option in OptionId::ALL {
        assert_eq!(
            parse_request(
                IoctlCode::SOCKET_OPTION.0,
                &encode_socket_option(EndpointId(5), option, None)
            ),
            Ok(Request::SocketOption(SocketOption {
                id: EndpointId(5),
                option,
                set: None,
            })),
            "{option:?}"
        );
    }
}

#[test]
fn socket_option_sets_only_settable_options_with_valid_values() {
    let cases = [
        (OptionId::Keepalive, 0, true),
        (OptionId::Keepalive, 1, true),
        (OptionId::Keepalive, 2, false),
        (OptionId::NoDelay, 1, true),
        (OptionId::NoDelay, u32::MAX, false),
        (OptionId::RcvBuf, 0, true),
        (OptionId::RcvBuf, 65_536, true),
        (OptionId::RcvBuf, 0x7FFF_FFFF, true),
        (OptionId::RcvBuf, 0x8000_0000, false),
        (OptionId::SndBuf, 8192, true),
        (OptionId::SndBuf, u32::MAX, false),
        (OptionId::ReuseAddr, 1, false),
        (OptionId::ExclusiveAddrUse, 0, false),
        (OptionId::Ipv6V6Only, 1, false),
    ];
    for (option, value, ok) in cases {
        let bytes = encode_socket_option(EndpointId(5), option, Some(value));
        let parsed = parse_request(IoctlCode::SOCKET_OPTION.0, &bytes);
        let expected = if ok {
            Ok(Request::SocketOption(SocketOption {
                id: EndpointId(5),
                option,
                set: Some(value),
            }))
        } else {
            Err(ProtocolError::InvalidParameter)
        };
        assert_eq!(parsed, expected, "{option:?} = {value}");
    }
}

#[test]
fn socket_option_errors() {
    let base = encode_socket_option(EndpointId(5), OptionId::Keepalive, None);
    let invalid: Vec<Mutation> = vec![
        ("option 0", Box::new(|b| put_u32(b, 16, 0))),
        ("option 8", Box::new(|b| put_u32(b, 16, 8))),
        ("set 2", Box::new(|b| put_u32(b, 20, 2))),
        ("set max", Box::new(|b| put_u32(b, 20, u32::MAX))),
        ("get with a value", Box::new(|b| put_u32(b, 24, 1))),
        ("reserved", Box::new(|b| put_u32(b, 28, 1))),
        ("id 0", Box::new(|b| put_u64(b, 8, 0))),
    ];
    expect_all(
        IoctlCode::SOCKET_OPTION,
        &base,
        invalid,
        ProtocolError::InvalidParameter,
    );
}

// ---- SECURITY (id 8) and STATS ----

#[test]
fn security_and_stats_round_trip() {
    assert_eq!(
        parse_request(IoctlCode::SECURITY.0, &encode_security(EndpointId(9))),
        Ok(Request::Security(EndpointId(9)))
    );
    assert_eq!(
        parse_request(IoctlCode::SECURITY.0, &encode_security(EndpointId(0))),
        Err(ProtocolError::InvalidParameter)
    );
    assert_eq!(
        parse_request(IoctlCode::STATS.0, &encode_stats()),
        Ok(Request::Stats)
    );
    assert_eq!(encode_stats(), [3, 0, 0, 0, 8, 0, 0, 0]);
}

// ---- RESOLVE (timeout 8, reserved 12, name 16..272, service 272..304) ----

#[test]
fn resolve_round_trips() {
    for (name, service, timeout) in [
        ("localhost", "", 0),
        ("example.com", "https", 100),
        ("::1", "8080", 1),
        ("bücher.example", "", 0),
    ] {
        let bytes = encode_resolve(name, service, timeout).unwrap();
        assert_eq!(bytes.len(), 304);
        assert_eq!(
            parse_request(IoctlCode::RESOLVE.0, &bytes),
            Ok(Request::Resolve(Resolve {
                name,
                service,
                timeout_ms: if timeout == 0 {
                    DEFAULT_TIMEOUT_MS
                } else {
                    timeout
                },
            }))
        );
    }
}

#[test]
fn resolve_length_boundaries() {
    let name_255 = "a".repeat(255);
    let service_31 = "9".repeat(31);
    let bytes = encode_resolve(&name_255, &service_31, 0).unwrap();
    match parse_request(IoctlCode::RESOLVE.0, &bytes) {
        Ok(Request::Resolve(resolve)) => {
            assert_eq!((resolve.name.len(), resolve.service.len()), (255, 31));
        }
        other => panic!("{other:?}"),
    }
    // The client refuses what the driver would.
    for (name, service) in [
        ("a".repeat(256), String::new()),
        (String::new(), String::new()),
        ("x".to_owned(), "9".repeat(32)),
        ("a\0b".to_owned(), String::new()),
        ("x".to_owned(), "8\0".to_owned()),
    ] {
        assert_eq!(
            encode_resolve(&name, &service, 0),
            Err(ProtocolError::InvalidParameter),
            "{name:?} {service:?}"
        );
    }
    // And the driver refuses a hand-built 256-byte name or 32-byte service (no NUL).
    let mut full_name = bytes;
    full_name[16..272].fill(b'a');
    let mut full_service = bytes;
    full_service[272..304].fill(b'9');
    for request in [full_name, full_service] {
        assert_eq!(
            parse_request(IoctlCode::RESOLVE.0, &request),
            Err(ProtocolError::InvalidParameter)
        );
    }
}

#[test]
fn resolve_errors() {
    let base = encode_resolve("example.com", "80", 0).unwrap();
    let invalid: Vec<Mutation> = vec![
        ("reserved", Box::new(|b| put_u32(b, 12, 1))),
        ("empty name", Box::new(|b| b[16..272].fill(0))),
        ("name not UTF-8", Box::new(|b| b[16] = 0xFE)),
        ("byte after the name's NUL", Box::new(|b| b[271] = b'x')),
        ("service not UTF-8", Box::new(|b| b[272] = 0xC0)),
        ("byte after the service's NUL", Box::new(|b| b[303] = 1)),
    ];
    expect_all(
        IoctlCode::RESOLVE,
        &base,
        invalid,
        ProtocolError::InvalidParameter,
    );
}

/// The variants a request's parsed form borrows from stay tied to the input buffer.
#[test]
fn borrowed_text_points_into_the_input() {
    let bytes = encode_resolve("host", "svc", 0).unwrap();
    let Ok(Request::Resolve(resolve)) = parse_request(IoctlCode::RESOLVE.0, &bytes) else {
        panic!("valid request");
    };
    let range = bytes.as_ptr_range();
    assert!(range.contains(&resolve.name.as_ptr()));
    assert!(range.contains(&resolve.service.as_ptr()));
}
