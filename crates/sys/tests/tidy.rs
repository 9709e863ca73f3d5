//! Tidy checks for the invariant this crate exists for — **only
//! `crates/sys` touches descriptors and the kernel's raw interfaces** —
//! and for this crate's own module layers.
//!
//! # What counts as a raw descriptor use
//! Outside `crates/sys`, code may hold descriptors only as owned or
//! borrowed handles (`OwnedFd`, `BorrowedFd`, `File`, `TcpStream`, a safe
//! crate's socket) and pass them only to safe functions that take handles.
//! It may not:
//! - name the raw descriptor types or conversions: `RawFd`, `AsRawFd`,
//!   `FromRawFd`, `IntoRawFd`, `as_raw_fd`, `from_raw_fd`, `into_raw_fd`,
//!   `borrow_raw` (a number can become a descriptor again only through the
//!   last four, which take `unsafe`);
//! - call `libc` (every system call goes through a safe wrapper here);
//! - contain `unsafe` (also forbidden by `[workspace.lints]`; this test
//!   covers files no lint sees, such as the fuzz crate, which is outside the
//!   workspace).
//!
//! A descriptor's number obtained from this crate as data
//! (`c1m_sys::socket::number`, a slot index; `c1m_sys::netns::netlink_fd`
//! for `IFLA_NET_NS_FD`) is not a raw descriptor use: each is one
//! documented door, and the number is never turned back into a handle.
//!
//! Every `.rs` file of the workspace outside `crates/sys` is scanned
//! (`src/`, `tests/`, `crates/*`, `fuzz/`, `bench/`, examples), comments and
//! string literals left out. An exception is an entry of [`ALLOWED`] with
//! its reason.

use std::path::{Path, PathBuf};

use c1m_tidy::{Finding, Layers};

/// This crate's modules, lowest layer first: a module uses only modules
/// of earlier layers.
const LAYERS: Layers<'static> = &[
    // Standalone process-wide calls: `RLIMIT_NOFILE`, worker processes and
    // nice values (and signal names), named network namespaces, file locks;
    // the global allocator's count of one layer; counters shared with
    // child processes.
    &["alloc", "limits", "process", "netns", "lock", "shm"],
    // epoll and nonblocking reads of any descriptor.
    &["poll"],
    // Descriptors made to be polled: caught signals as a readable pipe,
    // TCP sockets. Their tests wait and read through `poll`.
    &["signals", "socket"],
];

/// Identifiers that touch descriptors by number or the kernel directly.
const FORBIDDEN: &[&str] = &[
    "libc",
    "RawFd",
    "AsRawFd",
    "FromRawFd",
    "IntoRawFd",
    "as_raw_fd",
    "from_raw_fd",
    "into_raw_fd",
    "borrow_raw",
    "unsafe",
];

/// A file allowed to use a forbidden identifier, and why.
struct Allowed {
    /// Relative to the workspace root, `/`-separated.
    file: &'static str,
    token: &'static str,
    why: &'static str,
}

/// Lasting exceptions, each with its reason. None today: keep it so.
const ALLOWED: &[Allowed] = &[];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn findings() -> Vec<Finding> {
    c1m_tidy::scan(&workspace_root(), &["crates/sys"], FORBIDDEN).unwrap()
}

fn allowed(f: &Finding) -> bool {
    ALLOWED
        .iter()
        .any(|a| a.file == f.file && a.token == f.token)
}

#[test]
fn sys_modules_use_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    if let Err(problems) = c1m_tidy::check_layers(&src, LAYERS) {
        panic!("{problems}");
    }
}

#[test]
fn no_raw_descriptor_libc_or_unsafe_outside_sys() {
    let wrong: Vec<String> = findings()
        .iter()
        .filter(|f| !allowed(f))
        .map(|f| f.to_string())
        .collect();
    assert!(
        wrong.is_empty(),
        "raw descriptors, libc and unsafe belong in crates/sys (add a safe \
         wrapper there):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_exception_is_still_needed() {
    let found = findings();
    let mut wrong = Vec::new();
    for a in ALLOWED {
        if a.why.trim().is_empty() {
            wrong.push(format!("{} `{}`: no reason given", a.file, a.token));
        }
        if !found.iter().any(|f| f.file == a.file && f.token == a.token) {
            wrong.push(format!(
                "{} no longer uses `{}`: remove its entry",
                a.file, a.token
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_scan_sees_what_it_must() {
    // The scan is not vacuous: it reads the workspace and finds this
    // crate's own uses when not told to skip it.
    let here = c1m_tidy::scan(&workspace_root(), &[], &["setsockopt"]).unwrap();
    assert!(
        here.iter()
            .any(|f| f.file == "crates/sys/src/socket.rs" && f.token == "setsockopt"),
        "{here:?}"
    );
    assert!(
        c1m_tidy::rust_files(&workspace_root(), &["crates/sys"])
            .unwrap()
            .iter()
            .any(|p| p.ends_with("fuzz/fuzz_targets/parsers.rs"))
    );
}
