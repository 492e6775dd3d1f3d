//! Target `driver`: the driver core's request handling (`wskrs_driver::Driver`) on the fake
//! kernel, as a shell hands it requests: buffered codes through `device_control`, direct
//! codes through `direct` with an IRP the fake pends.
//!
//! Input: up to [`MAX_REQUESTS`] records `[selector][flags][input length: u16][output
//! length: u16][input bytes]`; the selector picks a code (every code of the ABI, INFO of
//! ABI 3, or a raw code from four more bytes), flag bit 0 the handle (two handles), bit 1
//! puts the last endpoint id the driver returned into the request (bytes 8..16, where every
//! request keeps its id), bit 2 waits for a direct request (100 ms at most) before the next. Properties: every request is answered with a status (a direct one
//! at the latest when its handle closes); a failure returns no bytes; a reply fits the
//! output buffer and parses with the client's parser; once the handles close and the
//! detached endpoints are closed, the driver holds no endpoint and the fake provider no
//! socket or IRP, and the fake saw no contract violation.
#![allow(unsafe_code)] // registering with the fake NETIO takes its device object

use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use wsk::{NtStatus, WskClient};
use wskrs_driver::Caller;
use wskrs_fake_kernel as fake;
use wskrs_fake_kernel::locked::{pend, IrpWaiter, PendedIrp};
use wskrs_protocol::{
    encode_close, encode_info, encode_list, list_output_len, parse_close_reply,
    parse_disconnect_reply, parse_endpoint_reply, parse_held_reply, parse_info_reply,
    parse_list_reply, parse_recv_from_reply, parse_resolve_reply, parse_security_reply,
    parse_serve_reply, parse_socket_option_reply, parse_stats_reply, EndpointId, IoctlCode,
};

use crate::{Input, Seed};

/// Requests per input.
pub const MAX_REQUESTS: usize = 8;

/// Virtual time runs this much faster than real time, so that the driver's timeouts (10 s by
/// default) end in milliseconds.
const TIME_SCALE: u32 = 1000;

/// How long (real time) a pended request may take to complete once its handle closed, and
/// the fake provider to release its sockets and IRPs.
const SETTLE: Duration = Duration::from_secs(10);

/// How long (real time) a direct request with flag bit 2 is awaited before the next record.
const AWAIT: Duration = Duration::from_millis(100);

/// The two handles of the requests and the one that closes the detached endpoints after.
const HANDLES: [Caller; 2] = [Caller(0x1000), Caller(0x2000)];
const JANITOR: Caller = Caller(0x3000);

/// A pended direct-I/O request as the shell hands it over: the fake kernel's IRP.
pub struct FuzzRequest(PendedIrp);

fake::pending_request_over_pended_irp!(FuzzRequest);

type Driver = wskrs_driver::Driver<FuzzRequest>;

/// The shell's `RegisterWsk`: registers with the fake NETIO.
fn register(capture_wait: Duration) -> wsk::Result<WskClient> {
    // SAFETY: the fake device object lives for the whole process.
    unsafe { WskClient::register(fake::device(), capture_wait) }
}

/// The driver, loaded once per process on the fake kernel (which this target then owns).
fn driver() -> &'static Driver {
    static DRIVER: OnceLock<&'static Driver> = OnceLock::new();
    DRIVER.get_or_init(|| {
        // The fake is the process's for good: no other test of this binary starts one.
        std::mem::forget(fake::Kernel::start());
        fake::set_time_scale(TIME_SCALE);
        let driver: &'static Driver = Box::leak(Box::new(Driver::new(register)));
        driver
            .loaded()
            .expect("the driver loads on the fake kernel");
        driver
    })
}

/// Runs one input (see the module docs).
///
/// # Panics
/// When a property fails.
pub fn check(data: &[u8]) {
    let _ = run(data);
}

/// Runs one input; returns each request's code and final status, in order.
///
/// # Panics
/// When a property fails.
#[must_use]
pub fn run(data: &[u8]) -> Vec<(IoctlCode, NtStatus)> {
    // One input at a time: the inputs share the driver and its handles (tests run threads).
    static SERIAL: Mutex<()> = Mutex::new(());
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let driver = driver();
    let mut input = Input::new(data);
    let mut log: Vec<(IoctlCode, Option<NtStatus>)> = Vec::new();
    let mut pending: Vec<(usize, IoctlCode, IrpWaiter)> = Vec::new();
    let mut last_id: Option<EndpointId> = None;
    for _ in 0..MAX_REQUESTS {
        if input.is_empty() {
            break;
        }
        let selector = usize::from(input.u8());
        let flags = input.u8();
        let code = match selector % (IoctlCode::ALL.len() + 2) {
            i if i < IoctlCode::ALL.len() => IoctlCode::ALL[i],
            i if i == IoctlCode::ALL.len() => IoctlCode::INFO_BEFORE_ABI_4,
            _ => IoctlCode(input.u32()),
        };
        let input_len = usize::from(input.u16());
        let output_len = usize::from(input.u16());
        let mut request = input.bytes(input_len).to_vec();
        if flags & 2 != 0 {
            if let (Some(id), Some(field)) = (last_id, request.get_mut(8..16)) {
                field.copy_from_slice(&id.0.to_le_bytes());
            }
        }
        let caller = HANDLES[usize::from(flags & 1)];
        if code.is_direct() {
            let data = vec![0x5A; output_len];
            let (irp, waiter) = pend(&data);
            driver.direct(caller, code.0, &request, data.len(), FuzzRequest(irp));
            let completion = if flags & 4 == 0 {
                waiter.completion()
            } else {
                waiter.wait_for(AWAIT)
            };
            if let Some(completion) = completion {
                last_id = check_direct(code, completion, &waiter, output_len).or(last_id);
                log.push((code, Some(completion.0)));
            } else {
                pending.push((log.len(), code, waiter));
                log.push((code, None));
            }
        } else {
            let (status, reply) = buffered(driver, caller, code, &request, output_len);
            if status.is_success() {
                last_id = check_reply(code, &reply).or(last_id);
            }
            log.push((code, Some(status)));
        }
    }
    for caller in HANDLES {
        driver.cleanup(caller);
    }
    for (index, code, waiter) in pending {
        let completion = waiter
            .wait_for(SETTLE)
            .unwrap_or_else(|| panic!("a pended {code:?} completes once its handle closed"));
        check_direct(code, completion, &waiter, waiter.contents().len());
        log[index].1 = Some(completion.0);
    }
    close_detached(driver);
    let info = buffered(driver, JANITOR, IoctlCode::INFO, &encode_info(), 64);
    let info = parse_info_reply(&info.1).expect("INFO answers");
    assert_eq!(
        info.endpoint_count, 0,
        "no endpoint outlives its handle and CLOSE"
    );
    driver.cleanup(JANITOR);
    settle();
    let violations = fake::violations();
    assert!(
        violations.is_empty(),
        "fake-kernel violations: {violations:#?}"
    );
    log.into_iter()
        .map(|(code, status)| (code, status.expect("every request completed")))
        .collect()
}

/// A buffered request as the shell sends it: one buffer of max(input, output) bytes.
fn buffered(
    driver: &'static Driver,
    caller: Caller,
    code: IoctlCode,
    input: &[u8],
    output_len: usize,
) -> (NtStatus, Vec<u8>) {
    let mut buffer = vec![0u8; input.len().max(output_len)];
    buffer[..input.len()].copy_from_slice(input);
    let completion = driver.device_control(caller, code.0, &mut buffer, input.len(), output_len);
    assert_ne!(
        completion.status,
        NtStatus::PENDING,
        "a buffered request completes"
    );
    if !completion.status.is_success() {
        assert_eq!(
            completion.information, 0,
            "a failed {code:?} returns no bytes"
        );
    }
    assert!(
        completion.information <= output_len,
        "the reply to {code:?} fits the output buffer"
    );
    buffer.truncate(completion.information);
    (completion.status, buffer)
}

/// Checks a completed direct request; the endpoint an ACCEPT returned.
fn check_direct(
    code: IoctlCode,
    (status, information): (NtStatus, usize),
    waiter: &IrpWaiter,
    data_len: usize,
) -> Option<EndpointId> {
    assert_ne!(status, NtStatus::PENDING, "a completion has a final status");
    if !status.is_success() {
        assert_eq!(information, 0, "a failed {code:?} returns no bytes");
        return None;
    }
    assert!(information <= data_len, "{code:?} within its data buffer");
    let contents = waiter.contents();
    let reply = contents.get(..information).unwrap_or_default();
    match code {
        IoctlCode::ACCEPT => Some(
            parse_endpoint_reply(reply)
                .expect("an ACCEPT reply parses")
                .id,
        ),
        IoctlCode::RECV_FROM => {
            parse_recv_from_reply(reply).expect("a RECV_FROM reply parses");
            None
        }
        IoctlCode::RESOLVE => {
            parse_resolve_reply(reply).expect("a RESOLVE reply parses");
            None
        }
        _ => None,
    }
}

/// Checks a successful buffered reply with the client's parser; the endpoint it opened.
fn check_reply(code: IoctlCode, reply: &[u8]) -> Option<EndpointId> {
    let parsed = match code {
        IoctlCode::INFO => parse_info_reply(reply).map(drop),
        IoctlCode::TCP_CONNECT | IoctlCode::TCP_LISTEN | IoctlCode::UDP_BIND => {
            let opened = parse_endpoint_reply(reply)
                .unwrap_or_else(|e| panic!("the {code:?} reply parses: {e:?}"));
            return Some(opened.id);
        }
        IoctlCode::CLOSE => parse_close_reply(reply),
        IoctlCode::LIST => parse_list_reply(reply).map(drop),
        IoctlCode::DISCONNECT => parse_disconnect_reply(reply),
        IoctlCode::SERVE => parse_serve_reply(reply),
        IoctlCode::SOCKET_OPTION => parse_socket_option_reply(reply).map(drop),
        IoctlCode::SECURITY | IoctlCode::DEVICE_SECURITY => parse_security_reply(reply).map(drop),
        IoctlCode::STATS => parse_stats_reply(reply).map(drop),
        IoctlCode::HELD => parse_held_reply(reply).map(drop),
        _ => Ok(()),
    };
    if let Err(error) = parsed {
        panic!("the {code:?} reply parses: {error:?}");
    }
    None
}

/// Closes every endpoint still listed (the detached ones) from a third handle.
fn close_detached(driver: &'static Driver) {
    let (status, reply) = buffered(
        driver,
        JANITOR,
        IoctlCode::LIST,
        &encode_list(),
        // Room for every endpoint the table can hold (its default size), not a multiple of
        // MAX_CONNECTIONS: that is 2^20 since ABI 5, and 4 x 2^20 entries would be a 637 MB
        // buffer, which also trips the client target's allocation limit in a parallel test.
        list_output_len(wskrs_protocol::PARAM_MAX_ENDPOINTS.default as usize),
    );
    assert!(status.is_success(), "LIST answers: {status:?}");
    let list = parse_list_reply(&reply).expect("the LIST reply parses");
    for endpoint in list.iter() {
        let (status, _) = buffered(
            driver,
            JANITOR,
            IoctlCode::CLOSE,
            &encode_close(endpoint.id),
            8,
        );
        assert!(
            status.is_success() || status == NtStatus::NOT_FOUND,
            "CLOSE of a listed endpoint: {status:?}"
        );
    }
}

/// Waits until the fake provider holds no socket and no IRP of the driver's.
fn settle() {
    let deadline = Instant::now() + SETTLE;
    loop {
        let counts = fake::counts();
        if counts.sockets_open == 0 && counts.irps_in_provider == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the provider still holds sockets or IRPs after every endpoint closed: {counts:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// One record of this target's input.
fn record(code: IoctlCode, flags: u8, request: &[u8], output_len: u16) -> Vec<u8> {
    let known = IoctlCode::ALL.iter().position(|c| *c == code);
    // Past the codes and INFO of ABI 3: a raw code follows.
    let index = known.unwrap_or(IoctlCode::ALL.len() + 1);
    let mut bytes = vec![u8::try_from(index).expect("a small index"), flags];
    if known.is_none() {
        bytes.extend_from_slice(&code.0.to_le_bytes());
    }
    bytes.extend_from_slice(
        &u16::try_from(request.len())
            .expect("a short request")
            .to_le_bytes(),
    );
    bytes.extend_from_slice(&output_len.to_le_bytes());
    bytes.extend_from_slice(request);
    bytes
}

/// Every valid request alone, then sessions: listen, connect, send, receive, list, close.
#[must_use]
pub fn seeds() -> Vec<Seed> {
    use wskrs_protocol::{
        encode_accept, encode_recv, encode_send, encode_serve, encode_tcp_connect,
        encode_tcp_listen, encode_tcp_listen_with, encode_udp_bind, BindFlags, ListenOptions,
        Service, UdpService,
    };
    let mut seeds: Vec<Seed> = crate::request::valid_requests()
        .into_iter()
        .map(|(name, code, request)| {
            let parsed = wskrs_protocol::parse_request(code.0, &request).expect("a valid request");
            let output = wskrs_protocol::direct_output_len(&parsed).unwrap_or(1024);
            let output = u16::try_from(output).unwrap_or(u16::MAX);
            Seed::new(&name, record(code, 0, &request, output))
        })
        .collect();
    let server = "127.0.0.1:9000".parse().expect("address");
    let id = wskrs_protocol::EndpointId(1);
    let listen = encode_tcp_listen(server, Service::Echo, 0, false);
    let connect = encode_tcp_connect(server, None, false, 0);
    let session = [
        record(IoctlCode::TCP_LISTEN, 0, &listen, 128),
        record(IoctlCode::TCP_CONNECT, 1, &connect, 128),
        record(IoctlCode::SEND, 3, &encode_send(id, 0, 5), 5),
        record(IoctlCode::RECV, 7, &encode_recv(id, 0, 5), 5),
        record(IoctlCode::LIST, 0, &encode_list(), 1024),
        record(IoctlCode::SERVE, 3, &encode_serve(id, Service::Discard), 8),
        record(IoctlCode::CLOSE, 3, &encode_close(id), 8),
    ]
    .concat();
    seeds.push(Seed::new("session_echo", session));
    let accept_mode = ListenOptions {
        detach: true,
        sddl: Some("D:P(A;;GA;;;SY)"),
        ..ListenOptions::default()
    };
    let listen = encode_tcp_listen_with(server, Service::None, &accept_mode).expect("encodes");
    let session = [
        record(IoctlCode::TCP_LISTEN, 0, &listen, 128),
        record(IoctlCode::ACCEPT, 2, &encode_accept(id, 0, false), 80),
        record(IoctlCode::TCP_CONNECT, 1, &connect, 128),
        record(IoctlCode::SEND, 7, &encode_send(id, 0, 4), 4),
        record(IoctlCode::CLOSE, 3, &encode_close(id), 8),
    ]
    .concat();
    seeds.push(Seed::new("session_accept_detached", session));
    let udp_echo = encode_udp_bind(server, UdpService::Echo, false, BindFlags::default(), None)
        .expect("encodes");
    let user = "127.0.0.1:9001".parse().expect("address");
    let udp_user =
        encode_udp_bind(user, UdpService::None, true, BindFlags::default(), None).expect("encodes");
    let session = [
        record(IoctlCode::UDP_BIND, 0, &udp_echo, 128),
        record(IoctlCode::UDP_BIND, 1, &udp_user, 128),
        record(
            IoctlCode::SEND_TO,
            6,
            &wskrs_protocol::encode_send_to(id, 0, server, 3),
            3,
        ),
        record(
            IoctlCode::RECV_FROM,
            6,
            &wskrs_protocol::encode_recv_from(id, 0, 16),
            48 + 16,
        ),
        record(
            IoctlCode::SECURITY,
            2,
            &wskrs_protocol::encode_security(id),
            512,
        ),
    ]
    .concat();
    seeds.push(Seed::new("session_udp_detached", session));
    seeds.push(Seed::new(
        "raw_code",
        record(IoctlCode(0x0022_E00B), 0, &encode_info(), 128),
    ));
    seeds
}

#[cfg(test)]
mod tests {
    use super::{run, seeds, IoctlCode, NtStatus};

    fn statuses(seed: &str) -> Vec<(IoctlCode, NtStatus)> {
        let seed = seeds()
            .into_iter()
            .find(|s| s.name == seed)
            .expect("a seed");
        run(&seed.bytes)
    }

    /// The sessions reach the driver's deep states: every request of them succeeds.
    #[test]
    fn the_session_seeds_succeed_request_by_request() {
        for seed in [
            "session_echo",
            "session_accept_detached",
            "session_udp_detached",
        ] {
            let log = statuses(seed);
            assert!(log.len() >= 4, "{seed}: {log:?}");
            for (code, status) in log {
                assert_eq!(status, NtStatus::SUCCESS, "{seed}: {code:?}");
            }
        }
    }
}
