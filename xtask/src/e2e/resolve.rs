//! Name resolution (RESOLVE): what `localhost` resolves to.

use std::net::SocketAddr;

use anyhow::{ensure, Context, Result};
use serde_json::Value;

use super::helpers::{json_ok, LOOPBACK4, LOOPBACK6};
use super::Ctx;

/// RESOLVE of `localhost` gives loopback addresses only, at least one of 127.0.0.1 and
/// ::1, carrying the service's port.
pub(super) fn resolve_localhost(cx: &Ctx<'_>) -> Result<()> {
    for (service, port) in [(None, 0), (Some("9"), 9)] {
        let mut args = vec!["resolve", "localhost"];
        if let Some(service) = service {
            args.extend(["--service", service]);
        }
        let reply = json_ok(cx.wine, &args)?;
        let addresses: Vec<SocketAddr> = reply
            .get("addresses")
            .and_then(Value::as_array)
            .with_context(|| format!("no addresses in {reply}"))?
            .iter()
            .map(|a| {
                a.as_str()
                    .and_then(|s| s.parse().ok())
                    .with_context(|| format!("{a} is not an address"))
            })
            .collect::<Result<_>>()?;
        ensure!(
            addresses
                .iter()
                .any(|a| a.ip() == LOOPBACK4 || a.ip() == LOOPBACK6),
            "localhost resolved to {addresses:?}: neither 127.0.0.1 nor ::1"
        );
        ensure!(
            addresses
                .iter()
                .all(|a| a.ip().is_loopback() && a.port() == port),
            "localhost (service {service:?}) resolved to {addresses:?}: expected loopback addresses with port {port}"
        );
    }
    Ok(())
}
