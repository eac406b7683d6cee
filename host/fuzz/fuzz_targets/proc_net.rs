//! Fuzzes the /proc/net/tcp and tcp6 parsers (listening sockets).
//! Never a panic; every address found is an IPv4 or IPv6 address of the width written.
//! The checks: `bulwark_fuzz::proc_net`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    bulwark_fuzz::proc_net(data);
});
