//! CIS Docker Benchmark 1.6.0, section 1: Host configuration.
//!
//! Audit-rule checks match a rule's watched path exactly (`-w PATH` or `-F path=`/`dir=`),
//! against the paths this host really uses: the running dockerd's binary, the daemon's
//! data root and daemon.json, the unit files systemd would load. For Podman and rootless
//! Docker those are the engine's own files; what the engine does not have is SKIP.

use bulwark_sdk::engine::Layout;
use bulwark_sdk::locate;
use bulwark_sdk::prelude::*;

const SECTION: (&str, &str) = ("1", "Host Configuration");

fn check(id: &str, title: &str, run: fn(&mut Ctx) -> Verdict) -> Check {
    Check::new(id, title, run)
        .section(SECTION.0, SECTION.1)
        .tag("cis-docker-1.6.0")
        .tag("host")
}

fn audited(id: &str, title: &str, run: fn(&mut Ctx) -> Verdict) -> Check {
    check(id, title, run)
        .automated()
        .scored()
        .remediation("Add a rule such as `-w PATH -p rwxa -k docker` to /etc/audit/rules.d/audit.rules and reload auditd.")
}

/// The paths an audit rule watches.
fn watched_paths(rule: &str) -> Vec<String> {
    let words: Vec<&str> = rule.split_whitespace().collect();
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        if *w == "-w" {
            if let Some(p) = words.get(i + 1) {
                out.push(p.to_string());
            }
        }
        if *w == "-F" {
            if let Some(f) = words.get(i + 1) {
                if let Some(p) = f.strip_prefix("path=").or_else(|| f.strip_prefix("dir=")) {
                    out.push(p.to_string());
                }
            }
        }
        if let Some(p) = w.strip_prefix("-w") {
            if p.starts_with('/') {
                out.push(p.to_string());
            }
        }
    }
    out.into_iter()
        .map(|p| p.trim_end_matches('/').to_string())
        .collect()
}

/// PASS when a rule watches exactly `path`. `must_exist`: a missing path is INFO.
fn audit_rule_for(ctx: &mut Ctx, path: Option<String>, what: &str, must_exist: bool) -> Verdict {
    let Some(path) = path else {
        return Ok(Finding::info(format!("{what} not found on this host")));
    };
    if must_exist && locate::stat(ctx, &path)?.is_none() {
        return Ok(Finding::info(format!("{path} not found")));
    }
    let rules = ctx.audit_rules()?;
    let want = path.trim_end_matches('/');
    let subject = Subject::File(path.clone());
    if rules
        .rules
        .iter()
        .any(|r| watched_paths(r).iter().any(|p| p == want))
    {
        return Ok(Finding::pass(format!("{path} is audited ({})", rules.source)).subject(subject));
    }
    let source = match rules.source.as_str() {
        "none" => "no audit rules are configured (no auditctl, no rules files)".to_string(),
        s => format!("no audit rule watches {path} ({s})"),
    };
    Ok(Finding::warn(source)
        .detail(format!("not audited: {path}"))
        .subject(subject))
}

fn daemon_binary(ctx: &mut Ctx) -> Result<Option<String>, QueryError> {
    // The binary of the dockerd that runs, wherever the distribution put it.
    if let Ok(d) = ctx.daemon() {
        if let Some(exe) = ctx.process(d.pid).ok().and_then(|p| p.exe) {
            return Ok(Some(exe.trim_end_matches(" (deleted)").to_string()));
        }
    }
    locate::binary(ctx, "dockerd")
}

fn c1_1_1(ctx: &mut Ctx) -> Verdict {
    let info = ctx.info()?;
    let root = info.docker_root_dir.clone();
    if root.is_empty() {
        return Err(Finding::undecided(
            "the daemon does not report its data root",
        ));
    }
    let Some(data) = locate::stat(ctx, &root)? else {
        return Err(Finding::undecided(format!(
            "{root} is not visible from the auditor"
        )));
    };
    let slash = ctx.file_stat("/")?;
    let subject = Subject::File(root.clone());
    if data.device != slash.device {
        Ok(Finding::pass(format!("{root} is on its own filesystem")).subject(subject))
    } else {
        Ok(Finding::warn(format!("{root} is on the root filesystem"))
            .detail(format!("{root}: same filesystem as /"))
            .subject(subject))
    }
}

/// SKIP when the audited engine does not have what a check looks at: `podman` says why
/// Podman lacks it, `rootless` why a rootless Docker does. Without an answer from the API
/// the engine is taken to be a root Docker (which files to judge, not a verdict).
fn not_used(
    ctx: &mut Ctx,
    podman: Option<&str>,
    rootless: Option<&str>,
) -> Result<Option<Finding>, Finding> {
    let Ok(e) = ctx.engine() else {
        return Ok(None);
    };
    let why = if e.is_podman() {
        podman
    } else if e.rootless {
        rootless
    } else {
        None
    };
    Ok(why.map(|w| Finding::skipped(format!("{}: {w}", e.name()))))
}

fn layout(ctx: &mut Ctx) -> Result<Option<Layout>, Finding> {
    if ctx.engine().is_err() {
        return Ok(None);
    }
    Layout::of(ctx)
        .map(Some)
        .map_err(|e| Finding::from_error("the engine's file layout", &e))
}

const NO_CONTAINERD: &str = "it does not use containerd";
const NO_DEFAULTS: &str = "it does not read the root daemon's init-script settings";

fn skip_or(
    ctx: &mut Ctx,
    podman: Option<&str>,
    rootless: Option<&str>,
    run: impl FnOnce(&mut Ctx) -> Verdict,
) -> Verdict {
    match not_used(ctx, podman, rootless)? {
        Some(f) => Ok(f),
        None => run(ctx),
    }
}

fn c1_1_2(ctx: &mut Ctx) -> Verdict {
    if let Some(f) = not_used(
        ctx,
        Some("membership of the docker group does not give control of it; its socket's owner and mode do (3.15, 3.16)"),
        Some("membership of the docker group does not give control of it; only the user it runs as does"),
    )? {
        return Ok(f);
    }
    let members = match ctx.group_members("docker") {
        Ok(m) => m,
        Err(QueryError::NotFound(_)) => return Ok(Finding::pass("there is no docker group")),
        Err(e) => return Err(e.into()),
    };
    let Some(trusted) = ctx.option("trusted-users").map(str::to_string) else {
        let mut f = Finding::info(format!(
            "docker group members: {}",
            if members.is_empty() {
                "none".to_string()
            } else {
                members.join(", ")
            }
        ));
        for m in &members {
            f = f.detail(m.clone());
        }
        return Ok(f);
    };
    let trusted: Vec<&str> = trusted
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let doubtful: Vec<&String> = members
        .iter()
        .filter(|m| !trusted.contains(&m.as_str()))
        .collect();
    Ok(Finding::pass_or_warn_list(
        doubtful,
        "every docker group member is trusted",
        |n| format!("{n} untrusted docker group members"),
        "untrusted member of docker",
    ))
}

fn c1_2_2(ctx: &mut Ctx) -> Verdict {
    let v = ctx.version()?;
    if ctx.engine()?.is_podman() {
        // Podman's numbering is its own; Bulwark has no release data for it.
        return Ok(Finding::info(format!(
            "Podman {}: confirm it is a supported release (Bulwark has no network access to check)",
            v.version
        )));
    }
    let major: u32 = v
        .version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if major == 0 {
        return Err(Finding::undecided(format!(
            "cannot read the engine version {:?}",
            v.version
        )));
    }
    if major < 23 {
        return Ok(Finding::warn(format!(
            "Docker Engine {} is end of life (20.10 and older)",
            v.version
        )));
    }
    Ok(Finding::info(format!(
        "Docker Engine {}: confirm it is the newest release (Bulwark has no network access to check)",
        v.version
    )))
}

/// The engine's `service` or `socket` unit.
fn unit_rule(ctx: &mut Ctx, suffix: &str) -> Verdict {
    let (p, name) = match layout(ctx)? {
        Some(l) => (
            l.unit_file(ctx, suffix)?,
            format!("{}.{suffix}", l.unit_name),
        ),
        None => {
            let name = format!("docker.{suffix}");
            (locate::unit_file(ctx, &name)?, name)
        }
    };
    audit_rule_for(ctx, p, &name, true)
}

/// The engine's configuration directory.
fn config_dir_rule(ctx: &mut Ctx) -> Verdict {
    let dir = layout(ctx)?.map_or_else(|| "/etc/docker".to_string(), |l| l.config_dir);
    audit_rule_for(ctx, Some(dir.clone()), &dir, true)
}

/// containerd's state directory: the system one, or a rootless daemon's own.
fn containerd_state_rule(ctx: &mut Ctx) -> Verdict {
    let dir = match layout(ctx)? {
        Some(l) if l.engine.rootless => match l.runtime_dir {
            Some(run) => format!("{run}/docker/containerd"),
            None => {
                return Err(Finding::undecided(
                    "the rootless daemon's runtime directory is unknown",
                ))
            }
        },
        _ => "/run/containerd".to_string(),
    };
    audit_rule_for(ctx, Some(dir.clone()), &dir, false)
}

fn binary_rule(ctx: &mut Ctx, name: &str) -> Verdict {
    let p = locate::binary(ctx, name)?;
    audit_rule_for(ctx, p, name, true)
}

const AUD: &str = "Ensure auditing is configured for Docker files and directories -";

bulwark_sdk::plugin! {
    check("1.1.1", "Ensure a separate partition for containers has been created", c1_1_1)
        .automated().scored()
        .remediation("Put Docker's data root (/var/lib/docker) on its own partition or volume."),
    check("1.1.2", "Ensure only trusted users are allowed to control Docker daemon", c1_1_2)
        .automated().scored()
        .remediation("Remove untrusted users from the docker group (pass the trusted ones with -u)."),
    audited("1.1.3", "Ensure auditing is configured for the Docker daemon", |ctx| {
        let p = daemon_binary(ctx)?;
        audit_rule_for(ctx, p, "dockerd", false)
    }),
    audited("1.1.4", &format!("{AUD} /run/containerd"), |ctx| skip_or(ctx, Some(NO_CONTAINERD), None, containerd_state_rule)),
    audited("1.1.5", &format!("{AUD} /var/lib/docker"), |ctx| {
        let root = ctx.info().map(|i| i.docker_root_dir.clone()).unwrap_or_else(|_| "/var/lib/docker".into());
        audit_rule_for(ctx, Some(root), "the data root", true)
    }),
    audited("1.1.6", &format!("{AUD} /etc/docker"), config_dir_rule),
    audited("1.1.7", &format!("{AUD} docker.service"), |ctx| unit_rule(ctx, "service")),
    audited("1.1.8", &format!("{AUD} containerd.sock"), |ctx| skip_or(ctx, Some(NO_CONTAINERD), None, |ctx| {
        let p = locate::containerd_socket(ctx)?.ok();
        audit_rule_for(ctx, p, "containerd.sock", true)
    })),
    audited("1.1.9", &format!("{AUD} docker.socket"), |ctx| unit_rule(ctx, "socket")),
    audited("1.1.10", &format!("{AUD} /etc/default/docker"), |ctx| skip_or(ctx, Some(NO_DEFAULTS), Some(NO_DEFAULTS), |ctx| audit_rule_for(ctx, Some("/etc/default/docker".into()), "/etc/default/docker", true))),
    audited("1.1.11", &format!("{AUD} /etc/docker/daemon.json"), |ctx| {
        let p = ctx.daemon().map(|d| d.config_file.clone()).unwrap_or_else(|_| "/etc/docker/daemon.json".into());
        audit_rule_for(ctx, Some(p), "daemon.json", true)
    }),
    audited("1.1.12", &format!("{AUD} /etc/containerd/config.toml"), |ctx| skip_or(ctx, Some(NO_CONTAINERD), Some("its containerd runs with a configuration it generates, not the system's"), |ctx| audit_rule_for(ctx, Some("/etc/containerd/config.toml".into()), "/etc/containerd/config.toml", true))),
    audited("1.1.13", &format!("{AUD} /etc/sysconfig/docker"), |ctx| skip_or(ctx, Some(NO_DEFAULTS), Some(NO_DEFAULTS), |ctx| audit_rule_for(ctx, Some("/etc/sysconfig/docker".into()), "/etc/sysconfig/docker", true))),
    audited("1.1.14", &format!("{AUD} /usr/bin/containerd"), |ctx| skip_or(ctx, Some(NO_CONTAINERD), None, |ctx| binary_rule(ctx, "containerd"))),
    audited("1.1.15", &format!("{AUD} /usr/bin/containerd-shim"), |ctx| skip_or(ctx, Some(NO_CONTAINERD), None, |ctx| binary_rule(ctx, "containerd-shim"))),
    audited("1.1.16", &format!("{AUD} /usr/bin/containerd-shim-runc-v1"), |ctx| skip_or(ctx, Some(NO_CONTAINERD), None, |ctx| binary_rule(ctx, "containerd-shim-runc-v1"))),
    audited("1.1.17", &format!("{AUD} /usr/bin/containerd-shim-runc-v2"), |ctx| skip_or(ctx, Some(NO_CONTAINERD), None, |ctx| binary_rule(ctx, "containerd-shim-runc-v2"))),
    audited("1.1.18", &format!("{AUD} /usr/bin/runc"), |ctx| binary_rule(ctx, "runc")),
    check("1.2.1", "Ensure the container host has been Hardened", |_| Ok(Finding::note("manual check: harden the host (CIS Linux benchmark or equivalent)")))
        .remediation("Follow a host hardening guide for your distribution."),
    check("1.2.2", "Ensure that the version of Docker is up to date", c1_2_2)
        .remediation("Upgrade Docker Engine to a supported release."),
}

#[cfg(test)]
mod tests {
    use super::watched_paths;

    #[test]
    fn rules_are_matched_by_exact_path() {
        assert_eq!(
            watched_paths("-w /usr/bin/dockerd -p rwxa -k docker"),
            vec!["/usr/bin/dockerd"]
        );
        assert_eq!(
            watched_paths("-a always,exit -F path=/usr/bin/runc -F perm=x"),
            vec!["/usr/bin/runc"]
        );
        assert_eq!(
            watched_paths("-w /etc/docker/ -k docker"),
            vec!["/etc/docker"]
        );
        assert!(!watched_paths("-w /usr/bin/dockerd.bak -k x")
            .contains(&"/usr/bin/dockerd".to_string()));
    }
}
