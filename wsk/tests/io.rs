//! `wsk::io` (MdlBuffer, IoSlot) against the fake kernel and provider: pending and inline
//! completions, a busy slot, cancellation by generation (cancelled vs timed out), synchronous
//! refusals, buffer bounds, and the slot's memory outliving its handles.

// Test data are byte patterns that wrap on purpose; the small helpers below take `Started` by
// value and build expected results, which reads best as they are.
#![allow(
    clippy::cast_possible_truncation,
    clippy::needless_pass_by_value,
    clippy::unnecessary_wraps
)]

mod common;

use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{pair, register, QUICK};
use fake::provider::{self, Behavior, Config, Op};
use wsk::io::{CancelReason, IoHandler, IoSlot, MdlBuffer, Started, Transferred};
use wsk::{ConnectionSocket, DatagramSocket, Error, NtStatus};
use wsk_bindings as sys;
use wskrs_fake_kernel as fake;

/// How long a completion may take to show up (real time).
const SHOW_UP: Duration = Duration::from_secs(5);

fn for_each_flavour(f: impl Fn(Config)) {
    for config in Config::ALL {
        let kernel = fake::Kernel::start();
        provider::configure(config);
        f(config);
        kernel.assert_clean();
    }
}

/// Caller memory described by a chain of MDLs (what a direct-I/O IRP's `MdlAddress` is).
struct Chain {
    parts: Vec<Box<[u8]>>,
    mdls: Vec<NonNull<sys::MDL>>,
}

// SAFETY: the MDLs and buffers are owned by the chain and used by one test at a time.
unsafe impl Send for Chain {}
// SAFETY: as above.
unsafe impl Sync for Chain {}

impl Chain {
    /// One MDL per length, linked in order; each over its own zeroed buffer.
    fn new(lengths: &[usize]) -> Self {
        let mut parts: Vec<Box<[u8]>> = lengths
            .iter()
            .map(|n| vec![0u8; *n].into_boxed_slice())
            .collect();
        let mut mdls = Vec::new();
        for part in &mut parts {
            let len = u32::try_from(part.len()).unwrap();
            // SAFETY: the buffer outlives the MDL (both owned by the chain, MDLs freed first).
            let mdl = unsafe {
                sys::IoAllocateMdl(part.as_mut_ptr().cast(), len, 0, 0, std::ptr::null_mut())
            };
            let mdl = NonNull::new(mdl).expect("IoAllocateMdl");
            // SAFETY: a fresh MDL over heap memory (which the fake treats as nonpaged).
            unsafe { sys::MmBuildMdlForNonPagedPool(mdl.as_ptr()) };
            mdls.push(mdl);
        }
        for pair in mdls.windows(2) {
            // SAFETY: both MDLs are live and ours.
            unsafe { (*pair[0].as_ptr()).Next = pair[1].as_ptr() };
        }
        Self { parts, mdls }
    }

    fn buffer(&self) -> Result<MdlBuffer, Error> {
        // SAFETY: the chain is valid and outlives every request of the test (tests wait for
        // completion before dropping it).
        unsafe { MdlBuffer::from_raw(self.mdls[0]) }
    }

    fn part(&self, i: usize) -> &[u8] {
        &self.parts[i]
    }
}

impl Drop for Chain {
    fn drop(&mut self) {
        for mdl in &self.mdls {
            // SAFETY: allocated in `new`, freed once.
            unsafe { sys::IoFreeMdl(mdl.as_ptr()) };
        }
    }
}

/// One `completed` call: the context, the result, and where it ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Completion {
    context: u32,
    result: Result<Transferred, Error>,
    irql: u8,
    inside_routine: bool,
}

/// Records every completion (shared with the test, so it outlives the slot).
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Completion>>>);

impl Recorder {
    fn all(&self) -> Vec<Completion> {
        self.0.lock().unwrap().clone()
    }

    /// Waits (real time) for at least `n` completions; returns all after a short grace that
    /// lets a wrong extra one show up.
    fn wait_for(&self, n: usize) -> Vec<Completion> {
        let deadline = Instant::now() + SHOW_UP;
        while self.all().len() < n && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(1));
        }
        thread::sleep(Duration::from_millis(20));
        self.all()
    }
}

impl Recorder {
    /// The completions after a short pause (for asserting that none comes).
    fn after_a_pause(&self) -> Vec<Completion> {
        thread::sleep(Duration::from_millis(50));
        self.all()
    }
}

impl IoHandler for Recorder {
    type Context = u32;

    fn completed(&self, context: u32, result: wsk::Result<Transferred>) {
        let c = Completion {
            context,
            result,
            irql: fake::current_irql(),
            inside_routine: fake::in_completion_routine(),
        };
        self.0.lock().unwrap().push(c);
    }
}

/// The socket back from handlers that held it, once the last completion let go of its slot.
fn reclaim(socket: Arc<ConnectionSocket>) -> ConnectionSocket {
    let deadline = Instant::now() + SHOW_UP;
    while Arc::strong_count(&socket) > 1 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
    Arc::into_inner(socket).expect("the slot released its socket handle")
}

fn done<C: std::fmt::Debug>(started: Started<C>) -> (C, wsk::Result<Transferred>) {
    match started {
        Started::Done(context, result) => (context, result),
        Started::Pending { generation } => {
            panic!("expected Done, got Pending {{ generation: {generation} }}")
        }
    }
}

fn pending<C>(started: Started<C>) -> u32 {
    match started {
        Started::Pending { generation } => generation,
        Started::Done(_, result) => panic!("expected Pending, got Done(_, {result:?})"),
    }
}

fn received(bytes: usize) -> wsk::Result<Transferred> {
    Ok(Transferred {
        bytes,
        remote: None,
    })
}

fn error(status: NtStatus) -> wsk::Result<Transferred> {
    Err(Error::new(status))
}

#[test]
fn a_pending_receive_completes_through_the_handler_with_the_bytes() {
    for_each_flavour(|_| {
        let client = register();
        let (near, mut far) = pair(&client);
        let chain = Chain::new(&[64]);
        let buffer = chain.buffer().unwrap();
        let recorder = Recorder::default();
        let slot = IoSlot::new(recorder.clone()).unwrap();

        let generation = pending(slot.receive(&near, &buffer, 64, 0, 7));
        assert!(slot.is_busy());
        assert!(
            recorder.all().is_empty(),
            "no completion before data arrives"
        );

        far.send_all(b"hello, slot", QUICK).unwrap();
        let all = recorder.wait_for(1);
        assert_eq!(all.len(), 1, "{all:?}");
        assert_eq!(all[0].context, 7);
        assert_eq!(all[0].result, received(11));
        assert_eq!(
            all[0].irql,
            fake::DISPATCH_LEVEL,
            "completion at DISPATCH_LEVEL"
        );
        assert!(all[0].inside_routine);
        assert_eq!(&chain.part(0)[..11], b"hello, slot");
        assert!(!slot.is_busy());

        // The slot is reusable, with a new generation.
        let next = pending(slot.receive(&near, &buffer, 64, 0, 8));
        assert_ne!(next, generation);
        far.send_all(b"again", QUICK).unwrap();
        let all = recorder.wait_for(2);
        assert_eq!(all.len(), 2, "{all:?}");
        assert_eq!((all[1].context, all[1].result), (8, received(5)));
        assert_eq!(&chain.part(0)[..5], b"again");

        drop(slot);
        drop((near, far));
        assert!(client.shutdown(QUICK));
    });
}

#[test]
fn an_inline_completion_is_returned_as_done_and_never_calls_the_handler() {
    for_each_flavour(|_| {
        let client = register();
        let (near, mut far) = pair(&client);
        let chain = Chain::new(&[16]);
        let buffer = chain.buffer().unwrap();
        let recorder = Recorder::default();
        let slot = IoSlot::new(recorder.clone()).unwrap();

        far.send_all(b"ready", QUICK).unwrap();
        let (context, result) = done(slot.receive(&near, &buffer, 16, 0, 3));
        assert_eq!((context, result), (3, received(5)));
        assert_eq!(&chain.part(0)[..5], b"ready");
        assert!(!slot.is_busy());

        // A send completes inline too (the peer's window has room).
        chain.buffer().unwrap().write_at(0, b"pong").unwrap();
        let (context, result) = done(slot.send(&near, &buffer, 4, 0, 4));
        assert_eq!(
            (context, result),
            (
                4,
                Ok(Transferred {
                    bytes: 4,
                    remote: None
                })
            )
        );
        let mut got = [0u8; 4];
        assert_eq!(far.receive(&mut got, QUICK), Ok(4));
        assert_eq!(&got, b"pong");

        assert!(
            recorder.after_a_pause().is_empty(),
            "the handler never ran: {:?}",
            recorder.all()
        );
        drop(slot);
        drop((near, far));
        assert!(client.shutdown(QUICK));
    });
}

/// Restarts a one-byte receive from its own completion until `left` bytes were received;
/// inline completions come back as `Done` and are looped over, never nested.
struct Restarter {
    socket: Arc<ConnectionSocket>,
    chain: Arc<Chain>,
    left: AtomicUsize,
    sum: AtomicUsize,
    restarts: AtomicUsize,
}

impl IoHandler for Restarter {
    type Context = IoSlot<Restarter>;

    fn completed(&self, slot: IoSlot<Restarter>, mut result: wsk::Result<Transferred>) {
        let buffer = self.chain.buffer().unwrap();
        loop {
            let Ok(t) = result else { return };
            assert_eq!(t.bytes, 1);
            self.sum
                .fetch_add(usize::from(self.chain.part(0)[0]), Ordering::Relaxed);
            if self.left.fetch_sub(1, Ordering::Relaxed) == 1 {
                return;
            }
            self.restarts.fetch_add(1, Ordering::Relaxed);
            match slot.receive(&self.socket, &buffer, 1, 0, slot.clone()) {
                Started::Pending { .. } => return,
                Started::Done(_, r) => result = r,
            }
        }
    }
}

#[test]
fn a_handler_that_restarts_on_inline_completions_does_not_recurse() {
    const BYTES: usize = 5_000;
    for_each_flavour(|_| {
        let client = register();
        let (near, mut far) = pair(&client);
        let socket = Arc::new(near);
        let chain = Arc::new(Chain::new(&[1]));
        let handler = Restarter {
            socket: socket.clone(),
            chain: chain.clone(),
            left: AtomicUsize::new(BYTES),
            sum: AtomicUsize::new(0),
            restarts: AtomicUsize::new(0),
        };
        let slot = IoSlot::new(handler).unwrap();
        let buffer = chain.buffer().unwrap();
        let _ = pending(slot.receive(&socket, &buffer, 1, 0, slot.clone()));
        // One send: the first receive completes from the provider, every restart inline.
        let data: Vec<u8> = (0..BYTES).map(|i| (i % 251) as u8).collect();
        far.send_all(&data, QUICK).unwrap();
        let deadline = Instant::now() + SHOW_UP;
        while slot.handler().left.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(slot.handler().left.load(Ordering::Relaxed), 0);
        assert_eq!(slot.handler().restarts.load(Ordering::Relaxed), BYTES - 1);
        assert_eq!(
            slot.handler().sum.load(Ordering::Relaxed),
            data.iter().map(|b| usize::from(*b)).sum::<usize>()
        );
        // One level for the provider's completion, one for the first inline restart: flat.
        assert!(
            fake::max_completion_depth() <= 2,
            "completion nesting {}",
            fake::max_completion_depth()
        );
        drop(slot);
        drop(far);
        drop(reclaim(socket));
        assert!(client.shutdown(QUICK));
    });
}

#[test]
fn a_busy_slot_refuses_a_second_request_without_touching_the_first() {
    for_each_flavour(|_| {
        let client = register();
        let (near, mut far) = pair(&client);
        let chain = Chain::new(&[32]);
        let other = Chain::new(&[32]);
        let buffer = chain.buffer().unwrap();
        let recorder = Recorder::default();
        let slot = IoSlot::new(recorder.clone()).unwrap();

        let generation = pending(slot.receive(&near, &buffer, 32, 0, 1));
        let receives = provider::calls(Op::Receive);
        let sends = provider::calls(Op::Send);
        let cancels = fake::counts().cancel_calls;
        let (context, result) = done(slot.receive(&near, &other.buffer().unwrap(), 32, 0, 2));
        assert_eq!((context, result), (2, error(NtStatus::DEVICE_BUSY)));
        let (context, result) = done(slot.send(&near, &other.buffer().unwrap(), 4, 0, 3));
        assert_eq!((context, result), (3, error(NtStatus::DEVICE_BUSY)));
        assert_eq!(
            provider::calls(Op::Receive),
            receives,
            "the refused start never reached the provider"
        );
        assert_eq!(provider::calls(Op::Send), sends);
        assert_eq!(
            fake::counts().cancel_calls,
            cancels,
            "the request in flight was not cancelled"
        );
        assert!(slot.is_busy());

        far.send_all(b"first", QUICK).unwrap();
        let all = recorder.wait_for(1);
        assert_eq!(all.len(), 1, "{all:?}");
        assert_eq!((all[0].context, all[0].result), (1, received(5)));
        assert_eq!(&chain.part(0)[..5], b"first");
        assert!(
            other.part(0).iter().all(|b| *b == 0),
            "the refused buffer was not used"
        );
        // Cancelling the finished request now does nothing.
        slot.cancel(generation, CancelReason::Cancelled);
        assert_eq!(fake::counts().cancel_calls, cancels);

        drop(slot);
        drop((near, far));
        assert!(client.shutdown(QUICK));
    });
}

#[test]
fn cancelling_the_current_generation_completes_it_as_cancelled_or_timed_out() {
    for (reason, status) in [
        (CancelReason::Cancelled, NtStatus::CANCELLED),
        (CancelReason::TimedOut, NtStatus::IO_TIMEOUT),
    ] {
        // Windows: IoCancelIrp completes the request at once.
        let kernel = fake::Kernel::start();
        provider::configure(Config::WINDOWS);
        let client = register();
        let (near, far) = pair(&client);
        let chain = Chain::new(&[8]);
        let buffer = chain.buffer().unwrap();
        let recorder = Recorder::default();
        let slot = IoSlot::new(recorder.clone()).unwrap();
        let generation = pending(slot.receive(&near, &buffer, 8, 0, 9));
        slot.cancel(generation, reason);
        let all = recorder.wait_for(1);
        assert_eq!(all.len(), 1, "{all:?}");
        assert_eq!(
            (all[0].context, all[0].result),
            (9, error(status)),
            "{reason:?}"
        );
        assert!(!slot.is_busy());
        drop(slot);
        drop((near, far, buffer, chain));
        assert!(client.shutdown(QUICK));
        kernel.assert_clean();
        drop(kernel);

        // Wine: cancellation is ignored; the request completes when the socket closes, and
        // the reason still decides the error.
        let kernel = fake::Kernel::start();
        provider::configure(Config::WINE);
        let client = register();
        let (near, far) = pair(&client);
        let chain = Chain::new(&[8]);
        let buffer = chain.buffer().unwrap();
        let recorder = Recorder::default();
        let slot = IoSlot::new(recorder.clone()).unwrap();
        let generation = pending(slot.receive(&near, &buffer, 8, 0, 10));
        slot.cancel(generation, reason);
        assert!(
            recorder.after_a_pause().is_empty(),
            "Wine's netio ignores IoCancelIrp"
        );
        assert!(slot.is_busy());
        drop(near);
        let all = recorder.wait_for(1);
        assert_eq!(all.len(), 1, "{all:?}");
        assert_eq!(
            (all[0].context, all[0].result),
            (10, error(status)),
            "{reason:?}"
        );
        drop(slot);
        drop((far, buffer, chain));
        assert!(client.shutdown(QUICK));
        kernel.assert_clean();
    }
}

#[test]
fn a_stale_generation_does_not_cancel_the_next_request() {
    let kernel = fake::Kernel::start();
    provider::configure(Config::WINDOWS);
    let client = register();
    let (near, mut far) = pair(&client);
    let chain = Chain::new(&[8]);
    let buffer = chain.buffer().unwrap();
    let recorder = Recorder::default();
    let slot = IoSlot::new(recorder.clone()).unwrap();

    let first = pending(slot.receive(&near, &buffer, 8, 0, 1));
    slot.cancel(first, CancelReason::TimedOut);
    assert_eq!(recorder.wait_for(1).len(), 1);
    let second = pending(slot.receive(&near, &buffer, 8, 0, 2));
    assert_ne!(first, second);
    let cancels = fake::counts().cancel_calls;
    slot.cancel(first, CancelReason::Cancelled);
    slot.cancel(first, CancelReason::TimedOut);
    assert_eq!(
        fake::counts().cancel_calls,
        cancels,
        "no IoCancelIrp for a stale generation"
    );
    assert!(slot.is_busy());
    assert_eq!(
        provider::waiting_requests(),
        1,
        "the second request still waits in the provider"
    );

    far.send_all(b"late", QUICK).unwrap();
    let all = recorder.wait_for(2);
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(
        (all[0].context, all[0].result),
        (1, error(NtStatus::IO_TIMEOUT))
    );
    assert_eq!(
        (all[1].context, all[1].result),
        (2, received(4)),
        "the next request was not cancelled"
    );
    drop(slot);
    drop((near, far, buffer, chain));
    assert!(client.shutdown(QUICK));
    kernel.assert_clean();
}

#[test]
fn a_synchronous_refusal_is_done_with_the_providers_status() {
    for_each_flavour(|_| {
        let client = register();
        let (near, mut far) = pair(&client);
        let chain = Chain::new(&[8]);
        let buffer = chain.buffer().unwrap();
        let recorder = Recorder::default();
        let slot = IoSlot::new(recorder.clone()).unwrap();

        // Refused without completing the IRP (Wine's stubs).
        provider::script(Op::Receive, [Behavior::FailSync(NtStatus::NOT_IMPLEMENTED)]);
        let (context, result) = done(slot.receive(&near, &buffer, 8, 0, 1));
        assert_eq!((context, result), (1, error(NtStatus::NOT_IMPLEMENTED)));
        assert!(!slot.is_busy());
        // Failed by completing the IRP inline.
        provider::script(Op::Send, [Behavior::Fail(NtStatus::CONNECTION_RESET)]);
        let (context, result) = done(slot.send(&near, &buffer, 8, 0, 2));
        assert_eq!((context, result), (2, error(NtStatus::CONNECTION_RESET)));

        // The IRP is reusable afterwards.
        far.send_all(b"ok", QUICK).unwrap();
        let (context, result) = done(slot.receive(&near, &buffer, 8, 0, 3));
        assert_eq!((context, result), (3, received(2)));
        assert!(
            recorder.after_a_pause().is_empty(),
            "the handler never ran: {:?}",
            recorder.all()
        );
        drop(slot);
        drop((near, far));
        assert!(client.shutdown(QUICK));
    });
}

#[test]
fn mdl_buffer_rejects_empty_and_over_long_chains() {
    let kernel = fake::Kernel::start();
    assert_eq!(
        Chain::new(&[0]).buffer().err(),
        Some(Error::new(NtStatus::INVALID_PARAMETER))
    );
    assert_eq!(
        Chain::new(&[0, 0, 0]).buffer().err(),
        Some(Error::new(NtStatus::INVALID_PARAMETER))
    );
    let longest = Chain::new(&[1; 1024]);
    assert_eq!(longest.buffer().map(|b| b.len()), Ok(1024));
    let too_long = Chain::new(&[1; 1025]);
    assert_eq!(
        too_long.buffer().err(),
        Some(Error::new(NtStatus::INVALID_PARAMETER))
    );
    let chain = Chain::new(&[0, 3, 4]);
    assert_eq!(chain.buffer().map(|b| b.len()), Ok(7));
    drop((longest, too_long, chain));
    kernel.assert_clean();
}

#[test]
fn a_range_past_the_chain_is_refused_before_the_provider() {
    for_each_flavour(|_| {
        let client = register();
        let (near, far) = pair(&client);
        let udp = DatagramSocket::bind(&client, "127.0.0.1:0".parse().unwrap(), QUICK).unwrap();
        let chain = Chain::new(&[16, 16]);
        let buffer = chain.buffer().unwrap();
        assert_eq!(buffer.len(), 32);
        let recorder = Recorder::default();
        let slot = IoSlot::new(recorder.clone()).unwrap();
        let calls = || {
            (
                provider::calls(Op::Receive),
                provider::calls(Op::Send),
                provider::calls(Op::ReceiveFrom),
            )
        };
        let before = calls();
        let invalid = error(NtStatus::INVALID_PARAMETER);

        assert_eq!(done(slot.receive(&near, &buffer, 33, 0, 1)), (1, invalid));
        assert_eq!(
            done(slot.send(&near, &buffer, usize::MAX, 0, 2)),
            (2, invalid)
        );
        // Offset + length past the end, and an offset outside the first MDL (WSK applies it there).
        assert_eq!(
            done(slot.receive_from(&udp, &buffer, 8, 25, 3)),
            (3, invalid)
        );
        assert_eq!(
            done(slot.receive_from(&udp, &buffer, 16, 1, 4)),
            (4, invalid)
        );
        assert_eq!(
            done(slot.receive_from(&udp, &buffer, usize::MAX, 2, 5)),
            (5, invalid)
        );
        assert_eq!(calls(), before, "no refused range reached the provider");
        assert!(!slot.is_busy());
        assert!(recorder.after_a_pause().is_empty());
        drop(slot);
        drop((near, far, udp));
        assert!(client.shutdown(QUICK));
    });
}

#[test]
fn write_at_stays_inside_the_first_mdl() {
    let kernel = fake::Kernel::start();
    let chain = Chain::new(&[8, 8]);
    let buffer = chain.buffer().unwrap();
    let too_small = Err(Error::new(NtStatus::BUFFER_TOO_SMALL));
    assert_eq!(buffer.write_at(0, b"head"), Ok(()));
    assert_eq!(
        buffer.write_at(4, b"tail"),
        Ok(()),
        "exactly to the end of the first MDL"
    );
    assert_eq!(chain.part(0), b"headtail");
    assert_eq!(
        buffer.write_at(5, b"over"),
        too_small,
        "one byte into the second MDL"
    );
    assert_eq!(buffer.write_at(8, b"x"), too_small);
    assert_eq!(
        buffer.write_at(usize::MAX, b"x"),
        too_small,
        "offset + length overflows"
    );
    assert_eq!(buffer.write_at(8, b""), Ok(()), "an empty write at the end");
    assert_eq!(chain.part(0), b"headtail");
    assert!(
        chain.part(1).iter().all(|b| *b == 0),
        "the second MDL is untouched"
    );
    drop((buffer, chain));
    kernel.assert_clean();
}

#[test]
fn datagrams_go_out_and_come_back_with_the_sender() {
    // Wine's netio has no datagram sockets; the fake's WINDOWS flavour stands for the project's provider.
    let kernel = fake::Kernel::start();
    let client = register();
    let mut a = DatagramSocket::bind(&client, "127.0.0.1:0".parse().unwrap(), QUICK).unwrap();
    let mut b = DatagramSocket::bind(&client, "127.0.0.1:0".parse().unwrap(), QUICK).unwrap();
    let (a_at, b_at) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let rx_chain = Chain::new(&[32]);
    let rx_buffer = rx_chain.buffer().unwrap();
    let tx_chain = Chain::new(&[5]);
    let tx_buffer = tx_chain.buffer().unwrap();
    tx_buffer.write_at(0, b"dgram").unwrap();
    let recorder = Recorder::default();
    let rx = IoSlot::new(recorder.clone()).unwrap();
    let tx = IoSlot::new(recorder.clone()).unwrap();

    // Receive into bytes 4.. of the buffer (room for a header in front).
    let _ = pending(rx.receive_from(&b, &rx_buffer, 4, 28, 1));
    let (context, result) = done(tx.send_to(&a, &tx_buffer, 5, b_at, 2));
    assert_eq!((context, result.map(|t| t.bytes)), (2, Ok(5)));
    let all = recorder.wait_for(1);
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(
        (all[0].context, all[0].result),
        (
            1,
            Ok(Transferred {
                bytes: 5,
                remote: Some(a_at)
            })
        )
    );
    assert_eq!(&rx_chain.part(0)[..9], b"\0\0\0\0dgram");
    drop((rx, tx));
    drop((a, b, rx_buffer, rx_chain, tx_buffer, tx_chain));
    assert!(client.shutdown(QUICK));
    kernel.assert_clean();
}

#[test]
fn the_slot_outlives_its_dropped_handles_while_a_request_is_pending() {
    for_each_flavour(|config| {
        let client = register();
        let (near, mut far) = pair(&client);
        let chain = Chain::new(&[16]);
        let buffer = chain.buffer().unwrap();
        let recorder = Recorder::default();
        let slot = IoSlot::new(recorder.clone()).unwrap();
        let copy = slot.clone();
        let _ = pending(slot.receive(&near, &buffer, 16, 0, 5));
        let pool = fake::counts().pool_live;
        drop(slot);
        drop(copy);
        assert_eq!(
            fake::counts().pool_live,
            pool,
            "the pending request keeps the slot"
        );
        assert_eq!(fake::counts().irps_in_provider, 1);

        if config == Config::WINDOWS {
            far.send_all(b"after drop", QUICK).unwrap();
            let all = recorder.wait_for(1);
            assert_eq!(all.len(), 1, "{all:?}");
            assert_eq!((all[0].context, all[0].result), (5, received(10)));
            assert_eq!(&chain.part(0)[..10], b"after drop");
            drop(near);
        } else {
            // Closing the socket completes the orphaned request.
            drop(near);
            let all = recorder.wait_for(1);
            assert_eq!(all.len(), 1, "{all:?}");
            assert_eq!(
                (all[0].context, all[0].result),
                (5, error(NtStatus::CANCELLED))
            );
        }
        // The completion freed the slot (and its IRP) without touching freed memory
        // (Kernel::assert_clean checks the pool and the violations).
        drop(far);
        assert!(client.shutdown(QUICK));
    });
}

/// After a cancellation, starts the next request from the completion (a driver's queue of
/// user requests on one slot does that).
struct Requeue {
    socket: Arc<ConnectionSocket>,
    chain: Arc<Chain>,
    results: Recorder,
}

impl IoHandler for Requeue {
    type Context = (u32, IoSlot<Requeue>);

    fn completed(&self, (context, slot): (u32, IoSlot<Requeue>), result: wsk::Result<Transferred>) {
        self.results.completed(context, result);
        if context == 1 {
            let buffer = self.chain.buffer().unwrap();
            let started = slot.receive(&self.socket, &buffer, 8, 0, (2, slot.clone()));
            assert!(
                matches!(started, Started::Pending { .. }),
                "the next request waits for data"
            );
        }
    }
}

#[test]
fn a_handler_may_start_the_next_request_when_a_cancel_completes_inline() {
    let kernel = fake::Kernel::start();
    provider::configure(Config::WINDOWS);
    let client = register();
    let (near, mut far) = pair(&client);
    let socket = Arc::new(near);
    let chain = Arc::new(Chain::new(&[8]));
    let results = Recorder::default();
    let slot = IoSlot::new(Requeue {
        socket: socket.clone(),
        chain: chain.clone(),
        results: results.clone(),
    })
    .unwrap();
    let buffer = chain.buffer().unwrap();
    let generation = pending(slot.receive(&socket, &buffer, 8, 0, (1, slot.clone())));
    // IoCancelIrp completes the request inside `cancel`; the handler starts the next one.
    slot.cancel(generation, CancelReason::Cancelled);
    let all = results.wait_for(1);
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(
        (all[0].context, all[0].result),
        (1, error(NtStatus::CANCELLED))
    );
    assert!(slot.is_busy(), "the next request is in flight");
    far.send_all(b"next", QUICK).unwrap();
    let all = results.wait_for(2);
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!((all[1].context, all[1].result), (2, received(4)));
    drop(slot);
    drop((buffer, far));
    drop(reclaim(socket));
    let chain = Arc::into_inner(chain).expect("the slot released its chain");
    drop(chain);
    assert!(client.shutdown(QUICK));
    kernel.assert_clean();
}
