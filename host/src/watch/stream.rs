//! The one event loop of a watch: the probes wake the reader once a batch waits in the ring
//! buffer, and a timer takes whatever waits on every tick, so a trickle and a storm both
//! arrive. Each event goes to a [`Sink`]; the sink is told of every tick (rules judge
//! batches on it) and once more at the end, after the buffer was drained a last time.

use super::WatchError;
use crate::probes::event::{self, Record};
use aya::maps::{MapData, RingBuf};
use std::time::Duration;
use tokio::io::unix::AsyncFd;

/// What a watch does with what the probes report.
pub(super) trait Sink {
    /// One record from the ring buffer.
    fn event(&mut self, ev: Record);
    /// The batch timer fired (after the waiting events were taken), or the watch ends.
    async fn tick(&mut self) -> Result<(), WatchError>;
}

/// Every event waiting in the ring buffer, decoded, to the sink.
fn drain(rb: &mut RingBuf<MapData>, sink: &mut impl Sink) {
    while let Some(item) = rb.next() {
        if let Some(ev) = event::decode(&item) {
            sink.event(ev);
        }
    }
}

/// Read `ring` into `sink` until `stop` resolves or `duration` passes, ticking the sink
/// every `batch`.
pub(super) async fn pump(
    ring: RingBuf<MapData>,
    batch: Duration,
    duration: Option<Duration>,
    stop: impl std::future::Future<Output = ()>,
    sink: &mut impl Sink,
) -> Result<(), WatchError> {
    // SAFETY: the ring buffer owns its map fd and lives inside the AsyncFd, which
    // deregisters it before dropping it.
    let mut fd = unsafe { AsyncFd::register(ring) }.map_err(|e| WatchError::Ring(e.into()))?;
    let deadline = duration.map(|d| tokio::time::Instant::now() + d);
    let mut tick = tokio::time::interval(batch);
    tokio::pin!(stop);
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
                let mut guard = guard.map_err(WatchError::Ring)?;
                drain(guard.get_inner_mut(), sink);
                guard.clear_ready();
            }
            _ = tick.tick() => {
                drain(fd.get_mut(), sink);
                sink.tick().await?;
            }
        }
    }
    drain(fd.get_mut(), sink);
    sink.tick().await
}
