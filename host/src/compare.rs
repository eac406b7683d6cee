//! Comparing audits: two reports (Bulwark's JSON, or Docker Bench's JSON log) reduced to
//! what each check concluded about which subjects, then compared check by check and
//! subject by subject — fixed, new, still failing, changed — with the verdict counts before
//! and after. `bulwark diff` shows it; `audit --baseline` marks each finding with it.
//!
//! Checks are matched by implementation (the id the plugin declares), so reports under
//! different benchmark versions compare, and the result says so. Docker Bench's ids are
//! CIS 1.6.0's, which are the built-in implementations' ids.

use crate::findings::{Severity, Status};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Why a report cannot be compared.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("cannot read {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not JSON")]
    Json {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "{path} is neither a Bulwark JSON report (bulwark/findings/v1) nor a Docker Bench JSON log"
    )]
    Unknown { path: String },
}

/// Where a report came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    Bulwark,
    DockerBench,
}

/// What one check concluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// The id the report shows.
    pub id: String,
    pub title: String,
    pub status: Status,
    /// The subjects it names (offenders of a WARN).
    pub subjects: BTreeSet<String>,
    /// Suppressed by the operator in that run.
    pub suppressed: bool,
}

/// A report reduced to its outcomes, by implementation id.
#[derive(Debug, Clone, Serialize)]
pub struct Audit {
    pub origin: Origin,
    /// The benchmark version (`cis-1.6.0`); Docker Bench logs are 1.6.0.
    pub benchmark: String,
    pub start: Option<u64>,
    pub outcomes: BTreeMap<String, Outcome>,
}

fn status_named(s: &str) -> Option<Status> {
    Some(match s.to_ascii_lowercase().as_str() {
        "pass" => Status::Pass,
        "warn" => Status::Warn,
        "info" => Status::Info,
        "note" => Status::Note,
        "undecided" => Status::Undecided,
        "skipped" | "skip" => Status::Skipped,
        "error" => Status::Error,
        _ => return None,
    })
}

fn text(v: &serde_json::Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

impl Audit {
    /// Read a report file of either kind.
    pub fn read(path: &Path) -> Result<Audit, CompareError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| CompareError::Read {
            path: shown.clone(),
            source,
        })?;
        let v: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|source| CompareError::Json {
                path: shown.clone(),
                source,
            })?;
        Audit::from_json(&v).ok_or(CompareError::Unknown { path: shown })
    }

    /// A report's JSON of either kind; `None` when it is neither.
    pub fn from_json(v: &serde_json::Value) -> Option<Audit> {
        if v["schema"] == crate::findings::SCHEMA {
            Some(Audit::from_bulwark(v))
        } else if v.get("dockerbenchsecurity").is_some() && v["tests"].is_array() {
            Some(Audit::from_docker_bench(v))
        } else {
            None
        }
    }

    fn from_bulwark(v: &serde_json::Value) -> Audit {
        let mut outcomes = BTreeMap::new();
        for f in v["findings"].as_array().into_iter().flatten() {
            let Some(status) = status_named(&text(&f["status"])) else {
                continue;
            };
            let c = &f["check"];
            let subjects = f["subjects"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(subject_name)
                .collect();
            let key = match text(&c["implementation"]) {
                k if k.is_empty() => text(&c["id"]),
                k => k,
            };
            outcomes.insert(
                key,
                Outcome {
                    id: text(&c["id"]),
                    title: text(&c["title"]),
                    status,
                    subjects,
                    suppressed: f.get("suppression").is_some_and(|s| !s.is_null()),
                },
            );
        }
        Audit {
            origin: Origin::Bulwark,
            benchmark: text(&v["benchmark"]["id"]),
            start: v["audit_start"].as_u64(),
            outcomes,
        }
    }

    fn from_docker_bench(v: &serde_json::Value) -> Audit {
        let mut outcomes = BTreeMap::new();
        for t in v["tests"].as_array().into_iter().flatten() {
            for r in t["results"].as_array().into_iter().flatten() {
                // Bulwark's own logs keep the exact status beside Docker Bench's result.
                let status = status_named(&text(&r["status"]))
                    .or_else(|| status_named(&text(&r["result"])))
                    .unwrap_or(Status::Info);
                let subjects = r["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(text)
                    .filter(|s| !s.is_empty())
                    .collect();
                let id = text(&r["id"]);
                outcomes.insert(
                    id.clone(),
                    Outcome {
                        id,
                        title: text(&r["desc"]),
                        status,
                        subjects,
                        suppressed: false,
                    },
                );
            }
        }
        Audit {
            origin: Origin::DockerBench,
            benchmark: "cis-1.6.0".to_string(),
            start: v["start"].as_u64(),
            outcomes,
        }
    }

    /// Outcomes by status.
    pub fn counts(&self) -> BTreeMap<Status, usize> {
        let mut out = BTreeMap::new();
        for o in self.outcomes.values() {
            *out.entry(o.status).or_default() += 1;
        }
        out
    }
}

/// A subject's name in a Bulwark report as Docker Bench names its items: a container or
/// image name, a file path; nothing for the host or the daemon (Docker Bench lists no
/// items for those).
fn subject_name(s: &serde_json::Value) -> Option<String> {
    let name = match text(&s["kind"]).as_str() {
        "file" => text(&s["path"]),
        "host" | "daemon" => return None,
        _ => text(&s["name"]),
    };
    (!name.is_empty()).then_some(name)
}

/// How a check's outcome moved between two audits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// Failing before, not now (or gone).
    Fixed,
    /// Failing now, not before (or not there).
    New,
    /// Failing both times, on other subjects or with another status.
    Changed,
    /// Failing both times, the same.
    StillFailing,
    /// Not failing either time, but its status moved (e.g. UNDECIDED to PASS).
    Moved,
}

/// One check in a comparison.
#[derive(Debug, Clone, Serialize)]
pub struct CheckChange {
    pub implementation: String,
    pub change: Change,
    pub old: Option<Outcome>,
    pub new: Option<Outcome>,
    /// Subjects named now and not before.
    pub added: Vec<String>,
    /// Subjects named before and not now.
    pub removed: Vec<String>,
}

/// Two audits compared.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub old: AuditSide,
    pub new: AuditSide,
    /// The two audits use different benchmark versions: checks were matched by
    /// implementation.
    pub by_implementation: bool,
    pub changes: Vec<CheckChange>,
}

/// One side of a comparison, without its outcomes.
#[derive(Debug, Clone, Serialize)]
pub struct AuditSide {
    pub origin: Origin,
    pub benchmark: String,
    pub start: Option<u64>,
    pub counts: BTreeMap<Status, usize>,
}

impl AuditSide {
    fn of(a: &Audit) -> AuditSide {
        AuditSide {
            origin: a.origin.clone(),
            benchmark: a.benchmark.clone(),
            start: a.start,
            counts: a.counts(),
        }
    }
}

/// Whether an outcome counts as failing: a WARN the operator did not accept.
fn failing(o: Option<&Outcome>) -> bool {
    o.is_some_and(|o| o.status == Status::Warn && !o.suppressed)
}

/// Compare `old` with `new`, check by check.
pub fn compare(old: &Audit, new: &Audit) -> Comparison {
    let keys: BTreeSet<&String> = old.outcomes.keys().chain(new.outcomes.keys()).collect();
    let mut changes = Vec::new();
    for k in keys {
        let (o, n) = (old.outcomes.get(k), new.outcomes.get(k));
        let empty = BTreeSet::new();
        let os = o.map_or(&empty, |o| &o.subjects);
        let ns = n.map_or(&empty, |n| &n.subjects);
        let added: Vec<String> = ns.difference(os).cloned().collect();
        let removed: Vec<String> = os.difference(ns).cloned().collect();
        let change = match (failing(o), failing(n)) {
            (true, false) => Change::Fixed,
            (false, true) => Change::New,
            (true, true) if added.is_empty() && removed.is_empty() => Change::StillFailing,
            (true, true) => Change::Changed,
            (false, false)
                if o.map(|o| o.status) != n.map(|n| n.status) && o.is_some() && n.is_some() =>
            {
                Change::Moved
            }
            (false, false) => continue,
        };
        changes.push(CheckChange {
            implementation: k.clone(),
            change,
            old: o.cloned(),
            new: n.cloned(),
            added,
            removed,
        });
    }
    changes.sort_by_key(|c| c.change);
    Comparison {
        old: AuditSide::of(old),
        new: AuditSide::of(new),
        by_implementation: old.benchmark != new.benchmark,
        changes,
    }
}

impl Comparison {
    /// Findings of NEW at or above `level` that OLD did not have: new failing checks, and
    /// new subjects of checks failing both times. Non-WARN statuses count when new.
    pub fn new_at_or_above(&self, level: Severity) -> usize {
        self.changes
            .iter()
            .filter(|c| {
                let sev = c.new.as_ref().and_then(|n| n.status.severity());
                let at = sev.is_some_and(|s| s >= level);
                match c.change {
                    Change::New => at,
                    Change::Changed => at && !c.added.is_empty(),
                    Change::Moved => at && !c.new.as_ref().is_some_and(|n| n.suppressed),
                    _ => false,
                }
            })
            .count()
    }
}

/// Mark every finding of `report` against the baseline `old` (see [`BaselineState`]), and
/// list the checks that failed in `old` and no longer do.
pub fn mark_baseline(report: &mut crate::findings::Report, old: &Audit) {
    use crate::findings::{AbsentFinding, BaselineState, Subject};
    let mut now_failing = BTreeSet::new();
    for f in &mut report.findings {
        let subjects: BTreeSet<String> = f
            .subjects
            .iter()
            .filter(|s| !matches!(s, Subject::Host | Subject::Daemon))
            .map(|s| s.name().to_string())
            .collect();
        if f.status == Status::Warn {
            now_failing.insert(f.check.implementation.clone());
        }
        let prev = old.outcomes.get(&f.check.implementation);
        // A finding that counts (WARN, UNDECIDED, ...) where the baseline passed is new.
        let counts = |s: Status| s.severity().is_some();
        f.baseline = Some(match prev {
            None => BaselineState::New,
            Some(o) if o.status == f.status && o.subjects == subjects => BaselineState::Unchanged,
            Some(o) if counts(f.status) && !counts(o.status) => BaselineState::New,
            Some(_) => BaselineState::Updated,
        });
        f.previous = prev.map(|o| (o.status, o.subjects.clone()));
    }
    report.baseline_absent = Some(
        old.outcomes
            .iter()
            .filter(|(k, o)| o.status == Status::Warn && !now_failing.contains(*k))
            .map(|(k, o)| AbsentFinding {
                id: o.id.clone(),
                implementation: k.clone(),
                title: o.title.clone(),
                status: o.status,
                subjects: o.subjects.iter().cloned().collect(),
            })
            .collect(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bulwark(findings: serde_json::Value) -> Audit {
        Audit::from_json(
            &json!({"schema": "bulwark/findings/v1", "benchmark": {"id": "cis-1.6.0"},
            "audit_start": 1, "findings": findings}),
        )
        .unwrap()
    }

    fn f(id: &str, status: &str, subjects: &[&str]) -> serde_json::Value {
        let subjects: Vec<serde_json::Value> = subjects
            .iter()
            .map(|s| json!({"kind": "container", "id": s, "name": s}))
            .collect();
        json!({"check": {"id": id, "implementation": id, "title": format!("t{id}")},
            "status": status, "subjects": subjects})
    }

    #[test]
    fn checks_and_subjects_are_compared() {
        let old = bulwark(json!([
            f("2.2", "warn", &[]),
            f("5.11", "warn", &["db", "web"]),
            f("5.4", "pass", &[]),
            f("7.1", "undecided", &[]),
            f("5.9", "warn", &["a"]),
        ]));
        let new = bulwark(json!([
            f("2.2", "pass", &[]),
            f("5.11", "warn", &["web", "web-3"]),
            f("5.4", "warn", &["sysadmin"]),
            f("7.1", "pass", &[]),
            f("5.9", "warn", &["a"]),
        ]));
        let c = compare(&old, &new);
        let by = |id: &str| c.changes.iter().find(|c| c.implementation == id).unwrap();
        assert_eq!(by("2.2").change, Change::Fixed);
        assert_eq!(by("5.4").change, Change::New);
        assert_eq!(by("5.11").change, Change::Changed);
        assert_eq!(by("5.11").added, vec!["web-3"]);
        assert_eq!(by("5.11").removed, vec!["db"]);
        assert_eq!(by("5.9").change, Change::StillFailing);
        assert_eq!(by("7.1").change, Change::Moved);
        assert_eq!(c.new_at_or_above(Severity::Warn), 2);
        assert!(!c.by_implementation);
        assert_eq!(compare(&new, &new).new_at_or_above(Severity::Info), 0);
    }

    #[test]
    fn docker_bench_logs_are_read() {
        let dbs = Audit::from_json(
            &json!({"dockerbenchsecurity": "1.6.0", "start": 5, "tests": [
            {"id": "5", "desc": "Container Runtime", "results": [
                {"id": "5.4", "desc": "Ensure ...", "result": "WARN", "items": ["sysadmin"]},
                {"id": "5.5", "desc": "Ensure ...", "result": "PASS"}]}]}),
        )
        .unwrap();
        assert_eq!(dbs.origin, Origin::DockerBench);
        assert_eq!(dbs.outcomes["5.4"].status, Status::Warn);
        assert_eq!(dbs.outcomes["5.5"].status, Status::Pass);
        assert!(Audit::from_json(&json!({"x": 1})).is_none());
    }
}
