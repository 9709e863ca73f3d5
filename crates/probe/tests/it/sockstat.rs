//! `/proc/net/sockstat` and `sockstat6`, captured with ~870k TCP sockets open.

use crate::util::{check_hostile, check_prefixes, fixture, proc_root};
use c1m_probe::sockstat::{self, Sockstat};

#[test]
fn parses_the_captured_files() {
    let s = Sockstat::parse(&fixture("proc/net/sockstat")).unwrap();
    assert_eq!(s.sockets_used(), Some(872_445));
    assert_eq!(s.tcp_inuse(), Some(872_421));
    assert_eq!(s.tcp_orphan(), Some(0));
    assert_eq!(s.tcp_tw(), Some(99_104));
    assert_eq!(s.tcp_alloc(), Some(872_434));
    assert_eq!(s.tcp_mem_pages(), Some(199));
    assert_eq!(s.tcp_mem_bytes(4096), Some(199 * 4096));
    assert_eq!(s.get("FRAG", "memory"), Some(0));
    let names: Vec<&str> = s.protocols().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["sockets", "TCP", "UDP", "UDPLITE", "RAW", "FRAG"]);

    let s6 = Sockstat::parse(&fixture("proc/net/sockstat6")).unwrap();
    assert_eq!(s6.get("TCP6", "inuse"), Some(6));
    assert_eq!(s6.sockets_used(), None);
}

#[test]
fn reads_from_a_root() {
    let root = proc_root();
    assert_eq!(sockstat::read(&root).unwrap().tcp_alloc(), Some(872_434));
    assert_eq!(
        sockstat::read_v6(&root).unwrap().get("RAW6", "inuse"),
        Some(0)
    );
    let live = sockstat::read(std::path::Path::new("/proc")).unwrap();
    assert!(live.sockets_used().is_some() && live.tcp_alloc().is_some());
}

#[test]
fn refuses_truncated_and_garbage() {
    assert!(Sockstat::parse(&fixture("bad/garbage.bin")).is_err());
    for name in ["proc/net/sockstat", "proc/net/sockstat6"] {
        let good = fixture(name);
        check_prefixes(&good, Sockstat::parse);
        check_hostile(&good, Sockstat::parse);
    }
}
