//! The client worker: open connections at a controlled rate with a bounded
//! number of handshakes in flight, hold them, notice peers leaving.
//!
//! Per connection it keeps 9 bytes in flat tables indexed by its local
//! number: the descriptor (4), the connect start time (4), the state (1).
//! Connections are opened in index order, so the ones still connecting are
//! a window `[oldest, next)` and timeouts are found without a scan.

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
use crate::plan::{BindMode, family_of};
use crate::wire::{CloseMode, FromWorker, Spec, Stats};

/// Connects started per loop turn at most, so reports and events keep
/// flowing during a fast ramp.
const OPEN_BATCH: u64 = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum State {
    Untried = 0,
    Connecting = 1,
    Held = 2,
    Done = 3,
}

/// What epoll said about one connection.
#[derive(Debug, Clone, Copy)]
struct Readiness {
    writable: bool,
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
    fds: Vec<Option<OwnedFd>>,
    started_us: Vec<u32>,
    state: Vec<State>,
    next: u64,
    oldest: u64,
    stats: Stats,
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
        fds,
        started_us: vec![0; n],
        state: vec![State::Untried; n],
        next: 0,
        oldest: 0,
        stats: Stats {
            planned: *count,
            ..Stats::default()
        },
    };
    link.send(&FromWorker::Ready { fd_limit });
    let mut ramp: Option<Ramp> = None;
    let mut events = Vec::with_capacity(1024);
    let mut told_done = false;
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
        let mut wake_cmd = false;
        events.clear();
        for ev in c.poller.wait(wait)? {
            match ev.token {
                TOKEN_CMD | TOKEN_SIGNAL => wake_cmd = true,
                i => events.push((
                    i as usize,
                    Readiness {
                        writable: ev.is_writable(),
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
            let mut cmds = link.commands();
            if link.terminated() {
                cmds.push(Command::Close);
            }
            if cmds.contains(&Command::Gone) {
                return Ok(());
            }
            if cmds.contains(&Command::Close) {
                c.close_all();
                link.send(&FromWorker::Closed(c.stats));
                return Ok(());
            }
            if cmds.contains(&Command::Go) && ramp.is_none() {
                ramp = Some(Ramp::new(rate.map(|r| r.max(0.001)), link.now()));
            }
        }
        if ramp.is_some() && !told_done && c.stats.ramp_done() {
            // The moment the ramp ends matters: say so at once.
            told_done = true;
            link.send(&FromWorker::Stats(c.stats));
        }
        link.report(&c.stats);
    }
}

fn micros(d: Duration) -> u32 {
    // Wraps every ~71 minutes; differences stay right for connect times.
    d.as_micros() as u32
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
                self.started_us[i] = micros(now);
                self.state[i] = State::Connecting;
                self.stats.connecting += 1;
            }
            Ok((fd, Connect::Done)) => {
                self.fds[i] = Some(fd);
                self.state[i] = State::Held;
                self.stats.established += 1;
                self.stats.opened += 1;
            }
            Err(e) => {
                self.state[i] = State::Done;
                self.stats.failed.add(Cause::of(e));
            }
        }
    }

    fn on_event(&mut self, i: usize, ev: Readiness, now: Duration) {
        let Readiness {
            writable,
            hangup,
            error,
        } = ev;
        match self.state.get(i) {
            Some(State::Connecting) if writable || hangup => {
                self.stats.connecting -= 1;
                // Writable without an error flag means connected; only a
                // failure needs SO_ERROR read (one syscall saved per conn).
                let result = if error {
                    self.fds[i].as_ref().map(socket::take_error)
                } else {
                    Some(Ok(()))
                };
                match result {
                    Some(Ok(())) => {
                        let us = micros(now).wrapping_sub(self.started_us[i]) as u64;
                        self.stats.connect_us_sum += us;
                        self.stats.connect_us_max = self.stats.connect_us_max.max(us);
                        self.state[i] = State::Held;
                        self.stats.established += 1;
                        self.stats.opened += 1;
                        if hangup && !writable {
                            self.peer_closed(i);
                        }
                    }
                    Some(Err(e)) => self.fail(i, Cause::of(e)),
                    None => self.fail(i, Cause::Other),
                }
            }
            Some(State::Held) => {
                let closed = hangup || self.fds[i].as_ref().is_some_and(super::drain_is_closed);
                if closed {
                    self.peer_closed(i);
                }
            }
            _ => {}
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
        let now_us = micros(now);
        while self.oldest < self.next {
            let i = self.oldest as usize;
            if self.state[i] == State::Connecting {
                if now_us.wrapping_sub(self.started_us[i]) < self.timeout_us {
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
                    State::Held => self.stats.established -= 1,
                    State::Connecting => self.stats.connecting -= 1,
                    _ => {}
                }
                self.state[i] = State::Done;
            }
        }
    }
}
