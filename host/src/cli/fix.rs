//! `bulwark fix`: audit, then plan the remediation of the failing findings (nothing is
//! changed); `--apply` applies its host-side parts after a backup, `--restart` restarts the
//! daemon and re-audits the fixed checks, `--rollback [ID]` restores a backup.

use super::args::{FixArgs, FixFormat};
use super::audit::run_checks;
use anyhow::{Context, Result};
use bulwark::fix::{self, apply, restart};
use bulwark::report::{self, sanitize};
use std::time::Duration;

pub async fn run(f: FixArgs) -> Result<i32> {
    if let Some(id) = &f.rollback {
        return rollback(&f, id).await;
    }
    let (audited, evidence) = run_checks(&f.target, true, None).await?;
    let docker = bulwark::docker::Client::new(f.target.host.clone());
    let mut facts = fix::Facts::gather(&audited, &evidence, &docker).await;
    facts.audit_rules_file = f.audit_rules_file.as_ref().map(|p| p.display().to_string());
    let plan = fix::plan(&audited, &facts).context("cannot plan the remediation")?;
    match f.format {
        FixFormat::Text => print!("{}", report::fix::text(&plan)),
        FixFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&plan).context("encoding the plan")?
        ),
    }
    if !f.apply {
        return Ok(0);
    }
    let Some(applied) = apply::apply(&plan, &f.backup_dir)
        .context("applying the plan (every file is as it was)")?
    else {
        eprintln!("bulwark: nothing on this host to apply");
        return Ok(0);
    };
    eprintln!(
        "bulwark: applied (backup {} in {}; undo with `bulwark fix --rollback {}`):",
        applied.backup,
        applied.dir.display(),
        applied.backup
    );
    for c in &applied.changes {
        eprintln!("  {}", sanitize(c));
    }
    if !f.restart {
        if plan.daemon.as_ref().is_some_and(|d| !d.changes.is_empty()) {
            eprintln!("bulwark: the daemon reads daemon.json when it starts: restart it (or use --restart)");
        }
        return Ok(0);
    }
    restart_and_check(&f, &plan, &facts, &applied.backup).await
}

/// Restart the daemon, wait for it, audit the fixed checks again and say which pass. A
/// daemon that does not come back gets its files restored and is started again with them.
async fn restart_and_check(
    f: &FixArgs,
    plan: &fix::Plan,
    facts: &fix::Facts,
    backup: &str,
) -> Result<i32> {
    let (Some(manager), Some(daemon)) = (&facts.restart, &facts.daemon) else {
        anyhow::bail!("--restart: how the daemon runs is not known");
    };
    let within = Duration::from_secs(f.restart_timeout);
    eprintln!(
        "bulwark: restarting the daemon ({})",
        sanitize(&manager.command())
    );
    restart::restart_or_restore(manager, &daemon.endpoint, within, &f.backup_dir, backup)
        .await
        .context("--restart")?;
    let ids = plan.applied_checks();
    let mut target = f.target.clone();
    target.include = ids.clone();
    target.exclude.clear();
    let (after, _) = run_checks(&target, true, None).await?;
    let verdicts = fix::verdicts(&after, &ids);
    let mut all = true;
    for id in &ids {
        let status = verdicts.get(id);
        let fixed = status.is_some_and(|s| *s == bulwark::findings::Status::Pass);
        all &= fixed;
        println!(
            "{:<6} {}",
            sanitize(id),
            match status {
                Some(s) if fixed => format!("fixed ({})", s.tag()),
                Some(s) => format!("not fixed ({})", s.tag()),
                None => "not re-audited".to_string(),
            }
        );
    }
    Ok(if all { 0 } else { 1 })
}

async fn rollback(f: &FixArgs, id: &str) -> Result<i32> {
    let id = (id != "latest").then_some(id);
    let (manifest, done) = apply::rollback(&f.backup_dir, id).context("--rollback")?;
    eprintln!("bulwark: restored backup {}:", manifest.id);
    for d in &done {
        eprintln!("  {}", sanitize(d));
    }
    if f.restart {
        let client = bulwark::docker::Client::new(f.target.host.clone());
        let endpoint = client.endpoint().to_string();
        let settings = bulwark::evidence::live::Collector::new(f.target.host.clone())
            .collect(&bulwark::evidence::Query::DaemonConfig)
            .await;
        let Ok(bulwark::evidence::Answer::Daemon(d)) = settings else {
            anyhow::bail!("--restart: the daemon's configuration cannot be read");
        };
        let manager = restart::Manager::of(&d);
        let within = Duration::from_secs(f.restart_timeout);
        eprintln!(
            "bulwark: restarting the daemon ({})",
            sanitize(&manager.command())
        );
        manager.restart(within).context("--restart")?;
        restart::wait_for_api(&endpoint, within)
            .await
            .context("--restart")?;
    }
    Ok(0)
}
