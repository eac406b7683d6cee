//! Text from outside the process made safe to show, and errors shown with their causes: a
//! leaf room every other one may use (reporters, logs, the CLI).

use std::fmt::Write as _;

/// Make untrusted text safe for a terminal: control characters (escape sequences, CR,
/// backspace, bidi overrides) are shown as `\u{..}` instead of being interpreted.
pub fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        // Bidi embeddings, overrides, isolates and marks reorder what a reader sees.
        let bidi = matches!(
            c,
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
        );
        if c.is_control() || bidi {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// An error and its causes on one line (`outer: cause: root cause`), as logs show it.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        // Some errors repeat their cause in their own message.
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_controls() {
        assert_eq!(
            sanitize("ok\x1b[2Jname\r\u{202E}"),
            "ok\\u{1b}[2Jname\\u{d}\\u{202e}"
        );
        assert_eq!(sanitize("plain-name_1"), "plain-name_1");
    }

    #[test]
    fn chains_name_every_cause_once() {
        let inner = std::io::Error::other("disk full");
        let outer = crate::fix::FixError::Io {
            what: "writing",
            path: "/etc/docker/daemon.json".into(),
            source: inner,
        };
        assert_eq!(
            error_chain(&outer),
            "writing /etc/docker/daemon.json: disk full"
        );
    }
}
