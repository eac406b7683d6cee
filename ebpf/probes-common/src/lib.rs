//! What Bulwark's eBPF probes and the host share: the records written to the ring buffer,
//! the keys of the in-kernel counts, the layout of the configuration array the host fills
//! (tracepoint field offsets and kernel struct offsets read from tracefs and BTF at load
//! time), and the per-number action tables.
#![no_std]

/// What a record reports (its `kind` field holds `Kind as u32`). The one list of record
/// kinds: the probes write them, the host reads them with [`Kind::from_raw`].
#[repr(u32)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// `sched_process_exec` (an [`ExecEvent`]): `path` and `argv` are set; `args[0]` is
    /// the effective uid after the exec, `args[1]` the effective gid.
    Exec = 1,
    /// `sched_process_fork`: `args[0]` the parent pid, `args[1]` the child's.
    Fork = 2,
    Exit = 3,
    /// A syscall the host asked for, on entry: `nr` and `args` are set.
    Syscall = 4,
    /// The same syscall on exit: `nr` and `ret` are set.
    SyscallExit = 5,
    /// `capability/cap_capable`: `nr` is the capability, `ret` 0 when granted.
    Capable = 6,
    /// `task/task_newtask` creating namespaces: `args[0]` the clone flags, `args[1]` the
    /// new task's pid.
    NewTask = 7,
    /// `module/module_load`: the module's name in `path` (an [`ExecEvent`]).
    ModuleLoad = 8,
    /// `cgroup/cgroup_mkdir` of a container's cgroup: its id in `cgroup`, its path in
    /// `path` (an [`ExecEvent`]). For the host's attribution; never shown to rules.
    CgroupMkdir = 9,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Exec,
        Kind::Fork,
        Kind::Exit,
        Kind::Syscall,
        Kind::SyscallExit,
        Kind::Capable,
        Kind::NewTask,
        Kind::ModuleLoad,
        Kind::CgroupMkdir,
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
            Kind::NewTask => "new-task",
            Kind::ModuleLoad => "module-load",
            Kind::CgroupMkdir => "cgroup-mkdir",
        }
    }

    /// Whether records of this kind carry the [`ExecEvent`] tail.
    pub fn has_tail(self) -> bool {
        matches!(self, Kind::Exec | Kind::ModuleLoad | Kind::CgroupMkdir)
    }
}

/// Bytes of a path (exec'd file, module name, cgroup path) kept in a record.
pub const PATH_LEN: usize = 256;
/// Bytes of the head of argv kept for an exec: the arguments as the process sees them,
/// NUL-separated.
pub const ARGV_LEN: usize = 256;

/// One record, as the probes write it (`repr(C)`, read by the host with
/// `read_unaligned`). Records of the kinds with a tail are an [`ExecEvent`].
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Event {
    /// A [`Kind`], as `u32`.
    pub kind: u32,
    /// Thread-group id (the process id as user space sees it).
    pub pid: u32,
    pub tid: u32,
    /// The task's real uid.
    pub uid: u32,
    /// cgroup v2 id of the task (the inode of its cgroup directory).
    pub cgroup: u64,
    /// bpf_ktime_get_ns at the event.
    pub ktime: u64,
    pub nr: i64,
    pub ret: i64,
    pub args: [u64; 4],
    pub comm: [u8; 16],
}

/// A record with a path and an argv head.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ExecEvent {
    pub event: Event,
    pub path: [u8; PATH_LEN],
    pub argv: [u8; ARGV_LEN],
}

/// Key of the per-(cgroup, syscall) counters beyond the per-CPU rows (native entries of
/// watched cgroups beyond the rows, and everything with [`count_flags`]).
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct CountKey {
    pub cgroup: u64,
    pub nr: u32,
    /// [`count_flags`]: which ABI's numbers, entries or refusals.
    pub flags: u32,
}

/// What a [`CountKey`] counts.
pub mod count_flags {
    /// A compat (32-bit) syscall: `nr` is in the compat table, not the native one.
    pub const COMPAT: u32 = 1;
    /// Not an entry but an exit with `-EPERM`, seen on `raw_syscalls/sys_exit` (`profile
    /// verify`): a seccomp filter's refusal skips `sys_enter` and still reaches the exit.
    pub const EPERM_EXIT: u32 = 2;
    /// Made by the runtime setting the container up: a process that has not executed a
    /// program in the container, nor descends from one that has (with `COUNT_PHASES`).
    pub const RUNTIME: u32 = 4;
    /// With [`RUNTIME`]: the task had a seccomp filter loaded (its syscalls after the
    /// runtime loaded the container's filter, which a profile must allow).
    pub const FILTERED: u32 = 8;
}

/// Key of the per-(cgroup, capability, result) counters of capability checks.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct CapKey {
    pub cgroup: u64,
    pub cap: u32,
    /// [`cap_flags`].
    pub flags: u32,
}

/// What a capability check was, in a [`CapKey`].
pub mod cap_flags {
    /// Refused (otherwise granted).
    pub const DENIED: u32 = 1;
    /// A probe that is not audited (`ns_capable_noaudit`, `has_capability_noaudit`, the
    /// memory-overcommit check, ...), found by its caller on the kernel stack: the kernel
    /// asking what the task could do, not the task needing it.
    pub const NOAUDIT: u32 = 2;
    /// Made by a process that has not executed a program in the container, nor descends
    /// from one that has: the runtime setting the container up.
    pub const BEFORE_EXEC: u32 = 4;
    /// Made with credentials that are not the task's own: the kernel acting for someone
    /// else (overlayfs copies up and reads its xattrs with the mounter's credentials).
    pub const OTHER_CRED: u32 = 8;
}

/// Kernel functions whose capability checks are not audited probes, as (start, end) address
/// pairs in the `NOAUDIT` array; a zero pair matches nothing.
pub const NOAUDIT_RANGES: u32 = 6;
/// Kernel stack frames looked at for a [`NOAUDIT_RANGES`] caller.
pub const NOAUDIT_FRAMES: usize = 8;

/// Indices into the `CONFIG` array (u32 each), filled by the host before anything is
/// attached.
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
    /// syscalls/sys_enter_<name>: `__syscall_nr` (int) and the first of the arguments,
    /// 8 bytes apart.
    pub const ENTER_ID: u32 = 8;
    pub const ENTER_ARG0: u32 = 9;
    /// Wake the reader once this many bytes wait in the ring buffer (it also drains on
    /// its own schedule), rather than on every event.
    pub const WAKEUP_BYTES: u32 = 10;
    /// sched/sched_process_exec: `old_pid`.
    pub const EXEC_OLD_PID: u32 = 11;
    /// Offsets in `struct task_struct` of `cred` and `mm`, in `struct cred` of `euid` and
    /// `egid`, in `struct mm_struct` of `arg_start` and `arg_end` (from BTF).
    pub const TASK_CRED: u32 = 12;
    pub const TASK_MM: u32 = 13;
    pub const CRED_EUID: u32 = 14;
    pub const CRED_EGID: u32 = 15;
    pub const MM_ARG_START: u32 = 16;
    pub const MM_ARG_END: u32 = 17;
    /// task/task_newtask: `pid`, `clone_flags`.
    pub const NEWTASK_PID: u32 = 18;
    pub const NEWTASK_FLAGS: u32 = 19;
    /// cgroup/cgroup_mkdir: `root`, `id`, `path` (__data_loc).
    pub const MKDIR_ROOT: u32 = 20;
    pub const MKDIR_ID: u32 = 21;
    pub const MKDIR_PATH: u32 = 22;
    /// module/module_load: `name` (__data_loc).
    pub const MODULE_NAME: u32 = 23;
    /// Nonzero: count every capability check of a watched cgroup in `CAP_COUNTS` (for
    /// `audit --observe` and `profile`; `watch` needs only the events its rules ask for).
    pub const COUNT_CAPS: u32 = 24;
    /// Offsets in `struct pt_regs` of syscall arguments 0..4 (`REG_ARG0 + i`), for the
    /// syscalls this kernel has no tracepoints for (seen on `raw_syscalls/sys_enter`).
    pub const REG_ARG0: u32 = 25;
    /// Offset in `struct task_struct` of the word telling a compat syscall (x86_64:
    /// `thread_info.status`), and the bit that does (`TS_COMPAT`); 0 when not told apart.
    /// Only read when counting for `profile` (see [`COUNT_COMPAT`]).
    pub const TASK_COMPAT_WORD: u32 = 29;
    pub const COMPAT_MASK: u32 = 30;
    /// Nonzero: tell compat syscalls apart in the counts.
    pub const COUNT_COMPAT: u32 = 31;
    /// Offset in `struct pt_regs` of the syscall number (`orig_ax`, arm64 `syscallno`), for
    /// `raw_syscalls/sys_exit`, which is not given it.
    pub const REG_NR: u32 = 32;
    /// Nonzero: look for the callers in `NOAUDIT` on capability checks.
    pub const NOAUDIT_ON: u32 = 33;
    /// capability/cap_capable: `cred` (the credentials checked); `struct task_struct`:
    /// `real_cred` (the task's own), from BTF. Nonzero `TASK_REAL_CRED` turns on telling a
    /// check of the task's own credentials from one made with others (see
    /// `cap_flags::OTHER_CRED`).
    pub const CAP_CRED: u32 = 34;
    pub const TASK_REAL_CRED: u32 = 35;
    /// Nonzero: count the runtime's syscalls apart (see `count_flags::RUNTIME`), and mark
    /// the container's own processes at exec.
    pub const COUNT_PHASES: u32 = 36;
    /// Offset in `struct task_struct` of `seccomp.mode` (from BTF).
    pub const TASK_SECCOMP_MODE: u32 = 37;
    /// Nonzero: a task whose cgroup is not watched is also looked up by its PID namespace
    /// (`PIDNS_KEY | inum`), for engines that give containers no cgroup of their own
    /// (rootless Docker without systemd). Offsets from BTF: `task_struct.nsproxy`,
    /// `nsproxy.pid_ns_for_children`, and `pid_namespace.ns` + `ns_common.inum`.
    pub const PIDNS_ON: u32 = 38;
    pub const TASK_NSPROXY: u32 = 39;
    pub const NSPROXY_PIDNS: u32 = 40;
    pub const PIDNS_INUM: u32 = 41;
    pub const LEN: u32 = 42;
}

/// Marks a filter key that is a PID namespace's inode number, not a cgroup id (cgroup ids
/// never have the top bit set).
pub const PIDNS_KEY: u64 = 1 << 63;

/// Syscall numbers counted (the per-cgroup counts ignore anything above).
pub const MAX_SYSCALLS: u32 = 512;

/// What the syscall programs do with a syscall number (the `SYSCALLS` array).
pub mod action {
    /// Nothing but counting (when counting is on).
    pub const COUNT: u8 = 0;
    /// A `Syscall` event with the first four arguments (and `SyscallExit` with the result).
    pub const EVENT: u8 = 1;
    /// A `Syscall` event from `raw_syscalls/sys_enter`, for a syscall without tracepoints
    /// of its own (compiled out of this kernel: only the attempt is seen).
    pub const RAW_EVENT: u8 = 2;
}

/// What `cap_capable` does with a capability (the `CAPS` array, bit flags). Every check of
/// a watched cgroup is counted in the kernel; these choose which become events.
pub mod cap_action {
    /// An event when the capability is granted.
    pub const GRANTED: u8 = 1;
    /// An event when it is denied.
    pub const DENIED: u8 = 2;
}

/// Capabilities the `CAPS` array covers (`CAP_LAST_CAP` is 40 on 6.x kernels).
pub const MAX_CAPS: u32 = 64;

/// Namespace flags of `clone(2)` (`CLONE_NEW*`): a new task created with any of them is
/// reported as a [`Kind::NewTask`].
pub const CLONE_NEW_MASK: u64 = 0x0000_0080 // CLONE_NEWTIME
    | 0x0002_0000 // CLONE_NEWNS
    | 0x0200_0000 // CLONE_NEWCGROUP
    | 0x0400_0000 // CLONE_NEWUTS
    | 0x0800_0000 // CLONE_NEWIPC
    | 0x1000_0000 // CLONE_NEWUSER
    | 0x2000_0000 // CLONE_NEWPID
    | 0x4000_0000; // CLONE_NEWNET

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

/// Indices into the `STATE` array (u64 each), which the probes and the host both write.
pub mod state {
    /// Nonzero while cgroups created since the host last looked wait in `PENDING`: only
    /// then does a task that is not watched cost a lookup there.
    pub const PENDING_ANY: u32 = 0;
    pub const LEN: u32 = 1;
}
