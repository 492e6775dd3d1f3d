//! The NT items a minimal driver needs besides sockets, where a driver author finds them:
//! the entry point's and unload routine's types, device creation and deletion, counted
//! strings, the bug check, the debugger print. They are the `wsk-bindings` items themselves
//! (one definition each), re-exported; the safe forms are in [`crate::driver`]
//! (control device, dispatch table, panic handler) and [`mod@crate::log`] (`DbgPrintEx`).
//!
//! ```
//! use wsk::nt::{DRIVER_OBJECT, NTSTATUS, UNICODE_STRING};
//!
//! /// The signature the I/O manager calls (`DRIVER_INITIALIZE`).
//! type DriverEntry = unsafe extern "system" fn(*mut DRIVER_OBJECT, *mut UNICODE_STRING) -> NTSTATUS;
//! /// What `DRIVER_OBJECT::DriverUnload` holds: `extern "C"`, as the generated type says.
//! type Unload = unsafe extern "C" fn(*mut DRIVER_OBJECT);
//! let _: Option<Unload> = DRIVER_OBJECT::default().DriverUnload;
//!
//! static NAME: &[u16] = wsk::utf16!("\\Device\\MyDriver");
//! let name = wsk::nt::unicode_string(NAME);
//! assert_eq!(name.Length, 32);
//! ```

pub use wsk_bindings::{
    DbgPrintEx, IoCreateDevice, IoCreateSymbolicLink, IoDeleteDevice, IoDeleteSymbolicLink,
    KeBugCheckEx, DEVICE_OBJECT, DPFLTR_ERROR_LEVEL, DPFLTR_IHVDRIVER_ID, DPFLTR_INFO_LEVEL,
    DPFLTR_TRACE_LEVEL, DPFLTR_WARNING_LEVEL, DRIVER_OBJECT, FILE_DEVICE_SECURE_OPEN,
    FILE_DEVICE_UNKNOWN, IRP, NTSTATUS, PDRIVER_UNLOAD, UNICODE_STRING,
};

/// A `UNICODE_STRING` over static UTF-16 (e.g. from [`crate::utf16!`]); not NUL-terminated,
/// which `UNICODE_STRING` allows. A string longer than a `UNICODE_STRING` can count
/// (32,767 characters) is cut at that limit. IRQL: any.
#[must_use]
pub const fn unicode_string(s: &'static [u16]) -> UNICODE_STRING {
    const MAX_BYTES: usize = 0xFFFE;
    let bytes = s.len().saturating_mul(2);
    let bytes = if bytes > MAX_BYTES { MAX_BYTES } else { bytes };
    // Fits: at most 0xFFFE.
    #[allow(clippy::cast_possible_truncation)]
    let bytes = bytes as u16;
    UNICODE_STRING {
        Length: bytes,
        MaximumLength: bytes,
        Buffer: s.as_ptr().cast_mut(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_bytes_without_a_nul() {
        static NAME: &[u16] = crate::utf16!("\\DosDevices\\X");
        let s = unicode_string(NAME);
        assert_eq!(s.Length, 26);
        assert_eq!(s.MaximumLength, 26);
        assert_eq!(s.Buffer.cast_const(), NAME.as_ptr());
    }

    #[test]
    fn a_string_too_long_is_cut_at_the_limit() {
        static LONG: [u16; 40_000] = [u16::from_le_bytes(*b"a\0"); 40_000];
        assert_eq!(unicode_string(&LONG).Length, 0xFFFE);
    }
}
