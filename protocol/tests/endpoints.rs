//! The endpoint table's messages: CLOSE and LIST requests, the `EndpointReply` every request
//! that opens an endpoint returns, and LIST replies (entries with their activity fields,
//! truncation, malformed replies).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use wskrs_protocol::{
    encode_close, encode_list, list_output_len, parse_endpoint_reply, parse_list_reply,
    parse_request, write_endpoint, EndpointActivity, EndpointId, EndpointInfo, EndpointKind,
    EndpointState, EndpointStatus, IoctlCode, ListWriter, NtStatus, OpenedEndpoint, ProtocolError,
    Request, Service, KIND_TCP_CONNECTION, KIND_TCP_LISTENER,
};

mod common;

use common::{put_u32, v4};

#[test]
fn list_request_round_trips() {
    assert_eq!(
        parse_request(IoctlCode::LIST.0, &encode_list()),
        Ok(Request::List)
    );
}

#[test]
fn close_request_round_trips() {
    assert_eq!(
        parse_request(IoctlCode::CLOSE.0, &encode_close(EndpointId(u64::MAX))),
        Ok(Request::Close(EndpointId(u64::MAX)))
    );
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

/// Bytes of one LIST entry (`EndpointInfo`).
const ENTRY: usize = 152;

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
fn list_entry_field_rejections() {
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
    // An entry without its activity fields (112 bytes) does not parse.
    let mut short = out[..16 + 112].to_vec();
    put_u32(&mut short, 4, 128);
    assert_eq!(
        parse_list_reply(&short).err(),
        Some(ProtocolError::LengthMismatch)
    );
}
