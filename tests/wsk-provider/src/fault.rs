//! Fault injection for client tests, read at each `WskRegister` (which restarts every count):
//!
//! - `WSKRS_PROVIDER_FAULT=N:STATUS[:every]` fails the Nth provider operation (socket creation,
//!   bind, or any overlapped request, counted from 1) with `STATUS` (hex, e.g. `0xC0000236`),
//!   once, or every Nth with `:every`.
//! - `WSKRS_PROVIDER_DELAY=MS[:N[:every]]` delays the completion of overlapped requests (those
//!   with an IRP: accept, connect, send, receive, send-to, receive-from, disconnect with data)
//!   by `MS` milliseconds: all of them, or the Nth (counted from 1), or every Nth. The request
//!   is parked on a timer after Winsock completed it (see `delay.rs`); cancelling or closing
//!   completes it at once with `STATUS_CANCELLED`.
//! - `WSKRS_PROVIDER_DROP=N[:every]` resets the Nth connection accepted or connected (counted
//!   from 1), or every Nth, right after its first completed send or receive (see
//!   `Socket::drop_connection`).
//! - `WSKRS_PROVIDER_HOLD_CLOSE=MS` completes every `WskCloseSocket` `MS` milliseconds late
//!   (see `Socket::finish_close`); also read from `HKCU\Environment`, so that a test can
//!   switch it for the next driver load without restarting Wine.

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

/// Reads the switches (each `WskRegister` restarts the counts).
pub(crate) fn configure() {
    let var = |name: &str| std::env::var(name).ok();
    match var("WSKRS_PROVIDER_FAULT").as_deref().and_then(parse) {
        Some((nth, status, every)) => {
            STATUS.store(status, Ordering::SeqCst);
            FAULT.set(nth, every);
            #[cfg(windows)]
            crate::trace::line(format_args!(
                "fault injection: operation {nth} fails with {status:#x} (every: {every})"
            ));
        }
        None => FAULT.set(0, false),
    }
    match var("WSKRS_PROVIDER_DELAY").as_deref().and_then(parse_delay) {
        Some((ms, nth, every)) => {
            DELAY_MS.store(ms, Ordering::SeqCst);
            // No N: every request (every 1st).
            DELAY.set(nth.unwrap_or(1), every || nth.is_none());
            #[cfg(windows)]
            crate::trace::line(format_args!(
                "fault injection: completions delayed by {ms} ms (request {nth:?}, every: {every})"
            ));
        }
        None => DELAY.set(0, false),
    }
    match var("WSKRS_PROVIDER_DROP").as_deref().and_then(parse_drop) {
        Some((nth, every)) => {
            DROP.set(nth, every);
            #[cfg(windows)]
            crate::trace::line(format_args!(
                "fault injection: connection {nth} is reset after its first send or receive \
                 (every: {every})"
            ));
        }
        None => DROP.set(0, false),
    }
    // Also read from the registry, so that a test can switch it for the next registration
    // without restarting Wine (a service's environment is fixed when Wine starts).
    let hold = var("WSKRS_PROVIDER_HOLD_CLOSE")
        .or_else(|| registry_environment("WSKRS_PROVIDER_HOLD_CLOSE"))
        .as_deref()
        .and_then(|v| number(Some(v)))
        .unwrap_or(0);
    HOLD_CLOSE_MS.store(hold, Ordering::SeqCst);
    #[cfg(windows)]
    if hold > 0 {
        crate::trace::line(format_args!(
            "fault injection: every WskCloseSocket completes {hold} ms late"
        ));
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

/// Counts one operation; returns the status to fail it with, when it is the chosen one.
pub(crate) fn inject() -> Option<NtStatus> {
    FAULT
        .hit()
        .then(|| NtStatus::from_u32(STATUS.load(Ordering::Relaxed)))
}

/// Counts one overlapped request (with an IRP); returns how long to hold back its completion,
/// when it is a chosen one.
pub(crate) fn delay() -> Option<Duration> {
    DELAY
        .hit()
        .then(|| Duration::from_millis(DELAY_MS.load(Ordering::Relaxed)))
}

/// Counts one established connection (accepted or connected); whether to reset it after its
/// first completed send or receive.
pub(crate) fn drop_connection() -> bool {
    DROP.hit()
}

/// How long a `WskCloseSocket` is held before it completes, if `WSKRS_PROVIDER_HOLD_CLOSE`
/// is on.
pub(crate) fn hold_close() -> Option<Duration> {
    let ms = HOLD_CLOSE_MS.load(Ordering::Relaxed);
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
    use super::{parse, parse_delay, parse_drop};

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
