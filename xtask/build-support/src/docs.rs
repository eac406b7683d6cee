//! Check documentation: a plugin crate's `checks.toml` (one table per check id) becomes the
//! JSON of its `bulwark-docs` section, so every check carries its own explanation.

use super::BuildError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The documentation file beside a plugin crate's Cargo.toml.
pub const DOCS_FILE: &str = "checks.toml";

/// What a check's documentation says, in the plugin author's words.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckDoc {
    /// What the check verifies.
    pub what: String,
    /// Why it matters: what an attacker or an accident gains when it is not met.
    pub why: String,
    /// How the check decides: which evidence, and what makes each verdict.
    pub decides: String,
    /// How to fix it.
    pub remediation: String,
    /// A concrete example of the fix (a command, a configuration fragment).
    pub example: String,
    /// What the fix costs or may break.
    pub impact: String,
}

impl CheckDoc {
    fn fields(&self) -> [(&'static str, &str); 6] {
        [
            ("what", &self.what),
            ("why", &self.why),
            ("decides", &self.decides),
            ("remediation", &self.remediation),
            ("example", &self.example),
            ("impact", &self.impact),
        ]
    }
}

/// The documentation JSON (check id → [`CheckDoc`]) of the crate in `crate_dir`, or `None`
/// when it has no `checks.toml`. Every field of every entry must be present and non-empty.
pub fn docs_json(crate_dir: &Path) -> Result<Option<String>, BuildError> {
    let path = crate_dir.join(DOCS_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|source| BuildError::Read {
        path: path.clone(),
        source,
    })?;
    let docs: BTreeMap<String, CheckDoc> =
        toml::from_str(&text).map_err(|source| BuildError::Toml {
            path: path.clone(),
            source,
        })?;
    for (id, doc) in &docs {
        if let Some((name, _)) = doc.fields().iter().find(|(_, v)| v.trim().is_empty()) {
            return Err(BuildError::Invalid {
                path,
                reason: format!("check {id}: `{name}` is empty"),
            });
        }
    }
    Ok(Some(serde_json::to_string(&docs)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_are_read_and_validated() {
        let dir = std::env::temp_dir().join(format!("bw-docs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(docs_json(&dir).unwrap(), None);
        let full = "[\"5.1\"]\nwhat = \"a\"\nwhy = \"b\"\ndecides = \"c\"\nremediation = \"d\"\nexample = \"e\"\nimpact = \"f\"\n";
        std::fs::write(dir.join(DOCS_FILE), full).unwrap();
        let json = docs_json(&dir).unwrap().unwrap();
        let back: BTreeMap<String, CheckDoc> = serde_json::from_str(&json).unwrap();
        assert_eq!(back["5.1"].impact, "f");
        std::fs::write(dir.join(DOCS_FILE), full.replace("\"f\"", "\" \"")).unwrap();
        let e = docs_json(&dir).unwrap_err().to_string();
        assert!(e.contains("`impact` is empty"), "{e}");
        std::fs::write(dir.join(DOCS_FILE), full.replace("impact", "impakt")).unwrap();
        assert!(matches!(docs_json(&dir), Err(BuildError::Toml { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
