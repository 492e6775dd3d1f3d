//! Stand-alone driver crates under Wine: the examples (`examples/*`) and any driver crate a
//! user points at (`cargo xtask run-driver PATH`, e.g. one made by `cargo xtask new-driver`).
//!
//! Each crate is built the way its author builds it (`cargo build --release` in its own
//! directory, so its own `.cargo/config.toml` applies), with the peer's address in its
//! build-time environment, then installed and started as a kernel service in a Wine session
//! whose processes all run with `WINEDEBUG=-all,warn+debugstr`: the driver's `DbgPrintEx`
//! output lands in `wine.log`, where the checks look for it. One line per driver: built,
//! loaded, result.
//!
//! A KMDF crate (`[package.metadata.wdk.driver-model]` with `driver-type = "KMDF"`, on the
//! windows-drivers-rs crates) is built as the KMDF shell is on Linux (`kmdf::cargo_for_crate`:
//! the patched wdk-build, the project's kit, lld-link) and loaded over the project's KMDF
//! runtime for Wine (`tests/kmdf-runtime`, installed as `drivers\wdfldr.sys`), whose log must
//! show a clean unload afterwards.

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::artifacts::Built;
use crate::choice::Choice;
use crate::layout::Layout;
use crate::peers::Peer;
use crate::proc::run_visible;
use crate::provider::Provider;
use crate::shell::Shell;
use crate::util::{copy_atomic, fmt_duration, free_port, json_u64, say};
use crate::wine::{Session, Wine, WSKCTL_TIMEOUT};

/// What the drivers' debug output needs (see `wsk::log`): Wine prints `DbgPrintEx` on the
/// `debugstr` channel at the `warn` level; everything else stays quiet.
pub(crate) const WINEDEBUG: &str = "-all,warn+debugstr";
/// How long a driver's expected line may take to appear after its service started.
const OUTPUT_WAIT: Duration = Duration::from_secs(20);
/// Deadline of the tcp-server example's round trip.
const ROUND_TRIP_TIMEOUT: Duration = Duration::from_secs(10);

/// What a driver crate does once loaded, and how the harness checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// Connects to an echo server whose address it gets as `ECHO_SERVER` at build time, and
    /// logs `echo received` (wdm-echo-client, and crates made by `new-driver`).
    EchoClient,
    /// Listens on `LISTEN_ADDR` (given at build time); the harness connects from Linux,
    /// sends a line and expects it back (tcp-server).
    EchoServer,
}

/// The examples `cargo xtask test` builds and runs.
pub(crate) const EXAMPLES: &[(&str, Check)] = &[
    ("wdm-echo-client", Check::EchoClient),
    ("kmdf-echo-client", Check::EchoClient),
    ("tcp-server", Check::EchoServer),
];

/// The driver model of a crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Model {
    /// A WDM driver on `wsk` alone (its own `build.rs` link arguments).
    Wdm,
    /// A KMDF driver on the windows-drivers-rs crates (`wdk-build` links it).
    Kmdf,
}

/// A driver crate on disk.
pub(crate) struct DriverCrate {
    pub(crate) dir: PathBuf,
    /// The package name (`name = "..."` of `[package]`).
    pub(crate) package: String,
    pub(crate) model: Model,
}

impl DriverCrate {
    pub(crate) fn open(dir: &Path) -> Result<Self> {
        let manifest = dir.join("Cargo.toml");
        let text = fs::read_to_string(&manifest)
            .with_context(|| format!("reading {}", manifest.display()))?;
        let package = package_name(&text)
            .with_context(|| format!("no [package] name in {}", manifest.display()))?;
        // Absolute: cargo runs in the crate's folder, with a target folder named from it.
        let dir = dir
            .canonicalize()
            .with_context(|| format!("resolving {}", dir.display()))?;
        Ok(Self {
            dir,
            package,
            model: model_of(&text),
        })
    }

    /// The kernel service name: the package name in CamelCase (`my-driver` → `MyDriver`).
    pub(crate) fn service(&self) -> String {
        camel_case(&self.package)
    }
}

/// `name = "..."` in the `[package]` table of a manifest.
pub(crate) fn package_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
            continue;
        }
        if !in_package {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.trim() == "name" {
            return Some(value.trim().trim_matches('"').to_owned());
        }
    }
    None
}

/// KMDF when the manifest's `[package.metadata.wdk.driver-model]` says so (what wdk-build
/// reads), else WDM.
pub(crate) fn model_of(manifest: &str) -> Model {
    let mut in_model = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_model = line == "[package.metadata.wdk.driver-model]";
            continue;
        }
        if in_model
            && line
                .split_once('=')
                .is_some_and(|(k, v)| k.trim() == "driver-type" && v.trim() == "\"KMDF\"")
        {
            return Model::Kmdf;
        }
    }
    Model::Wdm
}

/// `my-driver_2` → `MyDriver2`.
pub(crate) fn camel_case(name: &str) -> String {
    name.split(['-', '_'])
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// `cargo build --release` in the crate's directory (its own workspace and
/// `.cargo/config.toml`); WDM crates share `target/examples`, a KMDF crate builds in its own
/// `target/` with the kit (`kmdf::cargo_for_crate`). Copies the image to
/// `target/wskrs/<package>.sys`.
pub(crate) fn build(
    layout: &Layout,
    krate: &DriverCrate,
    env: &[(&str, String)],
) -> Result<PathBuf> {
    let (mut cmd, target_dir) = match krate.model {
        Model::Wdm => {
            let target_dir = layout.target.join("examples");
            let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let mut cmd = Command::new(program);
            cmd.current_dir(&krate.dir)
                .arg("build")
                .env("CARGO_TARGET_DIR", &target_dir);
            (cmd, target_dir)
        }
        Model::Kmdf => (
            crate::kmdf::cargo_for_crate(layout, &krate.dir, "build")?,
            krate.dir.join("target"),
        ),
    };
    cmd.arg("--release")
        // The crate's own configuration decides (as it does for its author).
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let status = run_visible(&mut cmd, &format!("cargo build ({})", krate.package))?;
    if !status.success() {
        bail!("building {} failed ({status})", krate.dir.display());
    }
    let dll = target_dir
        .join("x86_64-pc-windows-msvc")
        .join("release")
        .join(format!("{}.dll", krate.package.replace('-', "_")));
    if !dll.is_file() {
        bail!(
            "cargo built {} but {} is missing (is it a cdylib for x86_64-pc-windows-msvc?)",
            krate.package,
            dll.display()
        );
    }
    let sys = layout.out.join(format!("{}.sys", krate.package));
    copy_atomic(&dll, &sys)?;
    if krate.model == Model::Kmdf {
        // Bound to KMDF (WDFLDR.SYS), nothing the runtime here lacks.
        crate::kmdf::check_imports(&sys)?;
    }
    Ok(sys)
}

/// Installs `sys` as kernel service `service` and starts it.
fn load(layout: &Layout, wine: &Wine, sys: &Path, service: &str) -> Result<()> {
    let file = format!("{service}.sys");
    copy_atomic(sys, &layout.drivers_dir().join(&file))?;
    let win_path = format!(r"C:\windows\system32\drivers\{file}");
    wine.wskctl_ok(
        &["driver", "install", "--name", service, "--path", &win_path],
        WSKCTL_TIMEOUT,
    )?;
    wine.wskctl_ok(&["driver", "start", "--name", service], WSKCTL_TIMEOUT)?;
    Ok(())
}

/// Stops and uninstalls the service (both attempted).
fn unload(wine: &Wine, service: &str) -> Result<()> {
    let stop = wine.wskctl_ok(&["driver", "stop", "--name", service], WSKCTL_TIMEOUT);
    let uninstall = wine.wskctl_ok(&["driver", "uninstall", "--name", service], WSKCTL_TIMEOUT);
    stop?;
    uninstall?;
    Ok(())
}

/// The driver lines (`debugstr`) of `wine.log` from byte `from` on, each reduced to its text.
pub(crate) fn debug_lines(layout: &Layout, from: usize) -> Vec<String> {
    let log = fs::read(layout.wine_log()).unwrap_or_default();
    let text = String::from_utf8_lossy(log.get(from..).unwrap_or_default()).into_owned();
    text.lines()
        .filter(|l| l.contains("debugstr"))
        // `0140:warn:debugstr:vDbgPrintExWithPrefix 0000004d:00000008: text`
        .map(|l| {
            l.split_once("debugstr:")
                .and_then(|(_, rest)| rest.split_once(": "))
                .map_or(l, |(_, text)| text)
                .trim_end()
                .to_owned()
        })
        .collect()
}

/// Waits until a debug line (after byte `from` of `wine.log`) contains `needle`.
fn wait_for_line(layout: &Layout, from: usize, needle: &str, timeout: Duration) -> Result<String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(line) = debug_lines(layout, from)
            .into_iter()
            .find(|l| l.contains(needle))
        {
            return Ok(line);
        }
        if Instant::now() >= deadline {
            bail!(
                "no debug line with {needle:?} within {} (driver output: {:?}; log {})",
                fmt_duration(timeout),
                debug_lines(layout, from),
                layout.wine_log().display()
            );
        }
        thread::sleep(Duration::from_millis(100));
    }
}

fn log_len(layout: &Layout) -> usize {
    fs::metadata(layout.wine_log()).map_or(0, |m| usize::try_from(m.len()).unwrap_or(0))
}

/// What one driver run showed.
pub(crate) struct Ran {
    pub(crate) built: Duration,
    pub(crate) loaded: Duration,
    /// The line that proved it worked.
    pub(crate) result: String,
    /// Every debug line of the driver, load to unload.
    pub(crate) output: Vec<String>,
}

/// Builds `krate` against a fresh peer, loads it in a new Wine session (debug output on),
/// checks it, unloads it.
pub(crate) fn run(
    layout: &Layout,
    built: &Built,
    krate: &DriverCrate,
    check: Check,
) -> Result<Ran> {
    let service = krate.service();
    // The peer first: its address is built into the driver.
    let mut echo_peer = None;
    let (env, listen) = match check {
        Check::EchoClient => {
            let mut peer = Peer::spawn(
                layout,
                "echo_server.py",
                &format!("{}-echo-server", krate.package),
                &[],
            )?;
            let ready = peer.wait_event("listening", Duration::from_secs(10))?;
            let port = json_u64(&ready, "port")?;
            echo_peer = Some(peer);
            (vec![("ECHO_SERVER", format!("127.0.0.1:{port}"))], None)
        }
        Check::EchoServer => {
            let at = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?));
            (vec![("LISTEN_ADDR", at.to_string())], Some(at))
        }
    };
    let started = Instant::now();
    let sys = build(layout, krate, &env)?;
    let build_time = started.elapsed();

    // A KMDF driver needs the KMDF runtime in the session (installed by the KMDF shell's
    // choice); the choice is put back afterwards.
    let shell_before = Shell::chosen()?;
    if krate.model == Model::Kmdf {
        Shell::Kmdf.select();
    }
    let session = Session::start_with_debug(layout, built, WINEDEBUG);
    shell_before.select();
    let session = session?;
    let from = log_len(layout);
    let started = Instant::now();
    let result = load(layout, &session.wine, &sys, &service).and_then(|()| {
        let loaded = started.elapsed();
        let line = match (check, listen) {
            (Check::EchoClient, _) => wait_for_line(layout, from, "echo received", OUTPUT_WAIT)?,
            (Check::EchoServer, Some(at)) => {
                wait_for_line(layout, from, "listening on", OUTPUT_WAIT)?;
                round_trip(at)?;
                wait_for_line(layout, from, "echoing", OUTPUT_WAIT)?;
                format!("echo from {at} (Linux client)")
            }
            (Check::EchoServer, None) => bail!("no listening address"),
        };
        Ok((loaded, line))
    });
    let unloaded = unload(&session.wine, &service).and_then(|()| match krate.model {
        Model::Kmdf => crate::shell::check_after_unload(Shell::Kmdf, layout),
        Model::Wdm => Ok(()),
    });
    let output = debug_lines(layout, from);
    // Keep this driver's transcript (the next session truncates wine.log).
    let _ = fs::copy(
        layout.wine_log(),
        layout.logs.join(format!("{}-wine.log", krate.package)),
    );
    let finished = session.finish();
    drop(echo_peer);
    let (loaded, line) = result?;
    unloaded?;
    finished?;
    Ok(Ran {
        built: build_time,
        loaded,
        result: line,
        output,
    })
}

/// Connects to the driver's server from Linux, sends a line, expects it back.
fn round_trip(at: SocketAddr) -> Result<()> {
    let message = b"hello from Linux\n";
    let mut stream = TcpStream::connect_timeout(&at, ROUND_TRIP_TIMEOUT)
        .with_context(|| format!("connecting to the driver's server at {at}"))?;
    stream.set_read_timeout(Some(ROUND_TRIP_TIMEOUT))?;
    stream.set_write_timeout(Some(ROUND_TRIP_TIMEOUT))?;
    stream.write_all(message).context("sending to the driver")?;
    let mut reply = vec![0u8; message.len()];
    stream
        .read_exact(&mut reply)
        .context("reading the driver's echo")?;
    if reply != message {
        bail!("the driver echoed {reply:?}, not {message:?}");
    }
    Ok(())
}

/// `cargo xtask lint`'s steps for the examples: in each example's directory (its own
/// workspace), `cargo fmt --check` and `cargo clippy` (kernel target, release) with warnings
/// denied. Each step reports a line; returns whether all passed.
pub(crate) fn lint(layout: &Layout) -> Result<bool> {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut all_ok = true;
    for &(name, _) in EXAMPLES {
        let dir = layout.root.join("examples").join(name);
        let steps: [(&str, &[&str]); 2] = [
            ("cargo fmt --check", &["fmt", "--", "--check"]),
            (
                "clippy -D warnings",
                &["clippy", "--quiet", "--release", "--", "-D", "warnings"],
            ),
        ];
        let kmdf = DriverCrate::open(&dir)?.model == Model::Kmdf;
        for (what, args) in steps {
            let step = format!("{what} (examples/{name})");
            say(&format!("lint: {step}"));
            let (subcommand, rest) = args.split_first().context("a lint step")?;
            let mut cmd = if kmdf && *subcommand == "clippy" {
                // wdk-build needs the kit even to check.
                crate::kmdf::cargo_for_crate(layout, &dir, subcommand)?
            } else {
                let mut cmd = Command::new(&program);
                cmd.current_dir(&dir)
                    .arg(subcommand)
                    .env("CARGO_TARGET_DIR", layout.target.join("examples"));
                cmd
            };
            cmd.args(rest)
                .env_remove("RUSTFLAGS")
                .env_remove("CARGO_BUILD_TARGET");
            let ok = run_visible(&mut cmd, &step)?.success();
            if ok {
                say(&format!("lint: {step}: ok"));
            } else {
                eprintln!("lint: {step}: FAILED (output above)");
            }
            all_ok &= ok;
        }
    }
    Ok(all_ok)
}

/// Builds and runs every example under each provider; prints one line per run. True if all
/// passed.
pub(crate) fn run_examples(layout: &Layout, built: &Built, providers: &[Provider]) -> bool {
    let mut ok = true;
    for &provider in providers {
        provider.select();
        for &(name, check) in EXAMPLES {
            let dir = layout.root.join("examples").join(name);
            let outcome = DriverCrate::open(&dir).and_then(|k| run(layout, built, &k, check));
            let provider_name = provider.name();
            match outcome {
                Ok(ran) => say(&format!(
                    "example {name} [{provider_name}]: built ({}), loaded ({}), {}",
                    fmt_duration(ran.built),
                    fmt_duration(ran.loaded),
                    ran.result
                )),
                Err(e) => {
                    ok = false;
                    say(&format!("example {name} [{provider_name}]: FAILED: {e:#}"));
                }
            }
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_lines_are_the_drivers_text() {
        let layout = Layout::discover().unwrap_or_else(|e| panic!("{e:#}"));
        let layout = Layout {
            logs: std::env::temp_dir().join(format!("xtask-debug-lines-{}", std::process::id())),
            ..layout
        };
        fs::create_dir_all(&layout.logs).unwrap_or_else(|e| panic!("{e}"));
        fs::write(
            layout.wine_log(),
            "== wskctl driver start\n0140:warn:debugstr:vDbgPrintExWithPrefix 0000004d:00000008: my-driver: echo received: 3 bytes\nother: line\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            debug_lines(&layout, 0),
            vec!["my-driver: echo received: 3 bytes".to_owned()]
        );
        assert!(debug_lines(&layout, 10_000).is_empty());
        let _ = fs::remove_dir_all(&layout.logs);
    }

    #[test]
    fn the_readme_shows_the_minimal_example_verbatim() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let readme = fs::read_to_string(root.join("wsk/README.md")).unwrap_or_default();
        let example = root.join("examples/wdm-echo-client");
        for (file, fence) in [
            ("Cargo.toml", "```toml\n"),
            (".cargo/config.toml", "```toml\n"),
            ("build.rs", "```rust\n"),
            ("src/lib.rs", "```rust,ignore\n"),
        ] {
            let text = fs::read_to_string(example.join(file)).unwrap_or_default();
            assert!(!text.is_empty(), "{file}");
            assert!(
                readme.contains(&format!("{fence}{text}```")),
                "wsk/README.md does not show examples/wdm-echo-client/{file} verbatim"
            );
        }
    }

    #[test]
    fn kmdf_crates_are_told_by_their_wdk_metadata() {
        let kmdf = "[package]\nname = \"x\"\n\n[package.metadata.wdk.driver-model]\ndriver-type = \"KMDF\"\nkmdf-version-major = 1\n";
        assert_eq!(model_of(kmdf), Model::Kmdf);
        assert_eq!(model_of("[package]\nname = \"x\"\n"), Model::Wdm);
        let elsewhere = "[package]\nname = \"x\"\n[lib]\ndriver-type = \"KMDF\"\n";
        assert_eq!(model_of(elsewhere), Model::Wdm);
        let manifest = |name: &str| {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("../examples/{name}/Cargo.toml"));
            fs::read_to_string(path).unwrap_or_default()
        };
        assert_eq!(model_of(&manifest("kmdf-echo-client")), Model::Kmdf);
        assert_eq!(model_of(&manifest("wdm-echo-client")), Model::Wdm);
    }

    /// `(name, version)` of every crates.io package of a Cargo.lock.
    fn registry_packages(lock: &str) -> Vec<(String, String)> {
        lock.split("[[package]]")
            .filter(|entry| entry.contains("source = \"registry+"))
            .filter_map(|entry| {
                let field = |key: &str| {
                    entry.lines().find_map(|l| {
                        l.strip_prefix(key).map(|v| {
                            v.trim()
                                .trim_start_matches('=')
                                .trim()
                                .trim_matches('"')
                                .to_owned()
                        })
                    })
                };
                Some((field("name ")?, field("version ")?))
            })
            .collect()
    }

    /// A KMDF example builds from the crates vendored for the KMDF shell: every crate it locks
    /// must be locked at the same version by driver/kmdf.
    #[test]
    fn kmdf_examples_lock_what_the_kmdf_shell_locks() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let shell = registry_packages(
            &fs::read_to_string(root.join("driver/kmdf/Cargo.lock")).unwrap_or_default(),
        );
        assert!(shell.iter().any(|(n, _)| n == "wdk-build"));
        let lock = fs::read_to_string(root.join("examples/kmdf-echo-client/Cargo.lock"))
            .unwrap_or_default();
        let example = registry_packages(&lock);
        assert!(example.iter().any(|(n, _)| n == "wdk-sys"));
        for package in &example {
            assert!(
                shell.contains(package),
                "examples/kmdf-echo-client locks {} {}, which driver/kmdf/Cargo.lock does not",
                package.0,
                package.1
            );
        }
    }

    #[test]
    fn names_become_service_names() {
        assert_eq!(camel_case("wdm-echo-client"), "WdmEchoClient");
        assert_eq!(camel_case("my_driver-2"), "MyDriver2");
        assert_eq!(camel_case("x"), "X");
    }

    #[test]
    fn the_package_name_comes_from_the_package_table() {
        let manifest = "[workspace]\nname = \"no\"\n\n[package]\nversion = \"1\"\nname = \"my-driver\"\n[lib]\nname = \"other\"\n";
        assert_eq!(package_name(manifest).as_deref(), Some("my-driver"));
        assert_eq!(package_name("[lib]\nname = \"x\"\n"), None);
    }

    #[test]
    fn every_example_is_a_stand_alone_driver_crate() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
        for (name, _) in EXAMPLES {
            let dir = root.join(name);
            let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
            assert_eq!(package_name(&manifest).as_deref(), Some(*name));
            assert!(
                manifest.contains("\n[workspace]\n"),
                "{name}: own workspace"
            );
            assert!(manifest.contains("crate-type = [\"cdylib\"]"), "{name}");
            assert_eq!(
                manifest.matches("lto = true").count(),
                2,
                "{name}: LTO in both profiles"
            );
            assert_eq!(manifest.matches("panic = \"abort\"").count(), 2, "{name}");
            let config = fs::read_to_string(dir.join(".cargo/config.toml")).unwrap_or_default();
            if model_of(&manifest) == Model::Kmdf {
                // wdk-build links it (entry point, /DRIVER, the kit's libraries) and requires
                // the static CRT; wdk-sys defines _fltused, wdk-panic the panic handler.
                let build = fs::read_to_string(dir.join("build.rs")).unwrap_or_default();
                assert!(
                    build.contains("wdk_build::configure_wdk_binary_build()"),
                    "{name}"
                );
                assert!(config.contains("+crt-static"), "{name}");
                assert!(
                    config.contains("target = \"x86_64-pc-windows-msvc\""),
                    "{name}"
                );
                let lib = fs::read_to_string(dir.join("src/lib.rs")).unwrap_or_default();
                assert!(lib.contains("extern crate wdk_panic;"), "{name}");
                continue;
            }
            assert!(config.contains("linker = \"lld-link\""), "{name}");
            let build = fs::read_to_string(dir.join("build.rs")).unwrap_or_default();
            for arg in [
                "/DRIVER",
                "/SUBSYSTEM:NATIVE",
                "/ENTRY:DriverEntry",
                "/NODEFAULTLIB",
            ] {
                assert!(build.contains(arg), "{name}: {arg}");
            }
            let lib = fs::read_to_string(dir.join("src/lib.rs")).unwrap_or_default();
            assert!(lib.contains("static _fltused"), "{name}");
            assert!(lib.contains("#[panic_handler]"), "{name}");
        }
    }
}
