//! The framework-neutral core of the wsk-rs driver.
//!
//! It owns the endpoint table, the identities of the open handles and their quotas, turns
//! validated IOCTL requests into `wsk` calls and runs the in-kernel services. It knows nothing
//! of KMDF or WDM: a shell hands it each request as (caller, code, buffer, input length,
//! output length) and completes the IRP with the [`Completion`] it returns.
//!
//! # Who reaches what
//! A handle reaches the endpoints it created. A detached endpoint outlives its handle and is
//! reachable by every handle of the same [`Identity`] (the user SID the shell read from the
//! opener's token, [`Driver::identify`]). Any other id is answered as an unknown one
//! (`STATUS_NOT_FOUND`). Each handle has [`Quotas`]; past one, `STATUS_QUOTA_EXCEEDED`.
//!
//! # IRQL
//! Every entry point runs at PASSIVE_LEVEL, in the context of the dispatch routine.
#![no_std]
#![deny(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

mod direct;
mod endpoints;
mod queue;
mod requests;
mod resolve;
mod services;
mod ticket;

pub use direct::{PendingRequest, TICK};
pub use queue::QUEUE_DEPTH;
pub use resolve::{MAX_RESOLVES, RESOLVE_DISPATCH_WAIT};
pub use ticket::{DataTicket, Direction, Sequence, Ticket};
pub use wsk::security::Sid as Identity;

use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;

use wsk::timer::PeriodicTimer;
use wsk::{NtStatus, SpinLock, WskClient};
use wskrs_protocol::ProtocolError;

use endpoints::EndpointTable;

/// The driver version reported by INFO.
pub const DRIVER_VERSION: (u16, u16, u16) = (0, 1, 0);

/// How long unload waits for every socket to close before it logs what it still waits for
/// (it waits on: see [`Driver::shutdown`]).
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(4);

/// How long a first request waits for the WSK provider to attach.
const CAPTURE_WAIT: Duration = Duration::from_secs(5);

/// Identifies the handle a request came on (the shell uses the file object's address).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Caller(pub usize);

impl Caller {
    /// The owner of detached endpoints whose creating handle has closed.
    pub const NOBODY: Self = Self(0);
}

/// Where a request comes from: its handle and the identity the shell gave that handle
/// (`None`: not identified; unidentified handles share one identity, see `docs/protocol.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Requester {
    pub(crate) handle: Caller,
    pub(crate) identity: Option<Identity>,
}

/// Per-handle limits, so that one caller cannot starve the others (`STATUS_QUOTA_EXCEEDED`
/// past any of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quotas {
    /// Endpoints a handle created and still owns (detached ones count until it closes).
    pub endpoints: usize,
    /// Direct-I/O requests (SEND, RECV, `SEND_TO`, `RECV_FROM`, ACCEPT) pended at once.
    pub pended: usize,
    /// Bytes of user memory locked at once: the sum of the output buffers of its pended
    /// requests.
    pub locked_bytes: usize,
}

impl Quotas {
    /// The defaults: 64 endpoints, 32 pended requests, 16 MiB locked (four requests of the
    /// largest transfer).
    pub const DEFAULT: Self = Self {
        endpoints: wskrs_protocol::PARAM_ENDPOINTS_PER_HANDLE.default as usize,
        pended: wskrs_protocol::PARAM_PENDED_REQUESTS_PER_HANDLE.default as usize,
        locked_bytes: wskrs_protocol::PARAM_LOCKED_BYTES_PER_HANDLE.default as usize,
    };
}

/// What the driver holds at most, set at load from the service's registry parameters
/// ([`wskrs_protocol::DRIVER_PARAMETERS`], read by the shell) and reported by STATS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Endpoints open at once (the endpoint table's slots).
    pub endpoints: usize,
    /// Connections one in-kernel listener serves (or queues for ACCEPT) at once: the most a
    /// TCP_LISTEN may ask for.
    pub connections_per_listener: usize,
    /// Per-handle quotas.
    pub quotas: Quotas,
}

impl Limits {
    /// The defaults (every parameter absent): sized for a server.
    pub const DEFAULT: Self = Self {
        endpoints: wskrs_protocol::PARAM_MAX_ENDPOINTS.default as usize,
        connections_per_listener: wskrs_protocol::PARAM_MAX_CONNECTIONS_PER_LISTENER.default
            as usize,
        quotas: Quotas::DEFAULT,
    };

    /// The limits the service's parameters give ([`wskrs_protocol::DRIVER_PARAMETERS`]),
    /// each value clamped to its range and each absent one at its default. `value` reads a
    /// parameter by its name. IRQL: the caller's (registry reads: PASSIVE_LEVEL).
    #[must_use]
    pub fn from_parameters(value: impl Fn(&str) -> Option<u32>) -> Self {
        use wskrs_protocol as p;
        let read = |parameter: &p::DriverParameter| {
            usize::try_from(parameter.applied(value(parameter.name))).unwrap_or(usize::MAX)
        };
        Self {
            endpoints: read(&p::PARAM_MAX_ENDPOINTS),
            connections_per_listener: read(&p::PARAM_MAX_CONNECTIONS_PER_LISTENER),
            quotas: Quotas {
                endpoints: read(&p::PARAM_ENDPOINTS_PER_HANDLE),
                pended: read(&p::PARAM_PENDED_REQUESTS_PER_HANDLE),
                locked_bytes: read(&p::PARAM_LOCKED_BYTES_PER_HANDLE),
            },
        }
    }
}

/// Most handles the driver tells apart by identity at once.
pub const MAX_HANDLES: usize = 256;

/// The identities of the open handles (`Driver::identify`), behind a spin lock.
struct Handles {
    slots: [Option<(Caller, Identity)>; MAX_HANDLES],
}

/// How to complete a request: its status and the bytes written to the output buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion {
    /// The IRP's final status.
    pub status: NtStatus,
    /// `IoStatus.Information`: reply bytes (0 on failure).
    pub information: usize,
}

impl Completion {
    fn ok(information: usize) -> Self {
        Self {
            status: NtStatus::SUCCESS,
            information,
        }
    }

    fn failed(status: NtStatus) -> Self {
        Self {
            status,
            information: 0,
        }
    }
}

/// A failed request's status, with `?` conversions from every error the core meets.
pub(crate) struct Failure(pub(crate) NtStatus);

impl From<NtStatus> for Failure {
    fn from(s: NtStatus) -> Self {
        Self(s)
    }
}

impl From<ProtocolError> for Failure {
    fn from(e: ProtocolError) -> Self {
        Self(e.status())
    }
}

impl From<wsk::Error> for Failure {
    fn from(e: wsk::Error) -> Self {
        Self(e.status())
    }
}

/// Registers the WSK client; provided by the shell, which owns the device object.
pub type RegisterWsk = fn(Duration) -> wsk::Result<WskClient>;

/// Reads the control device's DACL back from the kernel into the buffer as a self-relative
/// security descriptor and returns its length (`DEVICE_SECURITY`); provided by the shell,
/// which owns the device object. IRQL: PASSIVE_LEVEL.
pub type QueryDeviceDacl = fn(&mut [u8]) -> Result<usize, NtStatus>;

/// Room for the device's descriptor as `DEVICE_SECURITY` reads it back.
pub const DEVICE_DESCRIPTOR_CAPACITY: usize = 256;

/// Driver-wide counters (STATS).
struct Totals {
    /// `wsk::uptime()` in milliseconds when the driver loaded.
    loaded_ms: AtomicU64,
    endpoints_opened: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    /// Connections served by listeners that have closed (open ones report their own).
    connections_served: AtomicU64,
    /// Connections refused by listeners that have closed (open ones report their own).
    connections_refused: AtomicU64,
    errors: AtomicU64,
}

/// The driver's state: WSK client (registered on first use), endpoints, counters and the
/// deadline timer of pended requests. `R` is the shell's pended request (its IRP).
pub struct Driver<R: PendingRequest> {
    register: RegisterWsk,
    /// The shell's reader of the device's DACL, once the device exists.
    device_dacl: SpinLock<Option<QueryDeviceDacl>>,
    client: SpinLock<Option<WskClient>>,
    endpoints: EndpointTable<R>,
    handles: SpinLock<Handles>,
    limits: SpinLock<Limits>,
    totals: Totals,
    /// Sequence numbers of data requests (tickets).
    sequence: AtomicU64,
    /// Deadline timer ticks since load.
    ticks: AtomicU64,
    timer: SpinLock<Option<PeriodicTimer<&'static Self>>>,
    /// RESOLVE requests whose worker thread runs.
    resolves: SpinLock<resolve::Resolves<R>>,
}

impl<R: PendingRequest> Driver<R> {
    /// A driver with no endpoints and the default [`Quotas`]; `register` is called on the
    /// first request that needs WSK.
    ///
    /// The value is large (the endpoint table): use it to initialize a `static`.
    #[must_use]
    pub const fn new(register: RegisterWsk) -> Self {
        Self::with_quotas(register, Quotas::DEFAULT)
    }

    /// Like [`Driver::new`] with the given per-handle quotas.
    #[must_use]
    #[allow(clippy::large_stack_arrays)] // evaluated at compile time for a static
    pub const fn with_quotas(register: RegisterWsk, quotas: Quotas) -> Self {
        Self {
            handles: SpinLock::new(Handles {
                slots: [None; MAX_HANDLES],
            }),
            limits: SpinLock::new(Limits {
                quotas,
                ..Limits::DEFAULT
            }),
            sequence: AtomicU64::new(0),
            ticks: AtomicU64::new(0),
            timer: SpinLock::new(None),
            resolves: SpinLock::new(resolve::Resolves::new()),
            register,
            device_dacl: SpinLock::new(None),
            client: SpinLock::new(None),
            endpoints: EndpointTable::new(Limits::DEFAULT.endpoints),
            totals: Totals {
                loaded_ms: AtomicU64::new(0),
                endpoints_opened: AtomicU64::new(0),
                bytes_sent: AtomicU64::new(0),
                bytes_received: AtomicU64::new(0),
                connections_served: AtomicU64::new(0),
                connections_refused: AtomicU64::new(0),
                errors: AtomicU64::new(0),
            },
        }
    }

    /// Sets the driver's limits (from the service's parameters: [`Limits::from_parameters`]).
    /// Call from the entry point, before any request. IRQL <= DISPATCH_LEVEL.
    ///
    /// # Errors
    /// `STATUS_INVALID_DEVICE_STATE` while an endpoint exists;
    /// `STATUS_INSUFFICIENT_RESOURCES` when a table of that size cannot be allocated (the
    /// limits are unchanged then).
    pub fn set_limits(&self, limits: Limits) -> Result<(), NtStatus> {
        self.endpoints.set_capacity(limits.endpoints)?;
        *self.limits.lock() = limits;
        Ok(())
    }

    /// Sets how `DEVICE_SECURITY` reads the control device's DACL back (until then it
    /// answers `STATUS_INVALID_DEVICE_STATE`). Call from the entry point once the device
    /// exists. IRQL <= DISPATCH_LEVEL.
    pub fn set_device_dacl_query(&self, query: QueryDeviceDacl) {
        *self.device_dacl.lock() = Some(query);
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        *self.limits.lock()
    }

    /// Records the load time and starts the deadline timer of pended requests (call from
    /// the entry point). IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// `STATUS_INSUFFICIENT_RESOURCES` when the endpoint table or the timer cannot be
    /// allocated.
    pub fn loaded(&'static self) -> Result<(), NtStatus> {
        let now = u64::try_from(wsk::uptime().as_millis()).unwrap_or(u64::MAX);
        self.totals.loaded_ms.store(now, Ordering::Relaxed);
        // The table now, so that what the driver holds idle is its baseline (HELD).
        self.endpoints.allocate()?;
        let timer = PeriodicTimer::start(TICK, self, |driver: &&'static Self| driver.tick())
            .map_err(NtStatus::from)?;
        *self.timer.lock() = Some(timer);
        Ok(())
    }

    fn client(&self) -> Result<WskClient, NtStatus> {
        if let Some(client) = self.client.lock().as_ref() {
            return Ok(client.clone());
        }
        let client = (self.register)(CAPTURE_WAIT).map_err(NtStatus::from)?;
        let mut slot = self.client.lock();
        if let Some(existing) = slot.as_ref() {
            // Another request registered meanwhile: keep theirs, release ours (it has no
            // socket: dropping the only handle releases and deregisters at once).
            let existing = existing.clone();
            drop(slot);
            drop(client);
            return Ok(existing);
        }
        *slot = Some(client.clone());
        Ok(client)
    }

    /// Records who `caller` (a handle being opened) acts for: the user SID of the opener's
    /// token. Call it from IRP_MJ_CREATE; [`Driver::cleanup`] forgets it. A handle never
    /// identified shares one identity with every other such handle. IRQL <= DISPATCH_LEVEL.
    ///
    /// # Errors
    /// `STATUS_INSUFFICIENT_RESOURCES` when [`MAX_HANDLES`] handles are identified already
    /// (refuse the open).
    pub fn identify(&self, caller: Caller, identity: Identity) -> Result<(), NtStatus> {
        let mut handles = self.handles.lock();
        let slot = match handles
            .slots
            .iter()
            .position(|s| s.is_some_and(|(c, _)| c == caller))
        {
            Some(index) => handles.slots.get_mut(index),
            None => handles.slots.iter_mut().find(|s| s.is_none()),
        };
        let slot = slot.ok_or(NtStatus::INSUFFICIENT_RESOURCES)?;
        *slot = Some((caller, identity));
        Ok(())
    }

    /// The requester behind `caller`: its handle and identity. IRQL <= DISPATCH_LEVEL.
    pub(crate) fn requester(&self, caller: Caller) -> Requester {
        let identity = self
            .handles
            .lock()
            .slots
            .iter()
            .flatten()
            .find(|(c, _)| *c == caller)
            .map(|(_, identity)| *identity);
        Requester {
            handle: caller,
            identity,
        }
    }

    /// Handles IRP_MJ_DEVICE_CONTROL. `buffer` is the METHOD_BUFFERED system buffer, of
    /// `max(input_len, output_len)` bytes: the request is read from its first `input_len`
    /// bytes and the reply written over it.
    pub fn device_control(
        &'static self,
        caller: Caller,
        code: u32,
        buffer: &mut [u8],
        input_len: usize,
        output_len: usize,
    ) -> Completion {
        match self.dispatch(caller, code, buffer, input_len, output_len) {
            Ok(information) => Completion::ok(information),
            Err(Failure(status)) => Completion::failed(status),
        }
    }

    /// Handles IRP_MJ_CLEANUP: the caller's handle is closing, so its endpoints close too
    /// (detached ones stay, reachable by the handles of its identity) and its identity is
    /// forgotten.
    pub fn cleanup(&self, caller: Caller) {
        // Its pended requests on detached endpoints end now; those on its own endpoints end
        // as the endpoints close.
        self.cancel_requests_of(caller);
        while let Some(endpoint) = self.endpoints.remove_owned_by(caller) {
            self.close_endpoint(endpoint);
        }
        // A later handle may get the same file object address: it must not inherit these.
        self.endpoints.disown(caller);
        for slot in &mut self.handles.lock().slots {
            if slot.is_some_and(|(c, _)| c == caller) {
                *slot = None;
            }
        }
    }

    /// Closes an endpoint that left the table, keeping what its service did in the totals
    /// (STATS counts since load, not only over the endpoints open now).
    pub(crate) fn close_endpoint(&self, endpoint: endpoints::Endpoint<R>) {
        let served = endpoint.close();
        let t = &self.totals;
        t.bytes_sent.fetch_add(served.bytes_sent, Ordering::Relaxed);
        t.bytes_received
            .fetch_add(served.bytes_received, Ordering::Relaxed);
        t.connections_served
            .fetch_add(served.served, Ordering::Relaxed);
        t.errors.fetch_add(served.refused, Ordering::Relaxed);
        t.connections_refused
            .fetch_add(served.refused, Ordering::Relaxed);
    }

    /// Closes an endpoint on a worker thread (closing waits). IRQL <= DISPATCH_LEVEL.
    pub(crate) fn close_endpoint_later(&'static self, endpoint: endpoints::Endpoint<R>) {
        let client = self.client.lock().clone();
        let Some(client) = client else {
            // No client means no socket: nothing in the endpoint waits on close.
            let _ = endpoint.close();
            return;
        };
        if let Err((_, endpoint)) = client.defer((self, endpoint), |(driver, endpoint)| {
            driver.close_endpoint(endpoint);
        }) {
            // No work item: leak the endpoint's sockets rather than block here.
            core::mem::forget(endpoint);
        }
    }

    /// Unload: closes every endpoint, then waits for every socket to close and every request
    /// the provider holds to complete, and releases the WSK registration (WSK's rule: the
    /// provider must not call into an unloaded image, so the wait has no end; it is logged
    /// after [`SHUTDOWN_TIMEOUT`]). True if everything closed within that time.
    pub fn shutdown(&self) -> bool {
        // Stop the timer first (dropping it waits for a tick in progress).
        let timer = self.timer.lock().take();
        drop(timer);
        while let Some(endpoint) = self.endpoints.remove_any() {
            self.close_endpoint(endpoint);
        }
        self.endpoints.release();
        let client = self.client.lock().take();
        client.is_none_or(|c| c.shutdown(SHUTDOWN_TIMEOUT))
    }
}
