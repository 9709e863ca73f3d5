//! The PROXY protocol (HAProxy's "The PROXY protocol", versions 1 and
//! 2, <https://www.haproxy.org/download/3.0/doc/proxy-protocol.txt>):
//! the header a client writes as the first bytes of a connection so that
//! a server behind a load balancer knows the real client. Pure.
//!
//! - Version 1 is one text line, at most 107 bytes:
//!   `PROXY TCP4 192.0.2.1 198.51.100.7 41234 8090\r\n` (`TCP6` for
//!   IPv6; `UNKNOWN` when the sender cannot tell).
//! - Version 2 is binary: the 12-byte signature `\r\n\r\n\0\r\nQUIT\n`,
//!   a byte of version (2, high nibble) and command (`LOCAL` 0, `PROXY`
//!   1), a byte of family (`AF_INET` 1, `AF_INET6` 2, high nibble) and
//!   transport (`STREAM` 1), the length of the rest (16 bits, network
//!   order), then source and destination address, source and destination
//!   port, and optional TLVs: 28 bytes for IPv4, 52 for IPv6.
//!
//! The bytes are written and read by the `ppp` crate. What it costs,
//! measured (`cargo test --release --lib proxy::tests::encoding_cost --
//! --nocapture`, 3 runs, this 2-core machine with other builds running):
//! 0.37-0.44 µs a v1 header, 0.10-0.12 µs a v2 header, each with its
//! small allocation and nothing kept — at most 0.44 s of CPU for a
//! million, spread over the client workers, against ~51 µs of machine
//! time a connection in the 1M run (25.6 s to reach 1M on 2 cores):
//! under 1%, so c1m writes no encoder of its own.
//! This module decides what goes in (the connection's 4-tuple, or a
//! source from `--proxy-sources`) and, for a server, whether the bytes it
//! has so far hold a whole header, the start of one, or something else —
//! so a server can peek at its receive queue and take the header off once
//! it is whole, with no buffer per connection.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Which version of the PROXY protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Version {
    /// Version 1: one text line.
    V1,
    /// Version 2: binary.
    V2,
}

impl Version {
    /// Its name on the command line: `v1`, `v2`.
    pub fn name(self) -> &'static str {
        match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
        }
    }
}

/// What a version 2 header starts with (the spec's section 2.2).
pub const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

/// What a version 1 header starts with.
pub const V1_PREFIX: &[u8; 6] = b"PROXY ";

/// The longest version 1 header, its `\r\n` counted (the spec's
/// worst case, `TCP6` with two full addresses and ports).
pub const V1_MAX: usize = 107;

/// The longest version 2 header c1m's servers take, in bytes (its 16
/// fixed bytes, addresses and TLVs): their read buffer. The spec allows
/// up to 16 + 65,535; a sender's own are 28 bytes (IPv4) or 52 (IPv6)
/// plus the TLVs it adds (HAProxy's, a few dozen bytes).
pub const V2_MAX: usize = 16 * 1024;

/// What a client sends (`--proxy-protocol`, `--proxy-sources`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Send {
    /// The version.
    pub version: Version,
    /// The source addresses the headers carry instead of the real one,
    /// spread over connections; `None`: each connection's own.
    pub sources: Option<Sources>,
}

/// Source addresses for headers (`--proxy-sources`), kept as runs of
/// consecutive addresses, so a /12 of a million addresses is one run of
/// a few bytes in every worker's spec, not a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sources {
    /// Each run: its first address and how many follow it, itself
    /// included.
    runs: Vec<(IpAddr, u64)>,
    /// Every address of every run.
    total: u64,
}

impl Sources {
    /// The addresses `ips`, in their order (as `plan::addr::parse_ips`
    /// gives them); `None` when there are none.
    pub fn new(ips: &[IpAddr]) -> Option<Self> {
        let mut runs: Vec<(IpAddr, u64)> = Vec::new();
        for &ip in ips {
            match runs.last_mut() {
                Some((first, n)) if offset(*first, *n) == Some(ip) => *n += 1,
                _ => runs.push((ip, 1)),
            }
        }
        let total = runs.iter().map(|r| r.1).sum();
        (total > 0).then_some(Self { runs, total })
    }

    /// How many addresses.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Never: a `Sources` has at least one address.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The address of connection `k` (its global index): the addresses
    /// in turn, from the first again after the last.
    pub fn nth(&self, k: u64) -> IpAddr {
        let mut k = k % self.total.max(1);
        for &(first, n) in &self.runs {
            if k < n {
                return offset(first, k).unwrap_or(first);
            }
            k -= n;
        }
        self.runs[0].0
    }

    /// Whether every address is IPv4 (else every one is IPv6 or they mix).
    pub fn families(&self) -> (bool, bool) {
        let v4 = self.runs.iter().any(|r| r.0.is_ipv4());
        let v6 = self.runs.iter().any(|r| r.0.is_ipv6());
        (v4, v6)
    }
}

/// The address `k` after `ip`, of its family; `None` past the last.
fn offset(ip: IpAddr, k: u64) -> Option<IpAddr> {
    match ip {
        IpAddr::V4(a) => u32::from(a)
            .checked_add(u32::try_from(k).ok()?)
            .map(|n| IpAddr::V4(n.into())),
        IpAddr::V6(a) => u128::from(a)
            .checked_add(u128::from(k))
            .map(|n| IpAddr::V6(n.into())),
    }
}

/// Why a header could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// Source and destination are of different families: one header
    /// carries one (`TCP4` or `TCP6`, `AF_INET` or `AF_INET6`).
    MixedFamilies,
    /// The `ppp` crate could not build it (its writer refuses more than
    /// 16 + 65,535 bytes, which two addresses never are).
    Build,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::MixedFamilies => f.write_str(
                "a PROXY header carries one address family: source and destination differ",
            ),
            EncodeError::Build => f.write_str("the PROXY v2 header could not be built"),
        }
    }
}

/// Writes the header of a TCP connection from `src` to `dst` to `out`
/// (after what is there): `PROXY TCP4|TCP6 …\r\n` for v1, the `PROXY`
/// command over `STREAM` for v2.
pub fn encode(
    version: Version,
    src: SocketAddr,
    dst: SocketAddr,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    use ppp::{v1, v2};
    let (src, dst) = (canonical(src), canonical(dst));
    match version {
        Version::V1 => {
            let addrs = match (src, dst) {
                (SocketAddr::V4(s), SocketAddr::V4(d)) => {
                    v1::Addresses::new_tcp4(*s.ip(), *d.ip(), s.port(), d.port())
                }
                (SocketAddr::V6(s), SocketAddr::V6(d)) => {
                    v1::Addresses::new_tcp6(*s.ip(), *d.ip(), s.port(), d.port())
                }
                _ => return Err(EncodeError::MixedFamilies),
            };
            use std::io::Write;
            // Display writes the whole line, `\r\n` included.
            let _ = write!(out, "{addrs}");
        }
        Version::V2 => {
            let addrs: v2::Addresses = match (src, dst) {
                (SocketAddr::V4(s), SocketAddr::V4(d)) => {
                    v2::IPv4::new(*s.ip(), *d.ip(), s.port(), d.port()).into()
                }
                (SocketAddr::V6(s), SocketAddr::V6(d)) => {
                    v2::IPv6::new(*s.ip(), *d.ip(), s.port(), d.port()).into()
                }
                _ => return Err(EncodeError::MixedFamilies),
            };
            let header = v2::Builder::with_addresses(
                v2::Version::Two | v2::Command::Proxy,
                v2::Protocol::Stream,
                addrs,
            )
            .build()
            .map_err(|_| EncodeError::Build)?;
            out.extend_from_slice(&header);
        }
    }
    Ok(())
}

/// An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, what a dual-stack
/// socket reports) as the IPv4 address it is.
fn canonical(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip().to_canonical(), a.port())
}

/// A whole header a server took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Its length in bytes: what the server takes off the stream before
    /// the connection's own bytes.
    pub len: usize,
    /// The client and the address it connected to, as the header says;
    /// `None` for a v1 `UNKNOWN` or a v2 `LOCAL` (a health check by the
    /// proxy itself), which the spec has receivers accept and use the
    /// connection's own addresses.
    pub addresses: Option<(SocketAddr, SocketAddr)>,
}

/// Why a server refused what a peer sent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// It does not start like a header of either version.
    NotAHeader,
    /// A header of the other version than the server takes.
    OtherVersion(Version),
    /// A v1 line with no `\r\n` in 107 bytes, or a v2 header longer than
    /// [`V2_MAX`].
    TooLong,
    /// It starts like a header, but its fields are not valid.
    Invalid,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::NotAHeader => f.write_str("does not start with a PROXY header"),
            Malformed::OtherVersion(v) => write!(f, "a PROXY {} header", v.name()),
            Malformed::TooLong => f.write_str("a PROXY header too long"),
            Malformed::Invalid => f.write_str("a PROXY header with invalid fields"),
        }
    }
}

/// What the first bytes of a connection are, to a server taking headers
/// of `version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// So far the start of a header: wait for more bytes (a peer that
    /// stops sending here has cut its header short).
    Incomplete,
    /// A whole header.
    Whole(Header),
    /// Not a header the server takes: it closes the connection.
    Malformed(Malformed),
}

/// Judges `bytes`, the first a peer sent (all of them the server has so
/// far), as a header of `version`. Never panics, whatever the bytes.
pub fn parse(version: Version, bytes: &[u8]) -> Parsed {
    let starts = |sig: &[u8]| {
        let n = bytes.len().min(sig.len());
        bytes[..n] == sig[..n]
    };
    match (version, starts(V1_PREFIX), starts(V2_SIGNATURE)) {
        // Either could still come from so few bytes (none: nothing yet).
        (_, true, true) => Parsed::Incomplete,
        (Version::V1, true, false) => parse_v1(bytes),
        (Version::V2, false, true) => parse_v2(bytes),
        (Version::V1, false, true) => Parsed::Malformed(Malformed::OtherVersion(Version::V2)),
        (Version::V2, true, false) => Parsed::Malformed(Malformed::OtherVersion(Version::V1)),
        (_, false, false) => Parsed::Malformed(Malformed::NotAHeader),
    }
}

fn parse_v1(bytes: &[u8]) -> Parsed {
    let window = &bytes[..bytes.len().min(V1_MAX)];
    let Some(end) = window.windows(2).position(|w| w == b"\r\n") else {
        return if bytes.len() >= V1_MAX {
            Parsed::Malformed(Malformed::TooLong)
        } else {
            Parsed::Incomplete
        };
    };
    let len = end + 2;
    let Ok(text) = std::str::from_utf8(&bytes[..len]) else {
        return Parsed::Malformed(Malformed::Invalid);
    };
    match ppp::v1::Header::try_from(text) {
        Ok(h) => Parsed::Whole(Header {
            len,
            addresses: match h.addresses {
                ppp::v1::Addresses::Tcp4(a) => Some((
                    SocketAddr::new(a.source_address.into(), a.source_port),
                    SocketAddr::new(a.destination_address.into(), a.destination_port),
                )),
                ppp::v1::Addresses::Tcp6(a) => Some((
                    SocketAddr::new(a.source_address.into(), a.source_port),
                    SocketAddr::new(a.destination_address.into(), a.destination_port),
                )),
                ppp::v1::Addresses::Unknown => None,
            },
        }),
        Err(_) => Parsed::Malformed(Malformed::Invalid),
    }
}

fn parse_v2(bytes: &[u8]) -> Parsed {
    if bytes.len() < 16 {
        return Parsed::Incomplete;
    }
    let len = 16 + usize::from(u16::from_be_bytes([bytes[14], bytes[15]]));
    if len > V2_MAX {
        return Parsed::Malformed(Malformed::TooLong);
    }
    if bytes.len() < len {
        return Parsed::Incomplete;
    }
    match ppp::v2::Header::try_from(&bytes[..len]) {
        Ok(h) if matches!(h.command, ppp::v2::Command::Local) => Parsed::Whole(Header {
            len,
            addresses: None,
        }),
        Ok(h) => Parsed::Whole(Header {
            len,
            addresses: match h.addresses {
                ppp::v2::Addresses::IPv4(a) => Some((
                    SocketAddr::new(a.source_address.into(), a.source_port),
                    SocketAddr::new(a.destination_address.into(), a.destination_port),
                )),
                ppp::v2::Addresses::IPv6(a) => Some((
                    SocketAddr::new(a.source_address.into(), a.source_port),
                    SocketAddr::new(a.destination_address.into(), a.destination_port),
                )),
                _ => None,
            },
        }),
        Err(_) => Parsed::Malformed(Malformed::Invalid),
    }
}

#[cfg(test)]
#[path = "proxy_tests.rs"]
mod tests;
