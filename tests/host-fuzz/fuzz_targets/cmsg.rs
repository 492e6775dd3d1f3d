//! libFuzzer entry of the `cmsg` target ([`wskrs_host_fuzz::cmsg`]).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wskrs_host_fuzz::cmsg::check(data));
