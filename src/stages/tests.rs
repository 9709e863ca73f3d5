use std::time::Duration;

use super::*;

fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn parses_the_k6_shape() {
    let st = Stages::parse("30s:500k,10m:500k,30s:1M,5m:1M,1m:0").unwrap();
    assert_eq!(st.len(), 5);
    assert_eq!(
        st.steps()[2],
        Step {
            duration: s(30),
            target: 1_000_000
        }
    );
    assert_eq!((st.max(), st.last(), st.top()), (1_000_000, 0, 2));
    assert_eq!(st.total(), s(30 + 600 + 30 + 300 + 60));
    assert_eq!(
        st.to_string(),
        "30s:500000,10m:500000,30s:1000000,5m:1000000,1m:0"
    );
    // What it prints parses back the same.
    assert_eq!(Stages::parse(&st.to_string()).unwrap(), st);
    assert_eq!(
        Stages::parse("1.5:10, 250ms:0").unwrap().steps()[0].duration,
        ms(1500)
    );
    assert_eq!(Stages::parse("0s:1k").unwrap().steps()[0].duration, s(0));
    // The grammar of every duration flag (--hold): hours, terms together.
    assert_eq!(
        Stages::parse("1h30m:10,2h:0").unwrap().steps()[0].duration,
        s(5400)
    );
    assert_eq!(
        Stages::parse("1.5h:10").unwrap().steps()[0].duration,
        s(5400)
    );
}

#[test]
fn bad_lists_name_the_stage_and_the_fix() {
    for (text, says) in [
        ("", "empty"),
        ("   ", "empty"),
        ("30s", "stage 1 \"30s\": no colon"),
        ("30s:1k,,1m:0", "an empty stage (two commas in a row)"),
        ("30s:1k,,1m:0", "write \"30s:1k,1m:0\""),
        ("10s:1k,", "an empty stage (a comma at its end)"),
        ("10s:1k,", "; write \"10s:1k\""),
        (",10s:1k", "an empty stage (a comma at its start)"),
        (",", "empty; give stages"),
        ("1h30:1k", "\"30\" has no unit"),
        ("soon:1k", "\"soon\" is not a duration"),
        ("-1s:1k", "is not a duration"),
        ("NaN:1k", "is not a duration"),
        ("400days:1k", "longer than 365 days"),
        ("30s:lots", "\"lots\" is not a count"),
        ("30s:-5", "is not a count"),
        ("30s:1.5", "is not a count"),
        ("30s:18446744073709551616", "is not a count"),
        ("30s:0,1m:0", "every stage's target is 0"),
    ] {
        let e = Stages::parse(text).unwrap_err().to_string();
        assert!(e.contains(says), "{text:?}: {e}");
        assert!(!e.contains('\n'), "{text:?}: {e}");
    }
    let many = vec!["1s:1"; MAX_STAGES + 1].join(",");
    assert!(
        Stages::parse(&many)
            .unwrap_err()
            .to_string()
            .contains("at most 1000")
    );
}

#[test]
fn targets_are_linear_between_stages() {
    let st = Stages::parse("10s:1000,10s:1000,5s:0").unwrap();
    assert_eq!(st.target_in(0, s(0)), 0);
    assert_eq!(st.target_in(0, s(5)), 500);
    assert_eq!(st.target_in(0, ms(9999)), 999);
    assert_eq!(st.target_in(0, s(10)), 1000);
    assert_eq!(st.target_in(0, s(99)), 1000);
    assert_eq!(st.target_in(1, s(3)), 1000);
    // Going down, rounded toward the start: 999 until a whole one passed.
    assert_eq!(st.target_in(2, ms(1)), 1000);
    assert_eq!(st.target_in(2, ms(5)), 999);
    assert_eq!(st.target_in(2, s(4)), 200);
    assert_eq!(st.target_in(2, s(5)), 0);
    assert!(st.is_flat(1) && !st.is_flat(0) && st.is_falling(2));
    assert_eq!(st.target_in(7, s(1)), 0, "past the last stage: its target");
}

#[test]
fn a_stage_is_met_within_one_percent_of_its_larger_end() {
    let st = Stages::parse("10s:1000,10s:1000,5s:0,5s:50").unwrap();
    assert_eq!(st.tolerance(0), 10);
    assert!(st.met(0, 990) && st.met(0, 1010) && !st.met(0, 989));
    // Going down to 0 from 1,000: ±10.
    assert_eq!(st.tolerance(2), 10);
    assert!(st.met(2, 10) && !st.met(2, 11));
    // Small counts: at least one.
    assert_eq!(st.tolerance(3), 1);
    assert!(st.met(3, 49) && !st.met(3, 48));
}

#[test]
fn shorthands_make_stages() {
    assert_eq!(Stages::shorthand(1000, s(5), None, None), None);
    let up = Stages::shorthand(1000, s(5), Some(s(10)), None).unwrap();
    assert_eq!(up.to_string(), "10s:1000,5s:1000");
    let down = Stages::shorthand(1000, s(5), None, Some(s(20))).unwrap();
    assert_eq!(down.to_string(), "0s:1000,5s:1000,20s:0");
    assert_eq!(down.top(), 0);
    let both = Stages::shorthand(1000, s(0), Some(s(10)), Some(s(20))).unwrap();
    assert_eq!(both.to_string(), "10s:1000,20s:0");
}

#[test]
fn split_is_proportional_and_exact() {
    assert_eq!(split(10, &[5, 5]), vec![5, 5]);
    assert_eq!(split(7, &[5, 5]), vec![4, 3]);
    assert_eq!(split(0, &[5, 5]), vec![0, 0]);
    assert_eq!(split(99, &[5, 5]), vec![5, 5], "never past a capacity");
    let caps = [20_000, 20_000, 20_000, 7];
    for target in [0, 1, 2, 3, 59_999, 60_000, 60_007, 12_345] {
        let parts = split(target, &caps);
        assert_eq!(parts.iter().sum::<u64>(), target, "{target}");
        assert!(parts.iter().zip(&caps).all(|(p, c)| p <= c));
    }
    assert_eq!(split(5, &[]), Vec::<u64>::new());
    assert_eq!(split(5, &[0, 0]), vec![0, 0]);
}

#[test]
fn a_pace_moves_one_connection_at_a_time() {
    let p = Pace::toward(100, 110, s(1), s(10));
    assert_eq!(p.at(s(0)), 100, "before its start: its start");
    assert_eq!(p.at(s(1)), 100);
    assert_eq!(p.next_change(s(1)), Some(s(2)));
    assert_eq!(p.at(s(2)), 101);
    assert_eq!(p.at(ms(2999)), 101);
    assert_eq!(p.next_change(ms(2500)), Some(s(3)));
    assert_eq!(p.at(s(11)), 110);
    assert_eq!(p.next_change(s(11)), None);
    let down = Pace::toward(10, 0, s(0), s(1));
    assert_eq!(down.at(ms(150)), 9);
    assert_eq!(down.next_change(ms(150)), Some(ms(200)));
    assert_eq!(down.end(), 0);
    let jump = Pace::toward(0, 500, s(3), s(0));
    assert_eq!(jump.at(s(3)), 500);
    assert_eq!(jump.next_change(s(3)), None);
    assert_eq!(Pace::fixed(7).at(s(100)), 7);
    // A million over an hour: no overflow, exact at the end.
    let big = Pace::toward(0, 1_000_000, s(0), s(3600));
    assert_eq!(big.at(s(1800)), 500_000);
    assert_eq!(big.at(s(3600)), 1_000_000);
}
