//! `bulwark explain`: one check's description, rationale and remediation, as the selected
//! benchmark shows it.

use super::sanitize as s;
use crate::abi::types::CheckMeta;
use crate::profile::{Profile, Shown};

/// The explanation of check `c` (declared by `plugin`), shown as `shown` under `profile`.
pub fn check(profile: &Profile, plugin: &str, c: &CheckMeta, shown: &Shown) -> String {
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
    for (label, text) in [
        ("Rationale", &c.description),
        ("Remediation", &c.remediation),
        ("Impact", &c.remediation_impact),
    ] {
        if !text.is_empty() {
            out.push_str(&format!("\n{label}:\n  {}\n", s(text)));
        }
    }
    out
}
