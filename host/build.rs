//! Builds the built-in plugins as wasm components, and the kernel probes when bpf-linker is
//! installed, so that `cargo build` alone yields a complete `bulwark` binary. Test fixture
//! plugins are not built here: the tests build them on first use.

use bulwark_build::{bpf_linker, build_probes, PluginBuild};
use std::path::{Path, PathBuf};

/// Built-in plugins embedded in the binary, in report order.
const BUILTIN: &[&str] = &[
    "cis-host",
    "cis-daemon",
    "cis-files",
    "cis-images",
    "cis-runtime",
    "cis-swarm",
    "community",
    "runtime-rules",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let workspace = manifest.parent().map(PathBuf::from).unwrap_or_default();
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    for dir in ["plugin-sdk", "plugins", "Cargo.lock", "ebpf"] {
        println!("cargo:rerun-if-changed={}", workspace.join(dir).display());
    }
    builtin_plugins(&workspace, &out)?;
    probes(&workspace, &out)
}

fn builtin_plugins(workspace: &Path, out: &Path) -> Result<(), Box<dyn std::error::Error>> {
    // A target dir of its own: the outer cargo holds the lock on the main one.
    let target_dir = workspace.join("target").join("wasm-build");
    let mut list = String::from("&[\n");
    for name in BUILTIN {
        let path = out.join("builtin").join(format!("{name}.wasm"));
        PluginBuild {
            workspace,
            crate_dir: &workspace.join("plugins").join(name),
            target_dir: &target_dir,
            feature: None,
            out: &path,
        }
        .run()?;
        list.push_str(&format!(
            "    ({name:?}, include_bytes!({:?})),\n",
            path.display().to_string()
        ));
    }
    list.push(']');
    std::fs::write(out.join("builtin.rs"), list)?;
    Ok(())
}

/// The kernel probes, when bpf-linker is installed; otherwise an empty object, and
/// `bulwark watch` says what is missing.
fn probes(workspace: &Path, out: &Path) -> Result<(), Box<dyn std::error::Error>> {
    // Installing bpf-linker later must rebuild with the probes.
    for var in ["CARGO_HOME", "HOME"] {
        if let Some(h) = std::env::var_os(var) {
            let bin = PathBuf::from(h).join(if var == "HOME" { ".cargo/bin" } else { "bin" });
            println!("cargo:rerun-if-changed={}", bin.display());
        }
    }
    let probes = out.join("bulwark-probes.o");
    match bpf_linker() {
        Some(linker) => build_probes(
            workspace,
            &workspace.join("target").join("ebpf-build"),
            &linker,
            &probes,
        )?,
        None => {
            println!("cargo:warning=bpf-linker not found: building without eBPF probes (`cargo xtask setup` installs it)");
            std::fs::write(&probes, b"")?;
        }
    }
    Ok(())
}
