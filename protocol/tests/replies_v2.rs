//! The reply writers and client parsers ABI v2 added: round trips, exact buffer sizes, and
//! rejection of malformed replies.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use wskrs_protocol::{
    list_output_len, min_output_len, parse_disconnect_reply, parse_endpoint_reply,
    parse_list_reply, parse_recv_from_reply, parse_resolve_reply, parse_security_reply,
    parse_socket_option_reply, parse_stats_reply, recv_from_data_area, recv_from_output_len,
    resolve_output_len, write_close, write_disconnect, write_endpoint, write_recv_from_header,
    write_security, write_security_fmt, write_socket_option, write_stats, EndpointActivity,
    EndpointId, EndpointInfo, EndpointKind, EndpointState, EndpointStatus, IoctlCode, ListWriter,
    NtStatus, OpenedEndpoint, ProtocolError, ReceivedFrom, ResolveWriter, Service, Stats, KIND_UDP,
    SDDL_LEN,
};

/// A reply writer under test.
type Writer = dyn Fn(&mut [u8]) -> Result<usize, ProtocolError>;
/// A named corruption of a valid reply and the error it must cause.
type Corruption = (&'static str, Box<dyn Fn(&mut [u8])>, ProtocolError);

fn put_u32(bytes: &mut [u8], offset: usize, value: u32) {
    bytes[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
}

fn v4(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

fn v6(port: u16) -> SocketAddr {
    SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, port, 0, 4))
}

#[test]
fn min_output_len_per_new_code() {
    let expected = [
        (IoctlCode::TCP_LISTEN, 80),
        (IoctlCode::UDP_BIND, 80),
        // v3: SEND_TO's output buffer is the datagram; RECV_FROM's the reply and the datagram.
        (IoctlCode::SEND_TO, 1),
        (IoctlCode::RECV_FROM, 49),
        (IoctlCode::DISCONNECT, 8),
        (IoctlCode::SOCKET_OPTION, 16),
        (IoctlCode::SECURITY, 272),
        (IoctlCode::RESOLVE, 16),
        (IoctlCode::STATS, 64),
    ];
    for (code, len) in expected {
        assert_eq!(min_output_len(code.0), Some(len), "{code:?}");
    }
    for code in IoctlCode::ALL {
        assert!(min_output_len(code.0).is_some(), "{code:?}");
    }
}

#[test]
fn new_writers_need_their_fixed_size_exactly() {
    let mut out = [0u8; 300];
    let cases: [(usize, &Writer); 6] = [
        (48, &|o| write_recv_from_header(o, 0, None)),
        (8, &write_disconnect),
        (16, &|o| write_socket_option(o, 1)),
        (272, &|o| write_security(o, "")),
        (272, &|o| write_security_fmt(o, "D:P")),
        (64, &|o| write_stats(o, &Stats::default())),
    ];
    for (len, write) in cases {
        assert_eq!(
            write(&mut out[..len - 1]),
            Err(ProtocolError::BufferTooSmall)
        );
        assert_eq!(write(&mut out[..len]), Ok(len));
    }
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

#[test]
fn recv_from_round_trips() {
    for remote in [Some(v4(53)), Some(v6(5353)), None] {
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

#[test]
fn disconnect_and_socket_option_replies() {
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

    assert_eq!(write_socket_option(&mut out, 65_536), Ok(16));
    assert_eq!(parse_socket_option_reply(&out), Ok(65_536));
    put_u32(&mut out, 12, 1);
    assert_eq!(
        parse_socket_option_reply(&out),
        Err(ProtocolError::InvalidParameter)
    );
}

#[test]
fn security_round_trips() {
    let full = "D:".to_owned() + &"A".repeat(SDDL_LEN - 2);
    for sddl in ["", "O:SYD:(A;;GA;;;SY)", "é", full.as_str()] {
        let mut out = [0xEEu8; 300];
        let written = write_security(&mut out, sddl).unwrap();
        assert_eq!(written, 272);
        assert_eq!(parse_security_reply(&out[..written]), Ok(sddl), "{sddl:?}");
        assert!(out[16 + sddl.len()..272].iter().all(|&b| b == 0));
        let written = write_security_fmt(&mut out, format_args!("{sddl}")).unwrap();
        assert_eq!(parse_security_reply(&out[..written]), Ok(sddl));
    }
}

/// A `Display` that writes its text in pieces, as a descriptor's SDDL formatter does.
struct Pieces(&'static [&'static str]);

impl fmt::Display for Pieces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|piece| f.write_str(piece))
    }
}

#[test]
fn security_writer_limits() {
    let mut out = [0u8; 272];
    let long = "A".repeat(SDDL_LEN + 1);
    assert_eq!(
        write_security(&mut out, &long),
        Err(ProtocolError::BufferTooSmall)
    );
    assert_eq!(
        write_security(&mut out, "D:\0"),
        Err(ProtocolError::InvalidParameter)
    );
    assert_eq!(
        write_security_fmt(&mut out, &long),
        Err(ProtocolError::BufferTooSmall)
    );
    assert_eq!(
        write_security_fmt(&mut out, Pieces(&["O:SY", "G:SY", "D:"])),
        Ok(272)
    );
    assert_eq!(parse_security_reply(&out), Ok("O:SYG:SYD:"));
}

#[test]
fn security_reply_rejections() {
    let mut out = [0u8; 272];
    write_security(&mut out, "D:P").unwrap();
    let cases: Vec<Corruption> = vec![
        (
            "reserved",
            Box::new(|b| put_u32(b, 12, 1)),
            ProtocolError::InvalidParameter,
        ),
        (
            "length 257",
            Box::new(|b| put_u32(b, 8, 257)),
            ProtocolError::InvalidParameter,
        ),
        (
            "length max",
            Box::new(|b| put_u32(b, 8, u32::MAX)),
            ProtocolError::InvalidParameter,
        ),
        (
            "length short of the text",
            Box::new(|b| put_u32(b, 8, 2)),
            ProtocolError::InvalidParameter,
        ),
        (
            "length past the text (NUL inside)",
            Box::new(|b| put_u32(b, 8, 4)),
            ProtocolError::InvalidParameter,
        ),
        (
            "byte after the text",
            Box::new(|b| b[271] = b'x'),
            ProtocolError::InvalidParameter,
        ),
        (
            "not UTF-8",
            Box::new(|b| b[16] = 0xFF),
            ProtocolError::InvalidParameter,
        ),
        (
            "other version",
            Box::new(|b| put_u32(b, 0, 1)),
            ProtocolError::VersionMismatch,
        ),
        (
            "size",
            Box::new(|b| put_u32(b, 4, 271)),
            ProtocolError::LengthMismatch,
        ),
    ];
    for (name, mutate, expected) in cases {
        let mut bytes = out;
        mutate(&mut bytes);
        assert_eq!(parse_security_reply(&bytes), Err(expected), "{name}");
    }
    assert_eq!(
        parse_security_reply(&out[..271]),
        Err(ProtocolError::LengthMismatch)
    );
}

#[test]
fn resolve_round_trip_and_truncation() {
    let addresses = [v4(80), v6(80), SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))];
    let mut out = vec![0u8; resolve_output_len(3)];
    assert_eq!(out.len(), 16 + 3 * 28);
    let mut writer = ResolveWriter::new(&mut out).unwrap();
    for address in addresses {
        assert!(writer.push(address));
    }
    let written = writer.finish();
    assert_eq!(written, 100);
    let resolved = parse_resolve_reply(&out[..written]).unwrap();
    assert_eq!(
        (resolved.count(), resolved.total(), resolved.is_truncated()),
        (3, 3, false)
    );
    assert_eq!(resolved.iter().collect::<Vec<_>>(), addresses);

    // Room for one and a bit.
    let mut out = vec![0u8; 16 + 28 + 27];
    let mut writer = ResolveWriter::new(&mut out).unwrap();
    let pushed: Vec<bool> = addresses.iter().map(|&a| writer.push(a)).collect();
    assert_eq!(pushed, [true, false, false]);
    let written = writer.finish();
    let resolved = parse_resolve_reply(&out[..written]).unwrap();
    assert_eq!(
        (resolved.count(), resolved.total(), resolved.is_truncated()),
        (1, 3, true)
    );
    assert_eq!(resolved.iter().collect::<Vec<_>>(), [v4(80)]);

    // Nothing resolved.
    let mut out = [0u8; 16];
    let written = ResolveWriter::new(&mut out).unwrap().finish();
    let resolved = parse_resolve_reply(&out[..written]).unwrap();
    assert_eq!((resolved.count(), resolved.total()), (0, 0));
}

#[test]
fn resolve_reply_rejections() {
    let mut out = vec![0u8; 16 + 28];
    let mut writer = ResolveWriter::new(&mut out).unwrap();
    writer.push(v4(443));
    assert_eq!(writer.finish(), out.len());
    let mut count_high = out.clone();
    put_u32(&mut count_high, 8, 2);
    assert_eq!(
        parse_resolve_reply(&count_high).err(),
        Some(ProtocolError::LengthMismatch)
    );
    let mut total_low = out.clone();
    put_u32(&mut total_low, 12, 0);
    assert_eq!(
        parse_resolve_reply(&total_low).err(),
        Some(ProtocolError::LengthMismatch)
    );
    let mut no_address = out.clone();
    no_address[16..44].fill(0);
    assert_eq!(
        parse_resolve_reply(&no_address).err(),
        Some(ProtocolError::BadAddress)
    );
    let mut bad_family = out.clone();
    bad_family[16] = 9;
    assert_eq!(
        parse_resolve_reply(&bad_family).err(),
        Some(ProtocolError::BadAddress)
    );
}

#[test]
fn stats_round_trip() {
    let stats = Stats {
        endpoints_open: 3,
        endpoints_peak: 9,
        endpoints_opened: 120,
        bytes_sent: 1 << 40,
        bytes_received: u64::MAX,
        connections_served: 77,
        errors: 2,
        uptime_ms: 86_400_000,
    };
    let mut out = [0u8; 64];
    assert_eq!(write_stats(&mut out, &stats), Ok(64));
    assert_eq!(parse_stats_reply(&out), Ok(stats));
    assert_eq!(&out[..8], &[3, 0, 0, 0, 64, 0, 0, 0]);
    assert_eq!(
        parse_stats_reply(&out[..63]),
        Err(ProtocolError::LengthMismatch)
    );
}

fn udp_status(id: u64) -> EndpointStatus {
    EndpointStatus {
        id: EndpointId(id),
        kind: EndpointKind::Udp,
        state: EndpointState::Bound,
        service: Service::Echo,
        detached: false,
        owned_by_caller: true,
        local: Some(v4(5353)),
        remote: None,
        bytes_sent: 1,
        bytes_received: 2,
        connections_served: 0,
        connections_active: 0,
    }
}

#[test]
fn list_carries_activity() {
    let activity = EndpointActivity {
        opened_ms: 1234,
        send_ops: 5,
        recv_ops: 6,
        errors: 1,
        last_status: Some(NtStatus::IO_TIMEOUT),
    };
    let idle = EndpointActivity::default();
    let mut out = vec![0u8; list_output_len(2)];
    assert_eq!(out.len(), 16 + 2 * 152);
    let mut writer = ListWriter::new(&mut out).unwrap();
    assert!(writer.push(&EndpointInfo::from((&udp_status(1), &activity))));
    assert!(writer.push(&EndpointInfo::from(&udp_status(2))));
    let written = writer.finish();
    let list = parse_list_reply(&out[..written]).unwrap();
    assert_eq!(
        list.iter_with_activity().collect::<Vec<_>>(),
        [(udp_status(1), activity), (udp_status(2), idle)]
    );
    assert_eq!(
        list.iter().collect::<Vec<_>>(),
        [udp_status(1), udp_status(2)]
    );
    // The wire fields.
    assert_eq!(
        u32::from_le_bytes(out[16 + 144..16 + 148].try_into().unwrap()),
        0xC000_00B5
    );
    assert_eq!(
        u64::from_le_bytes(out[16 + 112..16 + 120].try_into().unwrap()),
        1234
    );
}

#[test]
fn list_entry_v2_rejections() {
    let mut out = vec![0u8; list_output_len(1)];
    let mut writer = ListWriter::new(&mut out).unwrap();
    writer.push(&EndpointInfo::from(&udp_status(1)));
    assert_eq!(writer.finish(), out.len());
    let mut reserved2 = out.clone();
    put_u32(&mut reserved2, 16 + 148, 1);
    assert_eq!(
        parse_list_reply(&reserved2).err(),
        Some(ProtocolError::InvalidParameter)
    );
    for (offset, value, ok) in [
        (16 + 8, 3, true),   // kind udp
        (16 + 8, 4, false),  // kind 4
        (16 + 12, 5, true),  // state bound
        (16 + 12, 6, true),  // state disconnected
        (16 + 12, 7, false), // state 7
        (16 + 16, 3, true),  // service source
        (16 + 16, 4, false), // service 4
    ] {
        let mut bytes = out.clone();
        put_u32(&mut bytes, offset, value);
        assert_eq!(
            parse_list_reply(&bytes).is_ok(),
            ok,
            "offset {offset} = {value}"
        );
    }
    // A v1-sized entry no longer parses.
    let mut v1 = out[..16 + 112].to_vec();
    put_u32(&mut v1, 4, 128);
    assert_eq!(
        parse_list_reply(&v1).err(),
        Some(ProtocolError::LengthMismatch)
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
