//! INFO and STATS, what the driver reports about itself: requests (the header alone) and
//! replies (round trips, exact sizes).

use wskrs_protocol::{
    encode_info, encode_stats, parse_info_reply, parse_request, parse_stats_reply, write_info,
    write_stats, DriverInfo, IoctlCode, ProtocolError, Request, Stats, ABI_VERSION,
};

#[test]
fn info_request_is_the_header_alone() {
    assert_eq!(
        parse_request(IoctlCode::INFO.0, &encode_info()),
        Ok(Request::Info)
    );
    assert_eq!(encode_info(), [7, 0, 0, 0, 8, 0, 0, 0]);
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
fn stats_request_is_the_header_alone() {
    assert_eq!(
        parse_request(IoctlCode::STATS.0, &encode_stats()),
        Ok(Request::Stats)
    );
    assert_eq!(encode_stats(), [7, 0, 0, 0, 8, 0, 0, 0]);
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
        connections_refused: 1,
        max_endpoints: 4_096,
        max_connections_per_listener: 16_384,
        quota_endpoints: 64,
        quota_pended: 32,
        quota_locked_bytes: 16 << 20,
    };
    let mut out = [0u8; 96];
    assert_eq!(write_stats(&mut out, &stats), Ok(96));
    assert_eq!(parse_stats_reply(&out), Ok(stats));
    assert_eq!(&out[..8], &[7, 0, 0, 0, 96, 0, 0, 0]);
    // The documented offsets (docs/protocol.md): refused at 64, the limits from 72.
    assert_eq!(out[64], 1);
    assert_eq!(&out[72..76], &4_096u32.to_le_bytes());
    assert_eq!(&out[88..96], &(16u64 << 20).to_le_bytes());
    assert_eq!(
        parse_stats_reply(&out[..95]),
        Err(ProtocolError::LengthMismatch)
    );
}

#[test]
fn held_request_and_round_trip() {
    use wskrs_protocol::{encode_held, parse_held_reply, write_held, Held};
    assert_eq!(
        parse_request(IoctlCode::HELD.0, &encode_held()),
        Ok(Request::Held)
    );
    assert_eq!(encode_held(), [7, 0, 0, 0, 8, 0, 0, 0]);
    let held = Held {
        pool_allocations: 12,
        pool_bytes: 1 << 33,
        irps: 3,
        mdls: 2,
        sockets: 5,
        work_items: u64::MAX,
    };
    let mut out = [0u8; 64];
    assert_eq!(write_held(&mut out, &held), Ok(56));
    assert_eq!(&out[..8], &[7, 0, 0, 0, 56, 0, 0, 0]);
    assert_eq!(parse_held_reply(&out[..56]), Ok(held));
    assert!(parse_held_reply(&out[..55]).is_err());
    assert!(write_held(&mut out[..55], &held).is_err());
}

#[test]
fn device_security_request_and_reply() {
    use wskrs_protocol::{
        encode_device_security, min_output_len, parse_security_reply, write_security, DEVICE_SDDL,
    };
    assert_eq!(
        parse_request(IoctlCode::DEVICE_SECURITY.0, &encode_device_security()),
        Ok(Request::DeviceSecurity)
    );
    assert_eq!(encode_device_security(), [7, 0, 0, 0, 8, 0, 0, 0]);
    assert_eq!(
        parse_request(IoctlCode::DEVICE_SECURITY.0, &encode_device_security()[..7]),
        Err(ProtocolError::LengthMismatch)
    );
    // The reply is a SECURITY reply.
    assert_eq!(min_output_len(IoctlCode::DEVICE_SECURITY.0), Some(272));
    let mut out = [0u8; 272];
    assert_eq!(write_security(&mut out, DEVICE_SDDL), Ok(272));
    assert_eq!(parse_security_reply(&out), Ok(DEVICE_SDDL));
}
