//! `cargo xtask`: set-up and project tasks.
//!
//! - `cargo xtask audit [ARGS]`  set up this machine, build, and audit this host
//! - `cargo xtask test`          set up this machine and run every check and test
//! - `cargo xtask bench`         set up and run the benchmarks
//! - `cargo xtask setup`         only the set-up: packages, rustup target, dockerd
//! - `cargo xtask plugin DIR [-o OUT]`     build a plugin crate into a component
//! - `cargo xtask componentize IN OUT`     turn a core wasm module into a component

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
    // Other engines: Podman, and rootless Docker (rootlesskit, newuidmap, slirp4netns).
    "podman",
    "rootlesskit",
    "uidmap",
    "slirp4netns",
];

/// Debian packages only the benchmarks need: bpftrace, the baseline for `watch`'s overhead.
const BENCH_PACKAGES: &[&str] = &["bpftrace"];

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
            // Python plugin authors' tests run componentize-py, found on PATH as authors have it.
            let py = ensure_componentize_py(&root)?;
            let mut path = std::ffi::OsString::from(py.as_os_str());
            if let Some(p) = std::env::var_os("PATH") {
                path.push(":");
                path.push(p);
            }
            cargo_env(
                &["test", "--workspace", "--no-fail-fast"],
                &[("PATH", &path)],
            )
        }
        "bench" => {
            setup(true)?;
            install_missing(BENCH_PACKAGES)?;
            cargo(&["bench", "-p", "bulwark", "--bench", "audit"])?;
            cargo(&["bench", "-p", "bulwark", "--bench", "watch"])?;
            cargo(&["bench", "-p", "bulwark", "--bench", "profile"])
        }
        "plugin" => plugin(rest, &root),
        "componentize" => match rest {
            [input, output] => {
                let core = std::fs::read(input).with_context(|| format!("reading {input}"))?;
                std::fs::write(output, bulwark_build::componentize(&core)?)
                    .with_context(|| format!("writing {output}"))
            }
            _ => bail!("usage: cargo xtask componentize IN.wasm OUT.wasm"),
        },
        _ => {
            println!("usage: cargo xtask <audit [ARGS]|test|bench|setup|plugin DIR [-o OUT]|componentize IN OUT>");
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
    let version = bulwark_build::COMPONENTIZE_PY;
    let venv = root.join("target/componentize-py");
    let bin = venv.join("bin");
    let has = Command::new(bin.join("componentize-py"))
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains(version))
        .unwrap_or(false);
    if !has {
        eprintln!(
            "xtask: installing componentize-py {version} into {}",
            venv.display()
        );
        run_checked(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        run_checked(
            Command::new(bin.join("pip"))
                .args(["install", "--quiet", "--disable-pip-version-check"])
                .arg(format!("componentize-py=={version}")),
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

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}
