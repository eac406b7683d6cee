//! Loading plugins for an audit: the built-ins embedded in the binary, and every `*.wasm`
//! in the operator's plugin directories, each checked against the trust policy (signatures)
//! before anything of it is compiled, then compiled with the grants the operator allows.

use crate::runtime::{Origin, Plugin, Runtime};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A plugin that failed to load.
#[derive(Debug, Clone)]
pub struct LoadFailure {
    pub name: String,
    pub origin: Origin,
    pub reason: String,
    pub kind: FailureKind,
}

/// What kind of refusal a load failure is, for the front end's hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// No signature, and unsigned plugins are not allowed.
    Unsigned,
    /// Signed by a key that is not trusted.
    UntrustedKey,
    Other,
}

/// What the operator allows third-party plugins: evidence scopes, and whose signatures.
#[derive(Debug, Clone, Default)]
pub struct LoadPolicy {
    pub grants: crate::runtime::GrantPolicy,
    pub trust: crate::trust::Trust,
}

/// Load the built-in plugins and every `*.wasm` in `dirs` (sorted by file name).
/// Unreadable directories are an error; a bad, unsigned or tampered plugin file is a
/// [`LoadFailure`], and nothing of it runs.
pub async fn load_plugins(
    runtime: &Arc<Runtime>,
    builtin: bool,
    dirs: &[PathBuf],
    policy: &LoadPolicy,
) -> std::io::Result<(Vec<Arc<Plugin>>, Vec<LoadFailure>)> {
    let mut sources: Vec<Source> = Vec::new();
    if builtin {
        for (name, bytes) in crate::runtime::BUILTIN {
            sources.push((name.to_string(), Origin::Builtin, bytes.to_vec()));
        }
    }
    let mut failures = Vec::new();
    for dir in dirs {
        read_dir(dir, policy, &mut sources, &mut failures)?;
    }
    let plugins = compile(runtime, sources, policy, &mut failures).await;
    Ok((plugins, failures))
}

/// A plugin to compile: (name, origin, component bytes).
type Source = (String, Origin, Vec<u8>);

/// The trusted `*.wasm` files of one plugin directory, in file-name order.
fn read_dir(
    dir: &Path,
    policy: &LoadPolicy,
    sources: &mut Vec<Source>,
    failures: &mut Vec<LoadFailure>,
) -> std::io::Result<()> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| {
            std::io::Error::new(e.kind(), format!("plugin directory {}: {e}", dir.display()))
        })?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .collect();
    files.sort();
    for f in files {
        let name = f
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let origin = Origin::File(f.display().to_string());
        match std::fs::read(&f) {
            Ok(bytes) => match policy.trust.check(&f, &bytes) {
                Ok(signer) => {
                    if let Some(k) = signer {
                        tracing::info!("plugin {name}: signature by key {k} verified");
                    }
                    sources.push((name, origin, bytes))
                }
                Err(e) => failures.push(LoadFailure {
                    name,
                    origin,
                    reason: format!("signature check failed: {e}"),
                    kind: match e {
                        crate::trust::TrustError::Unsigned(_) => FailureKind::Unsigned,
                        crate::trust::TrustError::UntrustedKey(_) => FailureKind::UntrustedKey,
                        _ => FailureKind::Other,
                    },
                }),
            },
            Err(e) => failures.push(LoadFailure {
                name,
                origin,
                reason: format!("cannot read {}: {e}", f.display()),
                kind: FailureKind::Other,
            }),
        }
    }
    Ok(())
}

/// Compile each source on a blocking thread (cranelift is CPU-bound), in order.
async fn compile(
    runtime: &Arc<Runtime>,
    sources: Vec<Source>,
    policy: &LoadPolicy,
    failures: &mut Vec<LoadFailure>,
) -> Vec<Arc<Plugin>> {
    let mut plugins = Vec::new();
    let handle = tokio::runtime::Handle::current();
    for (name, origin, bytes) in sources {
        let rt = runtime.clone();
        let h = handle.clone();
        let (n, o) = (name.clone(), origin.clone());
        let grants = policy.grants.clone();
        let loaded = tokio::task::spawn_blocking(move || rt.load(&n, o, &bytes, h, &grants)).await;
        match loaded {
            Ok(Ok(p)) => plugins.push(Arc::new(p)),
            Ok(Err(e)) => failures.push(LoadFailure {
                name,
                origin,
                reason: crate::text::error_chain(&e),
                kind: FailureKind::Other,
            }),
            Err(e) => failures.push(LoadFailure {
                name,
                origin,
                reason: format!("loader crashed: {e}"),
                kind: FailureKind::Other,
            }),
        }
    }
    plugins
}
