//! Security descriptors for sockets: build them (SIDs, ACEs, ACLs, or SDDL), have WSK cache
//! them, and apply them to sockets.
//!
//! # Pure part (any IRQL, no allocation, never panics; tested on the host)
//! - [`Sid`]: revision-1 security identifiers, well-known constants (`Sid::LOCAL_SYSTEM`,
//!   `Sid::BUILTIN_ADMINISTRATORS`, ...), `S-1-...` parsing and formatting.
//! - [`Ace`], [`AceType`], [`AceFlags`], [`AccessMask`], [`AclFlags`].
//! - [`SecurityDescriptorBuilder`] writes a self-relative `SECURITY_DESCRIPTOR` into a
//!   caller's buffer (for instance a [`SecurityDescriptorBuf`]) and returns a validated
//!   [`SecurityDescriptor`] view, which [`SecurityDescriptor::from_bytes`] also checks.
//! - [`parse_sddl`] parses the SDDL subset drivers use (`O:`, `G:`, `D:P`, `S:`, `(A;OICI;GA;;;SY)`,
//!   ...) into the builder and rejects the rest with a position and a reason
//!   ([`SddlError`]); [`SecurityDescriptor::sddl`] formats one back.
//!
//! # Kernel part (PASSIVE_LEVEL)
//! - [`CachedSecurityDescriptor`]: a copy cached by WSK (`WskControlClient`, `WSK_CACHE_SD`),
//!   released (`WSK_RELEASE_SD`) when dropped. It is what `WskSocket`, `WskSocketConnect`
//!   and `SO_WSK_SECURITY` take; a socket's descriptor controls who may share its local
//!   address.
//!
//! # Examples
//! ```
//! use wsk::security::{parse_sddl, AccessMask, AclFlags, SecurityDescriptorBuf, Sid};
//!
//! // Only Local System and the Administrators may share the address.
//! let mut from_sddl = [0u8; 128];
//! let sd = parse_sddl("D:P(A;;GA;;;SY)(A;;GA;;;BA)", &mut from_sddl)?;
//!
//! // The same, built by hand.
//! let mut buf = SecurityDescriptorBuf::<128>::new();
//! let built = buf
//!     .builder()
//!     .dacl(AclFlags::PROTECTED)
//!     .allow(AccessMask::GENERIC_ALL, Sid::LOCAL_SYSTEM)
//!     .allow(AccessMask::GENERIC_ALL, Sid::BUILTIN_ADMINISTRATORS)
//!     .finish()?;
//! assert_eq!(sd.as_bytes(), built.as_bytes());
//! assert_eq!(sd.sddl().to_string(), "D:P(A;;GA;;;SY)(A;;GA;;;BA)");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! In a driver (PASSIVE_LEVEL), the bytes are then cached and handed to a socket:
//! `CachedSecurityDescriptor::new(&client, sd)?`.

mod ace;
mod cached;
mod descriptor;
mod sddl;
mod sid;

pub use ace::{AccessMask, Ace, AceFlags, AceType, AclFlags};
pub use cached::CachedSecurityDescriptor;
#[allow(unused_imports)]
pub(crate) use cached::{apply_security, socket_security};
pub use descriptor::{
    AceIter, Acl, BuildError, Component, LayoutError, SecurityDescriptor, SecurityDescriptorBuf,
    SecurityDescriptorBuilder, HEADER_LEN,
};
pub use sddl::{parse_sddl, Sddl, SddlError, SddlErrorKind};
pub use sid::{Sid, SidError};

impl core::error::Error for SidError {}
impl core::error::Error for BuildError {}
impl core::error::Error for LayoutError {}
impl core::error::Error for SddlError {}
