//! `cargo xtask bench`: audit wall time and peak RSS with 0, 50 and 200 running containers, the
//! list+inspect floor, plugin compile cold vs cache-warm, and instantiate+run per plugin.
//! Runs against a private dockerd (see tests/common). Prints a table; no pass/fail.

#[path = "../../tests/common/mod.rs"]
mod common;

use bulwark::audit;
use bulwark::evidence::{live, Evidence, Query, Selection, Source};
use bulwark::runtime::{Limits, Runtime};
use std::sync::Arc;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Run the bulwark binary once; (wall ms, peak RSS KiB).
fn audit_once(host: &str) -> (f64, i64) {
    let mut cmd = common::bulwark();
    cmd.args(["audit", "-f", "json", "-H", host]);
    let (status, wall, kib) = common::timed(&cmd, std::process::Stdio::null());
    assert!(status.success(), "bulwark audit failed");
    (wall, kib)
}

fn audit_row(label: &str, host: &str) {
    audit_once(host); // warm the compiled-code cache
    let runs: Vec<(f64, i64)> = (0..7).map(|_| audit_once(host)).collect();
    let wall = median(runs.iter().map(|r| r.0).collect());
    let min = runs.iter().map(|r| r.0).fold(f64::MAX, f64::min);
    let rss = runs.iter().map(|r| r.1).max().unwrap_or(0);
    println!(
        "{label:<44} median {wall:>8.1} ms  min {min:>8.1} ms  peak RSS {:>6.1} MiB",
        rss as f64 / 1024.0
    );
}

fn floor_row(rt: &tokio::runtime::Runtime, host: &str, n: usize) {
    let times: Vec<f64> = (0..7)
        .map(|_| {
            rt.block_on(async {
                let c = live::Collector::new(Some(host.to_string()));
                let started = Instant::now();
                let list = c.collect(&Query::ContainerList).await.expect("list");
                let ids: Vec<String> = match list {
                    bulwark::evidence::Answer::Containers(v) => {
                        v.into_iter().map(|c| c.id).collect()
                    }
                    _ => panic!("unexpected answer"),
                };
                assert_eq!(ids.len(), n);
                for id in ids {
                    c.collect(&Query::ContainerInspect { id })
                        .await
                        .expect("inspect");
                }
                started.elapsed().as_secs_f64() * 1000.0
            })
        })
        .collect();
    println!(
        "{:<44} median {:>8.1} ms",
        format!("list+inspect floor, {n} containers"),
        median(times)
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    println!("bulwark benchmarks (release build, private dockerd)\n");

    // Plugin compile: cold (empty cache) vs warm (cache hit).
    let cache = tempfile::tempdir().expect("tmp");
    // A fresh runtime on the shared compiled-code cache, and the built-ins loaded into it.
    let load_builtins = || {
        let runtime = Arc::new(
            Runtime::new(Limits::default(), Some(cache.path().to_path_buf())).expect("runtime"),
        );
        let (plugins, failures) = rt
            .block_on(audit::load_plugins(
                &runtime,
                true,
                &[],
                &audit::LoadPolicy::default(),
            ))
            .expect("load");
        assert!(failures.is_empty());
        (runtime, plugins)
    };
    for label in ["cold (empty cache)", "warm (cache hit)"] {
        let started = Instant::now();
        let (_, plugins) = load_builtins();
        println!(
            "{:<44} {:>8.1} ms for {} plugins",
            format!("load+compile built-ins, {label}"),
            started.elapsed().as_secs_f64() * 1000.0,
            plugins.len()
        );
    }

    let d = common::TestDaemon::start(&["--iptables=false"], None);
    let host = d.host();
    audit_row("audit (all checks), 0 containers", &host);
    floor_row(&rt, &host, 0);

    for i in 0..50 {
        d.run_container(&format!("c{i:02}"), &["--memory", "32m"], &[]);
    }
    audit_row("audit (all checks), 50 running containers", &host);
    floor_row(&rt, &host, 50);

    // Instantiate + run per plugin, evidence already memoized (the plugin's own cost).
    let (runtime, plugins) = load_builtins();
    let evidence = Arc::new(Evidence::new(
        Source::Live(Box::new(live::Collector::new(Some(host.clone())))),
        Selection::default(),
        0,
    ));
    for p in &plugins {
        let ids: Vec<String> = p.checks.iter().map(|c| c.id.clone()).collect();
        let mut times = Vec::new();
        let mut fuel = 0;
        for _ in 0..20 {
            let (rt2, ev, h, p2, ids2) = (
                runtime.clone(),
                evidence.clone(),
                rt.handle().clone(),
                p.clone(),
                ids.clone(),
            );
            let (res, cost) = rt
                .block_on(rt.spawn_blocking(move || rt2.run(&p2, ev, h, &ids2, &[])))
                .expect("join");
            res.expect("plugin run");
            times.push(cost.wall_ms);
            fuel = cost.fuel_used;
        }
        times.remove(0); // the first run fills the evidence memo
        println!(
            "{:<44} median {:>8.2} ms  fuel {fuel}",
            format!("instantiate+run {} ({} checks, 50 ctrs)", p.name, ids.len()),
            median(times)
        );
    }

    // Scaling: 200 containers, to see that the cost per container stays flat.
    for i in 50..200 {
        d.run_container(&format!("c{i:03}"), &["--memory", "32m"], &[]);
    }
    audit_row("audit (all checks), 200 running containers", &host);
    floor_row(&rt, &host, 200);
    drop(d);
}
