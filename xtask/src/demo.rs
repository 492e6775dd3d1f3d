//! `cargo xtask demo`: a short, readable session with the driver under Wine.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::artifacts;
use crate::layout::Layout;
use crate::scenarios;
use crate::setup;
use crate::util::{fmt_bytes, fmt_duration, fmt_rate, parse_json_output, say};
use crate::wine::{Session, WSKCTL_TIMEOUT};

const OUTBOUND_BYTES: u64 = 1 << 20;
const CLIENTS: u64 = 8;
const BYTES_PER_CLIENT: u64 = 256 << 10;

pub(crate) fn run(layout: &Layout) -> Result<ExitCode> {
    let demo_started = Instant::now();
    say("wsk-rs demo: the kernel driver under Wine, talking to Linux programs on 127.0.0.1");
    say("");
    say("[1] Tools");
    setup::ensure(layout)?;
    say("[2] Build");
    let built = artifacts::build(layout)?;
    built.print_summary();

    say("[3] Wine");
    let started = Instant::now();
    let session = Session::start(layout, &built)?;
    match session.prefix_created {
        Some(took) => say(&format!(
            "    created prefix {} in {}",
            layout.prefix.display(),
            fmt_duration(took)
        )),
        None => say(&format!("    reusing prefix {}", layout.prefix.display())),
    }
    say(&format!(
        "    persistent wineserver started (keeps the driver loaded between commands); Wine ready after {}",
        fmt_duration(started.elapsed())
    ));

    let result = story(layout, &session);
    let teardown = session.finish();
    match (result, teardown) {
        (Ok(()), Ok(())) => {
            say("    Wine stopped (wineserver -k); no Wine process or peer left running");
            say(&format!(
                "demo finished in {}",
                fmt_duration(demo_started.elapsed())
            ));
            Ok(ExitCode::SUCCESS)
        }
        (Err(err), teardown) => {
            if let Err(t) = teardown {
                eprintln!("error: clean-up: {t:#}");
            }
            Err(err.context(format!(
                "the demo failed; Wine's output is in {}",
                layout.wine_log().display()
            )))
        }
        (Ok(()), Err(err)) => Err(err),
    }
}

fn story(layout: &Layout, session: &Session) -> Result<()> {
    let wine = &session.wine;

    say("[4] Load the driver (wskrs.sys as kernel service WskRs, through the service manager)");
    let (install, start) = wine.load_driver()?;
    say(&format!(
        "    wskctl driver install: {}; wskctl driver start: {}",
        fmt_duration(install),
        fmt_duration(start)
    ));
    let info = wine.wskctl_ok(&["info"], WSKCTL_TIMEOUT)?;
    say(&format!("    wskctl info: {}", info.stdout.trim()));

    say("[5a] The driver connects out to a Linux TCP echo server (python3)");
    let out = scenarios::outbound_echo(layout, wine, "demo", OUTBOUND_BYTES)
        .context("outbound scenario")?;
    let local = if out.local == "-" {
        "(local address not reported: Wine's netio.sys lacks WskGetLocalAddress)".to_owned()
    } else {
        format!("from {}", out.local)
    };
    say(&format!(
        "    endpoint {} connected to {} in {} {local}",
        out.id,
        out.remote,
        fmt_duration(out.connect)
    ));
    say(&format!(
        "    kernel -> Linux: sent {} of random data in {} ({})",
        fmt_bytes(out.bytes),
        fmt_duration(out.send),
        fmt_rate(out.bytes, out.send)
    ));
    say(&format!(
        "    Linux -> kernel: received {} back in {} ({}); SHA-256 matches",
        fmt_bytes(out.bytes),
        fmt_duration(out.recv),
        fmt_rate(out.bytes, out.recv)
    ));
    say(&format!(
        "    closed in {}; the server counted {} bytes in, {} bytes out, then saw {}",
        fmt_duration(out.close),
        out.server_received,
        out.server_sent,
        out.server_close
    ));

    say("[5b] An in-kernel TCP echo listener serves Linux clients (python3 threads)");
    let inb = scenarios::listener_echo(layout, wine, "demo", CLIENTS, BYTES_PER_CLIENT)
        .context("listener scenario")?;
    let secs = std::time::Duration::from_secs_f64(inb.clients_seconds.max(0.0));
    say(&format!(
        "    endpoint {} listening on 127.0.0.1:{} (service echo), set up in {}",
        inb.id,
        inb.port,
        fmt_duration(inb.listen)
    ));
    say(&format!(
        "    {} concurrent clients x {}: {} bytes Linux -> kernel, {} bytes back, in {} ({} each way)",
        inb.clients,
        fmt_bytes(inb.bytes_each),
        inb.total_sent,
        inb.total_received,
        fmt_duration(secs),
        fmt_rate(inb.total_sent, secs)
    ));
    say(&format!(
        "    every byte came back unchanged; listener served {} connections; closed in {}",
        inb.served,
        fmt_duration(inb.close)
    ));

    let listed = wine.wskctl_ok(&["--json", "list"], WSKCTL_TIMEOUT)?;
    let remaining = parse_json_output(&listed.stdout)
        .ok()
        .and_then(|v| v.as_array().map(Vec::len))
        .unwrap_or(0);
    say(&format!("    endpoints still open: {remaining}"));

    say("[6] Unload");
    let stop = wine.unload_driver()?;
    say(&format!(
        "    wskctl driver stop: {}; service uninstalled",
        fmt_duration(stop)
    ));
    Ok(())
}
