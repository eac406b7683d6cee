//! Fuzzes the plugin loader's checks on a component's bytes, before any of its code runs.
//! Admitted or a typed refusal; an admitted third-party plugin has a manifest for this ABI.
//! The checks: `bulwark_fuzz::component`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    bulwark_fuzz::component(data);
});
