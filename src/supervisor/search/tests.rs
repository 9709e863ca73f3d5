use super::*;
use crate::report::model::{ListenCounters, SloMiss};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn objectives() {
    let s = parse_slo("p99<50ms").unwrap();
    assert_eq!(s.quantile, 0.99);
    assert_eq!(s.max, Duration::from_millis(50));
    let tail = parse_slo("p99.9<=200ms").unwrap();
    assert!((tail.quantile - 0.999).abs() < 1e-12);
    assert_eq!(tail.to_string(), "p99.9<200.0 ms");
    assert_eq!(parse_slo("max<1s").unwrap().quantile, 1.0);
    assert_eq!(s.to_string(), "p99<50.0 ms");
    for bad in [
        "",
        "p99",
        "p99>50ms",
        "q99<50ms",
        "p0<1ms",
        "p100.5<1ms",
        "p99<soon",
        "p99<0ms",
    ] {
        let e = parse_slo(bad).unwrap_err();
        assert!(e.contains("write e.g. p99<50ms"), "{bad}: {e}");
    }
}

fn look(at: u64, failures: u64, closes: u64) -> Observation {
    Observation {
        at: ms(at),
        failures,
        closes,
        ..Default::default()
    }
}

#[test]
fn client_side_signs_break_at_once() {
    let mut s = Search::new(None);
    assert_eq!(s.observe(&look(0, 0, 0)), None);
    assert_eq!(s.observe(&look(250, 1, 0)), Some(Break::Client));
    let mut s = Search::new(None);
    assert_eq!(s.observe(&look(250, 0, 3)), Some(Break::Client));
    assert_eq!(s.observe(&look(500, 0, 9)), None, "broken once");
}

#[test]
fn an_objective_needs_enough_samples() {
    let slo = parse_slo("p99<50ms").unwrap();
    let mut s = Search::new(Some(slo));
    let mut o = look(0, 0, 0);
    o.rtt = Some((60_000, 5));
    assert_eq!(s.observe(&o), None, "too few samples");
    o.rtt = Some((40_000, 100));
    assert_eq!(s.observe(&o), None);
    o.rtt = Some((60_000, 100));
    assert_eq!(s.observe(&o), Some(Break::Slo(60_000)));
}

fn server(at: u64, accepted: u64, waiting: u64, phantoms: u64) -> Observation {
    Observation {
        at: ms(at),
        server: Some(ServerView {
            accepted,
            waiting,
            phantoms,
        }),
        ..Default::default()
    }
}

#[test]
fn a_queue_that_drains_is_a_working_server() {
    // Busy: the queue is never empty when looked at, but accepts go on.
    let mut s = Search::new(None);
    for k in 0..20 {
        assert_eq!(s.observe(&server(k * 250, k * 100, 30, 0)), None);
    }
}

#[test]
fn a_queue_that_stays_while_nothing_is_accepted_breaks() {
    let mut s = Search::new(None);
    assert_eq!(s.observe(&server(0, 100, 5, 0)), None);
    assert_eq!(s.observe(&server(250, 100, 20, 0)), None);
    assert_eq!(s.observe(&server(750, 100, 32, 0)), None);
    assert_eq!(
        s.observe(&server(1000, 100, 32, 0)),
        Some(Break::NotAccepting)
    );
}

#[test]
fn phantoms_that_last_break() {
    let mut s = Search::new(None);
    assert_eq!(s.observe(&server(0, 10, 0, 3)), None);
    assert_eq!(s.observe(&server(500, 10, 0, 0)), None, "gone: a race");
    assert_eq!(s.observe(&server(600, 10, 0, 4)), None);
    assert_eq!(s.observe(&server(1600, 10, 0, 4)), Some(Break::Phantoms));
}

#[test]
fn a_ramp_that_fit_in_the_queue_is_caught_after_it() {
    let stuck = ServerView {
        accepted: 0,
        waiting: 10,
        phantoms: 0,
    };
    let mut s = Search::new(None);
    s.settled(stuck, stuck);
    assert_eq!(s.broke(), Some(Break::NotAccepting));
    let mut s = Search::new(None);
    s.settled(
        stuck,
        ServerView {
            accepted: 10,
            waiting: 0,
            phantoms: 0,
        },
    );
    assert_eq!(s.broke(), None, "it caught up");
}

fn evidence(held: u64) -> Evidence {
    Evidence {
        held,
        ..Default::default()
    }
}

#[test]
fn a_server_cap_is_named_with_its_own_words() {
    let mut e = evidence(200);
    e.closes.fin_with_data = 193;
    e.closes.first_bytes = Some("-ERR max number of clients reached\\r\\n".into());
    let d = diagnose(&e, false);
    assert_eq!(d.limit, Limit::ServerCap);
    assert!(d.explanation.contains("holds 200"), "{}", d.explanation);
    assert!(d.explanation.contains("-ERR max number of clients reached"));
    assert!(d.explanation.contains("worker_connections"));
}

#[test]
fn a_server_that_holds_nothing_closes_everything() {
    let mut e = evidence(0);
    e.closes.fin = 50;
    let d = diagnose(&e, false);
    assert_eq!(d.limit, Limit::ServerCloses);
    assert!(
        d.explanation.contains("50 closed at once"),
        "{}",
        d.explanation
    );
}

#[test]
fn a_stalled_accept_loop_and_phantoms_are_named() {
    let mut e = evidence(100);
    e.waiting = 32;
    e.failed.add(Cause::Timeout);
    e.counters = ListenCounters {
        listen_overflows: 7,
        ..Default::default()
    };
    let d = diagnose(&e, true);
    assert_eq!(d.limit, Limit::NotAccepting);
    assert!(
        d.explanation.contains("stopped accepting at 100"),
        "{}",
        d.explanation
    );
    assert!(d.explanation.contains("32 more wait"));
    e.phantoms = 96;
    e.counters.syncookies_sent = 96;
    let d = diagnose(&e, true);
    assert_eq!(d.limit, Limit::SynCookies);
    assert!(
        d.explanation
            .contains("96 connections exist only on the client")
    );
    assert!(d.explanation.contains("SyncookiesSent +96"));
}

#[test]
fn accept_queue_overflow_needs_the_counters() {
    let mut e = evidence(17);
    e.failed.add(Cause::Timeout);
    assert_eq!(diagnose(&e, false).limit, Limit::Dropped);
    e.counters.listen_overflows = 30;
    let d = diagnose(&e, false);
    assert_eq!(d.limit, Limit::AcceptQueue);
    assert!(d.explanation.contains("ListenOverflows +30"));
}

#[test]
fn the_most_specific_cause_wins() {
    let mut e = evidence(28_000);
    e.failed.add(Cause::AddrNotAvail);
    e.closes.fin = 3;
    assert_eq!(diagnose(&e, false).limit, Limit::ClientPorts);
    let mut e = evidence(10);
    e.failed.add(Cause::Refused);
    assert_eq!(diagnose(&e, false).limit, Limit::Refused);
    let mut e = evidence(10);
    e.slo_missed = Some(SloMiss {
        objective: "p99<1.0 ms".into(),
        value_us: 5_000,
    });
    let d = diagnose(&e, false);
    assert_eq!(d.limit, Limit::Latency);
    assert!(d.explanation.contains("p99<1.0 ms"), "{}", d.explanation);
    assert_eq!(diagnose(&evidence(5), false).limit, Limit::NotReached);
}
