//! `cargo xtask fuzz`: the live IOCTL fuzzer (`wskrs-fuzz.exe`, tests/fuzz) against the
//! loaded driver under Wine, while Linux peers connect, send and reset; then the checks that
//! the driver survived it: it still answers and echoes through wskctl, every endpoint is
//! closed and what its WSK library holds (HELD) is back to where it was before the run.
//!
//! This module owns the command's options, the run and its report lines (`fuzz [...]: ...`).

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::artifacts::{self, Built};
use crate::choice::Choice;
use crate::layout::Layout;
use crate::peers::{self, Peer};
use crate::provider::Provider;
use crate::shell::Shell;
use crate::util::{fmt_duration, json_u64, say};
use crate::wine::{Session, Wine, WSKCTL_TIMEOUT};

/// Ports the fuzzer's listeners and UDP sockets bind (Linux clients churn against them).
const LISTEN_PORTS: u16 = 6;
/// How long the driver may take to close everything after the run.
const SETTLE: Duration = Duration::from_secs(30);
/// The session's `WINEDEBUG` when none is set: the service manager's and the driver host's
/// traces (a few hundred lines at start and stop, none while the fuzzer runs unless a service
/// changes state).
const SESSION_WINEDEBUG: &str = "-all,+service,+winedevice";
/// Lines of Wine's log quoted after a failed run, at most.
const LOG_LINES_QUOTED: usize = 16;

/// What `cargo xtask fuzz` was asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Options {
    /// The seed (printed; the same seed plans the same requests).
    pub(crate) seed: u64,
    /// Stop after this many requests (0: no limit).
    pub(crate) requests: u64,
    /// Stop after this many seconds (0: no limit).
    pub(crate) seconds: u64,
    /// Worker threads in the fuzzer.
    pub(crate) threads: usize,
    /// Pin Wine, the driver, the peers and the fuzzer to CPU 0 (`taskset`), as the bench.
    pub(crate) pin: bool,
    /// Codes not to send (names, `RECV_FROM`), each printed with the run's figures.
    pub(crate) skip: Vec<String>,
    /// Percent of requests issued from threads that exit at once (the fuzzer's default: 5).
    pub(crate) thread_exits: Option<u64>,
    /// Worker processes kept running beside the threads, each killed at a seeded random
    /// moment with requests in flight and replaced (0: no process kills).
    pub(crate) processes: u64,
}

fn time_seed() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_secs() ^ u64::from(d.subsec_nanos()))
}

impl Options {
    /// `[--seed N] [--requests N | --seconds N] [--threads N] [--skip CODE,...|none]
    /// [--thread-exits PERCENT] [--processes N] [--pin]`; without a bound, 60 seconds; one
    /// worker process killed and replaced throughout unless `--processes 0`. By default every code
    /// is sent and no request comes from an exiting thread (open findings, docs/reliability.md;
    /// the first line says so): `--thread-exits 5` sends those too.
    pub(crate) fn parse(args: &[String]) -> Result<Self> {
        let mut options = Self {
            seed: time_seed(),
            requests: 0,
            seconds: 0,
            threads: 4,
            pin: false,
            skip: Vec::new(),
            thread_exits: Some(0),
            processes: 1,
        };
        let mut rest = args.iter();
        while let Some(flag) = rest.next() {
            if flag == "--pin" {
                options.pin = true;
                continue;
            }
            let value = rest
                .next()
                .with_context(|| format!("`{flag}` needs a value"))?;
            let number = || -> Result<u64> {
                value
                    .parse()
                    .with_context(|| format!("`{flag} {value}`: not a number"))
            };
            match flag.as_str() {
                "--seed" => options.seed = number()?,
                "--requests" => options.requests = number()?,
                "--seconds" => options.seconds = number()?,
                "--threads" => options.threads = usize::try_from(number()?.clamp(1, 64))?,
                "--skip" if value == "none" => options.skip.clear(),
                "--skip" => options.skip = value.split(',').map(str::to_owned).collect(),
                "--thread-exits" => options.thread_exits = Some(number()?.min(100)),
                "--processes" => options.processes = number()?.min(8),
                other => bail!(
                    "unknown fuzz option `{other}`; use --seed N, --requests N, --seconds N, \
                     --threads N, --skip CODE,..., --thread-exits PERCENT, --processes N, --pin"
                ),
            }
        }
        if options.requests == 0 && options.seconds == 0 {
            options.seconds = 60;
        }
        Ok(options)
    }

    /// The short run inside `cargo xtask test`: tens of thousands of requests, at most 45 s,
    /// every code, one worker process killed and replaced throughout, without what is an open
    /// finding (docs/reliability.md): requests from exiting threads.
    pub(crate) fn short() -> Self {
        Self {
            seed: time_seed(),
            requests: 30_000,
            seconds: 45,
            threads: 4,
            pin: false,
            skip: Vec::new(),
            thread_exits: Some(0),
            processes: 1,
        }
    }
}

/// The share of requests from exiting threads the fuzzer will use: its environment variable
/// `WSKRS_FUZZ_THREAD_EXITS` (inherited through Wine) overrides `--thread-exits`.
fn effective_thread_exits(options: &Options) -> Option<u64> {
    thread_exits_from(
        std::env::var("WSKRS_FUZZ_THREAD_EXITS").ok().as_deref(),
        options.thread_exits,
    )
}

/// The variable's value when it is a number (as the fuzzer reads it), else the option's.
fn thread_exits_from(variable: Option<&str>, option: Option<u64>) -> Option<u64> {
    variable
        .and_then(|v| v.parse().ok())
        .map(|p: u64| p.min(100))
        .or(option)
}

/// Builds `wskrs-fuzz.exe` (x86_64-pc-windows-gnu, release).
pub(crate) fn build_fuzzer(layout: &Layout) -> Result<std::path::PathBuf> {
    artifacts::cargo_build_release(
        layout,
        "wskrs-fuzz",
        "x86_64-pc-windows-gnu",
        "wskrs-fuzz.exe",
    )
}

/// How a fuzzing session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The fuzzer found nothing and every check after it passed.
    Passed,
    /// It failed.
    Failed,
    /// It failed because the driver host went away: a `winedevice.exe` of the session exited
    /// with code 0 while the fuzzer ran, and Wine's log has no crash line. Code 0 is how Wine
    /// ends a driver host in an orderly way (its service manager's `TerminateProcess(.., 0)`,
    /// sechost's `ExitProcess(0)`); a crash ends it with the exception's code and the driver's
    /// bug check with `RPNC`'s. docs/reliability.md, finding 7.
    HostExited,
}

/// `cargo xtask fuzz`: one run with the chosen shell and provider (defaults: WDM, wsk-rs).
pub(crate) fn run(layout: &Layout, options: &Options) -> Result<ExitCode> {
    crate::choice::run_chosen(layout, |built, shell, provider| {
        Ok(run_with(layout, built, options, shell, provider)? == Verdict::Passed)
    })
}

/// The short run of `cargo xtask test` (WDM shell, wsk-rs provider); true when it passed.
/// A run that lost its driver host to Wine (finding 7) is run once more with a new seed and
/// the second run decides; any other failure fails at once.
pub(crate) fn short_run(layout: &Layout) -> bool {
    crate::choice::run_short(layout, "fuzz run", |built, shell, provider| {
        let first = run_with(layout, built, &Options::short(), shell, provider)?;
        if first != Verdict::HostExited {
            return Ok(first == Verdict::Passed);
        }
        let mut again = Options::short();
        again.seed = again.seed.wrapping_add(1);
        say(&format!(
            "fuzz [{}, {}]: the driver host exited with code 0 during the run, with no crash in \
             Wine's log (docs/reliability.md, finding 7): once more, seed {}; this run decides",
            shell.name(),
            provider.name(),
            again.seed
        ));
        Ok(run_with(layout, built, &again, shell, provider)? == Verdict::Passed)
    })
}

/// One fuzzing session with `shell` and `provider`; prints the report lines.
pub(crate) fn run_with(
    layout: &Layout,
    built: &Built,
    options: &Options,
    shell: Shell,
    provider: Provider,
) -> Result<Verdict> {
    let exe = build_fuzzer(layout)?;
    if options.pin {
        crate::util::pin_to_cpu0("fuzz: Wine, the driver, the peers and the fuzzer")?;
    }
    shell.select();
    provider.select();
    // As for `cargo xtask e2e`: the wsk-rs provider's verifier of client mistakes.
    let verify = std::env::var("WSKRS_PROVIDER_VERIFY").is_ok_and(|v| v == "1");
    crate::provider::set_verify(verify && provider == Provider::Wskrs);
    let label = format!("fuzz [{}, {}]", shell.name(), provider.name());
    say(&format!(
        "{label}: seed {}, {} worker(s), {}{}{}{}",
        options.seed,
        options.threads,
        match (options.requests, options.seconds) {
            (0, s) => format!("{s} s"),
            (r, 0) => format!("{r} requests"),
            (r, s) => format!("{r} requests or {s} s"),
        },
        if options.skip.is_empty() {
            String::new()
        } else {
            format!("; NOT sending {}", options.skip.join(", "))
        },
        match effective_thread_exits(options) {
            None => String::new(),
            Some(0) => "; NO requests from exiting threads (Wine's IoCancelIrp fault, finding 5: \
                 docs/reliability.md)"
                .to_owned(),
            Some(p) => format!("; {p}% of requests from exiting threads"),
        },
        match options.processes {
            0 => "; NO process kills".to_owned(),
            n => format!(
                "; {n} worker process(es) beside the threads, each killed at a random moment \
                 and replaced"
            ),
        }
    ));
    // Unless WINEDEBUG says otherwise, Wine stays quiet but for the service manager and the
    // driver host's own lines: they say who ends a driver host (docs/reliability.md, finding 7).
    let session = if std::env::var_os("WINEDEBUG").is_some() {
        Session::start(layout, built)?
    } else {
        Session::start_with_debug(layout, built, SESSION_WINEDEBUG)?
    };
    // The image whose PDB names the driver's addresses in a hung host's stacks.
    let driver_image = shell.symbol_image(layout);
    let result = fuzz_session(layout, &session.wine, &exe, options, &label, &driver_image);
    let finished = session.finish();
    let verdict = result.unwrap_or_else(|err| {
        say(&format!("{label}: FAILED: {err:#}"));
        Verdict::Failed
    });
    if let Err(err) = finished {
        say(&format!(
            "{label}: FAILED: the driver did not unload cleanly: {err:#}"
        ));
        // A driver host that went away takes the driver with it: that is its verdict.
        if verdict != Verdict::HostExited {
            return Ok(Verdict::Failed);
        }
    }
    Ok(verdict)
}

/// The Linux peers: an echo server, a sink, a UDP answerer, and the churn client.
struct Peers {
    echo: (Peer, u16),
    sink: (Peer, u16),
    udp: (Peer, u16),
    churn: Peer,
}

fn port_of(peer: &mut Peer, event: &str, name: &str) -> Result<u16> {
    let ready = peer.wait_event(event, Duration::from_secs(10))?;
    json_u64(&ready, "port")
        .ok()
        .and_then(|p| u16::try_from(p).ok())
        .with_context(|| format!("{name}: bad `{event}` event {ready}"))
}

fn start_peers(layout: &Layout, seed: u64, listen: &[u16]) -> Result<Peers> {
    let echo = peers::echo_server(layout, "fuzz-echo")?;
    let loopback = || ["--host".to_owned(), "127.0.0.1".to_owned()];
    let mut sink = Peer::spawn(
        layout,
        "sink_server.py",
        "fuzz-sink",
        &[&loopback()[..], &["--port".to_owned(), "0".to_owned()]].concat(),
    )?;
    let sink_port = port_of(&mut sink, "listening", "fuzz-sink")?;
    let mut udp = Peer::spawn(
        layout,
        "udp_peer.py",
        "fuzz-udp",
        &[&loopback()[..], &["--mode".to_owned(), "answer".to_owned()]].concat(),
    )?;
    let udp_port = port_of(&mut udp, "bound", "fuzz-udp")?;
    let ports: Vec<String> = listen.iter().map(u16::to_string).collect();
    let mut churn = Peer::spawn(
        layout,
        "churn_client.py",
        "fuzz-churn",
        &[
            "--ports".to_owned(),
            ports.join(","),
            "--seed".to_owned(),
            seed.to_string(),
        ],
    )?;
    churn.wait_event("started", Duration::from_secs(10))?;
    Ok(Peers {
        echo,
        sink: (sink, sink_port),
        udp: (udp, udp_port),
        churn,
    })
}

fn fuzz_session(
    layout: &Layout,
    wine: &Wine,
    exe: &std::path::Path,
    options: &Options,
    label: &str,
    driver_image: &std::path::Path,
) -> Result<Verdict> {
    wine.load_driver()?;
    // The driver registers with WSK on its first request: read the baseline after one.
    let _ = wine.wskctl_ok(&["info"], WSKCTL_TIMEOUT)?;
    let (open_before, held_before) = crate::e2e::held::now(wine)?;
    let mut listen = Vec::new();
    for _ in 0..LISTEN_PORTS {
        listen.push(crate::util::free_port()?);
    }
    // Each peer stops when dropped (its stdin closes), at the end of this function.
    let Peers {
        echo,
        sink,
        udp,
        churn,
    } = start_peers(layout, options.seed, &listen)?;
    let closed_port = crate::util::free_port()?;
    let tcp = [echo.1, sink.1, closed_port]
        .map(|p| format!("127.0.0.1:{p}"))
        .join(",");
    let udp = format!("127.0.0.1:{},127.0.0.1:{closed_port}", udp.1);
    let ports: Vec<String> = listen.iter().map(u16::to_string).collect();
    let exe = exe.to_str().context("the fuzzer's path is not UTF-8")?;
    let (seed, requests, seconds, threads) = (
        options.seed.to_string(),
        options.requests.to_string(),
        options.seconds.to_string(),
        options.threads.to_string(),
    );
    let ports = ports.join(",");
    let skip = format!("skip={}", options.skip.join(","));
    let processes = format!("processes={}", options.processes);
    let mut args = vec![
        exe, "run", &seed, &requests, &seconds, &threads, &tcp, &udp, &ports, &skip, &processes,
    ];
    let exits = options
        .thread_exits
        .map(|percent| format!("thread-exits={percent}"));
    if let Some(exits) = &exits {
        args.push(exits);
    }
    // A bound in requests alone may run long (the long run: ~10^6 requests).
    let limit = if options.seconds > 0 {
        Duration::from_secs(options.seconds + 180)
    } else {
        Duration::from_secs(6 * 3600)
    };
    let started = Instant::now();
    let watch = EndWatch::start();
    let out = wine.run("wine", &args, limit);
    let ended = watch.finish();
    let out = out?;
    let took = started.elapsed();
    drop(churn);
    let summary = out
        .stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .and_then(|l| serde_json::from_str::<Value>(l).ok());
    let done = summary
        .as_ref()
        .filter(|s| s.get("event").and_then(Value::as_str) == Some("done"));
    let Some(done) = done else {
        say(&format!(
            "{label}: FAIL: the fuzzer found a problem (seed {}); its output:",
            options.seed
        ));
        let output = out.combined();
        for line in output.lines() {
            say(&format!("  {line}"));
        }
        if is_hang(&output) {
            // The host is most likely still stuck: read its threads before the unload.
            let _ = crate::hang::report(layout, driver_image);
        }
        return Ok(report_driver_host(layout, &ended));
    };
    say(&tally_line(label, options.seed, took, done));
    report_done(
        wine,
        exe,
        options,
        label,
        done,
        echo.1,
        (open_before, &held_before),
    )
}

/// The rest of the report of a run the fuzzer finished: the process kills, the statuses, then
/// the checks after the run.
fn report_done(
    wine: &Wine,
    exe: &str,
    options: &Options,
    label: &str,
    done: &Value,
    echo_port: u16,
    before: (u64, &Value),
) -> Result<Verdict> {
    if options.processes > 0 {
        say(&kills_line(label, done));
        let with_requests = json_u64(done, "processes_killed")
            .unwrap_or(0)
            .saturating_sub(json_u64(done, "killed_idle").unwrap_or(0));
        if with_requests == 0 {
            say(&format!(
                "{label}: FAIL: no worker process was killed with requests in flight"
            ));
            return Ok(Verdict::Failed);
        }
    }
    if let Some(statuses) = done.get("statuses").and_then(Value::as_object) {
        let mut list: Vec<(&String, u64)> = statuses
            .iter()
            .map(|(k, v)| (k, v.as_u64().unwrap_or(0)))
            .collect();
        list.sort_by_key(|entry| std::cmp::Reverse(entry.1));
        let text: Vec<String> = list.iter().map(|(k, v)| format!("{k} {v}")).collect();
        say(&format!("{label}: statuses: {}", text.join(", ")));
    }
    let passed = after_run(wine, exe, label, echo_port, before)?;
    Ok(if passed {
        Verdict::Passed
    } else {
        Verdict::Failed
    })
}

/// Whether the fuzzer ended because a call into the device did not return (its watchdog, or a
/// worker process that could not open the device in time).
fn is_hang(output: &str) -> bool {
    output.contains("made no progress for") || output.contains("did not start its workers")
}

/// After a failed run: what Wine's log says from the fuzzer's start on (a crash, the service
/// manager stopping or ending a driver host), and the Wine system processes that ended during
/// the run (`ended`, from [`EndWatch`]), with their exit status. Each line is kept for the
/// summary at the end of `cargo xtask test`. [`Verdict::HostExited`] when a driver host exited
/// with code 0 and the log has no crash line, else [`Verdict::Failed`].
fn report_driver_host(layout: &Layout, ended: &[Ended]) -> Verdict {
    // A crash of the driver host shows in Wine's log, not in the fuzzer's output.
    let log = std::fs::read(layout.wine_log()).unwrap_or_default();
    let log = String::from_utf8_lossy(&log);
    let lines = run_log_lines(&log);
    let crashed = lines.iter().any(|l| is_crash_line(l));
    for line in lines.into_iter().take(LOG_LINES_QUOTED) {
        crate::util::say_detail(&format!("  wine.log: {line}"));
    }
    // A driver host can end without a line (docs/reliability.md, finding 7): say whether one
    // (or the service manager) ended during the run, and how.
    for &(pid, name, code) in ended {
        crate::util::say_detail(&format!(
            "  a Wine system process ended during the run: {name}, pid {pid}, {}",
            describe_exit(code)
        ));
    }
    if ended_by_wine(ended, crashed) {
        Verdict::HostExited
    } else {
        Verdict::Failed
    }
}

/// Watches Wine's system processes while the fuzzer runs. One that ends stays a zombie, with
/// its exit status readable in `/proc`, only until the reaper (PID 1) collects it, seconds
/// later; so they are read every [`WATCH_EVERY`] rather than once after the run.
struct EndWatch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<Vec<Ended>>>,
}

/// A Wine system process that ended: pid, name, wait status.
type Ended = (u32, &'static str, i64);

/// How often [`EndWatch`] reads `/proc`.
const WATCH_EVERY: Duration = Duration::from_millis(200);

impl EndWatch {
    /// Starts watching; zombies that exist already are not counted.
    fn start() -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let before: Vec<u32> = exited_system_processes().iter().map(|e| e.0).collect();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut ended: Vec<Ended> = Vec::new();
            loop {
                let last = flag.load(Ordering::Relaxed);
                for entry in exited_system_processes() {
                    if !before.contains(&entry.0) && !ended.iter().any(|e| e.0 == entry.0) {
                        ended.push(entry);
                    }
                }
                if last {
                    return ended;
                }
                std::thread::sleep(WATCH_EVERY);
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops watching (after one last look); the processes that ended meanwhile: pid, name,
    /// wait status.
    fn finish(mut self) -> Vec<Ended> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|thread| thread.join().ok())
            .unwrap_or_default()
    }
}

/// Whether the processes that ended during a failed run and a crash line
/// in the log (`crashed`) make [`Verdict::HostExited`]: a driver host exited with code 0, and
/// nothing crashed.
fn ended_by_wine(ended: &[Ended], crashed: bool) -> bool {
    !crashed
        && ended
            .iter()
            .any(|&(_, name, status)| name == "winedevice.exe" && status == 0)
}

/// A line of Wine's log that says a process crashed: an unhandled exception (the line that
/// starts the debugger), or the heap's complaint about a corrupted block.
fn is_crash_line(line: &str) -> bool {
    line.contains("Unhandled") || line.contains("err:heap")
}

/// The lines of Wine's log written since the fuzzer started that say something of a crash or
/// of the service manager: `Unhandled` exceptions, `err:` lines and the `service` and
/// `winedevice` channels' traces.
fn run_log_lines(log: &str) -> Vec<&str> {
    let lines: Vec<&str> = log.lines().collect();
    let start = lines
        .iter()
        .rposition(|l| l.starts_with("== wine ") && l.contains("wskrs-fuzz.exe run"))
        .unwrap_or(0);
    lines
        .into_iter()
        .skip(start)
        .filter(|l| {
            is_crash_line(l)
                || l.contains("err:")
                || l.contains(":service:")
                || l.contains(":winedevice:")
        })
        .collect()
}

/// The Wine system processes (driver hosts, the service manager) that have ended but are not
/// yet reaped (zombies): pid, name, and the exit code as `/proc/PID/stat` gives it (its last
/// field, the wait status).
fn exited_system_processes() -> Vec<Ended> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            ended_system_process(&stat).map(|(name, code)| (pid, name, code))
        })
        .collect()
}

/// From one `/proc/PID/stat` line: the name and exit code of a Wine system process's zombie
/// (`winedevice.exe`, `services.exe`), else `None`.
fn ended_system_process(stat: &str) -> Option<(&'static str, i64)> {
    let (head, rest) = stat.rsplit_once(") ")?;
    let name = ["winedevice.exe", "services.exe"]
        .into_iter()
        .find(|name| head.ends_with(&format!("({name}")))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (the state); the exit code is field 52.
    if fields.first() != Some(&"Z") {
        return None;
    }
    Some((name, fields.get(49)?.parse().ok()?))
}

/// A wait status in words: the exit code, or the signal that ended the process.
fn describe_exit(status: i64) -> String {
    let signal = status & 0x7f;
    if signal == 0 {
        format!("exit code {}", (status >> 8) & 0xff)
    } else {
        format!("ended by signal {signal}")
    }
}

/// The run's counts, from the fuzzer's `done` line.
fn tally_line(label: &str, seed: u64, took: Duration, done: &Value) -> String {
    let n = |key: &str| json_u64(done, key).unwrap_or(0);
    format!(
        "{label}: seed {}: {} requests in {} ({} requests/s, {} worker(s)); {} pended, {} \
         succeeded, {} cancelled, {} handle closes mid-request, {} from exiting threads ({} lost \
         by Wine: completed without their status block, docs/reliability.md finding 4)",
        seed,
        n("requests"),
        fmt_duration(took),
        n("per_second"),
        n("threads"),
        n("pended"),
        n("succeeded"),
        n("cancelled"),
        n("handle_closes_mid_request"),
        n("thread_exits"),
        n("lost_by_wine")
    )
}

/// The process kills, from the fuzzer's `done` line.
fn kills_line(label: &str, done: &Value) -> String {
    let n = |key: &str| json_u64(done, key).unwrap_or(0);
    let killed = n("processes_killed");
    format!(
        "{label}: process kills: {killed} worker process(es) killed (TerminateProcess), {} with \
         requests in flight ({} requests in flight at the kills, at most {} in one); the killed \
         processes had sent {} requests, {} pended",
        killed.saturating_sub(n("killed_idle")),
        n("killed_in_flight"),
        n("killed_max_in_flight"),
        n("process_requests"),
        n("process_pended")
    )
}

/// The checks after the run: detached endpoints closed, the driver answers and echoes,
/// endpoints and HELD back to the baseline.
fn after_run(
    wine: &Wine,
    exe: &str,
    label: &str,
    echo_port: u16,
    (open_before, held_before): (u64, &Value),
) -> Result<bool> {
    let cleanup = wine.run("wine", &[exe, "cleanup"], WSKCTL_TIMEOUT)?;
    if !cleanup.success() {
        say(&format!(
            "{label}: FAIL: cleanup after the run: {}",
            cleanup.combined().trim()
        ));
        return Ok(false);
    }
    let closed = cleanup
        .stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .and_then(|l| serde_json::from_str::<Value>(l).ok())
        .and_then(|v| json_u64(&v, "closed").ok())
        .unwrap_or(0);
    let text = "the driver still echoes after the fuzzer";
    let echo = wine.wskctl(
        &[
            "tcp",
            "connect",
            &format!("127.0.0.1:{echo_port}"),
            "--send-text",
            text,
            "--recv-exact",
            &text.len().to_string(),
        ],
        WSKCTL_TIMEOUT,
    )?;
    let echoed = echo.success() && echo.stdout.contains(text);
    let deadline = Instant::now() + SETTLE;
    let (open, held_after) = loop {
        let (open, held_after) = crate::e2e::held::now(wine)?;
        if (open == open_before && held_after == *held_before) || Instant::now() >= deadline {
            break (open, held_after);
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let held_ok = held_after == *held_before;
    say(&format!(
        "{label}: after the run: {closed} detached endpoint(s) closed; echo through wskctl {}; \
         endpoints open {open} (before {open_before}); HELD {}",
        if echoed { "ok" } else { "FAILED" },
        if held_ok {
            format!("back to the baseline {held_before}")
        } else {
            format!("{held_after}, baseline {held_before}: LEAK")
        }
    ));
    if !echoed {
        say(&format!("  wskctl: {}", echo.combined().trim()));
    }
    let unloaded = match wine.unload_driver() {
        Ok(took) => {
            say(&format!(
                "{label}: the driver unloaded in {}",
                fmt_duration(took)
            ));
            true
        }
        Err(err) => {
            say(&format!(
                "{label}: FAIL: the driver did not unload: {err:#}"
            ));
            false
        }
    };
    Ok(echoed && open == open_before && held_ok && unloaded)
}

#[cfg(test)]
mod tests {
    use super::{thread_exits_from, Options};

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn options_parse_and_default_to_a_minute() {
        let o = Options::parse(&args(&["--seed", "7"])).unwrap();
        assert_eq!((o.seed, o.requests, o.seconds, o.threads), (7, 0, 60, 4));
        assert_eq!((o.skip.is_empty(), o.thread_exits), (true, Some(0)));
        let o = Options::parse(&args(&["--skip", "none", "--thread-exits", "5"])).unwrap();
        assert_eq!((o.skip.is_empty(), o.thread_exits), (true, Some(5)));
        let o =
            Options::parse(&args(&["--requests", "1000000", "--pin", "--threads", "2"])).unwrap();
        assert_eq!(
            (o.requests, o.seconds, o.threads, o.pin),
            (1_000_000, 0, 2, true)
        );
        assert!(Options::parse(&args(&["--seconds"])).is_err());
        assert!(Options::parse(&args(&["--bogus", "1"])).is_err());
        assert!(Options::parse(&args(&["--seed", "x"])).is_err());
        let short = Options::short();
        assert!(short.requests >= 10_000 && short.seconds <= 60);
        assert!(short.skip.is_empty(), "the short run sends every code");
        assert_eq!(short.thread_exits, Some(0));
        assert!(short.processes > 0, "the short run kills processes");
        let o = Options::parse(&args(&["--processes", "0"])).unwrap();
        assert_eq!(o.processes, 0);
        let o = Options::parse(&args(&["--thread-exits", "150"])).unwrap();
        assert_eq!(o.thread_exits, Some(100));
        let o = Options::parse(&args(&["--skip", "RECV_FROM,ACCEPT"])).unwrap();
        assert_eq!(o.skip, ["RECV_FROM", "ACCEPT"]);
    }

    #[test]
    fn an_ended_driver_host_is_found_in_its_proc_stat_line_with_its_exit_status() {
        // A line read from /proc during a fuzz run (2026-12-07): exit code 0.
        let zombie = "7788 (winedevice.exe) Z 1 7788 7788 0 -1 4227084 594567 0 0 0 1969 1993 0 \
                      0 20 0 1 0 4346764 0 0 18446744073709551615 0 0 0 0 0 0 268511747 4096 \
                      1790 1 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0";
        let host = Some(("winedevice.exe", 0));
        assert_eq!(super::ended_system_process(zombie), host);
        let killed = format!("{} 11", zombie.strip_suffix(" 0").unwrap_or(zombie));
        assert_eq!(
            super::ended_system_process(&killed),
            Some(("winedevice.exe", 11))
        );
        let running = zombie.replace(") Z ", ") S ");
        assert_eq!(super::ended_system_process(&running), None);
        let other = zombie.replace("(winedevice.exe)", "(wineserver)");
        assert_eq!(super::ended_system_process(&other), None);
        assert_eq!(super::describe_exit(0), "exit code 0");
        assert_eq!(super::describe_exit(3 << 8), "exit code 3");
        assert_eq!(super::describe_exit(11), "ended by signal 11");
    }

    #[test]
    fn the_service_manager_ending_is_found_too_and_other_processes_are_not() {
        let zombie = "7788 (services.exe) Z 1 7788 7788 0 -1 4227084 594567 0 0 0 1969 1993 0 \
                      0 20 0 1 0 4346764 0 0 18446744073709551615 0 0 0 0 0 0 268511747 4096 \
                      1790 1 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 256";
        assert_eq!(
            super::ended_system_process(zombie),
            Some(("services.exe", 256))
        );
        let fuzzer = zombie.replace("(services.exe)", "(wskrs-fuzz.exe)");
        assert_eq!(super::ended_system_process(&fuzzer), None);
    }

    #[test]
    fn only_a_driver_host_exiting_with_code_0_and_no_crash_is_the_wine_ending() {
        let host_ok = [(7, "winedevice.exe", 0)];
        assert!(super::ended_by_wine(&host_ok, false));
        assert!(!super::ended_by_wine(&host_ok, true), "a crash line");
        // The driver's bug check (RPNC: exit code 0x43), a fault's code, a signal.
        for status in [0x43 << 8, 5 << 8, 9] {
            assert!(!super::ended_by_wine(
                &[(7, "winedevice.exe", status)],
                false
            ));
        }
        assert!(!super::ended_by_wine(&[(7, "services.exe", 0)], false));
        assert!(!super::ended_by_wine(&[], false));
        let mixed = [(7, "services.exe", 256), (8, "winedevice.exe", 0)];
        assert!(super::ended_by_wine(&mixed, false));
    }

    #[test]
    fn a_failed_run_quotes_the_log_from_the_fuzzer_start_on() {
        let log = "== wine reg add HKCU\\Software\\Wine\\DllOverrides\n\
                   003c:trace:service:process_send_start_message L\"Winedevice1\"\n\
                   \n\
                   == wine /t/wskrs-fuzz.exe run 7 30000 45 4\n\
                   wskrs-fuzz: seed 7, 4 worker(s)\n\
                   0138:trace:winedevice:service_handler shutting down L\"Winedevice3\"\n\
                   05f4:err:winsock:getaddrinfoW Failed to convert\n\
                   wine: Unhandled page fault on read access to FFFFFFFFFFFFFFFF\n\
                   0058:trace:service:svcctl_SetServiceStatus (0, 0)\n";
        assert_eq!(
            super::run_log_lines(log),
            [
                "0138:trace:winedevice:service_handler shutting down L\"Winedevice3\"",
                "05f4:err:winsock:getaddrinfoW Failed to convert",
                "wine: Unhandled page fault on read access to FFFFFFFFFFFFFFFF",
                "0058:trace:service:svcctl_SetServiceStatus (0, 0)",
            ]
        );
        // No fuzzer header (it never started): the whole log is searched.
        assert_eq!(
            super::run_log_lines("x\n0058:trace:service:a\n"),
            ["0058:trace:service:a"]
        );
    }

    #[test]
    fn the_environment_overrides_the_thread_exit_share_as_the_fuzzer_reads_it() {
        assert_eq!(thread_exits_from(Some("50"), Some(0)), Some(50));
        assert_eq!(thread_exits_from(Some("x"), Some(0)), Some(0));
        assert_eq!(thread_exits_from(None, Some(5)), Some(5));
        assert_eq!(thread_exits_from(None, None), None);
    }
}
