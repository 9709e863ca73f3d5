//! The load's shape over time (`run`, `connect`, `lab run`): `--stages`
//! and its shorthands `--ramp-up` and `--ramp-down`, and `--reconnect`
//! with its back-off; and the servers' `--close-fraction` (`serve`,
//! `run`, `lab run`). Parsed by [`crate::stages`], checked together
//! here before anything starts.

use std::time::Duration;

use anyhow::bail;
use clap::Args;

use super::args::{positive, positive_duration};
use crate::plan::shard::Shard;
use crate::plan::thousands;
use crate::stages::backoff::Reconnect;
use crate::stages::close::CloseFraction;
use crate::stages::{Stages, Step};

/// The default first step of the reconnect back-off.
pub const RECONNECT_DELAY: Duration = Duration::from_millis(100);
/// The default longest reconnect back-off.
pub const RECONNECT_MAX: Duration = Duration::from_secs(30);
/// The longest back-off `--reconnect-max` takes: a worker keeps a due
/// time in 32 bits of microseconds (71 minutes around), so half of that
/// and some.
pub const RECONNECT_MAX_LIMIT: Duration = Duration::from_secs(30 * 60);

/// The flags that shape the load over time.
#[derive(Debug, Clone, Default, Args)]
pub struct ShapeOpts {
    /// Stages, k6-style: DURATION:COUNT,… each moving the target linearly
    /// from where the last ended (0 first) to COUNT over DURATION, e.g.
    /// 30s:500k,10m:500k,30s:1M,5m:1M,1m:0. The largest COUNT is planned
    /// for (instead of -n) and the stages are the whole run (instead of
    /// --hold); going down closes connections at that pace (--close). A
    /// stage of 0s opens as fast as --window and --rate allow. Each is
    /// met when the kernel's count at its end is within 1% of its larger
    /// end.
    #[arg(long, value_name = "STAGES", value_parser = stages_list, conflicts_with_all = ["conns", "hold", "ramp_up", "ramp_down"])]
    pub stages: Option<Stages>,
    /// Open linearly from 0 to -n over this long, instead of as fast as
    /// --window and --rate allow (--stages D:N,HOLD:N).
    #[arg(long, value_name = "DURATION", value_parser = positive_duration)]
    pub ramp_up: Option<Duration>,
    /// After the hold, close linearly down to 0 over this long, instead
    /// of all at once at teardown (--stages …,D:0).
    #[arg(long, value_name = "DURATION", value_parser = positive_duration)]
    pub ramp_down: Option<Duration>,
    /// Keep the count at its target: reopen each connection the server
    /// closes, or that fails, after an exponential back-off with jitter
    /// (reopens counted by what ended the connection).
    #[arg(long)]
    pub reconnect: bool,
    /// The back-off's first step: a reopen waits from half of it to all
    /// of it, the step doubling with each failed attempt in a row
    /// [default: 100ms].
    #[arg(long, value_name = "DURATION", value_parser = positive_duration, requires = "reconnect")]
    pub reconnect_delay: Option<Duration>,
    /// The longest back-off step, at most 30m [default: 30s].
    #[arg(long, value_name = "DURATION", value_parser = reconnect_max, requires = "reconnect")]
    pub reconnect_max: Option<Duration>,
    /// Reopens per second at most, all workers together (100k, 1M)
    /// [default: as fast as --window allows].
    #[arg(long, value_name = "RATE", value_parser = positive, requires = "reconnect")]
    pub reconnect_rate: Option<f64>,
}

/// `--stages`, checked alone.
pub fn stages_list(text: &str) -> Result<Stages, String> {
    Stages::parse(text).map_err(|e| e.to_string())
}

/// `--reconnect-max`: more than zero, at most [`RECONNECT_MAX_LIMIT`].
pub fn reconnect_max(text: &str) -> Result<Duration, String> {
    let d = positive_duration(text)?;
    if d > RECONNECT_MAX_LIMIT {
        return Err(format!(
            "{:?} is longer than 30m, the longest back-off a worker keeps; write at most 30m",
            text.trim()
        ));
    }
    Ok(d)
}

/// `--close-fraction`, checked alone.
pub fn close_fraction(text: &str) -> Result<CloseFraction, String> {
    CloseFraction::parse(text)
}

/// What `--rate` (connections a second, all workers) cannot do: each
/// rising stage that needs more than `rate`, with the arithmetic (trial
/// 5: `--ramp-up 4s --rate 500 -n 5000` ran, and no stage was met).
pub fn rate_warnings(st: &Stages, rate: Option<f64>) -> Vec<String> {
    let Some(rate) = rate else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, s) in st.steps().iter().enumerate() {
        let from = st.from(k);
        if s.target <= from || s.duration.is_zero() {
            continue;
        }
        let secs = s.duration.as_secs_f64();
        let need = (s.target - from) as f64 / secs;
        if rate >= need * 0.99 {
            continue;
        }
        let reach = from + (rate * secs) as u64;
        out.push(format!(
            "--rate {}/s cannot meet stage {} ({} to {} in {secs} s needs {}/s): about {} by its end, so it will not be met; raise --rate to {}/s or give the stage longer",
            thousands(rate.round() as u64),
            k + 1,
            thousands(from),
            thousands(s.target),
            thousands(need.ceil() as u64),
            thousands(reach),
            thousands(need.ceil() as u64),
        ));
    }
    out
}

impl ShapeOpts {
    /// The stages of the run, for `-n conns` held `hold`: `--stages`, or
    /// the shorthands', or none (ramp, hold, teardown as usual).
    pub fn stages(&self, conns: u64, hold: Duration) -> Option<Stages> {
        self.stages
            .clone()
            .or_else(|| Stages::shorthand(conns, hold, self.ramp_up, self.ramp_down))
    }

    /// `--reconnect` with its back-off; an error when the longest step is
    /// shorter than the first.
    pub fn reconnect(&self) -> anyhow::Result<Option<Reconnect>> {
        if !self.reconnect {
            return Ok(None);
        }
        let delay = self.reconnect_delay.unwrap_or(RECONNECT_DELAY);
        let max = self.reconnect_max.unwrap_or(RECONNECT_MAX.max(delay));
        if max < delay {
            bail!(
                "--reconnect-max {} is shorter than --reconnect-delay {}: the back-off starts at the delay and grows to the max; give a longer --reconnect-max or a shorter --reconnect-delay",
                humantime::format_duration(max),
                humantime::format_duration(delay)
            );
        }
        Ok(Some(Reconnect {
            delay_ms: delay.as_millis().max(1) as u64,
            max_delay_ms: max.as_millis().max(1) as u64,
            rate: self.reconnect_rate,
        }))
    }
}

/// Shard `shard`'s part of every stage's target ([`Shard::part`]), the
/// stages' durations kept; an error when this shard's part of every
/// stage is 0.
pub fn shard_stages(st: &Stages, shard: Shard) -> anyhow::Result<Stages> {
    let steps = st
        .steps()
        .iter()
        .map(|s| Step {
            duration: s.duration,
            target: shard.part(s.target),
        })
        .collect();
    Stages::new(steps).map_err(|_| {
        anyhow::anyhow!(
            "--stages {st}: shard {shard} gets no connection in any stage; use fewer shards or larger counts"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_too_slow_for_a_stage_is_said_with_the_arithmetic() {
        let st = Stages::parse("4s:5000,2s:5000,10s:20k").unwrap();
        let w = rate_warnings(&st, Some(500.0));
        assert_eq!(
            w[0],
            "--rate 500/s cannot meet stage 1 (0 to 5,000 in 4 s needs 1,250/s): about 2,000 by its end, so it will not be met; raise --rate to 1,250/s or give the stage longer"
        );
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[1].starts_with(
                "--rate 500/s cannot meet stage 3 (5,000 to 20,000 in 10 s needs 1,500/s)"
            ),
            "{w:?}"
        );
        assert!(rate_warnings(&st, Some(1500.0)).is_empty());
        assert!(rate_warnings(&st, None).is_empty());
    }

    #[test]
    fn reconnect_settings_and_their_checks() {
        let mut o = ShapeOpts::default();
        assert_eq!(o.reconnect().unwrap(), None);
        o.reconnect = true;
        let r = o.reconnect().unwrap().unwrap();
        assert_eq!((r.delay_ms, r.max_delay_ms, r.rate), (100, 30_000, None));
        o.reconnect_delay = Some(Duration::from_secs(60));
        // The default cap grows to a longer first step.
        assert_eq!(o.reconnect().unwrap().unwrap().max_delay_ms, 60_000);
        o.reconnect_max = Some(Duration::from_secs(1));
        let e = o.reconnect().unwrap_err().to_string();
        assert!(
            e.starts_with("--reconnect-max 1s is shorter than --reconnect-delay 1m"),
            "{e}"
        );
        assert!(reconnect_max("31m").unwrap_err().contains("at most 30m"));
        assert!(reconnect_max("0").is_err());
        assert_eq!(reconnect_max("30m"), Ok(RECONNECT_MAX_LIMIT));
    }

    #[test]
    fn shorthands_and_shards() {
        let mut o = ShapeOpts::default();
        assert_eq!(o.stages(1000, Duration::from_secs(5)), None);
        o.ramp_down = Some(Duration::from_secs(10));
        let st = o.stages(1000, Duration::from_secs(5)).unwrap();
        assert_eq!(st.to_string(), "0s:1000,5s:1000,10s:0");
        let shard = Shard { index: 1, count: 3 };
        assert_eq!(
            shard_stages(&st, shard).unwrap().to_string(),
            "0s:333,5s:333,10s:0"
        );
        let tiny = Stages::parse("1s:1").unwrap();
        let e = shard_stages(&tiny, shard).unwrap_err().to_string();
        assert!(e.contains("gets no connection in any stage"), "{e}");
    }
}
