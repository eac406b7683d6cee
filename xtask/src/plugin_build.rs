//! Building plugins: compile a plugin crate for `wasm32-unknown-unknown` and turn the core
//! module into a component (wit-component, no WASI). Shared by `cargo xtask` and the host's
//! build script, which embeds the built-in plugins.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// Plugins build with the release profile, tuned for size by `--config` (see below).
pub const PROFILE: &str = "release";

/// Turn a core wasm module built with the SDK into a component.
pub fn componentize(core: &[u8]) -> Result<Vec<u8>> {
    wit_component::ComponentEncoder::default()
        .module(core)
        .context("not a wasm module built with the Bulwark SDK (no component type section)")?
        .validate(true)
        .encode()
        .context("componentizing the module")
}

/// Build `package` (optionally with one feature) in `workspace` for wasm, into
/// `target_dir`, and write the component to `out`.
pub fn build_plugin(
    workspace: &Path,
    target_dir: &Path,
    package: &str,
    feature: Option<&str>,
    out: &Path,
) -> Result<()> {
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
    // Whatever the outer cargo set for its own compilation (clippy's wrapper, host
    // rustflags, a target dir) must not leak into the wasm build.
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
    let component = componentize(&core)?;
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(out, component).with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}
