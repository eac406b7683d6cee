//! Linux capability names by number, from the caps crate's table (one table for the
//! evidence collectors and the probes).

/// `CAP_SYS_ADMIN` for 21; `CAP_N` for a number the table does not know.
pub fn name(cap: i64) -> String {
    u8::try_from(cap)
        .ok()
        .and_then(|bit| caps::all().into_iter().find(|c| c.index() == bit))
        .map(|c| c.to_string())
        .unwrap_or_else(|| format!("CAP_{cap}"))
}

/// The names of the capabilities in a mask (bit n = capability n), in bit order.
pub fn names(mask: u64) -> Vec<String> {
    (0..64)
        .filter(|bit| mask & (1u64 << bit) != 0)
        .map(name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_by_number() {
        assert_eq!(name(0), "CAP_CHOWN");
        assert_eq!(name(21), "CAP_SYS_ADMIN");
        assert_eq!(name(40), "CAP_CHECKPOINT_RESTORE");
        assert_eq!(name(63), "CAP_63");
        assert_eq!(name(-1), "CAP_-1");
        assert_eq!(names(1 | 1 << 21), vec!["CAP_CHOWN", "CAP_SYS_ADMIN"]);
    }
}
