//! `bulwark profile`: record containers and turn each recording into a seccomp profile and
//! advice ([`record_profiles`]), and run a copy of a container under a profile to see if
//! it holds ([`verify`]). What the container has now (its seccomp and capabilities) is read
//! from the daemon and `/proc` here; the reasoning is `harden`'s.

use super::record::{record, RecordSpec, Recording};
use super::WatchError;
use crate::docker::{Client, DockerError};
use crate::harden::advice::{self, CapChecks, Current, Observation, ProfileDoc, RunState, Verdict};
use crate::harden::seccomp::{self, Profile, Target};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One container's results: its advice and its generated profile.
pub struct Made {
    /// A file-name-safe name for `NAME.seccomp.json` / `NAME.profile.json`.
    pub file_stem: String,
    pub doc: ProfileDoc,
    pub profile: Profile,
}

/// Everything a recording made, and what this kernel or daemon could not give.
pub struct Profiles {
    pub made: Vec<Made>,
    pub notes: Vec<String>,
}

/// The host's `uname -m` and kernel (major, minor).
fn machine_and_kernel() -> (String, (u32, u32)) {
    let machine = std::env::consts::ARCH.to_string();
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release.trim().split(['.', '-']);
    let mut num = || {
        parts
            .next()
            .and_then(|p| p.parse::<u32>().ok())
            .unwrap_or(0)
    };
    (machine, (num(), num()))
}

/// A name safe as a file stem: letters, digits, `.`, `_` and `-`; others become `_`.
pub fn file_stem(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match s.trim_start_matches('.') {
        "" => "container".to_string(),
        t => t.to_string(),
    }
}

/// The capabilities a container holds: its main process's bounding set (which Docker
/// sets to the container's capabilities) from `/proc/PID/status`, or, with no process to
/// read (it exited), what its run options give.
fn container_caps(i: &bollard::models::ContainerInspectResponse) -> BTreeSet<String> {
    let pid = i.state.as_ref().and_then(|s| s.pid).unwrap_or(0);
    if let Some(held) = (pid > 0).then(|| held_caps(pid)).flatten() {
        return held;
    }
    let h = i.host_config.clone().unwrap_or_default();
    crate::harden::caps::from_run_options(
        &h.cap_add.unwrap_or_default(),
        &h.cap_drop.unwrap_or_default(),
        h.privileged.unwrap_or(false),
    )
}

fn held_caps(pid: i64) -> Option<BTreeSet<String>> {
    let p = procfs::process::Process::new(i32::try_from(pid).ok()?).ok()?;
    let mask = p.status().ok()?.capbnd?;
    Some(crate::capability::names(mask).into_iter().collect())
}

/// The container's seccomp now, resolved for it: `seccomp=…` in its security options
/// (the profile's JSON, as the Docker CLI sends it, or `unconfined`), privileged, or the
/// daemon's default of this version.
fn current_seccomp(
    i: &bollard::models::ContainerInspectResponse,
    daemon_version: &str,
    target: &Target,
) -> Current {
    let host = i.host_config.clone().unwrap_or_default();
    if host.privileged == Some(true) {
        return Current::Unconfined;
    }
    let opt = host
        .security_opt
        .unwrap_or_default()
        .into_iter()
        .find_map(|o| {
            o.strip_prefix("seccomp=")
                .or_else(|| o.strip_prefix("seccomp:"))
                .map(str::to_string)
        });
    match opt.as_deref() {
        Some("unconfined") => Current::Unconfined,
        // `seccomp=builtin` names the daemon's own default.
        Some("builtin") | None => match seccomp::default_for(daemon_version) {
            Ok((moby, p)) => Current::Default {
                moby: moby.to_string(),
                resolved: seccomp::resolve(&p, target),
            },
            Err(e) => Current::Unknown(crate::text::error_chain(&e)),
        },
        Some(json) => match seccomp::parse(json.as_bytes(), "the container's seccomp profile") {
            Ok(p) => Current::Custom {
                resolved: seccomp::resolve(&p, target),
            },
            Err(e) => Current::Unknown(crate::text::error_chain(&e)),
        },
    }
}

fn caps_of(r: &Recording) -> BTreeMap<String, CapChecks> {
    r.capabilities
        .iter()
        .map(|(n, t)| {
            let c = CapChecks {
                granted: t.granted,
                denied: t.denied,
                unaudited: t.unaudited,
                before_exec: t.before_exec,
                other_creds: t.other_creds,
            };
            (n.clone(), c)
        })
        .collect()
}

fn observation(r: &Recording, machine: &str, runtime: &str) -> Observation {
    Observation {
        container_id: r.id.clone(),
        container_name: r.name.clone(),
        image: r.image.clone(),
        machine: machine.to_string(),
        seconds: (r.seconds * 10.0).round() / 10.0,
        startup_seen: r.startup_seen,
        runtime: runtime.to_string(),
        syscalls: r.syscalls.clone(),
        compat_syscalls: r.compat_syscalls.clone(),
        capabilities: caps_of(r),
        runtime_syscalls: r.runtime_filtered.clone(),
        runtime_unfiltered: r.runtime_unfiltered.clone(),
    }
}

/// Record, then make a profile and advice for every container recorded. `recording` is
/// polled once the probes are attached; the recording ends with the duration or when it
/// completes (an interrupt), and what was recorded until then is kept.
pub async fn record_profiles(
    host: Option<String>,
    spec: &RecordSpec,
    recording: impl std::future::Future<Output = ()>,
) -> Result<Profiles, WatchError> {
    let client = Client::new(host.clone());
    let (version, default_runtime, runc) = client.engine().await?;
    let recorded = record(host, spec, recording).await?;
    let (machine, kernel) = machine_and_kernel();
    let arch = seccomp::go_arch(&machine).unwrap_or("amd64");
    let mut made = Vec::new();
    let mut stems = BTreeSet::new();
    let mut notes = recorded.notes;
    for r in &recorded.containers {
        let inspect = client.inspect(&r.id).await;
        let (current, held) = match &inspect {
            Ok(i) => {
                let held = container_caps(i);
                let target = Target {
                    arch: arch.to_string(),
                    caps: held.clone(),
                    kernel,
                };
                (current_seccomp(i, &version, &target), held)
            }
            Err(e) => (
                Current::Unknown(format!(
                    "the container is gone: {}",
                    crate::text::error_chain(e)
                )),
                BTreeSet::new(),
            ),
        };
        let name = inspect
            .as_ref()
            .ok()
            .and_then(|i| i.host_config.as_ref())
            .and_then(|h| h.runtime.clone())
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| default_runtime.clone());
        let runtime = if name == "runc" && !runc.is_empty() {
            format!("runc {runc}")
        } else {
            name
        };
        let obs = observation(r, &machine, &runtime);
        // Two containers of one name in a recording (a job re-run, a Compose recreate)
        // keep their own files: the later gets its short id appended.
        let mut stem: String = file_stem(&r.name).chars().take(100).collect();
        if !stems.insert(stem.clone()) {
            let id: String = r.id.chars().take(12).collect();
            stem = format!("{stem}-{}", file_stem(&id));
            stems.insert(stem.clone());
        }
        let profile = seccomp::generate(&obs.profile_names().0, arch);
        let doc = advice::advise(obs, &format!("{stem}.seccomp.json"), &current, &held);
        made.push(Made {
            file_stem: stem,
            doc,
            profile,
        });
    }
    if made.is_empty() {
        notes.push("no container was recorded".to_string());
    }
    Ok(Profiles { made, notes })
}

/// How each observed container's current seccomp fits what it did, as evidence for
/// checks (`audit --observe`). Containers that cannot be inspected are left out.
pub async fn seccomp_fits(
    host: Option<String>,
    observed: &std::collections::HashMap<String, crate::abi::ev::ObservedProfile>,
) -> std::collections::HashMap<String, crate::abi::ev::SeccompFit> {
    let client = Client::new(host);
    let mut out = std::collections::HashMap::new();
    let Ok((version, _, _)) = client.engine().await else {
        return out;
    };
    let (machine, kernel) = machine_and_kernel();
    let arch = seccomp::go_arch(&machine).unwrap_or("amd64");
    for (id, seen) in observed {
        let Ok(i) = client.inspect(id).await else {
            continue;
        };
        let target = Target {
            arch: arch.to_string(),
            caps: container_caps(&i),
            kernel,
        };
        let current = current_seccomp(&i, &version, &target);
        let used: BTreeSet<String> = seen.syscalls.iter().map(|(n, _)| n.clone()).collect();
        let (allowed_now, allowed_unused) = match &current {
            Current::Default { resolved, .. } | Current::Custom { resolved } => {
                let d = seccomp::diff(resolved, &used);
                (Some(d.allowed_now as u32), d.allowed_unused)
            }
            _ => (None, Vec::new()),
        };
        let generated = seccomp::generate(&used, arch);
        out.insert(
            id.clone(),
            crate::abi::ev::SeccompFit {
                current: current.describe(),
                unconfined: current == Current::Unconfined,
                allowed_now,
                allowed_unused,
                used: used.len() as u32,
                generated_profile: serde_json::to_string_pretty(&generated).unwrap_or_default(),
            },
        );
    }
    out
}

/// What `verify` runs and for how long.
pub struct VerifySpec {
    pub container: String,
    pub profile: Profile,
    /// The profile as given (sent to the daemon unchanged).
    pub profile_json: String,
    /// Capabilities to give the copy after `--cap-drop ALL` (`NET_BIND_SERVICE`); `None`
    /// keeps the original's.
    pub cap_add: Option<Vec<String>>,
    pub duration: Duration,
}

/// What `verify` found.
pub struct Verified {
    pub verdict: Verdict,
    pub copy_name: String,
    pub notes: Vec<String>,
}

fn run_state(i: &bollard::models::ContainerInspectResponse) -> RunState {
    let s = i.state.clone().unwrap_or_default();
    let running = s.running.unwrap_or(false);
    // Docker reports exit code 0 for a container that was only created: one that never
    // started has no start time.
    let started = s
        .started_at
        .as_deref()
        .is_some_and(|t| !t.is_empty() && !t.starts_with("0001-"));
    let error = s
        .error
        .filter(|e| !e.is_empty())
        .or_else(|| (!started && !running).then(|| "it never started".to_string()));
    RunState {
        running,
        exit_code: (!running && started).then_some(s.exit_code).flatten(),
        health: s
            .health
            .and_then(|h| h.status)
            .map(|h| h.to_string())
            .filter(|h| !h.is_empty() && h != "none"),
        error,
    }
}

/// Labels a copy must not carry: Compose's would make it a member of the project.
fn copied_label(key: &str) -> bool {
    !key.starts_with("com.docker.compose.") && !key.starts_with("com.docker.stack.")
}

/// What happened to the copy, shared with the task that runs it.
#[derive(Default)]
struct CopyRun {
    id: Option<String>,
    error: Option<String>,
    interrupted: bool,
}

fn lock(r: &Mutex<CopyRun>) -> std::sync::MutexGuard<'_, CopyRun> {
    r.lock().unwrap_or_else(|p| p.into_inner())
}

/// How the copy is made: the original's inspect data (without Compose's labels), its
/// security options with the profile in place of any seccomp one, and its capabilities.
struct CopySpec {
    of: bollard::models::ContainerInspectResponse,
    name: String,
    security_opt: Vec<String>,
    cap_add: Vec<String>,
    cap_drop: Vec<String>,
}

impl CopySpec {
    fn new(original: &bollard::models::ContainerInspectResponse, spec: &VerifySpec) -> CopySpec {
        let name = original.name.clone().unwrap_or_default();
        let name = format!(
            "{}-bulwark-verify-{}",
            file_stem(name.trim_start_matches('/')),
            std::process::id()
        );
        let host = original.host_config.clone().unwrap_or_default();
        let mut security_opt: Vec<String> = (host.security_opt.clone().unwrap_or_default())
            .into_iter()
            .filter(|o| !o.starts_with("seccomp"))
            .collect();
        security_opt.push(format!("seccomp={}", spec.profile_json));
        let (cap_add, cap_drop) = match &spec.cap_add {
            Some(add) => (add.clone(), vec!["ALL".to_string()]),
            None => (
                host.cap_add.unwrap_or_default(),
                host.cap_drop.unwrap_or_default(),
            ),
        };
        let mut of = original.clone();
        if let Some(l) = of.config.as_mut().and_then(|c| c.labels.as_mut()) {
            l.retain(|k, _| copied_label(k));
        }
        CopySpec {
            of,
            name,
            security_opt,
            cap_add,
            cap_drop,
        }
    }

    /// The capabilities the copy is given, as Docker's flags name them.
    fn given(&self) -> BTreeSet<String> {
        let bare = |c: &String| c.trim_start_matches("CAP_").to_ascii_uppercase();
        self.cap_add.iter().map(bare).collect()
    }
}

/// Create and start the copy, then wait until it exits or `duration` passes; what
/// happened goes to `run`.
async fn run_copy(
    client: Arc<Client>,
    copy: CopySpec,
    duration: Duration,
    run: Arc<Mutex<CopyRun>>,
) {
    let created = client
        .create_copy(
            &copy.of,
            &copy.name,
            copy.security_opt,
            copy.cap_add,
            copy.cap_drop,
        )
        .await;
    let id = match created {
        Ok(id) => id,
        Err(e) => {
            lock(&run).error = Some(crate::text::error_chain(&e));
            return;
        }
    };
    lock(&run).id = Some(id.clone());
    if let Err(e) = client.start(&id).await {
        lock(&run).error = Some(crate::text::error_chain(&e));
        return;
    }
    let begun = Instant::now();
    while begun.elapsed() < duration {
        tokio::time::sleep(Duration::from_millis(200)).await;
        match client.inspect(&id).await {
            Ok(i) if run_state(&i).running => {}
            _ => break,
        }
    }
}

/// `work` until it ends, or until Ctrl-C or SIGTERM (noted in `run`).
async fn interruptible(work: impl std::future::Future<Output = ()>, run: Arc<Mutex<CopyRun>>) {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut t) => {
                t.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = work => {}
        _ = tokio::signal::ctrl_c() => lock(&run).interrupted = true,
        _ = term => lock(&run).interrupted = true,
    }
}

/// How the copy ended: its state (or why it never ran), from what the daemon and the
/// probes saw.
fn copy_outcome(
    state: Result<RunState, DockerError>,
    error: Option<String>,
    rec: Option<&Recording>,
) -> Result<RunState, WatchError> {
    let mut copy = match (state, &error) {
        (Ok(state), _) => state,
        (Err(_), Some(e)) => RunState {
            error: Some(e.clone()),
            ..RunState::default()
        },
        (Err(e), None) => return Err(e.into()),
    };
    if copy.error.is_none() {
        copy.error = error;
    }
    if copy.error.is_none() {
        match rec {
            None => copy.error = Some("it was never seen by the probes".to_string()),
            // Only the runtime ran in it: the entrypoint was never executed.
            Some(r) if r.syscalls.is_empty() && r.compat_syscalls.is_empty() => {
                copy.error =
                    Some("its entrypoint never ran (the runtime could not execute it)".to_string())
            }
            Some(_) => {}
        }
    }
    Ok(copy)
}

/// What the reader of a verdict must know about how the copy ran.
fn copy_notes(original: &bollard::models::ContainerInspectResponse) -> Vec<String> {
    let h = original.host_config.clone().unwrap_or_default();
    let mut notes = Vec::new();
    if h.network_mode.as_deref() == Some("host") {
        notes.push("the copy shares the host's network with the original: ports the original holds are taken".to_string());
    }
    let shares = h.binds.as_ref().is_some_and(|b| !b.is_empty())
        || h.mounts.as_ref().is_some_and(|m| !m.is_empty());
    if shares {
        notes.push(
            "the copy had the original's bind mounts and named volumes: it could write to them"
                .to_string(),
        );
    }
    notes
}

/// Whether refusals under `p` can be seen: it must refuse with EPERM.
fn refuses_with_eperm(p: &Profile) -> bool {
    p.default_action == "SCMP_ACT_ERRNO" && p.default_errno_ret.unwrap_or(1) == 1
}

/// The verdict on a copy that ran (or not) under `spec.profile` with `given` capabilities.
fn judge(
    spec: &VerifySpec,
    given: &BTreeSet<String>,
    copy: RunState,
    original: RunState,
    rec: Option<&Recording>,
) -> Verdict {
    let eperm: BTreeSet<String> = rec
        .map(|r| {
            r.eperm
                .keys()
                .chain(r.compat_eperm.keys())
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let caps = rec.map(caps_of).unwrap_or_default();
    let (machine, kernel) = machine_and_kernel();
    let target = Target {
        arch: seccomp::go_arch(&machine).unwrap_or("amd64").to_string(),
        caps: given.iter().map(|c| format!("CAP_{c}")).collect(),
        kernel,
    };
    let mut verdict = advice::verdict(&spec.profile, &target, given, copy, original, &eperm, &caps);
    if !refuses_with_eperm(&spec.profile) {
        verdict.verified = false;
        verdict.problems.push(format!(
            "the profile's default action is {} (errno {:?}), not EPERM: its refusals cannot be told from the copy's own failures",
            spec.profile.default_action, spec.profile.default_errno_ret
        ));
    }
    verdict
}

/// Start a copy of `spec.container` under the profile, record it until it exits, the
/// duration passes or the user interrupts, remove it (on every path), and judge.
pub async fn verify(host: Option<String>, spec: &VerifySpec) -> Result<Verified, WatchError> {
    let client = Arc::new(Client::new(host.clone()));
    let original = client.inspect(&spec.container).await?;
    let copy = CopySpec::new(&original, spec);
    let (copy_name, given) = (copy.name.clone(), copy.given());
    let run = Arc::new(Mutex::new(CopyRun::default()));
    let work = run_copy(client.clone(), copy, spec.duration, run.clone());
    let rec = RecordSpec {
        containers: Vec::new(),
        new: true,
        refusals: true,
        duration: spec.duration + Duration::from_secs(5),
    };
    let recorded = record(host, &rec, interruptible(work, run.clone())).await;
    let (id, error, interrupted) = {
        let r = lock(&run);
        (r.id.clone(), r.error.clone(), r.interrupted)
    };
    // Its state, then removal by name: that also finds a copy created after our side of
    // the create call gave up.
    let state = client.inspect(&copy_name).await.map(|i| run_state(&i));
    let mut notes = Vec::new();
    match client.remove(&copy_name).await {
        Ok(()) | Err(DockerError::NotFound { .. }) => {}
        Err(e) => notes.push(format!(
            "could not remove the copy {copy_name}: {}; remove it with `docker rm -f {copy_name}`",
            crate::text::error_chain(&e)
        )),
    }
    if interrupted {
        return Err(WatchError::Interrupted);
    }
    let recorded = recorded?;
    notes.extend(recorded.notes.iter().cloned());
    let rec = id
        .as_deref()
        .and_then(|id| recorded.containers.iter().find(|r| r.id == id));
    let copy = copy_outcome(state, error, rec)?;
    let original_now = client
        .inspect(&spec.container)
        .await
        .map(|i| run_state(&i))
        .unwrap_or_else(|_| run_state(&original));
    let verdict = judge(spec, &given, copy, original_now, rec);
    notes.extend(copy_notes(&original));
    Ok(Verified {
        verdict,
        copy_name,
        notes,
    })
}
