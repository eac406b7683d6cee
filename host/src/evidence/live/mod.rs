//! Live collectors: each evidence kind is answered by one room — the Docker Engine API
//! ([`docker`]), procfs ([`procfs`]), files ([`files`]), accounts ([`accounts`]), sockets
//! ([`net`]), audit rules ([`auditd`]) and the daemon's real configuration ([`daemon`]).
//! Host files are read through [`hostview`], which knows what a container running
//! Bulwark can and cannot see of the host.

// The crate sees the rooms whose text parsers `crate::fuzzing` reaches.
mod accounts;
mod audit_netlink;
pub(crate) mod auditd;
pub(crate) mod daemon;
mod docker;
mod files;
pub mod hostview;
pub(crate) mod net;
pub(crate) mod procfs;

pub use files::group_name;
pub use procfs::cap_set;

use super::{Answer, EvidenceError, Outcome, Query};
use std::collections::HashMap;
use std::path::Path;
use tokio::sync::OnceCell;

/// Answers questions about the host it runs on (and the daemon at its endpoint).
pub struct Collector {
    docker: crate::docker::Client,
    /// Container id → pids of its processes, built from /proc/*/cgroup once per audit.
    proc_index: OnceCell<HashMap<String, Vec<i32>>>,
}

/// Whether a question is answered from the machine Bulwark runs on (files, /proc, audit
/// rules, sockets, accounts, the daemon's process) rather than through the Engine API.
fn reads_this_host(q: &Query) -> bool {
    matches!(
        q,
        Query::GroupMembers { .. }
            | Query::Listeners
            | Query::FileStat { .. }
            | Query::DirList { .. }
            | Query::FileRead { .. }
            | Query::ContainerProcesses { .. }
            | Query::Process { .. }
            | Query::AuditRules
            | Query::DaemonConfig
    )
}

impl Collector {
    /// `endpoint`: an explicit `--host`, else `DOCKER_HOST`, else the default socket.
    pub fn new(endpoint: Option<String>) -> Self {
        Collector {
            docker: crate::docker::Client::new(endpoint),
            proc_index: OnceCell::new(),
        }
    }

    pub fn endpoint(&self) -> &str {
        self.docker.endpoint()
    }

    /// (endpoint, how it was chosen, on another machine).
    pub fn endpoint_facts(&self) -> (String, String, bool) {
        let via = self
            .docker
            .resolved()
            .map_or_else(String::new, |e| e.via.clone());
        (self.endpoint().to_string(), via, self.docker.is_remote())
    }

    pub async fn collect(&self, q: &Query) -> Outcome {
        if self.docker.is_remote() && reads_this_host(q) {
            return Err(EvidenceError::Unavailable(format!(
                "evidence is from the auditor's host, not the daemon's: the daemon at {} is on another machine",
                self.endpoint()
            )));
        }
        match q {
            Query::DockerInfo
            | Query::DockerVersion
            | Query::ContainerList
            | Query::ContainerInspect { .. }
            | Query::ImageList
            | Query::ImageInspect { .. }
            | Query::ImageHistory { .. }
            | Query::NetworkList
            | Query::SwarmInspect
            | Query::SwarmList { .. } => docker::collect(&self.docker, q).await,
            Query::GroupMembers { group } => accounts::group_members(group).map(Answer::Names),
            Query::Listeners => net::listeners().map(Answer::Listeners),
            Query::FileStat { path } => files::file_stat(Path::new(path)).map(Answer::File),
            Query::DirList { path } => files::dir_list(Path::new(path)).map(Answer::Names),
            Query::FileRead { path } => files::file_read(Path::new(path)).map(Answer::Bytes),
            Query::ContainerProcesses { id } => self.container_processes(id).await,
            Query::Process { pid } => procfs::process_info(*pid as i32).map(Answer::Process),
            Query::AuditRules => auditd::audit_rules().await.map(Answer::AuditRules),
            Query::DaemonConfig => daemon::daemon_config(self.endpoint()).map(Answer::Daemon),
            Query::Auditor => Ok(Answer::Auditor(accounts::auditor())),
            Query::AuditorEnv { name } => Ok(Answer::Env(std::env::var(name).ok())),
            // Observations are seeded by `audit --observe`; live collection cannot make them.
            Query::ObservedProfile { .. } | Query::SeccompFit { .. } => {
                Err(EvidenceError::Unavailable(
                    "no observation: run the audit with --observe DURATION".to_string(),
                ))
            }
            // Read from the inspect by [`crate::evidence::Evidence`], never asked of a source.
            Query::Container { .. } => Err(EvidenceError::Unavailable(
                "the container record is read from its inspect".to_string(),
            )),
        }
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
                tokio::task::spawn_blocking(procfs::index_container_processes)
                    .await
                    .unwrap_or_default()
            })
            .await;
        let pids = match index.get(id) {
            Some(p) => p.clone(),
            // No cgroup names it: rootless Docker without systemd runs every container in
            // the daemon's own cgroup. Its processes are then those in its PID namespace.
            None => self.pids_by_namespace(id).await?,
        };
        let mut out = Vec::with_capacity(pids.len());
        for pid in pids {
            match procfs::process_info(pid) {
                Ok(p) => out.push(p),
                // A process that exited since the index was built is simply gone.
                Err(EvidenceError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Answer::Processes(out))
    }

    /// The processes in the PID namespace of a running container's init, when that
    /// namespace is its own (not the host's). A running container none of whose processes
    /// can be seen is an error, not an empty list: "no sshd" must not be concluded from a
    /// /proc that hides other users' processes (hidepid) or another PID namespace's.
    async fn pids_by_namespace(&self, id: &str) -> Result<Vec<i32>, EvidenceError> {
        let c = match self.docker.running_container(id).await {
            Ok(c) => c,
            Err(crate::docker::DockerError::NotFound { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        if !c.running || c.pid <= 0 {
            return Ok(Vec::new());
        }
        let pid = c.pid as i32;
        let visible = Path::new(&format!("/proc/{pid}")).exists();
        let pids = tokio::task::spawn_blocking(move || procfs::pids_in_namespace_of(pid))
            .await
            .unwrap_or_else(|e| Err(EvidenceError::Unavailable(format!("reading /proc: {e}"))))?;
        if pids.is_empty() && !visible {
            return Err(EvidenceError::Unavailable(format!(
                "the processes of running container {id} are not visible in /proc (mounted with hidepid, or another PID namespace)"
            )));
        }
        Ok(pids)
    }
}
