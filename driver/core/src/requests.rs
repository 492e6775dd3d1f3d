//! Each IOCTL request, from its validated form to its reply.
//!
//! A request is parsed from the input part of the buffered I/O buffer; the reply is
//! written over the same buffer once nothing borrowed from the input is in use any more.

use core::net::SocketAddr;
use core::sync::atomic::Ordering;
use core::time::Duration;

use wsk::secure::{PeerTargetName, SecurityProtocol, SecuritySettings};
use wsk::security::{CachedSecurityDescriptor, SecurityDescriptor};
use wsk::task::DatagramTask;
use wsk::{
    BindOptions, ConnectionSocket, DatagramSocket, Disconnect, ListenSocket, NtStatus,
    SocketOptions, SocketOwner, TcpOptions, WskClient,
};
use wskrs_protocol::{
    self as protocol, BindFlags, EndpointId, OptionId, ProtocolError, Request, SecureProtocol,
    Service, SocketSecurity, UdpService, PEER_TARGET_NAME_LEN,
};

use crate::endpoints::{DatagramKind, Endpoint, Kind, Outcome, SddlText};
use crate::services::{AcceptSink, ServedConnection, ServiceListener, TcpService, UdpEchoSession};
use crate::{Caller, Driver, Failure, Requester, DRIVER_VERSION};

/// How long creating and binding a listener or UDP socket may take.
const BIND_TIMEOUT: Duration = Duration::from_secs(5);

/// Buffer of the UDP echo service: the largest datagram.
const UDP_ECHO_BUFFER: usize = 64 * 1024;

/// A reply that owns everything it needs, so the request's borrow of the buffer can end
/// before the reply is written over it.
enum Reply {
    Info {
        wsk_version: u16,
        endpoints: u32,
    },
    Endpoint {
        id: EndpointId,
        kind: u32,
        local: Option<SocketAddr>,
        remote: Option<SocketAddr>,
    },
    Closed,
    Disconnected,
    Served,
    OptionValue(u32),
    Security(Option<SddlText>),
    Stats(protocol::Stats),
    Held(protocol::Held),
    /// The device's descriptor as the kernel returned it, and its length.
    DeviceDacl([u8; crate::DEVICE_DESCRIPTOR_CAPACITY], usize),
    PeerTargetNameSet,
    PeerTargetNameDeleted,
    SecurityQueried(wsk::secure::SecurityInfo),
}

/// What the WSK library holds now (HELD). Any IRQL.
fn held() -> protocol::Held {
    let wsk::Held {
        pool_allocations,
        pool_bytes,
        irps,
        mdls,
        sockets,
        work_items,
    } = wsk::Held::now();
    protocol::Held {
        pool_allocations,
        pool_bytes,
        irps,
        mdls,
        sockets,
        work_items,
    }
}

fn millis(ms: u32) -> Duration {
    Duration::from_millis(u64::from(ms))
}

/// The bind options of a request; its socket is created on behalf of the requesting process
/// (the dispatch routine runs in its context), whose security context the provider checks
/// when the socket asks to share an address another socket holds.
fn bind_options(flags: BindFlags) -> BindOptions<'static> {
    BindOptions {
        owner: SocketOwner::CurrentProcess,
        reuse_address: flags.reuse,
        exclusive_address: flags.exclusive,
        ipv6_only: flags.v6only,
        ..BindOptions::default()
    }
}

/// The `wsk` form of a request's security protocol.
const fn security_protocol(protocol: SecureProtocol) -> SecurityProtocol {
    match protocol {
        SecureProtocol::Default => SecurityProtocol::Default,
        SecureProtocol::Ipsec => SecurityProtocol::Ipsec,
        SecureProtocol::Ipsec2 => SecurityProtocol::Ipsec2,
    }
}

/// The `wsk` form of a request's secure socket settings (never the IPsec-specific form: the
/// protocol carries no credentials).
const fn security_settings(security: SocketSecurity) -> SecuritySettings<'static> {
    SecuritySettings {
        protocol: security_protocol(security.protocol),
        guarantee_encryption: security.guarantee_encryption,
        allow_insecure: security.allow_insecure,
        ipsec: None,
    }
}

// Every name the protocol admits fits one WSK request.
const _: () = assert!(PEER_TARGET_NAME_LEN <= PeerTargetName::MAX_UNITS);

/// A peer target name in UTF-16, as `SOCKET_PEER_TARGET_NAME` carries it.
struct Utf16Name {
    units: [u16; PEER_TARGET_NAME_LEN],
    len: usize,
}

impl Utf16Name {
    /// `text` (at most 127 bytes, as the protocol admits: as many UTF-16 units at most);
    /// `STATUS_INVALID_PARAMETER` for a longer one. IRQL: any.
    fn new(text: &str) -> Result<Self, Failure> {
        let mut name = Self {
            units: [0; PEER_TARGET_NAME_LEN],
            len: 0,
        };
        for unit in text.encode_utf16() {
            let slot = name
                .units
                .get_mut(name.len)
                .ok_or(Failure(NtStatus::INVALID_PARAMETER))?;
            *slot = unit;
            name.len = name.len.saturating_add(1);
        }
        Ok(name)
    }

    fn as_slice(&self) -> &[u16] {
        self.units.get(..self.len).unwrap_or_default()
    }
}

fn output(buffer: &mut [u8], output_len: usize) -> Result<&mut [u8], Failure> {
    buffer
        .get_mut(..output_len)
        .ok_or(Failure(NtStatus::INVALID_PARAMETER))
}

impl<R: crate::PendingRequest> Driver<R> {
    pub(crate) fn dispatch(
        &'static self,
        caller: Caller,
        code: u32,
        buffer: &mut [u8],
        input_len: usize,
        output_len: usize,
    ) -> Result<usize, Failure> {
        let input = buffer
            .get(..input_len)
            .ok_or(Failure(NtStatus::INVALID_PARAMETER))?;
        let request = protocol::parse_request(code, input)?;
        let requester = self.requester(caller);
        let min_output =
            protocol::min_output_len(code).ok_or(Failure(NtStatus::INVALID_DEVICE_REQUEST))?;
        if output_len < min_output {
            return Err(ProtocolError::BufferTooSmall.into());
        }
        // LIST writes its entries straight into the output buffer.
        if let Request::List = request {
            return self.list(requester, output(buffer, output_len)?);
        }
        let reply = self.run(requester, request)?;
        write(&reply, output(buffer, output_len)?)
    }

    #[allow(clippy::too_many_lines, reason = "one short arm per request code")]
    fn run(&'static self, requester: Requester, request: Request<'_>) -> Result<Reply, Failure> {
        if matches!(
            request,
            Request::TcpConnect(_) | Request::TcpListen(_) | Request::UdpBind(_)
        ) {
            // Before any socket exists (a connect reaches the network); `insert` checks again.
            self.endpoints
                .check_quota(requester.handle, self.limits().quotas.endpoints)?;
        }
        match request {
            Request::Info => {
                // Registering here lets INFO report the provider; a provider that is not
                // there yet is reported as version 0 rather than failing INFO.
                let wsk_version = self.client().map_or(0, |c| c.provider_version());
                let endpoints = u32::try_from(self.endpoints.count()).unwrap_or(u32::MAX);
                Ok(Reply::Info {
                    wsk_version,
                    endpoints,
                })
            }
            Request::TcpConnect(c) => {
                let client = self.client()?;
                let settings = c.security.map(security_settings);
                let name = c.peer_target_name.map(Utf16Name::new).transpose()?;
                let target = match (&name, c.security) {
                    (Some(name), Some(security)) => Some(PeerTargetName {
                        protocol: security_protocol(security.protocol),
                        peer: None,
                        name: name.as_slice(),
                    }),
                    _ => None,
                };
                let options = BindOptions {
                    socket_security: settings.as_ref(),
                    peer_target_name: target.as_ref(),
                    ..bind_options(c.bind)
                };
                let mut socket = ConnectionSocket::connect_with(
                    &client,
                    c.remote,
                    c.local,
                    options,
                    millis(c.timeout_ms),
                )?;
                // The provider knows the port it chose; a provider without WskGetLocalAddress
                // (Wine's netio) leaves the requested address, if any.
                let local = socket.local_addr().ok().or(c.local);
                let endpoint = Endpoint::connection(requester, c.detach, local, c.remote, socket);
                let id = self.insert(endpoint)?;
                Ok(Reply::Endpoint {
                    id,
                    kind: protocol::KIND_TCP_CONNECTION,
                    local,
                    remote: Some(c.remote),
                })
            }
            Request::TcpListen(l) => {
                let service = match l.service {
                    Service::Echo => TcpService::Echo,
                    Service::Discard => TcpService::Discard,
                    Service::Source => TcpService::Source,
                    // No in-kernel service: connections wait for the user's ACCEPT.
                    Service::None => TcpService::Accept,
                };
                let client = self.client()?;
                let settings = l.security.map(security_settings);
                let (listener, security) = secured(
                    &client,
                    l.sddl,
                    ApplySecurity::Option,
                    BindOptions {
                        socket_security: settings.as_ref(),
                        ..bind_options(l.bind)
                    },
                    |options| ListenSocket::bind_with(&client, l.local, options, BIND_TIMEOUT),
                )?;
                let max = usize::try_from(l.max_connections).unwrap_or(usize::MAX);
                if max > self.limits().connections_per_listener {
                    return Err(NtStatus::INVALID_PARAMETER.into());
                }
                let id = self.endpoints.reserve_id();
                let sink: Option<(&'static dyn AcceptSink, EndpointId)> = Some((self, id));
                let listener = ServiceListener::start(listener, service, max, sink)?;
                let endpoint =
                    Endpoint::listener(id, requester, l.detach, l.local, l.service, listener)
                        .with_security(security);
                let id = self.insert(endpoint)?;
                // Connections that arrived before the endpoint was in the table wait: announce.
                if service == TcpService::Accept {
                    self.connection_queued(id);
                }
                Ok(Reply::Endpoint {
                    id,
                    kind: protocol::KIND_TCP_LISTENER,
                    local: Some(l.local),
                    remote: None,
                })
            }
            Request::UdpBind(u) => {
                let client = self.client()?;
                let settings = u.security.map(security_settings);
                let (socket, security) = secured(
                    &client,
                    u.sddl,
                    ApplySecurity::AtCreation,
                    BindOptions {
                        socket_security: settings.as_ref(),
                        ..bind_options(u.bind)
                    },
                    |options| DatagramSocket::bind_with(&client, u.local, options, BIND_TIMEOUT),
                )?;
                let kind = match u.service {
                    UdpService::None => DatagramKind::User(socket),
                    UdpService::Echo => DatagramKind::Echo(DatagramTask::start(
                        socket,
                        UDP_ECHO_BUFFER,
                        UdpEchoSession::new(),
                    )?),
                };
                let id = self.insert(
                    Endpoint::datagram(requester, u.detach, u.local, kind).with_security(security),
                )?;
                Ok(Reply::Endpoint {
                    id,
                    kind: protocol::KIND_UDP,
                    local: Some(u.local),
                    remote: None,
                })
            }
            Request::Close(id) => {
                self.close_endpoint(self.endpoints.remove(&requester, id)?);
                Ok(Reply::Closed)
            }
            Request::Disconnect(d) => {
                let mut socket: ConnectionSocket = self.endpoints.borrow(&requester, d.id)?;
                let how = if d.abortive {
                    Disconnect::Abortive
                } else {
                    Disconnect::Graceful(&[])
                };
                let result = socket.disconnect(how, millis(d.timeout_ms));
                self.give_back(
                    d.id,
                    socket,
                    Outcome {
                        disconnected: result.is_ok(),
                        ..Outcome::failed(&result)
                    },
                );
                result?;
                Ok(Reply::Disconnected)
            }
            Request::SocketOption(o) => self.socket_option(requester, o).map(Reply::OptionValue),
            Request::Serve(s) => {
                self.serve(requester, s)?;
                Ok(Reply::Served)
            }
            Request::Security(id) => Ok(Reply::Security(self.endpoints.security(&requester, id)?)),
            Request::Stats => Ok(Reply::Stats(self.stats())),
            Request::Held => Ok(Reply::Held(held())),
            Request::DeviceSecurity => {
                let query = (*self.device_dacl.lock()).ok_or(NtStatus::INVALID_DEVICE_STATE)?;
                let mut descriptor = [0u8; crate::DEVICE_DESCRIPTOR_CAPACITY];
                let len = query(&mut descriptor)?;
                Ok(Reply::DeviceDacl(descriptor, len))
            }
            Request::SetPeerTargetName(p) => {
                let name = Utf16Name::new(p.name)?;
                let target = PeerTargetName {
                    protocol: security_protocol(p.protocol),
                    peer: Some(p.peer),
                    name: name.as_slice(),
                };
                // A connection's name goes in TCP_CONNECT: after connect it is too late.
                let mut socket: DatagramSocket = self.endpoints.borrow(&requester, p.id)?;
                let result = socket.set_peer_target_name(&target);
                self.give_back(p.id, socket, Outcome::failed(&result));
                result?;
                Ok(Reply::PeerTargetNameSet)
            }
            Request::DeletePeerTargetName(d) => {
                let mut socket: DatagramSocket = self.endpoints.borrow(&requester, d.id)?;
                let result = socket.delete_peer_target_name(d.peer);
                self.give_back(d.id, socket, Outcome::failed(&result));
                result?;
                Ok(Reply::PeerTargetNameDeleted)
            }
            Request::QuerySecurity(q) => self
                .query_security(requester, q)
                .map(Reply::SecurityQueried),
            // LIST: handled in `dispatch`. Data requests and RESOLVE use direct I/O
            // (`Driver::direct`).
            Request::List
            | Request::Resolve(_)
            | Request::Send(_)
            | Request::Recv(_)
            | Request::SendTo(_)
            | Request::RecvFrom(_)
            | Request::Accept(_)
            | Request::Transact(_) => Err(Failure(NtStatus::INVALID_DEVICE_REQUEST)),
        }
    }

    /// Adds `endpoint` to the table; when it is full, closes it (which waits) and answers
    /// `STATUS_INSUFFICIENT_RESOURCES` (`STATUS_QUOTA_EXCEEDED` when its handle owns its
    /// quota of endpoints already). IRQL: PASSIVE_LEVEL.
    pub(crate) fn insert(&self, endpoint: Endpoint<R>) -> Result<EndpointId, NtStatus> {
        self.insert_or(endpoint, |rejected| {
            // Nothing was served yet: its service was never reachable through the table.
            let _ = rejected.close();
        })
    }

    /// Like [`Driver::insert`], but a refused endpoint goes to `close` (e.g. a close on a
    /// worker thread from DISPATCH_LEVEL). IRQL: whatever `close` allows.
    pub(crate) fn insert_or(
        &self,
        endpoint: Endpoint<R>,
        close: impl FnOnce(Endpoint<R>),
    ) -> Result<EndpointId, NtStatus> {
        let id = self
            .endpoints
            .insert(endpoint, self.limits().quotas.endpoints, close)?;
        self.totals.endpoints_opened.fetch_add(1, Ordering::Relaxed);
        Ok(id)
    }

    /// Returns a borrowed socket and adds the operation to the driver-wide counters.
    fn give_back<S: crate::endpoints::Borrowable>(
        &'static self,
        id: EndpointId,
        socket: S,
        outcome: Outcome,
    ) {
        self.endpoints.give_back(id, socket, outcome);
        // Data requests that waited while the socket was out start now.
        self.advance(id);
        self.totals
            .bytes_sent
            .fetch_add(outcome.sent as u64, Ordering::Relaxed);
        self.totals
            .bytes_received
            .fetch_add(outcome.received as u64, Ordering::Relaxed);
        if outcome.error.is_some() {
            self.totals.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// SERVE: the connection's socket goes to an in-kernel service; the endpoint stays (its
    /// counters are the service's from now on). Refused while a data request is in flight.
    fn serve(&self, requester: Requester, s: protocol::Serve) -> Result<(), Failure> {
        let service = match s.service {
            Service::Echo => TcpService::Echo,
            Service::Discard => TcpService::Discard,
            Service::Source => TcpService::Source,
            Service::None => return Err(Failure(NtStatus::INVALID_PARAMETER)),
        };
        let socket = {
            let mut table = self.endpoints.inner.lock();
            let endpoint = table.find(&requester, s.id)?;
            let Kind::Connection { socket, io } = &mut endpoint.kind else {
                return Err(Failure(NtStatus::INVALID_DEVICE_STATE));
            };
            if !io.is_idle() {
                return Err(Failure(NtStatus::DEVICE_BUSY));
            }
            socket.take().ok_or(Failure(NtStatus::DEVICE_BUSY))?
        };
        // Started outside the lock: a provider may complete the first request inline.
        let started = ServedConnection::start(socket, service);
        let mut table = self.endpoints.inner.lock();
        let Some(endpoint) = table.find_any(s.id) else {
            // Closed meanwhile: nobody can see the service; end it.
            if let Ok(connection) = started {
                connection.stop();
            }
            return Err(Failure(NtStatus::NOT_FOUND));
        };
        match started {
            Ok(connection) => {
                endpoint.kind = Kind::Served {
                    service: s.service,
                    connection,
                };
                Ok(())
            }
            Err(status) => {
                endpoint.mark_broken();
                Err(Failure(status))
            }
        }
    }

    fn list(&self, requester: Requester, out: &mut [u8]) -> Result<usize, Failure> {
        let mut writer = protocol::ListWriter::new(out)?;
        let now = wsk::uptime();
        self.endpoints.for_each_visible(&requester, now, |info| {
            let _ = writer.push(&info);
        });
        Ok(writer.finish())
    }

    fn socket_option(
        &'static self,
        requester: Requester,
        o: protocol::SocketOption,
    ) -> Result<u32, Failure> {
        match self.endpoints.borrow::<ConnectionSocket>(&requester, o.id) {
            Ok(mut socket) => {
                let result = connection_option(&mut socket, o.option, o.set);
                self.give_back(o.id, socket, Outcome::failed(&result));
                Ok(result?)
            }
            Err(NtStatus::INVALID_DEVICE_STATE) => {
                let mut socket: DatagramSocket = self.endpoints.borrow(&requester, o.id)?;
                let result = datagram_option(&mut socket, o.option, o.set);
                self.give_back(o.id, socket, Outcome::failed(&result));
                Ok(result?)
            }
            Err(status) => Err(Failure(status)),
        }
    }

    /// `QUERY_SECURITY`: a TCP connection's (no peer) or a UDP endpoint's with a peer
    /// (`STATUS_INVALID_PARAMETER` for the other combination). IRQL: PASSIVE_LEVEL.
    fn query_security(
        &'static self,
        requester: Requester,
        q: protocol::QuerySecurity,
    ) -> Result<wsk::secure::SecurityInfo, Failure> {
        // The wrong form of request is the caller's error, not the endpoint's: not counted.
        let wrong_form = Failure(NtStatus::INVALID_PARAMETER);
        let result = match self.endpoints.borrow::<ConnectionSocket>(&requester, q.id) {
            Ok(socket) if q.peer.is_some() => {
                self.give_back(q.id, socket, Outcome::default());
                return Err(wrong_form);
            }
            Ok(mut socket) => {
                let result = socket.query_security();
                self.give_back(q.id, socket, Outcome::failed(&result));
                result
            }
            Err(NtStatus::INVALID_DEVICE_STATE) => {
                let mut socket: DatagramSocket = self.endpoints.borrow(&requester, q.id)?;
                let Some(peer) = q.peer else {
                    self.give_back(q.id, socket, Outcome::default());
                    return Err(wrong_form);
                };
                let result = socket.query_security(peer);
                self.give_back(q.id, socket, Outcome::failed(&result));
                result
            }
            Err(status) => return Err(Failure(status)),
        };
        Ok(result?)
    }

    fn stats(&self) -> protocol::Stats {
        let t = &self.totals;
        let limits = self.limits();
        let wire_u32 = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let now = u64::try_from(wsk::uptime().as_millis()).unwrap_or(u64::MAX);
        let (open, peak) = self.endpoints.open_and_peak();
        protocol::Stats {
            endpoints_open: u32::try_from(open).unwrap_or(u32::MAX),
            endpoints_peak: u32::try_from(peak).unwrap_or(u32::MAX),
            endpoints_opened: t.endpoints_opened.load(Ordering::Relaxed),
            bytes_sent: t
                .bytes_sent
                .load(Ordering::Relaxed)
                .saturating_add(self.endpoints.service_bytes().0),
            bytes_received: t
                .bytes_received
                .load(Ordering::Relaxed)
                .saturating_add(self.endpoints.service_bytes().1),
            connections_served: t
                .connections_served
                .load(Ordering::Relaxed)
                .saturating_add(self.endpoints.connections_served()),
            errors: t
                .errors
                .load(Ordering::Relaxed)
                .saturating_add(self.endpoints.connections_refused()),
            uptime_ms: now.saturating_sub(t.loaded_ms.load(Ordering::Relaxed)),
            connections_refused: t
                .connections_refused
                .load(Ordering::Relaxed)
                .saturating_add(self.endpoints.connections_refused()),
            max_endpoints: wire_u32(limits.endpoints),
            max_connections_per_listener: wire_u32(limits.connections_per_listener),
            quota_endpoints: wire_u32(limits.quotas.endpoints),
            quota_pended: wire_u32(limits.quotas.pended),
            quota_locked_bytes: u64::try_from(limits.quotas.locked_bytes).unwrap_or(u64::MAX),
        }
    }
}

/// Creates a socket with `create`, first caching `sddl` (when given) as the socket's
/// SO_WSK_SECURITY, and reads the descriptor back from the provider after bind.
fn secured<S: SocketOptions>(
    client: &WskClient,
    sddl: Option<&str>,
    how: ApplySecurity,
    options: BindOptions<'_>,
    create: impl FnOnce(BindOptions<'_>) -> wsk::Result<S>,
) -> Result<(S, Option<SddlText>), Failure> {
    let Some(sddl) = sddl else {
        return Ok((create(options)?, None));
    };
    let descriptor = CachedSecurityDescriptor::from_sddl(client, sddl)?;
    let options = match how {
        ApplySecurity::Option => BindOptions {
            security: Some(&descriptor),
            ..options
        },
        ApplySecurity::AtCreation => BindOptions {
            creation_security: Some(&descriptor),
            ..options
        },
    };
    let mut socket = create(options)?;
    drop(descriptor);
    let read_back = socket.security()?;
    let view = read_back.descriptor()?;
    let text = SddlText::format(&view.sddl()).ok_or(Failure(NtStatus::BUFFER_TOO_SMALL))?;
    Ok((socket, Some(text)))
}

/// How an endpoint's descriptor reaches its socket. Listeners use SO_WSK_SECURITY and UDP
/// sockets WskSocket's SecurityDescriptor: both documented ways, each read back after bind.
#[derive(Clone, Copy)]
enum ApplySecurity {
    Option,
    AtCreation,
}

/// Gets (`set` = None) or sets an option every socket type has; `None` for TCP_NODELAY.
fn common_option<S: SocketOptions>(
    socket: &mut S,
    option: OptionId,
    set: Option<u32>,
) -> Option<wsk::Result<u32>> {
    Some(match (option, set) {
        (OptionId::NoDelay, _) => return None,
        (OptionId::Keepalive, Some(v)) => socket.set_keepalive(v != 0).map(|()| v),
        (OptionId::Keepalive, None) => socket.keepalive().map(u32::from),
        (OptionId::RcvBuf, Some(v)) => socket.set_receive_buffer_size(v).map(|()| v),
        (OptionId::RcvBuf, None) => socket.receive_buffer_size(),
        (OptionId::SndBuf, Some(v)) => socket.set_send_buffer_size(v).map(|()| v),
        (OptionId::SndBuf, None) => socket.send_buffer_size(),
        (OptionId::ReuseAddr, _) => socket.reuse_address().map(u32::from),
        (OptionId::ExclusiveAddrUse, _) => socket.exclusive_address().map(u32::from),
        (OptionId::Ipv6V6Only, _) => socket.ipv6_only().map(u32::from),
    })
}

/// Gets or sets an option of a TCP connection; returns its value.
fn connection_option(
    socket: &mut ConnectionSocket,
    option: OptionId,
    set: Option<u32>,
) -> wsk::Result<u32> {
    common_option(socket, option, set).unwrap_or_else(|| match set {
        Some(v) => socket.set_nodelay(v != 0).map(|()| v),
        None => socket.nodelay().map(u32::from),
    })
}

/// Gets or sets an option of a UDP socket (TCP_NODELAY does not apply).
fn datagram_option(
    socket: &mut DatagramSocket,
    option: OptionId,
    set: Option<u32>,
) -> wsk::Result<u32> {
    common_option(socket, option, set)
        .unwrap_or(Err(wsk::Error::new(NtStatus::INVALID_DEVICE_STATE)))
}

fn write(reply: &Reply, out: &mut [u8]) -> Result<usize, Failure> {
    let n = match *reply {
        Reply::Info {
            wsk_version,
            endpoints,
        } => protocol::write_info(out, DRIVER_VERSION, wsk_version, endpoints)?,
        Reply::Endpoint {
            id,
            kind,
            local,
            remote,
        } => protocol::write_endpoint(out, id, kind, local, remote)?,
        Reply::Closed => protocol::write_close(out)?,
        Reply::Disconnected => protocol::write_disconnect(out)?,
        Reply::Served => protocol::write_serve(out)?,
        Reply::OptionValue(v) => protocol::write_socket_option(out, v)?,
        Reply::Security(sddl) => {
            protocol::write_security(out, sddl.as_ref().map_or("", SddlText::as_str))?
        }
        Reply::Stats(stats) => protocol::write_stats(out, &stats)?,
        Reply::Held(held) => protocol::write_held(out, &held)?,
        Reply::DeviceDacl(descriptor, len) => {
            let bytes = descriptor
                .get(..len)
                .ok_or(Failure(NtStatus::BUFFER_TOO_SMALL))?;
            // A descriptor the kernel returned that does not parse is the kernel's fault.
            let descriptor = SecurityDescriptor::from_bytes(bytes)
                .map_err(|_| Failure(NtStatus::INVALID_SECURITY_DESCR))?;
            protocol::write_security_fmt(out, descriptor.sddl())?
        }
        Reply::PeerTargetNameSet => protocol::write_peer_target_name(out)?,
        Reply::PeerTargetNameDeleted => protocol::write_delete_peer_target_name(out)?,
        // The peer's token handles are never asked for (docs/protocol.md, QUERY_SECURITY).
        Reply::SecurityQueried(info) => {
            protocol::write_query_security(out, info.protocol, info.flags)?
        }
    };
    Ok(n)
}
