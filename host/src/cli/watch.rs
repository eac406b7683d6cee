//! `bulwark watch`: monitor what containers do in the kernel and print the rules' alerts.
//! It says first which rules run, which do not and why, and what the probes attach for
//! them (each attach point's cost tier and the rules that asked for it).

use super::args::{WatchArgs, WatchFormat};
use super::{load, make_runtime};
use anyhow::{Context, Result};
use bulwark::metrics::{AttachLabels, RuleRunLabels, WatchMetrics};
use bulwark::report::sanitize;
use bulwark::watch::{self, RulePlan};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

pub async fn run(w: WatchArgs) -> Result<()> {
    let metrics = w.metrics.map(|_| Arc::new(WatchMetrics::default()));
    if let (Some(addr), Some(m)) = (w.metrics, &metrics) {
        let listener = bulwark::http::bind(addr).await.context("--metrics")?;
        let app = bulwark::metrics::router(m.clone());
        tokio::spawn(bulwark::http::serve(listener, app, std::future::pending()));
    }
    // Ctrl-C, or SIGTERM from a service manager or kubelet: either ends the watch with
    // its summary.
    let interrupted =
        super::interruption().context("installing the SIGINT and SIGTERM handlers")?;
    monitor(w, metrics, async move {
        interrupted.await;
    })
    .await
}

/// Watch until `stop` resolves (or `--duration` passes), alerts to standard output,
/// counting into `metrics`; `serve --watch` runs it beside its audits.
pub async fn monitor(
    w: WatchArgs,
    metrics: Option<Arc<WatchMetrics>>,
    stop: impl std::future::Future<Output = ()>,
) -> Result<()> {
    // What watching needs from this host, before any plugin is compiled.
    bulwark::probes::preflight().context("cannot watch this host")?;
    let opts = watch::WatchOptions {
        duration: w.duration,
        probe: bulwark::probes::ProbeOptions {
            ring_bytes: w.ring_buffer.saturating_mul(1024),
            floor: w.floor,
        },
        batch: Duration::from_millis(100),
        metrics,
    };
    let runtime = make_runtime(&w.plugins)?;
    // `load` already warns about plugins that failed to load.
    let (plugins, _) = load(&w.plugins, &runtime).await?;
    let plan = plan(&w, &plugins)?;
    let _stats = match w.program_stats {
        true => Some(bulwark::probes::enable_stats().context("--program-stats")?),
        false => None,
    };
    let watcher = Arc::new(
        watch::Watcher::new(w.host.clone(), &opts, &plan.sources())
            .context("cannot watch this host")?,
    );
    announce(&plan, &watcher, opts.metrics.as_deref());
    let format = w.format;
    let mut out = std::io::stdout();
    eprintln!("bulwark: watching containers (interrupt to stop)");
    let summary = watch::run(watcher, runtime, plugins, &plan, &opts, stop, move |a| {
        let line = match format {
            WatchFormat::Jsonl => serde_json::to_string(&a).unwrap_or_default(),
            WatchFormat::Ocsf => bulwark::report::ocsf::alert(&a).to_string(),
            WatchFormat::Text => a.text_line(),
        };
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    })
    .await?;
    match format {
        WatchFormat::Jsonl => println!("{}", serde_json::json!({ "summary": summary })),
        WatchFormat::Text | WatchFormat::Ocsf => {
            for line in summary.text_lines() {
                eprintln!("bulwark: {line}");
            }
        }
    }
    for f in &summary.rule_failures {
        eprintln!("bulwark: warning: {}", sanitize(f));
    }
    Ok(())
}

/// Which rules run: `--rules`, the plugins' rules and what each needs.
fn plan(w: &WatchArgs, plugins: &[Arc<bulwark::runtime::Plugin>]) -> Result<RulePlan> {
    let ids = plugins
        .iter()
        .flat_map(|p| p.rules.iter().map(|r| r.id.as_str()));
    if let Some(n) = w.rules.unmatched(ids).first() {
        anyhow::bail!("--rules: no loaded rule matches {:?}", sanitize(n));
    }
    // No report comes before the summary: say now which rules will not run.
    for p in plugins
        .iter()
        .filter(|p| !p.rules.is_empty() && !p.grants.allows_scope(bulwark::evidence::Scope::Traces))
    {
        eprintln!(
            "bulwark: warning: plugin {} has runtime rules but no `traces` grant; they do not run (see --grant)",
            sanitize(&p.name)
        );
    }
    let mut plan = RulePlan::new(plugins, &w.rules);
    if w.count_syscalls {
        plan.count_everything("--count-syscalls");
    }
    Ok(plan)
}

/// Say which rules run and which do not, what is attached and why; export the same.
fn announce(plan: &RulePlan, watcher: &watch::Watcher, metrics: Option<&WatchMetrics>) {
    for (rule, why) in &plan.disabled {
        eprintln!(
            "bulwark: rule {} does not run: {} (see --rules)",
            sanitize(&rule.rule),
            sanitize(why)
        );
    }
    for r in plan.enabled.iter().filter(|r| r.legacy) {
        eprintln!(
            "bulwark: rule {} ({}) does not say what it needs; it gets what a 0.1.0 host attached",
            sanitize(&r.rule),
            sanitize(&r.plugin)
        );
    }
    for (source, tier, who) in plan.reasons() {
        let who: Vec<String> = who.iter().map(|w| sanitize(w)).collect();
        eprintln!("bulwark: attached {source} [{tier}] for {}", who.join(", "));
    }
    for note in watcher.notes() {
        eprintln!("bulwark: note: {note}");
    }
    let Some(m) = metrics else { return };
    for a in watcher.attached() {
        m.attached
            .get_or_create(&AttachLabels {
                program: a.program.into(),
                tracepoint: a.tracepoint.into(),
                tier: (a.tier as u8).to_string().into(),
            })
            .set(1);
    }
    for r in &plan.enabled {
        m.rules
            .get_or_create(&RuleRunLabels {
                rule: r.rule.clone().into(),
                plugin: r.plugin.clone().into(),
                tier: (r.tier as u8).to_string().into(),
            })
            .set(1);
    }
}
