//! The daemon.json a plan proposes: the file the daemon really uses, with the keys the plan
//! sets changed or added and everything else kept as written (order, nested values), as
//! text and as a unified diff. Keys the daemon also gets on its command line are not
//! written: dockerd refuses to start when a flag and daemon.json both set one.

use super::FixError;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;
use std::fmt;

/// A JSON object's entries in the order the file has them, each value as written.
struct Ordered(Vec<(String, Box<RawValue>)>);

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Ordered, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, Box<RawValue>>()? {
                    out.push((k, v));
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// The proposed file: `current` (none when the file does not exist) with `set` applied.
pub fn merge(
    path: &str,
    current: Option<&str>,
    set: &[(&str, &Value)],
) -> Result<String, FixError> {
    let mut entries = match current.map(str::trim) {
        None | Some("") => Vec::new(),
        Some(text) => {
            serde_json::from_str::<Ordered>(text)
                .map_err(|source| FixError::DaemonJson {
                    path: path.to_string(),
                    source,
                })?
                .0
        }
    };
    for (key, value) in set {
        let raw =
            RawValue::from_string(value.to_string()).map_err(|source| FixError::DaemonJson {
                path: path.to_string(),
                source,
            })?;
        match entries.iter_mut().find(|(k, _)| k == key) {
            Some(e) => e.1 = raw,
            None => entries.push((key.to_string(), raw)),
        }
    }
    let body: Vec<String> = entries
        .iter()
        .map(|(k, v)| format!("  {}: {}", Value::String(k.clone()), v.get()))
        .collect();
    Ok(if body.is_empty() {
        "{}\n".to_string()
    } else {
        format!("{{\n{}\n}}\n", body.join(",\n"))
    })
}

/// A unified diff between two versions of `path`.
pub fn unified_diff(path: &str, before: &str, after: &str) -> String {
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(path, path)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_changed_in_place_and_added_at_the_end() {
        let current = "{\n  \"log-opts\": {\"max-size\": \"10m\",   \"max-file\": \"3\"},\n  \"icc\": true,\n  \"debug\": false\n}\n";
        let icc = json!(false);
        let lr = json!(true);
        let out = merge(
            "/etc/docker/daemon.json",
            Some(current),
            &[("icc", &icc), ("live-restore", &lr)],
        )
        .unwrap();
        assert_eq!(
            out,
            "{\n  \"log-opts\": {\"max-size\": \"10m\",   \"max-file\": \"3\"},\n  \"icc\": false,\n  \"debug\": false,\n  \"live-restore\": true\n}\n"
        );
        let d = unified_diff("daemon.json", current, &out);
        assert!(
            d.contains("-  \"icc\": true,") && d.contains("+  \"icc\": false,"),
            "{d}"
        );
        assert!(d.contains("+  \"live-restore\": true"), "{d}");
        assert_eq!(
            merge("x", None, &[("icc", &icc)]).unwrap(),
            "{\n  \"icc\": false\n}\n"
        );
        assert!(matches!(
            merge("x", Some("{\"icc\": tru"), &[]),
            Err(FixError::DaemonJson { .. })
        ));
        assert!(merge("x", Some("[1]"), &[]).is_err());
    }
}
