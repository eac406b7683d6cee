//! Which engine is audited — Docker or Podman, as root or rootless — and where that engine
//! keeps its files, so a check judges the files the engine really uses and says SKIP, with
//! the reason, for what the engine does not have.

use crate::{Ctx, Finding, QueryError};

/// The program behind the Engine API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Docker,
    /// `podman system service` (Docker-compatible API).
    Podman,
}

/// The audited engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Engine {
    pub kind: Kind,
    /// Runs as an unprivileged user.
    pub rootless: bool,
}

impl Engine {
    pub fn is_podman(&self) -> bool {
        self.kind == Kind::Podman
    }

    /// "Podman", "rootless Docker", "Docker".
    pub fn name(&self) -> &'static str {
        match (self.kind, self.rootless) {
            (Kind::Docker, false) => "Docker",
            (Kind::Docker, true) => "rootless Docker",
            (Kind::Podman, false) => "Podman",
            (Kind::Podman, true) => "rootless Podman",
        }
    }
}

impl Ctx {
    /// The audited engine, from what its API says of itself: Podman names itself among
    /// the version's components, and a rootless engine lists `name=rootless` among its
    /// security options (Podman also sets `Rootless`).
    pub fn engine(&mut self) -> Result<Engine, QueryError> {
        let version = self.version()?;
        let podman = version.components.iter().any(|c| c.name.contains("Podman"));
        let info = self.info()?;
        let mut rootless = info.rootless || info.security_option("rootless").is_some();
        if podman && !rootless {
            // Podman's `Rootless` field does not survive the host's typed Engine API
            // client; the user its service runs as does, where this plugin may read it.
            if let Ok(d) = self.daemon() {
                rootless = self.process(d.pid).is_ok_and(|p| p.uid_effective != 0);
            }
        }
        Ok(Engine {
            kind: if podman { Kind::Podman } else { Kind::Docker },
            rootless,
        })
    }

    /// `Some(SKIP)` when the engine is Podman, with `why` Podman lacks the thing checked.
    pub fn skip_on_podman(&mut self, why: &str) -> Result<Option<Finding>, QueryError> {
        Ok(self
            .engine()?
            .is_podman()
            .then(|| Finding::skipped(format!("Podman: {why}"))))
    }
}

/// Who should own the engine's files: root, or the user a rootless engine runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
    /// "root", or the rootless user's uid as text when no name is known.
    pub label: String,
}

impl Owner {
    pub fn root() -> Self {
        Owner {
            uid: 0,
            gid: 0,
            label: "root".to_string(),
        }
    }

    pub fn is_root(&self) -> bool {
        self.uid == 0
    }
}

/// Where the audited engine keeps its files.
#[derive(Debug, Clone)]
pub struct Layout {
    pub engine: Engine,
    /// Owner of the engine's configuration (root for a root engine).
    pub owner: Owner,
    /// `/etc/docker`, `~/.config/docker`, `/etc/containers`, `~/.config/containers`.
    pub config_dir: String,
    /// Where its systemd units are looked for, in systemd's order.
    pub unit_dirs: Vec<String>,
    /// `docker` or `podman` (units are `NAME.service`, `NAME.socket`).
    pub unit_name: &'static str,
    /// Its data root (`/var/lib/docker`, `~/.local/share/docker`,
    /// `/var/lib/containers/storage`), as its API reports it.
    pub data_root: String,
    /// A rootless engine's runtime directory (`$XDG_RUNTIME_DIR`), where its socket is.
    pub runtime_dir: Option<String>,
    /// The user's home, for a rootless engine.
    pub home: Option<String>,
}

impl Layout {
    /// The layout of the audited engine. A root engine's needs only its API; a rootless
    /// one's needs the daemon's process (its user and the configuration file it reads).
    pub fn of(ctx: &mut Ctx) -> Result<Self, QueryError> {
        let engine = ctx.engine()?;
        let data_root = ctx.info()?.docker_root_dir.clone();
        let unit_name = if engine.is_podman() {
            "podman"
        } else {
            "docker"
        };
        if !engine.rootless {
            let config_dir = if engine.is_podman() {
                "/etc/containers"
            } else {
                "/etc/docker"
            };
            return Ok(Layout {
                engine,
                owner: Owner::root(),
                config_dir: config_dir.to_string(),
                unit_dirs: crate::locate::UNIT_DIRS
                    .iter()
                    .map(|d| d.to_string())
                    .collect(),
                unit_name,
                data_root,
                runtime_dir: None,
                home: None,
            });
        }
        let daemon = ctx.daemon()?;
        let process = ctx.process(daemon.pid)?;
        let owner = Owner {
            uid: process.uid_real,
            gid: process.gid_real,
            label: process.uid_real.to_string(),
        };
        // The configuration file is `$XDG_CONFIG_HOME/{docker,containers}/...`: its
        // directory is the engine's, and the one above it the user's configuration home.
        let config_dir = parent(&daemon.config_file);
        let config_home = parent(&config_dir);
        let home = config_home
            .strip_suffix("/.config")
            .map(str::to_string)
            .filter(|h| !h.is_empty());
        let runtime_dir = daemon
            .endpoint
            .strip_prefix("unix://")
            .map(|s| match unit_name {
                // $XDG_RUNTIME_DIR/podman/podman.sock
                "podman" => parent(&parent(s)),
                _ => parent(s),
            });
        Ok(Layout {
            engine,
            owner,
            config_dir,
            // systemd --user's search path: the user's own units first.
            unit_dirs: vec![
                format!("{config_home}/systemd/user"),
                "/etc/systemd/user".to_string(),
                "/usr/lib/systemd/user".to_string(),
            ],
            unit_name,
            data_root,
            runtime_dir,
            home,
        })
    }

    /// `NAME.service` / `NAME.socket` of the engine as systemd would find it.
    pub fn unit_file(&self, ctx: &mut Ctx, suffix: &str) -> Result<Option<String>, QueryError> {
        let name = format!("{}.{suffix}", self.unit_name);
        for d in &self.unit_dirs {
            let p = format!("{d}/{name}");
            if crate::locate::stat(ctx, &p)?.is_some() {
                return Ok(Some(p));
            }
        }
        Ok(None)
    }

    /// Registry certificate directories the engine reads (Podman also reads Docker's).
    pub fn certs_dirs(&self) -> Vec<String> {
        match (self.engine.kind, self.engine.rootless) {
            (Kind::Docker, _) => vec![format!("{}/certs.d", self.config_dir)],
            (Kind::Podman, false) => vec![
                "/etc/containers/certs.d".to_string(),
                "/etc/docker/certs.d".to_string(),
            ],
            (Kind::Podman, true) => vec![
                format!("{}/certs.d", self.config_dir),
                "/etc/containers/certs.d".to_string(),
                "/etc/docker/certs.d".to_string(),
            ],
        }
    }
}

/// The directory part of a path ("/" for a top-level name).
fn parent(path: &str) -> String {
    match path.trim_end_matches('/').rsplit_once('/') {
        Some(("", _)) | None => "/".to_string(),
        Some((dir, _)) => dir.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::parent;

    #[test]
    fn parents() {
        assert_eq!(
            parent("/home/u/.config/docker/daemon.json"),
            "/home/u/.config/docker"
        );
        assert_eq!(parent("/home/u/.config/docker"), "/home/u/.config");
        assert_eq!(parent("/x"), "/");
    }
}
