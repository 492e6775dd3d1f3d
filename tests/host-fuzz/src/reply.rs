//! Target `reply`: the client's decoding of the driver's replies (`parse_*_reply`).
//!
//! Input: a selector byte (which parser), then the reply bytes. Property of an accepted
//! reply: the driver's writer of that reply, given the parsed values, writes a reply of the
//! same length that parses to the same values (decode → encode → decode).

use wskrs_protocol::{
    parse_close_reply, parse_disconnect_reply, parse_endpoint_reply, parse_held_reply,
    parse_info_reply, parse_list_reply, parse_recv_from_reply, parse_resolve_reply,
    parse_security_reply, parse_serve_reply, parse_socket_option_reply, parse_stats_reply,
    write_close, write_disconnect, write_endpoint, write_held, write_info, write_recv_from_header,
    write_security, write_serve, write_socket_option, write_stats, EndpointInfo, EndpointKind,
    ListWriter, RecvFromReply, ResolveWriter,
};

use crate::{Input, Seed};

/// The reply parsers, by selector (the selector byte modulo their count).
const PARSERS: [&str; 15] = [
    "info",
    "endpoint",
    "close",
    "list",
    "recv_from",
    "disconnect",
    "serve",
    "socket_option",
    "security",
    "resolve",
    "stats",
    "held",
    "peer_target_name",
    "delete_peer_target_name",
    "query_security",
];

/// How many entries past `count` a re-encoded counted reply pushes to reproduce `total`.
const MAX_UNCOUNTED: u32 = 64;

/// Runs one input (see the module docs).
///
/// # Panics
/// When a property fails.
#[allow(clippy::too_many_lines)] // one arm per reply
pub fn check(data: &[u8]) {
    let mut input = Input::new(data);
    let selector = usize::from(input.u8()) % PARSERS.len();
    let bytes = input.rest();
    let mut out = vec![0u8; bytes.len()];
    match PARSERS[selector] {
        "info" => {
            let Ok(info) = parse_info_reply(bytes) else {
                return;
            };
            let len = write_info(
                &mut out,
                info.driver_version,
                info.wsk_version,
                info.endpoint_count,
            )
            .expect("the parsed INFO reply is written back");
            let again = parse_info_reply(&out[..len]).expect("the written INFO reply parses");
            assert_eq!(
                (
                    again.driver_version,
                    again.wsk_version,
                    again.endpoint_count
                ),
                (info.driver_version, info.wsk_version, info.endpoint_count)
            );
            assert_eq!(len, bytes.len());
        }
        "endpoint" => {
            let Ok(opened) = parse_endpoint_reply(bytes) else {
                return;
            };
            let kind: EndpointKind = opened.kind;
            let len = write_endpoint(
                &mut out,
                opened.id,
                kind.as_u32(),
                opened.local,
                opened.remote,
            )
            .expect("the parsed endpoint reply is written back");
            assert_eq!(parse_endpoint_reply(&out[..len]), Ok(opened));
            assert_eq!(
                &out[..len],
                bytes,
                "every byte of an endpoint reply is checked"
            );
        }
        "close" => fixed(bytes, &mut out, parse_close_reply, write_close),
        "disconnect" => fixed(bytes, &mut out, parse_disconnect_reply, write_disconnect),
        "serve" => fixed(bytes, &mut out, parse_serve_reply, write_serve),
        "peer_target_name" => fixed(
            bytes,
            &mut out,
            wskrs_protocol::parse_peer_target_name_reply,
            wskrs_protocol::write_peer_target_name,
        ),
        "delete_peer_target_name" => fixed(
            bytes,
            &mut out,
            wskrs_protocol::parse_delete_peer_target_name_reply,
            wskrs_protocol::write_delete_peer_target_name,
        ),
        "query_security" => {
            let Ok(query) = wskrs_protocol::parse_query_security_reply(bytes) else {
                return;
            };
            let protocol = query
                .protocol
                .map_or_else(|raw| raw, wskrs_protocol::SecureProtocol::as_u32);
            let len = wskrs_protocol::write_query_security(&mut out, protocol, query.flags)
                .expect("the parsed QUERY_SECURITY reply is written back");
            assert_eq!(
                &out[..len],
                bytes,
                "a QUERY_SECURITY reply has one encoding"
            );
        }
        "list" => list(bytes, &mut out),
        "recv_from" => {
            let Ok(received) = parse_recv_from_reply(bytes) else {
                return;
            };
            let length = u32::try_from(received.data.len()).expect("a datagram's length");
            out[size_of::<RecvFromReply>()..].copy_from_slice(received.data);
            let len = write_recv_from_header(&mut out, length, received.remote)
                .expect("the parsed RECV_FROM reply is written back");
            assert_eq!(parse_recv_from_reply(&out[..len]), Ok(received));
            assert_eq!(
                &out[..len],
                bytes,
                "every byte of a RECV_FROM reply is checked"
            );
        }
        "socket_option" => {
            let Ok(value) = parse_socket_option_reply(bytes) else {
                return;
            };
            let len = write_socket_option(&mut out, value).expect("written back");
            assert_eq!(parse_socket_option_reply(&out[..len]), Ok(value));
            assert_eq!(&out[..len], bytes);
        }
        "security" => {
            let Ok(sddl) = parse_security_reply(bytes) else {
                return;
            };
            assert!(sddl.len() <= wskrs_protocol::SDDL_LEN && !sddl.contains('\0'));
            let len = write_security(&mut out, sddl).expect("written back");
            assert_eq!(parse_security_reply(&out[..len]), Ok(sddl));
            assert_eq!(
                &out[..len],
                bytes,
                "every byte of a SECURITY reply is checked"
            );
        }
        "resolve" => resolve(bytes, &mut out),
        "stats" => {
            let Ok(stats) = parse_stats_reply(bytes) else {
                return;
            };
            let len = write_stats(&mut out, &stats).expect("written back");
            assert_eq!(parse_stats_reply(&out[..len]), Ok(stats));
            assert_eq!(len, bytes.len());
        }
        _ => {
            let Ok(held) = parse_held_reply(bytes) else {
                return;
            };
            let len = write_held(&mut out, &held).expect("written back");
            assert_eq!(parse_held_reply(&out[..len]), Ok(held));
            assert_eq!(len, bytes.len());
        }
    }
}

type Parse = fn(&[u8]) -> Result<(), wskrs_protocol::ProtocolError>;
type Write = fn(&mut [u8]) -> Result<usize, wskrs_protocol::ProtocolError>;

/// A reply that is only its header: accepted means exactly what the writer writes.
fn fixed(bytes: &[u8], out: &mut [u8], parse: Parse, write: Write) {
    if parse(bytes).is_err() {
        return;
    }
    let len = write(out).expect("a header-only reply is written back");
    assert_eq!(&out[..len], bytes, "a header-only reply has one encoding");
}

fn list(bytes: &[u8], out: &mut [u8]) {
    let Ok(list) = parse_list_reply(bytes) else {
        return;
    };
    let entries: Vec<_> = list.iter_with_activity().collect();
    assert_eq!(
        entries.len(),
        list.count() as usize,
        "every counted entry is valid and listed"
    );
    assert!(list.count() <= list.total());
    let mut writer = ListWriter::new(out).expect("room for the header");
    for (status, activity) in &entries {
        assert!(writer.push(&EndpointInfo::from((status, activity))));
    }
    let uncounted = list.total() - list.count();
    if uncounted <= MAX_UNCOUNTED {
        if let Some((status, activity)) = entries.first() {
            for _ in 0..uncounted {
                assert!(!writer.push(&EndpointInfo::from((status, activity))));
            }
        }
    }
    let len = writer.finish();
    let again = parse_list_reply(&out[..len]).expect("the written LIST reply parses");
    assert_eq!(again.iter_with_activity().collect::<Vec<_>>(), entries);
    assert_eq!(len, bytes.len());
    if uncounted <= MAX_UNCOUNTED && !entries.is_empty() {
        assert_eq!((again.count(), again.total()), (list.count(), list.total()));
    }
}

fn resolve(bytes: &[u8], out: &mut [u8]) {
    let Ok(addresses) = parse_resolve_reply(bytes) else {
        return;
    };
    let all: Vec<_> = addresses.iter().collect();
    assert_eq!(
        all.len(),
        addresses.count() as usize,
        "every counted address is valid"
    );
    let mut writer = ResolveWriter::new(out).expect("room for the header");
    for address in &all {
        assert!(writer.push(*address));
    }
    let len = writer.finish();
    let again = parse_resolve_reply(&out[..len]).expect("the written RESOLVE reply parses");
    assert_eq!(again.iter().collect::<Vec<_>>(), all);
    assert_eq!(len, bytes.len());
}

/// A seed: the parser's selector and the reply bytes.
fn seed(name: &str, parser: &str, reply: &[u8]) -> Seed {
    let selector = PARSERS
        .iter()
        .position(|p| *p == parser)
        .expect("a parser name");
    let mut bytes = vec![u8::try_from(selector).expect("a small selector")];
    bytes.extend_from_slice(reply);
    Seed::new(name, bytes)
}

/// Every reply as the driver writes it, then edge cases.
#[must_use]
pub fn seeds() -> Vec<Seed> {
    written_replies()
        .into_iter()
        .map(|(name, parser, reply)| seed(&name, parser, &reply))
        .collect()
}

/// (name, parser, reply bytes) of replies written by the driver's writers: the client target
/// reuses them as the hostile driver's answers.
#[allow(clippy::too_many_lines)] // one list
pub(crate) fn written_replies() -> Vec<(String, &'static str, Vec<u8>)> {
    use wskrs_protocol::{EndpointId, EndpointStatus, Held, Service, Stats};
    let v4 = "127.0.0.1:9000".parse().expect("address");
    let v6 = "[fe80::1%3]:443".parse().expect("address");
    let id = EndpointId(0x0002_0000_0005);
    let mut replies = Vec::new();
    let mut out = vec![0u8; 4096];
    let mut put = |name: &str, parser: &'static str, len: usize, out: &[u8]| {
        replies.push((name.to_owned(), parser, out[..len].to_vec()));
    };
    let len = write_info(&mut out, (0, 1, 0), 0x0100, 3).expect("written");
    put("info", "info", len, &out);
    let len = write_endpoint(
        &mut out,
        id,
        wskrs_protocol::KIND_TCP_CONNECTION,
        Some(v4),
        Some(v6),
    )
    .expect("written");
    put("endpoint_v4_v6", "endpoint", len, &out);
    let len =
        write_endpoint(&mut out, id, wskrs_protocol::KIND_UDP, Some(v6), None).expect("written");
    put("endpoint_udp", "endpoint", len, &out);
    let len = write_close(&mut out).expect("written");
    put("close", "close", len, &out);
    let len = write_disconnect(&mut out).expect("written");
    put("disconnect", "disconnect", len, &out);
    let len = write_serve(&mut out).expect("written");
    put("serve", "serve", len, &out);
    let status = EndpointStatus {
        id,
        kind: EndpointKind::TcpListener,
        state: wskrs_protocol::EndpointState::Listening,
        service: Service::Echo,
        detached: true,
        owned_by_caller: true,
        local: Some(v4),
        remote: None,
        bytes_sent: 1,
        bytes_received: u64::MAX,
        connections_served: 7,
        connections_active: 2,
    };
    let activity = wskrs_protocol::EndpointActivity {
        opened_ms: 10,
        send_ops: 2,
        recv_ops: 3,
        errors: 1,
        last_status: Some(wskrs_protocol::NtStatus::from_u32(0xC000_0120)),
    };
    let mut writer = ListWriter::new(&mut out[..16 + 2 * size_of::<EndpointInfo>()]).expect("room");
    writer.push(&EndpointInfo::from((&status, &activity)));
    writer.push(&EndpointInfo::from(&status));
    writer.push(&EndpointInfo::from(&status));
    let len = writer.finish();
    put("list_two_of_three", "list", len, &out);
    let len = ListWriter::new(&mut out).expect("room").finish();
    put("list_empty", "list", len, &out);
    out[size_of::<RecvFromReply>()..size_of::<RecvFromReply>() + 4].copy_from_slice(b"ping");
    let len = write_recv_from_header(&mut out, 4, Some(v6)).expect("written");
    put("recv_from_v6", "recv_from", len, &out);
    let len = write_recv_from_header(&mut out, 0, None).expect("written");
    put("recv_from_empty", "recv_from", len, &out);
    let len = write_socket_option(&mut out, 65536).expect("written");
    put("socket_option", "socket_option", len, &out);
    let len = write_security(&mut out, "D:P(A;;GA;;;SY)(A;;GA;;;BA)").expect("written");
    put("security", "security", len, &out);
    let len = write_security(&mut out, "").expect("written");
    put("security_none", "security", len, &out);
    let mut writer = ResolveWriter::new(&mut out[..16 + 2 * 28]).expect("room");
    writer.push(v4);
    writer.push(v6);
    writer.push(v4);
    let len = writer.finish();
    put("resolve_two_of_three", "resolve", len, &out);
    let counters = Stats {
        endpoints_opened: 5,
        bytes_sent: 1 << 40,
        ..Stats::default()
    };
    let len = write_stats(&mut out, &counters).expect("written");
    put("stats", "stats", len, &out);
    let held = Held {
        pool_allocations: 3,
        ..Held::default()
    };
    let len = write_held(&mut out, &held).expect("written");
    put("held", "held", len, &out);
    let len = wskrs_protocol::write_peer_target_name(&mut out).expect("written");
    put("peer_target_name", "peer_target_name", len, &out);
    let len = wskrs_protocol::write_delete_peer_target_name(&mut out).expect("written");
    put(
        "delete_peer_target_name",
        "delete_peer_target_name",
        len,
        &out,
    );
    let len = wskrs_protocol::write_query_security(&mut out, 1, 0).expect("written");
    put("query_security", "query_security", len, &out);
    replies
}
