//! Exercises the KMDF runtime inside Wine without the shell: a Windows program that links the
//! runtime (as a Rust library) and Wine's ntoskrnl.exe, binds like the KMDF stub, calls the
//! DDIs through the function table as a driver does, and drives the framework's dispatch
//! routines with real IRPs (`IoAllocateIrp`), checking each documented behaviour, including
//! the cancellation paths the end-to-end suite cannot aim at (an IRP cancelled before
//! `WdfRequestMarkCancelableEx`, `Unmark` after the cancel routine ran). Rule violations end
//! the process with a bug check, so they run in child processes (`selftest.exe violation X`)
//! whose exit and log line are checked.
//!
//! Run: `wine kmdf-runtime-selftest.exe` in a prefix with the bcryptprimitives shim (the
//! harness runs it in each KMDF session). One line per check; exit status 1 on any failure.

#[cfg(not(windows))]
fn main() {
    eprintln!("kmdf-runtime-selftest runs under Wine (x86_64-pc-windows-gnu) only");
}

#[cfg(windows)]
fn main() {
    std::process::exit(selftest::run());
}

#[cfg(windows)]
#[allow(
    missing_docs,
    clippy::undocumented_unsafe_blocks,
    clippy::multiple_unsafe_ops_per_block,
    clippy::missing_panics_doc,
    clippy::cast_possible_truncation,
    clippy::too_many_lines,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::wildcard_imports,
    clippy::similar_names,
    clippy::many_single_char_names,
    clippy::cast_sign_loss,
    clippy::items_after_statements,
    clippy::borrow_as_ptr,
    clippy::cast_possible_wrap,
    clippy::uninlined_format_args
)]
mod selftest {
    // A test program: FFI calls follow the KMDF/WDM contracts inline; panics are failures.
    use std::ffi::c_void;
    use std::mem::{size_of, transmute_copy, zeroed};
    use std::ptr::{null, null_mut};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    use wdfldr::exports::{WdfVersionBind, WdfVersionUnbind};
    use wdfldr::sys::*;
    use wsk_bindings::irp as fields;

    static FAILED: AtomicUsize = AtomicUsize::new(0);
    const LOG: &str = r"C:\windows\temp\wskrs-kmdf-runtime.log";

    fn check(what: &str, ok: bool, detail: impl std::fmt::Display) {
        if ok {
            println!("ok   {what}");
        } else {
            FAILED.fetch_add(1, Ordering::SeqCst);
            println!("FAIL {what}: {detail}");
        }
    }

    fn wide(s: &str) -> Vec<u16> {
        s.encode_utf16().chain(Some(0)).collect()
    }

    fn unicode(w: &[u16]) -> UNICODE_STRING {
        let bytes = ((w.len() - 1) * 2) as u16;
        UNICODE_STRING {
            Length: bytes,
            MaximumLength: bytes,
            Buffer: w.as_ptr().cast_mut(),
        }
    }

    /// What the stub keeps: its globals and the bind information pointing at them.
    struct Stub {
        functions: Box<*const WDFFUNC>,
        higher: Box<u8>,
        func_count: Box<u32>,
        struct_count: Box<u32>,
        structs: Box<WDF_STRUCT_INFO>,
        minimum: Box<u32>,
        component: Vec<u16>,
        info: Box<WDF_BIND_INFO2>,
    }

    impl Stub {
        fn new(component: &str, major: u32, minor: u32, count: u32, size: usize) -> Self {
            let mut s = Self {
                functions: Box::new(null()),
                higher: Box::new(7),
                func_count: Box::new(0),
                struct_count: Box::new(99),
                structs: Box::new(null_mut()),
                minimum: Box::new(33),
                component: wide(component),
                info: Box::new(unsafe { zeroed() }),
            };
            *s.info = WDF_BIND_INFO2 {
                V1: WDF_BIND_INFO {
                    Size: size as u32,
                    Component: s.component.as_mut_ptr(),
                    Version: WDF_VERSION {
                        Major: major,
                        Minor: minor,
                        Build: 0,
                    },
                    FuncCount: count,
                    FuncTable: (&raw mut *s.functions).cast(),
                    Module: null_mut(),
                },
                MinimumVersionRequired: &raw mut *s.minimum,
                ClientVersionHigherThanFramework: &raw mut *s.higher,
                FuncCountPtr: &raw mut *s.func_count,
                StructCountPtr: &raw mut *s.struct_count,
                StructTable: &raw mut *s.structs,
            };
            s
        }

        fn bind(
            &mut self,
            driver: *mut DRIVER_OBJECT,
            path: &mut UNICODE_STRING,
            globals: &mut PWDF_COMPONENT_GLOBALS,
        ) -> NtStatus {
            NtStatus(unsafe { WdfVersionBind(driver, path, &raw mut self.info.V1, globals) })
        }
    }

    /// A DDI of the bound table, as its PFN type.
    unsafe fn ddi<T>(table: *const WDFFUNC, index: i32) -> T {
        let slot: WDFFUNC = unsafe { *table.add(index as usize) };
        unsafe { transmute_copy::<WDFFUNC, T>(&slot) }
    }

    // ---- callbacks the "driver" registers ----------------------------------------------

    static EVENTS: Mutex<Vec<String>> = Mutex::new(Vec::new());
    fn event(e: impl Into<String>) {
        EVENTS.lock().unwrap().push(e.into());
    }
    fn take_events() -> Vec<String> {
        std::mem::take(&mut *EVENTS.lock().unwrap())
    }

    /// What EvtIoDeviceControl does with the next request.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    enum Plan {
        /// Inspects buffers and contexts, completes inline.
        Inspect,
        /// Leaves the request pending (stored in PENDING).
        Keep,
        /// MarkCancelableEx; the result goes to MARK_STATUS; leaves it pending.
        Mark,
        /// Completes it with (0x4321, 5).
        Done,
        /// Calls WdfDeviceEnqueueRequest on it (a violation: not in EvtIoInCallerContext).
        Enqueue,
    }
    static PLAN: Mutex<Plan> = Mutex::new(Plan::Inspect);
    static PENDING: AtomicUsize = AtomicUsize::new(0);
    static MARK_STATUS: Mutex<i32> = Mutex::new(0);
    static CANCEL_COMPLETES: Mutex<bool> = Mutex::new(true);
    static TABLE: AtomicUsize = AtomicUsize::new(0);
    static GLOBALS: AtomicUsize = AtomicUsize::new(0);
    static CONTEXT_TYPE: Mutex<usize> = Mutex::new(0);
    static OTHER_TYPE: Mutex<usize> = Mutex::new(0);
    static INSPECTION: Mutex<Vec<(String, bool, String)>> = Mutex::new(Vec::new());

    fn table() -> *const WDFFUNC {
        TABLE.load(Ordering::SeqCst) as *const WDFFUNC
    }
    fn globals() -> PWDF_DRIVER_GLOBALS {
        GLOBALS.load(Ordering::SeqCst) as PWDF_DRIVER_GLOBALS
    }
    fn note(what: &str, ok: bool, detail: impl std::fmt::Display) {
        INSPECTION
            .lock()
            .unwrap()
            .push((what.into(), ok, detail.to_string()));
    }

    unsafe extern "C" fn evt_unload(_d: WDFDRIVER) {
        event("EvtDriverUnload");
    }
    unsafe extern "C" fn evt_cleanup(_f: WDFFILEOBJECT) {
        event("EvtFileCleanup");
    }
    unsafe extern "C" fn evt_close(_f: WDFFILEOBJECT) {
        event("EvtFileClose");
    }
    unsafe extern "C" fn evt_cancel(request: WDFREQUEST) {
        event("EvtRequestCancel");
        if *CANCEL_COMPLETES.lock().unwrap() {
            complete(request, NtStatus::CANCELLED.0, 0);
        }
    }

    /// The status EvtDeviceFileCreate completes the create with.
    static CREATE_STATUS: Mutex<i32> = Mutex::new(0);
    /// What EvtIoInCallerContext does: "complete", "enqueue" or "neither".
    static IN_CALLER: Mutex<&str> = Mutex::new("complete");
    /// The second device (EvtDeviceFileCreate, EvtIoInCallerContext).
    static DEVICE: AtomicUsize = AtomicUsize::new(0);

    unsafe extern "C" fn evt_file_create(_d: WDFDEVICE, request: WDFREQUEST, file: WDFFILEOBJECT) {
        let wdm_file: PFN_WDFFILEOBJECTWDMGETFILEOBJECT =
            unsafe { ddi(table(), WdfFileObjectWdmGetFileObjectTableIndex) };
        let wdm = unsafe { wdm_file.unwrap()(globals(), file) };
        event(format!("EvtDeviceFileCreate {:#x}", wdm as usize));
        let complete: PFN_WDFREQUESTCOMPLETE =
            unsafe { ddi(table(), WdfRequestCompleteTableIndex) };
        unsafe { complete.unwrap()(globals(), request, *CREATE_STATUS.lock().unwrap()) };
    }

    unsafe extern "C" fn evt_in_caller_context(device: WDFDEVICE, request: WDFREQUEST) {
        let get_irp: PFN_WDFREQUESTWDMGETIRP =
            unsafe { ddi(table(), WdfRequestWdmGetIrpTableIndex) };
        let irp = unsafe { get_irp.unwrap()(globals(), request) };
        event(format!("EvtIoInCallerContext {:#x}", irp as usize));
        match *IN_CALLER.lock().unwrap() {
            "complete" => {
                let complete: PFN_WDFREQUESTCOMPLETE =
                    unsafe { ddi(table(), WdfRequestCompleteTableIndex) };
                unsafe { complete.unwrap()(globals(), request, 0x777) };
            }
            "enqueue" => {
                let enqueue: PFN_WDFDEVICEENQUEUEREQUEST =
                    unsafe { ddi(table(), WdfDeviceEnqueueRequestTableIndex) };
                let st = unsafe { enqueue.unwrap()(globals(), device, request) };
                event(format!("WdfDeviceEnqueueRequest {st:#x}"));
            }
            _ => {}
        }
    }

    /// A second control device with EvtDeviceFileCreate, EvtIoInCallerContext and a default
    /// queue; returns its WDM device object.
    fn second_device(wdf_driver: WDFDRIVER, name: &str) -> *mut DEVICE_OBJECT {
        let (t, g) = (table(), globals());
        let alloc: PFN_WDFCONTROLDEVICEINITALLOCATE =
            unsafe { ddi(t, WdfControlDeviceInitAllocateTableIndex) };
        let sddl_w = wide("D:P(A;;GA;;;SY)");
        let sddl = unicode(&sddl_w);
        let mut init = unsafe { alloc.unwrap()(g, wdf_driver, &sddl) };
        let name_w = wide(name);
        let name_s = unicode(&name_w);
        let mut fc = WDF_FILEOBJECT_CONFIG {
            Size: size_of::<WDF_FILEOBJECT_CONFIG>() as u32,
            EvtDeviceFileCreate: Some(evt_file_create),
            EvtFileClose: Some(evt_close),
            EvtFileCleanup: Some(evt_cleanup),
            AutoForwardCleanupClose: WdfUseDefault,
            FileObjectClass: WdfFileObjectWdfCannotUseFsContexts,
        };
        unsafe {
            let f: PFN_WDFDEVICEINITASSIGNNAME = ddi(t, WdfDeviceInitAssignNameTableIndex);
            f.unwrap()(g, init, &name_s);
            let f: PFN_WDFDEVICEINITSETFILEOBJECTCONFIG =
                ddi(t, WdfDeviceInitSetFileObjectConfigTableIndex);
            f.unwrap()(g, init, &mut fc, null_mut());
            let f: PFN_WDFDEVICEINITSETIOINCALLERCONTEXTCALLBACK =
                ddi(t, WdfDeviceInitSetIoInCallerContextCallbackTableIndex);
            f.unwrap()(g, init, Some(evt_in_caller_context));
        }
        let dc: PFN_WDFDEVICECREATE = unsafe { ddi(t, WdfDeviceCreateTableIndex) };
        let mut device: WDFDEVICE = null_mut();
        let st = unsafe { dc.unwrap()(g, &mut init, null_mut(), &mut device) };
        assert_eq!(st, 0, "WdfDeviceCreate of {name}");
        DEVICE.store(device as usize, Ordering::SeqCst);
        let qcreate: PFN_WDFIOQUEUECREATE = unsafe { ddi(t, WdfIoQueueCreateTableIndex) };
        let mut qc: WDF_IO_QUEUE_CONFIG = unsafe { zeroed() };
        qc.Size = size_of::<WDF_IO_QUEUE_CONFIG>() as u32;
        qc.DispatchType = WdfIoQueueDispatchParallel;
        qc.DefaultQueue = 1;
        qc.EvtIoDeviceControl = Some(evt_io_device_control);
        let mut queue: WDFQUEUE = null_mut();
        let st = unsafe { qcreate.unwrap()(g, device, &mut qc, null_mut(), &mut queue) };
        assert_eq!(st, 0, "WdfIoQueueCreate of {name}");
        let gw: PFN_WDFDEVICEWDMGETDEVICEOBJECT =
            unsafe { ddi(t, WdfDeviceWdmGetDeviceObjectTableIndex) };
        let wdm = unsafe { gw.unwrap()(g, device) };
        let finish: PFN_WDFCONTROLFINISHINITIALIZING =
            unsafe { ddi(t, WdfControlFinishInitializingTableIndex) };
        unsafe { finish.unwrap()(g, device) };
        wdm
    }

    fn complete(request: WDFREQUEST, status: i32, info: u64) {
        let f: PFN_WDFREQUESTCOMPLETEWITHINFORMATION =
            unsafe { ddi(table(), WdfRequestCompleteWithInformationTableIndex) };
        unsafe { f.unwrap()(globals(), request, status, info) };
    }

    unsafe extern "C" fn evt_io_device_control(
        _q: WDFQUEUE,
        request: WDFREQUEST,
        out_len: usize,
        in_len: usize,
        code: u32,
    ) {
        event(format!(
            "EvtIoDeviceControl {code:#x} in {in_len} out {out_len}"
        ));
        let plan = *PLAN.lock().unwrap();
        match plan {
            Plan::Inspect => {
                let t = table();
                let g = globals();
                let input: PFN_WDFREQUESTRETRIEVEINPUTBUFFER =
                    unsafe { ddi(t, WdfRequestRetrieveInputBufferTableIndex) };
                let output: PFN_WDFREQUESTRETRIEVEOUTPUTBUFFER =
                    unsafe { ddi(t, WdfRequestRetrieveOutputBufferTableIndex) };
                let mdl_of: PFN_WDFREQUESTRETRIEVEOUTPUTWDMMDL =
                    unsafe { ddi(t, WdfRequestRetrieveOutputWdmMdlTableIndex) };
                let file_of: PFN_WDFREQUESTGETFILEOBJECT =
                    unsafe { ddi(t, WdfRequestGetFileObjectTableIndex) };
                let wdm_file: PFN_WDFFILEOBJECTWDMGETFILEOBJECT =
                    unsafe { ddi(t, WdfFileObjectWdmGetFileObjectTableIndex) };
                let context: PFN_WDFOBJECTGETTYPEDCONTEXTWORKER =
                    unsafe { ddi(t, WdfObjectGetTypedContextWorkerTableIndex) };
                let mut buf: PVOID = null_mut();
                let mut len = 0usize;
                let st =
                    unsafe { input.unwrap()(g, request, in_len + 1, &raw mut buf, &raw mut len) };
                note(
                    "RetrieveInputBuffer below MinimumRequiredLength is STATUS_BUFFER_TOO_SMALL",
                    st == NtStatus::BUFFER_TOO_SMALL.0,
                    format!("{st:#x}"),
                );
                let st = unsafe { input.unwrap()(g, request, in_len, &raw mut buf, &raw mut len) };
                let first = if buf.is_null() {
                    0
                } else {
                    unsafe { *buf.cast::<u8>() }
                };
                note(
                    "RetrieveInputBuffer returns the system buffer and its length",
                    st == 0 && len == in_len && first == 0xA5,
                    format!("{st:#x} len {len} first {first:#x}"),
                );
                let method = code & 3;
                let mut obuf: PVOID = null_mut();
                let mut olen = 0usize;
                let st =
                    unsafe { output.unwrap()(g, request, out_len, &raw mut obuf, &raw mut olen) };
                let mut mdl: PMDL = null_mut();
                let mst = unsafe { mdl_of.unwrap()(g, request, &raw mut mdl) };
                if method == 0 {
                    note(
                        "RetrieveOutputBuffer of METHOD_BUFFERED is the system buffer",
                        st == 0 && obuf == buf && olen == out_len,
                        format!("{st:#x} {obuf:p} {buf:p} {olen}"),
                    );
                    note(
                        "RetrieveOutputWdmMdl of METHOD_BUFFERED is refused (not modelled)",
                        mst == NtStatus::NOT_SUPPORTED.0,
                        format!("{mst:#x}"),
                    );
                } else {
                    let va: PVOID = if mdl.is_null() {
                        null_mut()
                    } else {
                        unsafe {
                            (*mdl)
                                .StartVa
                                .cast::<u8>()
                                .add((*mdl).ByteOffset as usize)
                                .cast()
                        }
                    };
                    note(
                        "RetrieveOutputWdmMdl of a direct method is Irp->MdlAddress",
                        mst == 0 && !mdl.is_null(),
                        format!("{mst:#x} {mdl:p}"),
                    );
                    note(
                        "RetrieveOutputBuffer of a direct method is the MDL's system address",
                        st == 0 && obuf == va && olen == out_len,
                        format!("{st:#x} {obuf:p} {va:p} {olen}"),
                    );
                    if st == 0 {
                        unsafe { *obuf.cast::<u8>() = 0x5A };
                    }
                }
                let file = unsafe { file_of.unwrap()(g, request) };
                let wdm = if file.is_null() {
                    null_mut()
                } else {
                    unsafe { wdm_file.unwrap()(g, file) }
                };
                event(format!("file {wdm:p}"));
                let ctx = unsafe {
                    context.unwrap()(
                        g,
                        request.cast(),
                        *CONTEXT_TYPE.lock().unwrap() as PCWDF_OBJECT_CONTEXT_TYPE_INFO,
                    )
                };
                let zeroed_ctx = !ctx.is_null()
                    && unsafe { std::slice::from_raw_parts(ctx.cast::<u8>(), 24) }
                        .iter()
                        .all(|b| *b == 0);
                note(
                    "the request context is there, 16-byte aligned and zeroed",
                    zeroed_ctx && (ctx as usize) % 16 == 0,
                    format!("{ctx:p}"),
                );
                let other = unsafe {
                    context.unwrap()(
                        g,
                        request.cast(),
                        *OTHER_TYPE.lock().unwrap() as PCWDF_OBJECT_CONTEXT_TYPE_INFO,
                    )
                };
                note(
                    "another context type gives NULL",
                    other.is_null(),
                    format!("{other:p}"),
                );
                complete(request, 0x1234, 77);
            }
            Plan::Keep => PENDING.store(request as usize, Ordering::SeqCst),
            Plan::Done => complete(request, 0x4321, 5),
            Plan::Enqueue => {
                let enqueue: PFN_WDFDEVICEENQUEUEREQUEST =
                    unsafe { ddi(table(), WdfDeviceEnqueueRequestTableIndex) };
                let device = DEVICE.load(Ordering::SeqCst) as WDFDEVICE;
                unsafe { enqueue.unwrap()(globals(), device, request) };
            }
            Plan::Mark => {
                let mark: PFN_WDFREQUESTMARKCANCELABLEEX =
                    unsafe { ddi(table(), WdfRequestMarkCancelableExTableIndex) };
                let st = unsafe { mark.unwrap()(globals(), request, Some(evt_cancel)) };
                *MARK_STATUS.lock().unwrap() = st;
                PENDING.store(request as usize, Ordering::SeqCst);
            }
        }
    }

    // ---- IRPs ---------------------------------------------------------------------------

    static COMPLETED: Mutex<Vec<(usize, i32, usize)>> = Mutex::new(Vec::new());

    unsafe extern "C" fn on_complete(
        _d: *mut DEVICE_OBJECT,
        irp: *mut IRP,
        _ctx: *mut c_void,
    ) -> i32 {
        let status = unsafe { fields::status(irp) };
        let info = unsafe { fields::information(irp) };
        COMPLETED.lock().unwrap().push((irp as usize, status, info));
        NtStatus::MORE_PROCESSING_REQUIRED.0
    }

    fn completion_of(irp: *mut IRP) -> Option<(i32, usize)> {
        COMPLETED
            .lock()
            .unwrap()
            .iter()
            .find(|(i, _, _)| *i == irp as usize)
            .map(|(_, s, n)| (*s, *n))
    }

    /// Sends an IRP to the device as IoCallDriver would; returns the IRP and what the
    /// dispatch routine returned.
    fn send(
        driver: *mut DRIVER_OBJECT,
        device: *mut DEVICE_OBJECT,
        file: *mut FILE_OBJECT,
        major: u32,
        ioctl: Option<(u32, &mut [u8], u32, *mut MDL)>,
        cancel_first: bool,
    ) -> (*mut IRP, i32) {
        let irp = unsafe { IoAllocateIrp(2, 0) };
        assert!(!irp.is_null());
        unsafe { fields::set_completion_routine(irp, on_complete, null_mut()) };
        let next = unsafe { &mut *fields::next_stack_location(irp) };
        next.MajorFunction = major as u8;
        next.FileObject = file;
        next.DeviceObject = device;
        if let Some((code, input, output_len, mdl)) = ioctl {
            unsafe {
                next.Parameters.DeviceIoControl.IoControlCode = code;
                next.Parameters.DeviceIoControl.InputBufferLength = input.len() as u32;
                next.Parameters.DeviceIoControl.OutputBufferLength = output_len;
                (*irp).AssociatedIrp.SystemBuffer = input.as_mut_ptr().cast();
                (*irp).MdlAddress = mdl;
            }
        }
        if cancel_first {
            unsafe { (*irp).Cancel = 1 };
        }
        unsafe {
            (*irp).CurrentLocation -= 1;
            let loc = &mut (*irp)
                .Tail
                .Overlay
                .__bindgen_anon_2
                .__bindgen_anon_1
                .CurrentStackLocation;
            *loc = loc.wrapping_sub(1);
        }
        let dispatch = unsafe { (*driver).MajorFunction[major as usize] }.unwrap();
        let status = unsafe { dispatch(device, irp) };
        (irp, status)
    }

    const fn ctl(function: u32, method: u32) -> u32 {
        (0x8057 << 16) | (function << 2) | method
    }

    // ---- the run ------------------------------------------------------------------------

    pub(crate) fn run() -> i32 {
        let args: Vec<String> = std::env::args().collect();
        if args.get(1).map(String::as_str) == Some("violation") {
            violation(args.get(2).map_or("", String::as_str));
            return 0; // not reached when the runtime bug-checks
        }
        let _ = std::fs::remove_file(LOG);
        let mut driver_object: Box<DRIVER_OBJECT> = Box::new(unsafe { zeroed() });
        let driver = &raw mut *driver_object;
        let path_w = wide(r"\Registry\Machine\System\CurrentControlSet\Services\WskRsSelfTest");
        let mut path = unicode(&path_w);
        let mut globals: PWDF_COMPONENT_GLOBALS = null_mut();

        // Refusals.
        for (what, component, major, minor, count, size, want) in [
            (
                "another component",
                "KmdfLibraryX",
                1,
                33,
                458,
                size_of::<WDF_BIND_INFO2>(),
                NtStatus::OBJECT_NAME_NOT_FOUND,
            ),
            (
                "major version 2",
                "KmdfLibrary",
                2,
                33,
                458,
                size_of::<WDF_BIND_INFO2>(),
                NtStatus::REVISION_MISMATCH,
            ),
            (
                "457 functions",
                "KmdfLibrary",
                1,
                33,
                457,
                size_of::<WDF_BIND_INFO2>(),
                NtStatus::REVISION_MISMATCH,
            ),
            (
                "a V1 bind info",
                "KmdfLibrary",
                1,
                33,
                458,
                size_of::<WDF_BIND_INFO>(),
                NtStatus::REVISION_MISMATCH,
            ),
            (
                "minor version 35",
                "KmdfLibrary",
                1,
                35,
                458,
                size_of::<WDF_BIND_INFO2>(),
                NtStatus::REVISION_MISMATCH,
            ),
        ] {
            let mut stub = Stub::new(component, major, minor, count, size);
            let st = stub.bind(driver, &mut path, &mut globals);
            check(
                &format!("WdfVersionBind refuses {what}"),
                st == want && stub.functions.is_null() && globals.is_null(),
                format!("{st:?}"),
            );
            if minor > 33 {
                check(
                    "a newer client is told ClientVersionHigherThanFramework",
                    *stub.higher == 1,
                    *stub.higher,
                );
            }
        }
        let log = std::fs::read_to_string(LOG).unwrap_or_default();
        check(
            "each refusal is logged with what it got",
            log.contains("component `KmdfLibraryX`")
                && log.contains("expects 457 functions")
                && log.contains("KMDF major version 2"),
            &log,
        );

        // The bind.
        let mut stub = Stub::new("KmdfLibrary", 1, 33, 458, size_of::<WDF_BIND_INFO2>());
        let st = stub.bind(driver, &mut path, &mut globals);
        check(
            "WdfVersionBind binds KmdfLibrary 1.33 with 458 functions",
            st == NtStatus::SUCCESS && !stub.functions.is_null(),
            format!("{st:?}"),
        );
        check(
            "it fills FuncCount, StructCount and ClientVersionHigherThanFramework",
            *stub.func_count == 458 && *stub.struct_count == 0 && *stub.higher == 0,
            format!("{} {} {}", stub.func_count, stub.struct_count, stub.higher),
        );
        let g: PWDF_DRIVER_GLOBALS = globals.cast();
        let name: String = unsafe { (*g).DriverName }
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8 as char)
            .collect();
        check(
            "the globals carry the service name",
            name == "WskRsSelfTest",
            &name,
        );
        let mut second: PWDF_COMPONENT_GLOBALS = null_mut();
        let mut stub2 = Stub::new("KmdfLibrary", 1, 33, 458, size_of::<WDF_BIND_INFO2>());
        let st = stub2.bind(driver, &mut path, &mut second);
        check(
            "a second bind in the same host is refused",
            st == NtStatus::INVALID_DEVICE_STATE,
            format!("{st:?}"),
        );
        let t = *stub.functions;
        TABLE.store(t as usize, Ordering::SeqCst);
        GLOBALS.store(g as usize, Ordering::SeqCst);
        let distinct: std::collections::BTreeSet<usize> = (0..458)
            .map(|i| unsafe { *t.add(i) }.map_or(0, |f| f as usize))
            .collect();
        check(
            "458 distinct non-null slots (35 DDIs, 423 traps)",
            distinct.len() == 458 && !distinct.contains(&0),
            distinct.len(),
        );

        // WdfDriverCreate.
        let create: PFN_WDFDRIVERCREATE = unsafe { ddi(t, WdfDriverCreateTableIndex) };
        let mut config = WDF_DRIVER_CONFIG {
            Size: size_of::<WDF_DRIVER_CONFIG>() as u32,
            EvtDriverDeviceAdd: None,
            EvtDriverUnload: Some(evt_unload),
            DriverInitFlags: 0,
            DriverPoolTag: 0,
        };
        let mut wdf_driver: WDFDRIVER = null_mut();
        let st =
            unsafe { create.unwrap()(g, driver, &path, null_mut(), &mut config, &mut wdf_driver) };
        check(
            "WdfDriverCreate refuses a PnP driver",
            st == NtStatus::NOT_SUPPORTED.0,
            format!("{st:#x}"),
        );
        config.DriverInitFlags = WdfDriverInitNonPnpDriver as u32;
        let st =
            unsafe { create.unwrap()(g, driver, &path, null_mut(), &mut config, &mut wdf_driver) };
        let d = unsafe { &*driver };
        check(
            "WdfDriverCreate (non-PnP): major functions, DriverUnload and DisplaceDriverUnload set",
            st == 0
                && !wdf_driver.is_null()
                && d.MajorFunction.iter().all(Option::is_some)
                && d.DriverUnload.is_some()
                && unsafe { (*g).DisplaceDriverUnload } == 1
                && unsafe { (*g).Driver } == wdf_driver,
            format!("{st:#x}"),
        );

        // The control device.
        let alloc: PFN_WDFCONTROLDEVICEINITALLOCATE =
            unsafe { ddi(t, WdfControlDeviceInitAllocateTableIndex) };
        let init = unsafe { alloc.unwrap()(g, wdf_driver, null()) };
        check(
            "WdfControlDeviceInitAllocate without an SDDL string gives NULL",
            init.is_null(),
            format!("{init:p}"),
        );
        let sddl_w = wide("D:P(A;;GA;;;SY)(A;;GA;;;BA)");
        let sddl = unicode(&sddl_w);
        let mut init = unsafe { alloc.unwrap()(g, wdf_driver, &sddl) };
        check(
            "WdfControlDeviceInitAllocate with an SDDL string",
            !init.is_null(),
            "NULL",
        );
        let name_w = wide(r"\Device\WskRsKmdfSelfTest");
        let name_s = unicode(&name_w);
        unsafe {
            let f: PFN_WDFDEVICEINITSETDEVICETYPE = ddi(t, WdfDeviceInitSetDeviceTypeTableIndex);
            f.unwrap()(g, init, 0x8057);
            let f: PFN_WDFDEVICEINITSETCHARACTERISTICS =
                ddi(t, WdfDeviceInitSetCharacteristicsTableIndex);
            f.unwrap()(g, init, FILE_DEVICE_SECURE_OPEN, 1);
            let f: PFN_WDFDEVICEINITSETIOTYPE = ddi(t, WdfDeviceInitSetIoTypeTableIndex);
            f.unwrap()(g, init, WdfDeviceIoBuffered);
            let f: PFN_WDFDEVICEINITASSIGNNAME = ddi(t, WdfDeviceInitAssignNameTableIndex);
            check(
                "WdfDeviceInitAssignName",
                f.unwrap()(g, init, &name_s) == 0,
                "",
            );
            let mut fc = WDF_FILEOBJECT_CONFIG {
                Size: size_of::<WDF_FILEOBJECT_CONFIG>() as u32,
                EvtDeviceFileCreate: None,
                EvtFileClose: Some(evt_close),
                EvtFileCleanup: Some(evt_cleanup),
                AutoForwardCleanupClose: WdfUseDefault,
                FileObjectClass: WdfFileObjectWdfCannotUseFsContexts,
            };
            let f: PFN_WDFDEVICEINITSETFILEOBJECTCONFIG =
                ddi(t, WdfDeviceInitSetFileObjectConfigTableIndex);
            f.unwrap()(g, init, &mut fc, null_mut());
        }
        // Two context types: the request's (24 bytes) and another.
        let ctx_type: &'static mut WDF_OBJECT_CONTEXT_TYPE_INFO =
            Box::leak(Box::new(unsafe { zeroed() }));
        ctx_type.Size = size_of::<WDF_OBJECT_CONTEXT_TYPE_INFO>() as u32;
        ctx_type.ContextSize = 24;
        ctx_type.UniqueType = &raw const *ctx_type;
        let other: &'static mut WDF_OBJECT_CONTEXT_TYPE_INFO =
            Box::leak(Box::new(unsafe { zeroed() }));
        other.Size = ctx_type.Size;
        other.ContextSize = 8;
        other.UniqueType = &raw const *other;
        *CONTEXT_TYPE.lock().unwrap() = &raw const *ctx_type as usize;
        *OTHER_TYPE.lock().unwrap() = &raw const *other as usize;
        let mut attrs: WDF_OBJECT_ATTRIBUTES = unsafe { zeroed() };
        attrs.Size = size_of::<WDF_OBJECT_ATTRIBUTES>() as u32;
        attrs.ContextTypeInfo = &raw const *ctx_type;
        unsafe {
            let f: PFN_WDFDEVICEINITSETREQUESTATTRIBUTES =
                ddi(t, WdfDeviceInitSetRequestAttributesTableIndex);
            f.unwrap()(g, init, &mut attrs);
        }
        let mut device: WDFDEVICE = null_mut();
        let device_create: PFN_WDFDEVICECREATE = unsafe { ddi(t, WdfDeviceCreateTableIndex) };
        let st = unsafe { device_create.unwrap()(g, &mut init, null_mut(), &mut device) };
        check(
            "WdfDeviceCreate consumes the init (NULL) and gives a device",
            st == 0 && init.is_null() && !device.is_null(),
            format!("{st:#x}"),
        );
        let get_wdm: PFN_WDFDEVICEWDMGETDEVICEOBJECT =
            unsafe { ddi(t, WdfDeviceWdmGetDeviceObjectTableIndex) };
        let wdm = unsafe { get_wdm.unwrap()(g, device) };
        let flags = unsafe { (*wdm).Flags };
        check(
            "the WDM device: type, characteristics, DO_BUFFERED_IO, still initializing",
            unsafe { (*wdm).DeviceType } == 0x8057
                && unsafe { (*wdm).Characteristics } & FILE_DEVICE_SECURE_OPEN != 0
                && flags & DO_BUFFERED_IO != 0
                && flags & DO_DEVICE_INITIALIZING != 0,
            format!(
                "type {:#x} characteristics {:#x} flags {flags:#x}",
                unsafe { (*wdm).DeviceType },
                unsafe { (*wdm).Characteristics }
            ),
        );
        let link_w = wide(r"\DosDevices\WskRsKmdfSelfTest");
        let link = unicode(&link_w);
        let f: PFN_WDFDEVICECREATESYMBOLICLINK =
            unsafe { ddi(t, WdfDeviceCreateSymbolicLinkTableIndex) };
        check(
            "WdfDeviceCreateSymbolicLink",
            unsafe { f.unwrap()(g, device, &link) } == 0,
            "",
        );
        let queue_create: PFN_WDFIOQUEUECREATE = unsafe { ddi(t, WdfIoQueueCreateTableIndex) };
        let mut qc: WDF_IO_QUEUE_CONFIG = unsafe { zeroed() };
        qc.Size = size_of::<WDF_IO_QUEUE_CONFIG>() as u32;
        qc.DispatchType = WdfIoQueueDispatchSequential;
        qc.DefaultQueue = 1;
        qc.EvtIoDeviceControl = Some(evt_io_device_control);
        let mut queue: WDFQUEUE = null_mut();
        let st = unsafe { queue_create.unwrap()(g, device, &mut qc, null_mut(), &mut queue) };
        check(
            "WdfIoQueueCreate refuses a sequential queue (not modelled)",
            st == NtStatus::NOT_SUPPORTED.0,
            format!("{st:#x}"),
        );
        qc.DispatchType = WdfIoQueueDispatchParallel;
        let mut qa: WDF_OBJECT_ATTRIBUTES = unsafe { zeroed() };
        qa.Size = size_of::<WDF_OBJECT_ATTRIBUTES>() as u32;
        qa.ExecutionLevel = WdfExecutionLevelPassive;
        let st = unsafe { queue_create.unwrap()(g, device, &mut qc, &mut qa, &mut queue) };
        check(
            "WdfIoQueueCreate: the default parallel queue",
            st == 0 && !queue.is_null(),
            format!("{st:#x}"),
        );
        let finish: PFN_WDFCONTROLFINISHINITIALIZING =
            unsafe { ddi(t, WdfControlFinishInitializingTableIndex) };
        unsafe { finish.unwrap()(g, device) };
        check(
            "WdfControlFinishInitializing clears DO_DEVICE_INITIALIZING",
            unsafe { (*wdm).Flags } & DO_DEVICE_INITIALIZING == 0,
            "",
        );

        // A handle: create, requests, close.
        let mut file_object: Box<FILE_OBJECT> = Box::new(unsafe { zeroed() });
        let file = &raw mut *file_object;
        let (irp, st) = send(driver, wdm, file, IRP_MJ_CREATE, None, false);
        check(
            "IRP_MJ_CREATE succeeds",
            st == 0 && completion_of(irp) == Some((0, 0)),
            format!("{st:#x} {:?}", completion_of(irp)),
        );

        // Buffered, completed inside the callback.
        *PLAN.lock().unwrap() = Plan::Inspect;
        let mut input = vec![0xA5u8; 64];
        let (irp, st) = send(
            driver,
            wdm,
            file,
            IRP_MJ_DEVICE_CONTROL,
            Some((ctl(0x900, 0), &mut input, 32, null_mut())),
            false,
        );
        check("a request completed in EvtIoDeviceControl: STATUS_PENDING returned, the IRP completed with its status and information", st == NtStatus::PENDING.0 && completion_of(irp) == Some((0x1234, 77)), format!("{st:#x} {:?}", completion_of(irp)));
        let events = take_events();
        check(
            "EvtIoDeviceControl got the code and both lengths",
            events
                .first()
                .is_some_and(|e| e.contains(&format!("{:#x} in 64 out 32", ctl(0x900, 0)))),
            format!("{events:?}"),
        );
        check(
            "WdfRequestGetFileObject + WdfFileObjectWdmGetFileObject give the IRP's file object",
            events.iter().any(|e| *e == format!("file {file:p}")),
            format!("{events:?}"),
        );
        for (what, ok, detail) in INSPECTION.lock().unwrap().drain(..) {
            check(&what, ok, detail);
        }

        // Direct output.
        let mut data = vec![0u8; 4096];
        let mdl = unsafe { IoAllocateMdl(data.as_mut_ptr().cast(), 4096, 0, 0, null_mut()) };
        unsafe { MmBuildMdlForNonPagedPool(mdl) };
        let mut input = vec![0xA5u8; 16];
        let (irp, _) = send(
            driver,
            wdm,
            file,
            IRP_MJ_DEVICE_CONTROL,
            Some((ctl(0x901, 2), &mut input, 4096, mdl)),
            false,
        );
        check(
            "METHOD_OUT_DIRECT: completed, the driver wrote through the MDL",
            completion_of(irp) == Some((0x1234, 77)) && data[0] == 0x5A,
            format!("{:?}", completion_of(irp)),
        );
        take_events();
        for (what, ok, detail) in INSPECTION.lock().unwrap().drain(..) {
            check(&format!("{what} (METHOD_OUT_DIRECT)"), ok, detail);
        }

        // Left pending, completed later from another thread.
        *PLAN.lock().unwrap() = Plan::Keep;
        let mut input = vec![0xA5u8; 8];
        let (irp, st) = send(
            driver,
            wdm,
            file,
            IRP_MJ_DEVICE_CONTROL,
            Some((ctl(0x902, 0), &mut input, 0, null_mut())),
            false,
        );
        check(
            "a request not completed by EvtIoDeviceControl stays pending",
            st == NtStatus::PENDING.0 && completion_of(irp).is_none(),
            format!("{st:#x}"),
        );
        let pending = PENDING.load(Ordering::SeqCst);
        std::thread::spawn(move || complete(pending as WDFREQUEST, 0, 5))
            .join()
            .unwrap();
        check(
            "... and is completed later from another thread",
            completion_of(irp) == Some((0, 5)),
            format!("{:?}", completion_of(irp)),
        );

        // Cancelled before MarkCancelableEx: STATUS_CANCELLED, no EvtRequestCancel.
        *PLAN.lock().unwrap() = Plan::Mark;
        take_events();
        let (irp, _) = send(
            driver,
            wdm,
            file,
            IRP_MJ_DEVICE_CONTROL,
            Some((ctl(0x903, 0), &mut input, 0, null_mut())),
            true,
        );
        let st = *MARK_STATUS.lock().unwrap();
        check("WdfRequestMarkCancelableEx on a cancelled IRP: STATUS_CANCELLED, EvtRequestCancel not called", st == NtStatus::CANCELLED.0 && !take_events().iter().any(|e| e == "EvtRequestCancel"), format!("{st:#x}"));
        complete(
            PENDING.load(Ordering::SeqCst) as WDFREQUEST,
            NtStatus::CANCELLED.0,
            0,
        );
        check(
            "... and the driver completes it",
            completion_of(irp) == Some((NtStatus::CANCELLED.0, 0)),
            format!("{:?}", completion_of(irp)),
        );

        // Marked, then cancelled: EvtRequestCancel completes it.
        *CANCEL_COMPLETES.lock().unwrap() = true;
        let (irp, _) = send(
            driver,
            wdm,
            file,
            IRP_MJ_DEVICE_CONTROL,
            Some((ctl(0x904, 0), &mut input, 0, null_mut())),
            false,
        );
        let st = *MARK_STATUS.lock().unwrap();
        check(
            "WdfRequestMarkCancelableEx succeeds",
            st == 0,
            format!("{st:#x}"),
        );
        let cancelled = unsafe { IoCancelIrp(irp) };
        check(
            "IoCancelIrp calls EvtRequestCancel, which completes the request",
            cancelled != 0
                && take_events().iter().any(|e| e == "EvtRequestCancel")
                && completion_of(irp) == Some((NtStatus::CANCELLED.0, 0)),
            format!("{:?}", completion_of(irp)),
        );

        // Marked, cancelled (EvtRequestCancel leaves it), then Unmark: STATUS_CANCELLED; the
        // driver may complete it since EvtRequestCancel ran.
        *CANCEL_COMPLETES.lock().unwrap() = false;
        let (irp, _) = send(
            driver,
            wdm,
            file,
            IRP_MJ_DEVICE_CONTROL,
            Some((ctl(0x905, 0), &mut input, 0, null_mut())),
            false,
        );
        let request = PENDING.load(Ordering::SeqCst) as WDFREQUEST;
        unsafe { IoCancelIrp(irp) };
        let unmark: PFN_WDFREQUESTUNMARKCANCELABLE =
            unsafe { ddi(t, WdfRequestUnmarkCancelableTableIndex) };
        let st = unsafe { unmark.unwrap()(g, request) };
        check(
            "WdfRequestUnmarkCancelable after EvtRequestCancel ran: STATUS_CANCELLED",
            st == NtStatus::CANCELLED.0 && take_events().iter().any(|e| e == "EvtRequestCancel"),
            format!("{st:#x}"),
        );
        complete(request, 0x77, 1);
        check(
            "... and the driver completes it once EvtRequestCancel has run",
            completion_of(irp) == Some((0x77, 1)),
            format!("{:?}", completion_of(irp)),
        );

        // Marked, unmarked before any cancel: STATUS_SUCCESS; a later cancel calls nothing.
        let (irp, _) = send(
            driver,
            wdm,
            file,
            IRP_MJ_DEVICE_CONTROL,
            Some((ctl(0x906, 0), &mut input, 0, null_mut())),
            false,
        );
        let request = PENDING.load(Ordering::SeqCst) as WDFREQUEST;
        let st = unsafe { unmark.unwrap()(g, request) };
        let cancelled = unsafe { IoCancelIrp(irp) };
        check("WdfRequestUnmarkCancelable before a cancel: STATUS_SUCCESS, and EvtRequestCancel never runs", st == 0 && cancelled == 0 && !take_events().iter().any(|e| e == "EvtRequestCancel"), format!("{st:#x} {cancelled}"));
        complete(request, 0, 0);
        check(
            "... completed normally",
            completion_of(irp) == Some((0, 0)),
            format!("{:?}", completion_of(irp)),
        );

        // Close without cleanup (what Wine sends): cleanup, then close.
        let (irp, st) = send(driver, wdm, file, IRP_MJ_CLOSE, None, false);
        let events = take_events();
        check(
            "IRP_MJ_CLOSE without IRP_MJ_CLEANUP runs EvtFileCleanup, then EvtFileClose",
            st == 0 && completion_of(irp).is_some() && events == ["EvtFileCleanup", "EvtFileClose"],
            format!("{events:?}"),
        );
        let (irp, st) = send(driver, wdm, file, IRP_MJ_READ, None, false);
        check(
            "other major functions: STATUS_INVALID_DEVICE_REQUEST",
            st == NtStatus::INVALID_DEVICE_REQUEST.0
                && completion_of(irp).map(|c| c.0) == Some(NtStatus::INVALID_DEVICE_REQUEST.0),
            format!("{st:#x}"),
        );

        // Spin lock and timer.
        unsafe {
            let f: PFN_WDFSPINLOCKCREATE = ddi(t, WdfSpinLockCreateTableIndex);
            let mut lock: WDFSPINLOCK = null_mut();
            check(
                "WdfSpinLockCreate",
                f.unwrap()(g, null_mut(), &mut lock) == 0,
                "",
            );
            let a: PFN_WDFSPINLOCKACQUIRE = ddi(t, WdfSpinLockAcquireTableIndex);
            let r: PFN_WDFSPINLOCKRELEASE = ddi(t, WdfSpinLockReleaseTableIndex);
            a.unwrap()(g, lock);
            r.unwrap()(g, lock);
            a.unwrap()(g, lock);
            r.unwrap()(g, lock);
            check("WdfSpinLockAcquire/Release twice", true, "");
        }
        static TICKS: AtomicUsize = AtomicUsize::new(0);
        unsafe extern "C" fn tick(_t: WDFTIMER) {
            TICKS.fetch_add(1, Ordering::SeqCst);
        }
        unsafe {
            let f: PFN_WDFTIMERCREATE = ddi(t, WdfTimerCreateTableIndex);
            let mut tc: WDF_TIMER_CONFIG = zeroed();
            tc.Size = size_of::<WDF_TIMER_CONFIG>() as u32;
            tc.EvtTimerFunc = Some(tick);
            tc.Period = 20;
            let mut timer: WDFTIMER = null_mut();
            check(
                "WdfTimerCreate",
                f.unwrap()(g, &mut tc, null_mut(), &mut timer) == 0,
                "",
            );
            let start: PFN_WDFTIMERSTART = ddi(t, WdfTimerStartTableIndex);
            let stop: PFN_WDFTIMERSTOP = ddi(t, WdfTimerStopTableIndex);
            start.unwrap()(g, timer, -10 * 10_000);
            std::thread::sleep(std::time::Duration::from_millis(300));
            stop.unwrap()(g, timer, 1);
            let n = TICKS.load(Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(100));
            check(
                "a periodic WdfTimer ticks, and WdfTimerStop(Wait) stops it",
                n >= 3 && TICKS.load(Ordering::SeqCst) == n,
                n,
            );
        }

        // A second device: EvtDeviceFileCreate and EvtIoInCallerContext.
        take_events();
        let wdm2 = second_device(wdf_driver, r"\Device\WskRsKmdfSelfTest2");
        let mut file_object2: Box<FILE_OBJECT> = Box::new(unsafe { zeroed() });
        let file2 = &raw mut *file_object2;
        *CREATE_STATUS.lock().unwrap() = 0;
        let (irp, st) = send(driver, wdm2, file2, IRP_MJ_CREATE, None, false);
        let events = take_events();
        check(
            "IRP_MJ_CREATE goes to EvtDeviceFileCreate with the IRP's file object; WdfRequestComplete completes the open",
            st == NtStatus::PENDING.0
                && completion_of(irp) == Some((0, 0))
                && events == [format!("EvtDeviceFileCreate {:#x}", file2 as usize)],
            format!("{st:#x} {:?} {events:?}", completion_of(irp)),
        );
        *IN_CALLER.lock().unwrap() = "complete";
        let mut input = vec![0u8; 8];
        let (irp, st) = send(
            driver,
            wdm2,
            file2,
            IRP_MJ_DEVICE_CONTROL,
            Some((ctl(0x910, 0), &mut input, 4, null_mut())),
            false,
        );
        let events = take_events();
        check(
            "a request goes to EvtIoInCallerContext first (WdfRequestWdmGetIrp gives its IRP) and may be completed there",
            st == NtStatus::PENDING.0
                && completion_of(irp) == Some((0x777, 0))
                && events == [format!("EvtIoInCallerContext {:#x}", irp as usize)],
            format!("{st:#x} {:?} {events:?}", completion_of(irp)),
        );
        *IN_CALLER.lock().unwrap() = "enqueue";
        *PLAN.lock().unwrap() = Plan::Done;
        let (irp, st) = send(
            driver,
            wdm2,
            file2,
            IRP_MJ_DEVICE_CONTROL,
            Some((ctl(0x911, 0), &mut input, 4, null_mut())),
            false,
        );
        let events = take_events();
        check(
            "WdfDeviceEnqueueRequest from EvtIoInCallerContext presents the request to the default queue",
            st == NtStatus::PENDING.0
                && completion_of(irp) == Some((0x4321, 5))
                && events
                    == [
                        format!("EvtIoInCallerContext {:#x}", irp as usize),
                        format!("EvtIoDeviceControl {:#x} in 8 out 4", ctl(0x911, 0)),
                        "WdfDeviceEnqueueRequest 0x0".to_owned(),
                    ],
            format!("{st:#x} {:?} {events:?}", completion_of(irp)),
        );
        let mut refused_object: Box<FILE_OBJECT> = Box::new(unsafe { zeroed() });
        let refused = &raw mut *refused_object;
        *CREATE_STATUS.lock().unwrap() = NtStatus::ACCESS_DENIED.0;
        let (irp, _) = send(driver, wdm2, refused, IRP_MJ_CREATE, None, false);
        let (_, close_st) = send(driver, wdm2, refused, IRP_MJ_CLOSE, None, false);
        let events = take_events();
        check(
            "a create completed with a failure fails the open; its file object gets no EvtFileCleanup or EvtFileClose",
            completion_of(irp) == Some((NtStatus::ACCESS_DENIED.0, 0))
                && close_st == 0
                && events == [format!("EvtDeviceFileCreate {:#x}", refused as usize)],
            format!("{:?} {close_st:#x} {events:?}", completion_of(irp)),
        );
        send(driver, wdm2, file2, IRP_MJ_CLOSE, None, false);
        let events = take_events();
        check(
            "the opened handle's close: EvtFileCleanup, EvtFileClose",
            events == ["EvtFileCleanup", "EvtFileClose"],
            format!("{events:?}"),
        );

        // Unload, then unbind.
        take_events();
        let unload = unsafe { (*driver).DriverUnload }.unwrap();
        unsafe { unload(driver) };
        let events = take_events();
        let log = std::fs::read_to_string(LOG).unwrap_or_default();
        let evt_at = log.find(": EvtDriverUnload");
        let deleted_at = log.find("deleted control device");
        check(
            "unload: EvtDriverUnload, then the control device and link are deleted",
            events == ["EvtDriverUnload"]
                && evt_at.is_some()
                && deleted_at.is_some()
                && evt_at < deleted_at,
            format!("{events:?}"),
        );
        check(
            "unload reports every request completed",
            log.contains("requests: 11 presented, 11 completed, 0 not completed (2 creates through EvtDeviceFileCreate, 1 of them failed; 2 through EvtIoInCallerContext, 1 of them enqueued)"),
            &log,
        );
        let st = unsafe { WdfVersionUnbind(&mut path, &raw mut stub.info.V1, globals) };
        check("WdfVersionUnbind", st == 0, format!("{st:#x}"));

        // Violations end the process: each in a child.
        let exe = std::env::current_exe().unwrap();
        for (case, expected) in [
            (
                "trap",
                "the driver called WdfChildListCreate (KMDF function table index 0)",
            ),
            ("complete-cancelable", "the request is still cancelable"),
            ("bad-handle", "is not a live WDFDEVICE"),
            (
                "caller-context-neither",
                "EvtIoInCallerContext returned without completing the request or calling WdfDeviceEnqueueRequest",
            ),
            (
                "enqueue-outside",
                "WdfDeviceEnqueueRequest: the request is not in EvtIoInCallerContext",
            ),
        ] {
            let _ = std::fs::remove_file(LOG);
            let out = std::process::Command::new(&exe)
                .args(["violation", case])
                .output()
                .unwrap();
            let log = std::fs::read_to_string(LOG).unwrap_or_default();
            check(
                &format!("violation `{case}`: logged and the host ends (bug check)"),
                !out.status.success()
                    && log.contains(expected)
                    && log.contains("bug check WDF_VIOLATION")
                    && !String::from_utf8_lossy(&out.stdout).contains("survived"),
                format!("exit {:?}, log {log:?}", out.status.code()),
            );
        }

        let failed = FAILED.load(Ordering::SeqCst);
        println!("kmdf-runtime-selftest: {} failed", failed);
        i32::from(failed != 0)
    }

    /// A child: binds, sets up what the case needs, breaks a rule; must not return.
    fn violation(case: &str) {
        let mut driver_object: Box<DRIVER_OBJECT> = Box::new(unsafe { zeroed() });
        let driver = &raw mut *driver_object;
        let path_w = wide(r"\Registry\Machine\System\CurrentControlSet\Services\WskRsSelfTest");
        let mut path = unicode(&path_w);
        let mut globals: PWDF_COMPONENT_GLOBALS = null_mut();
        let mut stub = Stub::new("KmdfLibrary", 1, 33, 458, size_of::<WDF_BIND_INFO2>());
        assert_eq!(
            stub.bind(driver, &mut path, &mut globals),
            NtStatus::SUCCESS
        );
        let t = *stub.functions;
        let g: PWDF_DRIVER_GLOBALS = globals.cast();
        TABLE.store(t as usize, Ordering::SeqCst);
        GLOBALS.store(g as usize, Ordering::SeqCst);
        match case {
            "trap" => {
                let f: WDFFUNC = unsafe { *t };
                unsafe { f.unwrap()() };
            }
            "bad-handle" => {
                let f: PFN_WDFDEVICEWDMGETDEVICEOBJECT =
                    unsafe { ddi(t, WdfDeviceWdmGetDeviceObjectTableIndex) };
                let fake = Box::new([0u64; 8]);
                unsafe { f.unwrap()(g, Box::into_raw(fake).cast()) };
            }
            "complete-cancelable" => {
                let create: PFN_WDFDRIVERCREATE = unsafe { ddi(t, WdfDriverCreateTableIndex) };
                let mut config = WDF_DRIVER_CONFIG {
                    Size: size_of::<WDF_DRIVER_CONFIG>() as u32,
                    EvtDriverDeviceAdd: None,
                    EvtDriverUnload: None,
                    DriverInitFlags: WdfDriverInitNonPnpDriver as u32,
                    DriverPoolTag: 0,
                };
                let mut wdf_driver: WDFDRIVER = null_mut();
                unsafe {
                    create.unwrap()(g, driver, &path, null_mut(), &mut config, &mut wdf_driver)
                };
                let alloc: PFN_WDFCONTROLDEVICEINITALLOCATE =
                    unsafe { ddi(t, WdfControlDeviceInitAllocateTableIndex) };
                let sddl_w = wide("D:P(A;;GA;;;SY)");
                let sddl = unicode(&sddl_w);
                let mut init = unsafe { alloc.unwrap()(g, wdf_driver, &sddl) };
                let name_w = wide(r"\Device\WskRsKmdfSelfTestViolation");
                let name_s = unicode(&name_w);
                let an: PFN_WDFDEVICEINITASSIGNNAME =
                    unsafe { ddi(t, WdfDeviceInitAssignNameTableIndex) };
                unsafe { an.unwrap()(g, init, &name_s) };
                let dc: PFN_WDFDEVICECREATE = unsafe { ddi(t, WdfDeviceCreateTableIndex) };
                let mut device: WDFDEVICE = null_mut();
                unsafe { dc.unwrap()(g, &mut init, null_mut(), &mut device) };
                let qcreate: PFN_WDFIOQUEUECREATE = unsafe { ddi(t, WdfIoQueueCreateTableIndex) };
                let mut qc: WDF_IO_QUEUE_CONFIG = unsafe { zeroed() };
                qc.Size = size_of::<WDF_IO_QUEUE_CONFIG>() as u32;
                qc.DispatchType = WdfIoQueueDispatchParallel;
                qc.DefaultQueue = 1;
                qc.EvtIoDeviceControl = Some(evt_io_device_control);
                let mut queue: WDFQUEUE = null_mut();
                unsafe { qcreate.unwrap()(g, device, &mut qc, null_mut(), &mut queue) };
                let gw: PFN_WDFDEVICEWDMGETDEVICEOBJECT =
                    unsafe { ddi(t, WdfDeviceWdmGetDeviceObjectTableIndex) };
                let wdm = unsafe { gw.unwrap()(g, device) };
                let mut file_object: Box<FILE_OBJECT> = Box::new(unsafe { zeroed() });
                let file = &raw mut *file_object;
                send(driver, wdm, file, IRP_MJ_CREATE, None, false);
                *PLAN.lock().unwrap() = Plan::Mark;
                let mut input = vec![0u8; 8];
                send(
                    driver,
                    wdm,
                    file,
                    IRP_MJ_DEVICE_CONTROL,
                    Some((ctl(0x907, 0), &mut input, 0, null_mut())),
                    false,
                );
                // Still cancelable: KMDF requires WdfRequestUnmarkCancelable first.
                complete(PENDING.load(Ordering::SeqCst) as WDFREQUEST, 0, 0);
            }
            "caller-context-neither" | "enqueue-outside" => {
                let create: PFN_WDFDRIVERCREATE = unsafe { ddi(t, WdfDriverCreateTableIndex) };
                let mut config = WDF_DRIVER_CONFIG {
                    Size: size_of::<WDF_DRIVER_CONFIG>() as u32,
                    EvtDriverDeviceAdd: None,
                    EvtDriverUnload: None,
                    DriverInitFlags: WdfDriverInitNonPnpDriver as u32,
                    DriverPoolTag: 0,
                };
                let mut wdf_driver: WDFDRIVER = null_mut();
                unsafe {
                    create.unwrap()(g, driver, &path, null_mut(), &mut config, &mut wdf_driver)
                };
                let wdm = second_device(wdf_driver, r"\Device\WskRsKmdfSelfTestViolation2");
                let mut file_object: Box<FILE_OBJECT> = Box::new(unsafe { zeroed() });
                let file = &raw mut *file_object;
                send(driver, wdm, file, IRP_MJ_CREATE, None, false);
                if case == "caller-context-neither" {
                    *IN_CALLER.lock().unwrap() = "neither";
                } else {
                    *IN_CALLER.lock().unwrap() = "enqueue";
                    *PLAN.lock().unwrap() = Plan::Enqueue;
                }
                let mut input = vec![0u8; 8];
                send(
                    driver,
                    wdm,
                    file,
                    IRP_MJ_DEVICE_CONTROL,
                    Some((ctl(0x912, 0), &mut input, 0, null_mut())),
                    false,
                );
            }
            _ => {}
        }
        println!("survived");
    }
}
