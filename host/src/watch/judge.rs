//! Rules at work, in a task of their own so that reading the ring buffer never waits on
//! them: each batch of events goes through every rule plugin allowed to see traces (one
//! instance per plugin for the whole watch), and every alert of a rule that runs becomes
//! an [`AlertRecord`] for the caller.

use super::format::{event_record, rule_event, AlertRecord, ProcessRecord, RuleRecord};
use super::reader::Batch;
use super::rules::RulePlan;
use crate::abi::rules::{Alert, Event as RuleEvent, EventKind, RuleMeta};
use crate::metrics::{PluginLabel, RuleLabels, WatchMetrics};
use crate::runtime::{Plugin, PluginFailure, RuleSession, RunCost, Runtime};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Batches the judge may have queued before the reader drops new ones.
const QUEUE: usize = 16;

/// What the judge did over the whole watch.
pub(super) struct Judged {
    pub alerts: u64,
    pub failures: Vec<String>,
}

/// A rule plugin and its instance, kept while it does not fail.
struct RulePack {
    plugin: Arc<Plugin>,
    session: Option<RuleSession>,
}

struct Judge<F> {
    runtime: Arc<Runtime>,
    packs: Vec<RulePack>,
    /// (plugin, rule) of the rules that run: others' alerts are not reported.
    enabled: HashSet<(String, String)>,
    metrics: Option<Arc<WatchMetrics>>,
    on_alert: F,
    judged: Judged,
}

/// Start the judge: batches go in through the returned sender; the task ends, with its
/// totals, once the sender is dropped and the queue is empty.
pub(super) fn spawn(
    runtime: Arc<Runtime>,
    plugins: Vec<Arc<Plugin>>,
    plan: &RulePlan,
    metrics: Option<Arc<WatchMetrics>>,
    on_alert: impl FnMut(AlertRecord) + Send + 'static,
) -> (mpsc::Sender<Batch>, JoinHandle<Judged>) {
    let enabled: HashSet<(String, String)> = plan
        .enabled
        .iter()
        .map(|r| (r.plugin.clone(), r.rule.clone()))
        .collect();
    let packs = plugins
        .into_iter()
        .filter(|p| p.grants.allows_scope(crate::evidence::Scope::Traces))
        .filter(|p| {
            p.rules
                .iter()
                .any(|r| enabled.contains(&(p.name.clone(), r.id.clone())))
        })
        .map(|plugin| RulePack {
            plugin,
            session: None,
        })
        .collect();
    let mut judge = Judge {
        runtime,
        packs,
        enabled,
        metrics,
        on_alert,
        judged: Judged {
            alerts: 0,
            failures: Vec::new(),
        },
    };
    let (tx, mut rx) = mpsc::channel::<Batch>(QUEUE);
    let task = tokio::spawn(async move {
        while let Some(batch) = rx.recv().await {
            judge.batch(batch).await;
        }
        judge.judged
    });
    (tx, task)
}

impl<F: FnMut(AlertRecord)> Judge<F> {
    /// One batch through every rule plugin.
    async fn batch(&mut self, batch: Batch) {
        let events: Vec<RuleEvent> = batch
            .iter()
            .filter_map(|(r, who)| rule_event(r, who))
            .collect();
        if events.is_empty() {
            return;
        }
        let events = Arc::new(events);
        let handle = tokio::runtime::Handle::current();
        for i in 0..self.packs.len() {
            let p = self.packs[i].plugin.clone();
            let (rt, ev, h) = (self.runtime.clone(), events.clone(), handle.clone());
            let mut session = self.packs[i].session.take();
            let pl = p.clone();
            let out = tokio::task::spawn_blocking(move || {
                let r = rt.run_rules(&pl, &mut session, h, &ev);
                (r, session)
            })
            .await;
            let result = match out {
                Ok((r, session)) => {
                    self.packs[i].session = session;
                    r
                }
                Err(e) => {
                    self.judged.failures.push(format!("plugin {}: {e}", p.name));
                    continue;
                }
            };
            for a in self.account(&p, result).unwrap_or_default() {
                if self.enabled.contains(&(p.name.clone(), a.rule_id.clone())) {
                    self.alert(&p, &events, a);
                }
            }
        }
    }

    /// Count a rule run's cost and failure; its alerts when it succeeded.
    fn account(
        &mut self,
        p: &Plugin,
        (result, cost): (Result<Vec<Alert>, PluginFailure>, RunCost),
    ) -> Option<Vec<Alert>> {
        let label = PluginLabel {
            plugin: p.name.clone(),
        };
        if let Some(m) = &self.metrics {
            m.plugin_fuel.get_or_create(&label).inc_by(cost.fuel_used);
            m.plugin_seconds
                .get_or_create(&label)
                .inc_by(cost.wall_ms / 1000.0);
        }
        match result {
            Ok(a) => Some(a),
            Err(f) => {
                if let Some(m) = &self.metrics {
                    m.plugin_failures.get_or_create(&label).inc();
                }
                let msg = format!("plugin {} {f}", p.name);
                tracing::warn!("{msg}");
                self.judged.failures.push(msg);
                None
            }
        }
    }

    /// One alert to the caller.
    fn alert(&mut self, p: &Plugin, events: &[RuleEvent], a: Alert) {
        let Some(e) = events.get(a.event as usize) else {
            return;
        };
        let meta: Option<&RuleMeta> = p.rules.iter().find(|r| r.id == a.rule_id);
        let severity = meta.map(|m| m.severity.clone()).unwrap_or_default();
        let exe = if matches!(e.kind, EventKind::Exec) {
            e.path.clone()
        } else {
            std::fs::read_link(format!("/proc/{}/exe", e.pid))
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        };
        self.judged.alerts += 1;
        if let Some(m) = &self.metrics {
            m.rule_matches
                .get_or_create(&RuleLabels {
                    rule: a.rule_id.clone(),
                    plugin: p.name.clone(),
                    severity: severity.clone(),
                })
                .inc();
        }
        (self.on_alert)(AlertRecord {
            time: unix_now(),
            container: super::ContainerInfo {
                id: e.container_id.clone(),
                name: e.container_name.clone(),
                image: e.image.clone(),
            },
            process: ProcessRecord {
                pid: e.pid,
                uid: e.uid,
                comm: e.comm.clone(),
                exe,
            },
            event: event_record(e),
            rule: RuleRecord {
                id: a.rule_id,
                title: meta.map(|m| m.title.clone()).unwrap_or_default(),
                severity,
                plugin: p.name.clone(),
            },
            message: a.message,
        });
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
