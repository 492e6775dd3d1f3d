//! Tests of [`Device`] against the real driver core on the fake kernel
//! ([`crate::host_driver`]): what the library sends, what it refuses before sending, and how
//! it reads the core's replies, cancellations and failures.

use crate::host_driver::{HostDriver, ECHO_PORT, RECORDING_PORT};
use crate::{ClientError, Device, Lifetime, TcpConnectOptions};
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use wskrs_ntstatus::NtStatus;
use wskrs_protocol::{
    encode_recv, encode_recv_from, encode_send, encode_send_to, parse_recv_from_reply, EndpointId,
    IoctlCode, OptionId, ProtocolError, UdpService, MAX_DATAGRAM, MAX_TRANSACT, MAX_TRANSFER,
};

fn device(driver: &HostDriver) -> Device {
    Device::from_transport(Box::new(driver.handle()))
}

fn echo() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], ECHO_PORT))
}

/// A connection that outlives its handle.
fn detached() -> TcpConnectOptions<'static> {
    TcpConnectOptions {
        lifetime: Lifetime::Detached,
        ..TcpConnectOptions::default()
    }
}

#[test]
fn udp_sockets_reach_each_other_and_the_echo_service() {
    let driver = HostDriver::default();
    let device = device(&driver);
    let options = crate::UdpBindOptions::default();
    let echo = device
        .udp_bind(
            "127.0.0.1:7000".parse().unwrap(),
            UdpService::Echo,
            &options,
        )
        .unwrap();
    assert_eq!(echo.kind, wskrs_protocol::EndpointKind::Udp);
    let user = device
        .udp_bind(
            "127.0.0.1:7001".parse().unwrap(),
            UdpService::None,
            &options,
        )
        .unwrap();
    device
        .send_to(user.id, "127.0.0.1:7000".parse().unwrap(), b"ping", None)
        .unwrap();
    let back = device.recv_from(user.id, 100, None).unwrap();
    assert_eq!(back.data, b"ping");
    assert_eq!(back.from, Some("127.0.0.1:7000".parse().unwrap()));
    // The same address again conflicts.
    let again = device.udp_bind(
        "127.0.0.1:7000".parse().unwrap(),
        UdpService::None,
        &options,
    );
    assert_eq!(
        again.unwrap_err().status(),
        Some(NtStatus::ADDRESS_ALREADY_EXISTS)
    );
}

#[test]
fn serve_runs_the_service_counts_its_bytes_and_refuses_the_rest() {
    use wskrs_protocol::{encode_serve, Service};
    let driver = HostDriver::default();
    let device = device(&driver);
    let remote = std::net::SocketAddr::from(([127, 0, 0, 1], RECORDING_PORT));
    let echo = device
        .tcp_connect(remote, &TcpConnectOptions::default())
        .unwrap()
        .id;
    let discard = device
        .tcp_connect(remote, &TcpConnectOptions::default())
        .unwrap()
        .id;
    let udp = device
        .udp_bind(
            "127.0.0.1:0".parse().unwrap(),
            UdpService::None,
            &crate::UdpBindOptions::default(),
        )
        .unwrap()
        .id;
    let status = |id, service| device.serve(id, service).err().and_then(|e| e.status());
    // Validation first: SERVICE_NONE and a nonzero reserved field.
    assert_eq!(
        status(echo, Service::None),
        Some(NtStatus::INVALID_PARAMETER)
    );
    let mut bad = encode_serve(echo, Service::Echo);
    bad[20] = 1;
    assert_eq!(
        device.raw(IoctlCode::SERVE.0, &bad, 8).status,
        NtStatus::INVALID_PARAMETER
    );
    assert_eq!(
        status(udp, Service::Echo),
        Some(NtStatus::INVALID_DEVICE_STATE)
    );
    assert_eq!(
        status(EndpointId(99), Service::Echo),
        Some(NtStatus::NOT_FOUND)
    );

    device.send_all(discard, b"12345", None).unwrap();
    assert_eq!(status(echo, Service::Echo), None);
    assert_eq!(status(discard, Service::Discard), None);
    assert_eq!(
        status(echo, Service::Source),
        Some(NtStatus::INVALID_DEVICE_STATE)
    );
    driver.peer_sends(echo.0, b"abc");
    driver.peer_sends(discard.0, b"xyz");
    assert_eq!(driver.peer_received(echo.0, 3), b"abc");
    assert_eq!(
        driver.peer_received(discard.0, 5),
        b"12345",
        "what the user sent; the service sent nothing"
    );
    assert_eq!(
        device.send(echo, b"x", None).unwrap_err().status(),
        Some(NtStatus::INVALID_DEVICE_STATE)
    );
    assert_eq!(
        device.nodelay(discard).unwrap_err().status(),
        Some(NtStatus::INVALID_DEVICE_STATE)
    );
    let list = device.list().unwrap();
    let counters: Vec<_> = list
        .iter()
        .map(|e| {
            (
                e.status.service,
                e.status.bytes_sent,
                e.status.bytes_received,
            )
        })
        .collect();
    // The discard connection's service took the peer's 3 bytes and sent nothing.
    assert_eq!(
        counters,
        [
            (Service::Echo, 3, 3),
            (Service::Discard, 5, 3),
            (Service::None, 0, 0)
        ]
    );
    let totals = device.stats().unwrap();
    assert_eq!(
        (
            totals.bytes_sent,
            totals.bytes_received,
            totals.connections_served
        ),
        (8, 6, 2)
    );
    device.close(echo).unwrap();
    assert_eq!(driver.endpoint_ids(), [discard.0, udp.0]);
}

#[test]
fn closing_a_handle_closes_what_it_created_without_detach() {
    let driver = HostDriver::default();
    let first = device(&driver);
    let second = device(&driver);
    let kept = first.tcp_connect(echo(), &detached()).unwrap();
    let owned = first
        .tcp_connect(echo(), &TcpConnectOptions::default())
        .unwrap();
    let mine: Vec<bool> = first
        .list()
        .unwrap()
        .iter()
        .map(|entry| entry.status.owned_by_caller)
        .collect();
    assert_eq!(mine, [true, true]);
    assert!(second
        .list()
        .unwrap()
        .iter()
        .all(|e| !e.status.owned_by_caller));
    drop(first);
    assert_eq!(driver.endpoint_ids(), [kept.id.0]);
    assert_ne!(kept.id, owned.id);
}

#[test]
fn options_follow_the_kind_and_failures_are_counted() {
    let driver = HostDriver::default();
    let device = device(&driver);
    let udp = device
        .udp_bind(
            "[::1]:0".parse().unwrap(),
            UdpService::None,
            &crate::UdpBindOptions {
                bind: wskrs_protocol::BindFlags {
                    v6only: Some(true),
                    ..wskrs_protocol::BindFlags::default()
                },
                ..crate::UdpBindOptions::default()
            },
        )
        .unwrap();
    assert_eq!(
        device
            .set_socket_option(udp.id, OptionId::RcvBuf, 32_768)
            .unwrap(),
        32_768
    );
    assert_eq!(
        device.socket_option(udp.id, OptionId::RcvBuf).unwrap(),
        32_768
    );
    assert!(device.only_v6(udp.id).unwrap(), "as bound");
    assert_eq!(
        device.nodelay(udp.id).unwrap_err().status(),
        Some(NtStatus::INVALID_DEVICE_STATE)
    );
    assert_eq!(
        device
            .recv_from(udp.id, 1, Some(Duration::from_millis(5)))
            .unwrap_err()
            .status(),
        Some(NtStatus::IO_TIMEOUT)
    );
    let entry = &device.list().unwrap()[0];
    // The nodelay refusal and the timeout.
    assert_eq!(entry.activity.errors, 2);
    assert_eq!(entry.activity.last_status, Some(NtStatus::IO_TIMEOUT));
    assert_eq!(device.stats().unwrap().errors, 2);
}

#[test]
fn direct_requests_need_their_exact_output_buffer() {
    let driver = HostDriver::default();
    let device = device(&driver);
    let id = device
        .tcp_connect(echo(), &TcpConnectOptions::default())
        .unwrap()
        .id;
    let udp = device
        .udp_bind(
            "127.0.0.1:7005".parse().unwrap(),
            UdpService::None,
            &crate::UdpBindOptions::default(),
        )
        .unwrap()
        .id;
    let to = "127.0.0.1:9999".parse().unwrap();
    let status = |code: IoctlCode, input: &[u8], out_len| device.raw(code.0, input, out_len).status;
    // SEND / SEND_TO: the output buffer is the data, exactly `length` bytes.
    assert_eq!(
        status(IoctlCode::SEND, &encode_send(id, 0, 5), 4),
        NtStatus::INVALID_PARAMETER
    );
    assert_eq!(
        status(IoctlCode::SEND, &encode_send(id, 0, 5), 6),
        NtStatus::INVALID_PARAMETER
    );
    assert_eq!(
        status(IoctlCode::SEND, &encode_send(id, 0, 5), 5),
        NtStatus::SUCCESS
    );
    assert_eq!(
        status(IoctlCode::SEND_TO, &encode_send_to(udp, 0, to, 3), 2),
        NtStatus::INVALID_PARAMETER
    );
    // RECV: exactly `max_length`; RECV_FROM: 48 + `max_length`.
    assert_eq!(
        status(IoctlCode::RECV, &encode_recv(id, 0, 5), 16 + 5),
        NtStatus::INVALID_PARAMETER
    );
    assert_eq!(
        status(IoctlCode::RECV, &encode_recv(id, 0, 5), 0),
        NtStatus::INVALID_PARAMETER
    );
    let echoed = device.raw(IoctlCode::RECV.0, &encode_recv(id, 0, 5), 5);
    assert_eq!(
        (echoed.status, echoed.output.len()),
        (NtStatus::SUCCESS, 5),
        "the 5 zero bytes sent above"
    );
    // Even below the smallest RECV_FROM buffer (49): the length differs.
    assert_eq!(
        status(IoctlCode::RECV_FROM, &encode_recv_from(udp, 0, 10), 10),
        NtStatus::INVALID_PARAMETER
    );
    assert_eq!(
        status(IoctlCode::RECV_FROM, &encode_recv_from(udp, 0, 10), 48 + 9),
        NtStatus::INVALID_PARAMETER
    );
    assert_eq!(
        status(IoctlCode::RECV_FROM, &encode_recv_from(udp, 0, 10), 48),
        NtStatus::INVALID_PARAMETER
    );
    // Zero lengths are not requests in v3.
    assert_eq!(
        status(IoctlCode::SEND, &encode_send(id, 0, 0), 0),
        NtStatus::INVALID_PARAMETER
    );
    assert_eq!(
        status(IoctlCode::RECV, &encode_recv(id, 0, 0), 0),
        NtStatus::INVALID_PARAMETER
    );
    assert_eq!(
        status(IoctlCode::SEND_TO, &encode_send_to(udp, 0, to, 0), 0),
        NtStatus::INVALID_PARAMETER
    );
    assert_eq!(
        status(IoctlCode::RECV_FROM, &encode_recv_from(udp, 0, 0), 48),
        NtStatus::INVALID_PARAMETER
    );
}

#[test]
fn the_library_refuses_what_the_driver_would_without_a_request() {
    let driver = HostDriver::default();
    let device = device(&driver);
    let id = device
        .tcp_connect(echo(), &TcpConnectOptions::default())
        .unwrap()
        .id;
    let udp = device
        .udp_bind(
            "127.0.0.1:7007".parse().unwrap(),
            UdpService::None,
            &crate::UdpBindOptions::default(),
        )
        .unwrap()
        .id;
    let to = "127.0.0.1:9999".parse().unwrap();
    let before = driver.requests().len();
    let not_sent = |result: Result<u32, ClientError>| {
        matches!(
            result,
            Err(ClientError::Request {
                error: ProtocolError::InvalidParameter,
                ..
            })
        )
    };
    assert!(
        not_sent(device.send_to(udp, to, b"", None)),
        "empty datagram"
    );
    assert!(not_sent(device.send_to(
        udp,
        to,
        &vec![0; MAX_DATAGRAM as usize + 1],
        None
    )));
    assert!(not_sent(device.send(
        id,
        &vec![0; MAX_TRANSFER as usize + 1],
        None
    )));
    assert!(matches!(
        device.recv(id, 0, None),
        Err(ClientError::Request { .. })
    ));
    assert!(matches!(
        device.recv_from(udp, 0, None),
        Err(ClientError::Request { .. })
    ));
    assert!(matches!(
        device.recv_from(udp, MAX_DATAGRAM + 1, None),
        Err(ClientError::Request { .. })
    ));
    assert_eq!(
        device.send(id, b"", None).unwrap(),
        0,
        "nothing to send: no request"
    );
    assert_eq!(device.recv_into(id, &mut [], None).unwrap(), 0);
    assert_eq!(driver.requests().len(), before);
}

#[test]
fn recv_from_output_carries_the_header_then_the_datagram() {
    let driver = HostDriver::default();
    let device = device(&driver);
    let udp = device
        .udp_bind(
            "127.0.0.1:7006".parse().unwrap(),
            UdpService::None,
            &crate::UdpBindOptions::default(),
        )
        .unwrap()
        .id;
    let from = "127.0.0.1:7008".parse().unwrap();
    let sender = device
        .udp_bind(from, UdpService::None, &crate::UdpBindOptions::default())
        .unwrap()
        .id;
    device
        .send_to(
            sender,
            "127.0.0.1:7006".parse().unwrap(),
            b"0123456789",
            None,
        )
        .unwrap();
    // A 4-byte room truncates the datagram: Information is 48 + 4.
    let raw = device.raw(IoctlCode::RECV_FROM.0, &encode_recv_from(udp, 0, 4), 48 + 4);
    assert_eq!((raw.status, raw.output.len()), (NtStatus::SUCCESS, 52));
    let reply = parse_recv_from_reply(&raw.output).unwrap();
    assert_eq!((reply.data, reply.remote), (&b"0123"[..], Some(from)));
}

#[test]
fn a_cancelled_receive_fails_with_status_cancelled_and_the_endpoint_stays_usable() {
    let driver = HostDriver::default();
    let device = device(&driver);
    let id = device
        .tcp_connect(echo(), &TcpConnectOptions::default())
        .unwrap()
        .id;
    let canceller = device.canceller();
    let seen_outstanding = Arc::new(AtomicUsize::new(0));
    let (hook_canceller, seen) = (canceller.clone(), Arc::clone(&seen_outstanding));
    driver.while_waiting(move || {
        seen.store(hook_canceller.outstanding(), Ordering::SeqCst);
        assert!(hook_canceller.cancel(), "a request is outstanding");
    });
    let error = device
        .recv(id, 100, Some(Duration::from_secs(30)))
        .unwrap_err();
    assert_eq!(seen_outstanding.load(Ordering::SeqCst), 1);
    assert!(error.is_cancelled(), "{error:?}");
    assert_eq!(error.status(), Some(NtStatus::CANCELLED));
    assert_eq!(error.kind(), io::ErrorKind::Interrupted);
    assert_eq!(error.exit_code(), crate::EXIT_CANCELLED);
    assert_eq!(
        error.to_string(),
        "recv on endpoint 1: the request was cancelled (STATUS_CANCELLED)"
    );
    assert_eq!(canceller.outstanding(), 0);
    // Without a cancel the same wait times out; the endpoint still echoes.
    driver.while_waiting(|| {});
    let timed_out = device
        .recv(id, 100, Some(Duration::from_millis(5)))
        .unwrap_err();
    assert_eq!(timed_out.status(), Some(NtStatus::IO_TIMEOUT));
    device.send(id, b"still here", None).unwrap();
    assert_eq!(device.recv(id, 100, None).unwrap().data, b"still here");
    // A cancel with nothing outstanding does not hit the next request.
    assert!(!canceller.cancel());
    device.send(id, b"x", None).unwrap();
    assert_eq!(device.recv(id, 1, None).unwrap().data, b"x");
}

#[test]
fn an_interrupted_device_refuses_requests_until_cleared() {
    let driver = HostDriver::default();
    let device = device(&driver);
    let canceller = device.canceller();
    assert!(!canceller.interrupt(), "nothing outstanding");
    let before = driver.requests().len();
    let error = device.info().unwrap_err();
    assert!(error.is_cancelled(), "{error:?}");
    let error = device.send(EndpointId(1), b"abc", None).unwrap_err();
    assert!(error.is_cancelled(), "{error:?}");
    assert_eq!(
        driver.requests().len(),
        before,
        "nothing reached the driver"
    );
    canceller.clear_interrupt();
    device.info().unwrap();
    // Cancellers of another handle do not touch this one.
    let other_device = Device::from_transport(Box::new(driver.handle()));
    assert!(!other_device.canceller().interrupt());
    device.info().unwrap();
}

/// A driver whose LIST and RESOLVE replies claim `total` entries but carry none (found by
/// the host fuzzer, target `client`): the retries must not size their buffers from that
/// claim. Records the output buffer length of every request.
struct ClaimsHugeTotal {
    total: u32,
    output_lens: std::sync::Mutex<Vec<usize>>,
}

impl crate::Transport for ClaimsHugeTotal {
    fn ioctl(&self, code: u32, _input: &[u8], output: &mut [u8]) -> crate::IoctlCompletion {
        self.output_lens.lock().unwrap().push(output.len());
        let mut reply = [0u8; 16];
        let len = if code == IoctlCode::LIST.0 {
            wskrs_protocol::ListWriter::new(&mut reply)
                .unwrap()
                .finish()
        } else {
            wskrs_protocol::ResolveWriter::new(&mut reply)
                .unwrap()
                .finish()
        };
        reply[12..16].copy_from_slice(&self.total.to_le_bytes());
        output[..len].copy_from_slice(&reply[..len]);
        crate::IoctlCompletion {
            status: NtStatus::SUCCESS,
            information: len,
        }
    }

    fn ioctl_in_direct(&self, _code: u32, _input: &[u8], _data: &[u8]) -> crate::IoctlCompletion {
        unreachable!("LIST and RESOLVE send no data")
    }
}

#[test]
fn list_and_resolve_retries_are_bounded_whatever_total_the_driver_claims() {
    for total in [1_000_000, u32::MAX] {
        let transport = Arc::new(ClaimsHugeTotal {
            total,
            output_lens: std::sync::Mutex::new(Vec::new()),
        });
        let device = Device::from_transport(Box::new(Arc::clone(&transport)));
        assert_eq!(device.list().unwrap(), []);
        assert_eq!(device.resolve("localhost", "", None).unwrap(), []);
        let lens = transport.output_lens.lock().unwrap().clone();
        assert_eq!(lens.len(), 6, "three LISTs and three RESOLVEs");
        for len in lens {
            assert!(
                len <= super::MAX_RETRY_OUTPUT,
                "a retry asked for {len} bytes for a claimed total of {total}"
            );
        }
    }
}

#[test]
fn transact_sends_the_request_and_returns_the_reply() {
    let driver = HostDriver::default();
    let device = device(&driver);
    let id = device
        .tcp_connect(echo(), &TcpConnectOptions::default())
        .unwrap()
        .id;
    let mut reply = [0u8; 64];
    let n = device.transact(id, b"request", &mut reply, None).unwrap();
    assert_eq!(&reply[..n], b"request", "the echo service answers");
    // A reply buffer shorter than the request: the library lends a buffer of its own.
    let mut short = [0u8; 3];
    let n = device
        .transact(id, b"0123456789", &mut short, None)
        .unwrap();
    assert_eq!(&short[..n], b"012");
    let mut rest = [0u8; 7];
    let mut got = 0;
    while got < 7 {
        got += device.recv_into(id, &mut rest[got..], None).unwrap();
    }
    assert_eq!(&rest, b"3456789");
    // Empty or too long: refused before anything is sent.
    let too_long = vec![0u8; MAX_TRANSACT as usize + 1];
    for (request, room) in [(&b""[..], 4), (&b"x"[..], 0), (&too_long[..], 4)] {
        let mut reply = vec![0u8; room];
        assert!(matches!(
            device.transact(id, request, &mut reply, None),
            Err(ClientError::Request {
                error: ProtocolError::InvalidParameter,
                ..
            })
        ));
    }
}
