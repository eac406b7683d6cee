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
