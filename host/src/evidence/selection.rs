//! Which containers and images an audit covers: Docker Bench's `-i`/`-x` name patterns,
//! its `-t` label filters, and whether stopped containers count.

/// Which containers and images an audit covers.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Created and stopped containers too, not only running ones.
    pub all_containers: bool,
    /// Only containers and images whose name matches (Docker Bench's `-i`).
    pub include: Option<regex::Regex>,
    /// Leave out containers and images whose name matches (Docker Bench's `-x`).
    pub exclude: Option<regex::Regex>,
    /// Only containers and images carrying every one of these labels (Docker Bench's `-t`,
    /// i.e. `docker ps --filter label=...`): `key` needs the key, `key=value` the exact value.
    pub labels: Vec<String>,
}

impl Selection {
    /// Whether a container or image with these names is selected by the patterns.
    pub fn names_selected<'a>(&self, mut names: impl Iterator<Item = &'a str> + Clone) -> bool {
        let any = |re: &regex::Regex| names.clone().any(|n| re.is_match(n));
        self.include.as_ref().is_none_or(any)
            && !self
                .exclude
                .as_ref()
                .is_some_and(|re| names.any(|n| re.is_match(n)))
    }

    /// Whether an object with these labels passes the `-t` filters (all must hold).
    pub fn labels_selected<'a>(&self, lookup: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.labels.iter().all(|f| match f.split_once('=') {
            Some((k, v)) => lookup(k) == Some(v),
            None => lookup(f).is_some(),
        })
    }
}

/// Why a selection cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum SelectionError {
    #[error("not a valid pattern list")]
    Pattern(#[source] regex::Error),
    #[error("{0:?} has no label key")]
    LabelWithoutKey(String),
}

/// Comma-separated name patterns (Docker Bench's `-i`/`-x`) as one regex; `None` when
/// there are none.
pub fn name_patterns(raw: Option<&str>) -> Result<Option<regex::Regex>, SelectionError> {
    let Some(raw) = raw else { return Ok(None) };
    let parts: Vec<&str> = raw
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() {
        return Ok(None);
    }
    let alternatives: Vec<String> = parts.iter().map(|p| format!("(?:{p})")).collect();
    regex::Regex::new(&alternatives.join("|"))
        .map(Some)
        .map_err(SelectionError::Pattern)
}

/// Label filters (`key` or `key=value`); an empty key selects nothing useful, so it is
/// refused.
pub fn label_filters(raw: &[String]) -> Result<Vec<String>, SelectionError> {
    raw.iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| {
            if s.starts_with('=') {
                return Err(SelectionError::LabelWithoutKey(s.to_string()));
            }
            Ok(s.to_string())
        })
        .collect()
}
