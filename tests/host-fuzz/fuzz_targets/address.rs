//! libFuzzer entry of the `address` target ([`wskrs_host_fuzz::address`]).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wskrs_host_fuzz::address::check(data));
