//! Built-in runtime rules for `bulwark watch`: what a container should not do once it runs.

use bulwark_sdk::prelude::*;

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

fn shell_or_package_manager(e: &RuleEvent) -> Option<String> {
    if !matches!(e.kind, Kind::Exec) {
        return None;
    }
    let base = e.path.rsplit('/').next().unwrap_or(&e.path);
    if SHELLS.contains(&base) {
        Some(format!("shell {} executed ({})", e.path, e.argv.join(" ")))
    } else if PACKAGE_MANAGERS.contains(&base) {
        Some(format!("package manager {} executed", e.path))
    } else {
        None
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
    if !matches!(e.kind, Kind::Syscall) || e.uid == 0 {
        return None;
    }
    let ids = requested_ids(e);
    ids.iter()
        .any(|id| *id as u32 == 0)
        .then(|| format!("{} to root requested by uid {} ({})", e.name, e.uid, e.comm))
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
    (is_syscall(e, "init_module") || is_syscall(e, "finit_module"))
        .then(|| format!("{} by {}", e.name, e.comm))
}

fn bpf(e: &RuleEvent) -> Option<String> {
    is_syscall(e, "bpf").then(|| {
        format!(
            "bpf() command {} by {}",
            e.args.first().copied().unwrap_or(0),
            e.comm
        )
    })
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
            .description("Running containers should not need interactive shells or package installs."),
        Rule::new("R.SETUID_ROOT", "setuid to root from a non-root process", setuid_root).severity("high"),
        Rule::new("R.CAPSET", "capset raising capabilities", capset_raise).severity("high"),
        Rule::new("R.NAMESPACE", "Namespace change from inside a container", namespaces).severity("high"),
        Rule::new("R.MOUNT", "mount or umount from inside a container", mount).severity("high"),
        Rule::new("R.PTRACE", "ptrace from inside a container", ptrace).severity("high"),
        Rule::new("R.MODULE", "Kernel module load from a container", module_load).severity("critical"),
        Rule::new("R.BPF", "bpf() from a container", bpf).severity("high"),
        Rule::new("R.SETUID_BITS", "Setting setuid/setgid bits", setuid_bits).severity("medium"),
    ]
}
