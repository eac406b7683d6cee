//! `bulwark plugin new`: a plugin project that builds outside this repository. A Rust
//! project carries the SDK (vendored from this binary, with its query crate and the WIT),
//! one example check with its documentation and a unit test, a recorded snapshot and an
//! expectations file for `bulwark plugin test`, and a README. A Python project carries the
//! WIT, an `app.py` for componentize-py, the manifest and docs, the same snapshot and
//! expectations, and a README.

use super::AuthorError;
use std::path::{Path, PathBuf};

/// The plugin SDK's sources, as this binary was built with them.
const SDK: &[(&str, &str)] = &[
    ("src/lib.rs", include_str!("../../../plugin-sdk/src/lib.rs")),
    (
        "src/daemon.rs",
        include_str!("../../../plugin-sdk/src/daemon.rs"),
    ),
    (
        "src/docker.rs",
        include_str!("../../../plugin-sdk/src/docker.rs"),
    ),
    (
        "src/engine.rs",
        include_str!("../../../plugin-sdk/src/engine.rs"),
    ),
    (
        "src/evidence.rs",
        include_str!("../../../plugin-sdk/src/evidence.rs"),
    ),
    (
        "src/finding.rs",
        include_str!("../../../plugin-sdk/src/finding.rs"),
    ),
    (
        "src/locate.rs",
        include_str!("../../../plugin-sdk/src/locate.rs"),
    ),
    (
        "src/rules.rs",
        include_str!("../../../plugin-sdk/src/rules.rs"),
    ),
    (
        "src/runtime.rs",
        include_str!("../../../plugin-sdk/src/runtime.rs"),
    ),
    (
        "src/testing.rs",
        include_str!("../../../plugin-sdk/src/testing.rs"),
    ),
    (
        "wit/bulwark.wit",
        include_str!("../../../plugin-sdk/wit/bulwark.wit"),
    ),
    (
        "query/src/lib.rs",
        include_str!("../../../plugin-sdk/query/src/lib.rs"),
    ),
];

/// A recorded snapshot (three containers on a real dockerd) the scaffold's tests use.
const SNAPSHOT: &str = include_str!("../../../tests/fixtures/host.snap.json");

const SDK_CARGO: &str = r#"# The Bulwark plugin SDK, vendored by `bulwark plugin new` (ABI @ABI@).
[package]
name = "bulwark-plugin-sdk"
version = "@VERSION@"
edition = "2021"
license = "Apache-2.0"
publish = false

[lib]
name = "bulwark_sdk"

[dependencies]
bulwark-query = { path = "query" }
wit-bindgen = { version = "0.63", default-features = false, features = ["macros", "realloc"] }
serde = { version = "1", features = ["derive"] }
serde_json = "1"
"#;

const QUERY_CARGO: &str = r#"[package]
name = "bulwark-query"
version = "@VERSION@"
edition = "2021"
license = "Apache-2.0"
publish = false

[dependencies]
serde = { version = "1", features = ["derive"] }
thiserror = "2"
"#;

const RUST_CARGO: &str = r#"[package]
name = "@NAME@"
version = "0.1.0"
edition = "2021"
publish = false

# The manifest embedded in the component: who wrote it, the checks it provides (ids or
# prefixes ending in `*`) and the evidence it asks for (operators grant it with --grant).
[package.metadata.bulwark]
author = "@AUTHOR@"
checks = ["@PREFIX@.*"]
grants = [{ scope = "containers" }]

[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
bulwark-plugin-sdk = { path = "sdk" }

[dev-dependencies]
serde_json = "1"

# `bulwark plugin build` builds with this profile: a small component.
[profile.plugin]
inherits = "release"
opt-level = "s"
lto = true
codegen-units = 1
strip = true

# A project of its own, whatever directory it sits in.
[workspace]
"#;

const RUST_LIB: &str = r#"//! @NAME@: a Bulwark check plugin. Build it with `bulwark plugin build`, try it with
//! `bulwark plugin test --snapshot tests/snapshot.json --expect tests/expect.toml`.

use bulwark_sdk::prelude::*;

/// Containers should have a memory limit: flag those without one.
fn memory_limited(ctx: &mut Ctx) -> Verdict {
    Ok(ctx.each_container(|_, c| {
        Ok((c.host_config.memory == 0).then(|| "no memory limit".to_string()))
    }))
}

bulwark_sdk::plugin! {
    Check::new("@PREFIX@.1", "Ensure containers have a memory limit", memory_limited)
        .section("@PREFIX@", "@NAME@ checks")
        .automated()
        .scored()
        .remediation("Run containers with --memory (Compose: mem_limit).")
        .tag("@NAME@"),
}

#[cfg(test)]
mod tests {
    use bulwark_sdk::testing::TestHost;
    use bulwark_sdk::Status;

    #[test]
    fn the_recorded_host_has_two_containers_without_a_limit() {
        let host = TestHost::from_snapshot(include_str!("../tests/snapshot.json")).unwrap();
        let f = host.run(&super::__bulwark_checks(), "@PREFIX@.1");
        assert_eq!(f.status, Status::Warn, "{f:?}");
        assert_eq!(f.subjects.len(), 2, "{f:?}");
    }
}
"#;

const CHECKS_TOML: &str = r#"# What each check verifies, why it matters, how it decides, how to fix it and what the
# fix costs: embedded into the component and shown by `bulwark explain`, `-p`, HTML,
# SARIF, JUnit and Markdown. One table per check id; every field required.

["@PREFIX@.1"]
what = "Verifies that every container has a memory limit."
why = "Without one, a container can take all of the host's memory and push the kernel's OOM killer onto its neighbours, or onto the daemon."
decides = "Reads `HostConfig.Memory` from each selected container's inspect document: 0 (no limit) is a WARN naming the container; otherwise PASS. No container: SKIP."
remediation = "Give each container a limit above its peak use."
example = '''
docker run --memory 512m IMAGE
# Compose
mem_limit: 512m
'''
impact = "A container that needs more than its limit is killed by the OOM killer."
"#;

const EXPECT_TOML: &str = r#"# What `bulwark plugin test --snapshot tests/snapshot.json --expect tests/expect.toml`
# must find: check id = status (pass, warn, info, note, undecided, skipped, error).
"@PREFIX@.1" = "warn"
"#;

const PY_APP: &str = r#""""@NAME@: a Bulwark check plugin in Python, for componentize-py.

Build it with `bulwark plugin build`, try it with
`bulwark plugin test --snapshot tests/snapshot.json --expect tests/expect.toml`.
The plugin sees the host only through `evidence`; its WASI has no files, no network, no
environment and a clock fixed at the audit's start.
"""

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import evidence
from wit_world.imports.types import (
    CheckMeta,
    ContainerRef,
    Finding,
    Status,
    Subject_Container,
)

PREFIX = "@PREFIX@"


def meta(id, title):
    return CheckMeta(
        id=id,
        title=title,
        section=PREFIX,
        section_title="@NAME@ checks",
        level=1,
        scored=True,
        automated=True,
        description="",
        remediation="Run containers with --memory (Compose: mem_limit).",
        remediation_impact="",
        tags=["@NAME@"],
    )


def memory_limited(check_id):
    # An evidence error (Err) means the check cannot decide: UNDECIDED with the reason.
    try:
        containers = evidence.containers()
    except Err as e:
        return Finding(check_id, Status.UNDECIDED, "cannot list containers", str(e.value), [], [], [])
    if not containers:
        return Finding(check_id, Status.SKIPPED, "no containers selected", "no containers selected", [], [], [])
    offenders = []
    for c in containers:
        # The typed record the host read from the container's inspect document (no JSON to
        # parse here); evidence.container_inspect(c.id) gives the whole document.
        try:
            record = evidence.container(c.id)
        except Err as e:
            return Finding(check_id, Status.UNDECIDED, f"cannot inspect {c.name}", str(e.value), [], [], [])
        if record.host_config.memory == 0:
            offenders.append(c)
    keys = ["container-list"] + [f"container:{c.id}" for c in containers]
    if not offenders:
        return Finding(check_id, Status.PASS, f"{len(containers)} containers checked", None, [], [], keys)
    return Finding(
        check_id,
        Status.WARN,
        f"{len(offenders)} of {len(containers)} containers",
        None,
        [Subject_Container(ContainerRef(c.id, c.name)) for c in offenders],
        [f"{c.name}: no memory limit" for c in offenders],
        keys,
    )


CHECKS = {f"{PREFIX}.1": ("Ensure containers have a memory limit", memory_limited)}


class Checks(exports.Checks):
    def describe(self):
        return [meta(i, t) for i, (t, _) in CHECKS.items()]

    def run(self, ctx, ids):
        return [CHECKS[i][1](i) for i in ids if i in CHECKS]


class Rules(exports.Rules):
    def describe_rules(self):
        return []

    def on_events(self, events):
        return []


class Sources(exports.Sources):
    def describe_sources(self):
        return []
"#;

const PY_MANIFEST: &str = r#"# The manifest `bulwark plugin build` embeds in the component.
name = "@NAME@"
version = "0.1.0"
author = "@AUTHOR@"
checks = ["@PREFIX@.*"]
grants = [{ scope = "containers" }]
"#;

const README: &str = r#"# @NAME@

A Bulwark check plugin (@LANG@), made by `bulwark plugin new`.

```sh
bulwark plugin build                                   # -> the component, its size, digest and scopes
bulwark plugin test --snapshot tests/snapshot.json --expect tests/expect.toml
bulwark plugin keygen me.key                           # once: me.key (secret) and me.key.pub
bulwark plugin sign @FILE@ --key me.key
bulwark plugin push @FILE@ registry.example/you/@NAME@:0.1.0
```

An operator then runs it with:

```sh
bulwark plugin pull registry.example/you/@NAME@:0.1.0 -o packs/
bulwark plugin inspect packs/@NAME@.wasm --trusted-key me.key.pub
bulwark audit --plugins packs/ --trusted-key me.key.pub --grant @NAME@:containers
```

- The checks: @CODE@. Each id must match `checks` in the manifest (@MANIFEST@).
- Their documentation: `checks.toml` (one table per check id).
- The evidence it may ask for: `grants` in the manifest; anything else is denied.
- What a check can ask and get, with examples, and the sandbox's limits: `REFERENCE.md`.
- `tests/snapshot.json` was recorded on a real dockerd. Record your own host, with what your
  checks ask, by `bulwark collect --plugins target/bulwark --allow-unsigned --grant-requested
  -o tests/myhost.json`, and put the statuses you expect in `tests/expect.toml`.
@EXTRA@"#;

/// The language of a new plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
}

/// The id prefix of a plugin's checks: its name in capitals, letters and digits only.
fn prefix(name: &str) -> String {
    let p: String = name
        .trim_start_matches("bulwark-plugin-")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if p.is_empty() {
        "X".to_string()
    } else {
        p
    }
}

fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    vars.iter().fold(template.to_string(), |t, (k, v)| {
        t.replace(&format!("@{k}@"), v)
    })
}

fn write(dir: &Path, rel: &str, text: &str) -> Result<(), AuthorError> {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| AuthorError::Io {
            what: "creating",
            path: parent.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(&path, text).map_err(|source| AuthorError::Io {
        what: "writing",
        path,
        source,
    })
}

/// Write a new plugin project `name` in `dir` (which must not exist or be empty).
pub fn new(name: &str, lang: Lang, dir: &Path, author: &str) -> Result<PathBuf, AuthorError> {
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        || name.is_empty()
    {
        return Err(AuthorError::Name(name.to_string()));
    }
    if dir.exists()
        && std::fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(AuthorError::Exists(dir.to_path_buf()));
    }
    let prefix = prefix(name);
    let version = env!("CARGO_PKG_VERSION");
    let abi = crate::abi::ABI_VERSION;
    let file = format!("{}.wasm", name.trim_start_matches("bulwark-plugin-"));
    let vars = [
        ("NAME", name),
        ("PREFIX", prefix.as_str()),
        ("AUTHOR", author),
        ("VERSION", version),
        ("ABI", abi),
        ("FILE", file.as_str()),
        ("CPY", bulwark_build::COMPONENTIZE_PY),
    ];
    write(dir, "checks.toml", &fill(CHECKS_TOML, &vars))?;
    if let Ok(page) = super::reference::markdown(bulwark_build::WIT) {
        write(dir, "REFERENCE.md", &page)?;
    }
    write(dir, "tests/snapshot.json", SNAPSHOT)?;
    write(dir, "tests/expect.toml", &fill(EXPECT_TOML, &vars))?;
    match lang {
        Lang::Rust => {
            write(dir, "Cargo.toml", &fill(RUST_CARGO, &vars))?;
            write(dir, "src/lib.rs", &fill(RUST_LIB, &vars))?;
            for (rel, text) in SDK {
                write(&dir.join("sdk"), rel, text)?;
            }
            write(dir, "sdk/Cargo.toml", &fill(SDK_CARGO, &vars))?;
            write(dir, "sdk/query/Cargo.toml", &fill(QUERY_CARGO, &vars))?;
            let readme_vars = [
                ("LANG", "Rust"),
                ("CODE", "`src/lib.rs`, declared with `bulwark_sdk::plugin!`"),
                ("MANIFEST", "`[package.metadata.bulwark]` in Cargo.toml"),
                ("EXTRA", "\nIt needs a Rust toolchain with the `wasm32-unknown-unknown` target\n(`rustup target add wasm32-unknown-unknown`). `cargo test` runs the check natively on the\nsnapshot. The SDK is vendored in `sdk/` (Bulwark's ABI of this binary).\n"),
            ];
            write(dir, "README.md", &fill(&fill(README, &readme_vars), &vars))?;
        }
        Lang::Python => {
            write(dir, "app.py", &fill(PY_APP, &vars))?;
            write(dir, "bulwark.toml", &fill(PY_MANIFEST, &vars))?;
            write(
                dir,
                "wit/bulwark.wit",
                include_str!("../../../plugin-sdk/wit/bulwark.wit"),
            )?;
            let readme_vars = [
                ("LANG", "Python"),
                ("CODE", "`app.py`"),
                ("MANIFEST", "`bulwark.toml`"),
                ("EXTRA", "\nIt needs componentize-py (`pip install componentize-py==@CPY@`), which turns `app.py`\nand the WIT in `wit/` into a component. The component imports WASI; Bulwark gives it\nnothing behind it: no files, no network, no environment, no arguments, a clock fixed at\nthe audit's start.\n"),
            ];
            write(dir, "README.md", &fill(&fill(README, &readme_vars), &vars))?;
        }
    }
    Ok(dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sdk_source_is_vendored() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-sdk/src");
        for e in std::fs::read_dir(root).unwrap() {
            let name = format!("src/{}", e.unwrap().file_name().to_string_lossy());
            assert!(
                SDK.iter().any(|(rel, _)| *rel == name),
                "{name} is not vendored"
            );
        }
        assert_eq!(prefix("bulwark-plugin-my-pack"), "MYPACK");
        assert_eq!(prefix("--"), "X");
    }

    #[test]
    fn a_project_is_written_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("acme");
        new("acme", Lang::Rust, &p, "A. Author").unwrap();
        let cargo = std::fs::read_to_string(p.join("Cargo.toml")).unwrap();
        assert!(cargo.contains("checks = [\"ACME.*\"]"), "{cargo}");
        assert!(
            p.join("sdk/wit/bulwark.wit").is_file() && p.join("sdk/query/src/lib.rs").is_file()
        );
        assert!(matches!(
            new("acme", Lang::Rust, &p, "x"),
            Err(AuthorError::Exists(_))
        ));
        assert!(matches!(
            new("a b", Lang::Rust, &dir.path().join("y"), "x"),
            Err(AuthorError::Name(_))
        ));
    }
}
