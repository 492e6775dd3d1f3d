//! Which WSK provider the driver gets under Wine: Wine's built-in `netio.sys` (default) or
//! the project's own (`tests/wsk-provider`), chosen with `--provider wine|wskrs` on `up`,
//! `e2e`, `test` and `demo`, or with `WSKRS_PROVIDER=wine|wskrs`.
//!
//! Loading mechanism: the driver imports `NETIO.SYS`; Wine's loader resolves it to the
//! built-in module unless the prefix has the DLL override `netio.sys=native`
//! (HKCU\Software\Wine\DllOverrides), in which case it loads the PE file
//! `C:\windows\system32\drivers\netio.sys`. For `wskrs` this module builds the provider,
//! copies it there and sets the override; for `wine` it removes both again (Wine's own PE
//! copy of netio.sys is put back). A marker file records that the prefix was switched.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use anyhow::{Context, Result};

use crate::choice::Choice;

use crate::layout::Layout;
use crate::util::{copy_atomic, same_content, say};
use crate::wine::Wine;

/// The WSK provider the driver is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Provider {
    /// Wine 8.0's built-in netio.sys (TCP subset).
    Wine,
    /// The project's own provider (tests/wsk-provider).
    Wskrs,
}

/// The provider set by `--provider` or [`Choice::select`] (see [`Choice::slot`]).
static CHOSEN: AtomicU8 = AtomicU8::new(0);
/// Sessions with the wsk-rs provider run it with `WSKRS_PROVIDER_VERIFY=1` (its verifier of
/// client mistakes, `tests/wsk-provider/src/verify.rs`).
static VERIFY: AtomicBool = AtomicBool::new(false);
/// Where services (the driver host) take their environment from.
const ENV_KEY: &str = r"HKCU\Environment";
/// The provider's verifier switch.
const VERIFY_VALUE: &str = "WSKRS_PROVIDER_VERIFY";
/// What the provider prints (standard error, in `wine.log`) at each registration with the
/// verifier on, and how its reports start.
pub(crate) const VERIFIER_ON: &str = "wsk-provider: verifier on (WSKRS_PROVIDER_VERIFY)";
pub(crate) const VERIFIER_REPORT: &str = "wsk-provider verifier:";

const REG_KEY: &str = r"HKCU\Software\Wine\DllOverrides";
const REG_VALUE: &str = "netio.sys";
/// Per-program Wine settings of the driver host: its `Version` is what `RtlGetVersion`
/// reports to the drivers it hosts.
const VERSION_KEY: &str = r"HKCU\Software\Wine\AppDefaults\winedevice.exe";
/// Where Debian's Wine keeps its PE modules (to restore the prefix's own netio.sys copy).
const WINE_PE_DIR: &str = "/usr/lib/x86_64-linux-gnu/wine/x86_64-windows";

impl Choice for Provider {
    const ALL: &'static [Self] = &[Self::Wine, Self::Wskrs];
    const WHAT: &'static str = "WSK provider";
    const FLAG: &'static str = "--provider";
    const ENV: &'static str = "WSKRS_PROVIDER";

    fn name(self) -> &'static str {
        match self {
            Self::Wine => "wine",
            Self::Wskrs => "wskrs",
        }
    }

    fn slot() -> &'static AtomicU8 {
        &CHOSEN
    }
}

impl Provider {
    /// What it is, for reports.
    pub(crate) const fn describe(self) -> &'static str {
        match self {
            Self::Wine => "Wine's built-in netio.sys",
            Self::Wskrs => "the wsk-rs provider (tests/wsk-provider)",
        }
    }
}

/// Turns the wsk-rs provider's verifier on or off for the sessions that follow.
pub(crate) fn set_verify(on: bool) {
    VERIFY.store(on, Ordering::Relaxed);
}

/// Whether the sessions that follow run the wsk-rs provider with its verifier on.
pub(crate) fn verify() -> bool {
    VERIFY.load(Ordering::Relaxed) && matches!(Provider::chosen(), Ok(Provider::Wskrs))
}

fn verify_marker(layout: &Layout) -> PathBuf {
    layout.drivers_dir().join("netio.sys.wskrs-verify")
}

/// After a run with the verifier: takes `WSKRS_PROVIDER_VERIFY` out of the prefix's
/// `HKCU\Environment` again (a short Wine session), so that nothing run in the prefix later
/// (`cargo xtask up`, `wsk-selftest` by hand) inherits it.
pub(crate) fn clear_verify(layout: &Layout) -> Result<()> {
    set_verify(false);
    let marker = verify_marker(layout);
    if !marker.is_file() {
        return Ok(());
    }
    let wine = Wine::new(layout)?;
    let result = wine.reg(&["delete", ENV_KEY, "/v", VERIFY_VALUE, "/f"]);
    let stopped = wine.stop_server();
    result?;
    stopped?;
    std::fs::remove_file(&marker).with_context(|| format!("removing {}", marker.display()))
}

/// The file the provider's verifier writes its lines to (a Windows path for the driver host).
pub(crate) fn verifier_log(layout: &Layout) -> PathBuf {
    layout.logs.join("wsk-provider-verifier.log")
}

/// Sets `WSKRS_PROVIDER_VERIFY=<verifier_log>` in the environment services get
/// (`HKCU\Environment`; the driver host has no standard error anyone reads), or removes it
/// when an earlier session set it. Returns whether the value changed: the Wine server must
/// then be restarted, since services.exe reads that environment when it starts.
fn apply_verify(wine: &Wine, layout: &Layout) -> Result<bool> {
    let marker = verify_marker(layout);
    if verify() {
        let log = verifier_log(layout);
        let _ = std::fs::remove_file(&log);
        let path = crate::util::wine_path(&log)?;
        wine.reg(&[
            "add",
            ENV_KEY,
            "/v",
            VERIFY_VALUE,
            "/t",
            "REG_SZ",
            "/d",
            &path,
            "/f",
        ])?;
        std::fs::write(&marker, "WSKRS_PROVIDER_VERIFY=1\n")
            .with_context(|| format!("writing {}", marker.display()))?;
        say(&format!(
            "provider: verifier on (HKCU\\Environment WSKRS_PROVIDER_VERIFY={path})"
        ));
        return Ok(true);
    }
    if marker.is_file() {
        wine.reg(&["delete", ENV_KEY, "/v", VERIFY_VALUE, "/f"])?;
        std::fs::remove_file(&marker).with_context(|| format!("removing {}", marker.display()))?;
        return Ok(true);
    }
    Ok(false)
}

fn marker(layout: &Layout) -> PathBuf {
    layout.drivers_dir().join("netio.sys.wskrs-provider")
}

fn build(layout: &Layout) -> Result<PathBuf> {
    say("provider: building the wsk-rs WSK provider (wskrs-provider, x86_64-pc-windows-gnu, release)");
    crate::artifacts::cargo_build_release(
        layout,
        "wskrs-provider",
        "x86_64-pc-windows-gnu",
        "netio.dll",
    )
}

/// Puts the chosen provider in place. Call with the prefix's wineserver running and before
/// the driver is loaded (the override is read when winedevice.exe loads the driver). Returns
/// whether the environment of services changed ([`set_verify`]): the caller then restarts
/// the Wine server.
pub(crate) fn apply(wine: &Wine, layout: &Layout) -> Result<bool> {
    let environment_changed = apply_verify(wine, layout)?;
    let netio = layout.drivers_dir().join("netio.sys");
    match Provider::chosen()? {
        Provider::Wskrs => {
            let dll = build(layout)?;
            if !same_content(&dll, &netio) {
                copy_atomic(&dll, &netio)?;
            }
            wine.reg(&[
                "add", REG_KEY, "/v", REG_VALUE, "/t", "REG_SZ", "/d", "native", "/f",
            ])?;
            // The provider implements the Windows 10 1703+ dispatch tables (WskConnectEx,
            // stream sockets); the driver host reports that Windows, so that `wsk`'s version
            // check (RtlGetVersion) lets drivers use them. Wine 8.0's prefix says Windows 7.
            wine.reg(&[
                "add",
                VERSION_KEY,
                "/v",
                "Version",
                "/t",
                "REG_SZ",
                "/d",
                "win10",
                "/f",
            ])?;
            std::fs::write(marker(layout), "netio.sys=native\n")
                .with_context(|| format!("writing {}", marker(layout).display()))?;
            say("provider: wsk-rs provider installed as drivers\\netio.sys (override netio.sys=native; winedevice.exe reports Windows 10)");
        }
        Provider::Wine => {
            if marker(layout).is_file() {
                wine.reg(&["delete", REG_KEY, "/v", REG_VALUE, "/f"])?;
                // Absent after a prefix made before this value existed: ignore that failure.
                let _ = wine.reg(&["delete", VERSION_KEY, "/v", "Version", "/f"]);
                let original = Path::new(WINE_PE_DIR).join("netio.sys");
                if original.is_file() {
                    copy_atomic(&original, &netio)?;
                }
                std::fs::remove_file(marker(layout))
                    .with_context(|| format!("removing {}", marker(layout).display()))?;
                say("provider: back to Wine's built-in netio.sys");
            }
        }
    }
    Ok(environment_changed)
}
