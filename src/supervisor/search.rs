//! The capacity search (`connect --find-limit`): when to call the ramp
//! broken, and why it broke, from what the kernel and the workers saw.
//! Pure: observations in (time passed in), a verdict out.
//!
//! The search stops at the first sign, from the client's side (a failure,
//! a connection the server closed, a latency objective missed) or, when
//! the server's listeners are on this host, from the server's side:
//! connections that wait in the accept queue while the application
//! accepts none (it stopped calling accept()), or that exist only on the
//! client (SYN cookies answered while the accept queue was full). Its
//! break point is what the server application really held.

use std::fmt;
use std::time::Duration;

use crate::cause::Cause;
use crate::latency::human_us;
use crate::plan::thousands;
use crate::report::judge::{closes_line, phantom_line};
use crate::report::model::{Diagnosis, Evidence, Limit};

/// A latency objective: `p99<50ms`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slo {
    /// 0.5, 0.9, 0.99, 0.999, or 1.0 for the maximum.
    pub quantile: f64,
    /// The most the quantile may be.
    pub max: Duration,
}

impl fmt::Display for Slo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let q = match self.quantile {
            q if q >= 1.0 => "max".to_string(),
            q => format!("p{}", (q * 1e5).round() / 1e3),
        };
        write!(f, "{q}<{}", human_us(self.max.as_micros() as u64))
    }
}

/// Parses `p50<10ms`, `p99<50ms`, `p99.9<=200ms`, `max<1s`.
pub fn parse_slo(text: &str) -> Result<Slo, String> {
    let bad = || {
        format!("--slo {text:?} is not an objective; write e.g. p99<50ms, p99.9<200ms or max<1s")
    };
    let t = text.trim();
    let (q, d) = t
        .split_once("<=")
        .or_else(|| t.split_once('<'))
        .ok_or_else(bad)?;
    let quantile = match q.trim() {
        "max" | "p100" => 1.0,
        p => {
            let v: f64 = p
                .strip_prefix('p')
                .ok_or_else(bad)?
                .parse()
                .map_err(|_| bad())?;
            if !(v > 0.0 && v < 100.0) {
                return Err(bad());
            }
            v / 100.0
        }
    };
    // c1m's one grammar of durations, as --hold reads it.
    let max = c1m_limits::num::parse_duration(d).map_err(|_| bad())?;
    // Zero is never met; over a year no heartbeat waits that long.
    if max.is_zero() || max > crate::traffic::MAX_INTERVAL {
        return Err(bad());
    }
    Ok(Slo { quantile, max })
}

/// Round trips needed before an objective is judged.
const MIN_SAMPLES: u64 = 20;

/// How long a server-side sign must last before it is a break: an accept
/// queue that does not drain, or connections only the client has. Long
/// enough for a busy but working accept loop to catch up, short enough to
/// stop near the break at the search's default 2,000 connections/s.
pub const SERVER_SIGN: Duration = Duration::from_secs(1);

/// What the server side looked like at one moment (its listeners on this
/// host).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServerView {
    /// Connections the application accepted and holds.
    pub accepted: u64,
    /// Connections complete in the kernel, waiting in an accept queue.
    pub waiting: u64,
    /// Client-side ESTABLISHED beyond the server side's.
    pub phantoms: u64,
}

/// One look at the experiment during the ramp.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Observation {
    /// Since the start.
    pub at: Duration,
    /// Client failures so far, all causes.
    pub failures: u64,
    /// Established connections the server closed so far.
    pub closes: u64,
    /// The server side, when its listeners are visible and were read.
    pub server: Option<ServerView>,
    /// The objective's quantile of the round trips since the last look,
    /// microseconds, and how many there were.
    pub rtt: Option<(u64, u64)>,
}

/// A server-side sign and since when it has held.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sign {
    since: Duration,
    accepted: u64,
}

/// Why the search stopped the ramp.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Break {
    /// A client-side failure or a close by the server.
    Client,
    /// The objective was missed: the value seen, microseconds.
    Slo(u64),
    /// The accept queue stopped draining.
    NotAccepting,
    /// Connections exist only on the client.
    Phantoms,
}

/// A capacity search in progress.
#[derive(Debug, Clone)]
pub struct Search {
    /// The latency objective, if any.
    pub slo: Option<Slo>,
    seen_failures: u64,
    seen_closes: u64,
    stall: Option<Sign>,
    phantom: Option<Duration>,
    broke: Option<Break>,
}

impl Search {
    /// A search with this objective.
    pub fn new(slo: Option<Slo>) -> Self {
        Self {
            slo,
            seen_failures: 0,
            seen_closes: 0,
            stall: None,
            phantom: None,
            broke: None,
        }
    }

    /// Why the ramp broke, once it has.
    pub fn broke(&self) -> Option<Break> {
        self.broke
    }

    /// Takes a look; returns why the ramp broke if it broke now.
    pub fn observe(&mut self, o: &Observation) -> Option<Break> {
        if self.broke.is_some() {
            return None;
        }
        let new_failures = o.failures.saturating_sub(self.seen_failures);
        let new_closes = o.closes.saturating_sub(self.seen_closes);
        self.seen_failures = o.failures;
        self.seen_closes = o.closes;
        let mut why = None;
        if new_failures + new_closes > 0 {
            why = Some(Break::Client);
        }
        if let (Some(slo), Some((v, n))) = (self.slo, o.rtt)
            && n >= MIN_SAMPLES
            && v > slo.max.as_micros() as u64
        {
            why = Some(Break::Slo(v));
        }
        if let Some(s) = o.server {
            why = why.or_else(|| self.server_sign(o.at, s));
        }
        self.broke = why;
        why
    }

    /// A queue that stays full while nothing more is accepted, or
    /// connections only the client has, lasting [`SERVER_SIGN`].
    fn server_sign(&mut self, at: Duration, s: ServerView) -> Option<Break> {
        match self.stall {
            _ if s.waiting == 0 => self.stall = None,
            Some(st) if s.accepted > st.accepted => {
                self.stall = Some(Sign {
                    since: at,
                    accepted: s.accepted,
                })
            }
            Some(st) if at.saturating_sub(st.since) >= SERVER_SIGN => {
                return Some(Break::NotAccepting);
            }
            Some(_) => {}
            None => {
                self.stall = Some(Sign {
                    since: at,
                    accepted: s.accepted,
                })
            }
        }
        match self.phantom {
            _ if s.phantoms == 0 => self.phantom = None,
            Some(since) if at.saturating_sub(since) >= SERVER_SIGN => {
                return Some(Break::Phantoms);
            }
            Some(_) => {}
            None => self.phantom = Some(at),
        }
        None
    }

    /// After the ramp: a queue seen full twice, `SERVER_SIGN` apart, with
    /// nothing more accepted between, is a stalled accept loop even if
    /// the ramp itself completed (every handshake fit in the queue).
    pub fn settled(&mut self, first: ServerView, second: ServerView) {
        if self.broke.is_none()
            && first.waiting > 0
            && second.waiting > 0
            && second.accepted <= first.accepted
        {
            self.broke = Some(Break::NotAccepting);
        }
        if self.broke.is_none() && second.phantoms > 0 {
            self.broke = Some(Break::Phantoms);
        }
    }
}

/// Reads the evidence. `stalled`: the accept queue did not drain while
/// the application accepted nothing more.
pub fn diagnose(e: &Evidence, stalled: bool) -> Diagnosis {
    let n = thousands(e.held);
    let f = |c| e.failed.get(c);
    let k = &e.counters;
    let (limit, why) = if let Some(m) = &e.slo_missed {
        (
            Limit::Latency,
            format!(
                "the latency objective {} was missed ({}) at {n} connections",
                m.objective,
                human_us(m.value_us)
            ),
        )
    } else if f(Cause::AddrNotAvail) > 0 {
        (
            Limit::ClientPorts,
            format!(
                "the client ran out of local ports at {n} connections (EADDRNOTAVAIL ×{}): {}",
                thousands(f(Cause::AddrNotAvail)),
                Cause::AddrNotAvail.explain()
            ),
        )
    } else if f(Cause::ProcessFds) + f(Cause::SystemFds) > 0 {
        (
            Limit::ClientFds,
            format!(
                "the client ran out of descriptors at {n} connections (EMFILE/ENFILE): {}",
                Cause::ProcessFds.explain()
            ),
        )
    } else if k.memory_pressures > 0 || f(Cause::NoMemory) > 0 {
        (
            Limit::Memory,
            format!(
                "TCP memory pressure at {n} connections (TCPMemoryPressures +{}): the kernel's tcp_mem limit was reached; raise net.ipv4.tcp_mem or free memory",
                thousands(k.memory_pressures)
            ),
        )
    } else if e.phantoms > 0 {
        (Limit::SynCookies, phantom_line(e))
    } else if stalled {
        (
            Limit::NotAccepting,
            format!(
                "the server application stopped accepting at {n} connections: {} more wait in its accept queue and none is being accepted (a stuck accept loop, or accept() failing with EMFILE); once the queue is full, new handshakes are dropped (ListenOverflows +{})",
                thousands(e.waiting),
                thousands(k.listen_overflows)
            ),
        )
    } else if k.listen_overflows + k.listen_drops > 0 && f(Cause::Timeout) + f(Cause::Refused) > 0 {
        (
            Limit::AcceptQueue,
            format!(
                "the server's accept queue overflowed at {n} connections (ListenOverflows +{}, ListenDrops +{}): handshakes were dropped because the server did not accept() fast enough or its listen backlog is too small; raise the backlog (and net.core.somaxconn) or accept faster",
                thousands(k.listen_overflows),
                thousands(k.listen_drops)
            ),
        )
    } else if e.closes.total() > 0 || f(Cause::Reset) > 0 {
        let how = closes_line(&e.closes, f(Cause::Reset));
        if e.held > 0 {
            (
                Limit::ServerCap,
                format!(
                    "the server holds {n} connections and closes the rest after accepting them ({how}): its own connection cap (nginx worker_connections, Redis maxclients, …) or its descriptor limit"
                ),
            )
        } else {
            (
                Limit::ServerCloses,
                format!(
                    "the server closes every connection right after accepting it ({how}): it holds none; check its connection limit, its descriptor limit, or whether it expects something first (--first-message)"
                ),
            )
        }
    } else if f(Cause::Refused) > 0 {
        (
            Limit::Refused,
            format!(
                "connections were refused at {n} (ECONNREFUSED ×{}): {}",
                thousands(f(Cause::Refused)),
                Cause::Refused.explain()
            ),
        )
    } else if f(Cause::Timeout) > 0 {
        (
            Limit::Dropped,
            format!(
                "handshakes timed out at {n} connections (×{}) with no listen overflow counted on this host: SYNs were dropped on the way (conntrack table full, a firewall, or a server on another host whose queue overflowed)",
                thousands(f(Cause::Timeout))
            ),
        )
    } else if e.failed.total() > 0 {
        (
            Limit::Other,
            format!(
                "connections failed at {n}: {}",
                e.failed
                    .seen()
                    .iter()
                    .map(|(c, k)| format!("{c} ×{k}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    } else {
        (
            Limit::NotReached,
            format!("no limit reached: {n} connections held"),
        )
    };
    Diagnosis {
        limit,
        explanation: why,
    }
}

#[cfg(test)]
mod tests;
