//! Building and reading `SOCKADDR_IN` / `SOCKADDR_IN6` without naming header-specific unions.
//!
//! Ports and IPv4 addresses are given and returned in host order; the functions store them
//! in network order as the structures require.

use crate::{
    in6_addr, in6_addr__bindgen_ty_1, in_addr, in_addr__bindgen_ty_1, SOCKADDR_IN, SOCKADDR_IN6,
};

// Wine's headers type the family as a C short, the WDK's as ADDRESS_FAMILY (u16); the values
// (2 and 23) fit both.
/// `AF_INET` as stored in `sin_family`.
#[allow(clippy::cast_possible_wrap)]
const FAMILY_INET: i16 = crate::AF_INET_FAMILY as i16;
/// `AF_INET6` as stored in `sin6_family`.
#[allow(clippy::cast_possible_wrap)]
const FAMILY_INET6: i16 = crate::AF_INET6_FAMILY as i16;

/// An IPv4 socket address.
#[must_use]
pub fn v4(octets: [u8; 4], port: u16) -> SOCKADDR_IN {
    SOCKADDR_IN {
        sin_family: FAMILY_INET,
        sin_port: port.to_be(),
        sin_addr: in_addr {
            S_un: in_addr__bindgen_ty_1 {
                S_addr: u32::from_ne_bytes(octets),
            },
        },
        sin_zero: [0; 8],
    }
}

/// The (octets, port) of an IPv4 socket address.
#[must_use]
pub fn v4_parts(a: &SOCKADDR_IN) -> ([u8; 4], u16) {
    // SAFETY: every bit pattern is a valid u32; S_addr overlays the whole union.
    let addr = unsafe { a.sin_addr.S_un.S_addr };
    (addr.to_ne_bytes(), u16::from_be(a.sin_port))
}

/// An IPv6 socket address.
#[must_use]
pub fn v6(octets: [u8; 16], port: u16, flowinfo: u32, scope_id: u32) -> SOCKADDR_IN6 {
    SOCKADDR_IN6 {
        sin6_family: FAMILY_INET6,
        sin6_port: port.to_be(),
        sin6_flowinfo: flowinfo.to_be(),
        sin6_addr: in6_addr {
            u: in6_addr__bindgen_ty_1 { Byte: octets },
        },
        sin6_scope_id: scope_id,
    }
}

/// The (octets, port, flowinfo, scope id) of an IPv6 socket address.
#[must_use]
pub fn v6_parts(a: &SOCKADDR_IN6) -> ([u8; 16], u16, u32, u32) {
    // SAFETY: every bit pattern is a valid [u8; 16]; Byte overlays the whole union.
    let octets = unsafe { a.sin6_addr.u.Byte };
    (
        octets,
        u16::from_be(a.sin6_port),
        u32::from_be(a.sin6_flowinfo),
        a.sin6_scope_id,
    )
}

/// The address family stored in the first two bytes of any socket address.
#[must_use]
pub fn family_of_v6_storage(a: &SOCKADDR_IN6) -> u16 {
    #[allow(clippy::cast_sign_loss)]
    let family = a.sin6_family as u16;
    family
}
