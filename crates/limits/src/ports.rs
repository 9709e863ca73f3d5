//! The local port range as `connect()` uses it: where a (source,
//! destination) pair's `connect()` slows down, and which listen ports an
//! outgoing connection's ephemeral port can take.
//!
//! Pure: the range, the reserved ports and the listen ports come in as
//! values, read by [`Facts`] or by the caller. Sources: `__inet_hash_connect`
//! in the kernel's `net/ipv4/inet_hashtables.c`, and
//! `Documentation/networking/ip-sysctl.rst` (`ip_local_port_range`,
//! `ip_local_reserved_ports`). The parsers of both sysctls are
//! [`parse::port_range`](crate::parse::port_range) and
//! [`parse::reserved_ports`](crate::parse::reserved_ports).

use crate::facts::Facts;
use crate::num::{plural, thousands};

/// Connections one (source, destination) pair may carry before `connect()`
/// slows down sharply: half of `usable_ports` (the local port range less
/// the reserved ports), rounded down, at least 1.
///
/// Linux (4.6+, `__inet_hash_connect`) tries ports of one parity first and
/// leaves the other half for `bind()`; once a pair has used that half, every
/// further `connect()` scans the whole used half before it finds a port.
/// `bench/family.sh` measured 25,408 connections in one pair 41× slower
/// than the same number spread so that no pair passed half the range
/// (`bench/results/family.md`). The planner keeps every pair at or under
/// this number and the doctor reports it, both through this function.
pub fn pair_budget(usable_ports: u64) -> u64 {
    (usable_ports / 2).max(1)
}

/// The words for [`pair_budget`], the same in the doctor and the planner:
/// `"past 14,116 connections per (source, destination) pair (half of
/// 28,232 usable local ports) connect() slows down sharply: the kernel
/// scans ports of one parity first (41× slower in bench/family.sh)"`.
pub fn pair_budget_note(usable_ports: u64) -> String {
    format!(
        "past {} per (source, destination) pair (half of {}) connect() slows down sharply: \
         the kernel scans ports of one parity first (41× slower in bench/family.sh)",
        plural(pair_budget(usable_ports), "connection", "connections"),
        plural(usable_ports, "usable local port", "usable local ports"),
    )
}

/// Inclusive port ranges `(lo, hi)` sorted, with overlapping and adjacent
/// ones merged: the shape the kernel keeps `ip_local_reserved_ports` in.
pub fn merge_ranges(ranges: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut sorted: Vec<(u64, u64)> = ranges.iter().copied().filter(|(a, b)| a <= b).collect();
    sorted.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(sorted.len());
    for (a, b) in sorted {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Ranges as `ip_local_reserved_ports` prints them and `sysctl -w` takes
/// them: `8080,9000-9009`; empty for none. Merge them first
/// ([`merge_ranges`]) to get exactly what the kernel prints back.
pub fn format_ranges(ranges: &[(u64, u64)]) -> String {
    ranges
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The ports of `listen` inside `range` (`ip_local_port_range`, inclusive)
/// and not in `reserved` (`ip_local_reserved_ports`), grouped into merged
/// ranges. Port 0 (an ephemeral listen port) is never counted.
pub fn exposed_listen_ports(
    range: (u64, u64),
    reserved: &[(u64, u64)],
    listen: &[u16],
) -> Vec<(u64, u64)> {
    let reserved = merge_ranges(reserved);
    let exposed: Vec<(u64, u64)> = listen
        .iter()
        .map(|&p| u64::from(p))
        .filter(|&p| p != 0 && (range.0..=range.1).contains(&p))
        .filter(|&p| !reserved.iter().any(|&(a, b)| (a..=b).contains(&p)))
        .map(|p| (p, p))
        .collect();
    merge_ranges(&exposed)
}

/// One line warning about every listen port an outgoing connection's
/// ephemeral port can take, or `None` when there is none: the ports of
/// `listen` inside `range` (`net.ipv4.ip_local_port_range`) and not in
/// `reserved` (`net.ipv4.ip_local_reserved_ports`), grouped into ranges,
/// with the `sysctl -w` that reserves them merged with what is reserved
/// already (the sysctl replaces the whole list).
///
/// `connect()` skips a port some socket has bound, so the danger is while
/// nothing is: before the server starts, or while it restarts. For the
/// commands to call before they listen, and for the doctor on the ports
/// listening now.
pub fn listen_ports_warning(
    range: (u64, u64),
    reserved: &[(u64, u64)],
    listen: &[u16],
) -> Option<String> {
    let exposed = exposed_listen_ports(range, reserved, listen);
    if exposed.is_empty() {
        return None;
    }
    let count: u64 = exposed.iter().map(|(a, b)| b - a + 1).sum();
    let (verb, them) = if count == 1 {
        ("is", "it")
    } else {
        ("are", "them")
    };
    let mut all = reserved.to_vec();
    all.extend_from_slice(&exposed);
    Some(format!(
        "{} ({}) {verb} inside net.ipv4.ip_local_port_range {}-{} and not reserved: an outgoing connection's \
         ephemeral port can take {them} whenever nothing is bound to {them} (before the server starts, or while it \
         restarts): the listen then fails with EADDRINUSE, or a client of this machine connects to itself; \
         reserve {them}: sysctl -w net.ipv4.ip_local_reserved_ports={}",
        plural(count, "listen port", "listen ports"),
        format_ranges(&exposed).replace(',', ", "),
        range.0,
        range.1,
        format_ranges(&merge_ranges(&all))
    ))
}

/// [`listen_ports_warning`] on the range and reserved ports `facts` read;
/// `None` also when the range is unreadable (an unreadable reserved list
/// counts as empty).
pub fn listen_ports_warning_for(facts: &Facts, listen: &[u16]) -> Option<String> {
    let range = facts.port_range.get()?;
    let reserved = facts.reserved_ports.value().cloned().unwrap_or_default();
    listen_ports_warning(range, &reserved, listen)
}

/// `(source, destination)` pairs `conns` connections need at `usable_ports`
/// each, and to stay within [`pair_budget`]: `(at least, to keep connect()
/// fast)`.
pub fn pairs_needed(conns: u64, usable_ports: u64) -> (u64, u64) {
    (
        conns.div_ceil(usable_ports.max(1)),
        conns.div_ceil(pair_budget(usable_ports)),
    )
}

/// `"1 (source, destination) pair"` / `"36 (source, destination) pairs"`.
pub fn pairs(n: u64) -> String {
    plural(
        n,
        "(source, destination) pair",
        "(source, destination) pairs",
    )
}

/// `a × b = c` for the report, each with its noun: `"28,232 ports × 2
/// source addresses × 1 destination = 56,464"`.
pub fn tuple_arithmetic(usable_ports: u64, sources: u64, destinations: u64) -> String {
    let capacity = usable_ports
        .saturating_mul(sources)
        .saturating_mul(destinations);
    format!(
        "{} × {} × {} = {}",
        plural(usable_ports, "port", "ports"),
        plural(sources, "source address", "source addresses"),
        plural(destinations, "destination", "destinations"),
        thousands(capacity)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_half_the_usable_ports() {
        assert_eq!(pair_budget(28_232), 14_116);
        assert_eq!(pair_budget(64_512), 32_256);
        assert_eq!(pair_budget(999), 499);
        assert_eq!(pair_budget(1), 1);
        assert_eq!(pair_budget(0), 1);
        assert!(pair_budget_note(28_232).starts_with(
            "past 14,116 connections per (source, destination) pair (half of 28,232 usable local ports)"
        ));
        assert_eq!(pairs_needed(1_000_000, 28_232), (36, 71));
    }

    #[test]
    fn ranges_merge_and_print_as_the_kernel_does() {
        assert_eq!(
            merge_ranges(&[
                (9000, 9009),
                (8080, 8080),
                (9010, 9012),
                (9005, 9006),
                (7, 3)
            ]),
            [(8080, 8080), (9000, 9012)]
        );
        assert_eq!(
            format_ranges(&[(8080, 8080), (9000, 9012)]),
            "8080,9000-9012"
        );
        assert_eq!(format_ranges(&[]), "");
        assert_eq!(
            merge_ranges(&[(65535, 65535), (65534, 65535)]),
            [(65534, 65535)]
        );
    }

    #[test]
    fn listen_ports_in_the_range_and_not_reserved_are_named_in_one_line() {
        let range = (32768, 60999);
        // 8090 is below the range, 40001 is reserved, 0 is ephemeral.
        let listen = [8090, 40000, 40001, 40002, 40003, 45000, 0, 40000];
        let w = listen_ports_warning(range, &[(40001, 40001), (50000, 50009)], &listen).unwrap();
        assert_eq!(
            w,
            "4 listen ports (40000, 40002-40003, 45000) are inside net.ipv4.ip_local_port_range 32768-60999 and \
             not reserved: an outgoing connection's ephemeral port can take them whenever nothing is bound to them \
             (before the server starts, or while it restarts): the listen then fails with EADDRINUSE, or a client \
             of this machine connects to itself; reserve them: \
             sysctl -w net.ipv4.ip_local_reserved_ports=40000-40003,45000,50000-50009"
        );
        assert!(!w.contains('\n'));
        let one = listen_ports_warning(range, &[], &[32768]).unwrap();
        assert!(one.starts_with("1 listen port (32768) is inside"), "{one}");
        assert!(one.ends_with("reserve it: sysctl -w net.ipv4.ip_local_reserved_ports=32768"));
        assert_eq!(listen_ports_warning(range, &[], &[80, 8080, 61000]), None);
        assert_eq!(
            listen_ports_warning(range, &[(32768, 60999)], &[40000]),
            None
        );
    }

    #[test]
    fn the_warning_from_facts_uses_what_they_read() {
        use crate::facts::Reading;
        let mut f = Facts::sample();
        f.reserved_ports = Reading::Value(vec![(40001, 40010)]);
        let w = listen_ports_warning_for(&f, &[40000, 40001]).unwrap();
        assert!(w.starts_with(
            "1 listen port (40000) is inside net.ipv4.ip_local_port_range 32768-60999"
        ));
        assert!(w.ends_with("ip_local_reserved_ports=40000-40010"), "{w}");
        f.reserved_ports = Reading::Unreadable("missing".into());
        assert!(
            listen_ports_warning_for(&f, &[40001]).is_some(),
            "unreadable counts as none reserved"
        );
        f.port_range = Reading::Unreadable("missing".into());
        assert_eq!(listen_ports_warning_for(&f, &[40000]), None);
    }

    #[test]
    fn the_arithmetic_names_each_factor() {
        assert_eq!(
            tuple_arithmetic(28_232, 2, 1),
            "28,232 ports × 2 source addresses × 1 destination = 56,464"
        );
        assert_eq!(pairs(1), "1 (source, destination) pair");
    }
}
