//! A remediation [`Plan`] as text: the daemon.json diff and how to restart, file owners and
//! modes as commands, audit rules and where they go, per-container run options (with the
//! Compose project and service), and the findings that need a person.

use super::sanitize as s;
use crate::fix::Plan;
use std::fmt::Write as _;

pub fn text(plan: &Plan) -> String {
    let mut out = String::new();
    if let Some(d) = &plan.daemon {
        daemon(&mut out, d);
    }
    if !plan.files.is_empty() {
        let _ = writeln!(out, "Files:");
        for f in &plan.files {
            let _ = writeln!(out, "  {:<6} {}", s(&f.check), s(&f.command));
        }
        out.push('\n');
    }
    if let Some(a) = &plan.audit_rules {
        let _ = writeln!(
            out,
            "Audit rules (add to {}, then {}):",
            s(&a.file),
            s(&a.load)
        );
        for (check, rule) in &a.rules {
            let _ = writeln!(out, "  {:<6} {}", s(check), s(rule));
        }
        out.push('\n');
    }
    containers(&mut out, plan);
    if !plan.manual.is_empty() {
        let _ = writeln!(out, "No mechanical fix (a person decides):");
        for m in &plan.manual {
            let _ = writeln!(
                out,
                "  {:<6} {} [{}]: {}",
                s(&m.check),
                s(&m.title),
                m.status.tag(),
                s(&m.why)
            );
        }
    }
    if out.is_empty() {
        out.push_str("Nothing to fix: no failing finding.\n");
    }
    out
}

fn daemon(out: &mut String, d: &crate::fix::DaemonPlan) {
    let _ = writeln!(out, "Daemon configuration ({}):", s(&d.config_file));
    for c in &d.changes {
        let _ = writeln!(
            out,
            "  {:<6} set {} = {}",
            s(&c.check),
            s(&c.key),
            s(&c.value.to_string())
        );
    }
    for c in &d.conflicts {
        let _ = writeln!(
            out,
            "  {:<6} NOT set {}: {}",
            s(&c.check),
            s(&c.key),
            s(&c.why)
        );
    }
    for w in &d.warnings {
        let _ = writeln!(out, "  warning: {}", s(w));
    }
    if !d.changes.is_empty() {
        let _ = writeln!(
            out,
            "\n{}",
            d.diff.lines().map(s).collect::<Vec<_>>().join("\n")
        );
        let _ = writeln!(
            out,
            "  then restart the daemon: {}",
            s(&d.restart.command())
        );
    }
    out.push('\n');
}

fn containers(out: &mut String, plan: &Plan) {
    if plan.containers.is_empty() {
        return;
    }
    let _ = writeln!(out, "Containers (re-create them with these options):");
    for c in &plan.containers {
        let compose = c
            .compose
            .as_ref()
            .map(|(p, sv)| format!(" (Compose project {}, service {})", s(p), s(sv)))
            .unwrap_or_default();
        let _ = writeln!(out, "  {}{compose}:", s(&c.name));
        for ch in &c.changes {
            let _ = writeln!(out, "    {:<6} docker run: {}", s(&ch.check), s(&ch.run));
            let _ = writeln!(out, "    {:<6} compose:    {}", "", s(&ch.compose));
            if let Some(n) = &ch.note {
                let _ = writeln!(out, "    {:<6} note:       {}", "", s(n));
            }
        }
    }
    out.push('\n');
}
