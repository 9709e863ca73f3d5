//! Counting TCP sockets by state over `NETLINK_SOCK_DIAG`, as `ss` does,
//! but only counting: an inet_diag dump (sock_diag(7)) with the state mask
//! and port ranges filtered in the kernel, no extensions requested, and of
//! each reply only the fixed header read.
//!
//! The request is built with `netlink-packet-sock-diag`, sent over
//! `netlink-sys`'s safe socket; port ranges become inet_diag filter
//! bytecode (`src/diag/bytecode.rs` explains it) appended as
//! `INET_DIAG_REQ_BYTECODE`. Replies are parsed by the pure
//! [`parse_reply`], also used on captured fixtures and by the fuzzer.
//!
//! Cost, measured on this 2-core VM (kernel 6.18) with 198k–396k loopback
//! sockets: almost all of it is the kernel's, ~0.86–1.0 µs per socket
//! reported (filling and copying a ~124-byte message), ~0.15–0.3 µs per
//! socket walked but filtered out by state or port. Counting 2M
//! established IPv4 sockets so takes ~1.7–2 s (`ss -Htn state established
//! | wc -l`: ~1.8 µs per socket, 3.5 s). [`Families::Both`] walks the hash
//! table twice: a v4-only experiment should ask for [`Families::V4`]. For
//! a plain total at high frequency, O(1) counters exist: `Tcp: CurrEstab`
//! in [`netstat`](crate::netstat) (ESTABLISHED plus CLOSE_WAIT) and
//! `TCP: inuse` in [`sockstat`](crate::sockstat).
//!
//! [`TcpDiag::endpoints`] reads a set of target endpoints exactly: their
//! listeners with accept queue and backlog, and the sockets on the server
//! and the client side of connections to them, by state (`endpoints.rs`).
//!
//! Kernel details that show in the counts: request sockets
//! (`NEW_SYN_RECV`) are reported as `SYN_RECV`, and asking for `SYN_RECV`
//! also dumps them; TIME_WAIT sockets whose substate is `FIN_WAIT2` are
//! reported as `FIN_WAIT2`. IPv4-mapped connections on IPv6 sockets count
//! as IPv6. Counts are per network namespace (the caller's).

mod bytecode;
mod endpoints;
mod reply;
mod state;

use std::io;
use std::ops::RangeInclusive;

use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NetlinkBuffer, NetlinkHeader, NetlinkMessage,
};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_packet_sock_diag::{AF_INET, AF_INET6, IPPROTO_TCP, SockDiagMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_SOCK_DIAG};
use rustix::net::RecvFlags;

use bytecode::{INET_DIAG_REQ_BYTECODE, PortCond};
pub use endpoints::{
    EndpointCounts, EndpointQuery, EndpointRow, Listener, SideCounts, parse_endpoint_reply,
};
pub use reply::{ReplyStatus, parse_reply};
pub use state::{StateSet, TcpCounts, TcpState};

/// Which address families to dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Families {
    /// `AF_INET` only.
    V4,
    /// `AF_INET6` only (includes IPv4-mapped connections on IPv6 sockets).
    V6,
    /// Both, as two dumps.
    #[default]
    Both,
}

impl Families {
    fn list(self) -> &'static [u8] {
        match self {
            Families::V4 => &[AF_INET],
            Families::V6 => &[AF_INET6],
            Families::Both => &[AF_INET, AF_INET6],
        }
    }
}

/// How `local_ports` and `remote_ports` combine when both are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PortMatch {
    /// Both ranges must match (`sport in L and dport in R`).
    #[default]
    All,
    /// Either range may match (`sport in L or dport in R`): both ends of
    /// connections to a local server port, as `ss '( sport = :P or dport = :P )'`.
    Any,
}

/// What to count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiagQuery {
    /// Address families to dump.
    pub families: Families,
    /// States to dump, filtered in the kernel.
    pub states: StateSet,
    /// Only sockets whose local port is in this range (kernel-filtered).
    pub local_ports: Option<RangeInclusive<u16>>,
    /// Only sockets whose remote port is in this range (kernel-filtered).
    pub remote_ports: Option<RangeInclusive<u16>>,
    /// How the two port ranges combine.
    pub port_match: PortMatch,
    /// Also count per local port ([`TcpCounts::by_local_port`]); costs a map
    /// update per socket, so narrow `local_ports` first.
    pub per_local_port: bool,
}

impl Default for DiagQuery {
    fn default() -> Self {
        Self::new(StateSet::ALL)
    }
}

impl DiagQuery {
    /// Both families, these states, no port filter, no per-port counts.
    pub fn new(states: StateSet) -> Self {
        Self {
            families: Families::Both,
            states,
            local_ports: None,
            remote_ports: None,
            port_match: PortMatch::All,
            per_local_port: false,
        }
    }

    /// The filter program for the port ranges, `None` if none is needed.
    fn bytecode(&self) -> Option<Vec<u8>> {
        let conds: Vec<PortCond> = [
            self.local_ports.clone().map(PortCond::Local),
            self.remote_ports.clone().map(PortCond::Remote),
        ]
        .into_iter()
        .flatten()
        .collect();
        let groups = match self.port_match {
            PortMatch::All => vec![conds],
            PortMatch::Any => conds.into_iter().map(|c| vec![c]).collect(),
        };
        bytecode::any_of_all(&groups)
    }
}

/// The user buffer for one `recv`. The kernel sizes dump datagrams from
/// the buffers offered, up to 32 KiB (`netlink_recvmsg()` caps
/// `max_recvmsg_len`), so 64 KiB always holds one whole.
const RECV_LEN: usize = 64 << 10;

/// `SO_RCVBUF` asked for. The kernel queues one dump datagram per `recv`
/// whatever the buffers; measured at 198k sockets, neither this (1 MiB vs
/// the default 208 KiB) nor `RECV_LEN` (64 vs 8 KiB) changed the time,
/// which is the kernel's. Kept as headroom against a small `rmem_default`.
const RCVBUF: usize = 1 << 20;

/// `MSG_TRUNC` for recv(2) (`include/linux/socket.h`): return a
/// datagram's real length even when longer than the buffer, so that an
/// overflow is seen rather than a silently cut reply. netlink-sys takes
/// the flags as a C `int`; the value (0x20) fits.
const MSG_TRUNC: i32 = RecvFlags::TRUNC.bits() as i32;

/// A `NETLINK_SOCK_DIAG` socket and receive buffer, reused across dumps.
#[derive(Debug)]
pub struct TcpDiag {
    socket: Option<Socket>,
    buf: Vec<u8>,
    seq: u32,
}

impl TcpDiag {
    /// Opens the netlink socket (`AF_NETLINK`, `NETLINK_SOCK_DIAG`,
    /// close-on-exec), in the calling thread's network namespace.
    ///
    /// Errors: those of socket(2): `EMFILE`/`ENFILE`, or
    /// `EPROTONOSUPPORT` on a kernel built without sock_diag.
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            socket: Some(open_socket()?),
            buf: Vec::with_capacity(RECV_LEN),
            seq: 0,
        })
    }

    /// Counts TCP sockets matching `query`: one dump per family, about
    /// 1 µs per socket reported (module docs).
    ///
    /// Errors: a failed send or receive (`ENOBUFS` when the kernel could
    /// not queue a reply), `InvalidData` for a reply that does not parse
    /// or overflows the buffer, or the kernel's own answer to the request
    /// (`sock_diag dump failed: …`; `ENOENT` for a family whose inet_diag
    /// module is not loaded). The socket is reopened on the next call.
    pub fn count(&mut self, query: &DiagQuery) -> io::Result<TcpCounts> {
        let mut counts = TcpCounts::new(query.per_local_port);
        let bytecode = query.bytecode();
        self.dump(query.families, query.states, bytecode.as_deref(), |bytes| {
            parse_reply(bytes, &mut counts)
        })?;
        Ok(counts)
    }

    /// The raw reply bytes of a dump for `query`, every datagram
    /// concatenated (one dump per family), for fixtures and debugging;
    /// [`parse_reply`] reads them back.
    pub fn capture(&mut self, query: &DiagQuery) -> io::Result<Vec<u8>> {
        let mut raw = Vec::new();
        let mut scratch = TcpCounts::new(false);
        let bytecode = query.bytecode();
        self.dump(query.families, query.states, bytecode.as_deref(), |bytes| {
            raw.extend_from_slice(bytes);
            parse_reply(bytes, &mut scratch)
        })?;
        Ok(raw)
    }

    /// Reads the endpoints of `query`: their listeners (with accept queue
    /// and backlog), and the sockets on each side of connections to them
    /// by state; see [`EndpointCounts`] and the rules in
    /// [`parse_endpoint_reply`]'s module (`src/diag/endpoints.rs`). No
    /// endpoint: empty counts, no dump.
    ///
    /// One dump per family of the sockets in `query.states` whose local or
    /// remote port is an endpoint's port (kernel-filtered), each
    /// classified from its fixed header. Cost: as [`count`](Self::count),
    /// the kernel's ~1–2 µs per socket dumped; classifying adds 28–66 ns
    /// per socket in user space (figures in `src/diag/endpoints.rs`), so
    /// 2M sockets take ~2 s as a count does.
    ///
    /// The namespace read is the one this `TcpDiag`'s netlink socket was
    /// opened in: make one per namespace, inside it (see
    /// `c1m_sys::netns::run_in`). After an error the socket is reopened on
    /// the next call, in the calling thread's namespace then.
    pub fn endpoints(&mut self, query: &EndpointQuery) -> io::Result<EndpointCounts> {
        let mut counts = EndpointCounts::new(&query.endpoints);
        if counts.is_empty() {
            return Ok(counts);
        }
        let bytecode = counts.bytecode();
        self.dump(query.families, query.states, bytecode.as_deref(), |bytes| {
            parse_endpoint_reply(bytes, &mut counts)
        })?;
        Ok(counts)
    }

    /// The raw reply bytes of the dump [`endpoints`](Self::endpoints) makes
    /// for `query` (every datagram, one dump per family, concatenated), for
    /// fixtures; [`parse_endpoint_reply`] reads each family's part back.
    pub fn capture_endpoints(&mut self, query: &EndpointQuery) -> io::Result<Vec<u8>> {
        let mut raw = Vec::new();
        let mut scratch = EndpointCounts::new(&query.endpoints);
        if scratch.is_empty() {
            return Ok(raw);
        }
        let bytecode = scratch.bytecode();
        self.dump(query.families, query.states, bytecode.as_deref(), |bytes| {
            raw.extend_from_slice(bytes);
            parse_endpoint_reply(bytes, &mut scratch)
        })?;
        Ok(raw)
    }

    /// Runs one dump per family of `families`, of the sockets in `states`
    /// that pass the filter program `bytecode` (none: every socket),
    /// handing each datagram to `on_datagram`. On any error the socket is
    /// dropped (a half-read dump must not leak into the next) and reopened
    /// on the next call.
    fn dump(
        &mut self,
        families: Families,
        states: StateSet,
        bytecode: Option<&[u8]>,
        mut on_datagram: impl FnMut(&[u8]) -> Result<ReplyStatus, crate::ParseError>,
    ) -> io::Result<()> {
        if states.is_empty() {
            return Ok(());
        }
        let socket = match self.socket.take() {
            Some(s) => s,
            None => open_socket()?,
        };
        for &family in families.list() {
            self.seq = self.seq.wrapping_add(1);
            let request = request(family, states, bytecode, self.seq);
            socket
                .send_to(&request, &SocketAddr::new(0, 0), 0)
                .map_err(|e| {
                    io::Error::new(e.kind(), format!("sending a sock_diag request: {e}"))
                })?;
            loop {
                self.buf.clear();
                let n = match socket.recv(&mut self.buf, MSG_TRUNC) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let msg = format!("receiving a sock_diag reply: {e}");
                        return Err(io::Error::new(e.kind(), msg));
                    }
                    Ok(n) => n,
                };
                if n > self.buf.len() {
                    let msg = format!(
                        "sock_diag: a {n}-byte datagram overflowed the {RECV_LEN}-byte buffer"
                    );
                    return Err(io::Error::other(msg));
                }
                let status = on_datagram(&self.buf)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                match status {
                    ReplyStatus::More => {}
                    ReplyStatus::Done => break,
                    ReplyStatus::Failed(errno) => {
                        let e = io::Error::from_raw_os_error(errno);
                        return Err(io::Error::new(
                            e.kind(),
                            format!("sock_diag dump failed: {e}"),
                        ));
                    }
                }
            }
        }
        self.socket = Some(socket);
        Ok(())
    }
}

/// Counts TCP sockets matching `query` on a fresh socket (see [`TcpDiag`]
/// to reuse one). About 1 µs per matching socket: see the module docs.
pub fn count_tcp(query: &DiagQuery) -> io::Result<TcpCounts> {
    TcpDiag::new()?.count(query)
}

fn open_socket() -> io::Result<Socket> {
    let socket = Socket::new(NETLINK_SOCK_DIAG).map_err(|e| {
        io::Error::new(e.kind(), format!("opening a NETLINK_SOCK_DIAG socket: {e}"))
    })?;
    // Best effort: the dump works with the default buffer, only slower.
    let _ = socket.set_rx_buf_sz(RCVBUF);
    Ok(socket)
}

/// A `SOCK_DIAG_BY_FAMILY` dump request (`struct inet_diag_req_v2`), with
/// the filter program appended as an `INET_DIAG_REQ_BYTECODE` attribute.
fn request(family: u8, states: StateSet, bytecode: Option<&[u8]>, seq: u32) -> Vec<u8> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    header.sequence_number = seq;
    let socket_id = if family == AF_INET6 {
        SocketId::new_v6()
    } else {
        SocketId::new_v4()
    };
    let payload = SockDiagMessage::InetRequest(InetRequest {
        family,
        protocol: IPPROTO_TCP,
        extensions: ExtensionFlags::empty(),
        // from_bits_retain: the crate's flags lack NEW_SYN_RECV (1 << 12).
        states: StateFlags::from_bits_retain(states.bits()),
        socket_id,
    });
    let mut message = NetlinkMessage::new(header, payload.into());
    message.finalize();
    let mut out = vec![0u8; message.buffer_len()];
    message.serialize(&mut out);
    if let Some(bc) = bytecode {
        // struct rtattr { u16 rta_len; u16 rta_type; } then the program;
        // programs are whole ops, so already 4-byte aligned.
        let attr_len = u16::try_from(4 + bc.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&attr_len.to_ne_bytes());
        out.extend_from_slice(&INET_DIAG_REQ_BYTECODE.to_ne_bytes());
        out.extend_from_slice(bc);
        let total = u32::try_from(out.len()).unwrap_or(u32::MAX);
        NetlinkBuffer::new(&mut out[..]).set_length(total);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_layout() {
        let r = request(AF_INET, StateSet::only(TcpState::Established), None, 7);
        // nlmsghdr (16) + inet_diag_req_v2 (56).
        assert_eq!(r.len(), 72);
        assert_eq!(u32::from_ne_bytes(r[0..4].try_into().unwrap()), 72);
        assert_eq!(u16::from_ne_bytes(r[4..6].try_into().unwrap()), 20);
        assert_eq!(u32::from_ne_bytes(r[8..12].try_into().unwrap()), 7);
        assert_eq!((r[16], r[17], r[18]), (AF_INET, IPPROTO_TCP, 0));
        assert_eq!(u32::from_ne_bytes(r[20..24].try_into().unwrap()), 1 << 1);

        let q = DiagQuery {
            local_ports: Some(80..=80),
            ..DiagQuery::new(StateSet::ALL)
        };
        let bc = q.bytecode().unwrap();
        let r = request(AF_INET6, q.states, Some(&bc), 8);
        assert_eq!(r.len(), 72 + 4 + bc.len());
        assert_eq!(
            u32::from_ne_bytes(r[0..4].try_into().unwrap()) as usize,
            r.len()
        );
        assert_eq!(
            u32::from_ne_bytes(r[20..24].try_into().unwrap()),
            StateSet::ALL.bits()
        );
        assert_eq!(
            u16::from_ne_bytes(r[74..76].try_into().unwrap()),
            INET_DIAG_REQ_BYTECODE
        );
    }

    #[test]
    fn port_match_shapes_the_program() {
        let mut q = DiagQuery::new(StateSet::ALL);
        assert_eq!(q.bytecode(), None);
        q.local_ports = Some(80..=80);
        q.remote_ports = Some(80..=80);
        let all = q.bytecode().unwrap();
        assert!(bytecode::run(&all, 80, 80) && !bytecode::run(&all, 80, 81));
        q.port_match = PortMatch::Any;
        let any = q.bytecode().unwrap();
        assert!(
            bytecode::run(&any, 80, 81) && bytecode::run(&any, 1, 80) && !bytecode::run(&any, 1, 2)
        );
    }
}
