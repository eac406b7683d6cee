//! Prometheus metrics of `bulwark watch` (`--metrics ADDR`): events by kind, events lost in
//! the kernel or dropped in user space, rule matches, each rule plugin's fuel and time,
//! what the probes attached and for which rules, and (with BPF statistics on) each
//! program's runs and run time. Served as OpenMetrics text at `GET /metrics` ([`router`],
//! on [`crate::http`]).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabels {
    pub rule: String,
    pub plugin: String,
    pub severity: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginLabel {
    pub plugin: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProgramLabel {
    pub program: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AttachLabels {
    pub program: String,
    pub tracepoint: String,
    pub tier: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleRunLabels {
    pub rule: String,
    pub plugin: String,
    pub tier: String,
}

pub struct WatchMetrics {
    registry: Registry,
    pub events: Family<KindLabel, Counter>,
    pub lost: Counter,
    pub rule_matches: Family<RuleLabels, Counter>,
    pub plugin_fuel: Family<PluginLabel, Counter>,
    pub plugin_seconds: Family<PluginLabel, Counter<f64, AtomicU64>>,
    pub plugin_failures: Family<PluginLabel, Counter>,
    pub plugin_skipped_batches: Family<PluginLabel, Counter>,
    pub dropped: Counter,
    pub attached: Family<AttachLabels, Gauge>,
    pub rules: Family<RuleRunLabels, Gauge>,
    runs: Family<ProgramLabel, Counter>,
    run_seconds: Family<ProgramLabel, Counter<f64, AtomicU64>>,
}

impl Default for WatchMetrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("bulwark");
        let m = WatchMetrics {
            registry: Registry::default(),
            events: Family::default(),
            lost: Counter::default(),
            rule_matches: Family::default(),
            plugin_fuel: Family::default(),
            plugin_seconds: Family::default(),
            plugin_failures: Family::default(),
            plugin_skipped_batches: Family::default(),
            dropped: Counter::default(),
            attached: Family::default(),
            rules: Family::default(),
            runs: Family::default(),
            run_seconds: Family::default(),
        };
        registry.register(
            "events",
            "Kernel events received, by kind",
            m.events.clone(),
        );
        registry.register(
            "lost_events",
            "Events the kernel dropped because the ring buffer was full",
            m.lost.clone(),
        );
        registry.register(
            "rule_matches",
            "Alerts raised, by rule",
            m.rule_matches.clone(),
        );
        registry.register(
            "plugin_fuel",
            "Fuel used by rule plugins",
            m.plugin_fuel.clone(),
        );
        registry.register(
            "plugin_seconds",
            "Wall time spent in rule plugins",
            m.plugin_seconds.clone(),
        );
        registry.register(
            "plugin_failures",
            "Rule plugin runs stopped by the sandbox",
            m.plugin_failures.clone(),
        );
        registry.register(
            "plugin_skipped_batches",
            "Event batches a rule plugin was not shown while suspended after failing in a row",
            m.plugin_skipped_batches.clone(),
        );
        registry.register(
            "dropped_events",
            "Events dropped in user space because the rules could not keep up",
            m.dropped.clone(),
        );
        registry.register(
            "probe_attached",
            "Probe programs attached, by tracepoint and cost tier (1 while attached)",
            m.attached.clone(),
        );
        registry.register(
            "rule_running",
            "Rules that run, by cost tier of what they need (1 while running)",
            m.rules.clone(),
        );
        registry.register(
            "probe_program_runs",
            "Runs of each probe program (counted while BPF statistics are on)",
            m.runs.clone(),
        );
        registry.register(
            "probe_program_run_seconds",
            "Time spent in each probe program (counted while BPF statistics are on)",
            m.run_seconds.clone(),
        );
        WatchMetrics { registry, ..m }
    }
}

impl WatchMetrics {
    pub fn program_runs(&self, program: &str) -> Counter {
        self.runs
            .get_or_create(&ProgramLabel {
                program: program.to_string(),
            })
            .clone()
    }

    pub fn program_seconds(&self, program: &str) -> Counter<f64, AtomicU64> {
        self.run_seconds
            .get_or_create(&ProgramLabel {
                program: program.to_string(),
            })
            .clone()
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// The content type of [`WatchMetrics::encode`]'s text: prometheus-client writes the
/// OpenMetrics exposition (counters' `_total`, the closing `# EOF`).
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// An OpenMetrics text as an HTTP response.
pub fn exposition(text: String) -> axum::response::Response {
    use axum::response::IntoResponse;
    ([(axum::http::header::CONTENT_TYPE, OPENMETRICS)], text).into_response()
}

/// The routes of `watch --metrics`: `GET /metrics`; anything else is 404.
pub fn router(metrics: Arc<WatchMetrics>) -> axum::Router {
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || async move { exposition(metrics.encode()) }),
    )
}
