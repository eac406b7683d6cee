//! `bulwark profile record|merge|verify`: parse, call `watch::profile` and `harden`, write
//! the files, render.

use super::args::{DiffFormat, ProfileCmd};
use anyhow::{bail, Context, Result};
use bulwark::harden::advice::{self, ProfileDoc};
use bulwark::harden::seccomp;
use bulwark::report;
use bulwark::watch::profile::{self as prof, VerifySpec};
use bulwark::watch::record::RecordSpec;
use std::path::{Path, PathBuf};

/// Exit status of `verify` when the profile does not hold.
const EXIT_NOT_VERIFIED: i32 = 2;

pub async fn run(cmd: ProfileCmd) -> Result<i32> {
    match cmd {
        ProfileCmd::Record {
            host,
            duration,
            output,
            new,
            containers,
        } => record(host, duration, &output, new, containers).await,
        ProfileCmd::Merge { profiles, output } => merge(&profiles, &output),
        ProfileCmd::Verify {
            host,
            profile,
            duration,
            format,
            container,
        } => verify(host, &profile, duration, format, container).await,
    }
}

/// `x.seccomp.json` → `x.profile.json` (any other name: `NAME.profile.json` beside it).
fn doc_path(seccomp: &Path) -> PathBuf {
    let name = seccomp
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name
        .strip_suffix(".seccomp.json")
        .or_else(|| name.strip_suffix(".json"))
        .unwrap_or(&name);
    seccomp.with_file_name(format!("{stem}.profile.json"))
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).context("serializing")?;
    text.push('\n');
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

async fn record(
    host: Option<String>,
    duration: std::time::Duration,
    output: &Path,
    new: bool,
    containers: Vec<String>,
) -> Result<i32> {
    if containers.is_empty() && !new {
        bail!("name the running containers to record, or pass --new to record those that start");
    }
    bulwark::probes::preflight().context("cannot record on this host")?;
    std::fs::create_dir_all(output).with_context(|| format!("creating {}", output.display()))?;
    let spec = RecordSpec {
        containers,
        new,
        refusals: false,
        duration,
    };
    // Ctrl-C or SIGTERM ends the recording early, and what it saw is still written.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing a SIGTERM handler")?;
    let started = async move {
        eprintln!(
            "bulwark: recording for {:.0} s{} (interrupt to stop early)",
            duration.as_secs_f64(),
            if new {
                " (containers that start are recorded from their first syscall)"
            } else {
                ""
            }
        );
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    let made = prof::record_profiles(host, &spec, started)
        .await
        .context("recording")?;
    for n in &made.notes {
        eprintln!("bulwark: {}", report::sanitize(n));
    }
    let mut failed = 0;
    for m in &made.made {
        let stem = &m.file_stem;
        let sp = output.join(format!("{stem}.seccomp.json"));
        let dp = output.join(format!("{stem}.profile.json"));
        // One file that cannot be written does not cost the other containers theirs.
        if let Err(e) = write_json(&sp, &m.profile).and_then(|_| write_json(&dp, &m.doc)) {
            eprintln!("bulwark: {}", report::sanitize(&format!("{e:#}")));
            failed += 1;
            continue;
        }
        print!(
            "{}",
            report::profile::recorded(&m.doc, &sp.display().to_string(), &dp.display().to_string())
        );
    }
    Ok(if failed > 0 {
        super::EXIT_CANNOT_RUN
    } else {
        0
    })
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn merge(profiles: &[PathBuf], output: &Path) -> Result<i32> {
    let mut parsed = Vec::new();
    let mut docs: Vec<ProfileDoc> = Vec::new();
    let mut all_docs = true;
    for p in profiles {
        parsed.push(seccomp::parse(&read(p)?, &p.display().to_string())?);
        let dp = doc_path(p);
        match std::fs::read(&dp) {
            Ok(bytes) => docs.push(advice::parse_doc(&bytes, &dp.display().to_string())?),
            Err(_) => all_docs = false,
        }
    }
    let merged = seccomp::merge(&parsed).context("merging")?;
    write_json(output, &merged)?;
    let names = merged.syscalls.iter().map(|r| r.names.len()).sum::<usize>();
    println!(
        "{}: {names} names, the union of {}",
        output.display(),
        profiles.len()
    );
    if all_docs {
        let obs: Vec<_> = docs.into_iter().map(|d| d.observation).collect();
        let file = output
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let current = advice::Current::Unknown(format!("merged from {} recordings", obs.len()));
        let mut doc = advice::advise(
            advice::merge_observations(&obs),
            &file,
            &current,
            &Default::default(),
        );
        doc.merged_from = profiles
            .iter()
            .map(|p| doc_path(p).display().to_string())
            .collect();
        let dp = doc_path(output);
        write_json(&dp, &doc)?;
        println!("{}: the observations merged (counts summed)", dp.display());
    } else {
        eprintln!("bulwark: not every profile has its .profile.json beside it: no merged observation written");
    }
    Ok(0)
}

async fn verify(
    host: Option<String>,
    profile: &Path,
    duration: std::time::Duration,
    format: DiffFormat,
    container: String,
) -> Result<i32> {
    bulwark::probes::preflight().context("cannot verify on this host")?;
    let bytes = read(profile)?;
    let parsed = seccomp::parse(&bytes, &profile.display().to_string())?;
    let json =
        String::from_utf8(bytes).with_context(|| format!("{}: not UTF-8", profile.display()))?;
    let dp = doc_path(profile);
    let cap_add = match std::fs::read(&dp) {
        Ok(b) => Some(
            advice::parse_doc(&b, &dp.display().to_string())?
                .capabilities
                .cap_add,
        ),
        Err(_) => {
            eprintln!(
                "bulwark: no {} beside the profile: the copy keeps the original's capabilities",
                dp.display()
            );
            None
        }
    };
    let spec = VerifySpec {
        container,
        profile: parsed,
        profile_json: json,
        cap_add,
        duration,
    };
    let v = prof::verify(host, &spec).await.context("verifying")?;
    match format {
        DiffFormat::Json => {
            let out = serde_json::json!({
                "copy": v.copy_name,
                "verdict": v.verdict,
                "notes": v.notes,
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&out).context("serializing")?
            );
        }
        _ => print!(
            "{}",
            report::profile::verdict(&v.verdict, &v.copy_name, &v.notes)
        ),
    }
    Ok(if v.verdict.verified {
        0
    } else {
        EXIT_NOT_VERIFIED
    })
}
