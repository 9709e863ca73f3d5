//! Writing a file so that readers see the old bytes or the new, never a
//! mix, and a crash at any instant leaves one or the other: the tune
//! drop-ins, the tune record, the calibration.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The temporary file [`write_with_mode`] writes `path`'s new bytes to
/// before renaming it onto `path`: `.NAME.c1m-tmp` in the same directory
/// (a rename(2) is atomic only within one file system). A process killed
/// between the two leaves it behind; `tune --revert` removes it.
pub(crate) fn tmp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.c1m-tmp"))
}

/// Writes `bytes` to `path` atomically, creating the directory if needed;
/// the file gets mode 0644. See [`write_with_mode`].
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_with_mode(path, bytes, 0o644, None, &mut || {})
}

/// Writes `bytes` to `path` through [`tmp_path`] and a rename(2): the
/// temporary file gets permission bits `mode` and, when given, the owner
/// `(uid, gid)` (a rename keeps both), and is flushed to disk (fsync(2));
/// then `written` runs (a crash test may stop the process there); then
/// the rename, and an fsync of the directory so that the rename itself
/// survives a power cut. Creates the directory if needed.
///
/// Errors are the `io::Error` of the step that failed; the temporary file
/// is removed then.
pub(crate) fn write_with_mode(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
    written: &mut dyn FnMut(),
) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir)?;
    let tmp = tmp_path(path);
    let result = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::fchown(&file, Some(uid), Some(gid))?;
        }
        file.sync_all()?;
        written();
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    sync_dir(dir)
}

/// Flushes a directory's entries to disk (fsync(2) of the directory), so
/// that a rename, creation or removal in it survives a power cut.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn the_temporary_file_is_beside_the_target_and_gone_after() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/90-c1m.conf");
        assert_eq!(tmp_path(&path), dir.path().join("sub/.90-c1m.conf.c1m-tmp"));
        let mut seen = None;
        write_with_mode(&path, b"new\n", 0o600, None, &mut || {
            // Between the two steps: the temporary file holds the new
            // bytes, the target does not exist yet.
            seen = Some((fs::read(tmp_path(&path)).unwrap(), path.exists()));
        })
        .unwrap();
        assert_eq!(seen, Some((b"new\n".to_vec(), false)));
        assert_eq!(fs::read(&path).unwrap(), b"new\n");
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o7777, 0o600);
        assert!(!tmp_path(&path).exists());
    }
}
