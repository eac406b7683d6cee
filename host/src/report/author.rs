//! What `plugin new`, `plugin build` and `plugin test` print for authors.

use super::sanitize as s;
use crate::author::build::Built;
use crate::author::trial::{Mismatch, Trial};
use crate::author::Lang;
use std::path::Path;

/// After `plugin new`: what was written and what to do next.
pub fn created(dir: &Path, lang: Lang) -> String {
    let d = s(&dir.display().to_string());
    let first = match lang {
        Lang::Rust => {
            "cargo test                 # the example check, natively, on the snapshot\n  "
        }
        Lang::Python => "",
    };
    format!(
        "created {d} ({})\nnext:\n  cd {d}\n  {first}bulwark plugin build\n  bulwark plugin test --expect tests/expect.toml\n",
        lang_name(lang)
    )
}

fn lang_name(lang: Lang) -> &'static str {
    match lang {
        Lang::Rust => "Rust",
        Lang::Python => "Python",
    }
}

/// After `plugin build`: the file and what an operator will be asked to allow.
pub fn built(b: &Built) -> String {
    let m = &b.manifest;
    let scopes = if m.grants.is_empty() {
        "none".to_string()
    } else {
        m.grants
            .iter()
            .map(|g| g.describe())
            .collect::<Vec<_>>()
            .join("; ")
    };
    let grant_flags: Vec<String> = m
        .grants
        .iter()
        .map(|g| format!("--grant {}:{}", m.name, g.scope().name()))
        .collect();
    format!(
        "built:   {}\nplugin:  {} {} ({}, ABI bulwark:plugin@{})\nsize:    {} bytes ({:.1} MiB)\nsha256:  {}\nchecks:  {}\nscopes:  {}{}\n",
        s(&b.path.display().to_string()),
        s(&m.name),
        s(&m.version),
        lang_name(b.lang),
        s(&m.abi),
        b.size,
        b.size as f64 / (1024.0 * 1024.0),
        b.sha256,
        s(&b.checks.join(", ")),
        s(&scopes),
        if grant_flags.is_empty() {
            String::new()
        } else {
            format!(" (operators allow them with {})", s(&grant_flags.join(" ")))
        }
    )
}

/// After `plugin test`: what the run cost and which evidence it touched.
pub fn trial(t: &Trial) -> String {
    let mut out = String::from("\nsandbox run\n");
    if let Some(p) = t.report.plugins.first() {
        if let Some(c) = &p.cost {
            out.push_str(&format!(
                "  cost:     {:.1} ms, {} fuel of {}, {} KiB peak memory, {} queries\n",
                c.wall_ms,
                c.fuel_used,
                crate::runtime::Limits::default().fuel,
                c.peak_memory >> 10,
                c.queries
            ));
        }
        if let Some(e) = &p.error {
            out.push_str(&format!("  failed:   {}\n", s(e)));
        }
    }
    let used: Vec<String> = t
        .used
        .iter()
        .map(|(scope, n)| format!("{} ({n} queries)", scope.name()))
        .collect();
    out.push_str(&format!(
        "  used:     {}\n",
        if used.is_empty() {
            "no evidence".to_string()
        } else {
            used.join(", ")
        }
    ));
    for g in t.unused() {
        out.push_str(&format!(
            "  unused:   {} is asked for in the manifest but no check used it; drop it so operators are not asked\n",
            s(&g.describe())
        ));
    }
    for (key, why) in &t.refused {
        out.push_str(&format!(
            "  refused:  {}: {} (add it to the manifest's grants if the check needs it)\n",
            s(key),
            s(why)
        ));
    }
    out
}

/// The expected verdicts that were not met.
pub fn mismatches(list: &[Mismatch], expected: usize) -> String {
    if list.is_empty() {
        return format!("\nexpectations: all {expected} met\n");
    }
    let mut out = format!("\nexpectations: {} of {expected} not met\n", list.len());
    for m in list {
        out.push_str(&format!(
            "  {}: expected {}, got {}\n",
            s(&m.id),
            m.expected.name(),
            m.got.map_or("no finding", |g| g.name())
        ));
    }
    out
}
