//! x86_64: the native syscall table, and where syscall arguments sit in `struct pt_regs`.

pub use syscalls::x86_64::Sysno as Native;

/// The `struct pt_regs` members holding syscall arguments 0..4 (the syscall ABI's rdi, rsi,
/// rdx, r10).
pub const ARG_REGISTERS: [&str; 4] = ["di", "si", "dx", "r10"];
