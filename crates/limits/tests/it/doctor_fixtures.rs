//! `doctor` on fixture machines: each binding limit, each trap, and garbage.

use crate::util::{machine, tuples};
use c1m_limits::cli::{self, DoctorArgs, TupleArgs};
use c1m_limits::num::thousands;
use c1m_limits::verdict::Status;
use c1m_limits::{Facts, Role, Row, Target, Tuples, Verdict, closing, ports, preflight, render};

fn check(case: &str, target: Target) -> Verdict {
    let m = machine(case);
    let v = preflight(&m.roots, &target);
    // Both renderings work on every case.
    let text = render::doctor_text(&v);
    assert!(text.ends_with(&format!("{}\n", v.line())), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&render::doctor_json(&v, &Facts::read(&m.roots))).unwrap();
    assert_eq!(json["schema"], "c1m.doctor/1");
    assert_eq!(json["ok"], v.ok());
    assert_eq!(json["verdict"], v.line());
    v
}

fn both(conns: u64) -> Target {
    Target::new(conns, Role::Both)
}

/// `conns` for `role` over a fixed tuple space.
fn fixed(conns: u64, role: Role, tuples: Tuples) -> Target {
    Target {
        conns,
        role,
        tuples: Some(tuples),
    }
}

fn row<'a>(v: &'a Verdict, name: &str) -> &'a Row {
    v.rows
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no row {name}"))
}

/// Row `name`'s note contains `part`.
#[track_caller]
fn assert_note(v: &Verdict, name: &str, part: &str) {
    let note = &row(v, name).note;
    assert!(note.contains(part), "{name}: {note}");
}

/// Every row named `name` (`nofile` has one per configured line).
fn rows_named<'a>(v: &'a Verdict, name: &str) -> Vec<&'a Row> {
    v.rows.iter().filter(|r| r.name == name).collect()
}

/// The binding row, checked to be `name` capped at `capacity`.
#[track_caller]
fn binds<'a>(v: &'a Verdict, name: &str, capacity: u64) -> &'a Row {
    let b = v
        .binding()
        .unwrap_or_else(|| panic!("nothing binds: {}", v.line()));
    assert_eq!(
        (b.name.as_str(), b.capacity),
        (name, Some(capacity)),
        "{}",
        v.line()
    );
    b
}

#[test]
fn this_machine_fans_out_over_per_process_fds() {
    let v = check("this-machine", both(1_000_000));
    assert!(v.ok());
    assert_eq!(
        v.line(),
        "1,000,000 connections: OK — per-process fds bind first (RLIMIT_NOFILE 20,000 hard, no CAP_SYS_RESOURCE): \
         c1m fans out to 51 server + 51 client processes"
    );
    assert_eq!(binds(&v, "RLIMIT_NOFILE", 19_936).status, Status::FansOut);
    assert_eq!(v.worker_processes(Role::Server), 51);
    assert_eq!(v.worker_processes(Role::Client), 51);
    assert_eq!(v.worker_processes(Role::Both), 102);
    assert_eq!(row(&v, "CAP_SYS_RESOURCE").value, "absent");
    assert!(v.warnings.is_empty() && v.unchecked.is_empty());
    // The nearest hard cap is memory or file-max, both above the target.
    assert!(v.max_connections().unwrap() > 1_000_000);
    // A small target fits in one process per side.
    let v = check("this-machine", both(10_000));
    assert!(v.line().starts_with(
        "10,000 connections: OK — fits in 1 server + 1 client process; nearest limit: "
    ));
}

#[test]
fn server_role_counts_one_socket_and_no_ports() {
    let v = check("this-machine", Target::new(1_000_000, Role::Server));
    assert!(
        v.line().ends_with("c1m fans out to 51 server processes"),
        "{}",
        v.line()
    );
    assert_eq!(v.worker_processes(Role::Client), 0);
    assert_note(&v, "net.ipv4.ip_local_port_range", "not port bound");
}

#[test]
fn nr_open_trap_after_reboot_is_a_warning() {
    let v = check("nr-open-trap", both(1_000_000));
    assert!(v.ok());
    let mut traps = rows_named(&v, "nofile");
    traps.retain(|r| r.status == Status::Warn);
    assert_eq!(
        traps.len(),
        2,
        "* hard and root - are traps, * soft is not: {traps:#?}"
    );
    assert!(
        traps[0]
            .note
            .contains("TRAP after reboot: fs.nr_open at boot is 1,048,576 (kernel default")
    );
    assert_eq!(v.warnings.len(), 2);
}

#[test]
fn nofile_above_live_nr_open_locks_logins_out_now() {
    let v = check("nr-open-locked", both(1_000_000));
    let r = row(&v, "nofile");
    assert_eq!(r.status, Status::Warn);
    assert!(r.note.contains(
        "TRAP: above fs.nr_open (1,048,576): pam_limits cannot set it and denies logins for *"
    ));
}

#[test]
fn ports_bind_first_on_a_narrow_range() {
    let v = check("ports-bind", fixed(10_000, Role::Client, tuples(1, 1, 1)));
    assert!(!v.ok());
    assert_eq!(
        row(&v, "net.ipv4.ip_local_port_range").value,
        "60000–60999 (900 ports)"
    );
    assert_eq!(
        v.line(),
        "10,000 connections: capped at 900 by net.ipv4.ip_local_port_range; fix: use ≥ 12 source addresses \
         (--sources), more destination ports, or a wider range: c1m tune --target 10000 --port-range 1024-65535 --apply"
    );
    // 12 sources are enough.
    let v = check("ports-bind", fixed(10_000, Role::Client, tuples(12, 1, 1)));
    assert!(v.ok(), "{}", v.line());
    // Without a fixed tuple space the range is not binding.
    let v = check("ports-bind", Target::new(10_000, Role::Client));
    assert!(v.ok());
    assert_note(
        &v,
        "net.ipv4.ip_local_port_range",
        "≥ 12 (source, destination) pairs at 900 ports each",
    );
}

#[test]
fn memory_binds_on_a_small_machine() {
    let v = check("memory-binds", both(1_000_000));
    assert!(!v.ok());
    let b = binds(&v, "MemAvailable", 134_432);
    assert!(
        v.line().starts_with(
            "1,000,000 connections: capped at 134,432 by MemAvailable; fix: free memory"
        )
    );
    assert!(b.note.contains("estimate"));
}

#[test]
fn measured_calibration_replaces_the_estimate() {
    let v = check("calibrated", both(1_000_000));
    let b = binds(&v, "MemAvailable", 262_144);
    assert!(b.note.contains(
        "2.0 KiB per socket measured by c1m over 200,000 sockets on kernel 6.1.0-test (this is "
    ));
}

#[test]
fn conntrack_binds_when_tracking() {
    let v = check("conntrack-active", both(1_000_000));
    assert!(!v.ok());
    assert!(v.line().starts_with(
        "1,000,000 connections: capped at 257,144 by net.netfilter.nf_conntrack_max; fix: raise \
         net.netfilter.nf_conntrack_max to ≥ 1,105,000"
    ));
    assert!(v.line().contains("-j NOTRACK"));
    let v = check("conntrack-nat", both(100_000));
    assert_eq!(v.binding().unwrap().capacity, Some(65_536));
    assert!(v.binding().unwrap().note.contains("iptables nat table"));
    // Loaded but idle: shown, not binding.
    let v = check("this-machine", both(1_000_000));
    assert!(
        row(&v, "net.netfilter.nf_conntrack_max")
            .note
            .starts_with("loaded, not tracking")
    );
    let v = check("conntrack-absent", both(1_000_000));
    assert_eq!(row(&v, "nf_conntrack").value, "not loaded");
}

#[test]
fn cap_sys_resource_lifts_the_per_process_limit() {
    let v = check("cap-sys-resource", both(1_000_000));
    assert!(v.ok());
    assert_eq!(v.per_process, Some(1_048_512));
    assert_eq!(v.worker_processes(Role::Both), 2);
    assert_eq!(row(&v, "CAP_SYS_RESOURCE").value, "held");
    assert_eq!(row(&v, "RLIMIT_NOFILE").value, "1,024 soft / 524,288 hard");
    assert!(
        v.line().contains("fits in 1 server + 1 client process"),
        "{}",
        v.line()
    );
    // Beyond nr_open it fans out again, naming why.
    let v = check("cap-sys-resource", Target::new(2_000_000, Role::Server));
    let want =
        "(RLIMIT_NOFILE 524,288 hard, raisable to fs.nr_open 1,048,576 with CAP_SYS_RESOURCE)";
    assert!(v.line().contains(want), "{}", v.line());
    assert_eq!(v.worker_processes(Role::Server), 2);
}

#[test]
fn file_max_binds() {
    let v = check("file-max-binds", both(1_000_000));
    assert_eq!(
        v.line(),
        "1,000,000 connections: capped at 749,000 by fs.file-max; fix: raise fs.file-max to ≥ 2,202,000: \
         c1m tune --target 1000000 --apply (writes /etc/sysctl.d/90-c1m.conf)"
    );
    assert!(
        v.binding()
            .unwrap()
            .note
            .contains("CAP_SYS_ADMIN may allocate past it")
    );
}

#[test]
fn an_rlimit_at_the_reserve_caps_at_zero() {
    let v = check("tiny-rlimit", both(1));
    assert!(!v.ok());
    assert!(v.line().starts_with(
        "1 connection: capped at 0 by RLIMIT_NOFILE; fix: raise the hard limit above 64"
    ));
}

#[test]
fn systemd_default_limit_is_read_from_drop_ins() {
    let v = check("systemd-box", both(1_000_000));
    let r = row(&v, "DefaultLimitNOFILE");
    assert_eq!(r.value, "4,096:65,536");
    assert!(r.note.contains("10-vendor.conf:2"), "{}", r.note);
    let v = check("this-machine", both(1_000_000));
    assert_note(&v, "DefaultLimitNOFILE", "systemd is not PID 1 here");
}

#[test]
fn garbage_is_reported_unreadable_never_a_crash() {
    let v = check("garbage", both(1_000_000));
    let unreadable: Vec<&str> = v
        .rows
        .iter()
        .filter(|r| r.status == Status::Unreadable)
        .map(|r| r.name.as_str())
        .collect();
    for name in [
        "fs.file-max",
        "fs.file-nr",
        "fs.nr_open",
        "RLIMIT_NOFILE",
        "CAP_SYS_RESOURCE",
        "nofile",
        "DefaultLimitNOFILE",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_local_reserved_ports",
        "MemAvailable",
        "net.ipv4.tcp_mem",
        "net.ipv4.tcp_rmem",
        "net.ipv4.tcp_wmem",
        "net.core.somaxconn",
        "net.ipv4.tcp_max_syn_backlog",
        "net.ipv4.tcp_syncookies",
        "net.netfilter.nf_conntrack_max",
        "net.ipv4.tcp_max_tw_buckets",
        "net.ipv4.tcp_max_orphans",
        "net.ipv4.tcp_tw_reuse",
        "LISTEN ports",
    ] {
        assert!(
            unreadable.contains(&name),
            "{name} should be unreadable: {unreadable:?}"
        );
    }
    assert!(
        row(&v, "fs.file-max")
            .value
            .contains("\"unlimited\" is not a number")
    );
    assert!(
        row(&v, "fs.nr_open")
            .value
            .contains("\"infinity\" is not a number")
    );
    assert!(
        row(&v, "net.ipv4.tcp_max_tw_buckets")
            .value
            .ends_with(": missing")
    );
    // limits.conf: `unlimited`/`infinity` are pam_limits' words for nr_open; garbage lines are unreadable.
    let nofile: Vec<&str> = rows_named(&v, "nofile")
        .iter()
        .map(|r| r.value.as_str())
        .collect();
    assert!(
        nofile.contains(&"root soft unlimited") && nofile.contains(&"@c1m - unlimited"),
        "{nofile:?}"
    );
    assert!(
        nofile
            .iter()
            .any(|n| n.contains("\"lots\" is not a number (pam_limits skips this line)"))
    );
    assert!(
        nofile.iter().any(|n| n.contains("x.conf")),
        "a directory named x.conf: {nofile:?}"
    );
    let facts = Facts::read(&machine("garbage").roots);
    assert!(
        facts
            .calibration
            .unreadable()
            .unwrap()
            .contains("calibration.json")
    );
    assert!(v.ok());
    assert_eq!(
        v.line(),
        "1,000,000 connections: OK as far as readable (unchecked, unreadable: fs.file-max, RLIMIT_NOFILE, MemAvailable, \
         net.netfilter.nf_conntrack_max)"
    );
}

#[test]
fn cli_doctor_exit_status_follows_the_verdict() {
    for (case, ok) in [
        ("this-machine", true),
        ("memory-binds", false),
        ("garbage", true),
    ] {
        let m = machine(case);
        let args = DoctorArgs {
            target: 1_000_000,
            role: Role::Both,
            json: case == "garbage",
            tuples: TupleArgs::default(),
            roots: m.root_args(),
        };
        let mut out = Vec::new();
        assert_eq!(cli::doctor_to(&args, &mut out).unwrap(), ok, "{case}");
        assert!(!out.is_empty());
    }
}

/// The JSON report carries every key its published schema requires, and
/// enum fields stay within the schema's values.
#[test]
fn json_report_matches_its_schema() {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schema/doctor.schema.json")).unwrap();
    for case in [
        "this-machine",
        "ports-bind",
        "garbage",
        "nr-open-trap",
        "listeners",
        "wildcard-only",
        "ehash-shared",
        "ehash-absent",
    ] {
        let m = machine(case);
        let v = preflight(&m.roots, &fixed(1_000_000, Role::Both, tuples(2, 1, 1)));
        let doc: serde_json::Value =
            serde_json::from_str(&render::doctor_json(&v, &Facts::read(&m.roots))).unwrap();
        let props = &schema["properties"];
        for key in schema["required"].as_array().unwrap() {
            assert!(
                doc.get(key.as_str().unwrap()).is_some(),
                "{case}: missing {key}"
            );
        }
        let row_schema = &props["rows"]["items"];
        for row in doc["rows"].as_array().unwrap() {
            for key in row_schema["required"].as_array().unwrap() {
                assert!(
                    row.get(key.as_str().unwrap()).is_some(),
                    "{case}: row without {key}"
                );
            }
            for field in ["group", "scope", "status", "place"] {
                let allowed = row_schema["properties"][field]["enum"].as_array().unwrap();
                assert!(
                    allowed.contains(&row[field]),
                    "{case}: {field} {} not in schema",
                    row[field]
                );
            }
        }
        for fact in [
            "listening",
            "tcp_max_orphans",
            "tcp_max_tw_buckets",
            "port_range",
        ] {
            let f = &doc["facts"][fact];
            assert!(
                f.get("value").is_some() || f.get("unreadable").is_some(),
                "{case}: facts.{fact} is {f}"
            );
        }
        assert!(
            props["target"]["properties"]["role"]["enum"]
                .as_array()
                .unwrap()
                .contains(&doc["target"]["role"])
        );
    }
}

/// The doctor's per-pair budget is the planner's: the same function of the
/// usable ports (range less reserved), shown with the same words.
#[test]
fn the_per_pair_budget_is_half_the_usable_ports() {
    let m = machine("this-machine");
    for (range, usable, budget) in [
        ("32768\t60999\n", 28_232, 14_116),
        ("1024\t65535\n", 64_512, 32_256),
        ("40000\t40998\n", 999, 499),
        ("60000\t60000\n", 1, 1),
    ] {
        m.write("proc/sys/net/ipv4/ip_local_port_range", range);
        let v = preflight(&m.roots, &Target::new(1_000_000, Role::Both));
        let r = row(&v, "per-pair budget");
        assert_eq!(r.value, thousands(budget), "{range:?}");
        assert_eq!(ports::pair_budget(usable), budget);
        assert!(
            r.note.starts_with(&ports::pair_budget_note(usable)),
            "{}",
            r.note
        );
    }
    // Reserved ports are not usable: 900 of 60000-60999 here.
    let v = check("ports-bind", Target::new(10_000, Role::Client));
    assert_eq!(row(&v, "per-pair budget").value, "450");
    // A fixed tuple space that overloads a pair is a warning, not a cap.
    let v = check(
        "this-machine",
        fixed(100_000, Role::Client, tuples(1, 1, 4)),
    );
    let r = row(&v, "per-pair budget");
    assert_eq!(r.status, Status::Warn);
    assert!(
        r.note.starts_with(
            "100,000 connections over 4 (source, destination) pairs put up to 25,000 on one pair: past 14,116"
        ) && r.note.ends_with("use ≥ 8 (source, destination) pairs (more --sources or destinations)"),
        "{}",
        r.note
    );
    assert!(
        v.warnings
            .iter()
            .any(|w| w.starts_with("per-pair budget: 100,000"))
    );
    // The server side has no budget row.
    let v = check("this-machine", Target::new(1_000_000, Role::Server));
    assert!(v.rows.iter().all(|r| r.name != "per-pair budget"));
}

#[test]
fn listeners_inside_the_range_are_a_warning() {
    let v = check("listeners", both(1_000_000));
    let r = row(&v, "LISTEN ports");
    // 6379 and 8090 are below the range, 40001 is reserved, 45000 only a
    // connected client's port: 40000 is exposed.
    assert_eq!(r.value, "4 ports listening, 1 in the range");
    assert_eq!(r.status, Status::Warn);
    assert_eq!(
        r.note,
        ports::listen_ports_warning((32768, 60999), &[(40001, 40001)], &[40000]).unwrap()
    );
    assert!(r.note.starts_with(
        "1 listen port (40000) is inside net.ipv4.ip_local_port_range 32768-60999 and not reserved"
    ));
    assert!(
        r.note
            .ends_with("sysctl -w net.ipv4.ip_local_reserved_ports=40000-40001")
    );
    assert!(
        v.warnings
            .iter()
            .any(|w| w.starts_with("LISTEN ports: 1 listen port (40000)"))
    );
    assert!(v.ok(), "a warning, not a cap");
    // No client on this box: shown, not warned about.
    let v = check("listeners", Target::new(1_000_000, Role::Server));
    assert_eq!(row(&v, "LISTEN ports").status, Status::Info);
    // This machine listens outside its range only.
    let v = check("this-machine", both(1_000_000));
    let r = row(&v, "LISTEN ports");
    assert_eq!(
        (r.status, r.value.as_str()),
        (Status::Info, "1 port listening, 0 in the range")
    );
}

#[test]
fn wildcard_nofile_lines_do_not_reach_root() {
    let m = machine("wildcard-only");
    let v = preflight(&m.roots, &both(10_000));
    let rows = rows_named(&v, "nofile");
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert_eq!(r.status, Status::Warn, "{r:?}");
        assert!(
            r.note.ends_with(
                "; `*` is not applied to root (limits.conf(5)): root needs its own `root` line"
            ),
            "{}",
            r.note
        );
    }
    assert_eq!(v.warnings.len(), 2);
    // A root line for both halves settles it.
    m.write(
        "etc/security/limits.d/60-root.conf",
        "root - nofile 100000\n",
    );
    let v = preflight(&m.roots, &both(10_000));
    assert!(v.warnings.is_empty(), "{:?}", v.warnings);
    assert!(
        rows_named(&v, "nofile")
            .iter()
            .all(|r| r.status == Status::Info && !r.note.contains("not applied to root"))
    );
    // A soft-only root line leaves `* hard` reaching nobody's root.
    m.write(
        "etc/security/limits.d/60-root.conf",
        "root soft nofile 100000\n",
    );
    let v = preflight(&m.roots, &both(10_000));
    let warned: Vec<&str> = v
        .rows
        .iter()
        .filter(|r| r.status == Status::Warn)
        .map(|r| r.value.as_str())
        .collect();
    assert_eq!(warned, ["* hard 100,000"]);
}

#[test]
fn unlimited_nofile_is_a_warning() {
    let m = machine("this-machine");
    m.write(
        "etc/security/limits.d/50-u.conf",
        "root - nofile unlimited\n",
    );
    let v = preflight(&m.roots, &both(10_000));
    let r = row(&v, "nofile");
    assert_eq!(
        (r.status, r.value.as_str()),
        (Status::Warn, "root - unlimited")
    );
    assert!(
        r.note.contains(
            "`unlimited` is not a number of descriptors: current pam_limits sets fs.nr_open (1,048,576), \
             older releases fail to set it and deny the login"
        ),
        "{}",
        r.note
    );
    assert_eq!(v.warnings.len(), 1);
}

#[test]
fn closing_tables_are_read_and_checked() {
    let m = machine("this-machine");
    let facts = Facts::read(&m.roots);
    assert_eq!(facts.tcp_max_orphans.get(), Some(131_072));
    assert_eq!(facts.tcp_max_tw_buckets.get(), Some(131_072));
    let v = check("this-machine", both(1_000_000));
    assert_note(
        &v,
        "net.ipv4.tcp_max_orphans",
        "orphans beyond it are reset",
    );
    assert_note(
        &v,
        "net.ipv4.tcp_max_tw_buckets",
        closing::TIME_WAIT_OVERFLOW,
    );
    assert!(closing::fin_close_warnings(&facts, 131_072).is_empty());
    let w = closing::fin_close_warnings(&facts, 200_000);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w[0].contains("net.ipv4.tcp_max_tw_buckets (131,072)"));
    assert!(w[1].contains("net.ipv4.tcp_max_orphans (131,072)"));
}

#[test]
fn counts_are_singular_for_one() {
    let m = machine("this-machine");
    m.write("proc/sys/net/ipv4/ip_local_port_range", "60000 60000\n");
    let v = preflight(&m.roots, &fixed(1, Role::Client, tuples(1, 1, 1)));
    let text = render::doctor_text(&v);
    assert!(
        text.starts_with("c1m doctor: 1 connection, role client: 1 socket on this box\n"),
        "{text}"
    );
    let r = row(&v, "net.ipv4.ip_local_port_range");
    assert_eq!(r.value, "60000–60000 (1 port)");
    assert_eq!(
        r.note,
        "client side: 1 port × 1 source address × 1 destination = 1"
    );
    assert!(v.line().starts_with("1 connection: OK"), "{}", v.line());
    let v = preflight(&m.roots, &fixed(3, Role::Client, tuples(2, 1, 1)));
    assert_eq!(
        row(&v, "net.ipv4.ip_local_port_range").note,
        "client side: 1 port × 2 source addresses × 1 destination = 2"
    );
    assert!(
        v.line().starts_with("3 connections: capped at 2 by net.ipv4.ip_local_port_range; fix: use ≥ 3 source addresses"),
        "{}",
        v.line()
    );
}

/// The established hash table: this machine's 262,144 buckets against
/// 1M connections on both ends (2M sockets, ~7.6 a bucket) is a slow
/// lookup with both fixes named; 10,000 connections is not.
#[test]
fn ehash_load_at_the_target_and_its_fixes() {
    let v = check("this-machine", both(1_000_000));
    let r = row(&v, "net.ipv4.tcp_ehash_entries");
    assert_eq!(r.group, c1m_limits::verdict::Group::Ehash);
    assert_eq!(r.value, "262,144 buckets (this namespace's own table)");
    assert_eq!(r.status, Status::Warn);
    assert!(!r.binds, "a long chain caps nothing");
    assert_note(&v, "net.ipv4.tcp_ehash_entries", "2,000,000 sockets");
    assert_note(&v, "net.ipv4.tcp_ehash_entries", "7.63 a bucket");
    let fix = r.fix.as_deref().unwrap();
    assert!(fix.contains("thash_entries=4194304"), "{fix}");
    assert!(fix.contains("tcp_child_ehash_entries=4194304"), "{fix}");
    assert!(fix.contains("32.0 MiB"), "{fix}");
    assert_eq!(row(&v, "net.ipv4.tcp_child_ehash_entries").value, "0");
    // The verdict is unchanged: a slow table caps nothing.
    assert!(v.ok());

    let small = check("this-machine", both(10_000));
    let r = row(&small, "net.ipv4.tcp_ehash_entries");
    assert_eq!(r.status, Status::Info);
    assert!(r.fix.is_none());

    // In a namespace that shares the host's table, the sysctl is negative.
    let shared = check("ehash-shared", both(1_000_000));
    assert_eq!(
        row(&shared, "net.ipv4.tcp_ehash_entries").value,
        "262,144 buckets (shared with the host's namespace)"
    );
    assert_note(
        &shared,
        "net.ipv4.tcp_child_ehash_entries",
        "own table of 4,194,304 buckets (32.0 MiB)",
    );

    // Before Linux 6.1 neither sysctl exists: one row says so.
    let old = check("ehash-absent", both(1_000_000));
    assert_eq!(row(&old, "net.ipv4.tcp_ehash_entries").value, "absent");
    assert_note(&old, "net.ipv4.tcp_ehash_entries", "before 6.1");
    assert!(rows_named(&old, "net.ipv4.tcp_child_ehash_entries").is_empty());
}

/// `ehash` in the JSON: this namespace's table, the load and the size
/// that keeps it at most 0.5, checked against the fixture's files.
#[test]
fn ehash_in_the_json_report() {
    for (case, buckets, own, child) in [
        ("this-machine", Some(262_144), Some(true), Some(0)),
        ("ehash-shared", Some(262_144), Some(false), Some(4_194_304)),
        ("ehash-absent", None, None, None),
    ] {
        let m = machine(case);
        let v = preflight(&m.roots, &both(1_000_000));
        let doc: serde_json::Value =
            serde_json::from_str(&render::doctor_json(&v, &Facts::read(&m.roots))).unwrap();
        let e = &doc["ehash"];
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../schema/doctor.schema.json")).unwrap();
        let keys = &schema["properties"]["ehash"]["required"];
        assert_eq!(
            e.as_object().unwrap().keys().collect::<Vec<_>>().len(),
            keys.as_array().unwrap().len()
        );
        for k in keys.as_array().unwrap() {
            assert!(e.get(k.as_str().unwrap()).is_some(), "{case}: ehash.{k}");
        }
        assert_eq!(e["buckets"].as_u64(), buckets, "{case}");
        assert_eq!(e["own"].as_bool(), own, "{case}");
        assert_eq!(e["child_setting"].as_u64(), child, "{case}");
        assert_eq!(e["sockets"], 2_000_000, "{case}");
        assert_eq!(e["suggested"], 4_194_304, "{case}");
        assert_eq!(e["suggested_bytes"], 32u64 << 20, "{case}");
        match buckets {
            Some(b) => assert_eq!(e["load"].as_f64(), Some(2_000_000.0 / b as f64)),
            None => assert!(e["load"].is_null()),
        }
    }
}
