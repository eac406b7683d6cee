//! The `bulwark` command: each subcommand parses its flags ([`args`]), calls the library,
//! renders the result and returns an exit status. What several commands share (the plugin
//! runtime from flags, loading plugins) is here.

pub mod args;
mod audit;
mod author;
mod catalogue;
mod collect;
mod diff;
mod fix;
mod plugin;
mod profile;
mod serve;
mod watch;

use anyhow::{bail, Context, Result};
use args::{Cli, Command, PluginArgs};
use bulwark::audit::{load_plugins, LoadFailure, LoadPolicy};
use bulwark::evidence::{Evidence, Query};
use bulwark::report;
use bulwark::runtime::{self, GrantPolicy, Limits, Runtime};
use clap::CommandFactory;
use std::sync::Arc;
use std::time::Duration;

/// Exit status when the command could not do its job.
pub const EXIT_CANNOT_RUN: i32 = 1;

/// A command stopped by SIGINT or SIGTERM before it finished; nothing was written.
#[derive(Debug, thiserror::Error)]
#[error("interrupted by {name}: no report was written")]
pub struct Interrupted {
    pub signal: i32,
    pub name: &'static str,
}

/// The exit status for a failed command: 128 + the signal for an interruption, as shells
/// report a process killed by it; otherwise [`EXIT_CANNOT_RUN`].
pub fn exit_code_of(e: &anyhow::Error) -> i32 {
    e.downcast_ref::<Interrupted>()
        .map_or(EXIT_CANNOT_RUN, |i| 128 + i.signal)
}

/// Resolves at the first SIGINT or SIGTERM. The handlers are installed by this call, not
/// when the future is first polled, so a signal that comes meanwhile is caught too.
pub fn interruption() -> std::io::Result<impl std::future::Future<Output = Interrupted>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => Interrupted { signal: 2, name: "SIGINT" },
            _ = term.recv() => Interrupted { signal: 15, name: "SIGTERM" },
        }
    })
}

/// Write `bytes` to `path` whole or not at all: into a temporary file beside it, synced,
/// then renamed over it, so an interruption or a full disk never leaves a partial report
/// that looks complete.
pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".bulwark-")
        .suffix(".partial")
        .tempfile_in(dir)
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    // Keep the mode a plain create would give (tempfile makes 0600 files).
    let _ = std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o644 & !umask()),
    );
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The process's umask (read by setting it and putting it back).
fn umask() -> u32 {
    // SAFETY: umask has no preconditions; the old mask is restored at once.
    unsafe {
        let old = libc::umask(0o022);
        libc::umask(old);
        old as u32
    }
}

/// Run a command; the exit status on success.
pub async fn dispatch(cmd: Command) -> Result<i32> {
    match cmd {
        Command::Audit(a) => audit::run(*a).await,
        Command::Collect(c) => collect::run(c).await.map(|_| 0),
        Command::Checks { plugins, benchmark } => {
            catalogue::checks(plugins, benchmark).await.map(|_| 0)
        }
        Command::Explain {
            id,
            plugins,
            benchmark,
        } => catalogue::explain(&id, plugins, benchmark).await.map(|_| 0),
        Command::Diff(d) => diff::run(d),
        Command::Fix(f) => fix::run(*f).await,
        Command::Plugin(cmd) => plugin::run(cmd).await,
        Command::Watch(w) => watch::run(w).await.map(|_| 0),
        Command::Serve(s) => serve::run(*s).await,
        Command::Profile(p) => profile::run(p).await,
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "bulwark", &mut std::io::stdout());
            Ok(0)
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command())
                .render(&mut std::io::stdout())
                .context("writing the man page")?;
            Ok(0)
        }
    }
}

/// The plugin runtime the flags ask for.
fn make_runtime(p: &PluginArgs) -> Result<Arc<Runtime>> {
    if !(p.plugin_timeout > 0.0 && p.plugin_timeout.is_finite()) {
        bail!("--plugin-timeout must be a positive number of seconds");
    }
    let limits = Limits {
        fuel: p.fuel,
        timeout: Duration::from_secs_f64(p.plugin_timeout),
        memory: p.plugin_memory.saturating_mul(1 << 20),
        max_queries: p.plugin_max_queries,
        max_output: p.plugin_max_output.saturating_mul(1 << 10),
    };
    let cache = if p.no_cache {
        None
    } else {
        runtime::default_cache_dir()
    };
    Ok(Arc::new(Runtime::new(limits, cache)?))
}

/// Seconds since the epoch.
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Load the plugins the flags name, warning about the ones that failed or were refused
/// evidence they asked for.
async fn load(
    p: &PluginArgs,
    runtime: &Arc<Runtime>,
) -> Result<(Vec<Arc<runtime::Plugin>>, Vec<LoadFailure>)> {
    let policy = LoadPolicy {
        grants: GrantPolicy::parse(&p.grants, p.grant_requested)
            .map_err(|e| anyhow::anyhow!("--grant {e}"))?,
        trust: bulwark::trust::Trust::load(&p.trusted_keys, p.allow_unsigned)?,
    };
    let (plugins, failures) = load_plugins(runtime, !p.no_builtin, &p.plugin_dirs, &policy)
        .await
        .context("loading plugins")?;
    for f in &failures {
        let hint = match f.kind {
            bulwark::audit::FailureKind::Unsigned => {
                " (sign it with `bulwark plugin sign`, or run with --allow-unsigned)"
            }
            bulwark::audit::FailureKind::UntrustedKey => " (trust its key with --trusted-key)",
            bulwark::audit::FailureKind::Other => "",
        };
        tracing::warn!("plugin {} not loaded: {}{hint}", f.name, f.reason);
    }
    for pl in plugins.iter().filter(|pl| !pl.refused.is_empty()) {
        let asked: Vec<String> = pl.refused.iter().map(|g| g.describe()).collect();
        tracing::warn!(
            "plugin {} asks for evidence not granted ({}); its queries there are denied (see --grant)",
            report::sanitize(&pl.name),
            report::sanitize(&asked.join("; "))
        );
    }
    Ok((plugins, failures))
}

/// Check the daemon can be reached before anything runs. A local socket that does not
/// answer is a warning (Docker checks will be undecided, the host's still run); an endpoint
/// that cannot even be resolved (a context that does not exist, missing TLS files) or a
/// network endpoint that refuses us (TLS failures, plain HTTP on a TLS port) is an error:
/// the user asked for that daemon and would get nothing of it. `host` is `-H`.
async fn preflight(evidence: &Evidence, quiet: bool, host: Option<String>) -> Result<()> {
    let network = evidence.is_live()
        && match bulwark::docker::Endpoint::resolve(host) {
            Err(why) => bail!("{why}"),
            Ok(e) => !e.url.starts_with("unix://"),
        };
    if let Err(e) = evidence.query(&Query::DockerVersion).await {
        if network {
            bail!("{e}");
        }
        if !quiet {
            let url = evidence.endpoint().map(|(u, _, _)| u).unwrap_or_default();
            match url.strip_prefix("unix://").and_then(socket_denied) {
                Some(why) => eprintln!(
                    "bulwark: warning: {}; the checks that need the Docker daemon will be undecided, the host's own (files, audit rules, the auditor's environment) still run",
                    report::sanitize(&why)
                ),
                None => eprintln!(
                    "bulwark: warning: {}; checks that need the Docker daemon will be undecided",
                    report::sanitize(&e.to_string())
                ),
            }
        }
    }
    Ok(())
}

/// Why this user may not open a unix socket that exists, when that is the trouble: the
/// usual case of a user who is neither root nor in the socket's group.
fn socket_denied(path: &str) -> Option<String> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let c = std::ffi::CString::new(path).ok()?;
    // SAFETY: a NUL-terminated path; access(2) only reads it.
    if unsafe { libc::access(c.as_ptr(), libc::R_OK | libc::W_OK) } == 0 {
        return None;
    }
    if std::io::Error::last_os_error().raw_os_error() != Some(libc::EACCES) {
        return None;
    }
    let m = std::fs::metadata(path).ok()?;
    let group = bulwark::evidence::live::group_name(m.gid()).unwrap_or_else(|| m.gid().to_string());
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    Some(format!(
        "permission denied on {path} (mode {:04o}, group {group}): uid {uid} is neither root nor a member of {group}",
        m.permissions().mode() & 0o7777
    ))
}
