//! Registration teardown (`WskClient`): register and capture, shutdown waiting for sockets and
//! tasks, release and deregister exactly once and in order, failure paths.

mod common;

use std::thread;
use std::time::Duration;

use common::{pair, register, QUICK};
use fake::netio::{self, Event};
use wsk::task::{ConnectionHandler, ConnectionStep, ConnectionTask};
use wsk::{Error, NtStatus, WskClient};
use wskrs_fake_kernel as fake;

/// Receives and ignores.
struct Idle;

impl ConnectionHandler for Idle {
    fn received(&self, _: &mut [u8], len: usize) -> ConnectionStep {
        if len == 0 {
            ConnectionStep::Close
        } else {
            ConnectionStep::Receive
        }
    }
    fn sent(&self, _: &mut [u8], _: usize) -> ConnectionStep {
        ConnectionStep::Receive
    }
    fn finished(&self, _: Option<Error>) {}
}

fn registration_calls() -> [u64; 4] {
    [
        Event::Register,
        Event::Capture,
        Event::Release,
        Event::Deregister,
    ]
    .map(netio::calls)
}

#[test]
fn shutdown_without_sockets_releases_then_deregisters_once() {
    let kernel = fake::Kernel::start();
    let client = register();
    assert_eq!(client.provider_version(), 0x0100);
    let copy = client.clone();
    drop(copy);
    assert_eq!(
        registration_calls(),
        [1, 1, 0, 0],
        "a clone's drop releases nothing"
    );
    assert!(client.shutdown(QUICK));
    assert_eq!(registration_calls(), [1, 1, 1, 1]);
    assert_eq!(
        netio::log(),
        [
            Event::Register,
            Event::Capture,
            Event::Release,
            Event::Deregister
        ]
    );
    assert_eq!(netio::registrations(), 0);
    kernel.assert_clean();
}

#[test]
fn shutdown_waits_for_sockets_and_tasks_then_deregisters() {
    let kernel = fake::Kernel::start();
    let client = register();
    let (near, far) = pair(&client);
    let task = ConnectionTask::start(far, 64, Idle).unwrap();
    let waiter = {
        let client = client.clone();
        thread::spawn(move || client.shutdown(Duration::from_secs(10)))
    };
    drop(client);
    thread::sleep(Duration::from_millis(100));
    assert_eq!(
        registration_calls()[2..],
        [0, 0],
        "still waiting for the socket and the task"
    );
    drop(near);
    thread::sleep(Duration::from_millis(50));
    assert_eq!(
        registration_calls()[2..],
        [0, 0],
        "still waiting for the task"
    );
    task.stop();
    drop(task);
    assert!(waiter.join().unwrap(), "shutdown released the registration");
    assert_eq!(registration_calls(), [1, 1, 1, 1]);
    let log = netio::log();
    let release = log.iter().position(|e| *e == Event::Release).unwrap();
    let closed = log.iter().filter(|e| **e == Event::SocketClosed).count();
    let opened = log.iter().filter(|e| **e == Event::SocketOpened).count();
    assert_eq!(opened, closed, "every socket closed: {log:?}");
    assert!(
        log[..release]
            .iter()
            .filter(|e| **e == Event::SocketClosed)
            .count()
            == closed,
        "all closed before release: {log:?}"
    );
    assert_eq!(log.last(), Some(&Event::Deregister));
    kernel.assert_clean();
}

#[test]
fn shutdown_waits_past_its_patience_until_the_last_socket_closes() {
    let kernel = fake::Kernel::start();
    let client = register();
    let (near, far) = pair(&client);
    let unload = thread::spawn(move || client.shutdown(Duration::from_millis(50)));
    thread::sleep(Duration::from_millis(200));
    assert!(!unload.is_finished(), "sockets still open: unload waits on");
    assert_eq!(registration_calls()[2..], [0, 0]);
    drop(near);
    assert_eq!(registration_calls()[2..], [0, 0]);
    drop(far);
    assert!(!unload.join().unwrap(), "done, later than its patience");
    assert_eq!(
        registration_calls()[2..],
        [1, 1],
        "unload released the registration once the last socket closed"
    );
    kernel.assert_clean();
}

#[test]
fn failed_capture_deregisters_and_failed_register_does_not() {
    let kernel = fake::Kernel::start();
    // STATUS_NOINTERFACE: no provider attached in time.
    netio::fail_next_capture(NtStatus::from_u32(0xC000_02B9));
    // SAFETY: the fake device object lives for the whole process.
    let result = unsafe { WskClient::register(fake::device(), Duration::from_millis(10)) };
    assert_eq!(
        result.err(),
        Some(Error::new(NtStatus::from_u32(0xC000_02B9)))
    );
    assert_eq!(
        registration_calls(),
        [1, 0, 0, 1],
        "registered, not captured: deregistered only"
    );
    netio::fail_next_register(NtStatus::INSUFFICIENT_RESOURCES);
    // SAFETY: as above.
    let result = unsafe { WskClient::register(fake::device(), Duration::from_millis(10)) };
    assert_eq!(result.err(), Some(Error::NO_MEMORY));
    assert_eq!(registration_calls(), [1, 0, 0, 1], "nothing to undo");
    kernel.assert_clean();
}

#[test]
fn provider_characteristics_come_from_the_registration() {
    let kernel = fake::Kernel::start();
    let client = register();
    let characteristics = client.provider_characteristics().unwrap();
    assert_eq!(
        (characteristics.lowest, characteristics.highest),
        (0x0100, 0x0100)
    );
    assert!(client.shutdown(QUICK));
    kernel.assert_clean();
}

/// Set by [`slow_job`] when it ends.
static SLOW_JOB_DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn slow_job((): ()) {
    thread::sleep(Duration::from_millis(300));
    SLOW_JOB_DONE.store(true, std::sync::atomic::Ordering::SeqCst);
}

#[test]
fn shutdown_waits_for_a_deferred_job_to_run() {
    // A work item routine lives in the driver's image: unload must not end under it (Wine's
    // unload does not wait for the work item's reference on the device object).
    let kernel = fake::Kernel::start();
    let client = register();
    SLOW_JOB_DONE.store(false, std::sync::atomic::Ordering::SeqCst);
    client.defer((), slow_job).expect("queued");
    assert!(client.shutdown(QUICK));
    assert!(
        SLOW_JOB_DONE.load(std::sync::atomic::Ordering::SeqCst),
        "shutdown returned while the deferred job still ran"
    );
    assert_eq!(registration_calls(), [1, 1, 1, 1]);
    kernel.assert_clean();
}
