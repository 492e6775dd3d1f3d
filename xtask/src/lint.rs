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

use anyhow::Result;

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
            package(layout),
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
fn package(layout: &Layout) -> Command {
    let mut args = vec!["package", "--quiet", "--offline", "--allow-dirty"];
    for name in PUBLISHED {
        args.extend(["-p", name]);
    }
    cargo(layout, &args)
}

fn report(step: &str, ok: bool) {
    if ok {
        say(&format!("lint: {step}: ok"));
    } else {
        eprintln!("lint: {step}: FAILED (output above)");
    }
}
