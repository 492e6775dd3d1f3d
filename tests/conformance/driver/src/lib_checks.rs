//! The "lib" group: the `wsk` crate's safe types run in the kernel against the provider in
//! place and real Linux peers (the other groups use raw WSK calls to watch the provider).
//!
//! Linux clients of the driver's own sockets come from the peers' client helper: the check
//! sends it one command line (`tcp <port> <hex>` / `udp <port> <hex>`) over a `wsk`
//! connection, serves the helper's connection or datagram on the socket under test, then
//! reads the helper's answer (`ok <hex of what came back>`).
//!
//! Verdicts as elsewhere: PASS as documented; UNSUPPORTED when the provider said it lacks
//! what the check needs (`STATUS_NOT_IMPLEMENTED`, `STATUS_NOT_SUPPORTED`); FAIL otherwise.

use core::fmt::Write as _;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::time::Duration;

use wsk::cmsg::{ControlBuffer, ControlMessages, PacketInfo, MAX_CONTROL};
use wsk::events::{
    ConnectionEventSocket, ConnectionEvents, DatagramEventSocket, DatagramEvents, Indication,
    ListenEventSocket, ListenEvents, RetainedData, Verdict,
};
use wsk::{
    AcceptedConnection, BasicSocket, BindOptions, BufferChain, ConnectionSocket, DatagramSocket,
    Error, NtStatus, SocketOptions, SpinLock, StreamSocket, Transport, WskClient,
};
use wsk_bindings as sys;
use wskrs_conformance_abi::{Outcome, PeerAddr, RunRequest};

use crate::report::{detail, Detail, Report, St};

/// Bound of every blocking `wsk` call here.
pub(crate) const WAIT: Duration = Duration::from_secs(5);
/// How long an event may take to arrive.
const EVENT_WAIT: Duration = Duration::from_secs(3);
/// Largest payload a check moves.
const MAX: usize = 64;

/// Runs the group; returns the client so that the caller can shut it down last.
/// IRQL: PASSIVE_LEVEL.
pub(crate) fn run(device: *mut sys::DEVICE_OBJECT, req: &RunRequest, report: &mut Report<'_>) {
    let name = "lib.client_register";
    let Some(device) = NonNull::new(device.cast::<core::ffi::c_void>()) else {
        return report.push(
            name,
            Outcome::Fail,
            NtStatus::UNSUCCESSFUL,
            &detail!("no device object"),
        );
    };
    // SAFETY: `device` is this driver's device object, deleted only in unload, after the run
    // (and this client) ended.
    let registered = unsafe { WskClient::register(device, Duration::from_secs(3)) };
    let client = match registered {
        Ok(client) => {
            let [major, minor] = client.provider_version().to_be_bytes();
            report.push(
                name,
                Outcome::Pass,
                NtStatus::SUCCESS,
                &detail!("WskClient::register; dispatch {major}.{minor}"),
            );
            client
        }
        Err(e) => {
            return report.push(
                name,
                outcome_of(e),
                e.status(),
                &detail!("WskClient::register: {}", St(e.status())),
            )
        }
    };
    let mut cx = LibCx {
        client: &client,
        req,
        report,
    };
    provider_characteristics(&mut cx);
    connection_echo(&mut cx, 0);
    connection_echo(&mut cx, 1);
    event_listener(&mut cx);
    event_datagram(&mut cx, false);
    event_datagram(&mut cx, true);
    event_connection_retain(&mut cx);
    name_of(&mut cx);
    basic_socket(&mut cx);
    stream_listen_accept(&mut cx);
    stream_connect(&mut cx);
    connect_with_data(&mut cx);
    disconnect_with_final_data(&mut cx);
    packet_info(&mut cx, 0);
    packet_info(&mut cx, 1);
    buffer_chain(&mut cx);
    crate::secure_checks::run(&mut cx);

    let name = "lib.client_shutdown";
    let done = client.shutdown(WAIT);
    let outcome = if done { Outcome::Pass } else { Outcome::Fail };
    let text = if done {
        detail!("every wsk socket closed; registration released")
    } else {
        detail!("a socket still holds the client after 5 s")
    };
    report.push(name, outcome, NtStatus::SUCCESS, &text);
}

pub(crate) struct LibCx<'a, 'r> {
    pub(crate) client: &'a WskClient,
    req: &'a RunRequest,
    report: &'a mut Report<'r>,
}

impl LibCx<'_, '_> {
    pub(crate) fn push(&mut self, name: &str, outcome: Outcome, status: NtStatus, text: &Detail) {
        self.report.push(name, outcome, status, text);
    }

    /// A failed step: UNSUPPORTED if the provider lacks it, FAIL otherwise.
    pub(crate) fn failed(&mut self, name: &str, step: &str, e: Error) {
        self.push(
            name,
            outcome_of(e),
            e.status(),
            &detail!("{step}: {}", St(e.status())),
        );
    }
}

fn outcome_of(e: Error) -> Outcome {
    match e.status() {
        NtStatus::NOT_IMPLEMENTED | NtStatus::NOT_SUPPORTED => Outcome::Unsupported,
        _ => Outcome::Fail,
    }
}

fn addr_of(p: &PeerAddr) -> SocketAddr {
    if p.family == wskrs_conformance_abi::FAMILY_V4 {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::from(p.v4_octets())), p.port)
    } else {
        SocketAddr::new(IpAddr::V6(Ipv6Addr::from(p.addr)), p.port)
    }
}

pub(crate) const LOOPBACK4: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// Polls `ready` every 10 ms for at most `limit` (counted in sleeps: Wine's interrupt time
/// runs in milliseconds, not 100-ns units). IRQL: PASSIVE_LEVEL.
fn wait_until(limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
    const STEP: Duration = Duration::from_millis(10);
    let mut waited = Duration::ZERO;
    loop {
        if ready() {
            return true;
        }
        if waited >= limit {
            return false;
        }
        wsk::sleep(STEP);
        waited = waited.saturating_add(STEP);
    }
}

/// Receives exactly `out.len()` bytes (or until end of stream / error); returns the count.
fn receive_exact(socket: &mut ConnectionSocket, out: &mut [u8]) -> Result<usize, Error> {
    let mut got = 0;
    while got < out.len() {
        let Some(rest) = out.get_mut(got..) else {
            break;
        };
        let n = socket.receive(rest, WAIT)?;
        if n == 0 {
            break;
        }
        got = got.saturating_add(n);
    }
    Ok(got)
}

/// A fixed buffer of up to `MAX` bytes.
#[derive(Clone, Copy)]
struct Bytes {
    buf: [u8; MAX],
    len: usize,
}

impl Bytes {
    const fn new() -> Self {
        Self {
            buf: [0; MAX],
            len: 0,
        }
    }

    fn push(&mut self, data: &[u8]) {
        for b in data {
            let Some(slot) = self.buf.get_mut(self.len) else {
                return;
            };
            *slot = *b;
            self.len = self.len.saturating_add(1);
        }
    }

    fn as_slice(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

/// One command line to the client helper, as ASCII.
struct Line {
    buf: [u8; 256],
    len: usize,
}

impl core::fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(core::fmt::Error)?;
        self.buf
            .get_mut(self.len..end)
            .ok_or(core::fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// A command sent to the client helper, whose answer is read later.
struct Helper {
    conn: ConnectionSocket,
}

impl Helper {
    /// Connects to the helper and sends `<kind> <port> <hex payload>\n`.
    fn start(cx: &LibCx<'_, '_>, kind: &str, port: u16, payload: &[u8]) -> Result<Self, Error> {
        let mut line = Line {
            buf: [0; 256],
            len: 0,
        };
        let _ = write!(line, "{kind} {port} ");
        for b in payload {
            let _ = write!(line, "{b:02x}");
        }
        let _ = line.write_str("\n");
        let mut conn = ConnectionSocket::connect(cx.client, addr_of(&cx.req.helper), None, WAIT)?;
        conn.send_all(line.buf.get(..line.len).unwrap_or_default(), WAIT)?;
        Ok(Self { conn })
    }

    /// The helper's answer: `Ok(bytes)` for `ok <hex>`, `Err(text)` (its first bytes) for
    /// anything else.
    fn answer(mut self) -> Result<Bytes, Said> {
        let mut text = Line {
            buf: [0; 256],
            len: 0,
        };
        while !text
            .buf
            .get(..text.len)
            .unwrap_or_default()
            .contains(&b'\n')
        {
            let Some(rest) = text.buf.get_mut(text.len..) else {
                break;
            };
            match self.conn.receive(rest, WAIT) {
                Ok(0) | Err(_) => break,
                Ok(n) => text.len = text.len.saturating_add(n),
            }
        }
        let line = text.buf.get(..text.len).unwrap_or_default();
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let Some(hex) = line.strip_prefix(b"ok ".as_slice()) else {
            let mut said = Bytes::new();
            said.push(line);
            return Err(Said(said));
        };
        let mut out = Bytes::new();
        for pair in hex.chunks(2) {
            let digits = core::str::from_utf8(pair)
                .ok()
                .and_then(|d| u8::from_str_radix(d, 16).ok());
            out.push(&[digits.unwrap_or(b'?')]);
        }
        Ok(out)
    }
}

/// The start of a helper answer that was not `ok`.
struct Said(Bytes);

impl core::fmt::Display for Said {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(core::str::from_utf8(self.0.as_slice()).unwrap_or("(not text)"))
    }
}

/// `ConnectionSocket::connect` (WskSocketConnect, or socket + bind + connect), `send_all`,
/// `receive` of the echo from the Linux TCP echo server.
fn connection_echo(cx: &mut LibCx<'_, '_>, idx: usize) {
    let name = if idx == 0 {
        "lib.tcp4.connection_socket_echo"
    } else {
        "lib.tcp6.connection_socket_echo"
    };
    let Some(target) = cx.req.tcp_echo.get(idx).map(addr_of) else {
        return;
    };
    let payload: &[u8] = b"wsk crate: ConnectionSocket echo";
    let mut socket = match ConnectionSocket::connect(cx.client, target, None, WAIT) {
        Ok(s) => s,
        Err(e) => return cx.failed(name, "connect", e),
    };
    if let Err(e) = socket.send_all(payload, WAIT) {
        return cx.failed(name, "send_all", e);
    }
    let mut back = [0u8; MAX];
    let got = receive_exact(
        &mut socket,
        back.get_mut(..payload.len()).unwrap_or_default(),
    );
    let peer = socket.peer_addr();
    let _ = socket.close();
    match got {
        Ok(n) if back.get(..n) == Some(payload) => {
            let port = peer.map_or(0, |a| a.port());
            cx.push(
                name,
                Outcome::Pass,
                NtStatus::SUCCESS,
                &detail!("{n} bytes echoed; peer_addr port {port}"),
            );
        }
        Ok(n) => cx.push(
            name,
            Outcome::Fail,
            NtStatus::SUCCESS,
            &detail!("{n} of {} bytes echoed or data differs", payload.len()),
        ),
        Err(e) => cx.failed(name, "receive", e),
    }
}

/// Accepted connections, kept for the check thread (the callback must not block).
struct Accepts {
    slot: SpinLock<Option<(AcceptedConnection, Option<SocketAddr>)>>,
    calls: AtomicUsize,
}

impl ListenEvents for Accepts {
    fn accepted(
        &self,
        connection: AcceptedConnection,
        remote: Option<SocketAddr>,
    ) -> Result<(), AcceptedConnection> {
        self.calls.fetch_add(1, Ordering::AcqRel);
        let mut slot = self.slot.lock();
        if slot.is_some() {
            return Err(connection);
        }
        *slot = Some((connection, remote));
        Ok(())
    }
}

/// `ListenEventSocket` on 127.0.0.1: the helper (a Linux client) connects, the accept callback
/// hands the connection over, the check echoes the helper's bytes on it.
fn event_listener(cx: &mut LibCx<'_, '_>) {
    let name = "lib.event_listener.accept_linux_client_echo";
    let events = Accepts {
        slot: SpinLock::new(None),
        calls: AtomicUsize::new(0),
    };
    let mut listener =
        match ListenEventSocket::bind(cx.client, LOOPBACK4, BindOptions::default(), events, WAIT) {
            Ok(l) => l,
            Err(e) => return cx.failed(name, "ListenEventSocket::bind", e),
        };
    let port = match listener.socket().map(wsk::ListenSocket::local_addr) {
        Some(Ok(a)) => a.port(),
        Some(Err(e)) => return cx.failed(name, "local_addr", e),
        None => {
            return cx.push(
                name,
                Outcome::Fail,
                NtStatus::UNSUCCESSFUL,
                &detail!("no socket"),
            )
        }
    };
    let payload: &[u8] = b"accepted by an event listener";
    let helper = match Helper::start(cx, "tcp", port, payload) {
        Ok(h) => h,
        Err(e) => return cx.failed(name, "helper connect", e),
    };
    let arrived = wait_until(EVENT_WAIT, || listener.events().slot.lock().is_some());
    let taken = listener.events().slot.lock().take();
    let Some((connection, remote)) = taken.filter(|_| arrived) else {
        let calls = listener.events().calls.load(Ordering::Acquire);
        return match helper.answer() {
            Ok(_) => cx.push(
                name,
                Outcome::Fail,
                NtStatus::IO_TIMEOUT,
                &detail!("no accept event in 3 s ({calls} calls); helper ok"),
            ),
            Err(line) => cx.push(
                name,
                Outcome::Fail,
                NtStatus::IO_TIMEOUT,
                &detail!("no accept event ({calls} calls); helper: {line}"),
            ),
        };
    };
    // The check thread runs at PASSIVE_LEVEL: the blocking socket may be used here.
    let mut connection = connection.into_socket();
    let mut data = [0u8; MAX];
    let got = receive_exact(
        &mut connection,
        data.get_mut(..payload.len()).unwrap_or_default(),
    );
    let echoed = match got {
        Ok(n) => connection
            .send_all(data.get(..n).unwrap_or_default(), WAIT)
            .map(|()| n),
        Err(e) => Err(e),
    };
    let answer = helper.answer();
    let _ = connection.close();
    let remote_port = remote.map_or(0, |a| a.port());
    match (echoed, answer) {
        (Ok(n), Ok(back)) if back.as_slice() == payload => {
            cx.push(
                name,
                Outcome::Pass,
                NtStatus::SUCCESS,
                &detail!("port {port}: client port {remote_port}, {n} bytes echoed"),
            );
        }
        (Ok(n), Ok(back)) => cx.push(
            name,
            Outcome::Fail,
            NtStatus::SUCCESS,
            &detail!("{n} received, helper got {} bytes, differs", back.len),
        ),
        (Err(e), _) => cx.failed(name, "serving the accepted connection", e),
        (Ok(_), Err(line)) => cx.push(
            name,
            Outcome::Fail,
            NtStatus::UNSUCCESSFUL,
            &detail!("helper: {line}"),
        ),
    }
}

/// Datagrams seen by the receive-from callback.
struct Datagrams {
    retain: bool,
    first: SpinLock<Option<(Bytes, Option<SocketAddr>)>>,
    retained: SpinLock<Option<RetainedData>>,
    calls: AtomicUsize,
}

impl DatagramEvents for Datagrams {
    fn received(&self, datagram: &Indication<'_>, from: Option<SocketAddr>) -> Verdict {
        self.calls.fetch_add(1, Ordering::AcqRel);
        let mut first = self.first.lock();
        if first.is_none() {
            let mut bytes = Bytes::new();
            for chunk in datagram.chunks() {
                bytes.push(chunk);
            }
            *first = Some((bytes, from));
        }
        if self.retain {
            Verdict::Retain
        } else {
            Verdict::Consumed
        }
    }

    fn retained(&self, data: RetainedData) {
        let mut slot = self.retained.lock();
        if slot.is_none() {
            *slot = Some(data);
        }
    }
}

/// `DatagramEventSocket` on 127.0.0.1: the helper sends a datagram from Linux, the receive-from
/// callback gets it with its sender, the check replies with `send_to`. With `retain`, the
/// callback answers `Verdict::Retain`; the check replies with the retained bytes, read after
/// the callback returned, then releases them (`RetainedData::release`, `WskRelease`).
#[allow(
    clippy::too_many_lines,
    reason = "one check's steps, in the order they run"
)]
fn event_datagram(cx: &mut LibCx<'_, '_>, retain: bool) {
    let name = if retain {
        "lib.event_datagram.retain_reply_release"
    } else {
        "lib.event_datagram.receive_from_linux_reply"
    };
    let events = Datagrams {
        retain,
        first: SpinLock::new(None),
        retained: SpinLock::new(None),
        calls: AtomicUsize::new(0),
    };
    let mut socket =
        match DatagramEventSocket::bind(cx.client, LOOPBACK4, BindOptions::default(), events, WAIT)
        {
            Ok(s) => s,
            Err(e) => return cx.failed(name, "DatagramEventSocket::bind", e),
        };
    let port = match socket.socket().map(wsk::DatagramSocket::local_addr) {
        Some(Ok(a)) => a.port(),
        Some(Err(e)) => return cx.failed(name, "local_addr", e),
        None => {
            return cx.push(
                name,
                Outcome::Fail,
                NtStatus::UNSUCCESSFUL,
                &detail!("no socket"),
            )
        }
    };
    let payload: &[u8] = if retain {
        b"retained datagram from linux"
    } else {
        b"datagram from linux"
    };
    let helper = match Helper::start(cx, "udp", port, payload) {
        Ok(h) => h,
        Err(e) => return cx.failed(name, "helper connect", e),
    };
    let arrived = wait_until(EVENT_WAIT, || {
        if retain {
            socket.events().retained.lock().is_some()
        } else {
            socket.events().first.lock().is_some()
        }
    });
    let first = *socket.events().first.lock();
    let retained = socket.events().retained.lock().take();
    let calls = socket.events().calls.load(Ordering::Acquire);
    let Some((seen, Some(from))) = first.filter(|_| arrived) else {
        let _ = helper.answer();
        return cx.push(
            name,
            Outcome::Fail,
            NtStatus::IO_TIMEOUT,
            &detail!("no datagram event in 3 s ({calls} calls)"),
        );
    };
    // The reply: what the callback copied, or the retained bytes read now.
    let mut reply = Bytes::new();
    let mut released = Ok(());
    if retain {
        let Some(kept) = retained else {
            let _ = helper.answer();
            return cx.push(
                name,
                Outcome::Fail,
                NtStatus::UNSUCCESSFUL,
                &detail!("Retain answered but no RetainedData"),
            );
        };
        for (data, sender) in kept.datagrams() {
            if sender == Some(from) {
                reply.push(data);
            }
        }
        released = kept.release();
    } else {
        reply.push(b"re:");
        reply.push(seen.as_slice());
    }
    let sent = socket
        .socket()
        .map(|s| s.send_to(reply.as_slice(), from, WAIT));
    let answer = helper.answer();
    let same_as_sent = seen.as_slice() == payload;
    match (sent, answer, released) {
        (Some(Ok(_)), Ok(back), Ok(()))
            if back.as_slice() == reply.as_slice() && same_as_sent && reply.len > 0 =>
        {
            let what = if retain {
                "retained bytes right, released"
            } else {
                "replied"
            };
            cx.push(
                name,
                Outcome::Pass,
                NtStatus::SUCCESS,
                &detail!("{calls} calls; from port {}; {what}", from.port()),
            );
        }
        (_, _, Err(e)) => cx.failed(name, "RetainedData::release", e),
        (Some(Err(e)), _, _) => cx.failed(name, "send_to", e),
        (_, Err(line), _) => cx.push(
            name,
            Outcome::Fail,
            NtStatus::UNSUCCESSFUL,
            &detail!("helper: {line}"),
        ),
        _ => cx.push(
            name,
            Outcome::Fail,
            NtStatus::SUCCESS,
            &detail!(
                "data differs ({} bytes seen, {} replied)",
                seen.len,
                reply.len
            ),
        ),
    }
}

/// Receive indications retained by the connection callback.
struct Retainer {
    kept: SpinLock<[Option<RetainedData>; 4]>,
    bytes: AtomicUsize,
}

impl ConnectionEvents for Retainer {
    fn received(&self, data: &Indication<'_>) -> Verdict {
        self.bytes.fetch_add(data.len(), Ordering::AcqRel);
        Verdict::Retain
    }

    fn disconnected(&self, _abortive: bool) {}

    fn retained(&self, data: RetainedData) {
        let mut kept = self.kept.lock();
        if let Some(slot) = kept.iter_mut().find(|s| s.is_none()) {
            *slot = Some(data);
        }
    }
}

/// `ConnectionEventSocket` to the TCP echo server whose receive callback answers `Verdict::Retain`:
/// after the callback returned, the retained buffers hold the echo; each is released with
/// `RetainedData::release` (`WskRelease`), then the socket closes without waiting for them.
fn event_connection_retain(cx: &mut LibCx<'_, '_>) {
    let name = "lib.event_connection.retain_then_release";
    let Some(target) = cx.req.tcp_echo.first().map(addr_of) else {
        return;
    };
    let events = Retainer {
        kept: SpinLock::new([None, None, None, None]),
        bytes: AtomicUsize::new(0),
    };
    let mut connection = match ConnectionEventSocket::connect(
        cx.client,
        target,
        None,
        BindOptions::default(),
        events,
        WAIT,
    ) {
        Ok(c) => c,
        Err(e) => return cx.failed(name, "ConnectionEventSocket::connect", e),
    };
    let payload: &[u8] = b"retained until WskRelease";
    let sent = connection.socket().map(|s| s.send_all(payload, WAIT));
    if let Some(Err(e)) = sent {
        return cx.failed(name, "send_all", e);
    }
    let _ = wait_until(EVENT_WAIT, || {
        connection.events().bytes.load(Ordering::Acquire) >= payload.len()
    });
    // Give a callback that counted the bytes the time to hand its handle over.
    wsk::sleep(Duration::from_millis(50));
    let kept: [Option<RetainedData>; 4] = core::mem::take(&mut *connection.events().kept.lock());
    let mut seen = Bytes::new();
    let mut handles = 0usize;
    let mut first_error = None;
    for handle in kept.into_iter().flatten() {
        handles = handles.saturating_add(1);
        for chunk in handle.chunks() {
            seen.push(chunk);
        }
        if let Err(e) = handle.release() {
            first_error.get_or_insert(e);
        }
    }
    // Every list is back with the provider, so the close does not wait for handles (a socket
    // left open would show in lib.client_shutdown).
    drop(connection);
    match first_error {
        Some(e) => cx.failed(name, "RetainedData::release", e),
        None if seen.as_slice() == payload => {
            cx.push(
                name,
                Outcome::Pass,
                NtStatus::SUCCESS,
                &detail!(
                    "{handles} retained, {} bytes right, each released",
                    seen.len
                ),
            );
        }
        None => cx.push(
            name,
            Outcome::Fail,
            NtStatus::SUCCESS,
            &detail!("{handles} retained, {} bytes, data differs", seen.len),
        ),
    }
}

/// `wsk::name_of(127.0.0.1:port)` (`WskGetNameInfo`) returns a host name.
fn name_of(cx: &mut LibCx<'_, '_>) {
    let name = "lib.name_of_127.0.0.1";
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 80);
    match wsk::name_of(cx.client, addr, WAIT) {
        Ok((host, service)) if !host.as_str().is_empty() => {
            cx.push(
                name,
                Outcome::Pass,
                NtStatus::SUCCESS,
                &detail!("host {}, service {}", host.as_str(), service.as_str()),
            );
        }
        Ok(_) => cx.push(
            name,
            Outcome::Fail,
            NtStatus::SUCCESS,
            &detail!("empty host name"),
        ),
        Err(e) => cx.failed(name, "name_of", e),
    }
}

/// `BasicSocket` (UDP, IPv4): `SO_RCVBUF` set and read back, `WskIoctl(FIONREAD)` (4 bytes,
/// nothing queued), close.
fn basic_socket(cx: &mut LibCx<'_, '_>) {
    let name = "lib.basic_socket.option_ioctl_close";
    let mut socket = match BasicSocket::new(cx.client, Transport::Udp, false, WAIT) {
        Ok(s) => s,
        Err(e) => return cx.failed(name, "BasicSocket::new", e),
    };
    if let Err(e) = socket.set_receive_buffer_size(48 * 1024) {
        return cx.failed(name, "set_receive_buffer_size", e);
    }
    let size = match socket.receive_buffer_size() {
        Ok(n) => n,
        Err(e) => return cx.failed(name, "receive_buffer_size", e),
    };
    let mut pending = [0xFFu8; 4];
    let ioctl = socket.ioctl_raw(sys::FIONREAD, &[], &mut pending);
    let closed = socket.close();
    match (ioctl, closed) {
        (Ok(4), Ok(())) if size >= 48 * 1024 && pending == [0; 4] => {
            cx.push(
                name,
                Outcome::Pass,
                NtStatus::SUCCESS,
                &detail!("SO_RCVBUF {size}; FIONREAD 0 (4 bytes); closed"),
            );
        }
        (Err(e), _) => cx.failed(name, "ioctl_raw(FIONREAD)", e),
        (_, Err(e)) => cx.failed(name, "close", e),
        (Ok(n), Ok(())) => cx.push(
            name,
            Outcome::Fail,
            NtStatus::SUCCESS,
            &detail!("SO_RCVBUF {size}; FIONREAD {n} bytes {pending:?}"),
        ),
    }
}

/// `StreamSocket` bound to 127.0.0.1:0, `listen`; the helper connects from Linux;
/// `StreamListenSocket::accept` gives a `ConnectionSocket` that echoes the helper's bytes.
fn stream_listen_accept(cx: &mut LibCx<'_, '_>) {
    let name = "lib.stream_socket.listen_accept_linux_client";
    let mut socket = match StreamSocket::bind(cx.client, LOOPBACK4, BindOptions::default(), WAIT) {
        Ok(s) => s,
        Err(e) => return cx.failed(name, "StreamSocket::bind", e),
    };
    let port = match socket.local_addr() {
        Ok(a) => a.port(),
        Err(e) => return cx.failed(name, "local_addr", e),
    };
    let mut listener = match socket.listen(WAIT) {
        Ok(l) => l,
        Err(e) => return cx.failed(name, "listen", e),
    };
    let payload: &[u8] = b"accepted on a stream socket";
    let helper = match Helper::start(cx, "tcp", port, payload) {
        Ok(h) => h,
        Err(e) => return cx.failed(name, "helper connect", e),
    };
    let (mut connection, remote) = match listener.accept(EVENT_WAIT) {
        Ok(c) => c,
        Err(e) => {
            let _ = helper.answer();
            return cx.failed(name, "accept", e);
        }
    };
    let mut data = [0u8; MAX];
    let echoed = receive_exact(
        &mut connection,
        data.get_mut(..payload.len()).unwrap_or_default(),
    )
    .and_then(|n| {
        connection
            .send_all(data.get(..n).unwrap_or_default(), WAIT)
            .map(|()| n)
    });
    let answer = helper.answer();
    let _ = connection.close();
    let _ = listener.close();
    match (echoed, answer) {
        (Ok(n), Ok(back)) if back.as_slice() == payload => cx.push(
            name,
            Outcome::Pass,
            NtStatus::SUCCESS,
            &detail!(
                "port {port}: client port {}, {n} bytes echoed",
                remote.map_or(0, |a| a.port())
            ),
        ),
        (Err(e), _) => cx.failed(name, "serving the accepted connection", e),
        (Ok(n), Ok(back)) => cx.push(
            name,
            Outcome::Fail,
            NtStatus::SUCCESS,
            &detail!("{n} received, helper got {} bytes, differs", back.len),
        ),
        (Ok(_), Err(line)) => cx.push(
            name,
            Outcome::Fail,
            NtStatus::UNSUCCESSFUL,
            &detail!("helper: {line}"),
        ),
    }
}

/// `StreamSocket` bound to 0.0.0.0:0, `connect_with_data` (`WskConnectEx` of the stream
/// dispatch) to the TCP echo server, then `send_all` and `receive` of both echoes, `peer_addr`.
fn stream_connect(cx: &mut LibCx<'_, '_>) {
    let name = "lib.stream_socket.connect_with_data_echo";
    let Some(target) = cx.req.tcp_echo.first().map(addr_of) else {
        return;
    };
    let unspecified = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
    let socket = match StreamSocket::bind(cx.client, unspecified, BindOptions::default(), WAIT) {
        Ok(s) => s,
        Err(e) => return cx.failed(name, "StreamSocket::bind", e),
    };
    let (first, second): (&[u8], &[u8]) = (b"stream connect data|", b"then a send");
    let (mut connection, sent) = match socket.connect_with_data(target, first, WAIT) {
        Ok(c) => c,
        Err(e) => return cx.failed(name, "connect_with_data", e),
    };
    if let Err(e) = connection.send_all(second, WAIT) {
        return cx.failed(name, "send_all", e);
    }
    let mut back = [0u8; MAX];
    let want = first.len().saturating_add(second.len());
    let mut got = 0;
    while got < want {
        let Some(rest) = back.get_mut(got..want) else {
            break;
        };
        match connection.receive(rest, WAIT) {
            Ok(0) | Err(_) => break,
            Ok(n) => got = got.saturating_add(n),
        }
    }
    let peer = connection.peer_addr().map_or(0, |a| a.port());
    let _ = connection.close();
    let same =
        back.get(..first.len()) == Some(first) && back.get(first.len()..want) == Some(second);
    let outcome = if same && sent == first.len() && peer == target.port() {
        Outcome::Pass
    } else {
        Outcome::Fail
    };
    cx.push(
        name,
        outcome,
        NtStatus::SUCCESS,
        &detail!(
            "ConnectEx sent {sent}; echo {got}/{want} {}; peer port {peer}",
            if same { "ok" } else { "differs" }
        ),
    );
}

/// `ConnectionSocket::connect_with_data` (`WskConnectEx`) to the TCP echo server: the data
/// sent with the connection comes back.
fn connect_with_data(cx: &mut LibCx<'_, '_>) {
    let name = "lib.tcp4.connect_with_data_echo";
    let Some(target) = cx.req.tcp_echo.first().map(addr_of) else {
        return;
    };
    let payload: &[u8] = b"sent with the connection (WskConnectEx)";
    let (mut connection, sent) =
        match ConnectionSocket::connect_with_data(cx.client, target, None, payload, WAIT) {
            Ok(c) => c,
            Err(e) => return cx.failed(name, "connect_with_data", e),
        };
    let mut back = [0u8; MAX];
    let got = receive_exact(
        &mut connection,
        back.get_mut(..payload.len()).unwrap_or_default(),
    );
    let _ = connection.close();
    match got {
        Ok(n) if back.get(..n) == Some(payload) && sent == payload.len() => {
            cx.push(
                name,
                Outcome::Pass,
                NtStatus::SUCCESS,
                &detail!("{sent} bytes sent with the connect, echoed"),
            );
        }
        Ok(n) => cx.push(
            name,
            Outcome::Fail,
            NtStatus::SUCCESS,
            &detail!(
                "sent {sent}; {n} of {} echoed or data differs",
                payload.len()
            ),
        ),
        Err(e) => cx.failed(name, "receive", e),
    }
}

/// `WskClient::provider_characteristics` (`WskQueryProviderCharacteristics`): a version
/// range that contains the dispatch version the NPI capture gave.
fn provider_characteristics(cx: &mut LibCx<'_, '_>) {
    let name = "lib.client_provider_characteristics";
    if !cx.req.query_characteristics {
        return cx.push(
            name,
            Outcome::Unsupported,
            NtStatus::NOT_IMPLEMENTED,
            &detail!("not called: Wine 8.0 exports a stub that aborts"),
        );
    }
    match cx.client.provider_characteristics() {
        Ok(c) => {
            let version = cx.client.provider_version();
            let fits = c.lowest <= version && version <= c.highest;
            let outcome = if fits { Outcome::Pass } else { Outcome::Fail };
            cx.push(
                name,
                outcome,
                NtStatus::SUCCESS,
                &detail!(
                    "versions {:#06x}..={:#06x}; dispatch {version:#06x}",
                    c.lowest,
                    c.highest
                ),
            );
        }
        Err(e) => cx.failed(name, "provider_characteristics", e),
    }
}

/// `ConnectionSocket::disconnect(Disconnect::Graceful(data))` to the TCP echo server: the
/// final data goes out with the FIN, the server echoes it and then ends its side too, so
/// this side reads the data and then the end of the stream.
fn disconnect_with_final_data(cx: &mut LibCx<'_, '_>) {
    let name = "lib.tcp4.disconnect_with_final_data";
    let Some(target) = cx.req.tcp_echo.first().map(addr_of) else {
        return;
    };
    let payload: &[u8] = b"last words before the FIN (WskDisconnect with a buffer)";
    let mut connection = match ConnectionSocket::connect(cx.client, target, None, WAIT) {
        Ok(c) => c,
        Err(e) => return cx.failed(name, "connect", e),
    };
    if let Err(e) = connection.disconnect(wsk::Disconnect::Graceful(payload), WAIT) {
        let _ = connection.close();
        return cx.failed(name, "disconnect", e);
    }
    let mut back = [0u8; MAX];
    let got = receive_exact(
        &mut connection,
        back.get_mut(..payload.len()).unwrap_or_default(),
    );
    let mut end = [0u8; 1];
    let eof = connection.receive(&mut end, WAIT);
    let _ = connection.close();
    match (got, eof) {
        (Ok(n), Ok(0)) if back.get(..n) == Some(payload) => {
            cx.push(
                name,
                Outcome::Pass,
                NtStatus::SUCCESS,
                &detail!("{n} bytes sent with the FIN, echoed, then end of stream"),
            );
        }
        (Ok(n), Ok(more)) => cx.push(
            name,
            Outcome::Fail,
            NtStatus::SUCCESS,
            &detail!(
                "{n} of {} echoed (or differs); {more} bytes after",
                payload.len()
            ),
        ),
        (Err(e), _) => cx.failed(name, "receive", e),
        (Ok(_), Err(e)) => cx.failed(name, "receive end of stream", e),
    }
}

/// `DatagramSocket` on loopback with `set_packet_info(true)`: `send_to_with_control` to the
/// UDP echo server with `IP_PKTINFO` / `IPV6_PKTINFO` naming the loopback source, then
/// `receive_from_with_control`: the echo, and a `PacketInfo` whose destination is loopback.
fn packet_info(cx: &mut LibCx<'_, '_>, idx: usize) {
    let name = if idx == 0 {
        "lib.udp4.control_info_pktinfo_send_receive"
    } else {
        "lib.udp6.control_info_pktinfo_send_receive"
    };
    let Some(target) = cx.req.udp_echo.get(idx).map(addr_of) else {
        return;
    };
    let loopback = if idx == 0 {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    };
    let mut socket = match DatagramSocket::bind(cx.client, SocketAddr::new(loopback, 0), WAIT) {
        Ok(s) => s,
        Err(e) => return cx.failed(name, "DatagramSocket::bind", e),
    };
    if let Err(e) = socket.set_packet_info(true) {
        return cx.failed(name, "set_packet_info", e);
    }
    let mut control = ControlBuffer::new();
    let _ = control.push_packet_info(PacketInfo {
        addr: loopback,
        interface: 0,
    });
    let payload: &[u8] = b"datagram with control information";
    if let Err(e) = socket.send_to_with_control(payload, target, control.as_bytes(), WAIT) {
        return cx.failed(name, "send_to_with_control", e);
    }
    let (mut data, mut info) = ([0u8; MAX], [0u8; MAX_CONTROL]);
    let got = match socket.receive_from_with_control(&mut data, &mut info, WAIT) {
        Ok(r) => r,
        Err(e) => return cx.failed(name, "receive_from_with_control", e),
    };
    let objects = ControlMessages::new(info.get(..got.control_len).unwrap_or_default());
    let count = objects.into_iter().count();
    let pktinfo = objects.packet_info();
    let same = data.get(..got.len) == Some(payload) && got.from == Some(target);
    match pktinfo {
        Some(p) if same && p.addr == loopback => cx.push(
            name,
            Outcome::Pass,
            NtStatus::SUCCESS,
            &detail!(
                "echo ok; {} control bytes, {count} objects; to {} if {}",
                got.control_len,
                p.addr,
                p.interface
            ),
        ),
        _ => cx.push(
            name,
            Outcome::Fail,
            NtStatus::SUCCESS,
            &detail!(
                "echo {}; {} control bytes, {count} objects, pktinfo {}; flags {:#x}",
                if same { "ok" } else { "differs" },
                got.control_len,
                u8::from(pktinfo.is_some()),
                got.flags
            ),
        ),
    }
}

/// A `BufferChain` of three pool buffers (7, 4096, 13 bytes) sent in one `WskSend` from an
/// offset inside the first buffer, echoed by the TCP server and received with
/// `receive_chain` into another chain (5, 100, 5000 bytes); a range past the chain is refused
/// before any request.
fn buffer_chain(cx: &mut LibCx<'_, '_>) {
    let name = "lib.buffer_chain.send_receive_echo";
    let Some(target) = cx.req.tcp_echo.first().map(addr_of) else {
        return;
    };
    let (mut out, mut back) = match (
        BufferChain::try_new(&[7, 4096, 13]),
        BufferChain::try_new(&[5, 100, 5000]),
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return cx.failed(name, "BufferChain::try_new", e),
    };
    let mut pattern = [0u8; 4116];
    for (i, b) in pattern.iter_mut().enumerate() {
        *b = u8::try_from(i % 251).unwrap_or(0);
    }
    let _ = out.copy_from(&pattern);
    let mut connection = match ConnectionSocket::connect(cx.client, target, None, WAIT) {
        Ok(c) => c,
        Err(e) => return cx.failed(name, "connect", e),
    };
    let whole_len = out.len();
    let refused = connection.send_chain(&mut out, 1, whole_len, WAIT);
    let (offset, len) = (3, out.len().saturating_sub(3));
    let sent = match connection.send_chain(&mut out, offset, len, WAIT) {
        Ok(n) => n,
        Err(e) => return cx.failed(name, "send_chain", e),
    };
    let mut got = [0u8; 4116];
    let mut total = 0usize;
    let mut receives = 0usize;
    while total < sent {
        match connection.receive_chain(&mut back, WAIT) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let mut piece = [0u8; 4116];
                let copied = back.copy_to(piece.get_mut(..n).unwrap_or_default());
                if let (Some(dst), Some(src)) = (
                    got.get_mut(total..total.saturating_add(copied)),
                    piece.get(..copied),
                ) {
                    dst.copy_from_slice(src);
                }
                total = total.saturating_add(copied);
                receives = receives.saturating_add(1);
            }
        }
    }
    let _ = connection.close();
    let expected = pattern
        .get(offset..offset.saturating_add(len))
        .unwrap_or_default();
    let same = got.get(..total) == Some(expected);
    let refused_ok = refused.err().map(Error::status) == Some(NtStatus::INVALID_BUFFER_SIZE);
    let whole = out.len() == 4116 && back.len() == 5105;
    let outcome = if same && sent == len && refused_ok && whole {
        Outcome::Pass
    } else {
        Outcome::Fail
    };
    cx.push(
        name,
        outcome,
        NtStatus::SUCCESS,
        &detail!(
            "sent {sent}/{len} at +{offset}; {total} back, {} recv, {}; overrun refused {}",
            receives,
            if same { "same" } else { "differs" },
            u8::from(refused_ok)
        ),
    );
}
