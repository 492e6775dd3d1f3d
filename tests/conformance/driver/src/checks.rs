//! The checks. Each one exercises one piece of WSK behaviour against the provider in place
//! and records what the provider did (see `docs/running-on-linux.md` for the list).
//!
//! Conventions: `PASS` = as WSK documents; `UNSUPPORTED` = the provider said it does not
//! implement what the check needs (`STATUS_NOT_IMPLEMENTED`, `STATUS_NOT_SUPPORTED`, a NULL
//! dispatch entry) or a prerequisite step did; `FAIL` = anything else (wrong status or data,
//! an IRP never completed, a cancel ignored). Ops are declared before the sockets they use,
//! so that a socket is closed (completing whatever is still pending on it) before the op's
//! memory is released or abandoned. Every raw call goes through `raw`; this module has no
//! unsafe code.

#![deny(unsafe_code)]

use core::ffi::c_void;
use core::fmt;
use core::ptr;
use core::sync::atomic::Ordering;
use core::time::Duration;

use wsk::NtStatus;
use wsk_bindings as sys;
use wskrs_conformance_abi::{Outcome, PeerAddr, ReplyHeader, RunRequest};

use crate::raw::{self, AcceptSink, AddrBuf, Client, EventSink, Kind, Obs, Op, Socket};
use crate::report::{detail, Detail, Report, St};

/// How long a receive that should find echoed data may take.
const ECHO_WAIT: Duration = Duration::from_secs(3);
/// How long a provider gets to complete a cancelled receive.
const CANCEL_WAIT: Duration = Duration::from_secs(1);

/// Runs every check; writes the header and records into `out`; returns the bytes used.
/// IRQL: PASSIVE_LEVEL.
pub(crate) fn run(request: &RunRequest, out: &mut [u8], device: *mut sys::DEVICE_OBJECT) -> usize {
    let leaked_before = raw::LEAKED.load(Ordering::Acquire);
    let mut report = Report::new(out);
    let (client, status, step) = Client::register(3000);
    let version = client
        .as_ref()
        .and_then(Client::dispatch)
        .map_or(0, |(_, d)| d.Version);
    {
        let (outcome, text) = match (&client, version) {
            (Some(_), v) if status.is_success() => {
                let [major, minor] = v.to_be_bytes();
                (
                    Outcome::Pass,
                    detail!("captured; dispatch version {major}.{minor}"),
                )
            }
            _ => (Outcome::Fail, detail!("{step} failed")),
        };
        report.push("register.capture_provider_npi", outcome, status, &text);
    }
    let mut cx = Cx {
        client: client.as_ref(),
        req: request,
        report: &mut report,
    };
    for check in CHECKS {
        check(&mut cx);
    }
    // Every raw request above was judged against the WDM rules as it completed.
    crate::wdm::report(cx.report);
    // The `wsk` crate's own types, with a registration of their own.
    crate::lib_checks::run(device, request, &mut report);
    let open = raw::OPEN_SOCKETS.load(Ordering::Acquire);
    let outstanding = raw::OUTSTANDING.load(Ordering::Acquire);
    let released = client.is_none_or(Client::release);
    let (outcome, text) = if released {
        (
            Outcome::Pass,
            detail!("WskReleaseProviderNPI + WskDeregister returned"),
        )
    } else {
        (
            Outcome::Fail,
            detail!("skipped: {open} sockets open, {outstanding} IRPs pending (leaked)"),
        )
    };
    report.push(
        "deregister.after_all_sockets_closed",
        outcome,
        NtStatus::SUCCESS,
        &text,
    );

    let leaked = raw::LEAKED
        .load(Ordering::Acquire)
        .saturating_sub(leaked_before);
    let header = ReplyHeader {
        count: u32::try_from(report.count()).unwrap_or(0),
        provider_version: u32::from(version),
        leaked,
    };
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
    ioctl_receive_backlog,
    ioctl_sendto_address,
    stream_listen_accept,
    stream_connect_echo,
    accept_event_with_irp,
    strict_waiter_sequence,
    cancel_racing_completion,
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
        self.push(
            name,
            Outcome::Unsupported,
            obs.status,
            &detail!("needs {what}: {}", How(*obs)),
        );
    }

    /// A check that could not run because a synchronous call (no IRP) returned `status`.
    fn prerequisite_status(&mut self, name: &str, what: &str, status: NtStatus) {
        self.push(
            name,
            Outcome::Unsupported,
            status,
            &detail!("needs {what}: ret {}", St(status)),
        );
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
        if !o.made {
            write!(
                f,
                "not called: {}",
                if o.status == NtStatus::NOT_IMPLEMENTED {
                    "dispatch entry NULL"
                } else {
                    "no memory"
                }
            )
        } else if o.completed {
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
    let p = if idx == 0 {
        PeerAddr::v4_loopback(port)
    } else {
        PeerAddr::v6_loopback(port)
    };
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
fn connect_to(
    cx: &Cx<'_, '_>,
    idx: usize,
    to: AddrBuf,
    context: *mut c_void,
    dispatch: *const c_void,
) -> Result<Socket, (&'static str, Obs)> {
    let Some(client) = cx.client() else {
        return Err(("a client", Obs::not_made(raw::NOINTERFACE)));
    };
    let (obs, socket) = raw::socket(
        client,
        family(idx),
        Kind::Connection,
        context,
        dispatch,
        ptr::null_mut(),
    );
    let socket = socket.ok_or(("WskSocket", obs))?;
    let obs = raw::bind(&socket, unspecified(idx));
    if !obs.ok() {
        return Err(("WskBind", obs));
    }
    let Some(mut op) = Op::new(1) else {
        return Err(("memory", Obs::not_made(NtStatus::INSUFFICIENT_RESOURCES)));
    };
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
            cx.push(
                name,
                Outcome::Unsupported,
                raw::NOINTERFACE,
                &detail!("no provider NPI"),
            );
            continue;
        };
        let (obs, socket) = raw::socket(
            client,
            sys::AF_INET_FAMILY,
            kind,
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
        );
        match socket {
            Some(socket) => {
                let close = socket.close();
                let outcome = if close.ok() {
                    Outcome::Pass
                } else {
                    Outcome::Fail
                };
                cx.push(
                    name,
                    outcome,
                    obs.status,
                    &detail!("{}; close: {}", How(obs), How(close)),
                );
            }
            None => cx.simple(name, &obs, &detail!("no socket returned")),
        }
    }
}

/// Bind, connect, send and receive the echo, over IPv4 or IPv6.
fn echo(cx: &mut Cx<'_, '_>, idx: usize) {
    let name = if idx == 0 {
        "tcp4.connect_send_receive_echo"
    } else {
        "tcp6.connect_send_receive_echo"
    };
    let Some(target) = pick(&cx.req.tcp_echo, idx) else {
        return;
    };
    let payload: &[u8] = if idx == 0 {
        b"wsk-rs conformance: tcp4 echo 0123456789"
    } else {
        b"wsk-rs conformance: tcp6 echo 9876543210"
    };
    let (Some(mut send_op), Some(mut recv_op)) = (Op::new(256), Op::new(256)) else {
        return;
    };
    let socket = match connect_to(cx, idx, peer(&target), ptr::null_mut(), ptr::null()) {
        Ok(s) => s,
        Err((what, obs)) => {
            return cx.push(
                name,
                outcome_of(&obs),
                obs.status,
                &detail!("{what}: {}", How(obs)),
            )
        }
    };
    let sent = raw::send(&socket, &mut send_op, payload);
    if !sent.ok() || sent.info != payload.len() {
        return cx.push(
            name,
            Outcome::Fail,
            sent.status,
            &detail!("send: {} ({} bytes)", How(sent), sent.info),
        );
    }
    let mut back = [0u8; 64];
    let (obs, got) = raw::receive_exact(&socket, &mut recv_op, payload.len(), &mut back, ECHO_WAIT);
    let same = back.get(..got) == Some(payload);
    let outcome = if same { Outcome::Pass } else { Outcome::Fail };
    cx.push(
        name,
        outcome,
        obs.status,
        &detail!(
            "{} of {} bytes echoed; last receive {}",
            got,
            payload.len(),
            How(obs)
        ),
    );
}

/// Listen on loopback, connect from an explicitly bound client, and compare the addresses
/// `WskAccept` returns with the client's and the listener's, byte for byte (28 bytes for IPv6).
fn accept_addresses(cx: &mut Cx<'_, '_>, idx: usize) {
    let name = if idx == 0 {
        "tcp4.accept_returns_full_addresses"
    } else {
        "tcp6.accept_returns_full_addresses"
    };
    let spare = cx.req.spare_ports.get(idx).copied().unwrap_or_default();
    let [listen_port, client_port, ..] = spare;
    let Some(client) = cx.client() else {
        return cx.prerequisite(name, "a client", &Obs::not_made(raw::NOINTERFACE));
    };
    let (Some(mut accept_op), Some(mut connect_op)) = (Op::new(1), Op::new(1)) else {
        return;
    };
    let (obs, listener) = raw::socket(
        client,
        family(idx),
        Kind::Listen,
        ptr::null_mut(),
        ptr::null_mut(),
        ptr::null_mut(),
    );
    let Some(listener) = listener else {
        return cx.prerequisite(name, "WskSocket(listen)", &obs);
    };
    let obs = raw::bind(&listener, loopback(idx, listen_port));
    if !obs.ok() {
        return cx.prerequisite(name, "WskBind(listen)", &obs);
    }
    if let Err(obs) = raw::issue_accept(&listener, &mut accept_op) {
        return cx.simple(name, &obs, &detail!(""));
    }

    let (obs, connecting) = raw::socket(
        client,
        family(idx),
        Kind::Connection,
        ptr::null_mut(),
        ptr::null_mut(),
        ptr::null_mut(),
    );
    let Some(connecting) = connecting else {
        return cx.prerequisite(name, "WskSocket(connection)", &obs);
    };
    let obs = raw::bind(&connecting, loopback(idx, client_port));
    if !obs.ok() {
        return cx.prerequisite(name, "WskBind(client)", &obs);
    }
    let connected = raw::connect(
        &connecting,
        &mut connect_op,
        loopback(idx, listen_port),
        raw::WAIT,
    );
    let accepted = accept_op.observe(raw::WAIT);
    let _accepted_socket = if accepted.ok() {
        Socket::from_info(accepted.info, Kind::Connection)
    } else {
        None
    };
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
    let local_ok =
        local_written == len && got_local.head(len) == loopback(idx, listen_port).head(len);
    let outcome = if exact && local_ok && connected.ok() {
        Outcome::Pass
    } else {
        Outcome::Fail
    };
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
    let name = if idx == 0 {
        "tcp4.connect_refused_completes_irp"
    } else {
        "tcp6.connect_refused_completes_irp"
    };
    let Some(target) = pick(&cx.req.closed, idx) else {
        return;
    };
    let Some(client) = cx.client() else {
        return cx.prerequisite(name, "a client", &Obs::not_made(raw::NOINTERFACE));
    };
    let Some(mut op) = Op::new(1) else { return };
    let (obs, socket) = raw::socket(
        client,
        family(idx),
        Kind::Connection,
        ptr::null_mut(),
        ptr::null_mut(),
        ptr::null_mut(),
    );
    let Some(socket) = socket else {
        return cx.prerequisite(name, "WskSocket", &obs);
    };
    let obs = raw::bind(&socket, unspecified(idx));
    if !obs.ok() {
        return cx.prerequisite(name, "WskBind", &obs);
    }
    let obs = raw::connect(&socket, &mut op, peer(&target), raw::WAIT);
    let outcome = if obs.completed && obs.status == NtStatus::CONNECTION_REFUSED {
        Outcome::Pass
    } else {
        Outcome::Fail
    };
    cx.push(name, outcome, obs.status, &detail!("{}", How(obs)));
}

/// A request rejected synchronously still completes its IRP (with the error), and the call
/// returns that error or STATUS_PENDING.
fn sync_failures(cx: &mut Cx<'_, '_>) {
    let Some(target) = pick(&cx.req.tcp_echo, 0) else {
        return;
    };
    for (name, bad_bind) in [
        ("sync_failure.connect_unbound_completes_irp", false),
        ("sync_failure.bind_bad_family_completes_irp", true),
    ] {
        let Some(client) = cx.client() else {
            return cx.prerequisite(name, "a client", &Obs::not_made(raw::NOINTERFACE));
        };
        let Some(mut op) = Op::new(1) else { return };
        let (obs, socket) = raw::socket(
            client,
            sys::AF_INET_FAMILY,
            Kind::Connection,
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
        );
        let Some(socket) = socket else {
            return cx.prerequisite(name, "WskSocket", &obs);
        };
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
    let Some(target) = pick(&cx.req.tcp_echo, 0) else {
        return;
    };
    let Some(mut op) = Op::new(64) else { return };
    let socket = match connect_to(cx, 0, peer(&target), ptr::null_mut(), ptr::null()) {
        Ok(s) => s,
        Err((what, obs)) => return cx.prerequisite(name, what, &obs),
    };
    let returned = raw::issue_receive(&socket, &mut op, 64);
    if returned != NtStatus::PENDING || op.wait(Duration::ZERO) {
        let obs = op.observe(Duration::ZERO);
        let outcome = if obs.unsupported() {
            Outcome::Unsupported
        } else {
            Outcome::Fail
        };
        return cx.push(
            name,
            outcome,
            obs.status,
            &detail!("receive did not pend: {}", How(obs)),
        );
    }
    let accepted = op.cancel();
    if op.wait(CANCEL_WAIT) {
        let obs = op.current(true);
        let outcome = if obs.status == NtStatus::CANCELLED {
            Outcome::Pass
        } else {
            Outcome::Fail
        };
        return cx.push(
            name,
            outcome,
            obs.status,
            &detail!("IoCancelIrp={}; {}", u8::from(accepted), How(obs)),
        );
    }
    let close = socket.close();
    let after = if op.wait(Duration::from_secs(2)) {
        op.current(true)
    } else {
        op.current(false)
    };
    cx.push(
        name,
        Outcome::Fail,
        NtStatus::TIMEOUT,
        &detail!(
            "ignored (IoCancelIrp={}); after close: {}",
            u8::from(accepted),
            if close.completed {
                St(after.status)
            } else {
                St(NtStatus::TIMEOUT)
            }
        ),
    );
}

/// WskCloseSocket with a receive pending: the receive completes (STATUS_CANCELLED) before
/// the close does.
fn close_cancels_receive(cx: &mut Cx<'_, '_>) {
    let name = "close.cancels_pending_receive_first";
    let Some(target) = pick(&cx.req.tcp_echo, 0) else {
        return;
    };
    let (Some(mut recv_op), Some(mut close_op)) = (Op::new(64), Op::new(1)) else {
        return;
    };
    let mut socket = match connect_to(cx, 0, peer(&target), ptr::null_mut(), ptr::null()) {
        Ok(s) => s,
        Err((what, obs)) => return cx.prerequisite(name, what, &obs),
    };
    let returned = raw::issue_receive(&socket, &mut recv_op, 64);
    if returned != NtStatus::PENDING || recv_op.wait(Duration::ZERO) {
        let obs = recv_op.observe(Duration::ZERO);
        return cx.push(
            name,
            outcome_unless_unsupported(&obs),
            obs.status,
            &detail!("receive did not pend: {}", How(obs)),
        );
    }
    socket.issue_close(&mut close_op);
    let close = close_op.observe(raw::WAIT);
    if close.completed {
        socket.closed();
    }
    let recv_done = recv_op.wait(if close.completed {
        Duration::from_millis(500)
    } else {
        Duration::ZERO
    });
    let recv = recv_op.current(recv_done);
    let (recv_seq, close_seq) = (recv_op.seq(), close_op.seq());
    let first = recv.completed && close.completed && recv_seq < close_seq;
    let outcome = if first && recv.status == NtStatus::CANCELLED && close.ok() {
        Outcome::Pass
    } else {
        Outcome::Fail
    };
    cx.push(
        name,
        outcome,
        recv.status,
        &detail!(
            "receive {} #{recv_seq}, close {} #{close_seq}",
            St(recv.status),
            if close.completed {
                St(close.status)
            } else {
                St(NtStatus::TIMEOUT)
            }
        ),
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
        let Some(target) = pick(&cx.req.tcp_echo, idx) else {
            return;
        };
        let Some(mut op) = Op::new(1) else { return };
        let socket = match connect_to(cx, idx, peer(&target), ptr::null_mut(), ptr::null()) {
            Ok(s) => s,
            Err((what, obs)) => {
                cx.prerequisite(name, what, &obs);
                continue;
            }
        };
        let obs = raw::get_address(&socket, &mut op, remote);
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
            got.family() == sys::AF_INET_FAMILY
                && got.port() != 0
                && got.head(16).get(4..8) == want.head(16).get(4..8)
        };
        let outcome = if ok { Outcome::Pass } else { Outcome::Fail };
        cx.push(
            name,
            outcome,
            obs.status,
            &detail!(
                "family {} port {} ({written}/{len} bytes written)",
                got.family(),
                got.port()
            ),
        );
    }
}

/// SO_REUSEADDR (before bind), TCP_NODELAY and SO_RCVBUF (connected): set, then get.
fn options(cx: &mut Cx<'_, '_>) {
    let Some(target) = pick(&cx.req.tcp_echo, 0) else {
        return;
    };
    let Some(client) = cx.client() else { return };
    let (obs, fresh) = raw::socket(
        client,
        sys::AF_INET_FAMILY,
        Kind::Connection,
        ptr::null_mut(),
        ptr::null_mut(),
        ptr::null_mut(),
    );
    match fresh {
        Some(fresh) => round_trip(
            cx,
            "opt.so_reuseaddr_set_get",
            &fresh,
            sys::SOL_SOCKET,
            sys::SO_REUSEADDR,
            1,
            false,
        ),
        None => cx.prerequisite("opt.so_reuseaddr_set_get", "WskSocket", &obs),
    }
    let socket = match connect_to(cx, 0, peer(&target), ptr::null_mut(), ptr::null()) {
        Ok(s) => s,
        Err((what, obs)) => {
            cx.prerequisite("opt.tcp_nodelay_set_get", what, &obs);
            return cx.prerequisite("opt.so_rcvbuf_set_get", what, &obs);
        }
    };
    round_trip(
        cx,
        "opt.tcp_nodelay_set_get",
        &socket,
        sys::IPPROTO_TCP,
        sys::TCP_NODELAY,
        1,
        false,
    );
    round_trip(
        cx,
        "opt.so_rcvbuf_set_get",
        &socket,
        sys::SOL_SOCKET,
        sys::SO_RCVBUF,
        48 * 1024,
        true,
    );
    tcp_keepcnt(cx, &socket);
}

/// `TCP_KEEPCNT` (Windows 10 1703+, which Wine 8.0's Winsock refuses): Windows' default 10
/// ("the number of keep-alive probes ... is set to 10", SIO_KEEPALIVE_VALS), set 5 and read
/// back, and 256 refused ("it is illegal to set TCP_KEEPCNT to a value greater than 255")
/// with the value kept.
fn tcp_keepcnt(cx: &mut Cx<'_, '_>, socket: &Socket) {
    let name = "opt.tcp_keepcnt_default_set_get_validated";
    let (first, initial) = raw::control_socket(
        socket,
        sys::WskGetOption,
        sys::IPPROTO_TCP,
        sys::TCP_KEEPCNT,
        None,
    );
    if !first.ok() {
        return cx.simple(name, &first, &detail!(""));
    }
    let (set, _) = raw::control_socket(
        socket,
        sys::WskSetOption,
        sys::IPPROTO_TCP,
        sys::TCP_KEEPCNT,
        Some(5),
    );
    let (_, read) = raw::control_socket(
        socket,
        sys::WskGetOption,
        sys::IPPROTO_TCP,
        sys::TCP_KEEPCNT,
        None,
    );
    let (too_big, _) = raw::control_socket(
        socket,
        sys::WskSetOption,
        sys::IPPROTO_TCP,
        sys::TCP_KEEPCNT,
        Some(256),
    );
    let (_, kept) = raw::control_socket(
        socket,
        sys::WskGetOption,
        sys::IPPROTO_TCP,
        sys::TCP_KEEPCNT,
        None,
    );
    let refused = too_big.completed && too_big.status == NtStatus::INVALID_PARAMETER;
    let ok = initial == 10 && set.ok() && read == 5 && refused && kept == 5;
    cx.push(
        name,
        if ok { Outcome::Pass } else { Outcome::Fail },
        set.status,
        &detail!(
            "initial {initial}, set 5 -> {}, read {read}; set 256 -> {}, then {kept}",
            St(set.status),
            St(too_big.status)
        ),
    );
}

/// Reads the initial value, sets `value`, reads it back. `at_least`: the value read back may
/// exceed the one set (a Linux-backed stack doubles buffer sizes); otherwise any non-zero
/// value matches a boolean `1`.
#[allow(clippy::too_many_arguments)]
fn round_trip(
    cx: &mut Cx<'_, '_>,
    name: &str,
    socket: &Socket,
    level: u32,
    code: u32,
    value: u32,
    at_least: bool,
) {
    let (first, initial) = raw::control_socket(socket, sys::WskGetOption, level, code, None);
    let (set, _) = raw::control_socket(socket, sys::WskSetOption, level, code, Some(value));
    if !set.ok() {
        return cx.simple(name, &set, &detail!(""));
    }
    let (get, read) = raw::control_socket(socket, sys::WskGetOption, level, code, None);
    if !get.ok() {
        return cx.push(
            name,
            outcome_of(&get),
            get.status,
            &detail!("set ok; get: {}", How(get)),
        );
    }
    let ok = if at_least { read >= value } else { read != 0 };
    let outcome = if ok { Outcome::Pass } else { Outcome::Fail };
    let initial_text = if first.ok() { initial } else { u32::MAX };
    cx.push(
        name,
        outcome,
        get.status,
        &detail!("initial {initial_text}, set {value}, read back {read}"),
    );
}

/// `WskControlClient` without an IRP through the client, if there is one.
fn control_client(
    cx: &Cx<'_, '_>,
    code: u32,
    input: &mut *mut c_void,
    output: Option<&mut *mut c_void>,
) -> NtStatus {
    cx.client().map_or(raw::NOINTERFACE, |client| {
        raw::control_client(client, code, input, output)
    })
}

/// WSK_CACHE_SD, SO_WSK_SECURITY (set before bind, get), WSK_RELEASE_SD.
fn security(cx: &mut Cx<'_, '_>) {
    let mut sd_buf = wsk::security::SecurityDescriptorBuf::<256>::new();
    let Ok(sd) = sd_buf.from_sddl("D:P(A;;GA;;;SY)(A;;GA;;;BA)") else {
        return;
    };
    let mut input: *mut c_void = sd.as_bytes().as_ptr().cast_mut().cast();
    let mut cached: *mut c_void = ptr::null_mut();
    let status = control_client(cx, sys::WSK_CACHE_SD, &mut input, Some(&mut cached));
    let cache_ok = status.is_success() && !cached.is_null();
    let outcome = if cache_ok {
        Outcome::Pass
    } else {
        outcome_unless_unsupported(&Obs::not_made(status))
    };
    cx.push(
        "client.wsk_cache_sd",
        outcome,
        status,
        &detail!(
            "ret {}; copy {}",
            St(status),
            if cached.is_null() { "NULL" } else { "returned" }
        ),
    );

    let name = "opt.so_wsk_security_set_before_bind_get";
    let mut release_ok_to_try = cache_ok;
    if !cache_ok {
        cx.prerequisite_status(name, "WSK_CACHE_SD", status);
    } else if let Some(client) = cx.client() {
        let Some(mut op) = Op::new(1) else { return };
        let (obs, socket) = raw::socket(
            client,
            sys::AF_INET_FAMILY,
            Kind::Listen,
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
        );
        match socket {
            None => cx.prerequisite(name, "WskSocket(listen)", &obs),
            Some(socket) => {
                let (set, _) = raw::socket_security(&socket, &mut op, Some(cached));
                if op.in_flight() {
                    // The provider may still read the descriptor: never release it.
                    release_ok_to_try = false;
                }
                if set.ok() {
                    let (get, mut got) = raw::socket_security(&socket, &mut op, None);
                    let bound = raw::bind(&socket, loopback(0, cx.req.spare_ports[0][2]));
                    let outcome = if get.ok() && !got.is_null() {
                        Outcome::Pass
                    } else {
                        outcome_of(&get).min_fail()
                    };
                    cx.push(
                        name,
                        outcome,
                        get.status,
                        &detail!(
                            "set ok; get {} ({}); bind {}",
                            St(get.status),
                            if got.is_null() { "NULL" } else { "a copy" },
                            St(bound.status)
                        ),
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
        let outcome = if status.is_success() {
            Outcome::Pass
        } else {
            outcome_unless_unsupported(&Obs::not_made(status))
        };
        cx.push(name, outcome, status, &detail!("ret {}", St(status)));
    } else {
        cx.prerequisite_status(name, "a cached descriptor", status);
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
    let name = if abortive {
        "tcp4.disconnect_abortive"
    } else {
        "tcp4.disconnect_graceful"
    };
    let Some(target) = pick(&cx.req.tcp_echo, 0) else {
        return;
    };
    let (Some(mut op), Some(mut recv_op)) = (Op::new(64), Op::new(64)) else {
        return;
    };
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
    let flags = if abortive { sys::WSK_FLAG_ABORTIVE } else { 0 };
    let obs = raw::disconnect(&socket, &mut op, flags);
    if !obs.ok() {
        return cx.simple(name, &obs, &detail!(""));
    }
    if abortive {
        let after = raw::send(&socket, &mut op, payload);
        let outcome = if after.completed && !after.status.is_success() {
            Outcome::Pass
        } else {
            Outcome::Fail
        };
        return cx.push(
            name,
            outcome,
            obs.status,
            &detail!("disconnect ok; later send: {}", How(after)),
        );
    }
    let mut back = [0u8; 8];
    let (r, got) = raw::receive_exact(&socket, &mut recv_op, payload.len(), &mut back, ECHO_WAIT);
    let (eof, _) = raw::receive_exact(&socket, &mut recv_op, 1, &mut back, ECHO_WAIT);
    let echoed = back.get(..got) == Some(payload.as_slice());
    let clean_eof = eof.ok() && eof.info == 0;
    let outcome = if echoed && clean_eof {
        Outcome::Pass
    } else {
        Outcome::Fail
    };
    cx.push(
        name,
        outcome,
        obs.status,
        &detail!(
            "echo {got}/3 ({}), then {} {} bytes",
            St(r.status),
            St(eof.status),
            eof.info
        ),
    );
}

/// WskSocketConnect to the IPv4 echo server, then an echo through the new socket.
fn socket_connect(cx: &mut Cx<'_, '_>) {
    let name = "client.wsk_socket_connect";
    let Some(target) = pick(&cx.req.tcp_echo, 0) else {
        return;
    };
    let Some(client) = cx.client() else {
        return cx.prerequisite(name, "a client", &Obs::not_made(raw::NOINTERFACE));
    };
    let (Some(mut op), Some(mut io)) = (Op::new(1), Op::new(64)) else {
        return;
    };
    let (obs, socket) = raw::socket_connect(client, &mut op, unspecified(0), peer(&target));
    let Some(socket) = socket else {
        return cx.simple(name, &obs, &detail!("no socket returned"));
    };
    let sent = raw::send(&socket, &mut io, b"hello");
    let mut back = [0u8; 8];
    let (_, got) = raw::receive_exact(&socket, &mut io, 5, &mut back, ECHO_WAIT);
    let outcome = if sent.ok() && back.get(..got) == Some(b"hello".as_slice()) {
        Outcome::Pass
    } else {
        Outcome::Fail
    };
    cx.push(
        name,
        outcome,
        obs.status,
        &detail!("connected; echo {got}/5 bytes"),
    );
}

/// WskGetAddressInfo("localhost") finds a loopback address.
fn get_address_info(cx: &mut Cx<'_, '_>) {
    let name = "client.wsk_get_address_info_localhost";
    let Some(client) = cx.client() else {
        return cx.prerequisite(name, "a client", &Obs::not_made(raw::NOINTERFACE));
    };
    let (obs, resolved) = raw::get_address_info(client, "localhost");
    if !obs.ok() {
        return cx.simple(name, &obs, &detail!(""));
    }
    let loopback_found = resolved.addrs.iter().flatten().any(|a| {
        let v4 = a.family() == sys::AF_INET_FAMILY
            && a.head(8).get(4..8) == Some([127u8, 0, 0, 1].as_slice());
        let v6 = a.family() == sys::AF_INET6_FAMILY
            && a.head(24).get(8..24)
                == Some(loopback(1, 0).head(24).get(8..24).unwrap_or_default());
        v4 || v6
    });
    let outcome = if loopback_found {
        Outcome::Pass
    } else {
        Outcome::Fail
    };
    cx.push(
        name,
        outcome,
        obs.status,
        &detail!(
            "{} entries, first family {}, loopback {}",
            resolved.count,
            resolved.first_family,
            u8::from(loopback_found)
        ),
    );
}

/// WskGetNameInfo(127.0.0.1) gives a host name.
fn get_name_info(cx: &mut Cx<'_, '_>) {
    let name = "client.wsk_get_name_info_127.0.0.1";
    let Some(client) = cx.client() else {
        return cx.prerequisite(name, "a client", &Obs::not_made(raw::NOINTERFACE));
    };
    let mut node = [0u8; 40];
    let (obs, n) = raw::get_name_info(client, loopback(0, 80), &mut node);
    if !obs.ok() {
        return cx.simple(name, &obs, &detail!(""));
    }
    let text = core::str::from_utf8(node.get(..n).unwrap_or_default()).unwrap_or("?");
    let outcome = if n > 0 { Outcome::Pass } else { Outcome::Fail };
    cx.push(name, outcome, obs.status, &detail!("node {text}"));
}

/// WskSendTo to the UDP echo server, WskReceiveFrom of the echo with its full remote address.
fn datagram(cx: &mut Cx<'_, '_>, idx: usize) {
    let name = if idx == 0 {
        "udp4.send_to_receive_from_with_address"
    } else {
        "udp6.send_to_receive_from_with_address"
    };
    let Some(target) = pick(&cx.req.udp_echo, idx) else {
        return;
    };
    let Some(client) = cx.client() else {
        return cx.prerequisite(name, "a client", &Obs::not_made(raw::NOINTERFACE));
    };
    let (Some(mut recv_op), Some(mut send_op)) = (Op::new(128), Op::new(128)) else {
        return;
    };
    let (obs, socket) = raw::socket(
        client,
        family(idx),
        Kind::Datagram,
        ptr::null_mut(),
        ptr::null_mut(),
        ptr::null_mut(),
    );
    let Some(socket) = socket else {
        return cx.simple(name, &obs, &detail!(""));
    };
    let obs = raw::bind(&socket, unspecified(idx));
    if !obs.ok() {
        return cx.prerequisite(name, "WskBind", &obs);
    }
    // Receive first, so the echo cannot arrive before a receive is posted.
    let returned = raw::issue_receive_from(&socket, &mut recv_op, 128);
    if !recv_op.in_flight() && returned == NtStatus::NOT_IMPLEMENTED {
        return cx.simple(name, &Obs::not_made(returned), &detail!(""));
    }
    let payload: &[u8] = if idx == 0 {
        b"wsk-rs conformance udp4"
    } else {
        b"wsk-rs conformance udp6"
    };
    let sent = raw::send_to(&socket, &mut send_op, payload, peer(&target));
    if !sent.ok() {
        return cx.simple(name, &sent, &detail!(""));
    }
    let received = if returned == NtStatus::PENDING {
        recv_op.observe(ECHO_WAIT)
    } else {
        recv_op.observe(Duration::ZERO)
    };
    if !received.ok() {
        return cx.push(
            name,
            outcome_of(&received).min_fail(),
            received.status,
            &detail!("send ok; receive: {}", How(received)),
        );
    }
    let n = received.info.min(payload.len());
    let same =
        received.info == payload.len() && recv_op.data().and_then(|d| d.get(..n)) == Some(payload);
    let Some(mem) = recv_op.mem() else { return };
    let got = mem.addr[0];
    let len = addr_len(idx);
    let written = got.written_len();
    let exact = written == len && got.head(len) == peer(&target).head(len);
    let outcome = if same && exact {
        Outcome::Pass
    } else {
        Outcome::Fail
    };
    cx.push(
        name,
        outcome,
        received.status,
        &detail!(
            "data {}; from {written}/{len} bytes port {}",
            if same { "ok" } else { "differs" },
            got.port()
        ),
    );
}

/// SO_WSK_EVENT_CALLBACK enabling WSK_EVENT_RECEIVE on a connection socket created with a
/// client connection dispatch; the receive event then delivers the echoed bytes.
fn events(cx: &mut Cx<'_, '_>) {
    let (enable_name, deliver_name) = (
        "events.so_wsk_event_callback_enable_receive",
        "events.receive_event_delivers_echo",
    );
    let Some(target) = pick(&cx.req.tcp_echo, 0) else {
        return;
    };
    let Some(sink) = EventSink::new() else { return };
    let Some(mut op) = Op::new(64) else { return };
    let socket = match connect_to(cx, 0, peer(&target), sink.context(), EventSink::dispatch()) {
        Ok(s) => s,
        Err((what, obs)) => {
            cx.prerequisite(enable_name, what, &obs);
            cx.prerequisite(deliver_name, what, &obs);
            // The socket was closed inside `connect_to`, maybe without completing: keep the
            // context rather than free it under a late callback.
            return sink.release(false);
        }
    };
    let status = raw::event_callbacks(&socket, sys::WSK_EVENT_RECEIVE);
    let enabled = status.is_success();
    let as_obs = Obs::not_made(status);
    let outcome = if enabled {
        Outcome::Pass
    } else {
        outcome_unless_unsupported(&as_obs)
    };
    cx.push(
        enable_name,
        outcome,
        status,
        &detail!("ret {} (no IRP)", St(status)),
    );
    if !enabled {
        cx.push(
            deliver_name,
            Outcome::Unsupported,
            status,
            &detail!("needs the receive event enabled"),
        );
        let close = socket.close();
        return sink.release(close.completed);
    }
    let payload: &[u8] = b"wsk-rs conformance event";
    let sent = raw::send(&socket, &mut op, payload);
    let mut waited = Duration::ZERO;
    let step = Duration::from_millis(20);
    while sent.ok() && waited < ECHO_WAIT && sink.snapshot().len < payload.len() {
        raw::sleep(step);
        waited = waited.saturating_add(step);
    }
    let seen = sink.snapshot();
    let same = seen.data.get(..payload.len()) == Some(payload);
    let outcome = if same { Outcome::Pass } else { Outcome::Fail };
    cx.push(
        deliver_name,
        outcome,
        sent.status,
        &detail!(
            "{} events, {} bytes, data {}, {} unmapped",
            seen.calls,
            seen.bytes,
            if same { "ok" } else { "differs" },
            seen.unmapped
        ),
    );
    let close = socket.close();
    sink.release(close.completed);
}

/// `WskIoctl(SIO_WSK_QUERY_RECEIVE_BACKLOG)` (IRP, `SIZE_T` out) on a connection whose echo
/// arrived and was not received yet reports exactly those bytes; a receive then gets them.
fn ioctl_receive_backlog(cx: &mut Cx<'_, '_>) {
    let name = "ioctl.receive_backlog_with_queued_data";
    let Some(target) = pick(&cx.req.tcp_echo, 0) else {
        return;
    };
    let (Some(mut send_op), Some(mut recv_op)) = (Op::new(64), Op::new(64)) else {
        return;
    };
    let socket = match connect_to(cx, 0, peer(&target), ptr::null_mut(), ptr::null()) {
        Ok(s) => s,
        Err((what, obs)) => return cx.prerequisite(name, what, &obs),
    };
    let payload: &[u8] = b"wsk-rs backlog 0123456789";
    let sent = raw::send(&socket, &mut send_op, payload);
    if !sent.ok() {
        return cx.prerequisite(name, "WskSend", &sent);
    }
    // Poll until the whole echo is queued (bounded): each query is one IRP.
    let step = Duration::from_millis(50);
    let mut waited = Duration::ZERO;
    let (mut obs, mut value) = raw::ioctl_size(&socket, sys::SIO_WSK_QUERY_RECEIVE_BACKLOG);
    while obs.ok() && value < payload.len() as u64 && waited < ECHO_WAIT {
        raw::sleep(step);
        waited = waited.saturating_add(step);
        (obs, value) = raw::ioctl_size(&socket, sys::SIO_WSK_QUERY_RECEIVE_BACKLOG);
    }
    if !obs.ok() {
        return cx.simple(name, &obs, &detail!(""));
    }
    let mut back = [0u8; 64];
    let (_, got) = raw::receive_exact(&socket, &mut recv_op, payload.len(), &mut back, ECHO_WAIT);
    let (after_obs, after) = raw::ioctl_size(&socket, sys::SIO_WSK_QUERY_RECEIVE_BACKLOG);
    let exact = value == payload.len() as u64 && obs.info == 8;
    let drained = back.get(..got) == Some(payload) && after_obs.ok() && after == 0;
    let outcome = if exact && drained {
        Outcome::Pass
    } else {
        Outcome::Fail
    };
    cx.push(
        name,
        outcome,
        obs.status,
        &detail!(
            "backlog {value} of {} ({}B out); received {got}; then {after}",
            payload.len(),
            obs.info
        ),
    );
}

/// `WskIoctl(SIO_WSK_SET_SENDTO_ADDRESS)` (IRP) on a bound datagram socket, then `WskSendTo`
/// with a NULL remote address reaches the UDP echo server; the echo comes back from it.
fn ioctl_sendto_address(cx: &mut Cx<'_, '_>) {
    let name = "ioctl.set_sendto_address_then_send_to_null";
    let Some(target) = pick(&cx.req.udp_echo, 0) else {
        return;
    };
    let Some(client) = cx.client() else {
        return cx.prerequisite(name, "a client", &Obs::not_made(raw::NOINTERFACE));
    };
    let (Some(mut recv_op), Some(mut send_op)) = (Op::new(128), Op::new(128)) else {
        return;
    };
    let (obs, socket) = raw::socket(
        client,
        family(0),
        Kind::Datagram,
        ptr::null_mut(),
        ptr::null_mut(),
        ptr::null_mut(),
    );
    let Some(socket) = socket else {
        return cx.prerequisite(name, "WskSocket(datagram)", &obs);
    };
    let obs = raw::bind(&socket, unspecified(0));
    if !obs.ok() {
        return cx.prerequisite(name, "WskBind", &obs);
    }
    let fixed = raw::ioctl_set_address(&socket, sys::SIO_WSK_SET_SENDTO_ADDRESS, peer(&target));
    if !fixed.ok() {
        return cx.simple(name, &fixed, &detail!(""));
    }
    let returned = raw::issue_receive_from(&socket, &mut recv_op, 128);
    if !recv_op.in_flight() && returned == NtStatus::NOT_IMPLEMENTED {
        return cx.prerequisite(name, "WskReceiveFrom", &Obs::not_made(returned));
    }
    let payload: &[u8] = b"wsk-rs conformance fixed sendto";
    let sent = raw::send_to_opt(&socket, &mut send_op, payload, None);
    if !sent.ok() || sent.info != payload.len() {
        return cx.push(
            name,
            outcome_of(&sent).min_fail(),
            sent.status,
            &detail!("set ok; send to NULL: {} ({} bytes)", How(sent), sent.info),
        );
    }
    let received = if returned == NtStatus::PENDING {
        recv_op.observe(ECHO_WAIT)
    } else {
        recv_op.observe(Duration::ZERO)
    };
    if !received.ok() {
        return cx.push(
            name,
            Outcome::Fail,
            received.status,
            &detail!("set ok; sent; receive: {}", How(received)),
        );
    }
    let n = received.info.min(payload.len());
    let same =
        received.info == payload.len() && recv_op.data().and_then(|d| d.get(..n)) == Some(payload);
    let Some(mem) = recv_op.mem() else { return };
    let from = mem.addr[0];
    let from_target = from.head(16) == peer(&target).head(16);
    let outcome = if same && from_target {
        Outcome::Pass
    } else {
        Outcome::Fail
    };
    cx.push(
        name,
        outcome,
        received.status,
        &detail!(
            "echo {}; from port {}",
            if same { "ok" } else { "differs" },
            from.port()
        ),
    );
}

/// A stream socket (`WSK_FLAG_STREAM_SOCKET`): `WskBind` to a loopback port, `WskListen`,
/// then `WskAccept` takes a connection from a connection socket.
fn stream_listen_accept(cx: &mut Cx<'_, '_>) {
    let name = "stream.bind_listen_accept";
    let port = cx.req.spare_ports.first().map_or(0, |p| p[3]);
    let Some(client) = cx.client() else {
        return cx.prerequisite(name, "a client", &Obs::not_made(raw::NOINTERFACE));
    };
    let (Some(mut accept_op), Some(mut connect_op)) = (Op::new(1), Op::new(1)) else {
        return;
    };
    let (obs, listener) = raw::socket(
        client,
        family(0),
        Kind::Stream,
        ptr::null_mut(),
        ptr::null_mut(),
        ptr::null_mut(),
    );
    let Some(listener) = listener else {
        return cx.prerequisite(name, "WskSocket(stream)", &obs);
    };
    let obs = raw::bind(&listener, loopback(0, port));
    if !obs.ok() {
        return cx.prerequisite(name, "WskBind(stream)", &obs);
    }
    let listen_obs = raw::listen(&listener);
    if !listen_obs.ok() {
        return cx.simple(name, &listen_obs, &detail!(""));
    }
    if let Err(obs) = raw::issue_accept(&listener, &mut accept_op) {
        return cx.push(
            name,
            outcome_of(&obs).min_fail(),
            obs.status,
            &detail!("listen ok; accept: {}", How(obs)),
        );
    }
    let (obs, connecting) = raw::socket(
        client,
        family(0),
        Kind::Connection,
        ptr::null_mut(),
        ptr::null_mut(),
        ptr::null_mut(),
    );
    let Some(connecting) = connecting else {
        return cx.prerequisite(name, "WskSocket(connection)", &obs);
    };
    let obs = raw::bind(&connecting, unspecified(0));
    if !obs.ok() {
        return cx.prerequisite(name, "WskBind(client)", &obs);
    }
    let connected = raw::connect(&connecting, &mut connect_op, loopback(0, port), raw::WAIT);
    let accepted = accept_op.observe(raw::WAIT);
    let _accepted_socket = if accepted.ok() {
        Socket::from_info(accepted.info, Kind::Connection)
    } else {
        None
    };
    let remote_port = accept_op.mem().map_or(0, |m| m.addr[1].port());
    let outcome = if accepted.ok() && connected.ok() && remote_port != 0 {
        Outcome::Pass
    } else {
        Outcome::Fail
    };
    cx.push(
        name,
        outcome,
        accepted.status,
        &detail!(
            "listen ok; accept {}; connect {}; peer port {remote_port}",
            How(accepted),
            St(connected.status)
        ),
    );
}

/// A stream socket: `WskBind`, `WskConnect` to the TCP echo server, send and receive the echo
/// through `WSK_PROVIDER_STREAM_DISPATCH`.
fn stream_connect_echo(cx: &mut Cx<'_, '_>) {
    let name = "stream.bind_connect_echo";
    let Some(target) = pick(&cx.req.tcp_echo, 0) else {
        return;
    };
    let Some(client) = cx.client() else {
        return cx.prerequisite(name, "a client", &Obs::not_made(raw::NOINTERFACE));
    };
    let (Some(mut connect_op), Some(mut send_op), Some(mut recv_op)) =
        (Op::new(1), Op::new(64), Op::new(64))
    else {
        return;
    };
    let (obs, socket) = raw::socket(
        client,
        family(0),
        Kind::Stream,
        ptr::null_mut(),
        ptr::null_mut(),
        ptr::null_mut(),
    );
    let Some(socket) = socket else {
        return cx.prerequisite(name, "WskSocket(stream)", &obs);
    };
    let obs = raw::bind(&socket, unspecified(0));
    if !obs.ok() {
        return cx.prerequisite(name, "WskBind(stream)", &obs);
    }
    let connected = raw::connect(&socket, &mut connect_op, peer(&target), raw::WAIT);
    if !connected.ok() {
        return cx.simple(name, &connected, &detail!(""));
    }
    let payload: &[u8] = b"wsk-rs conformance: stream socket echo";
    let sent = raw::send(&socket, &mut send_op, payload);
    if !sent.ok() || sent.info != payload.len() {
        return cx.push(
            name,
            Outcome::Fail,
            sent.status,
            &detail!("connected; send: {} ({} bytes)", How(sent), sent.info),
        );
    }
    let mut back = [0u8; 64];
    let (obs, got) = raw::receive_exact(&socket, &mut recv_op, payload.len(), &mut back, ECHO_WAIT);
    let same = back.get(..got) == Some(payload);
    let outcome = if same { Outcome::Pass } else { Outcome::Fail };
    cx.push(
        name,
        outcome,
        obs.status,
        &detail!(
            "connected; {} of {} bytes echoed; last receive {}",
            got,
            payload.len(),
            How(obs)
        ),
    );
}

/// `SO_WSK_EVENT_CALLBACK` enabling `WSK_EVENT_ACCEPT` with an IRP on a bound listening
/// socket (as kernel socket tests written for Windows do): the IRP completes with success,
/// and a real connection (another WSK socket connecting over loopback) fires the accept
/// event with the new socket and the connecting socket's address.
fn accept_event_with_irp(cx: &mut Cx<'_, '_>) {
    let name = "events.accept_event_enabled_with_irp_fires";
    let Some(client) = cx.client() else {
        return cx.prerequisite(name, "a client", &Obs::not_made(raw::NOINTERFACE));
    };
    let Some(sink) = AcceptSink::new() else {
        return;
    };
    let (Some(mut op), Some(mut addr_op), Some(mut connect_op)) =
        (Op::new(1), Op::new(1), Op::new(1))
    else {
        return;
    };
    let (obs, listener) = raw::socket(
        client,
        sys::AF_INET_FAMILY,
        Kind::Listen,
        sink.context(),
        AcceptSink::dispatch(),
        ptr::null_mut(),
    );
    let Some(listener) = listener else {
        cx.prerequisite(name, "WskSocket(listen)", &obs);
        return sink.release(false);
    };
    let finish = |listener: Socket, sink: AcceptSink| {
        let close = listener.close();
        sink.release(close.completed);
    };
    let obs = raw::bind(&listener, loopback(0, 0));
    if !obs.ok() {
        cx.prerequisite(name, "WskBind(listen)", &obs);
        return finish(listener, sink);
    }
    let obs = raw::get_address(&listener, &mut addr_op, false);
    let port = addr_op.mem().map_or(0, |m| m.addr[0].port());
    if !obs.ok() || port == 0 {
        cx.prerequisite(name, "WskGetLocalAddress(listen)", &obs);
        return finish(listener, sink);
    }
    let enabled = raw::event_callbacks_with_irp(&listener, &mut op, sys::WSK_EVENT_ACCEPT);
    if !enabled.ok() {
        cx.push(
            name,
            outcome_of(&enabled),
            enabled.status,
            &detail!("enable with IRP: {}", How(enabled)),
        );
        return finish(listener, sink);
    }
    let connecting = match connect_to(cx, 0, loopback(0, port), ptr::null_mut(), ptr::null()) {
        Ok(s) => s,
        Err((what, obs)) => {
            cx.prerequisite(name, what, &obs);
            return finish(listener, sink);
        }
    };
    let local = raw::get_address(&connecting, &mut connect_op, false);
    let client_port = connect_op.mem().map_or(0, |m| m.addr[0].port());
    let step = Duration::from_millis(20);
    let mut waited = Duration::ZERO;
    while sink.snapshot().calls == 0 && waited < ECHO_WAIT {
        raw::sleep(step);
        waited = waited.saturating_add(step);
    }
    let seen = sink.snapshot();
    // The accepted socket is ours (the callback returned STATUS_SUCCESS): close it.
    let accepted = Socket::from_info(seen.socket, Kind::Connection);
    let from_client = local.ok()
        && seen.remote.port() == client_port
        && seen.remote.family() == sys::AF_INET_FAMILY;
    let ok = seen.calls == 1 && accepted.is_some() && from_client;
    cx.push(
        name,
        if ok { Outcome::Pass } else { Outcome::Fail },
        enabled.status,
        &detail!(
            "enable: ret {}, IRP {}; {} accept event(s), socket {}, remote port {} (client {})",
            St(enabled.returned),
            St(enabled.status),
            seen.calls,
            if accepted.is_some() { "given" } else { "none" },
            seen.remote.port(),
            client_port
        ),
    );
    drop(accepted);
    drop(connecting);
    finish(listener, sink);
}

/// A client whose completion routine signals its waiter only when `Irp->PendingReturned` is
/// TRUE (and takes any other return value as "already complete") runs a whole TCP session:
/// WskSocket, WskBind, WskConnect, WskSend, WskReceive, WskGetLocalAddress, WskControlSocket
/// (SO_RCVBUF with an IRP), WskDisconnect, WskCloseSocket. Every step must wake it.
fn strict_waiter_sequence(cx: &mut Cx<'_, '_>) {
    let name = "wdm.pending_returned_only_waiter_tcp_session";
    let Some(target) = pick(&cx.req.tcp_echo, 0) else {
        return;
    };
    raw::set_strict(true);
    let result = strict_session(cx, peer(&target));
    raw::set_strict(false);
    match result {
        Ok(steps) => cx.push(name, Outcome::Pass, NtStatus::SUCCESS, &detail!("{steps} requests, each woke a PendingReturned-only waiter")),
        Err((step, obs)) if obs.hung => cx.push(
            name,
            Outcome::Fail,
            obs.status,
            &detail!("{step}: returned PENDING, IRP {} with PendingReturned FALSE: the waiter never wakes", St(obs.status)),
        ),
        Err((step, obs)) => cx.push(name, outcome_unless_unsupported(&obs), obs.status, &detail!("{step}: {}", How(obs))),
    }
}

/// The requests of [`strict_waiter_sequence`]; the number of requests, or the first that
/// failed or would have hung.
fn strict_session(cx: &Cx<'_, '_>, to: AddrBuf) -> Result<u32, (&'static str, Obs)> {
    let check = |step: &'static str, obs: Obs| {
        if obs.ok() && !obs.hung {
            Ok(())
        } else {
            Err((step, obs))
        }
    };
    let Some(client) = cx.client() else {
        return Err(("a client", Obs::not_made(raw::NOINTERFACE)));
    };
    let nomem = || ("memory", Obs::not_made(NtStatus::INSUFFICIENT_RESOURCES));
    let (Some(mut op), Some(mut recv_op)) = (Op::new(64), Op::new(64)) else {
        return Err(nomem());
    };
    let (obs, socket) = raw::socket(
        client,
        sys::AF_INET_FAMILY,
        Kind::Connection,
        ptr::null_mut(),
        ptr::null_mut(),
        ptr::null_mut(),
    );
    check("WskSocket", obs)?;
    let Some(socket) = socket else {
        return Err(("WskSocket", obs));
    };
    check("WskBind", raw::bind(&socket, unspecified(0)))?;
    check("WskConnect", raw::connect(&socket, &mut op, to, raw::WAIT))?;
    let payload: &[u8] = b"pending-returned waiter";
    check("WskSend", raw::send(&socket, &mut op, payload))?;
    let mut back = [0u8; 64];
    let (obs, got) = raw::receive_exact(&socket, &mut recv_op, payload.len(), &mut back, ECHO_WAIT);
    check("WskReceive", obs)?;
    if back.get(..got) != Some(payload) {
        return Err(("WskReceive (echo differs)", obs));
    }
    check(
        "WskGetLocalAddress",
        raw::get_address(&socket, &mut op, false),
    )?;
    let (obs, _) = raw::control_socket(
        &socket,
        sys::WskGetOption,
        sys::SOL_SOCKET,
        sys::SO_RCVBUF,
        None,
    );
    check("WskControlSocket(SO_RCVBUF)", obs)?;
    check("WskDisconnect", raw::disconnect(&socket, &mut op, 0))?;
    check("WskCloseSocket", socket.close())?;
    Ok(9)
}

/// `IoCancelIrp` racing the completion of a receive: 16 times, a receive is issued, one byte
/// is sent to the echo server and the receive is cancelled 0-3 ms later, when the echo may be
/// arriving. Each receive must complete exactly within 1 s with the byte or with
/// `STATUS_CANCELLED`, and no byte may be lost (the cancelled ones are received afterwards).
fn cancel_racing_completion(cx: &mut Cx<'_, '_>) {
    const ROUNDS: u8 = 16;
    let name = "wdm.cancel_racing_completion";
    let Some(target) = pick(&cx.req.tcp_echo, 0) else {
        return;
    };
    let (Some(mut recv_op), Some(mut send_op)) = (Op::new(64), Op::new(8)) else {
        return;
    };
    let socket = match connect_to(cx, 0, peer(&target), ptr::null_mut(), ptr::null()) {
        Ok(s) => s,
        Err((what, obs)) => return cx.prerequisite(name, what, &obs),
    };
    let (mut got, mut cancelled) = (0usize, 0u32);
    for round in 0..ROUNDS {
        let returned = raw::issue_receive(&socket, &mut recv_op, 64);
        let sent = raw::send(&socket, &mut send_op, &[round]);
        if !sent.ok() {
            return cx.prerequisite(name, "WskSend", &sent);
        }
        let pause = u64::from(round % 4);
        if pause > 0 {
            raw::sleep(Duration::from_millis(pause));
        }
        let _ = recv_op.cancel();
        let obs = recv_op.observe(CANCEL_WAIT);
        if !obs.completed {
            return cx.push(
                name,
                Outcome::Fail,
                NtStatus::TIMEOUT,
                &detail!(
                    "round {round}: receive (ret {}) not completed 1 s after IoCancelIrp",
                    St(returned)
                ),
            );
        }
        match obs.status {
            NtStatus::SUCCESS => got = got.saturating_add(obs.info),
            NtStatus::CANCELLED => cancelled = cancelled.saturating_add(1),
            other => {
                return cx.push(
                    name,
                    Outcome::Fail,
                    other,
                    &detail!("round {round}: receive completed with {}", St(other)),
                )
            }
        }
    }
    let want = usize::from(ROUNDS);
    let rest = want.saturating_sub(got);
    let mut back = [0u8; 64];
    let drained = if rest == 0 {
        0
    } else {
        raw::receive_exact(&socket, &mut recv_op, rest, &mut back, ECHO_WAIT).1
    };
    let total = got.saturating_add(drained);
    let outcome = if total == want {
        Outcome::Pass
    } else {
        Outcome::Fail
    };
    cx.push(name, outcome, NtStatus::SUCCESS, &detail!("{ROUNDS} rounds: {cancelled} cancelled, {got} bytes received in the race, {drained} after; {total}/{want} bytes"));
}
