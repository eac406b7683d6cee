//! Benchmark profiles: which recommendations a benchmark version has, under which ids,
//! titles, Automated/Manual flags and levels, each mapped onto one check implementation.
//! Profiles are data (`host/profiles/*.toml`); checks are written once.
//!
//! A check tagged `cis-docker-*` belongs to the CIS benchmark and is shown only when the
//! selected profile maps it (so 1.8.0's new 2.7 is absent from a 1.6.0 run). Checks
//! without such a tag (Docker Bench's §8 and community checks, third-party plugins) are
//! shown under every profile with their own ids.

use crate::abi::types::CheckMeta;
use serde::Deserialize;

/// The profile a run uses when none is named: drop-in for Docker Bench users.
pub const DEFAULT: &str = "cis-1.6.0";

const SOURCES: &[(&str, &str)] = &[
    ("cis-1.6.0", include_str!("../profiles/cis-1.6.0.toml")),
    ("cis-1.7.0", include_str!("../profiles/cis-1.7.0.toml")),
    ("cis-1.8.0", include_str!("../profiles/cis-1.8.0.toml")),
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Row {
    pub id: String,
    /// The implementing check's own id; the row's id when absent.
    #[serde(default)]
    pub check: Option<String>,
    pub title: String,
    pub automated: bool,
    pub level: u8,
    #[serde(default)]
    pub swarm: bool,
}

impl Row {
    pub fn check(&self) -> &str {
        self.check.as_deref().unwrap_or(&self.id)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub id: String,
    pub title: String,
    /// Take every check with this tag as it declares itself (the pack's native benchmark).
    #[serde(default)]
    pub inherit_tag: Option<String>,
    pub checks: Vec<Row>,
}

/// How a check appears under a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub id: String,
    pub title: String,
    pub automated: bool,
    pub scored: bool,
    pub level: u8,
}

impl Shown {
    /// A check as it declares itself.
    pub fn native(m: &CheckMeta) -> Shown {
        Shown {
            id: m.id.clone(),
            title: m.title.clone(),
            automated: m.automated,
            scored: m.scored,
            level: m.level,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("no benchmark {0:?}; known: {1}")]
    Unknown(String, String),
    #[error("benchmark profile {0} is malformed")]
    Malformed(String, #[source] toml::de::Error),
    #[error("benchmark profile {0} calls itself {1:?}")]
    Misnamed(String, String),
}

fn is_cis(m: &CheckMeta) -> bool {
    m.tags.iter().any(|t| t.starts_with("cis-docker-"))
}

impl Profile {
    /// A built-in profile by name.
    pub fn named(name: &str) -> Result<Profile, ProfileError> {
        let Some((_, text)) = SOURCES.iter().find(|(n, _)| *n == name) else {
            return Err(ProfileError::Unknown(name.to_string(), names().join(", ")));
        };
        let p: Profile =
            toml::from_str(text).map_err(|e| ProfileError::Malformed(name.to_string(), e))?;
        if p.id != name {
            return Err(ProfileError::Misnamed(name.to_string(), p.id));
        }
        Ok(p)
    }

    /// How `m` appears under this profile; `None` when the benchmark has no such check.
    pub fn show(&self, m: &CheckMeta) -> Option<Shown> {
        if !is_cis(m) {
            return Some(Shown::native(m));
        }
        if let Some(tag) = &self.inherit_tag {
            if m.tags.iter().any(|t| t == tag) {
                return Some(Shown::native(m));
            }
        }
        let row = self.checks.iter().find(|r| r.check() == m.id)?;
        Some(Shown {
            id: row.id.clone(),
            title: row.title.clone(),
            automated: row.automated,
            // "Scored" is a CIS 1.6.0 (Docker Bench) notion; later benchmarks have none.
            scored: false,
            level: row.level,
        })
    }
}

/// Names of the built-in profiles, oldest first.
pub fn names() -> Vec<&'static str> {
    SOURCES.iter().map(|(n, _)| *n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(id: &str, tags: &[&str]) -> CheckMeta {
        CheckMeta {
            id: id.into(),
            title: format!("native {id}"),
            section: id.split('.').next().unwrap_or(id).into(),
            section_title: String::new(),
            level: 1,
            scored: true,
            automated: true,
            description: String::new(),
            remediation: String::new(),
            remediation_impact: String::new(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn every_profile_parses_with_unique_ids_and_implementations() {
        for name in names() {
            let p = Profile::named(name).unwrap();
            let mut ids: Vec<&str> = p.checks.iter().map(|r| r.id.as_str()).collect();
            let mut impls: Vec<&str> = p.checks.iter().map(|r| r.check()).collect();
            ids.sort();
            impls.sort();
            let n = ids.len();
            ids.dedup();
            impls.dedup();
            assert_eq!((ids.len(), impls.len()), (n, n), "{name}");
        }
        assert_eq!(Profile::named("cis-1.7.0").unwrap().checks.len(), 117);
        assert_eq!(Profile::named("cis-1.8.0").unwrap().checks.len(), 118);
        assert!(Profile::named("cis-9.9").is_err());
    }

    #[test]
    fn renumbering_retitling_and_pass_through() {
        let p18 = Profile::named("cis-1.8.0").unwrap();
        let p16 = Profile::named("cis-1.6.0").unwrap();
        let tls = meta("2.7", &["cis-docker-1.6.0"]);
        assert_eq!(p16.show(&tls).unwrap().id, "2.7");
        let s = p18.show(&tls).unwrap();
        assert_eq!(s.id, "2.8");
        assert_eq!(
            s.title,
            "Ensure TLS authentication for Docker daemon is configured"
        );
        assert!(!s.automated && !s.scored);
        let dm = meta("2.devicemapper", &["cis-docker-1.8.0"]);
        assert_eq!(p18.show(&dm).unwrap().id, "2.7");
        assert_eq!(p16.show(&dm), None, "1.6.0 has no devicemapper check");
        assert_eq!(Profile::named("cis-1.7.0").unwrap().show(&dm), None);
        let sock = p18.show(&meta("1.1.9", &["cis-docker-1.6.0"])).unwrap();
        assert!(sock.title.ends_with("- docker.sock"));
        let community = meta("C.1", &["community"]);
        assert_eq!(p18.show(&community).unwrap().id, "C.1");
        assert_eq!(
            p18.show(&meta("5.1", &["cis-docker-1.6.0"])).unwrap().level,
            1
        );
    }
}
