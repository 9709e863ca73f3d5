//! Addresses and ports as users write them: `8090-8119`, `127.0.2.1-127.0.2.40`,
//! `127.0.2.0/26`, `127.0.0.1:8090-8119`, `[::1]:80`, lists joined by commas.
//!
//! Pure parsing: no name is resolved here. [`parse_target`] keeps a host
//! name as a name (the command layer resolves it once, with the system's
//! resolver, and [`Family::pick`]s its addresses); elsewhere only
//! `localhost` is known, as 127.0.0.1. No one range or block expands to
//! more than [`MAX_EXPANSION`] addresses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use thiserror::Error;

/// Why an address or port argument was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AddrError {
    /// Not a number from 1 to 65535: the text given.
    #[error("{0:?} is not a port: write a number from 1 to 65535")]
    BadPort(String),
    /// A port range whose first port is above its last.
    #[error("port range {lo}-{hi} is upside down; write {hi}-{lo}")]
    PortsUpsideDown {
        /// The first port written.
        lo: u16,
        /// The last port written (below `lo`).
        hi: u16,
    },
    /// A target that reads as a stage (`DURATION:COUNT`, `5s:0`): one
    /// item of a `--stages` list cut off by a space.
    #[error(
        "{0:?} looks like a stage (DURATION:COUNT), not a target: --stages takes one comma-separated list, without spaces (--stages 10s:1k,5s:0)"
    )]
    LooksLikeStage(String),
    /// Not an IPv4 or IPv6 address (nor `localhost`): the text given.
    #[error("{0:?} is not an IP address (write e.g. 127.0.0.2 or ::1)")]
    BadIp(String),
    /// An address range `A-B` with `A` above `B`, or one end IPv4 and the
    /// other IPv6: the range as written.
    #[error(
        "address range {0:?} is upside down or mixes IPv4 and IPv6: write LOW-HIGH of one family (e.g. 127.0.2.1-127.0.2.40)"
    )]
    IpsUpsideDown(String),
    /// `ADDR/LEN` whose prefix length is not a number or is longer than
    /// the address (32 or 128 bits): the block as written.
    #[error("{0:?} is not a CIDR block (write e.g. 127.0.2.0/24)")]
    BadCidr(String),
    /// A range or block of more than [`MAX_EXPANSION`] addresses.
    #[error(
        "{what} {text:?} expands to {} addresses; at most {} are allowed: give a smaller one",
        big_count(*count),
        c1m_limits::num::thousands(*max)
    )]
    TooMany {
        /// `"CIDR block"`, `"address range"`, `"address list"` or
        /// `"port list"`.
        what: &'static str,
        /// The range or block as written.
        text: String,
        /// How many addresses it holds.
        count: u128,
        /// [`MAX_EXPANSION`].
        max: u64,
    },
    /// Not `ADDRESS:PORTS`, `[IPv6]:PORTS` or bare ports (an IPv6 address
    /// without brackets, an address without a port): the text given.
    #[error(
        "{0:?} is not ADDRESS:PORTS (write e.g. 127.0.0.1:8090 or 127.0.0.1:8090-8119 or [::1]:80)"
    )]
    BadTarget(String),
    /// A list with nothing in it but commas and spaces: `"port list"` or
    /// `"address list"`.
    #[error("empty {0}: write at least one")]
    Empty(&'static str),
    /// A list with an empty item: a comma at its start or end, or two in
    /// a row ([`list_items`]).
    #[error("{what} {text:?} has an empty item ({why}); write {without:?}")]
    EmptyItem {
        /// `"port list"` or `"address list"`.
        what: &'static str,
        /// The list as written.
        text: String,
        /// Where the empty item is, in words.
        why: &'static str,
        /// The list without it.
        without: String,
    },
    /// A target host that is neither an address nor a host name (RFC 1123:
    /// letters, digits, `-`, `_` and dots, labels of 1 to 63 characters not
    /// starting or ending with `-`, at most 253 in all): the text given.
    #[error(
        "{0:?} is neither an IP address nor a host name: write an address (127.0.0.1, [::1]) or a name (db-1, server.ns.svc)"
    )]
    BadName(String),
}

/// A target as written: a host (an address, or a name to resolve) and its
/// ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The host part.
    pub host: TargetHost,
    /// Its ports, in the order written.
    pub ports: Vec<u16>,
}

/// The host part of a [`Target`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetHost {
    /// An IPv4 or IPv6 address (IPv6 in brackets on the command line).
    Ip(IpAddr),
    /// A host name (`db-1`, `server.ns.svc`, `localhost`), resolved by the
    /// command layer.
    Name(String),
}

/// Which address family a name's addresses are taken from (`-4`, `-6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Family {
    /// Every address, IPv4 and IPv6.
    #[default]
    Any,
    /// IPv4 addresses only.
    V4,
    /// IPv6 addresses only.
    V6,
}

impl Family {
    /// Whether `ip` is of this family.
    pub fn admits(self, ip: IpAddr) -> bool {
        match self {
            Family::Any => true,
            Family::V4 => ip.is_ipv4(),
            Family::V6 => ip.is_ipv6(),
        }
    }

    /// The addresses of this family, each once, in the resolver's order
    /// (an IPv4-mapped IPv6 address counts as its IPv4 address).
    pub fn pick(self, resolved: &[IpAddr]) -> Vec<IpAddr> {
        let mut out: Vec<IpAddr> = Vec::new();
        for ip in resolved.iter().map(|ip| ip.to_canonical()) {
            if self.admits(ip) && !out.contains(&ip) {
                out.push(ip);
            }
        }
        out
    }

    /// The family's name in messages: `IPv4`, `IPv6`, or `IPv4 or IPv6`.
    pub fn name(self) -> &'static str {
        match self {
            Family::Any => "IPv4 or IPv6",
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }
}

/// A count of up to 2^128 with thousands separators (`16,777,214`).
fn big_count(n: u128) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The most addresses or ports one argument (a range, a block, or a
/// whole list of them) may expand to.
pub const MAX_EXPANSION: u64 = 1 << 20;

/// Parses ports: `8090`, `8090-8119`, or a comma-separated list of those.
pub fn parse_ports(text: &str) -> Result<Vec<u16>, AddrError> {
    let mut out = Vec::new();
    for part in split_list(text, "port list")? {
        let port = |s: &str| -> Result<u16, AddrError> {
            match s.trim().parse::<u16>() {
                Ok(p) if p > 0 => Ok(p),
                _ => Err(AddrError::BadPort(s.trim().to_string())),
            }
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (lo, hi) = (port(a)?, port(b)?);
                if lo > hi {
                    return Err(AddrError::PortsUpsideDown { lo, hi });
                }
                out.extend(lo..=hi);
            }
            None => out.push(port(part)?),
        }
        too_many("port list", text, out.len())?;
    }
    Ok(out)
}

fn split_list<'a>(text: &'a str, what: &'static str) -> Result<Vec<&'a str>, AddrError> {
    list_items(text).map_err(|e| match e {
        ListError::Empty => AddrError::Empty(what),
        ListError::EmptyItem { why, without } => AddrError::EmptyItem {
            what,
            text: text.trim().to_string(),
            why,
            without,
        },
    })
}

/// Why a comma-separated list was refused by [`list_items`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListError {
    /// Nothing but commas and spaces.
    Empty,
    /// An empty item.
    EmptyItem {
        /// Where: `"a comma at its end"`, `"a comma at its start"` or
        /// `"two commas in a row"`.
        why: &'static str,
        /// The list with its empty items left out.
        without: String,
    },
}

/// The items of a comma-separated list as every list flag of c1m takes
/// one (ports, addresses, `--stages`, `--alpn`), each trimmed. One rule
/// for them all: no item is empty, so a comma at the start or the end, or
/// two in a row, is refused (a list cut short, say a `--stages` that
/// lost its last stage, is never run as if whole), and the error says
/// where and gives the list without it.
pub fn list_items(text: &str) -> Result<Vec<&str>, ListError> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    let items: Vec<&str> = parts.iter().copied().filter(|s| !s.is_empty()).collect();
    if items.is_empty() {
        return Err(ListError::Empty);
    }
    if items.len() < parts.len() {
        let why = if parts.last().is_some_and(|p| p.is_empty()) {
            "a comma at its end"
        } else if parts.first().is_some_and(|p| p.is_empty()) {
            "a comma at its start"
        } else {
            "two commas in a row"
        };
        return Err(ListError::EmptyItem {
            why,
            without: items.join(","),
        });
    }
    Ok(items)
}

fn parse_ip(text: &str) -> Result<IpAddr, AddrError> {
    let t = text.trim();
    if t == "localhost" {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    t.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| AddrError::BadIp(t.to_string()))
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_u128(like: IpAddr, n: u128) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(n as u32)),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(n)),
    }
}

fn expand(
    what: &'static str,
    text: &str,
    first: IpAddr,
    lo: u128,
    hi: u128,
) -> Result<Vec<IpAddr>, AddrError> {
    // `::/0` holds 2^128 addresses: one more than a u128 counts.
    let count = (hi - lo).saturating_add(1);
    if count > MAX_EXPANSION as u128 {
        return Err(AddrError::TooMany {
            what,
            text: text.to_string(),
            count,
            max: MAX_EXPANSION,
        });
    }
    Ok((lo..=hi).map(|n| from_u128(first, n)).collect())
}

/// Parses addresses: `127.0.0.2`, `127.0.2.1-127.0.2.40`, `127.0.2.0/26`
/// (IPv4 blocks of /30 and wider leave out the network and broadcast
/// addresses), or a comma-separated list of those.
pub fn parse_ips(text: &str) -> Result<Vec<IpAddr>, AddrError> {
    let mut out = Vec::new();
    for part in split_list(text, "address list")? {
        if let Some((base, len)) = part.split_once('/') {
            let base = parse_ip(base)?;
            let bits: u32 = if base.is_ipv4() { 32 } else { 128 };
            let len: u32 = len
                .trim()
                .parse()
                .ok()
                .filter(|l| *l <= bits)
                .ok_or_else(|| AddrError::BadCidr(part.to_string()))?;
            let host_bits = bits - len;
            let mask: u128 = if host_bits >= 128 {
                u128::MAX
            } else {
                (1u128 << host_bits) - 1
            };
            let net = to_u128(base) & !mask;
            let (lo, hi) = if base.is_ipv4() && host_bits >= 2 {
                (net + 1, (net | mask) - 1)
            } else {
                (net, net | mask)
            };
            out.extend(expand("CIDR block", part, base, lo, hi)?);
        } else if let Some((a, b)) = part.split_once('-') {
            let (a, b) = (parse_ip(a)?, parse_ip(b)?);
            if a.is_ipv4() != b.is_ipv4() || to_u128(a) > to_u128(b) {
                return Err(AddrError::IpsUpsideDown(part.to_string()));
            }
            out.extend(expand("address range", part, a, to_u128(a), to_u128(b))?);
        } else {
            out.push(parse_ip(part)?);
        }
        too_many("address list", text, out.len())?;
    }
    Ok(out)
}

/// [`AddrError::TooMany`] when a whole list holds more than
/// [`MAX_EXPANSION`].
fn too_many(what: &'static str, text: &str, count: usize) -> Result<(), AddrError> {
    if count as u64 > MAX_EXPANSION {
        return Err(AddrError::TooMany {
            what,
            text: text.to_string(),
            count: count as u128,
            max: MAX_EXPANSION,
        });
    }
    Ok(())
}

/// Parses one target or listen address with ports: `127.0.0.1:8090`,
/// `0.0.0.0:8090-8119`, `[::1]:80`, `localhost:6379`; a bare port or port
/// range means `default_ip`.
pub fn parse_endpoints(text: &str, default_ip: IpAddr) -> Result<Vec<SocketAddr>, AddrError> {
    endpoints_as_written(text, default_ip).map_err(|e| stage_or(text, e))
}

fn endpoints_as_written(text: &str, default_ip: IpAddr) -> Result<Vec<SocketAddr>, AddrError> {
    let t = text.trim();
    let bad = || AddrError::BadTarget(t.to_string());
    let (ip, ports) = if let Some(rest) = t.strip_prefix('[') {
        let (ip, ports) = rest.split_once("]:").ok_or_else(bad)?;
        (parse_ip(ip)?, ports)
    } else if let Some((ip, ports)) = t.rsplit_once(':') {
        if ip.contains(':') {
            return Err(bad());
        }
        (parse_ip(ip)?, ports)
    } else if t.chars().next().is_some_and(|c| c.is_ascii_digit()) && !t.contains('.') {
        (default_ip, t)
    } else {
        return Err(bad());
    };
    Ok(parse_ports(ports)?
        .into_iter()
        .map(|p| SocketAddr::new(ip, p))
        .collect())
}

/// Parses one connect target: `HOST:PORTS` with HOST an IPv4 address, an
/// IPv6 address in brackets (`[::1]:80`) or a host name (`db-1:6379`,
/// `server.ns.svc:8090-8119`, `localhost:8090`); a bare port or port
/// range means `default_ip`. Nothing is resolved.
pub fn parse_target(text: &str, default_ip: IpAddr) -> Result<Target, AddrError> {
    parse_target_as_written(text, default_ip).map_err(|e| stage_or(text, e))
}

/// `e`, unless `text` is not a target but reads as a stage
/// (`DURATION:COUNT`): then [`AddrError::LooksLikeStage`] (trial 5:
/// `--stages 10s:1k 5s:0` blamed "0" as a port).
fn stage_or(text: &str, e: AddrError) -> AddrError {
    let t = text.trim();
    let stage = t.split_once(':').is_some_and(|(d, n)| {
        // A stage's count may be 0 (`5s:0`); `parse_count`'s may not.
        let raw = n.trim();
        let n = raw.trim_start_matches('0');
        !raw.is_empty()
            && c1m_limits::num::parse_duration(d).is_ok()
            && (n.is_empty() || c1m_limits::num::parse_count(n).is_ok())
    });
    if stage {
        AddrError::LooksLikeStage(t.to_string())
    } else {
        e
    }
}

fn parse_target_as_written(text: &str, default_ip: IpAddr) -> Result<Target, AddrError> {
    let t = text.trim();
    let bad = || AddrError::BadTarget(t.to_string());
    let (host, ports) = if let Some(rest) = t.strip_prefix('[') {
        let (ip, ports) = rest.split_once("]:").ok_or_else(bad)?;
        (TargetHost::Ip(parse_ip(ip)?), ports)
    } else if let Some((host, ports)) = t.rsplit_once(':') {
        if host.contains(':') {
            return Err(bad());
        }
        let host = host.trim();
        let h = match host.parse::<IpAddr>() {
            Ok(ip) => TargetHost::Ip(ip),
            // Four dotted numbers that are not an address (300.1.1.1) are
            // a mistyped address, not a name.
            Err(_) if host.split('.').all(|l| l.parse::<u32>().is_ok()) => {
                return Err(AddrError::BadIp(host.to_string()));
            }
            Err(_) if is_host_name(host) => TargetHost::Name(host.to_ascii_lowercase()),
            Err(_) => return Err(AddrError::BadName(host.to_string())),
        };
        (h, ports)
    } else if t.chars().next().is_some_and(|c| c.is_ascii_digit()) && !t.contains('.') {
        (TargetHost::Ip(default_ip), t)
    } else {
        return Err(bad());
    };
    Ok(Target {
        host,
        ports: parse_ports(ports)?,
    })
}

/// Whether `s` is a host name as RFC 1123 (§2.1) allows, with `_` too
/// (service names such as `_http._tcp.db` exist in DNS), and an optional
/// trailing dot.
pub fn is_host_name(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// `n` consecutive addresses from `first` (for c1m's own loopback plans),
/// skipping those whose last IPv4 octet is 0 or 255 so that none looks like
/// a network or broadcast address.
pub fn consecutive(first: Ipv4Addr, n: usize) -> Vec<IpAddr> {
    let mut out = Vec::with_capacity(n);
    let mut a = u32::from(first);
    while out.len() < n {
        let last = a & 0xff;
        if last != 0 && last != 255 {
            out.push(IpAddr::V4(Ipv4Addr::from(a)));
        }
        a = a.wrapping_add(1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ports() {
        assert_eq!(parse_ports("8090").unwrap(), vec![8090]);
        assert_eq!(
            parse_ports("8090-8092, 9000").unwrap(),
            vec![8090, 8091, 8092, 9000]
        );
        assert_eq!(parse_ports("8090-8119").unwrap().len(), 30);
        assert_eq!(
            parse_ports("8119-8090"),
            Err(AddrError::PortsUpsideDown { lo: 8119, hi: 8090 })
        );
        assert!(parse_ports("0").is_err());
        assert!(parse_ports("65536").is_err());
        assert!(parse_ports("http").is_err());
        assert!(parse_ports("").is_err());
        // One rule for every comma list: no empty item.
        assert_eq!(parse_ports(" , "), Err(AddrError::Empty("port list")));
        for (text, why, without) in [
            ("8090,", "a comma at its end", "8090"),
            (",8090", "a comma at its start", "8090"),
            ("8090,,8091-8092", "two commas in a row", "8090,8091-8092"),
        ] {
            let e = parse_ports(text).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("port list {text:?} has an empty item ({why}); write {without:?}")
            );
        }
        assert!(
            parse_ips("127.0.0.2,")
                .unwrap_err()
                .to_string()
                .contains("address list \"127.0.0.2,\" has an empty item (a comma at its end); write \"127.0.0.2\"")
        );
        assert!(parse_endpoints("127.0.0.1:8090,", ip("0.0.0.0")).is_err());
        assert_eq!(list_items(" a , b "), Ok(vec!["a", "b"]));
    }

    #[test]
    fn ips() {
        assert_eq!(parse_ips("127.0.0.2").unwrap(), vec![ip("127.0.0.2")]);
        assert_eq!(parse_ips("127.0.2.1-127.0.2.40").unwrap().len(), 40);
        let cidr = parse_ips("127.0.2.0/24").unwrap();
        assert_eq!(cidr.len(), 254);
        assert_eq!(cidr[0], ip("127.0.2.1"));
        assert_eq!(parse_ips("127.0.2.7/32").unwrap(), vec![ip("127.0.2.7")]);
        assert_eq!(parse_ips("::1, 127.0.0.1").unwrap().len(), 2);
        assert_eq!(parse_ips("fd00::/126").unwrap().len(), 4);
        assert!(matches!(
            parse_ips("127.0.0.9-127.0.0.1"),
            Err(AddrError::IpsUpsideDown(_))
        ));
        assert!(matches!(
            parse_ips("127.0.0.1-::1"),
            Err(AddrError::IpsUpsideDown(_))
        ));
        assert!(matches!(parse_ips("300.1.1.1"), Err(AddrError::BadIp(_))));
        assert!(matches!(
            parse_ips("10.0.0.0/33"),
            Err(AddrError::BadCidr(_))
        ));
        assert!(matches!(
            parse_ips("10.0.0.0/8"),
            Err(AddrError::TooMany { .. })
        ));
        // Each block fits; the list does not.
        assert!(matches!(
            parse_ips("10.0.0.0/12,10.16.0.0/12"),
            Err(AddrError::TooMany {
                what: "address list",
                ..
            })
        ));
        assert!(matches!(
            parse_ports(&vec!["1-65535"; 17].join(",")),
            Err(AddrError::TooMany {
                what: "port list",
                ..
            })
        ));
        // A refusal shows the text escaped: one line.
        let e = parse_ips("1.1.1.1\n-0.0.0.0").unwrap_err().to_string();
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn endpoints() {
        let lo = ip("127.0.0.1");
        assert_eq!(
            parse_endpoints("127.0.0.1:8090", lo).unwrap(),
            vec!["127.0.0.1:8090".parse().unwrap()]
        );
        assert_eq!(parse_endpoints("0.0.0.0:8090-8119", lo).unwrap().len(), 30);
        assert_eq!(
            parse_endpoints("[::1]:80", lo).unwrap(),
            vec!["[::1]:80".parse().unwrap()]
        );
        assert_eq!(
            parse_endpoints("localhost:6379", lo).unwrap(),
            vec!["127.0.0.1:6379".parse().unwrap()]
        );
        assert_eq!(parse_endpoints("8090-8091", lo).unwrap().len(), 2);
        assert!(parse_endpoints("127.0.0.1", lo).is_err());
        assert!(parse_endpoints("::1:80", lo).is_err());
        assert!(parse_endpoints("example.com:80", lo).is_err());
    }

    #[test]
    fn targets_keep_names_for_the_resolver() {
        let lo = ip("127.0.0.1");
        let name = |h: &str| TargetHost::Name(h.to_string());
        for (text, host, ports) in [
            ("db-1:6379", name("db-1"), vec![6379]),
            (
                "server.ns.svc:8090-8092",
                name("server.ns.svc"),
                vec![8090, 8091, 8092],
            ),
            ("LocalHost:8090", name("localhost"), vec![8090]),
            ("db.example.:80", name("db.example."), vec![80]),
            ("127.0.0.1:80", TargetHost::Ip(lo), vec![80]),
            ("[::1]:80,81", TargetHost::Ip(ip("::1")), vec![80, 81]),
            ("8090", TargetHost::Ip(lo), vec![8090]),
        ] {
            assert_eq!(parse_target(text, lo), Ok(Target { host, ports }), "{text}");
        }
        assert_eq!(
            parse_target("300.1.1.1:80", lo),
            Err(AddrError::BadIp("300.1.1.1".into()))
        );
        for bad in ["db_1!:80", "-db:80", "db-:80", "a..b:80", ":80"] {
            assert!(
                matches!(parse_target(bad, lo), Err(AddrError::BadName(_))),
                "{bad}: {:?}",
                parse_target(bad, lo)
            );
        }
        assert!(matches!(
            parse_target("db-1", lo),
            Err(AddrError::BadTarget(_))
        ));
        assert!(matches!(
            parse_target("::1:80", lo),
            Err(AddrError::BadTarget(_))
        ));
        assert!(matches!(
            parse_target("db-1:http", lo),
            Err(AddrError::BadPort(_))
        ));
        assert!(!is_host_name(&"a".repeat(64)));
        assert!(is_host_name(&["a"; 127].join(".")));
        assert!(!is_host_name(&["a"; 128].join(".")));
    }

    #[test]
    fn counts_too_large_have_thousands_separators() {
        let e = parse_ips("10.0.0.0/8").unwrap_err().to_string();
        assert!(
            e.contains("expands to 16,777,214 addresses; at most 1,048,576 are allowed"),
            "{e}"
        );
        assert_eq!(big_count(1 << 64), "18,446,744,073,709,551,616");
    }

    #[test]
    fn a_stage_cut_off_a_stages_list_is_named_a_stage() {
        // Trial 5: `--stages 10s:1k 5s:0` blamed "0" as a port.
        let lo = ip("127.0.0.1");
        for text in ["5s:0", "1m30s:20k", "10s:1,000"] {
            assert_eq!(
                parse_target(text, lo),
                Err(AddrError::LooksLikeStage(text.into())),
                "{text}"
            );
            assert_eq!(
                parse_endpoints(text, lo),
                Err(AddrError::LooksLikeStage(text.into())),
                "{text}"
            );
        }
        let said = AddrError::LooksLikeStage("5s:0".into()).to_string();
        assert!(said.contains("--stages 10s:1k,5s:0"), "{said}");
        // A name that reads as a duration is still a name when its port is one.
        assert!(parse_target("1m:80", lo).is_ok());
        assert!(matches!(
            parse_target("db-1:0", lo),
            Err(AddrError::BadPort(_))
        ));
    }

    #[test]
    fn families_pick_each_address_once() {
        let got = [
            ip("10.0.0.5"),
            ip("fd00::5"),
            ip("10.0.0.5"),
            ip("::ffff:10.0.0.6"),
        ];
        assert_eq!(
            Family::Any.pick(&got),
            vec![ip("10.0.0.5"), ip("fd00::5"), ip("10.0.0.6")]
        );
        assert_eq!(Family::V4.pick(&got), vec![ip("10.0.0.5"), ip("10.0.0.6")]);
        assert_eq!(Family::V6.pick(&got), vec![ip("fd00::5")]);
        assert!(Family::V6.pick(&got[..1]).is_empty());
    }

    #[test]
    fn consecutive_skips_network_and_broadcast_octets() {
        let v = consecutive(Ipv4Addr::new(127, 0, 1, 254), 3);
        assert_eq!(v, vec![ip("127.0.1.254"), ip("127.0.2.1"), ip("127.0.2.2")]);
    }
}
