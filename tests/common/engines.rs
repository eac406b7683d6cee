//! Container engines other than a root dockerd, for the tests that audit them: a rootful
//! Podman API service on private storage ([`TestPodman`]) and a rootless dockerd run by a
//! dedicated user ([`RootlessDocker`]). Both carry the busybox fixture image [`IMAGE`].
//!
//! They need Podman, rootlesskit, uidmap and slirp4netns besides what the other tests need
//! (`cargo xtask test` does not install these yet); they fail, never skip, without them.

use super::{busybox_rootfs_tar, must, run, IMAGE};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A rootful `podman system service` on a private socket, with its own storage, run and
/// temporary directories and containers.conf, so it never touches the host's
/// /var/lib/containers, /run/libpod or another instance.
pub struct TestPodman {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    child: Child,
}

impl TestPodman {
    /// Start the service; each of `containers_extra` is a `key = value` line for the
    /// `[containers]` table of its containers.conf (a second `[containers]` table would be
    /// invalid TOML, so callers cannot pass whole tables).
    pub fn start(containers_extra: &[&str]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("bwp")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let d = dir.path();
        // No systemd here: cgroupfs and a file events log. This machine lacks
        // CAP_SYS_RESOURCE, so Podman's default (raised) rlimits would stop every
        // container from starting; these fit under the current hard limits.
        let mut conf = String::from(
            "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n",
        );
        for line in containers_extra {
            conf.push_str(line);
            conf.push('\n');
        }
        conf.push_str("\n[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n");
        std::fs::write(d.join("containers.conf"), conf).expect("write containers.conf");
        let socket = d.join("podman.sock");
        let log = std::fs::File::create(d.join("podman.log")).expect("log file");
        let mut cmd = podman_cmd(d);
        cmd.args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", socket.display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        let child = cmd.spawn().expect("podman must be installed");
        let mut podman = TestPodman { dir, socket, child };
        podman.wait_ready();
        let tar = busybox_rootfs_tar(podman.dir.path());
        let tar = tar.to_str().expect("UTF-8 temp path");
        podman.podman(&["import", "-c", "CMD [\"/bin/sleep\", \"3600\"]", tar, IMAGE]);
        podman
    }

    /// The service's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("podman.log")).unwrap_or_default()
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("test podman service exited ({status}):\n{}", self.log());
            }
            // The docker CLI speaks Podman's compatible API.
            if self.socket.exists() && run(self.docker_cmd().arg("version")).status.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("test podman service did not become ready:\n{}", self.log());
    }

    /// The podman CLI on this instance's storage and configuration.
    pub fn podman_cmd(&self) -> Command {
        podman_cmd(self.dir.path())
    }

    /// Run a podman command on this instance; panic with its output on failure.
    pub fn podman(&self, args: &[&str]) -> String {
        must(self.podman_cmd().args(args))
    }

    /// The docker CLI pointed at the service's socket.
    pub fn docker_cmd(&self) -> Command {
        let mut c = Command::new("docker");
        c.arg("-H").arg(self.host());
        c
    }

    /// Run a docker CLI command through the service; panic with its output on failure.
    pub fn docker(&self, args: &[&str]) -> String {
        must(self.docker_cmd().args(args))
    }

    /// Start a container from the fixture image: `podman run -d --name NAME ARGS... IMAGE`
    /// (Podman names the image `localhost/bulwark-fixture:busybox`).
    pub fn run_container(&self, name: &str, args: &[&str]) {
        let mut all = vec!["run", "-d", "--name", name];
        all.extend_from_slice(args);
        all.push(IMAGE);
        self.podman(&all);
    }
}

/// `podman` with the global flags and containers.conf of the instance in `dir`. The service
/// and every CLI call must agree on them, or they would see different stores. `--tmpdir`
/// keeps the events log, exit files and locks out of the host's /run/libpod.
fn podman_cmd(dir: &Path) -> Command {
    let mut c = Command::new("podman");
    c.env("CONTAINERS_CONF", dir.join("containers.conf"))
        // Either would send the CLI to another (remote) Podman.
        .env_remove("CONTAINER_HOST")
        .env_remove("CONTAINER_CONNECTION")
        .arg("--root")
        .arg(dir.join("root"))
        .arg("--runroot")
        .arg(dir.join("runroot"))
        .arg("--tmpdir")
        .arg(dir.join("tmp"))
        .args(["--cgroup-manager=cgroupfs", "--events-backend=file"]);
    c
}

impl Drop for TestPodman {
    fn drop(&mut self) {
        let _ = self.podman_cmd().args(["rm", "-af", "-t", "0"]).output();
        // SIGTERM lets the service shut its store down (and unmount it) cleanly.
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Overlay and shm mounts that outlive a failed removal would keep the temp dir.
        unmount_under(self.dir.path());
    }
}

/// Detach every mount at or below `dir`, deepest first (best effort).
fn unmount_under(dir: &Path) {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut points: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        // mountinfo escapes space, tab, newline and backslash as octal.
        .map(|p| {
            PathBuf::from(
                p.replace("\\040", " ")
                    .replace("\\011", "\t")
                    .replace("\\012", "\n")
                    .replace("\\134", "\\"),
            )
        })
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in points {
        let Ok(c) = std::ffi::CString::new(p.into_os_string().into_vec()) else {
            continue;
        };
        // SAFETY: umount2(2) with a valid NUL-terminated path.
        unsafe {
            libc::umount2(c.as_ptr(), libc::MNT_DETACH);
        }
    }
}

/// The user the rootless daemon runs as; created on first use and kept (with its data root,
/// so later imports are quick).
pub const ROOTLESS_USER: &str = "bwrootless";

/// One rootless daemon at a time: they share the user, its runtime directory and socket.
static ROOTLESS: Mutex<()> = Mutex::new(());

/// A rootless dockerd (`dockerd-rootless.sh`, i.e. rootlesskit with slirp4netns) run by
/// [`ROOTLESS_USER`], started and stopped by the test. No systemd here, so the test makes
/// what a login session would: /run/user/UID.
pub struct RootlessDocker {
    pub socket: PathBuf,
    /// Holds the log and the fixture tarball.
    pub dir: tempfile::TempDir,
    uid: u32,
    gid: u32,
    home: PathBuf,
    /// rootlesskit (setpriv execs the script, which execs rootlesskit).
    child: Child,
    /// Last, so it is released after the daemon is gone.
    _turn: MutexGuard<'static, ()>,
}

impl RootlessDocker {
    /// Start the daemon with, when given, `daemon_json` as the user's
    /// ~/.config/docker/daemon.json (removed when `None`).
    pub fn start(daemon_json: Option<&str>) -> Self {
        // A test that panicked while holding it poisoned nothing we rely on.
        let turn = ROOTLESS.lock().unwrap_or_else(|e| e.into_inner());
        let (uid, gid) = rootless_user();
        let home = PathBuf::from(format!("/home/{ROOTLESS_USER}"));
        // What a crashed run left behind would hold the socket.
        kill_user_processes(uid);
        let runtime = PathBuf::from(format!("/run/user/{uid}"));
        std::fs::create_dir_all(&runtime).expect("create /run/user/UID");
        std::os::unix::fs::chown(&runtime, Some(uid), Some(gid)).expect("chown /run/user/UID");
        set_mode(&runtime, 0o700);
        // slirp4netns opens it as the user; this machine ships it 0600, most
        // distributions 0666.
        let tun = Path::new("/dev/net/tun");
        assert!(
            tun.exists(),
            "/dev/net/tun is missing: slirp4netns needs it"
        );
        set_mode(tun, 0o666);
        let config = home.join(".config/docker");
        for d in [home.join(".config"), config.clone()] {
            std::fs::create_dir_all(&d).expect("create ~/.config/docker");
            std::os::unix::fs::chown(&d, Some(uid), Some(gid)).expect("chown ~/.config");
        }
        let json_path = config.join("daemon.json");
        match daemon_json {
            Some(json) => {
                std::fs::write(&json_path, json).expect("write daemon.json");
                std::os::unix::fs::chown(&json_path, Some(uid), Some(gid)).expect("chown");
                set_mode(&json_path, 0o644);
            }
            None => {
                let _ = std::fs::remove_file(&json_path);
            }
        }
        let script = [
            "/usr/share/docker.io/contrib/dockerd-rootless.sh",
            "/usr/bin/dockerd-rootless.sh",
        ]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("dockerd-rootless.sh must be installed (docker.io ships it in contrib)");
        let dir = tempfile::Builder::new()
            .prefix("bwr")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let log = std::fs::File::create(dir.path().join("dockerd.log")).expect("log file");
        // A minimal, explicit environment: what a login of the user would have.
        let mut cmd = Command::new("setpriv");
        cmd.env_clear()
            .env("HOME", &home)
            .env("USER", ROOTLESS_USER)
            .env("XDG_RUNTIME_DIR", &runtime)
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/share/docker.io/contrib",
            )
            .arg(format!("--reuid={uid}"))
            .arg(format!("--regid={gid}"))
            .arg("--init-groups")
            .arg(script)
            .current_dir(&home)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        let child = cmd.spawn().expect("setpriv (util-linux) must be installed");
        let mut daemon = RootlessDocker {
            socket: runtime.join("docker.sock"),
            dir,
            uid,
            gid,
            home,
            child,
            _turn: turn,
        };
        daemon.wait_ready();
        // The data root is kept between runs: drop what an earlier run left in it.
        daemon.remove_containers();
        let tar = busybox_rootfs_tar(daemon.dir.path());
        let mut import = daemon.docker_cmd();
        import.args(["import", "-c", "CMD [\"/bin/sleep\", \"3600\"]"]);
        must(import.arg(&tar).arg(IMAGE));
        daemon
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    pub fn uid(&self) -> u32 {
        self.uid
    }

    pub fn gid(&self) -> u32 {
        self.gid
    }

    /// The user's home; the data root is `~/.local/share/docker`.
    pub fn home(&self) -> PathBuf {
        self.home.clone()
    }

    /// The pid of dockerd itself (in rootlesskit's namespaces), from its pidfile.
    pub fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(format!("/run/user/{}/docker.pid", self.uid))
            .ok()
            .and_then(|p| p.trim().parse().ok())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("rootless dockerd exited ({status}):\n{}", self.log());
            }
            if self.socket.exists() && run(self.docker_cmd().arg("version")).status.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("rootless dockerd did not become ready:\n{}", self.log());
    }

    pub fn docker_cmd(&self) -> Command {
        let mut c = Command::new("docker");
        c.arg("-H").arg(self.host());
        c
    }

    /// Run a docker command against this daemon; panic with its output on failure.
    pub fn docker(&self, args: &[&str]) -> String {
        must(self.docker_cmd().args(args))
    }

    /// Start a container from the fixture image: `docker run -d --name NAME ARGS... IMAGE`.
    pub fn run_container(&self, name: &str, args: &[&str]) {
        let mut all = vec!["run", "-d", "--name", name];
        all.extend_from_slice(args);
        all.push(IMAGE);
        self.docker(&all);
    }

    fn remove_containers(&self) {
        let Ok(o) = self.docker_cmd().args(["ps", "-aq"]).output() else {
            return;
        };
        let ids = String::from_utf8_lossy(&o.stdout).to_string();
        if !ids.trim().is_empty() {
            let _ = self
                .docker_cmd()
                .args(["rm", "-f"])
                .args(ids.split_whitespace())
                .output();
        }
    }
}

impl Drop for RootlessDocker {
    fn drop(&mut self) {
        self.remove_containers();
        // SIGTERM to dockerd (its pidfile); rootlesskit, our child, exits with it.
        if let Some(pid) = self.pid() {
            // SAFETY: plain kill(2) of the test's own daemon.
            unsafe { libc::kill(pid as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(20);
            while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // slirp4netns, containerd, shims: nothing of the user's may outlive the test.
        kill_user_processes(self.uid);
    }
}

/// [`ROOTLESS_USER`]'s uid and gid, creating the user and its subordinate id ranges (which
/// rootlesskit maps into its user namespace) when missing.
fn rootless_user() -> (u32, u32) {
    let id = |flag: &str| run(Command::new("id").arg(flag).arg(ROOTLESS_USER));
    if !id("-u").status.success() {
        must(Command::new("useradd").args(["-m", "-s", "/bin/sh", ROOTLESS_USER]));
    }
    for file in ["/etc/subuid", "/etc/subgid"] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if !text
            .lines()
            .any(|l| l.starts_with(&format!("{ROOTLESS_USER}:")))
        {
            let sep = if text.is_empty() || text.ends_with('\n') {
                ""
            } else {
                "\n"
            };
            std::fs::write(file, format!("{text}{sep}{ROOTLESS_USER}:300000:65536\n"))
                .unwrap_or_else(|e| panic!("cannot add {ROOTLESS_USER} to {file}: {e}"));
        }
    }
    let number = |flag: &str| {
        let o = id(flag);
        assert!(o.status.success(), "id {flag} {ROOTLESS_USER} failed");
        String::from_utf8_lossy(&o.stdout)
            .trim()
            .parse::<u32>()
            .expect("numeric id")
    };
    (number("-u"), number("-g"))
}

/// SIGTERM, then SIGKILL, every process whose real uid is `uid`, and wait until they are
/// gone (zombies aside: only their parents can reap them).
fn kill_user_processes(uid: u32) {
    let alive = || -> Vec<i32> {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
                    return false;
                };
                let field = |name: &str| {
                    status
                        .lines()
                        .find_map(|l| l.strip_prefix(name))
                        .and_then(|v| v.split_whitespace().next())
                        .unwrap_or_default()
                };
                field("Uid:") == uid.to_string() && field("State:") != "Z"
            })
            .collect()
    };
    for (signal, wait) in [(libc::SIGTERM, 10), (libc::SIGKILL, 10)] {
        let pids = alive();
        if pids.is_empty() {
            return;
        }
        for pid in pids {
            // SAFETY: plain kill(2) of a process of the test's own user.
            unsafe { libc::kill(pid, signal) };
        }
        let deadline = Instant::now() + Duration::from_secs(wait);
        while !alive().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

/// Rootless Podman: `podman system service` run by [`ROOTLESS_USER`] on its own runtime
/// directory's socket (`$XDG_RUNTIME_DIR/podman/podman.sock`), started and stopped by the
/// test. It shares the user with [`RootlessDocker`], so it takes the same turn.
pub struct RootlessPodman {
    pub socket: PathBuf,
    uid: u32,
    gid: u32,
    home: PathBuf,
    child: Child,
    _turn: MutexGuard<'static, ()>,
}

impl RootlessPodman {
    pub fn start() -> Self {
        let turn = ROOTLESS.lock().unwrap_or_else(|e| e.into_inner());
        let (uid, gid) = rootless_user();
        kill_user_processes(uid);
        let home = PathBuf::from(format!("/home/{ROOTLESS_USER}"));
        let runtime = PathBuf::from(format!("/run/user/{uid}"));
        for d in [runtime.clone(), runtime.join("podman")] {
            std::fs::create_dir_all(&d).expect("create the runtime directory");
            std::os::unix::fs::chown(&d, Some(uid), Some(gid)).expect("chown it");
        }
        set_mode(&runtime, 0o700);
        let socket = runtime.join("podman/podman.sock");
        let _ = std::fs::remove_file(&socket);
        let log =
            std::fs::File::create(format!("/tmp/bw-rootless-podman-{uid}.log")).expect("log file");
        let child = Command::new("setpriv")
            .env_clear()
            .env("HOME", &home)
            .env("USER", ROOTLESS_USER)
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .arg(format!("--reuid={uid}"))
            .arg(format!("--regid={gid}"))
            .arg("--init-groups")
            // No systemd here: cgroupfs and a file events log, as for the root service.
            .args([
                "podman",
                "--cgroup-manager=cgroupfs",
                "--events-backend=file",
            ])
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", socket.display()))
            .current_dir(&home)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("setpriv and podman must be installed");
        let podman = RootlessPodman {
            socket,
            uid,
            gid,
            home,
            child,
            _turn: turn,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        let host = podman.host();
        while !run(Command::new("docker").args(["-H", &host, "version"]))
            .status
            .success()
        {
            assert!(
                Instant::now() < deadline,
                "rootless podman did not answer: {}",
                std::fs::read_to_string(format!("/tmp/bw-rootless-podman-{uid}.log"))
                    .unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        podman
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    pub fn uid(&self) -> u32 {
        self.uid
    }

    pub fn gid(&self) -> u32 {
        self.gid
    }

    pub fn home(&self) -> PathBuf {
        self.home.clone()
    }
}

impl Drop for RootlessPodman {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        kill_user_processes(self.uid);
    }
}
