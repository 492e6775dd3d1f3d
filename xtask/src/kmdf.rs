//! The KMDF shell (`driver/kmdf`) built on Linux with the real windows-drivers-rs crates.
//!
//! `wdk-build` expects a Windows host with a WDK. What this module supplies instead, all of it
//! under `target/kmdf-build/` (nothing committed is changed, `driver/kmdf/Cargo.lock` included):
//! - the shell's dependencies vendored (`cargo vendor --locked`), with the vendored `wdk-build`
//!   patched for a Linux host ([`WDK_BUILD_PATCH`]) — the patch is ours, the crate is not;
//! - a WDK-shaped root (`kit/`): Wine's DDK headers as the kit's `shared` and `km/crt`, the
//!   project's `km/` wrappers and KMDF 1.33 declarations (`driver/kmdf/linux-wdk/`), import
//!   libraries made with `llvm-dlltool` (`ntoskrnl.exe`, `WDFLDR.SYS`), empty archives for the
//!   kit libraries nothing calls, and `WdfDriverEntry.lib` from the project's own KMDF stub
//!   (`fx_driver_entry.c`, compiled with clang);
//! - the cargo invocation: `WDKContentRoot`, clang/llvm-lib as the C toolchain of the target,
//!   lld-link as the linker, no `RUSTFLAGS` from the environment (the shell's own
//!   `.cargo/config.toml` supplies `+crt-static`).
//!
//! The result is `target/wskrs/kmdf/wskrs.sys`, whose imports are checked
//! ([`check_imports`]): `WDFLDR.SYS`, `NETIO.SYS` and `ntoskrnl.exe`, nothing else.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::layout::Layout;
use crate::proc::run_visible;
use crate::util::{copy_atomic, say};

/// The SDK version the kit's folders are named after (any `10.*` works for wdk-build).
const KIT_VERSION: &str = "10.0.22621.0";
/// KMDF version of the shell (`[package.metadata.wdk.driver-model]` in driver/kmdf).
const KMDF_VERSION: &str = "1.33";
const TARGET: &str = "x86_64-pc-windows-msvc";

/// DLLs the KMDF image may import: the framework loader, WSK, the kernel.
pub(crate) const ALLOWED_IMPORTS: &[&str] = &["WDFLDR.SYS", "NETIO.SYS", "ntoskrnl.exe"];

/// What `ntoskrnl.lib` exports: the kernel routines that code linked through the kit's import
/// library (rather than `raw-dylib`) calls — the stub and `wdk-sys`/`wdk`. A missing one shows
/// up as an lld-link "undefined symbol" naming it.
const NTOSKRNL_EXPORTS: &[&str] = &[
    "DbgPrint",
    "ExAllocatePoolWithTag",
    "ExFreePoolWithTag",
    "KeBugCheckEx",
    "KeGetCurrentIrql",
    "memcpy",
    "memmove",
    "memset",
    "memcmp",
];

/// What `WdfLdr.lib` exports (fxldr.h): the two calls of the KMDF stub.
const WDFLDR_EXPORTS: &[&str] = &["WdfVersionBind", "WdfVersionUnbind"];

/// Kit libraries wdk-build links that nothing here calls: empty archives satisfy the linker.
const EMPTY_LIBRARIES: &[&str] = &["hal", "wmilib", "BufferOverflowFastFailK"];

/// One textual change to a file of the vendored `wdk-build`: `count` occurrences of `from`.
struct Edit {
    file: &'static str,
    from: &'static str,
    to: &'static str,
    count: usize,
}

/// Marks a patched copy (and lets the patch be applied once).
const PATCH_MARKER: &str = "// wsk-rs: patched for a Linux host by `cargo xtask build`";

/// The patch to wdk-build 0.6 for a Linux host. Each edit says why.
const WDK_BUILD_PATCH: &[Edit] = &[
    // The `windows` crate (registry reads) only on Windows hosts.
    Edit {
        file: "Cargo.toml",
        from: "[dependencies.windows]",
        to: "[target.'cfg(windows)'.dependencies.windows]",
        count: 1,
    },
    Edit {
        file: "Cargo.toml",
        from: "[dev-dependencies.windows]",
        to: "[target.'cfg(windows)'.dev-dependencies.windows]",
        count: 1,
    },
    Edit {
        file: "src/utils.rs",
        from: "use windows::{",
        to: "#[cfg(windows)]\nuse windows::{",
        count: 1,
    },
    Edit {
        file: "src/utils.rs",
        from: "fn read_registry_key_string_value(",
        to: "#[cfg(windows)]\nfn read_registry_key_string_value(",
        count: 1,
    },
    // The registry fallback of detect_wdk_content_root moves into a function that is empty
    // off Windows (WDKContentRoot is always set there).
    Edit {
        file: "src/utils.rs",
        from: "    // Check HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows Kits\\Installed\n    // Roots@KitsRoot10 registry key\n",
        to: "    detect_wdk_content_root_in_registry()\n}\n\n#[cfg(not(windows))]\nfn detect_wdk_content_root_in_registry() -> Option<PathBuf> {\n    None\n}\n\n#[cfg(windows)]\nfn detect_wdk_content_root_in_registry() -> Option<PathBuf> {\n    // Check HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows Kits\\Installed\n    // Roots@KitsRoot10 registry key\n",
        count: 1,
    },
    // set_var/remove_var: the `compile_error!` that refuses other hosts becomes the call.
    Edit {
        file: "src/utils.rs",
        from: "pub fn set_var<K, V>(_key: K, _value: V)",
        to: "pub fn set_var<K, V>(key: K, value: V)",
        count: 1,
    },
    Edit {
        file: "src/utils.rs",
        from: "pub fn remove_var<K>(_key: K)",
        to: "pub fn remove_var<K>(key: K)",
        count: 1,
    },
    Edit {
        file: "src/utils.rs",
        from: "    compile_error!(\n        \"windows-drivers-rs is designed to be run on a Windows host machine in a WDK environment. \\\n         Please build using a Windows target.\"\n    );\n}\n\n/// Safely removes",
        to: "    // SAFETY: only cargo-make's single-threaded helpers call this.\n    unsafe { env::set_var(key, value) }\n}\n\n/// Safely removes",
        count: 1,
    },
    Edit {
        file: "src/utils.rs",
        from: "    compile_error!(\n        \"windows-drivers-rs is designed to be run on a Windows host machine in a WDK environment. \\\n         Please build using a Windows target.\"\n    );\n}",
        to: "    // SAFETY: only cargo-make's single-threaded helpers call this.\n    unsafe { env::remove_var(key) }\n}",
        count: 1,
    },
    // Symbolic links of the cargo-make flow: the Unix call on Unix hosts.
    Edit {
        file: "src/cargo_make.rs",
        from: "std::os::windows::fs::symlink_file(",
        to: "symlink_file(",
        count: 2,
    },
    Edit {
        file: "src/cargo_make.rs",
        from: "use crate::{",
        to: "#[cfg(windows)]\nuse std::os::windows::fs::symlink_file;\n#[cfg(unix)]\nuse std::os::unix::fs::symlink as symlink_file;\n\nuse crate::{",
        count: 1,
    },
    // lld-link has no /KERNEL (it only marks the image for the MSVC toolchain's kernel-mode
    // checks) and no /MAPINFO:EXPORTS; the WDK's link.exe keeps both on Windows hosts.
    Edit {
        file: "src/lib.rs",
        from: "                println!(\"cargo::rustc-cdylib-link-arg=/KERNEL\");\n",
        to: "                if cfg!(windows) {\n                    println!(\"cargo::rustc-cdylib-link-arg=/KERNEL\");\n                }\n",
        count: 2,
    },
    Edit {
        file: "src/lib.rs",
        from: "            println!(\"cargo::rustc-cdylib-link-arg=/MAPINFO:EXPORTS\");\n",
        to: "            if cfg!(windows) {\n                println!(\"cargo::rustc-cdylib-link-arg=/MAPINFO:EXPORTS\");\n            }\n",
        count: 1,
    },
];

/// Paths of the Linux KMDF build.
struct Paths {
    /// `driver/kmdf`: the shell's own workspace.
    shell: PathBuf,
    /// `driver/kmdf/linux-wdk`: the project's KMDF declarations, km wrappers and stub.
    declarations: PathBuf,
    /// `target/kmdf-build`.
    work: PathBuf,
    vendor: PathBuf,
    kit: PathBuf,
    /// Cargo's target folder for the shell: inside `driver/kmdf`, because wdk-build finds the
    /// shell's metadata from the first folder above `OUT_DIR` that holds a `Cargo.lock`.
    shell_target: PathBuf,
}

impl Paths {
    fn new(layout: &Layout) -> Result<Self> {
        let shell = layout.root.join("driver").join("kmdf");
        let work = layout.target.join("kmdf-build");
        // wdk-sys keeps in wdf.rs only declarations from headers whose path contains "wdf":
        // a kit path that contains it would pull the whole kernel header set in there.
        if work.to_string_lossy().to_ascii_lowercase().contains("wdf") {
            bail!(
                "the KMDF kit would live in {}, whose path contains \"wdf\"; wdk-sys would then \
                 treat every header as a WDF header. Set CARGO_TARGET_DIR to a path without it.",
                work.display()
            );
        }
        Ok(Self {
            declarations: shell.join("linux-wdk"),
            shell_target: shell.join("target"),
            vendor: work.join("vendor"),
            kit: work.join("kit"),
            work,
            shell,
        })
    }
}

/// Builds the KMDF shell; returns `target/wskrs/kmdf/wskrs.sys`.
pub(crate) fn build(layout: &Layout) -> Result<PathBuf> {
    let paths = Paths::new(layout)?;
    say("build: KMDF shell (driver/kmdf with wdk 0.5 / wdk-sys 0.5.2 / patched wdk-build 0.6, x86_64-pc-windows-msvc, release)");
    fs::create_dir_all(&paths.work)
        .with_context(|| format!("creating {}", paths.work.display()))?;
    vendor(&paths)?;
    assemble_kit(&paths)?;

    let mut cmd = cargo_for_shell(&paths, "build");
    cmd.args(["--release", "--locked", "--target", TARGET]);
    let status = run_visible(&mut cmd, "cargo build (driver/kmdf)")?;
    if !status.success() {
        bail!("building the KMDF shell failed ({status})");
    }
    let dll = paths
        .shell_target
        .join(TARGET)
        .join("release")
        .join("wskrs.dll");
    if !dll.is_file() {
        bail!("cargo built driver/kmdf but {} is missing", dll.display());
    }
    let sys = kmdf_sys(layout);
    if let Some(dir) = sys.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    copy_atomic(&dll, &sys)?;
    let imports = check_imports(&sys)?;
    say(&format!(
        "build: KMDF shell imports {} (allowed: {})",
        imports.into_iter().collect::<Vec<_>>().join(", "),
        ALLOWED_IMPORTS.join(", ")
    ));
    Ok(sys)
}

/// `cargo clippy` of the KMDF shell for its target, warnings denied. Returns whether it passed.
pub(crate) fn clippy(layout: &Layout) -> Result<bool> {
    let paths = Paths::new(layout)?;
    fs::create_dir_all(&paths.work)
        .with_context(|| format!("creating {}", paths.work.display()))?;
    vendor(&paths)?;
    assemble_kit(&paths)?;
    say("clippy: KMDF shell (x86_64-pc-windows-msvc, -D warnings)");
    let mut cmd = cargo_for_shell(&paths, "clippy");
    cmd.args([
        "--release",
        "--locked",
        "--target",
        TARGET,
        "--",
        "-D",
        "warnings",
    ]);
    Ok(run_visible(&mut cmd, "cargo clippy (driver/kmdf)")?.success())
}

/// A cargo command for a stand-alone KMDF crate in `dir` (`examples/kmdf-echo-client`, or one
/// made by `new-driver --kmdf`), wired as the shell's is: the vendored crates (its locked
/// versions must be among the shell's: the vendored set is the shell's), the patched
/// wdk-build, the kit, lld-link; its target folder inside the crate (see [`Paths`]).
pub(crate) fn cargo_for_crate(layout: &Layout, dir: &Path, subcommand: &str) -> Result<Command> {
    let paths = Paths::new(layout)?;
    fs::create_dir_all(&paths.work)
        .with_context(|| format!("creating {}", paths.work.display()))?;
    vendor(&paths)?;
    assemble_kit(&paths)?;
    let mut cmd = cargo_for_shell(&paths, subcommand);
    cmd.current_dir(dir)
        .env("CARGO_TARGET_DIR", dir.join("target"));
    Ok(cmd)
}

/// Where the KMDF image is collected.
pub(crate) fn kmdf_sys(layout: &Layout) -> PathBuf {
    layout.out.join("kmdf").join("wskrs.sys")
}

/// A cargo command for the shell's workspace with the Linux kit wired in: `subcommand`, then
/// the configuration (after the subcommand, so `cargo clippy` hands it on to `cargo check`).
fn cargo_for_shell(paths: &Paths, subcommand: &str) -> Command {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(program);
    let vendor = paths.vendor.to_string_lossy().into_owned();
    cmd.args([
        subcommand,
        "--config",
        "source.crates-io.replace-with=\"wskrs-kmdf-vendored\"",
        "--config",
        &format!("source.wskrs-kmdf-vendored.directory={vendor:?}"),
        // The shell's config names link.exe (the WDK flow on Windows); here it is lld-link.
        "--config",
        "target.x86_64-pc-windows-msvc.linker=\"lld-link\"",
    ]);
    // From the shell's folder, so its .cargo/config.toml (+crt-static) applies.
    cmd.current_dir(&paths.shell);
    cmd.env("WDKContentRoot", &paths.kit)
        .env("CARGO_TARGET_DIR", &paths.shell_target)
        .env("CC_x86_64_pc_windows_msvc", "clang")
        .env("AR_x86_64_pc_windows_msvc", "llvm-lib")
        // Environment RUSTFLAGS would replace the shell's config (and drop +crt-static).
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS");
    cmd
}

/// `cargo vendor --locked` of the shell's dependencies, redone when its `Cargo.lock` changes;
/// then the wdk-build patch.
fn vendor(paths: &Paths) -> Result<()> {
    let lock = fs::read_to_string(paths.shell.join("Cargo.lock"))
        .context("reading driver/kmdf/Cargo.lock")?;
    let stamp = paths.work.join("vendor.stamp");
    let fresh = fs::read_to_string(&stamp).is_ok_and(|s| s == lock) && paths.vendor.is_dir();
    if !fresh {
        say("build: vendoring driver/kmdf's dependencies (cargo vendor --locked)");
        let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(program);
        cmd.current_dir(&paths.shell)
            .args(["vendor", "--locked", "--versioned-dirs", "--quiet"])
            .arg(&paths.vendor);
        output(&mut cmd, "cargo vendor (driver/kmdf)")?;
        fs::write(&stamp, &lock).with_context(|| format!("writing {}", stamp.display()))?;
    }
    let version = locked_version(&lock, "wdk-build")?;
    patch_wdk_build(&paths.vendor.join(format!("wdk-build-{version}")))
}

/// The version of `name` in a Cargo.lock.
fn locked_version(lock: &str, name: &str) -> Result<String> {
    let needle = format!("name = \"{name}\"\nversion = \"");
    let start = lock
        .find(&needle)
        .with_context(|| format!("{name} is not in driver/kmdf/Cargo.lock"))?
        + needle.len();
    let rest = lock.get(start..).unwrap_or_default();
    let end = rest.find('"').context("malformed Cargo.lock")?;
    Ok(rest.get(..end).unwrap_or_default().to_owned())
}

/// Applies [`WDK_BUILD_PATCH`] to the vendored copy (once) and drops its per-file checksums
/// (the package checksum, which Cargo.lock pins, stays).
fn patch_wdk_build(dir: &Path) -> Result<()> {
    let lib = dir.join("src").join("lib.rs");
    let lib_text =
        fs::read_to_string(&lib).with_context(|| format!("reading {}", lib.display()))?;
    if lib_text.starts_with(PATCH_MARKER) {
        return Ok(());
    }
    let mut files: Vec<(&str, String)> = Vec::new();
    for edit in WDK_BUILD_PATCH {
        if !files.iter().any(|(name, _)| *name == edit.file) {
            let path = dir.join(edit.file);
            // The crate ships CRLF line endings; the patch is written with LF.
            let text = fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?
                .replace("\r\n", "\n");
            files.push((edit.file, text));
        }
        let Some((_, text)) = files.iter_mut().find(|(name, _)| *name == edit.file) else {
            bail!("internal: patch file table");
        };
        let found = text.matches(edit.from).count();
        if found != edit.count {
            bail!(
                "patching wdk-build: expected {} occurrence(s) of {:?} in {}, found {found} \
                 (a different wdk-build version? the patch is for 0.6.0)",
                edit.count,
                edit.from,
                edit.file
            );
        }
        *text = text.replace(edit.from, edit.to);
    }
    for (name, text) in &files {
        let text = if *name == "src/lib.rs" {
            format!("{PATCH_MARKER}\n{text}")
        } else {
            text.clone()
        };
        let path = dir.join(name);
        fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    if !files.iter().any(|(name, _)| *name == "src/lib.rs") {
        fs::write(&lib, format!("{PATCH_MARKER}\n{lib_text}"))
            .with_context(|| format!("writing {}", lib.display()))?;
    }
    let checksum = dir.join(".cargo-checksum.json");
    let mut json: Value = serde_json::from_str(
        &fs::read_to_string(&checksum)
            .with_context(|| format!("reading {}", checksum.display()))?,
    )
    .with_context(|| format!("parsing {}", checksum.display()))?;
    json["files"] = Value::Object(serde_json::Map::new());
    fs::write(&checksum, json.to_string())
        .with_context(|| format!("writing {}", checksum.display()))?;
    say("build: patched the vendored wdk-build for a Linux host");
    Ok(())
}

/// Writes `bytes` to `path` unless it already holds them (unchanged files keep their mtime,
/// so cargo does not rebuild the bindings).
pub(crate) fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<bool> {
    if fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(false);
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(true)
}

pub(crate) fn symlink_dir(target: &Path, link: &Path) -> Result<()> {
    if fs::read_link(link).is_ok_and(|t| t == target) {
        return Ok(());
    }
    let _ = fs::remove_file(link);
    std::os::unix::fs::symlink(target, link)
        .with_context(|| format!("linking {} -> {}", link.display(), target.display()))
}

/// The WDK-shaped root: headers, import libraries and the stub library. A changed header
/// makes wdk-sys generate its bindings again ([`forget_wdk_sys`]).
fn assemble_kit(paths: &Paths) -> Result<()> {
    let wine = PathBuf::from(
        std::env::var("WSK_BINDINGS_WINE_INCLUDE")
            .unwrap_or_else(|_| "/usr/include/wine/wine".into()),
    );
    if !wine.join("windows/ddk/wsk.h").is_file() {
        bail!(
            "{}/windows/ddk/wsk.h not found: install Wine's headers (Debian libwine-dev; `cargo xtask setup`)",
            wine.display()
        );
    }
    let include = paths.kit.join("Include").join(KIT_VERSION);
    let km = include.join("km");
    fs::create_dir_all(km.join("ufx").join("1.1"))
        .with_context(|| format!("creating {}", km.display()))?;
    fs::create_dir_all(include.join("um")).context("creating the kit's um folder")?;
    symlink_dir(&wine.join("msvcrt"), &km.join("crt"))?;
    symlink_dir(&wine.join("windows"), &include.join("shared"))?;
    let mut headers_changed = false;
    let decl_km = paths.declarations.join("km");
    for entry in fs::read_dir(&decl_km).with_context(|| format!("reading {}", decl_km.display()))? {
        let entry = entry?;
        let bytes = fs::read(entry.path())?;
        headers_changed |= write_if_changed(&km.join(entry.file_name()), &bytes)?;
    }
    let wdf_include = paths
        .kit
        .join("Include")
        .join("wdf")
        .join("kmdf")
        .join(KMDF_VERSION);
    let wdf_h = fs::read(paths.declarations.join("wdf.h")).context("reading linux-wdk/wdf.h")?;
    headers_changed |= write_if_changed(&wdf_include.join("wdf.h"), &wdf_h)?;
    if headers_changed {
        forget_wdk_sys(&paths.shell_target)?;
    }

    let km_lib = paths
        .kit
        .join("Lib")
        .join(KIT_VERSION)
        .join("km")
        .join("x64");
    let wdf_lib = paths
        .kit
        .join("Lib")
        .join("wdf")
        .join("kmdf")
        .join("x64")
        .join(KMDF_VERSION);
    fs::create_dir_all(&km_lib).with_context(|| format!("creating {}", km_lib.display()))?;
    fs::create_dir_all(&wdf_lib).with_context(|| format!("creating {}", wdf_lib.display()))?;
    import_library(&km_lib, "ntoskrnl", "ntoskrnl.exe", NTOSKRNL_EXPORTS)?;
    import_library(&wdf_lib, "WdfLdr", "WDFLDR.SYS", WDFLDR_EXPORTS)?;
    for name in EMPTY_LIBRARIES {
        let lib = km_lib.join(format!("{name}.lib"));
        if !lib.is_file() {
            let mut cmd = Command::new("llvm-ar");
            cmd.arg("rcs").arg(&lib);
            tool(&mut cmd, "llvm-ar")?;
        }
    }
    stub_library(paths, &include, &wdf_include, &wdf_lib)
}

/// Makes the next build read the kit's headers again: removes cargo's fingerprints of
/// wdk-sys under `target` (the shell's target directory; its build script watches
/// `WDKContentRoot`, not the headers under it) and wdk-macros' cache of the WDF function
/// table (`build/scratch-*/out/wdk_macros_ast_fragments*`, which it never refreshes).
fn forget_wdk_sys(target: &Path) -> Result<()> {
    let mut dirs = vec![(target.to_path_buf(), 0)];
    while let Some((dir, depth)) = dirs.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let stale = (dir.ends_with(".fingerprint") && name.starts_with("wdk-sys-"))
                || (dir.ends_with("out") && name.starts_with("wdk_macros_ast_fragments"));
            if stale {
                fs::remove_dir_all(&path)
                    .with_context(|| format!("removing {}", path.display()))?;
            } else if path.is_dir() && depth < 5 && !matches!(name.as_str(), "deps" | "incremental")
            {
                dirs.push((path, depth + 1));
            }
        }
    }
    Ok(())
}

/// An import library `<name>.lib` for `dll` made from a generated .def file.
fn import_library(dir: &Path, name: &str, dll: &str, exports: &[&str]) -> Result<()> {
    let def = dir.join(format!("{name}.def"));
    let text = format!("LIBRARY {dll}\nEXPORTS\n{}\n", exports.join("\n"));
    let lib = dir.join(format!("{name}.lib"));
    if write_if_changed(&def, text.as_bytes())? || !lib.is_file() {
        let mut cmd = Command::new("llvm-dlltool");
        cmd.args(["-m", "i386:x86-64", "-d"])
            .arg(&def)
            .arg("-l")
            .arg(&lib);
        tool(&mut cmd, "llvm-dlltool")?;
    }
    Ok(())
}

/// `WdfDriverEntry.lib`: the project's `FxDriverEntry` (fx_driver_entry.c) compiled by clang
/// for the driver's target against the kit's headers.
fn stub_library(paths: &Paths, include: &Path, wdf_include: &Path, wdf_lib: &Path) -> Result<()> {
    let source = paths.declarations.join("fx_driver_entry.c");
    let obj = wdf_lib.join("fx_driver_entry.obj");
    let lib = wdf_lib.join("WdfDriverEntry.lib");
    let newer = |out: &Path, inputs: &[&Path]| {
        let Ok(out_time) = fs::metadata(out).and_then(|m| m.modified()) else {
            return false;
        };
        inputs.iter().all(|i| {
            fs::metadata(i)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t <= out_time)
        })
    };
    let wdf_h = wdf_include.join("wdf.h");
    if newer(&lib, &[&source, &wdf_h]) {
        return Ok(());
    }
    let mut cmd = Command::new("clang");
    cmd.args([
        "--target=x86_64-pc-windows-msvc",
        "-fms-extensions",
        "-fms-compatibility",
        "-Wall",
        "-Werror",
        "-Wno-pragma-pack",
        "-O2",
        "-D_WIN64",
        "-D_AMD64_",
        "-DAMD64",
        "-D_KERNEL_MODE",
        "-DKMDF_VERSION_MAJOR=1",
        "-DKMDF_VERSION_MINOR=33",
        "-c",
    ]);
    for dir in [
        include.join("km").join("crt"),
        include.join("km"),
        include.join("shared"),
        wdf_include.to_path_buf(),
    ] {
        cmd.arg(format!("-I{}", dir.display()));
    }
    cmd.arg(&source).arg("-o").arg(&obj);
    tool(&mut cmd, "clang (fx_driver_entry.c)")?;
    let mut cmd = Command::new("llvm-lib");
    cmd.arg(format!("/out:{}", lib.display())).arg(&obj);
    tool(&mut cmd, "llvm-lib")
}

fn tool(cmd: &mut Command, what: &str) -> Result<()> {
    output(cmd, what).map(drop)
}

/// Runs a short tool to completion; its stdout, or an error with everything it printed.
fn output(cmd: &mut Command, what: &str) -> Result<String> {
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("starting {what} (is it installed? `cargo xtask setup`)"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The DLLs a PE image imports (llvm-readobj --coff-imports); fails on any outside
/// [`ALLOWED_IMPORTS`] and when `WDFLDR.SYS` is missing.
pub(crate) fn check_imports(image: &Path) -> Result<BTreeSet<String>> {
    let mut cmd = Command::new("llvm-readobj");
    cmd.arg("--coff-imports").arg(image);
    let listing = output(&mut cmd, "llvm-readobj --coff-imports")?;
    let dlls: BTreeSet<String> = listing
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Name: "))
        .map(str::to_owned)
        .collect();
    let unexpected: Vec<&String> = dlls
        .iter()
        .filter(|d| !ALLOWED_IMPORTS.iter().any(|a| a.eq_ignore_ascii_case(d)))
        .collect();
    if !unexpected.is_empty() {
        bail!(
            "{} imports DLLs no runtime here provides: {unexpected:?}",
            image.display()
        );
    }
    if !dlls.iter().any(|d| d.eq_ignore_ascii_case("WDFLDR.SYS")) {
        bail!(
            "{} does not import WDFLDR.SYS: it is not bound to KMDF",
            image.display()
        );
    }
    Ok(dlls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locked_version_reads_the_lock_entry() {
        let lock = "[[package]]\nname = \"wdk\"\nversion = \"0.5.0\"\n\n[[package]]\nname = \"wdk-build\"\nversion = \"0.6.0\"\nsource = \"x\"\n";
        assert_eq!(locked_version(lock, "wdk-build").unwrap(), "0.6.0");
        assert_eq!(locked_version(lock, "wdk").unwrap(), "0.5.0");
        assert!(locked_version(lock, "wdk-sys").is_err());
    }

    #[test]
    fn patch_edits_are_distinct_and_change_something() {
        for edit in WDK_BUILD_PATCH {
            assert_ne!(edit.from, edit.to);
            assert!(edit.count >= 1);
        }
    }
}

#[cfg(test)]
mod declaration_tests {
    //! The KMDF declarations (driver/kmdf/linux-wdk/wdf.h) as facts: the function table is
    //! whole and in order, and agrees with indices published independently of the header it
    //! was taken from.

    /// `(name, index)` of every `<Name>TableIndex = N,` line of `_WDFFUNCENUM`.
    fn table() -> Vec<(String, usize)> {
        let header = include_str!("../../driver/kmdf/linux-wdk/wdf.h");
        let start = header
            .find("typedef enum _WDFFUNCENUM {")
            .expect("the enum is declared");
        let end = header[start..]
            .find("} WDFFUNCENUM;")
            .expect("the enum ends")
            + start;
        header[start..end]
            .lines()
            .filter_map(|line| {
                let (name, rest) = line.trim().split_once("TableIndex = ")?;
                Some((name.to_owned(), rest.trim_end_matches(',').parse().ok()?))
            })
            .collect()
    }

    #[test]
    fn function_table_has_458_entries_in_order() {
        let table = table();
        assert_eq!(table.len(), 458);
        for (position, (name, index)) in table.iter().enumerate() {
            assert_eq!(*index, position, "{name}");
        }
        let mut names: Vec<&String> = table.iter().map(|(n, _)| n).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 458, "a name appears twice");
        let header = include_str!("../../driver/kmdf/linux-wdk/wdf.h");
        assert!(header.contains("WdfFunctionTableNumEntries = 458,"));
    }

    #[test]
    fn indices_agree_with_other_published_bindings() {
        // Indices other public KMDF bindings use (and the first and last entries of 1.33).
        let table = table();
        let index = |name: &str| table.iter().find(|(n, _)| n == name).map(|(_, i)| *i);
        for (name, expected) in [
            ("WdfChildListCreate", 0),
            ("WdfDeviceInitSetPnpPowerEventCallbacks", 55),
            ("WdfDeviceInitSetFileObjectConfig", 71),
            ("WdfDeviceCreate", 75),
            ("WdfDeviceCreateSymbolicLink", 80),
            ("WdfDriverCreate", 116),
            ("WdfFileObjectGetDevice", 139),
            ("WdfIoQueueCreate", 152),
            ("WdfRequestMarkCancelableEx", 393),
            ("WdfDeviceSetDeviceInterfaceStateEx", 457),
        ] {
            assert_eq!(index(name), Some(expected), "{name}");
        }
    }

    #[test]
    fn every_pfn_type_names_a_table_entry() {
        // The wdk-sys macro pairs PFN_<NAME> with <Name>TableIndex; a PFN_ without an entry
        // would be callable by nobody, and a misspelt one would hide a DDI.
        let header = include_str!("../../driver/kmdf/linux-wdk/wdf.h");
        let table = table();
        let mut checked = 0;
        // `(NTAPI *PFN_WDFDRIVERCREATE)`, `(FASTCALL *PFN_WDF...)`; callback types are
        // `PFN_WDF_...` (an underscore after WDF) and are not DDIs.
        for part in header.split("*PFN_WDF").skip(1) {
            let upper: String = part
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect();
            if upper.is_empty() {
                continue;
            }
            let found = table
                .iter()
                .any(|(n, _)| n.to_ascii_uppercase() == format!("WDF{upper}"));
            assert!(found, "PFN_WDF{upper} has no table entry");
            checked += 1;
        }
        assert!(checked >= 30, "only {checked} PFN types found");
    }
}
