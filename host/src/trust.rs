//! Plugin signatures: ed25519 over the component's digest and its manifest's digest, in a
//! `PLUGIN.wasm.sig` file beside the component. Keys the operator trusts are `.pub` files
//! (`--trusted-key`, `/etc/bulwark/trusted-keys/`, `$XDG_CONFIG_HOME/bulwark/trusted-keys/`).
//! Third-party plugins must verify against one of them unless `--allow-unsigned`.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

const SECRET_TAG: &str = "bulwark-ed25519-secret-v1";
const PUBLIC_TAG: &str = "bulwark-ed25519-public-v1";
const SIG_FORMAT: &str = "bulwark/plugin-signature";
/// Domain separation: a Bulwark plugin signature cannot be replayed as anything else.
const CONTEXT: &[u8] = b"bulwark-plugin-signature-v1\0";

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0} is not a Bulwark key file")]
    BadKey(String),
    #[error("{0} is not a Bulwark signature file")]
    BadSignatureFile(String),
    #[error("not signed (no {0}); unsigned plugins are refused unless allowed")]
    Unsigned(String),
    #[error("signed by key {0}, which is not trusted here")]
    UntrustedKey(String),
    #[error("signature does not match: the component or its manifest was changed after signing")]
    Mismatch,
    #[error("cannot generate a key")]
    Random(#[source] getrandom::Error),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TrustError + '_ {
    move |source| TrustError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A trusted public key and its id (first 16 hex digits of its SHA-256).
#[derive(Debug, Clone)]
pub struct PublicKey {
    pub id: String,
    key: VerifyingKey,
}

fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

fn decode32(text: &str) -> Option<[u8; 32]> {
    B64.decode(text.trim()).ok()?.try_into().ok()
}

impl PublicKey {
    pub fn read(path: &Path) -> Result<Self, TrustError> {
        let text = std::fs::read_to_string(path).map_err(io(path))?;
        let bad = || TrustError::BadKey(path.display().to_string());
        let mut words = text.split_whitespace();
        if words.next() != Some(PUBLIC_TAG) {
            return Err(bad());
        }
        let bytes = words.next().and_then(decode32).ok_or_else(bad)?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| bad())?;
        Ok(PublicKey {
            id: key_id(&key),
            key,
        })
    }
}

/// Generate a key pair: `path` (secret, mode 0600) and `path.pub`. Returns the key id.
pub fn keygen(path: &Path) -> Result<String, TrustError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(TrustError::Random)?;
    let sk = SigningKey::from_bytes(&seed);
    let vk = sk.verifying_key();
    let id = key_id(&vk);
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(io(path))?;
        writeln!(f, "{SECRET_TAG} {}", B64.encode(seed)).map_err(io(path))?;
    }
    let public = PathBuf::from(format!("{}.pub", path.display()));
    std::fs::write(
        &public,
        format!("{PUBLIC_TAG} {} key-id:{id}\n", B64.encode(vk.as_bytes())),
    )
    .map_err(io(&public))?;
    Ok(id)
}

fn read_secret(path: &Path) -> Result<SigningKey, TrustError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    let bad = || TrustError::BadKey(path.display().to_string());
    let mut words = text.split_whitespace();
    if words.next() != Some(SECRET_TAG) {
        return Err(bad());
    }
    let seed = words.next().and_then(decode32).ok_or_else(bad)?;
    Ok(SigningKey::from_bytes(&seed))
}

/// The `.sig` file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SignatureFile {
    pub format: String,
    pub version: u32,
    pub key_id: String,
    pub component_sha256: String,
    pub manifest_sha256: String,
    pub signature: String,
}

fn message(component_sha: &[u8], manifest_sha: &[u8]) -> Vec<u8> {
    [CONTEXT, component_sha, manifest_sha].concat()
}

/// Digests of a component and of its manifest section (empty when it has none).
fn digests(component: &[u8]) -> ([u8; 32], [u8; 32]) {
    let manifest = crate::runtime::manifest::inspect(component)
        .ok()
        .and_then(|i| i.manifest)
        .unwrap_or_default();
    (
        Sha256::digest(component).into(),
        Sha256::digest(&manifest).into(),
    )
}

/// Sign a component with the secret key at `key`.
pub fn sign(component: &[u8], key: &Path) -> Result<SignatureFile, TrustError> {
    let sk = read_secret(key)?;
    let (c, m) = digests(component);
    let sig = sk.sign(&message(&c, &m));
    Ok(SignatureFile {
        format: SIG_FORMAT.to_string(),
        version: 1,
        key_id: key_id(&sk.verifying_key()),
        component_sha256: hex::encode(c),
        manifest_sha256: hex::encode(m),
        signature: B64.encode(sig.to_bytes()),
    })
}

/// Where a component's signature lives.
pub fn signature_path(component: &Path) -> PathBuf {
    PathBuf::from(format!("{}.sig", component.display()))
}

pub fn read_signature(path: &Path) -> Result<SignatureFile, TrustError> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    let s: SignatureFile = serde_json::from_slice(&bytes)
        .map_err(|_| TrustError::BadSignatureFile(path.display().to_string()))?;
    if s.format != SIG_FORMAT || s.version != 1 {
        return Err(TrustError::BadSignatureFile(path.display().to_string()));
    }
    Ok(s)
}

/// Verify a component against its signature and the trusted keys; the signer's key id.
pub fn verify(
    component: &[u8],
    sig: &SignatureFile,
    trusted: &[PublicKey],
) -> Result<String, TrustError> {
    let key = trusted
        .iter()
        .find(|k| k.id == sig.key_id)
        .ok_or_else(|| TrustError::UntrustedKey(sig.key_id.clone()))?;
    let (c, m) = digests(component);
    // The recorded digests are informative; the signature is checked over the actual ones.
    let bytes: [u8; 64] = B64
        .decode(&sig.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(TrustError::Mismatch)?;
    key.key
        .verify(
            &message(&c, &m),
            &ed25519_dalek::Signature::from_bytes(&bytes),
        )
        .map_err(|_| TrustError::Mismatch)?;
    Ok(key.id.clone())
}

/// The operator's trust settings for third-party plugins.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    pub keys: Vec<PublicKey>,
    pub allow_unsigned: bool,
}

impl Trust {
    /// Keys from `extra` files plus every `*.pub` in the default trusted-key directories.
    pub fn load(extra: &[PathBuf], allow_unsigned: bool) -> Result<Trust, TrustError> {
        let mut keys = Vec::new();
        for p in extra {
            keys.push(PublicKey::read(p)?);
        }
        for dir in default_key_dirs() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut files: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "pub"))
                .collect();
            files.sort();
            for f in files {
                match PublicKey::read(&f) {
                    Ok(k) => keys.push(k),
                    Err(e) => tracing::warn!("ignoring trusted key: {e}"),
                }
            }
        }
        Ok(Trust {
            keys,
            allow_unsigned,
        })
    }

    /// Decide whether a third-party component at `path` may load: `Ok(Some(key id))` when
    /// signed by a trusted key, `Ok(None)` when unsigned and that is allowed.
    pub fn check(&self, path: &Path, component: &[u8]) -> Result<Option<String>, TrustError> {
        let sig_path = signature_path(path);
        if !sig_path.exists() {
            return if self.allow_unsigned {
                Ok(None)
            } else {
                Err(TrustError::Unsigned(sig_path.display().to_string()))
            };
        }
        let sig = read_signature(&sig_path)?;
        // A present but failing signature never loads, even with --allow-unsigned.
        verify(component, &sig, &self.keys).map(Some)
    }
}

fn default_key_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("/etc/bulwark/trusted-keys")];
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
    if let Some(c) = config {
        dirs.push(c.join("bulwark/trusted-keys"));
    }
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_tamper() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k");
        let id = keygen(&key).unwrap();
        let public = PublicKey::read(&dir.path().join("k.pub")).unwrap();
        assert_eq!(public.id, id);
        let component = b"\0asm\x0d\0\x01\0pretend".to_vec();
        let sig = sign(&component, &key).unwrap();
        assert_eq!(
            verify(&component, &sig, std::slice::from_ref(&public)).unwrap(),
            id
        );
        let mut tampered = component.clone();
        tampered[9] ^= 1;
        assert!(matches!(
            verify(&tampered, &sig, std::slice::from_ref(&public)),
            Err(TrustError::Mismatch)
        ));
        assert!(matches!(
            verify(&component, &sig, &[]),
            Err(TrustError::UntrustedKey(_))
        ));
        let other = dir.path().join("other");
        keygen(&other).unwrap();
        let forged = sign(&component, &other).unwrap();
        let mut relabelled = forged.clone();
        relabelled.key_id = id.clone();
        assert!(matches!(
            verify(&component, &relabelled, &[public]),
            Err(TrustError::Mismatch)
        ));
        assert!(keygen(&key).is_err(), "never overwrites a key");
        assert!(
            PublicKey::read(&key).is_err(),
            "a secret key is not a public key"
        );
    }
}
