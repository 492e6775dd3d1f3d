//! Socket addresses: `core::net::SocketAddr` to and from the SOCKADDR storage WSK reads and writes.

use core::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use wsk_bindings::{self as sys, sockaddr};

/// Storage for an IPv4 or IPv6 socket address, as passed to WSK (`PSOCKADDR`).
///
/// Large enough for `SOCKADDR_IN6`; both layouts start with the family.
#[repr(C)]
#[derive(Clone, Copy)]
pub union SockAddr {
    v4: sys::SOCKADDR_IN,
    v6: sys::SOCKADDR_IN6,
}

impl SockAddr {
    /// All zeros (family 0): storage for the provider to fill.
    #[must_use]
    pub fn empty() -> Self {
        let mut v6 = sockaddr::v6([0; 16], 0, 0, 0);
        v6.sin6_family = 0;
        Self { v6 }
    }

    /// The unspecified address of the same family as `addr`, port 0 (for bind before connect).
    #[must_use]
    pub fn unspecified_like(addr: &SocketAddr) -> Self {
        match addr {
            SocketAddr::V4(_) => Self::from(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))),
            SocketAddr::V6(_) => Self::from(SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))),
        }
    }

    /// The address family (`AF_INET`, `AF_INET6`, or 0 when empty).
    #[must_use]
    pub fn family(&self) -> u16 {
        // SAFETY: the family field is at offset 0 in both members and always initialized.
        sockaddr::family_of_v6_storage(unsafe { &self.v6 })
    }

    /// The address, if the storage holds IPv4 or IPv6.
    #[must_use]
    pub fn to_socket_addr(&self) -> Option<SocketAddr> {
        match u32::from(self.family()) {
            sys::AF_INET => {
                // SAFETY: the family says the IPv4 member is in use.
                let (octets, port) = sockaddr::v4_parts(unsafe { &self.v4 });
                Some(SocketAddr::V4(SocketAddrV4::new(
                    Ipv4Addr::from(octets),
                    port,
                )))
            }
            sys::AF_INET6 => {
                // SAFETY: the family says the IPv6 member is in use.
                let (octets, port, flow, scope) = sockaddr::v6_parts(unsafe { &self.v6 });
                Some(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(octets),
                    port,
                    flow,
                    scope,
                )))
            }
            _ => None,
        }
    }

    /// Pointer for WSK calls (`PSOCKADDR`).
    pub(crate) fn as_mut_ptr(&mut self) -> *mut sys::SOCKADDR {
        core::ptr::from_mut(self).cast()
    }

    /// The bytes of the `SOCKADDR_IN` or `SOCKADDR_IN6` (by the family; all of the storage
    /// for another family).
    pub(crate) fn as_bytes(&self) -> &[u8] {
        let len = match self.family() {
            sys::AF_INET_FAMILY => size_of::<sys::SOCKADDR_IN>(),
            _ => size_of::<Self>(),
        };
        // SAFETY: `self` is `len` <= size_of::<Self>() initialised bytes (a union of two
        // plain-data structures, zero-filled when built).
        unsafe { core::slice::from_raw_parts(core::ptr::from_ref(self).cast::<u8>(), len) }
    }

    /// The address family as the `ADDRESS_FAMILY` WskSocket takes.
    pub(crate) fn socket_family(addr: &SocketAddr) -> u16 {
        match addr {
            SocketAddr::V4(_) => sys::AF_INET_FAMILY,
            SocketAddr::V6(_) => sys::AF_INET6_FAMILY,
        }
    }
}

impl From<SocketAddr> for SockAddr {
    fn from(addr: SocketAddr) -> Self {
        match addr {
            SocketAddr::V4(a) => {
                let mut s = Self::empty();
                s.v4 = sockaddr::v4(a.ip().octets(), a.port());
                s
            }
            SocketAddr::V6(a) => Self {
                v6: sockaddr::v6(a.ip().octets(), a.port(), a.flowinfo(), a.scope_id()),
            },
        }
    }
}

impl core::fmt::Debug for SockAddr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.to_socket_addr() {
            Some(a) => write!(f, "{a}"),
            None => write!(f, "<family {}>", self.family()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_ipv4_and_ipv6() {
        for text in ["127.0.0.1:9000", "0.0.0.0:0", "[::1]:443", "[fe80::1%7]:80"] {
            let a: SocketAddr = text.parse().unwrap();
            assert_eq!(SockAddr::from(a).to_socket_addr(), Some(a), "{text}");
        }
    }

    #[test]
    fn stores_network_byte_order() {
        let s = SockAddr::from("1.2.3.4:258".parse::<SocketAddr>().unwrap());
        // SAFETY: SockAddr is 28 plain bytes; reading its first 8 as an array is valid.
        let bytes: [u8; 8] = unsafe { core::mem::transmute_copy(&s) };
        assert_eq!(bytes, [2, 0, 1, 2, 1, 2, 3, 4]);
        assert_eq!(core::mem::size_of::<SockAddr>(), 28);
    }

    #[test]
    fn empty_storage_has_no_address() {
        assert_eq!(SockAddr::empty().to_socket_addr(), None);
        assert_eq!(
            SockAddr::unspecified_like(&"[::1]:1".parse().unwrap()).family(),
            23
        );
    }
}
