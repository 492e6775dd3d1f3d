//! Generates the raw WSK/NT bindings with bindgen.
//!
//! Header set: the WDK's `ntddk.h` + `wsk.h` when `WDKContentRoot` is set (a Windows host
//! with a WDK), otherwise Wine's `ddk/wdm.h` + `ddk/wsk.h` (Debian `libwine-dev`). Clang always
//! parses for `x86_64-pc-windows-msvc`, and C integer types map through `crate::ctypes`, so the
//! generated layouts are the x64 Windows ones whatever the Rust target (host unit tests included).
//!
//! Without either header set (docs.rs, a machine without `libwine-dev`), the bindings generated
//! once from Wine's headers and checked in (`pregenerated/`) are used instead, with a
//! warning; `tests/pregenerated.rs` fails when they differ from a fresh generation. What was
//! used is written to `OUT_DIR/bindings-source.txt` (`wdk`, `wine` or `pregenerated`).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Functions imported from ntoskrnl.exe that the header set declares.
const NTOSKRNL_FUNCTIONS: &[&str] = &[
    "IoAllocateIrp",
    "IoFreeIrp",
    "IoReuseIrp",
    "IoCancelIrp",
    "IoAllocateMdl",
    "IoFreeMdl",
    "MmBuildMdlForNonPagedPool",
    "ExAllocatePoolWithTag",
    "ExFreePoolWithTag",
    "KeInitializeEvent",
    "KeSetEvent",
    "KeClearEvent",
    "KeWaitForSingleObject",
    "KeDelayExecutionThread",
    "KeAcquireSpinLockRaiseToDpc",
    "KeReleaseSpinLock",
    "IoCreateDevice",
    "IoDeleteDevice",
    "IoCreateSymbolicLink",
    "IoDeleteSymbolicLink",
    "IoAllocateWorkItem",
    "IoQueueWorkItem",
    "IoFreeWorkItem",
    "RtlInitUnicodeString",
    "MmMapLockedPagesSpecifyCache",
    "KeBugCheckEx",
    // The WSK provider for Wine (tests/wsk-provider): IRP cancellation.
    "IoAcquireCancelSpinLock",
    "IoReleaseCancelSpinLock",
    // Periodic timers with a DPC (the driver's request deadlines).
    "KeInitializeTimer",
    "KeSetTimerEx",
    "KeCancelTimer",
    "KeInitializeDpc",
    // The driver's parameters in its service key (load-time limits).
    "ZwOpenKey",
    "ZwQueryValueKey",
];

/// Functions exported by NETIO.SYS.
const NETIO_FUNCTIONS: &[&str] = &[
    "WskRegister",
    "WskDeregister",
    "WskCaptureProviderNPI",
    "WskReleaseProviderNPI",
];

/// Types the wrappers use (their dependencies come along).
const TYPES: &[&str] = &[
    "IRP",
    "IO_STACK_LOCATION",
    "DRIVER_OBJECT",
    "DEVICE_OBJECT",
    "FILE_OBJECT",
    "MDL",
    "KEVENT",
    "KSPIN_LOCK",
    "KIRQL",
    "LARGE_INTEGER",
    "UNICODE_STRING",
    "IO_WORKITEM",
    "PIO_WORKITEM_ROUTINE",
    "PIO_COMPLETION_ROUTINE",
    "PDRIVER_DISPATCH",
    "PDRIVER_UNLOAD",
    "SOCKADDR",
    "SOCKADDR_IN",
    "SOCKADDR_IN6",
    "SOCKADDR_STORAGE",
    "ADDRINFOEXW",
    "WSK_.*",
    "PFN_WSK_.*",
    // Typedef names that appear in the imported functions' signatures.
    "EVENT_TYPE",
    "KPRIORITY",
    "KWAIT_REASON",
    "PCWSTR",
    "PIO_WORKITEM",
    "PIRP",
    "POOL_TYPE",
    "PRKEVENT",
    "WORK_QUEUE_TYPE",
    "PMDLX",
    "MEMORY_CACHING_TYPE",
    "MM_PAGE_PRIORITY",
    "KTIMER",
    "KDPC",
    "PKDEFERRED_ROUTINE",
    "PDRIVER_CANCEL",
    // Reading the service key's parameters (ZwOpenKey, ZwQueryValueKey).
    "OBJECT_ATTRIBUTES",
    "KEY_VALUE_PARTIAL_INFORMATION",
    "KEY_VALUE_INFORMATION_CLASS",
    "PHANDLE",
];

/// Constants (object-like macros and enum values).
const VARS: &[&str] = &[
    "WSK_.*",
    "IRP_MJ_.*",
    "SL_INVOKE_ON_.*",
    "FILE_DEVICE_.*",
    "FILE_DEVICE_SECURE_OPEN",
    "IO_NO_INCREMENT",
    "POOL_TYPE",
    "NonPagedPool.*",
    "EVENT_TYPE",
    "NotificationEvent",
    "SynchronizationEvent",
    "KWAIT_REASON",
    "Executive",
    "KernelMode",
    "WORK_QUEUE_TYPE",
    "DelayedWorkQueue",
    "MmCached",
    "NormalPagePriority",
    "AF_INET",
    "AF_INET6",
    "AF_UNSPEC",
    "SOCK_STREAM",
    "SOCK_DGRAM",
    "IPPROTO_TCP",
    "IPPROTO_UDP",
    // The WSK provider for Wine (tests/wsk-provider): where an MDL's system address is.
    "MDL_MAPPED_TO_SYSTEM_VA",
    "MDL_SOURCE_IS_NONPAGED_POOL",
    // IoMarkIrpPending sets this bit in the current stack location's Control.
    "SL_PENDING_RETURNED",
    // Reading the service key's parameters.
    "KEY_QUERY_VALUE",
    "KeyValuePartialInformation",
    "REG_DWORD",
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=include");
    println!("cargo:rerun-if-changed=src/missing.rs");
    println!("cargo:rerun-if-env-changed=WDKContentRoot");
    println!("cargo:rerun-if-env-changed=WSK_BINDINGS_WINE_INCLUDE");
    println!("cargo:rerun-if-changed=pregenerated");

    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let (source, (header, args)) = if let Some(root) = env::var_os("WDKContentRoot") {
        ("wdk", wdk_setup(&manifest, Path::new(&root)))
    } else if let Some(setup) = wine_setup(&manifest) {
        ("wine", setup)
    } else {
        use_pregenerated(&manifest, &out);
        return;
    };
    write_source(&out, source);
    let hand_declared = hand_declared_names(&manifest.join("src/missing.rs"));

    let types = builder(&header, &args, &hand_declared)
        .with_codegen_config(bindgen::CodegenConfig::TYPES | bindgen::CodegenConfig::VARS)
        .allowlist_type(TYPES.join("|"))
        .allowlist_var(VARS.join("|"))
        // Functions only contribute the types of their parameters.
        .allowlist_function(
            NTOSKRNL_FUNCTIONS
                .iter()
                .chain(NETIO_FUNCTIONS)
                .copied()
                .collect::<Vec<_>>()
                .join("|"),
        );
    write(&types, &out.join("types.rs"), None);

    let ntoskrnl = builder(&header, &args, &hand_declared)
        .with_codegen_config(bindgen::CodegenConfig::FUNCTIONS)
        .allowlist_function(NTOSKRNL_FUNCTIONS.join("|"));
    write(&ntoskrnl, &out.join("ntoskrnl.rs"), Some("ntoskrnl.exe"));

    let netio = builder(&header, &args, &hand_declared)
        .with_codegen_config(bindgen::CodegenConfig::FUNCTIONS)
        .allowlist_function(NETIO_FUNCTIONS.join("|"));
    write(&netio, &out.join("netio.rs"), Some("NETIO.SYS"));
}

/// Every name `src/missing.rs` declares (`pub const|static|fn|struct|type|enum|union NAME`),
/// so that bindgen never generates one of them: the WDK's headers define many of the names
/// Wine's lack (`WSK_CACHE_SD`, `IPPROTO_TCP`, `WSK_CLIENT_DATAGRAM_DISPATCH`, ...), and the
/// two glob re-exports of lib.rs would then be ambiguous. The hand declaration wins, with the
/// same type under both header sets.
fn hand_declared_names(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", path.display())));
    let mut names: Vec<String> = text
        .lines()
        .filter_map(|line| {
            let rest = line.trim_start().strip_prefix("pub ")?;
            let rest = rest.strip_prefix("unsafe ").unwrap_or(rest);
            let (kind, rest) = rest.split_once(' ')?;
            if !matches!(
                kind,
                "const" | "static" | "fn" | "struct" | "type" | "enum" | "union"
            ) {
                return None;
            }
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            (!name.is_empty()).then_some(name)
        })
        .collect();
    names.sort();
    names.dedup();
    if names.is_empty() {
        fail(&format!("no declarations found in {}", path.display()));
    }
    names
}

/// bindgen settings shared by every pass.
fn builder(header: &Path, args: &[String], hand_declared: &[String]) -> bindgen::Builder {
    hand_declared
        .iter()
        .fold(
            bindgen::Builder::default(),
            bindgen::Builder::blocklist_item,
        )
        .header(header.to_string_lossy())
        .clang_args(args)
        .use_core()
        .ctypes_prefix("crate::ctypes")
        .layout_tests(true)
        .derive_default(true)
        .derive_debug(false)
        .default_enum_style(bindgen::EnumVariation::Consts)
        .prepend_enum_name(false)
        .must_use_type("NTSTATUS")
        .merge_extern_blocks(true)
        .generate_comments(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
}

/// Runs bindgen; for function passes, attaches the raw-dylib import of `dll`.
fn write(builder: &bindgen::Builder, path: &Path, dll: Option<&str>) {
    let code = match builder.clone().generate() {
        Ok(bindings) => bindings.to_string(),
        Err(e) => fail(&format!("bindgen failed: {e}")),
    };
    let code = match dll {
        None => code,
        Some(dll) => {
            let attr = format!(
                "#[cfg_attr(windows, link(name = \"{dll}\", kind = \"raw-dylib\", modifiers = \"+verbatim\"))]\n"
            );
            let code = code.replace("unsafe extern \"C\" {", "extern \"C\" {");
            if !code.contains("extern \"C\" {") {
                fail(&format!("no functions generated for {dll}"));
            }
            code.replace("extern \"C\" {", &format!("{attr}extern \"system\" {{"))
        }
    };
    if let Err(e) = std::fs::write(path, code) {
        fail(&format!("cannot write {}: {e}", path.display()));
    }
}

fn common_args() -> Vec<String> {
    vec![
        "--target=x86_64-pc-windows-msvc".into(),
        "-D_WIN64".into(),
        "-D_AMD64_".into(),
        "-fms-extensions".into(),
        "-fms-compatibility".into(),
    ]
}

/// The bindings checked in under `pregenerated/` (generated from Wine's headers by this
/// script), for a machine with neither header set.
const PREGENERATED: [&str; 3] = ["types.rs", "ntoskrnl.rs", "netio.rs"];

fn use_pregenerated(manifest: &Path, out: &Path) {
    println!(
        "cargo:warning=wsk-bindings: no WDK (WDKContentRoot) and no Wine headers (libwine-dev): \
         using the bindings checked in under pregenerated/"
    );
    for file in PREGENERATED {
        let from = manifest.join("pregenerated").join(file);
        if let Err(e) = std::fs::copy(&from, out.join(file)) {
            fail(&format!("cannot copy {}: {e}", from.display()));
        }
    }
    write_source(out, "pregenerated");
}

fn write_source(out: &Path, source: &str) {
    let path = out.join("bindings-source.txt");
    if let Err(e) = std::fs::write(&path, source) {
        fail(&format!("cannot write {}: {e}", path.display()));
    }
}

/// Linux host: Wine's headers, with clang's own resource headers (stdarg.h, ...); `None` when
/// they are not installed.
fn wine_setup(manifest: &Path) -> Option<(PathBuf, Vec<String>)> {
    let wine =
        env::var("WSK_BINDINGS_WINE_INCLUDE").unwrap_or_else(|_| "/usr/include/wine/wine".into());
    let wine = PathBuf::from(wine);
    if !wine.join("windows/ddk/wsk.h").exists() {
        return None;
    }
    let mut args = common_args();
    args.push("-nostdinc".into());
    args.push(format!("-isystem{}", clang_resource_include().display()));
    args.push(format!("-I{}", wine.join("msvcrt").display()));
    args.push(format!("-I{}", wine.join("windows").display()));
    Some((manifest.join("include/wine.h"), args))
}

/// Windows host: the WDK's kernel-mode headers (never exercised on the Linux machines).
fn wdk_setup(manifest: &Path, root: &Path) -> (PathBuf, Vec<String>) {
    let include = root.join("Include");
    let version = env::var("WDK_VERSION")
        .ok()
        .or_else(|| newest_subdir(&include));
    let Some(version) = version else {
        fail(&format!("no WDK version found under {}", include.display()));
    };
    let base = include.join(version);
    let mut args = common_args();
    for sub in ["km", "shared", "um", "km/crt"] {
        args.push(format!("-I{}", base.join(sub).display()));
    }
    (manifest.join("include/wdk.h"), args)
}

fn newest_subdir(dir: &Path) -> Option<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.starts_with("10."))
        .collect();
    names.sort();
    names.pop()
}

/// clang's resource include directory (stdarg.h, stddef.h) without depending on a version.
fn clang_resource_include() -> PathBuf {
    if let Ok(out) = Command::new("clang").arg("-print-resource-dir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("include");
        if dir.join("stdarg.h").exists() {
            return dir;
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("llvm-"))
        .flat_map(|e| {
            std::fs::read_dir(e.path().join("lib/clang"))
                .into_iter()
                .flatten()
        })
        .filter_map(Result::ok)
        .map(|e| e.path().join("include"))
        .filter(|p| p.join("stdarg.h").exists())
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| {
        fail("clang's resource headers not found: install clang and libclang-dev (or run `cargo xtask setup`)")
    })
}

fn fail(msg: &str) -> ! {
    eprintln!("wsk-bindings: {msg}");
    std::process::exit(1);
}
