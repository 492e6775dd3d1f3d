//! Target `address`: socket addresses as the protocol carries them (`WireAddr`) and as WSK
//! reads and writes them (`wsk::SockAddr`), and the names a provider returns in UTF-16
//! (`wsk::resolve::HostName`, `ServiceName`).
//!
//! Input: a mode byte, then the bytes. Properties: a wire address that converts writes back
//! to exactly the same bytes; any `SocketAddr` survives both forms; a name converts to the
//! same text `String::from_utf16_lossy` gives, whenever it fits its capacity.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use wsk::resolve::{HostName, ServiceName};
use wsk::SockAddr;
use wskrs_protocol::WireAddr;
use zerocopy::{FromBytes, IntoBytes};

use crate::{Input, Seed};

/// Runs one input (see the module docs).
///
/// # Panics
/// When a property fails.
pub fn check(data: &[u8]) {
    let mut input = Input::new(data);
    match input.u8() % 3 {
        0 => wire(input.rest()),
        1 => socket_addr(&mut input),
        _ => names(input.rest()),
    }
}

fn wire(bytes: &[u8]) {
    let Ok((wire, _)) = WireAddr::read_from_prefix(bytes) else {
        return;
    };
    match wire.to_socket_addr() {
        Ok(Some(address)) => {
            let back = WireAddr::from(address);
            assert_eq!(
                back.as_bytes(),
                wire.as_bytes(),
                "{address} has one wire form"
            );
            assert_eq!(SockAddr::from(address).to_socket_addr(), Some(address));
        }
        Ok(None) => assert_eq!(wire, WireAddr::NONE, "only the all-zero form is no address"),
        Err(_) => {}
    }
}

fn socket_addr(input: &mut Input<'_>) {
    let v6 = input.u8() & 1 == 1;
    let port = input.u16();
    let address = if v6 {
        let octets: [u8; 16] = std::array::from_fn(|_| input.u8());
        SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::from(octets),
            port,
            input.u32(),
            input.u32(),
        ))
    } else {
        let octets: [u8; 4] = std::array::from_fn(|_| input.u8());
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(octets), port))
    };
    let storage = SockAddr::from(address);
    assert_eq!(
        storage.to_socket_addr(),
        Some(address),
        "SOCKADDR round trip"
    );
    let unspecified = SockAddr::unspecified_like(&address).to_socket_addr();
    assert!(
        unspecified.is_some_and(|u| u.ip().is_unspecified() && u.port() == 0 && u.is_ipv6() == v6)
    );
    let wire = WireAddr::from(address);
    assert_eq!(wire.to_socket_addr(), Ok(Some(address)), "wire round trip");
}

fn names(bytes: &[u8]) {
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
        .collect();
    let lossy = String::from_utf16_lossy(&units);
    match HostName::from_utf16(&units) {
        Some(name) => assert_eq!(name.as_str(), lossy),
        None => assert!(lossy.len() > wsk::resolve::HOST_NAME_CAPACITY),
    }
    match ServiceName::from_utf16(&units) {
        Some(name) => assert_eq!(name.as_str(), lossy),
        None => assert!(lossy.len() > wsk::resolve::SERVICE_NAME_CAPACITY),
    }
}

/// Addresses of both families in each form, then edge cases.
#[must_use]
pub fn seeds() -> Vec<Seed> {
    let mode = |mode: u8, bytes: &[u8]| {
        let mut input = vec![mode];
        input.extend_from_slice(bytes);
        input
    };
    let v4: SocketAddr = "127.0.0.1:9000".parse().expect("address");
    let v6: SocketAddr = "[fe80::1%7]:443".parse().expect("address");
    let mut v4_ipv6_bits = WireAddr::from(v4);
    v4_ipv6_bits.scope_id = 1;
    let utf16 =
        |text: &str| -> Vec<u8> { text.encode_utf16().flat_map(u16::to_le_bytes).collect() };
    vec![
        Seed::new("wire_v4", mode(0, WireAddr::from(v4).as_bytes())),
        Seed::new("wire_v6", mode(0, WireAddr::from(v6).as_bytes())),
        Seed::new("wire_none", mode(0, WireAddr::NONE.as_bytes())),
        Seed::new("wire_v4_with_scope", mode(0, v4_ipv6_bits.as_bytes())),
        Seed::new(
            "sockaddr_v6",
            mode(
                1,
                &[
                    1, 0xBB, 0x01, 0xFE, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
                    0, 7, 0, 0, 0,
                ],
            ),
        ),
        Seed::new("sockaddr_v4", mode(1, &[0, 0x28, 0x23, 127, 0, 0, 1])),
        Seed::new("name_host", mode(2, &utf16("localhost"))),
        Seed::new("name_unpaired_surrogate", mode(2, &[0x00, 0xD8, b'a', 0])),
        Seed::new("name_long", mode(2, &utf16(&"\u{10348}".repeat(40)))),
    ]
}
