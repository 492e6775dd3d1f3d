//! `WskControlClient`: `WSK_CACHE_SD` and `WSK_RELEASE_SD` (as the host fake answers them,
//! `wskrs_provider_model::security`) and `WSK_SET_STATIC_EVENT_CALLBACKS`.

use wsk_bindings::{self as sys, NtStatus};
use wskrs_provider_model::dispatch;
use wskrs_provider_model::security::{self, ClientControl};

use crate::irp::PendingIrp;
use crate::security::{self_relative_copy, CACHE};

/// `WskControlClient`. The documented client controls take no IRP; if a client passes one
/// anyway it is completed with the same status.
///
/// # Safety
/// The WSK contract of `WskControlClient` for `call`'s parameters.
pub(crate) unsafe fn wsk_control_client(call: dispatch::ControlClient) -> sys::NTSTATUS {
    let (client, code, returned, irp) = (call.client, call.code, call.returned, call.irp);
    let (input, input_size) = (call.input, call.input_len());
    // SAFETY: WSK contract: the client's IRP (or null).
    let irp = unsafe { PendingIrp::take(irp, "WskControlClient", std::ptr::null()) };
    let (status, bytes) = if client.is_null() {
        (NtStatus::INVALID_HANDLE, 0)
    } else {
        match ClientControl::of(code) {
            ClientControl::CacheSd => {
                let copy = |sd| {
                    // SAFETY: WSK contract: `sd` is the client's security descriptor.
                    unsafe { self_relative_copy(sd) }
                };
                // SAFETY: WSK contract: PSECURITY_DESCRIPTOR variables of their sizes.
                unsafe { security::cache_sd(&call, &CACHE, copy) }
            }
            // SAFETY: as above.
            ClientControl::ReleaseSd => (unsafe { security::release_sd(&call, &CACHE) }, 0),
            ClientControl::SetStaticEventCallbacks => {
                // SAFETY: WSK contract: the client from the captured NPI.
                match unsafe { crate::client::Client::borrow(client) } {
                    // SAFETY: WSK contract: a WSK_EVENT_CALLBACK_CONTROL of `input_size` bytes.
                    Some(c) => (
                        unsafe { crate::events::set_static(&c, input, input_size, irp.is_some()) },
                        0,
                    ),
                    None => (NtStatus::INVALID_HANDLE, 0),
                }
            }
            ClientControl::Unsupported => (NtStatus::NOT_SUPPORTED, 0),
        }
    };
    crate::trace::trace_line!("WskControlClient code {code} -> {status:?}");
    if !returned.is_null() {
        // SAFETY: WSK contract: writable when not null.
        unsafe { returned.write_unaligned(bytes as sys::SIZE_T) };
    }
    match irp {
        Some(irp) => irp.complete_inline(status, bytes).0,
        None => status.0,
    }
}
