//! Evidence: what Bulwark knows about the host audited. Collected lazily from the live
//! host ([`live`]) or replayed from a snapshot ([`snapshot`]); memoized per audit so each
//! question is asked once however many plugins ask it; every answer is recordable.

pub mod live;
pub mod snapshot;

use crate::abi::ev;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// One question about the host. The key of the memo and of snapshot entries.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(tag = "query", rename_all = "kebab-case")]
pub enum Query {
    DockerInfo,
    DockerVersion,
    /// All containers, whatever their state (the selection is applied on top).
    ContainerList,
    ContainerInspect {
        id: String,
    },
    ImageList,
    ImageInspect {
        name: String,
    },
    ImageHistory {
        name: String,
    },
    NetworkList,
    SwarmInspect,
    SwarmList {
        kind: String,
    },
    FileStat {
        path: String,
    },
    DirList {
        path: String,
    },
    FileRead {
        path: String,
    },
    ContainerProcesses {
        id: String,
    },
    Process {
        pid: u32,
    },
    AuditRules,
    GroupMembers {
        group: String,
    },
    Listeners,
    DaemonConfig,
    Auditor,
    AuditorEnv {
        name: String,
    },
    ObservedProfile {
        id: String,
    },
}

impl Query {
    /// The provenance key of this question, as plugins name it in `finding.evidence`:
    /// the kind, then `:argument` where there is one.
    pub fn key(&self) -> String {
        match self {
            Query::DockerInfo => "docker-info".into(),
            Query::DockerVersion => "docker-version".into(),
            Query::ContainerList => "container-list".into(),
            Query::ContainerInspect { id } => format!("container-inspect:{id}"),
            Query::ImageList => "image-list".into(),
            Query::ImageInspect { name } => format!("image-inspect:{name}"),
            Query::ImageHistory { name } => format!("image-history:{name}"),
            Query::NetworkList => "network-list".into(),
            Query::SwarmInspect => "swarm-inspect".into(),
            Query::SwarmList { kind } => format!("swarm-list:{kind}"),
            Query::FileStat { path } => format!("file-stat:{path}"),
            Query::DirList { path } => format!("dir-list:{path}"),
            Query::FileRead { path } => format!("file-read:{path}"),
            Query::ContainerProcesses { id } => format!("container-processes:{id}"),
            Query::Process { pid } => format!("process:{pid}"),
            Query::AuditRules => "audit-rules".into(),
            Query::GroupMembers { group } => format!("group-members:{group}"),
            Query::Listeners => "listeners".into(),
            Query::DaemonConfig => "daemon-config".into(),
            Query::Auditor => "auditor".into(),
            Query::AuditorEnv { name } => format!("auditor-env:{name}"),
            Query::ObservedProfile { id } => format!("observed-profile:{id}"),
        }
    }
}

/// An answer. Docker objects stay JSON documents as the Engine API gave them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", content = "value", rename_all = "kebab-case")]
pub enum Answer {
    Document(serde_json::Value),
    Containers(Vec<ev::ContainerSummary>),
    File(ev::FileInfo),
    Names(Vec<String>),
    Bytes(Vec<u8>),
    Listeners(Vec<ev::Listener>),
    Processes(Vec<ev::ProcessInfo>),
    Process(ev::ProcessInfo),
    AuditRules(ev::AuditRuleSet),
    Daemon(ev::DaemonSettings),
    Auditor(ev::AuditorInfo),
    Env(Option<String>),
    Observed(ev::ObservedProfile),
}

/// Why a question has no answer.
#[derive(Debug, Clone, thiserror::Error, Serialize, Deserialize, PartialEq)]
#[serde(tag = "error", content = "message", rename_all = "kebab-case")]
pub enum EvidenceError {
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("denied: {0}")]
    Denied(String),
    #[error("not found: {0}")]
    NotFound(String),
}

pub type Outcome = Result<Answer, EvidenceError>;

/// Where answers come from.
pub enum Source {
    Live(Box<live::Collector>),
    Snapshot(HashMap<Query, Outcome>),
}

/// Which containers and images an audit covers.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Created and stopped containers too, not only running ones.
    pub all_containers: bool,
    /// Only containers and images whose name matches (Docker Bench's `-i`).
    pub include: Option<regex::Regex>,
    /// Leave out containers and images whose name matches (Docker Bench's `-x`).
    pub exclude: Option<regex::Regex>,
    /// Only containers and images carrying every one of these labels (Docker Bench's `-t`,
    /// i.e. `docker ps --filter label=...`): `key` needs the key, `key=value` the exact value.
    pub labels: Vec<String>,
}

impl Selection {
    /// Whether a container or image with these names is selected by the patterns.
    pub fn names_selected<'a>(&self, mut names: impl Iterator<Item = &'a str> + Clone) -> bool {
        let any = |re: &regex::Regex| names.clone().any(|n| re.is_match(n));
        self.include.as_ref().is_none_or(any)
            && !self
                .exclude
                .as_ref()
                .is_some_and(|re| names.any(|n| re.is_match(n)))
    }

    /// Whether an object with these labels passes the `-t` filters (all must hold).
    pub fn labels_selected<'a>(&self, lookup: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.labels.iter().all(|f| match f.split_once('=') {
            Some((k, v)) => lookup(k) == Some(v),
            None => lookup(f).is_some(),
        })
    }
}

/// The evidence of one audit.
pub struct Evidence {
    source: Source,
    memo: Mutex<HashMap<Query, Arc<OnceCell<Outcome>>>>,
    selection: Selection,
    /// Unix time the audit (or the recorded one) started.
    audit_start: u64,
    queries: AtomicU64,
}

impl Evidence {
    pub fn new(source: Source, selection: Selection, audit_start: u64) -> Self {
        Evidence {
            source,
            memo: Mutex::new(HashMap::new()),
            selection,
            audit_start,
            queries: AtomicU64::new(0),
        }
    }

    pub fn audit_start(&self) -> u64 {
        self.audit_start
    }

    pub fn is_live(&self) -> bool {
        matches!(self.source, Source::Live(_))
    }

    /// Questions asked so far (including memo hits).
    pub fn query_count(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    /// Answer a question, asking the source at most once per audit.
    pub async fn query(&self, q: &Query) -> Outcome {
        self.queries.fetch_add(1, Ordering::Relaxed);
        let cell = {
            let mut memo = self.memo.lock().unwrap_or_else(|p| p.into_inner());
            memo.entry(q.clone()).or_default().clone()
        };
        cell.get_or_init(|| async {
            match &self.source {
                Source::Live(c) => {
                    let out = c.collect(q).await;
                    if let Err(e) = &out {
                        tracing::debug!(?q, error = %e, "evidence query failed");
                    }
                    out
                }
                Source::Snapshot(map) => map.get(q).cloned().unwrap_or_else(|| {
                    Err(EvidenceError::Unavailable(
                        "not recorded in the snapshot".to_string(),
                    ))
                }),
            }
        })
        .await
        .clone()
    }

    /// The containers this audit covers, in the daemon's order.
    pub async fn selected_containers(&self) -> Result<Vec<ev::ContainerSummary>, EvidenceError> {
        match self.query(&Query::ContainerList).await? {
            Answer::Containers(all) => Ok(all
                .into_iter()
                .filter(|c| self.selection.all_containers || c.state == "running")
                .filter(|c| {
                    self.selection
                        .names_selected(std::iter::once(c.name.as_str()))
                        && self.selection.labels_selected(|k| {
                            c.labels
                                .iter()
                                .find(|(key, _)| key == k)
                                .map(|(_, v)| v.as_str())
                        })
                })
                .collect()),
            other => Err(unexpected(&Query::ContainerList, &other)),
        }
    }

    /// The image list, narrowed to the images the patterns select (by any of their tags).
    pub async fn selected_images(&self) -> Result<serde_json::Value, EvidenceError> {
        match self.query(&Query::ImageList).await? {
            Answer::Document(serde_json::Value::Array(all)) => Ok(serde_json::Value::Array(
                all.into_iter()
                    .filter(|img| {
                        let tags = img["RepoTags"].as_array().cloned().unwrap_or_default();
                        let names: Vec<&str> = tags.iter().filter_map(|t| t.as_str()).collect();
                        self.selection.names_selected(names.iter().copied())
                            && self
                                .selection
                                .labels_selected(|k| img["Labels"][k].as_str())
                    })
                    .collect(),
            )),
            other => Err(unexpected(&Query::ImageList, &other)),
        }
    }

    /// Record an answer obtained outside the source (the probes of `--observe`), so that
    /// queries find it and snapshots keep it.
    pub fn seed(&self, q: Query, outcome: Outcome) {
        let cell = Arc::new(OnceCell::new());
        let _ = cell.set(outcome);
        let mut memo = self.memo.lock().unwrap_or_else(|p| p.into_inner());
        memo.insert(q, cell);
    }

    /// Every answer obtained so far, in a stable order (the content of a snapshot).
    pub fn recorded(&self) -> BTreeMap<Query, Outcome> {
        let memo = self.memo.lock().unwrap_or_else(|p| p.into_inner());
        memo.iter()
            .filter_map(|(q, cell)| cell.get().map(|o| (q.clone(), o.clone())))
            .collect()
    }
}

/// A source answered with the wrong kind of answer (a corrupt snapshot, typically).
pub fn unexpected(q: &Query, a: &Answer) -> EvidenceError {
    let kind = serde_json::to_value(a)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_string))
        .unwrap_or_default();
    EvidenceError::Unavailable(format!("malformed evidence: {q:?} answered with a {kind}"))
}
