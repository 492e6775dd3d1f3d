//! A minimal KMDF driver on `wsk` and the windows-drivers-rs crates: in `DriverEntry` it
//! creates the framework driver (non-PnP) and a control device, registers with WSK, connects
//! to a TCP echo server, sends one message, receives it back and logs `echo received`; it
//! keeps the WSK client until `EvtDriverUnload`, which shuts it down before the framework
//! deletes the device.
//!
//! WDF calls go through `wdk-sys` (`call_unsafe_wdf_function_binding!`); WSK and the log
//! through `wsk`. The server's address is fixed at build time: `ECHO_SERVER=127.0.0.1:7000
//! cargo build` (default `127.0.0.1:7`, the echo port).
#![no_std]

// The panic handler: a bug check with the tag "RPNC" and the panic's source location.
#[cfg(not(test))]
extern crate wdk_panic;

use core::ffi::c_void;
use core::mem::size_of;
use core::ptr::{self, NonNull};
use core::time::Duration;

use wdk_sys::{
    call_unsafe_wdf_function_binding, _WDF_DRIVER_INIT_FLAGS, NTSTATUS, PCUNICODE_STRING,
    PDRIVER_OBJECT, PWDFDEVICE_INIT, ULONG, UNICODE_STRING, WDFDEVICE, WDFDRIVER,
    WDF_DRIVER_CONFIG, WDF_NO_OBJECT_ATTRIBUTES,
};
use wsk::driver::ClientSlot;
use wsk::{ConnectionSocket, NtStatus, WskClient};

/// Where the echo server listens (`ECHO_SERVER` at build time).
const ECHO_SERVER: &str = match option_env!("ECHO_SERVER") {
    Some(address) => address,
    None => "127.0.0.1:7",
};
/// The bound of every wait: registration, connect, send, receive, shutdown.
const TIMEOUT: Duration = Duration::from_secs(5);
const MESSAGE: &[u8] = b"hello from the kernel";

static DEVICE_NAME: &[u16] = wsk::utf16!("\\Device\\KmdfEchoClient");
/// Administrators and SYSTEM only (SDDL_DEVOBJ_SYS_ALL_ADM_ALL): a control device needs one.
static DEVICE_SDDL: &[u16] = wsk::utf16!("D:P(A;;GA;;;SY)(A;;GA;;;BA)");

/// The WSK client, from `DriverEntry` until unload.
static CLIENT: ClientSlot = ClientSlot::new();

/// Driver entry point, called by the KMDF stub (`FxDriverEntry`) once it has bound to the
/// framework. IRQL: PASSIVE_LEVEL.
///
/// # Safety
/// Called once by the system with this driver's valid driver object and registry path.
#[no_mangle]
pub unsafe extern "system" fn DriverEntry(
    driver: PDRIVER_OBJECT,
    registry_path: PCUNICODE_STRING,
) -> NTSTATUS {
    // WDF_DRIVER_CONFIG_INIT without EvtDriverDeviceAdd: a non-PnP driver, which must set
    // EvtDriverUnload to be unloadable. The flag is a small non-negative C enum value.
    #[allow(clippy::cast_sign_loss)]
    let non_pnp = _WDF_DRIVER_INIT_FLAGS::WdfDriverInitNonPnpDriver as ULONG;
    let mut config = WDF_DRIVER_CONFIG {
        Size: wdf_size::<WDF_DRIVER_CONFIG>(),
        EvtDriverDeviceAdd: None,
        EvtDriverUnload: Some(evt_driver_unload),
        DriverInitFlags: non_pnp,
        DriverPoolTag: 0,
    };
    let mut wdf_driver: WDFDRIVER = ptr::null_mut();
    // SAFETY: `driver` and `registry_path` come from the system; the config is complete and
    // of the right size; the handle output is a local.
    let status = unsafe {
        call_unsafe_wdf_function_binding!(
            WdfDriverCreate,
            driver,
            registry_path,
            WDF_NO_OBJECT_ATTRIBUTES,
            &raw mut config,
            &raw mut wdf_driver,
        )
    };
    if !wdk::nt_success(status) {
        wsk::error!(
            "kmdf-echo-client: WdfDriverCreate failed: {}",
            NtStatus(status)
        );
        return status;
    }
    // SAFETY: `wdf_driver` was just created, in DriverEntry.
    let device = match unsafe { create_control_device(wdf_driver) } {
        Ok(device) => device,
        Err(status) => {
            // The framework deletes the driver object (and the device) when DriverEntry fails.
            wsk::error!("kmdf-echo-client: creating the control device failed: {status}");
            return status.0;
        }
    };
    if let Err(e) = register_and_echo(device) {
        wsk::error!("kmdf-echo-client: echo failed: {e}");
        stop();
        return e.status().0;
    }
    NtStatus::SUCCESS.0
}

/// The `Size` member of a WDF structure.
#[allow(clippy::cast_possible_truncation)] // the const block proves it fits
const fn wdf_size<T>() -> ULONG {
    const { assert!(size_of::<T>() <= ULONG::MAX as usize) };
    size_of::<T>() as ULONG
}

/// A counted string over static UTF-16 (no terminating NUL, as `UNICODE_STRING` allows).
fn unicode(s: &'static [u16]) -> UNICODE_STRING {
    let bytes = u16::try_from(s.len().saturating_mul(2)).unwrap_or(u16::MAX);
    UNICODE_STRING {
        Length: bytes,
        MaximumLength: bytes,
        Buffer: s.as_ptr().cast_mut(),
    }
}

/// A `WDFDEVICE_INIT` from `WdfControlDeviceInitAllocate`, freed when dropped unless
/// `WdfDeviceCreate` consumed it (and set the pointer to null).
///
/// # Invariants
/// The pointer is null (consumed) or an init structure that nothing else frees.
struct ControlDeviceInit(PWDFDEVICE_INIT);

impl Drop for ControlDeviceInit {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: by the invariant, an init structure WdfDeviceCreate did not consume.
            unsafe { call_unsafe_wdf_function_binding!(WdfDeviceInitFree, self.0) };
        }
    }
}

/// Creates `\Device\KmdfEchoClient` (no requests are handled: the device is what WSK needs)
/// and returns its WDM device object. IRQL: PASSIVE_LEVEL.
///
/// # Safety
/// `driver` is this driver's framework driver object, in DriverEntry.
unsafe fn create_control_device(driver: WDFDRIVER) -> Result<NonNull<c_void>, NtStatus> {
    let sddl = unicode(DEVICE_SDDL);
    // SAFETY: `driver` is valid (caller's contract); the framework copies the SDDL string.
    let init = unsafe {
        call_unsafe_wdf_function_binding!(WdfControlDeviceInitAllocate, driver, &raw const sddl)
    };
    if init.is_null() {
        return Err(NtStatus::INSUFFICIENT_RESOURCES);
    }
    // INVARIANT: a fresh init structure, owned by nothing else.
    let mut init = ControlDeviceInit(init);
    let name = unicode(DEVICE_NAME);
    // SAFETY: a live init structure; the framework copies the name.
    let status = unsafe {
        call_unsafe_wdf_function_binding!(WdfDeviceInitAssignName, init.0, &raw const name)
    };
    if !wdk::nt_success(status) {
        return Err(NtStatus(status));
    }
    let mut device: WDFDEVICE = ptr::null_mut();
    // SAFETY: a live init structure, which the framework takes on success (setting the
    // pointer to null); the handle output is a local.
    let status = unsafe {
        call_unsafe_wdf_function_binding!(
            WdfDeviceCreate,
            &raw mut init.0,
            WDF_NO_OBJECT_ATTRIBUTES,
            &raw mut device,
        )
    };
    if !wdk::nt_success(status) {
        return Err(NtStatus(status));
    }
    // SAFETY: `device` is a control device, fully set up.
    unsafe { call_unsafe_wdf_function_binding!(WdfControlFinishInitializing, device) };
    // SAFETY: `device` is live; its WDM device object lives as long as it.
    let wdm = unsafe { call_unsafe_wdf_function_binding!(WdfDeviceWdmGetDeviceObject, device) };
    NonNull::new(wdm.cast::<c_void>()).ok_or(NtStatus::DEVICE_NOT_READY)
}

/// Registers with WSK (keeping the client in [`CLIENT`]) and runs one echo. IRQL: PASSIVE_LEVEL.
fn register_and_echo(device: NonNull<c_void>) -> wsk::Result<()> {
    // SAFETY: the device lives until the framework deletes it after EvtDriverUnload, which
    // shuts the client down first.
    let client = unsafe { WskClient::register(device, TIMEOUT) }?;
    let _ = CLIENT.set(client.clone());
    echo_once(&client)
}

/// Connects, sends [`MESSAGE`], receives it back. IRQL: PASSIVE_LEVEL.
fn echo_once(client: &WskClient) -> wsk::Result<()> {
    let server = ECHO_SERVER.parse()?;
    let mut connection = ConnectionSocket::connect(client, server, None, TIMEOUT)?;
    connection.send_all(MESSAGE, TIMEOUT)?;
    let mut reply = [0u8; MESSAGE.len()];
    connection.receive_exact(&mut reply, TIMEOUT)?;
    if reply != MESSAGE {
        return Err(wsk::Error::new(NtStatus::UNSUCCESSFUL));
    }
    wsk::info!(
        "kmdf-echo-client: echo received from {server}: {} bytes",
        reply.len()
    );
    Ok(())
}

/// Shuts the client down (every socket is closed by then). IRQL: PASSIVE_LEVEL.
fn stop() {
    if let Some(client) = CLIENT.take() {
        if !client.shutdown(TIMEOUT) {
            wsk::warn!("kmdf-echo-client: sockets still open at unload");
        }
    }
}

/// EvtDriverUnload: releases WSK while the device (which WSK work items are queued on) still
/// exists; the framework deletes it after this returns. IRQL: PASSIVE_LEVEL.
unsafe extern "C" fn evt_driver_unload(_driver: WDFDRIVER) {
    stop();
    wsk::info!("kmdf-echo-client: unloaded");
}
