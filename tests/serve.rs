//! `bulwark serve`: a real Prometheus scrapes it and answers PromQL with the status the
//! JSON report shows; a container started with an added capability turns 5.4 to WARN
//! through a debounced, container-scoped audit; a dead daemon fails audits without losing
//! the last good report; SIGTERM exits 0; `--watch` exports the monitor's metrics beside
//! the audit's in one exposition Prometheus accepts.

use crate::common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `bulwark serve`, killed if a test fails before stopping it.
struct Serving(Option<Child>);

impl Drop for Serving {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Start `bulwark serve ARGS` on `addr`; its stderr is drained into a thread.
fn start_serve(host: &str, addr: &str, args: &[&str]) -> Serving {
    let mut child = bulwark()
        .args(["serve", "-H", host, "--listen", addr])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bulwark serve starts");
    let stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("serve: {l}");
        }
    });
    Serving(Some(child))
}

/// The report `/report.json` serves, once there is one.
fn served_report(addr: &str) -> Value {
    let body = wait_for(Duration::from_secs(180), || {
        http_get(addr, "/report.json").and_then(|(s, _, b)| (s == 200).then_some(b))
    })
    .expect("serve published a report");
    serde_json::from_str(&body).expect("the served report is JSON")
}

/// `/metrics` as (series → value).
fn metrics(addr: &str) -> std::collections::HashMap<String, f64> {
    let (status, ctype, body) = http_get(addr, "/metrics").expect("metrics answer");
    assert_eq!(status, 200);
    assert!(ctype.starts_with("application/openmetrics-text"), "{ctype}");
    assert_eq!(body.matches("# EOF").count(), 1, "one exposition: {body}");
    metric_values(&body)
}

/// The value of the first series whose name and labels contain every one of `parts`.
fn series(m: &std::collections::HashMap<String, f64>, parts: &[&str]) -> Option<f64> {
    m.iter()
        .find(|(k, _)| parts.iter().all(|p| k.contains(p)))
        .map(|(_, v)| *v)
}

/// Stop with SIGTERM and expect a clean exit.
fn terminate(mut serving: Serving) {
    let Some(mut child) = serving.0.take() else {
        return;
    };
    must(Command::new("kill").args(["-TERM", &child.id().to_string()]));
    let status = wait_for(Duration::from_secs(30), || child.try_wait().ok().flatten())
        .expect("serve exits after SIGTERM");
    assert_eq!(status.code(), Some(0), "SIGTERM is a clean stop");
}

/// A real Prometheus on loopback scraping `target` every second.
struct Prometheus {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: bulwark\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .expect("config");
        let addr = free_loopback_addr();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus must be installed (cargo xtask test installs it)");
        Prometheus {
            child,
            addr,
            _dir: dir,
        }
    }

    /// An instant PromQL query's result vector.
    fn query(&self, promql: &str) -> Vec<Value> {
        let q: String = percent_encode(promql);
        let Some((200, _, body)) = http_get(&self.addr, &format!("/api/v1/query?query={q}")) else {
            return vec![];
        };
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn prometheus_scrapes_serve_and_a_container_start_changes_the_metric() {
    let d = TestDaemon::start(&["--iptables=false"], None);
    d.run_container("calm", &["--network", "none"], &[]);
    let addr = free_loopback_addr();
    let serve = start_serve(&d.host(), &addr, &["--debounce", "2s", "--watch"]);
    let report = served_report(&addr);
    assert_eq!(status(&report, "5.4"), "pass", "no capability added yet");

    // The one Prometheus: its scrape works (one exposition, audit and watch), and PromQL
    // gives 5.4's status as the report does.
    let prom = Prometheus::start(&addr);
    let shown = wait_for(Duration::from_secs(60), || {
        let r = prom.query(r#"bulwark_check_status{id="5.4"} == 1"#);
        r.first()
            .and_then(|s| s["metric"]["status"].as_str().map(str::to_string))
    })
    .expect("Prometheus has 5.4's status");
    assert_eq!(shown, status(&report, "5.4"));
    let up = prom.query(r#"up{job="bulwark"}"#);
    assert_eq!(up.first().map(|s| s["value"][1].clone()), Some("1".into()));

    let m = metrics(&addr);
    for name in [
        "bulwark_build_info{",
        "bulwark_checks{",
        "bulwark_audit_success ",
        "bulwark_audit_duration_seconds ",
        "bulwark_audit_last_success_timestamp_seconds ",
        "bulwark_audit_evidence_queries ",
        "bulwark_audit_evidence_query_errors ",
        "bulwark_audit_plugin_fuel{",
        "bulwark_audit_plugin_duration_seconds{",
        "bulwark_probe_attached{",
    ] {
        assert!(
            m.keys().any(|k| format!("{k} ").starts_with(name)),
            "{name} exported: {m:#?}"
        );
    }
    assert_eq!(series(&m, &["bulwark_audit_success"]), Some(1.0));
    let warn_count = series(&m, &["bulwark_checks{", "status=\"warn\""]).unwrap_or(-1.0);
    let warns = report["findings"]
        .as_array()
        .map(|f| f.iter().filter(|f| f["status"] == "warn").count())
        .unwrap_or(0);
    assert_eq!(
        warn_count, warns as f64,
        "counts per status follow the report"
    );

    // A container with an added capability: the event, then one container-scoped audit.
    d.run_container(
        "loud",
        &["--network", "none", "--cap-add", "NET_ADMIN"],
        &[],
    );
    let changed = wait_for(Duration::from_secs(60), || {
        let m = metrics(&addr);
        (series(
            &m,
            &["bulwark_check_status{", "id=\"5.4\"", "status=\"warn\""],
        ) == Some(1.0))
        .then_some(m)
    })
    .expect("5.4 turns to warn after the container starts");
    assert!(
        series(
            &changed,
            &[
                "bulwark_audits_total{",
                "scope=\"containers\"",
                "result=\"success\""
            ]
        )
        .unwrap_or(0.0)
            >= 1.0,
        "it was the event's container-scoped audit, not the hourly one"
    );
    let after = served_report(&addr);
    assert!(offenders(&after, "5.4").contains("loud"), "{after:#}");
    // The partial audit kept the rest of the report.
    assert_eq!(
        after["findings"].as_array().map(Vec::len),
        report["findings"].as_array().map(Vec::len)
    );

    let (s, ctype, sarif) = http_get(&addr, "/report.sarif").expect("sarif");
    assert_eq!((s, ctype.as_str()), (200, "application/sarif+json"));
    let sarif: Value = serde_json::from_str(&sarif).expect("SARIF is JSON");
    assert_eq!(sarif["version"], "2.1.0");
    let (s, _, html) = http_get(&addr, "/report.html").expect("html");
    assert!(s == 200 && html.contains("<html"), "{s}");
    assert_eq!(http_get(&addr, "/healthz").map(|r| r.0), Some(200));
    assert_eq!(http_get(&addr, "/nothing-here").map(|r| r.0), Some(404));
    terminate(serve);
}

#[test]
fn a_failed_audit_keeps_the_last_good_report_and_says_so() {
    let d = TestDaemon::start(&["--iptables=false"], None);
    let addr = free_loopback_addr();
    let serve = start_serve(&d.host(), &addr, &["--interval", "2s", "-c", "2,5"]);
    let first = served_report(&addr);
    must(Command::new("kill").args(["-KILL", &d.pid().to_string()]));
    let m = wait_for(Duration::from_secs(120), || {
        let m = metrics(&addr);
        (series(&m, &["bulwark_audit_success"]) == Some(0.0)).then_some(m)
    })
    .expect("a failed audit shows in the metrics");
    assert!(series(&m, &["bulwark_audits_total{", "result=\"failure\""]).unwrap_or(0.0) >= 1.0);
    assert!(
        series(&m, &["bulwark_audit_last_run_timestamp_seconds"])
            > series(&m, &["bulwark_audit_last_success_timestamp_seconds"])
    );
    // The last good report is still served (one made before the daemon died: with a 2 s
    // interval another may have succeeded between the first and the kill), with the
    // checks' series.
    let kept = served_report(&addr);
    let kept_start = kept["audit_start"].as_f64().unwrap_or(0.0);
    let last_good = series(&m, &["bulwark_audit_last_success_timestamp_seconds"]).unwrap_or(0.0);
    assert!(kept_start >= first["audit_start"].as_f64().unwrap_or(f64::MAX));
    assert!(kept_start <= last_good + 1.0, "{kept_start} vs {last_good}");
    assert!(series(&m, &["bulwark_check_status{", "id=\"2.2\""]).is_some());
    assert_eq!(http_get(&addr, "/healthz").map(|r| r.0), Some(200));
    terminate(serve);
}
