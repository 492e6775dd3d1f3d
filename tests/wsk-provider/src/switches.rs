//! The switches every request reads (the trace, the verifier, fault injection), published in
//! one cache line of their own.
//!
//! Between two WSK calls the thread has been through Wine's server, and the provider's data is
//! cold again: a request that read each switch from its own module's statics paid a cache miss
//! for each (docs/performance.md, "Where the paired gap goes"). Here it pays one. The modules
//! that own the switches keep their settings; they only publish here whether each is on.

// Fault injection is built on any host (unit tests); the trace and the verifier only for Windows.
#![cfg_attr(not(windows), allow(dead_code))]

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

/// The trace has not been looked at yet (its sink is opened on first use).
pub(crate) const TRACE_UNKNOWN: u8 = 0;
/// Tracing is off.
pub(crate) const TRACE_OFF: u8 = 1;
/// Tracing is on.
pub(crate) const TRACE_ON: u8 = 2;

/// Whether each switch is on.
#[repr(C, align(64))]
pub(crate) struct Switches {
    /// [`TRACE_UNKNOWN`], [`TRACE_OFF`] or [`TRACE_ON`] (`trace.rs`).
    pub(crate) trace: AtomicU8,
    /// `WSKRS_PROVIDER_VERIFY` (`verify.rs`).
    pub(crate) verify: AtomicBool,
    /// Any of `WSKRS_PROVIDER_FAULT`, `_DELAY` or `_DROP` (`fault.rs`): with none, a request
    /// counts nothing.
    pub(crate) faults: AtomicBool,
}

/// The one copy.
pub(crate) static SWITCHES: Switches = Switches {
    trace: AtomicU8::new(TRACE_UNKNOWN),
    verify: AtomicBool::new(false),
    faults: AtomicBool::new(false),
};

/// Whether any fault injection switch is on.
#[inline]
pub(crate) fn faults() -> bool {
    SWITCHES.faults.load(Ordering::Relaxed)
}

// One line of its own: the point of the type.
const _: () = assert!(size_of::<Switches>() == 64);
