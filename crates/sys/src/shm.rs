//! A few counters in memory that several processes share: an anonymous
//! file (memfd_create(2)) of `len` 64-bit words, sized once and sealed
//! against shrinking or growing (`F_SEAL_SHRINK | F_SEAL_GROW |
//! F_SEAL_SEAL`, fcntl(2) "File seals"), mapped `MAP_SHARED` (mmap(2)) by
//! the process that made it and by the children it passes it to at
//! spawn ([`SharedCounters::pass_to`], [`SharedCounters::inherited`]).
//! Each word is an [`AtomicU64`]: what one process adds, every other
//! sees, with the ordering its atomic operation asks for.
//!
//! An `exec`'d child cannot inherit an anonymous `MAP_SHARED` mapping,
//! but it does inherit a descriptor: the file is passed as one, its
//! number in the child's environment ([`ENV`]), and mapped again there.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::ptr::NonNull;
use std::sync::atomic::AtomicU64;

use rustix::fs::{MemfdFlags, SealFlags};
use rustix::io::{Errno, FdFlags};
use rustix::mm::{MapFlags, ProtFlags};

/// The environment variable that tells a child the descriptor number of
/// the counters passed to it.
pub const ENV: &str = "C1M_SHARED_COUNTERS_FD";

/// The seals every such file carries: its size can never change, so no
/// process's mapping can lose its pages under it (a truncated shared
/// file's pages would raise SIGBUS when touched).
const SEALS: SealFlags = SealFlags::SHRINK
    .union(SealFlags::GROW)
    .union(SealFlags::SEAL);

const WORD: usize = std::mem::size_of::<AtomicU64>();

/// `len` 64-bit counters shared with other processes (module docs). The
/// mapping lives as long as this value; the counters start at 0.
pub struct SharedCounters {
    file: OwnedFd,
    words: NonNull<AtomicU64>,
    len: usize,
}

impl SharedCounters {
    /// Makes `len` counters (at least 1), all 0, in a new sealed memfd
    /// named `name` (shown in `/proc/PID/fd` as `/memfd:NAME`), opened
    /// close-on-exec: only a child it is passed to
    /// ([`SharedCounters::pass_to`]) gets it.
    ///
    /// Errors: those of memfd_create(2) (`EMFILE`, `ENOMEM`),
    /// ftruncate(2), fcntl(2) `F_ADD_SEALS` and mmap(2) (`ENOMEM`).
    pub fn new(name: &str, len: usize) -> io::Result<Self> {
        let len = len.max(1);
        let file = rustix::fs::memfd_create(name, MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
        rustix::fs::ftruncate(&file, (len * WORD) as u64)?;
        rustix::fs::fcntl_add_seals(&file, SEALS)?;
        Self::map(file, len)
    }

    /// The counters a parent passed this process at spawn
    /// ([`SharedCounters::pass_to`]), expected to be at least `len`
    /// words: the descriptor named by [`ENV`], checked to be a file
    /// sealed as [`SharedCounters::new`] seals it and of that size, then
    /// mapped.
    ///
    /// Errors: `ENOENT` when [`ENV`] is not set (nothing was passed),
    /// `EBADF` when it does not name an open descriptor above stderr,
    /// `EINVAL` when that descriptor is not such a file or is too small.
    #[allow(unsafe_code)]
    pub fn inherited(len: usize) -> io::Result<Self> {
        let raw: RawFd = std::env::var(ENV)
            .map_err(|_| io::Error::from(Errno::NOENT))?
            .parse()
            .map_err(|_| io::Error::from(Errno::BADF))?;
        if raw <= 2 {
            return Err(Errno::BADF.into());
        }
        // Open? F_GETFD fails with EBADF on a number that is not.
        // SAFETY: the borrow lasts only this call, and the number is
        // checked to be open by it (rustix's fcntl on a closed number
        // returns EBADF, it does not touch any object).
        let borrowed = unsafe { BorrowedFd::borrow_raw(raw) };
        rustix::io::fcntl_getfd(borrowed)?;
        let seals = rustix::fs::fcntl_get_seals(borrowed).map_err(|_| Errno::INVAL)?;
        let size = rustix::fs::fstat(borrowed)?.st_size;
        if !seals.contains(SEALS) || size < (len.max(1) * WORD) as i64 {
            return Err(Errno::INVAL.into());
        }
        // SAFETY: `raw` is open (F_GETFD above) and is the sealed memfd
        // the parent passed for this purpose alone (its seals and size
        // checked): nothing else in this process owns it — a worker
        // calls this once, at start, and the parent's spawn cleared
        // close-on-exec on that descriptor only.
        let file = unsafe { OwnedFd::from_raw_fd(raw) };
        // The parent's clearing of close-on-exec made it inheritable:
        // this process's own children are not to get it.
        rustix::io::fcntl_setfd(&file, FdFlags::CLOEXEC)?;
        Self::map(file, (size as usize) / WORD)
    }

    #[allow(unsafe_code)]
    fn map(file: OwnedFd, len: usize) -> io::Result<Self> {
        // SAFETY: a new mapping (no address asked for, so none of this
        // process's memory is replaced) of `len` words of a file at least
        // that long (ftruncate'd or fstat'd by the callers) and sealed
        // against shrinking, so every page of the mapping stays backed;
        // no Rust reference to the region exists yet.
        let at = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len * WORD,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                &file,
                0,
            )
        }?;
        let words = NonNull::new(at.cast::<AtomicU64>()).ok_or(Errno::NOMEM)?;
        Ok(Self { file, words, len })
    }

    /// The counters, each an [`AtomicU64`] that every process mapping
    /// the file shares.
    #[allow(unsafe_code)]
    pub fn counters(&self) -> &[AtomicU64] {
        // SAFETY: `words` is the start of a live mapping of `len` words
        // (unmapped only in `drop`, which the returned borrow of `self`
        // outlives), page-aligned so aligned for `AtomicU64`, readable
        // and writable, its pages always backed (the file's size is
        // sealed). Other processes change it only through atomic
        // operations on the same words, which `AtomicU64` is made for;
        // no `&mut` to it is ever made.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr(), self.len) }
    }

    /// Passes these counters to the child `cmd` will spawn: the file's
    /// descriptor stays open across its exec (close-on-exec is cleared
    /// in the child only, between fork and exec, so no other child the
    /// process spawns meanwhile gets it), and [`ENV`] tells the child
    /// its number. The child maps them with
    /// [`SharedCounters::inherited`].
    #[allow(unsafe_code)]
    pub fn pass_to(&self, cmd: &mut Command) {
        let raw = self.file.as_raw_fd();
        cmd.env(ENV, raw.to_string());
        let inherit = move || {
            // SAFETY: in the child, between fork and exec, the number is
            // open: the child inherited it from this process, which holds
            // `self.file` open while it spawns (the caller spawns while
            // `self` lives). The borrow lasts only this call.
            let fd = unsafe { BorrowedFd::borrow_raw(raw) };
            rustix::io::fcntl_setfd(fd, FdFlags::empty()).map_err(io::Error::from)
        };
        // SAFETY: the closure runs in the child between fork and exec
        // (see `process::make_worker` on what is sound there): it makes
        // one raw system call through rustix's linux_raw backend (fcntl
        // F_SETFD: async-signal-safe, no allocation, no lock, no libc
        // state) and turns an errno into an `io::Error` without
        // allocating. It captures one `Copy` integer.
        unsafe {
            cmd.pre_exec(inherit);
        }
    }
}

impl AsFd for SharedCounters {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

impl Drop for SharedCounters {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, of exactly this length;
        // `counters` borrows `self`, so no reference into it outlives
        // this drop.
        let _ = unsafe { rustix::mm::munmap(self.words.as_ptr().cast(), self.len * WORD) };
    }
}

// SAFETY: the mapping is owned by the value (unmapped once, in `drop`),
// and shared access to it is only through `AtomicU64`, which is `Sync`:
// moving or sharing the value between threads is as sound as sharing a
// `&[AtomicU64]`.
#[allow(unsafe_code)]
unsafe impl Send for SharedCounters {}
// SAFETY: as for `Send`: `&SharedCounters` gives only `&[AtomicU64]`.
#[allow(unsafe_code)]
unsafe impl Sync for SharedCounters {}

impl std::fmt::Debug for SharedCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedCounters")
            .field("file", &self.file)
            .field("len", &self.len)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering::SeqCst;

    #[test]
    fn a_child_sees_and_changes_the_same_counters() {
        let c = SharedCounters::new("c1m-test", 3).unwrap();
        c.counters()[1].store(41, SeqCst);
        // The child adds 1 to word 1 through its own mapping of the
        // descriptor it inherited: python3 maps /proc/self/fd/N.
        let mut cmd = Command::new("python3");
        cmd.args([
            "-c",
            "import mmap,os,struct\n\
             fd=int(os.environ['C1M_SHARED_COUNTERS_FD'])\n\
             m=mmap.mmap(fd,24)\n\
             v=struct.unpack_from('<Q',m,8)[0]\n\
             struct.pack_into('<Q',m,8,v+1)\n\
             print(v)",
        ]);
        c.pass_to(&mut cmd);
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "41");
        assert_eq!(c.counters()[1].load(SeqCst), 42);
        assert_eq!(c.counters().len(), 3);
    }

    #[test]
    fn a_child_not_passed_them_does_not_get_the_descriptor() {
        let c = SharedCounters::new("c1m-test", 1).unwrap();
        let raw = c.file.as_raw_fd();
        let out = Command::new("sh")
            .args([
                "-c",
                &format!("test -e /proc/self/fd/{raw} && echo open || echo closed"),
            ])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "closed");
    }

    #[test]
    fn the_size_is_sealed() {
        let c = SharedCounters::new("c1m-test", 2).unwrap();
        assert!(rustix::fs::ftruncate(&c, 0).is_err(), "shrinking is sealed");
        assert!(
            rustix::fs::ftruncate(&c, 1 << 20).is_err(),
            "growing is sealed"
        );
    }
}
