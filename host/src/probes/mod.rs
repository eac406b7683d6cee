//! Kernel probes: load Bulwark's eBPF programs (built from `ebpf/probes`), attach them to
//! tracepoints, keep the set of watched cgroups current, and read what they report: the
//! event ring buffer, the in-kernel syscall counts and the lost-event counters.
//!
//! - [`sources`]: what to attach, from what the rules need, and what each costs.
//! - [`layout`]: tracefs, tracepoint field offsets and kernel struct offsets, read from the
//!   running kernel at load time, so that no kernel layout is compiled in.
//! - [`syscalls`]: the syscall table of the architecture Bulwark is built for.
//! - [`event`]: the event records and their kinds.
//! - [`filter`]: the host's mirror of the in-kernel table of watched cgroups.

pub mod event;
mod filter;
pub mod layout;
pub mod sources;
pub mod syscalls;

pub use sources::{CapResults, Source, Sources, Tier};

use aya::maps::{Array, HashMap as BpfHashMap, MapData, PerCpuArray, PerCpuHashMap, RingBuf};
use aya::programs::{RawTracePoint, TracePoint};
use aya::{Ebpf, EbpfLoader, Pod};
use bulwark_probes_common::{
    action, cap_action, cap_flags, cfg, count_flags, state, CapKey, CountKey, Watched, MAX_CAPS,
    MAX_SYSCALLS, NOAUDIT_RANGES, NO_SLOT,
};
use filter::{Filter, Op};
use layout::{Fields, KernelBtf, BTF};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The compiled probes (empty when this binary was built without bpf-linker).
static OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/bulwark-probes.o"));

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("this bulwark was built without its eBPF probes (bpf-linker was missing at build time; `cargo xtask setup` installs it)")]
    NotBuilt,
    #[error("loading eBPF programs needs root (or CAP_BPF and CAP_PERFMON); this process runs as uid {0}")]
    NotRoot(u32),
    #[error("tracefs is not mounted (looked in /sys/kernel/tracing and /sys/kernel/debug/tracing); mount it with `mount -t tracefs nodev /sys/kernel/tracing`")]
    NoTracefs,
    #[error("the kernel has no BTF (/sys/kernel/btf/vmlinux is missing)")]
    NoBtf,
    #[error("tracepoint {tracepoint}: cannot read {path}")]
    FormatFile {
        tracepoint: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("tracepoint {0}: no field {1}")]
    Field(String, String),
    #[error("cannot read the kernel's BTF")]
    Btf(#[source] btf_rs::Error),
    #[error("the kernel's BTF: {0}")]
    BtfLayout(String),
    #[error("loading the eBPF object")]
    Load(#[source] Box<aya::EbpfError>),
    #[error("the eBPF object has no {0}")]
    Missing(String),
    #[error("eBPF map {map}")]
    Map {
        map: &'static str,
        #[source]
        source: aya::maps::MapError,
    },
    #[error("eBPF program {program}")]
    Program {
        program: String,
        #[source]
        source: Box<aya::programs::ProgramError>,
    },
    #[error("attaching {program} to {tracepoint}")]
    Attach {
        program: String,
        tracepoint: String,
        #[source]
        source: Box<aya::programs::ProgramError>,
    },
    #[error("counting CPUs ({0})")]
    Cpus(&'static str, #[source] std::io::Error),
    #[error("turning on BPF statistics")]
    Stats(#[source] std::io::Error),
}

/// A map of the loaded object, by name.
fn map<'a>(ebpf: &'a Ebpf, name: &'static str) -> Result<&'a aya::maps::Map, ProbeError> {
    ebpf.map(name)
        .ok_or_else(|| ProbeError::Missing(format!("map {name}")))
}

fn map_mut<'a>(
    ebpf: &'a mut Ebpf,
    name: &'static str,
) -> Result<&'a mut aya::maps::Map, ProbeError> {
    ebpf.map_mut(name)
        .ok_or_else(|| ProbeError::Missing(format!("map {name}")))
}

/// Whether a map error says the key was not there (`bpf_map_delete_elem` gives ENOENT).
fn absent(e: &aya::maps::MapError) -> bool {
    match e {
        aya::maps::MapError::KeyNotFound => true,
        aya::maps::MapError::SyscallError(s) => s.io_error.raw_os_error() == Some(libc::ENOENT),
        _ => false,
    }
}

/// A map error, naming the map.
fn map_err(map: &'static str) -> impl Fn(aya::maps::MapError) -> ProbeError {
    move |source| ProbeError::Map { map, source }
}

#[repr(transparent)]
#[derive(Clone, Copy)]
struct Key(CountKey);
// SAFETY: CountKey is repr(C), plain integers, no padding.
unsafe impl Pod for Key {}

#[repr(transparent)]
#[derive(Clone, Copy)]
struct CapCountKey(CapKey);
// SAFETY: CapKey is repr(C), plain integers, no padding.
unsafe impl Pod for CapCountKey {}

#[repr(transparent)]
#[derive(Clone, Copy)]
struct Entry(Watched);
// SAFETY: Watched is repr(C), plain integers, no padding.
unsafe impl Pod for Entry {}

/// Loaded and attached probes.
pub struct Probes {
    ebpf: Ebpf,
    events: Option<RingBuf<MapData>>,
    filter: Filter,
    /// Counts of cgroups no longer watched, taken from their rows when they left.
    retained: HashMap<(u64, u32), u64>,
    /// What was attached where.
    attached: Vec<Attached>,
    /// What could not be attached as asked on this kernel, and what was done instead.
    notes: Vec<String>,
    /// Tasks are also looked up by PID namespace (see `attribute_by_pid_namespace`).
    pidns_on: bool,
}

/// Capability checks per (cgroup, capability).
pub type CapabilityCounts = HashMap<(u64, u32), CapTally>;

/// How a capability was checked. Only audited checks made after the container's first
/// `execve` say what the container needs: `granted` and `denied` count those alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CapTally {
    /// Audited checks after the first exec that passed.
    pub granted: u64,
    /// Audited checks after the first exec that failed.
    pub denied: u64,
    /// Unaudited probes (`*_noaudit`, the memory-overcommit check): the kernel asking
    /// what the task could do, not a need, whatever their result.
    pub unaudited: u64,
    /// Checks by processes that have not executed a program in the container (nor descend
    /// from one that has): the runtime setting the container up.
    pub before_exec: u64,
    /// Checks of other credentials than the task's own (overlayfs acting as its mounter):
    /// not the container's needs.
    pub other_creds: u64,
}

/// Syscall counts per (cgroup, syscall number).
pub type SyscallCounts = HashMap<(u64, u32), u64>;

/// One program attached to one tracepoint.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Attached {
    pub program: String,
    pub tracepoint: String,
    pub tier: Tier,
}

/// A program's cost so far, as the kernel counts it while BPF statistics are on.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProgramStats {
    pub program: String,
    pub runs: u64,
    pub run_time_ns: u64,
}

/// Options for loading.
#[derive(Debug, Clone, Copy)]
pub struct ProbeOptions {
    /// Ring buffer size in bytes (a power of two, at least a page).
    pub ring_bytes: u32,
    /// Attach programs that return at once instead of the real ones, at the same points
    /// (the benchmark's floor: what the kernel charges before Bulwark's code runs).
    pub floor: bool,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            ring_bytes: 8 << 20,
            floor: false,
        }
    }
}

/// What the probes need from this host, checked before anything is loaded.
pub fn preflight() -> Result<PathBuf, ProbeError> {
    if OBJECT.is_empty() {
        return Err(ProbeError::NotBuilt);
    }
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    if uid != 0 {
        return Err(ProbeError::NotRoot(uid));
    }
    if !Path::new(BTF).exists() {
        return Err(ProbeError::NoBtf);
    }
    layout::tracefs()
}

/// Turn on the kernel's BPF run-time statistics for as long as the returned descriptor
/// lives (what `kernel.bpf_stats_enabled=1` does for everyone).
pub fn enable_stats() -> Result<std::os::fd::OwnedFd, ProbeError> {
    aya::sys::enable_stats(aya::sys::Stats::RunTime)
        .map_err(|e| ProbeError::Stats(std::io::Error::other(e.to_string())))
}

/// Counts rows to allocate: one per watched container, within 32 MiB of per-CPU counters
/// (cgroups beyond them are counted in the slower spill hash).
fn count_rows() -> u32 {
    let cpus = aya::util::nr_cpus().unwrap_or(64).max(1) as u64;
    let row_bytes = MAX_SYSCALLS as u64 * 8 * cpus;
    ((32u64 << 20) / row_bytes).clamp(8, 1024) as u32
}

/// A tracepoint's category and name (`category/name`).
fn split_tp(tp: &str) -> (&str, &str) {
    tp.split_once('/').unwrap_or(("", tp))
}

/// The per-syscall tracepoints of the syscalls asked for that this kernel has, with the
/// one record layout their entry and exit records share. A syscall this architecture does
/// not have, or this kernel compiled out, is reported and left out.
struct SyscallPoints {
    /// (number, name) of each syscall attached.
    attached: Vec<(u32, String)>,
    /// (number, name) of each syscall this kernel has no tracepoints for: seen on
    /// `raw_syscalls/sys_enter` (attempts only; such a syscall fails with ENOSYS).
    raw: Vec<(u32, String)>,
    enter: (u32, u32),
    exit: (u32, u32),
}

fn syscall_points(tracefs: &Path, names: &std::collections::BTreeSet<String>) -> SyscallPoints {
    let mut out = SyscallPoints {
        attached: Vec::new(),
        raw: Vec::new(),
        enter: (0, 0),
        exit: (0, 0),
    };
    let (mut enter, mut exit) = (None, None);
    for name in names {
        let Some(nr) = syscalls::number(name) else {
            tracing::warn!("{name}: not a syscall of this architecture; not watched");
            continue;
        };
        let layouts = Fields::read(tracefs, &format!("syscalls/sys_enter_{name}"))
            .ok()
            .and_then(|f| f.enter_layout())
            .zip(
                Fields::read(tracefs, &format!("syscalls/sys_exit_{name}"))
                    .ok()
                    .and_then(|f| f.exit_layout()),
            );
        let Some(((nr_at, arg0), this_exit)) = layouts else {
            tracing::info!("{name}: this kernel has no tracepoints for it (compiled out); its attempts are seen on raw_syscalls/sys_enter");
            out.raw.push((nr, name.clone()));
            continue;
        };
        let this_enter = (nr_at, arg0.unwrap_or(nr_at + 8));
        if enter.is_some_and(|e| e != this_enter) || exit.is_some_and(|e| e != this_exit) {
            tracing::warn!("{name}: its tracepoint records differ from the others'; not watched");
            continue;
        }
        enter = Some(this_enter);
        exit = Some(this_exit);
        out.attached.push((nr, name.clone()));
    }
    out.enter = enter.unwrap_or_default();
    out.exit = exit.unwrap_or_default();
    out
}

/// The `CONFIG` array: tracepoint field offsets, kernel struct offsets and switches. Only
/// the tracepoints attached are read (a kernel without module support has no module_load).
fn config(
    tracefs: &Path,
    sources: &Sources,
    points: &SyscallPoints,
    ring: u32,
) -> Result<Vec<(u32, u32)>, ProbeError> {
    let capset = syscalls::number("capset")
        .ok_or_else(|| ProbeError::Missing("capset in this architecture's syscall table".into()))?;
    let mkdir = Fields::read(tracefs, "cgroup/cgroup_mkdir")?;
    let mut out = vec![
        (cfg::ENTER_ID, points.enter.0),
        (cfg::ENTER_ARG0, points.enter.1),
        (cfg::EXIT_ID, points.exit.0),
        (cfg::EXIT_RET, points.exit.1),
        (cfg::NR_CAPSET, capset),
        (cfg::WAKEUP_BYTES, ring / 8),
        (cfg::MKDIR_ROOT, mkdir.offset("root")?),
        (cfg::MKDIR_ID, mkdir.offset("id")?),
        (cfg::MKDIR_PATH, mkdir.offset("path")?),
        (cfg::COUNT_CAPS, sources.count_capabilities as u32),
    ];
    if sources.process {
        let btf = KernelBtf::open(Path::new(BTF))?;
        let exec = Fields::read(tracefs, "sched/sched_process_exec")?;
        let fork = Fields::read(tracefs, "sched/sched_process_fork")?;
        out.extend([
            (cfg::EXEC_FILENAME, exec.offset("filename")?),
            (cfg::EXEC_OLD_PID, exec.offset("old_pid")?),
            (cfg::FORK_PARENT, fork.offset("parent_pid")?),
            (cfg::FORK_CHILD, fork.offset("child_pid")?),
            (cfg::TASK_CRED, btf.offset("task_struct", "cred")?),
            (cfg::TASK_MM, btf.offset("task_struct", "mm")?),
            (cfg::CRED_EUID, btf.offset("cred", "euid")?),
            (cfg::CRED_EGID, btf.offset("cred", "egid")?),
            (cfg::MM_ARG_START, btf.offset("mm_struct", "arg_start")?),
            (cfg::MM_ARG_END, btf.offset("mm_struct", "arg_end")?),
        ]);
    }
    if !sources.capabilities.is_empty() || sources.count_capabilities {
        let cap = Fields::read(tracefs, "capability/cap_capable")?;
        out.extend([
            (cfg::CAP_CAP, cap.offset("cap")?),
            (cfg::CAP_RET, cap.offset("ret")?),
        ]);
    }
    if sources.namespaces {
        let t = Fields::read(tracefs, "task/task_newtask")?;
        out.extend([
            (cfg::NEWTASK_PID, t.offset("pid")?),
            (cfg::NEWTASK_FLAGS, t.offset("clone_flags")?),
        ]);
    }
    if let Some(m) = module_load(tracefs, sources) {
        out.push((cfg::MODULE_NAME, m.offset("name")?));
    }
    if sources.profile_detail || sources.count_refusals {
        out.extend(profile_config(sources)?);
    }
    if !points.raw.is_empty() {
        let regs = KernelBtf::open(Path::new(BTF))?.syscall_arg_offsets()?;
        out.extend((0..4).map(|i| (cfg::REG_ARG0 + i as u32, regs[i])));
    }
    Ok(out)
}

/// The `CONFIG` entries of what `profile` needs: the compat mark, the syscall number's
/// register for `sys_exit`, and the seccomp mode that tells the runtime's phases apart.
fn profile_config(sources: &Sources) -> Result<Vec<(u32, u32)>, ProbeError> {
    let mut out = Vec::new();
    let btf = KernelBtf::open(Path::new(BTF))?;
    let (strukt, member, bit) = syscalls::COMPAT_MARK;
    // thread_info is task_struct's first member on both architectures; asking BTF for
    // its offset keeps that from being assumed.
    match (
        btf.offset("task_struct", strukt),
        btf.offset(strukt, member),
    ) {
        (Ok(ti), Ok(word)) => out.extend([
            (cfg::TASK_COMPAT_WORD, ti + word),
            (cfg::COMPAT_MASK, bit),
            (cfg::COUNT_COMPAT, 1),
        ]),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!("compat syscalls are counted as native ones: {e}")
        }
    }
    if sources.count_refusals {
        out.push((cfg::REG_NR, btf.offset("pt_regs", syscalls::NR_REGISTER)?));
    }
    // The runtime's syscalls apart from the container's: which processes are the
    // container's is learnt at exec, so it needs the process tracepoints.
    if sources.profile_detail && sources.process {
        match (
            btf.offset("task_struct", "seccomp"),
            btf.offset("seccomp", "mode"),
        ) {
            (Ok(s), Ok(m)) => out.extend([(cfg::TASK_SECCOMP_MODE, s + m), (cfg::COUNT_PHASES, 1)]),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!("the runtime's syscalls are counted with the container's: {e}")
            }
        }
    }
    Ok(out)
}

/// The module_load tracepoint, when modules are asked for and this kernel has it.
fn module_load(tracefs: &Path, sources: &Sources) -> Option<Fields> {
    if !sources.modules {
        return None;
    }
    Fields::read(tracefs, "module/module_load").ok()
}

/// What this kernel cannot give as asked, for the operator.
fn notes(tracefs: &Path, sources: &Sources, points: &SyscallPoints) -> Vec<String> {
    let mut out = Vec::new();
    if sources.modules && module_load(tracefs, sources).is_none() {
        out.push("module loads: this kernel has no module support (no module/module_load tracepoint), so no module can be loaded".to_string());
    }
    if !points.raw.is_empty() {
        let names: Vec<&str> = points.raw.iter().map(|(_, n)| n.as_str()).collect();
        out.push(format!(
            "syscalls {}: this kernel has no tracepoints for them (compiled out); their attempts are seen on raw_syscalls/sys_enter",
            names.join(", ")
        ));
    }
    out
}

/// (program, tracepoint, tier) of everything to attach for `sources`.
fn plan(
    tracefs: &Path,
    sources: &Sources,
    points: &SyscallPoints,
) -> Vec<(&'static str, String, Tier)> {
    let mut out = vec![(
        "cgroup_mkdir",
        "cgroup/cgroup_mkdir".to_string(),
        Tier::Process,
    )];
    if sources.process {
        for (p, tp) in [
            ("process_exec", "sched/sched_process_exec"),
            ("process_fork", "sched/sched_process_fork"),
            ("process_exit", "sched/sched_process_exit"),
        ] {
            out.push((p, tp.to_string(), Tier::Process));
        }
    }
    if !sources.capabilities.is_empty() || sources.count_capabilities {
        out.push((
            "cap_capable",
            "capability/cap_capable".into(),
            Tier::Process,
        ));
    }
    if sources.namespaces {
        out.push(("task_newtask", "task/task_newtask".into(), Tier::Process));
    }
    if module_load(tracefs, sources).is_some() {
        out.push(("module_load", "module/module_load".into(), Tier::Process));
    }
    for (_, name) in &points.attached {
        out.push((
            "sys_enter",
            format!("syscalls/sys_enter_{name}"),
            Tier::Syscalls,
        ));
        out.push((
            "sys_exit",
            format!("syscalls/sys_exit_{name}"),
            Tier::Syscalls,
        ));
    }
    if !points.raw.is_empty() {
        out.push(("raw_enter", "raw_syscalls/sys_enter".into(), Tier::Syscalls));
    }
    if sources.count_syscalls {
        out.push((
            "count_syscall",
            "raw_syscalls/sys_enter".into(),
            Tier::AllSyscalls,
        ));
    }
    if sources.count_refusals {
        out.push((
            "count_exit",
            "raw_syscalls/sys_exit".into(),
            Tier::AllSyscalls,
        ));
    }
    out
}

/// Load and attach the programs of `plan` (or, for the floor, programs that return at once
/// at the same points).
fn attach(
    ebpf: &mut Ebpf,
    plan: &[(&'static str, String, Tier)],
    floor: bool,
) -> Result<Vec<Attached>, ProbeError> {
    let program = |p: &str| {
        let p = p.to_string();
        move |source: aya::programs::ProgramError| ProbeError::Program {
            program: p.clone(),
            source: Box::new(source),
        }
    };
    let attach_err = |prog: &str, tp: &str| {
        let (prog, tp) = (prog.to_string(), tp.to_string());
        move |source| ProbeError::Attach {
            program: prog.clone(),
            tracepoint: tp.clone(),
            source: Box::new(source),
        }
    };
    let mut loaded: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for (prog, tp, tier) in plan {
        let raw = matches!(*prog, "count_syscall" | "count_exit" | "raw_enter");
        let prog: &str = match (floor, raw) {
            (true, true) => "floor_raw",
            (true, false) => "floor_tp",
            _ => prog,
        };
        let p = ebpf
            .program_mut(prog)
            .ok_or_else(|| ProbeError::Missing(format!("program {prog}")))?;
        let first = !loaded.contains(&prog);
        if raw {
            let p: &mut RawTracePoint = p.try_into().map_err(program(prog))?;
            if first {
                p.load().map_err(program(prog))?;
            }
            p.attach(split_tp(tp).1).map_err(attach_err(prog, tp))?;
        } else {
            let p: &mut TracePoint = p.try_into().map_err(program(prog))?;
            if first {
                p.load().map_err(program(prog))?;
            }
            let (category, name) = split_tp(tp);
            p.attach(category, name).map_err(attach_err(prog, tp))?;
        }
        if first {
            loaded.push(prog);
        }
        out.push(Attached {
            program: prog.to_string(),
            tracepoint: tp.clone(),
            tier: *tier,
        });
    }
    Ok(out)
}

/// Write `values` into the array map `name`.
fn fill<T: Pod>(
    ebpf: &mut Ebpf,
    name: &'static str,
    values: &[(u32, T)],
) -> Result<(), ProbeError> {
    let mut a: Array<_, T> = Array::try_from(map_mut(ebpf, name)?).map_err(map_err(name))?;
    for (i, v) in values {
        a.set(*i, *v, 0).map_err(map_err(name))?;
    }
    Ok(())
}

/// The `CAPS` action of each capability asked for.
fn cap_actions(sources: &Sources) -> Vec<(u32, u8)> {
    sources
        .capabilities
        .iter()
        .filter(|(cap, _)| **cap < MAX_CAPS)
        .map(|(cap, r)| {
            let mut a = 0;
            if r.granted {
                a |= cap_action::GRANTED;
            }
            if r.denied {
                a |= cap_action::DENIED;
            }
            (*cap, a)
        })
        .collect()
}

impl Probes {
    /// Load the programs and attach what `sources` needs (see [`sources`]).
    pub fn load(opts: ProbeOptions, sources: &Sources) -> Result<Probes, ProbeError> {
        let tracefs = preflight()?;
        let ring = opts.ring_bytes.max(4096).next_power_of_two();
        let rows = count_rows();
        let mut ebpf = EbpfLoader::new()
            .map_max_entries("EVENTS", ring)
            .map_max_entries("COUNTS", rows * MAX_SYSCALLS)
            .load(OBJECT)
            .map_err(|e| ProbeError::Load(Box::new(e)))?;
        let points = syscall_points(&tracefs, &sources.syscalls);
        fill(
            &mut ebpf,
            "CONFIG",
            &config(&tracefs, sources, &points, ring)?,
        )?;
        let events: Vec<(u32, u8)> = points
            .attached
            .iter()
            .map(|(nr, _)| (*nr, action::EVENT))
            .chain(points.raw.iter().map(|(nr, _)| (*nr, action::RAW_EVENT)))
            .collect();
        fill(&mut ebpf, "SYSCALLS", &events)?;
        fill(&mut ebpf, "CAPS", &cap_actions(sources))?;
        let mut notes = Vec::new();
        if sources.profile_detail && sources.count_capabilities {
            let ranges = layout::noaudit_ranges();
            if ranges.is_empty() {
                notes.push("unaudited capability probes cannot be told from needs: /proc/kallsyms gives no addresses (kernel.kptr_restrict); every granted check counts as a need".to_string());
            } else {
                let flat: Vec<(u32, u64)> = ranges
                    .iter()
                    .take(NOAUDIT_RANGES as usize)
                    .enumerate()
                    .flat_map(|(i, (a, b))| [(2 * i as u32, *a), (2 * i as u32 + 1, *b)])
                    .collect();
                fill(&mut ebpf, "NOAUDIT", &flat)?;
                fill(&mut ebpf, "CONFIG", &[(cfg::NOAUDIT_ON, 1u32)])?;
            }
            let cap = Fields::read(&tracefs, "capability/cap_capable")?;
            let real = KernelBtf::open(Path::new(BTF))?.offset("task_struct", "real_cred")?;
            fill(
                &mut ebpf,
                "CONFIG",
                &[
                    (cfg::CAP_CRED, cap.offset("cred")?),
                    (cfg::TASK_REAL_CRED, real),
                ],
            )?;
        }
        let attached = attach(&mut ebpf, &plan(&tracefs, sources, &points), opts.floor)?;
        notes.extend(self::notes(&tracefs, sources, &points));
        let events = ebpf
            .take_map("EVENTS")
            .ok_or_else(|| ProbeError::Missing("map EVENTS".into()))
            .and_then(|m| RingBuf::try_from(m).map_err(map_err("EVENTS")))?;
        Ok(Probes {
            ebpf,
            events: Some(events),
            filter: Filter::new(rows),
            retained: HashMap::new(),
            attached,
            notes,
            pidns_on: false,
        })
    }

    /// What is attached where.
    pub fn attached(&self) -> &[Attached] {
        &self.attached
    }

    /// What this kernel could not give as asked, and what was done instead.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Each attached program's runs and run time so far (zero unless BPF statistics are on:
    /// `kernel.bpf_stats_enabled`, or [`enable_stats`]).
    pub fn program_stats(&self) -> Vec<ProgramStats> {
        let mut out: Vec<ProgramStats> = Vec::new();
        for (name, p) in self.ebpf.programs() {
            if !self.attached.iter().any(|a| a.program == name) {
                continue;
            }
            if let Ok(info) = p.info() {
                out.push(ProgramStats {
                    program: name.to_string(),
                    runs: info.run_count(),
                    run_time_ns: info.run_time().as_nanos() as u64,
                });
            }
        }
        out.sort_by(|a, b| a.program.cmp(&b.program));
        out
    }

    /// A cgroup the probes saw created is now watched through the table (or was not a
    /// container): it leaves `PENDING`, and the flag is cleared once none is left.
    pub fn settle_pending(&mut self, cgroup: u64) -> Result<(), ProbeError> {
        let mut pending: BpfHashMap<_, u64, u8> =
            BpfHashMap::try_from(map_mut(&mut self.ebpf, "PENDING")?)
                .map_err(map_err("PENDING"))?;
        match pending.remove(&cgroup) {
            Err(e) if !absent(&e) => return Err(map_err("PENDING")(e)),
            _ => {}
        }
        if pending.keys().next().is_none() {
            fill(&mut self.ebpf, "STATE", &[(state::PENDING_ANY, 0u64)])?;
            // One created meanwhile sets the flag again; make sure it is not lost.
            let pending: BpfHashMap<_, u64, u8> =
                BpfHashMap::try_from(map(&self.ebpf, "PENDING")?).map_err(map_err("PENDING"))?;
            if pending.keys().next().is_some() {
                fill(&mut self.ebpf, "STATE", &[(state::PENDING_ANY, 1u64)])?;
            }
        }
        Ok(())
    }

    /// Watch (or stop watching) a cgroup id.
    pub fn watch(&mut self, cgroup: u64, on: bool) -> Result<(), ProbeError> {
        let ops = if on {
            self.filter.add(cgroup)
        } else {
            self.filter.remove(cgroup)
        };
        for op in ops {
            self.apply(op)?;
        }
        Ok(())
    }

    fn apply(&mut self, op: Op) -> Result<(), ProbeError> {
        match op {
            Op::Direct(idx, w) => fill(&mut self.ebpf, "DIRECT", &[(idx, Entry(w))]),
            Op::OverflowInsert(cg, row) => {
                let mut m: BpfHashMap<_, u64, u32> =
                    BpfHashMap::try_from(map_mut(&mut self.ebpf, "OVERFLOW")?)
                        .map_err(map_err("OVERFLOW"))?;
                m.insert(cg, row, 0).map_err(map_err("OVERFLOW"))
            }
            Op::OverflowRemove(cg) => {
                let mut m: BpfHashMap<_, u64, u32> =
                    BpfHashMap::try_from(map_mut(&mut self.ebpf, "OVERFLOW")?)
                        .map_err(map_err("OVERFLOW"))?;
                match m.remove(&cg) {
                    Err(e) if !absent(&e) => Err(map_err("OVERFLOW")(e)),
                    _ => Ok(()),
                }
            }
            Op::Clear(row) => {
                let mut m: PerCpuArray<_, u64> =
                    PerCpuArray::try_from(map_mut(&mut self.ebpf, "COUNTS")?)
                        .map_err(map_err("COUNTS"))?;
                let cpus = aya::util::nr_cpus().map_err(|(what, e)| ProbeError::Cpus(what, e))?;
                for nr in 0..MAX_SYSCALLS {
                    let zero = aya::maps::PerCpuValues::try_from(vec![0u64; cpus])
                        .map_err(|e| ProbeError::Cpus("per-CPU values", e))?;
                    m.set(row * MAX_SYSCALLS + nr, zero, 0)
                        .map_err(map_err("COUNTS"))?;
                }
                Ok(())
            }
            Op::Harvest(cg, row) => {
                for (nr, n) in self.row(row)? {
                    *self.retained.entry((cg, nr)).or_default() += n;
                }
                Ok(())
            }
        }
    }

    /// The non-zero counts of one row, summed over CPUs.
    fn row(&self, row: u32) -> Result<Vec<(u32, u64)>, ProbeError> {
        let m: PerCpuArray<_, u64> =
            PerCpuArray::try_from(map(&self.ebpf, "COUNTS")?).map_err(map_err("COUNTS"))?;
        let mut out = Vec::new();
        for nr in 0..MAX_SYSCALLS {
            let n: u64 = m
                .get(&(row * MAX_SYSCALLS + nr), 0)
                .map_err(map_err("COUNTS"))?
                .iter()
                .sum();
            if n > 0 {
                out.push((nr, n));
            }
        }
        Ok(out)
    }

    /// The ring buffer, for the reader task (taken once).
    pub fn take_events(&mut self) -> Option<RingBuf<MapData>> {
        self.events.take()
    }

    /// Events lost to a full ring buffer, all CPUs.
    pub fn lost(&self) -> Result<u64, ProbeError> {
        let m: PerCpuArray<_, u64> =
            PerCpuArray::try_from(map(&self.ebpf, "LOST")?).map_err(map_err("LOST"))?;
        let v = m.get(&0, 0).map_err(map_err("LOST"))?;
        Ok(v.iter().sum())
    }

    /// Capability checks per (cgroup, capability), summed over CPUs (counted only when
    /// [`Sources::count_capabilities`] was asked for).
    pub fn capability_counts(&self) -> Result<CapabilityCounts, ProbeError> {
        let m: PerCpuHashMap<_, CapCountKey, u64> =
            PerCpuHashMap::try_from(map(&self.ebpf, "CAP_COUNTS")?)
                .map_err(map_err("CAP_COUNTS"))?;
        let mut out = CapabilityCounts::new();
        for item in m.iter() {
            let (k, v) = item.map_err(map_err("CAP_COUNTS"))?;
            let n: u64 = v.iter().sum();
            let t = out.entry((k.0.cgroup, k.0.cap)).or_default();
            let f = k.0.flags;
            if f & cap_flags::OTHER_CRED != 0 {
                t.other_creds += n;
            } else if f & cap_flags::NOAUDIT != 0 {
                t.unaudited += n;
            } else if f & cap_flags::BEFORE_EXEC != 0 {
                t.before_exec += n;
            } else if f & cap_flags::DENIED != 0 {
                t.denied += n;
            } else {
                t.granted += n;
            }
        }
        Ok(out)
    }

    /// Also look tasks up by their PID namespace (see `cfg::PIDNS_ON`), for containers
    /// without a cgroup of their own. Idempotent.
    pub fn attribute_by_pid_namespace(&mut self) -> Result<(), ProbeError> {
        if self.pidns_on {
            return Ok(());
        }
        let btf = KernelBtf::open(Path::new(BTF))?;
        let inum = btf.offset("pid_namespace", "ns")? + btf.offset("ns_common", "inum")?;
        fill(
            &mut self.ebpf,
            "CONFIG",
            &[
                (cfg::TASK_NSPROXY, btf.offset("task_struct", "nsproxy")?),
                (
                    cfg::NSPROXY_PIDNS,
                    btf.offset("nsproxy", "pid_ns_for_children")?,
                ),
                (cfg::PIDNS_INUM, inum),
                // Last: the offsets are in place before any program uses them.
                (cfg::PIDNS_ON, 1),
            ],
        )?;
        self.pidns_on = true;
        Ok(())
    }

    /// A container that was already running when it was first watched: its own program
    /// runs, so its capability checks are its needs, not the runtime's set-up.
    pub fn mark_started(&mut self, cgroup: u64) -> Result<(), ProbeError> {
        let mut m: BpfHashMap<_, u64, u8> =
            BpfHashMap::try_from(map_mut(&mut self.ebpf, "STARTED")?)
                .map_err(map_err("STARTED"))?;
        m.insert(cgroup, 1, 0).map_err(map_err("STARTED"))
    }

    /// Compat (32-bit) syscall counts per (cgroup, compat number), when
    /// [`Sources::profile_detail`] was asked for.
    pub fn compat_counts(&self) -> Result<SyscallCounts, ProbeError> {
        self.flagged(count_flags::COMPAT)
    }

    /// Native syscalls that ended in `-EPERM` per (cgroup, number), when
    /// [`Sources::count_refusals`] was asked for.
    pub fn eperm_counts(&self) -> Result<SyscallCounts, ProbeError> {
        self.flagged(count_flags::EPERM_EXIT)
    }

    /// Compat syscalls that ended in `-EPERM`.
    pub fn compat_eperm_counts(&self) -> Result<SyscallCounts, ProbeError> {
        self.flagged(count_flags::EPERM_EXIT | count_flags::COMPAT)
    }

    /// The runtime's syscalls per (cgroup, number) while it set containers up: those made
    /// with a seccomp filter loaded (`filtered`), or without.
    pub fn runtime_counts(&self, filtered: bool) -> Result<SyscallCounts, ProbeError> {
        let flags = if filtered {
            count_flags::RUNTIME | count_flags::FILTERED
        } else {
            count_flags::RUNTIME
        };
        self.flagged(flags)
    }

    /// Spill-hash counts with exactly these flags.
    fn flagged(&self, flags: u32) -> Result<SyscallCounts, ProbeError> {
        let m: PerCpuHashMap<_, Key, u64> =
            PerCpuHashMap::try_from(map(&self.ebpf, "SPILL")?).map_err(map_err("SPILL"))?;
        let mut out = SyscallCounts::new();
        for item in m.iter() {
            let (k, v) = item.map_err(map_err("SPILL"))?;
            if k.0.flags == flags {
                *out.entry((k.0.cgroup, k.0.nr)).or_default() += v.iter().sum::<u64>();
            }
        }
        Ok(out)
    }

    /// Syscall counts per (cgroup, syscall number), summed over CPUs: the rows of the
    /// cgroups watched now, what was kept of those that left, and the spill hash.
    pub fn counts(&self) -> Result<SyscallCounts, ProbeError> {
        let mut out = self.retained.clone();
        for (cg, row) in &self.filter.cgroups {
            if *row != NO_SLOT {
                for (nr, n) in self.row(*row)? {
                    *out.entry((*cg, nr)).or_default() += n;
                }
            }
        }
        for ((cg, nr), n) in self.flagged(0)? {
            *out.entry((cg, nr)).or_default() += n;
        }
        Ok(out)
    }
}
