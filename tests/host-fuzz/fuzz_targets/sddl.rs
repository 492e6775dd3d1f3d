//! libFuzzer entry of the `sddl` target ([`wskrs_host_fuzz::sddl`]).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wskrs_host_fuzz::sddl::check(data));
