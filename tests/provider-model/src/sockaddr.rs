//! Socket addresses in client memory: how many bytes each family takes, and conversion to
//! and from [`SocketAddr`].
//!
//! WSK passes a bare `SOCKADDR *` without a length; the family decides it (16 bytes for
//! IPv4, 28 for IPv6). A family WSK sockets do not use is refused, never guessed.

use std::net::{IpAddr, SocketAddr};

use wsk_bindings::{self as sys, AF_INET6_FAMILY, AF_INET_FAMILY};

/// The largest socket address either family takes (`SOCKADDR_IN6`).
pub const MAX_LEN: usize = size_of::<sys::SOCKADDR_IN6>();

/// The size of a socket address of `family`, or `None` for a family WSK sockets do not use.
#[must_use]
pub fn len_of_family(family: u16) -> Option<usize> {
    match family {
        AF_INET_FAMILY => Some(size_of::<sys::SOCKADDR_IN>()),
        AF_INET6_FAMILY => Some(size_of::<sys::SOCKADDR_IN6>()),
        _ => None,
    }
}

/// `addr` as the bytes of its `SOCKADDR_IN` / `SOCKADDR_IN6`, and how many of them are used.
#[must_use]
pub fn to_bytes(addr: SocketAddr) -> ([u8; MAX_LEN], usize) {
    let mut out = [0u8; MAX_LEN];
    // SAFETY: `out` has room for a SOCKADDR_IN6, the larger of the two.
    let len = unsafe { write(out.as_mut_ptr().cast(), addr) };
    (out, len)
}

/// The address in `bytes` (a `SOCKADDR_IN` or `SOCKADDR_IN6`, by its family); `None` for
/// another family or too few bytes for the family.
#[must_use]
pub fn from_bytes(bytes: &[u8]) -> Option<SocketAddr> {
    let family = u16::from_ne_bytes([*bytes.first()?, *bytes.get(1)?]);
    if bytes.len() < len_of_family(family)? {
        return None;
    }
    // SAFETY: `bytes` holds a whole socket address of its family (checked just above).
    unsafe { read(bytes.as_ptr().cast()) }
}

/// Reads the client's socket address at `p`: the family first, then as many bytes as it
/// needs. `None` for a null pointer or a family WSK sockets do not use.
///
/// # Safety
/// `p` is null or points to a readable socket address of its family's size.
#[must_use]
pub unsafe fn read(p: *const sys::SOCKADDR) -> Option<SocketAddr> {
    if p.is_null() {
        return None;
    }
    // SAFETY: every socket address starts with its 16-bit family (caller's contract).
    let family = unsafe { p.cast::<u16>().read_unaligned() };
    match family {
        AF_INET_FAMILY => {
            // SAFETY: the family says this is a SOCKADDR_IN (caller's contract).
            let a = unsafe { p.cast::<sys::SOCKADDR_IN>().read_unaligned() };
            let (octets, port) = sys::sockaddr::v4_parts(&a);
            Some(SocketAddr::new(IpAddr::from(octets), port))
        }
        AF_INET6_FAMILY => {
            // SAFETY: the family says this is a SOCKADDR_IN6 (caller's contract).
            let a = unsafe { p.cast::<sys::SOCKADDR_IN6>().read_unaligned() };
            let (octets, port, flowinfo, scope_id) = sys::sockaddr::v6_parts(&a);
            Some(SocketAddr::V6(std::net::SocketAddrV6::new(
                octets.into(),
                port,
                flowinfo,
                scope_id,
            )))
        }
        _ => None,
    }
}

/// Writes `addr` at `p` as a `SOCKADDR_IN` or `SOCKADDR_IN6`; returns the bytes written.
///
/// # Safety
/// `p` is writable for a `SOCKADDR_IN6` (the WSK contract for an address the provider
/// returns: room for any family), or for a `SOCKADDR_IN` when `addr` is IPv4.
pub unsafe fn write(p: *mut sys::SOCKADDR, addr: SocketAddr) -> usize {
    match addr {
        SocketAddr::V4(a) => {
            // SAFETY: room for a SOCKADDR_IN (caller's contract).
            unsafe {
                p.cast::<sys::SOCKADDR_IN>()
                    .write_unaligned(sys::sockaddr::v4(a.ip().octets(), a.port()));
            };
            size_of::<sys::SOCKADDR_IN>()
        }
        SocketAddr::V6(a) => {
            let v6 = sys::sockaddr::v6(a.ip().octets(), a.port(), a.flowinfo(), a.scope_id());
            // SAFETY: room for a SOCKADDR_IN6 (caller's contract).
            unsafe { p.cast::<sys::SOCKADDR_IN6>().write_unaligned(v6) };
            size_of::<sys::SOCKADDR_IN6>()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip_through_bytes_on_ipv4_and_ipv6() {
        for text in ["127.0.0.1:7", "0.0.0.0:0", "[::1]:65535", "[fe80::1%3]:80"] {
            let addr: SocketAddr = text.parse().unwrap();
            let (bytes, len) = to_bytes(addr);
            assert_eq!(len, if addr.is_ipv4() { 16 } else { 28 }, "{addr}");
            assert_eq!(from_bytes(&bytes[..len]), Some(addr), "{addr}");
        }
    }

    #[test]
    fn the_layout_is_the_wire_layout() {
        let (bytes, _) = to_bytes("1.2.3.4:258".parse().unwrap());
        assert_eq!(bytes[..8], [2, 0, 1, 2, 1, 2, 3, 4]);
        let (bytes, _) = to_bytes("[::1]:258".parse().unwrap());
        assert_eq!(bytes[..4], [23, 0, 1, 2]);
        assert_eq!(bytes[23], 1);
    }

    #[test]
    fn unknown_families_and_short_buffers_are_refused() {
        assert_eq!(len_of_family(1), None);
        assert_eq!(from_bytes(&[1, 0, 0, 0]), None);
        let (bytes, _) = to_bytes("[::1]:1".parse().unwrap());
        assert_eq!(
            from_bytes(&bytes[..16]),
            None,
            "an IPv6 family with IPv4's size"
        );
        assert_eq!(from_bytes(&[2]), None);
        // SAFETY: null is allowed.
        assert_eq!(unsafe { read(std::ptr::null()) }, None);
    }
}
