//! `cargo xtask bench` (runtime monitoring): the cost of `bulwark watch` on a syscall-heavy
//! loop in a container (5M getppid) against the same loop untraced and against bpftrace
//! counting the same per-cgroup syscalls; and an exec storm (20k fork+exec) for event
//! throughput and loss. Runs against a private dockerd. Prints a table; no pass/fail.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Seconds `docker exec C /bin/bwtool ACTION` takes, median of `n`.
fn timed(d: &common::TestDaemon, action: &str, n: usize) -> f64 {
    median(
        (0..n)
            .map(|_| {
                let t = Instant::now();
                d.docker(&["exec", "loop", "/bin/bwtool", action]);
                t.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

fn start_watch(d: &common::TestDaemon, metrics: &str) -> Child {
    let mut child = common::bulwark()
        .args([
            "watch",
            "-H",
            &d.host(),
            "-f",
            "jsonl",
            "--metrics",
            metrics,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bulwark watch");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    for l in lines.by_ref() {
        if l.map(|l| l.contains("watching containers"))
            .unwrap_or(false)
        {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    std::thread::sleep(Duration::from_millis(1500));
    child
}

fn stop(mut c: Child) {
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(c.id() as i32, libc::SIGINT);
    }
    let _ = c.wait();
}

fn scrape(addr: &str, key: &str) -> f64 {
    let mut s = std::net::TcpStream::connect(addr).expect("metrics");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("request");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("response");
    text.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

/// The container's cgroup v2 id, for bpftrace's filter.
fn cgroup_id(d: &common::TestDaemon) -> u64 {
    let pid: i64 = d
        .docker(&["inspect", "-f", "{{.State.Pid}}", "loop"])
        .parse()
        .expect("pid");
    let root = bulwark::watch::cgroup2_root().expect("cgroup2");
    bulwark::watch::cgroup_id_of(&root, pid).expect("cgroup id")
}

fn main() {
    println!("bulwark watch benchmarks (release build, private dockerd)\n");
    let d = common::TestDaemon::start(&["--iptables=false"], None);
    d.run_container("loop", &["--tmpfs", "/tmp:mode=1777"], &[]);
    let runs = 5;

    let bare = timed(&d, "spin", runs);
    let addr = "127.0.0.1:19464";
    let w = start_watch(&d, addr);
    let watched = timed(&d, "spin", runs);
    let syscalls = scrape(addr, "bulwark_events_total{kind=\"syscall\"}");
    stop(w);

    let cg = cgroup_id(&d);
    let mut bt = Command::new("bpftrace")
        .args([
            "-e",
            &format!(
                "tracepoint:raw_syscalls:sys_enter /cgroup == {cg}/ {{ @[args->id] = count(); }}"
            ),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("bpftrace (cargo xtask bench installs it)");
    let mut out = BufReader::new(bt.stdout.take().expect("stdout")).lines();
    // bpftrace exits when its program does not compile: never time an untraced run as traced.
    let attached = out
        .by_ref()
        .any(|l| l.map(|l| l.contains("Attaching")).unwrap_or(false));
    assert!(attached, "bpftrace did not attach its probe");
    std::thread::sleep(Duration::from_millis(500));
    let traced_bt = timed(&d, "spin", runs);
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(bt.id() as i32, libc::SIGINT);
    }
    let _ = bt.wait();

    println!("syscall-heavy loop (5,000,000 getppid in a container), median of {runs}:");
    println!("  untraced                 {:>8.3} s", bare);
    println!(
        "  bulwark watch            {:>8.3} s  ({:+.1}%)",
        watched,
        (watched / bare - 1.0) * 100.0
    );
    println!(
        "  bpftrace per-cgroup count{:>8.3} s  ({:+.1}%)",
        traced_bt,
        (traced_bt / bare - 1.0) * 100.0
    );
    println!(
        "  (watch: {syscalls} watched-syscall events; getppid is counted in the kernel only;\n   bpftrace: one perf tracepoint counting per syscall id for the same cgroup)\n"
    );

    let bare_exec = timed(&d, "execstorm", 3);
    let w = start_watch(&d, addr);
    // Two storms at once, to offer the probes more execs per second than one loop can.
    let t = Instant::now();
    let storms: Vec<Child> = (0..2)
        .map(|_| {
            d.docker_cmd()
                .args(["exec", "loop", "/bin/bwtool", "execstorm"])
                .stdout(Stdio::null())
                .spawn()
                .expect("docker exec")
        })
        .collect();
    for mut s in storms {
        let _ = s.wait();
    }
    let storm = t.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(500));
    let execs = scrape(addr, "bulwark_events_total{kind=\"exec\"}");
    let lost = scrape(addr, "bulwark_lost_events_total");
    stop(w);
    println!("exec storm (2 × 20,000 fork+exec of /bin/true; untraced: one storm):");
    println!("  untraced                 {:>8.3} s", bare_exec);
    println!(
        "  bulwark watch            {:>8.3} s for both, {execs} exec events, {:.0}/s, {lost} lost",
        storm,
        execs / storm
    );
}
