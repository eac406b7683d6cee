//! Builds the built-in plugins (and the sandbox test fixtures) as wasm components, so that
//! `cargo build` alone yields a complete `bulwark` binary.

#[path = "../xtask/src/plugin_build.rs"]
mod plugin_build;

use std::path::PathBuf;

/// Built-in plugins embedded in the binary, in report order.
const BUILTIN: &[&str] = &[
    "bulwark-plugin-cis-host",
    "bulwark-plugin-cis-daemon",
    "bulwark-plugin-cis-files",
    "bulwark-plugin-cis-images",
    "bulwark-plugin-cis-runtime",
    "bulwark-plugin-cis-swarm",
    "bulwark-plugin-community",
    "bulwark-plugin-runtime-rules",
];
/// Plugins only the tests use: (crate directory, feature, output name).
const FIXTURES: &[(&str, Option<&str>, &str)] = &[
    ("plugins/example", None, "example"),
    ("tests/plugins/hostile", Some("looper"), "looper"),
    ("tests/plugins/hostile", Some("hog"), "hog"),
    ("tests/plugins/hostile", Some("garbage"), "garbage"),
    ("tests/plugins/hostile", Some("stack"), "stack"),
    ("tests/plugins/hostile", Some("panic"), "panic"),
    ("tests/plugins/hostile", Some("flood"), "flood"),
    ("tests/plugins/hostile", Some("huge"), "huge"),
    ("tests/plugins/hostile", Some("snoop"), "snoop"),
    ("tests/plugins/hostile", Some("spam"), "spam"),
    ("tests/plugins/tally", None, "tally"),
];

fn main() -> anyhow::Result<()> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let workspace = manifest.parent().map(PathBuf::from).unwrap_or_default();
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    // A target dir of its own: the outer cargo holds the lock on the main one.
    let target_dir = workspace.join("target").join("wasm-build");

    for dir in ["plugin-sdk", "plugins", "tests/plugins", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", workspace.join(dir).display());
    }
    println!("cargo:rerun-if-changed=../xtask/src/plugin_build.rs");

    let mut list = String::from("&[\n");
    for pkg in BUILTIN {
        let name = pkg.trim_start_matches("bulwark-plugin-");
        let path = out.join("builtin").join(format!("{name}.wasm"));
        let crate_dir = workspace.join("plugins").join(name);
        plugin_build::build_plugin(&workspace, &workspace, &target_dir, &crate_dir, None, &path)?;
        list.push_str(&format!(
            "    ({name:?}, include_bytes!({:?})),\n",
            path.display().to_string()
        ));
    }
    list.push(']');
    std::fs::write(out.join("builtin.rs"), list)?;

    let fixtures = out.join("fixtures");
    for (dir, feature, name) in FIXTURES {
        plugin_build::build_plugin(
            &workspace,
            &workspace,
            &target_dir,
            &workspace.join(dir),
            *feature,
            &fixtures.join(format!("{name}.wasm")),
        )?;
    }
    println!(
        "cargo:rustc-env=BULWARK_FIXTURE_PLUGINS={}",
        fixtures.display()
    );

    // The kernel probes, when bpf-linker is installed; otherwise an empty object, and
    // `bulwark watch` says what is missing.
    println!(
        "cargo:rerun-if-changed={}",
        workspace.join("ebpf").display()
    );
    // Installing bpf-linker later must rebuild with the probes.
    for var in ["CARGO_HOME", "HOME"] {
        if let Some(h) = std::env::var_os(var) {
            let bin = PathBuf::from(h).join(if var == "HOME" { ".cargo/bin" } else { "bin" });
            println!("cargo:rerun-if-changed={}", bin.display());
        }
    }
    let probes = out.join("bulwark-probes.o");
    match plugin_build::bpf_linker() {
        Some(linker) => plugin_build::build_probes(
            &workspace,
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
