//! Plugins as OCI artifacts, after the CNCF Wasm OCI artifact layout: a config of media
//! type `application/vnd.wasm.config.v0+json`, the component as an `application/wasm`
//! layer, and (Bulwark's addition) the signature file as a second layer. Any OCI registry
//! holds them; `pull` writes `NAME.wasm` and `NAME.wasm.sig` into a plugin directory, where
//! the usual load-time checks (manifest, grants, signature) apply.

use crate::runtime::manifest::{inspect, Inspection, Manifest};
use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
pub const WASM_MEDIA_TYPE: &str = "application/wasm";
pub const SIGNATURE_MEDIA_TYPE: &str = "application/vnd.bulwark.plugin.signature.v1+json";
/// Largest component accepted from a registry.
const MAX_COMPONENT: usize = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum DistributeError {
    #[error("{0:?} is not an OCI reference (registry/repository:tag)")]
    Reference(String, #[source] oci_client::ParseError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0} is not a Bulwark plugin: {1}")]
    NotAPlugin(String, String),
    #[error("registry")]
    Registry(#[source] oci_client::errors::OciDistributionError),
    #[error("{0} holds no {WASM_MEDIA_TYPE} layer: not a Wasm artifact")]
    NoComponent(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DistributeError + '_ {
    move |source| DistributeError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A component's inspection and its (required) manifest; `label` names it in errors.
fn plugin_manifest(bytes: &[u8], label: &str) -> Result<(Inspection, Manifest), DistributeError> {
    let not = |e: String| DistributeError::NotAPlugin(label.to_string(), e);
    let seen = inspect(bytes).map_err(|e| not(e.to_string()))?;
    let raw = seen
        .manifest
        .as_deref()
        .ok_or_else(|| not("it has no manifest".to_string()))?;
    let manifest = Manifest::parse(raw).map_err(|e| not(e.to_string()))?;
    Ok((seen, manifest))
}

fn reference(r: &str) -> Result<Reference, DistributeError> {
    Reference::try_from(r).map_err(|e| DistributeError::Reference(r.to_string(), e))
}

/// A client; `insecure` speaks plain HTTP to the reference's registry (a loopback or lab
/// registry), everything else stays HTTPS.
fn client(r: &Reference, insecure: bool) -> Client {
    let protocol = if insecure {
        ClientProtocol::HttpsExcept(vec![r.resolve_registry().to_string()])
    } else {
        ClientProtocol::Https
    };
    Client::new(ClientConfig {
        protocol,
        ..Default::default()
    })
}

/// Credentials from `BULWARK_REGISTRY_USER`/`BULWARK_REGISTRY_PASSWORD`, else anonymous.
fn auth() -> RegistryAuth {
    match (
        std::env::var("BULWARK_REGISTRY_USER"),
        std::env::var("BULWARK_REGISTRY_PASSWORD"),
    ) {
        (Ok(u), Ok(p)) => RegistryAuth::Basic(u, p),
        _ => RegistryAuth::Anonymous,
    }
}

/// Push a plugin (and its `.sig`, when present) to `reference`. Returns the manifest URL.
pub async fn push(
    file: &Path,
    reference_text: &str,
    insecure: bool,
) -> Result<String, DistributeError> {
    let r = reference(reference_text)?;
    let bytes = std::fs::read(file).map_err(io(file))?;
    let (seen, manifest) = plugin_manifest(&bytes, &file.display().to_string())?;
    let config = serde_json::json!({
        "created": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "author": manifest.author,
        "architecture": "wasm",
        "os": "bulwark",
        "layerDigests": [format!("sha256:{}", seen.sha256)],
        "component": {
            "exports": seen.exports,
            "imports": seen.imports,
            "target": format!("bulwark:plugin/check-plugin@{}", manifest.abi),
        },
    });
    let mut annotations = BTreeMap::new();
    annotations.insert(
        "org.opencontainers.image.title".to_string(),
        format!("{}.wasm", manifest.name),
    );
    annotations.insert(
        "org.opencontainers.image.version".to_string(),
        manifest.version.clone(),
    );
    let mut layers = vec![ImageLayer::new(
        bytes,
        WASM_MEDIA_TYPE.to_string(),
        Some(annotations),
    )];
    let sig_path = crate::trust::signature_path(file);
    if sig_path.exists() {
        let sig = std::fs::read(&sig_path).map_err(io(&sig_path))?;
        layers.push(ImageLayer::new(sig, SIGNATURE_MEDIA_TYPE.to_string(), None));
    }
    let config = Config::new(
        serde_json::to_vec(&config).unwrap_or_default(),
        CONFIG_MEDIA_TYPE.to_string(),
        None,
    );
    let resp = client(&r, insecure)
        .push(&r, &layers, config, &auth(), None)
        .await
        .map_err(DistributeError::Registry)?;
    Ok(resp.manifest_url)
}

/// Pull `reference` into `dir`: `NAME.wasm` (NAME from its manifest) and `NAME.wasm.sig`
/// when the artifact carries a signature. Returns the component's path.
pub async fn pull(
    reference_text: &str,
    dir: &Path,
    insecure: bool,
) -> Result<PathBuf, DistributeError> {
    let r = reference(reference_text)?;
    let image = client(&r, insecure)
        .pull(&r, &auth(), vec![WASM_MEDIA_TYPE, SIGNATURE_MEDIA_TYPE])
        .await
        .map_err(DistributeError::Registry)?;
    let component = image
        .layers
        .iter()
        .find(|l| l.media_type == WASM_MEDIA_TYPE)
        .ok_or_else(|| DistributeError::NoComponent(reference_text.to_string()))?;
    if component.data.len() > MAX_COMPONENT {
        return Err(DistributeError::NotAPlugin(
            reference_text.to_string(),
            format!("its component is larger than {MAX_COMPONENT} bytes"),
        ));
    }
    // The file name comes from the plugin's own manifest, never from registry metadata.
    let (_, manifest) = plugin_manifest(&component.data, reference_text)?;
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let path = dir.join(format!("{}.wasm", manifest.name));
    std::fs::write(&path, &component.data).map_err(io(&path))?;
    let sig_path = crate::trust::signature_path(&path);
    match image
        .layers
        .iter()
        .find(|l| l.media_type == SIGNATURE_MEDIA_TYPE)
    {
        Some(sig) => std::fs::write(&sig_path, &sig.data).map_err(io(&sig_path))?,
        None => {
            // A stale signature from an earlier pull must not vouch for this component.
            let _ = std::fs::remove_file(&sig_path);
        }
    }
    Ok(path)
}
