//! Typed calls to the driver over an IOCTL transport.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use wskrs_ntstatus::NtStatus;
use wskrs_protocol::{
    encode_accept, encode_close, encode_disconnect, encode_info, encode_list, encode_recv,
    encode_recv_from, encode_resolve, encode_security, encode_send, encode_send_to, encode_serve,
    encode_socket_option, encode_stats, encode_tcp_connect_options, encode_tcp_listen_with,
    encode_transact, encode_udp_bind_options, list_output_len, parse_close_reply,
    parse_disconnect_reply, parse_endpoint_reply, parse_info_reply, parse_list_reply,
    parse_recv_from_reply, parse_resolve_reply, parse_security_reply, parse_serve_reply,
    parse_socket_option_reply, parse_stats_reply, recv_from_output_len, resolve_output_len,
    DriverInfo, EndpointActivity, EndpointId, EndpointReply, EndpointStatus, IoctlCode,
    OpenedEndpoint, OptionId, ProtocolError, Service, Stats, UdpService, MAX_DATAGRAM,
    MAX_TRANSACT, MAX_TRANSFER,
};
use wskrs_protocol::{
    encode_delete_peer_target_name, encode_query_security, encode_set_peer_target_name,
    parse_delete_peer_target_name_reply, parse_peer_target_name_reply, parse_query_security_reply,
    SecureProtocol, SecurityQuery,
};

use crate::cancel::{CancelIo, Canceller, Gate};
use crate::error::ClientError;
use crate::options::{
    wire_timeout, DisconnectMode, Lifetime, TcpConnectOptions, TcpListenOptions, UdpBindOptions,
};

/// How one IOCTL completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoctlCompletion {
    /// The final NTSTATUS.
    pub status: NtStatus,
    /// `IoStatus.Information`: bytes the driver wrote to the output buffer.
    pub information: usize,
}

/// Something that carries IOCTLs to the driver: the real device on Windows, or the driver
/// core on the fake kernel in tests.
///
/// Each call returns once the request completed (a request the driver pends is waited for),
/// so the buffers are the driver's only for the duration of the call. A transport is
/// `Send + Sync`, as a handle is: a [`Device`] (and the sockets over it) can move to
/// another thread, and one device can serve several (a listener and its accepted streams).
pub trait Transport: Send + Sync {
    /// Sends `code` with `input`, lets the driver write up to `output.len()` bytes, and
    /// returns how it completed. For `METHOD_OUT_DIRECT` codes `output` is the data buffer
    /// the driver writes through an MDL.
    fn ioctl(&self, code: u32, input: &[u8], output: &mut [u8]) -> IoctlCompletion;

    /// Sends a `METHOD_IN_DIRECT` code: `data` is the output buffer, which the driver only
    /// reads (SEND, `SEND_TO`), so it is passed without a copy.
    fn ioctl_in_direct(&self, code: u32, input: &[u8], data: &[u8]) -> IoctlCompletion;

    /// What cancels this transport's outstanding requests (`None`: they cannot be
    /// cancelled).
    fn cancel_target(&self) -> Option<Weak<dyn CancelIo>> {
        None
    }

    /// Sends `METHOD_IN_DIRECT` requests (input, data) of one `code` in order, keeping up to
    /// `depth` outstanding at once (the driver queues them per endpoint and direction and
    /// completes them in order), and returns once every request it sent has completed: their
    /// completions, in order. After a failure it sends no more, so the result may be shorter
    /// than `requests`. The default sends one at a time.
    fn ioctl_in_direct_pipelined(
        &self,
        code: u32,
        requests: &[(&[u8], &[u8])],
        depth: usize,
    ) -> Vec<IoctlCompletion> {
        let _ = depth;
        let mut completions = Vec::with_capacity(requests.len());
        for (input, data) in requests {
            let completion = self.ioctl_in_direct(code, input, data);
            completions.push(completion);
            if !completion.status.is_success() {
                break;
            }
        }
        completions
    }
}

/// A device is a transport too: requests go through its handle (the shell shares one
/// handle between commands this way).
impl Transport for Device {
    fn ioctl(&self, code: u32, input: &[u8], output: &mut [u8]) -> IoctlCompletion {
        self.transport.ioctl(code, input, output)
    }

    fn ioctl_in_direct(&self, code: u32, input: &[u8], data: &[u8]) -> IoctlCompletion {
        self.transport.ioctl_in_direct(code, input, data)
    }

    fn cancel_target(&self) -> Option<Weak<dyn CancelIo>> {
        self.transport.cancel_target()
    }

    fn ioctl_in_direct_pipelined(
        &self,
        code: u32,
        requests: &[(&[u8], &[u8])],
        depth: usize,
    ) -> Vec<IoctlCompletion> {
        self.transport
            .ioctl_in_direct_pipelined(code, requests, depth)
    }
}

/// A shared transport: the accepted streams of a [`KernelTcpListener`](crate::KernelTcpListener)
/// go through the listener's device.
impl<T: Transport + ?Sized> Transport for Arc<T> {
    fn ioctl(&self, code: u32, input: &[u8], output: &mut [u8]) -> IoctlCompletion {
        (**self).ioctl(code, input, output)
    }

    fn ioctl_in_direct(&self, code: u32, input: &[u8], data: &[u8]) -> IoctlCompletion {
        (**self).ioctl_in_direct(code, input, data)
    }

    fn ioctl_in_direct_pipelined(
        &self,
        code: u32,
        requests: &[(&[u8], &[u8])],
        depth: usize,
    ) -> Vec<IoctlCompletion> {
        (**self).ioctl_in_direct_pipelined(code, requests, depth)
    }

    fn cancel_target(&self) -> Option<Weak<dyn CancelIo>> {
        (**self).cancel_target()
    }
}

/// What a RECV returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedData {
    /// The bytes received (empty at end of stream).
    pub data: Vec<u8>,
    /// The peer closed its side (the RECV completed with 0 bytes).
    pub eof: bool,
}

/// What a `RECV_FROM` returned: one datagram and its sender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// The datagram's bytes (truncated to the requested maximum).
    pub data: Vec<u8>,
    /// Its sender, if the driver knows it.
    pub from: Option<SocketAddr>,
}

/// One endpoint of a LIST: what it is and what it has done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListedEndpoint {
    /// Its identity, state and byte counters.
    pub status: EndpointStatus,
    /// Its age, operation and error counters.
    pub activity: EndpointActivity,
}

/// The raw outcome of [`Device::raw`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawReply {
    /// The completion status.
    pub status: NtStatus,
    /// The bytes the driver returned (none when the status is an error).
    pub output: Vec<u8>,
}

/// Bytes per SEND when a large send is pipelined: a write of more is cut into SENDs of this
/// size, [`SEND_PIPELINE_DEPTH`] outstanding at once. Measured under Wine (docs/performance.md):
/// a request of 128 KiB costs less per byte than one of 4 MiB, and keeping several
/// outstanding lets the driver start the next from the completion of the one before.
pub const SEND_CHUNK: usize = 128 << 10;

/// SENDs outstanding at once when a large send is pipelined (at most the driver's
/// per-direction queue depth of 8).
pub const SEND_PIPELINE_DEPTH: usize = 4;

/// Room for this many LIST entries on the first try.
const LIST_FIRST_GUESS: usize = 64;
/// Room for this many RESOLVE addresses on the first try.
const RESOLVE_FIRST_GUESS: usize = 16;
/// LIST (and RESOLVE) requests before giving up on getting every entry.
const LIST_ATTEMPTS: u32 = 3;
/// The largest output buffer a LIST or RESOLVE retry asks for (1 MiB: about 6,900 endpoints
/// or 37,000 addresses), whatever total the last reply claimed: the claim comes from the
/// driver, and a buffer sized from it alone could be gigabytes.
const MAX_RETRY_OUTPUT: usize = 1 << 20;

/// An open handle to the wsk-rs device.
///
/// Endpoints created through it without `detach` are closed by the driver when it is
/// dropped (the handle closes).
pub struct Device {
    transport: Box<dyn Transport>,
    /// Outstanding requests and the interrupt flag, shared with this device's cancellers.
    gate: Arc<Gate>,
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

    /// Opens the device at `path` for reading only (`GENERIC_READ`): the query codes (INFO,
    /// LIST, SECURITY, RESOLVE, STATS) work, every other code gets `STATUS_ACCESS_DENIED`
    /// from the I/O manager (ABI 4). For tools and tests of the access rules.
    ///
    /// # Errors
    ///
    /// As [`Device::open`].
    pub fn open_read_only(path: &str) -> Result<Self, ClientError> {
        crate::sys::DeviceHandle::open_read_only(path)
            .map(|handle| Self::from_transport(Box::new(handle)))
            .map_err(|source| ClientError::Open {
                path: path.to_owned(),
                source,
            })
    }

    /// A device over any transport (the driver core on the fake kernel in tests, a proxy, ...).
    #[must_use]
    pub fn from_transport(transport: Box<dyn Transport>) -> Self {
        Self {
            transport,
            gate: Arc::default(),
        }
    }

    /// What cancels this device's outstanding requests from another thread (see
    /// [`Canceller`]). Runs on any thread.
    #[must_use]
    pub fn canceller(&self) -> Canceller {
        Canceller::new(self.transport.cancel_target(), Arc::clone(&self.gate))
    }

    /// Runs one request through the transport, counted as outstanding for the cancellers
    /// and refused at once after [`Canceller::interrupt`]; a failure status is an error.
    /// Returns `IoStatus.Information`.
    fn exchange(
        &self,
        op: &dyn Fn() -> String,
        issue: &mut dyn FnMut(&dyn Transport) -> IoctlCompletion,
    ) -> Result<usize, ClientError> {
        if self.gate.is_interrupted() {
            return Err(ClientError::Cancelled {
                op: op(),
                refused: true,
            });
        }
        let completion = {
            let _outstanding = self.gate.enter();
            issue(&*self.transport)
        };
        if !completion.status.is_success() {
            return Err(ClientError::driver(op(), completion.status));
        }
        Ok(completion.information)
    }

    /// Sends a buffered request and returns the reply bytes, or the failure status as an
    /// error.
    fn call(
        &self,
        op: &dyn Fn() -> String,
        code: IoctlCode,
        input: &[u8],
        out_len: usize,
    ) -> Result<Vec<u8>, ClientError> {
        let mut output = vec![0; out_len];
        let information = self.exchange(op, &mut |transport| {
            transport.ioctl(code.0, input, &mut output)
        })?;
        output.truncate(information.min(out_len));
        Ok(output)
    }

    /// Sends a `METHOD_IN_DIRECT` request whose output buffer is `data`; returns the bytes
    /// the driver reports sent, which must be all of them.
    fn call_in_direct(
        &self,
        op: &dyn Fn() -> String,
        code: IoctlCode,
        input: &[u8],
        data: &[u8],
    ) -> Result<usize, ClientError> {
        let sent = self.exchange(op, &mut |transport| {
            transport.ioctl_in_direct(code.0, input, data)
        })?;
        if sent != data.len() {
            // The driver promises all or an error.
            return Err(ClientError::Protocol {
                op: op(),
                error: ProtocolError::LengthMismatch,
            });
        }
        Ok(sent)
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

    /// Opens a TCP connection to `remote` (`TCP_CONNECT`), from `options.local` if given,
    /// with the bind options applied to the socket first (`SO_REUSEADDR`,
    /// `SO_EXCLUSIVEADDRUSE`, `IPV6_V6ONLY`).
    ///
    /// # Errors
    ///
    /// As [`Device::info`]; e.g. `STATUS_CONNECTION_REFUSED`, `STATUS_IO_TIMEOUT`;
    /// `STATUS_INVALID_PARAMETER` for a forbidden combination of bind options (reuse with
    /// exclusive, an IPv6 option on an IPv4 remote); [`ClientError::Request`] with
    /// `InvalidParameter` for a peer target name that is empty, longer than 127 bytes, has a
    /// NUL or comes without `security` (not sent); from the provider, e.g.
    /// `STATUS_NOT_SUPPORTED` for settings that require security where it has no IPsec (the
    /// project's provider for Wine), `STATUS_NOT_IMPLEMENTED` where it has no
    /// `WskControlSocket` (Wine's netio.sys).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use wskrs_client::{Device, Lifetime, TcpConnectOptions};
    ///
    /// let device = Device::open(wskrs_protocol::USER_DEVICE_PATH)?;
    /// let options = TcpConnectOptions {
    ///     lifetime: Lifetime::Detached,
    ///     timeout: Some(Duration::from_secs(2)),
    ///     ..TcpConnectOptions::default()
    /// };
    /// let endpoint = device.tcp_connect("127.0.0.1:9000".parse().unwrap(), &options)?;
    /// println!("endpoint {} from {:?}", endpoint.id, endpoint.local);
    /// # Ok::<(), wskrs_client::ClientError>(())
    /// ```
    pub fn tcp_connect(
        &self,
        remote: SocketAddr,
        options: &TcpConnectOptions<'_>,
    ) -> Result<OpenedEndpoint, ClientError> {
        let op = || format!("tcp connect to {remote}");
        let request = encode_tcp_connect_options(remote, &options.wire())
            .map_err(|error| ClientError::Request { op: op(), error })?;
        let reply = self.call(&op, IoctlCode::TCP_CONNECT, &request, 80)?;
        parse_endpoint_reply(&reply).map_err(|error| ClientError::Protocol { op: op(), error })
    }

    /// Opens a TCP listener on `local` (`TCP_LISTEN`) running `service` on every accepted
    /// connection, or with [`Service::None`] queueing them for [`Device::accept`]; the
    /// options set the backlog, the connection limit, the bind options and the listening
    /// socket's security descriptor (SDDL).
    ///
    /// # Errors
    ///
    /// As [`Device::info`]; e.g. `STATUS_ADDRESS_ALREADY_EXISTS`; [`ClientError::Request`]
    /// with `InvalidParameter` for an SDDL longer than 256 bytes or containing a NUL (not
    /// sent); `STATUS_INVALID_PARAMETER` from the driver for an SDDL it cannot convert.
    pub fn tcp_listen(
        &self,
        local: SocketAddr,
        service: Service,
        options: &TcpListenOptions<'_>,
    ) -> Result<OpenedEndpoint, ClientError> {
        let op = || format!("tcp listen on {local}");
        let protocol = |error| ClientError::Protocol { op: op(), error };
        let request = encode_tcp_listen_with(local, service, &options.wire())
            .map_err(|error| ClientError::Request { op: op(), error })?;
        let reply = self.call(&op, IoctlCode::TCP_LISTEN, &request, 80)?;
        parse_endpoint_reply(&reply).map_err(protocol)
    }

    /// Takes the oldest connection queued on listener `id` (ACCEPT), which must have been
    /// opened with [`Service::None`]; waits for one up to `timeout` (`None`: the driver's
    /// default, 10 s) if none is queued. The connection becomes an endpoint of this handle
    /// living as `lifetime` says; the reply names it, its local address (the
    /// listener's) and its peer. Direct I/O: the driver writes the 80-byte reply into the
    /// output buffer when a connection arrives, so the wait can be cancelled
    /// ([`Canceller`]).
    ///
    /// # Errors
    ///
    /// As [`Device::info`]; `STATUS_IO_TIMEOUT` when no connection arrived in time,
    /// `STATUS_INVALID_DEVICE_STATE` if `id` is not a listener opened with
    /// [`Service::None`], `STATUS_DEVICE_BUSY` if another ACCEPT waits on it,
    /// [`ClientError::Cancelled`] when cancelled or when the listener closes meanwhile.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use wskrs_client::{Device, Lifetime, TcpListenOptions};
    /// use wskrs_protocol::Service;
    ///
    /// let device = Device::open(wskrs_protocol::USER_DEVICE_PATH)?;
    /// let listener = device.tcp_listen(
    ///     "127.0.0.1:9100".parse().unwrap(),
    ///     Service::None,
    ///     &TcpListenOptions::default(),
    /// )?;
    /// let timeout = Some(Duration::from_secs(30));
    /// let connection = device.accept(listener.id, Lifetime::Handle, timeout)?;
    /// println!("endpoint {} from {:?}", connection.id, connection.remote);
    /// # Ok::<(), wskrs_client::ClientError>(())
    /// ```
    pub fn accept(
        &self,
        id: EndpointId,
        lifetime: Lifetime,
        timeout: Option<Duration>,
    ) -> Result<OpenedEndpoint, ClientError> {
        let op = || format!("accept on listener {id}");
        let request = encode_accept(id, wire_timeout(timeout), lifetime.is_detached());
        // METHOD_OUT_DIRECT: the output buffer must be exactly the reply's size.
        let mut reply = [0u8; core::mem::size_of::<EndpointReply>()];
        let written = self.exchange(&op, &mut |transport| {
            transport.ioctl(IoctlCode::ACCEPT.0, &request, &mut reply)
        })?;
        let reply = reply.get(..written).ok_or_else(|| ClientError::Protocol {
            op: op(),
            error: ProtocolError::LengthMismatch,
        })?;
        parse_endpoint_reply(reply).map_err(|error| ClientError::Protocol { op: op(), error })
    }

    /// Opens a UDP socket on `local` (`UDP_BIND`; port 0 lets the stack choose) that runs
    /// `service`: [`UdpService::None`] is driven with [`Device::send_to`] and
    /// [`Device::recv_from`], [`UdpService::Echo`] sends every datagram back to its sender.
    ///
    /// # Errors
    ///
    /// As [`Device::tcp_listen`]; e.g. `STATUS_ADDRESS_ALREADY_EXISTS`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use wskrs_client::{Device, UdpBindOptions};
    /// use wskrs_protocol::UdpService;
    ///
    /// let device = Device::open(wskrs_protocol::USER_DEVICE_PATH)?;
    /// let local = "127.0.0.1:0".parse().unwrap();
    /// let socket = device.udp_bind(local, UdpService::None, &UdpBindOptions::default())?;
    /// device.send_to(socket.id, "127.0.0.1:9000".parse().unwrap(), b"ping", None)?;
    /// let reply = device.recv_from(socket.id, 1500, Some(Duration::from_secs(2)))?;
    /// println!("{} bytes from {:?}", reply.data.len(), reply.from);
    /// # Ok::<(), wskrs_client::ClientError>(())
    /// ```
    pub fn udp_bind(
        &self,
        local: SocketAddr,
        service: UdpService,
        options: &UdpBindOptions<'_>,
    ) -> Result<OpenedEndpoint, ClientError> {
        let op = || format!("udp bind on {local}");
        let protocol = |error| ClientError::Protocol { op: op(), error };
        let request = encode_udp_bind_options(local, service, &options.wire())
            .map_err(|error| ClientError::Request { op: op(), error })?;
        let reply = self.call(&op, IoctlCode::UDP_BIND, &request, 80)?;
        parse_endpoint_reply(&reply).map_err(protocol)
    }

    /// Sends `data` as one datagram (1 to [`MAX_DATAGRAM`] bytes) from UDP endpoint `id` to
    /// `remote` (`SEND_TO`, direct I/O: the driver reads `data` in place); returns the bytes
    /// sent. Waits until the datagram is sent, up to `timeout` (`None`: the driver's default).
    ///
    /// # Errors
    ///
    /// As [`Device::info`]; [`ClientError::Request`] with `InvalidParameter` if `data` is
    /// empty (ABI v3 cannot send zero-length datagrams) or longer than [`MAX_DATAGRAM`] (not
    /// sent); `STATUS_INVALID_DEVICE_STATE` on a TCP endpoint; [`ClientError::Cancelled`].
    pub fn send_to(
        &self,
        id: EndpointId,
        remote: SocketAddr,
        data: &[u8],
        timeout: Option<Duration>,
    ) -> Result<u32, ClientError> {
        let op = || format!("sendto on endpoint {id} to {remote}");
        let length = data_length(data.len(), MAX_DATAGRAM).ok_or_else(|| ClientError::Request {
            op: op(),
            error: ProtocolError::InvalidParameter,
        })?;
        let request = encode_send_to(id, wire_timeout(timeout), remote, length);
        self.call_in_direct(&op, IoctlCode::SEND_TO, &request, data)?;
        Ok(length)
    }

    /// Receives one datagram of at most `max` bytes (1 to [`MAX_DATAGRAM`]; a longer one is
    /// truncated) on UDP endpoint `id` (`RECV_FROM`), waiting up to `timeout` (`None`: the
    /// driver's default).
    ///
    /// # Errors
    ///
    /// As [`Device::info`]; e.g. `STATUS_IO_TIMEOUT`; [`ClientError::Cancelled`];
    /// [`ClientError::Request`] with `InvalidParameter` for `max` 0 or above
    /// [`MAX_DATAGRAM`] (not sent).
    pub fn recv_from(
        &self,
        id: EndpointId,
        max: u32,
        timeout: Option<Duration>,
    ) -> Result<Datagram, ClientError> {
        let op = || format!("recvfrom on endpoint {id}");
        let protocol = |error| ClientError::Protocol { op: op(), error };
        if max == 0 || max > MAX_DATAGRAM {
            return Err(ClientError::Request {
                op: op(),
                error: ProtocolError::InvalidParameter,
            });
        }
        let request = encode_recv_from(id, wire_timeout(timeout), max);
        // The driver writes the 48-byte RecvFromReply and the datagram after it.
        let reply = self.call(
            &op,
            IoctlCode::RECV_FROM,
            &request,
            recv_from_output_len(max),
        )?;
        let received = parse_recv_from_reply(&reply).map_err(protocol)?;
        Ok(Datagram {
            data: received.data.to_vec(),
            from: received.remote,
        })
    }

    /// Shuts a connection down (DISCONNECT): [`DisconnectMode::Graceful`] shuts down the
    /// send direction (the peer sees end of stream; receiving still works),
    /// [`DisconnectMode::Abortive`] resets it. Waits up to `timeout` (`None`: the driver's
    /// default). The endpoint stays listed, in state `disconnected`, until
    /// [`Device::close`].
    ///
    /// # Errors
    ///
    /// As [`Device::info`]; `STATUS_INVALID_DEVICE_STATE` on a listener or UDP socket.
    pub fn disconnect(
        &self,
        id: EndpointId,
        mode: DisconnectMode,
        timeout: Option<Duration>,
    ) -> Result<(), ClientError> {
        let op = || format!("disconnect endpoint {id}");
        let request = encode_disconnect(id, wire_timeout(timeout), mode.is_abortive());
        let reply = self.call(&op, IoctlCode::DISCONNECT, &request, 8)?;
        parse_disconnect_reply(&reply).map_err(|error| ClientError::Protocol { op: op(), error })
    }

    /// Hands connection `id` to an in-kernel service (SERVE): from then on the driver runs
    /// `service` (echo, discard or source) on the connection; the endpoint keeps its id,
    /// [`Device::list`] shows the service and its byte counters, and this caller's data
    /// requests on it fail with `STATUS_INVALID_DEVICE_STATE`. [`Device::close`] ends the
    /// service's connection.
    ///
    /// # Errors
    ///
    /// As [`Device::info`]; `STATUS_INVALID_PARAMETER` for [`Service::None`];
    /// `STATUS_INVALID_DEVICE_STATE` for anything but a user-driven TCP connection (a
    /// listener, a UDP socket, a connection already served); `STATUS_DEVICE_BUSY` while a
    /// send or receive is outstanding on it.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use wskrs_client::{Device, Lifetime, TcpConnectOptions};
    /// use wskrs_protocol::Service;
    ///
    /// let device = Device::open(wskrs_protocol::USER_DEVICE_PATH)?;
    /// let options = TcpConnectOptions {
    ///     lifetime: Lifetime::Detached,
    ///     ..TcpConnectOptions::default()
    /// };
    /// let endpoint = device.tcp_connect("127.0.0.1:9000".parse().unwrap(), &options)?;
    /// device.serve(endpoint.id, Service::Echo)?;
    /// # Ok::<(), wskrs_client::ClientError>(())
    /// ```
    pub fn serve(&self, id: EndpointId, service: Service) -> Result<(), ClientError> {
        let op = || format!("serve endpoint {id} with {service}");
        let reply = self.call(&op, IoctlCode::SERVE, &encode_serve(id, service), 8)?;
        parse_serve_reply(&reply).map_err(|error| ClientError::Protocol { op: op(), error })
    }

    fn option_call(
        &self,
        id: EndpointId,
        option: OptionId,
        set: Option<u32>,
    ) -> Result<u32, ClientError> {
        let op = || match set {
            None => format!("get {option} of endpoint {id}"),
            Some(value) => format!("set {option} of endpoint {id} to {value}"),
        };
        let request = encode_socket_option(id, option, set);
        let reply = self.call(&op, IoctlCode::SOCKET_OPTION, &request, 16)?;
        parse_socket_option_reply(&reply).map_err(|error| ClientError::Protocol { op: op(), error })
    }

    /// Reads a socket option of endpoint `id` (`SOCKET_OPTION` get): 0/1 for the boolean
    /// options, bytes for the buffer sizes.
    ///
    /// # Errors
    ///
    /// As [`Device::info`]; `STATUS_INVALID_DEVICE_STATE` for an option the endpoint's kind
    /// lacks (e.g. `TCP_NODELAY` on a UDP socket).
    pub fn socket_option(&self, id: EndpointId, option: OptionId) -> Result<u32, ClientError> {
        self.option_call(id, option, None)
    }

    /// Sets a socket option of endpoint `id` (`SOCKET_OPTION` set) and returns the value read
    /// back. Only [`OptionId::is_settable`] options; booleans take 0 or 1.
    ///
    /// # Errors
    ///
    /// As [`Device::socket_option`]; `STATUS_INVALID_PARAMETER` for a get-only option or a
    /// value the option cannot take.
    pub fn set_socket_option(
        &self,
        id: EndpointId,
        option: OptionId,
        value: u32,
    ) -> Result<u32, ClientError> {
        self.option_call(id, option, Some(value))
    }

    fn bool_option(&self, id: EndpointId, option: OptionId) -> Result<bool, ClientError> {
        self.socket_option(id, option).map(|value| value != 0)
    }

    fn set_bool_option(
        &self,
        id: EndpointId,
        option: OptionId,
        on: bool,
    ) -> Result<bool, ClientError> {
        self.set_socket_option(id, option, u32::from(on))
            .map(|value| value != 0)
    }

    /// `SO_KEEPALIVE` (`SOL_SOCKET`) of a connection.
    ///
    /// # Errors
    ///
    /// As [`Device::socket_option`].
    pub fn keepalive(&self, id: EndpointId) -> Result<bool, ClientError> {
        self.bool_option(id, OptionId::Keepalive)
    }

    /// Sets `SO_KEEPALIVE` (`SOL_SOCKET`); returns the value read back.
    ///
    /// # Errors
    ///
    /// As [`Device::set_socket_option`].
    pub fn set_keepalive(&self, id: EndpointId, on: bool) -> Result<bool, ClientError> {
        self.set_bool_option(id, OptionId::Keepalive, on)
    }

    /// `TCP_NODELAY` (`IPPROTO_TCP`) of a connection.
    ///
    /// # Errors
    ///
    /// As [`Device::socket_option`].
    pub fn nodelay(&self, id: EndpointId) -> Result<bool, ClientError> {
        self.bool_option(id, OptionId::NoDelay)
    }

    /// Sets `TCP_NODELAY` (`IPPROTO_TCP`); returns the value read back.
    ///
    /// # Errors
    ///
    /// As [`Device::set_socket_option`].
    pub fn set_nodelay(&self, id: EndpointId, on: bool) -> Result<bool, ClientError> {
        self.set_bool_option(id, OptionId::NoDelay, on)
    }

    /// `SO_RCVBUF` (`SOL_SOCKET`) in bytes.
    ///
    /// # Errors
    ///
    /// As [`Device::socket_option`].
    pub fn recv_buffer_size(&self, id: EndpointId) -> Result<u32, ClientError> {
        self.socket_option(id, OptionId::RcvBuf)
    }

    /// Sets `SO_RCVBUF` (`SOL_SOCKET`, at most 0x7FFFFFFF); returns the value read back.
    ///
    /// # Errors
    ///
    /// As [`Device::set_socket_option`].
    pub fn set_recv_buffer_size(&self, id: EndpointId, bytes: u32) -> Result<u32, ClientError> {
        self.set_socket_option(id, OptionId::RcvBuf, bytes)
    }

    /// `SO_SNDBUF` (`SOL_SOCKET`) in bytes.
    ///
    /// # Errors
    ///
    /// As [`Device::socket_option`].
    pub fn send_buffer_size(&self, id: EndpointId) -> Result<u32, ClientError> {
        self.socket_option(id, OptionId::SndBuf)
    }

    /// Sets `SO_SNDBUF` (`SOL_SOCKET`, at most 0x7FFFFFFF); returns the value read back.
    ///
    /// # Errors
    ///
    /// As [`Device::set_socket_option`].
    pub fn set_send_buffer_size(&self, id: EndpointId, bytes: u32) -> Result<u32, ClientError> {
        self.set_socket_option(id, OptionId::SndBuf, bytes)
    }

    /// `SO_REUSEADDR` (`SOL_SOCKET`), fixed at bind time by `BindFlags::reuse`.
    ///
    /// # Errors
    ///
    /// As [`Device::socket_option`].
    pub fn reuse_address(&self, id: EndpointId) -> Result<bool, ClientError> {
        self.bool_option(id, OptionId::ReuseAddr)
    }

    /// `SO_EXCLUSIVEADDRUSE` (`SOL_SOCKET`), fixed at bind time by `BindFlags::exclusive`.
    ///
    /// # Errors
    ///
    /// As [`Device::socket_option`].
    pub fn exclusive_address_use(&self, id: EndpointId) -> Result<bool, ClientError> {
        self.bool_option(id, OptionId::ExclusiveAddrUse)
    }

    /// `IPV6_V6ONLY` (`IPPROTO_IPV6`) of an IPv6 socket, fixed at bind time by
    /// `BindFlags::v6only`.
    ///
    /// # Errors
    ///
    /// As [`Device::socket_option`]; `STATUS_INVALID_DEVICE_STATE` on an IPv4 socket.
    pub fn only_v6(&self, id: EndpointId) -> Result<bool, ClientError> {
        self.bool_option(id, OptionId::Ipv6V6Only)
    }

    /// The endpoint's security descriptor (`SO_WSK_SECURITY`) as SDDL, `None` if it has
    /// none (SECURITY).
    ///
    /// # Errors
    ///
    /// As [`Device::info`]; `STATUS_BUFFER_TOO_SMALL` if the SDDL exceeds 256 bytes.
    pub fn security(&self, id: EndpointId) -> Result<Option<String>, ClientError> {
        let op = || format!("security of endpoint {id}");
        let reply = self.call(&op, IoctlCode::SECURITY, &encode_security(id), 272)?;
        let sddl = parse_security_reply(&reply)
            .map_err(|error| ClientError::Protocol { op: op(), error })?;
        Ok((!sddl.is_empty()).then(|| sddl.to_owned()))
    }

    /// The control device's DACL as SDDL, as the kernel holds it: the driver reads it back
    /// from its device object (`DEVICE_SECURITY`). Compare it with
    /// [`wskrs_protocol::is_device_sddl`].
    ///
    /// # Errors
    ///
    /// As [`Device::info`]; the kernel's status if it refuses to return the descriptor.
    pub fn device_security(&self) -> Result<String, ClientError> {
        let op = || "security of the device".to_owned();
        let reply = self.call(
            &op,
            IoctlCode::DEVICE_SECURITY,
            &wskrs_protocol::encode_device_security(),
            272,
        )?;
        let sddl = parse_security_reply(&reply)
            .map_err(|error| ClientError::Protocol { op: op(), error })?;
        Ok(sddl.to_owned())
    }

    /// Names `peer` of UDP endpoint `id` for the security protocol `protocol`
    /// (`SET_PEER_TARGET_NAME`, `SIO_SET_PEER_TARGET_NAME`), before the first datagram to it.
    /// A TCP connection's peer target name is set when it is opened
    /// ([`TcpConnectOptions::peer_target_name`]).
    ///
    /// # Errors
    ///
    /// As [`Device::info`]; [`ClientError::Request`] with `InvalidParameter` for a name that
    /// is empty, longer than 127 bytes or has a NUL (not sent); `STATUS_INVALID_DEVICE_STATE`
    /// on a TCP endpoint; the provider's status (`STATUS_NOT_IMPLEMENTED` without
    /// `WskControlSocket`).
    pub fn set_peer_target_name(
        &self,
        id: EndpointId,
        peer: SocketAddr,
        protocol: SecureProtocol,
        name: &str,
    ) -> Result<(), ClientError> {
        let op = || format!("set the peer target name of {peer} on endpoint {id}");
        let request = encode_set_peer_target_name(id, peer, protocol, name)
            .map_err(|error| ClientError::Request { op: op(), error })?;
        let reply = self.call(&op, IoctlCode::SET_PEER_TARGET_NAME, &request, 8)?;
        parse_peer_target_name_reply(&reply)
            .map_err(|error| ClientError::Protocol { op: op(), error })
    }

    /// Forgets the peer target name of `peer` on UDP endpoint `id`
    /// (`DELETE_PEER_TARGET_NAME`, `SIO_DELETE_PEER_TARGET_NAME`).
    ///
    /// # Errors
    ///
    /// As [`Device::set_peer_target_name`]; `STATUS_NOT_FOUND` from the project's provider
    /// for a peer without a name.
    pub fn delete_peer_target_name(
        &self,
        id: EndpointId,
        peer: SocketAddr,
    ) -> Result<(), ClientError> {
        let op = || format!("delete the peer target name of {peer} on endpoint {id}");
        let request = encode_delete_peer_target_name(id, peer);
        let reply = self.call(&op, IoctlCode::DELETE_PEER_TARGET_NAME, &request, 8)?;
        parse_delete_peer_target_name_reply(&reply)
            .map_err(|error| ClientError::Protocol { op: op(), error })
    }

    /// The security of TCP connection `id` (`peer` `None`) or of UDP endpoint `id`'s traffic
    /// with `peer` (`QUERY_SECURITY`, `SIO_QUERY_SECURITY`): the protocol and whether the
    /// traffic is authenticated and encrypted. Never the peer's token handles.
    ///
    /// # Errors
    ///
    /// As [`Device::info`]; `STATUS_INVALID_PARAMETER` for a peer on a TCP connection or
    /// none on a UDP endpoint; `STATUS_INVALID_DEVICE_STATE` on a listener; the provider's
    /// status (`STATUS_NOT_IMPLEMENTED` without `WskControlSocket`).
    pub fn query_security(
        &self,
        id: EndpointId,
        peer: Option<SocketAddr>,
    ) -> Result<SecurityQuery, ClientError> {
        let op = || format!("query the security of endpoint {id}");
        let request = encode_query_security(id, peer);
        let reply = self.call(&op, IoctlCode::QUERY_SECURITY, &request, 16)?;
        parse_query_security_reply(&reply)
            .map_err(|error| ClientError::Protocol { op: op(), error })
    }

    /// Resolves a host name (or address literal) and optional service (a port number or a
    /// name such as `http`; empty for none) in the kernel (RESOLVE, `WskGetAddressInfo`);
    /// returns every address, in the provider's order, with the service's port. Waits up
    /// to `timeout` (`None`: the driver's default).
    ///
    /// # Errors
    ///
    /// As [`Device::info`]; e.g. `STATUS_NOT_FOUND` for an unknown name;
    /// [`ClientError::Request`] with `InvalidParameter` for an empty name, a name of 256 bytes
    /// or more, or a service of 32 bytes or more (not sent).
    pub fn resolve(
        &self,
        name: &str,
        service: &str,
        timeout: Option<Duration>,
    ) -> Result<Vec<SocketAddr>, ClientError> {
        let op = || format!("resolve {name}");
        let protocol = |error| ClientError::Protocol { op: op(), error };
        let request = encode_resolve(name, service, wire_timeout(timeout))
            .map_err(|error| ClientError::Request { op: op(), error })?;
        let mut room = RESOLVE_FIRST_GUESS;
        for attempt in 1..=LIST_ATTEMPTS {
            let out_len = resolve_output_len(room).min(MAX_RETRY_OUTPUT);
            let reply = self.call(&op, IoctlCode::RESOLVE, &request, out_len)?;
            let addresses = parse_resolve_reply(&reply).map_err(protocol)?;
            if !addresses.is_truncated() || attempt == LIST_ATTEMPTS {
                return Ok(addresses.iter().collect());
            }
            room = addresses.total() as usize;
        }
        Ok(Vec::new())
    }

    /// Driver-wide counters since the driver loaded (STATS).
    ///
    /// # Errors
    ///
    /// As [`Device::info`].
    pub fn stats(&self) -> Result<Stats, ClientError> {
        let op = || "stats".to_owned();
        let reply = self.call(
            &op,
            IoctlCode::STATS,
            &encode_stats(),
            core::mem::size_of::<wskrs_protocol::wire::StatsReply>(),
        )?;
        parse_stats_reply(&reply).map_err(|error| ClientError::Protocol { op: op(), error })
    }

    /// What the driver's WSK library holds now: pool, IRPs, MDLs, sockets, work items
    /// (HELD). Once everything opened is closed, it is back at its earlier value.
    ///
    /// # Errors
    ///
    /// As [`Device::info`].
    pub fn held(&self) -> Result<wskrs_protocol::Held, ClientError> {
        let op = || "held".to_owned();
        let reply = self.call(&op, IoctlCode::HELD, &wskrs_protocol::encode_held(), 56)?;
        wskrs_protocol::parse_held_reply(&reply)
            .map_err(|error| ClientError::Protocol { op: op(), error })
    }

    /// Sends `data` (at most [`MAX_TRANSFER`] bytes) in one SEND; returns the bytes sent,
    /// all of them. Direct I/O: the driver reads `data` in place, and the SEND completes once
    /// the transport has taken every byte, so a slow reader makes it wait (up to `timeout`;
    /// `None`: the driver's default). Empty `data` sends nothing and returns 0.
    ///
    /// # Errors
    ///
    /// As [`Device::info`]; [`ClientError::Request`] with `InvalidParameter` if `data` is
    /// longer than [`MAX_TRANSFER`] (use [`Device::send_all`]); [`ClientError::Cancelled`];
    /// `STATUS_DEVICE_BUSY` if 8 sends are outstanding on the endpoint already.
    pub fn send(
        &self,
        id: EndpointId,
        data: &[u8],
        timeout: Option<Duration>,
    ) -> Result<u32, ClientError> {
        let op = || format!("send on endpoint {id}");
        if data.is_empty() {
            return Ok(0);
        }
        let length = data_length(data.len(), MAX_TRANSFER).ok_or_else(|| ClientError::Request {
            op: op(),
            error: ProtocolError::InvalidParameter,
        })?;
        let request = encode_send(id, wire_timeout(timeout), length);
        self.call_in_direct(&op, IoctlCode::SEND, &request, data)?;
        Ok(length)
    }

    /// Sends all of `data`: pipelined SENDs of [`SEND_CHUNK`] bytes, [`SEND_PIPELINE_DEPTH`]
    /// outstanding at once, which the driver completes in order; returns the bytes sent.
    ///
    /// # Errors
    ///
    /// As [`Device::send`] (no busy status: the pipeline stays within the driver's queue).
    /// A failed SEND fails the ones waiting behind it, and the error is returned even if
    /// earlier ones were sent ([`Device::send_pipelined`] tells how many).
    pub fn send_all(
        &self,
        id: EndpointId,
        data: &[u8],
        timeout: Option<Duration>,
    ) -> Result<u64, ClientError> {
        match self.send_pipelined(id, data, timeout) {
            (sent, None) => Ok(sent),
            (_, Some(error)) => Err(error),
        }
    }

    /// Like [`Device::send_all`], but returns the bytes sent before a failure with it:
    /// (bytes the driver confirmed, in order, then the first failure if there was one).
    #[must_use]
    pub fn send_pipelined(
        &self,
        id: EndpointId,
        data: &[u8],
        timeout: Option<Duration>,
    ) -> (u64, Option<ClientError>) {
        let op = || format!("send on endpoint {id}");
        if self.gate.is_interrupted() {
            let error = ClientError::Cancelled {
                op: op(),
                refused: true,
            };
            return (0, Some(error));
        }
        let timeout_ms = wire_timeout(timeout);
        let inputs: Vec<(_, &[u8])> = data
            .chunks(SEND_CHUNK)
            .map(|chunk| {
                // SEND_CHUNK is far below MAX_TRANSFER: the length fits.
                let length = data_length(chunk.len(), MAX_TRANSFER).unwrap_or(0);
                (encode_send(id, timeout_ms, length), chunk)
            })
            .collect();
        let requests: Vec<(&[u8], &[u8])> = inputs
            .iter()
            .map(|(input, chunk)| (input.as_slice(), *chunk))
            .collect();
        let completions = {
            let _outstanding = self.gate.enter();
            self.transport.ioctl_in_direct_pipelined(
                IoctlCode::SEND.0,
                &requests,
                SEND_PIPELINE_DEPTH,
            )
        };
        let mut sent = 0u64;
        for (completion, (_, chunk)) in completions.iter().zip(&requests) {
            if !completion.status.is_success() {
                return (sent, Some(ClientError::driver(op(), completion.status)));
            }
            if completion.information != chunk.len() {
                // The driver promises all or an error.
                let error = ClientError::Protocol {
                    op: op(),
                    error: ProtocolError::LengthMismatch,
                };
                return (sent, Some(error));
            }
            sent = sent.saturating_add(chunk.len() as u64);
        }
        if completions.len() < requests.len() {
            // A transport stops only after a failure, which is reported above.
            let error = ClientError::Protocol {
                op: op(),
                error: ProtocolError::LengthMismatch,
            };
            return (sent, Some(error));
        }
        (sent, None)
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
        timeout: Option<Duration>,
    ) -> Result<u64, ClientError> {
        self.send_reader_reporting(id, reader, what, timeout, &mut |_| {})
    }

    /// Like [`Device::send_reader`], calling `sent` with the bytes of each SEND once it
    /// completed (for a progress bar).
    ///
    /// # Errors
    ///
    /// As [`Device::send_reader`].
    pub fn send_reader_reporting(
        &self,
        id: EndpointId,
        reader: &mut dyn Read,
        what: &str,
        timeout: Option<Duration>,
        sent: &mut dyn FnMut(u64),
    ) -> Result<u64, ClientError> {
        let mut buffer = vec![0; MAX_TRANSFER as usize];
        let mut sent_total = 0u64;
        loop {
            let filled = read_up_to(reader, &mut buffer)
                .map_err(|source| ClientError::io(format!("reading {what}"), source))?;
            let Some(chunk) = buffer.get(..filled).filter(|chunk| !chunk.is_empty()) else {
                return Ok(sent_total);
            };
            let chunk_sent = self.send_all(id, chunk, timeout)?;
            sent(chunk_sent);
            sent_total = sent_total.saturating_add(chunk_sent);
        }
    }

    /// Receives at most `max` bytes (RECV, 1 to [`MAX_TRANSFER`]); waits up to `timeout`
    /// (`None`: the driver's default) for the first byte.
    ///
    /// # Errors
    ///
    /// As [`Device::recv_into`].
    pub fn recv(
        &self,
        id: EndpointId,
        max: u32,
        timeout: Option<Duration>,
    ) -> Result<ReceivedData, ClientError> {
        let op = || format!("recv on endpoint {id}");
        if max == 0 || max > MAX_TRANSFER {
            return Err(ClientError::Request {
                op: op(),
                error: ProtocolError::InvalidParameter,
            });
        }
        let mut data = vec![0; max as usize];
        let received = self.recv_into(id, &mut data, timeout)?;
        data.truncate(received);
        Ok(ReceivedData {
            eof: data.is_empty(),
            data,
        })
    }

    /// Receives into `buffer` (RECV by direct I/O: the driver writes the bytes straight into
    /// it, no copy), at most [`MAX_TRANSFER`] bytes; returns how many arrived, 0 when the
    /// peer closed its side (end of stream). An empty `buffer` returns 0 without a request.
    /// Waits up to `timeout` (`None`: the driver's default) for the first byte.
    ///
    /// # Errors
    ///
    /// As [`Device::info`]; e.g. `STATUS_IO_TIMEOUT`, `STATUS_NOT_FOUND`,
    /// `STATUS_DEVICE_BUSY` (8 receives are outstanding on the endpoint already);
    /// [`ClientError::Cancelled`].
    pub fn recv_into(
        &self,
        id: EndpointId,
        buffer: &mut [u8],
        timeout: Option<Duration>,
    ) -> Result<usize, ClientError> {
        let op = || format!("recv on endpoint {id}");
        let len = buffer.len().min(MAX_TRANSFER as usize);
        let Some(buffer) = buffer.get_mut(..len).filter(|buffer| !buffer.is_empty()) else {
            return Ok(0);
        };
        let length = data_length(len, MAX_TRANSFER).unwrap_or(0);
        let request = encode_recv(id, wire_timeout(timeout), length);
        let received = self.exchange(&op, &mut |transport| {
            transport.ioctl(IoctlCode::RECV.0, &request, buffer)
        })?;
        if received > len {
            return Err(ClientError::Protocol {
                op: op(),
                error: ProtocolError::LengthMismatch,
            });
        }
        Ok(received)
    }

    /// Sends `request`, then receives its reply into `reply`, in one IOCTL (TRANSACT): one
    /// trip to the driver instead of a SEND and a RECV. Returns the reply's length (at most
    /// `reply.len()`; the reply is whatever the peer sent first, as a RECV returns it), 0
    /// when the peer closed its side. `request` and `reply` are 1 to [`MAX_TRANSACT`] bytes;
    /// `timeout` (`None`: the driver's default) covers the send and the reply together.
    ///
    /// The driver sends from and receives into one locked buffer (direct I/O): `reply`
    /// itself when it is at least as long as `request` (`request` is copied into it first),
    /// else a buffer of `request.len()` bytes.
    ///
    /// # Errors
    ///
    /// As [`Device::info`]; [`ClientError::Request`] with `InvalidParameter` for an empty or
    /// too long `request` or `reply` (not sent); `STATUS_DEVICE_BUSY` while a RECV is
    /// outstanding on the endpoint (the reply belongs to the TRANSACT) or 7 TRANSACTs are;
    /// `STATUS_IO_TIMEOUT` (the request may have been sent), `STATUS_NOT_FOUND`,
    /// `STATUS_INVALID_DEVICE_STATE` (not a user-driven TCP connection);
    /// [`ClientError::Cancelled`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), wskrs_client::ClientError> {
    /// use wskrs_client::{Device, TcpConnectOptions};
    /// let device = Device::open(wskrs_protocol::USER_DEVICE_PATH)?;
    /// let peer = "127.0.0.1:7".parse().expect("an address");
    /// let connection = device.tcp_connect(peer, &TcpConnectOptions::default())?;
    /// let mut reply = [0u8; 64];
    /// let n = device.transact(connection.id, b"ping", &mut reply, None)?;
    /// println!("{:?}", &reply[..n]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn transact(
        &self,
        id: EndpointId,
        request: &[u8],
        reply: &mut [u8],
        timeout: Option<Duration>,
    ) -> Result<usize, ClientError> {
        let op = || format!("transact on endpoint {id}");
        let invalid = || ClientError::Request {
            op: op(),
            error: ProtocolError::InvalidParameter,
        };
        let length = data_length(request.len(), MAX_TRANSACT).ok_or_else(invalid)?;
        let max_reply = data_length(reply.len(), MAX_TRANSACT).ok_or_else(invalid)?;
        let input = encode_transact(id, wire_timeout(timeout), length, max_reply);
        let mut scratch = Vec::new();
        let buffer: &mut [u8] = if reply.len() >= request.len() {
            reply
                .get_mut(..request.len())
                .ok_or_else(invalid)?
                .copy_from_slice(request);
            &mut *reply
        } else {
            scratch.extend_from_slice(request);
            &mut scratch
        };
        let received = self.exchange(&op, &mut |transport| {
            transport.ioctl(IoctlCode::TRANSACT.0, &input, buffer)
        })?;
        if received > reply.len() {
            return Err(ClientError::Protocol {
                op: op(),
                error: ProtocolError::LengthMismatch,
            });
        }
        if let (Some(from), Some(to)) = (scratch.get(..received), reply.get_mut(..received)) {
            to.copy_from_slice(from);
        }
        Ok(received)
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
        timeout: Option<Duration>,
        sink: &mut dyn Write,
    ) -> Result<u64, ClientError> {
        // One buffer for every RECV: the driver writes into it directly.
        let room = usize::try_from(count)
            .unwrap_or(usize::MAX)
            .min(MAX_TRANSFER as usize);
        let mut buffer = vec![0; room];
        let mut received = 0u64;
        while received < count {
            let want = usize::try_from(count.saturating_sub(received))
                .unwrap_or(usize::MAX)
                .min(room);
            let chunk = buffer.get_mut(..want).unwrap_or_default();
            let got = self.recv_into(id, chunk, timeout)?;
            if got == 0 {
                return Err(ClientError::UnexpectedEof {
                    id,
                    expected: count,
                    received,
                });
            }
            write_data(sink, chunk.get(..got).unwrap_or_default())
                .map_err(|source| ClientError::io("writing received data", source))?;
            received = received.saturating_add(got as u64);
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
    pub fn list(&self) -> Result<Vec<ListedEndpoint>, ClientError> {
        let op = || "list".to_owned();
        let mut room = LIST_FIRST_GUESS;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let out_len = list_output_len(room).min(MAX_RETRY_OUTPUT);
            let reply = self.call(&op, IoctlCode::LIST, &encode_list(), out_len)?;
            let list = parse_list_reply(&reply)
                .map_err(|error| ClientError::Protocol { op: op(), error })?;
            // Endpoints may appear between calls: retry twice with room for all, then
            // report what fit.
            if !list.is_truncated() || attempts >= LIST_ATTEMPTS {
                return Ok(list
                    .iter_with_activity()
                    .map(|(status, activity)| ListedEndpoint { status, activity })
                    .collect());
            }
            room = (list.total() as usize).saturating_add(16);
        }
    }
}

/// `len` as a direct request's data length: 1 to `max`.
fn data_length(len: usize, max: u32) -> Option<u32> {
    u32::try_from(len)
        .ok()
        .filter(|&length| length != 0 && length <= max)
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
///
/// # Errors
///
/// The sink's write error.
pub fn write_data(sink: &mut dyn Write, data: &[u8]) -> io::Result<()> {
    match sink.write_all(data) {
        Err(error) if error.kind() == io::ErrorKind::InvalidData => {
            sink.write_all(String::from_utf8_lossy(data).as_bytes())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests;
