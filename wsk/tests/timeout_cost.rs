//! What a blocking call's timeout costs: the grace period before a provider that ignores
//! cancellation gets its socket closed, and the error that says the socket is gone.

mod common;

use std::time::{Duration, Instant};

use common::{pair, register, QUICK};
use fake::provider::{self, Config};
use wsk::Error;
use wskrs_fake_kernel as fake;

#[test]
fn a_cancelled_receive_leaves_the_socket_usable_and_says_so() {
    let kernel = fake::Kernel::start();
    provider::configure(Config::WINDOWS);
    let client = register();
    let (near, mut far) = pair(&client);
    let mut buf = [0u8; 8];
    let err = far.receive(&mut buf, Duration::from_millis(50)).err();
    assert_eq!(err, Some(Error::TIMEOUT));
    assert_eq!(err.map(Error::socket_closed), Some(false));
    assert!(far.is_open());
    drop((near, far));
    assert!(client.shutdown(QUICK));
    kernel.assert_clean();
}

#[test]
fn a_receive_whose_cancel_is_ignored_costs_the_grace_period_and_says_the_socket_closed() {
    let kernel = fake::Kernel::start();
    provider::configure(Config::WINE);
    // Virtual time runs 20 times faster: the 1 s grace takes 50 ms of real time.
    fake::set_time_scale(20);
    let client = register();
    let (near, mut far) = pair(&client);
    let mut buf = [0u8; 8];
    let started = Instant::now();
    let err = far.receive(&mut buf, Duration::from_millis(100)).err();
    let took = started.elapsed();
    assert_eq!(err, Some(Error::TIMEOUT));
    assert_eq!(err.map(Error::socket_closed), Some(true));
    assert!(
        err.is_some_and(|e| e.to_string().contains("unusable")),
        "{err:?}"
    );
    // 100 ms + the 1 s grace in virtual time (55 ms real), at least.
    assert!(took >= Duration::from_millis(50), "{took:?}");
    assert!(!far.is_open());
    drop((near, far));
    assert!(client.shutdown(QUICK));
    kernel.assert_clean();
}
