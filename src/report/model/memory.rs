//! What an experiment cost in memory: the kernel's slab caches and
//! `/proc/meminfo` between the baseline and the top, and the workers' own
//! RSS, with the part a /proc/*/fd scanner adds told apart
//! ([`ProcScan`]). Data only, as the rest of [`super`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What the experiment cost, between the baseline and the top.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Memory {
    /// The nodes whose kernels these figures were read on, each once
    /// (`Origin::node`): one for a run; for a merged report, every node
    /// its shards ran on, a node's slab counted once however many shards
    /// shared it.
    pub nodes: Vec<String>,
    /// Connections held at the top.
    pub conns: u64,
    /// Sockets they are: two per connection when both ends are here.
    pub sockets: u64,
    /// Per slab cache, biggest change first, the tail folded into
    /// `other`.
    pub slab_caches: Vec<SlabRow>,
    /// Why there are no per-cache rows (`/proc/slabinfo` needs root);
    /// null when there are.
    pub slab_unreadable: Option<String>,
    /// The sum of every cache's change, bytes.
    pub slab_caches_total: Option<i64>,
    /// `/proc/meminfo` Slab change, bytes.
    pub meminfo_slab: Option<i64>,
    /// `/proc/meminfo` SUnreclaim change, bytes.
    pub meminfo_sunreclaim: Option<i64>,
    /// How much `/proc/meminfo` MemAvailable fell, bytes.
    pub mem_available_drop: Option<i64>,
    /// Pages of `tcp_mem` in use at the top (`/proc/net/sockstat`).
    pub tcp_mem_pages: Option<u64>,
    /// The server workers' memory change.
    pub servers: UserMem,
    /// The client workers' memory change.
    pub clients: UserMem,
}

/// Caches that grow only because something reads /proc/*/fd of every
/// process (this machine has such a scanner): shown as their own rows,
/// never counted in the per-socket cost.
pub const PROC_SCAN_CACHES: [&str; 1] = ["proc_inode_cache"];

/// Caches that both the sockets and a /proc/*/fd scanner grow, one object
/// per inode each: a socket's file gets a pseudo dentry
/// (`alloc_file_pseudo`, `fs/file_table.c`) and every inode, a socket's or
/// a /proc fd entry's, an LSM blob (`security_inode_alloc`,
/// `security/security.c`); a /proc/PID/fd/N lookup instantiates one proc
/// inode and one dentry (`proc_fd_instantiate`, `fs/proc/fd.c`). Measured
/// at 1M connections: 3,953,502 new dentries for 1,999,998 TCP sockets and
/// 1,953,476 new proc inodes (sum 3,953,474).
pub const PROC_SCAN_SHARED: [&str; 2] = ["dentry", "lsm_inode_cache"];

/// The /proc scanner's part of the slab change: all of
/// [`PROC_SCAN_CACHES`], and of each [`PROC_SCAN_SHARED`] cache one object
/// per new proc inode, at that cache's average bytes per object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcScan {
    /// Proc inodes the change added (objects of [`PROC_SCAN_CACHES`]).
    pub inodes: i64,
}

impl ProcScan {
    /// From each changed cache's name and object change.
    pub fn of<'a>(caches: impl IntoIterator<Item = (&'a str, i64)>) -> Self {
        let inodes = caches
            .into_iter()
            .filter(|(name, _)| PROC_SCAN_CACHES.contains(name))
            .map(|(_, objects)| objects.max(0))
            .sum();
        Self { inodes }
    }

    /// Whether the whole cache is the scanner's ([`PROC_SCAN_CACHES`]).
    pub fn whole(name: &str) -> bool {
        PROC_SCAN_CACHES.contains(&name)
    }

    /// The scanner's objects and bytes of one cache's change (`objects`,
    /// `bytes`): all of a scanner cache (grown or shrunk), a share of a
    /// shared one that grew, none of the others.
    pub fn share(&self, name: &str, objects: i64, bytes: i64) -> (i64, i64) {
        if Self::whole(name) {
            (objects, bytes)
        } else if objects <= 0 || bytes <= 0 {
            (0, 0)
        } else if PROC_SCAN_SHARED.contains(&name) {
            let n = self.inodes.min(objects);
            (n, (bytes as i128 * n as i128 / objects as i128) as i64)
        } else {
            (0, 0)
        }
    }
}

impl Memory {
    /// The /proc scanner's part of [`Memory::slab_caches`].
    pub fn proc_scan(&self) -> ProcScan {
        ProcScan::of(
            self.slab_caches
                .iter()
                .map(|c| (c.name.as_str(), c.objects)),
        )
    }

    /// Kernel slab bytes per socket: every cache's change (or meminfo's
    /// Slab change without slabinfo), less the /proc scanner's part
    /// ([`ProcScan`]), over the sockets.
    pub fn kernel_per_socket(&self) -> Option<f64> {
        let total = self.slab_caches_total.or(self.meminfo_slab)?;
        let scan = self.proc_scan();
        let scan: i64 = self
            .slab_caches
            .iter()
            .map(|c| scan.share(&c.name, c.objects, c.bytes).1)
            .sum();
        (self.sockets > 0).then(|| (total - scan) as f64 / self.sockets as f64)
    }
}

/// How one slab cache changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlabRow {
    /// The cache's name (`/proc/slabinfo`), or `other` for the folded
    /// tail.
    pub name: String,
    /// Change in active objects.
    pub objects: i64,
    /// Change in memory held, bytes.
    pub bytes: i64,
}

/// How a group of workers' memory changed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserMem {
    /// Summed RSS change, bytes.
    pub rss: i64,
    /// Summed PSS change, bytes, where `smaps_rollup` was readable.
    pub pss: Option<i64>,
    /// RSS change per connection held, bytes.
    pub rss_per_conn: Option<f64>,
    /// TLS only: how much the workers' heap grew from when they were
    /// ready to the top, bytes, by the allocator's own count (glibc's
    /// mallinfo2(3): chunks in use). Their tables are made before, so
    /// this is what their connections allocated: each TLS connection's
    /// rustls state (keys, buffers, what is left of the handshake).
    /// Absent without TLS, or where unreadable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_heap: Option<i64>,
    /// TLS only: the TLS connections the workers held at the top, whose
    /// state `tls_heap` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_conns: Option<u64>,
    /// WebSocket only: what the workers' WebSocket layer held at the top,
    /// bytes (each connection's tungstenite context and buffers), counted
    /// by c1m's allocator as that layer's code allocated and freed, in
    /// glibc's chunk sizes. With TLS under it, `tls_heap` is the heap's
    /// growth less this. Absent without WebSocket, or where unreadable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ws_heap: Option<i64>,
    /// WebSocket only: the connections upgraded and held at the top, whose
    /// state `ws_heap` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ws_conns: Option<u64>,
}

impl UserMem {
    /// User memory of TLS state per TLS connection, bytes (heap growth
    /// over TLS connections held).
    pub fn tls_per_conn(&self) -> Option<f64> {
        let (heap, n) = (self.tls_heap?, self.tls_conns?);
        (n > 0).then(|| heap as f64 / n as f64)
    }

    /// User memory of WebSocket state per upgraded connection, bytes.
    pub fn ws_per_conn(&self) -> Option<f64> {
        let (heap, n) = (self.ws_heap?, self.ws_conns?);
        (n > 0).then(|| heap as f64 / n as f64)
    }
}
