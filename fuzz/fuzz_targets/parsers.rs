//! Every c1m-probe parser on the same arbitrary bytes: none may panic.
//! Run: `cargo +nightly fuzz run parsers` in this directory. Without
//! cargo-fuzz, the same build by hand (then run the binary on a corpus
//! directory, e.g. a copy of `crates/probe/tests/fixtures/diag`):
//!
//! ```sh
//! RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
//!   -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
//!   -Cllvm-args=-sanitizer-coverage-pc-table \
//!   -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing \
//!   -Cdebug-assertions -Coverflow-checks" \
//!   cargo +nightly build --release --bin parsers --target x86_64-unknown-linux-gnu
//! ./target/x86_64-unknown-linux-gnu/release/parsers -max_total_time=120 CORPUS
//! ```

#![no_main]

use std::net::SocketAddr;

use c1m_probe::diag::{EndpointCounts, TcpCounts, parse_endpoint_reply, parse_reply};
use c1m_probe::meminfo::Meminfo;
use c1m_probe::netstat::{ListenCounters, Netstat};
use c1m_probe::process::{SmapsRollup, Statm, Status};
use c1m_probe::slabinfo::{SlabInfo, top_n};
use c1m_probe::sockstat::Sockstat;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut counts = TcpCounts::new(true);
    let _ = parse_reply(data, &mut counts);
    let _ = counts.total();

    // The endpoints of the captured fixtures, so mutated captures classify
    // sockets on every path (listener, server, client, both families).
    let endpoints: [SocketAddr; 3] = [
        SocketAddr::from(([127, 0, 77, 20], 18795)),
        SocketAddr::from(([127, 0, 77, 20], 18796)),
        SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 18796)),
    ];
    let mut by_endpoint = EndpointCounts::new(&endpoints);
    let _ = parse_endpoint_reply(data, &mut by_endpoint);
    let _ = (
        by_endpoint.server().total(),
        by_endpoint.client().total(),
        by_endpoint.accept_queue_total(),
        by_endpoint.phantoms(),
        by_endpoint.accepted(),
    );

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
        let c = ListenCounters::from(&n);
        let _ = c.since(&ListenCounters::default());
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
