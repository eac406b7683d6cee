//! What to change in a container's run options (`docker run` flags and the Compose keys
//! that say the same) to pass a section 5 check, from its inspect document. Containers are
//! re-created, not edited, so this is advice for the next `docker run` or `compose up`.

use serde::Serialize;
use serde_json::Value;

/// One change to a container's run options.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunChange {
    /// The check it fixes (its id in the report).
    pub check: String,
    /// As `docker run` options.
    pub run: String,
    /// As Compose keys.
    pub compose: String,
    /// What to decide or know.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// Directories to give a tmpfs under a read-only root: the top-level directories the
/// container wrote to (`docker diff`), and /tmp.
fn writable_dirs(changes: &[String]) -> Vec<String> {
    let mut dirs: Vec<String> = changes
        .iter()
        .filter_map(|p| {
            let mut parts = p.trim_start_matches('/').split('/');
            let first = parts.next()?;
            let second = parts.next();
            match (first, second) {
                ("", _) => None,
                // Deeper for the usual writable trees, so /var is not hidden whole.
                ("var" | "usr", Some(s)) => Some(format!("/{first}/{s}")),
                ("var" | "usr", None) => None,
                _ => Some(format!("/{first}")),
            }
        })
        .collect();
    dirs.push("/tmp".to_string());
    dirs.sort();
    dirs.dedup();
    dirs
}

/// Options to add: (check, `docker run` options, Compose keys, note).
const ADD: &[(&str, &str, &str, Option<&str>)] = &[
    ("5.10", "replace --network host with a user-defined network: --network app", "remove `network_mode: host`; `networks: [app]`", None),
    ("5.11", "--memory LIMIT (e.g. --memory 512m)", "`mem_limit: 512m` (or `deploy.resources.limits.memory`)", Some("set it above the container's peak use (`docker stats`)")),
    ("5.12", "--cpu-shares 512 (or --cpus 1.5)", "`cpu_shares: 512` (or `cpus: 1.5`)", None),
    ("5.15", "--restart on-failure:5", "`restart: on-failure:5`", None),
    ("5.19", "--ulimit nofile=1024:1024 (what it needs)", "`ulimits: {nofile: {soft: 1024, hard: 1024}}`", None),
    ("5.20", "mount with private propagation: --mount type=bind,src=SRC,dst=DST,bind-propagation=rprivate", "`volumes: [{type: bind, source: SRC, target: DST, bind: {propagation: rprivate}}]`", None),
    ("5.26", "--security-opt no-new-privileges", "`security_opt: [\"no-new-privileges:true\"]`", Some("or set no-new-privileges daemon-wide (2.14)")),
    ("5.27", "--health-cmd 'a command that exits 0 when the service works' --health-interval 30s", "`healthcheck: {test: [\"CMD\", ...], interval: 30s}` (or HEALTHCHECK in the image)", None),
    ("5.29", "--pids-limit 200", "`pids_limit: 200`", Some("above the processes and threads it runs at peak")),
    ("5.30", "--network app (a user-defined network)", "`networks: [app]`", None),
];

/// Options to remove: (check, `docker run` option, Compose key).
const REMOVE: &[(&str, &str, &str)] = &[
    ("5.5", "--privileged", "privileged: true"),
    ("5.16", "--pid host", "pid: host"),
    ("5.17", "--ipc host", "ipc: host"),
    ("5.21", "--uts host", "uts: host"),
    (
        "5.22",
        "--security-opt seccomp=unconfined",
        "security_opt: [seccomp:unconfined]",
    ),
    ("5.25", "--cgroup-parent", "cgroup_parent"),
    ("5.31", "--userns host", "userns_mode: host"),
    (
        "5.32",
        "the mount of the Docker socket (-v /var/run/docker.sock:...)",
        "the docker.sock entry of volumes",
    ),
];

/// The change that fixes check `implementation` (shown as `id`) for the container whose
/// inspect document is `c` (`changes`: what it wrote); `None` when the catalogue has no run
/// option for it.
pub fn change(implementation: &str, id: &str, c: &Value, changes: &[String]) -> Option<RunChange> {
    let mk = |run: String, compose: String, note: Option<&str>| RunChange {
        check: id.to_string(),
        run,
        compose,
        note: note.map(str::to_string),
    };
    if let Some((_, run, compose, note)) = ADD.iter().find(|a| a.0 == implementation) {
        return Some(mk(run.to_string(), compose.to_string(), *note));
    }
    if let Some((_, flag, key)) = REMOVE.iter().find(|r| r.0 == implementation) {
        return Some(mk(
            format!("remove {flag}"),
            format!("remove `{key}`"),
            None,
        ));
    }
    let (run, compose, note) = match implementation {
        "5.4" => capabilities(c),
        "5.8" | "5.14" => ports(implementation, c),
        "5.6" => read_only_mounts(c),
        "5.13" => {
            let dirs = writable_dirs(changes);
            (
                format!("--read-only --tmpfs {}", dirs.join(" --tmpfs ")),
                format!("`read_only: true`, `tmpfs: [{}]`", dirs.join(", ")),
                Some("the tmpfs mounts are where it wrote so far (`docker diff`); data to keep goes in volumes"),
            )
        }
        _ => return None,
    };
    Some(mk(run, compose, note))
}

/// 5.4: the capabilities added beyond Docker's defaults, to remove.
fn capabilities(c: &Value) -> (String, String, Option<&'static str>) {
    let extra: Vec<String> = strs(&c["HostConfig"]["CapAdd"])
        .into_iter()
        .map(|c| c.trim_start_matches("CAP_").to_ascii_uppercase())
        // Adding one of Docker's defaults changes nothing: not a finding.
        .filter(|c| !crate::harden::caps::DOCKER_DEFAULT.contains(&format!("CAP_{c}").as_str()))
        .collect();
    (
        format!(
            "remove --cap-add {}; better, --cap-drop ALL and --cap-add only what it uses (`bulwark profile record` shows it)",
            extra.join(" --cap-add ")
        ),
        format!("remove {} from `cap_add`; `cap_drop: [ALL]`", extra.join(", ")),
        None,
    )
}

/// 5.8 and 5.14: the published ports, on a host port above 1023 (5.8) or bound to one
/// address (5.14).
fn ports(implementation: &str, c: &Value) -> (String, String, Option<&'static str>) {
    let mut specs = Vec::new();
    for (cport, bindings) in c["NetworkSettings"]["Ports"]
        .as_object()
        .into_iter()
        .flatten()
    {
        let port = cport.split('/').next().unwrap_or(cport);
        for b in bindings.as_array().into_iter().flatten() {
            let ip = b["HostIp"]
                .as_str()
                .filter(|i| !i.is_empty() && *i != "0.0.0.0" && *i != "::");
            let host: u32 = b["HostPort"]
                .as_str()
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            let (ip, host) = match implementation {
                "5.8" if host < 1024 => (ip.unwrap_or("HOSTIP").to_string(), host + 8000),
                "5.14" => (ip.unwrap_or("127.0.0.1").to_string(), host),
                _ => continue,
            };
            specs.push(format!("{ip}:{host}:{port}"));
        }
    }
    specs.dedup();
    let note = match implementation {
        "5.8" => "clients then use the new host port; pick one that is free",
        _ => "use the host address clients should reach it on",
    };
    (
        format!("-p {}", specs.join(" -p ")),
        format!(
            "`ports: [{}]`",
            specs
                .iter()
                .map(|s| format!("\"{s}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Some(note),
    )
}

/// 5.6: the read-write binds of host system directories, read-only.
fn read_only_mounts(c: &Value) -> (String, String, Option<&'static str>) {
    let binds: Vec<String> = c["Mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["Type"] == "bind" && m["RW"] == true)
        .map(|m| {
            format!(
                "{}:{}:ro",
                m["Source"].as_str().unwrap_or(""),
                m["Destination"].as_str().unwrap_or("")
            )
        })
        .collect();
    (
        format!("mount read-only: -v {}", binds.join(" -v ")),
        format!("`volumes: [{}]`", binds.join(", ")),
        Some("or do not mount host system directories at all"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changes_follow_the_container() {
        let c = json!({"HostConfig": {"CapAdd": ["SYS_ADMIN", "NET_RAW"]},
            "Mounts": [{"Type": "bind", "Source": "/etc", "Destination": "/host-etc", "RW": true}]});
        let cap = change("5.4", "5.4", &c, &[]).unwrap();
        assert!(
            cap.run.contains("--cap-add SYS_ADMIN") && !cap.run.contains("NET_RAW"),
            "{cap:?}"
        );
        let m = change("5.6", "5.6", &c, &[]).unwrap();
        assert!(m.run.contains("/etc:/host-etc:ro"), "{m:?}");
        let ro = change(
            "5.13",
            "5.13",
            &c,
            &["/var/cache/app/x".into(), "/run/a.pid".into()],
        )
        .unwrap();
        assert_eq!(
            ro.run,
            "--read-only --tmpfs /run --tmpfs /tmp --tmpfs /var/cache"
        );
        assert!(change("5.7", "5.7", &c, &[]).is_none());
        let p = json!({"NetworkSettings": {"Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "80"}]}}});
        assert_eq!(
            change("5.8", "5.8", &p, &[]).unwrap().run,
            "-p HOSTIP:8080:80"
        );
        assert_eq!(
            change("5.14", "5.14", &p, &[]).unwrap().run,
            "-p 127.0.0.1:80:80"
        );
    }
}
