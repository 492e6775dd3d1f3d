//! libFuzzer entry of the `client` target ([`wskrs_host_fuzz::client`]).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wskrs_host_fuzz::client::check(data));
