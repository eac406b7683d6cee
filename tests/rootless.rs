//! Rootless Docker (rootlesskit, slirp4netns, `dockerd-rootless.sh`) for a test user,
//! started and stopped by the test: audited as root through its socket and as the user
//! itself; 2.1 and 2.9 pass; §3 judges the user's own files, owned by that user; what a
//! rootless daemon does not read is SKIP; its containers are judged as Docker's are.

use crate::common::*;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

/// `bulwark audit -f json ARGS` run as the rootless user, with the environment a login
/// session gives it.
fn audit_as_user(d: &RootlessDocker, args: &[&str]) -> Value {
    let cache = d.home().join(".cache/bulwark-test");
    let o = Command::new("setpriv")
        .args([
            "--reuid",
            &d.uid().to_string(),
            "--regid",
            &d.gid().to_string(),
        ])
        .arg("--init-groups")
        .arg(env!("CARGO_BIN_EXE_bulwark"))
        .args(["audit", "-f", "json"])
        .args(args)
        .env_clear()
        .env("HOME", d.home())
        .env("USER", ROOTLESS_USER)
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("XDG_RUNTIME_DIR", format!("/run/user/{}", d.uid()))
        .env("DOCKER_HOST", d.host())
        .env("BULWARK_CACHE_DIR", cache)
        .env("NO_COLOR", "1")
        .output()
        .expect("setpriv (util-linux)");
    assert!(
        o.status.success(),
        "bulwark audit as {ROOTLESS_USER} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("the JSON report parses")
}

fn path_of(r: &Value, id: &str) -> String {
    finding(r, id)["subjects"][0]["path"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn rootless_docker_is_judged_on_its_users_files_as_root_and_as_that_user() {
    let d = RootlessDocker::start(Some(r#"{"icc": false}"#));
    d.run_container("rl-bad", &["--cap-add", "SYS_ADMIN"]);
    d.run_container("rl-good", &[]);
    let home = d.home();
    let daemon_json = home.join(".config/docker/daemon.json");

    let r = audit_json(&["-H", &d.host()]);
    assert_eq!(r["engine"]["name"], "Docker Engine");
    assert_eq!(r["engine"]["rootless"], true, "{:#}", r["engine"]);
    assert_eq!(status(&r, "2.1"), "pass");
    assert_eq!(status(&r, "2.9"), "pass", "{:#}", finding(&r, "2.9"));
    // The daemon's real configuration is the user's daemon.json (icc=false is read).
    assert_eq!(status(&r, "2.2"), "pass", "{:#}", finding(&r, "2.2"));
    // §3 on the user's files, owned by the user and not by root.
    for id in ["3.17", "3.18"] {
        assert_eq!(status(&r, id), "pass", "{id}: {:#}", finding(&r, id));
        assert_eq!(path_of(&r, id), daemon_json.to_str().unwrap());
    }
    for id in ["3.5", "3.6"] {
        assert_eq!(status(&r, id), "pass", "{id}: {:#}", finding(&r, id));
        assert_eq!(
            path_of(&r, id),
            home.join(".config/docker").to_str().unwrap()
        );
    }
    for id in ["3.15", "3.16"] {
        assert_eq!(status(&r, id), "pass", "{id}: {:#}", finding(&r, id));
        assert_eq!(path_of(&r, id), d.socket.to_str().unwrap());
    }
    // What only the root daemon reads.
    for id in ["3.19", "3.20", "3.21", "3.22", "1.1.10", "1.1.13", "1.1.2"] {
        assert_eq!(status(&r, id), "skipped", "{id}: {:#}", finding(&r, id));
    }
    // The data root and the managed containerd are the user's.
    assert_eq!(
        path_of(&r, "1.1.5"),
        home.join(".local/share/docker").to_str().unwrap()
    );
    assert_eq!(
        path_of(&r, "3.23"),
        format!("/run/user/{}/docker/containerd/containerd.sock", d.uid())
    );
    assert_eq!(offenders(&r, "5.4"), set(&["rl-bad"]));

    // A mode trap on the user's daemon.json, flipped bad and back.
    let mode = |m: u32| {
        std::fs::set_permissions(&daemon_json, std::fs::Permissions::from_mode(m)).unwrap()
    };
    mode(0o666);
    let bad = audit_json(&["-H", &d.host(), "-c", "3.18"]);
    mode(0o644);
    let good = audit_json(&["-H", &d.host(), "-c", "3.18"]);
    assert_eq!(status(&bad, "3.18"), "warn", "{:#}", finding(&bad, "3.18"));
    assert_eq!(status(&good, "3.18"), "pass");
    // Owned by root, the user's file is wrong.
    std::os::unix::fs::chown(&daemon_json, Some(0), Some(0)).unwrap();
    let root_owned = audit_json(&["-H", &d.host(), "-c", "3.17"]);
    std::os::unix::fs::chown(&daemon_json, Some(d.uid()), Some(d.gid())).unwrap();
    assert_eq!(status(&root_owned, "3.17"), "warn");

    // The same audit run by the user itself.
    let mine = audit_as_user(&d, &["-c", "2.1,2.2,3.17,3.18,5.4"]);
    assert_eq!(mine["engine"]["rootless"], true);
    assert_eq!(status(&mine, "2.1"), "pass");
    assert_eq!(status(&mine, "2.2"), "pass", "{:#}", finding(&mine, "2.2"));
    assert_eq!(
        status(&mine, "3.17"),
        "pass",
        "{:#}",
        finding(&mine, "3.17")
    );
    assert_eq!(path_of(&mine, "3.18"), daemon_json.to_str().unwrap());
    assert_eq!(offenders(&mine, "5.4"), set(&["rl-bad"]));
}

/// Rootless containers have no cgroup of their own here (no systemd: the daemon's cgroup
/// driver is `none`), so the watch tells them apart by their PID namespace.
#[test]
fn watch_names_an_exec_in_a_rootless_container() {
    let d = RootlessDocker::start(None);
    d.run_container("rl-shell", &[]);
    d.run_container("rl-quiet", &[]);
    let (watch, said) = crate::watch::start_watch_on(&d.host(), &["--duration", "6"]);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    d.docker(&["exec", "rl-shell", "/bin/sh", "-c", "true"]);
    let (alerts, _) = crate::watch::finish(watch);
    let shell: Vec<&Value> = alerts
        .iter()
        .filter(|a| a["event"]["argv"] == serde_json::json!(["/bin/sh", "-c", "true"]))
        .collect();
    assert!(!shell.is_empty(), "{said:#?}\n{alerts:#?}");
    for a in &shell {
        assert_eq!(a["container"]["name"], "rl-shell", "{a:#}");
        // The user's id on the host, not root: the container's root is unprivileged.
        assert_eq!(a["process"]["uid"], d.uid(), "{a:#}");
    }
    assert!(
        alerts.iter().all(|a| a["container"]["name"] != "rl-quiet"),
        "{alerts:#?}"
    );
}

/// Rootless Podman: named as such, 2.1 and 2.9 pass, and §3 judges the user's own
/// containers.conf (the system's files are root's) and the socket in its runtime directory.
#[test]
fn rootless_podman_is_judged_on_its_users_files() {
    let p = RootlessPodman::start();
    let conf_dir = p.home().join(".config/containers");
    let conf = conf_dir.join("containers.conf");
    let _ = std::fs::remove_file(&conf);
    let r = audit_json(&["-H", &p.host(), "-c", "2.1,2.9,3.15,3.16,3.17,3.18"]);
    assert_eq!(r["engine"]["name"], "Podman", "{:#}", r["engine"]);
    assert_eq!(r["engine"]["rootless"], true, "{:#}", r["engine"]);
    assert_eq!(status(&r, "2.1"), "pass");
    assert_eq!(status(&r, "2.9"), "pass");
    for id in ["3.15", "3.16"] {
        assert_eq!(status(&r, id), "pass", "{id}: {:#}", finding(&r, id));
        assert_eq!(path_of(&r, id), p.socket.to_str().unwrap());
    }
    // No file of the user's yet: nothing to judge, and never the system's root-owned ones.
    assert_eq!(status(&r, "3.17"), "info", "{:#}", finding(&r, "3.17"));
    assert!(finding(&r, "3.17")["message"]
        .as_str()
        .unwrap()
        .contains(conf.to_str().unwrap()));
    for d in [p.home().join(".config"), conf_dir.clone()] {
        std::fs::create_dir_all(&d).unwrap();
        std::os::unix::fs::chown(&d, Some(p.uid()), Some(p.gid())).unwrap();
    }
    std::fs::write(&conf, "[containers]\nlog_driver = \"k8s-file\"\n").unwrap();
    std::os::unix::fs::chown(&conf, Some(p.uid()), Some(p.gid())).unwrap();
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o666)).unwrap();
    let r = audit_json(&["-H", &p.host(), "-c", "3.17,3.18"]);
    std::fs::remove_file(&conf).unwrap();
    assert_eq!(status(&r, "3.17"), "pass", "{:#}", finding(&r, "3.17"));
    assert_eq!(path_of(&r, "3.17"), conf.to_str().unwrap());
    assert_eq!(status(&r, "3.18"), "warn", "{:#}", finding(&r, "3.18"));
}
