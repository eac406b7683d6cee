//! `bulwark serve`: a long-running auditor. It audits on start, every interval, and —
//! debounced — when the daemon says a container started or died, an image changed, or the
//! daemon reloaded its configuration; it keeps the latest good report and its metrics for
//! the HTTP side ([`routes`]) to serve.
//!
//! A container or image event re-audits only the sections that judge containers and
//! images (4, 5, 6) and merges them into the latest report; a reload or the timer runs
//! the whole audit. A failed audit keeps the last good report and says so in the metrics.
//!
//! - [`metrics`]: the audit's Prometheus metrics.
//! - [`routes`]: `/metrics`, `/report.{json,html,sarif}`, `/healthz`.

pub mod metrics;
pub mod routes;

use crate::findings::Report;
use crate::metrics::WatchMetrics;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// What an audit covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// The sections that judge containers and images: [`CONTAINER_SECTIONS`].
    Containers,
    /// Every selected check.
    Full,
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Scope::Containers => "containers",
            Scope::Full => "full",
        }
    }
}

/// The sections a container or image event can change: images (4), the container runtime
/// (5) and security operations (6: image and container sprawl).
pub const CONTAINER_SECTIONS: &[&str] = &["4", "5", "6"];

/// A published report and its renderings, each made once, on its first request: a
/// thousand containers' HTML takes a while, and many clients asking at once must not each
/// hold a copy being made.
pub struct Published {
    pub report: Report,
    renders: [std::sync::OnceLock<Option<axum::body::Bytes>>; 3],
}

impl Published {
    fn new(report: Report) -> Self {
        Published {
            report,
            renders: Default::default(),
        }
    }

    /// The report as JSON, HTML or SARIF (`None`: another format, or it failed to encode).
    pub fn rendered(&self, format: crate::report::Format) -> Option<axum::body::Bytes> {
        use crate::report::Format;
        let slot = match format {
            Format::Json => 0,
            Format::Html => 1,
            Format::Sarif => 2,
            _ => return None,
        };
        self.renders[slot]
            .get_or_init(
                || match crate::report::render(&self.report, format, false, false) {
                    Ok(text) => Some(axum::body::Bytes::from(text)),
                    Err(e) => {
                        tracing::error!("serve: encoding the {format:?} report: {e}");
                        None
                    }
                },
            )
            .clone()
    }
}

/// What the HTTP side shares with the auditing loop.
pub struct Shared {
    latest: RwLock<Option<Arc<Published>>>,
    pub metrics: metrics::AuditMetrics,
    /// With `--watch`, the runtime monitor's metrics, exported beside the audit's.
    pub watch: Option<Arc<WatchMetrics>>,
}

impl Shared {
    pub fn new(watch: Option<Arc<WatchMetrics>>) -> Self {
        Shared {
            latest: RwLock::new(None),
            metrics: metrics::AuditMetrics::default(),
            watch,
        }
    }

    /// The latest good report, when an audit has succeeded.
    pub fn latest(&self) -> Option<Arc<Published>> {
        self.latest
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn publish(&self, report: Report) {
        *self.latest.write().unwrap_or_else(|p| p.into_inner()) =
            Some(Arc::new(Published::new(report)));
    }

    /// The metrics text: the audit's, then the watch's.
    pub fn exposition(&self) -> String {
        let latest = self.latest();
        let mut text = self.metrics.encode(latest.as_deref().map(|p| &p.report));
        if let Some(w) = &self.watch {
            // One exposition: the first part's closing `# EOF` goes.
            if let Some(head) = text.strip_suffix("# EOF\n") {
                text.truncate(head.len());
            }
            text.push_str(&w.encode());
        }
        text
    }
}

/// When audits run.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// A full audit this long after the previous one began.
    pub interval: Duration,
    /// After the first event, wait this long for more, then audit once for all of them.
    pub debounce: Duration,
}

/// The daemon events that ask for an audit: (object type, actions, what to audit).
const TRIGGERS: &[(&str, &[&str], Scope)] = &[
    ("daemon", &["reload"], Scope::Full),
    ("container", &["start", "die", "destroy"], Scope::Containers),
    (
        "image",
        &["pull", "tag", "untag", "delete", "import", "load"],
        Scope::Containers,
    ),
];

/// Which audit a daemon event asks for, if any.
pub fn scope_of(e: &crate::docker::Event) -> Option<Scope> {
    TRIGGERS
        .iter()
        .find(|(kind, actions, _)| *kind == e.kind && actions.contains(&e.action.as_str()))
        .map(|(_, _, scope)| *scope)
}

/// The events [`scope_of`] acts on, as the daemon's filters (type, actions).
pub fn event_kinds() -> Vec<(&'static str, &'static [&'static str])> {
    TRIGGERS.iter().map(|(k, a, _)| (*k, *a)).collect()
}

/// Audit by `schedule` until `stop` resolves. `audit` runs one audit of a scope; its
/// error is shown in the log and the metrics, and the last good report stays.
pub async fn run<F, Fut, E>(
    shared: Arc<Shared>,
    schedule: Schedule,
    events: mpsc::Receiver<Scope>,
    audit: F,
    stop: impl Future<Output = ()>,
) where
    F: Fn(Scope) -> Fut,
    Fut: Future<Output = Result<Report, E>>,
    E: std::fmt::Display,
{
    tokio::pin!(stop);
    tokio::select! {
        _ = audit_loop(&shared, &schedule, events, &audit) => {}
        _ = &mut stop => tracing::info!("serve: stopping"),
    }
}

async fn audit_loop<F, Fut, E>(
    shared: &Shared,
    schedule: &Schedule,
    mut events: mpsc::Receiver<Scope>,
    audit: &F,
) where
    F: Fn(Scope) -> Fut,
    Fut: Future<Output = Result<Report, E>>,
    E: std::fmt::Display,
{
    let mut next_full = tokio::time::Instant::now();
    let mut events_open = true;
    loop {
        let scope = tokio::select! {
            _ = tokio::time::sleep_until(next_full) => Scope::Full,
            e = events.recv(), if events_open => match e {
                Some(first) => gather(first, &mut events, schedule.debounce).await,
                None => {
                    events_open = false;
                    continue;
                }
            },
        };
        if scope == Scope::Full {
            next_full = tokio::time::Instant::now() + schedule.interval;
        }
        once(shared, scope, audit).await;
    }
}

/// The first event and whatever else arrives within `window`, as one scope.
async fn gather(first: Scope, events: &mut mpsc::Receiver<Scope>, window: Duration) -> Scope {
    let deadline = tokio::time::Instant::now() + window;
    let mut scope = first;
    loop {
        tokio::select! {
            e = events.recv() => match e {
                Some(s) => scope = scope.max(s),
                None => return scope,
            },
            _ = tokio::time::sleep_until(deadline) => return scope,
        }
    }
}

/// One audit, published (merged into the latest report for a partial one) or counted as
/// failed.
async fn once<F, Fut, E>(shared: &Shared, scope: Scope, audit: &F)
where
    F: Fn(Scope) -> Fut,
    Fut: Future<Output = Result<Report, E>>,
    E: std::fmt::Display,
{
    // A partial audit needs a whole one to merge into.
    let scope = match (scope, shared.latest()) {
        (Scope::Containers, None) => Scope::Full,
        (s, _) => s,
    };
    let started = Instant::now();
    let began = unix_now();
    tracing::info!("serve: {} audit", scope.name());
    match audit(scope).await {
        Ok(report) => {
            let took = started.elapsed();
            let report = match (scope, shared.latest()) {
                (Scope::Containers, Some(old)) => merge(&old.report, report),
                _ => report,
            };
            shared.metrics.succeeded(scope, &report, began, took);
            tracing::info!(
                "serve: {} audit done in {:.2} s, {} findings",
                scope.name(),
                took.as_secs_f64(),
                report.findings.len()
            );
            shared.publish(report);
        }
        Err(e) => {
            shared.metrics.failed(scope, began, started.elapsed());
            tracing::error!(
                "serve: {} audit failed (the last good report is kept): {}",
                scope.name(),
                crate::text::sanitize(&e.to_string())
            );
        }
    }
}

/// A partial audit's findings in place of the same checks' in `old`; the rest of `old`
/// stays. The run's facts (start, duration, queries, plugins' costs) are the partial's.
pub fn merge(old: &Report, mut partial: Report) -> Report {
    let fresh = std::mem::take(&mut partial.findings);
    let ids: std::collections::HashSet<&str> = fresh.iter().map(|f| f.check.id.as_str()).collect();
    // A plugin that ran again has its say anew, its old error included.
    let reran: std::collections::HashSet<&str> = partial
        .plugins
        .iter()
        .filter(|p| p.checks > 0)
        .map(|p| p.name.as_str())
        .collect();
    let mut findings: Vec<_> = old
        .findings
        .iter()
        .filter(|f| !ids.contains(f.check.id.as_str()))
        .filter(|f| !(f.check.section == "plugins" && reran.contains(f.check.plugin.as_str())))
        .cloned()
        .collect();
    findings.extend(fresh);
    crate::audit::assemble::sort_findings(&mut findings);
    Report {
        findings,
        ..partial
    }
}

/// Seconds since the epoch, with fractions.
fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_ask_for_the_audit_of_what_they_change() {
        let ev = |kind: &str, action: &str| crate::docker::Event {
            kind: kind.into(),
            action: action.into(),
            id: String::new(),
        };
        assert_eq!(scope_of(&ev("daemon", "reload")), Some(Scope::Full));
        assert_eq!(scope_of(&ev("container", "start")), Some(Scope::Containers));
        assert_eq!(scope_of(&ev("image", "delete")), Some(Scope::Containers));
        assert_eq!(scope_of(&ev("container", "exec_start")), None);
        assert_eq!(scope_of(&ev("network", "start")), None);
        // The daemon is asked for exactly the events that trigger something.
        let kinds = event_kinds();
        assert!(kinds.contains(&("container", &["start", "die", "destroy"][..])));
        assert_eq!(kinds.len(), 3);
    }
}
