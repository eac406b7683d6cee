//! Markdown: what people paste into a ticket or a CI job summary (`$GITHUB_STEP_SUMMARY`).
//! A summary table by section and status, then the checks that failed or could not
//! decide, with their subjects and remediation. Everything from outside the process is
//! escaped for Markdown (pipes, backticks, emphasis, links, HTML) as well as for terminals,
//! so no name or label can add a row, a link or markup.

use super::sanitize;
use crate::findings::{Finding, Report, Status};
use std::fmt::Write as _;

/// Statuses in the summary table's column order.
const COLUMNS: [Status; 7] = Status::ALL;

/// Untrusted text made inert in Markdown, on one line: control characters shown as
/// escapes, line breaks as spaces, Markdown punctuation backslash-escaped and HTML's
/// special characters as entities.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in sanitize(&s.replace(['\n', '\r'], " ")).chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '(' | ')' | '#' | '+' | '-' | '.'
            | '!' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// A fenced code block of `text` (control characters escaped), with a fence longer than
/// any run of backticks inside it.
pub fn code_block(text: &str) -> String {
    let body: Vec<String> = text.trim_end().lines().map(sanitize).collect();
    let body = body.join("\n");
    let longest = body.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}\n{body}\n{fence}")
}

/// The summary table: a row per section, counts per status, and a total.
pub fn summary_table(out: &mut String, findings: &[&Finding]) {
    let _ = writeln!(
        out,
        "| Section | {} |",
        COLUMNS.map(|s| s.tag()).join(" | ")
    );
    let _ = writeln!(out, "|---|{}", "---:|".repeat(COLUMNS.len()));
    let mut sections: Vec<(&str, &str)> = Vec::new();
    for f in findings {
        let key = (f.check.section.as_str(), f.check.section_title.as_str());
        if !sections.contains(&key) {
            sections.push(key);
        }
    }
    let count = |sec: Option<&str>, st: Status| {
        findings
            .iter()
            .filter(|f| sec.is_none_or(|s| f.check.section == s) && f.status == st)
            .count()
    };
    for (id, title) in sections {
        let cells: Vec<String> = COLUMNS
            .iter()
            .map(|s| count(Some(id), *s).to_string())
            .collect();
        let _ = writeln!(
            out,
            "| {} {} | {} |",
            escape(id),
            escape(title),
            cells.join(" | ")
        );
    }
    let cells: Vec<String> = COLUMNS
        .iter()
        .map(|s| format!("**{}**", count(None, *s)))
        .collect();
    let _ = writeln!(out, "| **Total** | {} |", cells.join(" | "));
}

/// One finding: its heading, message, subjects and details, then what it means and how
/// to fix it.
pub fn finding(out: &mut String, f: &Finding) {
    let c = &f.check;
    let _ = writeln!(
        out,
        "### {} {} — {}\n",
        escape(&c.id),
        escape(&c.title),
        f.status.tag()
    );
    let _ = writeln!(
        out,
        "{}\n",
        escape(f.reason.as_deref().unwrap_or(&f.message))
    );
    for d in &f.details {
        let _ = writeln!(out, "- {}", escape(d));
    }
    if !f.details.is_empty() {
        out.push('\n');
    }
    if let Some(s) = &f.suppression {
        let _ = writeln!(out, "Suppressed: {}\n", escape(&s.reason));
    }
    match &c.doc {
        Some(d) => {
            let _ = writeln!(out, "**Why it matters.** {}\n", escape(&d.why));
            let _ = writeln!(out, "**Remediation.** {}\n", escape(&d.remediation));
            let _ = writeln!(out, "{}\n", code_block(&d.example));
            let _ = writeln!(out, "**Impact.** {}\n", escape(&d.impact));
        }
        None if !c.remediation.is_empty() => {
            let _ = writeln!(out, "**Remediation.** {}\n", escape(&c.remediation));
        }
        None => {}
    }
}

/// An audit report as Markdown.
pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Bulwark audit\n");
    let _ = writeln!(
        out,
        "{} · Bulwark {} · {} evidence · {} checks\n",
        escape(&report.benchmark.title),
        escape(report.version),
        escape(report.evidence),
        report.findings.len()
    );
    if let Some(e) = &report.engine {
        let _ = writeln!(out, "Engine: {}\n", escape(&e.describe()));
    }
    let all: Vec<&Finding> = report.findings.iter().collect();
    summary_table(&mut out, &all);
    let failing: Vec<&Finding> = all
        .iter()
        .copied()
        .filter(|f| f.suppression.is_none() && f.status == Status::Warn)
        .collect();
    let open: Vec<&Finding> = all
        .iter()
        .copied()
        .filter(|f| f.suppression.is_none())
        .filter(|f| matches!(f.status, Status::Undecided | Status::Error))
        .collect();
    let suppressed: Vec<&Finding> = all
        .iter()
        .copied()
        .filter(|f| f.suppression.is_some())
        .collect();
    for (title, list) in [
        ("Failing checks", failing),
        ("Checks that could not decide", open),
        ("Suppressed findings", suppressed),
    ] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n## {title} ({})\n", list.len());
        for f in list {
            finding(&mut out, f);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_inert() {
        let e = escape("web|1`rm -rf`<script>alert(1)</script>\n# heading [x](http://e)\x1b[2J");
        assert!(!e.contains('\n') && !e.contains('\x1b'));
        assert!(!e.contains("<script>"));
        assert!(e.contains("web\\|1\\`rm"));
        assert!(e.contains("\\[x\\]\\(http"));
        // Every pipe is escaped, so a table row cannot grow a cell.
        assert_eq!(e.matches('|').count(), e.matches("\\|").count());
        let b = code_block("a ``` b\nc");
        assert!(b.starts_with("````\n") && b.ends_with("\n````"), "{b}");
    }
}
