//! An exact reading of a set of target endpoints (address:port), from
//! both ends: which listening sockets serve them, how full their accept
//! queues are, and how many sockets sit on each side of a connection to
//! them, by TCP state. This is what tells a connection the server accepted
//! from one it never accepted (still in the accept queue) or never created
//! (it exists only on the client: SYN cookies, or an overflowing queue).
//!
//! One inet_diag dump per address family (sock_diag(7),
//! `include/uapi/linux/inet_diag.h`) of the sockets whose local *or*
//! remote port is an endpoint's port, filtered in the kernel with the
//! port-range bytecode of [`super::bytecode`]; each socket is then
//! classified in user space from the 4-tuple of the fixed `struct
//! inet_diag_msg` header alone (no extension is requested, no attribute
//! read except on listeners):
//!
//! - **Listener of an endpoint**: a `LISTEN` socket whose local port is
//!   the endpoint's port and whose local address is the endpoint's, or the
//!   wildcard: `0.0.0.0` for IPv4 endpoints, `::` for IPv6 endpoints and,
//!   unless the socket is `IPV6_V6ONLY`, for IPv4 ones too (a dual-stack
//!   socket). The kernel reports, for `LISTEN` sockets only, the current
//!   accept-queue length (`sk_ack_backlog`) in `idiag_rqueue` and the
//!   listen backlog (`sk_max_ack_backlog`, the `listen()` argument capped
//!   by `net.core.somaxconn`) in `idiag_wqueue`: `tcp_diag_get_info()` in
//!   `net/ipv4/tcp_diag.c`. `IPV6_V6ONLY` comes from the
//!   `INET_DIAG_SKV6ONLY` attribute, which `inet_diag_msg_attrs_fill()`
//!   (`net/ipv4/inet_diag.c`) adds to every `AF_INET6` socket in `LISTEN`
//!   or `CLOSE`; without it (kernels before 3.12) a `::` listener is taken
//!   as dual-stack, Linux's default (`net.ipv6.bindv6only = 0`).
//! - **Server side**: any other socket whose local address:port is an
//!   endpoint: the server's end of a connection. An `ESTABLISHED` one
//!   with inode 0 has no file yet: it waits in a listener's accept queue,
//!   which makes [`SideCounts::without_inode`] an independent cross-check
//!   of [`Listener::accept_queue`].
//! - **Client side**: a socket whose remote address:port is an endpoint:
//!   the client's end.
//!
//! A socket counts once per side it matches: on loopback, a connection
//! between two endpoints (an endpoint connecting to another) has each of
//! its two sockets counted on both sides. Connections whose client end is
//! not itself an endpoint, the usual case, count one socket per side.
//!
//! Addresses compare after mapping: an IPv4-mapped IPv6 address
//! (`::ffff:a.b.c.d`, the addresses of IPv4 connections on a dual-stack
//! socket) is the IPv4 address, both in the endpoints given and in the
//! sockets dumped. Endpoints match exactly: a wildcard endpoint
//! (`0.0.0.0:P`) matches listeners on it, but connections have real
//! addresses and never match it.
//!
//! Request sockets (`NEW_SYN_RECV`, a SYN answered, the handshake not
//! complete) are reported as `SYN_RECV`; asking for `SYN_RECV` dumps them.
//! `TIME_WAIT` sockets are not dumped by default ([`EndpointQuery::new`]):
//! after a teardown there may be as many as there were connections, each
//! costing the dump ~1 µs. Counts are of the caller's network namespace.
//!
//! Cost, measured with `examples/endpoint_bench.rs` on this 2-core VM
//! (kernel 6.18) holding 200,000 established loopback sockets (`c1m run
//! -n 100000`: `spread`, 12 addresses on port 8090, and `many-ports`,
//! ports 8090–8119), best of 7, while other builds loaded the machine
//! (load average ~5), two runs:
//!
//! | per socket | ns |
//! | --- | --- |
//! | `parse_reply` alone (a count) on the captured reply | 27–48 |
//! | [`parse_endpoint_reply`] alone on the same bytes | 59–113 |
//! | live [`TcpDiag::count`](super::TcpDiag::count) as `src/measure.rs` asks it (per-local-port map) | 1,020–2,100 |
//! | live [`TcpDiag::endpoints`](super::TcpDiag::endpoints), `ESTABLISHED` only | 1,200–2,110 |
//! | live [`TcpDiag::endpoints`](super::TcpDiag::endpoints), default states | 990–2,100 |
//!
//! Classifying adds 28–66 ns a socket to a dump the kernel spends ~1 µs
//! a socket on: 2–5%, below the run-to-run noise of the live figures
//! (each live `endpoints` run was within −27% … +17% of the `count` run
//! beside it). The classification is a bitmap test of the port, then a
//! binary search of the sorted `(port, address)` endpoints; nothing is
//! allocated per socket.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::ops::RangeInclusive;

use netlink_packet_sock_diag::AF_INET6;
use netlink_packet_sock_diag::inet::InetResponseHeader;
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeStruct, Serializer};

use super::bytecode::{self, PortCond};
use super::reply::{attribute, walk_reply};
use super::{Families, ReplyStatus, StateSet, TcpState};
use crate::ParseError;

/// `INET_DIAG_SKV6ONLY` (`include/uapi/linux/inet_diag.h`): a u8, 1 if
/// the `AF_INET6` socket is `IPV6_V6ONLY`.
const INET_DIAG_SKV6ONLY: u16 = 11;

/// At most this many disjoint port ranges go into the kernel filter; more
/// are merged across their smallest gaps (the filter then lets through a
/// few sockets that user space drops). Each range is two groups of the
/// program, run for every socket walked.
const MAX_FILTER_RANGES: usize = 8;

/// Which endpoints to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointQuery {
    /// The target endpoints (server address:port). Duplicates, and an
    /// IPv4-mapped IPv6 form of an IPv4 endpoint, count once.
    pub endpoints: Vec<SocketAddr>,
    /// Address families to dump. IPv4 endpoints may be served by a
    /// dual-stack `::` listener, an `AF_INET6` socket whose connections
    /// are `AF_INET6` sockets too: ask [`Families::V4`] only when the
    /// server is known to listen on `AF_INET` sockets.
    pub families: Families,
    /// States to dump (kernel-filtered). Listeners are found only if
    /// [`TcpState::Listen`] is in it.
    pub states: StateSet,
}

impl EndpointQuery {
    /// The states dumped by default: every state but `TIME_WAIT` and
    /// `CLOSE`, i.e. `LISTEN`, `ESTABLISHED`, `SYN_SENT`, `SYN_RECV`
    /// (request sockets included), `FIN_WAIT1`, `FIN_WAIT2`, `CLOSE_WAIT`,
    /// `LAST_ACK`, `CLOSING`.
    pub const DEFAULT_STATES: StateSet = StateSet::only(TcpState::Listen)
        .with(TcpState::Established)
        .with(TcpState::SynSent)
        .with(TcpState::SynRecv)
        .with(TcpState::NewSynRecv)
        .with(TcpState::FinWait1)
        .with(TcpState::FinWait2)
        .with(TcpState::CloseWait)
        .with(TcpState::LastAck)
        .with(TcpState::Closing);

    /// These endpoints, both families, [`Self::DEFAULT_STATES`].
    pub fn new(endpoints: Vec<SocketAddr>) -> Self {
        Self {
            endpoints,
            families: Families::Both,
            states: Self::DEFAULT_STATES,
        }
    }
}

/// A listening socket serving one or more of the endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Listener {
    /// Its local address as bound (`0.0.0.0:P`, `[::]:P`, or an address).
    pub local: SocketAddr,
    /// Connections completed and waiting for `accept()`, now
    /// (`idiag_rqueue` of a `LISTEN` socket: `sk_ack_backlog`).
    pub accept_queue: u32,
    /// The accept queue's limit (`idiag_wqueue` of a `LISTEN` socket:
    /// `sk_max_ack_backlog`, the `listen()` backlog capped by
    /// `net.core.somaxconn`). The kernel drops or answers with a SYN
    /// cookie once `accept_queue` exceeds it.
    pub backlog: u32,
    /// The socket's inode (`idiag_inode`), as in `/proc/net/tcp` and
    /// `/proc/PID/fd` (`socket:[INODE]`): which process owns it.
    pub inode: u64,
    /// Whether an `AF_INET6` listener is `IPV6_V6ONLY` (it then serves no
    /// IPv4 endpoint); false for `AF_INET` ones.
    pub v6_only: bool,
}

/// Sockets of one side, by state, and of those how many have no inode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SideCounts {
    /// Indexed by kernel state number; slot 0 holds unknown states.
    by_state: [u64; 13],
    /// The same, of sockets whose `idiag_inode` is 0.
    without_inode: [u64; 13],
}

impl SideCounts {
    #[inline]
    fn add(&mut self, state: u8, inode: u32) {
        let i = match usize::from(state) {
            i @ 1..=12 => i,
            _ => 0,
        };
        if let Some(n) = self.by_state.get_mut(i) {
            *n = n.saturating_add(1);
        }
        if inode == 0
            && let Some(n) = self.without_inode.get_mut(i)
        {
            *n = n.saturating_add(1);
        }
    }

    fn merge(&mut self, other: &SideCounts) {
        for (a, b) in self.by_state.iter_mut().zip(other.by_state) {
            *a = a.saturating_add(b);
        }
        for (a, b) in self.without_inode.iter_mut().zip(other.without_inode) {
            *a = a.saturating_add(b);
        }
    }

    /// Sockets in `state`.
    pub fn get(&self, state: TcpState) -> u64 {
        self.by_state.get(state as usize).copied().unwrap_or(0)
    }

    /// Sockets in `state` whose inode is 0: no `struct file`. For
    /// `ESTABLISHED` (and `CLOSE_WAIT`) server-side sockets, children
    /// still in an accept queue; request sockets (`SYN_RECV`), orphans
    /// (closed by their process: `FIN_WAIT1`, `FIN_WAIT2`, `LAST_ACK`,
    /// `CLOSING`) and `TIME_WAIT` sockets never have one.
    pub fn without_inode(&self, state: TcpState) -> u64 {
        self.without_inode.get(state as usize).copied().unwrap_or(0)
    }

    /// `ESTABLISHED` sockets.
    pub fn established(&self) -> u64 {
        self.get(TcpState::Established)
    }

    /// `CLOSE_WAIT` sockets: the peer closed, this end has not.
    pub fn close_wait(&self) -> u64 {
        self.get(TcpState::CloseWait)
    }

    /// `SYN_RECV` sockets: handshakes answered, not complete (request
    /// sockets).
    pub fn syn_recv(&self) -> u64 {
        self.get(TcpState::SynRecv)
    }

    /// `SYN_SENT` sockets: connects not yet answered.
    pub fn syn_sent(&self) -> u64 {
        self.get(TcpState::SynSent)
    }

    /// Sockets in a state outside [`TcpState`] (none on current kernels).
    pub fn other(&self) -> u64 {
        self.by_state.first().copied().unwrap_or(0)
    }

    /// All sockets of this side.
    pub fn total(&self) -> u64 {
        self.by_state.iter().fold(0u64, |s, n| s.saturating_add(*n))
    }

    /// Every state with its count, zeros included, in kernel order.
    pub fn iter(&self) -> impl Iterator<Item = (TcpState, u64)> + '_ {
        TcpState::ALL.into_iter().map(|s| (s, self.get(s)))
    }
}

/// As a map: `"total"`, each non-zero state by name, `"other"` if
/// non-zero, and `"without_inode"`: the same map for inode-0 sockets.
impl Serialize for SideCounts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        /// One array of counts as `{"total", STATE: n, …, "other"}`.
        struct ByName<'a>(&'a [u64; 13], Option<&'a [u64; 13]>);
        impl Serialize for ByName<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(None)?;
                let total = self.0.iter().fold(0u64, |s, n| s.saturating_add(*n));
                map.serialize_entry("total", &total)?;
                for s in TcpState::ALL {
                    match self.0.get(s as usize) {
                        Some(&n) if n != 0 => map.serialize_entry(s.name(), &n)?,
                        _ => {}
                    }
                }
                if let Some(&other) = self.0.first().filter(|&&n| n != 0) {
                    map.serialize_entry("other", &other)?;
                }
                if let Some(without) = self.1 {
                    map.serialize_entry("without_inode", &ByName(without, None))?;
                }
                map.end()
            }
        }
        ByName(&self.by_state, Some(&self.without_inode)).serialize(serializer)
    }
}

/// One endpoint's reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndpointRow {
    /// The endpoint, IPv4-mapped IPv6 addresses shown as IPv4.
    pub endpoint: SocketAddr,
    /// How many of the listeners serve it (0: no server for it in this
    /// namespace; more than 1 with `SO_REUSEPORT`, or a wildcard and a
    /// specific listener on one port).
    pub listeners: u32,
    /// Sockets whose local address:port is this endpoint.
    pub server: SideCounts,
    /// Sockets whose remote address:port is this endpoint.
    pub client: SideCounts,
}

/// The reading of a set of endpoints: their listeners, and the sockets on
/// each side of connections to them, per endpoint and in total.
///
/// Built empty by [`EndpointCounts::new`] and filled by
/// [`parse_endpoint_reply`] (or [`TcpDiag::endpoints`](super::TcpDiag::endpoints)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointCounts {
    set: EndpointSet,
    listeners: Vec<Listener>,
    rows: Vec<EndpointRow>,
}

impl EndpointCounts {
    /// Zero counts for these endpoints.
    pub fn new(endpoints: &[SocketAddr]) -> Self {
        let set = EndpointSet::new(endpoints);
        let rows = set
            .addrs
            .iter()
            .map(|&endpoint| EndpointRow {
                endpoint,
                listeners: 0,
                server: SideCounts::default(),
                client: SideCounts::default(),
            })
            .collect();
        Self {
            set,
            listeners: Vec::new(),
            rows,
        }
    }

    /// The listening sockets that serve at least one endpoint, in dump
    /// order, each once however many endpoints it serves.
    pub fn listeners(&self) -> &[Listener] {
        &self.listeners
    }

    /// Per endpoint, sorted by port then address, duplicates merged.
    pub fn by_endpoint(&self) -> &[EndpointRow] {
        &self.rows
    }

    /// Server-side sockets of every endpoint.
    pub fn server(&self) -> SideCounts {
        self.rows.iter().fold(SideCounts::default(), |mut s, r| {
            s.merge(&r.server);
            s
        })
    }

    /// Client-side sockets of every endpoint.
    pub fn client(&self) -> SideCounts {
        self.rows.iter().fold(SideCounts::default(), |mut s, r| {
            s.merge(&r.client);
            s
        })
    }

    /// The summed accept queues of the listeners: connections completed
    /// and not yet accepted. A wildcard listener's queue also holds
    /// connections to its addresses that are not endpoints.
    pub fn accept_queue_total(&self) -> u64 {
        self.listeners
            .iter()
            .map(|l| u64::from(l.accept_queue))
            .sum()
    }

    /// Whether any listener of an endpoint was seen: the server runs in
    /// this network namespace.
    pub fn is_local(&self) -> bool {
        !self.listeners.is_empty()
    }

    /// Server-side `ESTABLISHED` sockets without an inode: in an accept
    /// queue, not yet accepted by the server application.
    pub fn waiting(&self) -> u64 {
        self.server().without_inode(TcpState::Established)
    }

    /// Server-side `ESTABLISHED` sockets the server application holds
    /// (accepted: they have an inode).
    pub fn accepted(&self) -> u64 {
        let server = self.server();
        server
            .established()
            .saturating_sub(server.without_inode(TcpState::Established))
    }

    /// Over the endpoints that have a listener here, client-side
    /// `ESTABLISHED` sockets beyond the server-side ones: connections the
    /// client believes established that the server never created (SYN
    /// cookies not yet validated, a handshake whose final ACK was dropped
    /// on an overflowing accept queue). Exact only when both ends are in
    /// this namespace, which a listener being here suggests but does not
    /// prove.
    pub fn phantoms(&self) -> u64 {
        self.rows
            .iter()
            .filter(|r| r.listeners > 0)
            .map(|r| {
                r.client
                    .established()
                    .saturating_sub(r.server.established())
            })
            .sum()
    }

    /// The kernel filter program: the endpoints' ports as local or remote
    /// port. `None` if no endpoint (then nothing is dumped at all).
    pub(crate) fn bytecode(&self) -> Option<Vec<u8>> {
        let groups: Vec<Vec<PortCond>> = self
            .set
            .port_ranges(MAX_FILTER_RANGES)
            .into_iter()
            .flat_map(|r| [vec![PortCond::Local(r.clone())], vec![PortCond::Remote(r)]])
            .collect();
        bytecode::any_of_all(&groups)
    }

    /// Adds another reading of the same endpoints (another network
    /// namespace's: a lab's server host and client hosts), so that a
    /// listener seen in one and its clients seen in another make one
    /// picture: [`Self::phantoms`] then compares across the namespaces.
    /// Endpoints `other` does not have are ignored.
    pub fn merge(&mut self, other: &EndpointCounts) {
        self.listeners.extend_from_slice(&other.listeners);
        for row in &other.rows {
            if let Some(mine) = self.rows.iter_mut().find(|r| r.endpoint == row.endpoint) {
                mine.listeners = mine.listeners.saturating_add(row.listeners);
                mine.server.merge(&row.server);
                mine.client.merge(&row.client);
            }
        }
    }

    /// Whether there is no endpoint.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Classifies one socket.
    #[inline]
    fn add(&mut self, h: &InetResponseHeader, attrs: &[u8]) {
        let id = &h.socket_id;
        if h.state == TcpState::Listen as u8 {
            self.add_listener(h, attrs);
            return;
        }
        if let Some(i) = self.set.index(id.source_address, id.source_port)
            && let Some(row) = self.rows.get_mut(i)
        {
            row.server.add(h.state, h.inode);
        }
        if let Some(i) = self.set.index(id.destination_address, id.destination_port)
            && let Some(row) = self.rows.get_mut(i)
        {
            row.client.add(h.state, h.inode);
        }
    }

    fn add_listener(&mut self, h: &InetResponseHeader, attrs: &[u8]) {
        let id = &h.socket_id;
        let v6_only = h.family == AF_INET6
            && attribute(attrs, INET_DIAG_SKV6ONLY).and_then(|v| v.first().copied()) == Some(1);
        let mut served = false;
        for i in self
            .set
            .served_by(id.source_address, id.source_port, v6_only)
        {
            if let Some(row) = self.rows.get_mut(i) {
                row.listeners = row.listeners.saturating_add(1);
                served = true;
            }
        }
        if served {
            self.listeners.push(Listener {
                local: SocketAddr::new(id.source_address, id.source_port),
                accept_queue: h.recv_queue,
                backlog: h.send_queue,
                inode: u64::from(h.inode),
                v6_only,
            });
        }
    }
}

/// As `{listeners, server, client, by_endpoint}`, the sides summed.
impl Serialize for EndpointCounts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("EndpointCounts", 4)?;
        s.serialize_field("listeners", &self.listeners)?;
        s.serialize_field("server", &self.server())?;
        s.serialize_field("client", &self.client())?;
        s.serialize_field("by_endpoint", &self.rows)?;
        s.end()
    }
}

/// Classifies the sockets in one or more received datagrams of a dump
/// reply into `counts`, as [`TcpDiag::endpoints`](super::TcpDiag::endpoints)
/// does live. Stops at `NLMSG_DONE` or `NLMSG_ERROR` (messages after those
/// are ignored); never panics, whatever the bytes.
pub fn parse_endpoint_reply(
    buf: &[u8],
    counts: &mut EndpointCounts,
) -> Result<ReplyStatus, ParseError> {
    walk_reply(buf, |header, attrs| counts.add(header, attrs))
}

/// The endpoints as sorted `(port, address)` keys, for a binary search,
/// behind a bitmap of their ports that rejects most sockets in one load.
#[derive(Debug, Clone, PartialEq, Eq)]
struct EndpointSet {
    /// `(port, address as IPv6 bits, IPv4 as IPv4-mapped)`, sorted, unique.
    keys: Vec<(u16, u128)>,
    /// The same endpoints as socket addresses, IPv4 as IPv4.
    addrs: Vec<SocketAddr>,
    /// Bit `p` set if some endpoint has port `p`.
    ports: Vec<u64>,
    /// Some endpoint is a wildcard (`0.0.0.0:P`, `[::]:P`: a server's
    /// listen address): it stands for every address of its family on
    /// its port.
    wildcard: bool,
}

/// An address as a key: IPv6 bits, an IPv4 address as its IPv4-mapped
/// IPv6 form, so that `::ffff:a.b.c.d` and `a.b.c.d` are one key.
#[inline]
fn key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped().to_bits(),
        IpAddr::V6(a) => a.to_bits(),
    }
}

/// Whether a key is an IPv4 address.
fn is_v4(key: u128) -> bool {
    Ipv6Addr::from_bits(key).to_ipv4_mapped().is_some()
}

impl EndpointSet {
    fn new(endpoints: &[SocketAddr]) -> Self {
        let mut keys: Vec<(u16, u128)> =
            endpoints.iter().map(|e| (e.port(), key(e.ip()))).collect();
        keys.sort_unstable();
        keys.dedup();
        let addrs = keys
            .iter()
            .map(|&(port, k)| {
                SocketAddr::new(IpAddr::V6(Ipv6Addr::from_bits(k)).to_canonical(), port)
            })
            .collect();
        let mut ports = vec![0u64; 1 << 10];
        for &(port, _) in &keys {
            if let Some(w) = ports.get_mut(usize::from(port >> 6)) {
                *w |= 1 << (port & 63);
            }
        }
        let wildcard = endpoints.iter().any(|e| e.ip().is_unspecified());
        Self {
            keys,
            addrs,
            ports,
            wildcard,
        }
    }

    #[inline]
    fn has_port(&self, port: u16) -> bool {
        self.ports
            .get(usize::from(port >> 6))
            .is_some_and(|w| w & (1 << (port & 63)) != 0)
    }

    /// The index of the endpoint `ip:port`, if it is one, exactly or
    /// through a wildcard endpoint of its family on that port (an IPv4
    /// address also through `[::]`, as a dual-stack listener serves it).
    #[inline]
    fn index(&self, ip: IpAddr, port: u16) -> Option<usize> {
        if !self.has_port(port) {
            return None;
        }
        let exact = self.keys.binary_search(&(port, key(ip))).ok();
        if exact.is_some() || !self.wildcard {
            return exact;
        }
        let any4 = key(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        let any6 = key(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        let find = |k| self.keys.binary_search(&(port, k)).ok();
        if is_v4(key(ip)) {
            find(any4).or_else(|| find(any6))
        } else {
            find(any6)
        }
    }

    /// The indices of the endpoints a listener on `ip:port` serves.
    fn served_by(&self, ip: IpAddr, port: u16, v6_only: bool) -> Vec<usize> {
        if !self.has_port(port) {
            return Vec::new();
        }
        let start = self.keys.partition_point(|&(p, _)| p < port);
        let end = self.keys.partition_point(|&(p, _)| p <= port);
        let on_port = (start..end).filter_map(|i| Some((i, self.keys.get(i)?.1)));
        match ip.to_canonical() {
            IpAddr::V4(a) if a.is_unspecified() => {
                on_port.filter(|&(_, k)| is_v4(k)).map(|(i, _)| i).collect()
            }
            IpAddr::V6(a) if a.is_unspecified() => on_port
                .filter(|&(_, k)| !is_v4(k) || !v6_only)
                .map(|(i, _)| i)
                .collect(),
            ip => {
                let k = key(ip);
                on_port.filter(|&(_, ek)| ek == k).map(|(i, _)| i).collect()
            }
        }
    }

    /// The endpoints' ports as at most `max` disjoint ranges, sorted:
    /// adjacent ports joined, then the ranges across the smallest gaps
    /// merged until `max` remain.
    fn port_ranges(&self, max: usize) -> Vec<RangeInclusive<u16>> {
        let mut ranges: Vec<(u16, u16)> = Vec::new();
        for &(port, _) in &self.keys {
            match ranges.last_mut() {
                Some((_, hi)) if port <= hi.saturating_add(1) => *hi = (*hi).max(port),
                _ => ranges.push((port, port)),
            }
        }
        while ranges.len() > max.max(1) {
            let smallest_gap = ranges
                .windows(2)
                .enumerate()
                .min_by_key(|(_, w)| match w {
                    [(_, hi), (lo, _)] => lo.saturating_sub(*hi),
                    _ => u16::MAX,
                })
                .map(|(i, _)| i);
            let Some(i) = smallest_gap else { break };
            let next = ranges.remove(i + 1);
            if let Some(r) = ranges.get_mut(i) {
                r.1 = next.1;
            }
        }
        ranges.into_iter().map(|(lo, hi)| lo..=hi).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn mapped_and_duplicate_endpoints_are_one() {
        let c = EndpointCounts::new(&addrs(&[
            "127.0.0.1:80",
            "[::ffff:127.0.0.1]:80",
            "127.0.0.1:80",
            "[::1]:80",
        ]));
        let rows: Vec<String> = c
            .by_endpoint()
            .iter()
            .map(|r| r.endpoint.to_string())
            .collect();
        assert_eq!(rows, ["[::1]:80", "127.0.0.1:80"]);
        let set = &c.set;
        assert_eq!(set.index("::ffff:127.0.0.1".parse().unwrap(), 80), Some(1));
        assert_eq!(set.index("127.0.0.1".parse().unwrap(), 80), Some(1));
        assert_eq!(set.index("::1".parse().unwrap(), 80), Some(0));
        assert_eq!(set.index("127.0.0.1".parse().unwrap(), 81), None);
        assert_eq!(set.index("127.0.0.2".parse().unwrap(), 80), None);
    }

    #[test]
    fn a_wildcard_endpoint_stands_for_its_family() {
        // `c1m serve --listen 0.0.0.0:8090`: every local address counts.
        // Sorted by port, then address: 0.0.0.0:8090 is 0, [::1]:9000 is 1.
        let set = EndpointSet::new(&addrs(&["[::1]:9000", "0.0.0.0:8090"]));
        assert_eq!(set.index("127.0.1.7".parse().unwrap(), 8090), Some(0));
        assert_eq!(
            set.index("::ffff:127.0.1.7".parse().unwrap(), 8090),
            Some(0)
        );
        assert_eq!(set.index("::2".parse().unwrap(), 8090), None, "not v6");
        assert_eq!(set.index("127.0.1.7".parse().unwrap(), 8091), None);
        assert_eq!(set.index("::1".parse().unwrap(), 9000), Some(1));
        let dual = EndpointSet::new(&addrs(&["[::]:8090"]));
        assert_eq!(dual.index("127.0.0.1".parse().unwrap(), 8090), Some(0));
        assert_eq!(dual.index("::5".parse().unwrap(), 8090), Some(0));
    }

    #[test]
    fn readings_of_two_namespaces_merge_into_one_picture() {
        let eps = addrs(&["198.18.0.1:8090"]);
        let mut server_host = EndpointCounts::new(&eps);
        server_host.listeners.push(Listener {
            local: "0.0.0.0:8090".parse().unwrap(),
            accept_queue: 0,
            backlog: 4096,
            inode: 1,
            v6_only: false,
        });
        server_host.rows[0].listeners = 1;
        for _ in 0..4 {
            server_host.rows[0]
                .server
                .add(TcpState::Established as u8, 7);
        }
        let mut client_host = EndpointCounts::new(&eps);
        for _ in 0..6 {
            client_host.rows[0]
                .client
                .add(TcpState::Established as u8, 9);
        }
        assert_eq!(
            client_host.phantoms(),
            0,
            "alone: no listener, no judgement"
        );
        let mut all = EndpointCounts::new(&eps);
        all.merge(&server_host);
        all.merge(&client_host);
        assert!(all.is_local());
        assert_eq!(all.server().established(), 4);
        assert_eq!(all.client().established(), 6);
        assert_eq!(all.phantoms(), 2);
    }

    #[test]
    fn wildcard_listeners_serve_their_family() {
        let set = EndpointSet::new(&addrs(&[
            "127.0.77.1:18000",
            "127.0.77.2:18000",
            "[::1]:18000",
            "127.0.77.1:18001",
        ]));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // Sorted: [::1]:18000, 127.0.77.1:18000, 127.0.77.2:18000, 127.0.77.1:18001.
        assert_eq!(set.served_by(ip("0.0.0.0"), 18000, false), [1, 2]);
        assert_eq!(set.served_by(ip("::"), 18000, false), [0, 1, 2]);
        assert_eq!(set.served_by(ip("::"), 18000, true), [0]);
        assert_eq!(set.served_by(ip("127.0.77.2"), 18000, false), [2]);
        assert_eq!(set.served_by(ip("::ffff:127.0.77.2"), 18000, false), [2]);
        assert_eq!(set.served_by(ip("::ffff:0.0.0.0"), 18000, false), [1, 2]);
        assert_eq!(
            set.served_by(ip("127.0.0.1"), 18000, false),
            Vec::<usize>::new()
        );
        assert_eq!(set.served_by(ip("0.0.0.0"), 18001, false), [3]);
        assert_eq!(
            set.served_by(ip("0.0.0.0"), 18002, false),
            Vec::<usize>::new()
        );
    }

    #[test]
    fn port_ranges_join_and_merge() {
        let ports = |ps: &[u16]| {
            let e: Vec<SocketAddr> = ps
                .iter()
                .map(|&p| SocketAddr::from(([127, 0, 0, 1], p)))
                .collect();
            EndpointSet::new(&e)
        };
        let all: Vec<u16> = (8090..=8119).collect();
        assert_eq!(ports(&all).port_ranges(8), [8090..=8119]);
        assert_eq!(
            ports(&[80, 443, 8080]).port_ranges(8),
            [80..=80, 443..=443, 8080..=8080]
        );
        assert_eq!(
            ports(&[80, 443, 8080]).port_ranges(2),
            [80..=443, 8080..=8080]
        );
        assert_eq!(ports(&[80, 443, 8080]).port_ranges(1), [80..=8080]);
        assert_eq!(ports(&[65535, 0, 1]).port_ranges(8), [0..=1, 65535..=65535]);
        assert!(ports(&[]).port_ranges(8).is_empty());
        let many: Vec<u16> = (0..100).map(|i| 1000 + 3 * i).collect();
        let r = ports(&many).port_ranges(8);
        assert_eq!(r.len(), 8);
        for p in many {
            assert!(r.iter().any(|r| r.contains(&p)), "{p}");
        }
    }

    #[test]
    fn the_filter_passes_both_ends_of_every_endpoint_port() {
        let c = EndpointCounts::new(&addrs(&["127.0.0.1:80", "127.0.0.2:8080", "[::1]:8081"]));
        let bc = c.bytecode().unwrap();
        assert!(bytecode::audit(&bc));
        for p in 0..=u16::MAX {
            let want = [80, 8080, 8081].contains(&p);
            assert_eq!(bytecode::run(&bc, p, 40000), want, "sport {p}");
            assert_eq!(bytecode::run(&bc, 40000, p), want, "dport {p}");
        }
        assert_eq!(EndpointCounts::new(&[]).bytecode(), None);
    }

    #[test]
    fn side_counts_by_state_and_inode() {
        let mut s = SideCounts::default();
        s.add(1, 0);
        s.add(1, 7);
        s.add(8, 0);
        s.add(0, 0);
        s.add(99, 1);
        assert_eq!(
            (s.established(), s.without_inode(TcpState::Established)),
            (2, 1)
        );
        assert_eq!(
            (s.close_wait(), s.without_inode(TcpState::CloseWait)),
            (1, 1)
        );
        assert_eq!((s.other(), s.total()), (2, 5));
    }
}
