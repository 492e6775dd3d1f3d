//! Reply writers and the client's reply parsers: round trips, buffer sizes and rejection of
//! malformed replies.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use wskrs_protocol::{
    min_output_len, parse_close_reply, parse_endpoint_reply, parse_info_reply, parse_list_reply,
    write_close, write_endpoint, write_info, DriverInfo, EndpointId, EndpointInfo, EndpointKind,
    EndpointState, EndpointStatus, IoctlCode, ListWriter, OpenedEndpoint, ProtocolError, Service,
    ABI_VERSION, KIND_TCP_CONNECTION, KIND_TCP_LISTENER,
};

/// Bytes of one LIST entry (`EndpointInfo`, 152 in ABI v2).
const ENTRY: usize = 152;

fn put_u32(bytes: &mut [u8], offset: usize, value: u32) {
    bytes[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
}

#[test]
fn min_output_len_per_code() {
    let expected = [
        (IoctlCode::INFO, 24),
        (IoctlCode::TCP_CONNECT, 80),
        (IoctlCode::TCP_LISTEN, 80),
        // v3: SEND and RECV have no reply; their output buffer is the data (at least 1 byte).
        (IoctlCode::SEND, 1),
        (IoctlCode::RECV, 1),
        (IoctlCode::CLOSE, 8),
        (IoctlCode::LIST, 16),
    ];
    for (code, len) in expected {
        assert_eq!(min_output_len(code.0), Some(len), "{code:?}");
    }
    assert_eq!(min_output_len(0), None);
}

#[test]
fn info_round_trip() {
    let mut out = [0xFFu8; 64];
    let written = write_info(&mut out, (0, 1, 2), 0x0100, 5).unwrap();
    assert_eq!(written, 24);
    let info = parse_info_reply(&out[..written]).unwrap();
    assert_eq!(
        info,
        DriverInfo {
            driver_version: (0, 1, 2),
            wsk_version: 0x0100,
            abi_version: ABI_VERSION,
            endpoint_count: 5
        }
    );
    assert_eq!(info.wsk_version_parts(), Some((1, 0)));
    assert_eq!(
        DriverInfo {
            wsk_version: 0,
            ..info
        }
        .wsk_version_parts(),
        None
    );
}

#[test]
fn writers_need_their_fixed_size_exactly() {
    let mut out = [0u8; 80];
    assert_eq!(
        write_info(&mut out[..23], (0, 1, 0), 0, 0),
        Err(ProtocolError::BufferTooSmall)
    );
    assert_eq!(write_info(&mut out[..24], (0, 1, 0), 0, 0), Ok(24));
    assert_eq!(
        write_endpoint(&mut out[..79], EndpointId(1), 1, None, None),
        Err(ProtocolError::BufferTooSmall)
    );
    assert_eq!(
        write_endpoint(&mut out[..80], EndpointId(1), 1, None, None),
        Ok(80)
    );
    assert_eq!(
        write_close(&mut out[..7]),
        Err(ProtocolError::BufferTooSmall)
    );
    assert_eq!(write_close(&mut out[..8]), Ok(8));
    assert_eq!(
        ListWriter::new(&mut out[..15]).err(),
        Some(ProtocolError::BufferTooSmall)
    );
    assert_eq!(ProtocolError::BufferTooSmall.status().as_u32(), 0xC000_0023);
}

#[test]
fn endpoint_round_trip() {
    let local = SocketAddr::from((Ipv4Addr::LOCALHOST, 50000));
    let remote = SocketAddr::from((Ipv4Addr::LOCALHOST, 9000));
    let mut out = [0u8; 80];
    let written = write_endpoint(
        &mut out,
        EndpointId(3),
        KIND_TCP_CONNECTION,
        Some(local),
        Some(remote),
    )
    .unwrap();
    assert_eq!(
        parse_endpoint_reply(&out[..written]),
        Ok(OpenedEndpoint {
            id: EndpointId(3),
            kind: EndpointKind::TcpConnection,
            local: Some(local),
            remote: Some(remote)
        })
    );
    let v6 = SocketAddr::from((Ipv6Addr::UNSPECIFIED, 9100));
    let written =
        write_endpoint(&mut out, EndpointId(4), KIND_TCP_LISTENER, Some(v6), None).unwrap();
    assert_eq!(
        parse_endpoint_reply(&out[..written]),
        Ok(OpenedEndpoint {
            id: EndpointId(4),
            kind: EndpointKind::TcpListener,
            local: Some(v6),
            remote: None
        })
    );
}

#[test]
fn endpoint_reply_rejections() {
    let mut out = [0u8; 80];
    write_endpoint(&mut out, EndpointId(3), 7, None, None).unwrap();
    assert_eq!(
        parse_endpoint_reply(&out),
        Err(ProtocolError::InvalidParameter),
        "unknown kind"
    );
    write_endpoint(&mut out, EndpointId(3), KIND_TCP_CONNECTION, None, None).unwrap();
    let mut reserved = out;
    put_u32(&mut reserved, 20, 1);
    assert_eq!(
        parse_endpoint_reply(&reserved),
        Err(ProtocolError::InvalidParameter),
        "reserved"
    );
    let mut zero_id = out;
    zero_id[8..16].fill(0);
    assert_eq!(
        parse_endpoint_reply(&zero_id),
        Err(ProtocolError::InvalidParameter),
        "id 0"
    );
    let mut bad_family = out;
    bad_family[24] = 9;
    assert_eq!(
        parse_endpoint_reply(&bad_family),
        Err(ProtocolError::BadAddress)
    );
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

fn sample_status(id: u64) -> EndpointStatus {
    EndpointStatus {
        id: EndpointId(id),
        kind: EndpointKind::TcpListener,
        state: EndpointState::Listening,
        service: Service::Echo,
        detached: true,
        owned_by_caller: false,
        local: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 9100))),
        remote: None,
        bytes_sent: 10,
        bytes_received: 11,
        connections_served: 12,
        connections_active: 1,
    }
}

#[test]
fn list_round_trip() {
    let mut out = vec![0u8; 16 + 3 * ENTRY];
    let mut writer = ListWriter::new(&mut out).unwrap();
    for id in 1..=3 {
        assert!(writer.push(&EndpointInfo::from(&sample_status(id))));
    }
    let written = writer.finish();
    assert_eq!(written, 16 + 3 * ENTRY);
    let list = parse_list_reply(&out[..written]).unwrap();
    assert_eq!(
        (list.count(), list.total(), list.is_truncated()),
        (3, 3, false)
    );
    let entries: Vec<_> = list.iter().collect();
    assert_eq!(
        entries,
        vec![sample_status(1), sample_status(2), sample_status(3)]
    );
}

#[test]
fn list_truncates_and_counts_total() {
    // Room for two entries and part of a third.
    let mut out = vec![0u8; 16 + 2 * ENTRY + 100];
    let mut writer = ListWriter::new(&mut out).unwrap();
    let pushed: Vec<bool> = (1..=5)
        .map(|id| writer.push(&EndpointInfo::from(&sample_status(id))))
        .collect();
    assert_eq!(pushed, [true, true, false, false, false]);
    let written = writer.finish();
    assert_eq!(written, 16 + 2 * ENTRY);
    let list = parse_list_reply(&out[..written]).unwrap();
    assert_eq!(
        (list.count(), list.total(), list.is_truncated()),
        (2, 5, true)
    );
    assert_eq!(list.iter().count(), 2);
}

#[test]
fn empty_list() {
    let mut out = [0u8; 16];
    let mut writer = ListWriter::new(&mut out).unwrap();
    assert!(!writer.push(&EndpointInfo::from(&sample_status(1))));
    let written = writer.finish();
    let list = parse_list_reply(&out[..written]).unwrap();
    assert_eq!((list.count(), list.total()), (0, 1));
    let mut out = [0u8; 16];
    let written = ListWriter::new(&mut out).unwrap().finish();
    assert_eq!(written, 16);
    assert_eq!(parse_list_reply(&out).unwrap().total(), 0);
}

#[test]
fn list_reply_rejections() {
    let mut out = vec![0u8; 16 + ENTRY];
    let mut writer = ListWriter::new(&mut out).unwrap();
    writer.push(&EndpointInfo::from(&sample_status(1)));
    let written = writer.finish();
    assert_eq!(written, out.len());

    let mut count_high = out.clone();
    put_u32(&mut count_high, 8, 2);
    assert_eq!(
        parse_list_reply(&count_high).err(),
        Some(ProtocolError::LengthMismatch)
    );
    let mut total_low = out.clone();
    put_u32(&mut total_low, 12, 0);
    assert_eq!(
        parse_list_reply(&total_low).err(),
        Some(ProtocolError::LengthMismatch)
    );
    let mut bad_state = out.clone();
    put_u32(&mut bad_state, 16 + 12, 99);
    assert_eq!(
        parse_list_reply(&bad_state).err(),
        Some(ProtocolError::InvalidParameter)
    );
    let mut bad_flags = out.clone();
    put_u32(&mut bad_flags, 16 + 20, 4);
    assert_eq!(
        parse_list_reply(&bad_flags).err(),
        Some(ProtocolError::InvalidParameter)
    );
    let mut bad_address = out.clone();
    out[16 + 24] = 5;
    bad_address[16 + 24] = 5;
    assert_eq!(
        parse_list_reply(&bad_address).err(),
        Some(ProtocolError::BadAddress)
    );
}
