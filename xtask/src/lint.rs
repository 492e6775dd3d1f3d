//! `cargo xtask lint`: the house rules checked on every crate and target, so that the lint
//! table in Cargo.toml and the kernel crates' panic lints hold on every submission.
//!
//! Steps, each reported on its own line (`lint: STEP: ok` or `FAILED`), all run even when one
//! fails: `cargo fmt --check` (root workspace and the KMDF shell's); `cargo clippy` with
//! warnings denied for the host (default members, all targets), for the kernel target
//! (`x86_64-pc-windows-msvc`: the WDM shell and the conformance driver), for the Windows
//! user-mode target (`x86_64-pc-windows-gnu`: the client and wskctl, the bench program, the WSK
//! provider and the provider model it shares with the host fake, the KMDF runtime, with their
//! tests and tools) and for the KMDF shell (its own workspace, built against the Linux kit);
//! then `wsk-bindings` in its WDK configuration ([`crate::wdk_names`]); then fmt and clippy in
//! each example driver crate under `examples/` ([`crate::examples::lint`]).

use std::process::Command;

use anyhow::{Context, Result};

use crate::layout::Layout;
use crate::proc::run_visible;
use crate::util::say;
use crate::{kmdf, wdk_names};

/// A cargo command at the workspace root.
fn cargo(layout: &Layout, args: &[&str]) -> Command {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(program);
    cmd.current_dir(&layout.root).args(args);
    cmd
}

/// Runs every step; returns whether all passed.
pub(crate) fn run(layout: &Layout) -> Result<bool> {
    let kmdf_manifest = layout.root.join("driver").join("kmdf").join("Cargo.toml");
    let kmdf_manifest = kmdf_manifest.to_string_lossy().into_owned();
    let mut steps: Vec<(&str, Command)> = vec![
        (
            "cargo fmt --check",
            cargo(layout, &["fmt", "--all", "--", "--check"]),
        ),
        (
            "cargo fmt --check (KMDF shell)",
            cargo(
                layout,
                &["fmt", "--manifest-path", &kmdf_manifest, "--", "--check"],
            ),
        ),
        (
            "clippy (host, all targets)",
            cargo(
                layout,
                &["clippy", "--quiet", "--all-targets", "--", "-D", "warnings"],
            ),
        ),
        (
            "clippy (x86_64-pc-windows-msvc: WDM shell, conformance driver)",
            cargo(
                layout,
                &[
                    "clippy",
                    "--quiet",
                    "-p",
                    "wskrs-wdm",
                    "-p",
                    "wskrs-conformance",
                    "--target",
                    "x86_64-pc-windows-msvc",
                    "--",
                    "-D",
                    "warnings",
                ],
            ),
        ),
        (
            "clippy (x86_64-pc-windows-gnu: client library, wskctl, bench and fuzz programs, WSK provider and its model, KMDF runtime)",
            cargo(
                layout,
                &[
                    "clippy",
                    "--quiet",
                    "-p",
                    "wskrs-client",
                    "-p",
                    "wskctl",
                    "-p",
                    "wskrs-bench",
                    "-p",
                    "wskrs-fuzz",
                    "-p",
                    "wskrs-provider",
                    "-p",
                    "wskrs-provider-model",
                    "-p",
                    "wskrs-kmdf-runtime",
                    "--target",
                    "x86_64-pc-windows-gnu",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ],
            ),
        ),
        (
            "cargo package (the published library crates, offline: what `cargo publish --dry-run` checks before the upload)",
            package(layout)?,
        ),
    ];
    let mut all_ok = true;
    for (name, cmd) in &mut steps {
        say(&format!("lint: {name}"));
        let ok = run_visible(cmd, name)?.success();
        report(name, ok);
        all_ok &= ok;
    }
    let ok = kmdf::clippy(layout)?;
    report("clippy (KMDF shell, x86_64-pc-windows-msvc)", ok);
    all_ok &= ok;
    let ok = wdk_names::check(layout)?;
    report("wsk-bindings in its WDK configuration (no name clash)", ok);
    all_ok &= ok;
    // The stand-alone example drivers (each its own workspace).
    all_ok &= crate::examples::lint(layout)?;
    Ok(all_ok)
}

/// The crates published to crates.io, in dependency order.
const PUBLISHED: &[&str] = &[
    "wskrs-ntstatus",
    "wsk-bindings",
    "wsk",
    "wskrs-protocol",
    "wskrs-kernel",
    "wskrs-client",
];

/// `cargo package` of [`PUBLISHED`]: each packaged and built from its package alone (the
/// later ones against the earlier ones' packages), offline, from the working tree.
///
/// Cargo verifies the later crates against a local registry of the earlier ones' packages,
/// and a registry crate of a version it has built is never rebuilt (registry sources are taken
/// to be immutable): after a change to `wskrs-protocol`, `wskrs-client` was verified against
/// the build of an earlier package in a checkout that had run this before (a clean clone did
/// not see it). So the verification builds in a target folder of its own, where the
/// published crates' fingerprints are deleted first (their dependencies stay built), and the
/// unpacked sources and packages of earlier runs go too.
fn package(layout: &Layout) -> Result<Command> {
    let verify = layout.target.join("package-verify");
    remove_dir(&verify.join("package"))?;
    if let Ok(entries) = std::fs::read_dir(verify.join("debug").join(".fingerprint")) {
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let name = file_name.to_string_lossy();
            // `<package>-<16 hex digits>`.
            let package = name.rsplit_once('-').map_or("", |(package, _)| package);
            if PUBLISHED.contains(&package) {
                remove_dir(&entry.path())?;
            }
        }
    }
    let cargo_home = std::env::var_os("CARGO_HOME").map_or_else(
        || std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cargo"),
        std::path::PathBuf::from,
    );
    if let Ok(registries) = std::fs::read_dir(cargo_home.join("registry").join("src")) {
        for registry in registries.flatten() {
            // Local registries have no host name: `-<hash>` (crates.io's is `index.crates.io-...`).
            if !registry.file_name().to_string_lossy().starts_with('-') {
                continue;
            }
            for name in PUBLISHED {
                let version = env!("CARGO_PKG_VERSION");
                remove_dir(&registry.path().join(format!("{name}-{version}")))?;
            }
        }
    }
    let verify = verify.to_string_lossy().into_owned();
    let mut args = vec![
        "package",
        "--quiet",
        "--offline",
        "--allow-dirty",
        "--target-dir",
        &verify,
    ];
    for name in PUBLISHED {
        args.extend(["-p", name]);
    }
    Ok(cargo(layout, &args))
}

/// Deletes `dir` and everything in it; a missing one is fine.
fn remove_dir(dir: &std::path::Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot delete {}", dir.display())),
    }
}

fn report(step: &str, ok: bool) {
    if ok {
        say(&format!("lint: {step}: ok"));
    } else {
        eprintln!("lint: {step}: FAILED (output above)");
    }
}
