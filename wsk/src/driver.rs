//! What a driver needs around its sockets, in safe form: the device object the client is
//! registered with ([`DeviceObjectPtr`]), a `static` home for the client until unload
//! ([`ClientSlot`]) and the driver's own settings in its service key ([`ServiceParameters`]). The rest of a driver's kernel plumbing is the crate `wskrs-kernel`
//! (`driver/kernel`, the crate the wsk-rs drivers themselves use, a dependency of its own
//! because it builds on this crate's security descriptors): a named control device with its
//! symbolic link and DACL (`ControlDevice`, `ControlDeviceSlot`), the dispatch table
//! (`DispatchTable`), IRP completion (`complete_irp`), the caller's identity and the bug
//! check a panic ends in (`bug_check_on_panic`).
//!
//! The smallest driver that keeps a client until unload:
//! ```
//! # use wskrs_fake_kernel as fake;
//! # let _kernel = fake::Kernel::start();
//! use core::time::Duration;
//! use wsk::driver::ClientSlot;
//! use wskrs_kernel::{ControlDeviceSlot, ControlDeviceSpec};
//! use wsk::nt::{DRIVER_OBJECT, NTSTATUS, UNICODE_STRING};
//! use wsk::{NtStatus, WskClient};
//!
//! static DEVICE: ControlDeviceSlot = ControlDeviceSlot::new(ControlDeviceSpec {
//!     name: wsk::utf16!("\\Device\\MyDriver"),
//!     link: wsk::utf16!("\\DosDevices\\MyDriver"),
//!     device_type: wsk::nt::FILE_DEVICE_UNKNOWN,
//!     characteristics: 0,
//!     exclusive: false,
//!     sddl: None,
//! });
//! static CLIENT: ClientSlot = ClientSlot::new();
//!
//! #[no_mangle]
//! pub unsafe extern "system" fn DriverEntry(
//!     driver: *mut DRIVER_OBJECT,
//!     _registry_path: *mut UNICODE_STRING,
//! ) -> NTSTATUS {
//!     // SAFETY: the I/O manager passes this driver's valid driver object.
//!     if let Err(status) = unsafe { DEVICE.create(driver) } {
//!         return status.0;
//!     }
//!     let Some(device) = DEVICE.device_object() else {
//!         return NtStatus::UNSUCCESSFUL.0;
//!     };
//!     // SAFETY: the device lives until unload, which shuts the client down first.
//!     match unsafe { WskClient::register(device, Duration::from_secs(5)) } {
//!         Ok(client) => drop(CLIENT.set(client)),
//!         Err(e) => {
//!             // SAFETY: nothing else uses the device yet.
//!             drop(unsafe { DEVICE.take() });
//!             return e.status().0;
//!         }
//!     }
//!     // SAFETY: `driver` is valid and ours to fill in DriverEntry.
//!     unsafe { (*driver).DriverUnload = Some(driver_unload) };
//!     NtStatus::SUCCESS.0
//! }
//!
//! unsafe extern "C" fn driver_unload(_driver: *mut DRIVER_OBJECT) {
//!     if let Some(client) = CLIENT.take() {
//!         let _ = client.shutdown(Duration::from_secs(5));
//!     }
//!     // SAFETY: unload: no request can arrive, and the client is gone.
//!     drop(unsafe { DEVICE.take() });
//! }
//! # let mut driver = wsk::nt::DRIVER_OBJECT::default();
//! # assert_eq!(unsafe { DriverEntry(&mut driver, core::ptr::null_mut()) }, 0);
//! # let client = CLIENT.get().unwrap();
//! # assert!(client.provider_version() > 0);
//! # drop(client);
//! # unsafe { driver.DriverUnload.unwrap()(&mut driver) };
//! # assert!(CLIENT.get().is_none());
//! ```

use core::ffi::c_void;
use core::ptr::NonNull;

use wsk_bindings as sys;

use crate::{SpinLock, WskClient};

mod sealed {
    pub trait Sealed {}
}

/// A pointer to a `DEVICE_OBJECT`: what [`WskClient::register`] takes, so that a driver object
/// (or any other pointer) passed by mistake does not compile. Sealed.
///
/// Implemented for `NonNull<wsk::nt::DEVICE_OBJECT>` (what `wskrs_kernel::ControlDeviceSlot` hands out)
/// and for `NonNull<c_void>`, the untyped form for a device object typed by another bindings
/// crate (KMDF: `WdfDeviceWdmGetDeviceObject` returns `wdk_sys::PDEVICE_OBJECT`; cast it).
///
/// ```compile_fail
/// # use core::ptr::NonNull;
/// # fn driver_entry(driver: NonNull<wsk::nt::DRIVER_OBJECT>) -> wsk::Result<()> {
/// // A DRIVER_OBJECT is not a device object: this does not compile.
/// let _client = unsafe { wsk::WskClient::register(driver, core::time::Duration::ZERO) }?;
/// # Ok(()) }
/// ```
/// ```
/// # use core::ptr::NonNull;
/// # fn device_added(device: NonNull<wsk::nt::DEVICE_OBJECT>) -> wsk::Result<()> {
/// let _client = unsafe { wsk::WskClient::register(device, core::time::Duration::ZERO) }?;
/// # Ok(()) }
/// ```
pub trait DeviceObjectPtr: sealed::Sealed {
    /// The device object.
    fn into_device_object(self) -> NonNull<sys::DEVICE_OBJECT>;
}

impl sealed::Sealed for NonNull<sys::DEVICE_OBJECT> {}
impl DeviceObjectPtr for NonNull<sys::DEVICE_OBJECT> {
    fn into_device_object(self) -> NonNull<sys::DEVICE_OBJECT> {
        self
    }
}

impl sealed::Sealed for NonNull<c_void> {}
impl DeviceObjectPtr for NonNull<c_void> {
    fn into_device_object(self) -> NonNull<sys::DEVICE_OBJECT> {
        self.cast()
    }
}

/// A `static` home for a driver's [`WskClient`], from `DriverEntry` (or first use) until
/// unload: [`Self::set`] once, [`Self::get`] a clone wherever a socket is opened,
/// [`Self::take`] in unload and then [`WskClient::shutdown`].
///
/// # Invariants
/// Holds at most one client; the lock is held only to move or clone it (never to drop one,
/// since dropping the last clone deregisters, which needs PASSIVE_LEVEL).
pub struct ClientSlot(SpinLock<Option<WskClient>>);

impl ClientSlot {
    /// An empty slot. IRQL: any.
    #[must_use]
    pub const fn new() -> Self {
        Self(SpinLock::new(None))
    }

    /// Keeps `client`. IRQL <= DISPATCH_LEVEL.
    ///
    /// # Errors
    /// Gives `client` back if the slot already holds one.
    pub fn set(&self, client: WskClient) -> Result<(), WskClient> {
        let mut slot = self.0.lock();
        if slot.is_some() {
            return Err(client);
        }
        *slot = Some(client);
        Ok(())
    }

    /// A clone of the client, if the slot holds one. IRQL <= DISPATCH_LEVEL; drop the clone at
    /// PASSIVE_LEVEL if the slot might have been emptied meanwhile (the last clone deregisters).
    #[must_use]
    pub fn get(&self) -> Option<WskClient> {
        self.0.lock().clone()
    }

    /// Empties the slot, handing the client back (for [`WskClient::shutdown`] in unload).
    /// IRQL <= DISPATCH_LEVEL; drop or shut down the result at PASSIVE_LEVEL.
    #[must_use]
    pub fn take(&self) -> Option<WskClient> {
        self.0.lock().take()
    }
}

impl Default for ClientSlot {
    fn default() -> Self {
        Self::new()
    }
}

/// The `Parameters` subkey of a driver's service key (`<RegistryPath>\\Parameters`, where an
/// INF's `HKR,Parameters,...` lines write), open for reading `REG_DWORD` values. Closed on drop.
/// IRQL: PASSIVE_LEVEL throughout (registry calls).
///
/// # Invariants
/// `key` is a kernel handle to an open registry key, owned by this value.
pub struct ServiceParameters {
    key: sys::HANDLE,
}

/// The subkey's name, UTF-16.
const PARAMETERS_SUBKEY: &[u16] = crate::utf16!("Parameters");

impl ServiceParameters {
    /// Opens the `Parameters` subkey of the service key named by `registry_path` (the string
    /// `DriverEntry` receives) for reading.
    ///
    /// # Errors
    /// `STATUS_OBJECT_NAME_NOT_FOUND` when the service has no `Parameters` key (use the
    /// defaults then), `STATUS_INVALID_PARAMETER` for a null path, or the status of
    /// `ZwOpenKey`.
    ///
    /// # Safety
    /// `registry_path` is null or points to a valid `UNICODE_STRING` for the duration of the
    /// call (the one `DriverEntry` receives is; KMDF's `PCUNICODE_STRING` has the same layout:
    /// cast it).
    pub unsafe fn open(registry_path: *const sys::UNICODE_STRING) -> crate::Result<Self> {
        if registry_path.is_null() {
            return Err(crate::Error::new(crate::NtStatus::INVALID_PARAMETER));
        }
        // SAFETY: a valid counted string (caller's contract); no root.
        let service = unsafe { open_key(core::ptr::null_mut(), registry_path) }?;
        let name = crate::nt::unicode_string(PARAMETERS_SUBKEY);
        // SAFETY: `service` is open; `name` lives across the call.
        let parameters = unsafe { open_key(service, &raw const name) };
        // SAFETY: opened above, closed once here; nothing to do if closing fails.
        let _ = unsafe { sys::ZwClose(service) };
        // INVARIANT: `open_key` returned an open kernel handle that we own.
        parameters.map(|key| Self { key })
    }

    /// The `REG_DWORD` value `name`; `None` when it is absent, of another type, or its name is
    /// longer than [`MAX_VALUE_NAME`] UTF-16 units.
    #[must_use]
    pub fn dword(&self, name: &str) -> Option<u32> {
        let mut units = [0u16; MAX_VALUE_NAME];
        let mut len = 0usize;
        for unit in name.encode_utf16() {
            *units.get_mut(len)? = unit;
            len = len.checked_add(1)?;
        }
        let bytes = u16::try_from(len.checked_mul(2)?).ok()?;
        let name = sys::UNICODE_STRING {
            Length: bytes,
            MaximumLength: bytes,
            Buffer: units.as_mut_ptr(),
        };
        // KEY_VALUE_PARTIAL_INFORMATION: TitleIndex, Type, DataLength (u32 each), then the
        // data; `u32` words keep it aligned.
        let mut info = [0u32; 4];
        let mut returned = 0u32;
        let size = u32::try_from(core::mem::size_of_val(&info)).ok()?;
        // SAFETY: `key` is open (type invariant); `name` (over `units`), `info` and
        // `returned` are valid locals of the sizes given.
        let status = crate::NtStatus(unsafe {
            sys::ZwQueryValueKey(
                self.key,
                &raw const name,
                sys::KeyValuePartialInformation,
                info.as_mut_ptr().cast(),
                size,
                &raw mut returned,
            )
        });
        let [_, kind, length, data] = info;
        (status.is_success() && kind == sys::REG_DWORD && length == 4).then_some(data)
    }
}

/// The longest value name [`ServiceParameters::dword`] asks for, in UTF-16 units.
pub const MAX_VALUE_NAME: usize = 128;

impl Drop for ServiceParameters {
    fn drop(&mut self) {
        // SAFETY: `key` is open and owned (type invariant), closed only here.
        let _ = unsafe { sys::ZwClose(self.key) };
    }
}

/// `ZwOpenKey(KEY_QUERY_VALUE)` of `name` under `root` (null: `name` is absolute), as a kernel
/// handle. IRQL: PASSIVE_LEVEL.
///
/// # Safety
/// `root` is null or an open key handle; `name` points to a valid `UNICODE_STRING`.
unsafe fn open_key(
    root: sys::HANDLE,
    name: *const sys::UNICODE_STRING,
) -> crate::Result<sys::HANDLE> {
    let attributes = sys::OBJECT_ATTRIBUTES {
        Length: u32::try_from(core::mem::size_of::<sys::OBJECT_ATTRIBUTES>()).unwrap_or(0),
        RootDirectory: root,
        ObjectName: name.cast_mut(),
        Attributes: sys::OBJ_CASE_INSENSITIVE | sys::OBJ_KERNEL_HANDLE,
        SecurityDescriptor: core::ptr::null_mut(),
        SecurityQualityOfService: core::ptr::null_mut(),
    };
    let mut key: sys::HANDLE = core::ptr::null_mut();
    // SAFETY: `attributes` and `key` are valid locals; `name` and `root` per the caller.
    let status = crate::NtStatus(unsafe {
        sys::ZwOpenKey(&raw mut key, sys::KEY_QUERY_VALUE, &raw const attributes)
    });
    if status.is_success() {
        Ok(key)
    } else {
        Err(crate::Error::new(status))
    }
}

#[cfg(test)]
mod tests {
    use core::time::Duration;

    use super::*;
    use wskrs_fake_kernel as fake;

    #[test]
    fn slot_holds_one_client_until_taken() {
        let _kernel = fake::Kernel::start();
        let slot = ClientSlot::new();
        assert!(slot.get().is_none());
        // SAFETY: the fake device lives for the whole process.
        let client = unsafe { WskClient::register(fake::device(), Duration::from_secs(1)) };
        let Ok(client) = client else {
            panic!("register failed: {:?}", client.err());
        };
        let second = client.clone();
        assert!(slot.set(client).is_ok());
        assert!(
            slot.set(second).is_err(),
            "a full slot gives the client back"
        );
        assert!(slot.get().is_some());
        let Some(client) = slot.take() else {
            panic!("the slot was emptied early");
        };
        assert!(slot.get().is_none());
        assert!(client.shutdown(Duration::from_secs(1)));
    }

    #[test]
    fn service_parameters_read_dwords_of_the_parameters_subkey() {
        static SERVICE: &[u16] =
            crate::utf16!("\\Registry\\Machine\\System\\CurrentControlSet\\Services\\MyDriver");
        let kernel = fake::Kernel::start();
        let handles = fake::devices::open_kernel_handles();
        let path = crate::nt::unicode_string(SERVICE);
        // No Parameters key: the driver keeps its defaults.
        // SAFETY: `path` is a valid counted string.
        let missing = unsafe { ServiceParameters::open(&raw const path) };
        assert_eq!(
            missing.err().map(crate::Error::status),
            Some(crate::NtStatus::OBJECT_NAME_NOT_FOUND)
        );
        // SAFETY: a null path is refused, not read.
        let null = unsafe { ServiceParameters::open(core::ptr::null()) };
        assert_eq!(
            null.err().map(crate::Error::status),
            Some(crate::NtStatus::INVALID_PARAMETER)
        );
        fake::registry::set_dword(
            "\\Registry\\Machine\\System\\CurrentControlSet\\Services\\MyDriver\\Parameters",
            "MaxEndpoints",
            9_000,
        );
        // SAFETY: as above.
        let parameters = unsafe { ServiceParameters::open(&raw const path) };
        let Ok(parameters) = parameters else {
            panic!("open: {:?}", parameters.err());
        };
        assert_eq!(parameters.dword("maxendpoints"), Some(9_000));
        assert_eq!(parameters.dword("Absent"), None);
        assert_eq!(parameters.dword(&"x".repeat(MAX_VALUE_NAME + 1)), None);
        drop(parameters);
        assert_eq!(
            fake::devices::open_kernel_handles(),
            handles,
            "every key handle is closed"
        );
        kernel.assert_clean();
        assert!(fake::violations().is_empty(), "{:?}", fake::violations());
    }

    #[test]
    fn a_typed_device_pointer_is_the_same_address() {
        let untyped = fake::device();
        let typed: NonNull<sys::DEVICE_OBJECT> = untyped.cast();
        assert_eq!(untyped.into_device_object(), typed.into_device_object());
    }
}
