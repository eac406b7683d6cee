//! The daemon's real configuration: find the process that serves the endpoint (dockerd,
//! or Podman's API service) by the inode of its listening socket, then read its argv and the
//! configuration file it uses — dockerd's daemon.json, or Podman's containers.conf files
//! merged in Podman's order and handed on as JSON.

use super::super::EvidenceError;
use super::procfs::proc_error;
use crate::abi::ev;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Which program serves the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    Dockerd,
    /// `podman system service`.
    Podman,
}

/// Find the daemon serving `endpoint` and read the configuration it really uses.
pub(super) fn daemon_config(endpoint: &str) -> Result<ev::DaemonSettings, EvidenceError> {
    let (pid, server) = find_server(endpoint)?;
    let p = procfs::process::Process::new(pid).map_err(|e| proc_error(pid, e))?;
    let argv = p.cmdline().map_err(|e| proc_error(pid, e))?;
    let euid = p.status().map(|s| s.euid).unwrap_or(0);
    let env = p.environ().unwrap_or_default();
    let get = |k: &str| {
        env.get(std::ffi::OsStr::new(k))
            .map(|v| v.to_string_lossy().into_owned())
    };
    // Rootless daemons read the user's configuration directory.
    let user_config = || {
        get("XDG_CONFIG_HOME")
            .or_else(|| get("HOME").map(|h| format!("{h}/.config")))
            .unwrap_or_else(|| "/root/.config".to_string())
    };
    if server == Server::Podman {
        let (config_file, config_json) =
            podman_config(pid, euid, get("CONTAINERS_CONF"), &user_config())?;
        return Ok(ev::DaemonSettings {
            pid: pid as u32,
            argv,
            config_file,
            config_json,
            endpoint: endpoint.to_string(),
        });
    }
    let config_file = match flag_value(&argv, "config-file") {
        Some(f) => f,
        None if euid == 0 => "/etc/docker/daemon.json".to_string(),
        None => format!("{}/docker/daemon.json", user_config()),
    };
    let config_json = read_as_daemon(pid, &config_file)?;
    Ok(ev::DaemonSettings {
        pid: pid as u32,
        argv,
        config_file,
        config_json,
        endpoint: endpoint.to_string(),
    })
}

/// A file as the daemon sees it (through /proc/PID/root, or its working directory for a
/// relative path); `None` when it does not exist.
fn read_as_daemon(pid: i32, file: &str) -> Result<Option<String>, EvidenceError> {
    let absolute = Path::new(file).is_absolute();
    let in_daemon = if absolute {
        PathBuf::from(format!("/proc/{pid}/root{file}"))
    } else {
        PathBuf::from(format!("/proc/{pid}/cwd")).join(file)
    };
    let read = |at: &Path| match std::fs::read_to_string(at) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    };
    let unavailable =
        |e: std::io::Error| EvidenceError::Unavailable(format!("daemon configuration {file}: {e}"));
    match read(&in_daemon) {
        // In a container without CAP_SYS_PTRACE the daemon's root is closed to us: the
        // host's file, where a bound directory shows it, is the same file.
        Err(e)
            if e.kind() == std::io::ErrorKind::PermissionDenied
                && absolute
                && super::hostview::view() != &super::hostview::View::Native =>
        {
            read(&super::hostview::locate(Path::new(file))?).map_err(unavailable)
        }
        other => other.map_err(unavailable),
    }
}

/// Podman's containers.conf as its service has it: `$CONTAINERS_CONF` alone when set,
/// else the distribution's file, the administrator's, its drop-ins and (rootless) the
/// user's, each overriding the one before. Returns the most specific existing file (the
/// one an operator edits) and the merged tables as JSON; no file at all is `None`.
fn podman_config(
    pid: i32,
    euid: u32,
    env_conf: Option<String>,
    user_config: &str,
) -> Result<(String, Option<String>), EvidenceError> {
    let env_set = env_conf.is_some();
    let files: Vec<String> = match env_conf {
        Some(f) => vec![f],
        None => {
            let mut f = vec![
                "/usr/share/containers/containers.conf".to_string(),
                "/etc/containers/containers.conf".to_string(),
            ];
            f.extend(drop_ins(pid, "/etc/containers/containers.conf.d"));
            if euid != 0 {
                f.push(format!("{user_config}/containers/containers.conf"));
                f.extend(drop_ins(
                    pid,
                    &format!("{user_config}/containers/containers.conf.d"),
                ));
            }
            f
        }
    };
    let mut merged = toml::Table::new();
    let mut last = None;
    for file in &files {
        let Some(text) = read_as_daemon(pid, file)? else {
            continue;
        };
        let table: toml::Table = text.parse().map_err(|e| {
            EvidenceError::Unavailable(format!("daemon configuration {file}: not valid TOML: {e}"))
        })?;
        merge(&mut merged, table);
        last = Some(file.clone());
    }
    // The file named is the one whoever runs the service edits: a rootless user's own
    // (even when it does not exist yet; the system's files are root's), else the most
    // specific one that exists.
    let own = (euid != 0 && !env_set).then(|| format!("{user_config}/containers/containers.conf"));
    let Some(file) = own.clone().or(last) else {
        // Podman runs on its built-in defaults; name the file an administrator would write.
        let f = files
            .into_iter()
            .nth(1)
            .unwrap_or_else(|| "/etc/containers/containers.conf".to_string());
        return Ok((f, None));
    };
    if own.is_some() && merged.is_empty() {
        return Ok((file, None));
    }
    let json = serde_json::to_string(&merged)
        .map_err(|e| EvidenceError::Unavailable(format!("daemon configuration {file}: {e}")))?;
    Ok((file, Some(json)))
}

/// `*.conf` files of a drop-in directory, in name order, as the daemon sees them.
fn drop_ins(pid: i32, dir: &str) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/root{dir}")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = rd
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".conf"))
        .collect();
    names.sort();
    names.into_iter().map(|n| format!("{dir}/{n}")).collect()
}

/// Later files override earlier ones key by key, table by table (as Podman reads them).
pub(crate) fn merge(into: &mut toml::Table, from: toml::Table) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

/// The value of `--name` in an argv (`--name=v` or `--name v`).
pub(crate) fn flag_value(argv: &[String], name: &str) -> Option<String> {
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

/// Processes that serve an Engine API: dockerd, and Podman's `system service`.
fn server_pids() -> Vec<(i32, Server)> {
    let Ok(procs) = procfs::process::all_processes() else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter_map(|p| {
            let comm = p.stat().ok()?.comm;
            match comm.as_str() {
                "dockerd" => Some((p.pid, Server::Dockerd)),
                "podman" => {
                    let argv = p.cmdline().ok()?;
                    let service =
                        argv.iter().any(|a| a == "system") && argv.iter().any(|a| a == "service");
                    service.then_some((p.pid, Server::Podman))
                }
                _ => None,
            }
        })
        .collect()
}

/// Which daemon serves this endpoint: for a unix socket, the one holding the listening
/// socket's inode; otherwise the only daemon, or the one whose argv names the endpoint.
fn find_server(endpoint: &str) -> Result<(i32, Server), EvidenceError> {
    let candidates = server_pids();
    if candidates.is_empty() {
        return Err(EvidenceError::NotFound(
            "no dockerd (or Podman service) process is visible in /proc (remote daemon, or another PID namespace)"
                .to_string(),
        ));
    }
    if let Some(path) = endpoint.strip_prefix("unix://") {
        if !Path::new(path).exists() {
            return Err(EvidenceError::NotFound(format!(
                "no daemon socket at {path}"
            )));
        }
        let mut listing = Vec::new();
        for &(pid, server) in &candidates {
            // Each daemon's own network namespace: rootless dockerd binds its socket inside
            // rootlesskit's, which the auditor's /proc/net/unix does not list.
            let inodes = socket_inodes(pid, Path::new(path));
            if inodes.is_empty() {
                continue;
            }
            match holds_socket(pid, &inodes) {
                Some(true) => return Ok((pid, server)),
                None => listing.push((pid, server)),
                Some(false) => {}
            }
        }
        // In a container without CAP_SYS_PTRACE no daemon's descriptors can be read: the
        // one whose command line (or daemon.json) names the socket, among those whose
        // network namespace has it bound, and only when exactly one does.
        if !listing.is_empty() && super::hostview::view() != &super::hostview::View::Native {
            let named: Vec<(i32, Server)> = listing
                .into_iter()
                .filter(|&(pid, server)| serves_path(pid, server, path))
                .collect();
            return match named.as_slice() {
                [one] => Ok(*one),
                _ => Err(EvidenceError::Unavailable(format!(
                    "{} daemon processes could hold {endpoint} and the container cannot read their descriptors (it would need CAP_SYS_PTRACE)",
                    named.len()
                ))),
            };
        }
        // A unix socket no daemon holds is served by something else (a proxy, a remote
        // daemon through a tunnel): guessing "the only dockerd" would describe the wrong one.
        return Err(EvidenceError::Unavailable(format!(
            "no dockerd or Podman service process holds the socket of {endpoint}"
        )));
    }
    if let [one] = candidates.as_slice() {
        return Ok(*one);
    }
    let named: Vec<(i32, Server)> = candidates
        .iter()
        .copied()
        .filter(|(pid, _)| {
            procfs::process::Process::new(*pid)
                .and_then(|p| p.cmdline())
                .map(|argv| argv.iter().any(|a| a.contains(endpoint)))
                .unwrap_or(false)
        })
        .collect();
    match named.as_slice() {
        [one] => Ok(*one),
        _ => Err(EvidenceError::Unavailable(format!(
            "{} daemon processes run and none can be tied to {endpoint}",
            candidates.len()
        ))),
    }
}

/// Whether daemon `pid` listens on unix socket `path` by its command line, or its
/// daemon.json's "hosts" when the command line names none (the default socket when
/// neither does), `/var/run` and `/run` being one.
fn serves_path(pid: i32, server: Server, path: &str) -> bool {
    let alias =
        |p: &str| super::hostview::run_alias(Path::new(p.strip_prefix("unix://").unwrap_or(p)));
    let Ok(argv) = procfs::process::Process::new(pid).and_then(|p| p.cmdline()) else {
        return false;
    };
    let mut hosts: Vec<String> = Vec::new();
    let mut args = argv.iter();
    while let Some(a) = args.next() {
        match a.as_str() {
            "-H" | "--host" => hosts.extend(args.next().cloned()),
            _ => {
                if let Some(v) = a.strip_prefix("--host=").or_else(|| a.strip_prefix("-H=")) {
                    hosts.push(v.to_string());
                }
            }
        }
    }
    if server == Server::Podman {
        // `podman system service URI`: the last argument.
        hosts.extend(argv.last().cloned());
    }
    if hosts.is_empty() && server == Server::Dockerd {
        let config = flag_value(&argv, "config-file")
            .unwrap_or_else(|| "/etc/docker/daemon.json".to_string());
        let text = read_as_daemon(pid, &config)
            .ok()
            .flatten()
            .unwrap_or_default();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        hosts.extend(
            json["hosts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|h| h.as_str().map(str::to_string)),
        );
    }
    if hosts.is_empty() || hosts.iter().any(|h| h == "fd://") {
        // The default socket, or systemd's docker.socket (ListenStream=/run/docker.sock).
        hosts.push("/run/docker.sock".to_string());
    }
    let want = alias(path);
    hosts.iter().any(|h| alias(h) == want)
}

/// Whether process `pid` has an open socket with one of these inodes; `None` when its
/// descriptors cannot be read (the directory lists, but without ptrace access its links,
/// or the directory itself, are refused).
fn holds_socket(pid: i32, inodes: &HashSet<u64>) -> Option<bool> {
    let denied = |e: &std::io::Error| e.kind() == std::io::ErrorKind::PermissionDenied;
    let fds = match std::fs::read_dir(format!("/proc/{pid}/fd")) {
        Ok(fds) => fds,
        Err(e) => return (!denied(&e)).then_some(false),
    };
    let mut hidden = false;
    for fd in fds.flatten() {
        match std::fs::read_link(fd.path()) {
            Ok(target) => {
                let ino = target
                    .to_string_lossy()
                    .strip_prefix("socket:[")
                    .and_then(|s| s.strip_suffix(']'))
                    .and_then(|s| s.parse::<u64>().ok());
                if ino.is_some_and(|ino| inodes.contains(&ino)) {
                    return Some(true);
                }
            }
            Err(e) => hidden |= denied(&e),
        }
    }
    (!hidden).then_some(false)
}

/// Inodes of unix sockets bound at `path` (or at the same file through symlinks) in the
/// network namespace of process `pid`.
fn socket_inodes(pid: i32, path: &Path) -> HashSet<u64> {
    let mut want: HashSet<PathBuf> = [path.to_path_buf(), canonical(path)].into_iter().collect();
    // Seen from a container, /var/run is not the host's symlink to /run.
    want.insert(super::hostview::run_alias(path));
    let Ok(table) = std::fs::read_to_string(format!("/proc/{pid}/net/unix")) else {
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
    fn later_containers_conf_files_override_key_by_key() {
        let mut merged = toml::Table::new();
        let distro: toml::Table =
            "[containers]\nlog_driver = \"k8s-file\"\nuserns = \"host\"\n[engine]\nx = 1\n"
                .parse()
                .unwrap();
        let admin: toml::Table = "[containers]\nuserns = \"auto\"\n".parse().unwrap();
        merge(&mut merged, distro);
        merge(&mut merged, admin);
        assert_eq!(merged["containers"]["userns"].as_str(), Some("auto"));
        assert_eq!(
            merged["containers"]["log_driver"].as_str(),
            Some("k8s-file")
        );
        assert_eq!(merged["engine"]["x"].as_integer(), Some(1));
    }

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
