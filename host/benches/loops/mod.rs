//! What the `watch` and `profile` benchmarks share: the syscall-heavy loops timed inside the
//! `loop` container, and starting and stopping a `bulwark` process beside them.

use super::common;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::Duration;

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Seconds `/bin/bwtool ACTION` in the container reports for its own loop, median of `n`.
pub fn timed(d: &common::TestDaemon, action: &str, n: usize) -> f64 {
    median(
        (0..n)
            .map(|_| {
                let out = d.docker(&["exec", "loop", "/bin/bwtool", action]);
                let ns: f64 = out
                    .split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse().ok())
                    .expect("bwtool reports its time");
                ns / 1e9
            })
            .collect(),
    )
}

/// (bwtool action, what it does, syscalls it makes)
pub const LOOPS: [(&str, &str, f64); 2] = [
    ("spin", "5,000,000 getppid", 5_000_000.0),
    ("rw", "1,000,000 x (write + read 64 B, pipe)", 2_000_000.0),
];

/// Each loop's seconds in the container, median of `runs`.
pub fn in_container(d: &common::TestDaemon, runs: usize) -> Vec<f64> {
    LOOPS.iter().map(|l| timed(d, l.0, runs)).collect()
}

/// Start `bulwark ARGS`, wait until it says `ready` on stderr, then `settle` more.
pub fn start(args: &[&str], ready: &str, settle: Duration) -> Child {
    let mut child = common::bulwark()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bulwark");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    for l in lines.by_ref() {
        if l.map(|l| l.contains(ready)).unwrap_or(false) {
            break;
        }
    }
    // Keep draining stderr so the child never blocks on it.
    std::thread::spawn(move || for _ in lines {});
    std::thread::sleep(settle);
    child
}

/// Interrupt a started process and wait for it.
pub fn stop(mut c: Child) {
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(c.id() as i32, libc::SIGINT);
    }
    let _ = c.wait();
}

pub fn pct(secs: f64, base: f64) -> f64 {
    (secs / base - 1.0) * 100.0
}
