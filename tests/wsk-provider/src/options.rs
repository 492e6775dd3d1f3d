//! `WskControlSocket`: socket options (`WskSetOption` / `WskGetOption`) mapped to Winsock's
//! `setsockopt` / `getsockopt`, plus `SO_WSK_SECURITY` kept by the provider; the catalogue
//! (kinds, defaults, statuses) is the one the host fake answers from
//! (`wskrs_provider_model::options`).
//!
//! `IPPROTO_TCP` options that Windows supports and Wine 8.0's Winsock refuses
//! ([`model::emulated`]) are answered by the provider: a WSK client written for Windows sets
//! them and expects them to stick. Winsock is always asked first: an option a later Wine
//! accepts goes to the real Linux socket and is read back from it. `TCP_KEEPIDLE` and
//! `TCP_KEEPINTVL` also reach the Linux socket through `SIO_KEEPALIVE_VALS` (Wine sets
//! `TCP_KEEPIDLE` / `TCP_KEEPINTVL` from it) while keep-alive is on, and again whenever
//! `SO_KEEPALIVE` is turned on. The others cannot reach it through Wine 8.0's Winsock
//! (README, "TCP options").

use std::ffi::c_void;

use windows_sys::Win32::Networking::WinSock as ws;
use wsk_bindings::{self as sys, NtStatus};
use wskrs_provider_model::dispatch;
use wskrs_provider_model::options as model;
use wskrs_provider_model::security;
use wskrs_provider_model::sharing::SharingOptions;

use crate::irp::PendingIrp;
use crate::security::CACHE;
use crate::socket::Socket;

/// The outcome of a control request: status and bytes written to the output buffer.
pub(crate) type Outcome = (NtStatus, usize);

/// `WskControlSocket`. With an IRP, the IRP is completed (Information = bytes returned) and
/// the same status is returned; without one, the status is returned and the byte count goes
/// to `OutputSizeReturned`. Every request completes synchronously.
///
/// # Safety
/// The WSK contract of `WskControlSocket` for `call`'s parameters.
pub(crate) unsafe fn wsk_control_socket(call: dispatch::ControlSocket) -> sys::NTSTATUS {
    let (socket, request, code, level) = (call.socket, call.request, call.code, call.level);
    let (input, input_size) = (call.input, call.input_len());
    let (output, output_size) = (call.output, call.output_len());
    let (returned, irp) = (call.returned, call.irp);
    // SAFETY: WSK contract: the client's IRP (or null).
    let irp = unsafe { PendingIrp::take(irp, "WskControlSocket", socket.cast_const().cast()) };
    if call.is_event_callback() {
        if !returned.is_null() {
            // SAFETY: WSK contract: a writable SIZE_T when not null.
            unsafe { returned.write_unaligned(0) };
        }
        // SAFETY: WSK contract: a handle from this provider, not yet closed.
        let Some(s) = (unsafe { Socket::from_handle(socket) }) else {
            return match irp {
                Some(irp) => irp.complete_inline(NtStatus::INVALID_HANDLE, 0).0,
                None => NtStatus::INVALID_HANDLE.0,
            };
        };
        // SAFETY: WSK contract: the input buffer is readable for its size.
        return unsafe { crate::events::control(&s, input, input_size, irp) }.0;
    }
    // SAFETY: WSK contract: a handle from this provider, not yet closed.
    let (status, bytes) = match unsafe { Socket::from_handle(socket) } {
        None => (NtStatus::INVALID_HANDLE, 0),
        Some(s) => {
            crate::verify::after_close(
                "WskControlSocket",
                socket.cast_const().cast(),
                s.is_closing(),
            );
            let req = Request {
                code,
                level,
                input,
                input_size,
                output,
                output_size,
                has_irp: irp.is_some(),
            };
            match (crate::fault::inject_named("control"), request) {
                (Some(status), _) => (status, 0),
                // SAFETY: WSK contract: the input buffer is readable for its size.
                (None, sys::WskSetOption) => unsafe { set(&s, &req) },
                // SAFETY: WSK contract: the output buffer is writable for its size.
                (None, sys::WskGetOption) => unsafe { get(&s, &req) },
                // SAFETY: WSK contract: both buffers valid for their sizes.
                (None, sys::WskIoctl) => unsafe { crate::ioctl::ioctl(&s, &req) },
                (None, _) => (NtStatus::NOT_SUPPORTED, 0),
            }
        }
    };
    crate::trace::trace_line!(
        "WskControlSocket type {request} level {level:#x} code {code:#x} -> {status:?}"
    );
    if !returned.is_null() {
        // SAFETY: WSK contract: a writable SIZE_T when not null.
        unsafe { returned.write_unaligned(bytes as sys::SIZE_T) };
    }
    match irp {
        Some(irp) => irp.complete_inline(status, bytes).0,
        None => status.0,
    }
}

/// A `WskControlSocket` request's parameters.
pub(crate) struct Request {
    pub(crate) code: u32,
    pub(crate) level: u32,
    pub(crate) input: *mut c_void,
    pub(crate) input_size: usize,
    pub(crate) output: *mut c_void,
    pub(crate) output_size: usize,
    pub(crate) has_irp: bool,
}

/// # Safety
/// `req`'s input buffer is readable for `input_size` bytes.
pub(crate) unsafe fn set(s: &std::sync::Arc<Socket>, req: &Request) -> Outcome {
    if req.level == sys::SOL_SOCKET && req.code == sys::SO_WSK_SECURITY {
        // SAFETY: caller's contract.
        let sd = unsafe { security::option_to_set(&CACHE, req.input, req.input_size, req.has_irp) };
        return (
            sd.and_then(|sd| s.set_security(sd))
                .err()
                .unwrap_or(NtStatus::SUCCESS),
            0,
        );
    }
    if SharingOptions::is_sharing_option(req.level, req.code) {
        // Kept by the provider: they decide the bind (`sharing.rs`), not Winsock.
        if let Err(e) = s.option_handle() {
            return (e, 0);
        }
        if req.input.is_null() || req.input_size < size_of::<u32>() {
            return (model::SHORT_INPUT, 0);
        }
        // SAFETY: at least 4 readable bytes (checked; caller's contract).
        let on = unsafe { req.input.cast::<u32>().read_unaligned() } != 0;
        return (
            s.set_sharing(req.code, on)
                .err()
                .unwrap_or(NtStatus::SUCCESS),
            0,
        );
    }
    let h = match s.option_handle() {
        Ok(h) => h,
        Err(e) => return (e, 0),
    };
    let (Ok(level), Ok(name), Ok(len)) = (
        i32::try_from(req.level),
        Ok::<i32, ()>(model::winsock_name(req.code)),
        i32::try_from(req.input_size),
    ) else {
        return (NtStatus::INVALID_PARAMETER, 0);
    };
    if req.input.is_null() && len != 0 {
        return (NtStatus::INVALID_PARAMETER, 0);
    }
    // SAFETY: the input buffer is readable for `len` bytes (caller's contract).
    if unsafe { ws::setsockopt(h, level, name, req.input.cast_const().cast(), len) } != 0 {
        // SAFETY: no preconditions.
        let error = unsafe { ws::WSAGetLastError() };
        if error == ws::WSAENOPROTOOPT && model::emulated(req.level, req.code) && s.is_tcp() {
            // SAFETY: caller's contract (the input buffer is readable for its size).
            return (unsafe { set_emulated(s, h, req) }, 0);
        }
        return (crate::status::from_wsa(error), 0);
    }
    if req.level == sys::SOL_SOCKET && req.code == sys::SO_SNDBUF {
        // The ideal send backlog this provider reports follows the send buffer.
        crate::events::send_buffer_changed(s);
    }
    if req.level == sys::SOL_SOCKET && req.code == sys::SO_KEEPALIVE {
        // Keep-alive turned on: the tuned time and interval apply from now on.
        apply_keepalive(s, h);
    }
    (NtStatus::SUCCESS, 0)
}

/// A `WskSetOption` of an `IPPROTO_TCP` option Winsock refused ([`model::emulated`]): a DWORD,
/// validated and stored; keep-alive tuning also reaches the Linux socket.
///
/// # Safety
/// `req`'s input buffer is readable for `input_size` bytes.
unsafe fn set_emulated(s: &Socket, h: ws::SOCKET, req: &Request) -> NtStatus {
    if req.input.is_null() || req.input_size < size_of::<u32>() {
        return model::SHORT_INPUT;
    }
    // SAFETY: at least 4 readable bytes (checked; caller's contract).
    let value = unsafe { req.input.cast::<u32>().read_unaligned() };
    if let Err(e) = s.set_tcp_option(req.code, value) {
        return e;
    }
    crate::trace::trace_line!(
        "IPPROTO_TCP option {} = {value} (answered by the provider)",
        req.code
    );
    if matches!(req.code, sys::TCP_KEEPIDLE | sys::TCP_KEEPINTVL) {
        apply_keepalive(s, h);
    }
    NtStatus::SUCCESS
}

/// Applies the keep-alive time and interval the client tuned to the Winsock socket through
/// `SIO_KEEPALIVE_VALS` (Wine sets the Linux socket's `TCP_KEEPIDLE` / `TCP_KEEPINTVL` from
/// it), when keep-alive is on; `SIO_KEEPALIVE_VALS` with keep-alive off would change nothing
/// but `SO_KEEPALIVE`, so it waits for `SO_KEEPALIVE` to be turned on.
fn apply_keepalive(s: &Socket, h: ws::SOCKET) {
    let Some(tuned) = s.tcp_keepalive() else {
        return;
    };
    let mut on = [0u8; 4];
    let mut len = 4i32;
    // SAFETY: `on` is writable for `len` bytes.
    let r = unsafe {
        ws::getsockopt(
            h,
            ws::SOL_SOCKET,
            ws::SO_KEEPALIVE,
            on.as_mut_ptr(),
            &raw mut len,
        )
    };
    if r != 0 || on == [0; 4] {
        return;
    }
    let vals = ws::tcp_keepalive {
        onoff: 1,
        keepalivetime: tuned.time_ms,
        keepaliveinterval: tuned.interval_ms,
    };
    let mut returned = 0u32;
    // The structure is 12 bytes.
    #[allow(clippy::cast_possible_truncation)]
    let size = size_of::<ws::tcp_keepalive>() as u32;
    // SAFETY: the input is a tcp_keepalive of `size` bytes; no output; no overlapped.
    let r = unsafe {
        ws::WSAIoctl(
            h,
            ws::SIO_KEEPALIVE_VALS,
            (&raw const vals).cast(),
            size,
            std::ptr::null_mut(),
            0,
            &raw mut returned,
            std::ptr::null_mut(),
            None,
        )
    };
    crate::trace::trace_line!(
        "SIO_KEEPALIVE_VALS({} ms, {} ms) -> {r}",
        tuned.time_ms,
        tuned.interval_ms
    );
}

/// # Safety
/// `req`'s output buffer is writable for `output_size` bytes.
unsafe fn get(s: &Socket, req: &Request) -> Outcome {
    if req.level == sys::SOL_SOCKET && req.code == sys::SO_WSK_SECURITY {
        // A socket without a descriptor reports NULL (it uses the default descriptor).
        // SAFETY: caller's contract.
        return unsafe {
            security::write_option(s.security(), req.output, req.output_size, req.has_irp)
        };
    }
    if SharingOptions::is_sharing_option(req.level, req.code) {
        if let Err(e) = s.option_handle() {
            return (e, 0);
        }
        if req.output.is_null() || req.output_size < size_of::<u32>() {
            return (model::SHORT_OUTPUT, 0);
        }
        let value = u32::from(s.sharing().0.get(req.code));
        // SAFETY: at least 4 writable bytes (checked; caller's contract).
        unsafe { req.output.cast::<u32>().write_unaligned(value) };
        return (NtStatus::SUCCESS, size_of::<u32>());
    }
    let h = match s.option_handle() {
        Ok(h) => h,
        Err(e) => return (e, 0),
    };
    let (Ok(level), Ok(name), Ok(mut len)) = (
        i32::try_from(req.level),
        Ok::<i32, ()>(model::winsock_name(req.code)),
        i32::try_from(req.output_size),
    ) else {
        return (NtStatus::INVALID_PARAMETER, 0);
    };
    if req.output.is_null() {
        return (NtStatus::INVALID_PARAMETER, 0);
    }
    // SAFETY: the output buffer is writable for `len` bytes (caller's contract).
    if unsafe { ws::getsockopt(h, level, name, req.output.cast(), &raw mut len) } != 0 {
        // SAFETY: no preconditions.
        let error = unsafe { ws::WSAGetLastError() };
        if error == ws::WSAENOPROTOOPT && model::emulated(req.level, req.code) && s.is_tcp() {
            let Some(value) = s.tcp_option(req.code) else {
                return (model::UNKNOWN_OPTION, 0);
            };
            if req.output_size < size_of::<u32>() {
                return (model::SHORT_OUTPUT, 0);
            }
            // SAFETY: at least 4 writable bytes (checked; caller's contract).
            unsafe { req.output.cast::<u32>().write_unaligned(value) };
            return (NtStatus::SUCCESS, size_of::<u32>());
        }
        return (crate::status::from_wsa(error), 0);
    }
    let mut len = usize::try_from(len).unwrap_or(0);
    if model::is_boolean(req.level, req.code) && len < 4 && req.output_size >= 4 {
        // Winsock (Windows' and Wine's) returns one byte for these; WSK clients read a ULONG.
        let rest = req.output.cast::<u8>().wrapping_add(len);
        // SAFETY: the buffer has at least 4 writable bytes (checked); `len` < 4 were written.
        unsafe { std::ptr::write_bytes(rest, 0, 4 - len) };
        len = 4;
    }
    (NtStatus::SUCCESS, len)
}
