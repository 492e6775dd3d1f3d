//! Which driver shell runs under Wine: the WDM shell (`driver/wdm`, the default) or the KMDF
//! shell (`driver/kmdf`) over the project's KMDF runtime (`tests/kmdf-runtime`), chosen with
//! `--shell wdm|kmdf` on `up`, `e2e`, `test` and `demo`, or with `WSKRS_SHELL=wdm|kmdf`.
//! `cargo xtask test` without a choice runs the end-to-end suite with both.
//!
//! Loading mechanism: both builds are installed as `C:\windows\system32\drivers\wskrs.sys`
//! (service `WskRs`); the KMDF one imports `WDFLDR.SYS`, which no Wine has: for `kmdf` this
//! module builds the runtime (`cargo build -p wskrs-kmdf-runtime --target
//! x86_64-pc-windows-gnu --release`, output `wdfldr.dll`) and copies it to
//! `system32\drivers\wdfldr.sys`, where Wine's loader finds a driver's imports (there is no
//! built-in module of that name to override).

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU8;

use anyhow::{bail, Context, Result};

use crate::choice::Choice;

use crate::artifacts::Built;
use crate::layout::Layout;
use crate::util::{copy_atomic, same_content, say};

/// A driver shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shell {
    /// `driver/wdm`: WDM dispatch routines (`target/wskrs/wskrs.sys`).
    Wdm,
    /// `driver/kmdf`: the production KMDF driver (`target/wskrs/kmdf/wskrs.sys`) over the
    /// project's KMDF runtime for Wine.
    Kmdf,
}

/// Set by `--shell` or [`Choice::select`] (see [`Choice::slot`]).
static CHOSEN: AtomicU8 = AtomicU8::new(0);

impl Choice for Shell {
    const ALL: &'static [Self] = &[Self::Wdm, Self::Kmdf];
    const WHAT: &'static str = "driver shell";
    const FLAG: &'static str = "--shell";
    const ENV: &'static str = "WSKRS_SHELL";

    fn name(self) -> &'static str {
        match self {
            Self::Wdm => "wdm",
            Self::Kmdf => "kmdf",
        }
    }

    fn slot() -> &'static AtomicU8 {
        &CHOSEN
    }
}

impl Shell {
    /// What it is, for reports.
    pub(crate) const fn describe(self) -> &'static str {
        match self {
            Self::Wdm => "the WDM shell, driver/wdm",
            Self::Kmdf => "the KMDF shell, driver/kmdf, over the KMDF runtime tests/kmdf-runtime",
        }
    }

    /// The image whose PDB names this shell's addresses (a hung driver host's stacks).
    pub(crate) fn symbol_image(self, layout: &Layout) -> PathBuf {
        match self {
            Self::Wdm => layout.driver_dll(),
            Self::Kmdf => crate::kmdf::kmdf_sys(layout),
        }
    }

    /// The build of this shell.
    pub(crate) fn sys(self, built: &Built) -> &Path {
        match self {
            Self::Wdm => &built.driver_sys,
            Self::Kmdf => &built.kmdf_sys,
        }
    }
}

fn build_runtime(layout: &Layout) -> Result<PathBuf> {
    say("shell: building the KMDF runtime for Wine (wskrs-kmdf-runtime, x86_64-pc-windows-gnu, release)");
    crate::artifacts::cargo_build_release(
        layout,
        "wskrs-kmdf-runtime",
        "x86_64-pc-windows-gnu",
        "wdfldr.dll",
    )
}

/// For the KMDF shell, builds the runtime and installs it as `drivers\wdfldr.sys` (the shell's
/// own build is installed as `wskrs.sys` by [`crate::wine::Wine::install_files`]). Call
/// before the driver is loaded.
pub(crate) fn apply(layout: &Layout) -> Result<()> {
    let shell = Shell::chosen()?;
    if shell == Shell::Kmdf {
        // One session's lines per log (the file is created by the runtime when it logs).
        let _ = std::fs::remove_file(runtime_log(layout));
        let dll = build_runtime(layout)?;
        let wdfldr = layout.drivers_dir().join("wdfldr.sys");
        if !same_content(&dll, &wdfldr) {
            copy_atomic(&dll, &wdfldr)?;
        }
    }
    say(&format!("shell: {} ({})", shell.name(), shell.describe()));
    Ok(())
}

/// `kmdf-runtime-selftest.exe` (built with the runtime): the runtime's own checks under Wine,
/// with real IRPs and without the shell (tests/kmdf-runtime/README.md). Run in each KMDF
/// session before the driver is loaded; it leaves the runtime's log empty behind it.
pub(crate) fn selftest(wine: &crate::wine::Wine, layout: &Layout) -> Result<()> {
    let exe = layout
        .target
        .join("x86_64-pc-windows-gnu")
        .join("release")
        .join("kmdf-runtime-selftest.exe");
    let exe = exe
        .to_str()
        .context("the self-test's path is not UTF-8")?
        .to_owned();
    let out = wine.run_program(&exe, &[], std::time::Duration::from_secs(120))?;
    let _ = std::fs::remove_file(runtime_log(layout));
    let failures: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("FAIL"))
        .collect();
    let checks = out.stdout.lines().filter(|l| l.starts_with("ok ")).count();
    if !out.success()
        || !failures.is_empty()
        || !out.stdout.contains("kmdf-runtime-selftest: 0 failed")
    {
        bail!(
            "kmdf-runtime-selftest.exe: {} ({} ok): {}",
            out.status,
            checks,
            if failures.is_empty() {
                out.combined()
            } else {
                failures.join(" | ")
            }
        );
    }
    say(&format!(
        "shell: kmdf-runtime-selftest.exe: {checks} checks ok"
    ));
    Ok(())
}

/// The KMDF runtime's log: `C:\windows\temp\wskrs-kmdf-runtime.log` in the prefix (every
/// line it prints, bind, device creation, unload, and the name and index of any DDI it lacks).
pub(crate) fn runtime_log(layout: &Layout) -> PathBuf {
    layout
        .prefix
        .join("drive_c")
        .join("windows")
        .join("temp")
        .join("wskrs-kmdf-runtime.log")
}

/// Cases of the end-to-end suite that only one shell can pass, with the reason: the run of
/// the other shell lists them as skipped (never as passed). None today: every case passes
/// against both shells (the KMDF shell over the runtime, with each provider).
const ONLY_ONE_SHELL_PASSES: &[(&str, Shell, &str)] = &[];

/// Why `shell` cannot pass `case`, if it cannot.
pub(crate) fn only_one_shell_passes(shell: Shell, case: &str) -> Option<&'static str> {
    ONLY_ONE_SHELL_PASSES
        .iter()
        .find(|(name, passes_with, _)| *name == case && *passes_with != shell)
        .map(|(_, _, reason)| *reason)
}

/// After a KMDF run's driver was unloaded: the runtime's log must show no violation, each
/// unload with EvtDriverUnload before the control device was deleted, and no request left
/// uncompleted. Nothing to check for the WDM shell.
pub(crate) fn check_after_unload(shell: Shell, layout: &Layout) -> Result<()> {
    if shell != Shell::Kmdf {
        return Ok(());
    }
    let path = runtime_log(layout);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the KMDF runtime's log {}", path.display()))?;
    let problems = runtime_log_problems(&text);
    if !problems.is_empty() {
        bail!(
            "the KMDF runtime's log ({}) shows: {}",
            path.display(),
            problems.join("; ")
        );
    }
    Ok(())
}

/// What is wrong in a runtime log (see [`check_after_unload`]).
fn runtime_log_problems(text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for line in text.lines().filter(|l| l.contains("VIOLATION")) {
        problems.push(line.to_owned());
    }
    let mut unloads = 0;
    let mut pending_unload = false;
    for line in text.lines() {
        if line.contains(": EvtDriverUnload") {
            pending_unload = true;
        } else if line.contains("deleted control device") {
            if !pending_unload {
                problems.push("the control device was deleted before EvtDriverUnload ran".into());
            }
            pending_unload = false;
            unloads += 1;
        } else if line.contains("requests:") && !line.contains(", 0 not completed") {
            problems.push(format!("requests left at unload: {line}"));
        }
    }
    if unloads == 0 {
        problems
            .push("no unload (EvtDriverUnload, then the control device deleted) was logged".into());
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clean_log_passes_and_each_problem_is_named() {
        let clean = "wdfldr: WdfVersionBind: bound WskRs\n\
                     wdfldr: unload: WskRs: EvtDriverUnload\n\
                     wdfldr: unload: requests: 5 presented, 5 completed, 0 not completed; x\n\
                     wdfldr: unload: deleted control device \\Device\\WskRs and its symbolic link\n";
        assert!(runtime_log_problems(clean).is_empty());
        assert_eq!(
            runtime_log_problems("wdfldr: WdfVersionBind: bound WskRs\n").len(),
            1
        );
        let leak = clean.replace(", 0 not completed", ", 1 not completed");
        assert_eq!(runtime_log_problems(&leak).len(), 1);
        let early = "wdfldr: unload: deleted control device x\n";
        assert_eq!(runtime_log_problems(early).len(), 1);
        let violation = format!("{clean}wdfldr: VIOLATION: the driver called WdfFoo\n");
        assert_eq!(runtime_log_problems(&violation).len(), 1);
    }

    #[test]
    fn shell_only_cases_name_real_cases() {
        let names = crate::e2e::case_names();
        for (name, _, _) in ONLY_ONE_SHELL_PASSES {
            assert!(names.contains(name), "{name}");
        }
    }
}
