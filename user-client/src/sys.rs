//! The Windows API calls of the client: the device handle and the service control manager.
//!
//! This is the only module with `unsafe`. Each wrapper owns its handle and closes it in
//! `Drop`; every unsafe block says why its pointers are valid.
#![allow(unsafe_code)]

use std::io;
use std::iter;
use std::ptr;

use windows_sys::Wdk::System::IO::NtDeviceIoControlFile;
use windows_sys::Win32::Foundation::{
    CloseHandle, GENERIC_READ, GENERIC_WRITE, HANDLE, INVALID_HANDLE_VALUE, STATUS_PENDING,
    WAIT_OBJECT_0,
};
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, DELETE, FILE_ATTRIBUTE_NORMAL, OPEN_EXISTING,
};
use windows_sys::Win32::System::Console::SetConsoleCtrlHandler;
use windows_sys::Win32::System::Services::{
    CloseServiceHandle, ControlService, CreateServiceW, DeleteService, OpenSCManagerW,
    OpenServiceW, QueryServiceStatus, StartServiceW, SC_HANDLE, SC_MANAGER_CONNECT,
    SC_MANAGER_CREATE_SERVICE, SERVICE_CONTROL_STOP, SERVICE_DEMAND_START, SERVICE_ERROR_NORMAL,
    SERVICE_KERNEL_DRIVER, SERVICE_QUERY_STATUS, SERVICE_START, SERVICE_STATUS, SERVICE_STOP,
};
use windows_sys::Win32::System::Threading::{WaitForSingleObject, INFINITE};
use windows_sys::Win32::System::IO::IO_STATUS_BLOCK;
use wskrs_ntstatus::NtStatus;

use crate::device::{IoctlCompletion, Transport};
use crate::error::win32;

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

/// While it lives, Ctrl-C does not end the process (`SetConsoleCtrlHandler(NULL, TRUE)`):
/// `wskctl shell` keeps its endpoints when Ctrl-C is pressed at the prompt. Dropping it
/// restores the default.
pub(crate) struct CtrlCIgnored(());

impl CtrlCIgnored {
    /// Ignores Ctrl-C until the guard is dropped.
    pub(crate) fn new() -> io::Result<Self> {
        // SAFETY: a null handler routine is allowed: it sets whether the process ignores
        // CTRL_C_EVENT; no pointer is passed.
        let ok = unsafe { SetConsoleCtrlHandler(None, 1) };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self(()))
    }
}

impl Drop for CtrlCIgnored {
    fn drop(&mut self) {
        // SAFETY: as in `new`; FALSE restores normal Ctrl-C processing.
        let _ = unsafe { SetConsoleCtrlHandler(None, 0) };
    }
}

/// `text` as a NUL-terminated UTF-16 string.
fn wide(text: &str) -> Vec<u16> {
    text.encode_utf16().chain(iter::once(0)).collect()
}

/// An open handle to the wsk-rs device, closed on drop.
///
/// # Invariants
///
/// `0` is a valid handle returned by `CreateFileW`, opened for synchronous I/O, owned here.
pub(crate) struct DeviceHandle(HANDLE);

impl DeviceHandle {
    /// `CreateFileW(path, GENERIC_READ | GENERIC_WRITE, no sharing, OPEN_EXISTING)`.
    pub(crate) fn open(path: &str) -> io::Result<Self> {
        let path = wide(path);
        // SAFETY: `path` is a NUL-terminated UTF-16 string that outlives the call; the
        // security attributes and template handle may be null.
        let handle = unsafe {
            CreateFileW(
                path.as_ptr(),
                GENERIC_READ | GENERIC_WRITE,
                0,
                ptr::null(),
                OPEN_EXISTING,
                FILE_ATTRIBUTE_NORMAL,
                ptr::null_mut(),
            )
        };
        if handle == INVALID_HANDLE_VALUE {
            return Err(io::Error::last_os_error());
        }
        // INVARIANT: CreateFileW succeeded; without FILE_FLAG_OVERLAPPED the handle is synchronous.
        Ok(Self(handle))
    }
}

impl Transport for DeviceHandle {
    /// `NtDeviceIoControlFile`, which (unlike `DeviceIoControl`) gives back the NTSTATUS.
    fn ioctl(&self, code: u32, input: &[u8], output: &mut [u8]) -> IoctlCompletion {
        let (Ok(input_len), Ok(output_len)) =
            (u32::try_from(input.len()), u32::try_from(output.len()))
        else {
            return IoctlCompletion {
                status: NtStatus::INVALID_BUFFER_SIZE,
                information: 0,
            };
        };
        let input_ptr = if input.is_empty() {
            ptr::null()
        } else {
            input.as_ptr().cast()
        };
        let output_ptr = if output.is_empty() {
            ptr::null_mut()
        } else {
            output.as_mut_ptr().cast()
        };
        let mut io_status = IO_STATUS_BLOCK::default();
        // SAFETY: `self.0` is a valid handle (type invariant). `input_ptr`/`output_ptr` are
        // null or point to `input_len`/`output_len` bytes borrowed for the whole call, and
        // `io_status` is a live local; the handle is synchronous, so the I/O manager is done
        // with all of them when the call returns (or after the wait below). No event or APC.
        let mut status = unsafe {
            NtDeviceIoControlFile(
                self.0,
                ptr::null_mut(),
                None,
                ptr::null(),
                ptr::addr_of_mut!(io_status),
                code,
                input_ptr,
                input_len,
                output_ptr,
                output_len,
            )
        };
        if status == STATUS_PENDING {
            // A synchronous handle should not return this; if it does, the file object is
            // signalled at completion.
            // SAFETY: `self.0` is a valid handle (type invariant).
            let waited = unsafe { WaitForSingleObject(self.0, INFINITE) };
            if waited == WAIT_OBJECT_0 {
                // SAFETY: the request completed, so the I/O manager wrote the `Status` member.
                status = unsafe { io_status.Anonymous.Status };
            }
        }
        IoctlCompletion {
            status: NtStatus(status),
            information: io_status.Information.min(output.len()),
        }
    }
}

impl Drop for DeviceHandle {
    fn drop(&mut self) {
        // SAFETY: `self.0` is a valid handle owned by this value (type invariant), closed once.
        unsafe { CloseHandle(self.0) };
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

/// What a service handle will be used for; decides the access rights asked for.
#[derive(Clone, Copy)]
pub(crate) enum Purpose {
    Query,
    Start,
    Stop,
    Delete,
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
