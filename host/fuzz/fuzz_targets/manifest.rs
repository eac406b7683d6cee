//! Fuzzes the plugin manifest parser (the `bulwark-manifest` section).
//! A manifest or a typed error; a parsed manifest round-trips and provides its checks.
//! The checks: `bulwark_fuzz::manifest`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    bulwark_fuzz::manifest(data);
});
