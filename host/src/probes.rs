//! Kernel probes: load Bulwark's eBPF programs (built from `ebpf/probes`), attach them to
//! tracepoints, keep the set of watched cgroups current, and read what they report: the
//! event ring buffer, the in-kernel syscall counts and the lost-event counters.
//!
//! Tracepoint field offsets are read from tracefs `format` files, and where syscall
//! arguments sit in `struct pt_regs` from the kernel's BTF, at load time, and handed to the
//! programs, so no kernel layout is compiled in.

use aya::maps::{Array, HashMap as BpfHashMap, MapData, PerCpuArray, PerCpuHashMap, RingBuf};
use aya::programs::{RawTracePoint, TracePoint};
use aya::{Ebpf, EbpfLoader, Pod};
use bulwark_probes_common::{
    action, cfg, CountKey, Event, Watched, DIRECT_LEN, MAX_SYSCALLS, NO_SLOT, OVERFLOWED,
};
use std::collections::{BTreeMap, HashMap};
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
    #[error("tracepoint {0}: {1}")]
    Format(String, String),
    #[error("eBPF: {0}")]
    Ebpf(String),
}

fn ebpf_err(e: impl std::fmt::Display) -> ProbeError {
    ProbeError::Ebpf(e.to_string())
}

/// A map of the loaded object, by name.
fn map<'a>(ebpf: &'a Ebpf, name: &str) -> Result<&'a aya::maps::Map, ProbeError> {
    ebpf.map(name)
        .ok_or_else(|| ebpf_err(format!("no {name} map")))
}

fn map_mut<'a>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut aya::maps::Map, ProbeError> {
    ebpf.map_mut(name)
        .ok_or_else(|| ebpf_err(format!("no {name} map")))
}

/// Where tracefs is mounted (`$BULWARK_TRACEFS` names a non-standard mount point).
pub fn tracefs() -> Result<PathBuf, ProbeError> {
    if let Some(p) = std::env::var_os("BULWARK_TRACEFS") {
        let p = PathBuf::from(p);
        return if p.join("events").is_dir() {
            Ok(p)
        } else {
            Err(ProbeError::NoTracefs)
        };
    }
    ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.join("events").is_dir())
        .ok_or(ProbeError::NoTracefs)
}

/// Field offsets of a tracepoint, from its tracefs `format` file.
pub fn field_offsets(tracefs: &Path, tp: &str) -> Result<HashMap<String, u32>, ProbeError> {
    let path = tracefs.join("events").join(tp).join("format");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| ProbeError::Format(tp.to_string(), format!("{}: {e}", path.display())))?;
    Ok(parse_format(&text))
}

/// `field:TYPE NAME[...];\toffset:N;\tsize:N;...` lines → name → offset.
fn parse_format(text: &str) -> HashMap<String, u32> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("field:") else {
            continue;
        };
        let mut parts = rest.split(';');
        let decl = parts.next().unwrap_or("");
        let name = decl
            .split_whitespace()
            .last()
            .unwrap_or("")
            .split('[')
            .next()
            .unwrap_or("")
            .to_string();
        let offset = parts
            .find_map(|p| p.trim().strip_prefix("offset:"))
            .and_then(|o| o.parse().ok());
        if let (false, Some(o)) = (name.is_empty(), offset) {
            out.insert(name, o);
        }
    }
    out
}

/// (nr, ret) offsets of a sys_exit_* record.
fn exit_layout(exit: &HashMap<String, u32>) -> Option<(u32, u32)> {
    Some((*exit.get("__syscall_nr")?, *exit.get("ret")?))
}

/// Where syscall arguments 0..4 live in the kernel's `struct pt_regs`, from its BTF.
fn syscall_arg_offsets(btf: &Path) -> Result<[u32; 4], ProbeError> {
    let bad = |m: String| ProbeError::Format("BTF struct pt_regs".into(), m);
    let btf = btf_rs::Btf::from_file(btf).map_err(|e| bad(e.to_string()))?;
    let regs = btf
        .resolve_types_by_name("pt_regs")
        .map_err(|e| bad(e.to_string()))?
        .into_iter()
        .find_map(|t| match t {
            btf_rs::Type::Struct(s) => Some(s),
            _ => None,
        })
        .ok_or_else(|| bad("not found".into()))?;
    let at = |name: &str| {
        member_offset(&btf, &regs, name).ok_or_else(|| bad(format!("no member {name}")))
    };
    match std::env::consts::ARCH {
        "x86_64" => Ok([at("di")?, at("si")?, at("dx")?, at("r10")?]),
        // arm64 keeps the first argument in orig_x0 (x0 becomes the return value).
        "aarch64" => {
            let r = at("regs")?;
            Ok([at("orig_x0")?, r + 8, r + 16, r + 24])
        }
        other => Err(bad(format!("syscall arguments of {other} are not mapped"))),
    }
}

/// Byte offset of a member, looking through anonymous structs and unions.
fn member_offset(btf: &btf_rs::Btf, s: &btf_rs::Struct, name: &str) -> Option<u32> {
    for m in &s.members {
        let this = btf.resolve_name(m).unwrap_or_default();
        if this == name {
            return Some(m.bit_offset() / 8);
        }
        if this.is_empty() {
            if let Ok(btf_rs::Type::Struct(inner) | btf_rs::Type::Union(inner)) =
                btf.resolve_chained_type(m)
            {
                if let Some(o) = member_offset(btf, &inner, name) {
                    return Some(m.bit_offset() / 8 + o);
                }
            }
        }
    }
    None
}

fn offset(map: &HashMap<String, u32>, tp: &str, field: &str) -> Result<u32, ProbeError> {
    map.get(field)
        .copied()
        .ok_or_else(|| ProbeError::Format(tp.to_string(), format!("no field {field}")))
}

/// Syscalls (x86_64 numbers) whose entry and exit become events; the rest are only counted.
pub const WATCHED_SYSCALLS: &[(u32, &str)] = &[
    (90, "chmod"),
    (91, "fchmod"),
    (101, "ptrace"),
    (105, "setuid"),
    (106, "setgid"),
    (113, "setreuid"),
    (114, "setregid"),
    (117, "setresuid"),
    (119, "setresgid"),
    (122, "setfsuid"),
    (123, "setfsgid"),
    (126, "capset"),
    (165, "mount"),
    (166, "umount2"),
    (175, "init_module"),
    (268, "fchmodat"),
    (272, "unshare"),
    (308, "setns"),
    (313, "finit_module"),
    (321, "bpf"),
    (452, "fchmodat2"),
];

/// Syscall names by number for this architecture, from the kernel headers' unistd table
/// when installed (linux-libc-dev comes with any C toolchain), else the watched ones.
fn syscall_table() -> &'static HashMap<i64, String> {
    static TABLE: std::sync::OnceLock<HashMap<i64, String>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t: HashMap<i64, String> = WATCHED_SYSCALLS
            .iter()
            .map(|(n, s)| (*n as i64, s.to_string()))
            .collect();
        let header = format!(
            "/usr/include/{}-linux-gnu/asm/unistd_64.h",
            std::env::consts::ARCH
        );
        if let Ok(text) = std::fs::read_to_string(header) {
            for line in text.lines() {
                let mut w = line.split_whitespace();
                if let (Some("#define"), Some(name), Some(nr)) = (w.next(), w.next(), w.next()) {
                    if let (Some(name), Ok(nr)) = (name.strip_prefix("__NR_"), nr.parse()) {
                        t.insert(nr, name.to_string());
                    }
                }
            }
        }
        t
    })
}

pub fn syscall_name(nr: i64) -> String {
    syscall_table()
        .get(&nr)
        .cloned()
        .unwrap_or_else(|| format!("syscall_{nr}"))
}

/// Capability names by number (capabilities(7)).
pub fn capability_name(cap: i64) -> String {
    const NAMES: &[&str] = &[
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "KILL",
        "SETGID",
        "SETUID",
        "SETPCAP",
        "LINUX_IMMUTABLE",
        "NET_BIND_SERVICE",
        "NET_BROADCAST",
        "NET_ADMIN",
        "NET_RAW",
        "IPC_LOCK",
        "IPC_OWNER",
        "SYS_MODULE",
        "SYS_RAWIO",
        "SYS_CHROOT",
        "SYS_PTRACE",
        "SYS_PACCT",
        "SYS_ADMIN",
        "SYS_BOOT",
        "SYS_NICE",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYS_TTY_CONFIG",
        "MKNOD",
        "LEASE",
        "AUDIT_WRITE",
        "AUDIT_CONTROL",
        "SETFCAP",
        "MAC_OVERRIDE",
        "MAC_ADMIN",
        "SYSLOG",
        "WAKE_ALARM",
        "BLOCK_SUSPEND",
        "AUDIT_READ",
        "PERFMON",
        "BPF",
        "CHECKPOINT_RESTORE",
    ];
    usize::try_from(cap)
        .ok()
        .and_then(|c| NAMES.get(c))
        .map(|n| format!("CAP_{n}"))
        .unwrap_or_else(|| format!("CAP_{cap}"))
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

/// Syscall numbers (x86_64) whose entry keeps the argv head for the exec event, and where.
const EXECS: &[(u32, u8)] = &[(59, action::ARGV_1), (322, action::ARGV_2)];

/// A change to the in-kernel filter, in the order it must be made.
#[derive(Debug, PartialEq, Eq)]
enum Op {
    Direct(u32, Watched),
    OverflowInsert(u64, u32),
    OverflowRemove(u64),
    /// Zero a counts row before a new cgroup uses it.
    Clear(u32),
    /// Move a row's counts into the retained totals of a cgroup no longer watched.
    Harvest(u64, u32),
}

/// The host's mirror of the watched-cgroup table and of the counts rows: which cgroup
/// sits in which `DIRECT` entry, which spilled to `OVERFLOW`, and which row each counts
/// in. Pure bookkeeping that yields the map operations, so it is tested without a kernel.
#[derive(Debug, Default)]
struct Filter {
    rows: u32,
    next_row: u32,
    free_rows: Vec<u32>,
    /// Watched cgroup → its counts row (or `NO_SLOT`).
    cgroups: BTreeMap<u64, u32>,
    /// `DIRECT` index → the cgroup in that entry.
    direct: HashMap<u32, u64>,
}

fn index(cgroup: u64) -> u32 {
    (cgroup as u32) & (DIRECT_LEN - 1)
}

impl Filter {
    fn new(rows: u32) -> Filter {
        Filter {
            rows,
            ..Filter::default()
        }
    }

    /// Watched cgroups other than `direct`'s occupant that share its index.
    fn overflowed(&self, idx: u32) -> impl Iterator<Item = (u64, u32)> + '_ {
        let occupant = self.direct.get(&idx).copied();
        self.cgroups
            .iter()
            .filter(move |(c, _)| index(**c) == idx && Some(**c) != occupant)
            .map(|(c, r)| (*c, *r))
    }

    fn entry(&self, idx: u32) -> Watched {
        match self.direct.get(&idx) {
            None => Watched::default(),
            Some(c) => Watched {
                cgroup: *c,
                slot: self.cgroups.get(c).copied().unwrap_or(NO_SLOT),
                flags: if self.overflowed(idx).next().is_some() {
                    OVERFLOWED
                } else {
                    0
                },
            },
        }
    }

    fn add(&mut self, cgroup: u64) -> Vec<Op> {
        if cgroup == 0 || self.cgroups.contains_key(&cgroup) {
            return Vec::new();
        }
        let mut ops = Vec::new();
        let row = if let Some(r) = self.free_rows.pop() {
            ops.push(Op::Clear(r));
            r
        } else if self.next_row < self.rows {
            self.next_row += 1;
            self.next_row - 1
        } else {
            NO_SLOT
        };
        self.cgroups.insert(cgroup, row);
        let idx = index(cgroup);
        if let std::collections::hash_map::Entry::Vacant(e) = self.direct.entry(idx) {
            e.insert(cgroup);
            // The row first, then the cgroup: a reader never pairs this cgroup with
            // another's row.
            ops.push(Op::Direct(
                idx,
                Watched {
                    cgroup: 0,
                    ..self.entry(idx)
                },
            ));
        } else {
            ops.push(Op::OverflowInsert(cgroup, row));
        }
        ops.push(Op::Direct(idx, self.entry(idx)));
        ops
    }

    fn remove(&mut self, cgroup: u64) -> Vec<Op> {
        let Some(row) = self.cgroups.remove(&cgroup) else {
            return Vec::new();
        };
        let idx = index(cgroup);
        let mut ops = Vec::new();
        if self.direct.get(&idx) == Some(&cgroup) {
            let next = self.overflowed(idx).next();
            match next {
                Some((next, _)) => {
                    // Promote a spilled cgroup: written to DIRECT before leaving OVERFLOW.
                    self.direct.insert(idx, next);
                    ops.push(Op::Direct(idx, self.entry(idx)));
                    ops.push(Op::OverflowRemove(next));
                }
                None => {
                    self.direct.remove(&idx);
                    ops.push(Op::Direct(idx, Watched::default()));
                }
            }
        } else {
            ops.push(Op::OverflowRemove(cgroup));
            ops.push(Op::Direct(idx, self.entry(idx)));
        }
        if row != NO_SLOT {
            ops.push(Op::Harvest(cgroup, row));
            self.free_rows.push(row);
        }
        ops
    }
}

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
    tracefs()
}

const BTF: &str = "/sys/kernel/btf/vmlinux";

/// Counts rows to allocate: one per watched container, within 32 MiB of per-CPU counters
/// (cgroups beyond them are counted in the slower spill hash).
fn count_rows() -> u32 {
    let cpus = aya::util::nr_cpus().unwrap_or(64).max(1) as u64;
    let row_bytes = MAX_SYSCALLS as u64 * 8 * cpus;
    ((32u64 << 20) / row_bytes).clamp(8, 1024) as u32
}

impl Probes {
    pub fn load(opts: ProbeOptions) -> Result<Probes, ProbeError> {
        let tracefs = preflight()?;
        let ring = opts.ring_bytes.max(4096).next_power_of_two();
        let rows = count_rows();
        let regs = syscall_arg_offsets(Path::new(BTF))?;
        let mut ebpf = EbpfLoader::new()
            .map_max_entries("EVENTS", ring)
            .map_max_entries("COUNTS", rows * MAX_SYSCALLS)
            .load(OBJECT)
            .map_err(ebpf_err)?;

        // Watched syscalls are taken at entry by the counting program, by number; their
        // results come from each one's own sys_exit tracepoint, where the kernel has one
        // (a syscall compiled out of this kernel has none: only its attempts are seen).
        let mut exit: Option<(u32, u32)> = None;
        let mut exits: Vec<&str> = Vec::new();
        for (_, name) in WATCHED_SYSCALLS {
            let Ok(fields) = field_offsets(&tracefs, &format!("syscalls/sys_exit_{name}")) else {
                tracing::debug!("no sys_exit tracepoint for {name}: its result is not seen");
                continue;
            };
            let Some(this) = exit_layout(&fields) else {
                tracing::warn!("sys_exit_{name} has an unexpected layout; its result is not seen");
                continue;
            };
            match exit {
                None => exit = Some(this),
                Some(l) if l != this => {
                    tracing::warn!(
                        "sys_exit_{name} differs from the others; its result is not seen"
                    );
                    continue;
                }
                Some(_) => {}
            }
            exits.push(name);
        }
        let (exit_nr, exit_ret) = exit.unwrap_or((0, 0));
        let exec = field_offsets(&tracefs, "sched/sched_process_exec")?;
        let fork = field_offsets(&tracefs, "sched/sched_process_fork")?;
        let cap = field_offsets(&tracefs, "capability/cap_capable")?;
        let config = [
            (cfg::EXIT_ID, exit_nr),
            (cfg::EXIT_RET, exit_ret),
            (
                cfg::EXEC_FILENAME,
                offset(&exec, "sched_process_exec", "filename")?,
            ),
            (
                cfg::FORK_PARENT,
                offset(&fork, "sched_process_fork", "parent_pid")?,
            ),
            (
                cfg::FORK_CHILD,
                offset(&fork, "sched_process_fork", "child_pid")?,
            ),
            (cfg::CAP_CAP, offset(&cap, "cap_capable", "cap")?),
            (cfg::CAP_RET, offset(&cap, "cap_capable", "ret")?),
            (cfg::NR_CAPSET, 126),
            (cfg::REG_ARG0, regs[0]),
            (cfg::REG_ARG0 + 1, regs[1]),
            (cfg::REG_ARG0 + 2, regs[2]),
            (cfg::REG_ARG0 + 3, regs[3]),
            (cfg::WAKEUP_BYTES, ring / 8),
            (
                cfg::EXEC_OLD_PID,
                offset(&exec, "sched_process_exec", "old_pid")?,
            ),
        ];
        {
            let mut c: Array<_, u32> =
                Array::try_from(map_mut(&mut ebpf, "CONFIG")?).map_err(ebpf_err)?;
            for (i, v) in config {
                c.set(i, v, 0).map_err(ebpf_err)?;
            }
        }
        {
            let mut t: Array<_, u8> =
                Array::try_from(map_mut(&mut ebpf, "SYSCALLS")?).map_err(ebpf_err)?;
            for (nr, _) in WATCHED_SYSCALLS {
                t.set(*nr, action::EVENT, 0).map_err(ebpf_err)?;
            }
            for (nr, a) in EXECS {
                t.set(*nr, *a, 0).map_err(ebpf_err)?;
            }
        }
        {
            let p: &mut RawTracePoint = ebpf
                .program_mut("count_syscall")
                .ok_or_else(|| ebpf_err("no program count_syscall"))?
                .try_into()
                .map_err(ebpf_err)?;
            p.load()
                .map_err(|e| ebpf_err(format!("count_syscall: {e}")))?;
            p.attach("sys_enter")
                .map_err(|e| ebpf_err(format!("attaching raw tracepoint sys_enter: {e}")))?;
        }
        let mut targets: Vec<(&str, String, String)> = Vec::new();
        for name in &exits {
            targets.push(("sys_exit", "syscalls".into(), format!("sys_exit_{name}")));
        }
        for (prog, category, name) in [
            ("process_exec", "sched", "sched_process_exec"),
            ("process_fork", "sched", "sched_process_fork"),
            ("process_exit", "sched", "sched_process_exit"),
            ("cap_capable", "capability", "cap_capable"),
        ] {
            targets.push((prog, category.into(), name.into()));
        }
        let mut loaded: Vec<&str> = Vec::new();
        for (prog, category, name) in &targets {
            let p: &mut TracePoint = ebpf
                .program_mut(prog)
                .ok_or_else(|| ebpf_err(format!("no program {prog}")))?
                .try_into()
                .map_err(ebpf_err)?;
            if !loaded.contains(prog) {
                p.load().map_err(|e| ebpf_err(format!("{prog}: {e}")))?;
                loaded.push(prog);
            }
            p.attach(category, name)
                .map_err(|e| ebpf_err(format!("attaching {category}/{name}: {e}")))?;
        }
        let events = ebpf
            .take_map("EVENTS")
            .ok_or_else(|| ebpf_err("no EVENTS map"))
            .and_then(|m| RingBuf::try_from(m).map_err(ebpf_err))?;
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
            Op::Direct(idx, w) => {
                let mut m: Array<_, Entry> =
                    Array::try_from(map_mut(&mut self.ebpf, "DIRECT")?).map_err(ebpf_err)?;
                m.set(idx, Entry(w), 0).map_err(ebpf_err)
            }
            Op::OverflowInsert(cg, row) => {
                let mut m: BpfHashMap<_, u64, u32> =
                    BpfHashMap::try_from(map_mut(&mut self.ebpf, "OVERFLOW")?).map_err(ebpf_err)?;
                m.insert(cg, row, 0).map_err(ebpf_err)
            }
            Op::OverflowRemove(cg) => {
                let mut m: BpfHashMap<_, u64, u32> =
                    BpfHashMap::try_from(map_mut(&mut self.ebpf, "OVERFLOW")?).map_err(ebpf_err)?;
                match m.remove(&cg) {
                    Ok(()) | Err(aya::maps::MapError::KeyNotFound) => Ok(()),
                    Err(e) => Err(ebpf_err(e)),
                }
            }
            Op::Clear(row) => {
                let mut m: PerCpuArray<_, u64> =
                    PerCpuArray::try_from(map_mut(&mut self.ebpf, "COUNTS")?).map_err(ebpf_err)?;
                let cpus = aya::util::nr_cpus().map_err(|(_, e)| ebpf_err(e))?;
                for nr in 0..MAX_SYSCALLS {
                    let zero =
                        aya::maps::PerCpuValues::try_from(vec![0u64; cpus]).map_err(ebpf_err)?;
                    m.set(row * MAX_SYSCALLS + nr, zero, 0).map_err(ebpf_err)?;
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
            PerCpuArray::try_from(map(&self.ebpf, "COUNTS")?).map_err(ebpf_err)?;
        let mut out = Vec::new();
        for nr in 0..MAX_SYSCALLS {
            let n: u64 = m
                .get(&(row * MAX_SYSCALLS + nr), 0)
                .map_err(ebpf_err)?
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
            PerCpuArray::try_from(map(&self.ebpf, "LOST")?).map_err(ebpf_err)?;
        let v = m.get(&0, 0).map_err(ebpf_err)?;
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
            PerCpuHashMap::try_from(map(&self.ebpf, "SPILL")?).map_err(ebpf_err)?;
        for item in m.iter() {
            let (k, v) = item.map_err(ebpf_err)?;
            *out.entry((k.0.cgroup, k.0.nr)).or_default() += v.iter().sum::<u64>();
        }
        Ok(out)
    }
}

/// Decode one ring-buffer record.
pub fn decode(bytes: &[u8]) -> Option<Event> {
    if bytes.len() < std::mem::size_of::<Event>() {
        return None;
    }
    // SAFETY: the length is checked; Event is repr(C) plain data, read unaligned.
    Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr() as *const Event) })
}

/// The argv head of an exec event.
pub fn argv(e: &Event) -> Vec<String> {
    e.argv
        .chunks(bulwark_probes_common::ARGV_ARG_LEN)
        .map(c_text)
        .take_while(|a| !a.is_empty())
        .collect()
}

/// A NUL-terminated byte field as text.
pub fn c_text(b: &[u8]) -> String {
    let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_files_give_offsets() {
        let text = "name: sched_process_exec\nID: 365\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\n\tfield:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:0;\n\tfield:unsigned long args[6];\toffset:16;\tsize:48;\tsigned:0;\n";
        let m = parse_format(text);
        assert_eq!(m["filename"], 8);
        assert_eq!(m["args"], 16);
        assert_eq!(m["common_type"], 0);
        assert_eq!(syscall_name(126), "capset");
        assert_eq!(capability_name(21), "CAP_SYS_ADMIN");
    }

    /// Replays ops into a model of the kernel maps and checks every watched cgroup is found
    /// the way the program looks (DIRECT, then OVERFLOW when flagged) with its own row.
    fn lookup(
        direct: &HashMap<u32, Watched>,
        overflow: &HashMap<u64, u32>,
        cg: u64,
    ) -> Option<u32> {
        let e = direct.get(&index(cg)).copied().unwrap_or_default();
        if e.cgroup == cg {
            return Some(e.slot);
        }
        if e.flags & OVERFLOWED == 0 {
            return None;
        }
        overflow.get(&cg).copied()
    }

    #[test]
    fn filter_keeps_colliding_cgroups_findable() {
        let mut f = Filter::new(2);
        let (mut direct, mut overflow) = (HashMap::new(), HashMap::new());
        let mut harvested = Vec::new();
        let mut play =
            |ops: Vec<Op>, direct: &mut HashMap<u32, Watched>, overflow: &mut HashMap<u64, u32>| {
                for op in ops {
                    match op {
                        Op::Direct(i, w) => {
                            direct.insert(i, w);
                        }
                        Op::OverflowInsert(c, r) => {
                            overflow.insert(c, r);
                        }
                        Op::OverflowRemove(c) => {
                            overflow.remove(&c);
                        }
                        Op::Clear(_) => {}
                        Op::Harvest(c, r) => harvested.push((c, r)),
                    }
                }
            };
        // Three cgroups on one index, one elsewhere; two rows only.
        let same = [5u64, 5 + DIRECT_LEN as u64, 5 + 2 * DIRECT_LEN as u64];
        for c in same.iter().chain([7u64].iter()) {
            play(f.add(*c), &mut direct, &mut overflow);
        }
        assert_eq!(lookup(&direct, &overflow, same[0]), Some(0));
        assert_eq!(lookup(&direct, &overflow, same[1]), Some(1));
        assert_eq!(lookup(&direct, &overflow, same[2]), Some(NO_SLOT));
        assert_eq!(lookup(&direct, &overflow, 7), Some(NO_SLOT));
        assert_eq!(lookup(&direct, &overflow, 6), None);
        assert_eq!(lookup(&direct, &overflow, 5 + 3 * DIRECT_LEN as u64), None);
        // The occupant leaves: a spilled one is promoted, the others stay findable.
        play(f.remove(same[0]), &mut direct, &mut overflow);
        assert_eq!(lookup(&direct, &overflow, same[0]), None);
        assert_eq!(lookup(&direct, &overflow, same[1]), Some(1));
        assert_eq!(lookup(&direct, &overflow, same[2]), Some(NO_SLOT));
        // Its row is harvested, then cleared before the next cgroup counts in it.
        let ops = f.add(9);
        assert_eq!(ops.first(), Some(&Op::Clear(0)));
        play(ops, &mut direct, &mut overflow);
        assert_eq!(lookup(&direct, &overflow, 9), Some(0));
        play(f.remove(same[2]), &mut direct, &mut overflow);
        play(f.remove(same[1]), &mut direct, &mut overflow);
        assert_eq!(
            direct.get(&index(5)).copied().unwrap_or_default(),
            Watched::default()
        );
        assert!(overflow.is_empty() || overflow.keys().all(|c| *c == 7));
        assert_eq!(harvested, vec![(same[0], 0), (same[1], 1)]);
        // Adding twice, removing what is not there, and cgroup 0 change nothing.
        assert!(f.add(9).is_empty());
        assert!(f.remove(12345).is_empty());
        assert!(f.add(0).is_empty());
    }
}
