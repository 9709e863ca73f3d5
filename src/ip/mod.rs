//! `c1m ip add|del|check`: source addresses for the client fleet, added to
//! an interface over rtnetlink and marked as c1m's so that `del` removes
//! only what c1m added.
//!
//! **The mark.** Every address c1m adds carries `IFA_PROTO` =
//! [`C1M_PROTO`] (Linux 6.1+, IPv4 and IPv6; `ip addr` shows it as
//! `proto 0xc1`), and IPv4 ones also the label `IFACE:c1m` when that fits
//! the kernel's 15-byte `IFA_LABEL` (interface names of up to 11 bytes;
//! `ip addr` shows the label at the end of the line). An address is c1m's
//! if it has either mark. Nothing else is ever deleted.
//!
//! Addresses are added as /32 (IPv4) or /128 (IPv6) unless `--prefix-len`
//! says otherwise, so adding them creates no route: they are reached
//! through the interface's own network. An address that the namespace has
//! already, on any interface, is refused; c1m does not probe the segment
//! (ARP) for other hosts using it.
//!
//! Everything works on the network namespace of the calling thread, or of
//! `--netns NAME` (run through [`c1m_sys::netns::run_in`]).

pub mod rtnl;

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use c1m_sys::poll::{Interest, Poller};
use c1m_sys::socket;

use crate::plan::addr::{parse_endpoints, parse_ips};
use rtnl::{Addr, Rtnl};

/// The `IFA_PROTO` value that marks an address as c1m's.
pub const C1M_PROTO: u8 = 0xc1;

/// The suffix of the `IFA_LABEL` of c1m's IPv4 addresses.
pub const LABEL_SUFFIX: &str = ":c1m";

/// The kernel's limit on an `IFA_LABEL`, terminating NUL excluded.
const LABEL_MAX: usize = 15;

/// The label c1m gives its IPv4 addresses on `iface`, if it fits.
pub fn label_for(iface: &str) -> Option<String> {
    (iface.len() + LABEL_SUFFIX.len() <= LABEL_MAX).then(|| format!("{iface}{LABEL_SUFFIX}"))
}

/// Whether an address carries c1m's mark.
pub fn is_c1m(a: &Addr) -> bool {
    a.proto == Some(C1M_PROTO)
        || a.label
            .as_deref()
            .is_some_and(|l| l.ends_with(LABEL_SUFFIX))
}

/// Parses an address argument, refusing one that names an address twice
/// (overlapping CIDRs or ranges).
pub fn parse_distinct(text: &str) -> Result<Vec<IpAddr>> {
    let ips = parse_ips(text)?;
    let mut seen = HashSet::with_capacity(ips.len());
    for ip in &ips {
        if !seen.insert(*ip) {
            bail!(
                "{text:?} names {ip} more than once (overlapping blocks or ranges); name each once"
            );
        }
    }
    Ok(ips)
}

/// Parses the `--target` of `c1m ip check`: exactly one `ADDRESS:PORT` (a
/// bare port means 127.0.0.1). Fails on a malformed address or port, or on
/// a port range or list that names more than one endpoint.
pub fn parse_target(text: &str) -> Result<SocketAddr> {
    let eps = parse_endpoints(text, IpAddr::from([127, 0, 0, 1]))?;
    match eps.as_slice() {
        [one] => Ok(*one),
        _ => bail!("--target {text:?} must be one ADDRESS:PORT"),
    }
}

fn find_link(nl: &mut Rtnl, iface: &str) -> Result<u32> {
    match nl.link(iface)? {
        Some(l) => Ok(l.index),
        None => {
            let names: Vec<String> = nl.links()?.into_iter().map(|l| l.name).collect();
            bail!(
                "no interface {iface:?} in this network namespace; name one of those there are: {}",
                names.join(", ")
            )
        }
    }
}

/// Every address of `iface`, c1m's or not. Fails if the namespace has no
/// such interface (the message names those it has) or rtnetlink fails.
pub fn list(iface: &str) -> Result<Vec<Addr>> {
    let mut nl = Rtnl::open()?;
    let index = find_link(&mut nl, iface)?;
    Ok(nl
        .addresses()?
        .into_iter()
        .filter(|a| a.index == index)
        .collect())
}

/// The c1m-marked addresses of `iface`, for `connect --source-from IFACE`.
pub fn c1m_addresses(iface: &str) -> Result<Vec<IpAddr>> {
    Ok(list(iface)?
        .into_iter()
        .filter(is_c1m)
        .map(|a| a.ip)
        .collect())
}

/// Adds `ips` to `iface` with c1m's mark, all or none: refuses if any of
/// them is on any interface of the namespace already, and removes those it
/// added if one fails. Returns the addresses added. Also refuses an empty
/// list, a loopback, unspecified or multicast address, and a prefix length
/// of 0 or longer than the address.
pub fn add(iface: &str, ips: &[IpAddr], prefix_len: Option<u8>) -> Result<Vec<IpAddr>> {
    if ips.is_empty() {
        bail!("no addresses to add");
    }
    for ip in ips {
        if ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() {
            bail!(
                "{ip} cannot be a source address on {iface}: give unicast addresses (e.g. 198.18.1.1)"
            );
        }
        let bits = if ip.is_ipv4() { 32 } else { 128 };
        if let Some(p) = prefix_len.filter(|p| *p > bits || *p == 0) {
            bail!("--prefix-len {p} does not fit {ip}: give 1-{bits} for it");
        }
    }
    let mut nl = Rtnl::open()?;
    let index = find_link(&mut nl, iface)?;
    let names: std::collections::HashMap<u32, String> =
        nl.links()?.into_iter().map(|l| (l.index, l.name)).collect();
    let present: std::collections::HashMap<IpAddr, u32> = nl
        .addresses()?
        .into_iter()
        .map(|a| (a.ip, a.index))
        .collect();
    for ip in ips {
        if let Some(on) = present.get(ip) {
            let on = names.get(on).map_or("?", String::as_str);
            bail!("{ip} is already in use on {on}; nothing was added");
        }
    }
    let label = label_for(iface);
    let mut added: Vec<(IpAddr, u8)> = Vec::with_capacity(ips.len());
    for ip in ips {
        let len = prefix_len.unwrap_or(if ip.is_ipv4() { 32 } else { 128 });
        if let Err(e) = nl.add_address(index, *ip, len, label.as_deref(), Some(C1M_PROTO)) {
            for (done, l) in added.iter().rev() {
                let _ = nl.del_address(index, *done, *l);
            }
            return Err(e).with_context(|| {
                format!(
                    "adding {ip}/{len} to {iface} (the {} added before it were removed again)",
                    added.len()
                )
            });
        }
        added.push((*ip, len));
    }
    Ok(added.into_iter().map(|(ip, _)| ip).collect())
}

/// Removes c1m's addresses from `iface`: all of them, or only those in
/// `only` (each of which must be a c1m address of `iface`, else nothing is
/// removed). Returns the addresses removed; a removal the kernel refuses
/// stops there, with the earlier ones done.
pub fn del(iface: &str, only: Option<&[IpAddr]>) -> Result<Vec<IpAddr>> {
    let mut nl = Rtnl::open()?;
    let index = find_link(&mut nl, iface)?;
    let here: Vec<Addr> = nl
        .addresses()?
        .into_iter()
        .filter(|a| a.index == index)
        .collect();
    let targets: Vec<&Addr> = match only {
        None => here.iter().filter(|a| is_c1m(a)).collect(),
        Some(ips) => {
            let mut v = Vec::with_capacity(ips.len());
            for ip in ips {
                match here.iter().find(|a| a.ip == *ip) {
                    Some(a) if is_c1m(a) => v.push(a),
                    Some(a) => bail!(
                        "{ip} on {iface} was not added by c1m (it has neither of c1m's marks, proto 0x{C1M_PROTO:x} \
                         or a label ending {LABEL_SUFFIX}): nothing was removed; if it is yours to remove, \
                         `ip addr del {ip}/{} dev {iface}` does it",
                        a.prefix_len
                    ),
                    None => bail!("{iface} has no address {ip}; nothing was removed"),
                }
            }
            v
        }
    };
    let mut removed = Vec::with_capacity(targets.len());
    for a in targets {
        nl.del_address(index, a.ip, a.prefix_len)
            .with_context(|| format!("removing {}/{} from {iface}", a.ip, a.prefix_len))?;
        removed.push(a.ip);
    }
    Ok(removed)
}

/// For each c1m address of `iface`: bind a TCP socket to it, connect to
/// `target` within `timeout`, close with a reset (no TIME_WAIT left).
pub fn check(
    iface: &str,
    target: SocketAddr,
    timeout: Duration,
) -> Result<Vec<(IpAddr, Result<(), String>)>> {
    let ips = c1m_addresses(iface)?;
    Ok(ips
        .into_iter()
        .map(|ip| (ip, connect_from(ip, target, timeout)))
        .collect())
}

/// One blocking-in-effect connect from `source` to `target`.
pub fn connect_from(source: IpAddr, target: SocketAddr, timeout: Duration) -> Result<(), String> {
    let fd = socket::tcp(target.ip()).map_err(|e| format!("socket: {e}"))?;
    socket::bind_source(&fd, source, socket::BindMode::Plain)
        .map_err(|e| format!("bind to {source}: {e}"))?;
    let _ = socket::set_linger_zero(&fd);
    if socket::connect(&fd, target).map_err(|e| format!("connect: {e}"))?
        == socket::Connect::InProgress
    {
        let mut poller = Poller::new(1).map_err(|e| format!("epoll: {e}"))?;
        poller
            .add(&fd, 0, Interest::OUT)
            .map_err(|e| format!("epoll: {e}"))?;
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!(
                    "no answer within {}",
                    humantime::format_duration(timeout)
                ));
            }
            let ready = poller
                .wait(left)
                .map_err(|e| format!("epoll: {e}"))?
                .next()
                .is_some();
            if ready {
                break;
            }
        }
    }
    socket::take_error(&fd).map_err(|e| format!("connect: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_fit_the_kernel_limit() {
        assert_eq!(label_for("eth0").as_deref(), Some("eth0:c1m"));
        assert_eq!(label_for("c1m-eth0").as_deref(), Some("c1m-eth0:c1m"));
        assert_eq!(label_for("enp0s31f6abc").as_deref(), None);
        assert_eq!(label_for("enp0s31f6ab").unwrap().len(), 15);
    }

    #[test]
    fn the_mark() {
        let a = Addr {
            index: 2,
            ip: "198.18.1.1".parse().unwrap(),
            prefix_len: 32,
            label: None,
            proto: None,
        };
        assert!(!is_c1m(&a));
        assert!(is_c1m(&Addr {
            proto: Some(C1M_PROTO),
            ..a.clone()
        }));
        assert!(is_c1m(&Addr {
            label: Some("eth0:c1m".into()),
            ..a.clone()
        }));
        assert!(!is_c1m(&Addr {
            label: Some("eth0".into()),
            proto: Some(0),
            ..a
        }));
    }

    #[test]
    fn overlapping_input_is_refused() {
        let e = parse_distinct("198.18.1.0/30,198.18.1.2").unwrap_err();
        assert!(e.to_string().contains("198.18.1.2 more than once"), "{e}");
        assert_eq!(parse_distinct("198.18.1.0/30").unwrap().len(), 2);
        assert!(parse_distinct("198.18.1.1-198.18.1.3,198.18.1.2/31").is_err());
    }
}
