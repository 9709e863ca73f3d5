//! Named network namespaces, made and kept the way `ip netns add` keeps
//! them: a namespace made with `unshare(CLONE_NEWNET)` stays alive as a bind
//! mount of its `/proc/thread-self/ns/net` link on an empty file
//! `/run/netns/NAME`, so `ip netns`, `ip -n NAME` and c1m see the same
//! namespaces. See network_namespaces(7), unshare(2), setns(2), mount(2),
//! ip-netns(8).
//!
//! Entering a namespace moves only the calling *thread* (`setns`); every
//! socket it opens afterwards belongs to that namespace for its whole life,
//! whichever thread uses it later. [`run_in`] does the move on a short-lived
//! thread so the caller's own thread never changes namespace.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rustix::io::Errno;
use rustix::mount::{MountPropagationFlags, UnmountFlags};
use rustix::thread::{LinkNameSpaceType, UnshareFlags};

/// Where named namespaces live, as iproute2 keeps them.
const NETNS_RUN_DIR: &str = "/run/netns";

/// The file that keeps namespace `name` alive.
fn path(name: &str) -> PathBuf {
    Path::new(NETNS_RUN_DIR).join(name)
}

fn check_name(name: &str) -> io::Result<()> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && name.len() <= 255
        && !name.contains('/')
        && !name.contains('\0');
    if ok {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{name:?} is not a network namespace name"),
        ))
    }
}

/// Makes `/run/netns` exist and be a shared mount point, so a bind mount
/// made under it is seen by mount namespaces that share with ours (what
/// iproute2 does: `--make-shared`, and if it is not a mount point yet, bind
/// it onto itself first).
fn prepare_run_dir() -> io::Result<()> {
    fs::create_dir_all(NETNS_RUN_DIR)?;
    let shared = MountPropagationFlags::SHARED | MountPropagationFlags::REC;
    match rustix::mount::mount_change(NETNS_RUN_DIR, shared) {
        Ok(()) => Ok(()),
        Err(Errno::INVAL) => {
            rustix::mount::mount_bind_recursive(NETNS_RUN_DIR, NETNS_RUN_DIR)?;
            rustix::mount::mount_change(NETNS_RUN_DIR, shared)?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Creates the network namespace `name` (`ip netns add NAME`): a new, empty
/// namespace (only a down loopback) that lives until [`delete`].
///
/// Fails with `AlreadyExists` if `/run/netns/NAME` exists. Needs
/// CAP_SYS_ADMIN. The calling thread's namespace is untouched: the
/// namespace is made on a short-lived thread.
pub fn create(name: &str) -> io::Result<()> {
    check_name(name)?;
    prepare_run_dir()?;
    let target = path(name);
    // The mount point: an empty file, created exclusively so that two
    // creators of one name cannot both succeed.
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o444)
        .open(&target)
        .map_err(|e| io::Error::new(e.kind(), format!("creating {}: {e}", target.display())))?;
    let made = std::thread::scope(|s| {
        s.spawn(|| -> io::Result<()> {
            // SAFETY: `unshare_unsafe` is unsafe because unsharing
            // CLONE_FILES gives the calling thread its own copy of the
            // descriptor table, so descriptors other threads open or close
            // (and that Rust values such as `OwnedFd` own) stop matching
            // the table this thread uses. Only CLONE_NEWNET is unshared
            // here: the descriptor table, memory and every other attribute
            // stay shared, and what changes, the network namespace, is a
            // per-thread attribute no Rust value relies on. The thread that
            // moves is this scoped one, which ends right after the mount.
            #[allow(unsafe_code)]
            unsafe {
                rustix::thread::unshare_unsafe(UnshareFlags::NEWNET)?
            };
            rustix::mount::mount_bind("/proc/thread-self/ns/net", &target)?;
            Ok(())
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")))
    });
    if let Err(e) = made {
        let _ = fs::remove_file(&target);
        return Err(io::Error::new(
            e.kind(),
            format!("creating network namespace {name}: {e}"),
        ));
    }
    Ok(())
}

/// Deletes the network namespace `name` (`ip netns del NAME`): unmounts and
/// removes `/run/netns/NAME`. The kernel frees the namespace, and every
/// interface in it, once no process, thread or socket uses it any more.
///
/// Fails with `NotFound` if there is no such namespace.
pub fn delete(name: &str) -> io::Result<()> {
    check_name(name)?;
    let target = path(name);
    if !target.exists() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no network namespace {name}"),
        ));
    }
    // A file left by a creation that died before its bind mount is not a
    // mount point: EINVAL, and removing it is all there is to do.
    match rustix::mount::unmount(&target, UnmountFlags::DETACH) {
        Ok(()) | Err(Errno::INVAL) => {}
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("unmounting {}: {e}", target.display()),
            ));
        }
    }
    fs::remove_file(&target)
        .map_err(|e| io::Error::new(e.kind(), format!("removing {}: {e}", target.display())))
}

/// The named network namespaces (the names under `/run/netns`), sorted.
pub fn list() -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    match fs::read_dir(NETNS_RUN_DIR) {
        Ok(dir) => {
            for entry in dir {
                if let Ok(name) = entry?.file_name().into_string() {
                    out.push(name);
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    out.sort();
    Ok(out)
}

/// Whether the named namespace exists.
pub fn exists(name: &str) -> bool {
    check_name(name).is_ok() && path(name).exists()
}

/// Opens the namespace `name` (read-only, close-on-exec): a handle to pass
/// where the kernel takes a namespace descriptor, e.g. `IFLA_NET_NS_FD` to
/// move an interface into it (see [`netlink_fd`]).
///
/// Errors: `NotFound` if there is no such namespace, `InvalidInput` for a
/// name that cannot be one.
pub fn open(name: &str) -> io::Result<File> {
    check_name(name)?;
    File::open(path(name))
        .map_err(|e| io::Error::new(e.kind(), format!("opening network namespace {name}: {e}")))
}

/// Moves the calling thread into the namespace `name` (`setns`), for good.
/// Needs `CAP_SYS_ADMIN` (`EPERM` otherwise).
///
/// Only for a thread that does nothing else afterwards (a dedicated thread)
/// or a single-threaded worker process: other threads of the process stay
/// where they are, and there is no way back short of entering another
/// namespace. Prefer [`run_in`].
pub fn enter(name: &str) -> io::Result<()> {
    let ns = open(name)?;
    rustix::thread::move_into_link_name_space(ns.as_fd(), Some(LinkNameSpaceType::Network))
        .map_err(|e| io::Error::new(e.kind(), format!("entering network namespace {name}: {e}")))
}

/// Runs `f` on a new thread inside the namespace `name` and returns its
/// result; the calling thread stays where it is. Sockets `f` opens belong
/// to `name` and may be returned and used anywhere. A panic in `f` is
/// passed on to the caller.
///
/// Errors: those of [`enter`]; `f` does not run then.
pub fn run_in<T, F>(name: &str, f: F) -> io::Result<T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    std::thread::scope(|s| {
        let handle = s.spawn(|| -> io::Result<T> {
            enter(name)?;
            Ok(f())
        });
        match handle.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// The number of the namespace descriptor `ns` (from [`open`]), for a
/// netlink attribute that names a network namespace by descriptor:
/// `IFLA_NET_NS_FD` in an rtnetlink `RTM_NEWLINK` request (rtnetlink(7),
/// `rtnl_link_get_net()` in `net/core/rtnetlink.c`).
///
/// The kernel looks the number up in the *sending* process's descriptor
/// table while it handles the request, so keep `ns` open until the
/// request is acknowledged; the borrow does not enforce that past this
/// call. Outside this crate descriptor numbers are otherwise never passed
/// to anything (`tests/tidy.rs`): this function is the one door for that.
pub fn netlink_fd(ns: BorrowedFd<'_>) -> i32 {
    ns.as_raw_fd()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_root() -> bool {
        rustix::process::geteuid().is_root()
    }

    fn own_ns_inode() -> u64 {
        use std::os::unix::fs::MetadataExt;
        fs::metadata("/proc/thread-self/ns/net").unwrap().ino()
    }

    #[test]
    fn create_enter_list_delete() {
        if !is_root() {
            eprintln!("skipped: creating network namespaces needs root");
            return;
        }
        let name = format!("c1m-test-sys-{}", std::process::id());
        let before = own_ns_inode();
        create(&name).unwrap();
        assert!(exists(&name));
        assert!(list().unwrap().contains(&name));
        assert_eq!(
            create(&name).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );

        let inside = run_in(&name, own_ns_inode).unwrap();
        assert_ne!(inside, before, "run_in ran in the caller's namespace");
        assert_eq!(own_ns_inode(), before, "the caller's thread moved");
        // Two entries see the same namespace.
        assert_eq!(run_in(&name, own_ns_inode).unwrap(), inside);
        // A new namespace has only a loopback interface.
        let ifaces = run_in(&name, || {
            let dev = fs::read_to_string("/proc/thread-self/net/dev").unwrap();
            dev.lines()
                .filter_map(|l| Some(l.split_once(':')?.0.trim().to_string()))
                .collect::<Vec<_>>()
        })
        .unwrap();
        assert_eq!(ifaces, ["lo"]);

        delete(&name).unwrap();
        assert!(!exists(&name));
        assert!(!list().unwrap().contains(&name));
        assert_eq!(delete(&name).unwrap_err().kind(), io::ErrorKind::NotFound);
        assert!(run_in(&name, || ()).is_err());
    }

    #[test]
    fn a_namespace_descriptor_number_names_the_namespace() {
        // Our own namespace: no root needed. The kernel's own view of the
        // number (`/proc/self/fd/N`) is the namespace's link text.
        let ns = File::open("/proc/thread-self/ns/net").unwrap();
        let n = netlink_fd(ns.as_fd());
        assert_eq!(
            fs::read_link(format!("/proc/self/fd/{n}")).unwrap(),
            fs::read_link("/proc/thread-self/ns/net").unwrap()
        );
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in ["", ".", "..", "a/b"] {
            assert_eq!(create(bad).unwrap_err().kind(), io::ErrorKind::InvalidInput);
            assert!(!exists(bad));
        }
    }
}
