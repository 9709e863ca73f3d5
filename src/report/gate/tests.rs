use super::*;
use crate::report::fixtures::{fixture, sample};
use crate::report::judge;
use crate::report::model::{End, Phase};
use crate::threshold::{Trip, parse};

fn gate(texts: &[&str]) -> Gate {
    Gate::new(texts.iter().map(|t| parse(t).unwrap()).collect(), false)
}

/// Each metric of a 2,000-connection heartbeat run (the fixture's
/// figures: 2,000 held, p99 rtt 5,375 µs over 12,093, 4 lost of 12,093
/// sent, 0.0425 s to reach), judged on both sides of its figure.
#[test]
fn each_metric_is_read_from_its_figure() {
    let r = fixture("run-heartbeat");
    use ThresholdStatus::*;
    for (text, status, value) in [
        ("held<100%", Pass, 100.0),
        ("held<2001", Fail, 2000.0),
        ("held<=2000", Fail, 2000.0),
        ("reached<2000", Pass, 2000.0),
        ("min_held<99.9%", Pass, 100.0),
        ("errors>0", Pass, 0.0),
        ("errors>=0%", Fail, 0.0),
        ("closes>0", Pass, 0.0),
        ("lost>3", Fail, 4.0),
        ("lost>0.1%", Pass, 100.0 * 4.0 / 12_093.0),
        ("phantoms>0", Pass, 0.0),
        ("p99(rtt)>5ms", Fail, 5375.0),
        ("p99(rtt)>5.375ms", Pass, 5375.0),
        ("max(rtt)>=12415us", Fail, 12_415.0),
        ("p50(connect)>20.1ms", Pass, 20_095.0),
        ("mean(rtt)>2ms", Fail, 2_691.661_953_196_062_8),
        ("ramp_time>40ms", Fail, 42_505.53),
        ("connect_rate<47k/s", Pass, 2000.0 / 0.042_505_53),
        ("connect_rate<48k/s", Fail, 2000.0 / 0.042_505_53),
    ] {
        let [res] = &judge(&gate(&[text]), &r)[..] else {
            unreachable!()
        };
        assert_eq!(res.status, status, "{text}: {}", res.figure);
        let v = res.value.unwrap();
        assert!((v - value).abs() < 1e-6 * value.max(1.0), "{text}: {v}");
        assert_eq!(res.threshold.to_string(), text);
    }
}

/// A server out of c1m's sight (`connect` to another host): the held
/// figure does not claim to be bounded by what it accepted.
#[test]
fn held_of_a_server_out_of_sight_claims_nothing_of_it() {
    let mut r = fixture("run-heartbeat");
    r.command = CommandKind::Connect;
    r.server_side.seen = Seen::Remote;
    r.server_side.accepted = None;
    r.server_side.waiting = None;
    r.held.source = CountSource::Workers;
    let [res] = &judge(&gate(&["held<1%"]), &r)[..] else {
        unreachable!()
    };
    assert_eq!(
        res.figure,
        "2,000 of 2,000 (100%) held at the end (the workers' count)"
    );
}

#[test]
fn figures_say_where_they_come_from() {
    let r = fixture("run-heartbeat");
    let got = judge(
        &gate(&[
            "held<99.9%",
            "p99(rtt)>50ms",
            "lost>0.1%",
            "connect_rate<20k/s",
        ]),
        &r,
    );
    let words: Vec<&str> = got.iter().map(|t| t.figure.as_str()).collect();
    assert_eq!(
        words,
        [
            "2,000 of 2,000 (100%) held at the end (the kernel's count, no more than the server application accepted)",
            "p99(rtt) 5.4 ms over 12,093 round trips",
            "4 of 12,093 heartbeats (0.033%) lost",
            "47,053/s on average (2,000 in 0.04 s)",
        ]
    );
    assert_eq!(
        got.iter().map(|t| t.exit_code).collect::<Vec<_>>(),
        [3, 4, 5, 6]
    );
}

#[test]
fn what_was_not_measured_fails_and_says_why() {
    let mut r = fixture("run-heartbeat");
    r.latency.rtt = None;
    r.time_to_reach = None;
    r.phantoms = None;
    r.held.min_during_hold = None;
    r.clients.sent = 0;
    for (text, why) in [
        (
            "p99(rtt)>1s",
            "no round trips were timed (heartbeats: --mode heartbeat)",
        ),
        ("connect_rate<1/s", "the ramp did not finish"),
        ("ramp_time>1m", "the ramp did not finish"),
        ("phantoms>0", "the server is not visible from here"),
        ("min_held<1", "there was no hold"),
        ("lost>0", "no heartbeat was sent"),
    ] {
        let [res] = &judge(&gate(&[text]), &r)[..] else {
            unreachable!()
        };
        assert_eq!(res.status, ThresholdStatus::NotMeasured, "{text}");
        assert_eq!(res.value, None);
        assert!(res.figure.starts_with("not measured: "), "{}", res.figure);
        assert!(res.figure.contains(why), "{text}: {}", res.figure);
    }
    // A percent of no target is not measured either, nor one of no
    // connection attempt.
    r.target = 0;
    let [res] = &judge(&gate(&["closes>1%"]), &r)[..] else {
        unreachable!()
    };
    assert_eq!(res.status, ThresholdStatus::NotMeasured);
    r.clients.attempted = 0;
    let [res] = &judge(&gate(&["errors>1%"]), &r)[..] else {
        unreachable!()
    };
    assert_eq!(res.status, ThresholdStatus::NotMeasured, "{}", res.figure);
    assert!(res.figure.contains("no connection was attempted"));
}

/// A reconnect storm: 1,000 held, the server restarted, and the clients'
/// reopens refused again and again. `errors` is a percent of the
/// connection attempts (reopens included), at the end as during the run
/// (`--abort-on-fail`'s live view of the same counters): never past
/// 100%, and both agree.
#[test]
fn errors_are_a_percent_of_the_attempts_at_the_end_and_during_the_run() {
    use crate::cause::Cause;
    let mut r = fixture("run-heartbeat");
    r.target = 1000;
    r.clients.attempted = 1000;
    r.clients.reconnects.failed = 4000;
    r.clients.reconnects.rst = 1000;
    for _ in 0..4146 {
        r.clients.failed.add(Cause::Refused);
    }
    let [res] = &judge(&gate(&["errors>50%"]), &r)[..] else {
        unreachable!()
    };
    assert_eq!(res.status, ThresholdStatus::Fail, "{}", res.figure);
    assert_eq!(res.value, Some(100.0 * 4146.0 / 6000.0));
    assert_eq!(
        res.figure,
        "4,146 of 6,000 connection attempts (69.1%) failed"
    );
    // The live view of the same counters trips on the same figure.
    let mut tl = vec![sample(0.25, Phase::Hold, 1000)];
    tl[0].failed = 4146;
    let of = (r.target, attempts(false, &r.clients, &r.servers));
    let l = live(&tl, of, false, (Duration::from_secs(1), None), true).unwrap();
    let t = parse("errors>50%").unwrap();
    assert_eq!(t.trips(&l), res.value);
    // A server alone: of the connections its servers accepted.
    let s = crate::wire::Stats {
        attempted: 300,
        ..Default::default()
    };
    assert_eq!(attempts(true, &crate::wire::Stats::default(), &s), 300);
}

/// A threshold that tripped during the run fails, even when the figure at
/// the end (read again, by the kernel) would pass it.
#[test]
fn a_trip_during_the_run_fails_whatever_the_end_says() {
    let mut r = fixture("run-heartbeat");
    r.end = End::Aborted {
        why: "--fail-if held<99% failed 3.0 s in: held was 50%".into(),
    };
    let mut g = gate(&["held<99%", "errors>5"]);
    g.trips[0] = Some(Trip {
        t: 3.0,
        value: 50.0,
    });
    let got = judge(&g, &r);
    assert_eq!(got[0].status, ThresholdStatus::Fail);
    assert_eq!(got[0].value, Some(100.0));
    assert!(
        got[0]
            .figure
            .ends_with("; failed during the run at 3.0 s (50%), ending it (--abort-on-fail)"),
        "{}",
        got[0].figure
    );
    assert_eq!(got[1].status, ThresholdStatus::Pass);
    assert_eq!(
        trip_line(&g, 0),
        "--fail-if held<99% failed 3.0 s in: held was 50%"
    );
    r.thresholds = got;
    let v = judge::verdict(&r);
    assert_eq!((v.ok, v.exit_code), (false, 3));
}

#[test]
fn the_live_view_is_the_last_sample_and_the_peak() {
    let tl = vec![
        sample(0.25, Phase::Ramp, 600),
        sample(0.5, Phase::Hold, 1000),
        sample(0.75, Phase::Hold, 900),
    ];
    let ramp = (Duration::from_millis(700), Some(Duration::from_millis(400)));
    let l = live(&tl, (1000, 1000), false, ramp, true).unwrap();
    assert_eq!((l.held, l.target, l.in_hold), (900, 1000, true));
    assert_eq!(l.ramp_done, Some((1000, 0.4)));
    assert_eq!(l.ramp_secs, Some(0.7));
    assert_eq!(live(&[], (1000, 1000), false, ramp, true), None);
}

#[test]
fn shown_in_the_thresholds_unit() {
    assert_eq!(show(Unit::Count, 19_990.0), "19,990");
    assert_eq!(show(Unit::Percent, 99.95), "99.95%");
    assert_eq!(show(Unit::Percent, 75.0), "75%");
    assert_eq!(show(Unit::Us, 72_100.0), "72.1 ms");
    assert_eq!(show(Unit::PerSecond, 19_500.4), "19,500/s");
}

/// A run that ramps down to 0 (`--ramp-down`, a last stage of 0): its
/// target at the end is 0, so the percents of what it reached, its
/// fewest in the hold, its failures and closes are of the largest
/// stage's count, and holding nothing at the end is all of its target.
#[test]
fn a_ramp_down_to_zero_judges_percents_of_its_largest_stage() {
    use crate::report::staged::{StageResult, StagesReport};
    let mut r = fixture("run-heartbeat");
    let stage = |from, target| StageResult {
        duration: 2.0,
        from,
        target,
        started: Some(0.0),
        ended: Some(2.0),
        held: Some(target),
        source: Some(CountSource::Kernel),
        tolerance: 20,
        met: Some(true),
    };
    r.stages = Some(StagesReport {
        spec: "2s:2000,2s:2000,2s:0".into(),
        tolerance: 0.01,
        stages: vec![stage(0, 2000), stage(2000, 2000), stage(2000, 0)],
    });
    r.target = 0;
    r.held.at_end = 0;
    use ThresholdStatus::*;
    for (text, status, value) in [
        ("held<99%", Pass, 100.0),
        ("reached<99%", Pass, 100.0),
        ("min_held<99.9%", Pass, 100.0),
        ("errors>0.1%", Pass, 0.0),
        ("closes>1%", Pass, 0.0),
        ("held>0", Pass, 0.0),
    ] {
        let [res] = &judge(&gate(&[text]), &r)[..] else {
            unreachable!()
        };
        assert_eq!(res.status, status, "{text}: {}", res.figure);
        assert_eq!(res.value, Some(value), "{text}: {}", res.figure);
    }
}
