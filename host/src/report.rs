//! Reporters: docker-bench-style text for people, JSON for machines. Everything that came
//! from outside the process is escaped before it reaches a terminal.

use crate::audit::{Finding, Report, Status};
use std::fmt::Write as _;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Make untrusted text safe for a terminal: control characters (escape sequences, CR,
/// backspace, bidi overrides) are shown as `\u{..}` instead of being interpreted.
pub fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let bidi = matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
        if c.is_control() || bidi {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

fn colour(status: Status) -> &'static str {
    match status {
        Status::Pass => "\x1b[1;32m",
        Status::Warn | Status::Error => "\x1b[1;31m",
        Status::Info | Status::Skipped => "\x1b[1;34m",
        Status::Note | Status::Undecided => "\x1b[1;33m",
    }
}

struct Painter {
    colour: bool,
}

impl Painter {
    fn tag(&self, status: Status) -> String {
        let t = format!("[{}]", status.tag());
        if self.colour {
            format!("{}{t}\x1b[0m", colour(status))
        } else {
            t
        }
    }
}

/// The flag Docker Bench prints after a title: "(Scored)" on section 2's scored checks,
/// "(Not Scored)" on 8.1.3/8.1.4, else "(Automated)" or "(Manual)".
fn flag(f: &Finding) -> &'static str {
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
                crate::audit::Subject::Container { name, .. } => Some(name.clone()),
                crate::audit::Subject::Image { name } => Some(name.clone()),
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
        "start": report.audit_start,
        "tests": tests,
        "checks": checks,
        "score": score,
        "end": end,
    })
}

/// The score as Docker Bench counts it: +1 per scored PASS, −1 per scored WARN.
pub fn score(report: &Report) -> (usize, i64) {
    let mut checks = 0;
    let mut score = 0i64;
    for f in &report.findings {
        if matches!(
            f.status,
            Status::Pass | Status::Warn | Status::Info | Status::Note
        ) {
            checks += 1;
        }
        if f.check.scored {
            match f.status {
                Status::Pass => score += 1,
                Status::Warn => score -= 1,
                _ => {}
            }
        }
    }
    (checks, score)
}

pub fn text(report: &Report, colour: bool, remediation: bool) -> String {
    let p = Painter { colour };
    let mut out = String::new();
    let rule = "# ".to_string() + &"-".repeat(78);
    let _ = writeln!(out, "{rule}");
    let _ = writeln!(
        out,
        "# Bulwark v{} - container security audit",
        report.version
    );
    let _ = writeln!(
        out,
        "# Checks run as sandboxed WebAssembly plugins (ABI bulwark:plugin@{}).",
        report.abi
    );
    let _ = writeln!(out, "{rule}");
    let when = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(report.audit_start),
    );
    let _ = writeln!(
        out,
        "\nInitializing {when} ({} evidence)\n",
        report.evidence
    );
    let _ = writeln!(out, "Section A - Check results\n");
    let mut section = None;
    for f in &report.findings {
        if section.as_deref() != Some(f.check.section.as_str()) {
            if section.is_some() {
                out.push('\n');
            }
            section = Some(f.check.section.clone());
            let _ = writeln!(
                out,
                "{} {} - {}",
                p.tag(Status::Info),
                sanitize(&f.check.section),
                sanitize(&f.check.section_title)
            );
        }
        let _ = writeln!(
            out,
            "{} {} - {}{}",
            p.tag(f.status),
            sanitize(&f.check.id),
            sanitize(&f.check.title),
            flag(f)
        );
        let pad = " ".repeat(6);
        // The message carries the verdict's substance when there are no detail lines.
        let show_message = !f.message.is_empty()
            && (f.status == Status::Error || (f.status != Status::Pass && f.details.is_empty()));
        if show_message {
            let _ = writeln!(out, "{}{pad}* {}", p.tag(f.status), sanitize(&f.message));
        }
        if let Some(r) = f.reason.as_ref().filter(|r| **r != f.message) {
            let _ = writeln!(out, "{}{pad}* {}", p.tag(f.status), sanitize(r));
        }
        for d in &f.details {
            let _ = writeln!(out, "{}{pad}* {}", p.tag(f.status), sanitize(d));
        }
    }
    if remediation {
        let _ = writeln!(out, "\nSection B - Remediation measures\n");
        for f in report
            .findings
            .iter()
            .filter(|f| f.status != Status::Pass && !f.check.remediation.is_empty())
        {
            let _ = writeln!(
                out,
                "{} {} - {}",
                p.tag(Status::Info),
                sanitize(&f.check.id),
                sanitize(&f.check.remediation)
            );
            if !f.check.remediation_impact.is_empty() {
                let _ = writeln!(
                    out,
                    "{}        Impact: {}",
                    p.tag(Status::Info),
                    sanitize(&f.check.remediation_impact)
                );
            }
        }
    }
    let (checks, score) = score(report);
    let _ = writeln!(out, "\nSection C - Score\n");
    let _ = writeln!(out, "{} Checks: {checks}", p.tag(Status::Info));
    let _ = writeln!(out, "{} Score: {score}", p.tag(Status::Info));
    let mut counts: Vec<(Status, usize)> = Vec::new();
    for f in &report.findings {
        match counts.iter_mut().find(|(s, _)| *s == f.status) {
            Some((_, n)) => *n += 1,
            None => counts.push((f.status, 1)),
        }
    }
    counts.sort();
    let summary: Vec<String> = counts
        .iter()
        .map(|(s, n)| format!("{} {n}", s.tag()))
        .collect();
    let _ = writeln!(
        out,
        "{} Verdicts: {}",
        p.tag(Status::Info),
        summary.join(", ")
    );
    out
}

pub fn json(report: &Report) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::audit::{CheckInfo, Finding, Report, Subject};
    use proptest::prelude::*;

    fn report_with(message: String, name: String, n: usize) -> Report {
        let check = CheckInfo {
            id: "5.11".into(),
            title: "Ensure that the memory usage for containers is limited".into(),
            section: "5".into(),
            section_title: "Container Runtime".into(),
            level: 1,
            scored: true,
            automated: true,
            description: String::new(),
            remediation: "use --memory".into(),
            remediation_impact: String::new(),
            tags: vec![],
            plugin: "cis-runtime".into(),
        };
        Report {
            schema: "bulwark/audit/v0",
            tool: "bulwark",
            version: "0",
            abi: "0.1.0",
            evidence: "snapshot",
            audit_start: 1,
            duration_ms: 0.0,
            evidence_queries: 0,
            plugins: vec![],
            findings: vec![Finding {
                check,
                status: Status::Warn,
                message,
                reason: None,
                subjects: (0..n)
                    .map(|i| Subject::Container {
                        id: format!("{i}"),
                        name: format!("{name}{i}"),
                    })
                    .collect(),
                details: vec![],
            }],
        }
    }

    proptest! {
        /// Whatever the names and messages hold, the log is valid JSON that keeps them exactly.
        #[test]
        fn dbs_log_is_valid_json_for_hostile_text(message in any::<String>(), name in any::<String>(), n in 0usize..6, limit in 0usize..4) {
            let r = report_with(message.clone(), name.clone(), n);
            let text = serde_json::to_string(&dbs_json(&r, limit, true, 2)).unwrap();
            let back: serde_json::Value = serde_json::from_str(&text).unwrap();
            let res = &back["tests"][0]["results"][0];
            let kept = if limit > 0 { n.min(limit) } else { n };
            prop_assert_eq!(res["items"].as_array().map(|a| a.len()).unwrap_or(0), kept);
            if kept > 0 {
                prop_assert_eq!(res["items"][0].as_str().unwrap(), format!("{name}0"));
            }
            let details = res["details"].as_str().unwrap_or_default();
            prop_assert!(details.starts_with(&message));
            prop_assert_eq!(details.ends_with("(truncated)"), limit > 0 && n > limit);
            prop_assert_eq!(res["remediation"].as_str(), Some("use --memory"));
            prop_assert!(!sanitize(&name).chars().any(|c| c.is_control()));
        }
    }

    #[test]
    fn escapes_terminal_controls() {
        assert_eq!(
            sanitize("ok\x1b[2Jname\r\u{202E}"),
            "ok\\u{1b}[2Jname\\u{d}\\u{202e}"
        );
        assert_eq!(sanitize("plain-name_1"), "plain-name_1");
    }
}
