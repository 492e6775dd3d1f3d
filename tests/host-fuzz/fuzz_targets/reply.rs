//! libFuzzer entry of the `reply` target ([`wskrs_host_fuzz::reply`]).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wskrs_host_fuzz::reply::check(data));
