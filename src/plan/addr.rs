//! Addresses and ports as users write them: `8090-8119`, `127.0.2.1-127.0.2.40`,
//! `127.0.2.0/26`, `127.0.0.1:8090-8119`, `[::1]:80`, lists joined by commas.
//!
//! Pure parsing: no name is resolved (only `localhost` is known, as
//! 127.0.0.1), and no one range or block expands to more than
//! [`MAX_EXPANSION`] addresses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use thiserror::Error;

/// Why an address or port argument was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AddrError {
    /// Not a number from 1 to 65535: the text given.
    #[error("{0:?} is not a port (1-65535)")]
    BadPort(String),
    /// A port range whose first port is above its last.
    #[error("port range {lo}-{hi} is upside down; write {hi}-{lo}")]
    PortsUpsideDown {
        /// The first port written.
        lo: u16,
        /// The last port written (below `lo`).
        hi: u16,
    },
    /// Not an IPv4 or IPv6 address (nor `localhost`): the text given.
    #[error("{0:?} is not an IP address (write e.g. 127.0.0.2 or ::1)")]
    BadIp(String),
    /// An address range `A-B` with `A` above `B`, or one end IPv4 and the
    /// other IPv6: the range as written.
    #[error("address range {0} is upside down or mixes IPv4 and IPv6")]
    IpsUpsideDown(String),
    /// `ADDR/LEN` whose prefix length is not a number or is longer than
    /// the address (32 or 128 bits): the block as written.
    #[error("{0:?} is not a CIDR block (write e.g. 127.0.2.0/24)")]
    BadCidr(String),
    /// A range or block of more than [`MAX_EXPANSION`] addresses.
    #[error("{what} {text:?} expands to {count} addresses; at most {max} are allowed")]
    TooMany {
        /// `"CIDR block"` or `"address range"`.
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
    #[error("empty {0}")]
    Empty(&'static str),
}

/// The most addresses or ports one argument may expand to.
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
    }
    Ok(out)
}

fn split_list<'a>(text: &'a str, what: &'static str) -> Result<Vec<&'a str>, AddrError> {
    let parts: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if parts.is_empty() {
        return Err(AddrError::Empty(what));
    }
    Ok(parts)
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
    }
    Ok(out)
}

/// Parses one target or listen address with ports: `127.0.0.1:8090`,
/// `0.0.0.0:8090-8119`, `[::1]:80`, `localhost:6379`; a bare port or port
/// range means `default_ip`.
pub fn parse_endpoints(text: &str, default_ip: IpAddr) -> Result<Vec<SocketAddr>, AddrError> {
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
    fn consecutive_skips_network_and_broadcast_octets() {
        let v = consecutive(Ipv4Addr::new(127, 0, 1, 254), 3);
        assert_eq!(v, vec![ip("127.0.1.254"), ip("127.0.2.1"), ip("127.0.2.2")]);
    }
}
