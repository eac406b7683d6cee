//! An audit: load plugins, select checks, run each plugin in its sandbox against the
//! evidence, and gather the findings into a [`Report`] for the reporters.

use crate::abi::types;
use crate::evidence::Evidence;
use crate::profile::{Profile, Shown};
use crate::runtime::{Origin, Plugin, RunCost, Runtime};
pub use crate::select::CheckFilter;
use serde::Serialize;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// A verdict status, as reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Info,
    Note,
    Undecided,
    Skipped,
    Error,
}

impl Status {
    /// The lower-case name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Info => "info",
            Status::Note => "note",
            Status::Undecided => "undecided",
            Status::Skipped => "skipped",
            Status::Error => "error",
        }
    }

    pub fn tag(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Info => "INFO",
            Status::Note => "NOTE",
            Status::Undecided => "UNDECIDED",
            Status::Skipped => "SKIP",
            Status::Error => "ERROR",
        }
    }
}

impl From<types::Status> for Status {
    fn from(s: types::Status) -> Self {
        match s {
            types::Status::Pass => Status::Pass,
            types::Status::Warn => Status::Warn,
            types::Status::Info => Status::Info,
            types::Status::Note => Status::Note,
            types::Status::Undecided => Status::Undecided,
            types::Status::Skipped => Status::Skipped,
            types::Status::Error => Status::Error,
        }
    }
}

/// What a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Subject {
    Host,
    Daemon,
    Container { id: String, name: String },
    Image { name: String },
    File { path: String },
    Plugin { name: String },
}

impl Subject {
    /// The subject's name: a container or image name, a file path, "host", "daemon".
    pub fn name(&self) -> &str {
        match self {
            Subject::Container { name, .. }
            | Subject::Image { name }
            | Subject::Plugin { name } => name,
            Subject::File { path } => path,
            Subject::Host => "host",
            Subject::Daemon => "daemon",
        }
    }
}

impl From<types::Subject> for Subject {
    fn from(s: types::Subject) -> Self {
        match s {
            types::Subject::Host => Subject::Host,
            types::Subject::Daemon => Subject::Daemon,
            types::Subject::Container(c) => Subject::Container {
                id: c.id,
                name: c.name,
            },
            types::Subject::Image(name) => Subject::Image { name },
            types::Subject::File(path) => Subject::File { path },
        }
    }
}

/// Static description of a check as the selected benchmark shows it, with the plugin
/// that provides it.
#[derive(Debug, Clone, Serialize)]
pub struct CheckInfo {
    /// The id in the selected benchmark.
    pub id: String,
    /// The id the plugin declares (CIS 1.6.0 numbering for the built-in pack).
    pub implementation: String,
    pub title: String,
    pub section: String,
    pub section_title: String,
    pub level: u8,
    pub scored: bool,
    pub automated: bool,
    pub description: String,
    pub remediation: String,
    pub remediation_impact: String,
    pub tags: Vec<String>,
    pub plugin: String,
}

impl CheckInfo {
    fn new(m: &types::CheckMeta, shown: Shown, plugin: &str) -> Self {
        CheckInfo {
            id: shown.id,
            implementation: m.id.clone(),
            title: shown.title,
            section: m.section.clone(),
            section_title: m.section_title.clone(),
            level: shown.level,
            scored: shown.scored,
            automated: shown.automated,
            description: m.description.clone(),
            remediation: m.remediation.clone(),
            remediation_impact: m.remediation_impact.clone(),
            tags: m.tags.clone(),
            plugin: plugin.to_string(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub check: CheckInfo,
    pub status: Status,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub subjects: Vec<Subject>,
    pub details: Vec<String>,
    /// Provenance: the evidence queries the verdict rests on and how each went.
    pub evidence: Vec<EvidenceUse>,
    /// Set when an operator's suppression accepts this finding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppression: Option<crate::suppress::Suppression>,
}

/// One evidence query behind a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvidenceUse {
    pub query: String,
    /// "ok", or why the query failed ("denied: ...", "not found: ...").
    pub outcome: String,
}

impl Finding {
    /// The detail line a check wrote about one of its subjects ("name: why"), if any.
    pub fn detail_for(&self, s: &Subject) -> Option<&str> {
        let name = s.name();
        self.details
            .iter()
            .find(|d| d.strip_prefix(name).is_some_and(|r| r.starts_with(':')))
            .map(String::as_str)
    }
}

/// How one plugin fared.
#[derive(Debug, Clone, Serialize)]
pub struct PluginReport {
    pub name: String,
    pub origin: Origin,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub digest: String,
    pub checks: usize,
    /// Its manifest's version, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The evidence scopes its runs had ("all" for built-ins).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grants: Option<String>,
    /// Scopes its manifest asked for that the operator did not grant.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<RunCost>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub tool: &'static str,
    pub version: &'static str,
    pub abi: &'static str,
    /// "live" or "snapshot".
    pub evidence: &'static str,
    pub audit_start: u64,
    pub duration_ms: f64,
    pub evidence_queries: u64,
    /// The benchmark whose ids and titles the findings carry.
    pub benchmark: Benchmark,
    pub plugins: Vec<PluginReport>,
    pub findings: Vec<Finding>,
    /// Suppressions past their expiry date, which no longer apply.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expired_suppressions: Vec<crate::suppress::Suppression>,
}

impl Report {
    /// Findings by status (suppressed ones under "suppressed", not their status).
    pub fn summary(&self) -> std::collections::BTreeMap<&'static str, usize> {
        let mut m = std::collections::BTreeMap::new();
        for f in &self.findings {
            let key = if f.suppression.is_some() {
                "suppressed"
            } else {
                f.status.name()
            };
            *m.entry(key).or_insert(0) += 1;
        }
        m
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Benchmark {
    pub id: String,
    pub title: String,
}

/// How a check appears in a run: under `profile`, or with its own metadata when none.
pub fn shown(profile: Option<&Profile>, m: &types::CheckMeta) -> Option<Shown> {
    match profile {
        Some(p) => p.show(m),
        None => Some(Shown::native(m)),
    }
}

/// Every check the plugins provide as `profile` shows it: (plugin, declared meta, shown).
pub fn catalogue<'a>(
    plugins: &'a [Arc<Plugin>],
    profile: Option<&Profile>,
) -> Vec<(&'a Arc<Plugin>, &'a types::CheckMeta, Shown)> {
    plugins
        .iter()
        .flat_map(|p| {
            p.checks
                .iter()
                .filter_map(move |m| shown(profile, m).map(|s| (p, m, s)))
        })
        .collect()
}

/// A plugin that failed to load.
#[derive(Debug, Clone)]
pub struct LoadFailure {
    pub name: String,
    pub origin: Origin,
    pub reason: String,
}

/// Sort key for check ids: numeric parts as numbers ("1.1.10" after "1.1.9"), and ids
/// that do not start with a number (C.1, EX.1) after the numbered sections.
pub fn id_key(id: &str) -> Vec<(u8, u64, String)> {
    id.split('.')
        .map(|p| match p.parse::<u64>() {
            Ok(n) => (0, n, String::new()),
            Err(_) => (1, 0, p.to_string()),
        })
        .collect()
}

/// What the operator allows third-party plugins: evidence scopes, and whose signatures.
#[derive(Debug, Clone, Default)]
pub struct LoadPolicy {
    pub grants: crate::runtime::GrantPolicy,
    pub trust: crate::trust::Trust,
}

/// Load the built-in plugins and every `*.wasm` in `dirs` (sorted by file name).
/// Unreadable directories are an error; a bad, unsigned or tampered plugin file is a
/// [`LoadFailure`], and nothing of it runs.
pub async fn load_plugins(
    runtime: &Arc<Runtime>,
    builtin: bool,
    dirs: &[PathBuf],
    policy: &LoadPolicy,
) -> std::io::Result<(Vec<Arc<Plugin>>, Vec<LoadFailure>)> {
    let mut sources: Vec<(String, Origin, Vec<u8>)> = Vec::new();
    if builtin {
        for (name, bytes) in crate::runtime::BUILTIN {
            sources.push((name.to_string(), Origin::Builtin, bytes.to_vec()));
        }
    }
    let mut failures = Vec::new();
    for dir in dirs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| {
                std::io::Error::new(e.kind(), format!("plugin directory {}: {e}", dir.display()))
            })?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
            .collect();
        files.sort();
        for f in files {
            let name = f
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let origin = Origin::File(f.display().to_string());
            match std::fs::read(&f) {
                Ok(bytes) => match policy.trust.check(&f, &bytes) {
                    Ok(signer) => {
                        if let Some(k) = signer {
                            tracing::info!("plugin {name}: signature by key {k} verified");
                        }
                        sources.push((name, origin, bytes))
                    }
                    Err(e) => failures.push(LoadFailure {
                        name,
                        origin,
                        reason: format!("signature check failed: {e}"),
                    }),
                },
                Err(e) => failures.push(LoadFailure {
                    name,
                    origin,
                    reason: format!("cannot read {}: {e}", f.display()),
                }),
            }
        }
    }
    let mut plugins = Vec::new();
    let handle = tokio::runtime::Handle::current();
    for (name, origin, bytes) in sources {
        let rt = runtime.clone();
        let h = handle.clone();
        let (n, o) = (name.clone(), origin.clone());
        let grants = policy.grants.clone();
        let loaded = tokio::task::spawn_blocking(move || rt.load(&n, o, &bytes, h, &grants)).await;
        match loaded {
            Ok(Ok(p)) => plugins.push(Arc::new(p)),
            Ok(Err(e)) => failures.push(LoadFailure {
                name,
                origin,
                reason: e.to_string(),
            }),
            Err(e) => failures.push(LoadFailure {
                name,
                origin,
                reason: format!("loader crashed: {e}"),
            }),
        }
    }
    Ok((plugins, failures))
}

/// A plugin and the ids it will be asked to run.
pub type PlannedRun = (Arc<Plugin>, Vec<String>);
/// (plugin, check id) of a check id already provided by an earlier plugin.
pub type Conflict = (String, String);

/// The checks each plugin will run (by their declared ids), after the benchmark profile,
/// the filter, and dropping ids an earlier plugin already provides (built-ins come first,
/// so a third party cannot shadow them).
pub fn plan(
    plugins: &[Arc<Plugin>],
    filter: &CheckFilter,
    profile: Option<&Profile>,
) -> (Vec<PlannedRun>, Vec<Conflict>) {
    let mut taken = HashSet::new();
    let mut out = Vec::new();
    let mut conflicts = Vec::new();
    for p in plugins {
        let mut ids = Vec::new();
        for c in &p.checks {
            let Some(s) = shown(profile, c) else { continue };
            if !taken.insert(s.id.clone()) {
                conflicts.push((p.name.clone(), s.id.clone()));
                continue;
            }
            if filter.selects(crate::select::CheckRef {
                id: &s.id,
                native: &c.id,
                level: s.level,
            }) {
                ids.push(c.id.clone());
            }
        }
        out.push((p.clone(), ids));
    }
    (out, conflicts)
}

fn error_finding(plugin: &str, origin: &Origin, message: String, details: Vec<String>) -> Finding {
    Finding {
        check: CheckInfo {
            id: format!("plugin:{plugin}"),
            implementation: format!("plugin:{plugin}"),
            title: format!("Plugin {plugin} runs correctly"),
            section: "plugins".to_string(),
            section_title: "Plugins".to_string(),
            level: 0,
            scored: false,
            automated: true,
            description: String::new(),
            remediation: match origin {
                Origin::Builtin => "Report this as a Bulwark bug.".to_string(),
                Origin::File(p) => format!("Fix or remove the plugin {p}."),
            },
            remediation_impact: String::new(),
            tags: vec!["plugin-error".to_string()],
            plugin: plugin.to_string(),
        },
        status: Status::Error,
        message,
        reason: None,
        subjects: vec![Subject::Plugin {
            name: plugin.to_string(),
        }],
        details,
        evidence: vec![],
        suppression: None,
    }
}

/// What to run: which checks, under which benchmark, with which operator options.
pub struct RunSpec<'a> {
    pub filter: &'a CheckFilter,
    /// `None`: every check under its own id (used to record snapshots).
    pub profile: Option<&'a Profile>,
    pub options: Vec<(String, String)>,
}

/// Run an audit. Plugins run concurrently, each on a blocking thread in its own store.
pub async fn run(
    runtime: Arc<Runtime>,
    evidence: Arc<Evidence>,
    plugins: Vec<Arc<Plugin>>,
    load_failures: Vec<LoadFailure>,
    spec: RunSpec<'_>,
) -> Report {
    run_with_progress(
        runtime,
        evidence,
        plugins,
        load_failures,
        spec,
        &|_, _, _| {},
    )
    .await
}

/// Called as plugins finish: (finished, total, plugin name).
pub type Progress<'a> = &'a (dyn Fn(usize, usize, &str) + Sync);

/// [`run`], reporting each finished plugin to `progress`.
pub async fn run_with_progress(
    runtime: Arc<Runtime>,
    evidence: Arc<Evidence>,
    plugins: Vec<Arc<Plugin>>,
    load_failures: Vec<LoadFailure>,
    spec: RunSpec<'_>,
    progress: Progress<'_>,
) -> Report {
    let RunSpec {
        filter,
        profile,
        options,
    } = spec;
    let started = Instant::now();
    let (planned, conflicts) = plan(&plugins, filter, profile);
    let handle = tokio::runtime::Handle::current();
    let options = Arc::new(options);

    let mut tasks = Vec::new();
    for (plugin, ids) in planned {
        let (rt, ev, h, opts) = (
            runtime.clone(),
            evidence.clone(),
            handle.clone(),
            options.clone(),
        );
        tasks.push(tokio::task::spawn_blocking(move || {
            if ids.is_empty() {
                return (plugin, ids, Ok(Default::default()), RunCost::default());
            }
            let (res, cost) = rt.run(&plugin, ev, h, &ids, &opts);
            (plugin, ids, res, cost)
        }));
    }

    let mut findings = Vec::new();
    let mut reports = Vec::new();
    for f in &load_failures {
        findings.push(error_finding(
            &f.name,
            &f.origin,
            format!("plugin {} was not loaded: {}", f.name, f.reason),
            vec![],
        ));
        reports.push(PluginReport {
            name: f.name.clone(),
            origin: f.origin.clone(),
            digest: String::new(),
            checks: 0,
            version: None,
            grants: None,
            refused: vec![],
            error: Some(f.reason.clone()),
            cost: None,
        });
    }
    let total = tasks.len();
    for (done, task) in tasks.into_iter().enumerate() {
        let outcome = task.await;
        if let Ok((p, _, _, _)) = &outcome {
            progress(done + 1, total, &p.name);
        }
        let (plugin, ids, result, cost) = match outcome {
            Ok(t) => t,
            Err(e) => {
                tracing::error!("plugin task failed: {e}");
                continue;
            }
        };
        let error = match result {
            Ok((list, log)) => {
                for f in list {
                    let Some(meta) = plugin.checks.iter().find(|c| c.id == f.check_id) else {
                        continue; // validated by the runtime: cannot happen
                    };
                    let Some(s) = shown(profile, meta) else {
                        continue; // planned under this profile: cannot happen
                    };
                    findings.push(Finding {
                        check: CheckInfo::new(meta, s, &plugin.name),
                        status: f.status.into(),
                        message: f.message,
                        reason: f.reason,
                        subjects: f.subjects.into_iter().map(Subject::from).collect(),
                        details: f.details,
                        // Only queries the host answered in this run: a plugin cannot
                        // claim evidence it never asked for.
                        evidence: f
                            .evidence
                            .into_iter()
                            .filter_map(|q| {
                                let outcome = log.get(&q)?.clone();
                                Some(EvidenceUse { query: q, outcome })
                            })
                            .collect(),
                        suppression: None,
                    });
                }
                None
            }
            Err(failure) => {
                let msg = format!("plugin {} {failure}", plugin.name);
                tracing::warn!("{msg}");
                findings.push(error_finding(
                    &plugin.name,
                    &plugin.origin,
                    msg.clone(),
                    vec![format!("checks without a verdict: {}", ids.join(", "))],
                ));
                Some(failure.to_string())
            }
        };
        reports.push(PluginReport {
            name: plugin.name.clone(),
            origin: plugin.origin.clone(),
            digest: plugin.digest.clone(),
            checks: ids.len(),
            version: plugin.manifest.as_ref().map(|m| m.version.clone()),
            grants: Some(plugin.grants.describe()),
            refused: plugin.refused.iter().map(|g| g.describe()).collect(),
            error,
            cost: Some(cost),
        });
    }
    for (plugin, id) in conflicts {
        let origin = plugins
            .iter()
            .find(|p| p.name == plugin)
            .map(|p| p.origin.clone())
            .unwrap_or(Origin::Builtin);
        findings.push(error_finding(
            &plugin,
            &origin,
            format!("plugin {plugin} declares check {id}, which another plugin already provides; ignored"),
            vec![],
        ));
    }
    // Report order is benchmark order, whichever plugin answered first; plugin errors last.
    findings.sort_by(|a, b| {
        (a.check.section == "plugins", id_key(&a.check.id))
            .cmp(&(b.check.section == "plugins", id_key(&b.check.id)))
    });
    Report {
        schema: crate::report::SCHEMA,
        tool: "bulwark",
        version: env!("CARGO_PKG_VERSION"),
        abi: crate::abi::ABI_VERSION,
        evidence: if evidence.is_live() {
            "live"
        } else {
            "snapshot"
        },
        audit_start: evidence.audit_start(),
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        evidence_queries: evidence.query_count(),
        benchmark: match profile {
            Some(p) => Benchmark {
                id: p.id.clone(),
                title: p.title.clone(),
            },
            None => Benchmark {
                id: "native".to_string(),
                title: "every check under its plugin's own id".to_string(),
            },
        },
        plugins: reports,
        findings,
        expired_suppressions: Vec::new(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A plain WARN finding for check `id`, for unit tests of what consumes findings.
    pub(crate) fn finding(id: &str) -> Finding {
        Finding {
            check: CheckInfo {
                id: id.to_string(),
                implementation: id.to_string(),
                title: format!("check {id}"),
                section: id.split('.').next().unwrap_or(id).to_string(),
                section_title: "Section".to_string(),
                level: 1,
                scored: true,
                automated: true,
                description: String::new(),
                remediation: String::new(),
                remediation_impact: String::new(),
                tags: vec![],
                plugin: "test".to_string(),
            },
            status: Status::Warn,
            message: String::new(),
            reason: None,
            subjects: vec![],
            details: vec![],
            evidence: vec![],
            suppression: None,
        }
    }

    #[test]
    fn ids_sort_naturally() {
        let mut ids = vec!["5.10", "C.1", "1.1.10", "5.2", "1.1.9", "10.1", "4.1"];
        ids.sort_by_key(|i| id_key(i));
        assert_eq!(
            ids,
            vec!["1.1.9", "1.1.10", "4.1", "5.2", "5.10", "10.1", "C.1"]
        );
    }
}
