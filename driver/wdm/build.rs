//! Link flags that make the cdylib a kernel driver image (shared with the conformance driver:
//! `driver/kernel/link.rs`).
include!("../kernel/link.rs");

fn main() {
    link_as_kernel_driver();
}
