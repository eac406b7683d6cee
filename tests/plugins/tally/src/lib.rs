//! A test rule plugin that remembers across batches: `T.TALLY` fires on every exec with
//! its number among the execs this instance has been shown. `bulwark watch` keeps a rule
//! plugin's instance for the whole watch, so the numbers keep counting.
//!
//! Built with the `brittle` feature it is a broken pack instead: its rule panics on every
//! event, so every batch it is shown fails (the watch must suspend it, not spin on it).

use bulwark_sdk::prelude::*;

#[cfg(not(feature = "brittle"))]
fn tally(e: &RuleEvent) -> Option<String> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static EXECS: AtomicU64 = AtomicU64::new(0);
    matches!(e.kind, Kind::Exec)
        .then(|| format!("exec #{}", EXECS.fetch_add(1, Ordering::Relaxed) + 1))
}

#[cfg(feature = "brittle")]
fn tally(_: &RuleEvent) -> Option<String> {
    panic!("brittle: fails on every event")
}

bulwark_sdk::plugin! {
    checks: [],
    rules: [Rule::new("T.TALLY", "Counts execs", tally).severity("low").process()],
}
