//! `/proc/net/netstat` and `/proc/net/snmp`.

mod util;

use c1m_probe::netstat::{self, Netstat};
use util::{check_hostile, check_prefixes, fixture, proc_root};

#[test]
fn parses_the_captured_files() {
    let n = Netstat::parse(&fixture("proc/net/netstat")).unwrap();
    let names: Vec<&str> = n.sections().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["TcpExt", "IpExt", "MPTcpExt"]);
    assert_eq!(n.get("TcpExt", "ListenOverflows"), Some(0));
    assert_eq!(n.get("TcpExt", "ListenDrops"), Some(0));
    assert_eq!(n.get("TcpExt", "TCPMemoryPressures"), Some(0));
    assert_eq!(n.get("TcpExt", "TW"), Some(230_184));
    assert_eq!(n.sections()[0].values.len(), 135);

    let s = Netstat::parse(&fixture("proc/net/snmp")).unwrap();
    assert_eq!(s.get_i64("Tcp", "MaxConn"), Some(-1));
    assert_eq!(s.get("Tcp", "MaxConn"), None);
    assert_eq!(s.get("Tcp", "RtoMax"), Some(120_000));
    assert_eq!(s.get("Tcp", "ActiveOpens"), Some(1_174_300));
    assert_eq!(s.get("Tcp", "CurrEstab"), Some(872_330));
}

#[test]
fn reads_both_files_from_a_root() {
    let n = netstat::read(&proc_root()).unwrap();
    assert_eq!(n.get("TcpExt", "TW"), Some(230_184));
    assert_eq!(n.get("Tcp", "CurrEstab"), Some(872_330));
    let live = netstat::read(std::path::Path::new("/proc")).unwrap();
    assert!(live.get("TcpExt", "ListenOverflows").is_some());
    assert!(live.get("Tcp", "CurrEstab").is_some());
}

#[test]
fn refuses_truncated_and_garbage() {
    assert!(Netstat::parse(&fixture("bad/netstat.truncated")).is_err());
    assert!(Netstat::parse(&fixture("bad/garbage.bin")).is_err());
    for name in ["proc/net/netstat", "proc/net/snmp"] {
        let good = fixture(name);
        check_prefixes(&good, Netstat::parse);
        check_hostile(&good, Netstat::parse);
    }
}
