//! The subset of the Security Descriptor Definition Language (SDDL) that drivers use.
//!
//! Grammar ("Security Descriptor String Format",
//! <https://learn.microsoft.com/windows/win32/secauthz/security-descriptor-string-format>;
//! "ACE Strings", <https://learn.microsoft.com/windows/win32/secauthz/ace-strings>;
//! "SID Strings", <https://learn.microsoft.com/windows/win32/secauthz/sid-strings>):
//!
//! ```text
//! sd        = *( "O:" sid / "G:" sid / "D:" aclflags *ace / "S:" aclflags *ace )  ; each once
//! aclflags  = *( "P" / "AI" / "AR" )                                             ; each once
//! ace       = "(" type ";" aceflags ";" rights ";" ";" ";" sid ")"
//! type      = "A" / "D"          ; in D:   (ACCESS_ALLOWED / ACCESS_DENIED)
//!           / "AU"               ; in S:   (SYSTEM_AUDIT)
//! aceflags  = *( "OI" / "CI" / "NP" / "IO" / "ID" / "SA" / "FA" )                ; each once
//! rights    = "0x" 1*8HEXDIG / *( "GA" / "GR" / "GW" / "GX" / "RC" / "SD" / "WD" / "WO"
//!           / "FA" / "FR" / "FW" / "FX" / "KA" / "KR" / "KW" / "KX"
//!           / "CC" / "DC" / "LC" / "SW" / "RP" / "WP" / "DT" / "LO" / "CR" )
//! sid       = "S-1-..." / two-letter alias (SY, BA, WD, AU, LS, NS, CO, CG, AN, IU, NU, BU, ...)
//! ```
//!
//! Everything else (object ACEs and GUIDs, conditional and resource-attribute ACEs, mandatory
//! labels, `NO_ACCESS_CONTROL`, domain-relative aliases such as `DA`, whitespace) is rejected
//! with the byte position and the reason. Parsing never allocates and never panics.

use core::fmt;

use super::descriptor::{BuildError, Component, SecurityDescriptor, SecurityDescriptorBuilder};
use super::{AccessMask, Ace, AceFlags, AceType, AclFlags, Sid, SidError};
use wsk_bindings as sys;

/// Why an SDDL string was rejected, and where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SddlError {
    /// Byte offset in the input of the first rejected character (the input's length when it
    /// ended too early).
    pub position: usize,
    /// The reason.
    pub kind: SddlErrorKind,
}

/// The reason an SDDL string was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SddlErrorKind {
    /// Not `O:`, `G:`, `D:` or `S:` where a component must start.
    ExpectedComponent,
    /// A component given twice.
    DuplicateComponent(Component),
    /// An invalid `S-1-...` SID.
    Sid(SidError),
    /// A two-letter trustee that is not a known alias.
    UnknownAlias,
    /// A domain-relative alias (`DA`, `DU`, `LA`, ...), which needs the machine's domain SID.
    DomainRelativeAlias,
    /// A DACL/SACL flag other than `P`, `AI`, `AR`, or one given twice.
    AclFlag,
    /// `NO_ACCESS_CONTROL` (a NULL DACL) is not supported.
    NullAcl,
    /// Expected `(` to start an ACE or the end of the ACL.
    ExpectedAce,
    /// An ACE type other than `A`/`D` (DACL) or `AU` (SACL).
    UnsupportedAceType,
    /// An ACE flag other than `OI`, `CI`, `NP`, `IO`, `ID`, `SA`, `FA`, or one given twice.
    AceFlag,
    /// A rights code that is not supported.
    Right,
    /// A hex rights value that is empty, longer than 8 digits or has a non-hex digit.
    HexRights,
    /// An object or inherited-object GUID (object ACEs are not supported).
    ObjectGuid,
    /// Expected `;`.
    ExpectedSemicolon,
    /// Expected `)` (resource attributes and conditional ACEs are not supported).
    ExpectedCloseParen,
    /// The input ended inside a component.
    UnexpectedEnd,
    /// The buffer cannot hold the descriptor, or an ACL exceeds its limits.
    Build(BuildError),
}

impl fmt::Display for SddlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SDDL rejected at byte {}: ", self.position)?;
        match self.kind {
            SddlErrorKind::ExpectedComponent => f.write_str("expected O:, G:, D: or S:"),
            SddlErrorKind::DuplicateComponent(c) => write!(f, "{c:?} given twice"),
            SddlErrorKind::Sid(e) => write!(f, "invalid SID: {e}"),
            SddlErrorKind::UnknownAlias => f.write_str("unknown SID alias"),
            SddlErrorKind::DomainRelativeAlias => {
                f.write_str("domain-relative SID aliases are not supported")
            }
            SddlErrorKind::AclFlag => f.write_str("expected ACL flags P, AI or AR (each once)"),
            SddlErrorKind::NullAcl => f.write_str("NO_ACCESS_CONTROL is not supported"),
            SddlErrorKind::ExpectedAce => f.write_str("expected '(' or the end of the ACL"),
            SddlErrorKind::UnsupportedAceType => {
                f.write_str("supported ACE types: A, D (DACL), AU (SACL)")
            }
            SddlErrorKind::AceFlag => {
                f.write_str("expected ACE flags OI, CI, NP, IO, ID, SA, FA (each once)")
            }
            SddlErrorKind::Right => f.write_str("unsupported access right"),
            SddlErrorKind::HexRights => f.write_str("hex rights are 0x and 1 to 8 hex digits"),
            SddlErrorKind::ObjectGuid => f.write_str("object ACE GUIDs are not supported"),
            SddlErrorKind::ExpectedSemicolon => f.write_str("expected ';'"),
            SddlErrorKind::ExpectedCloseParen => f.write_str("expected ')'"),
            SddlErrorKind::UnexpectedEnd => f.write_str("unexpected end"),
            SddlErrorKind::Build(e) => write!(f, "{e}"),
        }
    }
}

/// SDDL trustee aliases for well-known SIDs ("SID Strings").
const ALIASES: &[(&[u8; 2], Sid)] = &[
    (b"SY", Sid::LOCAL_SYSTEM),
    (b"BA", Sid::BUILTIN_ADMINISTRATORS),
    (b"WD", Sid::EVERYONE),
    (b"AU", Sid::AUTHENTICATED_USERS),
    (b"LS", Sid::LOCAL_SERVICE),
    (b"NS", Sid::NETWORK_SERVICE),
    (b"CO", Sid::CREATOR_OWNER),
    (b"CG", Sid::CREATOR_GROUP),
    (b"AN", Sid::ANONYMOUS),
    (b"IU", Sid::INTERACTIVE),
    (b"NU", Sid::NETWORK),
    (b"SU", Sid::SERVICE),
    (b"BU", Sid::BUILTIN_USERS),
    (b"BG", Sid::BUILTIN_GUESTS),
    (b"PU", Sid::POWER_USERS),
    (b"AO", Sid::ACCOUNT_OPERATORS),
    (b"SO", Sid::SERVER_OPERATORS),
    (b"PO", Sid::PRINT_OPERATORS),
    (b"BO", Sid::BACKUP_OPERATORS),
    (b"RE", Sid::REPLICATOR),
    (b"RU", Sid::PRE_WINDOWS_2000_ACCESS),
    (b"RD", Sid::REMOTE_DESKTOP_USERS),
    (b"NO", Sid::NETWORK_CONFIGURATION_OPERATORS),
    (b"RC", Sid::RESTRICTED_CODE),
    (b"PS", Sid::PRINCIPAL_SELF),
    (b"ED", Sid::ENTERPRISE_CONTROLLERS),
    (b"AC", Sid::ALL_APP_PACKAGES),
];

/// Aliases that need the domain's SID, which a driver does not have.
const DOMAIN_ALIASES: &[&[u8; 2]] = &[
    b"DA", b"DU", b"DG", b"DC", b"DD", b"CA", b"CN", b"EA", b"LA", b"LG", b"PA", b"RS", b"SA",
    b"AP", b"RO",
];

/// Rights codes that stand for one exact mask, tried first when formatting.
const COMPOSITE_RIGHTS: &[(&[u8; 2], u32)] = &[
    (b"FA", sys::FILE_ALL_ACCESS),
    (b"FR", sys::FILE_GENERIC_READ),
    (b"FW", sys::FILE_GENERIC_WRITE),
    (b"FX", sys::FILE_GENERIC_EXECUTE),
    (b"KA", sys::KEY_ALL_ACCESS),
    (b"KR", sys::KEY_READ),
    (b"KW", sys::KEY_WRITE),
    (b"KX", sys::KEY_EXECUTE),
];

/// Single-bit rights codes (generic, standard, directory service), in formatting order.
const BIT_RIGHTS: &[(&[u8; 2], u32)] = &[
    (b"GA", sys::GENERIC_ALL),
    (b"GR", sys::GENERIC_READ),
    (b"GW", sys::GENERIC_WRITE),
    (b"GX", sys::GENERIC_EXECUTE),
    (b"RC", sys::READ_CONTROL),
    (b"SD", sys::DELETE),
    (b"WD", sys::WRITE_DAC),
    (b"WO", sys::WRITE_OWNER),
    (b"CC", 0x0000_0001),
    (b"DC", 0x0000_0002),
    (b"LC", 0x0000_0004),
    (b"SW", 0x0000_0008),
    (b"RP", 0x0000_0010),
    (b"WP", 0x0000_0020),
    (b"DT", 0x0000_0040),
    (b"LO", 0x0000_0080),
    (b"CR", 0x0000_0100),
];

/// ACE flag codes, in formatting order.
const ACE_FLAGS: &[(&[u8; 2], u8)] = &[
    (b"OI", sys::OBJECT_INHERIT_ACE),
    (b"CI", sys::CONTAINER_INHERIT_ACE),
    (b"NP", sys::NO_PROPAGATE_INHERIT_ACE),
    (b"IO", sys::INHERIT_ONLY_ACE),
    (b"ID", sys::INHERITED_ACE),
    (b"SA", sys::SUCCESSFUL_ACCESS_ACE_FLAG),
    (b"FA", sys::FAILED_ACCESS_ACE_FLAG),
];

/// A cursor over the input that reports positions.
struct Cursor<'s> {
    s: &'s [u8],
    pos: usize,
}

type Parsed<T> = Result<T, SddlError>;

impl Cursor<'_> {
    fn err<T>(&self, kind: SddlErrorKind) -> Parsed<T> {
        Err(SddlError {
            position: self.pos,
            kind,
        })
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn two(&self) -> Option<[u8; 2]> {
        let b = self.s.get(self.pos..self.pos.checked_add(2)?)?;
        Some([*b.first()?, *b.get(1)?])
    }

    fn starts_with(&self, prefix: &[u8]) -> bool {
        self.s
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(prefix))
    }

    fn advance(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n).min(self.s.len());
    }

    fn expect(&mut self, c: u8, kind: SddlErrorKind) -> Parsed<()> {
        match self.peek() {
            Some(x) if x == c => {
                self.advance(1);
                Ok(())
            }
            None => self.err(SddlErrorKind::UnexpectedEnd),
            Some(_) => self.err(kind),
        }
    }

    /// A trustee: `S-1-...` or a two-letter alias.
    fn sid(&mut self) -> Parsed<Sid> {
        if self.starts_with(b"S-") {
            let (sid, end) =
                Sid::parse_at(self.s, self.pos).map_err(|(position, e)| SddlError {
                    position,
                    kind: SddlErrorKind::Sid(e),
                })?;
            self.pos = end;
            return Ok(sid);
        }
        let Some(code) = self.two() else {
            return self.err(SddlErrorKind::UnexpectedEnd);
        };
        if let Some((_, sid)) = ALIASES.iter().find(|(a, _)| **a == code) {
            self.advance(2);
            return Ok(*sid);
        }
        if DOMAIN_ALIASES.iter().any(|a| **a == code) {
            return self.err(SddlErrorKind::DomainRelativeAlias);
        }
        self.err(SddlErrorKind::UnknownAlias)
    }

    /// `P` / `AI` / `AR`, up to the first `(` or the next component.
    fn acl_flags(&mut self) -> Parsed<AclFlags> {
        let mut flags = AclFlags::NONE;
        loop {
            if self.starts_with(b"NO_ACCESS_CONTROL") {
                return self.err(SddlErrorKind::NullAcl);
            }
            let (flag, len) = if self.starts_with(b"AI") {
                (AclFlags::AUTO_INHERITED, 2)
            } else if self.starts_with(b"AR") {
                (AclFlags::AUTO_INHERIT_REQ, 2)
            } else if self.peek() == Some(b'P') {
                (AclFlags::PROTECTED, 1)
            } else {
                return Ok(flags);
            };
            if flags.contains(flag) {
                return self.err(SddlErrorKind::AclFlag);
            }
            flags = flags | flag;
            self.advance(len);
        }
    }

    /// An ACE type code valid in this ACL.
    fn ace_type(&mut self, dacl: bool) -> Parsed<AceType> {
        let end = self
            .s
            .get(self.pos..)
            .and_then(|rest| rest.iter().position(|c| *c == b';'));
        let Some(len) = end else {
            return self.err(SddlErrorKind::UnexpectedEnd);
        };
        let code = self
            .s
            .get(self.pos..self.pos.saturating_add(len))
            .unwrap_or(&[]);
        let ace_type = match (code, dacl) {
            (b"A", true) => AceType::AccessAllowed,
            (b"D", true) => AceType::AccessDenied,
            (b"AU", false) => AceType::SystemAudit,
            _ => return self.err(SddlErrorKind::UnsupportedAceType),
        };
        self.advance(len);
        Ok(ace_type)
    }

    fn ace_flags(&mut self) -> Parsed<AceFlags> {
        let mut flags = 0u8;
        while self.peek() != Some(b';') {
            let Some(code) = self.two() else {
                return self.err(SddlErrorKind::UnexpectedEnd);
            };
            let Some((_, bit)) = ACE_FLAGS.iter().find(|(c, _)| **c == code) else {
                return self.err(SddlErrorKind::AceFlag);
            };
            if flags & bit != 0 {
                return self.err(SddlErrorKind::AceFlag);
            }
            flags |= bit;
            self.advance(2);
        }
        Ok(AceFlags(flags))
    }

    fn rights(&mut self) -> Parsed<AccessMask> {
        if self.starts_with(b"0x") || self.starts_with(b"0X") {
            self.advance(2);
            let start = self.pos;
            let mut value: u32 = 0;
            while let Some(d) = self.peek().and_then(super::sid::hex_digit) {
                if self.pos.saturating_sub(start) >= 8 {
                    return self.err(SddlErrorKind::HexRights);
                }
                value = (value << 4) | u32::from(d);
                self.advance(1);
            }
            if self.pos == start || self.peek() != Some(b';') {
                return self.err(SddlErrorKind::HexRights);
            }
            return Ok(AccessMask(value));
        }
        let mut mask = 0u32;
        while self.peek() != Some(b';') {
            let Some(code) = self.two() else {
                return self.err(SddlErrorKind::UnexpectedEnd);
            };
            let found = COMPOSITE_RIGHTS
                .iter()
                .chain(BIT_RIGHTS)
                .find(|(c, _)| **c == code);
            let Some((_, bits)) = found else {
                return self.err(SddlErrorKind::Right);
            };
            mask |= bits;
            self.advance(2);
        }
        Ok(AccessMask(mask))
    }

    /// `(type;flags;rights;;;sid)`.
    fn ace(&mut self, dacl: bool) -> Parsed<Ace> {
        self.expect(b'(', SddlErrorKind::ExpectedAce)?;
        let ace_type = self.ace_type(dacl)?;
        self.expect(b';', SddlErrorKind::ExpectedSemicolon)?;
        let flags = self.ace_flags()?;
        self.expect(b';', SddlErrorKind::ExpectedSemicolon)?;
        let mask = self.rights()?;
        self.expect(b';', SddlErrorKind::ExpectedSemicolon)?;
        self.expect(b';', SddlErrorKind::ObjectGuid)?;
        self.expect(b';', SddlErrorKind::ObjectGuid)?;
        let sid = self.sid()?;
        self.expect(b')', SddlErrorKind::ExpectedCloseParen)?;
        Ok(Ace {
            ace_type,
            flags,
            mask,
            sid,
        })
    }
}

/// Where each component is in the input, found by the validating pass.
#[derive(Default)]
struct Layout {
    owner: Option<Sid>,
    group: Option<Sid>,
    /// (flags, position of the first ACE) of the DACL and SACL.
    dacl: Option<(AclFlags, usize)>,
    sacl: Option<(AclFlags, usize)>,
}

fn is_component(code: [u8; 2]) -> bool {
    matches!(code, [b'O' | b'G' | b'D' | b'S', b':'])
}

/// First pass: checks the whole string and records the components.
fn scan(s: &[u8]) -> Parsed<Layout> {
    let mut c = Cursor { s, pos: 0 };
    let mut layout = Layout::default();
    while let Some(code) = c.two() {
        let component = match code {
            [b'O', b':'] => Component::Owner,
            [b'G', b':'] => Component::Group,
            [b'D', b':'] => Component::Dacl,
            [b'S', b':'] => Component::Sacl,
            _ => break,
        };
        let duplicate = match component {
            Component::Owner => layout.owner.is_some(),
            Component::Group => layout.group.is_some(),
            Component::Dacl => layout.dacl.is_some(),
            Component::Sacl => layout.sacl.is_some(),
        };
        if duplicate {
            return c.err(SddlErrorKind::DuplicateComponent(component));
        }
        c.advance(2);
        match component {
            Component::Owner => layout.owner = Some(c.sid()?),
            Component::Group => layout.group = Some(c.sid()?),
            Component::Dacl | Component::Sacl => {
                let dacl = component == Component::Dacl;
                let flags = c.acl_flags()?;
                let first = c.pos;
                while c.peek() == Some(b'(') {
                    c.ace(dacl)?;
                }
                if c.pos < s.len() && !c.two().is_some_and(is_component) {
                    let no_ace = c.pos == first;
                    return c.err(
                        if no_ace && c.peek().is_some_and(|x| x.is_ascii_uppercase()) {
                            SddlErrorKind::AclFlag
                        } else {
                            SddlErrorKind::ExpectedAce
                        },
                    );
                }
                if dacl {
                    layout.dacl = Some((flags, first));
                } else {
                    layout.sacl = Some((flags, first));
                }
            }
        }
    }
    if c.pos != s.len() {
        return c.err(SddlErrorKind::ExpectedComponent);
    }
    Ok(layout)
}

/// Second pass over an ACL the first pass accepted: adds its ACEs to the builder.
fn emit_aces<'b>(
    s: &[u8],
    first: usize,
    dacl: bool,
    mut b: SecurityDescriptorBuilder<'b>,
) -> Parsed<SecurityDescriptorBuilder<'b>> {
    let mut c = Cursor { s, pos: first };
    while c.peek() == Some(b'(') {
        b = b.ace(c.ace(dacl)?);
    }
    Ok(b)
}

/// Parses `sddl` and writes the self-relative security descriptor into `buf` (laid out as
/// Windows does: SACL, DACL, owner, group). IRQL: any.
///
/// # Errors
/// The byte position and reason of the first rejected character; a build error (buffer too
/// small, ACL too large) at the end of the input.
///
/// # Examples
/// ```
/// use wsk::security::{parse_sddl, Sid};
/// let mut buf = [0u8; 128];
/// let sd = parse_sddl("D:P(A;;GA;;;SY)(A;;GA;;;BA)", &mut buf).unwrap();
/// assert_eq!(sd.len(), 20 + 8 + (8 + 12) + (8 + 16));
/// assert_eq!(sd.dacl().unwrap().aces().nth(1).unwrap().sid, Sid::BUILTIN_ADMINISTRATORS);
/// let err = parse_sddl("D:P(A;;GA;;;XX)", &mut buf).unwrap_err();
/// assert_eq!(err.position, 12);
/// ```
pub fn parse_sddl<'b>(sddl: &str, buf: &'b mut [u8]) -> Result<SecurityDescriptor<'b>, SddlError> {
    let s = sddl.as_bytes();
    let layout = scan(s)?;
    let mut b = SecurityDescriptorBuilder::new(buf);
    if let Some((flags, first)) = layout.sacl {
        b = emit_aces(s, first, false, b.sacl(flags))?;
    }
    if let Some((flags, first)) = layout.dacl {
        b = emit_aces(s, first, true, b.dacl(flags))?;
    }
    if let Some(owner) = layout.owner {
        b = b.owner(owner);
    }
    if let Some(group) = layout.group {
        b = b.group(group);
    }
    b.finish().map_err(|e| SddlError {
        position: s.len(),
        kind: SddlErrorKind::Build(e),
    })
}

/// The SDDL form of a [`SecurityDescriptor`] (its `Display`): `O:`, `G:`, `D:`, `S:` in that
/// order, aliases for well-known SIDs, rights as codes when exact, else `0x...`.
/// [`parse_sddl`] of the output gives back the same bytes.
#[derive(Clone, Copy)]
pub struct Sddl<'a>(pub(crate) SecurityDescriptor<'a>);

fn write_sid(f: &mut fmt::Formatter<'_>, sid: Sid) -> fmt::Result {
    match ALIASES.iter().find(|(_, s)| *s == sid) {
        Some((alias, _)) => {
            let [a, b] = **alias;
            write!(f, "{}{}", char::from(a), char::from(b))
        }
        None => write!(f, "{sid}"),
    }
}

fn write_code(f: &mut fmt::Formatter<'_>, code: [u8; 2]) -> fmt::Result {
    let [a, b] = code;
    write!(f, "{}{}", char::from(a), char::from(b))
}

/// Rights as SDDL: an exact composite code, else single-bit codes, else hex.
pub(crate) fn write_rights(f: &mut fmt::Formatter<'_>, mask: AccessMask) -> fmt::Result {
    let m = mask.0;
    if let Some((code, _)) = COMPOSITE_RIGHTS.iter().find(|(_, v)| *v == m) {
        return write_code(f, **code);
    }
    let known = BIT_RIGHTS.iter().fold(0u32, |acc, (_, v)| acc | v);
    if m != 0 && m & !known == 0 {
        for (code, bit) in BIT_RIGHTS {
            if m & bit != 0 {
                write_code(f, **code)?;
            }
        }
        return Ok(());
    }
    write!(f, "0x{m:x}")
}

pub(crate) fn write_ace_flags(f: &mut fmt::Formatter<'_>, flags: AceFlags) -> fmt::Result {
    for (code, bit) in ACE_FLAGS {
        if flags.0 & bit != 0 {
            write_code(f, **code)?;
        }
    }
    if flags.0 & !AceFlags::ALL.0 != 0 {
        write!(f, "0x{:x}", flags.0 & !AceFlags::ALL.0)?;
    }
    Ok(())
}

pub(crate) fn write_acl_flags(f: &mut fmt::Formatter<'_>, flags: AclFlags) -> fmt::Result {
    if flags.contains(AclFlags::PROTECTED) {
        f.write_str("P")?;
    }
    if flags.contains(AclFlags::AUTO_INHERIT_REQ) {
        f.write_str("AR")?;
    }
    if flags.contains(AclFlags::AUTO_INHERITED) {
        f.write_str("AI")?;
    }
    Ok(())
}

fn write_ace(f: &mut fmt::Formatter<'_>, ace: &Ace) -> fmt::Result {
    f.write_str(match ace.ace_type {
        AceType::AccessAllowed => "(A;",
        AceType::AccessDenied => "(D;",
        AceType::SystemAudit => "(AU;",
    })?;
    write_ace_flags(f, ace.flags)?;
    f.write_str(";")?;
    write_rights(f, ace.mask)?;
    f.write_str(";;;")?;
    write_sid(f, ace.sid)?;
    f.write_str(")")
}

impl fmt::Display for Sddl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sd = &self.0;
        if let Some(owner) = sd.owner() {
            f.write_str("O:")?;
            write_sid(f, owner)?;
        }
        if let Some(group) = sd.group() {
            f.write_str("G:")?;
            write_sid(f, group)?;
        }
        for (prefix, acl) in [("D:", sd.dacl()), ("S:", sd.sacl())] {
            if let Some(acl) = acl {
                f.write_str(prefix)?;
                write_acl_flags(f, acl.flags())?;
                for ace in acl.aces() {
                    write_ace(f, &ace)?;
                }
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Sddl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::string::{String, ToString};
    use std::vec::Vec;

    use proptest::prelude::*;

    use super::*;
    use crate::security::SecurityDescriptorBuf;

    fn parse(s: &str) -> Result<Vec<u8>, SddlError> {
        let mut buf = [0u8; 4096];
        parse_sddl(s, &mut buf).map(|sd| sd.as_bytes().to_vec())
    }

    fn err(s: &str) -> (usize, SddlErrorKind) {
        let e = parse(s).unwrap_err();
        (e.position, e.kind)
    }

    // Independent encoders, straight from the documented layouts ([MS-DTYP] 2.4.2.2 SID,
    // 2.4.4.1/2.4.4.2 ACE, 2.4.5 ACL, 2.4.6 SECURITY_DESCRIPTOR), not from the code under test.
    fn sid(authority: u8, subs: &[u32]) -> Vec<u8> {
        let mut v = std::vec![
            1,
            u8::try_from(subs.len()).unwrap(),
            0,
            0,
            0,
            0,
            0,
            authority
        ];
        for s in subs {
            v.extend_from_slice(&s.to_le_bytes());
        }
        v
    }

    fn ace(ace_type: u8, flags: u8, mask: u32, sid: &[u8]) -> Vec<u8> {
        let size = u16::try_from(8 + sid.len()).unwrap();
        let mut v = std::vec![ace_type, flags];
        v.extend_from_slice(&size.to_le_bytes());
        v.extend_from_slice(&mask.to_le_bytes());
        v.extend_from_slice(sid);
        v
    }

    fn acl(aces: &[Vec<u8>]) -> Vec<u8> {
        let body: Vec<u8> = aces.concat();
        let mut v = std::vec![2, 0];
        v.extend_from_slice(&u16::try_from(8 + body.len()).unwrap().to_le_bytes());
        v.extend_from_slice(&u16::try_from(aces.len()).unwrap().to_le_bytes());
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(&body);
        v
    }

    /// Header + parts in the given order; offsets computed from the parts' sizes.
    fn descriptor(control: u16, parts: &[(Component, Vec<u8>)]) -> Vec<u8> {
        let mut offsets = [0u32; 4]; // owner, group, sacl, dacl
        let mut body = Vec::new();
        for (c, bytes) in parts {
            let slot = match c {
                Component::Owner => 0,
                Component::Group => 1,
                Component::Sacl => 2,
                Component::Dacl => 3,
            };
            offsets[slot] = u32::try_from(20 + body.len()).unwrap();
            body.extend_from_slice(bytes);
        }
        let mut v = std::vec![1, 0];
        v.extend_from_slice(&(control | 0x8000).to_le_bytes());
        for o in offsets {
            v.extend_from_slice(&o.to_le_bytes());
        }
        v.extend_from_slice(&body);
        v
    }

    const SY: &[u32] = &[18];
    const BA: &[u32] = &[32, 544];

    #[test]
    fn device_style_dacl_is_byte_exact() {
        let expected = descriptor(
            0x0004 | 0x1000, // SE_DACL_PRESENT | SE_DACL_PROTECTED
            &[(
                Component::Dacl,
                acl(&[
                    ace(0, 0, 0x1000_0000, &sid(5, SY)),
                    ace(0, 0, 0x1000_0000, &sid(5, BA)),
                ]),
            )],
        );
        assert_eq!(expected.len(), 72);
        assert_eq!(parse("D:P(A;;GA;;;SY)(A;;GA;;;BA)").unwrap(), expected);
        // The same with SID strings and hex rights.
        assert_eq!(
            parse("D:P(A;;0x10000000;;;S-1-5-18)(A;;0X10000000;;;S-1-5-32-544)").unwrap(),
            expected
        );
    }

    /// [MS-DTYP] 2.5.1.4 "SDDL String to Binary Security Descriptor Examples"
    /// (https://learn.microsoft.com/openspecs/windows_protocols/ms-dtyp/2918391b-75b9-4eeb-83f0-7fdc04a5c6c9):
    /// Microsoft's own encoding of this string, byte for byte.
    #[test]
    fn ms_dtyp_example_is_byte_exact() {
        const MS_DTYP_2_5_1_4: [u8; 0xb0] = [
            0x01, 0x00, 0x14, 0xb0, 0x90, 0x00, 0x00, 0x00, 0xa0, 0x00, 0x00, 0x00, 0x14, 0x00,
            0x00, 0x00, //
            0x30, 0x00, 0x00, 0x00, 0x02, 0x00, 0x1c, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x80,
            0x14, 0x00, //
            0x00, 0x00, 0x00, 0x80, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
            0x00, 0x00, //
            0x02, 0x00, 0x60, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x03, 0x18, 0x00, 0x00, 0x00,
            0x00, 0xa0, //
            0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x20, 0x00, 0x00, 0x00, 0x21, 0x02,
            0x00, 0x00, //
            0x00, 0x03, 0x18, 0x00, 0x00, 0x00, 0x00, 0x10, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x05, //
            0x20, 0x00, 0x00, 0x00, 0x20, 0x02, 0x00, 0x00, 0x00, 0x03, 0x14, 0x00, 0x00, 0x00,
            0x00, 0x10, //
            0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x12, 0x00, 0x00, 0x00, 0x00, 0x03,
            0x14, 0x00, //
            0x00, 0x00, 0x00, 0x10, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00,
            0x00, 0x00, //
            0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x20, 0x00, 0x00, 0x00, 0x20, 0x02,
            0x00, 0x00, //
            0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x20, 0x00, 0x00, 0x00, 0x20, 0x02,
            0x00, 0x00, //
        ];
        let text = "O:BAG:BAD:P(A;CIOI;GRGX;;;BU)(A;CIOI;GA;;;BA)(A;CIOI;GA;;;SY)(A;CIOI;GA;;;CO)S:P(AU;FA;GR;;;WD)";
        assert_eq!(parse(text).unwrap(), MS_DTYP_2_5_1_4);
        // And our independent encoder agrees with Microsoft's bytes.
        let rebuilt = descriptor(
            0x0004 | 0x0010 | 0x1000 | 0x2000,
            &[
                (
                    Component::Sacl,
                    acl(&[ace(2, 0x80, 0x8000_0000, &sid(1, &[0]))]),
                ),
                (
                    Component::Dacl,
                    acl(&[
                        ace(0, 3, 0xa000_0000, &sid(5, &[32, 545])),
                        ace(0, 3, 0x1000_0000, &sid(5, BA)),
                        ace(0, 3, 0x1000_0000, &sid(5, SY)),
                        ace(0, 3, 0x1000_0000, &sid(3, &[0])),
                    ]),
                ),
                (Component::Owner, sid(5, BA)),
                (Component::Group, sid(5, BA)),
            ],
        );
        assert_eq!(rebuilt, MS_DTYP_2_5_1_4);
        // Formatting puts the flags in our canonical order and gives back the same bytes.
        let sd = SecurityDescriptor::from_bytes(&MS_DTYP_2_5_1_4).unwrap();
        let formatted = sd.sddl().to_string();
        assert_eq!(formatted, "O:BAG:BAD:P(A;OICI;GRGX;;;BU)(A;OICI;GA;;;BA)(A;OICI;GA;;;SY)(A;OICI;GA;;;CO)S:P(AU;FA;GR;;;WD)");
        assert_eq!(parse(&formatted).unwrap(), MS_DTYP_2_5_1_4);
    }

    #[test]
    fn components_in_any_order_give_the_same_layout() {
        let a = parse("O:SYG:BAD:(A;;GA;;;SY)").unwrap();
        assert_eq!(parse("D:(A;;GA;;;SY)G:BAO:SY").unwrap(), a);
        let expected = descriptor(
            0x0004,
            &[
                (Component::Dacl, acl(&[ace(0, 0, 0x1000_0000, &sid(5, SY))])),
                (Component::Owner, sid(5, SY)),
                (Component::Group, sid(5, BA)),
            ],
        );
        assert_eq!(a, expected);
    }

    #[test]
    fn flags_rights_and_aliases() {
        let bytes = parse("D:PAIAR(D;OICINPIOID;FAFRFW;;;WD)(A;;KAKR;;;AN)(A;;RCSDWDWO;;;NS)(A;;0xffffffff;;;S-1-0x123456789ABC-1)").unwrap();
        let sd = SecurityDescriptor::from_bytes(&bytes).unwrap();
        let dacl = sd.dacl().unwrap();
        assert_eq!(
            dacl.flags(),
            AclFlags::PROTECTED | AclFlags::AUTO_INHERITED | AclFlags::AUTO_INHERIT_REQ
        );
        assert_eq!(sd.control(), 0x8000 | 0x0004 | 0x1000 | 0x0400 | 0x0100);
        let aces: Vec<Ace> = dacl.aces().collect();
        assert_eq!(aces.len(), 4);
        assert_eq!(aces[0].ace_type, AceType::AccessDenied);
        assert_eq!(aces[0].flags, AceFlags(0x1F));
        assert_eq!(
            aces[0].mask,
            AccessMask(0x001F_01FF | 0x0012_0089 | 0x0012_0116)
        );
        assert_eq!(aces[0].sid, Sid::EVERYONE);
        assert_eq!(aces[1].mask, AccessMask(0x000F_003F));
        assert_eq!(aces[1].sid, Sid::ANONYMOUS);
        assert_eq!(aces[2].mask, AccessMask(0x000F_0000));
        assert_eq!(aces[3].mask, AccessMask(u32::MAX));
        assert_eq!(
            sd.sddl().to_string(),
            "D:PARAI(D;OICINPIOID;FA;;;WD)(A;;KA;;;AN)(A;;RCSDWDWO;;;NS)(A;;0xffffffff;;;S-1-0x123456789ABC-1)"
        );
        for (alias, expected) in ALIASES {
            let [a, b] = **alias;
            let text = std::format!("O:{}{}", char::from(a), char::from(b));
            let sd_bytes = parse(&text).unwrap();
            assert_eq!(
                SecurityDescriptor::from_bytes(&sd_bytes).unwrap().owner(),
                Some(*expected),
                "{text}"
            );
        }
        // Rights codes map to the documented masks.
        for (code, mask) in [
            ("GA", 0x1000_0000u32),
            ("GR", 0x8000_0000),
            ("GW", 0x4000_0000),
            ("GX", 0x2000_0000),
            ("FA", 0x1F_01FF),
            ("FX", 0x12_00A0),
            ("KW", 0x2_0006),
            ("KX", 0x2_0019),
        ] {
            let text = std::format!("D:(A;;{code};;;SY)");
            let sd_bytes = parse(&text).unwrap();
            let got = SecurityDescriptor::from_bytes(&sd_bytes)
                .unwrap()
                .dacl()
                .unwrap()
                .aces()
                .next()
                .unwrap()
                .mask;
            assert_eq!(got, AccessMask(mask), "{code}");
        }
    }

    #[test]
    fn empty_parts() {
        assert_eq!(parse("").unwrap(), descriptor(0, &[]));
        assert_eq!(
            parse("D:").unwrap(),
            descriptor(0x0004, &[(Component::Dacl, acl(&[]))])
        );
        assert_eq!(
            parse("D:P").unwrap(),
            descriptor(0x1004, &[(Component::Dacl, acl(&[]))])
        );
        let rights_zero = parse("D:(A;;;;;SY)").unwrap();
        assert_eq!(
            rights_zero,
            descriptor(
                0x0004,
                &[(Component::Dacl, acl(&[ace(0, 0, 0, &sid(5, SY))]))]
            )
        );
        let sd = SecurityDescriptor::from_bytes(&rights_zero).unwrap();
        assert_eq!(sd.sddl().to_string(), "D:(A;;0x0;;;SY)");
    }

    #[test]
    fn rejections_have_position_and_reason() {
        use SddlErrorKind as K;
        let cases: &[(&str, usize, SddlErrorKind)] = &[
            ("X:", 0, K::ExpectedComponent),
            ("D:P(A;;GA;;;SY) ", 15, K::ExpectedAce),
            (" D:", 0, K::ExpectedComponent),
            ("O:SYO:SY", 4, K::DuplicateComponent(Component::Owner)),
            ("G:SYG:SY", 4, K::DuplicateComponent(Component::Group)),
            ("D:D:", 2, K::DuplicateComponent(Component::Dacl)),
            ("S:S:", 2, K::DuplicateComponent(Component::Sacl)),
            ("O:XX", 2, K::UnknownAlias),
            ("O:DA", 2, K::DomainRelativeAlias),
            ("O:S", 2, K::UnexpectedEnd),
            ("O:S-1-5-018", 8, K::Sid(SidError::LeadingZero)),
            ("O:S-2-5", 4, K::Sid(SidError::Prefix)),
            ("O:SYX", 4, K::ExpectedComponent),
            ("D:PP", 3, K::AclFlag),
            ("D:AIAI", 4, K::AclFlag),
            ("D:X(A;;GA;;;SY)", 2, K::AclFlag),
            ("D:NO_ACCESS_CONTROL", 2, K::NullAcl),
            ("D:(A;;GA;;;SY)x", 14, K::ExpectedAce),
            ("D:(OA;;GA;;;SY)", 3, K::UnsupportedAceType),
            ("D:(AU;;GA;;;SY)", 3, K::UnsupportedAceType),
            ("S:(A;;GA;;;SY)", 3, K::UnsupportedAceType),
            ("D:(ML;;NW;;;LW)", 3, K::UnsupportedAceType),
            ("D:(A", 3, K::UnexpectedEnd),
            ("D:(A;XX;GA;;;SY)", 5, K::AceFlag),
            ("D:(A;CICI;GA;;;SY)", 7, K::AceFlag),
            ("D:(A;C", 5, K::UnexpectedEnd),
            ("D:(A;;GZ;;;SY)", 6, K::Right),
            ("D:(A;;G", 6, K::UnexpectedEnd),
            ("D:(A;;0x;;;SY)", 8, K::HexRights),
            ("D:(A;;0x123456789;;;SY)", 16, K::HexRights),
            ("D:(A;;0x12G;;;SY)", 10, K::HexRights),
            (
                "D:(A;;GA;bf967aba-0de6-11d0-a285-00aa003049e2;;SY)",
                9,
                K::ObjectGuid,
            ),
            ("D:(A;;GA;;x;SY)", 10, K::ObjectGuid),
            ("D:(A;;GA;;;SY;(x))", 13, K::ExpectedCloseParen),
            ("D:(A;;GA;;;SY", 13, K::UnexpectedEnd),
            ("D:(A;;GA;;;S-1-5-18", 19, K::UnexpectedEnd),
            ("D:(A;;GA;;;LW)", 11, K::UnknownAlias),
            ("D:(A;;GA;;;DU)", 11, K::DomainRelativeAlias),
            (
                "D:(XA;;GA;;;WD;(Member_of {SID(BA)}))",
                3,
                K::UnsupportedAceType,
            ),
        ];
        for (text, position, kind) in cases {
            assert_eq!(err(text), (*position, *kind), "{text:?}");
        }
    }

    #[test]
    fn buffer_too_small_is_reported_at_the_end() {
        let mut buf = [0u8; 40];
        let text = "D:P(A;;GA;;;SY)(A;;GA;;;BA)";
        let e = parse_sddl(text, &mut buf).unwrap_err();
        assert_eq!(
            (e.position, e.kind),
            (text.len(), SddlErrorKind::Build(BuildError::BufferTooSmall))
        );
        let mut fits = SecurityDescriptorBuf::<72>::new();
        assert_eq!(fits.from_sddl(text).unwrap().len(), 72);
        assert!(!e.to_string().is_empty());
    }

    // Property tests.

    fn any_sid() -> impl Strategy<Value = Sid> {
        let alias = proptest::sample::select(ALIASES.iter().map(|(_, s)| *s).collect::<Vec<_>>());
        let custom = (
            0u64..(1 << 48),
            proptest::collection::vec(any::<u32>(), 1..=15),
        )
            .prop_map(|(a, s)| Sid::new(a, &s).unwrap());
        prop_oneof![alias, custom]
    }

    fn any_mask() -> impl Strategy<Value = AccessMask> {
        let codes = proptest::sample::select(
            COMPOSITE_RIGHTS
                .iter()
                .chain(BIT_RIGHTS)
                .map(|(_, m)| *m)
                .collect::<Vec<_>>(),
        );
        prop_oneof![
            any::<u32>(),
            codes,
            proptest::collection::vec(
                proptest::sample::select(BIT_RIGHTS.iter().map(|(_, m)| *m).collect::<Vec<_>>()),
                0..4
            )
            .prop_map(|v| v.into_iter().fold(0, |a, b| a | b))
        ]
        .prop_map(AccessMask)
    }

    fn any_acl_flags() -> impl Strategy<Value = AclFlags> {
        (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(p, ar, ai)| {
            let mut f = AclFlags::NONE;
            if p {
                f = f | AclFlags::PROTECTED;
            }
            if ar {
                f = f | AclFlags::AUTO_INHERIT_REQ;
            }
            if ai {
                f = f | AclFlags::AUTO_INHERITED;
            }
            f
        })
    }

    fn any_ace(dacl: bool) -> impl Strategy<Value = Ace> {
        let ace_type = if dacl {
            prop_oneof![Just(AceType::AccessAllowed), Just(AceType::AccessDenied)].boxed()
        } else {
            Just(AceType::SystemAudit).boxed()
        };
        (ace_type, any::<u8>(), any_mask(), any_sid()).prop_map(|(ace_type, flags, mask, sid)| {
            Ace {
                ace_type,
                flags: AceFlags(flags & AceFlags::ALL.0),
                mask,
                sid,
            }
        })
    }

    #[derive(Debug, Clone)]
    struct Model {
        owner: Option<Sid>,
        group: Option<Sid>,
        dacl: Option<(AclFlags, Vec<Ace>)>,
        sacl: Option<(AclFlags, Vec<Ace>)>,
        /// Order in which the parts are given to the builder.
        order: [Component; 4],
    }

    fn any_model() -> impl Strategy<Value = Model> {
        (
            proptest::option::of(any_sid()),
            proptest::option::of(any_sid()),
            proptest::option::of((
                any_acl_flags(),
                proptest::collection::vec(any_ace(true), 0..6),
            )),
            proptest::option::of((
                any_acl_flags(),
                proptest::collection::vec(any_ace(false), 0..6),
            )),
            Just([
                Component::Owner,
                Component::Group,
                Component::Dacl,
                Component::Sacl,
            ])
            .prop_shuffle(),
        )
            .prop_map(|(owner, group, dacl, sacl, order)| Model {
                owner,
                group,
                dacl,
                sacl,
                order,
            })
    }

    fn build<'b>(m: &Model, buf: &'b mut [u8]) -> SecurityDescriptor<'b> {
        let mut b = SecurityDescriptorBuilder::new(buf);
        for c in m.order {
            match c {
                Component::Owner => {
                    if let Some(s) = m.owner {
                        b = b.owner(s);
                    }
                }
                Component::Group => {
                    if let Some(s) = m.group {
                        b = b.group(s);
                    }
                }
                Component::Dacl => {
                    if let Some((f, aces)) = &m.dacl {
                        b = b.dacl(*f);
                        for a in aces {
                            b = b.ace(*a);
                        }
                    }
                }
                Component::Sacl => {
                    if let Some((f, aces)) = &m.sacl {
                        b = b.sacl(*f);
                        for a in aces {
                            b = b.ace(*a);
                        }
                    }
                }
            }
        }
        b.finish().unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// parse(format(x)) describes x: same owner, group, ACL flags and ACEs, whatever the
        /// order the builder was given; and parse is a fixed point of format∘parse.
        #[test]
        fn format_then_parse_round_trips(m in any_model()) {
            let mut buf = [0u8; 8192];
            let sd = build(&m, &mut buf);
            let text: String = sd.sddl().to_string();
            let mut buf2 = [0u8; 8192];
            let parsed = parse_sddl(&text, &mut buf2).map_err(|e| TestCaseError::fail(std::format!("{text}: {e}")))?;
            prop_assert_eq!(parsed.owner(), m.owner);
            prop_assert_eq!(parsed.group(), m.group);
            prop_assert_eq!(parsed.dacl().map(|a| (a.flags(), a.aces().collect::<Vec<_>>())), m.dacl.clone());
            prop_assert_eq!(parsed.sacl().map(|a| (a.flags(), a.aces().collect::<Vec<_>>())), m.sacl.clone());
            prop_assert_eq!(parsed.sddl().to_string(), text.clone());
            let mut buf3 = [0u8; 8192];
            let again = parse_sddl(&text, &mut buf3).unwrap();
            prop_assert_eq!(again.as_bytes(), parsed.as_bytes());
        }

        /// Arbitrary text never panics the parser.
        #[test]
        fn parser_never_panics_on_text(s in ".{0,200}") {
            let mut buf = [0u8; 512];
            let _ = parse_sddl(&s, &mut buf);
        }

        /// Near-valid SDDL (drawn from the grammar's own tokens) never panics either, and the
        /// error position is inside the input.
        #[test]
        fn parser_never_panics_on_tokens(tokens in proptest::collection::vec(proptest::sample::select(std::vec![
            "O:", "G:", "D:", "S:", "P", "AI", "AR", "(", ")", ";", "A", "D", "AU", "OI", "CI", "IO", "GA", "FA",
            "0x", "1F", "SY", "BA", "S-1-", "5", "-", "18", "0", "DA", "XX", "NO_ACCESS_CONTROL",
        ]), 0..40), cap in 0usize..300) {
            let s: String = tokens.concat();
            let mut buf = std::vec![0u8; cap];
            match parse_sddl(&s, &mut buf) {
                Ok(sd) => {
                    // Whatever parsed formats back to the same bytes.
                    let text = sd.sddl().to_string();
                    let bytes = sd.as_bytes().to_vec();
                    let mut buf2 = std::vec![0u8; 4096];
                    prop_assert_eq!(parse_sddl(&text, &mut buf2).unwrap().as_bytes(), bytes.as_slice());
                }
                Err(e) => prop_assert!(e.position <= s.len()),
            }
        }

        /// Arbitrary bytes never panic the validator, and whatever validates formats and
        /// parses back to the same bytes.
        #[test]
        fn from_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..160)) {
            if let Ok(sd) = SecurityDescriptor::from_bytes(&bytes) {
                let text = sd.sddl().to_string();
                let _ = sd.dacl().map(|a| a.aces().count());
                let mut buf = [0u8; 1024];
                let _ = parse_sddl(&text, &mut buf);
            }
        }
    }
}
