//! The plugin runtime: one wasmtime engine with a compiled-code cache, one `InstancePre`
//! per plugin, a fresh store per run with fuel, an epoch deadline and a memory cap.
//! Plugins reach the host only through the evidence interface implemented here.

pub mod manifest;

use crate::abi::{ev, types, CheckPlugin, CheckPluginPre};
use crate::evidence::{unexpected, Answer, Evidence, EvidenceError, Query};
pub use manifest::{Grant, GrantPolicy, Grants, Manifest};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Cache, CacheConfig, Config, Engine, ResourceLimiter, Store, Trap};

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

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot set up the wasm engine: {0}")]
    Engine(String),
    #[error("plugin {plugin} cannot be loaded: {reason}")]
    Load { plugin: String, reason: String },
}

/// Why a plugin run failed. Each becomes an error finding; the audit goes on.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum PluginFailure {
    #[error("ran out of fuel (budget {0} units)")]
    OutOfFuel(u64),
    #[error("exceeded its time limit of {0:?}")]
    Timeout(Duration),
    #[error("exceeded its memory limit of {0} MiB")]
    Memory(usize),
    #[error("trapped: {0}")]
    Trap(String),
    #[error("returned garbage: {0}")]
    Garbage(String),
    #[error("made more than {0} evidence queries")]
    QueryLimit(u64),
    #[error("returned {0} bytes of findings, more than the limit of {1}")]
    OutputTooLarge(usize, usize),
}

/// Where a plugin came from.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "path")]
pub enum Origin {
    Builtin,
    File(String),
}

/// A loaded, validated plugin ready to run.
pub struct Plugin {
    pub name: String,
    pub origin: Origin,
    /// sha256 of the component bytes.
    pub digest: String,
    pub checks: Vec<types::CheckMeta>,
    /// Its runtime rules (for `bulwark watch`).
    pub rules: Vec<crate::abi::rules::RuleMeta>,
    /// Its embedded manifest (every third-party plugin has one).
    pub manifest: Option<Manifest>,
    /// What its runs may query.
    pub grants: Grants,
    /// Scopes its manifest asked for that the operator did not grant.
    pub refused: Vec<Grant>,
    pre: CheckPluginPre<State>,
}

/// What one run cost.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RunCost {
    pub fuel_used: u64,
    pub wall_ms: f64,
    pub queries: u64,
    /// Queries refused as outside the plugin's grants.
    pub denied: u64,
    /// Largest linear memory the run reached, bytes.
    pub peak_memory: usize,
}

struct Limiter {
    memory: usize,
    hit: bool,
    peak: usize,
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

/// Store data of one run: the evidence it may query and its accounting.
pub struct State {
    evidence: Option<Arc<Evidence>>,
    handle: tokio::runtime::Handle,
    limiter: Limiter,
    queries: u64,
    max_queries: u64,
    query_limit_hit: bool,
    denied: u64,
    grants: Grants,
    /// Provenance key of every query answered in this run, and how it went.
    log: QueryLog,
}

/// Query key → outcome ("ok", or the error) for one plugin run.
pub type QueryLog = std::collections::HashMap<String, String>;

impl State {
    /// Count a query and answer it from the evidence, blocking this (plugin) thread.
    fn with_evidence<T, F>(
        &mut self,
        q: &Query,
        f: impl FnOnce(Arc<Evidence>) -> F,
    ) -> Result<T, types::QueryError>
    where
        F: std::future::Future<Output = Result<T, EvidenceError>>,
    {
        self.queries += 1;
        if self.queries > self.max_queries {
            // Refused from here on; the run is reported as failed when it returns.
            self.query_limit_hit = true;
            return Err(types::QueryError::Denied(format!(
                "query limit of {} reached",
                self.max_queries
            )));
        }
        let key = q.key();
        if let Err(why) = self.grants.check(q) {
            self.denied += 1;
            let e = EvidenceError::Denied(why);
            self.log.insert(key, e.to_string());
            return Err(to_wit(e));
        }
        let Some(ev) = self.evidence.clone() else {
            return Err(types::QueryError::Denied(
                "no evidence while describing checks".to_string(),
            ));
        };
        let out = self.handle.block_on(f(ev));
        let outcome = match &out {
            Ok(_) => "ok".to_string(),
            Err(e) => e.to_string(),
        };
        self.log.insert(key, outcome);
        out.map_err(to_wit)
    }

    fn ask(&mut self, q: Query) -> Result<Answer, types::QueryError> {
        self.with_evidence(&q.clone(), |ev| async move { ev.query(&q).await })
    }

    fn document(&mut self, q: Query) -> Result<String, types::QueryError> {
        match self.ask(q.clone())? {
            Answer::Document(v) => Ok(v.to_string()),
            other => Err(to_wit(unexpected(&q, &other))),
        }
    }
}

fn to_wit(e: EvidenceError) -> types::QueryError {
    match e {
        EvidenceError::Unavailable(m) => types::QueryError::Unavailable(m),
        EvidenceError::Denied(m) => types::QueryError::Denied(m),
        EvidenceError::NotFound(m) => types::QueryError::NotFound(m),
    }
}

macro_rules! typed {
    ($self:ident, $q:expr, $variant:ident) => {{
        let q = $q;
        match $self.ask(q.clone())? {
            Answer::$variant(v) => Ok(v),
            other => Err(to_wit(unexpected(&q, &other))),
        }
    }};
}

impl types::Host for State {}

impl ev::Host for State {
    fn docker_info(&mut self) -> Result<String, types::QueryError> {
        self.document(Query::DockerInfo)
    }
    fn docker_version(&mut self) -> Result<String, types::QueryError> {
        self.document(Query::DockerVersion)
    }
    fn containers(&mut self) -> Result<Vec<ev::ContainerSummary>, types::QueryError> {
        self.with_evidence(&Query::ContainerList, |ev| async move {
            ev.selected_containers().await
        })
    }
    fn container_inspect(&mut self, id: String) -> Result<String, types::QueryError> {
        self.document(Query::ContainerInspect { id })
    }
    fn image_list(&mut self) -> Result<String, types::QueryError> {
        self.with_evidence(
            &Query::ImageList,
            |ev| async move { ev.selected_images().await },
        )
        .map(|v| v.to_string())
    }
    fn image_inspect(&mut self, name: String) -> Result<String, types::QueryError> {
        self.document(Query::ImageInspect { name })
    }
    fn image_history(&mut self, name: String) -> Result<String, types::QueryError> {
        self.document(Query::ImageHistory { name })
    }
    fn network_list(&mut self) -> Result<String, types::QueryError> {
        self.document(Query::NetworkList)
    }
    fn swarm_inspect(&mut self) -> Result<String, types::QueryError> {
        self.document(Query::SwarmInspect)
    }
    fn swarm_list(&mut self, kind: String) -> Result<String, types::QueryError> {
        self.document(Query::SwarmList { kind })
    }
    fn group_members(&mut self, group: String) -> Result<Vec<String>, types::QueryError> {
        typed!(self, Query::GroupMembers { group }, Names)
    }
    fn listeners(&mut self) -> Result<Vec<ev::Listener>, types::QueryError> {
        typed!(self, Query::Listeners, Listeners)
    }
    fn file_stat(&mut self, path: String) -> Result<ev::FileInfo, types::QueryError> {
        typed!(self, Query::FileStat { path }, File)
    }
    fn dir_list(&mut self, path: String) -> Result<Vec<String>, types::QueryError> {
        typed!(self, Query::DirList { path }, Names)
    }
    fn file_read(&mut self, path: String) -> Result<Vec<u8>, types::QueryError> {
        typed!(self, Query::FileRead { path }, Bytes)
    }
    fn observation(&mut self, id: String) -> Result<ev::ObservedProfile, types::QueryError> {
        typed!(self, Query::ObservedProfile { id }, Observed)
    }
    fn container_processes(
        &mut self,
        id: String,
    ) -> Result<Vec<ev::ProcessInfo>, types::QueryError> {
        typed!(self, Query::ContainerProcesses { id }, Processes)
    }
    fn process(&mut self, pid: u32) -> Result<ev::ProcessInfo, types::QueryError> {
        typed!(self, Query::Process { pid }, Process)
    }
    fn audit_rules(&mut self) -> Result<ev::AuditRuleSet, types::QueryError> {
        typed!(self, Query::AuditRules, AuditRules)
    }
    fn daemon_config(&mut self) -> Result<ev::DaemonSettings, types::QueryError> {
        typed!(self, Query::DaemonConfig, Daemon)
    }
    fn auditor(&mut self) -> Result<ev::AuditorInfo, types::QueryError> {
        typed!(self, Query::Auditor, Auditor)
    }
    fn auditor_env(&mut self, name: String) -> Result<Option<String>, types::QueryError> {
        typed!(self, Query::AuditorEnv { name }, Env)
    }
}

/// Advances the engine's epoch until dropped.
struct Ticker {
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

pub struct Runtime {
    engine: Engine,
    linker: Linker<State>,
    pub limits: Limits,
    _ticker: Ticker,
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
        if let Some(dir) = cache_dir {
            let mut cc = CacheConfig::new();
            cc.with_directory(&dir);
            match Cache::new(cc) {
                Ok(c) => {
                    cfg.cache(Some(c));
                }
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), "compiled-code cache disabled: {e:#}")
                }
            }
        }
        let engine = Engine::new(&cfg).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        CheckPlugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;

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
                .map_err(|e| RuntimeError::Engine(e.to_string()))?
        };
        Ok(Runtime {
            engine,
            linker,
            limits,
            _ticker: Ticker {
                stop,
                thread: Some(thread),
            },
        })
    }

    fn store(
        &self,
        evidence: Option<Arc<Evidence>>,
        handle: tokio::runtime::Handle,
        grants: Grants,
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
    fn epoch_ticks(&self) -> u64 {
        (self.limits.timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64
    }

    fn classify(&self, e: wasmtime::Error, store: &Store<State>) -> PluginFailure {
        if store.data().limiter.hit {
            return PluginFailure::Memory(self.limits.memory >> 20);
        }
        match e.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => PluginFailure::OutOfFuel(self.limits.fuel),
            Some(Trap::Interrupt) => PluginFailure::Timeout(self.limits.timeout),
            Some(Trap::StackOverflow) => {
                PluginFailure::Trap("stack overflow (recursion too deep)".to_string())
            }
            Some(Trap::UnreachableCodeReached) => {
                PluginFailure::Trap("the plugin panicked or aborted (unreachable)".to_string())
            }
            Some(t) => PluginFailure::Trap(t.to_string()),
            None => PluginFailure::Trap(format!("{e:#}")),
        }
    }

    /// Compile (or fetch from the cache), link against the ABI, and ask for the checks.
    /// Must run outside the async runtime's worker threads (it may block).
    /// Validate and prepare a plugin. Before any of its code runs: it must be a component
    /// importing only the Bulwark ABI of this major version, and (unless built in) carry a
    /// manifest for this ABI; its checks must be the ones the manifest lists. Third-party
    /// plugins get the scopes their manifest asks for that `policy` allows.
    pub fn load(
        &self,
        name: &str,
        origin: Origin,
        bytes: &[u8],
        handle: tokio::runtime::Handle,
        policy: &GrantPolicy,
    ) -> Result<Plugin, RuntimeError> {
        let fail = |reason: String| RuntimeError::Load {
            plugin: name.to_string(),
            reason,
        };
        if bytes.len() < 8 || &bytes[0..4] != b"\0asm" {
            return Err(fail(
                "not a WebAssembly file (truncated or corrupt)".to_string(),
            ));
        }
        let abi = crate::abi::ABI_VERSION;
        let seen = manifest::inspect(bytes).map_err(fail)?;
        manifest::check_imports(&seen.imports, abi).map_err(fail)?;
        let manifest = match &seen.manifest {
            Some(raw) => {
                let m = Manifest::parse(raw).map_err(fail)?;
                m.check_abi(abi).map_err(fail)?;
                Some(m)
            }
            None if matches!(origin, Origin::Builtin) => None,
            None => {
                return Err(fail(
                    "it has no manifest (build it with `cargo xtask plugin`, which embeds one)"
                        .to_string(),
                ))
            }
        };
        let component = Component::from_binary(&self.engine, bytes).map_err(|e| {
            fail(format!(
                "not a valid component for this ABI (bulwark:plugin@{}): {e:#}",
                crate::abi::ABI_VERSION
            ))
        })?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| fail(format!("imports outside the Bulwark ABI: {e:#}")))?;
        let pre = CheckPluginPre::new(pre)
            .map_err(|e| fail(format!("exports do not match the Bulwark ABI: {e:#}")))?;

        let mut store = self
            .store(None, handle, Grants::Only(vec![]))
            .map_err(|e| fail(e.to_string()))?;
        let (checks, rules) = pre
            .instantiate(&mut store)
            .and_then(|inst| {
                let checks = inst.bulwark_plugin_checks().call_describe(&mut store)?;
                let rules = inst
                    .bulwark_plugin_rules()
                    .call_describe_rules(&mut store)?;
                Ok((checks, rules))
            })
            .map_err(|e| {
                fail(format!(
                    "describing its checks failed: {}",
                    self.classify(e, &store)
                ))
            })?;
        let mut rule_ids = std::collections::HashSet::new();
        for r in &rules {
            if r.id.is_empty() || r.id.len() > 64 || r.id.chars().any(|c| c.is_control()) {
                return Err(fail(format!("invalid rule id {:?}", r.id)));
            }
            if !rule_ids.insert(r.id.clone()) {
                return Err(fail(format!("rule id {} declared twice", r.id)));
            }
        }
        let mut ids = std::collections::HashSet::new();
        for c in &checks {
            if c.id.is_empty()
                || c.id.len() > 64
                || c.id.chars().any(|ch| ch.is_control() || ch.is_whitespace())
            {
                return Err(fail(format!("invalid check id {:?}", c.id)));
            }
            if !ids.insert(c.id.clone()) {
                return Err(fail(format!("check id {} declared twice", c.id)));
            }
            if let Some(m) = &manifest {
                if !m.provides(&c.id) {
                    return Err(fail(format!(
                        "it declares check {}, which its manifest does not list ({})",
                        c.id,
                        m.checks.join(", ")
                    )));
                }
            }
        }
        let (grants, refused) = match (&origin, &manifest) {
            (Origin::Builtin, _) => (Grants::All, vec![]),
            (_, Some(m)) => policy.effective(m),
            (_, None) => (Grants::Only(vec![]), vec![]),
        };
        Ok(Plugin {
            name: name.to_string(),
            origin,
            digest: seen.sha256,
            checks,
            rules,
            manifest,
            grants,
            refused,
            pre,
        })
    }

    /// Run the given checks of a plugin against the evidence, under the limits.
    /// Blocking: call from a blocking thread.
    pub fn run(
        &self,
        plugin: &Plugin,
        evidence: Arc<Evidence>,
        handle: tokio::runtime::Handle,
        ids: &[String],
        options: &[(String, String)],
    ) -> (
        Result<(Vec<types::Finding>, QueryLog), PluginFailure>,
        RunCost,
    ) {
        let started = Instant::now();
        let audit_start = evidence.audit_start();
        let mut store = match self.store(Some(evidence), handle, plugin.grants.clone()) {
            Ok(s) => s,
            Err(e) => return (Err(e), RunCost::default()),
        };
        let ctx = types::RunContext {
            audit_start,
            options: options.to_vec(),
        };
        let result = plugin
            .pre
            .instantiate(&mut store)
            .and_then(|inst| inst.bulwark_plugin_checks().call_run(&mut store, &ctx, ids));
        let cost = self.cost(&store, started);
        let result = match result {
            _ if store.data().query_limit_hit => {
                Err(PluginFailure::QueryLimit(self.limits.max_queries))
            }
            Ok(findings) => {
                let size = output_size(&findings);
                if size > self.limits.max_output {
                    Err(PluginFailure::OutputTooLarge(size, self.limits.max_output))
                } else {
                    validate(findings, ids).map(|f| (f, std::mem::take(&mut store.data_mut().log)))
                }
            }
            Err(e) => Err(self.classify(e, &store)),
        };
        (result, cost)
    }
}

impl Runtime {
    /// What a run in `store`, started at `started`, cost.
    fn cost(&self, store: &Store<State>, started: Instant) -> RunCost {
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

    /// Run a plugin's rules over a batch of events, under the same limits as checks. Rules
    /// get no evidence: only the events. The instance in `session` is used, or started,
    /// and kept there for the next batch unless this one failed.
    pub fn run_rules(
        &self,
        plugin: &Plugin,
        session: &mut Option<RuleSession>,
        handle: tokio::runtime::Handle,
        events: &[crate::abi::rules::Event],
    ) -> (
        Result<Vec<crate::abi::rules::Alert>, PluginFailure>,
        RunCost,
    ) {
        let started = Instant::now();
        let mut s = match session.take() {
            Some(s) => s,
            None => {
                let mut store = match self.store(None, handle, Grants::Only(vec![])) {
                    Ok(s) => s,
                    Err(e) => return (Err(e), RunCost::default()),
                };
                match plugin.pre.instantiate(&mut store) {
                    Ok(instance) => RuleSession { store, instance },
                    Err(e) => {
                        let failure = self.classify(e, &store);
                        return (Err(failure), self.cost(&store, started));
                    }
                }
            }
        };
        // Fuel and time are per batch; memory is the instance's, whatever it keeps.
        if let Err(e) = s.store.set_fuel(self.limits.fuel) {
            return (
                Err(PluginFailure::Trap(format!("{e:#}"))),
                RunCost::default(),
            );
        }
        s.store.set_epoch_deadline(self.epoch_ticks());
        let result = s
            .instance
            .bulwark_plugin_rules()
            .call_on_events(&mut s.store, events);
        let cost = self.cost(&s.store, started);
        let result = match result {
            Err(e) => Err(self.classify(e, &s.store)),
            Ok(alerts) => {
                let size: usize = alerts
                    .iter()
                    .map(|a| a.message.len() + a.rule_id.len())
                    .sum();
                if size > self.limits.max_output {
                    Err(PluginFailure::OutputTooLarge(size, self.limits.max_output))
                } else if let Some(a) = alerts.iter().find(|a| {
                    a.event as usize >= events.len()
                        || !plugin.rules.iter().any(|r| r.id == a.rule_id)
                }) {
                    Err(PluginFailure::Garbage(format!(
                        "an alert for rule {:?} on event {} it was not given or does not declare",
                        a.rule_id, a.event
                    )))
                } else {
                    Ok(alerts)
                }
            }
        };
        // A plugin that failed starts afresh: after a trap its instance is not trusted.
        if result.is_ok() {
            *session = Some(s);
        }
        (result, cost)
    }
}

/// A rule plugin's instance, kept across batches of one watch so that rules can remember
/// what they saw (sequences, rates). Dropped after any failure.
pub struct RuleSession {
    store: Store<State>,
    instance: CheckPlugin,
}

/// Bytes of text a run returned.
fn output_size(findings: &[types::Finding]) -> usize {
    findings
        .iter()
        .map(|f| {
            let subjects: usize = f
                .subjects
                .iter()
                .map(|s| match s {
                    types::Subject::Container(c) => c.id.len() + c.name.len(),
                    types::Subject::Image(t) | types::Subject::File(t) => t.len(),
                    _ => 0,
                })
                .sum();
            f.check_id.len()
                + f.message.len()
                + f.reason.as_ref().map_or(0, |r| r.len())
                + f.details.iter().map(|d| d.len() + 1).sum::<usize>()
                + f.evidence.iter().map(|d| d.len() + 1).sum::<usize>()
                + subjects
        })
        .sum()
}

/// A plugin answers exactly the checks it was asked, once each.
fn validate(
    findings: Vec<types::Finding>,
    ids: &[String],
) -> Result<Vec<types::Finding>, PluginFailure> {
    let mut by_id: std::collections::HashMap<&str, types::Finding> =
        std::collections::HashMap::new();
    for f in findings {
        let Some(id) = ids.iter().find(|i| **i == f.check_id) else {
            return Err(PluginFailure::Garbage(format!(
                "a verdict for check {:?}, which it was not asked to run",
                f.check_id
            )));
        };
        if by_id.insert(id.as_str(), f).is_some() {
            return Err(PluginFailure::Garbage(format!(
                "two verdicts for check {id}"
            )));
        }
    }
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        match by_id.remove(id.as_str()) {
            Some(mut f) => {
                if matches!(f.status, types::Status::Undecided | types::Status::Skipped)
                    && f.reason.is_none()
                {
                    f.reason = Some("the plugin gave no reason".to_string());
                }
                out.push(f)
            }
            None => return Err(PluginFailure::Garbage(format!("no verdict for check {id}"))),
        }
    }
    Ok(out)
}

/// Where compiled plugins are cached: `$BULWARK_CACHE_DIR`, else the user's cache dir.
pub fn default_cache_dir() -> Option<std::path::PathBuf> {
    if let Some(d) = std::env::var_os("BULWARK_CACHE_DIR") {
        return Some(d.into());
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache")))?;
    Some(base.join("bulwark").join("wasmtime"))
}

/// The built-in plugins, embedded at build time: (name, component bytes).
pub const BUILTIN: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/builtin.rs"));
