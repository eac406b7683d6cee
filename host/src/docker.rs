//! One Docker Engine API client for everything that talks to the daemon (evidence
//! collection and `watch`): endpoint choice, connection and version negotiation, a timeout
//! on every call, and the mapping of daemon errors to evidence errors.

use bollard::errors::Error as BollardError;
use bollard::Docker;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::OnceCell;

/// How long one Docker API call may take before it counts as unavailable.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long connecting and negotiating the API version may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The default Engine API endpoint.
pub const DEFAULT_ENDPOINT: &str = "unix:///var/run/docker.sock";

/// A running container for runtime monitoring.
#[derive(Debug, Clone)]
pub struct RunningContainer {
    pub id: String,
    pub name: String,
    pub image: String,
    /// Its init process, as the host sees it (0 when not running).
    pub pid: i64,
    pub running: bool,
}

/// Why connecting to the daemon failed (kept, and shared by every later call).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Api(#[from] std::sync::Arc<BollardError>),
    #[error("no answer within {} s", CONNECT_TIMEOUT.as_secs())]
    Timeout,
}

/// Why a Docker call gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("cannot reach the Docker daemon at {endpoint}: {source}")]
    Unreachable {
        endpoint: String,
        #[source]
        source: ConnectError,
    },
    #[error("{what}: no answer from the daemon within {secs} s")]
    Timeout { what: String, secs: u64 },
    /// The object does not exist (404), or the swarm endpoint on a node that is no manager.
    #[error("{what}: {message}")]
    NotFound { what: String, message: String },
    #[error("{what}: {source}")]
    Api {
        what: String,
        #[source]
        source: BollardError,
    },
}

/// A lazily connected client: the first call connects; a failure to connect is kept and
/// answered to every later call, so an unreachable daemon costs one timeout, not one each.
pub struct Client {
    endpoint: String,
    /// The connection, or why connecting failed (kept: it is not retried).
    docker: OnceCell<Result<Docker, ConnectError>>,
}

impl Client {
    /// `endpoint`: an explicit `--host`, else `DOCKER_HOST`, else the default socket.
    pub fn new(endpoint: Option<String>) -> Self {
        let endpoint = endpoint
            .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|s| !s.is_empty()))
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        Client {
            endpoint,
            docker: OnceCell::new(),
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The connected daemon (connecting on first use).
    pub async fn docker(&self) -> Result<&Docker, DockerError> {
        self.docker
            .get_or_init(|| async {
                let d = if let Some(path) = self.endpoint.strip_prefix("unix://") {
                    Docker::connect_with_unix(path, 30, bollard::API_DEFAULT_VERSION)
                } else {
                    Docker::connect_with_host(&self.endpoint)
                }
                .map_err(|e| ConnectError::Api(e.into()))?;
                match tokio::time::timeout(CONNECT_TIMEOUT, d.negotiate_version()).await {
                    Ok(Ok(d)) => Ok(d),
                    Ok(Err(e)) => Err(ConnectError::Api(e.into())),
                    Err(_) => Err(ConnectError::Timeout),
                }
            })
            .await
            .as_ref()
            .map_err(|source| DockerError::Unreachable {
                endpoint: self.endpoint.clone(),
                source: source.clone(),
            })
    }

    /// Run one Docker API call under the timeout, with its errors made evidence errors.
    pub async fn call<T, F>(what: &str, call: F) -> Result<T, DockerError>
    where
        F: std::future::Future<Output = Result<T, BollardError>>,
    {
        match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Err(_) => Err(DockerError::Timeout {
                what: what.to_string(),
                secs: CALL_TIMEOUT.as_secs(),
            }),
            Ok(r) => r.map_err(|e| docker_error(what, e)),
        }
    }

    /// A running container as runtime monitoring needs it: who it is and its init pid.
    pub async fn running_container(&self, id: &str) -> Result<RunningContainer, DockerError> {
        let d = self.docker().await?;
        let i = Self::call("container inspect", d.inspect_container(id, None)).await?;
        let state = i.state.unwrap_or_default();
        Ok(RunningContainer {
            id: i.id.unwrap_or_default(),
            name: i
                .name
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string(),
            image: i.config.and_then(|c| c.image).unwrap_or_default(),
            pid: state.pid.unwrap_or(0),
            running: state.running.unwrap_or(false),
        })
    }

    /// A container's full inspect data.
    pub async fn inspect(
        &self,
        id: &str,
    ) -> Result<bollard::models::ContainerInspectResponse, DockerError> {
        let d = self.docker().await?;
        Self::call("container inspect", d.inspect_container(id, None)).await
    }

    /// The daemon's version (`20.10.24+dfsg1`), its default OCI runtime's name, and runc's
    /// version as the daemon reports it (`1.1.5+ds1-1+deb12u1`).
    pub async fn engine(&self) -> Result<(String, String, String), DockerError> {
        let d = self.docker().await?;
        let v = Self::call("version", d.version()).await?;
        let info = Self::call("info", d.info()).await?;
        Ok((
            v.version.unwrap_or_default(),
            info.default_runtime.unwrap_or_default(),
            info.runc_commit.and_then(|c| c.id).unwrap_or_default(),
        ))
    }

    /// Create (not start) a copy of a container from its inspect data under a new name:
    /// same image, command, environment, user, working directory, mounts and network mode,
    /// with `security_opt` and capabilities replaced. Published ports, the restart policy
    /// and auto-removal are not copied, so the copy can run beside the original.
    pub async fn create_copy(
        &self,
        original: &bollard::models::ContainerInspectResponse,
        name: &str,
        security_opt: Vec<String>,
        cap_add: Vec<String>,
        cap_drop: Vec<String>,
    ) -> Result<String, DockerError> {
        let d = self.docker().await?;
        let c = original.config.clone().unwrap_or_default();
        let mut host = original.host_config.clone().unwrap_or_default();
        host.security_opt = Some(security_opt);
        host.cap_add = Some(cap_add);
        host.cap_drop = Some(cap_drop);
        host.privileged = Some(false);
        host.port_bindings = None;
        host.publish_all_ports = Some(false);
        host.restart_policy = None;
        host.auto_remove = Some(false);
        let mut labels = c.labels.unwrap_or_default();
        labels.insert(
            "dev.bulwark.verify-of".to_string(),
            original.id.clone().unwrap_or_default(),
        );
        let body = bollard::models::ContainerCreateBody {
            hostname: None,
            user: c.user,
            env: c.env,
            cmd: c.cmd,
            entrypoint: c.entrypoint,
            image: c.image,
            working_dir: c.working_dir,
            volumes: c.volumes,
            labels: Some(labels),
            healthcheck: c.healthcheck,
            stop_signal: c.stop_signal,
            stop_timeout: c.stop_timeout,
            tty: c.tty,
            open_stdin: c.open_stdin,
            exposed_ports: c.exposed_ports,
            host_config: Some(host),
            ..Default::default()
        };
        let opts = bollard::query_parameters::CreateContainerOptionsBuilder::default()
            .name(name)
            .build();
        let made = Self::call("container create", d.create_container(Some(opts), body)).await?;
        Ok(made.id)
    }

    pub async fn start(&self, id: &str) -> Result<(), DockerError> {
        let d = self.docker().await?;
        Self::call("container start", d.start_container(id, None)).await
    }

    /// Remove a container, running or not, with its anonymous volumes.
    pub async fn remove(&self, id: &str) -> Result<(), DockerError> {
        let d = self.docker().await?;
        let opts = bollard::query_parameters::RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        Self::call("container remove", d.remove_container(id, Some(opts))).await
    }

    /// The paths a container changed in its writable layer (`docker diff`).
    pub async fn container_changes(&self, id: &str) -> Result<Vec<String>, DockerError> {
        let d = self.docker().await?;
        let changes = Self::call("container changes", d.container_changes(id)).await?;
        Ok(changes.into_iter().flatten().map(|c| c.path).collect())
    }

    /// Ids of the running containers.
    pub async fn running_ids(&self) -> Result<Vec<String>, DockerError> {
        let d = self.docker().await?;
        let opts = bollard::query_parameters::ListContainersOptionsBuilder::default().build();
        let list = Self::call("container list", d.list_containers(Some(opts))).await?;
        Ok(list.into_iter().filter_map(|c| c.id).collect())
    }

    /// Container start and die events, as (action, container id), until the stream ends.
    pub async fn container_events(
        &self,
    ) -> Result<
        impl futures_util::Stream<Item = Result<(String, String), DockerError>> + '_,
        DockerError,
    > {
        use futures_util::StreamExt;
        let d = self.docker().await?;
        let mut filters = HashMap::new();
        filters.insert("type".to_string(), vec!["container".to_string()]);
        filters.insert(
            "event".to_string(),
            vec!["start".to_string(), "die".to_string()],
        );
        let opts = bollard::query_parameters::EventsOptionsBuilder::default()
            .filters(&filters)
            .build();
        Ok(d.events(Some(opts)).map(|e| {
            e.map(|m| {
                let action = m.action.unwrap_or_default();
                let id = m.actor.and_then(|a| a.id).unwrap_or_default();
                (action, id)
            })
            .map_err(|e| docker_error("events", e))
        }))
    }
}

/// A daemon error: 404 is "not found", the rest the API's own error.
fn docker_error(what: &str, e: BollardError) -> DockerError {
    let what = what.to_string();
    match e {
        BollardError::DockerResponseServerError {
            status_code: 404,
            message,
        } => DockerError::NotFound { what, message },
        // The swarm endpoint answers 503 on a node that is not a manager.
        BollardError::DockerResponseServerError {
            status_code: 503,
            message,
        } if what == "swarm" => DockerError::NotFound { what, message },
        source => DockerError::Api { what, source },
    }
}
