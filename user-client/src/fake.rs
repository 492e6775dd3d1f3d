//! A fake driver for host tests: validates requests with `wskrs-protocol` exactly as the
//! real driver core does and answers with its reply writers.
//!
//! The fake network behind it:
//! - TCP connections are wired to an echo peer: bytes sent come back on receive. A connect to
//!   port 1 is refused; a connection to port 2 has a peer that already closed. A graceful
//!   DISCONNECT makes the echo peer close too (after echoing what it had); an abortive one
//!   resets the connection.
//! - Listeners serve clients simulated with [`FakeDriver::client_session`], running their
//!   service (echo, discard, source, none) and honouring `max_connections`.
//! - UDP sockets: a datagram sent to another fake UDP socket's address is delivered there
//!   (and bounced back when that socket runs the echo service); a datagram to any other
//!   address reaches an echo peer and comes back, except to port 1, where it is lost.
//! - Socket options are stored per endpoint, with the kind's options only; SECURITY returns
//!   the SDDL the endpoint was created with; RESOLVE knows `localhost` and address literals;
//!   STATS adds everything up. A fake clock advances 10 ms per request.
//! - [`FakeDriver::fail_next`] makes the next request with a code fail with a status (after
//!   validation), counted as an error of its endpoint.
//! - Requests go through a [`FakeHandle`] (one per opened device, as a file handle): when it
//!   is dropped, the endpoints it created without `detach` are closed, as the driver does.
//! - ABI v3 direct I/O: SEND / `SEND_TO` read their data from the output buffer, RECV /
//!   `RECV_FROM` write into it, and its length must be the request's
//!   ([`direct_output_len`], else `STATUS_INVALID_PARAMETER`). A receive with nothing to
//!   receive "waits": it runs the hook set with [`FakeDriver::while_waiting`] (a test cancels
//!   there), then completes with `STATUS_CANCELLED` if the handle's requests were cancelled
//!   meanwhile, else with `STATUS_IO_TIMEOUT` at once.
//! - A listener without a service (`SERVICE_NONE`) queues the clients of
//!   [`FakeDriver::client_session`] (at most its `max_connections`, up to 64; more are
//!   refused) and ACCEPT takes the oldest as a connection endpoint of the caller, holding what
//!   the client sent and wired to an echo peer like the others; with none queued, ACCEPT
//!   waits as a receive does. ACCEPT on anything else is `STATUS_INVALID_DEVICE_STATE`.
//! - SERVE hands a user-driven connection to a service, which at once takes what the peer
//!   had sent (and, later, what [`FakeDriver::peer_sends`] adds): echo sends it back
//!   ([`FakeDriver::peer_received`] shows what reached the peer), discard counts it, source
//!   sends nothing here. The endpoint keeps its id and lists the service, one connection
//!   served and active, and the bytes; SEND, RECV, DISCONNECT and socket options on it are
//!   `STATUS_INVALID_DEVICE_STATE`, as is SERVE on a listener, a UDP socket or a served
//!   connection. The fake never has a request outstanding, so it never answers
//!   `STATUS_DEVICE_BUSY` by itself (use [`FakeDriver::fail_next`]).

#![allow(
    clippy::must_use_candidate,
    reason = "test support: callers assert on what they use"
)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use wskrs_ntstatus::NtStatus;
use wskrs_protocol::{
    direct_output_len, fill_source_pattern, min_output_len, parse_request, recv_from_data_area,
    write_close, write_disconnect, write_endpoint, write_info, write_recv_from_header,
    write_security, write_serve, write_socket_option, write_stats, BindFlags, EndpointId,
    EndpointInfo, EndpointKind, EndpointState, IoctlCode, ListWriter, OptionId, ProtocolError,
    Request, ResolveWriter, Service, Stats, WireAddr, DEFAULT_MAX_CONNECTIONS, INFO_DETACHED,
    INFO_OWNED_BY_CALLER,
};

use crate::cancel::CancelIo;
use crate::device::{IoctlCompletion, Transport};

/// The port whose connects are refused (and where UDP datagrams are lost).
pub const REFUSING_PORT: u16 = 1;
/// The port whose peer closes at once.
pub const CLOSED_PEER_PORT: u16 = 2;
/// Milliseconds the fake clock advances per request.
pub const TICK_MS: u64 = 10;
/// Most connections a listener without a service keeps for ACCEPT (docs/protocol.md).
pub const ACCEPT_QUEUE_LIMIT: u32 = 64;
/// `SO_RCVBUF` / `SO_SNDBUF` of a new socket.
pub const DEFAULT_BUFFER: u32 = 65_536;

#[derive(Debug)]
struct Endpoint {
    kind: EndpointKind,
    local: SocketAddr,
    remote: Option<SocketAddr>,
    service: Service,
    detached: bool,
    /// The handle that created it.
    owner: u64,
    /// Stream bytes waiting to be received (connections).
    inbox: VecDeque<u8>,
    /// What the in-kernel service of a served connection sent to its peer.
    outbox: Vec<u8>,
    /// Datagrams waiting to be received, with their senders (UDP).
    datagrams: VecDeque<(SocketAddr, Vec<u8>)>,
    /// Clients waiting for ACCEPT, with what each sent (listeners without a service).
    queued: VecDeque<(SocketAddr, Vec<u8>)>,
    peer_closed: bool,
    /// `Some(abortive)` after a DISCONNECT.
    disconnected: Option<bool>,
    max_connections: u32,
    sddl: Option<String>,
    options: BTreeMap<u32, u32>,
    opened_at: u64,
    bytes_sent: u64,
    bytes_received: u64,
    connections_served: u64,
    connections_active: u32,
    send_ops: u64,
    recv_ops: u64,
    errors: u64,
    last_status: u32,
}

impl Endpoint {
    fn new(kind: EndpointKind, local: SocketAddr, bind: BindFlags, clock: u64) -> Self {
        let mut options = BTreeMap::new();
        let mut offer = |option: OptionId, value: u32| {
            options.insert(option.as_u32(), value);
        };
        if kind == EndpointKind::TcpConnection {
            offer(OptionId::Keepalive, 0);
            offer(OptionId::NoDelay, 0);
        }
        offer(OptionId::RcvBuf, DEFAULT_BUFFER);
        offer(OptionId::SndBuf, DEFAULT_BUFFER);
        offer(OptionId::ReuseAddr, u32::from(bind.reuse));
        offer(OptionId::ExclusiveAddrUse, u32::from(bind.exclusive));
        if local.is_ipv6() {
            // Windows' default for IPV6_V6ONLY is on.
            offer(OptionId::Ipv6V6Only, u32::from(bind.v6only.unwrap_or(true)));
        }
        Self {
            kind,
            local,
            remote: None,
            service: Service::None,
            detached: false,
            owner: 0,
            inbox: VecDeque::new(),
            outbox: Vec::new(),
            datagrams: VecDeque::new(),
            queued: VecDeque::new(),
            peer_closed: false,
            disconnected: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            sddl: None,
            options,
            opened_at: clock,
            bytes_sent: 0,
            bytes_received: 0,
            connections_served: 0,
            connections_active: 0,
            send_ops: 0,
            recv_ops: 0,
            errors: 0,
            last_status: 0,
        }
    }

    fn state(&self) -> EndpointState {
        match self.kind {
            EndpointKind::TcpListener => EndpointState::Listening,
            EndpointKind::Udp => EndpointState::Bound,
            EndpointKind::TcpConnection if self.disconnected.is_some() => {
                EndpointState::Disconnected
            }
            EndpointKind::TcpConnection if self.peer_closed => EndpointState::PeerClosed,
            EndpointKind::TcpConnection => EndpointState::Connected,
        }
    }

    fn reuses(&self) -> bool {
        self.options.get(&OptionId::ReuseAddr.as_u32()) == Some(&1)
    }

    /// A connection an in-kernel service took over (SERVE).
    fn is_served(&self) -> bool {
        self.kind == EndpointKind::TcpConnection && self.service != Service::None
    }

    /// The service of a served connection takes what the peer sent. Returns the bytes
    /// (received, sent) for the driver's totals.
    fn run_service(&mut self) -> (u64, u64) {
        let taken: Vec<u8> = self.inbox.drain(..).collect();
        let received = taken.len() as u64;
        let sent = if self.service == Service::Echo {
            self.outbox.extend(&taken);
            received
        } else {
            0
        };
        self.bytes_received += received;
        self.bytes_sent += sent;
        (received, sent)
    }
}

/// Driver-wide totals (STATS).
#[derive(Debug, Default)]
struct Totals {
    endpoints_opened: u64,
    endpoints_peak: u32,
    bytes_sent: u64,
    bytes_received: u64,
    connections_served: u64,
    errors: u64,
}

#[derive(Debug, Default)]
struct State {
    last_id: u64,
    last_handle: u64,
    endpoints: BTreeMap<u64, Endpoint>,
    requests: Vec<u32>,
    clock: u64,
    totals: Totals,
    faults: HashMap<u32, NtStatus>,
    while_waiting: WaitHook,
}

/// What runs while a receive waits (see [`FakeDriver::while_waiting`]).
#[derive(Default)]
struct WaitHook(Option<Box<dyn FnMut() + Send>>);

impl std::fmt::Debug for WaitHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "WaitHook(set)"
        } else {
            "WaitHook(none)"
        })
    }
}

/// The cancel flag of one [`FakeHandle`]: `CancelIoEx(handle, NULL)`.
#[derive(Debug, Default)]
struct FakeCancel(AtomicBool);

impl CancelIo for FakeCancel {
    fn cancel_io(&self) -> io::Result<()> {
        self.0.store(true, Ordering::SeqCst);
        Ok(())
    }
}

/// The output buffer of a request: written by the driver, or (`METHOD_IN_DIRECT`) read.
enum Output<'a> {
    Write(&'a mut [u8]),
    Read(&'a [u8]),
}

impl Output<'_> {
    fn len(&self) -> usize {
        match self {
            Self::Write(buffer) => buffer.len(),
            Self::Read(buffer) => buffer.len(),
        }
    }

    /// The bytes a SEND / `SEND_TO` sends.
    fn bytes(&self) -> &[u8] {
        match self {
            Self::Write(buffer) => buffer,
            Self::Read(buffer) => buffer,
        }
    }

    /// The buffer to write a reply or received data into.
    fn writable(&mut self) -> Result<&mut [u8], NtStatus> {
        match self {
            Self::Write(buffer) => Ok(buffer),
            // The I/O manager would have probed it for reading only.
            Self::Read(_) => Err(NtStatus::INVALID_PARAMETER),
        }
    }
}

impl State {
    fn add(&mut self, mut endpoint: Endpoint, detach: bool, owner: u64) -> EndpointId {
        self.last_id += 1;
        endpoint.detached = detach;
        endpoint.owner = owner;
        self.endpoints.insert(self.last_id, endpoint);
        self.totals.endpoints_opened += 1;
        let open = u32::try_from(self.endpoints.len()).unwrap_or(u32::MAX);
        self.totals.endpoints_peak = self.totals.endpoints_peak.max(open);
        EndpointId(self.last_id)
    }

    fn endpoint(&mut self, id: EndpointId) -> Result<&mut Endpoint, NtStatus> {
        self.endpoints.get_mut(&id.0).ok_or(NtStatus::NOT_FOUND)
    }

    /// The endpoint `id` if it is of `kind` and user-driven; `STATUS_INVALID_DEVICE_STATE`
    /// otherwise (a served connection belongs to its service).
    fn of_kind(&mut self, id: EndpointId, kind: EndpointKind) -> Result<&mut Endpoint, NtStatus> {
        let endpoint = self.endpoint(id)?;
        if endpoint.kind == kind && !endpoint.is_served() {
            Ok(endpoint)
        } else {
            Err(NtStatus::INVALID_DEVICE_STATE)
        }
    }

    /// `STATUS_ADDRESS_ALREADY_EXISTS` if an endpoint of `kind` holds `local` (port 0 never
    /// conflicts; two sockets that both set `SO_REUSEADDR` may share).
    fn check_free(
        &self,
        kind: EndpointKind,
        local: SocketAddr,
        reuse: bool,
    ) -> Result<(), NtStatus> {
        let taken = self.endpoints.values().any(|other| {
            other.kind == kind
                && local.port() != 0
                && other.local.port() == local.port()
                && other.local.ip() == local.ip()
                && !(reuse && other.reuses())
        });
        if taken {
            Err(NtStatus::ADDRESS_ALREADY_EXISTS)
        } else {
            Ok(())
        }
    }

    /// The UDP endpoint bound to `address`, if any (a wildcard bind matches its family).
    fn udp_at(&self, address: SocketAddr) -> Option<u64> {
        self.endpoints.iter().find_map(|(&id, endpoint)| {
            let same_ip = endpoint.local.ip() == address.ip()
                || (endpoint.local.ip().is_unspecified()
                    && endpoint.local.is_ipv4() == address.is_ipv4());
            (endpoint.kind == EndpointKind::Udp
                && endpoint.local.port() == address.port()
                && same_ip)
                .then_some(id)
        })
    }
}

/// The fake driver; clones share its state. Open a [`FakeHandle`] to send it requests.
#[derive(Clone, Debug, Default)]
pub struct FakeDriver(Arc<Mutex<State>>);

/// An open handle on the fake driver (what `CreateFileW` gives a client).
#[derive(Debug)]
pub struct FakeHandle {
    driver: FakeDriver,
    id: u64,
    cancel: Arc<FakeCancel>,
}

impl Drop for FakeHandle {
    /// Closes the endpoints this handle created without `detach`.
    fn drop(&mut self) {
        let mut state = self.driver.state();
        state
            .endpoints
            .retain(|_, endpoint| endpoint.detached || endpoint.owner != self.id);
    }
}

impl FakeDriver {
    /// The shared state (a test that panicked while holding it leaves it usable).
    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens a new handle.
    pub fn handle(&self) -> FakeHandle {
        let mut state = self.state();
        state.last_handle += 1;
        FakeHandle {
            driver: self.clone(),
            id: state.last_handle,
            cancel: Arc::default(),
        }
    }

    /// The ids of the open endpoints.
    pub fn endpoint_ids(&self) -> Vec<u64> {
        self.state().endpoints.keys().copied().collect()
    }

    /// The IOCTL codes received so far.
    pub fn requests(&self) -> Vec<u32> {
        self.state().requests.clone()
    }

    /// Queues bytes from the peer of connection `id` (a served connection's service takes
    /// them at once).
    pub fn peer_sends(&self, id: u64, data: &[u8]) {
        let mut state = self.state();
        if let Some(endpoint) = state.endpoints.get_mut(&id) {
            endpoint.inbox.extend(data);
            if endpoint.is_served() {
                let (received, sent) = endpoint.run_service();
                state.totals.bytes_received += received;
                state.totals.bytes_sent += sent;
            }
        }
    }

    /// What the service of served connection `id` has sent to its peer so far.
    pub fn peer_received(&self, id: u64) -> Vec<u8> {
        self.state()
            .endpoints
            .get(&id)
            .map(|endpoint| endpoint.outbox.clone())
            .unwrap_or_default()
    }

    /// Queues a datagram from `from` on UDP endpoint `id`.
    pub fn peer_sends_to(&self, id: u64, from: SocketAddr, data: &[u8]) {
        if let Some(endpoint) = self.state().endpoints.get_mut(&id) {
            endpoint.datagrams.push_back((from, data.to_vec()));
        }
    }

    /// Runs `hook` whenever a receive waits for data (the test's stand-in for another
    /// thread acting while the request is pending, e.g. cancelling it).
    pub fn while_waiting(&self, hook: impl FnMut() + Send + 'static) {
        self.state().while_waiting = WaitHook(Some(Box::new(hook)));
    }

    /// Makes the next request with `code` fail with `status` once it has been validated.
    pub fn fail_next(&self, code: IoctlCode, status: NtStatus) {
        self.state().faults.insert(code.0, status);
    }

    /// A client connects to listener `id`, sends `data`, reads up to `read` bytes of what the
    /// service answers, and closes unless `stay` (it then counts as active). Returns what it
    /// read, or `None` when the listener is unknown or refuses (at `max_connections`). On a
    /// listener without a service the client is queued for ACCEPT instead (it reads nothing
    /// here); `None` when the queue is full.
    pub fn client_session(&self, id: u64, data: &[u8], read: usize, stay: bool) -> Option<Vec<u8>> {
        let mut state = self.state();
        let listener = state.endpoints.get_mut(&id)?;
        if listener.kind != EndpointKind::TcpListener
            || listener.connections_active >= listener.max_connections
        {
            return None;
        }
        if listener.service == Service::None {
            let limit = listener.max_connections.min(ACCEPT_QUEUE_LIMIT) as usize;
            if listener.queued.len() >= limit {
                return None;
            }
            let ip = if listener.local.is_ipv4() {
                IpAddr::from(Ipv4Addr::LOCALHOST)
            } else {
                IpAddr::from(Ipv6Addr::LOCALHOST)
            };
            let port = 40_000 + u16::try_from(listener.connections_served % 20_000).ok()?;
            listener
                .queued
                .push_back((SocketAddr::new(ip, port), data.to_vec()));
            listener.connections_served += 1;
            state.totals.connections_served += 1;
            return Some(Vec::new());
        }
        let (taken, answer) = match listener.service {
            Service::None => (0, Vec::new()),
            Service::Echo => (data.len(), data.get(..read.min(data.len()))?.to_vec()),
            Service::Discard => (data.len(), Vec::new()),
            Service::Source => {
                let mut pattern = vec![0; read];
                fill_source_pattern(&mut pattern, 0);
                (data.len(), pattern)
            }
        };
        let (taken, sent) = (taken as u64, answer.len() as u64);
        listener.bytes_received += taken;
        listener.bytes_sent += sent;
        listener.connections_served += 1;
        if stay {
            listener.connections_active += 1;
        }
        state.totals.bytes_received += taken;
        state.totals.bytes_sent += sent;
        state.totals.connections_served += 1;
        Some(answer)
    }

    fn write_list(state: &State, handle: u64, output: &mut [u8]) -> Result<usize, ProtocolError> {
        let mut writer = ListWriter::new(output)?;
        for (&id, endpoint) in &state.endpoints {
            let detached = if endpoint.detached { INFO_DETACHED } else { 0 };
            let owned = if endpoint.owner == handle {
                INFO_OWNED_BY_CALLER
            } else {
                0
            };
            writer.push(&EndpointInfo {
                id,
                kind: endpoint.kind.as_u32(),
                state: endpoint.state().as_u32(),
                service: endpoint.service.as_u32(),
                flags: detached | owned,
                local: WireAddr::from(endpoint.local),
                remote: WireAddr::from_option(endpoint.remote),
                bytes_sent: endpoint.bytes_sent,
                bytes_received: endpoint.bytes_received,
                connections_served: endpoint.connections_served,
                connections_active: endpoint.connections_active,
                opened_ms: state.clock.saturating_sub(endpoint.opened_at),
                send_ops: endpoint.send_ops,
                recv_ops: endpoint.recv_ops,
                errors: endpoint.errors,
                last_status: endpoint.last_status,
                ..EndpointInfo::default()
            });
        }
        Ok(writer.finish())
    }

    fn handle_request(
        &self,
        handle: &FakeHandle,
        code: u32,
        input: &[u8],
        mut output: Output<'_>,
    ) -> Result<usize, NtStatus> {
        let mut state = self.state();
        state.requests.push(code);
        state.clock += TICK_MS;
        let request = parse_request(code, input).map_err(ProtocolError::status)?;
        // docs/protocol.md, validation step 6: a direct code's output buffer must be exactly
        // what the request names; a buffered code's must hold the fixed reply.
        if let Some(expected) = direct_output_len(&request) {
            if output.len() != expected {
                return Err(NtStatus::INVALID_PARAMETER);
            }
        } else if output.len() < min_output_len(code).unwrap_or(usize::MAX) {
            return Err(NtStatus::BUFFER_TOO_SMALL);
        }
        // A cancel before this request began is not for it.
        handle.cancel.0.store(false, Ordering::SeqCst);
        let result = match state.faults.remove(&code) {
            Some(status) => Err(status),
            None => carry_out(&mut state, handle, request, &mut output),
        };
        if let Err(status) = result {
            state.totals.errors += 1;
            if let Some(endpoint) = endpoint_of(&request).and_then(|id| state.endpoint(id).ok()) {
                endpoint.errors += 1;
                endpoint.last_status = status.as_u32();
            }
        }
        result
    }
}

/// The endpoint a request acts on, if any.
fn endpoint_of(request: &Request<'_>) -> Option<EndpointId> {
    match request {
        Request::Send(send) => Some(send.id),
        Request::Recv(recv) => Some(recv.id),
        Request::Close(id) | Request::Security(id) => Some(*id),
        Request::SendTo(send) => Some(send.id),
        Request::RecvFrom(recv) => Some(recv.id),
        Request::Disconnect(disconnect) => Some(disconnect.id),
        Request::Accept(accept) => Some(accept.id),
        Request::Serve(serve) => Some(serve.id),
        Request::SocketOption(option) => Some(option.id),
        Request::Info
        | Request::TcpConnect(_)
        | Request::TcpListen(_)
        | Request::List
        | Request::UdpBind(_)
        | Request::Resolve(_)
        | Request::Stats => None,
    }
}

fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Checks an SDDL the way the driver's conversion would reject garbage: it must start with
/// one of the SDDL components (owner, group, DACL, SACL).
fn check_sddl(sddl: Option<&str>) -> Result<Option<String>, NtStatus> {
    match sddl {
        None => Ok(None),
        Some(text) if ["O:", "G:", "D:", "S:"].iter().any(|p| text.starts_with(p)) => {
            Ok(Some(text.to_owned()))
        }
        Some(_) => Err(NtStatus::INVALID_PARAMETER),
    }
}

fn resolve(name: &str, service: &str) -> Result<Vec<SocketAddr>, NtStatus> {
    let port = match service {
        "" => 0,
        "echo" => 7,
        "http" => 80,
        number => number.parse().map_err(|_| NtStatus::NOT_FOUND)?,
    };
    let addresses: Vec<IpAddr> = if name.eq_ignore_ascii_case("localhost") {
        vec![Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()]
    } else {
        vec![name.parse().map_err(|_| NtStatus::NOT_FOUND)?]
    };
    Ok(addresses
        .into_iter()
        .map(|ip| SocketAddr::new(ip, port))
        .collect())
}

/// A receive with nothing to receive: runs the wait hook, then ends cancelled or timed out.
fn wait_for_data(state: &mut State, handle: &FakeHandle) -> NtStatus {
    if let Some(hook) = state.while_waiting.0.as_mut() {
        hook();
    }
    if handle.cancel.0.swap(false, Ordering::SeqCst) {
        NtStatus::CANCELLED
    } else {
        NtStatus::IO_TIMEOUT
    }
}

#[allow(clippy::too_many_lines)] // one arm per request, as the driver's dispatch
fn carry_out(
    state: &mut State,
    handle: &FakeHandle,
    request: Request<'_>,
    output: &mut Output<'_>,
) -> Result<usize, NtStatus> {
    let data = output.bytes().to_vec();
    let written = match request {
        Request::Info => {
            let count = len_u32(state.endpoints.len());
            write_info(output.writable()?, (0, 1, 0), 0x0100, count)
        }
        Request::TcpConnect(connect) => {
            if connect.remote.port() == REFUSING_PORT {
                return Err(NtStatus::CONNECTION_REFUSED);
            }
            let local = connect.local.unwrap_or_else(|| {
                let ip = if connect.remote.is_ipv4() {
                    IpAddr::from(Ipv4Addr::LOCALHOST)
                } else {
                    IpAddr::from(Ipv6Addr::LOCALHOST)
                };
                SocketAddr::new(ip, 50000)
            });
            let mut endpoint = Endpoint::new(
                EndpointKind::TcpConnection,
                local,
                connect.bind,
                state.clock,
            );
            endpoint.remote = Some(connect.remote);
            endpoint.peer_closed = connect.remote.port() == CLOSED_PEER_PORT;
            let id = state.add(endpoint, connect.detach, handle.id);
            write_endpoint(
                output.writable()?,
                id,
                EndpointKind::TcpConnection.as_u32(),
                Some(local),
                Some(connect.remote),
            )
        }
        Request::TcpListen(listen) => {
            state.check_free(EndpointKind::TcpListener, listen.local, listen.bind.reuse)?;
            let mut endpoint = Endpoint::new(
                EndpointKind::TcpListener,
                listen.local,
                listen.bind,
                state.clock,
            );
            endpoint.service = listen.service;
            endpoint.max_connections = listen.max_connections;
            endpoint.sddl = check_sddl(listen.sddl)?;
            let id = state.add(endpoint, listen.detach, handle.id);
            write_endpoint(
                output.writable()?,
                id,
                EndpointKind::TcpListener.as_u32(),
                Some(listen.local),
                None,
            )
        }
        Request::UdpBind(bind) => {
            state.check_free(EndpointKind::Udp, bind.local, bind.bind.reuse)?;
            let sddl = check_sddl(bind.sddl)?;
            // Port 0: the stack picks one; the reply still shows the address as requested.
            let mut local = bind.local;
            if local.port() == 0 {
                local.set_port(u16::try_from(49_152 + state.last_id % 16_000).unwrap_or(49_152));
            }
            let mut endpoint = Endpoint::new(EndpointKind::Udp, local, bind.bind, state.clock);
            endpoint.service = Service::from(bind.service);
            endpoint.sddl = sddl;
            let id = state.add(endpoint, bind.detach, handle.id);
            write_endpoint(
                output.writable()?,
                id,
                EndpointKind::Udp.as_u32(),
                Some(bind.local),
                None,
            )
        }
        Request::Send(send) => {
            let endpoint = state.of_kind(send.id, EndpointKind::TcpConnection)?;
            match endpoint.disconnected {
                Some(true) => return Err(NtStatus::CONNECTION_ABORTED),
                Some(false) => return Err(NtStatus::PIPE_DISCONNECTED),
                None => {}
            }
            // The echo peer sends everything back.
            endpoint.inbox.extend(&data);
            endpoint.bytes_sent += u64::from(send.length);
            endpoint.send_ops += 1;
            state.totals.bytes_sent += u64::from(send.length);
            Ok(data.len())
        }
        Request::Recv(recv) => {
            let endpoint = state.of_kind(recv.id, EndpointKind::TcpConnection)?;
            if endpoint.disconnected == Some(true) {
                return Err(NtStatus::CONNECTION_ABORTED);
            }
            let take = (recv.max_length as usize).min(endpoint.inbox.len());
            if take == 0 && !endpoint.peer_closed {
                return Err(wait_for_data(state, handle));
            }
            // Direct I/O: the whole output buffer is the data area.
            let area = output.writable()?;
            for (slot, byte) in area.iter_mut().zip(endpoint.inbox.drain(..take)) {
                *slot = byte;
            }
            endpoint.bytes_received += take as u64;
            endpoint.recv_ops += 1;
            state.totals.bytes_received += take as u64;
            // 0 bytes: the peer closed its side.
            Ok(take)
        }
        Request::SendTo(send) => {
            let sender = state.of_kind(send.id, EndpointKind::Udp)?;
            sender.bytes_sent += data.len() as u64;
            sender.send_ops += 1;
            let from = sender.local;
            state.totals.bytes_sent += data.len() as u64;
            if let Some(target) = state.udp_at(send.remote) {
                let receiver = state.endpoint(EndpointId(target))?;
                if receiver.service == Service::Echo {
                    receiver.bytes_received += data.len() as u64;
                    receiver.bytes_sent += data.len() as u64;
                    let echo_from = receiver.local;
                    state.totals.bytes_received += data.len() as u64;
                    state.totals.bytes_sent += data.len() as u64;
                    state
                        .endpoint(send.id)?
                        .datagrams
                        .push_back((echo_from, data.clone()));
                } else {
                    receiver.datagrams.push_back((from, data.clone()));
                }
            } else if send.remote.port() != REFUSING_PORT {
                state
                    .endpoint(send.id)?
                    .datagrams
                    .push_back((send.remote, data.clone()));
            }
            Ok(data.len())
        }
        Request::RecvFrom(recv) => {
            let endpoint = state.of_kind(recv.id, EndpointKind::Udp)?;
            let Some((from, datagram)) = endpoint.datagrams.pop_front() else {
                return Err(wait_for_data(state, handle));
            };
            let output = output.writable()?;
            let area = recv_from_data_area(output).map_err(ProtocolError::status)?;
            let take = area.len().min(recv.max_length as usize).min(datagram.len());
            for (slot, byte) in area.iter_mut().zip(&datagram) {
                *slot = *byte;
            }
            endpoint.bytes_received += take as u64;
            endpoint.recv_ops += 1;
            state.totals.bytes_received += take as u64;
            write_recv_from_header(output, len_u32(take), Some(from))
        }
        Request::Accept(accept) => {
            let listener = state.of_kind(accept.id, EndpointKind::TcpListener)?;
            if listener.service != Service::None {
                return Err(NtStatus::INVALID_DEVICE_STATE);
            }
            let local = listener.local;
            let Some((remote, sent)) = listener.queued.pop_front() else {
                return Err(wait_for_data(state, handle));
            };
            let mut endpoint = Endpoint::new(
                EndpointKind::TcpConnection,
                local,
                BindFlags::default(),
                state.clock,
            );
            endpoint.remote = Some(remote);
            endpoint.inbox.extend(sent);
            let id = state.add(endpoint, accept.detach, handle.id);
            write_endpoint(
                output.writable()?,
                id,
                EndpointKind::TcpConnection.as_u32(),
                Some(local),
                Some(remote),
            )
        }
        Request::Disconnect(disconnect) => {
            let endpoint = state.of_kind(disconnect.id, EndpointKind::TcpConnection)?;
            if endpoint.disconnected.is_some() {
                return Err(NtStatus::INVALID_DEVICE_STATE);
            }
            endpoint.disconnected = Some(disconnect.abortive);
            if disconnect.abortive {
                endpoint.inbox.clear();
            } else {
                // The echo peer sees EOF, echoes what it had and closes too.
                endpoint.peer_closed = true;
            }
            write_disconnect(output.writable()?)
        }
        Request::Serve(serve) => {
            // `parse_request` refused SERVICE_NONE already.
            let endpoint = state.of_kind(serve.id, EndpointKind::TcpConnection)?;
            endpoint.service = serve.service;
            endpoint.connections_served = 1;
            endpoint.connections_active = 1;
            let (received, sent) = endpoint.run_service();
            state.totals.connections_served += 1;
            state.totals.bytes_received += received;
            state.totals.bytes_sent += sent;
            write_serve(output.writable()?)
        }
        Request::SocketOption(option) => {
            let endpoint = state.endpoint(option.id)?;
            if endpoint.is_served() {
                return Err(NtStatus::INVALID_DEVICE_STATE);
            }
            let slot = endpoint
                .options
                .get_mut(&option.option.as_u32())
                .ok_or(NtStatus::INVALID_DEVICE_STATE)?;
            if let Some(value) = option.set {
                *slot = value;
            }
            write_socket_option(output.writable()?, *slot)
        }
        Request::Security(id) => {
            let endpoint = state.endpoint(id)?;
            write_security(output.writable()?, endpoint.sddl.as_deref().unwrap_or(""))
        }
        Request::Resolve(query) => {
            let addresses = resolve(query.name, query.service)?;
            let mut writer =
                ResolveWriter::new(output.writable()?).map_err(ProtocolError::status)?;
            for address in addresses {
                writer.push(address);
            }
            Ok(writer.finish())
        }
        Request::Stats => {
            let counters = Stats {
                endpoints_open: len_u32(state.endpoints.len()),
                endpoints_peak: state.totals.endpoints_peak,
                endpoints_opened: state.totals.endpoints_opened,
                bytes_sent: state.totals.bytes_sent,
                bytes_received: state.totals.bytes_received,
                connections_served: state.totals.connections_served,
                errors: state.totals.errors,
                uptime_ms: state.clock,
            };
            write_stats(output.writable()?, &counters)
        }
        Request::Close(id) => {
            state.endpoints.remove(&id.0).ok_or(NtStatus::NOT_FOUND)?;
            write_close(output.writable()?)
        }
        Request::List => FakeDriver::write_list(state, handle.id, output.writable()?),
    };
    written.map_err(ProtocolError::status)
}

impl FakeHandle {
    fn complete(&self, code: u32, input: &[u8], output: Output<'_>) -> IoctlCompletion {
        match self.driver.handle_request(self, code, input, output) {
            Ok(information) => IoctlCompletion {
                status: NtStatus::SUCCESS,
                information,
            },
            Err(status) => IoctlCompletion {
                status,
                information: 0,
            },
        }
    }
}

impl Transport for FakeHandle {
    fn ioctl(&self, code: u32, input: &[u8], output: &mut [u8]) -> IoctlCompletion {
        self.complete(code, input, Output::Write(output))
    }

    fn ioctl_in_direct(&self, code: u32, input: &[u8], data: &[u8]) -> IoctlCompletion {
        self.complete(code, input, Output::Read(data))
    }

    fn cancel_target(&self) -> Option<Weak<dyn CancelIo>> {
        let target: Weak<dyn CancelIo> = Arc::downgrade(&self.cancel) as Weak<dyn CancelIo>;
        Some(target)
    }
}
