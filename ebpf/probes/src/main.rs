//! Bulwark's kernel probes: tracepoints only (this kernel allows no kprobes, fentry or
//! LSM). Everything is filtered in the kernel to the cgroups the host watches (its
//! containers) and to what the loaded rules asked for; only those events cross to user
//! space, through one ring buffer whose reserve failures are counted. Tracepoint field
//! offsets and kernel struct offsets come from the host (read from tracefs and BTF).
//!
//! The host attaches only what its rules need, cheapest first: process lifecycle, capability
//! checks, namespace-creating clones and module loads are off the syscall path; per-syscall
//! tracepoints and the all-syscall counter on `raw_syscalls/sys_enter` put every syscall of
//! every process on the kernel's tracing path, so they are attached only when asked for.
//! The `floor_*` programs return at once: the benchmark attaches them to the same points to
//! measure what the kernel charges before Bulwark's code runs.
#![no_std]
#![no_main]

use aya_ebpf::EbpfContext;
use aya_ebpf::bindings::{BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP};
use aya_ebpf::helpers::generated::{bpf_get_current_task, bpf_get_stack};
use aya_ebpf::helpers::{
    bpf_get_current_cgroup_id, bpf_get_current_comm, bpf_get_current_pid_tgid,
    bpf_get_current_uid_gid, bpf_ktime_get_ns, bpf_probe_read_kernel,
    bpf_probe_read_kernel_str_bytes, bpf_probe_read_user, bpf_probe_read_user_buf,
};
use aya_ebpf::macros::{map, raw_tracepoint, tracepoint};
use aya_ebpf::maps::ring_buf::RingBufEntry;
use aya_ebpf::maps::{Array, HashMap, LruHashMap, PerCpuArray, PerCpuHashMap, RingBuf};
use aya_ebpf::programs::{RawTracePointContext, TracePointContext};
use bulwark_probes_common::{
    ARGV_LEN, CLONE_NEW_MASK, CapKey, CountKey, DIRECT_LEN, Event, ExecEvent, Kind, MAX_CAPS,
    PIDNS_KEY,
    MAX_SYSCALLS, NO_SLOT, NOAUDIT_FRAMES, NOAUDIT_RANGES, OVERFLOWED, PATH_LEN, Watched, action,
    cap_action, cap_flags, cfg, count_flags, state,
};

/// Watched cgroups, direct-mapped by `cgroup & (DIRECT_LEN - 1)`: the kernel inlines
/// array lookups, so deciding that a task is not watched costs one load and a compare.
#[map]
static DIRECT: Array<Watched> = Array::with_max_entries(DIRECT_LEN, 0);

/// Watched cgroups whose `DIRECT` entry was taken (cgroup id → counts row).
#[map]
static OVERFLOW: HashMap<u64, u32> = HashMap::with_max_entries(4096, 0);

/// Containers' cgroups created since the host last looked (`cgroup_mkdir`): watched from
/// their first syscall, before the host has heard of the container.
#[map]
static PENDING: HashMap<u64, u8> = HashMap::with_max_entries(1024, 0);

/// Shared state (see `state`).
#[map]
static STATE: Array<u64> = Array::with_max_entries(state::LEN, 0);

/// Syscall counts: row `slot` of `MAX_SYSCALLS` counters per watched cgroup, per CPU (no
/// atomics on this target; the kernel inlines per-CPU array lookups). The host sizes it
/// at load time.
#[map]
static COUNTS: PerCpuArray<u64> = PerCpuArray::with_max_entries(MAX_SYSCALLS, 0);

/// Counts of watched cgroups beyond the rows `COUNTS` has room for (and pending ones).
#[map]
static SPILL: PerCpuHashMap<CountKey, u64> = PerCpuHashMap::with_max_entries(65536, 0);

/// Capability checks per (cgroup, capability, result), when `cfg::COUNT_CAPS` is set.
#[map]
static CAP_COUNTS: PerCpuHashMap<CapKey, u64> = PerCpuHashMap::with_max_entries(16384, 0);

/// What to do with each syscall number on the per-syscall tracepoints (see `action`).
#[map]
static SYSCALLS: Array<u8> = Array::with_max_entries(MAX_SYSCALLS, 0);

/// Watched cgroups that were already running when first watched: every task in them is
/// the container's (filled by the host).
#[map]
static STARTED: HashMap<u64, u8> = HashMap::with_max_entries(8192, 0);

/// Processes (tgid) of watched cgroups that executed a program, and their descendants:
/// the container's own, not the runtime setting it up (while capabilities are counted).
#[map]
static CONTAINER_TASKS: LruHashMap<u32, u8> = LruHashMap::with_max_entries(65536, 0);

/// (start, end) addresses of the kernel functions whose capability checks are unaudited
/// probes (see `cap_flags::NOAUDIT`), filled by the host from kallsyms.
#[map]
static NOAUDIT: Array<u64> = Array::with_max_entries(2 * NOAUDIT_RANGES, 0);

/// Which capability checks become events (see `cap_action`).
#[map]
static CAPS: Array<u8> = Array::with_max_entries(MAX_CAPS, 0);

/// Tracepoint field offsets, kernel struct offsets and switches (see `cfg`).
#[map]
static CONFIG: Array<u32> = Array::with_max_entries(cfg::LEN, 0);

/// Records; the host sets the real size at load time.
#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(1 << 22, 0);

/// Records lost because the ring buffer was full, per CPU.
#[map]
static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

#[inline(always)]
fn config(i: u32) -> usize {
    CONFIG.get(i).copied().unwrap_or(0) as usize
}

/// The current task's cgroup and counts row, when that cgroup is watched (a pending one
/// counts in the spill hash).
#[inline(always)]
fn watched_slot() -> Option<(u64, u32)> {
    // SAFETY: a helper without arguments.
    let cg = unsafe { bpf_get_current_cgroup_id() };
    if let Some(hit) = watched_key(cg) {
        return Some(hit);
    }
    if config(cfg::PIDNS_ON) == 0 {
        return None;
    }
    let ns = pidns_key();
    if ns == PIDNS_KEY {
        return None;
    }
    watched_key(ns)
}

/// `PIDNS_KEY | inum` of the current task's PID namespace (its children's, which is its
/// own for every task that did not unshare one); just `PIDNS_KEY` when unreadable.
#[inline(always)]
fn pidns_key() -> u64 {
    // SAFETY: a helper without arguments.
    let task = unsafe { bpf_get_current_task() };
    let nsproxy = kernel_u64(task, config(cfg::TASK_NSPROXY));
    if nsproxy == 0 {
        return PIDNS_KEY;
    }
    let ns = kernel_u64(nsproxy, config(cfg::NSPROXY_PIDNS));
    if ns == 0 {
        return PIDNS_KEY;
    }
    PIDNS_KEY | kernel_u32(ns, config(cfg::PIDNS_INUM)) as u64
}

/// The watched entry for a filter key (a cgroup id, or a PID namespace key).
#[inline(always)]
fn watched_key(cg: u64) -> Option<(u64, u32)> {
    let e = DIRECT.get((cg as u32) & (DIRECT_LEN - 1))?;
    if e.cgroup == cg {
        return Some((cg, e.slot));
    }
    if e.flags & OVERFLOWED != 0 {
        // SAFETY: the value is copied out at once.
        if let Some(s) = unsafe { OVERFLOW.get(&cg) } {
            return Some((cg, *s));
        }
    }
    if STATE.get(state::PENDING_ANY).copied().unwrap_or(0) != 0 {
        // SAFETY: only the presence of the key is used.
        if unsafe { PENDING.get(&cg) }.is_some() {
            return Some((cg, NO_SLOT));
        }
    }
    None
}

#[inline(always)]
fn watched() -> Option<u64> {
    watched_slot().map(|(cg, _)| cg)
}

#[inline(always)]
fn bump<K>(map: &PerCpuHashMap<K, u64>, key: &K) {
    match map.get_ptr_mut(key) {
        // SAFETY: per-CPU value, only this CPU writes it.
        Some(n) => unsafe { *n += 1 },
        None => {
            let _ = map.insert(key, &1, 0);
        }
    }
}

#[inline(always)]
fn lost() {
    if let Some(n) = LOST.get_ptr_mut(0) {
        // SAFETY: per-CPU slot, only this CPU writes it.
        unsafe { *n += 1 };
    }
}

/// Fill the common fields of a record.
#[inline(always)]
fn header(ev: *mut Event, kind: Kind, cgroup: u64) {
    let pid_tgid = bpf_get_current_pid_tgid();
    // SAFETY: `ev` points at a reserved, exclusively owned record.
    unsafe {
        (*ev).kind = kind as u32;
        (*ev).pid = (pid_tgid >> 32) as u32;
        (*ev).tid = pid_tgid as u32;
        (*ev).uid = bpf_get_current_uid_gid() as u32;
        (*ev).cgroup = cgroup;
        (*ev).ktime = bpf_ktime_get_ns();
        (*ev).nr = 0;
        (*ev).ret = 0;
        (*ev).args = [0; 4];
        (*ev).comm = bpf_get_current_comm().unwrap_or([0; 16]);
    }
}

/// Reserve a record with the common fields filled; `None` (counted) when the buffer is full.
#[inline(always)]
fn reserve(kind: Kind, cgroup: u64) -> Option<RingBufEntry<Event>> {
    let Some(mut entry) = EVENTS.reserve::<Event>(0) else {
        lost();
        return None;
    };
    header(entry.as_mut_ptr(), kind, cgroup);
    Some(entry)
}

/// [`reserve`] for a record with a path and argv tail, the tail zeroed.
#[inline(always)]
fn reserve_tail(kind: Kind, cgroup: u64) -> Option<RingBufEntry<ExecEvent>> {
    let Some(mut entry) = EVENTS.reserve::<ExecEvent>(0) else {
        lost();
        return None;
    };
    let ev = entry.as_mut_ptr();
    // SAFETY: `ev` points at a reserved, exclusively owned record.
    unsafe {
        header(&raw mut (*ev).event, kind, cgroup);
        (*ev).path = [0; PATH_LEN];
        (*ev).argv = [0; ARGV_LEN];
    }
    Some(entry)
}

/// Whether the reader should be woken: only once a batch waits. Rules judge batches on a
/// timer anyway, and a wakeup per event costs user space more than the event itself.
#[inline(always)]
fn wakeup() -> u64 {
    let waiting = EVENTS.query(BPF_RB_AVAIL_DATA as u64);
    if waiting >= config(cfg::WAKEUP_BYTES) as u64 {
        BPF_RB_FORCE_WAKEUP as u64
    } else {
        BPF_RB_NO_WAKEUP as u64
    }
}

/// Every syscall of a watched cgroup, counted in the kernel (only for `--count-syscalls`,
/// `audit --observe` and `profile`: it puts every syscall on the host on the tracing path).
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn count_syscall(ctx: RawTracePointContext) -> i32 {
    let Some((cg, slot)) = watched_slot() else {
        return 0;
    };
    // sys_enter's TP_PROTO is (struct pt_regs *regs, long id).
    let nr: i64 = ctx.arg(1);
    if !(0..MAX_SYSCALLS as i64).contains(&nr) {
        return 0;
    }
    let nr = nr as u32;
    if config(cfg::COUNT_PHASES) != 0 && runtime_task(cg) {
        // SAFETY: a helper without arguments.
        let task = unsafe { bpf_get_current_task() };
        let mut flags = count_flags::RUNTIME;
        if kernel_u32(task, config(cfg::TASK_SECCOMP_MODE)) != 0 {
            flags |= count_flags::FILTERED;
        }
        bump(
            &SPILL,
            &CountKey {
                cgroup: cg,
                nr,
                flags,
            },
        );
        return 0;
    }
    if config(cfg::COUNT_COMPAT) != 0 && compat() {
        bump(
            &SPILL,
            &CountKey {
                cgroup: cg,
                nr,
                flags: count_flags::COMPAT,
            },
        );
        return 0;
    }
    if slot != NO_SLOT {
        if let Some(n) = COUNTS.get_ptr_mut(slot.wrapping_mul(MAX_SYSCALLS) + nr) {
            // SAFETY: per-CPU value, only this CPU writes it.
            unsafe { *n += 1 };
        }
    } else {
        bump(
            &SPILL,
            &CountKey {
                cgroup: cg,
                nr,
                flags: 0,
            },
        );
    }
    0
}

/// Whether an exec is the runtime re-executing itself (`/proc/self/exe`, a `/dev/fd/N` or
/// `/proc/self/fd/N` memfd copy, as runc does inside the cgroup when it joins first) rather
/// than the container's program.
#[inline(always)]
fn runtime_exec(ctx: &TracePointContext) -> bool {
    let mut head = [0u8; 16];
    // SAFETY: a __data_loc field as in `process_exec`; the read is checked.
    unsafe {
        let loc: u32 = ctx.read_at(config(cfg::EXEC_FILENAME)).unwrap_or(0);
        let src = (ctx.as_ptr() as *const u8).add((loc & 0xffff) as usize);
        let _ = bpf_probe_read_kernel_str_bytes(src, &mut head);
    }
    let prefix = |p: &[u8]| head.iter().zip(p).all(|(a, b)| a == b);
    prefix(b"/proc/self/") || prefix(b"/dev/fd/")
}

/// Whether the current task is the runtime's rather than the container's: its cgroup was
/// not already running when watched, and its process never executed a program in the
/// container nor descends from one that did.
#[inline(always)]
fn runtime_task(cg: u64) -> bool {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    // SAFETY: only the presence of the keys is used.
    unsafe { STARTED.get(&cg).is_none() && CONTAINER_TASKS.get(&tgid).is_none() }
}

/// Whether the current syscall is a compat (32-bit) one.
#[inline(always)]
fn compat() -> bool {
    let off = config(cfg::TASK_COMPAT_WORD);
    if off == 0 {
        return false;
    }
    // SAFETY: a helper without arguments.
    let task = unsafe { bpf_get_current_task() };
    kernel_u32(task, off) & config(cfg::COMPAT_MASK) as u32 != 0
}

/// `-EPERM`, the errno a generated profile refuses with.
const EPERM: i64 = -1;

/// Syscalls of a watched cgroup that ended in `-EPERM`, counted (`profile verify`): one a
/// seccomp filter refused never reached `sys_enter`, yet ends here with its number.
#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn count_exit(ctx: RawTracePointContext) -> i32 {
    let Some(cg) = watched() else { return 0 };
    // sys_exit's TP_PROTO is (struct pt_regs *regs, long ret).
    let ret: i64 = ctx.arg(1);
    if ret != EPERM {
        return 0;
    }
    // Only a task under a filter can have been refused by one (the runtime's own EPERMs
    // before it loads the filter are not the profile's).
    let mode_at = config(cfg::TASK_SECCOMP_MODE);
    // SAFETY: a helper without arguments.
    if mode_at != 0 && kernel_u32(unsafe { bpf_get_current_task() }, mode_at) == 0 {
        return 0;
    }
    let regs: u64 = ctx.arg(0);
    let nr = kernel_u32(regs, config(cfg::REG_NR));
    if nr >= MAX_SYSCALLS {
        return 0;
    }
    let mut flags = count_flags::EPERM_EXIT;
    if config(cfg::COUNT_COMPAT) != 0 && compat() {
        flags |= count_flags::COMPAT;
    }
    bump(
        &SPILL,
        &CountKey {
            cgroup: cg,
            nr,
            flags,
        },
    );
    0
}

/// A syscall event: its number and first four arguments (`arg(i)`).
#[inline(always)]
fn syscall_event(cg: u64, nr: i64, arg: impl Fn(usize) -> u64) {
    let Some(mut entry) = reserve(Kind::Syscall, cg) else {
        return;
    };
    let ev = entry.as_mut_ptr();
    // SAFETY: `ev` is reserved; reads are checked.
    unsafe {
        (*ev).nr = nr;
        for i in 0..4 {
            (*ev).args[i] = arg(i);
        }
        // capset(header, data): the capability sets requested live in user memory.
        if nr as u32 == config(cfg::NR_CAPSET) as u32 && (*ev).args[1] != 0 {
            let data = (*ev).args[1] as *const [u32; 6];
            if let Ok(d) = bpf_probe_read_user(data) {
                // effective (low, high), permitted (low, high)
                (*ev).args[2] = d[0] as u64 | ((d[3] as u64) << 32);
                (*ev).args[3] = d[1] as u64 | ((d[4] as u64) << 32);
            }
        }
    }
    let flags = wakeup();
    entry.submit(flags);
}

/// A syscall a rule asked for, on entry (`syscalls/sys_enter_<name>`): its first four
/// arguments.
#[tracepoint]
pub fn sys_enter(ctx: TracePointContext) -> u32 {
    let Some(cg) = watched() else { return 0 };
    // SAFETY: offsets from the format files.
    let nr = unsafe { ctx.read_at::<i32>(config(cfg::ENTER_ID)) }.unwrap_or(-1) as i64;
    if SYSCALLS.get(nr as u32).copied().unwrap_or(action::COUNT) != action::EVENT {
        return 0;
    }
    let arg0 = config(cfg::ENTER_ARG0);
    // SAFETY: offsets from the format files; reads are checked.
    syscall_event(cg, nr, |i| {
        unsafe { ctx.read_at::<u64>(arg0 + i * 8) }.unwrap_or(0)
    });
    0
}

/// Syscalls a rule asked for that have no tracepoints of their own on this kernel (compiled
/// out: only the attempt is seen), on `raw_syscalls/sys_enter`, arguments from `pt_regs`.
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn raw_enter(ctx: RawTracePointContext) -> i32 {
    let Some(cg) = watched() else { return 0 };
    let nr: i64 = ctx.arg(1);
    if !(0..MAX_SYSCALLS as i64).contains(&nr)
        || SYSCALLS.get(nr as u32).copied().unwrap_or(action::COUNT) != action::RAW_EVENT
    {
        return 0;
    }
    let regs: u64 = ctx.arg(0);
    syscall_event(cg, nr, |i| {
        kernel_u64(regs, config(cfg::REG_ARG0 + i as u32))
    });
    0
}

/// The same syscalls on exit (`syscalls/sys_exit_<name>`): their result.
#[tracepoint]
pub fn sys_exit(ctx: TracePointContext) -> u32 {
    let Some(cg) = watched() else { return 0 };
    let Some(mut entry) = reserve(Kind::SyscallExit, cg) else {
        return 0;
    };
    let ev = entry.as_mut_ptr();
    // SAFETY: offsets come from the format files; `ev` is reserved.
    unsafe {
        (*ev).nr = ctx.read_at::<i32>(config(cfg::EXIT_ID)).unwrap_or(-1) as i64;
        (*ev).ret = ctx.read_at::<i64>(config(cfg::EXIT_RET)).unwrap_or(0);
    }
    let flags = wakeup();
    entry.submit(flags);
    0
}

/// A pointer-sized kernel value at `base + off` (0 when unreadable).
#[inline(always)]
fn kernel_u64(base: u64, off: usize) -> u64 {
    // SAFETY: a checked kernel read.
    unsafe { bpf_probe_read_kernel((base as usize + off) as *const u64) }.unwrap_or(0)
}

#[inline(always)]
fn kernel_u32(base: u64, off: usize) -> u32 {
    // SAFETY: a checked kernel read.
    unsafe { bpf_probe_read_kernel((base as usize + off) as *const u32) }.unwrap_or(0)
}

/// A program was executed: the file, the head of its argv (read from the new image's
/// memory, so no syscall hook is needed), and the credentials it runs with.
#[tracepoint]
pub fn process_exec(ctx: TracePointContext) -> u32 {
    let Some(cg) = watched() else { return 0 };
    if (config(cfg::COUNT_CAPS) != 0 || config(cfg::COUNT_PHASES) != 0) && !runtime_exec(&ctx) {
        let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
        let _ = CONTAINER_TASKS.insert(&tgid, &1, 0);
    }
    let Some(mut entry) = reserve_tail(Kind::Exec, cg) else {
        return 0;
    };
    let ev = entry.as_mut_ptr();
    // SAFETY: `filename` is a __data_loc field: low 16 bits are its offset in the record;
    // every kernel and user read is checked; `ev` is reserved.
    unsafe {
        let loc: u32 = ctx.read_at(config(cfg::EXEC_FILENAME)).unwrap_or(0);
        let src = (ctx.as_ptr() as *const u8).add((loc & 0xffff) as usize);
        let _ = bpf_probe_read_kernel_str_bytes(src, &mut (*ev).path);
        let task = bpf_get_current_task();
        let cred = kernel_u64(task, config(cfg::TASK_CRED));
        (*ev).event.args[0] = kernel_u32(cred, config(cfg::CRED_EUID)) as u64;
        (*ev).event.args[1] = kernel_u32(cred, config(cfg::CRED_EGID)) as u64;
        let mm = kernel_u64(task, config(cfg::TASK_MM));
        let start = kernel_u64(mm, config(cfg::MM_ARG_START));
        let end = kernel_u64(mm, config(cfg::MM_ARG_END));
        if start != 0 && end > start {
            let len = ((end - start) as usize).min(ARGV_LEN - 1) & (ARGV_LEN - 1);
            let dst = &mut (*ev).argv;
            let _ = bpf_probe_read_user_buf(start as *const u8, &mut dst[..len]);
        }
    }
    let flags = wakeup();
    entry.submit(flags);
    0
}

#[tracepoint]
pub fn process_fork(ctx: TracePointContext) -> u32 {
    let Some(cg) = watched() else { return 0 };
    // A child of the container's own processes is the container's too (the parent is the
    // current task here).
    if config(cfg::COUNT_CAPS) != 0 || config(cfg::COUNT_PHASES) != 0 {
        let parent = (bpf_get_current_pid_tgid() >> 32) as u32;
        // SAFETY: only the presence of the key is used.
        if unsafe { CONTAINER_TASKS.get(&parent) }.is_some() {
            // SAFETY: offset from the format file.
            let child = unsafe { ctx.read_at::<i32>(config(cfg::FORK_CHILD)) }.unwrap_or(0) as u32;
            let _ = CONTAINER_TASKS.insert(&child, &1, 0);
        }
    }
    let Some(mut entry) = reserve(Kind::Fork, cg) else {
        return 0;
    };
    let ev = entry.as_mut_ptr();
    // SAFETY: offsets from the format file; `ev` is reserved.
    unsafe {
        (*ev).args[0] = ctx.read_at::<i32>(config(cfg::FORK_PARENT)).unwrap_or(0) as u64;
        (*ev).args[1] = ctx.read_at::<i32>(config(cfg::FORK_CHILD)).unwrap_or(0) as u64;
    }
    let flags = wakeup();
    entry.submit(flags);
    0
}

#[tracepoint]
pub fn process_exit(_ctx: TracePointContext) -> u32 {
    let Some(cg) = watched() else { return 0 };
    // Its id may be reused by a process of the runtime: forget it (a thread's id was only
    // ever added as a fork's child; the group's id goes when its leader exits).
    if config(cfg::COUNT_CAPS) != 0 || config(cfg::COUNT_PHASES) != 0 {
        let tid = bpf_get_current_pid_tgid() as u32;
        let _ = CONTAINER_TASKS.remove(&tid);
    }
    if let Some(entry) = reserve(Kind::Exit, cg) {
        let flags = wakeup();
        entry.submit(flags);
    }
    0
}

/// A capability check: counted when the host asks (`cfg::COUNT_CAPS`), and an event when
/// a rule asked for this capability with this result.
#[tracepoint]
pub fn cap_capable(ctx: TracePointContext) -> u32 {
    let Some(cg) = watched() else { return 0 };
    // SAFETY: offsets from the format file.
    let (cap, ret) = unsafe {
        (
            ctx.read_at::<i32>(config(cfg::CAP_CAP)).unwrap_or(-1),
            ctx.read_at::<i32>(config(cfg::CAP_RET)).unwrap_or(0),
        )
    };
    if config(cfg::COUNT_CAPS) != 0 {
        let mut flags = 0;
        if ret != 0 {
            flags |= cap_flags::DENIED;
        }
        if runtime_task(cg) {
            flags |= cap_flags::BEFORE_EXEC;
        }
        if config(cfg::NOAUDIT_ON) != 0 && unaudited(&ctx) {
            flags |= cap_flags::NOAUDIT;
        }
        let real_cred = config(cfg::TASK_REAL_CRED);
        if real_cred != 0 {
            // SAFETY: offset from the format file; a checked kernel read.
            let checked = unsafe { ctx.read_at::<u64>(config(cfg::CAP_CRED)) }.unwrap_or(0);
            // SAFETY: a helper without arguments.
            let own = kernel_u64(unsafe { bpf_get_current_task() }, real_cred);
            if checked != own {
                flags |= cap_flags::OTHER_CRED;
            }
        }
        bump(
            &CAP_COUNTS,
            &CapKey {
                cgroup: cg,
                cap: cap as u32,
                flags,
            },
        );
    }
    let act = CAPS.get(cap as u32).copied().unwrap_or(0);
    let want = if ret == 0 {
        cap_action::GRANTED
    } else {
        cap_action::DENIED
    };
    if act & want == 0 {
        return 0;
    }
    let Some(mut entry) = reserve(Kind::Capable, cg) else {
        return 0;
    };
    let ev = entry.as_mut_ptr();
    // SAFETY: `ev` is reserved.
    unsafe {
        (*ev).nr = cap as i64;
        (*ev).ret = ret as i64;
    }
    let flags = wakeup();
    entry.submit(flags);
    0
}

/// Whether the capability check was made by one of the unaudited callers in `NOAUDIT`:
/// one of the first kernel stack frames lies in one of their ranges.
#[inline(always)]
fn unaudited(ctx: &TracePointContext) -> bool {
    let mut ranges = [(0u64, 0u64); NOAUDIT_RANGES as usize];
    for (i, r) in ranges.iter_mut().enumerate() {
        let i = i as u32;
        *r = (
            NOAUDIT.get(2 * i).copied().unwrap_or(0),
            NOAUDIT.get(2 * i + 1).copied().unwrap_or(0),
        );
    }
    let mut frames = [0u64; NOAUDIT_FRAMES];
    // SAFETY: the buffer is ours and its size is passed.
    let got = unsafe {
        bpf_get_stack(
            ctx.as_ptr(),
            frames.as_mut_ptr() as *mut _,
            (NOAUDIT_FRAMES * 8) as u32,
            0,
        )
    };
    if got <= 0 {
        return false;
    }
    for ip in frames {
        for (start, end) in ranges {
            if ip >= start && ip < end {
                return true;
            }
        }
    }
    false
}

/// A task created with new namespaces (`clone` with `CLONE_NEW*`), seen without a
/// syscall hook.
#[tracepoint]
pub fn task_newtask(ctx: TracePointContext) -> u32 {
    let Some(cg) = watched() else { return 0 };
    // SAFETY: offsets from the format file.
    let flags = unsafe { ctx.read_at::<u64>(config(cfg::NEWTASK_FLAGS)) }.unwrap_or(0);
    if flags & CLONE_NEW_MASK == 0 {
        return 0;
    }
    let Some(mut entry) = reserve(Kind::NewTask, cg) else {
        return 0;
    };
    let ev = entry.as_mut_ptr();
    // SAFETY: offsets from the format file; `ev` is reserved.
    unsafe {
        (*ev).args[0] = flags;
        (*ev).args[1] = ctx.read_at::<i32>(config(cfg::NEWTASK_PID)).unwrap_or(0) as u64;
    }
    let flags = wakeup();
    entry.submit(flags);
    0
}

/// A kernel module was loaded by a watched task (where the kernel has modules).
#[tracepoint]
pub fn module_load(ctx: TracePointContext) -> u32 {
    let Some(cg) = watched() else { return 0 };
    let Some(mut entry) = reserve_tail(Kind::ModuleLoad, cg) else {
        return 0;
    };
    let ev = entry.as_mut_ptr();
    // SAFETY: a __data_loc field, as in `process_exec`; `ev` is reserved.
    unsafe {
        let loc: u32 = ctx.read_at(config(cfg::MODULE_NAME)).unwrap_or(0);
        let src = (ctx.as_ptr() as *const u8).add((loc & 0xffff) as usize);
        let _ = bpf_probe_read_kernel_str_bytes(src, &mut (*ev).path);
    }
    let flags = wakeup();
    entry.submit(flags);
    0
}

/// Whether a cgroup path names a container: its last component ends (before an optional
/// `.scope`) with a 64-hex-digit id after `/` or `-` (`/docker/<id>`,
/// `docker-<id>.scope`, `libpod-<id>.scope`, `cri-containerd-<id>.scope`).
#[inline(always)]
fn container_path(path: &[u8; PATH_LEN], len: usize) -> bool {
    // Indexes are masked so the verifier sees every access in bounds.
    let at = |i: usize| path[i & (PATH_LEN - 1)];
    let mut end = len.min(PATH_LEN - 1);
    if end >= 6
        && at(end - 6) == b'.'
        && at(end - 5) == b's'
        && at(end - 4) == b'c'
        && at(end - 3) == b'o'
        && at(end - 2) == b'p'
        && at(end - 1) == b'e'
    {
        end -= 6;
    }
    if end < 65 {
        return false;
    }
    let start = end - 64;
    for i in 0..64 {
        let c = at(start + i);
        if !(c.is_ascii_digit() || (b'a'..=b'f').contains(&c)) {
            return false;
        }
    }
    matches!(at(start - 1), b'/' | b'-')
}

/// A container's cgroup was created (on the unified hierarchy): watch it from now on, so
/// its first syscall is seen, and tell the host which container it is.
#[tracepoint]
pub fn cgroup_mkdir(ctx: TracePointContext) -> u32 {
    // SAFETY: offsets from the format file.
    let (root, id) = unsafe {
        (
            ctx.read_at::<i32>(config(cfg::MKDIR_ROOT)).unwrap_or(-1),
            ctx.read_at::<u64>(config(cfg::MKDIR_ID)).unwrap_or(0),
        )
    };
    // The unified hierarchy is hierarchy 0; the v1 controllers' copies do not matter.
    if root != 0 || id == 0 {
        return 0;
    }
    let Some(mut entry) = reserve_tail(Kind::CgroupMkdir, id) else {
        return 0;
    };
    let ev = entry.as_mut_ptr();
    // SAFETY: a __data_loc field, as in `process_exec`; `ev` is reserved.
    let len = unsafe {
        let loc: u32 = ctx.read_at(config(cfg::MKDIR_PATH)).unwrap_or(0);
        let src = (ctx.as_ptr() as *const u8).add((loc & 0xffff) as usize);
        bpf_probe_read_kernel_str_bytes(src, &mut (*ev).path)
            .map(|s| s.len())
            .unwrap_or(0)
    };
    // SAFETY: `ev` is reserved and its path was written above.
    if !container_path(unsafe { &(*ev).path }, len) {
        entry.discard(0);
        return 0;
    }
    let _ = PENDING.insert(&id, &1, 0);
    if let Some(p) = STATE.get_ptr_mut(state::PENDING_ANY) {
        // SAFETY: a plain store; the host only clears it after emptying PENDING.
        unsafe { *p = 1 };
    }
    let flags = wakeup();
    entry.submit(flags);
    0
}

/// Returns at once: the benchmark's floor of a raw tracepoint attach point.
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn floor_raw(_ctx: RawTracePointContext) -> i32 {
    0
}

/// Returns at once: the benchmark's floor of a tracepoint attach point.
#[tracepoint]
pub fn floor_tp(_ctx: TracePointContext) -> u32 {
    0
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
