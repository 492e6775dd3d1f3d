//! Sharing of local addresses (`SO_REUSEADDR`, `SO_EXCLUSIVEADDRUSE`, `SO_WSK_SECURITY`):
//! every cell of the WSK documentation's table ("Sharing Transport Addresses"), run through
//! the driver (`wskctl udp bind` with `--reuse-addr` / `--exclusive-addr` / `--sddl`) against
//! the wsk-rs provider, for IPv4, IPv6 and dual stack, each cell's expected result taken from
//! the table (`wskrs_provider_model::sharing`). The case prints the matrices and fails on any
//! mismatch.
//!
//! A `CHECK` cell runs three times, with the first socket's descriptor granting sharing
//! (`ALLOW`), granting it only to `LocalSystem` (`DENY`), and with no descriptor (the default,
//! which allows no sharing): SUCCESS, DENIED, DENIED. The Winsock tables' "same user" and
//! "different user" columns are these two descriptors: every process under Wine runs as the
//! same user, so a second user cannot be had; a descriptor that does not grant the (one)
//! user stands for a different one.
//!
//! The sockets are UDP: for TCP, Linux refuses a second listener on an overlapping address
//! whatever the table says (it needs `SO_REUSEPORT`, which Winsock cannot set), so
//! [`listener_refuses_per_descriptor`] checks only what the provider decides for a listener.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

use anyhow::{bail, ensure, Context, Result};
use wskrs_provider_model::sharing::{overlaps, second_bind, Bound, Outcome, Scope, Sharing};

use super::helpers::{at, close, listen, LOOPBACK4};
use super::Ctx;
use crate::util::{free_port, say};
use crate::wine::WSKCTL_TIMEOUT;

/// Grants everyone (under Wine: the one user) all access: sharing allowed.
const ALLOW: &str = "D:(A;;GA;;;WD)";
/// Grants only `LocalSystem`, which no process under Wine runs as: sharing refused.
const DENY: &str = "D:P(A;;GA;;;SY)";

/// Cells per `wskctl shell`: each leaves up to two endpoints open until the shell exits, and
/// a handle may own 64.
const CELLS_PER_SHELL: usize = 30;

const MODES: [(Sharing, &str); 3] = [
    (Sharing::Default, "default"),
    (Sharing::ReuseAddress, "REUSEADDR"),
    (Sharing::ExclusiveAddressUse, "EXCLUSIVE"),
];
const SCOPES: [Scope; 2] = [Scope::Wildcard, Scope::Specific];

/// The first socket's descriptor in a cell.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Descriptor {
    Allow,
    Deny,
    Default,
}

/// Which addresses a table is run with.
#[derive(Clone, Copy)]
enum Family {
    V4,
    V6,
    /// The first socket is an IPv6 dual-stack socket on `::` (it holds the IPv4 wildcard
    /// too), the second an IPv4 one.
    DualStack,
}

impl Family {
    const fn name(self) -> &'static str {
        match self {
            Self::V4 => "IPv4",
            Self::V6 => "IPv6 (IPV6_V6ONLY)",
            Self::DualStack => "dual stack (first: [::] without IPV6_V6ONLY; second: IPv4)",
        }
    }

    fn ip(family_v6: bool, scope: Scope) -> IpAddr {
        match (family_v6, scope) {
            (false, Scope::Wildcard) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            (false, Scope::Specific) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            (true, Scope::Wildcard) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            (true, Scope::Specific) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        }
    }

    /// The first socket's scopes: a dual-stack socket shares only as a wildcard (a specific
    /// IPv6 address never meets an IPv4 one).
    fn first_scopes(self) -> &'static [Scope] {
        match self {
            Self::DualStack => &[Scope::Wildcard],
            Self::V4 | Self::V6 => &SCOPES,
        }
    }
}

/// One bind pair to run.
struct Cell {
    first: (Sharing, Scope),
    second: (Sharing, Scope),
    descriptor: Descriptor,
    first_addr: SocketAddr,
    second_addr: SocketAddr,
    dual_stack: bool,
    expected: Outcome,
}

fn flag(sharing: Sharing) -> Option<&'static str> {
    match sharing {
        Sharing::Default => None,
        Sharing::ReuseAddress => Some("--reuse-addr"),
        Sharing::ExclusiveAddressUse => Some("--exclusive-addr"),
    }
}

impl Cell {
    /// The table's answer for this pair, with a `CHECK` resolved by the descriptor; a pair
    /// that does not overlap always succeeds.
    fn new(
        family: Family,
        first: (Sharing, Scope),
        second: (Sharing, Scope),
        descriptor: Descriptor,
        port: u16,
    ) -> Self {
        let dual_stack = matches!(family, Family::DualStack);
        let first_v6 = !matches!(family, Family::V4);
        let second_v6 = matches!(family, Family::V6);
        let first_addr = SocketAddr::new(Family::ip(first_v6, first.1), port);
        let second_addr = SocketAddr::new(Family::ip(second_v6, second.1), port);
        let bound = |address, sharing, v6_only| Bound {
            socket: 0,
            protocol: 17,
            address,
            v6_only,
            sharing,
        };
        let meet = overlaps(
            &bound(first_addr, first.0, !dual_stack),
            &bound(second_addr, second.0, true),
        );
        let expected = match (meet, second_bind(first, second), descriptor) {
            (false, _, _) | (true, Outcome::Check, Descriptor::Allow) => Outcome::Success,
            (true, Outcome::Check, _) => Outcome::Denied,
            (true, outcome, _) => outcome,
        };
        Self {
            first,
            second,
            descriptor,
            first_addr,
            second_addr,
            dual_stack,
            expected,
        }
    }

    /// What a mismatch of this cell says.
    fn mismatch(&self, family: Family, status: &str) -> String {
        let descriptor = match self.descriptor {
            Descriptor::Allow => ALLOW,
            Descriptor::Deny => DENY,
            Descriptor::Default => "none",
        };
        format!(
            "{}: first {} {:?}, second {} {:?}, descriptor {descriptor}: expected {}, got {status}",
            family.name(),
            self.first_addr,
            self.first.0,
            self.second_addr,
            self.second.0,
            self.expected.name()
        )
    }

    /// The shell lines: the first bind, `info`, the second bind, `info` (each `info` marks
    /// where a bind's line would be on stdout).
    fn script(&self, out: &mut String) {
        let mut first = format!("udp bind {}", self.first_addr);
        if let Some(f) = flag(self.first.0) {
            let _ = write!(first, " {f}");
        }
        if self.dual_stack {
            first.push_str(" --dual-stack");
        }
        match self.descriptor {
            Descriptor::Allow => {
                let _ = write!(first, " --sddl '{ALLOW}'");
            }
            Descriptor::Deny => {
                let _ = write!(first, " --sddl '{DENY}'");
            }
            Descriptor::Default => {}
        }
        let mut second = format!("udp bind {}", self.second_addr);
        if let Some(f) = flag(self.second.0) {
            let _ = write!(second, " {f}");
        }
        let _ = writeln!(out, "{first}\ninfo\n{second}\ninfo");
    }
}

/// What a bind printed: success, or the status name of its error.
fn outcome_of(status: &str) -> Outcome {
    match status {
        "STATUS_SUCCESS" => Outcome::Success,
        "STATUS_ADDRESS_ALREADY_EXISTS" => Outcome::InUse,
        "STATUS_ACCESS_DENIED" => Outcome::Denied,
        // Anything else is a mismatch: shown as the cell's result below.
        _ => Outcome::Check,
    }
}

/// Runs `cells` in one `wskctl shell`; returns each second bind's status name.
fn run_shell(cx: &Ctx<'_>, cells: &[Cell]) -> Result<Vec<String>> {
    let mut script = String::new();
    for cell in cells {
        cell.script(&mut script);
    }
    let dir = cx.layout.target.join("e2e-sharing");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("script.txt");
    std::fs::write(&path, &script).with_context(|| format!("writing {}", path.display()))?;
    let out = cx
        .wine
        .command("sh")
        .arg("-c")
        .arg(r#"exec timeout 120 wine "$0" shell --no-history < "$1""#)
        .arg(cx.layout.wskctl_exe())
        .arg(&path)
        .output()
        .context("running `wskctl shell`")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.success(),
        "`wskctl shell` exited with {}: {stderr}",
        out.status
    );
    let mut lines = stdout.lines().filter(|l| !l.trim().is_empty());
    let mut errors = stderr.lines().filter(|l| l.starts_with("error:"));
    let mut bind = |what: &str| -> Result<String> {
        let line = lines.next().context("`wskctl shell` printed too little")?;
        if line.starts_with("endpoint ") {
            let marker = lines.next().context("no `info` line after a bind")?;
            ensure!(
                marker.starts_with("wsk-rs driver"),
                "unexpected line {marker:?}"
            );
            return Ok("STATUS_SUCCESS".to_owned());
        }
        ensure!(
            line.starts_with("wsk-rs driver"),
            "unexpected line {line:?}"
        );
        let error = errors
            .next()
            .with_context(|| format!("{what} failed without an error line"))?;
        let status = error
            .split_whitespace()
            .find_map(|w| {
                let w = w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric() && c != '_');
                w.starts_with("STATUS_").then(|| w.to_owned())
            })
            .with_context(|| format!("no status in {error:?}"))?;
        Ok(status)
    };
    let mut results = Vec::new();
    for cell in cells {
        let first = bind("a first bind")?;
        if first != "STATUS_SUCCESS" {
            bail!("the first bind of {} failed: {first}", cell.first_addr);
        }
        results.push(bind("a second bind")?);
    }
    Ok(results)
}

fn column(mode: (Sharing, &str), scope: Scope) -> String {
    let scope = match scope {
        Scope::Wildcard => "wild",
        Scope::Specific => "spec",
    };
    format!("{} {scope}", mode.1)
}

/// Every cell of the table for IPv4, IPv6 and dual stack; prints the matrices.
pub(super) fn bind_sharing_table(cx: &Ctx<'_>) -> Result<()> {
    let mut mismatches = Vec::new();
    let mut total = 0;
    for family in [Family::V4, Family::V6, Family::DualStack] {
        let cells = cells_of(family)?;
        let mut got = Vec::new();
        for chunk in cells.chunks(CELLS_PER_SHELL) {
            got.extend(run_shell(cx, chunk)?);
        }
        total += cells.len();
        say(&matrix(family, &cells, &got, &mut mismatches));
    }
    say(&format!(
        "bind sharing: {total} cells, {} mismatches (CHECK x/y/z: the first socket's descriptor \
         {ALLOW} / {DENY} / none; S SUCCESS, D DENIED)",
        mismatches.len()
    ));
    ensure!(
        mismatches.is_empty(),
        "{} cells differ from the table: {}",
        mismatches.len(),
        mismatches.join("; ")
    );
    Ok(())
}

/// A UDP port free for IPv4 and IPv6 now (a dual-stack probe), and not one of `used`: the
/// cells of one shell keep their sockets until it exits, and a TCP probe (`free_port`) does
/// not see them.
fn free_udp_port(used: &mut HashSet<u16>) -> Result<u16> {
    for _ in 0..100 {
        let probe = UdpSocket::bind(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0))
            .context("binding a UDP probe on [::]:0")?;
        let port = probe
            .local_addr()
            .context("reading the probe's port")?
            .port();
        if used.insert(port) {
            return Ok(port);
        }
    }
    bail!("no unused UDP port after 100 tries")
}

/// Every cell of `family`'s table (a `CHECK` once per descriptor), each on its own port.
fn cells_of(family: Family) -> Result<Vec<Cell>> {
    let mut used = HashSet::new();
    let mut cells = Vec::new();
    for second_mode in MODES {
        for second_scope in SCOPES {
            for first_mode in MODES {
                for &first_scope in family.first_scopes() {
                    let first = (first_mode.0, first_scope);
                    let second = (second_mode.0, second_scope);
                    let variants: &[Descriptor] = if second_bind(first, second) == Outcome::Check {
                        &[Descriptor::Allow, Descriptor::Deny, Descriptor::Default]
                    } else {
                        &[Descriptor::Allow]
                    };
                    for &descriptor in variants {
                        cells.push(Cell::new(
                            family,
                            first,
                            second,
                            descriptor,
                            free_udp_port(&mut used)?,
                        ));
                    }
                }
            }
        }
    }
    Ok(cells)
}

/// The matrix of `family`'s results (one row per second bind, one column per first bind);
/// each mismatch is added to `mismatches` and marked `!` in its cell.
fn matrix(family: Family, cells: &[Cell], got: &[String], mismatches: &mut Vec<String>) -> String {
    let mut text = format!(
        "bind sharing, {}:\n{:>18} |",
        family.name(),
        "second \\ first"
    );
    for mode in MODES {
        for &scope in family.first_scopes() {
            let _ = write!(text, " {:^17} |", column(mode, scope));
        }
    }
    text.push('\n');
    for second_mode in MODES {
        for second_scope in SCOPES {
            let _ = write!(text, "{:>18} |", column(second_mode, second_scope));
            for first_mode in MODES {
                for &first_scope in family.first_scopes() {
                    let mut shown = Vec::new();
                    for (cell, status) in cells.iter().zip(got).filter(|(c, _)| {
                        c.first == (first_mode.0, first_scope)
                            && c.second == (second_mode.0, second_scope)
                    }) {
                        let outcome = outcome_of(status);
                        if outcome == cell.expected {
                            shown.push(outcome.name().to_owned());
                        } else {
                            shown.push(format!("{status}!"));
                            mismatches.push(cell.mismatch(family, status));
                        }
                    }
                    let _ = write!(text, " {:^17} |", shown_cell(&shown));
                }
            }
            text.push('\n');
        }
    }
    text
}

/// One cell's text: its result, or for a `CHECK` the three results by initial.
fn shown_cell(shown: &[String]) -> String {
    if shown.len() < 2 {
        return shown.concat();
    }
    let initials: Vec<&str> = shown
        .iter()
        .map(|s| match s.as_str() {
            "SUCCESS" => "S",
            "DENIED" => "D",
            "INUSE" => "I",
            other => other,
        })
        .collect();
    format!("CHECK {}", initials.join("/"))
}

/// Item 4 for a TCP listener: a specific bind under a default wildcard listener is a `CHECK`;
/// with a descriptor that refuses it the provider answers `STATUS_ACCESS_DENIED`; with one
/// that allows it the provider lets it through and Linux refuses it (a listener holds the
/// port: `STATUS_ADDRESS_ALREADY_ASSOCIATED`), where Windows would succeed.
pub(super) fn listener_refuses_per_descriptor(cx: &Ctx<'_>) -> Result<()> {
    for (sddl, expected) in [
        (DENY, "STATUS_ACCESS_DENIED"),
        (ALLOW, "STATUS_ADDRESS_ALREADY_ASSOCIATED"),
    ] {
        let port = free_port()?;
        let wildcard = at(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
        let id = listen(cx.wine, &wildcard, "echo", &["--sddl", sddl])?;
        let specific = at(LOOPBACK4, port);
        let out = cx.wine.wskctl(
            &["tcp", "listen", &specific, "--service", "echo", "--detach"],
            WSKCTL_TIMEOUT,
        )?;
        close(cx.wine, id)?;
        ensure!(
            !out.success() && out.combined().contains(expected),
            "a second listener on {specific} under listener {id} on {wildcard} ({sddl}): \
             expected {expected}, got: {}",
            out.combined()
        );
    }
    Ok(())
}
