//! One Docker Engine API client for everything that talks to the daemon (evidence
//! collection and `watch`): endpoint choice (`-H`, `DOCKER_HOST`, Docker CLI contexts, TLS
//! as the Docker CLI takes it), connection and version negotiation, a timeout on every call,
//! and the mapping of daemon errors to evidence errors.

use bollard::errors::Error as BollardError;
use bollard::Docker;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;
use tokio::sync::OnceCell;

/// How long one Docker API call may take before it counts as unavailable, unless
/// `--api-timeout` says otherwise.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// After a call got no answer, later calls fail at once for this long instead of each
/// waiting out its own timeout: a hung daemon costs an audit one timeout, not one per query.
const STALL_HOLD: Duration = Duration::from_secs(60);

/// Until when the daemon counts as stalled (see [`STALL_HOLD`]).
static STALLED_UNTIL: std::sync::Mutex<Option<std::time::Instant>> = std::sync::Mutex::new(None);

fn call_timeout() -> Duration {
    SETTINGS
        .get()
        .and_then(|s| s.api_timeout)
        .unwrap_or(CALL_TIMEOUT)
}
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
    #[error("{0}")]
    Endpoint(String),
}

/// How to reach daemons when no `-H` says otherwise, and with which TLS material, as the
/// Docker CLI takes them: `--tlsverify`, `--tlscacert`/`--tlscert`/`--tlskey` (else the
/// files in `DOCKER_CERT_PATH`, else `~/.docker`), `--context` (else `DOCKER_CONTEXT`,
/// else the config's `currentContext`). Set once by the command line, before any client.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub tls_verify: bool,
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub context: Option<String>,
    /// How long one API call may take (default 30 s).
    pub api_timeout: Option<Duration>,
    /// How many evidence calls may be in flight at once (default [`API_CONCURRENCY`]).
    pub api_concurrency: Option<usize>,
}

/// Evidence calls in flight at once unless `--api-concurrency` says otherwise: the fastest
/// pool measured by `cargo xtask bench` (scale) against dockerd on this 2-core machine;
/// more only queues inside the daemon.
pub const API_CONCURRENCY: usize = 8;

/// How many evidence calls may be in flight at once.
pub fn api_concurrency() -> usize {
    SETTINGS
        .get()
        .and_then(|s| s.api_concurrency)
        .unwrap_or(API_CONCURRENCY)
        .max(1)
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// Set the connection settings of this process (the first call wins).
pub fn configure(s: Settings) {
    let _ = SETTINGS.set(s);
}

/// TLS client material: the CA that signs the daemon's certificate, and ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Where a daemon is and how to talk to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    pub tls: Option<Tls>,
    /// How it was chosen: `-H`, `DOCKER_HOST`, `context NAME`, or the default.
    pub via: String,
}

/// The Docker CLI's configuration directory: `DOCKER_CONFIG`, else `~/.docker`.
fn docker_config_dir() -> PathBuf {
    match std::env::var_os("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".docker"),
    }
}

/// A context's endpoint, from `contexts/meta/<sha256(name)>/meta.json`, with its TLS
/// material from `contexts/tls/<sha256(name)>/docker/` when that holds any.
fn context_endpoint(dir: &Path, name: &str) -> Result<Endpoint, String> {
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(name.as_bytes()));
    let meta = dir.join("contexts/meta").join(&digest).join("meta.json");
    let text = std::fs::read_to_string(&meta)
        .map_err(|e| format!("context {name:?}: cannot read {}: {e}", meta.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("context {name:?}: {} is not JSON: {e}", meta.display()))?;
    let host = v["Endpoints"]["docker"]["Host"]
        .as_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("context {name:?} names no Docker endpoint"))?;
    let tls_dir = dir.join("contexts/tls").join(&digest).join("docker");
    let tls = tls_dir.join("ca.pem").exists().then(|| Tls {
        ca: tls_dir.join("ca.pem"),
        cert: tls_dir.join("cert.pem"),
        key: tls_dir.join("key.pem"),
    });
    Ok(Endpoint {
        url: host.to_string(),
        tls,
        via: format!("context {name}"),
    })
}

/// The context in effect: `--context`, else `DOCKER_CONTEXT`, else the Docker CLI config's
/// `currentContext`; `None` for the built-in `default`.
fn current_context(s: &Settings, dir: &Path) -> Option<String> {
    let name = s
        .context
        .clone()
        .or_else(|| std::env::var("DOCKER_CONTEXT").ok())
        .or_else(|| {
            let text = std::fs::read_to_string(dir.join("config.json")).ok()?;
            let v: serde_json::Value = serde_json::from_str(&text).ok()?;
            v["currentContext"].as_str().map(str::to_string)
        })?;
    (!name.is_empty() && name != "default").then_some(name)
}

impl Endpoint {
    /// The endpoint for an explicit `-H` (or none): `-H`, else `DOCKER_HOST`, else the
    /// context in effect, else the default socket; TLS from the settings and environment
    /// for `tcp://` endpoints that ask for it.
    pub fn resolve(explicit: Option<String>) -> Result<Endpoint, String> {
        let s = SETTINGS.get().cloned().unwrap_or_default();
        let dir = docker_config_dir();
        let env_host = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty());
        // As the Docker CLI: -H, then an explicit --context, then DOCKER_HOST, then the
        // context from DOCKER_CONTEXT or the config.
        let (url, via) = match (explicit, &s.context, env_host) {
            (Some(h), _, _) => (h, "-H".to_string()),
            (None, Some(name), _) => return context_endpoint(&dir, name),
            (None, None, Some(h)) => (h, "DOCKER_HOST".to_string()),
            (None, None, None) => match current_context(&s, &dir) {
                Some(name) => return context_endpoint(&dir, &name),
                None => (
                    DEFAULT_ENDPOINT.to_string(),
                    "the default socket".to_string(),
                ),
            },
        };
        let env_verify = std::env::var("DOCKER_TLS_VERIFY").is_ok_and(|v| !v.is_empty());
        let wants_tls = s.tls_verify || env_verify || s.ca.is_some() || s.cert.is_some();
        let tls = (wants_tls && !url.starts_with("unix://")).then(|| {
            let certs = std::env::var_os("DOCKER_CERT_PATH")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| dir.clone());
            Tls {
                ca: s.ca.clone().unwrap_or_else(|| certs.join("ca.pem")),
                cert: s.cert.clone().unwrap_or_else(|| certs.join("cert.pem")),
                key: s.key.clone().unwrap_or_else(|| certs.join("key.pem")),
            }
        });
        Ok(Endpoint { url, tls, via })
    }

    /// Whether the daemon may be on another machine than this process: a network endpoint
    /// that is not loopback. Host evidence (files, /proc, audit rules, sockets) read here
    /// would then describe the wrong machine.
    pub fn is_remote(&self) -> bool {
        let Some((scheme, rest)) = self.url.split_once("://") else {
            return false;
        };
        if scheme == "unix" || scheme == "npipe" {
            return false;
        }
        let authority = rest.split('/').next().unwrap_or("");
        let authority = authority.rsplit('@').next().unwrap_or(authority);
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(""),
            None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
        };
        let loopback = host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        !loopback
    }
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
    /// An earlier call timed out: the daemon is not asked again for a while.
    #[error("{what}: not asked: the daemon stopped answering (an earlier call got no answer within {secs} s)")]
    Stalled { what: String, secs: u64 },
    /// The connection broke after it had worked: the daemon stopped or died mid-audit.
    #[error("{what}: the daemon went away: {source}")]
    Gone {
        what: String,
        #[source]
        source: BollardError,
    },
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
    endpoint: Result<Endpoint, String>,
    /// The connection, or why connecting failed (kept: it is not retried).
    docker: OnceCell<Result<Docker, ConnectError>>,
}

impl Client {
    /// `endpoint`: an explicit `--host`, else `DOCKER_HOST`, else the Docker CLI context in
    /// effect, else the default socket (see [`Endpoint::resolve`]).
    pub fn new(endpoint: Option<String>) -> Self {
        Client {
            endpoint: Endpoint::resolve(endpoint),
            docker: OnceCell::new(),
        }
    }

    /// The endpoint's URL (or, when it could not be resolved, the reason).
    pub fn endpoint(&self) -> &str {
        match &self.endpoint {
            Ok(e) => &e.url,
            Err(why) => why,
        }
    }

    /// Whether the daemon may be on another machine (see [`Endpoint::is_remote`]).
    pub fn is_remote(&self) -> bool {
        self.endpoint.as_ref().is_ok_and(Endpoint::is_remote)
    }

    /// The resolved endpoint, when it could be.
    pub fn resolved(&self) -> Option<&Endpoint> {
        self.endpoint.as_ref().ok()
    }

    /// The connected daemon (connecting on first use).
    pub async fn docker(&self) -> Result<&Docker, DockerError> {
        self.docker
            .get_or_init(|| async {
                let e = self.endpoint.clone().map_err(ConnectError::Endpoint)?;
                if e.url.starts_with("ssh://") {
                    // The Docker CLI runs the system's ssh client for these: a process
                    // Bulwark would spawn with the user's keys and configuration.
                    return Err(ConnectError::Endpoint(
                        "ssh:// endpoints are not supported (they need the system's ssh client run as a subprocess); use tcp:// with TLS".to_string(),
                    ));
                }
                let d = if let Some(path) = e.url.strip_prefix("unix://") {
                    Docker::connect_with_unix(path, 30, bollard::API_DEFAULT_VERSION)
                } else if let Some(tls) = &e.tls {
                    for f in [&tls.ca, &tls.cert, &tls.key] {
                        if !f.exists() {
                            return Err(ConnectError::Endpoint(format!(
                                "TLS: {} does not exist (--tlscacert, --tlscert, --tlskey or DOCKER_CERT_PATH)",
                                f.display()
                            )));
                        }
                    }
                    let url = e.url.replacen("tcp://", "https://", 1);
                    Docker::connect_with_ssl(
                        &url,
                        &tls.key,
                        &tls.cert,
                        &tls.ca,
                        30,
                        bollard::API_DEFAULT_VERSION,
                    )
                } else {
                    Docker::connect_with_host(&e.url)
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
                endpoint: self.endpoint().to_string(),
                source: source.clone(),
            })
    }

    /// Run one Docker API call under the timeout, with its errors made evidence errors.
    pub async fn call<T, F>(what: &str, call: F) -> Result<T, DockerError>
    where
        F: std::future::Future<Output = Result<T, BollardError>>,
    {
        let limit = call_timeout();
        let stalled = |until: &mut Option<std::time::Instant>| {
            until.is_some_and(|t| std::time::Instant::now() < t)
        };
        if stalled(&mut STALLED_UNTIL.lock().unwrap_or_else(|p| p.into_inner())) {
            return Err(DockerError::Stalled {
                what: what.to_string(),
                secs: limit.as_secs(),
            });
        }
        match tokio::time::timeout(limit, call).await {
            Err(_) => {
                *STALLED_UNTIL.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(std::time::Instant::now() + STALL_HOLD);
                Err(DockerError::Timeout {
                    what: what.to_string(),
                    secs: limit.as_secs(),
                })
            }
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
        let events = self.events(&[("container", &["start", "die"])]).await?;
        Ok(events.map(|e| e.map(|ev| (ev.action, ev.id))))
    }

    /// The daemon's events of these (type, actions) kinds, until the stream ends.
    pub async fn events(
        &self,
        kinds: &[(&str, &[&str])],
    ) -> Result<impl futures_util::Stream<Item = Result<Event, DockerError>> + '_, DockerError>
    {
        use futures_util::StreamExt;
        let d = self.docker().await?;
        let mut filters: HashMap<String, Vec<String>> = HashMap::new();
        for (kind, actions) in kinds {
            filters
                .entry("type".into())
                .or_default()
                .push(kind.to_string());
            let wanted = filters.entry("event".into()).or_default();
            wanted.extend(actions.iter().map(|a| a.to_string()));
        }
        let opts = bollard::query_parameters::EventsOptionsBuilder::default()
            .filters(&filters)
            .build();
        Ok(d.events(Some(opts)).map(|e| {
            e.map(|m| Event {
                kind: m.typ.map(|t| t.to_string()).unwrap_or_default(),
                action: m.action.unwrap_or_default(),
                id: m.actor.and_then(|a| a.id).unwrap_or_default(),
            })
            .map_err(|e| docker_error("events", e))
        }))
    }
}

/// One daemon event: its object type (`container`, `image`, `daemon`), action and the
/// object's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: String,
    pub action: String,
    pub id: String,
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
        // Anything short of an HTTP answer means the connection itself broke: the daemon
        // answered before (the client connected), so it stopped or died since.
        source @ (BollardError::IOError { .. }
        | BollardError::HyperResponseError { .. }
        | BollardError::HyperLegacyError { .. }
        | BollardError::RequestTimeoutError) => DockerError::Gone { what, source },
        source => DockerError::Api { what, source },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(url: &str) -> Endpoint {
        Endpoint {
            url: url.to_string(),
            tls: None,
            via: "-H".to_string(),
        }
    }

    #[test]
    fn remote_means_a_network_endpoint_that_is_not_loopback() {
        for local in [
            "unix:///var/run/docker.sock",
            "tcp://127.0.0.1:2376",
            "tcp://localhost:2375",
            "tcp://[::1]:2376",
            "https://127.0.0.2:2376/",
        ] {
            assert!(!at(local).is_remote(), "{local}");
        }
        for remote in [
            "tcp://10.0.0.5:2376",
            "tcp://docker.example:2376",
            "ssh://me@build-host",
            "tcp://[2001:db8::1]:2376",
        ] {
            assert!(at(remote).is_remote(), "{remote}");
        }
    }

    #[test]
    fn contexts_are_read_as_the_docker_cli_writes_them() {
        use sha2::Digest;
        let dir = tempfile::tempdir().unwrap();
        let digest = hex::encode(sha2::Sha256::digest(b"prod"));
        let meta = dir.path().join("contexts/meta").join(&digest);
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("meta.json"),
            r#"{"Name":"prod","Endpoints":{"docker":{"Host":"tcp://10.1.2.3:2376"}}}"#,
        )
        .unwrap();
        let e = context_endpoint(dir.path(), "prod").unwrap();
        assert_eq!(e.url, "tcp://10.1.2.3:2376");
        assert_eq!(e.tls, None);
        let tls = dir.path().join("contexts/tls").join(&digest).join("docker");
        std::fs::create_dir_all(&tls).unwrap();
        std::fs::write(tls.join("ca.pem"), "x").unwrap();
        let e = context_endpoint(dir.path(), "prod").unwrap();
        assert_eq!(e.tls.map(|t| t.key), Some(tls.join("key.pem")));
        let err = context_endpoint(dir.path(), "nope").unwrap_err();
        assert!(err.contains("context \"nope\""), "{err}");
        std::fs::write(meta.join("meta.json"), "{not json").unwrap();
        assert!(context_endpoint(dir.path(), "prod")
            .unwrap_err()
            .contains("not JSON"));
    }
}
