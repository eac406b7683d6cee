//! What a watch reports: alerts and the closing summary as records (the JSON lines of
//! `--format jsonl`) and as text lines, and the kernel event as rules see it.

use super::cgroup::ContainerInfo;
use crate::abi::rules::{Event as RuleEvent, EventKind};
use crate::probes::event::{self, Kind, Raw};
use crate::report::sanitize;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// One alert, ready to print.
#[derive(Debug, Clone, Serialize)]
pub struct AlertRecord {
    /// Unix time, seconds with fraction.
    pub time: f64,
    pub container: ContainerInfo,
    pub process: ProcessRecord,
    pub event: EventRecord,
    pub rule: RuleRecord,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProcessRecord {
    pub pid: u32,
    pub uid: u32,
    pub comm: String,
    /// The executable (from /proc when the process still exists; the file for exec).
    pub exe: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventRecord {
    pub kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub path: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub argv: Vec<String>,
    pub args: Vec<u64>,
    pub ret: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleRecord {
    pub id: String,
    pub title: String,
    pub severity: String,
    pub plugin: String,
}

/// Totals at the end of a watch.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub events: u64,
    pub lost: u64,
    pub alerts: u64,
    /// Per container name: syscall name → count (in-kernel counts).
    pub syscalls: HashMap<String, BTreeMap<String, u64>>,
    pub rule_failures: Vec<String>,
}

/// The ABI's name for an event kind.
fn abi_kind(k: Kind) -> EventKind {
    match k {
        Kind::Exec => EventKind::Exec,
        Kind::Fork => EventKind::Fork,
        Kind::Exit => EventKind::Exit,
        Kind::Syscall => EventKind::Syscall,
        Kind::SyscallExit => EventKind::SyscallExit,
        Kind::Capable => EventKind::Capable,
    }
}

/// A kernel event as rules see it (`None` for a kind no probe writes).
pub fn rule_event(e: &Raw, who: &ContainerInfo) -> Option<RuleEvent> {
    let kind = Kind::from_raw(e.kind)?;
    Some(RuleEvent {
        kind: abi_kind(kind),
        time_ns: e.ktime,
        container_id: who.id.clone(),
        container_name: who.name.clone(),
        image: who.image.clone(),
        pid: e.pid,
        tid: e.tid,
        uid: e.uid,
        comm: event::c_text(&e.comm),
        path: event::c_text(&e.path),
        argv: event::argv(e),
        name: event::nr_name(e),
        nr: e.nr,
        args: e.args.to_vec(),
        ret: e.ret,
    })
}

/// The record of an event a rule fired on.
pub fn event_record(e: &RuleEvent) -> EventRecord {
    let kind = Kind::ALL
        .into_iter()
        .find(|k| abi_kind(*k) == e.kind)
        .map(Kind::name)
        .unwrap_or_default();
    EventRecord {
        kind: kind.to_string(),
        name: e.name.clone(),
        path: e.path.clone(),
        argv: e.argv.clone(),
        args: e.args.clone(),
        ret: e.ret,
    }
}

impl AlertRecord {
    /// One line of text, every field from outside escaped.
    pub fn text_line(&self) -> String {
        format!(
            "{} [{}] {} container={} image={} pid={} comm={}: {}",
            humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + Duration::from_secs_f64(self.time.max(0.0))
            ),
            sanitize(&self.rule.severity.to_uppercase()),
            sanitize(&self.rule.id),
            sanitize(&self.container.name),
            sanitize(&self.container.image),
            self.process.pid,
            sanitize(&self.process.comm),
            sanitize(&self.message)
        )
    }
}

impl Summary {
    /// The summary as text: totals, then each container's busiest syscalls.
    pub fn text_lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "{} events, {} lost, {} alerts",
            self.events, self.lost, self.alerts
        )];
        let mut names: Vec<&String> = self.syscalls.keys().collect();
        names.sort();
        for name in names {
            let counts = &self.syscalls[name];
            let mut top: Vec<(&String, &u64)> = counts.iter().collect();
            top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let top: Vec<String> = top
                .iter()
                .take(5)
                .map(|(s, n)| format!("{s} {n}"))
                .collect();
            out.push(format!(
                "{}: {} syscalls (most: {})",
                sanitize(name),
                counts.values().sum::<u64>(),
                top.join(", ")
            ));
        }
        out
    }
}
