//! What plugin authors use, outside this repository: [`scaffold`] writes a new project
//! (`plugin new`), [`build`] turns one into a component with its manifest and docs
//! embedded (`plugin build`), [`trial`] runs a component in the real sandbox on a recorded
//! snapshot and compares its verdicts with what the author expects (`plugin test`);
//! [`reference`] documents the contract from the WIT (`plugin reference`).

pub mod build;
pub mod reference;
pub mod scaffold;
pub mod trial;

pub use scaffold::Lang;

use std::path::PathBuf;

/// Why an author's command failed. The texts say what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum AuthorError {
    #[error("{what} {path}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0:?} is not a plugin name (letters, digits, '-' and '_')")]
    Name(String),
    #[error("{0} exists and is not empty; choose another name or directory")]
    Exists(PathBuf),
    #[error("{0} is not a plugin project (no Cargo.toml, nor app.py with bulwark.toml)")]
    NotAProject(PathBuf),
    #[error("no Rust toolchain: `rustc` cannot be run (install one with rustup)")]
    NoRust(#[source] std::io::Error),
    #[error(
        "the Rust toolchain at {sysroot} has no {target} target; install it with `rustup target add {target}`"
    )]
    NoWasmTarget {
        target: &'static str,
        sysroot: String,
    },
    #[error(
        "componentize-py cannot be run; install it with `pip install componentize-py=={version}`"
    )]
    NoComponentizePy {
        version: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("componentize-py failed ({status}); its messages are above")]
    ComponentizePy { status: std::process::ExitStatus },
    #[error(transparent)]
    Build(#[from] bulwark_build::BuildError),
    #[error("{path}: {reason}")]
    Manifest { path: PathBuf, reason: String },
    #[error("{0}: the manifest declares no checks (`checks = [\"PREFIX.*\"]`)")]
    NoChecks(PathBuf),
    #[error("{what} clashes with the built-in pack {pack}: choose another {kind}")]
    Clash {
        what: String,
        pack: String,
        kind: &'static str,
    },
    #[error(
        "the component was built for ABI bulwark:plugin@{plugin}; this bulwark accepts {host} (same major.minor, patch at most its own): regenerate the project's WIT (`bulwark plugin new` writes this binary's)"
    )]
    Abi { plugin: String, host: String },
    #[error(
        "the component implements no bulwark:plugin interface (is it built from the Bulwark WIT?)"
    )]
    NoAbi,
    #[error("the component does not load")]
    Load(#[source] crate::runtime::RuntimeError),
    #[error(transparent)]
    Snapshot(#[from] crate::evidence::snapshot::SnapshotError),
    #[error("{path} is not an expectations file ({reason})")]
    Expect { path: PathBuf, reason: String },
}

impl AuthorError {
    fn io(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| AuthorError::Io { what, path, source }
    }
}
