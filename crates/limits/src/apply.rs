//! Writing a tuning [`Plan`] to the machine, and undoing it exactly.
//!
//! `apply` records every live value and every drop-in it will touch (its
//! bytes, mode and owner, or its absence) in `<state dir>/tune-backup.json`
//! *before* changing anything; then writes live sysctls in the plan's safe
//! order (`fs.nr_open` first), then the drop-ins (sysctl.d before
//! limits.d). Any failure restores what was already changed. `revert`
//! restores everything from the record, in reverse, and deletes it.
//!
//! **Crash-safe.** Every file is written whole beside its target and
//! renamed onto it (`files::write_with_mode`: fsync, rename, fsync of the
//! directory), and the record is on disk before the first change, so a
//! process killed at any instant (SIGKILL, a power cut) leaves the record
//! and, of each thing it touched, the old state or the new: `revert`
//! then restores exactly what was there, removing the temporary file a
//! kill between write and rename leaves, and skipping what was never
//! changed. `revert` killed halfway keeps the record and may run again.
//! The steps are numbered and reported to a hook ([`apply_locked`],
//! [`revert_locked`]); the crash test stops the process after each and
//! kills it there (`tests/it/tune_crash.rs`).
//!
//! **Never a `nofile` above `fs.nr_open`.** The limits.d and systemd
//! drop-ins are written after the live `fs.nr_open`, and only once the
//! kernel's value, read back then, is at least [`Plan::nofile_max`];
//! `revert` restores them before it lowers `fs.nr_open` again.
//!
//! **One at a time.** Both hold [`crate::lock`] on
//! [`Roots::lock_path`] throughout; a second is refused naming the
//! first's PID.
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
use crate::files::{sync_dir, tmp_path, write_with_mode};
use crate::lock::{self, LockError, TuneLock};
use crate::tune::{DropIn, Plan};

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
    /// Another tune holds the lock.
    #[error(
        "another `c1m tune` is changing this machine ({} holds {}): wait for it to end, then run this again; nothing changed",
        .pid.map_or_else(|| "a process".to_string(), |p| format!("PID {p}")),
        .lock.display()
    )]
    Busy {
        /// The lock file.
        lock: PathBuf,
        /// The holder, when it can be told.
        pid: Option<u32>,
    },
    /// A step failed.
    #[error("{0}")]
    Failed(String),
}

/// Takes the lock that keeps tunes on `roots` one at a time
/// ([`Roots::lock_path`]): [`ApplyError::Busy`] naming the holder when
/// another has it. Held until the returned value is dropped.
pub fn lock(roots: &Roots) -> Result<TuneLock, ApplyError> {
    lock::take(&roots.lock_path()).map_err(|e| match e {
        LockError::Held { path, pid } => ApplyError::Busy { lock: path, pid },
        LockError::Io(why) => ApplyError::Failed(format!("{why}; nothing changed")),
    })
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

/// The writes of one `apply` or `revert`, numbered from 1, each reported
/// to the hook as it completes.
struct Writes<'h> {
    done: usize,
    hook: &'h mut dyn FnMut(usize, &str),
}

impl Writes<'_> {
    fn done(&mut self, what: &str) {
        self.done += 1;
        (self.hook)(self.done, what);
    }

    /// [`write_with_mode`], reporting its two steps: the temporary file
    /// written, then renamed onto `path`.
    fn file(
        &mut self,
        path: &Path,
        bytes: &[u8],
        mode: u32,
        owner: Option<(u32, u32)>,
    ) -> io::Result<()> {
        let tmp = tmp_path(path);
        let (done, hook) = (&mut self.done, &mut *self.hook);
        write_with_mode(path, bytes, mode, owner, &mut || {
            *done += 1;
            hook(*done, &format!("wrote {}", tmp.display()));
        })?;
        self.done(&format!("renamed it onto {}", path.display()));
        Ok(())
    }
}

/// How far an apply got, for rolling it back.
#[derive(Default)]
struct Progress {
    sysctls: usize,
    dirs: usize,
    files: usize,
}

/// Whether `path` holds exactly `saved`: bytes, mode and owner.
fn holds(path: &Path, saved: &Saved) -> bool {
    match snapshot_file(path) {
        Ok(Some(now)) => now == *saved,
        _ => false,
    }
}

/// Restores what `done` says was changed, in reverse, reporting each write
/// to `w`; skips what is as it was (never written, or restored already),
/// removes the temporary files a killed write left, and keeps a directory
/// c1m created when something else put files in it. Returns the notes
/// and the failures.
fn restore(b: &Backup, done: &Progress, w: &mut Writes) -> (Vec<String>, Vec<String>) {
    let (mut notes, mut errors) = (Vec::new(), Vec::new());
    for f in b.files[..done.files].iter().rev() {
        // Only a regular file there is a killed write's; anything else
        // under that name is not c1m's to remove.
        let tmp = tmp_path(&f.path);
        if fs::symlink_metadata(&tmp).is_ok_and(|m| m.file_type().is_file()) {
            match fs::remove_file(&tmp) {
                Ok(()) => w.done(&format!("removed {}", tmp.display())),
                Err(e) => errors.push(io_err("removing the temporary file", &tmp, e)),
            }
        }
        let result = match &f.previous {
            None => match fs::remove_file(&f.path) {
                Ok(()) => {
                    w.done(&format!("removed {}", f.path.display()));
                    Ok(())
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e),
            },
            Some(s) if holds(&f.path, s) => Ok(()),
            Some(s) => w.file(&f.path, s.content.as_bytes(), s.mode, Some((s.uid, s.gid))),
        };
        if let Err(e) = result {
            errors.push(io_err("restoring", &f.path, e));
        }
    }
    for d in b.created_dirs[..done.dirs].iter().rev() {
        match fs::remove_dir(d) {
            Ok(()) => {
                if let Some(parent) = d.parent() {
                    let _ = sync_dir(parent);
                }
                w.done(&format!("removed {}", d.display()));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) if e.kind() == io::ErrorKind::DirectoryNotEmpty => notes.push(format!(
                "kept {}: c1m created it, but it now holds files c1m did not write",
                d.display()
            )),
            Err(e) => errors.push(io_err("removing the directory c1m created,", d, e)),
        }
    }
    for s in b.sysctls[..done.sysctls].iter().rev() {
        if read_sysctl(&s.path).is_ok_and(|now| same_value(&now, &s.previous)) {
            continue;
        }
        match write_sysctl(&s.path, &s.previous) {
            Ok(()) => w.done(&format!("set {} = {}", s.name, shown(&s.previous))),
            Err(e) => errors.push(format!("restoring {}: {e}", s.name)),
        }
    }
    (notes, errors)
}

/// Applies `plan` on the machine under `roots` (taking [`lock`] for the
/// while): records the previous state, writes live sysctls in safe order,
/// then the drop-ins. Returns one line per thing done. On failure
/// everything already changed is restored.
pub fn apply(plan: &Plan, roots: &Roots) -> Result<Vec<String>, ApplyError> {
    if let Some(answer) = without_writing(plan) {
        return answer;
    }
    let held = lock(roots)?;
    apply_locked(&held, plan, roots, &mut |_, _| {})
}

/// The answer to a plan that writes nothing, decided from the plan alone
/// (so before any lock file is made): its blocking refusals, or that
/// nothing needs to change.
fn without_writing(plan: &Plan) -> Option<Result<Vec<String>, ApplyError>> {
    if plan.is_blocked() {
        let reasons: Vec<String> = plan
            .refusals
            .iter()
            .filter(|r| r.blocking)
            .map(|r| format!("{}: {}", r.what, r.reason))
            .collect();
        return Some(Err(ApplyError::Refused(reasons.join("; "))));
    }
    if plan.live_writes().next().is_none() && plan.files.is_empty() {
        return Some(Ok(vec![
            "nothing to change: every setting is already enough".into(),
        ]));
    }
    None
}

/// [`apply`] under a lock the caller took before reading the machine
/// (so that no other tune changed it between the reading and the writing),
/// calling `hook(n, what)` after the n-th write (n from 1).
pub fn apply_locked(
    _lock: &TuneLock,
    plan: &Plan,
    roots: &Roots,
    hook: &mut dyn FnMut(usize, &str),
) -> Result<Vec<String>, ApplyError> {
    if let Some(Err(refused)) = without_writing(plan) {
        return Err(refused);
    }
    let record = roots.backup_path();
    if fs::symlink_metadata(&record).is_ok() {
        return Err(ApplyError::BackupExists(record));
    }
    if let Some(answer) = without_writing(plan) {
        return answer;
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
    let mut w = Writes { done: 0, hook };
    w.file(&record, &json, 0o644, None).map_err(|e| {
        ApplyError::Failed(format!(
            "{}; nothing changed",
            io_err("recording the previous state in", &record, e)
        ))
    })?;

    let mut done = Progress::default();
    let mut log = Vec::new();
    let bounded_by_nr_open: Vec<PathBuf> = [DropIn::Limits, DropIn::Systemd]
        .iter()
        .map(|d| d.path(&roots.etc_root))
        .collect();
    let result: Result<(), String> = (|| {
        for s in &b.sysctls {
            write_sysctl(&s.path, &s.applied).map_err(|e| format!("setting {}: {e}", s.name))?;
            done.sysctls += 1;
            w.done(&format!("set {} = {}", s.name, s.applied));
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
            w.done(&format!("created {}", d.display()));
        }
        for f in &b.files {
            if bounded_by_nr_open.contains(&f.path) {
                check_nr_open(roots, plan.nofile_max, &f.path)?;
            }
            // Counted before the write: a failure between its two steps
            // leaves a temporary file for `restore` to remove.
            done.files += 1;
            w.file(&f.path, f.written.as_bytes(), 0o644, None)
                .map_err(|e| io_err("writing", &f.path, e))?;
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
        let mut quiet = Writes {
            done: 0,
            hook: &mut |_, _| {},
        };
        let (_, errors) = restore(&b, &done, &mut quiet);
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

/// Refuses to write `path`, which sets a `nofile` of up to `nofile`, unless
/// the kernel's `fs.nr_open`, read now, is at least that: pam_limits
/// denies every login a nofile above it covers.
fn check_nr_open(roots: &Roots, nofile: u64, path: &Path) -> Result<(), String> {
    let nr_open = sysctl::path(&roots.proc_root, "fs.nr_open");
    let now = read_sysctl(&nr_open)?;
    match now.parse::<u64>() {
        Ok(n) if n >= nofile => Ok(()),
        Ok(n) => Err(format!(
            "fs.nr_open is {n} now, below the nofile {nofile} of {}: not written, since a nofile above \
             fs.nr_open locks logins out (something lowered fs.nr_open meanwhile; run `c1m tune` again)",
            path.display()
        )),
        Err(_) => Err(format!(
            "{}: {now:?} is not a number; {} not written",
            nr_open.display(),
            path.display()
        )),
    }
}

/// Restores everything the recorded apply changed, exactly, then deletes
/// the record (taking [`lock`] for the while). Returns one line per thing
/// restored, plus notes on values that changed since the apply (they are
/// restored all the same).
pub fn revert(roots: &Roots) -> Result<Vec<String>, ApplyError> {
    let held = lock(roots)?;
    revert_locked(&held, roots, &mut |_, _| {})
}

/// [`revert`] under a lock the caller holds, calling `hook(n, what)` after
/// the n-th write (n from 1). Works from any point an apply or a revert
/// was killed at: what was never changed, or is back already, is skipped.
pub fn revert_locked(
    _lock: &TuneLock,
    roots: &Roots,
    hook: &mut dyn FnMut(usize, &str),
) -> Result<Vec<String>, ApplyError> {
    let record = roots.backup_path();
    let bytes = match fs::read(&record) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // An apply killed while writing its record changed nothing
            // else; its temporary record is all there is to tidy.
            let _ = fs::remove_file(tmp_path(&record));
            return Err(ApplyError::NoBackup(record));
        }
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
            Ok(now) if !same_value(&now, &s.applied) && !same_value(&now, &s.previous) => {
                log.push(format!(
                    "note: {} is {now} now, not the {} c1m set: restoring {} anyway",
                    s.name,
                    s.applied,
                    shown(&s.previous)
                ))
            }
            _ => {}
        }
    }
    for f in &b.files {
        let written = fs::read(&f.path).ok().as_deref() == Some(f.written.as_bytes());
        let untouched = match &f.previous {
            None => !f.path.exists(),
            Some(s) => holds(&f.path, s),
        };
        if !written && !untouched {
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
    let mut w = Writes { done: 0, hook };
    let (notes, errors) = restore(&b, &all, &mut w);
    log.extend(notes);
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
    if let Some(dir) = record.parent() {
        let _ = sync_dir(dir);
    }
    Ok(log)
}
