//! Property tests: the driver-side parser and the client-side reply parsers accept any
//! bytes without panicking, and what they accept is consistent.

use proptest::prelude::*;
use wskrs_protocol::{
    parse_endpoint_reply, parse_info_reply, parse_list_reply, parse_recv_reply, parse_request,
    parse_send_reply, IoctlCode, ProtocolError, Request,
};

fn any_code() -> impl Strategy<Value = u32> {
    prop_oneof![
        any::<u32>(),
        prop::sample::select(IoctlCode::ALL.iter().map(|code| code.0).collect::<Vec<_>>()),
    ]
}

/// Arbitrary bytes, often starting with a plausible header (version 1, size = length).
fn any_input() -> impl Strategy<Value = Vec<u8>> {
    (prop::collection::vec(any::<u8>(), 0..400), any::<bool>()).prop_map(
        |(mut bytes, fix_header)| {
            if fix_header && bytes.len() >= 8 {
                bytes[..4].copy_from_slice(&1u32.to_le_bytes());
                let len = u32::try_from(bytes.len()).unwrap();
                bytes[4..8].copy_from_slice(&len.to_le_bytes());
            }
            bytes
        },
    )
}

proptest! {
    #[test]
    fn parse_request_never_panics(code in any_code(), input in any_input()) {
        match parse_request(code, &input) {
            Ok(request) => {
                // Whatever was accepted came with a consistent header.
                prop_assert!(IoctlCode(code).name().is_some());
                prop_assert_eq!(&input[..4], &1u32.to_le_bytes());
                if let Request::Send(send) = request {
                    prop_assert_eq!(send.data.len() + 24, input.len());
                }
            }
            Err(ProtocolError::UnknownCode) => prop_assert!(IoctlCode(code).name().is_none()),
            Err(_) => {}
        }
    }

    #[test]
    fn reply_parsers_never_panic(input in any_input()) {
        let _ = parse_info_reply(&input);
        let _ = parse_endpoint_reply(&input);
        let _ = parse_send_reply(&input);
        if let Ok(received) = parse_recv_reply(&input) {
            prop_assert_eq!(received.data.len() + 16, input.len());
        }
        if let Ok(list) = parse_list_reply(&input) {
            prop_assert_eq!(list.iter().count(), list.count() as usize);
        }
    }
}
