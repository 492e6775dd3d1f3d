//! `WskControlSocket` with `RequestType` `WskIoctl`: the WSK-specific socket I/O controls
//! (`SIO_WSK_*`, each on the socket category its page names) and a few standard Winsock
//! ioctls passed through to `WSAIoctl`.
//!
//! Pages (https://learn.microsoft.com/windows-hardware/drivers/network/...):
//! - `sio-wsk-query-receive-backlog`: connection sockets, after connect; no input; output a
//!   `SIZE_T` (bytes received and not yet taken by the client); IRP required.
//! - `sio-wsk-query-ideal-send-backlog`: connection sockets, after connect; output a
//!   `SIZE_T`; IRP required.
//! - `sio-wsk-set-remote-address` / `sio-wsk-set-sendto-address`: datagram sockets, after
//!   bind; input a `SOCKADDR` of the socket's family (or none, to clear); no output; IRP
//!   required. Remote: datagrams are also accepted only from that address.
//! - Winsock's secure socket extensions (`SIO_SET_SECURITY`, `SIO_SET_PEER_TARGET_NAME`,
//!   `SIO_DELETE_PEER_TARGET_NAME`, `SIO_QUERY_SECURITY`): validated and answered as
//!   `wskrs_provider_model::secure` says for a provider without IPsec; no IRP required.
//! - `SIO_WSK_QUERY_INSPECT_ID` needs conditional accept, `SIO_WSK_REGISTER_EXTENSION`
//!   extension interfaces: neither is provided (`STATUS_NOT_SUPPORTED`).

use std::ffi::c_void;
use std::sync::Arc;

use windows_sys::Win32::Networking::WinSock as ws;
use wsk_bindings::{self as sys, NtStatus};

use wskrs_provider_model::secure;

use crate::addr::Addr;
use crate::options::{Outcome, Request};
use crate::socket::{Category, Socket};

/// Standard Winsock ioctls passed through to `WSAIoctl` (synchronously): those that only
/// read the socket's state or set a per-socket TCP parameter. `FIONBIO` and the ioctls that
/// complete asynchronously (notifications, routing changes) are not passed.
fn pass_through(code: u32) -> bool {
    #[allow(clippy::cast_sign_loss)]
    let (fionread, siocatmark) = (ws::FIONREAD as u32, ws::SIOCATMARK as u32);
    code == fionread || code == siocatmark || code == ws::SIO_KEEPALIVE_VALS
}

/// `WskIoctl`. The IRP rules are each control's (see the module documentation).
///
/// # Safety
/// `req`'s input buffer is readable for `input_size` bytes and its output buffer writable
/// for `output_size` bytes (WSK contract).
pub(crate) unsafe fn ioctl(s: &Arc<Socket>, req: &Request) -> Outcome {
    if req.level != 0 {
        return (NtStatus::INVALID_PARAMETER, 0);
    }
    match req.code {
        sys::SIO_WSK_QUERY_RECEIVE_BACKLOG | sys::SIO_WSK_QUERY_IDEAL_SEND_BACKLOG => {
            if s.category() != Category::Connection {
                return (NtStatus::INVALID_DEVICE_REQUEST, 0);
            }
            if !req.has_irp {
                return (NtStatus::INVALID_PARAMETER, 0);
            }
            if req.output.is_null() || req.output_size < size_of::<sys::SIZE_T>() {
                return (NtStatus::BUFFER_TOO_SMALL, 0);
            }
            let (_, connected) = s.bound_connected();
            if !connected {
                return (NtStatus::INVALID_DEVICE_STATE, 0);
            }
            let value = if req.code == sys::SIO_WSK_QUERY_RECEIVE_BACKLOG {
                match receive_backlog(s) {
                    Ok(n) => n,
                    Err(e) => return (e, 0),
                }
            } else {
                crate::events::ideal_send_backlog(s)
            };
            // SAFETY: room for a SIZE_T (checked above).
            unsafe {
                req.output
                    .cast::<sys::SIZE_T>()
                    .write_unaligned(value as sys::SIZE_T);
            };
            (NtStatus::SUCCESS, size_of::<sys::SIZE_T>())
        }
        sys::SIO_WSK_SET_REMOTE_ADDRESS | sys::SIO_WSK_SET_SENDTO_ADDRESS => {
            if s.category() != Category::Datagram {
                return (NtStatus::INVALID_DEVICE_REQUEST, 0);
            }
            if !req.has_irp {
                return (NtStatus::INVALID_PARAMETER, 0);
            }
            let to = if req.input.is_null() && req.input_size == 0 {
                None
            } else {
                // SAFETY: WSK contract: a readable address; its family's size is checked
                // against `input_size` first.
                match unsafe { read_address(req.input, req.input_size) } {
                    Some(a) => Some(a),
                    None => return (NtStatus::INVALID_PARAMETER, 0),
                }
            };
            let connect = req.code == sys::SIO_WSK_SET_REMOTE_ADDRESS;
            (
                s.set_fixed_destination(to, connect)
                    .err()
                    .unwrap_or(NtStatus::SUCCESS),
                0,
            )
        }
        code if secure::is_secure_socket_code(code) => {
            // SAFETY: forwarded contract.
            unsafe { secure_socket(s, req) }
        }
        code if pass_through(code) => {
            // SAFETY: forwarded contract.
            unsafe { winsock_ioctl(s, req) }
        }
        // SIO_WSK_QUERY_INSPECT_ID (no conditional accept), SIO_WSK_REGISTER_EXTENSION (no
        // extension interfaces), anything else.
        _ => (NtStatus::NOT_SUPPORTED, 0),
    }
}

/// A secure socket extension, answered by the model; accepted settings also take the
/// address exclusively, through the same path as the client's `SO_EXCLUSIVEADDRUSE`.
///
/// # Safety
/// As [`ioctl`].
unsafe fn secure_socket(s: &Arc<Socket>, req: &Request) -> Outcome {
    let input = (!req.input.is_null()).then(|| {
        // SAFETY: the client's input is readable for `input_size` bytes (caller's contract).
        unsafe { std::slice::from_raw_parts(req.input.cast::<u8>(), req.input_size) }
    });
    let output = (!req.output.is_null()).then(|| {
        // SAFETY: the client's output is writable for `output_size` bytes (caller's contract).
        unsafe { std::slice::from_raw_parts_mut(req.output.cast::<u8>(), req.output_size) }
    });
    let (bound, connected) = s.bound_connected();
    let phase = secure::Phase {
        kind: match s.category() {
            Category::Connection | Category::Stream => secure::Kind::Connection,
            Category::Listen => secure::Kind::Listen,
            Category::Datagram => secure::Kind::Datagram,
            Category::Basic => secure::Kind::Basic,
        },
        family: s.family,
        bound,
        connected: connected && s.category() != Category::Datagram,
    };
    let answer = match s.secure.lock() {
        Ok(mut state) => state.ioctl(phase, req.code, input, output),
        Err(_) => return (NtStatus::INTERNAL_ERROR, 0),
    };
    if answer.status == NtStatus::SUCCESS && answer.exclusive_address {
        let mut on = 1u32;
        let exclusive = Request {
            code: sys::SO_EXCLUSIVEADDRUSE,
            level: sys::SOL_SOCKET,
            input: (&raw mut on).cast(),
            input_size: size_of::<u32>(),
            output: std::ptr::null_mut(),
            output_size: 0,
            has_irp: false,
        };
        // SAFETY: `exclusive` points at `on`, readable for its size.
        let (status, _) = unsafe { crate::options::set(s, &exclusive) };
        if status != NtStatus::SUCCESS {
            return (status, 0);
        }
    }
    (answer.status, answer.returned)
}

/// Bytes received and not yet taken: what the provider buffered for event clients plus
/// what Winsock holds (`FIONREAD`).
fn receive_backlog(s: &Socket) -> Result<usize, NtStatus> {
    let h = s.option_handle()?;
    let mut pending: u32 = 0;
    // SAFETY: `pending` is the u_long FIONREAD writes.
    if unsafe { ws::ioctlsocket(h, ws::FIONREAD, &raw mut pending) } != 0 {
        return Err(crate::status::last_wsa());
    }
    let buffered = crate::events::buffered_len(s);
    Ok(buffered.saturating_add(usize::try_from(pending).unwrap_or(0)))
}

/// A `SOCKADDR` of `size` bytes at `p`, if `size` covers its family's full size.
///
/// # Safety
/// `p` is readable for `size` bytes.
unsafe fn read_address(p: *const c_void, size: usize) -> Option<Addr> {
    if p.is_null() || size < 2 {
        return None;
    }
    // SAFETY: at least two readable bytes (the family).
    let family = unsafe { p.cast::<u16>().read_unaligned() };
    let need = crate::addr::len_of_family(family)?;
    if size < need {
        return None;
    }
    // SAFETY: `need` readable bytes, the family's size.
    unsafe { Addr::read(p.cast()) }
}

/// `WSAIoctl` without overlapped I/O.
///
/// # Safety
/// As [`ioctl`].
unsafe fn winsock_ioctl(s: &Socket, req: &Request) -> Outcome {
    let h = match s.option_handle() {
        Ok(h) => h,
        Err(e) => return (e, 0),
    };
    let (Ok(in_len), Ok(out_len)) = (
        u32::try_from(req.input_size),
        u32::try_from(req.output_size),
    ) else {
        return (NtStatus::INVALID_PARAMETER, 0);
    };
    let mut returned = 0u32;
    // SAFETY: the buffers are the client's, readable / writable for their sizes (caller's
    // contract); no overlapped, so the call completes before returning.
    let r = unsafe {
        ws::WSAIoctl(
            h,
            req.code,
            req.input.cast_const(),
            in_len,
            req.output,
            out_len,
            &raw mut returned,
            std::ptr::null_mut(),
            None,
        )
    };
    if r != 0 {
        return (crate::status::last_wsa(), 0);
    }
    (NtStatus::SUCCESS, usize::try_from(returned).unwrap_or(0))
}
