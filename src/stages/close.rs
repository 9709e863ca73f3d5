//! `--close-fraction F@T`: c1m's servers close a fraction of the
//! connections they hold at an instant, as a deploy or a crashed
//! process does, to model a reconnect storm against the clients'
//! `--reconnect`. Pure: the parser, and which connections go.
//!
//! At `T` after the ramp began (for `c1m serve`: after its workers
//! listen), each server worker closes `F` of the connections it holds
//! then, spread evenly over its table ([`picks`]), the way `--close`
//! says (an RST, or a FIN).

use std::fmt;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The latest instant a close may be set for: a year.
pub const MAX_AT: Duration = c1m_limits::num::MAX_DURATION;

/// One `--close-fraction`: close `fraction` of the held connections at
/// `at`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseFraction {
    /// The share of the connections held then, from 0 (none) to 1 (all).
    pub fraction: f64,
    /// Seconds after the ramp began (`serve`: after its workers listen).
    pub at: f64,
}

impl CloseFraction {
    /// Parses `30%@10s` (or `0.3@10s`; `@` then a duration: `10s`,
    /// `1500ms`, `2m`, or seconds).
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let hint = "write FRACTION@TIME, e.g. 30%@10s (close 30% of the connections held 10 s after the ramp began)";
        let Some((f, at)) = t.split_once('@') else {
            return Err(format!("{t:?} has no @TIME; {hint}"));
        };
        let f = f.trim();
        let fraction = match f.strip_suffix('%') {
            Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
            None => f.parse::<f64>(),
        }
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0 && *v <= 1.0)
        .ok_or_else(|| {
            format!("{f:?} is not a fraction above 0 and at most 100% (e.g. 30% or 0.3); {hint}")
        })?;
        let at = at.trim();
        // c1m's one grammar of durations, as --hold reads it.
        let d = c1m_limits::num::parse_duration(at).map_err(|why| {
            if why.contains("longer than 365 days") {
                format!("{at:?} is more than 365 days; {hint}")
            } else {
                format!("{at:?} is not a time (e.g. 10s, 1500ms, 2m); {hint}")
            }
        })?;
        if d > MAX_AT {
            return Err(format!("{at:?} is more than 365 days; {hint}"));
        }
        Ok(Self {
            fraction,
            at: d.as_secs_f64(),
        })
    }

    /// When, after the ramp began.
    pub fn at(&self) -> Duration {
        Duration::from_secs_f64(self.at.clamp(0.0, MAX_AT.as_secs_f64()))
    }
}

impl fmt::Display for CloseFraction {
    /// `30%@10s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct = format!("{:.3}", self.fraction * 100.0);
        let pct = pct.trim_end_matches('0').trim_end_matches('.');
        write!(f, "{pct}%@{}s", self.at)
    }
}

/// Whether the `k`-th held connection (from 0, in table order) is one of
/// `fraction` closed: every connection where the running share
/// `k·fraction` crosses a whole number, so the closes spread evenly over
/// the table and `n` held lose `floor(n·fraction)` or one more.
pub fn picks(k: u64, fraction: f64) -> bool {
    let f = fraction.clamp(0.0, 1.0);
    ((k + 1) as f64 * f).floor() > (k as f64 * f).floor()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_percent_and_fraction() {
        let c = CloseFraction::parse("30%@10s").unwrap();
        assert_eq!((c.fraction, c.at), (0.3, 10.0));
        assert_eq!(c.to_string(), "30%@10s");
        let c = CloseFraction::parse(" 0.25 @ 1500ms ").unwrap();
        assert_eq!((c.fraction, c.at()), (0.25, Duration::from_millis(1500)));
        assert_eq!(CloseFraction::parse("100%@0").unwrap().fraction, 1.0);
        for bad in [
            "",
            "30%",
            "@10s",
            "0%@1s",
            "101%@1s",
            "-5%@1s",
            "NaN@1s",
            "inf@1s",
            "1.5@1s",
            "30%@soon",
            "30%@-1",
            "30%@400days",
            "30%@1e30",
        ] {
            let e = CloseFraction::parse(bad).unwrap_err();
            assert!(e.contains("e.g. 30%@10s"), "{bad}: {e}");
        }
    }

    #[test]
    fn picks_spread_evenly() {
        let n = 1000;
        let picked: Vec<u64> = (0..n).filter(|&k| picks(k, 0.3)).collect();
        assert_eq!(picked.len(), 300);
        // No two runs of more than three held in a row between picks.
        assert!(picked.windows(2).all(|w| w[1] - w[0] <= 4));
        assert_eq!((0..10).filter(|&k| picks(k, 1.0)).count(), 10);
        assert_eq!((0..10).filter(|&k| picks(k, 0.0)).count(), 0);
    }
}
