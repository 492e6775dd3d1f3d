//! `IPPROTO_TCP` options that Windows supports and Wine 8.0's Winsock refuses with
//! `WSAENOPROTOOPT` (measured: every `IPPROTO_TCP` option but `TCP_NODELAY`). A WSK client
//! written for Windows sets them and expects them to stick, so the provider answers them
//! itself, as Windows documents them ("IPPROTO_TCP socket options", "SIO_KEEPALIVE_VALS"):
//! the value is validated, stored per socket and read back; Windows' defaults before a set.
//!
//! Winsock is always asked first: an option a later Wine accepts goes to the real Linux socket
//! and is read back from it. `TCP_KEEPIDLE` and `TCP_KEEPINTVL` also reach the Linux socket
//! through `SIO_KEEPALIVE_VALS` (Wine sets `TCP_KEEPIDLE` / `TCP_KEEPINTVL` from it) while
//! keep-alive is on, and again whenever `SO_KEEPALIVE` is turned on. The others cannot reach
//! it through Wine 8.0's Winsock (README, "TCP options").

use wsk_bindings::{self as sys, NtStatus};

/// The emulated options of one socket (seconds, counts, booleans as 0/1).
#[derive(Clone, Copy, Debug)]
pub(crate) struct TcpOptions {
    keep_cnt: u32,
    keep_idle: u32,
    keep_intvl: u32,
    max_rt: u32,
    timestamps: u32,
    fast_open: u32,
    fail_connect_on_icmp_error: u32,
    /// The client set `TCP_KEEPIDLE` or `TCP_KEEPINTVL` (they are then applied through
    /// `SIO_KEEPALIVE_VALS`).
    keepalive_tuned: bool,
}

/// `TCP_MAXRT` before a set: Windows does not document it; the provider reports
/// `0xFFFFFFFF` ("no connection timeout") rather than invent a number of seconds.
const MAX_RT_UNSET: u32 = u32::MAX;

impl Default for TcpOptions {
    /// Windows' defaults: "the default keep-alive timeout is 2 hours", "the default keep-alive
    /// interval is 1 second", "on Windows Vista and later, the number of keep-alive probes
    /// (data retransmissions) is set to 10" (SIO_KEEPALIVE_VALS); time stamps off by default
    /// ("Timestamps" global setting, default off); Fast Open and fail-on-ICMP off.
    fn default() -> Self {
        Self {
            keep_cnt: 10,
            keep_idle: 2 * 60 * 60,
            keep_intvl: 1,
            max_rt: MAX_RT_UNSET,
            timestamps: 0,
            fast_open: 0,
            fail_connect_on_icmp_error: 0,
            keepalive_tuned: false,
        }
    }
}

/// Whether the provider answers `(level, code)` itself when Winsock refuses it.
pub(crate) fn emulated(level: u32, code: u32) -> bool {
    level == sys::IPPROTO_TCP
        && matches!(
            code,
            sys::TCP_KEEPCNT
                | sys::TCP_KEEPIDLE
                | sys::TCP_KEEPINTVL
                | sys::TCP_MAXRT
                | sys::TCP_TIMESTAMPS
                | sys::TCP_FASTOPEN
                | sys::TCP_FAIL_CONNECT_ON_ICMP_ERROR
        )
}

/// Keep-alive time and interval in milliseconds, for `SIO_KEEPALIVE_VALS`.
pub(crate) struct KeepAlive {
    pub(crate) time_ms: u32,
    pub(crate) interval_ms: u32,
}

impl TcpOptions {
    /// Sets `code` (one of [`emulated`]'s) to `value`, with Windows' validation.
    ///
    /// # Errors
    /// `STATUS_INVALID_PARAMETER`: `TCP_KEEPCNT` above 255 ("it is illegal to set TCP_KEEPCNT
    /// to a value greater than 255"); a keep-alive time or interval whose milliseconds do not
    /// fit the ULONG of `SIO_KEEPALIVE_VALS` (the provider's limit); an unknown code.
    pub(crate) fn set(&mut self, code: u32, value: u32) -> Result<(), NtStatus> {
        let as_ms = |seconds: u32| seconds.checked_mul(1000).ok_or(NtStatus::INVALID_PARAMETER);
        match code {
            sys::TCP_KEEPCNT if value > 255 => return Err(NtStatus::INVALID_PARAMETER),
            sys::TCP_KEEPCNT => self.keep_cnt = value,
            sys::TCP_KEEPIDLE => {
                as_ms(value)?;
                self.keep_idle = value;
                self.keepalive_tuned = true;
            }
            sys::TCP_KEEPINTVL => {
                as_ms(value)?;
                self.keep_intvl = value;
                self.keepalive_tuned = true;
            }
            sys::TCP_MAXRT => self.max_rt = value,
            sys::TCP_TIMESTAMPS => self.timestamps = u32::from(value != 0),
            sys::TCP_FASTOPEN => self.fast_open = u32::from(value != 0),
            sys::TCP_FAIL_CONNECT_ON_ICMP_ERROR => {
                self.fail_connect_on_icmp_error = u32::from(value != 0);
            }
            _ => return Err(NtStatus::INVALID_PARAMETER),
        }
        Ok(())
    }

    /// The value of `code` (one of [`emulated`]'s).
    pub(crate) fn get(&self, code: u32) -> Option<u32> {
        Some(match code {
            sys::TCP_KEEPCNT => self.keep_cnt,
            sys::TCP_KEEPIDLE => self.keep_idle,
            sys::TCP_KEEPINTVL => self.keep_intvl,
            sys::TCP_MAXRT => self.max_rt,
            sys::TCP_TIMESTAMPS => self.timestamps,
            sys::TCP_FASTOPEN => self.fast_open,
            sys::TCP_FAIL_CONNECT_ON_ICMP_ERROR => self.fail_connect_on_icmp_error,
            _ => return None,
        })
    }

    /// The keep-alive time and interval to apply through `SIO_KEEPALIVE_VALS`, if the client
    /// tuned them.
    pub(crate) fn keepalive(&self) -> Option<KeepAlive> {
        if !self.keepalive_tuned {
            return None;
        }
        Some(KeepAlive {
            time_ms: self.keep_idle.saturating_mul(1000),
            interval_ms: self.keep_intvl.saturating_mul(1000),
        })
    }
}
