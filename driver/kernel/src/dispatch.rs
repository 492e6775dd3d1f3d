//! The dispatch table a control-device driver fills in `DriverEntry`: the routines for
//! create, cleanup, close and device control, and its unload routine.

use wsk_bindings as sys;

/// A dispatch routine (`DRIVER_DISPATCH`), called by the I/O manager with an IRP the driver
/// then owns.
pub type DispatchRoutine = unsafe extern "C" fn(*mut sys::DEVICE_OBJECT, *mut sys::IRP) -> i32;

/// An unload routine (`DRIVER_UNLOAD`).
pub type UnloadRoutine = unsafe extern "C" fn(*mut sys::DRIVER_OBJECT);

/// What a control-device driver answers: the major functions it handles and its unload.
/// Major functions it does not name keep the I/O manager's default (invalid request).
#[derive(Clone, Copy)]
pub struct DispatchTable {
    /// `IRP_MJ_CREATE`: a handle is opened.
    pub create: DispatchRoutine,
    /// `IRP_MJ_CLEANUP`: the last handle to a file object closed (Windows; Wine sends only
    /// CLOSE).
    pub cleanup: DispatchRoutine,
    /// `IRP_MJ_CLOSE`: the file object goes away.
    pub close: DispatchRoutine,
    /// `IRP_MJ_DEVICE_CONTROL`: an IOCTL.
    pub device_control: DispatchRoutine,
    /// `DriverUnload`.
    pub unload: UnloadRoutine,
}

impl DispatchTable {
    /// Writes the routines into `driver`'s `MajorFunction` table and `DriverUnload`.
    /// IRQL: PASSIVE_LEVEL, in `DriverEntry` (before any request can arrive).
    pub fn install(&self, driver: &mut sys::DRIVER_OBJECT) {
        for (major, routine) in [
            (sys::IRP_MJ_CREATE, self.create),
            (sys::IRP_MJ_CLEANUP, self.cleanup),
            (sys::IRP_MJ_CLOSE, self.close),
            (sys::IRP_MJ_DEVICE_CONTROL, self.device_control),
        ] {
            // The table has IRP_MJ_MAXIMUM_FUNCTION + 1 entries; these four are below it.
            if let Some(slot) = driver.MajorFunction.get_mut(major as usize) {
                *slot = Some(routine);
            }
        }
        driver.DriverUnload = Some(self.unload);
    }
}
