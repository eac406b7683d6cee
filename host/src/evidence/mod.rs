//! Evidence: what Bulwark knows about the host audited. Collected lazily from the live
//! host ([`live`]) or replayed from a snapshot ([`snapshot`]); memoized per audit so each
//! question is asked once however many plugins ask it; every answer is recordable.

pub mod live;
pub mod record;
pub mod selection;
pub mod snapshot;

/// The questions themselves are shared with the SDK (the `bulwark-query` crate).
pub use bulwark_query::{Query, Scope, UnknownScope};
pub use selection::Selection;

use crate::abi::ev;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// An answer. Docker objects stay JSON documents as the Engine API gave them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", content = "value", rename_all = "kebab-case")]
pub enum Answer {
    Document(Doc),
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
    SeccompFit(ev::SeccompFit),
    Container(Box<ev::ContainerRecord>),
}

/// A Docker Engine document kept as its JSON text: plugins are handed the text as it is,
/// and the host parses one only where it needs a field. As text, a thousand containers'
/// inspects cost their size in memory, not the several times more of a parsed tree, and
/// answering a plugin copies bytes instead of cloning and printing a tree.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Doc(Box<RawValue>);

impl Doc {
    /// The document of anything serializable (what the Engine API client returns).
    pub fn of<T: Serialize>(v: &T) -> Result<Doc, serde_json::Error> {
        serde_json::value::to_raw_value(v).map(Doc)
    }

    /// Its JSON text.
    pub fn text(&self) -> &str {
        self.0.get()
    }

    /// Parsed, for the host's own use (valid JSON by construction).
    pub fn value(&self) -> serde_json::Value {
        serde_json::from_str(self.0.get()).unwrap_or(serde_json::Value::Null)
    }
}

impl From<serde_json::Value> for Doc {
    fn from(v: serde_json::Value) -> Self {
        // A Value's keys are strings, so it always serializes.
        Doc::of(&v).unwrap_or_else(|_| Doc(RawValue::NULL.to_owned()))
    }
}

/// Read as any JSON value first: a snapshot may give the content before its tag, which a
/// borrowed raw value cannot be read from.
impl<'de> Deserialize<'de> for Doc {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde_json::Value::deserialize(d).map(Doc::from)
    }
}

/// The same document, whatever its whitespace.
impl PartialEq for Doc {
    fn eq(&self, other: &Self) -> bool {
        self.text() == other.text() || self.value() == other.value()
    }
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

/// Evidence keeps the daemon's error as text (it is recorded in snapshots and shown in
/// provenance): what was missing is "not found", anything else "unavailable".
impl From<crate::docker::DockerError> for EvidenceError {
    fn from(e: crate::docker::DockerError) -> Self {
        match e {
            crate::docker::DockerError::NotFound { .. } => EvidenceError::NotFound(e.to_string()),
            // With its causes: a TLS failure's reason is in the chain, not the top error.
            other => EvidenceError::Unavailable(crate::text::error_chain(&other)),
        }
    }
}

/// Where answers come from.
pub enum Source {
    Live(Box<live::Collector>),
    Snapshot(HashMap<Query, Outcome>),
}

/// The evidence of one audit.
pub struct Evidence {
    source: Source,
    memo: Mutex<HashMap<Query, Arc<OnceCell<Outcome>>>>,
    selection: Selection,
    /// Unix time the audit (or the recorded one) started.
    audit_start: u64,
    queries: AtomicU64,
    /// Questions the source could not answer (not counting absent objects).
    errors: AtomicU64,
    /// Set when the selected containers' inspects have been asked for all at once.
    prefetched: AtomicBool,
}

impl Evidence {
    pub fn new(source: Source, selection: Selection, audit_start: u64) -> Self {
        Evidence {
            source,
            memo: Mutex::new(HashMap::new()),
            selection,
            audit_start,
            queries: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            prefetched: AtomicBool::new(false),
        }
    }

    pub fn audit_start(&self) -> u64 {
        self.audit_start
    }

    /// For live evidence: the daemon's endpoint, how it was chosen, and whether it is on
    /// another machine.
    pub fn endpoint(&self) -> Option<(String, String, bool)> {
        match &self.source {
            Source::Live(c) => Some(c.endpoint_facts()),
            Source::Snapshot(_) => None,
        }
    }

    pub fn is_live(&self) -> bool {
        matches!(self.source, Source::Live(_))
    }

    /// Questions asked so far (including memo hits).
    pub fn query_count(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    /// Distinct questions the source could not answer: the daemon or a file failed or
    /// refused (an object that does not exist is an answer, not an error).
    pub fn error_count(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Answer a question, asking the source at most once per audit.
    pub async fn query(&self, q: &Query) -> Outcome {
        self.queries.fetch_add(1, Ordering::Relaxed);
        match q {
            Query::ContainerInspect { .. } => {
                self.prefetch_inspects(false).await;
                self.answer(q).await
            }
            Query::Container { id } => {
                self.prefetch_inspects(true).await;
                self.container_record(id).await
            }
            _ => self.answer(q).await,
        }
    }

    /// A container's typed record, read from its inspect document the first time any
    /// plugin asks and kept beside it: one parse per container per audit, on the host.
    async fn container_record(&self, id: &str) -> Outcome {
        let q = Query::Container { id: id.to_string() };
        self.cell(&q)
            .get_or_init(|| async {
                let inspect = Query::ContainerInspect { id: id.to_string() };
                match self.answer(&inspect).await? {
                    Answer::Document(d) => record::from_doc(&d)
                        .map(|r| Answer::Container(Box::new(r)))
                        .inspect_err(|_| {
                            self.errors.fetch_add(1, Ordering::Relaxed);
                        }),
                    other => Err(unexpected(&inspect, &other)),
                }
            })
            .await
            .clone()
    }

    /// The memo's cell for a question (empty until it is answered).
    fn cell(&self, q: &Query) -> Arc<OnceCell<Outcome>> {
        let mut memo = self.memo.lock().unwrap_or_else(|p| p.into_inner());
        memo.entry(q.clone()).or_default().clone()
    }

    /// The first question about one container's inspect asks the daemon for every selected
    /// container's at once, at most [`crate::docker::api_concurrency`] in flight: plugins
    /// run their checks container by container, so asked one at a time the daemon's round
    /// trips would add up serially; asked in a bounded pool they overlap without flooding
    /// a daemon that serves everything else on the host too. Answers land in the memo: the
    /// plugin that asked first waits for the pool (it asks for the rest next), another that
    /// asks meanwhile waits only for the one it asked for. Asked for records, the pool reads
    /// each record as its document arrives, while other documents are still in flight.
    async fn prefetch_inspects(&self, records: bool) {
        if !self.is_live() || self.prefetched.swap(true, Ordering::SeqCst) {
            return;
        }
        let Ok(ids) = self.select_containers().await else {
            return;
        };
        let pool = crate::docker::api_concurrency();
        futures_util::stream::iter(ids)
            .for_each_concurrent(pool, |c| async move {
                let _ = if records {
                    self.container_record(&c.id).await
                } else {
                    self.answer(&Query::ContainerInspect { id: c.id }).await
                };
            })
            .await;
    }

    /// The memoized answer to a question (asking the source the first time).
    async fn answer(&self, q: &Query) -> Outcome {
        self.cell(q)
            .get_or_init(|| async {
                match &self.source {
                    Source::Live(c) => {
                        let out = c.collect(q).await;
                        if let Err(e) = &out {
                            tracing::debug!(?q, error = %e, "evidence query failed");
                            if !matches!(e, EvidenceError::NotFound(_)) {
                                self.errors.fetch_add(1, Ordering::Relaxed);
                            }
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
        self.queries.fetch_add(1, Ordering::Relaxed);
        self.select_containers().await
    }

    /// [`Evidence::selected_containers`], not counted as a question (the prefetch asks it).
    async fn select_containers(&self) -> Result<Vec<ev::ContainerSummary>, EvidenceError> {
        // The container Bulwark itself runs in is not judged (Docker Bench's #276); by its
        // id, not by a label anyone could put on a container to hide it.
        let own = match self.is_live() {
            true => live::hostview::own_container(),
            false => None,
        };
        match self.answer(&Query::ContainerList).await? {
            Answer::Containers(all) => Ok(all
                .into_iter()
                .filter(|c| Some(c.id.as_str()) != own)
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

    /// The ids of the containers this audit covers.
    pub async fn selected_ids(&self) -> Vec<String> {
        self.selected_containers()
            .await
            .map(|c| c.into_iter().map(|c| c.id).collect())
            .unwrap_or_default()
    }

    /// The image list, narrowed to the images the patterns select (by any of their tags).
    pub async fn selected_images(&self) -> Result<serde_json::Value, EvidenceError> {
        let answer = self.query(&Query::ImageList).await?;
        let all = match &answer {
            Answer::Document(doc) => match doc.value() {
                serde_json::Value::Array(all) => all,
                _ => return Err(unexpected(&Query::ImageList, &answer)),
            },
            other => return Err(unexpected(&Query::ImageList, other)),
        };
        Ok(serde_json::Value::Array(
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
        ))
    }

    /// Record an answer obtained outside the source (the probes of `--observe`), so that
    /// queries find it and snapshots keep it.
    pub fn seed(&self, q: Query, outcome: Outcome) {
        let cell = Arc::new(OnceCell::new());
        let _ = cell.set(outcome);
        let mut memo = self.memo.lock().unwrap_or_else(|p| p.into_inner());
        memo.insert(q, cell);
    }

    /// Every answer obtained so far, in a stable order (the content of a snapshot). Records
    /// read from inspects are left out: a snapshot keeps the documents they come from.
    pub fn recorded(&self) -> BTreeMap<Query, Outcome> {
        let memo = self.memo.lock().unwrap_or_else(|p| p.into_inner());
        memo.iter()
            .filter(|(q, _)| !matches!(q, Query::Container { .. }))
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
