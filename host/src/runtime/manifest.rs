//! A plugin's manifest and what a component file says about itself before anything of it
//! runs: the `bulwark-manifest` custom section (name, version, author, ABI, the check ids it
//! provides, the evidence scopes it asks for), its imports and exports, size and digest.

use crate::evidence::Query;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The component custom section holding the manifest (written by `cargo xtask plugin`).
pub const SECTION: &str = "bulwark-manifest";
/// The manifest format this host reads.
pub const FORMAT: u32 = 1;

/// Evidence a plugin may ask for, by scope.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "scope", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Grant {
    /// `docker info`, `docker version`, the daemon's settings.
    Daemon,
    /// The container list and container inspect documents.
    Containers,
    /// The image list, image inspect and history.
    Images,
    Networks,
    Swarm,
    /// Host processes and the processes of containers (capabilities, seccomp, ...).
    Processes,
    AuditRules,
    /// Members of host groups.
    Users,
    /// Listening sockets of the host.
    Listeners,
    /// Who runs the audit, and environment variables it names.
    Auditor,
    /// Runtime traces (reserved for `bulwark watch`).
    Traces,
    /// Metadata (stat, directory listings) of files under these globs.
    Files {
        paths: Vec<String>,
    },
    /// Contents of files under these globs (rare; explicit).
    FileContents {
        paths: Vec<String>,
    },
}

impl Grant {
    pub fn scope(&self) -> &'static str {
        match self {
            Grant::Daemon => "daemon",
            Grant::Containers => "containers",
            Grant::Images => "images",
            Grant::Networks => "networks",
            Grant::Swarm => "swarm",
            Grant::Processes => "processes",
            Grant::AuditRules => "audit-rules",
            Grant::Users => "users",
            Grant::Listeners => "listeners",
            Grant::Auditor => "auditor",
            Grant::Traces => "traces",
            Grant::Files { .. } => "files",
            Grant::FileContents { .. } => "file-contents",
        }
    }

    /// Every scope name, for messages and `--grant` validation.
    pub const SCOPES: &'static [&'static str] = &[
        "daemon",
        "containers",
        "images",
        "networks",
        "swarm",
        "processes",
        "audit-rules",
        "users",
        "listeners",
        "auditor",
        "traces",
        "files",
        "file-contents",
    ];

    pub fn describe(&self) -> String {
        match self {
            Grant::Files { paths } => format!("files {}", paths.join(" ")),
            Grant::FileContents { paths } => format!("file-contents {}", paths.join(" ")),
            g => g.scope().to_string(),
        }
    }
}

/// The scope a query needs, and for file queries the path it touches.
pub fn scope_of(q: &Query) -> (&'static str, Option<&str>) {
    match q {
        Query::DockerInfo | Query::DockerVersion | Query::DaemonConfig => ("daemon", None),
        Query::ContainerList | Query::ContainerInspect { .. } => ("containers", None),
        Query::ImageList | Query::ImageInspect { .. } | Query::ImageHistory { .. } => {
            ("images", None)
        }
        Query::NetworkList => ("networks", None),
        Query::SwarmInspect | Query::SwarmList { .. } => ("swarm", None),
        Query::ContainerProcesses { .. } | Query::Process { .. } => ("processes", None),
        Query::AuditRules => ("audit-rules", None),
        Query::GroupMembers { .. } => ("users", None),
        Query::Listeners => ("listeners", None),
        Query::Auditor | Query::AuditorEnv { .. } => ("auditor", None),
        Query::FileStat { path } | Query::DirList { path } => ("files", Some(path)),
        Query::FileRead { path } => ("file-contents", Some(path)),
        Query::ObservedProfile { .. } => ("traces", None),
    }
}

/// A path a grant may cover: absolute, no `.`/`..` components, no empty components.
fn normal_path(p: &str) -> bool {
    p.starts_with('/')
        && (p == "/"
            || p[1..]
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != ".."))
}

fn glob_covers(globs: &[String], path: &str) -> bool {
    let opts = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    globs.iter().any(|g| {
        glob::Pattern::new(g).is_ok_and(|p| p.matches_with(path, opts))
            // `dir/**` also covers `dir` itself.
            || g.strip_suffix("/**").is_some_and(|d| d == path)
    })
}

/// What a plugin run may query.
#[derive(Debug, Clone, PartialEq)]
pub enum Grants {
    /// Built-in plugins: everything.
    All,
    Only(Vec<Grant>),
}

impl Grants {
    /// `Ok` when the query is covered; else why not.
    pub fn check(&self, q: &Query) -> Result<(), String> {
        let list = match self {
            Grants::All => return Ok(()),
            Grants::Only(l) => l,
        };
        let (scope, path) = scope_of(q);
        if let Some(p) = path {
            if !normal_path(p) {
                return Err(format!("{p:?} is not an absolute, normalised path"));
            }
        }
        let ok = list.iter().any(|g| match (g, path) {
            (Grant::Files { paths }, Some(p)) if scope == "files" => glob_covers(paths, p),
            (Grant::FileContents { paths }, Some(p)) if scope == "file-contents" => {
                glob_covers(paths, p)
            }
            (g, None) => g.scope() == scope,
            _ => false,
        });
        if ok {
            Ok(())
        } else {
            Err(match path {
                Some(p) => format!("{p} is outside the plugin's granted {scope} scope"),
                None => format!("the plugin was not granted the {scope:?} scope"),
            })
        }
    }

    /// Whether a scope without paths (e.g. `traces`) is granted.
    pub fn allows_scope(&self, scope: &str) -> bool {
        match self {
            Grants::All => true,
            Grants::Only(l) => l.iter().any(|g| g.scope() == scope),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Grants::All => "all (built-in)".to_string(),
            Grants::Only(l) if l.is_empty() => "none".to_string(),
            Grants::Only(l) => l.iter().map(Grant::describe).collect::<Vec<_>>().join(", "),
        }
    }
}

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
}

impl Manifest {
    pub fn parse(bytes: &[u8]) -> Result<Manifest, String> {
        let m: Manifest =
            serde_json::from_slice(bytes).map_err(|e| format!("its manifest is malformed: {e}"))?;
        if m.manifest != FORMAT {
            return Err(format!(
                "its manifest has format {}, this host reads format {FORMAT}",
                m.manifest
            ));
        }
        let safe = |s: &str| {
            s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        if m.name.is_empty() || m.name.len() > 64 || !safe(&m.name) {
            return Err(format!(
                "its manifest names it {:?}: not a plugin name",
                m.name
            ));
        }
        for g in &m.grants {
            if let Grant::Files { paths } | Grant::FileContents { paths } = g {
                for p in paths {
                    if !p.starts_with('/') || glob::Pattern::new(p).is_err() {
                        return Err(format!(
                            "its manifest asks for the path {p:?}: not an absolute glob"
                        ));
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
    pub fn check_abi(&self, host_abi: &str) -> Result<(), String> {
        if abi_major(&self.abi) != abi_major(host_abi) {
            return Err(format!(
                "it was built for ABI bulwark:plugin@{}; this host speaks {host_abi}",
                self.abi
            ));
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
    pub imports: Vec<String>,
    pub exports: Vec<String>,
}

/// Read a component's top-level custom sections, imports and exports.
pub fn inspect(bytes: &[u8]) -> Result<Inspection, String> {
    use wasmparser::{Parser, Payload};
    let mut out = Inspection {
        size: bytes.len(),
        sha256: hex::encode(Sha256::digest(bytes)),
        manifest: None,
        imports: Vec::new(),
        exports: Vec::new(),
    };
    let mut depth = 0usize;
    let mut component = false;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| format!("not a valid WebAssembly file: {e}"))?;
        match payload {
            Payload::Version { encoding, .. } if depth == 0 => {
                component = matches!(encoding, wasmparser::Encoding::Component);
            }
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::CustomSection(r) if depth == 0 && r.name() == SECTION => {
                if out.manifest.is_some() {
                    return Err("it has two manifest sections".to_string());
                }
                out.manifest = Some(r.data().to_vec());
            }
            Payload::ComponentImportSection(r) if depth == 0 => {
                for i in r {
                    let i = i.map_err(|e| format!("unreadable import: {e}"))?;
                    out.imports.push(i.name.name.to_string());
                }
            }
            Payload::ComponentExportSection(r) if depth == 0 => {
                for e in r {
                    let e = e.map_err(|e| format!("unreadable export: {e}"))?;
                    out.exports.push(e.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    if !component {
        return Err(
            "a core WebAssembly module, not a component (build it with `cargo xtask plugin`)"
                .to_string(),
        );
    }
    Ok(out)
}

/// Imports a plugin may have: the Bulwark interfaces of this ABI, nothing else (no WASI,
/// no other host APIs).
pub fn check_imports(imports: &[String], host_abi: &str) -> Result<(), String> {
    for i in imports {
        let Some(rest) = i.strip_prefix("bulwark:plugin/") else {
            return Err(format!(
                "it imports {i:?}, outside the Bulwark ABI (plugins get no WASI or other host APIs)"
            ));
        };
        let version = rest.split_once('@').map(|(_, v)| v).unwrap_or("");
        if abi_major(version) != abi_major(host_abi) {
            return Err(format!(
                "it imports {i:?}: built for ABI {version}, this host speaks {host_abi}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only(g: Vec<Grant>) -> Grants {
        Grants::Only(g)
    }

    #[test]
    fn grants_cover_scopes_and_path_globs() {
        let g = only(vec![
            Grant::Containers,
            Grant::Files {
                paths: vec!["/etc/docker/**".into(), "/run/*.sock".into()],
            },
        ]);
        assert!(g.check(&Query::ContainerList).is_ok());
        assert!(g.check(&Query::ImageList).is_err());
        let stat = |p: &str| Query::FileStat { path: p.into() };
        assert!(g.check(&stat("/etc/docker")).is_ok());
        assert!(g.check(&stat("/etc/docker/certs.d/x/ca.crt")).is_ok());
        assert!(g.check(&stat("/run/docker.sock")).is_ok());
        assert!(
            g.check(&stat("/run/containerd/containerd.sock")).is_err(),
            "* stays within one directory"
        );
        assert!(g.check(&stat("/etc/shadow")).is_err());
        assert!(g.check(&stat("/etc/docker/../shadow")).is_err());
        assert!(g.check(&stat("etc/docker/x")).is_err());
        let read = Query::FileRead {
            path: "/etc/docker/daemon.json".into(),
        };
        assert!(g.check(&read).is_err(), "metadata is not contents");
        assert!(Grants::All.check(&read).is_ok());
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
        let e = check_imports(&["wasi:cli/environment@0.2.0".into()], host).unwrap_err();
        assert!(e.contains("WASI"), "{e}");
        let e = check_imports(&["bulwark:plugin/evidence@1.0.0".into()], host).unwrap_err();
        assert!(e.contains("built for ABI 1.0.0"), "{e}");
    }
}

/// What the operator allows third-party plugins: scopes for all (`--grant SCOPE`), for one
/// plugin (`--grant NAME:SCOPE`), or whatever each manifest asks (`--grant-requested`).
/// A plugin gets the scopes its manifest asks for AND the operator allows.
#[derive(Debug, Clone, Default)]
pub struct GrantPolicy {
    pub requested: bool,
    all: Vec<String>,
    per_plugin: Vec<(String, String)>,
}

impl GrantPolicy {
    pub fn parse(items: &[String], requested: bool) -> Result<Self, String> {
        let mut p = GrantPolicy {
            requested,
            ..Default::default()
        };
        for item in items.iter().flat_map(|s| s.split(',')) {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            let (plugin, scope) = match item.split_once(':') {
                Some((n, s)) => (Some(n), s),
                None => (None, item),
            };
            if !Grant::SCOPES.contains(&scope) && scope != "all" {
                return Err(format!(
                    "--grant {item:?}: {scope:?} is not a scope ({} or all)",
                    Grant::SCOPES.join(", ")
                ));
            }
            match plugin {
                Some(n) => p.per_plugin.push((n.to_string(), scope.to_string())),
                None => p.all.push(scope.to_string()),
            }
        }
        Ok(p)
    }

    fn allows(&self, plugin: &str, scope: &str) -> bool {
        self.requested
            || self.all.iter().any(|s| s == scope || s == "all")
            || self
                .per_plugin
                .iter()
                .any(|(n, s)| n == plugin && (s == scope || s == "all"))
    }

    /// The grants a plugin runs with, and the requested ones the operator did not allow.
    pub fn effective(&self, m: &Manifest) -> (Grants, Vec<Grant>) {
        let (ok, refused): (Vec<Grant>, Vec<Grant>) = m
            .grants
            .iter()
            .cloned()
            .partition(|g| self.allows(&m.name, g.scope()));
        (Grants::Only(ok), refused)
    }
}

#[cfg(test)]
mod policy_tests {
    use super::*;

    #[test]
    fn operator_grants_intersect_the_manifest() {
        let m = Manifest::parse(br#"{"manifest":1,"name":"ex","version":"1","abi":"0.1.0","checks":[],"grants":[{"scope":"containers"},{"scope":"file-contents","paths":["/etc/docker/daemon.json"]}]}"#).unwrap();
        let (g, refused) = GrantPolicy::parse(&[], false).unwrap().effective(&m);
        assert_eq!((g, refused.len()), (Grants::Only(vec![]), 2));
        let (g, refused) = GrantPolicy::parse(&["containers,images".into()], false)
            .unwrap()
            .effective(&m);
        assert_eq!(
            g,
            Grants::Only(vec![Grant::Containers]),
            "images was not asked for"
        );
        assert_eq!(refused[0].scope(), "file-contents");
        let (g, _) = GrantPolicy::parse(&["other:all".into()], false)
            .unwrap()
            .effective(&m);
        assert_eq!(g, Grants::Only(vec![]));
        let (_, refused) = GrantPolicy::parse(&["ex:all".into()], false)
            .unwrap()
            .effective(&m);
        assert!(refused.is_empty());
        let (_, refused) = GrantPolicy::parse(&[], true).unwrap().effective(&m);
        assert!(refused.is_empty());
        assert!(GrantPolicy::parse(&["network".into()], false).is_err());
    }
}
