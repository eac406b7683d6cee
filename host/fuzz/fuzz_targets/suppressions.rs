//! Fuzzes the suppression file parser (`.bulwarkignore`) and applying it to findings.
//! Suppressions or a typed error naming the line; only unexpired, covering ones apply.
//! The checks: `bulwark_fuzz::suppressions`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    bulwark_fuzz::suppressions(data);
});
