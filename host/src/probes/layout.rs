//! The running kernel's layouts, read at load time so that none is compiled in: where
//! tracefs is, tracepoint field offsets from its `format` files, and the offsets of the
//! kernel struct members the probes read (credentials, the argument area) from its BTF.

use super::syscalls::ARG_REGISTERS;
use super::ProbeError;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The kernel's BTF.
pub const BTF: &str = "/sys/kernel/btf/vmlinux";

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

/// Field offsets of a tracepoint (`category/name`), from its tracefs `format` file.
pub struct Fields {
    tracepoint: String,
    offsets: HashMap<String, u32>,
}

impl Fields {
    pub fn read(tracefs: &Path, tracepoint: &str) -> Result<Fields, ProbeError> {
        let path = tracefs.join("events").join(tracepoint).join("format");
        let text = std::fs::read_to_string(&path).map_err(|source| ProbeError::FormatFile {
            tracepoint: tracepoint.to_string(),
            path: path.clone(),
            source,
        })?;
        Ok(Fields {
            tracepoint: tracepoint.to_string(),
            offsets: parse_format(&text),
        })
    }

    /// The offset of `field`, or an error naming the tracepoint.
    pub fn offset(&self, field: &str) -> Result<u32, ProbeError> {
        self.offsets
            .get(field)
            .copied()
            .ok_or_else(|| ProbeError::Field(self.tracepoint.clone(), field.to_string()))
    }

    /// (nr, ret) offsets of a `sys_exit_*` record.
    pub fn exit_layout(&self) -> Option<(u32, u32)> {
        Some((
            *self.offsets.get("__syscall_nr")?,
            *self.offsets.get("ret")?,
        ))
    }

    /// (nr, first argument) offsets of a `sys_enter_*` record: the arguments follow the
    /// syscall number, 8 bytes each. `None` for the first argument of a syscall without
    /// arguments.
    pub fn enter_layout(&self) -> Option<(u32, Option<u32>)> {
        let nr = *self.offsets.get("__syscall_nr")?;
        let first = self
            .offsets
            .iter()
            .filter(|(k, _)| !k.starts_with("common_") && *k != "__syscall_nr")
            .map(|(_, o)| *o)
            .min();
        Some((nr, first))
    }
}

/// `field:TYPE NAME[...];\toffset:N;\tsize:N;...` lines → name → offset.
fn parse_format(text: &str) -> HashMap<String, u32> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("field:") else {
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

/// The kernel's BTF, for the offsets of the struct members the probes read.
pub struct KernelBtf(btf_rs::Btf);

impl KernelBtf {
    pub fn open(path: &Path) -> Result<KernelBtf, ProbeError> {
        btf_rs::Btf::from_file(path)
            .map(KernelBtf)
            .map_err(ProbeError::Btf)
    }

    /// The byte offset of `member` in `struct name` (through anonymous members).
    pub fn offset(&self, name: &str, member: &str) -> Result<u32, ProbeError> {
        let s = self
            .0
            .resolve_types_by_name(name)
            .map_err(ProbeError::Btf)?
            .into_iter()
            .find_map(|t| match t {
                btf_rs::Type::Struct(s) => Some(s),
                _ => None,
            })
            .ok_or_else(|| ProbeError::BtfLayout(format!("no struct {name}")))?;
        member_offset(&self.0, &s, member)
            .ok_or_else(|| ProbeError::BtfLayout(format!("struct {name} has no member {member}")))
    }

    /// Where syscall arguments 0..4 live in `struct pt_regs` (for syscalls seen on
    /// `raw_syscalls/sys_enter`). A register named `array[i]` is element `i` (8 bytes each)
    /// of that member.
    pub fn syscall_arg_offsets(&self) -> Result<[u32; 4], ProbeError> {
        let mut out = [0u32; 4];
        for (slot, reg) in out.iter_mut().zip(ARG_REGISTERS) {
            let (member, index) = match reg.split_once('[') {
                Some((m, i)) => (m, i.trim_end_matches(']').parse::<u32>().unwrap_or(0)),
                None => (reg, 0),
            };
            *slot = self.offset("pt_regs", member)? + index * 8;
        }
        Ok(out)
    }
}

/// The kernel functions whose capability checks are unaudited probes rather than needs:
/// the `*_noaudit` helpers (ptrace access modes, `/proc/sys/net` permissions, ...) and the
/// memory-overcommit check that asks for CAP_SYS_ADMIN on every accounted mapping.
const NOAUDIT_CALLERS: &[&str] = &[
    "ns_capable_noaudit",
    "has_ns_capability_noaudit",
    "has_capability_noaudit",
    "cap_vm_enough_memory",
    // The LSM static call usually inlines cap_vm_enough_memory into its caller.
    "security_vm_enough_memory_mm",
];

/// (start, end) addresses of [`NOAUDIT_CALLERS`] in the running kernel, from
/// `/proc/kallsyms` (a function ends where the next symbol starts). Empty when the kernel
/// hides its addresses.
pub fn noaudit_ranges() -> Vec<(u64, u64)> {
    match std::fs::read_to_string("/proc/kallsyms") {
        Ok(text) => ranges_of(&text, NOAUDIT_CALLERS),
        Err(e) => {
            tracing::warn!("cannot read /proc/kallsyms: {e}");
            Vec::new()
        }
    }
}

/// The address ranges of `names` in a kallsyms text (core kernel symbols only).
fn ranges_of(kallsyms: &str, names: &[&str]) -> Vec<(u64, u64)> {
    let mut addrs: Vec<u64> = Vec::new();
    let mut wanted: Vec<u64> = Vec::new();
    for line in kallsyms.lines() {
        let mut f = line.split_whitespace();
        let (Some(addr), Some(_kind), Some(name), None) = (f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        let Ok(addr) = u64::from_str_radix(addr, 16) else {
            continue;
        };
        if addr == 0 {
            continue;
        }
        addrs.push(addr);
        if names.contains(&name) {
            wanted.push(addr);
        }
    }
    addrs.sort_unstable();
    addrs.dedup();
    wanted
        .into_iter()
        .filter_map(|start| {
            let next = addrs.partition_point(|a| *a <= start);
            addrs.get(next).map(|end| (start, *end))
        })
        .collect()
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
    }

    #[test]
    fn noaudit_callers_end_at_the_next_symbol() {
        let text = "ffffffff81000000 T a\nffffffff81000040 T ns_capable_noaudit\nffffffff81000100 t b\n0000000000000000 T hidden\nffffffffc0000000 t m [mod]\n";
        assert_eq!(
            ranges_of(text, &["ns_capable_noaudit", "hidden"]),
            [(0xffffffff81000040, 0xffffffff81000100)]
        );
        // A hidden kernel (kptr_restrict) gives nothing rather than wrong ranges.
        assert!(ranges_of("0000000000000000 T ns_capable_noaudit\n", NOAUDIT_CALLERS).is_empty());
    }

    #[test]
    fn kernel_structs_are_found_in_this_kernels_btf() {
        // Every machine Bulwark's tests run on has BTF (the probes need it).
        let btf = KernelBtf::open(Path::new(BTF)).expect("BTF");
        let offs = btf.syscall_arg_offsets().expect("pt_regs in BTF");
        assert!(offs.iter().all(|o| o % 8 == 0), "{offs:?}");
        let mut sorted = offs;
        sorted.sort();
        sorted
            .windows(2)
            .for_each(|w| assert!(w[0] < w[1], "{offs:?}"));
        let offs = btf.syscall_arg_offsets().expect("pt_regs in BTF");
        assert!(offs.iter().all(|o| o % 8 == 0), "{offs:?}");
        let mut sorted = offs;
        sorted.sort();
        sorted
            .windows(2)
            .for_each(|w| assert!(w[0] < w[1], "{offs:?}"));
    }
}
