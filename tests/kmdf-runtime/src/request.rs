//! Requests (`WDFREQUEST`, one per IRP): presentation, buffers, completion, cancellation
//! with KMDF's ownership rules, and request contexts.
//!
//! Where a request is (one atomic per request, [`Request::stage`]):
//! - `CREATE`: an IRP_MJ_CREATE handed to EvtDeviceFileCreate; the open completes when the
//!   driver completes it, and fails (its framework file object deleted, no cleanup or close
//!   callback) when that status is a failure.
//! - `IN_CALLER_CONTEXT`: a device-control request handed to EvtIoInCallerContext, not yet in
//!   a queue; the driver must complete it or give it to WdfDeviceEnqueueRequest, once.
//! - `QUEUED`: presented to the default queue's EvtIoDeviceControl.
//!
//! Cancellation states (one atomic per request):
//! - `IDLE`: not cancelable; the driver may complete it.
//! - `ARMED`: `WdfRequestMarkCancelableEx` succeeded; completing now is a violation
//!   (KMDF: unmark first).
//! - `TAKEN`: the IRP was cancelled and EvtRequestCancel is due (the WDM cancel routine took
//!   over, or Unmark returned STATUS_CANCELLED); completing now — before EvtRequestCancel
//!   ran — is a violation.
//! - `IN_CANCEL`, `CANCEL_DONE`: EvtRequestCancel is running or ran; the driver may complete.

use core::ffi::c_void;
use core::ptr::{self, NonNull};
use std::alloc::Layout;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

use wsk_bindings::{irp, NtStatus};

use crate::device::{ContextType, Device};
use crate::log::{log, violation};
use crate::object::{self, Object, Tag};
use crate::sys::*;

/// What happened to requests since the driver bound (reported at unload).
pub(crate) struct Counters {
    presented: AtomicUsize,
    creates: AtomicUsize,
    creates_failed: AtomicUsize,
    in_caller_context: AtomicUsize,
    enqueued: AtomicUsize,
    completed: AtomicUsize,
    cancel_callbacks: AtomicUsize,
    marked_already_cancelled: AtomicUsize,
    unmarked_cancelled: AtomicUsize,
}

pub(crate) static COUNTERS: Counters = Counters {
    presented: AtomicUsize::new(0),
    creates: AtomicUsize::new(0),
    creates_failed: AtomicUsize::new(0),
    in_caller_context: AtomicUsize::new(0),
    enqueued: AtomicUsize::new(0),
    completed: AtomicUsize::new(0),
    cancel_callbacks: AtomicUsize::new(0),
    marked_already_cancelled: AtomicUsize::new(0),
    unmarked_cancelled: AtomicUsize::new(0),
};

impl Counters {
    /// One line for the log: requests presented, completed, still pending, and the
    /// cancellation paths taken.
    pub(crate) fn report(&self) -> String {
        let presented = self.presented.load(Ordering::Acquire);
        let completed = self.completed.load(Ordering::Acquire);
        format!(
            "requests: {presented} presented, {completed} completed, {} not completed \
             ({} creates through EvtDeviceFileCreate, {} of them failed; {} through \
             EvtIoInCallerContext, {} of them enqueued); \
             EvtRequestCancel called {} times; WdfRequestMarkCancelableEx found {} already \
             cancelled; WdfRequestUnmarkCancelable returned STATUS_CANCELLED {} times",
            presented.saturating_sub(completed),
            self.creates.load(Ordering::Acquire),
            self.creates_failed.load(Ordering::Acquire),
            self.in_caller_context.load(Ordering::Acquire),
            self.enqueued.load(Ordering::Acquire),
            self.cancel_callbacks.load(Ordering::Acquire),
            self.marked_already_cancelled.load(Ordering::Acquire),
            self.unmarked_cancelled.load(Ordering::Acquire),
        )
    }
}

const IDLE: u8 = 0;
const ARMED: u8 = 1;
const TAKEN: u8 = 2;
const IN_CANCEL: u8 = 3;
const CANCEL_DONE: u8 = 4;

/// [`Request::stage`] values (see the module's documentation).
const CREATE: u8 = 0;
const IN_CALLER_CONTEXT: u8 = 1;
const QUEUED: u8 = 2;

/// `WDFREQUEST`. The handle is `Arc::into_raw` of it: the driver's reference, given back at
/// completion; the WDM cancel routine holds another while EvtRequestCancel runs.
///
/// # Invariants
/// `tag` is [`Tag::Request`] until the request is completed (then [`Tag::Dead`]).
#[repr(C)]
pub(crate) struct Request {
    tag: AtomicU32Tag,
    irp: *mut IRP,
    /// The device the request came to.
    device: *const Device,
    file: WDFFILEOBJECT,
    /// `CREATE`, `IN_CALLER_CONTEXT` or `QUEUED`.
    stage: AtomicU8,
    context: Option<(NonNull<u8>, Layout, PCWDF_OBJECT_CONTEXT_TYPE_INFO)>,
    state: AtomicU8,
    evt_cancel: AtomicUsize,
    completed: AtomicBool,
}

/// The tag, atomically (a completed request's tag turns dead while the cancel routine may
/// still hold the object).
#[repr(transparent)]
struct AtomicU32Tag(std::sync::atomic::AtomicU32);

// SAFETY: repr(C) with the tag (a u32) first.
unsafe impl Object for Request {
    const TAG: Tag = Tag::Request;
    const KIND: &'static str = "WDFREQUEST";
}

// SAFETY: the raw pointers name the IRP and objects the framework shares between threads by
// design (a request may be completed on any thread).
unsafe impl Send for Request {}
// SAFETY: as above; every mutable field is atomic.
unsafe impl Sync for Request {}

impl Drop for Request {
    fn drop(&mut self) {
        if let Some((memory, layout, _)) = self.context {
            // SAFETY: allocated with this layout in `new_request`, freed once, here.
            unsafe { std::alloc::dealloc(memory.as_ptr(), layout) };
        }
    }
}

/// The request behind a handle (checked).
///
/// # Safety
/// `handle` was handed to the driver and not completed (else the tag check catches it, as
/// long as the memory was not reused).
unsafe fn get<'a>(handle: WDFREQUEST, ddi: &str) -> &'a Request {
    // SAFETY: forwarded.
    unsafe { object::get::<Request>(handle.cast::<c_void>(), ddi) }
}

/// A new request over `irp` (the IRP marked pending: the framework returns STATUS_PENDING
/// for it whatever the driver does, so a request completed inside a callback, on another
/// thread during it, or later, is right). Its context is allocated if the device declared
/// one; `None` (the IRP completed with STATUS_INSUFFICIENT_RESOURCES) if that fails.
///
/// # Safety
/// `irp` is a live IRP this dispatch routine owns; `device` and `file` live at least as long
/// as the request.
unsafe fn new_request(
    device: &Device,
    irp: *mut IRP,
    file: WDFFILEOBJECT,
    stage: u8,
) -> Option<Arc<Request>> {
    let context = device
        .request_context
        .and_then(|ContextType { info, size }| {
            let layout = Layout::from_size_align(size.max(1), 16).ok()?;
            // SAFETY: a non-zero size.
            let memory = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) })?;
            Some((memory, layout, info))
        });
    if device.request_context.is_some() && context.is_none() {
        // SAFETY: ours; completed once.
        unsafe { irp::set_io_status(irp, NtStatus::INSUFFICIENT_RESOURCES.0, 0) };
        // SAFETY: as above.
        unsafe { IofCompleteRequest(irp, 0) };
        return None;
    }
    // SAFETY: ours.
    unsafe { irp::mark_pending(irp) };
    let request = Arc::new(Request {
        tag: AtomicU32Tag(std::sync::atomic::AtomicU32::new(Tag::Request as u32)),
        irp,
        device: ptr::from_ref(device),
        file,
        stage: AtomicU8::new(stage),
        context,
        state: AtomicU8::new(IDLE),
        evt_cancel: AtomicUsize::new(0),
        completed: AtomicBool::new(false),
    });
    COUNTERS.presented.fetch_add(1, Ordering::AcqRel);
    // SAFETY: ours.
    let driver_context = unsafe { irp::driver_context(irp) };
    // SAFETY: the owner's DriverContext of the live IRP (the cancel routine finds the request
    // there).
    unsafe { (*driver_context)[0] = Arc::as_ptr(&request).cast_mut().cast() };
    Some(request)
}

/// The driver's handle of a request: its own reference (`Arc::into_raw`), given back at
/// completion.
fn hand_to_driver(request: &Arc<Request>) -> WDFREQUEST {
    Arc::into_raw(Arc::clone(request)).cast_mut().cast()
}

/// Presents a device-control IRP to the queue's EvtIoDeviceControl as a new request.
/// Returns STATUS_PENDING (see [`new_request`]).
///
/// # Safety
/// `irp` is a live IRP_MJ_DEVICE_CONTROL IRP this dispatch routine owns; `file` lives at
/// least as long as the request.
pub(crate) unsafe fn present(device: &Device, irp: *mut IRP, file: WDFFILEOBJECT) -> NTSTATUS {
    // SAFETY: the caller's contract.
    let Some(request) = (unsafe { new_request(device, irp, file, QUEUED) }) else {
        return NtStatus::INSUFFICIENT_RESOURCES.0;
    };
    let handle = hand_to_driver(&request);
    drop(request);
    // SAFETY: a request the driver now owns, of this device.
    unsafe { deliver_to_queue(device, handle) };
    // The request may be completed and freed already: only the status is returned.
    NtStatus::PENDING.0
}

/// Calls the default queue's EvtIoDeviceControl with a request the driver owns; false if the
/// device has no such queue.
///
/// # Safety
/// `handle` is a live device-control request of `device`, owned by the driver.
unsafe fn deliver_to_queue(device: &Device, handle: WDFREQUEST) -> bool {
    let Some((queue, evt)) = device.default_queue() else {
        return false;
    };
    // SAFETY: the caller's contract.
    let r = unsafe { get(handle, "deliver") };
    // SAFETY: live.
    let (code, input_len, output_len) = unsafe { device_control_parameters(r.irp) };
    // SAFETY: the driver's callback with a request it owns, at PASSIVE_LEVEL.
    unsafe { evt(queue, handle, output_len, input_len, code) };
    true
}

/// IRP_MJ_DEVICE_CONTROL with EvtIoInCallerContext: the callback gets the request first, on
/// the dispatching thread (the caller's context, as far as Wine has one: see the README), and
/// must complete it or hand it to WdfDeviceEnqueueRequest before it returns; returning with
/// neither done is a WDF_VIOLATION. Returns STATUS_PENDING (see [`new_request`]).
///
/// # Safety
/// As [`present`].
pub(crate) unsafe fn present_in_caller_context(
    device: &Device,
    evt: unsafe extern "C" fn(WDFDEVICE, WDFREQUEST),
    irp: *mut IRP,
    file: WDFFILEOBJECT,
) -> NTSTATUS {
    // SAFETY: the caller's contract.
    let Some(request) = (unsafe { new_request(device, irp, file, IN_CALLER_CONTEXT) }) else {
        return NtStatus::INSUFFICIENT_RESOURCES.0;
    };
    COUNTERS.in_caller_context.fetch_add(1, Ordering::AcqRel);
    let handle = hand_to_driver(&request);
    // SAFETY: the driver's callback with its device and a request it now owns; the runtime
    // keeps its own reference (`request`) to check the outcome afterwards.
    unsafe { evt(ptr::from_ref(device).cast_mut().cast(), handle) };
    if request.stage.load(Ordering::Acquire) == IN_CALLER_CONTEXT
        && !request.completed.load(Ordering::Acquire)
    {
        violation(
            "EvtIoInCallerContext returned without completing the request or calling WdfDeviceEnqueueRequest",
            handle as usize,
        );
    }
    NtStatus::PENDING.0
}

/// IRP_MJ_CREATE with EvtDeviceFileCreate: the callback gets a request over the create IRP
/// and the new framework file object, on the opener's thread; the open completes when the
/// driver completes the request (a failure status fails it, and the framework file object is
/// deleted without cleanup or close callbacks). Returns STATUS_PENDING (see [`new_request`]).
///
/// # Safety
/// `irp` is a live IRP_MJ_CREATE IRP this dispatch routine owns; `file` is the device's new
/// framework file object, kept in its table until the request completes with a failure or
/// the handle closes.
pub(crate) unsafe fn present_create(
    device: &Device,
    evt: unsafe extern "C" fn(WDFDEVICE, WDFREQUEST, WDFFILEOBJECT),
    irp: *mut IRP,
    file: WDFFILEOBJECT,
) -> NTSTATUS {
    // SAFETY: the caller's contract.
    let Some(request) = (unsafe { new_request(device, irp, file, CREATE) }) else {
        return NtStatus::INSUFFICIENT_RESOURCES.0;
    };
    COUNTERS.creates.fetch_add(1, Ordering::AcqRel);
    let handle = hand_to_driver(&request);
    drop(request);
    // SAFETY: the driver's callback with its device, a request it now owns and the live file
    // object, at PASSIVE_LEVEL.
    unsafe { evt(ptr::from_ref(device).cast_mut().cast(), handle, file) };
    NtStatus::PENDING.0
}

/// `WdfDeviceEnqueueRequest`: only from EvtIoInCallerContext, once, for a request of that
/// device (anything else is a WDF_VIOLATION); the request goes to the default queue, whose
/// EvtIoDeviceControl gets it before this returns (KMDF may present it on another thread
/// later: the driver must not touch it after this call either way).
/// STATUS_INVALID_DEVICE_REQUEST when the device has no queue (not a filter driver), the
/// request staying the driver's to complete.
pub(crate) unsafe extern "C" fn device_enqueue_request(
    _globals: PWDF_DRIVER_GLOBALS,
    device: WDFDEVICE,
    handle: WDFREQUEST,
) -> NTSTATUS {
    // SAFETY: the driver's handle.
    let r = unsafe { get(handle, "WdfDeviceEnqueueRequest") };
    // SAFETY: the driver's handle.
    let dev = unsafe { object::get::<Device>(device.cast::<c_void>(), "WdfDeviceEnqueueRequest") };
    if !ptr::eq(r.device, dev) {
        violation(
            "WdfDeviceEnqueueRequest: the request did not come to this device",
            handle as usize,
        );
    }
    if r.stage.load(Ordering::Acquire) != IN_CALLER_CONTEXT {
        violation(
            "WdfDeviceEnqueueRequest: the request is not in EvtIoInCallerContext (called from elsewhere, for a create request, or twice)",
            handle as usize,
        );
    }
    if dev.default_queue().is_none() {
        return NtStatus::INVALID_DEVICE_REQUEST.0;
    }
    r.stage.store(QUEUED, Ordering::Release);
    COUNTERS.enqueued.fetch_add(1, Ordering::AcqRel);
    // SAFETY: a live device-control request of this device, owned by the driver, which gave
    // it to the framework with this call.
    unsafe { deliver_to_queue(dev, handle) };
    NtStatus::SUCCESS.0
}

/// `WdfRequestWdmGetIrp`: the request's IRP (valid until the request is completed).
pub(crate) unsafe extern "C" fn wdm_get_irp(
    _globals: PWDF_DRIVER_GLOBALS,
    handle: WDFREQUEST,
) -> PIRP {
    // SAFETY: the driver's handle.
    unsafe { get(handle, "WdfRequestWdmGetIrp") }.irp
}

/// The device-control parameters of an IRP: (code, input length, output length).
///
/// # Safety
/// `irp` is a live device-control IRP.
unsafe fn device_control_parameters(irp: *mut IRP) -> (u32, usize, usize) {
    // SAFETY: live IRP.
    let location = unsafe { irp::current_stack_location(irp) };
    // SAFETY: a device-control location.
    let (code, input, output) = unsafe { irp::device_io_control(location) };
    (code, input as usize, output as usize)
}

/// The transfer method of an IOCTL code (its low two bits).
fn method(code: u32) -> u32 {
    code & 3
}
const METHOD_BUFFERED: u32 = 0;
const METHOD_IN_DIRECT: u32 = 1;
const METHOD_OUT_DIRECT: u32 = 2;
const METHOD_NEITHER: u32 = 3;

/// The IRP's device-control parameters; for a create request (which has no buffers here) a
/// code whose method is none of the three, so the buffer DDIs refuse it.
///
/// # Safety
/// The request is live.
unsafe fn parameters(r: &Request) -> (u32, usize, usize) {
    if r.stage.load(Ordering::Acquire) == CREATE {
        log!("a buffer DDI was called for a create request: not modelled (no buffers)");
        return (METHOD_NEITHER, 0, 0);
    }
    // SAFETY: live request; every other request is over a device-control IRP.
    unsafe { device_control_parameters(r.irp) }
}

/// Writes a buffer and its length to the driver's outputs after the length checks.
///
/// # Safety
/// `out` is writable; `len_out` null or writable.
unsafe fn hand_out(
    buffer: *mut c_void,
    length: usize,
    minimum: usize,
    out: *mut PVOID,
    len_out: *mut usize,
) -> NTSTATUS {
    if length == 0 || length < minimum {
        return NtStatus::BUFFER_TOO_SMALL.0;
    }
    if buffer.is_null() {
        return NtStatus::INSUFFICIENT_RESOURCES.0;
    }
    // SAFETY: the caller's output.
    unsafe { out.write(buffer) };
    if !len_out.is_null() {
        // SAFETY: the caller's output.
        unsafe { len_out.write(length) };
    }
    NtStatus::SUCCESS.0
}

/// `WdfRequestRetrieveInputBuffer`: the system buffer (buffered and direct methods both
/// buffer the input), InputBufferLength bytes; STATUS_BUFFER_TOO_SMALL when that is zero or
/// below MinimumRequiredLength; METHOD_NEITHER → STATUS_INVALID_DEVICE_REQUEST.
pub(crate) unsafe extern "C" fn retrieve_input_buffer(
    _globals: PWDF_DRIVER_GLOBALS,
    handle: WDFREQUEST,
    minimum: usize,
    out: *mut PVOID,
    len_out: *mut usize,
) -> NTSTATUS {
    // SAFETY: the driver's handle.
    let r = unsafe { get(handle, "WdfRequestRetrieveInputBuffer") };
    if out.is_null() {
        violation("WdfRequestRetrieveInputBuffer: NULL Buffer", 0);
    }
    // SAFETY: live.
    let (code, input, _) = unsafe { parameters(r) };
    if !matches!(
        method(code),
        METHOD_BUFFERED | METHOD_IN_DIRECT | METHOD_OUT_DIRECT
    ) {
        return NtStatus::INVALID_DEVICE_REQUEST.0;
    }
    // SAFETY: live IRP.
    let buffer = unsafe { irp::system_buffer(r.irp) };
    // SAFETY: the caller's outputs.
    unsafe { hand_out(buffer, input, minimum, out, len_out) }
}

/// The system address of an MDL (`MmGetSystemAddressForMdlSafe`).
///
/// # Safety
/// `mdl` is a live MDL of locked pages.
unsafe fn system_address(mdl: *mut MDL) -> *mut c_void {
    // SAFETY: live MDL.
    let m = unsafe { &*mdl };
    let mapped_flags =
        i16::try_from(MDL_MAPPED_TO_SYSTEM_VA | MDL_SOURCE_IS_NONPAGED_POOL).unwrap_or(0);
    if m.MdlFlags & mapped_flags != 0 {
        return m.MappedSystemVa;
    }
    // SAFETY: locked pages (caller's contract); a kernel-mode, cached mapping.
    let mapped = unsafe {
        MmMapLockedPagesSpecifyCache(
            mdl,
            KERNEL_MODE,
            MmCached,
            ptr::null_mut(),
            0,
            NormalPagePriority,
        )
    };
    if mapped.is_null() {
        // Wine 8.0 maps nothing (its MmMapLockedPagesSpecifyCache is a stub returning NULL)
        // and its driver host has one address space: the MDL's own virtual address is the
        // memory (as the WSK provider, tests/wsk-provider, reads MDLs).
        return m
            .StartVa
            .cast::<u8>()
            .wrapping_add(m.ByteOffset as usize)
            .cast();
    }
    mapped
}

/// `WdfRequestRetrieveOutputBuffer`: METHOD_BUFFERED → the system buffer; METHOD_IN_DIRECT /
/// METHOD_OUT_DIRECT → the system address of `Irp->MdlAddress`; OutputBufferLength bytes,
/// checked as for the input.
pub(crate) unsafe extern "C" fn retrieve_output_buffer(
    _globals: PWDF_DRIVER_GLOBALS,
    handle: WDFREQUEST,
    minimum: usize,
    out: *mut PVOID,
    len_out: *mut usize,
) -> NTSTATUS {
    // SAFETY: the driver's handle.
    let r = unsafe { get(handle, "WdfRequestRetrieveOutputBuffer") };
    if out.is_null() {
        violation("WdfRequestRetrieveOutputBuffer: NULL Buffer", 0);
    }
    // SAFETY: live.
    let (code, _, output) = unsafe { parameters(r) };
    let buffer = match method(code) {
        // SAFETY: live IRP.
        METHOD_BUFFERED => unsafe { irp::system_buffer(r.irp) },
        METHOD_IN_DIRECT | METHOD_OUT_DIRECT => {
            // SAFETY: live IRP.
            let mdl = unsafe { irp::mdl_address(r.irp) };
            if mdl.is_null() {
                return NtStatus::BUFFER_TOO_SMALL.0;
            }
            // SAFETY: the I/O manager's MDL over the locked output buffer.
            unsafe { system_address(mdl) }
        }
        _ => return NtStatus::INVALID_DEVICE_REQUEST.0,
    };
    // SAFETY: the caller's outputs.
    unsafe { hand_out(buffer, output, minimum, out, len_out) }
}

/// `WdfRequestRetrieveOutputWdmMdl`: `Irp->MdlAddress` for METHOD_IN_DIRECT and
/// METHOD_OUT_DIRECT (STATUS_BUFFER_TOO_SMALL without one: a zero-length buffer). The MDL of
/// a METHOD_BUFFERED system buffer is not modelled (refused with a log line).
pub(crate) unsafe extern "C" fn retrieve_output_wdm_mdl(
    _globals: PWDF_DRIVER_GLOBALS,
    handle: WDFREQUEST,
    out: *mut PMDL,
) -> NTSTATUS {
    // SAFETY: the driver's handle.
    let r = unsafe { get(handle, "WdfRequestRetrieveOutputWdmMdl") };
    if out.is_null() {
        violation("WdfRequestRetrieveOutputWdmMdl: NULL Mdl", 0);
    }
    // SAFETY: live.
    let (code, _, _) = unsafe { parameters(r) };
    match method(code) {
        METHOD_IN_DIRECT | METHOD_OUT_DIRECT => {
            // SAFETY: live IRP.
            let mdl = unsafe { irp::mdl_address(r.irp) };
            if mdl.is_null() {
                return NtStatus::BUFFER_TOO_SMALL.0;
            }
            // SAFETY: the caller's output.
            unsafe { out.write(mdl) };
            NtStatus::SUCCESS.0
        }
        METHOD_BUFFERED => {
            log!("WdfRequestRetrieveOutputWdmMdl: an MDL for a METHOD_BUFFERED request is not modelled");
            NtStatus::NOT_SUPPORTED.0
        }
        _ => NtStatus::INVALID_DEVICE_REQUEST.0,
    }
}

/// `WdfRequestGetFileObject`: the framework file object of the request's handle.
pub(crate) unsafe extern "C" fn get_file_object(
    _globals: PWDF_DRIVER_GLOBALS,
    handle: WDFREQUEST,
) -> WDFFILEOBJECT {
    // SAFETY: the driver's handle.
    unsafe { get(handle, "WdfRequestGetFileObject") }.file
}

/// `WdfRequestCompleteWithInformation`: IoStatus, then IoCompleteRequest; the request is
/// freed (the runtime never touches it again unless its cancel routine still holds it).
/// Completing a request that is still cancelable, or whose EvtRequestCancel is due but has
/// not run, breaks KMDF's rules: a WDF_VIOLATION. A create request completed with a failure
/// fails the open: its framework file object is deleted first (no EvtFileCleanup or
/// EvtFileClose for it, as KMDF does).
pub(crate) unsafe extern "C" fn complete_with_information(
    _globals: PWDF_DRIVER_GLOBALS,
    handle: WDFREQUEST,
    status: NTSTATUS,
    information: ULONG_PTR,
) {
    let information = usize::try_from(information).unwrap_or(usize::MAX);
    let ddi = "WdfRequestCompleteWithInformation";
    // SAFETY: the driver's handle (checked in `complete`).
    unsafe { complete(handle, status, information, ddi) };
}

/// `WdfRequestComplete`: as `WdfRequestCompleteWithInformation` with Information 0.
pub(crate) unsafe extern "C" fn complete_request(
    _globals: PWDF_DRIVER_GLOBALS,
    handle: WDFREQUEST,
    status: NTSTATUS,
) {
    // SAFETY: the driver's handle (checked in `complete`).
    unsafe { complete(handle, status, 0, "WdfRequestComplete") };
}

/// Completes a request for `ddi` (see `WdfRequestCompleteWithInformation`).
///
/// # Safety
/// `handle` was handed to the driver (checked by its tag).
unsafe fn complete(handle: WDFREQUEST, status: NTSTATUS, information: usize, ddi: &str) {
    // SAFETY: the driver's handle.
    let r = unsafe { get(handle, ddi) };
    match r.state.load(Ordering::Acquire) {
        ARMED => violation(
            &format!("{ddi}: the request is still cancelable (call WdfRequestUnmarkCancelable first)"),
            handle as usize,
        ),
        TAKEN => violation(
            &format!("{ddi}: WdfRequestUnmarkCancelable said STATUS_CANCELLED and EvtRequestCancel has not run yet; the request must not be completed before it"),
            handle as usize,
        ),
        _ => {}
    }
    if r.completed.swap(true, Ordering::AcqRel) {
        violation(
            &format!("{ddi}: the request was completed twice"),
            handle as usize,
        );
    }
    r.tag.0.store(Tag::Dead as u32, Ordering::Release);
    if r.stage.load(Ordering::Acquire) == CREATE && !NtStatus(status).is_success() {
        if COUNTERS.creates_failed.fetch_add(1, Ordering::AcqRel) == 0 {
            log!(
                "EvtDeviceFileCreate failed an open ({:?}); its framework file object is deleted, \
                 but Wine 8.0's server does not wait for IRP_MJ_CREATE, so the handle stays open \
                 there and its requests come without a framework file object (logged once)",
                NtStatus(status)
            );
        }
        // SAFETY: the device outlives its requests.
        let device = unsafe { &*r.device };
        device.forget_file(r.file);
    }
    let irp = r.irp;
    // SAFETY: the request's IRP, owned by it until now.
    unsafe { irp::set_io_status(irp, status, information) };
    // SAFETY: as above; completed once (the flag above).
    unsafe { IofCompleteRequest(irp, 0) };
    COUNTERS.completed.fetch_add(1, Ordering::AcqRel);
    // The handle is the address of an Arc<Request>'s data (made in `new_request`), so aligned.
    #[allow(clippy::cast_ptr_alignment)]
    let raw = handle.cast_const().cast::<Request>();
    // SAFETY: the driver's reference, made by Arc::into_raw in `hand_to_driver`, given back
    // once.
    drop(unsafe { Arc::from_raw(raw) });
}

/// The WDM cancel routine of cancelable requests: takes a reference, releases the cancel
/// spin lock, then calls the driver's EvtRequestCancel.
unsafe extern "C" fn cancel_routine(_device: *mut DEVICE_OBJECT, irp: *mut IRP) {
    // SAFETY: IoCancelIrp passes the live IRP; DriverContext[0] is the request (set in
    // `new_request`), alive because the driver cannot complete it while its state is ARMED/TAKEN.
    let driver_context = unsafe { irp::driver_context(irp) };
    // SAFETY: as above.
    let handle = unsafe { (*driver_context)[0] }
        .cast::<Request>()
        .cast_const();
    // SAFETY: a live Arc<Request> (as above): one more reference for this routine.
    unsafe { Arc::increment_strong_count(handle) };
    // SAFETY: the reference just taken.
    let r = unsafe { Arc::from_raw(handle) };
    // SAFETY: IoCancelIrp set CancelIrql and holds the lock for us.
    let irql = unsafe { irp::cancel_irql(irp) };
    // SAFETY: released once, here.
    unsafe { IoReleaseCancelSpinLock(irql) };
    let _ = r
        .state
        .compare_exchange(ARMED, TAKEN, Ordering::AcqRel, Ordering::Acquire);
    let evt = r.evt_cancel.load(Ordering::Acquire);
    r.state.store(IN_CANCEL, Ordering::Release);
    if evt != 0 {
        COUNTERS.cancel_callbacks.fetch_add(1, Ordering::AcqRel);
        // SAFETY: stored from a PFN_WDF_REQUEST_CANCEL by mark_cancelable_ex.
        let evt: unsafe extern "C" fn(WDFREQUEST) =
            unsafe { core::mem::transmute::<usize, unsafe extern "C" fn(WDFREQUEST)>(evt) };
        // SAFETY: the driver's callback with its (live) request, at DISPATCH_LEVEL or below.
        unsafe { evt(handle.cast_mut().cast()) };
    }
    let _ = r
        .state
        .compare_exchange(IN_CANCEL, CANCEL_DONE, Ordering::AcqRel, Ordering::Acquire);
}

/// `WdfRequestMarkCancelableEx`: the request becomes cancelable with EvtRequestCancel; if the
/// IRP is already cancelled, STATUS_CANCELLED and the callback is not called.
pub(crate) unsafe extern "C" fn mark_cancelable_ex(
    _globals: PWDF_DRIVER_GLOBALS,
    handle: WDFREQUEST,
    evt: PFN_WDF_REQUEST_CANCEL,
) -> NTSTATUS {
    // SAFETY: the driver's handle.
    let r = unsafe { get(handle, "WdfRequestMarkCancelableEx") };
    let Some(evt) = evt else {
        violation("WdfRequestMarkCancelableEx: NULL EvtRequestCancel", 0);
    };
    if r.state.load(Ordering::Acquire) != IDLE {
        violation(
            "WdfRequestMarkCancelableEx: the request is already cancelable (or being cancelled)",
            handle as usize,
        );
    }
    r.evt_cancel.store(evt as usize, Ordering::Release);
    r.state.store(ARMED, Ordering::Release);
    // SAFETY: the request's live IRP.
    let _ = unsafe { irp::set_cancel_routine(r.irp, Some(cancel_routine)) };
    // SAFETY: as above.
    if unsafe { irp::is_cancelled(r.irp) } {
        // SAFETY: as above.
        if unsafe { irp::set_cancel_routine(r.irp, None) }.is_some() {
            // Cancelled before the routine was set: nothing will call it.
            r.state.store(IDLE, Ordering::Release);
            COUNTERS
                .marked_already_cancelled
                .fetch_add(1, Ordering::AcqRel);
            return NtStatus::CANCELLED.0;
        }
        // IoCancelIrp took the routine: EvtRequestCancel will be called.
    }
    NtStatus::SUCCESS.0
}

/// `WdfRequestUnmarkCancelable`: STATUS_SUCCESS if the request is no longer cancelable and
/// EvtRequestCancel will not run; STATUS_CANCELLED if EvtRequestCancel has been or will be
/// called (the driver must then not complete it before EvtRequestCancel runs).
pub(crate) unsafe extern "C" fn unmark_cancelable(
    _globals: PWDF_DRIVER_GLOBALS,
    handle: WDFREQUEST,
) -> NTSTATUS {
    // SAFETY: the driver's handle.
    let r = unsafe { get(handle, "WdfRequestUnmarkCancelable") };
    if r.state.load(Ordering::Acquire) == IDLE {
        log!("WdfRequestUnmarkCancelable: the request is not cancelable");
        return NtStatus::INVALID_DEVICE_REQUEST.0;
    }
    // SAFETY: the request's live IRP.
    if unsafe { irp::set_cancel_routine(r.irp, None) }.is_some() {
        r.state.store(IDLE, Ordering::Release);
        return NtStatus::SUCCESS.0;
    }
    let _ = r
        .state
        .compare_exchange(ARMED, TAKEN, Ordering::AcqRel, Ordering::Acquire);
    COUNTERS.unmarked_cancelled.fetch_add(1, Ordering::AcqRel);
    NtStatus::CANCELLED.0
}

/// `WdfObjectGetTypedContextWorker`: the context of a request whose device declared this
/// context type (compared by UniqueType, as KMDF does); NULL for anything else.
pub(crate) unsafe extern "C" fn object_get_typed_context_worker(
    _globals: PWDF_DRIVER_GLOBALS,
    handle: WDFOBJECT,
    info: PCWDF_OBJECT_CONTEXT_TYPE_INFO,
) -> PVOID {
    // SAFETY: a handle of this runtime (readable tag).
    let tag = unsafe { object::tag_of(handle) };
    if tag != Some(Tag::Request as u32) || info.is_null() {
        log!("WdfObjectGetTypedContextWorker: contexts of objects other than requests are not modelled");
        return ptr::null_mut();
    }
    // SAFETY: the tag says a live request.
    let r = unsafe { get(handle.cast(), "WdfObjectGetTypedContextWorker") };
    let Some((memory, _, declared)) = r.context else {
        return ptr::null_mut();
    };
    // SAFETY: the driver's static type information.
    let declared = unsafe { (*declared).UniqueType };
    // SAFETY: as above.
    let asked = unsafe { (*info).UniqueType };
    let same = declared == asked;
    if same {
        memory.as_ptr().cast()
    } else {
        ptr::null_mut()
    }
}
