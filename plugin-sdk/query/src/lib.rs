//! The questions a plugin can ask about the host, declared once for the host, the plugin
//! SDK and snapshots: each [`Query`] variant's kind names its provenance key, its snapshot
//! entry (the serde tag) and its [`Scope`]. Adding an evidence kind is one line here, its
//! WIT function, its collector in the host and its accessor in the SDK; the compiler finds
//! every match that must learn the new variant.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A class of evidence a plugin may be granted (a manifest's `grants[].scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
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
    /// Runtime traces (what containers did in the kernel).
    Traces,
    /// Metadata (stat, directory listings) of files.
    Files,
    /// Contents of files (rare; explicit).
    FileContents,
}

impl Scope {
    /// Every scope, in the order messages list them.
    pub const ALL: [Scope; 13] = [
        Scope::Daemon,
        Scope::Containers,
        Scope::Images,
        Scope::Networks,
        Scope::Swarm,
        Scope::Processes,
        Scope::AuditRules,
        Scope::Users,
        Scope::Listeners,
        Scope::Auditor,
        Scope::Traces,
        Scope::Files,
        Scope::FileContents,
    ];

    /// The scope's name in manifests and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Daemon => "daemon",
            Scope::Containers => "containers",
            Scope::Images => "images",
            Scope::Networks => "networks",
            Scope::Swarm => "swarm",
            Scope::Processes => "processes",
            Scope::AuditRules => "audit-rules",
            Scope::Users => "users",
            Scope::Listeners => "listeners",
            Scope::Auditor => "auditor",
            Scope::Traces => "traces",
            Scope::Files => "files",
            Scope::FileContents => "file-contents",
        }
    }

    /// Whether grants of this scope carry path globs.
    pub fn has_paths(self) -> bool {
        matches!(self, Scope::Files | Scope::FileContents)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is no scope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a scope")]
pub struct UnknownScope(pub String);

impl std::str::FromStr for Scope {
    type Err = UnknownScope;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|sc| sc.name() == s)
            .ok_or_else(|| UnknownScope(s.to_string()))
    }
}

/// Declares [`Query`] with, per variant, its kind (serde tag, key prefix) and scope.
macro_rules! queries {
    ($(
        $(#[$doc:meta])*
        $variant:ident $({ $field:ident : $ty:ty })? = $kind:literal, $scope:ident;
    )*) => {
        /// One question about the host. The key of the memo and of snapshot entries.
        #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[serde(tag = "query")]
        pub enum Query {
            $(
                $(#[$doc])*
                #[serde(rename = $kind)]
                $variant $({ $field: $ty })?,
            )*
        }

        impl Query {
            /// The kind of question: the snapshot entry's tag and the key's prefix.
            pub fn kind(&self) -> &'static str {
                match self {
                    $( queries!(@any $variant $($field)?) => $kind, )*
                }
            }

            /// The question's argument, where it has one (an id, a path, a pid ...).
            pub fn argument(&self) -> Option<String> {
                match self {
                    $( queries!(@pat $variant $($field)?) => queries!(@arg $($field)?), )*
                }
            }

            /// The scope a plugin needs to ask this.
            pub fn scope(&self) -> Scope {
                match self {
                    $( queries!(@any $variant $($field)?) => Scope::$scope, )*
                }
            }

            /// One example of every kind (arguments made up), for tests over all kinds.
            pub fn examples() -> Vec<Query> {
                vec![$( queries!(@example $variant $($field: $ty)?), )*]
            }
        }
    };
    (@pat $variant:ident) => { Query::$variant };
    (@pat $variant:ident $field:ident) => { Query::$variant { $field } };
    (@any $variant:ident) => { Query::$variant };
    (@any $variant:ident $field:ident) => { Query::$variant { .. } };
    (@arg) => { None };
    (@arg $field:ident) => { Some($field.to_string()) };
    (@example $variant:ident) => { Query::$variant };
    (@example $variant:ident $field:ident : $ty:ty) => {
        Query::$variant { $field: <$ty as Example>::example() }
    };
}

/// A made-up argument value for [`Query::examples`].
trait Example {
    fn example() -> Self;
}
impl Example for String {
    fn example() -> Self {
        "example".to_string()
    }
}
impl Example for u32 {
    fn example() -> Self {
        1
    }
}

queries! {
    DockerInfo = "docker-info", Daemon;
    DockerVersion = "docker-version", Daemon;
    /// All containers, whatever their state (the selection is applied on top).
    ContainerList = "container-list", Containers;
    ContainerInspect { id: String } = "container-inspect", Containers;
    /// The same container as the typed record the host reads from its inspect (ABI 0.1.3).
    Container { id: String } = "container", Containers;
    ImageList = "image-list", Images;
    ImageInspect { name: String } = "image-inspect", Images;
    ImageHistory { name: String } = "image-history", Images;
    NetworkList = "network-list", Networks;
    SwarmInspect = "swarm-inspect", Swarm;
    SwarmList { kind: String } = "swarm-list", Swarm;
    FileStat { path: String } = "file-stat", Files;
    DirList { path: String } = "dir-list", Files;
    FileRead { path: String } = "file-read", FileContents;
    ContainerProcesses { id: String } = "container-processes", Processes;
    Process { pid: u32 } = "process", Processes;
    AuditRules = "audit-rules", AuditRules;
    GroupMembers { group: String } = "group-members", Users;
    Listeners = "listeners", Listeners;
    DaemonConfig = "daemon-config", Daemon;
    Auditor = "auditor", Auditor;
    AuditorEnv { name: String } = "auditor-env", Auditor;
    ObservedProfile { id: String } = "observed-profile", Traces;
    SeccompFit { id: String } = "seccomp-fit", Traces;
}

impl Query {
    /// The provenance key of this question, as plugins name it in `finding.evidence`:
    /// the kind, then `:argument` where there is one.
    pub fn key(&self) -> String {
        match self.argument() {
            Some(arg) => format!("{}:{arg}", self.kind()),
            None => self.kind().to_string(),
        }
    }

    /// The scope of the question a provenance key ([`Query::key`]) names.
    pub fn scope_of_key(key: &str) -> Option<Scope> {
        let kind = key.split(':').next().unwrap_or(key);
        Query::examples()
            .into_iter()
            .find(|q| q.kind() == kind)
            .map(|q| q.scope())
    }

    /// The path a file query touches (grants of file scopes are path globs).
    pub fn path(&self) -> Option<&str> {
        match self {
            Query::FileStat { path } | Query::DirList { path } | Query::FileRead { path } => {
                Some(path)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_snapshot_tag_is_the_key_kind() {
        for q in Query::examples() {
            let v = serde_json::to_value(&q).unwrap();
            assert_eq!(v["query"], q.kind(), "{q:?}");
            let back: Query = serde_json::from_value(v).unwrap();
            assert_eq!(back, q);
        }
    }

    #[test]
    fn keys_and_scopes() {
        let q = Query::ContainerInspect { id: "abc".into() };
        assert_eq!(q.key(), "container-inspect:abc");
        assert_eq!(q.scope(), Scope::Containers);
        assert_eq!(Query::Process { pid: 7 }.key(), "process:7");
        assert_eq!(Query::DockerInfo.key(), "docker-info");
        assert_eq!(
            Query::scope_of_key("file-read:/etc/a:b"),
            Some(Scope::FileContents)
        );
        assert_eq!(
            Query::scope_of_key("container-list"),
            Some(Scope::Containers)
        );
        assert_eq!(Query::scope_of_key("nonsense:x"), None);
        let f = Query::FileRead {
            path: "/etc/x".into(),
        };
        assert_eq!((f.scope(), f.path()), (Scope::FileContents, Some("/etc/x")));
        assert_eq!(
            Query::scope_of_key("container:abc"),
            Some(Scope::Containers)
        );
        assert_eq!(Query::examples().len(), 24);
    }

    #[test]
    fn scopes_round_trip_by_name() {
        for s in Scope::ALL {
            assert_eq!(s.name().parse::<Scope>(), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.name());
        }
        assert!("network".parse::<Scope>().is_err());
    }
}
