//! Fuzzes the SDK's reading of dockerd's argv and daemon.json (and Podman's containers.conf).
//! Options or an error blaming the daemon.json; the command line wins, last flag first.
//! The checks: `bulwark_fuzz::daemon_options`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    bulwark_fuzz::daemon_options(data);
});
