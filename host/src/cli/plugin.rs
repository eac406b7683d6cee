//! `bulwark plugin ...`: inspect, sign, verify, push and pull plugin files.

use super::args::PluginCmd;
use anyhow::{Context, Result};
use bulwark::{distribute, report, runtime, trust};
use std::path::{Path, PathBuf};

fn read(f: &Path) -> Result<Vec<u8>> {
    std::fs::read(f).with_context(|| format!("reading {}", f.display()))
}

/// The signature status of a plugin file under the trusted keys, as one phrase.
fn signature_status(file: &Path, bytes: &[u8], keys: &[PathBuf], verified: &str) -> Result<String> {
    let t = trust::Trust::load(keys, false)?;
    Ok(match t.check(file, bytes) {
        Ok(Some(id)) => format!("{verified} (trusted key {id})"),
        Ok(None) => "unsigned".to_string(),
        Err(e) => report::sanitize(&e.to_string()),
    })
}

pub async fn run(cmd: PluginCmd) -> Result<i32> {
    match cmd {
        PluginCmd::New {
            name,
            lang,
            dir,
            author,
        } => super::author::new(&name, lang, dir, author)?,
        PluginCmd::Reference { output } => super::author::reference(output)?,
        PluginCmd::Build { dir } => {
            super::author::build(dir).await?;
        }
        PluginCmd::Test {
            path,
            snapshot,
            expect,
            all_containers,
        } => return super::author::test(path, snapshot, expect, all_containers).await,
        PluginCmd::Push {
            file,
            reference,
            insecure,
        } => {
            let url = distribute::push(&file, &reference, insecure).await?;
            println!("pushed {} to {url}", file.display());
        }
        PluginCmd::Pull {
            reference,
            dir,
            insecure,
            trusted_keys,
        } => {
            let path = distribute::pull(&reference, &dir, insecure).await?;
            let bytes = read(&path)?;
            let t = trust::Trust::load(&trusted_keys, false)?;
            let status = match t.check(&path, &bytes) {
                Ok(Some(id)) => format!("signature verified (trusted key {id})"),
                Ok(None) => "unsigned".to_string(),
                Err(e) => e.to_string(),
            };
            println!("pulled {} ({status})", path.display());
        }
        PluginCmd::Keygen { file } => {
            let id = trust::keygen(&file)?;
            println!(
                "key {id}: secret {} , public {}.pub",
                file.display(),
                file.display()
            );
        }
        PluginCmd::Sign { file, key } => {
            let bytes = read(&file)?;
            runtime::manifest::inspect(&bytes)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let sig = trust::sign(&bytes, &key)?;
            let path = trust::signature_path(&file);
            std::fs::write(&path, serde_json::to_string_pretty(&sig)? + "\n")
                .with_context(|| format!("writing {}", path.display()))?;
            println!("signed by key {}: {}", sig.key_id, path.display());
        }
        PluginCmd::Verify { file, trusted_keys } => {
            let bytes = read(&file)?;
            let t = trust::Trust::load(&trusted_keys, false)?;
            let id = t.check(&file, &bytes)?.context("no signature")?;
            println!("{}: signature by trusted key {id} verified", file.display());
        }
        PluginCmd::Inspect { file, trusted_keys } => {
            let bytes = read(&file)?;
            let seen = runtime::manifest::inspect(&bytes)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let status = signature_status(&file, &bytes, &trusted_keys, "verified")?;
            print!(
                "{}",
                report::inspect::plugin(&file.display().to_string(), &seen, &status)
            );
        }
    }
    Ok(0)
}
