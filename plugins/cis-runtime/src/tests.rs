//! Table tests of every section 5 check, natively: a real hardened container (recorded with
//! `bulwark collect` from a dockerd, `testdata/hardened.snap.json`) passes each check, and
//! the same container with one setting broken fails it.

use super::__bulwark_checks;
use bulwark_sdk::evidence::{Answer, Query};
use bulwark_sdk::testing::TestHost;
use bulwark_sdk::Status;
use serde_json::{json, Value};

const SNAPSHOT: &str = include_str!("../testdata/hardened.snap.json");

/// The recorded answer to the first query of `kind`.
fn recorded_answer(kind: &str) -> Value {
    let snap: Value = serde_json::from_str(SNAPSHOT).expect("snapshot JSON");
    snap["entries"]
        .as_array()
        .and_then(|e| {
            e.iter()
                .find(|e| e["query"]["query"] == kind)
                .map(|e| e["answer"]["value"].clone())
        })
        .unwrap_or_else(|| panic!("the snapshot answers {kind}"))
}

/// The recorded host and its one container's inspect document.
fn recorded() -> (TestHost, Value) {
    let host = TestHost::from_snapshot(SNAPSHOT).expect("the recorded snapshot loads");
    (host, recorded_answer("container-inspect"))
}

/// The recorded container with `edit` applied to its inspect document.
fn with(edit: impl Fn(&mut Value)) -> TestHost {
    let (mut host, mut inspect) = recorded();
    edit(&mut inspect);
    host.container(&inspect);
    host
}

/// The recorded `docker info` with `edit` applied.
fn info_with(host: &mut TestHost, edit: impl Fn(&mut Value)) {
    let mut info = recorded_answer("docker-info");
    edit(&mut info);
    host.document(Query::DockerInfo, &info);
}

fn hc(field: &'static str, v: Value) -> impl Fn(&mut Value) {
    move |d: &mut Value| d["HostConfig"][field] = v.clone()
}

fn status(host: &TestHost, id: &str) -> (Status, String) {
    let f = host.run(&__bulwark_checks(), id);
    (f.status, format!("{f:?}"))
}

type Edit = Box<dyn Fn(&mut Value)>;

/// (check, what breaks it, the status it then gets).
fn breakers() -> Vec<(&'static str, Edit, Status)> {
    let port = |ip: &str, port: &str| {
        let b = json!({"80/tcp": [{"HostIp": ip, "HostPort": port}]});
        move |d: &mut Value| d["NetworkSettings"]["Ports"] = b.clone()
    };
    let mount = |m: Value| move |d: &mut Value| d["Mounts"] = json!([m.clone()]);
    vec![
        (
            "5.4",
            Box::new(hc("CapAdd", json!(["SYS_ADMIN"]))),
            Status::Warn,
        ),
        ("5.5", Box::new(hc("Privileged", json!(true))), Status::Warn),
        (
            "5.6",
            Box::new(mount(
                json!({"Type": "bind", "Source": "/etc", "Destination": "/host", "RW": true, "Propagation": "rprivate"}),
            )),
            Status::Warn,
        ),
        ("5.8", Box::new(port("127.0.0.1", "80")), Status::Warn),
        ("5.9", Box::new(port("127.0.0.1", "8080")), Status::Warn),
        (
            "5.10",
            Box::new(hc("NetworkMode", json!("host"))),
            Status::Warn,
        ),
        ("5.11", Box::new(hc("Memory", json!(0))), Status::Warn),
        ("5.12", Box::new(hc("CpuShares", json!(0))), Status::Warn),
        (
            "5.13",
            Box::new(hc("ReadonlyRootfs", json!(false))),
            Status::Warn,
        ),
        ("5.14", Box::new(port("0.0.0.0", "8080")), Status::Warn),
        (
            "5.15",
            Box::new(hc(
                "RestartPolicy",
                json!({"Name": "always", "MaximumRetryCount": 0}),
            )),
            Status::Warn,
        ),
        ("5.16", Box::new(hc("PidMode", json!("host"))), Status::Warn),
        ("5.17", Box::new(hc("IpcMode", json!("host"))), Status::Warn),
        (
            "5.18",
            Box::new(hc(
                "Devices",
                json!([{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwm"}]),
            )),
            Status::Info,
        ),
        ("5.19", Box::new(hc("Ulimits", json!([]))), Status::Info),
        (
            "5.20",
            Box::new(mount(
                json!({"Type": "bind", "Source": "/srv", "Destination": "/mnt", "RW": false, "Propagation": "rshared"}),
            )),
            Status::Warn,
        ),
        ("5.21", Box::new(hc("UTSMode", json!("host"))), Status::Warn),
        (
            "5.22",
            Box::new(hc(
                "SecurityOpt",
                json!(["no-new-privileges", "seccomp=unconfined"]),
            )),
            Status::Warn,
        ),
        (
            "5.25",
            Box::new(hc("CgroupParent", json!("/custom"))),
            Status::Warn,
        ),
        ("5.26", Box::new(hc("SecurityOpt", json!([]))), Status::Warn),
        (
            "5.27",
            Box::new(|d: &mut Value| {
                d["Config"]["Healthcheck"] = Value::Null;
                d["State"]["Health"] = Value::Null;
            }),
            Status::Warn,
        ),
        ("5.29", Box::new(hc("PidsLimit", json!(0))), Status::Warn),
        (
            "5.30",
            Box::new(|d: &mut Value| {
                d["NetworkSettings"]["Networks"] = json!({"bridge": {"NetworkID": "x"}})
            }),
            Status::Info,
        ),
        (
            "5.31",
            Box::new(hc("UsernsMode", json!("host"))),
            Status::Warn,
        ),
        (
            "5.32",
            Box::new(mount(
                json!({"Type": "bind", "Source": "/var/run/docker.sock", "Destination": "/var/run/docker.sock", "RW": false, "Propagation": "rprivate"}),
            )),
            Status::Warn,
        ),
    ]
}

#[test]
fn the_hardened_container_passes_and_each_breaker_fails_its_check() {
    let (pristine, _) = recorded();
    for (id, edit, broken) in breakers() {
        let (s, f) = status(&pristine, id);
        assert_eq!(s, Status::Pass, "{id} on the hardened container: {f}");
        let (s, f) = status(&with(edit), id);
        assert_eq!(s, broken, "{id} on the broken container: {f}");
        assert!(f.contains("hardened"), "{id} names the container: {f}");
    }
}

#[test]
fn breakers_break_only_their_own_check() {
    // Each breaker leaves the other automated checks passing (5.9 follows 5.8 and 5.14,
    // which publish ports; 5.30 and 5.18/5.19 are informational).
    let all: Vec<&str> = breakers().iter().map(|(id, _, _)| *id).collect();
    for (id, edit, _) in breakers() {
        let host = with(edit);
        for other in all.iter().filter(|o| **o != id) {
            let publishes = matches!(id, "5.8" | "5.14") && *other == "5.9";
            let (s, f) = status(&host, other);
            assert!(
                s == Status::Pass || publishes,
                "breaking {id} changed {other}: {f}"
            );
        }
    }
}

#[test]
fn sshd_in_the_processes_fails_5_7() {
    let (mut host, inspect) = recorded();
    let id = inspect["Id"].as_str().unwrap_or_default().to_string();
    assert_eq!(status(&host, "5.7").0, Status::Pass);
    let procs = recorded_answer("container-processes");
    let mut p = procs[0].clone();
    p["comm"] = json!("sshd");
    let procs: Vec<bulwark_sdk::ProcessInfo> =
        serde_json::from_value(json!([procs[0].clone(), p])).unwrap();
    host.processes(&id, procs);
    assert_eq!(status(&host, "5.7").0, Status::Warn);
}

#[test]
fn apparmor_and_selinux_apply_only_where_enabled() {
    let (mut host, inspect) = recorded();
    // This host runs neither: not applicable.
    assert_eq!(status(&host, "5.2").0, Status::Skipped);
    assert_eq!(status(&host, "5.3").0, Status::Skipped);
    info_with(&mut host, |i| {
        i["SecurityOptions"] = json!([
            "name=apparmor",
            "name=selinux",
            "name=seccomp,profile=default"
        ])
    });
    let mut confined = inspect.clone();
    confined["AppArmorProfile"] = json!("docker-default");
    confined["HostConfig"]["SecurityOpt"] =
        json!(["no-new-privileges", "label=type:svirt_lxc_net_t"]);
    host.container(&confined);
    assert_eq!(status(&host, "5.2").0, Status::Pass);
    assert_eq!(status(&host, "5.3").0, Status::Pass);
    let mut open = inspect;
    open["AppArmorProfile"] = json!("unconfined");
    open["HostConfig"]["SecurityOpt"] = json!(["no-new-privileges", "label=disable"]);
    host.container(&open);
    assert_eq!(status(&host, "5.2").0, Status::Warn);
    assert_eq!(status(&host, "5.3").0, Status::Warn);
}

#[test]
fn swarm_mode_warns_5_1_and_manual_checks_stay_manual() {
    let (mut host, _) = recorded();
    assert_eq!(status(&host, "5.1").0, Status::Pass);
    info_with(&mut host, |i| {
        i["Swarm"]["LocalNodeState"] = json!("active")
    });
    assert_eq!(status(&host, "5.1").0, Status::Warn);
    for id in ["5.23", "5.24"] {
        assert_eq!(status(&host, id).0, Status::Note, "{id}");
    }
    assert_eq!(status(&host, "5.28").0, Status::Info);
}

#[test]
fn no_containers_is_not_applicable_and_an_unreadable_list_is_undecided() {
    let (mut host, _) = recorded();
    host.answer(Query::ContainerList, Answer::Containers(vec![]));
    assert_eq!(status(&host, "5.11").0, Status::Skipped);
    host.fail(
        Query::ContainerList,
        bulwark_sdk::QueryError::Unavailable("daemon went away".into()),
    );
    let (s, f) = status(&host, "5.11");
    assert_eq!(s, Status::Undecided, "{f}");
    assert!(f.contains("daemon went away"), "{f}");
}

#[test]
fn provenance_names_the_queries_asked() {
    let (host, inspect) = recorded();
    let (_, keys) = host.run_traced(&__bulwark_checks(), "5.11");
    let id = inspect["Id"].as_str().unwrap_or_default();
    assert_eq!(
        keys,
        vec!["container-list".to_string(), format!("container:{id}")]
    );
}
