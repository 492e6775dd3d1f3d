//! Helpers shared by the fake-kernel tests: registration, connected pairs, handlers that record
//! where and how often they were called.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wsk::{ConnectionSocket, Error, ListenSocket, WskClient};
use wskrs_fake_kernel as fake;

/// Generous timeout for requests that complete at once.
pub(crate) const QUICK: Duration = Duration::from_secs(5);

/// Registers a WSK client with the fake NETIO.
pub(crate) fn register() -> WskClient {
    // SAFETY: the fake device object lives for the whole process.
    unsafe { WskClient::register(fake::device(), QUICK) }.expect("register")
}

/// A listener on 127.0.0.1 (port chosen by the provider) and its address.
pub(crate) fn listener(client: &WskClient) -> (ListenSocket, SocketAddr) {
    listener_at(client, "127.0.0.1:0".parse().expect("address"))
}

/// A listener bound at `at` (port 0: the provider picks) and its address.
pub(crate) fn listener_at(client: &WskClient, at: SocketAddr) -> (ListenSocket, SocketAddr) {
    let mut listener = ListenSocket::bind(client, at, QUICK).expect("bind listener");
    let addr = listener.local_addr().expect("listener address");
    (listener, addr)
}

/// A connected pair: (client side, server side).
pub(crate) fn pair(client: &WskClient) -> (ConnectionSocket, ConnectionSocket) {
    let (mut listener, addr) = listener(client);
    let near = ConnectionSocket::connect(client, addr, None, QUICK).expect("connect");
    let (far, _) = listener.accept(QUICK).expect("accept");
    (near, far)
}

/// Where and how a `finished` callback ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Finish {
    /// The error it reported.
    pub(crate) error: Option<Error>,
    /// The IRQL it ran at.
    pub(crate) irql: u8,
    /// Whether it ran on a work item thread.
    pub(crate) work_item: bool,
    /// Whether it ran inside a completion routine.
    pub(crate) in_completion: bool,
}

/// Records `finished` calls.
#[derive(Clone, Default)]
pub(crate) struct Finishes(Arc<Mutex<Vec<Finish>>>);

impl Finishes {
    /// Records one call, from the callback's own thread.
    pub(crate) fn record(&self, error: Option<Error>) {
        let f = Finish {
            error,
            irql: fake::current_irql(),
            work_item: fake::on_work_item_thread(),
            in_completion: fake::in_completion_routine(),
        };
        self.0.lock().expect("finishes").push(f);
    }

    /// The calls so far.
    pub(crate) fn all(&self) -> Vec<Finish> {
        self.0.lock().expect("finishes").clone()
    }

    /// Waits (real time) until at least one call, then returns all of them.
    pub(crate) fn wait(&self, timeout: Duration) -> Vec<Finish> {
        let deadline = std::time::Instant::now() + timeout;
        while self.all().is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        // Let a (wrong) second call show up.
        std::thread::sleep(Duration::from_millis(20));
        self.all()
    }

    /// Asserts exactly one call, at PASSIVE_LEVEL on a work item thread, outside any
    /// completion routine; returns its error.
    pub(crate) fn assert_once_at_passive(&self, timeout: Duration) -> Option<Error> {
        let all = self.wait(timeout);
        assert_eq!(all.len(), 1, "finished exactly once: {all:?}");
        let f = all[0];
        assert_eq!(
            f.irql,
            fake::PASSIVE_LEVEL,
            "finished at PASSIVE_LEVEL: {f:?}"
        );
        assert!(f.work_item, "finished on a work item thread: {f:?}");
        assert!(
            !f.in_completion,
            "finished outside completion routines: {f:?}"
        );
        f.error
    }
}
