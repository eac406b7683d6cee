//! `bulwark collect`: record every piece of evidence the checks use into a snapshot.

use super::args::CollectArgs;
use super::{load, make_runtime, now, preflight};
use anyhow::{Context, Result};
use bulwark::audit::{self, CheckFilter};
use bulwark::evidence::{live, snapshot, Evidence, Selection, Source};
use std::sync::Arc;

pub async fn run(c: CollectArgs) -> Result<()> {
    let runtime = make_runtime(&c.plugins)?;
    let start = now();
    // Record with every container selected: a replay may use either selection.
    let evidence = Arc::new(Evidence::new(
        Source::Live(Box::new(live::Collector::new(c.host.clone()))),
        Selection {
            all_containers: true,
            ..Selection::default()
        },
        start,
    ));
    preflight(&evidence, false, c.host.clone()).await?;
    if let Some(d) = c.observe {
        let ids = evidence.selected_ids().await;
        eprintln!(
            "bulwark: observing {} containers for {:.0} s",
            ids.len(),
            d.as_secs_f64()
        );
        audit::observe(&evidence, c.host.clone(), &ids, d)
            .await
            .context("--observe")?;
    }
    snapshot::record_standard(&evidence).await;
    // Then everything the checks themselves ask for.
    let (plugins, failures) = load(&c.plugins, &runtime).await?;
    let report = audit::run(
        runtime,
        evidence.clone(),
        plugins,
        failures,
        // Every check, §8 and community included: a replay may select any of them.
        audit::RunSpec {
            filter: &CheckFilter::everything(),
            // Every implementation, whichever benchmark shows it: a replay may use any.
            profile: None,
            options: Vec::new(),
        },
    )
    .await;
    let recorded = evidence.recorded();
    snapshot::save(&c.output, start, &recorded)?;
    eprintln!(
        "bulwark: recorded {} answers from {} checks into {}",
        recorded.len(),
        report.findings.len(),
        c.output.display()
    );
    Ok(())
}
