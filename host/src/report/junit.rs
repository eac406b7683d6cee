//! JUnit XML for CI test dashboards: a test suite per section, a test case per check, and
//! one per subject where a check lists offenders. WARN is a failure, UNDECIDED and plugin
//! ERROR are errors, NOTE/INFO/SKIP are skipped, PASS passes. Suppressed findings are
//! skipped with the suppression's reason.

use crate::findings::{Finding, Report, Status, Subject};
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

/// XML 1.0 cannot carry most control characters, even escaped: show them as `\u{..}`.
fn xml_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\t' | '\n' | '\r')
            || !(c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}')
        {
            out.push(c);
        } else {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
    }
    out
}

struct Case {
    name: String,
    classname: String,
    outcome: Option<(&'static str, String, String)>, // (element, message, body)
}

fn subject_label(s: &Subject) -> String {
    match s {
        Subject::Container { name, .. } => format!("container {name}"),
        Subject::Image { name } => format!("image {name}"),
        Subject::File { path } => format!("file {path}"),
        Subject::Daemon => "daemon".into(),
        Subject::Host => "host".into(),
        Subject::Plugin { name } => format!("plugin {name}"),
    }
}

fn cases(f: &Finding) -> Vec<Case> {
    let base = format!("{} {}", f.check.id, f.check.title);
    let classname = format!("bulwark.section-{}", f.check.section);
    let body = {
        let mut lines = vec![f.message.clone()];
        lines.extend(f.reason.iter().cloned());
        lines.extend(f.details.iter().cloned());
        // What a failure means and how to fix it, where the check documents it.
        if let (Some(d), Status::Warn) = (&f.check.doc, f.status) {
            lines.push(format!("Why it matters: {}", d.why));
            lines.push(format!("Remediation: {}", d.remediation));
            lines.push(format!("Example:\n{}", d.example.trim_end()));
            lines.push(format!("Impact: {}", d.impact));
        }
        lines.retain(|l| !l.is_empty());
        lines.join("\n")
    };
    let outcome = |msg: &str| -> Option<(&'static str, String, String)> {
        if let Some(s) = &f.suppression {
            return Some(("skipped", format!("suppressed: {}", s.reason), body.clone()));
        }
        match f.status {
            Status::Pass => None,
            Status::Warn => Some(("failure", msg.to_string(), body.clone())),
            Status::Undecided | Status::Error => Some(("error", msg.to_string(), body.clone())),
            Status::Info | Status::Note | Status::Skipped => {
                Some(("skipped", msg.to_string(), body.clone()))
            }
        }
    };
    let summary = f.reason.clone().unwrap_or_else(|| f.message.clone());
    let per_subject = f.status == Status::Warn && f.subjects.len() > 1;
    if !per_subject {
        return vec![Case {
            name: base,
            classname,
            outcome: outcome(&format!("{}: {summary}", f.status.tag())),
        }];
    }
    f.subjects
        .iter()
        .map(|s| {
            let label = subject_label(s);
            let why = f.detail_for(s).unwrap_or(&summary);
            Case {
                name: format!("{base} [{label}]"),
                classname: classname.clone(),
                outcome: outcome(&format!("WARN: {why}")),
            }
        })
        .collect()
}

/// One `<testcase>`, with its failure, error or skip when it has one.
fn write_case(w: &mut Writer<Vec<u8>>, c: &Case) -> Result<(), quick_xml::Error> {
    let mut t = BytesStart::new("testcase");
    t.push_attribute(("name", xml_text(&c.name).as_str()));
    t.push_attribute(("classname", c.classname.as_str()));
    let Some((el, msg, body)) = &c.outcome else {
        w.write_event(Event::Empty(t))?;
        return Ok(());
    };
    w.write_event(Event::Start(t))?;
    let mut e = BytesStart::new(*el);
    e.push_attribute(("message", xml_text(msg).as_str()));
    if *el != "skipped" {
        e.push_attribute(("type", *el));
    }
    if body.is_empty() {
        w.write_event(Event::Empty(e))?;
    } else {
        w.write_event(Event::Start(e))?;
        w.write_event(Event::Text(BytesText::new(&xml_text(body))))?;
        w.write_event(Event::End(BytesEnd::new(*el)))?;
    }
    w.write_event(Event::End(BytesEnd::new("testcase")))?;
    Ok(())
}

pub fn junit(report: &Report) -> Result<String, quick_xml::Error> {
    // Group into suites by section, in report order.
    let mut suites: Vec<(String, String, Vec<Case>)> = Vec::new();
    for f in &report.findings {
        let key = f.check.section.clone();
        if suites.last().is_none_or(|(k, _, _)| *k != key) {
            let title = if f.check.section_title.is_empty() {
                format!("Section {key}")
            } else {
                format!("{key} {}", f.check.section_title)
            };
            suites.push((key, title, Vec::new()));
        }
        if let Some((_, _, list)) = suites.last_mut() {
            list.extend(cases(f));
        }
    }
    let count = |list: &[Case], el: &str| {
        list.iter()
            .filter(|c| c.outcome.as_ref().is_some_and(|(e, _, _)| *e == el))
            .count()
    };
    let all: Vec<&Case> = suites.iter().flat_map(|(_, _, l)| l).collect();
    let total_of = |el: &str| {
        all.iter()
            .filter(|c| c.outcome.as_ref().is_some_and(|(e, _, _)| *e == el))
            .count()
    };

    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let secs = format!("{:.3}", report.duration_ms / 1000.0);
    let mut root = BytesStart::new("testsuites");
    let suite_name = format!("bulwark {}", report.benchmark.id);
    root.push_attribute(("name", suite_name.as_str()));
    root.push_attribute(("tests", all.len().to_string().as_str()));
    root.push_attribute(("failures", total_of("failure").to_string().as_str()));
    root.push_attribute(("errors", total_of("error").to_string().as_str()));
    root.push_attribute(("skipped", total_of("skipped").to_string().as_str()));
    root.push_attribute(("time", secs.as_str()));
    w.write_event(Event::Start(root))?;
    for (_, title, list) in &suites {
        let mut s = BytesStart::new("testsuite");
        s.push_attribute(("name", xml_text(title).as_str()));
        s.push_attribute(("tests", list.len().to_string().as_str()));
        s.push_attribute(("failures", count(list, "failure").to_string().as_str()));
        s.push_attribute(("errors", count(list, "error").to_string().as_str()));
        s.push_attribute(("skipped", count(list, "skipped").to_string().as_str()));
        w.write_event(Event::Start(s))?;
        // The engine judged, as CI systems show a suite's properties.
        if let Some(e) = &report.engine {
            w.write_event(Event::Start(BytesStart::new("properties")))?;
            let mut p = BytesStart::new("property");
            p.push_attribute(("name", "engine"));
            p.push_attribute(("value", xml_text(&e.describe()).as_str()));
            w.write_event(Event::Empty(p))?;
            w.write_event(Event::End(BytesEnd::new("properties")))?;
        }
        for c in list {
            write_case(&mut w, c)?;
        }
        w.write_event(Event::End(BytesEnd::new("testsuite")))?;
    }
    w.write_event(Event::End(BytesEnd::new("testsuites")))?;
    let mut out = String::from_utf8(w.into_inner()).unwrap_or_default();
    out.push('\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_reach_the_xml() {
        assert_eq!(xml_text("a\x1b[31mb\u{0}\n"), "a\\u{1b}[31mb\\u{0}\n");
    }
}
