//! Rules at work: events of watched containers are batched, each rule plugin judges every
//! batch in its sandbox (one instance per plugin for the whole watch), and every alert
//! becomes an [`AlertRecord`] for the caller.

use super::cgroup::ContainerInfo;
use super::format::{event_record, rule_event, AlertRecord, ProcessRecord, RuleRecord, Summary};
use super::stream::Sink;
use super::{WatchError, Watcher};
use crate::abi::rules::{Alert, Event as RuleEvent, EventKind, RuleMeta};
use crate::metrics::{KindLabel, PluginLabel, RuleLabels, WatchMetrics};
use crate::probes::event::{Kind, Raw};
use crate::runtime::{Plugin, PluginFailure, RuleSession, RunCost, Runtime};
use std::sync::Arc;

/// A rule plugin and its instance, kept while it does not fail.
pub(super) struct RulePack {
    plugin: Arc<Plugin>,
    session: Option<RuleSession>,
}

/// The sink of `watch`: counts every event, batches those of known containers, and has the
/// rules judge each batch on the tick.
pub(super) struct Judge<'a, F: FnMut(AlertRecord)> {
    pub watcher: &'a Watcher,
    pub runtime: Arc<Runtime>,
    pub packs: Vec<RulePack>,
    pub metrics: Option<&'a WatchMetrics>,
    pub on_alert: F,
    pub summary: Summary,
    batch: Vec<(Raw, ContainerInfo)>,
}

impl<'a, F: FnMut(AlertRecord)> Judge<'a, F> {
    /// The rule plugins among `plugins` (those with rules), each to get its own instance.
    pub fn new(
        watcher: &'a Watcher,
        runtime: Arc<Runtime>,
        plugins: Vec<Arc<Plugin>>,
        metrics: Option<&'a WatchMetrics>,
        on_alert: F,
    ) -> Self {
        let packs = plugins
            .into_iter()
            .filter(|p| !p.rules.is_empty())
            .map(|plugin| RulePack {
                plugin,
                session: None,
            })
            .collect();
        Judge {
            watcher,
            runtime,
            packs,
            metrics,
            on_alert,
            summary: Summary::default(),
            batch: Vec::new(),
        }
    }

    /// One batch through every rule plugin allowed to see traces.
    async fn judge(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let events: Vec<RuleEvent> = std::mem::take(&mut self.batch)
            .iter()
            .filter_map(|(e, who)| rule_event(e, who))
            .collect();
        let events = Arc::new(events);
        let handle = tokio::runtime::Handle::current();
        for i in 0..self.packs.len() {
            let p = self.packs[i].plugin.clone();
            if !p.grants.allows_scope(crate::evidence::Scope::Traces) {
                continue;
            }
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
                    let msg = format!("plugin {}: {e}", p.name);
                    self.summary.rule_failures.push(msg);
                    continue;
                }
            };
            if let Some(alerts) = self.account(&p, result) {
                for a in alerts {
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
        if let Some(m) = self.metrics {
            m.plugin_fuel.get_or_create(&label).inc_by(cost.fuel_used);
            m.plugin_seconds
                .get_or_create(&label)
                .inc_by(cost.wall_ms / 1000.0);
        }
        match result {
            Ok(a) => Some(a),
            Err(f) => {
                if let Some(m) = self.metrics {
                    m.plugin_failures.get_or_create(&label).inc();
                }
                let msg = format!("plugin {} {f}", p.name);
                tracing::warn!("{msg}");
                self.summary.rule_failures.push(msg);
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
        self.summary.alerts += 1;
        if let Some(m) = self.metrics {
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
            container: ContainerInfo {
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

impl<F: FnMut(AlertRecord)> Sink for Judge<'_, F> {
    fn event(&mut self, ev: Raw) {
        self.summary.events += 1;
        if let Some(m) = self.metrics {
            let kind = Kind::from_raw(ev.kind).map_or("unknown", Kind::name);
            m.events
                .get_or_create(&KindLabel {
                    kind: kind.to_string(),
                })
                .inc();
        }
        if let Some(who) = self.watcher.lock_attr().get(ev.cgroup).cloned() {
            self.batch.push((ev, who));
        }
    }

    async fn tick(&mut self) -> Result<(), WatchError> {
        self.judge().await;
        if let Some(m) = self.metrics {
            let lost = self.watcher.lost()?;
            m.lost.inc_by(lost.saturating_sub(m.lost.get()));
        }
        Ok(())
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
