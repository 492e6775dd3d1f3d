//! The driver calls the provider without its endpoint table's lock held.
//!
//! A provider may complete requests of other sockets during a call (a loopback send completes
//! the receiver's pended receive in the sender's thread, as Windows may), or hold its own lock
//! while it completes (Wine's netio), so a provider call made under the table's spin lock
//! deadlocks against a completion that takes that lock. Each data request takes its socket
//! out of the table for the call; what meets the socket out waits for it to come back: a
//! request of the other direction is queued, an option waits, and a close or an escalation
//! leaves the socket's close to the one bringing it back.

mod common;

use std::time::Duration;

use common::pair::{assert_waits, far_receive, Pair};
use common::{
    addr, close, connect, entry, listen, option, send, send_to, udp_bind, Pended, Setup, ALICE,
    QUICK_MS,
};
use wsk::NtStatus;
use wskrs_fake_kernel as fake;
use wskrs_fake_kernel::provider::{Behavior, Op};
use wskrs_protocol::{self as protocol, EndpointId, EndpointState, IoctlCode, Service, UdpService};

fn recv(d: &'static common::Driver, id: EndpointId, room: usize) -> Pended {
    let request = protocol::encode_recv(id, QUICK_MS, u32::try_from(room).unwrap());
    common::direct(d, ALICE, IoctlCode::RECV, &request, &vec![0u8; room])
}

fn recv_from_pended(d: &'static common::Driver, id: EndpointId, room: u32) -> Pended {
    let request = protocol::encode_recv_from(id, QUICK_MS, room);
    let output = vec![0u8; protocol::recv_from_output_len(room)];
    common::direct(d, ALICE, IoctlCode::RECV_FROM, &request, &output)
}

/// Waits until the provider holds one more waiting request than `before`.
fn at_provider(before: usize, what: &str) {
    common::eventually(what, || fake::provider::waiting_requests() > before);
}

fn received(pended: Pended) -> Vec<u8> {
    let (status, n, data) = pended.wait();
    assert_eq!(status, NtStatus::SUCCESS);
    data[..n].to_vec()
}

#[test]
fn a_send_that_completes_the_drivers_own_receive_during_the_call_does_not_deadlock() {
    let setup = Setup::start();
    let d = setup.driver;
    let at = addr("127.0.0.1:9710");
    let listener = listen(d, ALICE, at, Service::None, false).unwrap();
    let near = connect(d, ALICE, at, false).unwrap();
    let accept = common::direct(
        d,
        ALICE,
        IoctlCode::ACCEPT,
        &protocol::encode_accept(listener.id, QUICK_MS, false),
        &[0u8; 80],
    );
    let (status, n, reply) = accept.wait();
    assert_eq!(status, NtStatus::SUCCESS);
    let far = protocol::parse_endpoint_reply(&reply[..n]).unwrap();

    // Both ends are the driver's: the fake provider delivers a send to the peer's pended
    // receive in the sender's thread, so the receive completes inside WskSend.
    for (from, to) in [(near.id, far.id), (far.id, near.id)] {
        let idle = fake::provider::waiting_requests();
        let pended = recv(d, to, 16);
        at_provider(idle, "the RECV is at the provider");
        assert_eq!(send(d, ALICE, from, b"loopback"), Ok(8));
        assert_eq!(received(pended), b"loopback");
    }

    // The same for datagrams: SEND_TO completes the receiver's pended RECV_FROM.
    let x_at = addr("127.0.0.1:9711");
    let y_at = addr("127.0.0.1:9712");
    let x = udp_bind(d, ALICE, x_at, UdpService::None, false).unwrap();
    let y = udp_bind(d, ALICE, y_at, UdpService::None, false).unwrap();
    let idle = fake::provider::waiting_requests();
    let pended = recv_from_pended(d, y.id, 64);
    at_provider(idle, "the RECV_FROM is at the provider");
    assert_eq!(send_to(d, ALICE, x.id, y_at, b"datagram"), Ok(8));
    let (status, n, reply) = pended.wait();
    assert_eq!(status, NtStatus::SUCCESS);
    let datagram = protocol::parse_recv_from_reply(&reply[..n]).unwrap();
    assert_eq!(
        (datagram.data, datagram.remote),
        (&b"datagram"[..], Some(x_at))
    );

    assert!(fake::violations().is_empty(), "{:?}", fake::violations());
    for id in [near.id, far.id, x.id, y.id, listener.id] {
        close(d, ALICE, id).unwrap();
    }
    setup.finish();
}

/// Starts a SEND of `data` on `id` in a thread of its own (its provider call stalls); returns
/// once the provider call has begun, with the thread that waits for the SEND's result.
fn stalled_send(
    d: &'static common::Driver,
    id: EndpointId,
    data: &'static [u8],
    stall: Duration,
    timeout_ms: u32,
) -> std::thread::JoinHandle<(NtStatus, usize)> {
    let calls = fake::provider::calls(Op::Send);
    fake::provider::script(Op::Send, [Behavior::Stall(stall)]);
    let sender = std::thread::spawn(move || {
        let length = u32::try_from(data.len()).unwrap();
        let request = protocol::encode_send(id, timeout_ms, length);
        let (status, n, _) = common::direct(d, ALICE, IoctlCode::SEND, &request, data).wait();
        (status, n)
    });
    common::eventually("the SEND's provider call has begun", || {
        fake::provider::calls(Op::Send) > calls
    });
    sender
}

#[test]
fn requests_that_find_the_socket_out_for_a_provider_call_wait_for_it() {
    let setup = Setup::start();
    let d = setup.driver;
    let mut pair = Pair::new(d, 9720);
    let sender = stalled_send(d, pair.id, b"first", Duration::from_millis(300), QUICK_MS);

    // A RECV meets the socket out for the SEND: it waits (not DEVICE_BUSY) and starts when
    // the socket is back.
    let pended = recv(d, pair.id, 16);
    assert_waits(&pended, "the RECV");
    // An option waits for the socket too, and finds it.
    assert_eq!(
        option(d, ALICE, pair.id, protocol::OptionId::NoDelay, Some(1)),
        Ok(1)
    );
    assert_eq!(sender.join().unwrap(), (NtStatus::SUCCESS, 5));
    assert_eq!(far_receive(&mut pair.far, 5), b"first");
    pair.far.send_all(b"reply", Duration::from_secs(5)).unwrap();
    assert_eq!(received(pended), b"reply");
    assert_eq!(
        entry(d, ALICE, pair.id).unwrap().0.state,
        EndpointState::Connected
    );
    close(d, ALICE, pair.id).unwrap();
    pair.finish();
    setup.finish();
}

#[test]
fn closing_an_endpoint_whose_socket_is_out_closes_the_socket_when_it_comes_back() {
    let setup = Setup::start();
    let d = setup.driver;
    let mut pair = Pair::new(d, 9730);
    let open = fake::provider::open_sockets();
    let sender = stalled_send(d, pair.id, b"last", Duration::from_millis(300), QUICK_MS);
    close(d, ALICE, pair.id).unwrap();
    assert!(entry(d, ALICE, pair.id).is_none(), "closed at once");
    // The SEND ran on the socket it took out; the socket is closed after it.
    assert_eq!(sender.join().unwrap(), (NtStatus::SUCCESS, 4));
    assert_eq!(far_receive(&mut pair.far, 4), b"last");
    let mut rest = [0u8; 8];
    assert_eq!(
        pair.far.receive(&mut rest, Duration::from_secs(5)).unwrap(),
        0,
        "the peer sees the close"
    );
    common::eventually("the socket is closed", || {
        fake::provider::open_sockets() < open
    });
    pair.finish();
    setup.finish();
}

#[test]
fn an_escalation_that_finds_the_socket_out_closes_it_when_it_comes_back() {
    let setup = Setup::start();
    let d = setup.driver;
    fake::provider::configure(fake::provider::Config::WINE);
    fake::set_time_scale(10);
    let mut pair = Pair::new(d, 9740);
    // The SEND times out while its provider call still runs, and stays past the grace
    // period: the escalation finds the socket out.
    let sender = stalled_send(d, pair.id, b"late", Duration::from_secs(5), 100);
    let (status, _) = sender.join().unwrap();
    assert_eq!(status, NtStatus::SUCCESS, "its bytes went before the close");
    assert_eq!(far_receive(&mut pair.far, 4), b"late");
    let mut rest = [0u8; 8];
    assert_eq!(
        pair.far.receive(&mut rest, Duration::from_secs(5)).unwrap(),
        0,
        "the escalation closed the socket once it was back"
    );
    assert_eq!(
        entry(d, ALICE, pair.id).unwrap().0.state,
        EndpointState::Broken
    );
    // Every request on it now says the socket is gone, not that it is busy.
    assert_eq!(
        send(d, ALICE, pair.id, b"x"),
        Err(NtStatus::FILE_FORCED_CLOSED)
    );
    assert_eq!(
        option(d, ALICE, pair.id, protocol::OptionId::NoDelay, None),
        Err(NtStatus::FILE_FORCED_CLOSED)
    );
    close(d, ALICE, pair.id).unwrap();
    pair.finish();
    setup.finish();
}
