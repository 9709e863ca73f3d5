//! `tune --apply` and `--revert` cut short after each of their writes, on
//! fixture machines (plain files stand in for /proc/sys, so no root): the
//! process's end is simulated by unwinding out of the write hook, which
//! skips every rollback as a SIGKILL would. After each cut, `--revert`
//! leaves every file (bytes and mode) as it was; at each cut no `nofile`
//! c1m wrote is above the `fs.nr_open` then. `tests/it/tune_crash.rs` of
//! the c1m crate does the same with real SIGKILLs on the real /proc.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::{Path, PathBuf};

use crate::util::{Machine, machine};
use c1m_limits::apply::{self, ApplyError};
use c1m_limits::tune::{self, DropIn, Plan, Request};
use c1m_limits::{Facts, Role};

/// The unwinding payload that stands for SIGKILL.
struct Killed;

fn request(conns: u64, port_range: Option<(u64, u64)>) -> Request {
    Request {
        conns,
        role: Role::Both,
        port_range,
        tuples: None,
    }
}

fn plan_for(m: &Machine, req: &Request) -> Plan {
    tune::plan(&Facts::read(&m.roots), &m.roots.etc_root, req)
}

/// Every file and directory of the machine outside its state directory:
/// path, permission bits, bytes (directories: none).
fn snapshot(m: &Machine) -> Vec<(PathBuf, u32, Vec<u8>)> {
    fn walk(dir: &Path, skip: &Path, out: &mut Vec<(PathBuf, u32, Vec<u8>)>) {
        for e in fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.starts_with(skip) {
                continue;
            }
            let meta = fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                out.push((p.clone(), meta.mode(), Vec::new()));
                walk(&p, skip, out);
            } else {
                out.push((p.clone(), meta.mode(), fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(m.dir.path(), &m.roots.state_dir, &mut out);
    out.sort();
    out
}

#[track_caller]
fn assert_restored(before: &[(PathBuf, u32, Vec<u8>)], m: &Machine, when: &str) {
    let after = snapshot(m);
    if before != after {
        let show = |s: &[(PathBuf, u32, Vec<u8>)], t: &[(PathBuf, u32, Vec<u8>)]| {
            s.iter()
                .filter(|e| !t.contains(e))
                .map(|(p, mode, b)| {
                    format!(
                        "  {} {mode:o} {:?}",
                        p.display(),
                        String::from_utf8_lossy(b)
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        panic!(
            "{when}: not restored\nbefore only:\n{}\nafter only:\n{}",
            show(before, &after),
            show(&after, before)
        );
    }
}

/// The highest `nofile` hard limit in c1m's limits.d and systemd drop-ins
/// under `etc` (0 when neither exists), read as pam_limits and systemd
/// read them: limits.d lines `DOMAIN TYPE nofile VALUE` of type `hard`
/// or `-`, systemd's `DefaultLimitNOFILE=SOFT:HARD`.
fn nofile_written(etc: &Path) -> u64 {
    let limits = fs::read_to_string(DropIn::Limits.path(etc)).unwrap_or_default();
    let from_limits = limits
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() == 4 && f[2] == "nofile" && (f[1] == "hard" || f[1] == "-"))
        .map(|f| f[3].parse::<u64>().unwrap())
        .max()
        .unwrap_or(0);
    let systemd = fs::read_to_string(DropIn::Systemd.path(etc)).unwrap_or_default();
    let from_systemd = systemd
        .lines()
        .filter_map(|l| l.strip_prefix("DefaultLimitNOFILE="))
        .map(|v| v.rsplit(':').next().unwrap().parse::<u64>().unwrap())
        .max()
        .unwrap_or(0);
    from_limits.max(from_systemd)
}

fn nr_open(m: &Machine) -> u64 {
    fs::read_to_string(m.roots.proc_root.join("sys/fs/nr_open"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Runs `f`, which unwinds with [`Killed`] when cut; `true` if it was.
fn killed(f: impl FnOnce()) -> bool {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => false,
        Err(p) if p.is::<Killed>() => true,
        Err(p) => resume_unwind(p),
    }
}

/// `apply` cut after write k, for k = 1, 2, … until it completes; after
/// each cut the nofile invariant holds and `revert` restores every byte
/// and mode. Returns the number of writes of a whole apply.
fn crash_apply_at_every_write(m: &Machine, req: &Request) -> usize {
    let before = snapshot(m);
    for k in 1.. {
        let plan = plan_for(m, req);
        assert!(!plan.is_blocked(), "{:#?}", plan.refusals);
        let cut = killed(|| {
            let lock = apply::lock(&m.roots).unwrap();
            apply::apply_locked(&lock, &plan, &m.roots, &mut |n, _| {
                if n == k {
                    resume_unwind(Box::new(Killed));
                }
            })
            .unwrap();
        });
        let (written, ceiling) = (nofile_written(&m.roots.etc_root), nr_open(m));
        assert!(
            written <= ceiling,
            "cut after write {k}: nofile {written} above fs.nr_open {ceiling}"
        );
        match apply::revert(&m.roots) {
            Ok(_) => {}
            // Cut before its record was in place: nothing else changed.
            Err(ApplyError::NoBackup(_)) if k == 1 => {}
            Err(e) => panic!("revert after a cut at write {k}: {e}"),
        }
        assert_restored(&before, m, &format!("apply cut after write {k}"));
        assert!(!m.roots.backup_path().exists());
        if !cut {
            return k - 1;
        }
    }
    unreachable!()
}

/// `revert` cut after write k, for k = 1, 2, … until it completes; after
/// each cut a second `revert` restores every byte and mode. Returns the
/// number of writes of a whole revert.
fn crash_revert_at_every_write(m: &Machine, req: &Request) -> usize {
    let before = snapshot(m);
    for k in 1.. {
        apply::apply(&plan_for(m, req), &m.roots).unwrap();
        let cut = killed(|| {
            let lock = apply::lock(&m.roots).unwrap();
            apply::revert_locked(&lock, &m.roots, &mut |n, _| {
                if n == k {
                    resume_unwind(Box::new(Killed));
                }
            })
            .unwrap();
        });
        assert!(
            nofile_written(&m.roots.etc_root) <= nr_open(m),
            "revert cut after write {k}"
        );
        if cut {
            apply::revert(&m.roots).unwrap();
        }
        assert_restored(&before, m, &format!("revert cut after write {k}"));
        if !cut {
            return k - 1;
        }
    }
    unreachable!()
}

#[test]
fn a_tune_cut_after_any_write_is_reverted_exactly() {
    // systemd's drop-in too; limits.d does not exist yet (created, then
    // removed); a drop-in of someone else's stands where c1m's sysctl one
    // goes, mode 0600 (replaced, then restored with its mode).
    let m = machine("systemd-box");
    m.write(
        "etc/sysctl.d/90-c1m.conf",
        "# someone else's\nvm.swappiness = 10\n",
    );
    let theirs = m.path("etc/sysctl.d/90-c1m.conf");
    fs::set_permissions(&theirs, fs::Permissions::from_mode(0o600)).unwrap();
    assert!(!m.path("etc/security/limits.d").exists());
    let req = request(1_000_000, Some((1024, 65535)));
    let plan = plan_for(&m, &req);
    let sysctls = plan.live_writes().count();
    assert!(sysctls >= 4, "{:?}", plan.live_writes().collect::<Vec<_>>());
    assert_eq!(plan.files.len(), 3);
    // The record (written, renamed), each sysctl, one directory, each file
    // (written, renamed).
    let writes = 2 + sysctls + 1 + 2 * plan.files.len();
    assert_eq!(crash_apply_at_every_write(&m, &req), writes);
    // Back: the three files (one restored in two steps, two removed), the
    // directory, each sysctl.
    let back = 2 + 2 + 1 + sysctls;
    assert_eq!(crash_revert_at_every_write(&m, &req), back);
    println!(
        "cut after each of {writes} apply writes and {back} revert writes; every byte and mode restored"
    );
    assert_eq!(fs::metadata(&theirs).unwrap().mode() & 0o7777, 0o600);
}

#[test]
fn a_killed_write_leaves_a_temporary_file_that_revert_removes() {
    let m = machine("this-machine");
    let before = snapshot(&m);
    let plan = plan_for(&m, &request(1_000_000, None));
    let limits = DropIn::Limits.path(&m.roots.etc_root);
    let tmp = limits.with_file_name(".90-c1m.conf.c1m-tmp");
    assert!(killed(|| {
        let lock = apply::lock(&m.roots).unwrap();
        apply::apply_locked(&lock, &plan, &m.roots, &mut |_, what| {
            if what.starts_with("wrote ") && what.ends_with("limits.d/.90-c1m.conf.c1m-tmp") {
                resume_unwind(Box::new(Killed));
            }
        })
        .unwrap();
    }));
    assert!(tmp.exists() && !limits.exists());
    let log = apply::revert(&m.roots).unwrap();
    assert!(!tmp.exists(), "{log:?}");
    assert_restored(&before, &m, "revert");
}

#[test]
fn nofile_is_never_written_above_the_live_nr_open() {
    // fs.nr_open is high, at boot too: the plan keeps it and raises only
    // nofile, to 2,200,000.
    let m = machine("this-machine");
    m.write("proc/sys/fs/nr_open", "5000000\n");
    m.write("etc/sysctl.d/50-big.conf", "fs.nr_open = 5000000\n");
    let plan = plan_for(&m, &request(1_000_000, None));
    assert!(plan.live_writes().all(|(name, _)| name != "fs.nr_open"));
    assert_eq!(plan.nofile_max, 2_200_000);
    // Something lowers it before the apply: limits.d is not written, and
    // what was already changed is put back.
    m.write("proc/sys/fs/nr_open", "1048576\n");
    let before = snapshot(&m);
    let err = apply::apply(&plan, &m.roots).unwrap_err().to_string();
    assert!(
        err.contains("fs.nr_open is 1048576 now, below the nofile 2200000 of")
            && err.contains("everything already changed was restored"),
        "{err}"
    );
    assert_restored(&before, &m, "a refused apply");
    // Every plan keeps nofile within the fs.nr_open it sets.
    for case in [
        "this-machine",
        "systemd-box",
        "wildcard-only",
        "nr-open-trap",
    ] {
        let m = machine(case);
        let plan = plan_for(&m, &request(1_000_000, None));
        let set = plan
            .live_writes()
            .find(|(name, _)| *name == "fs.nr_open")
            .map_or_else(|| nr_open(&m), |(_, v)| v.parse().unwrap());
        assert!(
            plan.nofile_max <= set,
            "{case}: {} > {set}",
            plan.nofile_max
        );
    }
}

#[test]
fn a_second_tune_is_refused_while_one_holds_the_lock() {
    let m = machine("this-machine");
    let before = snapshot(&m);
    let plan = plan_for(&m, &request(1_000_000, None));
    let held = apply::lock(&m.roots).unwrap();
    let me = std::process::id();
    for err in [
        apply::apply(&plan, &m.roots).unwrap_err(),
        apply::revert(&m.roots).unwrap_err(),
    ] {
        let text = err.to_string();
        assert!(
            matches!(err, ApplyError::Busy { pid: Some(p), .. } if p == me),
            "{text}"
        );
        assert_eq!(
            text,
            format!(
                "another `c1m tune` is changing this machine (PID {me} holds {}): wait for it to end, \
                 then run this again; nothing changed",
                m.roots.state_dir.join("tune.lock").display()
            )
        );
    }
    assert_restored(&before, &m, "refused");
    drop(held);
    apply::apply(&plan, &m.roots).unwrap();
    apply::revert(&m.roots).unwrap();
    assert_restored(&before, &m, "applied and reverted");
}
