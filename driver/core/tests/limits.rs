//! The driver's limits: read from its registry parameters (clamped, defaults where absent),
//! applied to the endpoint table and to listeners, and reported by STATS.

mod common;

use common::{addr, close, stats, udp_bind, Setup};
use wsk::NtStatus;
use wskrs_driver::{Limits, Quotas};
use wskrs_protocol::{self as protocol, IoctlCode, Service, UdpService};

const ALICE: wskrs_driver::Caller = wskrs_driver::Caller(0x10_0000);

/// The value of the parameter named `name` in `values` (as the registry would answer).
fn lookup(values: &[(&str, u32)], name: &str) -> Option<u32> {
    values.iter().find(|(n, _)| *n == name).map(|&(_, v)| v)
}

#[test]
fn parameters_are_taken_clamped_or_defaulted() {
    assert_eq!(Limits::from_parameters(|_| None), Limits::DEFAULT);
    let values = [
        ("MaxEndpoints", 10_000),
        ("MaxConnectionsPerListener", 7),
        ("EndpointsPerHandle", 0),
        ("PendedRequestsPerHandle", 128),
        ("LockedBytesPerHandle", u32::MAX),
    ];
    let limits = Limits::from_parameters(|name| lookup(&values, name));
    assert_eq!(
        limits,
        Limits {
            endpoints: 10_000,
            // Raised to TCP_LISTEN's default, so a request naming no number fits.
            connections_per_listener: 256,
            quotas: Quotas {
                endpoints: 1,
                pended: 128,
                locked_bytes: 1 << 30,
            },
        }
    );
    // The parameters' defaults are `Limits::DEFAULT`.
    let defaults: Vec<(&str, u32)> = protocol::DRIVER_PARAMETERS
        .iter()
        .map(|p| (p.name, p.default))
        .collect();
    assert_eq!(
        Limits::from_parameters(|name| lookup(&defaults, name)),
        Limits::DEFAULT
    );
}

#[test]
fn the_table_holds_max_endpoints_and_refuses_the_next() {
    let setup = Setup::start();
    let d = setup.driver;
    let limits = Limits {
        endpoints: 16,
        connections_per_listener: 300,
        quotas: Quotas {
            endpoints: 100,
            ..Quotas::DEFAULT
        },
    };
    d.set_limits(limits).unwrap();
    assert_eq!(d.limits(), limits);
    let s = stats(d);
    assert_eq!(
        (
            s.max_endpoints,
            s.max_connections_per_listener,
            s.quota_endpoints,
            s.quota_pended,
            s.quota_locked_bytes
        ),
        (16, 300, 100, 32, 16 << 20),
        "STATS reports the limits in force"
    );
    let local = addr("127.0.0.1:0");
    let opened: Vec<_> = (0..16)
        .map(|_| udp_bind(d, ALICE, local, UdpService::None, false).unwrap())
        .collect();
    assert_eq!(
        udp_bind(d, ALICE, local, UdpService::None, false),
        Err(NtStatus::INSUFFICIENT_RESOURCES),
        "the 17th endpoint finds the table full"
    );
    // The table is sized: the limits cannot change under it.
    assert_eq!(
        d.set_limits(Limits::DEFAULT),
        Err(NtStatus::INVALID_DEVICE_STATE)
    );
    close(d, ALICE, opened[0].id).unwrap();
    let again = udp_bind(d, ALICE, local, UdpService::None, false).unwrap();
    close(d, ALICE, again.id).unwrap();
    for e in &opened[1..] {
        close(d, ALICE, e.id).unwrap();
    }
    assert_eq!(stats(d).endpoints_peak, 16);
    setup.finish();
}

#[test]
fn a_listener_may_ask_for_up_to_the_configured_connections() {
    let setup = Setup::start();
    let d = setup.driver;
    d.set_limits(Limits {
        connections_per_listener: 1_000,
        ..Limits::DEFAULT
    })
    .unwrap();
    let listen = |max_connections: u32, port: u16| {
        let options = protocol::ListenOptions {
            max_connections,
            ..protocol::ListenOptions::default()
        };
        let local = addr(&format!("127.0.0.1:{port}"));
        let request = protocol::encode_tcp_listen_with(local, Service::Echo, &options).unwrap();
        common::call(d, ALICE, IoctlCode::TCP_LISTEN, &request, 128)
            .map(|reply| protocol::parse_endpoint_reply(&reply).unwrap())
    };
    assert_eq!(
        listen(1_001, 9301).err(),
        Some(NtStatus::INVALID_PARAMETER),
        "more than the driver's limit is refused before any socket opens"
    );
    let most = listen(1_000, 9302).unwrap();
    let default = listen(0, 9303).unwrap();
    close(d, ALICE, most.id).unwrap();
    close(d, ALICE, default.id).unwrap();
    setup.finish();
}
