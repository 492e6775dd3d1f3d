//! Pipelined data requests against the fake kernel: requests on one endpoint and direction
//! wait behind the one in flight, start and complete in the order issued, and each waiting
//! one completes exactly once when cancelled, timed out, closed with its endpoint or handle,
//! or refused past the queue's depth or the handle's quotas.

mod common;

use std::time::Duration;

use common::pair::{assert_waits, far_receive, Pair};
use common::{close, Pended, Setup, ALICE, QUICK_MS};
use wsk::NtStatus;
use wskrs_driver::{Quotas, QUEUE_DEPTH};
use wskrs_fake_kernel as fake;
use wskrs_protocol::{self as protocol, EndpointId, IoctlCode};

/// A RECV with room for `room` bytes, handed to the driver; returned without waiting.
fn recv(d: &'static common::Driver, id: EndpointId, room: usize, timeout_ms: u32) -> Pended {
    let request = protocol::encode_recv(id, timeout_ms, u32::try_from(room).unwrap());
    common::direct(d, ALICE, IoctlCode::RECV, &request, &vec![0u8; room])
}

#[test]
fn pipelined_receives_take_the_stream_in_the_order_they_were_issued() {
    let setup = Setup::start();
    let d = setup.driver;
    let mut pair = Pair::new(d, 7600);
    let idle = fake::provider::waiting_requests();
    let receives: Vec<Pended> = (0..QUEUE_DEPTH)
        .map(|_| recv(d, pair.id, 4, QUICK_MS))
        .collect();
    common::eventually("the first RECV is at the provider", || {
        fake::provider::waiting_requests() > idle
    });
    assert_eq!(
        fake::provider::waiting_requests(),
        idle + 1,
        "one at the provider, the others wait in the driver"
    );
    for pended in &receives {
        assert_waits(pended, "each RECV");
    }
    let stream: Vec<u8> = (0..QUEUE_DEPTH * 4)
        .map(|i| u8::try_from(i).unwrap())
        .collect();
    pair.far.send_all(&stream, Duration::from_secs(5)).unwrap();
    let mut got = Vec::new();
    for pended in receives {
        let (status, n, data) = pended.wait();
        assert_eq!(status, NtStatus::SUCCESS);
        got.extend_from_slice(&data[..n]);
    }
    assert_eq!(got, stream, "the bytes arrive in order, none twice");
    pair.finish();
    setup.finish();
}

#[test]
fn pipelined_sends_reach_the_peer_in_order_and_each_completes_once() {
    let setup = Setup::start();
    let d = setup.driver;
    let mut pair = Pair::new(d, 7601);
    let chunks: Vec<Vec<u8>> = (0..QUEUE_DEPTH)
        .map(|i| vec![u8::try_from(i).unwrap(); 1000 + i])
        .collect();
    let sends: Vec<Pended> = chunks
        .iter()
        .map(|chunk| {
            let request =
                protocol::encode_send(pair.id, QUICK_MS, u32::try_from(chunk.len()).unwrap());
            common::direct(d, ALICE, IoctlCode::SEND, &request, chunk)
        })
        .collect();
    let expected: Vec<u8> = chunks.concat();
    assert_eq!(far_receive(&mut pair.far, expected.len()), expected);
    for (pended, chunk) in sends.into_iter().zip(&chunks) {
        let (status, n, _) = pended.wait();
        assert_eq!((status, n), (NtStatus::SUCCESS, chunk.len()));
    }
    pair.finish();
    setup.finish();
}

#[test]
fn a_cancelled_waiting_request_completes_at_once_and_the_others_keep_their_order() {
    let setup = Setup::start();
    let d = setup.driver;
    let mut pair = Pair::new(d, 7602);
    let first = recv(d, pair.id, 3, QUICK_MS);
    let second = recv(d, pair.id, 3, QUICK_MS);
    let third = recv(d, pair.id, 3, QUICK_MS);
    assert_waits(&second, "the second RECV");
    d.cancel(second.ticket().expect("a waiting request is cancellable"));
    assert_eq!(
        second
            .wait_for(Duration::from_secs(5))
            .map(|(status, ..)| status),
        Some(NtStatus::CANCELLED)
    );
    drop(second);
    assert_waits(&first, "the first RECV");
    assert_waits(&third, "the third RECV");
    pair.far
        .send_all(b"onetwo", Duration::from_secs(5))
        .unwrap();
    let (status, n, data) = first.wait();
    assert_eq!((status, &data[..n]), (NtStatus::SUCCESS, &b"one"[..]));
    let (status, n, data) = third.wait();
    assert_eq!((status, &data[..n]), (NtStatus::SUCCESS, &b"two"[..]));
    pair.finish();
    setup.finish();
}

#[test]
fn a_waiting_request_times_out_on_its_own_deadline() {
    let setup = Setup::start();
    let d = setup.driver;
    let mut pair = Pair::new(d, 7603);
    let first = recv(d, pair.id, 8, QUICK_MS);
    let short = recv(d, pair.id, 8, 200);
    assert_eq!(
        short.wait_for(Duration::from_secs(5)).map(|(s, ..)| s),
        Some(NtStatus::IO_TIMEOUT),
        "timed out while waiting behind the first"
    );
    drop(short);
    assert_waits(&first, "the first RECV");
    pair.far.send_all(b"data", Duration::from_secs(5)).unwrap();
    let (status, n, data) = first.wait();
    assert_eq!((status, &data[..n]), (NtStatus::SUCCESS, &b"data"[..]));
    pair.finish();
    setup.finish();
}

#[test]
fn closing_the_endpoint_or_the_handle_completes_every_waiting_request_once() {
    let setup = Setup::start();
    let d = setup.driver;
    // CLOSE of the endpoint.
    let pair = Pair::new(d, 7604);
    let pended: Vec<Pended> = (0..4).map(|_| recv(d, pair.id, 8, QUICK_MS)).collect();
    assert_waits(&pended[3], "the last RECV");
    close(d, ALICE, pair.id).unwrap();
    for p in pended {
        assert_eq!(p.wait().0, NtStatus::CANCELLED);
    }
    pair.finish();
    // The handle closes.
    let pair = Pair::new(d, 7605);
    let pended: Vec<Pended> = (0..4).map(|_| recv(d, pair.id, 8, QUICK_MS)).collect();
    assert_waits(&pended[3], "the last RECV");
    d.cleanup(ALICE);
    for p in pended {
        assert_eq!(p.wait().0, NtStatus::CANCELLED);
    }
    pair.finish();
    setup.finish();
}

#[test]
fn a_request_past_the_queue_depth_is_busy_and_one_past_the_quota_exceeds_it() {
    let setup = Setup::with_quotas(Quotas {
        pended: QUEUE_DEPTH + 1,
        ..Quotas::DEFAULT
    });
    let d = setup.driver;
    let pair = Pair::new(d, 7606);
    let full: Vec<Pended> = (0..QUEUE_DEPTH)
        .map(|_| recv(d, pair.id, 8, QUICK_MS))
        .collect();
    assert_waits(&full[QUEUE_DEPTH - 1], "the last RECV");
    let busy = recv(d, pair.id, 8, QUICK_MS);
    assert_eq!(
        busy.wait_for(Duration::from_secs(5)).map(|(s, ..)| s),
        Some(NtStatus::DEVICE_BUSY),
        "the receive queue is full"
    );
    drop(busy);
    // The other direction has its own queue; the waiting receives count in the handle's quota.
    let request = protocol::encode_send(pair.id, QUICK_MS, 1);
    let send = common::direct(d, ALICE, IoctlCode::SEND, &request, b"x");
    assert_eq!(send.wait().0, NtStatus::SUCCESS);
    let other = Pair::new(d, 7607);
    let in_quota = recv(d, other.id, 8, QUICK_MS);
    assert_waits(&in_quota, "the RECV within the quota");
    let past = recv(d, other.id, 8, QUICK_MS);
    assert_eq!(
        past.wait_for(Duration::from_secs(5)).map(|(s, ..)| s),
        Some(NtStatus::QUOTA_EXCEEDED),
        "queued requests count in the pended quota"
    );
    drop(past);
    d.cleanup(ALICE);
    for p in full.into_iter().chain([in_quota]) {
        assert_eq!(p.wait().0, NtStatus::CANCELLED);
    }
    pair.finish();
    other.finish();
    setup.finish();
}
