//! Teardown at scale (issue 13 item 5): many handles, each with as many TCP listeners and
//! parked ACCEPTs as its quotas allow, then torn down at once.
//!
//! - `close`: every handle is closed with its ACCEPTs pending; each must complete with
//!   `STATUS_CANCELLED`, and the time from the first close to the last completion is reported.
//! - `detach`: the listeners are detached and the handles closed with nothing pending; the
//!   endpoints (and their sockets) stay for the caller to unload the driver under them.
//! - `connect` (issue 11's scale item): one handle opens COUNT detached TCP connections to a
//!   peer, as fast as the driver answers, and closes; the connections stay for the caller
//!   (they count against the handle's endpoint quota until then: the driver's
//!   `EndpointsPerHandle` parameter must allow COUNT).
//! - `pend`: one handle pends data requests (RECVs on connections to a peer that sends
//!   nothing, 4 MiB SENDs to a peer that does not read), then the handle is closed or the
//!   driver unloaded under them (`pend`).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use wskrs_protocol::{self as protocol, IoctlCode, Service, USER_DEVICE_PATH};

use crate::gen::Planned;
use crate::run::status_name;
use crate::win::{Handle, Request};

/// A parked ACCEPT's timeout: far longer than the teardown may take.
const ACCEPT_TIMEOUT_MS: u32 = 120_000;

/// The longest a synchronous request (TCP_LISTEN) or the teardown may take.
const LIMIT: Duration = Duration::from_secs(30);

/// Sends `planned` on `handle` and waits for it.
fn call(handle: &Handle, planned: Planned) -> Result<(u32, Vec<u8>), String> {
    let mut request = Request::new(planned, 0).ok_or("CreateEventW failed")?;
    request.issue(handle.target());
    let started = Instant::now();
    while !request.poll() {
        if started.elapsed() > LIMIT {
            return Err("a request did not complete within 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let (status, information) = request.result.unwrap_or((u32::MAX, 0));
    let reply = request
        .output()
        .get(..information)
        .unwrap_or_default()
        .to_vec();
    Ok((status, reply))
}

/// Ports tried past one in use, per listener.
const PORT_TRIES: u16 = 64;

/// A listener without a service (it parks ACCEPTs) on 127.0.0.1 at the first port from
/// `*next` that is free; `*next` moves past it.
fn listen(handle: &Handle, detach: bool, next: &mut u16) -> Result<protocol::EndpointId, String> {
    let mut last = 0;
    for _ in 0..PORT_TRIES {
        let port = *next;
        *next = next.checked_add(1).ok_or("out of ports")?;
        let local = SocketAddr::from(([127, 0, 0, 1], port));
        let (status, reply) = call(
            handle,
            Planned {
                code: IoctlCode::TCP_LISTEN.0,
                input: protocol::encode_tcp_listen(local, Service::None, 0, detach).to_vec(),
                output_len: 80,
                how: "scale".into(),
            },
        )?;
        if status == 0 {
            return protocol::parse_endpoint_reply(&reply)
                .map(|opened| opened.id)
                .map_err(|e| format!("TCP_LISTEN reply: {e:?}"));
        }
        last = status;
    }
    Err(format!(
        "TCP_LISTEN: {} ({PORT_TRIES} ports tried up to {next})",
        status_name(last)
    ))
}

/// `scale close|detach HANDLES PER_HANDLE FIRST_PORT`: opens HANDLES handles with PER_HANDLE
/// listeners each (on free ports from FIRST_PORT up), then tears down as described in the
/// module docs. Prints one JSON line.
pub(crate) fn scale(
    mode: &str,
    handles: usize,
    per_handle: usize,
    first_port: u16,
) -> Result<String, String> {
    let detach = match mode {
        "close" => false,
        "detach" => true,
        other => return Err(format!("unknown scale mode `{other}` (close or detach)")),
    };
    let mut opened = Vec::new();
    let mut in_flight = Vec::new();
    let mut next_port = first_port;
    for _ in 0..handles {
        let handle = Handle::open(USER_DEVICE_PATH).map_err(|e| format!("open: {e}"))?;
        for _ in 0..per_handle {
            let id = listen(&handle, detach, &mut next_port)?;
            if detach {
                continue;
            }
            let mut accept = Request::new(
                Planned {
                    code: IoctlCode::ACCEPT.0,
                    input: protocol::encode_accept(id, ACCEPT_TIMEOUT_MS, false).to_vec(),
                    output_len: 80,
                    how: "scale".into(),
                },
                0,
            )
            .ok_or("CreateEventW failed")?;
            accept.issue(handle.target());
            if let Some((status, _)) = accept.result {
                return Err(format!(
                    "ACCEPT on a fresh listener did not pend: {}",
                    status_name(status)
                ));
            }
            in_flight.push(accept);
        }
        opened.push(handle);
    }
    let listeners = handles.saturating_mul(per_handle);
    let pended = in_flight.len();
    let started = Instant::now();
    for handle in opened {
        handle.close();
    }
    let closed_ms = started.elapsed().as_millis();
    let mut statuses = std::collections::BTreeMap::<u32, usize>::new();
    while !in_flight.is_empty() {
        if started.elapsed() > LIMIT {
            return Err(format!(
                "{} of {pended} ACCEPTs still pending 30 s after their handles' close",
                in_flight.len()
            ));
        }
        in_flight.retain_mut(|request| {
            if request.poll() {
                let status = request.result.map_or(u32::MAX, |(status, _)| status);
                *statuses.entry(status).or_default() += 1;
                false
            } else {
                true
            }
        });
        std::thread::sleep(Duration::from_millis(1));
    }
    let completed_ms = started.elapsed().as_millis();
    let mut list = String::new();
    for (status, n) in &statuses {
        let _ = write!(
            list,
            "{}\"{}\":{n}",
            if list.is_empty() { "" } else { "," },
            status_name(*status)
        );
    }
    Ok(format!(
        "{{\"event\":\"scale\",\"mode\":\"{mode}\",\"handles\":{handles},\"listeners\":{listeners},\
         \"pended\":{pended},\"closed_ms\":{closed_ms},\"completed_ms\":{completed_ms},\
         \"statuses\":{{{list}}}}}"
    ))
}

/// `scale connect COUNT ADDR`: COUNT detached TCP connections to ADDR on one handle, then
/// the handle is closed. Prints one JSON line with the time taken; the first failure ends
/// the run with its status and how many were open.
pub(crate) fn connect(count: usize, remote: SocketAddr) -> Result<String, String> {
    const CONNECT_TIMEOUT_MS: u32 = 10_000;
    let handle = Handle::open(USER_DEVICE_PATH).map_err(|e| format!("open: {e}"))?;
    let started = Instant::now();
    let mut first_id = None;
    for opened in 0..count {
        let (status, reply) = call(
            &handle,
            Planned {
                code: IoctlCode::TCP_CONNECT.0,
                input: protocol::encode_tcp_connect(remote, None, true, CONNECT_TIMEOUT_MS)
                    .to_vec(),
                output_len: 80,
                how: "scale".into(),
            },
        )?;
        if status != 0 {
            return Err(format!(
                "TCP_CONNECT {} after {opened} connections: {}",
                opened + 1,
                status_name(status)
            ));
        }
        let id = protocol::parse_endpoint_reply(&reply)
            .map_err(|e| format!("TCP_CONNECT reply: {e:?}"))?
            .id;
        first_id.get_or_insert(id.0);
    }
    let connected_ms = started.elapsed().as_millis();
    handle.close();
    Ok(format!(
        "{{\"event\":\"scale\",\"mode\":\"connect\",\"connections\":{count},\
         \"first_id\":{},\"connected_ms\":{connected_ms}}}",
        first_id.unwrap_or(0)
    ))
}

/// `handles`: who may reach a detached endpoint once the driver's identity table is full.
/// A first handle opens a detached listener (a free port from `first_port` up); then
/// handles are opened, all kept open, until an open fails or `max` are open. The driver
/// identifies each handle at open in a table of `wskrs_driver::MAX_HANDLES` (256) and
/// refuses an open past it with `STATUS_INSUFFICIENT_RESOURCES`: on Windows that open fails
/// (`ERROR_NO_SYSTEM_RESOURCES`, 1450); Wine 8.0's server does not wait for IRP_MJ_CREATE, so
/// there the handle opens anyway, unidentified. Then the last handle opened tries to CLOSE
/// the listener (an unidentified handle: out of reach), and the second handle (identified,
/// same user) closes it. Prints `{"opened":N,"refused_error":E|null,"last_close":"STATUS_..",
/// "identified_close":"STATUS_.."}`.
pub(crate) fn handles(max: usize, first_port: u16) -> Result<String, String> {
    let first = Handle::open(USER_DEVICE_PATH).map_err(|e| format!("open: {e}"))?;
    let mut next_port = first_port;
    let id = listen(&first, true, &mut next_port)?;
    let close = |handle: &Handle| -> Result<String, String> {
        let (status, _) = call(
            handle,
            Planned {
                code: IoctlCode::CLOSE.0,
                input: protocol::encode_close(id).to_vec(),
                output_len: 8,
                how: "scale".into(),
            },
        )?;
        Ok(status_name(status))
    };
    let mut open = vec![first];
    let mut refused = None;
    while open.len() < max {
        match Handle::open(USER_DEVICE_PATH) {
            Ok(handle) => open.push(handle),
            Err(err) => {
                refused = Some(err.raw_os_error().unwrap_or(-1));
                break;
            }
        }
    }
    let opened = open.len();
    // Only an open the driver refused to identify makes a handle a stranger; where refused
    // opens fail (Windows), every open handle is identified and this is not tried.
    let last_close = match (refused, open.last()) {
        (None, Some(last)) if opened > 2 => close(last)?,
        _ => "not tried".to_owned(),
    };
    let identified_close = match open.get(1) {
        Some(second) => close(second)?,
        None => "not tried".to_owned(),
    };
    drop(open);
    let refused = refused.map_or_else(|| "null".to_owned(), |code| code.to_string());
    Ok(format!(
        "{{\"opened\":{opened},\"refused_error\":{refused},\"last_close\":\"{last_close}\",\
         \"identified_close\":\"{identified_close}\"}}"
    ))
}

/// A pended data request's timeout: far longer than the teardown may take.
const DATA_TIMEOUT_MS: u32 = 120_000;
/// Bytes of each SEND to the peer that does not read: more than the two sockets' buffers
/// hold (the sink's receive buffer is 64 KiB), so the SEND stays pended.
const BLOCKED_SEND: u32 = 4 << 20;

/// Issues `planned` on `handle`; an error unless it pended.
fn pend_one(handle: &Handle, planned: Planned, fill: u8) -> Result<Box<Request>, String> {
    let code = planned.code;
    let mut request = Request::new(planned, fill).ok_or("CreateEventW failed")?;
    request.issue(handle.target());
    if let Some((status, _)) = request.result {
        return Err(format!(
            "{} did not pend: {}",
            IoctlCode(code).name().unwrap_or("?"),
            status_name(status)
        ));
    }
    Ok(request)
}

/// A TCP connection (not detached) from `handle` to `remote`.
fn connect_one(handle: &Handle, remote: SocketAddr) -> Result<protocol::EndpointId, String> {
    let (status, reply) = call(
        handle,
        Planned {
            code: IoctlCode::TCP_CONNECT.0,
            input: protocol::encode_tcp_connect(remote, None, false, 10_000).to_vec(),
            output_len: 80,
            how: "scale".into(),
        },
    )?;
    if status != 0 {
        return Err(format!("TCP_CONNECT: {}", status_name(status)));
    }
    protocol::parse_endpoint_reply(&reply)
        .map(|opened| opened.id)
        .map_err(|e| format!("TCP_CONNECT reply: {e:?}"))
}

/// What `scale pend` does with the pended requests.
enum Teardown<'a> {
    /// Close the handle they were issued on.
    Close,
    /// Run `WSKCTL driver stop --name NAME` with the handle open (the driver unloads under
    /// them), then close the handle.
    Unload { wskctl: &'a str, service: &'a str },
}

/// `scale pend close|unload RECV_IDS SINK SENDS [WSKCTL SERVICE]`: one handle pends a RECV on
/// every endpoint of RECV_IDS (`FIRST+COUNT`: existing endpoints of the caller's user, e.g.
/// detached connections to a peer that sends nothing; or `new:COUNT@ADDR`: COUNT new
/// connections to ADDR), and a SEND of 4 MiB on each of SENDS new connections to SINK (a peer
/// that does not read); each must stay pended. Then the teardown; every request must complete
/// within 30 s. Prints one JSON line: how many pended, the statuses, the time from the
/// teardown's start to the last completion (and for an unload, how long `driver stop` took).
pub(crate) fn pend(
    mode: &str,
    recv_ids: &str,
    sink: SocketAddr,
    sends: usize,
    rest: &[&str],
) -> Result<String, String> {
    let teardown = match (mode, rest) {
        ("close", []) => Teardown::Close,
        ("unload", [wskctl, service]) => Teardown::Unload { wskctl, service },
        _ => {
            return Err(
                "usage: scale pend close|unload RECV_IDS SINK SENDS [WSKCTL SERVICE]".into(),
            )
        }
    };
    let handle = Handle::open(USER_DEVICE_PATH).map_err(|e| format!("open: {e}"))?;
    let ids: Vec<u64> = if let Some(new) = recv_ids.strip_prefix("new:") {
        let (count, addr) = new.split_once('@').ok_or("new:COUNT@ADDR")?;
        let count: usize = count.parse().map_err(|_| "new:COUNT@ADDR")?;
        let addr: SocketAddr = addr.parse().map_err(|_| "new:COUNT@ADDR")?;
        (0..count)
            .map(|_| connect_one(&handle, addr).map(|id| id.0))
            .collect::<Result<_, _>>()?
    } else {
        let (first, count) = recv_ids.split_once('+').ok_or("FIRST+COUNT")?;
        let first: u64 = first.parse().map_err(|_| "FIRST+COUNT")?;
        let count: u64 = count.parse().map_err(|_| "FIRST+COUNT")?;
        (first..first.saturating_add(count)).collect()
    };
    let mut in_flight = Vec::new();
    for id in &ids {
        let planned = Planned {
            code: IoctlCode::RECV.0,
            input: protocol::encode_recv(protocol::EndpointId(*id), DATA_TIMEOUT_MS, 64).to_vec(),
            output_len: 64,
            how: "scale".into(),
        };
        in_flight.push(pend_one(&handle, planned, 0).map_err(|e| format!("RECV on {id}: {e}"))?);
    }
    let recvs = in_flight.len();
    for _ in 0..sends {
        let id = connect_one(&handle, sink)?;
        let planned = Planned {
            code: IoctlCode::SEND.0,
            input: protocol::encode_send(id, DATA_TIMEOUT_MS, BLOCKED_SEND).to_vec(),
            output_len: BLOCKED_SEND as usize,
            how: "scale".into(),
        };
        in_flight
            .push(pend_one(&handle, planned, 0x5a).map_err(|e| format!("SEND on {}: {e}", id.0))?);
    }
    // A SEND the peer's buffers could take would complete now: every one must still pend.
    std::thread::sleep(Duration::from_millis(500));
    if let Some(done) = in_flight
        .iter_mut()
        .find_map(|r| r.poll().then_some(r.result))
    {
        return Err(format!(
            "a request completed before the teardown: {:?}",
            done.map(|(status, n)| (status_name(status), n))
        ));
    }
    let pended = in_flight.len();
    let started = Instant::now();
    let mut stop_ms = None;
    let mut handle = Some(handle);
    match teardown {
        Teardown::Close => {
            if let Some(handle) = handle.take() {
                handle.close();
            }
        }
        Teardown::Unload { wskctl, service } => {
            let out = std::process::Command::new(wskctl)
                .args(["driver", "stop", "--name", service])
                .output()
                .map_err(|e| format!("running {wskctl}: {e}"))?;
            stop_ms = Some(started.elapsed().as_millis());
            if !out.status.success() {
                return Err(format!(
                    "`wskctl driver stop` with {pended} requests pended: {} {}",
                    out.status,
                    String::from_utf8_lossy(&out.stdout).trim()
                ));
            }
        }
    }
    let statuses = wait_all(&mut in_flight, started, pended)?;
    let completed_ms = started.elapsed().as_millis();
    drop(handle);
    let list = status_list(&statuses);
    Ok(format!(
        "{{\"event\":\"scale\",\"mode\":\"pend-{mode}\",\"recvs\":{recvs},\"sends\":{sends},\
         \"pended\":{pended},\"stop_ms\":{},\"completed_ms\":{completed_ms},\
         \"statuses\":{{{list}}}}}",
        stop_ms.map_or_else(|| "null".to_owned(), |ms| ms.to_string())
    ))
}

/// Waits until every request of `in_flight` completed (at most [`LIMIT`] after `started`);
/// returns how many ended with each status.
#[allow(clippy::vec_box)] // boxed requests: their blocks must not move while pending
fn wait_all(
    in_flight: &mut Vec<Box<Request>>,
    started: Instant,
    pended: usize,
) -> Result<std::collections::BTreeMap<u32, usize>, String> {
    let mut statuses = std::collections::BTreeMap::<u32, usize>::new();
    while !in_flight.is_empty() {
        if started.elapsed() > LIMIT {
            return Err(format!(
                "{} of {pended} requests still pending 30 s after the teardown began",
                in_flight.len()
            ));
        }
        in_flight.retain_mut(|request| {
            if request.poll() {
                let status = request.result.map_or(u32::MAX, |(status, _)| status);
                *statuses.entry(status).or_default() += 1;
                false
            } else {
                true
            }
        });
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(statuses)
}

/// `"STATUS_X":n,...` for a JSON object.
fn status_list(statuses: &std::collections::BTreeMap<u32, usize>) -> String {
    let mut list = String::new();
    for (status, n) in statuses {
        let _ = write!(
            list,
            "{}\"{}\":{n}",
            if list.is_empty() { "" } else { "," },
            status_name(*status)
        );
    }
    list
}
