//! Name resolution: `WskGetAddressInfo`, `WskFreeAddressInfo`, `WskGetNameInfo`, run on a
//! short-lived thread each (Winsock's resolver blocks). `WskGetAddressInfo` can be cancelled
//! (its IRP completes at once; the thread's late result is freed); `WskGetNameInfo` cannot.

use windows_sys::Win32::Networking::WinSock as ws;
use wsk_bindings::{self as sys, NtStatus};
use wskrs_provider_model::dispatch;

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::irp::{Cancel, PendingIrp};

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

/// One `WskGetAddressInfo` on its resolver thread: the IRP until the thread or a cancel
/// completes it, and whether it was cancelled (which ends the thread's hold at once).
struct Resolution {
    irp: Mutex<Option<PendingIrp>>,
    cancelled: Mutex<bool>,
    wake: Condvar,
}

impl Resolution {
    /// A resolution holding `irp`, made cancellable; `None` when the IRP was cancelled
    /// already (it is completed with `STATUS_CANCELLED`).
    fn arm(irp: PendingIrp) -> Option<Arc<Self>> {
        let resolution = Arc::new(Self {
            irp: Mutex::new(Some(irp)),
            cancelled: Mutex::new(false),
            wake: Condvar::new(),
        });
        // Made cancellable with the IRP already in its place, under its lock: a cancel that
        // comes at once waits for the lock and then finds the IRP to complete.
        let mut held = resolution
            .irp
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let cancellable = held
            .as_ref()
            .is_some_and(|irp| crate::irp::set_cancellable(irp, Arc::clone(&resolution)));
        if !cancellable {
            if let Some(irp) = held.take() {
                irp.complete(NtStatus::CANCELLED, 0);
            }
            return None;
        }
        drop(held);
        Some(resolution)
    }

    /// Takes the IRP to complete it; `None` once a cancel completed it.
    fn take_irp(&self) -> Option<PendingIrp> {
        self.irp
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// Waits `hold` (`WSKRS_PROVIDER_HOLD_RESOLVE`) unless cancelled first; whether it was.
    fn hold(&self, hold: Duration) -> bool {
        let cancelled = self
            .cancelled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (cancelled, _) = self
            .wake
            .wait_timeout_while(cancelled, hold, |cancelled| !*cancelled)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *cancelled
    }
}

impl Cancel for Resolution {
    /// Completes the IRP with `STATUS_CANCELLED` now; the thread's resolution, if it still
    /// runs (Winsock's resolver cannot be stopped), is freed when it ends.
    fn cancel(&self) {
        *self
            .cancelled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = true;
        self.wake.notify_all();
        if let Some(irp) = self.take_irp() {
            irp.complete(NtStatus::CANCELLED, 0);
        }
    }
}

/// `WskGetAddressInfo` ([`dispatch::Provider`]). Cancellable: `IoCancelIrp` completes the
/// request at once with `STATUS_CANCELLED` (Windows' provider cancels a resolution; Wine's
/// netio does not); a resolution Winsock is still running is freed when it ends, and never
/// written to the client's memory.
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
    let Some(resolution) = Resolution::arm(irp) else {
        return NtStatus::PENDING.0;
    };
    // The client's hints and provider GUID are copied now: after a cancel the client may
    // free them while Winsock still resolves. Only the hints' flags, family, type and
    // protocol are meaningful (the pointers in them must be null: MSDN, ADDRINFOEXW).
    // SAFETY: WSK contract: null or valid for the call.
    let hints = unsafe { hints.as_ref() }.map(|h| sys::ADDRINFOEXW {
        ai_flags: h.ai_flags,
        ai_family: h.ai_family,
        ai_socktype: h.ai_socktype,
        ai_protocol: h.ai_protocol,
        // SAFETY: ADDRINFOEXW is plain data; all-zero is "nothing" for the rest.
        ..unsafe { std::mem::zeroed() }
    });
    // SAFETY: as above.
    let provider = unsafe { provider.as_ref() }.copied();
    let job = Job((provider, hints, result));
    let theirs = Arc::clone(&resolution);
    let spawned = std::thread::Builder::new()
        .name("wsk-provider-resolve".into())
        .spawn(move || {
            let job = job;
            let (provider, hints, result) = job.0;
            let resolution = theirs;
            if let Some(hold) = crate::fault::hold_resolve() {
                if resolution.hold(hold) {
                    return;
                }
            }
            let name = node.as_ref().map_or(std::ptr::null(), Vec::as_ptr);
            let serv = service.as_ref().map_or(std::ptr::null(), Vec::as_ptr);
            // The list goes to the client only if the request is still ours when it is ready.
            let mut list: *mut ws::ADDRINFOEXW = std::ptr::null_mut();
            let provider = provider
                .as_ref()
                .map_or(std::ptr::null(), std::ptr::from_ref);
            let hints = hints.as_ref().map_or(std::ptr::null(), std::ptr::from_ref);
            // SAFETY: NUL-terminated strings, the hints and GUID copied above, and a list of
            // our own; the bindings' ADDRINFOEXW and GUID and windows-sys' are the same C
            // types.
            let r = unsafe {
                ws::GetAddrInfoExW(
                    name,
                    serv,
                    name_space,
                    provider.cast(),
                    hints.cast(),
                    &raw mut list,
                    std::ptr::null(),
                    std::ptr::null(),
                    None,
                    std::ptr::null_mut(),
                )
            };
            let status = crate::status::from_wsa(r);
            match resolution.take_irp() {
                Some(irp) => {
                    crate::irp::clear_cancellable(&irp);
                    // SAFETY: the IRP is ours, so the client's `result` is still valid.
                    unsafe { *result = list.cast() };
                    irp.complete(status, 0);
                }
                None if !list.is_null() => {
                    // SAFETY: a list GetAddrInfoExW returned, given to nobody.
                    unsafe { ws::FreeAddrInfoExW(list) };
                }
                None => {}
            }
        });
    if spawned.is_err() {
        if let Some(irp) = resolution.take_irp() {
            crate::irp::clear_cancellable(&irp);
            irp.complete(NtStatus::INSUFFICIENT_RESOURCES, 0);
        }
    }
    NtStatus::PENDING.0
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
