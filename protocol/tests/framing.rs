//! What holds for every message: the header (ABI version first, then a size equal to the
//! input length), fixed sizes with no trailing bytes, unknown codes, endpoint id 0, which
//! codes are direct I/O, each code's smallest output buffer, and the writers' buffer sizes.

use wskrs_protocol::{
    direct_output_len, encode_accept, encode_close, encode_disconnect, encode_info, encode_list,
    encode_recv, encode_recv_from, encode_resolve, encode_security, encode_send, encode_send_to,
    encode_socket_option, encode_stats, encode_tcp_connect, encode_tcp_listen, encode_udp_bind,
    list_output_len, min_output_len, parse_close_reply, parse_info_reply, parse_request,
    recv_from_data_area, recv_from_output_len, resolve_output_len, write_close, write_disconnect,
    write_endpoint, write_info, write_recv_from_header, write_security, write_security_fmt,
    write_socket_option, write_stats, BindFlags, EndpointId, IoctlCode, ListWriter, NtStatus,
    OptionId, ProtocolError, ResolveWriter, Service, Stats, UdpService, ABI_VERSION,
};

mod common;

use common::{put_u32, put_u64, v4};

/// A reply writer under test.
type Writer = dyn Fn(&mut [u8]) -> Result<usize, ProtocolError>;

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

#[test]
fn an_older_clients_info_gets_the_version_mismatch() {
    // Before ABI 4, INFO was FILE_ANY_ACCESS (0x80572000); the other query codes then are
    // simply unknown now.
    assert_eq!(IoctlCode::INFO_BEFORE_ABI_4.0, 0x8057_2000);
    let mut old = encode_info();
    old[..4].copy_from_slice(&3u32.to_le_bytes());
    assert_eq!(
        parse_request(IoctlCode::INFO_BEFORE_ABI_4.0, &old),
        Err(ProtocolError::VersionMismatch)
    );
    assert_eq!(
        parse_request(IoctlCode::INFO_BEFORE_ABI_4.0, &old[..4]),
        Err(ProtocolError::LengthMismatch)
    );
    for old_query in [0x8057_2018, 0x8057_2030, 0x8057_2034, 0x8057_2038] {
        assert_eq!(
            parse_request(old_query, &old),
            Err(ProtocolError::UnknownCode),
            "{old_query:#x}"
        );
    }
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
        (IoctlCode::SEND, encode_send(EndpointId(1), 0, 3).to_vec()),
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
        (IoctlCode::HELD, wskrs_protocol::encode_held().to_vec()),
        (
            IoctlCode::SET_PEER_TARGET_NAME,
            wskrs_protocol::encode_set_peer_target_name(
                EndpointId(1),
                v4(9),
                wskrs_protocol::SecureProtocol::Default,
                "host/peer",
            )
            .unwrap()
            .to_vec(),
        ),
        (
            IoctlCode::DELETE_PEER_TARGET_NAME,
            wskrs_protocol::encode_delete_peer_target_name(EndpointId(1), v4(9)).to_vec(),
        ),
        (
            IoctlCode::QUERY_SECURITY,
            wskrs_protocol::encode_query_security(EndpointId(1), None).to_vec(),
        ),
        (
            IoctlCode::TRANSACT,
            wskrs_protocol::encode_transact(EndpointId(1), 0, 3, 5).to_vec(),
        ),
        (
            IoctlCode::DEVICE_SECURITY,
            wskrs_protocol::encode_device_security().to_vec(),
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
    // Every request is fixed-size, SEND and SEND_TO included (the data is the output buffer).
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
fn only_the_data_codes_have_an_exact_direct_output_length() {
    for (code, bytes) in valid_requests() {
        let request = parse_request(code.0, &bytes).unwrap();
        let expected = match code {
            IoctlCode::SEND | IoctlCode::SEND_TO => Some(3),
            IoctlCode::RECV => Some(1),
            IoctlCode::RECV_FROM => Some(48 + 1),
            // ACCEPT's output buffer is the new connection's EndpointReply.
            IoctlCode::ACCEPT => Some(80),
            // TRANSACT's holds the request, then the reply: the larger of 3 and 5.
            IoctlCode::TRANSACT => Some(5),
            _ => None,
        };
        assert_eq!(direct_output_len(&request), expected, "{code:?}");
        // RESOLVE is direct (it may pend) with a minimum output length, as buffered codes.
        assert_eq!(
            code.is_direct(),
            expected.is_some() || code == IoctlCode::RESOLVE,
            "{code:?}"
        );
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

#[test]
fn id_zero_is_invalid_everywhere() {
    let send = encode_send(EndpointId(0), 0, 1);
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
fn length_mismatch_status() {
    assert_eq!(ProtocolError::LengthMismatch.status().as_u32(), 0xC000_0004);
}

#[test]
fn reply_header_checks() {
    let mut out = [0u8; 24];
    write_info(&mut out, (0, 1, 0), 0, 0).unwrap();
    let mut version = out;
    put_u32(&mut version, 0, 1);
    assert_eq!(
        parse_info_reply(&version),
        Err(ProtocolError::VersionMismatch)
    );
    let mut size = out;
    put_u32(&mut size, 4, 23);
    assert_eq!(parse_info_reply(&size), Err(ProtocolError::LengthMismatch));
    assert_eq!(
        parse_info_reply(&out[..23]),
        Err(ProtocolError::LengthMismatch)
    );
    assert_eq!(
        parse_info_reply(&out[..4]),
        Err(ProtocolError::LengthMismatch)
    );
    assert_eq!(parse_info_reply(&[]), Err(ProtocolError::LengthMismatch));
    // A close reply (8 bytes, consistent header) is too short to be an INFO reply.
    let mut close = [0u8; 8];
    write_close(&mut close).unwrap();
    assert_eq!(parse_info_reply(&close), Err(ProtocolError::LengthMismatch));
    assert_eq!(parse_close_reply(&close), Ok(()));
    // And an INFO reply is too long to be a close reply.
    assert_eq!(parse_close_reply(&out), Err(ProtocolError::LengthMismatch));
}

#[test]
fn min_output_len_per_code() {
    let expected = [
        (IoctlCode::INFO, 24),
        (IoctlCode::TCP_CONNECT, 80),
        (IoctlCode::TCP_LISTEN, 80),
        // SEND and RECV have no reply; their output buffer is the data (at least 1 byte).
        (IoctlCode::SEND, 1),
        (IoctlCode::RECV, 1),
        (IoctlCode::CLOSE, 8),
        (IoctlCode::LIST, 16),
        (IoctlCode::UDP_BIND, 80),
        // SEND_TO's output buffer is the datagram; RECV_FROM's the reply and the datagram.
        (IoctlCode::SEND_TO, 1),
        (IoctlCode::RECV_FROM, 49),
        (IoctlCode::DISCONNECT, 8),
        (IoctlCode::SOCKET_OPTION, 16),
        (IoctlCode::SECURITY, 272),
        (IoctlCode::RESOLVE, 16),
        (IoctlCode::STATS, 96),
        (IoctlCode::HELD, 56),
    ];
    for (code, len) in expected {
        assert_eq!(min_output_len(code.0), Some(len), "{code:?}");
    }
}

#[test]
fn min_output_len_is_known_for_every_code_and_no_other() {
    for code in IoctlCode::ALL {
        assert!(min_output_len(code.0).is_some(), "{code:?}");
    }
    assert_eq!(min_output_len(0), None);
}

#[test]
fn writers_need_their_fixed_size_exactly() {
    let mut out = [0u8; 300];
    let cases: [(usize, &Writer); 9] = [
        (24, &|o| write_info(o, (0, 1, 0), 0, 0)),
        (80, &|o| write_endpoint(o, EndpointId(1), 1, None, None)),
        (8, &write_close),
        (48, &|o| write_recv_from_header(o, 0, None)),
        (8, &write_disconnect),
        (16, &|o| write_socket_option(o, 1)),
        (272, &|o| write_security(o, "")),
        (272, &|o| write_security_fmt(o, "D:P")),
        (96, &|o| write_stats(o, &Stats::default())),
    ];
    for (len, write) in cases {
        assert_eq!(
            write(&mut out[..len - 1]),
            Err(ProtocolError::BufferTooSmall),
            "{len} - 1"
        );
        assert_eq!(write(&mut out[..len]), Ok(len));
    }
    assert_eq!(ProtocolError::BufferTooSmall.status().as_u32(), 0xC000_0023);
}

#[test]
fn table_writers_need_their_header() {
    let mut out = [0u8; 48];
    assert_eq!(
        ListWriter::new(&mut out[..15]).err(),
        Some(ProtocolError::BufferTooSmall)
    );
    assert_eq!(
        ResolveWriter::new(&mut out[..15]).err(),
        Some(ProtocolError::BufferTooSmall)
    );
    assert_eq!(
        recv_from_data_area(&mut out[..47]).err(),
        Some(ProtocolError::BufferTooSmall)
    );
}

#[test]
fn output_len_helpers_saturate() {
    assert_eq!(list_output_len(0), 16);
    assert_eq!(resolve_output_len(0), 16);
    assert_eq!(list_output_len(usize::MAX), usize::MAX);
    assert_eq!(resolve_output_len(usize::MAX), usize::MAX);
    assert_eq!(recv_from_output_len(0), 48);
    assert_eq!(recv_from_output_len(1500), 1548);
    assert_eq!(recv_from_output_len(u32::MAX), u32::MAX as usize + 48);
}
