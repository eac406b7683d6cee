//! Compiled plugins kept between runs, and verified before they are used. wasmtime loads a
//! compiled artefact without checking its code, so each one is stored with the SHA-256 of
//! its bytes: an artefact that is truncated, corrupted or written by another build does not
//! match, is compiled again and replaced, and is never loaded. The cache only saves time:
//! a directory that cannot be created or written costs a compilation, never the audit.

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::component::Component;
use wasmtime::Engine;

const DIGEST: usize = 32;

/// A cache directory that cannot be read or written is said once, not once per plugin.
static SAID_UNUSABLE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn unusable(what: std::fmt::Arguments) {
    if !SAID_UNUSABLE.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!("{what}");
    }
}

/// Where compiled components are kept.
pub struct CodeCache {
    dir: PathBuf,
}

impl CodeCache {
    pub fn new(dir: PathBuf) -> Self {
        CodeCache { dir }
    }

    /// The compiled form of `wasm` for `engine`: from the cache when a verified artefact is
    /// there, else compiled now (and stored for next time).
    pub fn component(&self, engine: &Engine, wasm: &[u8]) -> wasmtime::Result<Component> {
        let path = self.path_for(engine, wasm);
        match std::fs::read(&path) {
            Ok(stored) => match verified(&stored) {
                // SAFETY: the bytes are exactly what `precompile_component` produced for an
                // engine with this configuration (the digest and the key say so).
                Some(code) => match unsafe { Component::deserialize(engine, code) } {
                    Ok(c) => return Ok(c),
                    Err(e) => {
                        tracing::warn!(path = %path.display(), "cached plugin code refused ({e:#}); compiling again")
                    }
                },
                None => {
                    tracing::warn!(path = %path.display(), "cached plugin code is damaged; compiling again")
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => unusable(format_args!(
                "cannot read the plugin cache in {} ({e}); plugins are compiled each run",
                self.dir.display()
            )),
        }
        let code = engine.precompile_component(wasm)?;
        if let Err(e) = store(&path, &code) {
            unusable(format_args!(
                "cannot write the plugin cache in {} ({e}); the next run compiles again",
                self.dir.display()
            ));
        }
        // SAFETY: `code` was produced by `precompile_component` on this engine just now.
        unsafe { Component::deserialize(engine, &code) }
    }

    /// One file per (component, engine configuration), under this build's directory.
    fn path_for(&self, engine: &Engine, wasm: &[u8]) -> PathBuf {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        let mut key = Sha256::new();
        key.update(wasm);
        key.update(h.finish().to_le_bytes());
        self.dir
            .join(format!("bulwark-{}", env!("CARGO_PKG_VERSION")))
            .join(format!("{}.cwasm", hex::encode(key.finalize())))
    }
}

/// The code of a stored artefact when its trailing digest matches it.
fn verified(stored: &[u8]) -> Option<&[u8]> {
    let split = stored.len().checked_sub(DIGEST)?;
    let (code, digest) = stored.split_at(split);
    (Sha256::digest(code).as_slice() == digest && !code.is_empty()).then_some(code)
}

/// Write code and digest to a temporary file beside `path` and rename it into place, so a
/// reader never sees half an artefact.
fn store(path: &Path, code: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(code)?;
    tmp.write_all(&Sha256::digest(code))?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_artefact_is_not_verified() {
        let code = b"\x7fELF some compiled code".to_vec();
        let mut stored = code.clone();
        stored.extend_from_slice(&Sha256::digest(&code));
        assert_eq!(verified(&stored), Some(&code[..]));
        let mut flipped = stored.clone();
        flipped[3] ^= 1;
        assert_eq!(verified(&flipped), None);
        assert_eq!(verified(&stored[..stored.len() / 2]), None);
        assert_eq!(verified(&[]), None);
    }
}
