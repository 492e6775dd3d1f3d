//! A minimal WDM driver on `wsk`: in `DriverEntry` it registers with WSK, connects to a TCP
//! echo server, sends one message, receives it back and logs `echo received`; it keeps the WSK
//! client until unload, which shuts it down.
//!
//! The server's address is fixed at build time: `ECHO_SERVER=127.0.0.1:7000 cargo build`
//! (default `127.0.0.1:7`, the echo port).
#![no_std]

use core::time::Duration;

use wsk::driver::ClientSlot;
use wsk::nt::{DRIVER_OBJECT, NTSTATUS, UNICODE_STRING};
use wsk::{ConnectionSocket, NtStatus, WskClient};
use wskrs_kernel::{ControlDeviceSlot, ControlDeviceSpec};

/// Where the echo server listens (`ECHO_SERVER` at build time).
const ECHO_SERVER: &str = match option_env!("ECHO_SERVER") {
    Some(address) => address,
    None => "127.0.0.1:7",
};
/// The bound of every wait: registration, connect, send, receive, shutdown.
const TIMEOUT: Duration = Duration::from_secs(5);
const MESSAGE: &[u8] = b"hello from the kernel";

/// The device WSK queues its work items on (WskClient::register needs one); created in
/// `DriverEntry`, deleted in unload.
static DEVICE: ControlDeviceSlot = ControlDeviceSlot::new(ControlDeviceSpec {
    name: wsk::utf16!("\\Device\\WdmEchoClient"),
    link: wsk::utf16!("\\DosDevices\\WdmEchoClient"),
    device_type: wsk::nt::FILE_DEVICE_UNKNOWN,
    characteristics: 0,
    exclusive: false,
    // Administrators and SYSTEM only (SDDL_DEVOBJ_SYS_ALL_ADM_ALL).
    sddl: Some("D:P(A;;GA;;;SY)(A;;GA;;;BA)"),
});

/// The WSK client, from `DriverEntry` until unload.
static CLIENT: ClientSlot = ClientSlot::new();

/// Driver entry point. IRQL: PASSIVE_LEVEL.
///
/// # Safety
/// Called by the I/O manager with this driver's valid driver object.
#[no_mangle]
pub unsafe extern "system" fn DriverEntry(
    driver: *mut DRIVER_OBJECT,
    _registry_path: *mut UNICODE_STRING,
) -> NTSTATUS {
    // SAFETY: the I/O manager passes this driver's valid driver object.
    if let Err(status) = unsafe { DEVICE.create(driver) } {
        wsk::error!("wdm-echo-client: IoCreateDevice failed: {status}");
        return status.0;
    }
    if let Err(e) = register_and_echo() {
        wsk::error!("wdm-echo-client: echo failed: {e}");
        stop();
        return e.status().0;
    }
    // SAFETY: `driver` is valid and ours to fill during DriverEntry.
    unsafe { (*driver).DriverUnload = Some(driver_unload) };
    NtStatus::SUCCESS.0
}

/// Registers with WSK (keeping the client in [`CLIENT`]) and runs one echo. IRQL: PASSIVE_LEVEL.
fn register_and_echo() -> wsk::Result<()> {
    let device = DEVICE
        .device_object()
        .ok_or(wsk::Error::new(NtStatus::DEVICE_NOT_READY))?;
    // SAFETY: the device lives until unload, which shuts the client down first.
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
        "wdm-echo-client: echo received from {server}: {} bytes",
        reply.len()
    );
    Ok(())
}

/// Shuts the client down (every socket is closed by then), then deletes the device.
/// IRQL: PASSIVE_LEVEL.
fn stop() {
    if let Some(client) = CLIENT.take() {
        if !client.shutdown(TIMEOUT) {
            wsk::warn!("wdm-echo-client: sockets still open at unload");
        }
    }
    // SAFETY: no request reaches this driver (it handles none) and the client is gone.
    drop(unsafe { DEVICE.take() });
}

/// `DriverUnload`: `extern "C"`, the type of `DRIVER_OBJECT::DriverUnload`.
unsafe extern "C" fn driver_unload(_driver: *mut DRIVER_OBJECT) {
    stop();
    wsk::info!("wdm-echo-client: unloaded");
}

/// A panic in the kernel is a bug check, with the panic's location.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    wskrs_kernel::bug_check_on_panic(info)
}

/// The MSVC linker expects this symbol when floating point is used anywhere.
#[no_mangle]
#[used]
static _fltused: i32 = 0;
