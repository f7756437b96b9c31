//! Fuzz target `template`: see `vps_provider_fuzz::template` (fuzz/src/lib.rs) for the input's shape
//! and what is checked; the regression test replays saved inputs through the same function.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vps_provider_fuzz::template(data));
