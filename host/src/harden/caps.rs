//! Capability sets from observation: which capabilities a container's processes needed
//! (checked by the kernel and granted) against those it holds, written as `docker run`
//! flags and compose keys that start from nothing and add back only those.

use serde::Serialize;
use std::collections::BTreeSet;

/// One capability as the probes saw the kernel check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapUse {
    /// `CAP_NET_ADMIN`.
    pub name: String,
    /// Checks that passed: the container did something that needed it.
    pub granted: u64,
    /// Checks that failed: it tried without holding it (and coped, or failed).
    pub denied: u64,
}

/// Capabilities named as Docker's flags take them (`NET_ADMIN`), each list sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Recommendation {
    /// Granted at least once: what the container needs, for `--cap-add` after
    /// `--cap-drop ALL`.
    pub add: Vec<String>,
    /// Held now and never granted: nothing the container did needed them.
    pub drop_unused: Vec<String>,
    /// Only ever denied and not held: what it did worked without them (or failed), so
    /// adding them is a human's decision, not an observation's.
    pub missing: Vec<String>,
}

/// What to keep, drop and look at, from the capabilities a container holds (`CAP_…`) and
/// those it was seen using. Names that are not capability names are left out, so nothing
/// from a container reaches the flags but `[A-Z0-9_]`.
pub fn recommend(held: &BTreeSet<String>, used: &[CapUse]) -> Recommendation {
    let held: BTreeSet<String> = held.iter().map(String::as_str).filter_map(bare).collect();
    let granted = names_where(used, |u| u.granted > 0);
    let denied = names_where(used, |u| u.denied > 0);
    Recommendation {
        drop_unused: held.difference(&granted).cloned().collect(),
        missing: denied
            .iter()
            .filter(|c| !granted.contains(*c) && !held.contains(*c))
            .cloned()
            .collect(),
        add: granted.into_iter().collect(),
    }
}

fn names_where(used: &[CapUse], keep: fn(&CapUse) -> bool) -> BTreeSet<String> {
    used.iter()
        .filter(|u| keep(u))
        .filter_map(|u| bare(&u.name))
        .collect()
}

/// `NET_ADMIN` for `CAP_NET_ADMIN`, `cap_net_admin` or `NET_ADMIN`; `None` for anything
/// else than letters, digits and `_`.
fn bare(name: &str) -> Option<String> {
    let name = name.trim();
    let rest = match name.get(..4) {
        Some(prefix) if prefix.eq_ignore_ascii_case("CAP_") => &name[4..],
        _ => name,
    };
    let upper = rest.to_ascii_uppercase();
    // Only capabilities this kernel ABI has (`CAP_41` from an unknown number would make
    // `--cap-add 41`, which Docker refuses).
    let known = format!("CAP_{upper}").parse::<caps::Capability>().is_ok();
    (known && !rest.is_empty()).then_some(upper)
}

/// Docker's default capability set (moby `oci/caps/defaults.go`).
pub const DOCKER_DEFAULT: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// The capabilities (`CAP_…`) a container gets from its run options, as dockerd computes
/// them: Docker's defaults, less `--cap-drop` (`ALL` drops them all first), plus
/// `--cap-add` (`ALL` adds every one); everything when privileged. For a container with no
/// process to read the real set from.
pub fn from_run_options(add: &[String], drop: &[String], privileged: bool) -> BTreeSet<String> {
    let all = || caps::all().into_iter().map(|c| c.to_string());
    if privileged {
        return all().collect();
    }
    let is_all = |v: &[String]| v.iter().any(|c| c.eq_ignore_ascii_case("ALL"));
    let full = |c: &String| bare(c).map(|b| format!("CAP_{b}"));
    let mut out: BTreeSet<String> = if is_all(drop) {
        BTreeSet::new()
    } else {
        let dropped: BTreeSet<String> = drop.iter().filter_map(full).collect();
        DOCKER_DEFAULT
            .iter()
            .map(|c| c.to_string())
            .filter(|c| !dropped.contains(c))
            .collect()
    };
    if is_all(add) {
        out.extend(all());
    } else {
        out.extend(add.iter().filter_map(full));
    }
    out
}

impl Recommendation {
    /// `--cap-drop ALL --cap-add NET_BIND_SERVICE ...`: dropping all first keeps out what
    /// Docker grants by default and nothing needed.
    pub fn docker_flags(&self) -> String {
        let mut flags = String::from("--cap-drop ALL");
        for cap in &self.add {
            flags.push_str(" --cap-add ");
            flags.push_str(cap);
        }
        flags
    }

    /// The same as compose service keys (`cap_drop`, `cap_add`), as YAML lines.
    pub fn compose(&self) -> String {
        let mut yaml = String::from("cap_drop:\n  - ALL\n");
        if !self.add.is_empty() {
            yaml.push_str("cap_add:\n");
            for cap in &self.add {
                yaml.push_str("  - ");
                yaml.push_str(cap);
                yaml.push('\n');
            }
        }
        yaml
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    fn seen(name: &str, granted: u64, denied: u64) -> CapUse {
        CapUse {
            name: name.to_string(),
            granted,
            denied,
        }
    }

    #[test]
    fn held_and_never_used_is_dropped() {
        let caps = held(&["CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE"]);
        let used = [
            seen("CAP_NET_BIND_SERVICE", 1, 0),
            seen("CAP_NET_ADMIN", 0, 0),
        ];
        let r = recommend(&caps, &used);
        assert_eq!(r.add, ["NET_BIND_SERVICE"]);
        assert_eq!(r.drop_unused, ["NET_ADMIN"]);
        assert!(r.missing.is_empty());
    }

    #[test]
    fn only_denied_is_missing_not_added() {
        let caps = held(&["CAP_CHOWN", "CAP_KILL"]);
        let used = [seen("CAP_SYS_ADMIN", 0, 3), seen("CAP_CHOWN", 2, 0)];
        let r = recommend(&caps, &used);
        assert_eq!(r.add, ["CHOWN"]);
        assert_eq!(r.drop_unused, ["KILL"]);
        assert_eq!(r.missing, ["SYS_ADMIN"]);
    }

    #[test]
    fn names_are_normalised_and_junk_left_out() {
        let caps = held(&["net_raw", "CAP_KILL", "KILL; rm -rf /"]);
        let used = [
            seen("cap_kill", 4, 0),
            seen("CAP_ X", 1, 0),
            seen("CAP_", 1, 0),
        ];
        let r = recommend(&caps, &used);
        assert_eq!(r.add, ["KILL"]);
        assert_eq!(r.drop_unused, ["NET_RAW"]);
        // A number the capability table does not name never becomes a flag.
        let r = recommend(&held(&[]), &[seen("CAP_41", 1, 0)]);
        assert!(r.add.is_empty());
    }

    #[test]
    fn run_options_give_dockers_set() {
        let s = |v: &[&str]| v.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        let c = from_run_options(&s(&["NET_ADMIN"]), &s(&["cap_chown"]), false);
        assert!(c.contains("CAP_NET_ADMIN") && c.contains("CAP_KILL"));
        assert!(!c.contains("CAP_CHOWN"));
        assert_eq!(c.len(), 14);
        let c = from_run_options(&s(&["NET_BIND_SERVICE"]), &s(&["ALL"]), false);
        assert_eq!(c.into_iter().collect::<Vec<_>>(), ["CAP_NET_BIND_SERVICE"]);
        assert!(from_run_options(&[], &[], true).contains("CAP_SYS_ADMIN"));
    }

    #[test]
    fn flags_and_compose() {
        let r = Recommendation {
            add: vec!["CHOWN".to_string(), "NET_BIND_SERVICE".to_string()],
            ..Recommendation::default()
        };
        let flags = "--cap-drop ALL --cap-add CHOWN --cap-add NET_BIND_SERVICE";
        assert_eq!(r.docker_flags(), flags);
        let yaml = "cap_drop:\n  - ALL\ncap_add:\n  - CHOWN\n  - NET_BIND_SERVICE\n";
        assert_eq!(r.compose(), yaml);

        let none = Recommendation::default();
        assert_eq!(none.docker_flags(), "--cap-drop ALL");
        assert_eq!(none.compose(), "cap_drop:\n  - ALL\n");
    }
}
