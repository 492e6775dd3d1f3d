//! Configures the driver link (KMDF stub library, `/DRIVER`, entry point, WDK library paths)
//! from the WDK that wdk-build finds (`WDKContentRoot`, or the eWDK environment).
fn main() -> Result<(), wdk_build::ConfigError> {
    wdk_build::configure_wdk_binary_build()
}
