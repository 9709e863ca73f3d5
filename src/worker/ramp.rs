//! The connection-rate limiter: a token bucket driven by the time passed
//! in, so it is tested without clocks or sleeps.

use std::time::Duration;

/// Hands out connection attempts at `rate` per second, with at most
/// `burst` saved up.
#[derive(Debug, Clone)]
pub struct Ramp {
    rate: Option<f64>,
    burst: f64,
    tokens: f64,
    last: Duration,
}

impl Ramp {
    /// `rate` per second (`None`: unlimited), starting at time `now`.
    pub fn new(rate: Option<f64>, now: Duration) -> Self {
        let burst = rate.map_or(f64::INFINITY, |r| (r / 20.0).max(1.0));
        Self {
            rate,
            burst,
            tokens: burst.min(1.0),
            last: now,
        }
    }

    /// How many attempts may start now, at most `want`; they are taken.
    pub fn take(&mut self, now: Duration, want: u64) -> u64 {
        let Some(rate) = self.rate else {
            return want;
        };
        let dt = now.saturating_sub(self.last).as_secs_f64();
        self.last = now.max(self.last);
        self.tokens = (self.tokens + dt * rate).min(self.burst);
        let n = (self.tokens.floor() as u64).min(want);
        self.tokens -= n as f64;
        n
    }

    /// Gives back `n` attempts taken and not used (up to the burst).
    pub fn refund(&mut self, n: u64) {
        if self.rate.is_some() {
            self.tokens = (self.tokens + n as f64).min(self.burst);
        }
    }

    /// How long until the next attempt may start (zero if one may now).
    pub fn wait(&self) -> Duration {
        match self.rate {
            None => Duration::ZERO,
            Some(_) if self.tokens >= 1.0 => Duration::ZERO,
            Some(r) => Duration::from_secs_f64((1.0 - self.tokens) / r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn unlimited_gives_all() {
        let mut r = Ramp::new(None, ms(0));
        assert_eq!(r.take(ms(0), 1_000_000), 1_000_000);
        assert_eq!(r.wait(), Duration::ZERO);
    }

    #[test]
    fn rate_is_kept_over_time() {
        let mut r = Ramp::new(Some(1000.0), ms(0));
        let mut total = r.take(ms(0), u64::MAX);
        for t in 1..=1000 {
            total += r.take(ms(t), u64::MAX);
        }
        assert!((999..=1001).contains(&total), "{total}");
    }

    #[test]
    fn burst_is_bounded_after_idling() {
        let mut r = Ramp::new(Some(1000.0), ms(0));
        // After ten idle seconds, at most a twentieth of a second is saved.
        assert_eq!(r.take(ms(10_000), u64::MAX), 50);
        assert_eq!(r.take(ms(10_000), u64::MAX), 0);
        assert_eq!(r.wait(), ms(1));
    }

    #[test]
    fn slow_rates_still_start() {
        let mut r = Ramp::new(Some(0.5), ms(0));
        // The first connection goes at once, the next two seconds later.
        assert_eq!(r.take(ms(0), 10), 1);
        assert_eq!(r.wait(), ms(2000));
        assert_eq!(r.take(ms(1999), 10), 0);
        assert_eq!(r.take(ms(2000), 10), 1);
    }

    #[test]
    fn unused_attempts_come_back() {
        let mut r = Ramp::new(Some(100.0), ms(0));
        assert_eq!(r.take(ms(50), 10), 5);
        r.refund(3);
        assert_eq!(r.take(ms(50), 10), 3);
        r.refund(1000);
        assert_eq!(r.take(ms(50), 10), 5, "never past the burst");
    }

    #[test]
    fn time_going_backwards_is_harmless() {
        let mut r = Ramp::new(Some(100.0), ms(1000));
        assert_eq!(r.take(ms(0), 10), 1);
        // An earlier time adds nothing.
        assert_eq!(r.take(ms(0), 10), 0);
        assert_eq!(r.take(ms(500), 10), 0);
    }
}
