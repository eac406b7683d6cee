//! Section 2 for Podman's API service: each recommendation judged from Podman's own
//! configuration (its merged containers.conf, its service's command line, and what its API
//! reports where that is not a hard-coded answer), or SKIP with the reason where Podman has
//! no equivalent. Podman's /info always reports `ExperimentalBuild: true`,
//! `LiveRestoreEnabled: false`, an empty `LoggingDriver` and a seccomp entry it does not
//! derive from its configuration: none of those is read here.

use super::about_daemon;
use bulwark_sdk::prelude::*;

fn skip(why: &str) -> Verdict {
    about_daemon(Finding::skipped(format!("Podman: {why}")))
}

pub fn c2_2(_: &mut Ctx) -> Verdict {
    skip("it has no inter-container communication switch; containers on one network reach each other, so isolate them with separate networks")
}

/// Podman's service logs at `warn` unless `--log-level` says otherwise.
pub fn c2_3(ctx: &mut Ctx) -> Verdict {
    let d = ctx.daemon()?;
    match d.string("log-level").as_deref() {
        Some("info") => about_daemon(Finding::pass("the service's log level is 'info'")),
        Some(other) => about_daemon(
            Finding::warn(format!("the service's log level is '{other}'"))
                .detail(format!("--log-level={other}")),
        ),
        None => about_daemon(
            Finding::warn("the service's log level is 'warn' (Podman's default)")
                .detail("run `podman --log-level=info system service`"),
        ),
    }
}

pub fn c2_4(_: &mut Ctx) -> Verdict {
    skip("it has no switch to stop managing the firewall; its network backend always does")
}

pub fn c2_8(ctx: &mut Ctx) -> Verdict {
    let d = ctx.daemon()?;
    let limits: Vec<String> = d
        .conf("containers", "default_ulimits")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if limits.is_empty() {
        return about_daemon(Finding::info(format!(
            "no default ulimit is configured (default_ulimits in {})",
            d.config_file
        )));
    }
    about_daemon(Finding::pass(format!(
        "default ulimits: {}",
        limits.join(", ")
    )))
}

/// Rootless Podman maps container root to the user; rootful Podman remaps when
/// containers.conf sets a `userns` other than the host's.
pub fn c2_9(ctx: &mut Ctx) -> Verdict {
    if ctx.engine()?.rootless {
        return about_daemon(Finding::pass(
            "Podman runs rootless: a container's root is the unprivileged user's subordinate id",
        ));
    }
    let d = ctx.daemon()?;
    match d.conf_str("containers", "userns") {
        Some(mode) if mode != "host" => about_daemon(Finding::pass(format!(
            "containers run in a user namespace by default (userns = \"{mode}\")"
        ))),
        _ => about_daemon(
            Finding::warn("user namespaces are not used by default").detail(format!(
                "set userns = \"auto\" under [containers] in {}",
                d.config_file
            )),
        ),
    }
}

pub fn c2_10(_: &mut Ctx) -> Verdict {
    skip("it has no engine-wide default cgroup parent (each container's is set when it is created)")
}

pub fn c2_11(_: &mut Ctx) -> Verdict {
    skip("it has no devicemapper base device")
}

pub fn c2_12(_: &mut Ctx) -> Verdict {
    skip("it has no authorization plugins; whoever can open its socket controls it (3.15, 3.16 judge the socket)")
}

/// journald can forward to a central store; k8s-file keeps logs beside each container.
pub fn c2_13(ctx: &mut Ctx) -> Verdict {
    let d = ctx.daemon()?;
    let driver = d
        .conf_str("containers", "log_driver")
        .unwrap_or_else(|| "k8s-file".to_string());
    if driver == "journald" {
        return about_daemon(Finding::pass(
            "containers log to journald, which can forward to a central store",
        ));
    }
    about_daemon(
        Finding::warn("logs are not sent to a central or remote store")
            .detail(format!("log_driver: {driver} ({})", d.config_file)),
    )
}

pub fn c2_14(_: &mut Ctx) -> Verdict {
    skip("it has no engine-wide no-new-privileges default; 5.26 judges each container")
}

pub fn c2_15(_: &mut Ctx) -> Verdict {
    skip("it has no daemon to restore; containers run under conmon and keep running when the API service stops")
}

pub fn c2_16(_: &mut Ctx) -> Verdict {
    skip("it has no userland-proxy switch")
}

/// The profile in containers.conf (`seccomp_profile`), not /info's hard-coded entry.
pub fn c2_17(ctx: &mut Ctx) -> Verdict {
    let d = ctx.daemon()?;
    match d.conf_str("containers", "seccomp_profile").as_deref() {
        None => about_daemon(Finding::pass("Podman's default seccomp profile is applied")),
        Some("unconfined") => about_daemon(
            Finding::info("seccomp is unconfined engine-wide").detail(format!(
                "seccomp_profile = \"unconfined\" ({})",
                d.config_file
            )),
        ),
        Some(p) => about_daemon(Finding::pass(format!(
            "a custom seccomp profile is applied: {p}"
        ))),
    }
}

pub fn c2_18(_: &mut Ctx) -> Verdict {
    skip("it has no experimental mode (its API reports ExperimentalBuild: true for every build)")
}
