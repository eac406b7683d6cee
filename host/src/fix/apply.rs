//! `fix --apply` and `fix --rollback`: the host-side parts of a plan (daemon.json, file
//! owners and modes, the audit rules file) applied after a backup of every file they touch,
//! and restored byte for byte (content, owner, mode) when a step fails or on request.
//!
//! A backup is a directory `<root>/<id>/` (root `/var/lib/bulwark/fix` unless told
//! otherwise, mode 0700) with a copy of each file and `manifest.json` saying where each came
//! from, whether it existed, and its owner and mode.

use super::{FixError, Plan};
use serde::{Deserialize, Serialize};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Where audit rules for Docker go (read by `augenrules`).
pub const AUDIT_RULES_FILE: &str = "/etc/audit/rules.d/docker.rules";
/// Where backups go unless told otherwise.
pub const BACKUP_ROOT: &str = "/var/lib/bulwark/fix";

/// One file as it was before the change.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    pub path: String,
    pub existed: bool,
    /// Its copy's name in the backup directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy: Option<String>,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// What a backup holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub id: String,
    /// Unix time it was made.
    pub created: u64,
    /// What was changed, in words.
    pub changes: Vec<String>,
    pub files: Vec<Saved>,
}

/// A backup made and the changes applied after it.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub backup: String,
    pub dir: PathBuf,
    pub changes: Vec<String>,
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> FixError {
    let path = path.display().to_string();
    move |source| FixError::Io { what, path, source }
}

/// One change to a file.
enum Op {
    /// Replace its content (a new file gets root:root and this mode).
    Write {
        path: PathBuf,
        content: Vec<u8>,
        new_mode: u32,
    },
    Chown {
        path: PathBuf,
        owner: String,
    },
    Chmod {
        path: PathBuf,
        mode: u32,
    },
    /// Add these lines (if not there yet).
    Append {
        path: PathBuf,
        lines: Vec<String>,
    },
}

impl Op {
    fn path(&self) -> &Path {
        match self {
            Op::Write { path, .. }
            | Op::Chown { path, .. }
            | Op::Chmod { path, .. }
            | Op::Append { path, .. } => path,
        }
    }

    fn describe(&self) -> String {
        match self {
            Op::Write { path, .. } => format!("wrote {}", path.display()),
            Op::Chown { path, owner } => format!("chown {owner} {}", path.display()),
            Op::Chmod { path, mode } => format!("chmod {mode:o} {}", path.display()),
            Op::Append { path, lines } => {
                format!("added {} line(s) to {}", lines.len(), path.display())
            }
        }
    }

    fn run(&self) -> Result<(), FixError> {
        match self {
            Op::Write {
                path,
                content,
                new_mode,
            } => write_atomic(path, content, *new_mode),
            Op::Chown { path, owner } => {
                let (uid, gid) = resolve_owner(owner)?;
                std::os::unix::fs::chown(path, Some(uid), Some(gid))
                    .map_err(io("changing the owner of", path))
            }
            Op::Chmod { path, mode } => {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(*mode))
                    .map_err(io("changing the mode of", path))
            }
            Op::Append { path, lines } => {
                let current = std::fs::read_to_string(path).unwrap_or_default();
                let mut text = current.clone();
                if !text.is_empty() && !text.ends_with('\n') {
                    text.push('\n');
                }
                for l in lines
                    .iter()
                    .filter(|l| !current.lines().any(|c| c.trim() == l.trim()))
                {
                    text.push_str(l);
                    text.push('\n');
                }
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
                }
                write_atomic(path, text.as_bytes(), 0o640)
            }
        }
    }
}

/// Replace `path`'s content through a temporary file beside it and a rename, keeping its
/// owner and mode (a new file: root, `new_mode`).
fn write_atomic(path: &Path, content: &[u8], new_mode: u32) -> Result<(), FixError> {
    let meta = std::fs::metadata(path).ok();
    let tmp = path.with_file_name(format!(
        ".{}.bulwark-tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    std::fs::write(&tmp, content).map_err(io("writing", &tmp))?;
    let (mode, uid, gid) = meta.map_or((new_mode, 0, 0), |m| (m.mode() & 0o7777, m.uid(), m.gid()));
    let finish = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
        .and_then(|_| std::os::unix::fs::chown(&tmp, Some(uid), Some(gid)))
        .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
        .and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = finish {
        let _ = std::fs::remove_file(&tmp);
        return Err(io("writing", path)(e));
    }
    Ok(())
}

/// A `user:group` from /etc/passwd and /etc/group.
fn resolve_owner(owner: &str) -> Result<(u32, u32), FixError> {
    let (user, group) = owner.split_once(':').unwrap_or((owner, owner));
    let find = |file: &str, name: &str| -> Option<u32> {
        std::fs::read_to_string(file).ok()?.lines().find_map(|l| {
            let mut f = l.split(':');
            (f.next() == Some(name))
                .then(|| f.nth(1)?.parse().ok())
                .flatten()
        })
    };
    let uid = find("/etc/passwd", user);
    let gid = find("/etc/group", group);
    uid.zip(gid)
        .ok_or_else(|| FixError::Restart(format!("no user or group {owner:?} on this host")))
}

/// The host-side changes of `plan`, in order: daemon.json, owners and modes, audit rules.
fn operations(plan: &Plan) -> Vec<Op> {
    let mut ops = Vec::new();
    if let Some(d) = plan.daemon.as_ref().filter(|d| !d.changes.is_empty()) {
        ops.push(Op::Write {
            path: PathBuf::from(&d.config_file),
            content: d.proposed.clone().into_bytes(),
            new_mode: 0o644,
        });
    }
    for f in &plan.files {
        let path = PathBuf::from(&f.path);
        if let Some(owner) = &f.owner {
            ops.push(Op::Chown {
                path: path.clone(),
                owner: owner.clone(),
            });
        }
        if let Some(mode) = f.mode {
            ops.push(Op::Chmod { path, mode });
        }
    }
    if let Some(a) = plan.audit_rules.as_ref().filter(|a| !a.rules.is_empty()) {
        ops.push(Op::Append {
            path: PathBuf::from(&a.file),
            lines: a.rules.iter().map(|(_, r)| r.clone()).collect(),
        });
    }
    ops
}

/// A backup being made.
struct Backup {
    dir: PathBuf,
    manifest: Manifest,
}

impl Backup {
    fn create(root: &Path) -> Result<Backup, FixError> {
        std::fs::create_dir_all(root).map_err(io("creating", root))?;
        let now = chrono::Utc::now();
        let mut id = now.format("%Y%m%dT%H%M%SZ").to_string();
        let mut n = 1;
        while root.join(&id).exists() {
            n += 1;
            id = format!("{}-{n}", now.format("%Y%m%dT%H%M%SZ"));
        }
        let dir = root.join(&id);
        std::fs::create_dir(&dir).map_err(io("creating", &dir))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io("securing", &dir))?;
        Ok(Backup {
            dir,
            manifest: Manifest {
                id,
                created: now.timestamp().max(0) as u64,
                changes: Vec::new(),
                files: Vec::new(),
            },
        })
    }

    /// Keep `path` as it is now (once).
    fn save(&mut self, path: &Path) -> Result<(), FixError> {
        let shown = path.display().to_string();
        if self.manifest.files.iter().any(|s| s.path == shown) {
            return Ok(());
        }
        let saved = match std::fs::symlink_metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Saved {
                path: shown,
                existed: false,
                copy: None,
                mode: 0,
                uid: 0,
                gid: 0,
            },
            Err(e) => return Err(io("reading", path)(e)),
            Ok(m) => {
                let copy = format!("{}.orig", self.manifest.files.len());
                std::fs::copy(path, self.dir.join(&copy)).map_err(io("backing up", path))?;
                Saved {
                    path: shown,
                    existed: true,
                    copy: Some(copy),
                    mode: m.mode() & 0o7777,
                    uid: m.uid(),
                    gid: m.gid(),
                }
            }
        };
        self.manifest.files.push(saved);
        Ok(())
    }

    fn write_manifest(&self) -> Result<(), FixError> {
        let path = self.dir.join("manifest.json");
        let text =
            serde_json::to_vec_pretty(&self.manifest).map_err(|source| FixError::Manifest {
                path: path.display().to_string(),
                source,
            })?;
        std::fs::write(&path, text).map_err(io("writing", &path))
    }
}

/// Restore every file of `manifest` (in `dir`) as it was: content, owner, mode; files that
/// did not exist are removed. Returns what was restored.
fn restore(dir: &Path, manifest: &Manifest) -> Result<Vec<String>, FixError> {
    let mut done = Vec::new();
    for s in manifest.files.iter().rev() {
        let path = Path::new(&s.path);
        match (&s.copy, s.existed) {
            (Some(copy), true) => {
                let content =
                    std::fs::read(dir.join(copy)).map_err(io("reading the backup of", path))?;
                // A file already as it was is left alone (a step that failed before writing
                // it, or one on a read-only file system, needs no restoring).
                let unchanged = std::fs::metadata(path).is_ok_and(|m| {
                    m.mode() & 0o7777 == s.mode && m.uid() == s.uid && m.gid() == s.gid
                }) && std::fs::read(path).is_ok_and(|now| now == content);
                if unchanged {
                    continue;
                }
                write_atomic(path, &content, s.mode)?;
                std::os::unix::fs::chown(path, Some(s.uid), Some(s.gid))
                    .map_err(io("restoring the owner of", path))?;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(s.mode))
                    .map_err(io("restoring the mode of", path))?;
                done.push(format!("restored {}", s.path));
            }
            _ => match std::fs::remove_file(path) {
                Ok(()) => done.push(format!("removed {} (it did not exist before)", s.path)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io("removing", path)(e)),
            },
        }
    }
    Ok(done)
}

/// Apply the host-side parts of `plan` after backing up every file they touch under
/// `root`. A daemon.json that is not valid JSON was refused when the plan was made. On any
/// failure everything done is undone and the error says what failed.
pub fn apply(plan: &Plan, root: &Path) -> Result<Option<Applied>, FixError> {
    let ops = operations(plan);
    if ops.is_empty() {
        return Ok(None);
    }
    let mut backup = Backup::create(root)?;
    for op in &ops {
        backup.save(op.path())?;
    }
    backup.manifest.changes = ops.iter().map(Op::describe).collect();
    backup.write_manifest()?;
    for op in &ops {
        if let Err(e) = op.run() {
            // Put back what was changed before this step, whatever it was.
            if let Err(r) = restore(&backup.dir, &backup.manifest) {
                tracing::error!(
                    "restoring after a failed fix: {}",
                    crate::text::error_chain(&r)
                );
            }
            return Err(e);
        }
    }
    Ok(Some(Applied {
        backup: backup.manifest.id.clone(),
        dir: backup.dir.clone(),
        changes: backup.manifest.changes.clone(),
    }))
}

/// The backups under `root`, oldest first.
pub fn backups(root: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("manifest.json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ids.sort();
    ids
}

/// Restore backup `id` (the newest when `None`) under `root`.
pub fn rollback(root: &Path, id: Option<&str>) -> Result<(Manifest, Vec<String>), FixError> {
    let all = backups(root);
    let id = match id {
        Some(i) => all
            .iter()
            .find(|b| *b == i)
            .cloned()
            .ok_or_else(|| FixError::NoBackup(i.to_string(), root.display().to_string()))?,
        None => all
            .last()
            .cloned()
            .ok_or_else(|| FixError::NoBackup("(any)".to_string(), root.display().to_string()))?,
    };
    let dir = root.join(&id);
    let path = dir.join("manifest.json");
    let text = std::fs::read(&path).map_err(io("reading", &path))?;
    let manifest: Manifest =
        serde_json::from_slice(&text).map_err(|source| FixError::Manifest {
            path: path.display().to_string(),
            source,
        })?;
    let done = restore(&dir, &manifest)?;
    Ok((manifest, done))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_step_undoes_the_ones_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.json");
        std::fs::write(&a, b"{\"icc\": true}\n").unwrap();
        std::fs::set_permissions(&a, std::fs::Permissions::from_mode(0o666)).unwrap();
        let ops = vec![
            Op::Write {
                path: a.clone(),
                content: b"{}\n".to_vec(),
                new_mode: 0o644,
            },
            Op::Chmod {
                path: a.clone(),
                mode: 0o644,
            },
            // Fails: no such file.
            Op::Chmod {
                path: dir.path().join("missing/x"),
                mode: 0o600,
            },
        ];
        let mut b = Backup::create(&dir.path().join("backups")).unwrap();
        for op in &ops {
            b.save(op.path()).unwrap();
        }
        b.write_manifest().unwrap();
        let failed = ops.iter().map(Op::run).find_map(Result::err);
        assert!(failed.is_some());
        restore(&b.dir, &b.manifest).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"{\"icc\": true}\n");
        assert_eq!(std::fs::metadata(&a).unwrap().mode() & 0o777, 0o666);
        // And the same backup rolls back by id.
        std::fs::write(&a, b"changed").unwrap();
        let (m, done) = rollback(&dir.path().join("backups"), None).unwrap();
        assert_eq!(m.id, b.manifest.id);
        assert!(done.iter().any(|d| d.contains("a.json")), "{done:?}");
        assert_eq!(std::fs::read(&a).unwrap(), b"{\"icc\": true}\n");
        assert!(rollback(&dir.path().join("backups"), Some("nope")).is_err());
    }
}
