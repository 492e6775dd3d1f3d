//! Fault injection for client tests: `WSKRS_PROVIDER_FAULT=N:STATUS` (read at `WskRegister`)
//! fails the Nth provider operation (socket creation, bind, or any overlapped request,
//! counted from 1 since that registration) with `STATUS` (hex, e.g. `0xC0000236`), once.
//! `N:STATUS:every` fails every Nth operation instead.

// Parsed on any host (unit test); used only by the Windows build.
#![cfg_attr(not(windows), allow(dead_code))]

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use wsk_bindings::NtStatus;

/// 0 = off; else the operation number that fails.
static NTH: AtomicU64 = AtomicU64::new(0);
static STATUS: AtomicU32 = AtomicU32::new(0);
static EVERY: AtomicU32 = AtomicU32::new(0);
static COUNT: AtomicU64 = AtomicU64::new(0);

/// Reads the switch (each `WskRegister` restarts the count).
pub(crate) fn configure() {
    COUNT.store(0, Ordering::SeqCst);
    let Some((nth, status, every)) = std::env::var("WSKRS_PROVIDER_FAULT")
        .ok()
        .and_then(|v| parse(&v))
    else {
        NTH.store(0, Ordering::SeqCst);
        return;
    };
    STATUS.store(status, Ordering::SeqCst);
    EVERY.store(u32::from(every), Ordering::SeqCst);
    NTH.store(nth, Ordering::SeqCst);
    #[cfg(windows)]
    crate::trace::line(format_args!(
        "fault injection: operation {nth} fails with {status:#x} (every: {every})"
    ));
}

fn parse(v: &str) -> Option<(u64, u32, bool)> {
    let mut parts = v.split(':');
    let nth = parts
        .next()?
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)?;
    let status = parts.next()?.trim();
    let status =
        u32::from_str_radix(status.trim_start_matches("0x").trim_start_matches("0X"), 16).ok()?;
    let every = parts.next().is_some_and(|p| p.trim() == "every");
    Some((nth, status, every))
}

/// Counts one operation; returns the status to fail it with, when it is the chosen one.
pub(crate) fn inject() -> Option<NtStatus> {
    let nth = NTH.load(Ordering::Relaxed);
    if nth == 0 {
        return None;
    }
    let n = COUNT.fetch_add(1, Ordering::SeqCst).wrapping_add(1);
    let hit = if EVERY.load(Ordering::Relaxed) != 0 {
        n % nth == 0
    } else {
        n == nth
    };
    hit.then(|| NtStatus::from_u32(STATUS.load(Ordering::Relaxed)))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn parses_the_switch() {
        assert_eq!(parse("3:0xC0000236"), Some((3, 0xC000_0236, false)));
        assert_eq!(parse("2:c0000120:every"), Some((2, 0xC000_0120, true)));
        assert_eq!(parse("0:0xC0000236"), None);
        assert_eq!(parse("x"), None);
    }
}
