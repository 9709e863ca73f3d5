//! Why a connection failed, by kind, each with a one-line explanation and
//! the fix. Counted in fixed arrays: classifying an error never allocates.

use std::fmt;

use c1m_sys::Errno;
use serde::{Deserialize, Serialize};

/// The kinds of failure c1m tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// ECONNREFUSED: nothing listens there, or the server's queue refused.
    Refused,
    /// The handshake did not finish in time (SYNs dropped).
    Timeout,
    /// EADDRNOTAVAIL: no local port left for the (source, destination) pair.
    AddrNotAvail,
    /// EADDRINUSE: the address or port is taken.
    AddrInUse,
    /// EMFILE: this process's descriptor limit.
    ProcessFds,
    /// ENFILE: the system-wide descriptor limit.
    SystemFds,
    /// ECONNRESET / EPIPE: the peer reset the connection.
    Reset,
    /// ENOBUFS / ENOMEM: the kernel is out of memory for sockets.
    NoMemory,
    /// ENETUNREACH / EHOSTUNREACH.
    Unreachable,
    /// Anything else.
    Other,
}

impl Cause {
    /// Every cause, in report order.
    pub const ALL: [Cause; 10] = [
        Cause::Refused,
        Cause::Timeout,
        Cause::AddrNotAvail,
        Cause::AddrInUse,
        Cause::ProcessFds,
        Cause::SystemFds,
        Cause::Reset,
        Cause::NoMemory,
        Cause::Unreachable,
        Cause::Other,
    ];

    /// Classifies an errno.
    pub fn of(e: Errno) -> Cause {
        match e {
            Errno::CONNREFUSED => Cause::Refused,
            Errno::TIMEDOUT => Cause::Timeout,
            Errno::ADDRNOTAVAIL => Cause::AddrNotAvail,
            Errno::ADDRINUSE => Cause::AddrInUse,
            Errno::MFILE => Cause::ProcessFds,
            Errno::NFILE => Cause::SystemFds,
            Errno::CONNRESET | Errno::PIPE | Errno::CONNABORTED => Cause::Reset,
            Errno::NOBUFS | Errno::NOMEM => Cause::NoMemory,
            Errno::NETUNREACH | Errno::HOSTUNREACH => Cause::Unreachable,
            _ => Cause::Other,
        }
    }

    /// The name people search for.
    pub fn name(self) -> &'static str {
        match self {
            Cause::Refused => "ECONNREFUSED",
            Cause::Timeout => "timeout",
            Cause::AddrNotAvail => "EADDRNOTAVAIL",
            Cause::AddrInUse => "EADDRINUSE",
            Cause::ProcessFds => "EMFILE",
            Cause::SystemFds => "ENFILE",
            Cause::Reset => "ECONNRESET",
            Cause::NoMemory => "ENOBUFS/ENOMEM",
            Cause::Unreachable => "unreachable",
            Cause::Other => "other",
        }
    }

    /// What it means and what to do, in one line.
    pub fn explain(self) -> &'static str {
        match self {
            Cause::Refused => {
                "nothing accepted on that address and port, or the server's accept queue was full; check the server is up and raise its listen backlog (net.core.somaxconn)"
            }
            Cause::Timeout => {
                "the handshake did not finish in time: SYNs were dropped, usually a full accept queue (see ListenOverflows in /proc/net/netstat) or conntrack; raise net.core.somaxconn and the server's backlog, or lower --rate"
            }
            Cause::AddrNotAvail => {
                "no local port was left for a (source, destination) pair; add --sources or destinations, or widen net.ipv4.ip_local_port_range"
            }
            Cause::AddrInUse => {
                "the address or port is taken, often a server port grabbed by an outgoing connection's ephemeral port; reserve it: sysctl -w net.ipv4.ip_local_reserved_ports=PORTS"
            }
            Cause::ProcessFds => {
                "this process reached RLIMIT_NOFILE; c1m fans out over more workers (lower --worker-conns), or raise nofile (fs.nr_open first): c1m tune"
            }
            Cause::SystemFds => {
                "the system reached fs.file-max; raise it: sysctl -w fs.file-max=N (c1m tune)"
            }
            Cause::Reset => "the peer reset the connection (its own cap, or it closed)",
            Cause::NoMemory => {
                "the kernel ran short of socket memory; check MemAvailable and net.ipv4.tcp_mem"
            }
            Cause::Unreachable => "no route to the destination",
            Cause::Other => "an unexpected error; see the worker's message",
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A count per cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CauseCounts([u64; Cause::ALL.len()]);

impl CauseCounts {
    /// Counts one failure.
    pub fn add(&mut self, c: Cause) {
        self.0[c as usize] += 1;
    }
    /// The count for one cause.
    pub fn get(&self, c: Cause) -> u64 {
        self.0[c as usize]
    }
    /// All failures.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
    /// Adds another set of counts.
    pub fn merge(&mut self, other: &CauseCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }
    /// The causes seen, most frequent first.
    pub fn seen(&self) -> Vec<(Cause, u64)> {
        let mut v: Vec<(Cause, u64)> = Cause::ALL
            .iter()
            .map(|&c| (c, self.get(c)))
            .filter(|&(_, n)| n > 0)
            .collect();
        v.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errnos_map_to_causes() {
        assert_eq!(Cause::of(Errno::CONNREFUSED), Cause::Refused);
        assert_eq!(Cause::of(Errno::MFILE), Cause::ProcessFds);
        assert_eq!(Cause::of(Errno::NFILE), Cause::SystemFds);
        assert_eq!(Cause::of(Errno::ADDRNOTAVAIL), Cause::AddrNotAvail);
        assert_eq!(Cause::of(Errno::ACCESS), Cause::Other);
    }

    #[test]
    fn counts_sort_by_frequency() {
        let mut c = CauseCounts::default();
        c.add(Cause::Timeout);
        c.add(Cause::Refused);
        c.add(Cause::Refused);
        assert_eq!(c.total(), 3);
        assert_eq!(c.seen(), vec![(Cause::Refused, 2), (Cause::Timeout, 1)]);
        let mut d = CauseCounts::default();
        d.merge(&c);
        assert_eq!(d, c);
    }

    #[test]
    fn every_cause_is_explained() {
        for c in Cause::ALL {
            assert!(!c.explain().is_empty());
            assert!(!c.name().is_empty());
        }
    }
}
