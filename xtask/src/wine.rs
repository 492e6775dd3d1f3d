//! The Wine harness: one persistent prefix, a persistent wineserver per session, the driver
//! loaded as a kernel service through wskctl, and wskctl invocations with deadlines.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::artifacts::Built;
use crate::choice::Choice;
use crate::layout::Layout;
use crate::proc::{self, run_captured, Capture, Outcome};
use crate::util::{copy_atomic, fmt_duration, same_content, say};

/// Service name of the driver (`wskrs_protocol::SERVICE_NAME`).
pub(crate) const SERVICE: &str = "WskRs";
/// Deadline of an ordinary wskctl call.
pub(crate) const WSKCTL_TIMEOUT: Duration = Duration::from_secs(30);
/// Deadline of `wineboot -i` on a new prefix (measured 10-13 s; slow CI machines get room).
const WINEBOOT_TIMEOUT: Duration = Duration::from_secs(300);
const SERVER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the wineserver of a demo/e2e session survives with no Windows program running.
/// Longer than any wait between two wine calls in the harness (at most
/// [`crate::scenarios::TRANSFER_TIMEOUT`]), short enough that a session whose xtask was
/// killed with SIGKILL cleans itself up.
const SESSION_LINGER: Duration = Duration::from_secs(300);

/// How to run Wine programs in the project's prefix.
#[derive(Debug, Clone)]
pub(crate) struct Wine {
    prefix: PathBuf,
    env: Vec<(String, String)>,
    wskctl: PathBuf,
    scratch: PathBuf,
    log: PathBuf,
}

impl Wine {
    pub(crate) fn new(layout: &Layout) -> Result<Self> {
        let prefix = layout
            .prefix
            .to_str()
            .with_context(|| format!("{} is not valid UTF-8", layout.prefix.display()))?
            .to_owned();
        // A user-set WINEDEBUG goes through (e.g. WINEDEBUG=+loaddll); otherwise Wine is quiet.
        let debug = std::env::var("WINEDEBUG").unwrap_or_else(|_| "-all".to_owned());
        let env = vec![
            ("WINEPREFIX".to_owned(), prefix),
            ("WINEARCH".to_owned(), "win64".to_owned()),
            ("DISPLAY".to_owned(), String::new()),
            ("WINEDEBUG".to_owned(), debug),
        ];
        Ok(Self {
            prefix: layout.prefix.clone(),
            env,
            wskctl: layout.wskctl_exe(),
            scratch: layout.scratch.clone(),
            log: layout.wine_log(),
        })
    }

    pub(crate) fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// A command with the prefix environment set.
    pub(crate) fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    fn capture(&self) -> Capture<'_> {
        Capture {
            scratch: &self.scratch,
            log: &self.log,
        }
    }

    /// Runs a program under the prefix environment, with a deadline, capturing its output.
    pub(crate) fn run(&self, program: &str, args: &[&str], timeout: Duration) -> Result<Outcome> {
        let mut cmd = self.command(program);
        cmd.args(args);
        let what = format!("{program} {}", args.join(" "));
        run_captured(&mut cmd, what.trim_end(), timeout, &self.capture())
    }

    /// `wine reg ARGS` (`add`, `delete`, `import`: run twice, each leaves the same values);
    /// an error when it fails. A run that glibc's loader ended at exit after the work
    /// ([`is_exit_crash`]) is said and made once more.
    pub(crate) fn reg(&self, args: &[&str]) -> Result<()> {
        let mut full = vec!["reg"];
        full.extend_from_slice(args);
        let mut out = self.run("wine", &full, REG_TIMEOUT)?;
        if is_exit_crash(&out) {
            say(&format!(
                "wine: `reg {}` died at exit in the loader ({}); run again",
                args.join(" "),
                out.combined().trim()
            ));
            out = self.run("wine", &full, REG_TIMEOUT)?;
        }
        if !out.success() {
            bail!("`wine reg {}` failed: {}", args.join(" "), out.combined());
        }
        Ok(())
    }

    /// `wine wskctl.exe ARGS` with a deadline. A non-zero exit is returned, not an error.
    ///
    /// A launch that Wine ended before wskctl's code ran ([`is_silent_launch_failure`]) is
    /// said, counted ([`silent_launches`]) and run once more: it did nothing, so running it
    /// again is safe, and a second one in a row is returned as it is.
    pub(crate) fn wskctl(&self, args: &[&str], timeout: Duration) -> Result<Outcome> {
        let what = format!("wskctl {}", args.join(" "));
        self.launch(&what, self.wskctl.as_os_str(), args, timeout)
    }

    /// `wine EXE ARGS` for a Windows program of the project that prints what it did, with a
    /// deadline; a non-zero exit is returned, not an error. Launches that Wine ended before
    /// the program ran are run again as in [`Wine::wskctl`].
    pub(crate) fn run_program(
        &self,
        exe: &str,
        args: &[&str],
        timeout: Duration,
    ) -> Result<Outcome> {
        let name = Path::new(exe)
            .file_name()
            .map_or_else(|| exe.to_owned(), |n| n.to_string_lossy().into_owned());
        let what = format!("{name} {}", args.join(" "));
        self.launch(&what, std::ffi::OsStr::new(exe), args, timeout)
    }

    /// `wine EXE ARGS` (`what` names it), once more after a silent launch failure.
    fn launch(
        &self,
        what: &str,
        exe: &std::ffi::OsStr,
        args: &[&str],
        timeout: Duration,
    ) -> Result<Outcome> {
        let what = what.trim_end();
        let once = || {
            let mut cmd = self.command("wine");
            cmd.arg(exe).args(args);
            run_captured(&mut cmd, what, timeout, &self.capture())
        };
        let out = once()?;
        if !is_silent_launch_failure(&out) {
            return Ok(out);
        }
        SILENT_LAUNCHES.fetch_add(1, Ordering::Relaxed);
        say(&format!(
            "wine: `{what}` exited with {} after {} ms without a word: a Wine launch failure \
             (docs/reliability.md, Soak); run again",
            out.status,
            out.elapsed.as_millis()
        ));
        once()
    }

    /// Like [`Wine::wskctl`] but an exit other than 0 is an error quoting wskctl's output.
    pub(crate) fn wskctl_ok(&self, args: &[&str], timeout: Duration) -> Result<Outcome> {
        let out = self.wskctl(args, timeout)?;
        if !out.success() {
            bail!(
                "`wskctl {}` exited with {} after {} ms: {}",
                args.join(" "),
                out.code()
                    .map_or_else(|| "a signal".to_owned(), |c| c.to_string()),
                out.elapsed.as_millis(),
                silent_note(&out)
            );
        }
        Ok(out)
    }

    /// Live (non-zombie) processes whose environment names this prefix: wineserver,
    /// services.exe, winedevice.exe (the driver's host), wskctl, ...
    pub(crate) fn processes(&self) -> Vec<(u32, String)> {
        let needle = format!("WINEPREFIX={}", self.prefix.display());
        let Ok(entries) = fs::read_dir("/proc") else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if pid == std::process::id() {
                continue;
            }
            let dir = entry.path();
            let Ok(environ) = fs::read(dir.join("environ")) else {
                continue;
            };
            if !environ
                .split(|b| *b == 0)
                .any(|var| var == needle.as_bytes())
            {
                continue;
            }
            let stat = fs::read_to_string(dir.join("stat")).unwrap_or_default();
            // Field 3 of /proc/PID/stat (after the parenthesised name) is the state.
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .unwrap_or("?");
            if state == "Z" || state == "X" {
                continue;
            }
            let comm = fs::read_to_string(dir.join("comm")).unwrap_or_default();
            found.push((pid, comm.trim().to_owned()));
        }
        found
    }

    pub(crate) fn server_running(&self) -> bool {
        self.processes()
            .iter()
            .any(|(_, name)| name.starts_with("wineserver"))
    }

    /// The same environment for another prefix directory.
    fn for_prefix(&self, prefix: &Path) -> Result<Self> {
        let path = prefix
            .to_str()
            .with_context(|| format!("{} is not valid UTF-8", prefix.display()))?;
        let mut other = self.clone();
        other.prefix = prefix.to_path_buf();
        for (k, v) in &mut other.env {
            if k == "WINEPREFIX" {
                path.clone_into(v);
            }
        }
        Ok(other)
    }

    /// Creates the prefix with `wineboot -i` when it has no `system.reg` yet.
    /// Returns the time taken when it had to create it.
    ///
    /// The prefix is built under a temporary name and renamed when complete, so an
    /// interrupted `wineboot` never leaves a half-made prefix that later runs would trust.
    pub(crate) fn ensure_prefix(&self) -> Result<Option<Duration>> {
        if self.prefix.join("system.reg").is_file() {
            return Ok(None);
        }
        say(&format!(
            "wine: creating prefix {} (wineboot -i, takes 10-15 s)",
            self.prefix.display()
        ));
        let parent = self.prefix.parent().unwrap_or(&self.prefix);
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        let staging = self.prefix.with_extension("new");
        for dir in [&self.prefix, &staging] {
            if dir.exists() {
                // Left by an interrupted run: start over rather than repair.
                fs::remove_dir_all(dir)
                    .with_context(|| format!("removing the incomplete prefix {}", dir.display()))?;
            }
        }
        let started = Instant::now();
        let boot = self.for_prefix(&staging)?;
        proc::register_scratch(&staging);
        let previous = proc::swap_wine(Some(boot.env().to_vec()));
        let result = boot.wineboot();
        proc::swap_wine(previous);
        proc::unregister_scratch(&staging);
        if let Err(err) = result {
            let _ = boot.stop_server();
            let _ = fs::remove_dir_all(&staging);
            return Err(err);
        }
        fs::rename(&staging, &self.prefix).with_context(|| {
            format!(
                "renaming {} to {}",
                staging.display(),
                self.prefix.display()
            )
        })?;
        Ok(Some(started.elapsed()))
    }

    /// `wineboot -i` in this (new) prefix, then `wineserver -w` so the registry is on disk.
    fn wineboot(&self) -> Result<()> {
        let mut cmd = self.command("wineboot");
        cmd.arg("-i");
        // No network: don't try to fetch Mono or Gecko (nothing here needs .NET or HTML).
        if std::env::var_os("WINEDLLOVERRIDES").is_none() {
            cmd.env("WINEDLLOVERRIDES", "mscoree,mshtml=");
        }
        let out = run_captured(&mut cmd, "wineboot -i", WINEBOOT_TIMEOUT, &self.capture())?;
        if !out.success() {
            bail!("`wineboot -i` failed ({}): {}", out.status, out.combined());
        }
        // wineboot returns before the server has written the registry to disk.
        let out = self.run("wineserver", &["-w"], WINEBOOT_TIMEOUT)?;
        if !out.success() {
            bail!("`wineserver -w` after wineboot failed: {}", out.combined());
        }
        if !self.prefix.join("system.reg").is_file() {
            bail!(
                "wineboot finished but {} has no system.reg; see {}",
                self.prefix.display(),
                self.log.display()
            );
        }
        Ok(())
    }

    /// Puts the driver and the shim where Windows programs look for them.
    pub(crate) fn install_files(&self, built: &Built) -> Result<()> {
        let system32 = self.prefix.join("drive_c").join("windows").join("system32");
        // The build of the chosen driver shell (`--shell`, shell.rs).
        let targets = [
            (
                crate::shell::Shell::chosen()?.sys(built),
                system32.join("drivers").join("wskrs.sys"),
            ),
            (
                built.shim_dll.as_path(),
                system32.join("bcryptprimitives.dll"),
            ),
        ];
        for (from, to) in targets {
            if !same_content(from, &to) {
                copy_atomic(from, &to)?;
            }
        }
        Ok(())
    }

    /// Starts a persistent wineserver (`-p`): the driver stays loaded between wine calls.
    ///
    /// `linger`: `None` keeps the server until `wineserver -k` (`up`); `Some(t)` lets it exit by
    /// itself once no Windows program has run for `t` (harness sessions: should the xtask be
    /// killed outright, its Wine session still goes away).
    pub(crate) fn start_server(&self, linger: Option<Duration>) -> Result<()> {
        let arg = match linger {
            None => "-p".to_owned(),
            Some(t) => format!("-p{}", t.as_secs().max(1)),
        };
        let out = self.run("wineserver", &[&arg], SERVER_TIMEOUT)?;
        if !out.success() {
            bail!(
                "`wineserver {arg}` failed ({}): {}",
                out.status,
                out.combined()
            );
        }
        // The server daemonises; wait until its process is visible.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.server_running() {
            if Instant::now() >= deadline {
                bail!("`wineserver -p` returned but no wineserver process appeared");
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// `wineserver -k` then `wineserver -w`; then kills anything of the prefix still alive.
    /// Returns the processes that had to be killed by pid (a teardown problem worth reporting).
    pub(crate) fn stop_server(&self) -> Result<Vec<(u32, String)>> {
        if self.prefix.is_dir() {
            // Exit status 1 only means "no server was running".
            self.run("wineserver", &["-k"], SERVER_TIMEOUT)?;
            self.run("wineserver", &["-w"], SERVER_TIMEOUT)?;
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut left = self.processes();
        while !left.is_empty() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(50));
            left = self.processes();
        }
        for (pid, _) in &left {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stdin(Stdio::null())
                .status();
        }
        Ok(left)
    }

    /// `wskctl driver install` + `wskctl driver start`; returns the time of each.
    pub(crate) fn load_driver(&self) -> Result<(Duration, Duration)> {
        let install = self.wskctl_ok(&["driver", "install", "--name", SERVICE], WSKCTL_TIMEOUT)?;
        let start = self.wskctl_ok(&["driver", "start", "--name", SERVICE], WSKCTL_TIMEOUT)?;
        Ok((install.elapsed, start.elapsed))
    }

    /// `wskctl driver stop` + `wskctl driver uninstall`; returns the time of the stop.
    pub(crate) fn unload_driver(&self) -> Result<Duration> {
        let stop = self.wskctl_ok(&["driver", "stop", "--name", SERVICE], WSKCTL_TIMEOUT)?;
        self.wskctl_ok(&["driver", "uninstall", "--name", SERVICE], WSKCTL_TIMEOUT)?;
        Ok(stop.elapsed)
    }
}

/// A harness session (demo, e2e): fresh logs and scratch directory, the prefix ready, a
/// persistent wineserver. Dropping it (on any exit path) stops Wine and removes the scratch
/// directory; Ctrl-C does the same through [`proc::emergency_cleanup`].
pub(crate) struct Session {
    pub(crate) wine: Wine,
    pub(crate) layout: Layout,
    /// Time spent creating the prefix, when it had to be created.
    pub(crate) prefix_created: Option<Duration>,
    finished: bool,
}

impl Session {
    pub(crate) fn start(layout: &Layout, built: &Built) -> Result<Self> {
        Self::start_with(layout, built, Wine::new(layout)?)
    }

    /// A session whose Wine processes all run with `WINEDEBUG=debug` (set before the first
    /// one starts, so that services.exe and the driver host inherit it), e.g.
    /// `-all,warn+debugstr` to get drivers' `DbgPrintEx` output in `wine.log`.
    pub(crate) fn start_with_debug(layout: &Layout, built: &Built, debug: &str) -> Result<Self> {
        let mut wine = Wine::new(layout)?;
        for (k, v) in &mut wine.env {
            if k == "WINEDEBUG" {
                debug.clone_into(v);
            }
        }
        Self::start_with(layout, built, wine)
    }

    fn start_with(layout: &Layout, built: &Built, wine: Wine) -> Result<Self> {
        remove_stale_scratch(layout);
        fs::create_dir_all(&layout.logs)
            .with_context(|| format!("creating {}", layout.logs.display()))?;
        fs::write(layout.wine_log(), "")
            .with_context(|| format!("truncating {}", layout.wine_log().display()))?;
        fs::create_dir_all(&layout.scratch)
            .with_context(|| format!("creating {}", layout.scratch.display()))?;
        proc::register_scratch(&layout.scratch);
        proc::register_wine(Some(wine.env().to_vec()));

        let mut session = Self {
            wine,
            layout: layout.clone(),
            prefix_created: None,
            finished: false,
        };
        if session.wine.server_running() {
            say(
                "wine: a Wine server is already running for this prefix (from `cargo xtask \
                 up`, or an interrupted run): stopping it first",
            );
            session.wine.stop_server()?;
        }
        session.prefix_created = session.wine.ensure_prefix()?;
        session.wine.install_files(built)?;
        session.wine.start_server(Some(SESSION_LINGER))?;
        if crate::provider::apply(&session.wine, layout)? {
            // services.exe took its environment from the registry when it started: restart
            // the server so that the driver host gets the new one.
            session.wine.stop_server()?;
            session.wine.start_server(Some(SESSION_LINGER))?;
        }
        crate::shell::apply(layout)?;
        Ok(session)
    }

    /// Stops Wine, checks nothing of the prefix is left running, removes scratch files.
    /// Returns an error naming any process that had to be killed.
    pub(crate) fn finish(mut self) -> Result<()> {
        self.finished = true;
        let result = self.teardown();
        proc::register_wine(None);
        result
    }

    fn teardown(&self) -> Result<()> {
        let left = self.wine.stop_server();
        let _ = fs::remove_dir_all(&self.layout.scratch);
        proc::unregister_scratch(&self.layout.scratch);
        let left = left?;
        if !left.is_empty() {
            let names: Vec<String> = left.iter().map(|(p, n)| format!("{n} ({p})")).collect();
            bail!(
                "Wine processes survived `wineserver -k` and were killed: {}",
                names.join(", ")
            );
        }
        Ok(())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if !self.finished && !proc::interrupted() {
            if let Err(err) = self.teardown() {
                eprintln!("xtask: clean-up: {err:#}");
            }
            proc::register_wine(None);
        }
    }
}

/// Removes scratch directories of earlier runs that were killed (their pid is gone).
fn remove_stale_scratch(layout: &Layout) {
    let Some(dir) = layout.scratch.parent() else {
        return;
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("run-")) else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// `cargo xtask up`: prefix ready, driver loaded, wineserver kept running.
pub(crate) fn up(layout: &Layout, built: &Built) -> Result<()> {
    let wine = Wine::new(layout)?;
    fs::create_dir_all(&layout.logs)
        .with_context(|| format!("creating {}", layout.logs.display()))?;
    if wine.server_running() {
        let info = wine.wskctl(&["info"], WSKCTL_TIMEOUT)?;
        if info.success() {
            say(&format!("up: already up: {}", info.stdout.trim()));
            say("up: to load a new build, run `cargo xtask down` then `cargo xtask up`");
            return Ok(());
        }
        say("up: a Wine server is running but the driver is not loaded; loading it");
    }
    proc::register_wine(Some(wine.env().to_vec()));
    let result = (|| -> Result<()> {
        if let Some(took) = wine.ensure_prefix()? {
            say(&format!("up: prefix created in {}", fmt_duration(took)));
        }
        wine.install_files(built)?;
        if !wine.server_running() {
            wine.start_server(None)?;
        }
        if crate::provider::apply(&wine, layout)? {
            // The services' environment changed (see Session::start).
            wine.stop_server()?;
            wine.start_server(None)?;
        }
        crate::shell::apply(layout)?;
        let (install, start) = wine.load_driver()?;
        let info = wine.wskctl_ok(&["info"], WSKCTL_TIMEOUT)?;
        say(&format!(
            "up: driver installed ({}) and started ({}) as kernel service {SERVICE}",
            fmt_duration(install),
            fmt_duration(start)
        ));
        say(&format!("up: {}", info.stdout.trim()));
        Ok(())
    })();
    match result {
        Ok(()) => {
            // Hand the running server over to the user.
            proc::register_wine(None);
            let _ = fs::remove_dir_all(&layout.scratch);
            say("up: Wine stays up (wineserver -p). Try `cargo xtask wskctl -- info`;");
            say("    `cargo xtask down` unloads the driver and stops Wine.");
            Ok(())
        }
        Err(err) => {
            let _ = wine.stop_server();
            proc::register_wine(None);
            let _ = fs::remove_dir_all(&layout.scratch);
            Err(err.context(format!(
                "`up` failed; Wine stopped. Log: {}",
                layout.wine_log().display()
            )))
        }
    }
}

/// `cargo xtask down`: stop + uninstall the service, stop Wine.
pub(crate) fn down(layout: &Layout) -> Result<()> {
    let wine = Wine::new(layout)?;
    if !layout.prefix.join("system.reg").is_file() {
        say("down: there is no prefix; nothing to do");
        return Ok(());
    }
    fs::create_dir_all(&layout.logs)
        .with_context(|| format!("creating {}", layout.logs.display()))?;
    proc::register_wine(Some(wine.env().to_vec()));
    let mut problems = Vec::new();
    if layout.wskctl_exe().is_file() {
        for step in ["stop", "uninstall"] {
            match wine.wskctl(&["driver", step, "--name", SERVICE], WSKCTL_TIMEOUT) {
                Ok(out) if out.success() => say(&format!("down: {}", out.combined().trim())),
                Ok(out) => problems.push(format!("driver {step}: {}", out.combined())),
                Err(err) => problems.push(format!("driver {step}: {err:#}")),
            }
        }
    } else {
        say("down: wskctl.exe is not built; only stopping Wine");
    }
    let left = wine.stop_server();
    proc::register_wine(None);
    let _ = fs::remove_dir_all(&layout.scratch);
    let left = left?;
    if !left.is_empty() {
        problems.push(format!("killed leftover Wine processes: {left:?}"));
    }
    say("down: Wine stopped");
    if problems.is_empty() {
        Ok(())
    } else {
        bail!("down finished with problems:\n  {}", problems.join("\n  "))
    }
}

/// `cargo xtask wskctl -- ARGS`: runs wskctl in the prefix with the terminal attached.
pub(crate) fn wskctl_passthrough(layout: &Layout, args: &[OsString]) -> Result<ExitCode> {
    let wine = Wine::new(layout)?;
    let exe = layout.wskctl_exe();
    if !exe.is_file() || !layout.prefix.join("system.reg").is_file() {
        bail!("wskctl.exe or the Wine prefix is missing; run `cargo xtask up` first");
    }
    if !wine.server_running() {
        eprintln!(
            "xtask: note: no Wine session is up for {}; the driver is not loaded \
             (run `cargo xtask up`)",
            layout.prefix.display()
        );
    }
    let mut cmd = wine.command("wine");
    cmd.arg(&exe).args(args);
    // Interactive: the user's terminal, no deadline (e.g. `tcp listen` serves until Ctrl-C).
    let mut child = cmd
        .spawn()
        .context("starting wine (run `cargo xtask setup`)")?;
    proc::register_child(child.id());
    let status = child.wait().context("waiting for wskctl");
    proc::unregister_child(child.id());
    proc::park_if_interrupted();
    let status = status?;
    let code = status.code().unwrap_or(1);
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

/// `cargo xtask clean-prefix`: stop Wine and delete the prefix.
pub(crate) fn clean_prefix(layout: &Layout) -> Result<()> {
    let wine = Wine::new(layout)?;
    fs::create_dir_all(&layout.logs)
        .with_context(|| format!("creating {}", layout.logs.display()))?;
    if wine.server_running() {
        say("clean-prefix: stopping Wine");
    }
    let left = wine.stop_server()?;
    if !left.is_empty() {
        say(&format!(
            "clean-prefix: killed leftover Wine processes: {left:?}"
        ));
    }
    let _ = fs::remove_dir_all(&layout.scratch);
    if layout.prefix.exists() {
        fs::remove_dir_all(&layout.prefix)
            .with_context(|| format!("removing {}", layout.prefix.display()))?;
        say(&format!(
            "clean-prefix: removed {}",
            layout.prefix.display()
        ));
    } else {
        say("clean-prefix: no prefix to remove");
    }
    // The prefix of the e2e case network_namespace_faults (its server ran in a namespace that
    // is gone; it stops by itself, `wineserver -k` reaches it all the same).
    let netns = Wine::new(&layout.in_namespace())?;
    if layout.in_namespace().prefix.exists() {
        let left = netns.stop_server();
        let _ = fs::remove_dir_all(&layout.in_namespace().scratch);
        let left = left?;
        if !left.is_empty() {
            say(&format!(
                "clean-prefix: killed leftover Wine processes: {left:?}"
            ));
        }
        fs::remove_dir_all(&layout.in_namespace().prefix)
            .with_context(|| format!("removing {}", layout.in_namespace().prefix.display()))?;
        say(&format!(
            "clean-prefix: removed {}",
            layout.in_namespace().prefix.display()
        ));
    }
    Ok(())
}

/// What a failed wskctl (or another program of the project) printed, or, when it printed
/// nothing at all, a sentence saying so: they write a sentence for every failure, so silence
/// means the process ended before or outside their own code (docs/reliability.md, Soak).
/// wskctl launches run again since xtask started ([`Wine::wskctl`]).
static SILENT_LAUNCHES: AtomicU64 = AtomicU64::new(0);

/// How many wskctl launches failed without a word and were run again so far.
pub(crate) fn silent_launches() -> u64 {
    SILENT_LAUNCHES.load(Ordering::Relaxed)
}

/// Whether `out` is a Wine launch that ended before wskctl's code ran: exit 1, nothing on
/// stdout or stderr, in less time than any launch that runs wskctl takes. wskctl prints a
/// sentence for every failure (its tests check it), and under Wine it needs at least 30 ms
/// (of 2,700 launches of a soak, the fastest took 30 ms); the failures seen took 10-12 ms.
pub(crate) fn is_silent_launch_failure(out: &Outcome) -> bool {
    out.code() == Some(1) && out.combined().trim().is_empty() && out.elapsed < SILENT_LAUNCH_LIMIT
}

/// See [`is_silent_launch_failure`].
const SILENT_LAUNCH_LIMIT: Duration = Duration::from_millis(25);

/// How long one `wine reg` may take (a cold prefix starts Wine's services first).
const REG_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether `out` failed with glibc's loader assertion at process exit, which Wine 8's
/// `reg.exe` hits now and then after it has done its work (seen once in a CI run:
/// `Inconsistency detected by ld.so: dl-fini.c: 87: _dl_fini: Assertion ... failed!`).
pub(crate) fn is_exit_crash(out: &Outcome) -> bool {
    !out.success()
        && out
            .combined()
            .contains("Inconsistency detected by ld.so: dl-fini.c")
}

pub(crate) fn silent_note(out: &Outcome) -> String {
    let text = out.combined();
    if text.trim().is_empty() {
        "no output at all (the project's programs print a sentence for every failure: the \
         Wine process ended before or outside the program's code)"
            .to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;
    use std::time::Duration;

    use super::{is_exit_crash, is_silent_launch_failure};
    use crate::proc::Outcome;

    fn outcome(code: i32, stderr: &str, ms: u64) -> Outcome {
        Outcome {
            status: ExitStatus::from_raw(code << 8),
            stdout: String::new(),
            stderr: stderr.to_owned(),
            elapsed: Duration::from_millis(ms),
        }
    }

    #[test]
    fn only_a_fast_wordless_exit_1_is_a_launch_failure() {
        assert!(is_silent_launch_failure(&outcome(1, "", 10)));
        assert!(is_silent_launch_failure(&outcome(1, " \n", 12)));
        // wskctl's own failures say why, or take the time a launch that runs wskctl takes.
        assert!(!is_silent_launch_failure(&outcome(
            1,
            "error: STATUS_NOT_FOUND",
            10
        )));
        assert!(!is_silent_launch_failure(&outcome(1, "", 40)));
        assert!(!is_silent_launch_failure(&outcome(2, "", 10)));
        assert!(!is_silent_launch_failure(&outcome(0, "", 10)));
    }

    #[test]
    fn only_a_failed_run_with_the_loader_assertion_at_exit_is_an_exit_crash() {
        let crash = "Inconsistency detected by ld.so: dl-fini.c: 87: _dl_fini: Assertion                      `ns != LM_ID_BASE || i == nloaded' failed!";
        assert!(is_exit_crash(&outcome(127, crash, 300)));
        assert!(!is_exit_crash(&outcome(0, crash, 300)), "it succeeded");
        assert!(!is_exit_crash(&outcome(
            1,
            "reg: Unable to find the value",
            300
        )));
    }
}
