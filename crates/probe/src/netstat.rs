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
//! `include/uapi/linux/snmp.h`.

use std::io;
use std::path::Path;

use serde::Serialize;

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
