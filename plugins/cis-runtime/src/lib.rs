//! CIS Docker Benchmark 1.6.0, section 5: Container runtime.
//!
//! Each check looks at the containers selected for the audit (running ones, or all with
//! `--all-containers`) through `docker inspect` documents, and at their processes as the
//! host's /proc shows them (5.7 never runs anything inside a container).

use bulwark_sdk::docker::{ContainerInspect, Published};
use bulwark_sdk::prelude::*;

const SECTION: (&str, &str) = ("5", "Container Runtime");

/// Capabilities Docker grants by default; adding one of these is not a finding.
const DEFAULT_CAPS: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "NET_RAW",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// Host directories that must not be mounted read-write into a container.
const SENSITIVE_DIRS: &[&str] = &["/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr"];

fn check(id: &str, title: &str, run: fn(&mut Ctx) -> Verdict) -> Check {
    Check::new(id, title, run)
        .section(SECTION.0, SECTION.1)
        .tag("cis-docker-1.6.0")
        .tag("container")
}

type Judge = fn(&mut Ctx, &ContainerInspect) -> Result<Option<String>, QueryError>;

/// A per-container check whose offenders WARN.
fn per_container(ctx: &mut Ctx, judge: Judge) -> Verdict {
    Ok(ctx.each_container(judge))
}

fn host_mode(mode: &str) -> bool {
    mode == "host"
}

fn c5_1(ctx: &mut Ctx) -> Verdict {
    let info = ctx.info()?;
    if info.swarm_active() {
        Ok(Finding::warn("swarm mode is active").subject(Subject::Daemon))
    } else {
        Ok(Finding::pass("swarm mode is not active").subject(Subject::Daemon))
    }
}

fn c5_2(ctx: &mut Ctx) -> Verdict {
    if ctx.info()?.security_option("apparmor").is_none() {
        return Ok(Finding::skipped(
            "AppArmor is not enabled on this host, so the check does not apply",
        ));
    }
    per_container(ctx, |_, c| {
        let p = c.app_armor_profile.as_str();
        Ok((p.is_empty() || p == "unconfined").then(|| "no AppArmor profile".to_string()))
    })
}

fn c5_3(ctx: &mut Ctx) -> Verdict {
    if ctx.info()?.security_option("selinux").is_none() {
        return Ok(Finding::skipped(
            "SELinux is not enabled on this daemon, so the check does not apply",
        ));
    }
    per_container(ctx, |_, c| {
        let labelled = c.host_config.security_opt.iter().any(|o| {
            (o.starts_with("label=") || o.starts_with("label:")) && !o.ends_with("disable")
        });
        Ok((!labelled).then(|| "no SELinux label options".to_string()))
    })
}

fn c5_4(ctx: &mut Ctx) -> Verdict {
    per_container(ctx, |_, c| {
        let extra: Vec<String> = c
            .host_config
            .cap_add
            .iter()
            .map(|cap| cap.trim().to_ascii_uppercase())
            .map(|cap| cap.strip_prefix("CAP_").map(str::to_string).unwrap_or(cap))
            .filter(|cap| !DEFAULT_CAPS.contains(&cap.as_str()))
            .collect();
        Ok((!extra.is_empty()).then(|| format!("capabilities added: {}", extra.join(", "))))
    })
}

fn c5_5(ctx: &mut Ctx) -> Verdict {
    per_container(ctx, |_, c| {
        Ok(c.host_config.privileged.then(|| "privileged".to_string()))
    })
}

fn c5_6(ctx: &mut Ctx) -> Verdict {
    per_container(ctx, |_, c| {
        let bad: Vec<String> = c
            .mounts
            .iter()
            .filter(|m| m.kind == "bind" && m.rw)
            .filter(|m| {
                let src = m.source.trim_end_matches('/');
                src.is_empty() // "/" itself
                    || SENSITIVE_DIRS
                        .iter()
                        .any(|d| src == *d || src.starts_with(&format!("{d}/")))
            })
            .map(|m| {
                format!(
                    "{} -> {} (read-write)",
                    if m.source.is_empty() { "/" } else { &m.source },
                    m.destination
                )
            })
            .collect();
        Ok((!bad.is_empty()).then(|| format!("sensitive host path mounted: {}", bad.join(", "))))
    })
}

fn c5_7(ctx: &mut Ctx) -> Verdict {
    per_container(ctx, |ctx, c| {
        let procs = ctx.container_processes(&c.id)?;
        let sshd: Vec<String> = procs
            .iter()
            .filter(|p| {
                p.comm == "sshd"
                    || p.exe
                        .as_deref()
                        .is_some_and(|e| e.rsplit('/').next() == Some("sshd"))
            })
            .map(|p| format!("pid {}", p.pid))
            .collect();
        Ok((!sshd.is_empty()).then(|| format!("sshd is running ({})", sshd.join(", "))))
    })
}

fn ports(c: &ContainerInspect, keep: fn(&Published) -> bool) -> Vec<String> {
    c.published_ports()
        .iter()
        .filter(|p| keep(p))
        .map(|p| p.to_string())
        .collect()
}

fn c5_8(ctx: &mut Ctx) -> Verdict {
    per_container(ctx, |_, c| {
        let bad = ports(c, |p| p.host_port.is_some_and(|n| n > 0 && n < 1024));
        Ok((!bad.is_empty()).then(|| format!("privileged port mapped: {}", bad.join(", "))))
    })
}

fn c5_9(ctx: &mut Ctx) -> Verdict {
    per_container(ctx, |_, c| {
        let open = ports(c, |_| true);
        Ok((!open.is_empty()).then(|| format!("published ports: {}", open.join(", "))))
    })
}

fn c5_14(ctx: &mut Ctx) -> Verdict {
    per_container(ctx, |_, c| {
        let bad = ports(c, Published::is_wildcard);
        Ok((!bad.is_empty()).then(|| format!("bound to every host interface: {}", bad.join(", "))))
    })
}

fn c5_15(ctx: &mut Ctx) -> Verdict {
    per_container(ctx, |_, c| {
        let r = &c.host_config.restart_policy;
        Ok(match r.name.as_str() {
            "always" | "unless-stopped" => Some(format!(
                "restart policy '{}' restarts without limit",
                r.name
            )),
            "on-failure" if r.maximum_retry_count == 0 => {
                Some("restart policy 'on-failure' without a retry limit".to_string())
            }
            "on-failure" if r.maximum_retry_count > 5 => Some(format!(
                "restart policy 'on-failure:{}' allows more than 5 retries",
                r.maximum_retry_count
            )),
            _ => None,
        })
    })
}

fn c5_26(ctx: &mut Ctx) -> Verdict {
    let daemon_default = match ctx.daemon() {
        Ok(d) => Some(d.bool("no-new-privileges") == Some(true)),
        Err(_) => None,
    };
    if daemon_default == Some(true) {
        return Ok(
            Finding::pass("no-new-privileges is the daemon default").subject(Subject::Daemon)
        );
    }
    let f = ctx.each_container(|_, c| {
        let set = c.host_config.security_opt.iter().any(|o| {
            matches!(
                o.as_str(),
                "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true"
            )
        });
        Ok((!set).then(|| "may acquire new privileges (no-new-privileges not set)".to_string()))
    });
    if daemon_default.is_none() && f.status == Status::Warn {
        return Err(Finding::undecided(
            "the daemon's configuration cannot be read, so a daemon-wide no-new-privileges cannot be ruled out",
        ));
    }
    Ok(f)
}

fn c5_27(ctx: &mut Ctx) -> Verdict {
    per_container(ctx, |_, c| {
        // Podman reports a Health object with an empty status for every container, so
        // only a status counts as health being checked.
        let reported = c
            .state
            .health
            .as_ref()
            .is_some_and(|h| !h.status.is_empty());
        let checked = reported || c.config.healthcheck.as_ref().is_some_and(|h| h.is_active());
        Ok((!checked).then(|| "no health check".to_string()))
    })
}

/// The network containers join when none is named: Docker's `bridge` (docker0), or
/// Podman's `podman` unless its containers.conf names another.
fn default_network(ctx: &mut Ctx) -> String {
    if !ctx.engine().is_ok_and(|e| e.is_podman()) {
        return "bridge".to_string();
    }
    ctx.daemon()
        .ok()
        .and_then(|d| d.conf_str("network", "default_network"))
        .unwrap_or_else(|| "podman".to_string())
}

/// The daemon's socket as a container would mount it (both /var/run and /run spellings).
fn socket_paths(ctx: &mut Ctx) -> Vec<String> {
    let mut paths = vec![
        "/var/run/docker.sock".to_string(),
        "/run/docker.sock".to_string(),
    ];
    if let Ok(d) = ctx.daemon() {
        if let Some(p) = d.endpoint.strip_prefix("unix://") {
            paths.push(p.to_string());
            if let Some(rest) = p.strip_prefix("/var/run/") {
                paths.push(format!("/run/{rest}"));
            }
        }
    }
    paths
}

fn c5_32(ctx: &mut Ctx) -> Verdict {
    let sockets = socket_paths(ctx);
    let f =
        ctx.each_container(|_, c| {
            let bad: Vec<String> = c
                .mounts
                .iter()
                .filter(|m| {
                    let src = m.source.trim_end_matches('/');
                    m.source.ends_with("docker.sock")
                        || sockets
                            .iter()
                            .any(|s| s == src || s.starts_with(&format!("{src}/")))
                })
                .map(|m| format!("{} -> {}", m.source, m.destination))
                .collect();
            Ok((!bad.is_empty())
                .then(|| format!("the Docker socket is reachable: {}", bad.join(", "))))
        });
    Ok(f)
}

fn note(_: &mut Ctx) -> Verdict {
    Ok(Finding::note("manual check: review your procedures"))
}

fn c5_28(_: &mut Ctx) -> Verdict {
    Ok(Finding::info(
        "manual check: make sure images are pulled fresh, not taken from a stale local cache",
    ))
}

bulwark_sdk::plugin! {
    check("5.1", "Ensure swarm mode is not Enabled, if not needed", c5_1)
        .automated().scored()
        .remediation("Run `docker swarm leave` on nodes that do not need swarm mode."),
    check("5.2", "Ensure that, if applicable, an AppArmor Profile is enabled", c5_2)
        .automated().scored()
        .remediation("Run containers with --security-opt apparmor=PROFILE (docker-default at least)."),
    check("5.3", "Ensure that, if applicable, SELinux security options are set", c5_3)
        .level(2).automated().scored()
        .remediation("Run the daemon with --selinux-enabled and containers with --security-opt label=..."),
    check("5.4", "Ensure that Linux kernel capabilities are restricted within containers", c5_4)
        .automated().scored()
        .remediation("Add only the capabilities a container needs (--cap-add), drop the rest (--cap-drop ALL)."),
    check("5.5", "Ensure that privileged containers are not used", c5_5)
        .automated().scored()
        .remediation("Do not run containers with --privileged."),
    check("5.6", "Ensure sensitive host system directories are not mounted on containers", c5_6)
        .automated().scored()
        .remediation("Do not bind-mount /, /boot, /dev, /etc, /lib, /proc, /sys or /usr (or paths under them) read-write."),
    check("5.7", "Ensure sshd is not run within containers", c5_7)
        .automated().scored()
        .remediation("Remove sshd from the image; use docker exec to reach a container."),
    check("5.8", "Ensure privileged ports are not mapped within containers", c5_8)
        .automated().scored()
        .remediation("Map container ports to host ports above 1023."),
    check("5.9", "Ensure that only needed ports are open on the container", c5_9)
        .scored()
        .remediation("Publish only the ports the service needs."),
    check("5.10", "Ensure that the host's network namespace is not shared", |ctx| per_container(ctx, |_, c| {
        Ok(host_mode(&c.host_config.network_mode).then(|| "shares the host's network namespace".to_string()))
    }))
        .automated().scored()
        .remediation("Do not run containers with --net=host."),
    check("5.11", "Ensure that the memory usage for containers is limited", |ctx| per_container(ctx, |_, c| {
        Ok((c.host_config.memory == 0).then(|| "no memory limit".to_string()))
    }))
        .automated().scored()
        .remediation("Run containers with --memory."),
    check("5.12", "Ensure that CPU priority is set appropriately on containers", |ctx| per_container(ctx, |_, c| {
        Ok((c.host_config.cpu_shares == 0 && c.host_config.nano_cpus == 0).then(|| "no CPU shares or limit".to_string()))
    }))
        .automated().scored()
        .remediation("Run containers with --cpu-shares or --cpus."),
    check("5.13", "Ensure that the container's root filesystem is mounted as read only", |ctx| per_container(ctx, |_, c| {
        Ok((!c.host_config.readonly_rootfs).then(|| "root filesystem is writable".to_string()))
    }))
        .automated().scored()
        .remediation("Run containers with --read-only and mount writable volumes where needed."),
    check("5.14", "Ensure that incoming container traffic is bound to a specific host interface", c5_14)
        .automated().scored()
        .remediation("Publish ports on a specific address: -p 10.0.0.5:80:80."),
    check("5.15", "Ensure that the 'on-failure' container restart policy is set to '5'", c5_15)
        .automated().scored()
        .remediation("Use --restart on-failure:5."),
    check("5.16", "Ensure that the host's process namespace is not shared", |ctx| per_container(ctx, |_, c| {
        Ok(host_mode(&c.host_config.pid_mode).then(|| "shares the host's process namespace".to_string()))
    }))
        .automated().scored()
        .remediation("Do not run containers with --pid=host."),
    check("5.17", "Ensure that the host's IPC namespace is not shared", |ctx| per_container(ctx, |_, c| {
        Ok(host_mode(&c.host_config.ipc_mode).then(|| "shares the host's IPC namespace".to_string()))
    }))
        .automated().scored()
        .remediation("Do not run containers with --ipc=host."),
    check("5.18", "Ensure that host devices are not directly exposed to containers", |ctx| Ok(ctx.each_container_as(Status::Info, |_, c| {
        Ok((!c.host_config.devices.is_empty()).then(|| format!("{} host devices exposed", c.host_config.devices.len())))
    })))
        .remediation("Do not pass host devices (--device) unless required."),
    check("5.19", "Ensure that the default ulimit is overwritten at runtime if needed", |ctx| Ok(ctx.each_container_as(Status::Info, |_, c| {
        Ok(c.host_config.ulimits.is_empty().then(|| "uses the default ulimits".to_string()))
    })))
        .remediation("Set --ulimit where a container needs other limits than the daemon default."),
    check("5.20", "Ensure mount propagation mode is not set to shared", |ctx| per_container(ctx, |_, c| {
        let shared: Vec<&str> = c.mounts.iter().filter(|m| m.propagation.contains("shared")).map(|m| m.destination.as_str()).collect();
        Ok((!shared.is_empty()).then(|| format!("shared mount propagation: {}", shared.join(", "))))
    }))
        .automated().scored()
        .remediation("Do not mount volumes with shared or rshared propagation."),
    check("5.21", "Ensure that the host's UTS namespace is not shared", |ctx| per_container(ctx, |_, c| {
        Ok(host_mode(&c.host_config.uts_mode).then(|| "shares the host's UTS namespace".to_string()))
    }))
        .automated().scored()
        .remediation("Do not run containers with --uts=host."),
    check("5.22", "Ensure the default seccomp profile is not Disabled", |ctx| per_container(ctx, |_, c| {
        let off = c.host_config.security_opt.iter().any(|o| o == "seccomp=unconfined" || o == "seccomp:unconfined");
        Ok(off.then(|| "seccomp is unconfined".to_string()))
    }))
        .automated().scored()
        .remediation("Do not run containers with --security-opt seccomp=unconfined."),
    check("5.23", "Ensure that docker exec commands are not used with the privileged option", note)
        .level(2).automated()
        .remediation("Do not use docker exec --privileged."),
    check("5.24", "Ensure that docker exec commands are not used with the user=root option", note)
        .level(2)
        .remediation("Do not use docker exec --user=root."),
    check("5.25", "Ensure that cgroup usage is confirmed", |ctx| per_container(ctx, |_, c| {
        let p = &c.host_config.cgroup_parent;
        Ok((!p.is_empty()).then(|| format!("custom cgroup parent: {p}")))
    }))
        .automated().scored()
        .remediation("Leave --cgroup-parent at its default unless required."),
    check("5.26", "Ensure that the container is restricted from acquiring additional privileges", c5_26)
        .automated().scored()
        .remediation("Run containers with --security-opt no-new-privileges (or set it daemon-wide)."),
    check("5.27", "Ensure that container health is checked at runtime", c5_27)
        .automated().scored()
        .remediation("Add a HEALTHCHECK to the image or run with --health-cmd."),
    check("5.28", "Ensure that Docker commands always make use of the latest version of their image", c5_28)
        .remediation("Pull images before use; do not rely on a local cache."),
    check("5.29", "Ensure that the PIDs cgroup limit is used", |ctx| per_container(ctx, |_, c| {
        let unlimited = matches!(c.host_config.pids_limit, None | Some(0) | Some(-1));
        Ok(unlimited.then(|| "no PIDs limit".to_string()))
    }))
        .automated().scored()
        .remediation("Run containers with --pids-limit."),
    check("5.30", "Ensure that Docker's default bridge 'docker0' is not used", |ctx| {
        let default = default_network(ctx);
        Ok(ctx.each_container_as(Status::Info, |_, c| {
            Ok(c.network_settings.networks.contains_key(&default).then(|| format!("attached to the default network ({default})")))
        }))
    })
        .level(2)
        .remediation("Attach containers to user-defined networks."),
    check("5.31", "Ensure that the host's user namespaces are not shared", |ctx| per_container(ctx, |_, c| {
        Ok(host_mode(&c.host_config.userns_mode).then(|| "shares the host's user namespace".to_string()))
    }))
        .automated().scored()
        .remediation("Do not run containers with --userns=host."),
    check("5.32", "Ensure that the Docker socket is not mounted inside any containers", c5_32)
        .automated().scored()
        .remediation("Do not mount the Docker socket (or a directory holding it) into containers."),
}

#[cfg(test)]
mod tests;
