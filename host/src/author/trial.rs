//! `bulwark plugin test`: run a plugin's checks in the real sandbox (same limits, same
//! grants an operator would give with `--grant-requested`) against a recorded snapshot, and
//! say what they found, what the run cost, which evidence it used and which it asked for
//! outside its manifest; with an expectations file, which verdicts differ.

use super::AuthorError;
use crate::audit::assemble;
use crate::evidence::{snapshot, Evidence, EvidenceError, Selection, Source};
use crate::findings::{Report, Status};
use crate::runtime::{Grant, GrantPolicy, Origin, QueryLog, Runtime};
use bulwark_query::{Query, Scope};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What one trial run showed.
pub struct Trial {
    /// Its findings and its line in the plugin table (with the run's cost).
    pub report: Report,
    /// The scopes its manifest asks for.
    pub asked: Vec<Grant>,
    /// Queries answered (or not found) per scope.
    pub used: BTreeMap<Scope, usize>,
    /// Queries refused, with why: the manifest does not ask for their scope or path.
    pub refused: Vec<(String, String)>,
}

impl Trial {
    /// Scopes the manifest asks for that the run never used (an operator is asked for
    /// them for nothing).
    pub fn unused(&self) -> Vec<&Grant> {
        self.asked
            .iter()
            .filter(|g| !self.used.contains_key(&g.scope()))
            .collect()
    }
}

/// Run every check of the component in `file` against the snapshot. Blocking.
pub fn run(
    runtime: &Runtime,
    file: &Path,
    snapshot_path: &Path,
    handle: tokio::runtime::Handle,
    all_containers: bool,
) -> Result<Trial, AuthorError> {
    let bytes = std::fs::read(file).map_err(AuthorError::io("cannot read", file))?;
    let snap = snapshot::load(snapshot_path)?;
    let name = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let origin = Origin::File(file.display().to_string());
    let plugin = runtime
        .load(
            &name,
            origin,
            &bytes,
            handle.clone(),
            &GrantPolicy::requested(),
        )
        .map_err(AuthorError::Load)?;
    let selection = Selection {
        all_containers,
        ..Default::default()
    };
    let evidence = Arc::new(Evidence::new(
        Source::Snapshot(snap.answers),
        selection,
        snap.audit_start,
    ));
    let ids: Vec<String> = plugin.checks.iter().map(|c| c.id.clone()).collect();
    let started = std::time::Instant::now();
    let (result, cost) = runtime.run(&plugin, evidence.clone(), handle, &ids, &[]);
    let (findings, error, log) = match result {
        Ok((list, log)) => (assemble::run_findings(&plugin, None, list, &log), None, log),
        Err(failure) => {
            let msg = format!("plugin {} {failure}", plugin.name);
            let f = assemble::error_finding(&plugin.name, &plugin.origin, msg, vec![]);
            (vec![f], Some(failure.to_string()), QueryLog::new())
        }
    };
    let (used, refused) = uses(&log);
    let table = vec![assemble::plugin_report(&plugin, ids.len(), error, cost)];
    let facts = assemble::RunFacts {
        engine: None,
        live: false,
        audit_start: evidence.audit_start(),
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        evidence_queries: evidence.query_count(),
        evidence_errors: evidence.error_count(),
    };
    Ok(Trial {
        report: assemble::report(findings, table, None, facts),
        asked: plugin
            .manifest
            .as_ref()
            .map(|m| m.grants.clone())
            .unwrap_or_default(),
        used,
        refused,
    })
}

/// The scopes a run's queries used, and the queries its grants refused.
fn uses(log: &QueryLog) -> (BTreeMap<Scope, usize>, Vec<(String, String)>) {
    let denied = EvidenceError::Denied(String::new()).to_string();
    let mut used = BTreeMap::new();
    let mut refused = Vec::new();
    for (key, outcome) in log {
        if let Some(why) = outcome.strip_prefix(&denied) {
            refused.push((key.clone(), why.to_string()));
        } else if let Some(scope) = Query::scope_of_key(key) {
            *used.entry(scope).or_insert(0) += 1;
        }
    }
    refused.sort();
    (used, refused)
}

/// An expected verdict that was not met: (check id, expected, what the run gave).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub id: String,
    pub expected: Status,
    pub got: Option<Status>,
}

/// Read an expectations file: TOML, `"CHECK-ID" = "status"` per line.
pub fn read_expectations(path: &Path) -> Result<BTreeMap<String, Status>, AuthorError> {
    let invalid = |reason: String| AuthorError::Expect {
        path: PathBuf::from(path),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(AuthorError::io("cannot read", path))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| invalid(e.message().to_string()))?;
    let names = Status::ALL.map(Status::name).join(", ");
    table
        .into_iter()
        .map(|(id, v)| {
            let s = v
                .as_str()
                .ok_or_else(|| invalid(format!("{id}: the status must be a string ({names})")))?;
            let status = Status::ALL
                .into_iter()
                .find(|st| st.name().eq_ignore_ascii_case(s))
                .ok_or_else(|| invalid(format!("{id}: {s:?} is not a status ({names})")))?;
            Ok((id, status))
        })
        .collect()
}

/// The expected verdicts the report does not have.
pub fn compare(report: &Report, expected: &BTreeMap<String, Status>) -> Vec<Mismatch> {
    expected
        .iter()
        .filter_map(|(id, want)| {
            let got = report
                .findings
                .iter()
                .find(|f| f.check.id == *id)
                .map(|f| f.status);
            (got != Some(*want)).then(|| Mismatch {
                id: id.clone(),
                expected: *want,
                got,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expectations_are_read_strictly() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.toml");
        std::fs::write(&p, "\"X.1\" = \"warn\"\n\"X.2\" = \"PASS\"\n").unwrap();
        let e = read_expectations(&p).unwrap();
        assert_eq!(e["X.1"], Status::Warn);
        assert_eq!(e["X.2"], Status::Pass);
        std::fs::write(&p, "\"X.1\" = \"fine\"\n").unwrap();
        let err = read_expectations(&p).unwrap_err().to_string();
        assert!(err.contains("\"fine\" is not a status"), "{err}");
        std::fs::write(&p, "\"X.1\" = 3\n").unwrap();
        assert!(read_expectations(&p).is_err());
    }

    #[test]
    fn denied_queries_are_told_apart_from_used_scopes() {
        let mut log = QueryLog::new();
        log.insert("container-list".into(), "ok".into());
        log.insert("container-inspect:a".into(), "not found: a".into());
        log.insert(
            "file-read:/etc/shadow".into(),
            EvidenceError::Denied("outside".into()).to_string(),
        );
        let (used, refused) = uses(&log);
        assert_eq!(used.get(&Scope::Containers), Some(&2));
        assert_eq!(
            refused,
            vec![("file-read:/etc/shadow".into(), "outside".into())]
        );
    }
}
