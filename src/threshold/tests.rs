use super::*;

fn th(text: &str) -> Threshold {
    parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn every_kind_of_value_parses_to_its_unit() {
    use Metric::*;
    for (text, metric, op, limit, unit) in [
        ("held<99.9%", Held, Op::Lt, 99.9, Unit::Percent),
        ("held < 19,990", Held, Op::Lt, 19_990.0, Unit::Count),
        ("held_at_end<=1.5M", Held, Op::Le, 1_500_000.0, Unit::Count),
        ("reached<100%", Reached, Op::Lt, 100.0, Unit::Percent),
        ("min-held<10k", MinHeld, Op::Lt, 10_000.0, Unit::Count),
        ("errors>0.1%", Errors, Op::Gt, 0.1, Unit::Percent),
        ("errors>0", Errors, Op::Gt, 0.0, Unit::Count),
        ("closes>=5", Closes, Op::Ge, 5.0, Unit::Count),
        ("lost>1%", Lost, Op::Gt, 1.0, Unit::Percent),
        ("phantoms>0", Phantoms, Op::Gt, 0.0, Unit::Count),
        (
            "connect_rate<20k/s",
            ConnectRate,
            Op::Lt,
            20_000.0,
            Unit::PerSecond,
        ),
        (
            "connect-rate < 500/s",
            ConnectRate,
            Op::Lt,
            500.0,
            Unit::PerSecond,
        ),
        ("ramp_time>30s", RampTime, Op::Gt, 30e6, Unit::Us),
        ("ramp_time>2m", RampTime, Op::Gt, 120e6, Unit::Us),
        // The grammar of every duration flag (--hold): hours, terms
        // together, a bare number of seconds.
        ("ramp_time>2h", RampTime, Op::Gt, 7200e6, Unit::Us),
        ("ramp_time>30", RampTime, Op::Gt, 30e6, Unit::Us),
        ("ramp_time>1h 30m", RampTime, Op::Gt, 5400e6, Unit::Us),
        (
            "p99(rtt)>50",
            Latency(Stat::P99, Series::Rtt),
            Op::Gt,
            50e6,
            Unit::Us,
        ),
        (
            "p99(rtt)>0.05",
            Latency(Stat::P99, Series::Rtt),
            Op::Gt,
            50_000.0,
            Unit::Us,
        ),
        (
            "max(rtt)>1.5h",
            Latency(Stat::Max, Series::Rtt),
            Op::Gt,
            5400e6,
            Unit::Us,
        ),
        (
            "p90(connect)>7ns",
            Latency(Stat::P90, Series::Connect),
            Op::Gt,
            0.007,
            Unit::Us,
        ),
        (
            "p99(rtt)>50ms",
            Latency(Stat::P99, Series::Rtt),
            Op::Gt,
            50_000.0,
            Unit::Us,
        ),
        (
            "P99.9(RTT) > 1.5s",
            Latency(Stat::P999, Series::Rtt),
            Op::Gt,
            1_500_000.0,
            Unit::Us,
        ),
        (
            "max(connect)>=250µs",
            Latency(Stat::Max, Series::Connect),
            Op::Ge,
            250.0,
            Unit::Us,
        ),
        (
            "mean(first_byte)>250us",
            Latency(Stat::Mean, Series::FirstByte),
            Op::Gt,
            250.0,
            Unit::Us,
        ),
        (
            "p50(connect)>0.5ms",
            Latency(Stat::P50, Series::Connect),
            Op::Gt,
            500.0,
            Unit::Us,
        ),
    ] {
        let t = th(text);
        assert_eq!(
            (t.metric, t.op, t.limit, t.unit),
            (metric, op, limit, unit),
            "{text}"
        );
        // Shown as given (canonical metric, spaces dropped), and read back
        // the same: the JSON report holds it as text.
        assert_eq!(parse(&t.to_string()), Ok(t.clone()), "{text}");
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<Threshold>(&json).unwrap(), t);
    }
    assert_eq!(th("held < 99.9 %").to_string(), "held<99.9%");
    assert_eq!(th("P99.9(RTT) > 1.5s").to_string(), "p99.9(rtt)>1.5s");
    assert_eq!(th("p999(rtt)>1s").to_string(), "p99.9(rtt)>1s");
}

/// Every error names the part that is wrong and says what to write.
#[test]
fn errors_name_the_wrong_part() {
    for (text, says) in [
        ("", "an empty threshold: write METRIC<VALUE"),
        ("held 99%", "no comparison in \"held 99%\""),
        ("held=99%", "\"=\" in \"held=99%\" is not a comparison"),
        ("held==99%", "\"==\" in"),
        ("errors!=0", "\"!=\" in"),
        (
            "<99%",
            "no metric before the comparison; metrics: held, reached",
        ),
        (
            "heldd<99%",
            "\"heldd\" is not a metric; metrics: held, reached, min_held, errors",
        ),
        ("p99>50ms", "\"p99\" of what: write p99(rtt)"),
        ("rtt>50ms", "needs a statistic: write e.g. p99(rtt)"),
        (
            "p99(rt)>50ms",
            "\"rt\" is not a latency c1m measures: use rtt",
        ),
        ("p98(rtt)>50ms", "\"p98\" is not a statistic c1m reports"),
        ("p99(rtt>50ms", "a latency is written STAT(SERIES)"),
        ("held<", "no value after held<: held is a count"),
        (
            "held<50ms",
            "\"50ms\" is not a value for it: held is a count",
        ),
        ("held<101%", "a percent is at most 100%"),
        ("held<-1", "is not a value for it"),
        (
            "held<1.5",
            "\"1.5\" is not a whole number of held; for a share, add %: 1.5%",
        ),
        ("errors>NaN", "is not a value for it"),
        ("errors>inf%", "is not a value for it"),
        ("errors>1e3", "is not a value for it"),
        (
            "p99(rtt)>50x",
            "\"x\" is not a unit of time; use ns, us (or µs), ms, s, m (minutes), h",
        ),
        ("p99(rtt)>1h30", "\"30\" has no unit"),
        ("p99(rtt)>5%", "p99(rtt) is a duration"),
        ("p99(rtt)>ms", "\"ms\" is not a duration; write e.g. 5s"),
        ("p99(rtt)>-5ms", "is not a duration"),
        ("p99(rtt)>1e3", "\"e\" is not a unit of time"),
        (
            "connect_rate<20k",
            "\"20k\" is not a rate: connect_rate is a rate",
        ),
        ("connect_rate<x/s", "is not a value for it"),
        ("ramp_time>30M", "\"M\" is not a unit of time"),
        (
            "p99(rtt)>18446744073709551616s",
            "is more than 365 days: p99(rtt) is a duration",
        ),
        ("ramp_time>9000000m", "is more than 365 days"),
    ] {
        let e = parse(text).expect_err(text);
        assert!(e.contains(says), "{text}: {e}");
        assert!(!e.contains('\n'), "{text}: not one line: {e}");
    }
}

#[test]
fn each_family_has_its_exit_code() {
    for (text, code) in [
        ("held<99%", 3),
        ("reached<1", 3),
        ("min_held<1", 3),
        ("p99(rtt)>1ms", 4),
        ("max(connect)>1ms", 4),
        ("errors>0", 5),
        ("closes>0", 5),
        ("lost>0", 5),
        ("phantoms>0", 5),
        ("connect_rate<1/s", 6),
        ("ramp_time>1s", 6),
    ] {
        assert_eq!(th(text).metric.family().exit_code(), code, "{text}");
    }
    // Distinct from ok, short, bad input and the signals'.
    for code in [EXIT_HELD, EXIT_LATENCY, EXIT_FAILURES, EXIT_PACE] {
        assert!(![0, 1, 2, 130, 143].contains(&code));
    }
}

#[test]
fn counts_and_percents_compare_exactly_at_the_limit() {
    let t = th("held<99.9%");
    assert_eq!(t.count_value(19_980, 20_000), Some(99.9));
    assert!(!t.fails(t.count_value(19_980, 20_000).unwrap()));
    assert!(t.fails(t.count_value(19_979, 20_000).unwrap()));
    assert_eq!(t.count_value(5, 0), None);
    let t = th("errors>=3");
    assert_eq!(t.count_value(3, 0), Some(3.0));
    assert!(t.fails(3.0));
    assert!(!th("errors>3").fails(3.0));
    assert!(th("held<=10").fails(10.0));
}

fn live() -> Live {
    Live {
        target: 1000,
        attempts: 1000,
        in_hold: true,
        held: 1000,
        errors: 0,
        closes: 0,
        ramp_secs: Some(2.0),
        ramp_done: Some((1000, 2.0)),
    }
}

#[test]
fn only_what_is_final_trips_during_the_run() {
    let held = th("held<99%");
    assert_eq!(held.trips(&live()), None);
    let fell = Live {
        held: 980,
        ..live()
    };
    assert_eq!(held.trips(&fell), Some(98.0));
    assert_eq!(th("min_held<990").trips(&fell), Some(980.0));
    // Still ramping: held is low because the ramp is not done.
    let ramping = Live {
        in_hold: false,
        held: 10,
        ramp_done: None,
        ..live()
    };
    assert_eq!(held.trips(&ramping), None);
    // Failures only grow: past the limit is final.
    let failing = Live {
        errors: 20,
        closes: 3,
        ..ramping
    };
    assert_eq!(th("errors>1%").trips(&failing), Some(2.0));
    assert_eq!(th("errors>20").trips(&failing), None);
    // A percent of errors is of the attempts, not of the target: a
    // reconnect storm's 4,000 failed of 5,000 attempts is 80%, never
    // 400% of 1,000 held.
    let storm = Live {
        errors: 4000,
        attempts: 5000,
        ..live()
    };
    assert_eq!(th("errors>50%").trips(&storm), Some(80.0));
    assert_eq!(th("errors>90%").trips(&storm), None);
    assert_eq!(th("closes>1%").trips(&storm), None);
    // No attempt yet: no percent of nothing.
    let none = Live {
        errors: 3,
        attempts: 0,
        ..live()
    };
    assert_eq!(th("errors>1%").trips(&none), None);
    assert_eq!(th("errors>2").trips(&none), Some(3.0));
    assert_eq!(th("closes>2").trips(&failing), Some(3.0));
    // "Too few errors" is known only at the end.
    assert_eq!(th("errors<50").trips(&failing), None);
    // A ramp past its limit, before it is done.
    assert_eq!(th("ramp_time>1s").trips(&ramping), Some(2e6));
    assert_eq!(th("ramp_time>3s").trips(&ramping), None);
    // The rate once the ramp is done: 1,000 in 2 s.
    assert_eq!(th("connect_rate<1k/s").trips(&ramping), None);
    assert_eq!(th("connect_rate<1k/s").trips(&live()), Some(500.0));
    assert_eq!(th("connect_rate<400/s").trips(&live()), None);
    // Judged at the end only.
    for text in ["p99(rtt)>1µs", "lost>=0", "phantoms>=0", "reached<100%"] {
        assert_eq!(th(text).trips(&fell), None, "{text}");
    }
}

#[test]
fn the_gate_records_the_first_trip_only_when_asked_to_abort() {
    let ts = vec![th("errors>5"), th("held<99%")];
    let fell = Live {
        held: 500,
        ..live()
    };
    let mut quiet = Gate::new(ts.clone(), false);
    assert_eq!(quiet.check(3.0, &fell), None);
    assert_eq!(quiet.trips, vec![None, None]);
    let mut g = Gate::new(ts, true);
    assert_eq!(g.check(1.0, &live()), None);
    assert_eq!(g.check(3.0, &fell), Some(1));
    assert_eq!(
        g.trips,
        vec![
            None,
            Some(Trip {
                t: 3.0,
                value: 50.0
            })
        ]
    );
}
