//! Reporters: render a [`Report`](crate::findings::Report) — docker-bench-style text,
//! Docker Bench's JSON log ([`dbs`]), Bulwark's JSON, SARIF, JUnit, HTML, Markdown, OCSF
//! ([`ocsf`]) — and the
//! catalogue views (`checks`, `explain`, `plugin inspect`). Everything that came from
//! outside the process is escaped before it reaches a terminal.

pub mod author;
pub mod catalogue;
pub mod dbs;
pub mod diff;
pub mod explain;
pub mod fix;
pub mod html;
pub mod inspect;
pub mod junit;
pub mod markdown;
pub mod ocsf;
pub mod profile;
pub mod sarif;
pub mod text;

use crate::findings::Report;

pub use dbs::{dbs_json, score};

pub use crate::findings::SCHEMA;
pub use text::text;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// docker-bench-style text.
    Text,
    /// Bulwark's own JSON (schema `bulwark/findings/v1`).
    Json,
    /// SARIF 2.1.0 for code scanning.
    Sarif,
    /// JUnit XML for CI test reports.
    Junit,
    /// One self-contained HTML page.
    Html,
    /// Markdown: a summary table, then the failing checks (tickets, CI job summaries).
    Markdown,
    /// OCSF 1.8.0 Compliance Findings (class 2003), one JSON object per line (SIEMs,
    /// security lakes).
    Ocsf,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("JSON encoding: {0}")]
    Json(#[from] serde_json::Error),
    #[error("XML encoding: {0}")]
    Xml(#[from] quick_xml::Error),
}

/// Render a report in any format. `colour` applies to text only.
pub fn render(
    report: &Report,
    format: Format,
    colour: bool,
    remediation: bool,
) -> Result<String, RenderError> {
    Ok(match format {
        Format::Text => text(report, colour, remediation),
        Format::Json => json(report)? + "\n",
        Format::Sarif => sarif::sarif(report)? + "\n",
        Format::Junit => junit::junit(report)?,
        Format::Html => html::html(report)?,
        Format::Markdown => markdown::markdown(report),
        Format::Ocsf => ocsf::audit(report)?,
    })
}

pub use crate::text::{error_chain, sanitize};

/// Bulwark's own JSON document (schema [`SCHEMA`]): the report plus a status summary,
/// encoded straight from the report (no intermediate tree, which at a thousand containers
/// was several times the size of the text).
pub fn json(report: &Report) -> Result<String, serde_json::Error> {
    #[derive(serde::Serialize)]
    struct WithSummary<'a, S: serde::Serialize> {
        #[serde(flatten)]
        report: &'a Report,
        summary: S,
    }
    serde_json::to_string_pretty(&WithSummary {
        report,
        summary: report.summary(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::findings::Status;

    use crate::findings::{CheckInfo, Finding, Report, Subject};
    use proptest::prelude::*;

    pub(crate) fn report_with(message: String, name: String, n: usize) -> Report {
        let check = CheckInfo {
            id: "5.11".into(),
            implementation: "5.11".into(),
            title: "Ensure that the memory usage for containers is limited".into(),
            section: "5".into(),
            section_title: "Container Runtime".into(),
            level: 1,
            scored: true,
            automated: true,
            description: String::new(),
            remediation: "use --memory".into(),
            remediation_impact: String::new(),
            tags: vec![],
            plugin: "cis-runtime".into(),
            doc: None,
        };
        Report {
            schema: "bulwark/audit/v0",
            tool: "bulwark",
            version: "0",
            abi: "0.1.0",
            evidence: "snapshot",
            audit_start: 1,
            duration_ms: 0.0,
            evidence_queries: 0,
            evidence_errors: 0,
            benchmark: crate::findings::Benchmark {
                id: "cis-1.6.0".into(),
                title: "CIS Docker Benchmark 1.6.0".into(),
            },
            plugins: vec![],
            findings: vec![Finding {
                check,
                status: Status::Warn,
                message,
                reason: None,
                subjects: (0..n)
                    .map(|i| Subject::Container {
                        id: format!("{i}"),
                        name: format!("{name}{i}"),
                    })
                    .collect(),
                details: vec![],
                evidence: vec![],
                suppression: None,
                baseline: None,
                previous: None,
            }],
            expired_suppressions: vec![],
            baseline_absent: None,
            engine: None,
        }
    }

    proptest! {
        /// Whatever the names and messages hold, the log is valid JSON that keeps them exactly.
        #[test]
        fn dbs_log_is_valid_json_for_hostile_text(message in any::<String>(), name in any::<String>(), n in 0usize..6, limit in 0usize..4) {
            let r = report_with(message.clone(), name.clone(), n);
            let text = serde_json::to_string(&dbs_json(&r, limit, true, 2)).unwrap();
            let back: serde_json::Value = serde_json::from_str(&text).unwrap();
            let res = &back["tests"][0]["results"][0];
            let kept = if limit > 0 { n.min(limit) } else { n };
            prop_assert_eq!(res["items"].as_array().map(|a| a.len()).unwrap_or(0), kept);
            if kept > 0 {
                prop_assert_eq!(res["items"][0].as_str().unwrap(), format!("{name}0"));
            }
            let details = res["details"].as_str().unwrap_or_default();
            prop_assert!(details.starts_with(&message));
            prop_assert_eq!(details.ends_with("(truncated)"), limit > 0 && n > limit);
            prop_assert_eq!(res["remediation"].as_str(), Some("use --memory"));
            prop_assert!(!sanitize(&name).chars().any(|c| c.is_control()));
        }
    }

    #[test]
    fn a_start_past_year_9999_is_shown_as_a_number() {
        // A snapshot's audit_start is the file's to choose: no overflow, no cut header.
        let mut r = report_with("m".into(), "c".into(), 1);
        for (start, shown) in [
            (u64::MAX, format!("Initializing @{} (", u64::MAX)),
            (253_402_300_800, "Initializing @253402300800 (".to_string()),
            (
                253_402_300_799,
                "Initializing 9999-12-31T23:59:59Z (".to_string(),
            ),
        ] {
            r.audit_start = start;
            let t = text(&r, false, true);
            assert!(t.contains(&shown), "{t}");
            assert!(t.contains("Section C - Score"), "{t}");
        }
    }

    #[test]
    fn score_and_count_follow_docker_bench_kinds() {
        let mut r = report_with(String::new(), "c".into(), 0);
        let base = r.findings[0].clone();
        let mk = |id: &str, status: Status| {
            let mut f = base.clone();
            f.check.id = id.to_string();
            f.check.implementation = id.to_string();
            f.status = status;
            f
        };
        r.findings = vec![
            mk("2.2", Status::Pass),    // s: +1, counted
            mk("2.3", Status::Warn),    // s: -1, counted
            mk("1.1.3", Status::Info),  // s: not counted
            mk("1.1.5", Status::Info),  // sc: counted only
            mk("3.1", Status::Warn),    // sc: -1, counted
            mk("2.1", Status::Note),    // c: counted
            mk("4.7", Status::Pass),    // c: counted, not scored
            mk("5.18", Status::Warn),   // c: warn -c is not counted
            mk("5.5", Status::Skipped), // no containers: not counted
            mk("7.1", Status::Undecided),
            mk("C.5.3.1", Status::Pass), // s
        ];
        assert_eq!(score(&r), (7, 0));
        let kinds = dbs::DBS_KINDS.split_whitespace().count();
        assert_eq!(kinds, 132, "every Docker Bench check has a counting kind");
    }
}
