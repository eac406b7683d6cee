//! Bulwark's kernel probes: tracepoints only (this kernel allows no kprobes, fentry or
//! LSM). Everything is filtered in the kernel to the cgroups the host watches (its
//! containers), syscalls are counted in the kernel per (cgroup, syscall), and only the
//! events rules need cross to user space, through one ring buffer whose reserve failures
//! are counted. Tracepoint field offsets come from the host (read from tracefs).
#![no_std]
#![no_main]

use aya_ebpf::helpers::{
    bpf_get_current_cgroup_id, bpf_get_current_comm, bpf_get_current_pid_tgid,
    bpf_get_current_uid_gid, bpf_ktime_get_ns, bpf_probe_read_kernel_str_bytes,
    bpf_probe_read_user, bpf_probe_read_user_str_bytes,
};
use aya_ebpf::macros::{map, raw_tracepoint, tracepoint};
use aya_ebpf::maps::{Array, HashMap, PerCpuArray, PerCpuHashMap, RingBuf};
use aya_ebpf::programs::{RawTracePointContext, TracePointContext};
use aya_ebpf::EbpfContext;
use bulwark_probes_common::{
    cfg, CountKey, Event, ARGV_ARGS, ARGV_ARG_LEN, ARGV_LEN, CAPABLE, EXEC, EXIT, FORK,
    MAX_SYSCALLS, SYSCALL, SYSCALL_EXIT,
};

/// cgroup ids of the containers watched (value unused).
#[map]
static WATCHED: HashMap<u64, u8> = HashMap::with_max_entries(4096, 0);

/// Per-(cgroup, syscall) counts, per CPU (no atomics on this target).
#[map]
static COUNTS: PerCpuHashMap<CountKey, u64> = PerCpuHashMap::with_max_entries(65536, 0);

/// Watched syscalls this kernel has no `syscalls/sys_enter_<name>` tracepoint for (e.g.
/// module loading compiled out): `count_syscall` reports them by number, without args.
#[map]
static BY_NUMBER: Array<u8> = Array::with_max_entries(MAX_SYSCALLS, 0);

/// Tracepoint field offsets and constants (see `cfg`).
#[map]
static CONFIG: Array<u32> = Array::with_max_entries(cfg::LEN, 0);

/// Events; the host sets the real size at load time.
#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(1 << 22, 0);

/// argv heads captured at execve entry, by thread, until the exec completes.
#[map]
static ARGV: HashMap<u32, [u8; ARGV_LEN]> = HashMap::with_max_entries(10240, 0);

/// Events lost because the ring buffer was full, per CPU.
#[map]
static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

#[inline(always)]
fn config(i: u32) -> usize {
    CONFIG.get(i).copied().unwrap_or(0) as usize
}

#[inline(always)]
fn watched() -> Option<u64> {
    // SAFETY: a helper without arguments.
    let cg = unsafe { bpf_get_current_cgroup_id() };
    // SAFETY: the value is only tested for presence.
    unsafe { WATCHED.get(&cg) }.map(|_| cg)
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
fn reserve(kind: u32, cgroup: u64) -> Option<aya_ebpf::maps::ring_buf::RingBufEntry<Event>> {
    let Some(mut entry) = EVENTS.reserve::<Event>(0) else {
        lost();
        return None;
    };
    let pid_tgid = bpf_get_current_pid_tgid();
    let ev = entry.as_mut_ptr();
    // SAFETY: `ev` points at a reserved, exclusively owned Event-sized slot.
    unsafe {
        (*ev).kind = kind;
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

/// Every syscall of a watched cgroup, counted in the kernel. A raw tracepoint: no trace
/// record is built, so an unwatched syscall costs one map lookup.
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn count_syscall(ctx: RawTracePointContext) -> i32 {
    let Some(cg) = watched() else { return 0 };
    // sys_enter's TP_PROTO is (struct pt_regs *regs, long id).
    let nr: i64 = ctx.arg(1);
    if nr < 0 || nr >= MAX_SYSCALLS as i64 {
        return 0;
    }
    let key = CountKey {
        cgroup: cg,
        nr: nr as u32,
        _pad: 0,
    };
    match COUNTS.get_ptr_mut(&key) {
        // SAFETY: per-CPU value, only this CPU writes it.
        Some(n) => unsafe { *n += 1 },
        None => {
            let _ = COUNTS.insert(&key, &1, 0);
        }
    }
    if BY_NUMBER.get(nr as u32).copied().unwrap_or(0) != 0 {
        if let Some(mut entry) = reserve(SYSCALL, cg) {
            // SAFETY: `entry` is reserved.
            unsafe { (*entry.as_mut_ptr()).nr = nr };
            entry.submit(0);
        }
    }
    0
}

/// A watched syscall on entry: attached to `syscalls/sys_enter_<name>` of each one, so
/// other syscalls never run it. Offsets of `__syscall_nr` and the first argument come from
/// those tracepoints' format files (the host checks they agree).
#[tracepoint]
pub fn sys_enter(ctx: TracePointContext) -> u32 {
    let Some(cg) = watched() else { return 0 };
    // SAFETY: offsets come from the tracepoints' format files.
    let nr = unsafe { ctx.read_at::<i32>(config(cfg::ENTER_ID)) }.unwrap_or(-1) as i64;
    let Some(mut entry) = reserve(SYSCALL, cg) else {
        return 0;
    };
    let ev = entry.as_mut_ptr();
    let base = config(cfg::ENTER_ARGS);
    // SAFETY: the first four argument fields of the record; `ev` is reserved.
    unsafe {
        (*ev).nr = nr;
        for i in 0..4 {
            (*ev).args[i] = ctx.read_at::<u64>(base + 8 * i).unwrap_or(0);
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
    entry.submit(0);
    0
}

/// The same syscalls on exit (`syscalls/sys_exit_<name>`): their result.
#[tracepoint]
pub fn sys_exit(ctx: TracePointContext) -> u32 {
    let Some(cg) = watched() else { return 0 };
    let Some(mut entry) = reserve(SYSCALL_EXIT, cg) else {
        return 0;
    };
    let ev = entry.as_mut_ptr();
    // SAFETY: offsets come from the format files; `ev` is reserved.
    unsafe {
        (*ev).nr = ctx.read_at::<i32>(config(cfg::EXIT_ID)).unwrap_or(-1) as i64;
        (*ev).ret = ctx.read_at::<i64>(config(cfg::EXIT_RET)).unwrap_or(0);
    }
    entry.submit(0);
    0
}

/// execve entry: keep the head of argv (user memory, still the caller's) for the exec event.
#[tracepoint]
pub fn execve_enter(ctx: TracePointContext) -> u32 {
    if watched().is_none() {
        return 0;
    }
    let tid = bpf_get_current_pid_tgid() as u32;
    let mut buf = [0u8; ARGV_LEN];
    // SAFETY: the argv pointer comes from the tracepoint record; every user read is checked.
    unsafe {
        let argv: u64 = ctx.read_at(config(cfg::EXECVE_ARGV)).unwrap_or(0);
        if argv == 0 {
            return 0;
        }
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
    0
}

#[tracepoint]
pub fn process_exec(ctx: TracePointContext) -> u32 {
    let Some(cg) = watched() else { return 0 };
    let tid = bpf_get_current_pid_tgid() as u32;
    let Some(mut entry) = reserve(EXEC, cg) else {
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
    entry.submit(0);
    0
}

#[tracepoint]
pub fn process_fork(ctx: TracePointContext) -> u32 {
    let Some(cg) = watched() else { return 0 };
    let Some(mut entry) = reserve(FORK, cg) else {
        return 0;
    };
    let ev = entry.as_mut_ptr();
    // SAFETY: offsets from the format file; `ev` is reserved.
    unsafe {
        (*ev).args[0] = ctx.read_at::<i32>(config(cfg::FORK_PARENT)).unwrap_or(0) as u64;
        (*ev).args[1] = ctx.read_at::<i32>(config(cfg::FORK_CHILD)).unwrap_or(0) as u64;
    }
    entry.submit(0);
    0
}

#[tracepoint]
pub fn process_exit(_ctx: TracePointContext) -> u32 {
    let Some(cg) = watched() else { return 0 };
    if let Some(entry) = reserve(EXIT, cg) {
        entry.submit(0);
    }
    0
}

#[tracepoint]
pub fn cap_capable(ctx: TracePointContext) -> u32 {
    let Some(cg) = watched() else { return 0 };
    let Some(mut entry) = reserve(CAPABLE, cg) else {
        return 0;
    };
    let ev = entry.as_mut_ptr();
    // SAFETY: offsets from the format file; `ev` is reserved.
    unsafe {
        (*ev).nr = ctx.read_at::<i32>(config(cfg::CAP_CAP)).unwrap_or(-1) as i64;
        (*ev).ret = ctx.read_at::<i32>(config(cfg::CAP_RET)).unwrap_or(0) as i64;
    }
    entry.submit(0);
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
