//! TRANSACT against the fake kernel: the request's bytes reach the peer, its reply comes back
//! into the same buffer, pipelined TRANSACTs get their replies in order, and each completes
//! exactly once when cancelled, timed out, closed with its endpoint or handle, or refused.

mod common;

use std::time::Duration;

use common::pair::{assert_waits, far_receive, Pair};
use common::{addr, close, listen, udp_bind, Pended, Setup, ALICE, QUICK_MS};
use wsk::NtStatus;
use wskrs_fake_kernel as fake;
use wskrs_protocol::{self as protocol, EndpointId, IoctlCode, Service, MAX_TRANSACT};

/// A TRANSACT sending `request` and taking at most `max_reply` bytes back, handed to the
/// driver with a buffer of the documented length; returned without waiting.
fn transact(
    d: &'static common::Driver,
    id: EndpointId,
    request: &[u8],
    max_reply: usize,
    timeout_ms: u32,
) -> Pended {
    let length = u32::try_from(request.len()).unwrap();
    let max_reply = u32::try_from(max_reply).unwrap();
    let input = protocol::encode_transact(id, timeout_ms, length, max_reply);
    let mut buffer = request.to_vec();
    buffer.resize(protocol::transact_output_len(length, max_reply), 0);
    common::direct(d, ALICE, IoctlCode::TRANSACT, &input, &buffer)
}

/// The status of a request that must complete at once.
fn status_now(pended: &Pended) -> Option<NtStatus> {
    pended.wait_for(Duration::from_secs(5)).map(|(s, ..)| s)
}

#[test]
fn a_transact_sends_its_request_and_returns_the_reply_in_its_buffer() {
    let setup = Setup::start();
    let d = setup.driver;
    let mut pair = Pair::new(d, 7700);
    let pended = transact(d, pair.id, b"GET /status", 64, QUICK_MS);
    assert_eq!(far_receive(&mut pair.far, 11), b"GET /status");
    assert_waits(&pended, "the TRANSACT, for its reply");
    pair.far
        .send_all(b"200 OK", Duration::from_secs(5))
        .unwrap();
    let (status, n, data) = pended.wait();
    assert_eq!((status, &data[..n]), (NtStatus::SUCCESS, &b"200 OK"[..]));
    // A request longer than its reply: the buffer is the request's length.
    let pended = transact(d, pair.id, b"0123456789", 3, QUICK_MS);
    assert_eq!(far_receive(&mut pair.far, 10), b"0123456789");
    pair.far
        .send_all(b"abcdef", Duration::from_secs(5))
        .unwrap();
    let (status, n, data) = pended.wait();
    assert_eq!((status, &data[..n]), (NtStatus::SUCCESS, &b"abc"[..]));
    // The reply's rest stays in the stream for the next TRANSACT.
    let pended = transact(d, pair.id, b"?", 8, QUICK_MS);
    assert_eq!(far_receive(&mut pair.far, 1), b"?");
    let (status, n, data) = pended.wait();
    assert_eq!((status, &data[..n]), (NtStatus::SUCCESS, &b"def"[..]));
    let (_, activity) = common::entry(d, ALICE, pair.id).expect("listed");
    assert_eq!(
        (activity.send_ops, activity.recv_ops),
        (3, 3),
        "{activity:?}"
    );
    pair.finish();
    setup.finish();
}

#[test]
fn pipelined_transacts_get_their_replies_in_the_order_issued() {
    let setup = Setup::start();
    let d = setup.driver;
    let mut pair = Pair::new(d, 7701);
    let pended: Vec<Pended> = (0..4u8)
        .map(|i| transact(d, pair.id, &[b'q', b'0' + i], 2, QUICK_MS))
        .collect();
    assert_eq!(far_receive(&mut pair.far, 8), b"q0q1q2q3");
    pair.far
        .send_all(b"r0r1r2r3", Duration::from_secs(5))
        .unwrap();
    for (i, p) in (0..4u8).zip(pended) {
        let (status, n, data) = p.wait();
        assert_eq!(
            (status, &data[..n]),
            (NtStatus::SUCCESS, &[b'r', b'0' + i][..])
        );
    }
    pair.finish();
    setup.finish();
}

#[test]
fn recv_and_transact_exclude_each_other_and_transacts_are_bounded() {
    let setup = Setup::start();
    let d = setup.driver;
    let mut pair = Pair::new(d, 7702);
    let recv_input = protocol::encode_recv(pair.id, QUICK_MS, 4);
    let recv = common::direct(d, ALICE, IoctlCode::RECV, &recv_input, &[0u8; 4]);
    let refused = transact(d, pair.id, b"x", 4, QUICK_MS);
    assert_eq!(status_now(&refused), Some(NtStatus::DEVICE_BUSY));
    drop(refused);
    assert_eq!(
        far_receive_none(&mut pair.far),
        0,
        "the refused one sent nothing"
    );
    pair.far.send_all(b"data", Duration::from_secs(5)).unwrap();
    assert_eq!(recv.wait().0, NtStatus::SUCCESS);

    let waiting: Vec<Pended> = (0..7)
        .map(|_| transact(d, pair.id, b"t", 1, QUICK_MS))
        .collect();
    assert_eq!(far_receive(&mut pair.far, 7), b"ttttttt");
    let eighth = transact(d, pair.id, b"t", 1, QUICK_MS);
    assert_eq!(
        status_now(&eighth),
        Some(NtStatus::DEVICE_BUSY),
        "7 at most"
    );
    drop(eighth);
    let recv = common::direct(d, ALICE, IoctlCode::RECV, &recv_input, &[0u8; 4]);
    assert_eq!(
        status_now(&recv),
        Some(NtStatus::DEVICE_BUSY),
        "replies are theirs"
    );
    drop(recv);
    // A SEND may follow: its bytes go after the requests'.
    let send = common::direct(
        d,
        ALICE,
        IoctlCode::SEND,
        &protocol::encode_send(pair.id, QUICK_MS, 2),
        b"s!",
    );
    assert_eq!(send.wait().0, NtStatus::SUCCESS);
    assert_eq!(far_receive(&mut pair.far, 2), b"s!");
    pair.far
        .send_all(b"1234567", Duration::from_secs(5))
        .unwrap();
    for (p, expected) in waiting.into_iter().zip(b"1234567") {
        let (status, n, data) = p.wait();
        assert_eq!((status, &data[..n]), (NtStatus::SUCCESS, &[*expected][..]));
    }
    pair.finish();
    setup.finish();
}

/// Bytes the test's end has without waiting for more (a short receive timeout).
fn far_receive_none(far: &mut wsk::ConnectionSocket) -> usize {
    let mut scratch = [0u8; 16];
    far.receive(&mut scratch, Duration::from_millis(100))
        .unwrap_or(0)
}

#[test]
fn a_cancelled_or_timed_out_transact_completes_once_and_the_endpoint_stays_usable() {
    let setup = Setup::start();
    let d = setup.driver;
    let mut pair = Pair::new(d, 7703);
    // Cancelled while it waits for its reply (its ticket still says "send").
    let pended = transact(d, pair.id, b"ping", 4, QUICK_MS);
    assert_eq!(far_receive(&mut pair.far, 4), b"ping");
    assert_waits(&pended, "the TRANSACT");
    d.cancel(pended.ticket().expect("cancellable"));
    assert_eq!(status_now(&pended), Some(NtStatus::CANCELLED));
    drop(pended);
    // Cancelled while it waits behind another in the send direction.
    let first = transact(d, pair.id, b"one", 4, QUICK_MS);
    let second = transact(d, pair.id, b"two", 4, QUICK_MS);
    let third = transact(d, pair.id, b"three", 5, QUICK_MS);
    d.cancel(second.ticket().expect("cancellable"));
    assert_eq!(status_now(&second), Some(NtStatus::CANCELLED));
    drop(second);
    let sent = far_receive(&mut pair.far, 8);
    assert!(sent == b"onethree" || sent == b"onetwoth", "{sent:?}");
    // Timed out on its own deadline while the reply does not come.
    let short = transact(d, pair.id, b"late", 4, 200);
    pair.far
        .send_all(b"ONETHREE", Duration::from_secs(5))
        .unwrap();
    let (status, n, data) = first.wait();
    assert_eq!((status, &data[..n]), (NtStatus::SUCCESS, &b"ONET"[..]));
    let (status, n, data) = third.wait();
    if sent == b"onethree" {
        assert_eq!((status, &data[..n]), (NtStatus::SUCCESS, &b"HREE"[..]));
        assert_eq!(
            short.wait_for(Duration::from_secs(5)).map(|(s, ..)| s),
            Some(NtStatus::IO_TIMEOUT)
        );
    } else {
        // The cancel came after "two" was out: it still completed cancelled (checked above).
        assert_eq!(status, NtStatus::SUCCESS);
        let _ = short.wait_for(Duration::from_secs(5));
    }
    drop(short);
    let _ = far_receive_none(&mut pair.far);
    // Still usable.
    let again = transact(d, pair.id, b"again", 2, QUICK_MS);
    let _ = far_receive(&mut pair.far, 5);
    pair.far.send_all(b"ok", Duration::from_secs(5)).unwrap();
    let (status, n, data) = again.wait();
    assert_eq!((status, &data[..n]), (NtStatus::SUCCESS, &b"ok"[..]));
    pair.finish();
    setup.finish();
}

#[test]
fn closing_the_endpoint_or_the_handle_completes_every_transact_once() {
    let setup = Setup::start();
    let d = setup.driver;
    let mut pair = Pair::new(d, 7704);
    let pended: Vec<Pended> = (0..3)
        .map(|_| transact(d, pair.id, b"x", 4, QUICK_MS))
        .collect();
    assert_eq!(far_receive(&mut pair.far, 3), b"xxx");
    close(d, ALICE, pair.id).unwrap();
    for p in pended {
        assert_eq!(
            p.wait().0,
            NtStatus::CANCELLED,
            "never the request as a reply"
        );
    }
    pair.finish();
    let mut pair = Pair::new(d, 7705);
    let pended: Vec<Pended> = (0..3)
        .map(|_| transact(d, pair.id, b"y", 4, QUICK_MS))
        .collect();
    assert_eq!(far_receive(&mut pair.far, 3), b"yyy");
    d.cleanup(ALICE);
    for p in pended {
        assert_eq!(p.wait().0, NtStatus::CANCELLED);
    }
    pair.finish();
    setup.finish();
}

#[test]
fn the_peer_closing_ends_a_transact_with_zero_bytes() {
    let setup = Setup::start();
    let d = setup.driver;
    let mut pair = Pair::new(d, 7706);
    let pended = transact(d, pair.id, b"bye", 4, QUICK_MS);
    assert_eq!(far_receive(&mut pair.far, 3), b"bye");
    pair.far
        .disconnect(wsk::Disconnect::Graceful(&[]), Duration::from_secs(5))
        .unwrap();
    let (status, n, _) = pended.wait();
    assert_eq!((status, n), (NtStatus::SUCCESS, 0), "end of stream");
    pair.finish();
    setup.finish();
}

#[test]
fn bad_transacts_are_refused_with_their_documented_statuses() {
    let setup = Setup::start();
    let d = setup.driver;
    let pair = Pair::new(d, 7707);
    let listener = listen(d, ALICE, addr("127.0.0.1:7708"), Service::Echo, false).unwrap();
    let udp = udp_bind(
        d,
        ALICE,
        addr("127.0.0.1:7709"),
        protocol::UdpService::None,
        false,
    )
    .unwrap();
    let idle = fake::provider::waiting_requests();
    // The output buffer must be exactly max(length, max_reply).
    let input = protocol::encode_transact(pair.id, QUICK_MS, 4, 8);
    for len in [4, 7, 9] {
        let p = common::direct(d, ALICE, IoctlCode::TRANSACT, &input, &vec![0u8; len]);
        assert_eq!(Some(p.wait().0), Some(NtStatus::INVALID_PARAMETER), "{len}");
    }
    // Lengths 0 and past MAX_TRANSACT, a nonzero reserved field.
    for (length, max_reply) in [(0, 1), (1, 0), (MAX_TRANSACT + 1, 1)] {
        let input = protocol::encode_transact(pair.id, QUICK_MS, length, max_reply);
        let len = protocol::transact_output_len(length, max_reply).max(1);
        let p = common::direct(d, ALICE, IoctlCode::TRANSACT, &input, &vec![0u8; len]);
        assert_eq!(Some(p.wait().0), Some(NtStatus::INVALID_PARAMETER));
    }
    let mut reserved = protocol::encode_transact(pair.id, QUICK_MS, 1, 1);
    reserved[28] = 1;
    let p = common::direct(d, ALICE, IoctlCode::TRANSACT, &reserved, &[0u8; 1]);
    assert_eq!(Some(p.wait().0), Some(NtStatus::INVALID_PARAMETER));
    // Unknown id; a listener and a UDP endpoint are the wrong kind.
    let p = transact(d, EndpointId(999_999), b"x", 1, QUICK_MS);
    assert_eq!(Some(p.wait().0), Some(NtStatus::NOT_FOUND));
    let p = transact(d, listener.id, b"x", 1, QUICK_MS);
    assert_eq!(Some(p.wait().0), Some(NtStatus::INVALID_DEVICE_STATE));
    let p = transact(d, udp.id, b"x", 1, QUICK_MS);
    assert_eq!(Some(p.wait().0), Some(NtStatus::INVALID_DEVICE_STATE));
    assert_eq!(
        fake::provider::waiting_requests(),
        idle,
        "nothing reached the provider"
    );
    close(d, ALICE, listener.id).unwrap();
    close(d, ALICE, udp.id).unwrap();
    pair.finish();
    setup.finish();
}
