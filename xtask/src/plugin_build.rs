//! Building plugins: compile a plugin crate for `wasm32-unknown-unknown`, turn the core
//! module into a component (wit-component, no WASI), and embed its manifest (from the
//! crate's `[package.metadata.bulwark]`) as the `bulwark-manifest` custom section. Shared
//! by `cargo xtask` and the host's build script, which embeds the built-in plugins.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// Plugins build with the release profile, tuned for size by `--config` (see below).
pub const PROFILE: &str = "release";

/// The package name in a crate's Cargo.toml.
pub fn package_name(crate_dir: &Path) -> Result<String> {
    let p = crate_dir.join("Cargo.toml");
    let t: toml::Table = std::fs::read_to_string(&p)
        .with_context(|| format!("reading {}", p.display()))?
        .parse()
        .with_context(|| format!("parsing {}", p.display()))?;
    t.get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_string)
        .with_context(|| format!("{} has no package name", p.display()))
}

/// Name of the component custom section that carries the plugin's manifest (JSON).
pub const MANIFEST_SECTION: &str = "bulwark-manifest";

/// The ABI version: the package version of the WIT contract.
pub fn abi_version(workspace: &Path) -> Result<String> {
    let wit = workspace.join("plugin-sdk/wit/bulwark.wit");
    let text =
        std::fs::read_to_string(&wit).with_context(|| format!("reading {}", wit.display()))?;
    text.lines()
        .find_map(|l| l.trim().strip_prefix("package bulwark:plugin@"))
        .map(|v| v.trim_end_matches(';').trim().to_string())
        .context("the WIT file declares no `package bulwark:plugin@VERSION`")
}

/// A `{ workspace = true }` field of a package, resolved from the workspace's Cargo.toml.
fn field(pkg: &toml::Table, ws: &toml::Table, key: &str) -> Option<toml::Value> {
    match pkg.get(key) {
        Some(toml::Value::Table(t)) if t.get("workspace") == Some(&toml::Value::Boolean(true)) => {
            ws.get("workspace")?.get("package")?.get(key).cloned()
        }
        other => other.cloned(),
    }
}

/// The manifest JSON of the plugin crate in `crate_dir`: name, version, author, ABI, the
/// check ids it provides and the evidence scopes it asks for.
/// `bulwark_root` is the Bulwark checkout whose WIT file gives the ABI version.
pub fn manifest_json(bulwark_root: &Path, crate_dir: &Path) -> Result<String> {
    let read = |p: &Path| -> Result<toml::Table> {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        text.parse::<toml::Table>()
            .with_context(|| format!("parsing {}", p.display()))
    };
    let manifest = crate_dir.join("Cargo.toml");
    let krate = read(&manifest)?;
    // The nearest enclosing workspace, for `field.workspace = true`.
    let ws = crate_dir
        .ancestors()
        .map(|d| d.join("Cargo.toml"))
        .filter(|p| p.is_file())
        .filter_map(|p| read(&p).ok())
        .find(|t| t.contains_key("workspace"))
        .unwrap_or_default();
    let pkg = krate
        .get("package")
        .and_then(|p| p.as_table())
        .context("no [package] table")?;
    let meta = pkg
        .get("metadata")
        .and_then(|m| m.get("bulwark"))
        .and_then(|b| b.as_table())
        .with_context(|| {
            format!(
                "{} has no [package.metadata.bulwark] table (checks and grants of the plugin)",
                manifest.display()
            )
        })?;
    let text = |v: Option<toml::Value>| v.and_then(|v| v.as_str().map(str::to_string));
    let author = text(meta.get("author").cloned())
        .or_else(|| {
            field(pkg, &ws, "authors")
                .and_then(|a| a.as_array().and_then(|a| a.first().cloned()))
                .and_then(|a| a.as_str().map(str::to_string))
        })
        .unwrap_or_default();
    let json = serde_json::json!({
        "manifest": 1,
        "name": text(pkg.get("name").cloned()).unwrap_or_default().trim_start_matches("bulwark-plugin-"),
        "version": text(field(pkg, &ws, "version")).unwrap_or_default(),
        "author": author,
        "abi": abi_version(bulwark_root)?,
        "checks": serde_json::to_value(meta.get("checks").cloned().unwrap_or(toml::Value::Array(vec![])))?,
        "grants": serde_json::to_value(meta.get("grants").cloned().unwrap_or(toml::Value::Array(vec![])))?,
    });
    Ok(json.to_string())
}

/// Append a custom section to a component (or module): id 0, LEB128 size, LEB128-prefixed
/// name, payload.
pub fn append_custom_section(wasm: &mut Vec<u8>, name: &str, payload: &[u8]) {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
    }
    let mut body = Vec::new();
    leb(name.len(), &mut body);
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(payload);
    wasm.push(0);
    leb(body.len(), wasm);
    wasm.extend_from_slice(&body);
}

/// Remove what an outer cargo set for its own compilation (clippy's wrapper, host
/// rustflags, a target dir) from a nested cargo command, so that it cannot leak into it.
pub fn scrub_cargo_env(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().to_string();
        if (k.starts_with("CARGO_") && k != "CARGO_HOME")
            || matches!(
                k.as_str(),
                "RUSTC_WRAPPER"
                    | "RUSTC_WORKSPACE_WRAPPER"
                    | "RUSTFLAGS"
                    | "RUSTDOCFLAGS"
                    | "TARGET"
                    | "HOST"
                    | "OUT_DIR"
                    | "OPT_LEVEL"
                    | "PROFILE"
                    | "DEBUG"
                    | "NUM_JOBS"
                    | "CLIPPY_ARGS"
            )
        {
            cmd.env_remove(&k);
        }
    }
}

/// The eBPF target of the kernel probes.
pub const BPF_TARGET: &str = "bpfel-unknown-none";

/// Whether bpf-linker can be found (on PATH or in cargo's bin directory).
pub fn bpf_linker() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        dirs.push(PathBuf::from(home).join("bin"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.into_iter()
        .map(|d| d.join("bpf-linker"))
        .find(|p| p.is_file())
}

/// Build the eBPF probes crate (`ebpf/probes`) and copy the object to `out`. Stable
/// toolchain: `RUSTC_BOOTSTRAP=1` unlocks `-Z build-std=core` for the bpf target.
pub fn build_probes(workspace: &Path, target_dir: &Path, linker: &Path, out: &Path) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace.join("ebpf/probes"))
        .args([
            "build",
            "--quiet",
            "--release",
            "--target",
            BPF_TARGET,
            "-Z",
            "build-std=core",
        ])
        .arg("--target-dir")
        .arg(target_dir);
    scrub_cargo_env(&mut cmd);
    let mut path = linker
        .parent()
        .map(|p| p.as_os_str().to_owned())
        .unwrap_or_default();
    if let Some(p) = std::env::var_os("PATH") {
        path.push(":");
        path.push(p);
    }
    cmd.env("PATH", path)
        .env("RUSTC_BOOTSTRAP", "1")
        .env("RUSTFLAGS", "-C debuginfo=2 -C link-arg=--btf");
    let status = cmd
        .status()
        .context("running cargo to build the eBPF probes")?;
    if !status.success() {
        bail!("building the eBPF probes failed ({status}); `cargo xtask setup` installs rust-src and bpf-linker");
    }
    let obj = target_dir
        .join(BPF_TARGET)
        .join("release")
        .join("bulwark-probes");
    std::fs::copy(&obj, out).with_context(|| format!("copying {}", obj.display()))?;
    Ok(())
}

/// Turn a core wasm module built with the SDK into a component.
pub fn componentize(core: &[u8]) -> Result<Vec<u8>> {
    wit_component::ComponentEncoder::default()
        .module(core)
        .context("not a wasm module built with the Bulwark SDK (no component type section)")?
        .validate(true)
        .encode()
        .context("componentizing the module")
}

/// Build the plugin crate in `crate_dir` (optionally with one feature) for wasm, into
/// `target_dir`, and write the component, manifest embedded, to `out`.
pub fn build_plugin(
    bulwark_root: &Path,
    workspace: &Path,
    target_dir: &Path,
    crate_dir: &Path,
    feature: Option<&str>,
    out: &Path,
) -> Result<()> {
    let manifest = manifest_json(bulwark_root, crate_dir)?;
    let package = package_name(crate_dir)?;
    let package = package.as_str();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .args([
            "build",
            "--quiet",
            "--target",
            WASM_TARGET,
            "--profile",
            PROFILE,
            "-p",
            package,
        ])
        .arg("--target-dir")
        .arg(target_dir);
    if let Some(f) = feature {
        cmd.args(["--features", f]);
    }
    scrub_cargo_env(&mut cmd);
    let status = cmd
        .status()
        .with_context(|| format!("running cargo to build {package}"))?;
    if !status.success() {
        bail!("building plugin {package} for {WASM_TARGET} failed ({status}); is the target installed? (rustup target add {WASM_TARGET})");
    }
    let core_path: PathBuf = target_dir
        .join(WASM_TARGET)
        .join(PROFILE)
        .join(format!("{}.wasm", package.replace('-', "_")));
    let core =
        std::fs::read(&core_path).with_context(|| format!("reading {}", core_path.display()))?;
    let mut component = componentize(&core)?;
    append_custom_section(&mut component, MANIFEST_SECTION, manifest.as_bytes());
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(out, component).with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}
