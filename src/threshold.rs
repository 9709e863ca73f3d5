//! The thresholds of `--fail-if`: conditions that fail a run when they
//! are true (`held<99.9%`, `p99(rtt)>50ms`, `errors>0.1%`,
//! `connect_rate<20k/s`), for CI. A small typed grammar, parsed once
//! before anything starts, with errors that name the part that is wrong;
//! judged on the report at the end (`report::gate`) and, with
//! `--abort-on-fail`, during the experiment on what is already known
//! ([`Threshold::trips`]). Pure: text in, values out.
//!
//! ```text
//! THRESHOLD := METRIC OP VALUE
//! OP        := <  <=  >  >=            (the run fails when it is true)
//! METRIC    := held | reached | min_held           counts of connections
//!            | errors | closes | lost | phantoms   counts of failures
//!            | STAT(SERIES)                        latency
//!            | connect_rate                        connections per second
//!            | ramp_time                           a duration
//! STAT      := p50 | p90 | p99 | p99.9 | max | mean
//! SERIES    := rtt | connect | first_byte
//! VALUE     := a count (0, 1500, 10k, 1.5M) or a percent (99.9%) for counts:
//!              a percent of the target (-n), for errors of the connection
//!              attempts (reopens included), for lost of the heartbeats sent;
//!              a duration for latency and ramp_time, in the grammar every
//!              duration flag takes (`c1m_limits::num::parse_duration`:
//!              250µs or 250us, 50ms, 1.5s, 2m, 1h, or bare seconds); a
//!              rate with /s (20k/s, 500/s) for connect_rate
//! ```
//!
//! A failed threshold sets the exit code of its family ([`Family`]):
//! 3 held, 4 latency, 5 failures, 6 the ramp's pace; the lowest when
//! several fail.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a failed threshold is about; each family has its own exit code,
/// distinct from 0 (ok), 1 (fewer held, a worker died), 2 (bad input),
/// 130 and 143 (signals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// Connections held: `held`, `reached`, `min_held`.
    Held,
    /// Latency: `p99(rtt)` and the other statistics.
    Latency,
    /// Failures: `errors`, `closes`, `lost`, `phantoms`.
    Failures,
    /// The ramp's pace: `connect_rate`, `ramp_time`.
    Pace,
}

/// Exit code: a threshold on connections held failed.
pub const EXIT_HELD: u8 = 3;
/// Exit code: a latency threshold failed.
pub const EXIT_LATENCY: u8 = 4;
/// Exit code: a threshold on failures (errors, closes, lost, phantoms)
/// failed.
pub const EXIT_FAILURES: u8 = 5;
/// Exit code: a threshold on the ramp's pace failed.
pub const EXIT_PACE: u8 = 6;

impl Family {
    /// The process's exit code when a threshold of this family fails.
    pub fn exit_code(self) -> u8 {
        match self {
            Family::Held => EXIT_HELD,
            Family::Latency => EXIT_LATENCY,
            Family::Failures => EXIT_FAILURES,
            Family::Pace => EXIT_PACE,
        }
    }
}

/// A statistic of a latency histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stat {
    /// Median.
    P50,
    /// 90th percentile.
    P90,
    /// 99th percentile.
    P99,
    /// 99.9th percentile.
    P999,
    /// The longest.
    Max,
    /// The mean.
    Mean,
}

/// A latency c1m measures (the report's `latency` histograms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Series {
    /// A heartbeat's scheduled send to its whole reply.
    Rtt,
    /// connect() to established.
    Connect,
    /// A heartbeat's scheduled send to the reply's first byte.
    FirstByte,
}

/// What a threshold judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Held at the end of the hold, as the verdict counts it
    /// (`held.at_end`, no more than the server application accepted).
    Held,
    /// The most held at once (`held.reached`).
    Reached,
    /// The fewest held in any sample of the hold
    /// (`held.min_during_hold`).
    MinHeld,
    /// Connections that failed, every cause, both sides (the summary's
    /// `errors`); a percent of them is of the connection attempts
    /// (`report::gate::attempts`: connect() calls, reopens included).
    Errors,
    /// Established connections the server closed (`closes`).
    Closes,
    /// Heartbeats whose reply never came (`latency.lost`).
    Lost,
    /// Connections only the client has (`phantoms.count`).
    Phantoms,
    /// The ramp's average: reached over the time to reach, per second.
    ConnectRate,
    /// From the first connect() to the last handshake (`time_to_reach`).
    RampTime,
    /// A statistic of a latency.
    Latency(Stat, Series),
}

/// The kind of number a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Count,
    Duration,
    Rate,
}

/// Every metric, for error messages and help.
pub const METRICS: &str = "held, reached, min_held, errors, closes, lost, phantoms, connect_rate, ramp_time, and p50|p90|p99|p99.9|max|mean of (rtt|connect|first_byte), e.g. p99(rtt)";

impl Metric {
    fn kind(self) -> Kind {
        match self {
            Metric::ConnectRate => Kind::Rate,
            Metric::RampTime | Metric::Latency(..) => Kind::Duration,
            _ => Kind::Count,
        }
    }

    /// Which exit code its failure gives.
    pub fn family(self) -> Family {
        match self {
            Metric::Held | Metric::Reached | Metric::MinHeld => Family::Held,
            Metric::Errors | Metric::Closes | Metric::Lost | Metric::Phantoms => Family::Failures,
            Metric::ConnectRate | Metric::RampTime => Family::Pace,
            Metric::Latency(..) => Family::Latency,
        }
    }

    /// What a percent of this metric is a percent of.
    pub fn percent_of(self) -> &'static str {
        match self {
            Metric::Lost => "the heartbeats sent",
            _ => "the target (-n)",
        }
    }

    fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim().to_ascii_lowercase().replace('-', "_");
        if t.is_empty() {
            return Err(format!(
                "no metric before the comparison; metrics: {METRICS}"
            ));
        }
        if let Some((stat, rest)) = t.split_once('(') {
            let series = rest.strip_suffix(')').ok_or_else(|| {
                format!("{text:?}: a latency is written STAT(SERIES), e.g. p99(rtt)")
            })?;
            let series = match series.trim() {
                "rtt" => Series::Rtt,
                "connect" => Series::Connect,
                "first_byte" => Series::FirstByte,
                s => {
                    return Err(format!(
                        "{s:?} is not a latency c1m measures: use rtt (a heartbeat's round trip), connect (connect() to established) or first_byte"
                    ));
                }
            };
            let stat = match stat.trim() {
                "p50" => Stat::P50,
                "p90" => Stat::P90,
                "p99" => Stat::P99,
                "p99.9" | "p999" => Stat::P999,
                "max" | "p100" => Stat::Max,
                "mean" | "avg" => Stat::Mean,
                s => {
                    return Err(format!(
                        "{s:?} is not a statistic c1m reports: use p50, p90, p99, p99.9, max or mean, e.g. p99(rtt)"
                    ));
                }
            };
            return Ok(Metric::Latency(stat, series));
        }
        Ok(match t.as_str() {
            "held" | "held_at_end" => Metric::Held,
            "reached" => Metric::Reached,
            "min_held" => Metric::MinHeld,
            "errors" | "failed" => Metric::Errors,
            "closes" => Metric::Closes,
            "lost" => Metric::Lost,
            "phantoms" => Metric::Phantoms,
            "connect_rate" => Metric::ConnectRate,
            "ramp_time" | "time_to_reach" => Metric::RampTime,
            "p50" | "p90" | "p99" | "p99.9" | "p999" | "max" | "mean" => {
                return Err(format!(
                    "{text:?} of what: write {t}(rtt), {t}(connect) or {t}(first_byte)"
                ));
            }
            "rtt" | "connect" | "first_byte" => {
                return Err(format!(
                    "{text:?} needs a statistic: write e.g. p99({t}), p50({t}) or max({t})"
                ));
            }
            _ => return Err(format!("{text:?} is not a metric; metrics: {METRICS}")),
        })
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Metric::Held => "held",
            Metric::Reached => "reached",
            Metric::MinHeld => "min_held",
            Metric::Errors => "errors",
            Metric::Closes => "closes",
            Metric::Lost => "lost",
            Metric::Phantoms => "phantoms",
            Metric::ConnectRate => "connect_rate",
            Metric::RampTime => "ramp_time",
            Metric::Latency(stat, series) => {
                let stat = match stat {
                    Stat::P50 => "p50",
                    Stat::P90 => "p90",
                    Stat::P99 => "p99",
                    Stat::P999 => "p99.9",
                    Stat::Max => "max",
                    Stat::Mean => "mean",
                };
                let series = match series {
                    Series::Rtt => "rtt",
                    Series::Connect => "connect",
                    Series::FirstByte => "first_byte",
                };
                return write!(f, "{stat}({series})");
            }
        };
        f.write_str(name)
    }
}

/// A comparison; the run fails when it is true.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Op {
    /// Whether `value OP limit` is true (the threshold fails).
    pub fn holds(self, value: f64, limit: f64) -> bool {
        match self {
            Op::Lt => value < limit,
            Op::Le => value <= limit,
            Op::Gt => value > limit,
            Op::Ge => value >= limit,
        }
    }

    /// `<`, `<=`, `>`, `>=`.
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }

    /// True for `<` and `<=`: the run fails when the figure is low.
    pub fn fails_low(self) -> bool {
        matches!(self, Op::Lt | Op::Le)
    }
}

/// The unit of a threshold's number, and of the figure judged against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Unit {
    /// Connections (or heartbeats, for `lost`).
    Count,
    /// A percent of the target (-n); for `lost`, of the heartbeats sent.
    Percent,
    /// Microseconds.
    Us,
    /// Connections per second.
    PerSecond,
}

/// One `--fail-if` threshold: `METRIC OP VALUE`.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// What it judges.
    pub metric: Metric,
    /// The comparison that fails the run.
    pub op: Op,
    /// Its number, in `unit`.
    pub limit: f64,
    /// The unit of `limit`.
    pub unit: Unit,
    /// The value as written, spaces removed (shown back as given).
    written: String,
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.metric, self.op.symbol(), self.written)
    }
}

impl FromStr for Threshold {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse(s)
    }
}

/// Written as its text in the JSON report (`"p99(rtt)>50ms"`).
impl Serialize for Threshold {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Threshold {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map_err(serde::de::Error::custom)
    }
}

/// How a threshold is written, for the end of every error.
const WRITE: &str = "write METRIC<VALUE or METRIC>VALUE (<=, >= too), e.g. held<99.9%, p99(rtt)>50ms, errors>0.1%, connect_rate<20k/s";

/// Parses `held<99.9%`, `p99(rtt)>50ms`, `errors>0.1%`,
/// `connect_rate<20k/s`, `ramp_time>30s` (see the module's grammar).
///
/// Errors, in one line each, name the part that is wrong: no comparison,
/// an unknown metric (listing every metric), a value of the wrong kind for
/// its metric (a duration for a count), a missing or unknown unit, a
/// percent over 100.
pub fn parse(text: &str) -> Result<Threshold, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err(format!("an empty threshold: {WRITE}"));
    }
    let Some(at) = t.find(['<', '>', '=', '!']) else {
        return Err(format!("no comparison in {t:?}: {WRITE}"));
    };
    let rest = &t[at..];
    let (op, len) = match rest.as_bytes() {
        [b'<', b'=', ..] => (Op::Le, 2),
        [b'>', b'=', ..] => (Op::Ge, 2),
        [b'<', ..] => (Op::Lt, 1),
        [b'>', ..] => (Op::Gt, 1),
        _ => {
            let op: String = rest.chars().take_while(|c| "=!<>".contains(*c)).collect();
            return Err(format!(
                "{op:?} in {t:?} is not a comparison --fail-if takes: use <, <=, > or >= (the run fails when it is true)"
            ));
        }
    };
    let metric = Metric::parse(&t[..at])?;
    let written: String = rest[len..].split_whitespace().collect();
    if written.is_empty() {
        return Err(format!(
            "no value after {metric}{}: {}",
            op.symbol(),
            example(metric)
        ));
    }
    let (limit, unit) = value(metric, &written)?;
    Ok(Threshold {
        metric,
        op,
        limit,
        unit,
        written,
    })
}

/// What a value of `m` looks like.
fn example(m: Metric) -> String {
    match m.kind() {
        Kind::Count => format!(
            "{m} is a count: write a count (0, 1500, 10k, 1.5M) or a percent of {} (99.9%)",
            m.percent_of()
        ),
        Kind::Duration => {
            format!(
                "{m} is a duration: write it as --hold takes one (250µs or 250us, 50ms, 1.5s, 2m, 1h; a bare number is seconds)"
            )
        }
        Kind::Rate => format!("{m} is a rate: write connections per second with /s (20k/s, 500/s)"),
    }
}

/// A plain number, at least zero and finite, with a decimal multiplier
/// (`k`, `M`, `G`) when `scaled`.
fn number(text: &str, scaled: bool) -> Option<f64> {
    let (n, scale) = match text.chars().last() {
        Some('k' | 'K') if scaled => (&text[..text.len() - 1], 1e3),
        Some('m' | 'M') if scaled => (&text[..text.len() - 1], 1e6),
        Some('G') if scaled => (&text[..text.len() - 1], 1e9),
        _ => (text, 1.0),
    };
    // Rust's float syntax also takes "inf", "NaN" and "1e3": digits and
    // one point only.
    let plain = !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && n.bytes().filter(|&b| b == b'.').count() <= 1
        && n != ".";
    let v = n.parse::<f64>().ok().filter(|_| plain)? * scale;
    v.is_finite().then_some(v)
}

/// The value of a threshold on `m`, in its unit.
fn value(m: Metric, v: &str) -> Result<(f64, Unit), String> {
    let wrong = || format!("{v:?} is not a value for it: {}", example(m));
    match m.kind() {
        Kind::Count => {
            if let Some(p) = v.strip_suffix('%') {
                let p = number(p, false).ok_or_else(wrong)?;
                if p > 100.0 {
                    return Err(format!("{v:?}: a percent is at most 100%"));
                }
                return Ok((p, Unit::Percent));
            }
            let plain: String = v.chars().filter(|c| *c != ',' && *c != '_').collect();
            let n = number(&plain, true).ok_or_else(wrong)?;
            if n.fract() != 0.0 {
                return Err(format!(
                    "{v:?} is not a whole number of {m}; for a share, add %: {v}%"
                ));
            }
            Ok((n, Unit::Count))
        }
        Kind::Duration => {
            if v.ends_with('%') {
                return Err(wrong());
            }
            // c1m's one grammar of durations, as --hold reads it: a bare
            // number is seconds.
            let d = c1m_limits::num::parse_duration(v).map_err(|why| {
                if why.contains("longer than 365 days") {
                    format!(
                        "{v:?} is more than 365 days: {m} is a duration, write e.g. 50ms, 1.5s or 2m"
                    )
                } else {
                    format!("{why} ({m} is a duration)")
                }
            })?;
            Ok((d.as_nanos() as f64 / 1e3, Unit::Us))
        }
        Kind::Rate => {
            let n = v
                .strip_suffix("/s")
                .ok_or_else(|| format!("{v:?} is not a rate: {}", example(m)))?;
            Ok((number(n, true).ok_or_else(wrong)?, Unit::PerSecond))
        }
    }
}

impl Threshold {
    /// A count `n` in this threshold's unit: itself, or its percent of
    /// `of` (`None` when `of` is 0: no percent of nothing).
    pub fn count_value(&self, n: u64, of: u64) -> Option<f64> {
        match self.unit {
            Unit::Percent if of == 0 => None,
            Unit::Percent => Some(100.0 * n as f64 / of as f64),
            _ => Some(n as f64),
        }
    }

    /// Whether `value` (in this threshold's unit) fails it.
    pub fn fails(&self, value: f64) -> bool {
        self.op.holds(value, self.limit)
    }

    /// The figure, in this threshold's unit, when what is known during
    /// the experiment (`live`) already fails it; `None` otherwise, or
    /// when its metric is known only at the end.
    ///
    /// Known during the run: `held` and `min_held` falling too low in
    /// the hold (the workers' count of each sample; the fewest in the
    /// hold can only fall, the count at the end is read again then),
    /// `errors` and `closes` rising too high (they only grow), the ramp
    /// running past a `ramp_time` limit, and `connect_rate` once the
    /// ramp is done. Latency, `lost`, `reached` and `phantoms` are judged
    /// at the end only.
    pub fn trips(&self, l: &Live) -> Option<f64> {
        let low = self.op.fails_low();
        let v = match self.metric {
            Metric::Held | Metric::MinHeld if low && l.in_hold => {
                self.count_value(l.held, l.target)?
            }
            Metric::Errors if !low => self.count_value(l.errors, l.attempts)?,
            Metric::Closes if !low => self.count_value(l.closes, l.target)?,
            Metric::RampTime if !low => match l.ramp_done {
                Some((_, secs)) => secs * 1e6,
                None => l.ramp_secs? * 1e6,
            },
            Metric::ConnectRate if low => match l.ramp_done? {
                (n, secs) if secs > 0.0 => n as f64 / secs,
                _ => return None,
            },
            _ => return None,
        };
        self.fails(v).then_some(v)
    }
}

/// What is known of the experiment while it runs, for `--abort-on-fail`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Live {
    /// Connections asked for (`-n`; with stages, the target of the
    /// moment): what percents of `held` and `closes` are of.
    pub target: u64,
    /// Connection attempts so far (`report::gate::attempts`: the
    /// clients' connect() calls, reopens included): what a percent of
    /// `errors` is of, as at the end.
    pub attempts: u64,
    /// Whether the hold has begun.
    pub in_hold: bool,
    /// Connections held now, by the workers' count.
    pub held: u64,
    /// Connections failed so far, every cause, both sides.
    pub errors: u64,
    /// Established connections the server closed so far.
    pub closes: u64,
    /// Seconds since the ramp began; `None` before it.
    pub ramp_secs: Option<f64>,
    /// When the ramp is done: the most held and the seconds it took.
    pub ramp_done: Option<(u64, f64)>,
}

/// A threshold that failed during the experiment (`--abort-on-fail`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Trip {
    /// Seconds since the experiment started.
    pub t: f64,
    /// The figure then, in the threshold's unit.
    pub value: f64,
}

/// An experiment's thresholds, and which failed during it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gate {
    /// The thresholds, in the order given.
    pub thresholds: Vec<Threshold>,
    /// Whether a threshold failing during the experiment ends it.
    pub abort_on_fail: bool,
    /// For each threshold, when it failed during the experiment.
    pub trips: Vec<Option<Trip>>,
}

impl Gate {
    /// `thresholds`, judged during the experiment too when
    /// `abort_on_fail`.
    pub fn new(thresholds: Vec<Threshold>, abort_on_fail: bool) -> Self {
        let trips = vec![None; thresholds.len()];
        Self {
            thresholds,
            abort_on_fail,
            trips,
        }
    }

    /// With `--abort-on-fail`: the first threshold `live` (at `t` seconds)
    /// fails for good, recorded as tripped; the experiment then ends.
    /// `None` without `--abort-on-fail`, or when none fails yet.
    pub fn check(&mut self, t: f64, live: &Live) -> Option<usize> {
        if !self.abort_on_fail {
            return None;
        }
        let (i, value) = self
            .thresholds
            .iter()
            .enumerate()
            .find_map(|(i, th)| th.trips(live).map(|v| (i, v)))?;
        self.trips[i] = Some(Trip { t, value });
        Some(i)
    }
}

#[cfg(test)]
mod tests;
