//! `tune` on fixture machines: the plan for each case, each refusal, and
//! apply → revert leaving every byte as it was (fixture /proc files are
//! plain files, so this runs without root).

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::util::{Machine, assert_same, machine, snapshot_tree, tuples};
use c1m_limits::apply::{self, ApplyError};
use c1m_limits::cli::{self, TuneArgs, TupleArgs};
use c1m_limits::tune::{self, Change, DropIn, Plan, Refusal, Request};
use c1m_limits::{Facts, Role};

fn request(conns: u64) -> Request {
    Request {
        conns,
        role: Role::Both,
        port_range: None,
        tuples: None,
    }
}

/// [`request`] with `--port-range LO-HI`.
fn request_range(conns: u64, range: (u64, u64)) -> Request {
    Request {
        port_range: Some(range),
        ..request(conns)
    }
}

fn plan_for(m: &Machine, req: &Request) -> Plan {
    tune::plan(&Facts::read(&m.roots), &m.roots.etc_root, req)
}

fn names(p: &Plan) -> Vec<&str> {
    p.changes.iter().map(|c| c.name.as_str()).collect()
}

/// The plan's change to `name`; fails naming the changes there are.
#[track_caller]
fn change<'p>(p: &'p Plan, name: &str) -> &'p Change {
    p.changes
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no change to {name} in {:?}", names(p)))
}

/// The plan's refusal of `what`; fails showing the refusals there are.
#[track_caller]
fn refusal<'p>(p: &'p Plan, what: &str) -> &'p Refusal {
    p.refusals
        .iter()
        .find(|r| r.what == what)
        .unwrap_or_else(|| panic!("no refusal of {what} in {:#?}", p.refusals))
}

/// `c1m tune` through the command line: whether it succeeded, and what it
/// printed.
fn tune_cli(args: &TuneArgs) -> (bool, String) {
    let mut out = Vec::new();
    let ok = cli::tune_to(args, &mut out).unwrap();
    (ok, String::from_utf8(out).unwrap())
}

/// Every file of `m` but its state directory (where apply keeps its
/// backup and log), for before/after equality.
fn snapshot_outside_state(m: &Machine) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    snapshot_tree(m.dir.path())
        .into_iter()
        .filter(|(p, _)| !p.starts_with(&m.roots.state_dir))
        .collect()
}

fn file(p: &Plan, d: DropIn) -> &str {
    &p.files
        .iter()
        .find(|(k, _)| *k == d)
        .unwrap_or_else(|| panic!("no {d:?} drop-in"))
        .1
}

#[test]
fn this_machine_raises_nr_open_first_and_never_lowers() {
    let m = machine("this-machine");
    let p = plan_for(&m, &request(1_000_000));
    assert_eq!(
        names(&p),
        [
            "fs.nr_open",
            "nofile (*, root)",
            "net.core.somaxconn",
            "net.ipv4.tcp_max_syn_backlog",
            "net.netfilter.nf_conntrack_max"
        ]
    );
    let nr = &p.changes[0];
    assert_eq!(
        (
            nr.current.as_str(),
            nr.proposed.as_str(),
            nr.live.as_deref()
        ),
        ("1,048,576", "2,200,000", Some("2200000"))
    );
    // file-max is already above 2.2M: kept, not lowered.
    assert!(
        p.kept
            .iter()
            .any(|(n, v, _)| n == "fs.file-max" && v == "2,466,170")
    );
    // systemd config exists, but PID 1 is not systemd: no drop-in.
    assert!(
        p.kept
            .iter()
            .any(|(n, _, why)| n == "DefaultLimitNOFILE" && why.contains("not systemd"))
    );
    assert!(!p.is_blocked());
    let rl = p
        .refusals
        .iter()
        .find(|r| r.what.starts_with("RLIMIT_NOFILE"))
        .unwrap();
    assert!(!rl.blocking);
    assert!(
        rl.reason.contains("CAP_SYS_RESOURCE")
            && rl.reason.contains("fans out")
            && rl.reason.contains("51 per side")
    );
    let sysctl = file(&p, DropIn::Sysctl);
    let first = sysctl.lines().find(|l| !l.starts_with('#')).unwrap();
    assert_eq!(
        first, "fs.nr_open = 2200000",
        "nr_open comes first:\n{sysctl}"
    );
    assert!(file(&p, DropIn::Limits).contains("root  hard  nofile  2200000\n"));
    // The sysctl drop-in is written before the limits one.
    assert_eq!(p.files[0].0, DropIn::Sysctl);
}

#[test]
fn the_trap_is_closed_by_persisting_nr_open() {
    // nr_open raised by hand (2.1M live, 1M at boot) under a 2M nofile.
    let m = machine("nr-open-trap");
    let p = plan_for(&m, &request(100_000));
    let nr = change(&p, "fs.nr_open");
    assert_eq!(nr.current, "2,100,000 (at boot 1,048,576)");
    assert_eq!(nr.live, None, "live is already enough");
    assert!(file(&p, DropIn::Sysctl).contains("fs.nr_open = 2100000\n"));
    // nofile above live nr_open now: nr_open is raised to cover the existing line.
    let m = machine("nr-open-locked");
    let p = plan_for(&m, &request(100_000));
    let nr = change(&p, "fs.nr_open");
    assert_eq!(nr.live.as_deref(), Some("2000000"));
    assert!(
        nr.why
            .contains("highest nofile hard limit already configured (2,000,000)")
    );
}

#[test]
fn refuses_what_would_lock_logins_out() {
    let m = machine("nr-open-overridden");
    let p = plan_for(&m, &request(1_000_000));
    assert!(p.is_blocked());
    let r = refusal(&p, "fs.nr_open");
    assert!(r.blocking);
    assert!(
        r.reason
            .contains("95-vendor.conf:2 sets it to 1048576 after 90-c1m.conf"),
        "{}",
        r.reason
    );
    let before = snapshot_tree(m.dir.path());
    let err = apply::apply(&p, &m.roots).unwrap_err();
    assert!(matches!(err, ApplyError::Refused(_)));
    assert!(err.to_string().contains("lock logins out"));
    assert_same(&before, &snapshot_tree(m.dir.path()));
}

#[test]
fn refuses_without_root_and_past_the_largest_nr_open() {
    let m = machine("not-root");
    let p = plan_for(&m, &request(1_000_000));
    let r = refusal(&p, "--apply");
    assert!(r.blocking && r.reason.contains("needs root (euid 1000)"));
    let m = machine("this-machine");
    let p = plan_for(&m, &request(1_000_000_000));
    assert!(p.is_blocked() && p.changes.is_empty());
    assert!(p.refusals[0].reason.contains("largest fs.nr_open"));
}

#[test]
fn garbage_blocks_apply_without_crashing() {
    let m = machine("garbage");
    let p = plan_for(&m, &request(1_000_000));
    assert!(p.is_blocked());
    let whats: Vec<&str> = p.refusals.iter().map(|r| r.what.as_str()).collect();
    assert!(
        whats.contains(&"--apply") && whats.contains(&"fs.nr_open"),
        "{whats:?}"
    );
    assert!(
        p.refusals
            .iter()
            .any(|r| r.what == "fs.file-max" && !r.blocking),
        "never raises what it cannot read"
    );
}

#[test]
fn port_range_only_when_asked_and_sane() {
    let m = machine("this-machine");
    let p = plan_for(&m, &request_range(1000, (1024, 65535)));
    let c = change(&p, "net.ipv4.ip_local_port_range");
    assert_eq!(
        (c.current.as_str(), c.live.as_deref()),
        ("32768-60999", Some("1024 65535"))
    );
    assert!(file(&p, DropIn::Sysctl).contains("net.ipv4.ip_local_port_range = 1024 65535\n"));
    let p = plan_for(&m, &request_range(1000, (80, 9000)));
    assert!(p.is_blocked());
    assert!(!names(&plan_for(&m, &request(1000))).contains(&"net.ipv4.ip_local_port_range"));
}

#[test]
fn systemd_drop_in_only_where_systemd_runs() {
    let m = machine("systemd-box");
    let p = plan_for(&m, &request(1_000_000));
    assert!(file(&p, DropIn::Systemd).contains("[Manager]\nDefaultLimitNOFILE=4096:2200000\n"));
}

/// Apply then revert on a fixture copy; every byte of proc/ and etc/ comes back.
fn apply_then_revert(m: &Machine, req: &Request) {
    let before_proc = snapshot_tree(&m.roots.proc_root);
    let before_etc = snapshot_tree(&m.roots.etc_root);
    let p = plan_for(m, req);
    let log = apply::apply(&p, &m.roots).unwrap();
    assert!(log.last().unwrap().contains("c1m tune --revert"));
    for (name, value) in p.live_writes() {
        let now = c1m_probe::sysctl::read(&m.roots.proc_root, name).unwrap();
        assert_eq!(now, value, "{name}");
    }
    for (d, text) in &p.files {
        assert_eq!(
            &fs::read_to_string(d.path(&m.roots.etc_root)).unwrap(),
            text
        );
    }
    assert!(matches!(
        apply::apply(&p, &m.roots),
        Err(ApplyError::BackupExists(_))
    ));
    apply::revert(&m.roots).unwrap();
    assert_same(&before_proc, &snapshot_tree(&m.roots.proc_root));
    assert_same(&before_etc, &snapshot_tree(&m.roots.etc_root));
    assert!(!m.roots.backup_path().exists());
    assert!(matches!(
        apply::revert(&m.roots),
        Err(ApplyError::NoBackup(_))
    ));
}

#[test]
fn apply_and_revert_restore_every_byte() {
    apply_then_revert(&machine("this-machine"), &request(1_100_000));
    apply_then_revert(&machine("systemd-box"), &request(1_000_000));
    apply_then_revert(
        &machine("nr-open-trap"),
        &request_range(500_000, (1024, 65535)),
    );
}

#[test]
fn revert_restores_a_drop_in_that_was_there_with_its_mode() {
    let m = machine("this-machine");
    m.write(
        "etc/sysctl.d/90-c1m.conf",
        "# someone else's\nvm.swappiness = 10\n",
    );
    let path = m.path("etc/sysctl.d/90-c1m.conf");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    apply_then_revert(&m, &request(1_000_000));
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn a_failed_apply_restores_what_it_changed() {
    let m = machine("this-machine");
    // A directory squats on the limits drop-in's temporary name: that write
    // fails after the live sysctls and the sysctl drop-in were written.
    fs::create_dir_all(m.path("etc/security/limits.d/.90-c1m.conf.c1m-tmp")).unwrap();
    let before = snapshot_tree(m.dir.path());
    let p = plan_for(&m, &request(1_000_000));
    let err = apply::apply(&p, &m.roots).unwrap_err().to_string();
    assert!(
        err.contains("everything already changed was restored"),
        "{err}"
    );
    assert_same(&before, &snapshot_outside_state(&m));
}

#[test]
fn cli_tune_shows_a_diff_and_applies_and_reverts() {
    let m = machine("this-machine");
    let roots = m.root_args();
    let args = |apply: bool, revert: bool| TuneArgs {
        target: (!revert).then_some(1_000_000),
        role: Role::Both,
        port_range: None,
        tuples: TupleArgs::default(),
        apply,
        revert,
        roots: roots.clone(),
    };
    let before = snapshot_tree(m.dir.path());
    let (ok, text) = tune_cli(&args(false, false));
    assert!(ok, "{text}");
    assert!(
        text.contains("fs.nr_open") && text.contains("1,048,576 → 2,200,000"),
        "{text}"
    );
    assert!(
        text.contains("(absent)\n+++ ") && text.contains("+fs.nr_open = 2200000\n"),
        "{text}"
    );
    assert!(
        text.ends_with("dry run: nothing changed; run again with --apply (as root) to write it\n")
    );
    assert_same(&before, &snapshot_tree(m.dir.path()));
    let (ok, text) = tune_cli(&args(true, false));
    assert!(ok, "{text}");
    let (ok, text) = tune_cli(&args(true, false));
    assert!(!ok, "second apply refused: {text}");
    assert!(text.contains("run `c1m tune --revert` first"), "{text}");
    let (ok, text) = tune_cli(&args(false, true));
    assert!(ok, "{text}");
    let (ok, text) = tune_cli(&args(false, true));
    assert!(!ok, "nothing left to revert: {text}");
    assert_same(&before, &snapshot_outside_state(&m));
}

#[test]
fn nothing_to_change_writes_nothing() {
    let m = machine("this-machine");
    m.write("proc/sys/net/core/somaxconn", "65535\n");
    m.write("proc/sys/net/ipv4/tcp_max_syn_backlog", "65535\n");
    m.write(
        "etc/security/limits.d/10-site.conf",
        "* - nofile 100000\nroot - nofile 100000\n",
    );
    let before = snapshot_tree(m.dir.path());
    let p = plan_for(&m, &request(1000));
    assert!(p.changes.is_empty(), "{:#?}", p.changes);
    assert_eq!(
        apply::apply(&p, &m.roots).unwrap(),
        ["nothing to change: every setting is already enough"]
    );
    assert_same(&before, &snapshot_tree(m.dir.path()));
}

#[test]
fn widening_the_range_reserves_the_ports_listening_in_it() {
    // Listening: 6379 and 8090 (below today's range), 40000, 40001
    // (reserved already); 45000 is a connected client's port.
    let m = machine("listeners");
    let req = request_range(1000, (1024, 65535));
    let p = plan_for(&m, &req);
    assert!(!p.is_blocked(), "{:#?}", p.refusals);
    let at = |name: &str| p.changes.iter().position(|c| c.name == name).unwrap();
    let reserved = change(&p, "net.ipv4.ip_local_reserved_ports");
    assert_eq!(
        (
            reserved.current.as_str(),
            reserved.proposed.as_str(),
            reserved.live.as_deref()
        ),
        (
            "40001",
            "6379,8090,40000-40001",
            Some("6379,8090,40000-40001")
        )
    );
    assert!(
        reserved
            .why
            .starts_with("3 ports LISTEN now inside the new range (6379,8090,40000)"),
        "{}",
        reserved.why
    );
    assert!(
        at("net.ipv4.ip_local_reserved_ports") < at("net.ipv4.ip_local_port_range"),
        "reserved before the range widens"
    );
    let why = &change(&p, "net.ipv4.ip_local_port_range").why;
    assert!(
        why.starts_with(
            "64,508 ports per (source, destination) pair, as asked (connect() slows past 32,254 per pair)"
        ),
        "{why}"
    );
    let sysctl = file(&p, DropIn::Sysctl);
    let reserved_line = sysctl
        .find("net.ipv4.ip_local_reserved_ports = 6379,8090,40000-40001\n")
        .unwrap();
    assert!(
        reserved_line
            < sysctl
                .find("net.ipv4.ip_local_port_range = 1024 65535\n")
                .unwrap()
    );
    // Applied, the live list is the merged one; reverted, every byte is back.
    apply_then_revert(&m, &req);
    // A range that covers no listener reserves nothing.
    let p = plan_for(&m, &request_range(1000, (50000, 60999)));
    assert!(!names(&p).contains(&"net.ipv4.ip_local_reserved_ports"));
    // Listeners unreadable: the range is still proposed, the gap is said.
    m.write("proc/net/tcp", "garbage\n");
    let p = plan_for(&m, &req);
    let r = refusal(&p, "net.ipv4.ip_local_reserved_ports");
    assert!(
        !r.blocking && r.reason.contains("reserve them by hand"),
        "{}",
        r.reason
    );
    assert!(names(&p).contains(&"net.ipv4.ip_local_port_range"));
}

#[test]
fn a_range_too_small_for_the_target_is_refused_with_the_arithmetic() {
    let m = machine("this-machine");
    let req = Request {
        role: Role::Client,
        tuples: Some(tuples(1, 1, 1)),
        ..request_range(100_000, (60000, 60999))
    };
    let p = plan_for(&m, &req);
    assert!(p.is_blocked());
    let r = refusal(&p, "--port-range 60000-60999");
    assert_eq!(
        r.reason,
        "too small for 100,000 connections: 1,000 ports × 1 source address × 1 destination = 1,000; they need \
         ≥ 100 (source, destination) pairs at 1,000 ports each: with 1 destination that is ≥ 100 source \
         addresses (--sources), or add destinations, or widen the range"
    );
    assert!(!names(&p).contains(&"net.ipv4.ip_local_port_range"));
    // Enough pairs: proposed, with the arithmetic.
    let p = plan_for(
        &m,
        &Request {
            tuples: Some(tuples(25, 1, 4)),
            ..req
        },
    );
    assert!(!p.is_blocked(), "{:#?}", p.refusals);
    let why = &change(&p, "net.ipv4.ip_local_port_range").why;
    assert!(
        why.ends_with(
            "1,000 ports × 25 source addresses × 4 destinations = 100,000, enough for 100,000 connections"
        ),
        "{why}"
    );
    // No fixed tuple space: proposed, saying how many pairs it takes.
    let p = plan_for(
        &m,
        &Request {
            tuples: None,
            ..req
        },
    );
    let why = &change(&p, "net.ipv4.ip_local_port_range").why;
    assert!(
        why.contains(
            "100,000 connections need ≥ 100 (source, destination) pairs (200 to keep connect() fast)"
        ),
        "{why}"
    );
    // The same through the command line.
    let args = TuneArgs {
        target: Some(100_000),
        role: Role::Client,
        port_range: Some((60000, 60999)),
        tuples: TupleArgs {
            sources: Some(1),
            ..TupleArgs::default()
        },
        apply: false,
        revert: false,
        roots: m.root_args(),
    };
    let (ok, text) = tune_cli(&args);
    assert!(ok, "{text}");
    assert!(
        text.contains("--port-range 60000-60999 [--apply refuses]: too small for 100,000 connections: 1,000 ports"),
        "{text}"
    );
    assert!(text.ends_with("dry run: nothing changed; --apply would refuse (see above)\n"));
}
