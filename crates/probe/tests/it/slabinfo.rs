//! `/proc/slabinfo`: the captured file (~870k TCP sockets open) and a live
//! diff around opening loopback connections.

use std::net::{TcpListener, TcpStream};
use std::path::Path;

use crate::util::root::{is_root, needs_root};
use crate::util::{check_hostile, check_prefixes, fixture, proc_root};
use c1m_probe::slabinfo::{self, SlabInfo, top_n};

#[test]
fn parses_the_captured_file() {
    let s = SlabInfo::parse(&fixture("proc/slabinfo")).unwrap();
    assert_eq!(s.len(), 235);
    let tcp = s.get("TCP").unwrap();
    assert_eq!(
        (tcp.active_objs, tcp.num_objs, tcp.objsize),
        (872_417, 872_417, 2368)
    );
    assert_eq!((tcp.objperslab, tcp.pagesperslab), (13, 8));
    assert_eq!((tcp.active_slabs, tcp.num_slabs), (67_109, 67_109));
    assert_eq!(tcp.bytes_held(4096), 67_109 * 8 * 4096);
    assert_eq!(tcp.bytes_active(), 872_417 * 2368);
    let tw = s.get("tw_sock_TCP").unwrap();
    assert_eq!(
        (tw.active_objs, tw.objsize, tw.num_slabs),
        (99_072, 256, 6198)
    );
    assert!(s.total_bytes_held(4096) > tcp.bytes_held(4096));
    assert!(slabinfo::read(&proc_root()).unwrap() == s);
}

#[test]
fn delta_against_an_idle_reading() {
    let after = SlabInfo::parse(&fixture("proc/slabinfo")).unwrap();
    let idle = "slabinfo - version: 2.1\n\
        # name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>\n\
        TCP                   26     26   2368   13    8 : tunables    0    0    0 : slabdata      2      2      0\n";
    let before = SlabInfo::parse(idle.as_bytes()).unwrap();
    let d = SlabInfo::delta(&after, &before, 4096);
    let first = &d[0];
    assert_eq!(
        (first.name.as_str(), first.objects, first.bytes),
        ("TCP", 872_391, (67_109 - 2) * 8 * 4096)
    );
    assert!(d.windows(2).all(|w| w[0].bytes >= w[1].bytes));
    let top = top_n(&d, 3);
    assert_eq!(top.len(), 4);
    assert_eq!(top[3].name, "other");
    let sum = |rows: &[slabinfo::CacheDelta]| rows.iter().map(|r| r.bytes).sum::<i64>();
    assert_eq!(sum(&top), sum(&d));
}

#[test]
fn refuses_truncated_and_garbage() {
    assert!(SlabInfo::parse(&fixture("bad/slabinfo.truncated")).is_err());
    assert!(SlabInfo::parse(&fixture("bad/garbage.bin")).is_err());
    let good = fixture("proc/slabinfo");
    check_prefixes(&good, SlabInfo::parse);
    check_hostile(&good, SlabInfo::parse);
}

/// Root can read `/proc/slabinfo`; anyone else gets an error naming root.
#[test]
fn live_read_needs_root() {
    let root = is_root();
    match slabinfo::read(Path::new("/proc")) {
        Ok(s) => assert!(root && s.get("TCP").is_some()),
        Err(e) => assert!(!root && e.to_string().contains("needs root"), "{e}"),
    }
}

/// Opening 400 loopback connections (800 sockets) grows the `TCP` cache.
/// Slab caches are machine-wide, so others closing sockets at the same
/// moment could hide the growth: a few tries.
#[test]
fn live_diff_shows_tcp_growth() {
    let Some(root) = needs_root("reading /proc/slabinfo") else {
        return;
    };
    let proc = Path::new("/proc");
    root.check(
        slabinfo::read(proc),
        "reading /proc/slabinfo",
        "a kernel that provides it (CONFIG_SLUB_DEBUG)",
    );
    let page = c1m_probe::page_size();
    let mut seen = Vec::new();
    for _ in 0..3 {
        let before = slabinfo::read(proc).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut held = Vec::new();
        for _ in 0..400 {
            held.push(TcpStream::connect(addr).unwrap());
            held.push(listener.accept().unwrap().0);
        }
        let after = slabinfo::read(proc).unwrap();
        let delta = SlabInfo::delta(&after, &before, page);
        let tcp = delta
            .iter()
            .find(|d| d.name == "TCP")
            .map_or(0, |d| d.objects);
        if tcp >= 400 {
            return;
        }
        seen.push(tcp);
    }
    panic!("TCP slab objects grew by {seen:?}, expected about 800");
}
