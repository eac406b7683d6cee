//! `bulwark watch`: runtime monitoring. The probes report what processes in watched
//! cgroups do; this module keeps the cgroup → container map current from Docker's event
//! stream and the cgroup filesystem, turns kernel events into rule events, runs the rule
//! plugins on each batch in their sandbox, and hands alerts to the caller.

use crate::abi::rules::{Alert, Event as RuleEvent, EventKind, RuleMeta};
use crate::docker::{Client as Collector, RunningContainer};
use crate::metrics::{KindLabel, PluginLabel, RuleLabels, WatchMetrics};
use crate::probes::{self, ProbeError, ProbeOptions, Probes};
use crate::runtime::{Plugin, RuleSession, Runtime};
use aya::maps::{MapData, RingBuf};
use bulwark_probes_common as common;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::unix::AsyncFd;

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error(transparent)]
    Probe(#[from] ProbeError),
    #[error("cgroup: {0}")]
    Cgroup(String),
    #[error("{0}")]
    Docker(String),
}

/// Where the unified (v2) cgroup hierarchy is mounted: `/sys/fs/cgroup` on pure v2 hosts,
/// `/sys/fs/cgroup/unified` on hybrid ones.
pub fn cgroup2_root() -> Result<PathBuf, WatchError> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| WatchError::Cgroup(format!("/proc/self/mountinfo: {e}")))?;
    cgroup2_mount_in(&info)
        .ok_or_else(|| WatchError::Cgroup("no cgroup2 hierarchy is mounted".into()))
}

/// The mount point of the first cgroup2 filesystem in a mountinfo text.
fn cgroup2_mount_in(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        (post.split_whitespace().next() == Some("cgroup2"))
            .then(|| pre.split_whitespace().nth(4).map(PathBuf::from))
            .flatten()
    })
}

/// The v2 path in a `/proc/PID/cgroup` text (its `0::` line; v1 lines are ignored).
fn v2_path_in(proc_cgroup: &str) -> Option<&str> {
    proc_cgroup.lines().find_map(|l| l.strip_prefix("0::"))
}

/// The cgroup id (inode of its v2 cgroup directory) of a process.
pub fn cgroup_id_of(root: &std::path::Path, pid: i64) -> Result<u64, WatchError> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .map_err(|e| WatchError::Cgroup(format!("/proc/{pid}/cgroup: {e}")))?;
    let path = v2_path_in(&text)
        .ok_or_else(|| WatchError::Cgroup(format!("process {pid} has no cgroup v2 path")))?;
    let dir = root.join(path.trim_start_matches('/'));
    std::fs::metadata(&dir)
        .map(|m| m.ino())
        .map_err(|e| WatchError::Cgroup(format!("{}: {e}", dir.display())))
}

/// Who a cgroup belongs to.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerInfo {
    pub id: String,
    pub name: String,
    pub image: String,
}

/// cgroup id ↔ container, kept current.
#[derive(Default)]
pub struct Attribution {
    by_cgroup: HashMap<u64, ContainerInfo>,
    by_id: HashMap<String, u64>,
}

impl Attribution {
    pub fn get(&self, cgroup: u64) -> Option<&ContainerInfo> {
        self.by_cgroup.get(&cgroup)
    }
    pub fn containers(&self) -> impl Iterator<Item = (&u64, &ContainerInfo)> {
        self.by_cgroup.iter()
    }
}

/// One alert, ready to print.
#[derive(Debug, Clone, Serialize)]
pub struct AlertRecord {
    /// Unix time, seconds with fraction.
    pub time: f64,
    pub container: ContainerInfo,
    pub process: ProcessRecord,
    pub event: EventRecord,
    pub rule: RuleRecord,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProcessRecord {
    pub pid: u32,
    pub uid: u32,
    pub comm: String,
    /// The executable (from /proc when the process still exists; the file for exec).
    pub exe: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventRecord {
    pub kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub path: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub argv: Vec<String>,
    pub args: Vec<u64>,
    pub ret: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleRecord {
    pub id: String,
    pub title: String,
    pub severity: String,
    pub plugin: String,
}

/// Totals at the end of a watch.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub events: u64,
    pub lost: u64,
    pub alerts: u64,
    /// Per container name: syscall name → count (in-kernel counts).
    pub syscalls: HashMap<String, BTreeMap<String, u64>>,
    pub rule_failures: Vec<String>,
}

fn kind_name(k: &EventKind) -> &'static str {
    match k {
        EventKind::Exec => "exec",
        EventKind::Fork => "fork",
        EventKind::Exit => "exit",
        EventKind::Syscall => "syscall",
        EventKind::SyscallExit => "syscall-exit",
        EventKind::Capable => "capable",
    }
}

/// A kernel event as rules see it.
fn to_rule_event(e: &common::Event, who: &ContainerInfo) -> Option<RuleEvent> {
    let kind = match e.kind {
        common::EXEC => EventKind::Exec,
        common::FORK => EventKind::Fork,
        common::EXIT => EventKind::Exit,
        common::SYSCALL => EventKind::Syscall,
        common::SYSCALL_EXIT => EventKind::SyscallExit,
        common::CAPABLE => EventKind::Capable,
        _ => return None,
    };
    let name = match kind {
        EventKind::Syscall | EventKind::SyscallExit => probes::syscall_name(e.nr),
        EventKind::Capable => probes::capability_name(e.nr),
        _ => String::new(),
    };
    Some(RuleEvent {
        kind,
        time_ns: e.ktime,
        container_id: who.id.clone(),
        container_name: who.name.clone(),
        image: who.image.clone(),
        pid: e.pid,
        tid: e.tid,
        uid: e.uid,
        comm: probes::c_text(&e.comm),
        path: probes::c_text(&e.path),
        argv: probes::argv(e),
        name,
        nr: e.nr,
        args: e.args.to_vec(),
        ret: e.ret,
    })
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

fn raw_kind_name(k: u32) -> &'static str {
    match k {
        common::EXEC => "exec",
        common::FORK => "fork",
        common::EXIT => "exit",
        common::SYSCALL => "syscall",
        common::SYSCALL_EXIT => "syscall-exit",
        common::CAPABLE => "capable",
        _ => "unknown",
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
    /// Check what watching needs and load the probes (nothing is attached to containers yet).
    pub fn new(host: Option<String>, opts: &WatchOptions) -> Result<Watcher, WatchError> {
        let probes = Probes::load(opts.probe)?;
        Ok(Watcher {
            probes: Mutex::new(probes),
            attribution: Mutex::new(Attribution::default()),
            collector: Collector::new(host),
            cgroup_root: cgroup2_root()?,
        })
    }

    fn lock_probes(&self) -> std::sync::MutexGuard<'_, Probes> {
        self.probes.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_attr(&self) -> std::sync::MutexGuard<'_, Attribution> {
        self.attribution.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Start watching a container: its cgroup joins the in-kernel filter.
    pub async fn add(&self, id: &str) -> Result<(), WatchError> {
        let c: RunningContainer = self
            .collector
            .running_container(id)
            .await
            .map_err(|e| WatchError::Docker(e.to_string()))?;
        if !c.running || c.pid <= 0 {
            return Ok(());
        }
        let cg = cgroup_id_of(&self.cgroup_root, c.pid)?;
        self.lock_probes().watch(cg, true)?;
        tracing::info!(container = %c.name, cgroup = cg, "watching");
        let mut a = self.lock_attr();
        a.by_id.insert(c.id.clone(), cg);
        a.by_cgroup.insert(
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
        let cg = self.lock_attr().by_id.get(id).copied();
        if let Some(cg) = cg {
            self.lock_probes().watch(cg, false)?;
        }
        Ok(())
    }

    /// Watch every running container, then follow starts and deaths until the stream ends.
    pub async fn follow_containers(self: Arc<Self>) -> Result<(), WatchError> {
        use futures_util::StreamExt;
        let stream = self
            .collector
            .container_events()
            .await
            .map_err(|e| WatchError::Docker(e.to_string()))?;
        // Subscribe first, then list: a container starting in between is not missed.
        for id in self
            .collector
            .running_ids()
            .await
            .map_err(|e| WatchError::Docker(e.to_string()))?
        {
            if let Err(e) = self.add(&id).await {
                tracing::warn!("container {id}: {e}");
            }
        }
        futures_util::pin_mut!(stream);
        while let Some(ev) = stream.next().await {
            match ev {
                Ok((action, id)) if action == "start" => {
                    if let Err(e) = self.add(&id).await {
                        tracing::warn!("container {id}: {e}");
                    }
                }
                Ok((_, id)) => {
                    if let Err(e) = self.remove(&id) {
                        tracing::warn!("container {id}: {e}");
                    }
                }
                Err(e) => return Err(WatchError::Docker(e.to_string())),
            }
        }
        Ok(())
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
                .entry(probes::syscall_name(nr as i64))
                .or_default() += n;
        }
        Ok(out)
    }

    pub fn lost(&self) -> Result<u64, WatchError> {
        Ok(self.lock_probes().lost()?)
    }
}

/// Watch `ids` for `duration` and return what each container did: syscall counts (from the
/// kernel's per-cgroup counters) and capability checks. Keyed by container id.
pub async fn observe(
    host: Option<String>,
    ids: &[String],
    duration: Duration,
) -> Result<HashMap<String, crate::abi::ev::ObservedProfile>, WatchError> {
    use crate::abi::ev::{CapabilityUse, ObservedProfile};
    let opts = WatchOptions {
        duration: Some(duration),
        probe: ProbeOptions::default(),
        batch: Duration::from_millis(100),
        metrics: None,
    };
    let watcher = Watcher::new(host, &opts)?;
    for id in ids {
        if let Err(e) = watcher.add(id).await {
            tracing::warn!("not observing {id}: {e}");
        }
    }
    let ring = watcher
        .lock_probes()
        .take_events()
        .ok_or_else(|| WatchError::Probe(ProbeError::Ebpf("no ring buffer".into())))?;
    // SAFETY: as in `run`: the AsyncFd owns the ring buffer and its fd.
    let mut fd = unsafe { AsyncFd::register(ring) }
        .map_err(|e| WatchError::Probe(ProbeError::Ebpf(e.to_string())))?;
    // cgroup → capability → (granted, denied)
    let mut caps: HashMap<u64, HashMap<i64, (u64, u64)>> = HashMap::new();
    let mut tally = |ev: common::Event| {
        if ev.kind == common::CAPABLE {
            let e = caps.entry(ev.cgroup).or_default().entry(ev.nr).or_default();
            if ev.ret == 0 {
                e.0 += 1;
            } else {
                e.1 += 1;
            }
        }
    };
    let deadline = tokio::time::Instant::now() + duration;
    // The probes wake this reader only for a full batch; take the rest on a timer.
    let mut tick = tokio::time::interval(opts.batch);
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break,
            _ = tick.tick() => drain(fd.get_mut(), &mut tally),
            guard = fd.readable_mut() => {
                let mut guard = guard.map_err(|e| WatchError::Probe(ProbeError::Ebpf(e.to_string())))?;
                drain(guard.get_inner_mut(), &mut tally);
                guard.clear_ready();
            }
        }
    }
    drain(fd.get_mut(), &mut tally);
    let counts = watcher.lock_probes().counts()?;
    let attribution = watcher.lock_attr();
    let mut out = HashMap::new();
    for (cg, who) in attribution.containers() {
        let mut syscalls: Vec<(String, u64)> = counts
            .iter()
            .filter(|((c, _), _)| c == cg)
            .map(|((_, nr), n)| (probes::syscall_name(*nr as i64), *n))
            .collect();
        syscalls.sort();
        let mut capabilities: Vec<CapabilityUse> = caps
            .get(cg)
            .map(|m| {
                m.iter()
                    .map(|(cap, (g, d))| CapabilityUse {
                        name: probes::capability_name(*cap),
                        granted: *g,
                        denied: *d,
                    })
                    .collect()
            })
            .unwrap_or_default();
        capabilities.sort_by(|a, b| a.name.cmp(&b.name));
        out.insert(
            who.id.clone(),
            ObservedProfile {
                seconds: duration.as_secs().max(1) as u32,
                syscalls,
                capabilities,
            },
        );
    }
    Ok(out)
}

/// Every event waiting in the ring buffer, decoded, to `f`.
fn drain(rb: &mut RingBuf<MapData>, mut f: impl FnMut(common::Event)) {
    while let Some(item) = rb.next() {
        if let Some(ev) = probes::decode(&item) {
            f(ev);
        }
    }
}

/// Count a kernel event and queue it for the rules when it belongs to a known container.
fn accept(
    ev: common::Event,
    watcher: &Watcher,
    opts: &WatchOptions,
    summary: &mut Summary,
    batch: &mut Vec<(common::Event, ContainerInfo)>,
) {
    summary.events += 1;
    if let Some(m) = &opts.metrics {
        m.events
            .get_or_create(&KindLabel {
                kind: raw_kind_name(ev.kind).to_string(),
            })
            .inc();
    }
    if let Some(who) = watcher.lock_attr().get(ev.cgroup).cloned() {
        batch.push((ev, who));
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Run a watch: events are read from the ring buffer, batched, judged by `plugins`' rules,
/// and each alert is passed to `on_alert`. Ends after the duration, or when `stop` resolves.
pub async fn run(
    watcher: Arc<Watcher>,
    runtime: Arc<Runtime>,
    plugins: Vec<Arc<Plugin>>,
    opts: &WatchOptions,
    stop: impl std::future::Future<Output = ()>,
    mut on_alert: impl FnMut(AlertRecord),
) -> Result<Summary, WatchError> {
    let ring = watcher.lock_probes().take_events().ok_or_else(|| {
        WatchError::Probe(ProbeError::Ebpf("the ring buffer was already taken".into()))
    })?;
    // SAFETY: the ring buffer owns its map fd and lives inside the AsyncFd, which
    // deregisters it before dropping it.
    let mut fd = unsafe { AsyncFd::register(ring) }
        .map_err(|e| WatchError::Probe(ProbeError::Ebpf(e.to_string())))?;
    let follower = tokio::spawn(watcher.clone().follow_containers());
    // One instance per rule plugin for the whole watch (see `RuleSession`).
    let mut packs: Vec<RulePack> = plugins
        .into_iter()
        .filter(|p| !p.rules.is_empty())
        .map(|plugin| RulePack {
            plugin,
            session: None,
        })
        .collect();
    let mut summary = Summary::default();
    let deadline = opts.duration.map(|d| tokio::time::Instant::now() + d);
    let handle = tokio::runtime::Handle::current();
    tokio::pin!(stop);
    let mut batch: Vec<(common::Event, ContainerInfo)> = Vec::new();
    let mut tick = tokio::time::interval(opts.batch);
    loop {
        let until_deadline = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = &mut stop => break,
            _ = until_deadline => break,
            guard = fd.readable_mut() => {
                let mut guard = guard.map_err(|e| WatchError::Probe(ProbeError::Ebpf(e.to_string())))?;
                drain(guard.get_inner_mut(), |ev| accept(ev, &watcher, opts, &mut summary, &mut batch));
                guard.clear_ready();
            }
            _ = tick.tick() => {
                // The probes wake this reader only for a full batch: take what waits now.
                drain(fd.get_mut(), |ev| accept(ev, &watcher, opts, &mut summary, &mut batch));
                judge(&runtime, &mut packs, &handle, &mut batch, &mut summary, &mut on_alert, opts.metrics.as_deref()).await;
                if let Some(m) = &opts.metrics {
                    let lost = watcher.lost()?;
                    m.lost.inc_by(lost.saturating_sub(m.lost.get()));
                }
            }
        }
    }
    // What is left.
    drain(fd.get_mut(), |ev| {
        accept(ev, &watcher, opts, &mut summary, &mut batch)
    });
    judge(
        &runtime,
        &mut packs,
        &handle,
        &mut batch,
        &mut summary,
        &mut on_alert,
        opts.metrics.as_deref(),
    )
    .await;
    follower.abort();
    summary.lost = watcher.lost()?;
    summary.syscalls = watcher.summary_counts()?;
    Ok(summary)
}

/// A rule plugin and its instance, kept while it does not fail.
struct RulePack {
    plugin: Arc<Plugin>,
    session: Option<RuleSession>,
}

async fn judge(
    runtime: &Arc<Runtime>,
    packs: &mut [RulePack],
    handle: &tokio::runtime::Handle,
    batch: &mut Vec<(common::Event, ContainerInfo)>,
    summary: &mut Summary,
    on_alert: &mut impl FnMut(AlertRecord),
    metrics: Option<&WatchMetrics>,
) {
    if batch.is_empty() {
        return;
    }
    let taken = std::mem::take(batch);
    let events: Vec<RuleEvent> = taken
        .iter()
        .filter_map(|(e, who)| to_rule_event(e, who))
        .collect();
    let events = Arc::new(events);
    for RulePack { plugin: p, session } in packs.iter_mut() {
        if !p.grants.allows_scope(crate::evidence::Scope::Traces) {
            continue;
        }
        let (rt, pl, ev, h) = (runtime.clone(), p.clone(), events.clone(), handle.clone());
        let mut s = session.take();
        let out = tokio::task::spawn_blocking(move || {
            let r = rt.run_rules(&pl, &mut s, h, &ev);
            (r, s)
        })
        .await
        .map(|(r, s)| {
            *session = s;
            r
        });
        let label = PluginLabel {
            plugin: p.name.clone(),
        };
        if let (Some(m), Ok((_, cost))) = (metrics, &out) {
            m.plugin_fuel.get_or_create(&label).inc_by(cost.fuel_used);
            m.plugin_seconds
                .get_or_create(&label)
                .inc_by(cost.wall_ms / 1000.0);
        }
        let alerts: Vec<Alert> = match out {
            Ok((Ok(a), _)) => a,
            Ok((Err(f), _)) => {
                if let Some(m) = metrics {
                    m.plugin_failures.get_or_create(&label).inc();
                }
                let msg = format!("plugin {} {f}", p.name);
                tracing::warn!("{msg}");
                summary.rule_failures.push(msg);
                continue;
            }
            Err(e) => {
                summary
                    .rule_failures
                    .push(format!("plugin {}: {e}", p.name));
                continue;
            }
        };
        for a in alerts {
            let Some(e) = events.get(a.event as usize) else {
                continue;
            };
            let meta: Option<&RuleMeta> = p.rules.iter().find(|r| r.id == a.rule_id);
            let exe = if matches!(e.kind, EventKind::Exec) {
                e.path.clone()
            } else {
                std::fs::read_link(format!("/proc/{}/exe", e.pid))
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            };
            summary.alerts += 1;
            if let Some(m) = metrics {
                m.rule_matches
                    .get_or_create(&RuleLabels {
                        rule: a.rule_id.clone(),
                        plugin: p.name.clone(),
                        severity: meta.map(|m| m.severity.clone()).unwrap_or_default(),
                    })
                    .inc();
            }
            on_alert(AlertRecord {
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
                event: EventRecord {
                    kind: kind_name(&e.kind).to_string(),
                    name: e.name.clone(),
                    path: e.path.clone(),
                    argv: e.argv.clone(),
                    args: e.args.clone(),
                    ret: e.ret,
                },
                rule: RuleRecord {
                    id: a.rule_id.clone(),
                    title: meta.map(|m| m.title.clone()).unwrap_or_default(),
                    severity: meta.map(|m| m.severity.clone()).unwrap_or_default(),
                    plugin: p.name.clone(),
                },
                message: a.message,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup2_is_found_on_pure_v2_and_hybrid_hosts() {
        // Pure v2 (systemd driver), then hybrid (v1 controllers, v2 at unified).
        let pure = "24 30 0:21 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n";
        let hybrid = "25 24 0:22 / /sys/fs/cgroup ro,nosuid shared:4 - tmpfs tmpfs ro,mode=755\n\
            26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid shared:5 - cgroup2 cgroup2 rw,nsdelegate\n\
            27 25 0:24 / /sys/fs/cgroup/memory rw,nosuid shared:6 - cgroup cgroup rw,memory\n";
        assert_eq!(
            cgroup2_mount_in(pure),
            Some(PathBuf::from("/sys/fs/cgroup"))
        );
        assert_eq!(
            cgroup2_mount_in(hybrid),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        assert_eq!(
            cgroup2_mount_in("27 25 0:24 / /x rw - cgroup cgroup rw\n"),
            None
        );
        // A v2 line after v1 ones; systemd and cgroupfs drivers.
        let v1v2 = "12:memory:/docker/abc\n1:name=systemd:/docker/abc\n0::/docker/abc\n";
        assert_eq!(v2_path_in(v1v2), Some("/docker/abc"));
        assert_eq!(
            v2_path_in("0::/system.slice/docker-abc.scope\n"),
            Some("/system.slice/docker-abc.scope")
        );
        assert_eq!(v2_path_in("12:memory:/docker/abc\n"), None);
    }
}
