//! The sink of `bulwark watch`: every record is counted; those of watched containers are
//! batched for the judge; those of a container seen starting (its cgroup's creation) are
//! held until Docker names it, so that what a container does as it starts is judged too.

use super::cgroup::ContainerInfo;
use super::stream::Sink;
use super::{WatchError, Watcher};
use crate::metrics::{KindLabel, WatchMetrics};
use crate::probes::event::{container_id_in, Kind, Record};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// A batch for the judge: records and who they belong to.
pub(super) type Batch = Vec<(Record, ContainerInfo)>;

/// Records a batch holds before it is handed over early (between ticks); see the judge's
/// queue for what the two bound together.
const MAX_BATCH: usize = 4_096;
/// Records held for one container not yet named; more are dropped (and counted).
const MAX_HELD: usize = 4_096;
/// How long a container may stay unnamed before its held records are dropped.
const HOLD_FOR: Duration = Duration::from_secs(10);

/// Records of a container seen starting, until Docker names it.
struct Held {
    since: Instant,
    records: Vec<Record>,
}

pub(super) struct Reader {
    watcher: Arc<Watcher>,
    judge: mpsc::Sender<Batch>,
    metrics: Option<Arc<WatchMetrics>>,
    batch: Batch,
    held: HashMap<u64, Held>,
    events: u64,
    dropped: u64,
    stats_seen: HashMap<String, (u64, u64)>,
}

impl Reader {
    pub fn new(
        watcher: Arc<Watcher>,
        judge: mpsc::Sender<Batch>,
        metrics: Option<Arc<WatchMetrics>>,
    ) -> Reader {
        Reader {
            watcher,
            judge,
            metrics,
            batch: Vec::new(),
            held: HashMap::new(),
            events: 0,
            dropped: 0,
            stats_seen: HashMap::new(),
        }
    }

    /// (events, dropped in user space); closes the judge's queue.
    pub fn finish(self) -> (u64, u64) {
        (self.events, self.dropped)
    }

    /// A container's cgroup was created: hold its records, and have Docker name it.
    fn started(&mut self, r: &Record) {
        let cgroup = r.event.cgroup;
        let Some(id) = container_id_in(&r.path).map(str::to_string) else {
            return;
        };
        self.held.insert(
            cgroup,
            Held {
                since: Instant::now(),
                records: Vec::new(),
            },
        );
        self.watcher.adopt_later(cgroup, id);
    }

    /// Held records of containers named since, into the batch; those held too long, out.
    fn release(&mut self) {
        if self.held.is_empty() {
            return;
        }
        let attribution = self.watcher.lock_attr();
        let mut done = Vec::new();
        for (cg, h) in &mut self.held {
            if let Some(who) = attribution.get(*cg) {
                self.batch
                    .extend(h.records.drain(..).map(|r| (r, who.clone())));
                done.push(*cg);
            } else if h.since.elapsed() > HOLD_FOR {
                self.dropped += h.records.len() as u64;
                done.push(*cg);
            }
        }
        drop(attribution);
        for cg in done {
            self.held.remove(&cg);
        }
    }

    /// Hand the batch to the judge; when its queue is full the batch is dropped (and
    /// counted) rather than the ring buffer left unread.
    fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        let n = batch.len() as u64;
        if let Err(mpsc::error::TrySendError::Full(_) | mpsc::error::TrySendError::Closed(_)) =
            self.judge.try_send(batch)
        {
            self.dropped += n;
            if let Some(m) = &self.metrics {
                m.dropped.inc_by(n);
            }
        }
    }

    /// Metrics read from the kernel on the tick: lost events, each program's cost.
    fn kernel_metrics(&mut self, m: &WatchMetrics) -> Result<(), WatchError> {
        let lost = self.watcher.lost()?;
        m.lost.inc_by(lost.saturating_sub(m.lost.get()));
        for s in self.watcher.program_stats() {
            let seen = self.stats_seen.entry(s.program.clone()).or_default();
            m.program_runs(&s.program)
                .inc_by(s.runs.saturating_sub(seen.0));
            m.program_seconds(&s.program)
                .inc_by(s.run_time_ns.saturating_sub(seen.1) as f64 / 1e9);
            *seen = (s.runs.max(seen.0), s.run_time_ns.max(seen.1));
        }
        Ok(())
    }
}

impl Sink for Reader {
    fn event(&mut self, r: Record) {
        let kind = r.kind();
        if kind == Some(Kind::CgroupMkdir) {
            self.started(&r);
            return;
        }
        self.events += 1;
        if let Some(m) = &self.metrics {
            m.events
                .get_or_create(&KindLabel {
                    kind: kind.map_or("unknown", Kind::name).to_string().into(),
                })
                .inc();
        }
        let who = self.watcher.lock_attr().get(r.event.cgroup).cloned();
        if let Some(who) = who {
            self.batch.push((r, who));
            if self.batch.len() >= MAX_BATCH {
                self.flush();
            }
        } else if let Some(h) = self.held.get_mut(&r.event.cgroup) {
            if h.records.len() < MAX_HELD {
                h.records.push(r);
            } else {
                self.dropped += 1;
            }
        }
    }

    async fn tick(&mut self) -> Result<(), WatchError> {
        self.release();
        self.flush();
        if let Some(m) = self.metrics.clone() {
            self.kernel_metrics(&m)?;
        }
        Ok(())
    }
}
