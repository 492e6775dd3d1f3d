//! Reverse name resolution (`wsk::name_of` over `WskGetNameInfo`) against the fake provider,
//! which answers numerically: the host as its address text, the service as its port.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{register, QUICK};
use fake::provider::{self, Behavior, Config, Op};
use wsk::{name_of, NtStatus};
use wskrs_fake_kernel as fake;

#[test]
fn name_of_answers_host_and_service_for_ipv4_and_ipv6() {
    for config in Config::ALL {
        let kernel = fake::Kernel::start();
        provider::configure(config);
        let client = register();
        for (at, host, service) in [
            ("192.0.2.7:80", "192.0.2.7", "80"),
            ("[2001:db8::1]:65535", "2001:db8::1", "65535"),
        ] {
            let addr: SocketAddr = at.parse().unwrap();
            let (h, s) = name_of(&client, addr, QUICK).unwrap();
            assert_eq!((h.as_str(), s.as_str()), (host, service), "{config:?} {at}");
            assert_eq!(h.to_string(), host);
        }
        assert_eq!(provider::calls(Op::NameInfo), 2);
        assert!(client.shutdown(QUICK));
        kernel.assert_clean();
    }
}

#[test]
fn name_of_reports_the_provider_status() {
    let kernel = fake::Kernel::start();
    let client = register();
    let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
    provider::script(Op::NameInfo, [Behavior::Fail(NtStatus::NOT_FOUND)]);
    assert_eq!(
        name_of(&client, addr, QUICK).unwrap_err().status(),
        NtStatus::NOT_FOUND
    );
    provider::script(
        Op::NameInfo,
        [Behavior::FailSync(NtStatus::NOT_IMPLEMENTED)],
    );
    assert_eq!(
        name_of(&client, addr, QUICK).unwrap_err().status(),
        NtStatus::NOT_IMPLEMENTED
    );
    // The next call works again.
    assert_eq!(
        name_of(&client, addr, QUICK).unwrap().0.as_str(),
        "127.0.0.1"
    );
    assert!(client.shutdown(QUICK));
    kernel.assert_clean();
}

#[test]
fn name_of_times_out_and_cancels() {
    let kernel = fake::Kernel::start();
    provider::configure(Config::WINDOWS);
    let client = register();
    let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
    provider::script(
        Op::NameInfo,
        [Behavior::Hang {
            cancel: true,
            close: false,
        }],
    );
    let e = name_of(&client, addr, Duration::from_millis(50)).unwrap_err();
    assert_eq!(e.status(), NtStatus::IO_TIMEOUT);
    assert_eq!(
        provider::waiting_requests(),
        0,
        "the cancelled request completed"
    );
    assert!(client.shutdown(QUICK));
    kernel.assert_clean();
}
