//! Kernel probes: load Bulwark's eBPF programs (built from `ebpf/probes`), attach them to
//! tracepoints, keep the set of watched cgroups current, and read what they report: the
//! event ring buffer, the in-kernel syscall counts and the lost-event counters.
//!
//! - [`layout`]: tracefs, tracepoint field offsets and `pt_regs` offsets, read from the
//!   running kernel at load time, so that no kernel layout is compiled in.
//! - [`syscalls`]: the syscall table of the architecture Bulwark is built for.
//! - [`event`]: the event records and their kinds.
//! - [`filter`]: the host's mirror of the in-kernel table of watched cgroups.

pub mod event;
mod filter;
pub mod layout;
pub mod syscalls;

use aya::maps::{Array, HashMap as BpfHashMap, MapData, PerCpuArray, PerCpuHashMap, RingBuf};
use aya::programs::{RawTracePoint, TracePoint};
use aya::{Ebpf, EbpfLoader, Pod};
use bulwark_probes_common::{action, cfg, CountKey, Watched, MAX_SYSCALLS, NO_SLOT};
use filter::{Filter, Op};
use layout::{Fields, BTF};
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

/// A map error, naming the map.
fn map_err(map: &'static str) -> impl Fn(aya::maps::MapError) -> ProbeError {
    move |source| ProbeError::Map { map, source }
}

#[repr(transparent)]
#[derive(Clone, Copy)]
struct Key(CountKey);
// SAFETY: CountKey is repr(C), plain integers, explicit padding.
unsafe impl Pod for Key {}

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
}

/// Options for loading.
#[derive(Debug, Clone, Copy)]
pub struct ProbeOptions {
    /// Ring buffer size in bytes (a power of two, at least a page).
    pub ring_bytes: u32,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            ring_bytes: 8 << 20,
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

/// Counts rows to allocate: one per watched container, within 32 MiB of per-CPU counters
/// (cgroups beyond them are counted in the slower spill hash).
fn count_rows() -> u32 {
    let cpus = aya::util::nr_cpus().unwrap_or(64).max(1) as u64;
    let row_bytes = MAX_SYSCALLS as u64 * 8 * cpus;
    ((32u64 << 20) / row_bytes).clamp(8, 1024) as u32
}

/// The watched syscalls whose results are seen, on their `sys_exit_<name>` tracepoints, and
/// the one record layout those share. A syscall compiled out of this kernel has no such
/// tracepoint: only its attempts are seen.
fn exit_tracepoints(
    tracefs: &Path,
    watched: &[(u32, &'static str)],
) -> (Vec<&'static str>, (u32, u32)) {
    let mut layout: Option<(u32, u32)> = None;
    let mut names = Vec::new();
    for (_, name) in watched {
        let Ok(fields) = Fields::read(tracefs, &format!("syscalls/sys_exit_{name}")) else {
            tracing::debug!("no sys_exit tracepoint for {name}: its result is not seen");
            continue;
        };
        let Some(this) = fields.exit_layout() else {
            tracing::warn!("sys_exit_{name} has an unexpected layout; its result is not seen");
            continue;
        };
        match layout {
            None => layout = Some(this),
            Some(l) if l != this => {
                tracing::warn!("sys_exit_{name} differs from the others; its result is not seen");
                continue;
            }
            Some(_) => {}
        }
        names.push(*name);
    }
    (names, layout.unwrap_or((0, 0)))
}

/// The `CONFIG` array: tracepoint field offsets, `pt_regs` offsets and constants.
fn config(tracefs: &Path, exit: (u32, u32), ring: u32) -> Result<Vec<(u32, u32)>, ProbeError> {
    let regs = layout::syscall_arg_offsets(Path::new(BTF))?;
    let exec = Fields::read(tracefs, "sched/sched_process_exec")?;
    let fork = Fields::read(tracefs, "sched/sched_process_fork")?;
    let cap = Fields::read(tracefs, "capability/cap_capable")?;
    let capset = syscalls::number("capset")
        .ok_or_else(|| ProbeError::Missing("capset in this architecture's syscall table".into()))?;
    Ok(vec![
        (cfg::EXIT_ID, exit.0),
        (cfg::EXIT_RET, exit.1),
        (cfg::EXEC_FILENAME, exec.offset("filename")?),
        (cfg::EXEC_OLD_PID, exec.offset("old_pid")?),
        (cfg::FORK_PARENT, fork.offset("parent_pid")?),
        (cfg::FORK_CHILD, fork.offset("child_pid")?),
        (cfg::CAP_CAP, cap.offset("cap")?),
        (cfg::CAP_RET, cap.offset("ret")?),
        (cfg::NR_CAPSET, capset),
        (cfg::REG_ARG0, regs[0]),
        (cfg::REG_ARG0 + 1, regs[1]),
        (cfg::REG_ARG0 + 2, regs[2]),
        (cfg::REG_ARG0 + 3, regs[3]),
        (cfg::WAKEUP_BYTES, ring / 8),
    ])
}

/// What the entry program does with each syscall number besides counting it: watched
/// syscalls become events; execve and execveat keep their argv head for the exec event.
fn actions(watched: &[(u32, &'static str)]) -> Vec<(u32, u8)> {
    let mut out: Vec<(u32, u8)> = watched.iter().map(|(nr, _)| (*nr, action::EVENT)).collect();
    for (name, a) in [("execve", action::ARGV_1), ("execveat", action::ARGV_2)] {
        if let Some(nr) = syscalls::number(name) {
            out.push((nr, a));
        }
    }
    out
}

/// Attach the programs: the entry program on `raw_syscalls/sys_enter`, the others on
/// their tracepoints.
fn attach(ebpf: &mut Ebpf, exits: &[&str]) -> Result<(), ProbeError> {
    let program = |p: &str| {
        let p = p.to_string();
        move |source: aya::programs::ProgramError| ProbeError::Program {
            program: p.clone(),
            source: Box::new(source),
        }
    };
    let p: &mut RawTracePoint = ebpf
        .program_mut("count_syscall")
        .ok_or_else(|| ProbeError::Missing("program count_syscall".into()))?
        .try_into()
        .map_err(program("count_syscall"))?;
    p.load().map_err(program("count_syscall"))?;
    p.attach("sys_enter").map_err(|source| ProbeError::Attach {
        program: "count_syscall".into(),
        tracepoint: "raw_syscalls/sys_enter".into(),
        source: Box::new(source),
    })?;
    let mut targets: Vec<(&str, &str, String)> = exits
        .iter()
        .map(|name| ("sys_exit", "syscalls", format!("sys_exit_{name}")))
        .collect();
    for (prog, category, name) in [
        ("process_exec", "sched", "sched_process_exec"),
        ("process_fork", "sched", "sched_process_fork"),
        ("process_exit", "sched", "sched_process_exit"),
        ("cap_capable", "capability", "cap_capable"),
    ] {
        targets.push((prog, category, name.to_string()));
    }
    let mut loaded: Vec<&str> = Vec::new();
    for (prog, category, name) in &targets {
        let p: &mut TracePoint = ebpf
            .program_mut(prog)
            .ok_or_else(|| ProbeError::Missing(format!("program {prog}")))?
            .try_into()
            .map_err(program(prog))?;
        if !loaded.contains(prog) {
            p.load().map_err(program(prog))?;
            loaded.push(prog);
        }
        p.attach(category, name)
            .map_err(|source| ProbeError::Attach {
                program: prog.to_string(),
                tracepoint: format!("{category}/{name}"),
                source: Box::new(source),
            })?;
    }
    Ok(())
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

impl Probes {
    pub fn load(opts: ProbeOptions) -> Result<Probes, ProbeError> {
        let tracefs = preflight()?;
        let ring = opts.ring_bytes.max(4096).next_power_of_two();
        let rows = count_rows();
        let mut ebpf = EbpfLoader::new()
            .map_max_entries("EVENTS", ring)
            .map_max_entries("COUNTS", rows * MAX_SYSCALLS)
            .load(OBJECT)
            .map_err(|e| ProbeError::Load(Box::new(e)))?;
        // Watched syscalls are taken at entry by the counting program, by number; their
        // results come from each one's own sys_exit tracepoint.
        let watched = syscalls::watched();
        let (exits, exit_layout) = exit_tracepoints(&tracefs, &watched);
        fill(&mut ebpf, "CONFIG", &config(&tracefs, exit_layout, ring)?)?;
        fill(&mut ebpf, "SYSCALLS", &actions(&watched))?;
        attach(&mut ebpf, &exits)?;
        let events = ebpf
            .take_map("EVENTS")
            .ok_or_else(|| ProbeError::Missing("map EVENTS".into()))
            .and_then(|m| RingBuf::try_from(m).map_err(map_err("EVENTS")))?;
        Ok(Probes {
            ebpf,
            events: Some(events),
            filter: Filter::new(rows),
            retained: HashMap::new(),
        })
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
                    Ok(()) | Err(aya::maps::MapError::KeyNotFound) => Ok(()),
                    Err(e) => Err(map_err("OVERFLOW")(e)),
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

    /// Syscall counts per (cgroup, syscall number), summed over CPUs: the rows of the
    /// cgroups watched now, what was kept of those that left, and the spill hash.
    pub fn counts(&self) -> Result<HashMap<(u64, u32), u64>, ProbeError> {
        let mut out = self.retained.clone();
        for (cg, row) in &self.filter.cgroups {
            if *row != NO_SLOT {
                for (nr, n) in self.row(*row)? {
                    *out.entry((*cg, nr)).or_default() += n;
                }
            }
        }
        let m: PerCpuHashMap<_, Key, u64> =
            PerCpuHashMap::try_from(map(&self.ebpf, "SPILL")?).map_err(map_err("SPILL"))?;
        for item in m.iter() {
            let (k, v) = item.map_err(map_err("SPILL"))?;
            *out.entry((k.0.cgroup, k.0.nr)).or_default() += v.iter().sum::<u64>();
        }
        Ok(out)
    }
}
