//! A test rule plugin that remembers across batches: `T.TALLY` fires on every exec with
//! its number among the execs this instance has been shown. `bulwark watch` keeps a rule
//! plugin's instance for the whole watch, so the numbers keep counting.

use bulwark_sdk::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};

static EXECS: AtomicU64 = AtomicU64::new(0);

fn tally(e: &RuleEvent) -> Option<String> {
    matches!(e.kind, Kind::Exec)
        .then(|| format!("exec #{}", EXECS.fetch_add(1, Ordering::Relaxed) + 1))
}

bulwark_sdk::plugin! {
    checks: [],
    rules: [Rule::new("T.TALLY", "Counts execs", tally).severity("low").process()],
}
