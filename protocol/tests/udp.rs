//! UDP messages: UDP_BIND, SEND_TO and RECV_FROM requests (round trips, boundaries,
//! malformed requests), the UDP `EndpointReply`, and RECV_FROM replies (the 48-byte header
//! before the datagram).
//! Layouts: UDP_BIND local 8, service 36, flags 40, sddl 44..300; SEND_TO id 8, timeout 16,
//! length 20, remote 24..52, reserved 52 (the datagram is the output buffer); RECV_FROM id 8,
//! timeout 16, max_length 20.

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};

use wskrs_protocol::{
    direct_output_len, encode_recv_from, encode_send_to, encode_udp_bind, parse_endpoint_reply,
    parse_recv_from_reply, parse_request, recv_from_data_area, write_endpoint,
    write_recv_from_header, BindFlags, EndpointId, EndpointKind, IoctlCode, OpenedEndpoint,
    ProtocolError, ReceivedFrom, RecvFrom, Request, SendTo, UdpBind, UdpService,
    DEFAULT_TIMEOUT_MS, KIND_UDP, MAX_DATAGRAM,
};

mod common;

use common::{
    expect_all, put_u16, put_u32, put_u64, v4, v6, v6_any, v6_scoped, Mutation, ALL_BIND_FLAGS,
};

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
        assert_eq!(bytes.len(), 308);
        assert_eq!(
            parse_request(IoctlCode::UDP_BIND.0, &bytes),
            Ok(Request::UdpBind(UdpBind {
                local,
                service,
                bind,
                detach,
                sddl,
                security: None,
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

#[test]
fn udp_endpoint_reply() {
    let mut out = [0u8; 80];
    let written = write_endpoint(&mut out, EndpointId(6), KIND_UDP, Some(v4(0)), None).unwrap();
    assert_eq!(
        parse_endpoint_reply(&out[..written]),
        Ok(OpenedEndpoint {
            id: EndpointId(6),
            kind: EndpointKind::Udp,
            local: Some(v4(0)),
            remote: None
        })
    );
    put_u32(&mut out, 16, 4);
    assert_eq!(
        parse_endpoint_reply(&out),
        Err(ProtocolError::InvalidParameter)
    );
}

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
    // Zero-length datagrams cannot be sent (a direct request needs a data buffer).
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
            "size long (trailing data: framing.rs)",
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

#[test]
fn recv_from_round_trips() {
    for remote in [Some(v4(53)), Some(v6_scoped(5353)), None] {
        let mut out = [0u8; 48 + 16];
        let area = recv_from_data_area(&mut out).unwrap();
        assert_eq!(area.len(), 16);
        area[..4].copy_from_slice(b"pong");
        let written = write_recv_from_header(&mut out, 4, remote).unwrap();
        assert_eq!(written, 52);
        assert_eq!(
            parse_recv_from_reply(&out[..written]),
            Ok(ReceivedFrom {
                data: b"pong",
                remote
            })
        );
    }
}

#[test]
fn recv_from_header_writes_only_its_48_bytes() {
    // The header writer may get the header alone (the driver maps what it needs): it
    // writes 48 bytes, sizes the reply for the data after them and never touches them.
    let mut header_only = [0u8; 48];
    assert_eq!(
        write_recv_from_header(&mut header_only, 9, Some(v4(1))),
        Ok(57)
    );
    assert_eq!(
        u32::from_le_bytes(header_only[4..8].try_into().unwrap()),
        57
    );
    assert_eq!(
        u32::from_le_bytes(header_only[8..12].try_into().unwrap()),
        9
    );
    let mut out = [0xAAu8; 48 + 8];
    assert_eq!(write_recv_from_header(&mut out, 8, Some(v4(1))), Ok(56));
    assert!(out[48..].iter().all(|&byte| byte == 0xAA), "data untouched");
    assert_eq!(
        write_recv_from_header(&mut out[..47], 1, None),
        Err(ProtocolError::BufferTooSmall)
    );
    assert_eq!(
        write_recv_from_header(&mut out, u32::MAX - 47, None),
        Err(ProtocolError::BufferTooSmall),
        "48 + length overflows"
    );
    assert_eq!(recv_from_data_area(&mut out[..48]).map(|a| a.len()), Ok(0));
    assert_eq!(recv_from_data_area(&mut out).map(|a| a.len()), Ok(8));
    // An empty datagram (a peer may send one; the driver may receive it).
    let written = write_recv_from_header(&mut out, 0, Some(v4(1))).unwrap();
    assert_eq!(
        parse_recv_from_reply(&out[..written]),
        Ok(ReceivedFrom {
            data: b"",
            remote: Some(v4(1))
        })
    );
}

#[test]
fn recv_from_reply_rejections() {
    let mut out = [0u8; 48 + 3];
    write_recv_from_header(&mut out, 3, Some(v4(9))).unwrap();
    let mut length = out;
    put_u32(&mut length, 8, 2);
    assert_eq!(
        parse_recv_from_reply(&length),
        Err(ProtocolError::LengthMismatch)
    );
    let mut reserved = out;
    put_u32(&mut reserved, 12, 1);
    assert_eq!(
        parse_recv_from_reply(&reserved),
        Err(ProtocolError::InvalidParameter)
    );
    let mut reserved2 = out;
    put_u32(&mut reserved2, 44, 1);
    assert_eq!(
        parse_recv_from_reply(&reserved2),
        Err(ProtocolError::InvalidParameter)
    );
    let mut family = out;
    family[16] = 7;
    assert_eq!(
        parse_recv_from_reply(&family),
        Err(ProtocolError::BadAddress)
    );
    assert_eq!(
        parse_recv_from_reply(&out[..47]),
        Err(ProtocolError::LengthMismatch)
    );
}
