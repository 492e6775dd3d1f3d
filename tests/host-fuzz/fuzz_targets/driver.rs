//! libFuzzer entry of the `driver` target ([`wskrs_host_fuzz::driver`]).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wskrs_host_fuzz::driver::check(data));
