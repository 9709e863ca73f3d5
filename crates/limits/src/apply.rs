//! Writing a tuning [`Plan`] to the machine, and undoing it exactly.
//!
//! `apply` records every live value and every drop-in it will touch (its
//! bytes, mode and owner, or its absence) in `<state dir>/tune-backup.json`
//! *before* changing anything; then writes live sysctls in the plan's safe
//! order (`fs.nr_open` first), then the drop-ins (sysctl.d before
//! limits.d). Any failure restores what was already changed. `revert`
//! restores everything from the record, in reverse, and deletes it.
//!
//! A second `apply` while a record exists is refused rather than merged:
//! merging would have to decide which "previous" value is the real one, and
//! a wrong guess makes `revert` leave the machine changed. `revert`, then
//! `apply` again, is explicit and exact.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use c1m_probe::sysctl;
use serde::{Deserialize, Serialize};

use crate::facts::Roots;
use crate::files::{write_atomically, write_with_mode};
use crate::tune::Plan;

const SCHEMA: &str = "c1m.tune-backup/1";

/// The record of one `tune --apply`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backup {
    /// `c1m.tune-backup/1`.
    pub schema: String,
    /// The target it was applied for.
    pub target: u64,
    /// Live sysctls, in the order they were written.
    pub sysctls: Vec<SysctlBackup>,
    /// Directories that did not exist and were created, outermost first.
    pub created_dirs: Vec<PathBuf>,
    /// Drop-ins, in the order they were written.
    pub files: Vec<FileBackup>,
}

/// A live sysctl before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SysctlBackup {
    /// Dotted name.
    pub name: String,
    /// Its file under the proc root.
    pub path: PathBuf,
    /// Its value before, exactly as the kernel printed it.
    pub previous: String,
    /// The value written.
    pub applied: String,
}

/// A drop-in before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileBackup {
    /// The file.
    pub path: PathBuf,
    /// What was there before; `None` if nothing was.
    pub previous: Option<Saved>,
    /// What was written.
    pub written: String,
}

/// A file's bytes, mode and owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saved {
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Contents.
    pub content: Content,
}

/// File contents, as text when they are UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Content {
    /// UTF-8 text.
    Text(String),
    /// Anything else.
    Bytes(Vec<u8>),
}

impl Content {
    fn from_bytes(b: Vec<u8>) -> Self {
        match String::from_utf8(b) {
            Ok(t) => Content::Text(t),
            Err(e) => Content::Bytes(e.into_bytes()),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Content::Text(t) => t.as_bytes(),
            Content::Bytes(b) => b,
        }
    }
}

/// Why `apply` or `revert` did not complete. Each message names the cause
/// and the way out.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The plan has blocking refusals.
    #[error("refused, nothing changed: {0}")]
    Refused(String),
    /// A previous apply has not been reverted.
    #[error("a previous `c1m tune --apply` is recorded in {0}: run `c1m tune --revert` first")]
    BackupExists(PathBuf),
    /// Nothing to revert.
    #[error("nothing to revert: {0} does not exist (no `c1m tune --apply` is recorded)")]
    NoBackup(PathBuf),
    /// The record cannot be used.
    #[error("{0}: not a c1m tune record ({1}); nothing changed")]
    BadBackup(PathBuf, String),
    /// A step failed.
    #[error("{0}")]
    Failed(String),
}

fn io_err(what: &str, path: &Path, e: io::Error) -> String {
    format!("{what} {}: {e}", path.display())
}

/// A sysctl value for the log: trimmed, `(empty)` when there is nothing
/// (an empty `ip_local_reserved_ports`).
fn shown(value: &str) -> &str {
    match value.trim() {
        "" => "(empty)",
        v => v,
    }
}

fn same_value(a: &str, b: &str) -> bool {
    a.split_whitespace().eq(b.split_whitespace())
}

fn read_sysctl(path: &Path) -> Result<String, String> {
    fs::read_to_string(path)
        .map(|t| t.trim().to_string())
        .map_err(|e| io_err("reading", path, e))
}

fn write_sysctl(path: &Path, value: &str) -> Result<(), String> {
    fs::write(path, value).map_err(|e| io_err(&format!("writing {value:?} to"), path, e))?;
    let now = read_sysctl(path)?;
    if !same_value(&now, value) {
        return Err(format!(
            "{}: wrote {value:?} but the kernel kept {now:?}",
            path.display()
        ));
    }
    Ok(())
}

fn snapshot_file(path: &Path) -> Result<Option<Saved>, String> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("inspecting", path, e)),
        Ok(m) if !m.file_type().is_file() => Err(format!(
            "{} is not a regular file: move it away first",
            path.display()
        )),
        Ok(m) => Ok(Some(Saved {
            mode: m.mode() & 0o7777,
            uid: m.uid(),
            gid: m.gid(),
            content: Content::from_bytes(fs::read(path).map_err(|e| io_err("reading", path, e))?),
        })),
    }
}

/// Directories between `path` and its nearest existing ancestor, outermost first.
fn missing_dirs(path: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = path
        .ancestors()
        .skip(1)
        .take_while(|d| !d.as_os_str().is_empty() && fs::symlink_metadata(d).is_err())
        .map(Path::to_path_buf)
        .collect();
    out.reverse();
    out
}

/// How far an apply got, for rolling it back.
#[derive(Default)]
struct Progress {
    sysctls: usize,
    dirs: usize,
    files: usize,
}

/// Restores what `done` says was changed, in reverse; returns the failures.
fn restore(b: &Backup, done: &Progress) -> Vec<String> {
    let mut errors = Vec::new();
    for f in b.files[..done.files].iter().rev() {
        let result = match &f.previous {
            None => fs::remove_file(&f.path).or_else(|e| match e.kind() {
                io::ErrorKind::NotFound => Ok(()),
                _ => Err(e),
            }),
            Some(s) => write_with_mode(&f.path, s.content.as_bytes(), s.mode)
                .and_then(|()| std::os::unix::fs::chown(&f.path, Some(s.uid), Some(s.gid))),
        };
        if let Err(e) = result {
            errors.push(io_err("restoring", &f.path, e));
        }
    }
    for d in b.created_dirs[..done.dirs].iter().rev() {
        if let Err(e) = fs::remove_dir(d) {
            errors.push(io_err("removing the directory c1m created,", d, e));
        }
    }
    for s in b.sysctls[..done.sysctls].iter().rev() {
        if let Err(e) = write_sysctl(&s.path, &s.previous) {
            errors.push(format!("restoring {}: {e}", s.name));
        }
    }
    errors
}

/// Applies `plan` on the machine under `roots`: records the previous state,
/// writes live sysctls in safe order, then the drop-ins. Returns one line
/// per thing done. On failure everything already changed is restored.
pub fn apply(plan: &Plan, roots: &Roots) -> Result<Vec<String>, ApplyError> {
    if plan.is_blocked() {
        let reasons: Vec<String> = plan
            .refusals
            .iter()
            .filter(|r| r.blocking)
            .map(|r| format!("{}: {}", r.what, r.reason))
            .collect();
        return Err(ApplyError::Refused(reasons.join("; ")));
    }
    let record = roots.backup_path();
    if fs::symlink_metadata(&record).is_ok() {
        return Err(ApplyError::BackupExists(record));
    }
    if plan.live_writes().next().is_none() && plan.files.is_empty() {
        return Ok(vec![
            "nothing to change: every setting is already enough".into(),
        ]);
    }
    let mut b = Backup {
        schema: SCHEMA.into(),
        target: plan.request.conns,
        sysctls: Vec::new(),
        created_dirs: Vec::new(),
        files: Vec::new(),
    };
    for (name, value) in plan.live_writes() {
        let path = sysctl::path(&roots.proc_root, name);
        let previous = fs::read_to_string(&path).map_err(|e| {
            ApplyError::Failed(format!("{}; nothing changed", io_err("reading", &path, e)))
        })?;
        b.sysctls.push(SysctlBackup {
            name: name.into(),
            path,
            previous,
            applied: value.into(),
        });
    }
    for (drop_in, text) in &plan.files {
        let path = drop_in.path(&roots.etc_root);
        for d in missing_dirs(&path) {
            if !b.created_dirs.contains(&d) {
                b.created_dirs.push(d);
            }
        }
        let previous = snapshot_file(&path)
            .map_err(|e| ApplyError::Failed(format!("{e}; nothing changed")))?;
        b.files.push(FileBackup {
            path,
            previous,
            written: text.clone(),
        });
    }
    let json = serde_json::to_vec_pretty(&b).map_err(|e| ApplyError::Failed(e.to_string()))?;
    write_atomically(&record, &json).map_err(|e| {
        ApplyError::Failed(format!(
            "{}; nothing changed",
            io_err("recording the previous state in", &record, e)
        ))
    })?;

    let mut done = Progress::default();
    let mut log = Vec::new();
    let result: Result<(), String> = (|| {
        for s in &b.sysctls {
            write_sysctl(&s.path, &s.applied).map_err(|e| format!("setting {}: {e}", s.name))?;
            done.sysctls += 1;
            log.push(format!(
                "set {} = {} (was {})",
                s.name,
                s.applied,
                shown(&s.previous)
            ));
        }
        for d in &b.created_dirs {
            fs::create_dir(d).map_err(|e| io_err("creating", d, e))?;
            done.dirs += 1;
        }
        for f in &b.files {
            write_atomically(&f.path, f.written.as_bytes())
                .map_err(|e| io_err("writing", &f.path, e))?;
            done.files += 1;
            let was = if f.previous.is_some() {
                "replaced"
            } else {
                "created"
            };
            log.push(format!("wrote {} ({was})", f.path.display()));
        }
        Ok(())
    })();
    if let Err(cause) = result {
        let errors = restore(&b, &done);
        if errors.is_empty() {
            let _ = fs::remove_file(&record);
            return Err(ApplyError::Failed(format!(
                "{cause}; everything already changed was restored"
            )));
        }
        return Err(ApplyError::Failed(format!(
            "{cause}; restoring then failed too ({}): finish with `c1m tune --revert` (record kept in {})",
            errors.join("; "),
            record.display()
        )));
    }
    log.push(format!(
        "previous state recorded in {}; undo with `c1m tune --revert`",
        record.display()
    ));
    Ok(log)
}

/// Restores everything the recorded apply changed, exactly, then deletes
/// the record. Returns one line per thing restored, plus notes on values
/// that changed since the apply (they are restored all the same).
pub fn revert(roots: &Roots) -> Result<Vec<String>, ApplyError> {
    let record = roots.backup_path();
    let bytes = match fs::read(&record) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(ApplyError::NoBackup(record)),
        Err(e) => return Err(ApplyError::Failed(io_err("reading", &record, e))),
    };
    let b: Backup = serde_json::from_slice(&bytes)
        .map_err(|e| ApplyError::BadBackup(record.clone(), e.to_string()))?;
    if b.schema != SCHEMA {
        return Err(ApplyError::BadBackup(
            record,
            format!("schema {:?}", b.schema),
        ));
    }
    let mut log = Vec::new();
    for s in &b.sysctls {
        match read_sysctl(&s.path) {
            Ok(now) if !same_value(&now, &s.applied) => log.push(format!(
                "note: {} is {now} now, not the {} c1m set: restoring {} anyway",
                s.name,
                s.applied,
                shown(&s.previous)
            )),
            _ => {}
        }
    }
    for f in &b.files {
        if fs::read(&f.path).ok().as_deref() != Some(f.written.as_bytes()) {
            log.push(format!(
                "note: {} changed since c1m wrote it: restoring the original anyway",
                f.path.display()
            ));
        }
    }
    let all = Progress {
        sysctls: b.sysctls.len(),
        dirs: b.created_dirs.len(),
        files: b.files.len(),
    };
    let errors = restore(&b, &all);
    if !errors.is_empty() {
        return Err(ApplyError::Failed(format!(
            "revert incomplete: {}; the record stays in {} so `c1m tune --revert` can be run again",
            errors.join("; "),
            record.display()
        )));
    }
    for f in b.files.iter().rev() {
        let what = if f.previous.is_some() {
            "restored"
        } else {
            "removed"
        };
        log.push(format!("{what} {}", f.path.display()));
    }
    for s in b.sysctls.iter().rev() {
        log.push(format!(
            "set {} = {} (back from {})",
            s.name,
            shown(&s.previous),
            s.applied
        ));
    }
    fs::remove_file(&record)
        .map_err(|e| ApplyError::Failed(io_err("removing the record", &record, e)))?;
    Ok(log)
}
