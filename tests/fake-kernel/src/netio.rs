//! The NETIO registration exports: `WskRegister`, `WskCaptureProviderNPI`,
//! `WskReleaseProviderNPI`, `WskDeregister`, counted and logged in order.
//!
//! # Safety
//! Each function has the contract of the DDI it imitates.

use std::collections::HashMap;
use std::sync::Mutex;

use wsk_bindings::{self as sys, NtStatus};

use crate::{lock, violation, Tally};

/// Something that happened to a registration or a provider socket, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// `WskRegister` succeeded.
    Register,
    /// `WskCaptureProviderNPI` succeeded.
    Capture,
    /// `WskReleaseProviderNPI`.
    Release,
    /// `WskDeregister`.
    Deregister,
    /// The provider handed a socket to the client (created or accepted).
    SocketOpened,
    /// The client closed a socket.
    SocketClosed,
}

#[derive(Default)]
struct Registration {
    captured: bool,
    released: bool,
}

#[derive(Default)]
struct Netio {
    registrations: HashMap<usize, Registration>,
    log: Vec<Event>,
    calls: Tally<Event>,
    fail_register: Option<NtStatus>,
    fail_capture: Option<NtStatus>,
}

static NETIO: Mutex<Option<Netio>> = Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut Netio) -> R) -> R {
    f(lock(&NETIO).get_or_insert_with(Netio::default))
}

pub(crate) fn reset() {
    with(|n| {
        let registrations = std::mem::take(&mut n.registrations);
        *n = Netio {
            registrations,
            ..Netio::default()
        };
    });
}

pub(crate) fn record(event: Event) {
    with(|n| log_call(n, event));
}

/// The events since [`crate::Kernel::start`], in order.
#[must_use]
pub fn log() -> Vec<Event> {
    with(|n| n.log.clone())
}

/// How many times `event` happened since [`crate::Kernel::start`] (registration calls only
/// count when they succeed; `Deregister` and `Release` always count).
#[must_use]
pub fn calls(event: Event) -> u64 {
    with(|n| n.calls.get(&event))
}

/// Makes the next `WskRegister` fail with `status`.
pub fn fail_next_register(status: NtStatus) {
    with(|n| n.fail_register = Some(status));
}

/// Makes the next `WskCaptureProviderNPI` fail with `status` (as when no provider attaches
/// in time: `STATUS_NOINTERFACE`).
pub fn fail_next_capture(status: NtStatus) {
    with(|n| n.fail_capture = Some(status));
}

/// Registrations not deregistered.
#[must_use]
pub fn registrations() -> usize {
    with(|n| n.registrations.len())
}

fn log_call(n: &mut Netio, event: Event) {
    n.calls.add(event);
    n.log.push(event);
}

/// `WskRegister`.
///
/// # Safety
/// `npi` and `registration` are valid and stay at their addresses until `WskDeregister`.
#[no_mangle]
pub unsafe extern "C" fn WskRegister(
    npi: *mut sys::WSK_CLIENT_NPI,
    registration: *mut sys::WSK_REGISTRATION,
) -> sys::NTSTATUS {
    // SAFETY: caller's contract.
    let dispatch = unsafe { (*npi).Dispatch };
    if dispatch.is_null() {
        violation("WskRegister: client NPI without a dispatch table");
        return NtStatus::INVALID_PARAMETER.0;
    }
    // SAFETY: non-null, valid (caller's contract).
    let version = unsafe { (*dispatch).Version };
    if version >> 8 != 1 {
        violation(format!("WskRegister: client dispatch version {version:#x}"));
    }
    with(|n| {
        if let Some(status) = n.fail_register.take() {
            return status.0;
        }
        if n.registrations
            .insert(registration as usize, Registration::default())
            .is_some()
        {
            violation("WskRegister: registration already registered");
        }
        // SAFETY: caller's contract: the registration is ours to write until WskDeregister.
        unsafe { (*registration).ReservedRegistrationState = 1 };
        log_call(n, Event::Register);
        NtStatus::SUCCESS.0
    })
}

/// `WskCaptureProviderNPI`: hands out the fake provider.
///
/// # Safety
/// `registration` was registered; `npi` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn WskCaptureProviderNPI(
    registration: *mut sys::WSK_REGISTRATION,
    _wait_timeout: u32,
    npi: *mut sys::WSK_PROVIDER_NPI,
) -> sys::NTSTATUS {
    with(|n| {
        let Some(r) = n.registrations.get_mut(&(registration as usize)) else {
            violation("WskCaptureProviderNPI: not registered");
            return NtStatus::INVALID_PARAMETER.0;
        };
        if let Some(status) = n.fail_capture.take() {
            return status.0;
        }
        if r.captured {
            violation("WskCaptureProviderNPI: captured twice");
        }
        r.captured = true;
        // SAFETY: caller's contract.
        unsafe { npi.write(crate::provider::npi()) };
        log_call(n, Event::Capture);
        NtStatus::SUCCESS.0
    })
}

/// `WskReleaseProviderNPI`: every socket must be closed by now (by the last registration to
/// release the NPI: sockets are not attributed to registrations).
///
/// # Safety
/// `registration` captured the NPI.
#[no_mangle]
pub unsafe extern "C" fn WskReleaseProviderNPI(registration: *mut sys::WSK_REGISTRATION) {
    let open = crate::provider::open_sockets();
    with(|n| {
        log_call(n, Event::Release);
        let Some(r) = n.registrations.get_mut(&(registration as usize)) else {
            violation("WskReleaseProviderNPI: not registered");
            return;
        };
        if !r.captured || r.released {
            violation("WskReleaseProviderNPI without a capture to release");
        }
        r.released = true;
        // Every registration gets the same provider client object, so the fake cannot tell
        // whose a socket is: while another registration still holds the NPI, the open
        // sockets may be its own. The last release must find none.
        let others = n
            .registrations
            .values()
            .filter(|r| r.captured && !r.released)
            .count();
        if open != 0 && others == 0 {
            violation(format!(
                "WskReleaseProviderNPI with {open} socket(s) still open"
            ));
        }
    });
}

/// `WskDeregister`: the NPI must have been released.
///
/// # Safety
/// `registration` was registered.
#[no_mangle]
pub unsafe extern "C" fn WskDeregister(registration: *mut sys::WSK_REGISTRATION) {
    with(|n| {
        log_call(n, Event::Deregister);
        let Some(r) = n.registrations.remove(&(registration as usize)) else {
            violation("WskDeregister: not registered");
            return;
        };
        if r.captured && !r.released {
            violation("WskDeregister before WskReleaseProviderNPI");
        }
    });
}

/// `WskQueryProviderCharacteristics`: the fake speaks WSK NPI 1.0 only.
///
/// # Safety
/// `characteristics` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn WskQueryProviderCharacteristics(
    registration: *mut sys::WSK_REGISTRATION,
    characteristics: *mut sys::WSK_PROVIDER_CHARACTERISTICS,
) -> sys::NTSTATUS {
    if characteristics.is_null() {
        return NtStatus::INVALID_PARAMETER.0;
    }
    if !with(|n| n.registrations.contains_key(&(registration as usize))) {
        violation("WskQueryProviderCharacteristics: not registered");
        return NtStatus::INVALID_PARAMETER.0;
    }
    let version = sys::make_wsk_version(1, 0);
    // SAFETY: writable (caller's contract).
    unsafe {
        characteristics.write(sys::WSK_PROVIDER_CHARACTERISTICS {
            HighestVersion: version,
            LowestVersion: version,
        });
    }
    NtStatus::SUCCESS.0
}
