//! Logging to the kernel debugger without allocating: [`log!`](macro@crate::log) (and [`crate::error!`],
//! [`crate::warn!`], [`crate::info!`], [`crate::trace!`]) format into a [`Line`] on the stack
//! and print it with one `DbgPrintEx(DPFLTR_IHVDRIVER_ID, level, "%s", line)`.
//!
//! Under Wine the message goes to the `debugstr` channel at the `warn` level: start the first
//! Wine process of the session with `WINEDEBUG=warn+debugstr` to see it (Wine prints it as
//! `warn:debugstr:vDbgPrintExWithPrefix 0000004d:00000008: text`). On Windows, a debugger or
//! DebugView shows it when the `IHVDRIVER` component's filter passes the level
//! (`ed nt!Kd_IHVDRIVER_Mask 0xf`); `Error` always passes.
//!
//! ```
//! # use wskrs_fake_kernel as fake;
//! let peer: core::net::SocketAddr = "127.0.0.1:7".parse().unwrap();
//! wsk::info!("echo received from {peer}: {} bytes", 5);
//! # assert!(fake::debug_print::messages().iter().any(|m| m.level == 3
//! #     && m.text == "echo received from 127.0.0.1:7: 5 bytes\n"));
//! ```

use core::fmt;

use wsk_bindings as sys;

/// A message's level, the `Level` of `DbgPrintEx` (the `DPFLTR_*_LEVEL` values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Level {
    /// `DPFLTR_ERROR_LEVEL`: shown by default on Windows.
    Error = sys::DPFLTR_ERROR_LEVEL,
    /// `DPFLTR_WARNING_LEVEL`.
    Warning = sys::DPFLTR_WARNING_LEVEL,
    /// `DPFLTR_TRACE_LEVEL`.
    Trace = sys::DPFLTR_TRACE_LEVEL,
    /// `DPFLTR_INFO_LEVEL`.
    Info = sys::DPFLTR_INFO_LEVEL,
}

/// Bytes a [`Line`] holds, its newline and NUL included; longer messages are cut and end in
/// `...`. (Windows' `DbgPrintEx` itself prints at most 512 bytes per call; kernel stacks are
/// small, so a line stays well below.)
pub const LINE_CAPACITY: usize = 256;

/// A message being formatted: a fixed buffer on the stack, always NUL-terminated.
///
/// # Invariants
/// `len <= LINE_CAPACITY - 2` (room for the newline and the NUL), and `bytes[..len]` holds no
/// NUL byte.
pub struct Line {
    bytes: [u8; LINE_CAPACITY],
    len: usize,
    cut: bool,
}

/// The room for text: the newline and the NUL are added by [`Line::finish`].
const TEXT_CAPACITY: usize = LINE_CAPACITY - 2;
const ELLIPSIS: &[u8; 3] = b"...";
/// Where the ellipsis of a cut line starts.
const CUT_AT: usize = TEXT_CAPACITY - ELLIPSIS.len();

impl Line {
    /// An empty line. IRQL: any.
    #[must_use]
    pub const fn new() -> Self {
        // INVARIANT: empty.
        Self {
            bytes: [0; LINE_CAPACITY],
            len: 0,
            cut: false,
        }
    }

    /// The text so far, without newline or NUL (cut text ends in `...` once finished).
    #[must_use]
    pub fn text(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }

    /// True if text was cut because it did not fit.
    #[must_use]
    pub fn was_cut(&self) -> bool {
        self.cut
    }

    /// Ends the text with a newline and a NUL (marking a cut with `...`); the C string to
    /// print. IRQL: any.
    fn finish(&mut self) -> &core::ffi::CStr {
        if self.cut {
            if let Some(tail) = self.bytes.get_mut(CUT_AT..TEXT_CAPACITY) {
                tail.copy_from_slice(ELLIPSIS);
            }
            // INVARIANT: TEXT_CAPACITY, and the ellipsis holds no NUL.
            self.len = TEXT_CAPACITY;
        }
        if let Some(end) = self.bytes.get_mut(self.len..self.len.saturating_add(2)) {
            end.copy_from_slice(b"\n\0");
        }
        // The invariant keeps every byte before `len` non-NUL and the NUL at `len + 1`.
        core::ffi::CStr::from_bytes_until_nul(&self.bytes).unwrap_or_default()
    }

    /// Prints the line with `DbgPrintEx(DPFLTR_IHVDRIVER_ID, level, "%s", line)`.
    /// IRQL <= DIRQL (the line is on the caller's stack, which is nonpaged).
    pub fn print(mut self, level: Level) {
        let text = self.finish();
        // SAFETY: "%s" and `text` are NUL-terminated and live across the call; `%s` reads
        // exactly one `char*` argument, which is passed.
        let _ = unsafe {
            sys::DbgPrintEx(
                sys::DPFLTR_IHVDRIVER_ID,
                level as u32,
                c"%s".as_ptr(),
                text.as_ptr(),
            )
        };
    }
}

impl Default for Line {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Write for Line {
    /// Appends what fits; NUL bytes become `?` (a NUL would end the C string early). Never
    /// fails: a message too long is cut, not lost.
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &byte in s.as_bytes() {
            let slot = match self.bytes.get_mut(self.len) {
                Some(slot) if self.len < TEXT_CAPACITY => slot,
                _ => {
                    self.cut = true;
                    break;
                }
            };
            // INVARIANT: no NUL is stored; `len` stays at most TEXT_CAPACITY.
            *slot = if byte == 0 { b'?' } else { byte };
            self.len = self.len.saturating_add(1);
        }
        Ok(())
    }
}

/// Formats `args` into a [`Line`] and prints it at `level`; what [`log!`](macro@crate::log) expands to.
/// IRQL <= DIRQL; the formatting itself must not touch paged memory above APC_LEVEL.
pub fn print(level: Level, args: fmt::Arguments<'_>) {
    let mut line = Line::new();
    let _ = fmt::Write::write_fmt(&mut line, args);
    line.print(level);
}

/// Prints a formatted message to the kernel debugger at a [`log::Level`](crate::log::Level),
/// without allocating (see [`mod@crate::log`]). IRQL <= DIRQL.
///
/// ```
/// # use wskrs_fake_kernel as fake;
/// use wsk::log::Level;
/// wsk::log!(Level::Warning, "retrying in {} ms", 250);
/// # assert!(fake::debug_print::messages().iter().any(|m| m.level == 1 && m.text == "retrying in 250 ms\n"));
/// ```
#[macro_export]
macro_rules! log {
    ($level:expr, $($arg:tt)+) => {
        $crate::log::print($level, ::core::format_args!($($arg)+))
    };
}

/// [`log!`](macro@crate::log) at `Level::Error` (shown by default on Windows). IRQL <= DIRQL.
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => { $crate::log!($crate::log::Level::Error, $($arg)+) };
}

/// [`log!`](macro@crate::log) at `Level::Warning`. IRQL <= DIRQL.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => { $crate::log!($crate::log::Level::Warning, $($arg)+) };
}

/// [`log!`](macro@crate::log) at `Level::Info`. IRQL <= DIRQL.
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => { $crate::log!($crate::log::Level::Info, $($arg)+) };
}

/// [`log!`](macro@crate::log) at `Level::Trace`. IRQL <= DIRQL.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => { $crate::log!($crate::log::Level::Trace, $($arg)+) };
}

#[cfg(test)]
mod tests {
    extern crate std;
    use core::fmt::Write;
    use std::vec::Vec;

    use super::*;
    use wskrs_fake_kernel as fake;

    fn printed(marker: &str) -> Vec<fake::debug_print::Message> {
        fake::debug_print::messages()
            .into_iter()
            .filter(|m| m.text.contains(marker))
            .collect()
    }

    #[test]
    fn prints_one_line_with_component_and_level() {
        crate::error!("log-test-1 {}", 42);
        let got = printed("log-test-1");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].component, 77);
        assert_eq!(got[0].level, 0);
        assert_eq!(got[0].text, "log-test-1 42\n");
    }

    #[test]
    fn a_long_message_is_cut_with_an_ellipsis() {
        let long = "x".repeat(1000);
        crate::trace!("log-test-2 {long}");
        let got = printed("log-test-2");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].level, 2);
        assert_eq!(got[0].text.len(), LINE_CAPACITY - 1);
        assert!(got[0].text.ends_with("...\n"), "{}", got[0].text);
    }

    #[test]
    fn nul_bytes_do_not_end_the_message() {
        crate::warn!("log-test-3 a\0b");
        assert_eq!(printed("log-test-3")[0].text, "log-test-3 a?b\n");
    }

    #[test]
    fn line_keeps_what_fits() {
        let mut line = Line::new();
        let _ = write!(line, "{}", "y".repeat(LINE_CAPACITY));
        assert!(line.was_cut());
        assert_eq!(line.text().len(), LINE_CAPACITY - 2);
        let mut short = Line::new();
        let _ = write!(short, "ok");
        assert!(!short.was_cut());
        assert_eq!(short.text(), b"ok");
    }
}
