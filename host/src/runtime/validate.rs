//! What a plugin returns is untrusted: the checks and rules it declares, and the verdicts
//! of a run, are validated here before anything of them reaches a report.

use super::{Manifest, PluginFailure};
use crate::abi::{rules, types};
use std::collections::{HashMap, HashSet};

/// Bytes of text a run returned.
pub(crate) fn output_size(findings: &[types::Finding]) -> usize {
    findings
        .iter()
        .map(|f| {
            let subjects: usize = f
                .subjects
                .iter()
                .map(|s| match s {
                    types::Subject::Container(c) => c.id.len() + c.name.len(),
                    types::Subject::Image(t) | types::Subject::File(t) => t.len(),
                    _ => 0,
                })
                .sum();
            f.check_id.len()
                + f.message.len()
                + f.reason.as_ref().map_or(0, |r| r.len())
                + f.details.iter().map(|d| d.len() + 1).sum::<usize>()
                + f.evidence.iter().map(|d| d.len() + 1).sum::<usize>()
                + subjects
        })
        .sum()
}

/// A plugin answers exactly the checks it was asked, once each.
pub(crate) fn verdicts(
    findings: Vec<types::Finding>,
    ids: &[String],
) -> Result<Vec<types::Finding>, PluginFailure> {
    let mut by_id: HashMap<&str, types::Finding> = HashMap::new();
    for f in findings {
        let Some(id) = ids.iter().find(|i| **i == f.check_id) else {
            return Err(PluginFailure::Garbage(format!(
                "a verdict for check {:?}, which it was not asked to run",
                f.check_id
            )));
        };
        if by_id.insert(id.as_str(), f).is_some() {
            return Err(PluginFailure::Garbage(format!(
                "two verdicts for check {id}"
            )));
        }
    }
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        match by_id.remove(id.as_str()) {
            Some(mut f) => {
                if matches!(f.status, types::Status::Undecided | types::Status::Skipped)
                    && f.reason.is_none()
                {
                    f.reason = Some("the plugin gave no reason".to_string());
                }
                out.push(f)
            }
            None => return Err(PluginFailure::Garbage(format!("no verdict for check {id}"))),
        }
    }
    Ok(out)
}

/// The checks and rules a plugin declares: well-formed ids, each once, and (for a plugin
/// with a manifest) only checks its manifest lists.
pub(crate) fn declared(
    checks: &[types::CheckMeta],
    rules: &[rules::RuleMeta],
    manifest: Option<&Manifest>,
) -> Result<(), String> {
    let mut rule_ids = HashSet::new();
    for r in rules {
        if r.id.is_empty() || r.id.len() > 64 || r.id.chars().any(|c| c.is_control()) {
            return Err(format!("invalid rule id {:?}", r.id));
        }
        if !rule_ids.insert(r.id.clone()) {
            return Err(format!("rule id {} declared twice", r.id));
        }
    }
    let mut ids = HashSet::new();
    for c in checks {
        if c.id.is_empty()
            || c.id.len() > 64
            || c.id.chars().any(|ch| ch.is_control() || ch.is_whitespace())
        {
            return Err(format!("invalid check id {:?}", c.id));
        }
        if !ids.insert(c.id.clone()) {
            return Err(format!("check id {} declared twice", c.id));
        }
        if let Some(m) = manifest {
            if !m.provides(&c.id) {
                return Err(format!(
                    "it declares check {}, which its manifest does not list ({})",
                    c.id,
                    m.checks.join(", ")
                ));
            }
        }
    }
    Ok(())
}

/// What a batch of rules returned: within the output limit, and only alerts on events it
/// was given, for rules it declares.
pub(crate) fn alerts(
    alerts: Vec<rules::Alert>,
    events: usize,
    declared: &[rules::RuleMeta],
    max_output: usize,
) -> Result<Vec<rules::Alert>, PluginFailure> {
    let size: usize = alerts
        .iter()
        .map(|a| a.message.len() + a.rule_id.len())
        .sum();
    if size > max_output {
        return Err(PluginFailure::OutputTooLarge(size, max_output));
    }
    if let Some(a) = alerts
        .iter()
        .find(|a| a.event as usize >= events || !declared.iter().any(|r| r.id == a.rule_id))
    {
        return Err(PluginFailure::Garbage(format!(
            "an alert for rule {:?} on event {} it was not given or does not declare",
            a.rule_id, a.event
        )));
    }
    Ok(alerts)
}
