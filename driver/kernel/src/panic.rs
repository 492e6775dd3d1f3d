//! The bug check a panic ends in.
//!
//! The code and parameters are `wdk-panic`'s (windows-drivers-rs), so the KMDF shell (which
//! uses `wdk-panic`) and the drivers using this crate bug check the same way:
//! `KeBugCheckEx(0x52504E43 "RPNC", file name pointer, file name length in bytes, line,
//! column)`. The file name is the `&'static str` in the driver image (not NUL-terminated): a
//! debugger reads it with `da <p1> L<p2>`. Without a location the four parameters are 0.

use core::panic::PanicInfo;

use wsk_bindings as sys;

/// `wdk-panic`'s bug check code: "RPNC" as a big-endian `u32` (0x52504E43).
///
/// A driver-defined code: [`KeBugCheckEx`]'s documentation tells drivers to use their own
/// codes rather than Microsoft's (0xE2, MANUALLY_INITIATED_CRASH, which the drivers used before,
/// means a user asked for the crash).
///
/// [`KeBugCheckEx`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-kebugcheckex
pub const RUST_PANIC_BUGCHECK_CODE: u32 = u32::from_be_bytes(*b"RPNC");

/// The arguments of the bug check a panic ends in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BugCheck {
    /// [`RUST_PANIC_BUGCHECK_CODE`].
    pub code: u32,
    /// Address of the panicking source file's name (0 without a location).
    pub file_name: usize,
    /// Length in bytes of that name.
    pub file_name_len: usize,
    /// Line of the panic.
    pub line: usize,
    /// Column of the panic.
    pub column: usize,
}

impl BugCheck {
    /// The bug check for a panic at `location` (none: parameters 0). IRQL: any.
    #[must_use]
    pub fn for_location(location: Option<&core::panic::Location<'_>>) -> Self {
        let (file_name, file_name_len, line, column) = location.map_or((0, 0, 0, 0), |at| {
            (
                at.file().as_ptr() as usize,
                at.file().len(),
                // u32 to usize: lossless on the 64-bit targets this crate builds for.
                at.line() as usize,
                at.column() as usize,
            )
        });
        Self {
            code: RUST_PANIC_BUGCHECK_CODE,
            file_name,
            file_name_len,
            line,
            column,
        }
    }
}

/// Bug checks the system for `info` ([`KeBugCheckEx`], see [`BugCheck`]); never returns.
/// Each driver's `#[panic_handler]` is one call of this. IRQL: any.
///
/// [`KeBugCheckEx`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-kebugcheckex
#[cold]
pub fn bug_check_on_panic(info: &PanicInfo<'_>) -> ! {
    let check = BugCheck::for_location(info.location());
    // SAFETY: KeBugCheckEx takes plain numbers and never returns; callable at any IRQL.
    unsafe {
        sys::KeBugCheckEx(
            check.code,
            check.file_name as sys::ULONG_PTR,
            check.file_name_len as sys::ULONG_PTR,
            check.line as sys::ULONG_PTR,
            check.column as sys::ULONG_PTR,
        )
    }
}

/// The items a kernel driver image defines once, at its crate root: the `#[panic_handler]`
/// ([`bug_check_on_panic`]; left out of the crate's own test builds, which have std's) and
/// `_fltused`, the symbol the MSVC linker expects when floating point is used anywhere.
#[macro_export]
macro_rules! driver_image_items {
    () => {
        /// A panic in the kernel is a bug check (the code is written not to panic), with the
        /// location.
        #[cfg(not(test))]
        #[panic_handler]
        fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
            $crate::bug_check_on_panic(info)
        }

        /// The MSVC linker expects this symbol when floating point is used anywhere.
        #[no_mangle]
        #[used]
        static _fltused: i32 = 0;
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_is_wdk_panics() {
        assert_eq!(RUST_PANIC_BUGCHECK_CODE, 0x5250_4E43);
    }

    #[test]
    fn location_is_packed_as_pointer_length_line_column() {
        let at = core::panic::Location::caller();
        let check = BugCheck::for_location(Some(at));
        assert_eq!(check.code, RUST_PANIC_BUGCHECK_CODE);
        assert_eq!(check.file_name, at.file().as_ptr() as usize);
        assert_eq!(check.file_name_len, at.file().len());
        assert!(at.file().ends_with("panic.rs"));
        assert_eq!(check.line, at.line() as usize);
        assert_eq!(check.column, at.column() as usize);
        assert_ne!(check.line, 0);
        assert_ne!(check.column, 0);
    }

    #[test]
    fn no_location_is_all_zero() {
        let check = BugCheck::for_location(None);
        assert_eq!(
            check,
            BugCheck {
                code: RUST_PANIC_BUGCHECK_CODE,
                file_name: 0,
                file_name_len: 0,
                line: 0,
                column: 0
            }
        );
    }
}
