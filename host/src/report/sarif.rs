//! SARIF 2.1.0 for code-scanning dashboards (GitHub code scanning among them).
//!
//! One rule per check, one result per subject (a WARN naming three containers is three
//! results, each with one location, as GitHub expects). Files get physical locations;
//! containers, images, the daemon and the host get logical ones. SARIF allows a level other
//! than `none` only on `fail` results, so verdicts map onto `kind` first: WARN is a `fail`
//! at `warning`, PASS `pass`, INFO `informational`, NOTE `review`, UNDECIDED `open`, SKIP
//! `notApplicable`. Plugin failures are tool execution notifications, not results.

use crate::findings::{EvidenceUse, Finding, Report, Status, Subject};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Serialize;
use serde_json::value::{to_raw_value, RawValue};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// GitHub code scanning accepts at most this many results per run.
pub const MAX_RESULTS: usize = 25_000;

const CIS_URI: &str = "https://www.cisecurity.org/benchmark/docker";

/// Characters kept as they are in a path turned into a URI.
const PATH_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn kind_level(s: Status) -> (&'static str, &'static str) {
    match s {
        Status::Warn => ("fail", "warning"),
        Status::Error => ("fail", "error"),
        Status::Pass => ("pass", "none"),
        Status::Info => ("informational", "none"),
        Status::Note => ("review", "none"),
        Status::Undecided => ("open", "none"),
        Status::Skipped => ("notApplicable", "none"),
    }
}

/// A rule's help: the check's documentation as text and as Markdown (GitHub shows the
/// Markdown), or its declared remediation and impact.
fn help(c: &crate::findings::CheckInfo) -> Value {
    let Some(d) = &c.doc else {
        let mut help = if c.remediation.is_empty() {
            c.title.clone()
        } else {
            format!("Remediation: {}", c.remediation)
        };
        if !c.remediation_impact.is_empty() {
            help.push_str(&format!("\nImpact: {}", c.remediation_impact));
        }
        return json!({"text": help});
    };
    let text = format!(
        "{}\n\nWhy it matters: {}\n\nHow Bulwark decides: {}\n\nRemediation: {}\n\nExample:\n{}\n\nImpact: {}",
        d.what,
        d.why,
        d.decides,
        d.remediation,
        d.example.trim_end(),
        d.impact
    );
    let md = super::markdown::escape;
    let markdown = format!(
        "{}\n\n**Why it matters.** {}\n\n**How Bulwark decides.** {}\n\n**Remediation.** {}\n\n{}\n\n**Impact.** {}",
        md(&d.what),
        md(&d.why),
        md(&d.decides),
        md(&d.remediation),
        super::markdown::code_block(&d.example),
        md(&d.impact)
    );
    json!({"text": text, "markdown": markdown})
}

fn rule(f: &Finding) -> Value {
    let c = &f.check;
    let full = match &c.doc {
        Some(d) => &d.what,
        None if c.description.is_empty() => &c.title,
        None => &c.description,
    };
    let mut tags = vec!["security".to_string()];
    tags.extend(c.tags.iter().cloned());
    let mut r = json!({
        "id": c.id,
        "name": format!("check-{}", c.id.replace('.', "-")),
        "shortDescription": {"text": c.title},
        "fullDescription": {"text": full},
        "help": help(c),
        "defaultConfiguration": {"level": "warning"},
        "properties": {
            "tags": tags,
            "section": c.section,
            "sectionTitle": c.section_title,
            "cisLevel": c.level,
            "automated": c.automated,
            "plugin": c.plugin,
            "implementation": c.implementation,
        },
    });
    if c.tags.iter().any(|t| t.starts_with("cis-")) {
        r["helpUri"] = json!(CIS_URI);
    }
    r
}

/// The location of one subject.
fn location(s: &Subject) -> Value {
    let logical = |kind: &str, name: &str| {
        json!({
            "physicalLocation": {"artifactLocation": {"uri": format!("{kind}/{}", utf8_percent_encode(name, PATH_KEEP))}},
            "logicalLocations": [{"name": name, "fullyQualifiedName": format!("{kind}/{name}"), "kind": "resource"}],
        })
    };
    match s {
        Subject::File { path } => json!({
            "physicalLocation": {"artifactLocation": {"uri": format!("file://{}", utf8_percent_encode(path, PATH_KEEP))}},
        }),
        Subject::Container { id, name } => {
            let mut l = logical("container", name);
            l["logicalLocations"][0]["properties"] = json!({"containerId": id});
            l
        }
        Subject::Image { name } => logical("image", name),
        Subject::Daemon => logical("docker", "daemon"),
        Subject::Host => logical("host", "host"),
        Subject::Plugin { name } => logical("plugin", name),
    }
}

fn result(f: &Finding, rule_index: usize, subject: &Subject) -> Value {
    let (kind, level) = kind_level(f.status);
    let name = subject.name();
    let mut text = format!("{}: ", f.check.title);
    match (f.detail_for(subject), &f.reason) {
        (Some(d), _) => text.push_str(d),
        (None, Some(r)) => text.push_str(r),
        (None, None) => text.push_str(&f.message),
    }
    let fingerprint = hex::encode(Sha256::digest(format!("{}\0{name}", f.check.id)));
    let mut r = json!({
        "ruleId": f.check.id,
        "ruleIndex": rule_index,
        "kind": kind,
        "level": level,
        "message": {"text": text},
        "locations": [location(subject)],
        "partialFingerprints": {"bulwarkFinding/v1": fingerprint},
        "properties": {"status": f.status.name(), "evidence": evidence_for(f, subject)},
    });
    if let Some(state) = baseline_state(f, subject) {
        r["baselineState"] = json!(state);
    }
    if let Some(s) = &f.suppression {
        r["suppressions"] = json!([{
            "kind": "external",
            "status": "accepted",
            "justification": if s.reason.is_empty() { format!("suppressed by {}", s.source) } else { s.reason.clone() },
        }]);
    }
    r
}

/// The evidence of one result: the finding's, less what it asked about its other
/// containers. A check over a thousand containers rests on a thousand inspects; each
/// container's result names its own and the shared ones (the list, the daemon's files),
/// so the log grows with the results, not with their square.
fn evidence_for<'a>(f: &'a Finding, subject: &Subject) -> Vec<&'a EvidenceUse> {
    let own = match subject {
        Subject::Container { id, .. } if f.subjects.len() > 1 => id.as_str(),
        _ => return f.evidence.iter().collect(),
    };
    f.evidence
        .iter()
        .filter(|e| match e.query.split_once(':') {
            Some((
                "container"
                | "container-inspect"
                | "container-processes"
                | "observed-profile"
                | "seccomp-fit",
                arg,
            )) => arg == own,
            _ => true,
        })
        .collect()
}

/// A result's SARIF baseline state against `audit --baseline`: new where the baseline did
/// not name this subject for this check, unchanged where it did with the same status,
/// updated where the status moved.
fn baseline_state(f: &Finding, subject: &Subject) -> Option<&'static str> {
    use crate::findings::BaselineState;
    Some(match (f.baseline?, &f.previous) {
        (BaselineState::New, _) | (_, None) => "new",
        (BaselineState::Unchanged, _) => "unchanged",
        (BaselineState::Updated, Some((status, subjects))) => {
            let named = matches!(subject, Subject::Host | Subject::Daemon)
                || subjects.contains(subject.name());
            match (named, *status == f.status) {
                (false, _) => "new",
                (true, true) => "unchanged",
                (true, false) => "updated",
            }
        }
    })
}

/// The baseline's failing results that are gone (`baselineState: absent`).
fn absent_results(report: &Report, rule_ids: &[&str]) -> Vec<Value> {
    let mut out = Vec::new();
    for a in report.baseline_absent.iter().flatten() {
        let Some(index) = rule_ids.iter().position(|id| *id == a.id) else {
            continue;
        };
        let names: Vec<&str> = if a.subjects.is_empty() {
            vec!["host"]
        } else {
            a.subjects.iter().map(String::as_str).collect()
        };
        for name in names {
            let fingerprint = hex::encode(Sha256::digest(format!("{}\0{name}", a.id)));
            out.push(json!({
                "ruleId": a.id,
                "ruleIndex": index,
                "kind": "pass",
                "level": "none",
                "message": {"text": format!("{}: no longer failing ({name})", a.title)},
                "baselineState": "absent",
                "partialFingerprints": {"bulwarkFinding/v1": fingerprint},
            }));
        }
    }
    out
}

/// The SARIF log as text. Each result is encoded as it is made (a few hundred bytes of
/// text instead of a tree several times larger): a run of thousands of results stays
/// within a few MiB beyond the text itself.
pub fn sarif(report: &Report) -> Result<String, serde_json::Error> {
    let mut rules: Vec<Value> = Vec::new();
    let mut rule_ids: Vec<&str> = Vec::new();
    let mut results: Vec<Box<RawValue>> = Vec::new();
    let mut notifications = Vec::new();
    let mut truncated = 0usize;
    for f in &report.findings {
        if f.status == Status::Error {
            notifications.push(json!({
                "level": "error",
                "message": {"text": f.message},
                "descriptor": {"id": f.check.id},
            }));
            continue;
        }
        let index = match rule_ids.iter().position(|id| *id == f.check.id) {
            Some(i) => i,
            None => {
                rule_ids.push(&f.check.id);
                rules.push(rule(f));
                rules.len() - 1
            }
        };
        let host = [Subject::Host];
        let subjects: &[Subject] = if f.subjects.is_empty() {
            &host
        } else {
            &f.subjects
        };
        for s in subjects {
            if results.len() >= MAX_RESULTS {
                truncated += 1;
                continue;
            }
            results.push(to_raw_value(&result(f, index, s))?);
        }
    }
    for r in absent_results(report, &rule_ids) {
        if results.len() >= MAX_RESULTS {
            truncated += 1;
            continue;
        }
        results.push(to_raw_value(&r)?);
    }
    if truncated > 0 {
        notifications.push(json!({
            "level": "warning",
            "message": {"text": format!("{truncated} results left out: SARIF consumers accept at most {MAX_RESULTS} per run (see the JSON report for all)")},
        }));
    }
    encode(report, rules, invocation(report, notifications), results)
}

/// The run's one invocation: whether every plugin ran, what went wrong, when it started.
fn invocation(report: &Report, notifications: Vec<Value>) -> Value {
    let mut invocation = json!({
        "executionSuccessful": !report.findings.iter().any(|f| f.status == Status::Error),
        "toolExecutionNotifications": notifications,
    });
    if let Some(s) = chrono::DateTime::from_timestamp(report.audit_start as i64, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    {
        invocation["startTimeUtc"] = json!(s);
    }
    invocation
}

/// The log's frame around results already encoded.
#[derive(Serialize)]
struct Log {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: [Run; 1],
}

#[derive(Serialize)]
struct Run {
    tool: Value,
    invocations: [Value; 1],
    results: Vec<Box<RawValue>>,
    properties: Value,
}

fn encode(
    report: &Report,
    rules: Vec<Value>,
    invocation: Value,
    results: Vec<Box<RawValue>>,
) -> Result<String, serde_json::Error> {
    let log = Log {
        schema: "https://json.schemastore.org/sarif-2.1.0.json",
        version: "2.1.0",
        runs: [Run {
            tool: json!({"driver": {
                "name": "Bulwark",
                "semanticVersion": report.version,
                "rules": rules,
            }}),
            invocations: [invocation],
            results,
            properties: json!({
                "evidence": report.evidence,
                "abi": report.abi,
                "benchmark": report.benchmark.id,
                "benchmarkTitle": report.benchmark.title,
                "engine": report.engine,
            }),
        }],
    };
    serde_json::to_string_pretty(&log)
}
