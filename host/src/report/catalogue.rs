//! `bulwark checks`: the check list, one line per check in benchmark order.

use super::sanitize as s;
use crate::findings::id_key;
use crate::profile::Shown;

/// One line per (plugin name, shown check), sorted by check id.
pub fn check_list<'a>(rows: impl IntoIterator<Item = (&'a str, &'a Shown)>) -> String {
    let mut rows: Vec<(&str, &Shown)> = rows.into_iter().collect();
    rows.sort_by_key(|(_, c)| id_key(&c.id));
    let mut out = String::new();
    for (plugin, c) in rows {
        out.push_str(&format!(
            "{:<8} L{} {:<9} {:<14} {}\n",
            s(&c.id),
            c.level,
            if c.automated { "Automated" } else { "Manual" },
            s(plugin),
            s(&c.title)
        ));
    }
    out
}
