//! Direct-I/O data requests (SEND, RECV, SEND_TO, RECV_FROM, TRANSACT): pended, cancellable,
//! with a deadline, and carried by the requester's locked pages straight to WSK.
//!
//! The shell hands each such request over as a [`PendingRequest`]. The core starts one WSK
//! request on the endpoint's [`IoSlot`] for its direction with the request's MDL (no copy) and
//! completes the user's request from the slot's completion. A cancel from the requester
//! reaches [`Driver::cancel`] through the [`Ticket`] the shell stored; deadlines are checked by
//! a periodic timer ([`Driver::tick`], every [`TICK`]). A provider that ignores cancellation
//! (Wine's netio) gets the endpoint's socket closed after [`CANCEL_GRACE_TICKS`], which
//! completes the request; the endpoint is then `broken`.
//!
//! One request per direction per endpoint is at the provider; up to [`QUEUE_DEPTH`] - 1 more
//! wait behind it in the endpoint's [`Queue`] and start, in the order issued, as each one
//! before them completes (from the completion, with no trip back to the client), so a client
//! can pipeline. One past that fails with `STATUS_DEVICE_BUSY`. A waiting request is
//! cancellable and times out like one in flight; closing the endpoint or its handle cancels
//! it. A failed send on a connection fails the sends waiting behind it with the same status
//! (their bytes would otherwise follow a gap in the stream). A send completes when the
//! transport took all its bytes, so a slow peer holds senders back (back-pressure) and the
//! driver buffers nothing.
//!
//! A TRANSACT is a send and then a receive in one user request: it waits and is sent in the
//! send direction like a SEND (its [`Stage::TransactSend`]); when its bytes are out, the
//! same request moves, under the table lock, to the end of the receive direction's queue
//! ([`Stage::TransactReceive`]) and receives its reply into the same buffer. Its ticket keeps
//! the send direction, so a cancel looks in both. RECV and TRANSACT exclude each other on an
//! endpoint (the reply is the TRANSACT's), and at most [`WAITING`] TRANSACTs are outstanding
//! per endpoint, so each finds room for its reply.
//!
//! No provider call is made with the endpoint table's lock held: a provider may complete
//! requests of this driver during the call (a loopback send completes the receiver's pended
//! receive in the sender's thread) or hold its own lock while it completes (Wine's netio),
//! and either deadlocks against a completion that takes the table's lock. A data request
//! takes its socket out of the table for the call ([`Launch`], [`Driver::launch`]); a request
//! of the other direction that meets the socket out waits in its queue and starts when the
//! socket is back, a blocking request waits for it, and a close or an escalation that finds
//! it out leaves the socket's close to the one bringing it back.

use core::net::SocketAddr;
use core::sync::atomic::Ordering;
use core::time::Duration;

use wsk::io::{CancelReason, IoHandler, IoSlot, MdlBuffer, Started, Transferred};
use wsk::{ConnectionSocket, DatagramSocket, NtStatus};
use wskrs_protocol::{self as protocol, EndpointId, ProtocolError, Request};

use crate::endpoints::{cancel_all, Borrowable, DirectSlots, Kind, Outcome, Table, WaitingAccept};
#[cfg(doc)]
use crate::queue::{Queue, QUEUE_DEPTH};
use crate::queue::{Queued, WAITING};
use crate::services::{AcceptSink, QueuedConnection};
use crate::ticket::{DataTicket, Direction, Sequence, Ticket};
use crate::{Caller, Driver, Requester};

/// Period of the deadline timer.
pub const TICK: Duration = Duration::from_millis(100);

/// Ticks a cancelled request may take to complete before its socket is closed under it.
pub(crate) const CANCEL_GRACE_TICKS: u64 = 10;

/// Most timed-out or stuck requests handled per lock hold in one tick.
const BATCH: usize = 16;

/// A data request the core completes later: the shell's IRP (or a test double).
///
/// The shell guarantees that the request's buffer stays valid until `complete`.
pub trait PendingRequest: Send + Sized + 'static {
    /// The request's locked data buffer (direct I/O), if it has one.
    fn data(&self) -> Option<MdlBuffer>;
    /// Makes the request cancellable: from now until `complete`, a cancel by the requester
    /// calls [`Driver::cancel`] with `ticket`. Returns false if it was already cancelled.
    /// IRQL <= DISPATCH_LEVEL.
    fn arm_cancel(&mut self, ticket: Ticket) -> bool;
    /// Completes the request (first making it non-cancellable). IRQL <= DISPATCH_LEVEL.
    fn complete(self, status: NtStatus, information: usize);
}

/// Which part of its work a data request does at the provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// SEND, RECV, SEND_TO, RECV_FROM: one provider request.
    Single,
    /// A TRANSACT sending its bytes; its reply (at most `reply` bytes) follows.
    TransactSend { reply: usize },
    /// A TRANSACT receiving its reply.
    TransactReceive,
}

impl Stage {
    pub(crate) const fn is_transact(self) -> bool {
        !matches!(self, Self::Single)
    }
}

/// A request at the provider, with the stage it is at (known even after its endpoint left
/// the table).
pub(crate) struct InFlight<R> {
    request: R,
    stage: Stage,
}

/// Who a pended request belongs to, which request it is, and when it times out.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pended {
    pub(crate) sequence: Sequence,
    pub(crate) caller: Caller,
    /// Tick at which the request times out.
    pub(crate) deadline: u64,
    /// Bytes of the caller's memory the request keeps locked (its output buffer).
    pub(crate) locked: usize,
}

/// Where an in-flight data request is. Changed only by the methods of [`PendingOp`].
#[derive(Clone, Copy, Debug)]
enum Phase {
    /// The provider call that starts it has not returned: no generation yet.
    Starting,
    /// The provider has it as `generation` of the direction's slot.
    Pending { generation: u32 },
    /// Cancelled for `reason` at tick `since`; `generation` once the provider has it. The
    /// completion is awaited; past the grace period the request is escalated.
    Cancelled {
        generation: Option<u32>,
        reason: CancelReason,
        since: u64,
    },
    /// Cancelled, not completed within the grace period: its socket is being closed, which
    /// completes it.
    Escalated,
}

/// What a direction has in flight.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PendingOp {
    pended: Pended,
    phase: Phase,
    /// RECV_FROM: the reply header goes in front of the data.
    with_header: bool,
    stage: Stage,
}

impl PendingOp {
    const fn starting(pended: Pended, with_header: bool, stage: Stage) -> Self {
        Self {
            pended,
            phase: Phase::Starting,
            with_header,
            stage,
        }
    }

    /// Whose request it is.
    pub(crate) const fn pended(&self) -> &Pended {
        &self.pended
    }

    /// Which part of a TRANSACT it is, if it is one.
    pub(crate) const fn stage(&self) -> Stage {
        self.stage
    }

    /// The status a cancelled request completes with (`None` while it is live), for a
    /// TRANSACT that must not go on to its reply.
    const fn cancelled_status(&self) -> Option<NtStatus> {
        match self.phase {
            Phase::Starting | Phase::Pending { .. } => None,
            Phase::Cancelled {
                reason: CancelReason::TimedOut,
                ..
            } => Some(NtStatus::IO_TIMEOUT),
            Phase::Cancelled { .. } | Phase::Escalated => Some(NtStatus::CANCELLED),
        }
    }

    /// Not cancelled yet (starting or pending).
    const fn is_live(&self) -> bool {
        matches!(self.phase, Phase::Starting | Phase::Pending { .. })
    }

    /// The provider took the request as `generation`. Returns the reason to cancel it with
    /// now if it was cancelled while starting.
    fn started(&mut self, generation: u32) -> Option<CancelReason> {
        match self.phase {
            Phase::Starting => {
                self.phase = Phase::Pending { generation };
                None
            }
            Phase::Cancelled {
                generation: None,
                reason,
                since,
            } => {
                self.phase = Phase::Cancelled {
                    generation: Some(generation),
                    reason,
                    since,
                };
                Some(reason)
            }
            Phase::Pending { .. } | Phase::Cancelled { .. } | Phase::Escalated => None,
        }
    }

    /// Cancels the request for `reason` at tick `now` (the first reason stays). Returns the
    /// generation to cancel at the provider, if it has the request: again for a request
    /// already cancelled, never for one escalated (closing its socket completes it).
    fn cancel(&mut self, reason: CancelReason, now: u64) -> Option<u32> {
        match self.phase {
            Phase::Starting => {
                self.phase = Phase::Cancelled {
                    generation: None,
                    reason,
                    since: now,
                };
                None
            }
            Phase::Pending { generation } => {
                self.phase = Phase::Cancelled {
                    generation: Some(generation),
                    reason,
                    since: now,
                };
                Some(generation)
            }
            Phase::Cancelled { generation, .. } => generation,
            Phase::Escalated => None,
        }
    }

    /// Escalates a request cancelled at least [`CANCEL_GRACE_TICKS`] before `now`; true if
    /// it did (its socket is to be closed).
    fn escalate_if_overdue(&mut self, now: u64) -> bool {
        match self.phase {
            Phase::Cancelled { since, .. } if now.saturating_sub(since) >= CANCEL_GRACE_TICKS => {
                self.phase = Phase::Escalated;
                true
            }
            _ => false,
        }
    }

    /// Its socket was closed to finish it.
    const fn is_escalated(&self) -> bool {
        matches!(self.phase, Phase::Escalated)
    }
}

/// The handler of an endpoint's slot: finishes the user's request.
pub(crate) struct DirectIo<R: PendingRequest> {
    driver: &'static Driver<R>,
    endpoint: EndpointId,
    direction: Direction,
}

impl<R: PendingRequest> IoHandler for DirectIo<R> {
    type Context = InFlight<R>;

    fn completed(&self, flight: InFlight<R>, result: wsk::Result<Transferred>) {
        self.driver
            .finish_direct(self.endpoint, self.direction, flight, result);
    }
}

/// The validated parts of a data request.
struct DataRequest {
    id: EndpointId,
    direction: Direction,
    timeout_ms: u32,
    /// Bytes to send or room to receive into.
    length: usize,
    remote: Option<SocketAddr>,
    /// RECV_FROM: the data goes after the 48-byte reply header.
    with_header: bool,
    stage: Stage,
}

fn data_request(request: &Request<'_>) -> Option<DataRequest> {
    let to_usize = |n: u32| usize::try_from(n).unwrap_or(usize::MAX);
    Some(match request {
        Request::Send(s) => DataRequest {
            id: s.id,
            direction: Direction::Send,
            timeout_ms: s.timeout_ms,
            length: to_usize(s.length),
            remote: None,
            with_header: false,
            stage: Stage::Single,
        },
        Request::Recv(r) => DataRequest {
            id: r.id,
            direction: Direction::Receive,
            timeout_ms: r.timeout_ms,
            length: to_usize(r.max_length),
            remote: None,
            with_header: false,
            stage: Stage::Single,
        },
        Request::SendTo(s) => DataRequest {
            id: s.id,
            direction: Direction::Send,
            timeout_ms: s.timeout_ms,
            length: to_usize(s.length),
            remote: Some(s.remote),
            with_header: false,
            stage: Stage::Single,
        },
        Request::RecvFrom(r) => DataRequest {
            id: r.id,
            direction: Direction::Receive,
            timeout_ms: r.timeout_ms,
            length: to_usize(r.max_length),
            remote: None,
            with_header: true,
            stage: Stage::Single,
        },
        Request::Transact(t) => DataRequest {
            id: t.id,
            direction: Direction::Send,
            timeout_ms: t.timeout_ms,
            length: to_usize(t.length),
            remote: None,
            with_header: false,
            stage: Stage::TransactSend {
                reply: to_usize(t.max_reply),
            },
        },
        _ => return None,
    })
}

/// Ticks until a deadline `timeout_ms` from now (rounded up, plus the tick in progress).
fn ticks_for(timeout_ms: u32) -> u64 {
    let tick_ms = u64::try_from(TICK.as_millis()).unwrap_or(100).max(1);
    u64::from(timeout_ms).div_ceil(tick_ms).saturating_add(1)
}

impl<R: PendingRequest> Driver<R> {
    /// Handles a direct-I/O request (SEND, RECV, SEND_TO, RECV_FROM, ACCEPT, TRANSACT): the
    /// request is always
    /// completed, now or later, through [`PendingRequest::complete`]. The shell marks it
    /// pending before the call and returns `STATUS_PENDING`. IRQL: PASSIVE_LEVEL.
    pub fn direct(
        &'static self,
        caller: Caller,
        code: u32,
        input: &[u8],
        output_len: usize,
        request: R,
    ) {
        let requester = self.requester(caller);
        match self.start_direct(&requester, code, input, output_len, request) {
            Ok(()) => {}
            // Refused before any I/O: not an endpoint error (as for buffered requests).
            Err((request, status)) => request.complete(status, 0),
        }
    }

    #[allow(clippy::too_many_lines, reason = "one request's start, in order")]
    fn start_direct(
        &'static self,
        requester: &Requester,
        code: u32,
        input: &[u8],
        output_len: usize,
        mut request: R,
    ) -> Result<(), (R, NtStatus)> {
        let parsed = match protocol::parse_request(code, input) {
            Ok(parsed) => parsed,
            Err(e) => return Err((request, e.status())),
        };
        if let Request::Accept(accept) = parsed {
            return self.start_accept(requester, output_len, request, accept);
        }
        if let Request::Resolve(resolve) = parsed {
            return self.start_resolve(requester, output_len, request, &resolve);
        }
        let Some(expected) = protocol::direct_output_len(&parsed) else {
            return Err((request, NtStatus::INVALID_DEVICE_REQUEST));
        };
        let Some(data) = data_request(&parsed) else {
            return Err((request, NtStatus::INVALID_DEVICE_REQUEST));
        };
        if output_len != expected {
            return Err((request, NtStatus::INVALID_PARAMETER));
        }
        if request.data().is_none_or(|b| b.len() < expected) {
            return Err((request, NtStatus::INVALID_PARAMETER));
        }
        let pended = self.pended(requester.handle, data.timeout_ms, output_len);
        let ticket = Ticket::Data(DataTicket {
            endpoint: data.id,
            direction: data.direction,
            sequence: pended.sequence,
        });

        let mut table = self.endpoints.inner.lock();
        if let Err(status) = table.find(requester, data.id).map(|_| ()) {
            return Err((request, status));
        }
        if let Err(status) = self.check_pended_quota(&table, &pended) {
            return Err((request, status));
        }
        let endpoint = match table.find(requester, data.id) {
            Ok(endpoint) => endpoint,
            Err(status) => return Err((request, status)),
        };
        let (has_socket, io) = match &mut endpoint.kind {
            Kind::Connection { socket, io } if data.remote.is_none() && !data.with_header => {
                (socket.is_some(), io)
            }
            Kind::Datagram { socket, io } if data.remote.is_some() || data.with_header => {
                (socket.is_some(), io)
            }
            _ => return Err((request, NtStatus::INVALID_DEVICE_STATE)),
        };
        if io.closed {
            return Err((request, NtStatus::FILE_FORCED_CLOSED));
        }
        // Out for a blocking request (DISCONNECT, an option): busy. Out for another data
        // request's provider call, it is back in a moment: wait.
        if !has_socket && !io.launching {
            return Err((request, NtStatus::DEVICE_BUSY));
        }
        if let Err(status) = io.admits(data.direction, data.stage) {
            return Err((request, status));
        }
        let slot = match self.slot(io.slot_mut(data.direction), data.id, data.direction) {
            Ok(slot) => slot,
            Err(status) => return Err((request, status)),
        };
        if data.stage.is_transact() {
            // Its reply needs the receive direction's slot when the send is done.
            if let Err(status) =
                self.slot(io.slot_mut(Direction::Receive), data.id, Direction::Receive)
            {
                return Err((request, status));
            }
        }
        let waits = io.launching
            || io.pending_mut(data.direction).is_some()
            || !io.queue_mut(data.direction).is_empty();
        if waits && io.queue_mut(data.direction).is_full() {
            return Err((request, NtStatus::DEVICE_BUSY));
        }
        if !request.arm_cancel(ticket) {
            return Err((request, NtStatus::CANCELLED));
        }
        let queued = Queued {
            pended,
            request,
            length: data.length,
            remote: data.remote,
            with_header: data.with_header,
            stage: data.stage,
        };
        if waits {
            // Behind the one in flight (or the socket's provider call): started when its
            // turn comes (see `advance`).
            let refused = io.queue_mut(data.direction).push(queued);
            drop(table);
            if let Err((refused, status)) = refused {
                refused.request.complete(status, 0);
            }
            return Ok(());
        }
        let launch = Launch::prepare(&mut endpoint.kind, slot, data.direction, queued);
        drop(table);
        match launch {
            Ok(launch) => {
                if self.launch(data.id, launch) {
                    self.advance(data.id);
                }
            }
            Err(queued) => queued.request.complete(NtStatus::DEVICE_BUSY, 0),
        }
        Ok(())
    }

    /// Starts the requests waiting on `id`, in both directions, oldest first in each, until
    /// each direction has one in flight or none waits (or the socket is out for a blocking
    /// request: its return calls this again). IRQL <= DISPATCH_LEVEL.
    pub(crate) fn advance(&'static self, id: EndpointId) {
        let mut first = Direction::Send;
        loop {
            let next = {
                let mut table = self.endpoints.inner.lock();
                let Some(endpoint) = table.find_any(id) else {
                    return;
                };
                [first, first.other()]
                    .into_iter()
                    .find_map(|direction| Launch::next(&mut endpoint.kind, direction))
            };
            let Some(launch) = next else {
                return;
            };
            // The other direction's turn first next time round.
            first = launch.direction.other();
            if !self.launch(id, launch) {
                return;
            }
        }
    }

    /// Makes a prepared request's provider call with the table's lock released (a provider
    /// may complete requests of this driver during the call, which take that lock), brings
    /// the socket back (or closes it, if its endpoint closed or an escalation came for it
    /// meanwhile), and finishes the request if the provider finished it during the call.
    /// Returns true if something may wait to be started ([`Driver::advance`]).
    /// IRQL <= DISPATCH_LEVEL.
    fn launch(&'static self, id: EndpointId, launch: Launch<R>) -> bool {
        let Launch {
            slot,
            socket,
            direction,
            sequence,
            length,
            remote,
            with_header,
            flight,
        } = launch;
        let started = start_io(
            &slot,
            socket.target(),
            direction,
            length,
            remote,
            with_header,
            flight,
        );
        let mut cancel_now = None;
        let mut waiting = false;
        let orphan = {
            let mut table = self.endpoints.inner.lock();
            match table.find_any(id) {
                // Closed meanwhile: the close left the socket to us.
                None => Some(socket),
                Some(endpoint) => {
                    let close = endpoint.kind.is_closed();
                    if let Some(io) = endpoint.kind.io_mut() {
                        io.launching = false;
                        waiting = io.queued.iter().any(|queue| !queue.is_empty());
                        if let Started::Pending { generation } = started {
                            if let Some(op) = io
                                .pending_mut(direction)
                                .as_mut()
                                .filter(|op| op.pended.sequence == sequence)
                            {
                                // A cancel that came before the provider had the request.
                                cancel_now =
                                    op.started(generation).map(|reason| (generation, reason));
                            }
                        }
                    }
                    if close {
                        Some(socket)
                    } else {
                        socket.put(&mut endpoint.kind)
                    }
                }
            }
        };
        if let Some(orphan) = orphan {
            // Closing completes the request in flight; this may be DISPATCH_LEVEL.
            orphan.close_later();
        }
        match started {
            Started::Pending { .. } => {
                if let Some((generation, reason)) = cancel_now {
                    slot.cancel(generation, reason);
                }
                waiting
            }
            Started::Done(flight, result) => {
                self.complete_direct(id, direction, flight, result);
                true
            }
        }
    }

    /// `STATUS_QUOTA_EXCEEDED` if `new` would take its handle past its quota of pended
    /// requests or of locked bytes. Called under the table lock, where requests are added.
    fn check_pended_quota(&self, table: &Table<R>, new: &Pended) -> Result<(), NtStatus> {
        let (count, locked) = table.pended_by(new.caller);
        let locked = locked.saturating_add(new.locked);
        let quotas = self.limits().quotas;
        if count >= quotas.pended || locked > quotas.locked_bytes {
            return Err(NtStatus::QUOTA_EXCEEDED);
        }
        Ok(())
    }

    /// The next request number (tickets). IRQL: any.
    pub(crate) fn next_sequence(&self) -> Sequence {
        Sequence(
            self.sequence
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_add(1),
        )
    }

    /// Numbers a new request of `caller` that locks `locked` bytes and sets its deadline
    /// `timeout_ms` from now. IRQL <= DISPATCH_LEVEL.
    fn pended(&self, caller: Caller, timeout_ms: u32, locked: usize) -> Pended {
        Pended {
            sequence: self.next_sequence(),
            caller,
            locked,
            deadline: self
                .ticks
                .load(Ordering::Acquire)
                .saturating_add(ticks_for(timeout_ms)),
        }
    }

    /// ACCEPT: hands over a queued connection now, or parks the request on the listener until
    /// one arrives, it is cancelled, or its deadline passes.
    fn start_accept(
        &'static self,
        requester: &Requester,
        output_len: usize,
        mut request: R,
        accept: protocol::Accept,
    ) -> Result<(), (R, NtStatus)> {
        if output_len != core::mem::size_of::<protocol::EndpointReply>() {
            return Err((request, NtStatus::INVALID_PARAMETER));
        }
        if request.data().is_none_or(|b| b.len() < output_len) {
            return Err((request, NtStatus::INVALID_PARAMETER));
        }
        let pended = self.pended(requester.handle, accept.timeout_ms, output_len);
        let ticket = Ticket::Data(DataTicket {
            endpoint: accept.id,
            direction: Direction::Receive,
            sequence: pended.sequence,
        });
        let mut table = self.endpoints.inner.lock();
        if let Err(status) = table.find(requester, accept.id).map(|_| ()) {
            return Err((request, status));
        }
        if let Err(status) = self.check_pended_quota(&table, &pended) {
            return Err((request, status));
        }
        let endpoint = match table.find(requester, accept.id) {
            Ok(endpoint) => endpoint,
            Err(status) => return Err((request, status)),
        };
        let local = endpoint.local();
        let Kind::Listener {
            service: protocol::Service::None,
            listener,
            waiting,
        } = &mut endpoint.kind
        else {
            return Err((request, NtStatus::INVALID_DEVICE_STATE));
        };
        if waiting.is_some() {
            return Err((request, NtStatus::DEVICE_BUSY));
        }
        if let Some(queued) = listener.pop_queued() {
            drop(table);
            self.hand_over(request, *requester, accept.detach, local, queued);
            return Ok(());
        }
        // Nothing will arrive on a listener that stopped accepting: its failure, at once.
        if let Some(status) = listener.failure() {
            return Err((request, status));
        }
        if !request.arm_cancel(ticket) {
            return Err((request, NtStatus::CANCELLED));
        }
        *waiting = Some(WaitingAccept {
            pended,
            request,
            detach: accept.detach,
            identity: requester.identity,
        });
        Ok(())
    }

    /// Makes `queued` a connection endpoint of `requester` and completes the ACCEPT with it.
    /// IRQL <= DISPATCH_LEVEL.
    fn hand_over(
        &'static self,
        request: R,
        requester: Requester,
        detach: bool,
        local: Option<SocketAddr>,
        queued: QueuedConnection,
    ) {
        let remote = queued.remote.unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
        let endpoint =
            crate::endpoints::Endpoint::connection(requester, detach, local, remote, queued.socket);
        // A parked ACCEPT is handed its connection from the accept completion, possibly at
        // DISPATCH_LEVEL: a refused endpoint is closed on a worker thread.
        let id = match self.insert_or(endpoint, |rejected| self.close_endpoint_later(rejected)) {
            Ok(id) => id,
            Err(status) => {
                self.totals.errors.fetch_add(1, Ordering::Relaxed);
                request.complete(status, 0);
                return;
            }
        };
        let mut reply = [0u8; core::mem::size_of::<protocol::EndpointReply>()];
        let written = write_reply(&request, &mut reply, |out| {
            protocol::write_endpoint(out, id, protocol::KIND_TCP_CONNECTION, local, queued.remote)
        });
        match written {
            Ok(information) => request.complete(NtStatus::SUCCESS, information),
            Err(status) => {
                // The user never learns the id: do not leave the connection behind.
                if let Ok(endpoint) = self.endpoints.remove(&requester, id) {
                    self.close_endpoint_later(endpoint);
                }
                request.complete(status, 0);
            }
        }
    }

    /// The endpoint's slot for `direction`, created on first use.
    fn slot(
        &'static self,
        slot: &mut Option<IoSlot<DirectIo<R>>>,
        endpoint: EndpointId,
        direction: Direction,
    ) -> Result<IoSlot<DirectIo<R>>, NtStatus> {
        if let Some(existing) = slot {
            return Ok(existing.clone());
        }
        let created = IoSlot::new(DirectIo {
            driver: self,
            endpoint,
            direction,
        })
        .map_err(NtStatus::from)?;
        *slot = Some(created.clone());
        Ok(created)
    }

    /// Completes a finished data request and records it, then starts the next one waiting.
    /// IRQL <= DISPATCH_LEVEL.
    fn finish_direct(
        &'static self,
        id: EndpointId,
        direction: Direction,
        flight: InFlight<R>,
        result: wsk::Result<Transferred>,
    ) {
        self.complete_direct(id, direction, flight, result);
        self.advance(id);
    }

    /// Completes a finished data request and records it; a failed send on a connection
    /// fails the sends waiting behind it too. A TRANSACT whose bytes went out is not
    /// completed but queued for its reply (which [`Driver::advance`] starts).
    /// IRQL <= DISPATCH_LEVEL.
    #[allow(clippy::too_many_lines, reason = "one completion, in order")]
    fn complete_direct(
        &self,
        id: EndpointId,
        direction: Direction,
        flight: InFlight<R>,
        result: wsk::Result<Transferred>,
    ) {
        let InFlight { request, stage } = flight;
        let mut request = Some(request);
        let mut with_header = false;
        // A TRANSACT that sent its bytes but will not receive its reply completes with this.
        let mut stopped = NtStatus::CANCELLED;
        let mut behind: [Option<Queued<R>>; WAITING] = [const { None }; WAITING];
        {
            let mut table = self.endpoints.inner.lock();
            if let Some(endpoint) = table.find_any(id) {
                let mut escalated = false;
                let mut taken = None;
                if let (Kind::Connection { io, .. }, Direction::Send, Err(_)) =
                    (&mut endpoint.kind, direction, &result)
                {
                    for place in &mut behind {
                        *place = io.queue_mut(Direction::Send).pop_front();
                    }
                }
                if let Some(io) = endpoint.kind.io_mut() {
                    if let Some(op) = io.pending_mut(direction).take() {
                        with_header = op.with_header;
                        escalated = op.is_escalated();
                        taken = Some(op);
                    }
                }
                if let (Stage::TransactSend { reply }, Ok(_), Some(op)) = (stage, &result, taken) {
                    if let Some(status) = op.cancelled_status() {
                        stopped = status;
                    } else if let (Some(io), Some(transact)) =
                        (endpoint.kind.io_mut(), request.take())
                    {
                        // Its reply is the next thing this endpoint receives for it.
                        let queued = Queued {
                            pended: op.pended,
                            request: transact,
                            length: reply,
                            remote: None,
                            with_header: false,
                            stage: Stage::TransactReceive,
                        };
                        if let Err((refused, status)) =
                            io.queue_mut(Direction::Receive).push(queued)
                        {
                            request = Some(refused.request);
                            stopped = status;
                        }
                    }
                }
                let socket_open = !escalated;
                let moved = result.as_ref().map_or(0, |t| t.bytes);
                let outcome = match direction {
                    Direction::Send => Outcome {
                        sent: moved,
                        send_ops: 1,
                        ..Outcome::failed(&result)
                    },
                    Direction::Receive => Outcome {
                        received: moved,
                        recv_ops: 1,
                        peer_closed: result.as_ref().is_ok_and(|t| t.bytes == 0) && !with_header,
                        ..Outcome::failed(&result)
                    },
                };
                endpoint.record(outcome, socket_open);
            }
        }
        let moved = result.as_ref().map_or(0, |t| t.bytes) as u64;
        match direction {
            Direction::Send => self.totals.bytes_sent.fetch_add(moved, Ordering::Relaxed),
            Direction::Receive => self
                .totals
                .bytes_received
                .fetch_add(moved, Ordering::Relaxed),
        };
        let Some(request) = request else {
            return;
        };
        let transferred = match result {
            Ok(t) => t,
            Err(e) => {
                self.totals.errors.fetch_add(1, Ordering::Relaxed);
                request.complete(e.status(), 0);
                for queued in behind.into_iter().flatten() {
                    queued.request.complete(e.status(), 0);
                }
                return;
            }
        };
        if let Stage::TransactSend { .. } = stage {
            // Sent, but cancelled, timed out or closed before its reply: never a success
            // (the client would take its own request for the reply).
            request.complete(stopped, 0);
            return;
        }
        if !with_header {
            request.complete(NtStatus::SUCCESS, transferred.bytes);
            return;
        }
        // RECV_FROM: the reply header goes in front of the datagram, in the same buffer.
        let mut header = [0u8; core::mem::size_of::<protocol::RecvFromReply>()];
        let length = u32::try_from(transferred.bytes).unwrap_or(u32::MAX);
        let written = write_reply(&request, &mut header, |out| {
            protocol::write_recv_from_header(out, length, transferred.remote)
        });
        match written {
            Ok(information) => request.complete(NtStatus::SUCCESS, information),
            Err(status) => request.complete(status, 0),
        }
    }

    /// The requester cancelled the request `ticket` names (the shell's cancel routine).
    /// IRQL <= DISPATCH_LEVEL.
    pub fn cancel(&self, ticket: Ticket) {
        match ticket {
            Ticket::Data(ticket) => self.cancel_data(ticket),
            Ticket::Resolve(sequence) => self.cancel_resolve(sequence),
        }
    }

    fn cancel_data(&self, ticket: DataTicket) {
        let now = self.ticks.load(Ordering::Acquire);
        let target = {
            let mut table = self.endpoints.inner.lock();
            if let Some(Kind::Listener { waiting, .. }) =
                table.find_any(ticket.endpoint).map(|e| &mut e.kind)
            {
                let parked = waiting.take_if(|w| w.pended.sequence == ticket.sequence);
                drop(table);
                if let Some(parked) = parked {
                    parked.request.complete(NtStatus::CANCELLED, 0);
                }
                return;
            }
            let Some(io) = direct_slots(&mut table, ticket.endpoint) else {
                return;
            };
            // A TRANSACT's ticket says Send also while it receives its reply.
            let mut found = None;
            for direction in [ticket.direction, ticket.direction.other()] {
                let waiting = io
                    .queue_mut(direction)
                    .take_where(|pended| pended.sequence == ticket.sequence);
                if let Some(waiting) = waiting {
                    // Not started yet: nothing at the provider to cancel.
                    drop(table);
                    waiting.request.complete(NtStatus::CANCELLED, 0);
                    return;
                }
                let slot = io.slot_mut(direction).clone();
                if let Some(op) = io
                    .pending_mut(direction)
                    .as_mut()
                    .filter(|op| op.pended.sequence == ticket.sequence)
                {
                    // Without a generation the provider call is still running: the starter
                    // cancels.
                    found = op.cancel(CancelReason::Cancelled, now).zip(slot);
                    break;
                }
            }
            found
        };
        if let Some((generation, slot)) = target {
            slot.cancel(generation, CancelReason::Cancelled);
        }
    }

    /// Cancels every data request `caller` has in flight (its handle is closing).
    /// IRQL <= DISPATCH_LEVEL.
    pub(crate) fn cancel_requests_of(&self, caller: Caller) {
        self.cancel_resolves_of(caller);
        self.sweep(|pended, _| (pended.caller == caller).then_some(CancelReason::Cancelled));
        self.expire_accepts(|pended, _| pended.caller == caller, NtStatus::CANCELLED);
    }

    /// Completes, with `status`, the parked ACCEPTs that `pick` selects.
    fn expire_accepts(&self, pick: impl Fn(&Pended, u64) -> bool, status: NtStatus) {
        let now = self.ticks.load(Ordering::Acquire);
        loop {
            let mut batch: [Option<R>; BATCH] = [const { None }; BATCH];
            let mut used = 0;
            {
                let mut table = self.endpoints.inner.lock();
                for endpoint in table.slots.iter_mut().flatten() {
                    if used >= BATCH {
                        break;
                    }
                    if let Kind::Listener { waiting, .. } = &mut endpoint.kind {
                        if let Some(parked) = waiting.take_if(|w| pick(&w.pended, now)) {
                            if let Some(place) = batch.get_mut(used) {
                                *place = Some(parked.request);
                                used = used.saturating_add(1);
                            }
                        }
                    }
                }
            }
            for request in batch.iter_mut().filter_map(Option::take) {
                request.complete(status, 0);
            }
            if used < BATCH {
                return;
            }
        }
    }

    /// The deadline timer's tick: times out overdue requests and closes the sockets of
    /// cancelled requests that a provider did not finish in time. IRQL: DISPATCH_LEVEL.
    pub(crate) fn tick(&'static self) {
        self.ticks.fetch_add(1, Ordering::AcqRel);
        self.sweep(|pended, now| (pended.deadline <= now).then_some(CancelReason::TimedOut));
        self.expire_accepts(|pended, now| pended.deadline <= now, NtStatus::IO_TIMEOUT);
        self.escalate();
    }

    /// Cancels (outside the table lock) the in-flight requests not yet cancelled that `pick`
    /// selects.
    fn sweep(&self, pick: impl Fn(&Pended, u64) -> Option<CancelReason>) {
        let now = self.ticks.load(Ordering::Acquire);
        let mut start = 0;
        loop {
            let mut batch: [Option<CancelTarget<R>>; BATCH] = [const { None }; BATCH];
            let mut used = 0;
            let mut waiting: [Option<(R, NtStatus)>; BATCH] = [const { None }; BATCH];
            let mut used_waiting = 0;
            let mut resume = None;
            {
                let mut table = self.endpoints.inner.lock();
                'scan: for (index, entry) in table.slots.iter_mut().enumerate().skip(start) {
                    let Some(io) = entry.as_mut().and_then(|e| e.kind.io_mut()) else {
                        continue;
                    };
                    for direction in [Direction::Send, Direction::Receive] {
                        // Waiting ones first: cancelling one in flight may start the next.
                        loop {
                            if used_waiting >= BATCH {
                                resume = Some(index);
                                break 'scan;
                            }
                            let Some(queued) = io
                                .queue_mut(direction)
                                .take_where(|pended| pick(pended, now).is_some())
                            else {
                                break;
                            };
                            let status = match pick(&queued.pended, now) {
                                Some(CancelReason::TimedOut) => NtStatus::IO_TIMEOUT,
                                _ => NtStatus::CANCELLED,
                            };
                            if let Some(place) = waiting.get_mut(used_waiting) {
                                *place = Some((queued.request, status));
                                used_waiting = used_waiting.saturating_add(1);
                            }
                        }
                        let slot = io.slot_mut(direction).clone();
                        let Some(op) = io.pending_mut(direction).as_mut().filter(|op| op.is_live())
                        else {
                            continue;
                        };
                        let Some(reason) = pick(&op.pended, now) else {
                            continue;
                        };
                        if used >= BATCH {
                            resume = Some(index);
                            break 'scan;
                        }
                        if let (Some(generation), Some(slot)) = (op.cancel(reason, now), slot) {
                            if let Some(place) = batch.get_mut(used) {
                                *place = Some((slot, generation, reason));
                                used = used.saturating_add(1);
                            }
                        }
                    }
                }
            }
            for (request, status) in waiting.iter_mut().filter_map(Option::take) {
                request.complete(status, 0);
            }
            for (slot, generation, reason) in batch.iter_mut().filter_map(Option::take) {
                slot.cancel(generation, reason);
            }
            match resume {
                Some(index) => start = index,
                None => return,
            }
        }
    }

    /// Closes, on a worker thread, the socket of each endpoint with a request cancelled more
    /// than the grace period ago and still in flight (its provider ignores cancellation).
    fn escalate(&'static self) {
        let now = self.ticks.load(Ordering::Acquire);
        let mut stuck: [Option<EndpointId>; BATCH] = [None; BATCH];
        let mut used = 0;
        {
            let mut table = self.endpoints.inner.lock();
            for endpoint in table.slots.iter_mut().flatten() {
                let id = endpoint.id();
                let Some(io) = endpoint.kind.io_mut() else {
                    continue;
                };
                let mut hit = false;
                for direction in [Direction::Send, Direction::Receive] {
                    if let Some(op) = io.pending_mut(direction).as_mut() {
                        hit |= op.escalate_if_overdue(now);
                    }
                }
                if hit {
                    if let Some(place) = stuck.get_mut(used) {
                        *place = Some(id);
                        used = used.saturating_add(1);
                    }
                }
                if used >= BATCH {
                    break;
                }
            }
        }
        if used == 0 {
            return;
        }
        let Some(client) = self.client.lock().clone() else {
            return;
        };
        for id in stuck.into_iter().flatten() {
            let _ = client.defer((self, id), |(driver, id)| driver.close_socket_of(id));
        }
    }

    /// Closes an endpoint's socket (not the endpoint) so that the provider completes what is
    /// in flight; the endpoint stays, `broken`, until CLOSE. IRQL: PASSIVE_LEVEL.
    fn close_socket_of(&self, id: EndpointId) {
        let taken = {
            let mut table = self.endpoints.inner.lock();
            let Some(endpoint) = table.find_any(id) else {
                return;
            };
            endpoint.mark_broken();
            let waiting = endpoint.kind.io_mut().map(DirectSlots::drain_queued);
            let connection = ConnectionSocket::take(&mut endpoint.kind).ok();
            let datagram = DatagramSocket::take(&mut endpoint.kind).ok();
            // Closed now, or (out for a provider call or a blocking request) when it comes back.
            if let Some(io) = endpoint.kind.io_mut() {
                io.closed = true;
            }
            (connection, datagram, waiting)
        };
        let (connection, datagram, waiting) = taken;
        // Dropping closes (PASSIVE_LEVEL, bounded); pending requests complete meanwhile, and
        // the ones waiting behind them after.
        drop((connection, datagram));
        cancel_all(waiting.into_iter().flatten());
    }
}

/// The socket a data request runs on.
enum Target<'a> {
    Tcp(&'a ConnectionSocket),
    Udp(&'a DatagramSocket),
}

/// A user-driven endpoint's socket, out of the table for a data request's provider call.
enum Lent {
    Tcp(ConnectionSocket),
    Udp(DatagramSocket),
}

impl Lent {
    /// Takes the socket of a user-driven endpoint out, with the endpoint's requests.
    fn take<R: PendingRequest>(kind: &mut Kind<R>) -> Option<(Self, &mut DirectSlots<R>)> {
        match kind {
            Kind::Connection { socket, io } => Some((Self::Tcp(socket.take()?), io)),
            Kind::Datagram { socket, io } => Some((Self::Udp(socket.take()?), io)),
            _ => None,
        }
    }

    /// Puts it back; returns it if `kind` has no place for it.
    fn put<R: PendingRequest>(self, kind: &mut Kind<R>) -> Option<Self> {
        match self {
            Self::Tcp(socket) => socket.put(kind).map(Self::Tcp),
            Self::Udp(socket) => socket.put(kind).map(Self::Udp),
        }
    }

    fn target(&self) -> Target<'_> {
        match self {
            Self::Tcp(socket) => Target::Tcp(socket),
            Self::Udp(socket) => Target::Udp(socket),
        }
    }

    /// Closes it on a worker thread. IRQL <= DISPATCH_LEVEL.
    fn close_later(self) {
        match self {
            Self::Tcp(socket) => socket.close_later(),
            Self::Udp(socket) => socket.close_later(),
        }
    }
}

/// A data request about to be started: in flight in its direction (starting), its socket
/// out of the table ([`DirectSlots::launching`]) until
/// [`Driver::launch`] brings it back.
struct Launch<R: PendingRequest> {
    slot: IoSlot<DirectIo<R>>,
    socket: Lent,
    direction: Direction,
    sequence: Sequence,
    length: usize,
    remote: Option<SocketAddr>,
    with_header: bool,
    flight: InFlight<R>,
}

impl<R: PendingRequest> Launch<R> {
    /// Under the table lock: makes `queued` the request in flight in `direction` of the
    /// endpoint of `kind` and takes the socket out for its provider call. Gives `queued`
    /// back if the endpoint has no socket.
    fn prepare(
        kind: &mut Kind<R>,
        slot: IoSlot<DirectIo<R>>,
        direction: Direction,
        queued: Queued<R>,
    ) -> Result<Self, Queued<R>> {
        match Lent::take(kind) {
            Some((socket, io)) => Ok(Self::with(io, socket, slot, direction, queued)),
            None => Err(queued),
        }
    }

    /// Under the table lock: the next request waiting in `direction` of the endpoint of
    /// `kind`, prepared, if it may start (nothing in flight there, the socket home).
    fn next(kind: &mut Kind<R>, direction: Direction) -> Option<Self> {
        let io = kind.io_mut()?;
        if io.launching || io.pending_mut(direction).is_some() || io.queue_mut(direction).is_empty()
        {
            return None;
        }
        let slot = io.slot_mut(direction).clone()?;
        let (socket, io) = Lent::take(kind)?;
        let Some(queued) = io.queue_mut(direction).pop_front() else {
            // Not reached (the queue is not empty): the socket goes home.
            if let Some(socket) = socket.put(kind) {
                socket.close_later();
            }
            return None;
        };
        Some(Self::with(io, socket, slot, direction, queued))
    }

    fn with(
        io: &mut DirectSlots<R>,
        socket: Lent,
        slot: IoSlot<DirectIo<R>>,
        direction: Direction,
        queued: Queued<R>,
    ) -> Self {
        let Queued {
            pended,
            request,
            length,
            remote,
            with_header,
            stage,
        } = queued;
        *io.pending_mut(direction) = Some(PendingOp::starting(pended, with_header, stage));
        io.launching = true;
        Self {
            slot,
            socket,
            direction,
            sequence: pended.sequence,
            length,
            remote,
            with_header,
            flight: InFlight { request, stage },
        }
    }
}

/// Starts a validated data request on `slot` with the request's own buffer.
/// IRQL <= DISPATCH_LEVEL.
fn start_io<R: PendingRequest>(
    slot: &IoSlot<DirectIo<R>>,
    target: Target<'_>,
    direction: Direction,
    length: usize,
    remote: Option<SocketAddr>,
    with_header: bool,
    request: InFlight<R>,
) -> Started<InFlight<R>> {
    // A TRANSACT sends from, and receives into, the start of the same buffer.
    let Some(buffer) = request.request.data() else {
        return Started::Done(request, Err(wsk::Error::new(NtStatus::INVALID_PARAMETER)));
    };
    let offset = if with_header {
        core::mem::size_of::<protocol::RecvFromReply>()
    } else {
        0
    };
    match (target, direction, remote) {
        (Target::Tcp(socket), Direction::Send, _) => slot.send(socket, &buffer, length, 0, request),
        (Target::Tcp(socket), Direction::Receive, _) => {
            slot.receive(socket, &buffer, length, 0, request)
        }
        (Target::Udp(socket), Direction::Send, Some(remote)) => {
            slot.send_to(socket, &buffer, length, remote, request)
        }
        (Target::Udp(socket), Direction::Receive, _) => {
            slot.receive_from(socket, &buffer, offset, length, request)
        }
        (Target::Udp(_), Direction::Send, None) => Started::Done(
            request,
            Err(wsk::Error::new(NtStatus::INVALID_DEVICE_REQUEST)),
        ),
    }
}

/// An in-flight request to cancel: its slot, generation and reason.
type CancelTarget<R> = (IoSlot<DirectIo<R>>, u32, CancelReason);

/// Formats a reply with `format` into `scratch`, then copies it to the start of the
/// request's locked buffer; returns the request's `Information`.
fn write_reply<R: PendingRequest>(
    request: &R,
    scratch: &mut [u8],
    format: impl FnOnce(&mut [u8]) -> Result<usize, ProtocolError>,
) -> Result<usize, NtStatus> {
    let information = format(scratch).map_err(ProtocolError::status)?;
    let buffer = request.data().ok_or(NtStatus::INVALID_PARAMETER)?;
    buffer.write_at(0, scratch).map_err(NtStatus::from)?;
    Ok(information)
}

fn direct_slots<R: PendingRequest>(
    table: &mut crate::endpoints::Table<R>,
    id: EndpointId,
) -> Option<&mut crate::endpoints::DirectSlots<R>> {
    table.find_any(id).and_then(|e| e.kind.io_mut())
}

impl<R: PendingRequest> AcceptSink for Driver<R> {
    /// A connection was queued on `listener`: hand it to a parked ACCEPT, if there is one.
    fn connection_queued(&'static self, listener: EndpointId) {
        loop {
            let handed = {
                let mut table = self.endpoints.inner.lock();
                let Some(endpoint) = table.find_any(listener) else {
                    return;
                };
                let local = endpoint.local();
                let Kind::Listener {
                    listener: service,
                    waiting,
                    ..
                } = &mut endpoint.kind
                else {
                    return;
                };
                if waiting.is_none() {
                    return;
                }
                let Some(queued) = service.pop_queued() else {
                    return;
                };
                let Some(parked) = waiting.take() else { return };
                (parked, local, queued)
            };
            let (parked, local, queued) = handed;
            let requester = Requester {
                handle: parked.pended.caller,
                identity: parked.identity,
            };
            self.hand_over(parked.request, requester, parked.detach, local, queued);
        }
    }

    fn error_counted(&'static self) {
        self.totals.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// `listener` stopped accepting: the error counts in STATS, and an ACCEPT waiting on it
    /// completes with `status` (connections already queued stay for the next ACCEPTs).
    fn listener_failed(&'static self, listener: EndpointId, status: NtStatus) {
        self.totals.errors.fetch_add(1, Ordering::Relaxed);
        let parked = {
            let mut table = self.endpoints.inner.lock();
            let Some(endpoint) = table.find_any(listener) else {
                return;
            };
            let Kind::Listener {
                listener: service,
                waiting,
                ..
            } = &mut endpoint.kind
            else {
                return;
            };
            if service.has_queued() {
                // The connections that made it before the failure go to the ACCEPTs first.
                None
            } else {
                waiting.take()
            }
        };
        if let Some(parked) = parked {
            parked.request.complete(status, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GENERATION: u32 = 7;

    fn op() -> PendingOp {
        let pended = Pended {
            sequence: Sequence(1),
            caller: Caller(1),
            deadline: 10,
            locked: 0,
        };
        PendingOp::starting(pended, false, Stage::Single)
    }

    #[test]
    fn a_pending_request_keeps_its_first_cancel_reason_and_a_later_cancel_retries() {
        let mut op = op();
        assert!(op.is_live());
        assert_eq!(op.started(GENERATION), None);
        assert!(op.is_live());
        assert_eq!(op.cancel(CancelReason::TimedOut, 3), Some(GENERATION));
        assert!(!op.is_live());
        // A later cancel by the requester retries at the provider; the reason stays.
        assert_eq!(op.cancel(CancelReason::Cancelled, 4), Some(GENERATION));
        assert!(matches!(
            op.phase,
            Phase::Cancelled {
                reason: CancelReason::TimedOut,
                since: 3,
                ..
            }
        ));
    }

    #[test]
    fn a_request_cancelled_while_starting_is_cancelled_when_the_provider_has_it() {
        let mut op = op();
        assert_eq!(op.cancel(CancelReason::Cancelled, 2), None);
        assert_eq!(op.started(GENERATION), Some(CancelReason::Cancelled));
        assert_eq!(op.cancel(CancelReason::Cancelled, 3), Some(GENERATION));
    }

    #[test]
    fn escalation_comes_after_the_grace_period_once_and_ends_cancelling() {
        let mut op = op();
        assert_eq!(op.started(GENERATION), None);
        assert!(
            !op.escalate_if_overdue(100),
            "a live request is not escalated"
        );
        assert_eq!(op.cancel(CancelReason::TimedOut, 5), Some(GENERATION));
        assert!(!op.escalate_if_overdue(5 + CANCEL_GRACE_TICKS - 1));
        assert!(!op.is_escalated());
        assert!(op.escalate_if_overdue(5 + CANCEL_GRACE_TICKS));
        assert!(op.is_escalated());
        assert!(
            !op.escalate_if_overdue(5 + CANCEL_GRACE_TICKS + 1),
            "only once"
        );
        assert_eq!(op.cancel(CancelReason::Cancelled, 50), None);
        assert!(!op.is_live());
    }
}
