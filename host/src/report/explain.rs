//! `bulwark explain`: one check as the selected benchmark shows it — what it verifies, why
//! it matters, how Bulwark decides it, how to fix it with an example, and what the fix
//! costs — from the check's own documentation (else its declared description and
//! remediation).

use super::sanitize as s;
use crate::abi::types::CheckMeta;
use crate::findings::CheckDoc;
use crate::profile::{Profile, Shown};

/// The explanation of check `c` (declared by `plugin`), shown as `shown` under `profile`.
pub fn check(
    profile: &Profile,
    plugin: &str,
    c: &CheckMeta,
    shown: &Shown,
    doc: Option<&CheckDoc>,
) -> String {
    let mut out = format!("{} - {}\n\n", s(&shown.id), s(&shown.title));
    out.push_str(&format!(
        "Benchmark:   {}\nSection:     {} {}\nProfile:     Level {}, {}{}\nPlugin:      {} (check {})\n",
        profile.title,
        s(&c.section),
        s(&c.section_title),
        shown.level,
        if shown.automated { "Automated" } else { "Manual" },
        if shown.scored { ", Scored" } else { "" },
        s(plugin),
        s(&c.id)
    ));
    if !c.tags.is_empty() {
        out.push_str(&format!("Tags:        {}\n", s(&c.tags.join(", "))));
    }
    let sections: Vec<(&str, &str)> = match doc {
        Some(d) => vec![
            ("What it verifies", &d.what),
            ("Why it matters", &d.why),
            ("How Bulwark decides", &d.decides),
            ("Remediation", &d.remediation),
            ("Example", &d.example),
            ("Impact", &d.impact),
        ],
        None => vec![
            ("Rationale", &c.description),
            ("Remediation", &c.remediation),
            ("Impact", &c.remediation_impact),
        ],
    };
    for (label, text) in sections.into_iter().filter(|(_, t)| !t.is_empty()) {
        out.push_str(&format!("\n{label}:\n"));
        for line in wrap(text.trim_end(), 88) {
            out.push_str(&format!("  {}\n", s(&line)));
        }
    }
    out
}

/// Lines of at most `width` columns (longer words stay whole); the text's own line breaks
/// are kept (examples are laid out by hand).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    for para in text.lines() {
        if para.starts_with(' ') || para.len() <= width {
            out.push(para.to_string());
            continue;
        }
        let mut line = String::new();
        for word in para.split_whitespace() {
            if !line.is_empty() && line.len() + 1 + word.len() > width {
                out.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        out.push(line);
    }
    out
}
