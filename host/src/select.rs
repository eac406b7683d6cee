//! Which checks run: check ids, section ids, Docker Bench's check function names
//! (`check_2_2`) and groups (`container_runtime`, `cis_level1`, ...), as `-c` and `-e` take them.
//! Names only select checks; nothing named here is ever executed.

/// Docker Bench's groups and the sections they cover.
const GROUPS: &[(&str, &[&str])] = &[
    ("host_configuration", &["1"]),
    ("linux_hosts_specific_configuration", &["1.1"]),
    ("host_general_configuration", &["1.2"]),
    ("docker_daemon_configuration", &["2"]),
    ("docker_daemon_files", &["3"]),
    ("container_images", &["4"]),
    ("container_runtime", &["5"]),
    ("docker_security_operations", &["6"]),
    ("docker_swarm_configuration", &["7"]),
    ("docker_enterprise_configuration", &["8"]),
    ("universal_control_plane_configuration", &["8.1"]),
    ("docker_trusted_registry_configuration", &["8.2"]),
    ("community_checks", &["C"]),
    ("community", &["C"]),
    ("cis", &["1", "2", "3", "4", "5", "6", "7"]),
];

/// Docker Bench's CIS Controls v8 Implementation Group lists, by CIS Docker 1.6.0 id
/// (docker-bench-security `functions/functions_lib.sh`, `register_group cis_controls_v8_ig*`).
const IG1: &str = "1.1.2 1.1.3 2.1 2.13 2.14 3.1 3.2 3.3 3.4 3.5 3.6 3.7 3.8 3.9 3.10 3.11 3.12 \
    3.13 3.14 3.15 3.16 3.17 3.18 3.19 3.20 3.21 3.22 3.23 3.24 4.8 4.11 5.5 5.14 5.18 5.22 5.23 \
    5.24 5.25 5.26 5.32 7.2 7.6 7.7 7.8";
const IG2: &str = "1.1.1 1.1.2 1.1.3 1.1.4 1.1.5 1.1.6 1.1.7 1.1.8 1.1.9 1.1.10 1.1.11 1.1.12 \
    1.1.13 1.1.14 1.1.15 1.1.16 1.1.17 1.1.18 1.2.1 1.2.2 2.1 2.2 2.3 2.4 2.5 2.7 2.8 2.11 2.13 \
    2.14 2.15 2.16 2.18 3.1 3.2 3.3 3.4 3.5 3.6 3.7 3.8 3.9 3.10 3.11 3.12 3.13 3.14 3.15 3.16 \
    3.17 3.18 3.19 3.20 3.21 3.22 3.23 3.24 4.2 4.3 4.4 4.7 4.8 4.9 4.11 5.1 5.2 5.3 5.4 5.5 5.7 \
    5.10 5.11 5.12 5.14 5.16 5.17 5.18 5.19 5.21 5.22 5.23 5.24 5.25 5.26 5.27 5.30 5.31 5.32 \
    6.1 6.2 7.2 7.3 7.5 7.6 7.7 7.8 7.9";
const IG3: &str = "1.1.1 1.1.2 1.1.3 1.1.4 1.1.5 1.1.6 1.1.7 1.1.8 1.1.9 1.1.10 1.1.11 1.1.12 \
    1.1.13 1.1.14 1.1.15 1.1.16 1.1.17 1.1.18 1.2.1 1.2.2 2.1 2.2 2.3 2.4 2.5 2.7 2.8 2.11 2.13 \
    2.14 2.15 2.16 2.18 3.1 3.2 3.3 3.4 3.5 3.6 3.7 3.8 3.9 3.10 3.11 3.12 3.13 3.14 3.15 3.16 \
    3.17 3.18 3.19 3.20 3.21 3.22 3.23 3.24 4.2 4.3 4.4 4.6 4.7 4.8 4.9 4.11 4.12 5.1 5.2 5.3 \
    5.4 5.5 5.7 5.8 5.9 5.10 5.11 5.12 5.14 5.16 5.17 5.18 5.19 5.21 5.22 5.23 5.24 5.25 5.26 \
    5.27 5.30 5.31 5.32 6.1 6.2 7.2 7.3 7.5 7.6 7.7 7.8 7.9";

/// Sections a default run leaves out, as Docker Bench's default `cis` run does.
const NOT_BY_DEFAULT: &[&str] = &["8", "C"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// A check id or the id of a section or subsection.
    Prefix(String),
    /// Several sections (`cis`).
    Many(Vec<String>),
    /// Level-1 checks under any of these prefixes.
    Level1(Vec<String>),
    /// Exactly these checks, by their CIS Docker 1.6.0 id (the IG groups), whatever the
    /// benchmark the ids are shown in.
    Native(&'static str),
    /// Every check, §8 and community included.
    All,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SelectError {
    #[error("{0:?} is not a check id, check name or group")]
    Unknown(String),
}

/// A check as selection sees it.
#[derive(Debug, Clone, Copy)]
pub struct CheckRef<'a> {
    /// The id shown (the selected benchmark's).
    pub id: &'a str,
    /// The id the plugin declares (CIS 1.6.0's for the built-in pack).
    pub native: &'a str,
    pub level: u8,
}

/// `id` is `pattern` or lies under it (`5` covers `5.10`; `5.1` does not cover `5.10`).
pub fn covers(pattern: &str, id: &str) -> bool {
    id == pattern
        || id
            .strip_prefix(pattern)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// Parse one `-c`/`-e` item.
pub fn parse(item: &str) -> Result<Selector, SelectError> {
    let item = item.trim();
    let lower = item.to_ascii_lowercase();
    if lower == "all" {
        return Ok(Selector::All);
    }
    match lower.as_str() {
        "cis_controls_v8_ig1" => return Ok(Selector::Native(IG1)),
        "cis_controls_v8_ig2" => return Ok(Selector::Native(IG2)),
        "cis_controls_v8_ig3" => return Ok(Selector::Native(IG3)),
        _ => {}
    }
    let prefixes = |name: &str| {
        GROUPS
            .iter()
            .find(|(g, _)| *g == name)
            .map(|(_, p)| p.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    };
    if let Some(p) = prefixes(&lower) {
        return Ok(match p.as_slice() {
            [one] => Selector::Prefix(one.clone()),
            _ => Selector::Many(p),
        });
    }
    if let Some(base) = lower.strip_suffix("_level1") {
        return prefixes(base)
            .map(Selector::Level1)
            .ok_or_else(|| SelectError::Unknown(item.to_string()));
    }
    if let Some(rest) = lower.strip_prefix("check_") {
        if rest.is_empty() || !rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(SelectError::Unknown(item.to_string()));
        }
        let id = rest.replace('_', ".");
        let id = match id.strip_prefix("c.") {
            Some(r) => format!("C.{r}"),
            None if id == "c" => "C".to_string(),
            None => id,
        };
        return Ok(Selector::Prefix(id));
    }
    let valid = !item.is_empty()
        && item.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
        && !item.starts_with('.')
        && !item.ends_with('.');
    if valid {
        // Ids keep their case ("C.1"); a lower-case "c" prefix means the community section.
        let id = match item.strip_prefix("c.") {
            Some(r) => format!("C.{r}"),
            None if item == "c" => "C".to_string(),
            None => item.to_string(),
        };
        Ok(Selector::Prefix(id))
    } else {
        Err(SelectError::Unknown(item.to_string()))
    }
}

impl Selector {
    fn matches(&self, c: CheckRef) -> bool {
        match self {
            Selector::Prefix(p) => covers(p, c.id),
            Selector::Many(ps) => ps.iter().any(|p| covers(p, c.id)),
            Selector::Level1(ps) => c.level == 1 && ps.iter().any(|p| covers(p, c.id)),
            Selector::Native(list) => list.split_whitespace().any(|n| n == c.native),
            Selector::All => true,
        }
    }
}

/// The `-c` selection minus the `-e` one. An empty `-c` means Docker Bench's default run.
#[derive(Debug, Clone, Default)]
pub struct CheckFilter {
    pub include: Vec<Selector>,
    pub exclude: Vec<Selector>,
}

impl CheckFilter {
    /// Every check, whatever its level or section (what a snapshot recording runs).
    pub fn everything() -> Self {
        CheckFilter {
            include: vec![Selector::All],
            exclude: vec![],
        }
    }

    /// Parse comma-separated `-c` and `-e` items.
    pub fn parse(include: &[String], exclude: &[String]) -> Result<Self, SelectError> {
        let items = |raw: &[String]| -> Result<Vec<Selector>, SelectError> {
            raw.iter()
                .flat_map(|s| s.split(','))
                .filter(|s| !s.trim().is_empty())
                .map(parse)
                .collect()
        };
        Ok(CheckFilter {
            include: items(include)?,
            exclude: items(exclude)?,
        })
    }

    pub fn selects(&self, c: CheckRef) -> bool {
        let included = if self.include.is_empty() {
            !NOT_BY_DEFAULT.iter().any(|p| covers(p, c.id))
        } else {
            self.include.iter().any(|s| s.matches(c))
        };
        included && !self.exclude.iter().any(|s| s.matches(c))
    }

    /// The selectors that match none of `checks`, for refusing a `-c`/`-e` that names nothing.
    pub fn unmatched<'a>(&'a self, checks: &[CheckRef]) -> Vec<&'a Selector> {
        self.include
            .iter()
            .chain(&self.exclude)
            .filter(|s| !checks.iter().any(|c| s.matches(*c)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct F(CheckFilter);
    impl F {
        fn selects(&self, id: &str, level: u8) -> bool {
            self.0.selects(CheckRef {
                id,
                native: id,
                level,
            })
        }
    }

    fn f(c: &[&str], e: &[&str]) -> F {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        F(CheckFilter::parse(&v(c), &v(e)).unwrap())
    }

    #[test]
    fn ids_sections_names_and_groups() {
        assert!(f(&["5"], &["5.3"]).selects("5.30", 1));
        assert!(!f(&["5"], &["5.3"]).selects("5.3", 1));
        assert!(!f(&["2.1"], &[]).selects("2.10", 1));
        assert!(f(&["check_2_2"], &[]).selects("2.2", 1));
        assert!(f(&["check_c_5_3_1"], &[]).selects("C.5.3.1", 0));
        assert!(f(&["container_runtime"], &[]).selects("5.31", 1));
        assert!(!f(&["container_runtime"], &[]).selects("4.1", 1));
        assert!(f(&["cis"], &[]).selects("2.9", 2));
        assert!(!f(&["cis"], &[]).selects("C.1", 0));
        assert!(f(&["all"], &[]).selects("8.1.1", 1));
        assert!(f(&["cis_level1"], &[]).selects("2.2", 1));
        assert!(!f(&["cis_level1"], &[]).selects("2.9", 2));
        assert!(f(&["docker_daemon_configuration_level1"], &[]).selects("2.2", 1));
        assert!(!f(&["docker_daemon_configuration_level1"], &[]).selects("5.1", 1));
        assert!(f(&["c"], &[]).selects("C.2", 0));
        assert!(f(&["2.2,5.1"], &[]).selects("5.1", 1));
        assert!(!f(&[], &[]).selects("C.1", 0));
        assert!(!f(&[], &[]).selects("8.1.1", 1));
        assert!(f(&[], &[]).selects("7.1", 1));
        assert!(f(&[], &["host_configuration"]).selects("2.1", 1));
        assert!(!f(&[], &["host_configuration"]).selects("1.1.1", 1));
    }

    #[test]
    fn nothing_named_is_executed_and_junk_is_refused() {
        for bad in ["rm -rf /", "$(reboot)", "../x", "5..1", ".5", "check_;ls"] {
            assert!(
                parse(bad).is_err()
                    || matches!(parse(bad), Ok(Selector::Prefix(ref p)) if !p.contains(' ')),
                "{bad}"
            );
        }
        assert!(parse("rm -rf /").is_err());
    }

    proptest::proptest! {
        /// Any `-c`/`-e` text either is refused or names ids made only of id characters:
        /// nothing that could reach a shell, whatever the input.
        #[test]
        fn parser_never_yields_anything_but_ids(raw in ".{0,40}", prefix in proptest::sample::select(vec!["", "check_", "c.", "5.", "cis", "_level1"])) {
            let item = format!("{prefix}{raw}");
            let id_ok = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '.');
            match parse(&item) {
                Ok(Selector::Prefix(p)) => proptest::prop_assert!(id_ok(&p), "{p:?}"),
                Ok(Selector::Many(ps)) | Ok(Selector::Level1(ps)) => {
                    proptest::prop_assert!(ps.iter().all(|p| id_ok(p)))
                }
                Ok(Selector::Native(_)) | Ok(Selector::All) | Err(_) => {}
            }
            let filter = CheckFilter::parse(std::slice::from_ref(&item), std::slice::from_ref(&item));
            if let Ok(f) = filter {
                // Excluding what is included leaves nothing.
                let c = CheckRef { id: "5.1", native: "5.1", level: 1 };
                proptest::prop_assert!(!f.selects(c) || f.include.is_empty());
            }
        }
    }

    #[test]
    fn implementation_groups_use_docker_bench_lists() {
        assert!(f(&["cis_controls_v8_ig1"], &[]).selects("3.14", 1));
        assert!(!f(&["cis_controls_v8_ig1"], &[]).selects("1.1.1", 1));
        assert!(!f(&["cis_controls_v8_ig1"], &[]).selects("1.1.20", 1));
        assert!(f(&["cis_controls_v8_ig2"], &[]).selects("1.1.1", 2));
        assert!(!f(&["cis_controls_v8_ig2"], &[]).selects("4.6", 1));
        assert!(f(&["cis_controls_v8_ig3"], &[]).selects("4.6", 1));
        assert!(!f(&["cis_controls_v8_ig3"], &[]).selects("5.6", 1));
        assert!(!f(&["cis_controls_v8_ig3"], &["3"]).selects("3.1", 1));
        let count = |l: &str| l.split_whitespace().count();
        assert_eq!((count(IG1), count(IG2), count(IG3)), (44, 97, 101));
        // Matched by the implementation's id: a renumbered benchmark id does not move it.
        let ig = CheckFilter::parse(&["cis_controls_v8_ig2".into()], &[]).unwrap();
        let tls = |id| CheckRef {
            id,
            native: "2.7",
            level: 1,
        };
        assert!(ig.selects(tls("2.8")));
    }
}
