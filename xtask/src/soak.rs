//! `cargo xtask soak`: mixed load against the loaded driver for a set time, in rounds, with
//! the driver's HELD counters read after every round once the round closed what it opened.
//!
//! One round: an in-kernel echo listener serving concurrent Linux clients (services), an
//! outbound connection moving data through the IOCTL path and back (user-driven data), a
//! UDP echo endpoint answering datagrams from a Linux socket, connects and closes to a Linux
//! echo server, and receives that time out (the driver's timeout and cancel path). Every
//! piece checks its own result. The bar: HELD and the endpoint count equal to their values
//! before the run after every round (flat), and the driver still unloads.

use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;

use crate::artifacts::Built;
use crate::choice::Choice;
use crate::e2e::host::HostWatch;
use crate::layout::Layout;
use crate::peers;
use crate::provider::Provider;
use crate::scenarios;
use crate::shell::Shell;
use crate::util::{free_port, json_u64, parse_json_output, say};
use crate::wine::{Session, Wine, WSKCTL_TIMEOUT};

/// Echo clients per round, and bytes each.
const CLIENTS: u64 = 8;
const BYTES_EACH: u64 = 64 << 10;
/// Bytes the outbound connection moves each way per round.
const OUTBOUND: u64 = 256 << 10;
/// Connects and closes per round.
const CHURN: usize = 4;
/// Datagrams per round.
const DATAGRAMS: usize = 16;
/// How long closes may take to settle before HELD is compared.
const SETTLE: Duration = Duration::from_secs(10);

/// `cargo xtask soak` options.
pub(crate) struct Options {
    pub(crate) seconds: u64,
    pub(crate) pin: bool,
}

impl Options {
    /// `--minutes N` | `--seconds N`, `--pin`.
    pub(crate) fn parse(args: &[String]) -> Result<Self> {
        let mut options = Self {
            seconds: 60,
            pin: false,
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut number = |what: &str| -> Result<u64> {
                it.next()
                    .with_context(|| format!("{what} needs a number"))?
                    .parse()
                    .with_context(|| format!("{what} needs a whole number"))
            };
            match arg.as_str() {
                "--minutes" => options.seconds = number("--minutes")?.saturating_mul(60),
                "--seconds" => options.seconds = number("--seconds")?,
                "--pin" => options.pin = true,
                other => bail!(
                    "unknown soak option `{other}`: use --minutes N, --seconds N, --pin \
                     (and WSKRS_SHELL / WSKRS_PROVIDER, or --shell/--provider before the command)"
                ),
            }
        }
        ensure!(options.seconds > 0, "a soak needs at least one second");
        Ok(options)
    }
}

/// The short soak of `cargo xtask test` (WDM shell, wsk-rs provider): 20 s; true when it passed.
pub(crate) fn short_run(layout: &Layout) -> bool {
    let options = Options {
        seconds: 20,
        pin: false,
    };
    crate::choice::run_short(layout, "soak", |built, shell, provider| {
        run_with(layout, built, &options, shell, provider)
    })
}

pub(crate) fn run(layout: &Layout, options: &Options) -> Result<ExitCode> {
    crate::choice::run_chosen(layout, |built, shell, provider| {
        run_with(layout, built, options, shell, provider)
    })
}

/// One soak with `shell` and `provider`; prints its lines; true when every round passed,
/// the counters stayed flat and the driver unloaded.
pub(crate) fn run_with(
    layout: &Layout,
    built: &Built,
    options: &Options,
    shell: Shell,
    provider: Provider,
) -> Result<bool> {
    if options.pin {
        crate::util::pin_to_cpu0("soak: Wine, the driver and the peers")?;
    }
    shell.select();
    provider.select();
    let label = format!("soak [{}, {}]", shell.name(), provider.name());
    say(&format!(
        "{label}: {} s of rounds (services, user-driven data, UDP, connects/closes, timed-out receives)",
        options.seconds
    ));
    let session = Session::start(layout, built)?;
    let result = soak_session(layout, &session.wine, options, provider, &label);
    let finished = session.finish();
    let ok = match result {
        Ok(()) => true,
        Err(err) => {
            say(&format!("{label}: FAILED: {err:#}"));
            false
        }
    };
    if let Err(err) = finished {
        say(&format!(
            "{label}: FAILED: the driver did not unload cleanly: {err:#}"
        ));
        return Ok(false);
    }
    if ok {
        say(&format!("{label}: ok; the driver unloaded"));
    }
    Ok(ok)
}

/// Totals of one minute (or of the run).
#[derive(Default)]
struct Tally {
    rounds: u64,
    bytes: u64,
    connections: u64,
    datagrams: u64,
    timeouts: u64,
    /// wskctl launches Wine ended before wskctl ran, run again (`Wine::wskctl`).
    silent_launches: u64,
}

fn soak_session(
    layout: &Layout,
    wine: &Wine,
    options: &Options,
    provider: Provider,
    label: &str,
) -> Result<()> {
    // Wine 8.0's netio.sys has no datagram sockets.
    let udp = provider == Provider::Wskrs;
    if !udp {
        say(&format!(
            "{label}: no UDP rounds: Wine's netio.sys has no datagram sockets"
        ));
    }
    wine.load_driver()?;
    let (echo, echo_port) = peers::echo_server(layout, "soak-echo")?;
    // The driver registers with WSK at its first socket (two pool blocks from then on): one
    // connection first, so that the baseline is a driver in service.
    let warm_up = connect(wine, &format!("127.0.0.1:{echo_port}"))?;
    wine.wskctl_ok(&["close", &warm_up], WSKCTL_TIMEOUT)?;
    std::thread::sleep(Duration::from_millis(500));
    let (open_before, held_before) = crate::e2e::held::now(wine)?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(options.seconds);
    let mut minute = Tally::default();
    let mut total = Tally::default();
    let mut minute_started = started;
    let mut launches_mark = crate::wine::silent_launches();
    let mut minute_index = 1;
    let mut watch = HostWatch::new(&layout.wine_log());
    while Instant::now() < deadline {
        let round = total.rounds + 1;
        if let Err(err) = one_round(layout, wine, echo_port, round, udp, &mut minute) {
            // What a failed command cannot say itself: whether a process of the prefix
            // crashed meanwhile, and whether the driver still answers.
            let crash = watch.crash_lines();
            let crashed = if crash.is_empty() {
                "no crash in Wine's log".to_owned()
            } else {
                format!("Wine's log: {}", crash.join(" | "))
            };
            let alive = if crate::e2e::host::device_opens(wine) {
                "the driver still answers INFO"
            } else {
                "the driver does not answer INFO any more"
            };
            return Err(err.context(format!("round {round} ({crashed}; {alive})")));
        }
        minute.rounds += 1;
        total.rounds += 1;
        settle(wine, open_before, &held_before).with_context(|| format!("after round {round}"))?;
        let now = Instant::now();
        if now.duration_since(minute_started) >= Duration::from_secs(60) || now >= deadline {
            let (_, held) = crate::e2e::held::now(wine)?;
            let launches = crate::wine::silent_launches();
            minute.silent_launches = launches.saturating_sub(launches_mark);
            launches_mark = launches;
            say(&format!(
                "{label}: minute {minute_index}: {} round(s), {} bytes moved, {} connections, {} datagrams, {} timed-out receives, {} silent wskctl launch(es) run again; endpoints open {open_before}; HELD {held}",
                minute.rounds, minute.bytes, minute.connections, minute.datagrams, minute.timeouts, minute.silent_launches
            ));
            total.silent_launches += minute.silent_launches;
            total.bytes += minute.bytes;
            total.connections += minute.connections;
            total.datagrams += minute.datagrams;
            total.timeouts += minute.timeouts;
            minute = Tally::default();
            minute_started = now;
            minute_index += 1;
        }
    }
    let _ = echo.finish(Duration::from_secs(5));
    say(&format!(
        "{label}: {} round(s) in {:.1} s: {} bytes moved, {} connections, {} datagrams, {} timed-out receives, {} silent wskctl launch(es) run again; HELD flat at {held_before} after every round",
        total.rounds,
        started.elapsed().as_secs_f64(),
        total.bytes,
        total.connections,
        total.datagrams,
        total.timeouts,
        total.silent_launches
    ));
    Ok(())
}

/// Waits until the endpoint count and HELD are back to the run's baseline.
fn settle(wine: &Wine, open_before: u64, held_before: &Value) -> Result<()> {
    let deadline = Instant::now() + SETTLE;
    loop {
        let (open, held) = crate::e2e::held::now(wine)?;
        if open == open_before && held == *held_before {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "not flat: {open} endpoint(s) open (before: {open_before}), HELD {held} (before: {held_before}) after {} s",
                SETTLE.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn one_round(
    layout: &Layout,
    wine: &Wine,
    echo_port: u16,
    round: u64,
    udp: bool,
    tally: &mut Tally,
) -> Result<()> {
    let tag = format!("soak-{round}");
    let inbound = scenarios::listener_echo(layout, wine, &tag, CLIENTS, BYTES_EACH)
        .context("in-kernel echo service")?;
    tally.bytes += inbound.total_sent + inbound.total_received;
    tally.connections += inbound.served;

    let outbound =
        scenarios::outbound_echo(layout, wine, &tag, OUTBOUND).context("outbound echo")?;
    tally.bytes += outbound.bytes * 2;
    tally.connections += 1;

    if udp {
        tally.datagrams += udp_echo(wine).context("UDP echo")? as u64;
    }

    let remote = format!("127.0.0.1:{echo_port}");
    for _ in 0..CHURN {
        let id = connect(wine, &remote)?;
        // A receive with nothing to read times out: the driver's timeout path.
        let recv = wine.wskctl(&["recv", &id, "--timeout-ms", "50"], WSKCTL_TIMEOUT)?;
        ensure!(
            !recv.status.success() && recv.stderr.contains("TIMEOUT"),
            "a receive with nothing to read did not time out: `wskctl recv {id} --timeout-ms 50` \
             exited with {} after {} ms: {}",
            recv.status,
            recv.elapsed.as_millis(),
            crate::wine::silent_note(&recv)
        );
        tally.timeouts += 1;
        let close = wine.wskctl(&["close", &id], WSKCTL_TIMEOUT)?;
        ensure!(
            close.success(),
            "`wskctl close {id}` exited with {} after {} ms: {}",
            close.status,
            close.elapsed.as_millis(),
            crate::wine::silent_note(&close)
        );
        tally.connections += 1;
    }
    Ok(())
}

fn connect(wine: &Wine, remote: &str) -> Result<String> {
    let out = wine.wskctl_ok(
        &["--json", "tcp", "connect", remote, "--detach"],
        WSKCTL_TIMEOUT,
    )?;
    Ok(json_u64(&parse_json_output(&out.stdout)?, "id")?.to_string())
}

/// A UDP echo endpoint answers [`DATAGRAMS`] datagrams from a Linux socket; returns how many
/// came back (all, or an error).
fn udp_echo(wine: &Wine) -> Result<usize> {
    let port = free_port()?;
    let local = format!("127.0.0.1:{port}");
    let out = wine.wskctl_ok(
        &[
            "--json",
            "udp",
            "bind",
            &local,
            "--service",
            "echo",
            "--detach",
        ],
        WSKCTL_TIMEOUT,
    )?;
    let id = json_u64(&parse_json_output(&out.stdout)?, "id")?.to_string();
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    socket.set_read_timeout(Some(Duration::from_secs(2)))?;
    let to: SocketAddr = local.parse()?;
    let mut back = 0;
    for i in 0..DATAGRAMS {
        let payload = format!("soak datagram {i}");
        socket.send_to(payload.as_bytes(), to)?;
        let mut buf = [0u8; 64];
        // Datagrams may be lost on loopback only under memory pressure; one retry each.
        let n = if let Ok((n, _)) = socket.recv_from(&mut buf) {
            n
        } else {
            socket.send_to(payload.as_bytes(), to)?;
            socket
                .recv_from(&mut buf)
                .context("no echo of a datagram")?
                .0
        };
        ensure!(
            buf.get(..n) == Some(payload.as_bytes()),
            "datagram {i} came back different"
        );
        back += 1;
    }
    wine.wskctl_ok(&["close", &id], WSKCTL_TIMEOUT)?;
    Ok(back)
}
