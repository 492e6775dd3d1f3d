//! The endpoint table: ids, ownership by handle, and per-endpoint statistics.
//!
//! Ids come from a counter and are never reused while the driver is loaded, so a stale id
//! is simply unknown. An endpoint is visible to the handle that created it and, once
//! detached, to every handle. Endpoints leave the table before they are closed: closing
//! blocks, and nothing blocks under the table's spin lock.

use core::net::SocketAddr;

use wsk::{ConnectionSocket, NtStatus, SpinLock};
use wskrs_protocol::{self as protocol, EndpointId, EndpointInfo, EndpointState, Service, WireAddr};

use crate::services::ServiceListener;
use crate::Caller;

/// Most endpoints the driver holds at once.
pub(crate) const MAX_ENDPOINTS: usize = 256;

enum Kind {
    /// `socket` is `None` while a send or receive has it out of the table.
    Connection { socket: Option<ConnectionSocket> },
    Listener { service: Service, listener: ServiceListener },
}

/// One endpoint and its statistics.
pub(crate) struct Endpoint {
    id: EndpointId,
    owner: Caller,
    detached: bool,
    local: Option<SocketAddr>,
    remote: Option<SocketAddr>,
    state: EndpointState,
    bytes_sent: u64,
    bytes_received: u64,
    kind: Kind,
}

impl Endpoint {
    pub(crate) fn connection(
        owner: Caller,
        detached: bool,
        local: Option<SocketAddr>,
        remote: SocketAddr,
        socket: ConnectionSocket,
    ) -> Self {
        Self {
            id: EndpointId(0),
            owner,
            detached,
            local,
            remote: Some(remote),
            state: EndpointState::Connected,
            bytes_sent: 0,
            bytes_received: 0,
            kind: Kind::Connection { socket: Some(socket) },
        }
    }

    pub(crate) fn listener(owner: Caller, detached: bool, local: SocketAddr, service: Service, listener: ServiceListener) -> Self {
        Self {
            id: EndpointId(0),
            owner,
            detached,
            local: Some(local),
            remote: None,
            state: EndpointState::Listening,
            bytes_sent: 0,
            bytes_received: 0,
            kind: Kind::Listener { service, listener },
        }
    }

    fn visible_to(&self, caller: Caller) -> bool {
        self.detached || self.owner == caller
    }

    /// Closes the endpoint. IRQL: PASSIVE_LEVEL (a connection's close waits).
    pub(crate) fn close(self) {
        match self.kind {
            Kind::Connection { socket } => drop(socket),
            Kind::Listener { listener, .. } => listener.stop(),
        }
    }

    fn info(&self, caller: Caller) -> EndpointInfo {
        let mut flags = 0;
        if self.detached {
            flags |= protocol::INFO_DETACHED;
        }
        if self.owner == caller {
            flags |= protocol::INFO_OWNED_BY_CALLER;
        }
        let (kind, service, stats) = match &self.kind {
            Kind::Connection { .. } => (protocol::KIND_TCP_CONNECTION, Service::None, None),
            Kind::Listener { service, listener } => (protocol::KIND_TCP_LISTENER, *service, Some(listener.stats())),
        };
        let stats = stats.unwrap_or_default();
        EndpointInfo {
            id: self.id.0,
            kind,
            state: self.state.as_u32(),
            service: service.as_u32(),
            flags,
            local: WireAddr::from_option(self.local),
            remote: WireAddr::from_option(self.remote),
            bytes_sent: self.bytes_sent.saturating_add(stats.bytes_sent),
            bytes_received: self.bytes_received.saturating_add(stats.bytes_received),
            connections_served: stats.served,
            connections_active: stats.active,
            reserved: 0,
        }
    }
}

struct Slots {
    slots: [Option<Endpoint>; MAX_ENDPOINTS],
    next_id: u64,
}

impl Slots {
    fn find(&mut self, caller: Caller, id: EndpointId) -> Result<&mut Endpoint, NtStatus> {
        self.slots
            .iter_mut()
            .flatten()
            .find(|e| e.id == id && e.visible_to(caller))
            .ok_or(NtStatus::NOT_FOUND)
    }

    fn take_where(&mut self, pick: impl Fn(&Endpoint) -> bool) -> Option<Endpoint> {
        self.slots.iter_mut().find(|s| s.as_ref().is_some_and(&pick)).and_then(Option::take)
    }
}

/// All endpoints, behind a spin lock.
pub(crate) struct EndpointTable {
    inner: SpinLock<Slots>,
}

impl EndpointTable {
    /// An empty table. It is large (hundreds of slots): build it only in a static
    /// initializer, where it is evaluated at compile time, never on a kernel stack.
    #[allow(clippy::large_stack_arrays)]
    pub(crate) const fn new() -> Self {
        Self { inner: SpinLock::new(Slots { slots: [const { None }; MAX_ENDPOINTS], next_id: 1 }) }
    }

    /// Adds an endpoint and assigns its id. When the table is full the endpoint is closed
    /// and `STATUS_INSUFFICIENT_RESOURCES` returned.
    pub(crate) fn insert(&self, mut endpoint: Endpoint) -> Result<EndpointId, NtStatus> {
        let rejected = {
            let mut t = self.inner.lock();
            let id = EndpointId(t.next_id);
            match t.slots.iter_mut().find(|s| s.is_none()) {
                Some(slot) => {
                    endpoint.id = id;
                    *slot = Some(endpoint);
                    t.next_id = t.next_id.saturating_add(1);
                    return Ok(id);
                }
                None => endpoint,
            }
        };
        rejected.close();
        Err(NtStatus::INSUFFICIENT_RESOURCES)
    }

    pub(crate) fn count(&self) -> usize {
        self.inner.lock().slots.iter().flatten().count()
    }

    /// Takes a connection's socket out for a blocking operation; [`EndpointTable::give_back`]
    /// returns it. `STATUS_DEVICE_BUSY` while another operation has it.
    pub(crate) fn borrow_connection(&self, caller: Caller, id: EndpointId) -> Result<ConnectionSocket, NtStatus> {
        let mut t = self.inner.lock();
        let endpoint = t.find(caller, id)?;
        match &mut endpoint.kind {
            Kind::Connection { socket } => socket.take().ok_or(NtStatus::DEVICE_BUSY),
            Kind::Listener { .. } => Err(NtStatus::INVALID_DEVICE_STATE),
        }
    }

    /// Returns a borrowed socket with the bytes moved. If the endpoint was closed meanwhile
    /// the socket is closed now.
    pub(crate) fn give_back(&self, id: EndpointId, socket: ConnectionSocket, sent: usize, received: usize, failed: bool) {
        let orphan = {
            let mut t = self.inner.lock();
            let slot = t.slots.iter_mut().flatten().find(|e| e.id == id);
            match slot {
                Some(endpoint) => {
                    endpoint.bytes_sent = endpoint.bytes_sent.saturating_add(sent as u64);
                    endpoint.bytes_received = endpoint.bytes_received.saturating_add(received as u64);
                    if failed && !socket.is_open() {
                        endpoint.state = EndpointState::Broken;
                    }
                    match &mut endpoint.kind {
                        Kind::Connection { socket: place } if place.is_none() => {
                            *place = Some(socket);
                            None
                        }
                        _ => Some(socket),
                    }
                }
                None => Some(socket),
            }
        };
        drop(orphan);
    }

    pub(crate) fn mark_peer_closed(&self, id: EndpointId) {
        if let Some(endpoint) = self.inner.lock().slots.iter_mut().flatten().find(|e| e.id == id) {
            endpoint.state = EndpointState::PeerClosed;
        }
    }

    /// Removes an endpoint visible to `caller`.
    pub(crate) fn remove(&self, caller: Caller, id: EndpointId) -> Result<Endpoint, NtStatus> {
        self.inner.lock().take_where(|e| e.id == id && e.visible_to(caller)).ok_or(NtStatus::NOT_FOUND)
    }

    /// Removes one endpoint that `caller` created without detaching.
    pub(crate) fn remove_owned_by(&self, caller: Caller) -> Option<Endpoint> {
        self.inner.lock().take_where(|e| e.owner == caller && !e.detached)
    }

    /// Detached endpoints of a closing handle belong to no handle from now on.
    pub(crate) fn disown(&self, caller: Caller) {
        for endpoint in self.inner.lock().slots.iter_mut().flatten().filter(|e| e.owner == caller) {
            endpoint.owner = Caller::NOBODY;
        }
    }

    /// Removes any endpoint (unload).
    pub(crate) fn remove_any(&self) -> Option<Endpoint> {
        self.inner.lock().take_where(|_| true)
    }

    /// Calls `f` with the statistics of every endpoint visible to `caller`.
    pub(crate) fn for_each_visible(&self, caller: Caller, mut f: impl FnMut(EndpointInfo)) {
        let t = self.inner.lock();
        for endpoint in t.slots.iter().flatten().filter(|e| e.visible_to(caller)) {
            f(endpoint.info(caller));
        }
    }
}
