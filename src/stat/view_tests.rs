//! The view's arithmetic on hand-made readings: no `/proc`, no sleeping.

use super::*;
use crate::stat::fixtures::{PAGE, busy, diag, ms, quick, setup, slab};

#[test]
fn first_refresh_has_values_but_no_rates() {
    let mut t = Tracker::new(setup(), PAGE);
    t.add_diag(diag(0, 4_000));
    let v = t.refresh(quick(3, 4_002, 7, 4_005, 900_000));
    assert_eq!((v.schema, v.seq), ("c1m.stat/1", 1));
    assert_eq!(v.filter.ports, Some([8970, 8970]));
    let by = v.states.by_state.unwrap();
    assert_eq!(by.get(TcpState::Established), 4_000);
    // Request sockets read as SYN_RECV, as the kernel reports them.
    assert_eq!(by.get(TcpState::SynRecv), 2);
    assert_eq!(by.get(TcpState::NewSynRecv), 2);
    assert_eq!(v.states.total, Some(4_003));
    assert_eq!(v.states.established_per_s, None);
    assert_eq!(v.tcp.curr_estab, Some(4_002));
    assert_eq!(v.tcp.curr_estab_per_s, None);
    assert_eq!(v.tcp.mem_bytes, Some(3 * PAGE));
    assert_eq!(v.tcp.inuse6, Some(1));
    assert_eq!(v.listen.overflows.total, Some(7));
    assert_eq!(v.listen.overflows.since_start, Some(0));
    assert_eq!(v.memory.mem_available.since_start, Some(0));
    // No slabinfo read yet: nothing shown, and no error either.
    assert_eq!((v.slab.age_s, v.slab.error), (None, None));
}

#[test]
fn rates_come_from_the_last_refresh_and_deltas_from_the_first() {
    let mut t = Tracker::new(setup(), PAGE);
    t.add_diag(diag(0, 1_000));
    t.refresh(quick(0, 1_000, 5, 1_000, 900_000));
    t.refresh(quick(1_000, 3_000, 6, 3_000, 899_000));
    t.add_diag(diag(2_000, 6_000));
    let v = t.refresh(quick(2_000, 7_000, 10, 7_000, 897_000));
    assert_eq!(v.seq, 3);
    assert_eq!(v.tcp.curr_estab_per_s, Some(4_000.0));
    // Between the two netlink counts, 2 s apart.
    assert_eq!(v.states.established_per_s, Some(2_500.0));
    assert_eq!(v.listen.overflows.per_s, Some(4.0));
    assert_eq!(v.listen.overflows.since_start, Some(5));
    assert_eq!(v.memory.mem_available.since_start, Some(-3_000 * 1024));
    assert_eq!(v.memory.slab.since_start, Some(0));
}

#[test]
fn ages_say_how_old_the_slow_figures_are() {
    let mut t = Tracker::new(setup(), PAGE);
    t.add_diag(diag(0, 10));
    t.add_slab(slab(0, 16, 8, 100));
    t.refresh(quick(0, 0, 0, 100, 1));
    let v = t.refresh(quick(1_500, 0, 0, 100, 1));
    assert_eq!(v.states.age_s, Some(1.5));
    assert_eq!(v.states.took_s, Some(0.002));
    assert_eq!(v.slab.age_s, Some(1.5));
}

#[test]
fn top_ports_most_first() {
    let mut t = Tracker::new(setup(), PAGE);
    t.add_diag(diag(0, 4));
    let v = t.refresh(quick(0, 0, 0, 0, 1));
    let ports: Vec<(u16, u64)> = v
        .states
        .top_local_ports
        .iter()
        .map(|p| (p.port, p.sockets))
        .collect();
    // 8970: listener, 2 established, 2 SYN_RECV; then ties by port.
    assert_eq!(ports, [(8970, 5), (40_001, 1), (40_003, 1)]);
    assert_eq!(v.states.local_ports, Some(3));
}

#[test]
fn slab_growth_per_socket_without_the_proc_scanner() {
    let mut t = Tracker::new(setup(), PAGE);
    t.add_slab(slab(0, 1_600, 800, 1_000));
    t.refresh(quick(0, 0, 0, 1_000, 1));
    // 12,800 more TCP objects (800 slabs of 8 pages), 800 more proc
    // inodes (100 one-page slabs), for 12,800 more sockets.
    t.add_slab(slab(2_000, 14_400, 1_600, 13_800));
    let v = t.refresh(quick(2_000, 0, 0, 13_800, 1));
    let s = &v.slab;
    assert_eq!(s.error, None);
    assert_eq!((s.span_s, s.sockets), (Some(2.0), Some(12_800)));
    let tcp_bytes = 800 * 8 * PAGE as i64;
    let scan_bytes = 100 * PAGE as i64;
    assert_eq!(s.total_bytes, Some(tcp_bytes + scan_bytes));
    assert_eq!(s.per_socket_bytes, Some(2_048.0));
    let names: Vec<&str> = s.caches.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["TCP", "proc_inode_cache"]);
    let tcp = &s.caches[0];
    assert_eq!((tcp.objects, tcp.objects_delta), (Some(14_400), 12_800));
    assert_eq!(
        (tcp.bytes, tcp.bytes_delta),
        (Some(900 * 8 * PAGE), tcp_bytes)
    );
    assert_eq!(tcp.per_socket_bytes, Some(2_048.0));
    let scan = &s.caches[1];
    assert!(scan.proc_scanner && !tcp.proc_scanner);
    assert_eq!(scan.per_socket_bytes, None);
}

#[test]
fn a_shrinking_cache_has_no_per_socket_cost() {
    let mut t = Tracker::new(setup(), PAGE);
    t.add_slab(slab(0, 1_600, 1_600, 0));
    t.add_slab(slab(1_000, 14_400, 800, 12_800));
    let v = t.refresh(quick(1_000, 0, 0, 12_800, 1));
    let scan = v.slab.caches.iter().find(|c| c.proc_scanner).unwrap();
    assert_eq!(scan.bytes_delta, -100 * PAGE as i64);
    let tcp = &v.slab.caches[0];
    assert_eq!(
        (tcp.name.as_str(), tcp.per_socket_bytes),
        ("TCP", Some(2_048.0))
    );
    // The total counts the shrinking too (less the /proc scanner's).
    assert_eq!(v.slab.per_socket_bytes, Some(2_048.0));
}

#[test]
fn few_new_sockets_give_no_per_socket_figure() {
    let mut t = Tracker::new(setup(), PAGE);
    t.add_slab(slab(0, 16, 8, 100));
    t.add_slab(slab(1_000, 32, 8, 116));
    let v = t.refresh(quick(1_000, 0, 0, 116, 1));
    assert_eq!(v.slab.sockets, Some(16));
    assert_eq!(v.slab.per_socket_bytes, None);
    assert_eq!(v.slab.caches[0].per_socket_bytes, None);
    assert_eq!(v.slab.total_bytes, Some(8 * PAGE as i64));
}

#[test]
fn the_tail_folds_into_other() {
    let mut t = Tracker::new(Setup { top: 1, ..setup() }, PAGE);
    t.add_slab(slab(0, 16, 8, 0));
    t.add_slab(slab(1_000, 32, 16, 0));
    let v = t.refresh(quick(1_000, 0, 0, 0, 1));
    let rows: Vec<(&str, i64, Option<u64>)> = v
        .slab
        .caches
        .iter()
        .map(|c| (c.name.as_str(), c.bytes_delta, c.objects))
        .collect();
    assert_eq!(
        rows,
        [
            ("TCP", 8 * PAGE as i64, Some(32)),
            ("other", PAGE as i64, None)
        ]
    );
}

#[test]
fn unreadable_slabinfo_is_an_error_not_a_zero() {
    let mut t = Tracker::new(setup(), PAGE);
    let denied = "reading /proc/slabinfo needs root (permission denied)";
    t.add_slab(SlabReading {
        at: ms(0),
        slab: Err(denied.into()),
        tcp_alloc: Some(5),
    });
    let v = t.refresh(quick(0, 0, 0, 5, 1));
    assert_eq!(v.slab.error.as_deref(), Some(denied));
    assert!(v.slab.caches.is_empty());
    assert_eq!((v.slab.total_bytes, v.slab.sockets), (None, None));
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["slab"]["error"], denied);
    assert!(json["slab"]["total_bytes"].is_null());
}

#[test]
fn unreadable_files_and_failed_counts_show_as_missing() {
    let mut t = Tracker::new(setup(), PAGE);
    t.add_diag(DiagReading {
        at: ms(0),
        took: ms(1),
        counts: Err("sock_diag dump failed: Operation not permitted".into()),
    });
    let mut q = quick(0, 0, 0, 0, 1);
    q.netstat = Err("reading /proc/net/snmp: gone".into());
    q.meminfo = Err("reading /proc/meminfo: gone".into());
    let v = t.refresh(q);
    assert!(v.states.error.as_deref().unwrap().contains("not permitted"));
    assert_eq!((v.states.by_state, v.states.total), (None, None));
    assert_eq!(v.tcp.curr_estab, None);
    assert_eq!(v.tcp.errors, ["reading /proc/net/snmp: gone"]);
    assert_eq!(v.listen.overflows, Counter::default());
    assert_eq!(v.memory.mem_available, Gauge::default());
    assert!(v.memory.error.is_some());
}

#[test]
fn json_keeps_the_state_names_and_every_section() {
    let mut t = Tracker::new(setup(), PAGE);
    t.add_diag(diag(0, 2));
    let v = serde_json::to_value(t.refresh(quick(0, 2, 0, 2, 1))).unwrap();
    for key in [
        "schema",
        "seq",
        "t_s",
        "interval_s",
        "filter",
        "states",
        "tcp",
        "listen",
        "memory",
        "slab",
    ] {
        assert!(v.get(key).is_some(), "{key} missing");
    }
    let by = v["states"]["by_state"].as_object().unwrap();
    let names: Vec<&str> = by.keys().map(String::as_str).collect();
    for s in STATES {
        assert!(names.contains(&s.name()), "{}", s.name());
    }
    assert!(!names.contains(&"NEW_SYN_RECV"));
    assert_eq!(by["ESTABLISHED"], 2);
    assert_eq!(v["filter"]["families"], "both");
}

/// The published schema (`schema/stat.schema.json`) describes every key
/// of a record, busy or failing: a small checker of the keywords it uses.
#[test]
fn records_match_the_published_schema() {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schema/stat.schema.json")).unwrap();
    assert_eq!(schema["$id"], SCHEMA);
    let schema = jsonschema::draft202012::new(&schema).expect("the schema compiles");
    let check = |v: &View| {
        let json = serde_json::to_value(v).unwrap();
        let errors: Vec<String> = schema.iter_errors(&json).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:#?}\n{json:#}");
    };
    check(&busy());

    let mut t = Tracker::new(
        Setup {
            ports: None,
            ..setup()
        },
        PAGE,
    );
    t.add_diag(DiagReading {
        at: ms(0),
        took: ms(1),
        counts: Err("sock_diag dump failed".into()),
    });
    t.add_slab(SlabReading {
        at: ms(0),
        slab: Err("needs root".into()),
        tcp_alloc: None,
    });
    let mut q = quick(0, 0, 0, 0, 1);
    q.netstat = Err("gone".into());
    q.sockstat = Err("gone".into());
    q.meminfo = Err("gone".into());
    q.sockstat6 = None;
    check(&t.refresh(q));
}
