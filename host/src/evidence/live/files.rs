//! File metadata, directory listings and (bounded) file contents, with owners by name.

use super::super::EvidenceError;
use super::hostview;
use crate::abi::ev;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// `stat` of a path (following symlinks, as the checks care about what a path leads to).
pub(super) fn file_stat(path: &Path) -> Result<ev::FileInfo, EvidenceError> {
    let shown = path.display().to_string();
    let md = std::fs::metadata(hostview::locate(path)?).map_err(|e| io_error(shown.clone(), e))?;
    let ft = md.file_type();
    let kind = if ft.is_file() {
        ev::FileKind::File
    } else if ft.is_dir() {
        ev::FileKind::Directory
    } else if ft.is_symlink() {
        ev::FileKind::Symlink
    } else if ft.is_socket() {
        ev::FileKind::Socket
    } else if ft.is_fifo() {
        ev::FileKind::Fifo
    } else if ft.is_block_device() {
        ev::FileKind::BlockDevice
    } else if ft.is_char_device() {
        ev::FileKind::CharDevice
    } else {
        ev::FileKind::Other
    };
    Ok(ev::FileInfo {
        path: shown,
        kind,
        mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
        user: name_of(Path::new("/etc/passwd"), md.uid()),
        group: name_of(Path::new("/etc/group"), md.gid()),
        size: md.len(),
        device: md.dev(),
    })
}

pub(super) fn io_error(shown: String, e: std::io::Error) -> EvidenceError {
    match e.kind() {
        std::io::ErrorKind::NotFound => EvidenceError::NotFound(shown),
        std::io::ErrorKind::PermissionDenied => EvidenceError::Denied(format!("{shown}: {e}")),
        _ => EvidenceError::Unavailable(format!("{shown}: {e}")),
    }
}

pub(super) fn dir_list(path: &Path) -> Result<Vec<String>, EvidenceError> {
    let shown = path.display().to_string();
    let entries =
        std::fs::read_dir(hostview::locate(path)?).map_err(|e| io_error(shown.clone(), e))?;
    let mut names = Vec::new();
    for e in entries {
        let e = e.map_err(|e| io_error(shown.clone(), e))?;
        names.push(e.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

/// Largest file a plugin may read.
const MAX_FILE_READ: u64 = 1 << 20;

pub(super) fn file_read(path: &Path) -> Result<Vec<u8>, EvidenceError> {
    use std::io::Read;
    let shown = path.display().to_string();
    let f = std::fs::File::open(hostview::locate(path)?).map_err(|e| io_error(shown.clone(), e))?;
    let meta = f.metadata().map_err(|e| io_error(shown.clone(), e))?;
    if !meta.is_file() {
        return Err(EvidenceError::Unavailable(format!(
            "{shown} is not a regular file"
        )));
    }
    let mut buf = Vec::new();
    f.take(MAX_FILE_READ + 1)
        .read_to_end(&mut buf)
        .map_err(|e| io_error(shown.clone(), e))?;
    if buf.len() as u64 > MAX_FILE_READ {
        return Err(EvidenceError::Unavailable(format!(
            "{shown} is larger than {MAX_FILE_READ} bytes"
        )));
    }
    Ok(buf)
}

/// The name of a group id on this host (from /etc/group).
pub fn group_name(gid: u32) -> Option<String> {
    name_of(Path::new("/etc/group"), gid)
}

/// Look an id up in a passwd/group-format file.
fn name_of(db: &Path, id: u32) -> Option<String> {
    let text = std::fs::read_to_string(hostview::locate(db).ok()?).ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let _pw = f.next()?;
        (f.next()?.parse::<u32>().ok()? == id).then(|| name.to_string())
    })
}
