//! The screen, line for line, for hand-made views.

use super::*;
use crate::stat::fixtures::{PAGE, busy, diag, ms, quick, setup, slab};
use crate::stat::view::{SlabReading, Tracker};

fn text(lines: &[Line]) -> String {
    lines.iter().map(|l| format!("{}\n", l.text)).collect()
}

#[test]
fn the_whole_screen() {
    let expected = "\
c1m stat: TCP on port 8970 (local or remote), IPv4+IPv6; refresh 2 every 1s, 2.0 s since start

SOCKETS BY STATE  netlink sock_diag, 1.0 s old, the count took 2.0 ms
  ESTABLISHED      6,000  +2,000/s    FIN_WAIT1            0  CLOSE_WAIT           0
  SYN_SENT             0              FIN_WAIT2            0  LAST_ACK             0
  SYN_RECV             2              TIME_WAIT            0  CLOSING              0
  LISTEN               1              CLOSE                0  total            6,003
  top local ports: 8970 3,003, 40001 1, 40003 1 (of 3,001 ports)

TCP TOTALS  every port, this refresh (/proc/net/snmp, sockstat)
  CurrEstab 7,000 (+3,000/s; ESTABLISHED + CLOSE_WAIT, every port)
  inuse 13,800 (TCP6 1)  orphan 0  tw 2  alloc 13,800  mem 12.0 KiB (3 pages)
  ListenOverflows 10 (+5 since start, +2.5/s)  ListenDrops 10 (+5 since start, +2.5/s)
  TCPMemoryPressures 0 (+0 since start, 0/s)

MEMORY  /proc/meminfo (change since start)
  MemAvailable 876.0 MiB (-2.9 MiB)  Slab 2.0 MiB (0 B)  SUnreclaim 1000.0 KiB (0 B)

SLAB CACHES  /proc/slabinfo, change over 2.0 s since start, read 0.0 s ago; TCP sockets +12,800
  cache                        objects     change       bytes      change   per socket
  TCP                           14,400    +12,800    28.1 MiB   +25.0 MiB      2,048 B
  proc_inode_cache               1,600       +800   800.0 KiB  +400.0 KiB  (a /proc scanner's cache, not the sockets')
  all caches                                                    +25.4 MiB      2,048 B (less /proc-scanner caches)
";
    let lines = render(&busy());
    assert_eq!(text(&lines), expected);
    let styles: Vec<Style> = lines
        .iter()
        .filter(|l| l.style != Style::Body)
        .map(|l| l.style)
        .collect();
    use Style::*;
    assert_eq!(styles, [Title, Heading, Heading, Heading, Heading]);
}

#[test]
fn plain_text_is_plain() {
    for line in render(&busy()) {
        assert!(
            line.text.bytes().all(|b| (b' '..=b'~').contains(&b)),
            "{:?}",
            line.text
        );
    }
}

#[test]
fn without_root_the_slab_section_says_so() {
    let mut t = Tracker::new(setup(), PAGE);
    t.add_diag(diag(0, 2));
    t.add_slab(SlabReading {
        at: ms(0),
        slab: Err("reading /proc/slabinfo needs root (permission denied)".into()),
        tcp_alloc: Some(2),
    });
    let out = text(&render(&t.refresh(quick(0, 2, 0, 2, 1))));
    let slab = &out[out.find("SLAB CACHES").unwrap()..];
    assert_eq!(
        slab,
        "SLAB CACHES  /proc/slabinfo\n  \
         unavailable: reading /proc/slabinfo needs root (permission denied)\n"
    );
}

#[test]
fn missing_figures_read_n_a_not_zero() {
    let mut t = Tracker::new(setup(), PAGE);
    let mut q = quick(0, 0, 0, 0, 1);
    q.netstat = Err("reading /proc/net/snmp: gone".into());
    let out = text(&render(&t.refresh(q)));
    assert!(
        out.contains("counting (the first netlink dump is under way)"),
        "{out}"
    );
    assert!(
        out.contains("  unavailable: reading /proc/net/snmp: gone\n"),
        "{out}"
    );
    assert!(out.contains("CurrEstab n/a (rate n/a;"), "{out}");
    assert!(
        out.contains("ListenOverflows n/a (+n/a since start, rate n/a)"),
        "{out}"
    );
    assert!(
        out.contains("SLAB CACHES  /proc/slabinfo\n  not read yet\n"),
        "{out}"
    );
}

#[test]
fn a_quiet_machine_and_few_sockets() {
    let mut t = Tracker::new(setup(), PAGE);
    t.add_slab(slab(0, 16, 8, 100));
    let out = text(&render(&t.refresh(quick(0, 0, 0, 100, 1))));
    assert!(out.contains("  no cache changed since start\n"), "{out}");
    t.add_slab(slab(1_000, 32, 8, 116));
    let out = text(&render(&t.refresh(quick(1_000, 0, 0, 116, 1))));
    assert!(out.contains("TCP sockets +16\n"), "{out}");
    assert!(
        out.contains("  per-socket figures once TCP sockets grow by 10,000 since start\n"),
        "{out}"
    );
}

#[test]
fn numbers() {
    assert_eq!(signed(-1_234), "-1,234");
    assert_eq!(signed(0), "0");
    assert_eq!(per_s(Some(0.25)), "+0.2/s");
    assert_eq!(per_s(Some(-12_345.4)), "-12,345/s");
    assert_eq!(per_s(None), "rate n/a");
    assert_eq!(size_delta(-512), "-512 B");
    assert_eq!(took(1.7), "1.70 s");
    assert_eq!(per_socket(-2_389.6), "-2,390 B");
}
