//! Plugins through a real OCI registry: Debian's docker-registry (distribution 2.8) on
//! loopback. Push a signed plugin, pull it elsewhere, run it; a tampered artifact is
//! refused at load; an unsigned one loads only with --allow-unsigned.

use crate::common::*;
use std::path::Path;

fn ok(args: &[&str]) -> String {
    let o = bulwark().args(args).output().unwrap();
    assert!(
        o.status.success(),
        "bulwark {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn push_pull_verify_and_run() {
    let reg = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let w = |n: &str| work.path().join(n);
    let plugin = w("example.wasm");
    std::fs::copy(fixture_plugin("example"), &plugin).unwrap();
    ok(&["plugin", "keygen", s(&w("ops"))]);
    ok(&["plugin", "sign", s(&plugin), "--key", s(&w("ops"))]);
    let pubkey = w("ops.pub");
    let reference = format!("{}/bulwark/example:0.1.0", reg.addr);
    let out = ok(&["plugin", "push", s(&plugin), &reference, "--insecure"]);
    assert!(out.contains("pushed"), "{out}");

    // Elsewhere: pull, verify, run.
    let pulled = tempfile::tempdir().unwrap();
    let out = ok(&[
        "plugin",
        "pull",
        &reference,
        "-o",
        s(pulled.path()),
        "--insecure",
        "--trusted-key",
        s(&pubkey),
    ]);
    assert!(out.contains("signature verified"), "{out}");
    let got = pulled.path().join("example.wasm");
    assert_eq!(
        std::fs::read(&got).unwrap(),
        std::fs::read(&plugin).unwrap()
    );
    assert!(pulled.path().join("example.wasm.sig").exists());
    let d = TestDaemon::start(&["--iptables=false"], None);
    d.run_container("rooty", &[], &[]);
    let r = audit_json(&[
        "-H",
        &d.host(),
        "--plugins",
        s(pulled.path()),
        "--trusted-key",
        s(&pubkey),
        "--grant",
        "example:containers",
        "-c",
        "EX",
    ]);
    assert_eq!(status(&r, "EX.1"), "warn");
    assert_eq!(offenders(&r, "EX.1"), set(&["rooty"]));

    // A tampered artifact (the component changed, the old signature kept) is refused.
    let mut bytes = std::fs::read(&plugin).unwrap();
    let at = bytes.windows(9).position(|w| w == b"\"example\"").unwrap();
    bytes[at + 1] = b'E';
    std::fs::write(&plugin, &bytes).unwrap();
    let evil = format!("{}/bulwark/example:evil", reg.addr);
    ok(&["plugin", "push", s(&plugin), &evil, "--insecure"]);
    let evil_dir = tempfile::tempdir().unwrap();
    let out = ok(&[
        "plugin",
        "pull",
        &evil,
        "-o",
        s(evil_dir.path()),
        "--insecure",
        "--trusted-key",
        s(&pubkey),
    ]);
    assert!(out.contains("signature does not match"), "{out}");
    let r = audit_json(&[
        "-H",
        &d.host(),
        "--plugins",
        s(evil_dir.path()),
        "--trusted-key",
        s(&pubkey),
        "--allow-unsigned",
        "-c",
        "5.1",
    ]);
    let msg = finding(&r, "plugin:Example")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains("signature does not match"), "{msg}");

    // Unsigned: pushed without a .sig, it loads only with --allow-unsigned.
    std::fs::write(&plugin, std::fs::read(fixture_plugin("example")).unwrap()).unwrap();
    std::fs::remove_file(w("example.wasm.sig")).unwrap();
    let plain = format!("{}/bulwark/example:unsigned", reg.addr);
    ok(&["plugin", "push", s(&plugin), &plain, "--insecure"]);
    let plain_dir = tempfile::tempdir().unwrap();
    let out = ok(&[
        "plugin",
        "pull",
        &plain,
        "-o",
        s(plain_dir.path()),
        "--insecure",
    ]);
    assert!(out.contains("unsigned"), "{out}");
    let r = audit_json(&[
        "-H",
        &d.host(),
        "--plugins",
        s(plain_dir.path()),
        "-c",
        "5.1",
    ]);
    assert!(finding(&r, "plugin:example")["message"]
        .as_str()
        .unwrap()
        .contains("not signed"));

    // Not a registry, not a plugin: clear errors, exit 1.
    let o = bulwark()
        .args([
            "plugin",
            "pull",
            "127.0.0.1:1/nothing:here",
            "--insecure",
            "-o",
            s(plain_dir.path()),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("registry"));
    std::fs::write(w("junk.wasm"), b"junk").unwrap();
    let o = bulwark()
        .args(["plugin", "push", s(&w("junk.wasm")), &plain, "--insecure"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a Bulwark plugin"));
}
