//! Every c1m-probe parser on the same arbitrary bytes: none may panic.
//! Run: `cargo +nightly fuzz run parsers` in this directory.

#![no_main]

use c1m_probe::diag::{TcpCounts, parse_reply};
use c1m_probe::meminfo::Meminfo;
use c1m_probe::netstat::Netstat;
use c1m_probe::process::{SmapsRollup, Statm, Status};
use c1m_probe::slabinfo::{SlabInfo, top_n};
use c1m_probe::sockstat::Sockstat;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut counts = TcpCounts::new(true);
    let _ = parse_reply(data, &mut counts);
    let _ = counts.total();

    if let Ok(slabs) = SlabInfo::parse(data) {
        let page = 4096;
        let _ = slabs.total_bytes_held(page);
        let deltas = SlabInfo::delta(&slabs, &SlabInfo::default(), page);
        let _ = top_n(&deltas, 3);
        let back = SlabInfo::delta(&SlabInfo::default(), &slabs, page);
        let _ = top_n(&back, 0);
    }
    if let Ok(m) = Meminfo::parse(data) {
        let _ = m.mem_available();
    }
    if let Ok(s) = Sockstat::parse(data) {
        let _ = s.tcp_mem_bytes(u64::MAX);
    }
    if let Ok(n) = Netstat::parse(data) {
        let _ = (n.get("TcpExt", "ListenOverflows"), n.get_i64("Tcp", "MaxConn"));
    }
    if let Ok(s) = Statm::parse(data) {
        let _ = s.rss_bytes(u64::MAX);
    }
    if let Ok(s) = Status::parse(data) {
        let _ = (s.vm_rss(), s.vm_hwm(), s.threads());
    }
    if let Ok(r) = SmapsRollup::parse(data) {
        let _ = (r.rss(), r.pss());
    }
    let _ = c1m_probe::sysctl::parse_numbers(&String::from_utf8_lossy(data));
});
