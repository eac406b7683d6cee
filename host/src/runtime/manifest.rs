//! A plugin's manifest and what a component file says about itself before anything of it
//! runs: the `bulwark-manifest` custom section (name, version, author, ABI, the check ids it
//! provides, the evidence scopes it asks for), its imports and exports, size and digest.
//! What the operator then allows of those scopes is [`super::grants`]' business.

use crate::runtime::grants::Grant;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The component custom section holding the manifest (written by `bulwark plugin build`).
pub const SECTION: &str = "bulwark-manifest";
/// The manifest format this host reads.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub manifest: u32,
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub author: String,
    /// The ABI (WIT package) version it was built against.
    pub abi: String,
    /// Check ids it provides: exact ids or `PREFIX.*`.
    pub checks: Vec<String>,
    pub grants: Vec<Grant>,
    /// Real random bytes from WASI (otherwise they come from a seed fixed per audit).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub random: bool,
}

/// Why a component file's manifest, structure or imports are refused. The texts read
/// after "plugin NAME cannot be loaded:".
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("its manifest is malformed: {0}")]
    Malformed(#[source] serde_json::Error),
    #[error("its manifest has format {0}, this host reads format {FORMAT}")]
    Format(u32),
    #[error("its manifest names it {0:?}: not a plugin name")]
    Name(String),
    #[error("its manifest asks for the path {0:?}: not an absolute glob")]
    Path(String),
    #[error("it was built for ABI bulwark:plugin@{plugin}; this host speaks {host}")]
    Abi { plugin: String, host: String },
    #[error("not a valid WebAssembly file: {0}")]
    NotWasm(#[source] wasmparser::BinaryReaderError),
    #[error("unreadable {what}: {source}")]
    Unreadable {
        what: &'static str,
        #[source]
        source: wasmparser::BinaryReaderError,
    },
    #[error("it has two manifest sections")]
    TwoManifests,
    #[error("a core WebAssembly module, not a component (build it with `bulwark plugin build`)")]
    CoreModule,
    #[error("it imports {0:?}, outside the Bulwark ABI and WASI 0.2 (plugins get nothing else)")]
    ForeignImport(String),
    #[error("it imports {import:?}: built for ABI {version}, this host speaks {host}")]
    ImportAbi {
        import: String,
        version: String,
        host: String,
    },
}

impl Manifest {
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let m: Manifest = serde_json::from_slice(bytes).map_err(ManifestError::Malformed)?;
        if m.manifest != FORMAT {
            return Err(ManifestError::Format(m.manifest));
        }
        let safe = |s: &str| {
            s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        if m.name.is_empty() || m.name.len() > 64 || !safe(&m.name) {
            return Err(ManifestError::Name(m.name));
        }
        for g in &m.grants {
            if let Grant::Files { paths } | Grant::FileContents { paths } = g {
                for p in paths {
                    if !p.starts_with('/') || glob::Pattern::new(p).is_err() {
                        return Err(ManifestError::Path(p.clone()));
                    }
                }
            }
        }
        Ok(m)
    }

    /// Whether it declares check `id`.
    pub fn provides(&self, id: &str) -> bool {
        self.checks.iter().any(|c| match c.strip_suffix(".*") {
            Some(prefix) => id.strip_prefix(prefix).is_some_and(|r| r.starts_with('.')),
            None => c == id,
        })
    }

    /// Refuse a manifest for another ABI major version (minor versions only add).
    /// A host takes plugins built for its ABI or an earlier one on its track (a newer one
    /// may need what this host does not have).
    pub fn check_abi(&self, host_abi: &str) -> Result<(), ManifestError> {
        let patch = |v: &str| {
            v.split('.')
                .nth(2)
                .and_then(|p| p.parse::<u64>().ok())
                .unwrap_or(0)
        };
        if abi_major(&self.abi) != abi_major(host_abi) || patch(&self.abi) > patch(host_abi) {
            return Err(ManifestError::Abi {
                plugin: self.abi.clone(),
                host: host_abi.to_string(),
            });
        }
        Ok(())
    }
}

/// The compatibility-defining part of a semver: the major, or `0.minor` before 1.0.
fn abi_major(v: &str) -> String {
    let mut parts = v.split('.');
    match (parts.next(), parts.next()) {
        (Some("0"), Some(minor)) => format!("0.{minor}"),
        (Some(major), _) => major.to_string(),
        _ => v.to_string(),
    }
}

/// What a component file holds, read without running it.
#[derive(Debug, Clone)]
pub struct Inspection {
    pub size: usize,
    pub sha256: String,
    /// The raw manifest section, when there is one.
    pub manifest: Option<Vec<u8>>,
    /// The raw check documentation section (`bulwark-docs`), when there is one.
    pub docs: Option<Vec<u8>>,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
}

/// Read a component's top-level custom sections, imports and exports.
pub fn inspect(bytes: &[u8]) -> Result<Inspection, ManifestError> {
    use wasmparser::{Parser, Payload};
    let mut out = Inspection {
        size: bytes.len(),
        sha256: hex::encode(Sha256::digest(bytes)),
        manifest: None,
        docs: None,
        imports: Vec::new(),
        exports: Vec::new(),
    };
    let mut depth = 0usize;
    let mut component = false;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(ManifestError::NotWasm)?;
        match payload {
            Payload::Version { encoding, .. } if depth == 0 => {
                component = matches!(encoding, wasmparser::Encoding::Component);
            }
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::CustomSection(r) if depth == 0 && r.name() == SECTION => {
                if out.manifest.is_some() {
                    return Err(ManifestError::TwoManifests);
                }
                out.manifest = Some(r.data().to_vec());
            }
            Payload::CustomSection(r) if depth == 0 && r.name() == bulwark_build::DOCS_SECTION => {
                out.docs = Some(r.data().to_vec());
            }
            Payload::ComponentImportSection(r) if depth == 0 => {
                for i in r {
                    let i = i.map_err(|source| ManifestError::Unreadable {
                        what: "import",
                        source,
                    })?;
                    out.imports.push(i.name.name.to_string());
                }
            }
            Payload::ComponentExportSection(r) if depth == 0 => {
                for e in r {
                    let e = e.map_err(|source| ManifestError::Unreadable {
                        what: "export",
                        source,
                    })?;
                    out.exports.push(e.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    if !component {
        return Err(ManifestError::CoreModule);
    }
    Ok(out)
}

/// Imports a plugin may have: the Bulwark interfaces of this ABI, nothing else (no WASI,
/// no other host APIs).
pub fn check_imports(imports: &[String], host_abi: &str) -> Result<(), ManifestError> {
    for i in imports {
        if is_wasi(i) {
            continue;
        }
        let Some(rest) = i.strip_prefix("bulwark:plugin/") else {
            return Err(ManifestError::ForeignImport(i.clone()));
        };
        let version = rest.split_once('@').map(|(_, v)| v).unwrap_or("");
        if abi_major(version) != abi_major(host_abi) {
            return Err(ManifestError::ImportAbi {
                import: i.clone(),
                version: version.to_string(),
                host: host_abi.to_string(),
            });
        }
    }
    Ok(())
}

/// The WASI 0.2 packages the host links (with nothing behind them: see `runtime::wasi`).
const WASI_PACKAGES: &[&str] = &["cli", "clocks", "filesystem", "io", "random", "sockets"];

/// Whether an import is one of WASI 0.2's interfaces (`wasi:PKG/IFACE@0.2.N`).
pub fn is_wasi(import: &str) -> bool {
    let Some(rest) = import.strip_prefix("wasi:") else {
        return false;
    };
    let Some((path, version)) = rest.split_once('@') else {
        return false;
    };
    let package = path.split('/').next().unwrap_or("");
    WASI_PACKAGES.contains(&package)
        && version
            .strip_prefix("0.2.")
            .is_some_and(|patch| !patch.is_empty() && patch.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wasi_0_2_is_accepted_and_nothing_else() {
        assert!(is_wasi("wasi:cli/environment@0.2.0"));
        assert!(is_wasi("wasi:sockets/tcp@0.2.3"));
        for no in [
            "wasi:cli/environment@0.3.0",
            "wasi:cli/environment",
            "wasi:http/outgoing-handler@0.2.0",
            "wasi:cli/environment@0.2.x",
            "wasix:cli/environment@0.2.0",
        ] {
            assert!(!is_wasi(no), "{no}");
            assert!(check_imports(&[no.to_string()], "0.1.1").is_err(), "{no}");
        }
    }

    #[test]
    fn manifests_parse_strictly() {
        let ok = br#"{"manifest":1,"name":"ex","version":"1.0.0","author":"a","abi":"0.1.0","checks":["EX.*","X1"],"grants":[{"scope":"containers"},{"scope":"files","paths":["/etc/**"]}]}"#;
        let m = Manifest::parse(ok).unwrap();
        assert!(
            m.provides("EX.1") && m.provides("X1") && !m.provides("EXX.1") && !m.provides("5.1")
        );
        assert!(m.check_abi("0.1.3").is_ok());
        assert!(m.check_abi("0.2.0").is_err());
        let newer = Manifest::parse(
            &String::from_utf8_lossy(ok)
                .replace("0.1.0", "0.1.4")
                .into_bytes(),
        )
        .unwrap();
        assert!(
            newer.check_abi("0.1.3").is_err(),
            "a plugin for a newer host is refused"
        );
        for bad in [
            &br#"{"manifest":2,"name":"ex","version":"1","abi":"0.1.0","checks":[],"grants":[]}"#[..],
            br#"{"manifest":1,"name":"../x","version":"1","abi":"0.1.0","checks":[],"grants":[]}"#,
            br#"{"manifest":1,"name":"ex","version":"1","abi":"0.1.0","checks":[],"grants":[{"scope":"network"}]}"#,
            br#"{"manifest":1,"name":"ex","version":"1","abi":"0.1.0","checks":[],"grants":[{"scope":"files","paths":["etc"]}]}"#,
            br#"{"manifest":1,"name":"ex","version":"1","abi":"0.1.0","checks":[],"grants":[],"extra":1}"#,
            b"not json",
        ] {
            assert!(Manifest::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn imports_outside_the_abi_are_refused() {
        let host = "0.1.0";
        assert!(check_imports(&["bulwark:plugin/evidence@0.1.0".into()], host).is_ok());
        assert!(check_imports(&["bulwark:plugin/evidence@0.1.2".into()], host).is_ok());
        assert!(check_imports(&["wasi:cli/environment@0.2.0".into()], host).is_ok());
        let e = check_imports(&["wasi:http/types@0.2.0".into()], host)
            .unwrap_err()
            .to_string();
        assert!(e.contains("outside the Bulwark ABI and WASI 0.2"), "{e}");
        let e = check_imports(&["bulwark:plugin/evidence@1.0.0".into()], host)
            .unwrap_err()
            .to_string();
        assert!(e.contains("built for ABI 1.0.0"), "{e}");
    }
}
