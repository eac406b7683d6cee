//! WASI for plugins that import it (a Python plugin's interpreter does), with nothing behind
//! it: no preopened directory, no environment, no arguments, no sockets (every address is
//! refused and name lookup is off), stdin empty, stdout discarded, stderr kept in a small
//! buffer for the author to read when a run fails; both clocks stopped at the audit's
//! start, and a sleep that returns at once (time does not pass, so it cannot hold a run past
//! its deadline, which the epoch cannot interrupt inside a host call); random bytes from a
//! fixed seed unless the manifest asks for real ones. A Rust plugin imports none of this.

use super::host::State;
use std::time::Duration;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::p2::{DynPollable, Pollable};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder};

/// Bytes of a run's stderr kept for its error message.
pub const STDERR_CAPACITY: usize = 16 << 10;

/// What one store's WASI gives a plugin.
pub struct Wasi {
    pub(super) ctx: WasiCtx,
    pub(super) table: ResourceTable,
    pub(super) stderr: MemoryOutputPipe,
    /// The instant both clocks show, seconds since the epoch.
    start: u64,
}

impl Wasi {
    /// `start`: the audit's start in seconds since the epoch (both clocks show it);
    /// `random`: whether the plugin's manifest asked for real random bytes.
    pub fn new(start: u64, random: bool) -> Wasi {
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        let mut b = WasiCtxBuilder::new();
        b.stderr(stderr.clone())
            .wall_clock(Stopped(start))
            .monotonic_clock(Stopped(start))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        if !random {
            use rand::SeedableRng;
            b.secure_random(rand::rngs::StdRng::seed_from_u64(start))
                .insecure_random(rand::rngs::StdRng::seed_from_u64(start ^ 1))
                .insecure_random_seed(u128::from(start));
        }
        Wasi {
            ctx: b.build(),
            table: ResourceTable::new(),
            stderr,
            start,
        }
    }

    /// What the plugin wrote to stderr, lossily decoded, without trailing blank lines.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents())
            .trim_end()
            .to_string()
    }
}

impl wasmtime_wasi::WasiView for State {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        wasmtime_wasi::WasiCtxView {
            ctx: &mut self.wasi.ctx,
            table: &mut self.wasi.table,
        }
    }
}

/// A clock stopped at one instant (seconds since the epoch).
struct Stopped(u64);

impl HostWallClock for Stopped {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::from_secs(self.0)
    }
}

impl HostMonotonicClock for Stopped {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        self.0.saturating_mul(1_000_000_000)
    }
}

/// Link WASI 0.2 into the plugin linker, then replace the monotonic clock's subscriptions
/// (sleeps) with ones that are ready at once.
pub fn add_to_linker(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    linker.allow_shadowing(true);
    monotonic_clock::add_to_linker::<State, NoSleep>(linker, |s| NoSleepView {
        table: &mut s.wasi.table,
        now: s.wasi.start.saturating_mul(1_000_000_000),
    })?;
    linker.allow_shadowing(false);
    Ok(())
}

struct NoSleep;

impl HasData for NoSleep {
    type Data<'a> = NoSleepView<'a>;
}

struct NoSleepView<'a> {
    table: &'a mut ResourceTable,
    now: u64,
}

/// A pollable that is always ready.
struct Ready;

#[async_trait::async_trait]
impl Pollable for Ready {
    async fn ready(&mut self) {}
}

impl NoSleepView<'_> {
    fn ready(&mut self) -> wasmtime::Result<Resource<DynPollable>> {
        let r = self.table.push(Ready)?;
        wasmtime_wasi::p2::subscribe(self.table, r)
    }
}

impl monotonic_clock::Host for NoSleepView<'_> {
    fn now(&mut self) -> wasmtime::Result<u64> {
        Ok(self.now)
    }
    fn resolution(&mut self) -> wasmtime::Result<u64> {
        Ok(1_000_000_000)
    }
    fn subscribe_instant(&mut self, _when: u64) -> wasmtime::Result<Resource<DynPollable>> {
        self.ready()
    }
    fn subscribe_duration(&mut self, _duration: u64) -> wasmtime::Result<Resource<DynPollable>> {
        self.ready()
    }
}
