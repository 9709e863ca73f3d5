//! What held connections do besides existing: nothing (`idle`), or send a
//! message on a schedule and time the reply (`heartbeat`, also for steady
//! echo load). Pure: the schedule takes the time as an argument.
//!
//! Every connection of a worker gets the same interval, phase-shifted by
//! its index so that sends are spread evenly over the interval (no
//! thundering herd). Send `k` of a worker (counting across rounds) goes to
//! connection `k mod n` at time `start + k × interval / n`; latency is
//! measured from that *scheduled* time, so a slow worker or server cannot
//! hide its own delay (no coordinated omission). No timer per connection
//! exists anywhere: one cursor per worker.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What held connections do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Hold and nothing else.
    Idle,
    /// Send the message every interval and time the reply.
    Heartbeat,
}

/// The message traffic of one worker's connections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Traffic {
    /// Idle, or heartbeats on the [`Schedule`].
    pub mode: Mode,
    /// Between two sends on one connection (the worker's sends are spread
    /// evenly over it); unused when idle.
    pub interval: Duration,
    /// What each connection sends.
    pub message: Vec<u8>,
    /// What a reply must start with; `None`: any byte is a reply.
    pub expect: Option<Vec<u8>>,
    /// Sent once as soon as a connection is established (a greeting, a
    /// request that keeps the server busy), whatever the mode.
    pub first: Option<Vec<u8>>,
}

impl Traffic {
    /// No traffic.
    pub fn idle() -> Self {
        Self {
            mode: Mode::Idle,
            interval: Duration::from_secs(1),
            message: Vec::new(),
            expect: None,
            first: None,
        }
    }
}

/// The longest interval between two messages on one connection: a year.
pub const MAX_INTERVAL: Duration = Duration::from_secs(365 * 24 * 3600);

/// The shortest interval between two messages on one connection: a
/// microsecond (a million messages a second on each).
pub const MIN_INTERVAL: Duration = Duration::from_micros(1);

/// The default heartbeat: 16 bytes, newline-terminated, echoed back by
/// `c1m serve`.
pub const DEFAULT_MESSAGE: &[u8] = b"c1m heartbeat.\r\n";

/// Why a traffic option was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrafficError {
    /// `--interval 0`: the interval given.
    #[error("--interval must be more than zero (got {0:?})")]
    ZeroInterval(Duration),
    /// A rate that is zero, negative, NaN or infinite.
    #[error("{what} must be a positive number (got {value})")]
    NotPositive {
        /// The flag: `--message-rate` or `--bandwidth`.
        what: &'static str,
        /// The value given (messages/s or bytes/s).
        value: f64,
    },
    /// A rate so low that one connection's messages would be more than
    /// [`MAX_INTERVAL`] apart.
    #[error(
        "that rate sends each connection one message every {secs:.3e} s, more than a year apart; ask for more messages per second"
    )]
    TooSlow {
        /// The interval it would give, seconds.
        secs: f64,
    },
    /// A rate so high, or an interval so short, that one connection's
    /// messages would be less than [`MIN_INTERVAL`] apart.
    #[error(
        "that sends each connection one message every {secs:.3e} s, more often than once a microsecond; ask for fewer messages per second or a longer --interval"
    )]
    TooFast {
        /// The interval it would give, seconds.
        secs: f64,
    },
    /// A message of zero bytes.
    #[error("the message is empty; give --message TEXT or --message-file FILE")]
    EmptyMessage,
    /// A message over 65,536 bytes: its length in bytes.
    #[error("the message is {0} bytes; at most 65,536 are allowed: send a shorter one")]
    TooLong(usize),
    /// An escape [`unescape`] does not know: the escape, then the whole
    /// text it was in.
    #[error("bad escape {0:?} in {1:?}: use \\r \\n \\t \\0 \\\\ or \\xHH")]
    BadEscape(String, String),
}

/// Turns `PING\r\n`-style text into bytes: `\r \n \t \0 \\ \xHH`.
pub fn unescape(text: &str) -> Result<Vec<u8>, TrafficError> {
    let mut out = Vec::with_capacity(text.len());
    let mut chars = text.chars();
    let bad = |e: &str| TrafficError::BadEscape(e.to_string(), text.to_string());
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut b = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            continue;
        }
        match chars.next() {
            Some('r') => out.push(b'\r'),
            Some('n') => out.push(b'\n'),
            Some('t') => out.push(b'\t'),
            Some('0') => out.push(0),
            Some('\\') => out.push(b'\\'),
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                // Exactly two hex digits (from_str_radix alone takes `+1`).
                if hex.len() != 2 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(bad(&format!("\\x{hex}")));
                }
                let v = u8::from_str_radix(&hex, 16).map_err(|_| bad(&format!("\\x{hex}")))?;
                out.push(v);
            }
            Some(o) => return Err(bad(&format!("\\{o}"))),
            None => return Err(bad("\\")),
        }
    }
    Ok(out)
}

/// The per-connection interval from the ways users say how much traffic
/// they want: an `interval` per connection, a `message_rate` in messages
/// per second over all `conns`, or a `bandwidth` in bytes per second over
/// all connections (one message of `message_len` bytes at a time).
pub fn interval_for(
    conns: u64,
    interval: Option<Duration>,
    message_rate: Option<f64>,
    bandwidth: Option<f64>,
    message_len: usize,
) -> Result<Duration, TrafficError> {
    let positive = |what, v: f64| {
        if v.is_finite() && v > 0.0 {
            Ok(v)
        } else {
            Err(TrafficError::NotPositive { what, value: v })
        }
    };
    let per_sec = match (message_rate, bandwidth) {
        (Some(r), _) => Some(positive("--message-rate", r)?),
        (None, Some(b)) => Some(positive("--bandwidth", b)? / message_len.max(1) as f64),
        (None, None) => None,
    };
    match (per_sec, interval) {
        (Some(r), _) => {
            let secs = conns.max(1) as f64 / r;
            match Duration::try_from_secs_f64(secs) {
                Ok(d) if d < MIN_INTERVAL => Err(TrafficError::TooFast { secs }),
                Ok(d) if d <= MAX_INTERVAL => Ok(d),
                _ => Err(TrafficError::TooSlow { secs }),
            }
        }
        (None, Some(i)) if i.is_zero() => Err(TrafficError::ZeroInterval(i)),
        (None, Some(i)) if i < MIN_INTERVAL => Err(TrafficError::TooFast {
            secs: i.as_secs_f64(),
        }),
        (None, Some(i)) => Ok(i),
        (None, None) => Ok(Duration::from_secs(1)),
    }
}

/// Checks a message.
pub fn check_message(m: &[u8]) -> Result<(), TrafficError> {
    match m.len() {
        0 => Err(TrafficError::EmptyMessage),
        n if n > 65_536 => Err(TrafficError::TooLong(n)),
        _ => Ok(()),
    }
}

/// One worker's heartbeat schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    conns: u64,
    interval: Duration,
    start: Duration,
    /// Sends scheduled so far (the next is send number `next`).
    next: u64,
    /// Sends scheduled in all: those due before the schedule's end
    /// (`u64::MAX` while it has none).
    end: u64,
}

impl Schedule {
    /// `conns` connections, each sending every `interval`, from `start`.
    pub fn new(conns: u64, interval: Duration, start: Duration) -> Self {
        Self {
            conns: conns.max(1),
            interval,
            start,
            next: 0,
            end: u64::MAX,
        }
    }

    /// Ends the schedule at `at`: sends due from then on are not
    /// scheduled (an earlier end stays).
    pub fn end_at(&mut self, at: Duration) {
        let per = self.interval.as_nanos() as f64 / self.conns as f64;
        let span = at.saturating_sub(self.start).as_nanos() as f64;
        // The sends k with k·per < span.
        let before = if per > 0.0 {
            (span / per).ceil() as u64
        } else {
            u64::MAX
        };
        self.end = self.end.min(before);
    }

    /// Every send scheduled has been taken.
    pub fn done(&self) -> bool {
        self.next >= self.end
    }

    /// The sends scheduled and not yet taken, due or not, as (connection
    /// index, scheduled time): what a late worker had not sent when the
    /// end came. Empty while the schedule has no end.
    pub fn rest(&mut self) -> impl Iterator<Item = (u64, Duration)> + '_ {
        std::iter::from_fn(move || {
            if self.end == u64::MAX || self.done() {
                return None;
            }
            let k = self.next;
            self.next += 1;
            Some((k % self.conns, self.due(k)))
        })
    }

    /// When send `k` is due.
    pub fn due(&self, k: u64) -> Duration {
        let per = self.interval.as_nanos() as f64 / self.conns as f64;
        self.start + Duration::from_nanos((k as f64 * per) as u64)
    }

    /// The sends due by `now` and not yet taken, as (connection index,
    /// scheduled time); at most `max`, so a late worker catches up in
    /// bounded steps.
    pub fn take(&mut self, now: Duration, max: u64) -> impl Iterator<Item = (u64, Duration)> + '_ {
        let mut left = max;
        std::iter::from_fn(move || {
            if left == 0 || self.done() || self.due(self.next) > now {
                return None;
            }
            left -= 1;
            let k = self.next;
            self.next += 1;
            Some((k % self.conns, self.due(k)))
        })
    }

    /// How long until the next send is due (`Duration::MAX` once every
    /// send scheduled is taken).
    pub fn wait(&self, now: Duration) -> Duration {
        if self.done() {
            return Duration::MAX;
        }
        self.due(self.next).saturating_sub(now)
    }
}

/// When a client worker's heartbeats end, in the worker's own clock.
///
/// A timed hold ends them at the hold's end plus the grace for the
/// replies on their way, counted from the moment the worker started
/// them: a worker starved of CPU, which reads the supervisor's
/// `EndBeats` late, still ends when the hold says (as the C reference
/// in `bench/ref/client.c` does), so its latencies are not stretched by
/// its own lateness. The supervisor may end them sooner (a hold cut
/// short, Ctrl-C, an untimed hold), never later.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BeatsEnd {
    /// No end known yet: not started, or until the supervisor's word.
    #[default]
    Open,
    /// Ends at this instant at the latest (worker clock), sooner once
    /// every send is made and answered.
    At(Duration),
    /// Ended, and said so: a later word from the supervisor changes
    /// nothing.
    Over,
}

impl BeatsEnd {
    /// Heartbeats started at `now`, scheduled within `hold` if given,
    /// with `grace` for the replies after it if given: both make an end.
    pub fn started(now: Duration, hold: Option<Duration>, grace: Option<Duration>) -> Self {
        match (hold, grace) {
            (Some(h), Some(g)) => Self::At(now + h + g),
            _ => Self::Open,
        }
    }

    /// The supervisor ended the heartbeats at `now`, with `grace` for the
    /// replies: the end is then or the one the worker had, the sooner.
    /// True when this cuts the schedule (sends from `now` on are not
    /// made); false once over.
    pub fn cut(&mut self, now: Duration, grace: Duration) -> bool {
        let by_word = now + grace;
        *self = match *self {
            Self::Over => return false,
            Self::Open => Self::At(by_word),
            Self::At(t) => Self::At(t.min(by_word)),
        };
        true
    }

    /// At `now`, with every scheduled send made and answered or not
    /// (`settled`): true when the heartbeats end now.
    pub fn due(&self, now: Duration, settled: bool) -> bool {
        matches!(*self, Self::At(t) if settled || now >= t)
    }

    /// The instant to wake for, if an end is set.
    pub fn deadline(&self) -> Option<Duration> {
        match *self {
            Self::At(t) => Some(t),
            _ => None,
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
    fn escapes() {
        assert_eq!(unescape("PING\\r\\n").unwrap(), b"PING\r\n");
        assert_eq!(unescape("a\\x41\\\\\\t\\0").unwrap(), b"aA\\\t\0");
        assert_eq!(unescape("é").unwrap(), "é".as_bytes());
        assert!(unescape("bad\\q").is_err());
        assert!(unescape("end\\").is_err());
        assert!(unescape("\\xZZ").is_err());
        assert!(unescape("\\x+1").is_err(), "a sign is not a hex digit");
        assert!(unescape("\\x4").is_err(), "two digits");
    }

    #[test]
    fn intervals_from_rates() {
        // 1M connections, 100k messages/s: each every 10 s.
        assert_eq!(
            interval_for(1_000_000, None, Some(100_000.0), None, 16),
            Ok(Duration::from_secs(10))
        );
        // 1,000 connections, 16 kB/s of 16-byte messages: 1,000 msg/s.
        assert_eq!(
            interval_for(1000, None, None, Some(16_000.0), 16),
            Ok(Duration::from_secs(1))
        );
        assert_eq!(interval_for(10, Some(ms(250)), None, None, 16), Ok(ms(250)));
        assert_eq!(
            interval_for(10, None, None, None, 16),
            Ok(Duration::from_secs(1))
        );
        assert_eq!(
            interval_for(10, Some(Duration::ZERO), None, None, 16),
            Err(TrafficError::ZeroInterval(Duration::ZERO))
        );
        assert!(interval_for(10, None, Some(-1.0), None, 16).is_err());
        assert!(interval_for(10, None, Some(f64::NAN), None, 16).is_err());
        assert!(interval_for(10, None, None, Some(0.0), 16).is_err());
        // A rate so low the interval overflows: an error, not a panic.
        assert!(matches!(
            interval_for(10, None, Some(1e-300), None, 16),
            Err(TrafficError::TooSlow { .. })
        ));
        // So high, or so short, that messages would be under a
        // microsecond apart: refused, not a busy loop.
        assert!(matches!(
            interval_for(10, None, Some(1e12), None, 16),
            Err(TrafficError::TooFast { .. })
        ));
        assert!(matches!(
            interval_for(10, Some(Duration::from_nanos(999)), None, None, 16),
            Err(TrafficError::TooFast { .. })
        ));
        assert_eq!(
            interval_for(10, Some(MIN_INTERVAL), None, None, 16),
            Ok(MIN_INTERVAL)
        );
    }

    #[test]
    fn messages() {
        assert_eq!(check_message(b""), Err(TrafficError::EmptyMessage));
        assert!(check_message(&[0; 65_537]).is_err());
        assert!(check_message(DEFAULT_MESSAGE).is_ok());
    }

    #[test]
    fn sends_are_spread_evenly_over_the_interval() {
        // 4 connections every second: one send every 250 ms, in turn.
        let mut s = Schedule::new(4, Duration::from_secs(1), ms(1000));
        assert_eq!(s.take(ms(999), 100).count(), 0);
        assert_eq!(s.wait(ms(999)), ms(1));
        let got: Vec<_> = s.take(ms(1600), 100).collect();
        assert_eq!(got, vec![(0, ms(1000)), (1, ms(1250)), (2, ms(1500))]);
        let got: Vec<_> = s.take(ms(2000), 100).collect();
        assert_eq!(got, vec![(3, ms(1750)), (0, ms(2000))]);
    }

    #[test]
    fn a_late_worker_catches_up_in_bounded_steps_keeping_scheduled_times() {
        let mut s = Schedule::new(1000, Duration::from_secs(1), Duration::ZERO);
        let first: Vec<_> = s.take(Duration::from_secs(10), 100).collect();
        assert_eq!(first.len(), 100);
        assert_eq!(first[99], (99, ms(99)));
        assert_eq!(s.take(Duration::from_secs(10), u64::MAX).count(), 9_901);
    }

    #[test]
    fn an_ended_schedule_sends_nothing_due_past_its_end_and_keeps_the_rest() {
        // 4 connections every second from 1 s, ended at 2.5 s: the sends
        // due at 1, 1.25, … 2.25 s are scheduled (6), none from 2.5 s.
        let mut s = Schedule::new(4, Duration::from_secs(1), ms(1000));
        s.end_at(ms(2500));
        // An end later than the one it has changes nothing.
        s.end_at(ms(9000));
        assert_eq!(s.take(ms(1300), 100).count(), 2);
        assert!(!s.done());
        // Behind schedule at 5 s: what is left is what is due by the end.
        let late: Vec<_> = s.take(ms(5000), 2).collect();
        assert_eq!(late, vec![(2, ms(1500)), (3, ms(1750))]);
        let rest: Vec<_> = s.rest().collect();
        assert_eq!(rest, vec![(0, ms(2000)), (1, ms(2250))]);
        assert!(s.done());
        assert_eq!(s.take(ms(9000), 100).count(), 0);
        assert_eq!(s.wait(ms(9000)), Duration::MAX);
    }

    #[test]
    fn a_timed_hold_ends_in_the_workers_clock_and_a_word_only_brings_it_sooner() {
        // Started at 2 s for a 30 s hold with 5 s of grace: ends at 37 s.
        let mut e = BeatsEnd::started(ms(2_000), Some(ms(30_000)), Some(ms(5_000)));
        assert_eq!(e.deadline(), Some(ms(37_000)));
        assert!(!e.due(ms(36_999), false));
        assert!(e.due(ms(37_000), false));
        // Everything answered: the end need not wait for the grace.
        assert!(e.due(ms(33_000), true));
        // The supervisor's word read late (a starved worker, at 40 s)
        // does not push the end out.
        assert!(e.cut(ms(40_000), ms(5_000)));
        assert_eq!(e.deadline(), Some(ms(37_000)));
        // Ctrl-C at 10 s with 1 s of grace brings it to 11 s.
        assert!(e.cut(ms(10_000), ms(1_000)));
        assert_eq!(e.deadline(), Some(ms(11_000)));
        // Once over, a word changes nothing and ends no schedule.
        e = BeatsEnd::Over;
        assert!(!e.cut(ms(50_000), ms(5_000)));
        assert_eq!(e, BeatsEnd::Over);
        assert!(!e.due(ms(99_000), true));
    }

    #[test]
    fn an_untimed_hold_ends_only_by_the_supervisors_word() {
        for (hold, grace) in [
            (None, Some(ms(5_000))),
            (Some(ms(1_000)), None),
            (None, None),
        ] {
            let mut e = BeatsEnd::started(ms(0), hold, grace);
            assert_eq!(e, BeatsEnd::Open);
            assert!(!e.due(Duration::MAX, true), "no end before the word");
            assert!(e.cut(ms(4_000), ms(5_000)));
            assert_eq!(e.deadline(), Some(ms(9_000)));
        }
    }

    #[test]
    fn an_endless_schedule_has_no_rest_until_ended() {
        let mut s = Schedule::new(2, Duration::from_secs(1), Duration::ZERO);
        assert_eq!(s.take(ms(600), 100).count(), 2);
        assert_eq!(s.rest().count(), 0, "no end: nothing is owed yet");
        // Ended now (the hold cut short): the sends due before now and
        // not taken are the rest.
        s.end_at(ms(1600));
        assert_eq!(
            s.rest().collect::<Vec<_>>(),
            vec![(0, ms(1000)), (1, ms(1500))]
        );
        // Ended before the start: nothing at all.
        let mut t = Schedule::new(2, Duration::from_secs(1), ms(500));
        t.end_at(ms(100));
        assert!(t.done());
    }
}
