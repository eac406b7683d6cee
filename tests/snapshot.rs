//! Evidence snapshots: audit live, collect, replay without the host, same findings; and
//! verdict tests for states this machine cannot produce, named as snapshot-based.

use crate::common::*;
use serde_json::{json, Value};
use std::path::Path;

fn collect(host: &str, out: &Path) {
    let o = bulwark()
        .args(["collect", "-H", host, "-o"])
        .arg(out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "collect failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn replay(snap: &Path, extra: &[&str]) -> Value {
    let p = snap.display().to_string();
    let mut args = vec!["--snapshot", p.as_str()];
    args.extend_from_slice(extra);
    audit_json(&args)
}

fn edit(snap: &Path, f: impl FnOnce(&mut Vec<Value>)) {
    let mut doc: Value = serde_json::from_slice(&std::fs::read(snap).unwrap()).unwrap();
    let entries = doc["entries"].as_array_mut().unwrap();
    f(entries);
    std::fs::write(snap, serde_json::to_vec(&doc).unwrap()).unwrap();
}

fn entry<'a>(entries: &'a mut [Value], query: &str) -> &'a mut Value {
    entries
        .iter_mut()
        .find(|e| e["query"]["query"] == query)
        .unwrap_or_else(|| panic!("no {query} entry"))
}

#[test]
fn live_audit_and_replayed_snapshot_agree() {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("host.snap.json");
    let (live, live_all);
    {
        let d = TestDaemon::start(&["--iptables=false"], None);
        d.run_container("web", &["-p", "18090:80", "--memory", "32m"], &[]);
        d.run_container("sshd", &["--network", "host"], &["/usr/sbin/sshd"]);
        d.docker(&["create", "--privileged", "--name", "priv", IMAGE]);
        live = audit_json(&["-H", &d.host()]);
        live_all = audit_json(&["-H", &d.host(), "--all-containers"]);
        collect(&d.host(), &snap);
    } // the daemon is gone: the replay cannot touch it
    let replayed = replay(&snap, &[]);
    assert_eq!(replayed["evidence"], "snapshot");
    assert_eq!(verdicts(&live), verdicts(&replayed));
    assert_eq!(
        verdicts(&live_all),
        verdicts(&replay(&snap, &["--all-containers"]))
    );
    // The replay is not vacuous: it carries real verdicts about the recorded containers.
    assert_eq!(offenders(&replayed, "5.7"), set(&["sshd"]));
    assert_eq!(offenders(&replayed, "5.10"), set(&["sshd"]));
}

#[test]
fn snapshot_based_states_this_machine_cannot_make() {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("s.json");
    {
        let d = TestDaemon::start(&["--iptables=false"], Some("{}"));
        d.run_container("gone", &[], &[]);
        d.run_container("stays", &[], &[]);
        collect(&d.host(), &snap);
    }
    let base = replay(&snap, &[]);
    assert_eq!(status(&base, "2.6"), "pass");
    assert_eq!(status(&base, "2.11"), "pass");
    assert_eq!(status(&base, "2.12"), "warn");

    // aufs (no such module on this kernel), dm.basesize (refused by overlay2), and an
    // authorization plugin (none installable here).
    edit(&snap, |entries| {
        entry(entries, "docker-info")["answer"]["value"]["Driver"] = json!("aufs");
        let argv = entry(entries, "daemon-config")["answer"]["value"]["argv"]
            .as_array_mut()
            .unwrap();
        argv.extend([
            json!("--storage-opt"),
            json!("dm.basesize=20G"),
            json!("--authorization-plugin=authz-broker"),
        ]);
    });
    let r = replay(&snap, &[]);
    assert_eq!(status(&r, "2.6"), "warn");
    assert_eq!(status(&r, "2.11"), "warn");
    assert_eq!(status(&r, "2.12"), "pass");

    // AppArmor and SELinux hosts, a rootless daemon and a current engine version.
    edit(&snap, |entries| {
        let info = &mut entry(entries, "docker-info")["answer"]["value"];
        info["SecurityOptions"] = json!([
            "name=apparmor",
            "name=selinux",
            "name=seccomp,profile=default",
            "name=rootless"
        ]);
        entry(entries, "docker-version")["answer"]["value"]["Version"] = json!("28.2.2");
        let ids: Vec<(String, Value)> = entry(entries, "container-list")["answer"]["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["name"].as_str().unwrap().to_string(), c["id"].clone()))
            .collect();
        for (name, id) in ids {
            let e = entries
                .iter_mut()
                .find(|e| e["query"]["query"] == "container-inspect" && e["query"]["id"] == id)
                .unwrap();
            let v = &mut e["answer"]["value"];
            if name == "stays" {
                v["AppArmorProfile"] = json!("docker-default");
                v["HostConfig"]["SecurityOpt"] = json!(["label=type:svirt_apache_t"]);
            } else {
                v["AppArmorProfile"] = json!("unconfined");
                v["HostConfig"]["SecurityOpt"] = json!(["label=disable"]);
            }
        }
    });
    let r = replay(&snap, &[]);
    assert_eq!(status(&r, "5.2"), "warn");
    assert_eq!(offenders(&r, "5.2"), set(&["gone"]));
    assert_eq!(status(&r, "5.3"), "warn");
    assert_eq!(offenders(&r, "5.3"), set(&["gone"]));
    assert_eq!(status(&r, "2.1"), "pass");
    assert_eq!(status(&r, "1.2.2"), "info");

    // A container that vanished between the list and its inspection is said so, not judged.
    edit(&snap, |entries| {
        let id = entry(entries, "container-list")["answer"]["value"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "gone")
            .unwrap()["id"]
            .clone();
        let e = entries
            .iter_mut()
            .find(|e| e["query"]["query"] == "container-inspect" && e["query"]["id"] == id)
            .unwrap();
        *e = json!({"query": e["query"].clone(), "error": {"error": "not-found", "message": "No such container"}});
    });
    let r = replay(&snap, &[]);
    let f = finding(&r, "5.11");
    assert_eq!(f["status"], "warn");
    assert_eq!(offenders(&r, "5.11"), set(&["stays"]));
    assert!(
        f["details"]
            .to_string()
            .contains("gone: vanished during the audit"),
        "{f:#}"
    );
}

#[test]
fn malformed_snapshots_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text, needle) in [
        (
            "garbage.json",
            "not json at all",
            "is not a valid Bulwark snapshot",
        ),
        (
            "other.json",
            r#"{"format":"x","version":1,"bulwark":"","audit_start":0,"entries":[]}"#,
            "format",
        ),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        let o = bulwark()
            .args(["audit", "--snapshot"])
            .arg(&p)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "{err}");
        assert!(o.stdout.is_empty(), "no report from a bad snapshot");
    }
    let o = bulwark()
        .args(["audit", "--snapshot", "/nonexistent/snap.json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("cannot read snapshot /nonexistent/snap.json")
    );
}
