//! Optional tracing for debugging the provider under Wine: set `WSKRS_PROVIDER_TRACE` to a
//! file path (lines are appended) or to `1` (standard error) in Wine's environment.

use std::io::Write;
use std::sync::OnceLock;

use wsk_bindings::{NtStatus, IRP};

enum Sink {
    Off,
    Stderr,
    File(std::sync::Mutex<std::fs::File>),
}

fn sink() -> &'static Sink {
    static SINK: OnceLock<Sink> = OnceLock::new();
    SINK.get_or_init(|| match std::env::var_os("WSKRS_PROVIDER_TRACE") {
        None => Sink::Off,
        Some(v) if v == "1" => Sink::Stderr,
        Some(path) => std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_or(Sink::Off, |f| Sink::File(std::sync::Mutex::new(f))),
    })
}

/// Whether tracing is on (one load from the switches' line, `switches.rs`).
#[inline]
pub(crate) fn on() -> bool {
    use crate::switches::{SWITCHES, TRACE_OFF, TRACE_ON};
    match SWITCHES.trace.load(std::sync::atomic::Ordering::Relaxed) {
        TRACE_OFF => false,
        TRACE_ON => true,
        _ => first_look(),
    }
}

/// Opens the sink on the first look and publishes whether it is on.
#[cold]
#[inline(never)]
fn first_look() -> bool {
    use crate::switches::{SWITCHES, TRACE_OFF, TRACE_ON};
    let on = !matches!(sink(), Sink::Off);
    let state = if on { TRACE_ON } else { TRACE_OFF };
    SWITCHES
        .trace
        .store(state, std::sync::atomic::Ordering::Relaxed);
    on
}

/// Writes one trace line when tracing is on, like `format!`; with tracing off the arguments
/// are not even evaluated (the request path names and sizes its requests for the trace).
macro_rules! trace_line {
    ($($arg:tt)*) => {
        if $crate::trace::on() {
            $crate::trace::line(format_args!($($arg)*));
        }
    };
}
pub(crate) use trace_line;

/// Writes one trace line (when tracing is on), prefixed with the Windows thread id.
pub(crate) fn line(args: std::fmt::Arguments<'_>) {
    // SAFETY: no preconditions.
    let tid = unsafe { windows_sys::Win32::System::Threading::GetCurrentThreadId() };
    match sink() {
        Sink::Off => {}
        Sink::Stderr => {
            let _ = writeln!(std::io::stderr(), "wsk-provider: [{tid:04x}] {args}");
        }
        Sink::File(f) => {
            if let Ok(mut f) = f.lock() {
                let _ = writeln!(f, "wsk-provider: [{tid:04x}] {args}");
            }
        }
    }
}

/// Traces an IRP completion.
pub(crate) fn irp_completed(irp: *mut IRP, status: NtStatus, information: usize) {
    trace_line!("complete irp {irp:p}: {status:?}, information {information:#x}");
}
