//! Syscall names and numbers of the architecture Bulwark is built for, compiled in (from the
//! `syscalls` crate's tables of the kernel ABI) so that what the probes report never depends
//! on headers installed on the audited host. One module per supported architecture; the
//! build fails on any other.

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "x86_64")]
mod x86_64;

#[cfg(target_arch = "aarch64")]
pub use aarch64::*;
#[cfg(target_arch = "x86_64")]
pub use x86_64::*;

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("Bulwark's probes know the syscall tables of x86_64 and aarch64 only");

use std::borrow::Cow;

/// The name of a native syscall number (`syscall_N` for one this table does not know).
pub fn name(nr: i64) -> Cow<'static, str> {
    usize::try_from(nr)
        .ok()
        .and_then(Native::new)
        .map(|s| Cow::Borrowed(s.name()))
        .unwrap_or_else(|| Cow::Owned(format!("syscall_{nr}")))
}

/// The name of a compat (32-bit) syscall number, from the compat table of this
/// architecture (`compat_syscall_N` for one it does not know).
pub fn compat_name(nr: i64) -> Cow<'static, str> {
    usize::try_from(nr)
        .ok()
        .and_then(Compat::new)
        .map(|s| Cow::Borrowed(s.name()))
        .unwrap_or_else(|| Cow::Owned(format!("compat_syscall_{nr}")))
}

/// The native number of a syscall by name.
pub fn number(name: &str) -> Option<u32> {
    name.parse::<Native>().ok().map(|s| s.id() as u32)
}

/// Syscalls whose entry and exit become events (the rest are only counted).
pub const WATCHED: &[&str] = &[
    "chmod",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "ptrace",
    "setuid",
    "setgid",
    "setreuid",
    "setregid",
    "setresuid",
    "setresgid",
    "setfsuid",
    "setfsgid",
    "capset",
    "mount",
    "umount2",
    "init_module",
    "finit_module",
    "unshare",
    "setns",
    "bpf",
];

/// The syscalls of [`WATCHED`] this architecture has, with their numbers (arm64 has no
/// `chmod`, only the `*at` forms).
pub fn watched() -> Vec<(u32, &'static str)> {
    WATCHED
        .iter()
        .filter_map(|n| number(n).map(|nr| (nr, *n)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_round_trip() {
        for (nr, n) in watched() {
            assert_eq!(name(nr as i64), n);
        }
        #[cfg(target_arch = "x86_64")]
        assert_eq!(
            compat_name(20),
            "getpid",
            "ia32 numbers differ from x86_64's"
        );
        assert_eq!(
            number("capset").map(|n| name(n as i64)),
            Some("capset".into())
        );
        assert_eq!(name(-1), "syscall_-1");
        assert_eq!(name(100_000), "syscall_100000");
        // Everything recent enough to matter is known (mseal is Linux 6.10).
        assert!(number("mseal").is_some());
        assert!(number("execve").is_some() && number("execveat").is_some());
    }
}
