//! The framework-neutral core of the wsk-rs driver.
//!
//! It owns the endpoint table, turns validated IOCTL requests into `wsk` calls and runs the
//! in-kernel services. It knows nothing of KMDF or WDM: a shell hands it each request as
//! (caller, code, buffer, input length, output length) and completes the IRP with the
//! [`Completion`] it returns.
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

mod endpoints;
mod services;

use core::time::Duration;

use wsk::{ConnectionSocket, ListenSocket, NtStatus, SpinLock, WskClient};
use wskrs_protocol::{self as protocol, EndpointId, ProtocolError, Request};

use endpoints::{Endpoint, EndpointTable};

/// The driver version reported by INFO.
pub const DRIVER_VERSION: (u16, u16, u16) = (0, 1, 0);

/// How long unload waits for every socket to close.
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
        Self { status: NtStatus::SUCCESS, information }
    }

    fn failed(status: NtStatus) -> Self {
        Self { status, information: 0 }
    }
}

/// A request whose fields were copied out of the input, leaving the buffer for the reply.
enum Fixed {
    Info,
    TcpConnect(protocol::TcpConnect),
    TcpListen(protocol::TcpListen),
    Recv(protocol::Recv),
    Close(EndpointId),
    List,
}

/// A failed request's status, with `?` conversions from every error the core meets.
struct Failure(NtStatus);

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

/// The driver's state: WSK client (registered on first use) and endpoints.
pub struct Driver {
    register: RegisterWsk,
    client: SpinLock<Option<WskClient>>,
    endpoints: EndpointTable,
}

impl Driver {
    /// A driver with no endpoints; `register` is called on the first request that needs WSK.
    ///
    /// The value is large (the endpoint table): use it to initialize a `static`.
    #[must_use]
    pub const fn new(register: RegisterWsk) -> Self {
        Self { register, client: SpinLock::new(None), endpoints: EndpointTable::new() }
    }

    fn client(&self) -> Result<WskClient, NtStatus> {
        if let Some(client) = self.client.lock().as_ref() {
            return Ok(client.clone());
        }
        let client = (self.register)(CAPTURE_WAIT).map_err(NtStatus::from)?;
        let mut slot = self.client.lock();
        if let Some(existing) = slot.as_ref() {
            // Another request registered meanwhile: keep theirs, release ours.
            let existing = existing.clone();
            drop(slot);
            let _ = client.shutdown(Duration::ZERO);
            return Ok(existing);
        }
        *slot = Some(client.clone());
        Ok(client)
    }

    /// Handles IRP_MJ_DEVICE_CONTROL. `buffer` is the METHOD_BUFFERED system buffer, of
    /// `max(input_len, output_len)` bytes: the request is read from its first `input_len`
    /// bytes and the reply written over it.
    pub fn device_control(
        &self,
        caller: Caller,
        code: u32,
        buffer: &mut [u8],
        input_len: usize,
        output_len: usize,
    ) -> Completion {
        match self.dispatch(caller, code, buffer, input_len, output_len) {
            Ok(information) => Completion::ok(information),
            Err(status) => Completion::failed(status),
        }
    }

    fn dispatch(&self, caller: Caller, code: u32, buffer: &mut [u8], input_len: usize, output_len: usize) -> Result<usize, NtStatus> {
        let input = buffer.get(..input_len).ok_or(NtStatus::INVALID_PARAMETER)?;
        let request = protocol::parse_request(code, input).map_err(ProtocolError::status)?;
        let min_output = protocol::min_output_len(code).ok_or(NtStatus::INVALID_DEVICE_REQUEST)?;
        if output_len < min_output {
            return Err(ProtocolError::BufferTooSmall.status());
        }
        let fixed = match request {
            Request::Send(send) => {
                let sent = self.send(caller, send.id, send.data, send.timeout_ms)?;
                let out = buffer.get_mut(..output_len).ok_or(NtStatus::INVALID_PARAMETER)?;
                return protocol::write_send(out, sent).map_err(ProtocolError::status);
            }
            Request::Info => Fixed::Info,
            Request::TcpConnect(c) => Fixed::TcpConnect(c),
            Request::TcpListen(l) => Fixed::TcpListen(l),
            Request::Recv(r) => Fixed::Recv(r),
            Request::Close(id) => Fixed::Close(id),
            Request::List => Fixed::List,
        };
        let out = buffer.get_mut(..output_len).ok_or(NtStatus::INVALID_PARAMETER)?;
        self.dispatch_fixed(caller, fixed, out).map_err(|e| e.0)
    }

    /// Requests whose input was copied out by parsing, so the buffer is free for the reply.
    fn dispatch_fixed(&self, caller: Caller, request: Fixed, out: &mut [u8]) -> Result<usize, Failure> {
        match request {
            Fixed::Info => {
                // Registering here lets INFO report the provider; a provider that is not
                // there yet is reported as version 0 rather than failing INFO.
                let version = self.client().map_or(0, |c| c.provider_version());
                let count = u32::try_from(self.endpoints.count()).unwrap_or(u32::MAX);
                Ok(protocol::write_info(out, DRIVER_VERSION, version, count)?)
            }
            Fixed::TcpConnect(c) => {
                let client = self.client()?;
                let timeout = Duration::from_millis(u64::from(c.timeout_ms));
                let socket = ConnectionSocket::connect(&client, c.remote, c.local, timeout)?;
                let id = self.endpoints.insert(Endpoint::connection(caller, c.detach, c.local, c.remote, socket))?;
                Ok(protocol::write_endpoint(out, id, protocol::KIND_TCP_CONNECTION, c.local, Some(c.remote))?)
            }
            Fixed::TcpListen(l) => {
                let client = self.client()?;
                let listener = ListenSocket::bind(&client, l.local, Duration::from_secs(5))?;
                let service = services::ServiceListener::start(listener, services::TcpService::Echo, services::MAX_SESSIONS)?;
                let id = self.endpoints.insert(Endpoint::listener(caller, l.detach, l.local, l.service, service))?;
                Ok(protocol::write_endpoint(out, id, protocol::KIND_TCP_LISTENER, Some(l.local), None)?)
            }
            Fixed::Recv(r) => self.receive(caller, r.id, r.max_length, r.timeout_ms, out),
            Fixed::Close(id) => {
                let endpoint = self.endpoints.remove(caller, id)?;
                endpoint.close();
                Ok(protocol::write_close(out)?)
            }
            Fixed::List => {
                let mut writer = protocol::ListWriter::new(out)?;
                self.endpoints.for_each_visible(caller, |info| {
                    let _ = writer.push(&info);
                });
                Ok(writer.finish())
            }
        }
    }

    fn send(&self, caller: Caller, id: EndpointId, data: &[u8], timeout_ms: u32) -> Result<u32, NtStatus> {
        let timeout = Duration::from_millis(u64::from(timeout_ms));
        let mut socket = self.endpoints.borrow_connection(caller, id)?;
        let result = socket.send_all(data, timeout);
        let sent = if result.is_ok() { data.len() } else { 0 };
        self.endpoints.give_back(id, socket, sent, 0, result.is_err());
        result?;
        Ok(u32::try_from(sent).unwrap_or(u32::MAX))
    }

    fn receive(&self, caller: Caller, id: EndpointId, max_length: u32, timeout_ms: u32, out: &mut [u8]) -> Result<usize, Failure> {
        let timeout = Duration::from_millis(u64::from(timeout_ms));
        let area = protocol::recv_data_area(out)?;
        let limit = area.len().min(usize::try_from(max_length).unwrap_or(usize::MAX));
        let area = area.get_mut(..limit).ok_or(NtStatus::INVALID_PARAMETER)?;
        let mut socket = self.endpoints.borrow_connection(caller, id)?;
        let result = if area.is_empty() { Ok(0) } else { socket.receive(area, timeout) };
        let received = result.unwrap_or(0);
        let eof = result.is_ok() && received == 0 && limit > 0;
        self.endpoints.give_back(id, socket, 0, received, result.is_err());
        if eof {
            self.endpoints.mark_peer_closed(id);
        }
        result?;
        let length = u32::try_from(received).unwrap_or(u32::MAX);
        Ok(protocol::write_recv(out, length, eof)?)
    }

    /// Handles IRP_MJ_CLEANUP: the caller's handle is closing, so its endpoints close too
    /// (detached ones stay).
    pub fn cleanup(&self, caller: Caller) {
        while let Some(endpoint) = self.endpoints.remove_owned_by(caller) {
            endpoint.close();
        }
        // A later handle may get the same file object address: it must not inherit these.
        self.endpoints.disown(caller);
    }

    /// Unload: closes every endpoint, then waits (bounded) for every socket to close and
    /// releases the WSK registration. True if everything closed in time.
    pub fn shutdown(&self) -> bool {
        while let Some(endpoint) = self.endpoints.remove_any() {
            endpoint.close();
        }
        let client = self.client.lock().take();
        client.is_none_or(|c| c.shutdown(SHUTDOWN_TIMEOUT))
    }
}

