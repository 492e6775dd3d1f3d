//! Self-relative security descriptors: a builder writing into a caller's buffer
//! ([`SecurityDescriptorBuilder`], [`SecurityDescriptorBuf`]) and a validated view
//! ([`SecurityDescriptor`]).
//!
//! Layout: [MS-DTYP] 2.4.6 SECURITY_DESCRIPTOR
//! (<https://learn.microsoft.com/openspecs/windows_protocols/ms-dtyp/7d4dac05-9cef-4563-a058-f108abecce1d>):
//! `Revision` (1), `Sbz1` (0), `Control` (u16, `SE_SELF_RELATIVE` set), then the offsets of the
//! owner SID, group SID, SACL and DACL (u32 each, 0 when absent): 20 bytes
//! (`SECURITY_DESCRIPTOR_RELATIVE`, the same on x64), all little-endian. Components are placed
//! like Windows places them ([MS-DTYP] 2.5.1.4): SACL, DACL, owner, group. Every part is a
//! multiple of 4 bytes, so every offset is 4-aligned.

use core::fmt;
use core::mem::{offset_of, size_of};

use wsk_bindings as sys;

use super::ace::{ACE_FIXED, ACL_HEADER};
use super::{AccessMask, Ace, AceFlags, AceType, AclFlags, Sid, SidError};

/// Size of the fixed part (`SECURITY_DESCRIPTOR_RELATIVE`).
pub const HEADER_LEN: usize = size_of::<sys::SECURITY_DESCRIPTOR_RELATIVE>();
const OWNER_AT: usize = offset_of!(sys::SECURITY_DESCRIPTOR_RELATIVE, Owner);
const GROUP_AT: usize = offset_of!(sys::SECURITY_DESCRIPTOR_RELATIVE, Group);
const SACL_AT: usize = offset_of!(sys::SECURITY_DESCRIPTOR_RELATIVE, Sacl);
const DACL_AT: usize = offset_of!(sys::SECURITY_DESCRIPTOR_RELATIVE, Dacl);

/// The `Control` bits this module writes and accepts.
const SUPPORTED_CONTROL: u16 = sys::SE_SELF_RELATIVE
    | sys::SE_DACL_PRESENT
    | sys::SE_SACL_PRESENT
    | sys::SE_DACL_PROTECTED
    | sys::SE_SACL_PROTECTED
    | sys::SE_DACL_AUTO_INHERIT_REQ
    | sys::SE_SACL_AUTO_INHERIT_REQ
    | sys::SE_DACL_AUTO_INHERITED
    | sys::SE_SACL_AUTO_INHERITED;

/// Why a security descriptor could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// The buffer cannot hold the descriptor.
    BufferTooSmall,
    /// The owner, group, DACL or SACL was given twice.
    Duplicate(Component),
    /// An ACE was added while no ACL was open (call `dacl` or `sacl` first).
    NoOpenAcl,
    /// An audit ACE in a DACL, or an allow/deny ACE in a SACL.
    WrongAclForAce,
    /// ACE flags outside [`AceFlags::ALL`].
    UnknownAceFlags,
    /// An ACL larger than 65535 bytes or with more than 65535 ACEs.
    AclTooLarge,
}

/// The four parts of a security descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    /// `O:`
    Owner,
    /// `G:`
    Group,
    /// `D:`
    Dacl,
    /// `S:`
    Sacl,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferTooSmall => {
                f.write_str("the buffer is too small for the security descriptor")
            }
            Self::Duplicate(c) => write!(f, "{c:?} given twice"),
            Self::NoOpenAcl => f.write_str("an ACE needs an open DACL or SACL"),
            Self::WrongAclForAce => {
                f.write_str("allow/deny ACEs go in the DACL, audit ACEs in the SACL")
            }
            Self::UnknownAceFlags => f.write_str("unknown ACE flags"),
            Self::AclTooLarge => f.write_str("the ACL exceeds 65535 bytes or ACEs"),
        }
    }
}

/// Why bytes are not a security descriptor this module accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LayoutError {
    /// Shorter than the 20-byte header, or a part extends past the end.
    Truncated,
    /// `Revision` is not 1 or `Sbz1` is not 0.
    Revision,
    /// `SE_SELF_RELATIVE` is not set.
    NotSelfRelative,
    /// `Control` has bits outside those SDDL can express (defaulted flags, RM control), or
    /// ACL flags without the ACL.
    UnsupportedControl,
    /// An offset points into the header, past the end or is not 4-aligned.
    Offset,
    /// A present DACL/SACL with offset 0 (a NULL ACL), or an offset without the present bit.
    NullAcl,
    /// A SID is malformed.
    Sid(SidError),
    /// An ACL's revision is not 2, its reserved fields are not 0, or its size is wrong.
    AclHeader,
    /// An ACE's size is inconsistent with its SID or its ACL.
    AceSize,
    /// An ACE type other than allowed/denied (DACL) or audit (SACL).
    AceType,
    /// ACE flags outside [`AceFlags::ALL`].
    AceFlags,
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("truncated security descriptor"),
            Self::Revision => f.write_str("security descriptor revision is not 1"),
            Self::NotSelfRelative => f.write_str("not a self-relative security descriptor"),
            Self::UnsupportedControl => f.write_str("unsupported control flags"),
            Self::Offset => f.write_str("invalid component offset"),
            Self::NullAcl => f.write_str("NULL ACLs are not supported"),
            Self::Sid(e) => write!(f, "invalid SID: {e}"),
            Self::AclHeader => f.write_str("invalid ACL header"),
            Self::AceSize => f.write_str("invalid ACE size"),
            Self::AceType => f.write_str("unsupported ACE type for this ACL"),
            Self::AceFlags => f.write_str("unknown ACE flags"),
        }
    }
}

/// A fixed-capacity, 8-aligned buffer for a self-relative security descriptor.
///
/// # Examples
/// ```
/// use wsk::security::{AccessMask, Sid, SecurityDescriptorBuf, AclFlags};
/// let mut buf = SecurityDescriptorBuf::<128>::new();
/// let sd = buf
///     .builder()
///     .dacl(AclFlags::PROTECTED)
///     .allow(AccessMask::GENERIC_ALL, Sid::LOCAL_SYSTEM)
///     .finish()
///     .unwrap();
/// assert_eq!(sd.len(), 20 + 8 + 20);
/// ```
#[repr(C, align(8))]
pub struct SecurityDescriptorBuf<const N: usize>([u8; N]);

impl<const N: usize> SecurityDescriptorBuf<N> {
    /// A zeroed buffer. IRQL: any.
    #[must_use]
    pub const fn new() -> Self {
        Self([0; N])
    }

    /// A builder writing into this buffer. IRQL: any.
    pub fn builder(&mut self) -> SecurityDescriptorBuilder<'_> {
        SecurityDescriptorBuilder::new(&mut self.0)
    }

    /// Parses `sddl` (see [`super::parse_sddl`]) into this buffer. IRQL: any.
    ///
    /// # Errors
    /// The position and reason of the first rejected character, or a build error.
    pub fn from_sddl(&mut self, sddl: &str) -> Result<SecurityDescriptor<'_>, super::SddlError> {
        super::parse_sddl(sddl, &mut self.0)
    }
}

impl<const N: usize> Default for SecurityDescriptorBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Open {
    None,
    Acl {
        dacl: bool,
        start: usize,
        count: u16,
    },
}

/// Writes a self-relative security descriptor into a caller's buffer, without allocating.
///
/// Calls chain by value; the first error is kept and returned by [`finish`](Self::finish),
/// later calls do nothing. ACEs go into the ACL opened last by [`dacl`](Self::dacl) or
/// [`sacl`](Self::sacl); each part may be given once.
#[must_use]
pub struct SecurityDescriptorBuilder<'b> {
    buf: &'b mut [u8],
    len: usize,
    control: u16,
    offsets: [u32; 4],
    open: Open,
    error: Option<BuildError>,
}

impl<'b> SecurityDescriptorBuilder<'b> {
    /// Starts a descriptor at the beginning of `buf`. For use with the kernel, `buf` should be
    /// 4-aligned ([`SecurityDescriptorBuf`] is). IRQL: any.
    pub fn new(buf: &'b mut [u8]) -> Self {
        let error = match buf.get_mut(..HEADER_LEN) {
            Some(header) => {
                header.fill(0);
                None
            }
            None => Some(BuildError::BufferTooSmall),
        };
        Self {
            buf,
            len: HEADER_LEN,
            control: sys::SE_SELF_RELATIVE,
            offsets: [0; 4],
            open: Open::None,
            error,
        }
    }

    fn fail(&mut self, e: BuildError) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    /// Reserves `n` bytes at the end; returns their offset.
    fn reserve(&mut self, n: usize) -> Result<(usize, &mut [u8]), BuildError> {
        let start = self.len;
        let end = start.checked_add(n).ok_or(BuildError::BufferTooSmall)?;
        let room = self
            .buf
            .get_mut(start..end)
            .ok_or(BuildError::BufferTooSmall)?;
        self.len = end;
        Ok((start, room))
    }

    /// Ends the open ACL: writes its size and ACE count.
    fn close_acl(&mut self) -> Result<(), BuildError> {
        if let Open::Acl { start, count, .. } = self.open {
            self.open = Open::None;
            let size = u16::try_from(self.len.saturating_sub(start))
                .map_err(|_| BuildError::AclTooLarge)?;
            let header = self
                .buf
                .get_mut(start..start.saturating_add(ACL_HEADER))
                .ok_or(BuildError::BufferTooSmall)?;
            let [s0, s1] = size.to_le_bytes();
            let [c0, c1] = count.to_le_bytes();
            header.copy_from_slice(&[sys::ACL_REVISION, 0, s0, s1, c0, c1, 0, 0]);
        }
        Ok(())
    }

    fn slot(c: Component) -> usize {
        match c {
            Component::Owner => 0,
            Component::Group => 1,
            Component::Sacl => 2,
            Component::Dacl => 3,
        }
    }

    fn set_offset(&mut self, c: Component, offset: usize) -> Result<(), BuildError> {
        let offset = u32::try_from(offset).map_err(|_| BuildError::BufferTooSmall)?;
        let slot = self
            .offsets
            .get_mut(Self::slot(c))
            .ok_or(BuildError::Duplicate(c))?;
        if *slot != 0 {
            return Err(BuildError::Duplicate(c));
        }
        *slot = offset;
        Ok(())
    }

    fn is_set(&self, c: Component) -> bool {
        self.offsets.get(Self::slot(c)).is_some_and(|o| *o != 0)
    }

    fn step(mut self, f: impl FnOnce(&mut Self) -> Result<(), BuildError>) -> Self {
        if self.error.is_none() {
            if let Err(e) = f(&mut self) {
                self.fail(e);
            }
        }
        self
    }

    fn sid(self, c: Component, sid: Sid) -> Self {
        self.step(|b| {
            b.close_acl()?;
            if b.is_set(c) {
                return Err(BuildError::Duplicate(c));
            }
            let (at, room) = b.reserve(sid.encoded_len())?;
            sid.encode(room).ok_or(BuildError::BufferTooSmall)?;
            b.set_offset(c, at)
        })
    }

    /// Sets the owner SID (`O:`). IRQL: any.
    pub fn owner(self, sid: Sid) -> Self {
        self.sid(Component::Owner, sid)
    }

    /// Sets the primary group SID (`G:`). IRQL: any.
    pub fn group(self, sid: Sid) -> Self {
        self.sid(Component::Group, sid)
    }

    fn acl(self, dacl: bool, flags: AclFlags) -> Self {
        self.step(|b| {
            b.close_acl()?;
            let c = if dacl {
                Component::Dacl
            } else {
                Component::Sacl
            };
            if b.is_set(c) {
                return Err(BuildError::Duplicate(c));
            }
            let (at, room) = b.reserve(ACL_HEADER)?;
            room.fill(0);
            b.set_offset(c, at)?;
            b.control |= flags.control(dacl)
                | if dacl {
                    sys::SE_DACL_PRESENT
                } else {
                    sys::SE_SACL_PRESENT
                };
            b.open = Open::Acl {
                dacl,
                start: at,
                count: 0,
            };
            Ok(())
        })
    }

    /// Opens the DACL (`D:` with `flags`); the following ACEs go into it. No ACE makes an
    /// empty DACL, which denies everyone. IRQL: any.
    pub fn dacl(self, flags: AclFlags) -> Self {
        self.acl(true, flags)
    }

    /// Opens the SACL (`S:` with `flags`); the following (audit) ACEs go into it. IRQL: any.
    pub fn sacl(self, flags: AclFlags) -> Self {
        self.acl(false, flags)
    }

    /// Appends `ace` to the open ACL. IRQL: any.
    pub fn ace(self, ace: Ace) -> Self {
        self.step(|b| {
            let Open::Acl { dacl, start, count } = b.open else {
                return Err(BuildError::NoOpenAcl);
            };
            if ace.ace_type.is_discretionary() != dacl {
                return Err(BuildError::WrongAclForAce);
            }
            if !AceFlags::ALL.contains(ace.flags) {
                return Err(BuildError::UnknownAceFlags);
            }
            let count = count.checked_add(1).ok_or(BuildError::AclTooLarge)?;
            let (_, room) = b.reserve(ace.encoded_len())?;
            ace.encode(room).ok_or(BuildError::BufferTooSmall)?;
            if b.len.saturating_sub(start) > usize::from(u16::MAX) {
                return Err(BuildError::AclTooLarge);
            }
            b.open = Open::Acl { dacl, start, count };
            Ok(())
        })
    }

    /// Appends an access-allowed ACE without flags. IRQL: any.
    pub fn allow(self, mask: AccessMask, sid: Sid) -> Self {
        self.ace(Ace::allow(mask, sid))
    }

    /// Appends an access-denied ACE without flags. IRQL: any.
    pub fn deny(self, mask: AccessMask, sid: Sid) -> Self {
        self.ace(Ace::deny(mask, sid))
    }

    /// Writes the header and returns the validated descriptor. IRQL: any.
    ///
    /// # Errors
    /// The first [`BuildError`] of the chain.
    pub fn finish(mut self) -> Result<SecurityDescriptor<'b>, BuildError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.close_acl()?;
        let [c0, c1] = self.control.to_le_bytes();
        let header = self
            .buf
            .get_mut(..HEADER_LEN)
            .ok_or(BuildError::BufferTooSmall)?;
        let (fixed, offsets) = header.split_at_mut(OWNER_AT);
        fixed.copy_from_slice(&[sys::SECURITY_DESCRIPTOR_REVISION, 0, c0, c1]);
        for (chunk, offset) in offsets.chunks_exact_mut(size_of::<u32>()).zip(self.offsets) {
            chunk.copy_from_slice(&offset.to_le_bytes());
        }
        let len = self.len;
        let buf: &'b [u8] = self.buf;
        let bytes = buf.get(..len).ok_or(BuildError::BufferTooSmall)?;
        // What we wrote is valid by construction; checking again costs little and keeps the
        // view's invariant in one place.
        SecurityDescriptor::from_bytes(bytes).map_err(|_| BuildError::BufferTooSmall)
    }
}

/// A validated self-relative security descriptor in borrowed bytes.
///
/// # Invariants
/// `bytes` passed [`SecurityDescriptor::from_bytes`] and ends where its last part ends.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SecurityDescriptor<'a> {
    bytes: &'a [u8],
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([*b.first()?, *b.get(1)?]))
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    let mut le = [0u8; 4];
    le.copy_from_slice(b);
    Some(u32::from_le_bytes(le))
}

/// A component offset: 0 (absent) or 4-aligned, past the header and inside `len`.
fn offset(bytes: &[u8], field: usize) -> Result<Option<usize>, LayoutError> {
    let raw = read_u32(bytes, field).ok_or(LayoutError::Truncated)?;
    if raw == 0 {
        return Ok(None);
    }
    let at = usize::try_from(raw).map_err(|_| LayoutError::Offset)?;
    if at < HEADER_LEN || at >= bytes.len() || at % 4 != 0 {
        return Err(LayoutError::Offset);
    }
    Ok(Some(at))
}

/// Validates the ACL at `at`; returns where it ends.
fn check_acl(bytes: &[u8], at: usize, dacl: bool) -> Result<usize, LayoutError> {
    let header = bytes
        .get(at..at.saturating_add(ACL_HEADER))
        .ok_or(LayoutError::Truncated)?;
    let [revision, sbz1, s0, s1, c0, c1, z0, z1] =
        <[u8; 8]>::try_from(header).map_err(|_| LayoutError::Truncated)?;
    let size = usize::from(u16::from_le_bytes([s0, s1]));
    let count = u16::from_le_bytes([c0, c1]);
    if revision != sys::ACL_REVISION
        || sbz1 != 0
        || z0 != 0
        || z1 != 0
        || size < ACL_HEADER
        || size % 4 != 0
    {
        return Err(LayoutError::AclHeader);
    }
    let end = at.checked_add(size).ok_or(LayoutError::Truncated)?;
    let acl = bytes.get(at..end).ok_or(LayoutError::Truncated)?;
    let mut pos = ACL_HEADER;
    for _ in 0..count {
        let ace_type = *acl.get(pos).ok_or(LayoutError::AceSize)?;
        let flags = *acl.get(pos.saturating_add(1)).ok_or(LayoutError::AceSize)?;
        let ace_size =
            usize::from(read_u16(acl, pos.saturating_add(2)).ok_or(LayoutError::AceSize)?);
        let ace_type = AceType::from_raw(ace_type).ok_or(LayoutError::AceType)?;
        if ace_type.is_discretionary() != dacl {
            return Err(LayoutError::AceType);
        }
        if !AceFlags::ALL.contains(AceFlags(flags)) {
            return Err(LayoutError::AceFlags);
        }
        let ace_end = pos.checked_add(ace_size).ok_or(LayoutError::AceSize)?;
        let sid_bytes = acl
            .get(pos.saturating_add(ACE_FIXED)..ace_end)
            .ok_or(LayoutError::AceSize)?;
        let (_, sid_len) = Sid::decode(sid_bytes).map_err(|e| match e {
            SidError::Truncated => LayoutError::AceSize,
            e => LayoutError::Sid(e),
        })?;
        if sid_len != sid_bytes.len() {
            return Err(LayoutError::AceSize);
        }
        pos = ace_end;
    }
    if pos != size {
        return Err(LayoutError::AclHeader);
    }
    Ok(end)
}

impl<'a> SecurityDescriptor<'a> {
    /// Validates `bytes` as a self-relative security descriptor of the kinds this module
    /// builds: revision 1, owner/group SIDs, DACL/SACL of revision 2 with allowed/denied
    /// (DACL) or audit (SACL) ACEs, control flags SDDL can express; every offset in bounds and
    /// 4-aligned, every size consistent. Bytes past the last part are not part of the view.
    /// IRQL: any.
    ///
    /// # Errors
    /// The first [`LayoutError`] found.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, LayoutError> {
        let header = bytes.get(..HEADER_LEN).ok_or(LayoutError::Truncated)?;
        if header.first() != Some(&sys::SECURITY_DESCRIPTOR_REVISION) || header.get(1) != Some(&0) {
            return Err(LayoutError::Revision);
        }
        let control = read_u16(header, 2).ok_or(LayoutError::Truncated)?;
        if control & sys::SE_SELF_RELATIVE == 0 {
            return Err(LayoutError::NotSelfRelative);
        }
        if control & !SUPPORTED_CONTROL != 0 {
            return Err(LayoutError::UnsupportedControl);
        }
        let mut end = HEADER_LEN;
        for field in [OWNER_AT, GROUP_AT] {
            if let Some(at) = offset(bytes, field)? {
                let tail = bytes.get(at..).ok_or(LayoutError::Offset)?;
                let (_, len) = Sid::decode(tail).map_err(|e| {
                    if e == SidError::Truncated {
                        LayoutError::Truncated
                    } else {
                        LayoutError::Sid(e)
                    }
                })?;
                end = end.max(at.saturating_add(len));
            }
        }
        for (field, present, dacl) in [
            (SACL_AT, sys::SE_SACL_PRESENT, false),
            (DACL_AT, sys::SE_DACL_PRESENT, true),
        ] {
            let flags = AclFlags::from_control(control, dacl);
            match (offset(bytes, field)?, control & present != 0) {
                (Some(at), true) => end = end.max(check_acl(bytes, at, dacl)?),
                (None, false) if flags == AclFlags::NONE => {}
                (None, false) => return Err(LayoutError::UnsupportedControl),
                _ => return Err(LayoutError::NullAcl),
            }
        }
        let bytes = bytes.get(..end).ok_or(LayoutError::Truncated)?;
        // INVARIANT: validated above; `bytes` ends with the last part.
        Ok(Self { bytes })
    }

    /// The descriptor's bytes (self-relative). IRQL: any.
    #[must_use]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The descriptor's length in bytes. IRQL: any.
    #[must_use]
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Never true: a descriptor has at least its 20-byte header. IRQL: any.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The `Control` word (`SE_SELF_RELATIVE`, `SE_DACL_PRESENT`, ...). IRQL: any.
    #[must_use]
    pub fn control(&self) -> u16 {
        read_u16(self.bytes, 2).unwrap_or(0)
    }

    fn sid_at(&self, field: usize) -> Option<Sid> {
        let at = usize::try_from(read_u32(self.bytes, field)?)
            .ok()
            .filter(|at| *at != 0)?;
        Sid::decode(self.bytes.get(at..)?).ok().map(|(sid, _)| sid)
    }

    /// The owner SID (`O:`). IRQL: any.
    #[must_use]
    pub fn owner(&self) -> Option<Sid> {
        self.sid_at(OWNER_AT)
    }

    /// The primary group SID (`G:`). IRQL: any.
    #[must_use]
    pub fn group(&self) -> Option<Sid> {
        self.sid_at(GROUP_AT)
    }

    fn acl_at(&self, field: usize, dacl: bool) -> Option<Acl<'a>> {
        let at = usize::try_from(read_u32(self.bytes, field)?)
            .ok()
            .filter(|at| *at != 0)?;
        let size = usize::from(read_u16(self.bytes, at.checked_add(2)?)?);
        let count = read_u16(self.bytes, at.checked_add(4)?)?;
        let bytes = self.bytes.get(at..at.checked_add(size)?)?;
        Some(Acl {
            bytes,
            count,
            flags: AclFlags::from_control(self.control(), dacl),
        })
    }

    /// The DACL (`D:`), if present. IRQL: any.
    #[must_use]
    pub fn dacl(&self) -> Option<Acl<'a>> {
        self.acl_at(DACL_AT, true)
    }

    /// The SACL (`S:`), if present. IRQL: any.
    #[must_use]
    pub fn sacl(&self) -> Option<Acl<'a>> {
        self.acl_at(SACL_AT, false)
    }

    /// The SDDL form, for `Display` (`O:..G:..D:..S:..`). IRQL: any.
    #[must_use]
    pub fn sddl(&self) -> super::Sddl<'a> {
        super::Sddl(*self)
    }
}

impl fmt::Debug for SecurityDescriptor<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecurityDescriptor({})", self.sddl())
    }
}

/// A validated ACL inside a [`SecurityDescriptor`].
#[derive(Clone, Copy)]
pub struct Acl<'a> {
    bytes: &'a [u8],
    count: u16,
    flags: AclFlags,
}

impl<'a> Acl<'a> {
    /// The ACL's flags (from the descriptor's `Control`). IRQL: any.
    #[must_use]
    pub fn flags(&self) -> AclFlags {
        self.flags
    }

    /// The number of ACEs. IRQL: any.
    #[must_use]
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    /// Whether the ACL has no ACE. IRQL: any.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The ACEs, in order. IRQL: any.
    #[must_use]
    pub fn aces(&self) -> AceIter<'a> {
        AceIter {
            bytes: self.bytes,
            pos: ACL_HEADER,
            left: self.count,
        }
    }
}

/// Iterator over the ACEs of an [`Acl`].
pub struct AceIter<'a> {
    bytes: &'a [u8],
    pos: usize,
    left: u16,
}

impl Iterator for AceIter<'_> {
    type Item = Ace;

    fn next(&mut self) -> Option<Ace> {
        self.left = self.left.checked_sub(1)?;
        let fixed = self.bytes.get(self.pos..self.pos.checked_add(ACE_FIXED)?)?;
        let ace_type = AceType::from_raw(*fixed.first()?)?;
        let flags = AceFlags(*fixed.get(1)?);
        let size = usize::from(read_u16(fixed, 2)?);
        let mask = AccessMask(read_u32(fixed, 4)?);
        let (sid, _) = Sid::decode(self.bytes.get(self.pos.checked_add(ACE_FIXED)?..)?).ok()?;
        self.pos = self.pos.checked_add(size)?;
        Some(Ace {
            ace_type,
            flags,
            mask,
            sid,
        })
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::*;

    #[test]
    fn header_is_twenty_bytes() {
        assert_eq!(HEADER_LEN, 20);
        assert_eq!((OWNER_AT, GROUP_AT, SACL_AT, DACL_AT), (4, 8, 12, 16));
        assert_eq!(ACE_FIXED, 8);
        assert_eq!(ACL_HEADER, 8);
    }

    #[test]
    fn builder_errors() {
        let mut tiny = [0u8; 19];
        assert_eq!(
            SecurityDescriptorBuilder::new(&mut tiny).finish().err(),
            Some(BuildError::BufferTooSmall)
        );
        let mut buf = SecurityDescriptorBuf::<256>::new();
        assert_eq!(
            buf.builder()
                .allow(AccessMask::GENERIC_ALL, Sid::EVERYONE)
                .finish()
                .err(),
            Some(BuildError::NoOpenAcl)
        );
        assert_eq!(
            buf.builder()
                .owner(Sid::EVERYONE)
                .owner(Sid::EVERYONE)
                .finish()
                .err(),
            Some(BuildError::Duplicate(Component::Owner))
        );
        assert_eq!(
            buf.builder()
                .group(Sid::EVERYONE)
                .group(Sid::EVERYONE)
                .finish()
                .err(),
            Some(BuildError::Duplicate(Component::Group))
        );
        assert_eq!(
            buf.builder()
                .dacl(AclFlags::NONE)
                .dacl(AclFlags::NONE)
                .finish()
                .err(),
            Some(BuildError::Duplicate(Component::Dacl))
        );
        assert_eq!(
            buf.builder()
                .sacl(AclFlags::NONE)
                .sacl(AclFlags::NONE)
                .finish()
                .err(),
            Some(BuildError::Duplicate(Component::Sacl))
        );
        let audit = Ace::audit(
            AceFlags::FAILED_ACCESS,
            AccessMask::GENERIC_READ,
            Sid::EVERYONE,
        );
        assert_eq!(
            buf.builder().dacl(AclFlags::NONE).ace(audit).finish().err(),
            Some(BuildError::WrongAclForAce)
        );
        assert_eq!(
            buf.builder()
                .sacl(AclFlags::NONE)
                .allow(AccessMask::GENERIC_ALL, Sid::EVERYONE)
                .finish()
                .err(),
            Some(BuildError::WrongAclForAce)
        );
        let odd = Ace::allow(AccessMask::GENERIC_ALL, Sid::EVERYONE).with_flags(AceFlags(0x20));
        assert_eq!(
            buf.builder().dacl(AclFlags::NONE).ace(odd).finish().err(),
            Some(BuildError::UnknownAceFlags)
        );
        // ACEs after an owner do not reopen the closed DACL.
        assert_eq!(
            buf.builder()
                .dacl(AclFlags::NONE)
                .owner(Sid::EVERYONE)
                .allow(AccessMask::GENERIC_ALL, Sid::EVERYONE)
                .finish()
                .err(),
            Some(BuildError::NoOpenAcl)
        );
        let mut small = SecurityDescriptorBuf::<47>::new();
        assert_eq!(
            small
                .builder()
                .dacl(AclFlags::NONE)
                .allow(AccessMask::GENERIC_ALL, Sid::LOCAL_SYSTEM)
                .finish()
                .err(),
            Some(BuildError::BufferTooSmall)
        );
        let mut exact = SecurityDescriptorBuf::<48>::new();
        assert!(exact
            .builder()
            .dacl(AclFlags::NONE)
            .allow(AccessMask::GENERIC_ALL, Sid::LOCAL_SYSTEM)
            .finish()
            .is_ok());
    }

    #[test]
    fn acl_too_large() {
        let mut big = std::vec![0u8; 80_000];
        let mut b = SecurityDescriptorBuilder::new(&mut big).dacl(AclFlags::NONE);
        for _ in 0..3300 {
            b = b.allow(AccessMask::GENERIC_ALL, Sid::LOCAL_SYSTEM);
        }
        assert_eq!(b.finish().err(), Some(BuildError::AclTooLarge));
    }

    #[test]
    fn empty_descriptor() {
        let mut buf = SecurityDescriptorBuf::<32>::new();
        let sd = buf.builder().finish().unwrap();
        assert_eq!(
            sd.as_bytes(),
            &[1, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!((sd.owner(), sd.group()), (None, None));
        assert!(sd.dacl().is_none() && sd.sacl().is_none());
    }

    fn valid() -> Vec<u8> {
        let mut buf = SecurityDescriptorBuf::<128>::new();
        let sd = buf
            .builder()
            .dacl(AclFlags::PROTECTED)
            .allow(AccessMask::GENERIC_ALL, Sid::LOCAL_SYSTEM)
            .owner(Sid::BUILTIN_ADMINISTRATORS)
            .finish()
            .unwrap();
        sd.as_bytes().to_vec()
    }

    #[test]
    fn layout_rejections() {
        let good = valid();
        assert!(SecurityDescriptor::from_bytes(&good).is_ok());
        // Trailing bytes are not part of the view.
        let mut longer = good.clone();
        longer.extend_from_slice(&[0xAA; 8]);
        assert_eq!(
            SecurityDescriptor::from_bytes(&longer).unwrap().len(),
            good.len()
        );

        let mutate = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = good.clone();
            f(&mut b);
            SecurityDescriptor::from_bytes(&b).err()
        };
        // DACL at 20 (8-byte header + one 20-byte ACE), owner at 48.
        assert_eq!(mutate(&|b| b.truncate(19)), Some(LayoutError::Truncated));
        assert_eq!(mutate(&|b| b[0] = 2), Some(LayoutError::Revision));
        assert_eq!(mutate(&|b| b[1] = 1), Some(LayoutError::Revision));
        assert_eq!(
            mutate(&|b| b[3] &= 0x7F),
            Some(LayoutError::NotSelfRelative)
        );
        assert_eq!(
            mutate(&|b| b[2] |= 0x01),
            Some(LayoutError::UnsupportedControl)
        );
        assert_eq!(
            mutate(&|b| b[3] |= 0x20),
            Some(LayoutError::UnsupportedControl)
        );
        assert_eq!(mutate(&|b| b[4] = 2), Some(LayoutError::Offset));
        assert_eq!(mutate(&|b| b[4] = 49), Some(LayoutError::Offset));
        assert_eq!(mutate(&|b| b[4] = 200), Some(LayoutError::Offset));
        assert_eq!(mutate(&|b| b[16] = 0), Some(LayoutError::NullAcl));
        assert_eq!(mutate(&|b| b[2] &= !0x04), Some(LayoutError::NullAcl));
        assert_eq!(mutate(&|b| b[20] = 4), Some(LayoutError::AclHeader));
        assert_eq!(mutate(&|b| b[21] = 1), Some(LayoutError::AclHeader));
        assert_eq!(mutate(&|b| b[22] = 30), Some(LayoutError::AclHeader));
        assert_eq!(mutate(&|b| b[22] = 32), Some(LayoutError::AclHeader));
        assert_eq!(mutate(&|b| b[24] = 2), Some(LayoutError::AceSize));
        assert_eq!(mutate(&|b| b[24] = 0), Some(LayoutError::AclHeader));
        assert_eq!(mutate(&|b| b[28] = 2), Some(LayoutError::AceType));
        assert_eq!(mutate(&|b| b[28] = 5), Some(LayoutError::AceType));
        assert_eq!(mutate(&|b| b[29] = 0x20), Some(LayoutError::AceFlags));
        assert_eq!(mutate(&|b| b[30] = 24), Some(LayoutError::AceSize));
        assert_eq!(
            mutate(&|b| b[36] = 3),
            Some(LayoutError::Sid(SidError::Revision))
        );
        assert_eq!(
            mutate(&|b| b[48] = 3),
            Some(LayoutError::Sid(SidError::Revision))
        );
        assert_eq!(mutate(&|b| b[49] = 3), Some(LayoutError::Truncated));
    }
}
