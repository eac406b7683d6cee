//! The fleet files in `deploy/`, checked offline by the tools their users run: the
//! Kubernetes manifests against the API's schemas (kubernetes-validate, installed by the
//! test set-up), the Prometheus alert rules and their unit tests and the example scrape
//! configuration with promtool, the Swarm stack with the Docker CLI's own reading, and the
//! Grafana dashboard as JSON whose every query names a metric Bulwark exports.

use crate::common::*;
use crate::outputs::repo;
use std::process::Command;

fn passes(cmd: &mut Command) -> String {
    let o = run(cmd);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{cmd:?}:\n{text}");
    text
}

#[test]
fn kubernetes_manifests_validate_against_the_api_schemas() {
    let k = repo("deploy/kubernetes");
    for version in ["1.30.0", "1.33.0"] {
        passes(
            Command::new("kubernetes-validate")
                .args(["--strict", "-k", version])
                .arg(k.join("namespace.yaml"))
                .arg(k.join("daemonset.yaml"))
                .arg(k.join("service.yaml"))
                .arg(k.join("watch/daemonset.yaml")),
        );
    }
    // The validator is real: a misspelt field fails it.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    let text = std::fs::read_to_string(k.join("daemonset.yaml")).unwrap();
    std::fs::write(&bad, text.replacen("hostPID:", "hostPid:", 1)).unwrap();
    let o = run(Command::new("kubernetes-validate")
        .args(["--strict", "-k", "1.30.0"])
        .arg(&bad));
    assert!(!o.status.success(), "a misspelt field must fail");
}

#[test]
fn prometheus_rules_config_swarm_stack_and_dashboard_check() {
    let p = repo("deploy/prometheus");
    passes(
        Command::new("promtool")
            .arg("check")
            .arg("rules")
            .arg(p.join("bulwark-alerts.yml")),
    );
    passes(Command::new("promtool").current_dir(&p).args([
        "test",
        "rules",
        "bulwark-alerts_test.yml",
    ]));
    passes(
        Command::new("promtool")
            .arg("check")
            .arg("config")
            .arg(p.join("prometheus-example.yml")),
    );
    passes(
        Command::new("docker")
            .args(["stack", "config", "-c"])
            .arg(repo("deploy/swarm/bulwark-stack.yml")),
    );
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo("deploy/grafana/bulwark-dashboard.json")).unwrap(),
    )
    .expect("the dashboard is JSON");
    // Every metric the rules and the dashboard name is one Bulwark exports.
    let exported = [
        "bulwark_build_info",
        "bulwark_check_status",
        "bulwark_checks",
        "bulwark_audit_success",
        "bulwark_audit_last_run_timestamp_seconds",
        "bulwark_audit_last_success_timestamp_seconds",
        "bulwark_audit_duration_seconds",
        "bulwark_audits_total",
        "bulwark_audit_evidence_queries",
        "bulwark_audit_evidence_query_errors",
        "bulwark_audit_plugin_fuel",
        "bulwark_audit_plugin_duration_seconds",
        "bulwark_audit_plugin_peak_memory_bytes",
        "bulwark_audit_plugin_failures_total",
        "bulwark_events_total",
        "bulwark_lost_events_total",
        "bulwark_dropped_events_total",
        "bulwark_rule_matches_total",
        "bulwark_plugin_fuel_total",
        "bulwark_plugin_seconds_total",
        "bulwark_plugin_failures_total",
        "bulwark_plugin_skipped_batches_total",
        "bulwark_probe_attached",
        "bulwark_rule_running",
        "bulwark_probe_program_runs_total",
        "bulwark_probe_program_run_seconds_total",
    ];
    let rules = std::fs::read_to_string(p.join("bulwark-alerts.yml")).unwrap();
    let mut texts = vec![rules];
    texts.push(dashboard.to_string());
    for text in &texts {
        for name in text
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("bulwark_") && w.len() > "bulwark_".len())
        {
            assert!(
                exported.contains(&name),
                "{name} is not a metric Bulwark exports"
            );
        }
    }
}
