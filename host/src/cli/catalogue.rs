//! `bulwark checks` and `bulwark explain`: the check catalogue of the loaded plugins.

use super::args::{BenchmarkArg, PluginArgs};
use super::{load, make_runtime};
use anyhow::{bail, Result};
use bulwark::{audit, report};

pub async fn checks(p: PluginArgs, b: BenchmarkArg) -> Result<()> {
    let profile = b.profile()?;
    let runtime = make_runtime(&p)?;
    let (plugins, failures) = load(&p, &runtime).await?;
    let rows = audit::catalogue(&plugins, Some(&profile));
    print!(
        "{}",
        report::catalogue::check_list(rows.iter().map(|(p, _, s)| (p.name.as_str(), s)))
    );
    if !failures.is_empty() {
        bail!("{} plugin(s) could not be loaded", failures.len());
    }
    Ok(())
}

pub async fn explain(id: &str, p: PluginArgs, b: BenchmarkArg) -> Result<()> {
    let profile = b.profile()?;
    let runtime = make_runtime(&p)?;
    let (plugins, _) = load(&p, &runtime).await?;
    let catalogue = audit::catalogue(&plugins, Some(&profile));
    let Some((plugin, c, shown)) = catalogue.into_iter().find(|(_, _, s)| s.id == id) else {
        bail!(
            "no check {:?} in {} (see `bulwark checks --benchmark {}`)",
            report::sanitize(id),
            profile.title,
            profile.id
        );
    };
    print!(
        "{}",
        report::explain::check(&profile, &plugin.name, c, &shown, plugin.docs.get(&c.id))
    );
    Ok(())
}
