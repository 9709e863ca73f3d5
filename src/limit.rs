//! Capacity search (`connect --find-limit`): when to call the ramp broken,
//! and why it broke, from the evidence. Pure: counters in, verdict out.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::cause::{Cause, CauseCounts};
use crate::latency::human_us;
use crate::plan::thousands;

/// A latency objective: `p99<50ms`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Slo {
    /// 0.5, 0.9, 0.99, 0.999, or 1.0 for the maximum.
    pub quantile: f64,
    #[serde(serialize_with = "crate::report::secs")]
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
    let max = humantime::parse_duration(d.trim()).map_err(|_| bad())?;
    if max.is_zero() {
        return Err(bad());
    }
    Ok(Slo { quantile, max })
}

/// Whether the ramp broke in the last sample: any failure or any
/// connection closed by the peer is a break (a capacity search wants the
/// first sign), as is an objective missed over at least `MIN_SAMPLES`.
pub fn broke(new_failures: u64, new_peer_closed: u64, slo: Option<(Slo, u64, u64)>) -> bool {
    const MIN_SAMPLES: u64 = 20;
    let slo_missed =
        slo.is_some_and(|(s, value_us, n)| n >= MIN_SAMPLES && value_us > s.max.as_micros() as u64);
    new_failures + new_peer_closed > 0 || slo_missed
}

/// What the kernel and the workers saw up to the break.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Evidence {
    /// Connections held when the ramp had settled after the break.
    pub held: u64,
    /// Client failures by cause.
    pub failed: CauseCounts,
    /// Connections the server closed or reset after they were established.
    pub peer_closed: u64,
    /// /proc/net/netstat changes over the ramp.
    pub listen_overflows: u64,
    pub listen_drops: u64,
    pub memory_pressures: u64,
    /// The objective and the value seen, when latency broke it.
    pub slo_missed: Option<(Slo, u64)>,
}

/// Why the ramp broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Limit {
    /// The ramp reached -n without breaking.
    NotReached,
    /// The latency objective was missed.
    Latency,
    /// The client ran out of local ports.
    ClientPorts,
    /// The client ran out of descriptors.
    ClientFds,
    /// TCP memory pressure.
    Memory,
    /// The accept queue overflowed: SYNs dropped.
    AcceptQueue,
    /// The server accepted, then closed or reset: its own cap.
    ServerCap,
    /// Connections refused outright.
    Refused,
    /// Handshakes timed out with no listen overflow seen here.
    Dropped,
    /// Something else.
    Other,
}

/// The diagnosis of a break.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    pub limit: Limit,
    /// One line: what broke, at how many, why, and what to do.
    pub explanation: String,
}

/// Reads the evidence.
pub fn diagnose(e: &Evidence) -> Diagnosis {
    let n = thousands(e.held);
    let f = |c| e.failed.get(c);
    let (limit, why) = if let Some((slo, v)) = e.slo_missed {
        (
            Limit::Latency,
            format!(
                "the latency objective {slo} was missed ({}) at {n} connections",
                human_us(v)
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
    } else if e.memory_pressures > 0 || f(Cause::NoMemory) > 0 {
        (
            Limit::Memory,
            format!(
                "TCP memory pressure at {n} connections (TCPMemoryPressures +{}): the kernel's tcp_mem limit was reached; raise net.ipv4.tcp_mem or free memory",
                thousands(e.memory_pressures)
            ),
        )
    } else if e.listen_overflows + e.listen_drops > 0 && f(Cause::Timeout) + f(Cause::Refused) > 0 {
        (
            Limit::AcceptQueue,
            format!(
                "the server's accept queue overflowed at {n} connections (ListenOverflows +{}, ListenDrops +{}): SYNs were dropped because the server did not accept() fast enough or its listen backlog is too small; raise the backlog (and net.core.somaxconn) or accept faster",
                thousands(e.listen_overflows),
                thousands(e.listen_drops)
            ),
        )
    } else if e.peer_closed > 0 || f(Cause::Reset) > 0 {
        (
            Limit::ServerCap,
            format!(
                "the server accepted and then closed or reset connections past {n} ({} closed, {} reset): the server's own connection cap (nginx worker_connections, Redis maxclients, …) or its descriptor limit (EMFILE after accept)",
                thousands(e.peer_closed),
                thousands(f(Cause::Reset))
            ),
        )
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
mod tests {
    use super::*;

    #[test]
    fn objectives() {
        let s = parse_slo("p99<50ms").unwrap();
        assert_eq!(s.quantile, 0.99);
        assert_eq!(s.max, Duration::from_millis(50));
        let tail = parse_slo("p99.9<=200ms").unwrap();
        assert!((tail.quantile - 0.999).abs() < 1e-12);
        assert_eq!(tail.to_string(), "p99.9<200.0 ms");
        assert_eq!(parse_slo("max<1s").unwrap().quantile, 1.0);
        assert_eq!(s.to_string(), "p99<50.0 ms");
        for bad in [
            "",
            "p99",
            "p99>50ms",
            "q99<50ms",
            "p0<1ms",
            "p100.5<1ms",
            "p99<soon",
            "p99<0ms",
        ] {
            let e = parse_slo(bad).unwrap_err();
            assert!(e.contains("write e.g. p99<50ms"), "{bad}: {e}");
        }
    }

    #[test]
    fn breaks() {
        assert!(!broke(0, 0, None));
        assert!(broke(1, 0, None));
        assert!(broke(0, 1, None));
        let slo = parse_slo("p99<50ms").unwrap();
        assert!(!broke(0, 0, Some((slo, 60_000, 5))), "too few samples");
        assert!(broke(0, 0, Some((slo, 60_000, 100))));
        assert!(!broke(0, 0, Some((slo, 40_000, 100))));
    }

    fn evidence(held: u64) -> Evidence {
        Evidence {
            held,
            ..Default::default()
        }
    }

    #[test]
    fn a_server_cap_is_named() {
        let mut e = evidence(999);
        e.peer_closed = 40;
        let d = diagnose(&e);
        assert_eq!(d.limit, Limit::ServerCap);
        assert!(d.explanation.contains("past 999"), "{}", d.explanation);
        assert!(d.explanation.contains("worker_connections"));
    }

    #[test]
    fn accept_queue_overflow_needs_the_counters() {
        let mut e = evidence(17);
        e.failed.add(Cause::Timeout);
        assert_eq!(diagnose(&e).limit, Limit::Dropped);
        e.listen_overflows = 30;
        let d = diagnose(&e);
        assert_eq!(d.limit, Limit::AcceptQueue);
        assert!(d.explanation.contains("ListenOverflows +30"));
    }

    #[test]
    fn the_most_specific_cause_wins() {
        let mut e = evidence(28_000);
        e.failed.add(Cause::AddrNotAvail);
        e.peer_closed = 3;
        assert_eq!(diagnose(&e).limit, Limit::ClientPorts);
        let mut e = evidence(10);
        e.failed.add(Cause::Refused);
        assert_eq!(diagnose(&e).limit, Limit::Refused);
        let mut e = evidence(10);
        e.slo_missed = Some((parse_slo("p99<1ms").unwrap(), 5_000));
        let d = diagnose(&e);
        assert_eq!(d.limit, Limit::Latency);
        assert!(d.explanation.contains("p99<1.0 ms"), "{}", d.explanation);
        assert_eq!(diagnose(&evidence(5)).limit, Limit::NotReached);
    }
}
