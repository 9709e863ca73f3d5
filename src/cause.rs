//! Why a connection failed, by kind, each with a one-line explanation and
//! the fix; and why one of c1m's servers closed a peer ([`Rule`]).
//! Counted in fixed fields: classifying never allocates.

use std::fmt;

use c1m_sys::Errno;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The kinds of failure c1m tells apart.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// ECONNREFUSED: nothing listens there (a reset answered the SYN). A
    /// full accept queue does not refuse on Linux: it drops, and the
    /// handshake times out (unless `net.ipv4.tcp_abort_on_overflow`).
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
    /// TLS: the server's certificate was not accepted (unknown issuer,
    /// expired, another name), or none came.
    TlsCertificate,
    /// TLS: no protocol version (or cipher suite, key exchange group,
    /// signature scheme) in common.
    TlsVersion,
    /// TLS: the peer ended the handshake with an alert.
    TlsAlert,
    /// TLS: the TCP connection was made, the TLS handshake did not finish
    /// in time.
    TlsTimeout,
    /// TLS: any other failure of the handshake (the peer's answer was not
    /// TLS, or broke the protocol).
    TlsOther,
    /// WebSocket: the server answered the upgrade with an HTTP status
    /// other than 101 (counted by status in the report's WebSocket part).
    WsStatus,
    /// WebSocket: the answer to the upgrade was not a WebSocket one (a
    /// 101 without `Upgrade: websocket` or with a wrong
    /// `Sec-WebSocket-Accept`, or not HTTP); a server: the request was not
    /// an upgrade.
    WsHandshake,
    /// WebSocket: the upgrade got no answer within `--connect-timeout`.
    WsTimeout,
    /// WebSocket: the peer broke the protocol once upgraded (a masked
    /// frame from a server, an unmasked one from a client, text that is
    /// not UTF-8, an unknown opcode).
    WsProtocol,
    /// Anything else.
    Other,
}

impl Cause {
    /// Every cause, in report order.
    pub const ALL: [Cause; 19] = [
        Cause::Refused,
        Cause::Timeout,
        Cause::AddrNotAvail,
        Cause::AddrInUse,
        Cause::ProcessFds,
        Cause::SystemFds,
        Cause::Reset,
        Cause::NoMemory,
        Cause::Unreachable,
        Cause::TlsCertificate,
        Cause::TlsVersion,
        Cause::TlsAlert,
        Cause::TlsTimeout,
        Cause::TlsOther,
        Cause::WsStatus,
        Cause::WsHandshake,
        Cause::WsTimeout,
        Cause::WsProtocol,
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
            Cause::TlsCertificate => "TLS certificate",
            Cause::TlsVersion => "TLS version",
            Cause::TlsAlert => "TLS alert",
            Cause::TlsTimeout => "TLS timeout",
            Cause::TlsOther => "TLS error",
            Cause::WsStatus => "WebSocket upgrade refused",
            Cause::WsHandshake => "WebSocket handshake",
            Cause::WsTimeout => "WebSocket timeout",
            Cause::WsProtocol => "WebSocket protocol",
            Cause::Other => "other",
        }
    }

    /// What it means and what to do, in one line.
    pub fn explain(self) -> &'static str {
        match self {
            Cause::Refused => {
                "nothing listens on that address and port: the kernel answered the SYN with a reset; check the server is up and where it listens (on Linux a full accept queue does not refuse: it drops the handshake, which then times out, unless net.ipv4.tcp_abort_on_overflow is 1)"
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
            Cause::TlsCertificate => {
                "the server's certificate was not accepted (signed by an issuer not trusted, expired, or made for another name): give its issuer with --ca FILE, the name it is for with --sni NAME, or --insecure for a test server's self-signed certificate"
            }
            Cause::TlsVersion => {
                "no TLS version in common (c1m speaks TLS 1.2 and 1.3), or no cipher suite, key exchange group or signature scheme: the server allows only older or other ones"
            }
            Cause::TlsAlert => {
                "the peer ended the TLS handshake with an alert: it refused something of it (a certificate, the name asked for, ALPN); the example shows which alert"
            }
            Cause::TlsTimeout => {
                "the TCP connection was made but the TLS handshake did not finish within --connect-timeout: the server did not answer the ClientHello (not a TLS server, or too busy with handshakes: lower --rate)"
            }
            Cause::TlsOther => {
                "the TLS handshake failed: the peer's answer was not TLS (a plain TCP server?) or broke the protocol; the example shows rustls' words"
            }
            Cause::WsStatus => {
                "the server answered the WebSocket upgrade with an HTTP status, not 101 Switching Protocols: each status and what it means are below"
            }
            Cause::WsHandshake => {
                "the upgrade's answer was not a WebSocket one (a 101 without Upgrade: websocket or with a Sec-WebSocket-Accept that does not answer the key, or not HTTP at all: a server that is not HTTP, or TLS expected: --tls); for a server, a peer's request was not a WebSocket upgrade (answered 400)"
            }
            Cause::WsTimeout => {
                "the connection was made but the upgrade got no answer within --connect-timeout (not an HTTP server, or one too busy: lower --rate)"
            }
            Cause::WsProtocol => {
                "the peer broke the WebSocket protocol after the upgrade (a masked frame from a server, an unmasked one from a client, text not UTF-8, an unknown opcode); the example shows tungstenite's words"
            }
            Cause::Other => "an unexpected error; see the worker's message",
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A count per cause: one named field each, so the JSON says what each
/// number is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CauseCounts {
    /// ECONNREFUSED: nothing listened, or a reset answered the SYN.
    pub refused: u64,
    /// The handshake did not finish within `--connect-timeout`.
    pub timeout: u64,
    /// EADDRNOTAVAIL: no local port left for a (source, destination) pair.
    pub addr_not_avail: u64,
    /// EADDRINUSE: the address or port was taken.
    pub addr_in_use: u64,
    /// EMFILE: the process's descriptor limit.
    pub process_fds: u64,
    /// ENFILE: the system's descriptor limit (`fs.file-max`).
    pub system_fds: u64,
    /// ECONNRESET / EPIPE / ECONNABORTED.
    pub reset: u64,
    /// ENOBUFS / ENOMEM.
    pub no_memory: u64,
    /// ENETUNREACH / EHOSTUNREACH.
    pub unreachable: u64,
    /// TLS: the certificate was not accepted (absent from reports before
    /// TLS, as every TLS count).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tls_certificate: u64,
    /// TLS: no protocol version (or suite, group, scheme) in common.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tls_version: u64,
    /// TLS: the peer sent an alert.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tls_alert: u64,
    /// TLS: the handshake did not finish within `--connect-timeout`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tls_timeout: u64,
    /// TLS: any other handshake failure.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tls_other: u64,
    /// WebSocket: the upgrade answered with a status other than 101
    /// (absent from reports before WebSocket, as every WebSocket count).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ws_status: u64,
    /// WebSocket: the upgrade's answer (or request) was not a WebSocket one.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ws_handshake: u64,
    /// WebSocket: the upgrade got no answer within `--connect-timeout`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ws_timeout: u64,
    /// WebSocket: the peer broke the protocol once upgraded.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ws_protocol: u64,
    /// Anything else.
    pub other: u64,
}

/// Counts absent from a report are zero; the TLS ones are left out when
/// zero, so a report without TLS reads as before.
fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl CauseCounts {
    fn slot(&mut self, c: Cause) -> &mut u64 {
        match c {
            Cause::Refused => &mut self.refused,
            Cause::Timeout => &mut self.timeout,
            Cause::AddrNotAvail => &mut self.addr_not_avail,
            Cause::AddrInUse => &mut self.addr_in_use,
            Cause::ProcessFds => &mut self.process_fds,
            Cause::SystemFds => &mut self.system_fds,
            Cause::Reset => &mut self.reset,
            Cause::NoMemory => &mut self.no_memory,
            Cause::Unreachable => &mut self.unreachable,
            Cause::TlsCertificate => &mut self.tls_certificate,
            Cause::TlsVersion => &mut self.tls_version,
            Cause::TlsAlert => &mut self.tls_alert,
            Cause::TlsTimeout => &mut self.tls_timeout,
            Cause::TlsOther => &mut self.tls_other,
            Cause::WsStatus => &mut self.ws_status,
            Cause::WsHandshake => &mut self.ws_handshake,
            Cause::WsTimeout => &mut self.ws_timeout,
            Cause::WsProtocol => &mut self.ws_protocol,
            Cause::Other => &mut self.other,
        }
    }
    /// Counts one failure.
    pub fn add(&mut self, c: Cause) {
        *self.slot(c) += 1;
    }
    /// The count for one cause.
    pub fn get(&self, c: Cause) -> u64 {
        let mut copy = *self;
        *copy.slot(c)
    }
    /// All failures.
    pub fn total(&self) -> u64 {
        Cause::ALL.iter().map(|&c| self.get(c)).sum()
    }
    /// Adds another set of counts.
    pub fn merge(&mut self, other: &CauseCounts) {
        for c in Cause::ALL {
            *self.slot(c) += other.get(c);
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

/// Why one of c1m's servers closed a peer: the rule it broke
/// (`worker::rules` applies them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// A line longer than `--max-message`.
    Oversized,
    /// No line completed for `--idle-timeout`: silent, trickling a line a
    /// byte at a time, or gone without a word (half-open).
    Idle,
    /// Its echoes unread: `--max-unsent` bytes owed to it, or the server
    /// blocked on it past `--idle-timeout`.
    Unread,
    /// Its first bytes were not a PROXY protocol header of the version
    /// `--proxy-protocol` names (malformed, the other version, too long,
    /// or cut short).
    ProxyHeader,
}

impl Rule {
    /// Every rule, in report order.
    pub const ALL: [Rule; 4] = [Rule::Oversized, Rule::Idle, Rule::Unread, Rule::ProxyHeader];

    /// The flag that sets the rule.
    pub fn flag(self) -> &'static str {
        match self {
            Rule::Oversized => "--max-message",
            Rule::Idle => "--idle-timeout",
            Rule::Unread => "--max-unsent",
            Rule::ProxyHeader => "--proxy-protocol",
        }
    }

    /// The rule's name in metrics labels: the flag without its dashes.
    pub fn name(self) -> &'static str {
        &self.flag()[2..]
    }

    /// What the peer did, in a few words.
    pub fn what(self) -> &'static str {
        match self {
            Rule::Oversized => "sent a line longer than allowed",
            Rule::Idle => "completed no line in time (silent, trickling a byte at a time, or gone)",
            Rule::Unread => "did not read its echoes",
            Rule::ProxyHeader => {
                "sent no valid PROXY protocol header of that version first (malformed, the other version, or cut short)"
            }
        }
    }
}

/// Peers a server closed, per rule: one named field each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DropCounts {
    /// A line longer than `--max-message`.
    pub oversized: u64,
    /// No line completed for `--idle-timeout`.
    pub idle: u64,
    /// Echoes unread (`--max-unsent`, or blocked past `--idle-timeout`).
    pub unread: u64,
    /// No valid PROXY protocol header first (`--proxy-protocol`; absent
    /// from reports before it existed).
    #[serde(default)]
    pub proxy_header: u64,
}

impl DropCounts {
    fn slot(&mut self, r: Rule) -> &mut u64 {
        match r {
            Rule::Oversized => &mut self.oversized,
            Rule::Idle => &mut self.idle,
            Rule::Unread => &mut self.unread,
            Rule::ProxyHeader => &mut self.proxy_header,
        }
    }
    /// Counts one peer closed.
    pub fn add(&mut self, r: Rule) {
        *self.slot(r) += 1;
    }
    /// The count for one rule.
    pub fn get(&self, r: Rule) -> u64 {
        let mut copy = *self;
        *copy.slot(r)
    }
    /// Every peer closed.
    pub fn total(&self) -> u64 {
        Rule::ALL.iter().map(|&r| self.get(r)).sum()
    }
    /// Adds another set of counts.
    pub fn merge(&mut self, other: &DropCounts) {
        for r in Rule::ALL {
            *self.slot(r) += other.get(r);
        }
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
    fn drops_count_per_rule() {
        let mut d = DropCounts::default();
        d.add(Rule::Idle);
        d.add(Rule::Idle);
        d.add(Rule::Unread);
        assert_eq!((d.idle, d.unread, d.oversized, d.total()), (2, 1, 0, 3));
        let mut e = d;
        e.merge(&d);
        assert_eq!(e.get(Rule::Idle), 4);
        assert_eq!(Rule::Unread.name(), "max-unsent");
    }

    #[test]
    fn every_cause_is_explained() {
        for c in Cause::ALL {
            assert!(!c.explain().is_empty());
            assert!(!c.name().is_empty());
        }
    }
}
