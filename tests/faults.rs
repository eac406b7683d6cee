//! Faults during an audit, made for real: a private dockerd killed (SIGKILL) or frozen
//! (SIGSTOP) by the test once a given number of API requests have reached it, an audit
//! interrupted by SIGINT or SIGTERM, and a user who may not open the daemon's socket. Each
//! ends in a clear message, and in a completed report where one is possible.
//!
//! The daemon is reached through a tap: a unix socket that forwards every byte to the real
//! one and counts requests, so the fault lands at the same point of every run.

use crate::common::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A socket in front of a daemon's: `then` runs once, before the first request whose line
/// contains `when` (e.g. `GET /containers/json`, or a container's id) is forwarded.
struct Tap {
    socket: PathBuf,
    /// The client side of every connection so far, for [`Tap::cut`].
    clients: Arc<Mutex<Vec<UnixStream>>>,
    _dir: tempfile::TempDir,
}

impl Tap {
    fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// Close every connection made so far (as a proxy or a restarting daemon would); new
    /// ones go through again.
    fn cut(&self) {
        for c in self.clients.lock().unwrap().drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }
}

type Action = Box<dyn FnOnce() + Send>;

fn tap(target: &Path, when: &'static str, then: Action) -> Tap {
    let dir = tempfile::Builder::new()
        .prefix("bwtap")
        .tempdir_in("/tmp")
        .unwrap();
    let socket = dir.path().join("tap.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let target = target.to_path_buf();
    let action: Arc<Mutex<Option<Action>>> = Arc::new(Mutex::new(Some(then)));
    let clients: Arc<Mutex<Vec<UnixStream>>> = Arc::default();
    let kept = clients.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            if let Ok(c) = client.try_clone() {
                kept.lock().unwrap().push(c);
            }
            let (target, action) = (target.clone(), action.clone());
            std::thread::spawn(move || forward(client, &target, when, &action));
        }
    });
    Tap {
        socket,
        clients,
        _dir: dir,
    }
}

/// Pump one connection both ways (a request's line starts the chunk it comes in).
fn forward(mut client: UnixStream, target: &Path, when: &str, action: &Mutex<Option<Action>>) {
    let mut buf = vec![0u8; 64 * 1024];
    let Ok(mut server) = UnixStream::connect(target) else {
        return; // the daemon is gone: the client sees its connection closed
    };
    let (Ok(mut from_server), Ok(mut to_client)) = (server.try_clone(), client.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let mut b = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = from_server.read(&mut b) {
            if to_client.write_all(&b[..n]).is_err() {
                break;
            }
        }
        let _ = to_client.shutdown(std::net::Shutdown::Both);
    });
    while let Ok(n @ 1..) = client.read(&mut buf) {
        let chunk = &buf[..n];
        let line = chunk.split(|b| *b == b'\n').next().unwrap_or_default();
        if line.windows(when.len()).any(|w| w == when.as_bytes()) {
            if let Some(act) = action.lock().unwrap().take() {
                act();
            }
        }
        if server.write_all(chunk).is_err() {
            break;
        }
    }
    let _ = server.shutdown(std::net::Shutdown::Both);
}

/// An action for a tap: `docker -H HOST ARGS` against the real socket, which must succeed.
fn docker_does(host: String, args: &'static [&'static str]) -> Action {
    Box::new(move || {
        let ok = Command::new("docker")
            .arg("-H")
            .arg(&host)
            .args(args)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "docker {}", args.join(" "));
    })
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill {sig} {pid}");
}

fn daemon_with_containers() -> TestDaemon {
    let d = TestDaemon::start(&["--iptables=false"], None);
    d.run_container("f-one", &["--cap-add", "SYS_ADMIN"], &[]);
    d.run_container("f-two", &[], &[]);
    d
}

fn audit_through(tap: &Tap, extra: &[&str]) -> (std::process::Output, Duration) {
    let t0 = Instant::now();
    let host = format!("unix://{}", tap.socket.display());
    let out = bulwark()
        .args(["audit", "-f", "json", "-H", &host])
        .args(extra)
        .output()
        .unwrap();
    (out, t0.elapsed())
}

#[test]
fn a_daemon_killed_mid_audit_leaves_a_completed_report() {
    let d = daemon_with_containers();
    let pid = d.pid();
    // The version and the info get through; it dies before the container list.
    let t = tap(
        &d.socket,
        "GET /containers/json",
        Box::new(move || signal(pid, "-KILL")),
    );
    let (out, _) = audit_through(&t, &[]);
    assert!(
        out.status.success(),
        "a completed audit exits 0: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).expect("a whole JSON report");
    let all = reasons(&r);
    assert!(all.len() >= 100, "every check has a verdict");
    let gone: Vec<&(String, String, String)> = all
        .iter()
        .filter(|(_, _, why)| why.contains("the daemon went away"))
        .collect();
    assert!(!gone.is_empty(), "{all:#?}");
    assert!(gone.iter().all(|(_, s, _)| s == "undecided"), "{gone:#?}");
    // Some container check needed the daemon after it died; the host's checks still ran.
    assert!(
        gone.iter().any(|(id, _, _)| id.starts_with("5.")),
        "{gone:#?}"
    );
    for id in ["3.5", "4.5"] {
        assert!(
            matches!(status(&r, id).as_str(), "pass" | "warn" | "info"),
            "{id}: {:#}",
            finding(&r, id)
        );
    }
}

#[test]
fn a_hung_daemon_costs_one_timeout_and_an_interrupted_audit_writes_nothing() {
    let d = daemon_with_containers();
    let pid = d.pid();
    let t = tap(
        &d.socket,
        "GET /containers/json",
        Box::new(move || signal(pid, "-STOP")),
    );
    // Let the daemon go on (and be cleaned up) whatever happens below.
    struct Resume(u32);
    impl Drop for Resume {
        fn drop(&mut self) {
            let _ = Command::new("kill")
                .args(["-CONT", &self.0.to_string()])
                .status();
        }
    }
    let _resume = Resume(pid);

    let (out, took) = audit_through(&t, &["--api-timeout", "3"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).expect("a whole JSON report");
    let all = reasons(&r);
    let timed_out = all
        .iter()
        .filter(|(_, _, w)| w.contains("no answer from the daemon within 3 s"))
        .count();
    let not_asked = all
        .iter()
        .filter(|(_, _, w)| w.contains("the daemon stopped answering"))
        .count();
    let about_daemon: Vec<_> = all
        .iter()
        .filter(|(_, _, w)| w.contains("daemon"))
        .collect();
    assert!(timed_out >= 1 && not_asked >= 1, "{about_daemon:#?}");
    // One 3 s timeout, not one per query (dozens): the bound is the timeout plus the
    // checks' own time.
    assert!(took < Duration::from_secs(40), "the audit took {took:?}");

    // The same hang, interrupted: exit status 128 + the signal, and no report file at all
    // (not even a partial one).
    for (sig, code, name) in [("-INT", 130, "SIGINT"), ("-TERM", 143, "SIGTERM")] {
        let out_dir = tempfile::tempdir().unwrap();
        let report = out_dir.path().join("report.json");
        let host = format!("unix://{}", t.socket.display());
        let child = bulwark()
            .args([
                "audit",
                "-f",
                "json",
                "--api-timeout",
                "120",
                "-H",
                &host,
                "-o",
            ])
            .arg(&report)
            .arg("-l")
            .arg(out_dir.path().join("dbs.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_secs(3));
        signal(child.id(), sig);
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{stderr}");
        assert!(
            stderr.contains(&format!("interrupted by {name}")),
            "{stderr}"
        );
        let left: Vec<_> = std::fs::read_dir(out_dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "files left behind: {left:?}");
    }
}

/// A user who is neither root nor in the docker group: the message says why and which
/// checks still ran; the daemon's checks are UNDECIDED, never guessed.
#[test]
fn a_user_without_access_to_the_socket_is_told_why() {
    let d = TestDaemon::start(&["--iptables=false"], None);
    // The private daemon's socket is root:root 0660, as the host's is root:docker.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_bulwark"))
        .args([
            "audit",
            "-f",
            "json",
            "-H",
            &d.host(),
            "-c",
            "2.2,3.5,4.5,5.4",
        ])
        .env("HOME", "/tmp")
        .env("BULWARK_CACHE_DIR", "/tmp/bulwark-test-cache-nobody")
        .env("NO_COLOR", "1")
        .output()
        .expect("setpriv (util-linux)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("permission denied on {}", d.socket.display()))
            && stderr.contains("uid 65534 is neither root nor a member of")
            && stderr.contains("the host's own"),
        "{stderr}"
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status(&r, "2.2"), "undecided");
    assert_eq!(status(&r, "5.4"), "undecided");
    assert!(matches!(status(&r, "4.5").as_str(), "pass" | "warn"));
}

/// A plugin cache whose artefacts are damaged (bytes flipped, truncated) or that cannot be
/// written costs a compilation, never a bad load and never the audit.
#[test]
fn a_damaged_or_unwritable_plugin_cache_costs_a_compilation_never_a_bad_load() {
    let cache = tempfile::tempdir().unwrap();
    let run = |dir: &Path| {
        let out = bulwark()
            .env("BULWARK_CACHE_DIR", dir)
            .args(["audit", "-f", "json", "-c", "3,5", "--snapshot"])
            .arg(fixture_snapshot())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r: Value = serde_json::from_slice(&out.stdout).unwrap();
        (
            verdicts(&r),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (cold, _) = run(cache.path());
    let artefacts: Vec<PathBuf> = walk(cache.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    assert!(artefacts.len() >= 3, "{artefacts:?}");
    for (i, p) in artefacts.iter().enumerate() {
        let mut bytes = std::fs::read(p).unwrap();
        if i % 2 == 0 {
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0x5a;
        } else {
            bytes.truncate(bytes.len() / 3);
        }
        std::fs::write(p, bytes).unwrap();
    }
    let (damaged, said) = run(cache.path());
    assert_eq!(damaged, cold);
    assert_eq!(
        said.matches("damaged; compiling again").count(),
        artefacts.len(),
        "{said}"
    );
    // Replaced by good ones.
    let (again, said) = run(cache.path());
    assert_eq!(again, cold);
    assert!(!said.contains("damaged"), "{said}");
    // A cache "directory" that is a file.
    let file = cache.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let (no_cache, said) = run(&file);
    assert_eq!(no_cache, cold);
    assert_eq!(said.matches("plugin cache").count(), 1, "said once: {said}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// /proc mounted with hidepid (in a private mount namespace, so the host's is untouched):
/// an unprivileged auditor cannot see a container's processes, so 5.7 ("no sshd") is
/// UNDECIDED with the reason, where the same auditor without hidepid decides it.
/// Audit `d` (its socket opened to everyone) as nobody, in a private mount namespace after
/// `setup` (shell commands ending in `&& `, run as root there), for the checks `checks`.
fn audit_as_nobody(setup: &str, d: &TestDaemon, checks: &str) -> Value {
    // Only this private daemon's socket is opened to the unprivileged auditor.
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o666);
    std::fs::set_permissions(&d.socket, mode).unwrap();
    let script = format!(
        "{setup}exec setpriv --reuid=65534 --regid=65534 --clear-groups {} audit -f json -H {} -c {checks}",
        env!("CARGO_BIN_EXE_bulwark"),
        d.host()
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .env("HOME", "/tmp")
        .env("BULWARK_CACHE_DIR", "/tmp/bulwark-test-cache-nobody")
        .env("NO_COLOR", "1")
        .output()
        .expect("unshare (util-linux)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout).unwrap()
}

#[test]
fn a_proc_hiding_other_users_processes_leaves_process_checks_undecided() {
    let d = TestDaemon::start(&["--iptables=false"], None);
    d.run_container("f-plain", &[], &[]);
    let audit = |hide: bool| {
        let mount = if hide {
            "mount -t proc -o hidepid=invisible proc /proc && "
        } else {
            ""
        };
        audit_as_nobody(mount, &d, "5.7")
    };
    let seen = audit(false);
    assert_eq!(status(&seen, "5.7"), "pass", "{:#}", finding(&seen, "5.7"));
    let hidden = audit(true);
    assert_eq!(
        status(&hidden, "5.7"),
        "undecided",
        "{:#}",
        finding(&hidden, "5.7")
    );
    assert!(
        finding(&hidden, "5.7")
            .to_string()
            .contains("not visible in /proc"),
        "{:#}",
        finding(&hidden, "5.7")
    );
}

/// The daemon's event stream cut under a running watch (every connection through the tap
/// closed): the watch opens it again, so a container started afterwards is watched. Rootless
/// Docker's containers make no cgroup of their own, so only the event stream (not the
/// kernel's cgroup_mkdir) can tell the watch about them: without the reconnection this
/// container would go unseen.
#[test]
fn watch_follows_new_containers_after_the_event_stream_drops() {
    let d = RootlessDocker::start(None);
    let t = tap(&d.socket, "NEVER", Box::new(|| {}));
    let (watch, said) = crate::watch::start_watch_on(&t.host(), &["--duration", "10"]);
    std::thread::sleep(Duration::from_millis(800));
    t.cut();
    std::thread::sleep(Duration::from_millis(1500));
    d.run_container("after-cut", &[]);
    std::thread::sleep(Duration::from_millis(1500));
    d.docker(&["exec", "after-cut", "/bin/sh", "-c", "true"]);
    let (alerts, _) = crate::watch::finish(watch);
    assert!(
        alerts.iter().any(|a| a["container"]["name"] == "after-cut"
            && a["event"]["argv"] == serde_json::json!(["/bin/sh", "-c", "true"])),
        "{said:#?}\n{alerts:#?}"
    );
}

/// A container removed between the container list and its inspect, an image removed
/// between the image list and its history, and containers started and removed all along
/// beside the audit (a churn loop): every audit completes, the vanished are noted and left
/// out, never judged, never an error, and nothing is left undecided that a quiet audit of
/// the same daemon decides.
#[test]
fn containers_and_images_removed_mid_audit_are_left_out_not_misjudged() {
    let d = daemon_with_containers();
    // ADD instead of COPY: an image 4.9 names, while it exists.
    d.build_image(
        "doomed:1",
        &format!("FROM {IMAGE}\nADD x /x\n"),
        &[("x", "x")],
    );
    d.run_container("doomed", &["--cap-add", "SYS_ADMIN"], &[]);
    let undecided = |r: &Value| -> Vec<String> {
        reasons(r)
            .into_iter()
            .filter(|(_, s, _)| s == "undecided")
            .map(|(id, _, _)| id)
            .collect()
    };
    let quiet = audit_json(&["-H", &d.host()]);
    assert!(offenders(&quiet, "5.4").contains("doomed"));
    // Through a tap the daemon's process cannot be found from its socket (the tap holds
    // it): what that leaves undecided is the baseline of the audits through taps.
    let idle = tap(&d.socket, "NEVER", Box::new(|| {}));
    let (out, _) = audit_through(&idle, &[]);
    let quiet_tapped: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(image_offenders(&quiet, "4.9")
        .iter()
        .any(|i| i.contains("doomed")));

    // The doomed container goes when its inspect is asked for, the image when its history is.
    let cid = d.docker(&["inspect", "-f", "{{.Id}}", "doomed"]);
    let iid = d.docker(&["image", "inspect", "-f", "{{.Id}}", "doomed:1"]);
    let hex: &'static str = Box::leak(
        iid.trim_start_matches("sha256:")
            .to_string()
            .into_boxed_str(),
    );
    let rm_image = tap(
        &d.socket,
        hex,
        docker_does(d.host(), &["rmi", "-f", "doomed:1"]),
    );
    let cid: &'static str = Box::leak(format!("{cid}/json").into_boxed_str());
    let rm_container = tap(
        &rm_image.socket,
        cid,
        docker_does(d.host(), &["rm", "-f", "doomed"]),
    );
    let (out, _) = audit_through(&rm_container, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        !reasons(&r).iter().any(|(_, s, _)| s == "error"),
        "{:#?}",
        reasons(&r)
    );
    assert_eq!(offenders(&r, "5.4"), set(&["f-one"]));
    assert!(
        finding(&r, "5.4")
            .to_string()
            .contains("doomed: vanished during the audit"),
        "{:#}",
        finding(&r, "5.4")
    );
    assert!(!image_offenders(&r, "4.9")
        .iter()
        .any(|i| i.contains("doomed")));
    assert_eq!(undecided(&r), undecided(&quiet_tapped));

    // A churn loop beside the audits: containers keep coming and going.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let (stop, sock) = (stop.clone(), d.host());
        std::thread::spawn(move || {
            let docker = |args: &[&str]| {
                let _ = Command::new("docker")
                    .args(["-H", &sock])
                    .args(args)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            };
            let mut i = 0u32;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let name = format!("churn-{i}");
                docker(&["run", "-d", "--name", &name, "--network", "none", IMAGE]);
                if i >= 2 {
                    docker(&["rm", "-f", &format!("churn-{}", i - 2)]);
                }
                i += 1;
            }
            i
        })
    };
    for _ in 0..4 {
        let r = audit_json(&["-H", &d.host()]);
        assert!(
            !reasons(&r).iter().any(|(_, s, _)| s == "error"),
            "{:#?}",
            reasons(&r)
        );
        assert!(offenders(&r, "5.4").contains("f-one"));
        assert!(!offenders(&r, "5.4").contains("f-two"));
        assert_eq!(undecided(&r), undecided(&quiet), "{:#?}", reasons(&r));
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let rounds = churn.join().unwrap();
    assert!(rounds >= 2, "the churn loop ran {rounds} rounds");
}

/// An /etc/docker the auditor may not read (mode 0700, in a private mount namespace so the
/// host's is untouched): what is in it is UNDECIDED as denied, never absent and never PASS.
#[test]
fn an_unreadable_etc_docker_leaves_its_files_undecided() {
    let d = TestDaemon::start(&["--iptables=false"], None);
    let r = audit_as_nobody(
        "mkdir -p /etc/docker && mount -t tmpfs -o mode=0700 tmpfs /etc/docker \
         && mkdir /etc/docker/certs.d && echo '{}' > /etc/docker/daemon.json && ",
        &d,
        "3.5,3.6,3.7,3.8,3.17,3.18",
    );
    // The directory itself is root's and 0700: that much is readable, and right.
    assert_eq!(status(&r, "3.5"), "pass", "{:#}", finding(&r, "3.5"));
    assert_eq!(status(&r, "3.6"), "pass", "{:#}", finding(&r, "3.6"));
    for id in ["3.7", "3.8"] {
        let f = finding(&r, id);
        assert_eq!(status(&r, id), "undecided", "{id}: {f:#}");
        assert!(f.to_string().contains("denied"), "{id}: {f:#}");
    }
    // Which daemon.json the daemon uses cannot be told by this user (root's dockerd's
    // sockets are not its to read): undecided before the file is even looked at.
    for id in ["3.17", "3.18"] {
        assert_eq!(status(&r, id), "undecided", "{id}: {:#}", finding(&r, id));
    }
}

/// A daemon.json broken after the daemon started (the daemon runs on what it read; the
/// file now says nothing reliable): the checks that read the daemon's options are
/// UNDECIDED naming the file, never judged from the flags alone; the file's owner and mode
/// are still judged.
#[test]
fn a_daemon_json_that_is_not_json_leaves_option_checks_undecided() {
    let d = TestDaemon::start(&["--iptables=false"], Some(r#"{"log-level": "info"}"#));
    let path = d.dir.path().join("daemon.json");
    std::fs::write(&path, "{\"log-level\": \"info\",\n  \"icc\": \x1b[31m").unwrap();
    let r = audit_json(&["-H", &d.host(), "-c", "2.2,2.3,3.17,3.18"]);
    for id in ["2.2", "2.3"] {
        let f = finding(&r, id);
        assert_eq!(status(&r, id), "undecided", "{id}: {f:#}");
        assert!(
            f["reason"].as_str().unwrap().contains("is not valid JSON"),
            "{id}: {f:#}"
        );
        assert!(!f.to_string().contains('\x1b'), "{f:#}");
    }
    assert_eq!(status(&r, "3.17"), "pass", "{:#}", finding(&r, "3.17"));
    assert_eq!(status(&r, "3.18"), "pass", "{:#}", finding(&r, "3.18"));
}
