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
    /// Every check, §8 and community included.
    All,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SelectError {
    #[error("{0:?} is not a check id, check name or group")]
    Unknown(String),
    #[error("{0} needs the CIS Controls v8 mapping, which Bulwark does not carry yet")]
    Unsupported(String),
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
    if lower.starts_with("cis_controls_v8_ig") {
        return Err(SelectError::Unsupported(item.to_string()));
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
    fn matches(&self, id: &str, level: u8) -> bool {
        match self {
            Selector::Prefix(p) => covers(p, id),
            Selector::Many(ps) => ps.iter().any(|p| covers(p, id)),
            Selector::Level1(ps) => level == 1 && ps.iter().any(|p| covers(p, id)),
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

    pub fn selects(&self, id: &str, level: u8) -> bool {
        let included = if self.include.is_empty() {
            !NOT_BY_DEFAULT.iter().any(|p| covers(p, id))
        } else {
            self.include.iter().any(|s| s.matches(id, level))
        };
        included && !self.exclude.iter().any(|s| s.matches(id, level))
    }

    /// Whether any of `checks` (id, level) is matched by each selector, for reporting
    /// selectors that match nothing.
    pub fn unmatched<'a>(&'a self, checks: &[(String, u8)]) -> Vec<&'a Selector> {
        self.include
            .iter()
            .chain(&self.exclude)
            .filter(|s| !checks.iter().any(|(id, l)| s.matches(id, *l)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(c: &[&str], e: &[&str]) -> CheckFilter {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        CheckFilter::parse(&v(c), &v(e)).unwrap()
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
        assert!(matches!(
            parse("cis_controls_v8_ig1"),
            Err(SelectError::Unsupported(_))
        ));
    }
}
