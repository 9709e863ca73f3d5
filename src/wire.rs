//! What the supervisor and its workers say to each other: one JSON object
//! per line, over the worker's stdin and stdout pipes.
//!
//! Both ends frame with [`line()`] and [`Lines`]; a line that is not a
//! message is an error for that line alone, never a panic. A spec is built
//! whole by the command that plans it: the worker fills in nothing, and an
//! unknown field is refused.

use std::net::{IpAddr, SocketAddr};

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use c1m_probe::diag::TcpState;

use crate::cause::{Cause, CauseCounts, DropCounts};
use crate::latency;
use crate::plan::BindMode;
use crate::proxy;
use crate::stages::backoff::{Reconnect, Reconnects};
use crate::tls::{ClientTls, ServerTls};
use crate::traffic::Traffic;
use crate::ws::ClientWs;

/// How held connections are closed at teardown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CloseMode {
    /// `SO_LINGER` 0: an RST each, no TIME_WAIT left behind.
    Rst,
    /// An orderly FIN each; the closing side keeps TIME_WAIT for 60 s.
    Fin,
}

/// A cap several server workers share (`c1m serve --max-conns` over
/// more than one worker): one count in memory they all map, passed to
/// each at spawn ([`crate::cap`], `c1m_sys::shm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedCap {
    /// Connections the server holds at most, all workers together.
    pub max: u64,
    /// This worker's word among the counters (0-based, below `members`).
    pub slot: u32,
    /// How many workers share the cap.
    pub members: u32,
}

/// A server worker's job: listen and hold what comes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSpec {
    /// Where to listen.
    pub listeners: Vec<SocketAddr>,
    /// Share the listeners with other workers (`SO_REUSEPORT`).
    pub reuse_port: bool,
    /// The `listen()` backlog (the kernel caps it at `net.core.somaxconn`).
    pub backlog: i32,
    /// Connections beyond this are accepted and reset at once: this
    /// worker's own limit, its descriptor budget (or `--max-conns` for
    /// a server of one worker).
    pub cap: u64,
    /// The server's cap, shared with its other workers: a connection is
    /// also reset when the server as a whole holds this many
    /// ([`crate::cap`]); `None`: `cap` alone.
    #[serde(default)]
    pub shared_cap: Option<SharedCap>,
    /// `RLIMIT_NOFILE` to raise to (the cap and the worker's own needs).
    pub fd_limit: u64,
    /// How held connections are closed at the end.
    pub close: CloseMode,
    /// Send back what peers send (heartbeats, echo load).
    pub echo: bool,
    /// Call accept(); false leaves connections in the accept queue (to
    /// study its overflow).
    pub accept: bool,
    /// A peer sending a line longer than this (bytes, its newline
    /// counted) is closed (`worker::rules`).
    pub max_message: u64,
    /// A peer owed this many bytes of echoes it does not take is closed;
    /// also each listener's `TCP_NOTSENT_LOWAT`.
    pub max_unsent: u64,
    /// A connection that completes no line for this long (milliseconds)
    /// is closed; `None`: never.
    pub idle_timeout_ms: Option<u64>,
    /// Take a PROXY protocol header of this version off the front of
    /// every connection (`--proxy-protocol`); a peer that sends none is
    /// closed. `None`: no header is expected.
    pub proxy: Option<proxy::Version>,
    /// Speak TLS on every connection accepted (`--tls`), with this
    /// certificate and key; `None`: plain TCP.
    pub tls: Option<ServerTls>,
    /// Answer WebSocket upgrades and echo messages (`--websocket`), over
    /// TLS when `tls` is set; false: bytes as they come.
    #[serde(default)]
    pub websocket: bool,
    /// The network namespace to run in (`c1m lab`); `None`: c1m's own.
    pub netns: Option<String>,
}

/// A client worker's job: open connections `first..first + count` of the
/// plan and hold them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    /// The first global connection index (which source and destination
    /// each connection gets follows from it: [`crate::plan::pair_of`]).
    pub first: u64,
    /// How many connections.
    pub count: u64,
    /// Source addresses; empty: the kernel picks.
    pub sources: Vec<IpAddr>,
    /// How sockets are bound to their source.
    pub bind: BindMode,
    /// Every destination.
    pub endpoints: Vec<SocketAddr>,
    /// Connections per second for this worker; `None` is unlimited.
    pub rate: Option<f64>,
    /// Handshakes under way at once, at most.
    pub window: u64,
    /// A handshake not done in this many milliseconds fails (timeout).
    pub connect_timeout_ms: u64,
    /// `RLIMIT_NOFILE` to raise to.
    pub fd_limit: u64,
    /// How held connections are closed at the end.
    pub close: CloseMode,
    /// What held connections do.
    pub traffic: Traffic,
    /// `IP_LOCAL_PORT_RANGE` for every socket, with `BindMode::Range`.
    pub ports: Option<(u16, u16)>,
    /// Reopen what the server closes or what fails, with back-off
    /// (`--reconnect`; the rate is this worker's part); `None`: a
    /// connection lost stays lost.
    pub reconnect: Option<Reconnect>,
    /// Send a PROXY protocol header as the first bytes of every
    /// connection (`--proxy-protocol`, `--proxy-sources`).
    pub proxy: Option<proxy::Send>,
    /// Speak TLS on every connection (`--tls`); `None`: plain TCP.
    pub tls: Option<ClientTls>,
    /// Speak WebSocket on every connection (`--websocket PATH`), over TLS
    /// when `tls` is set; `None`: bytes as they come.
    #[serde(default)]
    pub websocket: Option<Box<ClientWs>>,
    /// The network namespace to run in (`c1m lab`); `None`: c1m's own.
    pub netns: Option<String>,
}

/// A worker's job, built whole by the command that plans it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "role")]
// One per worker, made once and sent boxed (`ToWorker::Start`): the
// variants' sizes cost nothing worth a box each.
#[allow(clippy::large_enum_variant)]
pub enum WorkerSpec {
    /// Listen and hold what comes.
    Server(ServerSpec),
    /// Open connections and hold them.
    Client(ClientSpec),
}

impl WorkerSpec {
    /// The network namespace the worker runs in, if not c1m's own.
    pub fn netns(&self) -> Option<&str> {
        match self {
            WorkerSpec::Server(s) => s.netns.as_deref(),
            WorkerSpec::Client(c) => c.netns.as_deref(),
        }
    }
}

/// From the supervisor to a worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ToWorker {
    /// The job; the first line a worker reads.
    Start(Box<WorkerSpec>),
    /// Clients: begin opening connections (toward every connection of
    /// the spec, unless a [`ToWorker::Target`] came first).
    Go,
    /// Clients: move the number of connections open linearly from the
    /// previous target's end to `conns` over `over_ms` milliseconds (at
    /// once for 0), opening at `--rate` and `--window` at most, closing
    /// the most recently opened first as `--close` says; then hold
    /// `conns` (`--stages`).
    Target {
        /// Connections at the end of the line, at most the spec's count.
        conns: u64,
        /// How long the line takes, milliseconds.
        over_ms: u64,
    },
    /// Servers: close `fraction` (0 to 1) of the connections held now,
    /// spread over them, as `--close` says (`--close-fraction`).
    CloseSome {
        /// The share to close.
        fraction: f64,
    },
    /// Clients: open no more (keep holding what is open).
    Pause,
    /// Clients: open and reopen nothing until the next
    /// [`ToWorker::Target`], which goes on from where the plan is (the
    /// top's reading, of a fleet at rest, with stages).
    Freeze,
    /// Clients: start the heartbeats (at the hold, so they do not slow the
    /// ramp; with the ramp when a capacity search times them).
    Beat {
        /// The hold's length, milliseconds: sends are scheduled within it
        /// and no later (a late worker sends its backlog, none past it).
        /// `None`: until [`ToWorker::EndBeats`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        for_ms: Option<u64>,
        /// With `for_ms`: the wait for the replies after the hold,
        /// milliseconds. The worker then ends its heartbeats by itself at
        /// `for_ms + grace_ms` after this command, in its own clock, as
        /// [`ToWorker::EndBeats`] would (which may still end them sooner).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        grace_ms: Option<u64>,
    },
    /// Ask the kernel the state of every socket held (getsockopt
    /// `TCP_INFO`) and answer with [`FromWorker::Count`].
    Count,
    /// Clients: schedule no more heartbeats (the hold is over); send those
    /// already due and not yet sent (a worker behind its schedule), and
    /// answer [`FromWorker::BeatsEnded`] once all are sent and no
    /// connection awaits a reply, or `grace_ms` milliseconds have passed
    /// (sends still unsent then are lost, and so are the replies still
    /// awaited, each timed to that end). An end the worker already has
    /// (`Beat`'s `grace_ms`) that comes sooner stays.
    EndBeats {
        /// The longest wait for the replies on their way, milliseconds.
        grace_ms: u64,
    },
    /// Close every connection, report, and exit.
    Close,
}

/// A worker's own connection sockets counted by the kernel's state of
/// each (getsockopt(2) `TCP_INFO`, `tcpi_state`: tcp(7)), asked one by
/// one when the supervisor sends [`ToWorker::Count`]: c1m's sockets and
/// no other process's, in the kernel's words rather than the worker's
/// bookkeeping. A server's listeners are not counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnStates {
    /// Sockets in `ESTABLISHED`.
    pub established: u64,
    /// Sockets in `CLOSE_WAIT`: the peer closed, the worker has not yet
    /// (not held).
    pub close_wait: u64,
    /// Sockets in any other state (a client's handshakes under way in
    /// `SYN_SENT`, closing states), or whose state could not be read.
    pub other: u64,
    /// CPU time the walk took, microseconds (the worker's thread CPU
    /// clock, not the wall clock: waits for a core are left out); summed
    /// over workers, what the count cost.
    pub took_us: u64,
    /// TLS connections the worker holds (their handshake done).
    #[serde(default)]
    pub tls: u64,
    /// How much the worker's heap grew since it said it was ready,
    /// bytes, by the allocator's own count
    /// ([`c1m_sys::process::heap_in_use`]): its tables are made before,
    /// so this is what its connections allocated — their TLS state.
    /// `None` where unreadable.
    #[serde(default)]
    pub heap_growth: Option<i64>,
    /// WebSocket connections the worker holds (their upgrade done).
    #[serde(default)]
    pub ws: u64,
    /// Of `heap_growth`, what the worker's WebSocket layer holds, bytes,
    /// counted by the allocator as its code allocates and frees
    /// ([`c1m_sys::alloc::held`]); `None` without WebSocket.
    #[serde(default)]
    pub ws_heap: Option<i64>,
}

impl OwnStates {
    /// Counts one socket by its `tcpi_state` (`include/net/tcp_states.h`);
    /// `None`: its state could not be read.
    pub fn add(&mut self, state: Option<u8>) {
        match state.and_then(TcpState::from_raw) {
            Some(TcpState::Established) => self.established += 1,
            Some(TcpState::CloseWait) => self.close_wait += 1,
            _ => self.other += 1,
        }
    }

    /// Every socket counted.
    pub fn total(&self) -> u64 {
        self.established + self.close_wait + self.other
    }

    /// Adds another worker's count.
    pub fn merge(&mut self, o: &OwnStates) {
        self.established += o.established;
        self.close_wait += o.close_wait;
        self.other += o.other;
        self.took_us += o.took_us;
        self.tls += o.tls;
        self.heap_growth = match (self.heap_growth, o.heap_growth) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        self.ws += o.ws;
        self.ws_heap = match (self.ws_heap, o.ws_heap) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
    }
}

/// A worker's counters, and (summed) the report's. Gauges are "now";
/// totals only grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stats {
    /// Connections this worker is planned to make (clients) or hold.
    pub planned: u64,
    /// Client: connect() calls made. Server: connections accepted.
    pub attempted: u64,
    /// Gauge: handshakes under way.
    pub connecting: u64,
    /// Gauge: connections held now.
    pub established: u64,
    /// Total: handshakes that completed (the connection existed, however
    /// briefly).
    pub opened: u64,
    /// Total: established connections the peer closed with a FIN and no
    /// data first (for a client, the handshake's end and the FIN in one
    /// event included).
    pub closed_fin: u64,
    /// Total: established connections the peer sent data on, then closed
    /// with a FIN (Redis's error line past `maxclients`).
    pub closed_fin_data: u64,
    /// Total: established connections the peer reset (RST).
    pub closed_rst: u64,
    /// Total: connections refused at the cap (server).
    pub rejected: u64,
    /// Failures by cause.
    pub failed: CauseCounts,
    /// Client: messages sent. Server: bytes echoed.
    pub sent: u64,
    /// Client: replies received whole (and as expected).
    pub replies: u64,
    /// Client: replies that did not start with the expected bytes.
    pub mismatched: u64,
    /// Client: sends due while the previous reply had not come yet,
    /// skipped (only when replies are not echoes of the message: then
    /// one reply's end cannot be told from the next one's start; echoes
    /// are sent on schedule, pipelined); each is timed from its own
    /// scheduled time when that reply comes.
    pub late: u64,
    /// Client: sends whose reply never came (the connection closed, the
    /// send failed, or the experiment ended first; `unsent` included).
    pub lost: u64,
    /// Client: sends scheduled within the hold that the worker, behind
    /// its schedule, had not made when the end came (counted in `lost`,
    /// each timed from its schedule to the end). Absent when none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unsent: u64,
    /// Server: connections closed for misbehaving (idle, oversized
    /// messages, not reading their echoes).
    pub dropped: u64,
    /// Server: `dropped` by the rule each peer broke (absent from reports
    /// before they were told apart).
    #[serde(default)]
    pub drops: DropCounts,
    /// Closed by c1m on purpose while holding: a client's at a stage
    /// going down (`--stages`, `--ramp-down`), a server's on
    /// `--close-fraction`. Absent when none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub shed: u64,
    /// Client: connections reopened (`--reconnect`), by what ended the
    /// one each replaces. Absent when none.
    #[serde(default, skip_serializing_if = "Reconnects::is_zero")]
    pub reconnects: Reconnects,
    /// Client gauge: connections waiting out their back-off before a
    /// reopen (`--reconnect`). Absent when none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retrying: u64,
    /// Client gauge: connections the current target asks for that are
    /// not yet opened (0 once a stage's opening is done). Absent when
    /// none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub behind: u64,
    /// PROXY protocol headers (`--proxy-protocol`; absent from reports
    /// before it existed).
    #[serde(default)]
    pub proxy: ProxyCounts,
    /// TLS: handshakes that completed (absent without TLS: zero).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tls_handshakes: u64,
    /// TLS: of those, the ones that resumed an earlier session (an
    /// abbreviated handshake: no certificate sent or checked).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tls_resumed: u64,
    /// WebSocket: upgrades that completed (absent without WebSocket).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ws_upgrades: u64,
    /// `established`'s high-water mark: the most connections this worker
    /// held at once, at one instant of its own (between the reports, too).
    /// Summed counters (`clients`, `servers`) keep the highest worker's:
    /// a lower bound of the fleet's most at once, never a sum of peaks
    /// of different instants. Absent when none (and from reports before
    /// it existed).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub peak: u64,
}

/// PROXY protocol headers (`--proxy-protocol`): those a client sent,
/// or a server took off the front of its connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProxyCounts {
    /// Client: headers sent whole, one per connection, before any other
    /// byte. Server: headers taken whole.
    pub headers: u64,
    /// Their bytes (a client's are part of what it sent).
    pub bytes: u64,
    /// Client: headers that could not be written, by cause; each
    /// connection is closed by c1m, and counted in `failed` too.
    pub failed: CauseCounts,
}

impl ProxyCounts {
    /// Adds another worker's counts.
    pub fn merge(&mut self, o: &ProxyCounts) {
        self.headers += o.headers;
        self.bytes += o.bytes;
        self.failed.merge(&o.failed);
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Stats {
    /// Adds another worker's counters.
    pub fn merge(&mut self, o: &Stats) {
        self.planned += o.planned;
        self.attempted += o.attempted;
        self.connecting += o.connecting;
        self.established += o.established;
        self.opened += o.opened;
        self.closed_fin += o.closed_fin;
        self.closed_fin_data += o.closed_fin_data;
        self.closed_rst += o.closed_rst;
        self.rejected += o.rejected;
        self.failed.merge(&o.failed);
        self.sent += o.sent;
        self.replies += o.replies;
        self.mismatched += o.mismatched;
        self.late += o.late;
        self.lost += o.lost;
        self.unsent += o.unsent;
        self.dropped += o.dropped;
        self.drops.merge(&o.drops);
        self.shed += o.shed;
        self.reconnects.merge(&o.reconnects);
        self.retrying += o.retrying;
        self.behind += o.behind;
        self.proxy.merge(&o.proxy);
        self.tls_handshakes += o.tls_handshakes;
        self.tls_resumed += o.tls_resumed;
        self.ws_upgrades += o.ws_upgrades;
        self.peak = self.peak.max(o.peak);
    }

    /// Established connections the peer closed, however.
    pub fn peer_closed(&self) -> u64 {
        self.closed_fin + self.closed_fin_data + self.closed_rst
    }

    /// A client has tried every connection and none is still connecting.
    pub fn ramp_done(&self) -> bool {
        self.attempted >= self.planned && self.connecting == 0
    }

    /// A client has opened what its current [`ToWorker::Target`] asks
    /// for and none is still connecting (those that failed wait for
    /// their reopen, or are lost).
    pub fn target_reached(&self) -> bool {
        self.behind == 0 && self.connecting == 0
    }
}

/// From a worker to the supervisor.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FromWorker {
    /// Set up (listening, or ready to connect).
    Ready {
        /// The worker's `RLIMIT_NOFILE` soft limit once raised, in
        /// descriptors (getrlimit(2)).
        fd_limit: u64,
    },
    /// Counters, about four times a second.
    Stats(Stats),
    /// Latency recorded since the last such line, about once a second.
    Latency(latency::Encoded),
    /// The first bytes a server sent on a connection it then closed (at
    /// most 128), once per worker.
    FirstBytes(Vec<u8>),
    /// The answer to [`ToWorker::Count`].
    Count(OwnStates),
    /// The first TLS handshake failure of each cause, once per worker:
    /// rustls' words for it (`invalid peer certificate: UnknownIssuer`).
    TlsFailure {
        /// The cause it was counted under.
        cause: Cause,
        /// What rustls said.
        detail: String,
    },
    /// What the worker's first TLS handshake agreed on, once: the
    /// version and cipher suite (`TLSv1_3 TLS13_AES_256_GCM_SHA384`), and
    /// the ALPN protocol when one was.
    TlsAgreed(String),
    /// The HTTP statuses a client worker's upgrades were refused with so
    /// far, each with its count (the whole tally each time: the latest
    /// replaces the worker's earlier one).
    WsStatuses(Vec<(u16, u64)>),
    /// The first WebSocket failure of each cause, once per worker, in
    /// words (`Sec-WebSocket-Accept "x" does not answer the key sent`).
    WsFailure {
        /// The cause it was counted under.
        cause: Cause,
        /// What went wrong.
        detail: String,
    },
    /// The answer to [`ToWorker::EndBeats`]: no more heartbeats, and no
    /// reply awaited (or the grace is over).
    BeatsEnded,
    /// Everything closed; the last word before exit.
    Closed(Stats),
    /// The worker cannot go on; it exits after this.
    Fatal(String),
}

/// One message as one line: its JSON, then a newline.
pub fn line<T: Serialize>(msg: &T) -> Vec<u8> {
    let mut out = Vec::new();
    line_into(msg, &mut out);
    out
}

/// [`line()`] into `out`, its old content replaced and its capacity
/// kept (a worker reuses one buffer for every message it sends).
pub fn line_into<T: Serialize>(msg: &T, out: &mut Vec<u8>) {
    out.clear();
    if serde_json::to_writer(&mut *out, msg).is_err() {
        out.clear();
    }
    out.push(b'\n');
}

/// The bytes of a pipe, cut into messages, one per line: how both ends
/// read what the other wrote with [`line()`].
#[derive(Debug, Default)]
pub struct Lines {
    buf: Vec<u8>,
}

/// How a pipe read went.
pub type ReadResult = Result<usize, c1m_sys::Errno>;

impl Lines {
    /// Reads with `read` (a nonblocking read of the pipe) until it has
    /// nothing more; true when the pipe reached its end (or failed).
    pub fn fill(&mut self, mut read: impl FnMut(&mut [u8]) -> ReadResult) -> bool {
        let mut chunk = [0u8; 8192];
        loop {
            match read(&mut chunk) {
                Ok(0) => return true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(c1m_sys::Errno::INTR) => continue,
                Err(c1m_sys::Errno::AGAIN) => return false,
                Err(_) => return true,
            }
        }
    }

    /// The next whole line's message, if a whole line is there: `Err`
    /// for a line that is not one.
    pub fn next_message<T: DeserializeOwned>(&mut self) -> Option<Result<T, serde_json::Error>> {
        let nl = self.buf.iter().position(|&b| b == b'\n')?;
        let line: Vec<u8> = self.buf.drain(..=nl).collect();
        Some(serde_json::from_slice(&line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_come_out_whole_however_the_bytes_arrive() {
        let mut bytes = line(&ToWorker::Go);
        bytes.extend(line(&ToWorker::Close));
        bytes.extend_from_slice(b"garbage\n{\"par");
        let mut lines = Lines::default();
        let mut chunks = bytes.chunks(3).map(<[u8]>::to_vec);
        let eof = lines.fill(|buf| match chunks.next() {
            Some(c) => {
                buf[..c.len()].copy_from_slice(&c);
                Ok(c.len())
            }
            None => Err(c1m_sys::Errno::AGAIN),
        });
        assert!(!eof);
        assert!(matches!(
            lines.next_message::<ToWorker>(),
            Some(Ok(ToWorker::Go))
        ));
        assert!(matches!(
            lines.next_message::<ToWorker>(),
            Some(Ok(ToWorker::Close))
        ));
        assert!(matches!(lines.next_message::<ToWorker>(), Some(Err(_))));
        assert!(
            lines.next_message::<ToWorker>().is_none(),
            "a partial line waits"
        );
        assert!(lines.fill(|_| Ok(0)), "end of the pipe");
    }

    #[test]
    fn messages_round_trip_as_single_lines() {
        let spec = ToWorker::Start(Box::new(WorkerSpec::Client(ClientSpec {
            first: 5,
            count: 10,
            sources: vec!["127.0.2.1".parse().unwrap()],
            bind: BindMode::NoPort,
            endpoints: vec!["127.0.0.1:8090".parse().unwrap()],
            rate: None,
            window: 100,
            connect_timeout_ms: 1000,
            fd_limit: 1000,
            close: CloseMode::Rst,
            traffic: Traffic::idle(),
            ports: None,
            reconnect: None,
            proxy: None,
            tls: None,
            websocket: None,
            netns: None,
        })));
        let line = serde_json::to_string(&spec).unwrap();
        assert!(!line.contains('\n'));
        let back: ToWorker = serde_json::from_str(&line).unwrap();
        let ToWorker::Start(spec) = back else {
            panic!("not a spec");
        };
        assert!(matches!(
            *spec,
            WorkerSpec::Client(ClientSpec { count: 10, .. })
        ));
    }

    #[test]
    fn own_states_count_by_the_kernels_numbers() {
        let mut a = OwnStates::default();
        for raw in [1, 1, 8, 2, 5] {
            a.add(Some(raw));
        }
        a.add(None);
        a.add(Some(200));
        assert_eq!((a.established, a.close_wait, a.other), (2, 1, 4));
        let mut b = OwnStates {
            established: 3,
            took_us: 7,
            ..Default::default()
        };
        b.merge(&a);
        assert_eq!((b.established, b.total(), b.took_us), (5, 10, 7));
        let line = line(&FromWorker::Count(b));
        let back: FromWorker = serde_json::from_slice(&line).unwrap();
        assert!(matches!(back, FromWorker::Count(c) if c == b));
    }

    #[test]
    fn stats_merge_and_ramp_done() {
        let mut a = Stats {
            planned: 2,
            attempted: 2,
            established: 2,
            sent: 5,
            ..Default::default()
        };
        assert!(a.ramp_done());
        let b = Stats {
            planned: 3,
            attempted: 3,
            connecting: 1,
            sent: 9,
            ..Default::default()
        };
        a.merge(&b);
        assert_eq!(a.planned, 5);
        assert_eq!(a.sent, 14);
        assert!(!a.ramp_done());
    }
}
