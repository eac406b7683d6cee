//! Accounts: members of host groups (from /etc/group and primary groups in /etc/passwd),
//! and who runs the audit.

use super::super::EvidenceError;
use super::files::io_error;
use super::procfs::cap_set;
use crate::abi::ev;

/// Members of a group: the ones /etc/group lists, then users whose primary group it is.
pub(super) fn group_members(group: &str) -> Result<Vec<String>, EvidenceError> {
    let read = |p: &str| {
        let at = super::hostview::locate(std::path::Path::new(p))?;
        std::fs::read_to_string(at).map_err(|e| io_error(p.to_string(), e))
    };
    let groups = read("/etc/group")?;
    let Some((gid, listed)) = groups.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 4 && f[0] == group).then(|| (f[2].to_string(), f[3].to_string()))
    }) else {
        return Err(EvidenceError::NotFound(format!("group {group}")));
    };
    let mut members: Vec<String> = listed
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .collect();
    for l in read("/etc/passwd")?.lines() {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() >= 4 && f[3] == gid && !members.iter().any(|m| m == f[0]) {
            members.push(f[0].to_string());
        }
    }
    Ok(members)
}

pub(super) fn auditor() -> ev::AuditorInfo {
    let mask = caps::read(None, caps::CapSet::Effective)
        .map(|set| set.iter().fold(0u64, |m, c| m | (1u64 << c.index())))
        .unwrap_or(0);
    ev::AuditorInfo {
        // SAFETY: geteuid has no preconditions and cannot fail.
        uid: unsafe { libc::geteuid() },
        cap_effective: cap_set(mask),
        arch: std::env::consts::ARCH.to_string(),
    }
}
