//! `c1m tune --apply` and `--revert` killed with SIGKILL after each of
//! their writes, on this machine's real /proc/sys (the drop-ins go to a
//! copy of /etc, `--etc-root`; the record to a temporary `--state-dir`):
//! after every kill, `c1m tune --revert` puts back exactly what was there
//! (every sysctl tune may touch, read raw; every file and directory of the
//! /etc copy with its mode and owner), and no `nofile` c1m wrote is above
//! the kernel's `fs.nr_open` at that instant. Two tunes at once: the
//! second is refused in one line naming the first's PID.
//!
//! The kill point: `C1M_TUNE_PAUSE_AFTER=K` makes tune stop itself
//! (SIGSTOP) right after write K and say so on stderr; the test kills it
//! there. Needs root (skipped otherwise, `util::root`); as root, a
//! read-only /proc/sys fails it. A guard writes every sysctl back when
//! dropped, so the machine is left as it was even when an assertion fails.
//! Run it under `flock /tmp/c1m-e2e.lock` beside other helpers' tests.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::util::root::needs_root;
use crate::util::{Running, c1m, heavy, spawn_cmd};

/// Every sysctl `c1m tune` may write.
const TOUCHED: [&str; 7] = [
    "fs.nr_open",
    "fs.file-max",
    "net.core.somaxconn",
    "net.ipv4.tcp_max_syn_backlog",
    "net.netfilter.nf_conntrack_max",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.ip_local_port_range",
];

/// The pause line's start.
const PAUSED: &str = "c1m tune: paused after write ";

/// How long one tune may take to pause or finish (it takes milliseconds).
const LIMIT: Duration = Duration::from_secs(60);

fn sysctl_path(name: &str) -> PathBuf {
    Path::new("/proc/sys").join(name.replace('.', "/"))
}

/// The raw text of each touched sysctl (`None`: not on this kernel).
fn sysctls() -> Vec<(&'static str, Option<String>)> {
    TOUCHED
        .iter()
        .map(|n| (*n, fs::read_to_string(sysctl_path(n)).ok()))
        .collect()
}

/// Writes every sysctl of the snapshot back when dropped (an assertion
/// failed, or a kill left them raised).
struct Guard(Vec<(&'static str, Option<String>)>);

impl Drop for Guard {
    fn drop(&mut self) {
        for (name, value) in self.0.iter().rev() {
            let path = sysctl_path(name);
            if let Some(v) = value
                && fs::read_to_string(&path).ok().as_ref() != Some(v)
                && let Err(e) = fs::write(&path, v)
            {
                eprintln!("RESTORE FAILED: {name} := {v:?}: {e}");
            }
        }
    }
}

/// One entry of a tree: path, mode (type and permission bits), owner,
/// group, bytes (none for a directory).
type Entry = (PathBuf, u32, u32, u32, Vec<u8>);

fn tree(dir: &Path) -> Vec<Entry> {
    fn walk(dir: &Path, out: &mut Vec<Entry>) {
        for e in fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            let m = fs::symlink_metadata(&p).unwrap();
            let bytes = if m.is_dir() {
                Vec::new()
            } else {
                fs::read(&p).unwrap()
            };
            out.push((p.clone(), m.mode(), m.uid(), m.gid(), bytes));
            if m.is_dir() {
                walk(&p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out.sort();
    out
}

/// The machine as tune sees it: the sysctls and the /etc copy.
#[derive(Debug, PartialEq)]
struct State {
    sysctls: Vec<(&'static str, Option<String>)>,
    etc: Vec<Entry>,
}

/// The test's /etc: limits.conf and sysctl.conf copied from the machine's
/// (no sysctl.d: tune creates it, and revert removes it); a limits.d with
/// someone's file where c1m's drop-in goes (mode 0600, owner 1234:5678:
/// replaced, then restored as it was).
fn etc_copy(root: &Path) -> PathBuf {
    let etc = root.join("etc");
    fs::create_dir_all(etc.join("security/limits.d")).unwrap();
    for rel in ["security/limits.conf", "sysctl.conf"] {
        if let Ok(bytes) = fs::read(Path::new("/etc").join(rel)) {
            fs::write(etc.join(rel), bytes).unwrap();
        }
    }
    let theirs = etc.join("security/limits.d/90-c1m.conf");
    fs::write(&theirs, "# someone else's file of this name\n").unwrap();
    fs::set_permissions(&theirs, fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::chown(&theirs, Some(1234), Some(5678)).unwrap();
    etc
}

/// The highest `nofile` hard limit in the limits.d drop-in under `etc`
/// (0 without one), read as pam_limits reads it: lines `DOMAIN TYPE
/// nofile VALUE` of type `hard` or `-`. (No systemd drop-in here: PID 1
/// of a machine without systemd.)
fn nofile_written(etc: &Path) -> u64 {
    fs::read_to_string(etc.join("security/limits.d/90-c1m.conf"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() == 4 && f[2] == "nofile" && (f[1] == "hard" || f[1] == "-"))
        .map(|f| f[3].parse::<u64>().unwrap())
        .max()
        .unwrap_or(0)
}

fn nr_open() -> u64 {
    fs::read_to_string("/proc/sys/fs/nr_open")
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

struct Setup {
    dir: tempfile::TempDir,
    etc: PathBuf,
    state: PathBuf,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let etc = etc_copy(dir.path());
        let state = dir.path().join("state");
        Setup { dir, etc, state }
    }

    fn state(&self) -> State {
        State {
            sysctls: sysctls(),
            etc: tree(&self.etc),
        }
    }

    /// `c1m tune ARGS --etc-root … --state-dir …`, paused after write
    /// `pause` when given.
    fn tune(&self, args: &[&str], pause: Option<usize>) -> Command {
        let mut cmd = c1m();
        cmd.arg("tune")
            .args(args)
            .arg("--etc-root")
            .arg(&self.etc)
            .arg("--state-dir")
            .arg(&self.state);
        if let Some(k) = pause {
            cmd.env("C1M_TUNE_PAUSE_AFTER", k.to_string());
        }
        cmd
    }

    fn apply(&self, pause: Option<usize>) -> Running {
        spawn_cmd(self.tune(&APPLY, pause))
    }

    fn revert(&self, pause: Option<usize>) -> Running {
        spawn_cmd(self.tune(&["--revert"], pause))
    }

    /// Runs `c1m tune --revert` to its end: exit code and stdout.
    fn revert_now(&self) -> (Option<i32>, String) {
        let out = self.tune(&["--revert"], None).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code(), text)
    }
}

/// The apply the test kills: 1.2M connections and a wide port range, so
/// that it writes every sysctl it can here (`fs.file-max` included) and
/// reserves the test's listener's port first.
const APPLY: [&str; 5] = [
    "--target",
    "1200000",
    "--port-range",
    "1024-65535",
    "--apply",
];

/// Waits until `r` pauses (`true`, and kills it there) or exits (`false`,
/// with exit code 0 asserted).
fn kill_at_pause(mut r: Running, what: &str) -> bool {
    match r.wait_line_or_exit(PAUSED, LIMIT) {
        Some(_) => {
            r.child.kill().unwrap();
            r.child.wait().unwrap();
            true
        }
        None => {
            let (code, out, err) = r.finish(LIMIT);
            assert_eq!(code, Some(0), "{what}: {out}{}", err.join("\n"));
            false
        }
    }
}

#[test]
fn tune_killed_after_any_write_is_reverted_exactly() {
    let Some(root) = needs_root("writing /proc/sys (c1m tune --apply)") else {
        return;
    };
    let _heavy = heavy();
    let probe = Path::new("/proc/sys/fs/nr_open");
    root.check(
        fs::read_to_string(probe).and_then(|v| fs::write(probe, v)),
        "writing /proc/sys/fs/nr_open back unchanged",
        "run where root may write /proc/sys (a VM or host, not a container with /proc/sys read-only)",
    );
    let _guard = Guard(sysctls());
    let s = Setup::new();
    // A listener on an ephemeral port, inside the new range: reserved first.
    let _listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let before = s.state();

    // A bad pause value is refused before anything.
    let out = s
        .tune(&APPLY, None)
        .env("C1M_TUNE_PAUSE_AFTER", "x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("C1M_TUNE_PAUSE_AFTER=\"x\": not a write number")
    );
    assert_eq!(s.state(), before);

    // Apply killed after write k, for every k; then revert.
    let mut apply_writes = 0;
    for k in 1.. {
        let killed = kill_at_pause(s.apply(Some(k)), &format!("apply, pause at {k}"));
        let (nofile, ceiling) = (nofile_written(&s.etc), nr_open());
        assert!(
            nofile <= ceiling,
            "killed after write {k}: nofile {nofile} above fs.nr_open {ceiling}"
        );
        let (code, text) = s.revert_now();
        let nothing = k == 1 && code == Some(1) && text.contains("nothing to revert");
        assert!(
            code == Some(0) || nothing,
            "revert after a kill at write {k}: {text}"
        );
        assert_eq!(
            s.state(),
            before,
            "apply killed after write {k}, then reverted: {text}"
        );
        assert!(!s.state.join("tune-backup.json").exists());
        if !killed {
            apply_writes = k - 1;
            break;
        }
    }
    // The record (two steps), ≥ 4 sysctls, sysctl.d created, two files
    // (two steps each).
    assert!(apply_writes >= 2 + 4 + 1 + 4, "{apply_writes} writes");

    // Revert killed after write k, for every k; then revert again.
    let mut revert_writes = 0;
    for k in 1.. {
        assert!(!kill_at_pause(s.apply(None), "apply"));
        assert!(nr_open() > before_nr_open(&before));
        let killed = kill_at_pause(s.revert(Some(k)), &format!("revert, pause at {k}"));
        assert!(
            nofile_written(&s.etc) <= nr_open(),
            "revert killed after write {k}"
        );
        if killed {
            let (code, text) = s.revert_now();
            assert_eq!(
                code,
                Some(0),
                "revert after a revert killed at write {k}: {text}"
            );
        }
        assert_eq!(
            s.state(),
            before,
            "revert killed after write {k}, then reverted"
        );
        if !killed {
            revert_writes = k - 1;
            break;
        }
    }
    assert!(revert_writes >= 2 + 1 + 1 + 4, "{revert_writes} writes");
    println!(
        "tune killed at each of {apply_writes} apply writes and {revert_writes} revert writes: \
         {} faults injected, {} states restored exactly",
        apply_writes + revert_writes,
        apply_writes + 1 + revert_writes + 1
    );
    drop(s.dir);
}

fn before_nr_open(before: &State) -> u64 {
    before.sysctls[0]
        .1
        .as_deref()
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn two_tunes_at_once_are_one_at_a_time() {
    let Some(_root) = needs_root("writing /proc/sys (c1m tune --apply)") else {
        return;
    };
    let _heavy = heavy();
    let _guard = Guard(sysctls());
    let s = Setup::new();
    let before = s.state();

    // The first paused halfway, holding the lock: the second is refused,
    // apply or revert, naming it.
    let mut first = s.apply(Some(3));
    first.wait_line(PAUSED, LIMIT);
    let refusal = format!(
        "another `c1m tune` is changing this machine (PID {} holds /run/c1m-tune.lock): wait for it to end, \
         then run this again; nothing changed\n",
        first.pid()
    );
    let halfway = s.state();
    for args in [&APPLY[..], &["--revert"]] {
        let out = s.tune(args, None).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), refusal, "{args:?}");
        assert_eq!(s.state(), halfway, "the refused {args:?} changed something");
    }
    // Killed there, the lock goes with it.
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let (code, text) = s.revert_now();
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(s.state(), before);

    // Two started together: one applies, the other is refused (by the
    // lock, or by the first one's record if it had finished).
    let (a, b) = (s.apply(None), s.apply(None));
    let (a, b) = (a.finish(LIMIT), b.finish(LIMIT));
    let mut codes = [a.0, b.0];
    codes.sort();
    assert_eq!(codes, [Some(0), Some(1)], "{}\n{}", a.1, b.1);
    let refused = if a.0 == Some(1) { &a.1 } else { &b.1 };
    assert!(
        refused.starts_with("another `c1m tune` is changing this machine (PID ")
            || refused.contains("a previous `c1m tune --apply` is recorded"),
        "{refused}"
    );
    let (code, text) = s.revert_now();
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(s.state(), before);
}
