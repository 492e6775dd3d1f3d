//! A small in-kernel TCP echo server on `wsk`'s completion-driven tasks: a
//! [`ListenTask`] accepts, and each connection runs as a [`ConnectionTask`] that sends back
//! what it receives. No thread per connection, no blocking call after `DriverEntry`.
//!
//! The listening address is fixed at build time: `LISTEN_ADDR=127.0.0.1:7000 cargo build`
//! (default `127.0.0.1:7007`).
#![no_std]

use core::net::SocketAddr;
use core::time::Duration;

use wsk::driver::ClientSlot;
use wsk::nt::{DRIVER_OBJECT, NTSTATUS, UNICODE_STRING};
use wsk::task::{ConnectionHandler, ConnectionStep, ConnectionTask, ListenHandler, ListenTask};
use wsk::{AcceptedConnection, Error, ListenSocket, NtStatus, SpinLock, WskClient};
use wskrs_kernel::{ControlDeviceSlot, ControlDeviceSpec};

/// Where the server listens (`LISTEN_ADDR` at build time).
const LISTEN_ADDR: &str = match option_env!("LISTEN_ADDR") {
    Some(address) => address,
    None => "127.0.0.1:7007",
};
/// The bound of the blocking calls: registration, bind, shutdown.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Each connection's buffer (one per connection, reused for every receive and send).
const BUFFER_LEN: usize = 16 * 1024;

static DEVICE: ControlDeviceSlot = ControlDeviceSlot::new(ControlDeviceSpec {
    name: wsk::utf16!("\\Device\\WskTcpServer"),
    link: wsk::utf16!("\\DosDevices\\WskTcpServer"),
    device_type: wsk::nt::FILE_DEVICE_UNKNOWN,
    characteristics: 0,
    exclusive: false,
    // Administrators and SYSTEM only (SDDL_DEVOBJ_SYS_ALL_ADM_ALL).
    sddl: Some("D:P(A;;GA;;;SY)(A;;GA;;;BA)"),
});
static CLIENT: ClientSlot = ClientSlot::new();
/// The listener, from `DriverEntry` until unload.
static LISTENER: SpinLock<Option<ListenTask<Acceptor>>> = SpinLock::new(None);

/// Starts an [`Echo`] task on every accepted connection. IRQL <= DISPATCH_LEVEL.
struct Acceptor;

impl ListenHandler for Acceptor {
    fn accepted(&self, connection: AcceptedConnection, remote: Option<SocketAddr>) -> bool {
        match ConnectionTask::start(connection, BUFFER_LEN, Echo) {
            // The task runs on until the peer closes or unload stops the listener's client.
            Ok(_task) => {
                if let Some(remote) = remote {
                    wsk::info!("tcp-server: accepted {remote}");
                }
            }
            Err(e) => wsk::warn!("tcp-server: no task for a connection: {e}"),
        }
        true
    }

    fn finished(&self, error: Option<Error>) {
        if let Some(e) = error {
            wsk::error!("tcp-server: the listener stopped: {e}");
        }
    }
}

/// Sends back what arrives; closes when the peer does. IRQL <= DISPATCH_LEVEL.
struct Echo;

impl ConnectionHandler for Echo {
    fn received(&self, _: &mut [u8], len: usize) -> ConnectionStep {
        if len == 0 {
            ConnectionStep::Close
        } else {
            wsk::info!("tcp-server: echoing {len} bytes");
            ConnectionStep::Send(len)
        }
    }

    fn sent(&self, _: &mut [u8], _: usize) -> ConnectionStep {
        ConnectionStep::Receive
    }

    fn finished(&self, error: Option<Error>) {
        if let Some(e) = error {
            wsk::warn!("tcp-server: a connection ended: {e}");
        }
    }
}

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
        wsk::error!("tcp-server: IoCreateDevice failed: {status}");
        return status.0;
    }
    if let Err(e) = listen() {
        wsk::error!("tcp-server: could not listen on {LISTEN_ADDR}: {e}");
        stop();
        return e.status().0;
    }
    // SAFETY: `driver` is valid and ours to fill during DriverEntry.
    unsafe { (*driver).DriverUnload = Some(driver_unload) };
    NtStatus::SUCCESS.0
}

/// Registers with WSK, binds, and starts accepting. IRQL: PASSIVE_LEVEL.
fn listen() -> wsk::Result<()> {
    let device = DEVICE
        .device_object()
        .ok_or(wsk::Error::new(NtStatus::DEVICE_NOT_READY))?;
    // SAFETY: the device lives until unload, which shuts the client down first.
    let client = unsafe { WskClient::register(device, TIMEOUT) }?;
    let _ = CLIENT.set(client.clone());
    let local: SocketAddr = LISTEN_ADDR.parse()?;
    let listener = ListenSocket::bind(&client, local, TIMEOUT)?;
    let task = ListenTask::start(listener, Acceptor)?;
    *LISTENER.lock() = Some(task);
    wsk::info!("tcp-server: listening on {local}");
    Ok(())
}

/// Stops accepting, waits (bounded) for the connections to end, releases WSK, deletes the
/// device. IRQL: PASSIVE_LEVEL.
fn stop() {
    let listener = LISTENER.lock().take();
    if let Some(listener) = listener {
        listener.stop();
    }
    if let Some(client) = CLIENT.take() {
        if !client.shutdown(TIMEOUT) {
            wsk::warn!("tcp-server: connections still open at unload");
        }
    }
    // SAFETY: no request reaches this driver (it handles none) and the client is gone.
    drop(unsafe { DEVICE.take() });
}

/// `DriverUnload`.
unsafe extern "C" fn driver_unload(_driver: *mut DRIVER_OBJECT) {
    stop();
    wsk::info!("tcp-server: unloaded");
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
