//! `bulwark`: audit a Docker host with sandboxed WebAssembly checks.

use anyhow::{bail, Context, Result};
use bulwark::audit::{self, CheckFilter};
use bulwark::evidence::{live, snapshot, Evidence, Query, Selection, Source};
use bulwark::report::{self, Format};
use bulwark::runtime::{self, Limits, Runtime};
use clap::{Args, CommandFactory, Parser, Subcommand};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Exit status when the audit could not run (bad arguments, unreadable snapshot, ...).
const EXIT_CANNOT_RUN: i32 = 1;

#[derive(Parser)]
#[command(
    name = "bulwark",
    version,
    about = "Container-security auditor: CIS Docker Benchmark checks as sandboxed wasm plugins",
    after_help = "Exit status: 0 when the audit completed (and nothing reached --fail-on), 1 when it \
could not run, --exit-code (default 2) when findings reached the --fail-on threshold."
)]
struct Cli {
    /// More log output on stderr (-v info, -vv debug). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Audit this host (or a recorded snapshot) and report the findings.
    Audit(Box<AuditArgs>),
    /// Record every piece of evidence the checks use into a snapshot file.
    Collect(CollectArgs),
    /// List the checks the plugins provide, with the selected benchmark's ids.
    Checks {
        #[command(flatten)]
        plugins: PluginArgs,
        #[command(flatten)]
        benchmark: BenchmarkArg,
    },
    /// Print a check's description, rationale and remediation.
    Explain {
        /// The check id (in the selected benchmark), e.g. 5.11.
        id: String,
        #[command(flatten)]
        plugins: PluginArgs,
        #[command(flatten)]
        benchmark: BenchmarkArg,
    },
    /// Monitor what containers do in the kernel (eBPF) and alert on the rules' findings.
    Watch(WatchArgs),
    /// Inspect, sign, verify and distribute plugins.
    #[command(subcommand)]
    Plugin(PluginCmd),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to standard output.
    Man,
}

#[derive(Args)]
struct WatchArgs {
    #[command(flatten)]
    plugins: PluginArgs,
    /// Docker Engine API endpoint (default: $DOCKER_HOST, else unix:///var/run/docker.sock).
    #[arg(long, short = 'H', value_name = "URL")]
    host: Option<String>,
    /// Stop after this many seconds (default: until interrupted).
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Alert output: text lines, or JSON lines (one alert per line, then a summary line).
    #[arg(long, short = 'f', value_enum, default_value_t = WatchFormat::Text)]
    format: WatchFormat,
    /// Size of the kernel→user event ring buffer, KiB (rounded up to a power of two).
    #[arg(long, value_name = "KIB", default_value_t = 8192)]
    ring_buffer: u32,
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9464).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<std::net::SocketAddr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum WatchFormat {
    Text,
    Jsonl,
}

#[derive(Subcommand)]
enum PluginCmd {
    /// Show what a plugin file is before running it: manifest, requested scopes, imports,
    /// exports, size, digest and signature status.
    Inspect {
        file: PathBuf,
        /// Trust this public key when reporting the signature status (repeatable).
        #[arg(long = "trusted-key", value_name = "FILE")]
        trusted_keys: Vec<PathBuf>,
    },
    /// Generate an ed25519 key pair: FILE (secret, mode 0600) and FILE.pub.
    Keygen { file: PathBuf },
    /// Sign a plugin: writes PLUGIN.wasm.sig beside it.
    Sign {
        file: PathBuf,
        /// The secret key (from `bulwark plugin keygen`).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
    },
    /// Verify a plugin's signature against trusted keys; exits 1 when it does not verify.
    Verify {
        file: PathBuf,
        #[arg(long = "trusted-key", value_name = "FILE")]
        trusted_keys: Vec<PathBuf>,
    },
    /// Push a plugin and its signature to an OCI registry (REGISTRY/REPOSITORY:TAG).
    Push {
        file: PathBuf,
        reference: String,
        /// Plain HTTP to this registry (a loopback or lab registry).
        #[arg(long)]
        insecure: bool,
    },
    /// Pull a plugin and its signature from an OCI registry into a plugin directory.
    Pull {
        reference: String,
        /// Plugin directory to write NAME.wasm and NAME.wasm.sig into.
        #[arg(short = 'o', long, value_name = "DIR", default_value = ".")]
        dir: PathBuf,
        #[arg(long)]
        insecure: bool,
        /// Trust this public key when reporting the signature status (repeatable).
        #[arg(long = "trusted-key", value_name = "FILE")]
        trusted_keys: Vec<PathBuf>,
    },
}

/// The worst status that fails the run with `--fail-on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
enum FailOn {
    /// INFO, NOTE and anything worse.
    Info,
    /// UNDECIDED and anything worse.
    Undecided,
    /// WARN and plugin errors.
    Warn,
    /// Plugin errors only.
    Error,
}

fn severity(s: audit::Status) -> Option<FailOn> {
    use audit::Status::*;
    match s {
        Pass | Skipped => None,
        Info | Note => Some(FailOn::Info),
        Undecided => Some(FailOn::Undecided),
        Warn => Some(FailOn::Warn),
        Error => Some(FailOn::Error),
    }
}

/// `FORMAT=FILE` for `--out`.
#[derive(Debug, Clone)]
struct OutSpec {
    format: Format,
    path: PathBuf,
}

fn parse_out(s: &str) -> std::result::Result<OutSpec, String> {
    use clap::ValueEnum;
    let (f, path) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected FORMAT=FILE, e.g. sarif=results.sarif"))?;
    let format = Format::from_str(f, true)
        .map_err(|_| format!("{f:?} is not a format (text, json, sarif, junit, html)"))?;
    if path.is_empty() {
        return Err(format!("{s:?}: no file name"));
    }
    Ok(OutSpec {
        format,
        path: PathBuf::from(path),
    })
}

#[derive(Args, Clone)]
struct BenchmarkArg {
    /// Benchmark version whose ids, titles and flags to use: cis-1.6.0 (Docker Bench's, the
    /// default), cis-1.7.0 or cis-1.8.0.
    #[arg(long, value_name = "NAME", default_value = bulwark::profile::DEFAULT)]
    benchmark: String,
}

impl BenchmarkArg {
    fn profile(&self) -> Result<bulwark::profile::Profile> {
        Ok(bulwark::profile::Profile::named(&self.benchmark)?)
    }
}

#[derive(Args, Clone)]
struct PluginArgs {
    /// Also load every *.wasm plugin in this directory (repeatable).
    #[arg(long = "plugins", value_name = "DIR")]
    plugin_dirs: Vec<PathBuf>,
    /// Do not load the built-in plugins.
    #[arg(long)]
    no_builtin: bool,
    /// Fuel (instruction budget) per plugin run.
    #[arg(long, default_value_t = Limits::default().fuel)]
    fuel: u64,
    /// Wall-clock limit per plugin run, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = Limits::default().timeout.as_secs_f64())]
    plugin_timeout: f64,
    /// Memory limit per plugin run, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = Limits::default().memory >> 20)]
    plugin_memory: usize,
    /// Evidence queries allowed per plugin run.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_queries)]
    plugin_max_queries: u64,
    /// Bytes of findings a plugin run may return, in KiB.
    #[arg(long, value_name = "KIB", default_value_t = Limits::default().max_output >> 10)]
    plugin_max_output: usize,
    /// Do not keep compiled plugins in the on-disk cache.
    #[arg(long)]
    no_cache: bool,
    /// Let third-party plugins read evidence of SCOPE (all plugins) or NAME:SCOPE (one),
    /// as far as their manifests ask for it. Repeatable, comma-separated.
    #[arg(long = "grant", value_name = "[NAME:]SCOPE")]
    grants: Vec<String>,
    /// Grant third-party plugins every scope their manifests ask for.
    #[arg(long)]
    grant_requested: bool,
    /// Trust plugins signed by this public key (repeatable; also the *.pub files in
    /// /etc/bulwark/trusted-keys and $XDG_CONFIG_HOME/bulwark/trusted-keys).
    #[arg(long = "trusted-key", value_name = "FILE")]
    trusted_keys: Vec<PathBuf>,
    /// Load third-party plugins that carry no signature (a bad signature still refuses).
    #[arg(long)]
    allow_unsigned: bool,
}

#[derive(Args)]
struct AuditArgs {
    #[command(flatten)]
    plugins: PluginArgs,
    #[command(flatten)]
    benchmark: BenchmarkArg,
    /// Docker Engine API endpoint (default: $DOCKER_HOST, else unix:///var/run/docker.sock).
    #[arg(long, short = 'H', value_name = "URL")]
    host: Option<String>,
    /// Replay a snapshot recorded by `bulwark collect` instead of reading this host.
    #[arg(long, value_name = "FILE", conflicts_with = "host")]
    snapshot: Option<PathBuf>,
    /// Audit created and stopped containers too, not only running ones.
    #[arg(long)]
    all_containers: bool,
    /// Only containers and images whose name matches one of these patterns (regex, comma-separated).
    #[arg(short = 'i', long = "include", value_name = "PATTERNS")]
    include_names: Option<String>,
    /// Leave out containers and images whose name matches one of these patterns.
    #[arg(short = 'x', long = "exclude-names", value_name = "PATTERNS")]
    exclude_names: Option<String>,
    /// Only containers and images carrying all these labels (`key` or `key=value`, comma-separated).
    #[arg(
        short = 't',
        long = "label",
        value_delimiter = ',',
        value_name = "LABELS"
    )]
    labels: Vec<String>,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Write the report to this file instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// No colours (also off when NO_COLOR is set or output is not a terminal).
    #[arg(short = 'b', long = "no-color")]
    no_color: bool,
    /// Run only these checks (comma-separated ids; a section id selects the section).
    #[arg(short = 'c', long = "check", value_delimiter = ',', value_name = "IDS")]
    include: Vec<String>,
    /// Skip these checks (comma-separated ids or sections).
    #[arg(
        short = 'e',
        long = "exclude",
        value_delimiter = ',',
        value_name = "IDS"
    )]
    exclude: Vec<String>,
    /// Also write the text report to FILE and Docker Bench's JSON log to FILE.json.
    #[arg(short = 'l', long = "log", value_name = "FILE")]
    log: Option<PathBuf>,
    /// In the JSON log, list at most this many items per check (0: all).
    #[arg(short = 'n', long = "limit", value_name = "LIMIT", default_value_t = 0)]
    limit: usize,
    /// Users trusted to control Docker (comma-separated), for 1.1.2.
    #[arg(short = 'u', long = "trusted-users", value_name = "USERS")]
    trusted_users: Option<String>,
    /// Print remediation measures for checks that did not pass.
    #[arg(short = 'p', long = "remediation")]
    remediation: bool,
    /// Watch the selected containers with the kernel probes for SECS first, so checks can
    /// use what they actually did (syscalls, capabilities).
    #[arg(long, value_name = "SECS")]
    observe: Option<f64>,
    /// Also write the report in FORMAT to FILE (repeatable), e.g. --out sarif=bulwark.sarif.
    #[arg(long = "out", value_name = "FORMAT=FILE", value_parser = parse_out)]
    outs: Vec<OutSpec>,
    /// Exit with --exit-code when an unsuppressed finding is this bad or worse.
    #[arg(long, value_enum, value_name = "LEVEL")]
    fail_on: Option<FailOn>,
    /// Exit status for --fail-on (distinct from 1, "could not run").
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(i32).range(1..=255))]
    exit_code: i32,
    /// Suppression file (default: ./.bulwarkignore when it exists).
    #[arg(long, value_name = "FILE")]
    ignore_file: Option<PathBuf>,
    /// Suppress every finding of this check or section (repeatable).
    #[arg(long = "ignore", value_name = "ID")]
    ignore: Vec<String>,
    /// No progress bar and no warnings on stderr.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Args)]
struct CollectArgs {
    #[command(flatten)]
    plugins: PluginArgs,
    /// Docker Engine API endpoint (default: $DOCKER_HOST, else unix:///var/run/docker.sock).
    #[arg(long, short = 'H', value_name = "URL")]
    host: Option<String>,
    /// Where to write the snapshot.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: PathBuf,
}

fn main() {
    let cli = Cli::parse();
    let default = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default)),
        )
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bulwark: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    match rt.block_on(dispatch(cli.command)) {
        Ok(0) => {}
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("bulwark: error: {e:#}");
            std::process::exit(EXIT_CANNOT_RUN);
        }
    }
}

/// Run a command; the exit status on success.
async fn dispatch(cmd: Command) -> Result<i32> {
    match cmd {
        Command::Audit(a) => audit_cmd(*a).await,
        Command::Collect(c) => collect_cmd(c).await.map(|_| 0),
        Command::Checks { plugins, benchmark } => checks_cmd(plugins, benchmark).await.map(|_| 0),
        Command::Explain {
            id,
            plugins,
            benchmark,
        } => explain_cmd(&id, plugins, benchmark).await.map(|_| 0),
        Command::Plugin(cmd) => plugin_cmd(cmd).await.map(|_| 0),
        Command::Watch(w) => watch_cmd(w).await.map(|_| 0),
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

/// Docker Bench's comma-separated name patterns as one regex.
fn name_patterns(raw: Option<&str>, flag: &str) -> Result<Option<regex::Regex>> {
    let Some(raw) = raw else { return Ok(None) };
    let parts: Vec<&str> = raw
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() {
        return Ok(None);
    }
    let re = regex::Regex::new(
        &parts
            .iter()
            .map(|p| format!("(?:{p})"))
            .collect::<Vec<_>>()
            .join("|"),
    )
    .with_context(|| format!("{flag}: not a valid pattern list"))?;
    Ok(Some(re))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn load(
    p: &PluginArgs,
    runtime: &Arc<Runtime>,
) -> Result<(Vec<Arc<runtime::Plugin>>, Vec<audit::LoadFailure>)> {
    let policy = audit::LoadPolicy {
        grants: runtime::GrantPolicy::parse(&p.grants, p.grant_requested)
            .map_err(anyhow::Error::msg)?,
        trust: bulwark::trust::Trust::load(&p.trusted_keys, p.allow_unsigned)?,
    };
    let (plugins, failures) = audit::load_plugins(runtime, !p.no_builtin, &p.plugin_dirs, &policy)
        .await
        .context("loading plugins")?;
    for f in &failures {
        tracing::warn!("plugin {} not loaded: {}", f.name, f.reason);
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

/// Warn once, up front, when the daemon cannot be reached: Docker checks will be undecided.
async fn preflight(evidence: &Evidence, quiet: bool) {
    if let Err(e) = evidence.query(&Query::DockerVersion).await {
        if quiet {
            return;
        }
        eprintln!("bulwark: warning: {e}; checks that need the Docker daemon will be undecided");
    }
}

/// `-t` items: `key` or `key=value`; an empty key selects nothing useful, so it is refused.
fn label_filters(raw: &[String]) -> Result<Vec<String>> {
    raw.iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| {
            if s.starts_with('=') {
                bail!("-t: {:?} has no label key", report::sanitize(s));
            }
            Ok(s.to_string())
        })
        .collect()
}

async fn audit_cmd(a: AuditArgs) -> Result<i32> {
    let runtime = make_runtime(&a.plugins)?;
    let selection = Selection {
        all_containers: a.all_containers,
        include: name_patterns(a.include_names.as_deref(), "-i")?,
        exclude: name_patterns(a.exclude_names.as_deref(), "-x")?,
        labels: label_filters(&a.labels)?,
    };
    let evidence = match &a.snapshot {
        Some(path) => {
            let snap = snapshot::load(path)?;
            Evidence::new(Source::Snapshot(snap.answers), selection, snap.audit_start)
        }
        None => Evidence::new(
            Source::Live(Box::new(live::Collector::new(a.host.clone()))),
            selection,
            now(),
        ),
    };
    let evidence = Arc::new(evidence);
    preflight(&evidence, a.quiet).await;
    if let Some(secs) = a.observe {
        if !(secs > 0.0 && secs.is_finite()) || a.snapshot.is_some() {
            bail!("--observe needs a positive number of seconds and a live host");
        }
        let ids: Vec<String> = evidence
            .selected_containers()
            .await
            .map(|c| c.into_iter().map(|c| c.id).collect())
            .unwrap_or_default();
        if !a.quiet {
            eprintln!("bulwark: observing {} containers for {secs} s", ids.len());
        }
        let seen = bulwark::watch::observe(a.host.clone(), &ids, Duration::from_secs_f64(secs))
            .await
            .context("--observe")?;
        for (id, profile) in seen {
            evidence.seed(
                Query::ObservedProfile { id },
                Ok(bulwark::evidence::Answer::Observed(profile)),
            );
        }
    }
    let (plugins, failures) = load(&a.plugins, &runtime).await?;
    let filter = CheckFilter::parse(&a.include, &a.exclude)?;
    let profile = a.benchmark.profile()?;
    let catalogue = audit::catalogue(&plugins, Some(&profile));
    let known: Vec<bulwark::select::CheckRef> = catalogue
        .iter()
        .map(|(_, m, s)| bulwark::select::CheckRef {
            id: &s.id,
            native: &m.id,
            level: s.level,
        })
        .collect();
    if let Some(s) = filter.unmatched(&known).first() {
        bail!("no check matches {s:?} (see `bulwark checks`)");
    }
    let mut options = Vec::new();
    if let Some(u) = &a.trusted_users {
        options.push(("trusted-users".to_string(), u.clone()));
    }
    let suppressions = load_suppressions(&a)?;
    let bar = progress_bar(a.quiet);
    let tick = {
        let bar = bar.clone();
        move |done: usize, total: usize, name: &str| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            bar.set_message(report::sanitize(name));
        }
    };
    let mut report = audit::run_with_progress(
        runtime,
        evidence,
        plugins,
        failures,
        audit::RunSpec {
            filter: &filter,
            profile: Some(&profile),
            options,
        },
        &tick,
    )
    .await;
    bar.finish_and_clear();
    // -v: what each plugin cost.
    for p in &report.plugins {
        if let Some(c) = &p.cost {
            tracing::info!(
                "plugin {}: {} checks, {:.1} ms, {} fuel, {} KiB peak memory, {} queries ({} denied), grants: {}",
                report::sanitize(&p.name),
                p.checks,
                c.wall_ms,
                c.fuel_used,
                c.peak_memory >> 10,
                c.queries,
                c.denied,
                p.grants.as_deref().unwrap_or("-")
            );
        }
    }
    let today = chrono::Local::now().date_naive();
    for s in bulwark::suppress::apply(&mut report, &suppressions, today) {
        if !a.quiet {
            eprintln!(
                "bulwark: warning: suppression of {} ({}) expired on {}; it no longer applies",
                report::sanitize(&s.id),
                report::sanitize(&s.source),
                s.expires.map(|d| d.to_string()).unwrap_or_default()
            );
        }
    }

    if let Some(log) = &a.log {
        let json_path = PathBuf::from(format!("{}.json", log.display()));
        let dbs = report::dbs_json(&report, a.limit, a.remediation, now());
        let json = serde_json::to_string_pretty(&dbs).context("encoding the JSON log")?;
        std::fs::write(log, report::text(&report, false, a.remediation))
            .with_context(|| format!("writing {}", log.display()))?;
        std::fs::write(&json_path, json + "\n")
            .with_context(|| format!("writing {}", json_path.display()))?;
    }
    let to_terminal = a.output.is_none() && std::io::stdout().is_terminal();
    let colour =
        to_terminal && !a.no_color && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    for o in &a.outs {
        let body = report::render(&report, o.format, false, a.remediation)
            .with_context(|| format!("encoding the {:?} report", o.format))?;
        std::fs::write(&o.path, body).with_context(|| format!("writing {}", o.path.display()))?;
    }
    let text = report::render(&report, a.format, colour, a.remediation)
        .with_context(|| format!("encoding the {:?} report", a.format))?;
    match &a.output {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?
        }
        None => {
            let mut out = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error worth reporting.
            if let Err(e) = out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    return Err(e).context("writing the report");
                }
            }
        }
    }
    let failing = a.fail_on.map_or(0, |threshold| {
        report
            .findings
            .iter()
            .filter(|f| f.suppression.is_none())
            .filter(|f| severity(f.status).is_some_and(|s| s >= threshold))
            .count()
    });
    if failing > 0 {
        if !a.quiet {
            eprintln!(
                "bulwark: {failing} finding(s) at or above --fail-on {:?}",
                a.fail_on.unwrap_or(FailOn::Error)
            );
        }
        return Ok(a.exit_code);
    }
    Ok(0)
}

/// The operator's suppressions: `--ignore-file` (or ./.bulwarkignore) and `--ignore`.
fn load_suppressions(a: &AuditArgs) -> Result<Vec<bulwark::suppress::Suppression>> {
    let mut list = Vec::new();
    let default = PathBuf::from(".bulwarkignore");
    let file = match &a.ignore_file {
        Some(f) => Some(f.clone()),
        None => default.is_file().then_some(default),
    };
    if let Some(f) = file {
        let text =
            std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?;
        list.extend(bulwark::suppress::parse(&text, &f.display().to_string())?);
    }
    for id in &a.ignore {
        list.push(bulwark::suppress::Suppression::for_id(id)?);
    }
    Ok(list)
}

/// A progress bar on stderr, drawn only on a terminal, without --quiet, and only once the
/// audit has taken longer than a moment.
fn progress_bar(quiet: bool) -> indicatif::ProgressBar {
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::hidden());
    if quiet || !std::io::stderr().is_terminal() {
        return bar;
    }
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{spinner} plugins {pos}/{len} {wide_msg}")
    {
        bar.set_style(style);
    }
    let delayed = bar.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if !delayed.is_finished() {
            delayed.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            delayed.enable_steady_tick(Duration::from_millis(120));
        }
    });
    bar
}

async fn collect_cmd(c: CollectArgs) -> Result<()> {
    let runtime = make_runtime(&c.plugins)?;
    let start = now();
    // Record with every container selected: a replay may use either selection.
    let evidence = Arc::new(Evidence::new(
        Source::Live(Box::new(live::Collector::new(c.host.clone()))),
        Selection {
            all_containers: true,
            ..Selection::default()
        },
        start,
    ));
    preflight(&evidence, false).await;
    // The standard set, whether or not a loaded plugin asks for it today.
    for q in [
        Query::DockerInfo,
        Query::DockerVersion,
        Query::ContainerList,
        Query::ImageList,
        Query::NetworkList,
        Query::SwarmInspect,
        Query::DaemonConfig,
        Query::AuditRules,
        Query::Auditor,
    ] {
        let _ = evidence.query(&q).await;
    }
    if let Ok(containers) = evidence.selected_containers().await {
        for ctr in containers {
            let _ = evidence
                .query(&Query::ContainerInspect { id: ctr.id.clone() })
                .await;
            let _ = evidence
                .query(&Query::ContainerProcesses { id: ctr.id })
                .await;
        }
    }
    // Then everything the checks themselves ask for.
    let (plugins, failures) = load(&c.plugins, &runtime).await?;
    let report = audit::run(
        runtime,
        evidence.clone(),
        plugins,
        failures,
        // Every check, §8 and community included: a replay may select any of them.
        audit::RunSpec {
            filter: &CheckFilter {
                include: vec![bulwark::select::Selector::All],
                exclude: vec![],
            },
            // Every implementation, whichever benchmark shows it: a replay may use any.
            profile: None,
            options: Vec::new(),
        },
    )
    .await;
    let recorded = evidence.recorded();
    snapshot::save(&c.output, start, &recorded)?;
    eprintln!(
        "bulwark: recorded {} answers from {} checks into {}",
        recorded.len(),
        report.findings.len(),
        c.output.display()
    );
    Ok(())
}

async fn watch_cmd(w: WatchArgs) -> Result<()> {
    use bulwark::watch;
    if let Some(d) = w.duration {
        if !(d > 0.0 && d.is_finite()) {
            bail!("--duration must be a positive number of seconds");
        }
    }
    let opts = watch::WatchOptions {
        duration: w.duration.map(Duration::from_secs_f64),
        probe: bulwark::probes::ProbeOptions {
            ring_bytes: w.ring_buffer.saturating_mul(1024),
        },
        batch: Duration::from_millis(100),
        metrics: w
            .metrics
            .map(|_| Arc::new(bulwark::metrics::WatchMetrics::default())),
    };
    if let (Some(addr), Some(m)) = (w.metrics, &opts.metrics) {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("--metrics {addr}"))?;
        tokio::spawn(bulwark::metrics::serve(listener, m.clone()));
    }
    let watcher =
        Arc::new(watch::Watcher::new(w.host.clone(), &opts).context("cannot watch this host")?);
    let runtime = make_runtime(&w.plugins)?;
    // `load` already warns about plugins that failed to load.
    let (plugins, _) = load(&w.plugins, &runtime).await?;
    // No report comes before the summary: say now which rules will not run.
    for p in plugins
        .iter()
        .filter(|p| !p.rules.is_empty() && !p.grants.allows_scope("traces"))
    {
        eprintln!(
            "bulwark: warning: plugin {} has runtime rules but no `traces` grant; they do not run (see --grant)",
            report::sanitize(&p.name)
        );
    }
    let format = w.format;
    let mut out = std::io::stdout();
    // Ctrl-C, or SIGTERM from a service manager or kubelet: either ends the watch with
    // its summary.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing a SIGTERM handler")?;
    let stop = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    eprintln!("bulwark: watching containers (interrupt to stop)");
    let summary = watch::run(watcher, runtime, plugins, &opts, stop, |a| {
        let line = match format {
            WatchFormat::Jsonl => serde_json::to_string(&a).unwrap_or_default(),
            WatchFormat::Text => format!(
                "{} [{}] {} container={} image={} pid={} comm={}: {}",
                humantime::format_rfc3339_seconds(
                    std::time::UNIX_EPOCH + Duration::from_secs_f64(a.time)
                ),
                a.rule.severity.to_uppercase(),
                report::sanitize(&a.rule.id),
                report::sanitize(&a.container.name),
                report::sanitize(&a.container.image),
                a.process.pid,
                report::sanitize(&a.process.comm),
                report::sanitize(&a.message)
            ),
        };
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    })
    .await?;
    match format {
        WatchFormat::Jsonl => {
            println!("{}", serde_json::json!({ "summary": summary }));
        }
        WatchFormat::Text => {
            eprintln!(
                "bulwark: {} events, {} lost, {} alerts",
                summary.events, summary.lost, summary.alerts
            );
            let mut names: Vec<&String> = summary.syscalls.keys().collect();
            names.sort();
            for name in names {
                let counts = &summary.syscalls[name];
                let mut top: Vec<(&String, &u64)> = counts.iter().collect();
                top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
                let top: Vec<String> = top
                    .iter()
                    .take(5)
                    .map(|(s, n)| format!("{s} {n}"))
                    .collect();
                eprintln!(
                    "bulwark: {}: {} syscalls (most: {})",
                    report::sanitize(name),
                    counts.values().sum::<u64>(),
                    top.join(", ")
                );
            }
        }
    }
    for f in &summary.rule_failures {
        eprintln!("bulwark: warning: {}", report::sanitize(f));
    }
    Ok(())
}

async fn plugin_cmd(cmd: PluginCmd) -> Result<()> {
    use bulwark::trust;
    let read = |f: &PathBuf| std::fs::read(f).with_context(|| format!("reading {}", f.display()));
    match cmd {
        PluginCmd::Push {
            file,
            reference,
            insecure,
        } => {
            let url = bulwark::distribute::push(&file, &reference, insecure).await?;
            println!("pushed {} to {url}", file.display());
        }
        PluginCmd::Pull {
            reference,
            dir,
            insecure,
            trusted_keys,
        } => {
            let path = bulwark::distribute::pull(&reference, &dir, insecure).await?;
            let bytes = read(&path)?;
            let t = trust::Trust::load(&trusted_keys, false)?;
            let status = match t.check(&path, &bytes) {
                Ok(Some(id)) => format!("signature verified (trusted key {id})"),
                Ok(None) => "unsigned".to_string(),
                Err(e) => e.to_string(),
            };
            println!("pulled {} ({status})", path.display());
        }
        PluginCmd::Keygen { file } => {
            let id = trust::keygen(&file)?;
            println!(
                "key {id}: secret {} , public {}.pub",
                file.display(),
                file.display()
            );
        }
        PluginCmd::Sign { file, key } => {
            let bytes = read(&file)?;
            runtime::manifest::inspect(&bytes)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let sig = trust::sign(&bytes, &key)?;
            let path = trust::signature_path(&file);
            std::fs::write(&path, serde_json::to_string_pretty(&sig)? + "\n")
                .with_context(|| format!("writing {}", path.display()))?;
            println!("signed by key {}: {}", sig.key_id, path.display());
        }
        PluginCmd::Verify { file, trusted_keys } => {
            let bytes = read(&file)?;
            let t = trust::Trust::load(&trusted_keys, false)?;
            let id = t.check(&file, &bytes)?.context("no signature")?;
            println!("{}: signature by trusted key {id} verified", file.display());
        }
        PluginCmd::Inspect { file, trusted_keys } => {
            let bytes = read(&file)?;
            let seen = runtime::manifest::inspect(&bytes)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let s = report::sanitize;
            let mut out = format!(
                "file:       {}\nsize:       {} bytes\nsha256:     {}\n",
                s(&file.display().to_string()),
                seen.size,
                seen.sha256
            );
            match seen.manifest.as_deref().map(runtime::Manifest::parse) {
                Some(Ok(m)) => {
                    out.push_str(&format!(
                        "name:       {}\nversion:    {}\nauthor:     {}\nabi:        bulwark:plugin@{}{}\nchecks:     {}\nrequests:   {}\n",
                        s(&m.name),
                        s(&m.version),
                        s(&m.author),
                        s(&m.abi),
                        match m.check_abi(bulwark::abi::ABI_VERSION) {
                            Ok(()) => String::new(),
                            Err(e) => format!(" (refused: {e})"),
                        },
                        s(&m.checks.join(", ")),
                        if m.grants.is_empty() {
                            "no evidence".to_string()
                        } else {
                            s(&m.grants.iter().map(|g| g.describe()).collect::<Vec<_>>().join("; "))
                        }
                    ));
                }
                Some(Err(e)) => out.push_str(&format!("manifest:   invalid ({})\n", s(&e))),
                None => out.push_str("manifest:   none (only built-in plugins may omit it)\n"),
            }
            let imports =
                runtime::manifest::check_imports(&seen.imports, bulwark::abi::ABI_VERSION);
            out.push_str(&format!(
                "imports:    {}{}\nexports:    {}\n",
                s(&seen.imports.join(", ")),
                match imports {
                    Ok(()) => String::new(),
                    Err(e) => format!(" (refused: {})", s(&e)),
                },
                s(&seen.exports.join(", "))
            ));
            let t = trust::Trust::load(&trusted_keys, false)?;
            let status = match t.check(&file, &bytes) {
                Ok(Some(id)) => format!("verified (trusted key {id})"),
                Ok(None) => "unsigned".to_string(),
                Err(e) => s(&e.to_string()),
            };
            out.push_str(&format!("signature:  {status}\n"));
            print!("{out}");
        }
    }
    Ok(())
}

async fn explain_cmd(id: &str, p: PluginArgs, b: BenchmarkArg) -> Result<()> {
    let profile = b.profile()?;
    let runtime = make_runtime(&p)?;
    let (plugins, _) = load(&p, &runtime).await?;
    let catalogue = audit::catalogue(&plugins, Some(&profile));
    let Some((plugin, c, shown)) = catalogue.into_iter().find(|(_, _, s)| s.id == id) else {
        bail!(
            "no check {:?} in {} (see `bulwark checks --benchmark {}`)",
            report::sanitize(id),
            profile.title,
            profile.id
        );
    };
    let s = report::sanitize;
    let mut out = format!("{} - {}\n\n", s(&shown.id), s(&shown.title));
    out.push_str(&format!(
        "Benchmark:   {}\nSection:     {} {}\nProfile:     Level {}, {}{}\nPlugin:      {} (check {})\n",
        profile.title,
        s(&c.section),
        s(&c.section_title),
        shown.level,
        if shown.automated { "Automated" } else { "Manual" },
        if shown.scored { ", Scored" } else { "" },
        s(&plugin.name),
        s(&c.id)
    ));
    if !c.tags.is_empty() {
        out.push_str(&format!("Tags:        {}\n", s(&c.tags.join(", "))));
    }
    for (label, text) in [
        ("Rationale", &c.description),
        ("Remediation", &c.remediation),
        ("Impact", &c.remediation_impact),
    ] {
        if !text.is_empty() {
            out.push_str(&format!("\n{label}:\n  {}\n", s(text)));
        }
    }
    print!("{out}");
    Ok(())
}

async fn checks_cmd(p: PluginArgs, b: BenchmarkArg) -> Result<()> {
    let profile = b.profile()?;
    let runtime = make_runtime(&p)?;
    let (plugins, failures) = load(&p, &runtime).await?;
    let mut rows = audit::catalogue(&plugins, Some(&profile));
    rows.sort_by_key(|(_, _, s)| audit::id_key(&s.id));
    let mut out = String::new();
    for (plugin, _, c) in rows {
        out.push_str(&format!(
            "{:<8} L{} {:<9} {:<14} {}\n",
            report::sanitize(&c.id),
            c.level,
            if c.automated { "Automated" } else { "Manual" },
            report::sanitize(&plugin.name),
            report::sanitize(&c.title)
        ));
    }
    print!("{out}");
    if !failures.is_empty() {
        bail!("{} plugin(s) could not be loaded", failures.len());
    }
    Ok(())
}
