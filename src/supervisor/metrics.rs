//! The supervisor's counters as a Prometheus scrape target: `GET /metrics`
//! in the text exposition format (version 0.0.4), on loopback by default.
//!
//! The session hands a [`MetricsSnapshot`] to [`MetricsServer::update`]
//! at each sample; a scrape renders the latest one. Before the first
//! update only `c1m_build_info` is exposed: no counter reads as a zero it
//! never was.
//!
//! The server is one std thread with its own epoll set and nonblocking
//! sockets: it answers one request per connection (`Connection: close`),
//! up to [`MAX_CONNS`] connections at once (more wait in the listen
//! backlog), reads at most [`MAX_REQUEST`] bytes of request head, and
//! gives each connection [`DEADLINE`] from accept to close, so no client
//! holds it: a silent one, one trickling its request a byte at a time
//! (answered 408 at the deadline), one sending a megabyte of headers
//! (answered 431, the rest read and dropped until the deadline), or a
//! crowd. A scrape only reads: it never changes the session, and takes
//! the snapshot's lock only to copy it. A full HTTP framework (hyper,
//! axum, tiny_http) would add an async runtime or dozens of crates for one
//! text page that a scraper fetches every few seconds.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use c1m_sys::poll::{self, Poller};

use crate::cause::{Cause, CauseCounts, DropCounts, Rule};
use crate::supervisor::fleet::{Fleet, Role};
use crate::wire::Stats;

/// The longest request read (request line and headers).
pub const MAX_REQUEST: usize = 8 << 10;
/// How long one connection may last, from accept to close: sending its
/// request, reading the answer, closing. Prometheus's default scrape
/// timeout is 10 s; a scrape takes milliseconds.
pub const DEADLINE: Duration = Duration::from_secs(5);
/// Connections served at once; more wait in the listen backlog.
pub const MAX_CONNS: usize = 64;
/// The exposition format's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One fleet's figures: the server workers' or the client workers'.
/// `None` marks what does not apply to the role (a server does not
/// connect, a client does not accept); it is not exposed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoleMetrics {
    /// Worker processes alive.
    pub workers: u64,
    /// Their summed resident set size, bytes, if it was read.
    pub rss_bytes: Option<u64>,
    /// Connections held now.
    pub established: u64,
    /// Handshakes under way now (clients).
    pub connecting: Option<u64>,
    /// Connections accepted, those reset at the cap included (servers).
    pub accepted: Option<u64>,
    /// Connections that got established.
    pub opened: u64,
    /// Connections the peer closed or reset while held.
    pub closed_by_peer: u64,
    /// Connections accepted and reset at once, beyond the cap (servers).
    pub rejected: Option<u64>,
    /// Failed connections (clients) or accepts (servers), by cause.
    pub failures: CauseCounts,
    /// Peers the servers closed, by the rule each broke (servers).
    pub dropped: Option<DropCounts>,
    /// Bytes the servers echoed (servers).
    pub echoed: Option<u64>,
    /// PROXY protocol headers sent (clients) or taken (servers).
    pub proxy_headers: u64,
}

impl RoleMetrics {
    /// A server fleet's figures from its summed [`Stats`].
    pub fn servers(stats: &Stats, workers: u64, rss_bytes: Option<u64>) -> Self {
        Self {
            workers,
            rss_bytes,
            established: stats.established,
            connecting: None,
            accepted: Some(stats.attempted),
            opened: stats.opened,
            closed_by_peer: stats.peer_closed(),
            rejected: Some(stats.rejected),
            failures: stats.failed,
            dropped: Some(stats.drops),
            echoed: Some(stats.sent),
            proxy_headers: stats.proxy.headers,
        }
    }

    /// A client fleet's figures from its summed [`Stats`].
    pub fn clients(stats: &Stats, workers: u64, rss_bytes: Option<u64>) -> Self {
        Self {
            workers,
            rss_bytes,
            established: stats.established,
            connecting: Some(stats.connecting),
            accepted: None,
            opened: stats.opened,
            closed_by_peer: stats.peer_closed(),
            rejected: None,
            failures: stats.failed,
            dropped: None,
            echoed: None,
            proxy_headers: stats.proxy.headers,
        }
    }
}

/// What a scrape shows: each fleet the session runs (`serve` has no
/// clients, `connect` no servers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// The server workers' figures; `None` when the session has none.
    pub servers: Option<RoleMetrics>,
    /// The client workers' figures; `None` when the session has none.
    pub clients: Option<RoleMetrics>,
}

impl MetricsSnapshot {
    /// A fleet's figures now: each role's summed counters, its workers
    /// alive, and their RSS (one statm read per worker, ~1 µs each). A
    /// role without workers (`serve`'s clients) is left out.
    pub fn of_fleet(fleet: &Fleet) -> Self {
        let role = |role: Role, make: fn(&Stats, u64, Option<u64>) -> RoleMetrics| {
            fleet.of(role).next()?;
            let pids: Vec<u32> = fleet
                .of(role)
                .filter(|w| w.alive())
                .map(|w| w.pid)
                .collect();
            let rss = crate::supervisor::measure::rss(&pids);
            Some(make(&fleet.totals(role), pids.len() as u64, Some(rss)))
        };
        Self {
            servers: role(Role::Server, RoleMetrics::servers),
            clients: role(Role::Client, RoleMetrics::clients),
        }
    }
}

/// The latest snapshot, shared between the session and the server thread.
#[derive(Debug, Default)]
pub struct Metrics {
    latest: Mutex<Option<MetricsSnapshot>>,
}

impl Metrics {
    /// No snapshot yet: a scrape shows only `c1m_build_info`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the snapshot the next scrape shows.
    pub fn update(&self, snapshot: &MetricsSnapshot) {
        *self.latest.lock().unwrap_or_else(|e| e.into_inner()) = Some(*snapshot);
    }

    /// The exposition text of the latest snapshot.
    pub fn render(&self) -> String {
        let latest = *self.latest.lock().unwrap_or_else(|e| e.into_inner());
        render(latest.as_ref())
    }
}

/// Refuses to expose metrics beyond this machine unless asked to: the
/// address must be loopback, or `public` set (`--metrics-public`).
pub fn check_addr(addr: SocketAddr, public: bool) -> anyhow::Result<()> {
    if public || addr.ip().to_canonical().is_loopback() {
        return Ok(());
    }
    bail!(
        "--metrics {addr}: not a loopback address, so anyone who can reach it could read the metrics; \
         use 127.0.0.1:PORT, or add --metrics-public to mean it"
    )
}

/// The metrics endpoint: a listening socket and the thread answering it.
/// Dropping it stops the thread and closes the socket.
#[derive(Debug)]
pub struct MetricsServer {
    metrics: Arc<Metrics>,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Listens on `addr` (port 0 picks one: see [`MetricsServer::local_addr`])
/// and answers `GET /metrics` from one background thread. Call
/// [`check_addr`] first. Fails if `addr` cannot be bound (in use, not an
/// address of this machine, a privileged port) or the thread cannot start.
pub fn serve(addr: SocketAddr) -> anyhow::Result<MetricsServer> {
    let listener =
        TcpListener::bind(addr).with_context(|| format!("listening for metrics on {addr}"))?;
    let addr = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    let metrics = Arc::new(Metrics::new());
    let stop = Arc::new(AtomicBool::new(false));
    // The epoll set is made on the thread that waits on it (its event
    // buffer cannot move between threads); how that went comes back here.
    let (started, outcome) = std::sync::mpsc::channel();
    let thread = {
        let (metrics, stop) = (Arc::clone(&metrics), Arc::clone(&stop));
        std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || {
                let poller = Poller::new(MAX_CONNS + 1)
                    .and_then(|p| p.add(&listener, LISTENER, poll::READ).map(|_| p));
                let _ = started.send(poller.as_ref().map(|_| ()).map_err(|e| *e));
                if let Ok(poller) = poller {
                    let mut endpoint = Endpoint {
                        poller,
                        listener,
                        conns: (0..MAX_CONNS).map(|_| None).collect(),
                        listening: true,
                        paused_until: None,
                    };
                    endpoint.run(&metrics, &stop);
                }
            })
            .context("starting the metrics thread")?
    };
    match outcome.recv() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => bail!("the metrics endpoint's epoll set: {e}"),
        Err(_) => bail!("the metrics thread ended before it started"),
    }
    Ok(MetricsServer {
        metrics,
        addr,
        stop,
        thread: Some(thread),
    })
}

impl MetricsServer {
    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the snapshot the next scrape shows.
    pub fn update(&self, snapshot: &MetricsSnapshot) {
        self.metrics.update(snapshot);
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the thread's wait with a connection of our own (it also
        // wakes by itself within `TICK`).
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        let _ = TcpStream::connect_timeout(&SocketAddr::new(ip, self.addr.port()), TICK);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The listener's token; a connection's is its slot.
const LISTENER: u64 = u64::MAX;
/// The longest wait between two looks at the stop flag and deadlines.
const TICK: Duration = Duration::from_millis(250);
/// How long accepting pauses after accept() failed (EMFILE and the like:
/// the listener stays readable, so accepting at once would spin).
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// The endpoint's thread: its epoll set, listener and connections.
struct Endpoint {
    poller: Poller,
    listener: TcpListener,
    conns: Vec<Option<Conn>>,
    /// The listener is in the epoll set (not while every slot is taken,
    /// nor while accepting pauses).
    listening: bool,
    paused_until: Option<Instant>,
}

impl Endpoint {
    fn run(&mut self, metrics: &Metrics, stop: &AtomicBool) {
        let mut ready = Vec::with_capacity(MAX_CONNS + 1);
        let mut scratch = vec![0u8; MAX_REQUEST];
        while !stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            let wait = self
                .conns
                .iter()
                .flatten()
                .map(|c| c.deadline)
                .chain(self.paused_until)
                .min()
                .map_or(TICK, |d| d.saturating_duration_since(now).min(TICK));
            ready.clear();
            match self.poller.wait(wait) {
                Ok(events) => ready.extend(events.map(|e| e.token)),
                Err(_) => std::thread::sleep(TICK),
            }
            for &token in &ready {
                if token == LISTENER {
                    self.accept();
                } else if let Some(slot) = self.conns.get_mut(token as usize)
                    && let Some(c) = slot
                    && !c.advance(metrics, &mut scratch)
                {
                    *slot = None;
                }
            }
            let now = Instant::now();
            for slot in &mut self.conns {
                if slot.as_ref().is_some_and(|c| now >= c.deadline)
                    && let Some(c) = slot.take()
                {
                    c.expire();
                }
            }
            self.listen_again(now);
        }
    }

    /// Accepts into free slots; with none left, leaves the rest in the
    /// listen backlog.
    fn accept(&mut self) {
        while let Some(i) = self.conns.iter().position(Option::is_none) {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    let conn = stream.set_nonblocking(true).and_then(|_| {
                        self.poller
                            .add(&stream, i as u64, CONN)
                            .map_err(io::Error::from)
                    });
                    if conn.is_ok() {
                        self.conns[i] = Some(Conn::new(stream, Instant::now() + DEADLINE));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // EMFILE and the like, or a connection reset while queued:
                // pause rather than spin on a listener that stays readable.
                Err(_) => {
                    self.paused_until = Some(Instant::now() + ACCEPT_PAUSE);
                    break;
                }
            }
        }
        if self.listening {
            let _ = self.poller.delete(&self.listener);
            self.listening = false;
        }
    }

    /// Puts the listener back once a slot is free and no pause holds.
    fn listen_again(&mut self, now: Instant) {
        if self.paused_until.is_some_and(|t| now < t) || self.listening {
            return;
        }
        if self.conns.iter().any(Option::is_none) {
            self.paused_until = None;
            self.listening = self
                .poller
                .add(&self.listener, LISTENER, poll::READ)
                .is_ok();
        }
    }
}

/// A connection waits for input, room to write and the peer's close,
/// edge-triggered: each event is followed until the socket would block.
const CONN: poll::Interest = poll::HELD_WRITING;

/// Where one connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Reading the request head.
    Reading,
    /// Writing the answer; this many bytes written.
    Writing(usize),
    /// Answered and shut for writing: reading (and dropping) what else
    /// the client sends until it closes.
    Draining,
}

/// One client connection.
struct Conn {
    stream: TcpStream,
    deadline: Instant,
    head: Vec<u8>,
    answer: Vec<u8>,
    stage: Stage,
}

impl Conn {
    fn new(stream: TcpStream, deadline: Instant) -> Self {
        Self {
            stream,
            deadline,
            head: Vec::new(),
            answer: Vec::new(),
            stage: Stage::Reading,
        }
    }

    /// Goes as far as the socket lets it; false when the connection is
    /// done (closed by the client, failed, or answered and closed).
    fn advance(&mut self, metrics: &Metrics, scratch: &mut [u8]) -> bool {
        loop {
            let step = match self.stage {
                Stage::Reading => {
                    let room = MAX_REQUEST - self.head.len();
                    self.stream.read(&mut scratch[..room]).map(|n| {
                        let from = self.head.len().saturating_sub(3);
                        self.head.extend_from_slice(&scratch[..n]);
                        if n == 0
                            || head_end(&self.head[from..]).is_some()
                            || self.head.len() == MAX_REQUEST
                        {
                            self.answer = response(Request::parse(&self.head), || metrics.render());
                            self.head = Vec::new();
                            self.stage = Stage::Writing(0);
                        }
                        true
                    })
                }
                Stage::Writing(at) => self.stream.write(&self.answer[at..]).map(|n| {
                    let at = at + n;
                    if at < self.answer.len() {
                        self.stage = Stage::Writing(at);
                        return n > 0;
                    }
                    self.answer = Vec::new();
                    self.stage = Stage::Draining;
                    self.stream.shutdown(Shutdown::Write).is_ok()
                }),
                Stage::Draining => self.stream.read(scratch).map(|n| n > 0),
            };
            match step {
                Ok(true) => {}
                Ok(false) => return false,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
    }

    /// The deadline passed: a request still coming is answered 408 (one
    /// write, as far as the socket takes it); then the connection closes.
    fn expire(mut self) {
        if self.stage == Stage::Reading {
            let _ = self.stream.write(&response(Request::TimedOut, String::new));
            let _ = self.stream.shutdown(Shutdown::Write);
        }
    }
}

/// Where the request head ends (after the blank line), if it does.
fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    crlf.or_else(|| buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2))
}

/// What was asked, as far as this server cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// `GET /metrics` (a query string is ignored); `head` for `HEAD`.
    Metrics {
        /// `HEAD`: answer with the headers only.
        head: bool,
    },
    /// GET or HEAD of another path.
    NotFound {
        /// `HEAD`: answer with the headers only.
        head: bool,
    },
    /// Another method.
    BadMethod,
    /// Not HTTP/1.x, or cut short.
    Malformed,
    /// No blank line within [`MAX_REQUEST`] bytes.
    TooLarge,
    /// The request did not come whole within [`DEADLINE`] (never
    /// returned by [`Request::parse`]).
    TimedOut,
}

impl Request {
    /// Reads the request head (request line and headers). Never panics.
    pub fn parse(buf: &[u8]) -> Request {
        let Some(end) = head_end(buf) else {
            return if buf.len() >= MAX_REQUEST {
                Request::TooLarge
            } else {
                Request::Malformed
            };
        };
        let line = buf[..end].split(|&b| b == b'\n').next().unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut parts = line.split(|&b| b == b' ');
        let (Some(method), Some(target), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Request::Malformed;
        };
        if !version.starts_with(b"HTTP/1.") {
            return Request::Malformed;
        }
        let head = match method {
            b"GET" => false,
            b"HEAD" => true,
            _ => return Request::BadMethod,
        };
        let path = target.split(|&b| b == b'?').next().unwrap_or_default();
        if path == b"/metrics" {
            Request::Metrics { head }
        } else {
            Request::NotFound { head }
        }
    }
}

/// The whole HTTP/1.1 response to a request; `body` renders the metrics.
pub fn response(request: Request, body: impl FnOnce() -> String) -> Vec<u8> {
    let (status, content_type, text, head, extra) = match request {
        Request::Metrics { head } => ("200 OK", CONTENT_TYPE, body(), head, ""),
        Request::NotFound { head } => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "not found: the metrics are at /metrics\n".to_string(),
            head,
            "",
        ),
        Request::BadMethod => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "only GET and HEAD\n".to_string(),
            false,
            "Allow: GET, HEAD\r\n",
        ),
        Request::Malformed => (
            "400 Bad Request",
            "text/plain; charset=utf-8",
            "bad request\n".to_string(),
            false,
            "",
        ),
        Request::TooLarge => (
            "431 Request Header Fields Too Large",
            "text/plain; charset=utf-8",
            format!("the request head is over {MAX_REQUEST} bytes\n"),
            false,
            "",
        ),
        Request::TimedOut => (
            "408 Request Timeout",
            "text/plain; charset=utf-8",
            format!(
                "the request did not come whole within {} s\n",
                DEADLINE.as_secs()
            ),
            false,
            "",
        ),
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        text.len()
    )
    .into_bytes();
    if !head {
        out.extend_from_slice(text.as_bytes());
    }
    out
}

/// One metric family: its name, type, help, and each role's value.
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    value: fn(&RoleMetrics) -> Option<u64>,
    /// An extra label, `name="value"`, for families split by it.
    label: Option<(&'static str, &'static str)>,
}

const FAMILIES: &[Family] = &[
    Family {
        name: "c1m_workers",
        kind: "gauge",
        help: "Worker processes alive.",
        value: |r| Some(r.workers),
        label: None,
    },
    Family {
        name: "c1m_workers_resident_memory_bytes",
        kind: "gauge",
        help: "Summed resident set size of the workers, in bytes.",
        value: |r| r.rss_bytes,
        label: None,
    },
    Family {
        name: "c1m_connections",
        kind: "gauge",
        help: "Connections now, by state: established (held), connecting (handshake under way).",
        value: |r| Some(r.established),
        label: Some(("state", "established")),
    },
    Family {
        name: "c1m_connections",
        kind: "gauge",
        help: "",
        value: |r| r.connecting,
        label: Some(("state", "connecting")),
    },
    Family {
        name: "c1m_connections_accepted_total",
        kind: "counter",
        help: "Connections the servers accepted, those reset at the cap included.",
        value: |r| r.accepted,
        label: None,
    },
    Family {
        name: "c1m_connections_opened_total",
        kind: "counter",
        help: "Connections that got established.",
        value: |r| Some(r.opened),
        label: None,
    },
    Family {
        name: "c1m_connections_closed_by_peer_total",
        kind: "counter",
        help: "Connections the peer closed or reset while they were held.",
        value: |r| Some(r.closed_by_peer),
        label: None,
    },
    Family {
        name: "c1m_connections_rejected_total",
        kind: "counter",
        help: "Connections the servers accepted and reset at once, beyond their cap.",
        value: |r| r.rejected,
        label: None,
    },
    Family {
        name: "c1m_connections_dropped_total",
        kind: "counter",
        help: "Peers the servers closed with a reset for breaking a rule, by the flag that sets it: max-message (a line too long), idle-timeout (no line in time), max-unsent (echoes unread), proxy-protocol (no valid PROXY header first).",
        value: |r| Some(r.dropped?.get(Rule::Oversized)),
        label: Some(("rule", "max-message")),
    },
    Family {
        name: "c1m_connections_dropped_total",
        kind: "counter",
        help: "",
        value: |r| Some(r.dropped?.get(Rule::Idle)),
        label: Some(("rule", "idle-timeout")),
    },
    Family {
        name: "c1m_connections_dropped_total",
        kind: "counter",
        help: "",
        value: |r| Some(r.dropped?.get(Rule::Unread)),
        label: Some(("rule", "max-unsent")),
    },
    Family {
        name: "c1m_connections_dropped_total",
        kind: "counter",
        help: "",
        value: |r| Some(r.dropped?.get(Rule::ProxyHeader)),
        label: Some(("rule", "proxy-protocol")),
    },
    Family {
        name: "c1m_echoed_bytes_total",
        kind: "counter",
        help: "Bytes the servers echoed back to their peers.",
        value: |r| r.echoed,
        label: None,
    },
    Family {
        name: "c1m_proxy_headers_total",
        kind: "counter",
        help: "PROXY protocol headers the clients sent (--proxy-protocol), or the servers took off their connections.",
        value: |r| Some(r.proxy_headers),
        label: None,
    },
];

/// The exposition text for a snapshot; only `c1m_build_info` without one.
pub fn render(snapshot: Option<&MetricsSnapshot>) -> String {
    let mut out = String::new();
    header(
        &mut out,
        "c1m_build_info",
        "gauge",
        "c1m's version, as a label; the value is always 1.",
    );
    let _ = writeln!(
        out,
        "c1m_build_info{{version=\"{}\"}} 1",
        escape(env!("CARGO_PKG_VERSION"))
    );
    let Some(s) = snapshot else {
        return out;
    };
    let roles: Vec<(&str, &RoleMetrics)> = [("server", &s.servers), ("client", &s.clients)]
        .into_iter()
        .filter_map(|(name, r)| Some((name, r.as_ref()?)))
        .collect();
    for f in FAMILIES {
        let values: Vec<(&str, u64)> = roles
            .iter()
            .filter_map(|&(name, r)| Some((name, (f.value)(r)?)))
            .collect();
        if values.is_empty() {
            continue;
        }
        if !f.help.is_empty() {
            header(&mut out, f.name, f.kind, f.help);
        }
        for (role, v) in values {
            let extra = f
                .label
                .map_or(String::new(), |(k, v)| format!(",{k}=\"{v}\""));
            let _ = writeln!(out, "{}{{role=\"{role}\"{extra}}} {v}", f.name);
        }
    }
    if !roles.is_empty() {
        header(
            &mut out,
            "c1m_connection_failures_total",
            "counter",
            "Failed connects (clients) or accepts (servers), by cause (c1m's names: errno or timeout).",
        );
        for (role, r) in &roles {
            for c in Cause::ALL {
                let _ = writeln!(
                    out,
                    "c1m_connection_failures_total{{role=\"{role}\",cause=\"{}\"}} {}",
                    escape(c.name()),
                    r.failures.get(c)
                );
            }
        }
    }
    out
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value as the format wants it: `\`, `"` and newlines escaped.
fn escape(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', r#"\""#)
        .replace('\n', r"\n")
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
