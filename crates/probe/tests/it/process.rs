//! Per-process memory: statm, status, smaps_rollup.

use std::path::Path;

use crate::util::{check_hostile, check_prefixes, fixture, proc_root};
use c1m_probe::process::{self, SmapsRollup, Statm, StatmReader, Status};
use c1m_probe::procfile::ProcFile;

#[test]
fn parses_the_captured_files() {
    let m = Statm::parse(&fixture("proc/4242/statm")).unwrap();
    assert_eq!(
        (m.size, m.resident, m.shared, m.text, m.data),
        (4544, 3663, 1733, 1, 2361)
    );
    assert_eq!(m.rss_bytes(4096), 3663 * 4096);

    let s = Status::parse(&fixture("proc/4242/status")).unwrap();
    assert_eq!(s.get("Name"), Some("python3"));
    assert_eq!(s.vm_rss(), Some(14_652 * 1024));
    assert_eq!(s.vm_hwm(), Some(14_652 * 1024));
    assert_eq!(s.threads(), Some(1));

    let r = SmapsRollup::parse(&fixture("proc/4242/smaps_rollup")).unwrap();
    assert_eq!(r.rss(), 14_652 * 1024);
    assert_eq!(r.pss(), 13_007 * 1024);
    assert_eq!(r.get("Swap"), Some(0));
}

#[test]
fn reads_from_a_root() {
    let root = proc_root();
    assert_eq!(process::read_statm(&root, 4242).unwrap().resident, 3663);
    assert_eq!(
        process::read_status(&root, 4242).unwrap().threads(),
        Some(1)
    );
    assert_eq!(
        process::read_smaps_rollup(&root, 4242).unwrap().pss(),
        13_007 * 1024
    );
    let err = process::read_statm(&root, 1).unwrap_err();
    assert!(err.to_string().contains("1/statm"), "{err}");
}

#[test]
fn refuses_truncated_and_garbage() {
    assert!(Statm::parse(&fixture("bad/garbage.bin")).is_err());
    assert!(Status::parse(&fixture("bad/garbage.bin")).is_err());
    assert!(SmapsRollup::parse(&fixture("bad/garbage.bin")).is_err());
    let statm = fixture("proc/4242/statm");
    check_prefixes(&statm, Statm::parse);
    check_hostile(&statm, Statm::parse);
    let status = fixture("proc/4242/status");
    check_prefixes(&status, Status::parse);
    check_hostile(&status, Status::parse);
    let rollup = fixture("proc/4242/smaps_rollup");
    check_prefixes(&rollup, SmapsRollup::parse);
    check_hostile(&rollup, SmapsRollup::parse);
}

#[test]
fn live_self() {
    let proc = Path::new("/proc");
    let pid = std::process::id();
    let page = c1m_probe::page_size();
    let statm = process::read_statm(proc, pid).unwrap();
    let status = process::read_status(proc, pid).unwrap();
    let rollup = process::read_smaps_rollup(proc, pid).unwrap();
    assert!(statm.resident > 0);
    assert!(status.threads().unwrap() >= 1);
    assert!(status.vm_hwm().unwrap() >= status.vm_rss().unwrap());
    assert!(rollup.pss() > 0 && rollup.pss() <= rollup.rss());
    // Both are the same kernel counters, sampled at slightly different times.
    let (a, b) = (statm.rss_bytes(page), status.vm_rss().unwrap());
    assert!(a.abs_diff(b) < 64 << 20, "statm {a} vs status {b}");
}

#[test]
fn held_statm_sees_growth() {
    let mut reader = StatmReader::open(Path::new("/proc"), std::process::id()).unwrap();
    let before = reader.read().unwrap().rss_bytes(c1m_probe::page_size());
    let block = std::hint::black_box(vec![1u8; 64 << 20]);
    let after = reader.read().unwrap().rss_bytes(c1m_probe::page_size());
    assert!(after >= before + (48 << 20), "rss {before} -> {after}");
    drop(block);
}

#[test]
fn proc_file_rereads_fresh_text() {
    let mut f = ProcFile::open("/proc/self/stat").unwrap();
    let a = f.read().unwrap().to_vec();
    let b = f.read().unwrap().to_vec();
    assert!(!a.is_empty() && a.ends_with(b"\n") && b.ends_with(b"\n"));
    let mut big = ProcFile::open(proc_root().join("slabinfo")).unwrap();
    assert_eq!(big.read().unwrap(), &fixture("proc/slabinfo")[..]);
    assert_eq!(big.read().unwrap(), &fixture("proc/slabinfo")[..]);
    assert!(
        ProcFile::open("/proc/nonexistent")
            .unwrap_err()
            .to_string()
            .contains("/proc/nonexistent")
    );
}
