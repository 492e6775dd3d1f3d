//! Target `sid`: security identifiers in binary (`Sid::decode`) and text (`S-1-...`,
//! `Sid::from_str`) form, and self-relative security descriptors (`SecurityDescriptor::
//! from_bytes`) as the driver reads them back.
//!
//! Input: a mode byte, then the bytes. Properties: a decoded SID re-encodes to exactly the
//! bytes it was read from, and its length is bounded by the input; a parsed SID formats to
//! text that parses back equal; a validated descriptor lies within the input, its parts
//! read back, and its SDDL form builds the same bytes.

use std::str::FromStr;

use wsk::security::{parse_sddl, SecurityDescriptor, Sid};

use crate::{Input, Seed};

/// Runs one input (see the module docs).
///
/// # Panics
/// When a property fails.
pub fn check(data: &[u8]) {
    let mut input = Input::new(data);
    let mode = input.u8() % 3;
    let bytes = input.rest();
    match mode {
        0 => binary(bytes),
        1 => text(bytes),
        _ => descriptor(bytes),
    }
}

fn binary(bytes: &[u8]) {
    let Ok((sid, used)) = Sid::decode(bytes) else {
        return;
    };
    assert!(used <= bytes.len());
    assert_eq!(used, sid.encoded_len());
    let mut out = vec![0u8; used];
    assert_eq!(sid.encode(&mut out), Some(used));
    assert_eq!(&out[..], &bytes[..used], "a SID has one binary form");
    assert_eq!(sid.encode(&mut out[..used - 1]), None, "no room, no write");
    let again = Sid::from_str(&sid.to_string()).expect("a SID's text parses");
    assert_eq!(again, sid);
}

fn text(bytes: &[u8]) {
    let Ok(text) = core::str::from_utf8(bytes) else {
        return;
    };
    let Ok(sid) = Sid::from_str(text) else {
        return;
    };
    let formatted = sid.to_string();
    assert_eq!(
        Sid::from_str(&formatted),
        Ok(sid),
        "{text:?} -> {formatted:?}"
    );
    assert!(formatted.len() <= text.len() || text.len() < 4 + formatted.len());
}

fn descriptor(bytes: &[u8]) {
    let Ok(descriptor) = SecurityDescriptor::from_bytes(bytes) else {
        return;
    };
    let kept = descriptor.as_bytes();
    assert!(kept.len() <= bytes.len() && kept == &bytes[..kept.len()]);
    let _ = (descriptor.owner(), descriptor.group(), descriptor.control());
    for acl in [descriptor.dacl(), descriptor.sacl()].into_iter().flatten() {
        let aces = acl.aces().count();
        assert_eq!(aces, acl.len(), "every ACE of a validated ACL reads");
    }
    let formatted = descriptor.sddl().to_string();
    let mut buf = vec![0u8; kept.len().max(64) * 4];
    let rebuilt = parse_sddl(&formatted, &mut buf).unwrap_or_else(|e| {
        panic!("the SDDL form {formatted:?} of a valid descriptor parses: {e:?}")
    });
    assert_eq!(
        rebuilt.sddl().to_string(),
        formatted,
        "{formatted:?} is a fixed point"
    );
}

/// Seeds of the three modes: SIDs and descriptors the project builds, then edge cases.
#[must_use]
pub fn seeds() -> Vec<Seed> {
    let mode = |mode: u8, bytes: &[u8]| {
        let mut input = vec![mode];
        input.extend_from_slice(bytes);
        input
    };
    let mut seeds = Vec::new();
    for (name, sid) in [
        ("system", Sid::LOCAL_SYSTEM),
        ("admins", Sid::BUILTIN_ADMINISTRATORS),
        (
            "domain_user",
            Sid::new(5, &[21, 1, 2, 3, 1001]).expect("a SID"),
        ),
        (
            "max_subs",
            Sid::new(0xFFFF_FFFF_FFFF, &[u32::MAX; 15]).expect("a SID"),
        ),
    ] {
        let mut out = vec![0u8; sid.encoded_len()];
        sid.encode(&mut out).expect("room");
        seeds.push(Seed::new(&format!("binary_{name}"), mode(0, &out)));
        seeds.push(Seed::new(
            &format!("text_{name}"),
            mode(1, sid.to_string().as_bytes()),
        ));
    }
    seeds.push(Seed::new(
        "text_hex_authority",
        mode(1, b"S-1-0x123456789ABC-1"),
    ));
    seeds.push(Seed::new(
        "binary_truncated",
        mode(0, &[1, 2, 0, 0, 0, 0, 0, 5, 32, 0]),
    ));
    for (name, sddl) in [
        ("device", wskrs_protocol::DEVICE_SDDL),
        (
            "owner_group_sacl",
            "O:BAG:SYS:(AU;FA;GA;;;WD)D:(A;;GA;;;SY)(D;;GW;;;AN)",
        ),
    ] {
        let mut buf = vec![0u8; 1024];
        let built = parse_sddl(sddl, &mut buf).expect("a valid SDDL");
        seeds.push(Seed::new(
            &format!("descriptor_{name}"),
            mode(2, built.as_bytes()),
        ));
    }
    seeds
}
