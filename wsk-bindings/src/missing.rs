//! Declarations that Wine's headers lack, each checked against Microsoft's documentation or
//! the WDK's public headers (source noted on each item).

#![allow(non_upper_case_globals, non_camel_case_types, non_snake_case)]

use crate::{IRP, NTSTATUS};

/// `IPPROTO_TCP` (ws2def.h `IPPROTO` enumeration; IANA protocol number 6).
pub const IPPROTO_TCP: u32 = 6;
/// `IPPROTO_UDP` (ws2def.h `IPPROTO` enumeration; IANA protocol number 17).
pub const IPPROTO_UDP: u32 = 17;

// `IoCompleteRequest` is a macro over `IofCompleteRequest` in the WDK's wdm.h, and x64
// ntoskrnl exports `IofCompleteRequest`; Wine's wdm.h declares only `IoCompleteRequest`.
#[cfg_attr(
    windows,
    link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")
)]
extern "system" {
    /// Completes an IRP (`IofCompleteRequest`, wdm.h). IRQL <= DISPATCH_LEVEL.
    pub fn IofCompleteRequest(irp: *mut IRP, priority_boost: i8);
}

// `KeQueryInterruptTime` is exported by ntoskrnl (and by Wine's); the WDK also has an inline
// version on x64, and Wine's wdm.h does not declare it.
#[cfg_attr(
    windows,
    link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")
)]
extern "system" {
    /// Interrupt time: 100-ns units since boot, monotonic. IRQL: any.
    pub fn KeQueryInterruptTime() -> u64;
}

// `KeFlushQueuedDpcs` (wdm.h, Windows XP and later; exported by ntoskrnl and by Wine's) is
// missing from Wine's wdm.h.
#[cfg_attr(
    windows,
    link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")
)]
extern "system" {
    /// Returns once every DPC queued on any processor has run. IRQL: PASSIVE_LEVEL.
    pub fn KeFlushQueuedDpcs();
}

// The process a socket is created on behalf of (`WskSocket`'s `OwningProcess`):
// `IoGetCurrentProcess` (wdm.h) and `PsGetProcessId` (ntddk.h), exported by ntoskrnl and by
// Wine's; declared here so that one signature serves both header sets.
#[cfg_attr(
    windows,
    link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")
)]
extern "system" {
    /// The process of the current thread (not referenced). IRQL <= DISPATCH_LEVEL.
    pub fn IoGetCurrentProcess() -> crate::PEPROCESS;
    /// The id of `process`. IRQL: any.
    pub fn PsGetProcessId(process: crate::PEPROCESS) -> *mut core::ffi::c_void;
}

// `DbgPrintEx` (wdm.h: `ULONG __cdecl DbgPrintEx(ULONG ComponentId, ULONG Level, PCSTR
// Format, ...)`) is declared by hand: Wine's winternl.h spells its return type `NTSTATUS`, the
// WDK `ULONG`; one declaration keeps the crates above identical under both header sets.
// Exported by ntoskrnl.exe (and by Wine's, forwarded to ntdll, which prints it on the
// `debugstr` channel at the `warn` level).
#[cfg_attr(
    windows,
    link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")
)]
extern "C" {
    /// Prints a formatted message to the kernel debugger if `ComponentId`'s filter passes
    /// `Level` (wdm.h). IRQL <= DIRQL; `%s` with a nonpaged buffer is safe at any IRQL.
    pub fn DbgPrintEx(component_id: u32, level: u32, format: *const core::ffi::c_char, ...) -> u32;
}

/// `DPFLTR_IHVDRIVER_ID` (dpfilter.h `DPFLTR_TYPE`, value 77): the component ID Microsoft's
/// "Reading and Filtering Debugging Messages" page tells third-party drivers to use.
pub const DPFLTR_IHVDRIVER_ID: u32 = 77;
/// `DPFLTR_ERROR_LEVEL` (wdm.h, winternl.h): always shown by a debugger.
pub const DPFLTR_ERROR_LEVEL: u32 = 0;
/// `DPFLTR_WARNING_LEVEL` (wdm.h, winternl.h).
pub const DPFLTR_WARNING_LEVEL: u32 = 1;
/// `DPFLTR_TRACE_LEVEL` (wdm.h, winternl.h).
pub const DPFLTR_TRACE_LEVEL: u32 = 2;
/// `DPFLTR_INFO_LEVEL` (wdm.h, winternl.h).
pub const DPFLTR_INFO_LEVEL: u32 = 3;

// A device object's security descriptor, set the way `IoCreateDeviceSecure` (wdmsec.lib,
// which the project does not link) does it: a kernel handle to the object
// (`ObOpenObjectByPointer`, ntifs.h), `ZwSetSecurityObject` (ntifs.h; Wine's wdm.h), then
// `ZwClose` (wdm.h); read back with `ZwQuerySecurityObject` (ntifs.h). Declared by hand: the
// header sets disagree on where they live. Wine 8.0 implements all four; its
// `ObSetSecurityObjectByPointer` is a stub.
#[cfg_attr(
    windows,
    link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")
)]
extern "system" {
    /// Opens a handle to a referenced object. IRQL: PASSIVE_LEVEL.
    pub fn ObOpenObjectByPointer(
        object: *mut core::ffi::c_void,
        handle_attributes: u32,
        access_state: *mut core::ffi::c_void,
        desired_access: u32,
        object_type: *mut core::ffi::c_void,
        access_mode: i8,
        handle: *mut *mut core::ffi::c_void,
    ) -> NTSTATUS;
    /// Sets parts of an object's security descriptor. IRQL: PASSIVE_LEVEL.
    pub fn ZwSetSecurityObject(
        handle: *mut core::ffi::c_void,
        security_information: u32,
        security_descriptor: *mut core::ffi::c_void,
    ) -> NTSTATUS;
    /// Copies parts of an object's security descriptor, self-relative, into `descriptor`
    /// (`STATUS_BUFFER_TOO_SMALL` and the size needed in `length_needed` if `length` is
    /// short). IRQL: PASSIVE_LEVEL.
    pub fn ZwQuerySecurityObject(
        handle: *mut core::ffi::c_void,
        security_information: u32,
        descriptor: *mut core::ffi::c_void,
        length: u32,
        length_needed: *mut u32,
    ) -> NTSTATUS;
    /// Closes a handle. IRQL: PASSIVE_LEVEL.
    pub fn ZwClose(handle: *mut core::ffi::c_void) -> NTSTATUS;
}

// Who opened a handle: the user of the current process's token, read at IRP_MJ_CREATE (which
// runs in the opener's context on Windows). `ZwOpenProcessTokenEx` and
// `ZwQueryInformationToken` (ntifs.h); Wine 8.0 implements both (forwarded to ntdll), while
// its `PsReferencePrimaryToken` is a stub.
#[cfg_attr(
    windows,
    link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")
)]
extern "system" {
    /// Opens a process's primary token. IRQL: PASSIVE_LEVEL.
    pub fn ZwOpenProcessTokenEx(
        process: *mut core::ffi::c_void,
        desired_access: u32,
        handle_attributes: u32,
        token: *mut *mut core::ffi::c_void,
    ) -> NTSTATUS;
    /// Reads one class of information from a token. IRQL: PASSIVE_LEVEL.
    pub fn ZwQueryInformationToken(
        token: *mut core::ffi::c_void,
        information_class: u32,
        information: *mut core::ffi::c_void,
        length: u32,
        return_length: *mut u32,
    ) -> NTSTATUS;
}

/// `NtCurrentProcess()` (wdm.h): the pseudo-handle of the current process, `(HANDLE)-1`.
pub const NT_CURRENT_PROCESS: isize = -1;
/// `TOKEN_QUERY` (winnt.h): the access right to query a token.
pub const TOKEN_QUERY: u32 = 0x0008;
/// `TokenUser` (ntifs.h `TOKEN_INFORMATION_CLASS`): a `TOKEN_USER`, whose first field is a
/// `SID_AND_ATTRIBUTES { PSID Sid; ULONG Attributes; }` pointing into the same buffer.
pub const TOKEN_USER_CLASS: u32 = 1;

/// `OBJ_KERNEL_HANDLE` (ntdef.h): a handle in the system process's table, out of reach of
/// user mode.
pub const OBJ_KERNEL_HANDLE: u32 = 0x0000_0200;
/// `OBJ_CASE_INSENSITIVE` (ntdef.h): names compare without case (registry key names).
pub const OBJ_CASE_INSENSITIVE: u32 = 0x0000_0040;
/// `DACL_SECURITY_INFORMATION` (winnt.h): the DACL part of a security descriptor.
pub const DACL_SECURITY_INFORMATION: u32 = 0x0000_0004;

/// Keeps the signature honest: the completion routine type returns an NTSTATUS.
pub type CompletionStatus = NTSTATUS;

/// `NonPagedPoolNx` (wdm.h `POOL_TYPE`, Windows 8 and later): non-executable nonpaged pool.
pub const NonPagedPoolNx: crate::POOL_TYPE = 512;

// The compiler emits calls to these for copies and fills; on the msvc target the CRT would
// provide them, and in the kernel ntoskrnl.exe exports them (as every Windows version does).
#[cfg_attr(
    windows,
    link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")
)]
extern "C" {
    /// `memcpy`, for compiler-generated copies.
    pub fn memcpy(
        dest: *mut core::ffi::c_void,
        src: *const core::ffi::c_void,
        n: usize,
    ) -> *mut core::ffi::c_void;
    /// `memmove`, for compiler-generated overlapping copies.
    pub fn memmove(
        dest: *mut core::ffi::c_void,
        src: *const core::ffi::c_void,
        n: usize,
    ) -> *mut core::ffi::c_void;
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

// `IPPROTO_TCP` options of "IPPROTO_TCP socket options" (learn.microsoft.com/windows/win32/
// winsock/ipproto-tcp-socket-options), values from the SDK's ws2ipdef.h as published in the
// Win32 metadata (windows-sys 0.61, `Win32::Networking::WinSock`; `TCP_MAXRT` also in Wine's
// ws2ipdef.h). Each is a DWORD.

/// `TCP_KEEPALIVE` / `TCP_KEEPIDLE`: seconds idle before keep-alive probes (Windows 10 1709+).
pub const TCP_KEEPIDLE: u32 = 3;
/// `TCP_MAXRT`: connection timeout in seconds; `-1` (0xFFFFFFFF) retransmits forever.
pub const TCP_MAXRT: u32 = 5;
/// `TCP_TIMESTAMPS`: RFC 1323 time stamps (boolean).
pub const TCP_TIMESTAMPS: u32 = 10;
/// `TCP_FASTOPEN`: RFC 7413 TCP Fast Open (boolean; Windows 10 1607+).
pub const TCP_FASTOPEN: u32 = 15;
/// `TCP_KEEPCNT`: keep-alive probes before the connection is dropped, at most 255 (1703+).
pub const TCP_KEEPCNT: u32 = 16;
/// `TCP_KEEPINTVL`: seconds between keep-alive probes (Windows 10 1709+).
pub const TCP_KEEPINTVL: u32 = 17;
/// `TCP_FAIL_CONNECT_ON_ICMP_ERROR`: a connect fails on an ICMP host-unreachable (boolean).
pub const TCP_FAIL_CONNECT_ON_ICMP_ERROR: u32 = 18;
const _: () =
    assert!(TCP_KEEPIDLE == 3 && TCP_MAXRT == 5 && TCP_TIMESTAMPS == 10 && TCP_FASTOPEN == 15);
const _: () =
    assert!(TCP_KEEPCNT == 16 && TCP_KEEPINTVL == 17 && TCP_FAIL_CONNECT_ON_ICMP_ERROR == 18);

// Security descriptors, SIDs, ACLs and ACEs (winnt.h / ntifs.h). Wine's ddk headers reached
// through wsk.h declare only `SECURITY_DESCRIPTOR` and `ACL`. Values and layouts are from
// [MS-DTYP] 2.4 (https://learn.microsoft.com/openspecs/windows_protocols/ms-dtyp/), checked
// against the pages named on each group.

/// `SID_REVISION` ([MS-DTYP] 2.4.2.2: "Revision ... MUST be set to 0x01").
pub const SID_REVISION: u8 = 1;
/// `SID_MAX_SUB_AUTHORITIES` ([MS-DTYP] 2.4.2.2: "The maximum number of elements allowed is 15").
pub const SID_MAX_SUB_AUTHORITIES: u8 = 15;
/// `ACL_REVISION` ([MS-DTYP] 2.4.5: 0x02 for ACLs without object ACEs).
pub const ACL_REVISION: u8 = 2;
/// `SECURITY_DESCRIPTOR_REVISION` ([MS-DTYP] 2.4.6: "This field MUST be set to one").
pub const SECURITY_DESCRIPTOR_REVISION: u8 = 1;

// SECURITY_DESCRIPTOR_CONTROL bits ([MS-DTYP] 2.4.6; ntifs "SECURITY_DESCRIPTOR_CONTROL",
// https://learn.microsoft.com/windows-hardware/drivers/ifs/security-descriptor-control).
/// `SE_OWNER_DEFAULTED`.
pub const SE_OWNER_DEFAULTED: u16 = 0x0001;
/// `SE_GROUP_DEFAULTED`.
pub const SE_GROUP_DEFAULTED: u16 = 0x0002;
/// `SE_DACL_PRESENT`.
pub const SE_DACL_PRESENT: u16 = 0x0004;
/// `SE_DACL_DEFAULTED`.
pub const SE_DACL_DEFAULTED: u16 = 0x0008;
/// `SE_SACL_PRESENT`.
pub const SE_SACL_PRESENT: u16 = 0x0010;
/// `SE_SACL_DEFAULTED`.
pub const SE_SACL_DEFAULTED: u16 = 0x0020;
/// `SE_DACL_AUTO_INHERIT_REQ`.
pub const SE_DACL_AUTO_INHERIT_REQ: u16 = 0x0100;
/// `SE_SACL_AUTO_INHERIT_REQ`.
pub const SE_SACL_AUTO_INHERIT_REQ: u16 = 0x0200;
/// `SE_DACL_AUTO_INHERITED`.
pub const SE_DACL_AUTO_INHERITED: u16 = 0x0400;
/// `SE_SACL_AUTO_INHERITED`.
pub const SE_SACL_AUTO_INHERITED: u16 = 0x0800;
/// `SE_DACL_PROTECTED`.
pub const SE_DACL_PROTECTED: u16 = 0x1000;
/// `SE_SACL_PROTECTED`.
pub const SE_SACL_PROTECTED: u16 = 0x2000;
/// `SE_RM_CONTROL_VALID`.
pub const SE_RM_CONTROL_VALID: u16 = 0x4000;
/// `SE_SELF_RELATIVE`.
pub const SE_SELF_RELATIVE: u16 = 0x8000;

// ACE types and flags ([MS-DTYP] 2.4.4.1 ACE_HEADER,
// https://learn.microsoft.com/openspecs/windows_protocols/ms-dtyp/628ebb1d-c509-4ea0-a10f-77ef97ca4586).
/// `ACCESS_ALLOWED_ACE_TYPE`.
pub const ACCESS_ALLOWED_ACE_TYPE: u8 = 0x00;
/// `ACCESS_DENIED_ACE_TYPE`.
pub const ACCESS_DENIED_ACE_TYPE: u8 = 0x01;
/// `SYSTEM_AUDIT_ACE_TYPE`.
pub const SYSTEM_AUDIT_ACE_TYPE: u8 = 0x02;
/// `OBJECT_INHERIT_ACE`.
pub const OBJECT_INHERIT_ACE: u8 = 0x01;
/// `CONTAINER_INHERIT_ACE`.
pub const CONTAINER_INHERIT_ACE: u8 = 0x02;
/// `NO_PROPAGATE_INHERIT_ACE`.
pub const NO_PROPAGATE_INHERIT_ACE: u8 = 0x04;
/// `INHERIT_ONLY_ACE`.
pub const INHERIT_ONLY_ACE: u8 = 0x08;
/// `INHERITED_ACE`.
pub const INHERITED_ACE: u8 = 0x10;
/// `SUCCESSFUL_ACCESS_ACE_FLAG` (audit ACEs).
pub const SUCCESSFUL_ACCESS_ACE_FLAG: u8 = 0x40;
/// `FAILED_ACCESS_ACE_FLAG` (audit ACEs).
pub const FAILED_ACCESS_ACE_FLAG: u8 = 0x80;

// Access rights ("ACCESS_MASK", https://learn.microsoft.com/windows/win32/secauthz/access-mask;
// [MS-DTYP] 2.4.3).
/// `DELETE` (bit 16).
pub const DELETE: u32 = 0x0001_0000;
/// `READ_CONTROL` (bit 17).
pub const READ_CONTROL: u32 = 0x0002_0000;
/// `WRITE_DAC` (bit 18).
pub const WRITE_DAC: u32 = 0x0004_0000;
/// `WRITE_OWNER` (bit 19).
pub const WRITE_OWNER: u32 = 0x0008_0000;
/// `SYNCHRONIZE` (bit 20).
pub const SYNCHRONIZE: u32 = 0x0010_0000;
/// `STANDARD_RIGHTS_REQUIRED`: DELETE | READ_CONTROL | WRITE_DAC | WRITE_OWNER.
pub const STANDARD_RIGHTS_REQUIRED: u32 = 0x000F_0000;
/// `ACCESS_SYSTEM_SECURITY` (bit 24).
pub const ACCESS_SYSTEM_SECURITY: u32 = 0x0100_0000;
/// `MAXIMUM_ALLOWED` (bit 25).
pub const MAXIMUM_ALLOWED: u32 = 0x0200_0000;
/// `GENERIC_ALL` (bit 28).
pub const GENERIC_ALL: u32 = 0x1000_0000;
/// `GENERIC_EXECUTE` (bit 29).
pub const GENERIC_EXECUTE: u32 = 0x2000_0000;
/// `GENERIC_WRITE` (bit 30).
pub const GENERIC_WRITE: u32 = 0x4000_0000;
/// `GENERIC_READ` (bit 31).
pub const GENERIC_READ: u32 = 0x8000_0000;
/// `FILE_ALL_ACCESS`: STANDARD_RIGHTS_REQUIRED | SYNCHRONIZE | 0x1FF (winnt.h).
pub const FILE_ALL_ACCESS: u32 = 0x001F_01FF;
/// `FILE_GENERIC_READ` (winnt.h; 1179785).
pub const FILE_GENERIC_READ: u32 = 0x0012_0089;
/// `FILE_GENERIC_WRITE` (winnt.h; 1179926).
pub const FILE_GENERIC_WRITE: u32 = 0x0012_0116;
/// `FILE_GENERIC_EXECUTE` (winnt.h; 1179808).
pub const FILE_GENERIC_EXECUTE: u32 = 0x0012_00A0;
/// `KEY_ALL_ACCESS` ("Registry Key Security and Access Rights").
pub const KEY_ALL_ACCESS: u32 = 0x000F_003F;
/// `KEY_READ` ("Registry Key Security and Access Rights").
pub const KEY_READ: u32 = 0x0002_0019;
/// `KEY_WRITE` ("Registry Key Security and Access Rights").
pub const KEY_WRITE: u32 = 0x0002_0006;
/// `KEY_EXECUTE`: equal to KEY_READ ("Registry Key Security and Access Rights").
pub const KEY_EXECUTE: u32 = KEY_READ;

/// `SID_IDENTIFIER_AUTHORITY` (ntifs.h): six bytes, most significant first.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SID_IDENTIFIER_AUTHORITY {
    pub Value: [u8; 6],
}

/// `SID` (ntifs.h "SID structure"); `SubAuthority` is an ANYSIZE_ARRAY of
/// `SubAuthorityCount` little-endian ULONGs.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SID {
    pub Revision: u8,
    pub SubAuthorityCount: u8,
    pub IdentifierAuthority: SID_IDENTIFIER_AUTHORITY,
    pub SubAuthority: [u32; 1],
}

/// `ACE_HEADER` (ntifs.h; [MS-DTYP] 2.4.4.1).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ACE_HEADER {
    pub AceType: u8,
    pub AceFlags: u8,
    pub AceSize: u16,
}

/// `ACCESS_ALLOWED_ACE` (ntifs.h; [MS-DTYP] 2.4.4.2); also the layout of `ACCESS_DENIED_ACE`
/// and `SYSTEM_AUDIT_ACE`. The SID starts at `SidStart`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ACCESS_ALLOWED_ACE {
    pub Header: ACE_HEADER,
    pub Mask: u32,
    pub SidStart: u32,
}

/// `SECURITY_DESCRIPTOR_RELATIVE` (ntifs.h; [MS-DTYP] 2.4.6): the fixed part of a
/// self-relative security descriptor, with offsets from its start (0 = absent).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SECURITY_DESCRIPTOR_RELATIVE {
    pub Revision: u8,
    pub Sbz1: u8,
    pub Control: u16,
    pub Owner: u32,
    pub Group: u32,
    pub Sacl: u32,
    pub Dacl: u32,
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<SID_IDENTIFIER_AUTHORITY>() == 6);
    assert!(size_of::<SID>() == 12);
    assert!(offset_of!(SID, SubAuthority) == 8);
    assert!(size_of::<ACE_HEADER>() == 4);
    assert!(size_of::<ACCESS_ALLOWED_ACE>() == 12);
    assert!(offset_of!(ACCESS_ALLOWED_ACE, SidStart) == 8);
    assert!(size_of::<crate::_ACL>() == 8);
    // 20 bytes (0x14) on x64 as on x86: MS-DTYP 2.5.1.4's example puts the first ACL at 0x14.
    assert!(size_of::<SECURITY_DESCRIPTOR_RELATIVE>() == 20);
    assert!(offset_of!(SECURITY_DESCRIPTOR_RELATIVE, Owner) == 4);
    assert!(offset_of!(SECURITY_DESCRIPTOR_RELATIVE, Group) == 8);
    assert!(offset_of!(SECURITY_DESCRIPTOR_RELATIVE, Sacl) == 12);
    assert!(offset_of!(SECURITY_DESCRIPTOR_RELATIVE, Dacl) == 16);
    assert!(STANDARD_RIGHTS_REQUIRED == DELETE | READ_CONTROL | WRITE_DAC | WRITE_OWNER);
    assert!(FILE_ALL_ACCESS == STANDARD_RIGHTS_REQUIRED | SYNCHRONIZE | 0x1FF);
};

// Event callbacks (wsk.h of the WDK; Wine's ddk/wsk.h lacks these).

/// `NPI_WSK_INTERFACE_ID` {2227E803-8D8B-11D4-ABAD-009027719E09}, the WSK network
/// programming interface id that `WSK_EVENT_CALLBACK_CONTROL` names.
pub static NPI_WSK_INTERFACE_ID: crate::GUID = crate::GUID {
    Data1: 0x2227_E803,
    Data2: 0x8D8B,
    Data3: 0x11D4,
    Data4: [0xAB, 0xAD, 0x00, 0x90, 0x27, 0x71, 0x9E, 0x09],
};

/// `WSK_EVENT_CALLBACK_CONTROL`: input of `SO_WSK_EVENT_CALLBACK`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct WSK_EVENT_CALLBACK_CONTROL {
    /// `PNPIID NpiId`: must point to [`NPI_WSK_INTERFACE_ID`].
    pub NpiId: *const crate::GUID,
    /// `WSK_EVENT_*` bits, or-ed with [`WSK_EVENT_DISABLE`] to disable.
    pub EventMask: u32,
}

/// `PFN_WSK_RECEIVE_FROM_EVENT`.
pub type PFN_WSK_RECEIVE_FROM_EVENT = Option<
    unsafe extern "C" fn(
        socket_context: *mut core::ffi::c_void,
        flags: u32,
        data_indication: *mut crate::WSK_DATAGRAM_INDICATION,
    ) -> NTSTATUS,
>;

/// `WSK_CLIENT_DATAGRAM_DISPATCH`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct WSK_CLIENT_DATAGRAM_DISPATCH {
    /// The receive-from event callback.
    pub WskReceiveFromEvent: PFN_WSK_RECEIVE_FROM_EVENT,
}

/// `WSK_PROVIDER_CHARACTERISTICS` (wsk.h of the WDK, Windows Vista and later; Wine's
/// `ddk/wsk.h` lacks it): the highest and lowest WSK NPI versions the WSK subsystem supports,
/// each a `MAKE_WSK_VERSION(major, minor)` value, as `WskQueryProviderCharacteristics` returns
/// them. Layout from
/// <https://learn.microsoft.com/windows-hardware/drivers/ddi/wsk/ns-wsk-_wsk_provider_characteristics>:
/// two `USHORT`s.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WSK_PROVIDER_CHARACTERISTICS {
    /// `HighestVersion`: the highest WSK NPI version supported.
    pub HighestVersion: u16,
    /// `LowestVersion`: the lowest WSK NPI version supported.
    pub LowestVersion: u16,
}

// `WskQueryProviderCharacteristics` (wsk.h of the WDK, Windows Vista and later; Wine's
// `ddk/wsk.h` lacks it, and Wine 8.0's netio.sys exports it as a stub). Signature from
// <https://learn.microsoft.com/windows-hardware/drivers/ddi/wsk/nf-wsk-wskqueryprovidercharacteristics>.
#[cfg_attr(
    windows,
    link(name = "NETIO.SYS", kind = "raw-dylib", modifiers = "+verbatim")
)]
extern "system" {
    /// The range of WSK NPI versions the WSK subsystem supports. IRQL: PASSIVE_LEVEL.
    pub fn WskQueryProviderCharacteristics(
        registration: *mut crate::WSK_REGISTRATION,
        characteristics: *mut WSK_PROVIDER_CHARACTERISTICS,
    ) -> NTSTATUS;
}

/// `MdlMappingNoExecute` (wdm.h `MM_PAGE_PRIORITY` flag): map without execute rights.
pub const MdlMappingNoExecute: crate::MM_PAGE_PRIORITY = 0x4000_0000;

const _: () = {
    assert!(core::mem::size_of::<WSK_EVENT_CALLBACK_CONTROL>() == 16);
    assert!(core::mem::size_of::<WSK_CLIENT_DATAGRAM_DISPATCH>() == 8);
    assert!(core::mem::size_of::<WSK_PROVIDER_CHARACTERISTICS>() == 4);
    assert!(core::mem::offset_of!(WSK_PROVIDER_CHARACTERISTICS, LowestVersion) == 2);
};

// Socket I/O control codes for `WskControlSocket(WskIoctl, ...)`. Wine 8.0's ddk/wsk.h lacks
// them. The WDK's wsk.h defines them with ws2def.h's macros:
//   SIO_WSK_SET_REMOTE_ADDRESS       _WSAIOW(IOC_WSK,0x1)
//   SIO_WSK_REGISTER_EXTENSION       _WSAIORW(IOC_WSK,0x2)
//   SIO_WSK_QUERY_IDEAL_SEND_BACKLOG _WSAIOR(IOC_WSK,0x3)
//   SIO_WSK_QUERY_RECEIVE_BACKLOG    _WSAIOR(IOC_WSK,0x4)
//   SIO_WSK_QUERY_INSPECT_ID         _WSAIOR(IOC_WSK,0x5)
//   SIO_WSK_SET_SENDTO_ADDRESS       _WSAIOW(IOC_WSK,0x6)
// with ws2def.h's IOC_OUT 0x40000000, IOC_IN 0x80000000, IOC_WS2 0x08000000,
// IOC_WSK (IOC_WS2|0x07000000), _WSAIOR(x,y) (IOC_OUT|(x)|(y)), _WSAIOW(x,y) (IOC_IN|(x)|(y)),
// _WSAIORW(x,y) (IOC_INOUT|(x)|(y)). Each code's use (input, output, IRP rule) is on its
// page under https://learn.microsoft.com/windows-hardware/drivers/network/ (e.g.
// sio-wsk-query-receive-backlog, sio-wsk-set-sendto-address).

/// `IOC_OUT` (ws2def.h): the ioctl returns data.
pub const IOC_OUT: u32 = 0x4000_0000;
/// `IOC_IN` (ws2def.h): the ioctl takes data.
pub const IOC_IN: u32 = 0x8000_0000;
/// `IOC_INOUT` (ws2def.h).
pub const IOC_INOUT: u32 = IOC_IN | IOC_OUT;
/// `IOC_WS2` (ws2def.h): Winsock 2 ioctl family.
pub const IOC_WS2: u32 = 0x0800_0000;
/// `IOC_WSK` (ws2def.h): `IOC_WS2 | 0x07000000`, the WSK-specific family.
pub const IOC_WSK: u32 = IOC_WS2 | 0x0700_0000;

/// ws2def.h's `_WSAIOR(x, y)` macro.
#[must_use]
pub const fn wsaior(x: u32, y: u32) -> u32 {
    IOC_OUT | x | y
}
/// ws2def.h's `_WSAIOW(x, y)` macro.
#[must_use]
pub const fn wsaiow(x: u32, y: u32) -> u32 {
    IOC_IN | x | y
}
/// ws2def.h's `_WSAIORW(x, y)` macro.
#[must_use]
pub const fn wsaiorw(x: u32, y: u32) -> u32 {
    IOC_INOUT | x | y
}

/// `SIO_WSK_SET_REMOTE_ADDRESS`: datagram sockets, fixed remote address (IRP required).
pub const SIO_WSK_SET_REMOTE_ADDRESS: u32 = wsaiow(IOC_WSK, 0x1);
/// `SIO_WSK_REGISTER_EXTENSION`: extension interfaces.
pub const SIO_WSK_REGISTER_EXTENSION: u32 = wsaiorw(IOC_WSK, 0x2);
/// `SIO_WSK_QUERY_IDEAL_SEND_BACKLOG`: connection sockets, a `SIZE_T` out (IRP required).
pub const SIO_WSK_QUERY_IDEAL_SEND_BACKLOG: u32 = wsaior(IOC_WSK, 0x3);
/// `SIO_WSK_QUERY_RECEIVE_BACKLOG`: connection sockets, a `SIZE_T` out (IRP required).
pub const SIO_WSK_QUERY_RECEIVE_BACKLOG: u32 = wsaior(IOC_WSK, 0x4);
/// `SIO_WSK_QUERY_INSPECT_ID`: listening sockets in conditional-accept mode.
pub const SIO_WSK_QUERY_INSPECT_ID: u32 = wsaior(IOC_WSK, 0x5);
/// `SIO_WSK_SET_SENDTO_ADDRESS`: datagram sockets, fixed destination (IRP required).
pub const SIO_WSK_SET_SENDTO_ADDRESS: u32 = wsaiow(IOC_WSK, 0x6);

const _: () = {
    // The values the macros give (wsk.h as compiled by the WDK).
    assert!(IOC_WSK == 0x0F00_0000);
    assert!(SIO_WSK_SET_REMOTE_ADDRESS == 0x8F00_0001);
    assert!(SIO_WSK_REGISTER_EXTENSION == 0xCF00_0002);
    assert!(SIO_WSK_QUERY_IDEAL_SEND_BACKLOG == 0x4F00_0003);
    assert!(SIO_WSK_QUERY_RECEIVE_BACKLOG == 0x4F00_0004);
    assert!(SIO_WSK_QUERY_INSPECT_ID == 0x4F00_0005);
    assert!(SIO_WSK_SET_SENDTO_ADDRESS == 0x8F00_0006);
};

// `WSK_PROVIDER_STREAM_DISPATCH` (stream sockets, Windows 10 1703+) is in Wine's ddk/wsk.h;
// its member order is checked here against Microsoft's page
// (https://learn.microsoft.com/windows-hardware/drivers/ddi/wsk/ns-wsk-_wsk_provider_stream_dispatch):
// Basic (2 pointers), WskBind, WskAccept, WskConnect, WskListen, WskSend, WskReceive,
// WskDisconnect, WskRelease, WskGetLocalAddress, WskGetRemoteAddress, WskConnectEx,
// WskSendEx, WskReceiveEx: 15 pointers.
const _: () = {
    use core::mem::{offset_of, size_of};
    type D = crate::WSK_PROVIDER_STREAM_DISPATCH;
    const P: usize = size_of::<*const core::ffi::c_void>();
    assert!(size_of::<D>() == 15 * P);
    assert!(offset_of!(D, WskBind) == 2 * P);
    assert!(offset_of!(D, WskAccept) == 3 * P);
    assert!(offset_of!(D, WskConnect) == 4 * P);
    assert!(offset_of!(D, WskListen) == 5 * P);
    assert!(offset_of!(D, WskSend) == 6 * P);
    assert!(offset_of!(D, WskReceive) == 7 * P);
    assert!(offset_of!(D, WskDisconnect) == 8 * P);
    assert!(offset_of!(D, WskRelease) == 9 * P);
    assert!(offset_of!(D, WskGetLocalAddress) == 10 * P);
    assert!(offset_of!(D, WskGetRemoteAddress) == 11 * P);
    assert!(offset_of!(D, WskConnectEx) == 12 * P);
    assert!(offset_of!(D, WskReceiveEx) == 14 * P);
    // WSK_FLAG_STREAM_SOCKET (WskSocket's page; Wine has it): 0x00000008.
    assert!(crate::WSK_FLAG_STREAM_SOCKET == 8);
};

/// `WSK_CLIENT_STREAM_DISPATCH` (wsk.h of the WDK, Windows 10 1703+; Wine's ddk/wsk.h lacks
/// it): the client dispatch a stream socket is created with, one table per role it may take.
/// Layout from
/// <https://learn.microsoft.com/windows-hardware/drivers/ddi/wsk/ns-wsk-_wsk_client_stream_dispatch>:
/// `const WSK_CLIENT_LISTEN_DISPATCH *Listen; const WSK_CLIENT_CONNECTION_DISPATCH *Connect;`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct WSK_CLIENT_STREAM_DISPATCH {
    /// Event callbacks once the socket listens (`WskListen`).
    pub Listen: *const crate::WSK_CLIENT_LISTEN_DISPATCH,
    /// Event callbacks once the socket is connected (`WskConnect`).
    pub Connect: *const crate::WSK_CLIENT_CONNECTION_DISPATCH,
}

const _: () = {
    assert!(core::mem::size_of::<WSK_CLIENT_STREAM_DISPATCH>() == 16);
    assert!(core::mem::offset_of!(WSK_CLIENT_STREAM_DISPATCH, Connect) == 8);
};

#[cfg(test)]
mod sio_tests {
    use super::*;

    #[test]
    fn sio_wsk_codes_match_the_wdk_macros() {
        assert_eq!(IOC_WSK, 251_658_240);
        assert_eq!(SIO_WSK_SET_REMOTE_ADDRESS, 0x8F00_0001);
        assert_eq!(SIO_WSK_QUERY_IDEAL_SEND_BACKLOG, 0x4F00_0003);
        assert_eq!(SIO_WSK_QUERY_RECEIVE_BACKLOG, 0x4F00_0004);
        assert_eq!(SIO_WSK_QUERY_INSPECT_ID, 0x4F00_0005);
        assert_eq!(SIO_WSK_SET_SENDTO_ADDRESS, 0x8F00_0006);
    }
}

/// `PFN_WSK_ACCEPT_EVENT` as the WDK's wsk.h declares it: `AcceptSocketContext` is
/// `PVOID *` (Wine's ddk/wsk.h declares a `PVOID`, which cannot return a context). From
/// <https://learn.microsoft.com/windows-hardware/drivers/ddi/wsk/nc-wsk-pfn_wsk_accept_event>:
/// `(PVOID SocketContext, ULONG Flags, PSOCKADDR LocalAddress, PSOCKADDR RemoteAddress,
/// PWSK_SOCKET AcceptSocket, PVOID *AcceptSocketContext,
/// const WSK_CLIENT_CONNECTION_DISPATCH **AcceptSocketDispatch) -> NTSTATUS`.
pub type PFN_WSK_ACCEPT_EVENT_WDK = Option<
    unsafe extern "C" fn(
        socket_context: *mut core::ffi::c_void,
        flags: u32,
        local_address: *mut crate::SOCKADDR,
        remote_address: *mut crate::SOCKADDR,
        accept_socket: *mut crate::WSK_SOCKET,
        accept_socket_context: *mut *mut core::ffi::c_void,
        accept_socket_dispatch: *mut *const crate::WSK_CLIENT_CONNECTION_DISPATCH,
    ) -> NTSTATUS,
>;

/// `WSK_CLIENT_LISTEN_DISPATCH` with the WDK's accept-event signature
/// ([`PFN_WSK_ACCEPT_EVENT_WDK`]); same layout as the generated struct. Member order from
/// <https://learn.microsoft.com/windows-hardware/drivers/ddi/wsk/ns-wsk-_wsk_client_listen_dispatch>:
/// `WskAcceptEvent`, `WskInspectEvent`, `WskAbortEvent` (the last two only for conditional
/// accept; NULL otherwise).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct WSK_CLIENT_LISTEN_DISPATCH_WDK {
    /// The accept event callback.
    pub WskAcceptEvent: PFN_WSK_ACCEPT_EVENT_WDK,
    /// `PFN_WSK_INSPECT_EVENT` (conditional accept only).
    pub WskInspectEvent: *const core::ffi::c_void,
    /// `PFN_WSK_ABORT_EVENT` (conditional accept only).
    pub WskAbortEvent: *const core::ffi::c_void,
}

/// `STATUS_REQUEST_NOT_ACCEPTED` (ntstatus.h, 0xC00000D0): what a `WskAcceptEvent` returns to
/// reject an incoming connection (the WSK subsystem then closes the socket), as the
/// `WskAcceptEvent` page above says.
pub const STATUS_REQUEST_NOT_ACCEPTED: NTSTATUS = i32::from_ne_bytes(0xC000_00D0_u32.to_ne_bytes());

const _: () = {
    assert!(
        core::mem::size_of::<WSK_CLIENT_LISTEN_DISPATCH_WDK>()
            == core::mem::size_of::<crate::WSK_CLIENT_LISTEN_DISPATCH>()
    );
    assert!(core::mem::offset_of!(WSK_CLIENT_LISTEN_DISPATCH_WDK, WskAbortEvent) == 16);
};

// Datagram control information (ancillary data) for `WskSendTo` / `WskReceiveFrom`.

/// `IPPROTO_IP` (ws2def.h `IPPROTO`): option level of IPv4 options; protocol number 0.
pub const IPPROTO_IP: u32 = 0;
/// `IP_PKTINFO` (level `IPPROTO_IP`): "The constant that represents this socket option is
/// 19" (<https://learn.microsoft.com/windows/win32/winsock/ip-pktinfo>); also the
/// `cmsg_type` of the `IN_PKTINFO` control object.
pub const IP_PKTINFO: u32 = 19;
/// `IPV6_PKTINFO` (level `IPPROTO_IPV6`): 19
/// (<https://learn.microsoft.com/windows/win32/winsock/ipv6-pktinfo>); also the `cmsg_type`
/// of the `IN6_PKTINFO` control object.
pub const IPV6_PKTINFO: u32 = 19;

/// `IN_PKTINFO` (ws2ipdef.h; <https://learn.microsoft.com/windows/win32/api/ws2ipdef/ns-ws2ipdef-in_pktinfo>):
/// `IN_ADDR ipi_addr; ULONG ipi_ifindex;`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IN_PKTINFO {
    /// Received: the datagram's destination address; sent: the source address to use
    /// (network byte order).
    pub ipi_addr: [u8; 4],
    /// Received: the interface it arrived on; sent: the interface to send on (0: any).
    pub ipi_ifindex: u32,
}

/// `IN6_PKTINFO` (ws2ipdef.h; <https://learn.microsoft.com/windows/win32/api/ws2ipdef/ns-ws2ipdef-in6_pktinfo>):
/// `IN6_ADDR ipi6_addr; ULONG ipi6_ifindex;`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IN6_PKTINFO {
    /// As [`IN_PKTINFO::ipi_addr`], IPv6.
    pub ipi6_addr: [u8; 16],
    /// As [`IN_PKTINFO::ipi_ifindex`].
    pub ipi6_ifindex: u32,
}

/// `MSG_TRUNC` (ws2def.h; Wine declares the four in mswsock.h): `WskReceiveFrom`'s `ControlFlags`: the datagram was truncated.
pub const MSG_TRUNC: u32 = 0x0100;
/// `MSG_CTRUNC` (ws2def.h): the control information was truncated.
pub const MSG_CTRUNC: u32 = 0x0200;
/// `MSG_BCAST` (ws2def.h): received as a link-layer broadcast.
pub const MSG_BCAST: u32 = 0x0400;
/// `MSG_MCAST` (ws2def.h): received on a multicast address.
pub const MSG_MCAST: u32 = 0x0800;

/// `TYPE_ALIGNMENT(WSACMSGHDR)` on x64 (its `SIZE_T` first member): `WSA_CMSGHDR_ALIGN` rounds a
/// control object's length up to it to find the next header (ws2def.h).
pub const CMSGHDR_ALIGN: usize = core::mem::align_of::<crate::WSACMSGHDR>();
/// `MAX_NATURAL_ALIGNMENT` on x64 (`sizeof(ULONGLONG)`): `WSA_CMSGDATA_ALIGN` rounds the header
/// size up to it to find a control object's data (ws2def.h).
pub const CMSGDATA_ALIGN: usize = 8;

const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<IN_PKTINFO>() == 8);
    assert!(offset_of!(IN_PKTINFO, ipi_ifindex) == 4);
    assert!(size_of::<IN6_PKTINFO>() == 20);
    assert!(offset_of!(IN6_PKTINFO, ipi6_ifindex) == 16);
    assert!(align_of::<IN6_PKTINFO>() == 4);
    // WSACMSGHDR { SIZE_T cmsg_len; INT cmsg_level; INT cmsg_type; }: 16 bytes, 8-aligned.
    assert!(size_of::<crate::WSACMSGHDR>() == 16);
    assert!(CMSGHDR_ALIGN == 8);
};

#[cfg(test)]
mod control_info_tests {
    use super::*;

    #[test]
    fn control_info_values_and_layouts() {
        assert_eq!((IPPROTO_IP, IP_PKTINFO, IPV6_PKTINFO), (0, 19, 19));
        assert_eq!(
            (MSG_TRUNC, MSG_CTRUNC, MSG_BCAST, MSG_MCAST),
            (0x100, 0x200, 0x400, 0x800)
        );
        assert_eq!(core::mem::size_of::<IN_PKTINFO>(), 8);
        assert_eq!(core::mem::size_of::<IN6_PKTINFO>(), 20);
        assert_eq!((CMSGHDR_ALIGN, CMSGDATA_ALIGN), (8, 8));
    }
}

/// `FIONREAD` (winsock2.h: `_IOR('f', 127, u_long)` = `IOC_OUT | (4 << 16) | ('f' << 8) | 127`):
/// the bytes a socket can read at once; a standard ioctl `WskIoctl` passes to the transport
/// (<https://learn.microsoft.com/windows/win32/winsock/winsock-ioctls>).
pub const FIONREAD: u32 = 0x4004_667F;

const _: () = assert!(FIONREAD == 0x4000_0000 | (4 << 16) | ((b'f' as u32) << 8) | 127);

/// `RTL_OSVERSIONINFOW` (wdm.h;
/// <https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/ns-wdm-_osversioninfow>):
/// `ULONG dwOSVersionInfoSize, dwMajorVersion, dwMinorVersion, dwBuildNumber, dwPlatformId;
/// WCHAR szCSDVersion[128];` — 276 bytes.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct RTL_OSVERSIONINFOW {
    /// Set to the size of the structure before the call.
    pub dwOSVersionInfoSize: u32,
    /// Major version (10 for Windows 10 and 11).
    pub dwMajorVersion: u32,
    /// Minor version.
    pub dwMinorVersion: u32,
    /// Build number (15063 is Windows 10, version 1703).
    pub dwBuildNumber: u32,
    /// `VER_PLATFORM_WIN32_NT` (2).
    pub dwPlatformId: u32,
    /// Service pack text.
    pub szCSDVersion: [u16; 128],
}

const _: () = {
    assert!(core::mem::size_of::<RTL_OSVERSIONINFOW>() == 276);
    assert!(core::mem::offset_of!(RTL_OSVERSIONINFOW, dwBuildNumber) == 12);
    assert!(core::mem::offset_of!(RTL_OSVERSIONINFOW, szCSDVersion) == 20);
};

// `RtlGetVersion` (wdm.h; exported by ntoskrnl and by Wine's):
// https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-rtlgetversion
#[cfg_attr(
    windows,
    link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")
)]
extern "system" {
    /// The running Windows version. IRQL: PASSIVE_LEVEL. Always `STATUS_SUCCESS`.
    pub fn RtlGetVersion(info: *mut RTL_OSVERSIONINFOW) -> NTSTATUS;
}

// Winsock's secure socket extensions (mstcpip.h, Windows Vista and later), which Wine's
// mstcpip.h lacks. Codes: `_WSAIOW(IOC_VENDOR, 200)` etc. (mstcpip.h), values as the Windows
// SDK metadata gives them. Layouts: the SDK's mstcpip.h and the structures' pages
// (https://learn.microsoft.com/windows/win32/api/mstcpip/), `SOCKADDR_STORAGE` 8-aligned.

/// `SIO_SET_SECURITY`: apply `SOCKET_SECURITY_SETTINGS` (before bind / connect).
pub const SIO_SET_SECURITY: u32 = 0x9800_00C8;
/// `SIO_QUERY_SECURITY`: `SOCKET_SECURITY_QUERY_TEMPLATE` in, `SOCKET_SECURITY_QUERY_INFO` out.
pub const SIO_QUERY_SECURITY: u32 = 0xD800_00C9;
/// `SIO_SET_PEER_TARGET_NAME`: `SOCKET_PEER_TARGET_NAME` in.
pub const SIO_SET_PEER_TARGET_NAME: u32 = 0x9800_00CA;
/// `SIO_DELETE_PEER_TARGET_NAME`: the peer's `SOCKADDR` in.
pub const SIO_DELETE_PEER_TARGET_NAME: u32 = 0x9800_00CB;

/// `SOCKET_SECURITY_PROTOCOL_DEFAULT`.
pub const SOCKET_SECURITY_PROTOCOL_DEFAULT: u32 = 0;
/// `SOCKET_SECURITY_PROTOCOL_IPSEC`.
pub const SOCKET_SECURITY_PROTOCOL_IPSEC: u32 = 1;
/// `SOCKET_SECURITY_PROTOCOL_IPSEC2` (Windows 7 and later).
pub const SOCKET_SECURITY_PROTOCOL_IPSEC2: u32 = 2;
/// `SOCKET_SECURITY_PROTOCOL_INVALID`: the first value past the defined ones.
pub const SOCKET_SECURITY_PROTOCOL_INVALID: u32 = 3;

/// `SOCKET_SETTINGS_GUARANTEE_ENCRYPTION`: no packet leaves unencrypted.
pub const SOCKET_SETTINGS_GUARANTEE_ENCRYPTION: u32 = 0x1;
/// `SOCKET_SETTINGS_ALLOW_INSECURE`: clear text is allowed when security cannot be negotiated.
pub const SOCKET_SETTINGS_ALLOW_INSECURE: u32 = 0x2;
/// `SOCKET_SETTINGS_IPSEC_SKIP_FILTER_INSTANTIATION`.
pub const SOCKET_SETTINGS_IPSEC_SKIP_FILTER_INSTANTIATION: u32 = 0x1;
/// `SOCKET_SETTINGS_IPSEC_OPTIONAL_PEER_NAME_VERIFICATION`.
pub const SOCKET_SETTINGS_IPSEC_OPTIONAL_PEER_NAME_VERIFICATION: u32 = 0x2;
/// `SOCKET_SETTINGS_IPSEC_ALLOW_FIRST_INBOUND_PKT_UNENCRYPTED`.
pub const SOCKET_SETTINGS_IPSEC_ALLOW_FIRST_INBOUND_PKT_UNENCRYPTED: u32 = 0x4;
/// `SOCKET_SETTINGS_IPSEC_PEER_NAME_IS_RAW_FORMAT`.
pub const SOCKET_SETTINGS_IPSEC_PEER_NAME_IS_RAW_FORMAT: u32 = 0x8;

/// `SOCKET_INFO_CONNECTION_SECURED`.
pub const SOCKET_INFO_CONNECTION_SECURED: u32 = 0x1;
/// `SOCKET_INFO_CONNECTION_ENCRYPTED`.
pub const SOCKET_INFO_CONNECTION_ENCRYPTED: u32 = 0x2;
/// `SOCKET_INFO_CONNECTION_IMPERSONATED`.
pub const SOCKET_INFO_CONNECTION_IMPERSONATED: u32 = 0x4;

/// `SOCKET_SECURITY_SETTINGS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SOCKET_SECURITY_SETTINGS {
    /// A `SOCKET_SECURITY_PROTOCOL_*` value.
    pub SecurityProtocol: u32,
    /// `SOCKET_SETTINGS_*` flags.
    pub SecurityFlags: u32,
}

/// `SOCKET_SECURITY_SETTINGS_IPSEC` without its trailing `AllStrings` (user name, domain name
/// and password, UTF-16, concatenated; each `*StringLen` in bytes), which starts at
/// [`SOCKET_SECURITY_SETTINGS_IPSEC_STRINGS`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SOCKET_SECURITY_SETTINGS_IPSEC {
    /// Must be `SOCKET_SECURITY_PROTOCOL_IPSEC`.
    pub SecurityProtocol: u32,
    /// `SOCKET_SETTINGS_*` flags.
    pub SecurityFlags: u32,
    /// `SOCKET_SETTINGS_IPSEC_*` flags.
    pub IpsecFlags: u32,
    /// WFP key of the AuthIP main-mode provider context (zero: none).
    pub AuthipMMPolicyKey: [u8; 16],
    /// WFP key of the AuthIP quick-mode provider context (zero: none).
    pub AuthipQMPolicyKey: [u8; 16],
    /// Reserved.
    pub Reserved: [u8; 16],
    /// Reserved.
    pub Reserved2: u64,
    /// Bytes of the user name in `AllStrings`.
    pub UserNameStringLen: u32,
    /// Bytes of the domain name in `AllStrings`.
    pub DomainNameStringLen: u32,
    /// Bytes of the password in `AllStrings`.
    pub PasswordStringLen: u32,
}

/// Offset of `SOCKET_SECURITY_SETTINGS_IPSEC::AllStrings`.
pub const SOCKET_SECURITY_SETTINGS_IPSEC_STRINGS: usize = 84;

/// `SOCKET_PEER_TARGET_NAME` without its trailing `AllStrings` (the name, UTF-16), which
/// starts at [`SOCKET_PEER_TARGET_NAME_STRINGS`].
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SOCKET_PEER_TARGET_NAME {
    /// A `SOCKET_SECURITY_PROTOCOL_*` value.
    pub SecurityProtocol: u32,
    /// The peer (datagram sockets; ignored for connection-oriented ones).
    pub PeerAddress: crate::SOCKADDR_STORAGE,
    /// The name's length: bytes by the documentation; see `wsk::secure` for what Windows does.
    pub PeerTargetNameStringLen: u32,
}

/// Offset of `SOCKET_PEER_TARGET_NAME::AllStrings`.
pub const SOCKET_PEER_TARGET_NAME_STRINGS: usize = 140;

/// `SOCKET_SECURITY_QUERY_TEMPLATE`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SOCKET_SECURITY_QUERY_TEMPLATE {
    /// A `SOCKET_SECURITY_PROTOCOL_*` value.
    pub SecurityProtocol: u32,
    /// The peer (datagram sockets; ignored for connected TCP sockets).
    pub PeerAddress: crate::SOCKADDR_STORAGE,
    /// Access for the peer's token handles; 0 asks for no handle.
    pub PeerTokenAccessMask: u32,
}

/// `SOCKET_SECURITY_QUERY_INFO`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SOCKET_SECURITY_QUERY_INFO {
    /// The protocol that secures the connection.
    pub SecurityProtocol: u32,
    /// `SOCKET_INFO_CONNECTION_*` flags.
    pub Flags: u32,
    /// Handle of the peer application's token (0: none).
    pub PeerApplicationAccessTokenHandle: u64,
    /// Handle of the peer machine's token (0: none).
    pub PeerMachineAccessTokenHandle: u64,
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<SOCKET_SECURITY_SETTINGS>() == 8);
    assert!(offset_of!(SOCKET_SECURITY_SETTINGS_IPSEC, AuthipMMPolicyKey) == 12);
    assert!(offset_of!(SOCKET_SECURITY_SETTINGS_IPSEC, Reserved2) == 64);
    assert!(offset_of!(SOCKET_SECURITY_SETTINGS_IPSEC, PasswordStringLen) == 80);
    assert!(size_of::<SOCKET_SECURITY_SETTINGS_IPSEC>() == 88);
    assert!(size_of::<crate::SOCKADDR_STORAGE>() == 128);
    assert!(offset_of!(SOCKET_PEER_TARGET_NAME, PeerAddress) == 8);
    assert!(offset_of!(SOCKET_PEER_TARGET_NAME, PeerTargetNameStringLen) == 136);
    assert!(size_of::<SOCKET_PEER_TARGET_NAME>() == 144);
    assert!(offset_of!(SOCKET_SECURITY_QUERY_TEMPLATE, PeerTokenAccessMask) == 136);
    assert!(size_of::<SOCKET_SECURITY_QUERY_TEMPLATE>() == 144);
    assert!(size_of::<SOCKET_SECURITY_QUERY_INFO>() == 24);
    // _WSAIOW(IOC_VENDOR, n) = IOC_IN | IOC_VENDOR | n; _WSAIORW adds IOC_OUT.
    assert!(SIO_SET_SECURITY == 0x8000_0000 | 0x1800_0000 | 0xC8); // 200
    assert!(SIO_QUERY_SECURITY == 0xC000_0000 | 0x1800_0000 | 0xC9); // 201
};
