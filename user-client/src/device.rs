//! Typed calls to the driver over an IOCTL transport.

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use wskrs_ntstatus::NtStatus;
use wskrs_protocol::{
    encode_close, encode_info, encode_list, encode_recv, encode_send, encode_tcp_connect,
    encode_tcp_listen, parse_close_reply, parse_endpoint_reply, parse_info_reply, parse_list_reply,
    parse_recv_reply, parse_send_reply, DriverInfo, EndpointId, EndpointStatus, IoctlCode,
    OpenedEndpoint, ProtocolError, Service, MAX_TRANSFER,
};

use crate::error::ClientError;

/// How one IOCTL completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoctlCompletion {
    /// The final NTSTATUS.
    pub status: NtStatus,
    /// `IoStatus.Information`: bytes the driver wrote to the output buffer.
    pub information: usize,
}

/// Something that carries IOCTLs to the driver: the real device on Windows, or a fake.
pub trait Transport {
    /// Sends `code` with `input`, lets the driver write up to `output.len()` bytes, and
    /// returns how it completed.
    fn ioctl(&self, code: u32, input: &[u8], output: &mut [u8]) -> IoctlCompletion;
}

/// What a RECV returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedData {
    /// The bytes received (empty at end of stream).
    pub data: Vec<u8>,
    /// The peer closed its side.
    pub eof: bool,
}

/// The raw outcome of [`Device::raw`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawReply {
    /// The completion status.
    pub status: NtStatus,
    /// The bytes the driver returned (none when the status is an error).
    pub output: Vec<u8>,
}

/// Room for this many LIST entries on the first try.
const LIST_FIRST_GUESS: usize = 64;
/// LIST requests before giving up on getting every endpoint.
const LIST_ATTEMPTS: u32 = 3;

/// An open handle to the wsk-rs device.
///
/// Endpoints created through it without `detach` are closed by the driver when it is
/// dropped (the handle closes).
pub struct Device {
    transport: Box<dyn Transport>,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device").finish_non_exhaustive()
    }
}

impl Device {
    /// Opens the device at `path` (normally [`wskrs_protocol::USER_DEVICE_PATH`]).
    ///
    /// # Errors
    ///
    /// [`ClientError::Open`] if `CreateFileW` fails (the driver is not loaded, access is
    /// denied) or on a platform other than Windows.
    pub fn open(path: &str) -> Result<Self, ClientError> {
        crate::sys::DeviceHandle::open(path)
            .map(|handle| Self::from_transport(Box::new(handle)))
            .map_err(|source| ClientError::Open {
                path: path.to_owned(),
                source,
            })
    }

    /// A device over any transport (a fake driver in tests, a proxy, ...).
    #[must_use]
    pub fn from_transport(transport: Box<dyn Transport>) -> Self {
        Self { transport }
    }

    /// Sends a request and returns the reply bytes, or the failure status as an error.
    fn call(
        &self,
        op: &dyn Fn() -> String,
        code: IoctlCode,
        input: &[u8],
        out_len: usize,
    ) -> Result<Vec<u8>, ClientError> {
        let mut output = vec![0; out_len];
        let completion = self.transport.ioctl(code.0, input, &mut output);
        if !completion.status.is_success() {
            return Err(ClientError::Driver {
                op: op(),
                status: completion.status,
            });
        }
        output.truncate(completion.information.min(out_len));
        Ok(output)
    }

    /// Sends arbitrary bytes with an arbitrary code; failure statuses are returned, not errors.
    #[must_use]
    pub fn raw(&self, code: u32, input: &[u8], out_len: usize) -> RawReply {
        let mut output = vec![0; out_len];
        let completion = self.transport.ioctl(code, input, &mut output);
        let returned = if completion.status.is_error() {
            0
        } else {
            completion.information.min(out_len)
        };
        output.truncate(returned);
        RawReply {
            status: completion.status,
            output,
        }
    }

    /// Driver and ABI versions and the endpoint count (INFO).
    ///
    /// # Errors
    ///
    /// [`ClientError::Driver`] with the driver's status; [`ClientError::Protocol`] for a
    /// malformed reply.
    pub fn info(&self) -> Result<DriverInfo, ClientError> {
        let op = || "info".to_owned();
        let reply = self.call(&op, IoctlCode::INFO, &encode_info(), 24)?;
        parse_info_reply(&reply).map_err(|error| ClientError::Protocol { op: op(), error })
    }

    /// Opens a TCP connection to `remote` (`TCP_CONNECT`). `timeout_ms` 0 means the driver's
    /// default; `detach` keeps the endpoint open after this handle closes.
    ///
    /// # Errors
    ///
    /// As [`Device::info`]; e.g. `STATUS_CONNECTION_REFUSED`, `STATUS_IO_TIMEOUT`.
    pub fn tcp_connect(
        &self,
        remote: SocketAddr,
        local: Option<SocketAddr>,
        detach: bool,
        timeout_ms: u32,
    ) -> Result<OpenedEndpoint, ClientError> {
        let op = || format!("tcp connect to {remote}");
        let request = encode_tcp_connect(remote, local, detach, timeout_ms);
        let reply = self.call(&op, IoctlCode::TCP_CONNECT, &request, 80)?;
        parse_endpoint_reply(&reply).map_err(|error| ClientError::Protocol { op: op(), error })
    }

    /// Opens a TCP listener on `local` running `service` on every accepted connection
    /// (`TCP_LISTEN`). `backlog` 0 lets the driver choose.
    ///
    /// # Errors
    ///
    /// As [`Device::info`]; e.g. `STATUS_ADDRESS_ALREADY_EXISTS`.
    pub fn tcp_listen(
        &self,
        local: SocketAddr,
        service: Service,
        backlog: u32,
        detach: bool,
    ) -> Result<OpenedEndpoint, ClientError> {
        let op = || format!("tcp listen on {local}");
        let request = encode_tcp_listen(local, service, backlog, detach);
        let reply = self.call(&op, IoctlCode::TCP_LISTEN, &request, 80)?;
        parse_endpoint_reply(&reply).map_err(|error| ClientError::Protocol { op: op(), error })
    }

    /// Sends `data` (at most [`MAX_TRANSFER`] bytes) in one SEND; returns the bytes sent.
    ///
    /// # Errors
    ///
    /// As [`Device::info`]; [`ClientError::Protocol`] with `InvalidParameter` if `data` is
    /// longer than [`MAX_TRANSFER`] (use [`Device::send_all`]).
    pub fn send(&self, id: EndpointId, data: &[u8], timeout_ms: u32) -> Result<u32, ClientError> {
        let op = || format!("send on endpoint {id}");
        let protocol = |error| ClientError::Protocol { op: op(), error };
        let mut request = vec![0; data.len().saturating_add(24)];
        encode_send(&mut request, id, timeout_ms, data).map_err(protocol)?;
        let reply = self.call(&op, IoctlCode::SEND, &request, 16)?;
        parse_send_reply(&reply).map_err(protocol)
    }

    /// Sends all of `data`, in [`MAX_TRANSFER`]-byte requests; returns the bytes sent.
    ///
    /// # Errors
    ///
    /// As [`Device::send`].
    pub fn send_all(
        &self,
        id: EndpointId,
        data: &[u8],
        timeout_ms: u32,
    ) -> Result<u64, ClientError> {
        let mut sent_total = 0u64;
        let mut rest = data;
        while !rest.is_empty() {
            let chunk_len = rest.len().min(MAX_TRANSFER as usize);
            let (chunk, _) = rest.split_at(chunk_len);
            let sent = self.send(id, chunk, timeout_ms)?;
            if sent == 0 {
                // The driver promises all-or-error; zero progress would loop forever.
                return Err(ClientError::Protocol {
                    op: format!("send on endpoint {id}"),
                    error: ProtocolError::LengthMismatch,
                });
            }
            let sent_len = (sent as usize).min(chunk_len);
            rest = rest.get(sent_len..).unwrap_or_default();
            sent_total = sent_total.saturating_add(sent_len as u64);
        }
        Ok(sent_total)
    }

    /// Sends everything `reader` yields, in [`MAX_TRANSFER`]-byte requests; returns the
    /// bytes sent.
    ///
    /// # Errors
    ///
    /// As [`Device::send`]; [`ClientError::Io`] if reading fails (`what` names the source).
    pub fn send_reader(
        &self,
        id: EndpointId,
        reader: &mut dyn Read,
        what: &str,
        timeout_ms: u32,
    ) -> Result<u64, ClientError> {
        let mut buffer = vec![0; MAX_TRANSFER as usize];
        let mut sent_total = 0u64;
        loop {
            let filled = read_up_to(reader, &mut buffer)
                .map_err(|source| ClientError::io(format!("reading {what}"), source))?;
            let Some(chunk) = buffer.get(..filled).filter(|chunk| !chunk.is_empty()) else {
                return Ok(sent_total);
            };
            sent_total = sent_total.saturating_add(self.send_all(id, chunk, timeout_ms)?);
        }
    }

    /// Receives at most `max` bytes (RECV); waits up to `timeout_ms` (0: driver default)
    /// for the first byte.
    ///
    /// # Errors
    ///
    /// As [`Device::info`]; e.g. `STATUS_IO_TIMEOUT`, `STATUS_NOT_FOUND`.
    pub fn recv(
        &self,
        id: EndpointId,
        max: u32,
        timeout_ms: u32,
    ) -> Result<ReceivedData, ClientError> {
        let op = || format!("recv on endpoint {id}");
        let out_len = (max as usize).saturating_add(16);
        let reply = self.call(
            &op,
            IoctlCode::RECV,
            &encode_recv(id, timeout_ms, max),
            out_len,
        )?;
        let received =
            parse_recv_reply(&reply).map_err(|error| ClientError::Protocol { op: op(), error })?;
        Ok(ReceivedData {
            data: received.data.to_vec(),
            eof: received.eof,
        })
    }

    /// Receives exactly `count` bytes into `sink`, in as many RECVs as needed.
    ///
    /// # Errors
    ///
    /// As [`Device::recv`]; [`ClientError::UnexpectedEof`] if the peer closes first;
    /// [`ClientError::Io`] if writing to `sink` fails.
    pub fn recv_exact(
        &self,
        id: EndpointId,
        count: u64,
        timeout_ms: u32,
        sink: &mut dyn Write,
    ) -> Result<u64, ClientError> {
        let mut received = 0u64;
        while received < count {
            let want = u32::try_from(count.saturating_sub(received))
                .unwrap_or(u32::MAX)
                .min(MAX_TRANSFER);
            let chunk = self.recv(id, want, timeout_ms)?;
            if chunk.data.is_empty() && chunk.eof {
                return Err(ClientError::UnexpectedEof {
                    id,
                    expected: count,
                    received,
                });
            }
            write_data(sink, &chunk.data)
                .map_err(|source| ClientError::io("writing received data", source))?;
            received = received.saturating_add(chunk.data.len() as u64);
        }
        Ok(received)
    }

    /// Closes an endpoint (CLOSE).
    ///
    /// # Errors
    ///
    /// As [`Device::info`]; `STATUS_NOT_FOUND` for an unknown id.
    pub fn close(&self, id: EndpointId) -> Result<(), ClientError> {
        let op = || format!("close endpoint {id}");
        let reply = self.call(&op, IoctlCode::CLOSE, &encode_close(id), 8)?;
        parse_close_reply(&reply).map_err(|error| ClientError::Protocol { op: op(), error })
    }

    /// Every endpoint visible to this handle (LIST, retried with a larger buffer when the
    /// first one was too small).
    ///
    /// # Errors
    ///
    /// As [`Device::info`].
    pub fn list(&self) -> Result<Vec<EndpointStatus>, ClientError> {
        let op = || "list".to_owned();
        let mut room = LIST_FIRST_GUESS;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let out_len = room.saturating_mul(112).saturating_add(16);
            let reply = self.call(&op, IoctlCode::LIST, &encode_list(), out_len)?;
            let list = parse_list_reply(&reply)
                .map_err(|error| ClientError::Protocol { op: op(), error })?;
            // Endpoints may appear between calls: retry twice with room for all, then
            // report what fit.
            if !list.is_truncated() || attempts >= LIST_ATTEMPTS {
                return Ok(list.iter().collect());
            }
            room = (list.total() as usize).saturating_add(16);
        }
    }
}

/// Reads until `buffer` is full or the reader ends; returns the bytes read.
fn read_up_to(reader: &mut dyn Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while let Some(free) = buffer.get_mut(filled..).filter(|free| !free.is_empty()) {
        match reader.read(free) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// Writes raw bytes; a Windows console refuses non-UTF-8 bytes, so those go out lossily there.
pub(crate) fn write_data(sink: &mut dyn Write, data: &[u8]) -> io::Result<()> {
    match sink.write_all(data) {
        Err(error) if error.kind() == io::ErrorKind::InvalidData => {
            sink.write_all(String::from_utf8_lossy(data).as_bytes())
        }
        other => other,
    }
}
