//! Built-in runtime rules for `bulwark watch`: what a container should not do once it runs.
//!
//! Each rule asks for the cheapest event sources that show what it looks for. The first six
//! need nothing on the syscall path (tier 1) and run by default; the others need
//! per-syscall tracepoints (tier 2), which every syscall on the host then pays for, and run
//! when the operator asks (`--rules all`, or by id). What each would miss on a cheaper tier
//! is in its description (and in the README's table).

use bulwark_sdk::prelude::*;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Docker's default capability set (bit n = capability n): anything beyond it is a raise.
const DOCKER_DEFAULT_CAPS: u64 = (1 << 0) // CHOWN
    | (1 << 1) // DAC_OVERRIDE
    | (1 << 3) // FOWNER
    | (1 << 4) // FSETID
    | (1 << 5) // KILL
    | (1 << 6) // SETGID
    | (1 << 7) // SETUID
    | (1 << 8) // SETPCAP
    | (1 << 10) // NET_BIND_SERVICE
    | (1 << 13) // NET_RAW
    | (1 << 18) // SYS_CHROOT
    | (1 << 27) // MKNOD
    | (1 << 29) // AUDIT_WRITE
    | (1 << 31); // SETFCAP

const SHELLS: &[&str] = &[
    "sh", "bash", "ash", "dash", "zsh", "ksh", "csh", "tcsh", "fish",
];
const PACKAGE_MANAGERS: &[&str] = &[
    "apt", "apt-get", "dpkg", "apk", "yum", "dnf", "rpm", "microdnf", "zypper", "pip", "pip3",
    "npm", "gem",
];

fn base(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn is_shell(path: &str) -> bool {
    SHELLS.contains(&base(path))
}

fn shell_or_package_manager(e: &RuleEvent) -> Option<String> {
    if !matches!(e.kind, Kind::Exec) {
        return None;
    }
    if is_shell(&e.path) {
        Some(format!("shell {} executed ({})", e.path, e.argv.join(" ")))
    } else if PACKAGE_MANAGERS.contains(&base(&e.path)) {
        Some(format!("package manager {} executed", e.path))
    } else {
        None
    }
}

/// Processes whose real uid was last seen non-root, with that uid; children inherit the
/// entry. Kept across batches for the whole watch.
static NON_ROOT: Mutex<BTreeMap<u32, u32>> = Mutex::new(BTreeMap::new());
/// Enough for every process of a busy host; beyond it the lowest pids are forgotten.
const MAX_TRACKED: usize = 65_536;

fn remember(map: &mut BTreeMap<u32, u32>, pid: u32, uid: u32) {
    if map.len() >= MAX_TRACKED && !map.contains_key(&pid) {
        if let Some(oldest) = map.keys().next().copied() {
            map.remove(&oldest);
        }
    }
    map.insert(pid, uid);
}

/// A process of a non-root user that gained root (a setuid-root binary, setuid or
/// setresuid) and then executed a shell: the shape of most privilege escalations.
fn root_shell(e: &RuleEvent) -> Option<String> {
    let mut map = NON_ROOT.lock().unwrap_or_else(|p| p.into_inner());
    match e.kind {
        Kind::Fork => {
            let (parent, child) = (*e.args.first()? as u32, *e.args.get(1)? as u32);
            if let Some(uid) = map.get(&parent).copied() {
                remember(&mut map, child, uid);
            }
            None
        }
        // A thread's exit is not its process's.
        Kind::Exit if e.tid == e.pid => {
            map.remove(&e.pid);
            None
        }
        Kind::Exec => {
            let euid = e.args.first().copied().unwrap_or(u64::from(e.uid)) as u32;
            let was = map.get(&e.pid).copied();
            if e.uid != 0 {
                remember(&mut map, e.pid, e.uid);
            }
            if euid != 0 || !is_shell(&e.path) {
                return None;
            }
            let args = e.argv.join(" ");
            if e.uid != 0 {
                // A shell running as root for a non-root user (a setuid-root shell, or one
                // exec'd by a setuid-root program that kept its effective uid).
                return Some(format!(
                    "uid {} runs the shell {} with effective uid 0 ({args})",
                    e.uid, e.path
                ));
            }
            let was = was?;
            map.remove(&e.pid);
            Some(format!(
                "uid {was} gained root (uid 0) and executed the shell {} ({args})",
                e.path
            ))
        }
        _ => None,
    }
}

/// The ids a set*id call asks for, by syscall (u32::MAX, i.e. -1, means "unchanged").
fn requested_ids(e: &RuleEvent) -> &[u64] {
    let n = match e.name.as_str() {
        "setuid" | "setfsuid" => 1,
        "setreuid" => 2,
        "setresuid" => 3,
        _ => 0,
    };
    &e.args[..n.min(e.args.len())]
}

fn setuid_root(e: &RuleEvent) -> Option<String> {
    if e.uid == 0 {
        return None;
    }
    match e.kind {
        // A non-root process changing its uids needs CAP_SETUID: this is every attempt.
        Kind::Capable if e.name == "CAP_SETUID" => Some(format!(
            "uid {} ({}) asked to change its user ids (CAP_SETUID {})",
            e.uid,
            e.comm,
            if e.ret == 0 { "granted" } else { "denied" }
        )),
        Kind::Exec if e.args.first() == Some(&0) => Some(format!(
            "setuid-root binary {} run by uid {}",
            e.path, e.uid
        )),
        Kind::Syscall if requested_ids(e).iter().any(|id| *id as u32 == 0) => Some(format!(
            "{} to root requested by uid {} ({})",
            e.name, e.uid, e.comm
        )),
        _ => None,
    }
}

fn bpf(e: &RuleEvent) -> Option<String> {
    if e.kind == Kind::Capable && e.name == "CAP_BPF" {
        return Some(format!(
            "{} used bpf() (CAP_BPF {})",
            e.comm,
            if e.ret == 0 { "granted" } else { "denied" }
        ));
    }
    is_syscall(e, "bpf").then(|| {
        format!(
            "bpf() command {} by {}",
            e.args.first().copied().unwrap_or(0),
            e.comm
        )
    })
}

/// `CLONE_NEW*` flags by name.
const NAMESPACE_FLAGS: &[(u64, &str)] = &[
    (0x0000_0080, "time"),
    (0x0002_0000, "mnt"),
    (0x0200_0000, "cgroup"),
    (0x0400_0000, "uts"),
    (0x0800_0000, "ipc"),
    (0x1000_0000, "user"),
    (0x2000_0000, "pid"),
    (0x4000_0000, "net"),
];

fn new_namespaces(e: &RuleEvent) -> Option<String> {
    if !is_syscall(e, "clone") {
        return None;
    }
    let flags = *e.args.first()?;
    let names: Vec<&str> = NAMESPACE_FLAGS
        .iter()
        .filter(|(f, _)| flags & f != 0)
        .map(|(_, n)| *n)
        .collect();
    (!names.is_empty()).then(|| {
        format!(
            "{} (pid {}) created a task in new {} namespaces",
            e.comm,
            e.pid,
            names.join(", ")
        )
    })
}

fn capset_raise(e: &RuleEvent) -> Option<String> {
    if !is_syscall(e, "capset") {
        return None;
    }
    let effective = e.args.get(2).copied().unwrap_or(0);
    let permitted = e.args.get(3).copied().unwrap_or(0);
    let beyond = (effective | permitted) & !DOCKER_DEFAULT_CAPS;
    (beyond != 0).then(|| {
        format!("capset asks for capabilities beyond Docker's defaults (mask {beyond:#x})")
    })
}

fn namespaces(e: &RuleEvent) -> Option<String> {
    (is_syscall(e, "unshare") || is_syscall(e, "setns"))
        .then(|| format!("{} called by {} (pid {})", e.name, e.comm, e.pid))
}

fn mount(e: &RuleEvent) -> Option<String> {
    (is_syscall(e, "mount") || is_syscall(e, "umount2"))
        .then(|| format!("{} called by {}", e.name, e.comm))
}

fn ptrace(e: &RuleEvent) -> Option<String> {
    is_syscall(e, "ptrace").then(|| {
        format!(
            "ptrace (request {}) by {}",
            e.args.first().copied().unwrap_or(0),
            e.comm
        )
    })
}

fn module_load(e: &RuleEvent) -> Option<String> {
    if e.kind == Kind::Capable && e.name == "CAP_SYS_MODULE" {
        return Some(format!("{} asked for CAP_SYS_MODULE", e.comm));
    }
    if is_syscall(e, "module_load") {
        return Some(format!("kernel module {} loaded by {}", e.path, e.comm));
    }
    (is_syscall(e, "init_module") || is_syscall(e, "finit_module"))
        .then(|| format!("{} by {}", e.name, e.comm))
}

fn setuid_bits(e: &RuleEvent) -> Option<String> {
    if !matches!(e.kind, Kind::Syscall) {
        return None;
    }
    let mode = match e.name.as_str() {
        "chmod" | "fchmod" => e.args.get(1),
        "fchmodat" | "fchmodat2" => e.args.get(2),
        _ => None,
    }?;
    (mode & 0o6000 != 0).then(|| {
        format!(
            "{} sets setuid/setgid bits (mode {:o})",
            e.name,
            mode & 0o7777
        )
    })
}

bulwark_sdk::plugin! {
    checks: [],
    rules: [
        Rule::new("R.SHELL", "Shell or package manager executed in a container", shell_or_package_manager)
            .severity("medium")
            .process()
            .description("Running containers should not need interactive shells or package installs. Tier 1: exec events (entrypoints included, since a container is watched from its cgroup's creation)."),
        Rule::new("R.ROOT_SHELL", "A process gained root, then executed a shell", root_shell)
            .severity("critical")
            .process()
            .description("A process that ran without root gained uid 0 (a setuid-root binary, setuid/setresuid) and then executed a shell. Tier 1: the uids at exec and fork; it remembers processes across batches. It misses a root gain that never reaches an exec of a shell (a shell already running keeps its pid)."),
        Rule::new("R.SETUID_ROOT", "Non-root process changing its user ids, or running a setuid-root binary", setuid_root)
            .severity("high")
            .process()
            .capability(&["CAP_SETUID"], GRANTED_OR_DENIED)
            .description("Tier 1: a CAP_SETUID check made for a non-root process (every set*id call that changes uids needs it) and execs whose effective uid is 0 for a non-root user. On tier 1 the uid asked for is not seen (the syscall's arguments need tier 2); a change to another non-root uid also fires."),
        Rule::new("R.CLONE_NS", "Task created in new namespaces inside a container", new_namespaces)
            .severity("high")
            .namespaces()
            .description("Tier 1: clone with CLONE_NEW* flags, from task creation. It misses unshare(2) and setns(2), which R.NAMESPACE sees on tier 2."),
        Rule::new("R.BPF", "bpf() from a container", bpf)
            .severity("high")
            .capability(&["CAP_BPF"], GRANTED_OR_DENIED)
            .description("Tier 1: the CAP_BPF check bpf() makes when unprivileged BPF is disabled (the default on current distributions). Where unprivileged BPF is allowed, an unprivileged bpf() makes no check and is missed; R.BPF sees the syscall's command when bpf is asked for on tier 2 by another rule."),
        Rule::new("R.MODULE", "Kernel module load from a container", module_load)
            .severity("critical")
            .modules()
            .capability(&["CAP_SYS_MODULE"], GRANTED_OR_DENIED)
            .syscalls(&["init_module", "finit_module"])
            .description("Tier 2: init_module/finit_module attempts, with the module_load tracepoint and the CAP_SYS_MODULE check where the kernel has module support. On tier 1 a kernel without module support (which never checks the capability) shows nothing."),
        Rule::new("R.NAMESPACE", "unshare or setns from inside a container", namespaces)
            .severity("high")
            .syscalls(&["unshare", "setns"])
            .description("Tier 2: unshare(2) and setns(2). Tier 1 (R.CLONE_NS) sees only namespaces made by clone."),
        Rule::new("R.MOUNT", "mount or umount from inside a container", mount)
            .severity("high")
            .syscalls(&["mount", "umount2"])
            .description("Tier 2: mount and umount2. Tier 1 has no event for a mount (its CAP_SYS_ADMIN check cannot be told apart from the kernel's routine ones)."),
        Rule::new("R.PTRACE", "ptrace from inside a container", ptrace)
            .severity("high")
            .syscalls(&["ptrace"])
            .description("Tier 2: ptrace with its request. Tier 1 would see only CAP_SYS_PTRACE checks, which tracing a process of the same uid does not make."),
        Rule::new("R.CAPSET", "capset raising capabilities", capset_raise)
            .severity("high")
            .syscalls(&["capset"])
            .description("Tier 2: the capability sets capset asks for (read from the caller's memory)."),
        Rule::new("R.SETUID_BITS", "Setting setuid/setgid bits", setuid_bits)
            .severity("medium")
            .syscalls(&["chmod", "fchmod", "fchmodat", "fchmodat2"])
            .description("Tier 2: the mode of chmod calls. A chmod by the file's owner makes no capability check, so tier 1 cannot see it."),
    ]
}
