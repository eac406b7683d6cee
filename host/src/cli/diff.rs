//! `bulwark diff OLD NEW`: compare two audit reports and render the comparison; with
//! `--fail-on-new`, the exit status says whether NEW brought new findings.

use super::args::{DiffArgs, DiffFormat};
use anyhow::{Context, Result};
use bulwark::compare::{compare, Audit};
use bulwark::report;
use std::io::Write;

pub fn run(d: DiffArgs) -> Result<i32> {
    let old = Audit::read(&d.old).context("OLD")?;
    let new = Audit::read(&d.new).context("NEW")?;
    let c = compare(&old, &new);
    let body = match d.format {
        DiffFormat::Text => report::diff::text(&c),
        DiffFormat::Markdown => report::diff::markdown(&c),
        DiffFormat::Json => report::diff::json(&c).context("encoding the comparison")?,
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(body.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            return Err(e).context("writing the comparison")
        }
        _ => {}
    }
    let new_findings = d.fail_on_new.map_or(0, |l| c.new_at_or_above(l.into()));
    if new_findings > 0 {
        eprintln!("bulwark: {new_findings} new finding(s) at or above --fail-on-new");
        return Ok(d.exit_code);
    }
    Ok(0)
}
