//! Docker seccomp profiles: the JSON format dockerd reads, Docker's default profile per engine
//! version (embedded: `data/seccomp/README.md`), resolving a profile for one container the
//! way dockerd does, and allow-list profiles generated from the syscalls a container used.

use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeSet;

/// The errno Docker's default profile answers refused syscalls with (EPERM).
const EPERM: u32 = 1;
const ALLOW: &str = "SCMP_ACT_ALLOW";
/// Lets the call through (and logs it): for what a container can do, an allow.
const LOG: &str = "SCMP_ACT_LOG";

const V20: (&str, &str) = (
    "20.10.24",
    include_str!("../../data/seccomp/moby-v20.10.24-default.json"),
);
const V28: (&str, &str) = (
    "28.5.2",
    include_str!("../../data/seccomp/moby-v28.5.2-default.json"),
);
const MASTER: (&str, &str) = (
    "master-2026-08",
    include_str!("../../data/seccomp/moby-master-2026-08-default.json"),
);

/// Docker's default profile as each moby version compiles it in: (moby version, JSON).
pub const DEFAULTS: &[(&str, &str)] = &[V20, V28, MASTER];

/// A seccomp profile as `--security-opt seccomp=FILE` and dockerd read it (moby's
/// `profiles/seccomp.Seccomp`). Unknown fields are ignored and `null` lists read as empty,
/// as Go's decoder does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub default_action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub architectures: Vec<String>,
    /// Per native arch, the sub-architectures dockerd adds (only the daemon's own is used).
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub arch_map: Vec<ArchMap>,
    #[serde(default, deserialize_with = "nullable")]
    pub syscalls: Vec<Rule>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub flags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_path: Option<String>,
}

/// One `archMap` entry: a native SCMP arch and the ones its binaries may also use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    pub architecture: String,
    #[serde(default, deserialize_with = "nullable")]
    pub sub_architectures: Vec<String>,
}

/// One syscall rule, kept or skipped per container by its `includes` / `excludes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    #[serde(default, deserialize_with = "nullable")]
    pub names: Vec<String>,
    /// Profiles older than `names` name one syscall per rule; see [`Rule::all_names`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub args: Vec<Arg>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Filter::is_empty"
    )]
    pub includes: Filter,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Filter::is_empty"
    )]
    pub excludes: Filter,
}

/// An argument condition: the rule matches only calls whose argument `index` compares
/// (`op`, e.g. `SCMP_CMP_MASKED_EQ`) with `value` and `value_two`. Missing fields are 0, as
/// in Go (Docker's profiles omit `valueTwo`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Arg {
    pub index: u32,
    pub value: u64,
    pub value_two: u64,
    pub op: String,
}

/// When a rule applies: capabilities (all of them), Go arch names and a "major.minor" kernel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub caps: Vec<String>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub arches: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_kernel: Option<String>,
}

impl Filter {
    /// No condition: the rule applies everywhere.
    pub fn is_empty(&self) -> bool {
        self.caps.is_empty() && self.arches.is_empty() && self.min_kernel.is_none()
    }
}

impl Rule {
    /// The syscalls this rule names: `names`, and the older single `name`.
    pub fn all_names(&self) -> impl Iterator<Item = &str> {
        let old = self.name.iter().filter(|n| !n.is_empty());
        old.chain(&self.names).map(String::as_str)
    }
}

/// Go decodes `null` as an empty list or no filter; serde's `default` covers only absence.
fn nullable<'de, D, T>(de: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(de)?.unwrap_or_default())
}

/// Why a profile cannot be read, or profiles cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("{path}: not a seccomp profile: {source}")]
    Malformed {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    /// dockerd refuses to load it, like the next two.
    #[error("{path}: rule {rule}: minKernel {value:?} is not \"<kernel>.<major>\"")]
    BadMinKernel {
        path: String,
        rule: usize,
        value: String,
    },
    /// Old `name` and newer `names` in one rule.
    #[error("{path}: rule {rule} has both \"name\" and \"names\"")]
    NameAndNames { path: String, rule: usize },
    #[error("{path}: both \"architectures\" and \"archMap\" are set")]
    ArchitecturesAndArchMap { path: String },
    #[error("no profiles to merge")]
    NothingToMerge,
    /// From here on, [`merge`]: profiles (by index) whose union is not that of their names.
    #[error("profile {profile}: default action {action} neither fails nor kills")]
    DefaultNotDeny { profile: usize, action: String },
    #[error("profile {profile}, rule {rule} ({}): {why}", .names.join(", "))]
    NotAllowList {
        profile: usize,
        rule: usize,
        names: Vec<String>,
        why: NotPlain,
    },
    #[error("profile {profile} has other {field} than profile 0")]
    Differs { profile: usize, field: &'static str },
}

/// Why a rule keeps a profile from being a plain allow-list (see [`merge`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotPlain {
    #[error("it allows only some argument values")]
    Conditional,
    #[error("it applies only to some capabilities, architectures or kernels")]
    Filtered,
    #[error("its action is {0}, not SCMP_ACT_ALLOW")]
    Action(String),
}

/// Reads a profile, refusing what dockerd would refuse to load. `path` names it in errors.
pub fn parse(bytes: &[u8], path: &str) -> Result<Profile, SeccompError> {
    let profile: Profile =
        serde_json::from_slice(bytes).map_err(|source| SeccompError::Malformed {
            path: path.to_string(),
            source,
        })?;
    check(&profile, path)?;
    Ok(profile)
}

/// What dockerd's `setupSeccomp` and moby's `KernelVersion` reject after decoding.
fn check(p: &Profile, path: &str) -> Result<(), SeccompError> {
    let path = path.to_string();
    if !p.architectures.is_empty() && !p.arch_map.is_empty() {
        return Err(SeccompError::ArchitecturesAndArchMap { path });
    }
    for (rule, r) in p.syscalls.iter().enumerate() {
        if r.name.as_deref().is_some_and(|n| !n.is_empty()) && !r.names.is_empty() {
            return Err(SeccompError::NameAndNames { path, rule });
        }
        let kernels = [&r.includes, &r.excludes].map(|f| f.min_kernel.as_deref());
        if let Some(value) = kernels
            .into_iter()
            .flatten()
            .find(|v| !v.is_empty() && parse_kernel(v).is_none())
        {
            let value = value.to_string();
            return Err(SeccompError::BadMinKernel { path, rule, value });
        }
    }
    Ok(())
}

/// `"4.8"` → (4, 8), as moby reads `minKernel`: two numbers of 0..=255, not both 0.
fn parse_kernel(s: &str) -> Option<(u32, u32)> {
    let (major, minor) = s.split_once('.')?;
    let version = (major.parse::<u8>().ok()?, minor.parse::<u8>().ok()?);
    (version != (0, 0)).then_some((version.0.into(), version.1.into()))
}

/// Docker's default profile for a daemon of this version (`20.10.24+dfsg1`, `28.5.2`, ...):
/// 20.10.24 below 21, 28.5.2 from 21 to 28, else the newest (also when the version does not
/// parse). Also returns the moby version picked.
pub fn default_for(daemon_version: &str) -> Result<(&'static str, Profile), SeccompError> {
    let (version, json) = default_source(daemon_version);
    let path = format!("embedded moby {version} default profile");
    Ok((version, parse(json.as_bytes(), &path)?))
}

fn default_source(daemon_version: &str) -> (&'static str, &'static str) {
    let v = daemon_version.trim().trim_start_matches('v');
    let digits = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    match v[..digits].parse::<u32>() {
        Ok(major) if major < 21 => V20,
        Ok(21..=28) => V28,
        _ => MASTER,
    }
}

/// What a profile is resolved for: the daemon's arch, the container's capabilities and the
/// host's kernel, which dockerd's `includes` / `excludes` test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Go's name for the daemon's arch (`runtime.GOARCH`): `amd64`, `arm64`.
    pub arch: String,
    /// The container's capabilities, `CAP_…` (dockerd tests the bounding set).
    pub caps: BTreeSet<String>,
    /// The host kernel's (major, minor): (6, 18) for 6.18.3.
    pub kernel: (u32, u32),
}

/// A profile as it applies to one container: which syscall names it lets through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    /// Allowed for any arguments.
    pub allowed: BTreeSet<String>,
    /// Allowed only for some argument values (and not in `allowed`).
    pub conditional: BTreeSet<String>,
    /// Named by a rule with another action (`SCMP_ACT_ERRNO`, ...) and by no allowing rule.
    pub refused: BTreeSet<String>,
    /// What happens to every syscall no rule names.
    pub default_action: String,
}

/// Whether a profile lets a syscall through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allow {
    Yes,
    /// Only for some argument values.
    WithArgs,
    No,
}

impl Resolved {
    /// Honours the default action for names no kept rule mentions.
    pub fn allows(&self, name: &str) -> Allow {
        if self.allowed.contains(name) {
            Allow::Yes
        } else if self.conditional.contains(name) {
            Allow::WithArgs
        } else if self.refused.contains(name) || !lets_through(&self.default_action) {
            Allow::No
        } else {
            Allow::Yes
        }
    }
}

fn lets_through(action: &str) -> bool {
    matches!(action, ALLOW | LOG)
}

/// The rules dockerd keeps for this target (`setupSeccomp`), sorted by what they allow.
pub fn resolve(profile: &Profile, t: &Target) -> Resolved {
    let arch = native_arch(&t.arch);
    let default_allows = lets_through(&profile.default_action);
    let mut r = Resolved {
        default_action: profile.default_action.clone(),
        ..Resolved::default()
    };
    let kept = profile
        .syscalls
        .iter()
        .filter(|rule| applies(rule, arch, t));
    for rule in kept {
        // Argument conditions split a name's calls between the rule and the default action.
        let set = match (lets_through(&rule.action), rule.args.is_empty()) {
            (true, true) => &mut r.allowed,
            (true, false) if default_allows => &mut r.allowed,
            (false, false) if default_allows => &mut r.conditional,
            (true, false) => &mut r.conditional,
            (false, _) => &mut r.refused,
        };
        set.extend(rule.all_names().map(str::to_string));
    }
    // An allow for every argument beats one for some; any allow beats a refusal (rules that
    // really conflict are refused by libseccomp; argument conditions keep the rest apart).
    r.conditional.retain(|n| !r.allowed.contains(n));
    r.refused
        .retain(|n| !r.allowed.contains(n) && !r.conditional.contains(n));
    r
}

/// Whether dockerd keeps a rule: any exclude drops it, every include must hold.
fn applies(rule: &Rule, arch: &str, t: &Target) -> bool {
    let (inc, exc) = (&rule.includes, &rule.excludes);
    let held = |c: &String| t.caps.contains(c);
    let excluded = exc.arches.iter().any(|a| a == arch)
        || exc.caps.iter().any(held)
        || min_kernel_met(exc, t.kernel) == Some(true);
    let included = (inc.arches.is_empty() || inc.arches.iter().any(|a| a == arch))
        && inc.caps.iter().all(held)
        && min_kernel_met(inc, t.kernel) != Some(false);
    !excluded && included
}

/// `Some(kernel >= minKernel)` when the filter sets one; one that does not parse is never
/// met (dockerd would refuse the whole profile, and [`parse`] does).
fn min_kernel_met(f: &Filter, kernel: (u32, u32)) -> Option<bool> {
    let v = f.min_kernel.as_deref().filter(|v| !v.is_empty())?;
    Some(parse_kernel(v).is_some_and(|min| kernel >= min))
}

/// The name rules' `arches` use for a Go arch (moby's `goToNative`): Go's, but for these.
fn native_arch(go: &str) -> &str {
    match go {
        "386" => "x86",
        "mips64p32" => "mips64n32",
        "mips64le" => "mipsel64",
        "mips64p32le" => "mips3l64n32",
        other => other,
    }
}

/// libseccomp's name for the native arch of a Go arch (moby's `nativeToSeccomp`).
fn scmp_arch(go: &str) -> Option<&'static str> {
    Some(match go {
        "amd64" => "SCMP_ARCH_X86_64",
        "arm64" => "SCMP_ARCH_AARCH64",
        "386" => "SCMP_ARCH_X86",
        "arm" => "SCMP_ARCH_ARM",
        "ppc64le" => "SCMP_ARCH_PPC64LE",
        "riscv64" => "SCMP_ARCH_RISCV64",
        "s390x" => "SCMP_ARCH_S390X",
        "loong64" => "SCMP_ARCH_LOONGARCH64",
        _ => return None,
    })
}

/// The SCMP arches dockerd writes for a daemon on this Go arch: the native one and its
/// `subArchitectures` in the newest default profile (amd64: X86_64, X86, X32), so 32-bit
/// binaries meet the same filter. Empty for an arch moby does not map: libseccomp then
/// takes the native arch.
pub fn architectures(arch: &str) -> Vec<String> {
    let Some(native) = scmp_arch(arch) else {
        return Vec::new();
    };
    let subs = parse(MASTER.1.as_bytes(), "embedded default profile")
        .ok()
        .and_then(|p| p.arch_map.into_iter().find(|m| m.architecture == native))
        .map(|m| m.sub_architectures)
        .unwrap_or_default();
    std::iter::once(native.to_string()).chain(subs).collect()
}

/// Go's arch name for `uname -m` (the two the probes have syscall tables for).
pub fn go_arch(uname_machine: &str) -> Option<&'static str> {
    match uname_machine {
        "x86_64" => Some("amd64"),
        "aarch64" => Some("arm64"),
        _ => None,
    }
}

/// An allow-list of the syscalls a container used; every other call fails with EPERM, as
/// under Docker's default. Names that are not syscall names are left out.
///
/// Only what ran is listed, and a call the container's profile refused never reaches the
/// probes (seccomp runs before `sys_enter`): e.g. `clone3`, which Docker's default answers
/// with ENOSYS so that glibc falls back to `clone`, gets EPERM here, and glibc does not fall
/// back on EPERM.
pub fn generate(used: &BTreeSet<String>, arch: &str) -> Profile {
    let names = used.iter().filter(|n| is_syscall_name(n)).cloned();
    Profile {
        default_action: "SCMP_ACT_ERRNO".to_string(),
        default_errno_ret: Some(EPERM),
        architectures: architectures(arch),
        arch_map: Vec::new(),
        syscalls: allow_rules(names.collect()),
        flags: Vec::new(),
        listener_path: None,
    }
}

/// A syscall name a profile can carry: not a placeholder for a number the compiled-in
/// tables do not know (`syscall_447`), which runc would drop from the filter silently.
pub(crate) fn is_syscall_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with("syscall_")
        && !name.starts_with("compat_syscall_")
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// One rule allowing `names` (sorted), or none for no names.
fn allow_rules(names: Vec<String>) -> Vec<Rule> {
    if names.is_empty() {
        return Vec::new();
    }
    vec![Rule {
        names,
        name: None,
        action: ALLOW.to_string(),
        errno_ret: None,
        args: Vec::new(),
        comment: None,
        includes: Filter::default(),
        excludes: Filter::default(),
    }]
}

/// The union of plain allow-lists (profiles from [`generate`], e.g. one per replica or run),
/// with the first one's settings. Refuses profiles whose union would allow more or less than
/// their names say: a default that lets calls through, rules with argument conditions,
/// filters or other actions, and profiles that differ in arches or other settings.
pub fn merge(profiles: &[Profile]) -> Result<Profile, SeccompError> {
    let first = profiles.first().ok_or(SeccompError::NothingToMerge)?;
    let mut names = BTreeSet::new();
    for (i, p) in profiles.iter().enumerate() {
        plain_names(i, p, &mut names)?;
        same_settings(i, first, p)?;
    }
    Ok(Profile {
        default_action: first.default_action.clone(),
        default_errno_ret: first.default_errno_ret,
        architectures: first.architectures.clone(),
        arch_map: first.arch_map.clone(),
        syscalls: allow_rules(names.into_iter().collect()),
        flags: first.flags.clone(),
        listener_path: first.listener_path.clone(),
    })
}

/// Adds a plain allow-list's names to `allowed`, or says why it is not one.
fn plain_names(
    profile: usize,
    p: &Profile,
    allowed: &mut BTreeSet<String>,
) -> Result<(), SeccompError> {
    if !refuses_all(&p.default_action) {
        let action = p.default_action.clone();
        return Err(SeccompError::DefaultNotDeny { profile, action });
    }
    for (rule, r) in p.syscalls.iter().enumerate() {
        let why = if !r.args.is_empty() {
            NotPlain::Conditional
        } else if !r.includes.is_empty() || !r.excludes.is_empty() {
            NotPlain::Filtered
        } else if r.action != ALLOW {
            NotPlain::Action(r.action.clone())
        } else {
            allowed.extend(r.all_names().map(str::to_string));
            continue;
        };
        let names = r.all_names().map(str::to_string).collect();
        return Err(SeccompError::NotAllowList {
            profile,
            rule,
            names,
            why,
        });
    }
    Ok(())
}

/// Default actions under which a profile allows exactly what its allow rules name.
fn refuses_all(action: &str) -> bool {
    matches!(
        action,
        "SCMP_ACT_ERRNO" | "SCMP_ACT_KILL" | "SCMP_ACT_KILL_PROCESS" | "SCMP_ACT_KILL_THREAD"
    )
}

/// Profile number `profile` against the first; arches compare as sets, and a missing `defaultErrnoRet`
/// is EPERM (runc's default).
fn same_settings(profile: usize, first: &Profile, p: &Profile) -> Result<(), SeccompError> {
    let arches = |x: &Profile| x.architectures.iter().cloned().collect::<BTreeSet<_>>();
    let errno = |x: &Profile| x.default_errno_ret.unwrap_or(EPERM);
    let field = if arches(first) != arches(p) || first.arch_map != p.arch_map {
        "architectures"
    } else if first.default_action != p.default_action {
        "defaultAction"
    } else if errno(first) != errno(p) {
        "defaultErrnoRet"
    } else if first.flags != p.flags {
        "flags"
    } else if first.listener_path != p.listener_path {
        "listenerPath"
    } else {
        return Ok(());
    };
    Err(SeccompError::Differs { profile, field })
}

/// What a container used against what its profile allows now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    /// How many names the profile allows for any arguments.
    pub allowed_now: usize,
    /// Allowed for any arguments and never used: what a generated profile would take away.
    pub allowed_unused: Vec<String>,
    /// Used, yet the profile refuses them (seen under another profile, e.g. unconfined).
    pub used_refused: Vec<String>,
    /// Used, and allowed only for some argument values.
    pub used_conditional: Vec<String>,
    /// How many names were used.
    pub used: usize,
}

/// Compares the names a container used with what its resolved profile allows now.
pub fn diff(now: &Resolved, used: &BTreeSet<String>) -> Diff {
    let used_with = |answer: Allow| -> Vec<String> {
        let names = used.iter().filter(|n| now.allows(n) == answer);
        names.cloned().collect()
    };
    Diff {
        allowed_now: now.allowed.len(),
        allowed_unused: now.allowed.difference(used).cloned().collect(),
        used_refused: used_with(Allow::No),
        used_conditional: used_with(Allow::WithArgs),
        used: used.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Profile files come from users and from containers' inspect data: any bytes give
        /// a profile or an error, never a panic; and whatever parses resolves and merges.
        #[test]
        fn any_bytes_parse_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(p) = parse(&bytes, "fuzz") {
                let t = Target { arch: "amd64".into(), caps: BTreeSet::new(), kernel: (6, 18) };
                let r = resolve(&p, &t);
                let _ = diff(&r, &BTreeSet::new());
                let _ = merge(&[p.clone(), p]);
            }
        }

        #[test]
        fn profile_shaped_json_never_panics(
            action in "[A-Z_]{0,20}",
            names in proptest::collection::vec("[a-z_0-9]{0,12}", 0..8),
            kernel in "[0-9.]{0,6}",
            errno in proptest::option::of(any::<u32>()),
        ) {
            let doc = serde_json::json!({
                "defaultAction": action,
                "defaultErrnoRet": errno,
                "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW",
                              "includes": {"minKernel": kernel}}],
            });
            let bytes = serde_json::to_vec(&doc).unwrap();
            if let Ok(p) = parse(&bytes, "fuzz") {
                let t = Target { arch: "arm64".into(), caps: BTreeSet::new(), kernel: (6, 18) };
                let _ = resolve(&p, &t);
                let _ = merge(&[p]);
            }
        }
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    fn target(arch: &str, extra_caps: &[&str], kernel: (u32, u32)) -> Target {
        let caps = super::super::caps::DOCKER_DEFAULT
            .iter()
            .chain(extra_caps)
            .copied();
        Target {
            arch: arch.to_string(),
            caps: caps.map(str::to_string).collect(),
            kernel,
        }
    }

    fn docker_default() -> Resolved {
        let (_, profile) = default_for("20.10.24").unwrap();
        resolve(&profile, &target("amd64", &[], (6, 18)))
    }

    #[test]
    fn every_embedded_default_parses() {
        for (version, json) in DEFAULTS {
            let profile = parse(json.as_bytes(), version).unwrap();
            assert_eq!(profile.default_action, "SCMP_ACT_ERRNO", "{version}");
        }
    }

    #[test]
    fn docker_default_for_docker_default_caps() {
        let r = docker_default();
        assert_eq!(r.allows("read"), Allow::Yes);
        // Needs CAP_SYS_ADMIN.
        assert_eq!(r.allows("mount"), Allow::No);
        // Included from kernel 4.8.
        assert_eq!(r.allows("ptrace"), Allow::Yes);
        // Without CAP_SYS_ADMIN, only without namespace flags.
        assert_eq!(r.allows("clone"), Allow::WithArgs);
        assert_eq!(r.allows("personality"), Allow::WithArgs);
        // ENOSYS (so glibc falls back to clone), an explicit refusal.
        assert!(r.refused.contains("clone3"));
        assert_eq!(r.allows("arch_prctl"), Allow::Yes);
        assert_eq!(r.allows("no_such_call"), Allow::No);
        // Counted by hand with python3 over moby-v20.10.24-default.json: the first rule's 346
        // names (plain SCMP_ACT_ALLOW, no args, no filters, no duplicates), plus the four
        // filtered rules this target meets and whose names are not among them: ptrace
        // (minKernel 4.8), arch_prctl and modify_ldt (arches with amd64), chroot
        // (CAP_SYS_CHROOT). 346 + 4 = 350.
        assert_eq!(r.allowed.len(), 350);
    }

    #[test]
    fn cap_sys_admin_allows_mount_and_any_clone() {
        let (_, profile) = default_for("20.10.24").unwrap();
        let r = resolve(&profile, &target("amd64", &["CAP_SYS_ADMIN"], (6, 18)));
        assert_eq!(r.allows("mount"), Allow::Yes);
        assert_eq!(r.allows("clone"), Allow::Yes);
        assert_eq!(r.allows("clone3"), Allow::Yes);
        assert!(r.refused.is_empty());
    }

    #[test]
    fn kernel_and_arch_filters() {
        let (_, profile) = default_for("20.10.24").unwrap();
        let old = resolve(&profile, &target("amd64", &[], (4, 4)));
        assert_eq!(old.allows("ptrace"), Allow::No);
        let arm = resolve(&profile, &target("arm64", &[], (6, 18)));
        assert_eq!(arm.allows("arch_prctl"), Allow::No);
        assert_eq!(arm.allows("arm_fadvise64_64"), Allow::Yes);
    }

    #[test]
    fn newer_defaults_restrict_socket() {
        let (version, profile) = default_for("28.5.2").unwrap();
        assert_eq!(version, "28.5.2");
        let r = resolve(&profile, &target("amd64", &[], (6, 18)));
        assert_eq!(r.allows("socket"), Allow::WithArgs);
        assert_eq!(r.allows("process_vm_readv"), Allow::Yes);
    }

    #[test]
    fn default_by_daemon_version() {
        let cases = [
            ("20.10.24", "20.10.24"),
            ("20.10.24+dfsg1", "20.10.24"),
            ("1.13.1", "20.10.24"),
            ("21.0.0", "28.5.2"),
            ("28.5.2", "28.5.2"),
            ("v28.0.1", "28.5.2"),
            ("29.1.0", "master-2026-08"),
            ("garbage", "master-2026-08"),
            ("", "master-2026-08"),
        ];
        for (daemon, moby) in cases {
            assert_eq!(default_for(daemon).unwrap().0, moby, "{daemon}");
        }
    }

    #[test]
    fn architectures_from_the_arch_map() {
        let amd64 = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"];
        assert_eq!(architectures("amd64"), amd64);
        assert_eq!(
            architectures("arm64"),
            ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
        );
        // In moby's map with `subArchitectures: null`.
        assert_eq!(architectures("riscv64"), ["SCMP_ARCH_RISCV64"]);
        assert!(architectures("sparc").is_empty());
        assert_eq!(go_arch("x86_64"), Some("amd64"));
        assert_eq!(go_arch("aarch64"), Some("arm64"));
        assert_eq!(go_arch("sparc64"), None);
    }

    #[test]
    fn generated_profile_round_trips() {
        let used = set(&["write", "read", "exit_group", "Bad-Name", ""]);
        let p = generate(&used, "amd64");
        assert_eq!(p.default_action, "SCMP_ACT_ERRNO");
        assert_eq!(p.default_errno_ret, Some(1));
        let amd64 = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"];
        assert_eq!(p.architectures, amd64);
        assert_eq!(p.syscalls.len(), 1);
        assert_eq!(p.syscalls[0].names, ["exit_group", "read", "write"]);
        assert_eq!(p.syscalls[0].action, "SCMP_ACT_ALLOW");

        let json = serde_json::to_vec(&p).unwrap();
        assert_eq!(parse(&json, "generated").unwrap(), p);
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(value["defaultErrnoRet"], 1);
        assert!(value.get("archMap").is_none());
        assert!(value["syscalls"][0].get("includes").is_none());
    }

    #[test]
    fn merge_is_the_union() {
        let a = generate(&set(&["read", "write"]), "amd64");
        let b = generate(&set(&["openat", "read"]), "amd64");
        let merged = merge(&[a.clone(), b]).unwrap();
        assert_eq!(merged.syscalls.len(), 1);
        assert_eq!(merged.syscalls[0].names, ["openat", "read", "write"]);
        assert_eq!(merged.architectures, a.architectures);
        assert_eq!(merged.default_errno_ret, Some(1));
    }

    #[test]
    fn merge_refuses_what_is_not_a_plain_allow_list() {
        let plain = generate(&set(&["read"]), "amd64");
        let mut conditional = plain.clone();
        let arg = Arg {
            index: 0,
            value: 0,
            value_two: 0,
            op: "SCMP_CMP_EQ".to_string(),
        };
        let mut personality = allow_rules(vec!["personality".to_string()]);
        personality[0].args.push(arg);
        conditional.syscalls.extend(personality);
        let err = merge(&[plain.clone(), conditional]).unwrap_err();
        assert!(matches!(
            &err,
            SeccompError::NotAllowList { profile: 1, rule: 1, names, why: NotPlain::Conditional }
                if names == &["personality"]
        ));

        let (_, docker) = default_for("28.5.2").unwrap();
        let err = merge(&[docker]).unwrap_err();
        assert!(matches!(
            err,
            SeccompError::NotAllowList {
                rule: 1,
                why: NotPlain::Filtered,
                ..
            }
        ));

        let arm = generate(&set(&["read"]), "arm64");
        let err = merge(&[plain.clone(), arm]).unwrap_err();
        assert!(matches!(
            err,
            SeccompError::Differs {
                profile: 1,
                field: "architectures"
            }
        ));

        let mut open = plain;
        open.default_action = "SCMP_ACT_ALLOW".to_string();
        let err = merge(&[open]).unwrap_err();
        assert!(matches!(
            err,
            SeccompError::DefaultNotDeny { profile: 0, .. }
        ));
        assert!(matches!(merge(&[]), Err(SeccompError::NothingToMerge)));
    }

    #[test]
    fn malformed_json_names_its_path() {
        let err = parse(b"{\"defaultAction\": ", "/etc/docker/seccomp.json").unwrap_err();
        let path = "/etc/docker/seccomp.json";
        assert!(matches!(&err, SeccompError::Malformed { path: p, .. } if p == path));
        assert!(std::error::Error::source(&err).is_some());
        let err = parse(b"{\"syscalls\": []}", "no-default.json").unwrap_err();
        assert!(matches!(err, SeccompError::Malformed { .. }));
    }

    #[test]
    fn old_and_loose_profiles_read_as_dockerd_reads_them() {
        let json = br#"{"defaultAction": "SCMP_ACT_ERRNO", "future": 1, "syscalls": [
            {"name": "read", "action": "SCMP_ACT_ALLOW", "args": null, "includes": null},
            {"names": ["kill"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": ""}}
        ]}"#;
        let p = parse(json, "old.json").unwrap();
        assert_eq!(p.syscalls[0].all_names().collect::<Vec<_>>(), ["read"]);
        let r = resolve(&p, &target("amd64", &[], (6, 18)));
        assert_eq!(r.allows("read"), Allow::Yes);
        assert_eq!(r.allows("kill"), Allow::Yes);
    }

    #[test]
    fn what_dockerd_refuses_is_refused() {
        let both = br#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"name": "read", "names": ["write"], "action": "SCMP_ACT_ALLOW"}]}"#;
        let err = parse(both, "both.json").unwrap_err();
        assert!(matches!(err, SeccompError::NameAndNames { rule: 0, .. }));
        for bad in ["4", "4.8.1", "0.0", "4.x", "300.1"] {
            let json = format!(
                r#"{{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{{"names": ["read"],
                "action": "SCMP_ACT_ALLOW", "includes": {{"minKernel": "{bad}"}}}}]}}"#
            );
            let err = parse(json.as_bytes(), "kernel.json").unwrap_err();
            assert!(matches!(err, SeccompError::BadMinKernel { ref value, .. } if value == bad));
        }
        let arches = br#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [],
            "architectures": ["SCMP_ARCH_X86_64"],
            "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": null}]}"#;
        let err = parse(arches, "arches.json").unwrap_err();
        assert!(matches!(err, SeccompError::ArchitecturesAndArchMap { .. }));
    }

    #[test]
    fn allowing_default_allows_all_but_refusals() {
        let json = br#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mount"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["socket"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_EQ"}]}]}"#;
        let r = resolve(
            &parse(json, "deny.json").unwrap(),
            &target("amd64", &[], (6, 18)),
        );
        assert_eq!(r.allows("read"), Allow::Yes);
        assert_eq!(r.allows("mount"), Allow::No);
        assert_eq!(r.allows("socket"), Allow::WithArgs);
    }

    #[test]
    fn diff_against_docker_default() {
        let now = docker_default();
        let used = set(&["clone", "mount", "read", "write"]);
        let d = diff(&now, &used);
        assert_eq!(d.used, 4);
        assert_eq!(d.allowed_now, 350);
        assert_eq!(d.used_refused, ["mount"]);
        assert_eq!(d.used_conditional, ["clone"]);
        assert_eq!(d.allowed_unused.len(), 348);
        assert!(!d.allowed_unused.iter().any(|n| n == "read"));
    }
}
