//! Socket options (`wskctl opt`): what is set reads back, on IPv4 and IPv6.

use std::time::Duration;

use anyhow::{ensure, Context, Result};

use super::helpers::{at, close, connect_detached, json_ok, LOOPBACK4, LOOPBACK6};
use super::Ctx;
use crate::peers;
use crate::scenarios::wait_closed;
use crate::util::json_u64;

/// keepalive, nodelay and rcvbuf of a connection round trip on IPv4 and IPv6: each starts
/// different from the value set, and the value read back after the set is the value set.
pub(super) fn options_round_trip(cx: &Ctx<'_>) -> Result<()> {
    for host in [LOOPBACK4, LOOPBACK6] {
        let (mut server, port) = peers::echo_server_on(
            cx.layout,
            &format!("echo-server-options-{}", if host.is_ipv4() { 4 } else { 6 }),
            host,
        )?;
        let id = connect_detached(cx.wine, &at(host, port))?;
        let id_s = id.to_string();
        server.wait_event("accept", Duration::from_secs(5))?;
        for (name, set, wire) in [
            ("keepalive", "on", 1),
            ("nodelay", "on", 1),
            ("rcvbuf", "262144", 262_144),
        ] {
            let get = |what: &str| -> Result<u64> {
                json_u64(&json_ok(cx.wine, &["opt", &id_s, name])?, "value")
                    .with_context(|| format!("{what} {name} on {host}"))
            };
            let initial = get("reading")?;
            ensure!(
                initial != wire,
                "{name} on {host} is already {initial} before the set; the round trip would prove nothing"
            );
            let echoed = json_u64(&json_ok(cx.wine, &["opt", &id_s, name, set])?, "value")?;
            ensure!(
                echoed == wire,
                "setting {name} to {set} on {host} read back {echoed}"
            );
            let again = get("re-reading")?;
            ensure!(again == wire, "{name} on {host} reads {again} after set");
        }
        close(cx.wine, id)?;
        wait_closed(&mut server, Duration::from_secs(5))?;
    }
    Ok(())
}
