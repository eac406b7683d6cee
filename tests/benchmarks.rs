//! Benchmark profiles: one real daemon state audited under CIS 1.6.0 and 1.8.0 gives the
//! same verdicts under the renumbered ids; 1.8.0's new 2.7 (devicemapper) passes here and
//! warns on a snapshot whose daemon reports devicemapper; every output names the benchmark.

use crate::common::*;
use serde_json::Value;
use std::collections::BTreeMap;

fn cis_findings(r: &Value) -> BTreeMap<String, (String, Value)> {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["check"]["section"]
                .as_str()
                .is_some_and(|s| ("1".."8").contains(&s))
        })
        .map(|f| {
            (
                f["check"]["implementation"].as_str().unwrap().to_string(),
                (
                    f["check"]["id"].as_str().unwrap().to_string(),
                    serde_json::json!([f["status"], f["subjects"], f["details"]]),
                ),
            )
        })
        .collect()
}

#[test]
fn same_state_same_verdicts_under_renumbered_ids() {
    let d = TestDaemon::start(&["--iptables=false", "--icc=true"], None);
    d.run_container("web", &["--memory", "32m"], &[]);
    d.run_container("priv-ports", &["-p", "127.0.0.1:999:8080"], &[]);
    let r16 = audit_json(&["-H", &d.host(), "-c", "cis"]);
    let r18 = audit_json(&["-H", &d.host(), "-c", "cis", "--benchmark", "cis-1.8.0"]);
    assert_eq!(r16["benchmark"]["id"], "cis-1.6.0");
    assert_eq!(r18["benchmark"]["id"], "cis-1.8.0");
    let (a, b) = (cis_findings(&r16), cis_findings(&r18));
    assert_eq!(a.len(), 117);
    assert_eq!(b.len(), 118);
    for (implementation, (id16, verdict)) in &a {
        let (id18, v18) = &b[implementation];
        assert_eq!(verdict, v18, "{id16} (1.6.0) vs {id18} (1.8.0)");
        let renumbered = implementation.starts_with("2.")
            && implementation
                .split('.')
                .nth(1)
                .and_then(|n| n.parse::<u32>().ok())
                >= Some(7);
        if renumbered {
            let n: u32 = implementation[2..].parse().unwrap();
            assert_eq!(id18, &format!("2.{}", n + 1));
        } else {
            assert_eq!(id16, id18);
        }
    }
    let (id, verdict) = &b["2.devicemapper"];
    assert_eq!(id, "2.7");
    assert_eq!(verdict[0], "pass", "this daemon does not use devicemapper");
    assert_eq!(status(&r18, "2.8"), status(&r16, "2.7"), "TLS moved to 2.8");
    assert!(finding(&r18, "1.1.9")["check"]["title"]
        .as_str()
        .unwrap()
        .ends_with("- docker.sock"));
    assert_eq!(finding(&r18, "2.2")["check"]["automated"], false);
    assert_eq!(finding(&r16, "2.2")["check"]["scored"], true);
    assert!(r16["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["check"]["implementation"] != "2.devicemapper"));

    // -c and -e take the selected benchmark's ids; IG groups keep their 1.6.0 meaning.
    let only = |r: &Value| -> Vec<String> {
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["check"]["id"].as_str().unwrap().to_string())
            .collect()
    };
    let r = audit_json(&[
        "-H",
        &d.host(),
        "--benchmark",
        "cis-1.8.0",
        "-c",
        "check_2_8",
    ]);
    assert_eq!(only(&r), ["2.8"]);
    assert_eq!(finding(&r, "2.8")["check"]["implementation"], "2.7");
    let r = audit_json(&[
        "-H",
        &d.host(),
        "--benchmark",
        "cis-1.8.0",
        "-c",
        "2",
        "-e",
        "2.7,2.19",
    ]);
    assert_eq!(only(&r).len(), 17);
    let r = audit_json(&[
        "-H",
        &d.host(),
        "--benchmark",
        "cis-1.8.0",
        "-c",
        "cis_controls_v8_ig1",
        "-e",
        "3,5,7",
    ]);
    assert_eq!(
        only(&r),
        ["1.1.2", "1.1.3", "2.1", "2.14", "2.15", "4.8", "4.11"]
    );

    // Every output names the benchmark and carries its ids.
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    let o = bulwark()
        .args([
            "audit",
            "-H",
            &d.host(),
            "-q",
            "--benchmark",
            "cis-1.8.0",
            "-c",
            "2",
        ])
        .arg("-l")
        .arg(p("bench.log"))
        .args(["--out", &format!("sarif={}", p("r.sarif").display())])
        .args(["--out", &format!("junit={}", p("r.xml").display())])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("Based on the CIS Docker Benchmark v1.8.0"));
    assert!(text.contains(
        "2.19 - Ensure that experimental features are not implemented in production (Manual)"
    ));
    let log: Value = serde_json::from_slice(&std::fs::read(p("bench.log.json")).unwrap()).unwrap();
    assert_eq!(log["benchmark"], "cis-1.8.0");
    let ids: Vec<&str> = log["tests"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 19);
    assert_eq!(ids[6..9], ["2.7", "2.8", "2.9"]);
    let sarif: Value = serde_json::from_slice(&std::fs::read(p("r.sarif")).unwrap()).unwrap();
    assert_eq!(sarif["runs"][0]["properties"]["benchmark"], "cis-1.8.0");
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    assert!(rules.iter().any(|r| r["id"] == "2.19"));
    let junit = std::fs::read_to_string(p("r.xml")).unwrap();
    assert!(junit.contains("name=\"bulwark cis-1.8.0\""));
    assert!(junit.contains("name=\"2.19 Ensure that experimental features"));
}

#[test]
fn devicemapper_warns_on_a_snapshot_that_reports_it() {
    // The recorded fixture (a real dockerd's answers): no daemon is needed to judge them.
    let dir = tempfile::tempdir().unwrap();
    let snap = fixture_snapshot();
    let replay = |path: &std::path::Path, args: &[&str]| -> Value {
        let o = bulwark()
            .args(["audit", "-q", "-f", "json", "--snapshot"])
            .arg(path)
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let r = replay(&snap, &["--benchmark", "cis-1.8.0", "-c", "2.7"]);
    assert_eq!(status(&r, "2.7"), "pass");

    // The same host, but its daemon reports devicemapper.
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&snap).unwrap()).unwrap();
    let mut edited = 0;
    for e in doc["entries"].as_array_mut().unwrap() {
        if e["query"]["query"] == "docker-info" {
            e["answer"]["value"]["Driver"] = "devicemapper".into();
            edited += 1;
        }
    }
    assert_eq!(edited, 1);
    let dm = dir.path().join("devicemapper.snap.json");
    std::fs::write(&dm, serde_json::to_vec(&doc).unwrap()).unwrap();
    let r = replay(&dm, &["--benchmark", "cis-1.8.0", "-c", "2.7"]);
    assert_eq!(status(&r, "2.7"), "warn", "{:#}", finding(&r, "2.7"));
    assert_eq!(
        finding(&r, "2.7")["check"]["title"],
        "Ensure devicemapper storage driver is not used"
    );
    // Under 1.6.0, 2.7 is TLS and there is no devicemapper check.
    let r = replay(&dm, &["-c", "2"]);
    assert_eq!(
        finding(&r, "2.7")["check"]["title"],
        "Ensure TLS authentication for Docker daemon is configured"
    );
    assert_eq!(r["findings"].as_array().unwrap().len(), 18);
}
