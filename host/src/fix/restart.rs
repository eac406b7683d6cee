//! How the daemon runs, so a plan can say how to restart it and `fix --restart` can: a
//! systemd unit (system or user, from the daemon's cgroup) is restarted through systemctl;
//! any other dockerd is stopped and started again with the same command line,
//! environment, working directory and log file.

use super::FixError;
use crate::abi::ev;
use serde::Serialize;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What keeps the daemon running.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Manager {
    /// A systemd unit; `user` for a user unit (rootless Docker).
    Systemd { unit: String, user: bool },
    /// A process started some other way: how it was started, to start it again so.
    Process {
        pid: u32,
        argv: Vec<String>,
        #[serde(skip)]
        start: Start,
    },
}

/// How a process was started: its executable, environment, directory and log file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Start {
    exe: PathBuf,
    env: Vec<(String, String)>,
    cwd: PathBuf,
    log: PathBuf,
}

impl Start {
    fn of(pid: u32, argv: &[String]) -> Start {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        Start {
            exe: std::fs::read_link(format!("/proc/{pid}/exe"))
                .unwrap_or_else(|_| PathBuf::from(argv.first().map_or("dockerd", |a| a.as_str()))),
            env: environ
                .split(|b| *b == 0)
                .filter_map(|kv| {
                    let kv = String::from_utf8_lossy(kv);
                    kv.split_once('=')
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                })
                .collect(),
            cwd: std::fs::read_link(format!("/proc/{pid}/cwd"))
                .unwrap_or_else(|_| PathBuf::from("/")),
            // Its log: where its standard error went, when that is a file.
            log: std::fs::read_link(format!("/proc/{pid}/fd/2"))
                .ok()
                .filter(|p| p.is_file())
                .unwrap_or_else(|| PathBuf::from("/var/log/bulwark-dockerd.log")),
        }
    }
}

/// The systemd unit a `/proc/PID/cgroup` text names, and whether it is a user unit.
fn unit_in(cgroup: &str) -> Option<(String, bool)> {
    let path = cgroup.lines().find_map(|l| {
        l.strip_prefix("0::")
            .or_else(|| l.split("name=systemd:").nth(1))
    })?;
    let unit = path.rsplit('/').find(|c| c.ends_with(".service"))?;
    Some((unit.to_string(), path.contains("/user@")))
}

impl Manager {
    /// How the daemon of `d` runs.
    pub fn of(d: &ev::DaemonSettings) -> Manager {
        let cgroup = std::fs::read_to_string(format!("/proc/{}/cgroup", d.pid)).unwrap_or_default();
        match unit_in(&cgroup) {
            Some((unit, user)) => Manager::Systemd { unit, user },
            None => Manager::Process {
                pid: d.pid,
                argv: d.argv.clone(),
                start: Start::of(d.pid, &d.argv),
            },
        }
    }

    /// The command an operator would run.
    pub fn command(&self) -> String {
        match self {
            Manager::Systemd { unit, user: false } => format!("systemctl restart {unit}"),
            Manager::Systemd { unit, user: true } => format!("systemctl --user restart {unit}"),
            Manager::Process { pid, argv, .. } => format!(
                "stop dockerd (pid {pid}) and start it again: {}",
                argv.join(" ")
            ),
        }
    }

    /// Stop the daemon and start it again; how it runs afterwards (a new process has a new
    /// pid). Then [`wait_for_api`].
    pub fn restart(&self, within: Duration) -> Result<Manager, FixError> {
        match self {
            Manager::Systemd { unit, user } => {
                let mut c = Command::new("systemctl");
                if *user {
                    c.arg("--user");
                }
                let ok = c
                    .args(["restart", unit])
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false);
                if !ok {
                    return Err(FixError::Restart(format!(
                        "systemctl restart {unit} failed"
                    )));
                }
                Ok(self.clone())
            }
            Manager::Process { pid, argv, start } => Ok(Manager::Process {
                pid: respawn(*pid, argv, start, within)?,
                argv: argv.clone(),
                start: start.clone(),
            }),
        }
    }
}

/// Whether a process exists and is not a zombie.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .is_some_and(|zombie| !zombie)
}

/// Stop `pid` and start `argv` again as it was started. The new process's pid.
fn respawn(pid: u32, argv: &[String], start: &Start, within: Duration) -> Result<u32, FixError> {
    if alive(pid) {
        // SAFETY: plain kill(2) of the daemon, which is alive.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    }
    let deadline = Instant::now() + within;
    while alive(pid) {
        if Instant::now() > deadline {
            return Err(FixError::Restart(format!(
                "dockerd (pid {pid}) did not stop"
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    clear_pidfile(pid, argv);
    let open = || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&start.log)
            .map_err(|source| FixError::Io {
                what: "opening the daemon's log",
                path: start.log.display().to_string(),
                source,
            })
    };
    let mut cmd = Command::new(&start.exe);
    cmd.args(argv.get(1..).unwrap_or_default())
        .env_clear()
        .envs(start.env.iter().cloned())
        .current_dir(&start.cwd)
        .stdin(Stdio::null())
        .stdout(open()?)
        .stderr(open()?);
    // SAFETY: setsid is async-signal-safe; the daemon outlives Bulwark, like before.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|source| FixError::Io {
        what: "starting",
        path: start.exe.display().to_string(),
        source,
    })?;
    Ok(child.id())
}

/// Remove the old daemon's pidfile when it still names the process that just stopped:
/// dockerd refuses to start while a pidfile names a process that exists, and an exited
/// daemon whose parent has not reaped it yet still exists.
fn clear_pidfile(pid: u32, argv: &[String]) {
    let on_cli = bulwark_sdk::daemon::parse_argv(argv.get(1..).unwrap_or_default());
    let path = on_cli
        .get("pidfile")
        .and_then(|v| v.last().cloned())
        .unwrap_or_else(|| "/var/run/docker.pid".to_string());
    let names_old = std::fs::read_to_string(&path)
        .ok()
        .is_some_and(|p| p.trim() == pid.to_string());
    if names_old {
        let _ = std::fs::remove_file(&path);
    }
}

/// Restart the daemon and wait for its API; if it does not come back, restore backup
/// `backup` from `backup_dir` and start the daemon again with the files as they were.
pub async fn restart_or_restore(
    manager: &Manager,
    endpoint: &str,
    within: Duration,
    backup_dir: &std::path::Path,
    backup: &str,
) -> Result<(), FixError> {
    let now = manager.restart(within)?;
    let Err(e) = wait_for_api(endpoint, within).await else {
        return Ok(());
    };
    tracing::warn!("the daemon did not come back; restoring backup {backup}");
    let files_restored = match super::apply::rollback(backup_dir, Some(backup)) {
        Ok(_) => true,
        Err(r) => {
            tracing::error!(
                "restoring backup {backup}: {}",
                crate::text::error_chain(&r)
            );
            false
        }
    };
    let back = match now.restart(within) {
        Ok(_) => wait_for_api(endpoint, within).await.is_ok(),
        Err(r) => {
            tracing::error!(
                "starting the daemon again: {}",
                crate::text::error_chain(&r)
            );
            false
        }
    };
    Err(FixError::NotBack {
        backup: backup.to_string(),
        files_restored,
        back,
        source: Box::new(e),
    })
}

/// Wait until the daemon at `endpoint` answers.
pub async fn wait_for_api(endpoint: &str, within: Duration) -> Result<(), FixError> {
    let deadline = Instant::now() + within;
    loop {
        let client = crate::docker::Client::new(Some(endpoint.to_string()));
        if client.docker().await.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(FixError::Restart(format!(
                "the daemon did not answer at {endpoint} within {} s",
                within.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_come_from_the_cgroup() {
        assert_eq!(
            unit_in("0::/system.slice/docker.service\n"),
            Some(("docker.service".to_string(), false))
        );
        assert_eq!(
            unit_in("0::/user.slice/user-1000.slice/user@1000.service/app.slice/docker.service\n"),
            Some(("docker.service".to_string(), true))
        );
        assert_eq!(unit_in("12:memory:/docker/abc\n0::/\n"), None);
        assert_eq!(
            unit_in("1:name=systemd:/system.slice/docker.service\n"),
            Some(("docker.service".to_string(), false))
        );
    }
}
