//! Fuzzes the `-c`/`-e` check selectors, `-i`/`-x` name patterns, `-t` labels and `--grant`.
//! Refused or safe: selectors name only id characters; excluding the included leaves nothing.
//! The checks: `bulwark_fuzz::selectors`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    bulwark_fuzz::selectors(data);
});
