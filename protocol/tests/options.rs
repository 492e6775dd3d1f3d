//! SOCKET_OPTION: gets of every option, sets of the settable ones with valid values only,
//! malformed requests, and the reply that carries the value.
//! Layout: id 8, option 16, set 20, value 24, reserved 28.

use wskrs_protocol::{
    encode_socket_option, parse_request, parse_socket_option_reply, write_socket_option,
    EndpointId, IoctlCode, OptionId, ProtocolError, Request, SocketOption,
};

mod common;

use common::{expect_all, put_u32, put_u64, Mutation};

#[test]
fn socket_option_gets_every_option() {
    for option in OptionId::ALL {
        assert_eq!(
            parse_request(
                IoctlCode::SOCKET_OPTION.0,
                &encode_socket_option(EndpointId(5), option, None)
            ),
            Ok(Request::SocketOption(SocketOption {
                id: EndpointId(5),
                option,
                set: None,
            })),
            "{option:?}"
        );
    }
}

#[test]
fn socket_option_sets_only_settable_options_with_valid_values() {
    let cases = [
        (OptionId::Keepalive, 0, true),
        (OptionId::Keepalive, 1, true),
        (OptionId::Keepalive, 2, false),
        (OptionId::NoDelay, 1, true),
        (OptionId::NoDelay, u32::MAX, false),
        (OptionId::RcvBuf, 0, true),
        (OptionId::RcvBuf, 65_536, true),
        (OptionId::RcvBuf, 0x7FFF_FFFF, true),
        (OptionId::RcvBuf, 0x8000_0000, false),
        (OptionId::SndBuf, 8192, true),
        (OptionId::SndBuf, u32::MAX, false),
        (OptionId::ReuseAddr, 1, false),
        (OptionId::ExclusiveAddrUse, 0, false),
        (OptionId::Ipv6V6Only, 1, false),
    ];
    for (option, value, ok) in cases {
        let bytes = encode_socket_option(EndpointId(5), option, Some(value));
        let parsed = parse_request(IoctlCode::SOCKET_OPTION.0, &bytes);
        let expected = if ok {
            Ok(Request::SocketOption(SocketOption {
                id: EndpointId(5),
                option,
                set: Some(value),
            }))
        } else {
            Err(ProtocolError::InvalidParameter)
        };
        assert_eq!(parsed, expected, "{option:?} = {value}");
    }
}

#[test]
fn socket_option_errors() {
    let base = encode_socket_option(EndpointId(5), OptionId::Keepalive, None);
    let invalid: Vec<Mutation> = vec![
        ("option 0", Box::new(|b| put_u32(b, 16, 0))),
        ("option 8", Box::new(|b| put_u32(b, 16, 8))),
        ("set 2", Box::new(|b| put_u32(b, 20, 2))),
        ("set max", Box::new(|b| put_u32(b, 20, u32::MAX))),
        ("get with a value", Box::new(|b| put_u32(b, 24, 1))),
        ("reserved", Box::new(|b| put_u32(b, 28, 1))),
        ("id 0", Box::new(|b| put_u64(b, 8, 0))),
    ];
    expect_all(
        IoctlCode::SOCKET_OPTION,
        &base,
        invalid,
        ProtocolError::InvalidParameter,
    );
}

#[test]
fn socket_option_reply_round_trips() {
    let mut out = [0u8; 16];
    assert_eq!(write_socket_option(&mut out, 65_536), Ok(16));
    assert_eq!(parse_socket_option_reply(&out), Ok(65_536));
    put_u32(&mut out, 12, 1);
    assert_eq!(
        parse_socket_option_reply(&out),
        Err(ProtocolError::InvalidParameter)
    );
}
