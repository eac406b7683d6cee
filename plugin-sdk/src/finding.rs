//! Building findings.

use crate::bindings::bulwark::plugin::types as wit;
use crate::{QueryError, Status, Subject};

/// The verdict of a check, built with the constructors below. The SDK fills in the check id.
#[derive(Debug, Clone)]
pub struct Finding {
    pub status: Status,
    pub message: String,
    pub reason: Option<String>,
    pub subjects: Vec<Subject>,
    pub details: Vec<String>,
}

impl Finding {
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        Finding {
            status,
            message: message.into(),
            reason: None,
            subjects: Vec::new(),
            details: Vec::new(),
        }
    }
    pub fn pass(message: impl Into<String>) -> Self {
        Self::new(Status::Pass, message)
    }
    pub fn warn(message: impl Into<String>) -> Self {
        Self::new(Status::Warn, message)
    }
    pub fn info(message: impl Into<String>) -> Self {
        Self::new(Status::Info, message)
    }
    pub fn note(message: impl Into<String>) -> Self {
        Self::new(Status::Note, message)
    }
    /// The check cannot decide; `reason` says why. Never a PASS in disguise.
    pub fn undecided(reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Finding {
            reason: Some(reason.clone()),
            ..Self::new(Status::Undecided, reason)
        }
    }
    /// The check does not apply here.
    pub fn skipped(reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Finding {
            reason: Some(reason.clone()),
            ..Self::new(Status::Skipped, reason)
        }
    }
    /// The check could not decide because an evidence query failed.
    pub fn from_error(what: &str, err: &QueryError) -> Self {
        Self::undecided(format!("cannot read {what}: {}", err.text()))
    }
    /// PASS with `pass_message` when `items` is empty, else WARN with `warn_message` and a
    /// detail line `"{label}: {item}"` per item.
    pub fn pass_or_warn_list<T: std::fmt::Display>(
        items: impl IntoIterator<Item = T>,
        pass_message: &str,
        warn_message: impl FnOnce(usize) -> String,
        label: &str,
    ) -> Self {
        let details: Vec<String> = items.into_iter().map(|i| format!("{label}: {i}")).collect();
        if details.is_empty() {
            return Self::pass(pass_message);
        }
        let mut f = Self::warn(warn_message(details.len()));
        f.details = details;
        f
    }

    pub fn subject(mut self, s: Subject) -> Self {
        self.subjects.push(s);
        self
    }
    pub fn detail(mut self, d: impl Into<String>) -> Self {
        self.details.push(d.into());
        self
    }
    pub fn with_reason(mut self, r: impl Into<String>) -> Self {
        self.reason = Some(r.into());
        self
    }

    pub(crate) fn into_wit(self, check_id: &str, evidence: Vec<String>) -> wit::Finding {
        wit::Finding {
            check_id: check_id.to_string(),
            status: self.status,
            message: self.message,
            reason: self.reason,
            subjects: self.subjects,
            details: self.details,
            evidence,
        }
    }
}

impl From<QueryError> for Finding {
    fn from(e: QueryError) -> Self {
        Finding::undecided(e.text())
    }
}
