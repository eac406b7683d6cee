//! Fuzzes the validators of what a plugin returns (verdicts, declared checks and rules, alerts).
//! Accepted or refused as garbage; what is accepted holds what the validator promises.
//! The checks: `bulwark_fuzz::findings`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    bulwark_fuzz::findings(data);
});
