//! `bulwark serve`: audits on a schedule and on Docker events, serves the metrics and the
//! latest report over HTTP, and with `--watch` runs the runtime monitor in the same
//! process. SIGTERM or SIGINT stops it cleanly (exit 0).

use super::args::{ServeArgs, WatchArgs, WatchFormat};
use super::audit::{load_suppressions, run_checks, suppress_findings};
use anyhow::{Context, Result};
use bulwark::findings::Report;
use bulwark::metrics::WatchMetrics;
use bulwark::report::sanitize;
use bulwark::serve::{self, Scope, Shared};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

pub async fn run(a: ServeArgs) -> Result<i32> {
    // Before anything else: a SIGTERM while binding must stop serve cleanly too.
    let interrupted =
        super::interruption().context("installing the SIGINT and SIGTERM handlers")?;
    let suppressions = Arc::new(load_suppressions(a.ignore_file.as_deref(), &a.ignore)?);
    let watch_metrics = a.watch.then(|| Arc::new(WatchMetrics::default()));
    let shared = Arc::new(Shared::new(watch_metrics.clone()));
    let listener = bulwark::http::bind(a.listen).await.context("--listen")?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let http = tokio::spawn(bulwark::http::serve(
        listener,
        serve::routes::router(shared.clone()),
        stopped(),
    ));
    if !a.listen.ip().is_loopback() {
        eprintln!(
            "bulwark: warning: serving on {} beyond loopback: whoever reaches it can read this host's findings",
            a.listen
        );
    }
    eprintln!(
        "bulwark: serving on http://{}/ (metrics at /metrics); auditing every {}",
        a.listen,
        humantime::format_duration(a.interval)
    );
    let (events_tx, events_rx) = mpsc::channel(64);
    let live = a.target.snapshot.is_none();
    if live {
        tokio::spawn(follow_events(a.target.host.clone(), events_tx, stopped()));
    }
    let monitor = watch_metrics.map(|m| spawn_monitor(watch_args(&a), m, stopped()));
    let schedule = serve::Schedule {
        interval: a.interval,
        debounce: a.debounce,
    };
    let target = a.target.clone();
    let audit = move |scope: Scope| {
        let target = target.clone();
        let suppressions = suppressions.clone();
        async move { audit_once(target, scope, &suppressions).await }
    };
    serve::run(shared, schedule, events_rx, audit, async move {
        eprintln!("bulwark: {}: stopping", interrupted.await.name);
    })
    .await;
    let _ = stop_tx.send(true);
    if let Some(m) = monitor {
        // The monitor ends on the stop signal; one still compiling plugins is not waited for.
        if tokio::time::timeout(Duration::from_secs(10), m)
            .await
            .is_err()
        {
            eprintln!("bulwark: warning: the runtime monitor did not stop within 10 s");
        }
    }
    let _ = http.await;
    Ok(0)
}

/// The runtime monitor beside the audits; its failure is said when it happens, not at
/// shutdown: serve goes on auditing without it.
fn spawn_monitor(
    w: WatchArgs,
    metrics: Arc<WatchMetrics>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<Result<()>> {
    tokio::spawn(async move {
        let r = super::watch::monitor(w, Some(metrics), stop).await;
        if let Err(e) = &r {
            eprintln!(
                "bulwark: error: the runtime monitor stopped: {}",
                sanitize(&format!("{e:#}"))
            );
        }
        r
    })
}

/// One audit of `scope`: a container-scoped one runs only the container sections (or
/// everything, when `-c` chose the checks).
async fn audit_once(
    mut target: super::args::TargetArgs,
    scope: Scope,
    suppressions: &[bulwark::suppress::Suppression],
) -> Result<Report> {
    if scope == Scope::Containers && target.include.is_empty() {
        target.include = serve::CONTAINER_SECTIONS
            .iter()
            .map(|s| s.to_string())
            .collect();
    }
    let (mut report, evidence) = run_checks(&target, true, None).await?;
    // A daemon that does not answer would turn every Docker check UNDECIDED: that is a
    // failed audit here, and the last good report stays.
    if evidence.is_live() && report.engine.is_none() {
        let url = evidence.endpoint().map(|(u, _, _)| u).unwrap_or_default();
        anyhow::bail!("the Docker daemon at {url} did not answer");
    }
    suppress_findings(&mut report, suppressions, true);
    Ok(report)
}

/// The daemon's events, as audit scopes, until `stop`; the subscription is reopened with
/// a backoff when the daemon goes away.
async fn follow_events(
    host: Option<String>,
    tx: mpsc::Sender<Scope>,
    stop: impl std::future::Future<Output = ()>,
) {
    use futures_util::StreamExt;
    let follow = async {
        let mut backoff = Duration::from_secs(1);
        let mut lost = false;
        loop {
            // A fresh client each time: one that failed to connect keeps its failure.
            let client = bulwark::docker::Client::new(host.clone());
            match client.events(&serve::event_kinds()).await {
                Ok(stream) => {
                    // Back after the daemon went away: what changed meanwhile was not
                    // seen, so the whole audit runs again.
                    if lost
                        && client.running_ids().await.is_ok()
                        && tx.send(Scope::Full).await.is_err()
                    {
                        return;
                    }
                    futures_util::pin_mut!(stream);
                    while let Some(e) = stream.next().await {
                        match e {
                            Ok(ev) => {
                                backoff = Duration::from_secs(1);
                                if let Some(scope) = serve::scope_of(&ev) {
                                    tracing::debug!("serve: event {} {}", ev.kind, ev.action);
                                    if tx.send(scope).await.is_err() {
                                        return;
                                    }
                                }
                            }
                            Err(e) => {
                                tracing::warn!(
                                    "serve: the event stream ended: {}",
                                    sanitize(&e.to_string())
                                );
                                break;
                            }
                        }
                    }
                    // However the stream ended, events may be missed until the next one.
                    lost = true;
                }
                Err(e) => tracing::warn!(
                    "serve: cannot follow the daemon's events: {}",
                    sanitize(&e.to_string())
                ),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(60));
        }
    };
    tokio::select! {
        _ = follow => {}
        _ = stop => {}
    }
}

/// The runtime monitor's flags, from serve's.
fn watch_args(a: &ServeArgs) -> WatchArgs {
    WatchArgs {
        plugins: a.target.plugins.clone(),
        host: a.target.host.clone(),
        duration: None,
        rules: a.rules.clone(),
        count_syscalls: false,
        program_stats: false,
        floor: false,
        format: WatchFormat::Jsonl,
        ring_buffer: a.ring_buffer,
        metrics: None,
    }
}
