//! Where things live: the workspace, cargo's target directory and the Wine state under it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Paths used by every command. Everything the xtask creates lives under the target directory
/// (`target/` unless `CARGO_TARGET_DIR` says otherwise), so `cargo clean` removes it all.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// Workspace root (holds the root `Cargo.toml`).
    pub(crate) root: PathBuf,
    /// Cargo's target directory.
    pub(crate) target: PathBuf,
    /// Collected build outputs: `wskrs.sys`, `bcryptprimitives.dll`.
    pub(crate) out: PathBuf,
    /// The persistent Wine prefix (reused between runs).
    pub(crate) prefix: PathBuf,
    /// Logs of the last session (`wine.log`, peer logs).
    pub(crate) logs: PathBuf,
    /// Scratch files of the running session (random data, received data); removed at the end.
    pub(crate) scratch: PathBuf,
}

impl Layout {
    pub(crate) fn discover() -> Result<Self> {
        let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = manifest_dir
            .parent()
            .context("the xtask crate has no parent directory")?
            .to_path_buf();
        let target = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) if !dir.is_empty() => {
                let dir = PathBuf::from(dir);
                if dir.is_absolute() {
                    dir
                } else {
                    root.join(dir)
                }
            }
            _ => root.join("target"),
        };
        let wine = target.join("wine");
        Ok(Self {
            out: target.join("wskrs"),
            prefix: wine.join("prefix"),
            logs: wine.join("logs"),
            scratch: wine.join(format!("run-{}", std::process::id())),
            root,
            target,
        })
    }

    /// The same build with a Wine prefix, logs and scratch directory of their own under
    /// `target/wine/NAME`, for a second Wine session beside the first (each prefix has its
    /// own wineserver).
    pub(crate) fn beside(&self, name: &str) -> Self {
        let dir = self.target.join("wine").join(name);
        Self {
            prefix: dir.join("prefix"),
            logs: dir.join("logs"),
            scratch: dir.join(format!("run-{}", std::process::id())),
            ..self.clone()
        }
    }

    /// [`Layout::beside`] under `target/wine/netns`, for the Wine session that runs inside a
    /// network namespace (e2e `network_namespace_faults`): a Wine program reaches the
    /// wineserver of its prefix through a unix socket, which crosses namespaces, so only a
    /// prefix whose server was started inside the namespace keeps the session's sockets there.
    pub(crate) fn in_namespace(&self) -> Self {
        self.beside("netns")
    }

    /// The prefix's `C:\windows\system32\drivers`, where drivers and the modules they
    /// import are installed.
    pub(crate) fn drivers_dir(&self) -> PathBuf {
        self.prefix
            .join("drive_c")
            .join("windows")
            .join("system32")
            .join("drivers")
    }

    /// The driver as cargo leaves it (a cdylib named `.dll`).
    pub(crate) fn driver_dll(&self) -> PathBuf {
        self.target
            .join("x86_64-pc-windows-msvc")
            .join("release")
            .join("wskrs_wdm.dll")
    }

    pub(crate) fn driver_sys(&self) -> PathBuf {
        self.out.join("wskrs.sys")
    }

    pub(crate) fn wskctl_exe(&self) -> PathBuf {
        self.target
            .join("x86_64-pc-windows-gnu")
            .join("release")
            .join("wskctl.exe")
    }

    pub(crate) fn shim_dll(&self) -> PathBuf {
        self.out.join("bcryptprimitives.dll")
    }

    pub(crate) fn shim_source_dir(&self) -> PathBuf {
        self.root.join("tests").join("shim")
    }

    pub(crate) fn peer_script(&self, name: &str) -> PathBuf {
        self.root.join("tests").join("peers").join(name)
    }

    pub(crate) fn wine_log(&self) -> PathBuf {
        self.logs.join("wine.log")
    }
}
