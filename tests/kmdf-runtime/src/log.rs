//! The runtime's voice: every line goes to `DbgPrint` (Wine shows it with
//! `WINEDEBUG=warn+debugstr`) and to the driver host's standard error (the harness's
//! `target/wine/logs/wine.log`), prefixed `wdfldr:`.

use std::ffi::CString;
use std::io::Write as _;

use crate::sys;

/// Writes one line.
pub(crate) fn line(args: std::fmt::Arguments<'_>) {
    let text = format!("wdfldr: {args}");
    let _ = writeln!(std::io::stderr(), "{text}");
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
    line(format_args!("VIOLATION: {what}; bug check WDF_VIOLATION (0x10D)"));
    // SAFETY: KeBugCheckEx takes plain values and never returns.
    unsafe { sys::KeBugCheckEx(WDF_VIOLATION, 0xEEEE, detail as u64, 0, 0) }
}
