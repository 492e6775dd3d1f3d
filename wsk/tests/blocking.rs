//! Blocking requests (`irp::Blocking`) against the fake kernel and provider: inline and late
//! completion, synchronous failure without completion, and the timeout ladder (cancel, force
//! close, abandon).

mod common;

use std::time::Duration;

use common::{pair, register, QUICK};
use wskrs_fake_kernel as fake;

#[test]
fn links_and_round_trips() {
    let kernel = fake::Kernel::start();
    let client = register();
    let (mut near, mut far) = pair(&client);
    near.send_all(b"hello", QUICK).unwrap();
    let mut buf = [0u8; 16];
    let n = far.receive(&mut buf, QUICK).unwrap();
    assert_eq!(&buf[..n], b"hello");
    drop((near, far));
    assert!(client.shutdown(Duration::from_secs(1)));
    kernel.assert_clean();
}
