//! An audit: plan which plugin runs which checks, run each plugin in its sandbox against
//! the evidence (concurrently, each on a blocking thread), and assemble the findings into a
//! [`Report`](crate::findings::Report) for the reporters.
//!
//! - [`loader`]: plugins from the binary and from disk, through the trust policy.
//! - [`assemble`]: the pure part, from plugin outputs to a report.

pub mod assemble;
pub mod loader;

pub use crate::select::CheckFilter;
pub use loader::{load_plugins, FailureKind, LoadFailure, LoadPolicy};

use crate::abi::types;
use crate::evidence::{Answer, Evidence, Query};
use crate::findings::{Finding, PluginReport, Report};
use crate::profile::{Profile, Shown};
use crate::runtime::{Plugin, PluginFailure, QueryLog, RunCost, Runtime};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// The first `-c`/`-e` item that names no check of these plugins under `profile`.
pub fn unmatched_selector(
    plugins: &[Arc<Plugin>],
    profile: &Profile,
    filter: &CheckFilter,
) -> Option<crate::select::Selector> {
    let catalogue = catalogue(plugins, Some(profile));
    let known: Vec<crate::select::CheckRef> = catalogue
        .iter()
        .map(|(_, m, s)| crate::select::CheckRef {
            id: &s.id,
            native: &m.id,
            level: s.level,
        })
        .collect();
    filter.unmatched(&known).first().map(|s| (*s).clone())
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

/// What one plugin's run gave back.
type RunOutcome = (
    Arc<Plugin>,
    Vec<String>,
    Result<(Vec<types::Finding>, QueryLog), PluginFailure>,
    RunCost,
);

/// Start every planned run on a blocking thread; the handles come back in plan order.
fn spawn_runs(
    runtime: &Arc<Runtime>,
    evidence: &Arc<Evidence>,
    planned: Vec<PlannedRun>,
    options: Vec<(String, String)>,
) -> Vec<tokio::task::JoinHandle<RunOutcome>> {
    let handle = tokio::runtime::Handle::current();
    let options = Arc::new(options);
    planned
        .into_iter()
        .map(|(plugin, ids)| {
            let (rt, ev, h, opts) = (
                runtime.clone(),
                evidence.clone(),
                handle.clone(),
                options.clone(),
            );
            tokio::task::spawn_blocking(move || {
                if ids.is_empty() {
                    return (plugin, ids, Ok(Default::default()), RunCost::default());
                }
                let (res, cost) = rt.run(&plugin, ev, h, &ids, &opts);
                (plugin, ids, res, cost)
            })
        })
        .collect()
}

/// One finished run: its findings (or its error finding) and its plugin-table line.
fn settle(
    outcome: RunOutcome,
    profile: Option<&Profile>,
    findings: &mut Vec<Finding>,
) -> PluginReport {
    let (plugin, ids, result, cost) = outcome;
    let error = match result {
        Ok((list, log)) => {
            findings.extend(assemble::run_findings(&plugin, profile, list, &log));
            None
        }
        Err(failure) => {
            let msg = format!("plugin {} {failure}", plugin.name);
            tracing::warn!("{msg}");
            findings.push(assemble::error_finding(
                &plugin.name,
                &plugin.origin,
                msg.clone(),
                vec![format!("checks without a verdict: {}", ids.join(", "))],
            ));
            Some(failure.to_string())
        }
    };
    assemble::plugin_report(&plugin, ids.len(), error, cost)
}

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
    let tasks = spawn_runs(&runtime, &evidence, planned, options);

    let (mut findings, mut reports): (Vec<Finding>, Vec<PluginReport>) =
        load_failures.iter().map(assemble::load_failure).unzip();
    let total = tasks.len();
    // Awaited in plan order, so the plugin table's order does not depend on timing.
    for (done, task) in tasks.into_iter().enumerate() {
        match task.await {
            Ok(outcome) => {
                progress(done + 1, total, &outcome.0.name);
                reports.push(settle(outcome, profile, &mut findings));
            }
            Err(e) => tracing::error!("plugin task failed: {e}"),
        }
    }
    findings.extend(assemble::conflict_findings(&plugins, conflicts));
    let engine = engine_of(&evidence).await;
    let facts = assemble::RunFacts {
        engine,
        live: evidence.is_live(),
        audit_start: evidence.audit_start(),
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        evidence_queries: evidence.query_count(),
        evidence_errors: evidence.error_count(),
    };
    assemble::report(findings, reports, profile, facts)
}

/// The engine the evidence came from, when its version is known (asked before any check,
/// so a replay has it too).
async fn engine_of(evidence: &Evidence) -> Option<crate::findings::Engine> {
    let doc = |a: Answer| match a {
        Answer::Document(v) => Some(v.value()),
        _ => None,
    };
    let version = doc(evidence.query(&Query::DockerVersion).await.ok()?)?;
    let info = evidence.query(&Query::DockerInfo).await.ok().and_then(doc);
    let endpoint = evidence
        .endpoint()
        .unwrap_or_else(|| ("recorded".to_string(), "a snapshot".to_string(), false));
    let mut engine = assemble::engine(&version, info.as_ref(), endpoint);
    if engine.name == "Podman" && !engine.rootless {
        // Podman's own `Rootless` field does not survive the Engine API client's typed
        // info; the user its service runs as does (when that process is visible here).
        engine.rootless = service_user(evidence).await.is_some_and(|uid| uid != 0);
    }
    Some(engine)
}

/// The effective uid of the process serving the API, when it can be read on this host.
async fn service_user(evidence: &Evidence) -> Option<u32> {
    let Answer::Daemon(d) = evidence.query(&Query::DaemonConfig).await.ok()? else {
        return None;
    };
    match evidence.query(&Query::Process { pid: d.pid }).await.ok()? {
        Answer::Process(p) => Some(p.uid_effective),
        _ => None,
    }
}

/// `--observe`: watch these containers with the kernel probes for `duration` and record
/// what each did as its observed profile, so checks can use it.
pub async fn observe(
    evidence: &Evidence,
    endpoint: Option<String>,
    ids: &[String],
    duration: Duration,
) -> Result<(), crate::watch::WatchError> {
    let seen = crate::watch::observe(endpoint.clone(), ids, duration).await?;
    let fits = crate::watch::profile::seccomp_fits(endpoint, &seen).await;
    for (id, fit) in fits {
        evidence.seed(Query::SeccompFit { id }, Ok(Answer::SeccompFit(fit)));
    }
    for (id, profile) in seen {
        evidence.seed(Query::ObservedProfile { id }, Ok(Answer::Observed(profile)));
    }
    Ok(())
}
