//! `cargo xtask bench` (profiles). Against a private dockerd, side by side in one run:
//! - what `bulwark profile record` costs a recorded container, on the same loops as the
//!   `watch` benchmark (getppid; 64-byte writes and reads on a pipe), untraced and under
//!   `watch --count-syscalls` (the same counter without profiling's extras) for comparison;
//! - how small the generated profiles are: names allowed for the test workloads (a static
//!   program doing file, time, random and socket work; busybox httpd serving a file; a shell
//!   loop) against Docker's default profile resolved for them.
//!
//! Prints tables; it does not fail.

#[path = "../../tests/common/mod.rs"]
mod common;
mod loops;

use loops::{pct, start, stop, LOOPS};
use std::time::Duration;

fn loops(d: &common::TestDaemon, runs: usize) -> Vec<f64> {
    loops::in_container(d, runs)
}

fn mean(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| (x + y) / 2.0).collect()
}

fn json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json")
}

fn main() {
    println!("bulwark profile benchmarks (release build, private dockerd)\n");
    let d = common::TestDaemon::start(&["--iptables=false"], None);
    d.run_container("loop", &["--tmpfs", "/tmp:mode=1777"], &[]);
    let runs = 7;
    let host = d.host();
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().display().to_string();

    let before = loops(&d, runs);
    let rec = start(
        &[
            "profile",
            "record",
            "-H",
            &host,
            "--duration",
            "3600",
            "-o",
            &out,
            "loop",
        ],
        "recording",
        Duration::from_millis(1000),
    );
    let recording = loops(&d, runs);
    stop(rec);
    let between = loops(&d, runs);
    let watch = start(
        &["watch", "-H", &host, "-f", "jsonl", "--count-syscalls"],
        "watching containers",
        Duration::from_millis(1000),
    );
    let counting = loops(&d, runs);
    stop(watch);
    let after = loops(&d, runs);
    let base_rec = mean(&before, &between);
    let base_watch = mean(&between, &after);

    println!(
        "recording overhead, median of {runs} (loop time only; untraced = the runs around each):"
    );
    for (i, (_, what, calls)) in LOOPS.iter().enumerate() {
        println!(" {what} in the recorded container:");
        println!(
            "  profile record             untraced {:.3} s  recorded {:.3} s ({:+.1}%, {:+.0} ns/syscall)",
            base_rec[i],
            recording[i],
            pct(recording[i], base_rec[i]),
            (recording[i] - base_rec[i]) / calls * 1e9
        );
        println!(
            "  watch --count-syscalls     untraced {:.3} s  watched  {:.3} s ({:+.1}%, {:+.0} ns/syscall)",
            base_watch[i],
            counting[i],
            pct(counting[i], base_watch[i]),
            (counting[i] - base_watch[i]) / calls * 1e9
        );
    }

    // Profile sizes: the workloads recorded from their start; the shell loop already runs
    // under Docker's default, which resolves to its allowed names.
    d.run_container(
        "idle",
        &[],
        &[
            "/bin/sh",
            "-c",
            "while true; do cat /etc/hostname >/dev/null; sleep 0.2; done",
        ],
    );
    let rec = start(
        &[
            "profile",
            "record",
            "-H",
            &host,
            "--new",
            "--duration",
            "8",
            "-o",
            &out,
            "idle",
        ],
        "recording",
        Duration::from_millis(1000),
    );
    let unconfined = "seccomp=unconfined";
    d.run_container(
        "work",
        &["--security-opt", unconfined],
        &["/bin/bwtool", "work"],
    );
    d.run_container(
        "web",
        &["--security-opt", unconfined],
        &[
            "/bin/sh",
            "-c",
            "busybox mkdir -p /tmp/www && echo hi > /tmp/www/index.html && exec busybox httpd -f -p 80 -h /tmp/www",
        ],
    );
    std::thread::sleep(Duration::from_millis(1500));
    let _ = d
        .docker_cmd()
        .args([
            "exec",
            "web",
            "busybox",
            "wget",
            "-q",
            "-O",
            "-",
            "http://127.0.0.1/index.html",
        ])
        .output();
    let _ = rec.wait_with_output();
    let idle = json(&dir.path().join("idle.profile.json"));
    let default_allows = idle["seccomp"]["allowed_now"].as_u64().unwrap_or(0);
    println!("\nprofile size (names allowed) against Docker's default for Docker's default capabilities ({default_allows} names):");
    for (name, what) in [
        (
            "work",
            "static workload: file, time, random, sockets (start-up included)",
        ),
        ("web", "busybox httpd serving a file (start-up included)"),
        ("idle", "shell loop (recorded running: no start-up)"),
    ] {
        let doc = json(&dir.path().join(format!("{name}.profile.json")));
        let n = doc["seccomp"]["allowed"].as_u64().unwrap_or(0);
        println!(
            "  {what:<66} {n:>3} names ({:.0}% of the default)",
            n as f64 / default_allows.max(1) as f64 * 100.0
        );
    }
}
