//! CIS Docker Benchmark 1.6.0, section 2: Docker daemon configuration.
//!
//! Verdicts come from the daemon's effective options (its real command line merged with
//! the daemon.json it actually uses) and from `docker info`/`docker version`. Where this
//! differs from Docker Bench for Security, DEVIATIONS.md says why.

use bulwark_sdk::prelude::*;

mod podman;

const SECTION: (&str, &str) = ("2", "Docker daemon configuration");

fn check(id: &str, title: &str, run: fn(&mut Ctx) -> Verdict) -> Check {
    Check::new(id, title, run)
        .section(SECTION.0, SECTION.1)
        .tag("cis-docker-1.6.0")
        .tag("daemon")
}

/// A daemon-configuration verdict also names the daemon as its subject.
fn about_daemon(f: Finding) -> Verdict {
    Ok(f.subject(Subject::Daemon))
}

/// Docker's judgment, or Podman's where the engine is Podman.
fn per_engine(
    ctx: &mut Ctx,
    docker: fn(&mut Ctx) -> Verdict,
    podman: fn(&mut Ctx) -> Verdict,
) -> Verdict {
    if ctx.engine()?.is_podman() {
        podman(ctx)
    } else {
        docker(ctx)
    }
}

fn c2_1(ctx: &mut Ctx) -> Verdict {
    let e = ctx.engine()?;
    if e.rootless {
        return about_daemon(Finding::pass(format!("{} runs rootless", e.name())));
    }
    about_daemon(Finding::note(format!(
        "{} runs as root; consider rootless mode where possible",
        e.name()
    )))
}

fn c2_2(ctx: &mut Ctx) -> Verdict {
    let d = ctx.daemon()?;
    match d.bool("icc") {
        Some(false) => about_daemon(Finding::pass(
            "inter-container communication is disabled (icc=false)",
        )),
        _ => about_daemon(
            Finding::warn("containers on the default bridge can talk to each other")
                .detail("icc is not set to false"),
        ),
    }
}

fn c2_3(ctx: &mut Ctx) -> Verdict {
    let d = ctx.daemon()?;
    // --debug / "debug": true force the debug level whatever log-level says.
    if d.bool("debug") == Some(true) {
        return about_daemon(
            Finding::warn("debug mode is on")
                .detail("debug is enabled, so the log level is 'debug'"),
        );
    }
    match d.string("log-level").as_deref() {
        None | Some("") | Some("info") => about_daemon(Finding::pass("log level is 'info'")),
        Some(other) => about_daemon(
            Finding::warn(format!("log level is '{other}'"))
                .detail(format!("log-level is '{other}'")),
        ),
    }
}

fn c2_4(ctx: &mut Ctx) -> Verdict {
    let d = ctx.daemon()?;
    match d.bool("iptables") {
        Some(false) => about_daemon(
            Finding::warn("Docker may not manage iptables").detail("iptables is set to false"),
        ),
        _ => about_daemon(Finding::pass("Docker manages iptables")),
    }
}

/// Registries the daemon treats as insecure, beyond the loopback ranges it always allows.
fn c2_5(ctx: &mut Ctx) -> Verdict {
    let d = ctx.daemon()?;
    let info = ctx.info()?;
    let mut insecure: Vec<String> = d.values("insecure-registries");
    for cidr in &info.registry_config.insecure_registry_cidrs {
        if cidr != "127.0.0.0/8" && cidr != "::1/128" && !insecure.contains(cidr) {
            insecure.push(cidr.clone());
        }
    }
    for (name, idx) in &info.registry_config.index_configs {
        if !idx.secure && !insecure.contains(name) {
            insecure.push(name.clone());
        }
    }
    about_daemon(Finding::pass_or_warn_list(
        insecure,
        "no insecure registries",
        |n| format!("{n} insecure registries"),
        "insecure registry",
    ))
}

fn c2_6(ctx: &mut Ctx) -> Verdict {
    let info = ctx.info()?;
    if info.driver == "aufs" {
        return about_daemon(
            Finding::warn("the aufs storage driver is in use").detail("storage driver: aufs"),
        );
    }
    about_daemon(Finding::pass(format!("storage driver is {}", info.driver)))
}

/// CIS 1.8.0 2.7: devicemapper is deprecated and was removed in Docker Engine 25.0.
fn devicemapper(ctx: &mut Ctx) -> Verdict {
    let info = ctx.info()?;
    if info.driver.is_empty() {
        return Err(Finding::undecided(
            "the daemon did not report its storage driver",
        ));
    }
    if info.driver == "devicemapper" {
        return about_daemon(
            Finding::warn("the devicemapper storage driver is in use")
                .detail("storage driver: devicemapper"),
        );
    }
    about_daemon(Finding::pass(format!("storage driver is {}", info.driver)))
}

fn c2_7(ctx: &mut Ctx) -> Verdict {
    let d = ctx.daemon()?;
    let tcp: Vec<String> = d
        .values("hosts")
        .into_iter()
        .filter(|h| h.starts_with("tcp://"))
        .collect();
    if tcp.is_empty() {
        return about_daemon(Finding::info("the daemon does not listen on TCP"));
    }
    let listed = tcp.join(", ");
    if d.bool("tlsverify") == Some(true) {
        about_daemon(Finding::pass(format!(
            "TCP endpoints require verified TLS clients: {listed}"
        )))
    } else if d.bool("tls") == Some(true) {
        about_daemon(
            Finding::warn("TLS without client verification").detail(format!(
                "{listed}: tls is on but tlsverify is off, so any client may connect"
            )),
        )
    } else {
        about_daemon(
            Finding::warn("TCP without TLS").detail(format!("{listed}: no TLS authentication")),
        )
    }
}

fn c2_8(ctx: &mut Ctx) -> Verdict {
    let d = ctx.daemon()?;
    if d.is_set("default-ulimits") {
        return about_daemon(Finding::pass(format!(
            "default ulimits: {}",
            d.values("default-ulimits").join(", ")
        )));
    }
    about_daemon(Finding::info("no default ulimit is configured"))
}

fn c2_9(ctx: &mut Ctx) -> Verdict {
    if ctx.engine()?.rootless {
        // Rootless Docker's containers run in the user's namespace: their root is the
        // user's subordinate id, never the host's root.
        return about_daemon(Finding::pass(
            "the daemon runs rootless: a container's root is the unprivileged user's subordinate id",
        ));
    }
    let d = ctx.daemon()?;
    let info = ctx.info()?;
    if d.is_set("userns-remap") || info.security_option("userns").is_some() {
        return about_daemon(Finding::pass("user namespace remapping is enabled"));
    }
    about_daemon(Finding::warn("user namespace remapping is not enabled"))
}

fn c2_10(ctx: &mut Ctx) -> Verdict {
    let d = ctx.daemon()?;
    match d.string("cgroup-parent") {
        Some(p) if !p.is_empty() => about_daemon(
            Finding::warn("a default cgroup parent is set: confirm it is intended")
                .detail(format!("cgroup-parent: {p}")),
        ),
        _ => about_daemon(Finding::pass("the default cgroup parent is used")),
    }
}

fn c2_11(ctx: &mut Ctx) -> Verdict {
    let d = ctx.daemon()?;
    let base: Vec<String> = d
        .values("storage-opts")
        .into_iter()
        .filter(|o| o.trim_start().starts_with("dm.basesize"))
        .collect();
    if base.is_empty() {
        return about_daemon(Finding::pass("the base device size is not changed"));
    }
    about_daemon(Finding::warn("the base device size is changed").detail(base.join(", ")))
}

fn c2_12(ctx: &mut Ctx) -> Verdict {
    let d = ctx.daemon()?;
    let info = ctx.info()?;
    let mut plugins = d.values("authorization-plugins");
    plugins.extend(info.plugins.authorization.iter().cloned());
    plugins.sort();
    plugins.dedup();
    if plugins.is_empty() {
        return about_daemon(Finding::warn("no authorization plugin is configured"));
    }
    about_daemon(Finding::pass(format!(
        "authorization plugins: {}",
        plugins.join(", ")
    )))
}

fn c2_13(ctx: &mut Ctx) -> Verdict {
    let info = ctx.info()?;
    match info.logging_driver.as_str() {
        // json-file and local keep logs on this host; none keeps no logs at all.
        d @ ("json-file" | "local" | "none" | "") => about_daemon(
            Finding::warn("logs are not sent to a central or remote store").detail(format!(
                "logging driver: {}",
                if d.is_empty() { "unknown" } else { d }
            )),
        ),
        d => about_daemon(Finding::pass(format!("logging driver: {d}"))),
    }
}

fn c2_14(ctx: &mut Ctx) -> Verdict {
    let d = ctx.daemon()?;
    let info = ctx.info()?;
    if d.bool("no-new-privileges") == Some(true)
        || info.security_option("no-new-privileges").is_some()
    {
        return about_daemon(Finding::pass("no-new-privileges is the daemon default"));
    }
    about_daemon(Finding::warn(
        "containers may acquire new privileges by default",
    ))
}

fn c2_15(ctx: &mut Ctx) -> Verdict {
    let info = ctx.info()?;
    if info.live_restore_enabled {
        return about_daemon(Finding::pass("live restore is enabled"));
    }
    if info.swarm_active() {
        return about_daemon(Finding::pass(
            "live restore is incompatible with swarm mode, which is active",
        ));
    }
    about_daemon(Finding::warn("live restore is not enabled"))
}

fn c2_16(ctx: &mut Ctx) -> Verdict {
    let d = ctx.daemon()?;
    match d.bool("userland-proxy") {
        Some(false) => about_daemon(Finding::pass("the userland proxy is disabled")),
        _ => about_daemon(Finding::warn("the userland proxy is enabled")),
    }
}

fn c2_17(ctx: &mut Ctx) -> Verdict {
    let info = ctx.info()?;
    match info
        .security_option("seccomp")
        .and_then(|o| o.get("profile").cloned())
    {
        Some(p) if p == "unconfined" => about_daemon(
            Finding::info("seccomp is unconfined daemon-wide")
                .detail("seccomp profile: unconfined"),
        ),
        Some(p) if p == "default" || p == "builtin" => {
            about_daemon(Finding::pass("the default seccomp profile is applied"))
        }
        Some(p) => about_daemon(Finding::pass(format!(
            "a custom seccomp profile is applied: {p}"
        ))),
        None => about_daemon(Finding::info("seccomp is not enabled on this daemon")),
    }
}

fn c2_18(ctx: &mut Ctx) -> Verdict {
    let v = ctx.version()?;
    if v.experimental {
        return about_daemon(Finding::warn("experimental features are enabled"));
    }
    about_daemon(Finding::pass("experimental features are disabled"))
}

bulwark_sdk::plugin! {
    check("2.1", "Run the Docker daemon as a non-root user, if possible", c2_1)
        .remediation("Follow the rootless mode instructions of the Docker documentation."),
    check("2.2", "Ensure network traffic is restricted between containers on the default bridge", |ctx| per_engine(ctx, c2_2, podman::c2_2))
        .automated().scored()
        .remediation("Set \"icc\": false in daemon.json or run dockerd with --icc=false.")
        .impact("Containers on the default bridge can only talk through published ports or links."),
    check("2.3", "Ensure the logging level is set to 'info'", |ctx| per_engine(ctx, c2_3, podman::c2_3))
        .automated().scored()
        .remediation("Set \"log-level\": \"info\" in daemon.json (or remove it), and do not run dockerd with --debug."),
    check("2.4", "Ensure Docker is allowed to make changes to iptables", |ctx| per_engine(ctx, c2_4, podman::c2_4))
        .automated().scored()
        .remediation("Do not set \"iptables\": false / --iptables=false."),
    check("2.5", "Ensure insecure registries are not used", c2_5)
        .automated().scored()
        .remediation("Remove insecure-registries from daemon.json and --insecure-registry from the daemon's command line."),
    check("2.6", "Ensure aufs storage driver is not used", c2_6)
        .automated().scored()
        .remediation("Use the overlay2 storage driver."),
    check("2.7", "Ensure TLS authentication for Docker daemon is configured", c2_7)
        .automated().scored()
        .remediation("Run dockerd with --tlsverify, --tlscacert, --tlscert and --tlskey when it listens on TCP."),
    check("2.8", "Ensure the default ulimit is configured appropriately", |ctx| per_engine(ctx, c2_8, podman::c2_8))
        .remediation("Set default-ulimits in daemon.json or --default-ulimit on the daemon."),
    check("2.9", "Enable user namespace support", |ctx| per_engine(ctx, c2_9, podman::c2_9))
        .level(2).automated().scored()
        .remediation("Set \"userns-remap\": \"default\" in daemon.json.")
        .impact("Volumes and some host-namespace options behave differently under remapping."),
    check("2.10", "Ensure the default cgroup usage has been confirmed", |ctx| per_engine(ctx, c2_10, podman::c2_10))
        .level(2).automated().scored()
        .remediation("Leave cgroup-parent at its default unless a specific cgroup is required."),
    check("2.11", "Ensure base device size is not changed until needed", |ctx| per_engine(ctx, c2_11, podman::c2_11))
        .level(2).automated().scored()
        .remediation("Remove dm.basesize from the storage options."),
    check("2.12", "Ensure that authorization for Docker client commands is enabled", |ctx| per_engine(ctx, c2_12, podman::c2_12))
        .level(2).automated().scored()
        .remediation("Install an authorization plugin and set authorization-plugins."),
    check("2.13", "Ensure centralized and remote logging is configured", |ctx| per_engine(ctx, c2_13, podman::c2_13))
        .level(2).automated().scored()
        .remediation("Use a remote logging driver (syslog, journald forwarding, fluentd, gelf, ...)."),
    check("2.14", "Ensure containers are restricted from acquiring new privileges", |ctx| per_engine(ctx, c2_14, podman::c2_14))
        .automated().scored()
        .remediation("Set \"no-new-privileges\": true in daemon.json."),
    check("2.15", "Ensure live restore is enabled", |ctx| per_engine(ctx, c2_15, podman::c2_15))
        .automated().scored()
        .remediation("Set \"live-restore\": true in daemon.json."),
    check("2.16", "Ensure Userland Proxy is Disabled", |ctx| per_engine(ctx, c2_16, podman::c2_16))
        .automated().scored()
        .remediation("Set \"userland-proxy\": false in daemon.json."),
    check("2.17", "Ensure that a daemon-wide custom seccomp profile is applied if appropriate", |ctx| per_engine(ctx, c2_17, podman::c2_17))
        .level(2)
        .remediation("Set seccomp-profile in daemon.json if the default profile does not fit."),
    check("2.18", "Ensure that experimental features are not implemented in production", |ctx| per_engine(ctx, c2_18, podman::c2_18))
        .automated().scored()
        .remediation("Do not run dockerd with --experimental in production."),
    // New in CIS 1.8.0 (its 2.7); absent from 1.6.0 and 1.7.0, so it has its own id and is
    // shown only by benchmark profiles that map it.
    Check::new("2.devicemapper", "Ensure devicemapper storage driver is not used", devicemapper)
        .section(SECTION.0, SECTION.1)
        .tag("cis-docker-1.8.0")
        .tag("daemon")
        .description("devicemapper is deprecated in favour of overlay2 and was removed in Docker Engine 25.0; its loop-lvm mode is unfit for production.")
        .remediation("Move the daemon to the overlay2 storage driver (\"storage-driver\": \"overlay2\") and migrate images and containers.")
        .impact("Changing the storage driver hides existing images and containers until they are re-created."),
}

#[cfg(test)]
mod tests {
    //! Unit tests of the pure parts; the verdicts themselves are tested against real
    //! daemons in tests/docker_daemon.rs.
    use bulwark_sdk::daemon::DaemonOptions;
    use bulwark_sdk::DaemonSettings;

    #[test]
    fn debug_flag_is_seen() {
        let d = DaemonOptions::parse(&DaemonSettings {
            pid: 1,
            argv: vec!["dockerd".into(), "-D".into()],
            config_file: "/etc/docker/daemon.json".into(),
            config_json: None,
            endpoint: String::new(),
        })
        .unwrap();
        assert_eq!(d.bool("debug"), Some(true));
    }
}
