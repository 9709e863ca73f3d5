//! `/proc/net/sockstat` and `/proc/net/sockstat6`: socket counts per
//! protocol, one `PROTO: key value key value …` line each.
//!
//! `sockets: used` counts every socket of the network namespace;
//! `TCP: inuse` sockets in the hash tables (established, listening and
//! bound), `orphan` ones no process holds, `tw` TIME_WAIT, `alloc` all TCP
//! sockets allocated, and `mem` the pages charged to TCP buffers, the
//! number compared against `net.ipv4.tcp_mem`. See proc(5) and tcp(7).

use std::io;
use std::path::Path;

use serde::Serialize;

use crate::ParseError;
use crate::text::{malformed, number, read_parsed, whole_text};

const WHAT: &str = "sockstat";

/// One protocol's line: its name and its `key value` pairs, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Protocol {
    /// `sockets`, `TCP`, `UDP`, `TCP6`, …
    pub name: String,
    /// The pairs of the line, in file order.
    pub values: Vec<(String, u64)>,
}

/// The parsed `sockstat` or `sockstat6`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Sockstat {
    protocols: Vec<Protocol>,
}

impl Sockstat {
    /// Parses the text of `/proc/net/sockstat` or `/proc/net/sockstat6`.
    pub fn parse(input: &[u8]) -> Result<Self, ParseError> {
        let text = whole_text(input, WHAT)?;
        let mut protocols = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            if line.trim().is_empty() {
                continue;
            }
            let (name, rest) = line
                .split_once(':')
                .ok_or_else(|| malformed(WHAT, n, "no ':'"))?;
            let tokens: Vec<&str> = rest.split_whitespace().collect();
            if tokens.is_empty() || !tokens.len().is_multiple_of(2) {
                return Err(malformed(WHAT, n, "expected 'key value' pairs"));
            }
            let values = tokens
                .chunks_exact(2)
                .map(|pair| match pair {
                    [key, value] => Ok((key.to_string(), number(value, WHAT, n, key)?)),
                    _ => Err(malformed(WHAT, n, "expected 'key value' pairs")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            protocols.push(Protocol {
                name: name.trim().to_string(),
                values,
            });
        }
        Ok(Self { protocols })
    }

    /// A value by protocol and key: `get("TCP", "inuse")`.
    pub fn get(&self, protocol: &str, key: &str) -> Option<u64> {
        let p = self.protocols.iter().find(|p| p.name == protocol)?;
        p.values.iter().find(|(k, _)| k == key).map(|&(_, v)| v)
    }

    /// All protocol lines, in file order.
    pub fn protocols(&self) -> &[Protocol] {
        &self.protocols
    }

    /// `sockets: used`: every socket of the namespace (sockstat only).
    pub fn sockets_used(&self) -> Option<u64> {
        self.get("sockets", "used")
    }

    /// `TCP: inuse`.
    pub fn tcp_inuse(&self) -> Option<u64> {
        self.get("TCP", "inuse")
    }

    /// `TCP: orphan`.
    pub fn tcp_orphan(&self) -> Option<u64> {
        self.get("TCP", "orphan")
    }

    /// `TCP: tw`: sockets in TIME_WAIT.
    pub fn tcp_tw(&self) -> Option<u64> {
        self.get("TCP", "tw")
    }

    /// `TCP: alloc`: TCP sockets allocated, IPv4 and IPv6.
    pub fn tcp_alloc(&self) -> Option<u64> {
        self.get("TCP", "alloc")
    }

    /// `TCP: mem`, in pages: what `net.ipv4.tcp_mem` is compared against.
    pub fn tcp_mem_pages(&self) -> Option<u64> {
        self.get("TCP", "mem")
    }

    /// `TCP: mem` in bytes.
    pub fn tcp_mem_bytes(&self, page_size: u64) -> Option<u64> {
        self.tcp_mem_pages().map(|p| p.saturating_mul(page_size))
    }
}

/// Reads `<proc_root>/net/sockstat`.
pub fn read(proc_root: &Path) -> io::Result<Sockstat> {
    read_parsed(&proc_root.join("net/sockstat"), Sockstat::parse)
}

/// Reads `<proc_root>/net/sockstat6` (`TCP6: inuse`, …).
pub fn read_v6(proc_root: &Path) -> io::Result<Sockstat> {
    read_parsed(&proc_root.join("net/sockstat6"), Sockstat::parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pairs() {
        let s = Sockstat::parse(b"sockets: used 11\nTCP: inuse 1 orphan 0 tw 2 alloc 3 mem 4\n")
            .unwrap();
        assert_eq!(s.sockets_used(), Some(11));
        assert_eq!(s.tcp_tw(), Some(2));
        assert_eq!(s.tcp_alloc(), Some(3));
        assert_eq!(s.tcp_mem_bytes(4096), Some(4 * 4096));
        assert_eq!(s.get("UDP", "inuse"), None);
    }

    #[test]
    fn garbage_is_an_error() {
        for bad in [
            "",
            "TCP inuse 1\n",
            "TCP: inuse\n",
            "TCP: inuse x\n",
            "TCP:\n",
            "TCP: inuse 1",
        ] {
            assert!(Sockstat::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }
}
