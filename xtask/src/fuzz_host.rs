//! `cargo xtask fuzz-host`: coverage-guided fuzzing of the parsers on the Linux host
//! (tests/host-fuzz), with libFuzzer on stable Rust.
//!
//! This module owns the command's options, the coverage build and the per-target report
//! lines (`fuzz-host: TARGET: ...`). The build sets rustc's SanitizerCoverage flags (stable
//! `-C` options: inline 8-bit counters, PC table, comparison tracing) in `RUSTFLAGS` with an
//! explicit `--target`, so build scripts and proc macros stay uninstrumented, in its own
//! target directory (`target/host-fuzz`) so that the normal build is not invalidated. The
//! libFuzzer runtime comes from the `libfuzzer-sys` crate (its C++ sources, built with the
//! host C++ compiler): no nightly toolchain and no `cargo install`.
//!
//! Each target runs over a working corpus (`target/host-fuzz/corpus/<target>`, where
//! libFuzzer adds what it finds) and the committed seeds (`tests/host-fuzz/corpus/<target>`,
//! read only); a crash is saved under `target/host-fuzz/artifacts/<target>/` and fails the
//! run. Its output goes to `target/wine/logs/host-fuzz.log` (the logs folder of the run).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::layout::Layout;
use crate::proc::{run_captured, run_visible, Capture};
use crate::util::say;

/// The host triple the fuzz binaries are built for (explicit, so that `RUSTFLAGS` reach
/// only the target's crates).
const HOST: &str = "x86_64-unknown-linux-gnu";

/// SanitizerCoverage as cargo-fuzz configures it, minus what needs nightly (`-Z` sanitizers).
const COVERAGE_FLAGS: &str = "-Cpasses=sancov-module \
     -Cllvm-args=-sanitizer-coverage-level=4 \
     -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
     -Cllvm-args=-sanitizer-coverage-pc-table \
     -Cllvm-args=-sanitizer-coverage-trace-compares \
     -Cdebug-assertions -Coverflow-checks";

/// Seconds per target of the short run in `cargo xtask test` (8 targets: 40 s of fuzzing).
pub(crate) const SHORT_SECONDS: u64 = 5;

/// A hang: libFuzzer reports an input that runs longer than this (seconds) as a timeout.
const INPUT_TIMEOUT_SECONDS: u64 = 20;

/// What `cargo xtask fuzz-host` was asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Options {
    /// Seconds of fuzzing per target.
    pub(crate) seconds: u64,
    /// The targets to run (empty: every target).
    pub(crate) targets: Vec<String>,
}

impl Options {
    /// `[--seconds N] [--target NAME]...` (NAME may be a comma-separated list); by default
    /// 60 seconds for every target.
    pub(crate) fn parse(args: &[String]) -> Result<Self> {
        let mut options = Self {
            seconds: 60,
            targets: Vec::new(),
        };
        let mut rest = args.iter();
        while let Some(flag) = rest.next() {
            let value = rest
                .next()
                .with_context(|| format!("`{flag}` needs a value"))?;
            match flag.as_str() {
                "--seconds" => {
                    options.seconds = value
                        .parse()
                        .with_context(|| format!("`--seconds {value}`: not a number"))?;
                }
                "--target" => options.targets.extend(value.split(',').map(str::to_owned)),
                other => {
                    bail!("unknown fuzz-host option `{other}`; use --seconds N, --target NAME")
                }
            }
        }
        if options.seconds == 0 {
            bail!("`--seconds` must be at least 1");
        }
        Ok(options)
    }
}

/// One target's figures, from libFuzzer's final statistics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Figures {
    /// Inputs executed.
    executions: u64,
    /// Executions per second.
    per_second: u64,
    /// Coverage points (edges) reached, from the last status line.
    coverage: u64,
    /// Features (edges with hit counts, comparisons) reached.
    features: u64,
    /// Inputs in the working corpus at the end.
    corpus: u64,
    /// Inputs libFuzzer added in this run.
    new_units: u64,
    /// Peak resident memory (MB).
    peak_rss_mb: u64,
}

impl Figures {
    /// Reads libFuzzer's output: the `stat::` lines (`-print_final_stats=1`) and the last
    /// status line (`#N ... cov: C ft: F corp: K/...`).
    fn parse(output: &str) -> Self {
        let mut figures = Self::default();
        for line in output.lines() {
            if let Some(stat) = line.strip_prefix("stat::") {
                let (name, value) = stat.split_once(':').unwrap_or((stat, ""));
                let value = value.trim().parse().unwrap_or(0);
                match name {
                    "number_of_executed_units" => figures.executions = value,
                    "average_exec_per_sec" => figures.per_second = value,
                    "new_units_added" => figures.new_units = value,
                    "peak_rss_mb" => figures.peak_rss_mb = value,
                    _ => {}
                }
            } else if line.starts_with('#') {
                let mut words = line.split_whitespace();
                while let Some(word) = words.next() {
                    let number = || -> u64 {
                        words
                            .clone()
                            .next()
                            .and_then(|w| w.split('/').next())
                            .and_then(|w| w.parse().ok())
                            .unwrap_or(0)
                    };
                    match word {
                        "cov:" => figures.coverage = number(),
                        "ft:" => figures.features = number(),
                        "corp:" => figures.corpus = number(),
                        _ => {}
                    }
                }
            }
        }
        figures
    }
}

/// The targets: one folder each under `tests/host-fuzz/corpus` (the crate's tests check
/// that every target of `wskrs_host_fuzz::TARGETS` has its seeds there), in name order.
fn all_targets(layout: &Layout) -> Result<Vec<String>> {
    let dir = seeds_dir(layout);
    let mut names: Vec<String> = fs::read_dir(&dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(Result::ok)
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    if names.is_empty() {
        bail!("no fuzz target under {}", dir.display());
    }
    Ok(names)
}

fn seeds_dir(layout: &Layout) -> PathBuf {
    layout.root.join("tests").join("host-fuzz").join("corpus")
}

fn work_dir(layout: &Layout) -> PathBuf {
    layout.target.join("host-fuzz")
}

/// Builds every fuzz binary with coverage; returns the folder holding them.
fn build(layout: &Layout) -> Result<PathBuf> {
    let target_dir = work_dir(layout).join("build");
    say("fuzz-host: building the fuzz targets with SanitizerCoverage (stable rustc, libFuzzer from libfuzzer-sys)");
    let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(program);
    cmd.current_dir(&layout.root)
        .args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "wskrs-host-fuzz",
            "--bins",
        ])
        .args(["--target", HOST])
        .arg("--target-dir")
        .arg(&target_dir)
        .env("RUSTFLAGS", COVERAGE_FLAGS)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        // The workspace's release profile is LTO with one codegen unit: slow to build, and
        // the fuzzer gains nothing from it. Line tables keep crash backtraces readable.
        .env("CARGO_PROFILE_RELEASE_LTO", "false")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "line-tables-only");
    if !run_visible(&mut cmd, "cargo build (host fuzz targets)")?.success() {
        bail!("building the host fuzz targets failed (cargo's output above)");
    }
    Ok(target_dir.join(HOST).join("release"))
}

/// Runs one target for `seconds`; prints its line; true if it found no crash.
fn run_target(layout: &Layout, bins: &Path, name: &str, seconds: u64) -> Result<bool> {
    let work = work_dir(layout);
    let corpus = work.join("corpus").join(name);
    let artifacts = work.join("artifacts").join(name);
    for dir in [&corpus, &artifacts] {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let crashes_before = count_files(&artifacts);
    let mut prefix = artifacts.clone().into_os_string();
    prefix.push("/");
    let mut cmd = Command::new(bins.join(name));
    cmd.arg(&corpus)
        .arg(seeds_dir(layout).join(name))
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-timeout={INPUT_TIMEOUT_SECONDS}"))
        .arg("-print_final_stats=1")
        .arg("-rss_limit_mb=2048")
        .arg({
            let mut flag = std::ffi::OsString::from("-artifact_prefix=");
            flag.push(&prefix);
            flag
        })
        .env("RUST_BACKTRACE", "1");
    let capture = Capture {
        scratch: &work,
        log: &layout.logs.join("host-fuzz.log"),
    };
    // libFuzzer stops itself after `seconds`; the deadline only catches a stuck process.
    let deadline = Duration::from_secs(seconds.saturating_mul(2).saturating_add(120));
    let outcome = run_captured(
        &mut cmd,
        &format!("host fuzz target {name}"),
        deadline,
        &capture,
    )?;
    let figures = Figures::parse(&outcome.stderr);
    let crashes = count_files(&artifacts).saturating_sub(crashes_before);
    let ok = outcome.success() && crashes == 0;
    say(&format!(
        "fuzz-host: {name}: {} executions ({}/s), coverage {} edges, {} features, corpus {} \
         inputs ({} new), peak RSS {} MB, crashes {crashes}{}",
        figures.executions,
        figures.per_second,
        figures.coverage,
        figures.features,
        figures.corpus,
        figures.new_units,
        figures.peak_rss_mb,
        if ok {
            String::new()
        } else {
            format!(
                ": FAILED (exit {:?}; input saved under {}; log {})",
                outcome.code(),
                artifacts.display(),
                capture.log.display()
            )
        }
    ));
    if !ok {
        // The panic message and the reproducer line.
        for line in outcome.stderr.lines().filter(|line| {
            line.contains("panicked at")
                || line.contains("Test unit written to")
                || line.starts_with("SUMMARY")
        }) {
            say(&format!("fuzz-host: {name}:   {line}"));
        }
    }
    Ok(ok)
}

fn count_files(dir: &Path) -> usize {
    fs::read_dir(dir).map_or(0, Iterator::count)
}

/// `cargo xtask fuzz-host`: builds the targets and runs each for `options.seconds`.
pub(crate) fn run(layout: &Layout, options: &Options) -> Result<ExitCode> {
    let all = all_targets(layout)?;
    let targets = if options.targets.is_empty() {
        all
    } else {
        for name in &options.targets {
            if !all.contains(name) {
                bail!(
                    "unknown fuzz target `{name}`; the targets: {}",
                    all.join(", ")
                );
            }
        }
        options.targets.clone()
    };
    let bins = build(layout)?;
    let mut failed = Vec::new();
    for name in &targets {
        if !run_target(layout, &bins, name, options.seconds)? {
            failed.push(name.clone());
        }
    }
    if failed.is_empty() {
        say(&format!(
            "fuzz-host: ok ({} targets, {} s each, no crash)",
            targets.len(),
            options.seconds
        ));
        Ok(ExitCode::SUCCESS)
    } else {
        say(&format!("fuzz-host: FAILED: {}", failed.join(", ")));
        Ok(ExitCode::FAILURE)
    }
}

/// The short run of `cargo xtask test`: every target for [`SHORT_SECONDS`]. True if it ran
/// and found nothing.
pub(crate) fn short_run(layout: &Layout) -> bool {
    println!("== host fuzzing (short): cargo xtask fuzz-host --seconds {SHORT_SECONDS}");
    let options = Options {
        seconds: SHORT_SECONDS,
        targets: Vec::new(),
    };
    match run(layout, &options) {
        Ok(code) => code == ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: the host fuzz run could not run: {err:#}");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Figures, Options};

    #[test]
    fn options_parse() {
        let args = [
            "--seconds",
            "300",
            "--target",
            "sid,cmsg",
            "--target",
            "driver",
        ];
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        let options = Options::parse(&args).unwrap();
        assert_eq!(options.seconds, 300);
        assert_eq!(options.targets, ["sid", "cmsg", "driver"]);
        assert_eq!(Options::parse(&[]).unwrap().seconds, 60);
        assert!(Options::parse(&["--seconds".to_owned()]).is_err());
        assert!(Options::parse(&["--seconds".to_owned(), "0".to_owned()]).is_err());
        assert!(Options::parse(&["--runs".to_owned(), "1".to_owned()]).is_err());
    }

    #[test]
    fn figures_come_from_the_final_stats_and_the_last_status_line() {
        let output = "\
INFO: Seed: 1
#2\tINITED cov: 10 ft: 12 corp: 1/1b exec/s: 0 rss: 30Mb
#4096\tpulse  cov: 1200 ft: 3400 corp: 150/9Kb lim: 40 exec/s: 2048 rss: 40Mb
#50000\tDONE   cov: 1234 ft: 3456 corp: 160/10Kb lim: 48 exec/s: 10000 rss: 41Mb
Done 50000 runs in 5 second(s)
stat::number_of_executed_units: 50000
stat::average_exec_per_sec:     10000
stat::new_units_added:          20
stat::slowest_unit_time_sec:    0
stat::peak_rss_mb:              41
";
        assert_eq!(
            Figures::parse(output),
            Figures {
                executions: 50_000,
                per_second: 10_000,
                coverage: 1234,
                features: 3456,
                corpus: 160,
                new_units: 20,
                peak_rss_mb: 41,
            }
        );
    }
}
