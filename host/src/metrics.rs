//! Prometheus metrics of `bulwark watch` (`--metrics ADDR`): events by kind, events lost in
//! the kernel or dropped in user space, rule matches, each rule plugin's fuel and time,
//! what the probes attached and for which rules, and (with BPF statistics on) each
//! program's runs and run time. Served as the text exposition format at `GET /metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

/// Serve `GET /metrics` on `listener` until the task is dropped. Anything else gets 404;
/// requests larger than 8 KiB are cut off.
pub async fn serve(listener: tokio::net::TcpListener, metrics: Arc<WatchMetrics>) {
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            continue;
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            let mut n = 0;
            while n < buf.len() {
                match sock.read(&mut buf[n..]).await {
                    Ok(0) | Err(_) => break,
                    Ok(k) => n += k,
                }
                if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let request = String::from_utf8_lossy(&buf[..n]);
            let (status, body) = if request.starts_with("GET /metrics ") {
                ("200 OK", metrics.encode())
            } else {
                (
                    "404 Not Found",
                    "not found; metrics are at /metrics\n".to_string(),
                )
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = sock.write_all(head.as_bytes()).await;
            let _ = sock.write_all(body.as_bytes()).await;
            let _ = sock.shutdown().await;
        });
    }
}
