//! Typed views of the Docker Engine API documents the host hands over as JSON.
//!
//! Only the fields checks use are modelled; everything is optional or defaulted because
//! old engines lack fields and the API sends `null` for empty lists.

use crate::bindings::bulwark::plugin::evidence as ev;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;

/// Deserialize `null` as the type's default (the Engine API sends `null` for empty lists).
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DockerInfo {
    #[serde(deserialize_with = "nullable")]
    pub driver: String,
    #[serde(deserialize_with = "nullable")]
    pub logging_driver: String,
    pub live_restore_enabled: bool,
    #[serde(deserialize_with = "nullable")]
    pub security_options: Vec<String>,
    #[serde(rename = "DockerRootDir", deserialize_with = "nullable")]
    pub docker_root_dir: String,
    #[serde(deserialize_with = "nullable")]
    pub server_version: String,
    #[serde(deserialize_with = "nullable")]
    pub experimental_build: bool,
    #[serde(deserialize_with = "nullable")]
    pub swarm: SwarmInfo,
    #[serde(deserialize_with = "nullable")]
    pub registry_config: RegistryConfig,
    #[serde(deserialize_with = "nullable")]
    pub plugins: PluginsInfo,
    #[serde(deserialize_with = "nullable")]
    pub cgroup_driver: String,
    #[serde(deserialize_with = "nullable")]
    pub architecture: String,
    /// Podman's own field (Docker has none): the service runs as an unprivileged user.
    #[serde(deserialize_with = "nullable")]
    pub rootless: bool,
}

impl DockerInfo {
    /// Security options parsed into (name, key/value pairs), e.g. `name=seccomp,profile=default`.
    pub fn security_option(&self, name: &str) -> Option<BTreeMap<String, String>> {
        self.security_options.iter().find_map(|opt| {
            let kv: BTreeMap<String, String> = opt
                .split(',')
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            (kv.get("name").map(String::as_str) == Some(name)).then_some(kv)
        })
    }
    pub fn swarm_active(&self) -> bool {
        self.swarm.local_node_state == "active"
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SwarmInfo {
    #[serde(deserialize_with = "nullable")]
    pub local_node_state: String,
    #[serde(deserialize_with = "nullable")]
    pub control_available: bool,
    #[serde(rename = "NodeID", deserialize_with = "nullable")]
    pub node_id: String,
    #[serde(deserialize_with = "nullable")]
    pub remote_managers: Vec<RemoteManager>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RemoteManager {
    #[serde(rename = "NodeID", deserialize_with = "nullable")]
    pub node_id: String,
    /// `host:port` the manager is reached at.
    #[serde(deserialize_with = "nullable")]
    pub addr: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RegistryConfig {
    #[serde(rename = "InsecureRegistryCIDRs", deserialize_with = "nullable")]
    pub insecure_registry_cidrs: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub index_configs: BTreeMap<String, IndexConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IndexConfig {
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    #[serde(deserialize_with = "nullable")]
    pub secure: bool,
    #[serde(deserialize_with = "nullable")]
    pub official: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PluginsInfo {
    #[serde(deserialize_with = "nullable")]
    pub authorization: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DockerVersion {
    #[serde(deserialize_with = "nullable")]
    pub version: String,
    #[serde(rename = "ApiVersion", deserialize_with = "nullable")]
    pub api_version: String,
    #[serde(deserialize_with = "nullable")]
    pub experimental: bool,
    #[serde(deserialize_with = "nullable")]
    pub platform: VersionPlatform,
    /// The engine's parts ("Engine", "containerd"; Podman lists "Podman Engine").
    #[serde(deserialize_with = "nullable")]
    pub components: Vec<VersionComponent>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VersionComponent {
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    #[serde(deserialize_with = "nullable")]
    pub version: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VersionPlatform {
    #[serde(deserialize_with = "nullable")]
    pub name: String,
}

/// `GET /containers/{id}/json`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerInspect {
    #[serde(deserialize_with = "nullable")]
    pub id: String,
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    #[serde(deserialize_with = "nullable")]
    pub image: String,
    #[serde(deserialize_with = "nullable")]
    pub app_armor_profile: String,
    #[serde(deserialize_with = "nullable")]
    pub state: ContainerState,
    #[serde(deserialize_with = "nullable")]
    pub config: ContainerConfig,
    #[serde(deserialize_with = "nullable")]
    pub host_config: HostConfig,
    #[serde(deserialize_with = "nullable")]
    pub mounts: Vec<Mount>,
    #[serde(deserialize_with = "nullable")]
    pub network_settings: NetworkSettings,
}

impl ContainerInspect {
    /// The container's name without Docker's leading slash.
    pub fn short_name(&self) -> &str {
        self.name.strip_prefix('/').unwrap_or(&self.name)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerState {
    #[serde(deserialize_with = "nullable")]
    pub status: String,
    #[serde(deserialize_with = "nullable")]
    pub running: bool,
    #[serde(deserialize_with = "nullable")]
    pub pid: i64,
    /// The engine's health report; none when it reports none.
    pub health: Option<Health>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Health {
    /// "healthy", "starting", ...; Podman reports an empty one for every container.
    #[serde(deserialize_with = "nullable")]
    pub status: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerConfig {
    #[serde(deserialize_with = "nullable")]
    pub user: String,
    #[serde(deserialize_with = "nullable")]
    pub image: String,
    pub healthcheck: Option<Healthcheck>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Healthcheck {
    #[serde(deserialize_with = "nullable")]
    pub test: Vec<String>,
}

impl Healthcheck {
    /// A healthcheck that actually tests something (not `NONE`, not inherited-empty).
    pub fn is_active(&self) -> bool {
        !self.test.is_empty() && self.test[0] != "NONE"
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    #[serde(deserialize_with = "nullable")]
    pub privileged: bool,
    #[serde(deserialize_with = "nullable")]
    pub cap_add: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub cap_drop: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub security_opt: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub network_mode: String,
    #[serde(deserialize_with = "nullable")]
    pub pid_mode: String,
    #[serde(deserialize_with = "nullable")]
    pub ipc_mode: String,
    #[serde(rename = "UTSMode", deserialize_with = "nullable")]
    pub uts_mode: String,
    #[serde(deserialize_with = "nullable")]
    pub userns_mode: String,
    #[serde(deserialize_with = "nullable")]
    pub cgroup_parent: String,
    #[serde(deserialize_with = "nullable")]
    pub memory: i64,
    #[serde(deserialize_with = "nullable")]
    pub cpu_shares: i64,
    #[serde(rename = "NanoCpus", deserialize_with = "nullable")]
    pub nano_cpus: i64,
    pub pids_limit: Option<i64>,
    #[serde(deserialize_with = "nullable")]
    pub readonly_rootfs: bool,
    #[serde(deserialize_with = "nullable")]
    pub restart_policy: RestartPolicy,
    #[serde(deserialize_with = "nullable")]
    pub devices: Vec<DeviceMapping>,
    #[serde(deserialize_with = "nullable")]
    pub ulimits: Vec<Ulimit>,
    #[serde(deserialize_with = "nullable")]
    pub port_bindings: BTreeMap<String, Option<Vec<PortBinding>>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeviceMapping {
    #[serde(deserialize_with = "nullable")]
    pub path_on_host: String,
    #[serde(deserialize_with = "nullable")]
    pub path_in_container: String,
    #[serde(deserialize_with = "nullable")]
    pub cgroup_permissions: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ulimit {
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    #[serde(deserialize_with = "nullable")]
    pub soft: i64,
    #[serde(deserialize_with = "nullable")]
    pub hard: i64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    #[serde(deserialize_with = "nullable")]
    pub maximum_retry_count: i64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Mount {
    #[serde(rename = "Type", deserialize_with = "nullable")]
    pub kind: String,
    #[serde(deserialize_with = "nullable")]
    pub source: String,
    #[serde(deserialize_with = "nullable")]
    pub destination: String,
    #[serde(rename = "RW", deserialize_with = "nullable")]
    pub rw: bool,
    #[serde(deserialize_with = "nullable")]
    pub propagation: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkSettings {
    /// Published ports of a running container: "80/tcp" → bindings (null when unpublished).
    #[serde(deserialize_with = "nullable")]
    pub ports: BTreeMap<String, Option<Vec<PortBinding>>>,
    /// The networks it is attached to, by name.
    #[serde(deserialize_with = "nullable")]
    pub networks: BTreeMap<String, Endpoint>,
}

/// A container's attachment to one network.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Endpoint {
    #[serde(rename = "NetworkID", deserialize_with = "nullable")]
    pub network_id: String,
    #[serde(rename = "IPAddress", deserialize_with = "nullable")]
    pub ip_address: String,
    #[serde(rename = "GlobalIPv6Address", deserialize_with = "nullable")]
    pub global_ipv6_address: String,
    #[serde(deserialize_with = "nullable")]
    pub gateway: String,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct PortBinding {
    #[serde(rename = "HostIp", deserialize_with = "nullable")]
    pub host_ip: String,
    #[serde(rename = "HostPort", deserialize_with = "nullable")]
    pub host_port: String,
}

/// A published port: container port and where it is bound on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub container_port: String,
    pub host_ip: String,
    pub host_port: Option<u16>,
}

impl Published {
    /// `0.0.0.0`, `::` or empty: listens on every host interface (IPv4 or IPv6).
    pub fn is_wildcard(&self) -> bool {
        matches!(self.host_ip.as_str(), "" | "0.0.0.0" | "::" | "[::]")
    }
}

impl std::fmt::Display for Published {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ip = if self.host_ip.contains(':') {
            format!("[{}]", self.host_ip)
        } else if self.host_ip.is_empty() {
            "0.0.0.0".to_string()
        } else {
            self.host_ip.clone()
        };
        match self.host_port {
            Some(p) => write!(f, "{ip}:{p}->{}", self.container_port),
            None => write!(f, "{ip}:?->{}", self.container_port),
        }
    }
}

impl ContainerInspect {
    /// Every host binding of every published port, IPv4 and IPv6 alike. A running
    /// container reports its live bindings; otherwise the requested ones are used.
    pub fn published_ports(&self) -> Vec<Published> {
        let source = if self.state.running || self.host_config.port_bindings.is_empty() {
            &self.network_settings.ports
        } else {
            &self.host_config.port_bindings
        };
        let mut out = Vec::new();
        for (cport, bindings) in source {
            for b in bindings.iter().flatten() {
                out.push(Published {
                    container_port: cport.clone(),
                    host_ip: b.host_ip.clone(),
                    host_port: b.host_port.parse().ok(),
                });
            }
        }
        out
    }
}

/// The typed record the host reads from the inspect document (ABI 0.1.3), as the struct a
/// test host parses from the document itself: checks see one shape either way.
impl From<ev::ContainerRecord> for ContainerInspect {
    fn from(r: ev::ContainerRecord) -> Self {
        let ports = |ps: Vec<ev::Port>| -> BTreeMap<String, Option<Vec<PortBinding>>> {
            ps.into_iter()
                .map(|p| {
                    let bindings = p.bindings.map(|bs| {
                        bs.into_iter()
                            .map(|b| PortBinding {
                                host_ip: b.host_ip,
                                host_port: b.host_port,
                            })
                            .collect()
                    });
                    (p.port, bindings)
                })
                .collect()
        };
        let h = r.host_config;
        ContainerInspect {
            id: r.id,
            name: r.name,
            image: r.image_id,
            app_armor_profile: r.app_armor_profile,
            state: ContainerState {
                status: r.state.status,
                running: r.state.running,
                pid: r.state.pid,
                health: r.state.health.map(|status| Health { status }),
            },
            config: ContainerConfig {
                user: r.user,
                image: r.image,
                healthcheck: r.healthcheck.map(|test| Healthcheck { test }),
            },
            host_config: HostConfig {
                privileged: h.privileged,
                cap_add: h.cap_add,
                cap_drop: h.cap_drop,
                security_opt: h.security_opt,
                network_mode: h.network_mode,
                pid_mode: h.pid_mode,
                ipc_mode: h.ipc_mode,
                uts_mode: h.uts_mode,
                userns_mode: h.userns_mode,
                cgroup_parent: h.cgroup_parent,
                memory: h.memory,
                cpu_shares: h.cpu_shares,
                nano_cpus: h.nano_cpus,
                pids_limit: h.pids_limit,
                readonly_rootfs: h.readonly_rootfs,
                restart_policy: RestartPolicy {
                    name: h.restart_policy,
                    maximum_retry_count: h.restart_max_retries,
                },
                devices: h
                    .devices
                    .into_iter()
                    .map(|d| DeviceMapping {
                        path_on_host: d.path_on_host,
                        path_in_container: d.path_in_container,
                        cgroup_permissions: d.cgroup_permissions,
                    })
                    .collect(),
                ulimits: h
                    .ulimits
                    .into_iter()
                    .map(|u| Ulimit {
                        name: u.name,
                        soft: u.soft,
                        hard: u.hard,
                    })
                    .collect(),
                port_bindings: ports(h.port_bindings),
            },
            mounts: r
                .mounts
                .into_iter()
                .map(|m| Mount {
                    kind: m.kind,
                    source: m.source,
                    destination: m.destination,
                    rw: m.rw,
                    propagation: m.propagation,
                })
                .collect(),
            network_settings: NetworkSettings {
                ports: ports(r.ports),
                networks: r
                    .networks
                    .into_iter()
                    .map(|n| {
                        let e = Endpoint {
                            network_id: n.network_id,
                            ip_address: n.ip_address,
                            global_ipv6_address: n.global_ipv6_address,
                            gateway: n.gateway,
                        };
                        (n.name, e)
                    })
                    .collect(),
            },
        }
    }
}

/// One image from `GET /images/json`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageSummary {
    #[serde(deserialize_with = "nullable")]
    pub id: String,
    #[serde(deserialize_with = "nullable")]
    pub repo_tags: Vec<String>,
}

impl ImageSummary {
    /// A readable name: the first tag, else the short id.
    pub fn display_name(&self) -> String {
        self.repo_tags
            .iter()
            .find(|t| *t != "<none>:<none>")
            .cloned()
            .unwrap_or_else(|| {
                self.id
                    .trim_start_matches("sha256:")
                    .chars()
                    .take(12)
                    .collect()
            })
    }
}

/// One network from `GET /networks`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkSummary {
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    #[serde(deserialize_with = "nullable")]
    pub driver: String,
    #[serde(deserialize_with = "nullable")]
    pub options: BTreeMap<String, String>,
}

/// `GET /images/{name}/json`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageInspect {
    #[serde(deserialize_with = "nullable")]
    pub id: String,
    #[serde(deserialize_with = "nullable")]
    pub repo_tags: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub config: ImageConfig,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageConfig {
    #[serde(deserialize_with = "nullable")]
    pub user: String,
    #[serde(deserialize_with = "nullable")]
    pub env: Vec<String>,
    pub healthcheck: Option<Healthcheck>,
}

/// One layer from `GET /images/{name}/history`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HistoryItem {
    #[serde(deserialize_with = "nullable")]
    pub id: String,
    #[serde(deserialize_with = "nullable")]
    pub created_by: String,
    #[serde(deserialize_with = "nullable")]
    pub tags: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub size: i64,
    #[serde(deserialize_with = "nullable")]
    pub comment: String,
}

/// `GET /swarm` on a manager.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SwarmInspect {
    #[serde(rename = "ID", deserialize_with = "nullable")]
    pub id: String,
    /// The swarm spec as the Engine API gives it (orchestration, CA, encryption, ...).
    pub spec: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nulls_become_defaults() {
        let c: ContainerInspect = serde_json::from_str(
            r#"{"Name":"/web","HostConfig":{"CapAdd":null,"PidsLimit":null,"Memory":0},
                "Mounts":null,"NetworkSettings":{"Ports":{"80/tcp":null}}}"#,
        )
        .unwrap();
        assert_eq!(c.short_name(), "web");
        assert!(c.host_config.cap_add.is_empty());
        assert!(c.published_ports().is_empty());
    }

    #[test]
    fn ipv6_bindings_count() {
        let c: ContainerInspect = serde_json::from_str(
            r#"{"State":{"Running":true},"NetworkSettings":{"Ports":{"80/tcp":[
                {"HostIp":"0.0.0.0","HostPort":"8080"},{"HostIp":"::","HostPort":"8080"}]}}}"#,
        )
        .unwrap();
        let p = c.published_ports();
        assert_eq!(p.len(), 2);
        assert!(p.iter().all(Published::is_wildcard));
        assert_eq!(p[1].to_string(), "[::]:8080->80/tcp");
    }

    #[test]
    fn image_documents_parse() {
        let i: ImageInspect = serde_json::from_str(
            r#"{"Id":"sha256:x","RepoTags":null,"Config":{"User":"app","Healthcheck":{"Test":["CMD","true"]}}}"#,
        )
        .unwrap();
        assert_eq!(i.config.user, "app");
        assert!(i.config.healthcheck.unwrap().is_active());
        let h: Vec<HistoryItem> = serde_json::from_str(
            r#"[{"Id":"<missing>","CreatedBy":"/bin/sh -c apt-get update","Tags":null}]"#,
        )
        .unwrap();
        assert!(h[0].created_by.contains("update"));
    }

    #[test]
    fn security_options_parse() {
        let i: DockerInfo = serde_json::from_str(
            r#"{"SecurityOptions":["name=seccomp,profile=default","name=rootless"]}"#,
        )
        .unwrap();
        assert_eq!(
            i.security_option("seccomp")
                .unwrap()
                .get("profile")
                .unwrap(),
            "default"
        );
        assert!(i.security_option("rootless").is_some());
        assert!(i.security_option("apparmor").is_none());
    }
}
