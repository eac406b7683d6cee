//! Shared helpers for the integration tests: private dockerd instances, the fixture
//! image, and running the real `bulwark` binary.
//!
//! These tests need root, Docker (dockerd, docker CLI, docker-proxy), busybox-static,
//! iproute2, Podman and rootless Docker's parts (rootlesskit, uidmap, slirp4netns), which
//! `cargo xtask test` installs. They fail, never skip, when these are absent.

#![allow(dead_code)]

pub mod engines;
// The benches share this module and use no other engine.
#[allow(unused_imports)]
pub use engines::*;

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const IMAGE: &str = "bulwark-fixture:busybox";

static NEXT: AtomicU32 = AtomicU32::new(0);

pub fn run(cmd: &mut Command) -> Output {
    match cmd.output() {
        Ok(o) => o,
        Err(e) => panic!("cannot run {cmd:?}: {e}"),
    }
}

pub fn must(cmd: &mut Command) -> String {
    let o = run(cmd);
    assert!(
        o.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// A private dockerd: its own socket, data root, exec root, pidfile and bridge, so tests
/// never disturb (or are disturbed by) the host's daemon or each other.
pub struct TestDaemon {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    child: std::process::Child,
    /// The bridge it was started with (`--bridge`).
    pub bridge: String,
}

impl TestDaemon {
    /// Start dockerd with `args` and, when given, a daemon.json passed via --config-file.
    /// A daemon.json that names `@SOCKET@` in its "hosts" gets the test socket there
    /// instead of on the command line (dockerd refuses hosts given both ways).
    pub fn start(args: &[&str], daemon_json: Option<&str>) -> Self {
        Self::start_with(args, daemon_json, true)
    }

    pub fn start_with(args: &[&str], daemon_json: Option<&str>, config_flag: bool) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("bw")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let d = dir.path();
        let n = (std::process::id() + NEXT.fetch_add(1, Ordering::SeqCst) * 7) % 200 + 20;
        let bridge = format!("bwt{n}");
        let _ = run(Command::new("ip").args(["link", "del", &bridge]));
        must(Command::new("ip").args(["link", "add", &bridge, "type", "bridge"]));
        must(Command::new("ip").args(["addr", "add", &format!("10.254.{n}.1/24"), "dev", &bridge]));
        must(Command::new("ip").args(["link", "set", &bridge, "up"]));
        let socket = d.join("docker.sock");
        let socket_url = format!("unix://{}", socket.display());
        let hosts_in_json = daemon_json.is_some_and(|j| j.contains("@SOCKET@"));
        let mut cmd = Command::new("dockerd");
        cmd.arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("docker.pid"))
            .arg("--bridge")
            .arg(&bridge);
        if !hosts_in_json {
            cmd.arg("-H").arg(&socket_url);
        }
        if let Some(json) = daemon_json {
            let path = d.join("daemon.json");
            std::fs::write(&path, json.replace("@SOCKET@", &socket_url))
                .expect("write daemon.json");
            if config_flag {
                cmd.arg("--config-file").arg(&path);
            }
        }
        cmd.args(args);
        let log = std::fs::File::create(d.join("dockerd.log")).expect("log file");
        cmd.stdout(log.try_clone().expect("log")).stderr(log);
        let child = cmd
            .spawn()
            .expect("dockerd must be installed (cargo xtask test installs it)");
        let mut daemon = TestDaemon {
            dir,
            socket,
            child,
            bridge,
        };
        daemon.wait_ready();
        daemon.load_fixture_image();
        daemon
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("test dockerd exited ({status}):\n{}", self.log());
            }
            if self.socket.exists() && run(self.docker_cmd().args(["version"])).status.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("test dockerd did not become ready:\n{}", self.log());
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

    /// Import the busybox fixture image (see [`busybox_rootfs_tar`]).
    fn load_fixture_image(&self) {
        let tar = busybox_rootfs_tar(self.dir.path());
        let mut import = self.docker_cmd();
        import.args(["import", "-c", "CMD [\"/bin/sleep\", \"3600\"]"]);
        must(import.arg(&tar).arg(IMAGE));
    }

    /// `docker build` (classic builder) of a Dockerfile with extra files, tagged `tag`.
    pub fn build_image(&self, tag: &str, dockerfile: &str, files: &[(&str, &str)]) {
        let ctx = self
            .dir
            .path()
            .join(format!("build-{}", tag.replace([':', '/'], "-")));
        std::fs::create_dir_all(&ctx).expect("build context");
        std::fs::write(ctx.join("Dockerfile"), dockerfile).expect("Dockerfile");
        for (name, text) in files {
            std::fs::write(ctx.join(name), text).expect("context file");
        }
        must(
            self.docker_cmd()
                .env("DOCKER_BUILDKIT", "0")
                .args(["build", "-q", "-t", tag])
                .arg(&ctx),
        );
    }

    /// Start a container from the fixture image: `docker run -d --name NAME ARGS... IMAGE CMD...`.
    pub fn run_container(&self, name: &str, args: &[&str], cmd: &[&str]) {
        let mut all = vec!["run", "-d", "--name", name];
        all.extend_from_slice(args);
        all.push(IMAGE);
        all.extend_from_slice(cmd);
        self.docker(&all);
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        // Remove what dockerd would leave in the host's network namespace: user-defined
        // networks' bridges and containers' veths outlive a killed daemon and, over many
        // runs, exhaust Docker's address pools.
        let quiet = |args: &[&str]| {
            let _ = self.docker_cmd().args(args).output();
        };
        quiet(&["swarm", "leave", "--force"]);
        if let Ok(o) = self.docker_cmd().args(["ps", "-aq"]).output() {
            let ids: Vec<String> = String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .map(str::to_string)
                .collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(ids.iter().map(String::as_str));
                quiet(&args);
            }
        }
        quiet(&["network", "prune", "-f"]);
        // SIGTERM lets dockerd stop its containers and unmount its layers.
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A daemon restarted by `bulwark fix --restart` is another process: its pidfile says.
        if let Some(pid) = std::fs::read_to_string(self.dir.path().join("docker.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
            .filter(|p| *p as u32 != self.child.id())
        {
            // SAFETY: plain kill(2) of the test's own daemon.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(30);
            while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let _ = run(Command::new("ip").args(["link", "del", &self.bridge]));
    }
}

/// The fixture image's root filesystem, built from the host's busybox-static (no registry)
/// with a static `sshd` stand-in for 5.7 and `bwtool`, as a tarball `DIR/busybox.tar` that
/// every engine imports (`docker import`, `podman import`).
pub fn busybox_rootfs_tar(dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    for sub in ["bin", "usr/sbin", "tmp", "etc"] {
        std::fs::create_dir_all(root.join(sub)).expect("rootfs");
    }
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("busybox-static must be installed (cargo xtask test installs it)");
    std::fs::copy(busybox, root.join("bin/busybox")).expect("copy busybox");
    for applet in ["sh", "sleep", "true", "cat", "ls", "echo", "id"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).expect("applet link");
    }
    std::fs::copy(sshd_stand_in(), root.join("usr/sbin/sshd")).expect("copy sshd");
    std::fs::copy(bwtool(), root.join("bin/bwtool")).expect("copy bwtool");
    // A setuid-root copy: what a non-root process gains root through.
    let suid = root.join("bin/bwtool-suid");
    std::fs::copy(bwtool(), &suid).expect("copy bwtool");
    std::fs::set_permissions(&suid, std::os::unix::fs::PermissionsExt::from_mode(0o4755))
        .expect("setuid bit");
    let tar = dir.join("busybox.tar");
    must(
        Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg("."),
    );
    tar
}

/// Compile a static helper binary from Rust source with the toolchain at hand.
fn static_binary(name: &str, source: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bulwark-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let src = dir.join(format!("{name}.rs"));
    std::fs::write(&src, source).expect("write");
    let out = dir.join(name);
    must(
        Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
            .args(["-O", "-C", "target-feature=+crt-static", "-o"])
            .arg(&out)
            .arg(&src),
    );
    out
}

/// A static binary named `sshd` that just sleeps, so a container can run a process the
/// kernel calls "sshd". Compiled once per test process.
fn sshd_stand_in() -> PathBuf {
    static ONCE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        static_binary(
            "sshd",
            "fn main() { loop { std::thread::sleep(std::time::Duration::from_secs(3600)); } }",
        )
    })
    .clone()
}

/// `/bin/bwtool ACTION...` in the fixture image: does, from inside a container, each thing
/// the runtime rules look for (the attempt is what they see; most fail without privilege).
fn bwtool() -> PathBuf {
    static ONCE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| static_binary("bwtool", BWTOOL)).clone()
}

const BWTOOL: &str = r#"
use std::ffi::CString;
extern "C" {
    fn setuid(uid: u32) -> i32;
    fn unshare(flags: i32) -> i32;
    fn mount(src: *const i8, target: *const i8, fstype: *const i8, flags: u64, data: *const u8) -> i32;
    fn chmod(path: *const i8, mode: u32) -> i32;
    fn ptrace(req: i64, pid: i32, addr: usize, data: usize) -> i64;
    fn syscall(nr: i64, ...) -> i64;
    fn execv(path: *const i8, argv: *const *const i8) -> i32;
    fn fork() -> i32;
    fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
    fn _exit(code: i32) -> !;
    fn pipe(fds: *mut i32) -> i32;
    fn write(fd: i32, buf: *const u8, n: usize) -> isize;
    fn read(fd: i32, buf: *mut u8, n: usize) -> isize;
}
fn main() {
    let c = |s: &str| CString::new(s).unwrap();
    for action in std::env::args().skip(1) {
        let started = std::time::Instant::now();
        unsafe {
            match action.as_str() {
                "setuid0" => { setuid(0); }
                "unshare" => { unshare(0x0400_0000); }
                "mount" => { let (a, b, t) = (c("none"), c("/tmp"), c("tmpfs")); mount(a.as_ptr(), b.as_ptr(), t.as_ptr(), 0, std::ptr::null()); }
                "chmod-suid" => { std::fs::write("/tmp/bw-suid", b"x").ok(); let p = c("/tmp/bw-suid"); chmod(p.as_ptr(), 0o4755); }
                "ptrace" => { ptrace(0, 0, 0, 0); }
                "capset" => {
                    let header: [u32; 2] = [0x2008_0522, 0];
                    let data: [u32; 6] = [u32::MAX, u32::MAX, 0, u32::MAX, u32::MAX, 0];
                    syscall(126, header.as_ptr(), data.as_ptr());
                }
                "bpf" => {
                    // BPF_MAP_CREATE of a one-entry array: far enough for the kernel's checks.
                    let attr: [u32; 5] = [2, 4, 4, 1, 0];
                    syscall(321, 0i64, attr.as_ptr(), 20u32);
                }
                "clone-ns" => {
                    // clone(CLONE_NEWUSER | SIGCHLD): a child in a new user namespace.
                    let pid = syscall(56, 0x1000_0000i64 | 17, 0usize, 0usize, 0usize, 0usize);
                    if pid == 0 { _exit(0); }
                    if pid > 0 { let mut st = 0; waitpid(pid as i32, &mut st, 0); }
                }
                "module" => { let e = c(""); syscall(313, -1i64, e.as_ptr(), 0i64); }
                "storm" => { let p = c("/tmp"); for _ in 0..200_000 { chmod(p.as_ptr(), 0o1777); } }
                "spin" => { for _ in 0..5_000_000 { syscall(110); } }
                "rw" => {
                    let mut fds = [0i32; 2];
                    pipe(fds.as_mut_ptr());
                    let mut buf = [0u8; 64];
                    for _ in 0..1_000_000 { write(fds[1], buf.as_ptr(), 64); read(fds[0], buf.as_mut_ptr(), 64); }
                }
                "execstorm" => {
                    let t = c("/bin/true");
                    let argv = [t.as_ptr(), std::ptr::null()];
                    for _ in 0..20_000 {
                        let pid = fork();
                        if pid == 0 { execv(t.as_ptr(), argv.as_ptr()); _exit(127); }
                        let mut st = 0;
                        waitpid(pid, &mut st, 0);
                    }
                }
                "thread-exec-sh" => {
                    // execve from a thread other than the leader.
                    std::thread::spawn(move || {
                        let (sh, dash_c, t, z) = (c("/bin/sh"), c("-c"), c("true"), c("from-a-thread"));
                        let argv = [sh.as_ptr(), dash_c.as_ptr(), t.as_ptr(), z.as_ptr(), std::ptr::null()];
                        execv(sh.as_ptr(), argv.as_ptr());
                    }).join().ok();
                }
                "exec-sh" => {
                    let (sh, dash_c, t) = (c("/bin/sh"), c("-c"), c("true"));
                    let argv = [sh.as_ptr(), dash_c.as_ptr(), t.as_ptr(), std::ptr::null()];
                    execv(sh.as_ptr(), argv.as_ptr());
                }
                "work" => {
                    // `profile`'s test workload: file, time, random and socket work; any
                    // failure exits 1.
                    let fail = |what: &str| -> ! {
                        eprintln!("bwtool work: {what}: {}", std::io::Error::last_os_error());
                        std::process::exit(1)
                    };
                    let path = "/tmp/bw-work";
                    std::fs::write(path, b"bulwark").unwrap_or_else(|_| fail("write"));
                    if std::fs::read(path).map(|b| b != b"bulwark").unwrap_or(true) { fail("read") }
                    std::fs::remove_file(path).unwrap_or_else(|_| fail("unlink"));
                    let t = std::time::SystemTime::now();
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    if t.elapsed().is_err() { fail("clock") }
                    let mut buf = [0u8; 16];
                    if syscall(318, buf.as_mut_ptr(), 16usize, 0u32) != 16 { fail("getrandom") }
                    use std::io::{Read, Write};
                    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|_| fail("bind"));
                    let addr = l.local_addr().unwrap_or_else(|_| fail("getsockname"));
                    let mut c = std::net::TcpStream::connect(addr).unwrap_or_else(|_| fail("connect"));
                    let (mut s, _) = l.accept().unwrap_or_else(|_| fail("accept"));
                    c.write_all(b"ping").unwrap_or_else(|_| fail("send"));
                    let mut got = [0u8; 4];
                    s.read_exact(&mut got).unwrap_or_else(|_| fail("recv"));
                }
                "int80" => {
                    // getpid through the 32-bit entry (ia32 number 20; 20 is writev natively):
                    // a compat syscall from a 64-bit process.
                    let ret: i32;
                    core::arch::asm!("int 0x80", inlateout("eax") 20i32 => ret);
                    if ret != std::process::id() as i32 {
                        println!("int80 {ret}");
                        std::process::exit(4);
                    }
                }
                "sysinfo" => {
                    // A syscall the workload above never makes.
                    let mut info = [0u8; 128];
                    if syscall(99, info.as_mut_ptr()) != 0 {
                        let e = std::io::Error::last_os_error();
                        println!("sysinfo {}", if e.raw_os_error() == Some(1) { "EPERM".to_string() } else { e.to_string() });
                        std::process::exit(3);
                    }
                }
                other => eprintln!("bwtool: unknown action {other}"),
            }
        }
        // For the benchmarks: the loop's own time, without docker exec's.
        println!("{action} {}", started.elapsed().as_nanos());
    }
}
"#;

/// Debian's docker-registry (distribution 2.8) on a loopback port, storing in a temp dir.
pub struct Registry {
    pub addr: String,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Registry {
    pub fn start() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let addr = free_loopback_addr();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = std::process::Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("docker-registry is installed by `cargo xtask test`");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "the registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry {
            child,
            addr,
            _dir: dir,
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Held by every test that changes the host's own files (/etc, unit files, audit rules,
/// accounts) and by the test that compares two audits of the host: one binary runs them
/// all, so a process-wide lock keeps the comparison from seeing a change half-way.
pub fn host_files_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// A loopback address with a port free right now, for servers the tests start.
pub fn free_loopback_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    format!("{}", l.local_addr().expect("local addr"))
}

/// The bulwark binary under test, with a private compiled-code cache.
pub fn bulwark() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bulwark"));
    c.env(
        "BULWARK_CACHE_DIR",
        std::env::temp_dir().join("bulwark-test-cache"),
    )
    .env_remove("DOCKER_HOST")
    .env("NO_COLOR", "1");
    c
}

/// Run `bulwark audit -f json ARGS`, assert it succeeded, and parse the report.
pub fn audit_json(args: &[&str]) -> Value {
    let o = run(bulwark().args(["audit", "-f", "json"]).args(args));
    assert!(
        o.status.success(),
        "bulwark audit {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("the JSON report parses")
}

pub fn finding<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["check"]["id"] == id))
        .unwrap_or_else(|| panic!("no finding for {id} in {report:#}"))
}

pub fn status(report: &Value, id: &str) -> String {
    finding(report, id)["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Names of the containers a finding concerns.
pub fn offenders(report: &Value, id: &str) -> BTreeSet<String> {
    finding(report, id)["subjects"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter(|s| s["kind"] == "container")
                .filter_map(|s| s["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Names of the images a finding concerns.
pub fn image_offenders(report: &Value, id: &str) -> BTreeSet<String> {
    finding(report, id)["subjects"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter(|s| s["kind"] == "image")
                .filter_map(|s| s["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// The snapshot recorded from a real dockerd for tests whose subject needs no Docker: the
/// host's daemon with three running containers, `web-1` and `db` (defaults) and `web-2`
/// (`--memory 64m`). See `tests/fixtures/README.md` for how to record it again.
pub fn fixture_snapshot() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/host.snap.json")
}

/// A copy of the fixture snapshot with its entries edited by `f`.
pub fn edited_snapshot(f: impl FnOnce(&mut Vec<Value>)) -> tempfile::NamedTempFile {
    let mut doc: Value =
        serde_json::from_slice(&std::fs::read(fixture_snapshot()).expect("fixture snapshot"))
            .expect("fixture snapshot JSON");
    if let Some(entries) = doc["entries"].as_array_mut() {
        f(entries);
    }
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), serde_json::to_vec(&doc).expect("JSON")).expect("write");
    file
}

/// The findings with run-dependent fields removed, for comparing two audits.
/// Each finding of a report as (check id, status, reason).
pub fn reasons(report: &Value) -> Vec<(String, String, String)> {
    report["findings"]
        .as_array()
        .expect("the report has findings")
        .iter()
        .map(|f| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            (
                text(&f["check"]["id"]),
                text(&f["status"]),
                text(&f["reason"]),
            )
        })
        .collect()
}

pub fn verdicts(report: &Value) -> Value {
    report["findings"].clone()
}

/// Plugins only the tests use: (crate directory, feature, output name). Built on first use
/// (never by a release build), with cargo's own up-to-date checks.
const FIXTURES: &[(&str, Option<&str>, &str)] = &[
    ("plugins/example", None, "example"),
    ("tests/plugins/hostile", Some("looper"), "looper"),
    ("tests/plugins/hostile", Some("hog"), "hog"),
    ("tests/plugins/hostile", Some("garbage"), "garbage"),
    ("tests/plugins/hostile", Some("stack"), "stack"),
    ("tests/plugins/hostile", Some("panic"), "panic"),
    ("tests/plugins/hostile", Some("flood"), "flood"),
    ("tests/plugins/hostile", Some("huge"), "huge"),
    ("tests/plugins/hostile", Some("snoop"), "snoop"),
    ("tests/plugins/hostile", Some("spam"), "spam"),
    ("tests/plugins/tally", None, "tally"),
    ("tests/plugins/tally", Some("brittle"), "brittle"),
    ("tests/plugins/mirror", None, "mirror"),
    ("tests/plugins/mirror", Some("read-records"), "read-records"),
    (
        "tests/plugins/mirror",
        Some("read-documents"),
        "read-documents",
    ),
];

/// The component of a fixture plugin (see [`FIXTURES`]), built on first use.
pub fn fixture_plugin(name: &str) -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the host crate sits in the workspace");
    let dir = BUILT.get_or_init(|| {
        let out = workspace.join("target/fixtures");
        for (krate, feature, file) in FIXTURES {
            bulwark_build::PluginBuild {
                workspace,
                crate_dir: &workspace.join(krate),
                target_dir: &workspace.join("target/wasm-build"),
                feature: *feature,
                out: &out.join(format!("{file}.wasm")),
            }
            .run()
            .unwrap_or_else(|e| panic!("building fixture plugin {file}: {e:?}"));
        }
        out
    });
    dir.join(format!("{name}.wasm"))
}

/// `GET path` from a server on `addr` (one request, `Connection: close`): the status, the
/// content type, and the body.
pub fn http_get(addr: &str, path: &str) -> Option<(u16, String, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    // Chunked bodies (hyper streams large ones): joined back.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Some((status, content_type, body))
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

/// The samples of a `bulwark_` exposition: series (name with labels) → value.
pub fn metric_values(text: &str) -> std::collections::HashMap<String, f64> {
    text.lines()
        .filter(|l| l.starts_with("bulwark_"))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

/// Poll `f` every 250 ms until it gives something, for at most `limit`.
pub fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Run `cmd` under GNU time: (its exit status, wall ms, peak RSS KiB). Not this process's
/// wait4 of a child it spawned: posix_spawn's vfork shares this process's memory map until
/// exec, and the kernel keeps that map's high-water mark as the child's peak too, so a big
/// harness inflated the reading (at 1,000 containers the scale bench read 77 MiB for an
/// audit whose own peak was ~60 MiB). `time` forks it from a small process.
#[allow(dead_code)]
pub fn timed(cmd: &Command, stdout: std::process::Stdio) -> (std::process::ExitStatus, f64, i64) {
    let report = tempfile::NamedTempFile::new().expect("temp file");
    let mut t = Command::new("/usr/bin/time");
    t.args(["-f", "%M", "-o"])
        .arg(report.path())
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .stdout(stdout)
        .stderr(std::process::Stdio::null());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => t.env(k, v),
            None => t.env_remove(k),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        t.current_dir(dir);
    }
    let started = Instant::now();
    let status = t
        .status()
        .expect("GNU time (cargo xtask bench installs it)");
    let wall = started.elapsed().as_secs_f64() * 1000.0;
    let text = std::fs::read_to_string(report.path()).unwrap_or_default();
    // The last line is %M (earlier ones say how the command exited, when it failed).
    let kib = text
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    (status, wall, kib)
}
