//! x86_64: the native syscall table, and where syscall arguments sit in `struct pt_regs`.

pub use syscalls::x86_64::Sysno as Native;

/// The `struct pt_regs` members holding syscall arguments 0..4 (the syscall ABI's rdi, rsi,
/// rdx, r10).
pub const ARG_REGISTERS: [&str; 4] = ["di", "si", "dx", "r10"];

/// The 32-bit (ia32) table compat tasks use.
pub use syscalls::x86::Sysno as Compat;

/// The `struct pt_regs` member holding the syscall number through the call.
pub const NR_REGISTER: &str = "orig_ax";

/// Where a compat syscall shows: (struct, member, bit) of the task's `thread_info`
/// (`TS_COMPAT` in `status`, set on entry through the ia32 gates).
pub const COMPAT_MARK: (&str, &str, u32) = ("thread_info", "status", 0x0002);
