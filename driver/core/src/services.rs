//! The in-kernel services: a TCP listener ([`ServiceListener`]) that runs a [`ServiceSession`]
//! (echo, discard or source) on every accepted connection or queues it for the user to take
//! with ACCEPT, and a UDP echo ([`UdpEchoSession`]). All completion-driven: no thread per
//! connection.

use core::net::SocketAddr;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use wsk::task::{
    ConnectionHandler, ConnectionStep, ConnectionTask, DatagramHandler, DatagramStep,
    ListenHandler, ListenTask,
};
use wsk::{
    AcceptedConnection, ConnectionSocket, Error, ListenSocket, NtStatus, PoolArc, PoolSlice,
    SpinLock, TcpOptions,
};
use wskrs_protocol::EndpointId;

/// A session's buffer (one request in flight at a time: a receive is echoed before the next
/// is issued). 64 KiB takes a 64 KiB message in one receive and sends it back in one send:
/// with 16 KiB the echo's second send of a message waited for the first one's delayed ACK
/// (Nagle) wherever `TCP_NODELAY` cannot be set, 44 ms a round trip (Wine's netio.sys), and
/// discard made four times the requests. Measured by `cargo xtask bench --only services`
/// (docs/performance.md).
const fn session_buffer(service: TcpService) -> usize {
    match service {
        // Receives only: larger requests, fewer provider round trips per byte.
        TcpService::Discard => 256 * 1024,
        TcpService::Echo | TcpService::Source | TcpService::Accept => 64 * 1024,
    }
}

/// Most accepted connections one listener keeps waiting for ACCEPT; more are closed on
/// arrival.
pub(crate) const MAX_QUEUED: usize = 64;

/// Where a listener announces what the driver must act on: a queued connection (accept
/// mode), which the driver hands to a waiting ACCEPT, and a failure that stopped accepting.
pub(crate) trait AcceptSink: Sync {
    /// A connection was queued on `listener`. IRQL <= DISPATCH_LEVEL.
    fn connection_queued(&'static self, listener: EndpointId);
    /// `listener`'s provider socket stopped accepting (its accept failed with `status`): the
    /// driver counts the error and fails a waiting ACCEPT with it. IRQL: PASSIVE_LEVEL.
    fn listener_failed(&'static self, listener: EndpointId, status: NtStatus);
    /// An accept failed for one connection and the listener goes on: STATS counts the error.
    /// IRQL <= DISPATCH_LEVEL.
    fn error_counted(&'static self);
}

/// An accepted connection waiting for ACCEPT.
pub(crate) struct QueuedConnection {
    pub(crate) socket: ConnectionSocket,
    pub(crate) remote: Option<SocketAddr>,
}

/// A bounded FIFO of accepted connections.
struct AcceptQueue {
    items: [Option<QueuedConnection>; MAX_QUEUED],
    head: usize,
    len: usize,
}

impl AcceptQueue {
    const fn new() -> Self {
        Self {
            items: [const { None }; MAX_QUEUED],
            head: 0,
            len: 0,
        }
    }

    /// Appends; gives the connection back when `capacity` (at most MAX_QUEUED) are waiting.
    fn push(&mut self, item: QueuedConnection, capacity: usize) -> Result<(), QueuedConnection> {
        if self.len >= capacity.min(MAX_QUEUED) {
            return Err(item);
        }
        let tail = self.head.wrapping_add(self.len) % MAX_QUEUED;
        match self.items.get_mut(tail) {
            Some(slot) => {
                *slot = Some(item);
                self.len = self.len.saturating_add(1);
                Ok(())
            }
            None => Err(item),
        }
    }

    fn pop(&mut self) -> Option<QueuedConnection> {
        if self.len == 0 {
            return None;
        }
        let item = self.items.get_mut(self.head).and_then(Option::take);
        self.head = self.head.wrapping_add(1) % MAX_QUEUED;
        self.len = self.len.saturating_sub(1);
        item
    }
}

/// What a TCP listener does with each connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TcpService {
    /// Queue it for the user (ACCEPT).
    Accept,
    /// Send every byte back.
    Echo,
    /// Read and drop everything.
    Discard,
    /// Send the pattern until the peer goes away.
    Source,
}

/// Counters shown by LIST.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ServiceStats {
    pub(crate) served: u64,
    pub(crate) active: u32,
    pub(crate) bytes_sent: u64,
    pub(crate) bytes_received: u64,
    /// Connections closed at once because the listener was at its limit (LIST and STATS count
    /// them as errors).
    pub(crate) refused: u64,
    /// The failure that stopped the listener accepting (LIST shows it broken with it).
    pub(crate) failure: Option<NtStatus>,
    /// Accepts that failed for one connection each (its peer reset it first); the listener
    /// went on accepting. LIST counts them as errors.
    pub(crate) accept_errors: u64,
    /// The status of the last of those.
    pub(crate) last_accept_error: Option<NtStatus>,
}

enum Slot {
    Free,
    /// Taken by an accept that is starting its session.
    Starting,
    /// The session finished before `Starting` became `Running`.
    FinishedEarly,
    Running(ConnectionTask<ServiceSession>),
}

struct ServiceState {
    /// One slot per connection the listener serves at once (its `max_connections`).
    sessions: SpinLock<PoolSlice<Slot>>,
    /// Accept mode: connections waiting for ACCEPT.
    queue: SpinLock<AcceptQueue>,
    stopping: AtomicBool,
    served: AtomicU64,
    active: AtomicU32,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    refused: AtomicU64,
    /// The status of the accept that failed and stopped the listener (0: none).
    failure: AtomicU32,
    accept_errors: AtomicU64,
    /// The status of the last accept that failed for one connection (0: none).
    last_accept_error: AtomicU32,
}

/// A failing status stored as its value (0: none).
fn status_of(value: u32) -> Option<NtStatus> {
    (value != 0).then(|| NtStatus::from_u32(value))
}

/// A listener running a service.
pub(crate) struct ServiceListener {
    acceptor: ListenTask<ServiceAcceptor>,
}

impl ServiceState {
    /// A state serving at most `sessions` connections at once. IRQL <= DISPATCH_LEVEL.
    fn try_new(sessions: usize) -> Result<PoolArc<Self>, NtStatus> {
        let slots = PoolSlice::try_new_with(sessions.max(1), |_| Slot::Free)?;
        Ok(PoolArc::try_new(ServiceState {
            sessions: SpinLock::new(slots),
            queue: SpinLock::new(AcceptQueue::new()),
            stopping: AtomicBool::new(false),
            served: AtomicU64::new(0),
            active: AtomicU32::new(0),
            bytes_sent: AtomicU64::new(0),
            bytes_received: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            failure: AtomicU32::new(0),
            accept_errors: AtomicU64::new(0),
            last_accept_error: AtomicU32::new(0),
        })?)
    }

    fn stats(&self) -> ServiceStats {
        ServiceStats {
            served: self.served.load(Ordering::Relaxed),
            active: self.active.load(Ordering::Relaxed),
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
            bytes_received: self.bytes_received.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            failure: status_of(self.failure.load(Ordering::Acquire)),
            accept_errors: self.accept_errors.load(Ordering::Relaxed),
            last_accept_error: status_of(self.last_accept_error.load(Ordering::Relaxed)),
        }
    }

    /// Runs `service` on `connection` in session slot `index` (reserved as `Starting` by the
    /// caller). False if the task could not start (the connection is closed then).
    fn run_session(
        this: &PoolArc<Self>,
        index: usize,
        service: TcpService,
        connection: impl Into<ConnectionSocket>,
    ) -> bool {
        this.served.fetch_add(1, Ordering::Relaxed);
        this.active.fetch_add(1, Ordering::Relaxed);
        let session = ServiceSession {
            state: this.clone(),
            index,
            service,
            offset: AtomicU64::new(0),
        };
        if let Ok(task) = ConnectionTask::start(connection, session_buffer(service), session) {
            let mut sessions = this.sessions.lock();
            let stopping = this.stopping.load(Ordering::Acquire);
            if let Some(slot) = sessions.get_mut(index) {
                *slot = if let Slot::FinishedEarly = slot {
                    Slot::Free
                } else {
                    if stopping {
                        task.stop();
                    }
                    Slot::Running(task)
                };
            }
            true
        } else {
            this.active.fetch_sub(1, Ordering::Relaxed);
            if let Some(slot) = this.sessions.lock().get_mut(index) {
                *slot = Slot::Free;
            }
            false
        }
    }

    /// Stops the sessions (asynchronously) and closes queued connections.
    fn stop(&self) {
        let sessions = self.sessions.lock();
        self.stopping.store(true, Ordering::Release);
        for slot in sessions.iter() {
            if let Slot::Running(task) = slot {
                task.stop();
            }
        }
    }
}

/// A connection the user handed to an in-kernel service (SERVE).
pub(crate) struct ServedConnection {
    state: PoolArc<ServiceState>,
}

/// Services answer at once: with Nagle's algorithm the rest of a message would wait for the
/// peer's ACK of its start, which peers delay (Linux 40 ms, Windows 200 ms). A provider
/// without `WskControlSocket` (Wine's built-in netio) keeps Nagle on; the service still runs.
/// IRQL: PASSIVE_LEVEL.
fn without_nagle(socket: &mut impl TcpOptions) {
    let _ = socket.set_nodelay(true);
}

impl ServedConnection {
    /// Runs `service` on `connection`. IRQL: PASSIVE_LEVEL (turns Nagle off first).
    pub(crate) fn start(
        mut connection: ConnectionSocket,
        service: TcpService,
    ) -> Result<Self, NtStatus> {
        without_nagle(&mut connection);
        let state = match ServiceState::try_new(1) {
            Ok(state) => state,
            Err(status) => {
                connection.close_later();
                return Err(status);
            }
        };
        if let Some(slot) = state.sessions.lock().get_mut(0) {
            *slot = Slot::Starting;
        }
        if !ServiceState::run_session(&state, 0, service, connection) {
            return Err(NtStatus::INSUFFICIENT_RESOURCES);
        }
        Ok(Self { state })
    }

    /// Ends the session (the connection closes asynchronously).
    pub(crate) fn stop(&self) {
        self.state.stop();
    }

    pub(crate) fn stats(&self) -> ServiceStats {
        self.state.stats()
    }
}

impl ServiceListener {
    /// Starts accepting on `listener`, serving at most `max_sessions` connections at once
    /// (accept mode: queueing at most that many, up to [`MAX_QUEUED`], and announcing each to
    /// the sink with the listener's endpoint id; any mode: announcing a failed accept to the
    /// sink). IRQL: PASSIVE_LEVEL.
    pub(crate) fn start(
        listener: ListenSocket,
        service: TcpService,
        max_sessions: usize,
        sink: Option<(&'static dyn AcceptSink, EndpointId)>,
    ) -> Result<Self, NtStatus> {
        let mut listener = listener;
        if service != TcpService::Accept {
            // The connections it accepts inherit the option; ACCEPT hands them to the user as
            // they are.
            without_nagle(&mut listener);
        }
        let max_sessions = max_sessions.max(1);
        let state = ServiceState::try_new(max_sessions)?;
        let acceptor = ListenTask::start(
            listener,
            ServiceAcceptor {
                state,
                service,
                max_sessions,
                sink,
            },
        )?;
        Ok(Self { acceptor })
    }

    /// The failure that stopped it accepting, if one did. IRQL <= DISPATCH_LEVEL.
    pub(crate) fn failure(&self) -> Option<NtStatus> {
        self.acceptor.handler().state.stats().failure
    }

    /// Whether connections wait for ACCEPT. IRQL <= DISPATCH_LEVEL.
    pub(crate) fn has_queued(&self) -> bool {
        self.acceptor.handler().state.queue.lock().len > 0
    }

    /// The oldest connection waiting for ACCEPT. IRQL <= DISPATCH_LEVEL.
    pub(crate) fn pop_queued(&self) -> Option<QueuedConnection> {
        let state = &self.acceptor.handler().state;
        let item = state.queue.lock().pop();
        if item.is_some() {
            state.active.fetch_sub(1, Ordering::Relaxed);
        }
        item
    }

    /// Stops accepting and closes every connection (asynchronously).
    pub(crate) fn stop(&self) {
        self.acceptor.stop();
        self.acceptor.handler().state.stop();
        // Connections nobody took: closed here (PASSIVE_LEVEL, as the caller is).
        while let Some(queued) = self.pop_queued() {
            drop(queued);
        }
    }

    pub(crate) fn stats(&self) -> ServiceStats {
        self.acceptor.handler().state.stats()
    }
}

struct ServiceAcceptor {
    state: PoolArc<ServiceState>,
    service: TcpService,
    max_sessions: usize,
    /// Who hands queued connections to ACCEPT requests (accept mode) and hears of a failure
    /// that stopped accepting, and the listener's id.
    sink: Option<(&'static dyn AcceptSink, EndpointId)>,
}

impl ServiceAcceptor {
    /// Accept mode: queues the connection and announces it.
    fn queue(&self, connection: AcceptedConnection, remote: Option<SocketAddr>) {
        // An ACCEPT request takes it and uses its blocking calls at PASSIVE_LEVEL.
        let socket = connection.into_socket();
        let pushed = self
            .state
            .queue
            .lock()
            .push(QueuedConnection { socket, remote }, self.max_sessions);
        match pushed {
            Ok(()) => {
                self.state.served.fetch_add(1, Ordering::Relaxed);
                self.state.active.fetch_add(1, Ordering::Relaxed);
            }
            // Full: refuse this connection, keep listening.
            Err(refused) => {
                self.state.refused.fetch_add(1, Ordering::Relaxed);
                refused.socket.close_later();
            }
        }
        if let Some((sink, id)) = self.sink {
            sink.connection_queued(id);
        }
    }
}

impl ListenHandler for ServiceAcceptor {
    fn accepted(&self, connection: AcceptedConnection, remote: Option<SocketAddr>) -> bool {
        if self.service == TcpService::Accept {
            self.queue(connection, remote);
            return true;
        }
        let reserved = {
            let mut sessions = self.state.sessions.lock();
            let free = sessions
                .iter()
                .take(self.max_sessions)
                .position(|s| matches!(s, Slot::Free));
            if let Some(slot) = free.and_then(|i| sessions.get_mut(i)) {
                *slot = Slot::Starting;
            }
            free
        };
        let Some(index) = reserved else {
            // Full: refuse this connection, keep listening.
            self.state.refused.fetch_add(1, Ordering::Relaxed);
            connection.close_later();
            return true;
        };
        let _ = ServiceState::run_session(&self.state, index, self.service, connection);
        true
    }

    /// Counted for LIST and STATS; the listener goes on accepting.
    fn accept_failed(&self, error: Error) {
        let status = error.status();
        self.state.accept_errors.fetch_add(1, Ordering::Relaxed);
        self.state
            .last_accept_error
            .store(status.as_u32(), Ordering::Relaxed);
        if let Some((sink, _)) = self.sink {
            sink.error_counted();
        }
    }

    /// A failed accept ended the task (a close by the driver reports no error): remembered for
    /// LIST and announced, so the listener does not go on saying `listening` with a dead socket.
    fn finished(&self, error: Option<Error>) {
        let Some(error) = error else { return };
        let status = error.status();
        self.state.failure.store(status.as_u32(), Ordering::Release);
        if let Some((sink, id)) = self.sink {
            sink.listener_failed(id, status);
        }
    }
}

/// One connection of a service.
struct ServiceSession {
    state: PoolArc<ServiceState>,
    index: usize,
    service: TcpService,
    /// Bytes of the pattern sent so far (source).
    offset: AtomicU64,
}

/// Fills `buffer` with the source pattern (defined by the protocol, so clients can check it)
/// starting at stream offset `offset`.
fn fill_pattern(buffer: &mut [u8], offset: u64) {
    let _ = wskrs_protocol::fill_source_pattern(buffer, offset);
}

impl ConnectionHandler for ServiceSession {
    fn start(&self, buffer: &mut [u8]) -> ConnectionStep {
        match self.service {
            TcpService::Echo | TcpService::Discard | TcpService::Accept => ConnectionStep::Receive,
            TcpService::Source => {
                fill_pattern(buffer, 0);
                ConnectionStep::Send(buffer.len())
            }
        }
    }

    fn received(&self, _buffer: &mut [u8], len: usize) -> ConnectionStep {
        if len == 0 {
            return ConnectionStep::Close;
        }
        self.state
            .bytes_received
            .fetch_add(len as u64, Ordering::Relaxed);
        match self.service {
            TcpService::Echo => ConnectionStep::Send(len),
            TcpService::Discard | TcpService::Source | TcpService::Accept => {
                ConnectionStep::Receive
            }
        }
    }

    fn sent(&self, buffer: &mut [u8], len: usize) -> ConnectionStep {
        self.state
            .bytes_sent
            .fetch_add(len as u64, Ordering::Relaxed);
        match self.service {
            TcpService::Echo | TcpService::Discard | TcpService::Accept => ConnectionStep::Receive,
            TcpService::Source => {
                let offset = self
                    .offset
                    .fetch_add(len as u64, Ordering::Relaxed)
                    .saturating_add(len as u64);
                fill_pattern(buffer, offset);
                ConnectionStep::Send(buffer.len())
            }
        }
    }

    fn finished(&self, _error: Option<Error>) {
        self.state.active.fetch_sub(1, Ordering::Relaxed);
        // The slot's task handle is released outside the lock.
        let released = {
            let mut sessions = self.state.sessions.lock();
            sessions.get_mut(self.index).map(|slot| match slot {
                Slot::Starting => core::mem::replace(slot, Slot::FinishedEarly),
                _ => core::mem::replace(slot, Slot::Free),
            })
        };
        drop(released);
    }
}

/// UDP echo: every datagram goes back to its sender.
pub(crate) struct UdpEchoSession {
    pub(crate) datagrams: AtomicU64,
    pub(crate) bytes: AtomicU64,
    /// The status of the request that failed and stopped the echo (0: none).
    failure: AtomicU32,
}

impl UdpEchoSession {
    pub(crate) const fn new() -> Self {
        Self {
            datagrams: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            failure: AtomicU32::new(0),
        }
    }

    /// The failure that stopped the echo, if one did. IRQL: any.
    pub(crate) fn failure(&self) -> Option<NtStatus> {
        status_of(self.failure.load(Ordering::Acquire))
    }
}

impl DatagramHandler for UdpEchoSession {
    fn received(&self, _buffer: &mut [u8], len: usize, from: Option<SocketAddr>) -> DatagramStep {
        self.datagrams.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(len as u64, Ordering::Relaxed);
        match from {
            Some(to) => DatagramStep::SendTo(len, to),
            None => DatagramStep::Receive,
        }
    }

    fn sent(&self, _buffer: &mut [u8], _len: usize) -> DatagramStep {
        DatagramStep::Receive
    }

    /// A failed receive or send ended the task (a close by the driver reports none):
    /// remembered for LIST, which shows the endpoint broken with it.
    fn finished(&self, error: Option<Error>) {
        if let Some(error) = error {
            self.failure
                .store(error.status().as_u32(), Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_pattern_continues_across_buffers() {
        let mut whole = [0u8; 1000];
        fill_pattern(&mut whole, 0);
        assert_eq!(whole[0], 0);
        assert_eq!(whole[250], 250);
        assert_eq!(whole[251], 0);
        let mut tail = [0u8; 300];
        fill_pattern(&mut tail, 700);
        assert_eq!(&tail[..], &whole[700..1000]);
    }

    #[test]
    fn echo_session_sends_back_to_the_sender() {
        let session = UdpEchoSession::new();
        let from: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        assert_eq!(
            session.received(&mut [0; 8], 8, Some(from)),
            DatagramStep::SendTo(8, from)
        );
        assert_eq!(
            session.received(&mut [0; 8], 8, None),
            DatagramStep::Receive
        );
        assert_eq!(session.bytes.load(Ordering::Relaxed), 16);
    }
}
