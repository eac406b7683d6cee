//! Runtime rules for `bulwark watch`: a rule looks at one kernel event seen in a container
//! and says whether it is suspicious. The host batches events; [`__on_events`] runs every
//! rule on every event.
//!
//! The host keeps a plugin's instance for the whole watch (a fresh one only after a
//! failure), so a rule can remember across batches in a `static` (e.g. "this pid became
//! root, then exec'd a shell"); what it keeps counts against the plugin's memory limit.

use crate::bindings::exports::bulwark::plugin::rules::{Alert, Event, EventKind, RuleMeta};

pub use crate::bindings::exports::bulwark::plugin::rules::{Event as RuleEvent, EventKind as Kind};

/// One rule: its metadata and the function that judges an event (`Some(message)` fires).
#[derive(Clone)]
pub struct Rule {
    meta: RuleMeta,
    judge: fn(&Event) -> Option<String>,
}

impl Rule {
    /// A rule of medium severity; refine with the builder methods.
    pub fn new(id: &str, title: &str, judge: fn(&Event) -> Option<String>) -> Self {
        Rule {
            meta: RuleMeta {
                id: id.to_string(),
                title: title.to_string(),
                severity: "medium".to_string(),
                description: String::new(),
            },
            judge,
        }
    }
    pub fn severity(mut self, s: &str) -> Self {
        self.meta.severity = s.to_string();
        self
    }
    pub fn description(mut self, d: &str) -> Self {
        self.meta.description = d.to_string();
        self
    }
    pub fn id(&self) -> &str {
        &self.meta.id
    }
    /// Judge one event (for unit tests of a rule).
    pub fn judge(&self, e: &Event) -> Option<String> {
        (self.judge)(e)
    }
}

/// Is this event a syscall entry named `name`?
pub fn is_syscall(e: &Event, name: &str) -> bool {
    matches!(e.kind, EventKind::Syscall) && e.name == name
}

#[doc(hidden)]
pub fn __describe_rules(rules: &[Rule]) -> Vec<RuleMeta> {
    rules.iter().map(|r| r.meta.clone()).collect()
}

#[doc(hidden)]
pub fn __on_events(rules: &[Rule], events: Vec<Event>) -> Vec<Alert> {
    let mut out = Vec::new();
    for (i, e) in events.iter().enumerate() {
        for r in rules {
            if let Some(message) = (r.judge)(e) {
                out.push(Alert {
                    rule_id: r.meta.id.clone(),
                    event: i as u32,
                    message,
                });
            }
        }
    }
    out
}
