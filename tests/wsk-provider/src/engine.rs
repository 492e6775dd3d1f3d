//! The completion engine: one I/O completion port for every socket, a few worker threads
//! that complete the client's IRPs, and the Winsock extension functions.
//!
//! Each overlapped request is an [`Op`](crate::ops::Op) whose first field is its
//! `OVERLAPPED`; while Winsock owns the request, one `Arc` reference to the op is held by the
//! completion port (`Arc::into_raw` when issuing, `Arc::from_raw` when dequeued). The
//! exception is a connection socket's request slot (`slot.rs`), whose `OVERLAPPED` carries a
//! tag the worker checks first.

use std::ffi::c_void;
use std::sync::{Arc, OnceLock};

use windows_sys::Win32::Foundation::{HANDLE, INVALID_HANDLE_VALUE};
use windows_sys::Win32::Networking::WinSock as ws;
use windows_sys::Win32::Storage::FileSystem::SetFileCompletionNotificationModes;
use windows_sys::Win32::System::IO::{
    CreateIoCompletionPort, GetQueuedCompletionStatus, PostQueuedCompletionStatus, OVERLAPPED,
};
use wsk_bindings::NtStatus;

use crate::ops::Op;

/// Worker threads. Clients run their completion routines on them and may issue their next
/// request from there; more than one keeps a slow completion routine from stalling others.
const WORKERS: usize = 4;

/// `FILE_SKIP_COMPLETION_PORT_ON_SUCCESS` (winbase.h; `SetFileCompletionNotificationModes`).
const SKIP_ON_SUCCESS: u8 = 1;

/// The process-wide engine, started by the first `WskRegister`.
pub(crate) struct Engine {
    port: HANDLE,
    pub(crate) accept_ex: ws::LPFN_ACCEPTEX,
    pub(crate) get_accept_ex_sockaddrs: ws::LPFN_GETACCEPTEXSOCKADDRS,
    pub(crate) connect_ex: ws::LPFN_CONNECTEX,
    /// `WSARecvMsg`, for `WskReceiveFrom` with control information.
    pub(crate) recv_msg: ws::LPFN_WSARECVMSG,
    /// Every socket is in `FILE_SKIP_COMPLETION_PORT_ON_SUCCESS` mode: a request that succeeds
    /// at once queues no packet and is finished by the thread that issued it, which saves a
    /// trip through the port (and under Wine, through its server) on every such request.
    /// Set when [`skips_packets_on_success`] saw the mode honoured.
    pub(crate) skip_on_success: bool,
}

// SAFETY: a completion port handle and function pointers may be used from any thread.
unsafe impl Send for Engine {}
// SAFETY: as above; the engine is immutable after start.
unsafe impl Sync for Engine {}

static ENGINE: OnceLock<Result<Engine, NtStatus>> = OnceLock::new();

/// The engine, started on first use.
///
/// # Errors
/// The status that made the start fail (Winsock, the completion port or the threads).
pub(crate) fn get() -> Result<&'static Engine, NtStatus> {
    ENGINE.get_or_init(start).as_ref().map_err(|s| *s)
}

fn start() -> Result<Engine, NtStatus> {
    pin_module();
    // SAFETY: WSADATA is plain data, written by WSAStartup.
    let mut data = unsafe { std::mem::zeroed::<ws::WSADATA>() };
    // SAFETY: `data` is writable; version 2.2.
    if unsafe { ws::WSAStartup(0x0202, &raw mut data) } != 0 {
        return Err(NtStatus::INTERNAL_ERROR);
    }
    // SAFETY: creating a new port (no file handle).
    let port = unsafe { CreateIoCompletionPort(INVALID_HANDLE_VALUE, std::ptr::null_mut(), 0, 0) };
    if port.is_null() {
        return Err(NtStatus::INSUFFICIENT_RESOURCES);
    }
    let (accept_ex, get_accept_ex_sockaddrs, connect_ex, recv_msg) = extension_functions()?;
    // `WSKRS_PROVIDER_SKIP_ON_SUCCESS=0` keeps every request on the port (as where Wine does
    // not honour the mode): the other completion path, for tests.
    let skip_on_success = std::env::var_os("WSKRS_PROVIDER_SKIP_ON_SUCCESS")
        .is_none_or(|v| v != "0")
        && skips_packets_on_success();
    crate::trace::trace_line!(
        "engine: FILE_SKIP_COMPLETION_PORT_ON_SUCCESS {}",
        if skip_on_success {
            "honoured: used"
        } else {
            "not honoured: every request completes through the port"
        }
    );
    for i in 0..WORKERS {
        let port = port as usize;
        std::thread::Builder::new()
            .name(format!("wsk-provider-{i}"))
            .spawn(move || worker(port as HANDLE))
            .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
    }
    Ok(Engine {
        port,
        accept_ex,
        get_accept_ex_sockaddrs,
        connect_ex,
        recv_msg,
        skip_on_success,
    })
}

/// Whether a socket in `FILE_SKIP_COMPLETION_PORT_ON_SUCCESS` mode really queues no packet
/// for a request that succeeds at once. Tried on a UDP socket sending to itself through a
/// private port: finishing a request inline that also gets a packet would finish it twice, so
/// the mode is used only when seen to work.
fn skips_packets_on_success() -> bool {
    // SAFETY: a new overlapped UDP socket, closed below.
    let s = unsafe {
        ws::WSASocketW(
            i32::from(ws::AF_INET),
            ws::SOCK_DGRAM,
            ws::IPPROTO_UDP,
            std::ptr::null(),
            0,
            ws::WSA_FLAG_OVERLAPPED,
        )
    };
    if s == ws::INVALID_SOCKET {
        return false;
    }
    // SAFETY: creating a private port for the socket.
    let port = unsafe { CreateIoCompletionPort(s as HANDLE, std::ptr::null_mut(), 0, 0) };
    let honoured = !port.is_null() && {
        // SAFETY: `s` is open and associated with `port`.
        let set = unsafe { SetFileCompletionNotificationModes(s as HANDLE, SKIP_ON_SUCCESS) } != 0;
        // SAFETY: `s` is open; `port` is ours.
        set && unsafe { sends_without_packet(s, port) }
    };
    // SAFETY: ours; nothing is pending on it (a send to self never pends).
    unsafe { ws::closesocket(s) };
    if !port.is_null() {
        // SAFETY: ours, no longer used.
        unsafe { windows_sys::Win32::Foundation::CloseHandle(port) };
    }
    honoured
}

/// Binds `s` to loopback and sends one datagram to itself: true if the send succeeded at once
/// and no packet reached `port`.
///
/// # Safety
/// `s` is an open overlapped UDP socket associated with `port`.
unsafe fn sends_without_packet(s: ws::SOCKET, port: HANDLE) -> bool {
    let mut addr = ws::SOCKADDR_IN {
        sin_family: ws::AF_INET,
        sin_port: 0,
        sin_addr: ws::IN_ADDR {
            S_un: ws::IN_ADDR_0 {
                S_addr: u32::from_ne_bytes([127, 0, 0, 1]),
            },
        },
        sin_zero: [0; 8],
    };
    let Ok(mut len) = i32::try_from(std::mem::size_of::<ws::SOCKADDR_IN>()) else {
        return false;
    };
    // SAFETY: `addr` is a valid SOCKADDR_IN of `len` bytes.
    let bound = unsafe { ws::bind(s, (&raw const addr).cast(), len) } == 0
        // SAFETY: as above, written by getsockname.
        && unsafe { ws::getsockname(s, (&raw mut addr).cast(), &raw mut len) } == 0;
    if !bound {
        return false;
    }
    let mut byte = [0u8; 1];
    let buf = ws::WSABUF {
        len: 1,
        buf: byte.as_mut_ptr(),
    };
    // SAFETY: OVERLAPPED is plain data.
    let mut ovl = unsafe { std::mem::zeroed::<OVERLAPPED>() };
    let mut sent = 0u32;
    // SAFETY: the buffer and OVERLAPPED outlive the call, which completes at once or fails
    // (a datagram to a local socket does not pend).
    let immediate = unsafe {
        ws::WSASendTo(
            s,
            &raw const buf,
            1,
            &raw mut sent,
            0,
            (&raw const addr).cast(),
            len,
            &raw mut ovl,
            None,
        )
    } == 0;
    if !immediate {
        return false;
    }
    let (mut bytes, mut key) = (0u32, 0usize);
    let mut got: *mut OVERLAPPED = std::ptr::null_mut();
    // SAFETY: out-pointers are valid; 50 ms is plenty for a packet queued during the call.
    unsafe { GetQueuedCompletionStatus(port, &raw mut bytes, &raw mut key, &raw mut got, 50) };
    got.is_null()
}

/// Keeps this module loaded for the life of the process: the worker threads run its code,
/// and Wine would unload it with the last driver that imports it.
fn pin_module() {
    use windows_sys::Win32::System::LibraryLoader::{
        GetModuleHandleExW, GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS, GET_MODULE_HANDLE_EX_FLAG_PIN,
    };
    let mut module = std::ptr::null_mut();
    let address = pin_module as *const c_void;
    // SAFETY: FROM_ADDRESS takes any address inside the module as the "name".
    let _ = unsafe {
        GetModuleHandleExW(
            GET_MODULE_HANDLE_EX_FLAG_PIN | GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS,
            address.cast(),
            &raw mut module,
        )
    };
}

type Extensions = (
    ws::LPFN_ACCEPTEX,
    ws::LPFN_GETACCEPTEXSOCKADDRS,
    ws::LPFN_CONNECTEX,
    ws::LPFN_WSARECVMSG,
);

fn extension_functions() -> Result<Extensions, NtStatus> {
    // SAFETY: plain socket creation.
    let s = unsafe { ws::socket(i32::from(ws::AF_INET), ws::SOCK_STREAM, ws::IPPROTO_TCP) };
    if s == ws::INVALID_SOCKET {
        return Err(crate::status::last_wsa());
    }
    let result = (|| {
        // SAFETY: `s` is a TCP socket; each GUID names a function pointer of the given type.
        let accept_ex = unsafe { extension::<ws::LPFN_ACCEPTEX>(s, ws::WSAID_ACCEPTEX) }?;
        // SAFETY: as above.
        let sockaddrs = unsafe {
            extension::<ws::LPFN_GETACCEPTEXSOCKADDRS>(s, ws::WSAID_GETACCEPTEXSOCKADDRS)
        }?;
        // SAFETY: as above.
        let connect_ex = unsafe { extension::<ws::LPFN_CONNECTEX>(s, ws::WSAID_CONNECTEX) }?;
        // SAFETY: as above.
        let recv_msg = unsafe { extension::<ws::LPFN_WSARECVMSG>(s, ws::WSAID_WSARECVMSG) }?;
        Ok((accept_ex, sockaddrs, connect_ex, recv_msg))
    })();
    // SAFETY: `s` is ours.
    unsafe { ws::closesocket(s) };
    result
}

/// `SIO_GET_EXTENSION_FUNCTION_POINTER`.
///
/// # Safety
/// `T` is the `Option<fn>` type of the function `guid` names.
unsafe fn extension<T: Default>(
    s: ws::SOCKET,
    guid: windows_sys::core::GUID,
) -> Result<T, NtStatus> {
    let mut f = T::default();
    let mut returned = 0u32;
    // Sizes of a GUID and a function pointer fit in u32.
    #[allow(clippy::cast_possible_truncation)]
    let (in_len, out_len) = (size_of_val(&guid) as u32, size_of::<T>() as u32);
    // SAFETY: buffers are valid for the given sizes; no overlapped.
    let r = unsafe {
        ws::WSAIoctl(
            s,
            ws::SIO_GET_EXTENSION_FUNCTION_POINTER,
            (&raw const guid).cast(),
            in_len,
            (&raw mut f).cast(),
            out_len,
            &raw mut returned,
            std::ptr::null_mut(),
            None,
        )
    };
    if r != 0 {
        return Err(crate::status::last_wsa());
    }
    Ok(f)
}

impl Engine {
    /// Routes a socket's overlapped completions to the engine.
    ///
    /// # Errors
    /// `STATUS_INSUFFICIENT_RESOURCES` when the port refuses the handle.
    pub(crate) fn associate(&self, s: ws::SOCKET) -> Result<(), NtStatus> {
        // SAFETY: `s` is an open overlapped socket; the port lives for the process.
        let r = unsafe { CreateIoCompletionPort(s as HANDLE, self.port, 0, 0) };
        if r.is_null() {
            return Err(NtStatus::INSUFFICIENT_RESOURCES);
        }
        // Every socket in the same mode: `Op::start` finishes inline only in this mode.
        if self.skip_on_success {
            // SAFETY: `s` is open and associated.
            let set = unsafe { SetFileCompletionNotificationModes(s as HANDLE, SKIP_ON_SUCCESS) };
            if set == 0 {
                return Err(NtStatus::INSUFFICIENT_RESOURCES);
            }
        }
        Ok(())
    }
}

/// The completion key of a packet that brings back a parked (delayed) request: the worker
/// finishes it with the result it had when it was parked (`Op::finish_parked`). Winsock's own
/// packets carry key 0 (sockets are associated with key 0).
const RELEASED: usize = 1;

impl Engine {
    /// Queues `ovl` on the port as a completed request of 0 bytes: the op it belongs to is
    /// finished by a worker thread.
    ///
    /// # Errors
    /// `STATUS_INSUFFICIENT_RESOURCES` when the port refuses the packet.
    pub(crate) fn post(&self, ovl: *mut OVERLAPPED) -> Result<(), NtStatus> {
        self.post_with_key(ovl, 0)
    }

    /// Queues `ovl`, an op released from its delay, for a worker thread.
    ///
    /// # Errors
    /// As [`Engine::post`].
    pub(crate) fn post_released(&self, ovl: *mut OVERLAPPED) -> Result<(), NtStatus> {
        self.post_with_key(ovl, RELEASED)
    }

    /// Queues `ovl` as a request that succeeded with `bytes` (one that completed at once in
    /// skip-on-success mode and is to finish on a worker thread all the same).
    ///
    /// # Errors
    /// As [`Engine::post`].
    pub(crate) fn post_completed(&self, ovl: *mut OVERLAPPED, bytes: u32) -> Result<(), NtStatus> {
        self.post_packet(ovl, bytes, 0)
    }

    fn post_with_key(&self, ovl: *mut OVERLAPPED, key: usize) -> Result<(), NtStatus> {
        self.post_packet(ovl, 0, key)
    }

    fn post_packet(&self, ovl: *mut OVERLAPPED, bytes: u32, key: usize) -> Result<(), NtStatus> {
        // SAFETY: the port lives for the process; `ovl` is an op's OVERLAPPED whose in-flight
        // reference was given up, taken back by the worker that dequeues the packet.
        if unsafe { PostQueuedCompletionStatus(self.port, bytes, key, ovl) } == 0 {
            Err(NtStatus::INSUFFICIENT_RESOURCES)
        } else {
            Ok(())
        }
    }
}

/// Dequeues completions forever and finishes their ops.
#[cfg_attr(windows, link_section = ".text$wskhot")]
fn worker(port: HANDLE) {
    loop {
        let mut bytes = 0u32;
        let mut key = 0usize;
        let mut ovl: *mut OVERLAPPED = std::ptr::null_mut();
        // SAFETY: out-pointers are valid; the port lives for the process.
        let ok = unsafe {
            GetQueuedCompletionStatus(port, &raw mut bytes, &raw mut key, &raw mut ovl, u32::MAX)
        };
        if ovl.is_null() {
            if ok == 0 {
                // The port failed (only when it is closed, which never happens): stop.
                return;
            }
            continue;
        }
        // SAFETY: the port gave back an OVERLAPPED: a slot's (finished here) or an op's.
        if unsafe { crate::slot::dequeued(ovl, ok != 0, bytes) } {
            continue;
        }
        // SAFETY: every other OVERLAPPED queued on this port is the first field of an Op whose
        // in-flight reference was given up with Arc::into_raw when the request was issued.
        let op = unsafe { Arc::from_raw(ovl.cast::<Op>().cast_const()) };
        crate::trace::trace_line!("dequeued {ovl:p} ok {ok} bytes {bytes} key {key}");
        if key == RELEASED {
            op.finish_parked();
            continue;
        }
        let status = if ok != 0 {
            NtStatus::SUCCESS
        } else {
            op.overlapped_status()
        };
        op.finish(status, bytes as usize);
    }
}
