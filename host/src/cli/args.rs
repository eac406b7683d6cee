//! The command line: every subcommand and flag, parsed by clap. Nothing here acts.

use bulwark::findings::Severity;
use bulwark::report::Format;
use bulwark::runtime::Limits;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "bulwark",
    version,
    about = "Container-security auditor: CIS Docker Benchmark checks as sandboxed wasm plugins",
    after_help = "Exit status: 0 when the audit completed (and nothing reached --fail-on), 1 when it \
could not run, --exit-code (default 2) when findings reached the --fail-on threshold."
)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// The command line with `$BULWARK_DEFAULT_COMMAND` (set in the container image to
/// `audit`) put first when no subcommand is named, as Docker Bench's image takes its
/// arguments: nothing, or options only (`-c 5 -l log`), run that command with them; a
/// subcommand name (`serve`, `watch`) runs it. `-V`/`--version` alone keep their meaning.
pub fn with_default_command(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = args.into_iter().collect();
    let default = std::env::var_os("BULWARK_DEFAULT_COMMAND").filter(|c| !c.is_empty());
    let Some(command) = default else { return args };
    let first = args.get(1).map(|a| a.to_string_lossy().into_owned());
    // `-v serve`, `-H URL watch`: options before a subcommand the user named.
    let commands: Vec<String> = <Cli as clap::CommandFactory>::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .chain(["help".to_string()])
        .collect();
    let named = args
        .iter()
        .skip(1)
        .any(|a| commands.iter().any(|c| a.to_str() == Some(c.as_str())));
    let insert = match first.as_deref() {
        None => true,
        Some("-V" | "--version") => false,
        Some(a) => a.starts_with('-') && !named,
    };
    if insert {
        args.insert(1.min(args.len()), command);
    }
    args
}

/// How to reach a daemon beyond `-H`, as the Docker CLI takes it.
#[derive(Args, Debug, Clone, Default)]
pub struct ConnectionArgs {
    /// Use TLS and verify the daemon's certificate (also $DOCKER_TLS_VERIFY); the files
    /// default to ca.pem, cert.pem and key.pem in $DOCKER_CERT_PATH, else ~/.docker.
    #[arg(long, global = true)]
    pub tlsverify: bool,
    /// The CA that signs the daemon's certificate.
    #[arg(long, global = true, value_name = "FILE")]
    pub tlscacert: Option<PathBuf>,
    /// The client certificate.
    #[arg(long, global = true, value_name = "FILE")]
    pub tlscert: Option<PathBuf>,
    /// The client certificate's key.
    #[arg(long, global = true, value_name = "FILE")]
    pub tlskey: Option<PathBuf>,
    /// A Docker CLI context (from $DOCKER_CONFIG/contexts, else ~/.docker/contexts); also
    /// $DOCKER_CONTEXT and the config's currentContext. -H wins over it.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// How long one Engine API call may take, in seconds. After one gets no answer, the
    /// daemon counts as stalled and later calls fail at once (UNDECIDED) for a minute, so a
    /// hung daemon costs one timeout, not one per query.
    #[arg(long, global = true, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub api_timeout: u64,
    /// How many Engine API calls evidence collection keeps in flight at once (container
    /// inspects are asked in a pool of this size). 1 asks one at a time.
    #[arg(long, global = true, value_name = "N", default_value_t = bulwark::docker::API_CONCURRENCY, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=64))]
    pub api_concurrency: usize,
}

#[derive(Subcommand)]
pub enum Command {
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
    /// Compare two audit reports (Bulwark JSON, or Docker Bench's JSON log) check by check:
    /// fixed, new, still failing, changed.
    Diff(DiffArgs),
    /// Plan the remediation of what an audit finds (nothing is changed); with --apply, apply
    /// its host-side parts after a backup; --rollback restores a backup.
    Fix(Box<FixArgs>),
    /// Monitor what containers do in the kernel (eBPF) and alert on the rules' findings.
    Watch(WatchArgs),
    /// Audit continuously (on start, every --interval, and when containers start or the
    /// daemon reloads) and serve Prometheus metrics and the latest report over HTTP.
    Serve(Box<ServeArgs>),
    /// Seccomp profiles and capability sets from what containers really do, compared with
    /// what they have now, and verified by running a copy under them.
    #[command(subcommand)]
    Profile(ProfileCmd),
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
pub struct DiffArgs {
    /// The earlier report.
    pub old: PathBuf,
    /// The later report.
    pub new: PathBuf,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,
    /// Exit with --exit-code when NEW has a finding at or above LEVEL that OLD did not
    /// have (`--fail-on-new` alone: warn; `--fail-on-new=info` for another level).
    #[arg(long, value_enum, value_name = "LEVEL", num_args = 0..=1, require_equals = true, default_missing_value = "warn")]
    pub fail_on_new: Option<FailOn>,
    /// The exit status for --fail-on-new.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub exit_code: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    Text,
    Json,
    Markdown,
}

#[derive(Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub plugins: PluginArgs,
    /// Docker Engine API endpoint (default: $DOCKER_HOST, else unix:///var/run/docker.sock).
    #[arg(long, short = 'H', value_name = "URL")]
    pub host: Option<String>,
    /// Stop after this long: seconds (`90`) or with a unit (`90s`, `10m`, `1h`); default:
    /// until interrupted.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<std::time::Duration>,
    /// Which rules run: `default` (those that need nothing on the syscall path), `all`, or
    /// rule ids (`R.MOUNT`, `R.*`), comma-separated and combinable (`default,R.MOUNT`).
    /// Rules that need per-syscall tracepoints make every syscall on the host pay for them.
    #[arg(long, value_name = "SPEC", default_value = "default")]
    pub rules: bulwark::watch::RuleSpec,
    /// Also count every syscall of each container in the kernel (summary and metrics);
    /// every syscall on the host then pays for it.
    #[arg(long)]
    pub count_syscalls: bool,
    /// Turn on the kernel's BPF statistics for the watch, so that `--metrics` shows what
    /// each probe program costs (they are shown anyway when `kernel.bpf_stats_enabled` is on).
    #[arg(long)]
    pub program_stats: bool,
    /// Attach programs that return at once instead of the real ones (the benchmark's
    /// floor of the same attach points).
    #[arg(long, hide = true)]
    pub floor: bool,
    /// Alert output: text lines, or JSON lines (one alert per line, then a summary line).
    #[arg(long, short = 'f', value_enum, default_value_t = WatchFormat::Text)]
    pub format: WatchFormat,
    /// Size of the kernel→user event ring buffer, KiB (rounded up to a power of two).
    #[arg(long, value_name = "KIB", default_value_t = 8192)]
    pub ring_buffer: u32,
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9464).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
}

/// A duration: seconds (`90`, `1.5`), or a number with a unit (`90s`, `10m`, `1h`, `1h30m`).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let d = match s.trim().parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 => std::time::Duration::from_secs_f64(secs),
        Ok(_) => return Err("must be a positive number of seconds".to_string()),
        Err(_) => humantime::parse_duration(s.trim())
            .map_err(|e| format!("{e} (use seconds, or 90s, 10m, 1h)"))?,
    };
    if d.is_zero() {
        return Err("must be longer than zero".to_string());
    }
    Ok(d)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WatchFormat {
    Text,
    Jsonl,
    /// OCSF 1.8.0 Detection Findings (class 2004), one per line; the summary goes to stderr.
    Ocsf,
}

#[derive(Subcommand)]
pub enum ProfileCmd {
    /// Record what containers do (syscalls by number per ABI, capability checks) and write,
    /// per container, DIR/NAME.seccomp.json (Docker's format, usable as is with `docker run
    /// --security-opt seccomp=FILE`) and DIR/NAME.profile.json (the observation, the
    /// capability set to run it with, and the diff against what it has now).
    Record {
        /// Docker Engine API endpoint (default: $DOCKER_HOST, else unix:///var/run/docker.sock).
        #[arg(long, short = 'H', value_name = "URL")]
        host: Option<String>,
        /// How long to record: seconds (`90`) or with a unit (`90s`, `10m`).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "60")]
        duration: std::time::Duration,
        /// Where to write the files.
        #[arg(long, short = 'o', value_name = "DIR", default_value = ".")]
        output: PathBuf,
        /// Also record every container that starts during the recording, from its first
        /// syscall (its cgroup is watched from the moment it is created).
        #[arg(long)]
        new: bool,
        /// Running containers to record (names or ids).
        containers: Vec<String>,
    },
    /// Merge recorded profiles (replicas, several sessions): the union of their syscalls,
    /// with the observations' counts summed when their NAME.profile.json files sit beside.
    Merge {
        /// NAME.seccomp.json files written by `profile record`.
        #[arg(required = true, num_args = 2..)]
        profiles: Vec<PathBuf>,
        /// The merged profile (its observation goes beside it as OUT's NAME.profile.json).
        #[arg(long, short = 'o', value_name = "OUT")]
        output: PathBuf,
    },
    /// Start a copy of a container (same image, command, environment, mounts, user and
    /// network mode; a new name; the original untouched) under a profile and the recorded
    /// capability set, watch it, remove it, and say whether the profile holds.
    Verify {
        /// Docker Engine API endpoint.
        #[arg(long, short = 'H', value_name = "URL")]
        host: Option<String>,
        /// The seccomp profile (NAME.seccomp.json; the capability set is read from the
        /// NAME.profile.json beside it, when there is one).
        #[arg(long, value_name = "FILE")]
        profile: PathBuf,
        /// How long to watch the copy (it ends sooner if the copy exits).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10")]
        duration: std::time::Duration,
        /// Output format.
        #[arg(long, short = 'f', value_enum, default_value_t = DiffFormat::Text)]
        format: DiffFormat,
        /// The container to copy (name or id).
        container: String,
    },
}

#[derive(Subcommand)]
pub enum PluginCmd {
    /// Write a new plugin project that builds outside this repository: the SDK (Rust) or
    /// the WIT (Python), a manifest, one example check with its documentation and a test,
    /// a recorded snapshot, expectations, and a README.
    New {
        /// The plugin's name (its check ids start with it in capitals).
        name: String,
        #[arg(long, value_enum, default_value = "rust")]
        lang: bulwark::author::Lang,
        /// Where to write it (default: ./NAME).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// The author named in the manifest (default: git's user.name, else $USER).
        #[arg(long)]
        author: Option<String>,
    },
    /// Build a plugin project into DIR/target/bulwark/NAME.wasm (manifest and check docs
    /// embedded), load it in the sandbox, and print its size, digest, checks and scopes.
    Build {
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Print the plugin contract as Markdown: every evidence function with its scope, errors
    /// and a recorded example answer, the types, the ABI rule and the sandbox limits.
    Reference {
        /// Write it to FILE instead of standard output.
        #[arg(short = 'o', long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Run a plugin's checks in the sandbox on a recorded snapshot: findings, cost, the
    /// evidence it used or was refused; with --expect, exit 2 when a verdict differs.
    /// A project directory is built first.
    Test {
        /// A project directory, or a built NAME.wasm.
        #[arg(default_value = ".")]
        path: PathBuf,
        /// The snapshot (default: tests/snapshot.json of the project).
        #[arg(long, value_name = "FILE")]
        snapshot: Option<PathBuf>,
        /// Expected verdicts: TOML lines `"CHECK-ID" = "warn"`.
        #[arg(long, value_name = "FILE")]
        expect: Option<PathBuf>,
        /// Include stopped containers (as `audit -a`).
        #[arg(short = 'a', long)]
        all_containers: bool,
    },
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
pub enum FailOn {
    /// INFO, NOTE and anything worse.
    Info,
    /// UNDECIDED and anything worse.
    Undecided,
    /// WARN and plugin errors.
    Warn,
    /// Plugin errors only.
    Error,
}

impl From<FailOn> for Severity {
    fn from(f: FailOn) -> Severity {
        match f {
            FailOn::Info => Severity::Info,
            FailOn::Undecided => Severity::Undecided,
            FailOn::Warn => Severity::Warn,
            FailOn::Error => Severity::Error,
        }
    }
}

/// `FORMAT=FILE` for `--out`.
#[derive(Debug, Clone)]
pub struct OutSpec {
    pub format: Format,
    pub path: PathBuf,
}

pub fn parse_out(s: &str) -> std::result::Result<OutSpec, String> {
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
pub struct BenchmarkArg {
    /// Benchmark version whose ids, titles and flags to use: cis-1.6.0 (Docker Bench's, the
    /// default), cis-1.7.0 or cis-1.8.0.
    #[arg(long, value_name = "NAME", default_value = bulwark::profile::DEFAULT)]
    pub benchmark: String,
}

impl BenchmarkArg {
    pub fn profile(&self) -> anyhow::Result<bulwark::profile::Profile> {
        Ok(bulwark::profile::Profile::named(&self.benchmark)?)
    }
}

#[derive(Args, Clone)]
pub struct PluginArgs {
    /// Also load every *.wasm plugin in this directory (repeatable).
    #[arg(long = "plugins", value_name = "DIR")]
    pub plugin_dirs: Vec<PathBuf>,
    /// Do not load the built-in plugins.
    #[arg(long)]
    pub no_builtin: bool,
    /// Fuel (instruction budget) per plugin run.
    #[arg(long, default_value_t = Limits::default().fuel)]
    pub fuel: u64,
    /// Wall-clock limit per plugin run, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = Limits::default().timeout.as_secs_f64())]
    pub plugin_timeout: f64,
    /// Memory limit per plugin run, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = Limits::default().memory >> 20)]
    pub plugin_memory: usize,
    /// Evidence queries allowed per plugin run.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_queries)]
    pub plugin_max_queries: u64,
    /// Bytes of findings a plugin run may return, in KiB.
    #[arg(long, value_name = "KIB", default_value_t = Limits::default().max_output >> 10)]
    pub plugin_max_output: usize,
    /// Do not keep compiled plugins in the on-disk cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Let third-party plugins read evidence of SCOPE (all plugins) or NAME:SCOPE (one),
    /// as far as their manifests ask for it. Repeatable, comma-separated.
    #[arg(long = "grant", value_name = "[NAME:]SCOPE")]
    pub grants: Vec<String>,
    /// Grant third-party plugins every scope their manifests ask for.
    #[arg(long)]
    pub grant_requested: bool,
    /// Trust plugins signed by this public key (repeatable; also the *.pub files in
    /// /etc/bulwark/trusted-keys and $XDG_CONFIG_HOME/bulwark/trusted-keys).
    #[arg(long = "trusted-key", value_name = "FILE")]
    pub trusted_keys: Vec<PathBuf>,
    /// Load third-party plugins that carry no signature (a bad signature still refuses).
    #[arg(long)]
    pub allow_unsigned: bool,
}

#[derive(Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write the report to this file instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// No colours (also off when NO_COLOR is set or output is not a terminal).
    #[arg(short = 'b', long = "no-color")]
    pub no_color: bool,
    /// Also write the text report to FILE and Docker Bench's JSON log to FILE.json.
    #[arg(short = 'l', long = "log", value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// In the JSON log, list at most this many items per check (0: all).
    #[arg(short = 'n', long = "limit", value_name = "LIMIT", default_value_t = 0)]
    pub limit: usize,
    /// Print remediation measures for checks that did not pass.
    #[arg(short = 'p', long = "remediation")]
    pub remediation: bool,
    /// Watch the selected containers with the kernel probes for DURATION first, so checks can
    /// use what they actually did (syscalls, capabilities).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub observe: Option<std::time::Duration>,
    /// Compare with an earlier report (Bulwark JSON or Docker Bench's JSON log): every
    /// finding is marked new, unchanged or updated, the checks that no longer fail are
    /// listed, and --fail-on counts only new and updated findings.
    #[arg(long, value_name = "OLD.json")]
    pub baseline: Option<PathBuf>,
    /// Also write the report in FORMAT to FILE (repeatable), e.g. --out sarif=bulwark.sarif.
    #[arg(long = "out", value_name = "FORMAT=FILE", value_parser = parse_out)]
    pub outs: Vec<OutSpec>,
    /// Exit with --exit-code when an unsuppressed finding is this bad or worse.
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub fail_on: Option<FailOn>,
    /// Exit status for --fail-on (distinct from 1, "could not run").
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(i32).range(1..=255))]
    pub exit_code: i32,
    /// Suppression file (default: ./.bulwarkignore when it exists).
    #[arg(long, value_name = "FILE")]
    pub ignore_file: Option<PathBuf>,
    /// Suppress every finding of this check or section (repeatable).
    #[arg(long = "ignore", value_name = "ID")]
    pub ignore: Vec<String>,
    /// No progress bar and no warnings on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Serve /metrics, /report.json, /report.html, /report.sarif and /healthz on ADDR.
    /// Loopback by default: the reports describe this host's weaknesses.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9469")]
    pub listen: std::net::SocketAddr,
    /// Run the whole audit this often: seconds or with a unit (`30m`, `1h`).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1h")]
    pub interval: std::time::Duration,
    /// After a Docker event (a container started or died, an image changed, the daemon
    /// reloaded), wait this long for more, then audit once for all of them.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    pub debounce: std::time::Duration,
    /// Also run the runtime monitor (as `bulwark watch`) and export its metrics beside the
    /// audit's; its alerts go to standard output as JSON lines.
    #[arg(long)]
    pub watch: bool,
    /// With --watch: which rules run (as `bulwark watch --rules`).
    #[arg(
        long,
        value_name = "SPEC",
        default_value = "default",
        requires = "watch"
    )]
    pub rules: bulwark::watch::RuleSpec,
    /// With --watch: the kernel→user event ring buffer, KiB.
    #[arg(long, value_name = "KIB", default_value_t = 8192, requires = "watch")]
    pub ring_buffer: u32,
    /// Suppression file (default: ./.bulwarkignore when it exists).
    #[arg(long, value_name = "FILE")]
    pub ignore_file: Option<PathBuf>,
    /// Suppress every finding of this check or section (repeatable).
    #[arg(long = "ignore", value_name = "ID")]
    pub ignore: Vec<String>,
}

/// What an audit looks at: the host or a snapshot, which checks, which containers.
#[derive(Args, Clone)]
pub struct TargetArgs {
    #[command(flatten)]
    pub plugins: PluginArgs,
    #[command(flatten)]
    pub benchmark: BenchmarkArg,
    /// Docker Engine API endpoint (default: $DOCKER_HOST, else unix:///var/run/docker.sock).
    #[arg(long, short = 'H', value_name = "URL")]
    pub host: Option<String>,
    /// Replay a snapshot recorded by `bulwark collect` instead of reading this host.
    #[arg(long, value_name = "FILE", conflicts_with = "host")]
    pub snapshot: Option<PathBuf>,
    /// Audit created and stopped containers too, not only running ones.
    #[arg(long)]
    pub all_containers: bool,
    /// Only containers and images whose name matches one of these patterns (regex, comma-separated).
    #[arg(short = 'i', long = "include", value_name = "PATTERNS")]
    pub include_names: Option<String>,
    /// Leave out containers and images whose name matches one of these patterns.
    #[arg(short = 'x', long = "exclude-names", value_name = "PATTERNS")]
    pub exclude_names: Option<String>,
    /// Only containers and images carrying all these labels (`key` or `key=value`, comma-separated).
    #[arg(
        short = 't',
        long = "label",
        value_delimiter = ',',
        value_name = "LABELS"
    )]
    pub labels: Vec<String>,
    /// Run only these checks (comma-separated ids; a section id selects the section).
    #[arg(short = 'c', long = "check", value_delimiter = ',', value_name = "IDS")]
    pub include: Vec<String>,
    /// Skip these checks (comma-separated ids or sections).
    #[arg(
        short = 'e',
        long = "exclude",
        value_delimiter = ',',
        value_name = "IDS"
    )]
    pub exclude: Vec<String>,
    /// Users trusted to control Docker (comma-separated), for 1.1.2.
    #[arg(short = 'u', long = "trusted-users", value_name = "USERS")]
    pub trusted_users: Option<String>,
}

#[derive(Args)]
pub struct FixArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Plan output: text, or JSON.
    #[arg(long, short = 'f', value_enum, default_value_t = FixFormat::Text)]
    pub format: FixFormat,
    /// Apply the host-side parts of the plan (daemon.json, file owners and modes, audit
    /// rules), after a backup of every file they touch.
    #[arg(long, conflicts_with = "snapshot")]
    pub apply: bool,
    /// Restore a backup made by --apply, byte for byte: `--rollback` the newest,
    /// `--rollback=ID` another.
    #[arg(long, value_name = "ID", num_args = 0..=1, require_equals = true, default_missing_value = "latest", conflicts_with_all = ["apply", "snapshot"])]
    pub rollback: Option<String>,
    /// With --apply or --rollback: restart the daemon, wait for its API, and (with --apply)
    /// audit the fixed checks again and say which pass.
    #[arg(long)]
    pub restart: bool,
    /// How long the restarted daemon may take to answer, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub restart_timeout: u64,
    /// Where backups are kept.
    #[arg(long, value_name = "DIR", default_value = bulwark::fix::apply::BACKUP_ROOT)]
    pub backup_dir: PathBuf,
    /// The audit rules file the plan adds its rules to (default
    /// /etc/audit/rules.d/docker.rules, read by augenrules; e.g. /etc/audit/audit.rules on
    /// hosts without it).
    #[arg(long, value_name = "FILE")]
    pub audit_rules_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FixFormat {
    Text,
    Json,
}

#[derive(Args)]
pub struct CollectArgs {
    #[command(flatten)]
    pub plugins: PluginArgs,
    /// Docker Engine API endpoint (default: $DOCKER_HOST, else unix:///var/run/docker.sock).
    #[arg(long, short = 'H', value_name = "URL")]
    pub host: Option<String>,
    /// Where to write the snapshot.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: PathBuf,
    /// Watch the running containers with the kernel probes for DURATION first, so the
    /// snapshot carries what they did (observations and their seccomp fit).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub observe: Option<std::time::Duration>,
}
