//! Docker Bench for Security's community checks (C.x): outside the CIS benchmark, run
//! only when selected (`-c community_checks` in Docker Bench; `-c C` here).

use bulwark_sdk::prelude::*;

fn check(id: &str, title: &str, run: fn(&mut Ctx) -> Verdict) -> Check {
    Check::new(id, title, run)
        .section("C", "Community contributed checks")
        .level(0)
        .tag("community")
}

fn arch(ctx: &mut Ctx, other: fn(String) -> Finding) -> Verdict {
    let a = ctx.info()?.architecture.clone();
    Ok(match a.as_str() {
        "x86_64" => Finding::pass("architecture x86_64"),
        "aarch64" => Finding::info("architecture aarch64"),
        _ => other(a),
    })
}

/// CapAdd of a selected container names `cap` (with or without the CAP_ prefix, or ALL).
fn cap_added(ctx: &mut Ctx, cap: &'static str) -> Verdict {
    Ok(ctx.each_container(move |_, c| {
        let hit = c.host_config.cap_add.iter().any(|a| {
            let a = a.trim().to_ascii_uppercase();
            let a = a.strip_prefix("CAP_").unwrap_or(&a);
            a == cap || a == "ALL"
        });
        Ok(hit.then(|| format!("CAP_{cap} added")))
    }))
}

/// The SKIP to report when the audit did not observe its containers (`ask` about the first
/// one says so), or selected none; `None` when there is an observation to judge.
fn without_observation<T>(
    ctx: &mut Ctx,
    ask: fn(&mut Ctx, &str) -> Result<T, QueryError>,
) -> Result<Option<Finding>, QueryError> {
    let containers = ctx.containers()?;
    let Some(first) = containers.first() else {
        return Ok(Some(Finding::skipped(
            "no containers selected for this audit",
        )));
    };
    let id = first.id.clone();
    match ask(ctx, &id) {
        Err(QueryError::Unavailable(_)) => Ok(Some(Finding::skipped(
            "needs an observation: run `bulwark audit --observe SECONDS`",
        ))),
        Err(e) => Err(e),
        Ok(_) => Ok(None),
    }
}

/// Capabilities a container holds (its init process's effective set) but never used while
/// `audit --observe` watched it: candidates for `--cap-drop`.
fn unused_capabilities(ctx: &mut Ctx) -> Verdict {
    if let Some(skip) = without_observation(ctx, Ctx::observed)? {
        return Ok(skip);
    }
    Ok(ctx.each_container_as(Status::Info, |ctx, c| {
        let seen = ctx.observed(&c.id)?;
        let procs = ctx.container_processes(&c.id)?;
        let Some(init) = procs
            .iter()
            .find(|p| p.pid == c.state.pid as u32)
            .or(procs.first())
        else {
            return Ok(None);
        };
        let used: Vec<&str> = seen
            .capabilities
            .iter()
            .filter(|u| u.granted > 0)
            .map(|u| u.name.as_str())
            .collect();
        let unused: Vec<&str> = init
            .cap_effective
            .names
            .iter()
            .map(String::as_str)
            .filter(|n| !used.contains(n))
            .collect();
        let calls: u64 = seen.syscalls.iter().map(|(_, n)| n).sum();
        Ok((!unused.is_empty()).then(|| {
            format!(
                "never used {} in {} s ({calls} syscalls of {} kinds observed)",
                unused.join(", "),
                seen.seconds,
                seen.syscalls.len()
            )
        }))
    }))
}

/// Unused names from which a profile allows "far more" than a container used.
const FAR_MORE: usize = 100;

/// Containers whose seccomp lets through far more than they used while `audit --observe`
/// watched them (or that run without a filter): candidates for a generated profile.
fn loose_seccomp(ctx: &mut Ctx) -> Verdict {
    if let Some(skip) = without_observation(ctx, Ctx::seccomp_fit)? {
        return Ok(skip);
    }
    Ok(ctx.each_container_as(Status::Info, |ctx, c| {
        let fit = ctx.seccomp_fit(&c.id)?;
        let generated = format!("`bulwark profile record` would allow {} names", fit.used);
        Ok(if fit.unconfined {
            Some(format!(
                "runs without a seccomp filter; it used {} syscall names ({generated})",
                fit.used
            ))
        } else if let Some(now) = fit.allowed_now {
            (fit.allowed_unused.len() >= FAR_MORE).then(|| {
                format!(
                    "{} allows {now} names, {} never used ({generated})",
                    fit.current,
                    fit.allowed_unused.len()
                )
            })
        } else {
            None
        })
    }))
}

fn c2(ctx: &mut Ctx) -> Verdict {
    let v = ctx.version()?;
    let mut parts = v
        .version
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse::<u32>().ok());
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if (major, minor) >= (17, 12) {
        return Ok(Finding::info(format!(
            "Docker {} has no legacy registry support (deprecated check)",
            v.version
        )));
    }
    let d = ctx.daemon()?;
    if d.bool("disable-legacy-registry") == Some(true) {
        Ok(Finding::pass("legacy registry operations are disabled"))
    } else {
        Ok(Finding::warn("legacy registry operations are enabled"))
    }
}

bulwark_sdk::plugin! {
    check("C.1", "This is a example check for a Automated check", |ctx| arch(ctx, |a| Finding::warn(format!("architecture {a}")))).automated().scored(),
    check("C.1.1", "This is a example check for a Manual check", |ctx| arch(ctx, |a| Finding::info(format!("architecture {a}")))),
    check("C.2", "Ensure operations on legacy registry (v1) are Disabled", c2).scored(),
    check("C.5.3.1", "Ensure that CAP_DAC_READ_SEARCH Linux kernel capability is disabled", |ctx| cap_added(ctx, "DAC_READ_SEARCH")).automated().scored(),
    check("C.5.3.2", "Ensure that CAP_SYS_MODULE Linux kernel capability is disabled", |ctx| cap_added(ctx, "SYS_MODULE")).automated().scored(),
    check("C.5.3.3", "Ensure that CAP_SYS_ADMIN Linux kernel capability is disabled", |ctx| cap_added(ctx, "SYS_ADMIN")).automated().scored(),
    check("C.5.3.4", "Ensure that CAP_SYS_PTRACE Linux kernel capability is disabled", |ctx| cap_added(ctx, "SYS_PTRACE")).automated().scored(),
    check("C.5.3.5", "Ensure that containers keep only the Linux kernel capabilities they use (observed)", unused_capabilities)
        .automated()
        .description("Compares each container's effective capabilities with the ones the kernel granted it while `bulwark audit --observe` watched it; the rest can usually be dropped.")
        .remediation("Run the container with --cap-drop ALL and --cap-add only the capabilities it used.")
        .impact("An observation shows what happened while watched, not every code path: verify before dropping."),
    check("C.5.3.6", "Ensure that containers' seccomp profiles allow little more than they use (observed)", loose_seccomp)
        .automated()
        .description("Compares the syscalls each container's current seccomp profile allows with those it made while `bulwark audit --observe` watched it.")
        .remediation("Generate a profile from what the container does with `bulwark profile record --new`, check it with `bulwark profile verify`, and run the container with --security-opt seccomp=PROFILE.")
        .impact("An observation shows what happened while watched, not every code path: verify before relying on it."),
}
