//! SECURITY: the request (an endpoint id) and the reply that carries an endpoint's security
//! descriptor as SDDL text (round trips, the writer's limits, malformed replies).

use std::fmt;

use wskrs_protocol::{
    encode_security, parse_request, parse_security_reply, write_security, write_security_fmt,
    EndpointId, IoctlCode, ProtocolError, Request, SDDL_LEN,
};

mod common;

use common::put_u32;

#[test]
fn security_request_round_trips() {
    assert_eq!(
        parse_request(IoctlCode::SECURITY.0, &encode_security(EndpointId(9))),
        Ok(Request::Security(EndpointId(9)))
    );
    assert_eq!(
        parse_request(IoctlCode::SECURITY.0, &encode_security(EndpointId(0))),
        Err(ProtocolError::InvalidParameter)
    );
}

/// A named corruption of a valid reply and the error it must cause.
type Corruption = (&'static str, Box<dyn Fn(&mut [u8])>, ProtocolError);

#[test]
fn security_reply_round_trips() {
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
