//! Grants: the evidence scopes a plugin's manifest asks for ([`Grant`]), what one run may
//! query ([`Grants`], checked on every query), and what the operator allows third-party
//! plugins ([`GrantPolicy`]).

use crate::evidence::{Query, Scope};
use crate::runtime::Manifest;
use serde::{Deserialize, Serialize};

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
    pub fn scope(&self) -> Scope {
        match self {
            Grant::Daemon => Scope::Daemon,
            Grant::Containers => Scope::Containers,
            Grant::Images => Scope::Images,
            Grant::Networks => Scope::Networks,
            Grant::Swarm => Scope::Swarm,
            Grant::Processes => Scope::Processes,
            Grant::AuditRules => Scope::AuditRules,
            Grant::Users => Scope::Users,
            Grant::Listeners => Scope::Listeners,
            Grant::Auditor => Scope::Auditor,
            Grant::Traces => Scope::Traces,
            Grant::Files { .. } => Scope::Files,
            Grant::FileContents { .. } => Scope::FileContents,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Grant::Files { paths } => format!("files {}", paths.join(" ")),
            Grant::FileContents { paths } => format!("file-contents {}", paths.join(" ")),
            g => g.scope().name().to_string(),
        }
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
        let (scope, path) = (q.scope(), q.path());
        if let Some(p) = path {
            if !normal_path(p) {
                return Err(format!("{p:?} is not an absolute, normalised path"));
            }
        }
        let ok = list.iter().any(|g| match (g, path) {
            (Grant::Files { paths }, Some(p)) if scope == Scope::Files => glob_covers(paths, p),
            (Grant::FileContents { paths }, Some(p)) if scope == Scope::FileContents => {
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
                None => format!("the plugin was not granted the {:?} scope", scope.name()),
            })
        }
    }

    /// Whether a scope without paths (e.g. `traces`) is granted.
    pub fn allows_scope(&self, scope: Scope) -> bool {
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

/// What the operator allows third-party plugins: scopes for all (`--grant SCOPE`), for one
/// plugin (`--grant NAME:SCOPE`), or whatever each manifest asks (`--grant-requested`).
/// A plugin gets the scopes its manifest asks for AND the operator allows.
#[derive(Debug, Clone, Default)]
pub struct GrantPolicy {
    pub requested: bool,
    all: Vec<Allowed>,
    per_plugin: Vec<(String, Allowed)>,
}

/// One scope, or every scope (`all`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Allowed {
    All,
    One(Scope),
}

impl Allowed {
    fn covers(self, scope: Scope) -> bool {
        self == Allowed::All || self == Allowed::One(scope)
    }
}

/// An operator grant that names no scope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{item:?}: {scope:?} is not a scope ({known} or all)")]
pub struct GrantError {
    pub item: String,
    pub scope: String,
    known: String,
}

impl GrantPolicy {
    /// Whatever each manifest asks (`--grant-requested`).
    pub fn requested() -> Self {
        GrantPolicy {
            requested: true,
            ..Default::default()
        }
    }

    /// Items are `SCOPE`, `NAME:SCOPE`, or comma-separated lists of them; `all` is every scope.
    pub fn parse(items: &[String], requested: bool) -> Result<Self, GrantError> {
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
            let allowed = match scope {
                "all" => Allowed::All,
                s => Allowed::One(s.parse().map_err(|_| GrantError {
                    item: item.to_string(),
                    scope: s.to_string(),
                    known: Scope::ALL.map(Scope::name).join(", "),
                })?),
            };
            match plugin {
                Some(n) => p.per_plugin.push((n.to_string(), allowed)),
                None => p.all.push(allowed),
            }
        }
        Ok(p)
    }

    fn allows(&self, plugin: &str, scope: Scope) -> bool {
        self.requested
            || self.all.iter().any(|a| a.covers(scope))
            || self
                .per_plugin
                .iter()
                .any(|(n, a)| n == plugin && a.covers(scope))
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
        assert_eq!(refused[0].scope(), Scope::FileContents);
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
