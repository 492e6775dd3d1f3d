//! RESOLVE: the request (name and service text, their length limits, malformed requests,
//! borrowed text) and the reply (addresses, truncation, malformed replies).
//! Layout: timeout 8, reserved 12, name 16..272, service 272..304.

use std::net::{Ipv6Addr, SocketAddr};

use wskrs_protocol::{
    encode_resolve, parse_request, parse_resolve_reply, resolve_output_len, IoctlCode,
    ProtocolError, Request, Resolve, ResolveWriter, DEFAULT_TIMEOUT_MS,
};

mod common;

use common::{expect_all, put_u32, v4, v6_scoped, Mutation};

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

#[test]
fn resolve_round_trip_and_truncation() {
    let addresses = [
        v4(80),
        v6_scoped(80),
        SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    ];
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
