//! Live collectors: the Docker Engine API (bollard), procfs, capability sets, file metadata,
//! audit rules and the daemon's real configuration.

use super::{Answer, EvidenceError, Outcome, Query};
use crate::abi::ev;
use bollard::errors::Error as BollardError;
use bollard::Docker;
use std::collections::{HashMap, HashSet};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::OnceCell;

/// How long one Docker API call may take before it counts as unavailable.
const DOCKER_TIMEOUT: Duration = Duration::from_secs(30);

/// The default Engine API endpoint.
pub const DEFAULT_ENDPOINT: &str = "unix:///var/run/docker.sock";

/// A running container for runtime monitoring.
#[derive(Debug, Clone)]
pub struct RunningContainer {
    pub id: String,
    pub name: String,
    pub image: String,
    /// Its init process, as the host sees it (0 when not running).
    pub pid: i64,
    pub running: bool,
}

pub struct Collector {
    endpoint: String,
    docker: OnceCell<Result<Docker, EvidenceError>>,
    /// Container id → pids of its processes, built from /proc/*/cgroup once per audit.
    proc_index: OnceCell<HashMap<String, Vec<i32>>>,
}

impl Collector {
    /// `endpoint`: an explicit `--host`, else `DOCKER_HOST`, else the default socket.
    pub fn new(endpoint: Option<String>) -> Self {
        let endpoint = endpoint
            .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|s| !s.is_empty()))
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        Collector {
            endpoint,
            docker: OnceCell::new(),
            proc_index: OnceCell::new(),
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    async fn docker(&self) -> Result<&Docker, EvidenceError> {
        self.docker
            .get_or_init(|| async {
                let unreachable = |e: String| {
                    EvidenceError::Unavailable(format!(
                        "cannot reach the Docker daemon at {}: {e}",
                        self.endpoint
                    ))
                };
                let d = if let Some(path) = self.endpoint.strip_prefix("unix://") {
                    Docker::connect_with_unix(path, 30, bollard::API_DEFAULT_VERSION)
                } else {
                    Docker::connect_with_host(&self.endpoint)
                }
                .map_err(|e| unreachable(e.to_string()))?;
                match tokio::time::timeout(Duration::from_secs(10), d.negotiate_version()).await {
                    Ok(Ok(d)) => Ok(d),
                    Ok(Err(e)) => Err(unreachable(e.to_string())),
                    Err(_) => Err(unreachable("no answer within 10 s".to_string())),
                }
            })
            .await
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Run one Docker API call under the timeout, with its errors made evidence errors.
    /// A running container as runtime monitoring needs it: who it is and its init pid.
    pub async fn running_container(&self, id: &str) -> Result<RunningContainer, EvidenceError> {
        let d = self.docker().await?;
        let i = Self::call("container inspect", d.inspect_container(id, None)).await?;
        let state = i.state.unwrap_or_default();
        Ok(RunningContainer {
            id: i.id.unwrap_or_default(),
            name: i
                .name
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string(),
            image: i.config.and_then(|c| c.image).unwrap_or_default(),
            pid: state.pid.unwrap_or(0),
            running: state.running.unwrap_or(false),
        })
    }

    /// Ids of the running containers.
    pub async fn running_ids(&self) -> Result<Vec<String>, EvidenceError> {
        let d = self.docker().await?;
        let opts = bollard::query_parameters::ListContainersOptionsBuilder::default().build();
        let list = Self::call("container list", d.list_containers(Some(opts))).await?;
        Ok(list.into_iter().filter_map(|c| c.id).collect())
    }

    /// Container start and die events, as (action, container id), until the stream ends.
    pub async fn container_events(
        &self,
    ) -> Result<
        impl futures_util::Stream<Item = Result<(String, String), EvidenceError>> + '_,
        EvidenceError,
    > {
        use futures_util::StreamExt;
        let d = self.docker().await?;
        let mut filters = HashMap::new();
        filters.insert("type".to_string(), vec!["container".to_string()]);
        filters.insert(
            "event".to_string(),
            vec!["start".to_string(), "die".to_string()],
        );
        let opts = bollard::query_parameters::EventsOptionsBuilder::default()
            .filters(&filters)
            .build();
        Ok(d.events(Some(opts)).map(|e| {
            e.map(|m| {
                let action = m.action.unwrap_or_default();
                let id = m.actor.and_then(|a| a.id).unwrap_or_default();
                (action, id)
            })
            .map_err(|e| docker_error("events", e))
        }))
    }

    async fn call<T, F>(what: &str, call: F) -> Result<T, EvidenceError>
    where
        F: std::future::Future<Output = Result<T, BollardError>>,
    {
        match tokio::time::timeout(DOCKER_TIMEOUT, call).await {
            Err(_) => Err(EvidenceError::Unavailable(format!(
                "{what}: no answer from the daemon within {} s",
                DOCKER_TIMEOUT.as_secs()
            ))),
            Ok(r) => r.map_err(|e| docker_error(what, e)),
        }
    }

    /// Run one Docker API call and turn its result into a JSON document.
    async fn doc<T, F>(&self, what: &str, call: F) -> Outcome
    where
        T: serde::Serialize,
        F: std::future::Future<Output = Result<T, BollardError>>,
    {
        let v = Self::call(what, call).await?;
        serde_json::to_value(v)
            .map(Answer::Document)
            .map_err(|e| EvidenceError::Unavailable(format!("{what}: {e}")))
    }

    pub async fn collect(&self, q: &Query) -> Outcome {
        match q {
            Query::DockerInfo => {
                let d = self.docker().await?;
                self.doc("docker info", d.info()).await
            }
            Query::DockerVersion => {
                let d = self.docker().await?;
                self.doc("docker version", d.version()).await
            }
            Query::ContainerList => self.container_list().await,
            Query::ContainerInspect { id } => {
                let d = self.docker().await?;
                self.doc(&format!("container {id}"), d.inspect_container(id, None))
                    .await
            }
            Query::ImageList => {
                let d = self.docker().await?;
                // Like `docker images`: tagged and dangling images, not intermediate layers.
                let opts = bollard::query_parameters::ListImagesOptionsBuilder::default().build();
                self.doc("image list", d.list_images(Some(opts))).await
            }
            Query::ImageInspect { name } => {
                let d = self.docker().await?;
                self.doc(&format!("image {name}"), d.inspect_image(name))
                    .await
            }
            Query::ImageHistory { name } => {
                let d = self.docker().await?;
                self.doc(&format!("image history {name}"), d.image_history(name))
                    .await
            }
            Query::NetworkList => {
                let d = self.docker().await?;
                self.doc(
                    "network list",
                    d.list_networks(None::<bollard::query_parameters::ListNetworksOptions>),
                )
                .await
            }
            Query::SwarmInspect => {
                let d = self.docker().await?;
                self.doc("swarm", d.inspect_swarm()).await
            }
            Query::SwarmList { kind } => {
                let d = self.docker().await?;
                match kind.as_str() {
                    "nodes" => {
                        self.doc(
                            "swarm nodes",
                            d.list_nodes(None::<bollard::query_parameters::ListNodesOptions>),
                        )
                        .await
                    }
                    "services" => {
                        self.doc(
                            "swarm services",
                            d.list_services(None::<bollard::query_parameters::ListServicesOptions>),
                        )
                        .await
                    }
                    "secrets" => {
                        self.doc(
                            "swarm secrets",
                            d.list_secrets(None::<bollard::query_parameters::ListSecretsOptions>),
                        )
                        .await
                    }
                    other => Err(EvidenceError::NotFound(format!(
                        "no swarm object kind {other:?}"
                    ))),
                }
            }
            Query::GroupMembers { group } => group_members(group).map(Answer::Names),
            Query::Listeners => listeners().map(Answer::Listeners),
            Query::FileStat { path } => file_stat(Path::new(path)).map(Answer::File),
            Query::DirList { path } => dir_list(Path::new(path)).map(Answer::Names),
            Query::FileRead { path } => file_read(Path::new(path)).map(Answer::Bytes),
            Query::ContainerProcesses { id } => self.container_processes(id).await,
            Query::Process { pid } => process_info(*pid as i32).map(Answer::Process),
            Query::AuditRules => audit_rules().await.map(Answer::AuditRules),
            Query::DaemonConfig => daemon_config(&self.endpoint).map(Answer::Daemon),
            Query::Auditor => Ok(Answer::Auditor(auditor())),
            Query::AuditorEnv { name } => Ok(Answer::Env(std::env::var(name).ok())),
            // Observations are seeded by `audit --observe`; live collection cannot make them.
            Query::ObservedProfile { .. } => Err(EvidenceError::Unavailable(
                "no observation: run the audit with --observe DURATION".to_string(),
            )),
        }
    }

    async fn container_list(&self) -> Outcome {
        let d = self.docker().await?;
        let opts = bollard::query_parameters::ListContainersOptionsBuilder::default()
            .all(true)
            .build();
        let list = Self::call("container list", d.list_containers(Some(opts))).await?;
        let mut out: Vec<ev::ContainerSummary> = list
            .into_iter()
            .map(|c| ev::ContainerSummary {
                id: c.id.unwrap_or_default(),
                name: c
                    .names
                    .and_then(|n| n.into_iter().next())
                    .map(|n| n.trim_start_matches('/').to_string())
                    .unwrap_or_default(),
                image: c.image.unwrap_or_default(),
                state: c
                    .state
                    .map(|s| s.to_string())
                    .unwrap_or_default()
                    .to_lowercase(),
                labels: c
                    .labels
                    .map(|l| l.into_iter().collect::<std::collections::BTreeMap<_, _>>())
                    .unwrap_or_default()
                    .into_iter()
                    .collect(),
            })
            .collect();
        // The daemon lists newest first; a stable order by name makes reports diffable.
        out.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        Ok(Answer::Containers(out))
    }

    async fn container_processes(&self, id: &str) -> Outcome {
        if id.len() < 12 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(EvidenceError::NotFound(format!(
                "{id:?} is not a full container id"
            )));
        }
        let index = self
            .proc_index
            .get_or_init(|| async {
                tokio::task::spawn_blocking(index_container_processes)
                    .await
                    .unwrap_or_default()
            })
            .await;
        let pids = index.get(id).cloned().unwrap_or_default();
        let mut out = Vec::with_capacity(pids.len());
        for pid in pids {
            match process_info(pid) {
                Ok(p) => out.push(p),
                // A process that exited since the index was built is simply gone.
                Err(EvidenceError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Answer::Processes(out))
    }
}

fn docker_error(what: &str, e: BollardError) -> EvidenceError {
    match e {
        BollardError::DockerResponseServerError {
            status_code: 404,
            message,
        } => EvidenceError::NotFound(format!("{what}: {message}")),
        // The swarm endpoint answers 503 on a node that is not a manager.
        BollardError::DockerResponseServerError {
            status_code: 503,
            message,
        } if what == "swarm" => EvidenceError::NotFound(format!("{what}: {message}")),
        other => EvidenceError::Unavailable(format!("{what}: {other}")),
    }
}

/// Map each container id found in a /proc/PID/cgroup path to the pids in it. Works for
/// cgroup v1 (`/docker/<id>`), v2 (`/system.slice/docker-<id>.scope`) and hybrid hosts.
fn index_container_processes() -> HashMap<String, Vec<i32>> {
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

/// 64-hex-digit runs in a cgroup path.
fn container_ids_in(path: &str) -> Vec<String> {
    path.split(|c: char| !c.is_ascii_hexdigit())
        .filter(|s| s.len() == 64)
        .map(str::to_string)
        .collect()
}

fn proc_error(pid: i32, e: procfs::ProcError) -> EvidenceError {
    match e {
        procfs::ProcError::NotFound(_) => EvidenceError::NotFound(format!("process {pid}")),
        procfs::ProcError::PermissionDenied(_) => {
            EvidenceError::Denied(format!("process {pid}: permission denied"))
        }
        other => EvidenceError::Unavailable(format!("process {pid}: {other}")),
    }
}

/// Names of the capabilities in a mask, via the caps crate's table.
pub fn cap_set(mask: u64) -> ev::CapSet {
    let known = caps::all();
    let names = (0..64u8)
        .filter(|bit| mask & (1u64 << bit) != 0)
        .map(|bit| {
            known
                .iter()
                .find(|c| c.index() == bit)
                .map(|c| c.to_string())
                .unwrap_or_else(|| format!("CAP_{bit}"))
        })
        .collect();
    ev::CapSet { mask, names }
}

fn process_info(pid: i32) -> Result<ev::ProcessInfo, EvidenceError> {
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

/// `stat` of a path (following symlinks, as the checks care about what a path leads to).
fn file_stat(path: &Path) -> Result<ev::FileInfo, EvidenceError> {
    let shown = path.display().to_string();
    let md = std::fs::metadata(path).map_err(|e| io_error(shown.clone(), e))?;
    let ft = md.file_type();
    let kind = if ft.is_file() {
        ev::FileKind::File
    } else if ft.is_dir() {
        ev::FileKind::Directory
    } else if ft.is_symlink() {
        ev::FileKind::Symlink
    } else if ft.is_socket() {
        ev::FileKind::Socket
    } else if ft.is_fifo() {
        ev::FileKind::Fifo
    } else if ft.is_block_device() {
        ev::FileKind::BlockDevice
    } else if ft.is_char_device() {
        ev::FileKind::CharDevice
    } else {
        ev::FileKind::Other
    };
    Ok(ev::FileInfo {
        path: shown,
        kind,
        mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
        user: name_of(Path::new("/etc/passwd"), md.uid()),
        group: name_of(Path::new("/etc/group"), md.gid()),
        size: md.len(),
        device: md.dev(),
    })
}

fn io_error(shown: String, e: std::io::Error) -> EvidenceError {
    match e.kind() {
        std::io::ErrorKind::NotFound => EvidenceError::NotFound(shown),
        std::io::ErrorKind::PermissionDenied => EvidenceError::Denied(format!("{shown}: {e}")),
        _ => EvidenceError::Unavailable(format!("{shown}: {e}")),
    }
}

fn dir_list(path: &Path) -> Result<Vec<String>, EvidenceError> {
    let shown = path.display().to_string();
    let entries = std::fs::read_dir(path).map_err(|e| io_error(shown.clone(), e))?;
    let mut names = Vec::new();
    for e in entries {
        let e = e.map_err(|e| io_error(shown.clone(), e))?;
        names.push(e.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

/// Largest file a plugin may read.
const MAX_FILE_READ: u64 = 1 << 20;

fn file_read(path: &Path) -> Result<Vec<u8>, EvidenceError> {
    use std::io::Read;
    let shown = path.display().to_string();
    let f = std::fs::File::open(path).map_err(|e| io_error(shown.clone(), e))?;
    let meta = f.metadata().map_err(|e| io_error(shown.clone(), e))?;
    if !meta.is_file() {
        return Err(EvidenceError::Unavailable(format!(
            "{shown} is not a regular file"
        )));
    }
    let mut buf = Vec::new();
    f.take(MAX_FILE_READ + 1)
        .read_to_end(&mut buf)
        .map_err(|e| io_error(shown.clone(), e))?;
    if buf.len() as u64 > MAX_FILE_READ {
        return Err(EvidenceError::Unavailable(format!(
            "{shown} is larger than {MAX_FILE_READ} bytes"
        )));
    }
    Ok(buf)
}

/// Members of a group: the ones /etc/group lists, then users whose primary group it is.
fn group_members(group: &str) -> Result<Vec<String>, EvidenceError> {
    let read = |p: &str| std::fs::read_to_string(p).map_err(|e| io_error(p.to_string(), e));
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

/// Listening TCP sockets from /proc/net/tcp and tcp6 (state 0A).
fn listeners() -> Result<Vec<ev::Listener>, EvidenceError> {
    let mut out = Vec::new();
    for (proto, file) in [("tcp", "/proc/net/tcp"), ("tcp6", "/proc/net/tcp6")] {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_error(file.to_string(), e)),
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.get(3) != Some(&"0A") {
                continue;
            }
            if let Some((addr, port)) = f.get(1).and_then(|a| parse_proc_addr(a)) {
                out.push(ev::Listener {
                    proto: proto.to_string(),
                    address: addr,
                    port,
                });
            }
        }
    }
    out.sort_by(|a, b| (a.port, &a.address).cmp(&(b.port, &b.address)));
    out.dedup_by(|a, b| a.port == b.port && a.address == b.address && a.proto == b.proto);
    Ok(out)
}

/// "0100007F:0CEA" → ("127.0.0.1", 3306); IPv6 addresses are four little-endian words.
fn parse_proc_addr(s: &str) -> Option<(String, u16)> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let text = match addr.len() {
        8 => std::net::Ipv4Addr::from(u32::from_str_radix(addr, 16).ok()?.swap_bytes()).to_string(),
        32 => {
            let mut bytes = [0u8; 16];
            for w in 0..4 {
                let word = u32::from_str_radix(&addr[w * 8..w * 8 + 8], 16)
                    .ok()?
                    .swap_bytes();
                bytes[w * 4..w * 4 + 4].copy_from_slice(&word.to_be_bytes());
            }
            std::net::Ipv6Addr::from(bytes).to_string()
        }
        _ => return None,
    };
    Some((text, port))
}

/// Look an id up in a passwd/group-format file.
fn name_of(db: &Path, id: u32) -> Option<String> {
    let text = std::fs::read_to_string(db).ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let _pw = f.next()?;
        (f.next()?.parse::<u32>().ok()? == id).then(|| name.to_string())
    })
}

/// The kernel's loaded audit rules when auditctl can list them, else the on-disk rules.
async fn audit_rules() -> Result<ev::AuditRuleSet, EvidenceError> {
    let listed = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::process::Command::new("auditctl").arg("-l").output(),
    )
    .await;
    if let Ok(Ok(out)) = listed {
        if out.status.success() {
            return Ok(ev::AuditRuleSet {
                source: "auditctl".to_string(),
                rules: rule_lines(&String::from_utf8_lossy(&out.stdout)),
            });
        }
    }
    let mut files: Vec<PathBuf> = vec![PathBuf::from("/etc/audit/audit.rules")];
    if let Ok(dir) = std::fs::read_dir("/etc/audit/rules.d") {
        let mut more: Vec<PathBuf> = dir
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "rules"))
            .collect();
        more.sort();
        files.extend(more);
    }
    let mut rules = Vec::new();
    let mut found = false;
    for f in files {
        match std::fs::read_to_string(&f) {
            Ok(t) => {
                found = true;
                rules.extend(rule_lines(&t));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(EvidenceError::Unavailable(format!("{}: {e}", f.display()))),
        }
    }
    Ok(ev::AuditRuleSet {
        source: if found { "rules-file" } else { "none" }.to_string(),
        rules,
    })
}

fn rule_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && *l != "No rules")
        .map(str::to_string)
        .collect()
}

fn auditor() -> ev::AuditorInfo {
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

/// Find the dockerd serving `endpoint` and read the configuration it really uses.
fn daemon_config(endpoint: &str) -> Result<ev::DaemonSettings, EvidenceError> {
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
    fn proc_net_addresses() {
        assert_eq!(
            parse_proc_addr("0100007F:0CEA"),
            Some(("127.0.0.1".to_string(), 3306))
        );
        assert_eq!(
            parse_proc_addr("00000000:0949"),
            Some(("0.0.0.0".to_string(), 2377))
        );
        assert_eq!(
            parse_proc_addr("00000000000000000000000000000000:0050"),
            Some(("::".to_string(), 80))
        );
        assert_eq!(
            parse_proc_addr("00000000000000000000000001000000:0050"),
            Some(("::1".to_string(), 80))
        );
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

    #[test]
    fn cap_names_come_from_the_caps_table() {
        let s = cap_set((1 << 21) | (1 << 0));
        assert_eq!(s.names, vec!["CAP_CHOWN", "CAP_SYS_ADMIN"]);
    }

    #[test]
    fn own_process_is_readable() {
        let me = process_info(std::process::id() as i32).unwrap();
        assert_eq!(me.pid, std::process::id());
        assert!(me.namespaces.iter().any(|n| n.kind == "pid"));
    }
}
