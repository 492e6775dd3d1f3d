//! The checks. Each one exercises one piece of WSK behaviour against the provider in place
//! and records what the provider did (see `docs/running-on-linux.md` for the list).
//!
//! Conventions: `PASS` = as WSK documents; `UNSUPPORTED` = the provider said it does not
//! implement what the check needs (`STATUS_NOT_IMPLEMENTED`, `STATUS_NOT_SUPPORTED`, a NULL
//! dispatch entry) or a prerequisite step did; `FAIL` = anything else (wrong status or data,
//! an IRP never completed, a cancel ignored). Ops are declared before the sockets they use,
//! so that a socket is closed (completing whatever is still pending on it) before the op's
//! memory is released or abandoned.

use core::ffi::c_void;
use core::fmt::{self, Write};
use core::ptr;
use core::sync::atomic::Ordering;
use core::time::Duration;

use wsk::{NtStatus, PoolBox, SpinLock};
use wsk_bindings as sys;
use wskrs_conformance_abi::{Outcome, PeerAddr, ReplyHeader, RunRequest};

use crate::raw::{self, AddrBuf, Client, Kind, Obs, Op, Socket};
use crate::report::{detail, Detail, Report, St};

/// How long a receive that should find echoed data may take.
const ECHO_WAIT: Duration = Duration::from_secs(3);
/// How long a provider gets to complete a cancelled receive.
const CANCEL_WAIT: Duration = Duration::from_secs(1);

/// Runs every check; writes the header and records into `out`; returns the bytes used.
/// IRQL: PASSIVE_LEVEL.
pub(crate) fn run(request: &RunRequest, out: &mut [u8]) -> usize {
    let leaked_before = raw::LEAKED.load(Ordering::Acquire);
    let mut report = Report::new(out);
    let (client, status, step) = Client::register(3000);
    let version = client.as_ref().and_then(Client::dispatch).map_or(0, |(_, d)| d.Version);
    {
        let (outcome, text) = match (&client, version) {
            (Some(_), v) if status.is_success() => {
                let [major, minor] = v.to_be_bytes();
                (Outcome::Pass, detail!("captured; dispatch version {major}.{minor}"))
            }
            _ => (Outcome::Fail, detail!("{step} failed")),
        };
        report.push("register.capture_provider_npi", outcome, status, &text);
    }
    let mut cx = Cx { client: client.as_ref(), req: request, report: &mut report };
    for check in CHECKS {
        check(&mut cx);
    }
    let open = raw::OPEN_SOCKETS.load(Ordering::Acquire);
    let outstanding = raw::OUTSTANDING.load(Ordering::Acquire);
    let released = client.is_none_or(Client::release);
    let (outcome, text) = if released {
        (Outcome::Pass, detail!("WskReleaseProviderNPI + WskDeregister returned"))
    } else {
        (Outcome::Fail, detail!("skipped: {open} sockets open, {outstanding} IRPs pending (leaked)"))
    };
    report.push("deregister.after_all_sockets_closed", outcome, NtStatus::SUCCESS, &text);

    let leaked = raw::LEAKED.load(Ordering::Acquire).saturating_sub(leaked_before);
    let header = ReplyHeader { count: u32::try_from(report.count()).unwrap_or(0), provider_version: u32::from(version), leaked };
    let used = report.len();
    let _ = header.encode_into(report.buffer());
    used
}

type Check = fn(&mut Cx<'_, '_>);

/// The checks in table order (registration comes first, deregistration last).
const CHECKS: &[Check] = &[
    sockets_by_category,
    |cx| echo(cx, 0),
    |cx| echo(cx, 1),
    |cx| accept_addresses(cx, 0),
    |cx| accept_addresses(cx, 1),
    |cx| refused(cx, 0),
    |cx| refused(cx, 1),
    sync_failures,
    cancel_pending_receive,
    close_cancels_receive,
    addresses,
    options,
    security,
    |cx| disconnect(cx, false),
    |cx| disconnect(cx, true),
    socket_connect,
    get_address_info,
    get_name_info,
    |cx| datagram(cx, 0),
    |cx| datagram(cx, 1),
    events,
];

struct Cx<'c, 'r> {
    client: Option<&'c Client>,
    req: &'c RunRequest,
    report: &'c mut Report<'r>,
}

impl<'c> Cx<'c, '_> {
    fn push(&mut self, name: &str, outcome: Outcome, status: NtStatus, text: &Detail) {
        self.report.push(name, outcome, status, text);
    }

    /// A check decided by one request that must succeed.
    fn simple(&mut self, name: &str, obs: &Obs, ok_text: &Detail) {
        let outcome = outcome_of(obs);
        if outcome == Outcome::Pass {
            self.push(name, outcome, obs.status, ok_text);
        } else {
            self.push(name, outcome, obs.status, &detail!("{}", How(*obs)));
        }
    }

    /// A check that could not run because `what` failed first.
    fn prerequisite(&mut self, name: &str, what: &str, obs: &Obs) {
        self.push(name, Outcome::Unsupported, obs.status, &detail!("needs {what}: {}", How(*obs)));
    }

    fn client(&self) -> Option<&'c Client> {
        self.client
    }
}

/// PASS when the request succeeded, UNSUPPORTED when the provider said it does not
/// implement it, FAIL otherwise.
fn outcome_of(obs: &Obs) -> Outcome {
    if obs.ok() {
        Outcome::Pass
    } else if obs.unsupported() {
        Outcome::Unsupported
    } else {
        Outcome::Fail
    }
}

/// How a request ended, in a few words.
struct How(Obs);

impl fmt::Display for How {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = self.0;
        if o.completed {
            write!(f, "IRP {}", St(o.status))?;
            if o.returned != NtStatus::PENDING && o.returned != o.status {
                write!(f, " (ret {})", St(o.returned))?;
            }
            Ok(())
        } else if o.returned == NtStatus::PENDING {
            write!(f, "PENDING, never completed (leaked)")
        } else {
            write!(f, "ret {}, no completion (leaked)", St(o.returned))
        }
    }
}

fn family(idx: usize) -> u16 {
    if idx == 0 {
        sys::AF_INET_FAMILY
    } else {
        sys::AF_INET6_FAMILY
    }
}

fn peer(p: &PeerAddr) -> AddrBuf {
    AddrBuf::from_peer(p.family, p.port, p.addr)
}

fn unspecified(idx: usize) -> AddrBuf {
    AddrBuf::from_peer(family(idx), 0, [0; 16])
}

fn loopback(idx: usize, port: u16) -> AddrBuf {
    let p = if idx == 0 { PeerAddr::v4_loopback(port) } else { PeerAddr::v6_loopback(port) };
    peer(&p)
}

/// Bytes of a socket address of the family at `idx`.
fn addr_len(idx: usize) -> usize {
    if idx == 0 {
        16
    } else {
        AddrBuf::V6_LEN
    }
}

fn pick<T: Copy>(items: &[T], idx: usize) -> Option<T> {
    items.get(idx).copied()
}

/// A connection socket bound to the unspecified address and connected to `to`.
fn connect_to(cx: &Cx<'_, '_>, idx: usize, to: AddrBuf, context: *mut c_void, dispatch: *const c_void) -> Result<Socket, (&'static str, Obs)> {
    let Some(client) = cx.client() else { return Err(("a client", Obs::not_made(raw::NOINTERFACE))) };
    let (obs, socket) = raw::socket(client, family(idx), Kind::Connection, context, dispatch, ptr::null_mut());
    let socket = socket.ok_or(("WskSocket", obs))?;
    let obs = raw::bind(&socket, unspecified(idx));
    if !obs.ok() {
        return Err(("WskBind", obs));
    }
    let Some(mut op) = Op::new(1) else { return Err(("memory", Obs::not_made(NtStatus::INSUFFICIENT_RESOURCES))) };
    let obs = raw::connect(&socket, &mut op, to, raw::WAIT);
    if !obs.ok() {
        return Err(("WskConnect", obs));
    }
    Ok(socket)
}

/// `WskSocket` for each category (IPv4), then `WskCloseSocket`.
fn sockets_by_category(cx: &mut Cx<'_, '_>) {
    for (name, kind) in [
        ("socket.listen", Kind::Listen),
        ("socket.connection", Kind::Connection),
        ("socket.datagram", Kind::Datagram),
        ("socket.basic", Kind::Basic),
    ] {
        let Some(client) = cx.client() else {
            cx.push(name, Outcome::Unsupported, raw::NOINTERFACE, &detail!("no provider NPI"));
            continue;
        };
        let (obs, socket) = raw::socket(client, sys::AF_INET_FAMILY, kind, ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
        match socket {
            Some(socket) => {
                let close = socket.close();
                let outcome = if close.ok() { Outcome::Pass } else { Outcome::Fail };
                cx.push(name, outcome, obs.status, &detail!("{}; close: {}", How(obs), How(close)));
            }
            None => cx.simple(name, &obs, &detail!("no socket returned")),
        }
    }
}

/// Bind, connect, send and receive the echo, over IPv4 or IPv6.
fn echo(cx: &mut Cx<'_, '_>, idx: usize) {
    let name = if idx == 0 { "tcp4.connect_send_receive_echo" } else { "tcp6.connect_send_receive_echo" };
    let Some(target) = pick(&cx.req.tcp_echo, idx) else { return };
    let payload: &[u8] = if idx == 0 { b"wsk-rs conformance: tcp4 echo 0123456789" } else { b"wsk-rs conformance: tcp6 echo 9876543210" };
    let (Some(mut send_op), Some(mut recv_op)) = (Op::new(256), Op::new(256)) else { return };
    let socket = match connect_to(cx, idx, peer(&target), ptr::null_mut(), ptr::null()) {
        Ok(s) => s,
        Err((what, obs)) => return cx.push(name, outcome_of(&obs), obs.status, &detail!("{what}: {}", How(obs))),
    };
    let sent = raw::send(&socket, &mut send_op, payload);
    if !sent.ok() || sent.info != payload.len() {
        return cx.push(name, Outcome::Fail, sent.status, &detail!("send: {} ({} bytes)", How(sent), sent.info));
    }
    let mut back = [0u8; 64];
    let (obs, got) = raw::receive_exact(&socket, &mut recv_op, payload.len(), &mut back, ECHO_WAIT);
    let same = back.get(..got) == Some(payload);
    let outcome = if same { Outcome::Pass } else { Outcome::Fail };
    cx.push(name, outcome, obs.status, &detail!("{} of {} bytes echoed; last receive {}", got, payload.len(), How(obs)));
}

/// Listen on loopback, connect from an explicitly bound client, and compare the addresses
/// `WskAccept` returns with the client's and the listener's, byte for byte (28 bytes for IPv6).
fn accept_addresses(cx: &mut Cx<'_, '_>, idx: usize) {
    let name = if idx == 0 { "tcp4.accept_returns_full_addresses" } else { "tcp6.accept_returns_full_addresses" };
    let spare = cx.req.spare_ports.get(idx).copied().unwrap_or_default();
    let [listen_port, client_port, ..] = spare;
    let Some(client) = cx.client() else { return cx.prerequisite(name, "a client", &Obs::not_made(raw::NOINTERFACE)) };
    let (Some(mut accept_op), Some(mut connect_op)) = (Op::new(1), Op::new(1)) else { return };
    let (obs, listener) = raw::socket(client, family(idx), Kind::Listen, ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
    let Some(listener) = listener else { return cx.prerequisite(name, "WskSocket(listen)", &obs) };
    let obs = raw::bind(&listener, loopback(idx, listen_port));
    if !obs.ok() {
        return cx.prerequisite(name, "WskBind(listen)", &obs);
    }
    let Some(accept_fn) = listener.listen().and_then(|d| d.WskAccept) else {
        return cx.push(name, Outcome::Unsupported, NtStatus::NOT_IMPLEMENTED, &detail!("WskAccept is NULL"));
    };
    let Some(mem) = accept_op.mem() else { return };
    mem.addr = [AddrBuf::poisoned(); 2];
    let (local, remote) = (mem.addr[0].as_sockaddr(), mem.addr[1].as_sockaddr());
    let l = listener.as_ptr();
    // SAFETY: the listener is open and bound; both address buffers live in the op.
    accept_op.issue(|irp, _| unsafe { accept_fn(l, 0, ptr::null_mut(), ptr::null(), local, remote, irp) });

    let (obs, connecting) = raw::socket(client, family(idx), Kind::Connection, ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
    let Some(connecting) = connecting else { return cx.prerequisite(name, "WskSocket(connection)", &obs) };
    let obs = raw::bind(&connecting, loopback(idx, client_port));
    if !obs.ok() {
        return cx.prerequisite(name, "WskBind(client)", &obs);
    }
    let connected = raw::connect(&connecting, &mut connect_op, loopback(idx, listen_port), raw::WAIT);
    let accepted = accept_op.observe(raw::WAIT);
    let _accepted_socket = if accepted.ok() { Socket::from_info(accepted.info, Kind::Connection) } else { None };
    if !accepted.ok() {
        return cx.simple(name, &accepted, &detail!(""));
    }
    let Some(mem) = accept_op.mem() else { return };
    let (got_remote, got_local) = (mem.addr[1], mem.addr[0]);
    let expected = loopback(idx, client_port);
    let len = addr_len(idx);
    let written = got_remote.written_len();
    let exact = written == len && got_remote.head(len) == expected.head(len);
    // The local address is the listener's (`WskAccept`'s LocalAddress).
    let local_written = got_local.written_len();
    let local_ok = local_written == len && got_local.head(len) == loopback(idx, listen_port).head(len);
    let outcome = if exact && local_ok && connected.ok() { Outcome::Pass } else { Outcome::Fail };
    cx.push(
        name,
        outcome,
        accepted.status,
        &detail!(
            "remote {written}/{len}B port {}{}; local {local_written}/{len}B port {}{}",
            got_remote.port(),
            if exact { " ok" } else { " bad" },
            got_local.port(),
            if local_ok { " ok" } else { " bad" }
        ),
    );
}

/// Connecting to a port nothing listens on completes the IRP with STATUS_CONNECTION_REFUSED.
fn refused(cx: &mut Cx<'_, '_>, idx: usize) {
    let name = if idx == 0 { "tcp4.connect_refused_completes_irp" } else { "tcp6.connect_refused_completes_irp" };
    let Some(target) = pick(&cx.req.closed, idx) else { return };
    let Some(client) = cx.client() else { return cx.prerequisite(name, "a client", &Obs::not_made(raw::NOINTERFACE)) };
    let Some(mut op) = Op::new(1) else { return };
    let (obs, socket) = raw::socket(client, family(idx), Kind::Connection, ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
    let Some(socket) = socket else { return cx.prerequisite(name, "WskSocket", &obs) };
    let obs = raw::bind(&socket, unspecified(idx));
    if !obs.ok() {
        return cx.prerequisite(name, "WskBind", &obs);
    }
    let obs = raw::connect(&socket, &mut op, peer(&target), raw::WAIT);
    let outcome = if obs.completed && obs.status == NtStatus::CONNECTION_REFUSED { Outcome::Pass } else { Outcome::Fail };
    cx.push(name, outcome, obs.status, &detail!("{}", How(obs)));
}

/// A request rejected synchronously still completes its IRP (with the error), and the call
/// returns that error or STATUS_PENDING.
fn sync_failures(cx: &mut Cx<'_, '_>) {
    let Some(target) = pick(&cx.req.tcp_echo, 0) else { return };
    for (name, bad_bind) in [("sync_failure.connect_unbound_completes_irp", false), ("sync_failure.bind_bad_family_completes_irp", true)] {
        let Some(client) = cx.client() else { return cx.prerequisite(name, "a client", &Obs::not_made(raw::NOINTERFACE)) };
        let Some(mut op) = Op::new(1) else { return };
        let (obs, socket) = raw::socket(client, sys::AF_INET_FAMILY, Kind::Connection, ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
        let Some(socket) = socket else { return cx.prerequisite(name, "WskSocket", &obs) };
        let obs = if bad_bind {
            raw::bind(&socket, AddrBuf::from_peer(99, 0, [0; 16]))
        } else {
            raw::connect(&socket, &mut op, peer(&target), raw::WAIT)
        };
        let outcome = if !obs.completed {
            Outcome::Fail
        } else if obs.status.is_success() {
            // Accepted what WSK says must be rejected.
            Outcome::Fail
        } else if obs.returned == NtStatus::PENDING || obs.returned == obs.status {
            Outcome::Pass
        } else {
            Outcome::Fail
        };
        cx.push(name, outcome, obs.status, &detail!("{}", How(obs)));
    }
}

/// IoCancelIrp on a pending receive completes it with STATUS_CANCELLED within 1 s.
fn cancel_pending_receive(cx: &mut Cx<'_, '_>) {
    let name = "irp.cancel_pending_receive_within_1s";
    let Some(target) = pick(&cx.req.tcp_echo, 0) else { return };
    let Some(mut op) = Op::new(64) else { return };
    let socket = match connect_to(cx, 0, peer(&target), ptr::null_mut(), ptr::null()) {
        Ok(s) => s,
        Err((what, obs)) => return cx.prerequisite(name, what, &obs),
    };
    let returned = raw::issue_receive(&socket, &mut op, 64);
    if returned != NtStatus::PENDING || op.wait(Duration::ZERO) {
        let obs = op.observe(Duration::ZERO);
        let outcome = if obs.unsupported() { Outcome::Unsupported } else { Outcome::Fail };
        return cx.push(name, outcome, obs.status, &detail!("receive did not pend: {}", How(obs)));
    }
    let accepted = op.cancel();
    if op.wait(CANCEL_WAIT) {
        let obs = op.current(true);
        let outcome = if obs.status == NtStatus::CANCELLED { Outcome::Pass } else { Outcome::Fail };
        return cx.push(name, outcome, obs.status, &detail!("IoCancelIrp={}; {}", u8::from(accepted), How(obs)));
    }
    let close = socket.close();
    let after = if op.wait(Duration::from_secs(2)) { op.current(true) } else { op.current(false) };
    cx.push(
        name,
        Outcome::Fail,
        NtStatus::TIMEOUT,
        &detail!("ignored (IoCancelIrp={}); after close: {}", u8::from(accepted), if close.completed { St(after.status) } else { St(NtStatus::TIMEOUT) }),
    );
}

/// WskCloseSocket with a receive pending: the receive completes (STATUS_CANCELLED) before
/// the close does.
fn close_cancels_receive(cx: &mut Cx<'_, '_>) {
    let name = "close.cancels_pending_receive_first";
    let Some(target) = pick(&cx.req.tcp_echo, 0) else { return };
    let (Some(mut recv_op), Some(mut close_op)) = (Op::new(64), Op::new(1)) else { return };
    let mut socket = match connect_to(cx, 0, peer(&target), ptr::null_mut(), ptr::null()) {
        Ok(s) => s,
        Err((what, obs)) => return cx.prerequisite(name, what, &obs),
    };
    let returned = raw::issue_receive(&socket, &mut recv_op, 64);
    if returned != NtStatus::PENDING || recv_op.wait(Duration::ZERO) {
        let obs = recv_op.observe(Duration::ZERO);
        return cx.push(name, outcome_unless_unsupported(&obs), obs.status, &detail!("receive did not pend: {}", How(obs)));
    }
    socket.issue_close(&mut close_op);
    let close = close_op.observe(raw::WAIT);
    if close.completed {
        socket.closed();
    }
    let recv_done = recv_op.wait(if close.completed { Duration::from_millis(500) } else { Duration::ZERO });
    let recv = recv_op.current(recv_done);
    let (recv_seq, close_seq) = (recv_op.seq(), close_op.seq());
    let first = recv.completed && close.completed && recv_seq < close_seq;
    let outcome = if first && recv.status == NtStatus::CANCELLED && close.ok() { Outcome::Pass } else { Outcome::Fail };
    cx.push(
        name,
        outcome,
        recv.status,
        &detail!("receive {} #{recv_seq}, close {} #{close_seq}", St(recv.status), if close.completed { St(close.status) } else { St(NtStatus::TIMEOUT) }),
    );
}

fn outcome_unless_unsupported(obs: &Obs) -> Outcome {
    if obs.unsupported() {
        Outcome::Unsupported
    } else {
        Outcome::Fail
    }
}

/// `WskGetLocalAddress` / `WskGetRemoteAddress` on connected sockets.
fn addresses(cx: &mut Cx<'_, '_>) {
    for (name, idx, remote) in [
        ("tcp4.get_local_address", 0usize, false),
        ("tcp4.get_remote_address", 0, true),
        ("tcp6.get_remote_address_full_28_bytes", 1, true),
    ] {
        let Some(target) = pick(&cx.req.tcp_echo, idx) else { return };
        let Some(mut op) = Op::new(1) else { return };
        let socket = match connect_to(cx, idx, peer(&target), ptr::null_mut(), ptr::null()) {
            Ok(s) => s,
            Err((what, obs)) => {
                cx.prerequisite(name, what, &obs);
                continue;
            }
        };
        let f = socket.connection().and_then(|d| if remote { d.WskGetRemoteAddress } else { d.WskGetLocalAddress });
        let Some(f) = f else {
            cx.push(name, Outcome::Unsupported, NtStatus::NOT_IMPLEMENTED, &detail!("dispatch entry is NULL"));
            continue;
        };
        let Some(mem) = op.mem() else { return };
        mem.addr[0] = AddrBuf::poisoned();
        let out = mem.addr[0].as_sockaddr();
        let s = socket.as_ptr();
        // SAFETY: the socket is open and connected; the address buffer lives in the op.
        let obs = op.run(raw::WAIT, |irp, _| unsafe { f(s, out, irp) });
        if !obs.ok() {
            cx.simple(name, &obs, &detail!(""));
            continue;
        }
        let Some(mem) = op.mem() else { return };
        let got = mem.addr[0];
        let len = addr_len(idx);
        let written = got.written_len();
        let ok = if remote {
            let want = peer(&target);
            written == len && got.head(len) == want.head(len)
        } else {
            let want = loopback(0, 0);
            got.family() == sys::AF_INET_FAMILY && got.port() != 0 && got.head(16).get(4..8) == want.head(16).get(4..8)
        };
        let outcome = if ok { Outcome::Pass } else { Outcome::Fail };
        cx.push(name, outcome, obs.status, &detail!("family {} port {} ({written}/{len} bytes written)", got.family(), got.port()));
    }
}

/// `WskControlSocket` with an IRP: `value` in, up to 4 bytes out. Returns the observation and
/// the value read back (as a ULONG; 1-byte booleans read as 0 or 1).
/// Each request gets its own op: one a provider never completes stays abandoned.
fn control(socket: &Socket, request: sys::WSK_CONTROL_SOCKET_TYPE, level: u32, code: u32, value: Option<u32>) -> (Obs, u32) {
    let Some(f) = socket.basic().and_then(|b| b.WskControlSocket) else { return (Obs::not_made(NtStatus::NOT_IMPLEMENTED), 0) };
    let Some(mut op) = Op::new(1) else { return (Obs::not_made(NtStatus::INSUFFICIENT_RESOURCES), 0) };
    let op = &mut op;
    let Some(mem) = op.mem() else { return (Obs::not_made(NtStatus::DEVICE_BUSY), 0) };
    mem.ulongs = [value.unwrap_or(0), 0, 0, 0];
    mem.size = 0;
    let input: *mut c_void = if value.is_some() { (&raw mut mem.ulongs[0]).cast() } else { ptr::null_mut() };
    let output: *mut c_void = if value.is_some() { ptr::null_mut() } else { (&raw mut mem.ulongs[1]).cast() };
    let (in_len, out_len) = if value.is_some() { (4u64, 0u64) } else { (0, 4) };
    let returned: *mut u64 = &raw mut mem.size;
    let s = socket.as_ptr();
    // SAFETY: the socket is open; the buffers live in the op until the request completes.
    let obs = op.run(raw::WAIT, |irp, _| unsafe { f(s, request, code, level, in_len, input, out_len, output, returned, irp) });
    let read = op.mem().map_or(0, |m| m.ulongs[1]);
    (obs, read)
}

/// SO_REUSEADDR (before bind), TCP_NODELAY and SO_RCVBUF (connected): set, then get.
fn options(cx: &mut Cx<'_, '_>) {
    let Some(target) = pick(&cx.req.tcp_echo, 0) else { return };
    let Some(client) = cx.client() else { return };
    let (obs, fresh) = raw::socket(client, sys::AF_INET_FAMILY, Kind::Connection, ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
    match fresh {
        Some(fresh) => round_trip(cx, "opt.so_reuseaddr_set_get", &fresh, sys::SOL_SOCKET, sys::SO_REUSEADDR, 1, false),
        None => cx.prerequisite("opt.so_reuseaddr_set_get", "WskSocket", &obs),
    }
    let socket = match connect_to(cx, 0, peer(&target), ptr::null_mut(), ptr::null()) {
        Ok(s) => s,
        Err((what, obs)) => {
            cx.prerequisite("opt.tcp_nodelay_set_get", what, &obs);
            return cx.prerequisite("opt.so_rcvbuf_set_get", what, &obs);
        }
    };
    round_trip(cx, "opt.tcp_nodelay_set_get", &socket, sys::IPPROTO_TCP, sys::TCP_NODELAY, 1, false);
    round_trip(cx, "opt.so_rcvbuf_set_get", &socket, sys::SOL_SOCKET, sys::SO_RCVBUF, 48 * 1024, true);
}

/// Reads the initial value, sets `value`, reads it back. `at_least`: the value read back may
/// exceed the one set (a Linux-backed stack doubles buffer sizes); otherwise any non-zero
/// value matches a boolean `1`.
#[allow(clippy::too_many_arguments)]
fn round_trip(cx: &mut Cx<'_, '_>, name: &str, socket: &Socket, level: u32, code: u32, value: u32, at_least: bool) {
    let (first, initial) = control(socket, sys::WskGetOption, level, code, None);
    let (set, _) = control(socket, sys::WskSetOption, level, code, Some(value));
    if !set.ok() {
        return cx.simple(name, &set, &detail!(""));
    }
    let (get, read) = control(socket, sys::WskGetOption, level, code, None);
    if !get.ok() {
        return cx.push(name, outcome_of(&get), get.status, &detail!("set ok; get: {}", How(get)));
    }
    let ok = if at_least { read >= value } else { read != 0 };
    let outcome = if ok { Outcome::Pass } else { Outcome::Fail };
    let initial_text = if first.ok() { initial } else { u32::MAX };
    cx.push(name, outcome, get.status, &detail!("initial {initial_text}, set {value}, read back {read}"));
}

/// `WskControlClient` without an IRP (synchronous); `input`/`output` are pointer variables.
fn control_client(cx: &Cx<'_, '_>, code: u32, input: &mut *mut c_void, output: Option<&mut *mut c_void>) -> NtStatus {
    let Some((npi, provider)) = cx.client().and_then(Client::dispatch) else { return raw::NOINTERFACE };
    let Some(f) = provider.WskControlClient else { return NtStatus::NOT_IMPLEMENTED };
    let size = core::mem::size_of::<*mut c_void>() as u64;
    let (out_ptr, out_len): (*mut c_void, u64) = match output {
        Some(o) => (ptr::from_mut(o).cast(), size),
        None => (ptr::null_mut(), 0),
    };
    let in_ptr: *mut c_void = ptr::from_mut(input).cast();
    // SAFETY: the NPI is captured; both pointer variables live across this synchronous call
    // (no IRP: the provider completes the request before returning).
    NtStatus(unsafe { f(npi, code, size, in_ptr, out_len, out_ptr, ptr::null_mut(), ptr::null_mut()) })
}

/// WSK_CACHE_SD, SO_WSK_SECURITY (set before bind, get), WSK_RELEASE_SD.
fn security(cx: &mut Cx<'_, '_>) {
    let mut sd_buf = wsk::security::SecurityDescriptorBuf::<256>::new();
    let Ok(sd) = sd_buf.from_sddl("D:P(A;;GA;;;SY)(A;;GA;;;BA)") else { return };
    let mut input: *mut c_void = sd.as_bytes().as_ptr().cast_mut().cast();
    let mut cached: *mut c_void = ptr::null_mut();
    let status = control_client(cx, sys::WSK_CACHE_SD, &mut input, Some(&mut cached));
    let cache_ok = status.is_success() && !cached.is_null();
    let outcome = if cache_ok { Outcome::Pass } else { outcome_unless_unsupported(&Obs::not_made(status)) };
    cx.push("client.wsk_cache_sd", outcome, status, &detail!("ret {}; copy {}", St(status), if cached.is_null() { "NULL" } else { "returned" }));

    let name = "opt.so_wsk_security_set_before_bind_get";
    let mut release_ok_to_try = cache_ok;
    if !cache_ok {
        cx.prerequisite(name, "WSK_CACHE_SD", &Obs::not_made(status));
    } else if let Some(client) = cx.client() {
        let Some(mut op) = Op::new(1) else { return };
        let (obs, socket) = raw::socket(client, sys::AF_INET_FAMILY, Kind::Listen, ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
        match socket.as_ref().and_then(|s| s.basic().and_then(|b| b.WskControlSocket).map(|f| (s, f))) {
            None => cx.prerequisite(name, "WskSocket(listen)", &obs),
            Some((socket, f)) => {
                let size = core::mem::size_of::<*mut c_void>() as u64;
                let Some(mem) = op.mem() else { return };
                mem.ptrs = [cached, ptr::null_mut()];
                let input: *mut c_void = (&raw mut mem.ptrs[0]).cast();
                let s = socket.as_ptr();
                // SAFETY: the socket is open and unbound; the pointer variable lives in the op.
                let set = op.run(raw::WAIT, |irp, _| unsafe {
                    f(s, sys::WskSetOption, sys::SO_WSK_SECURITY, sys::SOL_SOCKET, size, input, 0, ptr::null_mut(), ptr::null_mut(), irp)
                });
                if op.in_flight() {
                    // The provider may still read the descriptor: never release it.
                    release_ok_to_try = false;
                }
                if set.ok() {
                    let Some(mem) = op.mem() else { return };
                    mem.ptrs[1] = ptr::null_mut();
                    let output: *mut c_void = (&raw mut mem.ptrs[1]).cast();
                    // SAFETY: as above; the output pointer variable lives in the op.
                    let get = op.run(raw::WAIT, |irp, _| unsafe {
                        f(s, sys::WskGetOption, sys::SO_WSK_SECURITY, sys::SOL_SOCKET, 0, ptr::null_mut(), size, output, ptr::null_mut(), irp)
                    });
                    let mut got = op.mem().map_or(ptr::null_mut(), |m| m.ptrs[1]);
                    let bound = raw::bind(socket, loopback(0, cx.req.spare_ports[0][2]));
                    let outcome = if get.ok() && !got.is_null() { Outcome::Pass } else { outcome_of(&get).min_fail() };
                    cx.push(
                        name,
                        outcome,
                        get.status,
                        &detail!("set ok; get {} ({}); bind {}", St(get.status), if got.is_null() { "NULL" } else { "a copy" }, St(bound.status)),
                    );
                    if !got.is_null() {
                        // The copy a get returns is the caller's to release.
                        let _ = control_client(cx, sys::WSK_RELEASE_SD, &mut got, None);
                    }
                } else {
                    cx.simple(name, &set, &detail!(""));
                }
            }
        }
    }
    let name = "client.wsk_release_sd";
    if release_ok_to_try {
        let status = control_client(cx, sys::WSK_RELEASE_SD, &mut cached, None);
        let outcome = if status.is_success() { Outcome::Pass } else { outcome_unless_unsupported(&Obs::not_made(status)) };
        cx.push(name, outcome, status, &detail!("ret {}", St(status)));
    } else {
        cx.prerequisite(name, "a cached descriptor", &Obs::not_made(status));
    }
}

trait MinFail {
    fn min_fail(self) -> Outcome;
}

impl MinFail for Outcome {
    /// A check that got past its first request cannot be merely unsupported.
    fn min_fail(self) -> Outcome {
        if self == Outcome::Pass {
            self
        } else {
            Outcome::Fail
        }
    }
}

/// WskDisconnect: graceful (the peer's echo still arrives, then end of stream) or abortive
/// (later sends fail).
fn disconnect(cx: &mut Cx<'_, '_>, abortive: bool) {
    let name = if abortive { "tcp4.disconnect_abortive" } else { "tcp4.disconnect_graceful" };
    let Some(target) = pick(&cx.req.tcp_echo, 0) else { return };
    let (Some(mut op), Some(mut recv_op)) = (Op::new(64), Op::new(64)) else { return };
    let socket = match connect_to(cx, 0, peer(&target), ptr::null_mut(), ptr::null()) {
        Ok(s) => s,
        Err((what, obs)) => return cx.prerequisite(name, what, &obs),
    };
    let payload = b"bye";
    if !abortive {
        let sent = raw::send(&socket, &mut op, payload);
        if !sent.ok() {
            return cx.prerequisite(name, "WskSend", &sent);
        }
    }
    let Some(f) = socket.connection().and_then(|d| d.WskDisconnect) else {
        return cx.push(name, Outcome::Unsupported, NtStatus::NOT_IMPLEMENTED, &detail!("WskDisconnect is NULL"));
    };
    let flags = if abortive { sys::WSK_FLAG_ABORTIVE } else { 0 };
    let s = socket.as_ptr();
    // SAFETY: the socket is open and connected; no buffer is passed.
    let obs = op.run(raw::WAIT, |irp, _| unsafe { f(s, ptr::null_mut(), flags, irp) });
    if !obs.ok() {
        return cx.simple(name, &obs, &detail!(""));
    }
    if abortive {
        let after = raw::send(&socket, &mut op, payload);
        let outcome = if after.completed && !after.status.is_success() { Outcome::Pass } else { Outcome::Fail };
        return cx.push(name, outcome, obs.status, &detail!("disconnect ok; later send: {}", How(after)));
    }
    let mut back = [0u8; 8];
    let (r, got) = raw::receive_exact(&socket, &mut recv_op, payload.len(), &mut back, ECHO_WAIT);
    let (eof, _) = raw::receive_exact(&socket, &mut recv_op, 1, &mut back, ECHO_WAIT);
    let echoed = back.get(..got) == Some(payload.as_slice());
    let clean_eof = eof.ok() && eof.info == 0;
    let outcome = if echoed && clean_eof { Outcome::Pass } else { Outcome::Fail };
    cx.push(name, outcome, obs.status, &detail!("echo {got}/3 ({}), then {} {} bytes", St(r.status), St(eof.status), eof.info));
}

/// WskSocketConnect to the IPv4 echo server, then an echo through the new socket.
fn socket_connect(cx: &mut Cx<'_, '_>) {
    let name = "client.wsk_socket_connect";
    let Some(target) = pick(&cx.req.tcp_echo, 0) else { return };
    let Some((npi, provider)) = cx.client().and_then(Client::dispatch) else {
        return cx.prerequisite(name, "a client", &Obs::not_made(raw::NOINTERFACE));
    };
    let Some(f) = provider.WskSocketConnect else {
        return cx.push(name, Outcome::Unsupported, NtStatus::NOT_IMPLEMENTED, &detail!("WskSocketConnect is NULL"));
    };
    let (Some(mut op), Some(mut io)) = (Op::new(1), Op::new(64)) else { return };
    let Some(mem) = op.mem() else { return };
    mem.addr = [unspecified(0), peer(&target)];
    let (local, remote) = (mem.addr[0].as_sockaddr(), mem.addr[1].as_sockaddr());
    let obs = op.run(raw::WAIT, |irp, _| {
        // SAFETY: the NPI is captured; both addresses live in the op; no callbacks.
        unsafe {
            f(npi, sys::SOCK_STREAM_TYPE, sys::IPPROTO_TCP, local, remote, 0, ptr::null_mut(), ptr::null(), ptr::null_mut(), ptr::null_mut(), ptr::null_mut(), irp)
        }
    });
    let socket = if obs.ok() { Socket::from_info(obs.info, Kind::Connection) } else { None };
    let Some(socket) = socket else { return cx.simple(name, &obs, &detail!("no socket returned")) };
    let sent = raw::send(&socket, &mut io, b"hello");
    let mut back = [0u8; 8];
    let (_, got) = raw::receive_exact(&socket, &mut io, 5, &mut back, ECHO_WAIT);
    let outcome = if sent.ok() && back.get(..got) == Some(b"hello".as_slice()) { Outcome::Pass } else { Outcome::Fail };
    cx.push(name, outcome, obs.status, &detail!("connected; echo {got}/5 bytes"));
}

fn set_name(mem: &mut raw::Mem, slot: usize, text: &str) -> *mut sys::UNICODE_STRING {
    let (Some(chars), Some(name)) = (mem.name_chars.get_mut(slot), mem.names.get_mut(slot)) else { return ptr::null_mut() };
    chars.fill(0);
    let mut n = 0usize;
    for (dst, src) in chars.iter_mut().take(127).zip(text.bytes()) {
        *dst = u16::from(src);
        n = n.saturating_add(1);
    }
    let bytes = u16::try_from(n.saturating_mul(2)).unwrap_or(0);
    *name = sys::UNICODE_STRING { Length: bytes, MaximumLength: 256, Buffer: chars.as_mut_ptr() };
    ptr::from_mut(name)
}

/// WskGetAddressInfo("localhost") finds a loopback address.
fn get_address_info(cx: &mut Cx<'_, '_>) {
    let name = "client.wsk_get_address_info_localhost";
    let Some((npi, provider)) = cx.client().and_then(Client::dispatch) else {
        return cx.prerequisite(name, "a client", &Obs::not_made(raw::NOINTERFACE));
    };
    let (Some(f), free) = (provider.WskGetAddressInfo, provider.WskFreeAddressInfo) else {
        return cx.push(name, Outcome::Unsupported, NtStatus::NOT_IMPLEMENTED, &detail!("WskGetAddressInfo is NULL"));
    };
    let Some(mut op) = Op::new(1) else { return };
    let Some(mem) = op.mem() else { return };
    let node = set_name(mem, 0, "localhost");
    mem.ptrs[0] = ptr::null_mut();
    let result: *mut *mut sys::ADDRINFOEXW = (&raw mut mem.ptrs[0]).cast();
    // SAFETY: the NPI is captured; the name and the result variable live in the op.
    let obs = op.run(raw::WAIT, |irp, _| unsafe {
        f(npi, node, ptr::null_mut(), 0, ptr::null_mut(), ptr::null_mut(), result, ptr::null_mut(), ptr::null_mut(), irp)
    });
    if !obs.ok() {
        return cx.simple(name, &obs, &detail!(""));
    }
    let head = op.mem().map_or(ptr::null_mut(), |m| m.ptrs[0]).cast::<sys::ADDRINFOEXW>();
    let (mut count, mut loopback_found, mut first_family) = (0u32, false, 0i32);
    let mut next = head.cast_const();
    while count < 64 {
        // SAFETY: `next` is NULL or an entry of the list the provider just returned.
        let Some(entry) = (unsafe { next.as_ref() }) else { break };
        if count == 0 {
            first_family = entry.ai_family;
        }
        count = count.saturating_add(1);
        let mut addr = AddrBuf([0; 32]);
        let len = usize::try_from(entry.ai_addrlen).unwrap_or(0).min(AddrBuf::V6_LEN);
        if !entry.ai_addr.is_null() {
            // SAFETY: `ai_addr` points to `ai_addrlen` readable bytes; at most 28 are copied.
            unsafe { ptr::copy_nonoverlapping(entry.ai_addr.cast::<u8>().cast_const(), addr.0.as_mut_ptr(), len) };
        }
        let v4 = addr.head(8).get(4..8) == Some([127u8, 0, 0, 1].as_slice());
        let v6 = addr.head(24).get(8..24) == Some([0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1].as_slice());
        loopback_found |= (addr.family() == sys::AF_INET_FAMILY && v4) || (addr.family() == sys::AF_INET6_FAMILY && v6);
        next = entry.ai_next;
    }
    if let (Some(free), false) = (free, head.is_null()) {
        // SAFETY: the list came from this provider and is freed once, here.
        unsafe { free(npi, head) };
    }
    let outcome = if loopback_found { Outcome::Pass } else { Outcome::Fail };
    cx.push(name, outcome, obs.status, &detail!("{count} entries, first family {first_family}, loopback {}", u8::from(loopback_found)));
}

/// WskGetNameInfo(127.0.0.1) gives a host name.
fn get_name_info(cx: &mut Cx<'_, '_>) {
    let name = "client.wsk_get_name_info_127.0.0.1";
    let Some((npi, provider)) = cx.client().and_then(Client::dispatch) else {
        return cx.prerequisite(name, "a client", &Obs::not_made(raw::NOINTERFACE));
    };
    let Some(f) = provider.WskGetNameInfo else {
        return cx.push(name, Outcome::Unsupported, NtStatus::NOT_IMPLEMENTED, &detail!("WskGetNameInfo is NULL"));
    };
    let Some(mut op) = Op::new(1) else { return };
    let Some(mem) = op.mem() else { return };
    mem.addr[0] = loopback(0, 80);
    let addr = mem.addr[0].as_sockaddr();
    let node = set_name(mem, 0, "");
    let service = set_name(mem, 1, "");
    // SAFETY: the NPI is captured; the address and both strings (256-byte buffers) live in the op.
    let obs = op.run(raw::WAIT, |irp, _| unsafe { f(npi, addr, 16, node, service, 0, ptr::null_mut(), ptr::null_mut(), irp) });
    if !obs.ok() {
        return cx.simple(name, &obs, &detail!(""));
    }
    let Some(mem) = op.mem() else { return };
    let units = usize::from(mem.names[0].Length / 2).min(40);
    let mut text = Detail::new();
    let _ = text.write_str("node ");
    for unit in mem.name_chars[0].iter().take(units) {
        let c = char::from_u32(u32::from(*unit)).filter(char::is_ascii).unwrap_or('?');
        let _ = text.write_char(c);
    }
    let outcome = if units > 0 { Outcome::Pass } else { Outcome::Fail };
    cx.push(name, outcome, obs.status, &text);
}

/// WskSendTo to the UDP echo server, WskReceiveFrom of the echo with its full remote address.
fn datagram(cx: &mut Cx<'_, '_>, idx: usize) {
    let name = if idx == 0 { "udp4.send_to_receive_from_with_address" } else { "udp6.send_to_receive_from_with_address" };
    let Some(target) = pick(&cx.req.udp_echo, idx) else { return };
    let Some(client) = cx.client() else { return cx.prerequisite(name, "a client", &Obs::not_made(raw::NOINTERFACE)) };
    let (Some(mut recv_op), Some(mut send_op)) = (Op::new(128), Op::new(128)) else { return };
    let (obs, socket) = raw::socket(client, family(idx), Kind::Datagram, ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
    let Some(socket) = socket else { return cx.simple(name, &obs, &detail!("")) };
    let obs = raw::bind(&socket, unspecified(idx));
    if !obs.ok() {
        return cx.prerequisite(name, "WskBind", &obs);
    }
    let Some(d) = socket.datagram() else { return };
    let (Some(send_to), Some(receive_from)) = (d.WskSendTo, d.WskReceiveFrom) else {
        return cx.push(name, Outcome::Unsupported, NtStatus::NOT_IMPLEMENTED, &detail!("WskSendTo/ReceiveFrom NULL"));
    };
    let s = socket.as_ptr();
    // Receive first, so the echo cannot arrive before a receive is posted.
    let buf = recv_op.prepare_buf(128);
    let Some(mem) = recv_op.mem() else { return };
    mem.addr[0] = AddrBuf::poisoned();
    let from = mem.addr[0].as_sockaddr();
    let control_len: *mut u32 = &raw mut mem.ulongs[0];
    let control_flags: *mut u32 = &raw mut mem.ulongs[1];
    // SAFETY: the socket is open and bound; every pointer is into the op.
    let returned = recv_op.issue(|irp, _| unsafe { receive_from(s, buf, 0, from, control_len, ptr::null_mut(), control_flags, irp) });
    let payload: &[u8] = if idx == 0 { b"wsk-rs conformance udp4" } else { b"wsk-rs conformance udp6" };
    if let Some(dst) = send_op.data().and_then(|d| d.get_mut(..payload.len())) {
        dst.copy_from_slice(payload);
    }
    let out = send_op.prepare_buf(payload.len());
    let Some(mem) = send_op.mem() else { return };
    mem.addr[1] = peer(&target);
    let to = mem.addr[1].as_sockaddr();
    // SAFETY: as above.
    let sent = send_op.run(raw::WAIT, |irp, _| unsafe { send_to(s, out, 0, to, 0, ptr::null_mut(), irp) });
    if !sent.ok() {
        return cx.simple(name, &sent, &detail!(""));
    }
    let received = if returned == NtStatus::PENDING { recv_op.observe(ECHO_WAIT) } else { recv_op.observe(Duration::ZERO) };
    if !received.ok() {
        return cx.push(name, outcome_of(&received).min_fail(), received.status, &detail!("send ok; receive: {}", How(received)));
    }
    let n = received.info.min(payload.len());
    let same = received.info == payload.len() && recv_op.data().and_then(|d| d.get(..n)) == Some(payload);
    let Some(mem) = recv_op.mem() else { return };
    let got = mem.addr[0];
    let len = addr_len(idx);
    let written = got.written_len();
    let exact = written == len && got.head(len) == peer(&target).head(len);
    let outcome = if same && exact { Outcome::Pass } else { Outcome::Fail };
    cx.push(name, outcome, received.status, &detail!("data {}; from {written}/{len} bytes port {}", if same { "ok" } else { "differs" }, got.port()));
}

/// What the event callbacks saw.
struct EventData {
    calls: u32,
    bytes: usize,
    data: [u8; 64],
    len: usize,
    unmapped: u32,
}

/// The event context: lives in pool until the socket's close completed.
type EventState = SpinLock<EventData>;

/// `WskReceiveEvent`. IRQL <= DISPATCH_LEVEL.
unsafe extern "C" fn on_receive(context: *mut c_void, _flags: u32, indication: *mut sys::WSK_DATA_INDICATION, size: u64, _accepted: *mut u64) -> i32 {
    // SAFETY: `context` is the EventState that outlives the socket's close.
    let Some(state) = (unsafe { context.cast::<EventState>().as_ref() }) else { return NtStatus::SUCCESS.0 };
    let mut data = state.lock();
    data.calls = data.calls.saturating_add(1);
    data.bytes = data.bytes.saturating_add(usize::try_from(size).unwrap_or(usize::MAX));
    let mut next = indication.cast_const();
    // SAFETY: the chain is valid during the callback.
    while let Some(item) = unsafe { next.as_ref() } {
        next = item.Next;
        let Some(slice) = mapped(&item.Buffer) else {
            data.unmapped = data.unmapped.saturating_add(1);
            continue;
        };
        for b in slice {
            let at = data.len;
            let Some(slot) = data.data.get_mut(at) else { break };
            *slot = *b;
            data.len = at.saturating_add(1);
        }
    }
    NtStatus::SUCCESS.0
}

/// `WskDisconnectEvent`. IRQL <= DISPATCH_LEVEL.
unsafe extern "C" fn on_disconnect(_context: *mut c_void, _flags: u32) -> i32 {
    NtStatus::SUCCESS.0
}

static EVENT_DISPATCH: sys::WSK_CLIENT_CONNECTION_DISPATCH =
    sys::WSK_CLIENT_CONNECTION_DISPATCH { WskReceiveEvent: Some(on_receive), WskDisconnectEvent: Some(on_disconnect), WskSendBacklogEvent: None };

/// The bytes of an indication buffer (`MmGetSystemAddressForMdlSafe`).
fn mapped<'a>(buf: &sys::WSK_BUF) -> Option<&'a [u8]> {
    // SAFETY: the MDL belongs to the indication, valid during the callback.
    let mdl = unsafe { buf.Mdl.as_ref() }?;
    let count = usize::try_from(mdl.ByteCount).ok()?;
    let offset = usize::try_from(buf.Offset).ok()?.min(count);
    let len = usize::try_from(buf.Length).ok()?.min(count.saturating_sub(offset));
    #[allow(clippy::cast_sign_loss)]
    let flags = u32::from(mdl.MdlFlags as u16);
    let base = if flags & (sys::MDL_MAPPED_TO_SYSTEM_VA | sys::MDL_SOURCE_IS_NONPAGED_POOL) != 0 {
        mdl.MappedSystemVa
    } else {
        let priority = sys::NormalPagePriority | sys::MdlMappingNoExecute;
        // SAFETY: the MDL describes locked pages of the indication; mapping them for the
        // callback is what MmGetSystemAddressForMdlSafe does.
        unsafe { sys::MmMapLockedPagesSpecifyCache(ptr::from_ref(mdl).cast_mut(), sys::KERNEL_MODE, sys::MmCached, ptr::null_mut(), 0, priority) }
    };
    if base.is_null() {
        return None;
    }
    // SAFETY: `base` maps the MDL's ByteCount bytes; offset + len <= ByteCount.
    Some(unsafe { core::slice::from_raw_parts(base.cast::<u8>().cast_const().wrapping_add(offset), len) })
}

/// SO_WSK_EVENT_CALLBACK enabling WSK_EVENT_RECEIVE on a connection socket created with a
/// client connection dispatch; the receive event then delivers the echoed bytes.
fn events(cx: &mut Cx<'_, '_>) {
    let (enable_name, deliver_name) = ("events.so_wsk_event_callback_enable_receive", "events.receive_event_delivers_echo");
    let Some(target) = pick(&cx.req.tcp_echo, 0) else { return };
    let Ok(state) = PoolBox::try_new(SpinLock::new(EventData { calls: 0, bytes: 0, data: [0; 64], len: 0, unmapped: 0 })) else { return };
    let context = state.as_ptr().cast::<c_void>();
    let dispatch = ptr::from_ref(&EVENT_DISPATCH).cast::<c_void>();
    let Some(mut op) = Op::new(64) else { return };
    let socket = match connect_to(cx, 0, peer(&target), context, dispatch) {
        Ok(s) => s,
        Err((what, obs)) => {
            cx.prerequisite(enable_name, what, &obs);
            cx.prerequisite(deliver_name, what, &obs);
            // The socket was closed inside `connect_to`, maybe without completing: keep the
            // context rather than free it under a late callback.
            return release_state(state, false);
        }
    };
    let status = match socket.basic().and_then(|b| b.WskControlSocket) {
        None => NtStatus::NOT_IMPLEMENTED,
        Some(f) => {
            let mut control = sys::WSK_EVENT_CALLBACK_CONTROL { NpiId: &raw const sys::NPI_WSK_INTERFACE_ID, EventMask: sys::WSK_EVENT_RECEIVE };
            let size = core::mem::size_of::<sys::WSK_EVENT_CALLBACK_CONTROL>() as u64;
            // SAFETY: the socket is open; SO_WSK_EVENT_CALLBACK takes no IRP, so `control`
            // only needs to live across the call.
            NtStatus(unsafe {
                f(
                    socket.as_ptr(),
                    sys::WskSetOption,
                    sys::SO_WSK_EVENT_CALLBACK,
                    sys::SOL_SOCKET,
                    size,
                    (&raw mut control).cast(),
                    0,
                    ptr::null_mut(),
                    ptr::null_mut(),
                    ptr::null_mut(),
                )
            })
        }
    };
    let enabled = status.is_success();
    let as_obs = Obs::not_made(status);
    let outcome = if enabled { Outcome::Pass } else { outcome_unless_unsupported(&as_obs) };
    cx.push(enable_name, outcome, status, &detail!("ret {} (no IRP)", St(status)));
    if !enabled {
        cx.prerequisite(deliver_name, "the receive event enabled", &as_obs);
        let close = socket.close();
        return release_state(state, close.completed);
    }
    let payload: &[u8] = b"wsk-rs conformance event";
    let sent = raw::send(&socket, &mut op, payload);
    let mut waited = Duration::ZERO;
    let step = Duration::from_millis(20);
    while sent.ok() && waited < ECHO_WAIT {
        if state.lock().len >= payload.len() {
            break;
        }
        raw::sleep(step);
        waited = waited.saturating_add(step);
    }
    let (calls, bytes, same, unmapped) = {
        let data = state.lock();
        (data.calls, data.bytes, data.data.get(..payload.len()) == Some(payload), data.unmapped)
    };
    let outcome = if same { Outcome::Pass } else { Outcome::Fail };
    cx.push(deliver_name, outcome, sent.status, &detail!("{calls} events, {bytes} bytes indicated, data {}, {unmapped} unmapped", if same { "ok" } else { "differs" }));
    let close = socket.close();
    release_state(state, close.completed);
}

/// Frees the event state once no callback can run (the close completed); leaks it otherwise.
fn release_state(state: PoolBox<EventState>, closed: bool) {
    if closed {
        drop(state);
    } else {
        raw::LEAKED.fetch_add(1, Ordering::AcqRel);
        let _ = state.into_raw();
    }
}
