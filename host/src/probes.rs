//! Kernel probes: load Bulwark's eBPF programs (built from `ebpf/probes`), attach them to
//! tracepoints, keep the set of watched cgroups current, and read what they report: the
//! event ring buffer, the in-kernel syscall counts and the lost-event counters.
//!
//! Tracepoint field offsets are read from tracefs `format` files at load time and handed
//! to the programs, so no kernel layout is compiled in.

use aya::maps::{Array, HashMap as BpfHashMap, MapData, PerCpuArray, PerCpuHashMap, RingBuf};
use aya::programs::{RawTracePoint, TracePoint};
use aya::{Ebpf, EbpfLoader, Pod};
use bulwark_probes_common::{cfg, CountKey, Event};
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
    #[error("tracepoint {0}: {1}")]
    Format(String, String),
    #[error("eBPF: {0}")]
    Ebpf(String),
}

fn ebpf_err(e: impl std::fmt::Display) -> ProbeError {
    ProbeError::Ebpf(e.to_string())
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

/// (nr offset, first argument offset) of a sys_enter_* record and (nr, ret) of its
/// sys_exit_*, when the arguments are consecutive 8-byte fields as the programs expect.
fn syscall_layout(
    enter: &HashMap<String, u32>,
    exit: &HashMap<String, u32>,
) -> Option<(u32, u32, u32, u32)> {
    let nr = *enter.get("__syscall_nr")?;
    let mut args: Vec<u32> = enter
        .iter()
        .filter(|(k, _)| !k.starts_with("common_") && *k != "__syscall_nr")
        .map(|(_, o)| *o)
        .collect();
    args.sort();
    let first = *args.first()?;
    if args
        .iter()
        .enumerate()
        .any(|(i, o)| *o != first + 8 * i as u32)
    {
        return None;
    }
    Some((nr, first, *exit.get("__syscall_nr")?, *exit.get("ret")?))
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

/// Loaded and attached probes.
pub struct Probes {
    ebpf: Ebpf,
    events: Option<RingBuf<MapData>>,
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
    if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        return Err(ProbeError::NoBtf);
    }
    tracefs()
}

impl Probes {
    pub fn load(opts: ProbeOptions) -> Result<Probes, ProbeError> {
        let tracefs = preflight()?;
        let ring = opts.ring_bytes.max(4096).next_power_of_two();
        let mut ebpf = EbpfLoader::new()
            .map_max_entries("EVENTS", ring)
            .load(OBJECT)
            .map_err(ebpf_err)?;

        // The watched syscalls' own tracepoints: one program each for entry and exit,
        // attached to every one whose layout agrees (nr, then 8-byte argument fields).
        let mut layout: Option<(u32, u32, u32, u32)> = None;
        let mut attach_syscalls: Vec<&str> = Vec::new();
        let mut by_number: Vec<u32> = Vec::new();
        for (nr, name) in WATCHED_SYSCALLS {
            let (Ok(enter), Ok(exit)) = (
                field_offsets(&tracefs, &format!("syscalls/sys_enter_{name}")),
                field_offsets(&tracefs, &format!("syscalls/sys_exit_{name}")),
            ) else {
                // Compiled out of this kernel (it answers ENOSYS): still report attempts.
                tracing::debug!("no syscall tracepoints for {name}: watched by number");
                by_number.push(*nr);
                continue;
            };
            let Some(this) = syscall_layout(&enter, &exit) else {
                tracing::warn!(
                    "syscall tracepoints of {name} have an unexpected layout; not watched"
                );
                continue;
            };
            match layout {
                None => layout = Some(this),
                Some(l) if l != this => {
                    tracing::warn!(
                        "syscall tracepoints of {name} differ from the others; not watched"
                    );
                    continue;
                }
                Some(_) => {}
            }
            attach_syscalls.push(name);
        }
        let (enter_nr, enter_args, exit_nr, exit_ret) = layout.ok_or_else(|| {
            ProbeError::Format(
                "syscalls/*".into(),
                "no watched syscall tracepoint is usable".into(),
            )
        })?;
        let exec = field_offsets(&tracefs, "sched/sched_process_exec")?;
        let fork = field_offsets(&tracefs, "sched/sched_process_fork")?;
        let cap = field_offsets(&tracefs, "capability/cap_capable")?;
        let execve = field_offsets(&tracefs, "syscalls/sys_enter_execve")?;
        let config = [
            (cfg::ENTER_ID, enter_nr),
            (cfg::ENTER_ARGS, enter_args),
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
            (
                cfg::EXECVE_ARGV,
                offset(&execve, "sys_enter_execve", "argv")?,
            ),
        ];
        {
            let mut c: Array<_, u32> = Array::try_from(
                ebpf.map_mut("CONFIG")
                    .ok_or_else(|| ebpf_err("no CONFIG map"))?,
            )
            .map_err(ebpf_err)?;
            for (i, v) in config {
                c.set(i, v, 0).map_err(ebpf_err)?;
            }
        }
        {
            let mut t: Array<_, u8> = Array::try_from(
                ebpf.map_mut("BY_NUMBER")
                    .ok_or_else(|| ebpf_err("no BY_NUMBER map"))?,
            )
            .map_err(ebpf_err)?;
            for nr in by_number {
                t.set(nr, 1u8, 0).map_err(ebpf_err)?;
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
        for name in &attach_syscalls {
            targets.push(("sys_enter", "syscalls".into(), format!("sys_enter_{name}")));
            targets.push(("sys_exit", "syscalls".into(), format!("sys_exit_{name}")));
        }
        for (prog, category, name) in [
            ("execve_enter", "syscalls", "sys_enter_execve"),
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
        })
    }

    /// Watch (or stop watching) a cgroup id.
    pub fn watch(&mut self, cgroup: u64, on: bool) -> Result<(), ProbeError> {
        let mut m: BpfHashMap<_, u64, u8> = BpfHashMap::try_from(
            self.ebpf
                .map_mut("WATCHED")
                .ok_or_else(|| ebpf_err("no WATCHED map"))?,
        )
        .map_err(ebpf_err)?;
        if on {
            m.insert(cgroup, 1, 0).map_err(ebpf_err)
        } else {
            match m.remove(&cgroup) {
                Ok(()) | Err(aya::maps::MapError::KeyNotFound) => Ok(()),
                Err(e) => Err(ebpf_err(e)),
            }
        }
    }

    /// The ring buffer, for the reader task (taken once).
    pub fn take_events(&mut self) -> Option<RingBuf<MapData>> {
        self.events.take()
    }

    /// Events lost to a full ring buffer, all CPUs.
    pub fn lost(&self) -> Result<u64, ProbeError> {
        let m: PerCpuArray<_, u64> = PerCpuArray::try_from(
            self.ebpf
                .map("LOST")
                .ok_or_else(|| ebpf_err("no LOST map"))?,
        )
        .map_err(ebpf_err)?;
        let v = m.get(&0, 0).map_err(ebpf_err)?;
        Ok(v.iter().sum())
    }

    /// Syscall counts per (cgroup, syscall number), summed over CPUs.
    pub fn counts(&self) -> Result<HashMap<(u64, u32), u64>, ProbeError> {
        let m: PerCpuHashMap<_, Key, u64> = PerCpuHashMap::try_from(
            self.ebpf
                .map("COUNTS")
                .ok_or_else(|| ebpf_err("no COUNTS map"))?,
        )
        .map_err(ebpf_err)?;
        let mut out = HashMap::new();
        for item in m.iter() {
            let (k, v) = item.map_err(ebpf_err)?;
            out.insert((k.0.cgroup, k.0.nr), v.iter().sum());
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
}
