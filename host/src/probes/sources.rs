//! What the probes attach, chosen by what the loaded rules (and options) need: the union of
//! their event sources, each with the tier that says what it costs.
//!
//! - Tier 1, off the syscall path: process lifecycle (`sched_process_exec|fork|exit`),
//!   capability checks (`capability/cap_capable`), namespace-creating clones
//!   (`task/task_newtask`), module loads (`module/module_load`), and containers' new
//!   cgroups (`cgroup/cgroup_mkdir`, always: it is how a container is watched from its
//!   first syscall). A process that is not watched pays nothing on its syscalls.
//! - Tier 2, per-syscall tracepoints (`syscalls/sys_enter_<name>`, `sys_exit_<name>`):
//!   once any is attached, every syscall of every process on the host takes the kernel's
//!   tracing path (about 70 ns on the development VM) before the one asked for is picked.
//! - Tier 3, the all-syscall counter on `raw_syscalls/sys_enter`: the same dispatch, plus a
//!   program run on every syscall; only for `--count-syscalls`, `audit --observe` and
//!   `profile`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// How much an attach point costs the host (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tier {
    /// Off the syscall path.
    Process = 1,
    /// Per-syscall tracepoints.
    Syscalls = 2,
    /// The all-syscall counter.
    AllSyscalls = 3,
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Tier::Process => "tier 1 (off the syscall path)",
            Tier::Syscalls => "tier 2 (per-syscall tracepoints)",
            Tier::AllSyscalls => "tier 3 (every syscall counted)",
        })
    }
}

/// Which results of a capability check a consumer wants as events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CapResults {
    pub granted: bool,
    pub denied: bool,
}

impl CapResults {
    pub fn union(self, o: CapResults) -> CapResults {
        CapResults {
            granted: self.granted || o.granted,
            denied: self.denied || o.denied,
        }
    }
}

/// One event source a consumer (a rule, an option) needs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// exec, fork and exit of processes.
    Process,
    /// Checks of these capabilities (by number) with these results, as events.
    Capabilities(BTreeMap<u32, CapResults>),
    /// Every capability check counted in the kernel (no events).
    CapabilityCounts,
    /// Tasks created with new namespaces.
    Namespaces,
    /// Kernel module loads.
    Modules,
    /// These syscalls, by name, on entry and exit.
    Syscalls(BTreeSet<String>),
    /// Every syscall counted in the kernel.
    SyscallCounts,
    /// What `profile` needs on top of the counts: compat syscalls told apart, and unaudited
    /// capability probes told from needs.
    ProfileDetail,
    /// Syscalls that ended in `-EPERM` counted (on `raw_syscalls/sys_exit`): what a
    /// seccomp filter refused (`profile verify`).
    Refusals,
}

impl Source {
    pub fn tier(&self) -> Tier {
        match self {
            Source::Syscalls(s) if !s.is_empty() => Tier::Syscalls,
            Source::SyscallCounts | Source::Refusals => Tier::AllSyscalls,
            _ => Tier::Process,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Process => f.write_str("process exec/fork/exit"),
            Source::Capabilities(c) => {
                let names: Vec<String> = c
                    .iter()
                    .map(|(cap, r)| {
                        let which = match (r.granted, r.denied) {
                            (true, true) => "",
                            (true, false) => " granted",
                            _ => " denied",
                        };
                        format!("{}{which}", crate::capability::name(*cap as i64))
                    })
                    .collect();
                write!(f, "capability checks ({})", names.join(", "))
            }
            Source::CapabilityCounts => f.write_str("capability check counts"),
            Source::Namespaces => f.write_str("namespace-creating clones"),
            Source::Modules => f.write_str("module loads"),
            Source::Syscalls(s) => {
                let names: Vec<&str> = s.iter().map(String::as_str).collect();
                write!(f, "syscalls {}", names.join(", "))
            }
            Source::SyscallCounts => f.write_str("every syscall counted"),
            Source::ProfileDetail => f.write_str("compat syscalls and unaudited capability probes"),
            Source::Refusals => f.write_str("syscalls ending in EPERM counted"),
        }
    }
}

/// The union of what every consumer needs: what the probes attach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    pub process: bool,
    /// Capability number → which results become events.
    pub capabilities: BTreeMap<u32, CapResults>,
    pub count_capabilities: bool,
    pub namespaces: bool,
    pub modules: bool,
    pub syscalls: BTreeSet<String>,
    pub count_syscalls: bool,
    /// Compat syscalls counted apart from native ones; unaudited capability probes marked.
    pub profile_detail: bool,
    /// Syscalls ending in `-EPERM` counted.
    pub count_refusals: bool,
}

impl Sources {
    /// Add what one source needs.
    pub fn add(&mut self, s: &Source) {
        match s {
            Source::Process => self.process = true,
            Source::Capabilities(c) => {
                for (cap, r) in c {
                    let e = self.capabilities.entry(*cap).or_default();
                    *e = e.union(*r);
                }
            }
            Source::CapabilityCounts => self.count_capabilities = true,
            Source::Namespaces => self.namespaces = true,
            Source::Modules => self.modules = true,
            Source::Syscalls(names) => self.syscalls.extend(names.iter().cloned()),
            Source::SyscallCounts => self.count_syscalls = true,
            Source::ProfileDetail => self.profile_detail = true,
            Source::Refusals => self.count_refusals = true,
        }
    }

    /// The union of `sources`.
    pub fn of<'a>(sources: impl IntoIterator<Item = &'a Source>) -> Sources {
        let mut out = Sources::default();
        for s in sources {
            out.add(s);
        }
        out
    }

    /// The dearest tier attached.
    pub fn tier(&self) -> Tier {
        if self.count_syscalls || self.count_refusals {
            Tier::AllSyscalls
        } else if !self.syscalls.is_empty() {
            Tier::Syscalls
        } else {
            Tier::Process
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_union_takes_every_need_and_the_dearest_tier() {
        let both = CapResults {
            granted: true,
            denied: true,
        };
        let granted = CapResults {
            granted: true,
            denied: false,
        };
        let a = Source::Capabilities(BTreeMap::from([(7, granted)]));
        let b = Source::Capabilities(BTreeMap::from([(
            7,
            CapResults {
                granted: false,
                denied: true,
            },
        )]));
        let s = Sources::of([&Source::Process, &a, &b]);
        assert_eq!(s.capabilities[&7], both);
        assert_eq!(s.tier(), Tier::Process);
        let s = Sources::of([
            &Source::Process,
            &Source::Syscalls(BTreeSet::from(["mount".to_string()])),
        ]);
        assert_eq!(s.tier(), Tier::Syscalls);
        assert_eq!(
            Sources::of([&Source::SyscallCounts]).tier(),
            Tier::AllSyscalls
        );
        assert_eq!(a.to_string(), "capability checks (CAP_SETUID granted)");
    }
}
