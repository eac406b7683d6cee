//! Fuzzes the host's reading of audit rules (`auditctl -l` output, rules files).
//! Trimmed rule lines without blanks, comments or "No rules"; reading them again gives them.
//! The checks: `bulwark_fuzz::audit_rules`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    bulwark_fuzz::audit_rules(data);
});
