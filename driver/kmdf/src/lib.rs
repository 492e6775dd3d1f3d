//! The KMDF shell of the wsk-rs driver (`wskrs.sys`).
//!
//! A non-PnP KMDF driver (`WdfDriverInitNonPnpDriver`) with one control device,
//! `\Device\WskRs` and `\DosDevices\WskRs`, with the semantics of the WDM shell (`driver/wdm`):
//! each IOCTL goes to the framework-neutral core ([`wskrs_driver::Driver`]) and the request is
//! completed with the core's answer; a handle's cleanup and close close its endpoints; unload
//! shuts the core down (every socket closed, then the WSK registration released) before the
//! framework deletes the control device. The WSK client registers on the first request that
//! needs it, through [`wsk::WskClient`], with the control device's WDM device object.
//!
//! On Windows it builds with the WDK (docs/deploying-on-windows.md). On Linux `cargo xtask
//! build` compiles and links it against a kit of the project's own (`linux-wdk/README.md`),
//! and the end-to-end suite runs it under Wine over the project's KMDF runtime
//! (`tests/kmdf-runtime`), not over Microsoft's framework.
//!
//! # Names
//! WDF names come from `wdk-sys` (bindings generated from the WDK's headers at build time) and
//! are called through its `call_unsafe_wdf_function_binding!`; WSK and the rest of NT come
//! through `wsk`. Microsoft's NONPNP sample (general/ioctl/kmdf) is the reference for the
//! sequence: WdfDriverCreate, WdfControlDeviceInitAllocate, WdfDeviceCreate,
//! WdfDeviceCreateSymbolicLink, WdfIoQueueCreate, WdfControlFinishInitializing.
//!
//! # Who asks
//! EvtDeviceFileCreate identifies each new handle with the user of the opener's token
//! ([`wskrs_kernel::current_process_user`], as the WDM shell's IRP_MJ_CREATE does) and
//! completes the create request. EvtIoInCallerContext runs each METHOD_BUFFERED request from
//! user mode through the core in the sender's thread and completes it there, so the sockets
//! a request creates are created on behalf of the sender's process
//! (`wsk::SocketOwner::CurrentProcess`), as under the WDM shell: KMDF calls a queue's
//! callbacks in no particular thread. Every other request goes to the default queue
//! (`WdfDeviceEnqueueRequest`).
//!
//! # IRQL
//! DriverEntry, EvtDriverUnload, EvtDeviceFileCreate, EvtFileCleanup and EvtFileClose run at
//! PASSIVE_LEVEL (KMDF documents it). EvtIoInCallerContext runs at the sender's IRQL:
//! PASSIVE_LEVEL for a user-mode sender (the only requests it runs itself), up to
//! DISPATCH_LEVEL for a kernel-mode one (only enqueued). The default queue's attributes ask
//! for `WdfExecutionLevelPassive`, so EvtIoDeviceControl runs at PASSIVE_LEVEL too, which the
//! core's blocking calls need. EvtRequestCancel and the completion of pended requests run at
//! IRQL <= DISPATCH_LEVEL.
//!
//! # Requests
//! METHOD_BUFFERED codes go to [`Driver::device_control`] with the system buffer and are
//! completed before EvtIoInCallerContext (user mode) or EvtIoDeviceControl (kernel mode)
//! returns. Direct-I/O codes (SEND, RECV, SEND_TO, RECV_FROM, ACCEPT, TRANSACT:
//! METHOD_IN_DIRECT / METHOD_OUT_DIRECT) go to [`Driver::direct`] as a
//! [`PendedRequest`] and are completed later, by the core, as the WDM shell's pended IRPs are:
//! - their data buffer is `Irp->MdlAddress`, which `WdfRequestRetrieveOutputWdmMdl` returns
//!   for both direct methods (KMDF's FxRequest::GetDeviceControlOutputMdl); that MDL, not a
//!   copy, is what WSK reads or writes, and it stays valid until the request is completed;
//! - [`PendingRequest::arm_cancel`] keeps the core's ticket in the request's context and calls
//!   `WdfRequestMarkCancelableEx` (the Ex form, because the core arms while holding a spin
//!   lock: it returns STATUS_CANCELLED instead of calling EvtRequestCancel inline);
//! - EvtRequestCancel hands the ticket to [`Driver::cancel`], which cancels the WSK request;
//!   the core completes the request from the WSK completion, never before it;
//! - [`PendingRequest::complete`] calls `WdfRequestUnmarkCancelable` first; when that says
//!   STATUS_CANCELLED, KMDF forbids completing before EvtRequestCancel has been called, so the
//!   completion and EvtRequestCancel share an ownership count and the last one completes
//!   (the pattern of Microsoft's KMDF echo sample);
//! - EvtFileCleanup's [`Driver::cleanup`] cancels the handle's pended requests.
//!
//! A request that blocks (a buffered DISCONNECT, a first request waiting for the WSK
//! provider) blocks its sender's thread only, and the queue is parallel, so none holds back
//! the others.
#![no_std]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

// The panic handler: KeBugCheckEx with the tag "RPNC" and the panic's source location.
#[cfg(not(test))]
extern crate wdk_panic;

use core::ffi::c_void;
use core::mem::size_of;
use core::ptr::{self, NonNull};
use core::sync::atomic::{
    AtomicBool, AtomicI32, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};
use core::time::Duration;

use wdk::{nt_success, println};
use wdk_sys::{
    call_unsafe_wdf_function_binding, _WDF_DEVICE_IO_TYPE, _WDF_DRIVER_INIT_FLAGS,
    _WDF_EXECUTION_LEVEL, _WDF_FILEOBJECT_CLASS, _WDF_IO_QUEUE_DISPATCH_TYPE,
    _WDF_SYNCHRONIZATION_SCOPE, _WDF_TRI_STATE, FILE_DEVICE_SECURE_OPEN, NTSTATUS,
    PCUNICODE_STRING, PDRIVER_OBJECT, PMDL, PWDFDEVICE_INIT, ULONG, ULONG_PTR, UNICODE_STRING,
    WDFDEVICE, WDFDRIVER, WDFFILEOBJECT, WDFQUEUE, WDFREQUEST, WDF_DRIVER_CONFIG,
    WDF_FILEOBJECT_CONFIG, WDF_IO_QUEUE_CONFIG, WDF_NO_OBJECT_ATTRIBUTES, WDF_OBJECT_ATTRIBUTES,
    WDF_OBJECT_CONTEXT_TYPE_INFO,
};
use wsk::driver::ServiceParameters;
use wsk::io::MdlBuffer;
use wsk::{NtStatus, WskClient};
use wskrs_driver::{Caller, Completion, Driver, Limits, PendingRequest, Ticket};
use wskrs_protocol::IoctlCode;

/// The core, shared by every callback.
static DRIVER: Driver<PendedRequest> = Driver::new(register_wsk);

/// The control device's WDM device object (what `WskClient::register` needs), set before the
/// device accepts requests, cleared in unload.
static WDM_DEVICE: AtomicPtr<c_void> = AtomicPtr::new(ptr::null_mut());

static DEVICE_NAME: &[u16] = wsk::utf16!(wskrs_protocol::DEVICE_NAME);
static LINK_NAME: &[u16] = wsk::utf16!(wskrs_protocol::DOS_DEVICE_NAME);
/// [`wskrs_protocol::DEVICE_SDDL`] (`SDDL_DEVOBJ_SYS_ALL_ADM_ALL`, wdmsec.h; "SDDL for Device
/// Objects" in the WDK docs): SYSTEM and Administrators only, as the WDM shell's device: the
/// driver opens kernel sockets on its callers' behalf. WdfControlDeviceInitAllocate requires
/// an SDDL string and applies it as IoCreateDeviceSecure does.
static DEVICE_SDDL: &[u16] = wsk::utf16!(wskrs_protocol::DEVICE_SDDL);

/// Pool tag of the framework's allocations for this driver ("WskR" in a debugger's `!pool`).
const POOL_TAG: ULONG = u32::from_le_bytes(*b"WskR");

/// The `Size` member of a WDF structure, checked at compile time to fit in a ULONG.
#[allow(clippy::cast_possible_truncation)] // the const block in the body proves it fits
const fn wdf_size<T>() -> ULONG {
    const { assert!(size_of::<T>() <= ULONG::MAX as usize) };
    size_of::<T>() as ULONG
}

/// A counted string over static UTF-16 (not NUL-terminated, as `UNICODE_STRING` allows).
fn unicode(s: &'static [u16]) -> UNICODE_STRING {
    // The strings are a few dozen characters: the byte length fits in u16.
    let bytes = u16::try_from(s.len().saturating_mul(2)).unwrap_or(u16::MAX);
    UNICODE_STRING {
        Length: bytes,
        MaximumLength: bytes,
        Buffer: s.as_ptr().cast_mut(),
    }
}

/// `WDF_OBJECT_ATTRIBUTES_INIT`: no context, execution level and synchronization scope
/// inherited from the parent.
fn object_attributes() -> WDF_OBJECT_ATTRIBUTES {
    WDF_OBJECT_ATTRIBUTES {
        Size: wdf_size::<WDF_OBJECT_ATTRIBUTES>(),
        ExecutionLevel: _WDF_EXECUTION_LEVEL::WdfExecutionLevelInheritFromParent,
        SynchronizationScope: _WDF_SYNCHRONIZATION_SCOPE::WdfSynchronizationScopeInheritFromParent,
        ..WDF_OBJECT_ATTRIBUTES::default()
    }
}

/// Registers the WSK client on the core's first request. IRQL: PASSIVE_LEVEL.
fn register_wsk(capture_wait: Duration) -> wsk::Result<WskClient> {
    let device = NonNull::new(WDM_DEVICE.load(Ordering::Acquire))
        .ok_or(wsk::Error::new(NtStatus::DEVICE_NOT_READY))?;
    // SAFETY: the WDM device object of the control device lives until the framework deletes
    // the device after EvtDriverUnload returns, and EvtDriverUnload shuts the core (with every
    // socket and this client) down first.
    unsafe { WskClient::register(device, capture_wait) }
}

/// Reads the control device's DACL back from the kernel (`DEVICE_SECURITY`): what
/// WdfControlDeviceInitAllocate's SDDL became on the WDM device object. IRQL: PASSIVE_LEVEL.
fn query_device_dacl(out: &mut [u8]) -> Result<usize, NtStatus> {
    let device =
        NonNull::new(WDM_DEVICE.load(Ordering::Acquire)).ok_or(NtStatus::DEVICE_NOT_READY)?;
    // SAFETY: the WDM device object of the control device lives until the framework deletes
    // the device after EvtDriverUnload returns; requests (this runs in one) end before that.
    unsafe { wskrs_kernel::query_device_dacl(device.cast(), out) }
}

/// Driver entry point: creates the framework driver object and the control device.
/// IRQL: PASSIVE_LEVEL.
///
/// The KMDF stub library's `FxDriverEntry` (the image's entry point, set by wdk-build) binds
/// to the framework and then calls this.
///
/// # Safety
/// Called once by the system with a valid driver object and registry path.
#[no_mangle]
pub unsafe extern "system" fn DriverEntry(
    driver: PDRIVER_OBJECT,
    registry_path: PCUNICODE_STRING,
) -> NTSTATUS {
    // The limits in the service key's Parameters (defaults where absent), before any request.
    // SAFETY: `registry_path` is the system's counted string (caller's contract); wdk-sys's
    // UNICODE_STRING is the same C struct as wsk-bindings'.
    let limits = match unsafe { ServiceParameters::open(registry_path.cast()) } {
        Ok(parameters) => Limits::from_parameters(|name| parameters.dword(name)),
        Err(_) => Limits::DEFAULT,
    };
    // Cannot fail: no request has arrived.
    let _ = DRIVER.set_limits(limits);
    // WDF_DRIVER_CONFIG_INIT with no EvtDriverDeviceAdd; a non-PnP driver must register
    // EvtDriverUnload itself to be unloadable (WDF_DRIVER_INIT_FLAGS docs; NONPNP sample).
    // The flag values are small and non-negative: the cast from the C enum's type is exact.
    #[allow(clippy::cast_sign_loss)]
    let non_pnp = _WDF_DRIVER_INIT_FLAGS::WdfDriverInitNonPnpDriver as ULONG;
    let mut config = WDF_DRIVER_CONFIG {
        Size: wdf_size::<WDF_DRIVER_CONFIG>(),
        EvtDriverDeviceAdd: None,
        EvtDriverUnload: Some(evt_driver_unload),
        DriverInitFlags: non_pnp,
        DriverPoolTag: POOL_TAG,
    };
    let mut wdf_driver: WDFDRIVER = ptr::null_mut();
    // SAFETY: `driver` and `registry_path` come from the system (caller's contract); the
    // config is a fully initialized WDF_DRIVER_CONFIG of the right size; no attributes; the
    // handle output is a local.
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
    if !nt_success(status) {
        println!("wskrs: WdfDriverCreate failed: {status:#010x}");
        return status;
    }
    // SAFETY: `wdf_driver` was just created; PASSIVE_LEVEL, in DriverEntry.
    let status = unsafe { create_control_device(wdf_driver) };
    if !nt_success(status) {
        // The framework deletes the driver object, and the device if one was created, when
        // DriverEntry fails.
        println!("wskrs: creating the control device failed: {status:#010x}");
    }
    status
}

/// A `WDFDEVICE_INIT` from `WdfControlDeviceInitAllocate`, freed when dropped unless
/// `WdfDeviceCreate` consumed it.
///
/// # Invariants
/// The pointer is null (consumed) or a control-device init structure that nothing else frees.
struct ControlDeviceInit(PWDFDEVICE_INIT);

impl Drop for ControlDeviceInit {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: by the invariant, an init structure WdfDeviceCreate did not consume;
            // freed once, here (WdfDeviceInitFree, PASSIVE_LEVEL as its creator).
            unsafe { call_unsafe_wdf_function_binding!(WdfDeviceInitFree, self.0) };
        }
    }
}

/// Creates `\Device\WskRs`, its link, its file-object callbacks and its default queue, then
/// lets it accept requests. IRQL: PASSIVE_LEVEL.
///
/// # Safety
/// `driver` is this driver's framework driver object, in DriverEntry.
unsafe fn create_control_device(driver: WDFDRIVER) -> NTSTATUS {
    let sddl = unicode(DEVICE_SDDL);
    // SAFETY: `driver` is valid (caller's contract); the SDDL string is a valid counted
    // string, copied by the framework.
    let init = unsafe {
        call_unsafe_wdf_function_binding!(WdfControlDeviceInitAllocate, driver, &raw const sddl)
    };
    if init.is_null() {
        return NtStatus::INSUFFICIENT_RESOURCES.0;
    }
    // INVARIANT: a fresh init structure, owned by nothing else.
    let mut init = ControlDeviceInit(init);

    // SAFETY: a live init structure (invariant), configured before WdfDeviceCreate.
    unsafe {
        call_unsafe_wdf_function_binding!(
            WdfDeviceInitSetDeviceType,
            init.0,
            wskrs_protocol::DEVICE_TYPE
        );
    }
    // SAFETY: as above. FILE_DEVICE_SECURE_OPEN: the DACL applies to opens of names below the
    // device too, as the WDM shell's IoCreateDevice asks.
    unsafe {
        call_unsafe_wdf_function_binding!(
            WdfDeviceInitSetCharacteristics,
            init.0,
            FILE_DEVICE_SECURE_OPEN,
            u8::from(true),
        );
    }
    // SAFETY: as above. Buffered like the WDM shell (IOCTLs take their method from the code).
    unsafe {
        call_unsafe_wdf_function_binding!(
            WdfDeviceInitSetIoType,
            init.0,
            _WDF_DEVICE_IO_TYPE::WdfDeviceIoBuffered
        );
    }
    let name = unicode(DEVICE_NAME);
    // SAFETY: as above; the name is a valid counted string, copied by the framework.
    let status = unsafe {
        call_unsafe_wdf_function_binding!(WdfDeviceInitAssignName, init.0, &raw const name)
    };
    if !nt_success(status) {
        return status;
    }

    // SAFETY: a live init structure, before WdfDeviceCreate.
    unsafe { set_callbacks(init.0) };

    let mut device: WDFDEVICE = ptr::null_mut();
    // SAFETY: `init.0` is a live init structure; on success the framework takes it and sets
    // the pointer to null (so the guard does not free it); the handle output is a local.
    let status = unsafe {
        call_unsafe_wdf_function_binding!(
            WdfDeviceCreate,
            &raw mut init.0,
            WDF_NO_OBJECT_ATTRIBUTES,
            &raw mut device,
        )
    };
    if !nt_success(status) {
        return status;
    }
    // From here the device is parented to the driver object: the framework deletes it (with
    // its link and queue) if DriverEntry fails or after EvtDriverUnload.

    let link = unicode(LINK_NAME);
    // SAFETY: `device` was just created; the link name is a valid counted string.
    let status = unsafe {
        call_unsafe_wdf_function_binding!(WdfDeviceCreateSymbolicLink, device, &raw const link)
    };
    if !nt_success(status) {
        return status;
    }

    // SAFETY: `device` was just created; PASSIVE_LEVEL.
    let status = unsafe { create_default_queue(device) };
    if !nt_success(status) {
        return status;
    }

    // SAFETY: `device` is live; the WDM device object lives as long as it.
    let wdm_device =
        unsafe { call_unsafe_wdf_function_binding!(WdfDeviceWdmGetDeviceObject, device) };
    WDM_DEVICE.store(wdm_device.cast(), Ordering::Release);
    DRIVER.set_device_dacl_query(query_device_dacl);

    // The last step that can fail: the core's deadline timer of pended requests. Nothing
    // after it fails, so no failure path has to stop it (EvtDriverUnload's shutdown does).
    if let Err(status) = DRIVER.loaded() {
        WDM_DEVICE.store(ptr::null_mut(), Ordering::Release);
        return status.0;
    }

    // SAFETY: `device` is a control device, fully set up; requests arrive only after this.
    unsafe { call_unsafe_wdf_function_binding!(WdfControlFinishInitializing, device) };
    NtStatus::SUCCESS.0
}

/// Registers the device's file-object callbacks, its request context and its
/// EvtIoInCallerContext on `init`. IRQL: PASSIVE_LEVEL.
///
/// # Safety
/// `init` is a live control-device init structure, before WdfDeviceCreate.
unsafe fn set_callbacks(init: PWDFDEVICE_INIT) {
    // WDF_FILEOBJECT_CONFIG_INIT(create, close, cleanup): EvtDeviceFileCreate identifies each
    // handle, as the WDM shell's IRP_MJ_CREATE does.
    let mut file_config = WDF_FILEOBJECT_CONFIG {
        Size: wdf_size::<WDF_FILEOBJECT_CONFIG>(),
        EvtDeviceFileCreate: Some(evt_device_file_create),
        EvtFileClose: Some(evt_file_close),
        EvtFileCleanup: Some(evt_file_cleanup),
        AutoForwardCleanupClose: _WDF_TRI_STATE::WdfUseDefault,
        FileObjectClass: _WDF_FILEOBJECT_CLASS::WdfFileObjectWdfCannotUseFsContexts,
    };
    // SAFETY: a live init structure; a fully initialized config; no file-object attributes.
    unsafe {
        call_unsafe_wdf_function_binding!(
            WdfDeviceInitSetFileObjectConfig,
            init,
            &raw mut file_config,
            WDF_NO_OBJECT_ATTRIBUTES,
        );
    }

    // Every request of the device carries a RequestState (WDF_OBJECT_ATTRIBUTES_SET_CONTEXT_TYPE).
    let mut request_attributes = WDF_OBJECT_ATTRIBUTES {
        ContextTypeInfo: REQUEST_CONTEXT_TYPE.0.UniqueType,
        ..object_attributes()
    };
    // SAFETY: a live init structure; fully initialized attributes, copied by the framework.
    unsafe {
        call_unsafe_wdf_function_binding!(
            WdfDeviceInitSetRequestAttributes,
            init,
            &raw mut request_attributes,
        );
    }

    // Every request passes through EvtIoInCallerContext first, in the sender's thread.
    // SAFETY: a live init structure, before WdfDeviceCreate; the callback is this driver's.
    unsafe {
        call_unsafe_wdf_function_binding!(
            WdfDeviceInitSetIoInCallerContextCallback,
            init,
            Some(evt_io_in_caller_context),
        );
    }
}

/// Creates the control device's default queue: parallel, EvtIoDeviceControl at PASSIVE_LEVEL.
/// IRQL: PASSIVE_LEVEL.
///
/// # Safety
/// `device` is the live control device, before WdfControlFinishInitializing.
unsafe fn create_default_queue(device: WDFDEVICE) -> NTSTATUS {
    let mut queue_config = WDF_IO_QUEUE_CONFIG {
        Size: wdf_size::<WDF_IO_QUEUE_CONFIG>(),
        DispatchType: _WDF_IO_QUEUE_DISPATCH_TYPE::WdfIoQueueDispatchParallel,
        PowerManaged: _WDF_TRI_STATE::WdfUseDefault,
        DefaultQueue: u8::from(true),
        EvtIoDeviceControl: Some(evt_io_device_control),
        ..WDF_IO_QUEUE_CONFIG::default()
    };
    // As WDF_IO_QUEUE_CONFIG_INIT_DEFAULT_QUEUE does for a parallel queue: no limit on the
    // requests presented at once (a blocking SEND must not hold back other callers).
    queue_config.Settings.Parallel.NumberOfPresentedRequests = ULONG::MAX;
    let mut queue_attributes = WDF_OBJECT_ATTRIBUTES {
        ExecutionLevel: _WDF_EXECUTION_LEVEL::WdfExecutionLevelPassive,
        ..object_attributes()
    };
    let mut queue: WDFQUEUE = ptr::null_mut();
    // SAFETY: `device` is live; config and attributes are fully initialized; the handle
    // output is a local (the queue is parented to the device).
    unsafe {
        call_unsafe_wdf_function_binding!(
            WdfIoQueueCreate,
            device,
            &raw mut queue_config,
            &raw mut queue_attributes,
            &raw mut queue,
        )
    }
}

/// EvtDriverUnload: close every socket and release WSK while the WDM device object (which
/// WSK work items are queued on) still exists; the framework deletes the control device, its
/// link and its queue after this returns. IRQL: PASSIVE_LEVEL.
///
/// # Safety
/// Called by the framework once, after every handle to the device has closed.
unsafe extern "C" fn evt_driver_unload(_driver: WDFDRIVER) {
    if !DRIVER.shutdown() {
        println!("wskrs: unload: some sockets did not close within the shutdown timeout");
    }
    WDM_DEVICE.store(ptr::null_mut(), Ordering::Release);
}

/// The caller identity of a framework file object: the address of its WDM file object, as
/// the WDM shell uses. None if it has none (never expected for this device's handles).
///
/// # Safety
/// `file` is a live framework file object.
unsafe fn caller_of_file(file: WDFFILEOBJECT) -> Option<Caller> {
    // SAFETY: `file` is live (caller's contract).
    let wdm_file =
        unsafe { call_unsafe_wdf_function_binding!(WdfFileObjectWdmGetFileObject, file) };
    // Null would be Caller::NOBODY, the owner of detached endpoints: never hand that out.
    (!wdm_file.is_null()).then_some(Caller(wdm_file as usize))
}

/// EvtDeviceFileCreate: the new handle's identity is the user of the opener's token (KMDF
/// calls this synchronously in the opener's thread, at PASSIVE_LEVEL; under Wine, in
/// winedevice.exe's, whose user is every process's). As in the WDM shell, a token that cannot
/// be read leaves the handle unidentified (see `Driver::identify`) and a full identity table
/// refuses the open. The request is completed here, which completes the open.
///
/// # Safety
/// Called by the framework with a live create request, which this callback now owns, and
/// the live file object of the new handle.
unsafe extern "C" fn evt_device_file_create(
    _device: WDFDEVICE,
    request: WDFREQUEST,
    file: WDFFILEOBJECT,
) {
    // SAFETY: the framework passes a live file object (WdfFileObjectWdfCannotUseFsContexts:
    // never NULL).
    let caller = unsafe { caller_of_file(file) };
    let status = match (caller, wskrs_kernel::current_process_user()) {
        (Some(caller), Ok(user)) => DRIVER
            .identify(caller, user)
            .err()
            .unwrap_or(NtStatus::SUCCESS),
        _ => NtStatus::SUCCESS,
    };
    // SAFETY: the request is ours and completed once, here (never made cancelable).
    unsafe { call_unsafe_wdf_function_binding!(WdfRequestComplete, request, status.0) };
}

/// EvtIoInCallerContext: the request before any queue, in the thread of its sender (KMDF
/// documents it), at the sender's IRQL. A METHOD_BUFFERED device-control request from user
/// mode (PASSIVE_LEVEL: the I/O manager sends those at PASSIVE) runs through the core here
/// and is completed here, so the sockets it creates are created in the sender's process
/// (`SocketOwner::CurrentProcess`), as under the WDM shell, whose dispatch routine runs in the
/// sender's thread. Everything else (direct-I/O requests, which create no socket and are
/// pended and made cancelable, which KMDF allows for requests a queue delivered; requests from
/// kernel mode, whose IRQL may be up to DISPATCH_LEVEL) goes to the default queue
/// (`WdfDeviceEnqueueRequest`), whose EvtIoDeviceControl runs at PASSIVE_LEVEL.
///
/// # Safety
/// Called by the framework with a live request that this callback now owns.
unsafe extern "C" fn evt_io_in_caller_context(device: WDFDEVICE, request: WDFREQUEST) {
    // SAFETY: the request is live and ours (caller's contract).
    if let Some((caller, code, input_len, output_len)) = unsafe { buffered_user_request(request) } {
        // SAFETY: as above; a METHOD_BUFFERED device-control request at PASSIVE_LEVEL.
        let completion = unsafe { device_control(request, caller, code, input_len, output_len) };
        // SAFETY: as above; completed once, here; nothing borrowed from its buffer is used
        // after.
        unsafe { complete_request(request, completion.status, completion.information) };
        return;
    }
    // SAFETY: the request is live, ours, of this device, and in EvtIoInCallerContext.
    let status =
        unsafe { call_unsafe_wdf_function_binding!(WdfDeviceEnqueueRequest, device, request) };
    if !nt_success(status) {
        // Not enqueued (no queue, or the queue refuses requests): still ours to complete.
        // SAFETY: as above; completed once, here.
        unsafe { complete_request(request, NtStatus(status), 0) };
    }
}

/// The caller, code and buffer lengths of `request` if it is a METHOD_BUFFERED
/// IRP_MJ_DEVICE_CONTROL request from user mode with a file object; `None` for anything else.
/// IRQL <= DISPATCH_LEVEL.
///
/// # Safety
/// `request` is live.
unsafe fn buffered_user_request(request: WDFREQUEST) -> Option<(Caller, u32, usize, usize)> {
    // SAFETY: the request is live (caller's contract); its IRP lives as long as it.
    let irp = unsafe { call_unsafe_wdf_function_binding!(WdfRequestWdmGetIrp, request) };
    // wdk-sys's IRP is the same C struct as wsk-bindings'.
    let irp = NonNull::new(irp.cast::<wsk_bindings::IRP>())?.as_ptr();
    // SAFETY: a live IRP (as above).
    let requestor_mode = unsafe { (*irp).RequestorMode };
    // KPROCESSOR_MODE is KernelMode or UserMode.
    if requestor_mode == wsk_bindings::KERNEL_MODE {
        return None;
    }
    // SAFETY: as above; the framework presents the IRP at this driver's stack location.
    let location = unsafe { wsk_bindings::irp::current_stack_location(irp) };
    // SAFETY: the current location of a live IRP.
    let major = unsafe { wsk_bindings::irp::major_function(location) };
    if u32::from(major) != wsk_bindings::IRP_MJ_DEVICE_CONTROL {
        return None;
    }
    // SAFETY: a device-control location (checked just above).
    let (code, input_len, output_len) = unsafe { wsk_bindings::irp::device_io_control(location) };
    if IoctlCode(code).method() != wskrs_protocol::METHOD_BUFFERED {
        return None;
    }
    // SAFETY: the request is live.
    let caller = unsafe { caller_of_request(request) }?;
    Some((caller, code, input_len as usize, output_len as usize))
}

/// EvtFileCleanup: the handle's last user reference is gone; its endpoints close (detached
/// ones stay). IRQL: PASSIVE_LEVEL.
///
/// # Safety
/// Called by the framework with the live file object of the handle.
unsafe extern "C" fn evt_file_cleanup(file: WDFFILEOBJECT) {
    // SAFETY: the framework passes a live file object.
    if let Some(caller) = unsafe { caller_of_file(file) } {
        DRIVER.cleanup(caller);
    }
}

/// EvtFileClose: the file object is going away. Cleanup already closed the handle's
/// endpoints; a request still running during cleanup (a TCP_CONNECT on another thread) may
/// have opened one since, and CLOSE comes only after every request of the handle completed,
/// so this catches it (the WDM shell does the same on IRP_MJ_CLOSE). IRQL: PASSIVE_LEVEL.
///
/// # Safety
/// Called by the framework with the live file object of the handle.
unsafe extern "C" fn evt_file_close(file: WDFFILEOBJECT) {
    // SAFETY: the framework passes a live file object.
    if let Some(caller) = unsafe { caller_of_file(file) } {
        DRIVER.cleanup(caller);
    }
}

/// EvtIoDeviceControl: what EvtIoInCallerContext enqueued. METHOD_BUFFERED requests (from
/// kernel mode only) to the core, completed before returning; direct-I/O requests handed to
/// the core as [`PendedRequest`]s.
/// IRQL: PASSIVE_LEVEL (the queue's execution level).
///
/// # Safety
/// Called by the framework with a live request that this callback now owns.
unsafe extern "C" fn evt_io_device_control(
    _queue: WDFQUEUE,
    request: WDFREQUEST,
    output_len: usize,
    input_len: usize,
    code: ULONG,
) {
    // SAFETY: the request is live and ours (caller's contract).
    let Some(caller) = (unsafe { caller_of_request(request) }) else {
        // SAFETY: as above; completed once, here.
        unsafe { complete_request(request, NtStatus::INVALID_DEVICE_REQUEST, 0) };
        return;
    };
    if IoctlCode(code).is_direct() {
        // SAFETY: as above; a METHOD_IN_DIRECT / METHOD_OUT_DIRECT code.
        unsafe { dispatch_direct(request, caller, code, input_len, output_len) };
        return;
    }
    // SAFETY: as above.
    let completion = unsafe { device_control(request, caller, code, input_len, output_len) };
    // SAFETY: as above; completed once, here; nothing borrowed from its buffer is used after.
    unsafe { complete_request(request, completion.status, completion.information) };
}

/// Completes `request` with `status` and `information` (`WdfRequestCompleteWithInformation`).
/// IRQL <= DISPATCH_LEVEL.
///
/// # Safety
/// `request` is live, owned by the caller, not cancelable (never marked, or unmarked), and not
/// used after this.
unsafe fn complete_request(request: WDFREQUEST, status: NtStatus, information: usize) {
    let information = ULONG_PTR::try_from(information).unwrap_or(0);
    // SAFETY: the caller's contract.
    unsafe {
        call_unsafe_wdf_function_binding!(
            WdfRequestCompleteWithInformation,
            request,
            status.0,
            information,
        );
    }
}

/// The caller identity of a request: its file object's. None if it has none.
///
/// # Safety
/// `request` is live.
unsafe fn caller_of_request(request: WDFREQUEST) -> Option<Caller> {
    // SAFETY: the request is live (caller's contract).
    let file = unsafe { call_unsafe_wdf_function_binding!(WdfRequestGetFileObject, request) };
    if file.is_null() {
        return None;
    }
    // SAFETY: a request's file object lives at least as long as the request.
    unsafe { caller_of_file(file) }
}

/// A failed completion with no reply bytes.
fn failed(status: NtStatus) -> Completion {
    Completion {
        status,
        information: 0,
    }
}

/// Runs one buffered device-control request through the core.
///
/// # Safety
/// `request` is a live, not yet completed request owned by the caller.
unsafe fn device_control(
    request: WDFREQUEST,
    caller: Caller,
    code: ULONG,
    input_len: usize,
    output_len: usize,
) -> Completion {
    // Every other wsk-rs code is METHOD_BUFFERED. A METHOD_NEITHER code has no system buffer,
    // so it never reaches the core (for it, as for any code not in the protocol, the answer
    // is STATUS_INVALID_DEVICE_REQUEST).
    if IoctlCode(code).method() != wskrs_protocol::METHOD_BUFFERED {
        return failed(NtStatus::INVALID_DEVICE_REQUEST);
    }
    let len = input_len.max(output_len);
    if len == 0 {
        return DRIVER.device_control(caller, code, &mut [], 0, 0);
    }
    let mut buffer: *mut c_void = ptr::null_mut();
    let mut returned_len: usize = 0;
    // METHOD_BUFFERED: input and output are one system buffer of max(input, output) bytes.
    // Ask for it through the larger side, so the framework checks that length.
    let status = if input_len >= output_len {
        // SAFETY: the request is live; both outputs are locals.
        unsafe {
            call_unsafe_wdf_function_binding!(
                WdfRequestRetrieveInputBuffer,
                request,
                len,
                &raw mut buffer,
                &raw mut returned_len,
            )
        }
    } else {
        // SAFETY: as above.
        unsafe {
            call_unsafe_wdf_function_binding!(
                WdfRequestRetrieveOutputBuffer,
                request,
                len,
                &raw mut buffer,
                &raw mut returned_len,
            )
        }
    };
    if !nt_success(status) {
        return failed(NtStatus(status));
    }
    if buffer.is_null() || returned_len < len {
        return failed(NtStatus::INVALID_PARAMETER);
    }
    let buffer = buffer.cast::<u8>();
    if output_len > input_len {
        // The I/O manager copied only the input into the system buffer; the rest is pool
        // memory nobody initialized. Zero it, so the slice below covers initialized bytes only.
        let tail = buffer.wrapping_add(input_len);
        // SAFETY: `tail` + (len - input_len) bytes lie within the `len` bytes returned above.
        unsafe { ptr::write_bytes(tail, 0, len.saturating_sub(input_len)) };
    }
    // SAFETY: for METHOD_BUFFERED the I/O manager allocated one nonpaged system buffer of
    // max(input, output) bytes, which the framework returned with at least `len` bytes; the
    // request owns it until it is completed, after the slice's last use (the caller completes
    // it only after this function returns).
    let buffer = unsafe { core::slice::from_raw_parts_mut(buffer, len) };
    DRIVER.device_control(caller, code, buffer, input_len, output_len)
}

/// A direct-I/O request: its input (the request struct) is in the system buffer, its data in
/// the MDL `WdfRequestRetrieveOutputWdmMdl` returns. The core completes it, possibly before
/// this returns.
///
/// # Safety
/// `request` is a live request we own, of a METHOD_IN_DIRECT / METHOD_OUT_DIRECT code.
unsafe fn dispatch_direct(
    request: WDFREQUEST,
    caller: Caller,
    code: u32,
    input_len: usize,
    output_len: usize,
) {
    // SAFETY: the request is live and of this device (caller's contract).
    let Some(state) = (unsafe { request_state(request) }) else {
        // SAFETY: as above; never marked cancelable; completed once, here.
        unsafe { complete_request(request, NtStatus::INSUFFICIENT_RESOURCES, 0) };
        return;
    };
    // SAFETY: the context is this request's, sized and aligned for a RequestState by the
    // framework (REQUEST_CONTEXT_TYPE), and nothing else uses it yet.
    unsafe { state.as_ptr().write(RequestState::new()) };
    let input: &[u8] = if input_len == 0 {
        &[]
    } else {
        let mut buffer: *mut c_void = ptr::null_mut();
        let mut returned_len: usize = 0;
        // SAFETY: the request is live; both outputs are locals.
        let status = unsafe {
            call_unsafe_wdf_function_binding!(
                WdfRequestRetrieveInputBuffer,
                request,
                input_len,
                &raw mut buffer,
                &raw mut returned_len,
            )
        };
        if !nt_success(status) || buffer.is_null() || returned_len < input_len {
            let status = if nt_success(status) {
                NtStatus::INVALID_PARAMETER
            } else {
                NtStatus(status)
            };
            // SAFETY: as above; never marked cancelable; completed once, here.
            unsafe { complete_request(request, status, 0) };
            return;
        }
        // SAFETY: for direct I/O the input buffer is copied to a system buffer of `input_len`
        // bytes, owned by the request; the core reads it before it completes the request (it
        // parses the request first and keeps nothing borrowed from it), as with the WDM shell.
        unsafe { core::slice::from_raw_parts(buffer.cast::<u8>().cast_const(), input_len) }
    };
    // INVARIANT: the request is live, ours, its state initialized just above; from here only
    // the core completes it, once, through `PendingRequest::complete`.
    DRIVER.direct(caller, code, input, output_len, PendedRequest(request));
}

/// What the shell keeps in each request's framework context: the core's cancel ticket and
/// the handshake between the completion and EvtRequestCancel. All atomics: EvtRequestCancel
/// runs on another thread than the completion.
#[repr(C)]
struct RequestState {
    /// `WdfRequestMarkCancelableEx` succeeded: the completion must unmark first.
    armed: AtomicBool,
    /// Who may still complete a cancelled request: the completion and EvtRequestCancel; the
    /// one that brings this to zero completes it.
    owners: AtomicU32,
    /// The core's ticket in its word encoding ([`Ticket::to_words`]), read by
    /// EvtRequestCancel.
    ticket: [AtomicU64; Ticket::WORDS],
    /// The result a completion left for EvtRequestCancel to complete with.
    status: AtomicI32,
    information: AtomicUsize,
}

impl RequestState {
    const fn new() -> Self {
        Self {
            armed: AtomicBool::new(false),
            owners: AtomicU32::new(2),
            ticket: [const { AtomicU64::new(0) }; Ticket::WORDS],
            status: AtomicI32::new(0),
            information: AtomicUsize::new(0),
        }
    }

    /// The stored ticket; `None` if the words are not one (never stored, or corrupt).
    fn ticket(&self) -> Option<Ticket> {
        Ticket::from_words(
            self.ticket
                .each_ref()
                .map(|word| word.load(Ordering::Acquire)),
        )
    }

    fn set_ticket(&self, ticket: Ticket) {
        for (word, value) in self.ticket.iter().zip(ticket.to_words()) {
            word.store(value, Ordering::Release);
        }
    }

    /// Gives up one claim on completing a cancelled request; true if the caller is the last
    /// and must complete it.
    fn release_owner(&self) -> bool {
        self.owners.fetch_sub(1, Ordering::AcqRel) == 1
    }
}

/// `WDF_OBJECT_CONTEXT_TYPE_INFO` of [`RequestState`] (what `WDF_DECLARE_CONTEXT_TYPE`
/// declares in C).
#[repr(transparent)]
struct ContextType(WDF_OBJECT_CONTEXT_TYPE_INFO);

// SAFETY: the framework only reads the type information; its pointers are to static data.
unsafe impl Sync for ContextType {}

static REQUEST_CONTEXT_TYPE: ContextType = ContextType(WDF_OBJECT_CONTEXT_TYPE_INFO {
    Size: wdf_size::<WDF_OBJECT_CONTEXT_TYPE_INFO>(),
    ContextName: c"WskRsRequestState".as_ptr(),
    ContextSize: size_of::<RequestState>(),
    UniqueType: ptr::addr_of!(REQUEST_CONTEXT_TYPE).cast(),
    EvtDriverGetUniqueContextType: None,
});

/// The request's [`RequestState`] context (`WdfObjectGetTypedContextWorker`).
/// IRQL <= DISPATCH_LEVEL.
///
/// # Safety
/// `request` is a live request of this device.
unsafe fn request_state(request: WDFREQUEST) -> Option<NonNull<RequestState>> {
    // SAFETY: the request is live (caller's contract); the type information is static.
    let context = unsafe {
        call_unsafe_wdf_function_binding!(
            WdfObjectGetTypedContextWorker,
            request.cast(),
            REQUEST_CONTEXT_TYPE.0.UniqueType,
        )
    };
    NonNull::new(context.cast::<RequestState>())
}

/// A pended direct-I/O request, as the core sees it.
///
/// # Invariants
/// The request is live, owned by this driver, not yet completed, and its [`RequestState`] is
/// initialized; its MDL (if any) stays valid until it is completed, which only `complete` or
/// `evt_request_cancel` does, once.
struct PendedRequest(WDFREQUEST);

// SAFETY: a framework request may be completed from any thread.
unsafe impl Send for PendedRequest {}

impl PendedRequest {
    fn state(&self) -> Option<&RequestState> {
        // SAFETY: the request is live and of this device (type invariant).
        let state = unsafe { request_state(self.0) }?;
        // SAFETY: initialized in dispatch_direct (type invariant), only used through atomics,
        // and valid while the request is, which outlives this borrow of `self`.
        Some(unsafe { state.as_ref() })
    }
}

impl PendingRequest for PendedRequest {
    fn data(&self) -> Option<MdlBuffer> {
        let mut mdl: PMDL = ptr::null_mut();
        // SAFETY: the request is live (type invariant); the output is a local.
        let status = unsafe {
            call_unsafe_wdf_function_binding!(WdfRequestRetrieveOutputWdmMdl, self.0, &raw mut mdl)
        };
        if !nt_success(status) {
            return None;
        }
        let mdl = NonNull::new(mdl)?;
        // SAFETY: for a direct-I/O request this is Irp->MdlAddress, built by the I/O manager
        // over the caller's locked buffer; it stays valid until the request is completed,
        // which happens only after every WSK request using it has completed (the core
        // completes from the WSK completion).
        unsafe { MdlBuffer::from_raw(mdl.cast()) }.ok()
    }

    fn arm_cancel(&mut self, ticket: Ticket) -> bool {
        let Some(state) = self.state() else {
            return true;
        };
        // Before marking: EvtRequestCancel may run as soon as the request is cancelable, and
        // from that moment a completion must unmark first, so `armed` is set beforehand too.
        state.set_ticket(ticket);
        state.armed.store(true, Ordering::Release);
        // SAFETY: the request is ours (type invariant); evt_request_cancel is this driver's.
        let status = unsafe {
            call_unsafe_wdf_function_binding!(
                WdfRequestMarkCancelableEx,
                self.0,
                Some(evt_request_cancel)
            )
        };
        if !nt_success(status) {
            // Not cancelable: nothing to unmark.
            state.armed.store(false, Ordering::Release);
        }
        if status == NtStatus::CANCELLED.0 {
            // Already cancelled: EvtRequestCancel will not be called; the core completes.
            return false;
        }
        // Any other failure leaves the request pending but not cancelable (its deadline and
        // cleanup still end it).
        true
    }

    fn complete(self, status: NtStatus, information: usize) {
        if let Some(state) = self.state() {
            if state.armed.load(Ordering::Acquire) {
                // SAFETY: the request is ours and was marked cancelable (type invariant).
                let unmarked = unsafe {
                    call_unsafe_wdf_function_binding!(WdfRequestUnmarkCancelable, self.0)
                };
                if unmarked == NtStatus::CANCELLED.0 {
                    // EvtRequestCancel has been or will be called, and the request must not
                    // be completed before it has: the last of the two completes it.
                    state.status.store(status.0, Ordering::Relaxed);
                    state.information.store(information, Ordering::Relaxed);
                    if !state.release_owner() {
                        return;
                    }
                }
            }
        }
        // SAFETY: the request is ours, not cancelable any more (never marked, unmarked, or its
        // EvtRequestCancel is done with it), and completed once, here (type invariant).
        unsafe { complete_request(self.0, status, information) };
    }
}

/// EvtRequestCancel of pended requests: asks the core to cancel the WSK request beneath, then
/// completes the request if the core's completion already came and left it to this callback.
/// IRQL <= DISPATCH_LEVEL.
///
/// # Safety
/// Called by the framework with a live request marked cancelable by `arm_cancel`.
unsafe extern "C" fn evt_request_cancel(request: WDFREQUEST) {
    // SAFETY: the request is live and of this device (caller's contract).
    let Some(state) = (unsafe { request_state(request) }) else {
        return;
    };
    // SAFETY: initialized before the request was made cancelable; the request cannot be
    // completed before this callback gives up its claim below.
    let state = unsafe { state.as_ref() };
    // May complete the request through `PendedRequest::complete`, which then leaves the
    // completion to this callback (the request stays live until then).
    // Words that are not a ticket name no request: its deadline still ends it.
    if let Some(ticket) = state.ticket() {
        DRIVER.cancel(ticket);
    }
    if state.release_owner() {
        let status = NtStatus(state.status.load(Ordering::Relaxed));
        let information = state.information.load(Ordering::Relaxed);
        // SAFETY: the completion stored its result and gave up its claim: this callback owns
        // the request and completes it once, here.
        unsafe { complete_request(request, status, information) };
    }
}
