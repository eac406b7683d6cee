//! Bulwark host library. Data flows one way, and each room imports only rooms upstream:
//!
//! collectors ([`evidence::live`], [`docker`]) → [`evidence`] (queries, memo, snapshots)
//! → [`runtime`] (the wasm sandbox plugins run in) → [`audit`] (plan, run, assemble)
//! → [`findings`] (the model; [`suppress`] marks it) → [`report`] (every output format).
//!
//! Runtime monitoring: [`probes`] (eBPF) → [`watch`] (events to rules to alerts), with
//! [`metrics`] for Prometheus. Around them: [`select`] (`-c`/`-e`), [`profile`] (benchmark
//! versions), [`trust`] (signatures), [`distribute`] (OCI registries), [`abi`] (the WIT).
//! Closing the loop: [`fix`] (plans, apply, rollback), [`compare`] (diffs and baselines),
//! [`harden`] (seccomp profiles and capability sets from what containers did; `watch`
//! records and verifies them).
//! Fleets: [`serve`] (continuous audits, their metrics and reports over [`http`]).
//! For plugin authors: [`author`] (new, build, test, the contract's reference).

pub mod abi;
pub mod audit;
pub mod author;
pub mod capability;
pub mod compare;
pub mod distribute;
pub mod docker;
pub mod evidence;
pub mod findings;
pub mod fix;
pub mod harden;
pub mod http;
pub mod metrics;
pub mod probes;
pub mod profile;
pub mod report;
pub mod runtime;
pub mod select;
pub mod serve;
pub mod suppress;
pub mod text;
pub mod trust;
pub mod watch;

/// Internals reachable by the fuzz targets only (built with the `fuzzing` feature: `host/fuzz`,
/// `cargo xtask fuzz`). Thin wrappers, so that the functions stay private to the crate.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    use crate::abi::{ev, rules, types};
    use crate::findings::CheckDoc;
    use crate::runtime::manifest::Inspection;
    use crate::runtime::{LoadError, Manifest, Origin, PluginFailure};
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    /// The checks on a plugin's bytes before any of its code runs (before compiling).
    pub fn admit(
        bytes: &[u8],
        origin: &Origin,
    ) -> Result<(Inspection, Option<Manifest>), LoadError> {
        crate::runtime::admit(bytes, origin)
    }

    /// A plugin's `bulwark-docs` section as the loader reads it.
    pub fn check_docs(plugin: &str, raw: Option<&[u8]>) -> BTreeMap<String, CheckDoc> {
        crate::runtime::check_docs(plugin, raw)
    }

    /// Bytes of text a run returned (checked against the output limit).
    pub fn output_size(findings: &[types::Finding]) -> usize {
        crate::runtime::validate::output_size(findings)
    }

    /// A run's findings against the checks it was asked to run.
    pub fn verdicts(
        findings: Vec<types::Finding>,
        ids: &[String],
    ) -> Result<Vec<types::Finding>, PluginFailure> {
        crate::runtime::validate::verdicts(findings, ids)
    }

    /// The checks and rules a plugin declares, against its manifest.
    pub fn declared(
        checks: &[types::CheckMeta],
        rules: &[rules::RuleMeta],
        manifest: Option<&Manifest>,
    ) -> Result<(), String> {
        crate::runtime::validate::declared(checks, rules, manifest)
    }

    /// A rules batch's alerts against the events given and the rules declared.
    pub fn alerts(
        alerts: Vec<rules::Alert>,
        events: usize,
        declared: &[rules::RuleMeta],
        max_output: usize,
    ) -> Result<Vec<rules::Alert>, PluginFailure> {
        crate::runtime::validate::alerts(alerts, events, declared, max_output)
    }

    /// The rule lines of an `auditctl -l` listing or an audit rules file.
    pub fn rule_lines(text: &str) -> Vec<String> {
        crate::evidence::live::auditd::rule_lines(text)
    }

    /// The listening sockets of one /proc/net/tcp or tcp6 table.
    pub fn listening_in(proto: &str, text: &str) -> Vec<ev::Listener> {
        crate::evidence::live::net::listening_in(proto, text)
    }

    /// One address of a /proc/net/tcp table ("0100007F:0CEA").
    pub fn parse_proc_addr(s: &str) -> Option<(String, u16)> {
        crate::evidence::live::net::parse_proc_addr(s)
    }

    /// The container ids (64 hex digits) in a cgroup path.
    pub fn container_ids_in(path: &str) -> Vec<String> {
        crate::evidence::live::procfs::container_ids_in(path)
    }

    /// The mount point of the first cgroup2 filesystem in a mountinfo text.
    pub fn cgroup2_mount_in(mountinfo: &str) -> Option<PathBuf> {
        crate::watch::cgroup::cgroup2_mount_in(mountinfo)
    }

    /// The v2 path of a /proc/PID/cgroup text.
    pub fn v2_path_in(proc_cgroup: &str) -> Option<&str> {
        crate::watch::cgroup::v2_path_in(proc_cgroup)
    }

    /// The value of `--name` in a daemon's argv (how its daemon.json is found).
    pub fn flag_value(argv: &[String], name: &str) -> Option<String> {
        crate::evidence::live::daemon::flag_value(argv, name)
    }

    /// Podman containers.conf texts merged as the daemon collector merges them, as the
    /// JSON it hands to plugins; `Err` for a text that is not TOML.
    pub fn podman_conf_json(texts: &[&str]) -> Result<String, String> {
        let mut merged = toml::Table::new();
        for text in texts {
            let table = text.parse::<toml::Table>().map_err(|e| e.to_string())?;
            crate::evidence::live::daemon::merge(&mut merged, table);
        }
        serde_json::to_string(&merged).map_err(|e| e.to_string())
    }
}
