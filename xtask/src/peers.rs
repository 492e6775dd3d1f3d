//! Linux peers (python3 scripts under tests/peers/) run as child processes.
//!
//! Each peer prints one JSON object per line on stdout (its events); a reader thread forwards
//! them here. A peer's stdin is a pipe it watches: when the xtask dies, the pipe closes and the
//! peer exits, so no listener outlives the harness even after `kill -9`. Dropping a [`Peer`]
//! kills it.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::layout::Layout;
use crate::proc;

pub(crate) struct Peer {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Value>,
    /// Every event received so far, in order.
    events: Vec<Value>,
    log: std::path::PathBuf,
}

impl Peer {
    /// Starts `python3 -u tests/peers/<script> ARGS`. Its stderr goes to logs/<name>.log.
    pub(crate) fn spawn(
        layout: &Layout,
        script: &str,
        name: &str,
        args: &[String],
    ) -> Result<Self> {
        let path = layout.peer_script(script);
        if !path.is_file() {
            bail!("peer script {} is missing", path.display());
        }
        std::fs::create_dir_all(&layout.logs)
            .with_context(|| format!("creating {}", layout.logs.display()))?;
        let log = layout.logs.join(format!("{name}.log"));
        let stderr = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let mut child = Command::new("python3")
            .arg("-u")
            .arg(&path)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .with_context(|| {
                format!(
                    "starting python3 {} (run `cargo xtask setup`)",
                    path.display()
                )
            })?;
        proc::register_child(child.id());
        let stdout = child
            .stdout
            .take()
            .context("peer stdout was not captured")?;
        let stdin = child.stdin.take();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| serde_json::json!({ "event": "text", "text": line }));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        Ok(Self {
            name: name.to_owned(),
            child,
            stdin,
            lines: rx,
            events: Vec::new(),
            log,
        })
    }

    /// The peer's process id (to stop and continue it with signals).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Writes one line to the peer's stdin (a command to the peer script).
    pub(crate) fn send_line(&mut self, line: &str) -> Result<()> {
        use std::io::Write as _;
        let stdin = self
            .stdin
            .as_mut()
            .with_context(|| format!("peer {}: stdin is closed", self.name))?;
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .with_context(|| format!("peer {}: writing {line:?}", self.name))
    }

    /// Waits until an event (past or new) satisfies `pred`; returns it.
    pub(crate) fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Result<Value> {
        if let Some(found) = self.events.iter().find(|e| pred(e)) {
            return Ok(found.clone());
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(event) => {
                    let hit = pred(&event);
                    self.events.push(event.clone());
                    if hit {
                        return Ok(event);
                    }
                }
                Err(RecvTimeoutError::Timeout) => bail!(
                    "{}: no {what} within {} ms (events so far: {}; log {})",
                    self.name,
                    timeout.as_millis(),
                    self.summary(),
                    self.log.display()
                ),
                Err(RecvTimeoutError::Disconnected) => {
                    proc::park_if_interrupted();
                    bail!(
                        "{}: exited before {what} (events: {}; log {})",
                        self.name,
                        self.summary(),
                        self.log.display()
                    )
                }
            }
        }
    }

    /// Waits for an event named `name`.
    pub(crate) fn wait_event(&mut self, name: &str, timeout: Duration) -> Result<Value> {
        self.wait_for(&format!("`{name}` event"), timeout, |e| event_is(e, name))
    }

    /// Collects events that arrived so far without waiting.
    pub(crate) fn drain(&mut self) -> &[Value] {
        while let Ok(event) = self.lines.try_recv() {
            self.events.push(event);
        }
        &self.events
    }

    /// Closes the peer's stdin (its signal to finish) and waits for it to exit.
    pub(crate) fn finish(mut self, timeout: Duration) -> Result<std::process::ExitStatus> {
        drop(self.stdin.take());
        let status = proc::wait_with_deadline(&mut self.child, &self.name, timeout)?;
        self.drain();
        Ok(status)
    }

    fn summary(&self) -> String {
        let names: Vec<String> = self
            .events
            .iter()
            .map(|e| {
                e.get("event")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_owned()
            })
            .collect();
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        proc::unregister_child(self.child.id());
    }
}

pub(crate) fn event_is(e: &Value, name: &str) -> bool {
    e.get("event").and_then(Value::as_str) == Some(name)
}

/// Starts `tests/peers/echo_server.py` on 127.0.0.1 (an OS-chosen port); returns it and the port.
pub(crate) fn echo_server(layout: &Layout, name: &str) -> Result<(Peer, u16)> {
    echo_server_on(layout, name, IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// [`echo_server`] on `host` (127.0.0.1 or ::1).
pub(crate) fn echo_server_on(layout: &Layout, name: &str, host: IpAddr) -> Result<(Peer, u16)> {
    let mut peer = Peer::spawn(
        layout,
        "echo_server.py",
        name,
        &[
            "--host".into(),
            host.to_string(),
            "--port".into(),
            "0".into(),
        ],
    )?;
    let ready = peer.wait_event("listening", Duration::from_secs(10))?;
    let port = ready
        .get("port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .with_context(|| format!("{name}: bad `listening` event {ready}"))?;
    Ok((peer, port))
}
