//! Records as the host reads them from the ring buffer: the common part the probes write
//! for every event ([`Raw`]), its [`Kind`], and the path and argv of the kinds that carry
//! a tail (exec, module load, cgroup creation), decoded.

pub use bulwark_probes_common::{Event as Raw, Kind};
use bulwark_probes_common::{ExecEvent, ARGV_LEN};

/// One record.
#[derive(Clone)]
pub struct Record {
    pub event: Raw,
    /// The file executed, the module loaded, the cgroup created.
    pub path: String,
    /// The head of an exec's argv.
    pub argv: Vec<String>,
}

impl Record {
    pub fn kind(&self) -> Option<Kind> {
        Kind::from_raw(self.event.kind)
    }
}

/// Decode one ring-buffer record (`None` when it is too short for its kind).
pub fn decode(bytes: &[u8]) -> Option<Record> {
    let event: Raw = read(bytes)?;
    let kind = Kind::from_raw(event.kind);
    if !kind.is_some_and(Kind::has_tail) {
        return Some(Record {
            event,
            path: String::new(),
            argv: Vec::new(),
        });
    }
    let full: ExecEvent = read(bytes)?;
    Some(Record {
        event,
        path: c_text(&full.path),
        argv: if kind == Some(Kind::Exec) {
            argv(&full.argv)
        } else {
            Vec::new()
        },
    })
}

/// A plain-data record type read from the front of `bytes`.
fn read<T: Copy>(bytes: &[u8]) -> Option<T> {
    if bytes.len() < std::mem::size_of::<T>() {
        return None;
    }
    // SAFETY: the length is checked; the record types are repr(C) plain data (every bit
    // pattern is valid), read unaligned.
    Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr() as *const T) })
}

/// The arguments in an exec's argument area (NUL-separated; the read stops after
/// `ARGV_LEN - 1` bytes, so the last argument may be cut; the rest is zeros).
fn argv(area: &[u8; ARGV_LEN]) -> Vec<String> {
    let used = area.iter().rposition(|c| *c != 0).map_or(0, |i| i + 1);
    area[..used]
        .split(|c| *c == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// A NUL-terminated byte field as text.
pub fn c_text(b: &[u8]) -> String {
    let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// What a record's `nr` names: the syscall of a syscall event, the capability of a
/// capability check; empty for the others.
pub fn nr_name(e: &Raw) -> String {
    match Kind::from_raw(e.kind) {
        Some(Kind::Syscall | Kind::SyscallExit) => super::syscalls::name(e.nr).into_owned(),
        Some(Kind::Capable) => crate::capability::name(e.nr),
        _ => String::new(),
    }
}

/// The container id in a container's cgroup path (`/docker/<id>`, `docker-<id>.scope`,
/// `libpod-<id>.scope`, ...): the 64 hex digits that end its last component.
pub fn container_id_in(cgroup_path: &str) -> Option<&str> {
    let last = cgroup_path.rsplit('/').next()?;
    let last = last.strip_suffix(".scope").unwrap_or(last);
    let at = last.len().checked_sub(64)?;
    let (prefix, id) = (last.get(..at)?, last.get(at..)?);
    let hex = id
        .bytes()
        .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
    (hex && (prefix.is_empty() || prefix.ends_with('-'))).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_of<T>(v: &T) -> &[u8] {
        // SAFETY: reading a plain-data value's bytes.
        unsafe { std::slice::from_raw_parts(v as *const T as *const u8, std::mem::size_of::<T>()) }
    }

    #[test]
    fn records_decode_with_and_without_a_tail() {
        // SAFETY: plain data; all-zero is a valid value.
        let mut e: ExecEvent = unsafe { std::mem::zeroed() };
        e.event.kind = Kind::Exec as u32;
        e.path[..7].copy_from_slice(b"/bin/sh");
        e.argv[..14].copy_from_slice(b"sh\0-c\0true\0\0x\0");
        let r = decode(bytes_of(&e)).expect("a whole record");
        assert_eq!(r.kind(), Some(Kind::Exec));
        assert_eq!(r.path, "/bin/sh");
        assert_eq!(r.argv, vec!["sh", "-c", "true", "", "x"]);
        // An exec record cut short is no record; a small one is.
        assert!(decode(&bytes_of(&e)[..std::mem::size_of::<Raw>()]).is_none());
        let mut small: Raw = e.event;
        small.kind = Kind::Capable as u32;
        small.nr = 21;
        let r = decode(bytes_of(&small)).expect("a small record");
        assert_eq!(nr_name(&r.event), "CAP_SYS_ADMIN");
        assert!(r.path.is_empty() && r.argv.is_empty());
        assert!(decode(&bytes_of(&small)[1..]).is_none());
        for k in Kind::ALL {
            assert_eq!(Kind::from_raw(k as u32), Some(k));
        }
        assert_eq!(Kind::from_raw(0), None);
    }

    #[test]
    fn container_ids_come_from_cgroup_paths() {
        let id = "0bd9dd025e02e8a256c8e8371515fead00885b62756d6f388339374afdf5cdaf";
        for path in [
            format!("/docker/{id}"),
            format!("/system.slice/docker-{id}.scope"),
            format!("/machine.slice/libpod-{id}.scope"),
            format!("/user.slice/user-1000.slice/user@1000.service/docker-{id}.scope"),
        ] {
            assert_eq!(container_id_in(&path), Some(id), "{path}");
        }
        assert_eq!(container_id_in("/system.slice/ssh.service"), None);
        assert_eq!(container_id_in(&format!("/docker/{}", &id[1..])), None);
        assert_eq!(container_id_in(&format!("/docker/x{id}")), None);
        assert_eq!(container_id_in(""), None);
    }
}
