//! The loader's exports: `WdfVersionBind` and `WdfVersionUnbind` (WDFLDR.SYS).
//!
//! The contract (Microsoft's `fxldr.h` and `fxlibrarycommon.cpp`, Windows-Driver-Frameworks):
//! the stub passes a `WDF_BIND_INFO` (here always the V2 form, `Size` =
//! `sizeof(WDF_BIND_INFO2)`), whose `FuncTable` is the address of the driver's
//! `WdfFunctions_01033` variable; for a `FuncCount` above 438 (the 1.25+ stubs) the loader
//! stores the address of its own function table there, instead of copying the table into the
//! driver. It fills `*FuncCountPtr`, `*StructCountPtr` and `*ClientVersionHigherThanFramework`
//! and returns the driver globals through the last parameter.

use core::mem::size_of;
use core::ptr;
use std::sync::atomic::Ordering;

use wsk_bindings::NtStatus;

use crate::driver::{self, GLOBALS};
use crate::log::log;
use crate::sys::*;

/// The framework version this runtime models.
const MAJOR: u32 = 1;
const MINOR: u32 = 33;
/// Above this many functions the loader hands out its table's address (1.25+ stubs).
const TABLE_BY_ADDRESS_ABOVE: u32 = 438;

/// The NUL-terminated UTF-16 string at `p`, up to 64 characters.
///
/// # Safety
/// `p` is null or a readable NUL-terminated string.
unsafe fn wide(p: *const u16) -> String {
    if p.is_null() {
        return String::new();
    }
    let mut chars = Vec::new();
    for i in 0..64 {
        // SAFETY: within the string (it stops at its NUL).
        let c = unsafe { p.add(i) };
        // SAFETY: as above.
        let c = unsafe { c.read() };
        if c == 0 {
            break;
        }
        chars.push(c);
    }
    String::from_utf16_lossy(&chars)
}

/// The service name: the registry path's last component (`\Registry\...\Services\WskRs`).
///
/// # Safety
/// `path` is null or a valid counted string.
unsafe fn service_name(path: PUNICODE_STRING) -> String {
    if path.is_null() {
        return String::new();
    }
    // SAFETY: a valid counted string (caller's contract).
    let s = unsafe { &*path };
    if s.Buffer.is_null() {
        return String::new();
    }
    // SAFETY: Length bytes of UTF-16 at Buffer.
    let chars = unsafe { core::slice::from_raw_parts(s.Buffer, usize::from(s.Length) / 2) };
    let full = String::from_utf16_lossy(chars);
    full.rsplit('\\').next().unwrap_or_default().to_owned()
}

/// `WdfVersionBind`: binds a KMDF 1.33 client (component `KmdfLibrary`, major version 1,
/// minor <= 33, exactly 458 functions); anything else is refused with a log line.
///
/// # Safety
/// Called by the KMDF stub (FxDriverEntry) with its bind information.
#[no_mangle]
pub unsafe extern "system" fn WdfVersionBind(
    driver_object: PDRIVER_OBJECT,
    registry_path: PUNICODE_STRING,
    bind_info: PWDF_BIND_INFO,
    component_globals: *mut PWDF_COMPONENT_GLOBALS,
) -> NTSTATUS {
    if bind_info.is_null() || component_globals.is_null() || driver_object.is_null() {
        log!("WdfVersionBind: refused: a null driver object, bind info or globals pointer");
        return NtStatus::INVALID_PARAMETER.0;
    }
    // SAFETY: the stub's bind information.
    let info = unsafe { &*bind_info };
    // SAFETY: the stub's registry path.
    let service = unsafe { service_name(registry_path) };
    // SAFETY: the component name is a NUL-terminated string.
    let component = unsafe { wide(info.Component) };
    let version = &info.Version;
    if component != "KmdfLibrary" {
        log!("WdfVersionBind: {service}: refused: component `{component}` (this runtime is KmdfLibrary only)");
        return NtStatus::OBJECT_NAME_NOT_FOUND.0;
    }
    if version.Major != MAJOR {
        log!("WdfVersionBind: {service}: refused: KMDF major version {} (this runtime is {MAJOR}.{MINOR})", version.Major);
        return NtStatus::REVISION_MISMATCH.0;
    }
    if info.FuncCount != WdfFunctionTableNumEntries as u32 {
        log!(
            "WdfVersionBind: {service}: refused: the driver expects {} functions; this runtime's KMDF {MAJOR}.{MINOR} table has {}",
            info.FuncCount,
            WdfFunctionTableNumEntries
        );
        return NtStatus::REVISION_MISMATCH.0;
    }
    if (info.Size as usize) < size_of::<WDF_BIND_INFO2>() {
        log!("WdfVersionBind: {service}: refused: a {}-byte WDF_BIND_INFO; a 1.25+ stub passes WDF_BIND_INFO2 ({} bytes)", info.Size, size_of::<WDF_BIND_INFO2>());
        return NtStatus::REVISION_MISMATCH.0;
    }
    // SAFETY: Size says this is the V2 structure.
    let info2 = unsafe { &*bind_info.cast::<WDF_BIND_INFO2>() };
    let higher = version.Minor > MINOR;
    if !info2.ClientVersionHigherThanFramework.is_null() {
        // SAFETY: the stub's variable.
        unsafe {
            info2
                .ClientVersionHigherThanFramework
                .write(u8::from(higher));
        };
    }
    if higher {
        log!("WdfVersionBind: {service}: refused: the driver needs KMDF 1.{}, this runtime is {MAJOR}.{MINOR}", version.Minor);
        return NtStatus::REVISION_MISMATCH.0;
    }
    if info.FuncTable.is_null() {
        log!("WdfVersionBind: {service}: refused: no FuncTable");
        return NtStatus::INVALID_PARAMETER.0;
    }
    let globals = Box::into_raw(Box::new(WDF_DRIVER_GLOBALS {
        Driver: ptr::null_mut(),
        DriverFlags: 0,
        DriverTag: 0,
        DriverName: [0; 32],
        DisplaceDriverUnload: 0,
    }));
    // SAFETY: just allocated.
    let name = unsafe { &mut (*globals).DriverName };
    for (slot, byte) in name
        .iter_mut()
        .zip(service.bytes().filter(u8::is_ascii).take(31))
    {
        *slot = i8::from_ne_bytes([byte]);
    }
    if GLOBALS
        .compare_exchange(
            ptr::null_mut(),
            globals,
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_err()
    {
        // SAFETY: just allocated, never shared.
        drop(unsafe { Box::from_raw(globals) });
        log!("WdfVersionBind: {service}: refused: another driver is bound (this runtime serves one KMDF driver per driver host)");
        return NtStatus::INVALID_DEVICE_STATE.0;
    }
    let table = crate::table::get();
    debug_assert!(info.FuncCount > TABLE_BY_ADDRESS_ABOVE);
    // SAFETY: for FuncCount > 438, FuncTable is the address of the driver's
    // `const WDFFUNC *WdfFunctions_01033`: the loader stores its table's address there.
    unsafe {
        info.FuncTable
            .cast::<*const WDFFUNC>()
            .write(table.as_ptr());
    };
    if !info2.FuncCountPtr.is_null() {
        // SAFETY: the stub's variable.
        unsafe { info2.FuncCountPtr.write(WdfFunctionTableNumEntries as u32) };
    }
    if !info2.StructCountPtr.is_null() {
        // No structure table: the client is not newer than the framework, so the stub sizes
        // structures with sizeof (WDF_STRUCTURE_SIZE), never through WdfStructures.
        // SAFETY: the stub's variable.
        unsafe { info2.StructCountPtr.write(0) };
    }
    if !info2.StructTable.is_null() {
        // SAFETY: the stub's variable.
        unsafe { info2.StructTable.write(ptr::null_mut()) };
    }
    // SAFETY: the stub's output.
    unsafe { component_globals.write(globals.cast()) };
    log!(
        "WdfVersionBind: bound {service} (driver object {driver_object:p}) to KmdfLibrary {MAJOR}.{MINOR}: \
         {} functions, {} implemented (the rest trap with their names), globals {globals:p}",
        WdfFunctionTableNumEntries,
        crate::table::IMPLEMENTED.len()
    );
    NtStatus::SUCCESS.0
}

/// `WdfVersionUnbind`: after the framework's unload (or a failed DriverEntry): deletes what
/// the framework still holds for the driver and frees its globals.
///
/// # Safety
/// Called by the KMDF stub with the globals `WdfVersionBind` returned.
#[no_mangle]
pub unsafe extern "system" fn WdfVersionUnbind(
    registry_path: PUNICODE_STRING,
    _bind_info: PWDF_BIND_INFO,
    component_globals: PWDF_COMPONENT_GLOBALS,
) -> NTSTATUS {
    // SAFETY: the stub's registry path copy.
    let service = unsafe { service_name(registry_path) };
    let globals = GLOBALS.load(Ordering::Acquire);
    if globals.is_null() || globals.cast() != component_globals {
        log!("WdfVersionUnbind: {service}: refused: globals {component_globals:p} were not handed out by WdfVersionBind");
        return NtStatus::INVALID_PARAMETER.0;
    }
    driver::release();
    GLOBALS.store(ptr::null_mut(), Ordering::Release);
    // SAFETY: made by WdfVersionBind with Box::into_raw; taken out of GLOBALS once, here.
    drop(unsafe { Box::from_raw(globals) });
    log!("WdfVersionUnbind: unbound {service}");
    NtStatus::SUCCESS.0
}
