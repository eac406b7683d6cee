//! CIS Docker Benchmark 1.6.0, section 3: Docker daemon configuration files.
//!
//! Ownership and permission checks. Permissions are compared as octal bit masks ("644 or
//! more restrictive" means no bit outside rw-r--r--, setuid/setgid/sticky included), and
//! the files are the ones the audited daemon really uses: its daemon.json, its TLS files,
//! its sockets.

use bulwark_sdk::daemon::DaemonOptions;
use bulwark_sdk::engine::{Engine, Kind, Layout};
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
    /// The audited engine has no such file (SKIP), with the reason.
    NotUsed(String),
}

/// Where the audited engine keeps its files. Without an answer from its API the engine is
/// taken to be a root Docker, whose files are where they have always been (this is about
/// which files to judge, not a verdict).
fn layout(ctx: &mut Ctx) -> Result<Layout, Finding> {
    match ctx.engine() {
        Ok(_) => Layout::of(ctx).map_err(|e| Finding::from_error("the engine's file layout", &e)),
        Err(_) => Ok(Layout {
            engine: Engine {
                kind: Kind::Docker,
                rootless: false,
            },
            owner: bulwark_sdk::engine::Owner::root(),
            config_dir: "/etc/docker".to_string(),
            unit_dirs: locate::UNIT_DIRS.iter().map(|d| d.to_string()).collect(),
            unit_name: "docker",
            data_root: "/var/lib/docker".to_string(),
            runtime_dir: None,
            home: None,
        }),
    }
}

/// SKIP for engines that do not read `path` at all (`/etc/default/docker` is read by the
/// root daemon's init scripts only).
fn docker_root_only(ctx: &mut Ctx, path: &str) -> Result<Target, Finding> {
    let l = layout(ctx)?;
    if l.engine.is_podman() || l.engine.rootless {
        return Ok(Target::NotUsed(format!(
            "{} does not read {path} (only the root Docker daemon's init scripts do)",
            l.engine.name()
        )));
    }
    fixed(ctx, path)
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

/// The engine's systemd unit (`service` or `socket`): docker.*, podman.*, or the rootless
/// user's own unit.
fn unit(ctx: &mut Ctx, suffix: &str) -> Result<Target, Finding> {
    let l = layout(ctx)?;
    let name = format!("{}.{suffix}", l.unit_name);
    Ok(match l.unit_file(ctx, suffix)? {
        Some(p) => Target::Path(p),
        None => Target::Absent(format!(
            "no {name} unit file found (in {})",
            l.unit_dirs.join(", ")
        )),
    })
}

/// The engine's configuration directory (/etc/docker, /etc/containers, or the user's).
fn config_dir(ctx: &mut Ctx) -> Result<Target, Finding> {
    let dir = layout(ctx)?.config_dir;
    fixed(ctx, &dir)
}

fn daemon(ctx: &mut Ctx) -> Result<std::rc::Rc<DaemonOptions>, Finding> {
    ctx.daemon()
        .map_err(|e| Finding::from_error("the daemon's configuration", &e))
}

/// A TLS file of the daemon: the configured path, or dockerd's default when TLS is on.
fn tls_file(ctx: &mut Ctx, key: &str, default_name: &str) -> Result<Target, Finding> {
    let l = layout(ctx)?;
    if l.engine.is_podman() {
        return Ok(Target::NotUsed(
            "Podman's API service has no TLS of its own".to_string(),
        ));
    }
    let d = daemon(ctx)?;
    if let Some(p) = d.string(key).filter(|p| !p.is_empty()) {
        return Ok(Target::Path(p));
    }
    if d.bool("tls") == Some(true) || d.bool("tlsverify") == Some(true) {
        // dockerd's default is ~/.docker of the user it runs as.
        let home = l.home.unwrap_or_else(|| "/root".to_string());
        return Ok(Target::Path(format!("{home}/.docker/{default_name}")));
    }
    Ok(Target::Absent(format!(
        "the daemon does not use TLS ({key} not configured)"
    )))
}

/// The daemon's configuration file: judged as a file even when its contents do not parse.
fn daemon_json(ctx: &mut Ctx) -> Result<Target, Finding> {
    let (file, exists) = ctx
        .daemon_config_file()
        .map_err(|e| Finding::from_error("the daemon's configuration", &e))?;
    if exists {
        Ok(Target::Path(file))
    } else {
        Ok(Target::Absent(format!(
            "{file} (the daemon's configuration file) not found"
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
    let l = layout(ctx)?;
    if l.engine.is_podman() {
        return Ok(Target::NotUsed(
            "Podman does not use containerd (it runs containers through conmon and the OCI runtime)"
                .to_string(),
        ));
    }
    Ok(match locate::containerd_socket(ctx)? {
        Ok(p) => Target::Path(p),
        Err(tried) => Target::Absent(format!("no containerd socket at {}", tried.join(" or "))),
    })
}

fn file_subject(f: Finding, path: &str) -> Finding {
    f.subject(Subject::File(path.to_string()))
}

/// Owner must be uid 0 and the group `group` (gid 0 for root). A rootless engine's files
/// belong to the user it runs as instead: root cannot be expected to own them, and that
/// user is the only one who may change them (see DEVIATIONS.md). Podman has no `docker`
/// group: its socket's group is root's.
fn owned_by(ctx: &mut Ctx, target: Target, group: &str) -> Verdict {
    let path = match target {
        Target::Path(p) => p,
        Target::Absent(why) => return Ok(Finding::info(why)),
        Target::NotUsed(why) => return Ok(Finding::skipped(why)),
    };
    let l = layout(ctx)?;
    let Some(s) = stat(ctx, &path)? else {
        return Ok(Finding::info(format!("{path} not found")));
    };
    let group = if l.engine.is_podman() { "root" } else { group };
    let (owner_ok, wanted) = if l.owner.is_root() {
        let group_ok = if group == "root" {
            s.gid == 0
        } else {
            s.group.as_deref() == Some(group)
        };
        (s.uid == 0 && group_ok, format!("root:{group}"))
    } else {
        // Files the daemon creates inside its namespace get one of the user's subordinate
        // gids (the socket's group is its `docker` group): no host group has that id.
        (
            s.uid == l.owner.uid && (s.gid == l.owner.gid || s.group.is_none()),
            format!(
                "{}:{} (the user the rootless daemon runs as, or one of its subordinate groups)",
                l.owner.uid, l.owner.gid
            ),
        )
    };
    let shown = |name: &Option<String>, id: u32| name.clone().unwrap_or_else(|| id.to_string());
    let owner = format!("{}:{}", shown(&s.user, s.uid), shown(&s.group, s.gid));
    if owner_ok {
        Ok(file_subject(
            Finding::pass(format!("{path} is owned by {owner}")),
            &path,
        ))
    } else {
        Ok(file_subject(
            Finding::warn(format!("{path} is owned by {owner}, not {wanted}"))
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
        Target::NotUsed(why) => return Ok(Finding::skipped(why)),
    };
    let Some(s) = stat(ctx, &path)? else {
        return Ok(Finding::info(format!("{path} not found")));
    };
    // The sticky bit grants nothing on anything but a directory (Linux ignores it there);
    // rootless Docker sets it on its files in $XDG_RUNTIME_DIR so they are not cleaned away.
    let ignored = if s.kind == bulwark_sdk::FileKind::Directory {
        0
    } else {
        0o1000
    };
    let extra = s.mode & !allowed & 0o7777 & !ignored;
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

/// How deep below a certs.d directory certificates are looked for: Docker reads
/// `certs.d/HOST[:PORT]/*.crt` and nothing deeper, and a walk that followed deeper
/// directories would never end on a symlink to a parent.
const CERTS_DEPTH: usize = 2;

/// Every `*.crt` under the engine's certs.d directories (registry certificates); `None`
/// when none of those directories exists. Entries that cannot be examined (a symlink loop,
/// a dangling link) are not certificates unless named `*.crt`, whose failure is reported.
fn registry_certs(ctx: &mut Ctx, roots: &[String]) -> Result<Option<Vec<String>>, Finding> {
    let mut pending: Vec<(String, usize)> = roots.iter().map(|r| (r.clone(), 0)).collect();
    let mut found = Vec::new();
    let mut seen_root = false;
    while let Some((dir, depth)) = pending.pop() {
        let names = match ctx.dir_list(&dir) {
            Ok(n) => n,
            Err(QueryError::NotFound(_)) => continue,
            Err(_) if depth > 0 => continue,
            Err(e) => return Err(Finding::from_error(&dir, &e)),
        };
        seen_root |= depth == 0;
        for n in names {
            let p = format!("{dir}/{n}");
            let crt = n.ends_with(".crt");
            let info = match ctx.file_stat(&p) {
                Ok(i) => i,
                Err(QueryError::NotFound(_)) => continue,
                Err(e) if crt => return Err(Finding::from_error(&p, &e)),
                Err(_) => continue,
            };
            if info.kind == bulwark_sdk::FileKind::Directory {
                if depth + 1 < CERTS_DEPTH {
                    pending.push((p, depth + 1));
                }
            } else if crt {
                found.push(p);
            }
        }
    }
    found.sort();
    found.dedup();
    Ok(seen_root.then_some(found))
}

fn registry_cert_check(ctx: &mut Ctx, judge: fn(&mut Ctx, Target) -> Verdict) -> Verdict {
    let roots = layout(ctx)?.certs_dirs();
    let shown = roots.join(" or ");
    match registry_certs(ctx, &roots)? {
        None => Ok(Finding::info(format!("{shown} not found"))),
        Some(certs) if certs.is_empty() => {
            Ok(Finding::info(format!("no *.crt files under {shown}")))
        }
        Some(certs) => all_files(ctx, certs, judge),
    }
}

fn c3_7(ctx: &mut Ctx) -> Verdict {
    registry_cert_check(ctx, |ctx, t| owned_by(ctx, t, "root"))
}

fn c3_8(ctx: &mut Ctx) -> Verdict {
    registry_cert_check(ctx, |ctx, t| mode_at_most(ctx, t, 0o444))
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
    check("3.1", "Ensure that the docker.service file ownership is set to root:root", |ctx| { let t = unit(ctx, "service")?; owned_by(ctx, t, "root") })
        .remediation("chown root:root on the docker.service unit file."),
    check("3.2", "Ensure that docker.service file permissions are appropriately set", |ctx| { let t = unit(ctx, "service")?; mode_at_most(ctx, t, 0o644) })
        .remediation("chmod 644 on the docker.service unit file."),
    check("3.3", "Ensure that docker.socket file ownership is set to root:root", |ctx| { let t = unit(ctx, "socket")?; owned_by(ctx, t, "root") })
        .remediation("chown root:root on the docker.socket unit file."),
    check("3.4", "Ensure that docker.socket file permissions are set to 644 or more restrictive", |ctx| { let t = unit(ctx, "socket")?; mode_at_most(ctx, t, 0o644) })
        .remediation("chmod 644 on the docker.socket unit file."),
    check("3.5", "Ensure that the /etc/docker directory ownership is set to root:root", |ctx| { let t = config_dir(ctx)?; owned_by(ctx, t, "root") })
        .remediation("chown root:root /etc/docker"),
    check("3.6", "Ensure that /etc/docker directory permissions are set to 755 or more restrictively", |ctx| { let t = config_dir(ctx)?; mode_at_most(ctx, t, 0o755) })
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
    check("3.19", "Ensure that the /etc/default/docker file ownership is set to root:root", |ctx| { let t = docker_root_only(ctx, "/etc/default/docker")?; owned_by(ctx, t, "root") })
        .remediation("chown root:root /etc/default/docker"),
    check("3.20", "Ensure that the /etc/default/docker file permissions are set to 644 or more restrictively", |ctx| { let t = docker_root_only(ctx, "/etc/default/docker")?; mode_at_most(ctx, t, 0o644) })
        .remediation("chmod 644 /etc/default/docker"),
    check("3.21", "Ensure that the /etc/sysconfig/docker file permissions are set to 644 or more restrictively", |ctx| { let t = docker_root_only(ctx, "/etc/sysconfig/docker")?; mode_at_most(ctx, t, 0o644) })
        .remediation("chmod 644 /etc/sysconfig/docker"),
    check("3.22", "Ensure that the /etc/sysconfig/docker file ownership is set to root:root", |ctx| { let t = docker_root_only(ctx, "/etc/sysconfig/docker")?; owned_by(ctx, t, "root") })
        .remediation("chown root:root /etc/sysconfig/docker"),
    check("3.23", "Ensure that the Containerd socket file ownership is set to root:root", |ctx| { let t = containerd_socket(ctx)?; owned_by(ctx, t, "root") })
        .remediation("chown root:root on containerd's socket."),
    check("3.24", "Ensure that the Containerd socket file permissions are set to 660 or more restrictively", |ctx| { let t = containerd_socket(ctx)?; mode_at_most(ctx, t, 0o660) })
        .remediation("chmod 660 on containerd's socket."),
}
