//! The real driver core (`wskrs-driver`) on the fake kernel (`wskrs-fake-kernel`), in this
//! process, behind a `wskrs-client` [`Transport`]: the tests of `wskrs-client` and `wskctl`
//! run against the driver's own request handling, not a model of it.
//!
//! Test support, never published: `wskctl`'s tests depend on this crate, and `wskrs-client`'s
//! own tests compile this file as their module `host_driver` (the client itself does not
//! depend on the driver core or the fake kernel, so it can be published).
//!
//! [`HostDriver`] loads a driver core on a freshly reset fake kernel and plays the WDM
//! shell's role for it: [`HostHandle`] is an open handle (a [`Caller`]) whose drop is the
//! handle's cleanup (its endpoints close, detached ones stay); buffered requests go through
//! `Driver::device_control` with one system buffer, direct-I/O requests (SEND, RECV,
//! `SEND_TO`, `RECV_FROM`, ACCEPT) through `Driver::direct` as the fake kernel's
//! [`PendedIrp`] (the data locked in an MDL), completed by the core, and cancelled through `Driver::cancel` as the
//! shell's cancel routine does.
//!
//! The network is the fake provider's loopback, with peers ([`peers`]) made of `wsk`
//! sockets of a second WSK registration: an echo peer at [`ECHO_PORT`], a recording peer at
//! [`RECORDING_PORT`] (both on 127.0.0.1 and ::1), nothing at [`REFUSING_PORT`], and clients
//! of the driver's listeners ([`HostDriver::client_session`]).
//!
//! The fake kernel is process-global: a [`HostDriver`] holds it (`wskrs_fake_kernel::Kernel`,
//! on a thread of its own, since the last clone may drop on any thread) from creation to
//! drop, so tests that use one run one at a time, and a test drops one before it creates the
//! next. Dropping the last clone unloads the driver and, unless the test is already failing,
//! asserts that everything was released (pool, IRPs, MDLs, sockets, name lists, the WSK
//! registrations).
//!
//! Name resolution is the fake provider's: `localhost`, address literals, numeric services.

#![allow(
    unsafe_code,
    reason = "the shell's side of direct I/O: MDLs and the WSK registration"
)]
#![allow(
    clippy::must_use_candidate,
    clippy::missing_panics_doc,
    reason = "test support: callers assert on what they use; a broken fake kernel panics"
)]

mod peers;

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use wsk::WskClient;
use wskrs_driver::{Caller, Ticket};
use wskrs_fake_kernel as fake;
use wskrs_fake_kernel::locked::{pend, IrpWaiter, PendedIrp};
use wskrs_ntstatus::NtStatus;
use wskrs_protocol::{
    encode_list, list_output_len, parse_list_reply, EndpointId, EndpointStatus, IoctlCode,
};

use wskrs_client::{CancelIo, IoctlCompletion, Transport};

pub use peers::{ECHO_PORT, RECORDING_PORT, REFUSING_PORT};

/// The driver core as this shell instantiates it.
type Driver = wskrs_driver::Driver<HostRequest>;

/// How long a direct request may stay pending before the test fails (the core's own
/// deadlines are far shorter).
const REQUEST_LIMIT: Duration = Duration::from_secs(60);

/// The caller the harness lists endpoints as (it owns none: it sees detached ones).
const HARNESS: Caller = Caller(usize::MAX);

/// Locks a mutex of the harness, ignoring poison (a failed test must not cascade).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The shell's `RegisterWsk`: registers with the fake NETIO.
fn register(capture_wait: Duration) -> wsk::Result<WskClient> {
    // SAFETY: the fake device object lives for the whole process.
    unsafe { WskClient::register(fake::device(), capture_wait) }
}

/// The shell's reader of the device's DACL: the descriptor of [`wskrs_protocol::DEVICE_SDDL`],
/// as a kernel that keeps generic rights as given (Wine's) returns it.
fn device_dacl(out: &mut [u8]) -> Result<usize, wsk::NtStatus> {
    let descriptor = wsk::security::parse_sddl(wskrs_protocol::DEVICE_SDDL, out)
        .map_err(|_| wsk::NtStatus::BUFFER_TOO_SMALL)?;
    Ok(descriptor.len())
}

/// A pended direct-I/O request as the core sees it (the shell's IRP): the fake kernel's.
pub struct HostRequest(PendedIrp);

fake::pending_request_over_pended_irp!(HostRequest);

/// The requests one handle has outstanding: what `CancelIoEx(handle, NULL)` cancels.
struct HandleRequests {
    driver: &'static Driver,
    outstanding: Mutex<Vec<IrpWaiter>>,
}

impl CancelIo for HandleRequests {
    fn cancel_io(&self) -> io::Result<()> {
        let requests = lock(&self.outstanding).clone();
        for request in requests {
            // As the shell's cancel routine: the ticket read back from its words, then the
            // core told outside every lock, since it may complete the request at once.
            let ticket = request
                .cancel()
                .and_then(|words| Ticket::from_words(words.try_into().ok()?));
            if let Some(ticket) = ticket {
                self.driver.cancel(ticket);
            }
        }
        Ok(())
    }
}

/// What runs while a direct request waits (see [`HostDriver::while_waiting`]).
type WaitHook = Box<dyn FnMut() + Send>;

struct Inner {
    driver: &'static Driver,
    peers: Mutex<peers::Peers>,
    /// The IOCTL codes received, in order.
    requests: Mutex<Vec<u32>>,
    faults: Mutex<HashMap<u32, NtStatus>>,
    while_waiting: Mutex<Option<WaitHook>>,
    last_caller: AtomicUsize,
    open_callers: Mutex<BTreeSet<usize>>,
    /// The fake kernel, held for this driver's lifetime; released last.
    kernel: KernelHold,
}

/// The fake kernel held on a thread of its own: `fake::Kernel` holds a mutex guard, which
/// must be released on the thread that took it, and the last clone of a [`HostDriver`] may
/// be dropped on any thread.
struct KernelHold {
    /// Tells the holder to release the kernel; `true`: assert it is clean first.
    release: mpsc::Sender<bool>,
    holder: Option<JoinHandle<()>>,
}

impl KernelHold {
    /// Waits for the fake kernel (another test may hold it) and resets it.
    fn start() -> Self {
        let (started, ready) = mpsc::channel();
        let (release, released) = mpsc::channel();
        let holder = std::thread::spawn(move || {
            let kernel = fake::Kernel::start();
            let _ = started.send(());
            // A dropped sender (the harness panicked) releases without checking.
            if released.recv().unwrap_or(false) {
                kernel.assert_clean();
            }
        });
        ready.recv().expect("the fake kernel started");
        Self {
            release,
            holder: Some(holder),
        }
    }

    /// Asserts that everything was released (pool, IRPs, MDLs, sockets, violations), then
    /// releases the kernel; the holder's failed assertion fails the caller.
    fn release_clean(&mut self) {
        let _ = self.release.send(true);
        if let Some(holder) = self.holder.take() {
            if let Err(failure) = holder.join() {
                std::panic::resume_unwind(failure);
            }
        }
    }
}

impl Drop for KernelHold {
    /// Releases the kernel without checking (a test that already failed).
    fn drop(&mut self) {
        let _ = self.release.send(false);
        if let Some(holder) = self.holder.take() {
            let _ = holder.join();
        }
    }
}

impl Drop for Inner {
    /// Unloads the driver; a passing test also proves everything was released.
    fn drop(&mut self) {
        let peers_closed = self
            .peers
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .stop();
        let unloaded = self.driver.shutdown();
        if std::thread::panicking() {
            return;
        }
        assert!(peers_closed, "the peers closed their sockets");
        assert!(unloaded, "the driver closed everything in time");
        assert_eq!(
            fake::provider::address_lists_live(),
            0,
            "every WskGetAddressInfo list was freed"
        );
        assert_eq!(
            fake::netio::registrations(),
            0,
            "both WSK registrations ended"
        );
        self.kernel.release_clean();
    }
}

/// The driver core on the fake kernel; clones share it. Open a [`HostHandle`] to send it
/// requests.
#[derive(Clone)]
pub struct HostDriver(Arc<Inner>);

impl std::fmt::Debug for HostDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostDriver").finish_non_exhaustive()
    }
}

impl Default for HostDriver {
    /// Waits for the fake kernel (another test may hold it), resets it, loads a driver core
    /// and starts the peers.
    fn default() -> Self {
        let kernel = KernelHold::start();
        let driver: &'static Driver = Box::leak(Box::new(Driver::new(register)));
        driver.set_device_dacl_query(device_dacl);
        driver.loaded().expect("the driver core loads");
        let peers = peers::Peers::start(register(Duration::from_secs(5)).expect("peer client"));
        Self(Arc::new(Inner {
            driver,
            peers: Mutex::new(peers),
            requests: Mutex::default(),
            faults: Mutex::default(),
            while_waiting: Mutex::default(),
            last_caller: AtomicUsize::new(0),
            open_callers: Mutex::default(),
            kernel,
        }))
    }
}

impl HostDriver {
    /// Opens a new handle (a new caller, as a new file object).
    pub fn handle(&self) -> HostHandle {
        let caller = self.0.last_caller.fetch_add(0x1000, Ordering::SeqCst) + 0x1000;
        lock(&self.0.open_callers).insert(caller);
        HostHandle {
            driver: self.clone(),
            caller: Caller(caller),
            requests: Arc::new(HandleRequests {
                driver: self.0.driver,
                outstanding: Mutex::default(),
            }),
        }
    }

    /// The endpoints open now, as LIST shows them to any open handle (or detached).
    pub fn endpoints(&self) -> Vec<EndpointStatus> {
        let callers: Vec<Caller> = lock(&self.0.open_callers)
            .iter()
            .map(|&c| Caller(c))
            .chain([HARNESS])
            .collect();
        let mut all: Vec<EndpointStatus> = Vec::new();
        for caller in callers {
            let room = 300;
            let mut buffer = vec![0; list_output_len(room)];
            let input = encode_list();
            buffer
                .get_mut(..input.len())
                .expect("LIST input fits")
                .copy_from_slice(&input);
            let output_len = buffer.len();
            let completion = self.0.driver.device_control(
                caller,
                IoctlCode::LIST.0,
                &mut buffer,
                input.len(),
                output_len,
            );
            assert_eq!(completion.status, NtStatus::SUCCESS, "LIST");
            buffer.truncate(completion.information);
            let list = parse_list_reply(&buffer).expect("LIST reply");
            for status in list.iter() {
                if !all.iter().any(|seen| seen.id == status.id) {
                    all.push(status);
                }
            }
        }
        all.sort_by_key(|status| status.id.0);
        all
    }

    /// The ids of the open endpoints, in order.
    pub fn endpoint_ids(&self) -> Vec<u64> {
        self.endpoints().iter().map(|status| status.id.0).collect()
    }

    /// The IOCTL codes received so far.
    pub fn requests(&self) -> Vec<u32> {
        lock(&self.0.requests).clone()
    }

    /// The LIST entry of endpoint `id`.
    fn endpoint(&self, id: u64) -> EndpointStatus {
        self.endpoints()
            .into_iter()
            .find(|status| status.id == EndpointId(id))
            .unwrap_or_else(|| panic!("endpoint {id} is open"))
    }

    /// The (local, remote) addresses of connection endpoint `id`.
    fn connection(&self, id: u64) -> (SocketAddr, SocketAddr) {
        let status = self.endpoint(id);
        status
            .local
            .zip(status.remote)
            .unwrap_or_else(|| panic!("endpoint {id} is a connection"))
    }

    /// The peer of connection endpoint `id` sends `data` (returns once the provider took it).
    pub fn peer_sends(&self, id: u64, data: &[u8]) {
        lock(&self.0.peers).send(self.connection(id), data);
    }

    /// The peer of connection endpoint `id` closes its side gracefully (after what it sent).
    pub fn peer_closes(&self, id: u64) {
        lock(&self.0.peers).close(self.connection(id));
    }

    /// What the peer of connection endpoint `id` received, once at least `len` bytes arrived
    /// (waits at most five seconds, then returns what there is).
    pub fn peer_received(&self, id: u64, len: usize) -> Vec<u8> {
        lock(&self.0.peers).received(self.connection(id), len)
    }

    /// A datagram from `from` reaches UDP endpoint `id` (which must be bound to a port of
    /// its own choosing, not port 0: the driver reports the address it was asked for).
    pub fn peer_sends_to(&self, id: u64, from: SocketAddr, data: &[u8]) {
        let local = self
            .endpoint(id)
            .local
            .expect("a UDP socket has a local address");
        assert_ne!(local.port(), 0, "endpoint {id} is bound to a known port");
        lock(&self.0.peers).send_datagram(from, local, data);
    }

    /// A client connects to listener endpoint `id`, sends `data`, reads until `read` bytes
    /// came back (or the connection ends, or half a second passes), and closes unless `stay`
    /// (it then stays connected, echoing what it receives, until the driver is dropped). Returns what it read, or `None`
    /// when the connection is refused or the listener closed it before answering anything.
    pub fn client_session(&self, id: u64, data: &[u8], read: usize, stay: bool) -> Option<Vec<u8>> {
        let listener = self
            .endpoint(id)
            .local
            .expect("a listener has a local address");
        lock(&self.0.peers).client_session(listener, data, read, stay)
    }

    /// Runs `hook` whenever a direct request is still pending after the core took it (the
    /// test's stand-in for another thread acting meanwhile, e.g. cancelling it).
    pub fn while_waiting(&self, hook: impl FnMut() + Send + 'static) {
        *lock(&self.0.while_waiting) = Some(Box::new(hook));
    }

    /// The shell completes the next request with `code` with `status` instead of handing it
    /// to the core (for the client's handling of statuses the loopback cannot produce).
    pub fn fail_next(&self, code: IoctlCode, status: NtStatus) {
        lock(&self.0.faults).insert(code.0, status);
    }

    fn run_wait_hook(&self) {
        let hook = lock(&self.0.while_waiting).take();
        if let Some(mut hook) = hook {
            hook();
            let mut slot = lock(&self.0.while_waiting);
            if slot.is_none() {
                *slot = Some(hook);
            }
        }
    }
}

/// An open handle on the driver (what `CreateFileW` gives a client); dropping it is the
/// handle's cleanup.
pub struct HostHandle {
    driver: HostDriver,
    caller: Caller,
    requests: Arc<HandleRequests>,
}

impl std::fmt::Debug for HostHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostHandle")
            .field("caller", &self.caller)
            .finish_non_exhaustive()
    }
}

impl Drop for HostHandle {
    /// IRP_MJ_CLEANUP: the endpoints this handle created without `detach` close.
    fn drop(&mut self) {
        self.driver.0.driver.cleanup(self.caller);
        lock(&self.driver.0.open_callers).remove(&self.caller.0);
    }
}

impl HostHandle {
    /// The shell's fault injection (see [`HostDriver::fail_next`]), and the request log.
    fn intercept(&self, code: u32) -> Option<IoctlCompletion> {
        lock(&self.driver.0.requests).push(code);
        let status = lock(&self.driver.0.faults).remove(&code)?;
        Some(IoctlCompletion {
            status,
            information: 0,
        })
    }

    /// A METHOD_BUFFERED request: one system buffer of max(input, output) bytes.
    fn buffered(&self, code: u32, input: &[u8], output: &mut [u8]) -> IoctlCompletion {
        let mut buffer = vec![0; input.len().max(output.len())];
        buffer
            .get_mut(..input.len())
            .expect("the system buffer holds the input")
            .copy_from_slice(input);
        let completion = self.driver.0.driver.device_control(
            self.caller,
            code,
            &mut buffer,
            input.len(),
            output.len(),
        );
        let information = completion.information.min(output.len());
        output
            .get_mut(..information)
            .expect("within the output")
            .copy_from_slice(buffer.get(..information).expect("within the buffer"));
        IoctlCompletion {
            status: completion.status,
            information: completion.information,
        }
    }

    /// A direct-I/O request: pended, handed to the core with `data` locked, waited for.
    /// Returns the completion and the data buffer as the core left it.
    fn direct(&self, code: u32, input: &[u8], data: &[u8]) -> (IoctlCompletion, Vec<u8>) {
        let waiter = self.submit(code, input, data);
        self.finish(&waiter)
    }

    /// Hands a direct-I/O request to the core (pended, `data` locked) without waiting.
    fn submit(&self, code: u32, input: &[u8], data: &[u8]) -> IrpWaiter {
        let (irp, waiter) = pend(data);
        lock(&self.requests.outstanding).push(waiter.clone());
        self.driver
            .0
            .driver
            .direct(self.caller, code, input, data.len(), HostRequest(irp));
        waiter
    }

    /// Waits for a submitted request; returns its completion and data buffer.
    fn finish(&self, waiter: &IrpWaiter) -> (IoctlCompletion, Vec<u8>) {
        if waiter.completion().is_none() {
            self.driver.run_wait_hook();
        }
        let (status, information) = waiter
            .wait_for(REQUEST_LIMIT)
            .expect("the core completed the request in time");
        lock(&self.requests.outstanding).retain(|other| !other.is_for_same_irp(waiter));
        let contents = waiter.contents();
        (
            IoctlCompletion {
                status,
                information,
            },
            contents,
        )
    }
}

impl Transport for HostHandle {
    fn ioctl(&self, code: u32, input: &[u8], output: &mut [u8]) -> IoctlCompletion {
        if let Some(failed) = self.intercept(code) {
            return failed;
        }
        if !IoctlCode(code).is_direct() {
            return self.buffered(code, input, output);
        }
        let (completion, contents) = self.direct(code, input, output);
        if contents.len() == output.len() {
            output.copy_from_slice(&contents);
        }
        completion
    }

    fn ioctl_in_direct(&self, code: u32, input: &[u8], data: &[u8]) -> IoctlCompletion {
        if let Some(failed) = self.intercept(code) {
            return failed;
        }
        if !IoctlCode(code).is_direct() {
            // The I/O manager would buffer it; the core then sees an output buffer to write.
            let mut copy = data.to_vec();
            return self.buffered(code, input, &mut copy);
        }
        self.direct(code, input, data).0
    }

    fn cancel_target(&self) -> Option<Weak<dyn CancelIo>> {
        let target: Weak<dyn CancelIo> = Arc::downgrade(&self.requests) as Weak<dyn CancelIo>;
        Some(target)
    }

    /// As the device does: up to `depth` requests handed to the core before the oldest is
    /// waited for, so the core's queue is what keeps them in order.
    fn ioctl_in_direct_pipelined(
        &self,
        code: u32,
        requests: &[(&[u8], &[u8])],
        depth: usize,
    ) -> Vec<IoctlCompletion> {
        let mut completions = Vec::with_capacity(requests.len());
        let mut in_flight = std::collections::VecDeque::new();
        let mut next = requests.iter();
        let mut failed = false;
        loop {
            while !failed && in_flight.len() < depth.max(1) {
                let Some((input, data)) = next.next() else {
                    break;
                };
                if let Some(refused) = self.intercept(code) {
                    failed = true;
                    in_flight.push_back(Err(refused));
                } else {
                    in_flight.push_back(Ok(self.submit(code, input, data)));
                }
            }
            let Some(oldest) = in_flight.pop_front() else {
                break;
            };
            let completion = match oldest {
                Ok(waiter) => self.finish(&waiter).0,
                Err(refused) => refused,
            };
            failed |= !completion.status.is_success();
            completions.push(completion);
        }
        completions
    }
}
