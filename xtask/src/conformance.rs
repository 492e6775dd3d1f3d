//! `cargo xtask conformance`: the WSK provider conformance suite.
//!
//! Builds the conformance driver (`tests/conformance/driver`, `wskrs-conformance.sys`) and,
//! for each WSK provider (Wine's built-in netio.sys, then the wsk-rs provider), runs it in a
//! fresh Wine session: Linux peers on 127.0.0.1 and ::1 (`tests/conformance/peers/`), the
//! driver installed and started as kernel service `WskRsConformance`, one RUN IOCTL sent
//! through `wskctl --device \\.\WskRsConformance raw`, the records decoded
//! (`wskrs-conformance-abi`). Prints one table (rows: checks; columns: providers), the
//! details of every result that is not PASS, and the checks whose results differ.
//!
//! Verdict (see docs/running-on-linux.md): the run fails when a provider's column could not
//! be produced at all (harness or driver problem), or when a check FAILs under the wsk-rs
//! provider. Results under Wine's netio.sys are informational: its gaps are expected.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;
use wskrs_conformance_abi::{self as abi, Outcome, PeerAddr, Record, ReplyHeader, RunRequest};
use wskrs_ntstatus::NtStatus;

use crate::artifacts::Built;
use crate::choice::Choice;
use crate::layout::Layout;
use crate::peers::Peer;
use crate::provider::Provider;
use crate::util::{copy_atomic, fmt_duration, parse_json_output, say};
use crate::wine::{Session, WSKCTL_TIMEOUT};

/// Where the driver goes in the prefix, as Windows sees it.
const DRIVER_WIN_PATH: &str = r"C:\windows\system32\drivers\wskrs-conformance.sys";
/// Deadline of the RUN request: every check inside is bounded (the longest ~10 s when a
/// provider ignores cancellation); this leaves room for a slow machine.
const RUN_TIMEOUT: Duration = Duration::from_secs(180);

/// One provider's column.
struct Column {
    provider: Provider,
    result: Result<Table, String>,
}

struct Table {
    provider_version: u32,
    leaked: u32,
    rows: Vec<Row>,
    took: Duration,
}

struct Row {
    name: String,
    outcome: Option<Outcome>,
    status: u32,
    detail: String,
}

impl Row {
    fn label(&self) -> &'static str {
        self.outcome.map_or("?", Outcome::label)
    }

    fn cell(&self) -> String {
        format!("{:<11} {}", self.label(), short_status(self.status))
    }
}

fn short_status(status: u32) -> String {
    let s = NtStatus::from_u32(status);
    match s.name() {
        Some(name) => name.strip_prefix("STATUS_").unwrap_or(name).to_owned(),
        None => format!("0x{status:08X}"),
    }
}

/// Parses `conformance` arguments: provider names (`wine`, `wskrs`, or `--provider X`).
pub(crate) fn parse_providers(args: &[String]) -> Result<Vec<Provider>> {
    let mut chosen = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let name = if a == "--provider" {
            it.next()
                .context("--provider needs a value: wine or wskrs")?
                .as_str()
        } else {
            a.strip_prefix("--provider=").unwrap_or(a)
        };
        let p = Provider::parse(name)?;
        if !chosen.contains(&p) {
            chosen.push(p);
        }
    }
    Ok(if chosen.is_empty() {
        Provider::ALL.to_vec()
    } else {
        chosen
    })
}

/// `cargo build` of the conformance driver; copies it to `target/wskrs/wskrs-conformance.sys`.
pub(crate) fn build_driver(layout: &Layout) -> Result<PathBuf> {
    say("conformance: building the conformance driver (wskrs-conformance, x86_64-pc-windows-msvc, release)");
    let dll = crate::artifacts::cargo_build_release(
        layout,
        "wskrs-conformance",
        "x86_64-pc-windows-msvc",
        "wskrs_conformance.dll",
    )?;
    let sys = layout.out.join("wskrs-conformance.sys");
    copy_atomic(&dll, &sys)?;
    Ok(sys)
}

/// Runs the suite for `providers`; prints the table; returns failure per the verdict rule.
pub(crate) fn run(layout: &Layout, built: &Built, providers: &[Provider]) -> Result<ExitCode> {
    let sys = build_driver(layout)?;
    let mut columns = Vec::new();
    for &p in providers {
        say(&format!(
            "== conformance with WSK provider `{}` ({})",
            p.name(),
            p.describe()
        ));
        p.select();
        let started = Instant::now();
        let result = run_one(layout, built, &sys, p).map(|mut t| {
            t.took = started.elapsed();
            t
        });
        let result = result.map_err(|e| format!("{e:#}"));
        if let Err(e) = &result {
            say(&format!("conformance [{}]: could not run: {e}", p.name()));
        }
        columns.push(Column {
            provider: p,
            result,
        });
    }
    print!("{}", render(&columns));
    let problems = verdict(&columns);
    if problems.is_empty() {
        say(
            "conformance: ok (no FAIL under the wsk-rs provider; Wine's results are informational)",
        );
        Ok(ExitCode::SUCCESS)
    } else {
        for p in &problems {
            say(&format!("conformance: FAILED: {p}"));
        }
        Ok(ExitCode::FAILURE)
    }
}

/// The verdict rule: a column that could not be produced fails the run; a FAIL under the
/// wsk-rs provider fails the run; Wine's results never do.
fn verdict(columns: &[Column]) -> Vec<String> {
    let mut problems = Vec::new();
    for c in columns {
        match &c.result {
            Err(e) => problems.push(format!(
                "provider `{}`: the suite could not run: {e}",
                c.provider.name()
            )),
            Ok(t) if c.provider == Provider::Wskrs => {
                for r in t.rows.iter().filter(|r| {
                    r.outcome != Some(Outcome::Pass) && r.outcome != Some(Outcome::Unsupported)
                }) {
                    problems.push(format!(
                        "provider `wskrs`: {} {}: {}",
                        r.name,
                        r.label(),
                        r.detail
                    ));
                }
            }
            Ok(_) => {}
        }
    }
    problems
}

/// One provider: a fresh session, peers, the driver loaded, RUN, the driver unloaded.
fn run_one(layout: &Layout, built: &Built, sys: &std::path::Path, p: Provider) -> Result<Table> {
    let session = Session::start(layout, built)?;
    let result = with_session(layout, &session, sys, p);
    // Keep this provider's Wine transcript (the next session truncates wine.log).
    let _ = std::fs::copy(
        layout.wine_log(),
        layout
            .logs
            .join(format!("conformance-{}-wine.log", p.name())),
    );
    let finished = session.finish();
    let table = result?;
    finished?;
    Ok(table)
}

fn with_session(
    layout: &Layout,
    session: &Session,
    sys: &std::path::Path,
    p: Provider,
) -> Result<Table> {
    let wine = &session.wine;
    let target = layout.drivers_dir().join("wskrs-conformance.sys");
    copy_atomic(sys, &target)?;

    let mut peers = Peer::spawn(
        layout,
        // Peer::spawn looks under tests/peers/; the conformance peers live with the suite.
        "../conformance/peers/conformance_peers.py",
        &format!("conformance-peers-{}", p.name()),
        &[],
    )?;
    let ready = peers.wait_event("ready", Duration::from_secs(10))?;
    let request = RunRequest {
        query_characteristics: p == Provider::Wskrs,
        ..request_from(&ready)?
    };

    wine.wskctl_ok(
        &[
            "driver",
            "install",
            "--name",
            abi::SERVICE_NAME,
            "--path",
            DRIVER_WIN_PATH,
        ],
        WSKCTL_TIMEOUT,
    )?;
    let started = wine.wskctl_ok(
        &["driver", "start", "--name", abi::SERVICE_NAME],
        WSKCTL_TIMEOUT,
    );
    let reply = started.and_then(|_| {
        let code = format!("{:#010x}", abi::IOCTL_RUN);
        let input = hex(&request.encode());
        let out_len = abi::REPLY_LEN.to_string();
        wine.wskctl_ok(
            &[
                "--json",
                "--device",
                abi::USER_DEVICE_PATH,
                "raw",
                "--code",
                &code,
                "--input-hex",
                &input,
                "--output-len",
                &out_len,
            ],
            RUN_TIMEOUT,
        )
    });
    // Unload whatever happened, so the session ends cleanly.
    let stop = wine.wskctl(
        &["driver", "stop", "--name", abi::SERVICE_NAME],
        WSKCTL_TIMEOUT,
    );
    let uninstall = wine.wskctl(
        &["driver", "uninstall", "--name", abi::SERVICE_NAME],
        WSKCTL_TIMEOUT,
    );
    let reply = reply?;
    let json = parse_json_output(&reply.stdout)?;
    let table = decode(&json)?;
    match stop {
        Ok(o) if o.success() => {}
        Ok(o) => bail!(
            "`wskctl driver stop` after the run failed: {}",
            o.combined()
        ),
        Err(e) => return Err(e.context("stopping the conformance driver")),
    }
    uninstall?;
    drop(peers);
    Ok(table)
}

fn request_from(ready: &Value) -> Result<RunRequest> {
    let pair = |key: &str| -> Result<[u16; 2]> {
        let v = ready
            .get(key)
            .and_then(Value::as_array)
            .with_context(|| format!("peers: no `{key}` in {ready}"))?;
        let port = |i: usize| -> Result<u16> {
            v.get(i)
                .and_then(Value::as_u64)
                .and_then(|p| u16::try_from(p).ok())
                .with_context(|| format!("peers: bad `{key}` in {ready}"))
        };
        Ok([port(0)?, port(1)?])
    };
    let spare = |key: &str| -> Result<[u16; abi::SPARE_PORTS]> {
        let v = ready
            .get(key)
            .and_then(Value::as_array)
            .with_context(|| format!("peers: no `{key}` in {ready}"))?;
        let ports: Vec<u16> = v
            .iter()
            .filter_map(Value::as_u64)
            .filter_map(|p| u16::try_from(p).ok())
            .collect();
        ports.try_into().map_err(|_| {
            anyhow::anyhow!("peers: `{key}` needs {} ports: {ready}", abi::SPARE_PORTS)
        })
    };
    let both = |ports: [u16; 2]| {
        [
            PeerAddr::v4_loopback(ports[0]),
            PeerAddr::v6_loopback(ports[1]),
        ]
    };
    Ok(RunRequest {
        tcp_echo: both(pair("tcp")?),
        udp_echo: both(pair("udp")?),
        closed: both(pair("closed")?),
        spare_ports: [spare("spare4")?, spare("spare6")?],
        helper: PeerAddr::v4_loopback(
            ready
                .get("helper")
                .and_then(Value::as_u64)
                .and_then(|p| u16::try_from(p).ok())
                .with_context(|| format!("peers: no `helper` port in {ready}"))?,
        ),
        query_characteristics: false,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn unhex(text: &str) -> Result<Vec<u8>> {
    if text.len() % 2 != 0 {
        bail!("odd-length hex output from wskctl");
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).context("non-hex output from wskctl"))
        .collect()
}

/// Decodes `wskctl --json raw` output into the table.
fn decode(json: &Value) -> Result<Table> {
    let status = json.get("status").and_then(Value::as_str).unwrap_or("?");
    if status != "STATUS_SUCCESS" {
        bail!(
            "RUN completed with {status} ({})",
            json.get("code").and_then(Value::as_str).unwrap_or("?")
        );
    }
    let bytes = unhex(
        json.get("output")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    )?;
    let header = ReplyHeader::decode(&bytes).context("RUN reply has no valid header")?;
    let mut rows = Vec::new();
    for i in 0..header.count as usize {
        let at = abi::HEADER_LEN + i * abi::RECORD_LEN;
        let record = bytes
            .get(at..)
            .and_then(Record::decode)
            .with_context(|| format!("RUN reply: record {i} is cut short"))?;
        rows.push(Row {
            name: record.name_str().collect(),
            outcome: record.outcome(),
            status: record.status,
            detail: record.detail_str().collect(),
        });
    }
    Ok(Table {
        provider_version: header.provider_version,
        leaked: header.leaked,
        rows,
        took: Duration::ZERO,
    })
}

fn find<'a>(c: &'a Column, name: &str) -> Option<&'a Row> {
    c.result.as_ref().ok()?.rows.iter().find(|r| r.name == name)
}

/// The table, the details of non-PASS results, the differences.
fn render(columns: &[Column]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for c in columns {
        if let Ok(t) = &c.result {
            for r in &t.rows {
                if !names.contains(&r.name.as_str()) {
                    names.push(&r.name);
                }
            }
        }
    }
    let width = names.iter().map(|n| n.len()).max().unwrap_or(5).max(5);
    let cell_width = 34;
    let mut out = String::new();
    let _ = writeln!(out, "\nWSK provider conformance");
    let _ = write!(out, "{:<width$}", "check");
    for c in columns {
        let _ = write!(out, "  {:<cell_width$}", c.provider.name());
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "{}",
        "-".repeat(width + columns.len() * (cell_width + 2))
    );
    for name in &names {
        let _ = write!(out, "{name:<width$}");
        for c in columns {
            let cell = match (&c.result, find(c, name)) {
                (Err(_), _) => "(not run)".to_owned(),
                (Ok(_), None) => "-".to_owned(),
                (Ok(_), Some(r)) => r.cell(),
            };
            let _ = write!(out, "  {cell:<cell_width$}");
        }
        out.push('\n');
    }
    let _ = writeln!(out);
    for c in columns {
        match &c.result {
            Err(e) => {
                let _ = writeln!(
                    out,
                    "[{}] {}: could not run: {e}",
                    c.provider.name(),
                    c.provider.describe()
                );
            }
            Ok(t) => {
                let [major, minor] = u16::try_from(t.provider_version).unwrap_or(0).to_be_bytes();
                let count = |o: Outcome| t.rows.iter().filter(|r| r.outcome == Some(o)).count();
                let _ = writeln!(
                    out,
                    "[{}] {}: WSK dispatch {major}.{minor}; {} PASS, {} FAIL, {} UNSUPPORTED; {} requests leaked; {}",
                    c.provider.name(),
                    c.provider.describe(),
                    count(Outcome::Pass),
                    count(Outcome::Fail),
                    count(Outcome::Unsupported),
                    t.leaked,
                    fmt_duration(t.took)
                );
                for r in t.rows.iter().filter(|r| r.outcome != Some(Outcome::Pass)) {
                    let _ = writeln!(out, "    {:<width$} {:<11} {}", r.name, r.label(), r.detail);
                }
            }
        }
    }
    if columns.len() > 1 {
        let mut diffs = Vec::new();
        for name in &names {
            let cells: Vec<Option<&Row>> = columns.iter().map(|c| find(c, name)).collect();
            let first = cells.first().copied().flatten().map(|r| r.outcome);
            if cells.iter().any(|r| r.map(|r| r.outcome) != first) {
                let parts: Vec<String> = columns
                    .iter()
                    .zip(cells.iter().copied())
                    .map(|(c, r): (&Column, Option<&Row>)| match r {
                        Some(r) => format!("{} {} ({})", c.provider.name(), r.label(), r.detail),
                        None => format!("{} -", c.provider.name()),
                    })
                    .collect();
                diffs.push(format!("  {name}: {}", parts.join(" | ")));
            }
        }
        let _ = writeln!(out, "\nDifferences between providers ({}):", diffs.len());
        for d in diffs {
            let _ = writeln!(out, "{d}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        assert_eq!(
            unhex(&hex(&[0, 1, 0xab, 0xff])).unwrap(),
            vec![0, 1, 0xab, 0xff]
        );
        assert!(unhex("abc").is_err());
    }

    #[test]
    fn decodes_a_reply_and_applies_the_verdict_rule() {
        let mut bytes = vec![0u8; abi::HEADER_LEN];
        assert!(ReplyHeader {
            count: 2,
            provider_version: 0x100,
            leaked: 0
        }
        .encode_into(&mut bytes));
        for (name, outcome) in [("a.check", Outcome::Pass), ("b.check", Outcome::Fail)] {
            let mut n = [0u8; abi::NAME_LEN];
            n[..name.len()].copy_from_slice(name.as_bytes());
            let rec = Record {
                name: n,
                result: outcome as u32,
                status: 0xC000_0236,
                detail: [0; abi::DETAIL_LEN],
            };
            bytes.extend_from_slice(&rec.encode());
        }
        let json = serde_json::json!({ "status": "STATUS_SUCCESS", "code": "0x00000000", "output": hex(&bytes) });
        let table = decode(&json).unwrap();
        assert_eq!(table.rows.len(), 2);
        assert_eq!(
            table.rows[1].cell().split_whitespace().collect::<Vec<_>>(),
            ["FAIL", "CONNECTION_REFUSED"]
        );
        let wine = Column {
            provider: Provider::Wine,
            result: decode(&json).map_err(|e| e.to_string()),
        };
        assert!(
            verdict(&[wine]).is_empty(),
            "Wine's FAILs are informational"
        );
        let wskrs = Column {
            provider: Provider::Wskrs,
            result: Ok(table),
        };
        assert_eq!(
            verdict(&[wskrs]).len(),
            1,
            "a FAIL under the wsk-rs provider fails the run"
        );
        let broken = Column {
            provider: Provider::Wine,
            result: Err("no driver".into()),
        };
        assert_eq!(
            verdict(&[broken]).len(),
            1,
            "a column that could not run fails the run"
        );
        let text = render(&[Column {
            provider: Provider::Wine,
            result: decode(&json).map_err(|e| e.to_string()),
        }]);
        assert!(text.contains("b.check") && text.contains("FAIL"));
    }

    #[test]
    fn parses_provider_arguments() {
        assert_eq!(parse_providers(&[]).unwrap(), Provider::ALL.to_vec());
        assert_eq!(
            parse_providers(&["wskrs".into()]).unwrap(),
            vec![Provider::Wskrs]
        );
        assert_eq!(
            parse_providers(&["--provider".into(), "wine".into()]).unwrap(),
            vec![Provider::Wine]
        );
        assert!(parse_providers(&["nope".into()]).is_err());
    }
}
