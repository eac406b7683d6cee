//! `bulwark audit`: gather the evidence (live or from a snapshot), run the checks, apply
//! the operator's suppressions, write every requested report, and turn `--fail-on` into
//! the exit status.

use super::args::{AuditArgs, FailOn, TargetArgs};
use super::{load, make_runtime, now, preflight, write_atomic};
use anyhow::{bail, Context, Result};
use bulwark::audit::{self, CheckFilter};
use bulwark::evidence::selection::{label_filters, name_patterns, SelectionError};
use bulwark::evidence::{live, snapshot, Evidence, Selection, Source};
use bulwark::findings::Report;
use bulwark::report;
use bulwark::suppress::{self, Suppression};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub async fn run(a: AuditArgs) -> Result<i32> {
    let interrupted = super::interruption();
    tokio::select! {
        r = audit(a) => r,
        // Never, if the handlers cannot be installed: the audit still runs.
        i = async move {
            match interrupted {
                Ok(interrupted) => interrupted.await,
                Err(_) => std::future::pending().await,
            }
        } => Err(i.into()),
    }
}

async fn audit(a: AuditArgs) -> Result<i32> {
    // Bad input is refused before anything runs.
    let suppressions = load_suppressions(a.ignore_file.as_deref(), &a.ignore)?;
    let baseline = match &a.baseline {
        Some(p) => Some(bulwark::compare::Audit::read(p).context("--baseline")?),
        None => None,
    };
    let (mut report, _) = run_checks(&a.target, a.quiet, a.observe).await?;
    suppress_findings(&mut report, &suppressions, a.quiet);
    if let Some(old) = &baseline {
        bulwark::compare::mark_baseline(&mut report, old);
    }
    write_reports(&a, &report)?;
    Ok(exit_status(&a, &report))
}

/// Gather the evidence (live or from a snapshot) and run the selected checks: the part of
/// an audit that `fix` shares.
pub(super) async fn run_checks(
    t: &TargetArgs,
    quiet: bool,
    observe_for: Option<Duration>,
) -> Result<(Report, Arc<Evidence>)> {
    let runtime = make_runtime(&t.plugins)?;
    let evidence = Arc::new(evidence(t)?);
    preflight(&evidence, quiet, t.host.clone()).await?;
    if let (false, Some(id)) = (
        quiet || !evidence.is_live(),
        live::hostview::own_container(),
    ) {
        eprintln!(
            "bulwark: running in container {}; it is left out of the audit",
            id.get(..12).unwrap_or(id)
        );
    }
    if let Some(d) = observe_for {
        observe(t, quiet, &evidence, d).await?;
    }
    let (plugins, failures) = load(&t.plugins, &runtime).await?;
    let filter = CheckFilter::parse(&t.include, &t.exclude)?;
    let profile = t.benchmark.profile()?;
    if let Some(s) = audit::unmatched_selector(&plugins, &profile, &filter) {
        bail!("no check matches {s:?} (see `bulwark checks`)");
    }
    let mut options = Vec::new();
    if let Some(u) = &t.trusted_users {
        options.push(("trusted-users".to_string(), u.clone()));
    }
    let bar = progress_bar(quiet);
    let tick = {
        let bar = bar.clone();
        move |done: usize, total: usize, name: &str| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            bar.set_message(report::sanitize(name));
        }
    };
    let spec = audit::RunSpec {
        filter: &filter,
        profile: Some(&profile),
        options,
    };
    let report =
        audit::run_with_progress(runtime, evidence.clone(), plugins, failures, spec, &tick).await;
    bar.finish_and_clear();
    log_costs(&report);
    Ok((report, evidence))
}

/// Where the answers come from: the snapshot named, else this host.
fn evidence(a: &TargetArgs) -> Result<Evidence> {
    let selection = Selection {
        all_containers: a.all_containers,
        include: name_patterns(a.include_names.as_deref()).context("-i")?,
        exclude: name_patterns(a.exclude_names.as_deref()).context("-x")?,
        labels: label_filters(&a.labels).map_err(|e| match e {
            SelectionError::LabelWithoutKey(s) => {
                anyhow::anyhow!("-t: {:?} has no label key", report::sanitize(&s))
            }
            other => anyhow::Error::new(other).context("-t"),
        })?,
    };
    Ok(match &a.snapshot {
        Some(path) => {
            let snap = snapshot::load(path)?;
            Evidence::new(Source::Snapshot(snap.answers), selection, snap.audit_start)
        }
        None => Evidence::new(
            Source::Live(Box::new(live::Collector::new(a.host.clone()))),
            selection,
            now(),
        ),
    })
}

/// `--observe DURATION`: watch the selected containers first.
async fn observe(a: &TargetArgs, quiet: bool, evidence: &Evidence, d: Duration) -> Result<()> {
    if a.snapshot.is_some() {
        bail!("--observe needs a live host, not a snapshot");
    }
    let ids = evidence.selected_ids().await;
    if !quiet {
        eprintln!(
            "bulwark: observing {} containers for {}",
            ids.len(),
            humantime::format_duration(d)
        );
    }
    audit::observe(evidence, a.host.clone(), &ids, d)
        .await
        .context("--observe")
}

/// -v: what each plugin cost.
fn log_costs(report: &Report) {
    for p in &report.plugins {
        if let Some(c) = &p.cost {
            tracing::info!(
                "plugin {}: {} checks, {:.1} ms, {} fuel, {} KiB peak memory, {} queries ({} denied), grants: {}",
                report::sanitize(&p.name),
                p.checks,
                c.wall_ms,
                c.fuel_used,
                c.peak_memory >> 10,
                c.queries,
                c.denied,
                p.grants.as_deref().unwrap_or("-")
            );
        }
    }
}

/// The DBS log (`-l`), every `--out`, then the main report (`-o` or standard output).
fn write_reports(a: &AuditArgs, report: &Report) -> Result<()> {
    if let Some(log) = &a.log {
        let json_path = PathBuf::from(format!("{}.json", log.display()));
        let dbs = report::dbs_json(report, a.limit, a.remediation, now());
        let json = serde_json::to_string_pretty(&dbs).context("encoding the JSON log")?;
        write_atomic(log, report::text(report, false, a.remediation).as_bytes())?;
        write_atomic(&json_path, (json + "\n").as_bytes())?;
    }
    let to_terminal = a.output.is_none() && std::io::stdout().is_terminal();
    let colour =
        to_terminal && !a.no_color && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    for o in &a.outs {
        let body = report::render(report, o.format, false, a.remediation)
            .with_context(|| format!("encoding the {:?} report", o.format))?;
        write_atomic(&o.path, body.as_bytes())?;
    }
    let text = report::render(report, a.format, colour, a.remediation)
        .with_context(|| format!("encoding the {:?} report", a.format))?;
    match &a.output {
        Some(path) => write_atomic(path, text.as_bytes()),
        None => {
            let mut out = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error worth reporting.
            match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    Err(e).context("writing the report")
                }
                _ => Ok(()),
            }
        }
    }
}

/// `--exit-code` when unsuppressed findings reach `--fail-on`, else 0.
fn exit_status(a: &AuditArgs, report: &Report) -> i32 {
    let failing = a.fail_on.map_or(0, |t| report.failing(t.into()));
    if failing == 0 {
        return 0;
    }
    if !a.quiet {
        eprintln!(
            "bulwark: {failing} finding(s) at or above --fail-on {:?}",
            a.fail_on.unwrap_or(FailOn::Error)
        );
    }
    a.exit_code
}

/// Mark the findings the operator suppressed, warning (unless `quiet`) of expired ones.
pub(super) fn suppress_findings(report: &mut Report, suppressions: &[Suppression], quiet: bool) {
    let today = chrono::Local::now().date_naive();
    for s in suppress::apply(report, suppressions, today) {
        if !quiet {
            eprintln!(
                "bulwark: warning: suppression of {} ({}) expired on {}; it no longer applies",
                report::sanitize(&s.id),
                report::sanitize(&s.source),
                s.expires.map(|d| d.to_string()).unwrap_or_default()
            );
        }
    }
}

/// The operator's suppressions: `--ignore-file` (or ./.bulwarkignore) and `--ignore`.
pub(super) fn load_suppressions(
    ignore_file: Option<&std::path::Path>,
    ignore: &[String],
) -> Result<Vec<Suppression>> {
    let mut list = Vec::new();
    let default = PathBuf::from(".bulwarkignore");
    let file = match ignore_file {
        Some(f) => Some(f.to_path_buf()),
        None => default.is_file().then_some(default),
    };
    if let Some(f) = file {
        let text =
            std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?;
        list.extend(suppress::parse(&text, &f.display().to_string())?);
    }
    for id in ignore {
        list.push(Suppression::for_id(id).map_err(|e| anyhow::anyhow!("--ignore: {e}"))?);
    }
    Ok(list)
}

/// A progress bar on stderr, drawn only on a terminal, without --quiet, and only once the
/// audit has taken longer than a moment.
fn progress_bar(quiet: bool) -> indicatif::ProgressBar {
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::hidden());
    if quiet || !std::io::stderr().is_terminal() {
        return bar;
    }
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{spinner} plugins {pos}/{len} {wide_msg}")
    {
        bar.set_style(style);
    }
    let delayed = bar.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if !delayed.is_finished() {
            delayed.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            delayed.enable_steady_tick(Duration::from_millis(120));
        }
    });
    bar
}
