//! The plugin runtime: load a component (validated before any of its code runs), then run
//! its checks or rules, each run in a fresh sandbox with fuel, a deadline and a memory cap.
//!
//! - [`engine`]: the wasmtime engine, limits, limiter, epoch ticker, failure classes.
//! - [`host`]: the evidence interface as plugins see it (the only way out of the sandbox).
//! - [`validate`]: what a plugin declares and returns, checked.
//! - [`manifest`]: what a component file says about itself; [`grants`]: what it may ask.
//! - [`wasi`]: the WASI a plugin may import, with nothing behind it.

pub mod cache;
pub mod engine;
pub mod grants;
pub mod host;
pub mod manifest;
pub mod validate;
pub mod wasi;

pub use engine::Limits;
pub use grants::{Grant, GrantError, GrantPolicy, Grants};
pub use host::{QueryLog, State};
pub use manifest::{Manifest, ManifestError};

use crate::abi::{types, CheckPlugin, CheckPluginPre};
use crate::evidence::Evidence;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot set up the wasm engine")]
    Engine(#[source] wasmtime::Error),
    #[error("cannot start the epoch ticker thread")]
    Ticker(#[source] std::io::Error),
    #[error("plugin {plugin} cannot be loaded")]
    Load {
        plugin: String,
        #[source]
        source: LoadError,
    },
}

/// Why a plugin was refused at load time.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("not a WebAssembly file (truncated or corrupt)")]
    NotWasm,
    #[error(transparent)]
    Manifest(#[from] manifest::ManifestError),
    #[error("it has no manifest (build it with `bulwark plugin build`, which embeds one)")]
    NoManifest,
    #[error(
        "not a valid component for this ABI (bulwark:plugin@{})",
        crate::abi::ABI_VERSION
    )]
    Component(#[source] wasmtime::Error),
    #[error("imports outside the Bulwark ABI")]
    Imports(#[source] wasmtime::Error),
    #[error("exports do not match the Bulwark ABI")]
    Exports(#[source] wasmtime::Error),
    #[error("describing its checks failed")]
    Describe(#[source] PluginFailure),
    /// What it declares is not well formed (ids, duplicates, checks outside its manifest).
    #[error("{0}")]
    Declared(String),
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
    /// What its rules need to see, as it declares (ABI 0.1.1); `None` for a plugin without
    /// the `sources` export (ABI 0.1.0).
    pub rule_needs: Option<Vec<crate::abi::sources::RuleNeeds>>,
    /// Its embedded manifest (every third-party plugin has one).
    pub manifest: Option<Manifest>,
    /// The documentation of its checks (its `bulwark-docs` section), by check id.
    pub docs: std::collections::BTreeMap<String, bulwark_build::CheckDoc>,
    /// What its runs may query.
    pub grants: Grants,
    /// Scopes its manifest asked for that the operator did not grant.
    pub refused: Vec<Grant>,
    pre: CheckPluginPre<State>,
}

impl Plugin {
    /// Whether its manifest asks for real random bytes from WASI.
    fn wants_random(&self) -> bool {
        self.manifest.as_ref().is_some_and(|m| m.random)
    }
}

/// Seconds since the epoch, now: what the stopped clocks of a run without an audit show.
fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// What a plugin says about itself: its checks, its rules, and what they need to see.
type Described = (
    Vec<types::CheckMeta>,
    Vec<crate::abi::rules::RuleMeta>,
    Option<Vec<crate::abi::sources::RuleNeeds>>,
);

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

/// Loads and runs plugins; one per process, shared by every audit or watch.
pub struct Runtime {
    engine: Engine,
    linker: Linker<State>,
    pub limits: Limits,
    /// Compiled plugins kept between runs (none: compile every time).
    cache: Option<cache::CodeCache>,
    _ticker: engine::Ticker,
}

impl Runtime {
    /// Validate and prepare a plugin. Before any of its code runs: it must be a component
    /// importing only the Bulwark ABI of this major version, and (unless built in) carry a
    /// manifest for this ABI; its checks must be the ones the manifest lists. Third-party
    /// plugins get the scopes their manifest asks for that `policy` allows.
    /// Must run outside the async runtime's worker threads (compiling may block).
    pub fn load(
        &self,
        name: &str,
        origin: Origin,
        bytes: &[u8],
        handle: tokio::runtime::Handle,
        policy: &GrantPolicy,
    ) -> Result<Plugin, RuntimeError> {
        let fail = |source: LoadError| RuntimeError::Load {
            plugin: name.to_string(),
            source,
        };
        let (seen, manifest) = admit(bytes, &origin).map_err(fail)?;
        let docs = check_docs(name, seen.docs.as_deref());
        let pre = self.prepare(bytes).map_err(fail)?;
        let sources = crate::abi::sources::RuleSourcesIndices::new(pre.instance_pre()).ok();
        let (checks, rules, rule_needs) = self
            .describe(
                &pre,
                sources.as_ref(),
                handle,
                manifest.as_ref().is_some_and(|m| m.random),
            )
            .map_err(fail)?;
        validate::declared(&checks, &rules, manifest.as_ref())
            .map_err(|e| fail(LoadError::Declared(e)))?;
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
            rule_needs,
            manifest,
            docs,
            grants,
            refused,
            pre,
        })
    }

    /// Compile (or fetch from the cache) and link against the ABI.
    fn prepare(&self, bytes: &[u8]) -> Result<CheckPluginPre<State>, LoadError> {
        let component = match &self.cache {
            Some(c) => c.component(&self.engine, bytes),
            None => Component::from_binary(&self.engine, bytes),
        }
        .map_err(LoadError::Component)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(LoadError::Imports)?;
        CheckPluginPre::new(pre).map_err(LoadError::Exports)
    }

    /// Ask a prepared plugin for its checks, its rules and what they need (in a sandbox
    /// without evidence).
    fn describe(
        &self,
        pre: &CheckPluginPre<State>,
        sources: Option<&crate::abi::sources::RuleSourcesIndices>,
        handle: tokio::runtime::Handle,
        random: bool,
    ) -> Result<Described, LoadError> {
        let wasi = wasi::Wasi::new(now_secs(), random);
        let mut store = self
            .store(None, handle, Grants::Only(vec![]), wasi)
            .map_err(LoadError::Describe)?;
        let described = (|| {
            let instance = pre.instance_pre().instantiate(&mut store)?;
            let plugin = crate::abi::CheckPlugin::new(&mut store, &instance)?;
            let checks = plugin.bulwark_plugin_checks().call_describe(&mut store)?;
            let rules = plugin
                .bulwark_plugin_rules()
                .call_describe_rules(&mut store)?;
            let needs = match sources {
                Some(s) => Some(
                    s.load(&mut store, &instance)?
                        .bulwark_plugin_sources()
                        .call_describe_sources(&mut store)?,
                ),
                None => None,
            };
            Ok((checks, rules, needs))
        })();
        described.map_err(|e| LoadError::Describe(self.classify(e, &store)))
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
        let wasi = wasi::Wasi::new(audit_start, plugin.wants_random());
        let mut store = match self.store(Some(evidence), handle, plugin.grants.clone(), wasi) {
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
                let size = validate::output_size(&findings);
                if size > self.limits.max_output {
                    Err(PluginFailure::OutputTooLarge(size, self.limits.max_output))
                } else {
                    validate::verdicts(findings, ids)
                        .map(|f| (f, std::mem::take(&mut store.data_mut().log)))
                }
            }
            Err(e) => Err(self.classify(e, &store)),
        };
        (result, cost)
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
                let wasi = wasi::Wasi::new(now_secs(), plugin.wants_random());
                let mut store = match self.store(None, handle, Grants::Only(vec![]), wasi) {
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
                validate::alerts(alerts, events.len(), &plugin.rules, self.limits.max_output)
            }
        };
        // A plugin that failed starts afresh: after a trap its instance is not trusted.
        if result.is_ok() {
            *session = Some(s);
        }
        (result, cost)
    }
}

/// The checks made on the bytes alone, before compiling: a wasm component importing only
/// this ABI, with a manifest for this ABI unless it is built in.
pub(crate) fn admit(
    bytes: &[u8],
    origin: &Origin,
) -> Result<(manifest::Inspection, Option<Manifest>), LoadError> {
    if bytes.len() < 8 || &bytes[0..4] != b"\0asm" {
        return Err(LoadError::NotWasm);
    }
    let abi = crate::abi::ABI_VERSION;
    let seen = manifest::inspect(bytes)?;
    manifest::check_imports(&seen.imports, abi)?;
    let manifest = match &seen.manifest {
        Some(raw) => {
            let m = Manifest::parse(raw)?;
            m.check_abi(abi)?;
            Some(m)
        }
        None if matches!(origin, Origin::Builtin) => None,
        None => return Err(LoadError::NoManifest),
    };
    Ok((seen, manifest))
}

/// The documentation a plugin carries for its checks. Documentation is not evidence: a
/// section that does not parse is ignored, with a warning, and the checks still run.
pub(crate) fn check_docs(
    plugin: &str,
    raw: Option<&[u8]>,
) -> std::collections::BTreeMap<String, bulwark_build::CheckDoc> {
    match raw.map(serde_json::from_slice) {
        None => Default::default(),
        Some(Ok(docs)) => docs,
        Some(Err(e)) => {
            tracing::warn!(
                "plugin {}: its check documentation does not parse ({e}); ignored",
                crate::text::sanitize(plugin)
            );
            Default::default()
        }
    }
}

/// A rule plugin's instance, kept across batches of one watch so that rules can remember
/// what they saw (sequences, rates). Dropped after any failure.
pub struct RuleSession {
    store: Store<State>,
    instance: CheckPlugin,
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
