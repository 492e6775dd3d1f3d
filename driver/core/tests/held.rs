//! HELD through `Driver::device_control` against the fake kernel: it reports what the WSK
//! library holds, grows while endpoints are open and returns to its baseline once they closed;
//! and DEVICE_SECURITY, the device DACL the shell reads back.

mod common;

use common::{addr, call, close, connect, info, listen, recv_exact, send, Setup, ALICE};
use wskrs_fake_kernel as fake;
use wskrs_protocol::{self as protocol, IoctlCode, Service};

fn held(setup: &Setup) -> protocol::Held {
    let reply = call(
        setup.driver,
        ALICE,
        IoctlCode::HELD,
        &protocol::encode_held(),
        64,
    )
    .expect("HELD");
    protocol::parse_held_reply(&reply).expect("HELD reply")
}

#[test]
fn held_grows_with_endpoints_and_returns_to_baseline() {
    let setup = Setup::start();
    let d = setup.driver;
    let _ = info(d, ALICE);
    let base = held(&setup);
    let fake_base = fake::counts();

    let listener = listen(d, ALICE, addr("127.0.0.1:8310"), Service::Echo, false).expect("listen");
    let connection = connect(d, ALICE, addr("127.0.0.1:8310"), false).expect("connect");
    assert_eq!(send(d, ALICE, connection.id, b"held?"), Ok(5));
    assert_eq!(recv_exact(d, ALICE, connection.id, 5), b"held?");

    let open = held(&setup);
    let fake_open = fake::counts();
    // Listener, connection and the echo service's accepted side.
    assert_eq!(open.sockets - base.sockets, 3, "{open:?}");
    assert_eq!(
        open.sockets - base.sockets,
        (fake_open.sockets_open - fake_base.sockets_open) as u64
    );
    assert_eq!(
        open.pool_allocations - base.pool_allocations,
        (fake_open.pool_live - fake_base.pool_live) as u64
    );
    assert_eq!(
        open.irps - base.irps,
        (fake_open.irps_live - fake_base.irps_live) as u64
    );
    assert!(open.pool_bytes > base.pool_bytes);

    close(d, ALICE, connection.id).expect("close connection");
    close(d, ALICE, listener.id).expect("close listener");
    common::eventually("HELD is back to its baseline", || held(&setup) == base);
    setup.finish();
}

/// A shell's reader of the device's DACL for the test: a fixed descriptor, as a kernel
/// returns it (self-relative bytes).
fn admin_only_dacl(out: &mut [u8]) -> Result<usize, wsk::NtStatus> {
    let mut buffer = [0u8; 128];
    let descriptor = wsk::security::parse_sddl(protocol::DEVICE_SDDL_MAPPED, &mut buffer)
        .map_err(|_| wsk::NtStatus::INVALID_PARAMETER)?;
    let bytes = descriptor.as_bytes();
    out.get_mut(..bytes.len())
        .ok_or(wsk::NtStatus::BUFFER_TOO_SMALL)?
        .copy_from_slice(bytes);
    Ok(bytes.len())
}

/// A reader that fails as the kernel can.
fn refusing_dacl(_: &mut [u8]) -> Result<usize, wsk::NtStatus> {
    Err(wsk::NtStatus::ACCESS_DENIED)
}

/// A reader whose bytes are not a descriptor.
fn garbage_dacl(out: &mut [u8]) -> Result<usize, wsk::NtStatus> {
    out.get_mut(..8)
        .ok_or(wsk::NtStatus::BUFFER_TOO_SMALL)?
        .copy_from_slice(&[9; 8]);
    Ok(8)
}

#[test]
fn device_security_reports_what_the_shell_reads_back() {
    let setup = Setup::start();
    let d = setup.driver;
    let ask = || {
        call(
            d,
            ALICE,
            IoctlCode::DEVICE_SECURITY,
            &protocol::encode_device_security(),
            272,
        )
    };
    // No reader yet (a shell that never set one): a state error, not a guess.
    assert_eq!(ask().err(), Some(wsk::NtStatus::INVALID_DEVICE_STATE));
    d.set_device_dacl_query(admin_only_dacl);
    let reply = ask().expect("DEVICE_SECURITY");
    assert_eq!(
        protocol::parse_security_reply(&reply),
        Ok(protocol::DEVICE_SDDL_MAPPED)
    );
    // The kernel's failure is the request's status; a descriptor that does not parse is
    // reported as such.
    d.set_device_dacl_query(refusing_dacl);
    assert_eq!(ask().err(), Some(wsk::NtStatus::ACCESS_DENIED));
    d.set_device_dacl_query(garbage_dacl);
    assert_eq!(ask().err(), Some(wsk::NtStatus::INVALID_SECURITY_DESCR));
    setup.finish();
}
