//! Where a check's evidence comes from. In a plugin (wasm) it is the Bulwark host, through
//! the WIT imports; in a native unit test it is a [`crate::testing::TestHost`] filled from
//! a recorded snapshot or by the test. Checks see neither: they call [`crate::Ctx`].

use crate::bindings::bulwark::plugin::evidence as ev;
use crate::QueryError;
pub use bulwark_query::{Query, Scope};

/// One answer, typed as the WIT returns it. Docker objects are JSON documents.
#[derive(Debug, Clone)]
pub enum Answer {
    Document(String),
    Containers(Vec<ev::ContainerSummary>),
    File(ev::FileInfo),
    Names(Vec<String>),
    Bytes(Vec<u8>),
    Listeners(Vec<ev::Listener>),
    Processes(Vec<ev::ProcessInfo>),
    Process(ev::ProcessInfo),
    AuditRules(ev::AuditRuleSet),
    Daemon(ev::DaemonSettings),
    Auditor(ev::AuditorInfo),
    Env(Option<String>),
    Observed(ev::ObservedProfile),
    SeccompFit(ev::SeccompFit),
    Container(Box<ev::ContainerRecord>),
}

/// Answers evidence queries.
pub trait Backend {
    fn ask(&mut self, q: &Query) -> Result<Answer, QueryError>;
}

/// Take the answer of the expected kind out of an [`Answer`].
macro_rules! take {
    ($($fn:ident: $variant:ident => $ty:ty;)*) => {
        impl Answer {
            $(
                pub(crate) fn $fn(self, q: &Query) -> Result<$ty, QueryError> {
                    match self {
                        Answer::$variant(v) => Ok(v),
                        _ => Err(QueryError::Unavailable(format!(
                            "malformed evidence: {} answered with another kind",
                            q.key()
                        ))),
                    }
                }
            )*
        }
    };
}

take! {
    document: Document => String;
    containers: Containers => Vec<ev::ContainerSummary>;
    file: File => ev::FileInfo;
    names: Names => Vec<String>;
    bytes: Bytes => Vec<u8>;
    listeners: Listeners => Vec<ev::Listener>;
    processes: Processes => Vec<ev::ProcessInfo>;
    process: Process => ev::ProcessInfo;
    audit_rules: AuditRules => ev::AuditRuleSet;
    daemon: Daemon => ev::DaemonSettings;
    auditor: Auditor => ev::AuditorInfo;
    env: Env => Option<String>;
    observed: Observed => ev::ObservedProfile;
    seccomp_fit: SeccompFit => ev::SeccompFit;
}

/// The Bulwark host, through the plugin's imports. Each query is one WIT call; the match is
/// exhaustive, so a new [`Query`] kind cannot be forgotten here.
pub struct Host;

impl Backend for Host {
    #[cfg(target_arch = "wasm32")]
    fn ask(&mut self, q: &Query) -> Result<Answer, QueryError> {
        use Answer as A;
        Ok(match q {
            Query::DockerInfo => A::Document(ev::docker_info()?),
            Query::DockerVersion => A::Document(ev::docker_version()?),
            Query::ContainerList => A::Containers(ev::containers()?),
            Query::ContainerInspect { id } => A::Document(ev::container_inspect(id)?),
            Query::Container { id } => A::Container(Box::new(ev::container(id)?)),
            Query::ImageList => A::Document(ev::image_list()?),
            Query::ImageInspect { name } => A::Document(ev::image_inspect(name)?),
            Query::ImageHistory { name } => A::Document(ev::image_history(name)?),
            Query::NetworkList => A::Document(ev::network_list()?),
            Query::SwarmInspect => A::Document(ev::swarm_inspect()?),
            Query::SwarmList { kind } => A::Document(ev::swarm_list(kind)?),
            Query::FileStat { path } => A::File(ev::file_stat(path)?),
            Query::DirList { path } => A::Names(ev::dir_list(path)?),
            Query::FileRead { path } => A::Bytes(ev::file_read(path)?),
            Query::ContainerProcesses { id } => A::Processes(ev::container_processes(id)?),
            Query::Process { pid } => A::Process(ev::process(*pid)?),
            Query::AuditRules => A::AuditRules(ev::audit_rules()?),
            Query::GroupMembers { group } => A::Names(ev::group_members(group)?),
            Query::Listeners => A::Listeners(ev::listeners()?),
            Query::DaemonConfig => A::Daemon(ev::daemon_config()?),
            Query::Auditor => A::Auditor(ev::auditor()?),
            Query::AuditorEnv { name } => A::Env(ev::auditor_env(name)?),
            Query::ObservedProfile { id } => A::Observed(ev::observation(id)?),
            Query::SeccompFit { id } => A::SeccompFit(ev::seccomp(id)?),
        })
    }

    /// Outside wasm there is no host to import from: native code uses a test host.
    #[cfg(not(target_arch = "wasm32"))]
    fn ask(&mut self, q: &Query) -> Result<Answer, QueryError> {
        Err(QueryError::Unavailable(format!(
            "{}: no Bulwark host outside wasm (use bulwark_sdk::testing::TestHost)",
            q.key()
        )))
    }
}
