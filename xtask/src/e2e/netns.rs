//! Faults from the network side made with real Linux tools (issue 13, item 3): packet loss
//! and a cut link, by nftables rules inside a network namespace of the suite's own.
//!
//! This kernel has no `sch_netem` (`tc qdisc add ... netem`: "Specified qdisc kind is
//! unknown"), but nf_tables with `numgen` is built in: loss is `numgen random mod 100 < N
//! drop`, a cut link `drop` of everything to or from the connection's port, in an `input`
//! hook (a packet dropped there is lost silently: the sender sees no error, no FIN, no RST).
//! Rules on the machine's loopback would hit every other test running on it, so they live
//! only in a namespace made for the case: the case runs `unshare --net -- xtask
//! __netns-faults` (a hidden command, [`child`]), which brings its own `lo` up and starts a
//! Wine session of its own there, loads the driver with the run's shell and provider and
//! runs the cells with Linux peers on its own threads, on 127.0.0.1 of that namespace. The
//! session needs a prefix of its own (`target/wine/netns/prefix`): Wine's server creates the
//! sockets, and a Wine program reaches its prefix's server through a unix socket, which
//! crosses namespaces; only a server started inside keeps the sockets inside, which the child
//! checks (`/proc/PID/ns/net` of wineserver and the driver host). A child xtask rather than a
//! script: the same session start, driver load, wskctl calls and clean-up as every case.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use super::faults::{
    attempts_text, listed, open, settle, windows_path, wskctl, Attempt, Bystander, BOUND,
};
use super::helpers::{at, listen, LOOPBACK4};
use super::Ctx;
use crate::artifacts::Built;
use crate::choice::Choice;
use crate::layout::Layout;
use crate::provider::Provider;
use crate::shell::Shell;
use crate::util::{
    fmt_bytes, fmt_duration, json_str, json_u64, parse_json_output, random_bytes, say, sha256_hex,
};
use crate::wine::Session;

/// The hidden command the case runs inside the namespace.
pub(crate) const CHILD_COMMAND: &str = "__netns-faults";

/// Set (`1`) when the suite runs the wsk-rs provider with its verifier on: the namespaced
/// session turns it on too and fails on a report.
const VERIFY_ENV: &str = "WSKRS_NETNS_VERIFY";

/// The network namespace the suite runs in (`net:[N]`), handed to the child, which refuses
/// to touch packet filtering unless it is in another one.
const OUTER_ENV: &str = "WSKRS_NETNS_OUTER";

/// The nftables table of the cells (in the namespace only).
const TABLE: &str = "wskrs_netfaults";

/// Random loss of each packet of the flow, both ways (the issue asks for 5-10 %).
const LOSS_PERCENT: u32 = 8;

/// Bytes through the echo service under loss: loopback carries up to 64 KiB per packet, so
/// 4 MiB each way is ~64 data packets each way plus the ACKs; of ~260, 8 % is ~20 dropped
/// (none dropped: p < 1e-9, and the cell fails then: the fault was not there).
const LOSS_BYTES: usize = 4 << 20;

/// Bytes of `stream-send` under loss: one way only, so 4 times more for as many packets
/// (37 to 56 dropped in the runs here).
const STREAM_BYTES: usize = 16 << 20;

/// How long the link stays cut before it is restored in the last cell: a few of the peer's
/// retransmissions (200 ms, then doubling) fall into it, the next one gets through.
const CUT_FOR: Duration = Duration::from_millis(1200);

/// The whole namespaced run (measured: 8.5-12 s, +7 s the first time for the prefix).
const CHILD_BOUND: Duration = Duration::from_secs(240);

/// A cell (a row of the table).
#[derive(Clone, Copy, Debug)]
enum Cell {
    /// The driver's echo service serves a Linux client under random loss both ways.
    LossEcho,
    /// `wskctl stream-send` (IOCTL path, `KernelTcpStream`) to a Linux sink under loss.
    LossStream,
    /// The link of a connection is cut: every packet dropped, no FIN, no RST.
    Cut,
    /// The link is cut with a receive pending and the peer's data in flight, then restored.
    CutRestored,
}

impl Cell {
    const ALL: [Self; 4] = [
        Self::LossEcho,
        Self::LossStream,
        Self::Cut,
        Self::CutRestored,
    ];

    /// The cell's name for `WSKRS_NETNS_CELLS`.
    const fn kind(self) -> &'static str {
        match self {
            Self::LossEcho => "loss-echo",
            Self::LossStream => "loss-stream",
            Self::Cut => "cut",
            Self::CutRestored => "cut-restored",
        }
    }

    fn label(self) -> String {
        match self {
            Self::LossEcho => format!("{LOSS_PERCENT}% loss: echo service, Linux client"),
            Self::LossStream => format!("{LOSS_PERCENT}% loss: stream-send to Linux sink"),
            Self::Cut => "link cut: all dropped, no FIN/RST".to_owned(),
            Self::CutRestored => format!("link cut {} ms, then restored", CUT_FOR.as_millis()),
        }
    }

    /// What the cell does, for the summary line.
    fn drive(self) -> String {
        match self {
            Self::LossEcho => format!(
                "{} through `tcp listen --service echo` and back, sha256 compared",
                fmt_bytes(LOSS_BYTES as u64)
            ),
            Self::LossStream => format!(
                "`stream-send --file` of {}, sha256 of file, wskctl and sink compared",
                fmt_bytes(STREAM_BYTES as u64)
            ),
            Self::Cut => "recv 1 s / send 4 MiB 1 s / recv 300 ms, peer's data dropped".to_owned(),
            Self::CutRestored => {
                "recv --exact 5 (10 s) pending across the cut / send --text / send 1 MiB".to_owned()
            }
        }
    }
}

/// `net:[N]`: the network namespace of process `pid` (or `self`).
fn netns_of(pid: &str) -> Result<String> {
    let link = format!("/proc/{pid}/ns/net");
    let target = std::fs::read_link(&link).with_context(|| format!("reading {link}"))?;
    Ok(target.to_string_lossy().into_owned())
}

/// The e2e case: runs the cells in a network namespace of their own (see the module's doc)
/// and passes when the child does; its lines are printed as they come.
pub(super) fn network_namespace_faults(cx: &Ctx<'_>) -> Result<()> {
    let exe = std::env::current_exe().context("finding the xtask executable")?;
    let outer = netns_of("self")?;
    let mut child = Command::new("unshare");
    if crate::provider::verify() {
        child.env(VERIFY_ENV, "1");
    }
    let mut child = child
        .args(["--net", "--"])
        .arg(&exe)
        .arg(CHILD_COMMAND)
        .env(<Shell as Choice>::ENV, cx.shell.name())
        .env(<Provider as Choice>::ENV, cx.provider.name())
        .env(OUTER_ENV, &outer)
        .stdin(Stdio::null())
        .spawn()
        .context("starting `unshare --net` (util-linux; the suite runs as root)")?;
    let status = wait_child(&mut child)?;
    ensure!(
        status.success(),
        "the run in the network namespace ended with {status} (its lines above; its Wine \
         output: {})",
        cx.layout.in_namespace().wine_log().display()
    );
    // The rules never reached the suite's own namespace (a read-only listing).
    let here = Command::new("nft")
        .args(["list", "table", "inet", TABLE])
        .stdin(Stdio::null())
        .output()
        .context("running nft (run `cargo xtask setup`)")?;
    ensure!(
        !here.status.success(),
        "the nftables table {TABLE} exists in the suite's network namespace {outer}: {}",
        String::from_utf8_lossy(&here.stdout).trim()
    );
    Ok(())
}

/// Waits up to [`CHILD_BOUND`]; then SIGTERM (the child stops its Wine session), then kill.
/// The child is not registered for the harness's Ctrl-C clean-up: Ctrl-C reaches it from the
/// terminal too, and a SIGKILL from the parent would leave its Wine session behind.
fn wait_child(child: &mut Child) -> Result<ExitStatus> {
    let deadline = Instant::now() + CHILD_BOUND;
    loop {
        if let Some(status) = child.try_wait().context("waiting for the namespaced run")? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let grace = Instant::now() + Duration::from_secs(30);
            while Instant::now() < grace {
                if child.try_wait()?.is_some() {
                    break;
                }
                thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "the run in the network namespace did not finish within {}; stopped it",
                fmt_duration(CHILD_BOUND)
            );
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// `cargo xtask __netns-faults` (run by the case through `unshare --net`): `lo` up, a Wine
/// session in `target/wine/netns`, the driver loaded, the cells, the driver unloaded.
pub(crate) fn child(layout: &Layout) -> Result<ExitCode> {
    let outer = std::env::var(OUTER_ENV).with_context(|| {
        format!(
            "{OUTER_ENV} is not set: this command is run by the e2e case network_namespace_faults"
        )
    })?;
    let inner = netns_of("self")?;
    ensure!(
        inner != outer,
        "refusing to touch packet filtering: this process is in {inner}, the namespace the \
         suite started in, not one of its own (the case runs it through `unshare --net`)"
    );
    run_tool("ip", &["link", "set", "lo", "up"])?;
    let layout = layout.in_namespace();
    let built = Built::existing(&layout)?;
    let provider = Provider::chosen()?;
    let shell = Shell::chosen()?;
    say(&format!(
        "netns: running in {inner} (the suite's: {outer}), lo up; Wine prefix {}",
        layout.prefix.display()
    ));
    let verify = std::env::var(VERIFY_ENV).is_ok_and(|v| v == "1");
    crate::provider::set_verify(verify);
    let session = Session::start(&layout, &built)?;
    if let Some(took) = session.prefix_created {
        say(&format!(
            "netns: created the prefix in {}",
            fmt_duration(took)
        ));
    }
    let loaded = session.wine.load_driver();
    let result = match loaded {
        Ok(_) => {
            let cx = Ctx {
                layout: &layout,
                wine: &session.wine,
                provider,
                shell,
            };
            placed_in(&cx, &inner).and_then(|()| cells(&cx))
        }
        Err(err) => Err(err.context("loading the driver in the namespace")),
    };
    let unload = if result.is_ok() {
        session.wine.unload_driver().map(drop)
    } else {
        Ok(())
    };
    let finished = session.finish();
    result?;
    unload?;
    finished?;
    if verify {
        verified(&layout)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// With the verifier on: it must have said so and reported no client mistake.
fn verified(layout: &Layout) -> Result<()> {
    let log = std::fs::read_to_string(crate::provider::verifier_log(layout)).unwrap_or_default();
    let reports: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(crate::provider::VERIFIER_REPORT))
        .collect();
    say(&format!(
        "netns: provider verifier {}; {} report(s)",
        if log.contains(crate::provider::VERIFIER_ON) {
            "on"
        } else {
            "NOT on"
        },
        reports.len()
    ));
    ensure!(
        log.contains(crate::provider::VERIFIER_ON),
        "the provider's verifier was not on in the namespace's session"
    );
    ensure!(
        reports.is_empty(),
        "the provider's verifier reported: {}",
        reports.join(" | ")
    );
    Ok(())
}

/// Checks that wineserver and the driver host run in namespace `inner` (else the driver's
/// sockets would be outside it) and says so.
fn placed_in(cx: &Ctx<'_>, inner: &str) -> Result<()> {
    let processes = cx.wine.processes();
    let mut seen = String::new();
    for want in ["wineserver", "winedevice.exe"] {
        let Some((pid, name)) = processes.iter().find(|(_, n)| n.starts_with(want)) else {
            bail!("no {want} process of the namespace's prefix: {processes:?}");
        };
        let ns = netns_of(&pid.to_string())?;
        ensure!(
            ns == inner,
            "{name} (pid {pid}) is in {ns}, not in the namespace {inner}: its sockets would \
             be outside"
        );
        let _ = write!(seen, "{name} (pid {pid}) ");
    }
    say(&format!("netns: {seen}in {inner}"));
    Ok(())
}

/// Runs `program args` (a Linux tool), which must succeed.
fn run_tool(program: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {program} (run `cargo xtask setup`)"))?;
    ensure!(
        out.status.success(),
        "`{program} {}` failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The cells' nftables table: an `input` chain whose rules drop packets of one port.
/// Dropping it deletes the table (the namespace dies with the child anyway).
struct Rules {
    table: &'static str,
}

impl Rules {
    fn new() -> Result<Self> {
        let rules = Self { table: TABLE };
        run_tool("nft", &["add", "table", "inet", rules.table])?;
        run_tool(
            "nft",
            &[
                "add",
                "chain",
                "inet",
                rules.table,
                "input",
                "{ type filter hook input priority 0; policy accept; }",
            ],
        )?;
        Ok(rules)
    }

    /// Adds `MATCH counter drop` for packets to and from `port`.
    fn drop_port(&self, port: u16, matching: &[&str]) -> Result<()> {
        let port = port.to_string();
        for way in ["dport", "sport"] {
            let mut args = vec![
                "add", "rule", "inet", self.table, "input", "tcp", way, &port,
            ];
            args.extend_from_slice(matching);
            args.extend_from_slice(&["counter", "drop"]);
            run_tool("nft", &args)?;
        }
        Ok(())
    }

    /// Random loss of `percent` % of the packets of `port`'s flows, both ways.
    fn loss(&self, port: u16, percent: u32) -> Result<()> {
        let percent = percent.to_string();
        self.drop_port(port, &["numgen", "random", "mod", "100", "<", &percent])
    }

    /// Every packet of `port`'s flows dropped: the link is cut.
    fn cut(&self, port: u16) -> Result<()> {
        self.drop_port(port, &[])
    }

    /// Packets the rules dropped so far (their counters).
    fn dropped(&self) -> Result<u64> {
        let listing = run_tool("nft", &["list", "chain", "inet", self.table, "input"])?;
        let mut total = 0u64;
        for line in listing.lines() {
            let mut words = line.split_whitespace();
            while let Some(w) = words.next() {
                if w == "packets" {
                    let n: u64 = words
                        .next()
                        .context("nft printed `packets` without a number")?
                        .parse()
                        .with_context(|| format!("nft's counter in {line:?}"))?;
                    total = total.saturating_add(n);
                }
            }
        }
        Ok(total)
    }

    /// Removes every rule (the link is whole again); returns what they had dropped.
    fn clear(&self) -> Result<u64> {
        let dropped = self.dropped()?;
        run_tool("nft", &["flush", "chain", "inet", self.table, "input"])?;
        Ok(dropped)
    }
}

impl Drop for Rules {
    fn drop(&mut self) {
        let _ = run_tool("nft", &["delete", "table", "inet", self.table]);
    }
}

/// What a cell saw: its outcome for the table, the endpoint LIST reports on.
struct Seen {
    outcome: String,
    affected: Option<u64>,
    /// Packets dropped by rules the cell removed itself (the link restored).
    dropped: u64,
}

/// The cells, one line each, in the network-faults matrix's format.
fn cells(cx: &Ctx<'_>) -> Result<()> {
    let rules = Rules::new()?;
    say(&format!(
        "{:<13} {:<36} {:<52} {:<28} {:<10} {:<9} {}",
        "network",
        "fault (nftables, netns)",
        "outcome",
        "LIST state/last",
        "bystander",
        "HELD",
        "dropped"
    ));
    let mut failures = Vec::new();
    // A developer's shortcut: WSKRS_NETNS_CELLS=loss-stream,cut runs only those cells.
    let only = std::env::var("WSKRS_NETNS_CELLS").ok();
    let chosen = |cell: Cell| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|k| k.trim() == cell.kind()))
    };
    let mut ran = 0;
    for cell in Cell::ALL.into_iter().filter(|c| chosen(*c)) {
        ran += 1;
        let result = frame(cx, &rules, cell);
        // Whatever happened, the next cell starts with a whole link.
        let cleared = rules.clear();
        match result.and_then(|row| cleared.map(|_| row)) {
            Ok((seen, listed_state, dropped)) => say(&format!(
                "{:<13} {:<36} {:<52} {:<28} {:<10} {:<9} {dropped} packets",
                "netns tcp",
                cell.label(),
                seen.outcome,
                listed_state,
                "serves",
                "baseline"
            )),
            Err(e) => {
                say(&format!(
                    "{:<13} {:<36} FAILED: {e:#}",
                    "netns tcp",
                    cell.label()
                ));
                failures.push(format!("{}: {e:#}", cell.label()));
            }
        }
    }
    say(&format!(
        "network faults in a namespace [{}, {}]: {ran} cells, {} failed; cells drive: {}",
        cx.shell.name(),
        cx.provider.name(),
        failures.len(),
        Cell::ALL
            .iter()
            .map(|c| format!("{} = {}", c.label(), c.drive()))
            .collect::<Vec<_>>()
            .join("; ")
    ));
    if !failures.is_empty() {
        bail!("{}", failures.join(" | "));
    }
    Ok(())
}

/// One cell: a bystander (TCP echo listener on a port no rule touches), the cell, then with
/// the rules still in place: the affected endpoint's LIST entry, the bystander must echo,
/// everything the cell opened is closed and HELD must come back to the baseline. Returns
/// what the cell saw, the LIST entry and the packets the rules dropped (at least one).
fn frame(cx: &Ctx<'_>, rules: &Rules, cell: Cell) -> Result<(Seen, String, u64)> {
    let bystander = Bystander::open(cx, true)?;
    let (_, baseline) = super::held::now(cx.wine)?;
    let mut opened = Vec::new();
    let mut peers = Vec::new();
    let run = match cell {
        Cell::LossEcho => loss_echo(cx, rules, &mut opened),
        Cell::LossStream => loss_stream(cx, rules),
        Cell::Cut => cut(cx, rules, &mut opened, &mut peers),
        Cell::CutRestored => cut_restored(cx, rules, &mut opened, &mut peers),
    };
    let seen = match run {
        Ok(seen) => seen,
        Err(err) => {
            // The cell's own failure is the one to report; clean up as far as possible.
            for id in opened {
                let _ = super::helpers::close(cx.wine, id);
            }
            let _ = super::helpers::close(cx.wine, bystander.id);
            return Err(err);
        }
    };
    let listed_state = match seen.affected {
        Some(id) => listed(cx.wine, id)?,
        None => "-".to_owned(),
    };
    let serves = bystander.serves(Duration::from_secs(10));
    let mut closes = Vec::new();
    for id in opened {
        if let Err(e) = super::helpers::close(cx.wine, id) {
            closes.push(format!("{e:#}"));
        }
    }
    let (held_ok, held_now) = settle(cx.wine, &baseline)?;
    let still_dropping = rules.dropped()?;
    super::helpers::close(cx.wine, bystander.id)?;
    drop(peers);
    let dropped = still_dropping.saturating_add(seen.dropped);
    ensure!(
        closes.is_empty(),
        "closing the cell's endpoints failed: {}",
        closes.join("; ")
    );
    ensure!(serves, "the bystander endpoint stopped serving");
    ensure!(
        held_ok,
        "HELD did not come back: {held_now}, {baseline} with only the bystander open"
    );
    ensure!(
        dropped > 0,
        "the rules dropped no packet: the fault was not there ({})",
        seen.outcome
    );
    Ok((seen, listed_state, dropped))
}

/// Cell `LossEcho`: 4 MiB from a Linux client through the driver's echo service and back,
/// under random loss both ways; every byte must come back (sha256).
fn loss_echo(cx: &Ctx<'_>, rules: &Rules, opened: &mut Vec<u64>) -> Result<Seen> {
    let port = crate::util::free_port()?;
    let id = listen(cx.wine, &at(LOOPBACK4, port), "echo", &[])?;
    opened.push(id);
    rules.loss(port, LOSS_PERCENT)?;
    let data = random_bytes(LOSS_BYTES)?;
    let sent = sha256_hex(&data);
    let started = Instant::now();
    let stream = TcpStream::connect((LOOPBACK4, port)).context("connecting to the echo service")?;
    stream.set_read_timeout(Some(BOUND))?;
    stream.set_write_timeout(Some(BOUND))?;
    let mut writer = stream.try_clone()?;
    let writing = thread::spawn(move || -> std::io::Result<()> {
        writer.write_all(&data)?;
        writer.shutdown(Shutdown::Write)
    });
    let mut back = vec![0u8; LOSS_BYTES];
    let read = (&stream).read_exact(&mut back);
    let written = writing
        .join()
        .map_err(|_| anyhow::anyhow!("the writing thread panicked"))?;
    let took = started.elapsed();
    written.context("writing to the echo service under loss")?;
    read.context("reading the echo under loss")?;
    let got = sha256_hex(&back);
    ensure!(
        got == sent,
        "the echo differs: sha256 {got}, sent {sent} ({LOSS_BYTES} bytes)"
    );
    Ok(Seen {
        outcome: format!(
            "{} echoed intact in {}",
            fmt_bytes(LOSS_BYTES as u64),
            fmt_duration(took)
        ),
        affected: Some(id),
        dropped: 0,
    })
}

/// Cell `LossStream`: `wskctl stream-send` of a 16 MiB file to a Linux sink under loss; the
/// file's, wskctl's and the sink's sha256 must agree, the sink see an orderly end.
fn loss_stream(cx: &Ctx<'_>, rules: &Rules) -> Result<Seen> {
    let listener = TcpListener::bind((LOOPBACK4, 0)).context("binding the sink")?;
    let port = listener.local_addr()?.port();
    rules.loss(port, LOSS_PERCENT)?;
    let sink = thread::spawn(move || -> std::io::Result<(usize, String)> {
        let (mut conn, _) = listener.accept()?;
        conn.set_read_timeout(Some(BOUND))?;
        let mut all = Vec::with_capacity(STREAM_BYTES);
        conn.read_to_end(&mut all)?;
        Ok((all.len(), sha256_hex(&all)))
    });
    std::fs::create_dir_all(&cx.layout.scratch)?;
    let file = cx.layout.scratch.join("netns-loss.bin");
    let digest = crate::util::write_random_file(&file, STREAM_BYTES)?;
    let out = cx.wine.wskctl_ok(
        &[
            "--json",
            "stream-send",
            &at(LOOPBACK4, port),
            "--file",
            &windows_path(&file),
            "--timeout-ms",
            "30000",
        ],
        Duration::from_secs(60),
    );
    let _ = std::fs::remove_file(&file);
    let out = out?;
    let reply = parse_json_output(&out.stdout)?;
    let (received, sink_digest) = sink
        .join()
        .map_err(|_| anyhow::anyhow!("the sink thread panicked"))?
        .context("the sink's read")?;
    let sent = json_u64(&reply, "sent")?;
    let client_digest = json_str(&reply, "sha256")?;
    ensure!(
        sent == STREAM_BYTES as u64 && received == STREAM_BYTES,
        "stream-send sent {sent} bytes, the sink received {received}, the file has {STREAM_BYTES}"
    );
    ensure!(
        client_digest == digest && sink_digest == digest,
        "sha256: file {digest}, stream-send {client_digest}, sink {sink_digest}"
    );
    Ok(Seen {
        outcome: format!(
            "{} arrived intact in {}",
            fmt_bytes(STREAM_BYTES as u64),
            fmt_duration(out.elapsed)
        ),
        affected: None,
        dropped: 0,
    })
}

/// A connection from the driver to a Linux peer on this thread's side, checked to carry data
/// (`up` from the peer); returns its id, the peer's stream and the peer's port.
fn connected_peer(cx: &Ctx<'_>, opened: &mut Vec<u64>) -> Result<(u64, TcpStream, u16)> {
    let listener = TcpListener::bind((LOOPBACK4, 0)).context("binding the peer")?;
    let port = listener.local_addr()?.port();
    let id = open(
        cx.wine,
        &["tcp", "connect", &at(LOOPBACK4, port), "--detach"],
    )?
    .map_err(|s| anyhow::anyhow!("connecting to the peer: {s}"))?;
    opened.push(id);
    // The connection is established: accept returns at once.
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut peer = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e).context("accepting the driver's connection"),
        }
    };
    peer.set_nonblocking(false)?;
    peer.set_read_timeout(Some(BOUND))?;
    peer.write_all(b"up")?;
    let got = cx
        .wine
        .wskctl_ok(&["recv", &id.to_string(), "--exact", "2"], BOUND)?;
    ensure!(
        got.stdout.contains("up"),
        "before the fault the connection did not carry the peer's `up`: {}",
        got.combined()
    );
    Ok((id, peer, port))
}

/// `wskctl recv ID --max 16 --timeout-ms MS`: `ok`, `EOF` or the status.
fn recv(cx: &Ctx<'_>, id: &str, deadline_ms: &str) -> Result<Attempt> {
    Ok(wskctl(
        cx.wine,
        &["recv", id, "--max", "16", "--timeout-ms", deadline_ms],
    )?
    .and_then(|text| {
        if text.contains("peer closed") {
            Err("EOF".to_owned())
        } else {
            Ok(())
        }
    }))
}

/// Cell `Cut`: the link of a connected endpoint cut while the peer's data is in flight: a
/// receive and a send that cannot drain end at their deadlines with a named status; nothing
/// arrives. (TCP itself would give up after its retransmissions, ~15 min on Linux.)
fn cut(
    cx: &Ctx<'_>,
    rules: &Rules,
    opened: &mut Vec<u64>,
    peers: &mut Vec<TcpStream>,
) -> Result<Seen> {
    let (id, mut peer, port) = connected_peer(cx, opened)?;
    rules.cut(port)?;
    peer.write_all(b"lost in the cut")?;
    peers.push(peer);
    let ids = id.to_string();
    std::fs::create_dir_all(&cx.layout.scratch)?;
    let big = cx.layout.scratch.join("netns-4mib.bin");
    std::fs::write(&big, vec![0x5A_u8; 4 << 20])?;
    let mut attempts = vec![recv(cx, &ids, "1000")?];
    attempts.push(
        wskctl(
            cx.wine,
            &[
                "send",
                &ids,
                "--file",
                &windows_path(&big),
                "--timeout-ms",
                "1000",
            ],
        )?
        .map(drop),
    );
    attempts.push(recv(cx, &ids, "300")?);
    let seen = attempts_text(&attempts);
    let timeout = "STATUS_IO_TIMEOUT".to_owned();
    match cx.provider {
        Provider::Wskrs => ensure!(
            attempts.iter().all(|a| *a == Err(timeout.clone())),
            "expected IO_TIMEOUT three times (the connection stays usable), got {seen}"
        ),
        // Wine's netio ignores cancellation: the driver closes the socket to end the timed-out
        // receive (README, Ctrl-C), so the endpoint is broken after the first attempt and
        // every later request says its socket is gone (docs/protocol.md).
        Provider::Wine => {
            let gone = Err("STATUS_FILE_FORCED_CLOSED".to_owned());
            ensure!(
                attempts == [Err(timeout.clone()), gone.clone(), gone],
                "expected IO_TIMEOUT / FILE_FORCED_CLOSED / FILE_FORCED_CLOSED, got {seen}"
            );
        }
    }
    Ok(Seen {
        outcome: seen,
        affected: Some(id),
        dropped: 0,
    })
}

/// Cell `CutRestored`: a receive pending when the link is cut, the peer's data sent into the
/// cut; the receive must still be pending when the link comes back, then complete with the
/// data before its deadline, and the connection carry data both ways after.
fn cut_restored(
    cx: &Ctx<'_>,
    rules: &Rules,
    opened: &mut Vec<u64>,
    peers: &mut Vec<TcpStream>,
) -> Result<Seen> {
    let (id, mut peer, port) = connected_peer(cx, opened)?;
    let ids = id.to_string();
    rules.cut(port)?;
    std::fs::create_dir_all(&cx.layout.scratch)?;
    let out_file = cx.layout.scratch.join("netns-recv.txt");
    let mut pending = cx
        .wine
        .command("wine")
        .arg(cx.layout.wskctl_exe())
        .args(["recv", &ids, "--exact", "5", "--timeout-ms", "10000"])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_file)?)
        .stderr(Stdio::null())
        .spawn()
        .context("starting wskctl recv")?;
    let cut_at = Instant::now();
    thread::sleep(Duration::from_millis(300));
    peer.write_all(b"again")?;
    thread::sleep(CUT_FOR.saturating_sub(cut_at.elapsed()));
    let still = pending.try_wait()?;
    let dropped = rules.dropped()?;
    rules.clear()?;
    let restored_at = Instant::now();
    let status = crate::proc::wait_with_deadline(&mut pending, "wskctl recv", BOUND)?;
    let waited = restored_at.elapsed();
    let text = std::fs::read_to_string(&out_file).unwrap_or_default();
    let _ = std::fs::remove_file(&out_file);
    ensure!(
        still.is_none(),
        "the receive ended while the link was cut ({still:?}): {text}"
    );
    ensure!(
        dropped > 0,
        "nothing was dropped while the link was cut: the peer's data was not in the cut"
    );
    let mut attempts: Vec<Attempt> = Vec::new();
    attempts.push(if status.success() && text.contains("again") {
        Ok(())
    } else {
        Err(format!("{status}: {}", text.trim()))
    });
    attempts.push(wskctl(cx.wine, &["send", &ids, "--text", "back"])?.map(drop));
    let mut four = [0u8; 4];
    peer.read_exact(&mut four)
        .context("the peer reading `back` after the link came back")?;
    ensure!(&four == b"back", "the peer read {four:?}, expected `back`");
    let big = cx.layout.scratch.join("netns-1mib.bin");
    std::fs::write(&big, vec![0xA5_u8; 1 << 20])?;
    let mut reader = peer.try_clone()?;
    let reading = thread::spawn(move || -> std::io::Result<bool> {
        let mut all = vec![0u8; 1 << 20];
        reader.read_exact(&mut all)?;
        Ok(all.iter().all(|b| *b == 0xA5))
    });
    attempts.push(
        wskctl(
            cx.wine,
            &[
                "send",
                &ids,
                "--file",
                &windows_path(&big),
                "--timeout-ms",
                "10000",
            ],
        )?
        .map(drop),
    );
    let intact = reading
        .join()
        .map_err(|_| anyhow::anyhow!("the peer's reading thread panicked"))?
        .context("the peer reading 1 MiB after the link came back")?;
    peers.push(peer);
    let seen = attempts_text(&attempts);
    ensure!(
        attempts.iter().all(Result::is_ok) && intact,
        "after the link came back: {seen}, 1 MiB intact: {intact}"
    );
    Ok(Seen {
        outcome: format!("{seen} (recv done {} after)", fmt_duration(waited)),
        affected: Some(id),
        dropped,
    })
}
