//! The Windows side of the bench: `wskrs-bench.exe` (tests/bench) under Wine, as the Winsock
//! anchor's servers and as the client of the driver and of Winsock.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::layout::Layout;
use crate::proc;
use crate::util::free_port;
use crate::wine::Wine;

/// How long one `wskrs-bench` measurement may take (1 GiB at the slowest rate seen, with room).
const MEASURE_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a Winsock server may take to say it listens (Wine starts a process in ~1 s).
const LISTEN_TIMEOUT: Duration = Duration::from_secs(60);

/// Builds `wskrs-bench.exe` (x86_64-pc-windows-gnu, release).
pub(super) fn build(layout: &Layout) -> Result<PathBuf> {
    crate::artifacts::cargo_build_release(
        layout,
        "wskrs-bench",
        "x86_64-pc-windows-gnu",
        "wskrs-bench.exe",
    )
}

/// `wine wskrs-bench.exe ARGS`: its one JSON line. A launch Wine ends before the program runs
/// (exit 1, not a word: docs/reliability.md, Soak) is run once more, as wskctl's are.
pub(super) fn measure(wine: &Wine, exe: &Path, args: &[&str]) -> Result<Value> {
    let exe = exe
        .to_str()
        .context("the bench program's path is not UTF-8")?;
    let out = wine.run_program(exe, args, MEASURE_TIMEOUT)?;
    if !out.success() {
        bail!(
            "`wskrs-bench {}` exited with {} after {} ms: {}",
            args.join(" "),
            out.code()
                .map_or_else(|| "a signal".to_owned(), |c| c.to_string()),
            out.elapsed.as_millis(),
            crate::wine::silent_note(&out)
        );
    }
    let line = out
        .stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .with_context(|| format!("`wskrs-bench {}` printed no result", args.join(" ")))?;
    serde_json::from_str(line).with_context(|| format!("parsing `{line}`"))
}

/// A Winsock server under Wine (`wskrs-bench serve`), stopped when dropped.
pub(super) struct WinsockServer {
    child: Child,
    stdin: Option<ChildStdin>,
    pub(super) address: SocketAddr,
}

impl WinsockServer {
    pub(super) fn start(wine: &Wine, exe: &Path, service: &str) -> Result<Self> {
        let port = free_port()?;
        let mut child = wine
            .command("wine")
            .arg(exe)
            .args(["serve", service, &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting wskrs-bench serve under Wine")?;
        proc::register_child(child.id());
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().context("no stdout pipe")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Self {
            child,
            stdin,
            address: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        match rx.recv_timeout(LISTEN_TIMEOUT) {
            Ok(line) if line.contains("\"listening\"") => Ok(server),
            Ok(line) => {
                server.stop();
                bail!("wskrs-bench serve {service}: unexpected `{line}`")
            }
            Err(_) => {
                server.stop();
                bail!("wskrs-bench serve {service} did not listen within {LISTEN_TIMEOUT:?}")
            }
        }
    }

    fn stop(&mut self) {
        // Closing stdin is the server's signal to exit; Wine's teardown kills it otherwise.
        drop(self.stdin.take());
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                proc::unregister_child(self.child.id());
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        proc::unregister_child(self.child.id());
    }
}

impl Drop for WinsockServer {
    fn drop(&mut self) {
        self.stop();
    }
}
