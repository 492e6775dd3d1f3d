//! Event callbacks against the fake provider: accept events on listen sockets
//! (`ListenEventSocket`), receive-from events on datagram sockets (`DatagramEventSocket`), and retained
//! datagram indications (`Verdict::Retain`, `RetainedData`, `WskRelease`).

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{listener, register, QUICK};
use fake::provider;
use wsk::events::{
    ConnectionEventSocket, ConnectionEvents, DatagramEventSocket, DatagramEvents, Indication,
    ListenEventSocket, ListenEvents, RetainedData, Verdict,
};
use wsk::{AcceptedConnection, BindOptions, ConnectionSocket, DatagramSocket, NtStatus};
use wskrs_fake_kernel as fake;

const V4: &str = "127.0.0.1:0";
const V6: &str = "[::1]:0";

/// What a datagram callback saw: bytes, sender, IRQL.
type Seen = Arc<Mutex<Vec<(Vec<u8>, Option<SocketAddr>, u8)>>>;

struct Datagrams {
    verdict: Verdict,
    seen: Seen,
    keep: Option<Arc<Mutex<Vec<RetainedData>>>>,
}

impl DatagramEvents for Datagrams {
    fn received(&self, datagram: &Indication<'_>, from: Option<SocketAddr>) -> Verdict {
        let bytes: Vec<u8> = datagram.chunks().flatten().copied().collect();
        assert_eq!(bytes.len(), datagram.len());
        self.seen
            .lock()
            .unwrap()
            .push((bytes, from, fake::current_irql()));
        self.verdict
    }

    fn retained(&self, data: RetainedData) {
        if let Some(keep) = &self.keep {
            keep.lock().unwrap().push(data);
        }
    }
}

fn datagrams(verdict: Verdict, keep: Option<Arc<Mutex<Vec<RetainedData>>>>) -> (Datagrams, Seen) {
    let seen = Seen::default();
    (
        Datagrams {
            verdict,
            seen: seen.clone(),
            keep,
        },
        seen,
    )
}

#[test]
fn datagram_events_deliver_consumed_datagrams_at_dispatch_ipv4_and_ipv6() {
    let kernel = fake::Kernel::start();
    let client = register();
    for at in [V4, V6] {
        let (events, seen) = datagrams(Verdict::Consumed, None);
        let mut rx = DatagramEventSocket::bind(
            &client,
            at.parse().unwrap(),
            BindOptions::default(),
            events,
            QUICK,
        )
        .unwrap();
        let to = rx.socket().unwrap().local_addr().unwrap();
        let mut tx = DatagramSocket::bind(&client, at.parse().unwrap(), QUICK).unwrap();
        let from = tx.local_addr().unwrap();
        tx.send_to(b"one", to, QUICK).unwrap();
        tx.send_to(b"two!", to, QUICK).unwrap();
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            vec![
                (b"one".to_vec(), Some(from), fake::DISPATCH_LEVEL),
                (b"two!".to_vec(), Some(from), fake::DISPATCH_LEVEL)
            ],
            "{at}"
        );
        assert_eq!(provider::retained_indications(), 0);
    }
    assert!(client.shutdown(QUICK));
    kernel.assert_clean();
}

#[test]
fn datagram_not_accepted_stays_queued_for_receive_from() {
    let kernel = fake::Kernel::start();
    let client = register();
    let (events, seen) = datagrams(Verdict::NotAccepted, None);
    let mut rx = DatagramEventSocket::bind(
        &client,
        V4.parse().unwrap(),
        BindOptions::default(),
        events,
        QUICK,
    )
    .unwrap();
    let to = rx.socket().unwrap().local_addr().unwrap();
    let mut tx = DatagramSocket::bind(&client, V4.parse().unwrap(), QUICK).unwrap();
    tx.send_to(b"later", to, QUICK).unwrap();
    assert_eq!(seen.lock().unwrap().len(), 1);
    rx.disable().unwrap();
    let mut buf = [0u8; 16];
    let (n, from) = rx.socket().unwrap().receive_from(&mut buf, QUICK).unwrap();
    assert_eq!(
        (&buf[..n], from),
        (&b"later"[..], Some(tx.local_addr().unwrap()))
    );
    drop((rx, tx));
    assert!(client.shutdown(QUICK));
    kernel.assert_clean();
}

#[test]
fn retained_datagrams_stay_valid_until_dropped_then_are_released() {
    let kernel = fake::Kernel::start();
    let client = register();
    let keep = Arc::new(Mutex::new(Vec::new()));
    let (events, _) = datagrams(Verdict::Retain, Some(keep.clone()));
    let mut rx = DatagramEventSocket::bind(
        &client,
        V6.parse().unwrap(),
        BindOptions::default(),
        events,
        QUICK,
    )
    .unwrap();
    let to = rx.socket().unwrap().local_addr().unwrap();
    let mut tx = DatagramSocket::bind(&client, V6.parse().unwrap(), QUICK).unwrap();
    tx.send_to(b"kept", to, QUICK).unwrap();
    assert_eq!(
        provider::retained_indications(),
        1,
        "the callback returned STATUS_PENDING"
    );
    let handle = keep.lock().unwrap().pop().unwrap();
    assert_eq!(handle.len(), 4);
    let datagrams: Vec<(Vec<u8>, Option<SocketAddr>)> =
        handle.datagrams().map(|(d, f)| (d.to_vec(), f)).collect();
    assert_eq!(
        datagrams,
        vec![(b"kept".to_vec(), Some(tx.local_addr().unwrap()))]
    );
    assert_eq!(handle.chunks().collect::<Vec<_>>(), vec![&b"kept"[..]]);
    // Released from another thread, at DISPATCH_LEVEL as WSK allows.
    std::thread::spawn(move || drop(handle)).join().unwrap();
    assert_eq!(
        provider::retained_indications(),
        0,
        "WskRelease gave the chain back"
    );
    drop((rx, tx));
    assert!(client.shutdown(QUICK));
    kernel.assert_clean();
}

#[test]
fn release_returns_the_status_of_wsk_release_and_releases_once() {
    let kernel = fake::Kernel::start();
    let client = register();
    let keep = Arc::new(Mutex::new(Vec::new()));
    let (events, _) = datagrams(Verdict::Retain, Some(keep.clone()));
    let mut rx = DatagramEventSocket::bind(
        &client,
        V4.parse().unwrap(),
        BindOptions::default(),
        events,
        QUICK,
    )
    .unwrap();
    let to = rx.socket().unwrap().local_addr().unwrap();
    let mut tx = DatagramSocket::bind(&client, V4.parse().unwrap(), QUICK).unwrap();
    tx.send_to(b"one", to, QUICK).unwrap();
    tx.send_to(b"two", to, QUICK).unwrap();
    assert_eq!(provider::retained_indications(), 2);
    let handles: Vec<RetainedData> = keep.lock().unwrap().drain(..).collect();
    for handle in handles {
        handle.release().unwrap();
    }
    assert_eq!(
        provider::retained_indications(),
        0,
        "each release gave its chain back once"
    );
    drop((rx, tx));
    assert!(client.shutdown(QUICK));
    // A second WskRelease of a chain would be recorded as a violation.
    kernel.assert_clean();
}

#[test]
fn retained_handle_dropped_inside_the_callback_counts_as_consumed() {
    let kernel = fake::Kernel::start();
    let client = register();
    // No keeper: the default-like `retained` drops the handle before the callback returns.
    let (events, seen) = datagrams(Verdict::Retain, None);
    let mut rx = DatagramEventSocket::bind(
        &client,
        V4.parse().unwrap(),
        BindOptions::default(),
        events,
        QUICK,
    )
    .unwrap();
    let to = rx.socket().unwrap().local_addr().unwrap();
    let mut tx = DatagramSocket::bind(&client, V4.parse().unwrap(), QUICK).unwrap();
    tx.send_to(b"x", to, QUICK).unwrap();
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_eq!(
        provider::retained_indications(),
        0,
        "STATUS_SUCCESS, nothing to release"
    );
    drop((rx, tx));
    assert!(client.shutdown(QUICK));
    kernel.assert_clean();
}

#[test]
fn dropping_the_event_socket_waits_for_retained_handles_before_closing() {
    let kernel = fake::Kernel::start();
    let client = register();
    let keep = Arc::new(Mutex::new(Vec::new()));
    let (events, _) = datagrams(Verdict::Retain, Some(keep.clone()));
    let mut rx = DatagramEventSocket::bind(
        &client,
        V4.parse().unwrap(),
        BindOptions::default(),
        events,
        QUICK,
    )
    .unwrap();
    let to = rx.socket().unwrap().local_addr().unwrap();
    let mut tx = DatagramSocket::bind(&client, V4.parse().unwrap(), QUICK).unwrap();
    tx.send_to(b"held", to, QUICK).unwrap();
    let handle = keep.lock().unwrap().pop().unwrap();
    let closer = std::thread::spawn(move || drop(rx));
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        !closer.is_finished(),
        "the close waits for the retained chain"
    );
    assert_eq!(provider::calls(provider::Op::Close), 0);
    drop(handle);
    closer.join().unwrap();
    assert_eq!(provider::retained_indications(), 0);
    drop(tx);
    assert!(client.shutdown(QUICK));
    // The fake records a violation if a socket closes with retained chains.
    kernel.assert_clean();
}

#[test]
fn a_retained_handle_never_dropped_bounds_the_close_also_with_wine_interrupt_time() {
    let _kernel = fake::Kernel::start();
    // 5 s of virtual time take 50 ms; the interrupt time runs in milliseconds, as Wine's: a
    // deadline read from it would be 10,000 times too far (8 minutes here, not 50 ms).
    fake::set_time_scale(100);
    fake::set_interrupt_time_in_ms(true);
    let client = register();
    let keep = Arc::new(Mutex::new(Vec::new()));
    let (events, _) = datagrams(Verdict::Retain, Some(keep.clone()));
    let mut rx = DatagramEventSocket::bind(
        &client,
        V4.parse().unwrap(),
        BindOptions::default(),
        events,
        QUICK,
    )
    .unwrap();
    let to = rx.socket().unwrap().local_addr().unwrap();
    let mut tx = DatagramSocket::bind(&client, V4.parse().unwrap(), QUICK).unwrap();
    tx.send_to(b"held", to, QUICK).unwrap();
    let handle = keep.lock().unwrap().pop().unwrap();
    let started = std::time::Instant::now();
    drop(rx);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "gave up after RETAIN_WAIT: {:?}",
        started.elapsed()
    );
    assert_eq!(
        provider::calls(provider::Op::Close),
        0,
        "a socket with a retained chain is never closed"
    );
    // The socket and its context are leaked on purpose; the next Kernel::start resets the fake.
    std::mem::forget(handle);
    drop(tx);
}

/// Accepted connections with their remote address and the IRQL the callback ran at.
type Accepted = Arc<Mutex<Vec<(AcceptedConnection, Option<SocketAddr>, u8)>>>;

/// Accepts (keeping the connection) or rejects every connection.
struct Listener {
    accept: bool,
    accepted: Accepted,
}

impl ListenEvents for Listener {
    fn accepted(
        &self,
        connection: AcceptedConnection,
        remote: Option<SocketAddr>,
    ) -> Result<(), AcceptedConnection> {
        if !self.accept {
            return Err(connection);
        }
        self.accepted
            .lock()
            .unwrap()
            .push((connection, remote, fake::current_irql()));
        Ok(())
    }
}

#[test]
fn accept_events_hand_over_working_connections_ipv4_and_ipv6() {
    let kernel = fake::Kernel::start();
    let client = register();
    for at in [V4, V6] {
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let events = Listener {
            accept: true,
            accepted: accepted.clone(),
        };
        let mut listener = ListenEventSocket::bind(
            &client,
            at.parse().unwrap(),
            BindOptions::default(),
            events,
            QUICK,
        )
        .unwrap();
        let addr = listener.socket().unwrap().local_addr().unwrap();
        let mut near = ConnectionSocket::connect(&client, addr, None, QUICK).unwrap();
        let (far, remote, irql) = accepted.lock().unwrap().pop().expect("accept event ran");
        let mut far = far.into_socket();
        assert_eq!(remote, Some(near.local_addr().unwrap()), "{at}");
        assert_eq!(irql, fake::DISPATCH_LEVEL);
        assert_eq!(
            provider::calls(provider::Op::Accept),
            0,
            "no WskAccept request"
        );
        near.send_all(b"hello", QUICK).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(far.receive(&mut buf, QUICK).unwrap(), 5);
        assert_eq!(&buf[..5], b"hello");
        drop((near, far, listener));
    }
    assert!(client.shutdown(QUICK));
    kernel.assert_clean();
}

#[test]
fn rejected_connections_are_closed_by_the_provider_and_reset_the_peer() {
    let kernel = fake::Kernel::start();
    let client = register();
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let events = Listener {
        accept: false,
        accepted: accepted.clone(),
    };
    let mut listener = ListenEventSocket::bind(
        &client,
        V4.parse().unwrap(),
        BindOptions::default(),
        events,
        QUICK,
    )
    .unwrap();
    let addr = listener.socket().unwrap().local_addr().unwrap();
    let mut near = ConnectionSocket::connect(&client, addr, None, QUICK).unwrap();
    assert!(accepted.lock().unwrap().is_empty());
    let mut buf = [0u8; 4];
    assert_eq!(
        near.receive(&mut buf, QUICK).unwrap_err().status(),
        NtStatus::CONNECTION_RESET
    );
    drop((near, listener));
    drop(client);
    // No double close and no leaked socket (the rejected one was never the client's).
    kernel.assert_clean();
}

#[test]
fn disabled_accept_events_fall_back_to_accept_requests() {
    let kernel = fake::Kernel::start();
    let client = register();
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let events = Listener {
        accept: true,
        accepted: accepted.clone(),
    };
    let mut listener = ListenEventSocket::bind(
        &client,
        V4.parse().unwrap(),
        BindOptions::default(),
        events,
        QUICK,
    )
    .unwrap();
    listener.disable().unwrap();
    let addr = listener.socket().unwrap().local_addr().unwrap();
    let near = ConnectionSocket::connect(&client, addr, None, QUICK).unwrap();
    let (far, _) = listener.socket().unwrap().accept(QUICK).unwrap();
    assert!(
        accepted.lock().unwrap().is_empty(),
        "no event after WSK_EVENT_DISABLE"
    );
    drop((near, far, listener));
    assert!(client.shutdown(QUICK));
    kernel.assert_clean();
}

/// Connection events that answer `verdict` and keep retained data.
struct Stream {
    verdict: Verdict,
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
    keep: Arc<Mutex<Vec<RetainedData>>>,
}

impl ConnectionEvents for Stream {
    fn received(&self, data: &Indication<'_>) -> Verdict {
        self.seen
            .lock()
            .unwrap()
            .push(data.chunks().flatten().copied().collect());
        self.verdict
    }

    fn disconnected(&self, _abortive: bool) {}

    fn retained(&self, data: RetainedData) {
        self.keep.lock().unwrap().push(data);
    }
}

/// The chunks a connection's events saw, and the indications it retained.
type StreamSeen = Arc<Mutex<Vec<Vec<u8>>>>;
type Kept = Arc<Mutex<Vec<RetainedData>>>;

fn stream(verdict: Verdict) -> (Stream, StreamSeen, Kept) {
    let (seen, keep) = (Arc::default(), Arc::default());
    (
        Stream {
            verdict,
            seen: Arc::clone(&seen),
            keep: Arc::clone(&keep),
        },
        seen,
        keep,
    )
}

#[test]
fn connection_receive_retained_until_dropped_then_released() {
    let kernel = fake::Kernel::start();
    let client = register();
    let (mut l, addr) = listener(&client);
    let (events, seen, keep) = stream(Verdict::Retain);
    let near =
        ConnectionEventSocket::connect(&client, addr, None, BindOptions::default(), events, QUICK)
            .unwrap();
    let (mut far, _) = l.accept(QUICK).unwrap();
    far.send_all(b"abc", QUICK).unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![b"abc".to_vec()]);
    assert_eq!(
        provider::retained_indications(),
        1,
        "STATUS_PENDING: the list is the client's"
    );
    let handle = keep.lock().unwrap().pop().unwrap();
    assert_eq!(handle.len(), 3);
    assert_eq!(handle.chunks().collect::<Vec<_>>(), vec![&b"abc"[..]]);
    assert_eq!(
        handle.datagrams().map(|(_, from)| from).collect::<Vec<_>>(),
        vec![None]
    );
    drop(handle);
    assert_eq!(
        provider::retained_indications(),
        0,
        "WskRelease (connection dispatch)"
    );
    drop((near, far, l));
    assert!(client.shutdown(QUICK));
    kernel.assert_clean();
}

#[test]
fn connection_not_accepted_data_stays_queued_for_receive() {
    let kernel = fake::Kernel::start();
    let client = register();
    let (mut l, addr) = listener(&client);
    let (events, seen, _) = stream(Verdict::NotAccepted);
    let mut near =
        ConnectionEventSocket::connect(&client, addr, None, BindOptions::default(), events, QUICK)
            .unwrap();
    let (mut far, _) = l.accept(QUICK).unwrap();
    far.send_all(b"queued", QUICK).unwrap();
    assert_eq!(seen.lock().unwrap().len(), 1);
    near.disable().unwrap();
    let mut buf = [0u8; 16];
    let n = near.socket().unwrap().receive(&mut buf, QUICK).unwrap();
    assert_eq!(&buf[..n], b"queued");
    assert_eq!(provider::retained_indications(), 0);
    drop((near, far, l));
    assert!(client.shutdown(QUICK));
    kernel.assert_clean();
}

#[test]
fn dropping_an_event_connection_waits_for_retained_data() {
    let kernel = fake::Kernel::start();
    let client = register();
    let (mut l, addr) = listener(&client);
    let (events, _, keep) = stream(Verdict::Retain);
    let near =
        ConnectionEventSocket::connect(&client, addr, None, BindOptions::default(), events, QUICK)
            .unwrap();
    let (mut far, _) = l.accept(QUICK).unwrap();
    far.send_all(b"zz", QUICK).unwrap();
    let handle = keep.lock().unwrap().pop().unwrap();
    let closes = provider::calls(provider::Op::Close);
    let dropper = std::thread::spawn(move || drop(near));
    std::thread::sleep(Duration::from_millis(50));
    assert!(!dropper.is_finished());
    assert_eq!(
        provider::calls(provider::Op::Close),
        closes,
        "no WskCloseSocket while data is retained"
    );
    drop(handle);
    dropper.join().unwrap();
    drop((far, l));
    assert!(client.shutdown(QUICK));
    kernel.assert_clean();
}
