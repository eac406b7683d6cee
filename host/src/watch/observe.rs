//! `audit --observe`: watch chosen containers for a while and keep what each did — its
//! syscall counts (in the kernel) and the capability checks it caused — as evidence.

use super::stream::{pump, Sink};
use super::{WatchError, WatchOptions, Watcher};
use crate::abi::ev::{CapabilityUse, ObservedProfile};
use crate::probes::event::{Kind, Raw};
use crate::probes::{syscalls, ProbeOptions};
use std::collections::HashMap;
use std::time::Duration;

/// Capability checks per cgroup: capability → (granted, denied).
#[derive(Default)]
struct Capabilities(HashMap<u64, HashMap<i64, (u64, u64)>>);

impl Sink for Capabilities {
    fn event(&mut self, ev: Raw) {
        if Kind::from_raw(ev.kind) == Some(Kind::Capable) {
            let e = self
                .0
                .entry(ev.cgroup)
                .or_default()
                .entry(ev.nr)
                .or_default();
            if ev.ret == 0 {
                e.0 += 1;
            } else {
                e.1 += 1;
            }
        }
    }

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
        .ok_or(WatchError::RingTaken)?;
    let mut caps = Capabilities::default();
    pump(
        ring,
        opts.batch,
        opts.duration,
        std::future::pending(),
        &mut caps,
    )
    .await?;
    let counts = watcher.lock_probes().counts()?;
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
            .0
            .get(cg)
            .map(|m| {
                m.iter()
                    .map(|(cap, (g, d))| CapabilityUse {
                        name: crate::capability::name(*cap),
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
