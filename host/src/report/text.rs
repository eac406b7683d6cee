//! The docker-bench-style text report for terminals and `-l FILE`.

use super::dbs::{flag, score};
use super::sanitize;
use crate::findings::{Finding, Report, Status};
use std::fmt::Write as _;

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

/// The first second RFC 3339 cannot show (year 10000), as a Unix time.
const RFC3339_END: u64 = 253_402_300_800;

/// The whole text report: header, results (A), remediation when asked (B), score (C).
pub fn text(report: &Report, colour: bool, remediation: bool) -> String {
    let p = Painter { colour };
    let mut out = String::new();
    header(&mut out, report);
    results(&mut out, &p, report);
    if remediation {
        remediations(&mut out, &p, report);
    }
    score_section(&mut out, &p, report);
    out
}

fn header(out: &mut String, report: &Report) {
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
    if report.benchmark.id == "native" {
        let _ = writeln!(out, "# Every check under its plugin's own id.");
    } else {
        let _ = writeln!(out, "# Based on the {}.", report.benchmark.title);
    }
    let _ = writeln!(out, "{rule}");
    // A replayed snapshot's start is whatever its file says: past year 9999 (no RFC 3339
    // form, and beyond what a SystemTime holds) it is shown as the number.
    let when = std::time::UNIX_EPOCH
        .checked_add(std::time::Duration::from_secs(report.audit_start))
        .filter(|_| report.audit_start < RFC3339_END)
        .map(|t| humantime::format_rfc3339_seconds(t).to_string())
        .unwrap_or_else(|| format!("@{}", report.audit_start));
    let _ = writeln!(out, "\nInitializing {when} ({} evidence)", report.evidence);
    if let Some(e) = &report.engine {
        let _ = writeln!(out, "Engine: {}", super::sanitize(&e.describe()));
    }
    out.push('\n');
}

/// Section A: each finding under its section's heading, with its message and details.
fn results(out: &mut String, p: &Painter, report: &Report) {
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
        finding(out, p, f);
    }
}

fn finding(out: &mut String, p: &Painter, f: &Finding) {
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

/// Section B: the remediation of every check that did not pass, with its example and
/// impact where the check documents them.
fn remediations(out: &mut String, p: &Painter, report: &Report) {
    let _ = writeln!(out, "\nSection B - Remediation measures\n");
    for f in report.findings.iter().filter(|f| {
        f.status != Status::Pass && (!f.check.remediation.is_empty() || f.check.doc.is_some())
    }) {
        let tag = p.tag(Status::Info);
        let c = &f.check;
        let first = c.doc.as_ref().map_or(&c.remediation, |d| &d.remediation);
        let _ = writeln!(out, "{tag} {} - {}", sanitize(&c.id), sanitize(first));
        if let Some(d) = &c.doc {
            let _ = writeln!(out, "{tag}        Example:");
            for line in d.example.trim_end().lines() {
                let _ = writeln!(out, "{tag}          {}", sanitize(line));
            }
        }
        if !c.impact_text().is_empty() {
            let _ = writeln!(out, "{tag}        Impact: {}", sanitize(c.impact_text()));
        }
    }
}

/// Section C: Docker Bench's score, then verdicts by status.
fn score_section(out: &mut String, p: &Painter, report: &Report) {
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
}
