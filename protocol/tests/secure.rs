//! The secure socket extensions on the wire: `FLAG_SECURE` and the settings of `TCP_CONNECT`,
//! `TCP_LISTEN` and `UDP_BIND`, the connection's peer target name, and
//! `SET_PEER_TARGET_NAME`, `DELETE_PEER_TARGET_NAME`, `QUERY_SECURITY`.

use wskrs_protocol::{
    encode_delete_peer_target_name, encode_query_security, encode_set_peer_target_name,
    encode_tcp_connect_options, encode_tcp_listen_with, encode_udp_bind_options, min_output_len,
    parse_query_security_reply, parse_request, write_query_security, ConnectOptions,
    DeletePeerTargetName, EndpointId, IoctlCode, ListenOptions, ProtocolError, QuerySecurity,
    Request, SecureProtocol, Service, SetPeerTargetName, SocketSecurity, UdpBindOptions,
    UdpService, FLAG_SECURE,
};

mod common;

use common::{put_u16, put_u32, v4, v6};

const ALLOW: SocketSecurity = SocketSecurity {
    protocol: SecureProtocol::Default,
    guarantee_encryption: false,
    allow_insecure: true,
};

fn connect(options: &ConnectOptions<'_>) -> Vec<u8> {
    encode_tcp_connect_options(v4(80), options)
        .unwrap()
        .to_vec()
}

#[test]
fn creation_requests_carry_their_settings() {
    for protocol in [
        SecureProtocol::Default,
        SecureProtocol::Ipsec,
        SecureProtocol::Ipsec2,
    ] {
        let security = SocketSecurity {
            protocol,
            guarantee_encryption: true,
            allow_insecure: false,
        };
        let bytes = connect(&ConnectOptions {
            security: Some(security),
            peer_target_name: Some("host/server.example"),
            ..ConnectOptions::default()
        });
        assert_eq!(bytes.len(), 208);
        assert_eq!(&bytes[72..80], [protocol.as_u32(), 1].as_flattened_le());
        let Ok(Request::TcpConnect(c)) = parse_request(IoctlCode::TCP_CONNECT.0, &bytes) else {
            panic!("{protocol:?}");
        };
        assert_eq!(c.security, Some(security));
        assert_eq!(c.peer_target_name, Some("host/server.example"));

        let options = ListenOptions {
            security: Some(security),
            ..ListenOptions::default()
        };
        let bytes = encode_tcp_listen_with(v6(1), Service::Echo, &options).unwrap();
        let Ok(Request::TcpListen(l)) = parse_request(IoctlCode::TCP_LISTEN.0, &bytes) else {
            panic!("{protocol:?}");
        };
        assert_eq!(l.security, Some(security));

        let options = UdpBindOptions {
            security: Some(ALLOW),
            ..UdpBindOptions::default()
        };
        let bytes = encode_udp_bind_options(v4(0), UdpService::None, &options).unwrap();
        let Ok(Request::UdpBind(u)) = parse_request(IoctlCode::UDP_BIND.0, &bytes) else {
            panic!("{protocol:?}");
        };
        assert_eq!(u.security, Some(ALLOW));
    }
}

/// `[a, b]` as the little-endian bytes of two u32s.
trait LeBytes {
    fn as_flattened_le(&self) -> Vec<u8>;
}

impl LeBytes for [u32; 2] {
    fn as_flattened_le(&self) -> Vec<u8> {
        self.iter().flat_map(|v| v.to_le_bytes()).collect()
    }
}

#[test]
fn bad_settings_are_refused() {
    let good = connect(&ConnectOptions {
        security: Some(ALLOW),
        ..ConnectOptions::default()
    });
    let invalid = |bytes: &[u8]| {
        assert_eq!(
            parse_request(IoctlCode::TCP_CONNECT.0, bytes),
            Err(ProtocolError::InvalidParameter)
        );
    };
    // A protocol past SOCKET_SECURITY_PROTOCOL_IPSEC2.
    for protocol in [3, 4, u32::MAX] {
        let mut bad = good.clone();
        put_u32(&mut bad, 72, protocol);
        invalid(&bad);
    }
    // An unknown settings bit.
    let mut bad = good.clone();
    put_u32(&mut bad, 76, 4);
    invalid(&bad);
    // Settings without FLAG_SECURE.
    let mut bad = good.clone();
    put_u32(&mut bad, 64, 0);
    invalid(&bad);
    // FLAG_SECURE with zero settings is the default protocol, clear text refused.
    let mut zero = good.clone();
    put_u32(&mut zero, 76, 0);
    let Ok(Request::TcpConnect(c)) = parse_request(IoctlCode::TCP_CONNECT.0, &zero) else {
        panic!("FLAG_SECURE with zero settings");
    };
    assert_eq!(
        c.security.map(|s| (s.protocol, s.allow_insecure)),
        Some((SecureProtocol::Default, false))
    );
    assert_eq!(FLAG_SECURE, 32);
}

#[test]
fn a_peer_target_name_is_at_most_127_bytes_and_needs_settings() {
    let name = "n".repeat(127);
    let bytes = connect(&ConnectOptions {
        security: Some(ALLOW),
        peer_target_name: Some(&name),
        ..ConnectOptions::default()
    });
    assert!(parse_request(IoctlCode::TCP_CONNECT.0, &bytes).is_ok());
    // 128 bytes: no NUL left in the field.
    let mut long = bytes.clone();
    long[80 + 127] = b'n';
    assert_eq!(
        parse_request(IoctlCode::TCP_CONNECT.0, &long),
        Err(ProtocolError::InvalidParameter)
    );
    // The encoder refuses what the parser would.
    let too_long = "n".repeat(128);
    for (security, name) in [
        (Some(ALLOW), too_long.as_str()),
        (Some(ALLOW), ""),
        (None, "x"),
    ] {
        let options = ConnectOptions {
            security,
            peer_target_name: Some(name),
            ..ConnectOptions::default()
        };
        assert_eq!(
            encode_tcp_connect_options(v4(80), &options),
            Err(ProtocolError::InvalidParameter),
            "{security:?} {name:?}"
        );
    }
    // A name without settings, written by hand.
    let mut bare = connect(&ConnectOptions::default());
    bare[80] = b'x';
    assert_eq!(
        parse_request(IoctlCode::TCP_CONNECT.0, &bare),
        Err(ProtocolError::InvalidParameter)
    );
}

#[test]
fn peer_target_name_requests_round_trip_and_are_checked() {
    let bytes =
        encode_set_peer_target_name(EndpointId(4), v6(53), SecureProtocol::Ipsec, "host/dns")
            .unwrap();
    assert_eq!(bytes.len(), 176);
    assert_eq!(
        parse_request(IoctlCode::SET_PEER_TARGET_NAME.0, &bytes),
        Ok(Request::SetPeerTargetName(SetPeerTargetName {
            id: EndpointId(4),
            peer: v6(53),
            protocol: SecureProtocol::Ipsec,
            name: "host/dns",
        }))
    );
    let code = IoctlCode::SET_PEER_TARGET_NAME.0;
    let mut bad_protocol = bytes;
    put_u32(&mut bad_protocol, 44, 3);
    assert_eq!(
        parse_request(code, &bad_protocol),
        Err(ProtocolError::InvalidParameter)
    );
    let mut empty = bytes;
    empty[48..].fill(0);
    assert_eq!(
        parse_request(code, &empty),
        Err(ProtocolError::InvalidParameter)
    );
    let mut full = bytes;
    full[48..].fill(b'a');
    assert_eq!(
        parse_request(code, &full),
        Err(ProtocolError::InvalidParameter)
    );
    let mut no_port = bytes;
    put_u16(&mut no_port, 18, 0);
    assert_eq!(
        parse_request(code, &no_port),
        Err(ProtocolError::BadAddress)
    );
    assert!(
        encode_set_peer_target_name(EndpointId(4), v4(1), SecureProtocol::Default, "a\0b").is_err()
    );

    let delete = encode_delete_peer_target_name(EndpointId(4), v4(53));
    assert_eq!(
        parse_request(IoctlCode::DELETE_PEER_TARGET_NAME.0, &delete),
        Ok(Request::DeletePeerTargetName(DeletePeerTargetName {
            id: EndpointId(4),
            peer: v4(53),
        }))
    );
    let mut reserved = delete;
    put_u32(&mut reserved, 44, 1);
    assert_eq!(
        parse_request(IoctlCode::DELETE_PEER_TARGET_NAME.0, &reserved),
        Err(ProtocolError::InvalidParameter)
    );
    let mut none = delete;
    none[16..44].fill(0);
    assert_eq!(
        parse_request(IoctlCode::DELETE_PEER_TARGET_NAME.0, &none),
        Err(ProtocolError::BadAddress)
    );
}

#[test]
fn query_security_round_trips_without_tokens() {
    let code = IoctlCode::QUERY_SECURITY.0;
    for peer in [None, Some(v4(9)), Some(v6(9))] {
        let bytes = encode_query_security(EndpointId(2), peer);
        assert_eq!(bytes.len(), 48);
        assert_eq!(
            parse_request(code, &bytes),
            Ok(Request::QuerySecurity(QuerySecurity {
                id: EndpointId(2),
                peer,
            }))
        );
    }
    let mut port0 = encode_query_security(EndpointId(2), Some(v4(9)));
    put_u16(&mut port0, 18, 0);
    assert_eq!(parse_request(code, &port0), Err(ProtocolError::BadAddress));
    let mut id0 = encode_query_security(EndpointId(2), None);
    id0[8..16].fill(0);
    assert_eq!(
        parse_request(code, &id0),
        Err(ProtocolError::InvalidParameter)
    );

    assert_eq!(min_output_len(code), Some(16));
    let mut out = [0xEEu8; 16];
    assert_eq!(write_query_security(&mut out, 1, 3), Ok(16));
    let query = parse_query_security_reply(&out).unwrap();
    assert_eq!(query.protocol, Ok(SecureProtocol::Ipsec));
    assert!(query.is_secured() && query.is_encrypted() && !query.is_impersonated());
    assert_eq!(write_query_security(&mut out, 9, 0), Ok(16));
    assert_eq!(parse_query_security_reply(&out).unwrap().protocol, Err(9));
    assert_eq!(
        write_query_security(&mut out[..15], 1, 0),
        Err(ProtocolError::BufferTooSmall)
    );
}
