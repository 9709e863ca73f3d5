//! `/proc/net/netstat` and `/proc/net/snmp`: protocol counters as pairs of
//! lines, a header line of names and a line of values, per section:
//!
//! ```text
//! TcpExt: SyncookiesSent ListenOverflows ListenDrops …
//! TcpExt: 0 12 12 …
//! ```
//!
//! `netstat` holds `TcpExt`, `IpExt`, `MPTcpExt`; `snmp` holds `Ip`,
//! `Icmp`, `IcmpMsg`, `Tcp`, `Udp`, `UdpLite`. A few snmp values are signed
//! (`Tcp: MaxConn` is `-1`), so values are kept wide and read as `u64` or
//! `i64`. The counters' meanings: `nstat -a` and the kernel's
//! `include/uapi/linux/snmp.h`. [`ListenCounters`] types the listen-queue
//! ones (SYN cookies, SYN and accept queue overflows, drops).

use std::io;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ParseError;
use crate::text::{malformed, number, read_parsed, whole_text};

const WHAT: &str = "netstat";

/// One section: its name and its counters, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Section {
    /// `TcpExt`, `Tcp`, `Ip`, …
    pub name: String,
    /// The counters of the section, in file order.
    pub values: Vec<(String, i128)>,
}

/// The parsed `netstat` and/or `snmp` files.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Netstat {
    sections: Vec<Section>,
}

impl Netstat {
    /// Parses the text of `/proc/net/netstat` or `/proc/net/snmp`: each
    /// header line must be followed by a value line of the same section
    /// with as many values.
    pub fn parse(input: &[u8]) -> Result<Self, ParseError> {
        let text = whole_text(input, WHAT)?;
        let mut sections = Vec::new();
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        while let Some((i, header)) = lines.next() {
            let (name, keys) = split_section(header, i + 1)?;
            let (j, values) = lines
                .next()
                .ok_or_else(|| malformed(WHAT, i + 1, format!("{name}: header without values")))?;
            let (value_name, values) = split_section(values, j + 1)?;
            if value_name != name {
                return Err(malformed(
                    WHAT,
                    j + 1,
                    format!("expected values of {name}, found {value_name}"),
                ));
            }
            let keys: Vec<&str> = keys.split_whitespace().collect();
            let values: Vec<&str> = values.split_whitespace().collect();
            if keys.len() != values.len() {
                return Err(malformed(
                    WHAT,
                    j + 1,
                    format!("{name}: {} names but {} values", keys.len(), values.len()),
                ));
            }
            let values = keys
                .iter()
                .zip(&values)
                .map(|(k, v)| Ok((k.to_string(), number(v, WHAT, j + 1, k)?)))
                .collect::<Result<Vec<_>, ParseError>>()?;
            sections.push(Section {
                name: name.to_string(),
                values,
            });
        }
        if sections.is_empty() {
            return Err(ParseError::Truncated { what: WHAT });
        }
        Ok(Self { sections })
    }

    /// Appends the sections of `other` (to hold `netstat` and `snmp` in
    /// one value; their section names do not overlap).
    pub fn merge(&mut self, other: Netstat) {
        self.sections.extend(other.sections);
    }

    /// A counter as unsigned: `get("TcpExt", "ListenOverflows")`. `None`
    /// if absent or negative.
    pub fn get(&self, section: &str, key: &str) -> Option<u64> {
        self.raw(section, key).and_then(|v| u64::try_from(v).ok())
    }

    /// A counter as signed: `get_i64("Tcp", "MaxConn") == Some(-1)`.
    pub fn get_i64(&self, section: &str, key: &str) -> Option<i64> {
        self.raw(section, key).and_then(|v| i64::try_from(v).ok())
    }

    /// All sections, in file order.
    pub fn sections(&self) -> &[Section] {
        &self.sections
    }

    fn raw(&self, section: &str, key: &str) -> Option<i128> {
        self.sections
            .iter()
            .filter(|s| s.name == section)
            .flat_map(|s| s.values.iter())
            .find(|(k, _)| k == key)
            .map(|&(_, v)| v)
    }
}

/// The listen-queue counters of `TcpExt` (`/proc/net/netstat`), since
/// boot, per network namespace: what a listener did with connections it
/// could not queue. Names and meanings from `include/uapi/linux/snmp.h`
/// and `net/ipv4/tcp_input.c` / `tcp_ipv4.c`; each is a count of events
/// (packets or connections), not of sockets. A counter the kernel does not
/// have reads as 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ListenCounters {
    /// `SyncookiesSent`: SYN-ACKs sent with a SYN cookie instead of a
    /// request socket (the SYN queue was full, or `tcp_syncookies=2`).
    pub syncookies_sent: u64,
    /// `SyncookiesRecv`: ACKs carrying a valid SYN cookie: connections
    /// created from a cookie.
    pub syncookies_recv: u64,
    /// `SyncookiesFailed`: ACKs whose cookie did not validate.
    pub syncookies_failed: u64,
    /// `TCPReqQFullDoCookies`: SYNs answered with a cookie because the
    /// SYN (request) queue was full.
    pub reqq_full_do_cookies: u64,
    /// `TCPReqQFullDrop`: SYNs dropped because the SYN queue was full and
    /// cookies were off.
    pub reqq_full_drop: u64,
    /// `ListenOverflows`: handshakes completed (or SYNs) that found the
    /// accept queue full (more than the backlog waiting).
    pub listen_overflows: u64,
    /// `ListenDrops`: everything a listener dropped, overflows included.
    pub listen_drops: u64,
    /// `TCPMemoryPressures`: times TCP entered memory pressure
    /// (`net.ipv4.tcp_mem`'s middle value crossed).
    pub memory_pressures: u64,
}

impl ListenCounters {
    /// The `TcpExt` keys read, in field order.
    pub const KEYS: [&str; 8] = [
        "SyncookiesSent",
        "SyncookiesRecv",
        "SyncookiesFailed",
        "TCPReqQFullDoCookies",
        "TCPReqQFullDrop",
        "ListenOverflows",
        "ListenDrops",
        "TCPMemoryPressures",
    ];

    /// What happened between `base` and `self` (a later reading): each
    /// counter's difference, 0 where it went backwards (another namespace,
    /// or a counter that wrapped).
    pub fn since(&self, base: &Self) -> Self {
        self.zip(base, u64::saturating_sub)
    }

    /// Each counter of `self` and `other` summed (two namespaces' changes).
    pub fn plus(&self, other: &Self) -> Self {
        self.zip(other, u64::saturating_add)
    }

    /// Each counter the larger of `self`'s and `other`'s (two readings of
    /// one namespace's change).
    pub fn max(&self, other: &Self) -> Self {
        self.zip(other, u64::max)
    }

    /// `f` of each counter pair, field by field.
    fn zip(&self, o: &Self, f: impl Fn(u64, u64) -> u64) -> Self {
        Self {
            syncookies_sent: f(self.syncookies_sent, o.syncookies_sent),
            syncookies_recv: f(self.syncookies_recv, o.syncookies_recv),
            syncookies_failed: f(self.syncookies_failed, o.syncookies_failed),
            reqq_full_do_cookies: f(self.reqq_full_do_cookies, o.reqq_full_do_cookies),
            reqq_full_drop: f(self.reqq_full_drop, o.reqq_full_drop),
            listen_overflows: f(self.listen_overflows, o.listen_overflows),
            listen_drops: f(self.listen_drops, o.listen_drops),
            memory_pressures: f(self.memory_pressures, o.memory_pressures),
        }
    }

    /// Reads `<proc_root>/net/netstat`.
    pub fn read(proc_root: &Path) -> io::Result<Self> {
        read_netstat(proc_root).map(|n| Self::from(&n))
    }
}

impl From<&Netstat> for ListenCounters {
    /// The counters of `TcpExt`; absent (or negative) ones read as 0.
    fn from(n: &Netstat) -> Self {
        let [
            sent,
            recv,
            failed,
            do_cookies,
            drop,
            overflows,
            drops,
            pressures,
        ] = Self::KEYS.map(|k| n.get("TcpExt", k).unwrap_or(0));
        Self {
            syncookies_sent: sent,
            syncookies_recv: recv,
            syncookies_failed: failed,
            reqq_full_do_cookies: do_cookies,
            reqq_full_drop: drop,
            listen_overflows: overflows,
            listen_drops: drops,
            memory_pressures: pressures,
        }
    }
}

/// Reads `<proc_root>/net/netstat` and `<proc_root>/net/snmp` into one.
pub fn read(proc_root: &Path) -> io::Result<Netstat> {
    let mut n = read_netstat(proc_root)?;
    n.merge(read_snmp(proc_root)?);
    Ok(n)
}

/// Reads `<proc_root>/net/netstat` (`TcpExt`, `IpExt`, `MPTcpExt`).
pub fn read_netstat(proc_root: &Path) -> io::Result<Netstat> {
    read_parsed(&proc_root.join("net/netstat"), Netstat::parse)
}

/// Reads `<proc_root>/net/snmp` (`Ip`, `Icmp`, `Tcp`, `Udp`, …).
pub fn read_snmp(proc_root: &Path) -> io::Result<Netstat> {
    read_parsed(&proc_root.join("net/snmp"), Netstat::parse)
}

fn split_section(line: &str, n: usize) -> Result<(&str, &str), ParseError> {
    let (name, rest) = line
        .split_once(':')
        .ok_or_else(|| malformed(WHAT, n, "no ':'"))?;
    let name = name.trim();
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(malformed(WHAT, n, format!("bad section name {name:?}")));
    }
    Ok((name, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pairs_and_signs() {
        let n =
            Netstat::parse(b"Tcp: RtoMin MaxConn\nTcp: 200 -1\nTcpExt: ListenDrops\nTcpExt: 7\n")
                .unwrap();
        assert_eq!(n.get("Tcp", "RtoMin"), Some(200));
        assert_eq!(n.get("Tcp", "MaxConn"), None);
        assert_eq!(n.get_i64("Tcp", "MaxConn"), Some(-1));
        assert_eq!(n.get("TcpExt", "ListenDrops"), Some(7));
        assert_eq!(n.get("TcpExt", "Nope"), None);
    }

    #[test]
    fn large_counters_survive() {
        let n = Netstat::parse(b"Ip: InReceives\nIp: 18446744073709551615\n").unwrap();
        assert_eq!(n.get("Ip", "InReceives"), Some(u64::MAX));
        assert_eq!(n.get_i64("Ip", "InReceives"), None);
    }

    #[test]
    fn listen_counters_read_tcpext_and_subtract() {
        let n = Netstat::parse(
            b"TcpExt: SyncookiesSent ListenOverflows ListenDrops TCPReqQFullDrop\n\
              TcpExt: 5 12 13 2\n\
              Tcp: ListenDrops\nTcp: 99\n",
        )
        .unwrap();
        let c = ListenCounters::from(&n);
        assert_eq!(
            c,
            ListenCounters {
                syncookies_sent: 5,
                listen_overflows: 12,
                listen_drops: 13,
                reqq_full_drop: 2,
                ..ListenCounters::default()
            }
        );
        let later = ListenCounters {
            listen_overflows: 20,
            listen_drops: 10,
            ..c
        };
        let d = later.since(&c);
        assert_eq!(
            (d.listen_overflows, d.listen_drops, d.syncookies_sent),
            (8, 0, 0)
        );
    }

    #[test]
    fn garbage_is_an_error() {
        for bad in [
            "",
            "\n",
            "Tcp: A B\n",
            "Tcp: A B\nTcp: 1\n",
            "Tcp: A\nUdp: 1\n",
            "Tcp: A\nTcp: x\n",
            "Tcp A\nTcp 1\n",
            "Tcp: A\nTcp: 1",
        ] {
            assert!(Netstat::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }
}
