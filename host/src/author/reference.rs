//! `bulwark plugin reference`: the plugin contract as a Markdown page, generated from the
//! WIT this binary speaks — every evidence function with its scope, its errors and an
//! answer recorded from a real dockerd — with the ABI versioning rule and the sandbox
//! limits (what each default is and what happens when a run reaches it).

use crate::runtime::{Limits, PluginFailure};
use bulwark_query::Query;
use std::fmt::Write as _;
use wit_parser::{Docs, Function, Interface, Resolve, Type, TypeDefKind, TypeId};

/// A snapshot recorded on a real dockerd (three containers): the example answers.
const SNAPSHOT: &str = include_str!("../../../tests/fixtures/host.snap.json");
/// Lines of an example answer shown before it is cut.
const EXAMPLE_LINES: usize = 14;

/// WIT evidence functions whose query kind has another name.
const ALIASES: &[(&str, &str)] = &[
    ("containers", "container-list"),
    ("observation", "observed-profile"),
    ("seccomp", "seccomp-fit"),
];

/// The query kind an evidence function asks.
pub fn query_kind(function: &str) -> &str {
    ALIASES
        .iter()
        .find(|(f, _)| *f == function)
        .map_or(function, |(_, k)| k)
}

/// The reference page for `wit` (the WIT text of the contract).
pub fn markdown(wit: &str) -> Result<String, String> {
    let mut resolve = Resolve::default();
    let pkg = resolve
        .push_str("bulwark.wit", wit)
        .map_err(|e| format!("{e:#}"))?;
    let package = &resolve.packages[pkg];
    let version = package
        .name
        .version
        .as_ref()
        .map(|v| v.to_string())
        .unwrap_or_default();
    let examples = examples();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# The Bulwark plugin contract: `bulwark:plugin@{version}`\n"
    );
    out.push_str(
        "Generated from the WIT by `bulwark plugin reference` (do not edit). A plugin is a \
         WebAssembly component that exports `checks` (and `rules`, `sources`) and imports \
         `evidence` and `types`; the SDKs wrap these.\n\n",
    );
    out.push_str("## Versioning\n\n");
    out.push_str(&docs(&package.docs));
    out.push_str(
        "\nA host accepts a plugin whose manifest ABI has the host's major and minor version \
         and a patch at most the host's; anything else is refused before it runs, and \
         `bulwark plugin build` refuses to build it.\n\n",
    );
    out.push_str(&limits());
    for (name, id) in &package.interfaces {
        let iface = &resolve.interfaces[*id];
        let _ = writeln!(out, "## Interface `{name}`\n");
        out.push_str(&docs(&iface.docs));
        out.push('\n');
        types(&mut out, &resolve, iface);
        for (fname, f) in &iface.functions {
            function(&mut out, &resolve, fname, f, name == "evidence", &examples);
        }
    }
    out.push_str("## Worlds\n\n");
    for (name, id) in &package.worlds {
        let w = &resolve.worlds[*id];
        let names = |items: &wit_parser::IndexMap<wit_parser::WorldKey, wit_parser::WorldItem>| {
            let list: Vec<String> = items
                .keys()
                .map(|k| format!("`{}`", resolve.name_world_key(k)))
                .collect();
            match list.is_empty() {
                true => "nothing".to_string(),
                false => list.join(", "),
            }
        };
        let _ = writeln!(
            out,
            "- `{name}`: imports {}; exports {}. {}",
            names(&w.imports),
            names(&w.exports),
            docs(&w.docs).trim()
        );
    }
    Ok(out)
}

/// Doc text without the WIT file's section dividers (`--- Host (typed) ---`).
fn docs(d: &Docs) -> String {
    let text: Vec<&str> = d
        .contents
        .as_deref()
        .unwrap_or("")
        .lines()
        .filter(|l| !(l.trim().starts_with("---") && l.trim().ends_with("---")))
        .collect();
    let text = text.join("\n");
    match text.trim() {
        "" => String::new(),
        t => format!("{t}\n"),
    }
}

fn one_line(d: &Docs) -> String {
    d.contents
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The sandbox limits, their defaults and flags, and what reaching each does.
fn limits() -> String {
    let l = Limits::default();
    let rows = [
        (
            "fuel (instructions)",
            l.fuel.to_string(),
            "--fuel",
            PluginFailure::OutOfFuel(l.fuel).to_string(),
        ),
        (
            "wall-clock time",
            format!("{} s", l.timeout.as_secs()),
            "--plugin-timeout",
            PluginFailure::Timeout(l.timeout).to_string(),
        ),
        (
            "linear memory",
            format!("{} MiB", l.memory >> 20),
            "--plugin-memory",
            PluginFailure::Memory(l.memory >> 20).to_string(),
        ),
        (
            "evidence queries",
            l.max_queries.to_string(),
            "--plugin-max-queries",
            PluginFailure::QueryLimit(l.max_queries).to_string(),
        ),
        (
            "findings returned",
            format!("{} KiB", l.max_output >> 10),
            "--plugin-max-output",
            PluginFailure::OutputTooLarge(0, l.max_output)
                .to_string()
                .replacen(" 0 bytes", " N bytes", 1),
        ),
    ];
    let mut out = String::from(
        "## Limits\n\nEach run (one plugin, its planned checks) gets a fresh instance and these \
         limits. Reaching one ends the run: every check of that run gets no verdict, and one \
         ERROR finding names the plugin and the cause (`plugin NAME <cause>`); the rest of \
         the audit is unaffected. A rule plugin in `watch` keeps its instance across batches \
         (fuel and time are per batch).\n\n| limit | default | flag | the cause reported |\n|---|---|---|---|\n",
    );
    for (what, default, flag, cause) in rows {
        let _ = writeln!(out, "| {what} | {default} | `{flag}` | {cause} |");
    }
    out.push_str(
        "\nAlso an error of the whole run: a trap or panic (`trapped: ...`, with a WASI \
         plugin's last stderr lines), verdicts for checks it was not asked, twice, or missing \
         (`returned garbage: ...`). A query outside the plugin's grants is not an error of \
         the run: it returns `denied`, and the check decides (usually UNDECIDED).\n\n\
         WASI (imported by Python plugins) is linked with nothing behind it: no preopened \
         files, no sockets, an empty environment and argument list, stdin empty, stdout \
         discarded, both clocks stopped at the audit's start (a sleep returns at once), and \
         random bytes from a seed fixed per audit unless the manifest says `random = true`.\n\n",
    );
    out
}

/// The recorded answer of the first query of each kind in the snapshot.
fn examples() -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(v) = serde_json::from_str::<serde_json::Value>(SNAPSHOT) else {
        return out;
    };
    for e in v["entries"].as_array().into_iter().flatten() {
        let Some(kind) = e["query"]["query"].as_str() else {
            continue;
        };
        if out.contains_key(kind) {
            continue;
        }
        let answer = &e["answer"]["value"];
        if answer.is_null() {
            continue;
        }
        let arg = e["query"]
            .as_object()
            .and_then(|o| o.iter().find(|(k, _)| *k != "query"))
            .map(|(_, v)| v.as_str().map_or(v.to_string(), str::to_string));
        // The container record is read from the inspect, not recorded: show the fixture's.
        if kind == "container-inspect" && !out.contains_key("container") {
            let record = crate::evidence::record::from_doc(&answer.clone().into());
            if let Ok(r) = record.map(|r| serde_json::to_value(r).unwrap_or_default()) {
                out.insert("container".to_string(), example(arg.as_deref(), &r));
            }
        }
        out.insert(kind.to_string(), example(arg.as_deref(), answer));
    }
    out
}

/// An answer as the reference shows it: pretty, cut after [`EXAMPLE_LINES`] lines.
fn example(arg: Option<&str>, answer: &serde_json::Value) -> String {
    let text = serde_json::to_string_pretty(answer).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let mut shown = lines[..lines.len().min(EXAMPLE_LINES)].join("\n");
    if lines.len() > EXAMPLE_LINES {
        let _ = write!(shown, "\n  … ({} more lines)", lines.len() - EXAMPLE_LINES);
    }
    format_example(arg, &shown)
}

fn format_example(arg: Option<&str>, shown: &str) -> String {
    let asked = match arg {
        Some(a) => format!(" (asked for `{a}`)"),
        None => String::new(),
    };
    format!("Example answer{asked}, recorded from a real dockerd:\n\n```json\n{shown}\n```\n")
}

fn types(out: &mut String, resolve: &Resolve, iface: &Interface) {
    for (name, id) in &iface.types {
        let t = &resolve.types[*id];
        let (kind, members): (&str, Vec<(String, &Docs)>) = match &t.kind {
            TypeDefKind::Record(r) => (
                "record",
                r.fields
                    .iter()
                    .map(|f| (format!("`{}`: `{}`", f.name, ty(resolve, &f.ty)), &f.docs))
                    .collect(),
            ),
            TypeDefKind::Variant(v) => (
                "variant",
                v.cases
                    .iter()
                    .map(|c| {
                        let payload = c.ty.as_ref().map(|t| format!("({})", ty(resolve, t)));
                        (
                            format!("`{}{}`", c.name, payload.unwrap_or_default()),
                            &c.docs,
                        )
                    })
                    .collect(),
            ),
            TypeDefKind::Enum(e) => (
                "enum",
                e.cases
                    .iter()
                    .map(|c| (format!("`{}`", c.name), &c.docs))
                    .collect(),
            ),
            TypeDefKind::Flags(f) => (
                "flags",
                f.flags
                    .iter()
                    .map(|c| (format!("`{}`", c.name), &c.docs))
                    .collect(),
            ),
            TypeDefKind::Type(Type::Id(other)) if resolve.types[*other].owner != t.owner => {
                continue; // a `use` of another interface's type
            }
            _ => ("type", vec![]),
        };
        let _ = writeln!(out, "### {kind} `{name}`\n");
        let d = docs(&t.docs);
        if !d.is_empty() {
            out.push_str(&d);
            out.push('\n');
        }
        for (m, d) in members {
            let d = one_line(d);
            if d.is_empty() {
                let _ = writeln!(out, "- {m}");
            } else {
                let _ = writeln!(out, "- {m}: {d}");
            }
        }
        out.push('\n');
    }
}

fn function(
    out: &mut String,
    resolve: &Resolve,
    name: &str,
    f: &Function,
    evidence: bool,
    examples: &std::collections::BTreeMap<String, String>,
) {
    let params: Vec<String> = f
        .params
        .iter()
        .map(|p| format!("{}: {}", p.name, ty(resolve, &p.ty)))
        .collect();
    let result = f
        .result
        .as_ref()
        .map(|r| format!(" -> {}", ty(resolve, r)))
        .unwrap_or_default();
    let _ = writeln!(out, "### `{name}({}){result}`\n", params.join(", "));
    let d = docs(&f.docs);
    if !d.is_empty() {
        out.push_str(&d);
        out.push('\n');
    }
    if evidence {
        let kind = query_kind(name);
        let scope = Query::examples()
            .into_iter()
            .find(|q| q.kind() == kind)
            .map(|q| q.scope());
        match scope {
            Some(s) => {
                let _ = writeln!(
                    out,
                    "- Scope: `{}` (manifest `grants = [{{ scope = \"{}\" }}]`; operators allow it with `--grant NAME:{}`). Provenance key: `{kind}{}`.",
                    s.name(),
                    s.name(),
                    s.name(),
                    match f.params.first() {
                        Some(p) => format!(":{}", p.name.to_ascii_uppercase()),
                        None => String::new(),
                    }
                );
            }
            None => {
                let _ = writeln!(out, "- Scope: none (not a query)");
            }
        }
        if result.contains("query-error") {
            out.push_str(
                "- Errors: `unavailable` (the source cannot be reached, or the snapshot lacks \
                 it), `denied` (outside the plugin's grants), `not-found` (the object does not \
                 exist, e.g. a container that vanished).\n",
            );
        }
        out.push('\n');
        match examples.get(kind) {
            Some(e) => out.push_str(e),
            None => out.push_str("(No recorded example: the fixture host has none.)\n"),
        }
        out.push('\n');
    }
}

/// A WIT type as written in WIT.
fn ty(resolve: &Resolve, t: &Type) -> String {
    match t {
        Type::Bool => "bool".into(),
        Type::U8 => "u8".into(),
        Type::U16 => "u16".into(),
        Type::U32 => "u32".into(),
        Type::U64 => "u64".into(),
        Type::S8 => "s8".into(),
        Type::S16 => "s16".into(),
        Type::S32 => "s32".into(),
        Type::S64 => "s64".into(),
        Type::F32 => "f32".into(),
        Type::F64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::ErrorContext => "error-context".into(),
        Type::Id(id) => type_id(resolve, *id),
    }
}

fn type_id(resolve: &Resolve, id: TypeId) -> String {
    let t = &resolve.types[id];
    if let Some(n) = &t.name {
        return n.clone();
    }
    match &t.kind {
        TypeDefKind::List(i) => format!("list<{}>", ty(resolve, i)),
        TypeDefKind::Option(i) => format!("option<{}>", ty(resolve, i)),
        TypeDefKind::Result(r) => {
            let ok = r.ok.as_ref().map_or("_".to_string(), |t| ty(resolve, t));
            match &r.err {
                Some(e) => format!("result<{ok}, {}>", ty(resolve, e)),
                None => format!("result<{ok}>"),
            }
        }
        TypeDefKind::Tuple(tu) => format!(
            "tuple<{}>",
            tu.types
                .iter()
                .map(|t| ty(resolve, t))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        TypeDefKind::Type(inner) => ty(resolve, inner),
        _ => "?".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every evidence function is a query kind and every query kind an evidence function:
    /// the contract and the vocabulary cannot drift apart unnoticed.
    #[test]
    fn evidence_functions_and_query_kinds_match() {
        let mut resolve = Resolve::default();
        let pkg = resolve.push_str("bulwark.wit", bulwark_build::WIT).unwrap();
        let iface = resolve.packages[pkg].interfaces["evidence"];
        let functions: std::collections::BTreeSet<&str> = resolve.interfaces[iface]
            .functions
            .keys()
            .map(|f| query_kind(f))
            .collect();
        let kinds: std::collections::BTreeSet<&str> =
            Query::examples().iter().map(|q| q.kind()).collect();
        assert_eq!(functions, kinds);
    }

    /// The committed reference is what this binary generates.
    #[test]
    fn the_committed_reference_is_current() {
        let page = markdown(bulwark_build::WIT).unwrap();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugin-sdk/REFERENCE.md");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == page,
            "plugin-sdk/REFERENCE.md is stale: cargo run -p bulwark -- plugin reference -o plugin-sdk/REFERENCE.md"
        );
        for want in [
            "### `docker-info() -> result<string, query-error>`",
            "Scope: `daemon`",
            "recorded from a real dockerd",
            "| fuel (instructions) | 20000000000 | `--fuel` |",
        ] {
            assert!(page.contains(want), "{want}");
        }
    }
}
