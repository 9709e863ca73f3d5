//! The report's data: everything an experiment found, as one typed
//! document. The session builds a [`Report`]; it is written as JSON
//! (`--json`, tag [`SCHEMA`]), read back with serde, and rendered by the
//! text summary and the HTML page from the same rows. The JSON Schema
//! (`schema/report.schema.json`) is generated from these types
//! (`schemars`), so the published format cannot drift from the code: a
//! test compares the committed schema with the generated one.
//!
//! Units are in the names or the docs: counts are connections (or
//! sockets, where it says so), times in seconds unless a field ends in
//! `_us` (microseconds), memory in bytes.
//!
//! **Invariant:** data only. Nothing here reads the machine or formats
//! text; the session fills it, the renderers read it.

use std::net::SocketAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

mod memory;

use crate::cause::CauseCounts;
use crate::latency::{Encoded, Percentiles};
use crate::plan::Plan;
use crate::plan::shard::Shard;
use crate::stages::backoff::Reconnect;
use crate::threshold::{Threshold, Trip, Unit};

pub use super::staged::{ServerClose, StageResult, StagesReport};
use crate::traffic::Mode;
use crate::wire::Stats;
pub use memory::{Memory, PROC_SCAN_CACHES, PROC_SCAN_SHARED, ProcScan, SlabRow, UserMem};

/// The version of the JSON report; bumped on any incompatible change.
pub const SCHEMA: &str = "c1m.report/3";

/// One experiment's report (`c1m.report/3`), or several shards' merged
/// into one (`c1m merge`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// The format's name and version: `c1m.report/3`.
    pub schema: String,
    /// The command that ran.
    pub command: CommandKind,
    /// The experiment's name as shown: the topology of `run`
    /// (`spread`, `many-ips`, `many-ports`), `serve`, `connect`,
    /// `find-limit`, or `lab many-ips` / `lab many-ports`.
    pub label: String,
    /// Where and when it ran: what `c1m merge` aligns and groups by.
    pub origin: Origin,
    /// The shards a merged report was made of, in shard order; null for
    /// one run.
    pub merged: Option<Vec<ShardSummary>>,
    /// Where every connection was planned to go (merged: every shard's
    /// plan together).
    pub plan: Plan,
    /// Connections asked for (`-n`); for `serve`, its cap (`--max-conns`).
    pub target: u64,
    /// How many were held: at the top, at the end, at the lowest.
    pub held: Held,
    /// Seconds from the first connect() to the last handshake ending;
    /// null when the ramp did not finish.
    pub time_to_reach: Option<f64>,
    /// The kernel's own counts of the experiment's sockets.
    pub kernel: KernelCounts,
    /// What the server side holds, when its listeners are visible from
    /// here.
    pub server_side: ServerSide,
    /// Connections that exist only on the client; null when the server is
    /// not visible from here (only the client side can be seen).
    pub phantoms: Option<Phantoms>,
    /// Listen-queue and SYN-cookie counters of `/proc/net/netstat`
    /// (TcpExt), as changes over the experiment; null if unreadable.
    pub listen_counters: Option<ListenCounters>,
    /// Established connections the server closed, by how.
    pub closes: Closes,
    /// The client workers' counters at the end (after teardown).
    pub clients: Stats,
    /// The server workers' counters at the end (after teardown).
    pub servers: Stats,
    /// The client workers' counters at the top (the ramp's end).
    pub clients_at_top: Stats,
    /// The server workers' counters at the top (the ramp's end).
    pub servers_at_top: Stats,
    /// What the connections cost, between the baseline and the top; null
    /// when nothing was measured (the experiment ended before).
    pub memory: Option<Memory>,
    /// What the connections did besides being held; null for `serve`.
    pub traffic: Option<TrafficSummary>,
    /// Latency over the whole experiment.
    pub latency: LatencyReport,
    /// What a capacity search (`--find-limit`) found; null otherwise.
    pub find_limit: Option<FindLimit>,
    /// TLS on the connections (`--tls`); absent without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<super::tls::TlsReport>,
    /// WebSocket on the connections (`--websocket`); absent without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub websocket: Option<super::tls::WsReport>,
    /// Samples about four times a second.
    pub timeline: Vec<Sample>,
    /// Seconds the teardown took.
    pub teardown: f64,
    /// The worker processes.
    pub workers: Workers,
    /// How the experiment ended.
    pub end: End,
    /// The thresholds of `--fail-if`, each judged at the end, in the
    /// order given; absent without any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<ThresholdResult>,
    /// The stages (`--stages`, `--ramp-up`, `--ramp-down`) and whether
    /// each was met; absent without any. With stages, `target` is the
    /// last stage's and `plan.conns` the largest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<StagesReport>,
    /// How lost connections were reopened (`--reconnect`); absent
    /// without it. The reopens are `clients.reconnects`, by cause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconnect: Option<Reconnect>,
    /// The closes c1m's servers made on `--close-fraction`, in order;
    /// absent without any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub server_closes: Vec<ServerClose>,
    /// Whether it did what was asked, and the exit code that says so.
    pub verdict: Verdict,
}

/// One `--fail-if` threshold, judged on the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThresholdResult {
    /// The threshold, `METRIC OP VALUE` as given (`held<99.9%`,
    /// `p99(rtt)>50ms`, `errors>0.1%`, `connect_rate<20k/s`): the run
    /// fails when it is true.
    #[schemars(with = "String")]
    pub threshold: Threshold,
    /// Whether the run passed it.
    pub status: ThresholdStatus,
    /// The figure judged, in `unit`; null when it was not measured.
    pub value: Option<f64>,
    /// The threshold's own number, in `unit`.
    pub limit: f64,
    /// The unit of `value` and `limit`.
    pub unit: Unit,
    /// The figure in words, with where it comes from.
    pub figure: String,
    /// The exit code its failure gives: 3 held (held, reached, min_held),
    /// 4 latency, 5 failures (errors, closes, lost, phantoms), 6 the
    /// ramp's pace (connect_rate, ramp_time).
    pub exit_code: u8,
    /// When `--abort-on-fail` ended the experiment on it: the instant and
    /// the figure then (the workers' count); null otherwise.
    pub tripped: Option<Trip>,
}

/// How a threshold was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ThresholdStatus {
    /// Its comparison was false at the end, and it never tripped.
    Pass,
    /// Its comparison was true at the end, or it tripped during the run.
    Fail,
    /// Its figure was not measured in this run (latency without
    /// heartbeats, a ramp that never finished, a server not visible):
    /// a failure too, since nothing shows it passed.
    NotMeasured,
}

/// Where and when a report was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Origin {
    /// c1m's version (`c1m --version`).
    pub version: String,
    /// The host name (uname(2) node name, as `uname -n`); for a merged
    /// report, the hosts' names joined by commas.
    pub host: String,
    /// The node whose kernel the memory figures were read on: `NODE_NAME`
    /// when set (Kubernetes' downward API, `spec.nodeName`), else the host
    /// name.
    pub node: String,
    /// The running kernel's boot ID (`/proc/sys/kernel/random/boot_id`):
    /// shards with one boot ID ran on one kernel and share its slab, its
    /// memory figures are counted once; null if unreadable.
    pub kernel: Option<String>,
    /// The network namespace c1m ran in: the inode of `/proc/self/ns/net`
    /// (stat(2)'s `st_ino`; `readlink` shows it as `net:[INODE]`, see
    /// namespaces(7)). On one kernel, shards with one inode shared a
    /// network namespace and its endpoints' counts are taken once;
    /// `ip netns exec` hosts share a host name but not this. Absent when
    /// unreadable, in a report of an older c1m, and in a merged report of
    /// shards in more than one namespace; `c1m merge` then tells
    /// namespaces apart by host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<u64>,
    /// This run's shard (`--shard I/N`, or Slurm's array variables); null
    /// when it ran whole.
    pub shard: Option<Shard>,
    /// When the timeline's `t = 0` was, Unix seconds (UTC, wall clock):
    /// merged timelines are aligned on it.
    pub started_at: f64,
    /// The instant the ramp was told to wait for (`--start-at`), Unix
    /// seconds; null without it.
    pub start_at: Option<f64>,
    /// When the first connect() of the ramp was due, Unix seconds;
    /// `time_to_reach` counts from here. Null when no ramp began.
    pub ramp_started_at: Option<f64>,
    /// The network namespace `c1m run` held its sockets in, made for the
    /// run; null when they were in c1m's own (`--host-netns`, or no
    /// namespace could be made), for other commands, and in reports
    /// made before it existed (then absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_netns: Option<RunNetnsReport>,
}

/// The network namespace a run held its sockets in
/// (`c1m-run-<supervisor pid>`), and its established hash table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunNetnsReport {
    /// Its name, as `ip netns` lists it (`c1m-run-4242`).
    pub name: String,
    /// Buckets asked for: the host's `net.ipv4.tcp_child_ehash_entries`
    /// while it was created (the power of two ≥ 2 × sockets, ≤ 2^24).
    pub planned_buckets: u64,
    /// Buckets its table has: `net.ipv4.tcp_ehash_entries` read inside
    /// (absolute value); null if unreadable.
    pub buckets: Option<u64>,
    /// Whether the table is its own; false when the kernel could not
    /// allocate one and fell back to the host's (the sysctl reads
    /// negative inside); null if unreadable.
    pub own_table: Option<bool>,
}

/// One shard of a merged report, as its own report judged it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShardSummary {
    /// The file it was read from.
    pub file: String,
    /// Its shard; null for a report that ran whole.
    pub shard: Option<Shard>,
    /// Its host.
    pub host: String,
    /// Its node.
    pub node: String,
    /// Connections it was asked for.
    pub target: u64,
    /// The most it held at once.
    pub reached: u64,
    /// What it held at the end of the hold.
    pub held_at_end: u64,
    /// Its own verdict.
    pub verdict: Verdict,
}

/// The command that made a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CommandKind {
    /// `c1m run`: both fleets on this machine.
    Run,
    /// `c1m serve`: servers only.
    Serve,
    /// `c1m connect`: clients only, to any server.
    Connect,
    /// `c1m connect --find-limit`: a capacity search.
    FindLimit,
    /// `c1m lab run`: both fleets across the lab's network namespaces.
    LabRun,
}

/// Where a count came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CountSource {
    /// The kernel's state of each of c1m's own sockets (getsockopt
    /// `TCP_INFO`, asked by the worker holding it).
    Kernel,
    /// The workers' own counters (the kernel count was unavailable).
    Workers,
}

/// How many connections were held: c1m's own, never another process's
/// to the same targets. For `serve`, the server side's figures;
/// otherwise the client side's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Held {
    /// The most held at once on the client: the highest summed count of
    /// the timeline's samples (the workers' own count of connections
    /// whose handshake completed and whose close they had not yet seen,
    /// every 250 ms), or the kernel's count of c1m's own sockets at the
    /// top or the end, or the most one worker held at once between its
    /// reports (`clients.peak`), if higher. A lower bound: with several
    /// workers, a peak between two samples (a server resetting every
    /// connection at once) can be missed, and the summary then says so. A server that accepts and closes, or never accepts,
    /// shows here until the close arrives: `at_end` and the verdict say
    /// what the server held.
    ///
    /// Merged (`c1m merge`): the highest sum, on the wall-clock-aligned
    /// timeline, of each shard's sample in force at one instant, or one
    /// shard's own `reached`, or `at_end`, if higher; never the sum of the
    /// shards' peaks.
    pub reached: u64,
    /// Held at the end of the hold: c1m's own sockets in ESTABLISHED, by
    /// the kernel's state of each (`kernel.at_end.client_own`, or
    /// `server_own` for `serve`); a connection the server closed is in
    /// CLOSE-WAIT, not held.
    ///
    /// Merged: when the shards' holds overlapped, their own counts at the
    /// end summed. When they did not (a shard's hold began after another's
    /// connections were closed; the verdict then fails), the most held at
    /// once at the end of any one shard's hold: that shard's own count
    /// plus the samples in force then of the shards still in their hold
    /// (`source` is then `workers` if any were added).
    pub at_end: u64,
    /// Where `at_end` came from.
    pub source: CountSource,
    /// The fewest held in any sample of the hold; null without a hold.
    /// Merged: the fewest held at once while every shard was in its hold
    /// (their common hold); null when there was none.
    pub min_during_hold: Option<u64>,
}

/// The kernel's counts at the top and at the end of the hold
/// ([`KernelCount`]: c1m's own sockets, and everyone's on the endpoints).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KernelCounts {
    /// Once the ramp ended and the servers caught up.
    pub at_top: KernelCount,
    /// At the end of the hold, before teardown.
    pub at_end: KernelCount,
}

/// One count of the experiment's sockets, in two readings of the kernel
/// taken one after the other: c1m's own sockets, each asked its state by
/// the worker holding it (getsockopt `TCP_INFO`, tcp(7); the clients',
/// then the servers'), then every socket on the target endpoints,
/// whoever's, over netlink sock_diag (as `ss`), summed over the network
/// namespaces the experiment used. (A stage's end that is not the top
/// reads both while the next stage begins: only c1m's count is of it.)
///
/// What is held comes from the first: another process's connections to
/// the same targets (another c1m, a browser, other clients of one nginx)
/// are in the second only. The second shows the server side and the
/// connections only the client has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "status", rename_all = "kebab-case", deny_unknown_fields)]
pub enum KernelCount {
    /// Counted.
    Counted {
        /// c1m's client sockets in ESTABLISHED: every socket its client
        /// workers hold, asked its state (getsockopt `TCP_INFO`). No
        /// other process's. Held counts from this.
        client_own: u64,
        /// c1m's client sockets in CLOSE-WAIT: the server closed, the
        /// worker had not yet (not held).
        client_own_close_wait: u64,
        /// c1m's client sockets in any other state: handshakes under way
        /// (SYN-SENT), closing.
        client_own_other: u64,
        /// c1m's server sockets in ESTABLISHED: the connections its server
        /// workers accepted and hold (`serve`'s held counts from this).
        server_own: u64,
        /// CPU seconds the workers spent asking their sockets' states,
        /// summed over workers (each worker's thread CPU clock).
        own_took: f64,
        /// ESTABLISHED sockets whose local address and port is a target
        /// endpoint, whoever's (accepted or in an accept queue): the
        /// server side, when the server is on this host (netlink).
        server_side: u64,
        /// ESTABLISHED sockets whose remote address and port is a target
        /// endpoint, whoever's: c1m's and any other process's client side
        /// in the namespaces counted (netlink).
        client_side: u64,
        /// Sockets in CLOSE-WAIT whose remote address and port is a target
        /// endpoint, whoever's (netlink).
        client_close_wait: u64,
        /// Seconds the netlink count took.
        took: f64,
    },
    /// The count failed.
    Unavailable {
        /// Why, in one line.
        reason: String,
    },
    /// Not taken: the experiment ended before this point.
    NotTaken,
}

impl KernelCount {
    /// `(server_side, client_side)` on the endpoints, whoever's
    /// (netlink), when counted.
    pub fn sides(&self) -> Option<(u64, u64)> {
        match self {
            KernelCount::Counted {
                server_side,
                client_side,
                ..
            } => Some((*server_side, *client_side)),
            _ => None,
        }
    }

    /// `(server_own, client_own)`: c1m's own ESTABLISHED sockets, when
    /// counted.
    pub fn own(&self) -> Option<(u64, u64)> {
        match self {
            KernelCount::Counted {
                server_own,
                client_own,
                ..
            } => Some((*server_own, *client_own)),
            _ => None,
        }
    }

    /// ESTABLISHED sockets on the endpoints that are not c1m's, on the
    /// side c1m counts as held: for `serve` the server side (another
    /// server sharing the port, connections still in an accept queue),
    /// otherwise the client side (other processes connected to the same
    /// targets). `None` when not counted.
    ///
    /// The two readings are not of one instant (c1m's own first): c1m's
    /// own handshakes under way (`client_own_other`, SYN-SENT when asked)
    /// may be ESTABLISHED by the time netlink reads, so they are not
    /// counted as others' (mid-ramp, after a Ctrl-C).
    pub fn others(&self, command: CommandKind) -> Option<u64> {
        let (server_side, client_side) = self.sides()?;
        let (server_own, client_own) = self.own()?;
        let in_flight = match self {
            KernelCount::Counted {
                client_own_other, ..
            } => *client_own_other,
            _ => 0,
        };
        Some(match command {
            CommandKind::Serve => server_side.saturating_sub(server_own),
            _ => client_side.saturating_sub(client_own + in_flight),
        })
    }

    /// Whether c1m's own ESTABLISHED sockets on a side outnumber
    /// everyone's on it: the readings, taken one after the other (c1m's
    /// own first), fell on connections closing in between. False when
    /// not counted.
    pub fn own_exceeds_all(&self) -> bool {
        match (self.own(), self.sides()) {
            (Some((server_own, client_own)), Some((server_side, client_side))) => {
                client_own > client_side || server_own > server_side
            }
            _ => false,
        }
    }

    /// The sockets c1m's connections are in the kernels counted: c1m's
    /// own on both sides, and the other end of each of them when it is in
    /// a namespace counted but not c1m's (a local nginx's accepted socket
    /// for a c1m client; a local client's socket for `c1m serve`), at
    /// most one per own connection. `None` when not counted.
    pub fn own_sockets(&self) -> Option<u64> {
        let (server_side, client_side) = self.sides()?;
        let (server_own, client_own) = self.own()?;
        let peers_of_clients = client_own.min(server_side.saturating_sub(server_own));
        let peers_of_servers = server_own.min(client_side.saturating_sub(client_own));
        Some(client_own + server_own + peers_of_clients + peers_of_servers)
    }
}

/// Whether the server's listeners can be seen from where c1m counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Seen {
    /// A listener for a target endpoint is in c1m's network namespace (or
    /// the lab's): server-side figures are the kernel's.
    Local,
    /// No listener is visible: the server is on another host or in
    /// another network namespace, and only client-side figures exist.
    Remote,
}

/// The server side at the end of the hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerSide {
    /// Whether the server's listeners were visible.
    pub seen: Seen,
    /// ESTABLISHED sockets on a target endpoint, every client's (c1m's
    /// and any other's); null when remote.
    pub established: Option<u64>,
    /// Held by the server application: `established` less `waiting`,
    /// every client's; null when remote.
    pub accepted: Option<u64>,
    /// Connections complete in the kernel but still in the listeners'
    /// accept queues: the application has not called accept() for them.
    /// Null when remote.
    pub waiting: Option<u64>,
    /// The target endpoints' listeners.
    pub listeners: Vec<Listener>,
}

/// A listening socket of a target endpoint (sock_diag: for LISTEN
/// sockets the receive queue is the accept queue's length and the send
/// queue the backlog).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    /// The address and port it listens on (`0.0.0.0` for any).
    pub addr: SocketAddr,
    /// Connections waiting to be accepted.
    pub accept_queue: u32,
    /// The listen backlog: the accept queue's capacity.
    pub backlog: u32,
}

/// Connections the server never created: ESTABLISHED on the client,
/// absent on the server.
///
/// Counted on the endpoints' sockets (netlink), every process's: another
/// local client's connections to the same server are on both sides and
/// cancel out. Another host's clients of a local server are on its
/// server side only, so they can hide as many of c1m's (the count errs
/// low); another local client's own phantoms would count here too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Phantoms {
    /// Client-side ESTABLISHED to local targets less their server-side
    /// ESTABLISHED, at the end of the hold.
    pub count: u64,
    /// Why, from the listen counters, in one line; null when `count` is 0.
    pub cause: Option<String>,
    /// What to change, in one line; null when `count` is 0.
    pub fix: Option<String>,
    /// Client-side ESTABLISHED beyond the server side that were
    /// handshakes under way while the kernel was read, not connections
    /// the server never created: the listen counters were read and show
    /// no SYN cookie and no drop (SyncookiesSent, ListenOverflows,
    /// ListenDrops, the request queue's drops all +0) and no accept queue
    /// was full, so the server's kernel lost none (the client had the
    /// server's SYN-ACK; the server's side was finishing). Not in
    /// `count`; absent when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub under_way: u64,
}

/// Listen-queue counters (TcpExt of `/proc/net/netstat`), as changes
/// over the experiment.
pub use c1m_probe::netstat::ListenCounters;

/// Established connections the server closed, seen from the client.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Closes {
    /// A FIN with no data first (a server that accepts and closes: nginx
    /// past `worker_connections`), the handshake's end and the FIN in one
    /// event included.
    pub fin: u64,
    /// Data, then a FIN (Redis past `maxclients` writes its error first).
    pub fin_with_data: u64,
    /// A reset (RST) of an established connection.
    pub rst: u64,
    /// The first bytes a server sent on a connection it then closed, with
    /// unprintable bytes escaped (`\r\n`), at most 128 bytes; null if none.
    pub first_bytes: Option<String>,
}

impl Closes {
    /// Every close.
    pub fn total(&self) -> u64 {
        self.fin + self.fin_with_data + self.rst
    }
}

/// The traffic settings, in words a reader wants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrafficSummary {
    /// Idle, or heartbeats.
    pub mode: Mode,
    /// Between two messages on one connection, milliseconds.
    pub interval_ms: u64,
    /// The message, unprintable bytes escaped.
    pub message: String,
    /// What a reply must start with, escaped; null: any byte is a reply.
    pub expect: Option<String>,
    /// Heartbeats a second the schedule offered over every client
    /// connection planned (`--message-rate`, or the connections over
    /// `--interval`); absent without heartbeats, and in reports of older
    /// versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offered: Option<f64>,
}

/// Latency over the whole experiment, each in microseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LatencyReport {
    /// connect() to established.
    pub connect: Option<Percentiles>,
    /// TLS: established to the end of the TLS handshake (client side);
    /// absent without TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_handshake: Option<Percentiles>,
    /// WebSocket: the end of the layer below (TCP's or TLS's handshake)
    /// to the upgrade's 101 read whole (client side); absent without
    /// WebSocket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ws_upgrade: Option<Percentiles>,
    /// A heartbeat's scheduled send to the reply's first byte.
    pub first_byte: Option<Percentiles>,
    /// A heartbeat's scheduled send to its whole reply. Every scheduled
    /// send is one sample: sends skipped while a reply was outstanding are
    /// recorded when that reply comes, each from its own scheduled time;
    /// sends whose reply never came are recorded when c1m gave up on them
    /// (coordinated-omission-correct).
    pub rtt: Option<Percentiles>,
    /// Sends whose reply never came (the connection closed, the
    /// experiment ended, or the send failed); included in `rtt`.
    pub lost: u64,
    /// The histograms themselves, for exact merging (`c1m merge` adds
    /// them and reads percentiles off the sum, never averaging
    /// percentiles); null in a report that has none.
    pub histograms: Option<Encoded>,
}

/// Why a capacity search stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Limit {
    /// The ramp reached `-n` without breaking.
    NotReached,
    /// The latency objective was missed.
    Latency,
    /// The client ran out of local ports (EADDRNOTAVAIL).
    ClientPorts,
    /// The client ran out of descriptors (EMFILE, ENFILE).
    ClientFds,
    /// TCP memory pressure.
    Memory,
    /// The accept queue overflowed and SYNs were dropped: handshakes
    /// timed out or were refused.
    AcceptQueue,
    /// The server accepted some, then closed or reset the rest: its own
    /// cap (nginx `worker_connections`, Redis `maxclients`).
    ServerCap,
    /// The server closes every connection right after accepting it.
    ServerCloses,
    /// Connections wait in the accept queue: the application stopped
    /// calling accept() (stuck, or out of descriptors).
    NotAccepting,
    /// Connections exist only on the client: SYN cookies were answered
    /// while the accept queue was full.
    SynCookies,
    /// Connections refused outright (ECONNREFUSED).
    Refused,
    /// Handshakes timed out with no listen overflow counted here.
    Dropped,
    /// Something else.
    Other,
}

/// The diagnosis of a break.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Diagnosis {
    /// What broke.
    pub limit: Limit,
    /// One line: what broke, at how many, why, and what to do.
    pub explanation: String,
}

/// A latency objective missed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SloMiss {
    /// The objective, as written: `p99<50.0 ms`.
    pub objective: String,
    /// The value seen, microseconds.
    pub value_us: u64,
}

/// What the kernel and the workers saw up to a break.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// What the server application held of c1m's connections once the
    /// ramp settled after the break (the break point).
    pub held: u64,
    /// Client failures by cause.
    pub failed: CauseCounts,
    /// Established connections the server closed.
    pub closes: Closes,
    /// Connections in the target listeners' accept queues.
    pub waiting: u64,
    /// Connections that exist only on the client.
    pub phantoms: u64,
    /// Listen-queue counters over the ramp.
    pub counters: ListenCounters,
    /// The objective and the value seen, when latency broke it.
    pub slo_missed: Option<SloMiss>,
}

/// What a capacity search found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindLimit {
    /// What the server really held of c1m's connections at the break:
    /// c1m's own ESTABLISHED client sockets (`TCP_INFO`) less those waiting
    /// in the accept queues, and at most what the application accepted,
    /// when the server is visible; for a remote server, c1m's own
    /// ESTABLISHED client sockets.
    pub break_point: u64,
    /// The most held at once on the client side before the break (a
    /// server at its cap may close old connections to take new ones).
    pub peak: u64,
    /// The latency objective, as written (`p99<50.0 ms`); null if none.
    pub slo: Option<String>,
    /// Why it broke.
    pub diagnosis: Diagnosis,
    /// The readings behind the diagnosis.
    pub evidence: Evidence,
}

/// A phase of the experiment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Opening connections.
    #[default]
    Ramp,
    /// Holding them.
    Hold,
    /// Closing connections at the planned pace: a stage going down
    /// (`--stages`, `--ramp-down`).
    RampDown,
    /// Closing them.
    Teardown,
}

/// One point of the timeline.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sample {
    /// Seconds since the experiment started.
    pub t: f64,
    /// The phase it was taken in.
    pub phase: Phase,
    /// Connections the clients hold (their counters).
    pub established: u64,
    /// Connections c1m's servers hold (their counters); null when c1m
    /// ran no servers (`connect`: the server is someone else's).
    pub server_established: Option<u64>,
    /// Handshakes under way.
    pub connecting: u64,
    /// Failures so far, all causes, both sides.
    pub failed: u64,
    /// Established connections the server closed so far.
    pub closed: u64,
    /// `/proc/meminfo` MemAvailable, bytes.
    pub mem_available: Option<u64>,
    /// `/proc/meminfo` Slab, bytes.
    pub slab: Option<u64>,
    /// The workers' summed RSS, bytes.
    pub rss: Option<u64>,
    /// Heartbeats sent so far.
    pub sent: u64,
    /// Replies received so far.
    pub replies: u64,
    /// Round trips since the previous sample: median, microseconds.
    pub rtt_p50_us: Option<u64>,
    /// Round trips since the previous sample: 99th percentile, µs.
    pub rtt_p99_us: Option<u64>,
    /// Round trips since the previous sample: the longest, µs.
    pub rtt_max_us: Option<u64>,
    /// The stages' target then (`--stages`); absent without stages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<u64>,
    /// Connections reopened so far (`--reconnect`); absent without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconnects: Option<u64>,
    /// Connections waiting out their back-off then (`--reconnect`);
    /// absent without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retrying: Option<u64>,
}

impl Sample {
    /// What c1m's servers held: `server_established`, 0 without servers.
    pub fn servers(&self) -> u64 {
        self.server_established.unwrap_or(0)
    }
}

/// The worker processes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Workers {
    /// Started.
    pub started: u64,
    /// Closed when told to, with a final report.
    pub closed_cleanly: u64,
    /// Workers that died on their own, and how.
    pub lost: Vec<String>,
    /// Workers c1m killed itself before they closed: a second Ctrl-C
    /// (stop at once), or a worker that did not close in time. Not lost.
    /// Absent when none (and in reports of older versions).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub killed: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// How an experiment ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum End {
    /// Ramp, hold and teardown ran their course.
    Completed,
    /// Ctrl-C (SIGINT) or SIGTERM.
    Interrupted {
        /// The signal's name: `SIGINT`, `SIGTERM`.
        signal: String,
        /// The stage it came in (a merged report: the shard's); absent
        /// in reports of older versions.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        during: Option<Stage>,
    },
    /// A worker died on its own.
    WorkerDied {
        /// Which, and how.
        why: String,
        /// The stage it died in (a merged report: the shard's); absent
        /// in reports of older versions.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        during: Option<Stage>,
    },
    /// A `--fail-if` threshold failed during the run and
    /// `--abort-on-fail` ended it.
    Aborted {
        /// Which threshold, when, and the figure then, in one line.
        why: String,
    },
}

impl End {
    /// How the experiment ended, in words: `completed`, `interrupted by
    /// SIGINT during the ramp`, `stopped: client worker 3 (pid 9) was
    /// killed by SIGKILL (9) during the hold`.
    pub fn words(&self) -> String {
        let stage = |d: &Option<Stage>| d.map(|d| format!(" {}", d.words())).unwrap_or_default();
        match self {
            End::Completed => "completed".to_string(),
            End::Interrupted { signal, during } => {
                format!("interrupted by {signal}{}", stage(during))
            }
            End::WorkerDied { why, during } => format!("stopped: {why}{}", stage(during)),
            End::Aborted { why } => format!("aborted: {why}"),
        }
    }
}

/// A stage of an experiment, as the supervisor drives it: where it was
/// when it was interrupted or a worker died.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// Starting the workers (and waiting for `--start-at`).
    StartUp,
    /// Opening connections.
    Ramp,
    /// Waiting for the servers to catch up, and reading the kernel's
    /// count at the top.
    Verify,
    /// Holding, and reading the kernel's count at the end of the hold.
    Hold,
    /// Closing connections at a stage's pace (`--ramp-down`, a stage
    /// going down), and reading the kernel's count at its end.
    RampDown,
    /// Closing the connections and the workers.
    Teardown,
}

impl Stage {
    /// The stage in words, after "interrupted" or "died": `during the
    /// ramp`.
    pub fn words(self) -> &'static str {
        match self {
            Stage::StartUp => "at start-up",
            Stage::Ramp => "during the ramp",
            Stage::Verify => "while verifying the count at the top",
            Stage::Hold => "during the hold",
            Stage::RampDown => "during the ramp-down",
            Stage::Teardown => "during teardown",
        }
    }
}

/// Whether the experiment did what was asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    /// True when the target was held at the end (or a capacity search
    /// found its limit) and nothing false was counted.
    pub ok: bool,
    /// The process's exit code: 0 ok; 1 fewer than the target held at the
    /// end, connections only the client has, or a worker died; 3 to 6 a
    /// `--fail-if` threshold failed (3 held, 4 latency, 5 failures, 6 the
    /// ramp's pace; the lowest when several did); 130 interrupted by
    /// SIGINT (Ctrl-C), 143 by SIGTERM (128 + the signal's number, as
    /// shells report it).
    pub exit_code: u8,
    /// Why not, in one line; null when ok.
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, objects: i64, bytes: i64) -> SlabRow {
        SlabRow {
            name: name.into(),
            objects,
            bytes,
        }
    }

    /// The caches of a 1M run on this machine (2,000,000 sockets), with a
    /// /proc/*/fd scanner running.
    fn one_million() -> Vec<SlabRow> {
        vec![
            row("TCP", 1_999_998, 5_046_586_368),
            row("sock_inode_cache", 1_999_935, 1_724_317_696),
            row("proc_inode_cache", 1_953_476, 1_394_106_368),
            row("dentry", 3_953_502, 771_129_344),
            row("filp", 1_999_998, 390_070_272),
            row("lsm_inode_cache", 3_953_340, 126_156_800),
            row("kmalloc-192", 473_591, 91_541_504),
        ]
    }

    #[test]
    fn the_scanner_owns_its_cache_and_one_object_per_proc_inode_of_shared_ones() {
        let caches = one_million();
        let scan = ProcScan::of(caches.iter().map(|c| (c.name.as_str(), c.objects)));
        assert_eq!(scan.inodes, 1_953_476);
        let share = |name: &str| {
            let c = caches.iter().find(|c| c.name == name).unwrap();
            scan.share(name, c.objects, c.bytes)
        };
        assert_eq!(share("proc_inode_cache"), (1_953_476, 1_394_106_368));
        // 1,953,476 of 3,953,502 dentries, at 195 B each.
        let (n, b) = share("dentry");
        assert_eq!(n, 1_953_476);
        assert_eq!(b, 771_129_344 * 1_953_476 / 3_953_502);
        assert_eq!(share("lsm_inode_cache").0, 1_953_476);
        assert_eq!(share("TCP"), (0, 0));
        // The sockets' dentries left: one a socket, near enough.
        assert!((3_953_502 - n - 2_000_000_i64).abs() < 100);
    }

    #[test]
    fn a_shared_cache_never_gives_the_scanner_more_than_it_grew() {
        let scan = ProcScan { inodes: 500 };
        assert_eq!(scan.share("dentry", 200, 40_000), (200, 40_000));
        assert_eq!(scan.share("dentry", -300, -60_000), (0, 0));
        // A scanner cache that shrank is still wholly the scanner's.
        assert_eq!(scan.share("proc_inode_cache", -10, -7_000), (-10, -7_000));
        assert_eq!(ProcScan::of([("TCP", 10)]).inodes, 0);
    }

    #[test]
    fn the_per_socket_cost_leaves_out_the_scanners_part() {
        let caches = one_million();
        let total: i64 = caches.iter().map(|c| c.bytes).sum();
        let mut m = Memory {
            sockets: 2_000_000,
            slab_caches_total: Some(total),
            slab_caches: caches,
            ..crate::report::fixtures::fixture("run-fanout")
                .memory
                .unwrap()
        };
        let per = m.kernel_per_socket().unwrap();
        let scan = 1_394_106_368.0
            + (771_129_344_i64 * 1_953_476 / 3_953_502) as f64
            + (126_156_800_i64 * 1_953_476 / 3_953_340) as f64;
        assert_eq!(per, (total as f64 - scan) / 2e6);
        m.slab_caches.retain(|c| c.name != "proc_inode_cache");
        assert_eq!(m.kernel_per_socket().unwrap(), total as f64 / 2e6);
    }
}
