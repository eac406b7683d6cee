//! Rules at work, in a task of their own so that reading the ring buffer never waits on
//! them: each batch of events goes through every rule plugin allowed to see traces (one
//! instance per plugin for the whole watch), and every alert of a rule that runs becomes
//! an [`AlertRecord`] for the caller. A plugin that fails batch after batch is suspended
//! for a growing while (and tried again after it), and its failures are kept as counts of
//! distinct messages: a broken pack left running for days costs neither CPU nor memory.

use super::format::{event_record, rule_event, AlertRecord, ProcessRecord, RuleRecord};
use super::reader::Batch;
use super::rules::RulePlan;
use crate::abi::rules::{Alert, Event as RuleEvent, EventKind, RuleMeta};
use crate::metrics::{PluginLabel, RuleLabels, WatchMetrics};
use crate::runtime::{Plugin, PluginFailure, RuleSession, RunCost, Runtime};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Batches the judge may have queued before the reader drops new ones. With the reader's
/// largest batch this bounds what a flood holds in memory: 8 × 4,096 records (a few
/// hundred bytes each), where 16 × 16,384 made a watch swell by ~90 MiB in the first
/// minute of a flood before settling.
const QUEUE: usize = 8;

/// Failures in a row after which a plugin is suspended.
const FAILURES_BEFORE_SUSPENSION: u32 = 3;
/// The first suspension; each one after it is twice as long, up to [`LONGEST_SUSPENSION`].
const FIRST_SUSPENSION: Duration = Duration::from_secs(1);
const LONGEST_SUSPENSION: Duration = Duration::from_secs(300);
/// Distinct failure messages kept; later distinct ones are only counted.
const DISTINCT_FAILURES: usize = 20;

/// What the judge did over the whole watch.
#[derive(Default)]
pub(super) struct Judged {
    pub alerts: u64,
    /// Distinct failure message → how many times (at most [`DISTINCT_FAILURES`] kept).
    failures: BTreeMap<String, u64>,
    /// Failures whose message was not kept.
    unkept: u64,
}

impl Judged {
    /// Each distinct failure once, with how often it happened.
    pub fn failure_lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .failures
            .iter()
            .map(|(m, n)| match n {
                1 => m.clone(),
                n => format!("{m} ({n} times)"),
            })
            .collect();
        if self.unkept > 0 {
            out.push(format!("{} more rule plugin failures", self.unkept));
        }
        out
    }

    fn failed(&mut self, msg: String) {
        if let Some(n) = self.failures.get_mut(&msg) {
            *n += 1;
        } else if self.failures.len() < DISTINCT_FAILURES {
            self.failures.insert(msg, 1);
        } else {
            self.unkept += 1;
        }
    }
}

/// A rule plugin and its instance, kept while it does not fail.
struct RulePack {
    plugin: Arc<Plugin>,
    session: Option<RuleSession>,
    health: Health,
}

/// How a rule plugin has been doing: failures in a row, and its suspension.
#[derive(Debug)]
struct Health {
    /// Failures since its last good batch.
    failed_in_a_row: u32,
    /// How long its next suspension lasts.
    next_suspension: Duration,
    /// While set and in the future, its batches are skipped.
    suspended_until: Option<Instant>,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            failed_in_a_row: 0,
            next_suspension: FIRST_SUSPENSION,
            suspended_until: None,
        }
    }
}

impl Health {
    fn suspended(&self, now: Instant) -> bool {
        self.suspended_until.is_some_and(|t| now < t)
    }

    /// After a failure: `Some(how long)` when this one suspends it.
    fn note_failure(&mut self, now: Instant) -> Option<Duration> {
        self.failed_in_a_row += 1;
        if self.failed_in_a_row < FAILURES_BEFORE_SUSPENSION {
            return None;
        }
        let pause = self.next_suspension;
        self.suspended_until = Some(now + pause);
        self.next_suspension = (pause * 2).min(LONGEST_SUSPENSION);
        // Tried once more when the pause ends; one more failure suspends it again.
        self.failed_in_a_row = FAILURES_BEFORE_SUSPENSION - 1;
        Some(pause)
    }

    fn note_success(&mut self) {
        *self = Health::default();
    }
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
            health: Health::default(),
        })
        .collect();
    let mut judge = Judge {
        runtime,
        packs,
        enabled,
        metrics,
        on_alert,
        judged: Judged::default(),
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
            if self.packs[i].health.suspended(Instant::now()) {
                if let Some(m) = &self.metrics {
                    m.plugin_skipped_batches
                        .get_or_create(&PluginLabel {
                            plugin: self.packs[i].plugin.name.clone().into(),
                        })
                        .inc();
                }
                continue;
            }
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
                    self.judged.failed(format!("plugin {}: {e}", p.name));
                    continue;
                }
            };
            let Some(alerts) = self.account(i, result) else {
                continue;
            };
            for a in alerts {
                if self.enabled.contains(&(p.name.clone(), a.rule_id.clone())) {
                    self.alert(&p, &events, a);
                }
            }
        }
    }

    /// Count a rule run's cost and failure; its alerts when it succeeded.
    fn account(
        &mut self,
        i: usize,
        (result, cost): (Result<Vec<Alert>, PluginFailure>, RunCost),
    ) -> Option<Vec<Alert>> {
        let p = self.packs[i].plugin.clone();
        let label = PluginLabel {
            plugin: p.name.clone().into(),
        };
        if let Some(m) = &self.metrics {
            m.plugin_fuel.get_or_create(&label).inc_by(cost.fuel_used);
            m.plugin_seconds
                .get_or_create(&label)
                .inc_by(cost.wall_ms / 1000.0);
        }
        match result {
            Ok(a) => {
                self.packs[i].health.note_success();
                Some(a)
            }
            Err(f) => {
                if let Some(m) = &self.metrics {
                    m.plugin_failures.get_or_create(&label).inc();
                }
                let msg = format!("plugin {} {f}", p.name);
                // Said once per distinct failure; repeats are counted for the summary.
                if !self.judged.failures.contains_key(&msg) {
                    tracing::warn!("{msg}");
                }
                self.judged.failed(msg);
                if let Some(pause) = self.packs[i].health.note_failure(Instant::now()) {
                    tracing::warn!(
                        "plugin {} failed {FAILURES_BEFORE_SUSPENSION} batches in a row: its rules are suspended for {} s",
                        p.name,
                        pause.as_secs()
                    );
                }
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
                    rule: a.rule_id.clone().into(),
                    plugin: p.name.clone().into(),
                    severity: severity.clone().into(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_counted_per_message_and_bounded() {
        let mut j = Judged::default();
        for _ in 0..1000 {
            j.failed("plugin p trapped".to_string());
        }
        for i in 0..100 {
            j.failed(format!("plugin p ran out of fuel at {i}"));
        }
        let lines = j.failure_lines();
        assert_eq!(lines.len(), DISTINCT_FAILURES + 1, "{lines:#?}");
        assert!(lines.contains(&"plugin p trapped (1000 times)".to_string()));
        assert_eq!(
            lines.last().map(String::as_str),
            Some("81 more rule plugin failures")
        );
    }

    #[test]
    fn a_plugin_failing_in_a_row_is_suspended_longer_each_time_until_it_recovers() {
        let mut p = Health::default();
        let t0 = Instant::now();
        assert_eq!(p.note_failure(t0), None);
        assert_eq!(p.note_failure(t0), None);
        assert_eq!(p.note_failure(t0), Some(Duration::from_secs(1)));
        assert!(p.suspended(t0 + Duration::from_millis(500)));
        assert!(!p.suspended(t0 + Duration::from_secs(1)));
        // Tried again once the pause ends: one more failure suspends it for twice as long.
        assert_eq!(p.note_failure(t0), Some(Duration::from_secs(2)));
        for _ in 0..20 {
            p.note_failure(t0);
        }
        assert_eq!(p.note_failure(t0), Some(LONGEST_SUSPENSION));
        p.note_success();
        assert!(!p.suspended(t0));
        assert_eq!(p.note_failure(t0), None);
    }
}
