//! The container image (`cargo xtask image`, built by the test set-up): Docker Bench's own
//! command line with the image name changed gives the verdicts Bulwark gives on the host,
//! check by check, except where the container cannot see something, which is UNDECIDED
//! with the reason; the audit's own container is not judged. And the Swarm stack shipped
//! in `deploy/swarm` runs as a global service on a single-node swarm and answers /metrics.
//!
//! The image test audits the host's own daemon (the one the set-up started, which no
//! other test uses); the swarm test runs on a private daemon.

use crate::common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

const IMAGE_TAG: &str = "bulwark:latest";

/// The host daemon's `docker`.
fn host_docker(args: &[&str]) -> String {
    must(
        Command::new("docker")
            .args(["-H", "unix:///var/run/docker.sock"])
            .args(args),
    )
}

fn image_present() {
    let o = run(Command::new("docker").args(["image", "inspect", IMAGE_TAG]));
    assert!(
        o.status.success(),
        "{IMAGE_TAG} is missing: `cargo xtask test` builds it (cargo xtask image)"
    );
}

/// (id → (status, reason)) of a report.
fn verdicts_of(r: &Value) -> BTreeMap<String, (String, String)> {
    reasons(r)
        .into_iter()
        .map(|(id, status, reason)| (id, (status, reason)))
        .collect()
}

#[test]
fn the_docker_bench_command_line_gives_the_hosts_verdicts() {
    image_present();
    // Other tests flip unit file modes, write audit rules and add users: not meanwhile.
    let _host = host_files_lock();
    // A subject for §5 on the host's daemon, from the fixture image.
    let dir = tempfile::tempdir().unwrap();
    let tar = busybox_rootfs_tar(dir.path());
    host_docker(&[
        "import",
        "-c",
        "CMD [\"/bin/sleep\", \"3600\"]",
        tar.to_str().unwrap(),
        IMAGE,
    ]);
    let subject = "bw-image-subject";
    let _ = run(Command::new("docker").args(["rm", "-f", subject]));
    host_docker(&[
        "run",
        "-d",
        "--name",
        subject,
        "--network",
        "none",
        "--cap-add",
        "NET_ADMIN",
        IMAGE,
    ]);

    let host = audit_json(&["-H", "unix:///var/run/docker.sock"]);
    // Docker Bench's documented command line, with the image name changed (and a name, to
    // find the audit's own container in the findings if it were judged).
    let o = run(Command::new("docker").args([
        "run",
        "--rm",
        "--name",
        "bw-image-audit",
        "--net",
        "host",
        "--pid",
        "host",
        "--userns",
        "host",
        "--cap-add",
        "audit_control",
        "-e",
        "DOCKER_CONTENT_TRUST=",
        "-v",
        "/etc:/etc:ro",
        "-v",
        "/usr/lib/systemd:/usr/lib/systemd:ro",
        "-v",
        "/var/lib:/var/lib:ro",
        "-v",
        "/var/run/docker.sock:/var/run/docker.sock:ro",
        "--label",
        "docker_bench_security",
        IMAGE_TAG,
        "-f",
        "json",
    ]));
    let _ = run(Command::new("docker").args(["rm", "-f", subject]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("it is left out of the audit"), "{stderr}");
    let inside: Value = serde_json::from_slice(&o.stdout).expect("the image's report is JSON");

    let (on_host, in_image) = (verdicts_of(&host), verdicts_of(&inside));
    assert_eq!(
        on_host.keys().collect::<Vec<_>>(),
        in_image.keys().collect::<Vec<_>>(),
        "the same checks run"
    );
    let mut same = 0;
    let mut unseen = Vec::new();
    let mut wrong = Vec::new();
    for (id, (status, _)) in &on_host {
        let (got, why) = &in_image[id];
        if got == status {
            same += 1;
        } else if got == "undecided" && !why.is_empty() {
            unseen.push(format!("{id}: {status} on the host; in the image: {why}"));
        } else {
            wrong.push(format!(
                "{id}: {status} on the host, {got} in the image ({why})"
            ));
        }
    }
    eprintln!(
        "image vs host: {same} the same; undecided in the image:\n{}",
        unseen.join("\n")
    );
    assert!(
        wrong.is_empty(),
        "verdicts the image got wrong:\n{}",
        wrong.join("\n")
    );
    // What the mounts show is judged, not left undecided: the daemon (found without
    // reading its descriptors), its files, the socket, the group, the containers.
    for id in [
        "2.2", "2.14", "3.15", "3.16", "1.1.2", "5.4", "5.10", "5.11",
    ] {
        assert_eq!(on_host[id].0, in_image[id].0, "{id}: {}", in_image[id].1);
    }
    assert!(offenders(&inside, "5.4").contains(subject), "{inside:#}");
    // The image has no auditctl: the kernel's rules, listed over netlink with audit_control.
    let rules = finding(&inside, "1.1.5")["message"].to_string();
    assert!(rules.contains("(kernel)"), "{rules}");
    // The audit's own container is in no finding.
    let text = inside.to_string();
    assert!(!text.contains("bw-image-audit"), "the audit judged itself");
}

#[test]
fn the_swarm_stack_runs_as_a_global_service_and_serves_metrics() {
    image_present();
    let d = TestDaemon::start(&["--iptables=false"], None);
    // The image is local: into the private daemon without a registry.
    let mut save = Command::new("docker")
        .args(["save", IMAGE_TAG])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let load = d
        .docker_cmd()
        .args(["load", "-q"])
        .stdin(save.stdout.take().unwrap())
        .output()
        .unwrap();
    assert!(save.wait().unwrap().success(), "docker save");
    assert!(
        load.status.success(),
        "{}",
        String::from_utf8_lossy(&load.stderr)
    );
    // The stack listens on the node's port 9469: nothing else may answer there.
    assert!(
        std::net::TcpListener::bind("127.0.0.1:9469").is_ok(),
        "port 9469 is taken: the test could not tell the service's answer"
    );
    let listen = free_loopback_addr();
    d.docker(&[
        "swarm",
        "init",
        "--advertise-addr",
        "127.0.0.1",
        "--listen-addr",
        &listen,
    ]);
    let stack = crate::outputs::repo("deploy/swarm/bulwark-stack.yml");
    d.docker(&[
        "stack",
        "deploy",
        "--resolve-image",
        "never",
        "-c",
        stack.to_str().unwrap(),
        "bulwark",
    ]);
    let mode = d.docker(&[
        "service",
        "inspect",
        "bulwark_bulwark",
        "--format",
        "{{json .Spec.Mode}}",
    ]);
    assert!(mode.contains("Global"), "{mode}");
    // Its one task runs (on the private swarm), then answers on the node's port 9469.
    let running = wait_for(Duration::from_secs(120), || {
        let state = d.docker(&[
            "service",
            "ps",
            "--format",
            "{{.CurrentState}}",
            "bulwark_bulwark",
        ]);
        state.starts_with("Running").then_some(state)
    });
    assert!(running.is_some(), "the global service's task did not run");
    let metrics = wait_for(Duration::from_secs(180), || {
        http_get("127.0.0.1:9469", "/metrics")
            .filter(|(s, _, b)| *s == 200 && b.contains("bulwark_check_status"))
            .map(|(_, _, b)| b)
    });
    let tasks = d.docker(&["service", "ps", "--no-trunc", "bulwark_bulwark"]);
    let _ = d.docker_cmd().args(["stack", "rm", "bulwark"]).output();
    let metrics =
        metrics.unwrap_or_else(|| panic!("the service's /metrics did not answer:\n{tasks}"));
    assert!(metrics.contains("bulwark_build_info"), "{metrics}");
    assert!(metrics.contains("bulwark_audit_success 1"), "{metrics}");
}
