//! The daemon's real configuration: find the dockerd process that serves the endpoint
//! (by the inode of its listening socket), then read its argv and the daemon.json it uses.

use super::super::EvidenceError;
use super::procfs::proc_error;
use crate::abi::ev;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Find the dockerd serving `endpoint` and read the configuration it really uses.
pub(super) fn daemon_config(endpoint: &str) -> Result<ev::DaemonSettings, EvidenceError> {
    let pid = find_dockerd(endpoint)?;
    let p = procfs::process::Process::new(pid).map_err(|e| proc_error(pid, e))?;
    let argv = p.cmdline().map_err(|e| proc_error(pid, e))?;
    let explicit = flag_value(&argv, "config-file");
    let config_file = match explicit {
        Some(f) => f,
        None => {
            let euid = p.status().map(|s| s.euid).unwrap_or(0);
            if euid == 0 {
                "/etc/docker/daemon.json".to_string()
            } else {
                // Rootless dockerd reads $XDG_CONFIG_HOME/docker/daemon.json.
                let env = p.environ().unwrap_or_default();
                let get = |k: &str| {
                    env.get(std::ffi::OsStr::new(k))
                        .map(|v| v.to_string_lossy().into_owned())
                };
                let base = get("XDG_CONFIG_HOME")
                    .or_else(|| get("HOME").map(|h| format!("{h}/.config")))
                    .unwrap_or_else(|| "/root/.config".to_string());
                format!("{base}/docker/daemon.json")
            }
        }
    };
    // A relative --config-file is relative to the daemon's working directory; reading
    // through /proc/PID/root sees the file as the daemon does.
    let in_daemon = if Path::new(&config_file).is_absolute() {
        PathBuf::from(format!("/proc/{pid}/root{config_file}"))
    } else {
        PathBuf::from(format!("/proc/{pid}/cwd")).join(&config_file)
    };
    let config_json = match std::fs::read_to_string(&in_daemon) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(EvidenceError::Unavailable(format!(
                "daemon configuration {config_file}: {e}"
            )))
        }
    };
    Ok(ev::DaemonSettings {
        pid: pid as u32,
        argv,
        config_file,
        config_json,
        endpoint: endpoint.to_string(),
    })
}

/// The value of `--name` in an argv (`--name=v` or `--name v`).
fn flag_value(argv: &[String], name: &str) -> Option<String> {
    let long = format!("--{name}");
    let mut it = argv.iter();
    let mut found = None;
    while let Some(a) = it.next() {
        if let Some(v) = a.strip_prefix(&format!("{long}=")) {
            found = Some(v.to_string());
        } else if *a == long {
            found = it.next().cloned();
        }
    }
    found
}

fn dockerd_pids() -> Vec<i32> {
    let Ok(procs) = procfs::process::all_processes() else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter(|p| p.stat().map(|s| s.comm == "dockerd").unwrap_or(false))
        .map(|p| p.pid)
        .collect()
}

/// Which dockerd serves this endpoint: for a unix socket, the one holding the listening
/// socket's inode; otherwise the only dockerd, or the one whose -H names the endpoint.
fn find_dockerd(endpoint: &str) -> Result<i32, EvidenceError> {
    let candidates = dockerd_pids();
    if candidates.is_empty() {
        return Err(EvidenceError::NotFound(
            "no dockerd process is visible in /proc (remote daemon, or another PID namespace)"
                .to_string(),
        ));
    }
    if let Some(path) = endpoint.strip_prefix("unix://") {
        if !Path::new(path).exists() {
            return Err(EvidenceError::NotFound(format!(
                "no daemon socket at {path}"
            )));
        }
        let inodes = socket_inodes(Path::new(path));
        if !inodes.is_empty() {
            for &pid in &candidates {
                let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
                    continue;
                };
                for fd in fds.flatten() {
                    let Ok(target) = std::fs::read_link(fd.path()) else {
                        continue;
                    };
                    let t = target.to_string_lossy();
                    if let Some(ino) = t
                        .strip_prefix("socket:[")
                        .and_then(|s| s.strip_suffix(']'))
                        .and_then(|s| s.parse::<u64>().ok())
                    {
                        if inodes.contains(&ino) {
                            return Ok(pid);
                        }
                    }
                }
            }
        }
    }
    // A unix socket no dockerd holds is served by something else (a proxy, a remote
    // daemon through a tunnel): guessing "the only dockerd" would describe the wrong one.
    if endpoint.starts_with("unix://") {
        return Err(EvidenceError::Unavailable(format!(
            "no dockerd process holds the socket of {endpoint}"
        )));
    }
    if candidates.len() == 1 {
        return Ok(candidates[0]);
    }
    let named: Vec<i32> = candidates
        .iter()
        .copied()
        .filter(|pid| {
            procfs::process::Process::new(*pid)
                .and_then(|p| p.cmdline())
                .map(|argv| argv.iter().any(|a| a.contains(endpoint)))
                .unwrap_or(false)
        })
        .collect();
    match named.as_slice() {
        [one] => Ok(*one),
        _ => Err(EvidenceError::Unavailable(format!(
            "{} dockerd processes run and none can be tied to {endpoint}",
            candidates.len()
        ))),
    }
}

/// Inodes of listening unix sockets bound at `path` (or at the same file through symlinks).
fn socket_inodes(path: &Path) -> HashSet<u64> {
    let want: HashSet<PathBuf> = [path.to_path_buf(), canonical(path)].into_iter().collect();
    let Ok(table) = std::fs::read_to_string("/proc/net/unix") else {
        return HashSet::new();
    };
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (inode, bound) = (f.get(6)?, f.get(7)?);
            let bound = Path::new(bound);
            (want.contains(bound) || want.contains(&canonical(bound)))
                .then(|| inode.parse().ok())
                .flatten()
        })
        .collect()
}

/// Canonical form of a socket path; the socket itself may be gone, so resolve its parent.
fn canonical(p: &Path) -> PathBuf {
    match (p.parent(), p.file_name()) {
        (Some(dir), Some(name)) => std::fs::canonicalize(dir)
            .map(|d| d.join(name))
            .unwrap_or_else(|_| p.to_path_buf()),
        _ => p.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_values_both_forms() {
        let argv: Vec<String> = ["dockerd", "--config-file", "/x.json", "--debug"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(flag_value(&argv, "config-file").as_deref(), Some("/x.json"));
        let argv = vec!["dockerd".to_string(), "--config-file=/y.json".to_string()];
        assert_eq!(flag_value(&argv, "config-file").as_deref(), Some("/y.json"));
    }
}
