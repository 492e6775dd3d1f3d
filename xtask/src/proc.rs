//! Child processes with deadlines, and the clean-up that runs on every exit path.
//!
//! Every child the harness waits for is waited for with a timeout: a hung `wine` is killed and
//! reported, never waited on forever. Children and the Wine session in use are registered
//! here so that Ctrl-C, SIGTERM, SIGHUP and panics still kill the peers, stop Wine
//! (`wineserver -k`) and remove scratch files.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// What must be undone if the xtask is interrupted.
struct Registry {
    /// Process ids of running children (peers, wine, ...).
    children: Vec<u32>,
    /// A Wine prefix whose server must be stopped (`wineserver -k`) on interruption, with
    /// the environment to reach it.
    wine: Option<Vec<(String, String)>>,
    /// A second prefix's, while two sessions run at once (the bench's paired sessions).
    wine_beside: Option<Vec<(String, String)>>,
    /// Directories to delete.
    scratch: Vec<PathBuf>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    children: Vec::new(),
    wine: None,
    wine_beside: None,
    scratch: Vec::new(),
});
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// True once Ctrl-C / SIGTERM arrived (the handler is cleaning up and will exit).
pub(crate) fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

pub(crate) fn install_signal_handler() -> Result<()> {
    ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            eprintln!("\nxtask: interrupted again, exiting without finishing clean-up");
            std::process::exit(130);
        }
        eprintln!("\nxtask: interrupted; killing peers and stopping Wine (Ctrl-C again to skip)");
        emergency_cleanup();
        std::process::exit(130);
    })
    .context("installing the Ctrl-C/SIGTERM handler")?;

    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        // Release builds and `panic = "abort"` profiles skip destructors: clean up here.
        emergency_cleanup();
    }));
    Ok(())
}

/// Kills registered children, stops the registered Wine session, removes scratch directories.
/// Safe to call more than once.
pub(crate) fn emergency_cleanup() {
    let (children, wine, scratch) = {
        let mut reg = registry();
        let wine: Vec<_> = [reg.wine.take(), reg.wine_beside.take()]
            .into_iter()
            .flatten()
            .collect();
        (
            std::mem::take(&mut reg.children),
            wine,
            std::mem::take(&mut reg.scratch),
        )
    };
    for pid in children {
        // The child may be gone already; nothing to report then.
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    for env in wine {
        for arg in ["-k", "-w"] {
            let mut cmd = Command::new("wineserver");
            cmd.arg(arg).envs(env.iter().map(|(k, v)| (k, v)));
            if let Err(err) = wait_quietly(&mut cmd, Duration::from_secs(15)) {
                eprintln!("xtask: wineserver {arg}: {err:#}");
            }
        }
    }
    for dir in scratch {
        let _ = fs::remove_dir_all(dir);
    }
}

fn wait_quietly(cmd: &mut Command, timeout: Duration) -> Result<()> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("spawning")?;
    let deadline = Instant::now() + timeout;
    loop {
        if child.try_wait().context("waiting")?.is_some() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("did not finish within {} s; killed", timeout.as_secs());
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Called after every wait on a child: once a signal arrived, the handler thread owns the
/// process (it cleans up, then exits 130), so the main thread must not report the killed
/// child as a failure or carry on with the next step. It parks here until the exit.
pub(crate) fn park_if_interrupted() {
    while interrupted() {
        thread::sleep(Duration::from_millis(100));
    }
}

pub(crate) fn register_child(pid: u32) {
    registry().children.push(pid);
}

pub(crate) fn unregister_child(pid: u32) {
    registry().children.retain(|p| *p != pid);
}

/// Marks a Wine prefix as "stop its server if interrupted". `None` clears it (used when `up`
/// hands the running server over to the user).
pub(crate) fn register_wine(env: Option<Vec<(String, String)>>) {
    registry().wine = env;
}

/// Marks a second Wine prefix as "stop its server if interrupted", beside the one
/// [`register_wine`] keeps (`None` clears it).
pub(crate) fn register_wine_beside(env: Option<Vec<(String, String)>>) {
    registry().wine_beside = env;
}

/// Replaces the registered Wine session; returns the previous one.
pub(crate) fn swap_wine(env: Option<Vec<(String, String)>>) -> Option<Vec<(String, String)>> {
    std::mem::replace(&mut registry().wine, env)
}

pub(crate) fn register_scratch(dir: &Path) {
    registry().scratch.push(dir.to_path_buf());
}

pub(crate) fn unregister_scratch(dir: &Path) {
    registry().scratch.retain(|d| d != dir);
}

/// The result of a finished command.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) elapsed: Duration,
}

impl Outcome {
    pub(crate) fn success(&self) -> bool {
        self.status.success()
    }

    pub(crate) fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// stdout and stderr together, for error messages and substring checks.
    pub(crate) fn combined(&self) -> String {
        let mut s = self.stdout.trim_end().to_owned();
        if !self.stderr.trim().is_empty() {
            if !s.is_empty() {
                s.push('\n');
            }
            s.push_str(self.stderr.trim_end());
        }
        s
    }
}

/// Where a captured command's output goes besides the [`Outcome`].
pub(crate) struct Capture<'a> {
    /// Directory for the temporary stdout file.
    pub(crate) scratch: &'a Path,
    /// Transcript: a header, stdout and stderr of the command are appended to it. stderr is
    /// appended while the command runs (Wine's system processes started by the command
    /// inherit it and keep writing there, e.g. with `WINEDEBUG=+...`).
    pub(crate) log: &'a Path,
}

/// Runs `cmd` with stdin closed, waits at most `timeout`, returns its output. On timeout the
/// child is killed and an error names `what`.
pub(crate) fn run_captured(
    cmd: &mut Command,
    what: &str,
    timeout: Duration,
    capture: &Capture<'_>,
) -> Result<Outcome> {
    fs::create_dir_all(capture.scratch)
        .with_context(|| format!("creating {}", capture.scratch.display()))?;
    if let Some(parent) = capture.log.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let seq = SEQUENCE.fetch_add(1, Ordering::SeqCst);
    let out_path = capture.scratch.join(format!("stdout-{seq}.txt"));
    let stdout_file =
        File::create(&out_path).with_context(|| format!("creating {}", out_path.display()))?;
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(capture.log)
        .with_context(|| format!("opening {}", capture.log.display()))?;
    writeln!(log, "\n== {what}").context("writing the log")?;
    let err_start = log.seek(SeekFrom::End(0)).context("seeking in the log")?;
    let stderr_file = log.try_clone().context("duplicating the log handle")?;

    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(stdout_file))
        .stderr(Stdio::from(stderr_file));
    let started = Instant::now();
    let mut child = cmd.spawn().with_context(|| format!("starting {what}"))?;
    let status = wait_with_deadline(&mut child, what, timeout);
    let elapsed = started.elapsed();

    let stdout = read_lossy(&out_path)?;
    let _ = fs::remove_file(&out_path);
    let stderr = read_from(capture.log, err_start)?;
    let status = status?;
    if !stdout.is_empty() {
        write!(log, "-- stdout\n{stdout}").context("writing the log")?;
    }
    writeln!(log, "-- {what}: {status} after {} ms", elapsed.as_millis())
        .context("writing the log")?;
    Ok(Outcome {
        status,
        stdout,
        stderr,
        elapsed,
    })
}

/// Runs `cmd` with inherited stdout/stderr (the user sees it live) and no deadline; for cargo
/// and apt-get, whose duration depends on the network and the machine.
pub(crate) fn run_visible(cmd: &mut Command, what: &str) -> Result<ExitStatus> {
    let mut child = cmd
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {what} (is it installed?)"))?;
    register_child(child.id());
    let status = child.wait().with_context(|| format!("waiting for {what}"));
    unregister_child(child.id());
    park_if_interrupted();
    status
}

/// Waits for a spawned child, killing it after `timeout`. Registers it for clean-up meanwhile.
pub(crate) fn wait_with_deadline(
    child: &mut Child,
    what: &str,
    timeout: Duration,
) -> Result<ExitStatus> {
    let pid = child.id();
    register_child(pid);
    let result = (|| {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child
                .try_wait()
                .with_context(|| format!("waiting for {what}"))?
            {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "{what} did not finish within {} s; killed it",
                    timeout.as_secs_f64()
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    })();
    unregister_child(pid);
    park_if_interrupted();
    result
}

fn read_lossy(path: &Path) -> Result<String> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn read_from(path: &Path, offset: u64) -> Result<String> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let len = file
        .metadata()
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if len < offset {
        // Something emptied the log while the command ran (another session of this prefix
        // starts with a fresh log): what the command wrote to stderr is gone. Say so rather
        // than return nothing, which would read as a command that printed nothing.
        return Ok(format!(
            "(this command's stderr is lost: {} was truncated while it ran, by another \
             session on the same Wine prefix?)",
            path.display()
        ));
    }
    file.seek(SeekFrom::Start(offset))
        .with_context(|| format!("seeking in {}", path.display()))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture_dirs(name: &str) -> (PathBuf, PathBuf) {
        let base = std::env::temp_dir().join(format!("xtask-proc-{name}-{}", std::process::id()));
        (base.join("scratch"), base.join("log.txt"))
    }

    #[test]
    fn a_hung_child_is_killed_at_its_deadline() {
        let (scratch, log) = capture_dirs("hung");
        let capture = Capture {
            scratch: &scratch,
            log: &log,
        };
        let started = Instant::now();
        let result = run_captured(
            Command::new("sleep").arg("30"),
            "sleep 30",
            Duration::from_millis(300),
            &capture,
        );
        let message = result.err().map(|e| format!("{e:#}")).unwrap_or_default();
        assert!(message.contains("did not finish"), "{message}");
        assert!(started.elapsed() < Duration::from_secs(10));
        let _ = fs::remove_dir_all(scratch.parent().unwrap_or(&scratch));
    }

    #[test]
    fn a_log_truncated_while_the_command_runs_is_reported() {
        let (scratch, log) = capture_dirs("truncated");
        let capture = Capture {
            scratch: &scratch,
            log: &log,
        };
        fs::create_dir_all(log.parent().unwrap_or(&scratch)).ok();
        fs::write(&log, "an earlier session's lines\n".repeat(50)).ok();
        let script = format!("echo lost >&2; : > '{}'; exit 1", log.display());
        let out = run_captured(
            Command::new("sh").args(["-c", &script]),
            "sh",
            Duration::from_secs(10),
            &capture,
        )
        .ok();
        let stderr = out.as_ref().map(|o| o.stderr.clone()).unwrap_or_default();
        assert!(stderr.contains("stderr is lost"), "{stderr}");
        let _ = fs::remove_dir_all(scratch.parent().unwrap_or(&scratch));
    }

    #[test]
    fn output_and_status_are_captured() {
        let (scratch, log) = capture_dirs("ok");
        let capture = Capture {
            scratch: &scratch,
            log: &log,
        };
        let out = run_captured(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            "sh",
            Duration::from_secs(10),
            &capture,
        );
        let out = out.ok();
        assert_eq!(out.as_ref().and_then(Outcome::code), Some(3));
        assert_eq!(out.as_ref().map(|o| o.stdout.trim()), Some("out"));
        assert_eq!(out.as_ref().map(|o| o.stderr.trim()), Some("err"));
        let transcript = fs::read_to_string(&log).unwrap_or_default();
        assert!(
            transcript.contains("== sh") && transcript.contains("err"),
            "{transcript}"
        );
        let _ = fs::remove_dir_all(scratch.parent().unwrap_or(&scratch));
    }
}
