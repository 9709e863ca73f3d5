//! `--reconnect`: how long a connection the server closed (or that
//! failed) waits before it is opened again, and what the reopens are
//! counted by. Pure: the jitter is a number passed in.
//!
//! Exponential back-off with jitter ("equal jitter"): attempt `a` (0 for
//! the first reopen after a connection was established, one more for
//! each reopen that failed since) waits `d/2 + u·d/2`, `d =
//! min(max, delay·2^a)` and `u` uniform in [0, 1): never less than half
//! the step, so a storm of closes spreads over `[d/2, d)` instead of
//! coming back at once, and never more than `max`.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The highest attempt number kept (a worker keeps it in 4 bits of the
/// connection's state byte); past it the step stays `delay·2^15`, which
/// `max` caps long before.
pub const MAX_ATTEMPT: u32 = 15;

/// How closed and failed connections are reopened (`--reconnect`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reconnect {
    /// The first step of the back-off, milliseconds (`--reconnect-delay`).
    pub delay_ms: u64,
    /// The longest wait, milliseconds (`--reconnect-max`).
    pub max_delay_ms: u64,
    /// Reopens per second at most, all workers together
    /// (`--reconnect-rate`); null: as fast as `--window` allows.
    pub rate: Option<f64>,
}

impl Reconnect {
    /// The wait before attempt `attempt`, with `u` in [0, 1) drawn for
    /// it: `d/2 + u·d/2`, `d = min(max, delay·2^attempt)`.
    pub fn delay(&self, attempt: u32, u: f64) -> Duration {
        let step = self
            .delay_ms
            .saturating_mul(1u64 << attempt.min(MAX_ATTEMPT))
            .min(self.max_delay_ms);
        let u = if u.is_finite() {
            u.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let ms = step as f64 / 2.0 + u * step as f64 / 2.0;
        Duration::from_micros((ms * 1000.0) as u64)
    }
}

/// Reopens by what ended the connection they replace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reconnects {
    /// After the server closed it with a FIN (data first or not).
    pub fin: u64,
    /// After the server reset it (RST), or a send found it broken.
    pub rst: u64,
    /// After an attempt failed (refused, timed out, no port, …).
    pub failed: u64,
}

impl Reconnects {
    /// Every reopen.
    pub fn total(&self) -> u64 {
        self.fin + self.rst + self.failed
    }

    /// Adds another worker's counts.
    pub fn merge(&mut self, o: &Reconnects) {
        self.fin += o.fin;
        self.rst += o.rst;
        self.failed += o.failed;
    }

    /// Whether none was counted (left out of reports then).
    pub fn is_zero(&self) -> bool {
        self.total() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn each_failed_attempt_doubles_the_step_up_to_the_cap() {
        let r = Reconnect {
            delay_ms: 100,
            max_delay_ms: 1000,
            rate: None,
        };
        // u = 0: half the step; u → 1: the whole step.
        assert_eq!(r.delay(0, 0.0), ms(50));
        assert_eq!(r.delay(0, 0.999_999), Duration::from_micros(99_999));
        assert_eq!(r.delay(1, 0.0), ms(100));
        assert_eq!(r.delay(2, 0.5), ms(300));
        assert_eq!(r.delay(3, 0.0), ms(400));
        // 1600 capped at 1000.
        assert_eq!(r.delay(4, 0.0), ms(500));
        assert_eq!(r.delay(4, 1.0), ms(1000));
        assert_eq!(r.delay(MAX_ATTEMPT + 40, 1.0), ms(1000));
    }

    #[test]
    fn odd_inputs_stay_in_bounds() {
        let r = Reconnect {
            delay_ms: u64::MAX / 2,
            max_delay_ms: 10,
            rate: None,
        };
        assert!(r.delay(15, 1.0) <= ms(10));
        assert_eq!(r.delay(0, f64::NAN), ms(5));
        assert_eq!(r.delay(0, -3.0), ms(5));
        // A cap below the first step: the cap.
        let r = Reconnect {
            delay_ms: 100,
            max_delay_ms: 40,
            rate: None,
        };
        assert_eq!(r.delay(0, 1.0), ms(40));
    }

    #[test]
    fn a_storm_of_first_reopens_spreads_over_half_a_step() {
        let r = Reconnect {
            delay_ms: 1000,
            max_delay_ms: 30_000,
            rate: None,
        };
        let waits: Vec<Duration> = (0..1000).map(|i| r.delay(0, i as f64 / 1000.0)).collect();
        assert!(waits.iter().all(|&w| w >= ms(500) && w < ms(1000)));
        // Evenly: a tenth of them in each tenth of the spread.
        let in_first_tenth = waits.iter().filter(|&&w| w < ms(550)).count();
        assert_eq!(in_first_tenth, 100);
    }

    #[test]
    fn counts_merge() {
        let mut a = Reconnects {
            fin: 1,
            rst: 2,
            failed: 3,
        };
        a.merge(&a.clone());
        assert_eq!((a.total(), a.rst), (12, 4));
        assert!(Reconnects::default().is_zero());
    }
}
