//! `cargo xtask`: set-up and project tasks.
//!
//! - `cargo xtask audit [ARGS]`  set up this machine, build, and audit this host
//! - `cargo xtask test`          set up this machine and run every check and test
//! - `cargo xtask bench [NAME..]` set up and run the benchmarks (audit, watch, profile, scale)
//! - `cargo xtask setup`         only the set-up: packages, rustup target, dockerd
//! - `cargo xtask image`         a static (musl) build in a `FROM scratch` image,
//!   `bulwark:<version>` and `bulwark:latest`, built by the local daemon
//! - `cargo xtask plugin DIR [-o OUT]`     build a plugin crate into a component
//! - `cargo xtask componentize IN OUT`     turn a core wasm module into a component
//! - `cargo xtask fuzz [TARGET] [--seconds N] [--list] [--replay]`   fuzz the parsers of
//!   outside input with libFuzzer (host/fuzz), or replay their kept inputs as a test

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Debian packages the audit and the tests need.
const PACKAGES: &[&str] = &[
    "docker.io",
    "busybox-static",
    "iproute2",
    "openssl",
    "ca-certificates",
];

/// Debian packages only the tests need: headless Chromium renders the HTML report,
/// docker-registry (distribution 2.8) serves plugins as OCI artifacts on loopback, LLVM
/// 22 builds bpf-linker, which links the eBPF probes, and python3-venv holds componentize-py
/// (Python plugins).
const TEST_PACKAGES: &[&str] = &[
    "chromium",
    "docker-registry",
    "llvm-22-dev",
    "libpolly-22-dev",
    "libzstd-dev",
    "zlib1g-dev",
    "python3-venv",
    // `serve` is scraped by a real Prometheus; promtool checks the shipped alert rules.
    "prometheus",
    // Other engines: Podman, and rootless Docker (rootlesskit, newuidmap, slirp4netns).
    "podman",
    "rootlesskit",
    "uidmap",
    "slirp4netns",
];

/// Debian packages only the benchmarks need: bpftrace, the baseline for `watch`'s overhead,
/// and GNU time, which reads an audit's own peak RSS (see tests/common `timed`).
const BENCH_PACKAGES: &[&str] = &["bpftrace", "time"];

fn main() {
    if let Err(e) = run() {
        eprintln!("xtask: error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = match args.split_first() {
        Some((c, r)) => (c.as_str(), r),
        None => ("help", &[][..]),
    };
    let root = workspace_root();
    std::env::set_current_dir(&root)?;
    match cmd {
        "setup" => setup(true),
        "audit" => {
            setup(false)?;
            cargo(&["build", "--release", "-p", "bulwark"])?;
            let status = Command::new(root.join("target/release/bulwark"))
                .arg("audit")
                .args(rest)
                .status()
                .context("running bulwark")?;
            std::process::exit(status.code().unwrap_or(1));
        }
        "test" => {
            setup(true)?;
            cargo(&["fmt", "--all", "--check"])?;
            cargo(&[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ])?;
            // The container image's tests run the image as Docker Bench's is run.
            image(&root)?;
            // Python plugin authors' tests run componentize-py, found on PATH as authors have it.
            let py = ensure_componentize_py(&root)?;
            // The shipped Kubernetes manifests are validated offline against the API's schemas.
            let tools = ensure_pip_tool(&root, "kubernetes-validate", KUBERNETES_VALIDATE)?;
            let mut path = std::ffi::OsString::from(py.as_os_str());
            path.push(":");
            path.push(tools.as_os_str());
            if let Some(p) = std::env::var_os("PATH") {
                path.push(":");
                path.push(p);
            }
            cargo_env(
                &["test", "--workspace", "--no-fail-fast"],
                &[("PATH", &path)],
            )?;
            // The fuzz targets' seeds and regressions (host/fuzz is outside the workspace),
            // then each target for a few seconds under libFuzzer: a smoke test that the
            // instrumented build links and runs, and a last look for shallow crashes.
            fuzz_replay(&root)?;
            fuzz(&["--seconds".to_string(), "3".to_string()], &root)
        }
        "bench" => {
            setup(true)?;
            install_missing(BENCH_PACKAGES)?;
            // All of them, or those named: `cargo xtask bench scale`.
            let all = ["audit", "watch", "profile", "scale"];
            let chosen: Vec<&str> = if rest.is_empty() {
                all.to_vec()
            } else {
                rest.iter().map(String::as_str).collect()
            };
            for name in chosen {
                if !all.contains(&name) {
                    bail!("no benchmark {name:?}; there are {}", all.join(", "));
                }
                cargo(&["bench", "-p", "bulwark", "--bench", name])?;
            }
            Ok(())
        }
        "image" => {
            setup(false)?;
            image(&root)
        }
        "plugin" => plugin(rest, &root),
        "fuzz" => fuzz(rest, &root),
        "componentize" => match rest {
            [input, output] => {
                let core = std::fs::read(input).with_context(|| format!("reading {input}"))?;
                std::fs::write(output, bulwark_build::componentize(&core)?)
                    .with_context(|| format!("writing {output}"))
            }
            _ => bail!("usage: cargo xtask componentize IN.wasm OUT.wasm"),
        },
        _ => {
            println!("usage: cargo xtask <audit [ARGS]|test|bench [NAME..]|setup|image|plugin DIR [-o OUT]|componentize IN OUT|fuzz [TARGET] [--seconds N] [--list] [--replay]>");
            Ok(())
        }
    }
}

fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

fn cargo(args: &[&str]) -> Result<()> {
    cargo_env(args, &[])
}

fn cargo_env(args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    eprintln!("xtask: cargo {}", args.join(" "));
    let status = Command::new(cargo)
        .args(args)
        .envs(env.iter().copied())
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Install what is missing and start dockerd if no daemon answers. Idempotent.
fn setup(for_tests: bool) -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc_geteuid() } == 0;
    let extra: &[&str] = if for_tests { TEST_PACKAGES } else { &[] };
    let wanted: Vec<&str> = PACKAGES.iter().chain(extra).copied().collect();
    install_missing(&wanted)?;
    let targets = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("rustup is needed to add the wasm target")?;
    if !String::from_utf8_lossy(&targets.stdout).contains(bulwark_build::WASM_TARGET) {
        run_checked(Command::new("rustup").args(["target", "add", bulwark_build::WASM_TARGET]))?;
    }
    if for_tests {
        ensure_ebpf_toolchain(root)?;
    }
    ensure_dockerd(root)
}

/// apt-get install whichever of `packages` are not installed (root only).
fn install_missing(packages: &[&str]) -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc_geteuid() } == 0;
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| {
            !Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", p])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
                .unwrap_or(false)
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !root {
        bail!("missing packages {missing:?}; run as root (apt-get install needs it)");
    }
    eprintln!("xtask: installing {}", missing.join(" "));
    run_checked(Command::new("apt-get").args(["update", "-qq"]))?;
    run_checked(
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// What building and loading the eBPF probes needs: rust-src (build-std for the bpf
/// target), bpf-linker, and a mounted tracefs.
fn ensure_ebpf_toolchain(root: bool) -> Result<()> {
    let comps = Command::new("rustup")
        .args(["component", "list", "--installed"])
        .output()
        .context("rustup is needed to add rust-src")?;
    if !String::from_utf8_lossy(&comps.stdout).contains("rust-src") {
        run_checked(Command::new("rustup").args(["component", "add", "rust-src"]))?;
    }
    if bulwark_build::bpf_linker().is_none() {
        eprintln!("xtask: installing bpf-linker 0.13.0 (links the eBPF probes)");
        run_checked(
            Command::new("cargo")
                .args([
                    "install",
                    "bpf-linker",
                    "--version",
                    "0.13.0",
                    "--no-default-features",
                    "--features",
                    "llvm-22",
                    "--locked",
                ])
                .env("LLVM_PREFIX", "/usr/lib/llvm-22"),
        )?;
    }
    let tracefs = Path::new("/sys/kernel/tracing");
    if root && !tracefs.join("events").is_dir() {
        std::fs::create_dir_all(tracefs).ok();
        run_checked(
            Command::new("mount")
                .args(["-t", "tracefs", "nodev"])
                .arg(tracefs),
        )?;
    }
    Ok(())
}

/// componentize-py (Python plugins), at the version the templates are written for, in a
/// virtual environment of its own under target/: the directory of its executable.
fn ensure_componentize_py(root: &Path) -> Result<PathBuf> {
    ensure_pip_tool(root, "componentize-py", bulwark_build::COMPONENTIZE_PY)
}

/// kubernetes-validate (PyPI), which carries the Kubernetes API's JSON schemas.
const KUBERNETES_VALIDATE: &str = "1.37.0";

/// A Python tool from PyPI in a venv of its own under target/; its bin directory.
fn ensure_pip_tool(root: &Path, package: &str, version: &str) -> Result<PathBuf> {
    let venv = root.join("target").join(package);
    let bin = venv.join("bin");
    let has = Command::new(bin.join("pip"))
        .args(["show", package])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains(&format!("Version: {version}")))
        .unwrap_or(false);
    if !has {
        eprintln!(
            "xtask: installing {package} {version} into {}",
            venv.display()
        );
        run_checked(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        run_checked(
            Command::new(bin.join("pip"))
                .args(["install", "--quiet", "--disable-pip-version-check"])
                .arg(format!("{package}=={version}")),
        )?;
    }
    Ok(bin)
}

fn ensure_dockerd(root: bool) -> Result<()> {
    let answers = || succeeds(Command::new("docker").args(["version"]));
    if answers() {
        return Ok(());
    }
    if !root {
        bail!("no Docker daemon answers and starting one needs root");
    }
    eprintln!("xtask: starting dockerd (log: /var/log/bulwark-dockerd.log)");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open("/var/log/bulwark-dockerd.log")?;
    // setsid: the daemon outlives this command and its terminal.
    Command::new("setsid")
        .arg("dockerd")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting dockerd")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if answers() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    bail!("dockerd did not answer within 60 s; see /var/log/bulwark-dockerd.log")
}

/// The target of the image's static binary.
const MUSL: &str = "x86_64-unknown-linux-musl";

/// `cargo xtask image`: Bulwark built static (musl, with the built-in plugins and the
/// probes inside), in a `FROM scratch` image tagged `bulwark:<version>` and
/// `bulwark:latest` by the local daemon; no registry is involved.
fn image(root: &Path) -> Result<()> {
    install_missing(&["musl-tools"])?;
    let targets = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("rustup is needed to add the musl target")?;
    if !String::from_utf8_lossy(&targets.stdout).contains(MUSL) {
        run_checked(Command::new("rustup").args(["target", "add", MUSL]))?;
    }
    cargo(&["build", "--release", "-p", "bulwark", "--target", MUSL])?;
    let ctx = root.join("target/image");
    if ctx.exists() {
        std::fs::remove_dir_all(&ctx).with_context(|| format!("clearing {}", ctx.display()))?;
    }
    std::fs::create_dir_all(ctx.join("tmp"))?;
    // The plugin cache and temporary files: the only writable place the image has.
    std::fs::set_permissions(
        ctx.join("tmp"),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )?;
    std::fs::copy(
        root.join("target").join(MUSL).join("release/bulwark"),
        ctx.join("bulwark"),
    )
    .context("copying the static binary")?;
    let version = env!("CARGO_PKG_VERSION");
    std::fs::write(ctx.join("Dockerfile"), dockerfile(version))?;
    let tag = format!("bulwark:{version}");
    run_checked(
        Command::new("docker")
            .args(["build", "-q", "-t", &tag, "-t", "bulwark:latest"])
            .arg(&ctx),
    )?;
    eprintln!("xtask: built {tag} and bulwark:latest");
    Ok(())
}

/// The image: the binary, a sticky /tmp, and `audit` as the command when none is named.
fn dockerfile(version: &str) -> String {
    format!(
        r#"# Generated by `cargo xtask image`.
FROM scratch
COPY bulwark /usr/local/bin/bulwark
COPY tmp /tmp
ENV PATH=/usr/local/bin \
    BULWARK_DEFAULT_COMMAND=audit \
    XDG_CACHE_HOME=/tmp/cache \
    TMPDIR=/tmp
LABEL org.opencontainers.image.title="bulwark" \
      org.opencontainers.image.version="{version}" \
      org.opencontainers.image.description="CIS Docker Benchmark audits, runtime rules and fleet metrics" \
      org.opencontainers.image.licenses="Apache-2.0"
# Root, and no USER line: what it reads (the Docker socket, /etc/docker, /var/lib/docker,
# other processes' /proc entries, audit rules) is root's; see deploy/README.md.
ENTRYPOINT ["/usr/local/bin/bulwark"]
"#
    )
}

fn run_checked(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    Ok(())
}

/// `cargo xtask plugin DIR [-o OUT]`: build the plugin crate in DIR for wasm and write
/// its component (default `target/plugins/<name>.wasm`).
fn plugin(args: &[String], root: &Path) -> Result<()> {
    let (dir, out) = match args {
        [dir] => (PathBuf::from(dir), None),
        [dir, flag, out] if flag == "-o" => (PathBuf::from(dir), Some(PathBuf::from(out))),
        _ => bail!("usage: cargo xtask plugin DIR [-o OUT.wasm]"),
    };
    let dir = std::fs::canonicalize(&dir).with_context(|| format!("{}", dir.display()))?;
    let name = bulwark_build::package_name(&dir)?;
    let short = name.trim_start_matches("bulwark-plugin-").to_string();
    let out = out.unwrap_or_else(|| root.join("target/plugins").join(format!("{short}.wasm")));
    bulwark_build::PluginBuild {
        workspace: &dir,
        crate_dir: &dir,
        target_dir: &root.join("target/wasm-build"),
        feature: None,
        out: &out,
    }
    .run()?;
    println!("{}", out.display());
    Ok(())
}

/// Sanitizer-coverage instrumentation for libFuzzer with stable flags only (no
/// `-Zsanitizer`, no nightly, no cargo-fuzz). The targets reach `bulwark::fuzzing` through
/// the host's `fuzzing` feature.
const FUZZ_RUSTFLAGS: &[&str] = &[
    "-Cpasses=sancov-module",
    "-Cllvm-args=-sanitizer-coverage-level=4",
    "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
    "-Cllvm-args=-sanitizer-coverage-pc-table",
    "-Cllvm-args=-sanitizer-coverage-trace-compares",
    "-Cdebug-assertions",
    "-Coverflow-checks",
];

const FUZZ_USAGE: &str = "usage: cargo xtask fuzz [TARGET ...] [--seconds N] [--list] [--replay]";

/// `cargo xtask fuzz [TARGET ...] [--seconds N] [--list] [--replay]`: build the fuzz crate
/// (host/fuzz) instrumented, then run each target (all by default) for N seconds (60),
/// starting from its seeds and regressions; fails when a target crashed, naming the input.
/// `--list` names the targets; `--replay` only runs the kept inputs as a plain test.
fn fuzz(args: &[String], root: &Path) -> Result<()> {
    let targets = fuzz_targets(root)?;
    let (mut seconds, mut list, mut replay) = (60u64, false, false);
    let mut chosen: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--list" => list = true,
            "--replay" => replay = true,
            "--seconds" => {
                seconds = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .context("--seconds takes a whole number")?;
            }
            s => match s.strip_prefix("--seconds=") {
                Some(n) => seconds = n.parse().context("--seconds takes a whole number")?,
                None if s.starts_with('-') => bail!("unknown option {s}\n{FUZZ_USAGE}"),
                None if targets.iter().any(|t| t == s) => chosen.push(s.to_string()),
                None => bail!("no fuzz target {s:?}; there are: {}", targets.join(", ")),
            },
        }
    }
    if list {
        for t in &targets {
            println!("{t}");
        }
        return Ok(());
    }
    if replay {
        return fuzz_replay(root);
    }
    if chosen.is_empty() {
        chosen = targets;
    }
    let bin_dir = fuzz_build(root)?;
    let mut failed = Vec::new();
    for name in &chosen {
        let run = fuzz_run(root, &bin_dir, name, seconds)?;
        println!("{}", run.summary(name));
        if !run.ok {
            failed.push(format!(
                "{name}: input {} (log {})",
                run.artifact.as_deref().unwrap_or("not written"),
                run.log.display()
            ));
        }
    }
    if !failed.is_empty() {
        bail!(
            "fuzz targets failed (reproduce with target/fuzz/<triple>/release/TARGET INPUT; \
             keep the input in host/fuzz/regressions/TARGET/ once fixed):\n{}",
            failed.join("\n")
        );
    }
    Ok(())
}

/// The fuzz targets: the binaries in host/fuzz/fuzz_targets/.
fn fuzz_targets(root: &Path) -> Result<Vec<String>> {
    let dir = root.join("host/fuzz/fuzz_targets");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".rs"))
                .map(str::to_string)
        })
        .collect();
    names.sort();
    Ok(names)
}

/// The triple rustc builds for by default: the fuzz crate is built with an explicit
/// `--target`, so that the coverage flags reach the targets' code but not build scripts
/// or proc macros (which would not link without libFuzzer's callbacks).
fn host_triple() -> Result<String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let out = Command::new(rustc)
        .arg("-vV")
        .output()
        .context("running rustc -vV")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(|t| t.trim().to_string())
        .context("rustc -vV names no host triple")
}

/// A cargo command in host/fuzz with its own target directory and flags, and nothing of
/// this process's cargo environment (the nested builds of host/build.rs scrub theirs too,
/// so the coverage flags never reach the plugins or the probes).
fn fuzz_cargo(root: &Path, target_dir: &str, rustflags: Option<&[&str]>) -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root.join("host/fuzz"));
    bulwark_build::scrub_cargo_env(&mut cmd);
    cmd.env("CARGO_TARGET_DIR", root.join(target_dir));
    if let Some(flags) = rustflags {
        cmd.env("CARGO_ENCODED_RUSTFLAGS", flags.join("\x1f"));
    }
    cmd
}

/// Build every fuzz target, instrumented; returns the directory of the binaries.
fn fuzz_build(root: &Path) -> Result<PathBuf> {
    // libfuzzer-sys compiles libFuzzer's C++.
    install_missing(&["g++"])?;
    let triple = host_triple()?;
    eprintln!("xtask: building the fuzz targets for {triple} (target/fuzz)");
    run_checked(fuzz_cargo(root, "target/fuzz", Some(FUZZ_RUSTFLAGS)).args([
        "build",
        "--release",
        "--bins",
        "--features",
        "fuzz",
        "--target",
        triple.as_str(),
    ]))?;
    Ok(root.join("target/fuzz").join(triple).join("release"))
}

/// Replay every kept input (corpus/ and regressions/) through the targets' checks as a
/// plain test, with no instrumentation, in the main target directory: the dependencies
/// built for the workspace are reused, only `bulwark` (with its `fuzzing` feature) and
/// the fuzz crate are compiled again.
fn fuzz_replay(root: &Path) -> Result<()> {
    eprintln!("xtask: replaying the fuzz corpus and regressions (host/fuzz/tests/replay.rs)");
    run_checked(fuzz_cargo(root, "target", None).arg("test"))
}

/// How one target's run went, from libFuzzer's output.
#[derive(Default)]
struct FuzzRun {
    ok: bool,
    log: PathBuf,
    execs: Option<u64>,
    per_sec: Option<u64>,
    cov: Option<u64>,
    ft: Option<u64>,
    artifact: Option<String>,
}

impl FuzzRun {
    /// Read libFuzzer's final stats (`-print_final_stats=1`), its last `cov:` and `ft:`,
    /// and where it wrote a crashing input.
    fn parse(&mut self, log: &str) {
        for line in log.lines() {
            if let Some(v) = line.strip_prefix("stat::number_of_executed_units:") {
                self.execs = v.trim().parse().ok();
            }
            if let Some(v) = line.strip_prefix("stat::average_exec_per_sec:") {
                self.per_sec = v.trim().parse().ok();
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            for pair in words.windows(2) {
                match pair[0] {
                    "cov:" => self.cov = pair[1].parse().ok().or(self.cov),
                    "ft:" => self.ft = pair[1].parse().ok().or(self.ft),
                    _ => {}
                }
            }
            if let Some((_, path)) = line.split_once("Test unit written to ") {
                self.artifact = Some(path.trim().to_string());
            }
        }
    }

    fn summary(&self, name: &str) -> String {
        let n = |v: Option<u64>| v.map_or("?".to_string(), |v| v.to_string());
        format!(
            "{name:<18} {:<7} {} runs ({}/s), cov {}, ft {}{}",
            if self.ok { "ok" } else { "CRASHED" },
            n(self.execs),
            n(self.per_sec),
            n(self.cov),
            n(self.ft),
            self.artifact
                .as_ref()
                .map_or(String::new(), |a| format!(", input {a}"))
        )
    }
}

/// Run one target for `seconds`: new inputs go to target/fuzz/corpus/NAME (the repository's
/// seeds are read, never written), a crashing input to host/fuzz/artifacts/NAME/, its
/// output to target/fuzz/logs/NAME.log.
fn fuzz_run(root: &Path, bin_dir: &Path, name: &str, seconds: u64) -> Result<FuzzRun> {
    let work = root.join("target/fuzz/corpus").join(name);
    let artifacts = root.join("host/fuzz/artifacts").join(name);
    let logs = root.join("target/fuzz/logs");
    for d in [&work, &artifacts, &logs] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let log = logs.join(format!("{name}.log"));
    let out = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    eprintln!(
        "xtask: fuzzing {name} for {seconds} s (log: {})",
        log.display()
    );
    let status = Command::new(bin_dir.join(name))
        .arg(&work)
        .arg(root.join("host/fuzz/corpus").join(name))
        .arg(root.join("host/fuzz/regressions").join(name))
        .arg(format!("-max_total_time={seconds}"))
        .arg("-print_final_stats=1")
        // An input that takes this long is a hang: a finding like a crash.
        .arg("-timeout=10")
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .status()
        .with_context(|| format!("running the {name} fuzz target"))?;
    let mut run = FuzzRun {
        ok: status.success(),
        log: log.clone(),
        ..FuzzRun::default()
    };
    let text = std::fs::read(&log).unwrap_or_default();
    run.parse(&String::from_utf8_lossy(&text));
    Ok(run)
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}
