//! Audit rules: the kernel's loaded rules when `auditctl -l` can list them (or, in a
//! container, which has no auditctl, when the kernel lists them over netlink), else the
//! on-disk rules files.

use super::super::EvidenceError;
use crate::abi::ev;
use std::path::PathBuf;
use std::time::Duration;

/// The kernel's loaded audit rules when auditctl can list them, else the on-disk rules.
pub(super) async fn audit_rules() -> Result<ev::AuditRuleSet, EvidenceError> {
    let listed = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::process::Command::new("auditctl").arg("-l").output(),
    )
    .await;
    if let Ok(Ok(out)) = listed {
        if out.status.success() {
            return Ok(ev::AuditRuleSet {
                source: "auditctl".to_string(),
                rules: rule_lines(&String::from_utf8_lossy(&out.stdout)),
            });
        }
    }
    // Bulwark's image has no auditctl. Its rules files are the next boot's, not what the
    // kernel enforces, which a host with auditctl would judge: the kernel's own list, as
    // Docker Bench's image gets it (its auditctl, with --cap-add audit_control).
    if super::hostview::view() != &super::hostview::View::Native {
        return match tokio::task::spawn_blocking(super::audit_netlink::list_rules).await {
            Ok(Ok(rules)) => Ok(ev::AuditRuleSet {
                source: "kernel".to_string(),
                rules,
            }),
            Ok(Err(e)) => Err(EvidenceError::Unavailable(format!(
                "the kernel's audit rules cannot be listed from the container ({e}); it needs --cap-add audit_control, --pid host and --userns host"
            ))),
            Err(e) => Err(EvidenceError::Unavailable(format!(
                "listing the kernel's audit rules: {e}"
            ))),
        };
    }
    let locate = |p: &str| super::hostview::locate(std::path::Path::new(p));
    let mut files: Vec<PathBuf> = vec![locate("/etc/audit/audit.rules")?];
    if let Ok(dir) = std::fs::read_dir(locate("/etc/audit/rules.d")?) {
        let mut more: Vec<PathBuf> = dir
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "rules"))
            .collect();
        more.sort();
        files.extend(more);
    }
    let mut rules = Vec::new();
    let mut found = false;
    for f in files {
        match std::fs::read_to_string(&f) {
            Ok(t) => {
                found = true;
                rules.extend(rule_lines(&t));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(EvidenceError::Unavailable(format!("{}: {e}", f.display()))),
        }
    }
    Ok(ev::AuditRuleSet {
        source: if found { "rules-file" } else { "none" }.to_string(),
        rules,
    })
}

/// The rules in an `auditctl -l` listing or a rules file: one per line, without blank
/// lines, comments or auditctl's "No rules".
pub(crate) fn rule_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && *l != "No rules")
        .map(str::to_string)
        .collect()
}
