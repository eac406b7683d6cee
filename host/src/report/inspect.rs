//! `bulwark plugin inspect`: what a plugin file is, before anything of it runs — its
//! manifest, requested scopes, imports, exports, size, digest and signature status.

use super::sanitize as s;
use crate::runtime::manifest::{check_imports, is_wasi, Inspection};
use crate::runtime::Manifest;

/// The inspection of `file` as text; `signature` is its already-checked signature status.
pub fn plugin(file: &str, seen: &Inspection, signature: &str) -> String {
    let mut out = format!(
        "file:       {}\nsize:       {} bytes\nsha256:     {}\n",
        s(file),
        seen.size,
        seen.sha256
    );
    match seen.manifest.as_deref().map(Manifest::parse) {
        Some(Ok(m)) => out.push_str(&manifest(&m)),
        Some(Err(e)) => out.push_str(&format!("manifest:   invalid ({})\n", s(&e.to_string()))),
        None => out.push_str("manifest:   none (only built-in plugins may omit it)\n"),
    }
    let imports = check_imports(&seen.imports, crate::abi::ABI_VERSION);
    // WASI is listed as one item: what matters is that it reaches nothing.
    let (wasi, own): (Vec<&String>, Vec<&String>) = seen.imports.iter().partition(|i| is_wasi(i));
    let mut listed: Vec<String> = own.into_iter().cloned().collect();
    if !wasi.is_empty() {
        listed.push(format!(
            "WASI 0.2 ({} interfaces; given no files, network, environment or arguments, clocks stopped)",
            wasi.len()
        ));
    }
    out.push_str(&format!(
        "imports:    {}{}\nexports:    {}\n",
        s(&listed.join(", ")),
        match imports {
            Ok(()) => String::new(),
            Err(e) => format!(" (refused: {})", s(&e.to_string())),
        },
        s(&seen.exports.join(", "))
    ));
    out.push_str(&format!("signature:  {signature}\n"));
    out
}

fn manifest(m: &Manifest) -> String {
    format!(
        "name:       {}\nversion:    {}\nauthor:     {}\nabi:        bulwark:plugin@{}{}\nchecks:     {}\nrequests:   {}{}\n",
        s(&m.name),
        s(&m.version),
        s(&m.author),
        s(&m.abi),
        match m.check_abi(crate::abi::ABI_VERSION) {
            Ok(()) => String::new(),
            Err(e) => format!(" (refused: {e})"),
        },
        s(&m.checks.join(", ")),
        if m.grants.is_empty() {
            "no evidence".to_string()
        } else {
            s(&m.grants.iter().map(|g| g.describe()).collect::<Vec<_>>().join("; "))
        },
        if m.random {
            "; real random bytes (WASI)"
        } else {
            ""
        }
    )
}
