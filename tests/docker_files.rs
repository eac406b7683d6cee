//! CIS section 3 on real files: the daemon.json, TLS files and socket of a private dockerd
//! in their good and bad states, and host files flipped and restored.

use crate::common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn chown(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(p, Some(uid), Some(gid)).unwrap();
}

/// Restores a host file's mode and owner when dropped, whatever the test did.
struct ModeGuard(PathBuf, u32, u32, u32);

impl ModeGuard {
    fn new(p: &Path) -> Self {
        use std::os::unix::fs::MetadataExt;
        let md = std::fs::metadata(p).unwrap();
        ModeGuard(p.to_path_buf(), md.mode() & 0o7777, md.uid(), md.gid())
    }
}

impl Drop for ModeGuard {
    fn drop(&mut self) {
        chmod(&self.0, self.1);
        chown(&self.0, self.2, self.3);
    }
}

#[test]
fn daemon_files_good_and_bad() {
    let certs = tempfile::tempdir().unwrap();
    let cp = |f: &str| certs.path().join(f);
    let ok = std::process::Command::new("sh")
        .arg("-c")
        .arg(
            "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ca -keyout ca-key.pem -out ca.pem 2>/dev/null && \
             openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout key.pem -out s.csr 2>/dev/null && \
             openssl x509 -req -in s.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -out cert.pem 2>/dev/null",
        )
        .current_dir(certs.path())
        .status()
        .unwrap()
        .success();
    assert!(ok, "openssl");
    chmod(&cp("ca.pem"), 0o444);
    chmod(&cp("cert.pem"), 0o444);
    chmod(&cp("key.pem"), 0o400);
    let json = format!(
        r#"{{"hosts": ["@SOCKET@", "tcp://127.0.0.1:23760"], "iptables": false, "tlsverify": true,
            "tlscacert": "{}", "tlscert": "{}", "tlskey": "{}"}}"#,
        cp("ca.pem").display(),
        cp("cert.pem").display(),
        cp("key.pem").display()
    );
    let d = TestDaemon::start(&[], Some(&json));
    let daemon_json = d.dir.path().join("daemon.json");
    chmod(&daemon_json, 0o644);

    let ids = [
        "3.9", "3.10", "3.11", "3.12", "3.13", "3.14", "3.15", "3.16", "3.17", "3.18", "3.23",
        "3.24",
    ];
    let r = audit_json(&["-H", &d.host(), "-c", "3"]);
    for id in ids {
        assert_eq!(status(&r, id), "pass", "{id}: {:#}", finding(&r, id));
    }
    // The files judged are the test daemon's own, not the host's defaults.
    assert!(finding(&r, "3.17")["subjects"]
        .to_string()
        .contains(&daemon_json.display().to_string()));
    assert!(finding(&r, "3.16")["subjects"]
        .to_string()
        .contains(&d.socket.display().to_string()));

    // 606 is "≤ 644" as a decimal number (Docker Bench's defect), but gives others write.
    chmod(&daemon_json, 0o606);
    chown(&daemon_json, 1000, 1000);
    chmod(&cp("ca.pem"), 0o644);
    chown(&cp("cert.pem"), 1000, 0);
    chmod(&cp("key.pem"), 0o440);
    chmod(&d.socket, 0o666);
    chown(&d.socket, 0, 0);
    let r = audit_json(&["-H", &d.host(), "-c", "3"]);
    for id in ["3.10", "3.11", "3.14", "3.15", "3.16", "3.17", "3.18"] {
        assert_eq!(status(&r, id), "warn", "{id}: {:#}", finding(&r, id));
    }
    for id in ["3.9", "3.12", "3.13", "3.23", "3.24"] {
        assert_eq!(status(&r, id), "pass", "{id}");
    }
    assert!(finding(&r, "3.18")["details"].to_string().contains("0606"));
    assert!(finding(&r, "3.15")["details"]
        .to_string()
        .contains("root:root"));
}

#[test]
fn host_unit_file_modes_flipped_and_restored() {
    let _host = host_files_lock();
    // docker.io installs the unit files; whichever copy systemd would use is judged.
    let unit = [
        "/etc/systemd/system/docker.service",
        "/lib/systemd/system/docker.service",
        "/usr/lib/systemd/system/docker.service",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
    .expect("docker.service (installed with docker.io)");
    let _guard = ModeGuard::new(&unit);
    let d = TestDaemon::start(&["--iptables=false"], None);

    chmod(&unit, 0o644);
    let r = audit_json(&["-H", &d.host(), "-c", "3.2"]);
    assert_eq!(status(&r, "3.2"), "pass");
    chmod(&unit, 0o4644); // setuid bit: more permissive, though 4644 > 644 is what DBS compares
    let r = audit_json(&["-H", &d.host(), "-c", "3.2"]);
    assert_eq!(status(&r, "3.2"), "warn");
    chmod(&unit, 0o600);
    let r = audit_json(&["-H", &d.host(), "-c", "3.2"]);
    assert_eq!(status(&r, "3.2"), "pass");

    // Each host file's owner and mode checks, flipped one way and the other.
    let socket_unit = [
        "/etc/systemd/system/docker.socket",
        "/lib/systemd/system/docker.socket",
        "/usr/lib/systemd/system/docker.socket",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists());
    let mut cases: Vec<(String, &str, &str, u32)> = vec![
        (unit.display().to_string(), "3.1", "3.2", 0o644),
        ("/etc/docker".to_string(), "3.5", "3.6", 0o755),
    ];
    if let Some(s) = socket_unit {
        cases.push((s.to_string(), "3.3", "3.4", 0o644));
    }
    if Path::new("/etc/default/docker").exists() {
        cases.push(("/etc/default/docker".to_string(), "3.19", "3.20", 0o644));
    }
    for (path, own, perm, allowed) in cases {
        let p = PathBuf::from(&path);
        let _g = ModeGuard::new(&p);
        chown(&p, 0, 0);
        chmod(&p, allowed);
        let ids = format!("{own},{perm}");
        let r = audit_json(&["-H", &d.host(), "-c", &ids]);
        assert_eq!(
            (status(&r, own), status(&r, perm)),
            ("pass".into(), "pass".into()),
            "{path}"
        );
        chown(&p, 1000, 0);
        chmod(&p, allowed | 0o002);
        let r = audit_json(&["-H", &d.host(), "-c", &ids]);
        assert_eq!(
            (status(&r, own), status(&r, perm)),
            ("warn".into(), "warn".into()),
            "{path}"
        );
        assert!(finding(&r, perm)["details"].to_string().contains(&path));
    }

    // A file this Debian host does not have is INFO "not found", never PASS.
    if !Path::new("/etc/sysconfig/docker").exists() {
        let r = audit_json(&["-H", &d.host(), "-c", "3.21"]);
        assert_eq!(status(&r, "3.21"), "info");
        assert!(finding(&r, "3.21")["message"]
            .as_str()
            .unwrap()
            .contains("not found"));
    }
}

#[test]
fn registry_certificates_are_found_recursively() {
    let _host = host_files_lock();
    let dir = Path::new("/etc/docker/certs.d/bulwark-test.invalid:5000");
    std::fs::create_dir_all(dir).unwrap();
    struct Cleanup;
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all("/etc/docker/certs.d/bulwark-test.invalid:5000");
        }
    }
    let _c = Cleanup;
    let crt = dir.join("ca.crt");
    std::fs::write(&crt, "not really a certificate").unwrap();
    chmod(&crt, 0o444);
    // A symlink loop and a link back up to certs.d: neither ends the walk nor hides the
    // certificate.
    std::os::unix::fs::symlink("loop-b", dir.join("loop-a")).unwrap();
    std::os::unix::fs::symlink("loop-a", dir.join("loop-b")).unwrap();
    std::os::unix::fs::symlink("..", dir.join("up")).unwrap();
    let d = TestDaemon::start(&["--iptables=false"], None);
    let r = audit_json(&["-H", &d.host(), "-c", "3.7,3.8"]);
    assert!(finding(&r, "3.8")["subjects"]
        .to_string()
        .contains("bulwark-test.invalid:5000/ca.crt"));
    // Once, not again under the link back up.
    assert!(!finding(&r, "3.8")["subjects"].to_string().contains("/up/"));
    assert_eq!(status(&r, "3.7"), "pass", "{:#}", finding(&r, "3.7"));
    assert_eq!(status(&r, "3.8"), "pass", "{:#}", finding(&r, "3.8"));
    chown(&crt, 1000, 0);
    let r = audit_json(&["-H", &d.host(), "-c", "3.7"]);
    assert_eq!(status(&r, "3.7"), "warn");
    assert!(finding(&r, "3.7")["details"]
        .to_string()
        .contains("bulwark-test.invalid:5000/ca.crt"));
    chown(&crt, 0, 0);
    chmod(&crt, 0o644);
    let r = audit_json(&["-H", &d.host(), "-c", "3.8"]);
    assert_eq!(status(&r, "3.8"), "warn");
    assert!(finding(&r, "3.8")["details"]
        .to_string()
        .contains("bulwark-test.invalid:5000/ca.crt: mode 0644"));
}
