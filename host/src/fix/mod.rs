//! Closing the loop: from an audit's failing findings to a remediation plan, and the safe
//! part of it applied with a backup to roll back to.
//!
//! - [`catalog`]: what mechanically fixes each built-in check.
//! - [`daemon_json`]: the proposed daemon.json (order kept) and its diff.
//! - [`container`]: run flags and Compose keys per container check.
//! - [`apply`]: backups, applying the host-side parts, restoring on failure, rollback.
//! - [`restart`]: how the daemon runs, and restarting it.
//!
//! A plan has the daemon.json changes (with the keys that conflict with the daemon's
//! command line or its swarm mode left out, and said why), file owners and modes, audit
//! rules, per-container run changes, and every failing check with no mechanical fix with
//! the reason. `fix --apply` touches only daemon.json, file owners and modes and the audit
//! rules file; containers are re-created by their owners.

pub mod apply;
pub mod catalog;
pub mod container;
pub mod daemon_json;
pub mod restart;

use crate::abi::ev;
use crate::evidence::{Answer, Evidence, Query};
use crate::findings::{Finding, Report, Status, Subject};
use catalog::Remedy;
use container::RunChange;
use restart::Manager;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// Why a plan cannot be made or applied.
#[derive(Debug, thiserror::Error)]
pub enum FixError {
    #[error("{path} is not a valid daemon.json (a JSON object); fix it by hand first, nothing was changed")]
    DaemonJson {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("the daemon's configuration is not known: {0}")]
    NoDaemon(String),
    #[error("{what} {path}")]
    Io {
        what: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no backup {0} (see {1})")]
    NoBackup(String, String),
    #[error("the backup manifest {path} is unreadable")]
    Manifest {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{0}")]
    Restart(String),
    /// The restarted daemon did not come back: the backup was restored (`files_restored`)
    /// and the daemon started again with it (`back`).
    #[error("the daemon did not come back; {}", not_back(backup, *files_restored, *back))]
    NotBack {
        backup: String,
        files_restored: bool,
        back: bool,
        #[source]
        source: Box<FixError>,
    },
}

fn not_back(backup: &str, files: bool, back: bool) -> String {
    match (files, back) {
        (true, true) => {
            format!("backup {backup} was restored and the daemon started again with it")
        }
        (true, false) => format!(
            "backup {backup} was restored, but the daemon did not start again with it either"
        ),
        (false, _) => {
            format!("restoring backup {backup} failed too: run `bulwark fix --rollback={backup}`")
        }
    }
}

/// A daemon.json key the plan sets.
#[derive(Debug, Clone, Serialize)]
pub struct KeyChange {
    pub check: String,
    pub key: String,
    pub value: Value,
}

/// A key the plan would set but does not, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Conflict {
    pub check: String,
    pub key: String,
    pub why: String,
}

/// The daemon part of a plan.
#[derive(Debug, Clone, Serialize)]
pub struct DaemonPlan {
    /// The daemon.json the daemon uses.
    pub config_file: String,
    /// Its text now (none when it does not exist).
    pub current: Option<String>,
    pub proposed: String,
    pub diff: String,
    pub changes: Vec<KeyChange>,
    pub conflicts: Vec<Conflict>,
    pub warnings: Vec<String>,
    /// How to make the daemon read it.
    pub restart: Manager,
}

/// An owner or mode change of one file.
#[derive(Debug, Clone, Serialize)]
pub struct FileChange {
    pub check: String,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
    /// The shell command that does it.
    pub command: String,
}

/// Audit rules to add.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRules {
    /// The rules file they go in.
    pub file: String,
    /// (check, rule)
    pub rules: Vec<(String, String)>,
    /// The command that loads them.
    pub load: String,
}

/// A container's re-creation advice.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerPlan {
    pub name: String,
    pub id: String,
    /// (project, service) when Compose started it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compose: Option<(String, String)>,
    pub changes: Vec<RunChange>,
}

/// A finding with no mechanical fix.
#[derive(Debug, Clone, Serialize)]
pub struct Manual {
    pub check: String,
    pub title: String,
    pub status: Status,
    pub why: String,
}

/// A remediation plan.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daemon: Option<DaemonPlan>,
    pub files: Vec<FileChange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_rules: Option<AuditRules>,
    pub containers: Vec<ContainerPlan>,
    pub manual: Vec<Manual>,
}

impl Plan {
    /// The ids of the checks `--apply` would fix on the host (daemon keys written, files).
    pub fn applied_checks(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .daemon
            .iter()
            .flat_map(|d| d.changes.iter().map(|c| c.check.clone()))
            .chain(self.files.iter().map(|f| f.check.clone()))
            .chain(
                self.audit_rules
                    .iter()
                    .flat_map(|a| a.rules.iter().map(|r| r.0.clone())),
            )
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// What a plan needs to know beyond the findings.
#[derive(Debug, Default)]
pub struct Facts {
    pub daemon: Option<ev::DaemonSettings>,
    pub swarm_active: bool,
    pub files: HashMap<String, ev::FileInfo>,
    /// Inspect documents of the containers the findings name.
    pub containers: HashMap<String, Value>,
    /// What each container wrote (`docker diff`), for a read-only root's tmpfs mounts.
    pub changes: HashMap<String, Vec<String>>,
    pub restart: Option<Manager>,
    /// Where audit rules go (default [`apply::AUDIT_RULES_FILE`], read by `augenrules`).
    pub audit_rules_file: Option<String>,
}

fn failing(f: &Finding) -> bool {
    f.status == Status::Warn && f.suppression.is_none()
}

impl Facts {
    /// Ask the audit's evidence (and the daemon, for `docker diff`) what the plan needs.
    pub async fn gather(
        report: &Report,
        evidence: &Evidence,
        docker: &crate::docker::Client,
    ) -> Facts {
        let mut facts = Facts::default();
        if let Ok(Answer::Daemon(d)) = evidence.query(&Query::DaemonConfig).await {
            facts.restart = Some(Manager::of(&d));
            facts.daemon = Some(d);
        }
        if let Ok(Answer::Document(info)) = evidence.query(&Query::DockerInfo).await {
            facts.swarm_active = info.value()["Swarm"]["LocalNodeState"] == "active";
        }
        for f in report.findings.iter().filter(|f| failing(f)) {
            for s in &f.subjects {
                match s {
                    Subject::File { path } if !facts.files.contains_key(path) => {
                        let q = Query::FileStat { path: path.clone() };
                        if let Ok(Answer::File(info)) = evidence.query(&q).await {
                            facts.files.insert(path.clone(), info);
                        }
                    }
                    Subject::Container { id, .. } => {
                        if !facts.containers.contains_key(id) {
                            let q = Query::ContainerInspect { id: id.clone() };
                            if let Ok(Answer::Document(doc)) = evidence.query(&q).await {
                                facts.containers.insert(id.clone(), doc.value());
                            }
                        }
                        if f.check.implementation == "5.13" && !facts.changes.contains_key(id) {
                            let ch = docker.container_changes(id).await.unwrap_or_default();
                            facts.changes.insert(id.clone(), ch);
                        }
                    }
                    _ => {}
                }
            }
        }
        facts
    }
}

/// The plan for `report`'s failing findings (and its manual checks). A daemon.json that is
/// not a JSON object is refused first: the daemon would not start with it, so nothing is
/// planned (or applied) until a person fixes it.
pub fn plan(report: &Report, facts: &Facts) -> Result<Plan, FixError> {
    if let Some(d) = &facts.daemon {
        if let Some(text) = d.config_json.as_deref().filter(|t| !t.trim().is_empty()) {
            serde_json::from_str::<serde_json::Map<String, Value>>(text).map_err(|source| {
                FixError::DaemonJson {
                    path: d.config_file.clone(),
                    source,
                }
            })?;
        }
    }
    let mut plan = Plan::default();
    let mut keys: Vec<(String, &'static str, Value, Option<&'static str>)> = Vec::new();
    // Podman's configuration is containers.conf (TOML), which daemon.json edits must never
    // touch; a rootless engine's files belong to its user, not to root.
    let podman = report.engine.as_ref().is_some_and(|e| e.name == "Podman");
    let rootless = report.engine.as_ref().is_some_and(|e| e.rootless);
    for f in &report.findings {
        if !failing(f) {
            if f.status == Status::Note && f.suppression.is_none() {
                plan.manual
                    .push(manual(f, "a manual check: verify it by hand"));
            }
            continue;
        }
        let c = &f.check;
        match catalog::remedy(&c.implementation) {
            Some(Remedy::DaemonKey { .. }) if podman => plan.manual.push(manual(
                f,
                "Podman keeps this setting in containers.conf, which fix does not edit",
            )),
            Some(Remedy::Owner(_)) if rootless => plan.manual.push(manual(
                f,
                "a rootless engine's files belong to the user it runs as: chown them to that user",
            )),
            Some(Remedy::DaemonKey {
                key,
                value,
                warning,
            }) => keys.push((c.id.clone(), key, value, warning)),
            Some(Remedy::Owner(owner)) => files(&mut plan, f, facts, Some(owner), None),
            Some(Remedy::Mode(mode)) => files(&mut plan, f, facts, None, Some(mode)),
            Some(Remedy::AuditRule) => audit_rules(&mut plan, f, facts),
            Some(Remedy::Container) => containers(&mut plan, f, facts),
            Some(Remedy::Manual(why)) => plan.manual.push(manual(f, why)),
            None => plan
                .manual
                .push(manual(f, "no mechanical fix is known for this check")),
        }
    }
    if !keys.is_empty() {
        plan.daemon = Some(daemon(&keys, facts)?);
    }
    Ok(plan)
}

fn manual(f: &Finding, why: &str) -> Manual {
    Manual {
        check: f.check.id.clone(),
        title: f.check.title.clone(),
        status: f.status,
        why: why.to_string(),
    }
}

/// The daemon.json changes, without the keys that conflict.
fn daemon(
    keys: &[(String, &'static str, Value, Option<&'static str>)],
    facts: &Facts,
) -> Result<DaemonPlan, FixError> {
    let d = facts
        .daemon
        .as_ref()
        .ok_or_else(|| FixError::NoDaemon("no daemon-config evidence".into()))?;
    let on_cli = bulwark_sdk::daemon::parse_argv(d.argv.get(1..).unwrap_or_default());
    let (mut changes, mut conflicts, mut warnings) = (Vec::new(), Vec::new(), Vec::new());
    for (check, key, value, warning) in keys {
        let conflict = if let Some(v) = on_cli.get(*key) {
            Some(format!(
                "the daemon's command line sets it (--{key} {}); dockerd refuses to start when a flag and daemon.json both set an option: change the flag where the daemon is started (e.g. its systemd unit) instead",
                v.join(" ")
            ))
        } else if *key == "live-restore" && facts.swarm_active {
            Some(
                "live-restore does not work with swarm mode, which is active on this node"
                    .to_string(),
            )
        } else if *key == "icc" && iptables_off(d, &on_cli) {
            Some("icc=false works through iptables, which this daemon has turned off (iptables=false): dockerd would refuse to start; turn iptables on first (2.4)".to_string())
        } else {
            None
        };
        match conflict {
            Some(why) => conflicts.push(Conflict {
                check: check.clone(),
                key: key.to_string(),
                why,
            }),
            None => {
                if let Some(w) = warning {
                    warnings.push(format!("{key} ({check}): {w}"));
                }
                changes.push(KeyChange {
                    check: check.clone(),
                    key: key.to_string(),
                    value: value.clone(),
                });
            }
        }
    }
    let set: Vec<(&str, &Value)> = changes.iter().map(|c| (c.key.as_str(), &c.value)).collect();
    let proposed = daemon_json::merge(&d.config_file, d.config_json.as_deref(), &set)?;
    let diff = daemon_json::unified_diff(
        &d.config_file,
        d.config_json.as_deref().unwrap_or(""),
        &proposed,
    );
    Ok(DaemonPlan {
        config_file: d.config_file.clone(),
        current: d.config_json.clone(),
        proposed,
        diff,
        changes,
        conflicts,
        warnings,
        restart: facts.restart.clone().unwrap_or_else(|| Manager::of(d)),
    })
}

/// Whether the daemon runs with iptables off (command line first, then daemon.json).
fn iptables_off(d: &ev::DaemonSettings, on_cli: &BTreeMap<String, Vec<String>>) -> bool {
    let value = on_cli
        .get("iptables")
        .and_then(|v| v.last().cloned())
        .or_else(|| {
            let json: serde_json::Map<String, Value> =
                serde_json::from_str(d.config_json.as_deref()?).ok()?;
            Some(json.get("iptables")?.to_string())
        });
    matches!(
        value.as_deref(),
        Some("false" | "0" | "f" | "F" | "FALSE" | "False")
    )
}

/// Owner or mode changes of the files a finding names.
fn files(plan: &mut Plan, f: &Finding, facts: &Facts, owner: Option<&str>, mode: Option<u32>) {
    for s in &f.subjects {
        let Subject::File { path } = s else { continue };
        let quoted = shell_quote(path);
        let (command, mode) = match (owner, mode) {
            (Some(o), _) => (format!("chown {o} {quoted}"), None),
            (None, Some(max)) => {
                // Take away only the bits beyond the limit; without the current mode, set it.
                let new = facts.files.get(path).map_or(max, |i| i.mode & 0o7777 & max);
                (format!("chmod {new:o} {quoted}"), Some(new))
            }
            (None, None) => continue,
        };
        plan.files.push(FileChange {
            check: f.check.id.clone(),
            path: path.clone(),
            owner: owner.map(str::to_string),
            mode,
            command,
        });
    }
}

/// Audit rules watching the files a finding names.
fn audit_rules(plan: &mut Plan, f: &Finding, facts: &Facts) {
    let file = facts
        .audit_rules_file
        .clone()
        .unwrap_or_else(|| apply::AUDIT_RULES_FILE.to_string());
    let rules = plan.audit_rules.get_or_insert_with(|| AuditRules {
        load: format!("augenrules --load (or: auditctl -R {file})"),
        file,
        rules: Vec::new(),
    });
    for s in &f.subjects {
        if let Subject::File { path } = s {
            rules
                .rules
                .push((f.check.id.clone(), format!("-w {path} -k docker")));
        }
    }
}

/// Run changes for the containers a finding names, grouped by container.
fn containers(plan: &mut Plan, f: &Finding, facts: &Facts) {
    for s in &f.subjects {
        let Subject::Container { id, name } = s else {
            continue;
        };
        let inspect = facts.containers.get(id).cloned().unwrap_or(Value::Null);
        let changes = facts.changes.get(id).cloned().unwrap_or_default();
        let Some(change) =
            container::change(&f.check.implementation, &f.check.id, &inspect, &changes)
        else {
            continue;
        };
        let labels = &inspect["Config"]["Labels"];
        let compose = labels["com.docker.compose.project"]
            .as_str()
            .zip(labels["com.docker.compose.service"].as_str())
            .map(|(p, s)| (p.to_string(), s.to_string()));
        match plan.containers.iter_mut().find(|c| c.id == *id) {
            Some(c) => c.changes.push(change),
            None => plan.containers.push(ContainerPlan {
                name: name.clone(),
                id: id.clone(),
                compose,
                changes: vec![change],
            }),
        }
    }
}

/// A path as a shell word.
fn shell_quote(s: &str) -> String {
    if s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-+:@".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Checks by status, as `fix --restart` reports its re-audit.
pub fn verdicts(report: &Report, ids: &[String]) -> BTreeMap<String, Status> {
    report
        .findings
        .iter()
        .filter(|f| ids.contains(&f.check.id))
        .map(|f| (f.check.id.clone(), f.status))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_quoted_for_the_shell() {
        assert_eq!(
            shell_quote("/etc/docker/daemon.json"),
            "/etc/docker/daemon.json"
        );
        assert_eq!(shell_quote("/tmp/a b'c"), "'/tmp/a b'\\''c'");
    }
}
