//! What Bulwark's eBPF probes and the host share: the event record written to the ring
//! buffer, the keys of the in-kernel syscall counts, and the layout of the configuration
//! array the host fills (tracepoint field offsets read from tracefs at load time).
#![no_std]

/// What an [`Event`] reports (its `kind` field holds `Kind as u32`). The one list of event
/// kinds: the probes write them, the host reads them with [`Kind::from_raw`].
#[repr(u32)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// `sched_process_exec`: `path` and `argv` are set.
    Exec = 1,
    /// `sched_process_fork`: `args[0]` the parent pid, `args[1]` the child's.
    Fork = 2,
    Exit = 3,
    /// A syscall the host marked interesting, on entry: `nr` and `args` are set.
    Syscall = 4,
    /// The same syscall on exit: `nr` and `ret` are set.
    SyscallExit = 5,
    /// `capability/cap_capable`: `nr` is the capability, `ret` 0 when granted.
    Capable = 6,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Exec,
        Kind::Fork,
        Kind::Exit,
        Kind::Syscall,
        Kind::SyscallExit,
        Kind::Capable,
    ];

    /// The kind of a raw `kind` field; `None` for a value no probe writes.
    pub fn from_raw(raw: u32) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| *k as u32 == raw)
    }

    /// Its name in reports and metrics labels.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Exec => "exec",
            Kind::Fork => "fork",
            Kind::Exit => "exit",
            Kind::Syscall => "syscall",
            Kind::SyscallExit => "syscall-exit",
            Kind::Capable => "capable",
        }
    }
}

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
    /// A [`Kind`], as `u32`.
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

/// Indices into the `CONFIG` array (u32 each): tracepoint field offsets, and where a
/// syscall's arguments sit in the kernel's `struct pt_regs` (read from BTF at load time).
pub mod cfg {
    /// syscalls/sys_exit_<name>: `__syscall_nr` (int), `ret`.
    pub const EXIT_ID: u32 = 0;
    pub const EXIT_RET: u32 = 1;
    /// sched/sched_process_exec: `filename` (__data_loc).
    pub const EXEC_FILENAME: u32 = 2;
    /// sched/sched_process_fork: `parent_pid`, `child_pid`.
    pub const FORK_PARENT: u32 = 3;
    pub const FORK_CHILD: u32 = 4;
    /// capability/cap_capable: `cap`, `ret`.
    pub const CAP_CAP: u32 = 5;
    pub const CAP_RET: u32 = 6;
    /// The syscall number of capset (its data is read from user memory).
    pub const NR_CAPSET: u32 = 7;
    /// Offsets in `struct pt_regs` of syscall arguments 0..4 (`REG_ARG0 + i`).
    pub const REG_ARG0: u32 = 8;
    /// Wake the reader once this many bytes wait in the ring buffer (it also drains on
    /// its own schedule), rather than on every event.
    pub const WAKEUP_BYTES: u32 = 12;
    /// sched/sched_process_exec: `old_pid`, the thread that called execve (a non-leader
    /// thread's exec takes over the leader's pid).
    pub const EXEC_OLD_PID: u32 = 13;
    pub const LEN: u32 = 14;
}

/// Syscall numbers counted (the per-cgroup counts ignore anything above).
pub const MAX_SYSCALLS: u32 = 512;

/// What the sys_enter program does with a syscall number besides counting it (the
/// `SYSCALLS` array, filled by the host).
pub mod action {
    /// Only counted.
    pub const COUNT: u8 = 0;
    /// A `SYSCALL` event with the first four arguments.
    pub const EVENT: u8 = 1;
    /// An exec: keep the argv head (argument 1, execve) for the exec event.
    pub const ARGV_1: u8 = 2;
    /// The same with argv in argument 2 (execveat).
    pub const ARGV_2: u8 = 3;
}

/// Entries of the direct-mapped table of watched cgroups (a power of two): cgroup `c`
/// lives at `c & (DIRECT_LEN - 1)` unless another took that entry first.
pub const DIRECT_LEN: u32 = 4096;
/// `Watched::slot` of a cgroup whose counts go to the spill hash (all slots taken).
pub const NO_SLOT: u32 = u32::MAX;
/// `Watched::flags`: some cgroup with this index lives in the overflow hash.
pub const OVERFLOWED: u32 = 1;

/// One entry of the direct-mapped table: a watched cgroup and its row in the counts.
#[repr(C)]
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Watched {
    /// 0: empty (no cgroup has id 0).
    pub cgroup: u64,
    /// Row of the per-CPU counts array (`slot * MAX_SYSCALLS + nr`), or `NO_SLOT`.
    pub slot: u32,
    pub flags: u32,
}
