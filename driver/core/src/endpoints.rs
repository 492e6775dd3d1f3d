//! The endpoint table: ids, ownership by handle and identity, per-handle endpoint quotas, and
//! per-endpoint statistics.
//!
//! Ids come from a counter and are never reused while the driver is loaded, so a stale id
//! is simply unknown. An endpoint is reachable by the handle that created it and, if
//! detached, by every handle of the identity that created it; every lookup is filtered so,
//! and an endpoint out of reach is answered exactly as an id that does not exist
//! (`STATUS_NOT_FOUND`). Endpoints leave the table before they are closed: closing blocks,
//! and nothing blocks under the table's spin lock.

use core::cell::Cell;
use core::net::SocketAddr;
use core::time::Duration;

use wsk::io::IoSlot;
use wsk::task::DatagramTask;
use wsk::{ConnectionSocket, DatagramSocket, NtStatus, PoolBox, PoolSlice, SpinLock};
use wskrs_protocol::{
    self as protocol, EndpointId, EndpointInfo, EndpointState, Service, WireAddr,
};

use crate::direct::{DirectIo, Pended, PendingOp, PendingRequest, Stage};
use crate::queue::{Queue, Queued, WAITING};
use crate::services::{ServedConnection, ServiceListener, ServiceStats, UdpEchoSession};
use crate::ticket::Direction;
use crate::{Caller, Identity, Requester};

pub(crate) enum Kind<R: PendingRequest> {
    /// `socket` is `None` while an operation has it out of the table. Fields drop in order:
    /// the socket closes (completing its pending requests) before the slots go.
    Connection {
        socket: Option<ConnectionSocket>,
        io: DirectSlots<R>,
    },
    /// A user-driven UDP socket; `None` while an operation has it out.
    Datagram {
        socket: Option<DatagramSocket>,
        io: DirectSlots<R>,
    },
    /// `waiting`: an ACCEPT parked until a connection arrives (accept mode).
    Listener {
        service: Service,
        listener: ServiceListener,
        waiting: Option<WaitingAccept<R>>,
    },
    UdpEcho {
        task: DatagramTask<UdpEchoSession>,
    },
    /// A connection handed to an in-kernel service (SERVE).
    Served {
        service: Service,
        connection: ServedConnection,
    },
}

impl<R: PendingRequest> Kind<R> {
    /// The direct-I/O requests of a user-driven endpoint.
    pub(crate) fn io_mut(&mut self) -> Option<&mut DirectSlots<R>> {
        match self {
            Self::Connection { io, .. } | Self::Datagram { io, .. } => Some(io),
            _ => None,
        }
    }

    /// The socket is out for a data request's provider call: back in a moment.
    fn is_launching(&self) -> bool {
        matches!(self, Self::Connection { io, .. } | Self::Datagram { io, .. } if io.launching)
    }

    /// The driver closed the socket for good ([`DirectSlots::closed`]): a socket that comes
    /// back is to be closed instead.
    pub(crate) fn is_closed(&self) -> bool {
        matches!(self, Self::Connection { io, .. } | Self::Datagram { io, .. } if io.closed)
    }

    /// Why a request finds no socket: closed for good, or out for another operation.
    pub(crate) fn no_socket_status(&self) -> NtStatus {
        if self.is_closed() {
            NtStatus::FILE_FORCED_CLOSED
        } else {
            NtStatus::DEVICE_BUSY
        }
    }
}

/// The direct-I/O requests of a user-driven endpoint: one slot (IRP) per direction, created
/// on first use, what each direction has in flight, and the requests waiting behind it.
pub(crate) struct DirectSlots<R: PendingRequest> {
    pub(crate) slots: [Option<IoSlot<DirectIo<R>>>; 2],
    pub(crate) pending: [Option<PendingOp>; 2],
    pub(crate) queued: [Queue<R>; 2],
    /// The socket is out of the table for a data request's provider call (made without the
    /// table's lock, see [`crate::direct`]); what meets it out waits for it.
    pub(crate) launching: bool,
    /// The driver closed the socket, or closes it when it comes back, to end a request the
    /// provider would not cancel: the endpoint is `broken` for good, and requests on it fail
    /// with `STATUS_FILE_FORCED_CLOSED` (WSK's status for a socket that is no longer
    /// functional).
    pub(crate) closed: bool,
}

impl<R: PendingRequest> DirectSlots<R> {
    pub(crate) const fn new() -> Self {
        Self {
            slots: [None, None],
            pending: [None, None],
            queued: [Queue::new(), Queue::new()],
            launching: false,
            closed: false,
        }
    }

    /// No data request in flight or waiting, in either direction.
    pub(crate) fn is_idle(&self) -> bool {
        self.pending.iter().all(Option::is_none) && self.queued.iter().all(Queue::is_empty)
    }

    /// Whether a new request of `stage` in `direction` may join this endpoint's requests:
    /// RECV and TRANSACT exclude each other (a reply belongs to its TRANSACT), and the
    /// TRANSACTs of an endpoint, each of which takes a place in both directions until it
    /// completes, are at most [`WAITING`] (so each finds room in the receive queue for its
    /// reply). `STATUS_DEVICE_BUSY` otherwise. IRQL <= DISPATCH_LEVEL.
    pub(crate) fn admits(&self, direction: Direction, stage: Stage) -> Result<(), NtStatus> {
        let [send, receive] = &self.pending;
        let [send_queue, receive_queue] = &self.queued;
        let is_transact = |op: &Option<PendingOp>| op.is_some_and(|op| op.stage().is_transact());
        let (receive_waiting, receive_transacts) = receive_queue.counts();
        let (_, send_transacts) = send_queue.counts();
        let transacts = send_transacts
            .saturating_add(receive_transacts)
            .saturating_add(usize::from(is_transact(send)))
            .saturating_add(usize::from(is_transact(receive)));
        let receives = receive_waiting
            .saturating_sub(receive_transacts)
            .saturating_add(usize::from(receive.is_some() && !is_transact(receive)));
        let busy = match (direction, stage.is_transact()) {
            (_, true) => receives > 0 || transacts >= WAITING,
            (Direction::Receive, false) => transacts > 0,
            (Direction::Send, false) => false,
        };
        if busy {
            return Err(NtStatus::DEVICE_BUSY);
        }
        Ok(())
    }

    pub(crate) fn queue_mut(&mut self, direction: Direction) -> &mut Queue<R> {
        let [send, receive] = &mut self.queued;
        match direction {
            Direction::Send => send,
            Direction::Receive => receive,
        }
    }

    /// Takes every waiting request of both directions out (to be completed by the caller).
    pub(crate) fn drain_queued(&mut self) -> [Option<Queued<R>>; 2 * WAITING] {
        let mut out = [const { None }; 2 * WAITING];
        let mut places = out.iter_mut();
        for queue in &mut self.queued {
            while let Some(queued) = queue.pop_front() {
                if let Some(place) = places.next() {
                    *place = Some(queued);
                }
            }
        }
        out
    }

    pub(crate) fn pending_mut(&mut self, direction: Direction) -> &mut Option<PendingOp> {
        let [send, receive] = &mut self.pending;
        match direction {
            Direction::Send => send,
            Direction::Receive => receive,
        }
    }

    pub(crate) fn slot_mut(&mut self, direction: Direction) -> &mut Option<IoSlot<DirectIo<R>>> {
        let [send, receive] = &mut self.slots;
        match direction {
            Direction::Send => send,
            Direction::Receive => receive,
        }
    }
}

/// Completes waiting requests that will never start with `STATUS_CANCELLED`.
pub(crate) fn cancel_all<R: PendingRequest>(queued: impl IntoIterator<Item = Option<Queued<R>>>) {
    for queued in queued.into_iter().flatten() {
        queued.request.complete(NtStatus::CANCELLED, 0);
    }
}

/// An ACCEPT waiting for a connection.
pub(crate) struct WaitingAccept<R: PendingRequest> {
    pub(crate) pended: Pended,
    pub(crate) request: R,
    /// The connection it gets is detached.
    pub(crate) detach: bool,
    /// The identity of the handle that parked it (the connection's owner).
    pub(crate) identity: Option<Identity>,
}

/// How many times [`EndpointTable::borrow`] waits 1 ms for a socket out for a provider call.
const BORROW_WAITS: u32 = 1000;

/// A socket an operation takes out of the table and gives back.
pub(crate) trait Borrowable: Sized {
    /// Takes the socket out of `kind`: `STATUS_DEVICE_BUSY` while another operation has it,
    /// `STATUS_FILE_FORCED_CLOSED` once the driver closed it, `STATUS_INVALID_DEVICE_STATE`
    /// for an endpoint of another kind.
    fn take<R: PendingRequest>(kind: &mut Kind<R>) -> Result<Self, NtStatus>;
    /// Puts it back; returns it if `kind` has no place for it.
    fn put<R: PendingRequest>(self, kind: &mut Kind<R>) -> Option<Self>;
    /// Whether the socket is still open (a request the provider could not cancel closes it).
    fn is_open(&self) -> bool;
}

impl Borrowable for ConnectionSocket {
    fn take<R: PendingRequest>(kind: &mut Kind<R>) -> Result<Self, NtStatus> {
        let missing = kind.no_socket_status();
        match kind {
            Kind::Connection { socket, .. } => socket.take().ok_or(missing),
            _ => Err(NtStatus::INVALID_DEVICE_STATE),
        }
    }

    fn put<R: PendingRequest>(self, kind: &mut Kind<R>) -> Option<Self> {
        match kind {
            Kind::Connection { socket, .. } if socket.is_none() => {
                *socket = Some(self);
                None
            }
            _ => Some(self),
        }
    }

    fn is_open(&self) -> bool {
        ConnectionSocket::is_open(self)
    }
}

impl Borrowable for DatagramSocket {
    fn take<R: PendingRequest>(kind: &mut Kind<R>) -> Result<Self, NtStatus> {
        let missing = kind.no_socket_status();
        match kind {
            Kind::Datagram { socket, .. } => socket.take().ok_or(missing),
            _ => Err(NtStatus::INVALID_DEVICE_STATE),
        }
    }

    fn put<R: PendingRequest>(self, kind: &mut Kind<R>) -> Option<Self> {
        match kind {
            Kind::Datagram { socket, .. } if socket.is_none() => {
                *socket = Some(self);
                None
            }
            _ => Some(self),
        }
    }

    fn is_open(&self) -> bool {
        DatagramSocket::is_open(self)
    }
}

/// What one operation did, for the statistics.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) sent: usize,
    pub(crate) received: usize,
    pub(crate) send_ops: u64,
    pub(crate) recv_ops: u64,
    pub(crate) error: Option<NtStatus>,
    /// The peer closed its side (a receive returned end of stream).
    pub(crate) peer_closed: bool,
    /// This side disconnected.
    pub(crate) disconnected: bool,
}

impl Outcome {
    /// No bytes moved; the error of `result`, if any.
    pub(crate) fn failed<T>(result: &wsk::Result<T>) -> Self {
        Self {
            error: result.as_ref().err().map(|e| e.status()),
            ..Self::default()
        }
    }
}

/// Longest SDDL text kept for an endpoint (the SECURITY reply's field).
pub(crate) const SDDL_CAPACITY: usize = protocol::SDDL_LEN;

/// A security descriptor as SDDL text, kept in the endpoint.
#[derive(Clone, Copy)]
pub(crate) struct SddlText {
    bytes: [u8; SDDL_CAPACITY],
    len: usize,
}

impl SddlText {
    /// Formats `value`; `None` if the text does not fit.
    pub(crate) fn format(value: &impl core::fmt::Display) -> Option<Self> {
        let mut text = Self {
            bytes: [0; SDDL_CAPACITY],
            len: 0,
        };
        core::fmt::write(&mut text, format_args!("{value}")).ok()?;
        Some(text)
    }

    pub(crate) fn as_str(&self) -> &str {
        self.bytes
            .get(..self.len)
            .and_then(|b| core::str::from_utf8(b).ok())
            .unwrap_or("")
    }
}

impl core::fmt::Write for SddlText {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(core::fmt::Error)?;
        self.bytes
            .get_mut(self.len..end)
            .ok_or(core::fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Counters of one endpoint.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Stats {
    pub(crate) opened_at: Duration,
    pub(crate) bytes_sent: u64,
    pub(crate) bytes_received: u64,
    pub(crate) send_ops: u64,
    pub(crate) recv_ops: u64,
    pub(crate) errors: u64,
    pub(crate) last_status: Option<NtStatus>,
}

/// How a UDP endpoint is driven.
pub(crate) enum DatagramKind {
    /// By the user (SEND_TO / RECV_FROM).
    User(DatagramSocket),
    /// By the in-kernel echo service.
    Echo(DatagramTask<UdpEchoSession>),
}

/// One endpoint and its statistics.
pub(crate) struct Endpoint<R: PendingRequest> {
    id: EndpointId,
    /// The handle that created it ([`Caller::NOBODY`] once that handle closed).
    owner: Caller,
    /// The identity of that handle: who may reach it once detached.
    identity: Option<Identity>,
    detached: bool,
    local: Option<SocketAddr>,
    remote: Option<SocketAddr>,
    state: EndpointState,
    stats: Stats,
    /// The descriptor read back from the provider after bind, when one was set.
    security: Option<SddlText>,
    pub(crate) kind: Kind<R>,
}

impl<R: PendingRequest> Endpoint<R> {
    pub(crate) fn connection(
        owner: Requester,
        detached: bool,
        local: Option<SocketAddr>,
        remote: SocketAddr,
        socket: ConnectionSocket,
    ) -> Self {
        Self {
            id: EndpointId(0),
            owner: owner.handle,
            identity: owner.identity,
            detached,
            local,
            remote: Some(remote),
            state: EndpointState::Connected,
            stats: Stats {
                opened_at: wsk::uptime(),
                ..Stats::default()
            },
            security: None,
            kind: Kind::Connection {
                socket: Some(socket),
                io: DirectSlots::new(),
            },
        }
    }

    /// A listener; `id` is its reserved id (or 0 to get one on insert).
    pub(crate) fn listener(
        id: EndpointId,
        owner: Requester,
        detached: bool,
        local: SocketAddr,
        service: Service,
        listener: ServiceListener,
    ) -> Self {
        Self {
            id,
            owner: owner.handle,
            identity: owner.identity,
            detached,
            local: Some(local),
            remote: None,
            state: EndpointState::Listening,
            stats: Stats {
                opened_at: wsk::uptime(),
                ..Stats::default()
            },
            security: None,
            kind: Kind::Listener {
                service,
                listener,
                waiting: None,
            },
        }
    }

    /// A user-driven UDP socket, or a UDP echo service when `echo` is given.
    pub(crate) fn datagram(
        owner: Requester,
        detached: bool,
        local: SocketAddr,
        kind: DatagramKind,
    ) -> Self {
        let kind = match kind {
            DatagramKind::User(socket) => Kind::Datagram {
                socket: Some(socket),
                io: DirectSlots::new(),
            },
            DatagramKind::Echo(task) => Kind::UdpEcho { task },
        };
        Self {
            id: EndpointId(0),
            owner: owner.handle,
            identity: owner.identity,
            detached,
            local: Some(local),
            remote: None,
            state: EndpointState::Bound,
            stats: Stats {
                opened_at: wsk::uptime(),
                ..Stats::default()
            },
            security: None,
            kind,
        }
    }

    /// Keeps the descriptor read back after bind (SECURITY reports it).
    #[allow(clippy::large_types_passed_by_value)] // moved once into the endpoint
    pub(crate) fn with_security(mut self, security: Option<SddlText>) -> Self {
        self.security = security;
        self
    }

    pub(crate) fn id(&self) -> EndpointId {
        self.id
    }

    pub(crate) fn local(&self) -> Option<SocketAddr> {
        self.local
    }

    /// The endpoint is unusable (a request the provider would not cancel closed its socket).
    pub(crate) fn mark_broken(&mut self) {
        self.state = EndpointState::Broken;
    }

    pub(crate) fn record(&mut self, outcome: Outcome, socket_open: bool) {
        let s = &mut self.stats;
        s.bytes_sent = s.bytes_sent.saturating_add(outcome.sent as u64);
        s.bytes_received = s.bytes_received.saturating_add(outcome.received as u64);
        s.send_ops = s.send_ops.saturating_add(outcome.send_ops);
        s.recv_ops = s.recv_ops.saturating_add(outcome.recv_ops);
        if let Some(status) = outcome.error {
            s.errors = s.errors.saturating_add(1);
            s.last_status = Some(status);
        }
        // A reset or aborted connection, or a socket the provider says is no longer functional
        // (STATUS_FILE_FORCED_CLOSED, WSK's documented status for it), stays dead whatever
        // the socket says: only CLOSE helps.
        let connection_lost = matches!(
            outcome.error,
            Some(
                NtStatus::CONNECTION_RESET
                    | NtStatus::CONNECTION_ABORTED
                    | NtStatus::CONNECTION_DISCONNECTED
                    | NtStatus::FILE_FORCED_CLOSED
            )
        );
        if !socket_open || connection_lost {
            self.state = EndpointState::Broken;
        } else if outcome.disconnected {
            self.state = EndpointState::Disconnected;
        } else if outcome.peer_closed && self.state != EndpointState::Disconnected {
            // After our own DISCONNECT the endpoint stays `disconnected` until CLOSE.
            self.state = EndpointState::PeerClosed;
        }
    }

    /// Whether `requester` may list, use and close it: its creating handle, or, once
    /// detached, any handle of the identity that created it.
    pub(crate) fn reachable_by(&self, requester: &Requester) -> bool {
        self.owner == requester.handle || (self.detached && self.identity == requester.identity)
    }

    /// Closes the endpoint; returns what its in-kernel service did, which the driver keeps in
    /// its totals. IRQL: PASSIVE_LEVEL (a connection's close waits).
    pub(crate) fn close(mut self) -> ServiceStats {
        match &mut self.kind {
            Kind::Connection { socket, io } => {
                // The socket closes first (completing the request in flight), then the ones
                // waiting behind it are cancelled, so they complete in order.
                drop(socket.take());
                cancel_all(io.drain_queued());
            }
            Kind::Datagram { socket, io } => {
                drop(socket.take());
                cancel_all(io.drain_queued());
            }
            Kind::Listener {
                listener, waiting, ..
            } => {
                if let Some(waiting) = waiting.take() {
                    waiting.request.complete(NtStatus::CANCELLED, 0);
                }
                listener.stop();
            }
            Kind::UdpEcho { task } => task.stop(),
            Kind::Served { connection, .. } => connection.stop(),
        }
        // Read after stopping, so nothing the service still counts is lost.
        let stats = self.service_stats();
        drop(self.kind);
        stats
    }

    fn info(&self, caller: Caller, now: Duration) -> EndpointInfo {
        let mut flags = 0;
        if self.detached {
            flags |= protocol::INFO_DETACHED;
        }
        if self.owner == caller {
            flags |= protocol::INFO_OWNED_BY_CALLER;
        }
        let service_stats = self.service_stats();
        let (kind, service) = match &self.kind {
            Kind::Connection { .. } => (protocol::KIND_TCP_CONNECTION, Service::None),
            Kind::Served { service, .. } => (protocol::KIND_TCP_CONNECTION, *service),
            Kind::Listener { service, .. } => (protocol::KIND_TCP_LISTENER, *service),
            Kind::Datagram { .. } => (protocol::KIND_UDP, Service::None),
            Kind::UdpEcho { .. } => (protocol::KIND_UDP, Service::Echo),
        };
        let s = &self.stats;
        // A listener whose accept failed for good: only CLOSE is useful.
        let state = if service_stats.failure.is_some() {
            EndpointState::Broken
        } else {
            self.state
        };
        EndpointInfo {
            id: self.id.0,
            kind,
            state: state.as_u32(),
            service: service.as_u32(),
            flags,
            local: WireAddr::from_option(self.local),
            remote: WireAddr::from_option(self.remote),
            bytes_sent: s.bytes_sent.saturating_add(service_stats.bytes_sent),
            bytes_received: s
                .bytes_received
                .saturating_add(service_stats.bytes_received),
            connections_served: service_stats.served,
            connections_active: service_stats.active,
            reserved: 0,
            opened_ms: u64::try_from(now.saturating_sub(s.opened_at).as_millis())
                .unwrap_or(u64::MAX),
            send_ops: s.send_ops,
            recv_ops: s.recv_ops,
            errors: s
                .errors
                .saturating_add(service_stats.refused)
                .saturating_add(u64::from(service_stats.failure.is_some()))
                .saturating_add(service_stats.accept_errors),
            last_status: service_stats
                .failure
                .or(service_stats.last_accept_error)
                .or(s.last_status)
                .or((service_stats.refused > 0).then_some(NtStatus::CONNECTION_REFUSED))
                .map_or(0, NtStatus::as_u32),
            reserved2: 0,
        }
    }

    /// What the endpoint's in-kernel service has done (zero for user-driven endpoints).
    fn service_stats(&self) -> ServiceStats {
        match &self.kind {
            Kind::Listener { listener, .. } => listener.stats(),
            Kind::UdpEcho { task } => {
                let session = task.handler();
                let bytes = session.bytes.load(core::sync::atomic::Ordering::Relaxed);
                ServiceStats {
                    bytes_sent: bytes,
                    bytes_received: bytes,
                    failure: session.failure(),
                    ..ServiceStats::default()
                }
            }
            Kind::Served { connection, .. } => connection.stats(),
            Kind::Connection { .. } | Kind::Datagram { .. } => ServiceStats::default(),
        }
    }
}

/// The table's slots: allocated on first use with the driver's configured number of
/// endpoints ([`crate::Limits::endpoints`]). A slot holds a pointer, so a scan of thousands
/// of mostly empty slots reads a few pages, not every endpoint.
///
/// Every request looks its endpoint up by id and counts its handle's pended requests under
/// the table lock. Two things keep that from costing in proportion to the table (issue 11:
/// with the default 4,096 slots a scan of all of them cost each IOCTL more than the driver's
/// own work, and 1,000 other endpoints added 13 µs to a TRANSACT):
/// - scans stop at the high-water mark `used`;
/// - beside each slot, the [`SlotKey`] of the endpoint last put there, in an array of its
///   own: lookups and the pended count read those keys (contiguous) instead of following a
///   pointer to every endpoint.
///
/// # Invariants
/// Every slot at or past `used` is empty (`used` is 0 while the slots are unallocated). An
/// occupied slot's key is its endpoint's id, owner and detached flag (`keys` has one per
/// slot); an empty slot's key is stale, so a key is trusted only beside an occupied slot.
pub(crate) struct Slots<R: PendingRequest> {
    array: Option<PoolSlice<Option<PoolBox<Endpoint<R>>>>>,
    keys: Option<PoolSlice<SlotKey>>,
    capacity: usize,
    used: usize,
    /// The slot [`Slots::position`] found last, tried first: one request looks its endpoint
    /// up several times (dispatch, the provider call, its completion, the next request).
    last_found: Cell<usize>,
}

/// What requests look an endpoint up by, copied out of it when it is put in its slot.
#[derive(Clone, Copy)]
struct SlotKey {
    id: EndpointId,
    owner: Caller,
    detached: bool,
}

impl SlotKey {
    const EMPTY: Self = Self {
        id: EndpointId(0),
        owner: Caller::NOBODY,
        detached: false,
    };

    /// Whether a request of `caller` may have pended on the endpoint: one it owns, or a
    /// detached one (see [`Endpoint::reachable_by`]).
    fn may_hold_requests_of(&self, caller: Caller) -> bool {
        self.owner == caller || self.detached
    }
}

impl<R: PendingRequest> Slots<R> {
    const fn unallocated(capacity: usize) -> Self {
        Self {
            array: None,
            keys: None,
            capacity,
            used: 0,
            last_found: Cell::new(0),
        }
    }

    /// The slots below the high-water mark: every endpoint is in one of them.
    pub(crate) fn iter(&self) -> core::slice::Iter<'_, Option<PoolBox<Endpoint<R>>>> {
        let all = self.array.as_deref().unwrap_or(&[]);
        all.get(..self.used).unwrap_or(all).iter()
    }

    /// As [`Slots::iter`]. An endpoint may be taken out of its slot through it; one must not
    /// be put in (that is [`Slots::insert`]'s, which writes the key).
    pub(crate) fn iter_mut(&mut self) -> core::slice::IterMut<'_, Option<PoolBox<Endpoint<R>>>> {
        let used = self.used;
        let all = self.array.as_deref_mut().unwrap_or(&mut []);
        let len = all.len();
        all.get_mut(..used.min(len)).unwrap_or_default().iter_mut()
    }

    /// The keys below the high-water mark, with their slot's index (a key is stale unless
    /// its slot is occupied).
    fn keys(&self) -> impl Iterator<Item = (usize, &SlotKey)> {
        let keys = self.keys.as_deref().unwrap_or(&[]);
        keys.get(..self.used).unwrap_or(keys).iter().enumerate()
    }

    fn slot(&self, index: usize) -> Option<&Endpoint<R>> {
        self.array.as_deref()?.get(index)?.as_deref()
    }

    fn slot_mut(&mut self, index: usize) -> Option<&mut Endpoint<R>> {
        self.array.as_deref_mut()?.get_mut(index)?.as_deref_mut()
    }

    /// The slot of endpoint `id`. A stale key can name it too (it was in another slot
    /// before), so the slot is checked.
    fn position(&self, id: EndpointId) -> Option<usize> {
        let holds = |index: usize| self.slot(index).is_some_and(|e| e.id == id);
        let last = self.last_found.get();
        if holds(last) {
            return Some(last);
        }
        let found = self
            .keys()
            .filter(|(_, key)| key.id == id)
            .map(|(index, _)| index)
            .find(|index| holds(*index))?;
        self.last_found.set(found);
        Some(found)
    }

    /// The endpoints that may hold requests of `caller` (see
    /// [`SlotKey::may_hold_requests_of`]).
    fn may_hold_requests_of(&self, caller: Caller) -> impl Iterator<Item = &Endpoint<R>> {
        self.keys()
            .filter(move |(_, key)| key.may_hold_requests_of(caller))
            .filter_map(|(index, _)| self.slot(index))
    }

    /// Endpoints `caller` owns.
    fn owned_by(&self, caller: Caller) -> usize {
        self.keys()
            .filter(|(index, key)| key.owner == caller && self.slot(*index).is_some())
            .count()
    }

    /// Hands `caller`'s detached endpoints to nobody.
    fn disown(&mut self, caller: Caller) {
        let Some(keys) = self.keys.as_deref_mut() else {
            return;
        };
        let Some(array) = self.array.as_deref_mut() else {
            return;
        };
        for (key, slot) in keys.iter_mut().zip(array.iter_mut()).take(self.used) {
            if let Some(endpoint) = slot.as_deref_mut().filter(|e| e.owner == caller) {
                endpoint.owner = Caller::NOBODY;
                // INVARIANT: the key follows its endpoint.
                key.owner = Caller::NOBODY;
            }
        }
    }

    /// Allocates empty slots for `capacity` endpoints (`None`: frees them; only while empty).
    fn reallocate(&mut self, capacity: Option<usize>) -> Result<(), NtStatus> {
        let (array, keys) = match capacity {
            Some(capacity) => (
                Some(PoolSlice::try_new_with(capacity, |_| None)?),
                Some(PoolSlice::try_new_with(capacity, |_| SlotKey::EMPTY)?),
            ),
            None => (None, None),
        };
        self.array = array;
        self.keys = keys;
        // INVARIANT: the new slots are all empty.
        self.used = 0;
        Ok(())
    }

    /// Puts `endpoint` in the lowest free slot, allocating the table first if needed; gives
    /// it back when the table is full or cannot be allocated. IRQL <= DISPATCH_LEVEL.
    fn insert(&mut self, endpoint: PoolBox<Endpoint<R>>) -> Result<(), PoolBox<Endpoint<R>>> {
        if self.array.is_none() && self.reallocate(Some(self.capacity)).is_err() {
            return Err(endpoint);
        }
        let (Some(array), Some(keys)) = (self.array.as_deref_mut(), self.keys.as_deref_mut())
        else {
            return Err(endpoint);
        };
        // INVARIANT: lowered only past empty slots.
        while let Some(top) = self.used.checked_sub(1) {
            if !array.get(top).is_some_and(Option::is_none) {
                break;
            }
            self.used = top;
        }
        let index = match array.iter().take(self.used).position(Option::is_none) {
            Some(index) => index,
            None if self.used < array.len() => self.used,
            None => return Err(endpoint),
        };
        let (Some(slot), Some(key)) = (array.get_mut(index), keys.get_mut(index)) else {
            return Err(endpoint);
        };
        // INVARIANT: the key is the endpoint's, and the mark is past its slot.
        *key = SlotKey {
            id: endpoint.id,
            owner: endpoint.owner,
            detached: endpoint.detached,
        };
        *slot = Some(endpoint);
        self.used = self.used.max(index.saturating_add(1));
        Ok(())
    }
}

pub(crate) struct Table<R: PendingRequest> {
    pub(crate) slots: Slots<R>,
    next_id: u64,
    /// Most endpoints open at once since load.
    peak: usize,
}

impl<R: PendingRequest> Table<R> {
    /// The endpoint `id` if `requester` may reach it; `STATUS_NOT_FOUND` for an unknown id
    /// and for one out of reach alike.
    pub(crate) fn find(
        &mut self,
        requester: &Requester,
        id: EndpointId,
    ) -> Result<&mut Endpoint<R>, NtStatus> {
        let index = self.slots.position(id).ok_or(NtStatus::NOT_FOUND)?;
        self.slots
            .slot_mut(index)
            .filter(|e| e.reachable_by(requester))
            .ok_or(NtStatus::NOT_FOUND)
    }

    /// Direct requests `caller` has pended (in flight, cancelled but not completed, or a
    /// parked ACCEPT), and the bytes of its memory they lock.
    pub(crate) fn pended_by(&self, caller: Caller) -> (usize, usize) {
        let (mut count, mut bytes) = (0usize, 0usize);
        let mut add = |pended: &Pended| {
            if pended.caller == caller {
                count = count.saturating_add(1);
                bytes = bytes.saturating_add(pended.locked);
            }
        };
        for endpoint in self.slots.may_hold_requests_of(caller) {
            match &endpoint.kind {
                Kind::Connection { io, .. } | Kind::Datagram { io, .. } => {
                    io.pending.iter().flatten().for_each(|op| add(op.pended()));
                    io.queued
                        .iter()
                        .flat_map(Queue::iter)
                        .for_each(|q| add(&q.pended));
                }
                Kind::Listener {
                    waiting: Some(waiting),
                    ..
                } => add(&waiting.pended),
                _ => {}
            }
        }
        (count, bytes)
    }

    /// The endpoint `id`, whoever owns it (completions and timers).
    pub(crate) fn find_any(&mut self, id: EndpointId) -> Option<&mut Endpoint<R>> {
        let index = self.slots.position(id)?;
        self.slots.slot_mut(index)
    }

    fn take_where(&mut self, pick: impl Fn(&Endpoint<R>) -> bool) -> Option<Endpoint<R>> {
        self.slots
            .iter_mut()
            .find(|s| s.as_deref().is_some_and(&pick))
            .and_then(Option::take)
            .map(PoolBox::into_inner)
    }
}

/// All endpoints, behind a spin lock.
pub(crate) struct EndpointTable<R: PendingRequest> {
    pub(crate) inner: SpinLock<Table<R>>,
}

impl<R: PendingRequest> EndpointTable<R> {
    /// An empty table of `capacity` endpoints (allocated on first use).
    pub(crate) const fn new(capacity: usize) -> Self {
        Self {
            inner: SpinLock::new(Table {
                slots: Slots::unallocated(capacity),
                next_id: 1,
                peak: 0,
            }),
        }
    }

    /// Sets how many endpoints the table holds (re-allocating it if it was allocated); only
    /// while it holds none. IRQL <= DISPATCH_LEVEL.
    pub(crate) fn set_capacity(&self, capacity: usize) -> Result<(), NtStatus> {
        let mut t = self.inner.lock();
        if t.slots.iter().any(Option::is_some) {
            return Err(NtStatus::INVALID_DEVICE_STATE);
        }
        if t.slots.array.is_some() {
            t.slots.reallocate(Some(capacity))?;
        }
        t.slots.capacity = capacity;
        Ok(())
    }

    /// Allocates the slots if they are not yet. IRQL <= DISPATCH_LEVEL.
    pub(crate) fn allocate(&self) -> Result<(), NtStatus> {
        let mut t = self.inner.lock();
        if t.slots.array.is_none() {
            let capacity = t.slots.capacity;
            t.slots.reallocate(Some(capacity))?;
        }
        Ok(())
    }

    /// Frees the slots of an empty table (unload); the next endpoint would allocate them again.
    /// IRQL <= DISPATCH_LEVEL.
    pub(crate) fn release(&self) {
        let mut t = self.inner.lock();
        if !t.slots.iter().any(Option::is_some) {
            let _ = t.slots.reallocate(None);
        }
    }

    /// An id for an endpoint that needs it before it is inserted (a listener that announces
    /// queued connections by id).
    pub(crate) fn reserve_id(&self) -> EndpointId {
        let mut t = self.inner.lock();
        let id = EndpointId(t.next_id);
        t.next_id = t.next_id.saturating_add(1);
        id
    }

    /// Adds an endpoint and assigns its id (unless it has a reserved one). When the table is
    /// full, or its handle owns `quota` endpoints already, the endpoint, unserved, goes to
    /// `reject` (which closes it as the caller's IRQL allows) and
    /// `STATUS_INSUFFICIENT_RESOURCES` (table full) or `STATUS_QUOTA_EXCEEDED` is returned.
    /// IRQL <= DISPATCH_LEVEL.
    pub(crate) fn insert(
        &self,
        endpoint: Endpoint<R>,
        quota: usize,
        reject: impl FnOnce(Endpoint<R>),
    ) -> Result<EndpointId, NtStatus> {
        let mut endpoint = match PoolBox::try_new_or_return(endpoint) {
            Ok(boxed) => boxed,
            Err(endpoint) => {
                reject(endpoint);
                return Err(NtStatus::INSUFFICIENT_RESOURCES);
            }
        };
        let (rejected, status) = {
            let mut t = self.inner.lock();
            if t.slots.owned_by(endpoint.owner) >= quota {
                (endpoint, NtStatus::QUOTA_EXCEEDED)
            } else {
                let reserved = endpoint.id.0 != 0;
                let id = if reserved {
                    endpoint.id
                } else {
                    EndpointId(t.next_id)
                };
                endpoint.id = id;
                match t.slots.insert(endpoint) {
                    Ok(()) => {
                        if !reserved {
                            t.next_id = t.next_id.saturating_add(1);
                        }
                        let open = t.slots.iter().flatten().count();
                        t.peak = t.peak.max(open);
                        return Ok(id);
                    }
                    Err(endpoint) => (endpoint, NtStatus::INSUFFICIENT_RESOURCES),
                }
            }
        };
        reject(PoolBox::into_inner(rejected));
        Err(status)
    }

    /// `STATUS_QUOTA_EXCEEDED` if `caller` owns `quota` endpoints already.
    /// IRQL <= DISPATCH_LEVEL.
    pub(crate) fn check_quota(&self, caller: Caller, quota: usize) -> Result<(), NtStatus> {
        if self.inner.lock().slots.owned_by(caller) >= quota {
            return Err(NtStatus::QUOTA_EXCEEDED);
        }
        Ok(())
    }

    pub(crate) fn count(&self) -> usize {
        self.inner.lock().slots.iter().flatten().count()
    }

    /// Takes a socket out for a blocking operation; [`EndpointTable::give_back`] returns it.
    /// A data request's provider call that has the socket out gives it back within
    /// microseconds: this waits for it (1 ms at a time, [`BORROW_WAITS`] times at most) before
    /// it answers `STATUS_DEVICE_BUSY`. IRQL: PASSIVE_LEVEL.
    pub(crate) fn borrow<S: Borrowable>(
        &self,
        requester: &Requester,
        id: EndpointId,
    ) -> Result<S, NtStatus> {
        for _ in 0..BORROW_WAITS {
            {
                let mut t = self.inner.lock();
                let endpoint = t.find(requester, id)?;
                if !endpoint.kind.is_launching() {
                    return S::take(&mut endpoint.kind);
                }
            }
            wsk::sleep(Duration::from_millis(1));
        }
        Err(NtStatus::DEVICE_BUSY)
    }

    /// Returns a borrowed socket with what the operation did. If the endpoint was closed
    /// meanwhile, or an escalation came for the socket while it was out, the socket is
    /// closed now (outside the lock). IRQL: PASSIVE_LEVEL.
    pub(crate) fn give_back<S: Borrowable>(&self, id: EndpointId, socket: S, outcome: Outcome) {
        let open = socket.is_open();
        let orphan = {
            let mut t = self.inner.lock();
            match t.find_any(id) {
                Some(endpoint) => {
                    endpoint.record(outcome, open);
                    if endpoint.kind.is_closed() {
                        Some(socket)
                    } else {
                        socket.put(&mut endpoint.kind)
                    }
                }
                None => Some(socket),
            }
        };
        drop(orphan);
    }

    /// Removes an endpoint `requester` may reach.
    pub(crate) fn remove(
        &self,
        requester: &Requester,
        id: EndpointId,
    ) -> Result<Endpoint<R>, NtStatus> {
        self.inner
            .lock()
            .take_where(|e| e.id == id && e.reachable_by(requester))
            .ok_or(NtStatus::NOT_FOUND)
    }

    /// Removes one endpoint that `caller` created without detaching.
    pub(crate) fn remove_owned_by(&self, caller: Caller) -> Option<Endpoint<R>> {
        self.inner
            .lock()
            .take_where(|e| e.owner == caller && !e.detached)
    }

    /// Detached endpoints of a closing handle belong to no handle from now on (their
    /// identity keeps them reachable).
    pub(crate) fn disown(&self, caller: Caller) {
        self.inner.lock().slots.disown(caller);
    }

    /// Removes any endpoint (unload).
    pub(crate) fn remove_any(&self) -> Option<Endpoint<R>> {
        self.inner.lock().take_where(|_| true)
    }

    /// Calls `f` with the statistics of every endpoint `requester` may reach.
    pub(crate) fn for_each_visible(
        &self,
        requester: &Requester,
        now: Duration,
        mut f: impl FnMut(EndpointInfo),
    ) {
        let t = self.inner.lock();
        for endpoint in t
            .slots
            .iter()
            .flatten()
            .filter(|e| e.reachable_by(requester))
        {
            f(endpoint.info(requester.handle, now));
        }
    }

    /// The SDDL read back for an endpoint `requester` may reach (`None`: no descriptor set).
    pub(crate) fn security(
        &self,
        requester: &Requester,
        id: EndpointId,
    ) -> Result<Option<SddlText>, NtStatus> {
        Ok(self.inner.lock().find(requester, id)?.security)
    }

    /// Endpoints open now, and the most open at once since load.
    pub(crate) fn open_and_peak(&self) -> (usize, usize) {
        let t = self.inner.lock();
        (t.slots.iter().flatten().count(), t.peak)
    }

    /// Bytes (sent, received) by the in-kernel services of the open endpoints.
    pub(crate) fn service_bytes(&self) -> (u64, u64) {
        let t = self.inner.lock();
        t.slots
            .iter()
            .flatten()
            .map(|e| e.service_stats())
            .fold((0, 0), |(s, r), x| {
                (
                    s.saturating_add(x.bytes_sent),
                    r.saturating_add(x.bytes_received),
                )
            })
    }

    /// Connections served by the open listeners.
    /// Connections the open endpoints' services refused at their limit.
    pub(crate) fn connections_refused(&self) -> u64 {
        let t = self.inner.lock();
        t.slots
            .iter()
            .flatten()
            .map(|e| e.service_stats().refused)
            .fold(0, u64::saturating_add)
    }

    pub(crate) fn connections_served(&self) -> u64 {
        let t = self.inner.lock();
        t.slots
            .iter()
            .flatten()
            .map(|e| e.service_stats().served)
            .fold(0, u64::saturating_add)
    }
}
