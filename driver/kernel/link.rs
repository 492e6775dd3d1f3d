// The link flags that make a cdylib a kernel driver image (x86_64-pc-windows-msvc, lld-link):
// `include!`d by the build scripts of the drivers that use `wskrs-kernel`, which call
// `link_as_kernel_driver()` from their `main`.

/// Tells cargo to link the cdylib as a kernel driver (`DriverEntry`, native subsystem, no
/// default libraries) when building for a Windows MSVC target.
fn link_as_kernel_driver() {
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.ends_with("windows-msvc") {
        for arg in [
            "/DRIVER",
            "/SUBSYSTEM:NATIVE",
            "/ENTRY:DriverEntry",
            "/NODEFAULTLIB",
        ] {
            println!("cargo:rustc-cdylib-link-arg={arg}");
        }
    }
}
