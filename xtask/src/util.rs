//! Small helpers: formatting, Wine paths, random data, hashing, ports, JSON.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// `12 ms`, `1.4 s`.
pub(crate) fn fmt_duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10_000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// Throughput in MB/s (10^6 bytes per second).
pub(crate) fn fmt_rate(bytes: u64, d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs <= 0.0 {
        return "n/a".to_owned();
    }
    #[allow(clippy::cast_precision_loss)] // display only
    let rate = bytes as f64 / secs / 1e6;
    format!("{rate:.1} MB/s")
}

/// `1 MiB`, `64 KiB`, `123 bytes`.
pub(crate) fn fmt_bytes(n: u64) -> String {
    if n >= 1 << 20 && n % (1 << 20) == 0 {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n % (1 << 10) == 0 {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}

/// The Windows view of a Unix path inside Wine: `/tmp/x` -> `Z:\tmp\x` (Wine maps `Z:` to `/`).
pub(crate) fn wine_path(path: &Path) -> Result<String> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .context("reading the current directory")?
            .join(path)
    };
    let s = abs
        .to_str()
        .with_context(|| format!("{} is not valid UTF-8", abs.display()))?;
    Ok(format!("Z:{}", s.replace('/', "\\")))
}

/// Writes `len` bytes from the kernel's random generator to `path`; returns their SHA-256.
pub(crate) fn write_random_file(path: &Path, len: usize) -> Result<String> {
    let data = random_bytes(len)?;
    fs::write(path, &data).with_context(|| format!("writing {}", path.display()))?;
    Ok(sha256_hex(&data))
}

pub(crate) fn random_bytes(len: usize) -> Result<Vec<u8>> {
    let mut data = vec![0u8; len];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut data))
        .context("reading /dev/urandom")?;
    Ok(data)
}

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    use std::fmt::Write as _;
    let digest = Sha256::digest(data);
    digest.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

pub(crate) fn sha256_file(path: &Path) -> Result<(u64, String)> {
    let data = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok((data.len() as u64, sha256_hex(&data)))
}

/// A TCP port on 127.0.0.1 that was free a moment ago (the OS picked it).
pub(crate) fn free_port() -> Result<u16> {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .context("binding 127.0.0.1:0 to find a free port")?;
    Ok(listener
        .local_addr()
        .context("reading the port the OS picked")?
        .port())
}

/// Parses the last JSON object or array printed on stdout (wskctl `--json` output).
pub(crate) fn parse_json_output(stdout: &str) -> Result<Value> {
    let line = stdout
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('{') || l.starts_with('['));
    match line {
        Some(line) => {
            serde_json::from_str(line).with_context(|| format!("parsing JSON from wskctl: {line}"))
        }
        None => {
            // Pretty-printed output spans several lines: try the whole text.
            serde_json::from_str(stdout.trim())
                .with_context(|| format!("no JSON in wskctl's output: {}", stdout.trim()))
        }
    }
}

/// `obj[key]` as u64, with a message naming the key when absent or not a number.
pub(crate) fn json_u64(v: &Value, key: &str) -> Result<u64> {
    match v.get(key) {
        Some(x) => x
            .as_u64()
            .with_context(|| format!("field `{key}` is not an unsigned integer in {v}")),
        None => bail!("field `{key}` missing in {v}"),
    }
}

pub(crate) fn json_str<'a>(v: &'a Value, key: &str) -> Result<&'a str> {
    match v.get(key) {
        Some(x) => x
            .as_str()
            .with_context(|| format!("field `{key}` is not a string in {v}")),
        None => bail!("field `{key}` missing in {v}"),
    }
}

/// Copies `from` to `to` through a temporary file and a rename, so a program that has the old
/// file mapped (a loaded driver) keeps its copy intact.
pub(crate) fn copy_atomic(from: &Path, to: &Path) -> Result<()> {
    let dir = to
        .parent()
        .with_context(|| format!("{} has no parent directory", to.display()))?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp: PathBuf = dir.join(format!(
        ".{}.tmp-{}",
        to.file_name()
            .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned()),
        std::process::id()
    ));
    fs::copy(from, &tmp)
        .with_context(|| format!("copying {} to {}", from.display(), tmp.display()))?;
    fs::rename(&tmp, to)
        .with_context(|| format!("renaming {} to {}", tmp.display(), to.display()))?;
    Ok(())
}

/// True when `a` is byte-for-byte the same file content as `b`.
pub(crate) fn same_content(a: &Path, b: &Path) -> bool {
    match (fs::read(a), fs::read(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Prints and flushes (progress lines must appear before a slow step starts). A line that
/// reports a failure is also kept for [`failure_lines`].
pub(crate) fn say(line: &str) {
    remember_failure(line);
    print_line(line);
}

/// Writes `line` to stdout at once (the output interleaves with child processes').
fn print_line(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Failure lines kept at most (the first ones: what follows a failure is often its echo).
const KEPT_FAILURES: usize = 60;

/// Prints `line`, a detail of a failure just reported (what a log says of it, a process
/// that ended), and keeps it for the summary whatever its words.
pub(crate) fn say_detail(line: &str) {
    keep_failure(line);
    print_line(line);
}

/// The failure lines [`say`] printed so far, oldest first.
static FAILURES: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Whether `line` reports a failure: a `FAIL`/`FAILED` verdict, or a program's
/// `{"event":"failed",...}` line quoted in the output.
fn is_failure_line(line: &str) -> bool {
    (line.contains("FAIL") && !line.contains("no FAIL")) || line.contains("\"event\":\"failed\"")
}

fn remember_failure(line: &str) {
    if is_failure_line(line) {
        keep_failure(line);
    }
}

fn keep_failure(line: &str) {
    if let Ok(mut kept) = FAILURES.lock() {
        if kept.len() < KEPT_FAILURES {
            kept.push(line.to_owned());
        }
    }
}

/// The failure lines printed so far (a long run's summary repeats them at its end, where a
/// log cut to its last lines still shows them).
pub(crate) fn failure_lines() -> Vec<String> {
    FAILURES.lock().map(|kept| kept.clone()).unwrap_or_default()
}

/// Pins this process and every thread and child it will have to CPU 0 (timings on these
/// 2-vCPU machines are bimodal unless every process is pinned); `what` names the run and
/// what it starts, for the line that says so.
pub(crate) fn pin_to_cpu0(what: &str) -> Result<()> {
    let pid = std::process::id().to_string();
    let status = std::process::Command::new("taskset")
        .args(["-a", "-cp", "0", &pid])
        .stdout(std::process::Stdio::null())
        .status()
        .context("running taskset (util-linux)")?;
    if !status.success() {
        bail!("taskset -a -cp 0 {pid} failed: {status}");
    }
    say(&format!("{what}: pinned to CPU 0 (taskset)"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_lines_are_kept_for_the_summary_and_others_are_not() {
        assert!(is_failure_line(
            "fuzz [wdm, wskrs]: FAIL: no worker process was killed"
        ));
        assert!(is_failure_line("FAIL e2e-name: reason"));
        assert!(is_failure_line(
            "  {\"event\":\"failed\",\"seed\":7,\"worker\":1,\"reason\":\"stuck\"}"
        ));
        assert!(!is_failure_line(
            "fuzz [wdm, wskrs]: the driver unloaded in 94 ms"
        ));
        assert!(!is_failure_line(
            "conformance: ok (no FAIL under the wsk-rs provider; Wine's results are informational)"
        ));
        // (Through what `say` calls, so that the test's lines stay out of the log.)
        let marker = "util test: FAIL marker 5b1e";
        remember_failure(marker);
        remember_failure("util test: an ordinary line 5b1e");
        let kept = failure_lines();
        assert!(kept.iter().any(|l| l == marker));
        assert!(!kept.iter().any(|l| l.contains("ordinary line 5b1e")));
    }

    #[test]
    fn wine_paths_map_to_drive_z() {
        assert_eq!(
            wine_path(Path::new("/tmp/x/data.bin")).ok().as_deref(),
            Some("Z:\\tmp\\x\\data.bin")
        );
    }

    #[test]
    fn byte_sizes_are_readable() {
        assert_eq!(fmt_bytes(1 << 20), "1 MiB");
        assert_eq!(fmt_bytes(64 << 10), "64 KiB");
        assert_eq!(fmt_bytes(1000), "1000 bytes");
    }

    #[test]
    fn rates_are_in_megabytes_per_second() {
        assert_eq!(fmt_rate(2_000_000, Duration::from_secs(1)), "2.0 MB/s");
        assert_eq!(fmt_rate(1, Duration::ZERO), "n/a");
    }

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn json_is_taken_from_the_last_json_line() {
        let v = parse_json_output("note: something\n{\"id\":3}\n").ok();
        assert_eq!(v.and_then(|v| v.get("id").and_then(Value::as_u64)), Some(3));
        assert!(parse_json_output("no json here").is_err());
    }
}
