//! Load shapes over time, pure: the stages of `--stages` (a duration and a
//! target count each, linear in between, as k6's stages), the shorthands
//! `--ramp-up` and `--ramp-down`, how a target is split over the client
//! workers, a worker's own linear [`Pace`] toward its part, the
//! reconnect back-off ([`backoff`]) and the server's `--close-fraction`
//! ([`close`]). Every function takes the time as an argument, so the
//! schedules are unit-tested without clocks or sleeps.
//!
//! A stage moves the target count linearly from where the previous one
//! ended (0 before the first) to its own target over its duration, then
//! the next begins. A stage of zero duration (`0s:N`) jumps: its
//! connections open as fast as `--window` and `--rate` allow, and it ends
//! once they are open (or failed). The experiment plans for the largest
//! target; stages going down close connections at the pace the line
//! sets.
//!
//! **Met:** a stage is met when the kernel's count of c1m's own
//! ESTABLISHED client sockets at its end is within [`TOLERANCE`] of the
//! larger of its two ends (its start and its target), and at least one
//! connection: the count is read at the stage's end while the next stage
//! may already move, and a handshake or a close under way then is not
//! yet counted.

pub mod backoff;
pub mod close;

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How far off a stage's target its count may end and still be met, as
/// a fraction of the larger of its two ends ([`Stages::tolerance`]).
pub const TOLERANCE: f64 = 0.01;

/// The most stages one run takes: more is a generated list gone wrong.
pub const MAX_STAGES: usize = 1000;

/// The longest stage: a year (as every other duration flag).
pub const MAX_STAGE: Duration = c1m_limits::num::MAX_DURATION;

/// One stage: move to `target` connections over `duration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// How long the stage lasts; zero: as fast as possible.
    pub duration: Duration,
    /// Connections at its end.
    pub target: u64,
}

/// The stages of a run, in order; never empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stages {
    steps: Vec<Step>,
}

/// Why a `--stages` list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StagesError {
    /// Nothing given.
    #[error("empty; give stages as DURATION:COUNT,… (e.g. 30s:500k,10m:500k,30s:0)")]
    Empty,
    /// One stage is not `DURATION:COUNT`.
    #[error(
        "stage {index} {text:?}: {why}; write each stage as DURATION:COUNT (e.g. 30s:500k, 10m:1M, 1m:0)"
    )]
    Stage {
        /// Its place in the list, from 1.
        index: usize,
        /// The stage as written.
        text: String,
        /// What is wrong with it.
        why: String,
    },
    /// An empty stage: a comma at the list's start or end, or two in a
    /// row ([`crate::plan::addr::list_items`]).
    #[error(
        "an empty stage ({why}): each stage is DURATION:COUNT, and none may be left empty; write {without:?}"
    )]
    EmptyItem {
        /// Where, in words (`"a comma at its end"`).
        why: &'static str,
        /// The stages without it.
        without: String,
    },
    /// Too many stages.
    #[error("{0} stages; give at most {MAX_STAGES}")]
    TooMany(usize),
    /// Every target is zero: nothing would ever be opened.
    #[error(
        "every stage's target is 0: nothing would be opened; give a stage a count (e.g. 30s:1000)"
    )]
    AllZero,
}

impl Stages {
    /// Stages from a list: an error when it is empty, too long, or every
    /// target is zero.
    pub fn new(steps: Vec<Step>) -> Result<Self, StagesError> {
        if steps.is_empty() {
            return Err(StagesError::Empty);
        }
        if steps.len() > MAX_STAGES {
            return Err(StagesError::TooMany(steps.len()));
        }
        if steps.iter().all(|s| s.target == 0) {
            return Err(StagesError::AllZero);
        }
        Ok(Self { steps })
    }

    /// Parses `30s:500k,10m:500k,30s:1M,5m:1M,1m:0`: stages separated by
    /// commas, each a duration (`30s`, `250ms`, `10m`, `1h`, or seconds)
    /// and a count (`500k`, `1M`, `1,000`, `0`) joined by a colon. A
    /// count may not use commas inside a list: write `1000` or `1k`.
    pub fn parse(text: &str) -> Result<Self, StagesError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(StagesError::Empty);
        }
        match crate::plan::addr::list_items(text) {
            Err(crate::plan::addr::ListError::EmptyItem { why, without }) => {
                return Err(StagesError::EmptyItem { why, without });
            }
            Err(crate::plan::addr::ListError::Empty) => return Err(StagesError::Empty),
            Ok(_) => {}
        }
        let mut steps = Vec::new();
        for (i, part) in text.split(',').enumerate() {
            let bad = |why: String| StagesError::Stage {
                index: i + 1,
                text: part.to_string(),
                why,
            };
            let Some((d, n)) = part.trim().split_once(':') else {
                return Err(bad("no colon between its duration and its count".into()));
            };
            let duration = parse_duration(d.trim()).map_err(&bad)?;
            let n = n.trim();
            // A count, or none (the parser of counts starts at 1).
            let zero = !n.is_empty() && n.bytes().all(|b| b == b'0');
            let target = if zero {
                Ok(0)
            } else {
                c1m_limits::num::parse_count(n)
            }
            .map_err(|_| {
                bad(format!(
                    "{n:?} is not a count (write e.g. 0, 1000, 500k, 1M)"
                ))
            })?;
            if steps.len() == MAX_STAGES {
                return Err(StagesError::TooMany(text.split(',').count()));
            }
            steps.push(Step { duration, target });
        }
        Self::new(steps)
    }

    /// The stages the shorthands make for `-n conns` held `hold`:
    /// `--ramp-up D` opens linearly from 0 over D (instead of as fast as
    /// the window allows), `--ramp-down D` closes linearly to 0 over D
    /// after the hold (instead of all at once at teardown). `None` when
    /// neither is given.
    pub fn shorthand(
        conns: u64,
        hold: Duration,
        ramp_up: Option<Duration>,
        ramp_down: Option<Duration>,
    ) -> Option<Self> {
        if ramp_up.is_none() && ramp_down.is_none() {
            return None;
        }
        let mut steps = vec![Step {
            duration: ramp_up.unwrap_or(Duration::ZERO),
            target: conns,
        }];
        if !hold.is_zero() {
            steps.push(Step {
                duration: hold,
                target: conns,
            });
        }
        if let Some(d) = ramp_down {
            steps.push(Step {
                duration: d,
                target: 0,
            });
        }
        Self::new(steps).ok()
    }

    /// The stages, in order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// How many stages.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Never: a schedule has at least one stage.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The largest target: what the planner plans for.
    pub fn max(&self) -> u64 {
        self.steps.iter().map(|s| s.target).max().unwrap_or(0)
    }

    /// The last stage's target: what must be held at the end.
    pub fn last(&self) -> u64 {
        self.steps.last().map_or(0, |s| s.target)
    }

    /// Where stage `k` starts: the previous stage's target, 0 for the
    /// first.
    pub fn from(&self, k: usize) -> u64 {
        match k {
            0 => 0,
            k => self.steps.get(k - 1).map_or(0, |s| s.target),
        }
    }

    /// Every stage's duration added up (zero-duration stages count 0).
    pub fn total(&self) -> Duration {
        self.steps.iter().map(|s| s.duration).sum()
    }

    /// The stage at whose end the largest target is first reached and
    /// held: the run's top (its kernel reading is the top's, its end the
    /// time to reach).
    pub fn top(&self) -> usize {
        let max = self.max();
        self.steps.iter().position(|s| s.target == max).unwrap_or(0)
    }

    /// Whether stage `k` holds its count flat (its start equals its
    /// target).
    pub fn is_flat(&self, k: usize) -> bool {
        self.steps.get(k).is_some_and(|s| s.target == self.from(k))
    }

    /// Whether stage `k` goes down.
    pub fn is_falling(&self, k: usize) -> bool {
        self.steps.get(k).is_some_and(|s| s.target < self.from(k))
    }

    /// The target `elapsed` into stage `k` (linear from its start to its
    /// target; its target once its duration is over, and at once for a
    /// zero-duration stage), rounded toward the start.
    pub fn target_in(&self, k: usize, elapsed: Duration) -> u64 {
        let Some(s) = self.steps.get(k) else {
            return self.last();
        };
        Pace::toward(self.from(k), s.target, Duration::ZERO, s.duration).at(elapsed)
    }

    /// Connections a stage's count may be off its target at its end and
    /// still be met: [`TOLERANCE`] of the larger of its start and its
    /// target, rounded up, at least 1.
    pub fn tolerance(&self, k: usize) -> u64 {
        let top = self.from(k).max(self.steps.get(k).map_or(0, |s| s.target));
        ((top as f64 * TOLERANCE).ceil() as u64).max(1)
    }

    /// Whether stage `k` was met by `held` at its end ([`Stages::tolerance`]).
    pub fn met(&self, k: usize, held: u64) -> bool {
        let target = self.steps.get(k).map_or(0, |s| s.target);
        held.abs_diff(target) <= self.tolerance(k)
    }
}

impl fmt::Display for Stages {
    /// As `--stages` takes it: `30s:500000,10m:500000,1m:0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.steps.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}:{}", show_duration(s.duration), s.target)?;
        }
        Ok(())
    }
}

/// A duration as `--stages` writes it, exactly: `30s`, `1500ms`, `10m`,
/// `2500us`, `7ns`.
fn show_duration(d: Duration) -> String {
    let nanos = d.subsec_nanos();
    if !nanos.is_multiple_of(1000) {
        return format!("{}ns", d.as_nanos());
    }
    if !nanos.is_multiple_of(1_000_000) {
        return format!("{}us", d.as_micros());
    }
    if nanos != 0 {
        return format!("{}ms", d.as_millis());
    }
    let s = d.as_secs();
    match s {
        s if s > 0 && s.is_multiple_of(3600) => format!("{}h", s / 3600),
        s if s > 0 && s.is_multiple_of(60) => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// `30s`, `250ms`, `2m`, `1h30m`, or a number of seconds, at most
/// [`MAX_STAGE`]: c1m's one grammar of durations
/// ([`c1m_limits::num::parse_duration`]).
fn parse_duration(t: &str) -> Result<Duration, String> {
    c1m_limits::num::parse_duration(t)
}

/// Splits `target` over workers of `capacity` connections each, in
/// proportion (largest remainders first, the lowest index first among
/// equals), never more than a worker's capacity: the parts add up to
/// `target` (or to every capacity when `target` is more).
pub fn split(target: u64, capacity: &[u64]) -> Vec<u64> {
    let total: u64 = capacity.iter().sum();
    if total == 0 {
        return vec![0; capacity.len()];
    }
    let target = target.min(total);
    let mut parts: Vec<u64> = capacity
        .iter()
        .map(|&c| (u128::from(target) * u128::from(c) / u128::from(total)) as u64)
        .collect();
    let mut left = target - parts.iter().sum::<u64>();
    let mut order: Vec<usize> = (0..capacity.len()).collect();
    // The remainder of each exact share, largest first.
    let rem = |i: usize| u128::from(target) * u128::from(capacity[i]) % u128::from(total);
    order.sort_by(|&a, &b| rem(b).cmp(&rem(a)).then(a.cmp(&b)));
    // `target` is at most the capacities' sum: there is always room.
    while left > 0 {
        for &i in &order {
            if left > 0 && parts[i] < capacity[i] {
                parts[i] += 1;
                left -= 1;
            }
        }
    }
    parts
}

/// A worker's target over time: from `from` at `start`, linear to `to`
/// at `start + over`, then `to`; at once when `over` is zero. Rounded
/// toward `from`, so a connection opens (or closes) only once the line
/// has passed a whole one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    from: u64,
    to: u64,
    start: Duration,
    over: Duration,
}

impl Pace {
    /// `n` from now on.
    pub fn fixed(n: u64) -> Self {
        Self {
            from: n,
            to: n,
            start: Duration::ZERO,
            over: Duration::ZERO,
        }
    }

    /// From `from` at `start` to `to` over `over`.
    pub fn toward(from: u64, to: u64, start: Duration, over: Duration) -> Self {
        Self {
            from,
            to,
            start,
            over,
        }
    }

    /// Where the line ends.
    pub fn end(&self) -> u64 {
        self.to
    }

    /// How far the line has moved from `from` by `now`, in whole
    /// connections.
    fn moved(&self, now: Duration) -> u64 {
        let delta = self.from.abs_diff(self.to);
        let elapsed = now.saturating_sub(self.start);
        if self.over.is_zero() || elapsed >= self.over {
            return delta;
        }
        (u128::from(delta) * elapsed.as_nanos() / self.over.as_nanos()) as u64
    }

    /// The target at `now`.
    pub fn at(&self, now: Duration) -> u64 {
        let m = self.moved(now);
        if self.to >= self.from {
            self.from + m
        } else {
            self.from - m
        }
    }

    /// When the target next changes after `now`; `None` once it has
    /// reached its end.
    pub fn next_change(&self, now: Duration) -> Option<Duration> {
        let delta = self.from.abs_diff(self.to);
        let m = self.moved(now);
        if m >= delta {
            return None;
        }
        // The first instant the line has moved m + 1: ceil((m+1)·over/delta).
        let over = self.over.as_nanos();
        let at = (u128::from(m + 1) * over).div_ceil(u128::from(delta));
        let at = Duration::from_nanos(at.min(u128::from(u64::MAX)) as u64);
        Some((self.start + at).max(now))
    }
}

#[cfg(test)]
mod tests;
