//! The project's own WSK provider for Wine: a native `netio.sys` that implements Winsock
//! Kernel over Winsock, for running wsk-rs end to end under Wine beyond the TCP subset of
//! Wine 8.0's built-in `netio.sys`.
//!
//! It is a user-mode DLL (Rust std, `x86_64-pc-windows-gnu`) loaded into Wine's driver host
//! (`winedevice.exe`) in place of the built-in module, because a driver there imports
//! `NETIO.SYS` and Wine's loader honours a `netio.sys=native` DLL override. See the README for
//! what is implemented, the statuses chosen and the deviations from Windows.
//!
//! Every exported function follows the WSK contract of its namesake:
//! <https://learn.microsoft.com/windows-hardware/drivers/ddi/wsk/>. Requests complete the
//! client's IRP exactly once, via `IofCompleteRequest`, also on synchronous failure.
//!
//! The functions every send and receive runs carry `link_section = ".text$wskhot"`: the PE
//! linker merges the `.text$*` sections into `.text` in name order, so they sit together in
//! a few pages instead of across the module. Each call into Wine leaves the provider's code
//! and data cold; fewer pages to fetch again made its own code about 12% cheaper per round
//! trip (docs/performance.md, "Where the paired gap goes").
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

#[cfg(windows)]
mod addr;
#[cfg(windows)]
mod buf;
#[cfg(windows)]
mod client;
#[cfg(windows)]
mod control;
#[cfg(windows)]
mod delay;
#[cfg(windows)]
mod engine;
#[cfg(windows)]
mod events;
#[cfg(any(windows, test))]
mod fault;
#[cfg(any(windows, test))]
mod inline;
#[cfg(windows)]
mod ioctl;
#[cfg(windows)]
mod irp;
#[cfg(any(windows, test))]
mod lookaside;
#[cfg(windows)]
mod names;
#[cfg(windows)]
mod ops;
#[cfg(windows)]
mod options;
#[cfg(windows)]
mod security;
#[cfg(windows)]
mod sharing;
#[cfg(windows)]
mod slot;
#[cfg(windows)]
mod socket;
#[cfg(windows)]
mod status;
#[cfg(any(windows, test))]
mod switches;
#[cfg(windows)]
mod trace;
#[cfg(windows)]
mod verify;

#[cfg(windows)]
pub use exports::*;

/// Small blocks (each request's op above all) are recycled through a lookaside cache instead
/// of Wine's heap and its lock (`lookaside.rs`).
#[cfg(windows)]
#[global_allocator]
static ALLOCATOR: lookaside::Lookaside<std::alloc::System> =
    lookaside::Lookaside::new(std::alloc::System);

/// The exported WSK registration functions.
#[cfg(windows)]
mod exports {
    use wsk_bindings::{self as sys, NtStatus};

    /// `WskRegister`: registers a WSK client.
    ///
    /// # Safety
    /// `client_npi` and `registration` are valid until `WskDeregister` (WSK contract).
    #[no_mangle]
    pub unsafe extern "system" fn WskRegister(
        client_npi: *mut sys::WSK_CLIENT_NPI,
        registration: *mut sys::WSK_REGISTRATION,
    ) -> sys::NTSTATUS {
        // SAFETY: forwarded contract.
        unsafe { crate::client::register(client_npi, registration) }.0
    }

    /// `WskDeregister`: waits until the client's sockets are closed and its NPIs released
    /// (at most 10 s; after that the registration is leaked rather than freed under use).
    ///
    /// # Safety
    /// `registration` was passed to a successful `WskRegister`.
    #[no_mangle]
    pub unsafe extern "system" fn WskDeregister(registration: *mut sys::WSK_REGISTRATION) {
        // SAFETY: forwarded contract.
        unsafe { crate::client::deregister(registration) };
    }

    /// `WskCaptureProviderNPI`: the provider is always ready, whatever the wait.
    ///
    /// # Safety
    /// `registration` is registered; `npi` is writable.
    #[no_mangle]
    pub unsafe extern "system" fn WskCaptureProviderNPI(
        registration: *mut sys::WSK_REGISTRATION,
        _wait_timeout: u32,
        npi: *mut sys::WSK_PROVIDER_NPI,
    ) -> sys::NTSTATUS {
        // SAFETY: forwarded contract.
        unsafe { crate::client::capture(registration, npi) }.0
    }

    /// `WskReleaseProviderNPI`.
    ///
    /// # Safety
    /// `registration` captured the NPI earlier.
    #[no_mangle]
    pub unsafe extern "system" fn WskReleaseProviderNPI(registration: *mut sys::WSK_REGISTRATION) {
        // SAFETY: forwarded contract.
        unsafe { crate::client::release(registration) };
    }

    /// Client mistakes `WSKRS_PROVIDER_VERIFY=1` reported since the process started (for the
    /// self-test; not a WSK export).
    #[must_use]
    pub fn verifier_reports() -> u64 {
        crate::verify::reports()
    }

    /// `WskQueryProviderCharacteristics`: NPI 1.0 only.
    ///
    /// # Safety
    /// `characteristics` is null or writable.
    #[no_mangle]
    pub unsafe extern "system" fn WskQueryProviderCharacteristics(
        registration: *mut sys::WSK_REGISTRATION,
        characteristics: *mut sys::WSK_PROVIDER_CHARACTERISTICS,
    ) -> sys::NTSTATUS {
        if registration.is_null() || characteristics.is_null() {
            return NtStatus::INVALID_PARAMETER.0;
        }
        let version = crate::client::VERSION;
        // SAFETY: writable (caller's contract).
        unsafe {
            characteristics.write(sys::WSK_PROVIDER_CHARACTERISTICS {
                HighestVersion: version,
                LowestVersion: version,
            });
        };
        NtStatus::SUCCESS.0
    }
}
