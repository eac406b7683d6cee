//! The sandbox engine: one wasmtime engine (component model, fuel, epoch interruption,
//! a compiled-code cache), the per-run limits and the limiter that enforces memory, the
//! epoch ticker that turns the wall-clock limit into interrupts, and the classification of
//! a failed run into a [`PluginFailure`].

use super::host::{QueryLog, State};
use super::{PluginFailure, RunCost, Runtime, RuntimeError};
use crate::abi::CheckPlugin;
use crate::evidence::Evidence;
use crate::runtime::Grants;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine, ResourceLimiter, Store, Trap};

/// Characters of a failed WASI plugin's stderr put in its error.
const STDERR_SHOWN: usize = 2000;

/// How often the epoch advances: the resolution of the wall-clock deadline.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Per-run resource limits of a plugin.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Deterministic instruction budget.
    pub fuel: u64,
    /// Wall-clock deadline.
    pub timeout: Duration,
    /// Linear memory cap, bytes.
    pub memory: usize,
    /// Evidence queries per run (a plugin looping on queries is stopped).
    pub max_queries: u64,
    /// Bytes of findings a run may return (messages, details, subjects).
    pub max_output: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 20_000_000_000,
            timeout: Duration::from_secs(30),
            memory: 256 << 20,
            // The CIS runtime pack asks about 2 per container: room for 2,000 containers.
            max_queries: 5_000,
            max_output: 8 << 20,
        }
    }
}

pub(super) struct Limiter {
    memory: usize,
    pub(super) hit: bool,
    pub(super) peak: usize,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory {
            self.hit = true;
            return Err(wasmtime::format_err!(
                "memory limit of {} bytes reached",
                self.memory
            ));
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }
    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
    fn instances(&self) -> usize {
        16
    }
    fn memories(&self) -> usize {
        4
    }
    fn tables(&self) -> usize {
        16
    }
}

/// Advances the engine's epoch until dropped.
pub(super) struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Runtime {
    /// `cache_dir`: where compiled code is kept between runs (none disables the cache).
    pub fn new(
        limits: Limits,
        cache_dir: Option<std::path::PathBuf>,
    ) -> Result<Self, RuntimeError> {
        let mut cfg = Config::new();
        cfg.wasm_component_model(true)
            .consume_fuel(true)
            .epoch_interruption(true)
            .max_wasm_stack(1 << 20);
        let engine = Engine::new(&cfg).map_err(RuntimeError::Engine)?;
        let mut linker = Linker::new(&engine);
        CheckPlugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(RuntimeError::Engine)?;
        super::wasi::add_to_linker(&mut linker).map_err(RuntimeError::Engine)?;

        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let engine = engine.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("bulwark-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                })
                .map_err(RuntimeError::Ticker)?
        };
        Ok(Runtime {
            engine,
            linker,
            limits,
            cache: cache_dir.map(super::cache::CodeCache::new),
            _ticker: Ticker {
                stop,
                thread: Some(thread),
            },
        })
    }

    pub(super) fn store(
        &self,
        evidence: Option<Arc<Evidence>>,
        handle: tokio::runtime::Handle,
        grants: Grants,
        wasi: super::wasi::Wasi,
    ) -> Result<Store<State>, PluginFailure> {
        let mut store = Store::new(
            &self.engine,
            State {
                evidence,
                handle,
                limiter: Limiter {
                    memory: self.limits.memory,
                    hit: false,
                    peak: 0,
                },
                queries: 0,
                max_queries: self.limits.max_queries,
                query_limit_hit: false,
                denied: 0,
                grants,
                log: QueryLog::new(),
                wasi,
            },
        );
        store.limiter(|s| &mut s.limiter);
        store
            .set_fuel(self.limits.fuel)
            .map_err(|e| PluginFailure::Trap(format!("{e:#}")))?;
        store.set_epoch_deadline(self.epoch_ticks());
        store.epoch_deadline_trap();
        Ok(store)
    }

    /// The time limit in epoch ticks.
    pub(super) fn epoch_ticks(&self) -> u64 {
        (self.limits.timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64
    }

    pub(super) fn classify(&self, e: wasmtime::Error, store: &Store<State>) -> PluginFailure {
        if store.data().limiter.hit {
            return PluginFailure::Memory(self.limits.memory >> 20);
        }
        let trap = match e.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => return PluginFailure::OutOfFuel(self.limits.fuel),
            Some(Trap::Interrupt) => return PluginFailure::Timeout(self.limits.timeout),
            Some(Trap::StackOverflow) => "stack overflow (recursion too deep)".to_string(),
            Some(Trap::UnreachableCodeReached) => {
                "the plugin panicked or aborted (unreachable)".to_string()
            }
            Some(t) => t.to_string(),
            None => format!("{e:#}"),
        };
        // A WASI plugin's last words (a Python traceback) say more than the trap.
        let stderr = store.data().wasi.stderr();
        if stderr.is_empty() {
            return PluginFailure::Trap(trap);
        }
        let tail: String = {
            let chars: Vec<char> = stderr.chars().collect();
            chars[chars.len().saturating_sub(STDERR_SHOWN)..]
                .iter()
                .collect()
        };
        PluginFailure::Trap(format!("{trap}; it wrote to stderr:\n{tail}"))
    }

    /// What a run in `store`, started at `started`, cost.
    pub(super) fn cost(&self, store: &Store<State>, started: Instant) -> RunCost {
        RunCost {
            fuel_used: self
                .limits
                .fuel
                .saturating_sub(store.get_fuel().unwrap_or(0)),
            wall_ms: started.elapsed().as_secs_f64() * 1000.0,
            queries: store.data().queries,
            denied: store.data().denied,
            peak_memory: store.data().limiter.peak,
        }
    }
}
