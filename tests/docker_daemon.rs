//! CIS section 2 against real daemon states: private dockerd instances started with a
//! hardened daemon.json, with weak command-line flags, and with TLS on TCP.

use crate::common::*;
use std::process::Command;

fn all_section2(r: &serde_json::Value) -> Vec<(String, String)> {
    (1..=18)
        .map(|n| {
            let id = format!("2.{n}");
            let s = status(r, &id);
            (id, s)
        })
        .collect()
}

#[test]
fn hardened_daemon_json_passes() {
    let json = r#"{
        "icc": false,
        "log-level": "info",
        "live-restore": true,
        "userland-proxy": false,
        "no-new-privileges": true,
        "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 64000, "Soft": 64000}},
        "log-driver": "journald",
        "userns-remap": "default"
    }"#;
    let d = TestDaemon::start(&[], Some(json));
    let r = audit_json(&["-H", &d.host(), "-c", "2"]);
    let got = all_section2(&r);
    let expected: Vec<(String, String)> = [
        ("2.1", "note"),
        ("2.2", "pass"),
        ("2.3", "pass"),
        ("2.4", "pass"),
        ("2.5", "pass"),
        ("2.6", "pass"),
        ("2.7", "info"),
        ("2.8", "pass"),
        ("2.9", "pass"),
        ("2.10", "pass"),
        ("2.11", "pass"),
        // No authorization plugin can be installed here; see the snapshot test for PASS.
        ("2.12", "warn"),
        ("2.13", "pass"),
        ("2.14", "pass"),
        ("2.15", "pass"),
        ("2.16", "pass"),
        ("2.17", "pass"),
        ("2.18", "pass"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(got, expected, "{r:#}");
    // The verdicts are about the test daemon, found through its socket, not the host's.
    assert!(finding(&r, "2.2")["subjects"]
        .to_string()
        .contains("daemon"));
}

#[test]
fn weak_command_line_flags_warn() {
    let d = TestDaemon::start(
        &[
            "--icc=true",
            "-l",
            "debug",
            "--insecure-registry",
            "10.1.2.3:5000",
            "--iptables=false",
            "-H",
            "tcp://127.0.0.1:23750",
            "--cgroup-parent",
            "/bulwark-parent",
            "--experimental",
        ],
        Some("{}"),
    );
    let r = audit_json(&["-H", &d.host(), "-c", "2"]);
    for id in [
        "2.2", "2.3", "2.4", "2.5", "2.7", "2.9", "2.10", "2.12", "2.13", "2.14", "2.15", "2.16",
        "2.18",
    ] {
        assert_eq!(status(&r, id), "warn", "{id}: {:#}", finding(&r, id));
    }
    for id in ["2.6", "2.11", "2.17"] {
        assert_eq!(status(&r, id), "pass", "{id}");
    }
    assert_eq!(status(&r, "2.8"), "info");
    let details = |id: &str| finding(&r, id)["details"].to_string();
    assert!(details("2.3").contains("debug"));
    assert!(details("2.5").contains("10.1.2.3:5000"));
    assert!(details("2.7").contains("tcp://127.0.0.1:23750"));
    assert!(details("2.10").contains("/bulwark-parent"));
}

/// A CA, and a server certificate it signed, made with the openssl CLI.
fn make_certs(dir: &std::path::Path) {
    let sh = |script: &str| {
        let ok = Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(dir)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "openssl failed: {script}");
    };
    sh("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=bulwark-ca -keyout ca-key.pem -out ca.pem 2>/dev/null");
    sh("openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout key.pem -out server.csr 2>/dev/null");
    sh("openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -out cert.pem 2>/dev/null");
}

#[test]
fn tls_on_tcp_is_recognised_from_daemon_json() {
    let certs = tempfile::tempdir().unwrap();
    make_certs(certs.path());
    let p = |f: &str| certs.path().join(f).display().to_string();
    // tlsverify in daemon.json (a multi-line hosts array): the forms Docker Bench misses.
    let json = format!(
        r#"{{
            "hosts": [
                "@SOCKET@",
                "tcp://127.0.0.1:23751"
            ],
            "iptables": false,
            "tlsverify": true,
            "tlscacert": "{}",
            "tlscert": "{}",
            "tlskey": "{}"
        }}"#,
        p("ca.pem"),
        p("cert.pem"),
        p("key.pem")
    );
    let d = TestDaemon::start(&[], Some(&json));
    let r = audit_json(&["-H", &d.host(), "-c", "2.7"]);
    assert_eq!(status(&r, "2.7"), "pass", "{:#}", finding(&r, "2.7"));
    drop(d);

    // TLS without client verification is not enough.
    let d = TestDaemon::start(
        &[
            "--iptables=false",
            "-H",
            "tcp://127.0.0.1:23752",
            "--tls",
            "--tlscacert",
            &p("ca.pem"),
            "--tlscert",
            &p("cert.pem"),
            "--tlskey",
            &p("key.pem"),
        ],
        Some("{}"),
    );
    let r = audit_json(&["-H", &d.host(), "-c", "2.7"]);
    assert_eq!(status(&r, "2.7"), "warn");
    assert!(finding(&r, "2.7")["details"]
        .to_string()
        .contains("tlsverify is off"));
}
