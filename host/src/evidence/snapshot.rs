//! Evidence snapshots: every answer of an audit, written to a JSON file and replayed later,
//! so that an audit is reproducible anywhere without touching the host it describes.

use super::{Answer, Evidence, EvidenceError, Outcome, Query};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

pub const FORMAT: &str = "bulwark/evidence-snapshot";
pub const VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("cannot read snapshot {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write snapshot {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a valid Bulwark snapshot: {reason}")]
    Malformed { path: String, reason: String },
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    query: Query,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    answer: Option<Answer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<EvidenceError>,
}

#[derive(Debug, Serialize, Deserialize)]
struct File {
    format: String,
    version: u32,
    /// Bulwark version that recorded it.
    bulwark: String,
    /// Unix time the recorded audit started; replays use it as their clock.
    audit_start: u64,
    entries: Vec<Entry>,
}

/// A loaded snapshot.
pub struct Snapshot {
    pub audit_start: u64,
    pub answers: HashMap<Query, Outcome>,
}

/// Ask the questions every snapshot records, whether or not a loaded plugin asks them
/// today: the daemon, the lists, and each container's inspect document and processes.
pub async fn record_standard(evidence: &Evidence) {
    for q in [
        Query::DockerInfo,
        Query::DockerVersion,
        Query::ContainerList,
        Query::ImageList,
        Query::NetworkList,
        Query::SwarmInspect,
        Query::DaemonConfig,
        Query::AuditRules,
        Query::Auditor,
    ] {
        let _ = evidence.query(&q).await;
    }
    if let Ok(containers) = evidence.selected_containers().await {
        for ctr in containers {
            let _ = evidence
                .query(&Query::ContainerInspect { id: ctr.id.clone() })
                .await;
            let _ = evidence
                .query(&Query::ContainerProcesses { id: ctr.id })
                .await;
        }
    }
}

pub fn save(
    path: &Path,
    audit_start: u64,
    answers: &BTreeMap<Query, Outcome>,
) -> Result<(), SnapshotError> {
    let shown = path.display().to_string();
    let text = encode(audit_start, answers).map_err(|e| SnapshotError::Write {
        path: shown.clone(),
        source: std::io::Error::other(e),
    })?;
    // Write beside the target and rename, so a failed write never leaves half a snapshot.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|source| SnapshotError::Write {
            path: shown,
            source,
        })
}

/// A snapshot's file contents (pretty JSON), as [`save`] writes them.
pub fn encode(
    audit_start: u64,
    answers: &BTreeMap<Query, Outcome>,
) -> Result<Vec<u8>, serde_json::Error> {
    let file = File {
        format: FORMAT.to_string(),
        version: VERSION,
        bulwark: env!("CARGO_PKG_VERSION").to_string(),
        audit_start,
        entries: answers
            .iter()
            .map(|(q, o)| Entry {
                query: q.clone(),
                answer: o.as_ref().ok().cloned(),
                error: o.as_ref().err().cloned(),
            })
            .collect(),
    };
    serde_json::to_vec_pretty(&file)
}

pub fn load(path: &Path) -> Result<Snapshot, SnapshotError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| SnapshotError::Read {
        path: shown.clone(),
        source,
    })?;
    parse(&bytes, &shown)
}

/// Read a snapshot file's contents; `path` names it in errors.
pub fn parse(bytes: &[u8], path: &str) -> Result<Snapshot, SnapshotError> {
    let malformed = |reason: String| SnapshotError::Malformed {
        path: path.to_string(),
        reason,
    };
    let file: File = serde_json::from_slice(bytes).map_err(|e| malformed(e.to_string()))?;
    if file.format != FORMAT {
        return Err(malformed(format!(
            "format is {:?}, expected {FORMAT:?}",
            file.format
        )));
    }
    if file.version != VERSION {
        return Err(malformed(format!(
            "version {} is not supported (this Bulwark reads version {VERSION})",
            file.version
        )));
    }
    let mut answers = HashMap::with_capacity(file.entries.len());
    for (i, e) in file.entries.into_iter().enumerate() {
        let outcome = match (e.answer, e.error) {
            (Some(a), None) => Ok(a),
            (None, Some(err)) => Err(err),
            _ => {
                return Err(malformed(format!(
                    "entry {i} must have exactly one of answer/error"
                )))
            }
        };
        if answers.insert(e.query.clone(), outcome).is_some() {
            return Err(malformed(format!("entry {i} repeats {:?}", e.query)));
        }
    }
    Ok(Snapshot {
        audit_start: file.audit_start,
        answers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_malformed_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.json");
        let mut m = BTreeMap::new();
        m.insert(
            Query::DockerInfo,
            Ok(Answer::Document(
                serde_json::json!({"Driver": "overlay2"}).into(),
            )),
        );
        m.insert(
            Query::FileStat {
                path: "/nope".into(),
            },
            Err(EvidenceError::NotFound("/nope".into())),
        );
        save(&p, 42, &m).unwrap();
        let s = load(&p).unwrap();
        assert_eq!(s.audit_start, 42);
        assert_eq!(s.answers.len(), 2);
        assert_eq!(s.answers[&Query::DockerInfo], m[&Query::DockerInfo]);

        for (text, needle) in [
            ("{", "EOF"),
            (
                r#"{"format":"x","version":1,"bulwark":"","audit_start":0,"entries":[]}"#,
                "format",
            ),
            (
                r#"{"format":"bulwark/evidence-snapshot","version":9,"bulwark":"","audit_start":0,"entries":[]}"#,
                "version 9",
            ),
            (
                r#"{"format":"bulwark/evidence-snapshot","version":1,"bulwark":"","audit_start":0,"entries":[{"query":{"query":"docker-info"}}]}"#,
                "exactly one",
            ),
        ] {
            std::fs::write(&p, text).unwrap();
            let err = load(&p).err().unwrap().to_string();
            assert!(err.contains(needle), "{err}");
        }
    }
}
