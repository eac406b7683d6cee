//! The Docker daemon's effective options: its command line merged with the daemon.json it
//! really uses, parsed the way dockerd (pflag) parses them.
//!
//! Keys are daemon.json names (`insecure-registries`, `log-level`, ...); the command-line
//! spelling (`--insecure-registry`, `-l`) is mapped onto them.

use crate::DaemonSettings;
use serde_json::Value;
use std::collections::BTreeMap;

/// Boolean flags: pflag only takes their value as `--flag=false`, never as the next word.
const BOOL_FLAGS: &[&str] = &[
    "icc",
    "iptables",
    "ip6tables",
    "ip-forward",
    "ip-masq",
    "ipv6",
    "userland-proxy",
    "live-restore",
    "no-new-privileges",
    "tls",
    "tlsverify",
    "experimental",
    "selinux-enabled",
    "debug",
    "rootless",
    "init",
    "raw-logs",
    "disable-legacy-registry",
    "validate",
    "version",
    "help",
];

/// Short flags and their long names.
const SHORT: &[(&str, &str)] = &[
    ("D", "debug"),
    ("l", "log-level"),
    ("H", "host"),
    ("G", "group"),
    ("g", "data-root"),
    ("p", "pidfile"),
    ("b", "bridge"),
    ("s", "storage-driver"),
    ("e", "exec-driver"),
    ("v", "version"),
    ("h", "help"),
];

/// Command-line names that differ from their daemon.json key.
const CLI_TO_JSON: &[(&str, &str)] = &[
    ("insecure-registry", "insecure-registries"),
    ("authorization-plugin", "authorization-plugins"),
    ("default-ulimit", "default-ulimits"),
    ("storage-opt", "storage-opts"),
    ("host", "hosts"),
    ("label", "labels"),
    ("log-opt", "log-opts"),
    ("registry-mirror", "registry-mirrors"),
    ("exec-opt", "exec-opts"),
    ("add-runtime", "runtimes"),
    ("dns-opt", "dns-opts"),
    ("dns-search", "dns-search"),
    ("graph", "data-root"),
];

/// Effective daemon options.
#[derive(Debug, Clone, Default)]
pub struct DaemonOptions {
    /// Command-line values by daemon.json key, in order of appearance.
    cli: BTreeMap<String, Vec<String>>,
    /// The parsed daemon.json (an empty object when there is none).
    json: serde_json::Map<String, Value>,
    /// Which daemon.json was read.
    pub config_file: String,
    /// Whether that file exists.
    pub config_exists: bool,
    pub argv: Vec<String>,
    pub pid: u32,
    pub endpoint: String,
    /// The daemon is Podman's API service: `json` holds its merged containers.conf (TOML
    /// tables as JSON objects), not a daemon.json.
    pub podman: bool,
}

impl DaemonOptions {
    /// Parse the daemon's argv and daemon.json. A daemon.json that is not a JSON object
    /// is an error (dockerd itself would refuse to start with it).
    pub fn parse(cfg: &DaemonSettings) -> Result<Self, String> {
        let json = match &cfg.config_json {
            None => serde_json::Map::new(),
            Some(text) if text.trim().is_empty() => serde_json::Map::new(),
            Some(text) => match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(m)) => m,
                Ok(_) => return Err(format!("{} is not a JSON object", cfg.config_file)),
                Err(e) => return Err(format!("{} is not valid JSON: {e}", cfg.config_file)),
            },
        };
        let podman = cfg
            .argv
            .first()
            .is_some_and(|a| a.rsplit('/').next() == Some("podman"));
        let mut cli = parse_argv(cfg.argv.get(1..).unwrap_or_default());
        if podman {
            // `podman system service [URI]`: the listening address is its positional
            // argument; without one it serves the endpoint Bulwark reached it on.
            let uris: Vec<String> = cfg
                .argv
                .iter()
                .filter(|a| !a.starts_with('-') && a.contains("://"))
                .cloned()
                .collect();
            let uris = if uris.is_empty() {
                vec![cfg.endpoint.clone()]
            } else {
                uris
            };
            cli.insert("hosts".to_string(), uris);
        }
        Ok(DaemonOptions {
            cli,
            podman,
            json,
            config_file: cfg.config_file.clone(),
            config_exists: cfg.config_json.is_some(),
            argv: cfg.argv.clone(),
            pid: cfg.pid,
            endpoint: cfg.endpoint.clone(),
        })
    }

    /// All values given for `key`, command line first, then daemon.json. Arrays give their
    /// elements, objects their keys, scalars their text.
    pub fn values(&self, key: &str) -> Vec<String> {
        let mut out = self.cli.get(key).cloned().unwrap_or_default();
        match self.json.get(key) {
            Some(Value::Array(a)) => out.extend(a.iter().map(scalar_text)),
            Some(Value::Object(o)) => out.extend(o.keys().cloned()),
            Some(Value::Null) | None => {}
            Some(v) => out.push(scalar_text(v)),
        }
        out
    }

    /// Whether `key` is given at all (an empty list or object in daemon.json counts as unset).
    pub fn is_set(&self, key: &str) -> bool {
        !self.values(key).is_empty()
    }

    /// The effective value of a single-valued option: the command line wins (the last
    /// occurrence, as pflag does), then daemon.json.
    pub fn string(&self, key: &str) -> Option<String> {
        if let Some(v) = self.cli.get(key).and_then(|v| v.last()) {
            return Some(v.clone());
        }
        match self.json.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => Some(scalar_text(v)),
        }
    }

    /// A value of Podman's containers.conf: `table.key` (e.g. `containers`, `log_driver`).
    pub fn conf(&self, table: &str, key: &str) -> Option<&Value> {
        self.json
            .get(table)
            .and_then(|t| t.get(key))
            .filter(|v| !v.is_null())
    }

    /// A string value of Podman's containers.conf, when set and not empty.
    pub fn conf_str(&self, table: &str, key: &str) -> Option<String> {
        self.conf(table, key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    /// The effective value of a boolean option, `None` when unset (dockerd's default applies).
    pub fn bool(&self, key: &str) -> Option<bool> {
        self.string(key).and_then(|s| parse_bool(&s))
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// pflag's accepted spellings of booleans.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

fn json_key(long: &str) -> String {
    CLI_TO_JSON
        .iter()
        .find(|(cli, _)| *cli == long)
        .map(|(_, j)| j.to_string())
        .unwrap_or_else(|| long.to_string())
}

/// Parse dockerd's arguments (without argv[0]) into values by daemon.json key.
pub fn parse_argv(args: &[String]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        let (name, inline) = if let Some(long) = arg.strip_prefix("--") {
            if long.is_empty() {
                break; // "--" ends the flags; dockerd takes no positional arguments
            }
            match long.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (long.to_string(), None),
            }
        } else if let Some(short) = arg.strip_prefix('-') {
            // -l debug, -ldebug, -l=debug
            let mut chars = short.chars();
            let Some(c) = chars.next() else { continue };
            let rest: String = chars.collect();
            let long = SHORT
                .iter()
                .find(|(s, _)| s.starts_with(c) && s.len() == c.len_utf8())
                .map(|(_, l)| l.to_string())
                .unwrap_or_else(|| c.to_string());
            let inline = if rest.is_empty() {
                None
            } else {
                Some(rest.strip_prefix('=').unwrap_or(&rest).to_string())
            };
            (long, inline)
        } else {
            continue; // stray word: not something dockerd would accept; ignore it
        };
        let value = match inline {
            Some(v) => v,
            None if BOOL_FLAGS.contains(&name.as_str()) => "true".to_string(),
            None => match args.get(i) {
                Some(v) => {
                    i += 1;
                    v.clone()
                }
                None => String::new(),
            },
        };
        out.entry(json_key(&name)).or_default().push(value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(argv: &[&str], json: Option<&str>) -> DaemonOptions {
        DaemonOptions::parse(&DaemonSettings {
            pid: 1,
            argv: argv.iter().map(|s| s.to_string()).collect(),
            config_file: "/etc/docker/daemon.json".into(),
            config_json: json.map(str::to_string),
            endpoint: "unix:///var/run/docker.sock".into(),
        })
        .unwrap()
    }

    #[test]
    fn long_short_and_inline_forms() {
        let o = opts(
            &[
                "dockerd",
                "--icc=false",
                "-l",
                "debug",
                "--insecure-registry",
                "r:5000",
                "-H=tcp://0.0.0.0:2376",
                "--tlsverify",
                "--userland-proxy=false",
            ],
            None,
        );
        assert_eq!(o.bool("icc"), Some(false));
        assert_eq!(o.string("log-level").as_deref(), Some("debug"));
        assert_eq!(o.values("insecure-registries"), vec!["r:5000"]);
        assert_eq!(o.values("hosts"), vec!["tcp://0.0.0.0:2376"]);
        assert_eq!(o.bool("tlsverify"), Some(true));
        assert_eq!(o.bool("userland-proxy"), Some(false));
        assert_eq!(o.bool("live-restore"), None);
    }

    #[test]
    fn bool_flag_does_not_swallow_next_flag() {
        let o = opts(
            &["dockerd", "--tlsverify", "--tlscacert", "/srv/ca.pem"],
            None,
        );
        assert_eq!(o.bool("tlsverify"), Some(true));
        assert_eq!(o.string("tlscacert").as_deref(), Some("/srv/ca.pem"));
    }

    #[test]
    fn json_merges_and_empty_lists_are_unset() {
        let o = opts(
            &["dockerd"],
            Some(
                r#"{"icc": false, "insecure-registries": [], "default-ulimits": {"nofile": {}},
                    "hosts": ["unix:///var/run/docker.sock", "tcp://127.0.0.1:2376"]}"#,
            ),
        );
        assert_eq!(o.bool("icc"), Some(false));
        assert!(!o.is_set("insecure-registries"));
        assert!(o.is_set("default-ulimits"));
        assert_eq!(o.values("hosts").len(), 2);
    }

    #[test]
    fn malformed_json_is_an_error() {
        let r = DaemonOptions::parse(&DaemonSettings {
            pid: 1,
            argv: vec!["dockerd".into()],
            config_file: "/x.json".into(),
            config_json: Some("{not json".into()),
            endpoint: String::new(),
        });
        assert!(r.is_err());
    }

    #[test]
    fn podman_service_listens_where_its_argv_says() {
        let o = DaemonOptions::parse(&DaemonSettings {
            pid: 1,
            argv: [
                "/usr/bin/podman",
                "--log-level=info",
                "system",
                "service",
                "--time=0",
                "tcp://0.0.0.0:8080",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            config_file: "/etc/containers/containers.conf".into(),
            config_json: Some(r#"{"containers": {"log_driver": "journald", "userns": ""}}"#.into()),
            endpoint: "tcp://127.0.0.1:8080".into(),
        })
        .unwrap();
        assert!(o.podman);
        assert_eq!(o.values("hosts"), vec!["tcp://0.0.0.0:8080"]);
        assert_eq!(o.string("log-level").as_deref(), Some("info"));
        assert_eq!(
            o.conf_str("containers", "log_driver").as_deref(),
            Some("journald")
        );
        assert_eq!(o.conf_str("containers", "userns"), None);
    }
}
