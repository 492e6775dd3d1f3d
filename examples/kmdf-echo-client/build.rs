//! The driver link (KMDF stub library, `/DRIVER`, `/SUBSYSTEM:NATIVE`, entry point
//! `FxDriverEntry`, the kit's libraries) from the WDK that wdk-build finds (`WDKContentRoot`,
//! or the eWDK environment). The echo server's address is read at build time (src/lib.rs).
fn main() -> Result<(), wdk_build::ConfigError> {
    println!("cargo:rerun-if-env-changed=ECHO_SERVER");
    wdk_build::configure_wdk_binary_build()
}
