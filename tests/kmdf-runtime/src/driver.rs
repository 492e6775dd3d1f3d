//! The bound driver: its globals, `WdfDriverCreate`, the framework's unload, and the two
//! diagnostics DDIs.

use core::ffi::c_void;
use core::mem::size_of;
use core::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Mutex;

use wsk_bindings::NtStatus;

use crate::log::log;
use crate::object::{self, Object, Tag};
use crate::sys::*;

/// The framework driver object (`WDFDRIVER`) of the one driver bound.
///
/// # Invariants
/// `tag` is [`Tag::Driver`] while it lives; `wdm` is the driver's WDM driver object.
#[repr(C)]
pub(crate) struct Driver {
    tag: Tag,
    pub(crate) wdm: *mut DRIVER_OBJECT,
    evt_unload: PFN_WDF_DRIVER_UNLOAD,
    /// The control devices created for it (`Box<Device>` raw pointers), deleted at unload.
    pub(crate) devices: Mutex<Vec<usize>>,
    /// Spin locks and timers (parented to the driver or a device; freed at unload). Boxed:
    /// their handles are the boxes' addresses, which must not move when the Vec grows.
    #[allow(clippy::vec_box)]
    pub(crate) spin_locks: Mutex<Vec<Box<crate::sync::SpinLock>>>,
    #[allow(clippy::vec_box)]
    pub(crate) timers: Mutex<Vec<Box<crate::sync::Timer>>>,
}

// SAFETY: repr(C) with the tag first, set while it lives.
unsafe impl Object for Driver {
    const TAG: Tag = Tag::Driver;
    const KIND: &'static str = "WDFDRIVER";
}

/// The bound driver's globals (set by WdfVersionBind, cleared by WdfVersionUnbind).
pub(crate) static GLOBALS: AtomicPtr<WDF_DRIVER_GLOBALS> = AtomicPtr::new(ptr::null_mut());
/// Its framework driver object (set by WdfDriverCreate).
pub(crate) static DRIVER: AtomicPtr<Driver> = AtomicPtr::new(ptr::null_mut());

/// The driver's name from its globals, for messages.
pub(crate) fn name() -> String {
    let globals = GLOBALS.load(Ordering::Acquire);
    if globals.is_null() {
        return "?".into();
    }
    // SAFETY: the globals live from bind to unbind, and DDIs run only in between.
    let raw = unsafe { (*globals).DriverName };
    let bytes: Vec<u8> = raw
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c.to_ne_bytes()[0])
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `WdfDriverCreate`: a non-PnP driver (`WdfDriverInitNonPnpDriver`) with an optional
/// EvtDriverUnload. The framework takes every major function of the WDM driver object and,
/// with EvtDriverUnload, its DriverUnload, and asks the stub to put itself in front of it
/// (`DisplaceDriverUnload`). PnP drivers (EvtDriverDeviceAdd) are not modelled: refused.
///
/// # Safety
/// Called by a bound driver, in DriverEntry, with valid pointers.
pub(crate) unsafe extern "C" fn create(
    globals: PWDF_DRIVER_GLOBALS,
    wdm: PDRIVER_OBJECT,
    _registry_path: PCUNICODE_STRING,
    attributes: PWDF_OBJECT_ATTRIBUTES,
    config: PWDF_DRIVER_CONFIG,
    out: *mut WDFDRIVER,
) -> NTSTATUS {
    if config.is_null() || wdm.is_null() || globals.is_null() {
        log!("WdfDriverCreate: a null driver object, globals or config");
        return NtStatus::INVALID_PARAMETER.0;
    }
    // SAFETY: non-null, the caller's valid config.
    let config = unsafe { &*config };
    if config.Size as usize != size_of::<WDF_DRIVER_CONFIG>() {
        log!(
            "WdfDriverCreate: WDF_DRIVER_CONFIG.Size {} is not {}",
            config.Size,
            size_of::<WDF_DRIVER_CONFIG>()
        );
        return NtStatus::INFO_LENGTH_MISMATCH.0;
    }
    if config.DriverInitFlags & WdfDriverInitNonPnpDriver as u32 == 0
        || config.EvtDriverDeviceAdd.is_some()
    {
        log!("WdfDriverCreate: PnP drivers (EvtDriverDeviceAdd, no WdfDriverInitNonPnpDriver) are not modelled by this runtime");
        return NtStatus::NOT_SUPPORTED.0;
    }
    if !attributes.is_null() {
        log!("WdfDriverCreate: driver object attributes are ignored (not modelled)");
    }
    let driver = Box::into_raw(Box::new(Driver {
        tag: Tag::Driver,
        wdm,
        evt_unload: config.EvtDriverUnload,
        devices: Mutex::new(Vec::new()),
        spin_locks: Mutex::new(Vec::new()),
        timers: Mutex::new(Vec::new()),
    }));
    if DRIVER
        .compare_exchange(ptr::null_mut(), driver, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        // SAFETY: just allocated, never shared.
        drop(unsafe { Box::from_raw(driver) });
        log!("WdfDriverCreate: called twice for one bind");
        return NtStatus::INVALID_DEVICE_STATE.0;
    }
    // SAFETY: the caller's driver object, ours to fill during DriverEntry.
    let wdm = unsafe { &mut *wdm };
    for (major, slot) in wdm.MajorFunction.iter_mut().enumerate() {
        *slot = Some(crate::device::dispatch_for(major));
    }
    if config.EvtDriverUnload.is_some() {
        wdm.DriverUnload = Some(unload);
        // SAFETY: the caller's globals (the ones WdfVersionBind handed out).
        unsafe { (*globals).DisplaceDriverUnload = 1 };
    }
    // SAFETY: as above.
    unsafe { (*globals).Driver = driver.cast() };
    if !out.is_null() {
        // SAFETY: the caller's output.
        unsafe { out.write(driver.cast()) };
    }
    log!(
        "WdfDriverCreate: {}: non-PnP driver, EvtDriverUnload {}, pool tag {:#010x}",
        name(),
        if config.EvtDriverUnload.is_some() {
            "set"
        } else {
            "none (not unloadable)"
        },
        config.DriverPoolTag
    );
    NtStatus::SUCCESS.0
}

/// The framework's DriverUnload: EvtDriverUnload first, then the framework deletes the
/// driver's children (control devices with their links and queues, timers, spin locks).
/// IRQL: PASSIVE_LEVEL.
unsafe extern "C" fn unload(_wdm: *mut DRIVER_OBJECT) {
    let driver = DRIVER.load(Ordering::Acquire);
    if driver.is_null() {
        return;
    }
    // SAFETY: set by WdfDriverCreate, freed only by WdfVersionUnbind (after this).
    let d = unsafe { &*driver };
    if let Some(evt) = d.evt_unload {
        log!("unload: {}: EvtDriverUnload", name());
        // SAFETY: the driver's callback with its own handle, at PASSIVE_LEVEL.
        unsafe { evt(driver.cast()) };
    }
    log!("unload: {}", crate::request::COUNTERS.report());
    // SAFETY: EvtDriverUnload returned; nothing of the driver runs any more.
    unsafe { delete_children(d) };
}

/// Deletes what the framework created for the driver: each control device (its link, queue,
/// file objects, WDM device object), then timers (cancelled first) and spin locks.
///
/// # Safety
/// No callback of the driver runs or will run on these objects.
pub(crate) unsafe fn delete_children(d: &Driver) {
    let devices = std::mem::take(
        &mut *d
            .devices
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    for device in devices {
        // SAFETY: each entry is a Box<Device> the runtime made in WdfDeviceCreate, listed once.
        unsafe { crate::device::delete(device as *mut crate::device::Device) };
    }
    let timers = std::mem::take(
        &mut *d
            .timers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    for timer in timers {
        timer.cancel_and_wait();
    }
    d.spin_locks
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clear();
}

/// Frees the driver object (WdfVersionUnbind), deleting its children if unload did not
/// (DriverEntry failed: the framework deletes what it made, without EvtDriverUnload).
pub(crate) fn release() {
    let driver = DRIVER.swap(ptr::null_mut(), Ordering::AcqRel);
    if driver.is_null() {
        return;
    }
    // SAFETY: made by WdfDriverCreate with Box::into_raw, taken out of DRIVER once, here.
    let mut boxed = unsafe { Box::from_raw(driver) };
    // SAFETY: unbinding: the driver runs no more code.
    unsafe { delete_children(&boxed) };
    boxed.tag = Tag::Dead;
}

/// The driver object of a `WDFDRIVER` handle.
///
/// # Safety
/// As [`object::get`].
pub(crate) unsafe fn get<'a>(handle: WDFDRIVER, ddi: &str) -> &'a Driver {
    // SAFETY: forwarded.
    unsafe { object::get::<Driver>(handle.cast::<c_void>(), ddi) }
}

/// `WdfVerifierDbgBreakPoint`: KMDF breaks into a kernel debugger when the verifier is on;
/// there is none here, so the runtime says so and goes on.
pub(crate) unsafe extern "C" fn verifier_dbg_break_point(_globals: PWDF_DRIVER_GLOBALS) {
    log!("WdfVerifierDbgBreakPoint: {} asked for a debugger break (no debugger under Wine; continuing)", name());
}

/// `WdfGetTriageInfo`: KMDF returns the layout information debuggers use; none is modelled,
/// so NULL (the DDI's documented use is by debugger extensions, not by drivers).
pub(crate) unsafe extern "C" fn get_triage_info(_globals: PWDF_DRIVER_GLOBALS) -> PVOID {
    log!("WdfGetTriageInfo: not modelled; returning NULL");
    ptr::null_mut()
}
