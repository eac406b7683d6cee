//! Docker Bench for Security compatibility: the title flag, the `-l FILE.json` log in
//! DBS's schema, and DBS's check count and score.

use crate::findings::{Finding, Report, Status};

/// The flag Docker Bench prints after a title: "(Scored)" on section 2's scored checks,
/// "(Not Scored)" on 8.1.3/8.1.4, else "(Automated)" or "(Manual)".
pub(crate) fn flag(f: &Finding) -> &'static str {
    let c = &f.check;
    if c.section == "plugins" {
        ""
    } else if c.section == "2" && c.scored {
        " (Scored)"
    } else if c.id == "8.1.3" || c.id == "8.1.4" {
        " (Not Scored)"
    } else if c.automated {
        " (Automated)"
    } else {
        " (Manual)"
    }
}

/// Docker Bench's result for a status: it knows only PASS, WARN, INFO and NOTE. The exact
/// status stays in the extra `status` field.
fn dbs_result(s: Status) -> &'static str {
    match s {
        Status::Pass => "PASS",
        Status::Warn | Status::Error => "WARN",
        Status::Note => "NOTE",
        Status::Info | Status::Undecided | Status::Skipped => "INFO",
    }
}

/// Docker Bench's section ids: community checks are section 99.
fn dbs_section(f: &Finding) -> String {
    match f.check.section.as_str() {
        "C" => "99".to_string(),
        s => s.split('.').next().unwrap_or(s).to_string(),
    }
}

/// The `-l FILE` JSON log in Docker Bench's schema (`FILE.json`), always valid JSON.
/// `limit` caps `items` (0: no cap); "(truncated)" is added only when items were dropped.
pub fn dbs_json(report: &Report, limit: usize, remediation: bool, end: u64) -> serde_json::Value {
    use serde_json::{json, Map, Value};
    let mut tests: Vec<Value> = Vec::new();
    for f in &report.findings {
        let section = dbs_section(f);
        if tests.last().is_none_or(|t| t["id"] != section.as_str()) {
            let desc = if f.check.section_title.is_empty() {
                f.check.section.clone()
            } else {
                f.check.section_title.clone()
            };
            tests.push(json!({"id": section, "desc": desc, "results": []}));
        }
        let mut r = Map::new();
        r.insert("id".into(), json!(f.check.id));
        r.insert(
            "desc".into(),
            json!(format!("{}{}", f.check.title, flag(f))),
        );
        r.insert("result".into(), json!(dbs_result(f.status)));
        r.insert("status".into(), json!(f.status));
        let mut items: Vec<String> = f
            .subjects
            .iter()
            .filter_map(|s| match s {
                crate::findings::Subject::Container { name, .. } => Some(name.clone()),
                crate::findings::Subject::Image { name } => Some(name.clone()),
                _ => None,
            })
            .collect();
        let truncated = limit > 0 && items.len() > limit;
        if truncated {
            items.truncate(limit);
        }
        let mut details = match (&f.reason, f.message.is_empty()) {
            (Some(reason), _) => reason.clone(),
            (None, false) => f.message.clone(),
            (None, true) => String::new(),
        };
        if !items.is_empty() {
            details = format!("{details}:  {}", items.join(" "));
            if truncated {
                details.push_str(" (truncated)");
            }
        }
        if !details.is_empty() && f.status != Status::Pass {
            r.insert("details".into(), json!(details));
        }
        if !items.is_empty() {
            r.insert("items".into(), json!(items));
        }
        if remediation && f.status != Status::Pass && !f.check.remediation.is_empty() {
            r.insert("remediation".into(), json!(f.check.remediation));
            if !f.check.remediation_impact.is_empty() {
                r.insert(
                    "remediation-impact".into(),
                    json!(f.check.remediation_impact),
                );
            }
        }
        if let Some(Value::Array(results)) = tests.last_mut().and_then(|t| t.get_mut("results")) {
            results.push(Value::Object(r));
        }
    }
    let (checks, score) = score(report);
    json!({
        "dockerbenchsecurity": "1.6.0",
        "bulwark": report.version,
        "benchmark": report.benchmark.id,
        "start": report.audit_start,
        // Bulwark's addition: which engine was judged (absent when no daemon answered).
        "engine": report.engine.as_ref().map(|e| e.describe()),
        "tests": tests,
        "checks": checks,
        "score": score,
        "end": end,
    })
}

/// How Docker Bench counts each of its checks (`pass -s`, `info -c`, ...), from the
/// inventory: `s` scores PASS +1 and WARN −1 and counts both; `c` counts PASS, INFO and NOTE
/// without scoring; `sc` does both.
pub(crate) const DBS_KINDS: &str =
    "1.1.1:s 1.1.2:sc 1.1.3:s 1.1.4:s 1.1.5:sc 1.1.6:sc 1.1.7:sc 1.1.8:sc \
    1.1.9:sc 1.1.10:sc 1.1.11:sc 1.1.12:sc 1.1.13:sc 1.1.14:sc 1.1.15:sc 1.1.16:sc 1.1.17:sc \
    1.1.18:sc 1.2.1:c 1.2.2:c 2.1:c 2.2:s 2.3:s 2.4:s 2.5:s 2.6:s 2.7:sc 2.8:c 2.9:s 2.10:s \
    2.11:s 2.12:s 2.13:s 2.14:s 2.15:s 2.16:s 2.17:c 2.18:sc 3.1:sc 3.2:sc 3.3:sc 3.4:sc 3.5:sc \
    3.6:sc 3.7:sc 3.8:sc 3.9:sc 3.10:sc 3.11:sc 3.12:sc 3.13:sc 3.14:sc 3.15:sc 3.16:sc 3.17:sc \
    3.18:sc 3.19:sc 3.20:sc 3.21:sc 3.22:sc 3.23:sc 3.24:sc 4.1:sc 4.2:c 4.3:c 4.4:c 4.5:s \
    4.6:s 4.7:c 4.8:c 4.9:c 4.10:c 4.11:c 4.12:c 5.1:s 5.2:s 5.3:s 5.4:s 5.5:s 5.6:s 5.7:s 5.8:s \
    5.9:s 5.10:s 5.11:s 5.12:s 5.13:s 5.14:s 5.15:s 5.16:s 5.17:s 5.18:c 5.19:c 5.20:s 5.21:s \
    5.22:s 5.23:c 5.24:c 5.25:s 5.26:s 5.27:s 5.28:c 5.29:s 5.30:c 5.31:s 5.32:s 6.1:c 6.2:c \
    7.1:s 7.2:s 7.3:s 7.4:c 7.5:s 7.6:c 7.7:c 7.8:c 7.9:c 8.1.1:c 8.1.2:c 8.1.3:c 8.1.4:c \
    8.1.5:c 8.1.6:c 8.1.7:c 8.2.1:c C.1:sc C.1.1:c C.2:sc C.5.3.1:s C.5.3.2:s C.5.3.3:s \
    C.5.3.4:s";

/// Docker Bench's counting kind of a check; checks it does not know count by their own
/// `scored` flag.
fn dbs_kind(native_id: &str, scored: bool) -> &'static str {
    DBS_KINDS
        .split_whitespace()
        .find_map(|e| {
            let (id, kind) = e.split_once(':')?;
            (id == native_id).then_some(kind)
        })
        .unwrap_or(if scored { "s" } else { "c" })
}

/// Checks and score as Docker Bench counts them, applied to Bulwark's verdicts: `checks`
/// grows on `pass -s/-c`, `warn -s`, `info -c` and `note -c`; `score` is scored PASSes minus
/// scored WARNs. Undecided, skipped and error findings are not counted (DBS has no such
/// result), and neither are plugin failures.
pub fn score(report: &Report) -> (usize, i64) {
    let mut checks = 0;
    let mut score = 0i64;
    for f in &report.findings {
        let kind = dbs_kind(&f.check.implementation, f.check.scored);
        let scores = kind.contains('s');
        let counts_other = kind.contains('c');
        match f.status {
            Status::Pass if scores => {
                checks += 1;
                score += 1;
            }
            Status::Warn if scores => {
                checks += 1;
                score -= 1;
            }
            Status::Pass | Status::Info | Status::Note if counts_other => checks += 1,
            _ => {}
        }
    }
    (checks, score)
}
