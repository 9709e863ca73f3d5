//! The smaller truths of issue 9, end to end: warnings a user needs
//! before a run goes wrong, printed by the real binary.

use crate::util::root::ensure_sysctl;
use crate::util::{run, text};

/// A port inside `net.ipv4.ip_local_port_range` and not reserved.
fn port_in_local_range() -> u16 {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
    let mut it = text.split_whitespace().map(|t| t.parse::<u16>().unwrap());
    let (lo, hi) = (it.next().unwrap(), it.next().unwrap());
    let reserved = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_reserved_ports").unwrap();
    (lo..=hi)
        .rev()
        .find(|p| !reserved.split(',').any(|r| r.trim() == p.to_string()))
        .expect("a free port in the local range")
}

#[test]
fn serving_on_an_ephemeral_port_warns_with_the_fix() {
    let _g = crate::util::heavy();
    let port = port_in_local_range();
    let listen = format!("127.0.9.94:{port}");
    let out = run(&[
        "serve",
        "--listen",
        &listen,
        "--max-conns",
        "10",
        "--hold",
        "0s",
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let line = err
        .lines()
        .find(|l| l.contains("warning") && l.contains(&port.to_string()))
        .unwrap_or_else(|| panic!("no warning for port {port}:\n{err}"));
    assert!(line.contains("ip_local_reserved_ports"), "{line}");
    assert!(line.contains("sysctl -w"), "{line}");
}

#[test]
fn closing_more_with_fin_than_time_wait_holds_warns() {
    let Some(_tw) = ensure_sysctl("/proc/sys/net/ipv4/tcp_max_tw_buckets", "50") else {
        return;
    };
    let _g = crate::util::heavy();
    let out = run(&[
        "run",
        "-n",
        "100",
        "--close",
        "fin",
        "--hold",
        "0s",
        "--dests",
        "127.0.9.95",
        "--ports",
        "18952",
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}\n{}", text(&out.stdout));
    assert!(
        err.lines()
            .any(|l| l.contains("warning") && l.contains("tcp_max_tw_buckets")),
        "{err}"
    );
    // RST closes keep no TIME_WAIT: no warning then.
    let out = run(&[
        "run",
        "-n",
        "100",
        "--hold",
        "0s",
        "--dests",
        "127.0.9.95",
        "--ports",
        "18953",
    ]);
    assert!(
        !text(&out.stderr).contains("tcp_max_tw_buckets"),
        "{}",
        text(&out.stderr)
    );
}
