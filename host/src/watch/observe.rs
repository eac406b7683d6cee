//! `audit --observe`: watch chosen containers for a while and keep what each did — its
//! syscall counts and the capability checks it caused, both counted in the kernel — as
//! evidence.

use super::stream::{pump, Sink};
use super::{WatchError, WatchOptions, Watcher};
use crate::abi::ev::{CapabilityUse, ObservedProfile};
use crate::probes::event::Record;
use crate::probes::{syscalls, Source, Sources};
use std::collections::HashMap;
use std::time::Duration;

/// Observation needs no events: everything it keeps is counted in the kernel.
struct Ignore;

impl Sink for Ignore {
    fn event(&mut self, _: Record) {}

    async fn tick(&mut self) -> Result<(), WatchError> {
        Ok(())
    }
}

/// Watch `ids` for `duration` and return what each container did, keyed by container id.
pub async fn observe(
    host: Option<String>,
    ids: &[String],
    duration: Duration,
) -> Result<HashMap<String, ObservedProfile>, WatchError> {
    let opts = WatchOptions::new(Some(duration));
    let sources = Sources::of([
        &Source::SyscallCounts,
        &Source::CapabilityCounts,
        &Source::ProfileDetail,
    ]);
    let watcher = Watcher::new(host, &opts, &sources)?;
    for id in ids {
        if let Err(e) = watcher.add(id).await {
            tracing::warn!("not observing {id}: {e}");
        }
    }
    let ring = watcher
        .lock_probes()
        .take_events()
        .ok_or(WatchError::RingTaken)?;
    pump(
        ring,
        opts.batch,
        opts.duration,
        std::future::pending(),
        &mut Ignore,
    )
    .await?;
    let counts = watcher.lock_probes().counts()?;
    let caps = watcher.lock_probes().capability_counts()?;
    let attribution = watcher.lock_attr();
    let mut out = HashMap::new();
    for (cg, who) in attribution.containers() {
        let mut syscalls: Vec<(String, u64)> = counts
            .iter()
            .filter(|((c, _), _)| c == cg)
            .map(|((_, nr), n)| (syscalls::name(*nr as i64).into_owned(), *n))
            .collect();
        syscalls.sort();
        let mut capabilities: Vec<CapabilityUse> = caps
            .iter()
            .filter(|((c, _), _)| c == cg)
            .map(|((_, cap), t)| CapabilityUse {
                name: crate::capability::name(i64::from(*cap)),
                granted: t.granted,
                denied: t.denied,
            })
            .collect();
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
