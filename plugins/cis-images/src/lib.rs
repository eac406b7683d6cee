//! CIS Docker Benchmark 1.6.0, sections 4 (container images and build files) and 6
//! (Docker security operations), from image inspect and history documents.

use bulwark_sdk::docker::HistoryItem;
use bulwark_sdk::engine::Layout;
use bulwark_sdk::prelude::*;

fn s4(id: &str, title: &str, run: fn(&mut Ctx) -> Verdict) -> Check {
    Check::new(id, title, run)
        .section("4", "Container Images and Build File")
        .tag("cis-docker-1.6.0")
        .tag("image")
}

fn s6(id: &str, title: &str, run: fn(&mut Ctx) -> Verdict) -> Check {
    Check::new(id, title, run)
        .section("6", "Docker Security Operations")
        .tag("cis-docker-1.6.0")
}

fn manual(_: &mut Ctx) -> Verdict {
    Ok(Finding::note("manual check"))
}

fn c4_1(ctx: &mut Ctx) -> Verdict {
    Ok(ctx.each_container(|_, c| {
        let user = c.config.user.split(':').next().unwrap_or_default();
        Ok(matches!(user, "" | "0" | "root").then(|| "running as root".to_string()))
    }))
}

/// Podman does not read DOCKER_CONTENT_TRUST: it verifies signatures by the policy in
/// policy.json (the user's for a rootless Podman when it exists, else the system's).
fn c4_5_podman(ctx: &mut Ctx) -> Verdict {
    let mut candidates = Vec::new();
    if ctx.engine()?.rootless {
        if let Some(home) = Layout::of(ctx)?.home {
            candidates.push(format!("{home}/.config/containers/policy.json"));
        }
    }
    candidates.push("/etc/containers/policy.json".to_string());
    for path in candidates {
        let bytes = match ctx.file_read(&path) {
            Ok(b) => b,
            Err(QueryError::NotFound(_)) => continue,
            Err(e) => return Err(Finding::from_error(&path, &e)),
        };
        let policy: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| Finding::undecided(format!("{path} is not valid JSON: {e}")))?;
        let accepts_anything = |reqs: &serde_json::Value| {
            reqs.as_array().is_none_or(|a| {
                a.iter()
                    .any(|r| r["type"].as_str() == Some("insecureAcceptAnything"))
            })
        };
        let mut open: Vec<String> = Vec::new();
        if accepts_anything(&policy["default"]) {
            open.push("default".to_string());
        }
        if let Some(scopes) = policy["transports"]["docker"].as_object() {
            open.extend(
                scopes
                    .iter()
                    .filter(|(_, reqs)| accepts_anything(reqs))
                    .map(|(scope, _)| format!("docker:{scope}")),
            );
        }
        let subject = Subject::File(path.clone());
        if open.is_empty() {
            return Ok(
                Finding::pass(format!("{path} requires signatures by default")).subject(subject),
            );
        }
        let mut f = Finding::warn(format!("{path} accepts unsigned images"));
        for o in open {
            f = f.detail(format!("{o}: insecureAcceptAnything"));
        }
        return Ok(f.subject(subject));
    }
    Err(Finding::undecided(
        "no policy.json found: Podman refuses to pull without one, so none was read",
    ))
}

fn c4_5(ctx: &mut Ctx) -> Verdict {
    // DOCKER_CONTENT_TRUST is the auditor's own: it is judged even when the daemon is away.
    if ctx.engine().is_ok_and(|e| e.is_podman()) {
        return c4_5_podman(ctx);
    }
    match ctx.auditor_env("DOCKER_CONTENT_TRUST")?.as_deref() {
        Some("1") => Ok(Finding::pass("DOCKER_CONTENT_TRUST=1")),
        other => Ok(
            Finding::warn("content trust is not enabled").detail(format!(
                "DOCKER_CONTENT_TRUST is {}",
                other
                    .map(|v| format!("{v:?}"))
                    .unwrap_or_else(|| "unset".into())
            )),
        ),
    }
}

fn c4_6(ctx: &mut Ctx) -> Verdict {
    Ok(ctx.each_image(Status::Warn, |ctx, img| {
        let i = ctx.image(&img.id)?;
        let active = i.config.healthcheck.as_ref().is_some_and(|h| h.is_active());
        Ok((!active).then(|| "no HEALTHCHECK".to_string()))
    }))
}

/// Package-index updates: `apt-get update`, `apk update`, `yum makecache`, ...
fn is_update(cmd: &str) -> bool {
    let words: Vec<&str> = cmd
        .split(|c: char| c.is_whitespace() || c == ';' || c == '&' || c == '|')
        .filter(|w| !w.is_empty())
        .collect();
    words.windows(2).any(|w| {
        matches!(
            w[0],
            "apt-get" | "apt" | "apk" | "yum" | "dnf" | "zypper" | "microdnf"
        ) && matches!(w[1], "update" | "makecache" | "refresh")
    })
}

fn installs(cmd: &str) -> bool {
    cmd.contains(" install") || cmd.contains(" add ") || cmd.contains(" upgrade")
}

/// The layers an image's own Dockerfile made (the oldest one is the base image's).
fn own_layers(h: &[HistoryItem]) -> &[HistoryItem] {
    &h[..h.len().saturating_sub(1)]
}

fn c4_7(ctx: &mut Ctx) -> Verdict {
    Ok(ctx.each_image(Status::Info, |ctx, img| {
        let h = ctx.image_history(&img.id)?;
        let alone: Vec<&str> = h
            .iter()
            .map(|l| l.created_by.as_str())
            .filter(|c| is_update(c) && !installs(c))
            .collect();
        Ok((!alone.is_empty()).then(|| {
            format!(
                "update without install in the same layer: {}",
                alone[0].chars().take(80).collect::<String>()
            )
        }))
    }))
}

fn c4_9(ctx: &mut Ctx) -> Verdict {
    Ok(ctx.each_image(Status::Info, |ctx, img| {
        let h = ctx.image_history(&img.id)?;
        let adds = own_layers(&h)
            .iter()
            .filter(|l| {
                let c = l
                    .created_by
                    .trim_start_matches("/bin/sh -c ")
                    .trim_start_matches("#(nop) ")
                    .trim_start();
                c.starts_with("ADD ")
            })
            .count();
        Ok((adds > 0).then(|| format!("{adds} ADD instructions")))
    }))
}

fn c6_1(ctx: &mut Ctx) -> Verdict {
    let images = ctx.images()?;
    let all = ctx.containers()?;
    // Images in use by any container, running or not (the audit's selection aside).
    let mut used: Vec<String> = Vec::new();
    for c in all.iter() {
        if let Ok(i) = ctx.inspect(&c.id) {
            if !used.contains(&i.image) {
                used.push(i.image.clone());
            }
        }
    }
    let in_use = images.iter().filter(|i| used.contains(&i.id)).count();
    Ok(Finding::info(format!(
        "{} images, {in_use} in use by the selected containers",
        images.len()
    )))
}

fn c6_2(ctx: &mut Ctx) -> Verdict {
    let selected = ctx.containers()?;
    let running = selected.iter().filter(|c| c.state == "running").count();
    Ok(Finding::info(format!(
        "{} containers selected, {running} running",
        selected.len()
    )))
}

bulwark_sdk::plugin! {
    s4("4.1", "Ensure that a user for the container has been created", c4_1)
        .automated().scored()
        .remediation("Create a user in the Dockerfile and switch to it with USER."),
    s4("4.2", "Ensure that containers use only trusted base images", manual)
        .remediation("Use images from trusted registries, verified and scanned."),
    s4("4.3", "Ensure that unnecessary packages are not installed in the container", manual)
        .remediation("Keep images minimal."),
    s4("4.4", "Ensure images are scanned and rebuilt to include security patches", manual)
        .remediation("Scan images regularly and rebuild them with patches."),
    s4("4.5", "Ensure Content trust for Docker is Enabled", c4_5)
        .automated().scored().level(2)
        .remediation("export DOCKER_CONTENT_TRUST=1"),
    s4("4.6", "Ensure that HEALTHCHECK instructions have been added to container images", c4_6)
        .automated().scored()
        .remediation("Add a HEALTHCHECK instruction to the Dockerfile."),
    s4("4.7", "Ensure update instructions are not used alone in the Dockerfile", c4_7)
        .remediation("Combine the package index update with the install in one RUN."),
    s4("4.8", "Ensure setuid and setgid permissions are removed", manual).level(2)
        .remediation("Remove setuid/setgid bits from binaries that do not need them."),
    s4("4.9", "Ensure that COPY is used instead of ADD in Dockerfiles", c4_9)
        .remediation("Use COPY unless ADD's extraction or URL features are needed."),
    s4("4.10", "Ensure secrets are not stored in Dockerfiles", manual)
        .remediation("Use build secrets or runtime secrets, not ENV or files in layers."),
    s4("4.11", "Ensure only verified packages are installed", manual).level(2)
        .remediation("Verify package signatures (GPG) in the build."),
    s4("4.12", "Ensure all signed artifacts are validated", manual).level(2)
        .remediation("Validate signatures of artifacts before use."),
    s6("6.1", "Ensure that image sprawl is avoided", c6_1)
        .remediation("Remove unused images (docker image prune)."),
    s6("6.2", "Ensure that container sprawl is avoided", c6_2)
        .remediation("Remove stopped containers (docker container prune)."),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_alone_is_told_from_update_and_install() {
        assert!(is_update("/bin/sh -c apt-get update"));
        assert!(!installs("/bin/sh -c apt-get update"));
        assert!(is_update(
            "/bin/sh -c apt-get update && apt-get install -y curl"
        ));
        assert!(installs(
            "/bin/sh -c apt-get update && apt-get install -y curl"
        ));
        assert!(!is_update("/bin/sh -c echo update"));
        assert!(!is_update("/bin/sh -c ./update-config.sh"));
    }
}
