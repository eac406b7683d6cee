//! `bulwark profile` as text: what each recording made, and a verification's verdict.
//! Container names and syscall names come from outside the process and are sanitized.

use super::sanitize;
use crate::harden::advice::{ProfileDoc, Verdict};
use std::fmt::Write as _;

/// One recorded container: where its files went, what it used, how that compares.
pub fn recorded(doc: &ProfileDoc, seccomp_path: &str, doc_path: &str) -> String {
    let o = &doc.observation;
    let s = &doc.seccomp;
    let c = &doc.capabilities;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} ({}): {:.1} s, start-up {}",
        sanitize(&o.container_name),
        sanitize(&o.image),
        o.seconds,
        if o.startup_seen { "seen" } else { "NOT seen" }
    );
    let calls: u64 = o.syscalls.values().sum::<u64>() + o.compat_syscalls.values().sum::<u64>();
    let _ = writeln!(
        out,
        "  syscalls:     {} names used ({} calls{})",
        o.syscalls.len() + o.compat_syscalls.len(),
        calls,
        if o.compat_syscalls.is_empty() {
            String::new()
        } else {
            format!(", {} compat names", o.compat_syscalls.len())
        }
    );
    let _ = writeln!(out, "  seccomp now:  {}", sanitize(&s.current));
    if let Some(now) = s.allowed_now {
        let _ = writeln!(
            out,
            "                allows {now} names; {} of them never used",
            s.allowed_unused.len()
        );
    }
    if !s.used_refused.is_empty() {
        let _ = writeln!(
            out,
            "                used but refused by it: {}",
            sanitize(&s.used_refused.join(", "))
        );
    }
    let _ = writeln!(
        out,
        "  generated:    {} ({} names)",
        sanitize(seccomp_path),
        s.allowed
    );
    let _ = writeln!(
        out,
        "                runtime's part: {}",
        sanitize(&s.runtime_part)
    );
    let _ = writeln!(out, "  capabilities: {}", c.docker_flags);
    if !c.held_unused.is_empty() {
        let _ = writeln!(
            out,
            "                held, never needed: {}",
            c.held_unused.join(", ")
        );
    }
    if !c.denied_not_held.is_empty() {
        let _ = writeln!(
            out,
            "                denied, not held (decide yourself): {}",
            c.denied_not_held.join(", ")
        );
    }
    let _ = writeln!(out, "  advice:       {}", sanitize(doc_path));
    for n in &doc.notes {
        let _ = writeln!(out, "  note: {}", sanitize(n));
    }
    out
}

/// A verification's verdict.
pub fn verdict(v: &Verdict, copy_name: &str, notes: &[String]) -> String {
    let mut out = String::new();
    let state = |s: &crate::harden::advice::RunState| {
        if let Some(e) = &s.error {
            format!("did not start: {}", sanitize(e))
        } else if s.running {
            format!(
                "running{}",
                s.health
                    .as_ref()
                    .map(|h| format!(" ({})", sanitize(h)))
                    .unwrap_or_default()
            )
        } else {
            format!(
                "exited with {}",
                s.exit_code
                    .map_or("an unknown code".into(), |c| c.to_string())
            )
        }
    };
    let _ = writeln!(
        out,
        "copy:     {} — {}",
        sanitize(copy_name),
        state(&v.copy)
    );
    let _ = writeln!(out, "original: {}", state(&v.original));
    if !v.refused_syscalls.is_empty() {
        let _ = writeln!(
            out,
            "refused by the profile: {}",
            sanitize(&v.refused_syscalls.join(", "))
        );
    }
    if !v.denied_capabilities.is_empty() {
        let _ = writeln!(
            out,
            "capabilities denied: {}",
            v.denied_capabilities.join(", ")
        );
    }
    for n in notes {
        let _ = writeln!(out, "note: {}", sanitize(n));
    }
    if v.verified {
        let _ = writeln!(out, "verdict: verified");
    } else {
        let _ = writeln!(out, "verdict: NOT verified");
        for p in &v.problems {
            let _ = writeln!(out, "  - {}", sanitize(p));
        }
        if !v.refused_syscalls.is_empty() {
            let _ = writeln!(
                out,
                "  add to the profile's allowed names: {}",
                sanitize(&v.refused_syscalls.join(", "))
            );
        }
        if !v.denied_capabilities.is_empty() {
            let _ = writeln!(
                out,
                "  add capabilities: {}",
                v.denied_capabilities
                    .iter()
                    .map(|c| format!("--cap-add {c}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
    }
    out
}
