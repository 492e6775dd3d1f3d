//! The runtime's voice: every line goes to `DbgPrint` (Wine shows it with
//! `WINEDEBUG=warn+debugstr`), to standard error (seen when a console program links the
//! runtime, as the self-test does; Wine's driver host has no standard error handle, so Rust
//! drops them there), and to [`LOG_FILE`] in the
//! prefix (`target/wine/prefix/drive_c/windows/temp/wskrs-kmdf-runtime.log`); each line is
//! prefixed `wdfldr:`.

use std::ffi::CString;
use std::io::Write as _;

use crate::sys;

/// Where the lines are appended: a fixed file in the prefix (the driver host gets its
/// environment from the service manager, not from the harness, so no variable can name it).
/// The harness (`xtask/src/shell.rs`) deletes it when a KMDF session starts.
pub(crate) const LOG_FILE: &str = r"C:\windows\temp\wskrs-kmdf-runtime.log";

/// The log file, opened once, appended to.
fn file() -> Option<&'static std::sync::Mutex<std::fs::File>> {
    static FILE: std::sync::OnceLock<Option<std::sync::Mutex<std::fs::File>>> =
        std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(LOG_FILE)
        {
            Ok(file) => Some(std::sync::Mutex::new(file)),
            Err(err) => {
                dbg_print(&format!("wdfldr: cannot open {LOG_FILE}: {err}"));
                None
            }
        }
    })
    .as_ref()
}

/// Writes one line.
pub(crate) fn line(args: std::fmt::Arguments<'_>) {
    let text = format!("wdfldr: {args}");
    let _ = writeln!(std::io::stderr(), "{text}");
    if let Some(file) = file() {
        if let Ok(mut f) = file.lock() {
            let _ = writeln!(f, "{text}");
        }
    }
    dbg_print(&text);
}

/// One line through DbgPrint.
fn dbg_print(text: &str) {
    if let Ok(c) = CString::new(format!("{}\n", text.replace('\0', " "))) {
        // SAFETY: a "%s" format with one NUL-terminated string argument, both live across
        // the call.
        let _ = unsafe { sys::DbgPrint(c"%s".as_ptr(), c.as_ptr()) };
    }
}

/// `log!(...)`: one line, formatted.
macro_rules! log {
    ($($arg:tt)*) => { $crate::log::line(format_args!($($arg)*)) };
}
pub(crate) use log;

/// `WDF_VIOLATION`, the bug check KMDF raises when a driver breaks its rules.
pub(crate) const WDF_VIOLATION: u32 = 0x10D;

/// A framework rule broken (or a DDI the runtime lacks): says what, then bug-checks with
/// WDF_VIOLATION (Wine's KeBugCheckEx ends the driver host), so no test passes over it.
pub(crate) fn violation(what: &str, detail: usize) -> ! {
    line(format_args!(
        "VIOLATION: {what}; bug check WDF_VIOLATION (0x10D)"
    ));
    // SAFETY: KeBugCheckEx takes plain values and never returns.
    unsafe { sys::KeBugCheckEx(WDF_VIOLATION, 0xEEEE, detail as u64, 0, 0) }
}
