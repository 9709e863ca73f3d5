//! Hand-made readings for the view and render tests.

use std::time::Duration;

use c1m_probe::diag::{Families, TcpCounts, TcpState};
use c1m_probe::meminfo::Meminfo;
use c1m_probe::netstat::Netstat;
use c1m_probe::slabinfo::SlabInfo;
use c1m_probe::sockstat::Sockstat;

use super::view::{DiagReading, Quick, Setup, SlabReading, Tracker, View};

pub const PAGE: u64 = 4096;

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn setup() -> Setup {
    Setup {
        interval: ms(1_000),
        ports: Some(8970..=8970),
        families: Families::Both,
        top: 3,
    }
}

/// A cheap reading with these counters.
pub fn quick(at: u64, curr_estab: u64, overflows: u64, alloc: u64, avail_kb: u64) -> Quick {
    let sockstat = format!(
        "sockets: used 10\nTCP: inuse {alloc} orphan 0 tw 2 alloc {alloc} mem 3\nUDP: inuse 0 mem 0\n"
    );
    let netstat = format!(
        "TcpExt: ListenOverflows ListenDrops TCPMemoryPressures\nTcpExt: {overflows} {overflows} 0\n\
         Tcp: RtoMin MaxConn CurrEstab\nTcp: 200 -1 {curr_estab}\n"
    );
    let meminfo = format!(
        "MemTotal: 1000000 kB\nMemAvailable: {avail_kb} kB\nSlab: 2000 kB\nSUnreclaim: 1000 kB\n"
    );
    Quick {
        at: ms(at),
        sockstat: Ok(Sockstat::parse(sockstat.as_bytes()).unwrap()),
        sockstat6: Some(Sockstat::parse(b"TCP6: inuse 1\nUDP6: inuse 0\n").unwrap()),
        netstat: Ok(Netstat::parse(netstat.as_bytes()).unwrap()),
        meminfo: Ok(Meminfo::parse(meminfo.as_bytes()).unwrap()),
    }
}

/// `n` established sockets on port 8970's both ends, and a listener.
pub fn diag(at: u64, established: u64) -> DiagReading {
    let mut c = TcpCounts::new(true);
    c.add(TcpState::Listen as u8, 8970);
    for i in 0..established {
        let port = if i % 2 == 0 { 8970 } else { 40_000 + i as u16 };
        c.add(TcpState::Established as u8, port);
    }
    c.add(TcpState::NewSynRecv as u8, 8970);
    c.add(TcpState::SynRecv as u8, 8970);
    DiagReading {
        at: ms(at),
        took: ms(2),
        counts: Ok(c),
    }
}

/// A slabinfo with these `TCP` objects (2 KiB each, 16 per 8-page slab),
/// `proc_inode_cache` objects, and an idle cache.
pub fn slabinfo(tcp: u64, proc_inodes: u64) -> SlabInfo {
    let slabs = |objs: u64, per: u64| objs.div_ceil(per);
    let text = format!(
        "slabinfo - version: 2.1\n\
         # name <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>\n\
         TCP {tcp} {tcp} 2048 16 8 : tunables 0 0 0 : slabdata {s} {s} 0\n\
         proc_inode_cache {proc_inodes} {proc_inodes} 512 8 1 : tunables 0 0 0 : slabdata {p} {p} 0\n\
         idle 100 100 64 64 1 : tunables 0 0 0 : slabdata 2 2 0\n",
        s = slabs(tcp, 16),
        p = slabs(proc_inodes, 8),
    );
    SlabInfo::parse(text.as_bytes()).unwrap()
}

pub fn slab(at: u64, tcp: u64, proc_inodes: u64, alloc: u64) -> SlabReading {
    SlabReading {
        at: ms(at),
        slab: Ok(slabinfo(tcp, proc_inodes)),
        tcp_alloc: Some(alloc),
    }
}

/// Two refreshes 2 s apart: 12,800 sockets grew, a /proc scanner ran.
pub fn busy() -> View {
    let mut t = Tracker::new(setup(), PAGE);
    t.add_diag(diag(0, 4_000));
    t.add_slab(slab(0, 1_600, 800, 1_000));
    t.refresh(quick(0, 1_000, 5, 1_000, 900_000));
    t.add_diag(diag(1_000, 6_000));
    t.add_slab(slab(2_000, 14_400, 1_600, 13_800));
    t.refresh(quick(2_000, 7_000, 10, 13_800, 897_000))
}
