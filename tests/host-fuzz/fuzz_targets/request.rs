//! libFuzzer entry of the `request` target ([`wskrs_host_fuzz::request`]).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wskrs_host_fuzz::request::check(data));
