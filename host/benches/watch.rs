//! `cargo xtask bench` (runtime monitoring). Against a private dockerd:
//! - the cost of `bulwark watch` on syscall-heavy loops in a watched container (getppid;
//!   small writes and reads on a pipe), against the same loops untraced and against
//!   bpftrace counting the same per-cgroup syscalls;
//! - what it costs a process it does not watch (the same getppid loop on the host);
//! - event throughput and loss: a chmod storm (two events per call, the same record size
//!   and path as exec events), an exec storm (fork+exec of a real program), and exec
//!   chains (a tiny static program exec'ing itself, the fastest way this host has to make
//!   exec events), with the CPU time watch spent per event.
//!
//! Prints a table; no pass/fail.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Seconds `/bin/bwtool ACTION` in the container reports for its own loop, median of `n`.
fn timed(d: &common::TestDaemon, action: &str, n: usize) -> f64 {
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

/// Seconds for 5M getppid in this process (not in any container), median of `n`.
fn host_spin(n: usize) -> f64 {
    median(
        (0..n)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..5_000_000 {
                    // SAFETY: getppid has no arguments and no effects.
                    unsafe { libc::syscall(libc::SYS_getppid) };
                }
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

/// CPU seconds (user + system) a process has used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the parenthesised command: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (f[11] + f[12]) / hz
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

/// Run `storms` copies of `bwtool ACTION` at once under watch; (seconds, events of
/// `kinds`, lost, watch CPU seconds).
fn storm(
    d: &common::TestDaemon,
    w: &Child,
    addr: &str,
    action: &str,
    storms: usize,
    kinds: &[&str],
) -> (f64, f64, f64, f64) {
    storm_with(w, addr, kinds, || {
        parallel(d, &["/bin/bwtool", action], storms)
    })
}

/// Run `load` (which returns its seconds) under watch; (seconds, events of `kinds`, lost,
/// watch CPU seconds).
fn storm_with(
    w: &Child,
    addr: &str,
    kinds: &[&str],
    load: impl FnOnce() -> f64,
) -> (f64, f64, f64, f64) {
    let count = |addr: &str| {
        kinds
            .iter()
            .map(|k| scrape(addr, &format!("bulwark_events_total{{kind=\"{k}\"}}")))
            .sum::<f64>()
    };
    let (events0, lost0, cpu0) = (
        count(addr),
        scrape(addr, "bulwark_lost_events_total"),
        cpu_seconds(w.id()),
    );
    let secs = load();
    // Let the reader drain what is still in the ring buffer.
    std::thread::sleep(Duration::from_millis(1000));
    (
        secs,
        count(addr) - events0,
        scrape(addr, "bulwark_lost_events_total") - lost0,
        cpu_seconds(w.id()) - cpu0,
    )
}

/// Build `execchain` (C, no libc) with the system C compiler and copy it into the
/// container as /bin/execchain.
fn install_execchain(d: &common::TestDaemon) {
    let dir = std::env::temp_dir().join(format!("bulwark-execchain-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let src = dir.join("execchain.c");
    std::fs::write(&src, include_str!("execchain.c")).expect("write");
    let bin = dir.join("execchain");
    let ok = Command::new("cc")
        .args(["-O2", "-static", "-nostdlib", "-fno-stack-protector", "-o"])
        .arg(&bin)
        .arg(&src)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "cc could not build execchain.c");
    d.docker(&["cp", &bin.display().to_string(), "loop:/bin/execchain"]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Seconds for `n` copies of `docker exec loop CMD...` run at once.
fn parallel(d: &common::TestDaemon, cmd: &[&str], n: usize) -> f64 {
    let t = Instant::now();
    let children: Vec<Child> = (0..n)
        .map(|_| {
            d.docker_cmd()
                .args(["exec", "loop"])
                .args(cmd)
                .stdout(Stdio::null())
                .spawn()
                .expect("docker exec")
        })
        .collect();
    for mut c in children {
        let _ = c.wait();
    }
    t.elapsed().as_secs_f64()
}

/// Seconds for `n` exec chains of `steps` execs each, at once.
fn chains(d: &common::TestDaemon, steps: u32, n: usize) -> f64 {
    parallel(d, &["/bin/execchain", &steps.to_string()], n)
}

fn main() {
    println!("bulwark watch benchmarks (release build, private dockerd)\n");
    let d = common::TestDaemon::start(&["--iptables=false"], None);
    d.run_container("loop", &["--tmpfs", "/tmp:mode=1777"], &[]);
    let runs = 5;
    // (bwtool action, what it does, syscalls it makes)
    let loops = [
        ("spin", "5,000,000 getppid", 5_000_000.0),
        ("rw", "1,000,000 x (write + read 64 B, pipe)", 2_000_000.0),
    ];

    let bare: Vec<f64> = loops.iter().map(|l| timed(&d, l.0, runs)).collect();
    let host_bare = host_spin(runs);

    let addr = "127.0.0.1:19464";
    let w = start_watch(&d, addr);
    let watched: Vec<f64> = loops.iter().map(|l| timed(&d, l.0, runs)).collect();
    let host_watched = host_spin(runs);
    let syscall_events = scrape(addr, "bulwark_events_total{kind=\"syscall\"}");
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
    let traced_bt: Vec<f64> = loops.iter().map(|l| timed(&d, l.0, runs)).collect();
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(bt.id() as i32, libc::SIGINT);
    }
    let _ = bt.wait();

    let row = |label: &str, secs: f64, base: f64, calls: f64| {
        println!(
            "  {label:<26}{secs:>8.3} s  {:>+7.1}%  {:>+6.0} ns/syscall",
            (secs / base - 1.0) * 100.0,
            (secs - base) / calls * 1e9
        );
    };
    println!("syscall-heavy loops in a watched container, median of {runs} (loop time only):");
    for (i, (_, what, calls)) in loops.iter().enumerate() {
        println!(" {what}:");
        println!("  {:<26}{:>8.3} s", "untraced", bare[i]);
        row("bulwark watch", watched[i], bare[i], *calls);
        row("bpftrace per-cgroup count", traced_bt[i], bare[i], *calls);
    }
    println!(" 5,000,000 getppid on the host, in no container (unwatched):");
    println!("  {:<26}{:>8.3} s", "no watch running", host_bare);
    row(
        "bulwark watch running",
        host_watched,
        host_bare,
        5_000_000.0,
    );
    println!(
        "  (watch: {syscall_events} watched-syscall events; these loops are counted in the\n   kernel only. bpftrace: one perf tracepoint counting per syscall id for the cgroup)\n"
    );

    // Untraced baselines first, then everything under one watch.
    install_execchain(&d);
    let steps = 50_000;
    let bare_chain = chains(&d, steps, 2);
    let bare_exec = timed(&d, "execstorm", 3);
    let w = start_watch(&d, addr);
    let (secs, events, lost, cpu) = storm(&d, &w, addr, "storm", 1, &["syscall", "syscall-exit"]);
    println!("event throughput (200,000 chmod in a container: an event on entry and on exit):");
    println!(
        "  {events} events in {secs:.2} s: {:.0}/s, {lost} lost; watch used {cpu:.2} CPU s ({:.1} us/event)",
        events / secs,
        cpu / events.max(1.0) * 1e6
    );
    let (secs, events, lost, cpu) = storm_with(&w, addr, &["exec"], || chains(&d, steps, 2));
    println!("exec chains (2 x {steps} execs at once of a tiny static program exec'ing itself):");
    println!(
        "  untraced                   {bare_chain:>8.3} s ({:.0} execs/s)",
        2.0 * steps as f64 / bare_chain
    );
    println!(
        "  bulwark watch              {secs:>8.3} s: {events} exec events, {:.0}/s, {lost} lost;\n  watch used {cpu:.2} CPU s ({:.1} us/event)",
        events / secs,
        cpu / events.max(1.0) * 1e6
    );
    let (secs, events, lost, cpu) = storm(&d, &w, addr, "execstorm", 2, &["exec", "fork", "exit"]);
    stop(w);
    println!("exec storm (2 x 20,000 fork+exec of /bin/true at once; untraced: one storm):");
    println!(
        "  untraced, one storm        {bare_exec:>8.3} s ({:.0} execs/s)",
        20_000.0 / bare_exec
    );
    println!(
        "  bulwark watch              {secs:>8.3} s for both: {events} exec/fork/exit events, {:.0}/s, {lost} lost;\n  watch used {cpu:.2} CPU s ({:.1} us/event)",
        events / secs,
        cpu / events.max(1.0) * 1e6
    );
}
