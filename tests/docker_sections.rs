//! CIS sections 1, 4, 6, 7 and 8 and the community checks on real daemon states: images
//! built locally, audit rules files, a swarm initialised on a private daemon.

use crate::common::*;
use std::process::Command;

#[test]
fn images_and_operations() {
    let d = TestDaemon::start(&["--iptables=false"], None);
    d.build_image(
        "bw-good:1",
        &format!(
            "FROM {IMAGE}\nHEALTHCHECK CMD [\"/bin/true\"]\nUSER 1000\nCOPY note.txt /note.txt\n"
        ),
        &[("note.txt", "hello")],
    );
    d.build_image(
        "bw-bad:1",
        &format!("FROM {IMAGE}\nADD note.txt /note.txt\nRUN echo apt-get update\nRUN echo apt-get update && echo apt-get install -y curl\n"),
        &[("note.txt", "hello")],
    );
    d.docker(&["run", "-d", "--name", "as-root", IMAGE]);
    d.docker(&["run", "-d", "--name", "as-user", "bw-good:1"]);

    let r = audit_json(&["-H", &d.host(), "-c", "4,6"]);
    assert_eq!(status(&r, "4.1"), "warn");
    assert_eq!(offenders(&r, "4.1"), set(&["as-root"]));
    assert_eq!(status(&r, "4.6"), "warn");
    assert_eq!(image_offenders(&r, "4.6"), set(&["bw-bad:1", IMAGE]));
    assert_eq!(status(&r, "4.7"), "info");
    assert_eq!(image_offenders(&r, "4.7"), set(&["bw-bad:1"]));
    assert_eq!(status(&r, "4.9"), "info");
    assert_eq!(image_offenders(&r, "4.9"), set(&["bw-bad:1"]));
    for id in ["4.2", "4.3", "4.4", "4.8", "4.10", "4.11", "4.12"] {
        assert_eq!(status(&r, id), "note", "{id}");
    }
    let msg = finding(&r, "6.1")["message"].as_str().unwrap().to_string();
    assert!(msg.starts_with("3 images, 2 in use"), "{msg}");
    assert!(finding(&r, "6.2")["message"]
        .as_str()
        .unwrap()
        .contains("2 containers selected, 2 running"));

    // 4.5 reads the auditor's environment.
    let run = |trust: Option<&str>| {
        let mut c = bulwark();
        c.args(["audit", "-f", "json", "-H", &d.host(), "-c", "4.5"]);
        match trust {
            Some(v) => c.env("DOCKER_CONTENT_TRUST", v),
            None => c.env_remove("DOCKER_CONTENT_TRUST"),
        };
        let out = c.output().unwrap();
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        status(&r, "4.5")
    };
    assert_eq!(run(Some("1")), "pass");
    assert_eq!(run(Some("0")), "warn");
    assert_eq!(run(None), "warn");
}

#[test]
fn swarm_section7_on_a_private_swarm() {
    let d = TestDaemon::start(&["--iptables=false"], None);
    let r = audit_json(&["-H", &d.host(), "-c", "7,5.1"]);
    assert_eq!(status(&r, "5.1"), "pass");
    for n in 1..=9 {
        assert_eq!(
            status(&r, &format!("7.{n}")),
            "skipped",
            "7.{n} without swarm"
        );
    }

    d.docker(&[
        "swarm",
        "init",
        "--advertise-addr",
        "127.0.0.1",
        "--listen-addr",
        "127.0.0.1:23770",
    ]);
    d.docker(&["network", "create", "-d", "overlay", "plainnet"]);
    let r = audit_json(&["-H", &d.host(), "-c", "7,5.1"]);
    assert_eq!(status(&r, "5.1"), "warn");
    assert_eq!(status(&r, "7.1"), "pass", "{:#}", finding(&r, "7.1"));
    assert_eq!(status(&r, "7.2"), "pass", "{:#}", finding(&r, "7.2"));
    assert_eq!(status(&r, "7.3"), "warn");
    assert!(finding(&r, "7.3")["details"]
        .to_string()
        .contains("plainnet"));
    assert_eq!(status(&r, "7.4"), "info");
    assert_eq!(status(&r, "7.5"), "warn");
    assert_eq!(status(&r, "7.6"), "note");
    assert_eq!(status(&r, "7.7"), "info");
    assert_eq!(status(&r, "7.8"), "info");
    assert_eq!(status(&r, "7.9"), "info");

    let mut secret = d.docker_cmd();
    secret
        .args(["secret", "create", "bwsecret", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null());
    let mut child = secret.spawn().unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"s3cret").unwrap();
    }
    assert!(child.wait().unwrap().success());
    d.docker(&["swarm", "update", "--autolock=true", "--cert-expiry", "48h"]);
    let r = audit_json(&["-H", &d.host(), "-c", "7"]);
    assert_eq!(status(&r, "7.4"), "pass");
    assert_eq!(status(&r, "7.5"), "pass");
    assert_eq!(status(&r, "7.7"), "pass");

    // A second manager makes the count even (WARN); a manager listening on every
    // interface makes 7.2 WARN.
    let token = d.docker(&["swarm", "join-token", "-q", "manager"]);
    let d2 = TestDaemon::start(&["--iptables=false"], None);
    d2.docker(&[
        "swarm",
        "join",
        "--token",
        token.trim(),
        "--listen-addr",
        "0.0.0.0:23772",
        "--advertise-addr",
        "127.0.0.1:23772",
        "127.0.0.1:23770",
    ]);
    let r = audit_json(&["-H", &d.host(), "-c", "7.1,7.2"]);
    assert_eq!(status(&r, "7.1"), "warn", "{:#}", finding(&r, "7.1"));
    assert_eq!(status(&r, "7.2"), "pass", "{:#}", finding(&r, "7.2"));
    let r = audit_json(&["-H", &d2.host(), "-c", "7.2"]);
    assert_eq!(status(&r, "7.2"), "warn", "{:#}", finding(&r, "7.2"));
    assert!(finding(&r, "7.2")["details"].to_string().contains(":23772"));
    let _ = d2.docker_cmd().args(["swarm", "leave", "--force"]).output();
    let _ = d.docker_cmd().args(["swarm", "leave", "--force"]).output();
}

#[test]
fn enterprise_section_is_skipped_on_this_engine_and_community_checks_run_on_request() {
    let d = TestDaemon::start(&["--iptables=false"], None);
    d.run_container("sysadmin", &["--cap-add", "SYS_ADMIN"], &[]);
    d.run_container("plain", &[], &[]);
    // Not in a default run, like Docker Bench's default `cis` selection.
    let r = audit_json(&["-H", &d.host()]);
    assert!(!r["findings"].to_string().contains("\"C.5.3.3\""));
    assert!(!r["findings"].to_string().contains("\"8.1.1\""));

    let r = audit_json(&["-H", &d.host(), "-c", "8,C"]);
    for id in ["8.1.1", "8.1.7", "8.2.1"] {
        assert_eq!(status(&r, id), "skipped");
        assert!(finding(&r, id)["reason"]
            .as_str()
            .unwrap()
            .contains("not a Docker Enterprise engine"));
    }
    assert_eq!(status(&r, "C.5.3.3"), "warn");
    assert_eq!(offenders(&r, "C.5.3.3"), set(&["sysadmin"]));
    assert_eq!(status(&r, "C.5.3.2"), "pass");
    if std::env::consts::ARCH == "x86_64" {
        assert_eq!(status(&r, "C.1"), "pass");
    }
    assert_eq!(status(&r, "C.2"), "info");
}

#[test]
fn host_section1_audit_rules_partition_and_users() {
    let _host = host_files_lock();
    assert!(
        !Command::new("sh").args(["-c", "command -v auditctl"]).status().unwrap().success(),
        "this test writes rules files; with auditd installed the kernel's rules would be read instead"
    );
    let d = TestDaemon::start(&["--iptables=false"], None);
    std::fs::create_dir_all("/etc/audit/rules.d").unwrap();
    let rules = std::path::Path::new("/etc/audit/rules.d/zz-bulwark-test.rules");
    struct Cleanup(&'static str);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(self.0);
            let _ = Command::new("userdel").arg("bwtestuser").status();
        }
    }
    let _c = Cleanup("/etc/audit/rules.d/zz-bulwark-test.rules");
    let dockerd = std::fs::read_link(format!("/proc/{}/exe", d.pid())).unwrap();
    let dockerd = dockerd.display().to_string();

    // A rule for a look-alike path does not count (Docker Bench's substring match would).
    std::fs::write(
        rules,
        format!("-w {dockerd}.bak -k docker\n-w /etc/dockerx -k docker\n"),
    )
    .unwrap();
    let r = audit_json(&["-H", &d.host(), "-c", "1.1.3,1.1.6"]);
    assert_eq!(status(&r, "1.1.3"), "warn");
    assert_eq!(status(&r, "1.1.6"), "warn");
    std::fs::write(
        rules,
        format!("-w {dockerd} -p rwxa -k docker\n-w /etc/docker/ -p rwxa -k docker\n"),
    )
    .unwrap();
    let r = audit_json(&["-H", &d.host(), "-c", "1.1.3,1.1.6"]);
    assert_eq!(status(&r, "1.1.3"), "pass", "{:#}", finding(&r, "1.1.3"));
    assert_eq!(status(&r, "1.1.6"), "pass");

    // Every audit-rule check follows its own path: WARN without a rule, PASS with one, and
    // INFO where this host has no such file (the paths found the way an operator would).
    let root = d.docker(&["info", "--format", "{{.DockerRootDir}}"]);
    let first = |cands: &[String]| {
        cands
            .iter()
            .find(|p| std::path::Path::new(p).exists())
            .cloned()
    };
    let bin = |name: &str| {
        first(
            &[
                "/usr/bin",
                "/usr/sbin",
                "/usr/local/bin",
                "/usr/local/sbin",
                "/bin",
                "/sbin",
            ]
            .map(|d| format!("{d}/{name}")),
        )
    };
    let unit = |name: &str| {
        first(
            &[
                "/etc/systemd/system",
                "/lib/systemd/system",
                "/usr/lib/systemd/system",
            ]
            .map(|d| format!("{d}/{name}")),
        )
    };
    let exists = |p: &str| std::path::Path::new(p).exists().then(|| p.to_string());
    let containerd_sock = format!(
        "{}/containerd/containerd.sock",
        d.dir.path().join("exec").display()
    );
    let paths: Vec<(&str, Option<String>)> = vec![
        ("1.1.3", Some(dockerd.clone())),
        ("1.1.4", Some("/run/containerd".to_string())),
        ("1.1.5", exists(&root)),
        ("1.1.6", exists("/etc/docker")),
        ("1.1.7", unit("docker.service")),
        (
            "1.1.8",
            exists("/run/containerd/containerd.sock").or(exists(&containerd_sock)),
        ),
        ("1.1.9", unit("docker.socket")),
        ("1.1.10", exists("/etc/default/docker")),
        ("1.1.11", exists("/etc/docker/daemon.json")), // the default, as this daemon has no --config-file
        ("1.1.12", exists("/etc/containerd/config.toml")),
        ("1.1.13", exists("/etc/sysconfig/docker")),
        ("1.1.14", bin("containerd")),
        ("1.1.15", bin("containerd-shim")),
        ("1.1.16", bin("containerd-shim-runc-v1")),
        ("1.1.17", bin("containerd-shim-runc-v2")),
        ("1.1.18", bin("runc")),
    ];
    std::fs::write(rules, "").unwrap();
    let r = audit_json(&["-H", &d.host(), "-c", "1.1"]);
    for (id, path) in &paths {
        let want = if path.is_some() { "warn" } else { "info" };
        assert_eq!(status(&r, id), want, "{id} {path:?}: {:#}", finding(&r, id));
    }
    let all: String = paths
        .iter()
        .filter_map(|(_, p)| p.as_ref())
        .map(|p| format!("-w {p} -p rwxa -k docker\n"))
        .collect();
    std::fs::write(rules, all).unwrap();
    let r = audit_json(&["-H", &d.host(), "-c", "1.1"]);
    for (id, path) in &paths {
        let want = if path.is_some() { "pass" } else { "info" };
        assert_eq!(status(&r, id), want, "{id} {path:?}: {:#}", finding(&r, id));
    }

    // 1.1.1: the test daemon's data root is under /tmp; the verdict follows the devices.
    use std::os::unix::fs::MetadataExt;
    let separate = std::fs::metadata(&root).unwrap().dev() != std::fs::metadata("/").unwrap().dev();
    let r = audit_json(&["-H", &d.host(), "-c", "1.1.1"]);
    assert_eq!(status(&r, "1.1.1"), if separate { "pass" } else { "warn" });

    // 1.1.2: members of the docker group, judged against -u (exact names, not substrings).
    let _ = Command::new("userdel")
        .arg("bwtestuser")
        .stderr(std::process::Stdio::null())
        .status();
    assert!(Command::new("useradd")
        .args(["-M", "-G", "docker", "bwtestuser"])
        .status()
        .unwrap()
        .success());
    let r = audit_json(&["-H", &d.host(), "-c", "1.1.2"]);
    assert_eq!(status(&r, "1.1.2"), "info");
    assert!(finding(&r, "1.1.2")["message"]
        .as_str()
        .unwrap()
        .contains("bwtestuser"));
    let r = audit_json(&["-H", &d.host(), "-c", "1.1.2", "-u", "bwtestuse"]);
    assert_eq!(status(&r, "1.1.2"), "warn");
    assert!(finding(&r, "1.1.2")["details"]
        .to_string()
        .contains("untrusted member of docker: bwtestuser"));
    let members = finding(&r, "1.1.2")["details"].as_array().unwrap().len();
    let everyone: Vec<String> = std::fs::read_to_string("/etc/group")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("docker:"))
        .map(|l| {
            l.rsplit(':')
                .next()
                .unwrap_or("")
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(members, everyone.len());
    let r = audit_json(&["-H", &d.host(), "-c", "1.1.2", "-u", &everyone.join(",")]);
    assert_eq!(status(&r, "1.1.2"), "pass");
}
