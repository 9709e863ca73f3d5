//! The one rule for tests that need root (network namespaces, sysctl
//! writes, `/proc/slabinfo`):
//!
//! - not root: the test prints one line, `skipped: TEST needs root for
//!   WHY`, and passes ([`needs_root`] returns `None`);
//! - root: the test runs, and a precondition it finds unmet (a lab already
//!   up, a namespace left over, `/proc/sys` read-only) fails it with the
//!   cause and the fix ([`Root::require`]): it never passes silently.
//!
//! Standard library only: the test binaries of `crates/limits` and
//! `crates/probe` include this same file (`#[path]` in their
//! `tests/it/util/mod.rs`), so that every crate's tests follow one rule.

use std::fmt::Display;
use std::io::Write;
use std::panic::Location;

/// Whether this process runs as root: effective uid 0, the second field
/// of `Uid:` in `/proc/self/status` (proc(5)).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// The running test, for the skip line and failure messages: libtest
/// names each test's thread after it; on the main thread (one test
/// thread), the caller's file and line.
fn test_name(at: &Location<'_>) -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" => name.to_string(),
        _ => format!("the test at {}:{}", at.file(), at.line()),
    }
}

/// Proof that the test runs as root; what it still needs of the machine
/// is checked with [`Root::require`].
pub struct Root {
    test: String,
}

/// The gate of a test that needs root for `why` (e.g. "network
/// namespaces"): `Some` as root; otherwise one line on stderr naming the
/// test and why it is skipped, and `None`, on which the test returns.
/// The line goes to the process's stderr itself, past libtest's capture
/// of `eprintln!`, so that a skip shows in every run, not only with
/// `--nocapture`.
#[track_caller]
pub fn needs_root(why: &str) -> Option<Root> {
    let test = test_name(Location::caller());
    if is_root() {
        Some(Root { test })
    } else {
        let _ = writeln!(std::io::stderr(), "skipped: {test} needs root for {why}");
        None
    }
}

impl Root {
    /// A precondition of the test, as root: when `ok` is false the test
    /// fails, naming `cause` and `fix`.
    #[track_caller]
    pub fn require(&self, ok: bool, cause: impl Display, fix: impl Display) {
        assert!(
            ok,
            "{}: cannot run as root here: {cause}\n  fix: {fix}",
            self.test
        );
    }

    /// [`Root::require`] for a step that may fail: its error is the
    /// cause.
    #[track_caller]
    pub fn check<T, E: Display>(&self, r: Result<T, E>, what: &str, fix: impl Display) -> T {
        r.unwrap_or_else(|e| {
            panic!(
                "{}: cannot run as root here: {what}: {e}\n  fix: {fix}",
                self.test
            )
        })
    }
}

/// A sysctl held at a value for the length of a test; the old value is
/// written back when dropped (also when an assertion fails).
pub struct Sysctl {
    path: String,
    old: Option<String>,
}

/// Sets the sysctl at `path` (under `/proc/sys`) to `want` for the test.
/// Already so: nothing is written, root or not. Otherwise writing needs
/// root: not root, the test is skipped ([`needs_root`], `None`); root and
/// the write fails (a read-only `/proc/sys`, as in most containers), the
/// test fails with the cause and the fix.
#[track_caller]
pub fn ensure_sysctl(path: &str, want: &str) -> Option<Sysctl> {
    let now = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .trim()
        .to_string();
    let path = path.to_string();
    if now == want {
        return Some(Sysctl { path, old: None });
    }
    let root = needs_root(&format!(
        "writing {path} (it is {now}, the test needs {want})"
    ))?;
    root.check(
        std::fs::write(&path, want),
        &format!("writing {want} to {path}"),
        "run where root may write /proc/sys (a VM or host, not a container with /proc/sys read-only)",
    );
    Some(Sysctl {
        path,
        old: Some(now),
    })
}

impl Drop for Sysctl {
    fn drop(&mut self) {
        if let Some(old) = &self.old
            && let Err(e) = std::fs::write(&self.path, old)
        {
            eprintln!("RESTORE FAILED: {} := {old}: {e}", self.path);
        }
    }
}
