//! Target `sddl`: the SDDL parser the driver runs on a caller's `TCP_LISTEN` / `UDP_BIND`
//! descriptor (`wsk::security::parse_sddl`).
//!
//! Input: the SDDL text (bytes that are not UTF-8 are skipped: the protocol rejects them
//! before SDDL parsing). Properties of an accepted string: the bytes built are a valid
//! self-relative descriptor (`SecurityDescriptor::from_bytes` takes them back whole); its
//! SDDL form parses to the same bytes; a buffer one byte too small is refused, not overrun.

use wsk::security::{parse_sddl, SecurityDescriptor};

use crate::Seed;

/// Room for a descriptor built from the longest SDDL the protocol carries (256 bytes).
const BUFFER: usize = 4096;

/// Runs one input (see the module docs).
///
/// # Panics
/// When a property fails.
pub fn check(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let mut buf = vec![0u8; BUFFER];
    let Ok(descriptor) = parse_sddl(text, &mut buf) else {
        return;
    };
    let bytes = descriptor.as_bytes().to_vec();
    assert!(bytes.len() <= BUFFER);
    let view = SecurityDescriptor::from_bytes(&bytes).expect("a built descriptor validates");
    assert_eq!(view.as_bytes(), &bytes[..], "validation keeps every byte");
    let formatted = descriptor.sddl().to_string();
    let mut again = vec![0u8; BUFFER];
    let reparsed = parse_sddl(&formatted, &mut again)
        .unwrap_or_else(|e| panic!("the SDDL form {formatted:?} of {text:?} parses: {e:?}"));
    assert_eq!(
        reparsed.as_bytes(),
        &bytes[..],
        "{text:?} -> {formatted:?} builds the same descriptor"
    );
    let mut small = vec![0u8; bytes.len() - 1];
    assert!(
        parse_sddl(text, &mut small).is_err(),
        "a buffer one byte short is refused"
    );
}

/// The SDDL forms the project and its users write, then edge cases.
#[must_use]
pub fn seeds() -> Vec<Seed> {
    [
        ("device", wskrs_protocol::DEVICE_SDDL),
        ("everyone_all", "D:(A;;GA;;;WD)"),
        ("protected_empty", "D:P"),
        ("owner_group", "O:BAG:SYD:(A;;GA;;;SY)"),
        ("deny_allow", "D:(D;;GA;;;AN)(A;OICI;GRGW;;;AU)"),
        ("sacl_audit", "S:(AU;SAFA;GA;;;WD)D:(A;;0x1f01ff;;;BA)"),
        (
            "numeric_sid",
            "O:S-1-5-21-1-2-3-500D:(A;;FA;;;S-1-5-32-544)",
        ),
        ("auto_inherit", "D:PAI(A;CIIO;GX;;;CO)"),
        ("hex_rights", "D:(A;;0xFFFFFFFF;;;LS)(A;;0x0;;;NS)"),
        ("bad_alias", "D:P(A;;GA;;;XX)"),
        ("unterminated", "D:(A;;GA;;;SY"),
        ("empty", ""),
    ]
    .into_iter()
    .map(|(name, text)| Seed::new(name, text.as_bytes()))
    .collect()
}
