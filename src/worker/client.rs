//! The client worker's I/O: open connections at a controlled rate with a
//! bounded number of handshakes in flight, read what peers send, send
//! heartbeats on the worker's schedule, and tell the connection table
//! (`conns.rs`, sans I/O) what happened. The table decides what is held,
//! how a close is counted, and what latency is recorded.
//!
//! Per connection this glue adds only the descriptor (4 bytes); the
//! table keeps the rest. A PROXY protocol header (`--proxy-protocol`) is
//! made when its connection is established, from the socket's own
//! address (getsockname(2)) and the destination the plan gave it, into
//! one buffer of the worker's, and written before any other byte.
//! Bytes go through the connection's
//! [`Transport`]: the socket itself, or TLS over it (`--tls`: rustls'
//! state in a table of its own, `worker/tls.rs`).

use std::net::{IpAddr, SocketAddr};
use std::os::fd::OwnedFd;
use std::time::Duration;

use anyhow::bail;
use c1m_sys::Errno;
use c1m_sys::poll::{self, Poller};
use c1m_sys::socket::{self, Connect};

use super::conns::{Conns, Due, Handshake, Heartbeats, Off, PeerClose, Sent};
use super::ramp::Ramp;
use super::tls::{self, Broke, Recv};
use super::transport::Transport;
use super::ws::{ClientLayer, Upgrade};
use super::{Command, Link, TOKEN_CMD, TOKEN_SIGNAL, set_fd_limit};
use crate::cause::Cause;
use crate::latency;
use crate::plan::{BindMode, pair_of};
use crate::proxy;
use crate::traffic::{BeatsEnd, Mode, Schedule, Traffic};
use crate::wire::{ClientSpec, CloseMode, FromWorker};

/// Connects started per loop turn at most, so reports and events keep
/// flowing during a fast ramp.
const OPEN_BATCH: u64 = 512;
/// Connections closed per loop turn at most by a stage going down.
const CLOSE_BATCH: u64 = 512;
/// How often a worker with reconnects pending (or handshakes under way,
/// with `--reconnect`) sweeps its table for those due: the back-off's
/// resolution.
const SWEEP_TICK: Duration = Duration::from_millis(10);
/// Heartbeats sent per loop turn at most, when behind schedule: the
/// replies get their turn between batches (the C reference's cap). With
/// 4,096, at 1M and 100k msg/s offered on 2 cores, the workers sent 5.4M
/// messages for 2.7M replies, sends crowding out the replies they were
/// waiting for (bench/results/heartbeat-1M.md).
const SEND_BATCH: u64 = 256;
/// Heartbeats due within this are sent together: a worker wakes at most
/// this often for them (latency still counts from each scheduled time,
/// so the tick shows in it: 5 ms put ~2.5 ms on every median; 1 ms is
/// epoll_wait(2)'s own granularity, as the C reference's).
const SEND_TICK: Duration = Duration::from_millis(1);
/// How often latency histograms go to the supervisor.
const LATENCY_EVERY: Duration = Duration::from_secs(1);

/// What epoll said about one connection.
#[derive(Debug, Clone, Copy, Default)]
struct Readiness {
    writable: bool,
    readable: bool,
    /// The peer closed or reset (EPOLLRDHUP, EPOLLHUP, EPOLLERR).
    hangup: bool,
    /// A pending socket error (EPOLLERR, EPOLLHUP).
    error: bool,
}

struct Client<'a> {
    poller: Poller,
    first: u64,
    sources: &'a [IpAddr],
    bind: BindMode,
    endpoints: &'a [SocketAddr],
    pairs: u64,
    close: CloseMode,
    traffic: &'a Traffic,
    ports: Option<(u16, u16)>,
    proxy: Option<&'a proxy::Send>,
    fds: Vec<Option<OwnedFd>>,
    conns: Conns,
    transport: Transport,
    /// WebSocket on top of the transport, under `--websocket`.
    ws: Option<ClientLayer>,
    /// What to tell the supervisor about TLS (first failures, what was
    /// agreed), sent after the events.
    notes: Vec<FromWorker>,
    buf: Box<[u8; 4096]>,
    /// The PROXY header being written: one for the worker, reused.
    header: Vec<u8>,
}

/// Runs a client worker until told to close.
pub fn run(spec: &ClientSpec) -> anyhow::Result<()> {
    let ClientSpec {
        first,
        count,
        sources,
        bind,
        endpoints,
        rate,
        window,
        connect_timeout_ms,
        fd_limit,
        close,
        traffic,
        ports,
        reconnect,
        proxy,
        tls,
        websocket,
        netns: _,
    } = spec;
    if endpoints.is_empty() {
        bail!("no endpoints to connect to");
    }
    let fd_limit = set_fd_limit(*fd_limit)?;
    let poller = Poller::new(1024)?;
    let mut link = Link::new(&poller)?;
    let mut fds = Vec::new();
    fds.resize_with(*count as usize, || None);
    let heartbeat = traffic.mode == Mode::Heartbeat;
    let heartbeats = heartbeat.then(|| Heartbeats {
        interval: traffic.interval,
        expect: traffic.expect.clone(),
        pipelined: traffic.expect.as_deref() == Some(&traffic.message[..]),
    });
    let transport = Transport::new(tls.as_ref(), *count as usize)?;
    let conns = Conns::new(
        *count,
        *window,
        Duration::from_millis(*connect_timeout_ms),
        heartbeats,
    )
    .with_reconnect(*reconnect, *first ^ (u64::from(std::process::id()) << 32));
    let conns = if tls.is_some() {
        conns.with_tls()
    } else {
        conns
    };
    let conns = if websocket.is_some() {
        conns.with_ws()
    } else {
        conns
    };
    let ws = websocket
        .as_ref()
        .map(|w| ClientLayer::new(w, *count as usize, &traffic.message));
    let mut c = Client {
        poller,
        first: *first,
        sources,
        bind: *bind,
        endpoints,
        pairs: sources.len().max(1) as u64 * endpoints.len() as u64,
        close: *close,
        traffic,
        ports: *ports,
        proxy: proxy.as_ref(),
        fds,
        conns,
        transport,
        ws,
        notes: Vec::new(),
        buf: Box::new([0; 4096]),
        header: Vec::with_capacity(proxy::V1_MAX),
    };
    link.send(&FromWorker::Ready { fd_limit });
    let mut ramp: Option<Ramp> = None;
    // Reopens per second (`--reconnect-rate`, this worker's part).
    let mut reopens = Ramp::new(
        reconnect.and_then(|r| r.rate).map(|r| r.max(0.001)),
        Duration::ZERO,
    );
    let mut schedule: Option<Schedule> = None;
    // Every page of these buffers touched now: the first large batch
    // (after a stall: the worker descheduled, the machine busy) would
    // otherwise fault in up to 96 KiB (sends) and 16 KiB (events) hours
    // into a hold, seen as RSS creeping in the 1M soak (+2 MiB over 51
    // client workers in 10 minutes). Written with a non-zero value:
    // zeroes could come from calloc, untouched.
    let mut events = vec![(usize::MAX, Readiness::default()); 1024];
    events.clear();
    let mut due = Vec::with_capacity(SEND_BATCH as usize);
    due.resize(SEND_BATCH as usize, (u64::MAX, Duration::MAX));
    due.clear();
    let mut expired = Vec::new();
    let mut reopen = Vec::new();
    let mut told_done = false;
    let mut last_latency = Duration::ZERO;
    // The latency blobs' buffers, reused each second.
    let (mut encoder, mut encoded) = (latency::Encoder::new(), latency::Encoded::default());
    let mut report_due = None;
    // When the heartbeats end: the hold's end and the grace's for the
    // replies on their way, in this worker's clock.
    let mut beats_end = BeatsEnd::Open;
    // Every table is made: what the heap gains from here is the
    // connections' (their TLS state).
    let heap_base = c1m_sys::process::heap_in_use();
    loop {
        let now = link.now();
        let mut wait = report_due.unwrap_or(super::IDLE_WAIT);
        if let Some(end) = beats_end.deadline() {
            let all_sent = schedule.as_ref().is_none_or(Schedule::done);
            if beats_end.due(now, all_sent && c.conns.awaiting() == 0) {
                // What a late worker had not sent by the end is lost, and
                // so is every reply still awaited, each timed from its
                // schedule to this end: none is dropped, and none is
                // timed to a later close.
                if let Some(mut s) = schedule.take() {
                    for (i, at) in s.rest() {
                        c.conns.unsent(i as usize, at, now);
                    }
                }
                c.conns.give_up_awaited(now);
                beats_end = BeatsEnd::Over;
                link.send(&FromWorker::BeatsEnded);
            } else {
                wait = wait.min(end - now);
            }
        }
        if !c.conns.latency.is_empty() {
            wait = wait.min(LATENCY_EVERY);
        }
        if let Some(r) = ramp.as_mut() {
            c.open_some(r, now);
            if c.close_some(now) {
                // More to close than one turn takes: come back at once.
                wait = Duration::ZERO;
            }
            expired.clear();
            c.conns.expire(now, &mut expired);
            if c.conns.sweeping() {
                let room = c.conns.window_room();
                let budget = reopens.take(now, room);
                reopen.clear();
                c.conns.sweep(now, budget, &mut reopen, &mut expired);
                reopens.refund(budget - reopen.len() as u64);
                for &i in &reopen {
                    c.open(i, now);
                }
                wait = wait.min(SWEEP_TICK.max(reopens.wait()));
            }
            for &i in &expired {
                c.close(i);
            }
            if c.conns.room(now) > 0 {
                wait = wait.min(r.wait());
            }
            if let Some(t) = c.conns.next_change(now) {
                wait = wait.min(t.saturating_sub(now));
            }
            if c.conns.stats.connecting > 0 {
                // Look at the oldest handshakes' age now and then.
                wait = wait.min(Duration::from_millis(100));
            }
        }
        if let Some(s) = schedule.as_mut() {
            due.clear();
            due.extend(s.take(now, SEND_BATCH));
            let sent_at = link.now();
            for &(i, at) in &due {
                c.heartbeat(i as usize, at, sent_at);
            }
            wait = wait.min(s.wait(now).max(SEND_TICK));
        }
        // What this turn changed (a batch of opens that failed at once,
        // a stage's closes) is reported when due, not after a sleep: the
        // last batch of a ramp whose every open failed in bind() left
        // nothing connecting to wake for, and the worker slept
        // IDLE_WAIT (60 s) before saying its ramp was over.
        if c.conns.ramp_done() && ramp.is_some() && !told_done {
            wait = Duration::ZERO;
        } else if let Some(d) = link.report_wait(&c.conns.stats) {
            wait = wait.min(d);
        }
        let mut wake_cmd = false;
        events.clear();
        for ev in c.poller.wait(wait)? {
            match ev.token {
                TOKEN_CMD | TOKEN_SIGNAL => wake_cmd = true,
                i => events.push((
                    i as usize,
                    Readiness {
                        writable: ev.is_writable(),
                        readable: ev.is_readable(),
                        hangup: ev.is_hangup(),
                        error: ev.is_error(),
                    },
                )),
            }
        }
        let now = link.now();
        for &(i, ev) in &events {
            c.on_event(i, ev, now);
        }
        if let Some(bytes) = c.conns.take_first_bytes() {
            link.send(&FromWorker::FirstBytes(bytes));
        }
        if let Some(st) = c.ws.as_mut().and_then(ClientLayer::take_statuses) {
            c.notes.push(FromWorker::WsStatuses(st));
        }
        for note in c.notes.drain(..) {
            link.send(&note);
        }
        if wake_cmd {
            let cmds = link.take_commands();
            if cmds.contains(&Command::Gone) {
                return Ok(());
            }
            if cmds.contains(&Command::Close) {
                c.conns.close_all(link.now());
                c.close_frames();
                link.send(&FromWorker::Latency(c.conns.latency.encode()));
                link.send(&FromWorker::Closed(c.conns.stats));
                c.arm_close();
                super::exit_closing_all();
            }
            // Targets and counts in the order sent: at a stage's end the
            // supervisor sends the stage's own target at once (what lags
            // is closed, or opened, now), then the count, then the next
            // stage's target.
            for cmd in &cmds {
                match cmd {
                    Command::Target { conns, over } => {
                        let now = link.now();
                        c.conns.set_target(*conns, *over, now);
                        if let Some(r) = ramp.as_mut() {
                            while c.close_some(now) {}
                            c.open_some(r, now);
                        }
                    }
                    Command::Freeze => c.conns.freeze(),
                    Command::Count => {
                        let mut own = super::count_own(c.fds.iter().flatten());
                        own.tls = c.transport.tls_held();
                        own.heap_growth = super::heap_growth(heap_base);
                        if let Some(ws) = &c.ws {
                            own.ws = ws.held();
                            own.ws_heap = Some(c1m_sys::alloc::held());
                        }
                        link.send(&FromWorker::Count(own));
                    }
                    _ => {}
                }
            }
            if let Some(grace) = cmds.iter().find_map(|c| match c {
                Command::EndBeats(g) => Some(*g),
                _ => None,
            }) {
                // Nothing more is scheduled; what is due and unsent is
                // sent in the grace (the loop's top answers at once when
                // nothing is owed). An end of the worker's own that
                // comes sooner stays.
                let now = link.now();
                if beats_end.cut(now, grace)
                    && let Some(s) = schedule.as_mut()
                {
                    s.end_at(now);
                }
            }
            if cmds.contains(&Command::Pause) {
                // The plan ends here: what is open stays held.
                c.conns.pause();
            }
            if cmds.contains(&Command::Go) && ramp.is_none() {
                ramp = Some(Ramp::new(rate.map(|r| r.max(0.001)), link.now()));
            }
            let beat = cmds.iter().find_map(|c| match c {
                Command::Beat { hold, grace } => Some((*hold, *grace)),
                _ => None,
            });
            if let Some((hold, grace)) = beat
                && heartbeat
                && schedule.is_none()
                && beats_end == BeatsEnd::Open
            {
                let now = link.now();
                let mut s = Schedule::new(c.conns.stats.planned, traffic.interval, now);
                if let Some(h) = hold {
                    s.end_at(now + h);
                }
                schedule = Some(s);
                beats_end = BeatsEnd::started(now, hold, grace);
            }
        }
        if ramp.is_some() && !told_done && c.conns.ramp_done() {
            // The moment the ramp ends matters: say so at once.
            told_done = true;
            link.send_stats(&c.conns.stats);
        }
        let now = link.now();
        if now.saturating_sub(last_latency) >= LATENCY_EVERY && !c.conns.latency.is_empty() {
            last_latency = now;
            c.conns.latency.encode_into(&mut encoder, &mut encoded);
            let msg = FromWorker::Latency(std::mem::take(&mut encoded));
            link.send(&msg);
            if let FromWorker::Latency(e) = msg {
                encoded = e;
            }
            c.conns.latency.reset();
        }
        report_due = link.report(&c.conns.stats);
    }
}

impl Client<'_> {
    fn open_some(&mut self, ramp: &mut Ramp, now: Duration) {
        let want = self.conns.room(now).min(OPEN_BATCH);
        if want == 0 {
            return;
        }
        for _ in 0..ramp.take(now, want) {
            let Some(i) = self.conns.next_to_open() else {
                return;
            };
            self.open(i, now);
        }
    }

    /// Closes what the target at `now` no longer has room for, the most
    /// recently opened first, at most [`CLOSE_BATCH`]; true when more
    /// is left to close.
    fn close_some(&mut self, now: Duration) -> bool {
        let surplus = self.conns.surplus(now);
        for _ in 0..surplus.min(CLOSE_BATCH) {
            let Some((i, off)) = self.conns.turn_off(now) else {
                return false;
            };
            if let Some(fd) = self.fds[i].as_ref()
                && off == Off::Held
                && self.close == CloseMode::Rst
            {
                let _ = socket::set_linger_zero(fd);
            }
            self.close(i);
        }
        surplus > CLOSE_BATCH
    }

    fn open(&mut self, i: usize, now: Duration) {
        let n_src = self.sources.len().max(1) as u64;
        let (s, e) = pair_of(self.first + i as u64, n_src, self.pairs);
        let dest = self.endpoints[e];
        let result = (|| {
            let fd = socket::tcp(dest.ip())?;
            if let Some((lo, hi)) = self.ports {
                socket::set_local_port_range(&fd, lo, hi)?;
            }
            if let (Some(&src), true) = (self.sources.get(s), self.bind != BindMode::None) {
                let mode = match self.bind {
                    BindMode::Plain => socket::BindMode::Plain,
                    _ => socket::BindMode::NoPort,
                };
                socket::bind_source(&fd, src, mode)?;
            }
            let how = socket::connect(&fd, dest)?;
            self.poller.add(&fd, i as u64, poll::CONNECTING)?;
            Ok::<_, Errno>((fd, how))
        })();
        match result {
            Ok((fd, Connect::InProgress)) => {
                self.fds[i] = Some(fd);
                self.conns.connecting(i, now);
            }
            Ok((fd, Connect::Done)) => {
                self.fds[i] = Some(fd);
                self.conns.connected_at_once(i, now);
                self.send_opening(i, dest, now);
            }
            Err(e) => self.conns.open_failed(i, now, Cause::of(e)),
        }
    }

    fn on_event(&mut self, i: usize, ev: Readiness, now: Duration) {
        if self.conns.is_connecting(i) {
            if !(ev.writable || ev.hangup) {
                return;
            }
            // Writable without an error flag means connected; only a
            // failure needs SO_ERROR read (one syscall saved per conn).
            let how = match (ev.error, self.fds[i].as_ref()) {
                (_, None) => Handshake::Failed(Cause::Other),
                (false, Some(_)) => Handshake::Established,
                (true, Some(fd)) => match socket::take_error(fd) {
                    Ok(()) => Handshake::Established,
                    // Connected, then reset before we looked.
                    Err(Errno::CONNRESET | Errno::PIPE) => Handshake::Reset,
                    Err(e) => Handshake::Failed(Cause::of(e)),
                },
            };
            if !self.conns.handshake(i, now, how) {
                self.close(i);
                return;
            }
            if self.conns.is_securing(i) {
                // TCP is up; TLS begins (after the PROXY header, if any).
                // The ClientHello's answer cannot have come yet, but the
                // peer may have closed already.
                self.send_opening(i, self.dest(i), now);
                if ev.hangup && self.conns.is_securing(i) {
                    self.secure(i, true, now);
                }
                return;
            }
            if self.conns.is_upgrading(i) {
                // TCP is up; the upgrade request goes out (after the
                // PROXY header, if any). Its answer cannot have come yet,
                // but the peer may have closed.
                self.send_opening(i, self.dest(i), now);
                if ev.hangup && self.conns.is_upgrading(i) {
                    self.upgrade_ws(i, true, now);
                }
                return;
            }
            // The peer may have spoken or closed in this same event
            // (read first, so a close is counted as the peer's).
            if (ev.readable || ev.hangup) && !self.read(i, ev.hangup, now) {
                return;
            }
            self.send_opening(i, self.dest(i), now);
        } else if self.conns.is_securing(i) {
            self.secure(i, ev.hangup, now);
        } else if self.conns.is_upgrading(i) {
            if ev.readable || ev.hangup {
                self.upgrade_ws(i, ev.hangup, now);
            }
        } else if self.conns.is_held(i) {
            if ev.writable
                && let Some(fd) = self.fds[i].as_ref()
                && !(self.transport.writable(i, fd)
                    && self
                        .ws
                        .as_mut()
                        .is_none_or(|ws| ws.writable(i, &mut self.transport.io(i, fd, false))))
            {
                self.conns.closed(i, now, PeerClose::Rst);
                self.close(i);
                return;
            }
            if ev.readable || ev.hangup {
                self.read(i, ev.hangup, now);
            }
        }
    }

    /// Closes connection `i`'s socket and forgets its transport state.
    fn close(&mut self, i: usize) {
        self.fds[i] = None;
        if let Some(ws) = self.ws.as_mut() {
            ws.forget(i);
        }
        self.transport.forget(i);
    }

    /// Teardown under `--websocket`: a close frame (1000) on every
    /// upgraded connection, as far as each socket takes it now.
    fn close_frames(&mut self) {
        let Some(ws) = self.ws.as_mut() else { return };
        for (i, fd) in self.fds.iter().enumerate() {
            if let Some(fd) = fd {
                ws.close(i, &mut self.transport.io(i, fd, false));
            }
        }
    }

    /// Connection `i`'s TCP connection (and TLS, under it) is up: its
    /// WebSocket upgrade request goes out.
    fn start_ws(&mut self, i: usize, now: Duration) {
        let (Some(fd), Some(ws)) = (self.fds[i].as_ref(), self.ws.as_mut()) else {
            return;
        };
        let n_src = self.sources.len().max(1) as u64;
        let (_, e) = pair_of(self.first + i as u64, n_src, self.pairs);
        let u = ws.start(i, self.endpoints[e], &mut self.transport.io(i, fd, false));
        self.upgraded(i, u, false, now);
    }

    /// Reads connection `i`'s answer to its upgrade.
    fn upgrade_ws(&mut self, i: usize, hangup: bool, now: Duration) {
        let (Some(fd), Some(ws)) = (self.fds[i].as_ref(), self.ws.as_mut()) else {
            return;
        };
        let mut io = self.transport.io(i, fd, hangup);
        let u = ws.upgrade(i, &mut io, &mut self.buf[..]);
        self.upgraded(i, u, hangup, now);
    }

    /// Tells the table where connection `i`'s upgrade stands.
    fn upgraded(&mut self, i: usize, u: Upgrade, hangup: bool, now: Duration) {
        match u {
            Upgrade::Pending => {}
            Upgrade::Done => {
                self.conns.upgraded(i, now);
                // Frames that came with the 101 (and a close) are read
                // now: their edge is spent.
                if self.read(i, hangup, now) {
                    self.send_first(i, now);
                }
            }
            Upgrade::Refused { cause, detail } => {
                self.conns.insecure(i, now, cause);
                if self.ws.as_mut().is_some_and(|ws| ws.first_of(cause)) {
                    self.notes.push(FromWorker::WsFailure { cause, detail });
                }
                self.close(i);
            }
            Upgrade::Closed { fin } => {
                let how = if fin { PeerClose::Fin } else { PeerClose::Rst };
                self.conns.closed(i, now, how);
                self.close(i);
            }
        }
    }

    /// Connection `i`'s TCP connection is up: its TLS handshake begins.
    fn start_tls(&mut self, i: usize, now: Duration) {
        let Some(fd) = self.fds[i].as_ref() else {
            return;
        };
        let n_src = self.sources.len().max(1) as u64;
        let (_, e) = pair_of(self.first + i as u64, n_src, self.pairs);
        let h = self.transport.start(i, self.endpoints[e], fd);
        self.secured(i, h, false, now);
    }

    /// Moves connection `i`'s TLS handshake on.
    fn secure(&mut self, i: usize, hangup: bool, now: Duration) {
        let Some(fd) = self.fds[i].as_ref() else {
            return;
        };
        let h = self.transport.handshake(i, fd, hangup);
        self.secured(i, h, hangup, now);
    }

    /// Tells the table where connection `i`'s TLS handshake stands.
    fn secured(&mut self, i: usize, h: tls::Handshake, hangup: bool, now: Duration) {
        match h {
            tls::Handshake::Pending => {}
            tls::Handshake::Done { resumed } => {
                self.conns.secured(i, now, resumed);
                if let Some(a) = self.transport.take_agreed(i) {
                    self.notes.push(FromWorker::TlsAgreed(a));
                }
                if self.conns.is_upgrading(i) {
                    self.start_ws(i, now);
                    if hangup && self.conns.is_upgrading(i) {
                        self.upgrade_ws(i, true, now);
                    }
                    return;
                }
                // What came with the handshake's end (application data,
                // a close) is read now: its edge is spent.
                if self.read(i, hangup, now) {
                    self.send_first(i, now);
                }
            }
            tls::Handshake::Broke(Broke::Closed { fin }) => {
                let how = if fin { PeerClose::Fin } else { PeerClose::Rst };
                self.conns.closed(i, now, how);
                self.close(i);
            }
            tls::Handshake::Broke(Broke::Failed(e)) => {
                let cause = crate::tls::cause_of(&e);
                self.conns.insecure(i, now, cause);
                if self.transport.first_of(cause) {
                    self.notes.push(FromWorker::TlsFailure {
                        cause,
                        detail: crate::tls::words_of(&e),
                    });
                }
                self.close(i);
            }
        }
    }

    /// Reads what a held connection has and tells the table; false when
    /// the connection has ended (its socket is then closed).
    fn read(&mut self, i: usize, hangup: bool, now: Duration) -> bool {
        let Some(fd) = self.fds[i].as_ref() else {
            return false;
        };
        let conns = &mut self.conns;
        let sink = |bytes: &[u8]| conns.data(i, now, bytes);
        let end = match self.ws.as_mut() {
            Some(ws) => ws.recv(i, &mut self.transport.io(i, fd, hangup), sink),
            None => self.transport.recv(i, fd, hangup, &mut self.buf[..], sink),
        };
        match end {
            Recv::Drained => true,
            Recv::Closed { fin } => {
                let how = if fin { PeerClose::Fin } else { PeerClose::Rst };
                self.conns.closed(i, now, how);
                self.close(i);
                false
            }
        }
    }

    /// Where connection `i` goes: the plan's destination for it.
    fn dest(&self, i: usize) -> SocketAddr {
        let n_src = self.sources.len().max(1) as u64;
        self.endpoints[pair_of(self.first + i as u64, n_src, self.pairs).1]
    }

    /// What a new connection `i`, just established to `dest`, sends
    /// first: its PROXY protocol header (`--proxy-protocol`), then with
    /// TLS its ClientHello (the header is in the clear, before TLS, as
    /// the spec asks), else the first message (`--first-message`) in the
    /// same send(2) as the header (so Nagle's algorithm never holds the
    /// message back behind the header's acknowledgement).
    fn send_opening(&mut self, i: usize, dest: SocketAddr, now: Duration) {
        let securing = self.conns.is_securing(i);
        let upgrading = self.conns.is_upgrading(i);
        // Over WebSocket the first message goes as a frame, once upgraded.
        if self.proxy.is_some() && !self.send_header(i, dest, !securing && !upgrading, now) {
            return;
        }
        if securing {
            self.start_tls(i, now);
        } else if upgrading {
            self.start_ws(i, now);
        } else if self.proxy.is_none() {
            self.send_first(i, now);
        }
    }

    /// Writes connection `i`'s PROXY protocol header, and the first
    /// message after it when `with_first`; false when it could not, and
    /// the connection is closed. The header carries the socket's own
    /// address and port as the source (or, with `--proxy-sources`, the
    /// address for this connection's global index, with its own port).
    /// A header not written whole closes the connection, its cause
    /// counted.
    fn send_header(&mut self, i: usize, dest: SocketAddr, with_first: bool, now: Duration) -> bool {
        let (Some(p), Some(fd)) = (self.proxy, self.fds[i].as_ref()) else {
            return false;
        };
        let header = socket::local_addr(fd).and_then(|local| {
            let src = match &p.sources {
                Some(s) => SocketAddr::new(s.nth(self.first + i as u64), local.port()),
                None => local,
            };
            self.header.clear();
            // Families are checked before the run starts; a mix here
            // cannot be sent.
            proxy::encode(p.version, src, dest, &mut self.header)
                .map_err(|_| Errno::AFNOSUPPORT)?;
            let len = self.header.len();
            if let (Some(first), true) = (&self.traffic.first, with_first) {
                self.header.extend_from_slice(first);
            }
            match socket::send(fd, &self.header)? {
                // A fresh connection's empty send buffer takes a header
                // whole (and the first message, as `send_first` does, as
                // far as it takes it); part of a header could never be
                // finished.
                n if n >= len => Ok(len),
                _ => Err(Errno::AGAIN),
            }
        });
        match header {
            Ok(len) => {
                self.conns.header_sent(len);
                true
            }
            Err(e) => {
                self.conns.header_failed(i, now, Cause::of(e));
                self.close(i);
                false
            }
        }
    }

    /// Sends the first message (`--first-message`) on a new connection.
    fn send_first(&mut self, i: usize, now: Duration) {
        let (Some(first), Some(fd)) = (&self.traffic.first, self.fds[i].as_ref()) else {
            return;
        };
        let sent = match self.ws.as_mut() {
            Some(ws) => ws.send_once(i, &mut self.transport.io(i, fd, false), first),
            None => self.transport.send(i, fd, first),
        };
        if sent == tls::Sent::Broken {
            self.conns.closed(i, now, PeerClose::Rst);
            self.close(i);
        }
    }

    /// Heartbeat `i`, scheduled for `at`, sent at `now`.
    fn heartbeat(&mut self, i: usize, at: Duration, now: Duration) {
        if self.conns.due(i) != Due::Send {
            return;
        }
        let Some(fd) = self.fds[i].as_ref() else {
            return;
        };
        // A stalled send's reply can never be matched to it.
        let sent = match self.ws.as_mut() {
            Some(ws) => ws.send(i, &mut self.transport.io(i, fd, false)),
            None => self.transport.send(i, fd, &self.traffic.message),
        };
        let how = match sent {
            tls::Sent::Whole => Sent::Whole,
            tls::Sent::Stalled => Sent::Stalled,
            tls::Sent::Broken => Sent::Broken,
        };
        self.conns.sent(i, at, now, how);
        if how == Sent::Broken {
            self.close(i);
        }
    }

    /// Makes every socket's close what `--close` asks: an RST (SO_LINGER
    /// 0) or, by default in the kernel, a FIN.
    fn arm_close(&self) {
        if self.close == CloseMode::Rst {
            for fd in self.fds.iter().flatten() {
                let _ = socket::set_linger_zero(fd);
            }
        }
    }
}
