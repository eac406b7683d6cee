//! Building what Bulwark embeds or loads: plugin crates compiled for
//! `wasm32-unknown-unknown` and turned into components (wit-component, no WASI) with their
//! manifest (`[package.metadata.bulwark]`) and check documentation (`checks.toml`) embedded
//! as custom sections, and the eBPF probes object. Shared by the host's build script (the
//! built-in plugins and the probes), `cargo xtask`, and the tests (fixture plugins, built on
//! first use, never by a release build).

mod docs;

pub use docs::{docs_json, CheckDoc, DOCS_FILE};

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

/// The target plugins are built for.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// Plugins build with the workspace's `plugin` profile (release, tuned for size).
pub const PROFILE: &str = "plugin";
/// Component custom section carrying the plugin's manifest (JSON).
pub const MANIFEST_SECTION: &str = "bulwark-manifest";
/// Component custom section carrying the documentation of the plugin's checks (JSON).
pub const DOCS_SECTION: &str = "bulwark-docs";
/// The componentize-py release Python plugins are built with (PyPI).
pub const COMPONENTIZE_PY: &str = "0.25.1";
/// The eBPF target of the kernel probes.
pub const BPF_TARGET: &str = "bpfel-unknown-none";

/// The plugin contract, as this build knows it.
pub const WIT: &str = include_str!("../../../plugin-sdk/wit/bulwark.wit");

/// Why a build step failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not valid TOML")]
    Toml {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("cannot run cargo to build {what}")]
    Spawn {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("building {what} failed ({status}); {hint}")]
    Cargo {
        what: String,
        status: ExitStatus,
        hint: String,
    },
    #[error("not a wasm module built with the Bulwark SDK")]
    Componentize(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("encoding JSON")]
    Json(#[from] serde_json::Error),
}

/// The ABI version: the package version of the WIT contract (`package bulwark:plugin@X;`).
pub fn abi_version() -> &'static str {
    WIT.lines()
        .find_map(|l| l.trim().strip_prefix("package bulwark:plugin@"))
        .map(|v| v.trim_end_matches(';').trim())
        .unwrap_or("0.0.0")
}

fn read_toml(path: &Path) -> Result<toml::Table, BuildError> {
    let text = std::fs::read_to_string(path).map_err(|source| BuildError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    text.parse().map_err(|source| BuildError::Toml {
        path: path.to_path_buf(),
        source,
    })
}

/// The package name in a crate's Cargo.toml.
pub fn package_name(crate_dir: &Path) -> Result<String, BuildError> {
    let path = crate_dir.join("Cargo.toml");
    read_toml(&path)?
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_string)
        .ok_or_else(|| BuildError::Invalid {
            path,
            reason: "no [package] name".to_string(),
        })
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
pub fn manifest_json(crate_dir: &Path) -> Result<String, BuildError> {
    let path = crate_dir.join("Cargo.toml");
    let krate = read_toml(&path)?;
    // The nearest enclosing workspace, for `field.workspace = true`.
    let ws = crate_dir
        .ancestors()
        .map(|d| d.join("Cargo.toml"))
        .filter(|p| p.is_file())
        .filter_map(|p| read_toml(&p).ok())
        .find(|t| t.contains_key("workspace"))
        .unwrap_or_default();
    let invalid = |reason: &str| BuildError::Invalid {
        path: path.clone(),
        reason: reason.to_string(),
    };
    let pkg = krate
        .get("package")
        .and_then(|p| p.as_table())
        .ok_or_else(|| invalid("no [package] table"))?;
    let meta = pkg
        .get("metadata")
        .and_then(|m| m.get("bulwark"))
        .and_then(|b| b.as_table())
        .ok_or_else(|| {
            invalid("no [package.metadata.bulwark] table (the plugin's checks and grants)")
        })?;
    let text = |v: Option<toml::Value>| v.and_then(|v| v.as_str().map(str::to_string));
    let author = text(meta.get("author").cloned())
        .or_else(|| {
            field(pkg, &ws, "authors")
                .and_then(|a| a.as_array().and_then(|a| a.first().cloned()))
                .and_then(|a| a.as_str().map(str::to_string))
        })
        .unwrap_or_default();
    let list = |key: &str| meta.get(key).cloned().unwrap_or(toml::Value::Array(vec![]));
    let json = serde_json::json!({
        "manifest": 1,
        "name": text(pkg.get("name").cloned()).unwrap_or_default().trim_start_matches("bulwark-plugin-"),
        "version": text(field(pkg, &ws, "version")).unwrap_or_default(),
        "author": author,
        "abi": abi_version(),
        "checks": serde_json::to_value(list("checks"))?,
        "grants": serde_json::to_value(list("grants"))?,
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

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn run_cargo(mut cmd: Command, what: &str, hint: &str) -> Result<(), BuildError> {
    scrub_cargo_env(&mut cmd);
    let status = cmd.status().map_err(|source| BuildError::Spawn {
        what: what.to_string(),
        source,
    })?;
    if !status.success() {
        return Err(BuildError::Cargo {
            what: what.to_string(),
            status,
            hint: hint.to_string(),
        });
    }
    Ok(())
}

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
pub fn build_probes(
    workspace: &Path,
    target_dir: &Path,
    linker: &Path,
    out: &Path,
) -> Result<(), BuildError> {
    let mut cmd = cargo();
    cmd.current_dir(workspace.join("ebpf/probes"))
        .args(["build", "--quiet", "--release", "--target", BPF_TARGET])
        .args(["-Z", "build-std=core", "--target-dir"])
        .arg(target_dir);
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
    run_cargo(
        cmd,
        "the eBPF probes",
        "`cargo xtask setup` installs rust-src and bpf-linker",
    )?;
    let obj = target_dir.join(BPF_TARGET).join("release/bulwark-probes");
    std::fs::copy(&obj, out).map_err(|source| BuildError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    Ok(())
}

/// Turn a core wasm module built with the SDK into a component.
pub fn componentize(core: &[u8]) -> Result<Vec<u8>, BuildError> {
    wit_component::ComponentEncoder::default()
        .module(core)
        .and_then(|e| e.validate(true).encode())
        .map_err(|e| BuildError::Componentize(e.into()))
}

/// One plugin crate to build.
pub struct PluginBuild<'a> {
    /// The cargo workspace (or standalone crate) to run cargo in.
    pub workspace: &'a Path,
    /// The crate of the plugin.
    pub crate_dir: &'a Path,
    /// Where cargo builds for wasm (kept apart from the host's target dir, whose lock an
    /// outer cargo may hold).
    pub target_dir: &'a Path,
    /// A feature to build with (the hostile fixtures are one crate, a feature each).
    pub feature: Option<&'a str>,
    /// The component to write.
    pub out: &'a Path,
}

impl PluginBuild<'_> {
    /// Compile for wasm and componentize: the component, without its manifest and docs.
    pub fn component(&self) -> Result<Vec<u8>, BuildError> {
        let package = package_name(self.crate_dir)?;
        let mut cmd = cargo();
        cmd.current_dir(self.workspace)
            .args(["build", "--quiet", "--target", WASM_TARGET])
            .args(["--profile", PROFILE, "-p", &package, "--target-dir"])
            .arg(self.target_dir);
        if let Some(f) = self.feature {
            cmd.args(["--features", f]);
        }
        run_cargo(
            cmd,
            &format!("plugin {package} for {WASM_TARGET}"),
            &format!("is the target installed? (rustup target add {WASM_TARGET})"),
        )?;
        let core_path = self
            .target_dir
            .join(WASM_TARGET)
            .join(PROFILE)
            .join(format!("{}.wasm", package.replace('-', "_")));
        let core = std::fs::read(&core_path).map_err(|source| BuildError::Read {
            path: core_path.clone(),
            source,
        })?;
        componentize(&core)
    }

    /// Compile for wasm, componentize, embed the manifest and the check documentation, and
    /// write the component.
    pub fn run(&self) -> Result<(), BuildError> {
        let manifest = manifest_json(self.crate_dir)?;
        let docs = docs_json(self.crate_dir)?;
        let mut component = self.component()?;
        append_custom_section(&mut component, MANIFEST_SECTION, manifest.as_bytes());
        if let Some(docs) = docs {
            append_custom_section(&mut component, DOCS_SECTION, docs.as_bytes());
        }
        let write_err = |source| BuildError::Write {
            path: self.out.to_path_buf(),
            source,
        };
        if let Some(dir) = self.out.parent() {
            std::fs::create_dir_all(dir).map_err(write_err)?;
        }
        std::fs::write(self.out, component).map_err(write_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_abi_version_is_the_wit_package_version() {
        let v = abi_version();
        assert!(v.split('.').count() == 3 && v != "0.0.0", "{v}");
    }

    #[test]
    fn custom_sections_are_wellformed() {
        let mut w = b"\0asm\x01\0\0\0".to_vec();
        append_custom_section(&mut w, "x", &[7; 200]);
        // id 0, size 202 as two LEB128 bytes, name length 1, "x", payload.
        assert_eq!(&w[8..13], &[0, 0xca, 0x01, 1, b'x']);
        assert_eq!(w.len(), 8 + 3 + 202);
    }
}
