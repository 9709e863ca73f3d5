//! Number formatting and parsing shared by the report, the verdict line and
//! the command line: thousands separators, binary sizes, counts of things
//! (`1 port`, `2 source addresses`), counts typed like `1.1M`, and the one
//! grammar of durations every flag of c1m takes ([`parse_duration`]).

use std::time::Duration;

/// `1234567` → `"1,234,567"`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A count and its noun, singular for exactly one: `plural(1, "port",
/// "ports")` → `"1 port"`, `plural(28_232, "port", "ports")` →
/// `"28,232 ports"`. Every count + noun in c1m-limits' output goes
/// through it.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// A byte count in binary units with one decimal: `"23.4 GiB"`, `"512 B"`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `n × 1.1`, rounded up: the seeds' 10 % headroom, in integers.
pub fn with_headroom(n: u64) -> u64 {
    n.checked_mul(11).map_or(u64::MAX, |m| m.div_ceil(10))
}

/// Parses a count as people type it: `1000000`, `1_000_000`, `1,000,000`,
/// `1M`, `1.1m`, `500k`. Errors name what was wrong.
pub fn parse_count(text: &str) -> Result<u64, String> {
    let cleaned: String = text
        .trim()
        .chars()
        .filter(|c| *c != '_' && *c != ',')
        .collect();
    let (number, scale) = match cleaned.chars().last() {
        Some('k' | 'K') => (&cleaned[..cleaned.len() - 1], 1_000u64),
        Some('m' | 'M') => (&cleaned[..cleaned.len() - 1], 1_000_000),
        Some('g' | 'G') => (&cleaned[..cleaned.len() - 1], 1_000_000_000),
        _ => (cleaned.as_str(), 1),
    };
    let bad = || {
        format!(
            "{text:?} is not a count from 1 to 18,446,744,073,709,551,615; write e.g. 1000000, 1_000_000, 1M, 1.1M, 500k"
        )
    };
    if number.is_empty() {
        return Err(bad());
    }
    let value = match number.split_once('.') {
        None => number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(scale)),
        Some((whole, frac)) => {
            // Fixed point: whole and fraction digits scaled separately, exact.
            if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let whole: u64 = if whole.is_empty() {
                0
            } else {
                whole.parse().map_err(|_| bad())?
            };
            let denom = 10u64.pow(frac.len() as u32);
            let frac: u64 = frac.parse().map_err(|_| bad())?;
            let part = frac.checked_mul(scale).filter(|p| p % denom == 0);
            match part {
                Some(p) => whole
                    .checked_mul(scale)
                    .and_then(|w| w.checked_add(p / denom)),
                None => {
                    return Err(format!(
                        "{text:?} is not a whole number of connections; write e.g. 1.5M, 1500000"
                    ));
                }
            }
        }
    };
    match value {
        Some(0) => Err(format!(
            "{text:?}: the count must be at least 1 (e.g. 1000, 1M)"
        )),
        Some(v) => Ok(v),
        None => Err(bad()),
    }
}

/// The longest duration any flag takes: a year. Anything longer is a typo
/// (and would overflow the clock arithmetic of a deadline).
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// What a duration looks like, for the end of every error.
pub const DURATION_EXAMPLES: &str = "write e.g. 5s, 250ms, 2m, 1.5h, 1h30m, or a number of seconds";

/// The units of time and their length in nanoseconds: humantime's names
/// and lengths (what c1m prints durations with, so what it prints reads
/// back), but not its `M` for a month (`10M` is ten million in a count).
const UNITS: &[(&[&str], u128)] = &[
    (&["ns", "nsec", "nsecs", "nanosecond", "nanoseconds"], 1),
    (
        &[
            "us",
            "\u{b5}s",
            "\u{3bc}s",
            "usec",
            "usecs",
            "microsecond",
            "microseconds",
        ],
        1_000,
    ),
    (
        &["ms", "msec", "msecs", "millisecond", "milliseconds"],
        1_000_000,
    ),
    (&["s", "sec", "secs", "second", "seconds"], 1_000_000_000),
    (&["m", "min", "mins", "minute", "minutes"], 60_000_000_000),
    (&["h", "hr", "hrs", "hour", "hours"], 3_600_000_000_000),
    (&["d", "day", "days"], 86_400_000_000_000),
    (&["w", "week", "weeks"], 604_800_000_000_000),
    // humantime's: 30.44 days, 365.25 days.
    (&["month", "months"], 2_630_016_000_000_000),
    (&["y", "year", "years"], 31_557_600_000_000_000),
];

/// Parses a duration as every flag of c1m takes one (`--hold`,
/// `--interval`, `--stages`, `--close-fraction`, `--slo`, `--fail-if`
/// …), at most [`MAX_DURATION`]:
///
/// ```text
/// DURATION := SECONDS | TERM [ [" "] TERM ]...
/// SECONDS  := NUMBER                  a number of seconds: 5, 2.5
/// TERM     := NUMBER [" "] UNIT       250ms, 1.5h, 1h30m, 1h 30m
/// NUMBER   := digits, with one "." at most: 5, 2.5, .5
/// UNIT     := ns | us | µs | ms | s | m | h | d | w   (and their long
///             names: sec, min, hour, days, months …; m is minutes)
/// ```
///
/// Exact: the decimals are read as decimals (`1.1s` is 1,100,000,000 ns),
/// never through a float. No sign, exponent, `inf` or `NaN`.
///
/// Not `humantime::parse_duration` (whose units these are, and which
/// prints what c1m shows): it takes no bare number of seconds, reads `M`
/// as a month, refuses `.5s`, and refuses a decimal that does not
/// divide its unit exactly (`1.0001h`) as an overflow.
///
/// Errors: one line naming the text and what is wrong with it (not a
/// number, an unknown unit, a number without its unit after another
/// term, longer than 365 days), ending with how to write one.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let not = || format!("{t:?} is not a duration; {DURATION_EXAMPLES}");
    if t.is_empty() {
        return Err(format!("empty: not a duration; {DURATION_EXAMPLES}"));
    }
    let too_long = || {
        format!(
            "{t:?} is longer than 365 days, the longest duration c1m takes; write a shorter one (e.g. 5s, 10m, 2h, 365d)"
        )
    };
    let mut total: u128 = 0;
    let mut rest = t;
    let mut first = true;
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(end);
        if number.is_empty() {
            return Err(not());
        }
        let after = after.trim_start();
        let end = after
            .find(|c: char| c.is_ascii_digit() || c == '.' || c.is_whitespace())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(end);
        let scale = if unit.is_empty() {
            if !(first && after.is_empty()) {
                return Err(format!(
                    "{t:?}: {number:?} has no unit; after another term each number needs one (e.g. 1h30m)"
                ));
            }
            1_000_000_000
        } else {
            match UNITS.iter().find(|(names, _)| names.contains(&unit)) {
                Some((_, scale)) => *scale,
                None => {
                    return Err(format!(
                        "{t:?}: {unit:?} is not a unit of time; use ns, us (or µs), ms, s, m (minutes), h, d or w, e.g. 250ms, 1.5h"
                    ));
                }
            }
        };
        let nanos = decimal_times(number, scale).ok_or_else(not)?;
        total = match nanos.and_then(|n| total.checked_add(n)) {
            Some(v) => v,
            None => return Err(too_long()),
        };
        rest = after.trim_start();
        first = false;
    }
    if total > MAX_DURATION.as_nanos() {
        return Err(too_long());
    }
    // A year of nanoseconds fits a u64 (3.2e16).
    Ok(Duration::from_nanos(total as u64))
}

/// `number` (digits with one `.` at most) times `scale`, truncated to a
/// whole: `None` when it is not such a number, `Some(None)` when it is
/// one too large for 128 bits.
fn decimal_times(number: &str, scale: u128) -> Option<Option<u128>> {
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && frac.is_empty()) || frac.contains('.') {
        return None;
    }
    if !whole
        .bytes()
        .chain(frac.bytes())
        .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole = whole.trim_start_matches('0');
    let whole: Option<u128> = if whole.is_empty() {
        Some(0)
    } else if whole.len() > 38 {
        None
    } else {
        whole.parse().ok()
    };
    let Some(whole) = whole.and_then(|w| w.checked_mul(scale)) else {
        return Some(None);
    };
    // 18 decimals are below a nanosecond of any unit: the rest is cut.
    let frac = &frac[..frac.len().min(18)];
    let part = if frac.is_empty() {
        0
    } else {
        let digits: u128 = frac.parse().ok()?;
        digits * scale / 10u128.pow(frac.len() as u32)
    };
    Some(whole.checked_add(part))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(thousands(u64::MAX), "18,446,744,073,709,551,615");
    }

    #[test]
    fn plurals() {
        assert_eq!(plural(0, "port", "ports"), "0 ports");
        assert_eq!(
            plural(1, "source address", "source addresses"),
            "1 source address"
        );
        assert_eq!(
            plural(2, "source address", "source addresses"),
            "2 source addresses"
        );
        assert_eq!(plural(28_232, "port", "ports"), "28,232 ports");
    }

    #[test]
    fn sizes() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(4096), "4.0 KiB");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024 / 2), "1.5 GiB");
        assert_eq!(bytes(u64::MAX), "16384.0 PiB");
    }

    #[test]
    fn headroom() {
        assert_eq!(with_headroom(1_000_000), 1_100_000);
        assert_eq!(with_headroom(2_000_000), 2_200_000);
        assert_eq!(with_headroom(1), 2);
        assert_eq!(with_headroom(u64::MAX), u64::MAX);
    }

    #[test]
    fn counts() {
        assert_eq!(parse_count("1000000"), Ok(1_000_000));
        assert_eq!(parse_count("1_000_000"), Ok(1_000_000));
        assert_eq!(parse_count("1,000,000"), Ok(1_000_000));
        assert_eq!(parse_count("1M"), Ok(1_000_000));
        assert_eq!(parse_count("1.1M"), Ok(1_100_000));
        assert_eq!(parse_count("500k"), Ok(500_000));
        assert_eq!(parse_count(".5k"), Ok(500));
        assert!(parse_count("0").is_err());
        assert!(parse_count("").is_err());
        assert!(parse_count("M").is_err());
        assert!(parse_count("1.5").is_err());
        assert!(parse_count("-3").is_err());
        assert!(parse_count("1.").is_err());
        assert!(parse_count("99999999999999999999").is_err());
        assert!(parse_count("99999999999G").is_err());
    }

    #[test]
    fn durations() {
        let d = |t: &str| parse_duration(t);
        let ms = Duration::from_millis;
        assert_eq!(d("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(d("5"), Ok(Duration::from_secs(5)));
        assert_eq!(d(" 2.5 "), Ok(ms(2500)));
        assert_eq!(d(".5"), Ok(ms(500)));
        assert_eq!(d("0"), Ok(Duration::ZERO));
        assert_eq!(d("250ms"), Ok(ms(250)));
        assert_eq!(d("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(d("250\u{b5}s"), Ok(Duration::from_micros(250)));
        assert_eq!(d("250\u{3bc}s"), Ok(Duration::from_micros(250)));
        assert_eq!(d("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(d("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(d("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(d("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(d("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(d("1h 30m 5s"), Ok(Duration::from_secs(5405)));
        assert_eq!(d("1 hour 30 minutes"), Ok(Duration::from_secs(5400)));
        assert_eq!(d("2days"), Ok(Duration::from_secs(2 * 86_400)));
        assert_eq!(d("52w"), Ok(Duration::from_secs(52 * 604_800)));
        assert_eq!(d("1.1s"), Ok(Duration::from_nanos(1_100_000_000)));
        assert_eq!(d("0.30000000000000004"), Ok(ms(300)));
        assert_eq!(d("365d"), Ok(MAX_DURATION));
        for bad in [
            "",
            "-1",
            "-1s",
            "+1s",
            "soon",
            "NaN",
            "inf",
            "1e3",
            "1e30",
            ".",
            "1..5s",
            "1.5.5s",
            "s",
            "5x",
            "5M",
            "1h30",
            "5s 3",
            "18446744073709551616",
        ] {
            let e = d(bad).unwrap_err();
            assert!(
                e.contains("write e.g.") || e.contains("use ns") || e.contains("(e.g. "),
                "{bad}: {e}"
            );
        }
        assert!(d("400days").unwrap_err().contains("longer than 365 days"));
        assert!(d("366d").unwrap_err().contains("longer than 365 days"));
        // A year is humantime's 365.25 days: over the limit, said in days.
        assert_eq!(
            d("1y").unwrap_err(),
            "\"1y\" is longer than 365 days, the longest duration c1m takes; write a shorter one (e.g. 5s, 10m, 2h, 365d)"
        );
        assert_eq!(d("365d"), Ok(Duration::from_secs(365 * 86_400)));
        // As humantime prints them.
        assert_eq!(
            d("11months 30days 1h"),
            Ok(Duration::from_secs(11 * 2_630_016 + 30 * 86_400 + 3600))
        );
        assert!(
            d("18446744073709551616s")
                .unwrap_err()
                .contains("longer than 365 days")
        );
        assert!(
            d("99999999999999999999999999999999999999999h")
                .unwrap_err()
                .contains("longer than 365 days")
        );
        assert!(d("5x").unwrap_err().contains("\"x\" is not a unit of time"));
        assert!(d("1h30").unwrap_err().contains("has no unit"));
    }
}
