//! `--start-at TIME`: the wall-clock instant the ramp waits for, so shards
//! on many machines start together with no coordinator. Pure: parsing and
//! the checks take the time as an argument.
//!
//! TIME is RFC 3339 with an offset (`2026-12-01T10:00:00Z`,
//! `2026-12-01T11:00:00+01:00`, what `date -Iseconds` and
//! `date --rfc-3339=seconds` print), or Unix seconds (`1764583200`,
//! `@1764583200`, as `date +%s` prints and `date -d @S` reads), fractions
//! allowed. A time without an offset is refused: each machine would read
//! it in its own time zone.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How late `--start-at` may be when c1m starts: a shard started a moment
/// after the others is still in step with them. Later is an error.
pub const LATE_GRACE: Duration = Duration::from_secs(1);

/// How far ahead `--start-at` may be. Further is a typo (the year, the
/// day), or a job that should be scheduled later instead of holding its
/// machine while it waits.
pub const MAX_AHEAD: Duration = Duration::from_secs(24 * 3600);

/// Parses TIME into an instant; clap's value parser for `--start-at`.
pub fn parse(text: &str) -> Result<SystemTime, String> {
    let t = text.trim();
    let secs = t.strip_prefix('@').unwrap_or(t);
    if !secs.is_empty() && secs.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let bad = || {
            format!(
                "{t:?} is not a number of Unix seconds this clock can hold; write e.g. @1764583200 or 2026-12-01T10:00:00Z"
            )
        };
        let s: f64 = secs.parse().map_err(|_| bad())?;
        return Duration::try_from_secs_f64(s)
            .ok()
            .and_then(|d| UNIX_EPOCH.checked_add(d))
            .ok_or_else(bad);
    }
    // What is wrong in the user's words, never the date parser's own
    // (trial 5: "failed to parse four digit integer as year").
    let ts: jiff::Timestamp = t.parse().map_err(|_| {
        let what = if t.parse::<jiff::civil::DateTime>().is_ok() {
            "is a date and time without an offset (each machine would read it in its own time zone)"
        } else if t.parse::<jiff::civil::Time>().is_ok() {
            "is a time of day without a date or an offset"
        } else if t.parse::<jiff::civil::Date>().is_ok() {
            "is a date without a time of day"
        } else {
            "is not a time"
        };
        format!(
            "{t:?} {what}: write RFC 3339 with an offset (2026-12-01T10:00:00Z, 2026-12-01T11:00:00+01:00) or Unix seconds (1764583200, @1764583200)"
        )
    })?;
    Ok(SystemTime::from(ts))
}

/// How long to wait from `now` until `at`: zero when `at` is up to
/// [`LATE_GRACE`] past; an error when it is further past or more than
/// [`MAX_AHEAD`] away.
pub fn wait(at: SystemTime, now: SystemTime) -> Result<Duration, String> {
    match at.duration_since(now) {
        Ok(ahead) if ahead > MAX_AHEAD => Err(format!(
            "--start-at {} ({}) is {} ahead, more than {}: check the date, and give a time within {2}; to start a job that much later, schedule it then (sbatch --begin, a CronJob) instead of holding its machine while it waits",
            utc(at),
            unix(at),
            span(ahead),
            span(MAX_AHEAD)
        )),
        Ok(ahead) => Ok(ahead),
        Err(e) if e.duration() <= LATE_GRACE => Ok(Duration::ZERO),
        Err(e) => Err(format!(
            "--start-at {} ({}) is {} in the past (now is {}): give a time ahead, e.g. --start-at @$(( $(date +%s) + 30 ))",
            utc(at),
            unix(at),
            span(e.duration()),
            utc(now)
        )),
    }
}

/// An instant as RFC 3339 in UTC, to the millisecond
/// ([`crate::report::text::utc`]).
pub fn utc(t: SystemTime) -> String {
    crate::report::text::utc(crate::supervisor::session::unix_seconds(t))
}

/// An instant as Unix seconds the way `--start-at` takes them: `@1764583200`
/// (fractions kept, to the millisecond).
fn unix(t: SystemTime) -> String {
    let s = crate::supervisor::session::unix_seconds(t);
    if s.fract() == 0.0 {
        format!("@{s:.0}")
    } else {
        format!("@{s:.3}")
    }
}

/// A span in the unit that reads best: `12.5 s`, `3.0 min`, `24.0 h`,
/// `31.5 days`.
fn span(d: Duration) -> String {
    let s = d.as_secs_f64();
    match s {
        s if s < 120.0 => format!("{s:.1} s"),
        s if s < 7200.0 => format!("{:.1} min", s / 60.0),
        s if s <= 48.0 * 3600.0 => format!("{:.1} h", s / 3600.0),
        s => format!("{:.1} days", s / 86_400.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: f64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs_f64(secs)
    }

    #[test]
    fn rfc3339_with_any_offset_and_unix_seconds() {
        let want = at(1_764_583_200.0);
        for text in [
            "2025-12-01T10:00:00Z",
            "2025-12-01t10:00:00z",
            "2025-12-01T11:00:00+01:00",
            "2025-12-01 10:00:00+00:00",
            "2025-12-01T05:00:00-05:00",
            "1764583200",
            "@1764583200",
            " @1764583200.0 ",
        ] {
            assert_eq!(parse(text), Ok(want), "{text}");
        }
        assert_eq!(parse("2025-12-01T10:00:00.25Z"), Ok(at(1_764_583_200.25)));
        assert_eq!(parse("@1764583200.5"), Ok(at(1_764_583_200.5)));
    }

    #[test]
    fn what_is_not_a_time_says_what_to_write() {
        for bad in [
            "2025-12-01T10:00:00",
            "2025-12-01",
            "tomorrow",
            "@",
            "",
            "1.2.3",
            "2025-13-01T10:00:00Z",
            "-5",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(
                e.contains("RFC 3339") || e.contains("Unix seconds"),
                "{bad}: {e}"
            );
        }
        // The forms taken, never the date parser's own words.
        let e = parse("10:00").unwrap_err();
        assert_eq!(
            e,
            "\"10:00\" is a time of day without a date or an offset: write RFC 3339 with an offset (2026-12-01T10:00:00Z, 2026-12-01T11:00:00+01:00) or Unix seconds (1764583200, @1764583200)"
        );
        assert!(
            parse("2025-12-01T10:00:00")
                .unwrap_err()
                .contains("without an offset")
        );
        assert!(
            !parse("2025-13-01T10:00:00Z")
                .unwrap_err()
                .contains("failed")
        );
    }

    #[test]
    fn a_moment_late_starts_now_later_is_refused() {
        let now = at(1_764_583_200.0);
        assert_eq!(
            wait(at(1_764_583_212.5), now),
            Ok(Duration::from_millis(12_500))
        );
        assert_eq!(wait(now, now), Ok(Duration::ZERO));
        assert_eq!(wait(at(1_764_583_199.5), now), Ok(Duration::ZERO));
        let e = wait(at(1_764_583_190.0), now).unwrap_err();
        assert_eq!(
            e,
            "--start-at 2025-12-01T09:59:50Z (@1764583190) is 10.0 s in the past (now is 2025-12-01T10:00:00Z): give a time ahead, e.g. --start-at @$(( $(date +%s) + 30 ))"
        );
        assert!(wait(at(1_764_583_200.0 + 86_400.0), now).is_ok());
        let e = wait(at(1_764_583_200.0 + 86_401.0), now).unwrap_err();
        assert!(e.contains("24.0 h ahead, more than 24.0 h"), "{e}");
        let e = wait(at(1_764_583_200.0 - 4.0 * 86_400.0), now).unwrap_err();
        assert!(e.contains("is 4.0 days in the past"), "{e}");
        assert_eq!(span(Duration::from_secs(300)), "5.0 min");
        assert_eq!(utc(at(1_764_583_200.25)), "2025-12-01T10:00:00.25Z");
        assert_eq!(unix(at(1_764_583_200.25)), "@1764583200.250");
    }
}
