use super::*;
use crate::plan::BindMode;
use crate::report::model::*;

use crate::report::fixtures::sample;

fn counted(server_side: u64, client_side: u64) -> KernelCount {
    KernelCount::Counted {
        server_side,
        client_side,
        client_close_wait: 0,
        took: 0.01,
    }
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
        phantoms: Some(phantoms(0, None)),
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
        timeline: vec![],
        teardown: 0.1,
        workers: Workers {
            started: 1,
            closed_cleanly: 1,
            lost: vec![],
        },
        end: End::Completed,
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

#[test]
fn a_server_alone_counts_its_own_side() {
    let mut s = sample(1.0, Phase::Hold, 0);
    s.server_established = 40;
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
    r.phantoms = Some(phantoms(96, Some(&k)));
    let v = verdict(&r);
    assert_eq!(v.exit_code, EXIT_SHORT);
    let why = v.reason.unwrap();
    assert!(
        why.contains("96 of the connections exist only on the client"),
        "{why}"
    );
    assert!(why.contains("SyncookiesSent +96"), "{why}");
}

#[test]
fn interrupts_and_dead_workers_have_their_own_codes() {
    let mut r = report(10, 10);
    r.end = End::Interrupted {
        signal: "SIGINT".into(),
    };
    assert_eq!(verdict(&r).exit_code, EXIT_INTERRUPTED);
    r.end = End::WorkerDied {
        why: "client worker 3 (pid 9) killed by SIGKILL".into(),
    };
    let v = verdict(&r);
    assert_eq!(v.exit_code, EXIT_SHORT);
    assert!(v.reason.unwrap().contains("SIGKILL"));
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
