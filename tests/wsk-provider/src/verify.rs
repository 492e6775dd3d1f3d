//! `WSKRS_PROVIDER_VERIFY=1` or `=<windows path>` (read at each `WskRegister`, off by
//! default): makes client mistakes visible where Windows would punish them, each reported
//! with the WSK function and the socket it was called on, as one line starting with
//! [`PREFIX`] on standard error (`1`) or appended to the file (a path: the driver host,
//! started by services.exe, has no standard error anyone reads), and in the trace:
//!
//! - an IRP handed to the provider while a request on it is still in flight (Windows would
//!   corrupt the IRP's stack or bugcheck): refused, `STATUS_INVALID_PARAMETER`, the IRP
//!   untouched;
//! - an IRP without a stack location for the provider (`IoAllocateIrp(0, ..)`, or one whose
//!   locations are used up; Windows bugchecks with NO_MORE_IRP_STACK_LOCATIONS): refused the
//!   same way;
//! - `WskRelease` of an indication chain the provider did not hand out or that was released
//!   already (Windows would free it twice): reported, `STATUS_INVALID_PARAMETER` as without
//!   the switch;
//! - a call on a socket whose `WskCloseSocket` has begun (a second close included; once the
//!   close completed, Windows may have freed the socket): reported, the call fails as without
//!   the switch.
//!
//! A completion routine that ignores `Irp->PendingReturned`, or a buffer or MDL freed while a
//! request holds it, cannot be seen from here (the provider does not run the client's
//! routines' logic, and Wine's `IoFreeMdl` does not tell it); the conformance suite's
//! `wdm.*` checks cover the provider's side of the pending protocol.

use std::collections::HashSet;
use std::ffi::c_void;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// How every report line starts (the harness looks for it).
pub(crate) const PREFIX: &str = "wsk-provider verifier:";
/// Printed on standard error at each `WskRegister` with the switch on (the harness checks
/// that a verified run really had it on).
pub(crate) const ON_LINE: &str = "wsk-provider: verifier on (WSKRS_PROVIDER_VERIFY)";

/// The report file (`None`: standard error).
static SINK: Mutex<Option<std::fs::File>> = Mutex::new(None);
static REPORTS: AtomicU64 = AtomicU64::new(0);
/// IRPs the provider holds (only tracked while the switch is on).
static IN_FLIGHT: Mutex<Option<HashSet<usize>>> = Mutex::new(None);

fn with_in_flight<R>(f: impl FnOnce(&mut HashSet<usize>) -> R) -> R {
    let mut guard = IN_FLIGHT.lock().unwrap_or_else(PoisonError::into_inner);
    f(guard.get_or_insert_with(HashSet::new))
}

/// Reads `WSKRS_PROVIDER_VERIFY` (`1`: on, reports on standard error; another non-empty
/// value: on, reports appended to that file; unset or empty: off).
pub(crate) fn configure() {
    let value = std::env::var_os("WSKRS_PROVIDER_VERIFY").filter(|v| !v.is_empty());
    let file = value.as_ref().filter(|v| *v != "1").and_then(|path| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()
    });
    *SINK.lock().unwrap_or_else(PoisonError::into_inner) = file;
    let on = value.is_some();
    crate::switches::SWITCHES.verify.store(on, Ordering::SeqCst);
    if on {
        write_line(format_args!("{ON_LINE}"));
    }
}

/// One line to the report sink and the trace.
fn write_line(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut sink = SINK.lock().unwrap_or_else(PoisonError::into_inner);
    match sink.as_mut() {
        Some(f) => {
            let _ = writeln!(f, "{line}");
        }
        None => eprintln!("{line}"),
    }
    drop(sink);
    crate::trace::line(line);
}

/// Whether the switch is on (published in `switches.rs`).
#[inline]
pub(crate) fn on() -> bool {
    crate::switches::SWITCHES.verify.load(Ordering::Relaxed)
}

/// Reports one client mistake.
pub(crate) fn report(op: &str, socket: *const c_void, what: std::fmt::Arguments<'_>) {
    REPORTS.fetch_add(1, Ordering::SeqCst);
    write_line(format_args!("{PREFIX} {op} on socket {socket:p}: {what}"));
}

/// Reports made since the process started (for the self-test).
pub(crate) fn reports() -> u64 {
    REPORTS.load(Ordering::SeqCst)
}

/// The provider takes `irp` for `op` on `socket`: false (reported) when the verifier is on and
/// the IRP is in flight already or has no stack location left for the provider.
///
/// # Safety
/// `irp` is a live IRP.
pub(crate) unsafe fn take(irp: *mut wsk_bindings::IRP, op: &str, socket: *const c_void) -> bool {
    if !on() {
        return true;
    }
    if !with_in_flight(|set| set.insert(irp as usize)) {
        report(
            op,
            socket,
            format_args!("IRP {irp:p} reused while a request on it is in flight"),
        );
        return false;
    }
    // SAFETY: the caller guarantees a live IRP; CurrentLocation is a plain CHAR.
    let location = unsafe { (*irp).CurrentLocation };
    if location <= 1 {
        with_in_flight(|set| set.remove(&(irp as usize)));
        report(
            op,
            socket,
            format_args!(
                "IRP {irp:p} has no stack location for the provider (CurrentLocation {location})"
            ),
        );
        return false;
    }
    true
}

/// A call on a socket whose `WskCloseSocket` has begun (`closing`): reported (Windows may
/// free the socket once the close completes; until then calls fail, as here).
pub(crate) fn after_close(op: &str, socket: *const c_void, closing: bool) {
    if closing && on() {
        report(
            op,
            socket,
            format_args!("called after WskCloseSocket on this socket began"),
        );
    }
}

/// The provider is about to complete `irp` (the client may reuse it from its completion
/// routine on).
pub(crate) fn release(irp: *mut wsk_bindings::IRP) {
    if on() {
        with_in_flight(|set| set.remove(&(irp as usize)));
    }
}
