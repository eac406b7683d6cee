//! Every input kept in `corpus/TARGET/` (seeds) and `regressions/TARGET/` (inputs that once
//! failed) through its target's checks, without libFuzzer: a plain test, so that a fixed
//! crash stays fixed. Run by `cargo xtask fuzz --replay` and by `cargo xtask test`.

use std::path::{Path, PathBuf};

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        // `.gitkeep` and other dot files are not inputs.
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_kept_input_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut failed = Vec::new();
    let mut ran = 0;
    for (name, check) in bulwark_fuzz::TARGETS {
        let seeds = inputs(&root.join("corpus").join(name));
        assert!(!seeds.is_empty(), "{name} has no seed in corpus/{name}/");
        let regressions = inputs(&root.join("regressions").join(name));
        for file in seeds.iter().chain(&regressions) {
            let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            ran += 1;
            if std::panic::catch_unwind(|| check(&data)).is_err() {
                failed.push(format!("{name}: {}", file.display()));
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {ran} inputs fail their target's checks (panics above):\n{}",
        failed.len(),
        failed.join("\n")
    );
}

/// Each target has its binary, and each binary is a target: the xtask lists the
/// binaries, this crate's library the checks.
#[test]
fn every_fuzz_target_has_its_checks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut binaries: Vec<String> = std::fs::read_dir(root.join("fuzz_targets"))
        .expect("fuzz_targets/")
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".rs").map(str::to_string)
        })
        .collect();
    binaries.sort();
    let mut targets: Vec<String> = bulwark_fuzz::TARGETS
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    targets.sort();
    assert_eq!(binaries, targets);
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
    for t in &targets {
        assert!(
            manifest.contains(&format!("path = \"fuzz_targets/{t}.rs\"")),
            "Cargo.toml has no [[bin]] for {t}"
        );
    }
}
