//! [`DatagramSocket`]: a UDP socket (`WSK_FLAG_DATAGRAM_SOCKET`).

use core::net::SocketAddr;
use core::ptr;
use core::time::Duration;

use wsk_bindings as sys;

use crate::cmsg::MAX_CONTROL;
use crate::socket::{BindOptions, Category, RawSocket, SocketCore, CHUNK};
use crate::{Error, NtStatus, Result, SockAddr, WskClient};

/// Where a datagram request keeps its control objects (after the data) and, after them,
/// `ControlLength` and `ControlFlags`.
const LENGTHS: usize = CHUNK + MAX_CONTROL;
/// The request buffer: data, control objects, the two lengths.
const BUFFER: usize = LENGTHS + 8;
const _: () = assert!(CHUNK % 16 == 0 && LENGTHS % 8 == 0);

/// What [`DatagramSocket::receive_from_with_control`] received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// Bytes of the datagram copied out.
    pub len: usize,
    /// The sender.
    pub from: Option<SocketAddr>,
    /// Bytes of control information copied out (`ControlLength` on completion).
    pub control_len: usize,
    /// `ControlFlags`: `MSG_TRUNC`, `MSG_CTRUNC`, `MSG_BCAST`, `MSG_MCAST` (0 without control).
    pub flags: u32,
}

/// A bound UDP socket (`WSK_FLAG_DATAGRAM_SOCKET`). To serve it without a thread, start a
/// [`crate::task::DatagramTask`] on it; for receive callbacks, bind a
/// [`crate::events::DatagramEventSocket`] instead. Dropping it closes it (PASSIVE_LEVEL).
///
/// ```
/// # use wskrs_fake_kernel as fake; // on the host: the fake kernel and WSK provider
/// # let _kernel = fake::Kernel::start();
/// # let timeout = core::time::Duration::from_secs(5);
/// # // SAFETY: the fake kernel's device object lives for the whole process.
/// # let client = unsafe { wsk::WskClient::register(fake::device(), timeout) }?;
/// use wsk::DatagramSocket;
///
/// let any = "127.0.0.1:0".parse().unwrap();
/// let (mut a, mut b) = (DatagramSocket::bind(&client, any, timeout)?, DatagramSocket::bind(&client, any, timeout)?);
/// let to = b.local_addr()?;
/// a.send_to(b"hello", to, timeout)?;
/// let mut datagram = [0u8; 1500];
/// let (len, from) = b.receive_from(&mut datagram, timeout)?;
/// assert_eq!((&datagram[..len], from), (&b"hello"[..], Some(a.local_addr()?)));
/// # drop((a, b));
/// # assert!(client.shutdown(timeout));
/// # Ok::<(), wsk::Error>(())
/// ```
pub struct DatagramSocket {
    pub(crate) core: SocketCore,
}

impl DatagramSocket {
    /// Creates a UDP socket bound to `local` (port 0: the provider picks one).
    /// IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// The status of `WskSocket` (`STATUS_NOT_IMPLEMENTED` from Wine's built-in netio) or
    /// `WskBind`.
    pub fn bind(client: &WskClient, local: SocketAddr, timeout: Duration) -> Result<Self> {
        Self::bind_with(client, local, BindOptions::default(), timeout)
    }

    /// Like [`DatagramSocket::bind`], with options applied before binding.
    ///
    /// # Errors
    /// As [`DatagramSocket::bind`], or the status of setting an option.
    pub fn bind_with(
        client: &WskClient,
        local: SocketAddr,
        options: BindOptions<'_>,
        timeout: Duration,
    ) -> Result<Self> {
        let core = SocketCore::bind(client, local, Category::Datagram, options, timeout)?;
        Ok(Self { core })
    }

    fn dispatch(&self) -> Result<&sys::WSK_PROVIDER_DATAGRAM_DISPATCH> {
        if !self.core.raw.is_open() {
            return Err(Error::new(NtStatus::INVALID_HANDLE));
        }
        // SAFETY: `raw` is an open datagram socket.
        Ok(unsafe {
            self.core
                .raw
                .dispatch::<sys::WSK_PROVIDER_DATAGRAM_DISPATCH>()
        })
    }

    /// Sends one datagram of at most 64 KiB to `remote` (`WskSendTo`); returns the
    /// bytes sent. IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// `STATUS_INVALID_BUFFER_SIZE` for a datagram over 64 KiB; the provider's status.
    pub fn send_to(&mut self, data: &[u8], remote: SocketAddr, timeout: Duration) -> Result<usize> {
        self.send_to_with_control(data, remote, &[], timeout)
    }

    /// Like [`DatagramSocket::send_to`], with control information (`WskSendTo`'s
    /// `ControlInfo`): `control` holds `WSACMSGHDR` objects, e.g. from
    /// [`crate::cmsg::ControlBuffer`] (`IP_PKTINFO` to choose the source address), at most
    /// [`crate::cmsg::MAX_CONTROL`] bytes; empty for none. IRQL: PASSIVE_LEVEL.
    ///
    /// See <https://learn.microsoft.com/windows-hardware/drivers/ddi/wsk/nc-wsk-pfn_wsk_send_to>.
    ///
    /// ```
    /// # use wskrs_fake_kernel as fake; // on the host, a fake kernel and WSK provider
    /// # let _kernel = fake::Kernel::start();
    /// # let device = fake::device(); // in a driver: its DEVICE_OBJECT
    /// # let timeout = core::time::Duration::from_secs(5);
    /// # // SAFETY: the device object outlives the client and its sockets.
    /// # let client = unsafe { wsk::WskClient::register(device, timeout) }?;
    /// # let localhost = "127.0.0.1:0".parse().unwrap();
    /// # let mut socket = wsk::DatagramSocket::bind(&client, localhost, timeout)?;
    /// # let mut receiver = wsk::DatagramSocket::bind(&client, localhost, timeout)?;
    /// # let peer = receiver.local_addr()?;
    /// use core::net::{IpAddr, Ipv4Addr};
    /// use wsk::cmsg::{ControlBuffer, PacketInfo};
    /// let mut control = ControlBuffer::new();
    /// control.push_packet_info(PacketInfo { addr: IpAddr::V4(Ipv4Addr::LOCALHOST), interface: 0 });
    /// let sent = socket.send_to_with_control(b"hello", peer, control.as_bytes(), timeout)?;
    /// assert_eq!(sent, 5);
    /// # let mut datagram = [0u8; 16];
    /// # let (n, _from) = receiver.receive_from(&mut datagram, timeout)?;
    /// # assert_eq!(&datagram[..n], b"hello");
    /// # drop((socket, receiver));
    /// # assert!(client.shutdown(timeout));
    /// # Ok::<(), wsk::Error>(())
    /// ```
    ///
    /// # Errors
    /// `STATUS_INVALID_BUFFER_SIZE` for a datagram over 64 KiB or control information over
    /// [`crate::cmsg::MAX_CONTROL`]; the provider's status.
    pub fn send_to_with_control(
        &mut self,
        data: &[u8],
        remote: SocketAddr,
        control: &[u8],
        timeout: Duration,
    ) -> Result<usize> {
        let (len, control_len) = (data.len(), control.len());
        if len > CHUNK || control_len > MAX_CONTROL {
            return Err(Error::new(NtStatus::INVALID_BUFFER_SIZE));
        }
        let Some(send_to_fn) = self.dispatch()?.WskSendTo else {
            return Err(Error::new(NtStatus::NOT_IMPLEMENTED));
        };
        let control_info_len =
            u32::try_from(control_len).map_err(|_| Error::new(NtStatus::INVALID_BUFFER_SIZE))?;
        let socket = self.core.raw.as_ptr();
        let (sent, _) = self
            .core
            .blocking
            .request(timeout)
            .buffer(BUFFER)
            .fill(|m| {
                if let Some(buffer) = m.buffer.as_mut() {
                    let bytes = buffer.as_mut_slice();
                    if let Some(dst) = bytes.get_mut(..len) {
                        dst.copy_from_slice(data);
                    }
                    if let Some(dst) = bytes.get_mut(CHUNK..CHUNK.saturating_add(control_len)) {
                        dst.copy_from_slice(control);
                    }
                }
                m.remote = SockAddr::from(remote);
            })
            .close_if_stuck(&mut self.core.raw)
            .start(|irp, m| {
                let Some(buffer) = m.buffer.as_mut() else {
                    return NtStatus::INSUFFICIENT_RESOURCES.0;
                };
                let Some(mut wsk_buf) = buffer.wsk_buf(0, len) else {
                    return NtStatus::INSUFFICIENT_RESOURCES.0;
                };
                // Pool memory is 16-byte aligned and CHUNK a multiple of 16: the control
                // objects start 8-aligned, as WSACMSGHDR needs.
                #[allow(clippy::cast_ptr_alignment)]
                let control_ptr = if control_len == 0 {
                    ptr::null_mut()
                } else {
                    buffer
                        .as_mut_slice()
                        .as_mut_ptr()
                        .wrapping_add(CHUNK)
                        .cast::<sys::CMSGHDR>()
                };
                // SAFETY: the socket is open; the data, the address and the control objects
                // (`control_len` bytes at CHUNK, 8-aligned in 16-aligned pool memory) live in
                // the request's memory until it completes.
                unsafe {
                    send_to_fn(
                        socket,
                        &raw mut wsk_buf,
                        0,
                        m.remote.as_mut_ptr(),
                        control_info_len,
                        control_ptr,
                        irp,
                    )
                }
            })?;
        Ok(sent.min(len))
    }

    /// Receives one datagram into `out` (`WskReceiveFrom`); returns its length (truncated to
    /// `out`, at most 64 KiB) and sender. IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// `STATUS_IO_TIMEOUT`, or the provider's status.
    pub fn receive_from(
        &mut self,
        out: &mut [u8],
        timeout: Duration,
    ) -> Result<(usize, Option<SocketAddr>)> {
        self.receive_from_with_control(out, &mut [], timeout)
            .map(|r| (r.len, r.from))
    }

    /// Like [`DatagramSocket::receive_from`], also returning the datagram's control
    /// information (`WskReceiveFrom`'s `ControlInfo`, e.g. `IP_PKTINFO` after
    /// [`DatagramSocket::set_packet_info`]) in `control` (at most
    /// [`crate::cmsg::MAX_CONTROL`] bytes are asked for; an empty `control` asks for none).
    /// Read it with [`crate::cmsg::ControlMessages`] over `control[..received.control_len]`.
    /// IRQL: PASSIVE_LEVEL.
    ///
    /// See <https://learn.microsoft.com/windows-hardware/drivers/ddi/wsk/nc-wsk-pfn_wsk_receive_from>.
    ///
    /// Not run as a doctest: the host's fake provider returns no control information.
    ///
    /// ```no_run
    /// # fn demo(socket: &mut wsk::DatagramSocket) -> wsk::Result<()> {
    /// socket.set_packet_info(true)?;
    /// let (mut data, mut control) = ([0u8; 1500], [0u8; wsk::cmsg::MAX_CONTROL]);
    /// let got = socket.receive_from_with_control(&mut data, &mut control, core::time::Duration::from_secs(5))?;
    /// let to = wsk::cmsg::ControlMessages::new(&control[..got.control_len]).packet_info();
    /// # let _ = to; Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `STATUS_IO_TIMEOUT`, or the provider's status.
    pub fn receive_from_with_control(
        &mut self,
        out: &mut [u8],
        control: &mut [u8],
        timeout: Duration,
    ) -> Result<Received> {
        let len = out.len().min(CHUNK);
        let room = control.len().min(MAX_CONTROL);
        let Some(receive_fn) = self.dispatch()?.WskReceiveFrom else {
            return Err(Error::new(NtStatus::NOT_IMPLEMENTED));
        };
        let socket = self.core.raw.as_ptr();
        let (received, memory) = self
            .core
            .blocking
            .request(timeout)
            .buffer(BUFFER)
            .fill(|m| {
                m.remote = SockAddr::empty();
                let room_bytes = u32::try_from(room).unwrap_or(0).to_ne_bytes();
                if let Some(bytes) = m.buffer.as_mut().map(crate::PoolBuffer::as_mut_slice) {
                    // The control area zeroed: what a provider leaves unwritten reads as a
                    // malformed (zero-length) object, which ends the iteration.
                    if let Some(area) = bytes.get_mut(CHUNK..LENGTHS) {
                        area.fill(0);
                    }
                    // ControlLength in: the room; ControlFlags: cleared.
                    if let Some(dst) = bytes.get_mut(LENGTHS..LENGTHS.saturating_add(8)) {
                        for (d, s) in dst.iter_mut().zip(room_bytes.into_iter().chain([0; 4])) {
                            *d = s;
                        }
                    }
                }
            })
            .close_if_stuck(&mut self.core.raw)
            .start(|irp, m| {
                let Some(buffer) = m.buffer.as_mut() else {
                    return NtStatus::INSUFFICIENT_RESOURCES.0;
                };
                let Some(mut wsk_buf) = buffer.wsk_buf(0, CHUNK) else {
                    return NtStatus::INSUFFICIENT_RESOURCES.0;
                };
                let base = buffer.as_mut_slice().as_mut_ptr();
                // Pool memory is 16-byte aligned and CHUNK, LENGTHS multiples of 8: every
                // pointer below is aligned for its type.
                #[allow(clippy::cast_ptr_alignment)]
                let (length_ptr, control_ptr, flags_ptr) = if room == 0 {
                    (ptr::null_mut(), ptr::null_mut(), ptr::null_mut())
                } else {
                    (
                        base.wrapping_add(LENGTHS).cast::<u32>(),
                        base.wrapping_add(CHUNK).cast::<sys::CMSGHDR>(),
                        base.wrapping_add(LENGTHS.saturating_add(4)).cast::<u32>(),
                    )
                };
                // SAFETY: the socket is open; the data area, the control area (`room` bytes
                // at CHUNK), ControlLength and ControlFlags (aligned u32s after it) and the
                // address storage live in the request's pool memory until it completes.
                unsafe {
                    receive_fn(
                        socket,
                        &raw mut wsk_buf,
                        0,
                        m.remote.as_mut_ptr(),
                        length_ptr,
                        control_ptr,
                        flags_ptr,
                        irp,
                    )
                }
            })?;
        let n = received.min(len);
        let bytes = memory
            .buffer
            .as_ref()
            .map(crate::PoolBuffer::as_slice)
            .unwrap_or_default();
        if let (Some(dst), Some(src)) = (out.get_mut(..n), bytes.get(..n)) {
            dst.copy_from_slice(src);
        }
        let word = |at: usize| {
            bytes
                .get(at..at.saturating_add(4))
                .and_then(|b| b.try_into().ok())
                .map_or(0, u32::from_ne_bytes)
        };
        // Never trust the provider's length beyond the room it was given.
        let control_len = if room == 0 {
            0
        } else {
            usize::try_from(word(LENGTHS)).unwrap_or(0).min(room)
        };
        let flags = if room == 0 {
            0
        } else {
            word(LENGTHS.saturating_add(4))
        };
        if let (Some(dst), Some(src)) = (
            control.get_mut(..control_len),
            bytes.get(CHUNK..CHUNK.saturating_add(control_len)),
        ) {
            dst.copy_from_slice(src);
        }
        Ok(Received {
            len: n,
            from: memory.remote.to_socket_addr(),
            control_len,
            flags,
        })
    }

    /// Turns the return of packet information on or off: `IP_PKTINFO` (IPv4 sockets) or
    /// `IPV6_PKTINFO` (IPv6), by the socket's local address. Afterwards
    /// [`DatagramSocket::receive_from_with_control`] returns a [`crate::cmsg::PacketInfo`]
    /// object with each datagram. IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// The provider's status (`STATUS_NOT_IMPLEMENTED` from Wine's built-in netio).
    pub fn set_packet_info(&mut self, on: bool) -> Result<()> {
        let (level, name) = match self.local_addr()? {
            SocketAddr::V4(_) => (sys::IPPROTO_IP, sys::IP_PKTINFO),
            SocketAddr::V6(_) => (sys::IPPROTO_IPV6, sys::IPV6_PKTINFO),
        };
        crate::options::set_bool(&mut self.core, level, name, on)
    }

    /// The local address (`WskGetLocalAddress`), e.g. the port chosen for port 0.
    /// IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// The provider's status.
    pub fn local_addr(&mut self) -> Result<SocketAddr> {
        let f = self.dispatch()?.WskGetLocalAddress;
        self.core.address(f)
    }

    /// Whether the socket is still open (a timed-out request that the provider could not
    /// cancel closes it). IRQL: any.
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.core.raw.is_open()
    }

    pub(crate) fn into_parts(self) -> (RawSocket, WskClient) {
        self.core.into_parts()
    }

    /// Closes the socket on a worker thread. IRQL <= DISPATCH_LEVEL (where dropping, which
    /// closes and waits, is not allowed).
    pub fn close_later(self) {
        let (raw, client) = self.core.into_parts();
        crate::socket::close_later(raw, client);
    }

    /// Closes the socket; pending requests complete as cancelled. IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// The status of `WskCloseSocket`; the socket is released either way.
    pub fn close(self) -> Result<()> {
        let (mut raw, _client) = self.core.into_parts();
        raw.close()
    }
}
