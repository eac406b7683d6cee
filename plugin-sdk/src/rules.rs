//! Runtime rules for `bulwark watch`: a rule looks at one kernel event seen in a container
//! and says whether it is suspicious. The host batches events; [`__on_events`] runs every
//! rule on every event.
//!
//! A rule says which event sources it needs ([`Rule::process`], [`Rule::capability`],
//! [`Rule::namespaces`], [`Rule::modules`], [`Rule::syscalls`]); the host attaches the
//! union of what the rules it runs need. Ask for the cheapest sources that show what the
//! rule looks for: all but `syscalls` cost nothing on the syscall path, and `bulwark watch`
//! runs rules that need syscalls only when the operator asks for them.
//!
//! The host keeps a plugin's instance for the whole watch (a fresh one only after a
//! failure), so a rule can remember across batches in a `static` (e.g. "this pid became
//! root, then exec'd a shell"); what it keeps counts against the plugin's memory limit.

use crate::bindings::exports::bulwark::plugin::rules::{Alert, Event, EventKind, RuleMeta};
use crate::bindings::exports::bulwark::plugin::sources::{RuleSources, Source};

pub use crate::bindings::exports::bulwark::plugin::rules::{Event as RuleEvent, EventKind as Kind};
pub use crate::bindings::exports::bulwark::plugin::sources::CapResults as Results;

/// One rule: its metadata, what it needs to see, and the function that judges an event
/// (`Some(message)` fires).
#[derive(Clone)]
pub struct Rule {
    meta: RuleMeta,
    sources: Vec<Source>,
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
            sources: Vec::new(),
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
    /// Needs exec, fork and exit events.
    pub fn process(mut self) -> Self {
        self.sources.push(Source::Process);
        self
    }
    /// Needs checks of these capabilities ("CAP_SETUID") with these results.
    pub fn capability(mut self, names: &[&str], results: Results) -> Self {
        let names = names.iter().map(|n| n.to_string()).collect();
        self.sources.push(Source::Capabilities((names, results)));
        self
    }
    /// Needs tasks created with new namespaces (`syscall` events named `clone`).
    pub fn namespaces(mut self) -> Self {
        self.sources.push(Source::Namespaces);
        self
    }
    /// Needs kernel module loads (`syscall` events named `module_load`).
    pub fn modules(mut self) -> Self {
        self.sources.push(Source::Modules);
        self
    }
    /// Needs these syscalls on entry and exit (puts every syscall on the host on the
    /// kernel's tracing path: only when nothing cheaper shows it).
    pub fn syscalls(mut self, names: &[&str]) -> Self {
        let names = names.iter().map(|n| n.to_string()).collect();
        self.sources.push(Source::Syscalls(names));
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

/// Checks that granted the capability.
pub const GRANTED: Results = Results {
    granted: true,
    denied: false,
};
/// Checks that denied it.
pub const DENIED: Results = Results {
    granted: false,
    denied: true,
};
/// Every check of it.
pub const GRANTED_OR_DENIED: Results = Results {
    granted: true,
    denied: true,
};

/// Is this event a syscall entry named `name`?
pub fn is_syscall(e: &Event, name: &str) -> bool {
    matches!(e.kind, EventKind::Syscall) && e.name == name
}

#[doc(hidden)]
pub fn __describe_rules(rules: &[Rule]) -> Vec<RuleMeta> {
    rules.iter().map(|r| r.meta.clone()).collect()
}

#[doc(hidden)]
pub fn __describe_sources(rules: &[Rule]) -> Vec<RuleSources> {
    rules
        .iter()
        .map(|r| RuleSources {
            rule: r.meta.id.clone(),
            sources: r.sources.clone(),
        })
        .collect()
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
