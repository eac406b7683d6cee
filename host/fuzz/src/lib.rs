//! The checks behind Bulwark's fuzz targets, one function per target: libFuzzer's binaries
//! (`fuzz_targets/NAME.rs`) call them with its inputs, and `tests/replay.rs` with every file
//! of `corpus/NAME/` and `regressions/NAME/`. Each takes any bytes and must return: the
//! parser under test answers with a value or a typed error, never a panic (nor a hang,
//! which libFuzzer's `-timeout` catches). Where it is cheap, a round trip or an invariant
//! of the result is asserted too; a failed assertion is a finding like any panic.
//!
//! Needs `--cfg fuzzing` (which `cargo xtask fuzz` passes): private parsers are reached
//! through `bulwark::fuzzing`.

use bulwark::abi::{rules, types};
use bulwark::findings::{
    Benchmark, CheckDoc, CheckInfo, Engine, Finding, Report, Status, Subject, SCHEMA,
};
use bulwark::fuzzing;
use bulwark::runtime::{Grant, GrantPolicy, Grants, Manifest, Origin, PluginFailure};
use bulwark::select::{CheckFilter, CheckRef, Selector};
use bulwark::suppress::Suppression;
use std::collections::{BTreeMap, HashSet};

/// Every target: its name (of its binary and its corpus directory) and its check.
/// A target's check of one input.
pub type Check = fn(&[u8]);

pub const TARGETS: &[(&str, Check)] = &[
    ("snapshot", snapshot),
    ("manifest", manifest),
    ("component", component),
    ("findings", findings),
    ("suppressions", suppressions),
    ("selectors", selectors),
    ("daemon_options", daemon_options),
    ("audit_rules", audit_rules),
    ("proc_net", proc_net),
    ("mountinfo_cgroup", mountinfo_cgroup),
    ("dbs_log", dbs_log),
];

/// Fuzz bytes as structured input: control bytes (everything before the first 0xff), then
/// strings (the pieces between the following 0xff bytes, as lossy UTF-8). Both run dry
/// quietly: a missing control byte reads 0, a missing string "".
struct Input<'a> {
    control: &'a [u8],
    pieces: Vec<&'a [u8]>,
    next: usize,
}

impl<'a> Input<'a> {
    fn new(data: &'a [u8]) -> Self {
        let mut pieces = data.split(|b| *b == 0xff);
        let control = pieces.next().unwrap_or_default();
        Input {
            control,
            pieces: pieces.collect(),
            next: 0,
        }
    }

    fn byte(&mut self) -> u8 {
        match self.control.split_first() {
            Some((b, rest)) => {
                self.control = rest;
                *b
            }
            None => 0,
        }
    }

    /// A number below `n` (at least 1).
    fn below(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n.max(1)
    }

    fn flag(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    fn number(&mut self) -> u64 {
        (0..8).fold(0u64, |n, _| (n << 8) | u64::from(self.byte()))
    }

    fn piece(&mut self) -> &'a [u8] {
        let p = self.pieces.get(self.next).copied().unwrap_or_default();
        self.next += 1;
        p
    }

    fn string(&mut self) -> String {
        String::from_utf8_lossy(self.piece()).into_owned()
    }

    /// Up to `max` strings.
    fn strings(&mut self, max: usize) -> Vec<String> {
        let n = self.below(max + 1);
        (0..n).map(|_| self.string()).collect()
    }

    /// One of `known` (most of the time, when there are some), else a new string: so that
    /// ids meet the ids they are checked against.
    fn one_of(&mut self, known: &[String]) -> String {
        let pick = self.byte();
        match known.len() {
            n if n > 0 && pick < 0xc0 => known[usize::from(pick) % n].clone(),
            _ => self.string(),
        }
    }
}

/// Characters a terminal interprets: what `bulwark::text::sanitize` escapes.
fn shows_raw(c: char) -> bool {
    let bidi = matches!(
        c,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
    );
    (c.is_control() && c != '\n') || bidi
}

/// The snapshot reader (`bulwark collect` files, `audit --snapshot`): a snapshot or a
/// typed error; a snapshot that was read writes out and reads back the same.
pub fn snapshot(data: &[u8]) {
    use bulwark::evidence::{snapshot, Answer};
    let first = match snapshot::parse(data, "fuzz.snap.json") {
        Ok(s) => s,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let answers: BTreeMap<_, _> = first.answers.into_iter().collect();
    let bytes = snapshot::encode(first.audit_start, &answers).expect("a snapshot read encodes");
    let again = snapshot::parse(&bytes, "re-encoded").expect("an encoded snapshot reads back");
    assert_eq!(again.audit_start, first.audit_start);
    assert_eq!(again.answers.len(), answers.len());
    for (q, o) in &answers {
        let back = again
            .answers
            .get(q)
            .expect("every question survives a re-encoding");
        match (o, back) {
            // Documents are read through a JSON value: serde_json's default float parsing
            // may move a float by an ulp, which is no concern of the snapshot format.
            (Ok(Answer::Document(_)), Ok(Answer::Document(_))) => {}
            _ => assert!(o == back, "{q:?} changed through a re-encoding"),
        }
    }
}

/// The plugin manifest parser (the `bulwark-manifest` section): a manifest or a typed
/// error; a manifest parsed writes out and parses back the same, and provides its checks.
pub fn manifest(data: &[u8]) {
    let m = match Manifest::parse(data) {
        Ok(m) => m,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    assert!(!m.name.is_empty() && m.name.len() <= 64, "{:?}", m.name);
    let text = serde_json::to_vec(&m).expect("a manifest encodes");
    let back = Manifest::parse(&text).expect("an encoded manifest parses");
    assert_eq!(back, m, "a manifest changed through a re-encoding");
    let _ = m.check_abi(bulwark::abi::ABI_VERSION);
    for c in &m.checks {
        match c.strip_suffix(".*") {
            Some(prefix) => assert!(m.provides(&format!("{prefix}.x")), "{c:?}"),
            None => assert!(m.provides(c), "{c:?}"),
        }
    }
    let (grants, refused) = GrantPolicy::requested().effective(&m);
    assert!(refused.is_empty());
    assert_eq!(grants, Grants::Only(m.grants.clone()));
    let _ = grants.describe();
}

/// The plugin loader's checks on a component's bytes, before any of its code runs
/// (custom sections, imports, manifest, ABI): admitted or a typed refusal. What a
/// third-party plugin passes has a manifest for this ABI and imports only what it may.
pub fn component(data: &[u8]) {
    let abi = bulwark::abi::ABI_VERSION;
    let third_party = fuzzing::admit(data, &Origin::File("fuzz.wasm".to_string()));
    let builtin = fuzzing::admit(data, &Origin::Builtin);
    if let Ok((seen, manifest)) = &third_party {
        assert!(data.starts_with(b"\0asm"));
        assert_eq!(seen.size, data.len());
        assert_eq!(seen.sha256.len(), 64);
        let m = manifest
            .as_ref()
            .expect("a third-party plugin is admitted with a manifest");
        assert!(m.check_abi(abi).is_ok());
        assert!(bulwark::runtime::manifest::check_imports(&seen.imports, abi).is_ok());
        assert!(
            builtin.is_ok(),
            "what a third party may load, a built-in may"
        );
    }
    match builtin {
        Ok((seen, _)) => {
            let _ = fuzzing::check_docs("fuzz", seen.docs.as_deref());
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

fn plugin_status(b: u8) -> types::Status {
    match b % 7 {
        0 => types::Status::Pass,
        1 => types::Status::Warn,
        2 => types::Status::Info,
        3 => types::Status::Note,
        4 => types::Status::Undecided,
        5 => types::Status::Skipped,
        _ => types::Status::Error,
    }
}

fn plugin_subject(input: &mut Input<'_>) -> types::Subject {
    match input.below(5) {
        0 => types::Subject::Host,
        1 => types::Subject::Daemon,
        2 => types::Subject::Container(types::ContainerRef {
            id: input.string(),
            name: input.string(),
        }),
        3 => types::Subject::Image(input.string()),
        _ => types::Subject::File(input.string()),
    }
}

fn plugin_finding(input: &mut Input<'_>, ids: &[String]) -> types::Finding {
    let check_id = input.one_of(ids);
    let status = plugin_status(input.byte());
    let message = input.string();
    let reason = input.flag().then(|| input.string());
    let subjects = (0..input.below(4)).map(|_| plugin_subject(input)).collect();
    types::Finding {
        check_id,
        status,
        message,
        reason,
        subjects,
        details: input.strings(3),
        evidence: input.strings(2),
    }
}

fn check_meta(input: &mut Input<'_>, ids: &[String]) -> types::CheckMeta {
    types::CheckMeta {
        id: input.one_of(ids),
        title: input.string(),
        section: input.string(),
        section_title: String::new(),
        level: input.byte() % 3,
        scored: input.flag(),
        automated: input.flag(),
        description: String::new(),
        remediation: String::new(),
        remediation_impact: String::new(),
        tags: vec![],
    }
}

/// The validators of what a plugin returns: a run's verdicts against the checks asked,
/// the checks and rules it declares against its manifest, a rules batch's alerts. Each
/// accepts or refuses as garbage; what it accepts holds what it promises.
pub fn findings(data: &[u8]) {
    let mut input = Input::new(data);
    let ids = input.strings(6);
    let findings: Vec<types::Finding> = (0..input.below(8))
        .map(|_| plugin_finding(&mut input, &ids))
        .collect();
    let size = fuzzing::output_size(&findings);
    let least: usize = findings
        .iter()
        .map(|f| f.check_id.len() + f.message.len())
        .sum();
    assert!(size >= least);
    match fuzzing::verdicts(findings.clone(), &ids) {
        Ok(out) => {
            assert_eq!(out.len(), ids.len());
            assert_eq!(findings.len(), ids.len(), "one verdict per check asked");
            for (f, id) in out.iter().zip(&ids) {
                assert_eq!(&f.check_id, id);
                if matches!(f.status, types::Status::Undecided | types::Status::Skipped) {
                    assert!(f.reason.is_some(), "an undecided verdict says why");
                }
            }
        }
        Err(PluginFailure::Garbage(_)) => {}
        Err(other) => panic!("verdicts refused as {other:?}, not as garbage"),
    }

    let declared_ids = input.strings(4);
    let checks: Vec<types::CheckMeta> = (0..input.below(6))
        .map(|_| check_meta(&mut input, &declared_ids))
        .collect();
    let rule_metas: Vec<rules::RuleMeta> = (0..input.below(5))
        .map(|_| rules::RuleMeta {
            id: input.string(),
            title: String::new(),
            severity: "low".to_string(),
            description: String::new(),
        })
        .collect();
    let manifest = input.flag().then(|| Manifest {
        manifest: 1,
        name: "fuzz".to_string(),
        version: "1.0.0".to_string(),
        author: String::new(),
        abi: bulwark::abi::ABI_VERSION.to_string(),
        checks: input.strings(4),
        grants: vec![],
        random: false,
    });
    match fuzzing::declared(&checks, &rule_metas, manifest.as_ref()) {
        Ok(()) => {
            let mut seen = HashSet::new();
            for c in &checks {
                assert!(!c.id.is_empty() && c.id.len() <= 64);
                assert!(
                    seen.insert(c.id.as_str()),
                    "check {:?} declared twice",
                    c.id
                );
                if let Some(m) = &manifest {
                    assert!(m.provides(&c.id));
                }
            }
            let rule_ids: HashSet<&str> = rule_metas.iter().map(|r| r.id.as_str()).collect();
            assert_eq!(rule_ids.len(), rule_metas.len());
        }
        Err(e) => assert!(!e.is_empty()),
    }

    let events = input.below(4);
    let rule_ids: Vec<String> = rule_metas.iter().map(|r| r.id.clone()).collect();
    let alerts: Vec<rules::Alert> = (0..input.below(5))
        .map(|_| rules::Alert {
            rule_id: input.one_of(&rule_ids),
            event: u32::from(input.byte() % 5),
            message: input.string(),
        })
        .collect();
    let max_output = usize::from(input.byte()) * 4;
    let total: usize = alerts
        .iter()
        .map(|a| a.message.len() + a.rule_id.len())
        .sum();
    match fuzzing::alerts(alerts.clone(), events, &rule_metas, max_output) {
        Ok(kept) => {
            assert!(total <= max_output);
            assert_eq!(kept.len(), alerts.len());
            for a in &kept {
                assert!((a.event as usize) < events);
                assert!(rule_ids.contains(&a.rule_id));
            }
        }
        Err(PluginFailure::OutputTooLarge(size, limit)) => {
            assert_eq!((size, limit), (total, max_output));
            assert!(size > limit);
        }
        Err(PluginFailure::Garbage(_)) => {}
        Err(other) => panic!("alerts refused as {other:?}"),
    }
}

/// A host finding of check `id` (WARN, no text), for reports built by the targets.
fn plain_finding(id: String) -> Finding {
    Finding {
        check: CheckInfo {
            id: id.clone(),
            implementation: id,
            title: String::new(),
            section: String::new(),
            section_title: String::new(),
            level: 1,
            scored: true,
            automated: true,
            description: String::new(),
            remediation: String::new(),
            remediation_impact: String::new(),
            tags: vec![],
            plugin: "fuzz".to_string(),
            doc: None,
        },
        status: Status::Warn,
        message: String::new(),
        reason: None,
        subjects: vec![],
        details: vec![],
        evidence: vec![],
        suppression: None,
        baseline: None,
        previous: None,
    }
}

fn report_of(findings: Vec<Finding>, audit_start: u64, engine: Option<Engine>) -> Report {
    Report {
        schema: SCHEMA,
        tool: "bulwark",
        version: "0.0.0-fuzz",
        abi: bulwark::abi::ABI_VERSION,
        evidence: "snapshot",
        audit_start,
        duration_ms: 0.0,
        evidence_queries: 0,
        evidence_errors: 0,
        // The benchmark's title is Bulwark's own (profiles), not outside input.
        benchmark: Benchmark {
            id: "cis-1.6.0".to_string(),
            title: "CIS Docker Benchmark v1.6.0".to_string(),
        },
        plugins: vec![],
        findings,
        expired_suppressions: vec![],
        baseline_absent: None,
        engine,
    }
}

/// The suppression file parser (`.bulwarkignore`): suppressions or a typed error naming
/// the line; every line that is not blank or a comment is one suppression; applied to
/// findings, only unexpired suppressions of covering ids mark them.
pub fn suppressions(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for line in text.lines() {
        let _ = Suppression::for_id(line);
    }
    let list = match bulwark::suppress::parse(&text, "fuzz") {
        Ok(l) => l,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let lines = text
        .lines()
        .filter(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#')
        })
        .count();
    assert_eq!(list.len(), lines);
    for s in &list {
        assert!(s.source.starts_with("fuzz:"), "{:?}", s.source);
        assert!(Suppression::for_id(&s.id).is_ok(), "{:?}", s.id);
    }
    // Findings of those ids, of a check under them, and of another check, about
    // subjects named as the patterns are written.
    let mut findings = Vec::new();
    for s in &list {
        for id in [s.id.clone(), format!("{}.1", s.id), "0.0".to_string()] {
            let mut f = plain_finding(id);
            if let Some(p) = &s.subject {
                f.subjects = vec![
                    Subject::Container {
                        id: "0".repeat(64),
                        name: p.clone(),
                    },
                    Subject::File { path: p.clone() },
                ];
            }
            findings.push(f);
        }
    }
    let mut report = report_of(findings, 0, None);
    let today = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("a date");
    let expired = bulwark::suppress::apply(&mut report, &list, today);
    assert!(expired.iter().all(|s| s.expired(today)));
    assert_eq!(
        expired.len(),
        list.iter().filter(|s| s.expired(today)).count()
    );
    for f in &report.findings {
        if let Some(s) = &f.suppression {
            assert!(!s.expired(today));
            assert!(bulwark::select::covers(&s.id, &f.check.id));
        }
    }
}

/// Whether a selected id is made only of id characters.
fn id_like(p: &str) -> bool {
    !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
}

/// The command line's selectors: `-c`/`-e` check selectors, `-i`/`-x` name patterns, `-t`
/// labels and `--grant` items. Each is refused or yields what is safe to use: check
/// selectors name only id characters, and excluding what is included leaves nothing.
pub fn selectors(data: &[u8]) {
    use bulwark::evidence::selection::{label_filters, name_patterns, Selection};
    let mut input = Input::new(data);
    let include = input.string();
    let exclude = input.string();
    for item in include.split(',').chain(exclude.split(',')) {
        match bulwark::select::parse(item) {
            Ok(Selector::Prefix(p)) => assert!(id_like(&p), "{item:?} selects {p:?}"),
            Ok(Selector::Many(ps)) | Ok(Selector::Level1(ps)) => {
                assert!(ps.iter().all(|p| id_like(p)), "{item:?} selects {ps:?}")
            }
            Ok(Selector::Native(_)) | Ok(Selector::All) | Err(_) => {}
        }
    }
    let mut ids: Vec<String> = ["5.1", "2.2", "1.1.3", "C.1", "8.1.3", "EX.1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    ids.extend(input.strings(3));
    let refs: Vec<CheckRef> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| CheckRef {
            id,
            native: id,
            level: 1 + (i % 2) as u8,
        })
        .collect();
    let (inc, exc) = (vec![include], vec![exclude]);
    if let Ok(f) = CheckFilter::parse(&inc, &exc) {
        for c in &refs {
            let _ = f.selects(*c);
        }
        let _ = f.unmatched(&refs);
    }
    if let Ok(f) = CheckFilter::parse(&inc, &inc) {
        if !f.include.is_empty() {
            for c in &refs {
                assert!(!f.selects(*c), "{:?} is excluded by itself", c.id);
            }
        }
    }

    // -i/-x: comma-separated regexes.
    let mut selection = Selection {
        all_containers: input.flag(),
        ..Selection::default()
    };
    for (raw, slot) in [
        (input.string(), &mut selection.include),
        (input.string(), &mut selection.exclude),
    ] {
        let parts = raw.split(',').filter(|p| !p.trim().is_empty()).count();
        match name_patterns(Some(raw.as_str())) {
            Ok(None) => assert_eq!(parts, 0),
            Ok(Some(re)) => {
                assert!(parts > 0);
                *slot = Some(re);
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
    // -t: key or key=value.
    let raw_labels: Vec<String> = input.string().split('\n').map(str::to_string).collect();
    match label_filters(&raw_labels) {
        Ok(labels) => {
            let given = raw_labels.iter().filter(|l| !l.trim().is_empty()).count();
            assert_eq!(labels.len(), given);
            for l in &labels {
                assert!(
                    !l.is_empty() && l.trim() == l && !l.starts_with('='),
                    "{l:?}"
                );
            }
            selection.labels = labels;
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    let names = input.strings(3);
    let _ = selection.names_selected(names.iter().map(String::as_str));
    let container_labels: BTreeMap<String, String> = input
        .strings(3)
        .into_iter()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    let _ = selection.labels_selected(|k| container_labels.get(k).map(String::as_str));

    // --grant: SCOPE, NAME:SCOPE or lists of them.
    let grants = [input.string()];
    if let Ok(policy) = GrantPolicy::parse(&grants, input.flag()) {
        let m = Manifest {
            manifest: 1,
            name: input.string(),
            version: "1".to_string(),
            author: String::new(),
            abi: bulwark::abi::ABI_VERSION.to_string(),
            checks: vec![],
            grants: vec![
                Grant::Containers,
                Grant::Daemon,
                Grant::Files {
                    paths: vec!["/etc/docker/**".to_string()],
                },
            ],
            random: false,
        };
        let (Grants::Only(ok), refused) = policy.effective(&m) else {
            panic!("a third-party plugin's grants are a list");
        };
        assert_eq!(ok.len() + refused.len(), m.grants.len());
    }
}

/// Keys the checks ask the daemon's options about.
const DAEMON_KEYS: &[&str] = &[
    "hosts",
    "log-level",
    "debug",
    "icc",
    "iptables",
    "insecure-registries",
    "tls",
    "tlsverify",
    "userns-remap",
    "live-restore",
    "userland-proxy",
    "log-opts",
    "default-ulimits",
    "authorization-plugins",
    "data-root",
    "no-new-privileges",
    "seccomp-profile",
];

/// The SDK's reading of dockerd's argv and daemon.json (and Podman's containers.conf):
/// options or an error, and only a daemon.json that is not a JSON object is refused; the
/// command line wins over the file, last occurrence first.
///
/// Input: a flags byte (2: Podman's service, 4: argv[0] too comes from the input), the
/// argv split on NUL, then after a 0xff the configuration: a daemon.json, or for Podman
/// containers.conf texts split on 0xfe. No 0xff: no configuration file.
pub fn daemon_options(data: &[u8]) {
    use bulwark_sdk::daemon::{parse_argv, DaemonOptions};
    let (flags, rest) = data.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
    let (argv_bytes, config_bytes) = match rest.iter().position(|b| *b == 0xff) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let podman = flags & 2 != 0;
    let mut argv: Vec<String> = Vec::new();
    if flags & 4 == 0 {
        argv.push(
            if podman {
                "/usr/bin/podman"
            } else {
                "/usr/bin/dockerd"
            }
            .to_string(),
        );
    }
    argv.extend(
        argv_bytes
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned()),
    );
    let _ = fuzzing::flag_value(&argv, "config-file");
    let config_json = match config_bytes {
        None => None,
        // Podman's service: its containers.conf files (split on 0xfe), merged, as JSON.
        Some(c) if podman => {
            let texts: Vec<String> = c
                .split(|b| *b == 0xfe)
                .map(|t| String::from_utf8_lossy(t).into_owned())
                .collect();
            let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
            match fuzzing::podman_conf_json(&texts) {
                Ok(json) => Some(json),
                Err(_) => return,
            }
        }
        Some(c) => Some(String::from_utf8_lossy(c).into_owned()),
    };
    let settings = bulwark_sdk::DaemonSettings {
        pid: 1,
        argv: argv.clone(),
        config_file: "/etc/docker/daemon.json".to_string(),
        config_json: config_json.clone(),
        endpoint: "unix:///var/run/docker.sock".to_string(),
    };
    let opts = match DaemonOptions::parse(&settings) {
        Ok(o) => o,
        Err(e) => {
            assert!(
                !podman && config_json.is_some_and(|t| !t.trim().is_empty()),
                "refused without a daemon.json to blame: {e}"
            );
            return;
        }
    };
    let cli = parse_argv(argv.get(1..).unwrap_or_default());
    let mut keys: Vec<String> = DAEMON_KEYS.iter().map(|k| k.to_string()).collect();
    keys.extend(cli.keys().cloned());
    for k in &keys {
        let values = opts.values(k);
        assert_eq!(opts.is_set(k), !values.is_empty());
        let value = opts.string(k);
        if opts.bool(k).is_some() {
            assert!(value.is_some());
        }
        if opts.podman && k == "hosts" {
            continue;
        }
        if let Some(given) = cli.get(k) {
            assert!(
                values.starts_with(given),
                "{k}: the command line comes first"
            );
            assert_eq!(value.as_ref(), given.last(), "{k}: the last flag wins");
        }
    }
    if opts.podman {
        assert!(!opts.values("hosts").is_empty(), "Podman serves somewhere");
    }
    for (table, key) in [
        ("containers", "log_driver"),
        ("containers", "userns"),
        ("engine", "runtime"),
        ("network", "default_network"),
    ] {
        let _ = opts.conf(table, key);
        let _ = opts.conf_str(table, key);
    }
}

/// The host's reading of audit rules (`auditctl -l`, rules files): the rule lines, each
/// trimmed and not blank, a comment or auditctl's "No rules"; reading them back gives
/// them again.
pub fn audit_rules(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let rules = fuzzing::rule_lines(&text);
    assert!(rules.len() <= text.lines().count());
    for r in &rules {
        assert!(!r.is_empty() && r.trim() == r, "{r:?}");
        assert!(
            !r.starts_with('#') && r != "No rules" && !r.contains('\n'),
            "{r:?}"
        );
    }
    assert_eq!(fuzzing::rule_lines(&rules.join("\n")), rules);
}

/// /proc/net/tcp and tcp6 tables: the listening sockets, each address a real IPv4 or IPv6
/// address of the width written.
pub fn proc_net(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for proto in ["tcp", "tcp6"] {
        let found = fuzzing::listening_in(proto, &text);
        assert!(found.len() <= text.lines().count().saturating_sub(1));
        for l in &found {
            assert_eq!(l.proto, proto);
            assert!(
                l.address.parse::<std::net::IpAddr>().is_ok(),
                "{:?}",
                l.address
            );
        }
    }
    for line in text.lines() {
        for field in line.split_whitespace().take(4) {
            let Some((address, _port)) = fuzzing::parse_proc_addr(field) else {
                continue;
            };
            let (hex, _) = field.split_once(':').expect("a parsed address has a port");
            match hex.len() {
                8 => assert!(address.parse::<std::net::Ipv4Addr>().is_ok(), "{address:?}"),
                32 => assert!(address.parse::<std::net::Ipv6Addr>().is_ok(), "{address:?}"),
                n => panic!("{field:?}: an address of {n} bytes parsed"),
            }
        }
    }
}

/// mountinfo → the cgroup2 mount, /proc/PID/cgroup → the v2 path, cgroup paths →
/// container ids: each found where the text has it; ids are 64 hex digits of the path.
pub fn mountinfo_cgroup(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Some(p) = fuzzing::cgroup2_mount_in(&text) {
        let s = p.to_str().expect("a mount point read from text is text");
        assert!(!s.is_empty());
        assert!(
            text.lines()
                .any(|l| l.contains(" - ") && l.split_whitespace().any(|w| w == s)),
            "{s:?} is no mount point of the text"
        );
    }
    if let Some(v2) = fuzzing::v2_path_in(&text) {
        assert!(text.lines().any(|l| l.strip_prefix("0::") == Some(v2)));
    }
    let ids_hold = |path: &str| {
        for id in fuzzing::container_ids_in(path) {
            assert_eq!(id.len(), 64);
            assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id:?}");
            assert!(path.contains(id.as_str()));
        }
    };
    for line in text.lines() {
        ids_hold(line.splitn(3, ':').nth(2).unwrap_or_default());
    }
    ids_hold(&text);
}

fn host_status(b: u8) -> Status {
    Status::ALL[usize::from(b) % Status::ALL.len()]
}

fn host_subject(input: &mut Input<'_>) -> Subject {
    match input.below(6) {
        0 => Subject::Host,
        1 => Subject::Daemon,
        2 => Subject::Container {
            id: input.string(),
            name: input.string(),
        },
        3 => Subject::Image {
            name: input.string(),
        },
        4 => Subject::File {
            path: input.string(),
        },
        _ => Subject::Plugin {
            name: input.string(),
        },
    }
}

fn host_finding(input: &mut Input<'_>) -> Finding {
    let mut f = plain_finding(input.string());
    f.check.section = input.string();
    f.check.section_title = input.string();
    f.check.title = input.string();
    f.check.scored = input.flag();
    f.check.automated = input.flag();
    f.check.remediation = input.string();
    f.check.remediation_impact = input.string();
    f.check.doc = input.flag().then(|| CheckDoc {
        what: String::new(),
        why: String::new(),
        decides: String::new(),
        remediation: input.string(),
        example: input.string(),
        impact: input.string(),
    });
    f.status = host_status(input.byte());
    f.message = input.string();
    f.reason = input.flag().then(|| input.string());
    f.subjects = (0..input.below(5)).map(|_| host_subject(input)).collect();
    f.details = input.strings(3);
    f
}

/// The report writers, fed findings whose text comes from plugins and hosts: the DBS log
/// (`-l FILE.json`) is valid JSON with one result per finding and at most `limit` items;
/// the text report shows no control character but newlines (colours off); Bulwark's JSON
/// and SARIF are valid JSON.
pub fn dbs_log(data: &[u8]) {
    use bulwark::report::{dbs_json, render, text, Format};
    let mut input = Input::new(data);
    let findings: Vec<Finding> = (0..input.below(6))
        .map(|_| host_finding(&mut input))
        .collect();
    let engine = input.flag().then(|| Engine {
        name: input.string(),
        version: input.string(),
        api_version: input.string(),
        rootless: input.flag(),
        endpoint: input.string(),
        via: input.string(),
        remote: input.flag(),
    });
    let report = report_of(findings, input.number(), engine);
    let limit = input.below(4);
    let remediation = input.flag();
    let end = input.number();

    let log = dbs_json(&report, limit, remediation, end);
    let encoded = serde_json::to_string(&log).expect("the DBS log encodes");
    let back: serde_json::Value =
        serde_json::from_str(&encoded).expect("the DBS log is valid JSON");
    let tests = back["tests"].as_array().expect("the DBS log has tests");
    let results: Vec<&serde_json::Value> = tests
        .iter()
        .flat_map(|t| t["results"].as_array().into_iter().flatten())
        .collect();
    assert_eq!(results.len(), report.findings.len());
    if limit > 0 {
        for r in &results {
            assert!(r["items"].as_array().map_or(0, Vec::len) <= limit);
        }
    }

    let plain = text(&report, false, remediation);
    if let Some(c) = plain.chars().find(|c| shows_raw(*c)) {
        panic!("the text report shows {c:?} raw");
    }
    let _ = text(&report, true, remediation);

    for format in [Format::Json, Format::Sarif] {
        if let Ok(out) = render(&report, format, false, remediation) {
            serde_json::from_str::<serde_json::Value>(&out).expect("JSON reports are JSON");
        }
    }
    let _ = render(&report, Format::Junit, false, remediation);
    let _ = render(&report, Format::Markdown, false, remediation);
}
