//! Fixture machines: `tests/fixtures/this-machine` with a case laid over it,
//! materialized in a temporary directory (so tests may write to it); and
//! the workspace's one rule for tests that need root (`root`).

#![allow(dead_code)]

/// Shared with the root crate's tests: one rule for every crate.
#[path = "../../../../../tests/it/util/root.rs"]
pub mod root;

use std::fs;
use std::path::{Path, PathBuf};

use c1m_limits::cli::RootArgs;
use c1m_limits::{Roots, Tuples};

/// The tests that read the machine's live /proc/sys and the one that
/// writes it, one at a time (they share one test binary).
static LIVE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Holds the live /proc/sys for the caller.
pub fn live_proc() -> std::sync::MutexGuard<'static, ()> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// A materialized fixture machine; deleted on drop.
pub struct Machine {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
    /// `proc/`, `etc/` and `state/` inside it.
    pub roots: Roots,
}

impl Machine {
    /// The command line's `--proc-root`, `--etc-root`, `--state-dir` for
    /// this machine.
    pub fn root_args(&self) -> RootArgs {
        RootArgs {
            proc_root: self.roots.proc_root.clone(),
            etc_root: self.roots.etc_root.clone(),
            state_dir: Some(self.roots.state_dir.clone()),
        }
    }

    /// A file of the machine, by its path relative to the machine's root.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Overwrites (or creates) a file of the machine.
    pub fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
}

/// A fixed 4-tuple space: source addresses × destination addresses ×
/// destination ports.
pub fn tuples(sources: u64, dest_addrs: u64, dest_ports: u64) -> Tuples {
    Tuples {
        sources,
        dest_addrs,
        dest_ports,
    }
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            fs::create_dir_all(&dest).unwrap();
            copy_tree(&entry.path(), &dest);
        } else {
            fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// Materializes fixture `case` (`"this-machine"` for the capture alone).
pub fn machine(case: &str) -> Machine {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let case_dir = fixtures().join(case);
    assert!(case_dir.is_dir(), "no fixture {case}");
    if !case_dir.join("standalone").exists() {
        copy_tree(&fixtures().join("this-machine"), root);
    }
    copy_tree(&case_dir, root);
    if let Ok(list) = fs::read_to_string(root.join("remove")) {
        for rel in list.lines().filter(|l| !l.trim().is_empty()) {
            fs::remove_file(root.join(rel)).unwrap();
        }
    }
    for marker in ["remove", "standalone"] {
        let _ = fs::remove_file(root.join(marker));
    }
    let roots = Roots {
        proc_root: root.join("proc"),
        etc_root: root.join("etc"),
        state_dir: root.join("state"),
    };
    Machine { dir, roots }
}

/// Asserts two snapshots are equal, naming the paths that differ.
#[track_caller]
pub fn assert_same(before: &[(PathBuf, Vec<u8>)], after: &[(PathBuf, Vec<u8>)]) {
    let show = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
    let mut diffs = Vec::new();
    for (p, b) in before {
        match after.iter().find(|(q, _)| q == p) {
            None => diffs.push(format!("{}: gone", p.display())),
            Some((_, a)) if a != b => diffs.push(format!(
                "{}: {:?} became {:?}",
                p.display(),
                show(b),
                show(a)
            )),
            _ => {}
        }
    }
    for (p, _) in after
        .iter()
        .filter(|(p, _)| !before.iter().any(|(q, _)| q == p))
    {
        diffs.push(format!("{}: new", p.display()));
    }
    assert!(diffs.is_empty(), "trees differ:\n{}", diffs.join("\n"));
}

/// Every file under `dir` with its bytes, sorted, for before/after equality.
pub fn snapshot_tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                out.push((p.clone(), b"<dir>".to_vec()));
                walk(&p, out);
            } else {
                out.push((p.clone(), fs::read(&p).unwrap_or_default()));
            }
        }
    }
    walk(dir, &mut out);
    out.sort();
    out
}
