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
use super::{Ace, AceFlags, AceType, AccessMask, AclFlags, Sid, SidError};
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
            SddlErrorKind::DomainRelativeAlias => f.write_str("domain-relative SID aliases are not supported"),
            SddlErrorKind::AclFlag => f.write_str("expected ACL flags P, AI or AR (each once)"),
            SddlErrorKind::NullAcl => f.write_str("NO_ACCESS_CONTROL is not supported"),
            SddlErrorKind::ExpectedAce => f.write_str("expected '(' or the end of the ACL"),
            SddlErrorKind::UnsupportedAceType => f.write_str("supported ACE types: A, D (DACL), AU (SACL)"),
            SddlErrorKind::AceFlag => f.write_str("expected ACE flags OI, CI, NP, IO, ID, SA, FA (each once)"),
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
const DOMAIN_ALIASES: &[&[u8; 2]] = &[b"DA", b"DU", b"DG", b"DC", b"DD", b"CA", b"CN", b"EA", b"LA", b"LG", b"PA", b"RS", b"SA", b"AP", b"RO"];

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
        Err(SddlError { position: self.pos, kind })
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn two(&self) -> Option<[u8; 2]> {
        let b = self.s.get(self.pos..self.pos.checked_add(2)?)?;
        Some([*b.first()?, *b.get(1)?])
    }

    fn starts_with(&self, prefix: &[u8]) -> bool {
        self.s.get(self.pos..).is_some_and(|rest| rest.starts_with(prefix))
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
            let (sid, end) = Sid::parse_at(self.s, self.pos).map_err(|(position, e)| SddlError { position, kind: SddlErrorKind::Sid(e) })?;
            self.pos = end;
            return Ok(sid);
        }
        let Some(code) = self.two() else { return self.err(SddlErrorKind::UnexpectedEnd) };
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
        let end = self.s.get(self.pos..).and_then(|rest| rest.iter().position(|c| *c == b';'));
        let Some(len) = end else { return self.err(SddlErrorKind::UnexpectedEnd) };
        let code = self.s.get(self.pos..self.pos.saturating_add(len)).unwrap_or(&[]);
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
            let Some(code) = self.two() else { return self.err(SddlErrorKind::UnexpectedEnd) };
            let Some((_, bit)) = ACE_FLAGS.iter().find(|(c, _)| **c == code) else { return self.err(SddlErrorKind::AceFlag) };
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
            let Some(code) = self.two() else { return self.err(SddlErrorKind::UnexpectedEnd) };
            let found = COMPOSITE_RIGHTS.iter().chain(BIT_RIGHTS).find(|(c, _)| **c == code);
            let Some((_, bits)) = found else { return self.err(SddlErrorKind::Right) };
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
        Ok(Ace { ace_type, flags, mask, sid })
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
                    return c.err(if no_ace && c.peek().is_some_and(|x| x.is_ascii_uppercase()) { SddlErrorKind::AclFlag } else { SddlErrorKind::ExpectedAce });
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
fn emit_aces<'b>(s: &[u8], first: usize, dacl: bool, mut b: SecurityDescriptorBuilder<'b>) -> Parsed<SecurityDescriptorBuilder<'b>> {
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
    b.finish().map_err(|e| SddlError { position: s.len(), kind: SddlErrorKind::Build(e) })
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
