//! libFuzzer entry of the `sid` target ([`wskrs_host_fuzz::sid`]).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wskrs_host_fuzz::sid::check(data));
