//! Fuzzes the snapshot reader (`bulwark collect` files, `audit --snapshot`).
//! A snapshot or a typed error, never a panic; what was read re-encodes to the same.
//! The checks: `bulwark_fuzz::snapshot`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    bulwark_fuzz::snapshot(data);
});
