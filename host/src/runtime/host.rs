//! The host side of the WIT evidence interface as a plugin sees it: each `ev::Host`
//! function becomes one [`Query`], counted against the run's query limit, checked against
//! its grants, answered from the audit's evidence, and logged for provenance.

use super::engine::Limiter;
use crate::abi::{ev, types};
use crate::evidence::{unexpected, Answer, Evidence, EvidenceError, Query};
use crate::runtime::Grants;
use std::sync::Arc;

/// Store data of one run: the evidence it may query and its accounting.
pub struct State {
    pub(super) evidence: Option<Arc<Evidence>>,
    pub(super) handle: tokio::runtime::Handle,
    pub(super) limiter: Limiter,
    pub(super) queries: u64,
    pub(super) max_queries: u64,
    pub(super) query_limit_hit: bool,
    pub(super) denied: u64,
    pub(super) grants: Grants,
    /// Provenance key of every query answered in this run, and how it went.
    pub(super) log: QueryLog,
    /// What its WASI imports reach (nothing; see [`super::wasi`]).
    pub(super) wasi: super::wasi::Wasi,
}

/// Query key → outcome ("ok", or the error) for one plugin run.
pub type QueryLog = std::collections::HashMap<String, String>;

impl State {
    /// Count a query and answer it from the evidence, blocking this (plugin) thread.
    fn with_evidence<T, F>(
        &mut self,
        q: &Query,
        f: impl FnOnce(Arc<Evidence>) -> F,
    ) -> Result<T, types::QueryError>
    where
        F: std::future::Future<Output = Result<T, EvidenceError>>,
    {
        self.queries += 1;
        if self.queries > self.max_queries {
            // Refused from here on; the run is reported as failed when it returns.
            self.query_limit_hit = true;
            return Err(types::QueryError::Denied(format!(
                "query limit of {} reached",
                self.max_queries
            )));
        }
        let key = q.key();
        if let Err(why) = self.grants.check(q) {
            self.denied += 1;
            let e = EvidenceError::Denied(why);
            self.log.insert(key, e.to_string());
            return Err(to_wit(e));
        }
        let Some(ev) = self.evidence.clone() else {
            return Err(types::QueryError::Denied(
                "no evidence while describing checks".to_string(),
            ));
        };
        let out = self.handle.block_on(f(ev));
        let outcome = match &out {
            Ok(_) => "ok".to_string(),
            Err(e) => e.to_string(),
        };
        self.log.insert(key, outcome);
        out.map_err(to_wit)
    }

    fn ask(&mut self, q: Query) -> Result<Answer, types::QueryError> {
        self.with_evidence(&q.clone(), |ev| async move { ev.query(&q).await })
    }

    fn document(&mut self, q: Query) -> Result<String, types::QueryError> {
        match self.ask(q.clone())? {
            Answer::Document(v) => Ok(v.text().to_string()),
            other => Err(to_wit(unexpected(&q, &other))),
        }
    }
}

fn to_wit(e: EvidenceError) -> types::QueryError {
    match e {
        EvidenceError::Unavailable(m) => types::QueryError::Unavailable(m),
        EvidenceError::Denied(m) => types::QueryError::Denied(m),
        EvidenceError::NotFound(m) => types::QueryError::NotFound(m),
    }
}

macro_rules! typed {
    ($self:ident, $q:expr, $variant:ident) => {{
        let q = $q;
        match $self.ask(q.clone())? {
            Answer::$variant(v) => Ok(v),
            other => Err(to_wit(unexpected(&q, &other))),
        }
    }};
}

impl types::Host for State {}

impl ev::Host for State {
    fn docker_info(&mut self) -> Result<String, types::QueryError> {
        self.document(Query::DockerInfo)
    }
    fn docker_version(&mut self) -> Result<String, types::QueryError> {
        self.document(Query::DockerVersion)
    }
    fn containers(&mut self) -> Result<Vec<ev::ContainerSummary>, types::QueryError> {
        self.with_evidence(&Query::ContainerList, |ev| async move {
            ev.selected_containers().await
        })
    }
    fn container_inspect(&mut self, id: String) -> Result<String, types::QueryError> {
        self.document(Query::ContainerInspect { id })
    }
    fn container(&mut self, id: String) -> Result<ev::ContainerRecord, types::QueryError> {
        typed!(self, Query::Container { id }, Container).map(|r| *r)
    }
    fn image_list(&mut self) -> Result<String, types::QueryError> {
        self.with_evidence(
            &Query::ImageList,
            |ev| async move { ev.selected_images().await },
        )
        .map(|v| v.to_string())
    }
    fn image_inspect(&mut self, name: String) -> Result<String, types::QueryError> {
        self.document(Query::ImageInspect { name })
    }
    fn image_history(&mut self, name: String) -> Result<String, types::QueryError> {
        self.document(Query::ImageHistory { name })
    }
    fn network_list(&mut self) -> Result<String, types::QueryError> {
        self.document(Query::NetworkList)
    }
    fn swarm_inspect(&mut self) -> Result<String, types::QueryError> {
        self.document(Query::SwarmInspect)
    }
    fn swarm_list(&mut self, kind: String) -> Result<String, types::QueryError> {
        self.document(Query::SwarmList { kind })
    }
    fn group_members(&mut self, group: String) -> Result<Vec<String>, types::QueryError> {
        typed!(self, Query::GroupMembers { group }, Names)
    }
    fn listeners(&mut self) -> Result<Vec<ev::Listener>, types::QueryError> {
        typed!(self, Query::Listeners, Listeners)
    }
    fn file_stat(&mut self, path: String) -> Result<ev::FileInfo, types::QueryError> {
        typed!(self, Query::FileStat { path }, File)
    }
    fn dir_list(&mut self, path: String) -> Result<Vec<String>, types::QueryError> {
        typed!(self, Query::DirList { path }, Names)
    }
    fn file_read(&mut self, path: String) -> Result<Vec<u8>, types::QueryError> {
        typed!(self, Query::FileRead { path }, Bytes)
    }
    fn observation(&mut self, id: String) -> Result<ev::ObservedProfile, types::QueryError> {
        typed!(self, Query::ObservedProfile { id }, Observed)
    }

    fn seccomp(&mut self, id: String) -> Result<ev::SeccompFit, types::QueryError> {
        typed!(self, Query::SeccompFit { id }, SeccompFit)
    }
    fn container_processes(
        &mut self,
        id: String,
    ) -> Result<Vec<ev::ProcessInfo>, types::QueryError> {
        typed!(self, Query::ContainerProcesses { id }, Processes)
    }
    fn process(&mut self, pid: u32) -> Result<ev::ProcessInfo, types::QueryError> {
        typed!(self, Query::Process { pid }, Process)
    }
    fn audit_rules(&mut self) -> Result<ev::AuditRuleSet, types::QueryError> {
        typed!(self, Query::AuditRules, AuditRules)
    }
    fn daemon_config(&mut self) -> Result<ev::DaemonSettings, types::QueryError> {
        typed!(self, Query::DaemonConfig, Daemon)
    }
    fn auditor(&mut self) -> Result<ev::AuditorInfo, types::QueryError> {
        typed!(self, Query::Auditor, Auditor)
    }
    fn auditor_env(&mut self, name: String) -> Result<Option<String>, types::QueryError> {
        typed!(self, Query::AuditorEnv { name }, Env)
    }
}
