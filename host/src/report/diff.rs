//! `bulwark diff`: a [`Comparison`] of two audits as text, JSON or Markdown. Everything
//! from the reports is escaped for where it goes (terminal, Markdown).

use super::markdown::escape as md;
use super::sanitize;
use crate::compare::{Change, CheckChange, Comparison};
use crate::findings::Status;
use std::fmt::Write as _;

const ORDER: [(Change, &str); 5] = [
    (Change::New, "New"),
    (Change::Fixed, "Fixed"),
    (Change::Changed, "Still failing, changed"),
    (Change::StillFailing, "Still failing"),
    (Change::Moved, "Other status changes"),
];

fn side(o: &Option<crate::compare::Outcome>) -> String {
    o.as_ref()
        .map_or("absent".to_string(), |o| o.status.tag().to_string())
}

fn title(c: &CheckChange) -> (&str, &str) {
    let o = c.new.as_ref().or(c.old.as_ref());
    (
        o.map_or(c.implementation.as_str(), |o| o.id.as_str()),
        o.map_or("", |o| o.title.as_str()),
    )
}

fn subjects(c: &CheckChange, esc: fn(&str) -> String) -> String {
    let mut parts: Vec<String> = c.added.iter().map(|s| format!("+{}", esc(s))).collect();
    parts.extend(c.removed.iter().map(|s| format!("-{}", esc(s))));
    if parts.is_empty() {
        if let Some(n) = &c.new {
            parts.extend(n.subjects.iter().map(|s| esc(s)));
        }
    }
    parts.join(", ")
}

fn header(c: &Comparison) -> String {
    let mut out = format!(
        "OLD: {} ({:?}, started {})\nNEW: {} ({:?}, started {})\n",
        sanitize(&c.old.benchmark),
        c.old.origin,
        c.old.start.map_or("?".to_string(), |s| s.to_string()),
        sanitize(&c.new.benchmark),
        c.new.origin,
        c.new.start.map_or("?".to_string(), |s| s.to_string()),
    );
    if c.by_implementation {
        out.push_str("The benchmark versions differ: checks are matched by implementation.\n");
    }
    out
}

/// The comparison as text.
pub fn text(c: &Comparison) -> String {
    let mut out = header(c);
    for (kind, label) in ORDER {
        let list: Vec<&CheckChange> = c.changes.iter().filter(|x| x.change == kind).collect();
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{label} ({}):", list.len());
        for x in list {
            let (id, t) = title(x);
            let subj = subjects(x, sanitize);
            let _ = writeln!(
                out,
                "  {:<8} {} -> {}  {}{}",
                sanitize(id),
                side(&x.old),
                side(&x.new),
                sanitize(t),
                if subj.is_empty() {
                    String::new()
                } else {
                    format!(" [{subj}]")
                }
            );
        }
    }
    let _ = writeln!(out, "\nVerdicts:");
    for s in Status::ALL {
        let (o, n) = (
            c.old.counts.get(&s).copied().unwrap_or(0),
            c.new.counts.get(&s).copied().unwrap_or(0),
        );
        if o + n > 0 {
            let _ = writeln!(
                out,
                "  {:<10} {o:>4} -> {n:<4} ({:+})",
                s.tag(),
                n as i64 - o as i64
            );
        }
    }
    out
}

/// The comparison as Markdown.
pub fn markdown(c: &Comparison) -> String {
    let mut out = String::from("# Bulwark diff\n\n");
    for line in header(c).lines() {
        let _ = writeln!(out, "{}  ", md(line));
    }
    let _ = writeln!(
        out,
        "\n| Status | Before | After | Change |\n|---|---:|---:|---:|"
    );
    for s in Status::ALL {
        let (o, n) = (
            c.old.counts.get(&s).copied().unwrap_or(0),
            c.new.counts.get(&s).copied().unwrap_or(0),
        );
        let _ = writeln!(
            out,
            "| {} | {o} | {n} | {:+} |",
            s.tag(),
            n as i64 - o as i64
        );
    }
    for (kind, label) in ORDER {
        let list: Vec<&CheckChange> = c.changes.iter().filter(|x| x.change == kind).collect();
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "\n## {label} ({})\n\n| Check | Before | After | Title | Subjects |\n|---|---|---|---|---|",
            list.len()
        );
        for x in list {
            let (id, t) = title(x);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                md(id),
                side(&x.old),
                side(&x.new),
                md(t),
                subjects(x, md)
            );
        }
    }
    out
}

/// The comparison as JSON.
pub fn json(c: &Comparison) -> Result<String, serde_json::Error> {
    let mut v = serde_json::to_value(c)?;
    v["schema"] = serde_json::json!("bulwark/diff/v1");
    Ok(serde_json::to_string_pretty(&v)? + "\n")
}
