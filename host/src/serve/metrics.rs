//! The audit's Prometheus metrics for `serve`: each check's status (a state set: 1 for its
//! status, 0 for the others), counts per status, when the last audit ran, whether it
//! succeeded and how long it took, the evidence questions and their errors, each plugin's
//! cost, and the build. Counters live as long as the process; everything else is taken
//! from the latest good report at each scrape.

use crate::findings::{Report, Status};
use crate::metrics::LabelText;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::Duration;

use super::Scope;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CheckLabels {
    id: LabelText,
    title: LabelText,
    section: LabelText,
    benchmark: LabelText,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CountLabels {
    benchmark: LabelText,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AuditLabels {
    scope: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabel {
    plugin: LabelText,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    abi: &'static str,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// What the last attempt was.
#[derive(Debug, Default, Clone, Copy)]
struct Last {
    /// Unix seconds the last attempt began (0: none yet).
    run: f64,
    /// Unix seconds the last successful one began.
    success: f64,
    ok: bool,
    duration: Duration,
}

/// The counters that outlive one audit, and what the last attempt was.
#[derive(Default)]
pub struct AuditMetrics {
    audits: Family<AuditLabels, Counter>,
    plugin_failures: Family<PluginLabel, Counter>,
    last: Mutex<Last>,
}

impl AuditMetrics {
    /// An audit that began at `began` (unix seconds) gave `report`.
    pub fn succeeded(&self, scope: Scope, report: &Report, began: f64, took: Duration) {
        self.audits
            .get_or_create(&AuditLabels {
                scope: scope.name(),
                result: "success",
            })
            .inc();
        for p in report.plugins.iter().filter(|p| p.error.is_some()) {
            self.plugin_failures
                .get_or_create(&PluginLabel {
                    plugin: p.name.clone().into(),
                })
                .inc();
        }
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Last {
            run: began,
            success: began,
            ok: true,
            duration: took,
        };
    }

    /// An audit that began at `began` failed as a whole.
    pub fn failed(&self, scope: Scope, began: f64, took: Duration) {
        self.audits
            .get_or_create(&AuditLabels {
                scope: scope.name(),
                result: "failure",
            })
            .inc();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        last.run = began;
        last.ok = false;
        last.duration = took;
    }

    /// The OpenMetrics text, from `report` (the latest good one) and the counters.
    pub fn encode(&self, report: Option<&Report>) -> String {
        let mut r = Registry::with_prefix("bulwark");
        // An OpenMetrics info family: the sample is `bulwark_build_info{...} 1`.
        let build = prometheus_client::metrics::info::Info::new(BuildLabels {
            version: env!("CARGO_PKG_VERSION"),
            abi: crate::abi::ABI_VERSION,
        });
        r.register("build", "Bulwark's version and plugin ABI", build);
        r.register(
            "audits",
            "Audits run, by scope (full, containers) and result",
            self.audits.clone(),
        );
        r.register(
            "audit_plugin_failures",
            "Audit plugin runs that failed (trap, limit, bad output), since start",
            self.plugin_failures.clone(),
        );
        let last = *self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.run > 0.0 {
            let gauge = |v: f64| {
                let g = FloatGauge::default();
                g.set(v);
                g
            };
            r.register(
                "audit_success",
                "Whether the last audit succeeded (0: the report served is older)",
                gauge(if last.ok { 1.0 } else { 0.0 }),
            );
            r.register(
                "audit_last_run_timestamp_seconds",
                "When the last audit began",
                gauge(last.run),
            );
            r.register(
                "audit_last_success_timestamp_seconds",
                "When the last successful audit began",
                gauge(last.success),
            );
            r.register(
                "audit_duration_seconds",
                "How long the last audit took",
                gauge(last.duration.as_secs_f64()),
            );
        }
        if let Some(report) = report {
            register_report(&mut r, report);
        }
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &r).is_err() {
            out.clear();
        }
        out
    }
}

/// The report's own metrics: checks, counts, evidence, plugins.
fn register_report(r: &mut Registry, report: &Report) {
    let benchmark = &report.benchmark.id;
    let checks = Family::<CheckLabels, Gauge>::default();
    let counts = Family::<CountLabels, Gauge>::default();
    for s in Status::ALL {
        let _ = counts.get_or_create(&CountLabels {
            benchmark: benchmark.clone().into(),
            status: s.name(),
        });
    }
    for f in &report.findings {
        for s in Status::ALL {
            checks
                .get_or_create(&CheckLabels {
                    id: f.check.id.clone().into(),
                    title: f.check.title.clone().into(),
                    section: f.check.section.clone().into(),
                    benchmark: benchmark.clone().into(),
                    status: s.name(),
                })
                .set(i64::from(f.status == s));
        }
        counts
            .get_or_create(&CountLabels {
                benchmark: benchmark.clone().into(),
                status: f.status.name(),
            })
            .inc();
    }
    r.register(
        "check_status",
        "Each check's status in the latest report: 1 for its status, 0 for the others",
        checks,
    );
    r.register("checks", "Checks in the latest report, by status", counts);
    register_costs(r, report);
}

/// A gauge holding a count (saturated at the gauge's range).
fn count_gauge(n: u64) -> Gauge {
    let g = Gauge::default();
    g.set(i64::try_from(n).unwrap_or(i64::MAX));
    g
}

/// The evidence questions and each plugin's cost in the latest audit.
fn register_costs(r: &mut Registry, report: &Report) {
    r.register(
        "audit_evidence_queries",
        "Evidence questions the plugins asked in the latest audit",
        count_gauge(report.evidence_queries),
    );
    r.register(
        "audit_evidence_query_errors",
        "Evidence questions the host could not answer in the latest audit (daemon or file errors, not absent objects)",
        count_gauge(report.evidence_errors),
    );
    let fuel = Family::<PluginLabel, Gauge>::default();
    let seconds = Family::<PluginLabel, FloatGauge>::default();
    let memory = Family::<PluginLabel, Gauge>::default();
    for p in &report.plugins {
        let Some(c) = &p.cost else { continue };
        let l = PluginLabel {
            plugin: p.name.clone().into(),
        };
        fuel.get_or_create(&l)
            .set(i64::try_from(c.fuel_used).unwrap_or(i64::MAX));
        seconds.get_or_create(&l).set(c.wall_ms / 1000.0);
        memory
            .get_or_create(&l)
            .set(i64::try_from(c.peak_memory).unwrap_or(i64::MAX));
    }
    r.register(
        "audit_plugin_fuel",
        "Fuel each plugin used in the latest audit",
        fuel,
    );
    r.register_with_unit(
        "audit_plugin_duration",
        "Wall time of each plugin's run in the latest audit",
        prometheus_client::registry::Unit::Seconds,
        seconds,
    );
    r.register_with_unit(
        "audit_plugin_peak_memory",
        "Largest linear memory each plugin reached in the latest audit",
        prometheus_client::registry::Unit::Bytes,
        memory,
    );
}
