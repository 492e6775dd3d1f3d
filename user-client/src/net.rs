//! Kernel sockets shaped like `std::net`: [`KernelTcpStream`], [`KernelTcpListener`] and
//! [`KernelUdpSocket`] own one endpoint of the driver each (and the device handle that
//! created it) and close it when dropped.
//!
//! Every failure is an [`io::Error`] whose inner error is the crate's [`ClientError`]
//! (`error.get_ref()` then `downcast_ref::<ClientError>()` gives the NTSTATUS back); its
//! [`io::ErrorKind`] follows the status: `STATUS_CONNECTION_REFUSED` is
//! [`io::ErrorKind::ConnectionRefused`], `STATUS_IO_TIMEOUT` is [`io::ErrorKind::TimedOut`],
//! and so on (see [`ClientError::kind`]).
//!
//! Timeouts: each request to the driver carries a timeout in whole milliseconds (`None`:
//! the driver's default, 10 s). A read timeout of `None` (the default) waits for data
//! indefinitely, as `std` does:
//! the RECV is issued again each time the driver's default timeout passes. A write timeout of
//! `None` uses the driver's default for each SEND.
//!
//! # Examples
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use wskrs_client::KernelTcpStream;
//!
//! let mut stream = KernelTcpStream::connect("127.0.0.1:9000")?;
//! stream.write_all(b"hello")?;
//! let mut reply = [0; 5];
//! stream.read_exact(&mut reply)?;
//! stream.shutdown(std::net::Shutdown::Write)?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use wskrs_ntstatus::NtStatus;
use wskrs_protocol::{
    EndpointId, OpenedEndpoint, Service, UdpService, MAX_DATAGRAM, MAX_TRANSFER, USER_DEVICE_PATH,
};

use crate::options::wire_timeout;
use crate::{
    Canceller, ClientError, Device, DisconnectMode, Lifetime, ListedEndpoint, TcpConnectOptions,
    TcpListenOptions, UdpBindOptions,
};

/// A `std`-style timeout as the driver keeps it: rounded up to whole milliseconds (at most
/// `u32::MAX`); `None` stays `None`.
///
/// # Errors
///
/// [`io::ErrorKind::InvalidInput`] for a zero duration, as `std`'s `set_read_timeout`.
fn checked_timeout(timeout: Option<Duration>) -> io::Result<Option<Duration>> {
    if timeout.is_some_and(|timeout| timeout.is_zero()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot set a 0 duration timeout",
        ));
    }
    Ok(timeout.map(|_| Duration::from_millis(u64::from(wire_timeout(timeout)))))
}

/// The address the driver reported, or an error saying it did not.
fn reported(address: Option<SocketAddr>, what: &str) -> io::Result<SocketAddr> {
    address.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!("the driver did not report the {what} address"),
        )
    })
}

fn open_default() -> io::Result<Device> {
    Device::open(USER_DEVICE_PATH).map_err(io::Error::from)
}

/// Tries `attempt` on each address `addresses` resolves to; returns the first success or the
/// last error.
fn each_address<T>(
    addresses: impl ToSocketAddrs,
    mut attempt: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for address in addresses.to_socket_addrs()? {
        match attempt(address) {
            Ok(value) => return Ok(value),
            Err(error) => last = Some(error),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}

/// The NTSTATUS inside an error from this crate, if any.
fn status_of(error: &io::Error) -> Option<NtStatus> {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<ClientError>())
        .and_then(ClientError::status)
}

/// The endpoint's LIST entry (its counters), through `device`.
fn listed(device: &Device, id: EndpointId) -> io::Result<ListedEndpoint> {
    device
        .list()?
        .into_iter()
        .find(|entry| entry.status.id == id)
        .ok_or_else(|| {
            io::Error::from(ClientError::driver(
                format!("list endpoint {id}"),
                NtStatus::NOT_FOUND,
            ))
        })
}

/// A TCP connection made by the driver in the kernel, read and written like a
/// [`std::net::TcpStream`].
///
/// Reads are RECVs and writes SENDs of at most [`MAX_TRANSFER`] bytes each; the end of the
/// peer's stream reads as `Ok(0)`. The endpoint is closed (and so the connection) when the
/// stream is dropped.
#[derive(Debug)]
pub struct KernelTcpStream {
    device: Device,
    id: EndpointId,
    local: Option<SocketAddr>,
    peer: Option<SocketAddr>,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    /// The peer's end of stream was seen: later reads return 0 without asking the driver.
    eof: bool,
}

impl KernelTcpStream {
    /// Opens `\\.\WskRs` and connects to `address` (each address it resolves to, in turn,
    /// until one connects), waiting up to the driver's default connect timeout (10 s).
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::NotFound`] if the driver is not loaded; the connect's error, e.g.
    /// [`io::ErrorKind::ConnectionRefused`], [`io::ErrorKind::TimedOut`].
    pub fn connect(address: impl ToSocketAddrs) -> io::Result<Self> {
        each_address(address, |remote| {
            Self::connect_on(open_default()?, remote, None)
        })
    }

    /// Like [`KernelTcpStream::connect`] with one address and a connect timeout.
    ///
    /// # Errors
    ///
    /// As [`KernelTcpStream::connect`]; [`io::ErrorKind::InvalidInput`] for a zero timeout;
    /// [`io::ErrorKind::TimedOut`] when it passes.
    pub fn connect_timeout(address: &SocketAddr, timeout: Duration) -> io::Result<Self> {
        Self::connect_on(open_default()?, *address, Some(timeout))
    }

    /// Connects to `remote` through `device` (which the stream keeps; the host driver in tests).
    /// `timeout` `None` is the driver's default.
    ///
    /// # Errors
    ///
    /// As [`KernelTcpStream::connect_timeout`].
    pub fn connect_on(
        device: Device,
        remote: SocketAddr,
        timeout: Option<Duration>,
    ) -> io::Result<Self> {
        let options = TcpConnectOptions {
            timeout: checked_timeout(timeout)?,
            ..TcpConnectOptions::default()
        };
        let endpoint = device.tcp_connect(remote, &options)?;
        Ok(Self::from_endpoint(device, &endpoint))
    }

    fn from_endpoint(device: Device, endpoint: &OpenedEndpoint) -> Self {
        Self {
            device,
            id: endpoint.id,
            local: endpoint.local,
            peer: endpoint.remote,
            read_timeout: None,
            write_timeout: None,
            eof: false,
        }
    }

    /// The driver's id of this connection (what `wskctl list` shows).
    #[must_use]
    pub fn id(&self) -> EndpointId {
        self.id
    }

    /// The remote address, as the driver reported it when connecting.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::AddrNotAvailable`] if the driver did not report it.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        reported(self.peer, "peer")
    }

    /// The local address, as the driver reported it when connecting.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::AddrNotAvailable`] if the driver did not report it.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        reported(self.local, "local")
    }

    /// Sets how long one read waits for data (the timeout of each RECV); `None` waits
    /// indefinitely.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::InvalidInput`] for a zero duration.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.read_timeout = checked_timeout(timeout)?;
        Ok(())
    }

    /// Sets how long one write may take (the timeout of each SEND); `None` is the
    /// driver's default (10 s).
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::InvalidInput`] for a zero duration.
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.write_timeout = checked_timeout(timeout)?;
        Ok(())
    }

    /// The read timeout (`None`: wait indefinitely).
    #[must_use]
    pub fn read_timeout(&self) -> Option<Duration> {
        self.read_timeout
    }

    /// The write timeout (`None`: the driver's default).
    #[must_use]
    pub fn write_timeout(&self) -> Option<Duration> {
        self.write_timeout
    }

    /// Shuts the connection down: [`Shutdown::Write`] is a graceful DISCONNECT (the peer
    /// reads end of stream; reading goes on), [`Shutdown::Both`] an abortive one (a reset),
    /// [`Shutdown::Read`] is not supported by the driver.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::Unsupported`] for [`Shutdown::Read`]; the DISCONNECT's error
    /// (e.g. `STATUS_INVALID_DEVICE_STATE` after an earlier shutdown, or
    /// `STATUS_NOT_IMPLEMENTED` from a provider without `WskDisconnect`).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let mode = match how {
            Shutdown::Write => DisconnectMode::Graceful,
            Shutdown::Both => DisconnectMode::Abortive,
            Shutdown::Read => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "the driver cannot shut down only the receive direction",
                ))
            }
        };
        self.device
            .disconnect(self.id, mode, self.write_timeout)
            .map_err(io::Error::from)
    }

    /// This connection's LIST entry: state, bytes each way, operation and error counters.
    ///
    /// # Errors
    ///
    /// The LIST's error; [`io::ErrorKind::NotFound`] if the endpoint is gone.
    pub fn status(&self) -> io::Result<ListedEndpoint> {
        listed(&self.device, self.id)
    }

    /// What cancels this stream's outstanding read or write from another thread; the
    /// cancelled call fails with [`io::ErrorKind::Interrupted`] (see [`Canceller`]).
    #[must_use]
    pub fn canceller(&self) -> Canceller {
        self.device.canceller()
    }

    /// The device handle the stream uses (for socket options: `stream.device().set_nodelay(stream.id(), true)`).
    #[must_use]
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Hands the connection to an in-kernel service (SERVE): from then on the driver runs
    /// `service` ([`Service::Echo`], [`Service::Discard`] or [`Service::Source`]) on it, with
    /// no more data through this process. The stream is consumed; the returned
    /// [`ServedTcpConnection`] keeps the endpoint (same id) and the device handle, shows the
    /// service's counters, and ends the service's connection when dropped, as the stream
    /// would have.
    ///
    /// # Errors
    ///
    /// The SERVE's error, after which the connection is closed (the stream was consumed):
    /// [`io::ErrorKind::InvalidInput`] for [`Service::None`] (`STATUS_INVALID_PARAMETER`);
    /// `STATUS_INVALID_DEVICE_STATE` or `STATUS_NOT_FOUND` if the endpoint is no longer a
    /// user-driven connection.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::io::Write;
    /// use wskrs_client::KernelTcpStream;
    /// use wskrs_protocol::Service;
    ///
    /// let mut stream = KernelTcpStream::connect("127.0.0.1:9000")?;
    /// stream.write_all(b"ready\n")?;
    /// // From here on the kernel echoes whatever the peer sends.
    /// let served = stream.serve(Service::Echo)?;
    /// println!("endpoint {} echoed {} bytes", served.id(), served.status()?.status.bytes_sent);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn serve(self, service: Service) -> io::Result<ServedTcpConnection> {
        self.device.serve(self.id, service)?;
        Ok(ServedTcpConnection {
            stream: self,
            service,
        })
    }
}

/// A connection that [`KernelTcpStream::serve`] handed to an in-kernel service: the driver
/// moves its data; this handle keeps the endpoint open (and the device handle it belongs to)
/// and closes it, ending the service's connection, when dropped.
#[derive(Debug)]
pub struct ServedTcpConnection {
    /// Owns the endpoint: its `Drop` closes it.
    stream: KernelTcpStream,
    service: Service,
}

impl ServedTcpConnection {
    /// The driver's id of the connection (unchanged by SERVE).
    #[must_use]
    pub fn id(&self) -> EndpointId {
        self.stream.id
    }

    /// The service running on the connection.
    #[must_use]
    pub fn service(&self) -> Service {
        self.service
    }

    /// The remote address, as the driver reported it when connecting.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::AddrNotAvailable`] if the driver did not report it.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.stream.peer_addr()
    }

    /// The local address, as the driver reported it when connecting.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::AddrNotAvailable`] if the driver did not report it.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.local_addr()
    }

    /// The endpoint's LIST entry: its service, state and the bytes the service moved (with
    /// those moved before SERVE).
    ///
    /// # Errors
    ///
    /// The LIST's error; [`io::ErrorKind::NotFound`] if the endpoint is gone.
    pub fn status(&self) -> io::Result<ListedEndpoint> {
        self.stream.status()
    }
}

impl KernelTcpStream {
    /// Sends `request` and receives its reply into `reply` in one IOCTL
    /// ([`Device::transact`]): for request/response protocols, half the trips to the driver
    /// of a `write` and a `read`. Returns the reply's length (as much as the peer sent
    /// first, at most `reply.len()`), 0 at the end of the stream. Both are 1 to
    /// [`wskrs_protocol::MAX_TRANSACT`] bytes; the write timeout applies (the read timeout
    /// when it is not set).
    ///
    /// # Errors
    ///
    /// As [`Device::transact`], as an [`io::Error`].
    pub fn transact(&mut self, request: &[u8], reply: &mut [u8]) -> io::Result<usize> {
        if self.eof {
            return Ok(0);
        }
        let timeout = self.write_timeout.or(self.read_timeout);
        let received = self.device.transact(self.id, request, reply, timeout)?;
        if received == 0 {
            self.eof = true;
        }
        Ok(received)
    }
}

impl Read for KernelTcpStream {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        if buffer.is_empty() || self.eof {
            return Ok(0);
        }
        // Direct I/O: the driver writes into `buffer` itself (at most MAX_TRANSFER bytes).
        let received = loop {
            match self.device.recv_into(self.id, buffer, self.read_timeout) {
                // No timeout set: wait on, as a blocking std socket does.
                Err(error)
                    if self.read_timeout.is_none()
                        && error.status() == Some(NtStatus::IO_TIMEOUT) => {}
                other => break other?,
            }
        };
        if received == 0 {
            // The driver returns 0 bytes only at the end of the stream.
            self.eof = true;
        }
        Ok(received)
    }
}

impl Write for KernelTcpStream {
    /// Sends `data` (at most [`MAX_TRANSFER`] bytes of it) with pipelined SENDs
    /// ([`Device::send_pipelined`]): a large write is cut into [`crate::SEND_CHUNK`]-byte
    /// requests, several outstanding at once. Returns the bytes the driver confirmed; an error
    /// only when none were.
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let (chunk, _) = data.split_at(data.len().min(MAX_TRANSFER as usize));
        if chunk.is_empty() {
            return Ok(0);
        }
        match self
            .device
            .send_pipelined(self.id, chunk, self.write_timeout)
        {
            (0, Some(error)) => Err(error.into()),
            (sent, _) => Ok(usize::try_from(sent)
                .unwrap_or(chunk.len())
                .min(chunk.len())),
        }
    }

    /// SENDs complete in the kernel before they return: nothing is buffered here.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for KernelTcpStream {
    /// Closes the endpoint (the handle closing would too; this makes it happen now).
    fn drop(&mut self) {
        let _ = self.device.close(self.id);
    }
}

/// An in-kernel TCP listener that serves every accepted connection with one of the
/// driver's services (echo, discard, source), or, bound with [`Service::None`], queues them
/// for [`accept`](KernelTcpListener::accept); closed when dropped.
///
/// # Examples
///
/// ```no_run
/// use wskrs_client::KernelTcpListener;
/// use wskrs_protocol::Service;
///
/// let listener = KernelTcpListener::bind("127.0.0.1:9100".parse().unwrap(), Service::Echo)?;
/// println!("echo on {}", listener.local_addr()?);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// Taking the connections yourself, as with a [`std::net::TcpListener`]:
///
/// ```no_run
/// use std::io::{Read, Write};
/// use wskrs_client::KernelTcpListener;
/// use wskrs_protocol::Service;
///
/// let listener = KernelTcpListener::bind("127.0.0.1:9100".parse().unwrap(), Service::None)?;
/// let (mut stream, peer) = listener.accept()?;
/// let mut greeting = [0; 5];
/// stream.read_exact(&mut greeting)?;
/// stream.write_all(b"hello")?;
/// println!("{peer} said {greeting:?}");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct KernelTcpListener {
    /// Shared with the accepted streams: their endpoints belong to this handle.
    device: Arc<Device>,
    id: EndpointId,
    local: SocketAddr,
    service: Service,
}

impl KernelTcpListener {
    /// Opens `\\.\WskRs` and listens on `local` running `service`, with the driver's
    /// default backlog and connection limit (256).
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::AddrInUse`] if the address is taken; as [`KernelTcpStream::connect`].
    pub fn bind(local: SocketAddr, service: Service) -> io::Result<Self> {
        Self::bind_on(
            open_default()?,
            local,
            service,
            &TcpListenOptions::default(),
        )
    }

    /// Like [`KernelTcpListener::bind`], serving at most `max_connections` connections at
    /// once (1..=256).
    ///
    /// # Errors
    ///
    /// As [`KernelTcpListener::bind`]; [`io::ErrorKind::InvalidInput`] for a limit above 256.
    pub fn bind_with_limit(
        local: SocketAddr,
        service: Service,
        max_connections: u32,
    ) -> io::Result<Self> {
        let options = TcpListenOptions {
            max_connections: Some(max_connections),
            ..TcpListenOptions::default()
        };
        Self::bind_on(open_default()?, local, service, &options)
    }

    /// Listens through `device` (which the listener keeps) with every option; the lifetime
    /// is ignored (the listener closes when dropped).
    ///
    /// # Errors
    ///
    /// As [`KernelTcpListener::bind_with_limit`].
    pub fn bind_on(
        device: Device,
        local: SocketAddr,
        service: Service,
        options: &TcpListenOptions<'_>,
    ) -> io::Result<Self> {
        let options = TcpListenOptions {
            lifetime: Lifetime::Handle,
            ..*options
        };
        let endpoint = device.tcp_listen(local, service, &options)?;
        Ok(Self {
            id: endpoint.id,
            local: endpoint.local.unwrap_or(local),
            device: Arc::new(device),
            service,
        })
    }

    /// Takes the next connection (ACCEPT), waiting as long as it takes, as `std`'s
    /// `TcpListener::accept` does; returns it as a stream (closed when dropped) and the
    /// peer's address (`0.0.0.0:0` if the driver does not know it). Only for a listener
    /// bound with [`Service::None`]: the others serve their connections in the kernel.
    ///
    /// The stream shares the listener's device handle (the driver gives the connection to
    /// the handle that accepted it), so the listener's [`canceller`](Self::canceller) and
    /// the stream's cancel each other's requests too.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::InvalidInput`] for a listener with an in-kernel service (no request
    /// is sent); [`io::ErrorKind::Interrupted`] when cancelled or when the listener is closed
    /// meanwhile; the ACCEPT's error.
    pub fn accept(&self) -> io::Result<(KernelTcpStream, SocketAddr)> {
        loop {
            match self.accept_within(None) {
                // No timeout: wait on, as a blocking std listener does.
                Err(error) if status_of(&error) == Some(NtStatus::IO_TIMEOUT) => {}
                other => return other,
            }
        }
    }

    /// Like [`accept`](Self::accept), waiting at most `timeout` for a connection.
    ///
    /// # Errors
    ///
    /// As [`accept`](Self::accept); [`io::ErrorKind::TimedOut`] when `timeout` passes
    /// (`STATUS_IO_TIMEOUT`); [`io::ErrorKind::InvalidInput`] for a zero timeout.
    pub fn accept_timeout(&self, timeout: Duration) -> io::Result<(KernelTcpStream, SocketAddr)> {
        self.accept_within(checked_timeout(Some(timeout))?)
    }

    fn accept_within(
        &self,
        timeout: Option<Duration>,
    ) -> io::Result<(KernelTcpStream, SocketAddr)> {
        if self.service != Service::None {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "listener {} serves its connections with the {} service; bind with Service::None to accept them",
                    self.id,
                    self.service.name()
                ),
            ));
        }
        let endpoint = self.device.accept(self.id, Lifetime::Handle, timeout)?;
        let shared = Device::from_transport(Box::new(Arc::clone(&self.device)));
        let stream = KernelTcpStream::from_endpoint(shared, &endpoint);
        let peer = endpoint
            .remote
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        Ok((stream, peer))
    }

    /// What cancels this listener's waiting [`accept`](Self::accept) from another thread
    /// (`CancelIoEx` on the handle it shares with its accepted streams); the cancelled call
    /// fails with [`io::ErrorKind::Interrupted`] (see [`Canceller`]).
    #[must_use]
    pub fn canceller(&self) -> Canceller {
        self.device.canceller()
    }

    /// The listening address.
    ///
    /// # Errors
    ///
    /// None today; `io::Result` as `std`'s.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    /// The driver's id of this listener.
    #[must_use]
    pub fn id(&self) -> EndpointId {
        self.id
    }

    /// The listener's LIST entry: connections served and active, bytes each way.
    ///
    /// # Errors
    ///
    /// The LIST's error; [`io::ErrorKind::NotFound`] if the endpoint is gone.
    pub fn status(&self) -> io::Result<ListedEndpoint> {
        listed(&self.device, self.id)
    }
}

impl Drop for KernelTcpListener {
    fn drop(&mut self) {
        let _ = self.device.close(self.id);
    }
}

/// A UDP socket in the kernel, driven like a [`std::net::UdpSocket`] with
/// [`send_to`](KernelUdpSocket::send_to) and [`recv_from`](KernelUdpSocket::recv_from);
/// closed when dropped.
///
/// # Examples
///
/// ```no_run
/// use wskrs_client::KernelUdpSocket;
///
/// let socket = KernelUdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
/// socket.send_to(b"ping", "127.0.0.1:9000".parse().unwrap())?;
/// let mut buffer = [0; 1500];
/// let (len, from) = socket.recv_from(&mut buffer)?;
/// println!("{len} bytes from {from}");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct KernelUdpSocket {
    device: Device,
    id: EndpointId,
    local: SocketAddr,
    read_timeout: Option<Duration>,
}

impl KernelUdpSocket {
    /// Opens `\\.\WskRs` and binds a UDP socket to `local` (port 0: the stack chooses).
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::AddrInUse`] if the address is taken; as [`KernelTcpStream::connect`].
    pub fn bind(local: SocketAddr) -> io::Result<Self> {
        Self::bind_on(open_default()?, local)
    }

    /// Binds through `device` (which the socket keeps).
    ///
    /// # Errors
    ///
    /// As [`KernelUdpSocket::bind`].
    pub fn bind_on(device: Device, local: SocketAddr) -> io::Result<Self> {
        let endpoint = device.udp_bind(local, UdpService::None, &UdpBindOptions::default())?;
        Ok(Self {
            id: endpoint.id,
            local: endpoint.local.unwrap_or(local),
            device,
            read_timeout: None,
        })
    }

    /// The bound address as requested (the driver reports a requested port 0 as 0).
    ///
    /// # Errors
    ///
    /// None today; `io::Result` as `std`'s.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    /// The driver's id of this socket.
    #[must_use]
    pub fn id(&self) -> EndpointId {
        self.id
    }

    /// Sends `data` as one datagram (1 to [`MAX_DATAGRAM`] bytes) to `remote`.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::InvalidInput`] for a datagram that is empty (ABI v3 cannot send
    /// zero-length datagrams) or too long (not sent); the SEND_TO's error.
    pub fn send_to(&self, data: &[u8], remote: SocketAddr) -> io::Result<usize> {
        let sent = self.device.send_to(self.id, remote, data, None)?;
        Ok(sent as usize)
    }

    /// Receives one datagram into `buffer` (a longer one is truncated, the rest lost);
    /// returns its length and sender (`0.0.0.0:0` if the driver does not know it).
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::TimedOut`] when a read timeout is set and passes; the RECV_FROM's
    /// error.
    pub fn recv_from(&self, buffer: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        // An empty buffer still takes (and truncates) one datagram, as std's does.
        let want = u32::try_from(buffer.len())
            .unwrap_or(MAX_DATAGRAM)
            .clamp(1, MAX_DATAGRAM);
        let datagram = loop {
            match self.device.recv_from(self.id, want, self.read_timeout) {
                Err(error)
                    if self.read_timeout.is_none()
                        && error.status() == Some(NtStatus::IO_TIMEOUT) => {}
                other => break other?,
            }
        };
        let len = datagram.data.len().min(buffer.len());
        let (target, _) = buffer.split_at_mut(len);
        target.copy_from_slice(datagram.data.get(..len).unwrap_or_default());
        let from = datagram
            .from
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        Ok((len, from))
    }

    /// What cancels this socket's outstanding `send_to` or `recv_from` from another thread;
    /// the cancelled call fails with [`io::ErrorKind::Interrupted`] (see [`Canceller`]).
    #[must_use]
    pub fn canceller(&self) -> Canceller {
        self.device.canceller()
    }

    /// Sets how long [`recv_from`](KernelUdpSocket::recv_from) waits; `None` waits
    /// indefinitely.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::InvalidInput`] for a zero duration.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.read_timeout = checked_timeout(timeout)?;
        Ok(())
    }

    /// The read timeout (`None`: wait indefinitely).
    #[must_use]
    pub fn read_timeout(&self) -> Option<Duration> {
        self.read_timeout
    }
}

impl Drop for KernelUdpSocket {
    fn drop(&mut self) {
        let _ = self.device.close(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::{KernelTcpListener, KernelTcpStream, KernelUdpSocket};
    use crate::host_driver::{HostDriver, ECHO_PORT, RECORDING_PORT, REFUSING_PORT};
    use crate::{ClientError, Device, Lifetime, TcpConnectOptions, TcpListenOptions};
    use std::io::{self, Read, Write};
    use std::net::{Shutdown, SocketAddr};
    use std::time::Duration;
    use wskrs_ntstatus::NtStatus;
    use wskrs_protocol::{EndpointState, IoctlCode, Service, MAX_TRANSFER};

    fn device(driver: &HostDriver) -> Device {
        Device::from_transport(Box::new(driver.handle()))
    }

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    fn echo() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], ECHO_PORT))
    }

    fn recording() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], RECORDING_PORT))
    }

    fn status_of(error: &io::Error) -> Option<NtStatus> {
        error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<ClientError>())
            .and_then(ClientError::status)
    }

    #[test]
    fn a_stream_handed_to_a_service_keeps_its_endpoint_until_dropped() {
        let driver = HostDriver::default();
        let mut stream = KernelTcpStream::connect_on(device(&driver), recording(), None).unwrap();
        stream.write_all(b"ping").unwrap();
        let id = stream.id();
        assert_eq!(driver.peer_received(id.0, 4), b"ping");
        let served = stream.serve(Service::Echo).unwrap();
        assert_eq!((served.id(), served.service()), (id, Service::Echo));
        assert_eq!(served.peer_addr().unwrap(), recording());
        let local = served.local_addr().unwrap();
        assert_eq!(
            (local.ip(), local == served.peer_addr().unwrap()),
            (echo().ip(), false)
        );
        driver.peer_sends(id.0, b"pong");
        assert_eq!(driver.peer_received(id.0, 8), b"pingpong");
        let status = served.status().unwrap().status;
        assert_eq!(status.service, Service::Echo);
        assert_eq!((status.bytes_sent, status.bytes_received), (4 + 4, 4));
        assert_eq!(
            (status.connections_served, status.connections_active),
            (1, 1)
        );
        drop(served);
        assert!(
            driver.endpoint_ids().is_empty(),
            "dropping it closed the endpoint"
        );
        assert_eq!(driver.requests().last(), Some(&IoctlCode::CLOSE.0));
    }

    #[test]
    fn a_refused_serve_is_an_io_error_and_closes_the_stream() {
        let driver = HostDriver::default();
        let stream = KernelTcpStream::connect_on(device(&driver), echo(), None).unwrap();
        let error = stream.serve(Service::None).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(status_of(&error), Some(NtStatus::INVALID_PARAMETER));
        assert!(
            driver.endpoint_ids().is_empty(),
            "the consumed stream closed"
        );
        let stream = KernelTcpStream::connect_on(device(&driver), echo(), None).unwrap();
        driver.fail_next(IoctlCode::SERVE, NtStatus::INSUFFICIENT_RESOURCES);
        let error = stream.serve(Service::Discard).unwrap_err();
        assert_eq!(status_of(&error), Some(NtStatus::INSUFFICIENT_RESOURCES));
        assert!(driver.endpoint_ids().is_empty());
    }

    #[test]
    fn large_writes_and_reads_cross_in_several_requests() {
        let driver = HostDriver::default();
        // A peer that reads everything: an echo peer and this client, both writing before
        // reading, would fill each other's windows as real TCP peers do.
        let mut stream = KernelTcpStream::connect_on(device(&driver), recording(), None).unwrap();
        assert_eq!(stream.peer_addr().unwrap(), recording());
        let local = stream.local_addr().unwrap();
        assert_eq!(
            (local.ip(), local == recording()),
            (recording().ip(), false)
        );
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        // More than one SEND's worth: write_all needs two writes, and each is cut into
        // pipelined SENDs of SEND_CHUNK bytes.
        let data: Vec<u8> = (0..MAX_TRANSFER as usize + 1000)
            .map(|i| u8::try_from(i % 253).unwrap())
            .collect();
        stream.write_all(&data).unwrap();
        stream.flush().unwrap();
        let sends = driver
            .requests()
            .iter()
            .filter(|&&code| code == IoctlCode::SEND.0)
            .count();
        assert_eq!(sends, data.len().div_ceil(crate::SEND_CHUNK));
        assert!(
            driver.peer_received(stream.id().0, data.len()) == data,
            "the peer received something else"
        );
        driver.peer_sends(stream.id().0, &data);
        let mut back = vec![0; data.len()];
        stream.read_exact(&mut back).unwrap();
        assert!(back == data, "the answer differs");
        // Nothing more: the read times out with TimedOut and the driver's status inside.
        let error = stream.read(&mut [0; 8]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(status_of(&error), Some(NtStatus::IO_TIMEOUT));
        assert!(error.to_string().contains("STATUS_IO_TIMEOUT"), "{error}");
    }

    #[test]
    fn small_buffers_read_in_pieces_and_timeouts_map_to_milliseconds() {
        let driver = HostDriver::default();
        let mut stream = KernelTcpStream::connect_on(
            device(&driver),
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, ECHO_PORT)),
            None,
        )
        .unwrap();
        assert_eq!(stream.read_timeout(), None);
        stream
            .set_read_timeout(Some(Duration::from_micros(1500)))
            .unwrap();
        assert_eq!(stream.read_timeout(), Some(Duration::from_millis(2)));
        stream
            .set_write_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        assert_eq!(stream.write_timeout(), Some(Duration::from_secs(3)));
        let zero = stream.set_read_timeout(Some(Duration::ZERO)).unwrap_err();
        assert_eq!(zero.kind(), io::ErrorKind::InvalidInput);
        stream.set_read_timeout(None).unwrap();
        assert_eq!(stream.write(b"abcdef").unwrap(), 6);
        // The echo may come back in pieces: read until all six arrived, four at most a time.
        let mut back = Vec::new();
        let mut piece = [0; 4];
        while back.len() < 6 {
            let n = stream.read(&mut piece).unwrap();
            assert!(n > 0 && n <= 4, "{n}");
            back.extend_from_slice(&piece[..n]);
        }
        assert_eq!(back, b"abcdef");
        assert_eq!(stream.read(&mut []).unwrap(), 0);
    }

    #[test]
    fn cancelled_reads_are_interrupted_and_carry_status_cancelled() {
        let driver = HostDriver::default();
        let mut stream = KernelTcpStream::connect_on(device(&driver), echo(), None).unwrap();
        let canceller = stream.canceller();
        driver.while_waiting(move || {
            canceller.cancel();
        });
        let mut buffer = [0; 8];
        let error = stream.read(&mut buffer).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::Interrupted);
        assert_eq!(status_of(&error), Some(NtStatus::CANCELLED));
        // An interrupt also stops read_exact, which retries Interrupted errors.
        let interrupter = stream.canceller();
        driver.while_waiting(move || {
            interrupter.interrupt();
        });
        let error = stream.read_exact(&mut buffer).unwrap_err();
        assert_eq!(status_of(&error), Some(NtStatus::CANCELLED));
        stream.canceller().clear_interrupt();
        driver.while_waiting(|| {});
        stream.write_all(b"12345678").unwrap();
        stream.read_exact(&mut buffer).unwrap();
        assert_eq!(&buffer, b"12345678");

        let socket = KernelUdpSocket::bind_on(device(&driver), addr("127.0.0.1:9300")).unwrap();
        let canceller = socket.canceller();
        driver.while_waiting(move || {
            canceller.cancel();
        });
        let error = socket.recv_from(&mut buffer).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::Interrupted);
    }

    #[test]
    fn end_of_stream_reads_zero_and_stays_zero() {
        let driver = HostDriver::default();
        let mut stream = KernelTcpStream::connect_on(device(&driver), recording(), None).unwrap();
        driver.peer_sends(stream.id().0, b"last words");
        driver.peer_closes(stream.id().0);
        let mut all = Vec::new();
        stream.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"last words");
        let recvs = driver.requests().len();
        assert_eq!(stream.read(&mut [0; 4]).unwrap(), 0);
        assert_eq!(driver.requests().len(), recvs, "EOF is remembered");
    }

    #[test]
    fn shutdown_write_is_a_graceful_disconnect() {
        let driver = HostDriver::default();
        let mut stream = KernelTcpStream::connect_on(device(&driver), echo(), None).unwrap();
        stream.write_all(b"bye").unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        // The echo peer answers what it had, then closes: read to the end.
        let mut all = Vec::new();
        stream.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"bye");
        let requests = driver.requests();
        let after_disconnect: Vec<u32> = requests
            .iter()
            .skip_while(|&&code| code != IoctlCode::DISCONNECT.0)
            .skip(1)
            .copied()
            .collect();
        assert!(
            !after_disconnect.is_empty()
                && after_disconnect
                    .iter()
                    .all(|&code| code == IoctlCode::RECV.0),
            "shutdown(Write) sent DISCONNECT, then read_to_end RECVs: {requests:x?}"
        );
        let read_only = stream.shutdown(Shutdown::Read).unwrap_err();
        assert_eq!(read_only.kind(), io::ErrorKind::Unsupported);
        let status = stream.status().unwrap();
        assert_eq!(status.status.bytes_sent, 3);
    }

    #[test]
    fn shutdown_both_resets() {
        let driver = HostDriver::default();
        let stream = KernelTcpStream::connect_on(device(&driver), echo(), None).unwrap();
        stream.shutdown(Shutdown::Both).unwrap();
        assert_eq!(driver.requests().last(), Some(&IoctlCode::DISCONNECT.0));
        // This connection is over; the echo peer serves the next one.
        let status = stream.status().unwrap().status;
        assert_eq!(status.state, EndpointState::Disconnected);
        let mut other = KernelTcpStream::connect_on(device(&driver), echo(), None).unwrap();
        other.write_all(b"again").unwrap();
        let mut back = [0; 5];
        other.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"again");
    }

    #[test]
    fn errors_carry_their_kind_and_status() {
        let driver = HostDriver::default();
        let refused = KernelTcpStream::connect_on(
            device(&driver),
            SocketAddr::from(([127, 0, 0, 1], REFUSING_PORT)),
            None,
        )
        .unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        assert_eq!(status_of(&refused), Some(NtStatus::CONNECTION_REFUSED));

        driver.fail_next(IoctlCode::TCP_CONNECT, NtStatus::IO_TIMEOUT);
        let timed_out =
            KernelTcpStream::connect_on(device(&driver), echo(), Some(Duration::from_millis(100)))
                .unwrap_err();
        assert_eq!(timed_out.kind(), io::ErrorKind::TimedOut);

        let mut stream = KernelTcpStream::connect_on(device(&driver), echo(), None).unwrap();
        driver.fail_next(IoctlCode::RECV, NtStatus::CONNECTION_RESET);
        let reset = stream.read(&mut [0; 4]).unwrap_err();
        assert_eq!(reset.kind(), io::ErrorKind::ConnectionReset);
        driver.fail_next(IoctlCode::SEND, NtStatus::CONNECTION_ABORTED);
        let aborted = stream.write(b"x").unwrap_err();
        assert_eq!(aborted.kind(), io::ErrorKind::ConnectionAborted);

        let _listener = KernelTcpListener::bind_on(
            device(&driver),
            addr("127.0.0.1:9100"),
            Service::Echo,
            &TcpListenOptions::default(),
        )
        .unwrap();
        let taken = KernelTcpListener::bind_on(
            device(&driver),
            addr("127.0.0.1:9100"),
            Service::Discard,
            &TcpListenOptions::default(),
        )
        .unwrap_err();
        assert_eq!(taken.kind(), io::ErrorKind::AddrInUse);
        assert_eq!(status_of(&taken), Some(NtStatus::ADDRESS_ALREADY_EXISTS));

        for (status, kind) in [
            (NtStatus::INVALID_PARAMETER, io::ErrorKind::InvalidInput),
            (NtStatus::PIPE_DISCONNECTED, io::ErrorKind::BrokenPipe),
            (NtStatus::ACCESS_DENIED, io::ErrorKind::PermissionDenied),
            (NtStatus::NOT_FOUND, io::ErrorKind::NotFound),
            (NtStatus::INSUFFICIENT_RESOURCES, io::ErrorKind::OutOfMemory),
            (NtStatus::NOT_IMPLEMENTED, io::ErrorKind::Unsupported),
            (NtStatus::INVALID_ADDRESS, io::ErrorKind::AddrNotAvailable),
            (NtStatus::from_u32(0xE000_0001), io::ErrorKind::Other),
        ] {
            driver.fail_next(IoctlCode::SEND, status);
            let error = stream.write(b"x").unwrap_err();
            assert_eq!((status, error.kind()), (status, kind));
        }
    }

    #[test]
    fn dropping_closes_the_endpoints_and_keeps_the_handle_until_then() {
        let driver = HostDriver::default();
        let stream = KernelTcpStream::connect_on(device(&driver), echo(), None).unwrap();
        let listener = KernelTcpListener::bind_on(
            device(&driver),
            addr("127.0.0.1:9100"),
            Service::Echo,
            &TcpListenOptions {
                lifetime: Lifetime::Detached,
                ..TcpListenOptions::default()
            },
        )
        .unwrap();
        let socket = KernelUdpSocket::bind_on(device(&driver), addr("127.0.0.1:9200")).unwrap();
        assert_eq!(driver.endpoint_ids(), [1, 2, 3]);
        drop(stream);
        assert_eq!(driver.endpoint_ids(), [2, 3]);
        drop(listener);
        assert_eq!(
            driver.endpoint_ids(),
            [3],
            "the listener closes even if asked to detach"
        );
        drop(socket);
        assert!(driver.endpoint_ids().is_empty());
        let closes = driver
            .requests()
            .iter()
            .filter(|&&code| code == IoctlCode::CLOSE.0)
            .count();
        assert_eq!(closes, 3);
    }

    #[test]
    fn listener_serves_with_its_limit() {
        let driver = HostDriver::default();
        let listener = KernelTcpListener::bind_on(
            device(&driver),
            addr("127.0.0.1:9100"),
            Service::Echo,
            &TcpListenOptions {
                max_connections: Some(1),
                ..TcpListenOptions::default()
            },
        )
        .unwrap();
        assert_eq!(listener.local_addr().unwrap(), addr("127.0.0.1:9100"));
        let id = listener.id().0;
        assert_eq!(
            driver.client_session(id, b"hi", 2, true),
            Some(b"hi".to_vec())
        );
        assert_eq!(
            driver.client_session(id, b"no", 2, false),
            None,
            "the second client is turned away while the first stays"
        );
        let status = listener.status().unwrap();
        assert_eq!(status.status.connections_served, 1);
        assert_eq!(status.status.bytes_received, 2);
    }

    fn accept_listener(driver: &HostDriver, max_connections: u32) -> KernelTcpListener {
        KernelTcpListener::bind_on(
            device(driver),
            addr("127.0.0.1:9103"),
            Service::None,
            &TcpListenOptions {
                max_connections: Some(max_connections),
                ..TcpListenOptions::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn accept_hands_over_queued_connections_in_order_as_streams() {
        let driver = HostDriver::default();
        let listener = accept_listener(&driver, 2);
        let id = listener.id().0;
        for data in [&b"first"[..], b"second"] {
            assert_eq!(driver.client_session(id, data, 0, true), Some(Vec::new()));
        }
        // Turned away: its send fails or its connection closes later, as the race goes.
        let _third = driver.client_session(id, b"third", 0, true);
        let (mut first, first_peer) = listener.accept().unwrap();
        assert_eq!(first_peer.ip(), addr("127.0.0.1:0").ip());
        assert_eq!(first.peer_addr().unwrap(), first_peer);
        assert_eq!(first.local_addr().unwrap(), addr("127.0.0.1:9103"));
        let mut got = [0; 5];
        first.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"first");
        let (mut second, second_peer) =
            listener.accept_timeout(Duration::from_millis(100)).unwrap();
        assert_ne!(second_peer, first_peer);
        assert_ne!(first.id(), second.id());
        let mut got = [0; 6];
        second.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"second");
        // The queue held max_connections: the third client was turned away, so the timed
        // accept fails with TimedOut.
        let error = listener
            .accept_timeout(Duration::from_millis(20))
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(status_of(&error), Some(NtStatus::IO_TIMEOUT));
        let zero = listener.accept_timeout(Duration::ZERO).unwrap_err();
        assert_eq!(zero.kind(), io::ErrorKind::InvalidInput);
        // The streams share the listener's handle and outlive it.
        let (listener_id, first_id) = (listener.id().0, first.id().0);
        drop(listener);
        assert!(!driver.endpoint_ids().contains(&listener_id));
        second.write_all(b"still here").unwrap();
        let mut back = [0; 10];
        second.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"still here");
        drop(second);
        assert_eq!(driver.endpoint_ids(), [first_id]);
        drop(first);
        assert!(driver.endpoint_ids().is_empty());
    }

    #[test]
    fn accept_needs_a_listener_without_a_service() {
        let driver = HostDriver::default();
        let echo_listener = KernelTcpListener::bind_on(
            device(&driver),
            addr("127.0.0.1:9100"),
            Service::Echo,
            &TcpListenOptions::default(),
        )
        .unwrap();
        let before = driver.requests().len();
        let error = echo_listener.accept().unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        assert!(error.to_string().contains("echo service"), "{error}");
        assert_eq!(driver.requests().len(), before, "no ACCEPT was sent");
        // The driver refuses it too, and ACCEPT on a connection.
        let raw = device(&driver);
        let raw_listener = raw
            .tcp_listen(
                addr("127.0.0.1:9101"),
                Service::Echo,
                &TcpListenOptions::default(),
            )
            .unwrap();
        let stream = raw
            .tcp_connect(echo(), &TcpConnectOptions::default())
            .unwrap();
        let refused = raw
            .accept(raw_listener.id, Lifetime::Handle, None)
            .unwrap_err();
        assert_eq!(refused.status(), Some(NtStatus::INVALID_DEVICE_STATE));
        let refused = raw.accept(stream.id, Lifetime::Handle, None).unwrap_err();
        assert_eq!(refused.status(), Some(NtStatus::INVALID_DEVICE_STATE));
    }

    #[test]
    fn a_cancelled_accept_is_interrupted_and_the_listener_goes_on() {
        let driver = HostDriver::default();
        let listener = accept_listener(&driver, 0);
        let canceller = listener.canceller();
        driver.while_waiting(move || {
            assert!(canceller.cancel(), "the ACCEPT is outstanding");
        });
        let error = listener.accept().unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::Interrupted);
        assert_eq!(status_of(&error), Some(NtStatus::CANCELLED));
        driver.while_waiting(|| {});
        driver
            .client_session(listener.id().0, b"late", 0, true)
            .unwrap();
        let (mut stream, _) = listener.accept().unwrap();
        let mut got = [0; 4];
        stream.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"late");
    }

    #[test]
    fn udp_send_to_and_recv_from() {
        let driver = HostDriver::default();
        let mut a = KernelUdpSocket::bind_on(device(&driver), addr("127.0.0.1:9200")).unwrap();
        let b = KernelUdpSocket::bind_on(device(&driver), addr("127.0.0.1:9201")).unwrap();
        assert_eq!(a.local_addr().unwrap(), addr("127.0.0.1:9200"));
        assert_eq!(b.send_to(b"ping", addr("127.0.0.1:9200")).unwrap(), 4);
        let mut buffer = [0; 2];
        a.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        // Truncated to the buffer.
        assert_eq!(
            a.recv_from(&mut buffer).unwrap(),
            (2, addr("127.0.0.1:9201"))
        );
        assert_eq!(&buffer, b"pi");
        let error = a.recv_from(&mut buffer).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        let too_long = b
            .send_to(&vec![0; 70_000], addr("127.0.0.1:9200"))
            .unwrap_err();
        assert_eq!(too_long.kind(), io::ErrorKind::InvalidInput);
    }
}
