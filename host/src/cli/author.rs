//! `bulwark plugin new|build|test`: the author's commands.

use anyhow::{Context, Result};
use bulwark::author::{self, Lang};
use bulwark::report;
use bulwark::runtime::{self, Limits, Runtime};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

/// Exit status when a plugin test fails: a verdict differs, or the plugin failed.
const EXIT_TEST_FAILED: i32 = 2;

pub fn new(name: &str, lang: Lang, dir: Option<PathBuf>, who: Option<String>) -> Result<()> {
    let dir = dir.unwrap_or_else(|| PathBuf::from(name));
    let who = who
        .or_else(git_user)
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".to_string());
    author::scaffold::new(name, lang, &dir, &who)?;
    print!("{}", report::author::created(&dir, lang));
    Ok(())
}

pub fn reference(output: Option<PathBuf>) -> Result<()> {
    let page = author::reference::markdown(bulwark_build::WIT)
        .map_err(|e| anyhow::anyhow!("the built-in WIT does not parse: {e}"))?;
    match output {
        Some(p) => std::fs::write(&p, page).with_context(|| format!("writing {}", p.display())),
        None => {
            print!("{page}");
            Ok(())
        }
    }
}

/// `git config user.name`, when git is there and knows it.
fn git_user() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["config", "user.name"])
        .output()
        .ok()?;
    let name = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !name.is_empty()).then_some(name)
}

/// The sandbox as an audit sets it up by default.
fn runtime() -> Result<Arc<Runtime>> {
    Ok(Arc::new(Runtime::new(
        Limits::default(),
        runtime::default_cache_dir(),
    )?))
}

async fn build_in(dir: PathBuf, rt: Arc<Runtime>) -> Result<author::build::Built> {
    let project = author::build::Project::open(&dir)?;
    eprintln!(
        "bulwark: building {} ({})",
        report::sanitize(&dir.display().to_string()),
        match project.lang {
            Lang::Rust => "cargo, wasm32-unknown-unknown, profile plugin",
            Lang::Python => "componentize-py",
        }
    );
    let handle = tokio::runtime::Handle::current();
    let built = tokio::task::spawn_blocking(move || author::build::build(&dir, &rt, handle))
        .await
        .context("the build task failed")??;
    Ok(built)
}

pub async fn build(dir: PathBuf) -> Result<()> {
    let built = build_in(dir, runtime()?).await?;
    print!("{}", report::author::built(&built));
    Ok(())
}

pub async fn test(
    path: PathBuf,
    snapshot: Option<PathBuf>,
    expect: Option<PathBuf>,
    all_containers: bool,
) -> Result<i32> {
    let expected = expect
        .as_deref()
        .map(author::trial::read_expectations)
        .transpose()?;
    let rt = runtime()?;
    let (file, project) = if path.is_dir() {
        let built = build_in(path.clone(), rt.clone()).await?;
        eprint!("{}", report::author::built(&built));
        (built.path, Some(path))
    } else {
        (path, None)
    };
    let snapshot = match (snapshot, &project) {
        (Some(s), _) => s,
        (None, Some(dir)) if dir.join("tests/snapshot.json").is_file() => {
            dir.join("tests/snapshot.json")
        }
        _ => anyhow::bail!("--snapshot FILE: which recorded host to test on"),
    };
    let handle = tokio::runtime::Handle::current();
    let trial = {
        let (rt, file, snapshot) = (rt.clone(), file.clone(), snapshot.clone());
        tokio::task::spawn_blocking(move || {
            author::trial::run(&rt, &file, &snapshot, handle, all_containers)
        })
        .await
        .context("the test task failed")??
    };
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    print!("{}", report::text(&trial.report, colour, false));
    print!("{}", report::author::trial(&trial));
    let failed = trial.report.plugins.iter().any(|p| p.error.is_some());
    let mismatched = match &expected {
        Some(e) => {
            let list = author::trial::compare(&trial.report, e);
            print!("{}", report::author::mismatches(&list, e.len()));
            !list.is_empty()
        }
        None => false,
    };
    Ok(if failed || mismatched {
        EXIT_TEST_FAILED
    } else {
        0
    })
}
