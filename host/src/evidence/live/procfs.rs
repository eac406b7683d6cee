//! Processes from procfs: which processes belong to which container (by cgroup path),
//! and each one's identity, capability sets, no_new_privs, seccomp mode and namespaces.

use super::super::EvidenceError;
use crate::abi::ev;
use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;

/// Map each container id found in a /proc/PID/cgroup path to the pids in it. Works for
/// cgroup v1 (`/docker/<id>`), v2 (`/system.slice/docker-<id>.scope`) and hybrid hosts.
pub(super) fn index_container_processes() -> HashMap<String, Vec<i32>> {
    let mut index: HashMap<String, Vec<i32>> = HashMap::new();
    let Ok(procs) = procfs::process::all_processes() else {
        return index;
    };
    for p in procs.flatten() {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{}/cgroup", p.pid)) else {
            continue;
        };
        let mut ids = HashSet::new();
        for line in text.lines() {
            let path = line.splitn(3, ':').nth(2).unwrap_or_default();
            ids.extend(container_ids_in(path));
        }
        for id in ids {
            index.entry(id).or_default().push(p.pid);
        }
    }
    index
}

/// Every process in the PID namespace of `pid`, when that namespace is not the auditor's
/// (a container sharing the host's would otherwise claim every process). A namespace this
/// process may not read (another user's, or from a container without CAP_SYS_PTRACE) is
/// an error: "none" would be a guess.
pub(super) fn pids_in_namespace_of(pid: i32) -> Result<Vec<i32>, EvidenceError> {
    let ns = |p: &str| std::fs::metadata(format!("/proc/{p}/ns/pid")).map(|m| m.ino());
    let target = match ns(&pid.to_string()) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Err(EvidenceError::Denied(format!(
                "the PID namespace of process {pid} cannot be read (it needs CAP_SYS_PTRACE): {e}"
            )))
        }
        Err(_) => return Ok(Vec::new()),
    };
    match ns("self") {
        Ok(own) if own != target => {}
        _ => return Ok(Vec::new()),
    }
    let Ok(procs) = procfs::process::all_processes() else {
        return Ok(Vec::new());
    };
    // Processes whose namespace this user may not read are left out: as a rootless
    // engine's user, every root process on the host is one (the container's init, read
    // above, is the user's). A container process under a subordinate uid is missed so.
    Ok(procs
        .flatten()
        .filter(|p| ns(&p.pid.to_string()).ok() == Some(target))
        .map(|p| p.pid)
        .collect())
}

/// 64-hex-digit runs in a cgroup path.
pub(crate) fn container_ids_in(path: &str) -> Vec<String> {
    path.split(|c: char| !c.is_ascii_hexdigit())
        .filter(|s| s.len() == 64)
        .map(str::to_string)
        .collect()
}

pub(super) fn proc_error(pid: i32, e: procfs::ProcError) -> EvidenceError {
    match e {
        procfs::ProcError::NotFound(_) => EvidenceError::NotFound(format!("process {pid}")),
        procfs::ProcError::PermissionDenied(_) => {
            EvidenceError::Denied(format!("process {pid}: permission denied"))
        }
        other => EvidenceError::Unavailable(format!("process {pid}: {other}")),
    }
}

/// A capability mask with its names.
pub fn cap_set(mask: u64) -> ev::CapSet {
    ev::CapSet {
        mask,
        names: crate::capability::names(mask),
    }
}

pub(super) fn process_info(pid: i32) -> Result<ev::ProcessInfo, EvidenceError> {
    let p = procfs::process::Process::new(pid).map_err(|e| proc_error(pid, e))?;
    let status = p.status().map_err(|e| proc_error(pid, e))?;
    let stat = p.stat().map_err(|e| proc_error(pid, e))?;
    let cmdline = p.cmdline().unwrap_or_default();
    let exe = p.exe().ok().map(|e| e.to_string_lossy().into_owned());
    let mut namespaces: Vec<ev::Namespace> = p
        .namespaces()
        .map(|ns| {
            ns.0.into_values()
                .map(|n| ev::Namespace {
                    kind: n.ns_type.to_string_lossy().into_owned(),
                    inode: n.identifier,
                })
                .collect()
        })
        .unwrap_or_default();
    namespaces.sort_by(|a, b| a.kind.cmp(&b.kind));
    Ok(ev::ProcessInfo {
        pid: pid as u32,
        ppid: stat.ppid.max(0) as u32,
        comm: stat.comm,
        cmdline,
        exe,
        uid_real: status.ruid,
        uid_effective: status.euid,
        gid_real: status.rgid,
        cap_effective: cap_set(status.capeff),
        cap_permitted: cap_set(status.capprm),
        cap_bounding: cap_set(status.capbnd.unwrap_or(0)),
        cap_inheritable: cap_set(status.capinh),
        cap_ambient: cap_set(status.capamb.unwrap_or(0)),
        no_new_privs: status.nonewprivs.unwrap_or(0) != 0,
        seccomp_mode: status.seccomp.unwrap_or(0) as u8,
        namespaces,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_paths_yield_container_ids() {
        let id = "a".repeat(64);
        assert_eq!(container_ids_in(&format!("/docker/{id}")), vec![id.clone()]);
        assert_eq!(
            container_ids_in(&format!("/system.slice/docker-{id}.scope")),
            vec![id.clone()]
        );
        assert!(container_ids_in("/user.slice/user-0.slice").is_empty());
    }

    #[test]
    fn cap_names_come_from_the_caps_table() {
        let s = cap_set((1 << 21) | (1 << 0));
        assert_eq!(s.names, vec!["CAP_CHOWN", "CAP_SYS_ADMIN"]);
    }

    /// A process that exits between the listing and the reading is "not found", which the
    /// container's process list leaves out, not an error that makes a check undecided.
    #[test]
    fn an_exited_process_is_not_found() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        child.wait().unwrap();
        assert!(matches!(process_info(pid), Err(EvidenceError::NotFound(_))));
    }

    #[test]
    fn own_process_is_readable() {
        let me = process_info(std::process::id() as i32).unwrap();
        assert_eq!(me.pid, std::process::id());
        assert!(me.namespaces.iter().any(|n| n.kind == "pid"));
    }
}
