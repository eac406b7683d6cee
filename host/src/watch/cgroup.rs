//! Which container a kernel event belongs to: the unified (v2) cgroup hierarchy, the cgroup
//! id of a process (the inode of its v2 cgroup directory, as `bpf_get_current_cgroup_id`
//! returns it), and the cgroup → container map a watch keeps current.

use super::WatchError;
use serde::Serialize;
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Where the unified (v2) cgroup hierarchy is mounted: `/sys/fs/cgroup` on pure v2 hosts,
/// `/sys/fs/cgroup/unified` on hybrid ones.
pub fn cgroup2_root() -> Result<PathBuf, WatchError> {
    let path = Path::new("/proc/self/mountinfo");
    let info = std::fs::read_to_string(path).map_err(|source| WatchError::Read {
        path: path.into(),
        source,
    })?;
    cgroup2_mount_in(&info).ok_or(WatchError::NoCgroup2)
}

/// The mount point of the first cgroup2 filesystem in a mountinfo text.
pub(crate) fn cgroup2_mount_in(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        (post.split_whitespace().next() == Some("cgroup2"))
            .then(|| pre.split_whitespace().nth(4).map(PathBuf::from))
            .flatten()
    })
}

/// The v2 path in a `/proc/PID/cgroup` text (its `0::` line; v1 lines are ignored).
pub(crate) fn v2_path_in(proc_cgroup: &str) -> Option<&str> {
    proc_cgroup.lines().find_map(|l| l.strip_prefix("0::"))
}

/// The cgroup id (inode of its v2 cgroup directory) of a process.
pub fn cgroup_id_of(root: &Path, pid: i64) -> Result<u64, WatchError> {
    let file = PathBuf::from(format!("/proc/{pid}/cgroup"));
    let text =
        std::fs::read_to_string(&file).map_err(|source| WatchError::Read { path: file, source })?;
    let path = v2_path_in(&text).ok_or(WatchError::NoCgroupPath(pid))?;
    let dir = root.join(path.trim_start_matches('/'));
    std::fs::metadata(&dir)
        .map(|m| m.ino())
        .map_err(|source| WatchError::Read { path: dir, source })
}

/// The key the in-kernel filter knows a container's processes by: its cgroup id, or, when
/// its cgroup is not its own (rootless Docker without systemd runs every container in the
/// daemon's cgroup), `PIDNS_KEY | inode` of its PID namespace. `true` for the latter.
pub fn filter_key_of(root: &Path, pid: i64, id: &str) -> Result<(u64, bool), WatchError> {
    let file = PathBuf::from(format!("/proc/{pid}/cgroup"));
    let text =
        std::fs::read_to_string(&file).map_err(|source| WatchError::Read { path: file, source })?;
    let own = v2_path_in(&text).is_some_and(|p| !id.is_empty() && p.contains(id));
    if own {
        return cgroup_id_of(root, pid).map(|cg| (cg, false));
    }
    let ns = PathBuf::from(format!("/proc/{pid}/ns/pid"));
    let inode = std::fs::metadata(&ns)
        .map(|m| m.ino())
        .map_err(|source| WatchError::Read { path: ns, source })?;
    let host = std::fs::metadata("/proc/self/ns/pid").map(|m| m.ino()).ok();
    if host == Some(inode) {
        // Neither its cgroup nor its PID namespace is its own: nothing tells it apart.
        return cgroup_id_of(root, pid).map(|cg| (cg, false));
    }
    Ok((bulwark_probes_common::PIDNS_KEY | inode, true))
}

/// Who a cgroup belongs to.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerInfo {
    pub id: String,
    pub name: String,
    pub image: String,
}

/// cgroup id ↔ container, kept current.
#[derive(Default)]
pub struct Attribution {
    by_cgroup: HashMap<u64, ContainerInfo>,
    by_id: HashMap<String, u64>,
}

impl Attribution {
    pub fn get(&self, cgroup: u64) -> Option<&ContainerInfo> {
        self.by_cgroup.get(&cgroup)
    }

    pub fn cgroup_of(&self, id: &str) -> Option<u64> {
        self.by_id.get(id).copied()
    }

    pub fn insert(&mut self, cgroup: u64, who: ContainerInfo) {
        self.by_id.insert(who.id.clone(), cgroup);
        self.by_cgroup.insert(cgroup, who);
    }

    pub fn containers(&self) -> impl Iterator<Item = (&u64, &ContainerInfo)> {
        self.by_cgroup.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup2_is_found_on_pure_v2_and_hybrid_hosts() {
        // Pure v2 (systemd driver), then hybrid (v1 controllers, v2 at unified).
        let pure = "24 30 0:21 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n";
        let hybrid = "25 24 0:22 / /sys/fs/cgroup ro,nosuid shared:4 - tmpfs tmpfs ro,mode=755\n\
            26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid shared:5 - cgroup2 cgroup2 rw,nsdelegate\n\
            27 25 0:24 / /sys/fs/cgroup/memory rw,nosuid shared:6 - cgroup cgroup rw,memory\n";
        assert_eq!(
            cgroup2_mount_in(pure),
            Some(PathBuf::from("/sys/fs/cgroup"))
        );
        assert_eq!(
            cgroup2_mount_in(hybrid),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        assert_eq!(
            cgroup2_mount_in("27 25 0:24 / /x rw - cgroup cgroup rw\n"),
            None
        );
        // A v2 line after v1 ones; systemd and cgroupfs drivers.
        let v1v2 = "12:memory:/docker/abc\n1:name=systemd:/docker/abc\n0::/docker/abc\n";
        assert_eq!(v2_path_in(v1v2), Some("/docker/abc"));
        assert_eq!(
            v2_path_in("0::/system.slice/docker-abc.scope\n"),
            Some("/system.slice/docker-abc.scope")
        );
        assert_eq!(v2_path_in("12:memory:/docker/abc\n"), None);
    }
}
