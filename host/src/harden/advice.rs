//! From an observation to advice: the document `profile record` writes next to each
//! generated seccomp profile (`NAME.profile.json`: what the container did, the capability
//! set to run it with, and how that compares with what it has now), merging observations,
//! and the verdict of `profile verify`.

use super::caps::{self, CapUse, Recommendation};
use super::seccomp::{self, Allow, Resolved};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The `schema` of a profile document.
pub const SCHEMA: &str = "bulwark-profile/1";

/// How one capability was checked while recorded (see `probes::CapTally`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapChecks {
    /// Audited checks after the container's first exec that passed: needs.
    pub granted: u64,
    /// Audited checks after the first exec that failed.
    pub denied: u64,
    /// Unaudited probes (the kernel asking what the task could do): never needs.
    pub unaudited: u64,
    /// Checks by processes that never executed a program in the container: the runtime's
    /// set-up, not the container's needs.
    pub before_exec: u64,
    /// Checks of other credentials than the task's (overlayfs copying up as its mounter):
    /// not the container's needs.
    #[serde(default)]
    pub other_creds: u64,
}

/// What a container did while recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub container_id: String,
    pub container_name: String,
    pub image: String,
    /// `uname -m` of the host (the native syscall table's arch).
    pub machine: String,
    pub seconds: f64,
    /// Watched from its cgroup's creation, so the runtime's syscalls between loading the
    /// filter and `execve` are in it; otherwise the profile may lack them.
    pub startup_seen: bool,
    /// The OCI runtime that started it (`runc 1.1.5`), when the daemon says.
    pub runtime: String,
    /// Native syscalls by name, with counts.
    pub syscalls: BTreeMap<String, u64>,
    /// Compat (32-bit) syscalls by their name in the compat table, with counts.
    #[serde(default)]
    pub compat_syscalls: BTreeMap<String, u64>,
    /// Capability checks by name (`CAP_…`).
    pub capabilities: BTreeMap<String, CapChecks>,
    /// The runtime's syscalls after it loaded the container's filter and before the
    /// container's first exec (seen when the container was recorded under a filter).
    #[serde(default)]
    pub runtime_syscalls: BTreeMap<String, u64>,
    /// The runtime's syscalls with no filter loaded: its set-up (mounts, pivot_root, ...),
    /// and everything it did when the container runs unconfined.
    #[serde(default)]
    pub runtime_unfiltered: BTreeMap<String, u64>,
}

/// The runtime's syscalls between loading a container's filter and executing its
/// entrypoint, measured per runtime version (`data/seccomp/runtime-base-sets.toml`): what a
/// profile must allow for the container to start when the recording could not see them.
const BASE_SETS: &str = include_str!("../../data/seccomp/runtime-base-sets.toml");

#[derive(Deserialize)]
struct BaseSet {
    runtime: String,
    /// "major.minor" of the versions it applies to.
    version: String,
    /// Seen in measurements.
    measured: Vec<String>,
    /// The runtime's language runtime's calls that may come at any moment.
    #[serde(default)]
    go_runtime: Vec<String>,
}

/// The base set for a runtime as the daemon names it (`runc 1.1.5+ds1-1+deb12u1`,
/// `runc v1.1.12-0-g51d5e94`): (its label, its names).
pub fn base_set(runtime: &str) -> Option<(String, Vec<String>)> {
    let (name, version) = runtime.trim().split_once(' ')?;
    let version = version.trim_start_matches('v');
    let sets: BTreeMap<String, BaseSet> = toml::from_str(BASE_SETS).ok()?;
    sets.into_values()
        .find(|s| {
            s.runtime == name
                && version
                    .strip_prefix(&s.version)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '-', '+']))
        })
        .map(|s| {
            let label = format!("{} {}", s.runtime, s.version);
            (label, s.measured.into_iter().chain(s.go_runtime).collect())
        })
}

impl Observation {
    /// Every syscall name the container's own processes used, native and compat (a Docker
    /// profile's names apply to every architecture it lists, each resolved in its own table).
    pub fn used(&self) -> BTreeSet<String> {
        self.syscalls
            .keys()
            .chain(self.compat_syscalls.keys())
            .cloned()
            .collect()
    }

    /// What a profile for this container must allow: its own syscalls and the runtime's
    /// between loading the filter and executing the entrypoint — recorded when it ran under
    /// a filter, else the runtime's measured base set, else everything the runtime did —
    /// and how the runtime's part was chosen.
    pub fn profile_names(&self) -> (BTreeSet<String>, String) {
        let mut names = self.used();
        let how = if !self.runtime_syscalls.is_empty() {
            names.extend(self.runtime_syscalls.keys().cloned());
            "the runtime's syscalls after it loaded the filter, as recorded".to_string()
        } else if let Some((label, base)) = base_set(&self.runtime) {
            names.extend(base);
            format!("the {label} base set (its syscalls between loading the filter and executing the entrypoint, measured): no filter was loaded while recording")
        } else if self.startup_seen {
            names.extend(self.runtime_unfiltered.keys().cloned());
            format!("every syscall the runtime made setting the container up, its set-up included: no filter was loaded while recording and no base set is known for {:?}; record under Docker's default profile to narrow it", self.runtime)
        } else {
            format!("none: start-up not seen and no base set is known for {:?}; the container may not start under this profile", self.runtime)
        };
        (names, how)
    }

    /// The checks that say what the container needs, for [`caps::recommend`]. A denied
    /// `CAP_DAC_READ_SEARCH` next to a granted `CAP_DAC_OVERRIDE` is one access the
    /// kernel allowed by the second after asking for the first (`generic_permission` asks
    /// for DAC_READ_SEARCH first on reads and searches): it is not counted as missing.
    pub fn needs(&self) -> Vec<CapUse> {
        let override_granted = self
            .capabilities
            .get("CAP_DAC_OVERRIDE")
            .is_some_and(|c| c.granted > 0);
        self.capabilities
            .iter()
            .map(|(name, c)| {
                let denied = if name == "CAP_DAC_READ_SEARCH" && override_granted {
                    0
                } else {
                    c.denied
                };
                CapUse {
                    name: name.clone(),
                    granted: c.granted,
                    denied,
                }
            })
            .collect()
    }
}

/// The container's seccomp now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Current {
    /// Docker's default profile of this moby version, resolved for the container.
    Default {
        moby: String,
        resolved: Resolved,
    },
    /// A custom profile, resolved for the container.
    Custom {
        resolved: Resolved,
    },
    Unconfined,
    /// Could not tell (why).
    Unknown(String),
}

impl Current {
    fn resolved(&self) -> Option<&Resolved> {
        match self {
            Current::Default { resolved, .. } | Current::Custom { resolved } => Some(resolved),
            _ => None,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Current::Default { moby, .. } => format!("Docker's default profile (moby {moby})"),
            Current::Custom { .. } => "a custom profile".to_string(),
            Current::Unconfined => "unconfined (no seccomp filter)".to_string(),
            Current::Unknown(why) => format!("unknown ({why})"),
        }
    }
}

/// The capability part of a profile document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapAdvice {
    /// `--cap-drop ALL`, then these (`NET_BIND_SERVICE`).
    pub cap_add: Vec<String>,
    pub docker_flags: String,
    /// Compose service keys, YAML.
    pub compose: String,
    /// Held now and never needed.
    pub held_unused: Vec<String>,
    /// Needed (granted) while recorded.
    pub used: Vec<String>,
    /// Only ever denied and not held: worked without, or failed; a human's decision.
    pub denied_not_held: Vec<String>,
}

/// The seccomp part of a profile document: the generated profile against the current one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeccompAdvice {
    /// The generated profile's file name.
    pub profile: String,
    /// Which of the runtime's syscalls it includes, and why.
    #[serde(default)]
    pub runtime_part: String,
    /// How many names it allows.
    pub allowed: usize,
    /// What the container has now, in words.
    pub current: String,
    /// Names the current profile allows for any arguments (none when unconfined).
    pub allowed_now: Option<usize>,
    /// Allowed now and never used.
    pub allowed_unused: Vec<String>,
    /// Used, yet the current profile refuses them.
    pub used_refused: Vec<String>,
    /// Used, and allowed now only for some argument values.
    pub used_conditional: Vec<String>,
}

/// `NAME.profile.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileDoc {
    pub schema: String,
    pub observation: Observation,
    pub seccomp: SeccompAdvice,
    pub capabilities: CapAdvice,
    /// What the reader must know to trust the profile (start-up not seen, a filter that
    /// hid refused calls, ...).
    pub notes: Vec<String>,
    /// Profile documents this one merges, when it does.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<String>,
}

/// The advice for one observation: `profile_file` names the generated seccomp profile,
/// `held` the capabilities the container holds now (`CAP_…`).
pub fn advise(
    obs: Observation,
    profile_file: &str,
    current: &Current,
    held: &BTreeSet<String>,
) -> ProfileDoc {
    let (used, runtime_part) = obs.profile_names();
    let mut notes = Vec::new();
    let unknown: Vec<&String> = used
        .iter()
        .filter(|n| !seccomp::is_syscall_name(n))
        .collect();
    if !unknown.is_empty() {
        notes.push(format!(
            "syscall numbers this build's tables do not name, so no profile can allow them (they will fail with EPERM under it): {}",
            unknown.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }
    if !obs.startup_seen {
        notes.push(format!(
            "start-up not seen: {} was already running when recording began, so the runtime's syscalls between loading the filter and execve (and the entrypoint's own start-up) may be missing; record with --new while it starts before relying on this profile",
            obs.container_name
        ));
    }
    match current {
        Current::Default { .. } | Current::Custom { .. } => notes.push(format!(
            "the container runs under {}: a syscall it refused never reaches the probes, so it is not in this profile (harmless if the container works now); record under --security-opt seccomp=unconfined to see every call",
            current.describe()
        )),
        Current::Unknown(_) => notes.push(format!(
            "the container's current seccomp is {}: no comparison",
            current.describe()
        )),
        Current::Unconfined => {}
    }
    let d = current
        .resolved()
        .map(|r| seccomp::diff(r, &used))
        .unwrap_or_default();
    let seccomp = SeccompAdvice {
        profile: profile_file.to_string(),
        runtime_part,
        allowed: used.iter().filter(|n| seccomp::is_syscall_name(n)).count(),
        current: current.describe(),
        allowed_now: current.resolved().map(|r| r.allowed.len()),
        allowed_unused: d.allowed_unused,
        used_refused: d.used_refused,
        used_conditional: d.used_conditional,
    };
    let r: Recommendation = caps::recommend(held, &obs.needs());
    let capabilities = CapAdvice {
        docker_flags: r.docker_flags(),
        compose: r.compose(),
        held_unused: r.drop_unused.clone(),
        used: r.add.clone(),
        denied_not_held: r.missing.clone(),
        cap_add: r.add,
    };
    ProfileDoc {
        schema: SCHEMA.to_string(),
        observation: obs,
        seccomp,
        capabilities,
        notes,
        merged_from: Vec::new(),
    }
}

/// Why profile documents cannot be read or merged.
#[derive(Debug, thiserror::Error)]
pub enum AdviceError {
    #[error("{path}: not a Bulwark profile document: {source}")]
    Malformed {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: schema {found:?}, expected {SCHEMA:?}")]
    Schema { path: String, found: String },
}

/// Reads a `NAME.profile.json`.
pub fn parse_doc(bytes: &[u8], path: &str) -> Result<ProfileDoc, AdviceError> {
    let doc: ProfileDoc =
        serde_json::from_slice(bytes).map_err(|source| AdviceError::Malformed {
            path: path.to_string(),
            source,
        })?;
    if doc.schema != SCHEMA {
        return Err(AdviceError::Schema {
            path: path.to_string(),
            found: doc.schema,
        });
    }
    Ok(doc)
}

/// The union of observations (replicas, or several sessions): counts summed, seconds
/// summed, start-up seen only if every one saw it, capability needs the union.
pub fn merge_observations(obs: &[Observation]) -> Observation {
    let mut out = Observation::default();
    let mut all_seen = !obs.is_empty();
    for o in obs {
        let join = |a: &mut String, b: &str| {
            if a.is_empty() {
                *a = b.to_string();
            } else if a != b && !a.split(", ").any(|x| x == b) {
                a.push_str(", ");
                a.push_str(b);
            }
        };
        join(&mut out.container_id, &o.container_id);
        join(&mut out.container_name, &o.container_name);
        join(&mut out.image, &o.image);
        join(&mut out.machine, &o.machine);
        join(&mut out.runtime, &o.runtime);
        out.seconds += o.seconds;
        all_seen &= o.startup_seen;
        for (k, n) in &o.syscalls {
            *out.syscalls.entry(k.clone()).or_default() += n;
        }
        for (k, n) in &o.compat_syscalls {
            *out.compat_syscalls.entry(k.clone()).or_default() += n;
        }
        for (k, n) in &o.runtime_syscalls {
            *out.runtime_syscalls.entry(k.clone()).or_default() += n;
        }
        for (k, n) in &o.runtime_unfiltered {
            *out.runtime_unfiltered.entry(k.clone()).or_default() += n;
        }
        for (k, c) in &o.capabilities {
            let e = out.capabilities.entry(k.clone()).or_default();
            e.granted += c.granted;
            e.denied += c.denied;
            e.unaudited += c.unaudited;
            e.before_exec += c.before_exec;
            e.other_creds += c.other_creds;
        }
    }
    out.startup_seen = all_seen;
    out
}

/// How the copy run by `verify` ended, next to the original.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunState {
    /// Still running at the end of the watch.
    pub running: bool,
    /// Exit code, once it exited.
    pub exit_code: Option<i64>,
    /// Health status when it has a health check (`healthy`, `unhealthy`, `starting`).
    pub health: Option<String>,
    /// Why it did not start, when it did not.
    pub error: Option<String>,
}

/// The verdict of `profile verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub verified: bool,
    pub started: bool,
    pub copy: RunState,
    pub original: RunState,
    /// Syscalls the profile refused (seen ending in EPERM without being allowed).
    pub refused_syscalls: Vec<String>,
    /// Capabilities the copy was denied (audited, after its exec) that it was not given.
    pub denied_capabilities: Vec<String>,
    /// Why not verified, one line each.
    pub problems: Vec<String>,
}

/// Judges a verification run: `profile` is the seccomp profile the copy ran under, `given`
/// the capabilities it was given (`NET_ADMIN`), `eperm` the syscalls that ended in EPERM.
pub fn verdict(
    profile: &seccomp::Profile,
    target: &seccomp::Target,
    given: &BTreeSet<String>,
    copy: RunState,
    original: RunState,
    eperm: &BTreeSet<String>,
    caps_seen: &BTreeMap<String, CapChecks>,
) -> Verdict {
    let resolved = seccomp::resolve(profile, target);
    // A call that ended in EPERM and that the profile does not allow was refused by it;
    // an allowed one that failed with EPERM failed on its own (permissions, ...).
    let refused_syscalls: Vec<String> = eperm
        .iter()
        .filter(|n| resolved.allows(n) == Allow::No)
        .cloned()
        .collect();
    let denied_capabilities: Vec<String> = caps_seen
        .iter()
        .filter(|(_, c)| c.denied > 0 && c.granted == 0)
        .map(|(n, _)| n.trim_start_matches("CAP_").to_string())
        .filter(|n| !given.contains(n))
        .collect();
    let started = copy.error.is_none();
    let mut problems = Vec::new();
    if let Some(e) = &copy.error {
        problems.push(format!("the copy did not start: {e}"));
    }
    if !refused_syscalls.is_empty() {
        problems.push(format!(
            "the profile refused {}",
            refused_syscalls.join(", ")
        ));
    }
    if !denied_capabilities.is_empty() {
        problems.push(format!(
            "capabilities denied: {}",
            denied_capabilities.join(", ")
        ));
    }
    if started {
        match (copy.running, original.running) {
            (false, true) => problems.push(format!(
                "the copy exited (code {}) while the original runs",
                copy.exit_code.map_or("unknown".into(), |c| c.to_string())
            )),
            (false, false) if copy.exit_code != original.exit_code => problems.push(format!(
                "the copy exited with {} where the original exited with {}",
                code(copy.exit_code),
                code(original.exit_code)
            )),
            _ => {}
        }
        if copy.health.as_deref() == Some("unhealthy")
            && original.health.as_deref() != Some("unhealthy")
        {
            problems.push("the copy is unhealthy".to_string());
        }
    }
    Verdict {
        verified: problems.is_empty(),
        started,
        copy,
        original,
        refused_syscalls,
        denied_capabilities,
        problems,
    }
}

fn code(c: Option<i64>) -> String {
    c.map_or("an unknown code".into(), |c| format!("code {c}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(calls: &[(&str, u64)], caps: &[(&str, u64, u64)]) -> Observation {
        Observation {
            container_name: "web".into(),
            machine: "x86_64".into(),
            startup_seen: true,
            syscalls: calls.iter().map(|(n, c)| (n.to_string(), *c)).collect(),
            capabilities: caps
                .iter()
                .map(|(n, g, d)| {
                    let c = CapChecks {
                        granted: *g,
                        denied: *d,
                        ..CapChecks::default()
                    };
                    (n.to_string(), c)
                })
                .collect(),
            ..Observation::default()
        }
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn advice_against_dockers_default() {
        let (moby, p) = seccomp::default_for("20.10.24").unwrap();
        let held = set(&["CAP_CHOWN", "CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE"]);
        let target = seccomp::Target {
            arch: "amd64".into(),
            caps: held.clone(),
            kernel: (6, 18),
        };
        let current = Current::Default {
            moby: moby.into(),
            resolved: seccomp::resolve(&p, &target),
        };
        let o = obs(
            &[("read", 3), ("write", 1), ("mount", 1)],
            &[("CAP_NET_BIND_SERVICE", 1, 0), ("CAP_SYS_ADMIN", 0, 1)],
        );
        let doc = advise(o, "web.seccomp.json", &current, &held);
        assert_eq!(doc.capabilities.cap_add, ["NET_BIND_SERVICE"]);
        assert_eq!(doc.capabilities.held_unused, ["CHOWN", "NET_ADMIN"]);
        assert_eq!(doc.capabilities.denied_not_held, ["SYS_ADMIN"]);
        assert_eq!(doc.seccomp.used_refused, ["mount"]);
        let now = doc.seccomp.allowed_now.unwrap();
        // read and write are allowed now; mount is not: now − 2 unused.
        assert_eq!(doc.seccomp.allowed_unused.len(), now - 2);
        assert!(doc
            .notes
            .iter()
            .any(|n| n.contains("never reaches the probes")));
    }

    #[test]
    fn dac_read_search_denied_before_override_granted_is_not_missing() {
        let o = obs(
            &[],
            &[("CAP_DAC_READ_SEARCH", 0, 4), ("CAP_DAC_OVERRIDE", 4, 0)],
        );
        let doc = advise(o, "x", &Current::Unconfined, &set(&["CAP_DAC_OVERRIDE"]));
        assert_eq!(doc.capabilities.cap_add, ["DAC_OVERRIDE"]);
        assert!(doc.capabilities.denied_not_held.is_empty());
    }

    #[test]
    fn runtime_part_recorded_else_base_set_else_everything() {
        let mut o = obs(&[("read", 1)], &[]);
        o.runtime = "runc 1.1.5+ds1-1+deb12u1".into();
        o.runtime_unfiltered = [("mount".to_string(), 3)].into();
        let (names, how) = o.profile_names();
        assert!(how.contains("runc 1.1 base set"), "{how}");
        assert!(names.contains("capset") && names.contains("execve") && names.contains("futex"));
        assert!(
            !names.contains("mount"),
            "the set-up before the filter is not needed"
        );
        // Upstream's version form, and a version without a base set.
        assert!(base_set("runc v1.1.12-0-g51d5e94").is_some());
        assert!(base_set("runc 1.10.0").is_none());
        assert!(base_set("crun 1.8").is_none());
        o.runtime_syscalls = [("setuid".to_string(), 1)].into();
        let (names, how) = o.profile_names();
        assert!(how.contains("as recorded"), "{how}");
        assert!(names.contains("setuid") && !names.contains("capset"));
        o.runtime_syscalls.clear();
        o.runtime = "crun 1.8".into();
        let (names, how) = o.profile_names();
        assert!(names.contains("mount"), "{how}");
    }

    #[test]
    fn startup_not_seen_is_said() {
        let mut o = obs(&[("read", 1)], &[]);
        o.startup_seen = false;
        let doc = advise(o, "x", &Current::Unconfined, &BTreeSet::new());
        assert!(doc.notes.iter().any(|n| n.starts_with("start-up not seen")));
    }

    #[test]
    fn merging_sums_and_unions() {
        let a = obs(&[("read", 3), ("write", 1)], &[("CAP_CHOWN", 1, 0)]);
        let mut b = obs(&[("read", 2), ("openat", 5)], &[("CAP_KILL", 0, 2)]);
        b.startup_seen = false;
        let m = merge_observations(&[a, b]);
        assert_eq!(m.syscalls["read"], 5);
        assert_eq!(m.syscalls.len(), 3);
        assert_eq!(m.capabilities.len(), 2);
        assert!(!m.startup_seen);
        assert_eq!(m.container_name, "web");
    }

    #[test]
    fn verdicts() {
        let p = seccomp::generate(&set(&["read", "write", "exit_group"]), "amd64");
        let ok = RunState {
            exit_code: Some(0),
            ..RunState::default()
        };
        let t = seccomp::Target {
            arch: "amd64".into(),
            caps: BTreeSet::new(),
            kernel: (6, 18),
        };
        let v = verdict(
            &p,
            &t,
            &BTreeSet::new(),
            ok.clone(),
            ok.clone(),
            &set(&["write"]),
            &BTreeMap::new(),
        );
        assert!(v.verified, "{v:?}");
        let failed = RunState {
            exit_code: Some(1),
            ..RunState::default()
        };
        let t = seccomp::Target {
            arch: "amd64".into(),
            caps: BTreeSet::new(),
            kernel: (6, 18),
        };
        let v = verdict(
            &p,
            &t,
            &BTreeSet::new(),
            failed,
            ok,
            &set(&["getrandom", "write"]),
            &BTreeMap::new(),
        );
        assert!(!v.verified);
        assert_eq!(v.refused_syscalls, ["getrandom"]);
        assert_eq!(v.problems.len(), 2, "{:?}", v.problems);
    }
}
