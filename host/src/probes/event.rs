//! Kernel events as the host reads them from the ring buffer: the record the probes write
//! ([`Raw`]), its [`Kind`], and the text fields decoded.

pub use bulwark_probes_common::{Event as Raw, Kind};

/// Decode one ring-buffer record (`None` when it is too short to be one).
pub fn decode(bytes: &[u8]) -> Option<Raw> {
    if bytes.len() < std::mem::size_of::<Raw>() {
        return None;
    }
    // SAFETY: the length is checked; Raw is repr(C) plain data, read unaligned.
    Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr() as *const Raw) })
}

/// The argv head of an exec event.
pub fn argv(e: &Raw) -> Vec<String> {
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

/// What an event's `nr` names: the syscall of a syscall event, the capability of a
/// capability check; empty for the others.
pub fn nr_name(e: &Raw) -> String {
    match Kind::from_raw(e.kind) {
        Some(Kind::Syscall | Kind::SyscallExit) => super::syscalls::name(e.nr).into_owned(),
        Some(Kind::Capable) => crate::capability::name(e.nr),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_decode_and_name_their_subject() {
        // SAFETY: Raw is plain data; all-zero is a valid value.
        let mut e: Raw = unsafe { std::mem::zeroed() };
        e.kind = Kind::Capable as u32;
        e.nr = 21;
        e.argv[..3].copy_from_slice(b"sh\0");
        e.argv[32..35].copy_from_slice(b"-c\0");
        let bytes = unsafe {
            std::slice::from_raw_parts(&e as *const Raw as *const u8, std::mem::size_of::<Raw>())
        };
        let back = decode(bytes).expect("a whole record");
        assert_eq!(Kind::from_raw(back.kind), Some(Kind::Capable));
        assert_eq!(nr_name(&back), "CAP_SYS_ADMIN");
        assert_eq!(argv(&back), vec!["sh", "-c"]);
        assert!(decode(&bytes[1..]).is_none());
        assert_eq!(Kind::from_raw(0), None);
        for k in Kind::ALL {
            assert_eq!(Kind::from_raw(k as u32), Some(k));
        }
    }
}
