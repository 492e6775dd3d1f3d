//! Request validation and INFO, through `Driver::device_control` against the fake kernel:
//! malformed requests get their documented statuses and change nothing.

mod common;

use common::{addr, connect, info, ioctl, list, stats, udp_bind, Setup, ALICE, QUICK_MS};
use wsk::NtStatus;
use wskrs_driver::DRIVER_VERSION;
use wskrs_fake_kernel as fake;
use wskrs_protocol::{self as protocol, EndpointId, IoctlCode, Service, UdpService};

#[test]
fn info_before_and_after_registration() {
    let setup = Setup::start();
    let d = setup.driver;
    assert_eq!(
        fake::netio::registrations(),
        0,
        "nothing registered before the first request"
    );

    // The provider does not attach: INFO still answers, with WSK version 0, and registers
    // nothing.
    // STATUS_NOINTERFACE: no provider attached in time.
    fake::netio::fail_next_capture(NtStatus::from_u32(0xC000_02B9));
    let before = info(d, ALICE);
    assert_eq!(before.driver_version, DRIVER_VERSION);
    assert_eq!(before.abi_version, protocol::ABI_VERSION);
    assert_eq!(before.wsk_version, 0);
    assert_eq!(before.wsk_version_parts(), None);
    assert_eq!(before.endpoint_count, 0);
    assert_eq!(
        fake::netio::registrations(),
        0,
        "a failed capture leaves no registration"
    );

    // A request that needs the provider fails with the registration's status.
    fake::netio::fail_next_register(NtStatus::INSUFFICIENT_RESOURCES);
    assert_eq!(
        udp_bind(d, ALICE, addr("127.0.0.1:0"), UdpService::None, false),
        Err(NtStatus::INSUFFICIENT_RESOURCES)
    );
    assert_eq!(fake::netio::registrations(), 0);

    // The next INFO registers and reports the provider's dispatch version (1.0).
    let after = info(d, ALICE);
    assert_eq!(after.wsk_version_parts(), Some((1, 0)));
    assert_eq!(fake::netio::registrations(), 1);
    assert_eq!(fake::netio::calls(fake::netio::Event::Capture), 1);

    // Registration happens once; an endpoint shows in the count.
    udp_bind(d, ALICE, addr("127.0.0.1:0"), UdpService::None, false).expect("UDP_BIND");
    assert_eq!(info(d, ALICE).endpoint_count, 1);
    // Two WskRegister calls: the attempt whose capture failed (undone) and the one kept.
    assert_eq!(fake::netio::calls(fake::netio::Event::Register), 2);
    assert_eq!(fake::netio::calls(fake::netio::Event::Deregister), 1);
    assert_eq!(fake::netio::registrations(), 1, "registered once");
    setup.finish();
}

/// The observable state: visible endpoints, open provider sockets, driver counters.
fn snapshot(d: &'static common::Driver) -> (usize, usize, u64, u64) {
    let s = stats(d);
    (
        list(d, ALICE).len(),
        fake::counts().sockets_open,
        s.endpoints_opened,
        s.errors,
    )
}

#[test]
#[allow(clippy::too_many_lines)] // a table of cases, one per documented status
fn malformed_requests_get_their_documented_status_and_change_nothing() {
    let setup = Setup::start();
    let d = setup.driver;
    let udp = udp_bind(d, ALICE, addr("127.0.0.1:0"), UdpService::None, false).expect("UDP_BIND");
    let before = snapshot(d);
    let connect_to = addr("127.0.0.1:7");

    let mut cases: Vec<(&str, IoctlCode, Vec<u8>, usize, NtStatus)> = Vec::new();
    let good = protocol::encode_tcp_connect(connect_to, None, false, QUICK_MS).to_vec();
    // Wrong size: one byte short, one byte long (header.size adjusted), empty, header only.
    cases.push((
        "short",
        IoctlCode::TCP_CONNECT,
        good[..good.len() - 1].to_vec(),
        128,
        NtStatus::INFO_LENGTH_MISMATCH,
    ));
    let mut long = good.clone();
    long.push(0);
    let long_len = u32::try_from(long.len()).unwrap();
    long[4..8].copy_from_slice(&long_len.to_le_bytes());
    cases.push((
        "long",
        IoctlCode::TCP_CONNECT,
        long,
        128,
        NtStatus::INFO_LENGTH_MISMATCH,
    ));
    cases.push((
        "empty",
        IoctlCode::INFO,
        Vec::new(),
        64,
        NtStatus::INFO_LENGTH_MISMATCH,
    ));
    let mut size_lies = good.clone();
    size_lies[4..8].copy_from_slice(&100u32.to_le_bytes());
    cases.push((
        "header.size differs",
        IoctlCode::TCP_CONNECT,
        size_lies,
        128,
        NtStatus::INFO_LENGTH_MISMATCH,
    ));
    // A request of another code's layout.
    cases.push((
        "other layout",
        IoctlCode::CLOSE,
        protocol::encode_info().to_vec(),
        64,
        NtStatus::INFO_LENGTH_MISMATCH,
    ));
    // Bad version.
    let mut v1 = good.clone();
    v1[0..4].copy_from_slice(&1u32.to_le_bytes());
    cases.push((
        "version 1",
        IoctlCode::TCP_CONNECT,
        v1,
        128,
        NtStatus::REVISION_MISMATCH,
    ));
    let mut next = protocol::encode_list().to_vec();
    next[0..4].copy_from_slice(&(protocol::ABI_VERSION + 1).to_le_bytes());
    cases.push((
        "the next version",
        IoctlCode::LIST,
        next,
        4096,
        NtStatus::REVISION_MISMATCH,
    ));
    // A version 3 client's INFO: its code without the read-access bits of ABI 4.
    let mut v3 = protocol::encode_info().to_vec();
    v3[0..4].copy_from_slice(&3u32.to_le_bytes());
    cases.push((
        "a version 3 INFO",
        IoctlCode::INFO_BEFORE_ABI_4,
        v3,
        64,
        NtStatus::REVISION_MISMATCH,
    ));
    // Bad family in the remote address (offset 8: after the header).
    let mut family = good.clone();
    family[8..10].copy_from_slice(&7u16.to_le_bytes());
    cases.push((
        "family 7",
        IoctlCode::TCP_CONNECT,
        family,
        128,
        NtStatus::INVALID_ADDRESS_COMPONENT,
    ));
    let mut no_remote = good.clone();
    no_remote[8..8 + 28].fill(0); // the remote WireAddr
    cases.push((
        "no remote",
        IoctlCode::TCP_CONNECT,
        no_remote,
        128,
        NtStatus::INVALID_ADDRESS_COMPONENT,
    ));
    let port0 = protocol::encode_tcp_listen(addr("127.0.0.1:0"), Service::Echo, 0, false).to_vec();
    cases.push((
        "listen port 0",
        IoctlCode::TCP_LISTEN,
        port0,
        128,
        NtStatus::INVALID_ADDRESS_COMPONENT,
    ));
    // Bad fields.
    cases.push((
        "id 0",
        IoctlCode::CLOSE,
        protocol::encode_close(EndpointId(0)).to_vec(),
        64,
        NtStatus::INVALID_PARAMETER,
    ));
    let mut flags = protocol::encode_disconnect(udp.id, QUICK_MS, false).to_vec();
    flags[20..24].copy_from_slice(&0x80u32.to_le_bytes());
    cases.push((
        "unknown flag",
        IoctlCode::DISCONNECT,
        flags,
        64,
        NtStatus::INVALID_PARAMETER,
    ));
    // Unknown codes: another function, another device type, another method.
    let unknown = protocol::ctl_code(protocol::DEVICE_TYPE, 0x8FF, protocol::METHOD_BUFFERED, 0);
    cases.push((
        "unknown function",
        IoctlCode(unknown),
        protocol::encode_info().to_vec(),
        64,
        NtStatus::INVALID_DEVICE_REQUEST,
    ));
    cases.push((
        "other device",
        IoctlCode(IoctlCode::INFO.0 ^ 0x0001_0000),
        protocol::encode_info().to_vec(),
        64,
        NtStatus::INVALID_DEVICE_REQUEST,
    ));
    cases.push((
        "METHOD_NEITHER",
        IoctlCode(IoctlCode::INFO.0 | 3),
        protocol::encode_info().to_vec(),
        64,
        NtStatus::INVALID_DEVICE_REQUEST,
    ));
    // Output too small for the fixed reply (one byte short of it, and none at all).
    let info_len = protocol::min_output_len(IoctlCode::INFO.0).unwrap();
    cases.push((
        "INFO output short",
        IoctlCode::INFO,
        protocol::encode_info().to_vec(),
        info_len - 1,
        NtStatus::BUFFER_TOO_SMALL,
    ));
    let endpoint_len = protocol::min_output_len(IoctlCode::TCP_CONNECT.0).unwrap();
    cases.push((
        "connect output short",
        IoctlCode::TCP_CONNECT,
        good.clone(),
        endpoint_len - 1,
        NtStatus::BUFFER_TOO_SMALL,
    ));
    cases.push((
        "close output 0",
        IoctlCode::CLOSE,
        protocol::encode_close(udp.id).to_vec(),
        0,
        NtStatus::BUFFER_TOO_SMALL,
    ));
    let list_len = protocol::min_output_len(IoctlCode::LIST.0).unwrap();
    cases.push((
        "LIST output short",
        IoctlCode::LIST,
        protocol::encode_list().to_vec(),
        list_len - 1,
        NtStatus::BUFFER_TOO_SMALL,
    ));
    // A data code sent as a buffered request (the shell routes them by method).
    cases.push((
        "RECV through the buffered path",
        IoctlCode::RECV,
        protocol::encode_recv(udp.id, QUICK_MS, 10).to_vec(),
        64,
        NtStatus::INVALID_DEVICE_REQUEST,
    ));

    let connects = fake::provider::calls(fake::provider::Op::Connect);
    for (name, code, input, output_len, expected) in cases {
        let (status, reply) = ioctl(d, ALICE, code, &input, output_len);
        assert_eq!(status, expected, "{name}: {status:?}");
        assert!(reply.is_empty(), "{name}: no reply bytes");
        assert_eq!(snapshot(d), before, "{name} changed nothing");
    }
    assert_eq!(
        fake::provider::calls(fake::provider::Op::Connect),
        connects,
        "no connect reached the provider"
    );
    // Direct-I/O requests whose data buffer does not match the request, or that name an
    // endpoint of the wrong kind, are refused before any I/O.
    let recv10 = protocol::encode_recv(udp.id, QUICK_MS, 10);
    let direct_cases: [(&str, IoctlCode, Vec<u8>, usize, NtStatus); 4] = [
        (
            "RECV data short",
            IoctlCode::RECV,
            recv10.to_vec(),
            9,
            NtStatus::INVALID_PARAMETER,
        ),
        (
            "RECV data long",
            IoctlCode::RECV,
            recv10.to_vec(),
            11,
            NtStatus::INVALID_PARAMETER,
        ),
        (
            "RECV on UDP",
            IoctlCode::RECV,
            recv10.to_vec(),
            10,
            NtStatus::INVALID_DEVICE_STATE,
        ),
        (
            "ACCEPT on UDP",
            IoctlCode::ACCEPT,
            protocol::encode_accept(udp.id, QUICK_MS, false).to_vec(),
            80,
            NtStatus::INVALID_DEVICE_STATE,
        ),
    ];
    for (name, code, input, data_len, expected) in direct_cases {
        let (status, n, _) = common::direct(d, ALICE, code, &input, &vec![0u8; data_len]).wait();
        assert_eq!((status, n), (expected, 0), "{name}");
        assert_eq!(snapshot(d), before, "{name} changed nothing");
    }
    // The endpoint that a rejected CLOSE named is still there and works.
    assert_eq!(list(d, ALICE)[0].id, udp.id);
    assert!(
        connect(d, ALICE, addr("127.0.0.1:9"), false).is_err(),
        "nothing listens on port 9"
    );
    setup.finish();
}

#[test]
fn concurrent_first_requests_keep_one_registration() {
    let setup = Setup::start();
    let d = setup.driver;
    std::thread::scope(|s| {
        let threads: Vec<_> = (0..8u16)
            .map(|i| {
                s.spawn(move || {
                    if i % 2 == 0 {
                        info(d, wskrs_driver::Caller(usize::from(i) + 1)).wsk_version
                    } else {
                        let local = addr(&format!("127.0.0.1:{}", 9000 + i));
                        let caller = wskrs_driver::Caller(usize::from(i) + 1);
                        udp_bind(d, caller, local, UdpService::None, false).expect("UDP_BIND");
                        0x0100
                    }
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), 0x0100);
        }
    });
    assert_eq!(fake::netio::registrations(), 1, "one registration kept");
    assert_eq!(
        fake::netio::calls(fake::netio::Event::Register),
        fake::netio::calls(fake::netio::Event::Deregister) + 1,
        "every extra registration was released"
    );
    assert_eq!(info(d, ALICE).endpoint_count, 4);
    setup.finish();
}
