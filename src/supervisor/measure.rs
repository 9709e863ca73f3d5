//! Readings of the kernel's accounting around an experiment: the cheap ones
//! taken every sample ([`quick`]), the full ones (slabinfo, each worker's
//! RSS and PSS: a [`Snapshot`]) at the baseline and at the top, and the
//! netlink sock_diag reading of the endpoints ([`read_endpoints`]).
//!
//! It only reads: `/proc` (proc(5)) and sock_diag(7); it never changes a
//! setting. A source that cannot be read gives `None` or an error text,
//! not a zero (only a worker that is gone counts as zero RSS).

use std::path::Path;
use std::time::{Duration, Instant};

use std::net::SocketAddr;

use c1m_probe::diag::{EndpointCounts, EndpointQuery, Families, TcpDiag};
use c1m_probe::meminfo::Meminfo;
use c1m_probe::netstat::ListenCounters;
use c1m_probe::slabinfo::{self, SlabInfo};
use c1m_probe::sockstat::{self, Sockstat};

use crate::report::model::{Memory, SlabRow, UserMem};

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

/// The readings taken every sample: cheap at any scale.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quick {
    /// `MemAvailable` of /proc/meminfo, bytes; `None` if unreadable.
    pub mem_available: Option<u64>,
    /// `Slab` of /proc/meminfo (every slab cache), bytes.
    pub slab: Option<u64>,
    /// The workers' summed RSS, bytes (see [`rss`]); always `Some`.
    pub rss: Option<u64>,
}

/// TCP sockets in use in this network namespace (`/proc/net/sockstat`
/// `TCP: inuse`: listeners, ESTABLISHED ones, those waiting in accept
/// queues, whoever's); `None` if unreadable. Cheap: one small file.
pub fn tcp_inuse() -> Option<u64> {
    sockstat::read(proc()).ok()?.tcp_inuse()
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
    /// `/proc/meminfo`; `None` if unreadable.
    pub meminfo: Option<Meminfo>,
    /// `/proc/slabinfo`, or why it could not be read (it needs root).
    pub slabinfo: Result<SlabInfo, String>,
    /// `/proc/net/sockstat` (its `TCP: mem` pages go into the report);
    /// `None` if unreadable.
    pub sockstat: Option<Sockstat>,
    /// The server workers' memory.
    pub servers: ProcMem,
    /// The client workers' memory.
    pub clients: ProcMem,
}

/// The memory of a group of processes, each read on its own, so that
/// two readings compare the same processes.
#[derive(Debug, Clone, Default)]
pub struct ProcMem {
    /// Each live process read: its pid, resident set size
    /// (/proc/PID/statm) and proportional set size
    /// (/proc/PID/smaps_rollup; `None` if unreadable), bytes. A process
    /// gone, or a zombie (no memory left to read: a worker killed and not
    /// yet reaped), is not in it.
    pub procs: Vec<(u32, u64, Option<u64>)>,
}

impl ProcMem {
    fn take(pids: &[u32]) -> Self {
        let page = c1m_probe::page_size();
        let procs = pids
            .iter()
            .filter_map(|&p| {
                let statm = c1m_probe::process::read_statm(proc(), p).ok()?;
                // A zombie's statm reads all zeros.
                (statm.size > 0).then_some(())?;
                let pss = c1m_probe::process::read_smaps_rollup(proc(), p)
                    .ok()
                    .map(|s| s.pss());
                Some((p, statm.rss_bytes(page), pss))
            })
            .collect();
        Self { procs }
    }

    /// Summed RSS, bytes.
    pub fn rss(&self) -> u64 {
        self.procs.iter().map(|p| p.1).sum()
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

impl ProcMem {
    /// How this group's memory changed since `base`, over `conns`
    /// connections: over the processes read both times only (a worker
    /// that died between the readings took its memory with it, which is
    /// no change of what holding costs). PSS is `None` unless every such
    /// process's was read both times.
    fn since(&self, base: &ProcMem, conns: u64) -> UserMem {
        let (mut rss, mut pss) = (0i64, Some(0i64));
        for &(pid, now_rss, now_pss) in &self.procs {
            let Some(&(_, was_rss, was_pss)) = base.procs.iter().find(|b| b.0 == pid) else {
                continue;
            };
            rss += now_rss as i64 - was_rss as i64;
            pss = pss.zip(delta(now_pss, was_pss)).map(|(a, b)| a + b);
        }
        UserMem {
            rss,
            pss,
            rss_per_conn: (conns > 0).then(|| rss as f64 / conns as f64),
            tls_heap: None,
            tls_conns: None,
            ws_heap: None,
            ws_conns: None,
        }
    }
}

fn delta(a: Option<u64>, b: Option<u64>) -> Option<i64> {
    Some(a? as i64 - b? as i64)
}

/// Rows of the per-cache table.
pub const SLAB_ROWS: usize = 12;

/// Compares the top with the baseline, both read on `node`.
pub fn memory_report(
    node: &str,
    base: &Snapshot,
    top: &Snapshot,
    conns: u64,
    sockets: u64,
) -> Memory {
    let page = c1m_probe::page_size();
    let (slab_caches, slab_unreadable, slab_caches_total) = match (&top.slabinfo, &base.slabinfo) {
        (Ok(t), Ok(b)) => {
            let d = SlabInfo::delta(t, b, page);
            let total = d.iter().map(|c| c.bytes).sum();
            let rows = slabinfo::top_n(&d, SLAB_ROWS)
                .into_iter()
                .map(|c| SlabRow {
                    name: c.name,
                    objects: c.objects,
                    bytes: c.bytes,
                })
                .collect();
            (rows, None, Some(total))
        }
        (Err(e), _) | (_, Err(e)) => (Vec::new(), Some(e.clone()), None),
    };
    let m = |s: &Snapshot, f: fn(&Meminfo) -> Option<u64>| s.meminfo.as_ref().and_then(f);
    Memory {
        nodes: vec![node.to_string()],
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
        servers: top.servers.since(&base.servers, conns),
        clients: top.clients.since(&base.clients, conns),
    }
}

/// The kernel's reading of the experiment's endpoints at one moment:
/// their listeners and both sides' sockets by state, summed over the
/// network namespaces the experiment uses (netlink sock_diag, as `ss`).
#[derive(Debug, Clone)]
pub struct Reading {
    /// The counts.
    pub counts: EndpointCounts,
    /// How long the reading took.
    pub took: Duration,
}

/// Reads the sockets of `endpoints` in this network namespace or, for a
/// lab, in each of `namespaces` (each host's sockets live in its own),
/// merged. `families`: which tables to walk (one is ~15% cheaper than
/// both; a v4 endpoint may be served by a dual-stack v6 listener).
///
/// Fails if a NETLINK_SOCK_DIAG socket cannot be opened, a dump fails
/// (sock_diag(7); net/ipv4/inet_diag.c), or a namespace cannot be entered.
pub fn read_endpoints(
    endpoints: &[SocketAddr],
    families: Families,
    namespaces: &[String],
) -> anyhow::Result<Reading> {
    let started = Instant::now();
    let query = EndpointQuery {
        families,
        ..EndpointQuery::new(endpoints.to_vec())
    };
    let read_here = || -> anyhow::Result<EndpointCounts> { Ok(TcpDiag::new()?.endpoints(&query)?) };
    let counts = if namespaces.is_empty() {
        read_here()?
    } else {
        let mut all = EndpointCounts::new(endpoints);
        for ns in namespaces {
            all.merge(&c1m_sys::netns::run_in(ns, read_here)??);
        }
        all
    };
    Ok(Reading {
        counts,
        took: started.elapsed(),
    })
}

/// The listen-queue counters of `/proc/net/netstat` now, of the network
/// namespace `netns` (read on a thread inside it, through
/// `/proc/thread-self/net`: `/proc/net` follows the process's first
/// thread) or c1m's own; `None` if unreadable.
pub fn listen_counters(netns: Option<&str>) -> Option<ListenCounters> {
    let n = match netns {
        None => c1m_probe::netstat::read(proc()).ok()?,
        Some(ns) => c1m_sys::netns::run_in(ns, || {
            c1m_probe::netstat::read(&proc().join("thread-self")).ok()
        })
        .ok()??,
    };
    Some(ListenCounters::from(&n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(procs: &[(u32, u64, Option<u64>)]) -> ProcMem {
        ProcMem {
            procs: procs.to_vec(),
        }
    }

    /// A worker that died between the readings is compared on neither
    /// side: its memory leaving is no change of what holding costs (the
    /// report once showed a negative PSS after a killed worker).
    #[test]
    fn a_worker_gone_by_the_second_reading_is_left_out_of_the_change() {
        let base = group(&[(1, 1000, Some(600)), (2, 1000, Some(600))]);
        let top = group(&[(1, 1500, Some(900))]);
        let u = top.since(&base, 100);
        assert_eq!(u.rss, 500);
        assert_eq!(u.pss, Some(300));
        assert_eq!(u.rss_per_conn, Some(5.0));
    }

    #[test]
    fn a_pss_unread_once_leaves_the_pss_change_unknown() {
        let base = group(&[(1, 1000, Some(600)), (2, 1000, None)]);
        let top = group(&[(1, 1500, Some(900)), (2, 1200, Some(700))]);
        let u = top.since(&base, 0);
        assert_eq!(u.rss, 700);
        assert_eq!(u.pss, None);
        assert_eq!(u.rss_per_conn, None);
    }
}
