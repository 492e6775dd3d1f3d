//! A fake driver for host tests: validates requests with `wskrs-protocol` exactly as the
//! real driver core does and answers with its reply writers.
//!
//! Its connections are wired to an echo peer: bytes sent come back on receive. A connect
//! to port 1 is refused; a connection to port 2 has a peer that already closed.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;

use wskrs_ntstatus::NtStatus;
use wskrs_protocol::{
    min_output_len, parse_request, recv_data_area, write_close, write_endpoint, write_info,
    write_recv, write_send, EndpointId, EndpointInfo, EndpointKind, EndpointState, ListWriter,
    ProtocolError, Request, Service, WireAddr, INFO_DETACHED,
};

use crate::device::{IoctlCompletion, Transport};

/// The port whose connects are refused.
pub(crate) const REFUSING_PORT: u16 = 1;
/// The port whose peer closes at once.
pub(crate) const CLOSED_PEER_PORT: u16 = 2;

#[derive(Debug)]
struct Endpoint {
    kind: EndpointKind,
    local: SocketAddr,
    remote: Option<SocketAddr>,
    service: Service,
    detached: bool,
    inbox: VecDeque<u8>,
    peer_closed: bool,
    bytes_sent: u64,
    bytes_received: u64,
}

#[derive(Debug, Default)]
struct State {
    last_id: u64,
    endpoints: BTreeMap<u64, Endpoint>,
    requests: Vec<u32>,
}

/// A handle on the fake driver; clones share its state.
#[derive(Clone, Debug, Default)]
pub(crate) struct FakeDriver(Rc<RefCell<State>>);

impl FakeDriver {
    /// The ids of the open endpoints.
    pub(crate) fn endpoint_ids(&self) -> Vec<u64> {
        self.0.borrow().endpoints.keys().copied().collect()
    }

    /// The IOCTL codes received so far.
    pub(crate) fn requests(&self) -> Vec<u32> {
        self.0.borrow().requests.clone()
    }

    /// Queues bytes from the peer of connection `id`.
    pub(crate) fn peer_sends(&self, id: u64, data: &[u8]) {
        if let Some(endpoint) = self.0.borrow_mut().endpoints.get_mut(&id) {
            endpoint.inbox.extend(data);
        }
    }

    fn add(&self, endpoint: Endpoint) -> EndpointId {
        let mut state = self.0.borrow_mut();
        state.last_id += 1;
        let id = state.last_id;
        state.endpoints.insert(id, endpoint);
        EndpointId(id)
    }

    fn write_list(&self, output: &mut [u8]) -> Result<usize, ProtocolError> {
        let state = self.0.borrow();
        let mut writer = ListWriter::new(output)?;
        for (&id, endpoint) in &state.endpoints {
            writer.push(&EndpointInfo {
                id,
                kind: endpoint.kind.as_u32(),
                state: match endpoint.kind {
                    EndpointKind::TcpListener => EndpointState::Listening.as_u32(),
                    EndpointKind::TcpConnection => EndpointState::Connected.as_u32(),
                },
                service: endpoint.service.as_u32(),
                flags: if endpoint.detached { INFO_DETACHED } else { 0 },
                local: WireAddr::from(endpoint.local),
                remote: WireAddr::from_option(endpoint.remote),
                bytes_sent: endpoint.bytes_sent,
                bytes_received: endpoint.bytes_received,
                ..EndpointInfo::default()
            });
        }
        Ok(writer.finish())
    }

    fn handle(&self, code: u32, input: &[u8], output: &mut [u8]) -> Result<usize, NtStatus> {
        self.0.borrow_mut().requests.push(code);
        let request = parse_request(code, input).map_err(ProtocolError::status)?;
        if output.len() < min_output_len(code).unwrap_or(usize::MAX) {
            return Err(NtStatus::BUFFER_TOO_SMALL);
        }
        let written = match request {
            Request::Info => {
                let count = u32::try_from(self.0.borrow().endpoints.len()).unwrap_or(u32::MAX);
                write_info(output, (0, 1, 0), 0x0100, count)
            }
            Request::TcpConnect(connect) => {
                if connect.remote.port() == REFUSING_PORT {
                    return Err(NtStatus::CONNECTION_REFUSED);
                }
                let local = connect
                    .local
                    .unwrap_or(SocketAddr::from((Ipv4Addr::LOCALHOST, 50000)));
                let id = self.add(Endpoint {
                    kind: EndpointKind::TcpConnection,
                    local,
                    remote: Some(connect.remote),
                    service: Service::None,
                    detached: connect.detach,
                    inbox: VecDeque::new(),
                    peer_closed: connect.remote.port() == CLOSED_PEER_PORT,
                    bytes_sent: 0,
                    bytes_received: 0,
                });
                write_endpoint(
                    output,
                    id,
                    EndpointKind::TcpConnection.as_u32(),
                    Some(local),
                    Some(connect.remote),
                )
            }
            Request::TcpListen(listen) => {
                let id = self.add(Endpoint {
                    kind: EndpointKind::TcpListener,
                    local: listen.local,
                    remote: None,
                    service: listen.service,
                    detached: listen.detach,
                    inbox: VecDeque::new(),
                    peer_closed: false,
                    bytes_sent: 0,
                    bytes_received: 0,
                });
                write_endpoint(
                    output,
                    id,
                    EndpointKind::TcpListener.as_u32(),
                    Some(listen.local),
                    None,
                )
            }
            Request::Send(send) => {
                let mut state = self.0.borrow_mut();
                let endpoint = connection(&mut state, send.id)?;
                // The echo peer sends everything back.
                endpoint.inbox.extend(send.data);
                endpoint.bytes_sent += send.data.len() as u64;
                write_send(output, u32::try_from(send.data.len()).unwrap_or(u32::MAX))
            }
            Request::Recv(recv) => {
                let mut state = self.0.borrow_mut();
                let endpoint = connection(&mut state, recv.id)?;
                let area = recv_data_area(output).map_err(ProtocolError::status)?;
                let take = area
                    .len()
                    .min(recv.max_length as usize)
                    .min(endpoint.inbox.len());
                if take == 0 && !endpoint.peer_closed {
                    return Err(NtStatus::IO_TIMEOUT);
                }
                for (slot, byte) in area.iter_mut().zip(endpoint.inbox.drain(..take)) {
                    *slot = byte;
                }
                endpoint.bytes_received += take as u64;
                write_recv(output, u32::try_from(take).unwrap_or(u32::MAX), take == 0)
            }
            Request::Close(id) => {
                self.0
                    .borrow_mut()
                    .endpoints
                    .remove(&id.0)
                    .ok_or(NtStatus::NOT_FOUND)?;
                write_close(output)
            }
            Request::List => self.write_list(output),
        };
        written.map_err(ProtocolError::status)
    }
}

fn connection(state: &mut State, id: EndpointId) -> Result<&mut Endpoint, NtStatus> {
    let endpoint = state.endpoints.get_mut(&id.0).ok_or(NtStatus::NOT_FOUND)?;
    if endpoint.kind == EndpointKind::TcpConnection {
        Ok(endpoint)
    } else {
        Err(NtStatus::INVALID_DEVICE_STATE)
    }
}

impl Transport for FakeDriver {
    fn ioctl(&self, code: u32, input: &[u8], output: &mut [u8]) -> IoctlCompletion {
        match self.handle(code, input, output) {
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
