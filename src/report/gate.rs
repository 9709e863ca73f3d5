//! `--fail-if` thresholds judged on a finished report: each metric's
//! figure read from the report's own fields (the same figures the
//! summary shows, from the same sources), compared, and described in
//! words. Pure: a report and the thresholds in, results out. The
//! verdict's exit code then comes from [`super::judge::verdict`].

use std::time::Duration;

use crate::latency::{Percentiles, human_us};
use crate::plan::thousands;
use crate::threshold::{Gate, Live, Metric, Series, Stat, Threshold, Unit};

use super::judge::held_by_server;
use super::model::{
    CommandKind, CountSource, Report, Sample, Seen, ThresholdResult, ThresholdStatus,
};
use crate::wire::Stats;

/// Judges each of `gate`'s thresholds on `r`; a threshold that tripped
/// during the run (`--abort-on-fail`) fails whatever the figure at the
/// end.
pub fn judge(gate: &Gate, r: &Report) -> Vec<ThresholdResult> {
    gate.thresholds
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let tripped = gate.trips.get(i).copied().flatten();
            let (value, mut figure) = match figure(t, r) {
                Ok((v, words)) => (Some(v), words),
                Err(why) => (None, format!("not measured: {why}")),
            };
            let status = match value {
                None => ThresholdStatus::NotMeasured,
                Some(_) if tripped.is_some() => ThresholdStatus::Fail,
                Some(v) if t.fails(v) => ThresholdStatus::Fail,
                Some(_) => ThresholdStatus::Pass,
            };
            if let Some(trip) = tripped {
                figure += &format!(
                    "; failed during the run at {:.1} s ({}), ending it (--abort-on-fail)",
                    trip.t,
                    show(t.unit, trip.value)
                );
            }
            ThresholdResult {
                threshold: t.clone(),
                status,
                value,
                limit: t.limit,
                unit: t.unit,
                figure,
                exit_code: t.metric.family().exit_code(),
                tripped,
            }
        })
        .collect()
}

/// The connection attempts a percent of `errors` is of: the clients'
/// connect() calls, reopens (`--reconnect`) included; for `serve`
/// (whose clients are not c1m's), the connections its servers accepted. The same figure
/// during the run (`--abort-on-fail`, from the workers' counters) and at
/// the end (from the report's).
pub fn attempts(serve: bool, clients: &Stats, servers: &Stats) -> u64 {
    match serve {
        true => servers.attempted,
        false => clients.attempted + clients.reconnects.total(),
    }
}

/// What the timeline knows during the experiment, for
/// `--abort-on-fail`: the last sample's counts (the workers'; the
/// server's side for `serve`), the connection `attempts` so far, the
/// time since the ramp began, and once the ramp is done (`ramp.1`, its
/// length) the most held in any sample. `None` before the first sample.
pub fn live(
    timeline: &[Sample],
    (target, attempts): (u64, u64),
    serve: bool,
    ramp: (Duration, Option<Duration>),
    in_hold: bool,
) -> Option<Live> {
    let last = timeline.last()?;
    let held = |s: &Sample| {
        if serve { s.servers() } else { s.established }
    };
    let peak = timeline.iter().map(held).max().unwrap_or(0);
    Some(Live {
        target,
        attempts,
        in_hold,
        held: held(last),
        errors: last.failed,
        closes: last.closed,
        ramp_secs: Some(ramp.0.as_secs_f64()),
        ramp_done: ramp.1.map(|d| (peak, d.as_secs_f64())),
    })
}

/// The line that says threshold `i` of `g` failed during the run:
/// `--fail-if held<99% failed 3.2 s in: held was 74.95%`.
pub fn trip_line(g: &Gate, i: usize) -> String {
    let t = &g.thresholds[i];
    match g.trips.get(i).copied().flatten() {
        Some(trip) => format!(
            "--fail-if {t} failed {:.1} s in: {} was {}",
            trip.t,
            t.metric,
            show(t.unit, trip.value)
        ),
        None => format!("--fail-if {t} failed"),
    }
}

/// A figure in a threshold's unit: `1,500`, `99.95%`, `12.3 ms`,
/// `19,500/s`.
pub fn show(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Count => thousands(v.round() as u64),
        Unit::Percent => format!("{}%", trim(v)),
        Unit::Us => human_us(v.round() as u64),
        Unit::PerSecond => format!("{}/s", thousands(v.round() as u64)),
    }
}

/// A percent with as many decimals as it needs, at most three: `75%`,
/// `99.95%`.
fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `n`'s share of `of` in words, after `n`: ` of 4,000 (75%)`, with
/// `noun` after `of`'s figure; empty when `of` is 0.
fn share(n: u64, of: u64, noun: &str) -> String {
    match of {
        0 => String::new(),
        of => format!(
            " of {}{noun} ({}%)",
            thousands(of),
            trim(100.0 * n as f64 / of as f64)
        ),
    }
}

/// `t`'s metric in `r`, in `t`'s unit, and in words; or why it was not
/// measured.
fn figure(t: &Threshold, r: &Report) -> Result<(f64, String), String> {
    let target = r.target;
    // The most the run asked for at once: the largest stage's count (a
    // run that ramps down to 0 ends at a target of 0), else the target.
    // Counts other than what is held at the end are percents of it.
    let most = r
        .stages
        .as_ref()
        .and_then(|s| s.stages.iter().map(|x| x.target).max())
        .unwrap_or(0)
        .max(target);
    // A count and its share of what a percent is of.
    let count = |n: u64, of: u64, what: &str| -> Result<(f64, String), String> {
        let v = t
            .count_value(n, of)
            .ok_or_else(|| format!("{what}: no percent of zero"))?;
        Ok((v, format!("{}{} {what}", thousands(n), share(n, of, ""))))
    };
    match t.metric {
        Metric::Held => {
            let (n, judged) = match (r.command, r.server_side.seen) {
                (CommandKind::Serve, _) => (r.held.at_end, ""),
                (_, Seen::Local) => (
                    held_by_server(r.held.at_end, &r.server_side),
                    ", no more than the server application accepted",
                ),
                // The server is out of sight: what it accepted is unknown.
                (_, Seen::Remote) => (r.held.at_end, ""),
            };
            let source = match r.held.source {
                CountSource::Kernel => "the kernel's count",
                CountSource::Workers => "the workers' count",
            };
            let what = format!("held at the end ({source}{judged})");
            if target == 0 && t.unit == Unit::Percent {
                // A run that ends at a target of 0 (`--ramp-down`, a
                // last stage of 0): the end holds all it was asked to.
                return Ok((
                    100.0,
                    format!("{} {what}, the target being 0", thousands(n)),
                ));
            }
            count(n, target, &what)
        }
        Metric::Reached => count(r.held.reached, most, "most held at once"),
        Metric::MinHeld => {
            let n = r
                .held
                .min_during_hold
                .ok_or("there was no hold (the experiment ended before it)")?;
            count(n, most, "fewest held in the hold")
        }
        Metric::Errors => {
            let n = r.clients.failed.total() + r.servers.failed.total();
            let of = attempts(r.command == CommandKind::Serve, &r.clients, &r.servers);
            let v = t
                .count_value(n, of)
                .ok_or("no connection was attempted, so there is no percent of them")?;
            let share = share(n, of, " connection attempts");
            Ok((v, format!("{}{share} failed", thousands(n))))
        }
        Metric::Closes => count(r.closes.total(), most, "closed by the server"),
        Metric::Lost => {
            if r.clients.sent == 0 {
                return Err("no heartbeat was sent (traffic: --mode heartbeat)".into());
            }
            let v = t.count_value(r.latency.lost, r.clients.sent).unwrap_or(0.0);
            Ok((
                v,
                format!(
                    "{} of {} heartbeats ({}%) lost",
                    thousands(r.latency.lost),
                    thousands(r.clients.sent),
                    trim(100.0 * r.latency.lost as f64 / r.clients.sent as f64)
                ),
            ))
        }
        Metric::Phantoms => {
            let p = r
                .phantoms
                .as_ref()
                .ok_or("the server is not visible from here, so connections only the client has cannot be counted")?;
            count(
                p.count,
                most,
                "only on the client (the server never created them)",
            )
        }
        Metric::ConnectRate => {
            let secs = ramp(r)?;
            let rate = r.held.reached as f64 / secs.max(1e-9);
            Ok((
                rate,
                format!(
                    "{}/s on average ({} in {secs:.2} s)",
                    thousands(rate.round() as u64),
                    thousands(r.held.reached)
                ),
            ))
        }
        Metric::RampTime => {
            let secs = ramp(r)?;
            Ok((
                secs * 1e6,
                format!("{secs:.2} s to reach {}", thousands(r.held.reached)),
            ))
        }
        Metric::Latency(stat, series) => {
            let (p, name, needs) = match series {
                Series::Rtt => (
                    &r.latency.rtt,
                    "round trips",
                    "heartbeats: --mode heartbeat",
                ),
                Series::Connect => (&r.latency.connect, "handshakes", "no connection was made"),
                Series::FirstByte => (
                    &r.latency.first_byte,
                    "first bytes of replies",
                    "heartbeats: --mode heartbeat",
                ),
            };
            let p = p
                .as_ref()
                .ok_or_else(|| format!("no {name} were timed ({needs})"))?;
            let v = stat_of(p, stat);
            Ok((
                v,
                format!(
                    "{} {} over {} {name}",
                    t.metric,
                    human_us(v.round() as u64),
                    thousands(p.count)
                ),
            ))
        }
    }
}

/// The seconds the ramp took, or why there are none.
fn ramp(r: &Report) -> Result<f64, String> {
    r.time_to_reach
        .filter(|_| r.held.reached > 0)
        .ok_or_else(|| "the ramp did not finish".to_string())
}

/// One statistic of a histogram's percentiles, µs.
fn stat_of(p: &Percentiles, s: Stat) -> f64 {
    match s {
        Stat::P50 => p.p50 as f64,
        Stat::P90 => p.p90 as f64,
        Stat::P99 => p.p99 as f64,
        Stat::P999 => p.p999 as f64,
        Stat::Max => p.max as f64,
        Stat::Mean => p.mean,
    }
}

#[cfg(test)]
mod tests;
