//! `bulwark watch`: monitor what containers do in the kernel and print the rules' alerts.

use super::args::{WatchArgs, WatchFormat};
use super::{load, make_runtime};
use anyhow::{bail, Context, Result};
use bulwark::report;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

pub async fn run(w: WatchArgs) -> Result<()> {
    use bulwark::watch;
    if let Some(d) = w.duration {
        if !(d > 0.0 && d.is_finite()) {
            bail!("--duration must be a positive number of seconds");
        }
    }
    let opts = watch::WatchOptions {
        duration: w.duration.map(Duration::from_secs_f64),
        probe: bulwark::probes::ProbeOptions {
            ring_bytes: w.ring_buffer.saturating_mul(1024),
        },
        batch: Duration::from_millis(100),
        metrics: w
            .metrics
            .map(|_| Arc::new(bulwark::metrics::WatchMetrics::default())),
    };
    if let (Some(addr), Some(m)) = (w.metrics, &opts.metrics) {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("--metrics {addr}"))?;
        tokio::spawn(bulwark::metrics::serve(listener, m.clone()));
    }
    let watcher =
        Arc::new(watch::Watcher::new(w.host.clone(), &opts).context("cannot watch this host")?);
    let runtime = make_runtime(&w.plugins)?;
    // `load` already warns about plugins that failed to load.
    let (plugins, _) = load(&w.plugins, &runtime).await?;
    // No report comes before the summary: say now which rules will not run.
    for p in plugins
        .iter()
        .filter(|p| !p.rules.is_empty() && !p.grants.allows_scope(bulwark::evidence::Scope::Traces))
    {
        eprintln!(
            "bulwark: warning: plugin {} has runtime rules but no `traces` grant; they do not run (see --grant)",
            report::sanitize(&p.name)
        );
    }
    let format = w.format;
    let mut out = std::io::stdout();
    // Ctrl-C, or SIGTERM from a service manager or kubelet: either ends the watch with
    // its summary.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing a SIGTERM handler")?;
    let stop = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    eprintln!("bulwark: watching containers (interrupt to stop)");
    let summary = watch::run(watcher, runtime, plugins, &opts, stop, |a| {
        let line = match format {
            WatchFormat::Jsonl => serde_json::to_string(&a).unwrap_or_default(),
            WatchFormat::Text => a.text_line(),
        };
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    })
    .await?;
    match format {
        WatchFormat::Jsonl => println!("{}", serde_json::json!({ "summary": summary })),
        WatchFormat::Text => {
            for line in summary.text_lines() {
                eprintln!("bulwark: {line}");
            }
        }
    }
    for f in &summary.rule_failures {
        eprintln!("bulwark: warning: {}", report::sanitize(f));
    }
    Ok(())
}
