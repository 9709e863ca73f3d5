//! What one refresh of `c1m stat` shows, computed from readings: pure, no
//! I/O, the time passed in (seconds since stat started), so every delta,
//! rate and top-N is unit-tested without `/proc`.
//!
//! A [`Tracker`] keeps the first readings (the baseline of every "since
//! start" figure), the previous cheap reading (for rates over the last
//! refresh) and the latest slow ones (netlink counts, slabinfo), and
//! turns each new cheap reading into a [`View`], which is both the JSON
//! record (`c1m.stat/1`) and what [`super::render`] draws.

use std::ops::RangeInclusive;
use std::time::Duration;

use c1m_probe::diag::{Families, TcpCounts, TcpState};
use c1m_probe::meminfo::Meminfo;
use c1m_probe::netstat::Netstat;
use c1m_probe::slabinfo::{self, SlabInfo};
use c1m_probe::sockstat::Sockstat;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::report::model::ProcScan;

/// The JSON record's schema name and version.
pub const SCHEMA: &str = "c1m.stat/1";

/// Per-socket slab figures are shown once TCP sockets grew by this many
/// since the baseline. Below it they are noise: new objects first fill
/// the free slots of partial slabs, so memory held grows in lumps.
/// Measured here with 1.47M sockets held and churning, +1,488 and +2,280
/// sockets read as 306 and 57 bytes per socket for `TCP`, whose objects
/// are 2.5 KiB.
pub const MIN_SOCKETS_PER_SOCKET: i64 = 10_000;

/// What the user asked to watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup {
    /// Time between two refreshes.
    pub interval: Duration,
    /// Only sockets whose local or remote port is in this range.
    pub ports: Option<RangeInclusive<u16>>,
    /// Which address families the netlink count walks (IPv4, IPv6, both);
    /// the /proc totals are always both.
    pub families: Families,
    /// Rows of the port and slab tables.
    pub top: usize,
}

/// The cheap readings, taken every refresh (O(1) in the sockets).
#[derive(Debug, Clone)]
pub struct Quick {
    /// When, since stat started.
    pub at: Duration,
    /// `/proc/net/sockstat`.
    pub sockstat: Result<Sockstat, String>,
    /// `/proc/net/sockstat6`; absent without IPv6.
    pub sockstat6: Option<Sockstat>,
    /// `/proc/net/netstat` and `/proc/net/snmp`, merged.
    pub netstat: Result<Netstat, String>,
    /// `/proc/meminfo`.
    pub meminfo: Result<Meminfo, String>,
}

/// A netlink sock_diag count (slow: ~1 µs per matching socket).
#[derive(Debug, Clone)]
pub struct DiagReading {
    /// When the dump started, since stat started.
    pub at: Duration,
    /// How long it took.
    pub took: Duration,
    /// Sockets by state and by local port, or why the dump failed.
    pub counts: Result<TcpCounts, String>,
}

/// A `/proc/slabinfo` reading (needs root; at most once a second).
#[derive(Debug, Clone)]
pub struct SlabReading {
    /// When it was read, since stat started.
    pub at: Duration,
    /// Every cache, or why slabinfo could not be read.
    pub slab: Result<SlabInfo, String>,
    /// `TCP: alloc` from sockstat at the same refresh: the socket count
    /// the per-socket figures divide by.
    pub tcp_alloc: Option<u64>,
}

/// The states shown, in kernel order. `NEW_SYN_RECV` (request sockets) is
/// folded into `SYN_RECV`, as the kernel itself reports it.
pub const STATES: [TcpState; 11] = match TcpState::ALL.first_chunk() {
    Some(shown) => *shown,
    None => unreachable!(),
};
const _: () = assert!(matches!(TcpState::ALL[11], TcpState::NewSynRecv));

/// Sockets per state, [`STATES`] order; a JSON object keyed by `ss`'s names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByState(pub [u64; STATES.len()]);

impl ByState {
    fn of(c: &TcpCounts) -> Self {
        Self(STATES.map(|s| match s {
            TcpState::SynRecv => c.get(s).saturating_add(c.get(TcpState::NewSynRecv)),
            _ => c.get(s),
        }))
    }

    /// Sockets in `state` (`NEW_SYN_RECV` reads as `SYN_RECV`).
    pub fn get(&self, state: TcpState) -> u64 {
        let state = match state {
            TcpState::NewSynRecv => TcpState::SynRecv,
            s => s,
        };
        STATES
            .iter()
            .position(|&s| s == state)
            .and_then(|i| self.0.get(i))
            .copied()
            .unwrap_or(0)
    }
}

impl Serialize for ByState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(STATES.len()))?;
        for (s, n) in STATES.iter().zip(self.0) {
            map.serialize_entry(s.name(), &n)?;
        }
        map.end()
    }
}

/// One refresh: the JSON record and what is drawn.
#[derive(Debug, Clone, Serialize)]
pub struct View {
    /// Always [`SCHEMA`].
    pub schema: &'static str,
    /// Refresh number, from 1.
    pub seq: u64,
    /// Seconds since stat started.
    pub t_s: f64,
    /// Seconds between two refreshes, as set up.
    pub interval_s: f64,
    /// What the netlink counts are restricted to.
    pub filter: Filter,
    /// Sockets by state, from the latest netlink count (filtered).
    pub states: States,
    /// System-wide TCP totals from /proc (unfiltered).
    pub tcp: TcpTotals,
    /// Accept-queue and memory-pressure counters.
    pub listen: Listen,
    /// /proc/meminfo figures.
    pub memory: Memory,
    /// Slab caches' change since the baseline.
    pub slab: Slab,
}

/// What the netlink counts are restricted to.
#[derive(Debug, Clone, Serialize)]
pub struct Filter {
    /// `[lo, hi]`: sockets whose local or remote port is in it; null: all.
    pub ports: Option<[u16; 2]>,
    /// `ipv4`, `ipv6` or `both`.
    pub families: &'static str,
}

/// TCP sockets by state, from the latest netlink dump.
#[derive(Debug, Clone, Default, Serialize)]
pub struct States {
    /// Seconds since that dump started; null before the first one.
    pub age_s: Option<f64>,
    /// How long it took (the kernel's cost, ~1 µs per socket).
    pub took_s: Option<f64>,
    /// Why the latest dump failed; the counts are then null.
    pub error: Option<String>,
    /// Sockets counted, every state.
    pub total: Option<u64>,
    /// Sockets per state.
    pub by_state: Option<ByState>,
    /// ESTABLISHED change per second between the last two dumps.
    pub established_per_s: Option<f64>,
    /// The local ports holding the most sockets, most first.
    pub top_local_ports: Vec<PortCount>,
    /// Distinct local ports counted.
    pub local_ports: Option<usize>,
}

/// One row of the port table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PortCount {
    /// A local port.
    pub port: u16,
    /// Sockets counted with it as their local port, whatever their state.
    pub sockets: u64,
}

/// System-wide TCP totals, this refresh, whatever the port filter.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TcpTotals {
    /// `Tcp: CurrEstab` (/proc/net/snmp): ESTABLISHED plus CLOSE_WAIT
    /// (since Linux 6.10 and its stable backports; ESTABLISHED only
    /// before), IPv4 and IPv6, every port; `tcp_set_state`, net/ipv4/tcp.c.
    pub curr_estab: Option<u64>,
    /// Its change per second over the last refresh.
    pub curr_estab_per_s: Option<f64>,
    /// /proc/net/sockstat `TCP: inuse`: IPv4 TCP sockets in use, TIME_WAIT
    /// not included.
    pub inuse: Option<u64>,
    /// /proc/net/sockstat6 `TCP6: inuse`: the same for IPv6.
    pub inuse6: Option<u64>,
    /// sockstat `TCP: orphan`: sockets no process holds any more, still
    /// closing.
    pub orphan: Option<u64>,
    /// sockstat `TCP: tw`: sockets in TIME_WAIT.
    pub tw: Option<u64>,
    /// sockstat `TCP: alloc`: TCP sockets allocated, IPv4 and IPv6.
    pub alloc: Option<u64>,
    /// sockstat `TCP: mem`, the pages compared with `net.ipv4.tcp_mem`.
    pub mem_pages: Option<u64>,
    /// `mem_pages` in bytes (times the page size).
    pub mem_bytes: Option<u64>,
    /// Why sockstat or snmp could not be read.
    pub errors: Vec<String>,
}

/// A kernel counter: its value, its growth since stat started, its rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Counter {
    /// Its value, counted since boot.
    pub total: Option<u64>,
    /// Its growth since stat's first reading.
    pub since_start: Option<u64>,
    /// Its change per second over the last refresh; `None` at the first.
    pub per_s: Option<f64>,
}

/// Accept-queue trouble and memory pressure (`TcpExt`, /proc/net/netstat).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Listen {
    /// `ListenOverflows`: a full accept queue.
    pub overflows: Counter,
    /// `ListenDrops`: SYNs or ACKs dropped at a listener, overflows included.
    pub drops: Counter,
    /// `TCPMemoryPressures`: times TCP entered memory pressure (tcp_mem).
    pub memory_pressures: Counter,
}

/// A `/proc/meminfo` value and its change since stat started, bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Gauge {
    /// The value now, bytes.
    pub bytes: Option<u64>,
    /// Its change since stat's first reading, bytes (negative: it fell).
    pub since_start: Option<i64>,
}

/// Memory the machine has left and what the slab allocator holds
/// (/proc/meminfo, proc(5)).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Memory {
    /// `MemAvailable`: the kernel's estimate of what can be allocated
    /// without swapping.
    pub mem_available: Gauge,
    /// `Slab`: every slab cache, socket structures among them.
    pub slab: Gauge,
    /// `SUnreclaim`: the part of `Slab` that cannot be reclaimed (sockets
    /// live there).
    pub sunreclaim: Gauge,
    /// Why /proc/meminfo could not be read; every gauge is then null.
    pub error: Option<String>,
}

/// Slab caches that changed most since the first readable slabinfo.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Slab {
    /// Why slabinfo could not be read (it needs root): no figure is shown.
    pub error: Option<String>,
    /// Seconds since the latest reading.
    pub age_s: Option<f64>,
    /// Seconds between the baseline and the latest reading.
    pub span_s: Option<f64>,
    /// Change of sockstat `TCP: alloc` over the same span.
    pub sockets: Option<i64>,
    /// The caches with the largest change, largest growth first, the rest
    /// folded into `other`.
    pub caches: Vec<CacheRow>,
    /// Every cache's change, bytes.
    pub total_bytes: Option<i64>,
    /// `total_bytes` less the /proc-scanner caches, per socket grown.
    pub per_socket_bytes: Option<f64>,
}

/// One slab cache's row, or `other` for the caches folded together.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CacheRow {
    /// The cache's name in /proc/slabinfo (`TCP`, `sock_inode_cache`), or
    /// `other`.
    pub name: String,
    /// Objects in use now (`active_objs`); null for `other`.
    pub objects: Option<u64>,
    /// Change of objects in use since the baseline.
    pub objects_delta: i64,
    /// Memory the cache holds now (its slabs' pages), bytes; null for
    /// `other`.
    pub bytes: Option<u64>,
    /// Change of that memory since the baseline, bytes.
    pub bytes_delta: i64,
    /// `bytes_delta` per socket grown, when enough did and the cache grew.
    pub per_socket_bytes: Option<f64>,
    /// A cache that grows because something scans /proc (not the sockets').
    pub proc_scanner: bool,
    /// Of `objects_delta`, the /proc scanner's: all of a scanner cache's,
    /// one per new proc inode of a cache the sockets share
    /// ([`crate::report::model::PROC_SCAN_SHARED`]), else 0.
    pub proc_scanner_objects: i64,
}

/// Turns readings into views; see the module docs.
#[derive(Debug)]
pub struct Tracker {
    setup: Setup,
    page_size: u64,
    seq: u64,
    first: Option<Quick>,
    prev: Option<Quick>,
    slab_base: Option<SlabReading>,
    slab_last: Option<SlabReading>,
    diag_prev: Option<DiagReading>,
    diag_last: Option<DiagReading>,
}

impl Tracker {
    /// A tracker with no reading yet; `page_size` (bytes) turns page
    /// counts into bytes.
    pub fn new(setup: Setup, page_size: u64) -> Self {
        Self {
            setup,
            page_size,
            seq: 0,
            first: None,
            prev: None,
            slab_base: None,
            slab_last: None,
            diag_prev: None,
            diag_last: None,
        }
    }

    /// When the latest slabinfo reading was taken.
    pub fn slab_at(&self) -> Option<Duration> {
        self.slab_last.as_ref().map(|s| s.at)
    }

    /// Records a slabinfo reading; the first readable one is the baseline.
    pub fn add_slab(&mut self, r: SlabReading) {
        if self.slab_base.is_none() && r.slab.is_ok() {
            self.slab_base = Some(r.clone());
        }
        self.slab_last = Some(r);
    }

    /// Records a netlink count.
    pub fn add_diag(&mut self, r: DiagReading) {
        self.diag_prev = self.diag_last.replace(r);
    }

    /// The view for this refresh's cheap reading.
    pub fn refresh(&mut self, q: Quick) -> View {
        self.seq += 1;
        let first = self.first.get_or_insert_with(|| q.clone());
        let view = View {
            schema: SCHEMA,
            seq: self.seq,
            t_s: q.at.as_secs_f64(),
            interval_s: self.setup.interval.as_secs_f64(),
            filter: Filter {
                ports: self.setup.ports.as_ref().map(|r| [*r.start(), *r.end()]),
                families: match self.setup.families {
                    Families::V4 => "ipv4",
                    Families::V6 => "ipv6",
                    Families::Both => "both",
                },
            },
            states: states(
                self.diag_last.as_ref(),
                self.diag_prev.as_ref(),
                q.at,
                self.setup.top,
            ),
            tcp: tcp_totals(&q, self.prev.as_ref(), self.page_size),
            listen: listen(&q, self.prev.as_ref(), first),
            memory: memory(&q, first),
            slab: slab(
                self.slab_base.as_ref(),
                self.slab_last.as_ref(),
                q.at,
                self.setup.top,
                self.page_size,
            ),
        };
        self.prev = Some(q);
        view
    }
}

fn secs_between(later: Duration, earlier: Duration) -> f64 {
    later.saturating_sub(earlier).as_secs_f64()
}

/// `(after - before) / seconds`; `None` without both or without time.
fn rate(after: Option<u64>, before: Option<u64>, seconds: f64) -> Option<f64> {
    let d = i128::from(after?) - i128::from(before?);
    (seconds > 0.0).then(|| d as f64 / seconds)
}

/// `after - before`, clamped into `i64`.
fn signed(after: Option<u64>, before: Option<u64>) -> Option<i64> {
    let d = i128::from(after?) - i128::from(before?);
    Some(i64::try_from(d).unwrap_or(if d < 0 { i64::MIN } else { i64::MAX }))
}

fn states(
    last: Option<&DiagReading>,
    prev: Option<&DiagReading>,
    now: Duration,
    top: usize,
) -> States {
    let Some(last) = last else {
        return States::default();
    };
    let mut s = States {
        age_s: Some(secs_between(now, last.at)),
        took_s: Some(last.took.as_secs_f64()),
        ..States::default()
    };
    let counts = match &last.counts {
        Ok(c) => c,
        Err(e) => {
            s.error = Some(e.clone());
            return s;
        }
    };
    let by = ByState::of(counts);
    s.total = Some(counts.total());
    s.by_state = Some(by);
    if let Some(prev) = prev
        && let Ok(p) = &prev.counts
    {
        let est = |c: &TcpCounts| Some(c.get(TcpState::Established));
        s.established_per_s = rate(est(counts), est(p), secs_between(last.at, prev.at));
    }
    if let Some(ports) = counts.by_local_port() {
        s.local_ports = Some(ports.len());
        s.top_local_ports = top_ports(ports.iter().map(|(&p, &n)| (p, n)), top);
    }
    s
}

/// The `n` ports with the most sockets, most first, then by port.
pub fn top_ports(ports: impl Iterator<Item = (u16, u64)>, n: usize) -> Vec<PortCount> {
    let mut v: Vec<PortCount> = ports
        .map(|(port, sockets)| PortCount { port, sockets })
        .collect();
    v.sort_by(|a, b| b.sockets.cmp(&a.sockets).then(a.port.cmp(&b.port)));
    v.truncate(n);
    v
}

fn tcp_totals(q: &Quick, prev: Option<&Quick>, page: u64) -> TcpTotals {
    let mut t = TcpTotals::default();
    let estab = |q: &Quick| q.netstat.as_ref().ok()?.get("Tcp", "CurrEstab");
    t.curr_estab = estab(q);
    if let Some(p) = prev {
        t.curr_estab_per_s = rate(t.curr_estab, estab(p), secs_between(q.at, p.at));
    }
    if let Err(e) = &q.netstat {
        t.errors.push(e.clone());
    }
    match &q.sockstat {
        Ok(s) => {
            t.inuse = s.tcp_inuse();
            t.orphan = s.tcp_orphan();
            t.tw = s.tcp_tw();
            t.alloc = s.tcp_alloc();
            t.mem_pages = s.tcp_mem_pages();
            t.mem_bytes = s.tcp_mem_bytes(page);
        }
        Err(e) => t.errors.push(e.clone()),
    }
    t.inuse6 = q.sockstat6.as_ref().and_then(|s| s.get("TCP6", "inuse"));
    t
}

fn listen(q: &Quick, prev: Option<&Quick>, first: &Quick) -> Listen {
    let counter = |key: &str| {
        let get = |q: &Quick| q.netstat.as_ref().ok()?.get("TcpExt", key);
        let total = get(q);
        Counter {
            total,
            since_start: total.zip(get(first)).map(|(a, b)| a.saturating_sub(b)),
            per_s: prev.and_then(|p| rate(total, get(p), secs_between(q.at, p.at))),
        }
    };
    Listen {
        overflows: counter("ListenOverflows"),
        drops: counter("ListenDrops"),
        memory_pressures: counter("TCPMemoryPressures"),
    }
}

fn memory(q: &Quick, first: &Quick) -> Memory {
    let gauge = |f: fn(&Meminfo) -> Option<u64>| {
        let get = |q: &Quick| q.meminfo.as_ref().ok().and_then(f);
        Gauge {
            bytes: get(q),
            since_start: signed(get(q), get(first)),
        }
    };
    Memory {
        mem_available: gauge(Meminfo::mem_available),
        slab: gauge(Meminfo::slab),
        sunreclaim: gauge(Meminfo::slab_unreclaimable),
        error: q.meminfo.as_ref().err().cloned(),
    }
}

fn slab(
    base: Option<&SlabReading>,
    last: Option<&SlabReading>,
    now: Duration,
    top: usize,
    page: u64,
) -> Slab {
    let Some(last) = last else {
        return Slab::default();
    };
    let mut s = Slab {
        age_s: Some(secs_between(now, last.at)),
        ..Slab::default()
    };
    let l = match &last.slab {
        Ok(l) => l,
        Err(e) => {
            s.error = Some(e.clone());
            return s;
        }
    };
    // A readable reading is always recorded as the baseline first.
    let Some((base, b)) = base.and_then(|r| Some((r, r.slab.as_ref().ok()?))) else {
        return s;
    };
    s.span_s = Some(secs_between(last.at, base.at));
    let sockets = signed(last.tcp_alloc, base.tcp_alloc);
    s.sockets = sockets;
    let grown = sockets.filter(|&n| n >= MIN_SOCKETS_PER_SOCKET);
    let per = |bytes: i64| grown.map(|n| bytes as f64 / n as f64);
    let deltas = SlabInfo::delta(l, b, page);
    let total: i64 = deltas.iter().fold(0, |a, d| a.saturating_add(d.bytes));
    let proc_scan = ProcScan::of(deltas.iter().map(|d| (d.name.as_str(), d.objects)));
    let scan: i64 = deltas
        .iter()
        .map(|d| proc_scan.share(&d.name, d.objects, d.bytes).1)
        .fold(0, i64::saturating_add);
    s.total_bytes = Some(total);
    s.per_socket_bytes = per(total.saturating_sub(scan));
    s.caches = slabinfo::top_n(&deltas, top)
        .into_iter()
        .map(|d| {
            let now = l.get(&d.name);
            let (scan_objects, scan_bytes) = proc_scan.share(&d.name, d.objects, d.bytes);
            let proc_scanner = ProcScan::whole(&d.name);
            CacheRow {
                objects: now.map(|c| c.active_objs),
                bytes: now.map(|c| c.bytes_held(page)),
                objects_delta: d.objects,
                bytes_delta: d.bytes,
                // A cache that shrank while sockets grew is not their cost;
                // of a shared one, the sockets' part is.
                per_socket_bytes: per(d.bytes - scan_bytes)
                    .filter(|_| !proc_scanner && d.bytes > 0),
                proc_scanner,
                proc_scanner_objects: if proc_scanner {
                    d.objects
                } else {
                    scan_objects
                },
                name: d.name,
            }
        })
        .collect();
    s
}

#[cfg(test)]
#[path = "view_tests.rs"]
mod tests;
