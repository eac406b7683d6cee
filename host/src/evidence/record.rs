//! The typed container record (ABI 0.1.3) read from a container's inspect document: the
//! host parses each document once per audit, natively, and every plugin that asks gets
//! the same record instead of parsing the JSON again inside its sandbox.

use super::{Doc, EvidenceError};
use crate::abi::ev;
use bollard::models::{ContainerInspectResponse, PortMap};

/// The record of one inspect document. A document that is not a container inspect (a
/// corrupt snapshot) is unavailable evidence, with serde's reason.
pub fn from_doc(doc: &Doc) -> Result<ev::ContainerRecord, EvidenceError> {
    serde_json::from_str::<ContainerInspectResponse>(doc.text())
        .map(record)
        .map_err(|e| EvidenceError::Unavailable(format!("malformed container inspect: {e}")))
}

fn record(i: ContainerInspectResponse) -> ev::ContainerRecord {
    let state = i.state.unwrap_or_default();
    let config = i.config.unwrap_or_default();
    let net = i.network_settings.unwrap_or_default();
    let mut networks: Vec<ev::NetworkEndpoint> = net
        .networks
        .unwrap_or_default()
        .into_iter()
        .map(|(name, e)| ev::NetworkEndpoint {
            name,
            network_id: e.network_id.unwrap_or_default(),
            ip_address: e.ip_address.unwrap_or_default(),
            global_ipv6_address: e.global_ipv6_address.unwrap_or_default(),
            gateway: e.gateway.unwrap_or_default(),
        })
        .collect();
    networks.sort_by(|a, b| a.name.cmp(&b.name));
    let name = i.name.unwrap_or_default();
    ev::ContainerRecord {
        id: i.id.unwrap_or_default(),
        name: name.strip_prefix('/').unwrap_or(&name).to_string(),
        image_id: i.image.unwrap_or_default(),
        image: config.image.unwrap_or_default(),
        user: config.user.unwrap_or_default(),
        healthcheck: config.healthcheck.and_then(|h| h.test),
        app_armor_profile: i.app_armor_profile.unwrap_or_default(),
        state: ev::ContainerState {
            status: state.status.map(|s| s.to_string()).unwrap_or_default(),
            running: state.running.unwrap_or(false),
            pid: state.pid.unwrap_or(0),
            health: state
                .health
                .map(|h| h.status.map(|s| s.to_string()).unwrap_or_default()),
        },
        host_config: host_config(i.host_config.unwrap_or_default()),
        mounts: i
            .mounts
            .unwrap_or_default()
            .into_iter()
            .map(|m| ev::Mount {
                kind: m.typ.unwrap_or_default(),
                source: m.source.unwrap_or_default(),
                destination: m.destination.unwrap_or_default(),
                rw: m.rw.unwrap_or(false),
                propagation: m.propagation.unwrap_or_default(),
            })
            .collect(),
        ports: ports(net.ports),
        networks,
    }
}

fn host_config(h: bollard::models::HostConfig) -> ev::HostConfig {
    let restart = h.restart_policy.unwrap_or_default();
    ev::HostConfig {
        privileged: h.privileged.unwrap_or(false),
        cap_add: h.cap_add.unwrap_or_default(),
        cap_drop: h.cap_drop.unwrap_or_default(),
        security_opt: h.security_opt.unwrap_or_default(),
        network_mode: h.network_mode.unwrap_or_default(),
        pid_mode: h.pid_mode.unwrap_or_default(),
        ipc_mode: h.ipc_mode.unwrap_or_default(),
        uts_mode: h.uts_mode.unwrap_or_default(),
        userns_mode: h.userns_mode.unwrap_or_default(),
        cgroup_parent: h.cgroup_parent.unwrap_or_default(),
        memory: h.memory.unwrap_or(0),
        cpu_shares: h.cpu_shares.unwrap_or(0),
        nano_cpus: h.nano_cpus.unwrap_or(0),
        pids_limit: h.pids_limit,
        readonly_rootfs: h.readonly_rootfs.unwrap_or(false),
        restart_policy: restart.name.map(|n| n.to_string()).unwrap_or_default(),
        restart_max_retries: restart.maximum_retry_count.unwrap_or(0),
        devices: h
            .devices
            .unwrap_or_default()
            .into_iter()
            .map(|d| ev::DeviceMapping {
                path_on_host: d.path_on_host.unwrap_or_default(),
                path_in_container: d.path_in_container.unwrap_or_default(),
                cgroup_permissions: d.cgroup_permissions.unwrap_or_default(),
            })
            .collect(),
        ulimits: h
            .ulimits
            .unwrap_or_default()
            .into_iter()
            .map(|u| ev::Ulimit {
                name: u.name.unwrap_or_default(),
                soft: u.soft.unwrap_or(0),
                hard: u.hard.unwrap_or(0),
            })
            .collect(),
        port_bindings: ports(h.port_bindings),
    }
}

/// A port map in port order (the Engine API's is a JSON object, unordered here).
fn ports(map: Option<PortMap>) -> Vec<ev::Port> {
    let mut out: Vec<ev::Port> = map
        .unwrap_or_default()
        .into_iter()
        .map(|(port, bindings)| ev::Port {
            port,
            bindings: bindings.map(|bs| {
                bs.into_iter()
                    .map(|b| ev::PortBinding {
                        host_ip: b.host_ip.unwrap_or_default(),
                        host_port: b.host_port.unwrap_or_default(),
                    })
                    .collect()
            }),
        })
        .collect();
    out.sort_by(|a, b| a.port.cmp(&b.port));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(v: serde_json::Value) -> Doc {
        Doc::from(v)
    }

    #[test]
    fn an_inspect_document_becomes_its_record() {
        let r = from_doc(&doc(serde_json::json!({
            "Id": "abc", "Name": "/web", "Image": "sha256:1",
            "AppArmorProfile": "docker-default",
            "State": {"Status": "running", "Running": true, "Pid": 42,
                      "Health": {"Status": "healthy"}},
            "Config": {"User": "app", "Image": "nginx:1.25",
                       "Healthcheck": {"Test": ["CMD", "true"]}},
            "HostConfig": {"Privileged": true, "CapAdd": ["NET_ADMIN"], "CapDrop": null,
                           "PidsLimit": null, "Memory": 1024,
                           "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 5},
                           "Devices": [{"PathOnHost": "/dev/fuse",
                                        "PathInContainer": "/dev/fuse",
                                        "CgroupPermissions": "rwm"}],
                           "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}],
                           "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}},
            "Mounts": [{"Type": "bind", "Source": "/etc", "Destination": "/host",
                        "RW": false, "Propagation": "rprivate"}],
            "NetworkSettings": {"Ports": {"443/tcp": null,
                                          "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]},
                                "Networks": {"z": {"IPAddress": "172.17.0.2"}, "bridge": {}}}
        })))
        .unwrap();
        assert_eq!((r.name.as_str(), r.image_id.as_str()), ("web", "sha256:1"));
        assert_eq!((r.image.as_str(), r.user.as_str()), ("nginx:1.25", "app"));
        assert_eq!(
            r.healthcheck.as_deref(),
            Some(&["CMD".to_string(), "true".to_string()][..])
        );
        assert_eq!(r.state.health.as_deref(), Some("healthy"));
        assert_eq!((r.state.pid, r.state.running), (42, true));
        let h = &r.host_config;
        assert!(h.privileged && h.cap_drop.is_empty() && h.pids_limit.is_none());
        assert_eq!(
            (h.restart_policy.as_str(), h.restart_max_retries),
            ("on-failure", 5)
        );
        assert_eq!(h.devices[0].cgroup_permissions, "rwm");
        assert_eq!((h.ulimits[0].soft, h.ulimits[0].hard), (1024, 2048));
        assert_eq!(
            h.port_bindings[0].bindings.as_ref().unwrap()[0].host_port,
            "8080"
        );
        assert_eq!((r.mounts[0].kind.as_str(), r.mounts[0].rw), ("bind", false));
        // Ports and networks in a stable order; an exposed, unpublished port has no bindings.
        assert_eq!(r.ports[0].port, "443/tcp");
        assert!(r.ports[0].bindings.is_none());
        let names: Vec<&str> = r.networks.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["bridge", "z"]);
        assert_eq!(r.networks[1].ip_address, "172.17.0.2");
    }

    #[test]
    fn absent_and_null_fields_are_empty_and_no_health_is_none() {
        let r = from_doc(&doc(serde_json::json!({"Id": "x", "HostConfig": null}))).unwrap();
        assert_eq!(r.name, "");
        assert!(r.state.health.is_none() && r.healthcheck.is_none());
        assert!(!r.host_config.privileged && r.mounts.is_empty() && r.ports.is_empty());
    }

    #[test]
    fn a_document_of_another_shape_is_unavailable_evidence() {
        for bad in [
            serde_json::json!([1, 2]),
            serde_json::json!({"HostConfig": {"Privileged": "yes"}}),
        ] {
            let e = from_doc(&doc(bad)).unwrap_err();
            assert!(
                matches!(&e, EvidenceError::Unavailable(m) if m.starts_with("malformed container inspect")),
                "{e}"
            );
        }
    }
}
