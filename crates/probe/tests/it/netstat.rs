//! `/proc/net/netstat` and `/proc/net/snmp`.

use crate::util::{check_hostile, check_prefixes, fixture, proc_root};
use c1m_probe::netstat::{self, ListenCounters, Netstat};

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

/// The `TcpExt` values of a netstat text, by name, read with nothing but
/// `split_whitespace`: an independent reading for the typed struct.
fn tcpext_by_hand(text: &str) -> Vec<(String, u64)> {
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("TcpExt:")).collect();
    let names = lines[0].split_whitespace().skip(1);
    let values = lines[1].split_whitespace().skip(1);
    names
        .zip(values)
        .map(|(n, v)| (n.to_string(), v.parse().unwrap()))
        .collect()
}

#[test]
fn listen_counters_from_the_captured_and_the_live_files() {
    for text in [
        String::from_utf8(fixture("proc/net/netstat")).unwrap(),
        std::fs::read_to_string("/proc/net/netstat").unwrap(),
    ] {
        let by_hand = tcpext_by_hand(&text);
        let want = |k: &str| by_hand.iter().find(|(n, _)| n == k).map_or(0, |&(_, v)| v);
        let c = ListenCounters::from(&Netstat::parse(text.as_bytes()).unwrap());
        let got = serde_json::to_value(c).unwrap();
        let fields = [
            ("syncookies_sent", "SyncookiesSent"),
            ("syncookies_recv", "SyncookiesRecv"),
            ("syncookies_failed", "SyncookiesFailed"),
            ("reqq_full_do_cookies", "TCPReqQFullDoCookies"),
            ("reqq_full_drop", "TCPReqQFullDrop"),
            ("listen_overflows", "ListenOverflows"),
            ("listen_drops", "ListenDrops"),
            ("memory_pressures", "TCPMemoryPressures"),
        ];
        assert_eq!(got.as_object().unwrap().len(), fields.len(), "{got}");
        for (field, key) in fields {
            assert_eq!(got[field], want(key), "{field} ({key})");
        }
        assert_eq!(c.since(&c), ListenCounters::default());
    }
    // The file's `ListenDrops` counts every `ListenOverflows` too.
    let live = ListenCounters::read(std::path::Path::new("/proc")).unwrap();
    assert!(live.listen_drops >= live.listen_overflows);
    assert_eq!(
        ListenCounters::read(&proc_root()).unwrap(),
        ListenCounters::from(&Netstat::parse(&fixture("proc/net/netstat")).unwrap())
    );
}

#[test]
fn listen_counters_missing_keys_and_json() {
    let n =
        Netstat::parse(b"TcpExt: ListenOverflows\nTcpExt: 3\nIpExt: InOctets\nIpExt: 9\n").unwrap();
    let c = ListenCounters::from(&n);
    assert_eq!(
        c,
        ListenCounters {
            listen_overflows: 3,
            ..ListenCounters::default()
        }
    );
    let back: ListenCounters = serde_json::from_str(r#"{"listen_overflows": 3}"#).unwrap();
    assert_eq!(back, c);
    let json = serde_json::to_string(&c).unwrap();
    assert_eq!(
        json,
        r#"{"syncookies_sent":0,"syncookies_recv":0,"syncookies_failed":0,"reqq_full_do_cookies":0,"reqq_full_drop":0,"listen_overflows":3,"listen_drops":0,"memory_pressures":0}"#
    );
    let later = ListenCounters {
        listen_drops: 5,
        ..c
    };
    assert_eq!(later.since(&c).listen_drops, 5);
    assert_eq!(c.since(&later), ListenCounters::default(), "saturating");
}
