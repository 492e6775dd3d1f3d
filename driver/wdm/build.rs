//! Link flags that make the cdylib a kernel driver image (x86_64-pc-windows-msvc, lld-link).
fn main() {
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
