//! Blocking requests (`irp::Blocking`) against the fake kernel and provider: inline and late
//! completion, synchronous failure without completion, and the timeout ladder (cancel, then
//! force-close, then abandon to the completion routine).

// Test data are byte patterns that wrap on purpose.
#![allow(clippy::cast_possible_truncation)]

mod common;

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use common::{listener, listener_at, pair, register, QUICK};
use fake::netio::{self, Event};
use fake::provider::{self, Behavior, Config, Op};
use wsk::{
    BindOptions, ConnectionSocket, DatagramSocket, Error, NtStatus, SocketOptions, StreamSocket,
};
use wskrs_fake_kernel as fake;

/// Runs `f` in both provider flavours: Windows (an inline completion returns its status) and
/// Wine (an inline completion still returns STATUS_PENDING).
fn both_flavours(f: impl Fn()) {
    for config in Config::ALL {
        let kernel = fake::Kernel::start();
        provider::configure(config);
        f();
        kernel.assert_clean();
    }
}

#[test]
fn completed_inline_moves_bytes_both_ways_ipv4_and_ipv6() {
    both_flavours(|| {
        let client = register();
        for at in ["127.0.0.1:0", "[::1]:0"] {
            let (mut l, addr) = listener_at(&client, at.parse().unwrap());
            let mut near = ConnectionSocket::connect(&client, addr, None, QUICK).unwrap();
            let (mut far, remote) = l.accept(QUICK).unwrap();
            assert_eq!(remote, Some(near.local_addr().unwrap()));
            assert_eq!(far.peer_addr().unwrap(), near.local_addr().unwrap());
            near.send_all(b"ping", QUICK).unwrap();
            let mut buf = [0u8; 16];
            assert_eq!(far.receive(&mut buf, QUICK).unwrap(), 4);
            assert_eq!(&buf[..4], b"ping");
            far.send_all(b"pong!", QUICK).unwrap();
            assert_eq!(near.receive(&mut buf, QUICK).unwrap(), 5);
            assert_eq!(&buf[..5], b"pong!");
        }
        assert_eq!(
            fake::counts().irps_in_provider,
            0,
            "every request completed during its call"
        );
        assert!(client.shutdown(QUICK));
    });
}

#[test]
fn large_transfer_crosses_chunks_with_a_reader_on_another_thread() {
    let kernel = fake::Kernel::start();
    let client = register();
    let (mut near, mut far) = pair(&client);
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let expected = data.clone();
    let reader = thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 10_000];
        while got.len() < expected.len() {
            let n = far.receive(&mut buf, QUICK).unwrap();
            assert!(n > 0);
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, expected);
        far
    });
    near.send_all(&data, QUICK).unwrap();
    let far = reader.join().unwrap();
    drop((near, far));
    assert!(client.shutdown(QUICK));
    kernel.assert_clean();
}

#[test]
fn completed_later_from_another_thread() {
    let kernel = fake::Kernel::start();
    let client = register();
    let (mut near, mut far) = pair(&client);
    // The provider completes the send from a timer thread, after the call returned PENDING.
    provider::script(Op::Send, [Behavior::Later(Duration::from_millis(30))]);
    let start = Instant::now();
    assert_eq!(near.send(b"late", QUICK).unwrap(), 4);
    assert!(
        start.elapsed() >= Duration::from_millis(30),
        "waited for the late completion"
    );
    // A receive that waits for data is completed by the sending thread's WskSend.
    let sender = thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        near.send_all(b"from elsewhere", QUICK).unwrap();
        near
    });
    let mut buf = [0u8; 64];
    let n = far.receive(&mut buf, QUICK).unwrap();
    assert_eq!(&buf[..n], b"late");
    let n = far.receive(&mut buf, QUICK).unwrap();
    assert_eq!(&buf[..n], b"from elsewhere");
    let near = sender.join().unwrap();
    drop((near, far));
    assert!(client.shutdown(QUICK));
    kernel.assert_clean();
}

#[test]
fn failing_synchronously_without_completing_leaves_the_irp_reusable() {
    both_flavours(|| {
        let client = register();
        let (mut near, far) = pair(&client);
        // Wine's stubs: an error status, IRP untouched.
        provider::script(Op::Control, [Behavior::FailSync(NtStatus::NOT_IMPLEMENTED)]);
        assert_eq!(
            near.set_keepalive(true),
            Err(Error::new(NtStatus::NOT_IMPLEMENTED))
        );
        assert_eq!(fake::counts().irps_in_provider, 0);
        // The same slot and IRP serve the next request.
        near.set_keepalive(true).unwrap();
        assert!(near.keepalive().unwrap());
        // A failure that does complete the IRP is reported with its status.
        provider::script(Op::Control, [Behavior::Fail(NtStatus::ACCESS_DENIED)]);
        assert_eq!(near.keepalive(), Err(Error::new(NtStatus::ACCESS_DENIED)));
        assert!(near.keepalive().unwrap());
        // Creating a socket fails the same way (Wine's WskSocket for datagrams).
        provider::script(Op::Socket, [Behavior::FailSync(NtStatus::NOT_IMPLEMENTED)]);
        let udp = DatagramSocket::bind(&client, "127.0.0.1:0".parse().unwrap(), QUICK);
        assert_eq!(udp.err(), Some(Error::new(NtStatus::NOT_IMPLEMENTED)));
        // Bind failing after the socket exists: the socket is closed, not leaked.
        provider::script(Op::Bind, [Behavior::Fail(NtStatus::ADDRESS_ALREADY_EXISTS)]);
        let udp = DatagramSocket::bind(&client, "127.0.0.1:0".parse().unwrap(), QUICK);
        assert_eq!(
            udp.err(),
            Some(Error::new(NtStatus::ADDRESS_ALREADY_EXISTS))
        );
        assert_eq!(fake::counts().sockets_open, 2, "only the pair is open");
        drop((near, far));
        assert!(client.shutdown(QUICK));
    });
}

#[test]
fn a_stream_socket_takes_its_role_at_listen_or_connect() {
    let kernel = fake::Kernel::start();
    let client = register();
    let localhost: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut bound = StreamSocket::bind(&client, localhost, BindOptions::default(), QUICK).unwrap();
    let addr = bound.local_addr().unwrap();
    // Bound without a role: not a listener yet.
    let refused = ConnectionSocket::connect(&client, addr, None, QUICK);
    assert_eq!(
        refused.err(),
        Some(Error::new(NtStatus::CONNECTION_REFUSED))
    );
    let mut listener = bound.listen(QUICK).unwrap();
    assert_eq!(provider::calls(Op::Listen), 1);
    let mut near = StreamSocket::bind(&client, localhost, BindOptions::default(), QUICK)
        .unwrap()
        .connect(addr, QUICK)
        .unwrap();
    let (mut far, from) = listener.accept(QUICK).unwrap();
    assert_eq!(from, Some(near.local_addr().unwrap()));
    assert_eq!(near.peer_addr().unwrap(), addr);
    far.send_all(b"pong", QUICK).unwrap();
    let mut got = [0u8; 8];
    let n = near.receive(&mut got, QUICK).unwrap();
    assert_eq!(&got[..n], b"pong");
    drop((near, far, listener));
    assert!(client.shutdown(QUICK));
    kernel.assert_clean();
}

#[test]
fn connection_refused_and_address_in_use() {
    let kernel = fake::Kernel::start();
    let client = register();
    let (l, addr) = listener(&client);
    let again = wsk::ListenSocket::bind(&client, addr, QUICK);
    assert_eq!(
        again.err(),
        Some(Error::new(NtStatus::ADDRESS_ALREADY_EXISTS))
    );
    drop(l);
    let refused = ConnectionSocket::connect(&client, addr, None, QUICK);
    assert_eq!(
        refused.err(),
        Some(Error::new(NtStatus::CONNECTION_REFUSED))
    );
    assert!(client.shutdown(QUICK));
    kernel.assert_clean();
}

#[test]
fn datagrams_round_trip_ipv4_and_ipv6() {
    both_flavours(|| {
        let client = register();
        for at in ["127.0.0.1:0", "[::1]:0"] {
            let at: SocketAddr = at.parse().unwrap();
            let mut a = DatagramSocket::bind(&client, at, QUICK).unwrap();
            let mut b = DatagramSocket::bind(&client, at, QUICK).unwrap();
            let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
            assert_eq!(a.send_to(b"one datagram", b_addr, QUICK).unwrap(), 12);
            let mut buf = [0u8; 64];
            let (n, from) = b.receive_from(&mut buf, QUICK).unwrap();
            assert_eq!((&buf[..n], from), (&b"one datagram"[..], Some(a_addr)));
            // Truncated to the caller's buffer.
            b.send_to(b"0123456789", a_addr, QUICK).unwrap();
            let mut small = [0u8; 4];
            let (n, from) = a.receive_from(&mut small, QUICK).unwrap();
            assert_eq!((&small[..n], from), (&b"0123"[..], Some(b_addr)));
        }
        assert!(client.shutdown(QUICK));
    });
}

#[test]
fn timeout_cancels_and_the_request_completes_as_cancelled() {
    let kernel = fake::Kernel::start();
    provider::configure(Config::WINDOWS);
    let client = register();
    let (mut near, mut far) = pair(&client);
    let before = fake::counts();
    let closes = provider::calls(Op::Close);
    let mut buf = [0u8; 8];
    let start = Instant::now();
    assert_eq!(
        far.receive(&mut buf, Duration::from_millis(50)),
        Err(Error::TIMEOUT)
    );
    assert!(
        start.elapsed() < Duration::from_millis(900),
        "cancellation completed the request at once"
    );
    let after = fake::counts();
    assert_eq!(
        after.cancel_calls - before.cancel_calls,
        1,
        "IoCancelIrp once"
    );
    assert_eq!(
        after.cancel_routines_called - before.cancel_routines_called,
        1,
        "the provider's cancel routine ran"
    );
    assert_eq!(provider::calls(Op::Close), closes, "no force-close");
    // The connection survived the cancelled receive.
    assert!(far.is_open());
    near.send_all(b"still here", QUICK).unwrap();
    let n = far.receive(&mut buf, QUICK).unwrap();
    assert_eq!(&buf[..n], b"still he");
    drop((near, far));
    assert!(client.shutdown(QUICK));
    kernel.assert_clean();
}

#[test]
fn timeout_with_cancel_ignored_force_closes_the_socket() {
    let kernel = fake::Kernel::start();
    provider::configure(Config::WINE);
    // The grace periods (1 s, then 5 s) run in virtual time, 20 times faster.
    fake::set_time_scale(20);
    let client = register();
    let (mut near, mut far) = pair(&client);
    let (before, closes) = (fake::counts(), provider::calls(Op::Close));
    let mut buf = [0u8; 8];
    assert_eq!(
        far.receive(&mut buf, Duration::from_millis(100)),
        Err(Error::TIMEOUT)
    );
    let c = fake::counts();
    let cancels = (
        c.cancel_calls - before.cancel_calls,
        c.cancel_routines_called - before.cancel_routines_called,
    );
    assert_eq!(cancels, (1, 0), "cancel tried, nothing to call (Wine)");
    assert_eq!(
        provider::calls(Op::Close),
        closes + 1,
        "the socket was closed to complete the request"
    );
    assert!(!far.is_open());
    assert_eq!(c.irps_in_provider, 0);
    // The far end's close reached the near end: end of stream.
    assert_eq!(near.receive(&mut buf, QUICK), Ok(0));
    // Requests on the force-closed socket fail without reaching the provider.
    let sends = provider::calls(Op::Send);
    assert_eq!(
        far.send(b"x", QUICK),
        Err(Error::new(NtStatus::CONNECTION_ABORTED))
    );
    assert_eq!(provider::calls(Op::Send), sends);
    drop((near, far));
    assert!(client.shutdown(QUICK));
    kernel.assert_clean();
}

#[test]
fn timeout_that_even_close_cannot_complete_is_abandoned_and_freed_by_the_late_completion() {
    let kernel = fake::Kernel::start();
    provider::configure(Config::WINE);
    fake::set_time_scale(20);
    let client = register();
    let (near, mut far) = pair(&client);
    provider::script(
        Op::Receive,
        [Behavior::Hang {
            cancel: false,
            close: false,
        }],
    );
    let (before, closes) = (fake::counts(), provider::calls(Op::Close));
    let mut buf = [0u8; 8];
    let start = Instant::now();
    assert_eq!(
        far.receive(&mut buf, Duration::from_millis(100)),
        Err(Error::TIMEOUT)
    );
    // 0.1 s + 1 s + 5 s of virtual time.
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "waited out both grace periods"
    );
    assert_eq!(provider::calls(Op::Close), closes + 1, "force-closed");
    let abandoned = fake::counts();
    assert_eq!(
        abandoned.irps_in_provider, 1,
        "the provider still holds the request"
    );
    // The abandoned request keeps its pool object, IRP and buffer: nothing the provider may
    // still write was freed.
    drop((near, far));
    let unload = thread::spawn(move || client.shutdown(Duration::from_millis(20)));
    thread::sleep(Duration::from_millis(100));
    assert!(
        !unload.is_finished(),
        "unload waits while the provider holds the request"
    );
    assert_eq!(
        netio::calls(Event::Deregister),
        0,
        "not deregistered under the provider"
    );
    let held = fake::counts();
    assert_eq!(
        held.irps_live,
        kernel.baseline().irps_live + 1,
        "only the abandoned request's IRP remains"
    );
    assert!(before.irps_live > kernel.baseline().irps_live);
    assert!(
        held.pool_live > kernel.baseline().pool_live,
        "the abandoned request's memory is alive"
    );
    assert!(fake::violations().is_empty(), "{:?}", fake::violations());
    // The provider completes it at last: the completion routine frees everything, and only
    // then does unload release the registration.
    assert_eq!(provider::release_stuck(NtStatus::CANCELLED), 1);
    assert!(
        !unload.join().unwrap(),
        "unload went on waiting past its patience"
    );
    assert_eq!(netio::calls(Event::Deregister), 1);
    kernel.assert_clean();
}

#[test]
fn abandoned_requests_never_leak_under_repetition() {
    let kernel = fake::Kernel::start();
    provider::configure(Config::WINE);
    fake::set_time_scale(200);
    let client = register();
    for _ in 0..5 {
        let (_near, mut far) = pair(&client);
        provider::script(
            Op::Receive,
            [Behavior::Hang {
                cancel: false,
                close: false,
            }],
        );
        assert_eq!(
            far.receive(&mut [0u8; 4], Duration::from_millis(10)),
            Err(Error::TIMEOUT)
        );
    }
    assert_eq!(fake::counts().irps_in_provider, 5);
    let unload = thread::spawn(move || client.shutdown(QUICK));
    thread::sleep(Duration::from_millis(50));
    assert!(!unload.is_finished(), "unload waits for the 5 requests");
    assert_eq!(provider::release_stuck(NtStatus::CANCELLED), 5);
    let _ = unload.join().unwrap();
    assert_eq!(netio::calls(Event::Deregister), 1);
    kernel.assert_clean();
}
