//! What mechanically fixes a failing check, by the implementation id of the built-in pack
//! (CIS 1.6.0 numbering, whatever benchmark the report shows): a daemon.json key, a file's
//! owner or mode, an audit rule, or container run flags. Everything else is listed as
//! needing a person, with the reason.

use serde_json::{json, Value};

/// How one check is fixed.
#[derive(Debug, Clone, PartialEq)]
pub enum Remedy {
    /// Set `key` to `value` in the daemon.json the daemon uses.
    DaemonKey {
        key: &'static str,
        value: Value,
        /// What the plan must say besides (what the change costs).
        warning: Option<&'static str>,
    },
    /// Give the files the finding names this owner (`user:group`).
    Owner(&'static str),
    /// Take the permission bits beyond this mode away from the files the finding names.
    Mode(u32),
    /// Watch the files the finding names with an audit rule.
    AuditRule,
    /// Re-create the containers the finding names with other run options.
    Container,
    /// No mechanical fix: a person decides, for this reason.
    Manual(&'static str),
}

/// The remedy of a check by implementation id; `None` for checks this catalogue does not
/// know (third-party checks), which are listed as manual.
pub fn remedy(implementation: &str) -> Option<Remedy> {
    use Remedy::*;
    let key = |key, value| DaemonKey {
        key,
        value,
        warning: None,
    };
    Some(match implementation {
        "1.1.1" => Manual("a separate partition for the data root is made when the disk is laid out"),
        "1.1.2" => Manual("who belongs in the docker group is the operator's decision"),
        id if id.starts_with("1.1.") => AuditRule,
        "1.2.1" | "1.2.2" => Manual("host hardening and updates are the host owner's procedure"),
        "2.1" => Manual("running the daemon rootless is a new installation, not a setting"),
        "2.2" => key("icc", json!(false)),
        "2.3" => key("log-level", json!("info")),
        "2.4" => key("iptables", json!(true)),
        "2.5" => DaemonKey {
            key: "insecure-registries",
            value: json!([]),
            warning: Some("pulls and pushes to those registries fail until they serve TLS with a trusted certificate"),
        },
        "2.6" | "2.devicemapper" => Manual("changing the storage driver hides every existing image and container; migrate them first"),
        "2.7" => Manual("TLS needs certificates from your CA: tlsverify, tlscacert, tlscert, tlskey"),
        "2.8" => Manual("default ulimits depend on the workloads"),
        "2.9" => DaemonKey {
            key: "userns-remap",
            value: json!("default"),
            warning: Some("user namespace remapping moves the data root to a per-mapping directory: existing images and containers are not visible afterwards, and containers using the host's user namespace or some volume mounts break"),
        },
        "2.10" => Manual("a cgroup parent is chosen for the host's resource layout"),
        "2.11" => Manual("base device size applies to devicemapper only"),
        "2.12" => Manual("an authorization plugin must be installed and configured first"),
        "2.13" => Manual("a remote logging driver needs a destination (log-driver, log-opts)"),
        "2.14" => key("no-new-privileges", json!(true)),
        "2.15" => DaemonKey {
            key: "live-restore",
            value: json!(true),
            warning: None,
        },
        "2.16" => key("userland-proxy", json!(false)),
        "2.17" => Manual("a custom seccomp profile is written for the workloads: `bulwark profile record` derives one per container from what it does, `bulwark profile verify` checks it"),
        "2.18" => key("experimental", json!(false)),
        "3.1" | "3.3" | "3.5" | "3.7" | "3.9" | "3.11" | "3.13" | "3.17" | "3.19" | "3.21"
        | "3.23" => Owner("root:root"),
        "3.15" => Owner("root:docker"),
        "3.2" | "3.4" | "3.18" | "3.20" | "3.22" => Mode(0o644),
        "3.6" => Mode(0o755),
        "3.8" | "3.10" | "3.12" => Mode(0o444),
        "3.14" => Mode(0o400),
        "3.16" | "3.24" => Mode(0o660),
        id if id.starts_with("4.") => Manual("image content is fixed in the image's Dockerfile and a rebuild"),
        "5.1" => Manual("leaving swarm mode removes the node from its cluster"),
        "5.2" | "5.3" => Manual("a MAC profile is written for the workload"),
        "5.7" => Manual("sshd is removed from the image"),
        "5.9" | "5.18" => Manual("which ports and devices a service needs is the operator's call"),
        "5.23" | "5.24" | "5.28" => Manual("a procedure, not a setting"),
        id if id.starts_with("5.") => Container,
        id if id.starts_with("6.") | id.starts_with("7.") | id.starts_with("8.") => {
            Manual("an operational or cluster decision")
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_remedies_of_the_issue_s_checks() {
        assert!(matches!(
            remedy("2.2"),
            Some(Remedy::DaemonKey { key: "icc", .. })
        ));
        assert!(matches!(
            remedy("2.14"),
            Some(Remedy::DaemonKey {
                key: "no-new-privileges",
                ..
            })
        ));
        assert!(matches!(
            remedy("2.15"),
            Some(Remedy::DaemonKey {
                key: "live-restore",
                ..
            })
        ));
        assert!(matches!(
            remedy("2.16"),
            Some(Remedy::DaemonKey {
                key: "userland-proxy",
                ..
            })
        ));
        assert_eq!(remedy("3.18"), Some(Remedy::Mode(0o644)));
        assert_eq!(remedy("3.15"), Some(Remedy::Owner("root:docker")));
        assert_eq!(remedy("1.1.3"), Some(Remedy::AuditRule));
        assert!(matches!(remedy("1.1.1"), Some(Remedy::Manual(_))));
        assert_eq!(remedy("5.11"), Some(Remedy::Container));
        assert!(matches!(remedy("4.1"), Some(Remedy::Manual(_))));
        assert_eq!(remedy("X.1"), None);
    }
}
