//! The endpoint table through `Driver::device_control` against the fake kernel: ownership by
//! handle, detached endpoints, cleanup, stale ids, busy endpoints, queued receives, the table limit, LIST
//! pagination, counters and unload.

mod common;

use std::time::Duration;

use common::{
    addr, call, close, connect, entry, eventually, info, list, list_with, listen, recv, recv_exact,
    send, stats, udp_bind, Setup, ALICE, BOB,
};
use wsk::NtStatus;
use wskrs_driver::Caller;
use wskrs_fake_kernel as fake;
use wskrs_protocol::{self as protocol, EndpointId, EndpointState, IoctlCode, Service, UdpService};

const LOCAL: &str = "127.0.0.1:0";

#[test]
fn a_second_caller_cannot_see_or_close_a_non_detached_endpoint() {
    let setup = Setup::start();
    let d = setup.driver;
    let mine = udp_bind(d, ALICE, addr(LOCAL), UdpService::None, false).unwrap();
    let shared = udp_bind(d, ALICE, addr(LOCAL), UdpService::None, true).unwrap();

    let alice = list(d, ALICE);
    assert_eq!(alice.len(), 2);
    assert!(alice.iter().all(|e| e.owned_by_caller));
    assert_eq!(
        alice.iter().find(|e| e.id == shared.id).map(|e| e.detached),
        Some(true)
    );
    assert_eq!(
        alice.iter().find(|e| e.id == mine.id).map(|e| e.detached),
        Some(false)
    );

    // Bob sees only the detached one, not as his own.
    let bob = list(d, BOB);
    assert_eq!(bob.len(), 1);
    assert_eq!(bob[0].id, shared.id);
    assert!(bob[0].detached && !bob[0].owned_by_caller);

    // Everything Bob does to Alice's endpoint is STATUS_NOT_FOUND, and changes nothing.
    assert_eq!(close(d, BOB, mine.id), Err(NtStatus::NOT_FOUND));
    assert_eq!(
        common::send_to(d, BOB, mine.id, addr("127.0.0.1:9"), b"x"),
        Err(NtStatus::NOT_FOUND)
    );
    assert_eq!(
        common::option(d, BOB, mine.id, protocol::OptionId::RcvBuf, None),
        Err(NtStatus::NOT_FOUND)
    );
    assert_eq!(
        call(
            d,
            BOB,
            IoctlCode::SECURITY,
            &protocol::encode_security(mine.id),
            512
        ),
        Err(NtStatus::NOT_FOUND)
    );
    assert_eq!(list(d, ALICE).len(), 2);

    // Bob may close the detached one.
    close(d, BOB, shared.id).unwrap();
    assert_eq!(list(d, ALICE).len(), 1);
    assert!(list(d, BOB).is_empty());
    setup.finish();
}

#[test]
fn cleanup_closes_exactly_the_callers_non_detached_endpoints() {
    let setup = Setup::start();
    let d = setup.driver;
    let a1 = udp_bind(d, ALICE, addr(LOCAL), UdpService::None, false).unwrap();
    let a2 = listen(d, ALICE, addr("127.0.0.1:7100"), Service::Echo, false).unwrap();
    let a_detached = udp_bind(d, ALICE, addr(LOCAL), UdpService::None, true).unwrap();
    let b1 = udp_bind(d, BOB, addr(LOCAL), UdpService::None, false).unwrap();
    assert_eq!(fake::counts().sockets_open, 4);

    d.cleanup(ALICE);
    let ids: Vec<EndpointId> = list(d, BOB).iter().map(|e| e.id).collect();
    assert_eq!(ids, vec![a_detached.id, b1.id]);
    eventually("the listener's socket closed", || {
        fake::counts().sockets_open == 2
    });
    for gone in [a1.id, a2.id] {
        assert_eq!(close(d, ALICE, gone), Err(NtStatus::NOT_FOUND));
    }

    // A new handle that gets the same file object address inherits nothing: the detached
    // endpoint is nobody's now (visible to all, owned by none).
    let again = list(d, ALICE);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, a_detached.id);
    assert!(
        again[0].detached && !again[0].owned_by_caller,
        "{:?}",
        again[0]
    );
    d.cleanup(ALICE);
    assert_eq!(
        list(d, BOB).len(),
        2,
        "a second cleanup of that address closes no detached endpoint"
    );

    d.cleanup(BOB);
    assert_eq!(
        list(d, BOB).iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![a_detached.id]
    );
    close(d, Caller(0x3000), a_detached.id).unwrap();
    assert_eq!(fake::counts().sockets_open, 0);
    setup.finish();
}

#[test]
fn close_of_an_unknown_and_of_a_stale_id_is_not_found() {
    let setup = Setup::start();
    let d = setup.driver;
    assert_eq!(
        close(d, ALICE, EndpointId(1)),
        Err(NtStatus::NOT_FOUND),
        "before any endpoint"
    );
    let first = udp_bind(d, ALICE, addr(LOCAL), UdpService::None, false).unwrap();
    assert_eq!(first.id, EndpointId(1), "ids start at 1");
    assert_eq!(
        close(d, ALICE, EndpointId(u64::MAX)),
        Err(NtStatus::NOT_FOUND)
    );
    close(d, ALICE, first.id).unwrap();
    assert_eq!(close(d, ALICE, first.id), Err(NtStatus::NOT_FOUND), "stale");
    // The freed slot is reused with a new id; the stale one still names nothing.
    let second = udp_bind(d, ALICE, addr(LOCAL), UdpService::None, false).unwrap();
    assert_eq!(second.id, EndpointId(2), "ids are never reused");
    assert_eq!(close(d, ALICE, first.id), Err(NtStatus::NOT_FOUND));
    assert_eq!(
        common::option(d, ALICE, first.id, protocol::OptionId::RcvBuf, None),
        Err(NtStatus::NOT_FOUND)
    );
    assert_eq!(list(d, ALICE).len(), 1);
    setup.finish();
}

#[test]
fn a_pended_receive_leaves_the_connection_usable_and_ends_by_data_cancel_timeout_or_close() {
    let setup = Setup::start();
    let d = setup.driver;
    // The peer is driven by the test (its own registration), so it can end the RECV at once.
    let peer = common::register(Duration::from_secs(5)).unwrap();
    let mut listener =
        wsk::ListenSocket::bind(&peer, addr("127.0.0.1:7200"), Duration::from_secs(5)).unwrap();
    let c = connect(d, ALICE, addr("127.0.0.1:7200"), false).unwrap();
    let (mut far, _) = listener.accept(Duration::from_secs(5)).unwrap();
    let open = fake::counts().sockets_open;
    let pend_recv = |room: usize, timeout_ms: u32| {
        let idle = fake::provider::waiting_requests();
        let request = protocol::encode_recv(c.id, timeout_ms, u32::try_from(room).unwrap());
        let pended = common::direct(d, ALICE, IoctlCode::RECV, &request, &vec![0u8; room]);
        eventually("the RECV is waiting in the provider", || {
            fake::provider::waiting_requests() > idle
        });
        pended
    };

    // Data ends it; meanwhile the other direction, options and LIST work, a second RECV is
    // busy and a foreign caller still gets NOT_FOUND.
    let pended = pend_recv(64, common::QUICK_MS);
    assert_eq!(
        send(d, ALICE, c.id, b"x"),
        Ok(1),
        "a send while a receive is pended"
    );
    let mut buf = [0u8; 8];
    assert_eq!(far.receive(&mut buf, Duration::from_secs(5)).unwrap(), 1);
    assert!(common::option(d, ALICE, c.id, protocol::OptionId::NoDelay, None).is_ok());
    // A second RECV waits behind the first and starts when the first completes.
    let request = protocol::encode_recv(c.id, common::QUICK_MS, 8);
    let second = common::direct(d, ALICE, IoctlCode::RECV, &request, &[0u8; 8]);
    assert!(
        second.wait_for(Duration::from_millis(100)).is_none(),
        "the second RECV waits"
    );
    assert!(entry(d, ALICE, c.id).is_some());
    assert_eq!(send(d, BOB, c.id, b"x"), Err(NtStatus::NOT_FOUND));
    far.send_all(b"wake", Duration::from_secs(5)).unwrap();
    let (status, n, data) = pended.wait();
    assert_eq!((status, &data[..n]), (NtStatus::SUCCESS, &b"wake"[..]));
    far.send_all(b"next", Duration::from_secs(5)).unwrap();
    let (status, n, data) = second.wait();
    assert_eq!((status, &data[..n]), (NtStatus::SUCCESS, &b"next"[..]));

    // The requester cancels it (the shell's cancel routine calls Driver::cancel).
    let pended = pend_recv(64, common::QUICK_MS);
    let ticket = pended.ticket().expect("a pended request has a ticket");
    d.cancel(ticket);
    assert_eq!(pended.wait().0, NtStatus::CANCELLED);
    // A stale ticket does nothing to the next request.
    let pended = pend_recv(64, common::QUICK_MS);
    d.cancel(ticket);
    far.send_all(b"still", Duration::from_secs(5)).unwrap();
    let (status, n, data) = pended.wait();
    assert_eq!((status, &data[..n]), (NtStatus::SUCCESS, &b"still"[..]));

    // Its deadline passes: STATUS_IO_TIMEOUT, and the connection still works.
    assert_eq!(
        common::recv_with(d, ALICE, c.id, 64, 300),
        Err(NtStatus::IO_TIMEOUT)
    );
    assert_eq!(send(d, ALICE, c.id, b"ping"), Ok(4));
    assert_eq!(far.receive(&mut buf, Duration::from_secs(5)).unwrap(), 4);

    // CLOSE ends it: the socket closes and the RECV completes as cancelled.
    let pended = pend_recv(64, common::QUICK_MS);
    close(d, ALICE, c.id).unwrap();
    assert_eq!(pended.wait().0, NtStatus::CANCELLED);
    assert_eq!(close(d, ALICE, c.id), Err(NtStatus::NOT_FOUND));
    eventually("the connection closed", || {
        fake::counts().sockets_open == open - 1
    });
    assert_eq!(
        far.receive(&mut buf, Duration::from_secs(5)).unwrap(),
        0,
        "the peer sees the close"
    );
    drop((far, listener));
    assert!(peer.shutdown(Duration::from_secs(5)));
    setup.finish();
}

#[test]
fn send_on_a_listener_or_udp_socket_is_invalid_device_state() {
    let setup = Setup::start();
    let d = setup.driver;
    let l = listen(d, ALICE, addr("127.0.0.1:7300"), Service::Discard, false).unwrap();
    let u = udp_bind(d, ALICE, addr(LOCAL), UdpService::None, false).unwrap();
    let c = connect(d, ALICE, addr("127.0.0.1:7300"), false).unwrap();
    for id in [l.id, u.id] {
        assert_eq!(
            send(d, ALICE, id, b"x"),
            Err(NtStatus::INVALID_DEVICE_STATE)
        );
        assert_eq!(recv(d, ALICE, id, 8), Err(NtStatus::INVALID_DEVICE_STATE));
        assert_eq!(
            common::disconnect(d, ALICE, id, false),
            Err(NtStatus::INVALID_DEVICE_STATE)
        );
    }
    assert_eq!(
        common::send_to(d, ALICE, l.id, addr("127.0.0.1:9"), b"x"),
        Err(NtStatus::INVALID_DEVICE_STATE)
    );
    assert_eq!(
        common::send_to(d, ALICE, c.id, addr("127.0.0.1:9"), b"x"),
        Err(NtStatus::INVALID_DEVICE_STATE)
    );
    assert_eq!(
        common::recv_from(d, ALICE, c.id, 8),
        Err(NtStatus::INVALID_DEVICE_STATE)
    );
    assert_eq!(
        common::option(d, ALICE, l.id, protocol::OptionId::RcvBuf, None),
        Err(NtStatus::INVALID_DEVICE_STATE)
    );
    assert_eq!(
        common::option(d, ALICE, u.id, protocol::OptionId::NoDelay, None),
        Err(NtStatus::INVALID_DEVICE_STATE)
    );
    // The endpoints are unharmed.
    let l_entry = entry(d, ALICE, l.id).unwrap().0;
    assert_eq!(l_entry.state, EndpointState::Listening);
    assert_eq!(send(d, ALICE, c.id, b"still works"), Ok(11));
    setup.finish();
}

#[test]
fn a_full_table_answers_insufficient_resources_and_closes_the_rejected_socket() {
    // One handle may fill a table of 256 here.
    let setup = Setup::start();
    let d = setup.driver;
    common::table_of(d, 256);
    let mut ids = Vec::new();
    for _ in 0..256 {
        ids.push(
            udp_bind(d, ALICE, addr(LOCAL), UdpService::None, false)
                .unwrap()
                .id,
        );
    }
    assert_eq!(info(d, ALICE).endpoint_count, 256);
    assert_eq!(fake::counts().sockets_open, 256);
    let opened = fake::netio::calls(fake::netio::Event::SocketOpened);

    assert_eq!(
        udp_bind(d, ALICE, addr(LOCAL), UdpService::None, false),
        Err(NtStatus::INSUFFICIENT_RESOURCES)
    );
    assert_eq!(
        listen(d, BOB, addr("127.0.0.1:7400"), Service::Echo, true),
        Err(NtStatus::INSUFFICIENT_RESOURCES)
    );
    // The provider created the sockets, and the driver closed them again.
    assert_eq!(
        fake::netio::calls(fake::netio::Event::SocketOpened),
        opened + 2
    );
    eventually("the rejected sockets are closed", || {
        fake::counts().sockets_open == 256
    });
    assert_eq!(info(d, ALICE).endpoint_count, 256);
    let s = stats(d);
    assert_eq!(
        (s.endpoints_open, s.endpoints_peak, s.endpoints_opened),
        (256, 256, 256)
    );

    // One slot frees, one endpoint fits again; its id continues the count.
    close(d, ALICE, ids[100]).unwrap();
    let next = udp_bind(d, ALICE, addr(LOCAL), UdpService::None, false).unwrap();
    assert!(next.id.0 > 256, "{:?}", next.id);
    setup.finish();
}

/// Scans of the table stop at the highest slot in use; the mark rises and falls with the
/// endpoints, and every endpoint stays reachable by id on the way.
#[test]
fn endpoints_stay_reachable_while_the_table_fills_empties_and_refills() {
    let setup = Setup::start();
    let d = setup.driver;
    common::table_of(d, 8);
    let bind = || udp_bind(d, ALICE, addr(LOCAL), UdpService::None, false).map(|e| e.id);
    let full = |open: &[EndpointId]| {
        assert_eq!(bind(), Err(NtStatus::INSUFFICIENT_RESOURCES));
        assert_eq!(info(d, ALICE).endpoint_count as usize, open.len());
        let listed = list(d, ALICE);
        assert!(open.iter().all(|id| listed.iter().any(|e| e.id == *id)));
    };
    let mut open: Vec<EndpointId> = (0..8).map(|_| bind().unwrap()).collect();
    full(&open);

    // The two highest slots and one in the middle free up; three endpoints fit again.
    for index in [7, 6, 2] {
        close(d, ALICE, open.remove(index)).unwrap();
    }
    assert_eq!(info(d, ALICE).endpoint_count, 5);
    for _ in 0..3 {
        open.push(bind().unwrap());
    }
    full(&open);

    // All but the lowest and the newest close, highest first and lowest first alike.
    let newest = open.pop().unwrap();
    let lowest = open.remove(0);
    for (n, id) in open.drain(..).enumerate() {
        if n % 2 == 0 {
            close(d, ALICE, id).unwrap();
        } else {
            common::option(d, ALICE, id, protocol::OptionId::RcvBuf, None).unwrap();
            close(d, ALICE, id).unwrap();
        }
    }
    assert_eq!(info(d, ALICE).endpoint_count, 2);
    let mut open = vec![lowest, newest];
    while open.len() < 8 {
        open.push(bind().unwrap());
    }
    full(&open);
    for id in open {
        close(d, ALICE, id).unwrap();
    }
    assert_eq!(info(d, ALICE).endpoint_count, 0);
    let open: Vec<EndpointId> = (0..8).map(|_| bind().unwrap()).collect();
    full(&open);
    setup.finish();
}

#[test]
fn list_pagination_and_activity_counters() {
    let setup = Setup::start();
    let d = setup.driver;
    listen(d, ALICE, addr("127.0.0.1:7500"), Service::Echo, false).unwrap();
    let c = connect(d, ALICE, addr("127.0.0.1:7500"), false).unwrap();
    for _ in 0..3 {
        udp_bind(d, ALICE, addr(LOCAL), UdpService::None, false).unwrap();
    }
    udp_bind(d, BOB, addr(LOCAL), UdpService::None, false).unwrap();

    // Room for two of five visible entries: count 2, total 5.
    let (count, total, entries) = list_with(d, ALICE, 2);
    assert_eq!((count, total, entries.len()), (2, 5, 2));
    // Room for none (just the fixed reply): count 0, total 5.
    let (count, total, entries) = list_with(d, ALICE, 0);
    assert_eq!((count, total, entries.len()), (0, 5, 0));
    // Room for a partial entry counts as none.
    let reply = call(
        d,
        ALICE,
        IoctlCode::LIST,
        &protocol::encode_list(),
        protocol::list_output_len(1) - 1,
    )
    .unwrap();
    let partial = protocol::parse_list_reply(&reply).unwrap();
    assert_eq!((partial.count(), partial.total()), (0, 5));
    assert_eq!(list_with(d, ALICE, 5).0, 5);
    assert_eq!(list_with(d, BOB, 5).1, 1, "Bob sees his one endpoint");

    // Activity: two sends, one receive, one failing receive.
    send(d, ALICE, c.id, b"hello").unwrap();
    assert_eq!(recv_exact(d, ALICE, c.id, 5), b"hello");
    send(d, ALICE, c.id, b" world").unwrap();
    assert_eq!(recv_exact(d, ALICE, c.id, 6), b" world");
    assert_eq!(
        common::recv_with(d, ALICE, c.id, 16, 20),
        Err(NtStatus::IO_TIMEOUT)
    );
    let (status, activity) = entry(d, ALICE, c.id).unwrap();
    assert_eq!(
        status.state,
        EndpointState::Connected,
        "a timed-out receive keeps the connection (Windows)"
    );
    assert_eq!((status.bytes_sent, status.bytes_received), (11, 11));
    assert_eq!(
        (activity.send_ops, activity.recv_ops, activity.errors),
        (2, 2 + 1, 1),
        "{activity:?}"
    );
    assert_eq!(activity.last_status, Some(NtStatus::IO_TIMEOUT));
    assert_eq!(status.remote, Some(addr("127.0.0.1:7500")));
    let s = stats(d);
    assert_eq!(
        (s.bytes_sent, s.bytes_received),
        (22, 22),
        "user and echo service bytes: {s:?}"
    );
    assert_eq!(s.errors, 1);
    setup.finish();
}

#[test]
fn stats_totals() {
    let setup = Setup::start();
    let d = setup.driver;
    let s = stats(d);
    assert_eq!(
        (s.endpoints_open, s.endpoints_peak, s.endpoints_opened),
        (0, 0, 0)
    );
    assert_eq!(
        (
            s.bytes_sent,
            s.bytes_received,
            s.connections_served,
            s.errors
        ),
        (0, 0, 0, 0)
    );
    let l = listen(d, ALICE, addr("127.0.0.1:7600"), Service::Discard, false).unwrap();
    let c1 = connect(d, ALICE, addr("127.0.0.1:7600"), false).unwrap();
    let c2 = connect(d, ALICE, addr("127.0.0.1:7600"), false).unwrap();
    send(d, ALICE, c1.id, &[1; 1000]).unwrap();
    send(d, ALICE, c2.id, &[2; 500]).unwrap();
    eventually("the discard service read everything", || {
        entry(d, ALICE, l.id).unwrap().0.bytes_received == 1500
    });
    let s = stats(d);
    assert_eq!(
        (s.endpoints_open, s.endpoints_peak, s.endpoints_opened),
        (3, 3, 3)
    );
    assert_eq!(s.connections_served, 2);
    assert_eq!(s.bytes_sent, 1500, "user sends; discard sends nothing");
    assert_eq!(s.bytes_received, 1500, "the service's reads");
    close(d, ALICE, c1.id).unwrap();
    assert_eq!(close(d, ALICE, c1.id), Err(NtStatus::NOT_FOUND));
    assert_eq!(
        send(d, ALICE, EndpointId(99), b"x"),
        Err(NtStatus::NOT_FOUND)
    );
    let s = stats(d);
    assert_eq!(
        (s.endpoints_open, s.endpoints_peak, s.endpoints_opened),
        (2, 3, 3)
    );
    assert_eq!(
        s.errors, 0,
        "requests refused before any I/O are not endpoint errors"
    );

    // Counters since load never go back: closing the listener (and a UDP echo service)
    // keeps what their services did in the totals.
    let echo_at = addr("127.0.0.1:7601");
    let echo = udp_bind(d, ALICE, echo_at, UdpService::Echo, false).unwrap();
    let user = udp_bind(d, ALICE, addr(LOCAL), UdpService::None, false).unwrap();
    common::send_to(d, ALICE, user.id, echo_at, &[3; 100]).unwrap();
    assert_eq!(
        common::recv_from(d, ALICE, user.id, 200).unwrap().0.len(),
        100
    );
    let before = stats(d);
    assert_eq!((before.bytes_sent, before.bytes_received), (1700, 1700));
    close(d, ALICE, l.id).unwrap();
    close(d, ALICE, echo.id).unwrap();
    d.cleanup(ALICE);
    let after = stats(d);
    assert_eq!(after.endpoints_open, 0);
    assert_eq!(
        (
            after.bytes_sent,
            after.bytes_received,
            after.connections_served
        ),
        (
            before.bytes_sent,
            before.bytes_received,
            before.connections_served
        ),
        "STATS totals since load survive CLOSE and cleanup: {after:?}"
    );
    setup.finish();
}

#[test]
fn shutdown_closes_everything_and_deregisters() {
    let setup = Setup::start();
    let d = setup.driver;
    listen(d, ALICE, addr("127.0.0.1:7700"), Service::Echo, true).unwrap();
    let c = connect(d, ALICE, addr("127.0.0.1:7700"), false).unwrap();
    send(d, ALICE, c.id, b"echo me").unwrap();
    assert_eq!(recv_exact(d, ALICE, c.id, 7), b"echo me");
    listen(d, BOB, addr("127.0.0.1:7701"), Service::Source, false).unwrap();
    let src = connect(d, BOB, addr("127.0.0.1:7701"), true).unwrap();
    assert!(!recv(d, BOB, src.id, 100).unwrap().0.is_empty());
    udp_bind(d, ALICE, addr("127.0.0.1:7702"), UdpService::Echo, true).unwrap();
    udp_bind(d, BOB, addr(LOCAL), UdpService::None, false).unwrap();
    assert!(fake::counts().sockets_open >= 8, "{:?}", fake::counts());
    assert_eq!(fake::netio::registrations(), 1);

    assert!(d.shutdown(), "everything closed in time");
    assert_eq!(fake::netio::registrations(), 0);
    assert_eq!(fake::netio::calls(fake::netio::Event::Release), 1);
    assert_eq!(fake::netio::calls(fake::netio::Event::Deregister), 1);
    assert_eq!(fake::counts().sockets_open, 0);
    assert_eq!(
        fake::netio::calls(fake::netio::Event::SocketOpened),
        fake::netio::calls(fake::netio::Event::SocketClosed)
    );
    assert!(list(d, Caller::NOBODY).is_empty());
    // A second unload finds nothing to do.
    assert!(d.shutdown());
    setup.kernel.assert_clean();
}
