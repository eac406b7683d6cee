//! Fuzzes the report writers: the DBS log (`-l FILE.json`), the text report, JSON and SARIF.
//! The DBS log is valid JSON, one result per finding; the text shows no raw control character.
//! The checks: `bulwark_fuzz::dbs_log`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    bulwark_fuzz::dbs_log(data);
});
