//! aarch64: the native syscall table, and where syscall arguments sit in `struct pt_regs`.

pub use syscalls::aarch64::Sysno as Native;

/// The `struct pt_regs` members holding syscall arguments 0..4. The first is `orig_x0`
/// (x0 becomes the return value); the others are elements of the `regs` array.
pub const ARG_REGISTERS: [&str; 4] = ["orig_x0", "regs[1]", "regs[2]", "regs[3]"];

/// The 32-bit (arm) table compat tasks use.
pub use syscalls::arm::Sysno as Compat;

/// The `struct pt_regs` member holding the syscall number through the call.
pub const NR_REGISTER: &str = "syscallno";

/// Where a compat task shows: (struct, member, bit) of its `thread_info` (`TIF_32BIT`).
pub const COMPAT_MARK: (&str, &str, u32) = ("thread_info", "flags", 1 << 22);
