//! The fuzzer's Windows I/O: device handles and requests in flight, each with its own
//! OVERLAPPED, event and buffers in one heap block that lives until the request completed
//! (whatever happened to its handle or the thread that issued it).
//!
//! This is the only module with `unsafe`.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use windows_sys::Wdk::System::IO::NtDeviceIoControlFile;
use windows_sys::Win32::Foundation::{
    CloseHandle, GENERIC_READ, GENERIC_WRITE, HANDLE, INVALID_HANDLE_VALUE, STATUS_PENDING,
};
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, FILE_ATTRIBUTE_NORMAL, FILE_FLAG_OVERLAPPED, OPEN_EXISTING,
};
use windows_sys::Win32::System::Memory::{
    CreateFileMappingW, MapViewOfFile, OpenFileMappingW, FILE_MAP_ALL_ACCESS, PAGE_READWRITE,
};
use windows_sys::Win32::System::Threading::{CreateEventW, WaitForSingleObject};
use windows_sys::Win32::System::IO::{CancelIoEx, IO_STATUS_BLOCK, OVERLAPPED};

use crate::gen::Planned;

/// An open device handle (overlapped), closed on drop or by [`Handle::close`].
///
/// # Invariants
/// `0` is a handle from `CreateFileW`, owned here.
pub(crate) struct Handle(HANDLE);

// SAFETY: a handle may be used and closed from any thread.
unsafe impl Send for Handle {}

impl Handle {
    /// Opens `path` for overlapped I/O.
    pub(crate) fn open(path: &str) -> std::io::Result<Self> {
        let wide: Vec<u16> = path.encode_utf16().chain(Some(0)).collect();
        // SAFETY: `wide` is NUL-terminated and outlives the call; the rest may be null.
        let handle = unsafe {
            CreateFileW(
                wide.as_ptr(),
                GENERIC_READ | GENERIC_WRITE,
                0,
                ptr::null(),
                OPEN_EXISTING,
                FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OVERLAPPED,
                ptr::null_mut(),
            )
        };
        if handle == INVALID_HANDLE_VALUE {
            return Err(std::io::Error::last_os_error());
        }
        // INVARIANT: CreateFileW succeeded.
        Ok(Self(handle))
    }

    /// The handle's value, for issuing requests (from any thread).
    pub(crate) fn target(&self) -> Target {
        Target(self.0)
    }

    /// Closes the handle, maybe while requests on it are pending (the driver then cleans
    /// up the handle's endpoints and must complete them).
    pub(crate) fn close(self) {
        drop(self);
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle is owned (type invariant) and closed once, here.
        unsafe { CloseHandle(self.0) };
    }
}

/// A handle's value to send a request through; the [`Handle`] stays its owner (a request
/// through a handle closed meanwhile fails with an invalid-handle status, nothing more).
#[derive(Clone, Copy)]
pub(crate) struct Target(HANDLE);

// SAFETY: a handle value may be used from any thread.
unsafe impl Send for Target {}

/// A request handed to the driver and not yet seen complete.
///
/// # Invariants
/// While `pending`, the I/O manager may write `status_block` and `output` and read `input`
/// and `output`: the block is boxed (stable address) and never freed while pending (its
/// `Drop` waits; a request that never completes is leaked, not freed).
pub(crate) struct Request {
    pub(crate) planned: Planned,
    /// The handle value it went to (for CancelIoEx; the handle may be closed since).
    handle: HANDLE,
    event: HANDLE,
    status_block: IO_STATUS_BLOCK,
    output: Vec<u8>,
    pending: bool,
    /// Final (status, information) once known.
    pub(crate) result: Option<(u32, usize)>,
    pub(crate) issued: Instant,
    pub(crate) cancelled: Option<Instant>,
    /// When [`Request::poll`] first saw the event set while the status block still said
    /// `STATUS_PENDING`: Wine completed the request without writing the block (see
    /// [`Request::abandon_lost`]).
    pub(crate) signalled_unwritten: Option<Instant>,
}

// SAFETY: the request's memory is owned by the box; handles are usable from any thread.
unsafe impl Send for Request {}

impl Request {
    /// A request not yet issued, with its output buffer (`fill` as its bytes, for SEND).
    pub(crate) fn new(planned: Planned, fill: u8) -> Option<Box<Self>> {
        // SAFETY: no name or attributes; manual reset, not signalled.
        let event = unsafe { CreateEventW(ptr::null(), 1, 0, ptr::null()) };
        if event.is_null() {
            return None;
        }
        let output = vec![fill; planned.output_len];
        Some(Box::new(Self {
            planned,
            handle: ptr::null_mut(),
            event,
            status_block: IO_STATUS_BLOCK::default(),
            output,
            pending: false,
            result: None,
            issued: Instant::now(),
            cancelled: None,
            signalled_unwritten: None,
        }))
    }

    /// Sends the request through `handle` (NtDeviceIoControlFile, as DeviceIoControl does,
    /// keeping the NTSTATUS of a request that fails at once).
    pub(crate) fn issue(self: &mut Box<Self>, handle: Target) {
        self.handle = handle.0;
        self.issued = Instant::now();
        let input_len = u32::try_from(self.planned.input.len()).unwrap_or(u32::MAX);
        let output_len = u32::try_from(self.output.len()).unwrap_or(u32::MAX);
        let input = if self.planned.input.is_empty() {
            ptr::null()
        } else {
            self.planned.input.as_ptr().cast::<c_void>()
        };
        let output = if self.output.is_empty() {
            ptr::null_mut()
        } else {
            self.output.as_mut_ptr().cast::<c_void>()
        };
        self.status_block.Anonymous.Status = STATUS_PENDING;
        let block = &raw mut self.status_block;
        // SAFETY: `handle` and `event` are valid; `block`, `input` and `output` point into
        // this boxed request, which stays allocated until the request completed (type
        // invariant); the lengths are those of the buffers.
        let status = unsafe {
            NtDeviceIoControlFile(
                handle.0,
                self.event,
                None,
                ptr::null(),
                block,
                self.planned.code,
                input,
                input_len,
                output,
                output_len,
            )
        };
        if status == STATUS_PENDING {
            self.pending = true;
        } else {
            #[allow(clippy::cast_sign_loss)] // an NTSTATUS's bits
            let status = status as u32;
            // A failure at once wrote no status block; a success did.
            let information = if status >= 0x8000_0000 {
                0
            } else {
                self.status_block.Information
            };
            self.result = Some((status, information));
        }
    }

    /// Whether the request completed (its result is then set). Never blocks.
    pub(crate) fn poll(&mut self) -> bool {
        if self.result.is_some() {
            return true;
        }
        // SAFETY: `event` is valid; a zero timeout only tests it.
        if unsafe { WaitForSingleObject(self.event, 0) } != 0 {
            return false;
        }
        // SAFETY: the event is set after the I/O manager wrote the status block.
        let status = unsafe { ptr::read_volatile(&raw const self.status_block.Anonymous.Status) };
        if status == STATUS_PENDING {
            self.signalled_unwritten.get_or_insert_with(Instant::now);
            return false;
        }
        self.pending = false;
        #[allow(clippy::cast_sign_loss)] // an NTSTATUS's bits
        let status = status as u32;
        self.result = Some((status, self.status_block.Information));
        true
    }

    /// Gives up a request whose event Wine set without ever writing its status block: Wine
    /// 8.0 delivers a device request's result to the issuing thread as a system APC, and when
    /// that thread exits before running it the server destroys the APC, completing the
    /// request (event, completion port) with nothing written to the caller's memory
    /// (`thread_apc_destroy` → `async_set_result`). Nothing writes the request's memory after
    /// that, so it may be freed.
    pub(crate) fn abandon_lost(&mut self) {
        if self.signalled_unwritten.is_some() {
            self.pending = false;
        }
    }

    /// `CancelIoEx` for this request (a no-op once it completed or its handle is closed).
    pub(crate) fn cancel(&mut self) {
        if self.pending && self.cancelled.is_none() {
            self.cancelled = Some(Instant::now());
            let overlapped = (&raw const self.status_block).cast::<OVERLAPPED>();
            // SAFETY: an IO_STATUS_BLOCK is how NtDeviceIoControlFile saw the OVERLAPPED
            // that CancelIoEx matches by address; a stale handle makes the call fail, nothing
            // more.
            unsafe { CancelIoEx(self.handle, overlapped) };
        }
    }

    /// The output buffer as the driver left it.
    pub(crate) fn output(&self) -> &[u8] {
        &self.output
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        while self.pending && !self.poll() {
            // SAFETY: `event` is valid; the request's memory must outlive the request.
            unsafe { WaitForSingleObject(self.event, 1000) };
        }
        // SAFETY: the event is owned and closed once, here.
        unsafe { CloseHandle(self.event) };
    }
}

/// Counters shared between the fuzzer and a worker process it may kill (a named,
/// page-file-backed mapping): the worker publishes what it has in flight, the parent reads
/// it at the moment of the kill.
///
/// # Invariants
/// `view` points at [`Counters::SLOTS`] zero-initialised, 8-aligned `u64`s of a mapping that
/// stays mapped until this process exits (the view is never unmapped; `mapping` is owned).
pub(crate) struct Counters {
    mapping: HANDLE,
    view: *const AtomicU64,
}

// SAFETY: the view is shared memory read and written only through atomics.
unsafe impl Send for Counters {}
// SAFETY: as above.
unsafe impl Sync for Counters {}

impl Counters {
    /// Slots in the mapping.
    pub(crate) const SLOTS: usize = 64;

    /// Creates the mapping `name` (the parent, before starting the worker process).
    pub(crate) fn create(name: &str) -> std::io::Result<Self> {
        let wide: Vec<u16> = name.encode_utf16().chain(Some(0)).collect();
        let size = u32::try_from(Self::SLOTS * 8).unwrap_or(u32::MAX);
        // SAFETY: `wide` is NUL-terminated and outlives the call; an invalid file handle asks
        // for page-file backing; no security attributes.
        let mapping = unsafe {
            CreateFileMappingW(
                INVALID_HANDLE_VALUE,
                ptr::null(),
                PAGE_READWRITE,
                0,
                size,
                wide.as_ptr(),
            )
        };
        Self::map(mapping)
    }

    /// Opens the mapping `name` the parent created (the worker process).
    pub(crate) fn open(name: &str) -> std::io::Result<Self> {
        let wide: Vec<u16> = name.encode_utf16().chain(Some(0)).collect();
        // SAFETY: `wide` is NUL-terminated and outlives the call.
        let mapping = unsafe { OpenFileMappingW(FILE_MAP_ALL_ACCESS, 0, wide.as_ptr()) };
        Self::map(mapping)
    }

    fn map(mapping: HANDLE) -> std::io::Result<Self> {
        if mapping.is_null() {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `mapping` is a valid file-mapping handle of SLOTS * 8 bytes.
        let view = unsafe { MapViewOfFile(mapping, FILE_MAP_ALL_ACCESS, 0, 0, Self::SLOTS * 8) };
        if view.Value.is_null() {
            let err = std::io::Error::last_os_error();
            // SAFETY: the handle is owned and closed once, here.
            unsafe { CloseHandle(mapping) };
            return Err(err);
        }
        // INVARIANT: a fresh page-file mapping is zeroed and page-aligned, and the view is
        // never unmapped.
        Ok(Self {
            mapping,
            view: view.Value.cast::<AtomicU64>().cast_const(),
        })
    }

    /// Slot `index`, if there is one.
    pub(crate) fn slot(&self, index: usize) -> Option<&AtomicU64> {
        if index >= Self::SLOTS {
            return None;
        }
        let slot = self.view.wrapping_add(index);
        // SAFETY: `index` is within the view (checked above), which stays mapped and holds
        // aligned u64s (type invariant); only atomics access it.
        Some(unsafe { &*slot })
    }
}

impl Drop for Counters {
    fn drop(&mut self) {
        // The view stays mapped (a killed worker may be read after its end); the handle goes.
        // SAFETY: the handle is owned and closed once, here.
        unsafe { CloseHandle(self.mapping) };
    }
}
