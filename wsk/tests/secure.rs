//! `wsk::secure` against the fake provider, which answers the secure socket extensions with
//! the rules the wsk-rs provider uses (`wskrs_provider_model::secure`): settings before bind
//! and only those that allow clear text, peer target names, the query of an unsecured
//! connection.

mod common;

use std::net::SocketAddr;

use common::{register, QUICK};
use wsk::secure::{PeerTargetName, SecurityInfo, SecurityProtocol, SecuritySettings};
use wsk::{BindOptions, ConnectionSocket, DatagramSocket, ListenSocket, NtStatus, SocketOptions};
use wskrs_fake_kernel as fake;

const CLEAR_TEXT_ALLOWED: SecuritySettings<'static> = SecuritySettings {
    protocol: SecurityProtocol::Default,
    guarantee_encryption: false,
    allow_insecure: true,
    ipsec: None,
};

static SERVER: &[u16] = wsk::utf16!("host/server.example");

#[test]
fn settings_that_allow_clear_text_apply_before_bind_and_take_the_address_exclusively() {
    let kernel = fake::Kernel::start();
    let client = register();
    let options = BindOptions {
        socket_security: Some(&CLEAR_TEXT_ALLOWED),
        ..BindOptions::default()
    };
    let mut listener =
        ListenSocket::bind_with(&client, "127.0.0.1:0".parse().unwrap(), options, QUICK).unwrap();
    assert!(listener.exclusive_address().unwrap());
    let addr = listener.local_addr().unwrap();
    let name = PeerTargetName {
        protocol: SecurityProtocol::Ipsec,
        peer: None,
        name: SERVER,
    };
    let options = BindOptions {
        socket_security: Some(&CLEAR_TEXT_ALLOWED),
        peer_target_name: Some(&name),
        ..BindOptions::default()
    };
    let mut near = ConnectionSocket::connect_with(&client, addr, None, options, QUICK).unwrap();
    let (mut far, _) = listener.accept(QUICK).unwrap();
    let unsecured = SecurityInfo {
        protocol: 1,
        flags: 0,
    };
    assert_eq!(near.query_security().unwrap(), unsecured);
    assert_eq!(far.query_security().unwrap(), unsecured);
    assert!(!near.query_security().unwrap().is_secured());
    drop((near, far, listener));
    assert!(client.shutdown(QUICK));
    kernel.assert_clean();
}

#[test]
fn settings_that_require_security_are_refused_and_the_socket_is_closed() {
    let kernel = fake::Kernel::start();
    let client = register();
    for settings in [
        SecuritySettings::default(),
        SecuritySettings {
            guarantee_encryption: true,
            ..CLEAR_TEXT_ALLOWED
        },
    ] {
        let options = BindOptions {
            socket_security: Some(&settings),
            ..BindOptions::default()
        };
        let result =
            ListenSocket::bind_with(&client, "127.0.0.1:0".parse().unwrap(), options, QUICK);
        let status = result.map(|_| ()).map_err(wsk::Error::status);
        assert_eq!(status, Err(NtStatus::NOT_SUPPORTED), "{settings:?}");
    }
    assert_eq!(
        fake::counts().sockets_open,
        0,
        "the refused sockets were closed"
    );
    assert!(client.shutdown(QUICK));
    kernel.assert_clean();
}

#[test]
fn a_datagram_socket_names_each_peer_and_forgets_them() {
    let kernel = fake::Kernel::start();
    let client = register();
    let mut udp = DatagramSocket::bind(&client, "127.0.0.1:0".parse().unwrap(), QUICK).unwrap();
    let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let name = PeerTargetName {
        protocol: SecurityProtocol::Ipsec2,
        peer: Some(peer),
        name: SERVER,
    };
    udp.set_peer_target_name(&name).unwrap();
    let no_peer = PeerTargetName { peer: None, ..name };
    assert_eq!(
        udp.set_peer_target_name(&no_peer).unwrap_err().status(),
        NtStatus::INVALID_PARAMETER
    );
    assert_eq!(udp.query_security(peer).unwrap().flags, 0);
    udp.delete_peer_target_name(peer).unwrap();
    assert_eq!(
        udp.delete_peer_target_name(peer).unwrap_err().status(),
        NtStatus::NOT_FOUND
    );
    drop(udp);
    assert!(client.shutdown(QUICK));
    kernel.assert_clean();
}
