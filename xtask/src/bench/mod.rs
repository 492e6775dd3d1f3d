//! `cargo xtask bench`: the project's speed beside what a user would pick instead, measured in
//! one run on one CPU.
//!
//! Every process is pinned to CPU 0 (`taskset`; unpinned figures on a 2-vCPU machine are
//! bimodal), each figure is measured `--runs` times and reported as its median and spread.
//! Each run visits every shell × provider session in turn (and the anchors in the first), so
//! that load which comes and goes on a shared machine falls on every column alike. Columns: the driver under each shell × WSK provider, the Winsock anchor (the
//! same work through user-mode Winsock under the same Wine: `wskrs-bench.exe`, tests/bench),
//! and native Linux (the machine's ceiling). Ratios are against the Winsock anchor.
//!
//! The figures (docs/performance.md says what each measures and how to read it):
//! - through the driver's in-kernel services, driven by a Linux client: echo round trips of
//!   64 B and 64 KiB, bulk into discard, connect + 1 B echo + close per second; and for the
//!   echo and discard, what Wine's processes spent per operation (CPU time and context
//!   switches of every process of the prefix, from `/proc`: `cost.rs`), which load moves far
//!   less than it moves times;
//! - through the IOCTL path, driven by a Windows client (`wskctl`'s library): INFO round trip
//!   and the floor (a code the driver refuses at once) with one call to Wine's server beside
//!   them (a reply with output costs one more than a refusal), `KernelTcpStream` round trips of 64 B
//!   (a SEND and a RECV each, and one TRANSACT each) and bulk with 128 KiB and 4 MiB writes,
//!   to a native Linux server;
//! - beside them, column `shm`: 64-byte round trips through a page shared by two Wine
//!   processes (`wskrs-bench ring`), with an event doorbell and polled: the floor a request
//!   ring between the client and the driver host would have under Wine (not built).
//!
//! After the table, issue 11's targets judged on its medians (`targets.rs`): met or not per
//! column, and the floor measured in the same run that misses a target by itself.
//!
//! `--quick` is the short form `cargo xtask test` runs to prove the command works: one run,
//! small transfers, one shell × provider unless `--shell`/`--provider` say; no figure is judged.

mod cost;
mod native;
mod targets;
mod windows;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::artifacts;
use crate::choice::Choice;
use crate::layout::Layout;
use crate::provider::Provider;
use crate::shell::Shell;
use crate::util::{fmt_duration, json_u64, parse_json_output, say};
use crate::wine::{Session, Wine, WSKCTL_TIMEOUT};

use cost::Cost;

/// What `bench` was asked for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Options {
    /// Measurements per figure and column.
    runs: usize,
    /// The short form (small transfers, one run, one shell × provider by default).
    quick: bool,
    /// One JSON document instead of the table.
    json: bool,
    /// Which figures: all, or one group (`--only`).
    only: Option<Group>,
    /// `--help`: print the usage and measure nothing.
    help: bool,
}

/// A group of figures `--only` can pick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    /// The in-kernel services, driven by Linux clients.
    Services,
    /// The IOCTL path (INFO, the floor, `KernelTcpStream`), driven by a Windows client, and
    /// the shared-memory ring beside it.
    Ioctl,
}

/// `cargo xtask bench --help`.
const USAGE: &str = "\
usage: cargo xtask bench [--runs N] [--quick] [--json] [--only services|ioctl]
                         [--shell wdm|kmdf] [--provider wine|wskrs]

Measures the driver's speed beside user-mode Winsock under the same Wine and native Linux,
every process pinned to CPU 0, and prints one table (docs/performance.md says what each
figure measures), then issue 11's targets judged on its medians: the ratio and `met`,
`not met` or `within spread` per column, and where a floor measured in the same run (the
refused IOCTL plus the in-kernel echo; Wine's data floor) misses a target by itself, that
floor as the reason (for the provider against netio: Wine's context switches for the same
work, so a miss shows whose it is). Each run starts every shell x provider session in turn,
so load that comes and goes falls on every column alike. The services' rows include what
Wine's processes (wineserver, the driver host, a Winsock server) spent per echo round trip
and per MiB into discard: CPU time and context switches, read from /proc, which load moves
far less than it moves times. Unless --provider picks one, each shell then runs Wine's netio
and the wsk-rs provider in two sessions at once (the second in its own prefix,
target/wine/paired) and alternates batches of 64 B echo round trips between them: the
paired row, netio's median over the provider's per pair, with the 95% interval of its
median, which drift on a shared machine cannot tilt.

  --runs N       measurements per figure and column, 1 to 99 (default 5; --quick: 1)
  --quick        small transfers, one run, the WDM shell with the wsk-rs provider unless
                 --shell/--provider say: what `cargo xtask test` runs
  --json         one JSON document instead of the table
  --only GROUP   services: the in-kernel services (echo, discard, connect rate);
                 ioctl: the IOCTL path (INFO, the floor, KernelTcpStream, TRANSACT) and,
                 in column shm, a ring in memory shared by two Wine processes
  --shell S      one shell (default: both)
  --provider P   one WSK provider (default: both, and the paired sessions)
";

impl Options {
    pub(crate) fn parse(args: &[String]) -> Result<Self> {
        let mut options = Self {
            runs: 5,
            quick: false,
            json: false,
            only: None,
            help: false,
        };
        let mut runs_given = false;
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--quick" => options.quick = true,
                "--json" => options.json = true,
                "--help" | "-h" => options.help = true,
                "--only" => {
                    options.only = Some(match it.next().map(String::as_str) {
                        Some("services") => Group::Services,
                        Some("ioctl") => Group::Ioctl,
                        other => bail!(
                            "--only {}: give `services` or `ioctl`",
                            other.unwrap_or("(nothing)")
                        ),
                    });
                }
                "--runs" => {
                    let value = it.next().context("--runs needs a number (1 to 99)")?;
                    options.runs = match value.parse() {
                        Ok(n @ 1..=99) => n,
                        _ => bail!("--runs {value}: give a number from 1 to 99"),
                    };
                    runs_given = true;
                }
                other => bail!(
                    "`bench` does not take `{other}`: --runs N, --quick, --json, --only, --shell, \
                     --provider (see `cargo xtask bench --help`)"
                ),
            }
        }
        if options.quick && !runs_given {
            options.runs = 1;
        }
        Ok(options)
    }
}

impl Options {
    /// The short form `cargo xtask test` runs.
    pub(crate) const fn quick() -> Self {
        Self {
            runs: 1,
            quick: true,
            json: false,
            only: None,
            help: false,
        }
    }

    /// Whether `group`'s figures are measured.
    fn measures(&self, group: Group) -> bool {
        self.only.is_none_or(|only| only == group)
    }
}

/// How much work each measurement does.
struct Plan {
    round_trips: usize,
    /// The paired sessions: round trips per batch, and pairs of batches.
    paired: (usize, usize),
    bulk_bytes: u64,
    connections: usize,
    ioctls: usize,
}

impl Plan {
    const fn for_options(options: &Options) -> Self {
        if options.quick {
            Self {
                round_trips: 200,
                paired: (20, 10),
                bulk_bytes: 16 << 20,
                connections: 50,
                ioctls: 200,
            }
        } else {
            Self {
                round_trips: 2_000,
                paired: (200, 300),
                bulk_bytes: 1 << 30,
                connections: 500,
                ioctls: 5_000,
            }
        }
    }
}

/// What a figure counts, and which way is better.
#[derive(Clone, Copy)]
enum Unit {
    Micros,
    GbitPerSecond,
    PerSecond,
    MibPerSecond,
    /// Events per operation (context switches).
    Count,
    /// A ratio of two measurements (above 1: better).
    Ratio,
}

impl Unit {
    const fn label(self) -> &'static str {
        match self {
            Self::Micros => "µs",
            Self::GbitPerSecond => "Gbit/s",
            Self::PerSecond => "/s",
            Self::MibPerSecond => "MiB/s",
            Self::Count => "n",
            Self::Ratio => "×",
        }
    }

    const fn higher_is_better(self) -> bool {
        !matches!(self, Self::Micros | Self::Count)
    }
}

/// One row of the table.
#[derive(Clone, Copy)]
struct Figure {
    key: &'static str,
    title: &'static str,
    unit: Unit,
}

/// Declares each figure once: its constant and its row in `FIGURES` (the table's order).
macro_rules! figures {
    ($($name:ident = $key:literal, $title:literal, $unit:ident;)*) => {
        $(const $name: Figure = Figure { key: $key, title: $title, unit: Unit::$unit };)*
        const FIGURES: [Figure; [$(stringify!($name)),*].len()] = [$($name),*];
    };
}

figures! {
    ECHO_RTT_64 = "service_echo_rtt_64b", "in-kernel echo service, RTT 64 B", Micros;
    ECHO_RTT_64K = "service_echo_rtt_64kib", "in-kernel echo service, RTT 64 KiB", Micros;
    DISCARD_BULK = "service_discard_bulk", "bulk into in-kernel discard", GbitPerSecond;
    CONNECT_RATE = "service_connect_echo_close", "connect + 1 B echo + close", PerSecond;
    ECHO_64_CPU = "service_echo_64b_wine_cpu", "echo 64 B: Wine CPU per round trip", Micros;
    ECHO_64_SWITCHES =
        "service_echo_64b_wine_switches", "echo 64 B: Wine switches per round trip", Count;
    ECHO_64K_CPU =
        "service_echo_64kib_wine_cpu", "echo 64 KiB: Wine CPU per round trip", Micros;
    ECHO_64K_SWITCHES =
        "service_echo_64kib_wine_switches", "echo 64 KiB: Wine switches per round trip", Count;
    DISCARD_CPU = "service_discard_wine_cpu", "discard: Wine CPU per MiB", Micros;
    DISCARD_SWITCHES = "service_discard_wine_switches", "discard: Wine switches per MiB", Count;
    PAIRED_ECHO_64 = "provider_vs_netio_echo_64b_paired",
        "echo 64 B, paired sessions: netio RTT / provider RTT", Ratio;
    IOCTL_INFO = "ioctl_info_rtt", "INFO IOCTL round trip", Micros;
    IOCTL_FLOOR = "ioctl_floor_rtt", "refused IOCTL round trip (floor)", Micros;
    SERVER_CALL = "wine_server_call", "one call to Wine's server (ResetEvent)", Micros;
    STREAM_RTT_64 = "stream_rtt_64b", "KernelTcpStream RTT 64 B", Micros;
    TRANSACT_RTT_64 =
        "transact_rtt_64b", "TRANSACT request/response 64 B", Micros;
    TRANSACT_CROWD_64 =
        "transact_rtt_64b_crowd", "same, 1,000 idle connections open", Micros;
    STREAM_BULK_128K =
        "stream_bulk_128kib_writes", "KernelTcpStream bulk, 128 KiB writes", MibPerSecond;
    STREAM_BULK_4M = "stream_bulk_4mib_writes", "KernelTcpStream bulk, 4 MiB writes", MibPerSecond;
    SEND_FLOOR_128K =
        "ioctl_send_floor_128kib", "refused SEND of 128 KiB (data floor)", MibPerSecond;
    RING_EVENT_64 =
        "shared_ring_event_rtt_64b", "shared-memory ring 64 B, event doorbell", Micros;
    RING_YIELD_64 =
        "shared_ring_yield_rtt_64b", "shared-memory ring 64 B, polled (yield)", Micros;
}

/// Idle connections open (on other handles) for [`TRANSACT_CROWD_64`].
const CROWD: usize = 1_000;

/// The anchors' column names.
const WINSOCK: &str = "winsock";
const NATIVE: &str = "native";
/// Two Wine processes sharing a page (`wskrs-bench ring`): what a request ring between the
/// client and the driver host would cost under Wine (the driver has no ring).
const SHARED_MEMORY: &str = "shm";

/// The measurements, by figure key and column.
#[derive(Default)]
struct Results {
    columns: Vec<String>,
    samples: BTreeMap<(&'static str, String), Vec<f64>>,
}

impl Results {
    fn add(&mut self, figure: Figure, column: &str, value: f64) {
        if !self.columns.iter().any(|c| c == column) {
            self.columns.push(column.to_owned());
        }
        self.samples
            .entry((figure.key, column.to_owned()))
            .or_default()
            .push(value);
    }

    /// The driver's columns in the order measured, then the anchors.
    fn ordered_columns(&self) -> Vec<&String> {
        let anchor = |c: &&String| [WINSOCK, NATIVE, SHARED_MEMORY].contains(&c.as_str());
        let mut columns: Vec<&String> = self.columns.iter().filter(|c| !anchor(c)).collect();
        columns.extend(self.columns.iter().filter(anchor));
        columns
    }

    fn median(&self, figure: Figure, column: &str) -> Option<f64> {
        let mut values = self.samples.get(&(figure.key, column.to_owned()))?.clone();
        Some(median(&mut values))
    }
}

/// A byte or operation count as a float for rates: counts here stay far below 2^52, exact.
#[allow(
    clippy::cast_precision_loss,
    reason = "counts below 2^52 are exact in f64"
)]
pub(crate) const fn count_f64(n: u64) -> f64 {
    n as f64
}

/// The median of `values` (sorted in place); 0 for none.
pub(crate) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// `cargo xtask bench [--runs N] [--quick] [--json]` (after `--shell`/`--provider` were taken).
pub(crate) fn run(layout: &Layout, options: &Options) -> Result<ExitCode> {
    if options.help {
        print!("{USAGE}");
        return Ok(ExitCode::SUCCESS);
    }
    let started = Instant::now();
    crate::setup::ensure(layout)?;
    let built = artifacts::build(layout)?;
    let exe = windows::build(layout)?;
    crate::util::pin_to_cpu0("bench: Wine, the driver, the peers and the clients")?;
    let plan = Plan::for_options(options);
    let combos = combinations(options)?;
    // Both providers side by side, unless one was chosen (read before the runs select any).
    let paired_shells = if options.measures(Group::Services) && Provider::explicit()?.is_none() {
        shells(options)?
    } else {
        Vec::new()
    };

    let native_echo = native::serve(native::Service::Echo)?;
    let native_discard = native::serve(native::Service::Discard)?;
    let native_sink = native::serve(native::Service::CountedSink)?;
    let mut results = Results::default();
    // Each run visits every shell × provider in turn (a session each), so that load which
    // comes and goes on a shared machine falls on every column alike; the anchors are
    // measured in the first session of each run.
    for run in 0..options.runs {
        for (i, (shell, provider)) in combos.iter().enumerate() {
            shell.select();
            provider.select();
            let column = format!("{}/{}", shell.name(), provider.name());
            say(&format!(
                "bench: {column} ({}, {})",
                shell.describe(),
                provider.describe()
            ));
            let session = Session::start(layout, &built)?;
            let measured = measure_session(
                &session.wine,
                &exe,
                &plan,
                options,
                &column,
                run,
                i == 0,
                (native_echo, native_discard, native_sink),
                &mut results,
            );
            let finished = session.finish();
            measured?;
            finished?;
        }
    }
    for shell in paired_shells {
        say(&format!(
            "bench: {}: Wine's netio and the wsk-rs provider in two sessions at once",
            shell.name()
        ));
        measure_paired(layout, &built, shell, &plan, &mut results)?;
    }
    Shell::forget_selection();
    Provider::forget_selection();

    if options.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&to_json(&results, options))?
        );
    } else {
        print!("{}", table(&results, options));
        print!("{}", targets::section(&results));
    }
    say(&format!(
        "bench: {} run(s) per figure, pinned to CPU 0, in {}",
        options.runs,
        fmt_duration(started.elapsed())
    ));
    Ok(ExitCode::SUCCESS)
}

/// The shells measured: the explicit choice, else both (`--quick`: the WDM shell).
fn shells(options: &Options) -> Result<Vec<Shell>> {
    Ok(match (Shell::explicit()?, options.quick) {
        (Some(shell), _) => vec![shell],
        (None, true) => vec![Shell::Wdm],
        (None, false) => Shell::ALL.to_vec(),
    })
}

/// The shell × provider sessions: the explicit choices, else all four (`--quick`: the WDM
/// shell with the wsk-rs provider).
fn combinations(options: &Options) -> Result<Vec<(Shell, Provider)>> {
    let shells = shells(options)?;
    let providers = match (Provider::explicit()?, options.quick) {
        (Some(provider), _) => vec![provider],
        (None, true) => vec![Provider::Wskrs],
        (None, false) => Provider::ALL.to_vec(),
    };
    Ok(shells
        .iter()
        .flat_map(|s| providers.iter().map(move |p| (*s, *p)))
        .collect())
}

/// Wine's netio and the wsk-rs provider under `shell` at the same time, each in a session
/// of its own (the provider's in a second prefix, `target/wine/paired`), an in-kernel echo
/// listener in each: [`native::paired_round_trips`] between them, netio's over the
/// provider's (above 1: the provider is faster), into the provider's column.
fn measure_paired(
    layout: &Layout,
    built: &artifacts::Built,
    shell: Shell,
    plan: &Plan,
    results: &mut Results,
) -> Result<()> {
    shell.select();
    Provider::Wine.select();
    let netio = Session::start(layout, built)?;
    netio.wine.load_driver()?;
    let netio_echo = kernel_listener(&netio.wine, "echo")?;
    Provider::Wskrs.select();
    let ours = Session::start(&layout.beside("paired"), built)?;
    // Both prefixes stop on Ctrl-C (the second start registered only its own).
    crate::proc::register_wine_beside(Some(netio.wine.env().to_vec()));
    let measured = ours.wine.load_driver().and_then(|_| {
        let our_echo = kernel_listener(&ours.wine, "echo")?;
        let (batch, pairs) = plan.paired;
        native::paired_round_trips((netio_echo, our_echo), 64, batch, pairs)
    });
    let ours_finished = ours.finish();
    crate::proc::register_wine(Some(netio.wine.env().to_vec()));
    crate::proc::register_wine_beside(None);
    let netio_finished = netio.finish();
    let column = format!("{}/{}", shell.name(), Provider::Wskrs.name());
    for ratio in measured? {
        results.add(PAIRED_ECHO_64, &column, ratio);
    }
    ours_finished?;
    netio_finished
}

/// `wskctl --json tcp listen 127.0.0.1:0-ish --service S --detach`: the listener's address.
fn kernel_listener(wine: &Wine, service: &str) -> Result<SocketAddr> {
    let port = crate::util::free_port()?;
    let local = format!("127.0.0.1:{port}");
    let out = wine.wskctl_ok(
        &[
            "--json",
            "tcp",
            "listen",
            &local,
            "--service",
            service,
            "--detach",
        ],
        WSKCTL_TIMEOUT,
    )?;
    json_u64(&parse_json_output(&out.stdout)?, "id")?;
    local.parse().context("listener address")
}

fn field(v: &Value, key: &str) -> Result<f64> {
    v.get(key)
        .and_then(Value::as_f64)
        .with_context(|| format!("no `{key}` in {v}"))
}

/// One run in one shell × provider session: the driver's figures, and the anchors' when
/// `anchors`.
#[allow(
    clippy::too_many_arguments,
    reason = "one call site; the parts are all distinct"
)]
fn measure_session(
    wine: &Wine,
    exe: &Path,
    plan: &Plan,
    options: &Options,
    column: &str,
    run: usize,
    anchors: bool,
    (native_echo, native_discard, native_sink): (SocketAddr, SocketAddr, SocketAddr),
    results: &mut Results,
) -> Result<()> {
    wine.load_driver()?;
    let kernel_echo = kernel_listener(wine, "echo")?;
    let kernel_discard = kernel_listener(wine, "discard")?;
    let winsock = if anchors {
        Some((
            windows::WinsockServer::start(wine, exe, "echo")?,
            windows::WinsockServer::start(wine, exe, "discard")?,
        ))
    } else {
        None
    };
    let n = plan.round_trips;
    let bulk = plan.bulk_bytes;
    let mib = |seconds: f64| count_f64(bulk) / f64::from(1u32 << 20) / seconds;
    let bench = |args: &[&str]| windows::measure(wine, exe, args);
    let (rtt, bulk_text, ioctls) = (n.to_string(), bulk.to_string(), plan.ioctls.to_string());
    let native_echo_text = native_echo.to_string();
    let native_sink_text = native_sink.to_string();
    say(&format!(
        "bench: {column}: run {} of {}",
        run + 1,
        options.runs
    ));
    if options.measures(Group::Services) {
        let mut servers = vec![(column, kernel_echo, kernel_discard)];
        if let Some((echo, discard)) = &winsock {
            servers.push((WINSOCK, echo.address, discard.address));
            servers.push((NATIVE, native_echo, native_discard));
        }
        measure_services(wine, plan, &servers, results)?;
    }
    if !options.measures(Group::Ioctl) {
        return Ok(());
    }
    // The IOCTL path, driven by the Windows client.
    measure_floors(wine, exe, &ioctls, column, results)?;
    let mut clients = vec![("kernel", column.to_owned())];
    if anchors {
        clients.push(("winsock", WINSOCK.to_owned()));
    }
    for (via, name) in &clients {
        let rtt_out = bench(&["rtt", via, &native_echo_text, "64", &rtt])?;
        let rtt_us = field(&rtt_out, "median_us")?;
        results.add(STREAM_RTT_64, name, rtt_us);
        if *via == "kernel" {
            let out = bench(&["rtt", "transact", &native_echo_text, "64", &rtt])?;
            results.add(TRANSACT_RTT_64, name, field(&out, "median_us")?);
        } else {
            // Winsock has no such call: its anchor is the same write + read round trip.
            results.add(TRANSACT_RTT_64, name, rtt_us);
        }
        for (figure, write) in [(STREAM_BULK_128K, 128u32 << 10), (STREAM_BULK_4M, 4 << 20)] {
            let out = bench(&[
                "send",
                via,
                &native_sink_text,
                &bulk_text,
                &write.to_string(),
            ])?;
            results.add(figure, name, mib(field(&out, "seconds")?));
        }
        if *via == "kernel" {
            // What a request pays for the other endpoints in the table (their count is the
            // figure's title). Last: opening and closing 1,000 connections leaves the driver
            // host's heap grown, which lifted the wsk-rs provider's bulk figures above by a
            // third when they came after it.
            let crowd = CROWD.to_string();
            let sink = native_discard.to_string();
            let out = bench(&[
                "rtt",
                "transact",
                &native_echo_text,
                "64",
                &rtt,
                &crowd,
                &sink,
            ])?;
            results.add(TRANSACT_CROWD_64, name, field(&out, "median_us")?);
        }
    }
    if anchors {
        // A ring in shared memory between two Wine processes, beside the floor above.
        for (figure, doorbell) in [(RING_EVENT_64, "event"), (RING_YIELD_64, "yield")] {
            let out = bench(&["ring", doorbell, &ioctls])?;
            results.add(figure, SHARED_MEMORY, field(&out, "median_us")?);
        }
        let native_rtt = native::round_trips(native_echo, 64, n)?;
        results.add(STREAM_RTT_64, NATIVE, native_rtt);
        results.add(TRANSACT_RTT_64, NATIVE, native_rtt);
        for (figure, write) in [
            (STREAM_BULK_128K, 128usize << 10),
            (STREAM_BULK_4M, 4 << 20),
        ] {
            results.add(
                figure,
                NATIVE,
                mib(native::send(
                    native_sink,
                    bulk,
                    write,
                    native::BulkEnd::Counted,
                )?),
            );
        }
    }
    Ok(())
}

/// The IOCTL path's floors in `column`: INFO beside a refused IOCTL and one call to Wine's
/// server, and a refused SEND of 128 KiB (Wine's data floor); each `ioctls` times.
fn measure_floors(
    wine: &Wine,
    exe: &Path,
    ioctls: &str,
    column: &str,
    results: &mut Results,
) -> Result<()> {
    let bench = |args: &[&str]| windows::measure(wine, exe, args);
    let info = bench(&["ioctl", "info", ioctls])?;
    results.add(IOCTL_INFO, column, field(&info, "median_us")?);
    let floor = bench(&["ioctl", "floor", ioctls])?;
    results.add(IOCTL_FLOOR, column, field(&floor, "median_us")?);
    // What INFO pays on top of the floor for having output: one more call to the server.
    let call = bench(&["call", ioctls])?;
    results.add(SERVER_CALL, column, field(&call, "median_us")?);
    // 128 KiB carried to the driver, which refuses the SEND at once: what Wine's path
    // alone allows a KernelTcpStream's bulk (one SEND per 128 KiB).
    let send_floor = bench(&["ioctl", "send-floor", ioctls])?;
    let per_send_us = field(&send_floor, "median_us")?;
    results.add(
        SEND_FLOOR_128K,
        column,
        f64::from(128u32 << 10) / f64::from(1u32 << 20) / (per_send_us / 1e6),
    );
    Ok(())
}

/// The in-kernel services' figures (and the anchors' servers), driven by the Linux client:
/// `servers` are (column, echo address, discard address). For the columns served under Wine
/// (the driver's and Winsock's), also what the prefix's processes spent per operation
/// ([`cost::Cost`]).
fn measure_services(
    wine: &Wine,
    plan: &Plan,
    servers: &[(&str, SocketAddr, SocketAddr)],
    results: &mut Results,
) -> Result<()> {
    let (n, bulk) = (plan.round_trips, plan.bulk_bytes);
    for (name, echo, discard) in servers {
        // The native servers are not Wine's: no cost rows for them.
        let wine = (*name != NATIVE).then_some(wine);
        let round_trips =
            |size: usize, count: usize| move || native::round_trips(*echo, size, count);
        let rtt = costed(wine, results, name, ECHO_64_COST, n, round_trips(64, n))?;
        results.add(ECHO_RTT_64, name, rtt);
        let rtt = costed(
            wine,
            results,
            name,
            ECHO_64K_COST,
            n / 4,
            round_trips(64 << 10, n / 4),
        )?;
        results.add(ECHO_RTT_64K, name, rtt);
        let mib = usize::try_from(bulk >> 20).unwrap_or(usize::MAX);
        let seconds = costed(wine, results, name, DISCARD_COST, mib, || {
            native::send(*discard, bulk, 128 << 10, native::BulkEnd::EndOfStream)
        })?;
        results.add(DISCARD_BULK, name, count_f64(bulk) * 8.0 / seconds / 1e9);
        results.add(
            CONNECT_RATE,
            name,
            native::connect_echo_close(*echo, plan.connections)?,
        );
    }
    Ok(())
}

/// The (CPU, context switches) rows of one measurement.
const ECHO_64_COST: (Figure, Figure) = (ECHO_64_CPU, ECHO_64_SWITCHES);
const ECHO_64K_COST: (Figure, Figure) = (ECHO_64K_CPU, ECHO_64K_SWITCHES);
const DISCARD_COST: (Figure, Figure) = (DISCARD_CPU, DISCARD_SWITCHES);

/// Runs `measure` (`ops` operations); with `wine`, adds what the prefix's processes spent per
/// operation to `column`'s `rows`.
fn costed<T>(
    wine: Option<&Wine>,
    results: &mut Results,
    column: &str,
    rows: (Figure, Figure),
    ops: usize,
    measure: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let before = wine.map(Cost::of_wine);
    let value = measure()?;
    if let (Some(wine), Some(before)) = (wine, before) {
        let (cpu, switches) = Cost::of_wine(wine).per_op_since(&before, ops as u64);
        results.add(rows.0, column, cpu);
        results.add(rows.1, column, switches);
    }
    Ok(value)
}

fn format_value(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// The table: a row per figure, a column per shell/provider and anchor; each cell the median
/// and, with more than one run, the spread; driver cells add their ratio to Winsock.
fn table(results: &Results, options: &Options) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nwsk-rs bench: median of {} run(s){}; ratio = driver / Winsock under the same Wine \
         (µs: lower is better; rates: higher is better)",
        options.runs,
        if options.quick {
            ", --quick (small transfers)"
        } else {
            ""
        }
    );
    let mut header = format!("{:<46}", "figure");
    for column in results.ordered_columns() {
        let _ = write!(header, " | {column:>24}");
    }
    let _ = writeln!(out, "{header}");
    let _ = writeln!(out, "{}", "-".repeat(header.chars().count()));
    for figure in FIGURES {
        let measured = |c: &&String| results.samples.contains_key(&(figure.key, (*c).clone()));
        if !results.ordered_columns().iter().any(measured) {
            continue; // not in this run's `--only` group
        }
        let mut row = format!(
            "{:<46}",
            format!("{} ({})", figure.title, figure.unit.label())
        );
        let anchor = results.median(figure, WINSOCK);
        for column in results.ordered_columns() {
            let cell = match results.samples.get(&(figure.key, column.clone())) {
                None => "—".to_owned(),
                Some(values) => {
                    let mut values = values.clone();
                    let mid = median(&mut values);
                    let mut cell = format_value(mid);
                    if let (Some(lo), Some(hi)) = (values.first(), values.last()) {
                        if values.len() > 1 {
                            let _ = write!(cell, " [{}–{}]", format_value(*lo), format_value(*hi));
                        }
                    }
                    if let Some(a) =
                        anchor.filter(|a| *a > 0.0 && column != WINSOCK && column != NATIVE)
                    {
                        let _ = write!(cell, " {:.2}×", mid / a);
                    }
                    cell
                }
            };
            let _ = write!(row, " | {cell:>24}");
        }
        let _ = writeln!(out, "{row}");
    }
    out
}

fn to_json(results: &Results, options: &Options) -> Value {
    let figures: Vec<Value> = FIGURES
        .iter()
        .map(|figure| {
            let anchor = results.median(*figure, WINSOCK);
            let mut columns = serde_json::Map::new();
            for column in results.ordered_columns() {
                if let Some(values) = results.samples.get(&(figure.key, column.clone())) {
                    let mut values = values.clone();
                    let mid = median(&mut values);
                    columns.insert(
                        column.clone(),
                        json!({
                            "median": mid,
                            "min": values.first(),
                            "max": values.last(),
                            "runs": values.len(),
                            "ratio_to_winsock": anchor.filter(|a| *a > 0.0).map(|a| mid / a),
                        }),
                    );
                }
            }
            json!({
                "key": figure.key,
                "title": figure.title,
                "unit": figure.unit.label(),
                "higher_is_better": figure.unit.higher_is_better(),
                "columns": columns,
            })
        })
        .collect();
    json!({
        "runs": options.runs,
        "quick": options.quick,
        "pinned_cpu": 0,
        "figures": figures,
        "targets": targets::to_json(results),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn options_default_to_five_runs_and_quick_to_one() {
        let o = Options::parse(&[]).unwrap();
        assert_eq!((o.runs, o.quick, o.json), (5, false, false));
        let o = Options::parse(&args(&["--quick", "--json"])).unwrap();
        assert_eq!((o.runs, o.quick, o.json), (1, true, true));
        let o = Options::parse(&args(&["--quick", "--runs", "3"])).unwrap();
        assert_eq!(o.runs, 3);
    }

    #[test]
    fn only_picks_a_group_and_help_measures_nothing() {
        let o = Options::parse(&args(&["--only", "services"])).unwrap();
        assert!(o.measures(Group::Services) && !o.measures(Group::Ioctl));
        let o = Options::parse(&args(&["--only", "ioctl"])).unwrap();
        assert!(!o.measures(Group::Services) && o.measures(Group::Ioctl));
        let o = Options::parse(&[]).unwrap();
        assert!(o.measures(Group::Services) && o.measures(Group::Ioctl));
        assert!(Options::parse(&args(&["--only", "disks"])).is_err());
        assert!(Options::parse(&args(&["--only"])).is_err());
        assert!(Options::parse(&args(&["--help"])).unwrap().help);
    }

    #[test]
    fn bad_options_say_what_is_taken() {
        assert!(Options::parse(&args(&["--runs", "0"])).is_err());
        assert!(Options::parse(&args(&["--runs"])).is_err());
        let e = Options::parse(&args(&["--fast"])).unwrap_err().to_string();
        assert!(e.contains("--runs N, --quick, --json"), "{e}");
    }

    #[test]
    fn the_table_has_medians_spreads_and_ratios_to_winsock() {
        let mut r = Results::default();
        for v in [30.0, 10.0, 20.0] {
            r.add(ECHO_RTT_64, "wdm/wskrs", v);
        }
        for v in [10.0, 10.0, 10.0] {
            r.add(ECHO_RTT_64, WINSOCK, v);
        }
        let options = Options {
            runs: 3,
            ..Options::quick()
        };
        let text = table(&r, &options);
        assert!(text.contains("20.0 [10.0–30.0] 2.00×"), "{text}");
        let json = to_json(&r, &options);
        let cell = &json["figures"][0]["columns"]["wdm/wskrs"];
        assert_eq!(cell["median"], 20.0);
        assert_eq!(cell["ratio_to_winsock"], 2.0);
        assert_eq!(json["figures"].as_array().unwrap().len(), FIGURES.len());
    }
}
