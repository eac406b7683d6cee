//! Bulwark's kernel probes: tracepoints only (this kernel allows no kprobes, fentry or
//! LSM). Everything is filtered in the kernel to the cgroups the host watches (its
//! containers), syscalls are counted in the kernel per (cgroup, syscall), and only the
//! events rules need cross to user space, through one ring buffer whose reserve failures
//! are counted. Tracepoint field offsets and `pt_regs` offsets come from the host (read
//! from tracefs and BTF).
//!
//! Cost matters most on syscall entry, which every syscall of every process pays once a
//! program is attached there: one raw tracepoint does all of it, and an unwatched task
//! costs it one inlined array load.
#![no_std]
#![no_main]

use aya_ebpf::helpers::{
    bpf_get_current_cgroup_id, bpf_get_current_comm, bpf_get_current_pid_tgid,
    bpf_get_current_uid_gid, bpf_ktime_get_ns, bpf_probe_read_kernel,
    bpf_probe_read_kernel_str_bytes, bpf_probe_read_user, bpf_probe_read_user_str_bytes,
};
use aya_ebpf::macros::{map, raw_tracepoint, tracepoint};
use aya_ebpf::maps::{Array, HashMap, LruHashMap, PerCpuArray, PerCpuHashMap, RingBuf};
use aya_ebpf::programs::{RawTracePointContext, TracePointContext};
use aya_ebpf::bindings::{BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP};
use aya_ebpf::maps::ring_buf::RingBufEntry;
use aya_ebpf::EbpfContext;
use bulwark_probes_common::{
    action, cfg, CountKey, Event, Kind, Watched, ARGV_ARGS, ARGV_ARG_LEN, ARGV_LEN, DIRECT_LEN,
    MAX_SYSCALLS, NO_SLOT, OVERFLOWED,
};

/// Watched cgroups, direct-mapped by `cgroup & (DIRECT_LEN - 1)`: the kernel inlines
/// array lookups, so deciding that a syscall is not watched costs one load and a compare.
#[map]
static DIRECT: Array<Watched> = Array::with_max_entries(DIRECT_LEN, 0);

/// Watched cgroups whose `DIRECT` entry was taken (cgroup id → counts row).
#[map]
static OVERFLOW: HashMap<u64, u32> = HashMap::with_max_entries(4096, 0);

/// Syscall counts: row `slot` of `MAX_SYSCALLS` counters per watched cgroup, per CPU (no
/// atomics on this target; the kernel inlines per-CPU array lookups). The host sizes it
/// at load time.
#[map]
static COUNTS: PerCpuArray<u64> = PerCpuArray::with_max_entries(MAX_SYSCALLS, 0);

/// Counts of watched cgroups beyond the rows `COUNTS` has room for.
#[map]
static SPILL: PerCpuHashMap<CountKey, u64> = PerCpuHashMap::with_max_entries(65536, 0);

/// What to do with each syscall number besides counting it (see `action`).
#[map]
static SYSCALLS: Array<u8> = Array::with_max_entries(MAX_SYSCALLS, 0);

/// Tracepoint field offsets and constants (see `cfg`).
#[map]
static CONFIG: Array<u32> = Array::with_max_entries(cfg::LEN, 0);

/// Events; the host sets the real size at load time.
#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(1 << 22, 0);

/// argv heads captured at execve entry, by thread, until the exec completes. LRU: a
/// failed execve leaves its entry behind, and old ones must make room.
#[map]
static ARGV: LruHashMap<u32, [u8; ARGV_LEN]> = LruHashMap::with_max_entries(10240, 0);

/// Events lost because the ring buffer was full, per CPU.
#[map]
static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

#[inline(always)]
fn config(i: u32) -> usize {
    CONFIG.get(i).copied().unwrap_or(0) as usize
}

/// The current task's cgroup and counts row, when that cgroup is watched.
#[inline(always)]
fn watched_slot() -> Option<(u64, u32)> {
    // SAFETY: a helper without arguments.
    let cg = unsafe { bpf_get_current_cgroup_id() };
    let e = DIRECT.get((cg as u32) & (DIRECT_LEN - 1))?;
    if e.cgroup == cg {
        return Some((cg, e.slot));
    }
    if e.flags & OVERFLOWED == 0 {
        return None;
    }
    // SAFETY: the value is copied out at once.
    unsafe { OVERFLOW.get(&cg) }.map(|s| (cg, *s))
}

#[inline(always)]
fn watched() -> Option<u64> {
    watched_slot().map(|(cg, _)| cg)
}

#[inline(always)]
fn lost() {
    if let Some(n) = LOST.get_ptr_mut(0) {
        // SAFETY: per-CPU slot, only this CPU writes it.
        unsafe { *n += 1 };
    }
}

/// Reserve an event with the common fields filled; `None` (counted) when the buffer is full.
#[inline(always)]
fn reserve(kind: Kind, cgroup: u64) -> Option<RingBufEntry<Event>> {
    let Some(mut entry) = EVENTS.reserve::<Event>(0) else {
        lost();
        return None;
    };
    let pid_tgid = bpf_get_current_pid_tgid();
    let ev = entry.as_mut_ptr();
    // SAFETY: `ev` points at a reserved, exclusively owned Event-sized slot.
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
        (*ev).path = [0; bulwark_probes_common::PATH_LEN];
        (*ev).argv = [0; ARGV_LEN];
    }
    Some(entry)
}

/// Commit an event. The reader is woken only once a batch waits: rules judge batches on
/// a timer anyway, and a wakeup per event costs user space more than the event itself.
#[inline(always)]
fn submit(entry: RingBufEntry<Event>) {
    let waiting = EVENTS.query(BPF_RB_AVAIL_DATA as u64);
    let flags = if waiting >= config(cfg::WAKEUP_BYTES) as u64 {
        BPF_RB_FORCE_WAKEUP
    } else {
        BPF_RB_NO_WAKEUP
    };
    entry.submit(flags as u64);
}

/// Every syscall of a watched cgroup, counted in the kernel, and the few the host asked
/// for sent on as events with their arguments. A raw tracepoint (no trace record is
/// built), and the only program on syscall entry: per-syscall `sys_enter_*` tracepoints
/// would add a second callback to every syscall of every process.
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
    let nr32 = nr as u32;
    if slot != NO_SLOT {
        if let Some(n) = COUNTS.get_ptr_mut(slot.wrapping_mul(MAX_SYSCALLS) + nr32) {
            // SAFETY: per-CPU value, only this CPU writes it.
            unsafe { *n += 1 };
        }
    } else {
        let key = CountKey {
            cgroup: cg,
            nr: nr32,
            _pad: 0,
        };
        match SPILL.get_ptr_mut(&key) {
            // SAFETY: per-CPU value, only this CPU writes it.
            Some(n) => unsafe { *n += 1 },
            None => {
                let _ = SPILL.insert(&key, &1, 0);
            }
        }
    }
    match SYSCALLS.get(nr32).copied().unwrap_or(action::COUNT) {
        action::COUNT => {}
        action::EVENT => syscall_event(&ctx, cg, nr),
        action::ARGV_1 => keep_argv(&ctx, 1),
        action::ARGV_2 => keep_argv(&ctx, 2),
        _ => {}
    }
    0
}

/// Syscall argument `i` from the saved registers (`CONFIG` has their offsets).
#[inline(always)]
fn reg_arg(ctx: &RawTracePointContext, i: u32) -> u64 {
    let regs: u64 = ctx.arg(0);
    let at = regs.wrapping_add(config(cfg::REG_ARG0 + i) as u64);
    // SAFETY: a checked kernel read.
    unsafe { bpf_probe_read_kernel(at as *const u64) }.unwrap_or(0)
}

#[inline(always)]
fn syscall_event(ctx: &RawTracePointContext, cg: u64, nr: i64) {
    let Some(mut entry) = reserve(Kind::Syscall, cg) else {
        return;
    };
    let ev = entry.as_mut_ptr();
    // SAFETY: `ev` is reserved.
    unsafe {
        (*ev).nr = nr;
        for i in 0..4 {
            (*ev).args[i as usize] = reg_arg(ctx, i);
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
    submit(entry);
}

/// execve entry: keep the head of argv (user memory, still the caller's) for the exec
/// event; `at` is the argument that holds argv.
#[inline(always)]
fn keep_argv(ctx: &RawTracePointContext, at: u32) {
    let tid = bpf_get_current_pid_tgid() as u32;
    let argv = reg_arg(ctx, at);
    if argv == 0 {
        return;
    }
    let mut buf = [0u8; ARGV_LEN];
    // SAFETY: every user read is checked.
    unsafe {
        for i in 0..ARGV_ARGS {
            let Ok(p) = bpf_probe_read_user((argv as *const u64).add(i)) else {
                break;
            };
            if p == 0 {
                break;
            }
            let slot = &mut buf[i * ARGV_ARG_LEN..(i + 1) * ARGV_ARG_LEN];
            let _ = bpf_probe_read_user_str_bytes(p as *const u8, slot);
        }
    }
    let _ = ARGV.insert(&tid, &buf, 0);
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
    submit(entry);
    0
}

#[tracepoint]
pub fn process_exec(ctx: TracePointContext) -> u32 {
    let Some(cg) = watched() else { return 0 };
    // SAFETY: offset from the format file.
    let tid = unsafe { ctx.read_at::<i32>(config(cfg::EXEC_OLD_PID)) }.unwrap_or(0) as u32;
    let Some(mut entry) = reserve(Kind::Exec, cg) else {
        let _ = ARGV.remove(&tid);
        return 0;
    };
    let ev = entry.as_mut_ptr();
    // SAFETY: `filename` is a __data_loc field: low 16 bits are its offset in the record.
    unsafe {
        let loc: u32 = ctx.read_at(config(cfg::EXEC_FILENAME)).unwrap_or(0);
        let src = (ctx.as_ptr() as *const u8).add((loc & 0xffff) as usize);
        let _ = bpf_probe_read_kernel_str_bytes(src, &mut (*ev).path);
        if let Some(a) = ARGV.get(&tid) {
            (*ev).argv = *a;
        }
    }
    let _ = ARGV.remove(&tid);
    submit(entry);
    0
}

#[tracepoint]
pub fn process_fork(ctx: TracePointContext) -> u32 {
    let Some(cg) = watched() else { return 0 };
    let Some(mut entry) = reserve(Kind::Fork, cg) else {
        return 0;
    };
    let ev = entry.as_mut_ptr();
    // SAFETY: offsets from the format file; `ev` is reserved.
    unsafe {
        (*ev).args[0] = ctx.read_at::<i32>(config(cfg::FORK_PARENT)).unwrap_or(0) as u64;
        (*ev).args[1] = ctx.read_at::<i32>(config(cfg::FORK_CHILD)).unwrap_or(0) as u64;
    }
    submit(entry);
    0
}

#[tracepoint]
pub fn process_exit(_ctx: TracePointContext) -> u32 {
    let Some(cg) = watched() else { return 0 };
    if let Some(entry) = reserve(Kind::Exit, cg) {
        submit(entry);
    }
    0
}

#[tracepoint]
pub fn cap_capable(ctx: TracePointContext) -> u32 {
    let Some(cg) = watched() else { return 0 };
    let Some(mut entry) = reserve(Kind::Capable, cg) else {
        return 0;
    };
    let ev = entry.as_mut_ptr();
    // SAFETY: offsets from the format file; `ev` is reserved.
    unsafe {
        (*ev).nr = ctx.read_at::<i32>(config(cfg::CAP_CAP)).unwrap_or(-1) as i64;
        (*ev).ret = ctx.read_at::<i32>(config(cfg::CAP_RET)).unwrap_or(0) as i64;
    }
    submit(entry);
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
