//! Access control entries ([`Ace`]) and their parts: [`AceType`], [`AceFlags`],
//! [`AccessMask`]; and the control flags of an ACL ([`AclFlags`]).
//!
//! Layouts: [MS-DTYP] 2.4.4.1 ACE_HEADER
//! (<https://learn.microsoft.com/openspecs/windows_protocols/ms-dtyp/628ebb1d-c509-4ea0-a10f-77ef97ca4586>),
//! 2.4.4.2 ACCESS_ALLOWED_ACE (header, 4-byte mask, SID; ACCESS_DENIED_ACE and
//! SYSTEM_AUDIT_ACE are laid out the same), 2.4.5 ACL (8-byte header, revision 2).
//! Access rights: "ACCESS_MASK" (<https://learn.microsoft.com/windows/win32/secauthz/access-mask>).

use core::fmt;
use core::mem::size_of;
use core::ops::{BitOr, BitOrAssign};

use wsk_bindings as sys;

use super::Sid;

/// The access rights an ACE grants, denies or audits (`ACCESS_MASK`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AccessMask(pub u32);

impl AccessMask {
    /// `GENERIC_ALL`; SDDL `GA`.
    pub const GENERIC_ALL: Self = Self(sys::GENERIC_ALL);
    /// `GENERIC_READ`; SDDL `GR`.
    pub const GENERIC_READ: Self = Self(sys::GENERIC_READ);
    /// `GENERIC_WRITE`; SDDL `GW`.
    pub const GENERIC_WRITE: Self = Self(sys::GENERIC_WRITE);
    /// `GENERIC_EXECUTE`; SDDL `GX`.
    pub const GENERIC_EXECUTE: Self = Self(sys::GENERIC_EXECUTE);
    /// `DELETE`; SDDL `SD`.
    pub const DELETE: Self = Self(sys::DELETE);
    /// `READ_CONTROL`; SDDL `RC`.
    pub const READ_CONTROL: Self = Self(sys::READ_CONTROL);
    /// `WRITE_DAC`; SDDL `WD`.
    pub const WRITE_DAC: Self = Self(sys::WRITE_DAC);
    /// `WRITE_OWNER`; SDDL `WO`.
    pub const WRITE_OWNER: Self = Self(sys::WRITE_OWNER);
    /// `SYNCHRONIZE`.
    pub const SYNCHRONIZE: Self = Self(sys::SYNCHRONIZE);
    /// `FILE_ALL_ACCESS`; SDDL `FA`.
    pub const FILE_ALL_ACCESS: Self = Self(sys::FILE_ALL_ACCESS);
    /// `FILE_GENERIC_READ`; SDDL `FR`.
    pub const FILE_GENERIC_READ: Self = Self(sys::FILE_GENERIC_READ);
    /// `FILE_GENERIC_WRITE`; SDDL `FW`.
    pub const FILE_GENERIC_WRITE: Self = Self(sys::FILE_GENERIC_WRITE);
    /// `FILE_GENERIC_EXECUTE`; SDDL `FX`.
    pub const FILE_GENERIC_EXECUTE: Self = Self(sys::FILE_GENERIC_EXECUTE);
    /// `KEY_ALL_ACCESS`; SDDL `KA`.
    pub const KEY_ALL_ACCESS: Self = Self(sys::KEY_ALL_ACCESS);
    /// `KEY_READ`; SDDL `KR`.
    pub const KEY_READ: Self = Self(sys::KEY_READ);
    /// `KEY_WRITE`; SDDL `KW`.
    pub const KEY_WRITE: Self = Self(sys::KEY_WRITE);
    /// `KEY_EXECUTE` (equal to `KEY_READ`); SDDL `KX`.
    pub const KEY_EXECUTE: Self = Self(sys::KEY_EXECUTE);
}

impl BitOr for AccessMask {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl BitOrAssign for AccessMask {
    fn bitor_assign(&mut self, rhs: Self) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for AccessMask {
    /// The SDDL rights string (`GA`, `FA`, `GRGW`, or `0x...`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        super::sddl::write_rights(f, *self)
    }
}

/// `ACE_HEADER.AceFlags`: inheritance and audit flags.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AceFlags(pub u8);

impl AceFlags {
    /// No flags.
    pub const NONE: Self = Self(0);
    /// `OBJECT_INHERIT_ACE`; SDDL `OI`.
    pub const OBJECT_INHERIT: Self = Self(sys::OBJECT_INHERIT_ACE);
    /// `CONTAINER_INHERIT_ACE`; SDDL `CI`.
    pub const CONTAINER_INHERIT: Self = Self(sys::CONTAINER_INHERIT_ACE);
    /// `NO_PROPAGATE_INHERIT_ACE`; SDDL `NP`.
    pub const NO_PROPAGATE_INHERIT: Self = Self(sys::NO_PROPAGATE_INHERIT_ACE);
    /// `INHERIT_ONLY_ACE`; SDDL `IO`.
    pub const INHERIT_ONLY: Self = Self(sys::INHERIT_ONLY_ACE);
    /// `INHERITED_ACE`; SDDL `ID`.
    pub const INHERITED: Self = Self(sys::INHERITED_ACE);
    /// `SUCCESSFUL_ACCESS_ACE_FLAG` (audit ACEs); SDDL `SA`.
    pub const SUCCESSFUL_ACCESS: Self = Self(sys::SUCCESSFUL_ACCESS_ACE_FLAG);
    /// `FAILED_ACCESS_ACE_FLAG` (audit ACEs); SDDL `FA`.
    pub const FAILED_ACCESS: Self = Self(sys::FAILED_ACCESS_ACE_FLAG);
    /// Every flag defined above.
    pub const ALL: Self = Self(
        sys::OBJECT_INHERIT_ACE
            | sys::CONTAINER_INHERIT_ACE
            | sys::NO_PROPAGATE_INHERIT_ACE
            | sys::INHERIT_ONLY_ACE
            | sys::INHERITED_ACE
            | sys::SUCCESSFUL_ACCESS_ACE_FLAG
            | sys::FAILED_ACCESS_ACE_FLAG,
    );

    /// Whether every flag of `other` is set. IRQL: any.
    #[must_use]
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for AceFlags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl fmt::Debug for AceFlags {
    /// The SDDL flags string (`OICI`, ...).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        super::sddl::write_ace_flags(f, *self)
    }
}

/// The ACE types this module builds and reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AceType {
    /// `ACCESS_ALLOWED_ACE_TYPE` (0); SDDL `A`. DACL only.
    AccessAllowed,
    /// `ACCESS_DENIED_ACE_TYPE` (1); SDDL `D`. DACL only.
    AccessDenied,
    /// `SYSTEM_AUDIT_ACE_TYPE` (2); SDDL `AU`. SACL only.
    SystemAudit,
}

impl AceType {
    /// The `AceType` byte. IRQL: any.
    #[must_use]
    pub const fn raw(self) -> u8 {
        match self {
            Self::AccessAllowed => sys::ACCESS_ALLOWED_ACE_TYPE,
            Self::AccessDenied => sys::ACCESS_DENIED_ACE_TYPE,
            Self::SystemAudit => sys::SYSTEM_AUDIT_ACE_TYPE,
        }
    }

    /// The type for an `AceType` byte, if supported. IRQL: any.
    #[must_use]
    pub const fn from_raw(raw: u8) -> Option<Self> {
        match raw {
            sys::ACCESS_ALLOWED_ACE_TYPE => Some(Self::AccessAllowed),
            sys::ACCESS_DENIED_ACE_TYPE => Some(Self::AccessDenied),
            sys::SYSTEM_AUDIT_ACE_TYPE => Some(Self::SystemAudit),
            _ => None,
        }
    }

    /// Whether this type belongs in a DACL (else in a SACL). IRQL: any.
    #[must_use]
    pub const fn is_discretionary(self) -> bool {
        !matches!(self, Self::SystemAudit)
    }
}

/// One access control entry: a type, flags, an access mask and a trustee.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ace {
    /// Allowed, denied or audited.
    pub ace_type: AceType,
    /// Inheritance and audit flags.
    pub flags: AceFlags,
    /// The rights.
    pub mask: AccessMask,
    /// The trustee.
    pub sid: Sid,
}

/// Size of the fixed part of an ACE (header and mask) before its SID.
pub(crate) const ACE_FIXED: usize = core::mem::offset_of!(sys::ACCESS_ALLOWED_ACE, SidStart);
/// Size of an ACL header.
pub(crate) const ACL_HEADER: usize = size_of::<sys::_ACL>();

impl Ace {
    /// An access-allowed ACE without flags. IRQL: any.
    #[must_use]
    pub const fn allow(mask: AccessMask, sid: Sid) -> Self {
        Self {
            ace_type: AceType::AccessAllowed,
            flags: AceFlags::NONE,
            mask,
            sid,
        }
    }

    /// An access-denied ACE without flags. IRQL: any.
    #[must_use]
    pub const fn deny(mask: AccessMask, sid: Sid) -> Self {
        Self {
            ace_type: AceType::AccessDenied,
            flags: AceFlags::NONE,
            mask,
            sid,
        }
    }

    /// A system-audit ACE; `flags` usually holds `SUCCESSFUL_ACCESS` and/or `FAILED_ACCESS`.
    /// IRQL: any.
    #[must_use]
    pub const fn audit(flags: AceFlags, mask: AccessMask, sid: Sid) -> Self {
        Self {
            ace_type: AceType::SystemAudit,
            flags,
            mask,
            sid,
        }
    }

    /// The same ACE with `flags`. IRQL: any.
    #[must_use]
    pub const fn with_flags(self, flags: AceFlags) -> Self {
        Self { flags, ..self }
    }

    /// The size of the binary form (`AceSize`). IRQL: any.
    #[must_use]
    pub const fn encoded_len(&self) -> usize {
        // At most 8 + 68: no overflow.
        ACE_FIXED.saturating_add(self.sid.encoded_len())
    }

    /// Writes the binary form into `out`; `None` when `out` is too short. IRQL: any.
    pub(crate) fn encode(&self, out: &mut [u8]) -> Option<usize> {
        let len = self.encoded_len();
        let size = u16::try_from(len).ok()?;
        let out = out.get_mut(..len)?;
        let (fixed, sid) = out.split_at_mut(ACE_FIXED);
        let [s0, s1] = size.to_le_bytes();
        let [m0, m1, m2, m3] = self.mask.0.to_le_bytes();
        fixed.copy_from_slice(&[self.ace_type.raw(), self.flags.0, s0, s1, m0, m1, m2, m3]);
        self.sid.encode(sid)?;
        Some(len)
    }
}

/// ACL control flags, stored in the security descriptor's `Control` (per ACL).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AclFlags(u8);

impl AclFlags {
    /// No flags.
    pub const NONE: Self = Self(0);
    /// `SE_DACL_PROTECTED` / `SE_SACL_PROTECTED`: no inherited ACEs; SDDL `P`.
    pub const PROTECTED: Self = Self(1);
    /// `SE_DACL_AUTO_INHERIT_REQ` / `SE_SACL_AUTO_INHERIT_REQ`; SDDL `AR`.
    pub const AUTO_INHERIT_REQ: Self = Self(2);
    /// `SE_DACL_AUTO_INHERITED` / `SE_SACL_AUTO_INHERITED`; SDDL `AI`.
    pub const AUTO_INHERITED: Self = Self(4);

    /// Whether every flag of `other` is set. IRQL: any.
    #[must_use]
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The `SECURITY_DESCRIPTOR_CONTROL` bits for a DACL (`dacl`) or SACL. IRQL: any.
    #[must_use]
    pub(crate) const fn control(self, dacl: bool) -> u16 {
        let (p, ar, ai) = if dacl {
            (
                sys::SE_DACL_PROTECTED,
                sys::SE_DACL_AUTO_INHERIT_REQ,
                sys::SE_DACL_AUTO_INHERITED,
            )
        } else {
            (
                sys::SE_SACL_PROTECTED,
                sys::SE_SACL_AUTO_INHERIT_REQ,
                sys::SE_SACL_AUTO_INHERITED,
            )
        };
        let mut bits = 0;
        if self.contains(Self::PROTECTED) {
            bits |= p;
        }
        if self.contains(Self::AUTO_INHERIT_REQ) {
            bits |= ar;
        }
        if self.contains(Self::AUTO_INHERITED) {
            bits |= ai;
        }
        bits
    }

    /// The flags of a DACL (`dacl`) or SACL from a `Control` word. IRQL: any.
    #[must_use]
    pub(crate) const fn from_control(control: u16, dacl: bool) -> Self {
        let mut flags = 0;
        if control & Self::PROTECTED.control(dacl) != 0 {
            flags |= Self::PROTECTED.0;
        }
        if control & Self::AUTO_INHERIT_REQ.control(dacl) != 0 {
            flags |= Self::AUTO_INHERIT_REQ.0;
        }
        if control & Self::AUTO_INHERITED.control(dacl) != 0 {
            flags |= Self::AUTO_INHERITED.0;
        }
        Self(flags)
    }
}

impl BitOr for AclFlags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl fmt::Debug for AclFlags {
    /// The SDDL flags string (`P`, `PAI`, ...).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        super::sddl::write_acl_flags(f, *self)
    }
}
