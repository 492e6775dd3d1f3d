//! The Windows API calls of the client: the device handle, the service control manager, the
//! driver's registry parameters and the OS version.
//!
//! This is the only module with `unsafe`. Each wrapper owns its handle and closes it in
//! `Drop`; every unsafe block says why its pointers are valid.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::ffi::c_void;
use std::io;
use std::iter;
use std::ptr;
use std::sync::{Arc, Weak};

use windows_sys::core::BOOL;
use windows_sys::Wdk::System::IO::NtDeviceIoControlFile;
use windows_sys::Win32::Foundation::{
    CloseHandle, ERROR_NOT_FOUND, GENERIC_READ, GENERIC_WRITE, HANDLE, INVALID_HANDLE_VALUE,
    STATUS_PENDING,
};
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, DELETE, FILE_ATTRIBUTE_NORMAL, FILE_FLAG_OVERLAPPED, OPEN_EXISTING,
};
use windows_sys::Win32::System::Console::{SetConsoleCtrlHandler, CTRL_BREAK_EVENT, CTRL_C_EVENT};
use windows_sys::Win32::System::Registry::{
    RegCloseKey, RegCreateKeyExW, RegDeleteValueW, RegGetValueW, RegSetValueExW, HKEY,
    HKEY_LOCAL_MACHINE, KEY_SET_VALUE, REG_DWORD, REG_OPTION_NON_VOLATILE, RRF_RT_REG_DWORD,
};
use windows_sys::Win32::System::Services::{
    CloseServiceHandle, ControlService, CreateServiceW, DeleteService, OpenSCManagerW,
    OpenServiceW, QueryServiceStatus, StartServiceW, SC_HANDLE, SC_MANAGER_CONNECT,
    SC_MANAGER_CREATE_SERVICE, SERVICE_CONTROL_STOP, SERVICE_DEMAND_START, SERVICE_ERROR_NORMAL,
    SERVICE_KERNEL_DRIVER, SERVICE_QUERY_STATUS, SERVICE_START, SERVICE_STATUS, SERVICE_STOP,
};
use windows_sys::Win32::System::Threading::{CreateEventW, WaitForSingleObject, INFINITE};
use windows_sys::Win32::System::IO::{
    CancelIoEx, GetOverlappedResult, IO_STATUS_BLOCK, OVERLAPPED,
};
use wskrs_ntstatus::NtStatus;
use wskrs_protocol::{IoctlCode, METHOD_IN_DIRECT};

use crate::cancel::CancelIo;
use crate::device::{IoctlCompletion, Transport};
use crate::error::win32;
use crate::service::Purpose;
use crate::spares::Spares;

// The portable error numbers the client gives advice for must be the real ones (all small,
// so the casts cannot wrap).
#[allow(clippy::cast_possible_wrap)]
const _: () = {
    use windows_sys::Win32::Foundation as f;
    assert!(f::ERROR_FILE_NOT_FOUND as i32 == win32::FILE_NOT_FOUND);
    assert!(f::ERROR_PATH_NOT_FOUND as i32 == win32::PATH_NOT_FOUND);
    assert!(f::ERROR_ACCESS_DENIED as i32 == win32::ACCESS_DENIED);
    assert!(f::ERROR_SERVICE_ALREADY_RUNNING as i32 == win32::SERVICE_ALREADY_RUNNING);
    assert!(f::ERROR_SERVICE_DISABLED as i32 == win32::SERVICE_DISABLED);
    assert!(f::ERROR_SERVICE_DOES_NOT_EXIST as i32 == win32::SERVICE_DOES_NOT_EXIST);
    assert!(f::ERROR_SERVICE_NOT_ACTIVE as i32 == win32::SERVICE_NOT_ACTIVE);
    assert!(f::ERROR_SERVICE_MARKED_FOR_DELETE as i32 == win32::SERVICE_MARKED_FOR_DELETE);
    assert!(f::ERROR_SERVICE_EXISTS as i32 == win32::SERVICE_EXISTS);
};

/// While it lives, the console's Ctrl-C and Ctrl-Break go to [`crate::ctrl_c::on_ctrl_c`],
/// which cancels the request wskctl waits for instead of letting the process end.
pub struct CtrlCHandler(());

/// The console control handler (it runs on a thread the console starts for the event).
/// Returning FALSE passes the event on to the default handler, which ends the process.
unsafe extern "system" fn console_ctrl(kind: u32) -> BOOL {
    match kind {
        CTRL_C_EVENT | CTRL_BREAK_EVENT => BOOL::from(crate::ctrl_c::on_ctrl_c()),
        _ => 0,
    }
}

impl CtrlCHandler {
    /// Adds the handler until the guard is dropped.
    ///
    /// # Errors
    ///
    /// The console's refusal (`SetConsoleCtrlHandler`).
    pub fn install() -> io::Result<Self> {
        // SAFETY: `console_ctrl` is a `HandlerRoutine` (takes the event type, returns a
        // BOOL) that lives as long as the program.
        let ok = unsafe { SetConsoleCtrlHandler(Some(console_ctrl), 1) };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self(()))
    }
}

impl Drop for CtrlCHandler {
    fn drop(&mut self) {
        // SAFETY: removes the routine `install` added.
        let _ = unsafe { SetConsoleCtrlHandler(Some(console_ctrl), 0) };
    }
}

/// `text` as a NUL-terminated UTF-16 string.
fn wide(text: &str) -> Vec<u16> {
    text.encode_utf16().chain(iter::once(0)).collect()
}

/// A kernel handle, closed on drop.
///
/// # Invariants
///
/// `0` is a valid handle owned by this value.
struct OwnedHandle(HANDLE);

// SAFETY: a kernel handle is a process-wide index, usable from any thread; the device
// handle is used concurrently only for CancelIoEx, which Windows allows.
unsafe impl Send for OwnedHandle {}
// SAFETY: as for Send; `&OwnedHandle` only hands out the handle value.
unsafe impl Sync for OwnedHandle {}

impl Drop for OwnedHandle {
    fn drop(&mut self) {
        // SAFETY: `self.0` is a valid handle owned by this value (type invariant), closed once.
        unsafe { CloseHandle(self.0) };
    }
}

impl CancelIo for OwnedHandle {
    /// `CancelIoEx(handle, NULL)`: every outstanding request of the handle, from any thread,
    /// completes (the driver completes it with STATUS_CANCELLED).
    fn cancel_io(&self) -> io::Result<()> {
        // SAFETY: `self.0` is a valid handle (type invariant); a null OVERLAPPED selects
        // every request of the handle.
        let ok = unsafe { CancelIoEx(self.0, ptr::null()) };
        if ok == 0 {
            let error = io::Error::last_os_error();
            // ERROR_NOT_FOUND: nothing was outstanding.
            #[allow(clippy::cast_possible_wrap)]
            if error.raw_os_error() != Some(ERROR_NOT_FOUND as i32) {
                return Err(error);
            }
        }
        Ok(())
    }
}

/// A manual-reset event for one request's OVERLAPPED, closed on drop.
struct Event(OwnedHandle);

impl Event {
    fn new() -> io::Result<Self> {
        // SAFETY: no security attributes and no name (both may be null); manual reset, not
        // signalled.
        let handle = unsafe { CreateEventW(ptr::null(), 1, 0, ptr::null()) };
        if handle.is_null() {
            return Err(io::Error::last_os_error());
        }
        // INVARIANT: CreateEventW returned a new handle, owned here.
        Ok(Self(OwnedHandle(handle)))
    }

    /// One of this thread's spare events, or a new one. No reset needed: the I/O manager
    /// clears a request's event when the request is issued.
    fn spare() -> io::Result<Self> {
        SPARE_EVENTS.with(|spares| spares.borrow_mut().take(Self::new))
    }

    /// Keeps the event of a request that completed for this thread's next request.
    fn give_back(self) {
        SPARE_EVENTS.with(|spares| spares.borrow_mut().give_back(self));
    }
}

thread_local! {
    /// Events of completed requests, for the thread's next ones: creating and closing one per
    /// request costs two calls to Wine's server (~10% of a TRANSACT). As many as the
    /// pipelined SENDs keep outstanding.
    static SPARE_EVENTS: RefCell<Spares<Event>> =
        const { RefCell::new(Spares::new(crate::device::SEND_PIPELINE_DEPTH)) };
}

/// An open handle to the wsk-rs device, opened for overlapped I/O; closed when it and every
/// [`crate::Canceller`] upgrade of it are gone.
pub(crate) struct DeviceHandle(Arc<OwnedHandle>);

impl DeviceHandle {
    /// `CreateFileW(path, GENERIC_READ | GENERIC_WRITE, no sharing, OPEN_EXISTING,
    /// FILE_FLAG_OVERLAPPED)`: requests may pend in the driver, and another thread can
    /// cancel them.
    pub(crate) fn open(path: &str) -> io::Result<Self> {
        Self::open_with(path, GENERIC_READ | GENERIC_WRITE)
    }

    /// Like [`DeviceHandle::open`] with `GENERIC_READ` only: the I/O manager refuses every
    /// code that needs write access on it (ABI 4).
    pub(crate) fn open_read_only(path: &str) -> io::Result<Self> {
        Self::open_with(path, GENERIC_READ)
    }

    fn open_with(path: &str, access: u32) -> io::Result<Self> {
        let path = wide(path);
        // SAFETY: `path` is a NUL-terminated UTF-16 string that outlives the call; the
        // security attributes and template handle may be null.
        let handle = unsafe {
            CreateFileW(
                path.as_ptr(),
                access,
                0,
                ptr::null(),
                OPEN_EXISTING,
                FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OVERLAPPED,
                ptr::null_mut(),
            )
        };
        if handle == INVALID_HANDLE_VALUE {
            return Err(io::Error::last_os_error());
        }
        // INVARIANT: CreateFileW succeeded; the handle is owned here.
        Ok(Self(Arc::new(OwnedHandle(handle))))
    }

    /// One request with an OVERLAPPED and its own event, waited for until it completes.
    ///
    /// # Safety
    ///
    /// As [`DeviceHandle::issue`].
    unsafe fn request(
        &self,
        code: u32,
        input: &[u8],
        output: *mut c_void,
        output_len: usize,
    ) -> IoctlCompletion {
        // SAFETY: as the caller guarantees; a pending request is waited for before returning.
        match unsafe { self.issue(code, input, output, output_len) } {
            Issued::Done(completion) => completion,
            Issued::Pending(outstanding) => self.wait(outstanding),
        }
    }

    /// Sends one request with an OVERLAPPED and its own event, without waiting for it.
    ///
    /// The call is `NtDeviceIoControlFile` with the OVERLAPPED as its IO_STATUS_BLOCK
    /// (`Internal` is the status, `InternalHigh` the information; documented under
    /// OVERLAPPED), which is what `DeviceIoControl` does, except that a request failing at
    /// once keeps its NTSTATUS instead of becoming a Win32 error.
    ///
    /// # Safety
    ///
    /// `output` is null or valid for `output_len` bytes until the request completed (a
    /// pending one: until [`DeviceHandle::wait`] returned for it), writable unless `code` is a
    /// `METHOD_IN_DIRECT` code (then the driver only reads it).
    unsafe fn issue(
        &self,
        code: u32,
        input: &[u8],
        output: *mut c_void,
        output_len: usize,
    ) -> Issued {
        let failed = |status| {
            Issued::Done(IoctlCompletion {
                status,
                information: 0,
            })
        };
        let (Ok(input_len), Ok(output_len_u32)) =
            (u32::try_from(input.len()), u32::try_from(output_len))
        else {
            return failed(NtStatus::INVALID_BUFFER_SIZE);
        };
        let Ok(event) = Event::spare() else {
            return failed(NtStatus::INSUFFICIENT_RESOURCES);
        };
        let input_ptr = if input.is_empty() {
            ptr::null()
        } else {
            input.as_ptr().cast()
        };
        // `Internal` starts as STATUS_PENDING, as DeviceIoControl sets it: the I/O manager
        // writes the status block only when the request completes, and
        // GetOverlappedResult waits only while `Internal` is STATUS_PENDING. Boxed: the
        // I/O manager writes it at completion, after this function returned.
        let mut outstanding = Box::new(Outstanding {
            overlapped: OVERLAPPED {
                Internal: STATUS_PENDING as usize,
                hEvent: event.0 .0,
                ..OVERLAPPED::default()
            },
            event,
            output_len,
        });
        let status_block = ptr::addr_of_mut!(outstanding.overlapped).cast::<IO_STATUS_BLOCK>();
        let handle = self.0 .0;
        // SAFETY: `handle` is a valid handle (OwnedHandle invariant) and the event a valid
        // event. OVERLAPPED starts with `Internal` and `InternalHigh` (two pointer-sized
        // fields), the layout of IO_STATUS_BLOCK, so `status_block` points to a valid
        // IO_STATUS_BLOCK. `input_ptr` is null or `input_len` readable bytes (copied by the
        // I/O manager during the call); `output` is as the caller guarantees. The box outlives
        // the request: a pending one is returned to be waited for (`wait`), which drops it only
        // after the request completed.
        let status = unsafe {
            NtDeviceIoControlFile(
                handle,
                outstanding.event.0 .0,
                None,
                ptr::null(),
                status_block,
                code,
                input_ptr,
                input_len,
                output,
                output_len_u32,
            )
        };
        if status == STATUS_PENDING {
            return Issued::Pending(outstanding);
        }
        // Finished at once: a failure wrote nothing (neither status block nor output).
        let status = NtStatus(status);
        let Outstanding {
            overlapped, event, ..
        } = *outstanding;
        event.give_back();
        let information = if status.is_error() {
            0
        } else {
            overlapped.InternalHigh
        };
        Issued::Done(IoctlCompletion {
            status,
            information: information.min(output_len),
        })
    }

    /// Waits until a pending request completed (`GetOverlappedResult(.., TRUE)`), then frees
    /// its OVERLAPPED and event.
    #[allow(
        clippy::boxed_local,
        clippy::needless_pass_by_value,
        reason = "taking the box is what frees it only after the request completed"
    )]
    fn wait(&self, outstanding: Box<Outstanding>) -> IoctlCompletion {
        let handle = self.0 .0;
        let mut transferred = 0u32;
        // SAFETY: `handle` and the OVERLAPPED are the ones of the pending request; bWait TRUE
        // waits on its event until it completes. `transferred` is a live local.
        let _ = unsafe {
            GetOverlappedResult(
                handle,
                &raw const outstanding.overlapped,
                &raw mut transferred,
                1,
            )
        };
        // GetOverlappedResult returns FALSE for a request that completed with an error; only
        // a failed wait leaves the request pending, and its buffers must not be freed then.
        // SAFETY: the I/O manager writes `Internal` when the request completes; read it
        // volatile since that write comes from outside this thread's view.
        while unsafe { ptr::read_volatile(&raw const outstanding.overlapped.Internal) }
            == STATUS_PENDING as usize
        {
            // SAFETY: the event is a valid event handle.
            unsafe { WaitForSingleObject(outstanding.event.0 .0, INFINITE) };
        }
        // The status is a 32-bit NTSTATUS in the low half of `Internal`.
        #[allow(clippy::cast_possible_truncation)]
        let status = NtStatus::from_u32(outstanding.overlapped.Internal as u32);
        let information = if status.is_error() {
            0
        } else {
            outstanding.overlapped.InternalHigh
        };
        let Outstanding {
            event, output_len, ..
        } = *outstanding;
        // Completed: its event is free for the thread's next request.
        event.give_back();
        IoctlCompletion {
            status,
            information: information.min(output_len),
        }
    }
}

/// A request in flight: its OVERLAPPED (which the I/O manager writes when it completes) and
/// event, at a fixed address until [`DeviceHandle::wait`] returned for it.
struct Outstanding {
    overlapped: OVERLAPPED,
    event: Event,
    output_len: usize,
}

/// How [`DeviceHandle::issue`] left a request.
enum Issued {
    /// It completed during the call.
    Done(IoctlCompletion),
    /// It pends: wait for it with [`DeviceHandle::wait`] before freeing its buffers.
    Pending(Box<Outstanding>),
}

impl Transport for DeviceHandle {
    fn ioctl(&self, code: u32, input: &[u8], output: &mut [u8]) -> IoctlCompletion {
        let output_ptr = if output.is_empty() {
            ptr::null_mut()
        } else {
            output.as_mut_ptr().cast()
        };
        // SAFETY: `output_ptr` is null or `output`, writable and borrowed for the call.
        unsafe { self.request(code, input, output_ptr, output.len()) }
    }

    fn ioctl_in_direct(&self, code: u32, input: &[u8], data: &[u8]) -> IoctlCompletion {
        if IoctlCode(code).method() != METHOD_IN_DIRECT {
            // Any other method could write to `data`.
            return IoctlCompletion {
                status: NtStatus::INVALID_PARAMETER,
                information: 0,
            };
        }
        let data_ptr = if data.is_empty() {
            ptr::null_mut()
        } else {
            data.as_ptr().cast_mut().cast()
        };
        // SAFETY: `data_ptr` is null or `data`, borrowed for the call. It is not writable,
        // but only a METHOD_IN_DIRECT code is sent this way: the I/O manager probes that
        // buffer for read access and the driver only reads it (through its MDL).
        unsafe { self.request(code, input, data_ptr, data.len()) }
    }

    fn cancel_target(&self) -> Option<Weak<dyn CancelIo>> {
        let target: Weak<dyn CancelIo> = Arc::downgrade(&self.0) as Weak<dyn CancelIo>;
        Some(target)
    }

    /// Keeps up to `depth` requests outstanding (each with its own OVERLAPPED) and waits for
    /// them oldest first; returns after every request it sent completed.
    fn ioctl_in_direct_pipelined(
        &self,
        code: u32,
        requests: &[(&[u8], &[u8])],
        depth: usize,
    ) -> Vec<IoctlCompletion> {
        if IoctlCode(code).method() != METHOD_IN_DIRECT {
            // Any other method could write to the data buffers.
            return vec![IoctlCompletion {
                status: NtStatus::INVALID_PARAMETER,
                information: 0,
            }];
        }
        let depth = depth.max(1);
        let mut completions = Vec::with_capacity(requests.len());
        let mut in_flight: VecDeque<Issued> = VecDeque::with_capacity(depth);
        let mut next = requests.iter();
        let mut failed = false;
        loop {
            while !failed && in_flight.len() < depth {
                let Some((input, data)) = next.next() else {
                    break;
                };
                let data_ptr = if data.is_empty() {
                    ptr::null_mut()
                } else {
                    data.as_ptr().cast_mut().cast()
                };
                // SAFETY: `data` is borrowed for this whole call, which waits for every request
                // it sent before it returns. It is not writable, but only a METHOD_IN_DIRECT
                // code is sent this way: the driver only reads it (through its MDL).
                let issued = unsafe { self.issue(code, input, data_ptr, data.len()) };
                if let Issued::Done(completion) = &issued {
                    failed |= !completion.status.is_success();
                }
                in_flight.push_back(issued);
            }
            let Some(oldest) = in_flight.pop_front() else {
                break;
            };
            let completion = match oldest {
                Issued::Done(completion) => completion,
                Issued::Pending(outstanding) => self.wait(outstanding),
            };
            failed |= !completion.status.is_success();
            completions.push(completion);
        }
        completions
    }
}

/// A service control manager or service handle, closed on drop.
///
/// # Invariants
///
/// `0` is a non-null handle from `OpenSCManagerW`, `OpenServiceW` or `CreateServiceW`, owned here.
pub(crate) struct ScHandle(SC_HANDLE);

impl ScHandle {
    fn from_raw(handle: SC_HANDLE) -> io::Result<Self> {
        if handle.is_null() {
            Err(io::Error::last_os_error())
        } else {
            // INVARIANT: non-null handle just returned by the SCM.
            Ok(Self(handle))
        }
    }
}

impl Drop for ScHandle {
    fn drop(&mut self) {
        // SAFETY: `self.0` is a valid SCM handle owned by this value (type invariant).
        unsafe { CloseServiceHandle(self.0) };
    }
}

/// Opens the local service control manager; `create` asks for the right to create services.
pub(crate) fn open_manager(create: bool) -> io::Result<ScHandle> {
    let access = if create {
        SC_MANAGER_CONNECT | SC_MANAGER_CREATE_SERVICE
    } else {
        SC_MANAGER_CONNECT
    };
    // SAFETY: null machine and database names select the local, active database.
    ScHandle::from_raw(unsafe { OpenSCManagerW(ptr::null(), ptr::null(), access) })
}

/// The key of a service's parameters, under `HKEY_LOCAL_MACHINE`.
fn parameters_key(service: &str) -> Vec<u16> {
    wide(&format!(
        "System\\CurrentControlSet\\Services\\{service}\\{}",
        wskrs_protocol::PARAMETERS_SUBKEY
    ))
}

/// A Win32 registry status as an `io::Error` (registry calls return it instead of setting
/// the thread's last error).
fn registry_result(status: u32) -> io::Result<()> {
    if status == 0 {
        return Ok(());
    }
    Err(io::Error::from_raw_os_error(
        i32::try_from(status).unwrap_or(i32::MAX),
    ))
}

/// The `REG_DWORD` `name` of `service`'s parameters; `None` when it (or the key) is absent.
pub(crate) fn read_parameter(service: &str, name: &str) -> io::Result<Option<u32>> {
    let key = parameters_key(service);
    let value = wide(name);
    let mut data = 0u32;
    let mut size = 4u32;
    // SAFETY: the strings are NUL-terminated and alive for the call; `data` and `size` are
    // valid locals of the sizes given; no type output.
    let status = unsafe {
        RegGetValueW(
            HKEY_LOCAL_MACHINE,
            key.as_ptr(),
            value.as_ptr(),
            RRF_RT_REG_DWORD,
            ptr::null_mut(),
            (&raw mut data).cast(),
            &raw mut size,
        )
    };
    match registry_result(status) {
        Ok(()) => Ok(Some(data)),
        Err(error)
            if error.raw_os_error() == Some(win32::FILE_NOT_FOUND)
                || error.raw_os_error() == Some(win32::PATH_NOT_FOUND) =>
        {
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

/// Sets (`Some`) or deletes (`None`) the `REG_DWORD` `name` of `service`'s parameters,
/// creating the key when needed. Deleting an absent value is not an error.
pub(crate) fn write_parameter(service: &str, name: &str, value: Option<u32>) -> io::Result<()> {
    let path = parameters_key(service);
    let name = wide(name);
    let mut key: HKEY = ptr::null_mut();
    // SAFETY: `path` is NUL-terminated and alive; `key` is a valid local; no class, security
    // or disposition.
    registry_result(unsafe {
        RegCreateKeyExW(
            HKEY_LOCAL_MACHINE,
            path.as_ptr(),
            0,
            ptr::null(),
            REG_OPTION_NON_VOLATILE,
            KEY_SET_VALUE,
            ptr::null(),
            &raw mut key,
            ptr::null_mut(),
        )
    })?;
    let status = match value {
        Some(v) => {
            let bytes = v.to_le_bytes();
            // SAFETY: `key` was just opened for setting values; `name` and `bytes` are alive.
            unsafe { RegSetValueExW(key, name.as_ptr(), 0, REG_DWORD, bytes.as_ptr(), 4) }
        }
        // SAFETY: as above.
        None => match unsafe { RegDeleteValueW(key, name.as_ptr()) } {
            s if i32::try_from(s).ok() == Some(win32::FILE_NOT_FOUND) => 0,
            s => s,
        },
    };
    // SAFETY: opened above, closed once here.
    unsafe { RegCloseKey(key) };
    registry_result(status)
}

/// Creates a demand-start kernel driver service for the driver file at `path`.
pub(crate) fn create_kernel_service(
    manager: &ScHandle,
    name: &str,
    path: &str,
) -> io::Result<ScHandle> {
    let name = wide(name);
    let path = wide(path);
    // SAFETY: `manager.0` is a valid SCM handle (type invariant); `name` and `path` are
    // NUL-terminated UTF-16 strings alive for the call; the optional pointers are null.
    let handle = unsafe {
        CreateServiceW(
            manager.0,
            name.as_ptr(),
            name.as_ptr(),
            SERVICE_QUERY_STATUS,
            SERVICE_KERNEL_DRIVER,
            SERVICE_DEMAND_START,
            SERVICE_ERROR_NORMAL,
            path.as_ptr(),
            ptr::null(),
            ptr::null_mut(),
            ptr::null(),
            ptr::null(),
            ptr::null(),
        )
    };
    ScHandle::from_raw(handle)
}

/// Opens the service `name` with the rights `purpose` needs (plus status queries).
pub(crate) fn open_service(
    manager: &ScHandle,
    name: &str,
    purpose: Purpose,
) -> io::Result<ScHandle> {
    let access = SERVICE_QUERY_STATUS
        | match purpose {
            Purpose::Query => 0,
            Purpose::Start => SERVICE_START,
            Purpose::Stop => SERVICE_STOP,
            Purpose::Delete => DELETE,
        };
    let name = wide(name);
    // SAFETY: `manager.0` is a valid SCM handle (type invariant); `name` is a NUL-terminated
    // UTF-16 string alive for the call.
    ScHandle::from_raw(unsafe { OpenServiceW(manager.0, name.as_ptr(), access) })
}

fn check(succeeded: windows_sys::core::BOOL) -> io::Result<()> {
    if succeeded == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `StartServiceW` with no arguments.
pub(crate) fn start_service(service: &ScHandle) -> io::Result<()> {
    // SAFETY: `service.0` is a valid service handle (type invariant); no arguments are passed.
    check(unsafe { StartServiceW(service.0, 0, ptr::null()) })
}

/// Sends `SERVICE_CONTROL_STOP`.
pub(crate) fn stop_service(service: &ScHandle) -> io::Result<()> {
    let mut status = SERVICE_STATUS::default();
    // SAFETY: `service.0` is a valid service handle (type invariant); `status` is a live
    // local the call writes.
    check(unsafe { ControlService(service.0, SERVICE_CONTROL_STOP, ptr::addr_of_mut!(status)) })
}

/// The service's `dwCurrentState` (`SERVICE_STOPPED` 1 ... `SERVICE_PAUSED` 7).
pub(crate) fn query_state(service: &ScHandle) -> io::Result<u32> {
    let mut status = SERVICE_STATUS::default();
    // SAFETY: `service.0` is a valid service handle (type invariant); `status` is a live
    // local the call writes.
    check(unsafe { QueryServiceStatus(service.0, ptr::addr_of_mut!(status)) })?;
    Ok(status.dwCurrentState)
}

/// Marks the service for deletion.
pub(crate) fn delete_service(service: &ScHandle) -> io::Result<()> {
    // SAFETY: `service.0` is a valid service handle opened with DELETE access (type invariant).
    check(unsafe { DeleteService(service.0) })
}

/// The OS version for `wskctl selftest`'s report, from `RtlGetVersion` (which, unlike
/// `GetVersionExW`, is not capped by the program's manifest): `Windows 10.0.22631`, with
/// `(Wine 8.0)` appended when ntdll exports Wine's `wine_get_version`.
#[must_use]
pub fn os_version() -> Option<String> {
    let mut info = windows_sys::Win32::System::SystemInformation::OSVERSIONINFOW {
        dwOSVersionInfoSize: u32::try_from(std::mem::size_of::<
            windows_sys::Win32::System::SystemInformation::OSVERSIONINFOW,
        >())
        .ok()?,
        ..Default::default()
    };
    // SAFETY: `info` is a live OSVERSIONINFOW whose size field says so; the call writes it.
    let status =
        unsafe { windows_sys::Wdk::System::SystemServices::RtlGetVersion(ptr::addr_of_mut!(info)) };
    if status < 0 {
        return None;
    }
    let windows = format!(
        "Windows {}.{}.{}",
        info.dwMajorVersion, info.dwMinorVersion, info.dwBuildNumber
    );
    Some(match wine_version() {
        Some(wine) => format!("{windows} (Wine {wine})"),
        None => windows,
    })
}

/// Wine's version, if this process runs under Wine (ntdll exports `wine_get_version`).
fn wine_version() -> Option<String> {
    use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
    let ntdll = wide("ntdll.dll");
    // SAFETY: `ntdll` is a NUL-terminated UTF-16 string alive for the call; ntdll is loaded
    // in every process, and the handle is not reference-counted (nothing to release).
    let module = unsafe { GetModuleHandleW(ntdll.as_ptr()) };
    if module.is_null() {
        return None;
    }
    // SAFETY: `module` is ntdll's handle; the name is a NUL-terminated ASCII literal.
    let export = unsafe { GetProcAddress(module, c"wine_get_version".as_ptr().cast()) }?;
    // SAFETY: Wine declares `const char *wine_get_version(void)` (include/wine/library.h of
    // older releases, ntdll's spec file since); the export has that signature.
    let get: unsafe extern "C" fn() -> *const std::ffi::c_char =
        unsafe { std::mem::transmute(export) };
    // SAFETY: `get` takes no arguments and returns a pointer to a static string (or NULL).
    let version = unsafe { get() };
    if version.is_null() {
        return None;
    }
    // SAFETY: a non-NULL result points at a NUL-terminated static string in ntdll.
    let version = unsafe { std::ffi::CStr::from_ptr(version) };
    Some(version.to_string_lossy().into_owned())
}
