//! Helpers the protocol's message-family tests share: loopback addresses, little-endian
//! field writes over an encoded message, and mutation tables that must all be refused.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use wskrs_protocol::{parse_request, BindFlags, IoctlCode, ProtocolError};

/// 127.0.0.1:`port`.
pub(crate) fn v4(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// [::1]:`port`.
pub(crate) fn v6(port: u16) -> SocketAddr {
    SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, port, 0, 0))
}

/// [::1]:`port` with scope id 4 (replies carry the scope through).
pub(crate) fn v6_scoped(port: u16) -> SocketAddr {
    SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, port, 0, 4))
}

/// [::]:`port`.
pub(crate) fn v6_any(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv6Addr::UNSPECIFIED, port))
}

/// Overwrites the little-endian u16 at `offset`.
pub(crate) fn put_u16(bytes: &mut [u8], offset: usize, value: u16) {
    bytes[offset..offset + 2].copy_from_slice(&value.to_le_bytes());
}

/// Overwrites the little-endian u32 at `offset`.
pub(crate) fn put_u32(bytes: &mut [u8], offset: usize, value: u32) {
    bytes[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
}

/// Overwrites the little-endian u64 at `offset`.
pub(crate) fn put_u64(bytes: &mut [u8], offset: usize, value: u64) {
    bytes[offset..offset + 8].copy_from_slice(&value.to_le_bytes());
}

/// A named corruption of a valid request.
pub(crate) type Mutation = (&'static str, Box<dyn Fn(&mut [u8])>);

/// Applies each mutation to `base` and expects `expected` from parsing it as `code`.
pub(crate) fn expect_all(
    code: IoctlCode,
    base: &[u8],
    cases: Vec<Mutation>,
    expected: ProtocolError,
) {
    for (name, mutate) in cases {
        let mut bytes = base.to_vec();
        mutate(&mut bytes);
        assert_eq!(
            parse_request(code.0, &bytes),
            Err(expected),
            "{code:?}: {name}"
        );
    }
}

/// Bind flag combinations valid on an IPv6 socket: none, reuse + v6only, exclusive + dual
/// stack, exclusive alone.
pub(crate) const ALL_BIND_FLAGS: [BindFlags; 4] = [
    BindFlags {
        reuse: false,
        exclusive: false,
        v6only: None,
    },
    BindFlags {
        reuse: true,
        exclusive: false,
        v6only: Some(true),
    },
    BindFlags {
        reuse: false,
        exclusive: true,
        v6only: Some(false),
    },
    BindFlags {
        reuse: false,
        exclusive: true,
        v6only: None,
    },
];
