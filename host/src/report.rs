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

fn flag(f: &Finding) -> &'static str {
    if f.check.section == "plugins" {
        ""
    } else if f.check.automated {
        " (Automated)"
    } else {
        " (Manual)"
    }
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

    #[test]
    fn escapes_terminal_controls() {
        assert_eq!(
            sanitize("ok\x1b[2Jname\r\u{202E}"),
            "ok\\u{1b}[2Jname\\u{d}\\u{202e}"
        );
        assert_eq!(sanitize("plain-name_1"), "plain-name_1");
    }
}
