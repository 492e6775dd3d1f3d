//! The function table the runtime hands to a bound driver: KMDF 1.33's 458 slots, each DDI
//! the runtime implements at Microsoft's index, every other slot a trap.
// On the host (tests only) the traps and names are used by the tests alone.
#![cfg_attr(not(windows), allow(dead_code))]

#[cfg(windows)]
use crate::sys;

include!(concat!(env!("OUT_DIR"), "/ddi_names.rs"));

/// One implemented DDI: its name, the `PFN_` type its function was checked against, its index.
#[derive(Debug, Clone, Copy)]
pub struct Ddi {
    /// `WdfDriverCreate`.
    pub name: &'static str,
    /// `PFN_WDFDRIVERCREATE`.
    pub pfn: &'static str,
    /// `_WDFFUNCENUM::WdfDriverCreateTableIndex`.
    pub index_name: &'static str,
    /// Its position in the table.
    pub index: usize,
}

/// Declares the implemented DDIs once: the metadata list (host tests read it) and, on Windows,
/// the table installer, where each function is assigned to its `PFN_` type first (so its
/// signature is checked against wdf.h by the compiler) and then stored as a `WDFFUNC`.
macro_rules! ddis {
    ($($name:ident [$index:ident] : $pfn:ident = $func:path;)*) => {
        /// Every DDI the runtime implements.
        pub const IMPLEMENTED: &[Ddi] = &[$(Ddi {
            name: stringify!($name),
            pfn: stringify!($pfn),
            index_name: stringify!($index),
            index: crate::sys::$index as usize,
        }),*];

        /// Puts the implemented DDIs in their slots.
        #[cfg(windows)]
        fn install(table: &mut [sys::WDFFUNC; 458]) {
            $(
                let typed: sys::$pfn = Some($func);
                // SAFETY: a function pointer of the DDI's exact PFN type, stored as the
                // table's generic function pointer; the driver calls it through the same
                // PFN type (wdk-sys's macro casts the slot back), so the signature matches.
                let generic = unsafe { core::mem::transmute::<sys::$pfn, sys::WDFFUNC>(typed) };
                if let Some(slot) = table.get_mut(sys::$index as usize) {
                    *slot = generic;
                }
            )*
        }
    };
}

ddis! {
    WdfControlDeviceInitAllocate[WdfControlDeviceInitAllocateTableIndex]: PFN_WDFCONTROLDEVICEINITALLOCATE = crate::device::control_device_init_allocate;
    WdfControlFinishInitializing[WdfControlFinishInitializingTableIndex]: PFN_WDFCONTROLFINISHINITIALIZING = crate::device::control_finish_initializing;
    WdfDeviceWdmGetDeviceObject[WdfDeviceWdmGetDeviceObjectTableIndex]: PFN_WDFDEVICEWDMGETDEVICEOBJECT = crate::device::wdm_get_device_object;
    WdfDeviceInitFree[WdfDeviceInitFreeTableIndex]: PFN_WDFDEVICEINITFREE = crate::device::init_free;
    WdfDeviceInitSetIoType[WdfDeviceInitSetIoTypeTableIndex]: PFN_WDFDEVICEINITSETIOTYPE = crate::device::init_set_io_type;
    WdfDeviceInitSetDeviceType[WdfDeviceInitSetDeviceTypeTableIndex]: PFN_WDFDEVICEINITSETDEVICETYPE = crate::device::init_set_device_type;
    WdfDeviceInitAssignName[WdfDeviceInitAssignNameTableIndex]: PFN_WDFDEVICEINITASSIGNNAME = crate::device::init_assign_name;
    WdfDeviceInitSetCharacteristics[WdfDeviceInitSetCharacteristicsTableIndex]: PFN_WDFDEVICEINITSETCHARACTERISTICS = crate::device::init_set_characteristics;
    WdfDeviceInitSetFileObjectConfig[WdfDeviceInitSetFileObjectConfigTableIndex]: PFN_WDFDEVICEINITSETFILEOBJECTCONFIG = crate::device::init_set_file_object_config;
    WdfDeviceInitSetRequestAttributes[WdfDeviceInitSetRequestAttributesTableIndex]: PFN_WDFDEVICEINITSETREQUESTATTRIBUTES = crate::device::init_set_request_attributes;
    WdfDeviceCreate[WdfDeviceCreateTableIndex]: PFN_WDFDEVICECREATE = crate::device::create;
    WdfDeviceCreateSymbolicLink[WdfDeviceCreateSymbolicLinkTableIndex]: PFN_WDFDEVICECREATESYMBOLICLINK = crate::device::create_symbolic_link;
    WdfDriverCreate[WdfDriverCreateTableIndex]: PFN_WDFDRIVERCREATE = crate::driver::create;
    WdfFileObjectWdmGetFileObject[WdfFileObjectWdmGetFileObjectTableIndex]: PFN_WDFFILEOBJECTWDMGETFILEOBJECT = crate::device::file_object_wdm_get_file_object;
    WdfIoQueueCreate[WdfIoQueueCreateTableIndex]: PFN_WDFIOQUEUECREATE = crate::device::io_queue_create;
    WdfObjectGetTypedContextWorker[WdfObjectGetTypedContextWorkerTableIndex]: PFN_WDFOBJECTGETTYPEDCONTEXTWORKER = crate::request::object_get_typed_context_worker;
    WdfRequestUnmarkCancelable[WdfRequestUnmarkCancelableTableIndex]: PFN_WDFREQUESTUNMARKCANCELABLE = crate::request::unmark_cancelable;
    WdfRequestCompleteWithInformation[WdfRequestCompleteWithInformationTableIndex]: PFN_WDFREQUESTCOMPLETEWITHINFORMATION = crate::request::complete_with_information;
    WdfRequestRetrieveInputBuffer[WdfRequestRetrieveInputBufferTableIndex]: PFN_WDFREQUESTRETRIEVEINPUTBUFFER = crate::request::retrieve_input_buffer;
    WdfRequestRetrieveOutputBuffer[WdfRequestRetrieveOutputBufferTableIndex]: PFN_WDFREQUESTRETRIEVEOUTPUTBUFFER = crate::request::retrieve_output_buffer;
    WdfRequestRetrieveOutputWdmMdl[WdfRequestRetrieveOutputWdmMdlTableIndex]: PFN_WDFREQUESTRETRIEVEOUTPUTWDMMDL = crate::request::retrieve_output_wdm_mdl;
    WdfRequestGetFileObject[WdfRequestGetFileObjectTableIndex]: PFN_WDFREQUESTGETFILEOBJECT = crate::request::get_file_object;
    WdfSpinLockCreate[WdfSpinLockCreateTableIndex]: PFN_WDFSPINLOCKCREATE = crate::sync::spin_lock_create;
    WdfSpinLockAcquire[WdfSpinLockAcquireTableIndex]: PFN_WDFSPINLOCKACQUIRE = crate::sync::spin_lock_acquire;
    WdfSpinLockRelease[WdfSpinLockReleaseTableIndex]: PFN_WDFSPINLOCKRELEASE = crate::sync::spin_lock_release;
    WdfTimerCreate[WdfTimerCreateTableIndex]: PFN_WDFTIMERCREATE = crate::sync::timer_create;
    WdfTimerStart[WdfTimerStartTableIndex]: PFN_WDFTIMERSTART = crate::sync::timer_start;
    WdfTimerStop[WdfTimerStopTableIndex]: PFN_WDFTIMERSTOP = crate::sync::timer_stop;
    WdfVerifierDbgBreakPoint[WdfVerifierDbgBreakPointTableIndex]: PFN_WDFVERIFIERDBGBREAKPOINT = crate::driver::verifier_dbg_break_point;
    WdfRequestMarkCancelableEx[WdfRequestMarkCancelableExTableIndex]: PFN_WDFREQUESTMARKCANCELABLEEX = crate::request::mark_cancelable_ex;
    WdfGetTriageInfo[WdfGetTriageInfoTableIndex]: PFN_WDFGETTRIAGEINFO = crate::driver::get_triage_info;
    WdfDeviceInitSetIoInCallerContextCallback[WdfDeviceInitSetIoInCallerContextCallbackTableIndex]: PFN_WDFDEVICEINITSETIOINCALLERCONTEXTCALLBACK = crate::device::init_set_io_in_caller_context_callback;
    WdfDeviceEnqueueRequest[WdfDeviceEnqueueRequestTableIndex]: PFN_WDFDEVICEENQUEUEREQUEST = crate::request::device_enqueue_request;
    WdfRequestComplete[WdfRequestCompleteTableIndex]: PFN_WDFREQUESTCOMPLETE = crate::request::complete_request;
    WdfRequestWdmGetIrp[WdfRequestWdmGetIrpTableIndex]: PFN_WDFREQUESTWDMGETIRP = crate::request::wdm_get_irp;
}

/// The table every bound driver gets (built once: traps, then the implemented DDIs).
#[cfg(windows)]
pub(crate) fn get() -> &'static [sys::WDFFUNC; 458] {
    static TABLE: std::sync::OnceLock<[sys::WDFFUNC; 458]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table: [sys::WDFFUNC; 458] = TRAPS.map(Some);
        install(&mut table);
        table
    })
}

/// The slot of a DDI the runtime does not implement: says which one the driver called, then
/// bug-checks (WDF_VIOLATION, parameter 1 = the index), as a missing framework function
/// must never fail silently.
///
/// # Safety
/// Never returns; callable from anywhere.
#[cfg(windows)]
pub(crate) unsafe extern "C" fn trap<const N: usize>() {
    let name = DDI_NAMES.get(N).copied().unwrap_or("?");
    crate::log::violation(
        &format!(
            "the driver called {name} (KMDF function table index {N}), which this KMDF runtime \
             does not implement (tests/kmdf-runtime/README.md lists what it models)"
        ),
        N,
    );
}

/// Placeholder so non-Windows builds (host tests) can name `trap` in the generated table.
#[cfg(not(windows))]
pub(crate) unsafe extern "C" fn trap<const N: usize>() {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The `PFN_WDF*` function-pointer typedefs of wdf.h: the DDIs the shell can call (wdk-sys's
    /// macro needs the PFN type), so the ones the runtime must implement.
    fn pfn_typedefs_in_wdf_h() -> BTreeSet<String> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../driver/kmdf/linux-wdk/wdf.h"
        );
        let text = std::fs::read_to_string(path).expect("wdf.h is readable");
        let mut found = BTreeSet::new();
        for piece in text.split("typedef").skip(1) {
            // `RET (NTAPI *PFN_WDFXXX)(...)`: a DDI's function-pointer type (callbacks are
            // `PFN_WDF_...` with an underscore after WDF and are typedef'd differently).
            let Some(start) = piece.find("*PFN_WDF") else {
                continue;
            };
            let name: String = piece[start + 1..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let before = &piece[..start];
            if before.contains('(') && !name.starts_with("PFN_WDF_") {
                found.insert(name);
            }
        }
        found
    }

    #[test]
    fn every_pfn_type_in_wdf_h_is_implemented() {
        let declared = pfn_typedefs_in_wdf_h();
        assert!(declared.len() >= 31, "parsed only {declared:?}");
        let implemented: BTreeSet<String> = IMPLEMENTED.iter().map(|d| d.pfn.to_owned()).collect();
        let missing: Vec<_> = declared.difference(&implemented).collect();
        assert!(
            missing.is_empty(),
            "wdf.h declares DDIs the runtime lacks: {missing:?}"
        );
        let extra: Vec<_> = implemented.difference(&declared).collect();
        assert!(
            extra.is_empty(),
            "the runtime implements DDIs wdf.h has no PFN type for: {extra:?}"
        );
    }

    #[test]
    fn each_entry_pairs_name_pfn_and_index() {
        let mut indices = BTreeSet::new();
        for ddi in IMPLEMENTED {
            assert_eq!(
                ddi.pfn,
                format!("PFN_{}", ddi.name.to_uppercase()),
                "{ddi:?}"
            );
            assert_eq!(ddi.index_name, format!("{}TableIndex", ddi.name), "{ddi:?}");
            assert_eq!(DDI_NAMES[ddi.index], ddi.name, "{ddi:?}");
            assert!(indices.insert(ddi.index), "two DDIs at index {}", ddi.index);
        }
    }

    #[test]
    fn names_cover_the_whole_table() {
        assert_eq!(
            DDI_NAMES.len(),
            crate::sys::WdfFunctionTableNumEntries as usize
        );
        assert_eq!(DDI_NAMES[116], "WdfDriverCreate");
        assert_eq!(DDI_NAMES[457], "WdfDeviceSetDeviceInterfaceStateEx");
        let unique: BTreeSet<_> = DDI_NAMES.iter().collect();
        assert_eq!(unique.len(), 458);
    }
}
