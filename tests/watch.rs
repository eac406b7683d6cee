//! `bulwark watch` on the real kernel: eBPF probes on tracepoints, real containers doing
//! what the built-in rules look for, alerts naming the right container; nothing for the
//! benign one; lost events counted when the ring buffer is forced tiny; by default only
//! what the rules need, off the syscall path, and containers watched from their start;
//! observations (`--observe`) as evidence for checks, live and in snapshots.

use crate::common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Start `bulwark watch` and wait until it is watching.
fn start_watch(d: &TestDaemon, args: &[&str]) -> Child {
    start_watch_saying(d, args).0
}

/// [`start_watch`], with what it said before it started watching.
fn start_watch_saying(d: &TestDaemon, args: &[&str]) -> (Child, Vec<String>) {
    start_watch_on(&d.host(), args)
}

/// Start `bulwark watch` on any engine's endpoint; returns it and what it said first.
pub(crate) fn start_watch_on(host: &str, args: &[&str]) -> (Child, Vec<String>) {
    start_watch_as(host, "jsonl", args)
}

/// [`start_watch_on`] with alerts in `format`.
fn start_watch_as(host: &str, format: &str, args: &[&str]) -> (Child, Vec<String>) {
    let mut said = Vec::new();
    let mut child = bulwark()
        .args(["watch", "-H", host, "-f", format])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    // Generous: a cold plugin cache compiles every plugin first.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match lines.next() {
            Some(Ok(l)) if l.contains("watching containers") => break,
            Some(Ok(l)) => said.push(l),
            _ => panic!("bulwark watch did not start: {said:#?}"),
        }
        assert!(Instant::now() < deadline);
    }
    // Keep draining stderr so the child never blocks on it.
    std::thread::spawn(move || for _ in lines {});
    (child, said)
}

/// Wait for the watch to end and parse its JSON lines: (alerts, summary).
pub(crate) fn finish(child: Child) -> (Vec<Value>, Value) {
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "watch failed");
    let mut alerts = Vec::new();
    let mut summary = Value::Null;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if v.get("summary").is_some() {
            summary = v["summary"].clone();
        } else {
            alerts.push(v);
        }
    }
    (alerts, summary)
}

#[test]
fn each_rule_fires_on_the_right_container_and_not_on_the_benign_one() {
    let d = TestDaemon::start(&["--iptables=false"], None);
    // Running before the watch starts: found by listing.
    d.run_container(
        "benign",
        &[],
        &[
            "/bin/sh",
            "-c",
            "while true; do cat /etc/hostname >/dev/null; sleep 0.2; done",
        ],
    );
    // Every rule, whatever its tier, and every syscall counted.
    let watch = start_watch(
        &d,
        &["--duration", "14", "--rules", "all", "--count-syscalls"],
    );
    std::thread::sleep(Duration::from_millis(1500));
    // Started after: seen from its cgroup's creation. Seccomp off so the attempts reach
    // the kernel (Docker's profile blocks most of them before any tracepoint).
    d.run_container(
        "bad",
        &["-u", "1000", "--tmpfs", "/tmp:mode=1777", "--security-opt", "seccomp=unconfined"],
        &[
            "/bin/sh",
            "-c",
            "sleep 2; /bin/bwtool thread-exec-sh; /bin/bwtool setuid0 unshare clone-ns mount chmod-suid ptrace capset bpf module exec-sh; /bin/bwtool-suid setuid0 exec-sh; sleep 3600",
        ],
    );
    let (alerts, summary) = finish(watch);
    assert!(summary["events"].as_u64().unwrap() > 0, "{summary:#}");
    let fired = |rule: &str| {
        alerts
            .iter()
            .filter(|a| a["rule"]["id"] == rule)
            .collect::<Vec<_>>()
    };
    for rule in [
        "R.SHELL",
        "R.ROOT_SHELL",
        "R.SETUID_ROOT",
        "R.CLONE_NS",
        "R.NAMESPACE",
        "R.MOUNT",
        "R.SETUID_BITS",
        "R.PTRACE",
        "R.CAPSET",
        "R.BPF",
        "R.MODULE",
    ] {
        let a = fired(rule);
        assert!(!a.is_empty(), "{rule} did not fire: {alerts:#?}");
        assert!(
            a.iter().all(|a| a["container"]["name"] == "bad"),
            "{rule}: {a:#?}"
        );
        assert_eq!(a[0]["container"]["image"], IMAGE);
        assert!(a[0]["process"]["pid"].as_u64().unwrap() > 0);
    }
    // The argv head of each shell exec, also one made from a non-leader thread.
    let shells: Vec<&Value> = fired("R.SHELL")
        .iter()
        .map(|a| &a["event"]["argv"])
        .collect();
    assert!(
        shells.contains(&&serde_json::json!(["/bin/sh", "-c", "true"])),
        "{shells:#?}"
    );
    assert!(
        shells.contains(&&serde_json::json!([
            "/bin/sh",
            "-c",
            "true",
            "from-a-thread"
        ])),
        "{shells:#?}"
    );
    assert!(fired("R.SHELL")
        .iter()
        .all(|a| a["event"]["path"] == "/bin/sh"));
    assert_eq!(fired("R.SETUID_ROOT")[0]["process"]["uid"], 1000);
    assert!(
        alerts.iter().all(|a| a["container"]["name"] != "benign"),
        "the benign container raised alerts: {alerts:#?}"
    );
    // Syscalls are counted in the kernel for both containers.
    let benign: u64 = summary["syscalls"]["benign"]
        .as_object()
        .map(|m| m.values().filter_map(|v| v.as_u64()).sum())
        .unwrap_or(0);
    assert!(benign > 0, "{summary:#}");
    assert_eq!(summary["lost"], 0, "a large ring buffer loses nothing here");
}

/// `GET /metrics` from a running watch: metric name (with labels) → value.
fn scrape(addr: &str) -> std::collections::HashMap<String, f64> {
    let (status, _, body) = http_get(addr, "/metrics").expect("metrics answer");
    assert_eq!(status, 200, "{body}");
    metric_values(&body)
}

#[test]
fn a_tiny_ring_buffer_counts_what_it_loses() {
    let d = TestDaemon::start(&["--iptables=false"], None);
    d.run_container("stormy", &["--tmpfs", "/tmp:mode=1777"], &[]);
    let addr = free_loopback_addr();
    // The chmod storm becomes events only for a rule that watches chmod (tier 2).
    let watch = start_watch(
        &d,
        &[
            "--duration",
            "8",
            "--ring-buffer",
            "4",
            "--metrics",
            &addr,
            "--rules",
            "all",
        ],
    );
    std::thread::sleep(Duration::from_millis(1500));
    d.docker(&["exec", "stormy", "/bin/bwtool", "storm"]);
    std::thread::sleep(Duration::from_millis(500));
    let m = scrape(&addr);
    let lost = m.get("bulwark_lost_events_total").copied().unwrap_or(0.0);
    let syscalls = m
        .get("bulwark_events_total{kind=\"syscall\"}")
        .copied()
        .unwrap_or(0.0);
    assert!(lost > 0.0 && syscalls > 0.0, "{m:#?}");
    assert!(
        m.keys()
            .any(|k| k.starts_with("bulwark_plugin_fuel_total{plugin=\"runtime-rules\"}")),
        "{m:#?}"
    );
    let (_, summary) = finish(watch);
    assert!(summary["events"].as_u64().unwrap() > 0, "{summary:#}");
    assert!(summary["lost"].as_u64().unwrap() > 0, "{summary:#}");
    assert!(summary["lost"].as_u64().unwrap() as f64 >= lost);
}

/// Every exec of a 20,000-exec storm reaches user space (the ring buffer wakes its reader
/// only per batch, so a slow trickle and a storm both arrive whole), and SIGTERM, as a
/// service manager sends it, ends the watch with its summary.
#[test]
fn an_exec_storm_arrives_whole_and_sigterm_ends_the_watch() {
    let d = TestDaemon::start(&["--iptables=false"], None);
    d.run_container("execs", &[], &[]);
    let addr = free_loopback_addr();
    let watch = start_watch(&d, &["--metrics", &addr, "--count-syscalls"]);
    std::thread::sleep(Duration::from_millis(1500));
    d.docker(&["exec", "execs", "/bin/bwtool", "execstorm"]);
    // The reader drains on its 100 ms tick.
    std::thread::sleep(Duration::from_millis(500));
    let m = scrape(&addr);
    let execs = m
        .get("bulwark_events_total{kind=\"exec\"}")
        .copied()
        .unwrap_or(0.0);
    // 20,000 of /bin/true, and docker exec's own of bwtool.
    assert!(execs >= 20_001.0, "{m:#?}");
    assert_eq!(
        m.get("bulwark_lost_events_total").copied(),
        Some(0.0),
        "{m:#?}"
    );
    // SAFETY: signalling our own child.
    unsafe { libc::kill(watch.id() as i32, libc::SIGTERM) };
    let (alerts, summary) = finish(watch);
    assert!(alerts.is_empty(), "{alerts:#?}");
    assert_eq!(summary["lost"], 0, "{summary:#}");
    assert!(summary["events"].as_u64().unwrap() >= 60_000, "{summary:#}");
    // Counted in the kernel, named in the summary.
    let execve = summary["syscalls"]["execs"]["execve"].as_u64().unwrap_or(0);
    assert!(execve >= 20_001, "{summary:#}");
}

/// A rule plugin keeps its instance for the whole watch, so a rule can remember what it saw
/// in earlier batches: `tally` numbers every exec it is shown.
#[test]
fn rule_plugins_remember_across_batches() {
    let d = TestDaemon::start(&["--iptables=false"], None);
    d.run_container("counted", &[], &[]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture_plugin("tally"), dir.path().join("tally.wasm")).unwrap();
    let dp = dir.path().display().to_string();
    let watch = start_watch(
        &d,
        &[
            "--duration",
            "6",
            "--plugins",
            &dp,
            "--allow-unsigned",
            "--grant",
            "traces",
        ],
    );
    std::thread::sleep(Duration::from_millis(1500));
    // Three execs, each in a batch of its own (batches are 100 ms).
    for _ in 0..3 {
        d.docker(&["exec", "counted", "/bin/true"]);
        std::thread::sleep(Duration::from_millis(400));
    }
    let (alerts, _) = finish(watch);
    let mut seen: Vec<String> = alerts
        .iter()
        .filter(|a| a["rule"]["id"] == "T.TALLY" && a["container"]["name"] == "counted")
        .filter_map(|a| a["message"].as_str().map(String::from))
        .collect();
    seen.sort();
    assert_eq!(seen, ["exec #1", "exec #2", "exec #3"], "{alerts:#?}");
}

/// A rule plugin that fails on every batch is suspended after three failures in a row, for
/// longer each time, instead of being instantiated afresh for every batch; its failures are
/// summed up as one line, and the other plugins' rules go on alerting.
#[test]
fn a_rule_plugin_failing_on_every_batch_is_suspended_not_spun_on() {
    let d = TestDaemon::start(&["--iptables=false"], None);
    // Execs all along: every 100 ms batch holds events for the broken plugin.
    d.run_container(
        "busy",
        &[],
        &["/bin/sh", "-c", "while :; do /bin/true; sleep 0.1; done"],
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture_plugin("brittle"), dir.path().join("brittle.wasm")).unwrap();
    let dp = dir.path().display().to_string();
    let addr = free_loopback_addr();
    let watch = start_watch(
        &d,
        &[
            "--duration",
            "10",
            "--plugins",
            &dp,
            "--allow-unsigned",
            "--grant",
            "traces",
            "--metrics",
            &addr,
        ],
    );
    std::thread::sleep(Duration::from_secs(8));
    d.docker(&["exec", "busy", "/bin/sh", "-c", "true"]);
    std::thread::sleep(Duration::from_millis(500));
    let m = scrape(&addr);
    let of_brittle = |name: &str| -> f64 {
        m.iter()
            .filter(|(k, _)| k.starts_with(name) && !k.contains("runtime-rules"))
            .map(|(_, v)| v)
            .sum()
    };
    let failures = of_brittle("bulwark_plugin_failures_total");
    let skipped = of_brittle("bulwark_plugin_skipped_batches_total");
    // About 80 batches: 3 failures, then one after each pause of 1, 2 and 4 s.
    assert!((3.0..=12.0).contains(&failures), "{m:#?}");
    assert!(skipped >= 30.0, "{m:#?}");
    let (alerts, summary) = finish(watch);
    let lines = summary["rule_failures"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "{summary:#}");
    assert!(lines[0].as_str().unwrap().contains("times)"), "{summary:#}");
    assert!(
        alerts
            .iter()
            .any(|a| a["rule"]["id"] == "R.SHELL" && a["container"]["name"] == "busy"),
        "{alerts:#?}"
    );
}

/// The default watch attaches only what its rules need off the syscall path, says which
/// rules do not run and why, and sees a container from its first exec: the entrypoint of
/// one started during the watch fires the shell rule, and a non-root process that gains
/// root through a setuid-root binary and runs a shell fires the root-shell rule.
#[test]
fn by_default_only_the_first_tier_and_containers_from_their_start() {
    let d = TestDaemon::start(&["--iptables=false"], None);
    let addr = free_loopback_addr();
    let (watch, said) = start_watch_saying(&d, &["--duration", "9", "--metrics", &addr]);
    let said = said.join("\n");
    assert!(
        said.contains("rule R.MOUNT does not run: needs tier 2"),
        "{said}"
    );
    assert!(
        said.contains("attached process exec/fork/exit [tier 1") && said.contains("R.ROOT_SHELL"),
        "{said}"
    );
    assert!(
        !said.contains("tier 2 (per") || !said.contains("attached syscalls"),
        "{said}"
    );
    let m = scrape(&addr);
    let attached: Vec<&String> = m
        .keys()
        .filter(|k| k.starts_with("bulwark_probe_attached{"))
        .collect();
    assert!(
        attached
            .iter()
            .any(|k| k.contains("sched/sched_process_exec")),
        "{attached:#?}"
    );
    assert!(
        attached.iter().all(|k| k.contains("tier=\"1\"")),
        "nothing on the syscall path: {attached:#?}"
    );
    assert!(
        m.contains_key(
            "bulwark_rule_running{rule=\"R.SHELL\",plugin=\"runtime-rules\",tier=\"1\"}"
        ),
        "{m:#?}"
    );
    // The example: the entrypoint execs a shell at once, then another, then sleep.
    d.docker(&[
        "run",
        "--rm",
        "--name",
        "starter",
        IMAGE,
        "sh",
        "-c",
        "exec /bin/sh -c \"sleep 2; exec /bin/sleep 1\"",
    ]);
    d.docker(&[
        "run",
        "--rm",
        "--name",
        "climber",
        "-u",
        "1000",
        IMAGE,
        "/bin/bwtool-suid",
        "setuid0",
        "exec-sh",
    ]);
    let (alerts, _) = finish(watch);
    let shells: Vec<&Value> = alerts
        .iter()
        .filter(|a| a["rule"]["id"] == "R.SHELL" && a["container"]["name"] == "starter")
        .map(|a| &a["event"]["argv"])
        .collect();
    assert!(
        shells.contains(&&serde_json::json!([
            "sh",
            "-c",
            "exec /bin/sh -c \"sleep 2; exec /bin/sleep 1\""
        ])),
        "the entrypoint's own exec: {alerts:#?}"
    );
    assert!(
        shells.contains(&&serde_json::json!([
            "/bin/sh",
            "-c",
            "sleep 2; exec /bin/sleep 1"
        ])),
        "{alerts:#?}"
    );
    let root: Vec<&Value> = alerts
        .iter()
        .filter(|a| a["rule"]["id"] == "R.ROOT_SHELL")
        .collect();
    assert_eq!(root.len(), 1, "{alerts:#?}");
    assert_eq!(root[0]["container"]["name"], "climber");
    assert!(
        root[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("uid 1000 gained root"),
        "{root:#?}"
    );
    assert!(
        alerts.iter().any(|a| a["rule"]["id"] == "R.SETUID_ROOT"
            && a["container"]["name"] == "climber"
            && a["event"]["kind"] == "exec"),
        "the setuid-root binary: {alerts:#?}"
    );
    assert!(
        alerts.iter().all(|a| a["rule"]["id"] != "R.MOUNT"),
        "{alerts:#?}"
    );
}

#[test]
fn without_what_it_needs_watch_says_so_and_fails() {
    let o = bulwark()
        .args(["watch", "--duration", "1"])
        .env("BULWARK_TRACEFS", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("tracefs is not mounted"));
    // Not root: nothing is loaded, and the message says why.
    let o = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(env!("CARGO_BIN_EXE_bulwark"))
        .args(["watch", "--duration", "1", "--no-cache"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("needs root"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn audit_observe_gives_checks_what_containers_did() {
    let d = TestDaemon::start(&["--iptables=false"], None);
    d.run_container(
        "busy",
        &["--cap-add", "NET_ADMIN"],
        &[
            "/bin/sh",
            "-c",
            "while true; do cat /etc/hostname >/dev/null; sleep 0.1; done",
        ],
    );
    // Without an observation the check cannot decide and says how to get one.
    let r = audit_json(&["-H", &d.host(), "-c", "C.5.3.5"]);
    assert_eq!(status(&r, "C.5.3.5"), "skipped");
    assert!(finding(&r, "C.5.3.5")["reason"]
        .as_str()
        .unwrap()
        .contains("--observe"));

    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("observed.json");
    let o = bulwark()
        .args([
            "audit",
            "-H",
            &d.host(),
            "-q",
            "-f",
            "json",
            "-c",
            "C.5.3.5,C.5.3.6",
            "--observe",
            "3",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    let f = finding(&r, "C.5.3.5");
    assert_eq!(f["status"], "info", "{f:#}");
    let details = f["details"].to_string();
    assert!(
        details.contains("busy: never used") && details.contains("CAP_NET_ADMIN"),
        "{details}"
    );
    assert!(
        !details.contains(" 0 syscalls"),
        "the busy loop's syscalls were counted: {details}"
    );
    assert!(f["evidence"].as_array().unwrap().iter().any(|e| e["query"]
        .as_str()
        .unwrap()
        .starts_with("observed-profile:")
        && e["outcome"] == "ok"));

    // The same observation against the container's seccomp: Docker's default resolved for
    // it allows 350 names (counted by hand; see harden::seccomp) and the loop uses few.
    let f = finding(&r, "C.5.3.6");
    assert_eq!(f["status"], "info", "{f:#}");
    let details = f["details"].to_string();
    assert!(
        details.contains("busy: Docker's default profile (moby 20.10.24) allows 350 names"),
        "{details}"
    );

    // An observation is evidence like any other: collected snapshots do not have one, and
    // a replay says so rather than guessing.
    let o = bulwark()
        .args(["collect", "-H", &d.host(), "-o"])
        .arg(&snap)
        .output()
        .unwrap();
    assert!(o.status.success());
    let o = bulwark()
        .args(["audit", "-q", "-f", "json", "-c", "C.5.3.5", "--snapshot"])
        .arg(&snap)
        .output()
        .unwrap();
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(status(&r, "C.5.3.5"), "skipped");
    // ...unless collected with --observe: then the replay judges as the live audit did.
    let o = bulwark()
        .args(["collect", "-H", &d.host(), "--observe", "2", "-o"])
        .arg(&snap)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = bulwark()
        .args([
            "audit",
            "-q",
            "-f",
            "json",
            "-c",
            "C.5.3.5,C.5.3.6",
            "--snapshot",
        ])
        .arg(&snap)
        .output()
        .unwrap();
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(status(&r, "C.5.3.5"), "info");
    assert_eq!(status(&r, "C.5.3.6"), "info");
}

/// `watch -f ocsf`: each alert is an OCSF 1.8.0 Detection Finding that validates against
/// the schema shipped in the repository, and the summary stays off standard output.
#[test]
fn alerts_as_ocsf_detection_findings_validate() {
    let d = TestDaemon::start(&["--iptables=false"], None);
    let (child, _) = start_watch_as(&d.host(), "ocsf", &["--duration", "8"]);
    d.run_container(
        "shelly",
        &[],
        &["/bin/sh", "-c", "sleep 1; /bin/bwtool exec-sh; sleep 3600"],
    );
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let schema = crate::outputs::repo("tests/schemas/ocsf-1.8.0-findings.schema.json");
    let records: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    for r in &records {
        crate::outputs::validate(&schema, r);
        assert_eq!(r["class_uid"], 2004);
    }
    let shell = records
        .iter()
        .find(|r| r["finding_info"]["analytic"]["uid"] == "R.SHELL")
        .unwrap_or_else(|| panic!("R.SHELL fired: {records:#?}"));
    assert_eq!(shell["resources"][0]["name"], "shelly");
    assert_eq!(shell["evidences"][0]["container"]["name"], "shelly");
}
