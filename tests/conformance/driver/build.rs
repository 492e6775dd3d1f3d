//! Link flags that make the cdylib a kernel driver image (shared with the WDM shell:
//! `driver/kernel/link.rs`).
include!("../../../driver/kernel/link.rs");

fn main() {
    link_as_kernel_driver();
}
