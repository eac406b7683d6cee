//! Bulwark host library: evidence collection, the sandboxed plugin runtime, the audit that
//! joins them, and the reporters. Data flows one way:
//! collectors ([`evidence`]) → plugins ([`runtime`]) → findings ([`audit`], then the
//! operator's [`suppress`]ions) → [`report`].

pub mod abi;
pub mod audit;
pub mod distribute;
pub mod docker;
pub mod evidence;
pub mod findings;
pub mod metrics;
pub mod probes;
pub mod profile;
pub mod report;
pub mod runtime;
pub mod select;
pub mod suppress;
pub mod trust;
pub mod watch;
