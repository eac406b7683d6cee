//! `cargo xtask bench` (runtime monitoring). Against a private dockerd, side by side in
//! one run, for each cost tier of what `bulwark watch` attaches:
//! - tier 1, the default (the built-in rules that need nothing on the syscall path);
//! - tier 2, `--rules all` (rules that need per-syscall tracepoints loaded);
//! - tier 3, `--count-syscalls` (every syscall counted in the kernel);
//!
//! it measures syscall-heavy loops (getppid; 64-byte writes and reads on a pipe) in a
//! watched container and getppid in an unwatched process on the host, untraced, under
//! `watch`, and under the tier's floor (`--floor`: the same attach points with programs
//! that return at once, so Bulwark's own share is visible); bpftrace counting the same
//! syscalls for tier 3; and, per tier, exec-chain throughput and loss (a tiny static
//! program exec'ing itself, the fastest way this host makes exec events), plus a chmod
//! storm and a fork+exec storm, with the CPU `watch` spends per event; and a ring buffer
//! flooded for minutes (`-- flood` runs only that), with the watch's memory over time.
//!
//! Prints tables and each target's verdict; it does not fail.

#[path = "../../tests/common/mod.rs"]
mod common;
mod loops;

use loops::{median, pct, start, stop, timed, LOOPS};

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

fn start_watch(d: &common::TestDaemon, metrics: &str, extra: &[&str]) -> Child {
    let host = d.host();
    let mut args = vec!["watch", "-H", &host, "-f", "jsonl", "--metrics", metrics];
    args.extend_from_slice(extra);
    start(&args, "watching containers", Duration::from_millis(1500))
}

fn scrape(addr: &str, key: &str) -> f64 {
    let mut s = std::net::TcpStream::connect(addr).expect("metrics");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
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

/// What `watch` attaches for each tier, and the flags that ask for it.
const TIERS: [(&str, &[&str]); 4] = [
    ("tier 1 (default rules)", &[]),
    ("tier 2 (--rules all)", &["--rules", "all"]),
    // The same without R.MODULE, whose syscalls this kernel compiled out: it alone needs
    // raw_syscalls/sys_enter here to see their attempts.
    (
        "tier 2 (syscalls with tracepoints)",
        &[
            "--rules",
            "default,R.NAMESPACE,R.MOUNT,R.PTRACE,R.CAPSET,R.SETUID_BITS",
        ],
    ),
    ("tier 3 (--count-syscalls)", &["--count-syscalls"]),
];

/// Loop seconds in the container (one per LOOPS entry), then on the host.
type Times = (Vec<f64>, f64);

/// A tier's name, its times under watch, and under its floor.
type TierTimes<'a> = (&'a str, Times, Times);

fn loops(d: &common::TestDaemon, runs: usize) -> Times {
    (loops::in_container(d, runs), host_spin(runs))
}

/// The loops under `watch` with `args`.
fn under_watch(d: &common::TestDaemon, addr: &str, args: &[&str], runs: usize) -> Times {
    let w = start_watch(d, addr, args);
    let out = loops(d, runs);
    stop(w);
    out
}

/// The loops under bpftrace counting the container's syscalls.
fn under_bpftrace(d: &common::TestDaemon, runs: usize) -> Vec<f64> {
    let cg = cgroup_id(d);
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
    let traced = loops::in_container(d, runs);
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(bt.id() as i32, libc::SIGINT);
    }
    let _ = bt.wait();
    traced
}

fn main() {
    println!("bulwark watch benchmarks (release build, private dockerd)\n");
    let d = common::TestDaemon::start(&["--iptables=false"], None);
    d.run_container("loop", &["--tmpfs", "/tmp:mode=1777"], &[]);
    let runs = 7;
    let addr = "127.0.0.1:19464";
    // `cargo bench -p bulwark --bench watch -- flood`: only the minutes-long flood.
    if std::env::args().any(|a| a == "flood") {
        flood(&d, addr);
        return;
    }

    // Side by side, with an untraced measurement between every two configurations: this VM
    // drifts by several percent over a minute, so each configuration is compared with the
    // mean of the untraced runs just before and just after it.
    let mut bare_runs = vec![loops(&d, runs)];
    let mut tiers = Vec::new();
    let mut baselines = Vec::new();
    for (name, args) in TIERS {
        let real = under_watch(&d, addr, args, runs);
        bare_runs.push(loops(&d, runs));
        let mut floor_args = args.to_vec();
        floor_args.push("--floor");
        let floor = under_watch(&d, addr, &floor_args, runs);
        bare_runs.push(loops(&d, runs));
        let n = bare_runs.len();
        baselines.push(mean(&bare_runs[n - 3..]));
        tiers.push((name, real, floor));
    }
    let bt = under_bpftrace(&d, runs);
    bare_runs.push(loops(&d, runs));
    let bt_base = mean(&bare_runs[bare_runs.len() - 2..]);
    let own = program_cost(&d, addr, runs);

    println!("syscall-heavy loops, median of {runs} (loop time only); overhead vs the untraced runs around each:");
    for (i, (_, what, calls)) in LOOPS.iter().enumerate() {
        println!(" {what} in a watched container:");
        for ((name, real, floor), base) in tiers.iter().zip(&baselines) {
            let (r, f, b) = (real.0[i], floor.0[i], base.0[i]);
            println!(
                "  {name:<28} untraced {b:.3} s  floor {f:.3} s ({:+.1}%)  watch {r:.3} s ({:+.1}%, {:+.0} ns/syscall)",
                pct(f, b),
                pct(r, b),
                (r - b) / calls * 1e9,
            );
        }
        println!(
            "  {:<28} untraced {:.3} s  {:.3} s ({:+.1}%)",
            "bpftrace counting",
            bt_base.0[i],
            bt[i],
            pct(bt[i], bt_base.0[i])
        );
    }
    println!(" 5,000,000 getppid on the host, unwatched:");
    for ((name, real, floor), base) in tiers.iter().zip(&baselines) {
        println!(
            "  {name:<28} untraced {:.3} s  floor {:.3} s ({:+.1}%)  watch {:.3} s ({:+.1}%)",
            base.1,
            floor.1,
            pct(floor.1, base.1),
            real.1,
            pct(real.1, base.1)
        );
    }
    println!(
        " the all-syscall counter's own run time, as the kernel measures it (BPF statistics on): {own:.1} ns per syscall"
    );
    targets(&tiers, &baselines, &bt, &bt_base);
    throughput(&d, addr);
    flood(&d, addr);
}

fn mean(runs: &[Times]) -> Times {
    let n = runs.len() as f64;
    let k = runs[0].0.len();
    (
        (0..k)
            .map(|i| runs.iter().map(|r| r.0[i]).sum::<f64>() / n)
            .collect(),
        runs.iter().map(|r| r.1).sum::<f64>() / n,
    )
}

/// Nanoseconds the all-syscall counting program itself runs per syscall (the kernel's BPF
/// statistics, on only for this measurement: they cost a clock read per run).
fn program_cost(d: &common::TestDaemon, addr: &str, runs: usize) -> f64 {
    let w = start_watch(d, addr, &["--count-syscalls", "--program-stats"]);
    let before = (
        scrape(
            addr,
            "bulwark_probe_program_runs_total{program=\"count_syscall\"}",
        ),
        scrape(
            addr,
            "bulwark_probe_program_run_seconds_total{program=\"count_syscall\"}",
        ),
    );
    let _ = timed(d, "spin", runs);
    std::thread::sleep(Duration::from_millis(300));
    let after = (
        scrape(
            addr,
            "bulwark_probe_program_runs_total{program=\"count_syscall\"}",
        ),
        scrape(
            addr,
            "bulwark_probe_program_run_seconds_total{program=\"count_syscall\"}",
        ),
    );
    stop(w);
    (after.1 - before.1) / (after.0 - before.0).max(1.0) * 1e9
}

/// The targets, each with its verdict.
fn targets(tiers: &[TierTimes], baselines: &[Times], bt: &[f64], bt_base: &Times) {
    println!("\ntargets:");
    let (t1, b1) = (&tiers[0].1, &baselines[0]);
    let worst =
        t1.0.iter()
            .zip(&b1.0)
            .map(|(r, b)| pct(*r, *b))
            .chain([pct(t1.1, b1.1)])
            .fold(f64::MIN, f64::max);
    println!(
        "  default watch <= 5% on both loops, watched and unwatched: worst {worst:+.1}% -> {}",
        if worst <= 5.0 { "met" } else { "NOT met" }
    );
    for ((name, real, floor), base) in tiers.iter().zip(baselines).skip(1) {
        let bare = &base.0;
        for (j, (_, what, _)) in LOOPS.iter().enumerate() {
            let ratio = (real.0[j] - bare[j]).max(0.0) / (floor.0[j] - bare[j]).max(1e-9);
            println!(
                "  {name}: Bulwark's cost <= 1.2x the floor on {what}: {ratio:.2}x -> {}",
                if ratio <= 1.2 { "met" } else { "NOT met" }
            );
            if name.starts_with("tier 3") {
                let cheaper = (bt[j] - bt_base.0[j]) / (real.0[j] - bare[j]).max(1e-9);
                println!(
                    "  {name}: >= 3x cheaper than bpftrace on {what}: {cheaper:.1}x -> {}",
                    if cheaper >= 3.0 { "met" } else { "NOT met" }
                );
            }
        }
    }
}

/// Event throughput and loss in every tier (exec chains), then a chmod storm and a
/// fork+exec storm under tier 2 (where chmod is watched).
fn throughput(d: &common::TestDaemon, addr: &str) {
    install_execchain(d);
    let steps = 50_000;
    let bare_chain = chains(d, steps, 2);
    println!(
        "\nexec chains (2 x {steps} execs at once of a tiny static program exec'ing itself; untraced {bare_chain:.3} s, {:.0} execs/s):",
        2.0 * steps as f64 / bare_chain
    );
    for (name, args) in TIERS {
        let w = start_watch(d, addr, args);
        let (secs, events, lost, cpu) = storm_with(&w, addr, &["exec"], || chains(d, steps, 2));
        stop(w);
        println!(
            "  {name:<28} {secs:.3} s: {events} exec events, {:.0}/s, {lost} lost; watch used {cpu:.2} CPU s ({:.1} us/event) -> {}",
            events / secs,
            cpu / events.max(1.0) * 1e6,
            if lost == 0.0 && events / secs >= 20_000.0 { "0 lost at >= 20k/s: met" } else { "0 lost at >= 20k/s: NOT met" }
        );
    }
    let bare_exec = timed(d, "execstorm", 3);
    let w = start_watch(d, addr, TIERS[1].1);
    let (secs, events, lost, cpu) = storm(d, &w, addr, "storm", 1, &["syscall", "syscall-exit"]);
    println!("chmod storm under tier 2 (200,000 chmod: an event on entry and on exit):");
    println!(
        "  {events} events in {secs:.2} s: {:.0}/s, {lost} lost; watch used {cpu:.2} CPU s ({:.1} us/event)",
        events / secs,
        cpu / events.max(1.0) * 1e6
    );
    let (secs, events, lost, cpu) = storm(d, &w, addr, "execstorm", 2, &["exec", "fork", "exit"]);
    stop(w);
    println!("exec storm under tier 2 (2 x 20,000 fork+exec of /bin/true at once; untraced: one storm {bare_exec:.3} s, {:.0} execs/s):", 20_000.0 / bare_exec);
    println!(
        "  {secs:.3} s for both: {events} exec/fork/exit events, {:.0}/s, {lost} lost; watch used {cpu:.2} CPU s ({:.1} us/event)",
        events / secs,
        cpu / events.max(1.0) * 1e6
    );
}

/// The watch's resident memory, KiB.
fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:")
}

/// A `/proc/PID/status` line in KiB (`VmRSS:`, `VmHWM:` for the peak).
fn status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Seconds of the sustained flood.
const FLOOD_SECS: u64 = 180;

/// A ring buffer flooded for minutes: chmod storms back to back under tier 2 with a 16 KiB
/// ring buffer. Lost events are counted, and the watch's memory stays flat.
fn flood(d: &common::TestDaemon, addr: &str) {
    let w = start_watch(d, addr, &["--rules", "all", "--ring-buffer", "16"]);
    let started = Instant::now();
    let mut samples = vec![rss_kib(w.id())];
    let mut next = Duration::from_secs(30);
    while started.elapsed() < Duration::from_secs(FLOOD_SECS) {
        parallel(d, &["/bin/bwtool", "storm"], 2);
        if started.elapsed() >= next {
            samples.push(rss_kib(w.id()));
            next += Duration::from_secs(30);
        }
    }
    std::thread::sleep(Duration::from_millis(1000));
    samples.push(rss_kib(w.id()));
    let events = scrape(addr, "bulwark_events_total{kind=\"syscall\"}");
    let lost = scrape(addr, "bulwark_lost_events_total");
    let dropped = scrape(addr, "bulwark_dropped_events_total");
    // The kernel's high-water mark: a peak between two samples counts too.
    let hwm = status_kib(w.id(), "VmHWM:") as f64;
    stop(w);
    let mib: Vec<String> = samples
        .iter()
        .map(|k| format!("{:.1}", *k as f64 / 1024.0))
        .collect();
    println!(
        "flood for {FLOOD_SECS} s (chmod storms back to back, tier 2, 16 KiB ring buffer): {events} syscall events, {lost} lost, {dropped} dropped in user space; watch RSS every 30 s (MiB): {}",
        mib.join(" ")
    );
    // From the first sample under load (buffers filled) to the last.
    let (first, last) = (
        samples.get(1).copied().unwrap_or(0) as f64,
        samples.last().copied().unwrap_or(0) as f64,
    );
    let start = samples.first().copied().unwrap_or(0) as f64;
    println!(
        "  peak (VmHWM) {:.1} MiB, {:+.1} MiB over the idle watch's {:.1} MiB; no growth under a flood: {:+.1} MiB from 30 s to the end, lost events counted -> {}",
        hwm / 1024.0,
        (hwm - start) / 1024.0,
        start / 1024.0,
        (last - first) / 1024.0,
        if lost > 0.0 && last - first < 4.0 * 1024.0 && hwm - start <= 32.0 * 1024.0 {
            "met (peak within 32 MiB of idle, no drift)"
        } else {
            "NOT met (peak within 32 MiB of idle, no drift)"
        }
    );
}
