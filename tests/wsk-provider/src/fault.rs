//! Fault injection for client tests, read at each `WskRegister` (which restarts every count):
//!
//! - `WSKRS_PROVIDER_FAULT=N:STATUS[:every]` fails the Nth provider operation (socket creation,
//!   bind, or any overlapped request, counted from 1) with `STATUS` (hex, e.g. `0xC0000236`),
//!   once, or every Nth with `:every`.
//! - `WSKRS_PROVIDER_FAULT_OP=KIND[,KIND...]` narrows `WSKRS_PROVIDER_FAULT` to operations of
//!   those kinds (only they are counted): `socket`, `bind` (of a socket that is not a listen
//!   socket), `listen` (`WskListen`, and `WskBind` of a listen socket, which starts
//!   listening), `connect`, `accept`, `send`, `receive`, `send-to`, `receive-from`,
//!   `disconnect` (graceful, with or without data; abortive), `control` (`WskControlSocket`
//!   option gets and sets and socket I/O controls). With the narrowing on, those kinds are
//!   the only operations that can fail.
//! - `WSKRS_PROVIDER_DELAY=MS[:N[:every]]` delays the completion of overlapped requests (those
//!   with an IRP: accept, connect, send, receive, send-to, receive-from, disconnect with data)
//!   by `MS` milliseconds: all of them, or the Nth (counted from 1), or every Nth. The request
//!   is parked on a timer after Winsock completed it (see `delay.rs`); cancelling or closing
//!   completes it at once with `STATUS_CANCELLED`.
//! - `WSKRS_PROVIDER_DROP=N[:every]` resets the Nth connection accepted or connected (counted
//!   from 1), or every Nth, right after its first completed send or receive (see
//!   `Socket::drop_connection`).
//! - `WSKRS_PROVIDER_HOLD_CLOSE=MS` completes every `WskCloseSocket` `MS` milliseconds late
//!   (see `Socket::finish_close`).
//! - `WSKRS_PROVIDER_HOLD_RESOLVE=MS` completes every `WskGetAddressInfo` `MS` milliseconds
//!   late (its resolver thread waits first), as a slow name server would.
//!
//! Every switch is read from the environment first, then from `HKCU\Environment`, so that a
//! test can switch it for the next driver load without restarting Wine (a service's
//! environment is fixed when Wine starts). With `HKCU\Environment\WSKRS_PROVIDER_SWITCHES`
//! set to `registry`, only the registry counts: Wine may run the next driver load in a driver
//! host (winedevice.exe) started during an earlier test, whose environment holds the
//! switches in force then (seen: the fault matrix's cells took an earlier cell's switches).

// Parsed on any host (unit test); used only by the Windows build.
#![cfg_attr(not(windows), allow(dead_code))]

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use wsk_bindings::NtStatus;

/// One "the Nth, or every Nth" choice with its count.
struct Choice {
    /// 0 = off; else the number that is chosen (with `every`: each multiple of it).
    nth: AtomicU64,
    every: AtomicBool,
    count: AtomicU64,
}

impl Choice {
    const fn new() -> Self {
        Self {
            nth: AtomicU64::new(0),
            every: AtomicBool::new(false),
            count: AtomicU64::new(0),
        }
    }

    /// Restarts the count and sets the choice (`nth` 0 = off).
    fn set(&self, nth: u64, every: bool) {
        self.count.store(0, Ordering::SeqCst);
        self.every.store(every, Ordering::SeqCst);
        self.nth.store(nth, Ordering::SeqCst);
        publish();
    }

    /// Counts one; whether it is a chosen one.
    fn hit(&self) -> bool {
        let nth = self.nth.load(Ordering::Relaxed);
        if nth == 0 {
            return false;
        }
        let n = self.count.fetch_add(1, Ordering::SeqCst).wrapping_add(1);
        if self.every.load(Ordering::Relaxed) {
            n % nth == 0
        } else {
            n == nth
        }
    }
}

/// Publishes whether any choice is on (`switches.rs`): with none, a request reads one flag
/// and counts nothing.
fn publish() {
    let any = [&FAULT, &DELAY, &DROP]
        .iter()
        .any(|c| c.nth.load(Ordering::SeqCst) != 0);
    crate::switches::SWITCHES
        .faults
        .store(any, Ordering::SeqCst);
}

/// `WSKRS_PROVIDER_FAULT`: which operations fail.
static FAULT: Choice = Choice::new();
static STATUS: AtomicU32 = AtomicU32::new(0);
/// `WSKRS_PROVIDER_DELAY`: which requests are delayed, and by how many milliseconds.
static DELAY: Choice = Choice::new();
static DELAY_MS: AtomicU64 = AtomicU64::new(0);
/// `WSKRS_PROVIDER_DROP`: which connections are reset.
static DROP: Choice = Choice::new();
/// `WSKRS_PROVIDER_HOLD_CLOSE`: milliseconds every `WskCloseSocket` is held (0: off).
static HOLD_CLOSE_MS: AtomicU64 = AtomicU64::new(0);
/// `WSKRS_PROVIDER_HOLD_RESOLVE`: milliseconds every `WskGetAddressInfo` is held (0: off).
static HOLD_RESOLVE_MS: AtomicU64 = AtomicU64::new(0);
/// `WSKRS_PROVIDER_FAULT_OP`: the kinds of [`KINDS`] that `WSKRS_PROVIDER_FAULT` counts, one
/// bit each (0: every operation).
static FAULT_KINDS: AtomicU32 = AtomicU32::new(0);

/// The operation kinds `WSKRS_PROVIDER_FAULT_OP` names, in bit order.
pub(crate) const KINDS: [&str; 10] = [
    "socket",
    "bind",
    "listen",
    "connect",
    "accept",
    "send",
    "receive",
    "send-to",
    "receive-from",
    "disconnect",
];

/// The kind `control`, apart from [`KINDS`]: option calls are failed only when named.
const CONTROL_BIT: u32 = 1 << KINDS.len();

/// The bit of `kind` (`control` included), or `None` for a name that is not a kind.
fn kind_bit(kind: &str) -> Option<u32> {
    if kind == "control" {
        return Some(CONTROL_BIT);
    }
    let index = KINDS.iter().position(|k| *k == kind)?;
    Some(1 << index)
}

/// `KIND[,KIND...]` as a mask (`None` if a name is not a kind).
fn parse_kinds(v: &str) -> Option<u32> {
    v.split(',')
        .map(|k| kind_bit(k.trim()))
        .try_fold(0u32, |mask, bit| Some(mask | bit?))
        .filter(|mask| *mask != 0)
}

/// A switch from the environment, else from `HKCU\Environment`; only from the registry when
/// `HKCU\Environment\WSKRS_PROVIDER_SWITCHES` is `registry` (see the module's comment).
fn switch(name: &str) -> Option<String> {
    if registry_environment("WSKRS_PROVIDER_SWITCHES").as_deref() == Some("registry") {
        return registry_environment(name);
    }
    std::env::var(name)
        .ok()
        .or_else(|| registry_environment(name))
}

/// Reads the switches (each `WskRegister` restarts the counts).
pub(crate) fn configure() {
    let var = switch;
    match var("WSKRS_PROVIDER_FAULT").as_deref().and_then(parse) {
        Some((nth, status, every)) => {
            STATUS.store(status, Ordering::SeqCst);
            FAULT.set(nth, every);
            #[cfg(windows)]
            crate::trace::trace_line!(
                "fault injection: operation {nth} fails with {status:#x} (every: {every})"
            );
        }
        None => FAULT.set(0, false),
    }
    let kinds = var("WSKRS_PROVIDER_FAULT_OP")
        .as_deref()
        .and_then(parse_kinds)
        .unwrap_or(0);
    FAULT_KINDS.store(kinds, Ordering::SeqCst);
    #[cfg(windows)]
    if kinds != 0 {
        crate::trace::trace_line!(
            "fault injection: only operations of kinds {kinds:#x} are counted"
        );
    }
    match var("WSKRS_PROVIDER_DELAY").as_deref().and_then(parse_delay) {
        Some((ms, nth, every)) => {
            DELAY_MS.store(ms, Ordering::SeqCst);
            // No N: every request (every 1st).
            DELAY.set(nth.unwrap_or(1), every || nth.is_none());
            #[cfg(windows)]
            crate::trace::trace_line!(
                "fault injection: completions delayed by {ms} ms (request {nth:?}, every: {every})"
            );
        }
        None => DELAY.set(0, false),
    }
    match var("WSKRS_PROVIDER_DROP").as_deref().and_then(parse_drop) {
        Some((nth, every)) => {
            DROP.set(nth, every);
            #[cfg(windows)]
            crate::trace::trace_line!(
                "fault injection: connection {nth} is reset after its first send or receive \
                 (every: {every})"
            );
        }
        None => DROP.set(0, false),
    }
    for (name, held, call) in [
        (
            "WSKRS_PROVIDER_HOLD_CLOSE",
            &HOLD_CLOSE_MS,
            "WskCloseSocket",
        ),
        (
            "WSKRS_PROVIDER_HOLD_RESOLVE",
            &HOLD_RESOLVE_MS,
            "WskGetAddressInfo",
        ),
    ] {
        let hold = var(name)
            .as_deref()
            .and_then(|v| number(Some(v)))
            .unwrap_or(0);
        held.store(hold, Ordering::SeqCst);
        #[cfg(windows)]
        if hold > 0 {
            crate::trace::trace_line!("fault injection: every {call} completes {hold} ms late");
        }
        #[cfg(not(windows))]
        let _ = call;
    }
}

/// A count from 1.
fn number(part: Option<&str>) -> Option<u64> {
    part?.trim().parse::<u64>().ok().filter(|n| *n > 0)
}

/// Whether an optional last part says `every` (anything else there is refused).
fn every(part: Option<&str>) -> Option<bool> {
    match part.map(str::trim) {
        None => Some(false),
        Some("every") => Some(true),
        Some(_) => None,
    }
}

fn parse(v: &str) -> Option<(u64, u32, bool)> {
    let mut parts = v.split(':');
    let nth = number(parts.next())?;
    let status = parts.next()?.trim();
    let status =
        u32::from_str_radix(status.trim_start_matches("0x").trim_start_matches("0X"), 16).ok()?;
    let every = parts.next().is_some_and(|p| p.trim() == "every");
    Some((nth, status, every))
}

/// `MS[:N[:every]]`.
fn parse_delay(v: &str) -> Option<(u64, Option<u64>, bool)> {
    let mut parts = v.split(':');
    let ms = number(parts.next())?;
    let nth = match parts.next() {
        None => return Some((ms, None, false)),
        some => number(some)?,
    };
    let every = every(parts.next())?;
    parts.next().is_none().then_some((ms, Some(nth), every))
}

/// `N[:every]`.
fn parse_drop(v: &str) -> Option<(u64, bool)> {
    let mut parts = v.split(':');
    let nth = number(parts.next())?;
    let every = every(parts.next())?;
    parts.next().is_none().then_some((nth, every))
}

/// Counts one operation of `kind` (a name of [`KINDS`], or another operation's name, which
/// `WSKRS_PROVIDER_FAULT_OP` never selects); returns the status to fail it with, when it is
/// the chosen one.
pub(crate) fn inject(kind: &str) -> Option<NtStatus> {
    injected(kind, true)
}

/// Like [`inject`], for the operations `WSKRS_PROVIDER_FAULT` counts only when
/// `WSKRS_PROVIDER_FAULT_OP` names them (`listen` through `WskListen`, a `disconnect` without
/// data, `control`): without the narrowing the count stays what it always was.
pub(crate) fn inject_named(kind: &str) -> Option<NtStatus> {
    injected(kind, false)
}

#[inline]
fn injected(kind: &str, unnarrowed: bool) -> Option<NtStatus> {
    if !crate::switches::faults() {
        return None;
    }
    counted(kind, unnarrowed)
}

#[cold]
fn counted(kind: &str, unnarrowed: bool) -> Option<NtStatus> {
    let kinds = FAULT_KINDS.load(Ordering::Relaxed);
    // (The kind is looked up only when the count is narrowed: every request passes here.)
    let counted = if kinds == 0 {
        unnarrowed
    } else {
        kind_bit(kind).is_some_and(|bit| kinds & bit != 0)
    };
    (counted && FAULT.hit()).then(|| NtStatus::from_u32(STATUS.load(Ordering::Relaxed)))
}

/// Counts one overlapped request (with an IRP); returns how long to hold back its completion,
/// when it is a chosen one.
#[inline]
pub(crate) fn delay() -> Option<Duration> {
    if !crate::switches::faults() {
        return None;
    }
    delayed()
}

#[cold]
fn delayed() -> Option<Duration> {
    DELAY
        .hit()
        .then(|| Duration::from_millis(DELAY_MS.load(Ordering::Relaxed)))
}

/// Counts one established connection (accepted or connected); whether to reset it after its
/// first completed send or receive.
pub(crate) fn drop_connection() -> bool {
    crate::switches::faults() && DROP.hit()
}

/// How long a `WskCloseSocket` is held before it completes, if `WSKRS_PROVIDER_HOLD_CLOSE`
/// is on.
pub(crate) fn hold_close() -> Option<Duration> {
    let ms = HOLD_CLOSE_MS.load(Ordering::Relaxed);
    (ms > 0).then(|| Duration::from_millis(ms))
}

/// How long a `WskGetAddressInfo` is held before it resolves, if
/// `WSKRS_PROVIDER_HOLD_RESOLVE` is on.
pub(crate) fn hold_resolve() -> Option<Duration> {
    let ms = HOLD_RESOLVE_MS.load(Ordering::Relaxed);
    (ms > 0).then(|| Duration::from_millis(ms))
}

/// `HKCU\Environment\<name>` as a string, read now.
#[cfg(windows)]
fn registry_environment(name: &str) -> Option<String> {
    use windows_sys::Win32::System::Registry::{RegGetValueW, HKEY_CURRENT_USER, RRF_RT_REG_SZ};
    let wide = |s: &str| s.encode_utf16().chain([0]).collect::<Vec<u16>>();
    let (key, value) = (wide("Environment"), wide(name));
    let mut data = [0u16; 64];
    let mut size = u32::try_from(size_of_val(&data)).unwrap_or(0);
    // SAFETY: NUL-terminated names; `data` has `size` writable bytes.
    let r = unsafe {
        RegGetValueW(
            HKEY_CURRENT_USER,
            key.as_ptr(),
            value.as_ptr(),
            RRF_RT_REG_SZ,
            std::ptr::null_mut(),
            data.as_mut_ptr().cast(),
            &raw mut size,
        )
    };
    if r != 0 {
        return None;
    }
    let len = data.iter().position(|&c| c == 0).unwrap_or(data.len());
    String::from_utf16(data.get(..len)?).ok()
}

#[cfg(not(windows))]
fn registry_environment(_: &str) -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::{parse, parse_delay, parse_drop, parse_kinds, CONTROL_BIT};

    /// The only test that sets the switches' state.
    #[test]
    fn the_narrowing_counts_only_the_named_kinds() {
        use super::{inject, inject_named, NtStatus, Ordering, FAULT, FAULT_KINDS, STATUS};
        STATUS.store(0xC000_009A, Ordering::SeqCst);
        // With every choice off, a request reads the published flag and counts nothing.
        assert!(!crate::switches::faults());
        assert_eq!(inject("send"), None);
        // Unnarrowed: every operation but the named-only ones counts; the 2nd fails.
        FAULT_KINDS.store(0, Ordering::SeqCst);
        FAULT.set(2, false);
        assert!(crate::switches::faults());
        assert_eq!(inject_named("control"), None);
        assert_eq!(inject("socket"), None);
        assert_eq!(
            inject("receive-event").map(NtStatus::as_u32),
            Some(0xC000_009A)
        );
        // Narrowed to accept and control: the 2nd of those, every time.
        FAULT_KINDS.store(parse_kinds("accept,control").unwrap_or(0), Ordering::SeqCst);
        FAULT.set(2, true);
        assert_eq!(inject("send"), None);
        assert_eq!(inject("accept"), None);
        assert_eq!(inject("receive-event"), None);
        assert!(inject_named("control").is_some());
        assert_eq!(inject("socket"), None);
        assert_eq!(inject("accept"), None);
        assert!(inject("accept").is_some());
        FAULT.set(0, false);
        FAULT_KINDS.store(0, Ordering::SeqCst);
        assert!(!crate::switches::faults());
    }

    #[test]
    fn parses_the_kinds() {
        assert_eq!(parse_kinds("socket"), Some(1));
        assert_eq!(parse_kinds("accept, send"), Some(1 << 4 | 1 << 5));
        assert_eq!(parse_kinds("control"), Some(CONTROL_BIT));
        assert_eq!(parse_kinds("disconnect"), Some(1 << 9));
        assert_eq!(parse_kinds("accept,nonsense"), None);
        assert_eq!(parse_kinds(""), None);
    }

    #[test]
    fn parses_the_switch() {
        assert_eq!(parse("3:0xC0000236"), Some((3, 0xC000_0236, false)));
        assert_eq!(parse("2:c0000120:every"), Some((2, 0xC000_0120, true)));
        assert_eq!(parse("0:0xC0000236"), None);
        assert_eq!(parse("x"), None);
    }

    #[test]
    fn parses_the_delay_switch() {
        assert_eq!(parse_delay("250"), Some((250, None, false)));
        assert_eq!(parse_delay("250:3"), Some((250, Some(3), false)));
        assert_eq!(parse_delay("250:2:every"), Some((250, Some(2), true)));
        assert_eq!(parse_delay("0"), None);
        assert_eq!(parse_delay("250:0"), None);
        assert_eq!(parse_delay("250:2:sometimes"), None);
        assert_eq!(parse_delay("x"), None);
    }

    #[test]
    fn parses_the_drop_switch() {
        assert_eq!(parse_drop("1"), Some((1, false)));
        assert_eq!(parse_drop("3:every"), Some((3, true)));
        assert_eq!(parse_drop("0"), None);
        assert_eq!(parse_drop("2:x"), None);
        assert_eq!(parse_drop(""), None);
    }
}
