//! Name resolution (RESOLVE): what `localhost` resolves to, and a resolution that waits on a
//! slow name server (the provider's `WSKRS_PROVIDER_HOLD_RESOLVE`) holds only its caller and
//! ends at Ctrl-C.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use serde_json::Value;

use super::cancel::ctrl_c_while_waiting;
use super::driver::{restart, with_provider_switch};
use super::helpers::{json_ok, LOOPBACK4, LOOPBACK6};
use super::terminal::{tmux_wskctl, Tmux};
use super::{held, Ctx};
use crate::util::{fmt_duration, json_u64, parse_json_output, say};
use crate::wine::WSKCTL_TIMEOUT;

/// RESOLVE of `localhost` gives loopback addresses only, at least one of 127.0.0.1 and
/// ::1, carrying the service's port.
pub(super) fn resolve_localhost(cx: &Ctx<'_>) -> Result<()> {
    for (service, port) in [(None, 0), (Some("9"), 9)] {
        let mut args = vec!["resolve", "localhost"];
        if let Some(service) = service {
            args.extend(["--service", service]);
        }
        let addresses = addresses(&json_ok(cx.wine, &args)?)?;
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

/// The `addresses` of a `wskctl --json resolve` reply.
fn addresses(reply: &Value) -> Result<Vec<SocketAddr>> {
    reply
        .get("addresses")
        .and_then(Value::as_array)
        .with_context(|| format!("no addresses in {reply}"))?
        .iter()
        .map(|a| {
            a.as_str()
                .and_then(|s| s.parse().ok())
                .with_context(|| format!("{a} is not an address"))
        })
        .collect()
}

/// How long the provider holds each `WskGetAddressInfo` in
/// [`a_held_resolve_holds_only_its_caller`]: long beside starting a wskctl under Wine (about
/// a second here), so that the order of the events checked there is not a race.
const HOLD_RESOLVE: Duration = Duration::from_secs(20);

/// A RESOLVE the provider holds (`WSKRS_PROVIDER_HOLD_RESOLVE`: every `WskGetAddressInfo`
/// answers 20 s late, as a slow name server would) holds only its caller. While it waits,
/// from other wskctl processes: STATS is answered and counts the driver's worker thread that
/// runs it, INFO is answered, and a RESOLVE with a 1 s timeout ends with `STATUS_IO_TIMEOUT`;
/// all before the held one ends, with `localhost`'s addresses. Until ABI 7 the driver resolved
/// in its dispatch routine, and under Wine that held every request to the driver until the
/// name resolved (docs/reliability.md, finding 7). Then `wskctl resolve` in a terminal, held
/// the same way, ends at Ctrl-C.
pub(super) fn a_held_resolve_holds_only_its_caller(cx: &Ctx<'_>) -> Result<()> {
    let hold_ms = HOLD_RESOLVE.as_millis().to_string();
    with_provider_switch(cx, "WSKRS_PROVIDER_HOLD_RESOLVE", &hold_ms, || {
        restart(cx.wine)?;
        while_a_resolve_is_held(cx)?;
        ctrl_c_cancels_a_held_resolve(cx)
    })?;
    // INFO registers the reloaded driver with WSK, as the cases before found it (the next
    // case's HELD baseline includes the registration).
    cx.wine.wskctl_ok(&["info"], WSKCTL_TIMEOUT)?;
    Ok(())
}

fn while_a_resolve_is_held(cx: &Ctx<'_>) -> Result<()> {
    std::thread::scope(|scope| -> Result<()> {
        let started = Instant::now();
        let waiting = scope.spawn(|| {
            cx.wine.wskctl(
                &["--json", "resolve", "localhost", "--timeout-ms", "60000"],
                HOLD_RESOLVE + WSKCTL_TIMEOUT,
            )
        });
        // It is at the provider once a worker thread of the driver runs it (HELD counts the
        // driver's work items).
        loop {
            let (_, counters) = held::now(cx.wine)?;
            if json_u64(&counters, "work_items")? >= 1 {
                break;
            }
            ensure!(
                !waiting.is_finished(),
                "the held RESOLVE ended before STATS saw a worker thread run it"
            );
            ensure!(
                started.elapsed() < HOLD_RESOLVE,
                "no worker thread of the driver ran the RESOLVE within {} (HELD: {counters})",
                fmt_duration(HOLD_RESOLVE)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        cx.wine.wskctl_ok(&["info"], WSKCTL_TIMEOUT)?;
        let short = cx.wine.wskctl(
            &["resolve", "localhost", "--timeout-ms", "1000"],
            WSKCTL_TIMEOUT,
        )?;
        let text = short.combined();
        ensure!(
            short.code() == Some(1) && text.contains("STATUS_IO_TIMEOUT"),
            "a RESOLVE with a 1 s timeout while the provider holds resolutions: expected exit 1 \
             with STATUS_IO_TIMEOUT, got exit {:?}: {text}",
            short.code()
        );
        let beside = started.elapsed();
        ensure!(
            !waiting.is_finished(),
            "the held RESOLVE ended before the requests beside it ({} in): they waited for it",
            fmt_duration(beside)
        );
        let out = waiting
            .join()
            .map_err(|_| anyhow::anyhow!("the held resolve's thread panicked"))??;
        ensure!(out.success(), "the held RESOLVE failed: {}", out.combined());
        let resolved = addresses(&parse_json_output(&out.stdout)?)?;
        ensure!(
            resolved.iter().all(|a| a.ip().is_loopback()) && !resolved.is_empty(),
            "the held RESOLVE of localhost gave {resolved:?}"
        );
        let ended = started.elapsed();
        ensure!(
            ended >= HOLD_RESOLVE,
            "the held RESOLVE ended after {}, before the provider's hold of {}: the switch was \
             not in force",
            fmt_duration(ended),
            fmt_duration(HOLD_RESOLVE)
        );
        say(&format!(
            "     STATS, INFO and a timed-out RESOLVE answered within {} while a RESOLVE waited \
             {} on the provider",
            fmt_duration(beside),
            fmt_duration(ended)
        ));
        Ok(())
    })
}

/// How long a cancelled RESOLVE's worker may run on: the 1 s grace the driver gives a
/// provider that does not cancel a resolution, and room for a slow machine (the hold is 20 s).
const WORKER_AFTER_CANCEL: Duration = Duration::from_secs(5);

/// `wskctl resolve` in a terminal while the provider holds resolutions: Ctrl-C cancels its
/// pended RESOLVE, and it prints `cancelled: resolve localhost: ...` and exits 130 within
/// 5 s, as a cancelled RECV does; the driver's worker thread for it ends soon after.
fn ctrl_c_cancels_a_held_resolve(cx: &Ctx<'_>) -> Result<()> {
    let tmux = Tmux::new("wskrs-e2e-resolve-ctrl-c");
    tmux_wskctl(cx, &tmux, "resolve localhost --timeout-ms 60000")?;
    let (screen, took) = ctrl_c_while_waiting(&tmux, "wskctl resolve localhost")?;
    ensure!(
        screen.contains("cancelled: resolve localhost: the request was cancelled")
            && screen.contains("wskctl exited 130"),
        "expected `cancelled: resolve localhost: ...` and exit 130 {} after Ctrl-C:\n{screen}",
        fmt_duration(took)
    );
    // The cancel reaches the worker thread too: it cancels its resolution at the provider,
    // which ends it. Until it did, the worker waited out the hold (17 s here), holding a
    // slot and the driver's unload.
    let cancelled = Instant::now();
    loop {
        let (_, counters) = held::now(cx.wine)?;
        if json_u64(&counters, "work_items")? == 0 {
            break;
        }
        ensure!(
            cancelled.elapsed() < WORKER_AFTER_CANCEL,
            "the cancelled RESOLVE's worker thread was still running {} after the cancel \
             (HELD: {counters})",
            fmt_duration(cancelled.elapsed())
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    say(&format!(
        "     Ctrl-C ended a held `wskctl resolve` {} after the key; its worker thread ended \
         {} after that",
        fmt_duration(took),
        fmt_duration(cancelled.elapsed())
    ));
    Ok(())
}
