//! The plugin sandbox: hostile plugins are stopped with a clear error finding naming the
//! plugin and the cause, and every other finding is exactly what a clean run gives.

mod common;

use common::*;
use serde_json::Value;

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
                Some("cis-daemon" | "cis-runtime")
            )
        })
        .cloned()
        .collect()
}

fn plugin_error<'a>(r: &'a Value, plugin: &str) -> &'a Value {
    let f = finding(r, &format!("plugin:{plugin}"));
    assert_eq!(f["status"], "error", "{f:#}");
    f
}

#[test]
fn hostile_plugins_are_contained() {
    let d = TestDaemon::start(&["--iptables=false"], None);
    d.run_container("web", &["--memory", "32m"], &[]);
    let host = d.host();
    let clean = audit_json(&["-H", &host]);
    assert!(builtin_verdicts(&clean).len() >= 50);

    // Time: an infinite loop with fuel to spare is stopped by the wall-clock deadline.
    let dir = plugin_dir(&["looper"]);
    let dp = dir.path().display().to_string();
    let r = audit_json(&[
        "-H",
        &host,
        "--plugins",
        &dp,
        "--plugin-timeout",
        "1",
        "--fuel",
        "9000000000000000000",
    ]);
    let msg = plugin_error(&r, "looper")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("looper") && msg.contains("time limit"),
        "{msg}"
    );
    assert_eq!(builtin_verdicts(&r), builtin_verdicts(&clean));

    // Fuel: the same loop under a small budget runs out of fuel first.
    let r = audit_json(&["-H", &host, "--plugins", &dp, "--fuel", "20000000"]);
    let msg = plugin_error(&r, "looper")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains("ran out of fuel"), "{msg}");
    assert_eq!(builtin_verdicts(&r), builtin_verdicts(&clean));

    // Memory: a plugin allocating without end hits the cap.
    let dir = plugin_dir(&["hog"]);
    let dp = dir.path().display().to_string();
    let r = audit_json(&["-H", &host, "--plugins", &dp, "--plugin-memory", "32"]);
    let msg = plugin_error(&r, "hog")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains("memory limit of 32 MiB"), "{msg}");
    assert_eq!(builtin_verdicts(&r), builtin_verdicts(&clean));

    // Garbage: a verdict for another plugin's check is refused, not believed.
    let dir = plugin_dir(&["garbage"]);
    let dp = dir.path().display().to_string();
    let r = audit_json(&["-H", &host, "--plugins", &dp]);
    let msg = plugin_error(&r, "garbage")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("returned garbage") && msg.contains("5.5"),
        "{msg}"
    );
    assert_eq!(builtin_verdicts(&r), builtin_verdicts(&clean));
}

#[test]
fn broken_files_are_refused_and_a_third_party_plugin_runs() {
    let d = TestDaemon::start(&["--iptables=false"], None);
    d.run_container("rooty", &[], &[]);
    let dir = plugin_dir(&["example"]);
    let bytes = std::fs::read(fixture_plugin("example")).unwrap();
    std::fs::write(dir.path().join("truncated.wasm"), &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(dir.path().join("text.wasm"), b"#!/bin/sh\nrm -rf /\n").unwrap();
    let dp = dir.path().display().to_string();
    let r = audit_json(&["-H", &d.host(), "--plugins", &dp]);

    let t = plugin_error(&r, "truncated")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(t.contains("not a valid component"), "{t}");
    let t = plugin_error(&r, "text")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(t.contains("not a WebAssembly file"), "{t}");

    // The example plugin, loaded from a directory like any third-party pack, works.
    assert_eq!(status(&r, "EX.1"), "warn");
    assert_eq!(offenders(&r, "EX.1"), set(&["rooty"]));
    let plugins = r["plugins"].as_array().unwrap();
    let ex = plugins.iter().find(|p| p["name"] == "example").unwrap();
    assert_eq!(ex["origin"]["kind"], "file");
    assert_eq!(ex["digest"].as_str().unwrap().len(), 64);
}
