//! `cargo xtask bench` (scale): a default audit of 500 and 1,000 running containers against
//! the list+inspect floor measured in the same run, the cost per container, peak RSS, each
//! plugin's share, the fastest evidence pool size, the SARIF and `-n` limits at that scale,
//! and what reading containers as the host's typed record saves a plugin over parsing their
//! inspect documents itself. Runs against a private dockerd (see tests/common). Prints a
//! table; no pass/fail.

#[path = "../../tests/common/mod.rs"]
mod common;

use bulwark::evidence::{live, Answer, Query};
use futures_util::StreamExt;
use serde_json::Value;
use std::path::Path;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Run `bulwark audit ARGS -H host` once; (wall ms, peak RSS KiB, stdout).
fn audit_once(host: &str, args: &[&str]) -> (f64, i64, Vec<u8>) {
    let out = tempfile::NamedTempFile::new().expect("tmp");
    let mut cmd = common::bulwark();
    cmd.args(["audit", "-H", host]).args(args);
    let (status, wall, kib) = common::timed(&cmd, out.reopen().expect("reopen").into());
    assert!(status.success(), "bulwark audit failed");
    (wall, kib, std::fs::read(out.path()).expect("read output"))
}

/// Median and min wall time and the largest peak RSS of `runs` audits (after a warm-up).
fn audit_stats(host: &str, args: &[&str], runs: usize) -> (f64, f64, f64) {
    audit_once(host, args);
    let r: Vec<(f64, i64)> = (0..runs)
        .map(|_| {
            let (w, rss, _) = audit_once(host, args);
            (w, rss)
        })
        .collect();
    let min = r.iter().map(|x| x.0).fold(f64::MAX, f64::min);
    let rss = r.iter().map(|x| x.1).max().unwrap_or(0) as f64 / 1024.0;
    (median(r.iter().map(|x| x.0).collect()), min, rss)
}

/// List the containers, then inspect each, `pool` at a time: what the daemon costs.
fn floor(rt: &tokio::runtime::Runtime, host: &str, n: usize, pool: usize) -> f64 {
    let times: Vec<f64> = (0..5)
        .map(|_| {
            rt.block_on(async {
                let c = live::Collector::new(Some(host.to_string()));
                let started = Instant::now();
                let ids: Vec<String> = match c.collect(&Query::ContainerList).await {
                    Ok(Answer::Containers(v)) => v.into_iter().map(|c| c.id).collect(),
                    other => panic!("container list: {other:?}"),
                };
                assert_eq!(ids.len(), n);
                futures_util::stream::iter(ids)
                    .for_each_concurrent(pool, |id| {
                        let c = &c;
                        async move {
                            c.collect(&Query::ContainerInspect { id })
                                .await
                                .expect("inspect");
                        }
                    })
                    .await;
                started.elapsed().as_secs_f64() * 1000.0
            })
        })
        .collect();
    median(times)
}

/// What fixture plugin `plugin` itself spent on its one check `T.READ`, replayed from
/// `snap` (no daemon in the way): its wall time in ms and its fuel.
fn read_cost(snap: &Path, plugin: &str) -> (f64, u64) {
    let dir = tempfile::tempdir().expect("tmp");
    let wasm = dir.path().join(format!("{plugin}.wasm"));
    std::fs::copy(common::fixture_plugin(plugin), wasm).expect("copy the plugin");
    let o = common::run(
        common::bulwark()
            .args(["audit", "-f", "json", "-c", "T.READ", "--snapshot"])
            .arg(snap)
            .args([
                "--allow-unsigned",
                "--grant",
                "mirror:containers",
                "--plugins",
            ])
            .arg(dir.path()),
    );
    let r: Value = serde_json::from_slice(&o.stdout).expect("json report");
    let read = r["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["check"]["id"] == "T.READ"));
    assert_eq!(
        read.map(|f| &f["status"]),
        Some(&Value::from("pass")),
        "{plugin}: {read:?}"
    );
    let p = r["plugins"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "mirror"));
    let cost = &p.expect("the plugin ran")["cost"];
    (
        cost["wall_ms"].as_f64().unwrap_or(0.0),
        cost["fuel_used"].as_u64().unwrap_or(0),
    )
}

/// Parse once (ABI 0.1.3): a plugin reading every container as the host's record beside
/// one parsing every inspect document itself, as each plugin did before, alternated on one
/// snapshot of the daemon's `n` containers.
fn parse_once(host: &str, n: usize) {
    let dir = tempfile::tempdir().expect("tmp");
    let snap = dir.path().join("scale.snap.json");
    common::must(
        common::bulwark()
            .args(["collect", "-H", host, "-o"])
            .arg(&snap),
    );
    let mut walls: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut fuel = [0u64; 2];
    for _ in 0..5 {
        for (i, plugin) in ["read-records", "read-documents"].into_iter().enumerate() {
            let (w, f) = read_cost(&snap, plugin);
            walls[i].push(w);
            fuel[i] = f;
        }
    }
    let [records, documents] = walls.map(median);
    println!(
        "{:<52} median {records:>8.1} ms  fuel {:>12}",
        format!("  a plugin reading {n} container records"),
        fuel[0]
    );
    println!(
        "{:<52} median {documents:>8.1} ms  fuel {:>12}",
        format!("  a plugin parsing {n} inspect documents"),
        fuel[1]
    );
}

/// Start containers until `n` run, four `docker run`s at a time (the daemon is the limit).
fn grow_to(d: &common::TestDaemon, from: usize, n: usize) {
    let next = std::sync::atomic::AtomicUsize::new(from);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= n {
                    break;
                }
                d.run_container(
                    &format!("s{i:04}"),
                    &["--network", "none", "--log-driver", "none"],
                    &[],
                );
            });
        }
    });
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    println!("bulwark scale benchmarks (release build, private dockerd)\n");
    let d = common::TestDaemon::start(&["--iptables=false"], None);
    let host = d.host();
    let json = ["-f", "json"];

    let (base, _, base_rss) = audit_stats(&host, &json, 5);
    println!(
        "{:<52} median {base:>8.1} ms  peak RSS {base_rss:>6.1} MiB",
        "audit, 0 containers"
    );

    let mut at = 0;
    let mut medians = Vec::new();
    for n in [500usize, 1000] {
        let started = Instant::now();
        grow_to(&d, at, n);
        at = n;
        println!(
            "\n-- {n} running containers (started in {:.0} s)",
            started.elapsed().as_secs_f64()
        );
        let serial = floor(&rt, &host, n, 1);
        println!(
            "{:<52} median {serial:>8.1} ms",
            "list+inspect floor, one at a time"
        );
        let mut best = (usize::MAX, f64::MAX);
        for pool in [2usize, 4, 8, 16] {
            let t = floor(&rt, &host, n, pool);
            if t < best.1 {
                best = (pool, t);
            }
            println!(
                "{:<52} median {t:>8.1} ms",
                format!("list+inspect floor, pool {pool}")
            );
        }
        let (wall, min, rss) = audit_stats(&host, &json, 5);
        medians.push((n, wall));
        println!(
            "{:<52} median {wall:>8.1} ms  min {min:>8.1} ms  peak RSS {rss:>6.1} MiB",
            "audit (all checks, default pool)"
        );
        println!(
            "{:<52} {:>8.2}x the serial floor, {:.2}x the best pooled floor (pool {})",
            "",
            wall / serial,
            wall / best.1,
            best.0
        );
        println!(
            "{:<52} {:>8.3} ms per container over the empty audit",
            "",
            (wall - base) / n as f64
        );
        for pool in [1usize, 2, 8] {
            let (w, _, _) = audit_stats(
                &host,
                &["-f", "json", "--api-concurrency", &pool.to_string()],
                3,
            );
            println!(
                "{:<52} median {w:>8.1} ms",
                format!("audit, --api-concurrency {pool}")
            );
        }

        // Where the time goes: each plugin's wall time and fuel in one run's report.
        let (_, _, out) = audit_once(&host, &json);
        let report: Value = serde_json::from_slice(&out).expect("json report");
        for p in report["plugins"].as_array().into_iter().flatten() {
            println!(
                "{:<52} {:>8.1} ms  fuel {:>12}  {:>6} queries  peak memory {:>6.1} MiB",
                format!("  plugin {}", p["name"].as_str().unwrap_or("?")),
                p["cost"]["wall_ms"].as_f64().unwrap_or(0.0),
                p["cost"]["fuel_used"].as_u64().unwrap_or(0),
                p["cost"]["queries"].as_u64().unwrap_or(0),
                p["cost"]["peak_memory"].as_u64().unwrap_or(0) as f64 / 1048576.0
            );
        }

        parse_once(&host, n);

        // The formats' limits at this scale: SARIF's result cap, and -n.
        let (w, _, sarif) = audit_once(&host, &["-f", "sarif"]);
        let sarif: Value = serde_json::from_slice(&sarif).expect("sarif parses");
        let results = sarif["runs"][0]["results"].as_array().map_or(0, Vec::len);
        println!("{:<52} {w:>8.1} ms  {results} results", "audit -f sarif");
        let dir = tempfile::tempdir().expect("tmp");
        let log = dir.path().join("bench.log");
        let log_arg = log.display().to_string();
        let (w, _, _) = audit_once(&host, &["-n", "5", "-l", &log_arg, "-f", "text"]);
        let dbs: Value = serde_json::from_slice(
            &std::fs::read(dir.path().join("bench.log.json")).expect("DBS log"),
        )
        .expect("DBS JSON parses");
        let most = dbs["tests"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|t| t["results"].as_array().into_iter().flatten())
            .map(|r| r["items"].as_array().map_or(0, Vec::len))
            .max()
            .unwrap_or(0);
        println!(
            "{:<52} {w:>8.1} ms  at most {most} items per check in the DBS log",
            "audit -n 5 -l FILE"
        );
    }
    if let [(a, ta), (b, tb)] = medians[..] {
        println!(
            "\ncost per container from {a} to {b}: {:.3} ms (flat if close to the figures above)",
            (tb - ta) / (b - a) as f64
        );
    }
    drop(d);
}
