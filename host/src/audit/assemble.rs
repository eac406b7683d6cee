//! Assembling a report from what the plugin runs returned: pure functions, no I/O, so the
//! shape of a report (order, plugin-error findings, provenance filtering) is testable alone.

use super::loader::LoadFailure;
use super::shown;
use crate::abi::types;
use crate::findings::{
    id_key, Benchmark, CheckInfo, EvidenceUse, Finding, PluginReport, Report, Status, Subject,
    SCHEMA,
};
use crate::profile::Profile;
use crate::runtime::{Origin, Plugin, RunCost};
use std::collections::HashMap;
use std::sync::Arc;

/// A finding that says a plugin did not run correctly (it stands for the checks it lost).
pub fn error_finding(
    plugin: &str,
    origin: &Origin,
    message: String,
    details: Vec<String>,
) -> Finding {
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
            doc: None,
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
        baseline: None,
        previous: None,
    }
}

/// A plugin that failed to load: its error finding and its line in the plugin table.
pub fn load_failure(f: &LoadFailure) -> (Finding, PluginReport) {
    let finding = error_finding(
        &f.name,
        &f.origin,
        format!("plugin {} was not loaded: {}", f.name, f.reason),
        vec![],
    );
    let report = PluginReport {
        name: f.name.clone(),
        origin: f.origin.clone(),
        digest: String::new(),
        checks: 0,
        version: None,
        grants: None,
        refused: vec![],
        error: Some(f.reason.clone()),
        cost: None,
    };
    (finding, report)
}

/// The findings of one successful plugin run. `log` is what the host answered in that run
/// (query key → outcome): only those queries become provenance, so a plugin cannot claim
/// evidence it never asked for.
pub fn run_findings(
    plugin: &Plugin,
    profile: Option<&Profile>,
    list: Vec<types::Finding>,
    log: &HashMap<String, String>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for f in list {
        let Some(meta) = plugin.checks.iter().find(|c| c.id == f.check_id) else {
            continue; // validated by the runtime: cannot happen
        };
        let Some(s) = shown(profile, meta) else {
            continue; // planned under this profile: cannot happen
        };
        out.push(Finding {
            check: CheckInfo::new(meta, s, &plugin.name, plugin.docs.get(&meta.id)),
            status: f.status.into(),
            message: f.message,
            reason: f.reason,
            subjects: f.subjects.into_iter().map(Subject::from).collect(),
            details: f.details,
            evidence: f
                .evidence
                .into_iter()
                .filter_map(|q| {
                    let outcome = log.get(&q)?.clone();
                    Some(EvidenceUse { query: q, outcome })
                })
                .collect(),
            suppression: None,
            baseline: None,
            previous: None,
        });
    }
    out
}

/// A plugin's line in the plugin table after it ran.
pub fn plugin_report(
    plugin: &Plugin,
    checks: usize,
    error: Option<String>,
    cost: RunCost,
) -> PluginReport {
    PluginReport {
        name: plugin.name.clone(),
        origin: plugin.origin.clone(),
        digest: plugin.digest.clone(),
        checks,
        version: plugin.manifest.as_ref().map(|m| m.version.clone()),
        grants: Some(plugin.grants.describe()),
        refused: plugin.refused.iter().map(|g| g.describe()).collect(),
        error,
        cost: Some(cost),
    }
}

/// Error findings for check ids a later plugin declared again (the earlier one wins).
pub fn conflict_findings(
    plugins: &[Arc<Plugin>],
    conflicts: Vec<(String, String)>,
) -> Vec<Finding> {
    conflicts
        .into_iter()
        .map(|(plugin, id)| {
            let origin = plugins
                .iter()
                .find(|p| p.name == plugin)
                .map(|p| p.origin.clone())
                .unwrap_or(Origin::Builtin);
            error_finding(
                &plugin,
                &origin,
                format!("plugin {plugin} declares check {id}, which another plugin already provides; ignored"),
                vec![],
            )
        })
        .collect()
}

/// Where the evidence of a report came from and how long it took.
pub struct RunFacts {
    pub engine: Option<crate::findings::Engine>,
    pub live: bool,
    pub audit_start: u64,
    pub duration_ms: f64,
    pub evidence_queries: u64,
    pub evidence_errors: u64,
}

/// Findings in benchmark order (whichever plugin answered first), plugin errors last.
pub fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by_cached_key(|f| (f.check.section == "plugins", id_key(&f.check.id)));
}

/// The report: its findings sorted by [`sort_findings`].
pub fn report(
    mut findings: Vec<Finding>,
    plugins: Vec<PluginReport>,
    profile: Option<&Profile>,
    facts: RunFacts,
) -> Report {
    sort_findings(&mut findings);
    Report {
        schema: SCHEMA,
        tool: "bulwark",
        version: env!("CARGO_PKG_VERSION"),
        abi: crate::abi::ABI_VERSION,
        evidence: if facts.live { "live" } else { "snapshot" },
        audit_start: facts.audit_start,
        duration_ms: facts.duration_ms,
        evidence_queries: facts.evidence_queries,
        evidence_errors: facts.evidence_errors,
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
        plugins,
        findings,
        expired_suppressions: Vec::new(),
        baseline_absent: None,
        engine: facts.engine,
    }
}

/// The engine the evidence describes, from the daemon's version and info documents:
/// Podman names itself among the version's components; a rootless daemon lists
/// `name=rootless` among its security options.
pub fn engine(
    version: &serde_json::Value,
    info: Option<&serde_json::Value>,
    endpoint: (String, String, bool),
) -> crate::findings::Engine {
    let podman = version["Components"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["Name"].as_str().is_some_and(|n| n.contains("Podman")))
    });
    // Podman also says so in its own `Rootless` field.
    let rootless = info.is_some_and(|i| i["Rootless"] == true)
        || info
            .and_then(|i| i["SecurityOptions"].as_array())
            .is_some_and(|o| {
                o.iter()
                    .any(|o| o.as_str().is_some_and(|o| o.contains("name=rootless")))
            });
    let text = |k: &str| version[k].as_str().unwrap_or("unknown").to_string();
    crate::findings::Engine {
        name: if podman { "Podman" } else { "Docker Engine" }.to_string(),
        version: text("Version"),
        api_version: text("ApiVersion"),
        rootless,
        endpoint: endpoint.0,
        via: endpoint.1,
        remote: endpoint.2,
    }
}
