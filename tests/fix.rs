//! Closing the loop on a real dockerd: `fix` plans from a weak daemon.json, applies it with
//! a backup, restarts the daemon and re-audits; `--rollback` puts every byte and mode
//! back; a daemon.json that is not JSON, and a flag that conflicts with daemon.json, are
//! refused or reported, never written; a read-only file is left as it was. Then `diff`
//! (Markdown, across benchmark versions), `--baseline` (new, updated, absent) and Compose
//! services named in plans.

use crate::common::*;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// A daemon with everything 2.2, 2.14, 2.15, 2.16 and 3.18 look for wrong.
const WEAK: &str = r#"{
  "log-level": "info",
  "icc": true,
  "live-restore": false,
  "userland-proxy": true
}
"#;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn fix(d: &TestDaemon, backups: &Path, args: &[&str]) -> std::process::Output {
    bulwark()
        .args(["fix", "-H", &d.host(), "--backup-dir"])
        .arg(backups)
        .args(args)
        .output()
        .unwrap()
}

const CHECKS: &str = "2.2,2.14,2.15,2.16,3.18";

#[test]
fn fix_plans_applies_restarts_and_rolls_back() {
    // iptables on: icc=false works through it (dockerd refuses icc=false without it).
    let d = TestDaemon::start(&[], Some(WEAK));
    let json = d.dir.path().join("daemon.json");
    std::fs::set_permissions(&json, std::fs::Permissions::from_mode(0o666)).unwrap();
    let before = std::fs::read(&json).unwrap();
    let backups = d.dir.path().join("backups");

    // The plan names each, and changes nothing.
    let o = fix(&d, &backups, &["-c", CHECKS, "-f", "json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let plan: Value = serde_json::from_slice(&o.stdout).unwrap();
    let keys: Vec<(String, Value)> = plan["daemon"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["key"].as_str().unwrap().to_string(), c["value"].clone()))
        .collect();
    for (k, v) in [
        ("icc", Value::Bool(false)),
        ("no-new-privileges", Value::Bool(true)),
        ("live-restore", Value::Bool(true)),
        ("userland-proxy", Value::Bool(false)),
    ] {
        assert!(keys.contains(&(k.to_string(), v.clone())), "{k}: {plan:#}");
    }
    let diff = plan["daemon"]["diff"].as_str().unwrap();
    assert!(
        diff.contains("-  \"icc\": true,") && diff.contains("+  \"icc\": false,"),
        "{diff}"
    );
    assert_eq!(
        plan["files"][0]["command"],
        format!("chmod 644 {}", json.display())
    );
    assert_eq!(std::fs::read(&json).unwrap(), before);
    assert_eq!(mode(&json), 0o666);
    assert!(!backups.exists(), "a plan makes no backup");

    // Applied, the daemon restarted, and each check re-audited.
    let o = fix(&d, &backups, &["-c", CHECKS, "--apply", "--restart"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for id in CHECKS.split(',') {
        assert!(
            out.lines()
                .any(|l| l.starts_with(id) && l.contains("fixed (PASS)")),
            "{id}: {out}"
        );
    }
    assert_eq!(mode(&json), 0o644);
    let r = audit_json(&["-H", &d.host(), "-c", CHECKS]);
    for id in CHECKS.split(',') {
        assert_eq!(status(&r, id), "pass", "{id}: {:#}", finding(&r, id));
    }

    // Rolled back: the bytes and the mode, and the daemon starts with them.
    let o = fix(&d, &backups, &["--rollback", "--restart"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(&json).unwrap(), before);
    assert_eq!(mode(&json), 0o666);
    let r = audit_json(&["-H", &d.host(), "-c", CHECKS]);
    for id in CHECKS.split(',') {
        assert_eq!(status(&r, id), "warn", "{id} after the rollback");
    }
}

#[test]
fn an_invalid_daemon_json_is_refused_and_a_conflict_is_not_written() {
    // The command line sets icc: daemon.json must not set it too.
    let d = TestDaemon::start(
        &["--iptables=false", "--icc=true"],
        Some("{\"log-level\": \"info\"}\n"),
    );
    let json = d.dir.path().join("daemon.json");
    let backups = d.dir.path().join("backups");
    let o = fix(&d, &backups, &["-c", "2.2,2.16", "-f", "json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let plan: Value = serde_json::from_slice(&o.stdout).unwrap();
    let conflict = &plan["daemon"]["conflicts"][0];
    assert_eq!(conflict["key"], "icc", "{plan:#}");
    assert!(conflict["why"].as_str().unwrap().contains("command line"));
    assert!(!plan["daemon"]["proposed"].as_str().unwrap().contains("icc"));
    let o = fix(&d, &backups, &["-c", "2.2,2.16", "--apply"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let written = std::fs::read_to_string(&json).unwrap();
    assert!(
        !written.contains("icc") && written.contains("\"userland-proxy\": false"),
        "{written}"
    );

    // Not JSON: refused, nothing changed, no backup made.
    let broken = b"{\"icc\": tru\n";
    std::fs::write(&json, broken).unwrap();
    std::fs::set_permissions(&json, std::fs::Permissions::from_mode(0o666)).unwrap();
    let count = apply_backups(&backups);
    let o = fix(&d, &backups, &["-c", "2.2,2.16,3.18", "--apply"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("not a valid daemon.json") && err.contains("nothing was changed"),
        "{err}"
    );
    assert_eq!(std::fs::read(&json).unwrap(), broken);
    assert_eq!(mode(&json), 0o666);
    assert_eq!(apply_backups(&backups), count);
}

fn apply_backups(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|r| r.count()).unwrap_or(0)
}

fn audit_to(d: &TestDaemon, dir: &Path, name: &str, extra: &[&str]) -> std::path::PathBuf {
    let path = dir.join(name);
    let o = bulwark()
        .args(["audit", "-H", &d.host(), "-q", "-f", "json", "-o"])
        .arg(&path)
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    path
}

#[test]
fn diff_and_baseline_around_a_new_offender() {
    let d = TestDaemon::start(&["--iptables=false"], None);
    d.run_container("quiet", &["--memory", "64m"], &[]);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("dbs.log");
    let old = audit_to(&d, dir.path(), "old.json", &["-l", log.to_str().unwrap()]);
    d.run_container("sysadmin", &["--cap-add", "SYS_ADMIN"], &[]);
    let new = audit_to(&d, dir.path(), "new.json", &[]);

    // diff: 5.4 and the container are new; --fail-on-new says so with exit 2.
    let o = bulwark()
        .args(["diff", "--fail-on-new"])
        .args([&old, &new])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8_lossy(&o.stdout);
    let new_section = text
        .split("\nNew (")
        .nth(1)
        .unwrap_or_else(|| panic!("a New section: {text}"));
    let new_section = new_section.split("\n\n").next().unwrap();
    assert!(
        new_section.contains("5.4 ") && new_section.contains("sysadmin"),
        "{text}"
    );
    let o = bulwark()
        .args(["diff", "--fail-on-new", "-f", "json"])
        .args([&new, &new])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let same: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(same["changes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["change"] == "still-failing"));
    // The same as Markdown, for a ticket or a CI job summary.
    let o = bulwark()
        .args(["diff", "-f", "markdown"])
        .args([&old, &new])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let md = String::from_utf8_lossy(&o.stdout);
    let new_rows = md.split("## New (2)").nth(1).unwrap_or_default();
    assert!(
        new_rows.contains("| 5\\.4 | PASS | WARN |") && new_rows.contains("+sysadmin"),
        "{md}"
    );
    // Docker Bench's log of the old audit against the new Bulwark report.
    let o = bulwark()
        .args(["diff", "-f", "json"])
        .arg(format!("{}.json", log.display()))
        .arg(&new)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let c: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(c["old"]["origin"], "docker-bench");
    let five4 = c["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["implementation"] == "5.4")
        .unwrap();
    assert_eq!(five4["change"], "new");
    assert_eq!(five4["added"], serde_json::json!(["sysadmin"]));

    // --baseline: only the new offender is new; SARIF says so and validates.
    let sarif = dir.path().join("r.sarif");
    let o = bulwark()
        .args(["audit", "-H", &d.host(), "-q", "-f", "json", "--baseline"])
        .arg(&old)
        .args([
            "--out",
            &format!("sarif={}", sarif.display()),
            "--fail-on",
            "warn",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "new findings fail the run");
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(finding(&r, "5.4")["baseline"], "new");
    assert_eq!(finding(&r, "5.1")["baseline"], "unchanged");
    // A WARN that now names one more container (neither has no-new-privileges) is updated.
    assert_eq!(finding(&r, "5.26")["baseline"], "updated");
    let s: Value = serde_json::from_slice(&std::fs::read(&sarif).unwrap()).unwrap();
    crate::outputs::validate(
        &crate::outputs::repo("tests/schemas/sarif-schema-2.1.0.json"),
        &s,
    );
    let results = s["runs"][0]["results"].as_array().unwrap();
    for res in results.iter().filter(|r| r["kind"] == "fail") {
        let who = res["locations"][0]["logicalLocations"][0]["name"]
            .as_str()
            .unwrap_or("");
        let want = if who == "sysadmin" {
            "new"
        } else {
            "unchanged"
        };
        assert_eq!(res["baselineState"], want, "{res:#}");
    }
    // Against itself nothing is new, so --fail-on passes.
    let o = bulwark()
        .args([
            "audit",
            "-H",
            &d.host(),
            "-q",
            "-f",
            "json",
            "--fail-on",
            "warn",
            "--baseline",
        ])
        .arg(&new)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn markdown_escapes_hostile_names_and_labels() {
    let hostile = "web|`rm -rf /`<script>alert(1)</script>";
    let snap = edited_snapshot(|entries| {
        for e in entries.iter_mut() {
            if e["query"]["query"] == "container-list" {
                for c in e["answer"]["value"].as_array_mut().unwrap() {
                    if c["name"] == "web-1" {
                        c["name"] = Value::from(hostile);
                    }
                }
            }
        }
    });
    let o = bulwark()
        .args(["audit", "-q", "-f", "markdown", "-c", "5.11", "--snapshot"])
        .arg(snap.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(md.contains("| 5 Container Runtime |"), "{md}");
    assert!(
        !md.contains("<script>") && md.contains("&lt;script&gt;"),
        "{md}"
    );
    assert!(md.contains("web\\|\\`rm"), "{md}");
    // The summary table keeps its shape: every table row has as many cells as the header.
    let cells = |l: &str| l.matches('|').count() - l.matches("\\|").count();
    let header = md.lines().find(|l| l.starts_with("| Section")).unwrap();
    for row in md.lines().filter(|l| l.starts_with("| ")) {
        assert_eq!(cells(row), cells(header), "{row}");
    }
    // The explanation follows the failing check.
    assert!(
        md.contains("**Why it matters.**") && md.contains("**Remediation.**"),
        "{md}"
    );
}

/// Replay `snap` as a Bulwark JSON report written to `out`.
fn replay_to(snap: &Path, out: &Path, args: &[&str]) {
    let o = bulwark()
        .args(["audit", "-q", "-f", "json", "-o"])
        .arg(out)
        .arg("--snapshot")
        .arg(snap)
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// The fixture with one container's inspect data changed.
fn with_container(name: &str, edit: impl Fn(&mut Value)) -> tempfile::NamedTempFile {
    edited_snapshot(|entries| {
        for e in entries.iter_mut() {
            if e["query"]["query"] == "container-inspect"
                && e["answer"]["value"]["Name"] == format!("/{name}")
            {
                edit(&mut e["answer"]["value"]);
            }
        }
    })
}

#[test]
fn plans_name_compose_services_and_reports_compare_across_benchmarks_and_baselines() {
    // Fix plans group by container and name the Compose project and service it came from.
    let compose = with_container("web-1", |v| {
        v["Config"]["Labels"] = serde_json::json!({
            "com.docker.compose.project": "shop",
            "com.docker.compose.service": "web",
        });
    });
    let o = bulwark()
        .args(["fix", "-c", "5.11", "--snapshot"])
        .arg(compose.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let plan = String::from_utf8_lossy(&o.stdout);
    assert!(
        plan.contains("web-1 (Compose project shop, service web):"),
        "{plan}"
    );
    assert!(plan.contains("mem_limit"), "{plan}");

    // Reports of two benchmark versions are compared by implementation, and say so.
    let dir = tempfile::tempdir().unwrap();
    let (v16, v18) = (dir.path().join("16.json"), dir.path().join("18.json"));
    replay_to(&fixture_snapshot(), &v16, &[]);
    replay_to(&fixture_snapshot(), &v18, &["--benchmark", "cis-1.8.0"]);
    let o = bulwark()
        .args(["diff", "-f", "json"])
        .args([&v16, &v18])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let c: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(c["by_implementation"], true, "{c:#}");
    // The same host judged the same: nothing new, nothing fixed.
    assert!(
        c["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["change"] != "new" && x["change"] != "fixed"),
        "{c:#}"
    );

    // --baseline lists what failed in the baseline and no longer does.
    let privileged = with_container("db", |v| v["HostConfig"]["Privileged"] = true.into());
    let old = dir.path().join("old.json");
    replay_to(privileged.path(), &old, &[]);
    let o = bulwark()
        .args(["audit", "-q", "-f", "json", "--snapshot"])
        .arg(fixture_snapshot())
        .arg("--baseline")
        .arg(&old)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    let absent = r["baseline_absent"].as_array().unwrap();
    assert!(
        absent.iter().any(|a| a["id"] == "5.5"),
        "5.5 (privileged) no longer fails: {absent:#?}"
    );
}

#[test]
fn apply_on_a_read_only_file_changes_nothing_and_says_why() {
    let d = TestDaemon::start(&[], Some(WEAK));
    let json = d.dir.path().join("daemon.json");
    let before = std::fs::read(&json).unwrap();
    let mode_before = mode(&json);
    let backups = d.dir.path().join("backups");
    // The file alone made read-only (a bind mount of itself), as on a read-only /etc.
    let j = json.display().to_string();
    let mount = |args: &[&str]| {
        let ok = std::process::Command::new("mount")
            .args(args)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mount {args:?}");
    };
    mount(&["--bind", &j, &j]);
    mount(&["-o", "remount,ro,bind", &j]);
    let o = fix(&d, &backups, &["-c", "2.2,2.16,3.18", "--apply"]);
    let _ = std::process::Command::new("umount").arg(&j).status();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    // The write is refused (a read-only mount point: EBUSY on the rename, EROFS on a
    // read-only directory), and the error says which file and that nothing changed.
    assert!(
        err.contains("daemon.json") && err.contains("every file is as it was"),
        "{err}"
    );
    assert!(
        !err.contains("restoring after a failed fix"),
        "nothing to restore, so no restore error: {err}"
    );
    assert_eq!(std::fs::read(&json).unwrap(), before, "nothing was changed");
    assert_eq!(mode(&json), mode_before);
}

#[test]
fn audit_rules_are_applied_to_the_named_file_and_rolled_back() {
    let d = TestDaemon::start(&["--iptables=false"], None);
    let dir = tempfile::tempdir().unwrap();
    // A file of our own: /etc/audit/rules.d is read by the §1 test running beside this one.
    let rules = dir.path().join("docker.rules");
    let backups = dir.path().join("backups");
    let file = rules.display().to_string();
    let o = fix(
        &d,
        &backups,
        &["-c", "1.1.4,1.1.5", "--apply", "--audit-rules-file", &file],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&rules).unwrap();
    // 1.1.5 watches the data root of the daemon audited (this one's, not /var/lib/docker).
    let data_root = format!("-w {} -k docker", d.dir.path().join("data").display());
    for want in ["-w /run/containerd -k docker", data_root.as_str()] {
        assert!(text.lines().any(|l| l == want), "{want}: {text}");
    }
    // Applying again adds nothing twice.
    let o = fix(
        &d,
        &backups,
        &["-c", "1.1.4,1.1.5", "--apply", "--audit-rules-file", &file],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let again = std::fs::read_to_string(&rules).unwrap();
    assert_eq!(
        again
            .lines()
            .filter(|l| l.contains("/run/containerd"))
            .count(),
        1,
        "{again}"
    );
    // The rollback of the first apply removes the file it created.
    let first = std::fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .min()
        .unwrap();
    let o = fix(&d, &backups, &[&format!("--rollback={first}")]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!rules.exists(), "it did not exist before the first apply");
}

#[test]
fn a_daemon_that_does_not_come_back_gets_its_files_back() {
    let d = TestDaemon::start(&["--iptables=false"], Some(WEAK));
    let json = d.dir.path().join("daemon.json");
    let before = std::fs::read(&json).unwrap();
    let backups = d.dir.path().join("backups");
    // The running daemon does not need its bridge any more; a restarted one cannot start
    // without it.
    let ok = std::process::Command::new("ip")
        .args(["link", "del", &d.bridge])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let o = fix(
        &d,
        &backups,
        &[
            "-c",
            "2.16",
            "--apply",
            "--restart",
            "--restart-timeout",
            "5",
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("did not come back") && err.contains("was restored"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&json).unwrap(),
        before,
        "daemon.json is as it was"
    );
}
