//! Advisory whole-file locks, flock(2): at most one exclusive holder of a
//! file at a time among the processes that ask. The kernel drops a lock
//! when its holder closes the file or dies, SIGKILL included, so a crash
//! never leaves one held; `/proc/locks` lists who holds each (proc(5)).

use std::fs::File;
use std::io;

use rustix::fs::{FlockOperation, flock};
use rustix::io::Errno;

/// Takes an exclusive lock on `file` without waiting (`LOCK_EX |
/// LOCK_NB`): `Ok(true)` when this open file now holds it (until it is
/// closed), `Ok(false)` when another open file holds it (`EWOULDBLOCK`).
///
/// Errors: those of flock(2) other than `EWOULDBLOCK` (`EINTR`, `ENOLCK`).
pub fn try_exclusive(file: &File) -> io::Result<bool> {
    match flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(Errno::WOULDBLOCK) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_released_on_close() {
        let dir = std::env::temp_dir().join(format!("c1m-sys-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("lock");
        let open = || {
            File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .unwrap()
        };
        let (a, b) = (open(), open());
        assert!(try_exclusive(&a).unwrap());
        assert!(!try_exclusive(&b).unwrap(), "a second open file is refused");
        drop(a);
        assert!(try_exclusive(&b).unwrap(), "closing releases the lock");
        drop(b);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
