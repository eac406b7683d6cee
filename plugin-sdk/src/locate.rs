//! Where Docker's files are on a host: shared knowledge for checks that look at them.

use crate::{Ctx, FileInfo, QueryError};

/// Where systemd units live, in the order systemd prefers them.
pub const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
];

/// Where distributions install Docker's binaries.
pub const BIN_DIRS: &[&str] = &[
    "/usr/bin",
    "/usr/sbin",
    "/usr/local/bin",
    "/usr/local/sbin",
    "/bin",
    "/sbin",
];

/// `stat`, with a missing file as `None`.
pub fn stat(ctx: &mut Ctx, path: &str) -> Result<Option<FileInfo>, QueryError> {
    match ctx.file_stat(path) {
        Ok(s) => Ok(Some(s)),
        Err(QueryError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

fn first_existing(ctx: &mut Ctx, candidates: &[String]) -> Result<Option<String>, QueryError> {
    for c in candidates {
        if stat(ctx, c)?.is_some() {
            return Ok(Some(c.clone()));
        }
    }
    Ok(None)
}

/// The systemd unit file systemd would use for `name` (e.g. "docker.service").
pub fn unit_file(ctx: &mut Ctx, name: &str) -> Result<Option<String>, QueryError> {
    let c: Vec<String> = UNIT_DIRS.iter().map(|d| format!("{d}/{name}")).collect();
    first_existing(ctx, &c)
}

/// An installed binary by name.
pub fn binary(ctx: &mut Ctx, name: &str) -> Result<Option<String>, QueryError> {
    let c: Vec<String> = BIN_DIRS.iter().map(|d| format!("{d}/{name}")).collect();
    first_existing(ctx, &c)
}

/// containerd's socket for the audited daemon: `--containerd`, else the system one, else
/// Docker's managed one under the daemon's exec root. `Err(candidates)` when none exists.
/// A rootless daemon's exec root is `$XDG_RUNTIME_DIR/docker`, and it never uses the
/// system's containerd.
pub fn containerd_socket(ctx: &mut Ctx) -> Result<Result<String, Vec<String>>, QueryError> {
    let d = ctx.daemon()?;
    let rootless_runtime = match ctx.engine() {
        Ok(e) if e.rootless => crate::engine::Layout::of(ctx)?.runtime_dir,
        _ => None,
    };
    let exec_root = d
        .string("exec-root")
        .unwrap_or_else(|| match &rootless_runtime {
            Some(run) => format!("{run}/docker"),
            None => "/var/run/docker".to_string(),
        });
    let managed = format!("{exec_root}/containerd/containerd.sock");
    let candidates = match d.string("containerd") {
        Some(p) => vec![p],
        None if rootless_runtime.is_some() => vec![managed],
        None => vec!["/run/containerd/containerd.sock".to_string(), managed],
    };
    Ok(first_existing(ctx, &candidates)?.ok_or(candidates))
}
