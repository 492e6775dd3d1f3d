//! `cargo xtask build`: the driver, wskctl and the bcryptprimitives shim; host unit tests.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context, Result};

use crate::layout::Layout;
use crate::proc::run_visible;
use crate::util::{copy_atomic, fmt_duration, say};

/// What `build` produced.
#[derive(Debug, Clone)]
pub(crate) struct Built {
    pub(crate) driver_sys: PathBuf,
    /// The KMDF shell (`driver/kmdf`), built on Linux against the kit in `target/kmdf-build`.
    pub(crate) kmdf_sys: PathBuf,
    pub(crate) wskctl_exe: PathBuf,
    pub(crate) shim_dll: PathBuf,
    pub(crate) elapsed: Duration,
}

impl Built {
    pub(crate) fn print_summary(&self) {
        for path in [
            &self.driver_sys,
            &self.kmdf_sys,
            &self.wskctl_exe,
            &self.shim_dll,
        ] {
            let size = fs::metadata(path).map_or(0, |m| m.len());
            say(&format!(
                "  {} ({} KiB)",
                path.display(),
                size.div_ceil(1024)
            ));
        }
    }
}

impl Built {
    /// What an earlier [`build`] left, without building (a child xtask of the suite, whose
    /// parent built just before).
    pub(crate) fn existing(layout: &Layout) -> Result<Self> {
        let built = Self {
            driver_sys: layout.driver_sys(),
            kmdf_sys: crate::kmdf::kmdf_sys(layout),
            wskctl_exe: layout.wskctl_exe(),
            shim_dll: layout.shim_dll(),
            elapsed: Duration::ZERO,
        };
        for path in [
            &built.driver_sys,
            &built.kmdf_sys,
            &built.wskctl_exe,
            &built.shim_dll,
        ] {
            if !path.is_file() {
                bail!("{} is missing: run `cargo xtask build`", path.display());
            }
        }
        Ok(built)
    }
}

fn cargo(layout: &Layout) -> Command {
    // Inside `cargo xtask`, CARGO names the cargo that started us (same toolchain).
    let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(program);
    cmd.current_dir(&layout.root);
    cmd
}

pub(crate) fn build(layout: &Layout) -> Result<Built> {
    let started = Instant::now();

    say("build: driver (wskrs-wdm, x86_64-pc-windows-msvc, release)");
    let mut cmd = cargo(layout);
    cmd.args([
        "build",
        "--release",
        "-p",
        "wskrs-wdm",
        "--target",
        "x86_64-pc-windows-msvc",
    ]);
    check(
        run_visible(&mut cmd, "cargo build -p wskrs-wdm")?,
        "building the driver",
    )?;
    let dll = layout.driver_dll();
    if !dll.is_file() {
        bail!(
            "cargo built wskrs-wdm but {} is missing (is it a cdylib?)",
            dll.display()
        );
    }
    let sys = layout.driver_sys();
    copy_atomic(&dll, &sys)?;

    say("build: wskctl (x86_64-pc-windows-gnu, release)");
    let mut cmd = cargo(layout);
    cmd.args([
        "build",
        "--release",
        "-p",
        "wskctl",
        "--target",
        "x86_64-pc-windows-gnu",
    ]);
    check(
        run_visible(&mut cmd, "cargo build -p wskctl")?,
        "building wskctl",
    )?;
    let exe = layout.wskctl_exe();
    if !exe.is_file() {
        bail!("cargo built wskctl but {} is missing", exe.display());
    }

    let shim = build_shim(layout)?;
    let kmdf_sys = crate::kmdf::build(layout)?;

    let built = Built {
        driver_sys: sys,
        kmdf_sys,
        wskctl_exe: exe,
        shim_dll: shim,
        elapsed: started.elapsed(),
    };
    say(&format!("build: done in {}", fmt_duration(built.elapsed)));
    Ok(built)
}

/// `cargo build --release -p PACKAGE --target TARGET` at the workspace root; returns the
/// artifact cargo leaves as `target/TARGET/release/FILE`, after checking it is there.
pub(crate) fn cargo_build_release(
    layout: &Layout,
    package: &str,
    target: &str,
    file: &str,
) -> Result<PathBuf> {
    let mut cmd = cargo(layout);
    cmd.args(["build", "--release", "-p", package, "--target", target]);
    check(
        run_visible(&mut cmd, &format!("cargo build -p {package}"))?,
        &format!("building {package}"),
    )?;
    let artifact = layout.target.join(target).join("release").join(file);
    if !artifact.is_file() {
        bail!(
            "cargo built {package} but {} is missing",
            artifact.display()
        );
    }
    Ok(artifact)
}

/// `bcryptprimitives.dll` (`ProcessPrng`) for Wine 8.0, which lacks it; Rust std imports it.
/// Rebuilt only when the DLL is older than its two source files.
fn build_shim(layout: &Layout) -> Result<PathBuf> {
    let src_dir = layout.shim_source_dir();
    let c = src_dir.join("bcryptprimitives.c");
    let def = src_dir.join("bcryptprimitives.def");
    let dll = layout.shim_dll();
    let up_to_date = match (mtime(&dll), mtime(&c), mtime(&def)) {
        (Some(out), Some(a), Some(b)) => out > a && out > b,
        _ => false,
    };
    if up_to_date {
        say("build: shim bcryptprimitives.dll is up to date");
        return Ok(dll);
    }
    say("build: shim bcryptprimitives.dll (x86_64-w64-mingw32-gcc)");
    fs::create_dir_all(&layout.out)
        .with_context(|| format!("creating {}", layout.out.display()))?;
    let tmp = layout.out.join("bcryptprimitives.dll.tmp");
    let mut cmd = Command::new("x86_64-w64-mingw32-gcc");
    cmd.args(["-shared", "-O2", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&tmp)
        .arg(&c)
        .arg(&def)
        .arg("-lbcrypt");
    check(
        run_visible(&mut cmd, "x86_64-w64-mingw32-gcc")?,
        "building the bcryptprimitives shim",
    )?;
    fs::rename(&tmp, &dll).with_context(|| format!("renaming to {}", dll.display()))?;
    Ok(dll)
}

fn mtime(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn check(status: std::process::ExitStatus, what: &str) -> Result<()> {
    if status.success() {
        Ok(())
    } else {
        bail!("{what} failed ({status})")
    }
}

/// `cargo test` at the workspace root: the default members (everything that builds for the
/// Linux host; the WDM shell is excluded by `default-members`). Returns whether it passed.
pub(crate) fn host_unit_tests(layout: &Layout) -> Result<bool> {
    let mut cmd = cargo(layout);
    cmd.arg("test");
    let status = run_visible(&mut cmd, "cargo test")?;
    Ok(status.success())
}
