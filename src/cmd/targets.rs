//! `connect`'s targets, names resolved: every `HOST:PORTS` argument
//! becomes endpoints, a host name through the system's resolver
//! (getaddrinfo(3), as `getent ahosts NAME` shows: /etc/hosts, DNS, and
//! whatever nsswitch.conf(5) lists), once, before anything starts. Every
//! address of the chosen family is a destination.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use thiserror::Error;

use crate::plan::addr::{self, AddrError, Family, TargetHost};

/// A name and the addresses it resolved to (those of the family used).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The name as written (lower case).
    pub name: String,
    /// Its addresses, each once, in the resolver's order.
    pub addrs: Vec<IpAddr>,
}

/// Every target's endpoints, and what each name resolved to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targets {
    /// Every destination (address, port), each once, in the order written.
    pub endpoints: Vec<SocketAddr>,
    /// The names among the targets, each once, with their addresses.
    pub names: Vec<Resolved>,
}

/// Why a target could not become endpoints.
#[derive(Debug, Error)]
pub enum TargetError {
    /// Not `HOST:PORTS`.
    #[error("target {text}: {err}")]
    Syntax {
        /// The target as written.
        text: String,
        /// What is wrong with it.
        err: AddrError,
    },
    /// The resolver found no address for the name.
    #[error(
        "target {text}: {name} does not resolve: {err}; check the name (`getent ahosts {name}` asks the same resolver)"
    )]
    Unresolved {
        /// The target as written.
        text: String,
        /// The name.
        name: String,
        /// The resolver's error (getaddrinfo's words).
        err: io::Error,
    },
    /// The name has addresses, none of the family asked for.
    #[error("target {text}: {name} has no {family} address (it resolves to {others}); drop {flag}")]
    NoneOfFamily {
        /// The target as written.
        text: String,
        /// The name.
        name: String,
        /// The family asked for.
        family: &'static str,
        /// What it does resolve to.
        others: String,
        /// The flag, or the flag that chose the family (`-4`, `-6`,
        /// `--sources 10.0.0.1`).
        flag: String,
    },
    /// An address of the other family than `-4`/`-6` asks for.
    #[error(
        "target {text} is not an {family} address, which {flag} asks for: give targets and sources of one family, or drop {flag}"
    )]
    WrongFamily {
        /// The target as written.
        text: String,
        /// The family asked for.
        family: &'static str,
        /// `-4`, `-6`, or the sources that chose the family
        /// (`--sources ::1`).
        flag: String,
    },
}

/// The system's resolver: getaddrinfo(3) through std (`AF_UNSPEC`,
/// `SOCK_STREAM`), every address it returns.
pub fn system_resolver(name: &str) -> io::Result<Vec<IpAddr>> {
    Ok((name, 0).to_socket_addrs()?.map(|a| a.ip()).collect())
}

/// The endpoints of `texts`: addresses as written, names resolved by
/// `resolve` (each name once) and narrowed to `family`; a bare port means
/// 127.0.0.1. `flag` names what chose the family, for messages.
/// Duplicate endpoints (a name and an address of it, say) count once.
pub fn resolve(
    texts: &[String],
    family: Family,
    flag: &str,
    resolve: impl Fn(&str) -> io::Result<Vec<IpAddr>>,
) -> Result<Targets, TargetError> {
    let mut out = Targets::default();
    for text in texts {
        let t = addr::parse_target(text, IpAddr::from([127, 0, 0, 1])).map_err(|err| {
            TargetError::Syntax {
                text: text.clone(),
                err,
            }
        })?;
        let ips = match t.host {
            TargetHost::Ip(ip) if family.admits(ip) => vec![ip],
            TargetHost::Ip(_) => {
                return Err(TargetError::WrongFamily {
                    text: text.clone(),
                    family: family.name(),
                    flag: flag.to_string(),
                });
            }
            TargetHost::Name(name) => match out.names.iter().find(|r| r.name == name) {
                Some(r) => r.addrs.clone(),
                None => {
                    let all = resolve(&name).map_err(|err| TargetError::Unresolved {
                        text: text.clone(),
                        name: name.clone(),
                        err,
                    })?;
                    let addrs = family.pick(&all);
                    if addrs.is_empty() {
                        return Err(match all.is_empty() {
                            true => TargetError::Unresolved {
                                text: text.clone(),
                                name,
                                err: io::Error::other("the resolver returned no address"),
                            },
                            false => TargetError::NoneOfFamily {
                                text: text.clone(),
                                name,
                                family: family.name(),
                                others: list(&Family::Any.pick(&all)),
                                flag: flag.to_string(),
                            },
                        });
                    }
                    out.names.push(Resolved {
                        name,
                        addrs: addrs.clone(),
                    });
                    addrs
                }
            },
        };
        for ip in ips {
            for &p in &t.ports {
                let e = SocketAddr::new(ip, p);
                if !out.endpoints.contains(&e) {
                    out.endpoints.push(e);
                }
            }
        }
    }
    Ok(out)
}

/// Addresses joined by `, `.
pub fn list(ips: &[IpAddr]) -> String {
    ips.iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The family of a set of source addresses: IPv4 when all are, IPv6 when
/// all are, else either (an IPv4 source cannot reach an IPv6 address).
pub fn family_of_sources(sources: &[IpAddr]) -> Family {
    if sources.is_empty() {
        Family::Any
    } else if sources.iter().all(IpAddr::is_ipv4) {
        Family::V4
    } else if sources.iter().all(IpAddr::is_ipv6) {
        Family::V6
    } else {
        Family::Any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// A resolver that knows two names and counts its calls.
    fn fake(calls: &std::cell::Cell<u32>) -> impl Fn(&str) -> io::Result<Vec<IpAddr>> + '_ {
        move |name| {
            calls.set(calls.get() + 1);
            match name {
                "db-1" => Ok(vec![ip("10.0.0.5"), ip("fd00::5"), ip("10.0.0.5")]),
                "v4only" => Ok(vec![ip("10.0.0.7")]),
                _ => Err(io::Error::other("Name or service not known")),
            }
        }
    }

    fn texts(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_address_of_a_name_is_a_destination_resolved_once() {
        let calls = std::cell::Cell::new(0);
        let t = resolve(
            &texts(&["db-1:6379-6380", "DB-1:6381", "10.0.0.5:6379", "[::1]:80"]),
            Family::Any,
            "-4",
            fake(&calls),
        )
        .unwrap();
        assert_eq!(calls.get(), 1, "one look-up per name");
        let want: Vec<SocketAddr> = [
            "10.0.0.5:6379",
            "10.0.0.5:6380",
            "[fd00::5]:6379",
            "[fd00::5]:6380",
            "10.0.0.5:6381",
            "[fd00::5]:6381",
            "[::1]:80",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        assert_eq!(t.endpoints, want, "a duplicate endpoint counts once");
        assert_eq!(
            t.names,
            vec![Resolved {
                name: "db-1".into(),
                addrs: vec![ip("10.0.0.5"), ip("fd00::5")]
            }]
        );
    }

    #[test]
    fn the_family_narrows_names_and_refuses_literals_of_the_other() {
        let calls = std::cell::Cell::new(0);
        let t = resolve(&texts(&["db-1:80"]), Family::V6, "-6", fake(&calls)).unwrap();
        assert_eq!(t.endpoints, vec!["[fd00::5]:80".parse().unwrap()]);
        let e = resolve(&texts(&["v4only:80"]), Family::V6, "-6", fake(&calls)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "target v4only:80: v4only has no IPv6 address (it resolves to 10.0.0.7); drop -6"
        );
        let e = resolve(&texts(&["[::1]:80"]), Family::V4, "-4", fake(&calls)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "target [::1]:80 is not an IPv4 address, which -4 asks for: give targets and sources of one family, or drop -4"
        );
    }

    #[test]
    fn a_name_that_does_not_resolve_is_named_with_the_resolvers_words() {
        let calls = std::cell::Cell::new(0);
        let e = resolve(
            &texts(&["127.0.0.1:80", "nowhere.invalid:80"]),
            Family::Any,
            "-4",
            fake(&calls),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "target nowhere.invalid:80: nowhere.invalid does not resolve: Name or service not known; check the name (`getent ahosts nowhere.invalid` asks the same resolver)"
        );
        let e = resolve(&texts(&["db 1:80"]), Family::Any, "-4", fake(&calls)).unwrap_err();
        assert!(
            e.to_string()
                .contains("neither an IP address nor a host name")
        );
    }

    #[test]
    fn sources_choose_a_family() {
        assert_eq!(family_of_sources(&[]), Family::Any);
        assert_eq!(family_of_sources(&[ip("127.0.3.1")]), Family::V4);
        assert_eq!(family_of_sources(&[ip("::1")]), Family::V6);
        assert_eq!(
            family_of_sources(&[ip("::1"), ip("127.0.0.1")]),
            Family::Any
        );
    }
}
