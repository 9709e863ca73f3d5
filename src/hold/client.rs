//! The client worker: open connections at a controlled rate with a bounded
//! number of handshakes in flight, hold them, notice peers leaving, and
//! (heartbeat mode) send on a schedule and time the replies.
//!
//! Per connection it keeps flat tables indexed by its local number: the
//! descriptor (4 bytes), a time (4: connect start, then the scheduled time
//! of the heartbeat in flight), the state (1), and in heartbeat mode the
//! reply bytes matched so far (2). Connections are opened in index order,
//! so the ones still connecting are a window `[oldest, next)` and timeouts
//! are found without a scan.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::OwnedFd;
use std::time::Duration;

use anyhow::bail;
use c1m_sys::Errno;
use c1m_sys::poll::{self, Poller};
use c1m_sys::socket::{self, Connect};

use super::ramp::Ramp;
use super::{Command, Link, TOKEN_CMD, TOKEN_SIGNAL, set_fd_limit};
use crate::cause::Cause;
use crate::latency::Latency;
use crate::plan::{BindMode, family_of};
use crate::traffic::{Mode, Schedule, Traffic};
use crate::wire::{CloseMode, FromWorker, Spec, Stats};

/// Connects started per loop turn at most, so reports and events keep
/// flowing during a fast ramp.
const OPEN_BATCH: u64 = 512;
/// Heartbeats sent per loop turn at most.
const SEND_BATCH: u64 = 4096;
/// Heartbeats due within this are sent together: a worker wakes at most
/// this often for them (latency still counts from each scheduled time).
const SEND_TICK: Duration = Duration::from_millis(5);
/// How often latency histograms go to the supervisor.
const LATENCY_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum State {
    Untried = 0,
    Connecting = 1,
    /// Established, nothing outstanding.
    Held = 2,
    Done = 3,
    /// Established, a heartbeat's reply outstanding.
    Waiting = 4,
}

/// What epoll said about one connection.
#[derive(Debug, Clone, Copy)]
struct Readiness {
    writable: bool,
    readable: bool,
    hangup: bool,
    error: bool,
}

struct Client<'a> {
    poller: Poller,
    first: u64,
    count: u64,
    sources: &'a [IpAddr],
    bind: BindMode,
    endpoints: &'a [SocketAddr],
    families: u64,
    window: u64,
    timeout_us: u32,
    close: CloseMode,
    traffic: &'a Traffic,
    ports: Option<(u16, u16)>,
    fds: Vec<Option<OwnedFd>>,
    times_us: Vec<u32>,
    state: Vec<State>,
    /// Heartbeat mode only: reply bytes matched so far.
    got: Vec<u16>,
    next: u64,
    oldest: u64,
    stats: Stats,
    latency: Latency,
}

/// Runs a client worker until told to close.
pub fn run(spec: &Spec) -> anyhow::Result<()> {
    let Spec::Client {
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
        ..
    } = spec
    else {
        bail!("not a client spec");
    };
    if endpoints.is_empty() {
        bail!("no endpoints to connect to");
    }
    let fd_limit = set_fd_limit(*fd_limit)?;
    let poller = Poller::new(1024)?;
    let mut link = Link::new(&poller)?;
    let n = *count as usize;
    let mut fds = Vec::new();
    fds.resize_with(n, || None);
    let heartbeat = traffic.mode == Mode::Heartbeat;
    let mut c = Client {
        poller,
        first: *first,
        count: *count,
        sources,
        bind: *bind,
        endpoints,
        families: sources.len().max(1) as u64 * endpoints.len() as u64,
        window: (*window).max(1),
        timeout_us: (connect_timeout_ms.saturating_mul(1000)).min(u32::MAX as u64 / 2) as u32,
        close: *close,
        traffic,
        ports: *ports,
        fds,
        times_us: vec![0; n],
        state: vec![State::Untried; n],
        got: if heartbeat { vec![0; n] } else { Vec::new() },
        next: 0,
        oldest: 0,
        stats: Stats {
            planned: *count,
            ..Stats::default()
        },
        latency: Latency::new(),
    };
    link.send(&FromWorker::Ready { fd_limit });
    let mut ramp: Option<Ramp> = None;
    let mut schedule: Option<Schedule> = None;
    let mut events = Vec::with_capacity(1024);
    let mut due = Vec::with_capacity(SEND_BATCH as usize);
    let mut told_done = false;
    let mut last_latency = Duration::ZERO;
    loop {
        let now = link.now();
        let mut wait = super::REPORT_EVERY;
        if let Some(r) = ramp.as_mut() {
            c.open_some(r, now);
            c.expire(now);
            if c.next < c.count && c.stats.connecting < c.window {
                wait = wait.min(r.wait());
            }
            if c.stats.connecting > 0 {
                // Look at the oldest handshakes' age now and then.
                wait = wait.min(Duration::from_millis(100));
            }
        }
        if let Some(s) = schedule.as_mut() {
            due.clear();
            due.extend(s.take(now, SEND_BATCH));
            for &(i, at) in &due {
                c.heartbeat(i as usize, at);
            }
            wait = wait.min(s.wait(now).max(SEND_TICK));
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
        if wake_cmd {
            let cmds = link.take_commands();
            if cmds.contains(&Command::Gone) {
                return Ok(());
            }
            if cmds.contains(&Command::Close) {
                c.close_all();
                link.send(&FromWorker::Latency(c.latency.encode()));
                link.send(&FromWorker::Closed(c.stats));
                return Ok(());
            }
            if cmds.contains(&Command::Pause) {
                // The plan ends here: what is open stays held.
                c.count = c.next;
                c.stats.planned = c.next;
            }
            if cmds.contains(&Command::Go) && ramp.is_none() {
                ramp = Some(Ramp::new(rate.map(|r| r.max(0.001)), link.now()));
            }
            if cmds.contains(&Command::Beat) && heartbeat && schedule.is_none() {
                schedule = Some(Schedule::new(c.count, traffic.interval, link.now()));
            }
        }
        if ramp.is_some() && !told_done && c.stats.ramp_done() {
            // The moment the ramp ends matters: say so at once.
            told_done = true;
            link.send(&FromWorker::Stats(c.stats));
        }
        let now = link.now();
        if now.saturating_sub(last_latency) >= LATENCY_EVERY && !c.latency.is_empty() {
            last_latency = now;
            link.send(&FromWorker::Latency(c.latency.encode()));
            c.latency.reset();
        }
        link.report(&c.stats);
    }
}

fn micros(d: Duration) -> u32 {
    // Wraps every ~71 minutes; differences stay right for connect times.
    d.as_micros() as u32
}

fn since(now: Duration, then_us: u32) -> u64 {
    micros(now).wrapping_sub(then_us) as u64
}

impl Client<'_> {
    fn open_some(&mut self, ramp: &mut Ramp, now: Duration) {
        let room = self.window.saturating_sub(self.stats.connecting);
        let want = room.min(self.count - self.next).min(OPEN_BATCH);
        if want == 0 {
            return;
        }
        let n = ramp.take(now, want);
        for _ in 0..n {
            let i = self.next;
            self.next += 1;
            self.open(i as usize, now);
        }
    }

    fn open(&mut self, i: usize, now: Duration) {
        self.stats.attempted += 1;
        let n_src = self.sources.len().max(1) as u64;
        let (s, e) = family_of(self.first + i as u64, n_src, self.families);
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
                self.times_us[i] = micros(now);
                self.state[i] = State::Connecting;
                self.stats.connecting += 1;
            }
            Ok((fd, Connect::Done)) => {
                self.fds[i] = Some(fd);
                self.state[i] = State::Held;
                self.stats.established += 1;
                self.stats.peak = self.stats.peak.max(self.stats.established);
                self.stats.opened += 1;
            }
            Err(e) => {
                self.state[i] = State::Done;
                self.stats.failed.add(Cause::of(e));
            }
        }
    }

    fn on_event(&mut self, i: usize, ev: Readiness, now: Duration) {
        match self.state.get(i) {
            Some(State::Connecting) if ev.writable || ev.hangup => {
                self.stats.connecting -= 1;
                // Writable without an error flag means connected; only a
                // failure needs SO_ERROR read (one syscall saved per conn).
                let result = if ev.error {
                    self.fds[i].as_ref().map(socket::take_error)
                } else {
                    Some(Ok(()))
                };
                match result {
                    Some(Ok(())) => {
                        Latency::record(&mut self.latency.connect, since(now, self.times_us[i]));
                        self.state[i] = State::Held;
                        self.stats.established += 1;
                        self.stats.peak = self.stats.peak.max(self.stats.established);
                        self.stats.opened += 1;
                        if ev.hangup && !ev.writable {
                            self.peer_closed(i);
                        } else if let Some(first) = &self.traffic.first {
                            let sent = self.fds[i].as_ref().map(|fd| socket::send(fd, first));
                            if let Some(Err(e)) = sent
                                && e != Errno::AGAIN
                            {
                                self.peer_closed(i);
                            }
                        }
                    }
                    Some(Err(e)) => self.fail(i, Cause::of(e)),
                    None => self.fail(i, Cause::Other),
                }
            }
            Some(State::Held | State::Waiting) => {
                let mut closed = ev.hangup;
                if ev.readable && !closed {
                    closed = self.read_replies(i, now);
                }
                if closed {
                    self.peer_closed(i);
                }
            }
            _ => {}
        }
    }

    /// Reads what a held connection has; true when it has ended.
    fn read_replies(&mut self, i: usize, now: Duration) -> bool {
        let mut buf = [0u8; 4096];
        loop {
            let Some(fd) = self.fds[i].as_ref() else {
                return true;
            };
            match poll::read(fd, &mut buf) {
                Ok(0) => return true,
                Ok(n) => {
                    if self.state[i] == State::Waiting {
                        self.on_reply(i, &buf[..n], now);
                    }
                    // A short read emptied the socket: no extra read for
                    // the EAGAIN edge-triggered epoll would otherwise need.
                    if n < buf.len() {
                        return false;
                    }
                }
                Err(Errno::INTR) => continue,
                Err(Errno::AGAIN) => return false,
                Err(_) => return true,
            }
        }
    }

    /// Matches reply bytes against what is expected; a whole reply ends
    /// the wait and is timed from the send's scheduled time. Bytes after
    /// the expected prefix (the rest of an HTTP response, say) are read and
    /// dropped.
    fn on_reply(&mut self, i: usize, bytes: &[u8], now: Duration) {
        let waited = since(now, self.times_us[i]);
        let done = match &self.traffic.expect {
            None => true,
            Some(expect) => {
                let off = self.got[i] as usize;
                let take = (expect.len() - off).min(bytes.len());
                if bytes[..take] != expect[off..off + take] {
                    self.stats.mismatched += 1;
                    self.got[i] = 0;
                    self.state[i] = State::Held;
                    return;
                }
                if off + take < expect.len() {
                    if off == 0 {
                        Latency::record(&mut self.latency.first_byte, waited);
                    }
                    self.got[i] = (off + take) as u16;
                    false
                } else {
                    if off == 0 {
                        Latency::record(&mut self.latency.first_byte, waited);
                    }
                    true
                }
            }
        };
        if done {
            if self.traffic.expect.is_none() {
                Latency::record(&mut self.latency.first_byte, waited);
            }
            Latency::record(&mut self.latency.rtt, waited);
            self.stats.replies += 1;
            self.got[i] = 0;
            self.state[i] = State::Held;
        }
    }

    /// Heartbeat `i`, scheduled for `at`.
    fn heartbeat(&mut self, i: usize, at: Duration) {
        match self.state.get(i) {
            Some(State::Held) => {}
            Some(State::Waiting) => {
                self.stats.late += 1;
                return;
            }
            _ => return,
        }
        let Some(fd) = self.fds[i].as_ref() else {
            return;
        };
        match socket::send(fd, &self.traffic.message) {
            Ok(n) if n == self.traffic.message.len() => {
                self.stats.sent += 1;
                self.times_us[i] = micros(at);
                self.got[i] = 0;
                self.state[i] = State::Waiting;
            }
            // The send buffer of a tiny message full: the peer stopped
            // reading; a reply will never be matched to it.
            Ok(_) | Err(Errno::AGAIN) => self.stats.late += 1,
            Err(_) => self.peer_closed(i),
        }
    }

    fn peer_closed(&mut self, i: usize) {
        self.fds[i] = None;
        self.state[i] = State::Done;
        self.stats.established -= 1;
        self.stats.peer_closed += 1;
    }

    fn fail(&mut self, i: usize, cause: Cause) {
        self.fds[i] = None;
        self.state[i] = State::Done;
        self.stats.failed.add(cause);
    }

    /// Fails handshakes older than the connect timeout.
    fn expire(&mut self, now: Duration) {
        while self.oldest < self.next {
            let i = self.oldest as usize;
            if self.state[i] == State::Connecting {
                if since(now, self.times_us[i]) < self.timeout_us as u64 {
                    return;
                }
                self.stats.connecting -= 1;
                self.fail(i, Cause::Timeout);
            }
            self.oldest += 1;
        }
    }

    fn close_all(&mut self) {
        for (i, slot) in self.fds.iter_mut().enumerate() {
            if let Some(fd) = slot.take() {
                if self.close == CloseMode::Rst {
                    let _ = socket::set_linger_zero(&fd);
                }
                match self.state[i] {
                    State::Held | State::Waiting => self.stats.established -= 1,
                    State::Connecting => self.stats.connecting -= 1,
                    _ => {}
                }
                self.state[i] = State::Done;
            }
        }
    }
}
