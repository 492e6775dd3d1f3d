//! Security identifiers ([`Sid`]): the binary layout and the `S-1-...` string form.
//!
//! Layout: [MS-DTYP] 2.4.2.2 "SID--Packet Representation"
//! (<https://learn.microsoft.com/openspecs/windows_protocols/ms-dtyp/f992ad60-0fe4-4b87-9fed-beb478836861>):
//! `Revision` (1 byte, 1), `SubAuthorityCount` (1 byte, at most 15), `IdentifierAuthority`
//! (6 bytes, most significant first), then `SubAuthorityCount` little-endian ULONGs.
//! String form: [MS-DTYP] 2.4.2.1 "SID String Format Syntax"
//! (<https://learn.microsoft.com/openspecs/windows_protocols/ms-dtyp/c92a27b1-c772-4fa7-a432-15df5f1b66a1>):
//! `"S-1-" IdentifierAuthority 1*("-" SubAuthority)`, the authority in decimal below 2^32 and
//! as `0x` + 12 hex digits from 2^32, no leading zeros in decimal numbers.

use core::fmt;
use core::mem::size_of;
use core::str::FromStr;

use wsk_bindings as sys;

/// Size of the fixed part of a SID (revision, count, authority).
const SID_HEADER: usize = core::mem::offset_of!(sys::SID, SubAuthority);
/// Largest identifier authority (48 bits).
const MAX_AUTHORITY: u64 = (1 << 48) - 1;
/// The number of sub-authorities a SID can hold.
const MAX_SUBS: usize = sys::SID_MAX_SUB_AUTHORITIES as usize;

/// A security identifier: revision 1, a 48-bit identifier authority and 1 to 15
/// sub-authorities.
///
/// `Display` writes the `S-1-...` form; `FromStr` parses it (strictly: no leading zeros, no
/// spaces, hex authority only from 2^32).
///
/// # Invariants
/// `authority < 2^48`, `1 <= count <= 15`, and the sub-authorities past `count` are zero (so
/// that the derived equality compares SIDs).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sid {
    authority: u64,
    count: u8,
    subs: [u32; MAX_SUBS],
}

/// Why a SID could not be made, parsed or decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SidError {
    /// No sub-authority, or more than 15.
    SubAuthorityCount,
    /// The identifier authority does not fit in 48 bits.
    AuthorityTooLarge,
    /// The string does not start with `S-1-`.
    Prefix,
    /// A number is missing where one is expected.
    MissingNumber,
    /// A decimal number has a leading zero.
    LeadingZero,
    /// A number does not fit (sub-authorities are 32-bit, decimal authorities below 2^32).
    NumberTooLarge,
    /// A hexadecimal authority is not `0x` and exactly 12 hex digits, or is below 2^32.
    HexAuthority,
    /// A character that cannot continue the SID.
    UnexpectedChar,
    /// Binary: the revision is not 1.
    Revision,
    /// Binary: the bytes end before the SID does.
    Truncated,
}

impl fmt::Display for SidError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::SubAuthorityCount => "a SID has 1 to 15 sub-authorities",
            Self::AuthorityTooLarge => "the identifier authority does not fit in 48 bits",
            Self::Prefix => "a SID string starts with \"S-1-\"",
            Self::MissingNumber => "a number is expected",
            Self::LeadingZero => "decimal numbers have no leading zero",
            Self::NumberTooLarge => "the number is too large",
            Self::HexAuthority => "a hex authority is \"0x\" and 12 hex digits, at least 2^32",
            Self::UnexpectedChar => "unexpected character",
            Self::Revision => "the SID revision is not 1",
            Self::Truncated => "the SID is truncated",
        })
    }
}

impl Sid {
    /// Everyone (World), `S-1-1-0`; SDDL `WD`.
    pub const EVERYONE: Self = Self::known(1, 1, 0, 0);
    /// Creator Owner, `S-1-3-0`; SDDL `CO`.
    pub const CREATOR_OWNER: Self = Self::known(3, 1, 0, 0);
    /// Creator Group, `S-1-3-1`; SDDL `CG`.
    pub const CREATOR_GROUP: Self = Self::known(3, 1, 1, 0);
    /// Network logon users, `S-1-5-2`; SDDL `NU`.
    pub const NETWORK: Self = Self::known(5, 1, 2, 0);
    /// Interactively logged-on users, `S-1-5-4`; SDDL `IU`.
    pub const INTERACTIVE: Self = Self::known(5, 1, 4, 0);
    /// Service logon users, `S-1-5-6`; SDDL `SU`.
    pub const SERVICE: Self = Self::known(5, 1, 6, 0);
    /// Anonymous logon, `S-1-5-7`; SDDL `AN`.
    pub const ANONYMOUS: Self = Self::known(5, 1, 7, 0);
    /// Enterprise domain controllers, `S-1-5-9`; SDDL `ED`.
    pub const ENTERPRISE_CONTROLLERS: Self = Self::known(5, 1, 9, 0);
    /// Principal self, `S-1-5-10`; SDDL `PS`.
    pub const PRINCIPAL_SELF: Self = Self::known(5, 1, 10, 0);
    /// Authenticated Users, `S-1-5-11`; SDDL `AU`.
    pub const AUTHENTICATED_USERS: Self = Self::known(5, 1, 11, 0);
    /// Restricted code, `S-1-5-12`; SDDL `RC`.
    pub const RESTRICTED_CODE: Self = Self::known(5, 1, 12, 0);
    /// Local System, `S-1-5-18`; SDDL `SY`.
    pub const LOCAL_SYSTEM: Self = Self::known(5, 1, 18, 0);
    /// Local Service, `S-1-5-19`; SDDL `LS`.
    pub const LOCAL_SERVICE: Self = Self::known(5, 1, 19, 0);
    /// Network Service, `S-1-5-20`; SDDL `NS`.
    pub const NETWORK_SERVICE: Self = Self::known(5, 1, 20, 0);
    /// Builtin Administrators, `S-1-5-32-544`; SDDL `BA`.
    pub const BUILTIN_ADMINISTRATORS: Self = Self::known(5, 2, 32, 544);
    /// Builtin Users, `S-1-5-32-545`; SDDL `BU`.
    pub const BUILTIN_USERS: Self = Self::known(5, 2, 32, 545);
    /// Builtin Guests, `S-1-5-32-546`; SDDL `BG`.
    pub const BUILTIN_GUESTS: Self = Self::known(5, 2, 32, 546);
    /// Power Users, `S-1-5-32-547`; SDDL `PU`.
    pub const POWER_USERS: Self = Self::known(5, 2, 32, 547);
    /// Account Operators, `S-1-5-32-548`; SDDL `AO`.
    pub const ACCOUNT_OPERATORS: Self = Self::known(5, 2, 32, 548);
    /// Server Operators, `S-1-5-32-549`; SDDL `SO`.
    pub const SERVER_OPERATORS: Self = Self::known(5, 2, 32, 549);
    /// Print Operators, `S-1-5-32-550`; SDDL `PO`.
    pub const PRINT_OPERATORS: Self = Self::known(5, 2, 32, 550);
    /// Backup Operators, `S-1-5-32-551`; SDDL `BO`.
    pub const BACKUP_OPERATORS: Self = Self::known(5, 2, 32, 551);
    /// Replicator, `S-1-5-32-552`; SDDL `RE`.
    pub const REPLICATOR: Self = Self::known(5, 2, 32, 552);
    /// Pre-Windows 2000 compatible access, `S-1-5-32-554`; SDDL `RU`.
    pub const PRE_WINDOWS_2000_ACCESS: Self = Self::known(5, 2, 32, 554);
    /// Remote Desktop Users, `S-1-5-32-555`; SDDL `RD`.
    pub const REMOTE_DESKTOP_USERS: Self = Self::known(5, 2, 32, 555);
    /// Network Configuration Operators, `S-1-5-32-556`; SDDL `NO`.
    pub const NETWORK_CONFIGURATION_OPERATORS: Self = Self::known(5, 2, 32, 556);
    /// All application packages, `S-1-15-2-1`; SDDL `AC`.
    pub const ALL_APP_PACKAGES: Self = Self::known(15, 2, 2, 1);

    /// A well-known SID with one or two sub-authorities (compile-time constants only).
    const fn known(authority: u64, count: u8, first: u32, second: u32) -> Self {
        Self {
            authority,
            count,
            subs: [first, second, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        }
    }

    /// A SID from its identifier authority and sub-authorities. IRQL: any.
    ///
    /// # Errors
    /// [`SidError::AuthorityTooLarge`] past 48 bits; [`SidError::SubAuthorityCount`] for no
    /// sub-authority or more than 15.
    ///
    /// # Examples
    /// ```
    /// use wsk::security::Sid;
    /// assert_eq!(Sid::new(5, &[32, 544]), Ok(Sid::BUILTIN_ADMINISTRATORS));
    /// ```
    pub fn new(authority: u64, sub_authorities: &[u32]) -> Result<Self, SidError> {
        if authority > MAX_AUTHORITY {
            return Err(SidError::AuthorityTooLarge);
        }
        if sub_authorities.is_empty() || sub_authorities.len() > MAX_SUBS {
            return Err(SidError::SubAuthorityCount);
        }
        let mut subs = [0u32; MAX_SUBS];
        for (dst, src) in subs.iter_mut().zip(sub_authorities) {
            *dst = *src;
        }
        let count = u8::try_from(sub_authorities.len()).map_err(|_| SidError::SubAuthorityCount)?;
        // INVARIANT: checked above; the unused sub-authorities stay zero.
        Ok(Self {
            authority,
            count,
            subs,
        })
    }

    /// The 48-bit identifier authority (5 for `NT AUTHORITY`). IRQL: any.
    #[must_use]
    pub const fn authority(&self) -> u64 {
        self.authority
    }

    /// The sub-authorities (1 to 15). IRQL: any.
    #[must_use]
    pub fn sub_authorities(&self) -> &[u32] {
        self.subs.get(..usize::from(self.count)).unwrap_or(&[])
    }

    /// The size of the binary form: 8 + 4 per sub-authority. IRQL: any.
    #[must_use]
    pub const fn encoded_len(&self) -> usize {
        // At most 8 + 4 * 15: no overflow.
        SID_HEADER.saturating_add(size_of::<u32>().saturating_mul(self.count as usize))
    }

    /// Writes the binary form into `out`; returns the bytes written, or `None` when `out` is
    /// shorter than [`Sid::encoded_len`]. IRQL: any.
    pub fn encode(&self, out: &mut [u8]) -> Option<usize> {
        let len = self.encoded_len();
        let out = out.get_mut(..len)?;
        let (header, rest) = out.split_at_mut(SID_HEADER);
        let authority = self.authority.to_be_bytes();
        header.copy_from_slice(&[
            sys::SID_REVISION,
            self.count,
            authority[2],
            authority[3],
            authority[4],
            authority[5],
            authority[6],
            authority[7],
        ]);
        for (chunk, sub) in rest
            .chunks_exact_mut(size_of::<u32>())
            .zip(self.sub_authorities())
        {
            chunk.copy_from_slice(&sub.to_le_bytes());
        }
        Some(len)
    }

    /// Reads a binary SID at the start of `bytes`; returns it and its length. IRQL: any.
    ///
    /// # Errors
    /// [`SidError::Truncated`], [`SidError::Revision`] or [`SidError::SubAuthorityCount`].
    pub fn decode(bytes: &[u8]) -> Result<(Self, usize), SidError> {
        let header = bytes.get(..SID_HEADER).ok_or(SidError::Truncated)?;
        let (&[revision, count], authority) = header.split_at(2) else {
            return Err(SidError::Truncated);
        };
        if revision != sys::SID_REVISION {
            return Err(SidError::Revision);
        }
        let mut wide = [0u8; 8];
        if let Some(dst) = wide.get_mut(2..) {
            dst.copy_from_slice(authority);
        }
        let authority = u64::from_be_bytes(wide);
        let n = usize::from(count);
        if n == 0 || n > MAX_SUBS {
            return Err(SidError::SubAuthorityCount);
        }
        let mut subs = [0u32; MAX_SUBS];
        let end = SID_HEADER.saturating_add(size_of::<u32>().saturating_mul(n));
        let body = bytes.get(SID_HEADER..end).ok_or(SidError::Truncated)?;
        for (dst, chunk) in subs.iter_mut().zip(body.chunks_exact(size_of::<u32>())) {
            let mut le = [0u8; 4];
            le.copy_from_slice(chunk);
            *dst = u32::from_le_bytes(le);
        }
        // INVARIANT: 6 bytes make < 2^48; 1 <= count <= 15; unused sub-authorities are zero.
        Ok((
            Self {
                authority,
                count,
                subs,
            },
            end,
        ))
    }

    /// Parses a SID string starting at `start` in `s` and returns it with the index just past
    /// it; the SID ends at the first byte that cannot continue it. On error, the index of the
    /// offending byte.
    pub(crate) fn parse_at(s: &[u8], start: usize) -> Result<(Self, usize), (usize, SidError)> {
        let mut pos = start;
        let prefix = b"S-1-";
        for expected in prefix {
            match s.get(pos) {
                Some(c) if c == expected => pos = pos.saturating_add(1),
                _ => return Err((pos, SidError::Prefix)),
            }
        }
        let authority = if s.get(pos..pos.saturating_add(2)) == Some(b"0x".as_slice()) {
            let digits_at = pos.saturating_add(2);
            let digits = s
                .get(digits_at..digits_at.saturating_add(12))
                .ok_or((digits_at, SidError::HexAuthority))?;
            let mut value: u64 = 0;
            for (i, c) in digits.iter().enumerate() {
                let d =
                    hex_digit(*c).ok_or((digits_at.saturating_add(i), SidError::HexAuthority))?;
                value = (value << 4) | u64::from(d);
            }
            if u32::try_from(value).is_ok() {
                return Err((pos, SidError::HexAuthority));
            }
            pos = digits_at.saturating_add(12);
            value
        } else {
            let (value, end) = decimal(s, pos)?;
            pos = end;
            u64::from(value)
        };
        let mut subs = [0u32; MAX_SUBS];
        let mut count = 0usize;
        while s.get(pos) == Some(&b'-') {
            let at = pos.saturating_add(1);
            let (value, end) = decimal(s, at)?;
            let slot = subs
                .get_mut(count)
                .ok_or((pos, SidError::SubAuthorityCount))?;
            *slot = value;
            count = count.saturating_add(1);
            pos = end;
        }
        if count == 0 {
            return Err((pos, SidError::SubAuthorityCount));
        }
        let count = u8::try_from(count).map_err(|_| (pos, SidError::SubAuthorityCount))?;
        // INVARIANT: the authority is at most 12 hex digits (< 2^48) or a u32; 1 <= count <= 15.
        Ok((
            Self {
                authority,
                count,
                subs,
            },
            pos,
        ))
    }
}

/// A decimal number of 1 to 10 digits without leading zero that fits in a u32, at `start`.
fn decimal(s: &[u8], start: usize) -> Result<(u32, usize), (usize, SidError)> {
    let mut pos = start;
    let mut value: u32 = 0;
    while let Some(c) = s.get(pos).filter(|c| c.is_ascii_digit()) {
        if pos > start && value == 0 {
            return Err((start, SidError::LeadingZero));
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u32::from(c.wrapping_sub(b'0'))))
            .ok_or((start, SidError::NumberTooLarge))?;
        pos = pos.saturating_add(1);
    }
    if pos == start {
        return Err((start, SidError::MissingNumber));
    }
    Ok((value, pos))
}

/// The value of an ASCII hex digit.
pub(crate) fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c.wrapping_sub(b'0')),
        b'a'..=b'f' => Some(c.wrapping_sub(b'a').wrapping_add(10)),
        b'A'..=b'F' => Some(c.wrapping_sub(b'A').wrapping_add(10)),
        _ => None,
    }
}

impl FromStr for Sid {
    type Err = SidError;

    /// Parses the whole string as `S-1-...`. IRQL: any.
    fn from_str(s: &str) -> Result<Self, SidError> {
        let bytes = s.as_bytes();
        let (sid, end) = Self::parse_at(bytes, 0).map_err(|(_, e)| e)?;
        if end != bytes.len() {
            return Err(SidError::UnexpectedChar);
        }
        Ok(sid)
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.authority > u64::from(u32::MAX) {
            write!(f, "S-1-0x{:012X}", self.authority)?;
        } else {
            write!(f, "S-1-{}", self.authority)?;
        }
        for sub in self.sub_authorities() {
            write!(f, "-{sub}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::string::ToString;
    use std::vec::Vec;

    use proptest::prelude::*;

    use super::*;

    /// The binary form built by hand from [MS-DTYP] 2.4.2.2, independently of `encode`.
    fn expected_bytes(authority: u64, subs: &[u32]) -> Vec<u8> {
        let mut v = std::vec![1u8, u8::try_from(subs.len()).unwrap()];
        v.extend_from_slice(&authority.to_be_bytes()[2..]);
        for s in subs {
            v.extend_from_slice(&s.to_le_bytes());
        }
        v
    }

    #[test]
    fn well_known_strings_and_bytes() {
        let cases: &[(Sid, &str, u64, &[u32])] = &[
            (Sid::EVERYONE, "S-1-1-0", 1, &[0]),
            (Sid::CREATOR_OWNER, "S-1-3-0", 3, &[0]),
            (Sid::CREATOR_GROUP, "S-1-3-1", 3, &[1]),
            (Sid::LOCAL_SYSTEM, "S-1-5-18", 5, &[18]),
            (Sid::LOCAL_SERVICE, "S-1-5-19", 5, &[19]),
            (Sid::NETWORK_SERVICE, "S-1-5-20", 5, &[20]),
            (Sid::AUTHENTICATED_USERS, "S-1-5-11", 5, &[11]),
            (Sid::BUILTIN_ADMINISTRATORS, "S-1-5-32-544", 5, &[32, 544]),
            (Sid::BUILTIN_USERS, "S-1-5-32-545", 5, &[32, 545]),
            (Sid::ALL_APP_PACKAGES, "S-1-15-2-1", 15, &[2, 1]),
        ];
        for (sid, text, authority, subs) in cases {
            assert_eq!(sid.to_string(), *text);
            assert_eq!(text.parse::<Sid>(), Ok(*sid));
            assert_eq!(Sid::new(*authority, subs), Ok(*sid));
            let mut out = [0u8; 68];
            let n = sid.encode(&mut out).unwrap();
            assert_eq!(
                &out[..n],
                expected_bytes(*authority, subs).as_slice(),
                "{text}"
            );
            assert_eq!(Sid::decode(&out[..n]), Ok((*sid, n)));
        }
        // [MS-DTYP] 2.5.1.4 shows BA as 01 02 00 00 00 00 00 05 20 00 00 00 20 02 00 00.
        let mut out = [0u8; 16];
        Sid::BUILTIN_ADMINISTRATORS.encode(&mut out).unwrap();
        assert_eq!(out, [1, 2, 0, 0, 0, 0, 0, 5, 0x20, 0, 0, 0, 0x20, 2, 0, 0]);
    }

    #[test]
    fn hex_authority() {
        let sid: Sid = "S-1-0x123456789ABC-7".parse().unwrap();
        assert_eq!(sid.authority(), 0x1234_5678_9ABC);
        assert_eq!(sid.to_string(), "S-1-0x123456789ABC-7");
        assert_eq!(Sid::new(1 << 48, &[1]), Err(SidError::AuthorityTooLarge));
        assert_eq!(
            "S-1-4294967295-1".parse::<Sid>().map(|s| s.authority()),
            Ok(u64::from(u32::MAX))
        );
    }

    #[test]
    fn rejections() {
        let cases: &[(&str, SidError)] = &[
            ("", SidError::Prefix),
            ("S-2-5-18", SidError::Prefix),
            ("s-1-5-18", SidError::Prefix),
            ("S-1-", SidError::MissingNumber),
            ("S-1-5", SidError::SubAuthorityCount),
            ("S-1-5-", SidError::MissingNumber),
            ("S-1-05-18", SidError::LeadingZero),
            ("S-1-5-018", SidError::LeadingZero),
            ("S-1-5-4294967296", SidError::NumberTooLarge),
            ("S-1-4294967296-1", SidError::NumberTooLarge),
            ("S-1-0x12-1", SidError::HexAuthority),
            ("S-1-0x00000000FFFF-1", SidError::HexAuthority),
            ("S-1-0x12345678ABCG-1", SidError::HexAuthority),
            ("S-1-5-18 ", SidError::UnexpectedChar),
            (
                "S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16",
                SidError::SubAuthorityCount,
            ),
        ];
        for (text, error) in cases {
            assert_eq!(text.parse::<Sid>(), Err(*error), "{text:?}");
        }
        assert!("S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15"
            .parse::<Sid>()
            .is_ok());
        assert_eq!(Sid::new(5, &[]), Err(SidError::SubAuthorityCount));
        assert_eq!(Sid::new(5, &[0; 16]), Err(SidError::SubAuthorityCount));
    }

    #[test]
    fn error_positions() {
        assert_eq!(
            Sid::parse_at(b"S-1-5-018", 0),
            Err((6, SidError::LeadingZero))
        );
        assert_eq!(
            Sid::parse_at(b"xxS-1-5-18D:", 2),
            Ok((Sid::LOCAL_SYSTEM, 10))
        );
        assert_eq!(
            Sid::parse_at(b"S-1-x", 0),
            Err((4, SidError::MissingNumber))
        );
    }

    #[test]
    fn binary_rejections() {
        assert_eq!(
            Sid::decode(&[1, 1, 0, 0, 0, 0, 0]),
            Err(SidError::Truncated)
        );
        assert_eq!(
            Sid::decode(&[2, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0]),
            Err(SidError::Revision)
        );
        assert_eq!(
            Sid::decode(&[1, 0, 0, 0, 0, 0, 0, 5]),
            Err(SidError::SubAuthorityCount)
        );
        assert_eq!(
            Sid::decode(&[1, 16, 0, 0, 0, 0, 0, 5]),
            Err(SidError::SubAuthorityCount)
        );
        assert_eq!(
            Sid::decode(&[1, 2, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0]),
            Err(SidError::Truncated)
        );
        let mut small = [0u8; 11];
        assert_eq!(Sid::LOCAL_SYSTEM.encode(&mut small), None);
    }

    fn any_sid() -> impl Strategy<Value = Sid> {
        (
            0u64..(1 << 48),
            proptest::collection::vec(any::<u32>(), 1..=15),
        )
            .prop_map(|(a, s)| Sid::new(a, &s).unwrap())
    }

    proptest! {
        #[test]
        fn string_round_trip(sid in any_sid()) {
            prop_assert_eq!(sid.to_string().parse::<Sid>(), Ok(sid));
        }

        #[test]
        fn binary_round_trip(sid in any_sid()) {
            let mut out = [0u8; 68];
            let n = sid.encode(&mut out).unwrap();
            prop_assert_eq!(n, sid.encoded_len());
            let expected = expected_bytes(sid.authority(), sid.sub_authorities());
            prop_assert_eq!(&out[..n], expected.as_slice());
            prop_assert_eq!(Sid::decode(&out[..n]), Ok((sid, n)));
        }

        #[test]
        fn parse_never_panics(s in ".{0,64}") {
            let _ = s.parse::<Sid>();
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = Sid::decode(&bytes);
        }
    }
}
