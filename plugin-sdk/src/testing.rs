//! Native unit tests for checks: a [`TestHost`] answers evidence queries from a recorded
//! snapshot (`bulwark collect -o host.snap.json`) or from answers a test sets up, and runs
//! checks as the host would, without wasm or Docker.
//!
//! ```no_run
//! # fn __bulwark_checks() -> Vec<bulwark_sdk::Check> { vec![] }
//! use bulwark_sdk::testing::TestHost;
//! let mut host = TestHost::new();
//! host.container(&serde_json::json!({"Id": "0123456789ab", "Name": "/web",
//!     "State": {"Status": "running", "Running": true}, "HostConfig": {"Privileged": true}}));
//! let finding = host.run(&__bulwark_checks(), "5.5");
//! ```

use crate::bindings::bulwark::plugin::evidence as ev;
use crate::evidence::{Answer, Backend, Query};
use crate::runtime::{run_checks, Check, Ctx};
use crate::{Finding, QueryError};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::rc::Rc;

/// An answer as a snapshot records it (the host's answer type, tagged by kind).
#[derive(Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "kebab-case")]
enum Recorded {
    Document(Value),
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

impl From<Recorded> for Answer {
    fn from(r: Recorded) -> Answer {
        match r {
            Recorded::Document(v) => Answer::Document(v.to_string()),
            Recorded::Containers(v) => Answer::Containers(v),
            Recorded::File(v) => Answer::File(v),
            Recorded::Names(v) => Answer::Names(v),
            Recorded::Bytes(v) => Answer::Bytes(v),
            Recorded::Listeners(v) => Answer::Listeners(v),
            Recorded::Processes(v) => Answer::Processes(v),
            Recorded::Process(v) => Answer::Process(v),
            Recorded::AuditRules(v) => Answer::AuditRules(v),
            Recorded::Daemon(v) => Answer::Daemon(v),
            Recorded::Auditor(v) => Answer::Auditor(v),
            Recorded::Env(v) => Answer::Env(v),
            Recorded::Observed(v) => Answer::Observed(v),
            Recorded::SeccompFit(v) => Answer::SeccompFit(v),
            Recorded::Container(v) => Answer::Container(v),
        }
    }
}

/// A failed query as a snapshot records it.
#[derive(Deserialize)]
#[serde(tag = "error", content = "message", rename_all = "kebab-case")]
enum RecordedError {
    Unavailable(String),
    Denied(String),
    NotFound(String),
}

#[derive(Deserialize)]
struct Entry {
    query: Query,
    #[serde(default)]
    answer: Option<Recorded>,
    #[serde(default)]
    error: Option<RecordedError>,
}

#[derive(Deserialize)]
struct File {
    format: String,
    audit_start: u64,
    entries: Vec<Entry>,
}

type Answers = HashMap<Query, Result<Answer, QueryError>>;

/// Evidence for native tests of checks.
#[derive(Clone, Default)]
pub struct TestHost {
    answers: Answers,
    audit_start: u64,
    options: Vec<(String, String)>,
    all_containers: bool,
}

impl TestHost {
    /// A host that knows nothing: every query is unavailable until answered.
    pub fn new() -> Self {
        TestHost::default()
    }

    /// The evidence of a recorded snapshot (`bulwark collect -o FILE`), replayed as the host
    /// replays it.
    pub fn from_snapshot(json: &str) -> Result<Self, String> {
        let file: File =
            serde_json::from_str(json).map_err(|e| format!("not a Bulwark snapshot: {e}"))?;
        if file.format != "bulwark/evidence-snapshot" {
            return Err(format!("not a Bulwark snapshot: format {:?}", file.format));
        }
        let mut host = TestHost {
            audit_start: file.audit_start,
            ..TestHost::default()
        };
        for e in file.entries {
            let outcome = match (e.answer, e.error) {
                (Some(a), _) => Ok(a.into()),
                (None, Some(RecordedError::Unavailable(m))) => Err(QueryError::Unavailable(m)),
                (None, Some(RecordedError::Denied(m))) => Err(QueryError::Denied(m)),
                (None, Some(RecordedError::NotFound(m))) => Err(QueryError::NotFound(m)),
                (None, None) => return Err(format!("{}: neither answer nor error", e.query.key())),
            };
            host.answers.insert(e.query, outcome);
        }
        Ok(host)
    }

    /// Answer `q` with `a`.
    pub fn answer(&mut self, q: Query, a: Answer) -> &mut Self {
        self.answers.insert(q, Ok(a));
        self
    }

    /// Make `q` fail with `e`.
    pub fn fail(&mut self, q: Query, e: QueryError) -> &mut Self {
        self.answers.insert(q, Err(e));
        self
    }

    /// Answer `q` with a JSON document (a Docker Engine API object).
    pub fn document(&mut self, q: Query, doc: &Value) -> &mut Self {
        self.answer(q, Answer::Document(doc.to_string()))
    }

    /// Add a container from its inspect document (`docker inspect` output, one object): it
    /// joins the container list and answers its inspect query.
    pub fn container(&mut self, inspect: &Value) -> &mut Self {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let id = text(&inspect["Id"]);
        let mut labels: Vec<(String, String)> = inspect["Config"]["Labels"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), text(v))).collect())
            .unwrap_or_default();
        labels.sort();
        let summary = ev::ContainerSummary {
            id: id.clone(),
            name: text(&inspect["Name"]).trim_start_matches('/').to_string(),
            image: text(&inspect["Config"]["Image"]),
            state: text(&inspect["State"]["Status"]),
            labels,
        };
        let mut list = match self.answers.remove(&Query::ContainerList) {
            Some(Ok(Answer::Containers(l))) => l,
            _ => Vec::new(),
        };
        list.retain(|c| c.id != id);
        list.push(summary);
        self.answer(Query::ContainerList, Answer::Containers(list));
        self.document(Query::ContainerInspect { id }, inspect)
    }

    /// The processes of a container, as the host's /proc shows them.
    pub fn processes(&mut self, id: &str, procs: Vec<crate::ProcessInfo>) -> &mut Self {
        self.answer(
            Query::ContainerProcesses { id: id.into() },
            Answer::Processes(procs),
        )
    }

    /// An operator option (`trusted-users`, ...).
    pub fn option(&mut self, key: &str, value: &str) -> &mut Self {
        self.options.push((key.into(), value.into()));
        self
    }

    /// Judge created and stopped containers too (`--all-containers`).
    pub fn all_containers(&mut self) -> &mut Self {
        self.all_containers = true;
        self
    }

    /// Run check `id` of `checks` as the host would, in a fresh plugin run.
    pub fn run(&self, checks: &[Check], id: &str) -> Finding {
        self.run_traced(checks, id).0
    }

    /// [`TestHost::run`], with the provenance keys the check recorded.
    pub fn run_traced(&self, checks: &[Check], id: &str) -> (Finding, Vec<String>) {
        let ctx = crate::bindings::bulwark::plugin::types::RunContext {
            audit_start: self.audit_start,
            options: self.options.clone(),
        };
        let backend = Replay {
            answers: Rc::new(self.answers.clone()),
            all_containers: self.all_containers,
        };
        let mut ctx = Ctx::new(ctx, Box::new(backend));
        run_checks(checks, &mut ctx, &[id.to_string()])
            .pop()
            .unwrap_or_else(|| (Finding::undecided("no finding"), Vec::new()))
    }
}

/// The backend a [`TestHost`] gives a run: its answers, with the host's default selection.
struct Replay {
    answers: Rc<Answers>,
    all_containers: bool,
}

impl Backend for Replay {
    fn ask(&mut self, q: &Query) -> Result<Answer, QueryError> {
        // The host reads a container's record from its inspect document; here the
        // document itself answers, and `Ctx::inspect` parses it.
        let inspect;
        let q = match q {
            Query::Container { id } if !self.answers.contains_key(q) => {
                inspect = Query::ContainerInspect { id: id.clone() };
                &inspect
            }
            _ => q,
        };
        let got = self.answers.get(q).cloned().unwrap_or_else(|| {
            Err(QueryError::Unavailable(
                "not recorded in the snapshot".to_string(),
            ))
        });
        match got {
            // The host hands plugins the selected containers: running ones by default.
            Ok(Answer::Containers(all)) if !self.all_containers => Ok(Answer::Containers(
                all.into_iter().filter(|c| c.state == "running").collect(),
            )),
            other => other,
        }
    }
}
