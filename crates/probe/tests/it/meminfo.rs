//! `/proc/meminfo` and sysctls, on the captured fixtures.

use crate::util::{check_hostile, check_prefixes, fixture, proc_root};
use c1m_probe::meminfo::Meminfo;
use c1m_probe::sysctl;

#[test]
fn parses_the_captured_file() {
    let m = Meminfo::parse(&fixture("proc/meminfo")).unwrap();
    assert_eq!(m.mem_total(), Some(24_684_084 * 1024));
    assert_eq!(m.mem_available(), Some(21_431_992 * 1024));
    assert_eq!(m.slab(), Some(4_275_940 * 1024));
    assert_eq!(m.slab_unreclaimable(), Some(2_693_884 * 1024));
    assert_eq!(m.get("HugePages_Total"), Some(0));
}

#[test]
fn refuses_truncated_and_garbage() {
    assert!(Meminfo::parse(&fixture("bad/meminfo.truncated")).is_err());
    assert!(Meminfo::parse(&fixture("bad/garbage.bin")).is_err());
    let good = fixture("proc/meminfo");
    check_prefixes(&good, Meminfo::parse);
    check_hostile(&good, Meminfo::parse);
}

#[test]
fn sysctls_from_the_fixture_tree() {
    let root = proc_root();
    assert_eq!(
        sysctl::read_numbers(&root, "net.ipv4.ip_local_port_range").unwrap(),
        [32768, 60999]
    );
    assert_eq!(
        sysctl::read_numbers(&root, "net.ipv4.tcp_mem").unwrap(),
        [287_898, 383_867, 575_796]
    );
}
