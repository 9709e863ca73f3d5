//! Readings of the kernel's accounting around an experiment: the cheap ones
//! taken every sample, the full ones (slabinfo, PSS, a netlink count) at
//! the baseline and at the top.

use std::path::Path;
use std::time::{Duration, Instant};

use c1m_probe::diag::{DiagQuery, Families, PortMatch, StateSet, TcpDiag, TcpState};
use c1m_probe::meminfo::Meminfo;
use c1m_probe::slabinfo::{self, CacheDelta, SlabInfo};
use c1m_probe::sockstat::{self, Sockstat};
use serde::Serialize;

use crate::plan::Plan;

const PROC: &str = "/proc";

fn proc() -> &'static Path {
    Path::new(PROC)
}

fn meminfo() -> Option<Meminfo> {
    std::fs::read(proc().join("meminfo"))
        .ok()
        .and_then(|b| Meminfo::parse(&b).ok())
}

/// Summed RSS of `pids`, in bytes; processes that are gone count zero.
pub fn rss(pids: &[u32]) -> u64 {
    let page = c1m_probe::page_size();
    pids.iter()
        .filter_map(|&p| c1m_probe::process::read_statm(proc(), p).ok())
        .map(|s| s.rss_bytes(page))
        .sum()
}

/// Summed PSS of `pids`, in bytes; `None` if smaps_rollup is unreadable.
pub fn pss(pids: &[u32]) -> Option<u64> {
    pids.iter()
        .map(|&p| {
            c1m_probe::process::read_smaps_rollup(proc(), p)
                .ok()
                .map(|s| s.pss())
        })
        .sum()
}

/// The readings taken every sample: cheap at any scale.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quick {
    pub mem_available: Option<u64>,
    pub slab: Option<u64>,
    pub rss: Option<u64>,
}

/// Takes the cheap readings.
pub fn quick(pids: &[u32]) -> Quick {
    let m = meminfo();
    Quick {
        mem_available: m.as_ref().and_then(Meminfo::mem_available),
        slab: m.as_ref().and_then(Meminfo::slab),
        rss: Some(rss(pids)),
    }
}

/// Everything at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub meminfo: Option<Meminfo>,
    /// `/proc/slabinfo`, or why it could not be read (it needs root).
    pub slabinfo: Result<SlabInfo, String>,
    pub sockstat: Option<Sockstat>,
    /// The server workers' and the client workers' memory.
    pub servers: ProcMem,
    pub clients: ProcMem,
}

/// The summed memory of a group of processes, bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcMem {
    pub rss: u64,
    pub pss: Option<u64>,
}

impl ProcMem {
    fn take(pids: &[u32]) -> Self {
        Self {
            rss: rss(pids),
            pss: pss(pids),
        }
    }
}

impl Snapshot {
    /// Takes every reading, the workers' memory among them.
    pub fn take(server_pids: &[u32], client_pids: &[u32]) -> Self {
        Self {
            meminfo: meminfo(),
            slabinfo: slabinfo::read(proc()).map_err(|e| e.to_string()),
            sockstat: sockstat::read(proc()).ok(),
            servers: ProcMem::take(server_pids),
            clients: ProcMem::take(client_pids),
        }
    }
}

/// How a group of workers' memory changed over a number of connections.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct UserMem {
    /// Summed RSS change, bytes.
    pub rss: i64,
    /// Summed PSS change, bytes, where smaps_rollup was readable.
    pub pss: Option<i64>,
    /// RSS change per connection held, bytes.
    pub rss_per_conn: Option<f64>,
}

impl UserMem {
    fn between(base: &ProcMem, top: &ProcMem, conns: u64) -> Self {
        let rss = top.rss as i64 - base.rss as i64;
        Self {
            rss,
            pss: delta(top.pss, base.pss),
            rss_per_conn: (conns > 0).then(|| rss as f64 / conns as f64),
        }
    }
}

/// Memory an experiment cost, between its baseline and its top.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryReport {
    /// Connections held at the top.
    pub conns: u64,
    /// Sockets they are (two per connection when both ends are here).
    pub sockets: u64,
    /// Per slab cache, biggest first, the tail folded into `other`.
    pub slab_caches: Vec<CacheDelta>,
    /// Why there are no per-cache rows, when there are none.
    pub slab_unreadable: Option<String>,
    /// The sum of every cache's change, bytes.
    pub slab_caches_total: Option<i64>,
    /// `/proc/meminfo` Slab, SUnreclaim and MemAvailable changes, bytes.
    pub meminfo_slab: Option<i64>,
    pub meminfo_sunreclaim: Option<i64>,
    pub mem_available_drop: Option<i64>,
    /// `tcp_mem` pages in use at the top (sockstat `TCP: mem`).
    pub tcp_mem_pages: Option<u64>,
    /// The server workers' and the client workers' memory changes.
    pub servers: UserMem,
    pub clients: UserMem,
}

/// Caches that grow only because something reads /proc/*/fd of every
/// process (this machine has such a scanner): shown as their own rows, not
/// counted in the per-socket cost.
pub const PROC_SCAN_CACHES: [&str; 1] = ["proc_inode_cache"];

impl MemoryReport {
    /// Kernel slab bytes per socket: every cache's change, less the
    /// /proc-scanner caches, over the sockets.
    pub fn kernel_per_socket(&self) -> Option<f64> {
        let total = self.slab_caches_total.or(self.meminfo_slab)?;
        let scan: i64 = self
            .slab_caches
            .iter()
            .filter(|c| PROC_SCAN_CACHES.contains(&c.name.as_str()))
            .map(|c| c.bytes)
            .sum();
        (self.sockets > 0).then(|| (total - scan) as f64 / self.sockets as f64)
    }
}

fn delta(a: Option<u64>, b: Option<u64>) -> Option<i64> {
    Some(a? as i64 - b? as i64)
}

/// Rows of the per-cache table.
pub const SLAB_ROWS: usize = 12;

/// Compares the top with the baseline.
pub fn memory_report(base: &Snapshot, top: &Snapshot, conns: u64, sockets: u64) -> MemoryReport {
    let page = c1m_probe::page_size();
    let (slab_caches, slab_unreadable, slab_caches_total) = match (&top.slabinfo, &base.slabinfo) {
        (Ok(t), Ok(b)) => {
            let d = SlabInfo::delta(t, b, page);
            let total = d.iter().map(|c| c.bytes).sum();
            (slabinfo::top_n(&d, SLAB_ROWS), None, Some(total))
        }
        (Err(e), _) | (_, Err(e)) => (Vec::new(), Some(e.clone()), None),
    };
    let m = |s: &Snapshot, f: fn(&Meminfo) -> Option<u64>| s.meminfo.as_ref().and_then(f);
    MemoryReport {
        conns,
        sockets,
        slab_caches,
        slab_unreadable,
        slab_caches_total,
        meminfo_slab: delta(m(top, Meminfo::slab), m(base, Meminfo::slab)),
        meminfo_sunreclaim: delta(
            m(top, Meminfo::slab_unreclaimable),
            m(base, Meminfo::slab_unreclaimable),
        ),
        mem_available_drop: delta(
            m(base, Meminfo::mem_available),
            m(top, Meminfo::mem_available),
        ),
        tcp_mem_pages: top.sockstat.as_ref().and_then(|s| s.get("TCP", "mem")),
        servers: UserMem::between(&base.servers, &top.servers, conns),
        clients: UserMem::between(&base.clients, &top.clients, conns),
    }
}

/// An independent count of the experiment's established sockets, from the
/// kernel's socket tables over netlink (as `ss` does).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Verified {
    /// Established sockets whose local port is a server port.
    pub server_side: u64,
    /// Established sockets whose remote port is a server port.
    pub client_side: u64,
    /// How long the count took.
    #[serde(serialize_with = "crate::report::secs")]
    pub took: Duration,
}

/// Counts established sockets on the plan's server ports, in this network
/// namespace or, for a lab, summed over its namespaces (each host's sockets
/// live in its own).
pub fn count_established(plan: &Plan, namespaces: &[String]) -> anyhow::Result<Verified> {
    let started = Instant::now();
    let (mut server_side, mut client_side) = (0, 0);
    if namespaces.is_empty() {
        (server_side, client_side) = count_here(plan)?;
    }
    for ns in namespaces {
        let (s, c) = c1m_sys::netns::run_in(ns, || count_here(plan))??;
        server_side += s;
        client_side += c;
    }
    Ok(Verified {
        server_side,
        client_side,
        took: started.elapsed(),
    })
}

/// (server side, client side) established sockets in this namespace.
fn count_here(plan: &Plan) -> anyhow::Result<(u64, u64)> {
    let ports = plan.endpoints.iter().map(|e| e.port());
    let (lo, hi) = ports.fold((u16::MAX, 0), |(lo, hi), p| (lo.min(p), hi.max(p)));
    // One dump of every established socket with a server port at either
    // end, counted by local port: those on a server port are the servers'
    // ends, the rest the clients'.
    let mut q = DiagQuery::new(StateSet::only(TcpState::Established));
    q.local_ports = Some(lo..=hi);
    q.remote_ports = Some(lo..=hi);
    q.port_match = PortMatch::Any;
    q.per_local_port = true;
    // Walking one family's table is ~15% cheaper than both.
    if plan.endpoints.iter().all(|e| e.is_ipv4()) {
        q.families = Families::V4;
    } else if plan.endpoints.iter().all(|e| e.is_ipv6()) {
        q.families = Families::V6;
    }
    let counts = TcpDiag::new()?.count(&q)?;
    let total = counts.get(TcpState::Established);
    let server_side: u64 = counts
        .by_local_port()
        .map(|m| m.range(lo..=hi).map(|(_, n)| n).sum())
        .unwrap_or(0);
    let client_side = total - server_side;
    Ok((server_side, client_side))
}
