//! The server worker: listen, accept, hold, notice peers leaving, and
//! (echo) send back what peers send.
//!
//! Per connection it keeps slots of flat tables indexed by descriptor
//! number: the `OwnedFd` itself (4 bytes), its [`LineState`] under the
//! rules (4 bytes), and 4 bytes of last activity when an idle timeout is
//! set; the kernel keeps the rest. What a peer sends is read into one
//! fixed buffer per worker, so no peer can grow our memory. An echo is
//! peeked, sent, and only then taken off the receive queue: what the
//! kernel cannot send yet stays queued in the kernel, and the peer's
//! sends wait (TCP's flow control) until it reads its echoes, or is
//! closed for owing too many (`worker::rules` says who is closed, and
//! why). With `--proxy-protocol`, a connection's first bytes are peeked
//! until they hold a whole PROXY header, which is then taken off the
//! queue (`take_header`): the kernel keeps the bytes meanwhile, and one
//! bit of the connection's [`LineState`] says the header is still due.
//!
//! A connection is kept only while this worker has room (its descriptor
//! budget, `ServerSpec::cap`) and, when the server's cap is shared with
//! its other workers (`serve --max-conns` over several), only once it
//! took a place in that one count ([`crate::cap::take`]); it gives the
//! place back when the connection ends. Otherwise it is reset at once.
//!
//! With `--tls` each connection also has its rustls state, in a table of
//! its own by descriptor number (`worker/tls.rs`): the handshake is
//! driven in this loop, the rules judge the plaintext, an echo goes back
//! as TLS records. Bytes cannot be peeked through TLS, so a peer's
//! records are read once its echoes so far are sent; while they wait for
//! room, nothing more is read and its sends wait in the kernel, as for
//! plain TCP. What TLS keeps for a peer is bounded by
//! [`crate::tls::BUFFER_LIMIT`] and rustls' own 16 KiB of received
//! plaintext.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::time::Duration;

use c1m_sys::Errno;
use c1m_sys::poll::{self, Poller};
use c1m_sys::shm::SharedCounters;
use c1m_sys::socket;

use super::rules::{self, LineState};
use super::tls::{self as tls_io, Broke, Served, ServerSessions};
use super::transport::{Io, PlainIo};
use super::ws::{self, ServerLayer};
use super::{Command, Link, TOKEN_CMD, TOKEN_LISTENER, TOKEN_SIGNAL, set_fd_limit};
use crate::cap;
use crate::cause::{Cause, Rule};
use crate::proxy::{self, Parsed};
use crate::wire::{CloseMode, FromWorker, ServerSpec, SharedCap, Stats};

/// Accepts taken from one listener before looking at other events.
const ACCEPT_BATCH: usize = 256;
/// How long to stop accepting after EMFILE/ENFILE/ENOMEM.
const ACCEPT_PAUSE: Duration = Duration::from_millis(50);
/// How often idle connections are looked for.
const IDLE_SWEEP: Duration = Duration::from_secs(1);

struct Server {
    poller: Poller,
    listeners: Vec<OwnedFd>,
    /// Indexed by descriptor number.
    conns: Vec<Option<OwnedFd>>,
    /// Each connection's line under way and whether it is blocked on its
    /// echoes, by descriptor number.
    lines: Vec<LineState>,
    /// Seconds since start of the last line each connection completed (or
    /// of its accept); empty without an idle timeout.
    active_s: Vec<u32>,
    cap: u64,
    /// The server's cap shared with its other workers: the counters, this
    /// worker's slot and the cap ([`crate::cap`]).
    shared: Option<(SharedCounters, usize, u64)>,
    close: CloseMode,
    echo: bool,
    max_message: u64,
    max_unsent: u64,
    idle_timeout: Option<Duration>,
    /// Each connection starts with a PROXY header of this version.
    proxy: Option<proxy::Version>,
    stats: Stats,
    paused_until: Option<Duration>,
    /// TLS state by descriptor number, under `--tls` only.
    tls: Option<ServerSessions>,
    /// WebSocket state by descriptor number, under `--websocket` only.
    ws: Option<ServerLayer>,
    /// What to tell the supervisor about TLS, sent after the events.
    notes: Vec<FromWorker>,
    buf: Box<[u8; 16 * 1024]>,
}

/// Runs a server worker until told to close.
pub fn run(spec: &ServerSpec) -> anyhow::Result<()> {
    let ServerSpec {
        listeners,
        reuse_port,
        backlog,
        cap,
        shared_cap,
        fd_limit,
        close,
        echo,
        accept,
        max_message,
        max_unsent,
        idle_timeout_ms,
        proxy,
        tls,
        websocket,
        netns: _,
    } = spec;
    let fd_limit = set_fd_limit(*fd_limit)?;
    let shared = shared_cap.map(shared_counters).transpose()?;
    let poller = Poller::new(1024)?;
    let mut link = Link::new(&poller)?;
    let mut fds = Vec::with_capacity(listeners.len());
    for (i, addr) in listeners.iter().enumerate() {
        let fd =
            socket::listen(*addr, *backlog, *reuse_port).map_err(|e| listen_error(*addr, e))?;
        if *echo {
            // Inherited by every accepted connection: the kernel stops
            // taking echoes once this many wait unsent (see `rules`).
            let lowat = (*max_unsent).min(u64::from(u32::MAX)) as u32;
            socket::set_notsent_lowat(&fd, lowat)
                .map_err(|e| anyhow::anyhow!("TCP_NOTSENT_LOWAT on {addr}: {e}"))?;
        }
        if *accept {
            poller.add(&fd, TOKEN_LISTENER + i as u64, poll::READ)?;
        }
        fds.push(fd);
    }
    let mut conns = Vec::new();
    conns.resize_with(fd_limit as usize, || None);
    let tls = match tls {
        Some(t) => Some(ServerSessions::new(t, fd_limit as usize)?),
        None => None,
    };
    let idle_timeout = idle_timeout_ms.map(Duration::from_millis);
    let mut s = Server {
        poller,
        listeners: fds,
        conns,
        // Zeroed pages: touched only as descriptor numbers are used.
        lines: vec![LineState::default(); fd_limit as usize],
        active_s: if idle_timeout.is_some() {
            vec![0; fd_limit as usize]
        } else {
            Vec::new()
        },
        cap: *cap,
        shared,
        close: *close,
        echo: *echo,
        max_message: *max_message,
        max_unsent: *max_unsent,
        idle_timeout,
        proxy: *proxy,
        stats: Stats {
            planned: *cap,
            ..Stats::default()
        },
        paused_until: None,
        tls,
        ws: websocket.then(|| ServerLayer::new(fd_limit as usize, *max_message, *max_unsent)),
        notes: Vec::new(),
        buf: Box::new([0; 16 * 1024]),
    };
    link.send(&FromWorker::Ready { fd_limit });
    // Touched now, not after a stall hours into a hold (non-zero: calloc
    // would leave zeroes untouched).
    let mut events = vec![(u64::MAX, false); 1024];
    events.clear();
    let mut last_sweep = Duration::ZERO;
    let mut report_due = None;
    // Every table is made: what the heap gains from here is the
    // connections' (their TLS state).
    let heap_base = c1m_sys::process::heap_in_use();
    loop {
        let now = link.now();
        if s.paused_until.is_some_and(|t| now >= t) {
            s.resume()?;
        }
        let mut wake_cmd = false;
        events.clear();
        let mut wait = report_due.unwrap_or(super::IDLE_WAIT);
        if let Some(t) = s.paused_until {
            wait = wait.min(t.saturating_sub(now));
        }
        if s.idle_timeout.is_some() {
            wait = wait.min(IDLE_SWEEP);
        }
        for ev in s.poller.wait(wait)? {
            match ev.token {
                TOKEN_CMD | TOKEN_SIGNAL => wake_cmd = true,
                t => events.push((t, ev.is_hangup())),
            }
        }
        let now = link.now();
        for &(token, hangup) in &events {
            if token >= TOKEN_LISTENER {
                s.accept_from((token - TOKEN_LISTENER) as usize, now);
            } else {
                s.on_conn(token as usize, hangup, now);
            }
        }
        // After the events: a peer whose line waited while this worker
        // was busy (or stopped) has been read before it is judged idle.
        if let Some(limit) = s.idle_timeout
            && now.saturating_sub(last_sweep) >= IDLE_SWEEP
        {
            last_sweep = now;
            s.close_idle(now, limit);
        }
        for note in s.notes.drain(..) {
            link.send(&note);
        }
        if wake_cmd {
            let cmds = link.take_commands();
            if cmds.contains(&Command::Gone) {
                return Ok(());
            }
            if cmds.contains(&Command::Count) {
                let mut own = super::count_own(s.conns.iter().flatten());
                own.tls = s.tls.as_ref().map_or(0, ServerSessions::held);
                own.heap_growth = super::heap_growth(heap_base);
                if let Some(ws) = &s.ws {
                    own.ws = ws.held();
                    own.ws_heap = Some(c1m_sys::alloc::held());
                }
                link.send(&FromWorker::Count(own));
            }
            for cmd in &cmds {
                if let Command::CloseSome(fraction) = cmd {
                    s.close_some(*fraction);
                }
            }
            if cmds.contains(&Command::Close) {
                s.close_all();
                link.send(&FromWorker::Closed(s.stats));
                super::exit_closing_all();
            }
        }
        report_due = link.report(&s.stats);
    }
}

/// The counters of a cap shared with the other server workers, as the
/// supervisor passed them at spawn: this worker's slot checked against
/// them.
fn shared_counters(c: SharedCap) -> anyhow::Result<(SharedCounters, usize, u64)> {
    let (slot, members) = (c.slot as usize, c.members as usize);
    anyhow::ensure!(
        slot < members,
        "server worker slot {slot} of a cap shared by {members}"
    );
    let counters = SharedCounters::inherited(cap::words(members)).map_err(|e| {
        anyhow::anyhow!("the count of --max-conns shared by the server workers: {e}")
    })?;
    anyhow::ensure!(
        counters.counters().len() >= cap::words(members),
        "the count of --max-conns shared by the server workers has {} words, not {}",
        counters.counters().len(),
        cap::words(members)
    );
    Ok((counters, slot, c.max))
}

fn listen_error(addr: SocketAddr, e: Errno) -> anyhow::Error {
    let why = match e {
        Errno::ADDRINUSE => {
            "the address is in use (another server, or an outgoing connection's ephemeral port: reserve it with net.ipv4.ip_local_reserved_ports)"
        }
        Errno::ADDRNOTAVAIL => "no local interface has that address",
        Errno::ACCESS => "ports below 1024 need CAP_NET_BIND_SERVICE",
        _ => "",
    };
    anyhow::anyhow!("cannot listen on {addr}: {e} {why}")
}

/// What became of a connection after reading from it.
enum After {
    Open,
    /// The peer closed (true: with a FIN; false: reset or failed).
    PeerGone {
        fin: bool,
    },
    /// We close it: it broke a rule.
    Drop(Rule),
    /// Its TLS handshake failed, by this cause.
    Failed(Cause),
}

impl Server {
    fn on_conn(&mut self, fd: usize, hangup: bool, now: Duration) {
        match self.serve(fd, hangup, now) {
            After::Open => {}
            After::PeerGone { fin } => {
                if self.forget(fd) {
                    if fin {
                        self.stats.closed_fin += 1;
                    } else {
                        self.stats.closed_rst += 1;
                    }
                }
            }
            After::Drop(rule) => self.drop_conn(fd, rule),
            After::Failed(cause) => {
                if self.forget(fd) {
                    self.stats.failed.add(cause);
                }
            }
        }
    }

    /// [`Self::serve`] for a TLS connection: the handshake, then the
    /// rules and the echo on the plaintext.
    fn serve_tls(&mut self, fd: usize, hangup: bool, now: Duration) -> After {
        let (Some(conn), Some(tls)) = (
            self.conns.get(fd).and_then(Option::as_ref),
            self.tls.as_mut(),
        ) else {
            return After::Open;
        };
        let mut line = self.lines[fd];
        let (max, echo) = (self.max_message, self.echo);
        let (mut ended, mut echoed) = (false, 0u64);
        let served = tls.serve(fd, conn, hangup, &mut self.buf[..], |bytes| {
            let (next, done) = line.after(bytes, max).map_err(|_| Rule::Oversized)?;
            (line, ended) = (next, ended || done);
            if echo {
                echoed += bytes.len() as u64;
            }
            Ok::<bool, Rule>(echo)
        });
        self.stats.sent += echoed;
        let after = match served {
            Err(rule) => After::Drop(rule),
            Ok(Served::Open { secured, blocked }) => {
                if let Some(resumed) = secured {
                    self.stats.tls_handshakes += 1;
                    self.stats.tls_resumed += u64::from(resumed);
                    if let Some(a) = tls.take_agreed(fd) {
                        self.notes.push(FromWorker::TlsAgreed(a));
                    }
                }
                after_echo(&self.poller, conn, fd, &mut line, blocked, self.max_unsent)
            }
            Ok(Served::Closed { fin }) => After::PeerGone { fin },
            Ok(Served::Failed(e)) => {
                let cause = crate::tls::cause_of(&e);
                if tls.first_of(cause) {
                    self.notes.push(FromWorker::TlsFailure {
                        cause,
                        detail: crate::tls::words_of(&e),
                    });
                }
                After::Failed(cause)
            }
        };
        self.lines[fd] = line;
        if ended && let Some(t) = self.active_s.get_mut(fd) {
            *t = now.as_secs() as u32;
        }
        after
    }

    /// Reads what a peer sent and echoes it, under the rules; the fixed
    /// buffer bounds every read whatever the peer does. After a hang-up
    /// it reads on to the end, to tell a FIN from a reset.
    fn serve(&mut self, fd: usize, hangup: bool, now: Duration) -> After {
        let Some(conn) = self.conns.get(fd).and_then(Option::as_ref) else {
            return After::Open;
        };
        let mut line = self.lines[fd];
        // A PROXY header comes first, in the clear (before a TLS
        // ClientHello too).
        if line.header_pending()
            && let Some(version) = self.proxy
        {
            match take_header(conn, &mut self.buf[..], version, hangup, &mut self.stats) {
                Ok(true) => {
                    line = line.header_taken();
                    self.lines[fd] = line;
                }
                Ok(false) => return After::Open,
                Err(after) => return after,
            }
        }
        if self.ws.is_some() {
            return self.serve_ws(fd, hangup, now);
        }
        if self.tls.is_some() {
            return self.serve_tls(fd, hangup, now);
        }
        let mut ended = false;
        let after = loop {
            // Echoing, bytes are peeked and taken off the queue only once
            // sent; otherwise read and dropped.
            let got = if self.echo {
                socket::peek(conn, &mut self.buf[..])
            } else {
                poll::read(conn, &mut self.buf[..])
            };
            let n = match got {
                Ok(0) => break After::PeerGone { fin: true },
                Ok(n) => n,
                Err(Errno::AGAIN) if !hangup => break After::Open,
                Err(Errno::INTR) => continue,
                Err(_) => break After::PeerGone { fin: false },
            };
            let Ok((next, done)) = line.after(&self.buf[..n], self.max_message) else {
                break After::Drop(Rule::Oversized);
            };
            if !self.echo {
                (line, ended) = (next, ended || done);
                if n < self.buf.len() && !hangup {
                    break After::Open;
                }
                continue;
            }
            let sent = match socket::send(conn, &self.buf[..n]) {
                Ok(m) => m,
                Err(Errno::AGAIN) => 0,
                Err(_) => break After::PeerGone { fin: false },
            };
            if sent > 0 && socket::discard(conn, &mut self.buf[..sent]).is_err() {
                break After::PeerGone { fin: false };
            }
            self.stats.sent += sent as u64;
            if sent == n {
                (line, ended) = (next.with_blocked(false), ended || done);
                if n < self.buf.len() && !hangup {
                    break After::Open;
                }
                continue;
            }
            // The kernel took only part: the rest waits in the receive
            // queue until there is room (a writable event), unless the
            // peer owes too much already.
            if let Ok((part, done)) = line.after(&self.buf[..sent], self.max_message) {
                (line, ended) = (part, ended || done);
            }
            break after_echo(&self.poller, conn, fd, &mut line, true, self.max_unsent);
        };
        self.lines[fd] = line;
        if ended && let Some(t) = self.active_s.get_mut(fd) {
            *t = now.as_secs() as u32;
        }
        after
    }

    /// [`Self::serve`] for a WebSocket connection: the TLS handshake
    /// under it if any, the upgrade, then each message echoed, under the
    /// rules (`--max-message` a message, `--idle-timeout` between whole
    /// messages, `--max-unsent` for echoes the peer does not take).
    fn serve_ws(&mut self, fd: usize, hangup: bool, now: Duration) -> After {
        let (Some(conn), Some(layer)) = (
            self.conns.get(fd).and_then(Option::as_ref),
            self.ws.as_mut(),
        ) else {
            return After::Open;
        };
        if let Some(tls) = self.tls.as_mut()
            && tls.is_handshaking(fd)
        {
            match tls.handshake(fd, conn, hangup) {
                tls_io::Handshake::Pending => return After::Open,
                tls_io::Handshake::Done { resumed } => {
                    self.stats.tls_handshakes += 1;
                    self.stats.tls_resumed += u64::from(resumed);
                    if let Some(a) = tls.take_agreed(fd) {
                        self.notes.push(FromWorker::TlsAgreed(a));
                    }
                }
                tls_io::Handshake::Broke(Broke::Closed { fin }) => {
                    return After::PeerGone { fin };
                }
                tls_io::Handshake::Broke(Broke::Failed(e)) => {
                    let cause = crate::tls::cause_of(&e);
                    if tls.first_of(cause) {
                        self.notes.push(FromWorker::TlsFailure {
                            cause,
                            detail: crate::tls::words_of(&e),
                        });
                    }
                    return After::Failed(cause);
                }
            }
        }
        let mut io = match self.tls.as_mut() {
            Some(t) => t.io(fd, conn, hangup).map_or(Io::Gone, Io::Tls),
            None => Io::Plain(PlainIo::new(conn, hangup)),
        };
        let served = layer.serve(fd, &mut io, self.echo, &mut self.buf[..]);
        let mut line = self.lines[fd];
        let after = match served {
            ws::Served::Open {
                upgraded,
                blocked,
                active,
                echoed,
            } => {
                self.stats.ws_upgrades += u64::from(upgraded);
                self.stats.sent += echoed;
                if (active || upgraded)
                    && let Some(t) = self.active_s.get_mut(fd)
                {
                    *t = now.as_secs() as u32;
                }
                after_echo(&self.poller, conn, fd, &mut line, blocked, self.max_unsent)
            }
            ws::Served::Closed { fin } => After::PeerGone { fin },
            ws::Served::Oversized => After::Drop(Rule::Oversized),
            ws::Served::Refused(why) => {
                if layer.first_of(Cause::WsHandshake) {
                    self.notes.push(FromWorker::WsFailure {
                        cause: Cause::WsHandshake,
                        detail: why,
                    });
                }
                After::Failed(Cause::WsHandshake)
            }
            ws::Served::Broke(why) => {
                if layer.first_of(Cause::WsProtocol) {
                    self.notes.push(FromWorker::WsFailure {
                        cause: Cause::WsProtocol,
                        detail: why,
                    });
                }
                After::Failed(Cause::WsProtocol)
            }
        };
        self.lines[fd] = line;
        after
    }

    /// Closes a held connection; false if there was none.
    fn forget(&mut self, fd: usize) -> bool {
        if let Some(t) = self.tls.as_mut() {
            t.forget(fd);
        }
        if let Some(w) = self.ws.as_mut() {
            w.forget(fd);
        }
        match self.conns.get_mut(fd).and_then(Option::take) {
            Some(_) => {
                self.stats.established -= 1;
                self.give_place();
                true
            }
            None => false,
        }
    }

    /// Closes the connections that completed no line since `limit` ago:
    /// each is read first (what it sent may be waiting), and one the
    /// server is blocked on counts as not reading its echoes.
    fn close_idle(&mut self, now: Duration, limit: Duration) {
        let cutoff = now.saturating_sub(limit).as_secs() as u32;
        for fd in 0..self.active_s.len() {
            if self.conns[fd].is_none() || self.active_s[fd] >= cutoff {
                continue;
            }
            self.on_conn(fd, false, now);
            if self.conns[fd].is_some() && self.active_s[fd] < cutoff {
                self.drop_conn(fd, rules::idle_rule(self.lines[fd]));
            }
        }
    }

    /// Closes a connection that broke `rule`, with a reset.
    fn drop_conn(&mut self, fd: usize, rule: Rule) {
        if let Some(conn) = self.conns.get(fd).and_then(Option::as_ref) {
            let _ = socket::set_linger_zero(conn);
        }
        if self.forget(fd) {
            self.stats.dropped += 1;
            self.stats.drops.add(rule);
        }
    }

    fn accept_from(&mut self, i: usize, now: Duration) {
        if self.paused_until.is_some() {
            return;
        }
        for _ in 0..ACCEPT_BATCH {
            match socket::accept(&self.listeners[i]) {
                Ok(Some(fd)) => self.hold(fd, now),
                Ok(None) => return,
                Err(Errno::INTR) | Err(Errno::CONNABORTED) => continue,
                Err(e) => {
                    self.stats.failed.add(Cause::of(e));
                    if matches!(
                        e,
                        Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM
                    ) {
                        self.pause(now);
                    }
                    return;
                }
            }
        }
    }

    fn hold(&mut self, fd: OwnedFd, now: Duration) {
        self.stats.attempted += 1;
        let n = socket::number(&fd) as usize;
        // This worker's own room first, then the server's as a whole:
        // a place taken in the shared count is given back on every path
        // that does not keep the connection.
        let room = self.stats.established < self.cap && n < self.conns.len();
        if !room || !self.take_place() {
            let _ = socket::set_linger_zero(&fd);
            self.stats.rejected += 1;
            return;
        }
        if let Some(t) = self.tls.as_mut()
            && t.accepted(n).is_err()
        {
            self.give_place();
            self.stats.failed.add(Cause::TlsOther);
            return;
        }
        if let Some(w) = self.ws.as_mut() {
            w.accepted(n);
        }
        if let Err(e) = self.poller.add(&fd, n as u64, poll::HELD) {
            self.give_place();
            if let Some(t) = self.tls.as_mut() {
                t.forget(n);
            }
            if let Some(w) = self.ws.as_mut() {
                w.forget(n);
            }
            self.stats.failed.add(Cause::of(e));
            return;
        }
        if let Some(t) = self.active_s.get_mut(n) {
            *t = now.as_secs() as u32;
        }
        self.lines[n] = LineState::new(self.proxy.is_some());
        self.conns[n] = Some(fd);
        self.stats.established += 1;
        self.stats.peak = self.stats.peak.max(self.stats.established);
        self.stats.opened += 1;
    }

    /// Takes a place in the cap shared with the other server workers:
    /// true when there is one (or no shared cap).
    fn take_place(&self) -> bool {
        self.shared
            .as_ref()
            .is_none_or(|(c, slot, max)| cap::take(c.counters(), *slot, *max))
    }

    /// Gives back a place [`Self::take_place`] took.
    fn give_place(&self) {
        if let Some((c, slot, _)) = &self.shared {
            cap::give_back(c.counters(), *slot);
        }
    }

    /// Stops accepting for a moment: a listener stays readable while a
    /// connection waits, so accepting on EMFILE would spin.
    fn pause(&mut self, now: Duration) {
        for l in &self.listeners {
            let _ = self.poller.delete(l);
        }
        self.paused_until = Some(now + ACCEPT_PAUSE);
    }

    fn resume(&mut self) -> anyhow::Result<()> {
        self.paused_until = None;
        for (i, l) in self.listeners.iter().enumerate() {
            self.poller.add(l, TOKEN_LISTENER + i as u64, poll::READ)?;
        }
        Ok(())
    }

    /// Closes `fraction` of the connections held now, spread evenly over
    /// the table (`stages::close::picks`), as `--close` says: each is
    /// counted as shed, not as a rule broken.
    fn close_some(&mut self, fraction: f64) {
        let mut k = 0;
        for fd in 0..self.conns.len() {
            let Some(conn) = self.conns[fd].as_ref() else {
                continue;
            };
            let pick = crate::stages::close::picks(k, fraction);
            k += 1;
            if !pick {
                continue;
            }
            if self.close == CloseMode::Rst {
                let _ = socket::set_linger_zero(conn);
            }
            if self.forget(fd) {
                self.stats.shed += 1;
            }
        }
    }

    /// Closes the listeners (new connections are refused from here on)
    /// and arms every connection's close as `--close` asks; they close
    /// when the worker exits ([`super::exit_closing_all`]).
    fn close_all(&mut self) {
        self.listeners.clear();
        for fd in self.conns.iter().flatten() {
            if self.close == CloseMode::Rst {
                let _ = socket::set_linger_zero(fd);
            }
            self.stats.established -= 1;
            if let Some((c, slot, _)) = &self.shared {
                cap::give_back(c.counters(), *slot);
            }
        }
    }
}

/// What becomes of peer `conn` (descriptor `fd`) after an echo:
/// `blocked`, the kernel did not take it whole, so the peer is dropped by
/// rule when it owes too much (`--max-unsent`), else watched for room to
/// write (the epoll change made once) and its line marked blocked; not
/// blocked, its line is unmarked.
fn after_echo(
    poller: &Poller,
    conn: &OwnedFd,
    fd: usize,
    line: &mut LineState,
    blocked: bool,
    max_unsent: u64,
) -> After {
    if !blocked {
        *line = line.with_blocked(false);
        return After::Open;
    }
    let owed = socket::queues(conn).unwrap_or_default();
    if rules::owes_too_much(owed.unacked, owed.unread, max_unsent) {
        return After::Drop(Rule::Unread);
    }
    if !line.blocked() {
        let _ = poller.modify(conn, fd as u64, poll::HELD_WRITING);
    }
    *line = line.with_blocked(true);
    After::Open
}

/// Takes a whole PROXY protocol header off the front of `conn`:
/// `Ok(true)` once taken, `Ok(false)` while it is still coming (its
/// bytes stay queued in the kernel; the next bytes to arrive bring a
/// new event), `Err` when the connection ends here (the peer left, or
/// sent no valid header: closed by rule). After a hang-up no more
/// bytes can come, so a header not whole then is cut short.
fn take_header(
    conn: &OwnedFd,
    buf: &mut [u8],
    version: proxy::Version,
    hangup: bool,
    stats: &mut Stats,
) -> Result<bool, After> {
    let n = loop {
        match socket::peek(conn, buf) {
            Ok(0) => return Err(After::PeerGone { fin: true }),
            Ok(n) => break n,
            Err(Errno::AGAIN) if !hangup => return Ok(false),
            Err(Errno::INTR) => continue,
            Err(_) => return Err(After::PeerGone { fin: false }),
        }
    };
    let header = match proxy::parse(version, &buf[..n]) {
        Parsed::Whole(h) => h,
        Parsed::Incomplete if hangup => {
            return Err(After::Drop(Rule::ProxyHeader));
        }
        Parsed::Incomplete => return Ok(false),
        Parsed::Malformed(_) => return Err(After::Drop(Rule::ProxyHeader)),
    };
    // Peeked whole, so all its bytes are queued: one call takes them.
    match socket::discard(conn, &mut buf[..header.len]) {
        Ok(m) if m == header.len => {
            stats.proxy.headers += 1;
            stats.proxy.bytes += m as u64;
            Ok(true)
        }
        _ => Err(After::PeerGone { fin: false }),
    }
}
