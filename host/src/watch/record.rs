//! `profile record` and `profile verify`: watch containers and keep, per container, what it
//! did — syscalls by number per ABI, capability checks by kind — all counted in the kernel.
//! Containers started during the recording are watched from their cgroup's creation, so
//! the runtime's own syscalls between loading the seccomp filter and `execve` are in it.

use super::stream::{pump, Sink};
use super::{WatchError, WatchOptions, Watcher};
use crate::probes::event::{container_id_in, Kind, Record};
use crate::probes::{syscalls, CapTally, Source, Sources, SyscallCounts};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What to record.
pub struct RecordSpec {
    /// Running containers to record from now on (names or ids).
    pub containers: Vec<String>,
    /// Also every container that starts during the recording.
    pub new: bool,
    /// Count syscalls that end in `-EPERM` too (`verify`: a filter's refusals).
    pub refusals: bool,
    pub duration: Duration,
}

/// What one container did while recorded.
#[derive(Debug, Clone, Default)]
pub struct Recording {
    pub id: String,
    pub name: String,
    pub image: String,
    pub cgroup: u64,
    /// Watched from its cgroup's creation: its start-up, the runtime's part included.
    pub startup_seen: bool,
    pub seconds: f64,
    /// Native syscalls by name, with counts.
    pub syscalls: BTreeMap<String, u64>,
    /// Compat (32-bit) syscalls by their compat name, with counts.
    pub compat_syscalls: BTreeMap<String, u64>,
    /// The runtime's syscalls while it set the container up (before the container's first
    /// exec), made with a seccomp filter loaded: what a profile must allow for the
    /// container to start under it.
    pub runtime_filtered: BTreeMap<String, u64>,
    /// The runtime's syscalls without a filter loaded (its set-up before loading one, or
    /// all of them when the container runs unconfined).
    pub runtime_unfiltered: BTreeMap<String, u64>,
    /// Native syscalls that ended in `-EPERM` (only with [`RecordSpec::refusals`]).
    pub eperm: BTreeMap<String, u64>,
    pub compat_eperm: BTreeMap<String, u64>,
    /// Capability checks by name (`CAP_…`).
    pub capabilities: BTreeMap<String, CapTally>,
}

/// A recording: every container seen, and what this kernel could not give.
pub struct Recorded {
    pub containers: Vec<Recording>,
    pub notes: Vec<String>,
}

/// The sink of a recording: containers seen starting are adopted; events are not kept.
struct Adopter {
    watcher: Arc<Watcher>,
    new: bool,
    /// cgroup → (container id from the cgroup path, when it was created).
    started: HashMap<u64, (String, Instant)>,
    /// Adoptions under way, awaited before the counts are read.
    adopting: Vec<tokio::task::JoinHandle<()>>,
}

impl Sink for Adopter {
    fn event(&mut self, r: Record) {
        if r.kind() != Some(Kind::CgroupMkdir) {
            return;
        }
        let cgroup = r.event.cgroup;
        if !self.new {
            // Not recorded: stop the kernel from watching it as pending, which would cost
            // every process on the host a lookup per syscall.
            if let Err(e) = self.watcher.lock_probes().settle_pending(cgroup) {
                tracing::warn!("cgroup {cgroup}: {}", crate::text::error_chain(&e));
            }
            return;
        }
        let Some(id) = container_id_in(&r.path).map(str::to_string) else {
            return;
        };
        self.started.insert(cgroup, (id.clone(), Instant::now()));
        // A container that is gone before Docker names it is still counted (pending cgroups
        // count in the kernel); it is reported under the id in its path.
        self.adopting.push(self.watcher.adopt_later(cgroup, id));
    }

    async fn tick(&mut self) -> Result<(), WatchError> {
        Ok(())
    }
}

/// Record `spec` until its duration passes or `during` ends (whichever is first; `during`
/// is what `verify` does meanwhile: start a container and wait for it).
pub async fn record(
    host: Option<String>,
    spec: &RecordSpec,
    during: impl Future<Output = ()>,
) -> Result<Recorded, WatchError> {
    let opts = WatchOptions::new(Some(spec.duration));
    let mut wanted = vec![
        Source::Process,
        Source::SyscallCounts,
        Source::CapabilityCounts,
        Source::ProfileDetail,
    ];
    if spec.refusals {
        wanted.push(Source::Refusals);
    }
    let watcher = Arc::new(Watcher::new(host, &opts, &Sources::of(&wanted))?);
    let begun = Instant::now();
    for c in &spec.containers {
        watcher.add(c).await?;
    }
    let ring = watcher
        .lock_probes()
        .take_events()
        .ok_or(WatchError::RingTaken)?;
    let mut sink = Adopter {
        watcher: watcher.clone(),
        new: spec.new,
        started: HashMap::new(),
        adopting: Vec::new(),
    };
    pump(ring, opts.batch, opts.duration, during, &mut sink).await?;
    let ended = Instant::now();
    // Containers that started near the end are named before the counts are read.
    let adopting = futures_util::future::join_all(std::mem::take(&mut sink.adopting));
    let _ = tokio::time::timeout(Duration::from_secs(5), adopting).await;
    let mut notes = watcher.lock_probes().notes().to_vec();
    let mut cgroups = who_was_seen(&watcher, &sink, begun, ended, &mut notes);
    fill_counts(&watcher, spec.refusals, &mut cgroups)?;
    Ok(Recorded {
        containers: cgroups.into_values().collect(),
        notes,
    })
}

/// Every container recorded, by cgroup: those Docker named (watched from the start or
/// adopted when seen starting) and those gone before it could (under the id in their
/// cgroup's path).
fn who_was_seen(
    watcher: &Watcher,
    sink: &Adopter,
    begun: Instant,
    ended: Instant,
    notes: &mut Vec<String>,
) -> BTreeMap<u64, Recording> {
    let attribution = watcher.lock_attr();
    let mut cgroups: BTreeMap<u64, Recording> = BTreeMap::new();
    for (cg, who) in attribution.containers() {
        let started = sink.started.get(cg);
        let since = started.map_or(begun, |s| s.1);
        cgroups.insert(
            *cg,
            Recording {
                id: who.id.clone(),
                name: who.name.clone(),
                image: who.image.clone(),
                cgroup: *cg,
                startup_seen: started.is_some(),
                seconds: ended.duration_since(since).as_secs_f64(),
                ..Recording::default()
            },
        );
    }
    for (cg, (id, at)) in &sink.started {
        cgroups.entry(*cg).or_insert_with(|| {
            notes.push(format!(
                "container {id} was gone before Docker could name it; recorded under its id"
            ));
            Recording {
                id: id.clone(),
                name: id.chars().take(12).collect(),
                cgroup: *cg,
                startup_seen: true,
                seconds: ended.duration_since(*at).as_secs_f64(),
                ..Recording::default()
            }
        });
    }
    cgroups
}

/// Each recorded container's counts, read from the kernel once.
fn fill_counts(
    watcher: &Watcher,
    refusals: bool,
    cgroups: &mut BTreeMap<u64, Recording>,
) -> Result<(), WatchError> {
    let probes = watcher.lock_probes();
    let counts = probes.counts()?;
    let compat = probes.compat_counts()?;
    let (eperm, compat_eperm) = if refusals {
        (probes.eperm_counts()?, probes.compat_eperm_counts()?)
    } else {
        Default::default()
    };
    let caps = probes.capability_counts()?;
    let runtime_filtered = probes.runtime_counts(true)?;
    let runtime_unfiltered = probes.runtime_counts(false)?;
    drop(probes);
    for (cg, r) in cgroups.iter_mut() {
        r.syscalls = named(&counts, *cg, false);
        r.compat_syscalls = named(&compat, *cg, true);
        r.runtime_filtered = named(&runtime_filtered, *cg, false);
        r.runtime_unfiltered = named(&runtime_unfiltered, *cg, false);
        r.eperm = named(&eperm, *cg, false);
        r.compat_eperm = named(&compat_eperm, *cg, true);
        r.capabilities = caps
            .iter()
            .filter(|((c, _), _)| c == cg)
            .map(|((_, cap), t)| (crate::capability::name(i64::from(*cap)), *t))
            .collect();
    }
    Ok(())
}

/// One cgroup's counts by syscall name (native or compat table).
fn named(counts: &SyscallCounts, cgroup: u64, compat: bool) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for ((cg, nr), n) in counts {
        if *cg == cgroup && *n > 0 {
            let name = if compat {
                syscalls::compat_name(i64::from(*nr))
            } else {
                syscalls::name(i64::from(*nr))
            };
            *out.entry(name.into_owned()).or_default() += n;
        }
    }
    out
}
