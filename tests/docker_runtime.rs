//! CIS section 5 against a real dockerd with real containers: a hardened container passes
//! every check; containers that break one rule each are named, and only they are.

use crate::common::*;
use std::process::Command;

/// Everything a container needs to pass section 5 (on a user-defined network).
const HARDENED: &[&str] = &[
    "--read-only",
    "--memory",
    "64m",
    "--cpu-shares",
    "512",
    "--pids-limit",
    "64",
    "--restart",
    "on-failure:3",
    "--security-opt",
    "no-new-privileges",
    "--health-cmd",
    "true",
    "--ulimit",
    "nofile=1024:1024",
    "--cap-drop",
    "ALL",
    "--network",
    "bwnet",
];

/// HARDENED with one option replaced or added.
fn hardened_but(drop: &[&str], add: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut it = HARDENED.iter().peekable();
    while let Some(a) = it.next() {
        let takes_value = it.peek().is_some_and(|v| !v.starts_with("--")) && *a != "--read-only";
        if drop.contains(a) {
            if takes_value {
                it.next();
            }
            continue;
        }
        out.push(a.to_string());
        if takes_value {
            if let Some(v) = it.next() {
                out.push(v.to_string());
            }
        }
    }
    out.extend(add.iter().map(|s| s.to_string()));
    out
}

fn start(d: &TestDaemon, name: &str, args: &[String], cmd: &[&str]) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    d.run_container(name, &args, cmd);
}

const SECTION5_AUTOMATED: &[&str] = &[
    "5.4", "5.5", "5.6", "5.7", "5.8", "5.9", "5.10", "5.11", "5.12", "5.13", "5.14", "5.15",
    "5.16", "5.17", "5.18", "5.19", "5.20", "5.21", "5.22", "5.25", "5.26", "5.27", "5.29", "5.30",
    "5.31", "5.32",
];

#[test]
fn hardened_container_passes_and_all_containers_adds_created_ones() {
    let d = TestDaemon::start(&["--iptables=false"], None);
    d.docker(&["network", "create", "bwnet"]);
    start(&d, "good", &hardened_but(&[], &[]), &[]);

    let r = audit_json(&["-H", &d.host(), "-c", "5"]);
    assert_eq!(status(&r, "5.1"), "pass");
    for id in SECTION5_AUTOMATED {
        assert_eq!(status(&r, id), "pass", "{id}: {:#}", finding(&r, id));
    }
    // This host has neither AppArmor nor SELinux: not applicable, said so, never PASS.
    let info = d.docker(&["info", "--format", "{{json .SecurityOptions}}"]);
    for (id, module) in [("5.2", "apparmor"), ("5.3", "selinux")] {
        if !info.contains(module) {
            assert_eq!(status(&r, id), "skipped");
            assert!(finding(&r, id)["reason"]
                .as_str()
                .unwrap()
                .contains("not enabled"));
        }
    }
    assert_eq!(status(&r, "5.23"), "note");
    assert_eq!(status(&r, "5.28"), "info");

    // A privileged container cannot start here, but it can be created: it is audited only
    // with --all-containers, like Docker Bench's default of running containers.
    d.docker(&["create", "--privileged", "--name", "priv", IMAGE]);
    let r = audit_json(&["-H", &d.host(), "-c", "5.5"]);
    assert_eq!(status(&r, "5.5"), "pass");
    let r = audit_json(&["-H", &d.host(), "-c", "5.5", "--all-containers"]);
    assert_eq!(status(&r, "5.5"), "warn");
    assert_eq!(offenders(&r, "5.5"), set(&["priv"]));
}

#[test]
fn each_rule_breaker_is_named_and_only_it() {
    let d = TestDaemon::start(&["--iptables=false"], None);
    d.docker(&["network", "create", "bwnet"]);
    let shared = d.dir.path().join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    // A shared mount propagation needs a shared source mount.
    let _ = std::process::Command::new("mount")
        .args(["--bind"])
        .arg(&shared)
        .arg(&shared)
        .status();
    let _ = std::process::Command::new("mount")
        .args(["--make-shared"])
        .arg(&shared)
        .status();
    let shared_mount = format!(
        "type=bind,source={},target=/mnt,bind-propagation=rshared",
        shared.display()
    );

    let cases: Vec<(&str, Vec<String>, Vec<&str>)> = vec![
        ("good", hardened_but(&[], &[]), vec![]),
        (
            "good-port",
            hardened_but(&[], &["-p", "127.0.0.1:18082:82"]),
            vec![],
        ),
        (
            "caps",
            hardened_but(
                &["--cap-drop"],
                &["--cap-add", "SYS_ADMIN", "--cap-add", "CHOWN"],
            ),
            vec![],
        ),
        (
            "etcmount",
            hardened_but(&[], &["-v", "/etc:/host-etc"]),
            vec![],
        ),
        (
            "romount",
            hardened_but(&[], &["-v", "/etc:/host-etc:ro"]),
            vec![],
        ),
        ("sshd", hardened_but(&[], &[]), vec!["/usr/sbin/sshd"]),
        ("lowport", hardened_but(&[], &["-p", "80:80"]), vec![]),
        (
            "v6port",
            hardened_but(&[], &["-p", "[::]:18081:81"]),
            vec![],
        ),
        (
            "hostnet",
            hardened_but(&["--network"], &["--network", "host"]),
            vec![],
        ),
        ("nomem", hardened_but(&["--memory"], &[]), vec![]),
        ("nocpu", hardened_but(&["--cpu-shares"], &[]), vec![]),
        ("rwroot", hardened_but(&["--read-only"], &[]), vec![]),
        (
            "always",
            hardened_but(&["--restart"], &["--restart", "always"]),
            vec![],
        ),
        (
            "retries",
            hardened_but(&["--restart"], &["--restart", "on-failure:10"]),
            vec![],
        ),
        ("hostpid", hardened_but(&[], &["--pid", "host"]), vec![]),
        ("hostipc", hardened_but(&[], &["--ipc", "host"]), vec![]),
        (
            "device",
            hardened_but(&[], &["--device", "/dev/null:/dev/xnull"]),
            vec![],
        ),
        ("noulimit", hardened_but(&["--ulimit"], &[]), vec![]),
        (
            "shared",
            hardened_but(&[], &["--mount", &shared_mount]),
            vec![],
        ),
        ("hostuts", hardened_but(&[], &["--uts", "host"]), vec![]),
        (
            "unconfined",
            hardened_but(&[], &["--security-opt", "seccomp=unconfined"]),
            vec![],
        ),
        (
            "cgparent",
            hardened_but(&[], &["--cgroup-parent", "/bulwark-test"]),
            vec![],
        ),
        ("nnp", hardened_but(&["--security-opt"], &[]), vec![]),
        ("nohealth", hardened_but(&["--health-cmd"], &[]), vec![]),
        ("nopids", hardened_but(&["--pids-limit"], &[]), vec![]),
        ("bridged", hardened_but(&["--network"], &[]), vec![]),
        (
            "hostuserns",
            hardened_but(&[], &["--userns", "host"]),
            vec![],
        ),
        (
            "socket",
            hardened_but(&[], &["-v", "/var/run/docker.sock:/var/run/docker.sock"]),
            vec![],
        ),
        (
            "rundir",
            hardened_but(&[], &["-v", "/run:/hostrun:ro"]),
            vec![],
        ),
    ];
    for (name, args, cmd) in &cases {
        start(&d, name, args, cmd);
    }

    let r = audit_json(&["-H", &d.host(), "-c", "5"]);
    let expect_warn: &[(&str, &[&str])] = &[
        ("5.4", &["caps"]),
        ("5.6", &["etcmount"]),
        ("5.7", &["sshd"]),
        ("5.8", &["lowport"]),
        ("5.9", &["good-port", "lowport", "v6port"]),
        ("5.10", &["hostnet"]),
        ("5.11", &["nomem"]),
        ("5.12", &["nocpu"]),
        ("5.13", &["rwroot"]),
        ("5.14", &["lowport", "v6port"]),
        ("5.15", &["always", "retries"]),
        ("5.16", &["hostpid"]),
        ("5.17", &["hostipc"]),
        ("5.20", &["shared"]),
        ("5.21", &["hostuts"]),
        ("5.22", &["unconfined"]),
        ("5.25", &["cgparent"]),
        ("5.26", &["nnp"]),
        ("5.27", &["nohealth"]),
        ("5.29", &["nopids"]),
        ("5.31", &["hostuserns"]),
        ("5.32", &["rundir", "socket"]),
    ];
    for (id, names) in expect_warn {
        assert_eq!(status(&r, id), "warn", "{id}: {:#}", finding(&r, id));
        assert_eq!(offenders(&r, id), set(names), "{id}");
    }
    let expect_info: &[(&str, &[&str])] = &[
        ("5.18", &["device"]),
        ("5.19", &["noulimit"]),
        ("5.30", &["bridged"]),
    ];
    for (id, names) in expect_info {
        assert_eq!(status(&r, id), "info", "{id}");
        assert_eq!(offenders(&r, id), set(names), "{id}");
    }
    // Nothing privileged runs, so 5.5 passes even among all these.
    assert_eq!(status(&r, "5.5"), "pass");
    // Detail lines name the container and say what is wrong.
    let details = finding(&r, "5.14")["details"].to_string();
    assert!(
        details.contains("v6port") && details.contains("[::]:18081"),
        "{details}"
    );

    // The text report shows the same, docker-bench style, without colour in a pipe.
    let out = bulwark()
        .args(["audit", "-H", &d.host(), "-c", "5.10"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("[WARN] 5.10 - Ensure that the host's network namespace is not shared"),
        "{text}"
    );
    assert!(
        text.contains("* hostnet: shares the host's network namespace"),
        "{text}"
    );
    assert!(!text.contains('\x1b'), "no colour when not on a terminal");

    // The typed container record (ABI 0.1.3) says what the inspect document says, for every
    // kind of container above: a plugin reads each both ways and names any that differ.
    let plugins = tempfile::tempdir().unwrap();
    std::fs::copy(fixture_plugin("mirror"), plugins.path().join("mirror.wasm")).unwrap();
    let pd = plugins.path().display().to_string();
    let r = audit_json(&[
        "-H",
        &d.host(),
        "-c",
        "T.RECORD",
        "--plugins",
        &pd,
        "--allow-unsigned",
        "--grant",
        "mirror:containers",
    ]);
    let f = finding(&r, "T.RECORD");
    assert_eq!(f["status"], "pass", "{f:#}");
    assert_eq!(f["message"], format!("{} containers checked", cases.len()));

    let _ = std::process::Command::new("umount").arg(&shared).status();
}

#[test]
fn unreachable_daemon_is_a_clear_undecided_not_a_pass() {
    let out = bulwark()
        .args([
            "audit",
            "-f",
            "json",
            "-H",
            "unix:///nonexistent/bulwark.sock",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "a completed audit exits 0");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot reach the Docker daemon"),
        "{stderr}"
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = r["findings"].as_array().unwrap();
    assert!(findings.len() >= 100);
    // Nothing that needs the daemon is decided, let alone passed.
    for f in findings {
        let section = f["check"]["section"].as_str().unwrap();
        let s = f["status"].as_str().unwrap();
        if section == "2" || section == "5" {
            assert!(!matches!(s, "pass" | "warn"), "{f:#}");
        }
    }
    for id in ["2.2", "2.13", "3.17", "4.6", "5.5", "5.10"] {
        assert_eq!(status(&r, id), "undecided", "{id}");
    }
    assert!(finding(&r, "5.5")["reason"]
        .as_str()
        .unwrap()
        .contains("nonexistent"));
    // Checks of the host itself still run.
    for id in ["1.1.6", "3.5", "4.5"] {
        assert!(
            matches!(status(&r, id).as_str(), "pass" | "warn" | "info"),
            "{id}: {:#}",
            finding(&r, id)
        );
    }
}

#[test]
fn terminal_escapes_in_evidence_never_reach_the_terminal() {
    let d = TestDaemon::start(&["--iptables=false"], None);
    // A bind-mount source path is the operator's (or an attacker's) free text.
    let evil_dir = d.dir.path().join("\x1b[2J\x1b]0;pwned\x07evil");
    std::fs::create_dir_all(&evil_dir).unwrap();
    std::fs::write(evil_dir.join("docker.sock"), b"").unwrap();
    let mount = format!(
        "{}:/var/run/docker.sock",
        evil_dir.join("docker.sock").display()
    );
    d.run_container("evil", &["-v", &mount], &[]);

    let out = bulwark()
        .args(["audit", "-H", &d.host(), "-c", "5.32"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("[WARN] 5.32"), "{text}");
    assert!(
        !text.contains('\x1b') && !text.contains('\x07'),
        "raw control characters in {text:?}"
    );
    assert!(text.contains("\\u{1b}[2J"), "{text}");

    // JSON keeps the exact text, properly escaped.
    let r = audit_json(&["-H", &d.host(), "-c", "5.32"]);
    assert!(finding(&r, "5.32")["details"][0]
        .as_str()
        .unwrap()
        .contains("\x1b[2J"));
}

#[test]
fn name_patterns_and_check_groups_select() {
    let d = TestDaemon::start(&["--iptables=false"], None);
    for n in ["web1", "web2", "db"] {
        d.run_container(n, &[], &[]);
    }
    let r = audit_json(&["-H", &d.host(), "-c", "5.11"]);
    assert_eq!(offenders(&r, "5.11"), set(&["db", "web1", "web2"]));
    let r = audit_json(&["-H", &d.host(), "-c", "5.11", "-i", "web", "-x", "web2"]);
    assert_eq!(offenders(&r, "5.11"), set(&["web1"]));
    let r = audit_json(&["-H", &d.host(), "-c", "4.6", "-i", "^nothing-matches$"]);
    assert_eq!(status(&r, "4.6"), "skipped");
    let r = audit_json(&["-H", &d.host(), "-c", "4.6", "-i", "busybox"]);
    assert_eq!(image_offenders(&r, "4.6"), set(&[IMAGE]));

    // -t: containers and images carrying every label given (`key` or `key=value`).
    d.run_container("lab-web", &["--label", "tier=web", "--label", "team"], &[]);
    d.run_container("lab-db", &["--label", "tier=db"], &[]);
    d.build_image(
        "bw-labelled:1",
        &format!("FROM {IMAGE}\nLABEL tier=web\n"),
        &[],
    );
    let r = audit_json(&["-H", &d.host(), "-c", "5.11,4.6", "-t", "tier=web"]);
    assert_eq!(offenders(&r, "5.11"), set(&["lab-web"]));
    assert_eq!(image_offenders(&r, "4.6"), set(&["bw-labelled:1"]));
    let r = audit_json(&["-H", &d.host(), "-c", "5.11", "-t", "tier"]);
    assert_eq!(offenders(&r, "5.11"), set(&["lab-db", "lab-web"]));
    let r = audit_json(&["-H", &d.host(), "-c", "5.11", "-t", "tier=db,team"]);
    assert_eq!(status(&r, "5.11"), "skipped", "{:#}", finding(&r, "5.11"));
    let r = audit_json(&["-H", &d.host(), "-c", "5.11", "-t", "tier", "-x", "db"]);
    assert_eq!(offenders(&r, "5.11"), set(&["lab-web"]));

    // Docker Bench's groups and function names.
    let r = audit_json(&[
        "-H",
        &d.host(),
        "-c",
        "container_runtime",
        "-e",
        "check_5_11",
    ]);
    let ids: Vec<&str> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["check"]["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"5.10") && !ids.contains(&"5.11") && ids.iter().all(|i| i.starts_with("5.")),
        "{ids:?}"
    );

    // Anything else is refused before the audit, and never run.
    for bad in ["rm -rf /", "check_$(id)", "no_such_group"] {
        let o = bulwark()
            .args(["audit", "-H", &d.host(), "-c", bad])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{bad}");
        assert!(o.stdout.is_empty());
    }
}

/// Hostile text in evidence (a bind-mount path with a newline that imitates a finding line,
/// `\r`, bidi overrides, terminal escapes; a 256 KiB label) leaves every format valid and
/// inert: text has no control byte at all and no injected line, JSON and SARIF parse,
/// JUnit is well-formed XML, HTML and Markdown escape it.
#[test]
fn hostile_text_in_evidence_stays_inert_in_every_format() {
    let d = TestDaemon::start(&["--iptables=false"], None);
    let evil = "x\n[PASS] 9.9 - INJECTED\r\u{202e}evil\u{2066}\x1b[31m\x07<script>|*";
    let evil_dir = d.dir.path().join(evil);
    std::fs::create_dir_all(&evil_dir).unwrap();
    std::fs::write(evil_dir.join("docker.sock"), b"").unwrap();
    let mount = format!(
        "{}:/var/run/docker.sock",
        evil_dir.join("docker.sock").display()
    );
    // A 256 KiB label is more than one argument of `docker run` (or a line of its label
    // file) may be: create the container through the Engine API itself.
    let spec = serde_json::json!({
        "Image": IMAGE,
        "Labels": {"big": "\u{202e}x".repeat(64 * 1024)},
        "HostConfig": {"Binds": [mount]},
    });
    let body = d.dir.path().join("create.json");
    std::fs::write(&body, spec.to_string()).unwrap();
    let created = Command::new("curl")
        .args(["-sf", "--unix-socket"])
        .arg(&d.socket)
        .args(["-H", "Content-Type: application/json", "--data-binary"])
        .arg(format!("@{}", body.display()))
        .arg("http://docker/containers/create?name=hostile")
        .output()
        .expect("curl");
    assert!(created.status.success(), "{created:?}");
    d.docker(&["start", "hostile"]);

    let dir = tempfile::tempdir().unwrap();
    let out = |name: &str| dir.path().join(name);
    let mut cmd = bulwark();
    cmd.args(["audit", "-b", "-H", &d.host(), "-c", "5"]);
    for (format, file) in [
        ("json", "r.json"),
        ("sarif", "r.sarif"),
        ("junit", "r.xml"),
        ("html", "r.html"),
        ("markdown", "r.md"),
    ] {
        cmd.arg("--out")
            .arg(format!("{format}={}", out(file).display()));
    }
    cmd.arg("-l").arg(out("dbs.log"));
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("[WARN] 5.32"), "{text}");
    for t in [&text, &std::fs::read_to_string(out("dbs.log")).unwrap()] {
        let bad: Vec<char> = t
            .chars()
            .filter(|c| {
                (c.is_control() && *c != '\n')
                    || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
            })
            .collect();
        assert!(bad.is_empty(), "control or bidi characters {bad:?}");
        // The injected text stays inside the line that quotes it, escaped.
        assert!(
            t.lines().all(|l| !l.trim_start().starts_with("[PASS] 9.9")),
            "an injected line: {t}"
        );
        assert!(t.contains("\\u{a}[PASS] 9.9 - INJECTED"), "{t}");
    }
    // The structured formats parse and keep the text exactly (JSON) or escaped.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out("r.json")).unwrap()).unwrap();
    assert!(finding(&json, "5.32").to_string().contains("INJECTED"));
    let _: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out("r.sarif")).unwrap()).unwrap();
    serde_json::from_str::<serde_json::Value>(
        &std::fs::read_to_string(out("dbs.log.json")).unwrap(),
    )
    .unwrap();
    let xml = Command::new("python3")
        .args([
            "-c",
            "import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])",
        ])
        .arg(out("r.xml"))
        .output()
        .unwrap();
    assert!(
        xml.status.success(),
        "JUnit XML: {}",
        String::from_utf8_lossy(&xml.stderr)
    );
    let html = std::fs::read_to_string(out("r.html")).unwrap();
    assert!(
        html.contains("INJECTED") && !html.contains("<script>|"),
        "HTML must escape it"
    );
    let md = std::fs::read_to_string(out("r.md")).unwrap();
    assert!(
        md.lines()
            .all(|l| !l.contains("<script>") && !l.trim_start().starts_with("[PASS] 9.9")),
        "{md}"
    );
}
