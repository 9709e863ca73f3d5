use super::*;
use crate::plan::BindMode;
use crate::report::model::*;

use crate::report::fixtures::{counted as counted_among, sample};

/// A count where every socket on the endpoints is c1m's.
fn counted(server_side: u64, client_side: u64) -> KernelCount {
    counted_among(server_side, client_side, server_side, client_side)
}

/// A connect report to a local server: `target`, `at_end` held.
fn report(target: u64, at_end: u64) -> Report {
    Report {
        schema: SCHEMA.into(),
        command: CommandKind::Connect,
        label: "connect".into(),
        origin: crate::report::fixtures::origin("client-1"),
        merged: None,
        plan: crate::plan::Plan {
            conns: target,
            sources: vec![],
            bind: BindMode::None,
            endpoints: vec!["127.0.0.1:6379".parse().unwrap()],
            pairs: 1,
            per_pair_max: target,
            capacity: 28_232,
            capacity_why: String::new(),
            clients: vec![],
            servers: vec![],
            warnings: vec![],
        },
        target,
        held: Held {
            reached: target,
            at_end,
            source: CountSource::Kernel,
            min_during_hold: Some(at_end),
        },
        time_to_reach: Some(1.0),
        kernel: KernelCounts {
            at_top: counted(at_end, target),
            at_end: counted(at_end, at_end),
        },
        server_side: ServerSide {
            seen: Seen::Local,
            established: Some(at_end),
            accepted: Some(at_end),
            waiting: Some(0),
            listeners: vec![],
        },
        phantoms: Some(phantoms(0, None, false)),
        listen_counters: Some(ListenCounters::default()),
        closes: Closes::default(),
        clients: Default::default(),
        servers: Default::default(),
        clients_at_top: Default::default(),
        servers_at_top: Default::default(),
        memory: None,
        traffic: None,
        latency: LatencyReport::default(),
        find_limit: None,
        tls: None,
        websocket: None,
        timeline: vec![],
        teardown: 0.1,
        workers: Workers {
            started: 1,
            closed_cleanly: 1,
            killed: 0,
            lost: vec![],
        },
        end: End::Completed,
        thresholds: Vec::new(),
        stages: None,
        reconnect: None,
        server_closes: Vec::new(),
        verdict: Verdict {
            ok: true,
            exit_code: 0,
            reason: None,
        },
    }
}

#[test]
fn held_counts_the_kernel_at_the_end_and_the_lowest_sample() {
    let tl = vec![
        sample(0.25, Phase::Ramp, 300),
        sample(0.5, Phase::Ramp, 393),
        sample(0.75, Phase::Hold, 250),
        sample(1.0, Phase::Hold, 201),
    ];
    let h = held(
        CommandKind::Connect,
        &tl,
        &counted(0, 380),
        &counted(0, 200),
        201,
    );
    assert_eq!(h.reached, 393);
    assert_eq!(h.at_end, 200);
    assert_eq!(h.source, CountSource::Kernel);
    assert_eq!(h.min_during_hold, Some(200), "the end is part of the hold");
    let h = held(
        CommandKind::Connect,
        &tl[..2],
        &KernelCount::NotTaken,
        &KernelCount::Unavailable { reason: "x".into() },
        390,
    );
    assert_eq!((h.at_end, h.source), (390, CountSource::Workers));
    assert_eq!(h.min_during_hold, None, "no hold, no minimum");
}

/// The bug this guards against: another process's 3,000 connections to
/// the same server were counted as c1m's (it reported 5,000 of 2,000).
#[test]
fn held_counts_c1ms_own_sockets_not_everyones_on_the_endpoints() {
    let tl = vec![
        sample(0.5, Phase::Ramp, 2_000),
        sample(1.0, Phase::Hold, 2_000),
    ];
    let top = counted_among(0, 2_000, 5_000, 5_000);
    let end = counted_among(0, 1_990, 4_990, 4_990);
    let h = held(CommandKind::Connect, &tl, &top, &end, 2_000);
    assert_eq!((h.reached, h.at_end), (2_000, 1_990));
    assert_eq!(h.source, CountSource::Kernel);
    assert_eq!(end.others(CommandKind::Connect), Some(3_000));
    // A server alone: the sockets on its port that its workers do not
    // hold (an accept queue, another server sharing the port) are not its.
    let serve = counted_among(1_500, 0, 1_600, 1_600);
    let h = held(CommandKind::Serve, &[], &serve, &serve, 0);
    assert_eq!(h.at_end, 1_500);
    assert_eq!(serve.others(CommandKind::Serve), Some(100));
    // Mid-ramp: 1,117 of c1m's own were SYN-SENT when its workers
    // answered and ESTABLISHED when netlink read; they are not others'.
    let mut mid = counted_among(0, 5_000, 6_117, 6_117);
    if let KernelCount::Counted {
        client_own_other, ..
    } = &mut mid
    {
        *client_own_other = 1_117;
    }
    assert_eq!(mid.others(CommandKind::Connect), Some(0));
}

#[test]
fn own_sockets_are_both_ends_of_c1ms_connections_and_no_others() {
    // run: both ends c1m's.
    assert_eq!(counted(1_000, 1_000).own_sockets(), Some(2_000));
    // connect to a local server that 3,000 others use too: ours and the
    // server's end of each of ours.
    assert_eq!(
        counted_among(0, 2_000, 5_000, 5_000).own_sockets(),
        Some(4_000)
    );
    // a remote server: the client ends only.
    assert_eq!(counted_among(0, 2_000, 0, 2_500).own_sockets(), Some(2_000));
    // serve, its clients on this host: both ends.
    assert_eq!(
        counted_among(1_500, 0, 1_500, 1_500).own_sockets(),
        Some(3_000)
    );
    assert_eq!(KernelCount::NotTaken.own_sockets(), None);
}

#[test]
fn waiting_connections_count_against_c1m_when_others_share_the_server() {
    let s = ServerSide {
        seen: Seen::Local,
        established: Some(5_000),
        accepted: Some(4_500),
        waiting: Some(500),
        listeners: vec![],
    };
    // 2,000 of c1m's, 3,000 others': whose 500 wait is unknown, so c1m
    // is credited with 1,500 (low, never high).
    assert_eq!(held_by_server(2_000, &s), 1_500);
    let remote = ServerSide {
        seen: Seen::Remote,
        established: None,
        accepted: None,
        waiting: None,
        listeners: vec![],
    };
    assert_eq!(held_by_server(2_000, &remote), 2_000);
}

#[test]
fn a_server_alone_counts_its_own_side() {
    let mut s = sample(1.0, Phase::Hold, 0);
    s.server_established = Some(40);
    let h = held(
        CommandKind::Serve,
        &[s],
        &KernelCount::NotTaken,
        &counted(37, 0),
        40,
    );
    assert_eq!((h.reached, h.at_end), (40, 37));
}

#[test]
fn the_target_held_at_the_end_is_ok() {
    let r = report(100, 100);
    assert_eq!(
        verdict(&r),
        Verdict {
            ok: true,
            exit_code: 0,
            reason: None
        }
    );
}

/// Every connection held, but the server answers heartbeats with
/// something else than --expect: not OK.
#[test]
fn replies_that_do_not_match_expect_fail() {
    let mut r = report(100, 100);
    r.traffic = Some(crate::report::model::TrafficSummary {
        mode: crate::traffic::Mode::Heartbeat,
        interval_ms: 1000,
        message: "PING\\r\\n".into(),
        expect: Some("+PONG\\r\\n".into()),
        offered: None,
    });
    r.clients.replies = 84;
    assert!(verdict(&r).ok, "every reply matched");
    r.clients.replies = 0;
    r.clients.mismatched = 84;
    let v = verdict(&r);
    assert_eq!((v.ok, v.exit_code), (false, EXIT_SHORT));
    assert!(
        v.reason
            .as_deref()
            .unwrap()
            .starts_with("84 of 84 answers did not start with --expect \"+PONG\\r\\n\""),
        "{v:?}"
    );
    // Without --expect any bytes are a reply: nothing to mismatch.
    r.traffic.as_mut().unwrap().expect = None;
    assert!(verdict(&r).ok);
}

#[test]
fn fewer_held_at_the_end_fails_with_the_closes_named() {
    let mut r = report(400, 200);
    r.closes = Closes {
        fin: 0,
        fin_with_data: 200,
        rst: 0,
        first_bytes: Some("-ERR max number of clients reached\\r\\n".into()),
    };
    let v = verdict(&r);
    assert_eq!(v.exit_code, EXIT_SHORT);
    let why = v.reason.unwrap();
    assert!(why.starts_with("held 200 of 400 at the end"), "{why}");
    assert!(why.contains("-ERR max number of clients reached"), "{why}");
}

#[test]
fn connections_waiting_in_the_accept_queue_are_not_held() {
    let mut r = report(10, 10);
    r.server_side.accepted = Some(0);
    r.server_side.waiting = Some(10);
    let v = verdict(&r);
    assert_eq!(v.exit_code, EXIT_SHORT);
    assert!(v.reason.unwrap().contains("10 wait unaccepted"));
}

#[test]
fn phantoms_fail_even_when_the_count_looks_full() {
    let mut r = report(100, 100);
    let k = ListenCounters {
        syncookies_sent: 96,
        listen_overflows: 96,
        ..Default::default()
    };
    r.phantoms = Some(phantoms(96, Some(&k), false));
    let v = verdict(&r);
    assert_eq!(v.exit_code, EXIT_SHORT);
    let why = v.reason.unwrap();
    assert!(
        why.contains("96 of the connections exist only on the client"),
        "{why}"
    );
    assert!(why.contains("SyncookiesSent +96"), "{why}");
}

/// ESTABLISHED on the client only, with the listen counters read and
/// showing no SYN cookie and no drop and no accept queue full: the
/// server's kernel lost none, they were handshakes under way while the
/// sides were read (a `serve` whose hold ended mid-ramp). Not phantoms:
/// no backlog fix, no failed verdict.
#[test]
fn handshakes_under_way_are_not_phantoms() {
    let quiet = ListenCounters::default();
    let p = phantoms(11, Some(&quiet), false);
    assert_eq!((p.count, p.under_way), (0, 11));
    assert_eq!((p.cause, p.fix), (None, None));
    let mut r = report(100, 100);
    r.phantoms = Some(phantoms(11, Some(&quiet), false));
    assert_eq!(verdict(&r).exit_code, EXIT_OK);
    // A full accept queue, a drop, or counters not read: phantoms.
    assert_eq!(phantoms(11, Some(&quiet), true).count, 11);
    assert_eq!(phantoms(11, None, false).count, 11);
    let dropped = ListenCounters {
        listen_drops: 1,
        ..Default::default()
    };
    let p = phantoms(11, Some(&dropped), false);
    assert_eq!((p.count, p.under_way), (11, 0));
    assert!(p.fix.unwrap().contains("listen backlog"));
}

#[test]
fn interrupts_and_dead_workers_have_their_own_codes() {
    let mut r = report(10, 10);
    r.end = End::Interrupted {
        signal: "SIGINT".into(),
        during: None,
    };
    assert_eq!(verdict(&r).exit_code, EXIT_INTERRUPTED);
    r.end = End::WorkerDied {
        why: "client worker 3 (pid 9) killed by SIGKILL".into(),
        during: Some(Stage::Hold),
    };
    let v = verdict(&r);
    assert_eq!(v.exit_code, EXIT_SHORT);
    assert_eq!(
        v.reason.as_deref(),
        Some("stopped: client worker 3 (pid 9) killed by SIGKILL during the hold")
    );
}

/// 128 + the signal's number, as a shell reports a process it killed.
#[test]
fn each_signal_has_its_own_exit_code_and_the_reason_names_the_stage() {
    let mut r = report(10, 10);
    for (signal, code, stage, words) in [
        ("SIGINT", 130, Stage::Ramp, "during the ramp"),
        ("SIGTERM", 143, Stage::StartUp, "at start-up"),
        ("SIGINT", 130, Stage::Teardown, "during teardown"),
    ] {
        r.end = End::Interrupted {
            signal: signal.into(),
            during: Some(stage),
        };
        let v = verdict(&r);
        assert_eq!(v.exit_code, code, "{signal}");
        assert_eq!(
            v.reason.as_deref(),
            Some(format!("interrupted by {signal} {words}").as_str())
        );
    }
    assert_eq!(EXIT_TERMINATED, 128 + 15);
    assert_eq!(EXIT_INTERRUPTED, 128 + 2);
}

#[test]
fn a_search_that_found_its_limit_is_ok() {
    let mut r = report(10_000, 200);
    r.command = CommandKind::FindLimit;
    r.find_limit = Some(FindLimit {
        break_point: 200,
        peak: 223,
        slo: None,
        diagnosis: Diagnosis {
            limit: Limit::ServerCap,
            explanation: "…".into(),
        },
        evidence: Evidence::default(),
    });
    assert!(verdict(&r).ok);
}

/// The doctor learns the kernel cost per socket only from a reading that
/// agrees with the sockets held.
#[test]
fn only_a_clean_reading_calibrates() {
    let clean = crate::report::fixtures::fixture("run-fanout")
        .memory
        .unwrap();
    let per = calibration(&clean).expect("a clean 40,000-socket run calibrates");
    assert_eq!(Some(per), clean.kernel_per_socket());
    assert!((2_000.0..8_000.0).contains(&per), "{per}");
    // Another run's sockets on the same kernel: twice the TCP objects.
    let mut busy = clean.clone();
    for c in busy.slab_caches.iter_mut().filter(|c| c.name == "TCP") {
        c.objects *= 2;
    }
    assert_eq!(calibration(&busy), None);
    // Too few sockets, no per-cache figures (not root), a negative cost.
    let small = Memory {
        sockets: CALIBRATION_MIN_SOCKETS - 1,
        ..clean.clone()
    };
    assert_eq!(calibration(&small), None);
    let unreadable = Memory {
        slab_caches: vec![],
        slab_unreadable: Some("reading /proc/slabinfo needs root".into()),
        ..clean.clone()
    };
    assert_eq!(calibration(&unreadable), None);
    let negative = Memory {
        slab_caches_total: clean.slab_caches_total.map(|t| -t),
        ..clean
    };
    assert_eq!(calibration(&negative), None);
}

/// `report` judged against `texts` (`--fail-if`).
fn gated(mut r: Report, texts: &[&str]) -> Verdict {
    let ts = texts
        .iter()
        .map(|t| crate::threshold::parse(t).unwrap())
        .collect();
    r.thresholds = crate::report::gate::judge(&crate::threshold::Gate::new(ts, false), &r);
    verdict(&r)
}

#[test]
fn a_held_threshold_says_how_many_are_enough() {
    // 1,500 of 2,000: short by the run's own rule…
    let short = report(2000, 1500);
    assert_eq!(verdict(&short).exit_code, EXIT_SHORT);
    // …enough by the threshold's, which replaces it.
    let v = gated(short.clone(), &["held<70%"]);
    assert_eq!((v.ok, v.exit_code, v.reason), (true, EXIT_OK, None));
    let v = gated(short.clone(), &["held<80%"]);
    assert_eq!((v.ok, v.exit_code), (false, 3));
    assert_eq!(
        v.reason.unwrap(),
        "--fail-if held<80%: 1,500 of 2,000 (75%) held at the end (the kernel's count, no more than the server application accepted)"
    );
    // Another threshold leaves the run's own rule in force, named after it.
    let v = gated(short.clone(), &["errors>0", "reached<1"]);
    assert_eq!(v.exit_code, EXIT_SHORT);
    let v = gated(short, &["reached<=100%"]);
    assert_eq!(v.exit_code, 3);
    assert_eq!(
        v.reason.unwrap(),
        "--fail-if reached<=100%: 2,000 of 2,000 (100%) most held at once; and held 1,500 of 2,000 at the end: 500 were held earlier (most at once: 2,000) and are gone"
    );
}

#[test]
fn the_lowest_failed_familys_code_wins_unless_the_run_did_not_finish() {
    let mut r = report(2000, 2000);
    r.time_to_reach = Some(0.5);
    let all = ["connect_rate<10k/s", "errors>=0", "closes>=0"];
    assert_eq!(gated(r.clone(), &all).exit_code, 5);
    let v = gated(r.clone(), &["connect_rate<10k/s"]);
    assert_eq!(v.exit_code, 6);
    assert!(
        v.reason
            .unwrap()
            .starts_with("--fail-if connect_rate<10k/s: 4,000/s on average")
    );
    assert_eq!(gated(r.clone(), &["connect_rate<1k/s"]).exit_code, EXIT_OK);
    // Not measured is a failure: no round trip was timed.
    assert_eq!(gated(r.clone(), &["p99(rtt)>1s"]).exit_code, 4);
    assert_eq!(
        gated(r.clone(), &["p99(rtt)>1s", "min_held<=100%"]).exit_code,
        3
    );
    r.end = End::Interrupted {
        signal: "SIGINT".into(),
        during: None,
    };
    assert_eq!(gated(r.clone(), &all).exit_code, EXIT_INTERRUPTED);
    r.end = End::WorkerDied {
        why: "client worker 1 was killed".into(),
        during: None,
    };
    assert_eq!(gated(r, &all).exit_code, EXIT_SHORT);
}
