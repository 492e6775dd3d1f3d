//! Declarations that Wine's headers lack, each checked against Microsoft's documentation or
//! the WDK's public headers (source noted on each item).

#![allow(non_upper_case_globals)]

use crate::{IRP, NTSTATUS};

/// `IPPROTO_TCP` (ws2def.h `IPPROTO` enumeration; IANA protocol number 6).
pub const IPPROTO_TCP: u32 = 6;
/// `IPPROTO_UDP` (ws2def.h `IPPROTO` enumeration; IANA protocol number 17).
pub const IPPROTO_UDP: u32 = 17;

// `IoCompleteRequest` is a macro over `IofCompleteRequest` in the WDK's wdm.h, and x64
// ntoskrnl exports `IofCompleteRequest`; Wine's wdm.h declares only `IoCompleteRequest`.
#[cfg_attr(windows, link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim"))]
extern "system" {
    /// Completes an IRP (`IofCompleteRequest`, wdm.h). IRQL <= DISPATCH_LEVEL.
    pub fn IofCompleteRequest(irp: *mut IRP, priority_boost: i8);
}

/// Keeps the signature honest: the completion routine type returns an NTSTATUS.
pub type CompletionStatus = NTSTATUS;

/// `NonPagedPoolNx` (wdm.h `POOL_TYPE`, Windows 8 and later): non-executable nonpaged pool.
pub const NonPagedPoolNx: crate::POOL_TYPE = 512;

// The compiler emits calls to these for copies and fills; on the msvc target the CRT would
// provide them, and in the kernel ntoskrnl.exe exports them (as every Windows version does).
#[cfg_attr(windows, link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim"))]
extern "C" {
    /// `memcpy`, for compiler-generated copies.
    pub fn memcpy(dest: *mut core::ffi::c_void, src: *const core::ffi::c_void, n: usize) -> *mut core::ffi::c_void;
    /// `memmove`, for compiler-generated overlapping copies.
    pub fn memmove(dest: *mut core::ffi::c_void, src: *const core::ffi::c_void, n: usize) -> *mut core::ffi::c_void;
    /// `memset`, for compiler-generated fills.
    pub fn memset(dest: *mut core::ffi::c_void, c: i32, n: usize) -> *mut core::ffi::c_void;
    /// `memcmp`, for compiler-generated comparisons.
    pub fn memcmp(a: *const core::ffi::c_void, b: *const core::ffi::c_void, n: usize) -> i32;
    /// `__chkstk`, the stack probe the compiler calls for frames larger than a page.
    pub fn __chkstk();
}

/// `AF_INET` as the `ADDRESS_FAMILY` (u16) WSK functions take.
pub const AF_INET_FAMILY: u16 = 2;
/// `AF_INET6` as the `ADDRESS_FAMILY` (u16) WSK functions take.
pub const AF_INET6_FAMILY: u16 = 23;
/// `SOCK_STREAM` as the USHORT `WskSocket` takes.
pub const SOCK_STREAM_TYPE: u16 = 1;
/// `SOCK_DGRAM` as the USHORT `WskSocket` takes.
pub const SOCK_DGRAM_TYPE: u16 = 2;
/// `KernelMode` as the `KPROCESSOR_MODE` (CCHAR) wait functions take.
pub const KERNEL_MODE: i8 = 0;

const _: () = {
    assert!(AF_INET_FAMILY as u32 == crate::AF_INET);
    assert!(AF_INET6_FAMILY as u32 == crate::AF_INET6);
    assert!(SOCK_STREAM_TYPE as u32 == crate::SOCK_STREAM);
    assert!(SOCK_DGRAM_TYPE as u32 == crate::SOCK_DGRAM);
    assert!(KERNEL_MODE as u32 == crate::KernelMode);
};
