//! Podman through its Docker-compatible API (`podman system service` on a private socket,
//! private storage): the engine is named, its configuration is its containers.conf and
//! policy.json, its API's hard-coded answers do not become WARNs, what it does not have is
//! SKIP with the reason, its containers are judged like their Docker twins, and `watch`
//! names an exec in one of its containers.

use crate::common::*;
use crate::watch::{finish, start_watch_on};
use serde_json::Value;
use std::collections::BTreeMap;

/// A container that breaks most of §5, and one that keeps it.
const BAD: &[&str] = &["--cap-add", "SYS_ADMIN"];
const HARDENED: &[&str] = &[
    "--cap-drop",
    "ALL",
    "--read-only",
    "--memory",
    "64m",
    "--cpu-shares",
    "512",
    "--security-opt",
    "no-new-privileges",
    "--pids-limit",
    "64",
    "--restart",
    "on-failure:5",
    "--user",
    "1000:1000",
    "--health-cmd",
    "true",
];

/// §5 verdicts by check: status and offending containers.
fn section5(report: &Value) -> BTreeMap<String, (String, Vec<String>)> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["check"]["section"] == "5")
        .map(|f| {
            let id = f["check"]["id"].as_str().unwrap_or_default().to_string();
            let s = status(report, &id);
            (
                id.clone(),
                (s, offenders(report, &id).into_iter().collect()),
            )
        })
        .collect()
}

#[test]
fn podman_is_audited_from_its_own_configuration_and_judged_like_docker() {
    let p = TestPodman::start(&[]);
    p.run_container("pm-bad", BAD);
    p.run_container("pm-hard", HARDENED);
    let r = audit_json(&["-H", &p.host()]);

    // The engine is named, and it is the root Podman: in every format.
    assert_eq!(r["engine"]["name"], "Podman", "{:#}", r["engine"]);
    assert_eq!(r["engine"]["rootless"], false);
    let dir = tempfile::tempdir().unwrap();
    let file = |n: &str| dir.path().join(n);
    let mut all = bulwark();
    // 4.6's verdict does not mention the engine: whatever names it is the report's header.
    all.args(["audit", "-H", &p.host(), "-c", "4.6", "-l"])
        .arg(file("dbs.log"));
    for f in ["sarif", "junit", "html", "markdown"] {
        all.arg("--out").arg(format!("{f}={}", file(f).display()));
    }
    let text = all.output().unwrap();
    assert!(text.status.success());
    let named = "Podman 4.";
    assert!(String::from_utf8_lossy(&text.stdout).contains(&format!("Engine: {named}")));
    for f in [
        "dbs.log",
        "dbs.log.json",
        "sarif",
        "junit",
        "html",
        "markdown",
    ] {
        let body = std::fs::read_to_string(file(f)).unwrap();
        assert!(body.contains("Podman"), "{f} does not name the engine");
    }

    // The quirks of its /info (ExperimentalBuild always true, LiveRestoreEnabled always
    // false, no LoggingDriver) and what it has no equivalent of: SKIP with the reason.
    for id in [
        "2.2", "2.4", "2.10", "2.11", "2.12", "2.14", "2.15", "2.16", "2.18", "7.1", "7.5",
    ] {
        assert_eq!(status(&r, id), "skipped", "{id}: {:#}", finding(&r, id));
        let why = finding(&r, id)["reason"].as_str().unwrap_or_default();
        assert!(why.starts_with("Podman: "), "{id}: {why}");
    }
    // No containerd, no TLS, no /etc/default/docker, no docker group.
    for id in [
        "1.1.2", "1.1.4", "1.1.8", "1.1.10", "1.1.12", "1.1.13", "1.1.14", "1.1.17", "3.9", "3.14",
        "3.19", "3.22", "3.23", "3.24",
    ] {
        assert_eq!(status(&r, id), "skipped", "{id}: {:#}", finding(&r, id));
    }
    // Its configuration is the containers.conf the service reads ($CONTAINERS_CONF here):
    // the fixture's default_ulimits are seen, and §3 judges that file.
    let conf = p.dir.path().join("containers.conf");
    let conf = conf.to_str().unwrap();
    assert_eq!(status(&r, "2.8"), "pass", "{:#}", finding(&r, "2.8"));
    assert!(finding(&r, "2.8")["message"]
        .as_str()
        .unwrap()
        .contains("nofile=1024:1024"));
    assert_eq!(
        finding(&r, "3.18")["subjects"][0]["path"],
        conf,
        "{:#}",
        finding(&r, "3.18")
    );
    // Podman's default log driver keeps logs beside each container; its service logs at
    // warn; neither is a quirk, both are its real configuration.
    assert_eq!(status(&r, "2.13"), "warn");
    assert!(finding(&r, "2.13")["details"][0]
        .as_str()
        .unwrap()
        .starts_with("log_driver: k8s-file"));
    assert_eq!(status(&r, "2.3"), "warn");
    // The seccomp profile comes from containers.conf, not /info's fixed entry.
    assert_eq!(status(&r, "2.17"), "pass");
    // Content trust is Podman's signature policy, not DOCKER_CONTENT_TRUST.
    let trust = finding(&r, "4.5");
    assert_eq!(
        trust["subjects"][0]["path"], "/etc/containers/policy.json",
        "{trust:#}"
    );
    // The data root is Podman's, and no check judges a Docker file Podman does not read.
    assert_eq!(
        finding(&r, "1.1.1")["subjects"][0]["path"],
        p.dir.path().join("root").to_str().unwrap()
    );
    for f in r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] != "skipped")
    {
        // What the verdict says and names, not the check's documentation. (Podman does
        // read /etc/docker/certs.d, so only /etc/docker itself counts.)
        let said = serde_json::to_string(&[&f["message"], &f["details"], &f["subjects"]]).unwrap();
        for docker_only in [
            "/etc/docker\"",
            "/etc/docker ",
            "docker.service",
            "daemon.json",
            "containerd.sock",
            "/etc/default/docker",
        ] {
            assert!(
                !said.contains(docker_only),
                "{} names {docker_only}: {said}",
                f["check"]["id"]
            );
        }
    }

    // A fix plan never edits containers.conf as if it were a daemon.json: Podman's
    // settings are manual steps.
    let plan = bulwark()
        .args(["fix", "-H", &p.host(), "-f", "json", "-c", "2.3,2.13"])
        .output()
        .unwrap();
    assert!(
        plan.status.success(),
        "{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    let plan: Value = serde_json::from_slice(&plan.stdout).unwrap();
    assert!(plan["daemon"].is_null(), "{plan:#}");
    let manual: Vec<&str> = plan["manual"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["check"].as_str())
        .collect();
    assert_eq!(manual, ["2.3", "2.13"], "{plan:#}");

    // The same two containers on Docker: §5 verdicts match, except where Podman's
    // defaults really differ (documented in DEVIATIONS.md).
    let d = TestDaemon::start(&["--iptables=false"], None);
    d.run_container("pm-bad", BAD, &[]);
    d.run_container("pm-hard", HARDENED, &[]);
    let twin = audit_json(&["-H", &d.host(), "-c", "5"]);
    let (podman5, docker5) = (section5(&r), section5(&twin));
    assert_eq!(podman5.len(), docker5.len());
    assert_eq!(podman5["5.4"].1, vec!["pm-bad".to_string()], "{podman5:#?}");
    let mut differ = Vec::new();
    for (id, verdict) in &podman5 {
        if docker5.get(id) != Some(verdict) {
            differ.push(format!(
                "{id}: podman {verdict:?}, docker {:?}",
                docker5.get(id)
            ));
        }
    }
    // 5.19: containers.conf's default_ulimits (which this machine needs) are written into
    // each Podman container's HostConfig. 5.29: Podman gives every container a PIDs limit
    // (2048) unless told otherwise.
    let expected: Vec<String> = ["5.19", "5.29"]
        .iter()
        .map(|id| format!("{id}: podman (\"pass\", []), docker {:?}", docker5.get(*id)))
        .collect();
    assert_eq!(differ, expected, "{podman5:#?}\n{docker5:#?}");
    assert_eq!(docker5["5.29"].1, vec!["pm-bad".to_string()]);
}

#[test]
fn watch_names_an_exec_in_a_podman_container() {
    let p = TestPodman::start(&[]);
    p.run_container("pm-shell", &[]);
    let (watch, _) = start_watch_on(&p.host(), &["--duration", "6"]);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    p.podman(&["exec", "pm-shell", "/bin/sh", "-c", "true"]);
    let (alerts, _) = finish(watch);
    assert!(
        alerts.iter().any(|a| a["container"]["name"] == "pm-shell"
            && a["container"]["image"]
                .as_str()
                .is_some_and(|i| i.ends_with(IMAGE))
            && a["event"]["argv"] == serde_json::json!(["/bin/sh", "-c", "true"])),
        "{alerts:#?}"
    );
}
