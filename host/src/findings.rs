//! The findings model: what an audit concluded, check by check, and how one run went.
//! The audit produces a [`Report`]; the operator's suppressions mark it; the reporters
//! render it. All three depend on this room and nothing here depends on them.

use crate::abi::types;
use crate::profile::Shown;
use crate::runtime::{Origin, RunCost};
use chrono::NaiveDate;
use serde::Serialize;

/// The versioned schema of Bulwark's own JSON report (`host/schema/findings-v1.json`).
pub const SCHEMA: &str = "bulwark/findings/v1";

/// A verdict status, as reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Info,
    Note,
    Undecided,
    Skipped,
    Error,
}

impl Status {
    /// Every status, best first.
    pub const ALL: [Status; 7] = [
        Status::Pass,
        Status::Warn,
        Status::Info,
        Status::Note,
        Status::Undecided,
        Status::Skipped,
        Status::Error,
    ];

    /// The lower-case name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Info => "info",
            Status::Note => "note",
            Status::Undecided => "undecided",
            Status::Skipped => "skipped",
            Status::Error => "error",
        }
    }

    pub fn tag(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Info => "INFO",
            Status::Note => "NOTE",
            Status::Undecided => "UNDECIDED",
            Status::Skipped => "SKIP",
            Status::Error => "ERROR",
        }
    }
}

impl From<types::Status> for Status {
    fn from(s: types::Status) -> Self {
        match s {
            types::Status::Pass => Status::Pass,
            types::Status::Warn => Status::Warn,
            types::Status::Info => Status::Info,
            types::Status::Note => Status::Note,
            types::Status::Undecided => Status::Undecided,
            types::Status::Skipped => Status::Skipped,
            types::Status::Error => Status::Error,
        }
    }
}

/// How bad a status is, for thresholds such as `--fail-on` (ordered: worst last).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// INFO and NOTE.
    Info,
    Undecided,
    Warn,
    /// Plugin errors.
    Error,
}

impl Status {
    /// The severity a status counts as; `None` for PASS and SKIP, which never fail a run.
    pub fn severity(self) -> Option<Severity> {
        match self {
            Status::Pass | Status::Skipped => None,
            Status::Info | Status::Note => Some(Severity::Info),
            Status::Undecided => Some(Severity::Undecided),
            Status::Warn => Some(Severity::Warn),
            Status::Error => Some(Severity::Error),
        }
    }
}

impl Report {
    /// Unsuppressed findings at or above `threshold`; against a baseline, only those that
    /// are new or updated.
    pub fn failing(&self, threshold: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.suppression.is_none())
            .filter(|f| f.baseline != Some(BaselineState::Unchanged))
            .filter(|f| f.status.severity().is_some_and(|s| s >= threshold))
            .count()
    }
}

/// What a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Subject {
    Host,
    Daemon,
    Container { id: String, name: String },
    Image { name: String },
    File { path: String },
    Plugin { name: String },
}

impl Subject {
    /// The subject's name: a container or image name, a file path, "host", "daemon".
    pub fn name(&self) -> &str {
        match self {
            Subject::Container { name, .. }
            | Subject::Image { name }
            | Subject::Plugin { name } => name,
            Subject::File { path } => path,
            Subject::Host => "host",
            Subject::Daemon => "daemon",
        }
    }
}

impl From<types::Subject> for Subject {
    fn from(s: types::Subject) -> Self {
        match s {
            types::Subject::Host => Subject::Host,
            types::Subject::Daemon => Subject::Daemon,
            types::Subject::Container(c) => Subject::Container {
                id: c.id,
                name: c.name,
            },
            types::Subject::Image(name) => Subject::Image { name },
            types::Subject::File(path) => Subject::File { path },
        }
    }
}

/// Static description of a check as the selected benchmark shows it, with the plugin
/// that provides it.
#[derive(Debug, Clone, Serialize)]
pub struct CheckInfo {
    /// The id in the selected benchmark.
    pub id: String,
    /// The id the plugin declares (CIS 1.6.0 numbering for the built-in pack).
    pub implementation: String,
    pub title: String,
    pub section: String,
    pub section_title: String,
    pub level: u8,
    pub scored: bool,
    pub automated: bool,
    pub description: String,
    pub remediation: String,
    pub remediation_impact: String,
    pub tags: Vec<String>,
    pub plugin: String,
    /// What the check verifies, why it matters, how it decides, and how to fix it, as its
    /// plugin documents it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doc: Option<CheckDoc>,
}

pub use bulwark_build::CheckDoc;

impl CheckInfo {
    pub fn new(m: &types::CheckMeta, shown: Shown, plugin: &str, doc: Option<&CheckDoc>) -> Self {
        CheckInfo {
            id: shown.id,
            implementation: m.id.clone(),
            title: shown.title,
            section: m.section.clone(),
            section_title: m.section_title.clone(),
            level: shown.level,
            scored: shown.scored,
            automated: shown.automated,
            description: m.description.clone(),
            remediation: m.remediation.clone(),
            remediation_impact: m.remediation_impact.clone(),
            tags: m.tags.clone(),
            plugin: plugin.to_string(),
            doc: doc.cloned(),
        }
    }

    /// The remediation to show: the documented one with its example, else the plugin's
    /// one-line remediation.
    pub fn remediation_text(&self) -> String {
        match &self.doc {
            Some(d) => format!("{}\nExample:\n{}", d.remediation, d.example.trim_end()),
            None => self.remediation.clone(),
        }
    }

    /// The impact of the remediation: documented, else declared.
    pub fn impact_text(&self) -> &str {
        match &self.doc {
            Some(d) => &d.impact,
            None => &self.remediation_impact,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub check: CheckInfo,
    pub status: Status,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub subjects: Vec<Subject>,
    pub details: Vec<String>,
    /// Provenance: the evidence queries the verdict rests on and how each went.
    pub evidence: Vec<EvidenceUse>,
    /// Set when an operator's suppression accepts this finding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppression: Option<Suppression>,
    /// How it compares with the baseline report (`audit --baseline`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineState>,
    /// The baseline's status and subjects for this check (for per-subject states).
    #[serde(skip)]
    pub previous: Option<(Status, std::collections::BTreeSet<String>)>,
}

/// How a finding compares with a baseline report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BaselineState {
    /// The baseline has no finding of this check, or it passed (or did not apply) there.
    New,
    /// The same status and subjects as in the baseline.
    Unchanged,
    /// Another status, or other subjects, than in the baseline.
    Updated,
}

/// A check that failed in the baseline and no longer does.
#[derive(Debug, Clone, Serialize)]
pub struct AbsentFinding {
    pub id: String,
    pub implementation: String,
    pub title: String,
    /// Its status in the baseline.
    pub status: Status,
    pub subjects: Vec<String>,
}

/// One evidence query behind a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvidenceUse {
    pub query: String,
    /// "ok", or why the query failed ("denied: ...", "not found: ...").
    pub outcome: String,
}

impl Finding {
    /// The detail line a check wrote about one of its subjects ("name: why"), if any.
    pub fn detail_for(&self, s: &Subject) -> Option<&str> {
        let name = s.name();
        self.details
            .iter()
            .find(|d| d.strip_prefix(name).is_some_and(|r| r.starts_with(':')))
            .map(String::as_str)
    }
}

/// How one plugin fared.
#[derive(Debug, Clone, Serialize)]
pub struct PluginReport {
    pub name: String,
    pub origin: Origin,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub digest: String,
    pub checks: usize,
    /// Its manifest's version, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The evidence scopes its runs had ("all" for built-ins).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grants: Option<String>,
    /// Scopes its manifest asked for that the operator did not grant.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<RunCost>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub tool: &'static str,
    pub version: &'static str,
    pub abi: &'static str,
    /// "live" or "snapshot".
    pub evidence: &'static str,
    pub audit_start: u64,
    pub duration_ms: f64,
    pub evidence_queries: u64,
    /// Of those, the distinct ones the host could not answer (daemon or file errors).
    pub evidence_errors: u64,
    /// The benchmark whose ids and titles the findings carry.
    pub benchmark: Benchmark,
    pub plugins: Vec<PluginReport>,
    pub findings: Vec<Finding>,
    /// Suppressions past their expiry date, which no longer apply.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expired_suppressions: Vec<Suppression>,
    /// With `--baseline`: the checks that failed in the baseline and no longer do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_absent: Option<Vec<AbsentFinding>>,
    /// The engine audited and how it was reached, when its daemon answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<Engine>,
}

/// The container engine an audit judged, as its daemon describes itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Engine {
    /// "Docker Engine" or "Podman".
    pub name: String,
    pub version: String,
    pub api_version: String,
    /// Runs as an unprivileged user (`name=rootless` among its security options).
    pub rootless: bool,
    /// The endpoint, and how it was chosen (`-H`, `DOCKER_HOST`, `context NAME`, the
    /// default socket); for a replay, the snapshot's.
    pub endpoint: String,
    pub via: String,
    /// On another machine: the host's own evidence was not used.
    pub remote: bool,
}

impl Engine {
    /// "Docker Engine 20.10.24 (API 1.41, rootless) at unix:///… (the default socket)".
    pub fn describe(&self) -> String {
        let mode = if self.rootless { "rootless" } else { "root" };
        let remote = if self.remote { ", remote" } else { "" };
        format!(
            "{} {} (API {}, {mode}{remote}) at {} ({})",
            self.name, self.version, self.api_version, self.endpoint, self.via
        )
    }
}

impl Report {
    /// Findings by status (suppressed ones under "suppressed", not their status).
    pub fn summary(&self) -> std::collections::BTreeMap<&'static str, usize> {
        let mut m = std::collections::BTreeMap::new();
        for f in &self.findings {
            let key = if f.suppression.is_some() {
                "suppressed"
            } else {
                f.status.name()
            };
            *m.entry(key).or_insert(0) += 1;
        }
        m
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Benchmark {
    pub id: String,
    pub title: String,
}

/// Sort key for check ids: numeric parts as numbers ("1.1.10" after "1.1.9"), and ids
/// that do not start with a number (C.1, EX.1) after the numbered sections.
pub fn id_key(id: &str) -> Vec<(u8, u64, String)> {
    id.split('.')
        .map(|p| match p.parse::<u64>() {
            Ok(n) => (0, n, String::new()),
            Err(_) => (1, 0, p.to_string()),
        })
        .collect()
}

/// A finding an operator has accepted (parsed and applied by the `suppress` room).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suppression {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<NaiveDate>,
    pub reason: String,
    /// Where it was written: `FILE:LINE` or `--ignore`.
    pub source: String,
    #[serde(skip)]
    pub(crate) pattern: Option<glob::Pattern>,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A plain WARN finding for check `id`, for unit tests of what consumes findings.
    pub(crate) fn finding(id: &str) -> Finding {
        Finding {
            check: CheckInfo {
                id: id.to_string(),
                implementation: id.to_string(),
                title: format!("check {id}"),
                section: id.split('.').next().unwrap_or(id).to_string(),
                section_title: "Section".to_string(),
                level: 1,
                scored: true,
                automated: true,
                description: String::new(),
                remediation: String::new(),
                remediation_impact: String::new(),
                tags: vec![],
                plugin: "test".to_string(),
                doc: None,
            },
            status: Status::Warn,
            message: String::new(),
            reason: None,
            subjects: vec![],
            details: vec![],
            evidence: vec![],
            suppression: None,
            baseline: None,
            previous: None,
        }
    }

    #[test]
    fn ids_sort_naturally() {
        let mut ids = vec!["5.10", "C.1", "1.1.10", "5.2", "1.1.9", "10.1", "4.1"];
        ids.sort_by_key(|i| id_key(i));
        assert_eq!(
            ids,
            vec!["1.1.9", "1.1.10", "4.1", "5.2", "5.10", "10.1", "C.1"]
        );
    }
}
