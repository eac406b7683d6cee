//! What Bulwark's eBPF probes and the host share: the event record written to the ring
//! buffer, the keys of the in-kernel syscall counts, and the layout of the configuration
//! array the host fills (tracepoint field offsets read from tracefs at load time).
#![no_std]

/// Kinds of [`Event`].
pub const EXEC: u32 = 1;
pub const FORK: u32 = 2;
pub const EXIT: u32 = 3;
/// A syscall the host marked interesting, on entry: `nr` and `args` are set.
pub const SYSCALL: u32 = 4;
/// The same syscall on exit: `nr` and `ret` are set.
pub const SYSCALL_EXIT: u32 = 5;
/// `capability/cap_capable`: `nr` is the capability, `ret` 0 when granted.
pub const CAPABLE: u32 = 6;

pub const PATH_LEN: usize = 128;
/// The argv head of an exec: up to `ARGV_ARGS` arguments of up to `ARGV_ARG_LEN` bytes
/// each (NUL-terminated within their slot).
pub const ARGV_ARGS: usize = 4;
pub const ARGV_ARG_LEN: usize = 32;
pub const ARGV_LEN: usize = ARGV_ARGS * ARGV_ARG_LEN;

/// One event, as the probes write it (`repr(C)`, read by the host with `read_unaligned`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Event {
    pub kind: u32,
    /// Thread-group id (the process id as user space sees it).
    pub pid: u32,
    pub tid: u32,
    pub uid: u32,
    /// cgroup v2 id of the task (the inode of its cgroup directory).
    pub cgroup: u64,
    /// bpf_ktime_get_ns at the event.
    pub ktime: u64,
    pub nr: i64,
    pub ret: i64,
    pub args: [u64; 4],
    pub comm: [u8; 16],
    /// EXEC: the file executed. SYSCALL capset: unused.
    pub path: [u8; PATH_LEN],
    /// EXEC: the head of its argv (see `ARGV_ARGS`).
    pub argv: [u8; ARGV_LEN],
}

/// Key of the per-(cgroup, syscall) counters.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct CountKey {
    pub cgroup: u64,
    pub nr: u32,
    pub _pad: u32,
}

/// Indices into the `CONFIG` array (u32 each): tracepoint field offsets.
pub mod cfg {
    /// syscalls/sys_enter_<name>: `__syscall_nr` (int), the first argument (then one
    /// 8-byte field per argument).
    pub const ENTER_ID: u32 = 0;
    pub const ENTER_ARGS: u32 = 1;
    /// syscalls/sys_exit_<name>: `__syscall_nr` (int), `ret`.
    pub const EXIT_ID: u32 = 2;
    pub const EXIT_RET: u32 = 3;
    /// sched/sched_process_exec: `filename` (__data_loc).
    pub const EXEC_FILENAME: u32 = 4;
    /// sched/sched_process_fork: `parent_pid`, `child_pid`.
    pub const FORK_PARENT: u32 = 5;
    pub const FORK_CHILD: u32 = 6;
    /// capability/cap_capable: `cap`, `ret`.
    pub const CAP_CAP: u32 = 7;
    pub const CAP_RET: u32 = 8;
    /// The syscall number of capset (its data is read from user memory).
    pub const NR_CAPSET: u32 = 9;
    /// syscalls/sys_enter_execve: `argv`.
    pub const EXECVE_ARGV: u32 = 10;
    pub const LEN: u32 = 11;
}

/// Syscall numbers counted (the per-cgroup counts ignore anything above).
pub const MAX_SYSCALLS: u32 = 512;
