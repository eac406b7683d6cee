//! `bulwark plugin build`: a plugin project (Rust or Python) to a component in
//! `target/bulwark/NAME.wasm`, with its manifest and check documentation embedded. Rust is
//! compiled by cargo for `wasm32-unknown-unknown` and componentized by this binary (no other
//! tool); Python is compiled by componentize-py. The result is then loaded in the real
//! sandbox, as an operator's audit would, and compared with the built-in packs.

use super::{AuthorError, Lang};
use crate::runtime::{manifest, Grant, GrantPolicy, Manifest, Origin, Runtime};
use bulwark_build::{append_custom_section, docs_json, PluginBuild, DOCS_SECTION, WASM_TARGET};
use std::path::{Path, PathBuf};
use std::process::Command;

pub use bulwark_build::COMPONENTIZE_PY;

/// A plugin project on disk.
#[derive(Debug, Clone)]
pub struct Project {
    pub dir: PathBuf,
    pub lang: Lang,
}

impl Project {
    /// The project in `dir`: Rust if it has a Cargo.toml, Python if it has app.py and
    /// bulwark.toml.
    pub fn open(dir: &Path) -> Result<Project, AuthorError> {
        let lang = if dir.join("Cargo.toml").is_file() {
            Lang::Rust
        } else if dir.join("app.py").is_file() && dir.join("bulwark.toml").is_file() {
            Lang::Python
        } else {
            return Err(AuthorError::NotAProject(dir.to_path_buf()));
        };
        Ok(Project {
            dir: dir.to_path_buf(),
            lang,
        })
    }

    /// Where its manifest lives.
    pub fn manifest_path(&self) -> PathBuf {
        self.dir.join(match self.lang {
            Lang::Rust => "Cargo.toml",
            Lang::Python => "bulwark.toml",
        })
    }

    /// Its manifest as JSON (the ABI still to be filled in from the component).
    fn manifest(&self) -> Result<serde_json::Value, AuthorError> {
        let path = self.manifest_path();
        let invalid = |reason: String| AuthorError::Manifest {
            path: path.clone(),
            reason,
        };
        let value: serde_json::Value = match self.lang {
            Lang::Rust => serde_json::from_str(&bulwark_build::manifest_json(&self.dir)?)
                .map_err(|e| invalid(e.to_string()))?,
            Lang::Python => {
                let text = std::fs::read_to_string(&path)
                    .map_err(AuthorError::io("cannot read", &path))?;
                let t: toml::Table = text
                    .parse()
                    .map_err(|e: toml::de::Error| invalid(e.to_string()))?;
                let mut m = serde_json::to_value(&t).map_err(|e| invalid(e.to_string()))?;
                if let Some(o) = m.as_object_mut() {
                    o.insert("manifest".into(), manifest::FORMAT.into());
                    o.entry("grants").or_insert_with(|| serde_json::json!([]));
                }
                m
            }
        };
        let empty = value["checks"].as_array().is_none_or(|c| c.is_empty());
        if empty {
            return Err(AuthorError::NoChecks(path));
        }
        Ok(value)
    }

    /// The compiled component, without manifest or docs.
    fn compile(&self) -> Result<Vec<u8>, AuthorError> {
        match self.lang {
            Lang::Rust => {
                wasm_target(&self.dir)?;
                let target_dir = self.dir.join("target");
                PluginBuild {
                    workspace: &self.dir,
                    crate_dir: &self.dir,
                    target_dir: &target_dir,
                    feature: None,
                    out: &target_dir.join("unused"),
                }
                .component()
                .map_err(AuthorError::Build)
            }
            Lang::Python => componentize_py(&self.dir),
        }
    }
}

/// Check that the toolchain cargo will use in `dir` has the wasm target, before a long
/// build fails on it.
fn wasm_target(dir: &Path) -> Result<(), AuthorError> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc)
        .current_dir(dir)
        .args(["--print", "sysroot"])
        .output()
        .map_err(AuthorError::NoRust)?;
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !Path::new(&sysroot)
        .join("lib/rustlib")
        .join(WASM_TARGET)
        .is_dir()
    {
        return Err(AuthorError::NoWasmTarget {
            target: WASM_TARGET,
            sysroot,
        });
    }
    Ok(())
}

/// componentize-py: `app.py` and the WIT in `wit/` to a component.
fn componentize_py(dir: &Path) -> Result<Vec<u8>, AuthorError> {
    let exe =
        std::env::var_os("BULWARK_COMPONENTIZE_PY").unwrap_or_else(|| "componentize-py".into());
    let out_dir = dir.join("target/bulwark");
    std::fs::create_dir_all(&out_dir).map_err(AuthorError::io("cannot create", &out_dir))?;
    let out = out_dir.join("componentize-py.wasm");
    let status = Command::new(exe)
        .current_dir(dir)
        .args([
            "-d",
            "wit",
            "-w",
            "check-plugin",
            "componentize",
            "app",
            "-o",
        ])
        .arg(&out)
        .status()
        .map_err(|source| AuthorError::NoComponentizePy {
            version: COMPONENTIZE_PY,
            source,
        })?;
    if !status.success() {
        return Err(AuthorError::ComponentizePy { status });
    }
    let bytes = std::fs::read(&out).map_err(AuthorError::io("cannot read", &out))?;
    let _ = std::fs::remove_file(&out);
    Ok(bytes)
}

/// The ABI a component was built for: the version of the `bulwark:plugin` interfaces it
/// imports or exports.
pub fn abi_of(seen: &manifest::Inspection) -> Option<String> {
    seen.imports
        .iter()
        .chain(&seen.exports)
        .filter_map(|n| n.strip_prefix("bulwark:plugin/"))
        .filter_map(|n| n.split_once('@').map(|(_, v)| v.to_string()))
        .max()
}

/// A built plugin, as `plugin build` reports it.
#[derive(Debug, Clone)]
pub struct Built {
    pub path: PathBuf,
    pub lang: Lang,
    pub manifest: Manifest,
    pub size: usize,
    pub sha256: String,
    /// The ids of the checks it declares (as it describes them when loaded).
    pub checks: Vec<String>,
}

impl Built {
    /// The evidence scopes its manifest asks for.
    pub fn grants(&self) -> &[Grant] {
        &self.manifest.grants
    }
}

/// Build the project in `dir`, write `target/bulwark/NAME.wasm`, and load it to make sure
/// an audit would. Blocking (compiles); call off the async runtime's workers.
pub fn build(
    dir: &Path,
    runtime: &Runtime,
    handle: tokio::runtime::Handle,
) -> Result<Built, AuthorError> {
    let project = Project::open(dir)?;
    let mut manifest_json = project.manifest()?;
    let mut component = project.compile()?;
    let seen = manifest::inspect(&component).map_err(|e| AuthorError::Manifest {
        path: project.manifest_path(),
        reason: e.to_string(),
    })?;
    let abi = abi_of(&seen).ok_or(AuthorError::NoAbi)?;
    manifest_json["abi"] = abi.clone().into();
    let raw = manifest_json.to_string();
    let parsed = Manifest::parse(raw.as_bytes()).map_err(|e| AuthorError::Manifest {
        path: project.manifest_path(),
        reason: e.to_string(),
    })?;
    let host = crate::abi::ABI_VERSION;
    if parsed.check_abi(host).is_err() {
        return Err(AuthorError::Abi {
            plugin: abi,
            host: host.to_string(),
        });
    }
    append_custom_section(&mut component, manifest::SECTION, raw.as_bytes());
    if let Some(docs) = docs_json(&project.dir)? {
        append_custom_section(&mut component, DOCS_SECTION, docs.as_bytes());
    }
    let path = project
        .dir
        .join("target/bulwark")
        .join(format!("{}.wasm", parsed.name));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(AuthorError::io("cannot create", parent))?;
    }
    std::fs::write(&path, &component).map_err(AuthorError::io("cannot write", &path))?;

    let everything = GrantPolicy::requested();
    let origin = Origin::File(path.display().to_string());
    let plugin = runtime
        .load(
            &parsed.name,
            origin,
            &component,
            handle.clone(),
            &everything,
        )
        .map_err(AuthorError::Load)?;
    let checks: Vec<String> = plugin.checks.iter().map(|c| c.id.clone()).collect();
    clash_with_builtins(runtime, handle, &parsed, &checks)?;
    Ok(Built {
        path,
        lang: project.lang,
        size: component.len(),
        sha256: plugin.digest.clone(),
        manifest: parsed,
        checks,
    })
}

/// A plugin must not take a built-in pack's name or any of its check ids: an audit would
/// keep the first and report the other as a conflict.
fn clash_with_builtins(
    runtime: &Runtime,
    handle: tokio::runtime::Handle,
    manifest: &Manifest,
    checks: &[String],
) -> Result<(), AuthorError> {
    for (name, bytes) in crate::runtime::BUILTIN {
        if *name == manifest.name {
            return Err(AuthorError::Clash {
                what: format!("the name {name:?}"),
                pack: name.to_string(),
                kind: "name",
            });
        }
        let builtin = runtime
            .load(
                name,
                Origin::Builtin,
                bytes,
                handle.clone(),
                &GrantPolicy::default(),
            )
            .map_err(AuthorError::Load)?;
        for c in &builtin.checks {
            if checks.contains(&c.id) || manifest.provides(&c.id) {
                return Err(AuthorError::Clash {
                    what: format!("the check id {:?}", c.id),
                    pack: name.to_string(),
                    kind: "check id (or id prefix in the manifest)",
                });
            }
        }
    }
    Ok(())
}
