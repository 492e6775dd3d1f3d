//! Link arguments that make the cdylib a kernel driver image: a native-subsystem driver whose
//! entry point is `DriverEntry`, without the user-mode C runtime.
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
    // The echo server's address is read at build time (see src/lib.rs).
    println!("cargo:rerun-if-env-changed=ECHO_SERVER");
}
