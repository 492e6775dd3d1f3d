//! `WskControlClient`: `WSK_CACHE_SD` and `WSK_RELEASE_SD`.

use std::ffi::c_void;

use wsk_bindings::{self as sys, NtStatus};
use wskrs_provider_model::dispatch;

use crate::irp::PendingIrp;
use crate::options::read_sd_pointer;
use crate::security::{self, CachedSd};

/// `WskControlClient`. The documented client controls take no IRP; if a client passes one
/// anyway it is completed with the same status.
///
/// # Safety
/// The WSK contract of `WskControlClient` for `call`'s parameters.
pub(crate) unsafe fn wsk_control_client(call: dispatch::ControlClient) -> sys::NTSTATUS {
    let (client, code, returned, irp) = (call.client, call.code, call.returned, call.irp);
    let (input, input_size) = (call.input, call.input_len());
    let (output, output_size) = (call.output, call.output_len());
    // SAFETY: WSK contract: the client's IRP (or null).
    let irp = unsafe { PendingIrp::take(irp, "WskControlClient", std::ptr::null()) };
    let (status, bytes) = if client.is_null() {
        (NtStatus::INVALID_HANDLE, 0)
    } else {
        match code {
            sys::WSK_CACHE_SD => {
                // SAFETY: WSK contract: a PSECURITY_DESCRIPTOR variable of `input_size` bytes.
                match unsafe { read_sd_pointer(input, input_size) } {
                    Some(sd) if !output.is_null() && output_size >= size_of::<*mut c_void>() => {
                        // SAFETY: `sd` is the client's security descriptor.
                        match unsafe { CachedSd::cache(sd) } {
                            Ok(cached) => {
                                // SAFETY: room for a pointer (checked above).
                                unsafe {
                                    output
                                        .cast::<*mut c_void>()
                                        .write_unaligned(cached.into_client());
                                };
                                (NtStatus::SUCCESS, size_of::<*mut c_void>())
                            }
                            Err(e) => (e, 0),
                        }
                    }
                    _ => (NtStatus::INVALID_PARAMETER, 0),
                }
            }
            sys::WSK_RELEASE_SD => {
                // SAFETY: as above.
                match unsafe { read_sd_pointer(input, input_size) } {
                    Some(sd) => (
                        security::release_client(sd)
                            .err()
                            .unwrap_or(NtStatus::SUCCESS),
                        0,
                    ),
                    None => (NtStatus::INVALID_PARAMETER, 0),
                }
            }
            sys::WSK_SET_STATIC_EVENT_CALLBACKS => {
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
            // Transport lists, TDI mappings: not provided.
            _ => (NtStatus::NOT_SUPPORTED, 0),
        }
    };
    crate::trace::line(format_args!("WskControlClient code {code} -> {status:?}"));
    if !returned.is_null() {
        // SAFETY: WSK contract: writable when not null.
        unsafe { returned.write_unaligned(bytes as sys::SIZE_T) };
    }
    match irp {
        Some(irp) => irp.complete_inline(status, bytes).0,
        None => status.0,
    }
}
