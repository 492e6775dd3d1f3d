//! RESOLVE off the dispatch routine: a system worker thread ([`WskClient::defer`]) resolves
//! the name; the dispatch routine waits for it [`RESOLVE_DISPATCH_WAIT`] at most, and answers itself
//! when it has, else the request pends and the worker completes it.
//!
//! A resolution may wait seconds on a name server. In the dispatch routine that wait held
//! the caller's thread, uncancellable, and under Wine every caller of the driver (one thread
//! dispatches every request: docs/reliability.md, finding 7). A pended RESOLVE is completed at
//! once with `STATUS_CANCELLED` by a cancel or the closing of the caller's handle, and its
//! worker's resolution is cancelled (`AddressInfo::resolve_cancellable`: within 50 ms where
//! the provider cancels it, within about 1 s where it cannot, as under Wine); its result, if
//! any, is dropped. At most [`MAX_RESOLVES`] run at once, each holding a worker thread; one
//! more is refused with `STATUS_DEVICE_BUSY`.
//!
//! Why the quick ones are answered from the dispatch routine: Wine 8.0 frees a request
//! completed by another thread even when a cancel of it is already queued for its dispatch
//! thread, which then cancels freed memory and the driver host dies (docs/reliability.md,
//! finding 5). A request answered before its dispatch routine returns never has a cancel
//! queued, so only the slow resolutions are exposed, as pended data requests are.

use core::net::SocketAddr;
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;

use wsk::{AddressInfo, NtStatus, PoolArc, PoolBuffer, PoolEvent, SpinLock, WskClient};
use wskrs_protocol::{self as protocol, Resolve, RESOLVE_NAME_LEN, RESOLVE_SERVICE_LEN};

use crate::direct::PendingRequest;
use crate::ticket::{Sequence, Ticket};
use crate::{Caller, Driver, Requester};

/// RESOLVE requests whose worker may run at once (cancelled ones count until their worker
/// ends: they hold its thread).
pub const MAX_RESOLVES: usize = 16;

/// How long the dispatch routine waits for the worker's resolution before the request pends
/// (most end well within it: `localhost`, address literals, a name server that answers).
pub const RESOLVE_DISPATCH_WAIT: Duration = Duration::from_millis(50);

/// Distinct addresses a RESOLVE reply tracks for de-duplication (more are still reported).
const MAX_DISTINCT: usize = 32;

/// One RESOLVE whose worker runs: its number, its handle, the request until it is
/// completed by the worker or by a cancel, and what it shares with the worker.
struct Running<R> {
    sequence: Sequence,
    caller: Caller,
    request: Option<R>,
    handoff: PoolArc<Handoff>,
}

impl<R> Running<R> {
    /// Takes the request out to complete it with `STATUS_CANCELLED`, and tells the worker
    /// to stop its resolution.
    fn cancel(&mut self) -> Option<R> {
        self.handoff.cancelled.store(true, Ordering::Release);
        self.request.take()
    }
}

/// The RESOLVE requests whose worker runs.
pub(crate) struct Resolves<R> {
    slots: [Option<Running<R>>; MAX_RESOLVES],
}

impl<R> Resolves<R> {
    pub(crate) const fn new() -> Self {
        Self {
            slots: [const { None }; MAX_RESOLVES],
        }
    }

    fn find(&mut self, sequence: Sequence) -> Option<&mut Option<Running<R>>> {
        self.slots
            .iter_mut()
            .find(|slot| slot.as_ref().is_some_and(|r| r.sequence == sequence))
    }
}

/// Request text copied for the worker: the request's buffer belongs to the IRP.
struct Text<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Text<N> {
    fn copy(text: &str) -> Option<Self> {
        let mut bytes = [0; N];
        bytes
            .get_mut(..text.len())?
            .copy_from_slice(text.as_bytes());
        Some(Self {
            bytes,
            len: text.len(),
        })
    }

    fn as_str(&self) -> &str {
        self.bytes
            .get(..self.len)
            .and_then(|bytes| core::str::from_utf8(bytes).ok())
            .unwrap_or("")
    }
}

/// Who answers a RESOLVE: the dispatch routine, while it waits, or the worker.
enum Answer {
    /// The dispatch routine waits for the resolution.
    Waiting,
    /// The worker resolved while the dispatch routine waited: it answers.
    Resolved(wsk::Result<AddressInfo>),
    /// The dispatch routine stopped waiting: the worker answers.
    Pended,
}

/// What the dispatch routine and the worker share for one RESOLVE.
struct Handoff {
    /// Set by the worker when it left its resolution to the dispatch routine.
    resolved: PoolEvent,
    answer: SpinLock<Answer>,
    /// Set when the request was cancelled: the worker's resolution ends early
    /// (`AddressInfo::resolve_cancellable`).
    cancelled: AtomicBool,
}

/// What the worker needs to resolve and complete one request.
struct Job<R: PendingRequest> {
    driver: &'static Driver<R>,
    client: WskClient,
    handoff: PoolArc<Handoff>,
    sequence: Sequence,
    name: Text<RESOLVE_NAME_LEN>,
    service: Text<RESOLVE_SERVICE_LEN>,
    timeout_ms: u32,
    output_len: usize,
}

impl<R: PendingRequest> Driver<R> {
    /// RESOLVE: checks the request, pends it and hands it to a worker thread. IRQL:
    /// PASSIVE_LEVEL.
    pub(crate) fn start_resolve(
        &'static self,
        requester: &Requester,
        output_len: usize,
        mut request: R,
        resolve: &Resolve<'_>,
    ) -> Result<(), (R, NtStatus)> {
        if output_len < protocol::resolve_output_len(0) {
            return Err((request, protocol::ProtocolError::BufferTooSmall.status()));
        }
        if request.data().is_none_or(|b| b.len() < output_len) {
            return Err((request, NtStatus::INVALID_PARAMETER));
        }
        let (Some(name), Some(service)) = (Text::copy(resolve.name), Text::copy(resolve.service))
        else {
            return Err((request, NtStatus::INVALID_PARAMETER));
        };
        let client = match self.client() {
            Ok(client) => client,
            Err(status) => return Err((request, status)),
        };
        let handoff = match PoolEvent::try_new().and_then(|resolved| {
            PoolArc::try_new(Handoff {
                resolved,
                answer: SpinLock::new(Answer::Waiting),
                cancelled: AtomicBool::new(false),
            })
        }) {
            Ok(handoff) => handoff,
            Err(error) => return Err((request, error.into())),
        };
        let sequence = self.next_sequence();
        {
            let mut resolves = self.resolves.lock();
            let Some(slot) = resolves.slots.iter_mut().find(|slot| slot.is_none()) else {
                return Err((request, NtStatus::DEVICE_BUSY));
            };
            // Armed under the lock: a cancel right after waits for the request to be in its slot.
            if !request.arm_cancel(Ticket::Resolve(sequence)) {
                return Err((request, NtStatus::CANCELLED));
            }
            *slot = Some(Running {
                sequence,
                caller: requester.handle,
                request: Some(request),
                handoff: handoff.clone(),
            });
        }
        let job = Job {
            driver: self,
            client: client.clone(),
            handoff: handoff.clone(),
            sequence,
            name,
            service,
            timeout_ms: resolve.timeout_ms,
            output_len,
        };
        if client.defer(job, run_resolve::<R>).is_err() {
            if let Some(request) = self.finish_resolve(sequence) {
                request.complete(NtStatus::INSUFFICIENT_RESOURCES, 0);
            }
            return Ok(());
        }
        let _ = handoff.resolved.wait(RESOLVE_DISPATCH_WAIT);
        // Taken out under the lock, dropped (a provider call) after it.
        let answer = core::mem::replace(&mut *handoff.answer.lock(), Answer::Pended);
        if let Answer::Resolved(resolved) = answer {
            // `None`: a cancel (another thread, on Windows) completed it meanwhile.
            if let Some(request) = self.finish_resolve(sequence) {
                answer_resolve(request, resolved, output_len);
            }
        }
        Ok(())
    }

    /// Frees the slot of RESOLVE `sequence` (its worker ended); its request, unless a cancel
    /// completed it. IRQL <= DISPATCH_LEVEL.
    fn finish_resolve(&self, sequence: Sequence) -> Option<R> {
        // Taken out under the lock, dropped after it.
        let running = self.resolves.lock().find(sequence).and_then(Option::take);
        running.and_then(|running| running.request)
    }

    /// Completes RESOLVE `sequence` with `STATUS_CANCELLED` if it is not complete, and tells
    /// its worker to stop; the worker keeps the slot until it has. IRQL <= DISPATCH_LEVEL.
    pub(crate) fn cancel_resolve(&self, sequence: Sequence) {
        let request = self
            .resolves
            .lock()
            .find(sequence)
            .and_then(|slot| slot.as_mut())
            .and_then(Running::cancel);
        if let Some(request) = request {
            request.complete(NtStatus::CANCELLED, 0);
        }
    }

    /// Cancels every RESOLVE of `caller` (its handle is closing). IRQL <= DISPATCH_LEVEL.
    pub(crate) fn cancel_resolves_of(&self, caller: Caller) {
        loop {
            let request = self
                .resolves
                .lock()
                .slots
                .iter_mut()
                .flatten()
                .filter(|running| running.caller == caller && running.request.is_some())
                .find_map(Running::cancel);
            let Some(request) = request else {
                return;
            };
            request.complete(NtStatus::CANCELLED, 0);
        }
    }
}

/// The worker: resolves, then completes the request unless a cancel did. IRQL: PASSIVE_LEVEL.
fn run_resolve<R: PendingRequest>(job: Job<R>) {
    let Job {
        driver,
        client,
        handoff,
        sequence,
        name,
        service,
        timeout_ms,
        output_len,
    } = job;
    let service = Some(service.as_str()).filter(|s| !s.is_empty());
    let resolved = AddressInfo::resolve_cancellable(
        &client,
        name.as_str(),
        service,
        Duration::from_millis(u64::from(timeout_ms)),
        &handoff.cancelled,
    );
    let resolved = {
        let mut answer = handoff.answer.lock();
        if matches!(*answer, Answer::Waiting) {
            *answer = Answer::Resolved(resolved);
            None
        } else {
            Some(resolved)
        }
    };
    let Some(resolved) = resolved else {
        // The dispatch routine answers.
        handoff.resolved.set();
        return;
    };
    if let Some(request) = driver.finish_resolve(sequence) {
        answer_resolve(request, resolved, output_len);
    }
}

/// Completes a RESOLVE with its addresses or the resolution's failure. IRQL: PASSIVE_LEVEL.
fn answer_resolve<R: PendingRequest>(
    request: R,
    resolved: wsk::Result<AddressInfo>,
    output_len: usize,
) {
    let written = resolved
        .map_err(NtStatus::from)
        .and_then(|addresses| write_addresses(&request, &addresses, output_len));
    match written {
        Ok(information) => request.complete(NtStatus::SUCCESS, information),
        Err(status) => request.complete(status, 0),
    }
}

/// The addresses, each once (providers return one entry per socket type): the first
/// [`MAX_DISTINCT`] are de-duplicated, any after them reported as they come.
fn distinct(addresses: &AddressInfo) -> impl Iterator<Item = SocketAddr> + '_ {
    let mut seen: [Option<SocketAddr>; MAX_DISTINCT] = [None; MAX_DISTINCT];
    addresses.iter().filter(move |address| {
        if seen.contains(&Some(*address)) {
            return false;
        }
        if let Some(slot) = seen.iter_mut().find(|s| s.is_none()) {
            *slot = Some(*address);
        }
        true
    })
}

/// Writes the RESOLVE reply into the request's buffer (`output_len` bytes): as many
/// addresses as fit, and the count of all. Returns the bytes written. IRQL: PASSIVE_LEVEL.
fn write_addresses<R: PendingRequest>(
    request: &R,
    addresses: &AddressInfo,
    output_len: usize,
) -> Result<usize, NtStatus> {
    let needed = protocol::resolve_output_len(distinct(addresses).count());
    let mut scratch = PoolBuffer::try_new(needed.min(output_len)).map_err(NtStatus::from)?;
    let mut writer = protocol::ResolveWriter::new(scratch.as_mut_slice())
        .map_err(protocol::ProtocolError::status)?;
    for address in distinct(addresses) {
        let _ = writer.push(address);
    }
    let information = writer.finish();
    let bytes = scratch
        .as_slice()
        .get(..information)
        .ok_or(NtStatus::BUFFER_TOO_SMALL)?;
    let buffer = request.data().ok_or(NtStatus::INVALID_PARAMETER)?;
    buffer.write_at(0, bytes).map_err(NtStatus::from)?;
    Ok(information)
}
