//! Plugin authors, outside this repository: from an empty temporary directory, with only
//! the built `bulwark` on PATH (beside the language's own tools: cargo for Rust,
//! componentize-py for Python), `plugin new` → `build` → `test` → `keygen`/`sign` → `push`
//! to a loopback registry → an operator's `pull`, `inspect` and `audit` on a private dockerd.
//! Each step's time is printed (`--nocapture`). Also: every `plugin build` error, a wrong
//! expectation, and a Python plugin that tries files, the environment, sockets and time.

use crate::common::*;
use serde_json::Value;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

/// An author's shell: a temp dir to work in and a PATH with `bulwark` and the toolchains.
struct Author {
    dir: tempfile::TempDir,
    path: OsString,
}

/// The directory of the first `exe` on this process's PATH.
fn dir_of(exe: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).find(|d| d.join(exe).is_file()))
        .unwrap_or_else(|| panic!("{exe} is not on PATH (cargo xtask test provides it)"))
}

impl Author {
    fn new(tools: &[&str]) -> Author {
        let dir = tempfile::Builder::new()
            .prefix("bw-author")
            .tempdir_in("/tmp")
            .unwrap();
        let bin = dir.path().join(".bin");
        std::fs::create_dir(&bin).unwrap();
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_bulwark"), bin.join("bulwark")).unwrap();
        let mut dirs = vec![bin];
        dirs.extend(tools.iter().map(|t| dir_of(t)));
        dirs.extend(["/usr/sbin", "/usr/bin", "/sbin", "/bin"].map(PathBuf::from));
        Author {
            path: std::env::join_paths(dirs).unwrap(),
            dir,
        }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `bulwark ARGS` in `cwd` (relative to the work dir), with a clean environment.
    fn run(&self, cwd: &str, args: &[&str], env: &[(&str, &str)]) -> (Output, f64) {
        let mut c = Command::new("bulwark");
        c.env_clear()
            .env("PATH", &self.path)
            .env("NO_COLOR", "1")
            .env(
                "BULWARK_CACHE_DIR",
                std::env::temp_dir().join("bulwark-test-cache"),
            )
            .current_dir(self.root().join(cwd))
            .args(args);
        for k in ["HOME", "RUSTUP_HOME", "CARGO_HOME", "RUSTUP_TOOLCHAIN"] {
            if let Some(v) = std::env::var_os(k) {
                c.env(k, v);
            }
        }
        c.envs(env.iter().copied());
        let started = Instant::now();
        let out = c.output().unwrap();
        (out, started.elapsed().as_secs_f64())
    }

    /// Run a step that must succeed; print its time; its standard output.
    fn step(&self, name: &str, cwd: &str, args: &[&str]) -> String {
        let (o, secs) = self.run(cwd, args, &[]);
        eprintln!("author step {name:<10} {secs:6.1} s");
        assert!(
            o.status.success(),
            "bulwark {args:?} failed ({}): {}\n{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Run a command that must fail with `code`; its standard error.
    fn fails(&self, cwd: &str, args: &[&str], env: &[(&str, &str)], code: i32) -> String {
        let (o, _) = self.run(cwd, args, env);
        let (out, err) = (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        );
        assert_eq!(o.status.code(), Some(code), "{args:?}: {out}\n{err}");
        out + &err
    }

    fn edit(&self, file: &str, from: &str, to: &str) {
        let p = self.root().join(file);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(from), "{file} has no {from:?}");
        std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
    }
}

/// Sign, push, pull and inspect as the walkthrough does; then an operator's audit of a
/// private dockerd with one container without a memory limit and one with.
fn ship_and_audit(a: &Author, name: &str, project: &str, extra: &[(&str, &str)]) -> Value {
    let reg = Registry::start();
    let wasm = format!("{project}/target/bulwark/{name}.wasm");
    a.step("keygen", "", &["plugin", "keygen", "me.key"]);
    a.step("sign", "", &["plugin", "sign", &wasm, "--key", "me.key"]);
    let reference = format!("{}/authors/{name}:0.1.0", reg.addr);
    a.step(
        "push",
        "",
        &["plugin", "push", &wasm, &reference, "--insecure"],
    );
    let out = a.step(
        "pull",
        "",
        &[
            "plugin",
            "pull",
            &reference,
            "-o",
            "packs",
            "--insecure",
            "--trusted-key",
            "me.key.pub",
        ],
    );
    assert!(out.contains("signature verified"), "{out}");
    let packed = format!("packs/{name}.wasm");
    let out = a.step(
        "inspect",
        "",
        &["plugin", "inspect", &packed, "--trusted-key", "me.key.pub"],
    );
    assert!(out.contains("requests:   containers"), "{out}");
    assert!(out.contains("verified (trusted key"), "{out}");

    let d = TestDaemon::start(&["--iptables=false"], None);
    d.run_container("nolimit", &[], &[]);
    d.run_container("limited", &["--memory", "64m"], &[]);
    let grant = format!("{name}:containers");
    let host = d.host();
    let mut args = vec![
        "audit",
        "-H",
        &host,
        "--plugins",
        "packs",
        "--trusted-key",
        "me.key.pub",
        "--grant",
        &grant,
        "-f",
        "json",
    ];
    let prefix = name.to_ascii_uppercase();
    args.extend(["-c", &prefix]);
    let (o, secs) = a.run("", &args, extra);
    eprintln!("author step {:<10} {secs:6.1} s", "audit");
    assert!(
        o.status.success(),
        "audit: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(status(&report, &format!("{prefix}.1")), "warn");
    assert_eq!(
        offenders(&report, &format!("{prefix}.1")),
        set(&["nolimit"])
    );
    report
}

#[test]
fn a_rust_plugin_goes_from_new_to_an_operators_audit() {
    let a = Author::new(&["cargo"]);
    let out = a.step(
        "new",
        "",
        &["plugin", "new", "acme", "--author", "A. Author"],
    );
    assert!(out.contains("created acme (Rust)"), "{out}");
    let out = a.step("build", "acme", &["plugin", "build"]);
    for want in [
        "target/bulwark/acme.wasm",
        "ACME.1",
        "--grant acme:containers",
        "sha256:",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }
    let out = a.step(
        "test",
        "acme",
        &["plugin", "test", "--expect", "tests/expect.toml"],
    );
    assert!(out.contains("[WARN] ACME.1"), "{out}");
    assert!(out.contains("* db: no memory limit"), "{out}");
    assert!(out.contains("used:     containers"), "{out}");
    assert!(out.contains("expectations: all 1 met"), "{out}");

    // A wrong expectation fails the test (exit 2), saying which and why.
    std::fs::write(a.root().join("acme/wrong.toml"), "\"ACME.1\" = \"pass\"\n").unwrap();
    let out = a.fails(
        "acme",
        &[
            "plugin",
            "test",
            "target/bulwark/acme.wasm",
            "--snapshot",
            "tests/snapshot.json",
            "--expect",
            "wrong.toml",
        ],
        &[],
        2,
    );
    assert!(out.contains("ACME.1: expected pass, got warn"), "{out}");

    ship_and_audit(&a, "acme", "acme", &[]);

    // Build errors, each with what to do.
    let fake = a.root().join("fake-rustc");
    std::fs::write(&fake, "#!/bin/sh\necho /nonexistent/toolchain\n").unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = a.fails(
        "acme",
        &["plugin", "build"],
        &[("RUSTC", fake.to_str().unwrap())],
        1,
    );
    assert!(
        out.contains("no wasm32-unknown-unknown target; install it with `rustup target add wasm32-unknown-unknown`"),
        "{out}"
    );
    a.edit("acme/Cargo.toml", "checks = [\"ACME.*\"]", "checks = []");
    let out = a.fails("acme", &["plugin", "build"], &[], 1);
    assert!(out.contains("the manifest declares no checks"), "{out}");
    a.edit(
        "acme/Cargo.toml",
        "checks = []",
        "checks = [\"ACME.*\", \"4.*\"]",
    );
    let out = a.fails("acme", &["plugin", "build"], &[], 1);
    assert!(
        out.contains("clashes with the built-in pack cis-images"),
        "{out}"
    );
    a.edit("acme/Cargo.toml", ", \"4.*\"", "");
    // A project whose WIT is of an ABI this binary does not speak.
    let wit = a.root().join("acme/sdk/wit/bulwark.wit");
    let text = std::fs::read_to_string(&wit).unwrap();
    let text: Vec<String> = text
        .lines()
        .map(|l| match l.starts_with("package bulwark:plugin@") {
            true => "package bulwark:plugin@9.0.0;".to_string(),
            false => l.to_string(),
        })
        .collect();
    std::fs::write(&wit, text.join("\n")).unwrap();
    let out = a.fails("acme", &["plugin", "build"], &[], 1);
    assert!(
        out.contains("the component was built for ABI bulwark:plugin@9.0.0; this bulwark accepts"),
        "{out}"
    );
    let out = a.fails("", &["plugin", "build", "packs"], &[], 1);
    assert!(out.contains("is not a plugin project"), "{out}");
}

/// A second check for the Python template: it tries what a plugin must not reach.
const HOSTILE_PY: &str = r#"

def reaches_nothing(check_id):
    import os
    import time

    reached = []
    for path in ("/etc/hostname", "/proc/self/environ"):
        try:
            with open(path) as f:
                f.read()
            reached.append("the file " + path)
        except OSError:
            pass
    try:
        os.listdir("/")
        reached.append("the directory /")
    except OSError:
        pass
    if os.environ.get("BULWARK_CANARY"):
        reached.append("the host's environment")
    try:
        import socket

        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.connect(("127.0.0.1", 22))
        reached.append("a socket")
    except Exception:
        pass
    before = time.time()
    time.sleep(600)  # time does not pass in the sandbox: returns at once
    if time.time() != before:
        reached.append("a running clock")
    if reached:
        return Finding(check_id, Status.WARN, "reached " + "; ".join(reached), None, [], [], [])
    return Finding(check_id, Status.PASS, "reached nothing", None, [], [str(int(before))], [])


CHECKS[f"{PREFIX}.2"] = ("Ensure a plugin reaches nothing outside its evidence", reaches_nothing)
"#;

#[test]
fn a_python_plugin_goes_from_new_to_an_operators_audit_and_reaches_nothing_else() {
    let a = Author::new(&["componentize-py"]);
    let out = a.step("new", "", &["plugin", "new", "pyacme", "--lang", "python"]);
    assert!(out.contains("created pyacme (Python)"), "{out}");
    let app = a.root().join("pyacme/app.py");
    let mut text = std::fs::read_to_string(&app).unwrap();
    text.push_str(HOSTILE_PY);
    std::fs::write(&app, text).unwrap();
    let expect = a.root().join("pyacme/tests/expect.toml");
    let mut text = std::fs::read_to_string(&expect).unwrap();
    text.push_str("\"PYACME.2\" = \"pass\"\n");
    std::fs::write(&expect, text).unwrap();

    let out = a.step("build", "pyacme", &["plugin", "build"]);
    assert!(out.contains("(Python, ABI bulwark:plugin@"), "{out}");
    assert!(out.contains("PYACME.1, PYACME.2"), "{out}");
    let (o, secs) = a.run(
        "pyacme",
        &["plugin", "test", "--expect", "tests/expect.toml"],
        &[("BULWARK_CANARY", "leaked")],
    );
    eprintln!("author step {:<10} {secs:6.1} s", "test");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("[WARN] PYACME.1"), "{out}");
    assert!(out.contains("[PASS] PYACME.2"), "{out}");
    assert!(out.contains("expectations: all 2 met"), "{out}");

    let report = ship_and_audit(&a, "pyacme", "pyacme", &[("BULWARK_CANARY", "leaked")]);
    let f = finding(&report, "PYACME.2");
    assert_eq!(f["status"], "pass", "{f}");
    // The clock it saw is the audit's start.
    let seen: u64 = f["details"][0].as_str().unwrap().parse().unwrap();
    assert_eq!(seen, report["audit_start"].as_u64().unwrap(), "{f}");
    let out = a.step("inspect", "", &["plugin", "inspect", "packs/pyacme.wasm"]);
    assert!(out.contains("WASI 0.2 ("), "{out}");
}
