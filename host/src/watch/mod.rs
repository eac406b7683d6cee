//! `bulwark watch`: runtime monitoring. The probes report what processes in watched
//! cgroups do; a watch keeps the cgroup → container map current from Docker's event stream
//! and the cgroup filesystem, and hands kernel events to the rule plugins.
//!
//! - [`rules`]: which rules run, and so what the probes attach (the union of their sources).
//! - [`cgroup`]: which container an event belongs to.
//! - `stream`: the one event loop (ring buffer → a sink, on wakeups and on a timer).
//! - `reader`: the watch's sink: counts events, attributes them (holding those of containers
//!   seen starting until Docker names them), and hands batches to the judge.
//! - `judge`: batches of events through the rule plugins, in a task of their own, alerts out.
//! - [`format`]: alerts and the summary as records and text.
//! - [`observe`]: what containers did, as evidence for `audit --observe`.
//! - [`record`]: what containers did, in detail, for `profile`; [`profile`] turns that
//!   into seccomp profiles and advice, and verifies a profile on a copy of a container.

pub mod cgroup;
pub mod format;
mod judge;
pub mod observe;
pub mod profile;
mod reader;
pub mod record;
pub mod rules;
mod stream;

pub use cgroup::{cgroup2_root, cgroup_id_of, filter_key_of, Attribution, ContainerInfo};
pub use format::{AlertRecord, EventRecord, ProcessRecord, RuleRecord, Summary};
pub use observe::observe;
pub use rules::{RulePlan, RuleSpec};

use crate::docker::{Client as Collector, RunningContainer};
use crate::metrics::WatchMetrics;
use crate::probes::{syscalls, Attached, ProbeError, ProbeOptions, Probes, ProgramStats, Sources};
use crate::runtime::{Plugin, Runtime};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error(transparent)]
    Probe(#[from] ProbeError),
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no cgroup2 hierarchy is mounted (containers are told apart by their v2 cgroup)")]
    NoCgroup2,
    #[error("process {0} has no cgroup v2 path")]
    NoCgroupPath(i64),
    #[error(transparent)]
    Docker(#[from] crate::docker::DockerError),
    #[error("the Docker event stream ended")]
    EventsEnded,
    #[error("reading the ring buffer")]
    Ring(#[source] std::io::Error),
    #[error("the ring buffer was already taken")]
    RingTaken,
    #[error("interrupted")]
    Interrupted,
    #[error("the rule judge stopped")]
    Judge(#[source] tokio::task::JoinError),
}

/// Options of a watch.
pub struct WatchOptions {
    pub duration: Option<Duration>,
    pub probe: ProbeOptions,
    /// How often events are handed to the rules.
    pub batch: Duration,
    /// Prometheus metrics to keep, when served.
    pub metrics: Option<Arc<WatchMetrics>>,
}

impl WatchOptions {
    /// Options with the defaults: no end, the default probes, 100 ms batches, no metrics.
    pub fn new(duration: Option<Duration>) -> WatchOptions {
        WatchOptions {
            duration,
            probe: ProbeOptions::default(),
            batch: Duration::from_millis(100),
            metrics: None,
        }
    }
}

/// Monitoring state shared by the tasks of a watch.
pub struct Watcher {
    probes: Mutex<Probes>,
    attribution: Mutex<Attribution>,
    collector: Collector,
    cgroup_root: PathBuf,
}

impl Watcher {
    /// Check what watching needs, load the probes and attach what `sources` needs (no
    /// container is watched yet).
    pub fn new(
        host: Option<String>,
        opts: &WatchOptions,
        sources: &Sources,
    ) -> Result<Watcher, WatchError> {
        let probes = Probes::load(opts.probe, sources)?;
        Ok(Watcher {
            probes: Mutex::new(probes),
            attribution: Mutex::new(Attribution::default()),
            collector: Collector::new(host),
            cgroup_root: cgroup2_root()?,
        })
    }

    pub(super) fn lock_probes(&self) -> std::sync::MutexGuard<'_, Probes> {
        self.probes.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn lock_attr(&self) -> std::sync::MutexGuard<'_, Attribution> {
        self.attribution.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Start watching a container: its cgroup joins the in-kernel filter.
    pub async fn add(&self, id: &str) -> Result<(), WatchError> {
        let c: RunningContainer = self.collector.running_container(id).await?;
        if !c.running || c.pid <= 0 {
            return Ok(());
        }
        let (cg, by_pidns) = filter_key_of(&self.cgroup_root, c.pid, &c.id)?;
        // Listed again after the event stream reconnected: already watched as it is.
        if self.lock_attr().cgroup_of(&c.id) == Some(cg) {
            return Ok(());
        }
        {
            let mut probes = self.lock_probes();
            if by_pidns {
                probes.attribute_by_pid_namespace()?;
            }
            probes.mark_started(cg)?;
        }
        self.watch(cg, c)
    }

    /// A container whose cgroup the probes saw created (it has no process yet): watched
    /// from its first syscall. `false` when `id` is not a container of this daemon (another
    /// engine's), which is then left alone.
    pub async fn adopt(&self, cgroup: u64, id: &str) -> Result<bool, WatchError> {
        match self.collector.running_container(id).await {
            Ok(c) => self.watch(cgroup, c).map(|_| true),
            Err(crate::docker::DockerError::NotFound { .. }) => {
                self.lock_probes().settle_pending(cgroup)?;
                Ok(false)
            }
            Err(e) => {
                self.lock_probes().settle_pending(cgroup)?;
                Err(e.into())
            }
        }
    }

    /// [`Watcher::adopt`] in the background, for a sink that must not wait on Docker.
    pub(super) fn adopt_later(
        self: &Arc<Self>,
        cgroup: u64,
        id: String,
    ) -> tokio::task::JoinHandle<()> {
        let watcher = self.clone();
        tokio::spawn(async move {
            match watcher.adopt(cgroup, &id).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::debug!("cgroup {cgroup}: {id} is no container of this daemon")
                }
                Err(e) => tracing::warn!("container {id}: {}", crate::text::error_chain(&e)),
            }
        })
    }

    fn watch(&self, cg: u64, c: RunningContainer) -> Result<(), WatchError> {
        {
            let mut probes = self.lock_probes();
            probes.watch(cg, true)?;
            probes.settle_pending(cg)?;
        }
        tracing::info!(container = %c.name, cgroup = cg, "watching");
        self.lock_attr().insert(
            cg,
            ContainerInfo {
                id: c.id,
                name: c.name,
                image: c.image,
            },
        );
        Ok(())
    }

    /// Stop filtering for a container that died. Its attribution is kept, so late events
    /// still name it.
    pub fn remove(&self, id: &str) -> Result<(), WatchError> {
        let cg = self.lock_attr().cgroup_of(id);
        if let Some(cg) = cg {
            self.lock_probes().watch(cg, false)?;
        }
        Ok(())
    }

    /// Watch every running container, then follow starts and deaths for as long as the
    /// watch runs. When the daemon's event stream drops (a daemon restart, a proxy that
    /// cuts it), it is opened again with a backoff and the running containers are listed
    /// again, so containers started meanwhile are not missed.
    pub async fn follow_containers(self: Arc<Self>) -> Result<(), WatchError> {
        const FIRST: Duration = Duration::from_millis(250);
        let mut backoff = FIRST;
        loop {
            let (subscribed, why) = match self.follow_once().await {
                (s, Ok(())) => (s, "ended".to_string()),
                (s, Err(e)) => (s, format!("failed: {}", crate::text::error_chain(&e))),
            };
            if subscribed {
                backoff = FIRST;
            }
            tracing::warn!(
                "the Docker event stream {why}; opening it again in {} ms",
                backoff.as_millis()
            );
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    }

    /// One subscription: (whether it was opened, how it ended).
    async fn follow_once(&self) -> (bool, Result<(), WatchError>) {
        use futures_util::StreamExt;
        let stream = match self.collector.container_events().await {
            Ok(s) => s,
            Err(e) => return (false, Err(e.into())),
        };
        // Subscribe first, then list: a container starting in between is not missed.
        let running = match self.collector.running_ids().await {
            Ok(ids) => ids,
            Err(e) => return (true, Err(e.into())),
        };
        for id in running {
            if let Err(e) = self.add(&id).await {
                tracing::warn!("container {id}: {}", crate::text::error_chain(&e));
            }
        }
        futures_util::pin_mut!(stream);
        while let Some(ev) = stream.next().await {
            match ev {
                Ok((action, id)) if action == "start" => {
                    if let Err(e) = self.add(&id).await {
                        tracing::warn!("container {id}: {}", crate::text::error_chain(&e));
                    }
                }
                Ok((_, id)) => {
                    if let Err(e) = self.remove(&id) {
                        tracing::warn!("container {id}: {}", crate::text::error_chain(&e));
                    }
                }
                Err(e) => return (true, Err(e.into())),
            }
        }
        (true, Ok(()))
    }

    pub fn summary_counts(&self) -> Result<HashMap<String, BTreeMap<String, u64>>, WatchError> {
        let counts = self.lock_probes().counts()?;
        let a = self.lock_attr();
        let mut out: HashMap<String, BTreeMap<String, u64>> = HashMap::new();
        for ((cg, nr), n) in counts {
            let name = a
                .get(cg)
                .map(|c| c.name.clone())
                .unwrap_or_else(|| format!("cgroup:{cg}"));
            *out.entry(name)
                .or_default()
                .entry(syscalls::name(nr as i64).into_owned())
                .or_default() += n;
        }
        Ok(out)
    }

    pub fn lost(&self) -> Result<u64, WatchError> {
        Ok(self.lock_probes().lost()?)
    }

    /// What the probes attached where.
    pub fn attached(&self) -> Vec<Attached> {
        self.lock_probes().attached().to_vec()
    }

    /// What this kernel could not give as asked.
    pub fn notes(&self) -> Vec<String> {
        self.lock_probes().notes().to_vec()
    }

    /// Each attached program's runs and run time (with BPF statistics on).
    pub fn program_stats(&self) -> Vec<ProgramStats> {
        self.lock_probes().program_stats()
    }
}

/// Run a watch: events are read from the ring buffer, batched, judged by the rules `plan`
/// enables in `plugins`, and each alert is passed to `on_alert` (from the judge's task).
/// Ends after the duration, or when `stop` resolves.
pub async fn run(
    watcher: Arc<Watcher>,
    runtime: Arc<Runtime>,
    plugins: Vec<Arc<Plugin>>,
    plan: &RulePlan,
    opts: &WatchOptions,
    stop: impl std::future::Future<Output = ()>,
    on_alert: impl FnMut(AlertRecord) + Send + 'static,
) -> Result<Summary, WatchError> {
    let ring = watcher
        .lock_probes()
        .take_events()
        .ok_or(WatchError::RingTaken)?;
    let follower = tokio::spawn(watcher.clone().follow_containers());
    let (tx, judge) = judge::spawn(runtime, plugins, plan, opts.metrics.clone(), on_alert);
    let mut reader = reader::Reader::new(watcher.clone(), tx, opts.metrics.clone());
    let pumped = stream::pump(ring, opts.batch, opts.duration, stop, &mut reader).await;
    follower.abort();
    let (events, dropped) = reader.finish();
    let judged = judge.await.map_err(WatchError::Judge)?;
    pumped?;
    Ok(Summary {
        events,
        lost: watcher.lost()?,
        dropped,
        alerts: judged.alerts,
        syscalls: watcher.summary_counts()?,
        rule_failures: judged.failure_lines(),
    })
}
