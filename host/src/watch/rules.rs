//! Which rules a watch runs, and so what the probes attach: each rule's event sources (as
//! its plugin declares them, or what a 0.1.0 host gave), the operator's `--rules`, and the
//! union of the sources of the rules that run, with the rules that asked for each.

use crate::abi::sources as abi;
use crate::probes::{CapResults, Source, Sources, Tier};
use crate::runtime::Plugin;
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::sync::Arc;

/// Syscalls a 0.1.0 host watched for every rule plugin: what a rule that declares nothing
/// is given.
const LEGACY_SYSCALLS: &[&str] = &[
    "chmod",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "ptrace",
    "setuid",
    "setgid",
    "setreuid",
    "setregid",
    "setresuid",
    "setresgid",
    "setfsuid",
    "setfsgid",
    "capset",
    "mount",
    "umount2",
    "init_module",
    "finit_module",
    "unshare",
    "setns",
    "bpf",
];

/// The operator's choice of rules (`--rules`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    /// Every rule that needs nothing on the syscall path.
    default: bool,
    /// Every rule.
    all: bool,
    /// Rules by id, or id prefixes ending in `*`.
    named: Vec<String>,
}

impl Default for RuleSpec {
    fn default() -> Self {
        RuleSpec {
            default: true,
            all: false,
            named: Vec::new(),
        }
    }
}

/// A `--rules` item that is neither a keyword nor a rule id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not `default`, `all` or a rule id (an id may end in `*`)")]
pub struct BadRuleSpec(pub String);

impl FromStr for RuleSpec {
    type Err = BadRuleSpec;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut spec = RuleSpec {
            default: false,
            all: false,
            named: Vec::new(),
        };
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            match item {
                "default" => spec.default = true,
                "all" => spec.all = true,
                id if id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-*".contains(&b))
                    && !id.starts_with('*') =>
                {
                    spec.named.push(id.to_string())
                }
                other => return Err(BadRuleSpec(other.to_string())),
            }
        }
        Ok(spec)
    }
}

impl RuleSpec {
    fn names(&self, id: &str) -> bool {
        self.named.iter().any(|n| match n.strip_suffix('*') {
            Some(prefix) => id.starts_with(prefix),
            None => n == id,
        })
    }

    /// Whether a rule of `tier` runs, and if not, why.
    fn decide(&self, id: &str, tier: Tier) -> Result<(), String> {
        if self.all || self.names(id) || (self.default && tier == Tier::Process) {
            Ok(())
        } else if self.default {
            Err(format!(
                "needs {tier}, which every syscall on the host pays for; select it with the rule spec \"all\" or \"default,{id}\""
            ))
        } else {
            Err("not selected by the rule spec".to_string())
        }
    }

    /// The named ids that match no rule.
    pub fn unmatched<'a>(&self, ids: impl Iterator<Item = &'a str> + Clone) -> Vec<&str> {
        self.named
            .iter()
            .filter(|n| {
                let one = RuleSpec {
                    default: false,
                    all: false,
                    named: vec![n.to_string()],
                };
                !ids.clone().any(|id| one.names(id))
            })
            .map(String::as_str)
            .collect()
    }
}

/// One rule and what it needs.
#[derive(Debug, Clone)]
pub struct PlannedRule {
    pub plugin: String,
    pub rule: String,
    pub sources: Vec<Source>,
    pub tier: Tier,
    /// The plugin did not declare this rule's sources: it gets what a 0.1.0 host gave.
    pub legacy: bool,
}

/// Which rules run and what is attached for them.
#[derive(Debug, Clone, Default)]
pub struct RulePlan {
    pub enabled: Vec<PlannedRule>,
    /// Rules that do not run, and why.
    pub disabled: Vec<(PlannedRule, String)>,
    /// Sources asked for without a rule (`--count-syscalls`), and why.
    pub extra: Vec<(Source, String)>,
}

impl RulePlan {
    /// The rules of the plugins that may see traces, chosen by `spec`.
    pub fn new(plugins: &[Arc<Plugin>], spec: &RuleSpec) -> RulePlan {
        let mut plan = RulePlan::default();
        for p in plugins {
            for r in &p.rules {
                let declared = p
                    .rule_needs
                    .as_ref()
                    .and_then(|n| n.iter().find(|n| n.rule == r.id))
                    .filter(|n| !n.sources.is_empty());
                let (sources, legacy) = match declared {
                    Some(n) => (n.sources.iter().filter_map(from_abi).collect(), false),
                    None => (legacy_sources(), true),
                };
                let tier = sources
                    .iter()
                    .map(Source::tier)
                    .max()
                    .unwrap_or(Tier::Process);
                let planned = PlannedRule {
                    plugin: p.name.clone(),
                    rule: r.id.clone(),
                    sources,
                    tier,
                    legacy,
                };
                match spec.decide(&r.id, tier) {
                    Ok(()) => plan.enabled.push(planned),
                    Err(why) => plan.disabled.push((planned, why)),
                }
            }
        }
        plan
    }

    /// Also count every syscall (and capability check) in the kernel, for `why`.
    pub fn count_everything(&mut self, why: &str) {
        self.extra.push((Source::SyscallCounts, why.to_string()));
        self.extra.push((Source::CapabilityCounts, why.to_string()));
    }

    /// What the probes attach: the union of the enabled rules' sources and the extras.
    pub fn sources(&self) -> Sources {
        Sources::of(
            self.enabled
                .iter()
                .flat_map(|r| r.sources.iter())
                .chain(self.extra.iter().map(|(s, _)| s)),
        )
    }

    /// Whether the rule `id` of `plugin` runs.
    pub fn runs(&self, plugin: &str, id: &str) -> bool {
        self.enabled
            .iter()
            .any(|r| r.plugin == plugin && r.rule == id)
    }

    /// Each source attached and the rules (or options) that asked for it, for the operator.
    pub fn reasons(&self) -> Vec<(String, Tier, Vec<String>)> {
        let mut by: BTreeMap<String, (Tier, BTreeSet<String>)> = BTreeMap::new();
        for r in &self.enabled {
            for s in &r.sources {
                let e = by
                    .entry(s.to_string())
                    .or_insert((s.tier(), BTreeSet::new()));
                e.1.insert(r.rule.clone());
            }
        }
        for (s, why) in &self.extra {
            let e = by
                .entry(s.to_string())
                .or_insert((s.tier(), BTreeSet::new()));
            e.1.insert(why.clone());
        }
        let mut out: Vec<(String, Tier, Vec<String>)> = by
            .into_iter()
            .map(|(s, (t, who))| (s, t, who.into_iter().collect()))
            .collect();
        out.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
        out
    }
}

/// What a rule that declares nothing was given by a 0.1.0 host.
fn legacy_sources() -> Vec<Source> {
    let every_cap = (0..=40)
        .map(|c| {
            (
                c,
                CapResults {
                    granted: true,
                    denied: true,
                },
            )
        })
        .collect();
    vec![
        Source::Process,
        Source::Capabilities(every_cap),
        Source::Syscalls(LEGACY_SYSCALLS.iter().map(|s| s.to_string()).collect()),
    ]
}

/// A declared source as the probes know it (`None`, with a warning, for a capability name
/// the host does not know).
fn from_abi(s: &abi::Source) -> Option<Source> {
    Some(match s {
        abi::Source::Process => Source::Process,
        abi::Source::Namespaces => Source::Namespaces,
        abi::Source::Modules => Source::Modules,
        abi::Source::Syscalls(names) => Source::Syscalls(names.iter().cloned().collect()),
        abi::Source::Capabilities((names, r)) => {
            let mut caps = BTreeMap::new();
            for n in names {
                match caps::Capability::from_str(n) {
                    Ok(c) => {
                        caps.insert(
                            u32::from(c.index()),
                            CapResults {
                                granted: r.granted,
                                denied: r.denied,
                            },
                        );
                    }
                    Err(_) => {
                        tracing::warn!("a rule asks for capability {n:?}, which is no capability")
                    }
                }
            }
            Source::Capabilities(caps)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_specs_parse_and_decide() {
        let d = RuleSpec::default();
        assert!(d.decide("R.SHELL", Tier::Process).is_ok());
        let why = d.decide("R.MOUNT", Tier::Syscalls).unwrap_err();
        assert!(why.contains("\"default,R.MOUNT\""), "{why}");
        let all: RuleSpec = "all".parse().unwrap();
        assert!(all.decide("R.MOUNT", Tier::Syscalls).is_ok());
        let some: RuleSpec = "default, R.MOUNT,X.*".parse().unwrap();
        assert!(some.decide("R.MOUNT", Tier::Syscalls).is_ok());
        assert!(some.decide("X.ANY", Tier::AllSyscalls).is_ok());
        assert!(some.decide("R.PTRACE", Tier::Syscalls).is_err());
        let only: RuleSpec = "R.MOUNT".parse().unwrap();
        assert!(only.decide("R.SHELL", Tier::Process).is_err());
        assert_eq!(
            only.unmatched(["R.SHELL", "R.MOUNT"].into_iter()),
            Vec::<&str>::new()
        );
        assert_eq!(some.unmatched(["R.MOUNT"].into_iter()), vec!["X.*"]);
        for bad in ["*", "R.SHELL;rm", "a b"] {
            assert!(bad.parse::<RuleSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn declared_capabilities_become_numbers() {
        let s = from_abi(&abi::Source::Capabilities((
            vec!["CAP_SETUID".into(), "CAP_NOPE".into()],
            abi::CapResults {
                granted: false,
                denied: true,
            },
        )));
        let Some(Source::Capabilities(c)) = s else {
            panic!("{s:?}")
        };
        assert_eq!(c.len(), 1);
        assert!(c[&7].denied && !c[&7].granted);
        assert_eq!(
            legacy_sources().iter().map(Source::tier).max(),
            Some(Tier::Syscalls)
        );
    }
}
