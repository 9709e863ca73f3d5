//! One `c1m tune --apply` or `--revert` at a time: both hold an exclusive
//! flock(2) on a lock file while they read and change the machine
//! ([`crate::Roots::lock_path`]). The kernel drops the lock when its
//! holder exits or is killed, so a crashed tune never blocks the next one;
//! the file itself stays (removing a lock file lets two processes lock two
//! different files of one name).
//!
//! A refused tune names the holder: the PID the kernel lists for the lock
//! in `/proc/locks` (proc(5)), else the one the holder wrote into the file.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The kernel's lock table.
const PROC_LOCKS: &str = "/proc/locks";

/// A held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct TuneLock {
    _file: File,
}

/// Why the lock was not taken.
#[derive(Debug)]
pub enum LockError {
    /// Another process holds it.
    Held {
        /// The lock file.
        path: PathBuf,
        /// The holder, when it can be told.
        pid: Option<u32>,
    },
    /// The lock file could not be opened or locked.
    Io(String),
}

/// Takes the lock at `path` without waiting (creating the file, and its
/// directory, if needed), and writes this process's PID into it.
pub fn take(path: &Path) -> Result<TuneLock, LockError> {
    let io_err =
        |what: &str, e: io::Error| LockError::Io(format!("{what} {}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| io_err("creating the directory of", e))?;
    }
    let mut file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .open(path)
        .map_err(|e| io_err("opening", e))?;
    if !c1m_sys::lock::try_exclusive(&file).map_err(|e| io_err("locking", e))? {
        return Err(LockError::Held {
            path: path.to_path_buf(),
            pid: holder(&file),
        });
    }
    file.set_len(0)
        .and_then(|()| file.write_all(format!("{}\n", std::process::id()).as_bytes()))
        .map_err(|e| io_err("writing this process's PID to", e))?;
    Ok(TuneLock { _file: file })
}

/// The PID holding `file`'s lock: from `/proc/locks`, else the file's
/// own contents (which a holder writes just after locking).
fn holder(file: &File) -> Option<u32> {
    let listed = file.metadata().ok().and_then(|m| {
        let table = fs::read_to_string(PROC_LOCKS).ok()?;
        flock_holder(&table, dev_major_minor(m.dev()), m.ino())
    });
    listed.or_else(|| {
        let mut text = String::new();
        io::Read::read_to_string(&mut &*file, &mut text).ok()?;
        text.trim().parse().ok()
    })
}

/// `(major, minor)` of a `st_dev`, as glibc's `major()`/`minor()` split it.
fn dev_major_minor(dev: u64) -> (u64, u64) {
    let major = ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0x0000_0fff);
    let minor = ((dev >> 12) & 0xffff_ff00) | (dev & 0x0000_00ff);
    (major, minor)
}

/// The PID of the process holding a `FLOCK` on the file `(dev, ino)`,
/// from the text of `/proc/locks` (lines such as `3: FLOCK  ADVISORY
/// WRITE 14454 fe:00:10011037 0 EOF`; waiters, marked `->`, skipped).
/// Never panics.
fn flock_holder(table: &str, dev: (u64, u64), ino: u64) -> Option<u32> {
    table.lines().find_map(|line| {
        let mut f = line.split_whitespace().skip(1);
        if f.next()? != "FLOCK" {
            return None;
        }
        let pid = f.nth(2)?.parse().ok()?;
        let mut id = f.next()?.split(':');
        let major = u64::from_str_radix(id.next()?, 16).ok()?;
        let minor = u64::from_str_radix(id.next()?, 16).ok()?;
        let inode: u64 = id.next()?.parse().ok()?;
        ((major, minor) == dev && inode == ino).then_some(pid)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "1: FLOCK  ADVISORY  WRITE 15997 fe:00:6267020 0 EOF\n\
                         1: -> FLOCK  ADVISORY  WRITE 16001 fe:00:6267020 0 EOF\n\
                         2: POSIX  ADVISORY  WRITE 12 fe:00:77 0 EOF\n\
                         3: FLOCK  ADVISORY  WRITE 14454 103:02:10011037 0 EOF\n\
                         garbage\n\
                         4: FLOCK\n";

    #[test]
    fn the_holder_is_read_from_the_kernels_table() {
        assert_eq!(flock_holder(TABLE, (0xfe, 0), 6_267_020), Some(15997));
        assert_eq!(flock_holder(TABLE, (0x103, 2), 10_011_037), Some(14454));
        assert_eq!(flock_holder(TABLE, (0xfe, 0), 77), None, "POSIX, not FLOCK");
        assert_eq!(flock_holder(TABLE, (0xfe, 1), 6_267_020), None);
        assert_eq!(flock_holder("", (0, 0), 1), None);
    }

    #[test]
    fn device_numbers_split_as_glibc_does() {
        assert_eq!(dev_major_minor(0xfe00), (0xfe, 0));
        assert_eq!(dev_major_minor(0x1_0302), (259, 2));
        assert_eq!(dev_major_minor(0x1000_5672_3489), (0x1234, 0x5_6789));
    }

    #[test]
    fn a_second_taker_is_refused_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/tune.lock");
        let held = take(&path).unwrap();
        match take(&path) {
            Err(LockError::Held { path: p, pid }) => {
                assert_eq!(p, path);
                assert_eq!(pid, Some(std::process::id()));
            }
            other => panic!("{other:?}"),
        }
        drop(held);
        assert!(take(&path).is_ok(), "released when dropped");
    }
}
