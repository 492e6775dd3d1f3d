//! `cargo xtask setup`: installs the Debian packages and Rust targets the Linux flow needs.
//! Idempotent: checks first (dpkg-query, `rustup target list --installed`) and only runs
//! `apt-get update` + `apt-get install` / `rustup target add` for what is missing.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::layout::Layout;
use crate::proc::run_visible;
use crate::util::{fmt_duration, say};

/// Debian 12 packages, and why each is needed.
pub(crate) const PACKAGES: &[(&str, &str)] = &[
    (
        "wine",
        "the `wine` launcher and Wine's DLLs (runs the driver and wskctl)",
    ),
    ("wine64", "the 64-bit Wine loader and wineserver"),
    (
        "libwine-dev",
        "Wine's DDK headers (ddk/wsk.h, wdm.h) that wsk-bindings runs bindgen over",
    ),
    ("libclang-dev", "libclang for bindgen"),
    (
        "clang",
        "the clang resource headers (stdarg.h, ...) bindgen needs",
    ),
    (
        "lld",
        "lld-link, the linker of the driver (x86_64-pc-windows-msvc)",
    ),
    (
        "llvm",
        "LLVM tools (llvm-objdump, llvm-dlltool) to inspect the built images",
    ),
    (
        "gcc-mingw-w64-x86-64",
        "mingw-w64: linker of wskctl.exe and compiler of the shim DLL",
    ),
    (
        "g++",
        "the C++ compiler that builds libFuzzer's runtime (libfuzzer-sys, tests/host-fuzz)",
    ),
    (
        "python3",
        "the Linux peers of the demo and the end-to-end suite",
    ),
    (
        "tmux",
        "a terminal for the end-to-end case that types into `wskctl shell`",
    ),
    (
        "gdb",
        "the thread stacks of a driver host that stopped answering during a fuzz run \
         (xtask/gdb/pe_stacks.py)",
    ),
    (
        "nftables",
        "`nft`: the packet loss and cut links of the network-faults cells, inside a network \
         namespace of the suite's own (this kernel has no sch_netem for `tc netem`)",
    ),
];

/// Rust targets: the driver and the user-mode programs.
pub(crate) const TARGETS: &[&str] = &["x86_64-pc-windows-msvc", "x86_64-pc-windows-gnu"];

/// rustup components `cargo xtask lint` and `test` run (rustup's minimal profile lacks them).
pub(crate) const COMPONENTS: &[&str] = &["clippy", "rustfmt"];

pub(crate) fn ensure(layout: &Layout) -> Result<()> {
    let started = Instant::now();
    let missing_pkgs = missing_packages()?;
    if !missing_pkgs.is_empty() {
        install_packages(&missing_pkgs)?;
        let still = missing_packages()?;
        if !still.is_empty() {
            bail!(
                "apt-get finished but these packages are still not installed: {}",
                still.join(" ")
            );
        }
    }

    let missing_targets = missing_targets(layout)?;
    if !missing_targets.is_empty() {
        say(&format!(
            "setup: adding Rust targets: {}",
            missing_targets.join(" ")
        ));
        let mut cmd = Command::new("rustup");
        cmd.current_dir(&layout.root)
            .args(["target", "add"])
            .args(&missing_targets);
        let status = run_visible(&mut cmd, "rustup target add")?;
        if !status.success() {
            bail!(
                "`rustup target add {}` failed ({status})",
                missing_targets.join(" ")
            );
        }
    }

    let missing_components = missing_components(layout)?;
    if !missing_components.is_empty() {
        say(&format!(
            "setup: adding rustup components: {}",
            missing_components.join(" ")
        ));
        let mut cmd = Command::new("rustup");
        cmd.current_dir(&layout.root)
            .args(["component", "add"])
            .args(&missing_components);
        let status = run_visible(&mut cmd, "rustup component add")?;
        if !status.success() {
            bail!(
                "`rustup component add {}` failed ({status})",
                missing_components.join(" ")
            );
        }
    }

    if missing_pkgs.is_empty() && missing_targets.is_empty() && missing_components.is_empty() {
        say(&format!(
            "setup: {} Debian packages and {} Rust targets already present ({})",
            PACKAGES.len(),
            TARGETS.len(),
            fmt_duration(started.elapsed())
        ));
    } else {
        say(&format!(
            "setup: installed {} package(s) and {} target(s) in {}",
            missing_pkgs.len(),
            missing_targets.len(),
            fmt_duration(started.elapsed())
        ));
    }
    Ok(())
}

/// Packages from [`PACKAGES`] that dpkg does not report as installed.
fn missing_packages() -> Result<Vec<String>> {
    let names: Vec<&str> = PACKAGES.iter().map(|(n, _)| *n).collect();
    // Unknown packages make dpkg-query exit 1 with a message on stderr; they are simply missing.
    let output = Command::new("dpkg-query")
        .arg("-W")
        .arg("-f=${Package} ${db:Status-Abbrev}\n")
        .args(&names)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .context("running dpkg-query (this flow needs Debian or a derivative)")?;
    let text = String::from_utf8_lossy(&output.stdout);
    let installed: BTreeSet<&str> = text
        .lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let name = parts.next()?;
            let status = parts.next()?;
            // "ii": desired install, currently installed.
            (status == "ii").then_some(name)
        })
        .collect();
    Ok(names
        .into_iter()
        .filter(|n| !installed.contains(n))
        .map(str::to_owned)
        .collect())
}

fn install_packages(missing: &[String]) -> Result<()> {
    say(&format!(
        "setup: installing Debian packages: {}",
        missing.join(" ")
    ));
    for (name, why) in PACKAGES {
        if missing.iter().any(|m| m == name) {
            say(&format!("  {name}: {why}"));
        }
    }
    let sudo = privilege_prefix()?;
    let apt = |args: &[&str]| -> Result<()> {
        let (program, rest) = match &sudo {
            Some(sudo) => (sudo.as_str(), {
                let mut v = vec!["apt-get"];
                v.extend_from_slice(args);
                v
            }),
            None => ("apt-get", args.to_vec()),
        };
        let mut cmd = Command::new(program);
        cmd.args(&rest)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .env("NEEDRESTART_MODE", "a");
        let what = format!("{program} {}", rest.join(" "));
        let status = run_visible(&mut cmd, &what)?;
        if !status.success() {
            bail!("`{what}` failed ({status})");
        }
        Ok(())
    };
    apt(&["update", "-q"])?;
    let mut install = vec!["install", "-y", "-q", "-o", "DPkg::Lock::Timeout=300"];
    install.extend(missing.iter().map(String::as_str));
    apt(&install)
}

/// `None` when running as root; `Some("sudo")` when sudo exists; an error otherwise.
fn privilege_prefix() -> Result<Option<String>> {
    let uid = Command::new("id")
        .arg("-u")
        .stdin(Stdio::null())
        .output()
        .context("running `id -u`")?;
    if String::from_utf8_lossy(&uid.stdout).trim() == "0" {
        return Ok(None);
    }
    let has_sudo = Command::new("sudo")
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if has_sudo {
        Ok(Some("sudo".to_owned()))
    } else {
        bail!(
            "installing packages needs root: run `cargo xtask setup` as root, or install \
             them yourself: apt-get install {}",
            PACKAGES
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(" ")
        )
    }
}

fn missing_targets(layout: &Layout) -> Result<Vec<String>> {
    missing_from_rustup(layout, "target", TARGETS)
}

fn missing_components(layout: &Layout) -> Result<Vec<String>> {
    // `rustup component list --installed` names them with the host triple: clippy-x86_64-...
    missing_from_rustup(layout, "component", COMPONENTS)
}

/// Which of `wanted` `rustup KIND list --installed` does not list (a component matches with or
/// without the host-triple suffix).
fn missing_from_rustup(layout: &Layout, kind: &str, wanted: &[&str]) -> Result<Vec<String>> {
    let output = Command::new("rustup")
        .current_dir(&layout.root)
        .args([kind, "list", "--installed"])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context(
            "running `rustup list --installed` (targets and components are added with \
             rustup; install Rust with rustup)",
        )?;
    if !output.status.success() {
        bail!(
            "`rustup {kind} list --installed` failed ({})",
            output.status
        );
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let installed: BTreeSet<&str> = text.lines().map(str::trim).collect();
    Ok(wanted
        .iter()
        .filter(|w| {
            !installed
                .iter()
                .any(|i| i == *w || i.strip_prefix(*w).is_some_and(|rest| rest.starts_with('-')))
        })
        .map(|w| (*w).to_owned())
        .collect())
}
