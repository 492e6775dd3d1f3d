//! Layout and index facts of the KMDF 1.33 ABI, asserted at compile time against the
//! bindings generated from `wdf.h`. The values are Microsoft's (x64, from the 1.33 headers
//! of microsoft/Windows-Driver-Frameworks: wdfdriver.h, wdfobject.h, wdffileobject.h, wdfio.h,
//! wdftimer.h, wdfglobals.h, fxldr.h, wdffuncenum.h), written here independently of wdf.h: a
//! wrong offset or index in that header fails the build of this crate.

use core::mem::{offset_of, size_of};

use crate::sys::*;

macro_rules! layout {
    ($ty:ty, $size:expr $(, $field:ident @ $offset:expr)*) => {
        const _: () = assert!(size_of::<$ty>() == $size);
        $(const _: () = assert!(offset_of!($ty, $field) == $offset);)*
    };
}

layout!(WDF_DRIVER_CONFIG, 32, EvtDriverUnload @ 16, DriverInitFlags @ 24, DriverPoolTag @ 28);
layout!(
    WDF_OBJECT_ATTRIBUTES, 56,
    ExecutionLevel @ 24, SynchronizationScope @ 28, ParentObject @ 32,
    ContextSizeOverride @ 40, ContextTypeInfo @ 48
);
layout!(
    WDF_FILEOBJECT_CONFIG, 40,
    EvtFileClose @ 16, EvtFileCleanup @ 24, AutoForwardCleanupClose @ 32, FileObjectClass @ 36
);
layout!(
    WDF_IO_QUEUE_CONFIG, 96,
    AllowZeroLengthRequests @ 12, DefaultQueue @ 13, EvtIoDefault @ 16,
    EvtIoDeviceControl @ 40, EvtIoCanceledOnQueue @ 72, Settings @ 80, Driver @ 88
);
layout!(WDF_OBJECT_CONTEXT_TYPE_INFO, 40, ContextSize @ 16, UniqueType @ 24);
layout!(WDF_TIMER_CONFIG, 40, UseHighResolutionTimer @ 32);
layout!(WDF_DRIVER_GLOBALS, 56, DriverName @ 16, DisplaceDriverUnload @ 48);
layout!(WDF_BIND_INFO, 48, Version @ 16, FuncCount @ 28, FuncTable @ 32);
layout!(WDF_BIND_INFO2, 88);

macro_rules! index {
    ($($name:ident = $index:expr),* $(,)?) => {
        $(const _: () = assert!($name as usize == $index);)*
    };
}

// Microsoft's numbers (wdffuncenum.h, KMDF 1.33) for every DDI the runtime implements.
index!(
    WdfControlDeviceInitAllocateTableIndex = 25,
    WdfControlFinishInitializingTableIndex = 27,
    WdfDeviceWdmGetDeviceObjectTableIndex = 31,
    WdfDeviceInitFreeTableIndex = 54,
    WdfDeviceInitSetIoTypeTableIndex = 61,
    WdfDeviceInitSetDeviceTypeTableIndex = 66,
    WdfDeviceInitAssignNameTableIndex = 67,
    WdfDeviceInitSetCharacteristicsTableIndex = 70,
    WdfDeviceInitSetFileObjectConfigTableIndex = 71,
    WdfDeviceInitSetRequestAttributesTableIndex = 72,
    WdfDeviceInitSetIoInCallerContextCallbackTableIndex = 74,
    WdfDeviceCreateTableIndex = 75,
    WdfDeviceCreateSymbolicLinkTableIndex = 80,
    WdfDeviceEnqueueRequestTableIndex = 91,
    WdfDriverCreateTableIndex = 116,
    WdfFileObjectWdmGetFileObjectTableIndex = 140,
    WdfIoQueueCreateTableIndex = 152,
    WdfObjectGetTypedContextWorkerTableIndex = 202,
    WdfRequestUnmarkCancelableTableIndex = 256,
    WdfRequestCompleteTableIndex = 263,
    WdfRequestCompleteWithInformationTableIndex = 265,
    WdfRequestRetrieveInputBufferTableIndex = 269,
    WdfRequestRetrieveOutputBufferTableIndex = 270,
    WdfRequestRetrieveOutputWdmMdlTableIndex = 272,
    WdfRequestGetFileObjectTableIndex = 277,
    WdfRequestWdmGetIrpTableIndex = 285,
    WdfSpinLockCreateTableIndex = 315,
    WdfSpinLockAcquireTableIndex = 316,
    WdfSpinLockReleaseTableIndex = 317,
    WdfTimerCreateTableIndex = 318,
    WdfTimerStartTableIndex = 319,
    WdfTimerStopTableIndex = 320,
    WdfVerifierDbgBreakPointTableIndex = 367,
    WdfRequestMarkCancelableExTableIndex = 393,
    WdfGetTriageInfoTableIndex = 431,
    WdfFunctionTableNumEntries = 458,
);

// The enum values the runtime acts on (wdfdriver.h, wdfdevice.h, wdfio.h, wdfobject.h).
index!(
    WdfDriverInitNonPnpDriver = 1,
    WdfDeviceIoBuffered = 2,
    WdfFileObjectWdfCannotUseFsContexts = 4,
    WdfIoQueueDispatchParallel = 2,
    WdfExecutionLevelPassive = 2,
);
