//! OCSF 1.8.0 records, one JSON object per line, for SIEMs and security lakes: audit
//! findings as Compliance Findings (class 2003), `watch` alerts as Detection Findings
//! (class 2004). Validated in the tests against `tests/schemas/ocsf-1.8.0-findings.schema.json`.
//!
//! Statuses: OCSF's compliance "Warning" means "no result for want of information", which
//! is Bulwark's UNDECIDED; Docker Bench's WARN is a failed control, OCSF's "Fail". Every
//! check gives a record (PASS ones too, as "Resolved"), so a lake sees the whole audit.

use crate::findings::{BaselineState, Finding, Report, Status, Subject};
use crate::watch::format::AlertRecord;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// The OCSF schema version the records follow.
pub const OCSF_VERSION: &str = "1.8.0";

/// Compliance Findings, one line per finding.
pub fn audit(report: &Report) -> Result<String, serde_json::Error> {
    // A replayed snapshot was recorded elsewhere: no device is claimed for it.
    let host = match report.evidence {
        "live" => hostname(),
        _ => None,
    };
    let mut out = String::new();
    for f in &report.findings {
        out.push_str(&serde_json::to_string(&compliance_finding(
            report,
            f,
            host.as_deref(),
        ))?);
        out.push('\n');
    }
    Ok(out)
}

/// A Detection Finding for one `watch` alert.
pub fn alert(a: &AlertRecord) -> Value {
    let host = hostname();
    let time = (a.time * 1000.0).round() as i64;
    let (severity_id, severity) = rule_severity(&a.rule.severity);
    let uid = digest(&[
        "bulwark/watch",
        host.as_deref().unwrap_or(""),
        &a.rule.id,
        &a.container.id,
        &a.process.pid.to_string(),
        &time.to_string(),
    ]);
    let (evidence, resources) = alert_evidence(a);
    let mut observables = alert_observables(a);
    let mut m = base(2004, "Detection Finding", 1, "Create", "watch");
    m.insert("severity_id".into(), json!(severity_id));
    m.insert("severity".into(), json!(severity));
    m.insert("status_id".into(), json!(1));
    m.insert("status".into(), json!("New"));
    m.insert("is_alert".into(), json!(true));
    m.insert("message".into(), json!(a.message));
    m.insert("time".into(), json!(time));
    m["metadata"]["uid"] = json!(uid);
    m.insert(
        "finding_info".into(),
        json!({
            "uid": uid,
            "title": a.rule.title,
            "created_time": time,
            "analytic": {"uid": a.rule.id, "name": a.rule.title, "type_id": 1, "type": "Rule"},
            "data_sources": ["eBPF"],
        }),
    );
    if !resources.is_empty() {
        m.insert("resources".into(), Value::Array(resources));
    }
    m.insert("evidences".into(), json!([evidence]));
    device(&mut m, host.as_deref(), &mut observables);
    m.insert("observables".into(), Value::Array(observables));
    m.insert(
        "unmapped".into(),
        json!({"plugin": a.rule.plugin, "rule_severity": a.rule.severity}),
    );
    Value::Object(m)
}

/// The alert's process and container as OCSF evidence, and its resources.
fn alert_evidence(a: &AlertRecord) -> (Value, Vec<Value>) {
    let mut process = json!({
        "pid": a.process.pid,
        "name": a.process.comm,
        "user": {"uid": a.process.uid.to_string()},
    });
    if !a.process.exe.is_empty() {
        let name = a.process.exe.rsplit('/').next().unwrap_or(&a.process.exe);
        process["file"] = json!({
            "name": name, "path": a.process.exe, "type_id": 1, "type": "Regular File",
        });
    }
    if !a.event.argv.is_empty() {
        process["cmd_line"] = json!(a.event.argv.join(" "));
    }
    let mut evidence = json!({
        "process": process,
        "data": serde_json::to_value(&a.event).unwrap_or(Value::Null),
    });
    let mut resources = Vec::new();
    if !a.container.id.is_empty() {
        evidence["container"] = json!({"uid": a.container.id, "name": a.container.name});
        resources
            .push(json!({"uid": a.container.id, "name": a.container.name, "type": "container"}));
    }
    if !a.container.image.is_empty() {
        resources.push(json!({"name": a.container.image, "type": "image"}));
    }
    (evidence, resources)
}

fn alert_observables(a: &AlertRecord) -> Vec<Value> {
    let pid = a.process.pid.to_string();
    let mut observables = vec![
        observable("evidences.process.name", 9, "Process Name", &a.process.comm),
        observable("evidences.process.pid", 15, "Process ID", &pid),
    ];
    if !a.container.id.is_empty() {
        let id = &a.container.id;
        observables.push(observable("resources.uid", 10, "Resource UID", id));
    }
    if !a.process.exe.is_empty() {
        let exe = &a.process.exe;
        observables.push(observable(
            "evidences.process.file.path",
            45,
            "File Path",
            exe,
        ));
    }
    observables
}

fn compliance_finding(report: &Report, f: &Finding, host: Option<&str>) -> Value {
    let time = i64::try_from(report.audit_start)
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000);
    let (severity_id, severity) = status_severity(f.status);
    let (status_id, status) = match (&f.suppression, f.status) {
        (Some(_), _) => (3, "Suppressed"),
        (None, Status::Pass | Status::Skipped) => (4, "Resolved"),
        (None, _) => (1, "New"),
    };
    let (activity_id, activity) = match f.baseline {
        Some(BaselineState::Updated | BaselineState::Unchanged) => (2, "Update"),
        _ => (1, "Create"),
    };
    let c = &f.check;
    let uid = digest(&[
        "bulwark/audit",
        host.unwrap_or(""),
        &c.plugin,
        &c.implementation,
    ]);
    let comp = compliance(report, f);
    let mut finding_info = json!({"uid": uid, "title": c.title, "created_time": time});
    if !c.description.is_empty() {
        finding_info["desc"] = json!(c.description);
    }
    let (resources, mut observables) = subjects(report, f, host);
    let mut m = base(2003, "Compliance Finding", activity_id, activity, "audit");
    m.insert("severity_id".into(), json!(severity_id));
    m.insert("severity".into(), json!(severity));
    m.insert("status_id".into(), json!(status_id));
    m.insert("status".into(), json!(status));
    m.insert("status_code".into(), json!(f.status.tag()));
    if let Some(why) = &f.reason {
        m.insert("status_detail".into(), json!(why));
    }
    if let Some(s) = &f.suppression {
        m.insert("comment".into(), json!(s.reason));
    }
    m.insert("message".into(), json!(f.message));
    m.insert("time".into(), json!(time));
    m["metadata"]["uid"] = json!(digest(&[&uid, &report.audit_start.to_string()]));
    m["metadata"]["correlation_uid"] = json!(digest(&[
        host.unwrap_or(""),
        &report.audit_start.to_string()
    ]));
    m.insert("finding_info".into(), finding_info);
    m.insert("compliance".into(), comp);
    if !resources.is_empty() {
        m.insert("resources".into(), Value::Array(resources));
    }
    let evidences: Vec<Value> = f
        .evidence
        .iter()
        .map(|e| json!({"name": e.query, "data": {"query": e.query, "outcome": e.outcome}}))
        .collect();
    if !evidences.is_empty() {
        m.insert("evidences".into(), Value::Array(evidences));
    }
    let remediation = c.remediation_text();
    if !remediation.is_empty() {
        let mut rem = json!({"desc": remediation});
        if report.benchmark.id.starts_with("cis-") {
            rem["references"] = json!(["https://www.cisecurity.org/benchmark/docker"]);
        }
        m.insert("remediation".into(), rem);
    }
    device(&mut m, host, &mut observables);
    let mut seen = std::collections::HashSet::new();
    observables.retain(|o| seen.insert(o.to_string()));
    if !observables.is_empty() {
        m.insert("observables".into(), Value::Array(observables));
    }
    m.insert("unmapped".into(), unmapped(report, f));
    Value::Object(m)
}

/// The `compliance` object: the benchmark, the control and its result.
fn compliance(report: &Report, f: &Finding) -> Value {
    let c = &f.check;
    let (compliance_id, compliance) = compliance_status(f.status);
    let (severity_id, severity) = status_severity(f.status);
    let standards = [report.benchmark.title.as_str()];
    let mut check = json!({
        "uid": c.id, "name": c.title, "standards": standards,
        "status_id": compliance_id, "status": compliance,
        "severity_id": severity_id, "severity": severity,
    });
    if let Some(v) = report.benchmark.id.strip_prefix("cis-") {
        check["version"] = json!(v);
    }
    let mut comp = json!({
        "standards": standards,
        "control": c.id,
        "category": c.section_title,
        "status_id": compliance_id,
        "status": compliance,
        "status_code": f.status.tag(),
        "checks": [check],
    });
    if !c.description.is_empty() {
        comp["desc"] = json!(c.description);
    }
    if !f.details.is_empty() {
        comp["status_details"] = json!(f.details);
    }
    comp
}

/// A finding's subjects as resources, and the observables they give.
fn subjects(report: &Report, f: &Finding, host: Option<&str>) -> (Vec<Value>, Vec<Value>) {
    let mut observables = Vec::new();
    let resources = f
        .subjects
        .iter()
        .map(|s| {
            let mut r = resource(s, report, host);
            if let Subject::Container { id, .. } = s {
                observables.push(observable("resources.uid", 10, "Resource UID", id));
            }
            if let Subject::File { path } = s {
                observables.push(observable("resources.name", 45, "File Path", path));
            }
            if let Some(d) = f.detail_for(s) {
                r["data"] = json!({"detail": d});
            }
            r
        })
        .collect();
    (resources, observables)
}

/// What both classes share.
fn base(
    class_uid: u32,
    class_name: &str,
    activity_id: u32,
    activity: &str,
    feature: &str,
) -> Map<String, Value> {
    let record = json!({
        "activity_id": activity_id,
        "activity_name": activity,
        "category_uid": 2,
        "category_name": "Findings",
        "class_uid": class_uid,
        "class_name": class_name,
        "type_uid": class_uid * 100 + activity_id,
        "type_name": format!("{class_name}: {activity}"),
        "timezone_offset": 0,
        "metadata": {
            "version": OCSF_VERSION,
            "product": {
                "name": "Bulwark",
                "vendor_name": "Bulwark",
                "version": env!("CARGO_PKG_VERSION"),
                "feature": {"name": feature},
            },
        },
    });
    match record {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn device(m: &mut Map<String, Value>, host: Option<&str>, observables: &mut Vec<Value>) {
    if let Some(h) = host {
        m.insert(
            "device".into(),
            json!({"hostname": h, "name": h, "type_id": 0, "type": "Unknown"}),
        );
        observables.insert(0, observable("device.hostname", 1, "Hostname", h));
    }
}

fn observable(name: &str, type_id: u32, kind: &str, value: &str) -> Value {
    json!({"name": name, "type_id": type_id, "type": kind, "value": value})
}

fn resource(s: &Subject, report: &Report, host: Option<&str>) -> Value {
    match s {
        Subject::Container { id, name } => json!({"uid": id, "name": name, "type": "container"}),
        Subject::Image { name } => json!({"name": name, "type": "image"}),
        Subject::File { path } => json!({"name": path, "type": "file"}),
        Subject::Plugin { name } => json!({"name": name, "type": "plugin"}),
        Subject::Daemon => match &report.engine {
            Some(e) => json!({"name": e.name, "version": e.version, "type": "daemon"}),
            None => json!({"name": "daemon", "type": "daemon"}),
        },
        Subject::Host => match host {
            Some(h) => json!({"name": h, "hostname": h, "type": "host"}),
            None => json!({"name": "host", "type": "host"}),
        },
    }
}

/// Bulwark's facts that OCSF has no attribute for.
fn unmapped(report: &Report, f: &Finding) -> Value {
    let c = &f.check;
    let mut u = json!({
        "check": {
            "id": c.id, "implementation": c.implementation, "section": c.section,
            "section_title": c.section_title, "level": c.level, "scored": c.scored,
            "automated": c.automated, "plugin": c.plugin,
        },
        "benchmark": {"id": report.benchmark.id, "title": report.benchmark.title},
        "status": f.status.name(),
        "evidence_mode": report.evidence,
        "audit": {"start": report.audit_start, "duration_ms": report.duration_ms},
    });
    if let Some(b) = f.baseline {
        u["baseline"] = serde_json::to_value(b).unwrap_or(Value::Null);
    }
    if let Some(s) = &f.suppression {
        u["suppression"] = serde_json::to_value(s).unwrap_or(Value::Null);
    }
    if let Some(e) = &report.engine {
        u["engine"] = serde_json::to_value(e).unwrap_or(Value::Null);
    }
    u
}

/// OCSF compliance status: 1 Pass, 2 Warning ("no result for want of information"),
/// 3 Fail, 99 Other with our word.
fn compliance_status(s: Status) -> (u32, &'static str) {
    match s {
        Status::Pass => (1, "Pass"),
        Status::Warn => (3, "Fail"),
        Status::Undecided => (2, "Warning"),
        Status::Info => (99, "Info"),
        Status::Note => (99, "Manual"),
        Status::Skipped => (99, "Not Applicable"),
        Status::Error => (99, "Error"),
    }
}

fn status_severity(s: Status) -> (u32, &'static str) {
    match s {
        Status::Warn => (3, "Medium"),
        Status::Undecided | Status::Error => (2, "Low"),
        Status::Pass | Status::Info | Status::Note | Status::Skipped => (1, "Informational"),
    }
}

/// A rule's own severity word as OCSF's scale (anything else: 99 with the word).
fn rule_severity(s: &str) -> (u32, String) {
    let word = s.trim().to_ascii_lowercase();
    let (id, caption) = match word.as_str() {
        "info" | "informational" => (1, "Informational"),
        "low" => (2, "Low"),
        "medium" => (3, "Medium"),
        "high" => (4, "High"),
        "critical" => (5, "Critical"),
        "" => (0, "Unknown"),
        _ => return (99, s.to_string()),
    };
    (id, caption.to_string())
}

/// A stable id: the first 128 bits of SHA-256 over the parts, NUL-separated.
fn digest(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h.update([0u8]);
        }
        h.update(p.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// This machine's host name.
fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it
    // when the name fits (the last byte is kept 0 in case it does not).
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len() - 1) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).into_owned();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::Subject;

    /// Every status, every kind of subject, a suppression and a live host: each record
    /// validates against the schema the repository ships.
    #[test]
    fn every_status_and_subject_kind_validates() {
        let mut r = crate::report::tests::report_with("m \"x\"\n".into(), "web".into(), 2);
        r.evidence = "live";
        let base = r.findings[0].clone();
        r.findings.clear();
        let statuses = Status::ALL;
        for (i, status) in statuses.iter().enumerate() {
            let mut f = base.clone();
            f.check.id = format!("5.{}", i + 1);
            f.status = *status;
            f.reason = (*status == Status::Undecided).then(|| "why".to_string());
            f.subjects.extend([
                Subject::Host,
                Subject::Daemon,
                Subject::Image {
                    name: "busybox:1".into(),
                },
                Subject::File {
                    path: "/etc/docker".into(),
                },
                Subject::Plugin { name: "p".into() },
                Subject::Container {
                    id: "0".into(),
                    name: "web0".into(),
                },
            ]);
            r.findings.push(f);
        }
        r.findings[1].suppression = crate::suppress::parse("5.2 reason: accepted", "t")
            .ok()
            .and_then(|s| s.into_iter().next());
        let schema: Value = serde_json::from_str(include_str!(
            "../../../tests/schemas/ocsf-1.8.0-findings.schema.json"
        ))
        .unwrap();
        let v = jsonschema::validator_for(&schema).unwrap();
        let text = audit(&r).unwrap();
        assert_eq!(text.lines().count(), statuses.len());
        for line in text.lines() {
            let rec: Value = serde_json::from_str(line).unwrap();
            let errors: Vec<String> = v.iter_errors(&rec).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{errors:?}\n{rec:#}");
            // Observables are unique (the same container named twice gives one).
            let obs = rec["observables"].as_array().cloned().unwrap_or_default();
            let unique: std::collections::HashSet<String> =
                obs.iter().map(|o| o.to_string()).collect();
            assert_eq!(unique.len(), obs.len(), "{rec:#}");
        }
        assert!(text.contains("\"status\":\"Suppressed\""), "{text}");
    }
}
