//! The control device: `WDFDEVICE_INIT` and its setters, `WdfDeviceCreate`, the symbolic
//! link, the default queue, file objects, and the WDM dispatch routines the framework owns.

use core::ffi::c_void;
use core::mem::size_of;
use core::ptr;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Mutex, PoisonError};

use wsk_bindings::{irp, NtStatus};

use crate::driver::{self, Driver};
use crate::log::log;
use crate::object::{self, Object, Tag};
use crate::sys::*;

/// `WDFDEVICE_INIT` of a control device, filled by the `WdfDeviceInit*` setters.
///
/// # Invariants
/// `tag` is [`Tag::DeviceInit`] until `WdfDeviceCreate` consumes it or `WdfDeviceInitFree`.
#[repr(C)]
pub(crate) struct DeviceInit {
    tag: Tag,
    driver: *const Driver,
    sddl: Vec<u16>,
    name: Option<Vec<u16>>,
    device_type: u32,
    characteristics: u32,
    io_type: WDF_DEVICE_IO_TYPE,
    file_config: Option<FileConfig>,
    request_context: Option<ContextType>,
    in_caller_context: PFN_WDF_IO_IN_CALLER_CONTEXT,
}

// SAFETY: repr(C) with the tag first.
unsafe impl Object for DeviceInit {
    const TAG: Tag = Tag::DeviceInit;
    const KIND: &'static str = "PWDFDEVICE_INIT";
}

/// The file-object callbacks of a device.
#[derive(Clone, Copy)]
struct FileConfig {
    create: PFN_WDF_DEVICE_FILE_CREATE,
    cleanup: PFN_WDF_FILE_CLEANUP,
    close: PFN_WDF_FILE_CLOSE,
}

/// A request context type: its type information and the size to allocate.
#[derive(Clone, Copy)]
pub(crate) struct ContextType {
    pub(crate) info: PCWDF_OBJECT_CONTEXT_TYPE_INFO,
    pub(crate) size: usize,
}

/// `WDFDEVICE`: a control device.
///
/// # Invariants
/// `tag` is [`Tag::Device`] while the WDM device object exists; the WDM device's extension
/// holds this object's address.
#[repr(C)]
pub(crate) struct Device {
    tag: Tag,
    wdm: *mut DEVICE_OBJECT,
    name: Option<Vec<u16>>,
    link: Mutex<Option<Vec<u16>>>,
    queue: AtomicPtr<Queue>,
    file_config: Option<FileConfig>,
    pub(crate) request_context: Option<ContextType>,
    /// EvtIoInCallerContext (`WdfDeviceInitSetIoInCallerContextCallback`).
    in_caller_context: PFN_WDF_IO_IN_CALLER_CONTEXT,
    /// The framework file objects, by WDM file object address.
    files: Mutex<HashMap<usize, Box<File>>>,
}

// SAFETY: repr(C) with the tag first.
unsafe impl Object for Device {
    const TAG: Tag = Tag::Device;
    const KIND: &'static str = "WDFDEVICE";
}

/// `WDFQUEUE`: the device's default queue (parallel).
///
/// # Invariants
/// `tag` is [`Tag::Queue`] while its device lives.
#[repr(C)]
pub(crate) struct Queue {
    tag: Tag,
    evt_io_device_control: PFN_WDF_IO_QUEUE_IO_DEVICE_CONTROL,
}

// SAFETY: repr(C) with the tag first.
unsafe impl Object for Queue {
    const TAG: Tag = Tag::Queue;
    const KIND: &'static str = "WDFQUEUE";
}

/// `WDFFILEOBJECT`: one per WDM file object opened on the device.
///
/// # Invariants
/// `tag` is [`Tag::File`] from IRP_MJ_CREATE until IRP_MJ_CLOSE's callbacks returned.
#[repr(C)]
pub(crate) struct File {
    tag: Tag,
    wdm: *mut FILE_OBJECT,
    cleaned: AtomicBool,
}

// SAFETY: repr(C) with the tag first.
unsafe impl Object for File {
    const TAG: Tag = Tag::File;
    const KIND: &'static str = "WDFFILEOBJECT";
}

impl Device {
    /// The default queue and its EvtIoDeviceControl, if the driver created one.
    pub(crate) fn default_queue(
        &self,
    ) -> Option<(
        WDFQUEUE,
        unsafe extern "C" fn(WDFQUEUE, WDFREQUEST, usize, usize, ULONG),
    )> {
        let queue = self.queue.load(Ordering::Acquire);
        if queue.is_null() {
            return None;
        }
        // SAFETY: the queue lives as long as its device.
        let evt = unsafe { (*queue).evt_io_device_control }?;
        Some((queue.cast(), evt))
    }

    /// Deletes the framework file object of an open that failed (no callback runs for it).
    pub(crate) fn forget_file(&self, file: WDFFILEOBJECT) {
        let mut files = lock(&self.files);
        let key = files
            .iter()
            .find(|(_, f)| ptr::eq::<File>(&raw const ***f, file.cast_const().cast()))
            .map(|(key, _)| *key);
        if let Some(mut file) = key.and_then(|key| files.remove(&key)) {
            file.tag = Tag::Dead;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A counted string's characters (copied).
///
/// # Safety
/// `s` is null or a valid counted string.
unsafe fn copy_unicode(s: *const UNICODE_STRING) -> Option<Vec<u16>> {
    if s.is_null() {
        return None;
    }
    // SAFETY: valid (caller's contract).
    let s = unsafe { &*s };
    if s.Buffer.is_null() {
        return Some(Vec::new());
    }
    // SAFETY: Length bytes of UTF-16 at Buffer.
    Some(unsafe { core::slice::from_raw_parts(s.Buffer, usize::from(s.Length) / 2) }.to_vec())
}

/// A counted string over `chars` (which must outlive its use).
fn unicode(chars: &[u16]) -> UNICODE_STRING {
    let bytes = u16::try_from(chars.len() * 2).unwrap_or(u16::MAX);
    UNICODE_STRING {
        Length: bytes,
        MaximumLength: bytes,
        Buffer: chars.as_ptr().cast_mut(),
    }
}

/// The init structure behind a `PWDFDEVICE_INIT`.
///
/// # Safety
/// As [`object::get`]; the returned reference is used only by the one DDI running.
unsafe fn init<'a>(handle: PWDFDEVICE_INIT, ddi: &str) -> &'a mut DeviceInit {
    // SAFETY: forwarded (checks the tag).
    let _: &DeviceInit = unsafe { object::get::<DeviceInit>(handle.cast::<c_void>(), ddi) };
    // SAFETY: a live DeviceInit (tag checked), only ever touched by the one DDI running on the
    // driver's DriverEntry thread: no other reference to it is live.
    unsafe { &mut *handle.cast::<DeviceInit>() }
}

/// `WdfControlDeviceInitAllocate`: a `WDFDEVICE_INIT` for a control device. The SDDL string
/// is required; it is kept and reported at WdfDeviceCreate (see there for what Wine does
/// with it). Returns NULL on a missing SDDL.
pub(crate) unsafe extern "C" fn control_device_init_allocate(
    _globals: PWDF_DRIVER_GLOBALS,
    driver: WDFDRIVER,
    sddl: *const UNICODE_STRING,
) -> PWDFDEVICE_INIT {
    // SAFETY: the driver's handle.
    let d = unsafe { driver::get(driver, "WdfControlDeviceInitAllocate") };
    // SAFETY: the caller's counted string.
    let Some(sddl) = (unsafe { copy_unicode(sddl) }) else {
        log!(
            "WdfControlDeviceInitAllocate: no SDDL string (KMDF requires one for a control device)"
        );
        return ptr::null_mut();
    };
    if !String::from_utf16_lossy(&sddl).starts_with("D:") {
        log!(
            "WdfControlDeviceInitAllocate: SDDL `{}` does not start with a DACL (`D:`), the only part IoCreateDeviceSecure accepts",
            String::from_utf16_lossy(&sddl)
        );
        return ptr::null_mut();
    }
    let init = Box::new(DeviceInit {
        tag: Tag::DeviceInit,
        driver: d,
        sddl,
        name: None,
        device_type: FILE_DEVICE_UNKNOWN,
        characteristics: 0,
        io_type: WdfDeviceIoBuffered,
        file_config: None,
        request_context: None,
        in_caller_context: None,
    });
    Box::into_raw(init).cast()
}

/// `WdfDeviceInitFree`: frees an init structure WdfDeviceCreate did not consume.
pub(crate) unsafe extern "C" fn init_free(_globals: PWDF_DRIVER_GLOBALS, handle: PWDFDEVICE_INIT) {
    // SAFETY: the driver's handle.
    let init = unsafe { init(handle, "WdfDeviceInitFree") };
    init.tag = Tag::Dead;
    // SAFETY: made by Box::into_raw in WdfControlDeviceInitAllocate; freed once (tag now dead).
    drop(unsafe { Box::from_raw(ptr::from_mut(init)) });
}

/// `WdfDeviceInitSetIoType`: buffered is modelled (it sets DO_BUFFERED_IO, which only affects
/// reads and writes; IOCTLs take their method from the code); others are recorded with a note.
pub(crate) unsafe extern "C" fn init_set_io_type(
    _globals: PWDF_DRIVER_GLOBALS,
    handle: PWDFDEVICE_INIT,
    io_type: WDF_DEVICE_IO_TYPE,
) {
    // SAFETY: the driver's handle.
    let init = unsafe { init(handle, "WdfDeviceInitSetIoType") };
    if io_type != WdfDeviceIoBuffered {
        log!("WdfDeviceInitSetIoType: I/O type {io_type} is recorded but only buffered I/O is modelled");
    }
    init.io_type = io_type;
}

/// `WdfDeviceInitSetDeviceType`.
pub(crate) unsafe extern "C" fn init_set_device_type(
    _globals: PWDF_DRIVER_GLOBALS,
    handle: PWDFDEVICE_INIT,
    device_type: ULONG,
) {
    // SAFETY: the driver's handle.
    unsafe { init(handle, "WdfDeviceInitSetDeviceType") }.device_type = device_type;
}

/// `WdfDeviceInitSetCharacteristics`: replaces, or ORs into, the characteristics.
pub(crate) unsafe extern "C" fn init_set_characteristics(
    _globals: PWDF_DRIVER_GLOBALS,
    handle: PWDFDEVICE_INIT,
    characteristics: ULONG,
    or_in: BOOLEAN,
) {
    // SAFETY: the driver's handle.
    let init = unsafe { init(handle, "WdfDeviceInitSetCharacteristics") };
    if or_in != 0 {
        init.characteristics |= characteristics;
    } else {
        init.characteristics = characteristics;
    }
}

/// `WdfDeviceInitAssignName`: the device's name (copied).
pub(crate) unsafe extern "C" fn init_assign_name(
    _globals: PWDF_DRIVER_GLOBALS,
    handle: PWDFDEVICE_INIT,
    name: PCUNICODE_STRING,
) -> NTSTATUS {
    // SAFETY: the driver's handle.
    let init = unsafe { init(handle, "WdfDeviceInitAssignName") };
    // SAFETY: the caller's counted string (NULL clears the name).
    init.name = unsafe { copy_unicode(name) };
    NtStatus::SUCCESS.0
}

/// `WdfDeviceInitSetFileObjectConfig`: EvtDeviceFileCreate, EvtFileCleanup and EvtFileClose
/// are modelled; the framework keeps its file objects in a table, never in
/// FsContext/FsContext2, which is what every class allows
/// (`WdfFileObjectWdfCannotUseFsContexts` included). File-object attributes (contexts) are
/// not modelled: refused loudly.
pub(crate) unsafe extern "C" fn init_set_file_object_config(
    _globals: PWDF_DRIVER_GLOBALS,
    handle: PWDFDEVICE_INIT,
    config: PWDF_FILEOBJECT_CONFIG,
    attributes: PWDF_OBJECT_ATTRIBUTES,
) {
    // SAFETY: the driver's handle.
    let init = unsafe { init(handle, "WdfDeviceInitSetFileObjectConfig") };
    if config.is_null() {
        crate::log::violation("WdfDeviceInitSetFileObjectConfig: NULL config", 0);
    }
    // SAFETY: the caller's config.
    let config = unsafe { &*config };
    if config.Size as usize != size_of::<WDF_FILEOBJECT_CONFIG>() {
        crate::log::violation(
            &format!("WdfDeviceInitSetFileObjectConfig: Size {}", config.Size),
            config.Size as usize,
        );
    }
    if !attributes.is_null() {
        crate::log::violation("WdfDeviceInitSetFileObjectConfig: file-object attributes are not modelled by this runtime", 0);
    }
    init.file_config = Some(FileConfig {
        create: config.EvtDeviceFileCreate,
        cleanup: config.EvtFileCleanup,
        close: config.EvtFileClose,
    });
}

/// `WdfDeviceInitSetIoInCallerContextCallback`: every request of the device goes to
/// EvtIoInCallerContext before any queue. NULL is a WDF_VIOLATION (the DDI requires a
/// callback).
pub(crate) unsafe extern "C" fn init_set_io_in_caller_context_callback(
    _globals: PWDF_DRIVER_GLOBALS,
    handle: PWDFDEVICE_INIT,
    evt: PFN_WDF_IO_IN_CALLER_CONTEXT,
) {
    // SAFETY: the driver's handle.
    let init = unsafe { init(handle, "WdfDeviceInitSetIoInCallerContextCallback") };
    if evt.is_none() {
        crate::log::violation(
            "WdfDeviceInitSetIoInCallerContextCallback: NULL EvtIoInCallerContext",
            0,
        );
    }
    init.in_caller_context = evt;
}

/// `WdfDeviceInitSetRequestAttributes`: every request of the device gets a zeroed context of
/// the type's size (or ContextSizeOverride, if larger), 16-byte aligned.
pub(crate) unsafe extern "C" fn init_set_request_attributes(
    _globals: PWDF_DRIVER_GLOBALS,
    handle: PWDFDEVICE_INIT,
    attributes: PWDF_OBJECT_ATTRIBUTES,
) {
    // SAFETY: the driver's handle.
    let init = unsafe { init(handle, "WdfDeviceInitSetRequestAttributes") };
    if attributes.is_null() {
        return;
    }
    // SAFETY: the caller's attributes.
    let a = unsafe { &*attributes };
    if a.Size as usize != size_of::<WDF_OBJECT_ATTRIBUTES>() {
        crate::log::violation(
            &format!("WdfDeviceInitSetRequestAttributes: Size {}", a.Size),
            a.Size as usize,
        );
    }
    if a.EvtCleanupCallback.is_some() || a.EvtDestroyCallback.is_some() {
        log!("WdfDeviceInitSetRequestAttributes: request cleanup/destroy callbacks are not modelled (ignored)");
    }
    if a.ContextTypeInfo.is_null() {
        init.request_context = None;
        return;
    }
    // SAFETY: the driver's static type information.
    let info = unsafe { &*a.ContextTypeInfo };
    init.request_context = Some(ContextType {
        info: a.ContextTypeInfo,
        size: info.ContextSize.max(a.ContextSizeOverride),
    });
}

/// `WdfDeviceCreate` (control device): IoCreateDevice with the init's name, type and
/// characteristics (DO_BUFFERED_IO for buffered I/O; DO_DEVICE_INITIALIZING stays set until
/// WdfControlFinishInitializing); consumes the init (sets `*DeviceInit` to NULL) on success.
///
/// The SDDL is applied to the device object as IoCreateDeviceSecure does
/// (`wskrs_kernel::set_device_dacl`: a kernel handle to the device and ZwSetSecurityObject,
/// which Wine 8.0 implements; its IoCreateDeviceSecure does not exist); a descriptor that
/// cannot be applied fails the call and deletes the device. Wine stores the descriptor on
/// the device object but checks no open against it, and every Wine process runs as an
/// administrator anyway.
pub(crate) unsafe extern "C" fn create(
    _globals: PWDF_DRIVER_GLOBALS,
    init_ptr: *mut PWDFDEVICE_INIT,
    attributes: PWDF_OBJECT_ATTRIBUTES,
    out: *mut WDFDEVICE,
) -> NTSTATUS {
    if init_ptr.is_null() || out.is_null() {
        crate::log::violation("WdfDeviceCreate: NULL DeviceInit or Device pointer", 0);
    }
    // SAFETY: the caller's pointer to its init handle.
    let handle = unsafe { init_ptr.read() };
    // SAFETY: the driver's handle.
    let init = unsafe { init(handle, "WdfDeviceCreate") };
    if !attributes.is_null() {
        log!("WdfDeviceCreate: device attributes are ignored (no device context is modelled)");
    }
    // SAFETY: the driver object outlives its devices.
    let d = unsafe { &*init.driver };
    let name = init.name.clone();
    let mut name_string = name.as_deref().map(unicode);
    let name_ptr = name_string.as_mut().map_or(ptr::null_mut(), ptr::from_mut);
    let mut wdm: *mut DEVICE_OBJECT = ptr::null_mut();
    // SAFETY: the driver's WDM driver object; the name (if any) outlives the call; the
    // extension holds one pointer.
    let status = unsafe {
        IoCreateDevice(
            d.wdm,
            u32::try_from(size_of::<*mut Device>()).unwrap_or(8),
            name_ptr,
            init.device_type,
            init.characteristics,
            0,
            &raw mut wdm,
        )
    };
    if !NtStatus(status).is_success() {
        log!(
            "WdfDeviceCreate: IoCreateDevice failed: {:?}",
            NtStatus(status)
        );
        return status;
    }
    let device = Box::into_raw(Box::new(Device {
        tag: Tag::Device,
        wdm,
        name,
        link: Mutex::new(None),
        queue: AtomicPtr::new(ptr::null_mut()),
        file_config: init.file_config,
        request_context: init.request_context,
        in_caller_context: init.in_caller_context,
        files: Mutex::new(HashMap::new()),
    }));
    let sddl = String::from_utf16_lossy(&init.sddl);
    if let Some(object) = ptr::NonNull::new(wdm.cast::<wsk_bindings::DEVICE_OBJECT>()) {
        // SAFETY: the device object IoCreateDevice just made, not handed out yet.
        if let Err(status) = unsafe { wskrs_kernel::set_device_dacl(object, &sddl) } {
            log!("WdfDeviceCreate: the SDDL `{sddl}` cannot be applied: {status:?}");
            // SAFETY: as above; nothing refers to it.
            unsafe { IoDeleteDevice(wdm) };
            return status.0;
        }
    }
    // SAFETY: the device object IoCreateDevice just made.
    let extension = unsafe { (*wdm).DeviceExtension };
    // SAFETY: IoCreateDevice made it with a pointer-sized extension.
    unsafe { extension.cast::<*mut Device>().write(device) };
    let mut flags = DO_DEVICE_INITIALIZING;
    if init.io_type == WdfDeviceIoBuffered {
        flags |= DO_BUFFERED_IO;
    }
    // SAFETY: our new device object.
    unsafe { (*wdm).Flags |= flags };
    // Wine 8.0's IoCreateDevice does not store the characteristics it is given; the device
    // object carries them as on Windows.
    // SAFETY: as above.
    unsafe { (*wdm).Characteristics |= init.characteristics };
    lock(&d.devices).push(device as usize);
    log!(
        "WdfDeviceCreate: {} type {:#x} characteristics {:#x}; DACL `{}` set on the device object",
        name_string.as_ref().map_or_else(
            || "(unnamed)".into(),
            |_| String::from_utf16_lossy(init.name.as_deref().unwrap_or_default())
        ),
        init.device_type,
        init.characteristics,
        String::from_utf16_lossy(&init.sddl)
    );
    init.tag = Tag::Dead;
    // SAFETY: made by Box::into_raw in WdfControlDeviceInitAllocate; consumed once, here.
    drop(unsafe { Box::from_raw(ptr::from_mut(init)) });
    // SAFETY: the caller's pointers (checked non-null above).
    unsafe { init_ptr.write(ptr::null_mut()) };
    // SAFETY: as above.
    unsafe { out.write(device.cast()) };
    NtStatus::SUCCESS.0
}

/// The device behind a `WDFDEVICE`.
///
/// # Safety
/// As [`object::get`].
unsafe fn device<'a>(handle: WDFDEVICE, ddi: &str) -> &'a Device {
    // SAFETY: forwarded.
    unsafe { object::get::<Device>(handle.cast::<c_void>(), ddi) }
}

/// `WdfDeviceCreateSymbolicLink`: IoCreateSymbolicLink to the device's name; the link is
/// deleted with the device.
pub(crate) unsafe extern "C" fn create_symbolic_link(
    _globals: PWDF_DRIVER_GLOBALS,
    handle: WDFDEVICE,
    link: PCUNICODE_STRING,
) -> NTSTATUS {
    // SAFETY: the driver's handle.
    let dev = unsafe { device(handle, "WdfDeviceCreateSymbolicLink") };
    let Some(name) = dev.name.as_deref() else {
        log!("WdfDeviceCreateSymbolicLink: the device has no name");
        return NtStatus::INVALID_DEVICE_STATE.0;
    };
    // SAFETY: the caller's counted string.
    let Some(link) = (unsafe { copy_unicode(link) }) else {
        return NtStatus::INVALID_PARAMETER.0;
    };
    let mut link_string = unicode(&link);
    let mut name_string = unicode(name);
    // SAFETY: both counted strings live across the call.
    let status = unsafe { IoCreateSymbolicLink(&raw mut link_string, &raw mut name_string) };
    if NtStatus(status).is_success() {
        *lock(&dev.link) = Some(link);
    }
    status
}

/// `WdfIoQueueCreate`: the device's default queue, parallel, EvtIoDeviceControl only. The
/// runtime presents every request on the thread Wine dispatches the IRP on, at
/// PASSIVE_LEVEL, which is what `WdfExecutionLevelPassive` asks for. Other queue kinds and
/// callbacks are not modelled: refused loudly.
pub(crate) unsafe extern "C" fn io_queue_create(
    _globals: PWDF_DRIVER_GLOBALS,
    handle: WDFDEVICE,
    config: PWDF_IO_QUEUE_CONFIG,
    attributes: PWDF_OBJECT_ATTRIBUTES,
    out: *mut WDFQUEUE,
) -> NTSTATUS {
    // SAFETY: the driver's handle.
    let dev = unsafe { device(handle, "WdfIoQueueCreate") };
    if config.is_null() {
        return NtStatus::INVALID_PARAMETER.0;
    }
    // SAFETY: the caller's config.
    let c = unsafe { &*config };
    if c.Size as usize != size_of::<WDF_IO_QUEUE_CONFIG>() {
        log!("WdfIoQueueCreate: WDF_IO_QUEUE_CONFIG.Size {}", c.Size);
        return NtStatus::INFO_LENGTH_MISMATCH.0;
    }
    if c.DefaultQueue == 0 || c.DispatchType != WdfIoQueueDispatchParallel {
        log!("WdfIoQueueCreate: only a default parallel queue is modelled (DefaultQueue {}, DispatchType {})", c.DefaultQueue, c.DispatchType);
        return NtStatus::NOT_SUPPORTED.0;
    }
    let others = c.EvtIoDefault.is_some()
        || c.EvtIoRead.is_some()
        || c.EvtIoWrite.is_some()
        || c.EvtIoInternalDeviceControl.is_some()
        || c.EvtIoStop.is_some()
        || c.EvtIoResume.is_some()
        || c.EvtIoCanceledOnQueue.is_some();
    if others {
        log!("WdfIoQueueCreate: only EvtIoDeviceControl is modelled");
        return NtStatus::NOT_SUPPORTED.0;
    }
    if !attributes.is_null() {
        // SAFETY: the caller's attributes.
        let level = unsafe { (*attributes).ExecutionLevel };
        if level == WdfExecutionLevelDispatch {
            log!("WdfIoQueueCreate: WdfExecutionLevelDispatch is not modelled (callbacks run at PASSIVE_LEVEL)");
        }
    }
    let queue = Box::into_raw(Box::new(Queue {
        tag: Tag::Queue,
        evt_io_device_control: c.EvtIoDeviceControl,
    }));
    if dev
        .queue
        .compare_exchange(ptr::null_mut(), queue, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        // SAFETY: just made, never shared.
        drop(unsafe { Box::from_raw(queue) });
        log!("WdfIoQueueCreate: the device has a default queue already");
        return NtStatus::INVALID_DEVICE_STATE.0;
    }
    if !out.is_null() {
        // SAFETY: the caller's output.
        unsafe { out.write(queue.cast()) };
    }
    NtStatus::SUCCESS.0
}

/// `WdfControlFinishInitializing`: clears DO_DEVICE_INITIALIZING; the device takes requests.
pub(crate) unsafe extern "C" fn control_finish_initializing(
    _globals: PWDF_DRIVER_GLOBALS,
    handle: WDFDEVICE,
) {
    // SAFETY: the driver's handle.
    let dev = unsafe { device(handle, "WdfControlFinishInitializing") };
    // SAFETY: the device's WDM device object lives as long as it.
    unsafe { (*dev.wdm).Flags &= !DO_DEVICE_INITIALIZING };
}

/// `WdfDeviceWdmGetDeviceObject`.
pub(crate) unsafe extern "C" fn wdm_get_device_object(
    _globals: PWDF_DRIVER_GLOBALS,
    handle: WDFDEVICE,
) -> PDEVICE_OBJECT {
    // SAFETY: the driver's handle.
    unsafe { device(handle, "WdfDeviceWdmGetDeviceObject") }.wdm
}

/// `WdfFileObjectWdmGetFileObject`.
pub(crate) unsafe extern "C" fn file_object_wdm_get_file_object(
    _globals: PWDF_DRIVER_GLOBALS,
    handle: WDFFILEOBJECT,
) -> PFILE_OBJECT {
    // SAFETY: the driver's handle.
    unsafe { object::get::<File>(handle.cast::<c_void>(), "WdfFileObjectWdmGetFileObject") }.wdm
}

/// Deletes a device: its link, queue, remaining file objects and WDM device object.
///
/// # Safety
/// `device` came from WdfDeviceCreate and is deleted once; no request or callback of it runs.
pub(crate) unsafe fn delete(device: *mut Device) {
    // SAFETY: the caller's contract.
    let mut dev = unsafe { Box::from_raw(device) };
    if let Some(link) = lock(&dev.link).take() {
        let mut s = unicode(&link);
        // SAFETY: a link this device created.
        let _ = unsafe { IoDeleteSymbolicLink(&raw mut s) };
    }
    let queue = dev.queue.swap(ptr::null_mut(), Ordering::AcqRel);
    if !queue.is_null() {
        // SAFETY: made by Box::into_raw in WdfIoQueueCreate; freed once, here.
        let mut q = unsafe { Box::from_raw(queue) };
        q.tag = Tag::Dead;
    }
    let files = lock(&dev.files).len();
    if files != 0 {
        log!("unload: {files} file object(s) still open on the device (freed)");
    }
    // SAFETY: our WDM device object; nothing uses it any more.
    unsafe { IoDeleteDevice(dev.wdm) };
    log!(
        "unload: deleted control device {} and its symbolic link",
        dev.name
            .as_deref()
            .map_or_else(String::new, String::from_utf16_lossy)
    );
    dev.tag = Tag::Dead;
}

// ---- dispatch routines ----------------------------------------------------------------

/// The framework's dispatch routine for a major function.
pub(crate) fn dispatch_for(
    major: usize,
) -> unsafe extern "C" fn(*mut DEVICE_OBJECT, *mut IRP) -> NTSTATUS {
    match u32::try_from(major).unwrap_or(u32::MAX) {
        IRP_MJ_CREATE => dispatch_create,
        IRP_MJ_CLEANUP => dispatch_cleanup,
        IRP_MJ_CLOSE => dispatch_close,
        IRP_MJ_DEVICE_CONTROL => dispatch_device_control,
        _ => dispatch_other,
    }
}

/// The framework device of a WDM device object of this runtime.
///
/// # Safety
/// `wdm` is a live device object created by [`create`].
unsafe fn device_of<'a>(wdm: *mut DEVICE_OBJECT) -> &'a Device {
    // SAFETY: a live device object of this runtime (caller's contract).
    let extension = unsafe { (*wdm).DeviceExtension };
    // SAFETY: the extension holds the Device's address (type invariant).
    let device = unsafe { extension.cast::<*mut Device>().read() };
    // SAFETY: as above.
    unsafe { object::get::<Device>(device.cast_const().cast(), "dispatch") }
}

/// Completes an IRP the framework handles itself.
///
/// # Safety
/// `irp` is a live IRP this dispatch routine owns.
unsafe fn complete(irp: *mut IRP, status: NtStatus) -> NTSTATUS {
    // SAFETY: ours.
    unsafe { irp::set_io_status(irp, status.0, 0) };
    // SAFETY: ours; completed once.
    unsafe { IofCompleteRequest(irp, 0) };
    status.0
}

/// The WDM file object of an IRP.
///
/// # Safety
/// `irp` is live.
unsafe fn wdm_file(irp: *mut IRP) -> *mut FILE_OBJECT {
    // SAFETY: live IRP.
    let location = unsafe { irp::current_stack_location(irp) };
    // SAFETY: its current location.
    unsafe { irp::file_object(location) }
}

/// IRP_MJ_CREATE: a framework file object for the WDM one; then EvtDeviceFileCreate with a
/// request over the IRP (the open completes when the driver completes it), or success
/// without one.
unsafe extern "C" fn dispatch_create(wdm: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY: the I/O manager's device object and IRP.
    let dev = unsafe { device_of(wdm) };
    // SAFETY: as above.
    let file = unsafe { wdm_file(irp) };
    let mut framework_file = Box::new(File {
        tag: Tag::File,
        wdm: file,
        cleaned: AtomicBool::new(false),
    });
    // The box's address is the handle; it does not move when the box moves into the table.
    let handle: WDFFILEOBJECT = ptr::from_mut::<File>(&mut framework_file).cast();
    lock(&dev.files).insert(file as usize, framework_file);
    if let Some(create) = dev.file_config.and_then(|c| c.create) {
        // SAFETY: a live create IRP we own; the file object stays in the table until the
        // open fails or the handle closes.
        return unsafe { crate::request::present_create(dev, create, irp, handle) };
    }
    // SAFETY: ours.
    unsafe { complete(irp, NtStatus::SUCCESS) }
}

/// Calls EvtFileCleanup once per file object.
fn run_cleanup(dev: &Device, file: &File) {
    if file.cleaned.swap(true, Ordering::AcqRel) {
        return;
    }
    if let Some(cleanup) = dev.file_config.and_then(|c| c.cleanup) {
        // SAFETY: the driver's callback with a live file object, at PASSIVE_LEVEL.
        unsafe { cleanup(ptr::from_ref(file).cast_mut().cast()) };
    }
}

/// IRP_MJ_CLEANUP (Windows sends it when the last handle closes): EvtFileCleanup.
unsafe extern "C" fn dispatch_cleanup(wdm: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY: the I/O manager's device object and IRP.
    let dev = unsafe { device_of(wdm) };
    // SAFETY: as above.
    let key = unsafe { wdm_file(irp) } as usize;
    let file = lock(&dev.files).get(&key).map(|f| ptr::from_ref::<File>(f));
    if let Some(file) = file {
        // SAFETY: boxed in the table until IRP_MJ_CLOSE, which comes after this returns.
        run_cleanup(dev, unsafe { &*file });
    }
    // SAFETY: ours.
    unsafe { complete(irp, NtStatus::SUCCESS) }
}

/// IRP_MJ_CLOSE: EvtFileCleanup first if no IRP_MJ_CLEANUP came (Wine 8.0 sends none), then
/// EvtFileClose; the framework file object is freed.
unsafe extern "C" fn dispatch_close(wdm: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY: the I/O manager's device object and IRP.
    let dev = unsafe { device_of(wdm) };
    // SAFETY: as above.
    let key = unsafe { wdm_file(irp) } as usize;
    let file = lock(&dev.files).remove(&key);
    if let Some(mut file) = file {
        run_cleanup(dev, &file);
        if let Some(close) = dev.file_config.and_then(|c| c.close) {
            // SAFETY: the driver's callback with a live file object, at PASSIVE_LEVEL.
            unsafe { close(ptr::from_mut::<File>(&mut file).cast()) };
        }
        file.tag = Tag::Dead;
    }
    // SAFETY: ours.
    unsafe { complete(irp, NtStatus::SUCCESS) }
}

/// IRP_MJ_DEVICE_CONTROL: a request given to EvtIoInCallerContext, if the driver registered
/// one, else presented to the default queue's EvtIoDeviceControl.
unsafe extern "C" fn dispatch_device_control(wdm: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY: the I/O manager's device object and IRP.
    let dev = unsafe { device_of(wdm) };
    if dev.in_caller_context.is_none() && dev.default_queue().is_none() {
        // SAFETY: ours.
        return unsafe { complete(irp, NtStatus::INVALID_DEVICE_REQUEST) };
    }
    // SAFETY: as above.
    let key = unsafe { wdm_file(irp) } as usize;
    let file = lock(&dev.files)
        .get(&key)
        .map_or(ptr::null_mut(), |f| ptr::from_ref::<File>(f).cast_mut());
    if let Some(evt) = dev.in_caller_context {
        // SAFETY: a live device-control IRP we own; the file object lives until
        // IRP_MJ_CLOSE, which comes after every request of the handle completed.
        return unsafe { crate::request::present_in_caller_context(dev, evt, irp, file.cast()) };
    }
    // SAFETY: as above.
    unsafe { crate::request::present(dev, irp, file.cast()) }
}

/// Any other major function: not handled by this control device.
unsafe extern "C" fn dispatch_other(_wdm: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY: ours.
    unsafe { complete(irp, NtStatus::INVALID_DEVICE_REQUEST) }
}
