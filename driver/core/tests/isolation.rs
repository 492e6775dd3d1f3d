//! Isolation between callers: a handle reaches only the endpoints it created; a detached
//! endpoint is reachable by the handles of the identity that created it and by nobody else;
//! an endpoint out of reach is answered exactly as an id that does not exist; and each handle
//! has its quotas (endpoints, pended requests, locked bytes) that leave the others unaffected.
//!
//! The identity is what a shell reads from the opener's token and hands to
//! `Driver::identify`; here the tests hand it in, which is how two different users are
//! represented (under Wine every process runs as the same user).

mod common;

use std::time::Duration;

use common::{
    addr, close, connect, direct, ioctl, list, listen, recv_exact, send, udp_bind, Setup, ALICE,
    BOB, QUICK_MS,
};
use wskrs_driver::{Caller, Identity, Quotas};
use wskrs_fake_kernel as fake;
use wskrs_protocol::{
    self as protocol, EndpointId, IoctlCode, NtStatus, OptionId, Service, UdpService,
};

/// Alice's user (her handles: `ALICE`, `ALICE_2`).
const USER_A: &str = "S-1-5-21-1004336348-1177238915-682003330-1001";
/// Another user.
const USER_M: &str = "S-1-5-21-1004336348-1177238915-682003330-1002";

/// A second handle of Alice's user.
const ALICE_2: Caller = Caller(0x3000);
/// A handle of the other user.
const MALLORY: Caller = Caller(0x4000);
/// A handle the shell did not identify.
const UNIDENTIFIED: Caller = Caller(0x5000);

const LOCAL: &str = "127.0.0.1:0";

fn sid(text: &str) -> Identity {
    text.parse().expect("SID")
}

/// Identifies the test handles: `ALICE`, `ALICE_2` as Alice's user, `MALLORY` as the other.
fn identify(d: &'static common::Driver) {
    d.identify(ALICE, sid(USER_A)).unwrap();
    d.identify(ALICE_2, sid(USER_A)).unwrap();
    d.identify(MALLORY, sid(USER_M)).unwrap();
}

/// The status of every code that names an endpoint, sent by `caller` on `id`, CLOSE last.
fn every_code(
    d: &'static common::Driver,
    caller: Caller,
    id: EndpointId,
) -> Vec<(&'static str, NtStatus)> {
    let remote = addr("127.0.0.1:9");
    let buffered = |code: IoctlCode, input: &[u8]| ioctl(d, caller, code, input, 1024).0;
    let pended = |code: IoctlCode, input: &[u8], room: usize| {
        direct(d, caller, code, input, &vec![0u8; room])
            .wait_for(Duration::from_secs(10))
            .map_or(NtStatus::PENDING, |(status, _, _)| status)
    };
    vec![
        (
            "SEND",
            pended(IoctlCode::SEND, &protocol::encode_send(id, QUICK_MS, 1), 1),
        ),
        (
            "RECV",
            pended(IoctlCode::RECV, &protocol::encode_recv(id, 100, 4), 4),
        ),
        (
            "SEND_TO",
            pended(
                IoctlCode::SEND_TO,
                &protocol::encode_send_to(id, QUICK_MS, remote, 1),
                1,
            ),
        ),
        (
            "RECV_FROM",
            pended(
                IoctlCode::RECV_FROM,
                &protocol::encode_recv_from(id, 100, 4),
                protocol::recv_from_output_len(4),
            ),
        ),
        (
            "ACCEPT",
            pended(
                IoctlCode::ACCEPT,
                &protocol::encode_accept(id, 100, false),
                core::mem::size_of::<protocol::EndpointReply>(),
            ),
        ),
        (
            "DISCONNECT",
            buffered(
                IoctlCode::DISCONNECT,
                &protocol::encode_disconnect(id, QUICK_MS, false),
            ),
        ),
        (
            "SOCKET_OPTION",
            buffered(
                IoctlCode::SOCKET_OPTION,
                &protocol::encode_socket_option(id, OptionId::RcvBuf, None),
            ),
        ),
        (
            "SECURITY",
            buffered(IoctlCode::SECURITY, &protocol::encode_security(id)),
        ),
        (
            "SERVE",
            buffered(IoctlCode::SERVE, &protocol::encode_serve(id, Service::Echo)),
        ),
        (
            "CLOSE",
            buffered(IoctlCode::CLOSE, &protocol::encode_close(id)),
        ),
    ]
}

/// Every code is refused on `id` with `STATUS_NOT_FOUND`, exactly as on an id that never
/// existed.
fn assert_unreachable(d: &'static common::Driver, caller: Caller, id: EndpointId, what: &str) {
    let got = every_code(d, caller, id);
    let unknown = every_code(d, caller, EndpointId(0x7FFF_0000));
    assert_eq!(got, unknown, "{caller:?} on {what}: as an unknown id");
    for (code, status) in got {
        assert_eq!(status, NtStatus::NOT_FOUND, "{caller:?} {code} on {what}");
    }
}

#[test]
fn another_handle_reaches_none_of_a_handles_own_endpoints_with_any_code() {
    let setup = Setup::start();
    let d = setup.driver;
    identify(d);
    let echo = listen(d, ALICE, addr("127.0.0.1:7810"), Service::Echo, false).unwrap();
    let accepting = listen(d, ALICE, addr("127.0.0.1:7811"), Service::None, false).unwrap();
    let connection = connect(d, ALICE, addr("127.0.0.1:7810"), false).unwrap();
    let udp = udp_bind(d, ALICE, addr(LOCAL), UdpService::None, false).unwrap();
    let targets = [
        ("the echo listener", echo.id),
        ("the accept-mode listener", accepting.id),
        ("the connection", connection.id),
        ("the UDP socket", udp.id),
    ];
    // The same user's second handle, another user, an unidentified handle: all alike.
    for caller in [ALICE_2, MALLORY, UNIDENTIFIED] {
        assert!(list(d, caller).is_empty(), "{caller:?} lists nothing");
        for (what, id) in targets {
            assert_unreachable(d, caller, id, what);
        }
    }
    // Alice is still served: every endpoint is there and the connection echoes.
    assert_eq!(list(d, ALICE).len(), 4);
    assert_eq!(send(d, ALICE, connection.id, b"still mine"), Ok(10));
    assert_eq!(recv_exact(d, ALICE, connection.id, 10), b"still mine");
    setup.finish();
}

#[test]
fn detached_endpoints_belong_to_the_identity_that_created_them() {
    let setup = Setup::start();
    let d = setup.driver;
    identify(d);
    let udp = udp_bind(d, ALICE, addr(LOCAL), UdpService::None, true).unwrap();
    let listener = listen(d, ALICE, addr("127.0.0.1:7812"), Service::None, true).unwrap();
    for caller in [MALLORY, UNIDENTIFIED] {
        assert!(list(d, caller).is_empty(), "{caller:?} lists nothing");
        assert_unreachable(d, caller, udp.id, "a detached UDP socket");
        assert_unreachable(d, caller, listener.id, "a detached listener");
    }
    // Alice's other handle sees them (not as its own) and may use them.
    let seen = list(d, ALICE_2);
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|e| e.detached && !e.owned_by_caller));
    assert!(common::option(d, ALICE_2, udp.id, OptionId::RcvBuf, None).is_ok());

    // Alice's first handle closes: the detached endpoints stay hers (her user's).
    d.cleanup(ALICE);
    let later = Caller(0x6000);
    d.identify(later, sid(USER_A)).unwrap();
    assert_eq!(list(d, later).len(), 2, "a later handle of the same user");
    assert_unreachable(d, MALLORY, udp.id, "an orphaned detached UDP socket");
    // A handle that reuses Alice's file object address as another user inherits nothing.
    d.identify(ALICE, sid(USER_M)).unwrap();
    assert!(list(d, ALICE).is_empty());
    assert_eq!(close(d, ALICE, udp.id), Err(NtStatus::NOT_FOUND));

    close(d, later, udp.id).unwrap();
    close(d, ALICE_2, listener.id).unwrap();
    assert!(list(d, later).is_empty());
    setup.finish();
}

#[test]
fn unidentified_handles_share_one_identity_that_no_identified_handle_has() {
    let setup = Setup::start();
    let d = setup.driver;
    identify(d);
    let theirs = udp_bind(d, UNIDENTIFIED, addr(LOCAL), UdpService::None, true).unwrap();
    let alices = udp_bind(d, ALICE, addr(LOCAL), UdpService::None, true).unwrap();
    let other_unidentified = Caller(0x7000);
    let ids = |caller| list(d, caller).iter().map(|e| e.id).collect::<Vec<_>>();
    assert_eq!(ids(other_unidentified), vec![theirs.id]);
    assert_eq!(ids(ALICE), vec![alices.id]);
    assert_eq!(ids(MALLORY), Vec::<EndpointId>::new());
    assert_unreachable(
        d,
        ALICE,
        theirs.id,
        "an unidentified handle's detached socket",
    );
    assert_unreachable(d, other_unidentified, alices.id, "Alice's detached socket");
    close(d, other_unidentified, theirs.id).unwrap();
    close(d, ALICE_2, alices.id).unwrap();
    setup.finish();
}

#[test]
fn identities_are_kept_per_handle_up_to_the_limit() {
    let setup = Setup::start();
    let d = setup.driver;
    let handles: Vec<Caller> = (1..=wskrs_driver::MAX_HANDLES)
        .map(|i| Caller(0x10_0000 + i))
        .collect();
    for &handle in &handles {
        d.identify(handle, sid(USER_A)).unwrap();
    }
    assert_eq!(
        d.identify(Caller(0x20_0000), sid(USER_M)),
        Err(NtStatus::INSUFFICIENT_RESOURCES),
        "one handle too many"
    );
    // Identifying a known handle again replaces its identity; a closed handle frees its place.
    d.identify(handles[0], sid(USER_M)).unwrap();
    d.cleanup(handles[1]);
    d.identify(Caller(0x20_0000), sid(USER_M)).unwrap();
    for &handle in &handles {
        d.cleanup(handle);
    }
    d.cleanup(Caller(0x20_0000));
    setup.finish();
}

#[test]
fn a_handle_past_its_endpoint_quota_gets_quota_exceeded_and_the_others_are_unaffected() {
    let setup = Setup::with_quotas(Quotas {
        endpoints: 3,
        ..Quotas::DEFAULT
    });
    let d = setup.driver;
    identify(d);
    let echo = listen(d, BOB, addr("127.0.0.1:7813"), Service::Echo, false).unwrap();
    let first = udp_bind(d, ALICE, addr(LOCAL), UdpService::None, false).unwrap();
    // Detached endpoints count while the handle that created them is open.
    udp_bind(d, ALICE, addr(LOCAL), UdpService::None, true).unwrap();
    connect(d, ALICE, addr("127.0.0.1:7813"), false).unwrap();
    let opened = fake::netio::calls(fake::netio::Event::SocketOpened);
    assert_eq!(
        udp_bind(d, ALICE, addr(LOCAL), UdpService::None, false),
        Err(NtStatus::QUOTA_EXCEEDED)
    );
    assert_eq!(
        connect(d, ALICE, addr("127.0.0.1:7813"), false),
        Err(NtStatus::QUOTA_EXCEEDED)
    );
    assert_eq!(
        listen(d, ALICE, addr("127.0.0.1:7814"), Service::Echo, false),
        Err(NtStatus::QUOTA_EXCEEDED)
    );
    assert_eq!(
        fake::netio::calls(fake::netio::Event::SocketOpened),
        opened,
        "a refused request opens no socket"
    );
    // Bob (another handle of his own) is unaffected.
    udp_bind(d, BOB, addr(LOCAL), UdpService::None, false).unwrap();
    // Alice's own handle gets room back by closing one.
    close(d, ALICE, first.id).unwrap();
    udp_bind(d, ALICE, addr(LOCAL), UdpService::None, false).unwrap();
    close(d, BOB, echo.id).unwrap();
    setup.finish();
}

/// Detached endpoints stop counting in the endpoint quota when their handle closes, also for
/// a new handle that gets the same `Caller` value (a file object's address is reused).
#[test]
fn a_reopened_handle_does_not_inherit_the_quota_of_detached_endpoints_left_behind() {
    let setup = Setup::with_quotas(Quotas {
        endpoints: 2,
        ..Quotas::DEFAULT
    });
    let d = setup.driver;
    identify(d);
    let left: Vec<EndpointId> = (0..2)
        .map(|_| {
            udp_bind(d, ALICE, addr(LOCAL), UdpService::None, true)
                .unwrap()
                .id
        })
        .collect();
    assert_eq!(
        udp_bind(d, ALICE, addr(LOCAL), UdpService::None, false),
        Err(NtStatus::QUOTA_EXCEEDED)
    );
    d.cleanup(ALICE);
    d.identify(ALICE, sid(USER_A)).unwrap();
    for _ in 0..2 {
        udp_bind(d, ALICE, addr(LOCAL), UdpService::None, false)
            .expect("the new handle has its whole quota");
    }
    assert_eq!(
        udp_bind(d, ALICE, addr(LOCAL), UdpService::None, false),
        Err(NtStatus::QUOTA_EXCEEDED)
    );
    for id in left {
        close(d, ALICE, id).unwrap();
    }
    d.cleanup(ALICE);
    setup.finish();
}

/// A RECV_FROM with room for `room` bytes that waits (nothing arrives), as `caller`.
fn waiting_recv_from(
    d: &'static common::Driver,
    caller: Caller,
    id: EndpointId,
    room: u32,
) -> common::Pended {
    direct(
        d,
        caller,
        IoctlCode::RECV_FROM,
        &protocol::encode_recv_from(id, 60_000, room),
        &vec![0u8; protocol::recv_from_output_len(room)],
    )
}

#[test]
fn a_handle_past_its_pended_request_quota_gets_quota_exceeded_and_the_others_are_unaffected() {
    let setup = Setup::with_quotas(Quotas {
        pended: 2,
        ..Quotas::DEFAULT
    });
    let d = setup.driver;
    identify(d);
    let sockets: Vec<EndpointId> = (0..3)
        .map(|_| {
            udp_bind(d, ALICE, addr(LOCAL), UdpService::None, false)
                .unwrap()
                .id
        })
        .collect();
    let bobs = udp_bind(d, BOB, addr(LOCAL), UdpService::None, false).unwrap();
    let first = waiting_recv_from(d, ALICE, sockets[0], 16);
    let second = waiting_recv_from(d, ALICE, sockets[1], 16);
    assert!(
        first.wait_for(Duration::from_millis(200)).is_none(),
        "pends"
    );
    assert!(
        second.wait_for(Duration::from_millis(10)).is_none(),
        "pends"
    );
    let third = waiting_recv_from(d, ALICE, sockets[2], 16);
    assert_eq!(
        third.wait_for(Duration::from_secs(5)).map(|(s, _, _)| s),
        Some(NtStatus::QUOTA_EXCEEDED)
    );
    // Bob's request pends as usual.
    drop(third);
    let bob = waiting_recv_from(d, BOB, bobs.id, 16);
    assert!(
        bob.wait_for(Duration::from_millis(200)).is_none(),
        "Bob's request pends"
    );
    // One of Alice's completes (cancelled): she has room again.
    d.cancel(first.ticket().expect("armed"));
    assert_eq!(first.wait().0, NtStatus::CANCELLED);
    let again = waiting_recv_from(d, ALICE, sockets[2], 16);
    assert!(
        again.wait_for(Duration::from_millis(200)).is_none(),
        "pends again"
    );
    d.cleanup(ALICE);
    d.cleanup(BOB);
    for pended in [second, again, bob] {
        assert_eq!(pended.wait().0, NtStatus::CANCELLED);
    }
    setup.finish();
}

/// A handle's pended requests count wherever they wait: also on a detached endpoint that
/// another handle of its identity created, and on one whose creating handle has closed.
#[test]
fn requests_pended_on_detached_endpoints_count_in_the_quota_of_the_handle_that_pended_them() {
    let setup = Setup::with_quotas(Quotas {
        pended: 2,
        ..Quotas::DEFAULT
    });
    let d = setup.driver;
    identify(d);
    let shared = udp_bind(d, ALICE, addr(LOCAL), UdpService::None, true).unwrap();
    let orphan = udp_bind(d, ALICE, addr(LOCAL), UdpService::None, true).unwrap();
    let own = udp_bind(d, ALICE_2, addr(LOCAL), UdpService::None, false).unwrap();
    // Alice's first handle closes: `orphan` and `shared` belong to no handle now.
    d.cleanup(ALICE);
    let on_shared = waiting_recv_from(d, ALICE_2, shared.id, 16);
    let on_orphan = waiting_recv_from(d, ALICE_2, orphan.id, 16);
    for pended in [&on_shared, &on_orphan] {
        assert!(
            pended.wait_for(Duration::from_millis(200)).is_none(),
            "pends"
        );
    }
    let third = waiting_recv_from(d, ALICE_2, own.id, 16);
    assert_eq!(
        third.wait_for(Duration::from_secs(5)).map(|(s, _, _)| s),
        Some(NtStatus::QUOTA_EXCEEDED),
        "the two on detached endpoints count"
    );
    drop(third);
    d.cancel(on_orphan.ticket().expect("armed"));
    assert_eq!(on_orphan.wait().0, NtStatus::CANCELLED);
    let again = waiting_recv_from(d, ALICE_2, own.id, 16);
    assert!(
        again.wait_for(Duration::from_millis(200)).is_none(),
        "room again"
    );
    for id in [shared.id, orphan.id] {
        close(d, ALICE_2, id).unwrap_or_else(|s| panic!("close {id:?}: {s:?}"));
    }
    assert_eq!(
        on_shared.wait().0,
        NtStatus::CANCELLED,
        "completed by the close"
    );
    d.cleanup(ALICE_2);
    assert_eq!(again.wait().0, NtStatus::CANCELLED);
    setup.finish();
}

#[test]
fn a_handle_past_its_locked_bytes_quota_gets_quota_exceeded_and_the_others_are_unaffected() {
    let setup = Setup::with_quotas(Quotas {
        locked_bytes: 4096,
        ..Quotas::DEFAULT
    });
    let d = setup.driver;
    identify(d);
    let a = udp_bind(d, ALICE, addr(LOCAL), UdpService::None, false).unwrap();
    let b = udp_bind(d, ALICE, addr(LOCAL), UdpService::None, false).unwrap();
    let bobs = udp_bind(d, BOB, addr(LOCAL), UdpService::None, false).unwrap();
    // 3000 bytes of data plus the reply header are locked while it waits.
    let big = waiting_recv_from(d, ALICE, a.id, 3000);
    assert!(big.wait_for(Duration::from_millis(200)).is_none(), "pends");
    let too_much = waiting_recv_from(d, ALICE, b.id, 2000);
    assert_eq!(
        too_much.wait_for(Duration::from_secs(5)).map(|(s, _, _)| s),
        Some(NtStatus::QUOTA_EXCEEDED)
    );
    drop(too_much);
    // What still fits pends; Bob's large request is his own quota's business.
    let small = waiting_recv_from(d, ALICE, b.id, 500);
    assert!(small.wait_for(Duration::from_millis(200)).is_none(), "fits");
    let bob = waiting_recv_from(d, BOB, bobs.id, 3000);
    assert!(
        bob.wait_for(Duration::from_millis(200)).is_none(),
        "Bob's request pends"
    );
    d.cleanup(ALICE);
    d.cleanup(BOB);
    for pended in [big, small, bob] {
        assert_eq!(pended.wait().0, NtStatus::CANCELLED);
    }
    setup.finish();
}
