//! Fuzzes mountinfo → cgroup2 mount, /proc/PID/cgroup → v2 path, cgroup path → container ids.
//! Each found where the text has it; container ids are 64 hex digits of the path.
//! The checks: `bulwark_fuzz::mountinfo_cgroup`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    bulwark_fuzz::mountinfo_cgroup(data);
});
