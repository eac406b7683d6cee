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

/// A label value as the exposition format wants it: `\`, `"` and newlines escaped.
/// prometheus-client writes label values as they are, and titles and names come from
/// benchmark profiles (1.7.0's 5.30 quotes "docker0") and third-party plugins: one raw
/// quote would make Prometheus reject the whole scrape.
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord)]
pub struct LabelText(pub String);

impl From<String> for LabelText {
    fn from(s: String) -> Self {
        LabelText(s)
    }
}

impl From<&str> for LabelText {
    fn from(s: &str) -> Self {
        LabelText(s.to_string())
    }
}

impl prometheus_client::encoding::EncodeLabelValue for LabelText {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelValueEncoder,
    ) -> Result<(), std::fmt::Error> {
        use std::fmt::Write;
        for c in self.0.chars() {
            match c {
                '\\' => encoder.write_str("\\\\")?,
                '"' => encoder.write_str("\\\"")?,
                '\n' => encoder.write_str("\\n")?,
                c => encoder.write_char(c)?,
            }
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: LabelText,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabels {
    pub rule: LabelText,
    pub plugin: LabelText,
    pub severity: LabelText,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginLabel {
    pub plugin: LabelText,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProgramLabel {
    pub program: LabelText,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AttachLabels {
    pub program: LabelText,
    pub tracepoint: LabelText,
    pub tier: LabelText,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleRunLabels {
    pub rule: LabelText,
    pub plugin: LabelText,
    pub tier: LabelText,
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
                program: program.to_string().into(),
            })
            .clone()
    }

    pub fn program_seconds(&self, program: &str) -> Counter<f64, AtomicU64> {
        self.run_seconds
            .get_or_create(&ProgramLabel {
                program: program.to_string().into(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped_as_the_exposition_format_wants() {
        let m = WatchMetrics::default();
        m.plugin_failures
            .get_or_create(&PluginLabel {
                plugin: "bad \"pack\" \\ with\nnewline".into(),
            })
            .inc();
        let text = m.encode();
        let line = text
            .lines()
            .find(|l| l.starts_with("bulwark_plugin_failures_total{"))
            .unwrap_or_default();
        assert_eq!(
            line, r#"bulwark_plugin_failures_total{plugin="bad \"pack\" \\ with\nnewline"} 1"#,
            "{text}"
        );
    }
}
