//! CIS Docker Benchmark 1.6.0, section 3: Docker daemon configuration files.
//!
//! Ownership and permission checks. Permissions are compared as octal bit masks ("644 or
//! more restrictive" means no bit outside rw-r--r--, setuid/setgid/sticky included), and
//! the files are the ones the audited daemon really uses: its daemon.json, its TLS files,
//! its sockets.

use bulwark_sdk::daemon::DaemonOptions;
use bulwark_sdk::prelude::*;
use bulwark_sdk::{locate, FileInfo};

const SECTION: (&str, &str) = ("3", "Docker daemon configuration files");

fn check(id: &str, title: &str, run: fn(&mut Ctx) -> Verdict) -> Check {
    Check::new(id, title, run)
        .section(SECTION.0, SECTION.1)
        .automated()
        .scored()
        .tag("cis-docker-1.6.0")
        .tag("files")
}

/// Which file a check is about, or why there is none.
enum Target {
    Path(String),
    /// Not applicable here (INFO), with the reason.
    Absent(String),
}

fn stat(ctx: &mut Ctx, path: &str) -> Result<Option<FileInfo>, Finding> {
    locate::stat(ctx, path).map_err(|e| Finding::from_error(path, &e))
}

/// A file that may not exist on every host: `Absent` when it does not.
fn fixed(ctx: &mut Ctx, path: &str) -> Result<Target, Finding> {
    Ok(match stat(ctx, path)? {
        Some(_) => Target::Path(path.to_string()),
        None => Target::Absent(format!("{path} not found")),
    })
}

fn unit(ctx: &mut Ctx, name: &str) -> Result<Target, Finding> {
    Ok(match locate::unit_file(ctx, name)? {
        Some(p) => Target::Path(p),
        None => Target::Absent(format!("no {name} unit file found")),
    })
}

fn daemon(ctx: &mut Ctx) -> Result<std::rc::Rc<DaemonOptions>, Finding> {
    ctx.daemon()
        .map_err(|e| Finding::from_error("the daemon's configuration", &e))
}

/// A TLS file of the daemon: the configured path, or dockerd's default when TLS is on.
fn tls_file(ctx: &mut Ctx, key: &str, default_name: &str) -> Result<Target, Finding> {
    let d = daemon(ctx)?;
    if let Some(p) = d.string(key).filter(|p| !p.is_empty()) {
        return Ok(Target::Path(p));
    }
    if d.bool("tls") == Some(true) || d.bool("tlsverify") == Some(true) {
        return Ok(Target::Path(format!("/root/.docker/{default_name}")));
    }
    Ok(Target::Absent(format!(
        "the daemon does not use TLS ({key} not configured)"
    )))
}

fn daemon_json(ctx: &mut Ctx) -> Result<Target, Finding> {
    let d = daemon(ctx)?;
    if d.config_exists {
        Ok(Target::Path(d.config_file.clone()))
    } else {
        Ok(Target::Absent(format!(
            "{} (the daemon's configuration file) not found",
            d.config_file
        )))
    }
}

/// The daemon's unix sockets: every unix host it listens on, else the endpoint.
fn docker_sockets(ctx: &mut Ctx) -> Result<Vec<String>, Finding> {
    let d = daemon(ctx)?;
    let mut out: Vec<String> = d
        .values("hosts")
        .iter()
        .filter_map(|h| h.strip_prefix("unix://").map(str::to_string))
        .collect();
    if out.is_empty() {
        if let Some(p) = d.endpoint.strip_prefix("unix://") {
            out.push(p.to_string());
        } else if !d.is_set("hosts") {
            out.push("/var/run/docker.sock".to_string());
        }
    }
    Ok(out)
}

fn containerd_socket(ctx: &mut Ctx) -> Result<Target, Finding> {
    Ok(match locate::containerd_socket(ctx)? {
        Ok(p) => Target::Path(p),
        Err(tried) => Target::Absent(format!("no containerd socket at {}", tried.join(" or "))),
    })
}

fn file_subject(f: Finding, path: &str) -> Finding {
    f.subject(Subject::File(path.to_string()))
}

/// Owner must be uid 0 and the group `group` (gid 0 for root).
fn owned_by(ctx: &mut Ctx, target: Target, group: &str) -> Verdict {
    let path = match target {
        Target::Path(p) => p,
        Target::Absent(why) => return Ok(Finding::info(why)),
    };
    let Some(s) = stat(ctx, &path)? else {
        return Ok(Finding::info(format!("{path} not found")));
    };
    let group_ok = if group == "root" {
        s.gid == 0
    } else {
        s.group.as_deref() == Some(group)
    };
    let shown = |name: &Option<String>, id: u32| name.clone().unwrap_or_else(|| id.to_string());
    let owner = format!("{}:{}", shown(&s.user, s.uid), shown(&s.group, s.gid));
    if s.uid == 0 && group_ok {
        Ok(file_subject(
            Finding::pass(format!("{path} is owned by {owner}")),
            &path,
        ))
    } else {
        Ok(file_subject(
            Finding::warn(format!("{path} is owned by {owner}, not root:{group}"))
                .detail(format!("{path}: owner {owner}")),
            &path,
        ))
    }
}

/// No permission bit outside `allowed` (so 606 is not "644 or more restrictive").
fn mode_at_most(ctx: &mut Ctx, target: Target, allowed: u32) -> Verdict {
    let path = match target {
        Target::Path(p) => p,
        Target::Absent(why) => return Ok(Finding::info(why)),
    };
    let Some(s) = stat(ctx, &path)? else {
        return Ok(Finding::info(format!("{path} not found")));
    };
    let extra = s.mode & !allowed & 0o7777;
    if extra == 0 {
        Ok(file_subject(
            Finding::pass(format!("{path} has mode {:04o}", s.mode)),
            &path,
        ))
    } else {
        Ok(file_subject(
            Finding::warn(format!(
                "{path} has mode {:04o}, more permissive than {allowed:04o}",
                s.mode
            ))
            .detail(format!(
                "{path}: mode {:04o} (extra bits {extra:04o})",
                s.mode
            )),
            &path,
        ))
    }
}

/// The same test over several files (sockets, certificates): WARN naming each offender.
fn all_files(
    ctx: &mut Ctx,
    paths: Vec<String>,
    judge: impl Fn(&mut Ctx, Target) -> Verdict,
) -> Verdict {
    if paths.is_empty() {
        return Ok(Finding::info("no file to check"));
    }
    let mut warned = Vec::new();
    let mut f_all = Vec::new();
    for p in paths {
        let f = judge(ctx, Target::Path(p.clone())).unwrap_or_else(|f| f);
        match f.status {
            Status::Warn => warned.push(f),
            Status::Pass | Status::Info => f_all.push(f),
            _ => return Ok(f),
        }
    }
    if warned.is_empty() {
        let mut out = Finding::pass(format!("{} files checked", f_all.len()));
        for f in f_all {
            out.subjects.extend(f.subjects);
        }
        return Ok(out);
    }
    let mut out = Finding::warn(format!("{} files", warned.len()));
    for f in warned {
        out.subjects.extend(f.subjects);
        out.details.extend(f.details);
    }
    Ok(out)
}

/// Every `*.crt` under /etc/docker/certs.d (registry certificates).
fn registry_certs(ctx: &mut Ctx) -> Result<Option<Vec<String>>, Finding> {
    const ROOT: &str = "/etc/docker/certs.d";
    let mut pending = vec![ROOT.to_string()];
    let mut found = Vec::new();
    let mut seen_root = false;
    while let Some(dir) = pending.pop() {
        let names = match ctx.dir_list(&dir) {
            Ok(n) => n,
            Err(QueryError::NotFound(_)) if dir == ROOT => return Ok(None),
            Err(QueryError::NotFound(_)) => continue,
            Err(e) => return Err(Finding::from_error(&dir, &e)),
        };
        seen_root = true;
        for n in names {
            let p = format!("{dir}/{n}");
            match stat(ctx, &p)? {
                Some(s) if s.kind == bulwark_sdk::FileKind::Directory => pending.push(p),
                Some(_) if n.ends_with(".crt") => found.push(p),
                _ => {}
            }
        }
    }
    found.sort();
    Ok(seen_root.then_some(found))
}

fn c3_7(ctx: &mut Ctx) -> Verdict {
    match registry_certs(ctx)? {
        None => Ok(Finding::info("/etc/docker/certs.d not found")),
        Some(certs) if certs.is_empty() => {
            Ok(Finding::info("no *.crt files under /etc/docker/certs.d"))
        }
        Some(certs) => all_files(ctx, certs, |ctx, t| owned_by(ctx, t, "root")),
    }
}

fn c3_8(ctx: &mut Ctx) -> Verdict {
    match registry_certs(ctx)? {
        None => Ok(Finding::info("/etc/docker/certs.d not found")),
        Some(certs) if certs.is_empty() => {
            Ok(Finding::info("no *.crt files under /etc/docker/certs.d"))
        }
        Some(certs) => all_files(ctx, certs, |ctx, t| mode_at_most(ctx, t, 0o444)),
    }
}

fn c3_15(ctx: &mut Ctx) -> Verdict {
    let socks = docker_sockets(ctx)?;
    all_files(ctx, socks, |ctx, t| owned_by(ctx, t, "docker"))
}

fn c3_16(ctx: &mut Ctx) -> Verdict {
    let socks = docker_sockets(ctx)?;
    all_files(ctx, socks, |ctx, t| mode_at_most(ctx, t, 0o660))
}

bulwark_sdk::plugin! {
    check("3.1", "Ensure that the docker.service file ownership is set to root:root", |ctx| { let t = unit(ctx, "docker.service")?; owned_by(ctx, t, "root") })
        .remediation("chown root:root on the docker.service unit file."),
    check("3.2", "Ensure that docker.service file permissions are appropriately set", |ctx| { let t = unit(ctx, "docker.service")?; mode_at_most(ctx, t, 0o644) })
        .remediation("chmod 644 on the docker.service unit file."),
    check("3.3", "Ensure that docker.socket file ownership is set to root:root", |ctx| { let t = unit(ctx, "docker.socket")?; owned_by(ctx, t, "root") })
        .remediation("chown root:root on the docker.socket unit file."),
    check("3.4", "Ensure that docker.socket file permissions are set to 644 or more restrictive", |ctx| { let t = unit(ctx, "docker.socket")?; mode_at_most(ctx, t, 0o644) })
        .remediation("chmod 644 on the docker.socket unit file."),
    check("3.5", "Ensure that the /etc/docker directory ownership is set to root:root", |ctx| { let t = fixed(ctx, "/etc/docker")?; owned_by(ctx, t, "root") })
        .remediation("chown root:root /etc/docker"),
    check("3.6", "Ensure that /etc/docker directory permissions are set to 755 or more restrictively", |ctx| { let t = fixed(ctx, "/etc/docker")?; mode_at_most(ctx, t, 0o755) })
        .remediation("chmod 755 /etc/docker"),
    check("3.7", "Ensure that registry certificate file ownership is set to root:root", c3_7)
        .remediation("chown root:root /etc/docker/certs.d/<registry>/*"),
    check("3.8", "Ensure that registry certificate file permissions are set to 444 or more restrictively", c3_8)
        .remediation("chmod 444 /etc/docker/certs.d/<registry>/*"),
    check("3.9", "Ensure that TLS CA certificate file ownership is set to root:root", |ctx| { let t = tls_file(ctx, "tlscacert", "ca.pem")?; owned_by(ctx, t, "root") })
        .remediation("chown root:root on the file given by --tlscacert."),
    check("3.10", "Ensure that TLS CA certificate file permissions are set to 444 or more restrictively", |ctx| { let t = tls_file(ctx, "tlscacert", "ca.pem")?; mode_at_most(ctx, t, 0o444) })
        .remediation("chmod 444 on the file given by --tlscacert."),
    check("3.11", "Ensure that Docker server certificate file ownership is set to root:root", |ctx| { let t = tls_file(ctx, "tlscert", "cert.pem")?; owned_by(ctx, t, "root") })
        .remediation("chown root:root on the file given by --tlscert."),
    check("3.12", "Ensure that the Docker server certificate file permissions are set to 444 or more restrictively", |ctx| { let t = tls_file(ctx, "tlscert", "cert.pem")?; mode_at_most(ctx, t, 0o444) })
        .remediation("chmod 444 on the file given by --tlscert."),
    check("3.13", "Ensure that the Docker server certificate key file ownership is set to root:root", |ctx| { let t = tls_file(ctx, "tlskey", "key.pem")?; owned_by(ctx, t, "root") })
        .remediation("chown root:root on the file given by --tlskey."),
    check("3.14", "Ensure that the Docker server certificate key file permissions are set to 400", |ctx| { let t = tls_file(ctx, "tlskey", "key.pem")?; mode_at_most(ctx, t, 0o400) })
        .remediation("chmod 400 on the file given by --tlskey."),
    check("3.15", "Ensure that the Docker socket file ownership is set to root:docker", c3_15)
        .remediation("chown root:docker on the Docker socket."),
    check("3.16", "Ensure that the Docker socket file permissions are set to 660 or more restrictively", c3_16)
        .remediation("chmod 660 on the Docker socket."),
    check("3.17", "Ensure that the daemon.json file ownership is set to root:root", |ctx| { let t = daemon_json(ctx)?; owned_by(ctx, t, "root") })
        .remediation("chown root:root on the daemon.json the daemon uses."),
    check("3.18", "Ensure that daemon.json file permissions are set to 644 or more restrictive", |ctx| { let t = daemon_json(ctx)?; mode_at_most(ctx, t, 0o644) })
        .remediation("chmod 644 on the daemon.json the daemon uses."),
    check("3.19", "Ensure that the /etc/default/docker file ownership is set to root:root", |ctx| { let t = fixed(ctx, "/etc/default/docker")?; owned_by(ctx, t, "root") })
        .remediation("chown root:root /etc/default/docker"),
    check("3.20", "Ensure that the /etc/default/docker file permissions are set to 644 or more restrictively", |ctx| { let t = fixed(ctx, "/etc/default/docker")?; mode_at_most(ctx, t, 0o644) })
        .remediation("chmod 644 /etc/default/docker"),
    check("3.21", "Ensure that the /etc/sysconfig/docker file permissions are set to 644 or more restrictively", |ctx| { let t = fixed(ctx, "/etc/sysconfig/docker")?; mode_at_most(ctx, t, 0o644) })
        .remediation("chmod 644 /etc/sysconfig/docker"),
    check("3.22", "Ensure that the /etc/sysconfig/docker file ownership is set to root:root", |ctx| { let t = fixed(ctx, "/etc/sysconfig/docker")?; owned_by(ctx, t, "root") })
        .remediation("chown root:root /etc/sysconfig/docker"),
    check("3.23", "Ensure that the Containerd socket file ownership is set to root:root", |ctx| { let t = containerd_socket(ctx)?; owned_by(ctx, t, "root") })
        .remediation("chown root:root on containerd's socket."),
    check("3.24", "Ensure that the Containerd socket file permissions are set to 660 or more restrictively", |ctx| { let t = containerd_socket(ctx)?; mode_at_most(ctx, t, 0o660) })
        .remediation("chmod 660 on containerd's socket."),
}
