//! Kernel plumbing shared by the WDM shell (`wskrs.sys`) and the conformance driver
//! (`wskrs-conformance.sys`): what both need around their dispatch logic, in one place.
//!
//! - [`ControlDevice`] / [`ControlDeviceSlot`]: a named control device (its DACL applied as
//!   `IoCreateDeviceSecure` does, [`set_device_dacl`]) and its symbolic link, owned together
//!   and deleted together (link first) on drop.
//! - [`DispatchTable`]: the routines a driver fills in `DriverEntry`.
//! - [`current_process_user`]: who opens a handle (the token user SID), for IRP_MJ_CREATE.
//! - [`CancelSpinLockGuard`]: the I/O manager's global cancel spin lock, released on drop at
//!   the IRQL it was acquired from.
//! - [`complete_irp`]: sets an IRP's `IoStatus` and completes it.
//! - [`bug_check_on_panic`]: the body of a `#[panic_handler]`; bug checks as `wdk-panic` does,
//!   keeping the panic's location; [`driver_image_items!`] defines the handler (and
//!   `_fltused`) in a driver image.
//! - `link.rs` (not a module: `include!`d by the drivers' build scripts): the link flags that
//!   make a cdylib a kernel driver image.
//!
//! The KMDF shell (`driver/kmdf`) uses only [`current_process_user`] (in EvtDeviceFileCreate):
//! it is built against `wdk-sys`'s types, not `wsk-bindings`', creates its device through WDF
//! objects (which own their own deletion) and takes `wdk-panic`'s handler, whose bug check
//! [`bug_check_on_panic`] matches.
#![no_std]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

mod cancel;
mod device;
mod dispatch;
mod identity;
mod irp;
mod panic;

pub use cancel::CancelSpinLockGuard;
pub use device::{
    query_device_dacl, set_device_dacl, ControlDevice, ControlDeviceSlot, ControlDeviceSpec,
};
pub use dispatch::{DispatchRoutine, DispatchTable, UnloadRoutine};
pub use identity::current_process_user;
pub use irp::complete_irp;
pub use panic::{bug_check_on_panic, BugCheck, RUST_PANIC_BUGCHECK_CODE};
