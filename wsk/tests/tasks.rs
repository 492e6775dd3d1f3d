//! The completion trampoline (`task.rs`) through its three users (stream, accept and datagram
//! tasks) against the fake kernel and provider: inline completion storms on a small stack
//! that leave the starting thread after a bounded run, completions from other threads, close while a request is pending, stop races.

// Test data are byte patterns that wrap on purpose.
#![allow(clippy::cast_possible_truncation)]

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread::{self, ThreadId};
use std::time::Duration;

use common::{listener, pair, register, Finishes, QUICK};
use fake::provider::{self, Behavior, Config, Op};
use wsk::task::{
    ConnectionHandler, ConnectionStep, ConnectionTask, DatagramHandler, DatagramStep, DatagramTask,
    ListenHandler, ListenTask, INLINE_RUN,
};
use wsk::{AcceptedConnection, ConnectionSocket, DatagramSocket, Disconnect, Error, NtStatus};
use wskrs_fake_kernel as fake;

/// Stack of the threads that drive inline storms: far too small for one frame per request.
const SMALL_STACK: usize = 256 * 1024;
/// Requests completed inline in a row in the storm tests.
const STORM: usize = 50_000;
/// How long `finished` may take to show up (real time).
const FINISH: Duration = Duration::from_secs(5);

fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let t = thread::Builder::new()
        .name("small-stack".into())
        .stack_size(SMALL_STACK)
        .spawn(f)
        .unwrap();
    t.join()
        .expect("the small-stack thread finished (no stack overflow)")
}

/// Counts a handler's calls made on the thread that started its task (the rest run on
/// worker threads once a run of inline completions is long enough).
#[derive(Default)]
struct OnStarter {
    starter: Mutex<Option<ThreadId>>,
    calls: AtomicUsize,
}

impl OnStarter {
    fn started(&self) {
        *self.starter.lock().unwrap() = Some(thread::current().id());
    }
    fn call(&self) {
        if *self.starter.lock().unwrap() == Some(thread::current().id()) {
            self.calls.fetch_add(1, Ordering::Relaxed);
        }
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }
}

/// Sends one byte at a time, `n` times, then closes.
struct Sender {
    left: AtomicUsize,
    on_starter: OnStarter,
    finishes: Finishes,
}

impl ConnectionHandler for Sender {
    fn start(&self, buffer: &mut [u8]) -> ConnectionStep {
        self.on_starter.started();
        buffer[0] = 0;
        ConnectionStep::Send(1)
    }
    fn received(&self, _: &mut [u8], _: usize) -> ConnectionStep {
        ConnectionStep::Close
    }
    fn sent(&self, buffer: &mut [u8], len: usize) -> ConnectionStep {
        self.on_starter.call();
        assert_eq!(len, 1);
        if self.left.fetch_sub(1, Ordering::Relaxed) == 1 {
            return ConnectionStep::Close;
        }
        buffer[0] = buffer[0].wrapping_add(1);
        ConnectionStep::Send(1)
    }
    fn finished(&self, error: Option<Error>) {
        self.finishes.record(error);
    }
}

/// Counts and sums received bytes; closes at end of stream.
#[derive(Default)]
struct Receiver {
    count: AtomicUsize,
    sum: AtomicU64,
    on_starter: OnStarter,
    finishes: Finishes,
}

impl ConnectionHandler for Receiver {
    fn start(&self, _: &mut [u8]) -> ConnectionStep {
        self.on_starter.started();
        ConnectionStep::Receive
    }
    fn received(&self, buffer: &mut [u8], len: usize) -> ConnectionStep {
        self.on_starter.call();
        if len == 0 {
            return ConnectionStep::Close;
        }
        self.count.fetch_add(len, Ordering::Relaxed);
        self.sum.fetch_add(
            buffer[..len].iter().map(|b| u64::from(*b)).sum(),
            Ordering::Relaxed,
        );
        ConnectionStep::Receive
    }
    fn sent(&self, _: &mut [u8], _: usize) -> ConnectionStep {
        ConnectionStep::Receive
    }
    fn finished(&self, error: Option<Error>) {
        self.finishes.record(error);
    }
}

/// Sends back what it receives; closes at end of stream.
#[derive(Default)]
struct Echo {
    finishes: Finishes,
}

impl ConnectionHandler for Echo {
    fn received(&self, _: &mut [u8], len: usize) -> ConnectionStep {
        if len == 0 {
            ConnectionStep::Close
        } else {
            ConnectionStep::Send(len)
        }
    }
    fn sent(&self, _: &mut [u8], _: usize) -> ConnectionStep {
        ConnectionStep::Receive
    }
    fn finished(&self, error: Option<Error>) {
        self.finishes.record(error);
    }
}

fn for_each_flavour(f: impl Fn()) {
    for config in Config::ALL {
        let kernel = fake::Kernel::start();
        provider::configure(config);
        f();
        kernel.assert_clean();
    }
}

/// A storm of sends that all complete during the provider's call: the trampoline neither
/// nests (a small stack is enough) nor keeps the starting thread: `start` returns after
/// `INLINE_RUN` sends and the rest run on worker threads, in order.
#[test]
fn inline_send_storm_neither_grows_the_stack_nor_holds_its_thread() {
    for_each_flavour(|| {
        let client = register();
        let (near, mut far) = pair(&client);
        let finishes = Finishes::default();
        let handler = Sender {
            left: AtomicUsize::new(STORM),
            on_starter: OnStarter::default(),
            finishes: finishes.clone(),
        };
        let sends = provider::calls(Op::Send);
        // Every send completes during the WskSend call.
        let task = on_small_stack(move || ConnectionTask::start(near, 16, handler).unwrap());
        assert_eq!(finishes.assert_once_at_passive(FINISH), None);
        assert_eq!(task.handler().left.load(Ordering::Relaxed), 0);
        assert_eq!(
            task.handler().on_starter.calls(),
            INLINE_RUN as usize,
            "sends completed on the thread that started the task"
        );
        assert_eq!(provider::calls(Op::Send) - sends, STORM as u64);
        assert!(
            fake::max_completion_depth() <= 2,
            "nesting {}",
            fake::max_completion_depth()
        );
        // The bytes arrived in order, then the end of the stream.
        let mut got = Vec::new();
        let mut buf = vec![0u8; 8192];
        loop {
            let n = far.receive(&mut buf, QUICK).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got.len(), STORM);
        assert!(got.iter().enumerate().all(|(i, b)| *b == i as u8));
        drop((task, far));
        assert!(client.shutdown(QUICK));
    });
}

/// The same for receives of data already queued, one byte each.
#[test]
fn inline_receive_storm_neither_grows_the_stack_nor_holds_its_thread() {
    for_each_flavour(|| {
        let client = register();
        let (near, mut far) = pair(&client);
        let data: Vec<u8> = (0..STORM).map(|i| (i % 253) as u8).collect();
        far.send_all(&data, QUICK).unwrap();
        far.disconnect(Disconnect::Graceful(b""), QUICK).unwrap();
        let handler = Receiver::default();
        let finishes = handler.finishes.clone();
        // A one-byte buffer: one inline completion per byte.
        let task = on_small_stack(move || ConnectionTask::start(near, 1, handler).unwrap());
        assert_eq!(finishes.assert_once_at_passive(FINISH), None);
        let s = task.handler();
        assert_eq!(s.count.load(Ordering::Relaxed), STORM);
        assert_eq!(
            s.sum.load(Ordering::Relaxed),
            data.iter().map(|b| u64::from(*b)).sum::<u64>()
        );
        assert_eq!(
            s.on_starter.calls(),
            INLINE_RUN as usize,
            "receives completed on the thread that started the task"
        );
        assert!(
            fake::max_completion_depth() <= 2,
            "nesting {}",
            fake::max_completion_depth()
        );
        drop((task, far));
        assert!(client.shutdown(QUICK));
    });
}

#[test]
fn echo_task_completed_from_other_threads() {
    for later in [false, true] {
        let kernel = fake::Kernel::start();
        if later {
            // Every send (the task's and the test's) completes on a timer thread.
            provider::set_default(Op::Send, Behavior::Later(Duration::from_millis(1)));
        }
        let client = register();
        let (mut near, far) = pair(&client);
        let echo = ConnectionTask::start(far, 512, Echo::default()).unwrap();
        let mut buf = vec![0u8; 4096];
        for round in 0..200usize {
            let len = 1 + (round * 37) % 1500;
            let msg: Vec<u8> = (0..len).map(|i| (i + round) as u8).collect();
            near.send_all(&msg, QUICK).unwrap();
            let mut got = Vec::new();
            while got.len() < len {
                let n = near.receive(&mut buf, QUICK).unwrap();
                assert!(n > 0, "round {round}");
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(got, msg, "round {round}");
        }
        assert!(
            fake::max_completion_depth() <= 2,
            "nesting {}",
            fake::max_completion_depth()
        );
        drop(near);
        assert_eq!(echo.handler().finishes.assert_once_at_passive(FINISH), None);
        drop(echo);
        assert!(client.shutdown(QUICK));
        kernel.assert_clean();
    }
}

#[test]
fn stop_while_a_receive_is_pending_completes_it_cancelled_and_finishes_once_at_passive() {
    for_each_flavour(|| {
        let client = register();
        let (mut near, far) = pair(&client);
        let task = ConnectionTask::start(far, 64, Echo::default()).unwrap();
        assert_eq!(fake::counts().irps_in_provider, 1, "the receive is pending");
        let closes = provider::calls(Op::Close);
        task.stop();
        // The pending receive completed (cancelled, by the close); no error is reported for it.
        assert_eq!(task.handler().finishes.assert_once_at_passive(FINISH), None);
        assert_eq!(provider::calls(Op::Close), closes + 1);
        assert_eq!(fake::counts().irps_in_provider, 0);
        // Aborting again does nothing.
        task.stop();
        assert_eq!(task.handler().finishes.wait(Duration::ZERO).len(), 1);
        assert_eq!(
            near.receive(&mut [0u8; 4], QUICK),
            Ok(0),
            "the peer saw the close"
        );
        drop((near, task));
        assert!(client.shutdown(QUICK));
    });
}

#[test]
fn a_reset_connection_finishes_with_the_error() {
    let kernel = fake::Kernel::start();
    let client = register();
    let (mut near, far) = pair(&client);
    let task = ConnectionTask::start(far, 64, Echo::default()).unwrap();
    near.disconnect(Disconnect::Abortive, QUICK).unwrap();
    assert_eq!(
        task.handler().finishes.assert_once_at_passive(FINISH),
        Some(Error::new(NtStatus::CONNECTION_RESET))
    );
    drop((near, task));
    assert!(client.shutdown(QUICK));
    kernel.assert_clean();
}

#[test]
fn stop_races_with_completions_and_other_stops() {
    let kernel = fake::Kernel::start();
    let client = register();
    for round in 0..40 {
        if round % 2 == 1 {
            provider::set_default(Op::Send, Behavior::Later(Duration::from_millis(1)));
        } else {
            provider::set_default(Op::Send, Behavior::Normal);
        }
        let (mut near, far) = pair(&client);
        let task = ConnectionTask::start(far, 64, Echo::default()).unwrap();
        let stop = |task: ConnectionTask<Echo>, delay: u64| {
            thread::spawn(move || {
                thread::sleep(Duration::from_micros(delay));
                task.stop();
            })
        };
        let stops = [
            stop(task.clone(), 200),
            stop(task.clone(), 250),
            stop(task.clone(), 300),
        ];
        let traffic = thread::spawn(move || {
            for _ in 0..50 {
                if near.send(b"data", QUICK).is_err() {
                    break;
                }
                let _ = near.receive(&mut [0u8; 16], Duration::from_millis(20));
            }
        });
        for t in stops {
            t.join().unwrap();
        }
        traffic.join().unwrap();
        let all = task.handler().finishes.wait(FINISH);
        assert_eq!(all.len(), 1, "round {round}: finished once: {all:?}");
        assert!(
            all[0].work_item && !all[0].in_completion && all[0].irql == fake::PASSIVE_LEVEL,
            "round {round}: {all:?}"
        );
    }
    provider::set_default(Op::Send, Behavior::Normal);
    assert!(client.shutdown(QUICK));
    kernel.assert_clean();
}

/// Starts an echo task for every accepted connection.
#[derive(Default)]
struct Server {
    tasks: Mutex<Vec<ConnectionTask<Echo>>>,
    remotes: Mutex<Vec<Option<SocketAddr>>>,
    finishes: Finishes,
}

impl ListenHandler for Server {
    fn accepted(&self, connection: AcceptedConnection, remote: Option<SocketAddr>) -> bool {
        assert!(fake::current_irql() <= fake::DISPATCH_LEVEL);
        self.remotes.lock().unwrap().push(remote);
        let task = ConnectionTask::start(connection, 256, Echo::default()).unwrap();
        self.tasks.lock().unwrap().push(task);
        true
    }
    fn finished(&self, error: Option<Error>) {
        self.finishes.record(error);
    }
}

#[test]
fn listen_task_hands_connections_to_echo_tasks_then_stops() {
    for_each_flavour(|| {
        let client = register();
        let (l, addr) = listener(&client);
        let listen_task = ListenTask::start(l, Server::default()).unwrap();
        let mut clients = Vec::new();
        for i in 0..20u8 {
            let mut c = ConnectionSocket::connect(&client, addr, None, QUICK).unwrap();
            c.send_all(&[i; 10], QUICK).unwrap();
            let mut buf = [0u8; 10];
            let mut got = 0;
            while got < 10 {
                got += c.receive(&mut buf[got..], QUICK).unwrap();
            }
            assert_eq!(buf, [i; 10]);
            let local = c.local_addr().unwrap();
            assert_eq!(
                listen_task.handler().remotes.lock().unwrap()[usize::from(i)],
                Some(local)
            );
            clients.push(c);
        }
        listen_task.stop();
        assert_eq!(
            listen_task
                .handler()
                .finishes
                .assert_once_at_passive(FINISH),
            None
        );
        assert_eq!(
            ConnectionSocket::connect(&client, addr, None, QUICK).err(),
            Some(Error::new(NtStatus::CONNECTION_REFUSED))
        );
        drop(clients);
        for task in listen_task.handler().tasks.lock().unwrap().iter() {
            assert_eq!(task.handler().finishes.assert_once_at_passive(FINISH), None);
        }
        drop(listen_task);
        assert!(client.shutdown(QUICK));
    });
}

/// Drops every accepted connection inside the handler, where it runs (IRQL <= DISPATCH_LEVEL).
#[derive(Default)]
struct Dropper {
    accepted: AtomicUsize,
    finishes: Finishes,
}

impl ListenHandler for Dropper {
    fn accepted(&self, connection: AcceptedConnection, _: Option<SocketAddr>) -> bool {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        // No blocking close here: the connection closes on a worker thread.
        drop(connection);
        true
    }
    fn finished(&self, error: Option<Error>) {
        self.finishes.record(error);
    }
}

#[test]
fn an_accepted_connection_dropped_in_the_handler_closes_without_blocking() {
    for_each_flavour(|| {
        let client = register();
        let (l, addr) = listener(&client);
        let task = ListenTask::start(l, Dropper::default()).unwrap();
        let closes = provider::calls(Op::Close);
        let mut near = ConnectionSocket::connect(&client, addr, None, QUICK).unwrap();
        // The far side was closed: the peer reads the end of the stream.
        let mut buf = [0u8; 4];
        assert_eq!(near.receive(&mut buf, QUICK), Ok(0));
        assert_eq!(task.handler().accepted.load(Ordering::Relaxed), 1);
        assert!(fake::wait_for_work_items(QUICK));
        assert_eq!(provider::calls(Op::Close), closes + 1);
        task.stop();
        assert_eq!(task.handler().finishes.assert_once_at_passive(FINISH), None);
        drop((near, task));
        assert!(client.shutdown(QUICK));
    });
}

/// Sends every datagram back to its sender.
#[derive(Default)]
struct DatagramEcho {
    received: AtomicUsize,
    finishes: Finishes,
}

impl DatagramHandler for DatagramEcho {
    fn received(&self, _: &mut [u8], len: usize, from: Option<SocketAddr>) -> DatagramStep {
        self.received.fetch_add(1, Ordering::Relaxed);
        DatagramStep::SendTo(len, from.expect("sender address"))
    }
    fn sent(&self, _: &mut [u8], _: usize) -> DatagramStep {
        DatagramStep::Receive
    }
    fn finished(&self, error: Option<Error>) {
        self.finishes.record(error);
    }
}

#[test]
fn datagram_task_echoes_a_queued_storm_inline_on_a_small_stack() {
    const DATAGRAMS: usize = 5_000;
    for_each_flavour(|| {
        let client = register();
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let mut peer = DatagramSocket::bind(&client, any, QUICK).unwrap();
        let mut server = DatagramSocket::bind(&client, any, QUICK).unwrap();
        let server_addr = server.local_addr().unwrap();
        for i in 0..DATAGRAMS {
            peer.send_to(&(i as u32).to_le_bytes(), server_addr, QUICK)
                .unwrap();
        }
        let handler = DatagramEcho::default();
        let finishes = handler.finishes.clone();
        // Every queued datagram is received and echoed inline: the first ones inside start(),
        // the rest on worker threads.
        let task = on_small_stack(move || DatagramTask::start(server, 64, handler).unwrap());
        let mut buf = [0u8; 16];
        for i in 0..DATAGRAMS {
            let (n, from) = peer.receive_from(&mut buf, QUICK).unwrap();
            assert_eq!(
                (&buf[..n], from),
                (&(i as u32).to_le_bytes()[..], Some(server_addr))
            );
        }
        assert_eq!(task.handler().received.load(Ordering::Relaxed), DATAGRAMS);
        assert!(
            fake::max_completion_depth() <= 2,
            "nesting {}",
            fake::max_completion_depth()
        );
        task.stop();
        assert_eq!(finishes.assert_once_at_passive(FINISH), None);
        drop((task, peer));
        assert!(client.shutdown(QUICK));
    });
}

/// `ConnectionTask::start` when the pool runs out for the task object itself: the socket must be
/// closed (on a worker thread), not leaked, and the client must not be released with it open.
#[test]
fn start_without_memory_closes_the_socket() {
    let kernel = fake::Kernel::start();
    let client = register();
    let (near, far) = pair(&client);
    // The task's buffer is the first pool allocation of start(), the task object the second.
    fake::ntoskrnl::fail_pool_allocations(1, 1);
    let result = ConnectionTask::start(far, 64, Echo::default());
    assert_eq!(result.err(), Some(Error::NO_MEMORY));
    drop(near);
    assert!(client.shutdown(QUICK), "every socket closed");
    kernel.assert_clean();
}
