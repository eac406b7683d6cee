//! Where the host's files are seen from. Run natively, a host path is read where it is.
//! Run inside a container (Bulwark's image, started as Docker Bench's is, with `-v
//! /etc:/etc:ro -v /var/lib:/var/lib:ro ...`), only the host directories bound into it
//! at the same path show the host: a path outside them is "not visible from the
//! container" — UNDECIDED with the mount that would show it — never "absent", and a
//! symlink inside a bound directory is followed by the host's meaning of its target (an
//! absolute target leaves the bound directory, and may leave what is visible).

use super::super::EvidenceError;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

/// How this process sees the host's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    /// On the host: every path is itself.
    Native,
    /// In a container: the host directories (and files) bound into it at their own path.
    Container(Binds),
}

/// The host paths a container shows, and its own id when it can be told.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Binds {
    /// Bound host paths (mount points), longest first.
    pub visible: Vec<PathBuf>,
    /// Mounts that are not the host's at that path: the engine's per-container files
    /// (`/etc/hostname`, `/etc/hosts`, `/etc/resolv.conf`), volumes, tmpfs, secrets. What
    /// is under one of them (and under no deeper bind) is not visible.
    pub shadowed: Vec<PathBuf>,
    /// PID 1 is the host's (`--pid host`): its mount table and network namespace are the
    /// host's.
    pub host_pid: bool,
    /// The container's own id (from the engine's per-container files it has mounted).
    pub own_id: Option<String>,
    /// The host's /bin, /sbin, /lib and /lib64 are links into /usr (merged /usr), as the
    /// host's package database says (Debian's `usr-is-merged` marker package).
    pub merged_usr: bool,
}

/// Where a bound `/var/lib` shows that the host's /usr is merged: Debian 12 and later
/// (and Ubuntu) require the `usr-is-merged` package, which only a merged system can have.
const MERGED_USR_MARKER: &str = "/var/lib/dpkg/info/usr-is-merged.list";

/// This process's view, worked out once.
pub fn view() -> &'static View {
    static VIEW: OnceLock<View> = OnceLock::new();
    VIEW.get_or_init(|| {
        let own = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let init = std::fs::read_to_string("/proc/1/mountinfo").unwrap_or_default();
        let mut view = detect(&own, &init);
        if let View::Container(b) = &mut view {
            b.merged_usr = resolve(b, Path::new(MERGED_USR_MARKER), |p| std::fs::read_link(p))
                .is_ok_and(|p| p.exists());
        }
        view
    })
}

/// The container this process runs in, when it runs in one and its id can be told.
pub fn own_container() -> Option<&'static str> {
    match view() {
        View::Container(b) => b.own_id.as_deref(),
        View::Native => None,
    }
}

/// The view from the mount tables of this process and of PID 1: in a container when the
/// root is not PID 1's (with `--pid host`), or when the engine's per-container files are
/// mounted over `/etc` (Docker and Podman always do). Not by `/.dockerenv`: machines
/// built from container images keep it (this project's CI VM does).
pub fn detect(own_mountinfo: &str, init_mountinfo: &str) -> View {
    let own = mounts(own_mountinfo);
    let root_of = |m: &[Mount]| {
        m.iter()
            .rev()
            .find(|m| m.point == Path::new("/"))
            .map(|m| (m.device.clone(), m.root.clone()))
    };
    let init = mounts(init_mountinfo);
    // A table that cannot be read (hidepid) says nothing: not "moved".
    let moved = match (root_of(&own), root_of(&init)) {
        (Some(a), Some(b)) => a != b,
        _ => false,
    };
    let engine_files = own
        .iter()
        .any(|m| ENGINE_FILES.iter().any(|f| m.point == Path::new(f)));
    if !(moved || engine_files) {
        return View::Native;
    }
    let mut own_id = None;
    let mut visible = Vec::new();
    let mut shadowed = Vec::new();
    for m in &own {
        let p = &m.point;
        let engine_file = ENGINE_FILES.iter().any(|f| p == Path::new(f));
        if engine_file {
            // The engine's per-container copies shadow the host's; their source names
            // the container (`.../containers/<id>/hostname`).
            own_id = own_id.or_else(|| {
                super::procfs::container_ids_in(&m.root.to_string_lossy())
                    .into_iter()
                    .next()
            });
            shadowed.push(p.clone());
            continue;
        }
        let private = p == Path::new("/")
            || ["/proc", "/sys", "/dev"].iter().any(|d| p.starts_with(d))
            || m.fstype == "overlay";
        if private {
            continue;
        }
        let hosts = is_host_bind(m, moved.then_some(init.as_slice()));
        match hosts {
            true => visible.push(p.clone()),
            false => shadowed.push(p.clone()),
        }
    }
    // The cgroup names this container when the cgroup namespace shows it (v1, or v2 with
    // the host's): it wins over the engine files' source, which `--network container:X`
    // makes X's.
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    if let Some(id) = cgroup
        .lines()
        .flat_map(super::procfs::container_ids_in)
        .next()
    {
        own_id = Some(id);
    }
    visible.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    visible.dedup();
    View::Container(Binds {
        visible,
        shadowed,
        host_pid: moved,
        own_id,
        merged_usr: false,
    })
}

/// Whether a container's mount shows the host at its own path. With the host's mount
/// table (`--pid host`), where it puts the mount's source says so; without it, a fresh
/// tmpfs, a volume or a pod's files are taken as not the host's.
fn is_host_bind(m: &Mount, host: Option<&[Mount]>) -> bool {
    match host {
        Some(host) => host_path_of(m, host).is_some_and(|h| same_place(&h, &m.point)),
        None => {
            let root = m.root.to_string_lossy();
            !((m.fstype == "tmpfs" && root == "/")
                || root.contains("/_data")
                || root.contains("kubernetes.io~")
                || root.contains("/containers/"))
        }
    }
}

/// Where a mount's source is on the host: the host's mount of the same device whose root
/// holds the mount's root, plus the rest of the path.
fn host_path_of(m: &Mount, host: &[Mount]) -> Option<PathBuf> {
    host.iter()
        .filter(|h| h.device == m.device && m.root.starts_with(&h.root))
        .max_by_key(|h| h.root.as_os_str().len())
        .and_then(|h| Some(h.point.join(m.root.strip_prefix(&h.root).ok()?)))
}

/// Whether two host paths name the same place.
fn same_place(a: &Path, b: &Path) -> bool {
    run_alias(a) == run_alias(b)
}

/// A host path with `/var/run` as `/run`: one directory on every current host, though a
/// container (whose `/var/run` is its own) cannot follow the host's link.
pub fn run_alias(p: &Path) -> PathBuf {
    match p.strip_prefix("/var/run") {
        Ok(rest) => Path::new("/run").join(rest),
        Err(_) => p.to_path_buf(),
    }
}

/// The files a container engine mounts over the image's (per-container copies).
const ENGINE_FILES: [&str; 3] = ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"];

/// One line of a mountinfo table: what matters here.
struct Mount {
    device: String,
    root: PathBuf,
    point: PathBuf,
    fstype: String,
}

fn mounts(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let f: Vec<&str> = left.split(' ').collect();
            Some(Mount {
                device: f.get(2)?.to_string(),
                root: PathBuf::from(unescape(f.get(3)?)),
                point: PathBuf::from(unescape(f.get(4)?)),
                fstype: right.split(' ').next()?.to_string(),
            })
        })
        .collect()
}

/// mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = u16::from(b[i + 1] - b'0') * 64
                + u16::from(b[i + 2] - b'0') * 8
                + u16::from(b[i + 3] - b'0');
            out.push(u8::try_from(v).unwrap_or(b'?'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where to read host path `path` from here: itself natively; in a container, the same
/// path when a bound host directory shows it (symlinks followed the way the host would),
/// else an error saying it cannot be seen.
pub fn locate(path: &Path) -> Result<PathBuf, EvidenceError> {
    match view() {
        View::Native => Ok(path.to_path_buf()),
        View::Container(b) => resolve(b, path, |p| std::fs::read_link(p)),
    }
}

/// [`locate`] against a list of bound paths, with `read_link` for symlinks (a test seam).
pub fn resolve(
    binds: &Binds,
    path: &Path,
    read_link: impl Fn(&Path) -> std::io::Result<PathBuf>,
) -> Result<PathBuf, EvidenceError> {
    let mut current = normalize(path);
    for _ in 0..40 {
        // The deepest mount that holds the path decides: a bind of the host, or not.
        let bind = binds.visible.iter().find(|b| current.starts_with(b));
        let shadow = binds
            .shadowed
            .iter()
            .filter(|s| current.starts_with(s))
            .map(|s| s.as_os_str().len())
            .max();
        let deeper_shadow = shadow.is_some_and(|s| bind.is_none_or(|b| s >= b.as_os_str().len()));
        let Some(bind) = bind.filter(|_| !deeper_shadow) else {
            // On a merged-/usr host, /lib/x is /usr/lib/x: the same file, which a bound
            // /usr/lib may show.
            match usr_alias(&current).filter(|_| binds.merged_usr) {
                Some(alias) => {
                    current = alias;
                    continue;
                }
                None => return Err(not_visible(path, &current)),
            }
        };
        // Walk the components below the bind: a symlink among them is resolved as the
        // host would, and the result checked again.
        let mut walked = bind.clone();
        let rest: Vec<Component> = current
            .strip_prefix(bind)
            .map(|r| r.components().collect())
            .unwrap_or_default();
        let mut redirected = None;
        for (i, c) in rest.iter().enumerate() {
            walked.push(c);
            if let Ok(target) = read_link(&walked) {
                let base = walked.parent().map(Path::to_path_buf).unwrap_or_default();
                let mut next = if target.is_absolute() {
                    target
                } else {
                    base.join(target)
                };
                for r in &rest[i + 1..] {
                    next.push(r);
                }
                redirected = Some(normalize(&next));
                break;
            }
        }
        match redirected {
            Some(next) => current = next,
            None => return Ok(current),
        }
    }
    Err(EvidenceError::Unavailable(format!(
        "{}: too many levels of symbolic links",
        path.display()
    )))
}

/// `/usr/X/...` for a path under one of the top-level directories merged /usr links there.
fn usr_alias(p: &Path) -> Option<PathBuf> {
    let mut parts = p.components();
    let (Some(Component::RootDir), Some(Component::Normal(top))) = (parts.next(), parts.next())
    else {
        return None;
    };
    ["bin", "sbin", "lib", "lib32", "lib64", "libx32"]
        .contains(&top.to_str()?)
        .then(|| Path::new("/usr").join(top).join(parts.as_path()))
}

fn not_visible(asked: &Path, at: &Path) -> EvidenceError {
    let via = if asked == at {
        String::new()
    } else {
        format!(" (it leads to {})", at.display())
    };
    if at == Path::new("/") {
        return EvidenceError::Unavailable(format!(
            "{}{via}: the host's root filesystem is not visible from the container Bulwark runs in",
            asked.display()
        ));
    }
    EvidenceError::Unavailable(format!(
        "{}{via} is not visible from the container Bulwark runs in; mount it read-only at the same path (-v {}:{}:ro)",
        asked.display(),
        top_dir(at).display(),
        top_dir(at).display()
    ))
}

/// The first two components of a path (`/usr/bin` of `/usr/bin/dockerd`): what to mount.
fn top_dir(p: &Path) -> PathBuf {
    p.components().take(3).collect()
}

/// `.` and `..` taken out lexically (the host's `..` of a bound path is its parent there).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: &str = "\
1271 1203 0:95 / / rw,relatime master:1 - overlay overlay rw,lowerdir=/x
1272 1271 0:98 / /proc rw,nosuid - proc proc rw
1273 1271 0:99 / /dev rw,nosuid - tmpfs tmpfs rw
1280 1271 8:1 /etc /etc ro,relatime - ext4 /dev/sda1 rw
1281 1271 8:1 /usr/lib/systemd /usr/lib/systemd ro,relatime - ext4 /dev/sda1 rw
1282 1271 8:1 /var/lib /var/lib ro,relatime - ext4 /dev/sda1 rw
1283 1271 0:25 /docker.sock /var/run/docker.sock ro - tmpfs tmpfs rw
1284 1280 8:1 /var/lib/docker/containers/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef/hostname /etc/hostname rw - ext4 /dev/sda1 rw
1290 1272 0:98 /bus /proc/bus ro - proc proc rw
1291 1271 0:120 / /run/secrets rw - tmpfs tmpfs rw
1292 1271 8:1 /var/lib/docker/volumes/x/_data /data rw - ext4 /dev/sda1 rw
1293 1280 0:121 / /etc/private rw - tmpfs tmpfs rw
";
    const INIT: &str = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
23 22 0:25 / /run rw,nosuid - tmpfs tmpfs rw
";

    fn binds() -> Binds {
        match detect(OWN, INIT) {
            View::Container(b) => b,
            View::Native => panic!("a moved root is a container"),
        }
    }

    #[test]
    fn a_container_sees_only_its_binds_and_knows_its_id() {
        let b = binds();
        let shown: Vec<&str> = b.visible.iter().filter_map(|p| p.to_str()).collect();
        assert_eq!(
            shown,
            [
                "/var/run/docker.sock",
                "/usr/lib/systemd",
                "/var/lib",
                "/etc"
            ]
        );
        assert_eq!(
            b.own_id.as_deref(),
            Some("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
        );
        assert!(b.host_pid);
        assert_eq!(detect(INIT, INIT), View::Native);
        // PID 1's table unreadable (hidepid): nothing says "moved".
        assert_eq!(detect(INIT, ""), View::Native);
        // Without --pid host PID 1 is the container's own: its engine files still tell.
        assert!(matches!(detect(OWN, OWN), View::Container(_)));
    }

    #[test]
    fn paths_outside_the_binds_are_not_visible_and_symlinks_follow_the_host() {
        let b = binds();
        let links = |p: &Path| match p.to_str() {
            Some("/etc/systemd/system/multi-user.target.wants/docker.service") => {
                Ok(PathBuf::from("/lib/systemd/system/docker.service"))
            }
            Some("/etc/alternatives/x") => Ok(PathBuf::from("../docker/daemon.json")),
            _ => Err(std::io::Error::from(std::io::ErrorKind::InvalidInput)),
        };
        let ok = |p: &str| resolve(&b, Path::new(p), links);
        assert_eq!(
            ok("/etc/docker/daemon.json").ok(),
            Some("/etc/docker/daemon.json".into())
        );
        assert_eq!(
            ok("/etc/alternatives/x").ok(),
            Some("/etc/docker/daemon.json".into())
        );
        assert_eq!(
            ok("/usr/lib/systemd/system/docker.service").ok(),
            Some("/usr/lib/systemd/system/docker.service".into())
        );
        for hidden in [
            "/",
            "/usr/bin/dockerd",
            "/run/containerd/containerd.sock",
            "/etc/hostname",
            "/etc/systemd/system/multi-user.target.wants/docker.service",
            "/etc/../usr/bin/runc",
            "/run/secrets/token",
            "/data/file",
            "/etc/private/key",
        ] {
            let e = ok(hidden).expect_err(hidden);
            assert!(
                matches!(&e, EvidenceError::Unavailable(m) if m.contains("not visible from the container")),
                "{hidden}: {e}"
            );
            assert!(!e.to_string().contains("-v /:/"), "{e}");
        }
        // Only a host known to be merged-/usr has /lib as /usr/lib.
        let merged = Binds {
            merged_usr: true,
            ..binds()
        };
        let unit = "/etc/systemd/system/multi-user.target.wants/docker.service";
        assert_eq!(
            resolve(&merged, Path::new(unit), links).ok(),
            Some("/usr/lib/systemd/system/docker.service".into())
        );
        assert!(resolve(&merged, Path::new("/bin/dockerd"), links).is_err());
        assert_eq!(usr_alias(Path::new("/libfoo/x")), None);
    }

    #[test]
    fn escapes_in_mount_points_are_read() {
        assert_eq!(unescape(r"/a\040b"), "/a b");
        assert_eq!(unescape(r"/a\04"), r"/a\04");
    }
}
