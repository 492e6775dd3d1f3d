/*
 * FxDriverEntry: the project's own KMDF stub for Linux builds, in place of the WDK's
 * WdfDriverEntry.lib (which only a Windows WDK ships). Windows builds link Microsoft's stub
 * and never compile this file.
 *
 * What it does, as the WDK's stub does (WDF_BIND_INFO2 and the loader's side of the contract
 * in fxldr.h and fxlibrarycommon.cpp of microsoft/Windows-Driver-Frameworks):
 *  1. keeps a copy of the registry path (DriverEntry's copy is gone by unload);
 *  2. binds to the framework: WdfVersionBind (WDFLDR.SYS) with component "KmdfLibrary",
 *     version 1.33 and the 458-entry table size; the loader stores the framework's function
 *     table in WdfFunctions_01033, the driver globals in WdfDriverGlobals, and the counts
 *     behind the V2 pointers;
 *  3. calls the driver's DriverEntry; on failure unbinds and returns its status;
 *  4. when the framework asks for it (DisplaceDriverUnload), puts itself in front of the
 *     unload routine the framework installed, so unbinding happens after the framework's
 *     unload (EvtDriverUnload, then the framework's own clean-up).
 * IRQL: PASSIVE_LEVEL (the I/O manager calls both entry points there).
 */
#define WDF_STUB
#include <ntddk.h>
#include <wdf.h>

NTSTATUS NTAPI DriverEntry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath);

/* Defined (selectany) by wdf.h in the driver's own C translation unit: wdk-sys's wdf.c. */
extern ULONG WdfMinimumVersionRequired;

const WDFFUNC *WdfFunctions_01033;
PWDF_DRIVER_GLOBALS WdfDriverGlobals;
BOOLEAN WdfClientVersionHigherThanFramework;
ULONG WdfFunctionCount;
ULONG WdfStructureCount;
WDF_STRUCT_INFO WdfStructures;

static WCHAR KmdfLibraryName[] = L"KmdfLibrary";

static WDF_BIND_INFO2 WdfBindInfo = {
    {
        sizeof(WDF_BIND_INFO2),
        KmdfLibraryName,
        {1, 33, 0},
        WdfFunctionTableNumEntries,
        (WDFFUNC *)&WdfFunctions_01033,
        0,
    },
    &WdfMinimumVersionRequired,
    &WdfClientVersionHigherThanFramework,
    &WdfFunctionCount,
    &WdfStructureCount,
    &WdfStructures,
};

#define STUB_POOL_TAG 0x62757453 /* 'Stub' */

static UNICODE_STRING StubRegistryPath;
static PDRIVER_UNLOAD StubFrameworkUnload;

static void StubFreeRegistryPath(void)
{
    if (StubRegistryPath.Buffer != 0) {
        ExFreePoolWithTag(StubRegistryPath.Buffer, STUB_POOL_TAG);
        StubRegistryPath.Buffer = 0;
    }
}

static void StubUnbind(void)
{
    (void)WdfVersionUnbind(&StubRegistryPath, &WdfBindInfo.V1, (PWDF_COMPONENT_GLOBALS)WdfDriverGlobals);
}

static VOID NTAPI FxStubDriverUnload(PDRIVER_OBJECT DriverObject)
{
    if (StubFrameworkUnload != 0) {
        StubFrameworkUnload(DriverObject);
    }
    StubUnbind();
    StubFreeRegistryPath();
}

NTSTATUS NTAPI FxDriverEntry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath)
{
    NTSTATUS status;
    USHORT bytes;

    if (RegistryPath == 0 || RegistryPath->Length == 0) {
        return STATUS_INVALID_PARAMETER;
    }
    bytes = RegistryPath->Length;
    StubRegistryPath.Buffer = ExAllocatePoolWithTag(PagedPool, bytes, STUB_POOL_TAG);
    if (StubRegistryPath.Buffer == 0) {
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    RtlCopyMemory(StubRegistryPath.Buffer, RegistryPath->Buffer, bytes);
    StubRegistryPath.Length = bytes;
    StubRegistryPath.MaximumLength = bytes;

    status = WdfVersionBind(DriverObject, &StubRegistryPath, &WdfBindInfo.V1,
                            (PWDF_COMPONENT_GLOBALS *)&WdfDriverGlobals);
    if (!NT_SUCCESS(status)) {
        StubFreeRegistryPath();
        return status;
    }

    status = DriverEntry(DriverObject, RegistryPath);
    if (!NT_SUCCESS(status)) {
        StubUnbind();
        StubFreeRegistryPath();
        return status;
    }

    if (WdfDriverGlobals->DisplaceDriverUnload && DriverObject->DriverUnload != 0) {
        StubFrameworkUnload = DriverObject->DriverUnload;
        DriverObject->DriverUnload = FxStubDriverUnload;
    }
    return status;
}
