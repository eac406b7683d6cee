//! What a watch reports: alerts and the closing summary as records (the JSON lines of
//! `--format jsonl`) and as text lines, and the kernel event as rules see it.

use super::cgroup::ContainerInfo;
use crate::abi::rules::{Event as RuleEvent, EventKind};
use crate::probes::event::{self, Kind, Record};
use crate::probes::syscalls;
use crate::text::sanitize;
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
    /// Events the kernel dropped because the ring buffer was full.
    pub lost: u64,
    /// Events dropped in user space because the rules could not keep up.
    pub dropped: u64,
    pub alerts: u64,
    /// Per container name: syscall name → count (in-kernel counts).
    pub syscalls: HashMap<String, BTreeMap<String, u64>>,
    pub rule_failures: Vec<String>,
}

/// The ABI's kind of a record, and the name it goes by (the syscall, the capability; for
/// the kinds the ABI of 0.1.0 has no word for, the syscall they stand for: a task created
/// in new namespaces is a `clone`, a module loaded a `module_load`). `None` for records
/// rules never see.
fn abi_kind(r: &Record) -> Option<(EventKind, String)> {
    Some(match r.kind()? {
        Kind::Exec => (EventKind::Exec, String::new()),
        Kind::Fork => (EventKind::Fork, String::new()),
        Kind::Exit => (EventKind::Exit, String::new()),
        Kind::Syscall => (EventKind::Syscall, event::nr_name(&r.event)),
        Kind::SyscallExit => (EventKind::SyscallExit, event::nr_name(&r.event)),
        Kind::Capable => (EventKind::Capable, event::nr_name(&r.event)),
        Kind::NewTask => (EventKind::Syscall, "clone".to_string()),
        Kind::ModuleLoad => (EventKind::Syscall, "module_load".to_string()),
        Kind::CgroupMkdir => return None,
    })
}

/// A kernel event as rules see it (`None` for a record rules never see).
pub fn rule_event(r: &Record, who: &ContainerInfo) -> Option<RuleEvent> {
    let (kind, name) = abi_kind(r)?;
    let e = &r.event;
    let nr = match r.kind() {
        Some(Kind::NewTask) => syscalls::number("clone").map_or(-1, i64::from),
        Some(Kind::ModuleLoad) => -1,
        _ => e.nr,
    };
    Some(RuleEvent {
        kind,
        time_ns: e.ktime,
        container_id: who.id.clone(),
        container_name: who.name.clone(),
        image: who.image.clone(),
        pid: e.pid,
        tid: e.tid,
        uid: e.uid,
        comm: event::c_text(&e.comm),
        path: r.path.clone(),
        argv: r.argv.clone(),
        name,
        nr,
        args: e.args.to_vec(),
        ret: e.ret,
    })
}

/// The record of an event a rule fired on.
pub fn event_record(e: &RuleEvent) -> EventRecord {
    let kind = match e.kind {
        EventKind::Exec => Kind::Exec,
        EventKind::Fork => Kind::Fork,
        EventKind::Exit => Kind::Exit,
        EventKind::Syscall => Kind::Syscall,
        EventKind::SyscallExit => Kind::SyscallExit,
        EventKind::Capable => Kind::Capable,
    }
    .name();
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
        if self.dropped > 0 {
            out.push(format!(
                "{} events dropped because the rules could not keep up",
                self.dropped
            ));
        }
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
