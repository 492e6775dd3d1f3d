//! Requests (`WDFREQUEST`, one per IRP): presentation, buffers, completion, cancellation
//! with KMDF's ownership rules, and request contexts.
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
    completed: AtomicUsize,
    cancel_callbacks: AtomicUsize,
    marked_already_cancelled: AtomicUsize,
    unmarked_cancelled: AtomicUsize,
}

pub(crate) static COUNTERS: Counters = Counters {
    presented: AtomicUsize::new(0),
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
            "requests: {presented} presented, {completed} completed, {} not completed; \
             EvtRequestCancel called {} times; WdfRequestMarkCancelableEx found {} already \
             cancelled; WdfRequestUnmarkCancelable returned STATUS_CANCELLED {} times",
            presented.saturating_sub(completed),
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

/// `WDFREQUEST`. The handle is `Arc::into_raw` of it: the driver's reference, given back at
/// completion; the WDM cancel routine holds another while EvtRequestCancel runs.
///
/// # Invariants
/// `tag` is [`Tag::Request`] until the request is completed (then [`Tag::Dead`]).
#[repr(C)]
pub(crate) struct Request {
    tag: AtomicU32Tag,
    irp: *mut IRP,
    file: WDFFILEOBJECT,
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
            // SAFETY: allocated with this layout in `present`, freed once, here.
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

/// Presents a device-control IRP to the queue's EvtIoDeviceControl as a new request. The IRP
/// is marked pending first and STATUS_PENDING is returned whatever the callback does, as KMDF
/// does for queued requests: correct whether the driver completes it inside the callback, on
/// another thread during it, or later.
///
/// # Safety
/// `irp` is a live IRP_MJ_DEVICE_CONTROL IRP this dispatch routine owns; `queue` and `file`
/// live at least as long as the request.
pub(crate) unsafe fn present(
    device: &Device,
    queue: WDFQUEUE,
    evt: unsafe extern "C" fn(WDFQUEUE, WDFREQUEST, usize, usize, ULONG),
    irp: *mut IRP,
    file: WDFFILEOBJECT,
) -> NTSTATUS {
    // SAFETY: the caller's live IRP.
    let location = unsafe { irp::current_stack_location(irp) };
    // SAFETY: a device-control location.
    let (code, input_len, output_len) = unsafe { irp::device_io_control(location) };
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
        return NtStatus::INSUFFICIENT_RESOURCES.0;
    }
    // SAFETY: ours.
    unsafe { irp::mark_pending(irp) };
    let request = Arc::new(Request {
        tag: AtomicU32Tag(std::sync::atomic::AtomicU32::new(Tag::Request as u32)),
        irp,
        file,
        context,
        state: AtomicU8::new(IDLE),
        evt_cancel: AtomicUsize::new(0),
        completed: AtomicBool::new(false),
    });
    let handle: WDFREQUEST = Arc::into_raw(request).cast_mut().cast();
    COUNTERS.presented.fetch_add(1, Ordering::AcqRel);
    // SAFETY: ours.
    let driver_context = unsafe { irp::driver_context(irp) };
    // SAFETY: the owner's DriverContext of the live IRP (the cancel routine finds the request
    // there).
    unsafe { (*driver_context)[0] = handle.cast() };
    // SAFETY: the driver's callback with a request it now owns, at PASSIVE_LEVEL.
    unsafe { evt(queue, handle, output_len as usize, input_len as usize, code) };
    // The request may be completed and freed already: only the status is returned.
    NtStatus::PENDING.0
}

/// The transfer method of an IOCTL code (its low two bits).
fn method(code: u32) -> u32 {
    code & 3
}
const METHOD_BUFFERED: u32 = 0;
const METHOD_IN_DIRECT: u32 = 1;
const METHOD_OUT_DIRECT: u32 = 2;

/// The IRP's device-control parameters.
///
/// # Safety
/// The request is live.
unsafe fn parameters(r: &Request) -> (u32, usize, usize) {
    // SAFETY: live request, live IRP.
    let location = unsafe { irp::current_stack_location(r.irp) };
    // SAFETY: requests are device-control IRPs only.
    let (code, input, output) = unsafe { irp::device_io_control(location) };
    (code, input as usize, output as usize)
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
/// not run, breaks KMDF's rules: a WDF_VIOLATION.
pub(crate) unsafe extern "C" fn complete_with_information(
    _globals: PWDF_DRIVER_GLOBALS,
    handle: WDFREQUEST,
    status: NTSTATUS,
    information: ULONG_PTR,
) {
    // SAFETY: the driver's handle.
    let r = unsafe { get(handle, "WdfRequestCompleteWithInformation") };
    match r.state.load(Ordering::Acquire) {
        ARMED => violation(
            "WdfRequestCompleteWithInformation: the request is still cancelable (call WdfRequestUnmarkCancelable first)",
            handle as usize,
        ),
        TAKEN => violation(
            "WdfRequestCompleteWithInformation: WdfRequestUnmarkCancelable said STATUS_CANCELLED and EvtRequestCancel has not run yet; the request must not be completed before it",
            handle as usize,
        ),
        _ => {}
    }
    if r.completed.swap(true, Ordering::AcqRel) {
        violation(
            "WdfRequestCompleteWithInformation: the request was completed twice",
            handle as usize,
        );
    }
    r.tag.0.store(Tag::Dead as u32, Ordering::Release);
    let irp = r.irp;
    // SAFETY: the request's IRP, owned by it until now; information fits (x64).
    unsafe {
        irp::set_io_status(
            irp,
            status,
            usize::try_from(information).unwrap_or(usize::MAX),
        );
    };
    // SAFETY: as above; completed once (the flag above).
    unsafe { IofCompleteRequest(irp, 0) };
    COUNTERS.completed.fetch_add(1, Ordering::AcqRel);
    // The handle is the address of an Arc<Request>'s data (made in `present`), so aligned.
    #[allow(clippy::cast_ptr_alignment)]
    let raw = handle.cast_const().cast::<Request>();
    // SAFETY: the driver's reference, made by Arc::into_raw in `present`, given back once.
    drop(unsafe { Arc::from_raw(raw) });
}

/// The WDM cancel routine of cancelable requests: takes a reference, releases the cancel
/// spin lock, then calls the driver's EvtRequestCancel.
unsafe extern "C" fn cancel_routine(_device: *mut DEVICE_OBJECT, irp: *mut IRP) {
    // SAFETY: IoCancelIrp passes the live IRP; DriverContext[0] is the request (set in
    // `present`), alive because the driver cannot complete it while its state is ARMED/TAKEN.
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
