//! Bulwark host library. Data flows one way, and each room imports only rooms upstream:
//!
//! collectors ([`evidence::live`], [`docker`]) → [`evidence`] (queries, memo, snapshots)
//! → [`runtime`] (the wasm sandbox plugins run in) → [`audit`] (plan, run, assemble)
//! → [`findings`] (the model; [`suppress`] marks it) → [`report`] (every output format).
//!
//! Runtime monitoring: [`probes`] (eBPF) → [`watch`] (events to rules to alerts), with
//! [`metrics`] for Prometheus. Around them: [`select`] (`-c`/`-e`), [`profile`] (benchmark
//! versions), [`trust`] (signatures), [`distribute`] (OCI registries), [`abi`] (the WIT).
//! Closing the loop: [`fix`] (plans, apply, rollback), [`compare`] (diffs and baselines),
//! [`harden`] (seccomp profiles and capability sets from what containers did; `watch`
//! records and verifies them).
//! For plugin authors: [`author`] (new, build, test, the contract's reference).

pub mod abi;
pub mod audit;
pub mod author;
pub mod capability;
pub mod compare;
pub mod distribute;
pub mod docker;
pub mod evidence;
pub mod findings;
pub mod fix;
pub mod harden;
pub mod metrics;
pub mod probes;
pub mod profile;
pub mod report;
pub mod runtime;
pub mod select;
pub mod suppress;
pub mod text;
pub mod trust;
pub mod watch;
