//! A named control device, its security descriptor and its symbolic link, owned together.

use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, Ordering};

use wsk::security::SecurityDescriptorBuf;
use wsk_bindings as sys;
use wskrs_ntstatus::NtStatus;

/// What a control device is: its names, type, characteristics, exclusivity and who may open
/// it.
#[derive(Clone, Copy, Debug)]
pub struct ControlDeviceSpec {
    /// The device's name (`\Device\...`), UTF-16, not NUL-terminated.
    pub name: &'static [u16],
    /// The symbolic link to it (`\DosDevices\...`), UTF-16, not NUL-terminated.
    pub link: &'static [u16],
    /// `DeviceType` of `IoCreateDevice` (the protocol's `DEVICE_TYPE`).
    pub device_type: u32,
    /// `DeviceCharacteristics`: `FILE_DEVICE_SECURE_OPEN` is always added.
    pub characteristics: u32,
    /// `Exclusive`: one handle at a time.
    pub exclusive: bool,
    /// The device's DACL as SDDL (`D:...` only, as `IoCreateDeviceSecure` takes it), applied
    /// before the symbolic link exists; `None` keeps the default security `IoCreateDevice`
    /// gives.
    pub sddl: Option<&'static str>,
}

/// Largest self-relative descriptor a device SDDL may make.
const DEVICE_DESCRIPTOR_CAPACITY: usize = 256;

/// A kernel handle to a device object, closed when dropped.
///
/// # Invariants
/// `0` was opened by `ObOpenObjectByPointer` and is closed once, by `drop`.
struct DeviceHandle(*mut core::ffi::c_void);

impl DeviceHandle {
    /// Opens `device` with `access` ([`ObOpenObjectByPointer`], a kernel handle).
    /// IRQL: PASSIVE_LEVEL.
    ///
    /// # Safety
    /// `device` is a live device object.
    ///
    /// [`ObOpenObjectByPointer`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/ntifs/nf-ntifs-obopenobjectbypointer
    unsafe fn open(device: NonNull<sys::DEVICE_OBJECT>, access: u32) -> Result<Self, NtStatus> {
        let mut handle = ptr::null_mut();
        // SAFETY: `device` is live (caller's contract); no access state, any object type,
        // kernel mode; `handle` is a valid local.
        let status = NtStatus(unsafe {
            sys::ObOpenObjectByPointer(
                device.as_ptr().cast(),
                sys::OBJ_KERNEL_HANDLE,
                ptr::null_mut(),
                access,
                ptr::null_mut(),
                sys::KERNEL_MODE,
                &raw mut handle,
            )
        });
        if status.is_success() {
            // INVARIANT: opened just now.
            Ok(Self(handle))
        } else {
            Err(status)
        }
    }
}

impl Drop for DeviceHandle {
    /// Closes the handle (`ZwClose`). IRQL: PASSIVE_LEVEL.
    fn drop(&mut self) {
        // SAFETY: opened by `open` and closed once, here (type invariant). Nothing to do if
        // closing fails.
        let _ = unsafe { sys::ZwClose(self.0) };
    }
}

/// Sets `device`'s DACL to `sddl` the way `IoCreateDeviceSecure` does (it lives in the static
/// wdmsec.lib, which the project does not link): a kernel handle to the device object
/// (`ObOpenObjectByPointer`), [`ZwSetSecurityObject`] with `DACL_SECURITY_INFORMATION`, and
/// the handle closed. IRQL: PASSIVE_LEVEL.
///
/// # Errors
/// `STATUS_INVALID_PARAMETER` if `sddl` is not a DACL the `wsk` SDDL parser accepts (only
/// `D:` is allowed); otherwise the failing status of the calls.
///
/// # Safety
/// `device` is a live device object of this driver.
///
/// [`ZwSetSecurityObject`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/ntifs/nf-ntifs-zwsetsecurityobject
pub unsafe fn set_device_dacl(
    device: NonNull<sys::DEVICE_OBJECT>,
    sddl: &str,
) -> Result<(), NtStatus> {
    if !sddl.starts_with("D:") {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let mut buffer = SecurityDescriptorBuf::<DEVICE_DESCRIPTOR_CAPACITY>::new();
    let descriptor = buffer
        .from_sddl(sddl)
        .map_err(|_| NtStatus::INVALID_PARAMETER)?;
    // SAFETY: `device` is live (caller's contract).
    let handle = unsafe { DeviceHandle::open(device, sys::WRITE_DAC) }?;
    // SAFETY: `handle` is open with WRITE_DAC; the descriptor is a valid self-relative one
    // that outlives the call, which only reads it.
    let status = NtStatus(unsafe {
        sys::ZwSetSecurityObject(
            handle.0,
            sys::DACL_SECURITY_INFORMATION,
            descriptor.as_bytes().as_ptr().cast_mut().cast(),
        )
    });
    if status.is_success() {
        Ok(())
    } else {
        Err(status)
    }
}

/// Reads `device`'s DACL back from the object manager into `out` as a self-relative security
/// descriptor (`ObOpenObjectByPointer` with `READ_CONTROL`, [`ZwQuerySecurityObject`] with
/// `DACL_SECURITY_INFORMATION`, the handle closed) and returns its length: what the kernel
/// holds, not what the driver asked for. IRQL: PASSIVE_LEVEL.
///
/// # Errors
/// `STATUS_BUFFER_TOO_SMALL` if the descriptor is larger than `out`; otherwise the failing
/// status of the calls.
///
/// # Safety
/// `device` is a live device object of this driver.
///
/// [`ZwQuerySecurityObject`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/ntifs/nf-ntifs-zwquerysecurityobject
pub unsafe fn query_device_dacl(
    device: NonNull<sys::DEVICE_OBJECT>,
    out: &mut [u8],
) -> Result<usize, NtStatus> {
    let length = u32::try_from(out.len()).unwrap_or(u32::MAX);
    // SAFETY: `device` is live (caller's contract).
    let handle = unsafe { DeviceHandle::open(device, sys::READ_CONTROL) }?;
    let mut needed = 0u32;
    // SAFETY: `handle` is open with READ_CONTROL; `out` is writable for `length` bytes (at
    // most its length) and `needed` is a valid local.
    let status = NtStatus(unsafe {
        sys::ZwQuerySecurityObject(
            handle.0,
            sys::DACL_SECURITY_INFORMATION,
            out.as_mut_ptr().cast(),
            length,
            &raw mut needed,
        )
    });
    if !status.is_success() {
        return Err(status);
    }
    // The descriptor's length is what it needs; a kernel that reports none used all of it.
    let written = usize::try_from(needed).unwrap_or(usize::MAX);
    Ok(if written == 0 || written > out.len() {
        out.len()
    } else {
        written
    })
}

/// A counted string over static UTF-16 (not NUL-terminated, as `UNICODE_STRING` allows).
/// A name too long for a `UNICODE_STRING` (32 767 characters) is cut at its limit.
fn unicode(s: &'static [u16]) -> sys::UNICODE_STRING {
    let bytes = u16::try_from(s.len().saturating_mul(2)).unwrap_or(0xFFFE);
    sys::UNICODE_STRING {
        Length: bytes,
        MaximumLength: bytes,
        Buffer: s.as_ptr().cast_mut(),
    }
}

/// A control device and its symbolic link; dropping it deletes the link, then the device.
///
/// # Invariants
/// `device` was created by `IoCreateDevice` with `spec.name`, and the link `spec.link` to it by
/// `IoCreateSymbolicLink`; both exist until this value is dropped, which deletes both.
#[derive(Debug)]
pub struct ControlDevice {
    device: NonNull<sys::DEVICE_OBJECT>,
    spec: &'static ControlDeviceSpec,
}

impl ControlDevice {
    /// Creates the device ([`IoCreateDevice`], no extension, `FILE_DEVICE_SECURE_OPEN` added to
    /// the characteristics), applies the spec's DACL ([`set_device_dacl`]), then creates its
    /// symbolic link ([`IoCreateSymbolicLink`]): no name reaches the device before its DACL
    /// does. On failure nothing stays created.
    ///
    /// IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// The failing status of `IoCreateDevice`, [`set_device_dacl`] or `IoCreateSymbolicLink`
    /// (e.g. `STATUS_OBJECT_NAME_COLLISION`).
    ///
    /// # Safety
    /// `driver` is this driver's valid driver object (during `DriverEntry`, or later while the
    /// driver is loaded).
    ///
    /// [`IoCreateDevice`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-iocreatedevice
    /// [`IoCreateSymbolicLink`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-iocreatesymboliclink
    pub unsafe fn create(
        driver: *mut sys::DRIVER_OBJECT,
        spec: &'static ControlDeviceSpec,
    ) -> Result<Self, NtStatus> {
        let mut name = unicode(spec.name);
        let mut device = ptr::null_mut();
        // SAFETY: `driver` is valid (caller's contract); `name` and `device` are valid locals
        // that outlive the call.
        let status = NtStatus(unsafe {
            sys::IoCreateDevice(
                driver,
                0,
                &raw mut name,
                spec.device_type,
                spec.characteristics | sys::FILE_DEVICE_SECURE_OPEN,
                u8::from(spec.exclusive),
                &raw mut device,
            )
        });
        if !status.is_success() {
            return Err(status);
        }
        let device = NonNull::new(device).ok_or(NtStatus::UNSUCCESSFUL)?;
        if let Some(sddl) = spec.sddl {
            // SAFETY: created above.
            if let Err(status) = unsafe { set_device_dacl(device, sddl) } {
                // SAFETY: created above and not handed out: nothing else refers to it.
                unsafe { sys::IoDeleteDevice(device.as_ptr()) };
                return Err(status);
            }
        }
        let mut link = unicode(spec.link);
        // SAFETY: both are valid counted strings that outlive the call.
        let status = NtStatus(unsafe { sys::IoCreateSymbolicLink(&raw mut link, &raw mut name) });
        if !status.is_success() {
            // SAFETY: created above and not handed out: nothing else refers to it.
            unsafe { sys::IoDeleteDevice(device.as_ptr()) };
            return Err(status);
        }
        // INVARIANT: the device and its link were both created above.
        Ok(Self { device, spec })
    }

    /// The device object, e.g. for `WskClient::register` or to set `Flags`. Valid while `self`
    /// lives. IRQL: any.
    #[must_use]
    pub fn device_object(&self) -> NonNull<sys::DEVICE_OBJECT> {
        self.device
    }

    /// Adds `flags` (e.g. `DO_DIRECT_IO`, `DO_BUFFERED_IO`) to the device object's `Flags`.
    /// Meant for `DriverEntry`, before the first request. IRQL: PASSIVE_LEVEL.
    pub fn set_flags(&mut self, flags: u32) {
        // SAFETY: the device object is live while `self` is (type invariant) and `&mut self`
        // makes this the only writer through this crate.
        unsafe { (*self.device.as_ptr()).Flags |= flags };
    }
}

impl Drop for ControlDevice {
    /// Deletes the link ([`IoDeleteSymbolicLink`]), then the device ([`IoDeleteDevice`]).
    /// IRQL: PASSIVE_LEVEL.
    ///
    /// [`IoDeleteSymbolicLink`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-iodeletesymboliclink
    /// [`IoDeleteDevice`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-iodeletedevice
    fn drop(&mut self) {
        let mut link = unicode(self.spec.link);
        // SAFETY: the link exists (type invariant); `link` outlives the call. A failure leaves
        // nothing we could retry.
        let _ = unsafe { sys::IoDeleteSymbolicLink(&raw mut link) };
        // SAFETY: the device exists (type invariant) and is deleted once, here.
        unsafe { sys::IoDeleteDevice(self.device.as_ptr()) };
    }
}

/// A `static` home for a driver's [`ControlDevice`]: filled in `DriverEntry`, read by
/// dispatch and callbacks, emptied (deleting the device) by unload.
///
/// # Invariants
/// `device` is null, or the device object of a [`ControlDevice`] created with `spec` whose
/// ownership was moved into this slot (its link and device exist until taken back out).
pub struct ControlDeviceSlot {
    spec: ControlDeviceSpec,
    device: AtomicPtr<sys::DEVICE_OBJECT>,
}

impl ControlDeviceSlot {
    /// An empty slot for the device `spec` describes. IRQL: any.
    #[must_use]
    pub const fn new(spec: ControlDeviceSpec) -> Self {
        Self {
            spec,
            device: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Creates the device and its link ([`ControlDevice::create`]) and keeps them here.
    /// IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// As [`ControlDevice::create`]; `STATUS_INVALID_DEVICE_STATE` if the slot is full.
    ///
    /// # Safety
    /// As [`ControlDevice::create`].
    pub unsafe fn create(&'static self, driver: *mut sys::DRIVER_OBJECT) -> Result<(), NtStatus> {
        if !self.device.load(Ordering::Acquire).is_null() {
            return Err(NtStatus::INVALID_DEVICE_STATE);
        }
        // SAFETY: caller's contract.
        let device = unsafe { ControlDevice::create(driver, &self.spec) }?;
        let raw = device.device.as_ptr();
        match self.device.compare_exchange(
            ptr::null_mut(),
            raw,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => {
                // INVARIANT: ownership moved into the slot; `take` rebuilds the owner.
                core::mem::forget(device);
                Ok(())
            }
            // Filled meanwhile: ours is deleted on drop.
            Err(_) => Err(NtStatus::INVALID_DEVICE_STATE),
        }
    }

    /// The device object, if the slot holds one. It stays valid until [`Self::take`] (the
    /// driver's unload). IRQL: any.
    #[must_use]
    pub fn device_object(&self) -> Option<NonNull<sys::DEVICE_OBJECT>> {
        NonNull::new(self.device.load(Ordering::Acquire))
    }

    /// The device's DACL as the kernel holds it ([`query_device_dacl`]) into `out`; returns
    /// its length. IRQL: PASSIVE_LEVEL.
    ///
    /// # Errors
    /// `STATUS_DEVICE_NOT_READY` if the slot is empty; as [`query_device_dacl`].
    pub fn query_dacl(&self, out: &mut [u8]) -> Result<usize, NtStatus> {
        let device = self.device_object().ok_or(NtStatus::DEVICE_NOT_READY)?;
        // SAFETY: the slot's device lives until `take`, which runs at unload after every
        // request completed.
        unsafe { query_device_dacl(device, out) }
    }

    /// Empties the slot, handing back its device (dropping it deletes link and device).
    /// IRQL: PASSIVE_LEVEL.
    ///
    /// # Safety
    /// No request or callback still uses the device object (unload, after the driver stopped
    /// everything that could).
    pub unsafe fn take(&'static self) -> Option<ControlDevice> {
        let device = NonNull::new(self.device.swap(ptr::null_mut(), Ordering::AcqRel))?;
        // INVARIANT: the slot held a ControlDevice created with `self.spec` (slot invariant);
        // the swap made this the only owner.
        Some(ControlDevice {
            device,
            spec: &self.spec,
        })
    }
}
