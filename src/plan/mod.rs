//! The address planner: how N connections are spread over sources,
//! destinations and worker processes, or why they cannot be.
//!
//! Pure arithmetic, no I/O: the kernel facts it needs (local port range,
//! per-process descriptor budget) come in as numbers.
//!
//! A connection is a 4-tuple. The client side of one (source address,
//! destination address, destination port) *pair* can use each local port
//! once, so a pair holds at most `local_ports` connections; with
//! `IP_BIND_ADDRESS_NO_PORT` (or no bind at all) a port is reused across
//! pairs, so the client side holds `sources × destinations × ports`.
//! A plain `bind(ip, 0)` instead takes the port for the source address
//! whatever the destination: `sources × ports`.
//!
//! Linux picks connect() ports by scanning ports of one parity first
//! (`__inet_hash_connect`, net/ipv4/inet_hashtables.c); once a pair has
//! used about half the range, every further connect() scans the whole used
//! half first and becomes an order of magnitude slower. So the planner
//! keeps every pair at or under `pair_budget` (half the range by default)
//! and warns when it cannot.

pub mod addr;
pub mod netns;
pub mod shard;

use std::net::{IpAddr, SocketAddr};
use std::ops::Range;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use addr::AddrError;

/// How client sockets get their source address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum BindMode {
    /// No bind: the kernel picks the source address and port at connect().
    None,
    /// `IP_BIND_ADDRESS_NO_PORT` + `bind(ip, 0)`: the port is picked at
    /// connect() time per pair.
    NoPort,
    /// Plain `bind(ip, 0)`: one port per source address, whatever the
    /// destination.
    Plain,
    /// `IP_LOCAL_PORT_RANGE` (Linux 6.3+): each client worker gets its own
    /// slice of the local port range (sources, if any, bound as no-port),
    /// so workers never search the same ports.
    Range,
}

/// What to plan.
#[derive(Debug, Clone)]
pub struct Request {
    /// Connections wanted.
    pub conns: u64,
    /// Client source addresses; empty means one, chosen by the kernel.
    pub sources: Vec<IpAddr>,
    /// How sources are bound (ignored when `sources` is empty).
    pub bind: BindMode,
    /// Every destination (address, port).
    pub endpoints: Vec<SocketAddr>,
    /// Usable local ports per pair (`ip_local_port_range` size less
    /// reserved ports).
    pub local_ports: u64,
    /// The local port range itself, for messages.
    pub port_range: (u16, u16),
    /// At most this many connections per pair before connect() slows.
    pub pair_budget: u64,
    /// Connections one client worker may hold.
    pub client_per_worker: u64,
    /// Connections one server worker may hold; `None` when the servers are
    /// not c1m's (connecting to nginx, say).
    pub server_per_worker: Option<u64>,
    /// Plan even past the 4-tuple capacity (a warning instead of a
    /// refusal), to watch the kernel refuse (EADDRNOTAVAIL).
    pub force: bool,
}

/// One client worker's share: the global connection indices it opens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientShare {
    /// The first global connection index it opens.
    pub first: u64,
    /// How many it opens.
    pub count: u64,
    /// With [`BindMode::Range`]: the local ports it may use.
    pub ports: Option<(u16, u16)>,
}

/// One server worker's share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerShare {
    /// Indices into [`Plan::endpoints`] this worker listens on.
    pub endpoints: Vec<usize>,
    /// Whether it shares them with other workers through `SO_REUSEPORT`.
    pub reuse_port: bool,
    /// Connections it is planned to hold.
    pub expected: u64,
}

/// Where every connection goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Connections planned.
    pub conns: u64,
    /// Client source addresses; empty: the kernel picks.
    pub sources: Vec<IpAddr>,
    /// How client sockets are bound to their source address.
    pub bind: BindMode,
    /// Every destination (address, port).
    pub endpoints: Vec<SocketAddr>,
    /// (source, destination) pairs: `max(sources, 1) × endpoints`.
    pub pairs: u64,
    /// The most connections any one pair carries.
    pub per_pair_max: u64,
    /// What the 4-tuple space holds for these sources and destinations.
    pub capacity: u64,
    /// The arithmetic behind `capacity`, in words.
    pub capacity_why: String,
    /// One share per client worker process.
    pub clients: Vec<ClientShare>,
    /// One share per server worker process (empty when the servers are
    /// not c1m's).
    pub servers: Vec<ServerShare>,
    /// Things that will work but not well.
    pub warnings: Vec<String>,
}

/// Why a plan was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// [`Request::conns`] is 0.
    #[error("-n must be at least 1")]
    Zero,
    /// [`Request::endpoints`] is empty.
    #[error("no destination to connect to")]
    NoEndpoints,
    /// A per-worker budget ([`Request::client_per_worker`] or
    /// [`Request::server_per_worker`]) is 0.
    #[error("a worker must be able to hold at least one connection")]
    NoWorkerRoom,
    /// More connections than the 4-tuple space holds (without
    /// [`Request::force`]), or, with [`BindMode::Range`], than the client
    /// workers' port slices hold. Every field is text for the message.
    #[error(
        "{conns} connections do not fit: the 4-tuple space holds {capacity} = {why}; fix: {fix}"
    )]
    TooMany {
        /// The connections asked for, with thousands separators.
        conns: String,
        /// What fits, with thousands separators.
        capacity: String,
        /// The arithmetic behind `capacity`, in words.
        why: String,
        /// What to change: more pairs, a wider `ip_local_port_range`, or
        /// another bind mode.
        fix: String,
    },
}

use c1m_limits::num::plural;
/// Formats a count with thousands separators: `1,000,000`.
pub use c1m_limits::num::thousands;

/// The (source, endpoint) that global connection index `i` uses: index `i`
/// goes to pair `i mod pairs`; pair `f` is source `f mod sources` and
/// endpoint `f / sources`.
pub fn pair_of(i: u64, sources: u64, pairs: u64) -> (usize, usize) {
    let f = i % pairs;
    ((f % sources) as usize, (f / sources) as usize)
}

fn count_in_pair(conns: u64, pairs: u64, f: u64) -> u64 {
    conns / pairs + u64::from(f < conns % pairs)
}

fn ceil_div(a: u64, b: u64) -> u64 {
    a.div_ceil(b.max(1))
}

/// Plans `req`, or says why it cannot be done.
pub fn plan(req: &Request) -> Result<Plan, PlanError> {
    if req.conns == 0 {
        return Err(PlanError::Zero);
    }
    if req.endpoints.is_empty() {
        return Err(PlanError::NoEndpoints);
    }
    if req.client_per_worker == 0 || req.server_per_worker == Some(0) {
        return Err(PlanError::NoWorkerRoom);
    }
    let n_src = req.sources.len().max(1) as u64;
    let n_ep = req.endpoints.len() as u64;
    let pairs = n_src * n_ep;
    let (lo, hi) = req.port_range;
    let ports = format!("{} local ports ({lo}-{hi})", thousands(req.local_ports));
    let src_words = if req.sources.is_empty() {
        "1 source address (the kernel's choice)".to_string()
    } else {
        plural(n_src, "source address", "source addresses")
    };
    let (capacity, why) = if req.bind == BindMode::Plain && !req.sources.is_empty() {
        (
            n_src * req.local_ports,
            format!(
                "{src_words} × {ports}, since a plain bind(ip, 0) takes a port for the source address whatever the destination"
            ),
        )
    } else {
        (
            pairs * req.local_ports,
            format!(
                "{src_words} × {} × {ports}",
                plural(n_ep, "destination", "destinations")
            ),
        )
    };
    let mut warnings = Vec::new();
    if req.conns > capacity {
        let wider = 65535 - 1024 + 1;
        let fix = if req.bind == BindMode::Plain && !req.sources.is_empty() {
            "use --bind-mode no-port, which shares ports across destinations".to_string()
        } else {
            let need_pairs = ceil_div(req.conns, req.local_ports);
            format!(
                "spread over at least {} (source, destination) pairs (more --sources or destinations), or widen the local port range: sysctl -w net.ipv4.ip_local_port_range=\"1024 65535\" (holds {})",
                thousands(need_pairs),
                thousands(pairs * wider),
            )
        };
        let refusal = PlanError::TooMany {
            conns: thousands(req.conns),
            capacity: thousands(capacity),
            why: why.clone(),
            fix,
        };
        if !req.force {
            return Err(refusal);
        }
        warnings.push(format!("--force: {refusal}"));
    }
    let per_pair_max = count_in_pair(req.conns, pairs, 0);
    if per_pair_max > req.pair_budget {
        warnings.push(format!(
            "each (source, destination) pair carries up to {} connections, over the {} (half the local port range) past which connect() slows down sharply; add --sources or destinations to spread them",
            thousands(per_pair_max),
            thousands(req.pair_budget)
        ));
    }
    let mut clients = split(req.conns, ceil_div(req.conns, req.client_per_worker));
    if req.bind == BindMode::Range {
        slice_ports(&mut clients, req, pairs)?;
    }
    let servers = match req.server_per_worker {
        Some(cap) => assign_servers(&endpoint_loads(req.conns, n_src, n_ep), cap),
        None => Vec::new(),
    };
    Ok(Plan {
        conns: req.conns,
        sources: req.sources.clone(),
        bind: match req.bind {
            BindMode::Range => BindMode::Range,
            _ if req.sources.is_empty() => BindMode::None,
            b => b,
        },
        endpoints: req.endpoints.clone(),
        pairs,
        per_pair_max,
        capacity,
        capacity_why: why,
        clients,
        servers,
        warnings,
    })
}

/// Gives every client worker its own slice of the local port range, and
/// checks each worker's share of a pair fits in its slice.
fn slice_ports(clients: &mut [ClientShare], req: &Request, pairs: u64) -> Result<(), PlanError> {
    let (lo, hi) = req.port_range;
    let size = u64::from(hi - lo) + 1;
    let workers = clients.len() as u64;
    let slice = size / workers;
    let need = clients
        .iter()
        .map(|c| c.count.div_ceil(pairs))
        .max()
        .unwrap_or(0);
    if slice == 0 || need > slice {
        return Err(PlanError::TooMany {
            conns: thousands(req.conns),
            capacity: thousands(slice * pairs * workers),
            why: format!(
                "{} client workers × {} pairs × a slice of {} ports each ({lo}-{hi} split {} ways), and a worker needs up to {} ports per pair",
                thousands(workers),
                thousands(pairs),
                thousands(slice),
                thousands(workers),
                thousands(need)
            ),
            fix: "use --bind-mode no-port, or more destinations or sources".into(),
        });
    }
    for (w, c) in clients.iter_mut().enumerate() {
        let start = u64::from(lo) + w as u64 * slice;
        c.ports = Some((start as u16, (start + slice - 1) as u16));
    }
    Ok(())
}

/// How many of `conns` connections each of `endpoints` endpoints gets when
/// they are spread over `sources` sources by [`pair_of`].
pub fn endpoint_loads(conns: u64, sources: u64, endpoints: u64) -> Vec<u64> {
    let sources = sources.max(1);
    let pairs = sources * endpoints;
    (0..endpoints)
        .map(|e| {
            (0..sources)
                .map(|s| count_in_pair(conns, pairs, e * sources + s))
                .sum()
        })
        .collect()
}

/// Splits `total` into `parts` contiguous shares differing by at most one.
fn split(total: u64, parts: u64) -> Vec<ClientShare> {
    let parts = parts.max(1);
    let mut first = 0;
    (0..parts)
        .map(|p| {
            let count = total / parts + u64::from(p < total % parts);
            let share = ClientShare {
                first,
                count,
                ports: None,
            };
            first += count;
            share
        })
        .collect()
}

/// How full a worker sharing a port through `SO_REUSEPORT` is planned to
/// be: the kernel hashes connections across the group, so each member gets
/// its share give or take a few standard deviations.
pub const REUSEPORT_FILL: f64 = 0.85;

/// How many workers of `cap` connections each share listeners to hold
/// `load`: one when it fits in one (no `SO_REUSEPORT`), else enough that
/// each is planned [`REUSEPORT_FILL`] full, so the kernel's uneven hash
/// leaves every one within its descriptors.
pub fn reuseport_group(load: u64, cap: u64) -> u64 {
    if load <= cap {
        return 1;
    }
    ceil_div(load, ((cap as f64 * REUSEPORT_FILL) as u64).max(1))
}

/// Gives every endpoint to server workers of `cap` connections each: an
/// endpoint busier than one worker is shared by a `SO_REUSEPORT` group;
/// lighter endpoints are packed several to a worker.
pub fn assign_servers(loads: &[u64], cap: u64) -> Vec<ServerShare> {
    let mut out: Vec<ServerShare> = Vec::new();
    let mut open: Option<ServerShare> = None;
    for (e, &load) in loads.iter().enumerate() {
        if load > cap {
            let group = reuseport_group(load, cap);
            for g in 0..group {
                out.push(ServerShare {
                    endpoints: vec![e],
                    reuse_port: true,
                    expected: load / group + u64::from(g < load % group),
                });
            }
            continue;
        }
        match &mut open {
            Some(w) if w.expected + load <= cap => {
                w.endpoints.push(e);
                w.expected += load;
            }
            _ => {
                if let Some(w) = open.take() {
                    out.push(w);
                }
                open = Some(ServerShare {
                    endpoints: vec![e],
                    reuse_port: false,
                    expected: load,
                });
            }
        }
    }
    out.extend(open);
    out
}

/// How many endpoints a loopback experiment wants so that `conns` spread
/// over `servers` workers keep every pair within `pair_budget`: a
/// multiple of the worker count, so each worker holds whole endpoints.
pub fn loopback_endpoints(
    conns: u64,
    sources: u64,
    server_per_worker: u64,
    pair_budget: u64,
) -> u64 {
    let workers = ceil_div(conns, server_per_worker);
    let per_worker = ceil_div(conns, workers);
    let per_endpoint_max = pair_budget.max(1) * sources.max(1);
    workers * ceil_div(per_worker, per_endpoint_max)
}

/// The half of a local port range past which connect() slows (see the
/// module docs): [`c1m_limits::ports::pair_budget`], the one definition the
/// doctor reports too.
pub fn default_pair_budget(local_ports: u64) -> u64 {
    c1m_limits::ports::pair_budget(local_ports)
}

impl ClientShare {
    /// The global connection indices of this share, `first..first + count`
    /// (half-open).
    pub fn range(&self) -> Range<u64> {
        self.first..self.first + self.count
    }
}

impl Plan {
    /// The same plan with its connection indices starting at `first`
    /// instead of 0: a shard's part of a whole ([`shard::Shard::offset`]),
    /// so that its connections take the (source, destination) pairs the
    /// whole would have given them, and N shards together spread over the
    /// endpoints exactly as one run of the whole would.
    pub fn starting_at(mut self, first: u64) -> Self {
        for c in &mut self.clients {
            c.first += first;
        }
        self
    }
}

#[cfg(test)]
mod recipes_tests;
#[cfg(test)]
mod tests;
