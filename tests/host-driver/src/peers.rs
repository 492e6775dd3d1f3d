//! The driver's peers on the fake provider's loopback: `wsk` sockets of a WSK registration of
//! their own, each connection driven by a thread.
//!
//! - At [`ECHO_PORT`] (127.0.0.1 and ::1) a listener whose connections send back what they
//!   receive and close gracefully once the driver's side has.
//! - At [`RECORDING_PORT`] a listener whose connections keep what they receive and send
//!   only what the test says ([`Peers::send`], [`Peers::close`]).
//! - Clients of the driver's listeners ([`Peers::client_session`]; those that stay echo), and
//!   datagrams to its UDP sockets ([`Peers::send_datagram`]).
//!
//! A connection is found by its two addresses: the driver's endpoint's local address is the
//! peer's remote one and the other way round.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wsk::{ConnectionSocket, DatagramSocket, Disconnect, ListenSocket, NtStatus, WskClient};

use super::lock;

/// The port of the echo peer.
pub const ECHO_PORT: u16 = 9000;
/// The port of the recording peer.
pub const RECORDING_PORT: u16 = 9001;
/// A port where nothing listens: connects are refused.
pub const REFUSING_PORT: u16 = 1;

/// How often a peer's thread looks for commands and for the end of the test.
const POLL: Duration = Duration::from_millis(20);
/// Timeout of a peer's sends, connects and disconnects.
const STEP: Duration = Duration::from_secs(5);
/// How long [`Peers::send`] waits for the provider to take the bytes.
const SEND_WAIT: Duration = Duration::from_millis(200);
/// How long a client session waits for its answer.
const ANSWER_WAIT: Duration = Duration::from_millis(500);
/// How long [`Peers::received`] waits for the bytes it expects.
const RECEIVE_WAIT: Duration = Duration::from_secs(5);

/// What a peer connection does with what it receives.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Echo,
    Record,
}

/// What the test asks a peer connection to do (acknowledged when done).
enum Command {
    Send(Vec<u8>, Sender<()>),
    Close(Sender<()>),
}

/// One peer connection: its addresses, its thread's command queue and what it received.
struct Link {
    local: SocketAddr,
    remote: SocketAddr,
    commands: Sender<Command>,
    received: Arc<Mutex<Vec<u8>>>,
}

/// What the peers' threads share.
#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    links: Mutex<Vec<Link>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// The peers of one test, until [`Peers::stop`].
pub(super) struct Peers {
    client: Option<WskClient>,
    shared: Arc<Shared>,
}

impl Peers {
    /// Starts the echo and recording listeners on 127.0.0.1 and ::1.
    pub(super) fn start(client: WskClient) -> Self {
        let shared = Arc::new(Shared::default());
        for ip in [
            IpAddr::from(Ipv4Addr::LOCALHOST),
            IpAddr::from(Ipv6Addr::LOCALHOST),
        ] {
            for (port, mode) in [(ECHO_PORT, Mode::Echo), (RECORDING_PORT, Mode::Record)] {
                let local = SocketAddr::new(ip, port);
                let listener = ListenSocket::bind(&client, local, STEP).expect("peer listener");
                let thread_shared = Arc::clone(&shared);
                let thread =
                    std::thread::spawn(move || accept_loop(listener, local, mode, &thread_shared));
                lock(&shared.threads).push(thread);
            }
        }
        Self {
            client: Some(client),
            shared,
        }
    }

    /// Stops every peer thread (each closes its socket), then ends the registration.
    /// Returns whether everything closed in time.
    pub(super) fn stop(&mut self) -> bool {
        self.shared.stop.store(true, Ordering::SeqCst);
        loop {
            let threads = std::mem::take(&mut *lock(&self.shared.threads));
            if threads.is_empty() {
                break;
            }
            for thread in threads {
                let _ = thread.join();
            }
        }
        lock(&self.shared.links).clear();
        self.client
            .take()
            .is_none_or(|client| client.shutdown(STEP))
    }

    /// The command queue and record of the peer of the driver endpoint `local` ↔ `remote`.
    fn link(
        &self,
        (local, remote): (SocketAddr, SocketAddr),
    ) -> (Sender<Command>, Arc<Mutex<Vec<u8>>>) {
        // The provider completes the driver's connect before the peer's accept thread has
        // taken the connection: wait for it.
        let deadline = Instant::now() + STEP;
        loop {
            {
                let links = lock(&self.shared.links);
                let link = links
                    .iter()
                    .find(|link| link.remote == local && link.local == remote);
                if let Some(link) = link {
                    return (link.commands.clone(), Arc::clone(&link.received));
                }
                assert!(
                    Instant::now() < deadline,
                    "a peer is connected to {local} from {remote}"
                );
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The peer of the endpoint at `addresses` (local, remote) sends `data`; returns once the
    /// provider took it all, or after [`SEND_WAIT`] if the driver's receive window is full
    /// (the peer goes on sending as the driver receives).
    pub(super) fn send(&self, addresses: (SocketAddr, SocketAddr), data: &[u8]) {
        let (commands, _) = self.link(addresses);
        let (done, acked) = mpsc::channel();
        if commands.send(Command::Send(data.to_vec(), done)).is_ok() {
            let _ = acked.recv_timeout(SEND_WAIT);
        }
    }

    /// The peer of the endpoint at `addresses` closes its side gracefully.
    pub(super) fn close(&self, addresses: (SocketAddr, SocketAddr)) {
        let (commands, _) = self.link(addresses);
        let (done, acked) = mpsc::channel();
        if commands.send(Command::Close(done)).is_ok() {
            let _ = acked.recv_timeout(STEP);
        }
    }

    /// What the peer of the endpoint at `addresses` received, once it has `len` bytes (or
    /// after [`RECEIVE_WAIT`]).
    pub(super) fn received(&self, addresses: (SocketAddr, SocketAddr), len: usize) -> Vec<u8> {
        let (_, received) = self.link(addresses);
        let deadline = Instant::now() + RECEIVE_WAIT;
        while lock(&received).len() < len && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let now = lock(&received).clone();
        now
    }

    /// A datagram from `from` to `to` (a socket bound at `from` for the occasion).
    pub(super) fn send_datagram(&self, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        let client = self.client.as_ref().expect("the peers run");
        let mut socket = DatagramSocket::bind(client, from, STEP).expect("peer datagram socket");
        let sent = socket.send_to(data, to, STEP).expect("peer datagram sent");
        assert_eq!(sent, data.len(), "the whole datagram was sent");
        let _ = socket.close();
    }

    /// A client of the driver's listener at `listener`: see `HostDriver::client_session`.
    pub(super) fn client_session(
        &self,
        listener: SocketAddr,
        data: &[u8],
        read: usize,
        stay: bool,
    ) -> Option<Vec<u8>> {
        let client = self.client.as_ref()?;
        let mut socket = ConnectionSocket::connect(client, listener, None, STEP).ok()?;
        if !data.is_empty() {
            socket.send_all(data, STEP).ok()?;
        }
        let mut answer = Vec::new();
        let mut buffer = vec![0; read];
        let deadline = Instant::now() + ANSWER_WAIT;
        let mut ended = false;
        while answer.len() < read && Instant::now() < deadline {
            let room = buffer.get_mut(answer.len()..).unwrap_or_default();
            match socket.receive(room, POLL) {
                Ok(0) => {
                    ended = true;
                    break;
                }
                Ok(n) => answer.extend_from_slice(room.get(..n).unwrap_or_default()),
                Err(e) if e.status() == NtStatus::IO_TIMEOUT => {}
                Err(_) => {
                    ended = true;
                    break;
                }
            }
        }
        if ended && answer.is_empty() {
            return None;
        }
        if stay {
            let local = socket.local_addr().ok()?;
            spawn_connection(socket, local, listener, Mode::Echo, &self.shared);
        } else {
            let _ = socket.disconnect(Disconnect::Graceful(&[]), STEP);
            let _ = socket.close();
        }
        Some(answer)
    }
}

/// A peer listener's thread: accepts until the test ends.
fn accept_loop(mut listener: ListenSocket, local: SocketAddr, mode: Mode, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        if let Ok((socket, Some(remote))) = listener.accept(POLL) {
            spawn_connection(socket, local, remote, mode, shared);
        }
    }
    let _ = listener.close();
}

/// Registers a peer connection and starts its thread.
fn spawn_connection(
    socket: ConnectionSocket,
    local: SocketAddr,
    remote: SocketAddr,
    mode: Mode,
    shared: &Arc<Shared>,
) {
    let (commands, queue) = mpsc::channel();
    let received = Arc::new(Mutex::new(Vec::new()));
    lock(&shared.links).push(Link {
        local,
        remote,
        commands,
        received: Arc::clone(&received),
    });
    let thread_shared = Arc::clone(shared);
    let thread = std::thread::spawn(move || {
        run_connection(socket, mode, &queue, &received, &thread_shared.stop);
    });
    lock(&shared.threads).push(thread);
}

/// A peer connection's thread: carries out commands, receives (echoing in echo mode) until
/// the connection ends or the test does, then closes the socket.
fn run_connection(
    mut socket: ConnectionSocket,
    mode: Mode,
    commands: &Receiver<Command>,
    received: &Mutex<Vec<u8>>,
    stop: &AtomicBool,
) {
    let mut buffer = vec![0; 64 * 1024];
    let mut reading = true;
    while !stop.load(Ordering::SeqCst) {
        while let Ok(command) = commands.try_recv() {
            match command {
                Command::Send(data, done) => {
                    let _ = socket.send_all(&data, STEP);
                    let _ = done.send(());
                }
                Command::Close(done) => {
                    let _ = socket.disconnect(Disconnect::Graceful(&[]), STEP);
                    let _ = done.send(());
                }
            }
        }
        if !reading {
            std::thread::sleep(POLL);
            continue;
        }
        match socket.receive(&mut buffer, POLL) {
            Ok(0) => {
                // The driver's side closed: an echo peer closes too, after what it echoed.
                reading = false;
                if mode == Mode::Echo {
                    let _ = socket.disconnect(Disconnect::Graceful(&[]), STEP);
                    break;
                }
            }
            Ok(n) => {
                let data = buffer.get(..n).unwrap_or_default();
                lock(received).extend_from_slice(data);
                if mode == Mode::Echo && socket.send_all(data, STEP).is_err() {
                    break;
                }
            }
            Err(e) if e.status() == NtStatus::IO_TIMEOUT => {}
            Err(_) => {
                reading = false;
                if mode == Mode::Echo {
                    break;
                }
            }
        }
    }
    let _ = socket.close();
}
