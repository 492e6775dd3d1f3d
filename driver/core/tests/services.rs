//! Data paths through `Driver::device_control` against the fake provider's loopback: TCP
//! connect / SEND / RECV / DISCONNECT with a peer the test drives, the in-kernel TCP services
//! (echo, discard, source), UDP sockets driven by the user and by the echo service, and
//! socket options.

mod common;

use std::time::Duration;

use common::{
    addr, close, connect, disconnect, entry, eventually, list, listen, option, recv, recv_exact,
    recv_from, register, send, send_to, stats, udp_bind, Setup, ALICE,
};
use wsk::{ListenSocket, NtStatus};
use wskrs_fake_kernel as fake;
use wskrs_protocol::{
    self as protocol, EndpointId, EndpointKind, EndpointState, OptionId, Service, UdpService,
};

const QUICK: Duration = Duration::from_secs(5);

/// A peer the test drives directly through `wsk` (its own registration): a listener and the
/// connection it accepts from the driver's TCP_CONNECT.
fn peer_listener(at: &str) -> (wsk::WskClient, ListenSocket) {
    let client = register(QUICK).expect("peer registration");
    let listener = ListenSocket::bind(&client, addr(at), QUICK).expect("peer listener");
    (client, listener)
}

#[test]
fn tcp_connect_send_recv_through_the_loopback() {
    let setup = Setup::start();
    let d = setup.driver;
    let (client, mut listener) = peer_listener("127.0.0.1:8100");
    let c = connect(d, ALICE, addr("127.0.0.1:8100"), false).unwrap();
    assert_eq!(c.kind, EndpointKind::TcpConnection);
    assert_eq!(c.remote, Some(addr("127.0.0.1:8100")));
    let (mut far, from) = listener.accept(QUICK).unwrap();
    assert_eq!(
        from, c.local,
        "the reply's local address is the one the peer sees"
    );

    assert_eq!(send(d, ALICE, c.id, b"request"), Ok(7));
    let mut buf = [0u8; 64];
    assert_eq!(far.receive(&mut buf, QUICK).unwrap(), 7);
    assert_eq!(&buf[..7], b"request");
    // A RECV whose data buffer is not max_length bytes is refused and consumes nothing.
    far.send_all(b"abcdef", QUICK).unwrap();
    let request = protocol::encode_recv(c.id, common::QUICK_MS, 3);
    assert_eq!(
        common::direct_call(d, ALICE, protocol::IoctlCode::RECV, &request, &[0u8; 116])
            .map(|(n, _)| n),
        Err(NtStatus::INVALID_PARAMETER)
    );
    assert_eq!(recv(d, ALICE, c.id, 3).unwrap(), (b"abc".to_vec(), false));
    assert_eq!(recv_exact(d, ALICE, c.id, 3), b"def");
    far.send_all(b"a longer response", QUICK).unwrap();
    // A RECV returns at most what its output buffer has room for.
    assert_eq!(
        recv(d, ALICE, c.id, 8).unwrap(),
        (b"a longer".to_vec(), false)
    );
    assert_eq!(recv_exact(d, ALICE, c.id, 9), b" response");
    // A large transfer in one SEND.
    let big: Vec<u8> = (0..200_000u32)
        .map(|i| u8::try_from(i % 253).unwrap())
        .collect();
    assert_eq!(send(d, ALICE, c.id, &big), Ok(200_000));
    let mut got = Vec::new();
    let mut chunk = vec![0u8; 65_536];
    while got.len() < big.len() {
        let n = far.receive(&mut chunk, QUICK).unwrap();
        got.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(got, big);

    // The peer closes: RECV reports end of stream and the state becomes peer-closed.
    drop(far);
    assert_eq!(recv(d, ALICE, c.id, 16).unwrap(), (Vec::new(), true));
    let (status, activity) = entry(d, ALICE, c.id).unwrap();
    assert_eq!(status.state, EndpointState::PeerClosed);
    assert_eq!((status.bytes_sent, status.bytes_received), (200_007, 23));
    assert_eq!(
        (activity.send_ops, activity.recv_ops, activity.errors),
        (2, 5, 0)
    );
    close(d, ALICE, c.id).unwrap();
    drop(listener);
    assert!(client.shutdown(QUICK));
    setup.finish();
}

#[test]
fn graceful_disconnect_stays_disconnected_after_the_peer_closes() {
    let setup = Setup::start();
    let d = setup.driver;
    let (client, mut listener) = peer_listener("127.0.0.1:8200");
    let c = connect(d, ALICE, addr("127.0.0.1:8200"), false).unwrap();
    let (mut far, _) = listener.accept(QUICK).unwrap();
    send(d, ALICE, c.id, b"last words").unwrap();
    disconnect(d, ALICE, c.id, false).unwrap();
    assert_eq!(
        entry(d, ALICE, c.id).unwrap().0.state,
        EndpointState::Disconnected
    );

    // The peer reads the data, then end of stream; it can still answer.
    let mut buf = [0u8; 64];
    assert_eq!(far.receive(&mut buf, QUICK).unwrap(), 10);
    assert_eq!(far.receive(&mut buf, QUICK).unwrap(), 0, "end of stream");
    far.send_all(b"reply", QUICK).unwrap();
    assert_eq!(recv_exact(d, ALICE, c.id, 5), b"reply");
    assert_eq!(
        entry(d, ALICE, c.id).unwrap().0.state,
        EndpointState::Disconnected
    );

    // The peer closes: the endpoint sees end of stream and stays disconnected.
    drop(far);
    assert_eq!(recv(d, ALICE, c.id, 16).unwrap(), (Vec::new(), true));
    let (status, _) = entry(d, ALICE, c.id).unwrap();
    assert_eq!(
        status.state,
        EndpointState::Disconnected,
        "stays disconnected until CLOSE"
    );
    close(d, ALICE, c.id).unwrap();
    drop(listener);
    assert!(client.shutdown(QUICK));
    setup.finish();
}

#[test]
fn tcp_echo_service() {
    let setup = Setup::start();
    let d = setup.driver;
    let l = listen(d, ALICE, addr("127.0.0.1:8300"), Service::Echo, false).unwrap();
    assert_eq!(
        (l.kind, l.local, l.remote),
        (
            EndpointKind::TcpListener,
            Some(addr("127.0.0.1:8300")),
            None
        )
    );
    let a = connect(d, ALICE, addr("127.0.0.1:8300"), false).unwrap();
    let b = connect(d, ALICE, addr("127.0.0.1:8300"), false).unwrap();
    send(d, ALICE, a.id, b"to a").unwrap();
    send(d, ALICE, b.id, b"to b, longer").unwrap();
    assert_eq!(recv_exact(d, ALICE, b.id, 12), b"to b, longer");
    assert_eq!(recv_exact(d, ALICE, a.id, 4), b"to a");
    let big: Vec<u8> = (0..100_000u32)
        .map(|i| u8::try_from(i * 31 % 256).unwrap())
        .collect();
    send(d, ALICE, a.id, &big).unwrap();
    assert_eq!(recv_exact(d, ALICE, a.id, big.len()), big);

    let (listener, _) = entry(d, ALICE, l.id).unwrap();
    assert_eq!(
        (listener.state, listener.service),
        (EndpointState::Listening, Service::Echo)
    );
    assert_eq!(
        (listener.connections_served, listener.connections_active),
        (2, 2)
    );
    assert_eq!(
        (listener.bytes_sent, listener.bytes_received),
        (100_016, 100_016)
    );
    close(d, ALICE, a.id).unwrap();
    eventually("the session ended", || {
        entry(d, ALICE, l.id).unwrap().0.connections_active == 1
    });
    close(d, ALICE, l.id).unwrap();
    // Closing the listener closes its sessions: the remaining client sees end of stream.
    assert_eq!(recv(d, ALICE, b.id, 16).unwrap(), (Vec::new(), true));
    assert_eq!(
        entry(d, ALICE, b.id).unwrap().0.state,
        EndpointState::PeerClosed
    );
    setup.finish();
}

#[test]
fn tcp_discard_service() {
    let setup = Setup::start();
    let d = setup.driver;
    let l = listen(d, ALICE, addr("127.0.0.1:8400"), Service::Discard, false).unwrap();
    let c = connect(d, ALICE, addr("127.0.0.1:8400"), false).unwrap();
    for _ in 0..10 {
        send(d, ALICE, c.id, &[0x5A; 3000]).unwrap();
    }
    eventually("the service read everything", || {
        entry(d, ALICE, l.id).unwrap().0.bytes_received == 30_000
    });
    let (listener, _) = entry(d, ALICE, l.id).unwrap();
    assert_eq!((listener.bytes_sent, listener.connections_served), (0, 1));
    // Nothing comes back.
    assert_eq!(
        common::recv_with(d, ALICE, c.id, 16, 30),
        Err(NtStatus::IO_TIMEOUT)
    );
    setup.finish();
}

#[test]
fn tcp_source_service_sends_the_protocol_pattern() {
    let setup = Setup::start();
    let d = setup.driver;
    let l = listen(d, ALICE, addr("127.0.0.1:8500"), Service::Source, false).unwrap();
    let c = connect(d, ALICE, addr("127.0.0.1:8500"), false).unwrap();
    // Read well past the service's buffer and the pattern's period, in odd-sized pieces.
    let mut offset = 0u64;
    while offset < 100_000 {
        let (data, eof) = recv(d, ALICE, c.id, 7_777).unwrap();
        assert!(!eof && !data.is_empty());
        for (i, byte) in data.iter().enumerate() {
            assert_eq!(
                *byte,
                protocol::source_byte(offset + i as u64),
                "byte {}",
                offset + i as u64
            );
        }
        offset += data.len() as u64;
    }
    let (listener, _) = entry(d, ALICE, l.id).unwrap();
    assert!(listener.bytes_sent >= offset, "{listener:?}");
    assert_eq!(
        (listener.connections_served, listener.connections_active),
        (1, 1)
    );
    // The client goes away: the session ends.
    close(d, ALICE, c.id).unwrap();
    eventually("the session ended", || {
        entry(d, ALICE, l.id).unwrap().0.connections_active == 0
    });
    setup.finish();
}

#[test]
fn udp_bind_with_user_send_to_and_recv_from() {
    let setup = Setup::start();
    let d = setup.driver;
    let (a_at, b_at) = (addr("127.0.0.1:8600"), addr("127.0.0.1:8601"));
    let a = udp_bind(d, ALICE, a_at, UdpService::None, false).unwrap();
    let b = udp_bind(d, ALICE, b_at, UdpService::None, false).unwrap();
    assert_eq!((a.kind, a.local), (EndpointKind::Udp, Some(a_at)));
    assert_eq!(send_to(d, ALICE, a.id, b_at, b"datagram one"), Ok(12));
    assert_eq!(
        send_to(d, ALICE, a.id, b_at, b""),
        Err(NtStatus::INVALID_PARAMETER),
        "ABI v3 carries no empty datagrams (direct I/O needs a buffer)"
    );
    assert_eq!(send_to(d, ALICE, a.id, b_at, b"three"), Ok(5));
    assert_eq!(
        recv_from(d, ALICE, b.id, 100).unwrap(),
        (b"datagram one".to_vec(), Some(a_at))
    );
    // A datagram longer than the room is truncated.
    assert_eq!(
        recv_from(d, ALICE, b.id, 3).unwrap(),
        (b"thr".to_vec(), Some(a_at))
    );
    // Room for no data is refused before any I/O: the datagram stays queued.
    assert_eq!(send_to(d, ALICE, a.id, b_at, b"kept"), Ok(4));
    assert_eq!(
        recv_from(d, ALICE, b.id, 0),
        Err(NtStatus::INVALID_PARAMETER)
    );
    assert_eq!(
        recv_from(d, ALICE, b.id, 100).unwrap(),
        (b"kept".to_vec(), Some(a_at))
    );
    assert_eq!(send_to(d, ALICE, b.id, a_at, b"back"), Ok(4));
    assert_eq!(
        recv_from(d, ALICE, a.id, 100).unwrap(),
        (b"back".to_vec(), Some(b_at))
    );

    let (status, activity) = entry(d, ALICE, a.id).unwrap();
    assert_eq!(status.state, EndpointState::Bound);
    assert_eq!((status.bytes_sent, status.bytes_received), (21, 4));
    assert_eq!(
        (activity.send_ops, activity.recv_ops),
        (3, 1),
        "refused requests are no operations"
    );
    setup.finish();
}

#[test]
fn udp_echo_service() {
    let setup = Setup::start();
    let d = setup.driver;
    let (echo_at, user_at) = (addr("127.0.0.1:8700"), addr("127.0.0.1:8701"));
    let echo = udp_bind(d, ALICE, echo_at, UdpService::Echo, false).unwrap();
    let user = udp_bind(d, ALICE, user_at, UdpService::None, false).unwrap();
    for message in [&b"one"[..], b"two, longer", &[0xEE; 1400]] {
        send_to(d, ALICE, user.id, echo_at, message).unwrap();
        assert_eq!(
            recv_from(d, ALICE, user.id, 2000).unwrap(),
            (message.to_vec(), Some(echo_at))
        );
    }
    let (status, _) = entry(d, ALICE, echo.id).unwrap();
    assert_eq!(
        (status.kind, status.service, status.state),
        (EndpointKind::Udp, Service::Echo, EndpointState::Bound)
    );
    assert_eq!((status.bytes_sent, status.bytes_received), (1414, 1414));
    // SEND_TO on the service's endpoint is refused: the service drives it.
    assert_eq!(
        send_to(d, ALICE, echo.id, user_at, b"x"),
        Err(NtStatus::INVALID_DEVICE_STATE)
    );
    close(d, ALICE, echo.id).unwrap();
    assert_eq!(list(d, ALICE).len(), 1);
    setup.finish();
}

#[test]
fn socket_option_get_and_set_ipv4_and_ipv6() {
    let setup = Setup::start();
    let d = setup.driver;
    for (listen_at, wildcard) in [("127.0.0.1:8800", "127.0.0.1:0"), ("[::1]:8800", "[::1]:0")] {
        listen(d, ALICE, addr(listen_at), Service::Echo, false).unwrap();
        let c = connect(d, ALICE, addr(listen_at), false).unwrap();
        let u = udp_bind(d, ALICE, addr(wildcard), UdpService::None, false).unwrap();
        let tcp = [
            OptionId::Keepalive,
            OptionId::NoDelay,
            OptionId::RcvBuf,
            OptionId::SndBuf,
        ];
        for (id, options) in [(c.id, &tcp[..]), (u.id, &tcp[2..])] {
            for &o in options {
                let value = if o.is_bool() { 1 } else { 65_536 };
                let initial = option(d, ALICE, id, o, None).unwrap();
                assert_ne!(initial, value, "{o:?}: the initial value differs");
                assert_eq!(option(d, ALICE, id, o, Some(value)), Ok(value), "{o:?}");
                assert_eq!(option(d, ALICE, id, o, None), Ok(value), "{o:?} reads back");
            }
            for o in [OptionId::ReuseAddr, OptionId::ExclusiveAddrUse] {
                assert_eq!(option(d, ALICE, id, o, None), Ok(0), "{o:?}");
            }
        }
        // Bind options are set before binding and read back through the get-only options.
        let ipv6 = addr(wildcard).is_ipv6();
        let bind = protocol::BindFlags {
            reuse: true,
            exclusive: false,
            v6only: ipv6.then_some(true),
        };
        let request =
            protocol::encode_udp_bind(addr(wildcard), UdpService::None, false, bind, None).unwrap();
        let reply = common::call(d, ALICE, protocol::IoctlCode::UDP_BIND, &request, 128).unwrap();
        let flagged = protocol::parse_endpoint_reply(&reply).unwrap();
        assert_eq!(
            option(d, ALICE, flagged.id, OptionId::ReuseAddr, None),
            Ok(1)
        );
        if ipv6 {
            assert_eq!(
                option(d, ALICE, flagged.id, OptionId::Ipv6V6Only, None),
                Ok(1)
            );
        }
        // An echo still works after the options changed.
        assert_eq!(send(d, ALICE, c.id, b"ok"), Ok(2));
        assert_eq!(recv_exact(d, ALICE, c.id, 2), b"ok");
    }
    // A provider failure comes back unchanged and counts as the endpoint's error.
    let c = list(d, ALICE)
        .into_iter()
        .find(|e| e.kind == EndpointKind::TcpConnection)
        .unwrap()
        .id;
    fake::provider::script(
        fake::provider::Op::Control,
        [fake::provider::Behavior::Fail(NtStatus::NOT_SUPPORTED)],
    );
    assert_eq!(
        option(d, ALICE, c, OptionId::Keepalive, None),
        Err(NtStatus::NOT_SUPPORTED)
    );
    let (_, activity) = entry(d, ALICE, c).unwrap();
    assert_eq!(
        (activity.errors, activity.last_status),
        (1, Some(NtStatus::NOT_SUPPORTED))
    );
    assert_eq!(stats(d).errors, 1);
    // The endpoint still works.
    assert_eq!(option(d, ALICE, c, OptionId::Keepalive, None), Ok(1));
    setup.finish();
}

#[test]
fn under_wine_a_timed_out_receive_leaves_the_endpoint_broken() {
    let setup = Setup::start();
    // Wine's netio: no cancel routines, so a timed-out receive closes its connection. The
    // clock runs fast so the one-second cancellation grace period passes quickly.
    fake::provider::configure(fake::provider::Config::WINE);
    fake::set_time_scale(50);
    let d = setup.driver;
    listen(d, ALICE, addr("127.0.0.1:8900"), Service::Discard, false).unwrap();
    let c = connect(d, ALICE, addr("127.0.0.1:8900"), false).unwrap();
    assert_eq!(send(d, ALICE, c.id, b"x"), Ok(1));
    assert_eq!(
        common::recv_with(d, ALICE, c.id, 16, 100),
        Err(NtStatus::IO_TIMEOUT)
    );
    let (status, activity) = entry(d, ALICE, c.id).unwrap();
    assert_eq!(status.state, EndpointState::Broken);
    assert_eq!(
        (activity.errors, activity.last_status),
        (1, Some(NtStatus::IO_TIMEOUT))
    );
    // The endpoint stays listed until CLOSE; its socket is gone, so I/O fails.
    assert!(send(d, ALICE, c.id, b"y").is_err());
    close(d, ALICE, c.id).unwrap();
    setup.finish();
}

#[test]
fn a_listener_serves_at_most_max_connections_at_once() {
    let setup = Setup::start();
    let d = setup.driver;
    let at = addr("127.0.0.1:9100");
    let options = protocol::ListenOptions {
        max_connections: 1,
        ..protocol::ListenOptions::default()
    };
    let request = protocol::encode_tcp_listen_with(at, Service::Echo, &options).unwrap();
    let reply = common::call(d, ALICE, protocol::IoctlCode::TCP_LISTEN, &request, 128).unwrap();
    let l = protocol::parse_endpoint_reply(&reply).unwrap();
    let first = connect(d, ALICE, at, false).unwrap();
    send(d, ALICE, first.id, b"served").unwrap();
    assert_eq!(recv_exact(d, ALICE, first.id, 6), b"served");
    // The second connection is accepted by the provider and closed by the service.
    let second = connect(d, ALICE, at, false).unwrap();
    assert_eq!(recv(d, ALICE, second.id, 16).unwrap(), (Vec::new(), true));
    let (listener, activity) = entry(d, ALICE, l.id).unwrap();
    assert_eq!(
        (listener.connections_served, listener.connections_active),
        (1, 1)
    );
    // The refusal is visible: an error of the listener in LIST, and in STATS.
    assert_eq!(
        (activity.errors, activity.last_status),
        (1, Some(NtStatus::CONNECTION_REFUSED))
    );
    let errors_before_close = stats(d).errors;
    assert!(errors_before_close >= 1, "STATS counts the refusal");
    assert_eq!(stats(d).connections_refused, 1, "STATS names it a refusal");
    // When the first goes away, there is room again.
    close(d, ALICE, first.id).unwrap();
    eventually("the first session ended", || {
        entry(d, ALICE, l.id).unwrap().0.connections_active == 0
    });
    let third = connect(d, ALICE, at, false).unwrap();
    send(d, ALICE, third.id, b"again").unwrap();
    assert_eq!(recv_exact(d, ALICE, third.id, 5), b"again");
    assert_eq!(entry(d, ALICE, l.id).unwrap().0.connections_served, 2);
    // Closing the listener keeps its refusals in STATS.
    close(d, ALICE, l.id).unwrap();
    assert!(stats(d).errors >= errors_before_close);
    assert_eq!(stats(d).connections_refused, 1);
    setup.finish();
}

#[test]
fn failed_opens_leave_nothing_behind() {
    let setup = Setup::start();
    let d = setup.driver;
    // Nobody listens.
    assert_eq!(
        connect(d, ALICE, addr("127.0.0.1:9200"), false),
        Err(NtStatus::CONNECTION_REFUSED)
    );
    // The address is taken.
    listen(d, ALICE, addr("127.0.0.1:9201"), Service::Discard, false).unwrap();
    assert_eq!(
        listen(d, ALICE, addr("127.0.0.1:9201"), Service::Echo, false),
        Err(NtStatus::ADDRESS_ALREADY_EXISTS)
    );
    udp_bind(d, ALICE, addr("127.0.0.1:9202"), UdpService::None, false).unwrap();
    assert_eq!(
        udp_bind(d, ALICE, addr("127.0.0.1:9202"), UdpService::Echo, false),
        Err(NtStatus::ADDRESS_ALREADY_EXISTS)
    );
    // The provider's name resolution: a name it does not know, its status unchanged; then
    // `localhost` with a numeric service, both addresses in the provider's order.
    let resolve = |name: &str| {
        let request = protocol::encode_resolve(name, "80", 1_000).unwrap();
        let output = [0u8; protocol::resolve_output_len(4)];
        common::direct_call(d, ALICE, protocol::IoctlCode::RESOLVE, &request, &output)
            .map(|(n, reply)| reply[..n].to_vec())
    };
    assert_eq!(resolve("no.such.host"), Err(NtStatus::NOT_FOUND));
    let reply = resolve("localhost").unwrap();
    let resolved = addresses_of(&reply);
    assert_eq!(resolved, [addr("127.0.0.1:80"), addr("[::1]:80")]);
    assert_eq!(
        fake::provider::address_lists_live(),
        0,
        "the driver freed the list"
    );
    assert_eq!(list(d, ALICE).len(), 2);
    assert_eq!(
        fake::counts().sockets_open,
        2,
        "every failed open closed its socket"
    );
    assert_eq!(stats(d).endpoints_opened, 2);
    setup.finish();
}

#[test]
fn abortive_disconnect_resets_the_peer() {
    let setup = Setup::start();
    let d = setup.driver;
    let (client, mut listener) = peer_listener("127.0.0.1:9300");
    let c = connect(d, ALICE, addr("127.0.0.1:9300"), false).unwrap();
    let (mut far, _) = listener.accept(QUICK).unwrap();
    disconnect(d, ALICE, c.id, true).unwrap();
    assert_eq!(
        entry(d, ALICE, c.id).unwrap().0.state,
        EndpointState::Disconnected
    );
    let mut buf = [0u8; 8];
    assert_eq!(
        far.receive(&mut buf, QUICK).map_err(wsk::Error::status),
        Err(NtStatus::CONNECTION_RESET)
    );
    // The endpoint stays until CLOSE; a SEND on it fails with the provider's status.
    assert!(send(d, ALICE, c.id, b"x").is_err());
    close(d, ALICE, c.id).unwrap();
    drop((far, listener));
    assert!(client.shutdown(QUICK));
    setup.finish();
}

/// The SDDL of an endpoint's security descriptor (SECURITY), "" for none.
fn security_of(d: &'static common::Driver, caller: wskrs_driver::Caller, id: EndpointId) -> String {
    let reply = common::call(
        d,
        caller,
        protocol::IoctlCode::SECURITY,
        &protocol::encode_security(id),
        512,
    )
    .unwrap();
    protocol::parse_security_reply(&reply).unwrap().to_owned()
}

#[test]
fn a_detached_connection_is_usable_by_every_caller_and_security_reports_none() {
    let setup = Setup::start();
    let d = setup.driver;
    let l = listen(d, ALICE, addr("127.0.0.1:9400"), Service::Echo, true).unwrap();
    let c = connect(d, ALICE, addr("127.0.0.1:9400"), true).unwrap();
    let bob = common::BOB;
    send(d, bob, c.id, b"from bob").unwrap();
    assert_eq!(recv_exact(d, ALICE, c.id, 8), b"from bob");
    for id in [l.id, c.id] {
        assert_eq!(security_of(d, bob, id), "", "no descriptor");
    }
    // Both handles close: detached endpoints stay until unload.
    d.cleanup(ALICE);
    d.cleanup(bob);
    assert_eq!(list(d, ALICE).len(), 2);
    send(d, bob, c.id, b"still").unwrap();
    assert_eq!(recv_exact(d, ALICE, c.id, 5), b"still");
    setup.finish();
}

#[test]
fn a_connection_reset_by_the_peer_is_broken() {
    let setup = Setup::start();
    let d = setup.driver;
    let (client, mut listener) = peer_listener("127.0.0.1:9700");
    let c = connect(d, ALICE, addr("127.0.0.1:9700"), false).unwrap();
    let (mut far, _) = listener.accept(QUICK).unwrap();
    far.disconnect(wsk::Disconnect::Abortive, QUICK).unwrap();
    assert_eq!(recv(d, ALICE, c.id, 16), Err(NtStatus::CONNECTION_RESET));
    let (status, activity) = entry(d, ALICE, c.id).unwrap();
    assert_eq!(
        status.state,
        EndpointState::Broken,
        "only CLOSE is useful now"
    );
    assert_eq!(
        (activity.errors, activity.last_status),
        (1, Some(NtStatus::CONNECTION_RESET))
    );
    assert_eq!(send(d, ALICE, c.id, b"x"), Err(NtStatus::CONNECTION_RESET));
    assert_eq!(
        entry(d, ALICE, c.id).unwrap().0.state,
        EndpointState::Broken
    );
    close(d, ALICE, c.id).unwrap();
    drop((far, listener));
    assert!(client.shutdown(QUICK));
    setup.finish();
}

#[test]
fn an_accept_mode_listener_hands_connections_to_accept() {
    let setup = Setup::start();
    let d = setup.driver;
    let at = addr("127.0.0.1:9300");
    let l = listen(d, ALICE, at, Service::None, false).unwrap();
    assert_eq!(l.kind, EndpointKind::TcpListener);
    let peer = register(QUICK).expect("peer registration");
    let accept = |timeout_ms: u32, detach: bool| {
        common::direct(
            d,
            ALICE,
            protocol::IoctlCode::ACCEPT,
            &protocol::encode_accept(l.id, timeout_ms, detach),
            &[0u8; 80],
        )
    };
    let accepted = |pended: common::Pended| {
        let (status, n, reply) = pended.wait();
        assert_eq!(status, NtStatus::SUCCESS);
        protocol::parse_endpoint_reply(&reply[..n]).expect("ACCEPT reply")
    };

    // A connection that arrived before ACCEPT waits in the queue.
    let mut first = wsk::ConnectionSocket::connect(&peer, at, None, QUICK).unwrap();
    eventually("the connection is queued", || {
        entry(d, ALICE, l.id).unwrap().0.connections_active == 1
    });
    let c = accepted(accept(common::QUICK_MS, false));
    assert_eq!((c.kind, c.local), (EndpointKind::TcpConnection, Some(at)));
    assert!(c.remote.is_some(), "the peer's address");
    assert_eq!(send(d, ALICE, c.id, b"hello"), Ok(5));
    let mut buf = [0u8; 16];
    assert_eq!(first.receive(&mut buf, QUICK).unwrap(), 5);
    first.send_all(b"back", QUICK).unwrap();
    assert_eq!(recv_exact(d, ALICE, c.id, 4), b"back");

    // An ACCEPT that waits is completed by the next connection; a second one is busy.
    let parked = accept(common::QUICK_MS, false);
    let busy = accept(common::QUICK_MS, false).wait();
    assert_eq!(busy.0, NtStatus::DEVICE_BUSY);
    let second = wsk::ConnectionSocket::connect(&peer, at, None, QUICK).unwrap();
    let c2 = accepted(parked);
    assert_ne!(c2.id, c.id);

    // Cancelled, timed out, and completed by the listener's close.
    let parked = accept(common::QUICK_MS, false);
    d.cancel(parked.ticket().expect("ticket"));
    assert_eq!(parked.wait().0, NtStatus::CANCELLED);
    assert_eq!(accept(200, false).wait().0, NtStatus::IO_TIMEOUT);
    let parked = accept(common::QUICK_MS, false);
    close(d, ALICE, l.id).unwrap();
    assert_eq!(parked.wait().0, NtStatus::CANCELLED);
    // The accepted connections are endpoints of their own and outlive the listener.
    assert_eq!(send(d, ALICE, c2.id, b"x"), Ok(1));
    drop((first, second));
    assert!(peer.shutdown(QUICK));
    setup.finish();
}

#[test]
fn serve_hands_a_connection_to_an_in_kernel_service() {
    let setup = Setup::start();
    let d = setup.driver;
    let (peer, mut listener) = peer_listener("127.0.0.1:9400");
    let c = connect(d, ALICE, addr("127.0.0.1:9400"), false).unwrap();
    let (mut far, _) = listener.accept(QUICK).unwrap();
    let serve = |id, service| {
        common::call(
            d,
            ALICE,
            protocol::IoctlCode::SERVE,
            &protocol::encode_serve(id, service),
            64,
        )
        .map(|reply| protocol::parse_serve_reply(&reply).unwrap())
    };
    assert_eq!(
        serve(c.id, Service::None),
        Err(NtStatus::INVALID_PARAMETER),
        "a service is required"
    );
    let l = listen(d, ALICE, addr("127.0.0.1:9401"), Service::Echo, false).unwrap();
    assert_eq!(
        serve(l.id, Service::Echo),
        Err(NtStatus::INVALID_DEVICE_STATE),
        "only connections"
    );

    assert_eq!(serve(c.id, Service::Echo), Ok(()));
    far.send_all(b"served by the kernel", QUICK).unwrap();
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    while got.len() < 20 {
        let n = far.receive(&mut buf, QUICK).unwrap();
        assert!(n > 0, "the echo ended early");
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, b"served by the kernel");
    // The user's data requests are refused from now on; LIST shows the service's counters.
    assert_eq!(
        send(d, ALICE, c.id, b"x"),
        Err(NtStatus::INVALID_DEVICE_STATE)
    );
    assert_eq!(
        serve(c.id, Service::Discard),
        Err(NtStatus::INVALID_DEVICE_STATE),
        "served once"
    );
    eventually("LIST counts the echo", || {
        let (status, _) = entry(d, ALICE, c.id).unwrap();
        status.service == Service::Echo && status.bytes_received == 20 && status.bytes_sent == 20
    });
    close(d, ALICE, c.id).unwrap();
    assert_eq!(
        far.receive(&mut buf, QUICK).unwrap(),
        0,
        "closing the endpoint ends the service's connection"
    );
    drop((far, listener));
    assert!(peer.shutdown(QUICK));
    setup.finish();
}

#[test]
fn a_descriptor_given_at_creation_reads_back_as_the_same_sddl_and_is_released() {
    // The fake caches descriptors as the Wine provider does: a listener gets its descriptor
    // through SO_WSK_SECURITY, a UDP socket through WskSocket's SecurityDescriptor.
    const SDDL: &str = "D:P(A;;GA;;;SY)";
    let setup = Setup::start();
    let d = setup.driver;
    let options = protocol::ListenOptions {
        sddl: Some(SDDL),
        ..protocol::ListenOptions::default()
    };
    let request =
        protocol::encode_tcp_listen_with(addr("127.0.0.1:9500"), Service::Echo, &options).unwrap();
    let reply = common::call(d, ALICE, protocol::IoctlCode::TCP_LISTEN, &request, 128).unwrap();
    let listener = protocol::parse_endpoint_reply(&reply).unwrap().id;
    let request = protocol::encode_udp_bind(
        addr("127.0.0.1:9501"),
        UdpService::None,
        false,
        protocol::BindFlags::default(),
        Some(SDDL),
    )
    .unwrap();
    let reply = common::call(d, ALICE, protocol::IoctlCode::UDP_BIND, &request, 128).unwrap();
    let udp = protocol::parse_endpoint_reply(&reply).unwrap().id;
    for id in [listener, udp] {
        assert_eq!(security_of(d, ALICE, id), SDDL, "{id}");
    }
    assert_eq!(
        fake::provider::cached_security_descriptors(),
        2,
        "one copy per socket, held by the socket"
    );
    close(d, ALICE, listener).unwrap();
    close(d, ALICE, udp).unwrap();
    eventually("the sockets released their descriptors", || {
        fake::provider::cached_security_descriptors() == 0
    });
    setup.finish();
}

/// A connection handed to a parked ACCEPT when the endpoint table is full is refused without
/// a close that waits: the hand-over runs in the accept completion, at DISPATCH_LEVEL, where
/// the fake kernel records any wait as a violation (`Setup::finish` asserts there is none).
#[test]
fn a_connection_accepted_into_a_full_table_is_refused_without_waiting() {
    // One handle fills a small table.
    let setup = Setup::start();
    let d = setup.driver;
    common::table_of(d, 64);
    let at = addr("127.0.0.1:9500");
    let l = listen(d, ALICE, at, Service::None, false).unwrap();
    let mut fillers = Vec::new();
    loop {
        match udp_bind(d, ALICE, addr("127.0.0.1:0"), UdpService::None, false) {
            Ok(e) => fillers.push(e.id),
            Err(status) => {
                assert_eq!(
                    status,
                    NtStatus::INSUFFICIENT_RESOURCES,
                    "the table is full"
                );
                break;
            }
        }
    }
    let parked = common::direct(
        d,
        ALICE,
        protocol::IoctlCode::ACCEPT,
        &protocol::encode_accept(l.id, common::QUICK_MS, false),
        &[0u8; 80],
    );
    let peer = register(QUICK).expect("peer registration");
    // Closes complete from another thread, as Windows' do: a close that waits really waits.
    fake::provider::set_default(
        fake::provider::Op::Close,
        fake::provider::Behavior::Later(Duration::from_millis(1)),
    );
    let connection = wsk::ConnectionSocket::connect(&peer, at, None, QUICK).unwrap();
    assert_eq!(parked.wait().0, NtStatus::INSUFFICIENT_RESOURCES);
    let v = fake::violations();
    assert!(v.is_empty(), "violations: {v:#?}");
    for id in fillers {
        close(d, ALICE, id).unwrap();
    }
    drop(connection);
    assert!(peer.shutdown(QUICK));
    setup.finish();
}

/// A listener whose provider socket stops accepting (its `WskAccept` fails) is noticed: LIST
/// shows it broken with the failure as its last status, and STATS counts the error, instead of
/// `listening` with no error (issue 13: Wine's netio after 500 clients). An echo listener
/// opened beside it keeps serving.
#[test]
fn a_listener_whose_accept_fails_is_broken_with_the_status() {
    let setup = Setup::start();
    let d = setup.driver;
    let healthy = listen(d, ALICE, addr("127.0.0.1:9400"), Service::Echo, false).unwrap();
    fake::provider::script(
        fake::provider::Op::Accept,
        [fake::provider::Behavior::Fail(
            NtStatus::INSUFFICIENT_RESOURCES,
        )],
    );
    let l = listen(d, ALICE, addr("127.0.0.1:9401"), Service::Echo, false).unwrap();
    eventually("the failed accept is reported", || {
        let (status, activity) = entry(d, ALICE, l.id).unwrap();
        status.state == EndpointState::Broken
            && activity.errors == 1
            && activity.last_status == Some(NtStatus::INSUFFICIENT_RESOURCES)
    });
    assert!(stats(d).errors >= 1, "STATS counts the listener's failure");
    // The other listener still echoes.
    let c = connect(d, ALICE, addr("127.0.0.1:9400"), false).unwrap();
    assert_eq!(send(d, ALICE, c.id, b"still"), Ok(5));
    assert_eq!(recv_exact(d, ALICE, c.id, 5), b"still");
    assert_eq!(
        entry(d, ALICE, healthy.id).unwrap().0.state,
        EndpointState::Listening
    );
    close(d, ALICE, c.id).unwrap();
    close(d, ALICE, l.id).unwrap();
    close(d, ALICE, healthy.id).unwrap();
    setup.finish();
}

/// An accept-mode listener whose `WskAccept` fails while an ACCEPT waits: the ACCEPT completes
/// at once with the provider's status (not at its timeout), and so does every later ACCEPT.
#[test]
fn an_accept_that_fails_completes_the_waiting_accept_with_its_status() {
    let setup = Setup::start();
    let d = setup.driver;
    fake::provider::script(
        fake::provider::Op::Accept,
        [fake::provider::Behavior::Hang {
            cancel: true,
            close: true,
        }],
    );
    let l = listen(d, ALICE, addr("127.0.0.1:9402"), Service::None, false).unwrap();
    let accept = || {
        common::direct(
            d,
            ALICE,
            protocol::IoctlCode::ACCEPT,
            &protocol::encode_accept(l.id, common::QUICK_MS, false),
            &[0u8; 80],
        )
    };
    let parked = accept();
    eventually("the accept is pending at the provider", || {
        fake::provider::calls(fake::provider::Op::Accept) == 1
    });
    assert!(
        parked.wait_for(Duration::from_millis(200)).is_none(),
        "no connection yet: the ACCEPT waits"
    );
    assert_eq!(
        fake::provider::release_stuck(NtStatus::NETWORK_UNREACHABLE),
        1
    );
    let (status, n, _) = parked
        .wait_for(Duration::from_secs(2))
        .expect("the waiting ACCEPT completes when the listener fails, not at its timeout");
    assert_eq!((status, n), (NtStatus::NETWORK_UNREACHABLE, 0));
    drop(parked.wait()); // frees its buffer
    let later = accept();
    let (status, n, _) = later
        .wait_for(Duration::from_secs(2))
        .expect("a later ACCEPT fails at once");
    assert_eq!((status, n), (NtStatus::NETWORK_UNREACHABLE, 0));
    drop(later.wait());
    let (state, activity) = entry(d, ALICE, l.id).unwrap();
    assert_eq!(state.state, EndpointState::Broken);
    assert_eq!(activity.last_status, Some(NtStatus::NETWORK_UNREACHABLE));
    close(d, ALICE, l.id).unwrap();
    setup.finish();
}

/// A UDP echo whose `WskReceiveFrom` fails for good (more than the task's tolerance of 64
/// failures in a row) stops; LIST shows it broken with the status instead of `bound` with no
/// error.
#[test]
fn a_udp_echo_whose_receive_fails_is_broken_with_the_status() {
    let setup = Setup::start();
    let d = setup.driver;
    fake::provider::script(
        fake::provider::Op::ReceiveFrom,
        [fake::provider::Behavior::Fail(NtStatus::INSUFFICIENT_RESOURCES); 65],
    );
    let echo = udp_bind(d, ALICE, addr("127.0.0.1:8702"), UdpService::Echo, false).unwrap();
    eventually("the failed receive is reported", || {
        let (status, activity) = entry(d, ALICE, echo.id).unwrap();
        status.state == EndpointState::Broken
            && activity.last_status == Some(NtStatus::INSUFFICIENT_RESOURCES)
    });
    close(d, ALICE, echo.id).unwrap();
    setup.finish();
}

/// An accept that fails for one connection only (its peer reset it before the accept
/// completed: `STATUS_CONNECTION_RESET`, as Winsock's `accept` documents `WSAECONNRESET`)
/// does not stop the listener: it goes on serving, and LIST counts the error.
#[test]
fn a_listener_goes_on_after_an_accept_reset_by_its_peer() {
    let setup = Setup::start();
    let d = setup.driver;
    fake::provider::script(
        fake::provider::Op::Accept,
        [
            fake::provider::Behavior::Fail(NtStatus::CONNECTION_RESET),
            fake::provider::Behavior::Fail(NtStatus::CONNECTION_ABORTED),
        ],
    );
    let at = addr("127.0.0.1:9403");
    let l = listen(d, ALICE, at, Service::Echo, false).unwrap();
    let c = connect(d, ALICE, at, false).unwrap();
    assert_eq!(send(d, ALICE, c.id, b"served"), Ok(6));
    assert_eq!(recv_exact(d, ALICE, c.id, 6), b"served");
    let (status, activity) = entry(d, ALICE, l.id).unwrap();
    assert_eq!(status.state, EndpointState::Listening);
    assert_eq!(
        (activity.errors, activity.last_status),
        (2, Some(NtStatus::CONNECTION_ABORTED))
    );
    assert_eq!(stats(d).errors, 2);
    close(d, ALICE, c.id).unwrap();
    close(d, ALICE, l.id).unwrap();
    setup.finish();
}

/// A request that fails with `STATUS_FILE_FORCED_CLOSED` (WSK's status for a socket that "is
/// no longer functional": only `WskCloseSocket` helps) leaves the connection broken in LIST,
/// as a reset does.
#[test]
fn a_socket_forced_closed_by_the_provider_is_broken() {
    let setup = Setup::start();
    let d = setup.driver;
    let at = addr("127.0.0.1:9404");
    let l = listen(d, ALICE, at, Service::Discard, false).unwrap();
    let c = connect(d, ALICE, at, false).unwrap();
    fake::provider::script(
        fake::provider::Op::Send,
        [fake::provider::Behavior::Fail(NtStatus::FILE_FORCED_CLOSED)],
    );
    assert_eq!(
        send(d, ALICE, c.id, b"x"),
        Err(NtStatus::FILE_FORCED_CLOSED)
    );
    let (status, activity) = entry(d, ALICE, c.id).unwrap();
    assert_eq!(status.state, EndpointState::Broken);
    assert_eq!(activity.last_status, Some(NtStatus::FILE_FORCED_CLOSED));
    close(d, ALICE, c.id).unwrap();
    close(d, ALICE, l.id).unwrap();
    setup.finish();
}

/// A RESOLVE pends while the provider resolves (a worker thread waits, not the caller): the
/// caller's other requests are answered meanwhile, a cancel completes it at once, closing the
/// handle cancels the one it had, and the workers' late results are dropped.
#[test]
fn a_resolve_pends_and_a_cancel_ends_it_at_once() {
    use fake::provider::{Behavior, Op};
    let setup = Setup::start();
    let d = setup.driver;
    let hang = Behavior::Hang {
        cancel: false,
        close: false,
    };
    fake::provider::script(Op::AddressInfo, [hang, hang]);
    let request = protocol::encode_resolve("localhost", "80", 60_000).unwrap();
    let output = [0u8; protocol::resolve_output_len(4)];
    let resolve =
        |caller| common::direct(d, caller, protocol::IoctlCode::RESOLVE, &request, &output);
    let first = resolve(ALICE);
    eventually("the first resolve is at the provider", || {
        fake::provider::calls(Op::AddressInfo) == 1
    });
    assert_eq!(
        list(d, ALICE).len(),
        0,
        "LIST is answered while a RESOLVE waits"
    );
    assert!(
        first.wait_for(Duration::from_millis(200)).is_none(),
        "the resolve waits for the provider"
    );
    d.cancel(first.ticket().expect("a pended RESOLVE is cancellable"));
    let (status, n, _) = first
        .wait_for(Duration::from_secs(2))
        .expect("a cancel completes the RESOLVE at once");
    assert_eq!((status, n), (NtStatus::CANCELLED, 0));
    drop(first.wait());

    let second = resolve(common::BOB);
    eventually("the second resolve is at the provider", || {
        fake::provider::calls(Op::AddressInfo) == 2
    });
    d.cleanup(common::BOB);
    let (status, n, _) = second
        .wait_for(Duration::from_secs(2))
        .expect("closing the handle completes its RESOLVE");
    assert_eq!((status, n), (NtStatus::CANCELLED, 0));
    drop(second.wait());

    // The provider answers the two at last: nothing more completes, and nothing leaks.
    assert_eq!(fake::provider::release_stuck(NtStatus::NOT_FOUND), 2);
    let (n, reply) = common::direct_call(d, ALICE, protocol::IoctlCode::RESOLVE, &request, &output)
        .expect("a resolve after them");
    let resolved = addresses_of(&reply[..n]);
    assert_eq!(resolved, [addr("127.0.0.1:80"), addr("[::1]:80")]);
    assert_eq!(fake::provider::address_lists_live(), 0);
    setup.finish();
}

/// Cancelling a pended RESOLVE cancels its worker's resolution too: with a provider that
/// honours the cancel, the worker ends at once and gives back its slot. `MAX_RESOLVES`
/// resolutions the provider holds fill the slots (one more is `STATUS_DEVICE_BUSY`); closing
/// the handle ends them, every one at the provider is cancelled, and a RESOLVE is answered
/// again well within the 1 s a provider that ignores the cancel would keep a worker.
#[test]
fn a_cancelled_resolve_gives_back_its_worker() {
    use fake::provider::{Behavior, Op};
    use wskrs_driver::MAX_RESOLVES;
    let setup = Setup::start();
    let d = setup.driver;
    let hang = Behavior::Hang {
        cancel: true,
        close: false,
    };
    fake::provider::script(Op::AddressInfo, [hang; MAX_RESOLVES]);
    let request = protocol::encode_resolve("localhost", "80", 60_000).unwrap();
    let output = [0u8; protocol::resolve_output_len(4)];
    let held: Vec<_> = (0..MAX_RESOLVES)
        .map(|_| common::direct(d, ALICE, protocol::IoctlCode::RESOLVE, &request, &output))
        .collect();
    eventually("every resolve is at the provider", || {
        fake::provider::calls(Op::AddressInfo) == MAX_RESOLVES as u64
    });
    assert_eq!(
        common::direct_call(
            d,
            common::BOB,
            protocol::IoctlCode::RESOLVE,
            &request,
            &output
        )
        .err(),
        Some(NtStatus::DEVICE_BUSY),
        "one more than MAX_RESOLVES is refused"
    );
    d.cleanup(ALICE);
    for pended in held {
        assert_eq!(pended.wait().0, NtStatus::CANCELLED);
    }
    let cancelled = std::time::Instant::now();
    let answered = loop {
        match common::direct_call(
            d,
            common::BOB,
            protocol::IoctlCode::RESOLVE,
            &request,
            &output,
        ) {
            Ok((n, reply)) => break addresses_of(&reply[..n]),
            Err(NtStatus::DEVICE_BUSY) if cancelled.elapsed() < Duration::from_secs(5) => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(status) => panic!("a RESOLVE after the cancels: {status:?}"),
        }
    };
    assert_eq!(answered, [addr("127.0.0.1:80"), addr("[::1]:80")]);
    assert!(
        cancelled.elapsed() < Duration::from_millis(500),
        "the workers gave back their slots {:?} after the cancels",
        cancelled.elapsed()
    );
    assert_eq!(fake::provider::address_lists_live(), 0);
    setup.finish();
}

/// A resolution that ends quickly is answered by the dispatch routine itself (it waits
/// `RESOLVE_DISPATCH_WAIT` for the worker): the request is complete when `direct` returns.
/// One the provider answers later than that pends, and the worker completes it.
#[test]
fn a_quick_resolve_is_answered_before_the_dispatch_routine_returns() {
    use fake::provider::{Behavior, Op};
    let setup = Setup::start();
    let d = setup.driver;
    let request = protocol::encode_resolve("localhost", "80", 5_000).unwrap();
    let output = [0u8; protocol::resolve_output_len(4)];
    let quick = common::direct(d, ALICE, protocol::IoctlCode::RESOLVE, &request, &output);
    assert_eq!(
        quick.completed().map(|(status, _)| status),
        Some(NtStatus::SUCCESS),
        "a quick resolution is answered before the dispatch routine returns"
    );
    drop(quick.wait());
    let late = wskrs_driver::RESOLVE_DISPATCH_WAIT * 4;
    fake::provider::script(Op::AddressInfo, [Behavior::Later(late)]);
    let slow = common::direct(d, ALICE, protocol::IoctlCode::RESOLVE, &request, &output);
    assert_eq!(slow.completed(), None, "a slow resolution pends");
    let (status, n, reply) = slow.wait();
    assert_eq!(status, NtStatus::SUCCESS, "the worker answers it");
    let resolved = addresses_of(&reply[..n]);
    assert_eq!(resolved, [addr("127.0.0.1:80"), addr("[::1]:80")]);
    assert_eq!(fake::provider::address_lists_live(), 0);
    setup.finish();
}

/// RESOLVE's output buffer: shorter than its reply header is refused before anything runs;
/// one address's room gets one address and the count of both.
#[test]
fn a_resolve_reply_fills_what_fits() {
    let setup = Setup::start();
    let d = setup.driver;
    let request = protocol::encode_resolve("localhost", "", 1_000).unwrap();
    let short = [0u8; protocol::resolve_output_len(0) - 1];
    assert_eq!(
        common::direct_call(d, ALICE, protocol::IoctlCode::RESOLVE, &request, &short),
        Err(NtStatus::BUFFER_TOO_SMALL)
    );
    let one = [0u8; protocol::resolve_output_len(1)];
    let (n, reply) = common::direct_call(d, ALICE, protocol::IoctlCode::RESOLVE, &request, &one)
        .expect("a reply with what fits");
    let parsed = protocol::parse_resolve_reply(&reply[..n]).unwrap();
    assert_eq!(parsed.iter().collect::<Vec<_>>(), [addr("127.0.0.1:0")]);
    assert_eq!(parsed.total(), 2);
    assert_eq!(fake::provider::address_lists_live(), 0);
    setup.finish();
}

/// The addresses of a RESOLVE reply.
fn addresses_of(reply: &[u8]) -> Vec<std::net::SocketAddr> {
    protocol::parse_resolve_reply(reply)
        .expect("a RESOLVE reply")
        .iter()
        .collect()
}
