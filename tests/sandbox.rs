//! The hostile corpus: each deliberately malicious plugin runs in an audit beside the
//! built-in packs. The audit completes, every built-in finding is byte-identical to a clean
//! run, and the hostile plugin gets an error finding naming it and the cause (or, for
//! evidence outside its grants, typed denials recorded in the findings' provenance).
//!
//! The subject is the sandbox, not Docker: the audits replay the recorded snapshot.

use crate::common::*;
use serde_json::Value;
use std::path::Path;

fn plugin_dir(plugins: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for p in plugins {
        std::fs::copy(fixture_plugin(p), dir.path().join(format!("{p}.wasm"))).unwrap();
    }
    dir
}

/// The findings of the built-in checks only.
fn builtin_verdicts(r: &Value) -> Vec<Value> {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            matches!(
                f["check"]["plugin"].as_str(),
                Some("cis-daemon" | "cis-runtime" | "cis-host" | "cis-files" | "cis-images")
            )
        })
        .cloned()
        .collect()
}

fn plugin_error(r: &Value, plugin: &str) -> String {
    let f = finding(r, &format!("plugin:{plugin}"));
    assert_eq!(f["status"], "error", "{f:#}");
    f["message"].as_str().unwrap().to_string()
}

/// `--snapshot` and the recorded snapshot, for an audit's arguments.
fn snap() -> [String; 2] {
    [
        "--snapshot".to_string(),
        fixture_snapshot().display().to_string(),
    ]
}

/// An audit of the recorded snapshot with `args`.
fn audit_snap(args: &[&str]) -> Value {
    let s = snap();
    let mut all = vec![s[0].as_str(), s[1].as_str()];
    all.extend_from_slice(args);
    audit_json(&all)
}

/// Audit with the third-party plugins in `dir` (unsigned allowed unless `args` say more).
fn audit_with(dir: &Path, args: &[&str]) -> Value {
    let dp = dir.display().to_string();
    let mut all = vec!["--plugins", &dp, "--allow-unsigned"];
    all.extend_from_slice(args);
    audit_snap(&all)
}

/// The containers of the recorded snapshot, all running as root.
const ROOT_CONTAINERS: &[&str] = &["db", "web-1", "web-2"];

#[test]
fn hostile_plugins_are_contained() {
    let clean = audit_snap(&[]);
    assert!(builtin_verdicts(&clean).len() >= 90);
    let contained = |plugin: &str, args: &[&str], cause: &str| {
        let dir = plugin_dir(&[plugin]);
        let r = audit_with(dir.path(), args);
        let msg = plugin_error(&r, plugin);
        assert!(
            msg.contains(plugin) && msg.contains(cause),
            "{plugin}: {msg}"
        );
        assert_eq!(builtin_verdicts(&r), builtin_verdicts(&clean), "{plugin}");
        r
    };

    // An infinite loop with fuel to spare is stopped by the wall-clock deadline ...
    contained(
        "looper",
        &["--plugin-timeout", "1", "--fuel", "9000000000000000000"],
        "time limit",
    );
    // ... and under a small budget it runs out of fuel first.
    contained("looper", &["--fuel", "20000000"], "ran out of fuel");
    contained("hog", &["--plugin-memory", "32"], "memory limit of 32 MiB");
    contained("stack", &[], "stack overflow");
    contained("panic", &[], "panicked or aborted");
    contained("garbage", &[], "5.5");
    contained("flood", &[], "bytes of findings");
    contained(
        "huge",
        &["--plugin-max-output", "1024"],
        "more than the limit of 1048576",
    );
    let r = contained("spam", &[], "more than 5000 evidence queries");
    let spam = r["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "spam")
        .unwrap();
    assert!(spam["cost"]["queries"].as_u64().unwrap() > 5000);
}

#[test]
fn evidence_outside_the_grants_is_denied_and_recorded() {
    let dir = plugin_dir(&["snoop", "example"]);
    let clean = audit_snap(&[]);
    // Even an operator granting everything cannot grant what the manifest did not ask.
    let r = audit_with(dir.path(), &["--grant", "all"]);
    assert_eq!(builtin_verdicts(&r), builtin_verdicts(&clean));
    let f = finding(&r, "HOSTILE.SNOOP");
    let details = f["details"].to_string();
    assert!(!details.contains("Ok("), "nothing was answered: {details}");
    assert_eq!(details.matches("Denied").count(), 6, "{details}");
    let outcomes: Vec<(String, String)> = f["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["query"].as_str().unwrap().to_string(),
                e["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for q in [
        "file-read:/etc/shadow",
        "file-stat:/etc/shadow",
        "file-stat:/var/run/docker.sock",
        "container-list",
        "container:web",
        "file-stat:/etc/docker/../shadow",
    ] {
        let o = outcomes
            .iter()
            .find(|(k, _)| k == q)
            .map(|(_, o)| o.as_str());
        assert!(o.is_some_and(|o| o.starts_with("denied: ")), "{q}: {o:?}");
    }
    let snoop = r["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "snoop")
        .unwrap();
    assert_eq!(snoop["grants"], "none");
    assert_eq!(snoop["cost"]["denied"], 6);

    // The example asks for containers: without the operator's grant it cannot decide ...
    let dp = dir.path().display().to_string();
    let ex = audit_snap(&["--plugins", &dp, "--allow-unsigned", "-c", "EX"]);
    assert_eq!(
        status(&ex, "EX.1"),
        "undecided",
        "{:#}",
        finding(&ex, "EX.1")
    );
    // ... with it, it runs.
    let ex = audit_snap(&[
        "--plugins",
        &dp,
        "--allow-unsigned",
        "-c",
        "EX",
        "--grant",
        "example:containers",
    ]);
    assert_eq!(status(&ex, "EX.1"), "warn");
    assert_eq!(offenders(&ex, "EX.1"), set(ROOT_CONTAINERS));
}

/// Minimal WAT components that are refused before any code runs.
const WASI_COMPONENT: &str = r#"(component
  (import "wasi:http/outgoing-handler@0.2.0" (instance))
)"#;
const OTHER_ABI_COMPONENT: &str = r#"(component
  (import "bulwark:plugin/evidence@1.0.0" (instance))
)"#;

/// A plugin built for ABI 0.1.2 (before the typed container record), as users have it,
/// runs on this host and decides as it did; beside it, the record a 0.1.3 plugin gets says
/// what the recorded inspect documents say.
#[test]
fn a_plugin_built_for_an_earlier_abi_runs_and_the_record_reads_like_the_document() {
    let dir = plugin_dir(&["mirror"]);
    let old =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/abi-0.1.2/example.wasm");
    std::fs::copy(old, dir.path().join("example.wasm")).unwrap();
    let r = audit_with(
        dir.path(),
        &[
            "--grant",
            "example:containers",
            "--grant",
            "mirror:containers",
        ],
    );
    assert_eq!(status(&r, "EX.1"), "warn", "{:#}", finding(&r, "EX.1"));
    assert_eq!(offenders(&r, "EX.1"), set(ROOT_CONTAINERS));
    let ex = finding(&r, "EX.1")["evidence"].to_string();
    assert!(
        ex.contains("container-inspect:"),
        "0.1.2 SDKs parse the document: {ex}"
    );
    let f = finding(&r, "T.RECORD");
    assert_eq!(f["status"], "pass", "{f:#}");
    assert_eq!(f["message"], "3 containers checked");
    assert!(f["evidence"].to_string().contains("\"container:"), "{f:#}");
}

#[test]
fn malformed_foreign_and_unsigned_files_never_run() {
    let clean = audit_snap(&[]);
    let dir = plugin_dir(&["example"]);
    let p = |n: &str| dir.path().join(n);
    let bytes = std::fs::read(fixture_plugin("example")).unwrap();
    std::fs::write(p("truncated.wasm"), &bytes[..bytes.len() / 2]).unwrap();
    let mut corrupt = bytes.clone();
    corrupt[8..4096].fill(0xff);
    std::fs::write(p("corrupt.wasm"), &corrupt).unwrap();
    std::fs::write(p("text.wasm"), b"#!/bin/sh\nrm -rf /\n").unwrap();
    std::fs::write(p("wasi.wasm"), wat::parse_str(WASI_COMPONENT).unwrap()).unwrap();
    std::fs::write(p("abi1.wasm"), wat::parse_str(OTHER_ABI_COMPONENT).unwrap()).unwrap();
    std::fs::write(p("nomanifest.wasm"), wat::parse_str("(component)").unwrap()).unwrap();
    std::fs::write(p("core.wasm"), wat::parse_str("(module)").unwrap()).unwrap();
    let r = audit_with(dir.path(), &["--grant", "example:containers"]);
    assert_eq!(builtin_verdicts(&r), builtin_verdicts(&clean));
    for (plugin, cause) in [
        ("truncated", "not a valid WebAssembly file"),
        ("corrupt", "not a valid"),
        ("text", "not a WebAssembly file"),
        (
            "wasi",
            "outside the Bulwark ABI and WASI 0.2 (plugins get nothing else)",
        ),
        ("abi1", "built for ABI 1.0.0, this host speaks 0.1.3"),
        ("nomanifest", "it has no manifest"),
        ("core", "a core WebAssembly module, not a component"),
    ] {
        let msg = plugin_error(&r, plugin);
        assert!(msg.contains(cause), "{plugin}: {msg}");
    }
    // The example plugin, loaded from a directory like any third-party pack, works.
    assert_eq!(status(&r, "EX.1"), "warn");
    assert_eq!(offenders(&r, "EX.1"), set(ROOT_CONTAINERS));
    let ex = r["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "example")
        .unwrap();
    assert_eq!(ex["origin"]["kind"], "file");
    assert_eq!(ex["digest"].as_str().unwrap().len(), 64);
    assert_eq!(ex["version"], "0.1.0");
    assert_eq!(ex["grants"], "containers");

    // Signatures: unsigned plugins do not load by default; signed by a trusted key they do;
    // tampered after signing, nothing of them runs, even with --allow-unsigned.
    let signed = tempfile::tempdir().unwrap();
    let ex_path = signed.path().join("example.wasm");
    std::fs::write(&ex_path, &bytes).unwrap();
    let sd = signed.path().display().to_string();
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("ops");
    let ok = |args: &[&str]| {
        let o = bulwark().args(args).output().unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    // (A plugin that does not load provides no checks to select: run another.)
    let r = audit_snap(&["--plugins", &sd, "-c", "5.1"]);
    assert!(plugin_error(&r, "example").contains("not signed"));
    ok(&["plugin", "keygen", key.to_str().unwrap()]);
    ok(&[
        "plugin",
        "sign",
        ex_path.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]);
    let pubkey = format!("{}.pub", key.display());
    ok(&[
        "plugin",
        "verify",
        ex_path.to_str().unwrap(),
        "--trusted-key",
        &pubkey,
    ]);
    let inspect = ok(&[
        "plugin",
        "inspect",
        ex_path.to_str().unwrap(),
        "--trusted-key",
        &pubkey,
    ]);
    assert!(inspect.contains("requests:   containers"), "{inspect}");
    assert!(inspect.contains("signature:  verified"), "{inspect}");
    let s = snap();
    let args = [
        s[0].as_str(),
        s[1].as_str(),
        "--plugins",
        sd.as_str(),
        "--trusted-key",
        pubkey.as_str(),
        "--grant",
        "example:containers",
        "-c",
        "EX",
    ];
    let r = audit_json(&args);
    assert_eq!(status(&r, "EX.1"), "warn");
    // Someone else's key is not trusted.
    let other = keys.path().join("other");
    ok(&["plugin", "keygen", other.to_str().unwrap()]);
    let r = audit_snap(&[
        "--plugins",
        &sd,
        "-c",
        "5.1",
        "--trusted-key",
        &format!("{}.pub", other.display()),
    ]);
    assert!(plugin_error(&r, "example").contains("not trusted"));
    // Tamper with the signed component: one byte of its manifest.
    let mut tampered = bytes.clone();
    let at = tampered
        .windows(9)
        .position(|w| w == b"\"example\"")
        .expect("the manifest names the plugin");
    tampered[at + 1] = b'E';
    std::fs::write(&ex_path, &tampered).unwrap();
    let mut args2 = args.to_vec();
    args2.push("--allow-unsigned");
    args2[9] = "5.1";
    let r = audit_json(&args2);
    assert!(plugin_error(&r, "example").contains("signature does not match"));
    assert!(r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["check"]["id"] != "EX.1"));
    let o = bulwark()
        .args([
            "plugin",
            "verify",
            ex_path.to_str().unwrap(),
            "--trusted-key",
            &pubkey,
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
}
