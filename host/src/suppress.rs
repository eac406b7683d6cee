//! Suppressions: findings an operator has accepted, from a `.bulwarkignore` file or
//! `--ignore ID`. A suppressed finding stays in every machine-readable output, marked as
//! such; it only stops counting towards `--fail-on`. An expired suppression no longer
//! applies and is reported.
//!
//! File format, one suppression per line (`#` starts a comment line):
//!
//! ```text
//! <check id> [<subject glob>] [expires: YYYY-MM-DD] [reason: free text to end of line]
//! 5.11                                  reason: memory is capped by the cgroup parent
//! 5.13  web-*   expires: 2027-01-31     reason: read-only rootfs after the migration
//! ```
//!
//! The id is exact or a section (`5` covers `5.11`). A subject glob matches container and
//! image names and file paths; a finding is suppressed only when it matches every subject
//! of the finding, so one unaccepted offender keeps the finding active.

pub use crate::findings::Suppression;
use crate::findings::{Finding, Report, Subject};
use crate::select::covers;
use chrono::NaiveDate;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SuppressError {
    #[error("{place}: {message}")]
    Syntax { place: String, message: String },
    /// A suppression given by id alone that is no check id.
    #[error("{0:?} is not a check id")]
    Id(String),
}

fn syntax(source: &str, message: impl Into<String>) -> SuppressError {
    SuppressError::Syntax {
        place: source.to_string(),
        message: message.into(),
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
}

impl Suppression {
    /// A suppression of a whole check by id, no expiry (`--ignore ID`).
    pub fn for_id(id: &str) -> Result<Self, SuppressError> {
        let id = id.trim();
        if !valid_id(id) {
            return Err(SuppressError::Id(id.to_string()));
        }
        Ok(Suppression {
            id: id.to_string(),
            subject: None,
            expires: None,
            reason: "--ignore on the command line".to_string(),
            source: "--ignore".to_string(),
            pattern: None,
        })
    }

    /// Parse one non-comment line.
    fn parse_line(line: &str, source: &str) -> Result<Self, SuppressError> {
        let (head, reason) = match line.split_once("reason:") {
            Some((h, r)) => (h, r.trim().to_string()),
            None => (line, String::new()),
        };
        let (head, expires) = match head.split_once("expires:") {
            Some((h, date)) => {
                let date = date.trim();
                let d = NaiveDate::parse_from_str(date, "%Y-%m-%d").map_err(|_| {
                    syntax(source, format!("expiry {date:?} is not a YYYY-MM-DD date"))
                })?;
                (h, Some(d))
            }
            None => (head, None),
        };
        let mut words = head.split_whitespace();
        let id = words
            .next()
            .ok_or_else(|| syntax(source, "a suppression needs a check id"))?;
        if !valid_id(id) {
            return Err(syntax(source, format!("{id:?} is not a check id")));
        }
        let subject = words.next().map(str::to_string);
        if let Some(extra) = words.next() {
            return Err(syntax(
                source,
                format!("unexpected {extra:?} (one subject pattern at most; reasons go after `reason:`)"),
            ));
        }
        let pattern = match &subject {
            Some(s) => Some(
                glob::Pattern::new(s)
                    .map_err(|e| syntax(source, format!("bad subject pattern {s:?}: {e}")))?,
            ),
            None => None,
        };
        Ok(Suppression {
            id: id.to_string(),
            subject,
            expires,
            reason,
            source: source.to_string(),
            pattern,
        })
    }

    fn subject_matches(&self, s: &Subject) -> bool {
        let Some(p) = &self.pattern else { return true };
        // Containers also match by id.
        p.matches(s.name()) || matches!(s, Subject::Container { id, .. } if p.matches(id))
    }

    fn matches(&self, f: &Finding) -> bool {
        covers(&self.id, &f.check.id)
            && (self.pattern.is_none()
                || (!f.subjects.is_empty() && f.subjects.iter().all(|s| self.subject_matches(s))))
    }

    pub fn expired(&self, today: NaiveDate) -> bool {
        self.expires.is_some_and(|d| d < today)
    }
}

/// Parse a suppression file's text; `name` labels errors.
pub fn parse(text: &str, name: &str) -> Result<Vec<Suppression>, SuppressError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#')
        })
        .map(|(i, l)| Suppression::parse_line(l, &format!("{name}:{}", i + 1)))
        .collect()
}

/// Mark the findings the suppressions accept, as of `today`. Returns the expired
/// suppressions (which were not applied) for the caller to warn about.
pub fn apply(report: &mut Report, list: &[Suppression], today: NaiveDate) -> Vec<Suppression> {
    let (expired, active): (Vec<&Suppression>, Vec<&Suppression>) =
        list.iter().partition(|s| s.expired(today));
    for f in &mut report.findings {
        if let Some(s) = active.iter().find(|s| s.matches(f)) {
            f.suppression = Some((*s).clone());
        }
    }
    let expired: Vec<Suppression> = expired.into_iter().cloned().collect();
    report.expired_suppressions = expired.clone();
    expired
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn lines_parse_and_errors_name_the_line() {
        let l = parse(
            "# accepted risks\n\n5.11 reason: capped by the cgroup parent\n5.13 web-* expires: 2027-01-31 reason: migration\n",
            ".bulwarkignore",
        )
        .unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].id, "5.11");
        assert_eq!(l[0].subject, None);
        assert_eq!(l[0].reason, "capped by the cgroup parent");
        assert_eq!(l[0].source, ".bulwarkignore:3");
        assert_eq!(l[1].subject.as_deref(), Some("web-*"));
        assert_eq!(l[1].expires, Some(day("2027-01-31")));
        assert!(!l[1].expired(day("2027-01-31")));
        assert!(l[1].expired(day("2027-02-01")));

        let e = parse("5.1\n5.2 expires: tomorrow\n", "f").unwrap_err();
        assert!(e.to_string().starts_with("f:2:"), "{e}");
        assert!(parse("$(reboot)", "f").is_err());
        assert!(parse("5.1 a b", "f").is_err());
        assert!(parse("5.1 [", "f").is_err());
    }

    #[test]
    fn subject_patterns_must_cover_every_subject() {
        let s = &parse("5.11 web-*", "f").unwrap()[0];
        let c = |n: &str| Subject::Container {
            id: format!("id-{n}"),
            name: n.to_string(),
        };
        let mut f = crate::findings::tests::finding("5.11");
        f.subjects = vec![c("web-1"), c("web-2")];
        assert!(s.matches(&f));
        f.subjects.push(c("db"));
        assert!(!s.matches(&f), "an unaccepted offender keeps the finding");
        f.subjects.clear();
        assert!(!s.matches(&f), "a subject pattern needs subjects");
        let section = &parse("5", "f").unwrap()[0];
        assert!(section.matches(&f));
        f.check.id = "4.1".into();
        assert!(!section.matches(&f));
    }
}
