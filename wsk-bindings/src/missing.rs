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

// wsk.h constants that Wine 8.0's ddk/wsk.h lacks (values from the WDK's wsk.h).

/// `WSK_FLAG_ABORTIVE`: abortive `WskDisconnect` (RST instead of FIN).
pub const WSK_FLAG_ABORTIVE: u32 = 0x0000_0001;
/// `WSK_FLAG_NODELAY`: `WskSend` flag, send at once (no Nagle delay).
pub const WSK_FLAG_NODELAY: u32 = 0x0000_0002;
/// `WSK_FLAG_WAITALL`: `WskReceive` flag, complete only when the buffer is full.
pub const WSK_FLAG_WAITALL: u32 = 0x0000_0002;
/// `WSK_FLAG_DRAIN`: `WskReceive` flag, discard received data.
pub const WSK_FLAG_DRAIN: u32 = 0x0000_0004;
/// `WSK_FLAG_AT_DISPATCH_LEVEL`: event callback runs at DISPATCH_LEVEL.
pub const WSK_FLAG_AT_DISPATCH_LEVEL: u32 = 0x0000_0008;
/// `WSK_FLAG_RELEASE_ASAP`: event callback asks for retained data to be released soon.
pub const WSK_FLAG_RELEASE_ASAP: u32 = 0x0000_0002;
/// `WSK_FLAG_ENTIRE_MESSAGE`: receive event carries a whole message.
pub const WSK_FLAG_ENTIRE_MESSAGE: u32 = 0x0000_0004;

/// `WskControlClient` code: query the transport list.
pub const WSK_TRANSPORT_LIST_QUERY: u32 = 2;
/// `WskControlClient` code: wait for a transport list change.
pub const WSK_TRANSPORT_LIST_CHANGE: u32 = 3;
/// `WskControlClient` code: cache a security descriptor.
pub const WSK_CACHE_SD: u32 = 4;
/// `WskControlClient` code: release a cached security descriptor.
pub const WSK_RELEASE_SD: u32 = 5;
/// `WskControlClient` code: TDI device name mapping.
pub const WSK_TDI_DEVICENAME_MAPPING: u32 = 6;
/// `WskControlClient` code: set event callbacks for every socket of the client.
pub const WSK_SET_STATIC_EVENT_CALLBACKS: u32 = 7;
/// `WskControlClient` code: TDI behaviour.
pub const WSK_TDI_BEHAVIOR: u32 = 8;

/// `WSK_SO_BASE` (ws2def.h): base of WSK-specific socket options.
pub const WSK_SO_BASE: u32 = 0x4000;
/// `SO_WSK_SECURITY`: a socket's security descriptor (a cached one).
pub const SO_WSK_SECURITY: u32 = WSK_SO_BASE + 1;
/// `SO_WSK_EVENT_CALLBACK`: enable or disable event callbacks.
pub const SO_WSK_EVENT_CALLBACK: u32 = WSK_SO_BASE + 2;

/// `WSK_EVENT_RECEIVE_FROM` (datagram sockets).
pub const WSK_EVENT_RECEIVE_FROM: u32 = 0x0000_0100;
/// `WSK_EVENT_ACCEPT` (listen sockets).
pub const WSK_EVENT_ACCEPT: u32 = 0x0000_0200;
/// `WSK_EVENT_SEND_BACKLOG` (connection sockets).
pub const WSK_EVENT_SEND_BACKLOG: u32 = 0x0000_0010;
/// `WSK_EVENT_RECEIVE` (connection sockets).
pub const WSK_EVENT_RECEIVE: u32 = 0x0000_0040;
/// `WSK_EVENT_DISCONNECT` (connection sockets).
pub const WSK_EVENT_DISCONNECT: u32 = 0x0000_0080;
/// `WSK_EVENT_DISABLE`: or-ed into an event to disable it.
pub const WSK_EVENT_DISABLE: u32 = 0x8000_0000;

/// `IPPROTO_IPV6` (ws2def.h `IPPROTO`): option level for IPv6 options; protocol number 41.
pub const IPPROTO_IPV6: u32 = 41;
// Socket option names and levels (ws2def.h / winsock2.h / ws2ipdef.h); Wine's headers define
// them only for user mode, so bindgen does not see them through wsk.h.

/// `SOL_SOCKET`: socket-level options.
pub const SOL_SOCKET: u32 = 0xffff;
/// `SO_REUSEADDR`.
pub const SO_REUSEADDR: u32 = 0x0004;
/// `SO_KEEPALIVE`.
pub const SO_KEEPALIVE: u32 = 0x0008;
/// `SO_SNDBUF`.
pub const SO_SNDBUF: u32 = 0x1001;
/// `SO_RCVBUF`.
pub const SO_RCVBUF: u32 = 0x1002;
/// `SO_EXCLUSIVEADDRUSE`: `~SO_REUSEADDR`.
pub const SO_EXCLUSIVEADDRUSE: u32 = !SO_REUSEADDR;
/// `TCP_NODELAY` (level `IPPROTO_TCP`).
pub const TCP_NODELAY: u32 = 0x0001;
/// `IPV6_V6ONLY` (level `IPPROTO_IPV6`).
pub const IPV6_V6ONLY: u32 = 27;
