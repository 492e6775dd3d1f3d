//! Name resolution: `WskGetAddressInfo`, `WskFreeAddressInfo`, `WskGetNameInfo`, run on a
//! short-lived thread each (Winsock's resolver blocks). Not cancellable.

use windows_sys::Win32::Networking::WinSock as ws;
use wsk_bindings::{self as sys, NtStatus};
use wskrs_provider_model::dispatch;

use crate::irp::PendingIrp;

/// A copy of a `UNICODE_STRING`'s text with a terminating NUL (the WSK strings are counted,
/// not terminated). `None` for a null string.
///
/// # Safety
/// `s` is null or a valid `UNICODE_STRING`.
unsafe fn terminated(s: *const sys::UNICODE_STRING) -> Option<Vec<u16>> {
    if s.is_null() {
        return None;
    }
    // SAFETY: caller's contract.
    let s = unsafe { &*s };
    let chars = usize::from(s.Length) / 2;
    let mut v = Vec::with_capacity(chars + 1);
    if !s.Buffer.is_null() {
        // SAFETY: Buffer holds Length bytes.
        v.extend_from_slice(unsafe { std::slice::from_raw_parts(s.Buffer, chars) });
    }
    v.push(0);
    Some(v)
}

/// Pointers moved to the resolver thread.
struct Job<T>(T);
// SAFETY: the client keeps these pointers valid until its IRP completes (WSK contract); only
// the resolver thread uses them.
unsafe impl<T> Send for Job<T> {}

/// Runs `work` on a new thread and completes `irp` with its status.
fn spawn(irp: PendingIrp, work: impl FnOnce() -> NtStatus + Send + 'static) -> NtStatus {
    let slot = std::sync::Arc::new(std::sync::Mutex::new(Some(irp)));
    let theirs = std::sync::Arc::clone(&slot);
    let spawned = std::thread::Builder::new()
        .name("wsk-provider-resolve".into())
        .spawn(move || {
            let status = work();
            let irp = theirs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            if let Some(irp) = irp {
                irp.complete(status, 0);
            }
        });
    if spawned.is_err() {
        let irp = slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(irp) = irp {
            irp.complete(NtStatus::INSUFFICIENT_RESOURCES, 0);
        }
    }
    NtStatus::PENDING
}

/// `WskGetAddressInfo` ([`dispatch::Provider`]).
///
/// # Safety
/// The WSK contract of `WskGetAddressInfo` for `call`'s parameters.
pub(crate) unsafe fn wsk_get_address_info(call: dispatch::GetAddressInfo) -> sys::NTSTATUS {
    let dispatch::GetAddressInfo {
        client,
        node,
        service,
        name_space,
        provider,
        hints,
        result,
        irp,
        ..
    } = call;
    // SAFETY: WSK contract: the client's IRP (or null, which Windows rejects).
    let Some(irp) = (unsafe { PendingIrp::take(irp, "WskGetAddressInfo", std::ptr::null()) })
    else {
        return NtStatus::INVALID_PARAMETER.0;
    };
    if client.is_null() || result.is_null() {
        return crate::socket::fail(irp, NtStatus::INVALID_PARAMETER).0;
    }
    // SAFETY: WSK contract: a valid counted string or null.
    let node = unsafe { terminated(node) };
    // SAFETY: as above.
    let service = unsafe { terminated(service) };
    let job = Job((provider, hints, result));
    spawn(irp, move || {
        let job = job;
        let (provider, hints, result) = job.0;
        if let Some(hold) = crate::fault::hold_resolve() {
            std::thread::sleep(hold);
        }
        let name = node.as_ref().map_or(std::ptr::null(), Vec::as_ptr);
        let serv = service.as_ref().map_or(std::ptr::null(), Vec::as_ptr);
        // SAFETY: NUL-terminated strings; the client's hints/result pointers are valid until
        // the IRP completes; the bindings' ADDRINFOEXW and windows-sys' are the same C type.
        let r = unsafe {
            ws::GetAddrInfoExW(
                name,
                serv,
                name_space,
                provider.cast_const().cast(),
                hints.cast_const().cast(),
                result.cast(),
                std::ptr::null(),
                std::ptr::null(),
                None,
                std::ptr::null_mut(),
            )
        };
        crate::status::from_wsa(r)
    })
    .0
}

pub(crate) unsafe extern "C" fn wsk_free_address_info(
    _client: *mut sys::WSK_CLIENT,
    info: *mut sys::ADDRINFOEXW,
) {
    if !info.is_null() {
        // SAFETY: a list GetAddrInfoExW returned through WskGetAddressInfo.
        unsafe { ws::FreeAddrInfoExW(info.cast_const().cast()) };
    }
}

/// `WskGetNameInfo` ([`dispatch::Provider`]).
///
/// # Safety
/// The WSK contract of `WskGetNameInfo` for `call`'s parameters.
pub(crate) unsafe fn wsk_get_name_info(call: dispatch::GetNameInfo) -> sys::NTSTATUS {
    let dispatch::GetNameInfo {
        client,
        address,
        length,
        node,
        service,
        flags,
        irp,
        ..
    } = call;
    // SAFETY: as in wsk_get_address_info.
    let Some(irp) = (unsafe { PendingIrp::take(irp, "WskGetNameInfo", std::ptr::null()) }) else {
        return NtStatus::INVALID_PARAMETER.0;
    };
    if client.is_null() || address.is_null() || (node.is_null() && service.is_null()) {
        return crate::socket::fail(irp, NtStatus::INVALID_PARAMETER).0;
    }
    let (Ok(length), Ok(flags)) = (i32::try_from(length), i32::try_from(flags)) else {
        return crate::socket::fail(irp, NtStatus::INVALID_PARAMETER).0;
    };
    let job = Job((address, node, service));
    spawn(irp, move || {
        let job = job;
        let (address, node, service) = job.0;
        let (node_buf, node_len) = out_buffer(node);
        let (serv_buf, serv_len) = out_buffer(service);
        // SAFETY: the client's address and string buffers are valid until the IRP completes;
        // lengths are the buffers' capacities in characters.
        let r = unsafe {
            ws::GetNameInfoW(
                address.cast_const().cast(),
                length,
                node_buf,
                node_len,
                serv_buf,
                serv_len,
                flags,
            )
        };
        if r != 0 {
            return crate::status::from_wsa(r);
        }
        set_length(node);
        set_length(service);
        NtStatus::SUCCESS
    })
    .0
}

/// The buffer and capacity (characters) of an output `UNICODE_STRING`.
fn out_buffer(s: *mut sys::UNICODE_STRING) -> (*mut u16, u32) {
    if s.is_null() {
        return (std::ptr::null_mut(), 0);
    }
    // SAFETY: a valid UNICODE_STRING (WSK contract), read only.
    let s = unsafe { &*s };
    (s.Buffer, u32::from(s.MaximumLength) / 2)
}

/// Sets `Length` to the NUL-terminated text GetNameInfoW wrote.
fn set_length(s: *mut sys::UNICODE_STRING) {
    let (buf, cap) = out_buffer(s);
    if buf.is_null() {
        return;
    }
    // SAFETY: GetNameInfoW wrote a NUL-terminated string within the `cap` characters.
    let text = unsafe { std::slice::from_raw_parts(buf, cap as usize) };
    let n = text.iter().position(|c| *c == 0).unwrap_or(text.len());
    // SAFETY: as above; `n * 2` fits because n < cap <= u16::MAX / 2.
    unsafe { (*s).Length = u16::try_from(n * 2).unwrap_or(0) };
}
