//! HELD through `Driver::device_control` against the fake kernel: it reports what the WSK
//! library holds, grows while endpoints are open and returns to its baseline once they closed.

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
