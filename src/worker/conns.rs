//! A client worker's connections, sans I/O: the state of each, the
//! handshake window and its timeouts, how the peer ended a connection,
//! heartbeat bookkeeping and reply matching, and the counters and latency
//! they feed. The epoll glue (`client.rs`) makes the system calls and
//! tells this table what happened, with the time passed in, so every rule
//! here is unit-tested without sockets or sleeps.
//!
//! Per connection it keeps flat tables indexed by the worker's local
//! connection number (a slot): the state (1 byte: 4 bits of state, and
//! either a "the peer sent data" bit while established or the number of
//! failed attempts in a row while connecting or waiting to reconnect), a
//! time (4 bytes: the connect start, the scheduled time of the oldest
//! heartbeat outstanding, or when a reconnect is due), and in heartbeat
//! mode the reply bytes matched so far (2) and the sends outstanding or
//! skipped behind the oldest (2). Reconnects and stages add nothing per
//! connection.
//!
//! Slots `0..next` are in use (connecting, held, waiting to reconnect, or
//! lost); slots from `next` are free. The target ([`Pace`], moved by
//! `--stages`) says how many are in use: the worker opens the slot at
//! `next` while fewer are, and frees the one below `next` (the most
//! recently opened, closing it) while more are. So the slots in use stay
//! one run from 0, and nothing has to be searched to open or to close.
//!
//! With `--reconnect` a connection the peer closed, or one that failed,
//! keeps its slot and waits out its back-off ([`Reconnect::delay`]; the
//! due time in its time field, its failed attempts in its state byte);
//! a sweep over the slots ([`Conns::sweep`], a bounded part of the table
//! per call, only while some wait or connect) reopens those due, at most
//! as many as the window and the reopen rate allow, and fails handshakes
//! that took too long wherever they are.
//!
//! With TLS (`--tls`) a connection has one more state between the TCP
//! handshake and being held: its TLS handshake under way. It stays in
//! the handshake window and under `--connect-timeout` (counted
//! `TlsTimeout` when it runs out), and is held, opened and established
//! only once its TLS handshake is done; a TLS failure is a failure by
//! its TLS cause (with `--reconnect`, a failed attempt), and a close by
//! the server meanwhile is a close, as for an established connection
//! (the TCP connection existed).
//!
//! With WebSocket (`--websocket`) a connection has one more state after
//! TCP's handshake (and TLS's): its upgrade under way, the request sent
//! and the 101 awaited. It stays in the handshake window and under
//! `--connect-timeout` (counted `WsTimeout`), and is held only once
//! upgraded; a refused upgrade is a failure by its cause (by HTTP status:
//! `WsStatus`), and a close by the server meanwhile a close.
//!
//! Rules that make the counts true against any server:
//! - a connection the peer closed (FIN) or reset (RST) is never held, in
//!   any state, the handshake's end and the close in one event included;
//!   each close is counted by how (FIN, data then FIN, RST);
//! - every scheduled heartbeat is one latency sample, timed from its own
//!   scheduled time. When each reply is an exact echo of the message
//!   (c1m's own servers, or `--expect` equal to the message), sends go
//!   out on schedule whatever is outstanding (`pipelined`): replies come
//!   back in order on a TCP stream, so the k-th outstanding reply answers
//!   the send scheduled k intervals after the oldest. Otherwise a reply's
//!   end cannot be told from the next one's start, and a send due while a
//!   reply is outstanding is skipped (`late`) and recorded when that reply
//!   comes. A reply that never comes is recorded when c1m gives up on it
//!   (`lost`), never dropped.

use std::time::Duration;

use crate::cause::Cause;
use crate::latency::Latency;
use crate::stages::Pace;
use crate::stages::backoff::{MAX_ATTEMPT, Reconnect};
use crate::wire::Stats;

/// The first bytes kept of what a server sends unasked (its error line).
pub const FIRST_BYTES: usize = 128;

/// How a handshake ended, as epoll and `SO_ERROR` told it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    /// Connected.
    Established,
    /// Connected, and already reset by the peer (`SO_ERROR` ECONNRESET or
    /// EPIPE when the handshake's end was reported): it existed, briefly.
    Reset,
    /// Never connected.
    Failed(Cause),
}

/// How the peer ended an established connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerClose {
    /// An orderly close: read() returned 0.
    Fin,
    /// A reset, or any other error reading.
    Rst,
}

/// What to do about a heartbeat that is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Send it.
    Send,
    /// A reply is outstanding: skipped, to be timed when it comes.
    Skipped,
    /// The connection is not held.
    Nothing,
}

/// What became of a send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// The whole message went out.
    Whole,
    /// Only part of it, or none (the send buffer was full): its reply can
    /// never be matched, so it is lost.
    Stalled,
    /// The connection is broken (EPIPE, ECONNRESET).
    Broken,
}

/// Free: never opened, or closed by a stage going down.
const UNTRIED: u8 = 0;
const CONNECTING: u8 = 1;
/// Established, nothing outstanding.
const HELD: u8 = 2;
/// Established, a heartbeat's reply outstanding.
const WAITING: u8 = 3;
/// Lost: failed or closed, and not reopened.
const DONE: u8 = 4;
/// Waiting to reconnect: the peer closed it with a FIN.
const RETRY_FIN: u8 = 5;
/// Waiting to reconnect: the peer reset it.
const RETRY_RST: u8 = 6;
/// Waiting to reconnect: the attempt failed.
const RETRY_FAILED: u8 = 7;
/// TCP established, the TLS handshake under way (in the window).
const SECURING: u8 = 8;
/// TCP (and TLS) up, the WebSocket upgrade under way (in the window).
const UPGRADING: u8 = 9;
const STATE: u8 = 0x0f;
/// The peer has sent bytes on this connection (while established).
const DATA_SEEN: u8 = 0x80;
/// A reply given up on when the heartbeats ended may still come on this
/// connection (while established): bytes after are that reply, not words
/// of the server's own.
const OWED: u8 = 0x40;
/// The failed attempts in a row, in the high nibble (while connecting or
/// waiting to reconnect).
const ATTEMPT_SHIFT: u8 = 4;

/// Slots a sweep looks at per call: a 20,000-slot table in five calls.
pub const SWEEP_BATCH: u64 = 4096;

/// Why a connection was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Loss {
    Fin,
    Rst,
    Failed,
}

/// What freeing a slot ([`Conns::turn_off`]) asks of the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Off {
    /// No socket: the slot was lost or waiting to reconnect.
    Nothing,
    /// Close its socket (a handshake under way).
    Socket,
    /// Close its held connection as `--close` says (an RST or a FIN).
    Held,
}

/// `n` zeroes, every page written now: `vec![0; n]` comes from calloc,
/// its pages faulted in as connections first use them, up to one
/// heartbeat interval into the hold (seen as RSS creeping in the soak).
/// `black_box` keeps the writes of a zero from being optimized away.
fn touched(n: usize) -> Vec<u16> {
    let mut v = vec![0u16; n];
    for x in v.iter_mut().step_by(2048) {
        *x = std::hint::black_box(0);
    }
    v
}

/// What a handshake that ran out of time in `state` failed by.
fn timeout_cause(state: u8) -> Cause {
    match state {
        SECURING => Cause::TlsTimeout,
        UPGRADING => Cause::WsTimeout,
        _ => Cause::Timeout,
    }
}

fn micros(d: Duration) -> u32 {
    // Wraps every ~71 minutes; differences stay right for waits shorter.
    d.as_micros() as u32
}

fn since(now: Duration, then_us: u32) -> u64 {
    micros(now).wrapping_sub(then_us) as u64
}

/// What the table needs to know about the traffic.
#[derive(Debug, Clone, Default)]
pub struct Heartbeats {
    /// Between two sends on one connection.
    pub interval: Duration,
    /// What a reply must start with; `None`: any byte is a reply.
    pub expect: Option<Vec<u8>>,
    /// Each reply is exactly `expect` (an echo), so replies are told apart
    /// in the stream and sends go out on schedule while replies are
    /// outstanding; otherwise a send due then is skipped (`late`).
    pub pipelined: bool,
}

/// One client worker's connections.
pub struct Conns {
    state: Vec<u8>,
    times_us: Vec<u32>,
    /// Heartbeat mode only: reply bytes matched so far.
    got: Vec<u16>,
    /// Heartbeat mode only: sends behind the oldest outstanding one,
    /// in flight (pipelined) or skipped; the k-th was scheduled k
    /// intervals after it.
    skipped: Vec<u16>,
    heartbeats: Option<Heartbeats>,
    /// Whether connections speak TLS: a TLS handshake follows TCP's.
    tls: bool,
    /// Whether connections speak WebSocket: an upgrade follows.
    ws: bool,
    /// Slots: the most connections this worker holds at once.
    count: u64,
    /// Slots in use: `0..next`.
    next: u64,
    /// How many slots should be in use, over time.
    pace: Pace,
    /// The plan ended here ([`Conns::pause`]): nothing opens or closes.
    paused: bool,
    /// Nothing more is opened or reopened until the next target
    /// ([`Conns::freeze`]): the top's reading of a stage not met.
    frozen: bool,
    /// A target was set ([`Conns::set_target`]): the next one starts
    /// where it ends.
    targeted: bool,
    oldest: u64,
    window: u64,
    timeout_us: u64,
    /// `--reconnect`; `None`: a lost connection stays lost.
    reconnect: Option<Reconnect>,
    /// The next slot the sweep looks at.
    sweep: u64,
    /// Draws each back-off's jitter.
    rng: fastrand::Rng,
    /// Counters, reported to the supervisor.
    pub stats: Stats,
    /// Latency recorded since the last report.
    pub latency: Latency,
    /// The latest unasked bytes and the connection they came on, until a
    /// close with data makes them the worker's `first_bytes`.
    sample: Vec<u8>,
    sample_of: Option<usize>,
    first_bytes: Option<Vec<u8>>,
}

impl Conns {
    /// A table for `count` connections, at most `window` handshakes under
    /// way, each failed after `timeout`; `heartbeats` in heartbeat mode.
    pub fn new(count: u64, window: u64, timeout: Duration, heartbeats: Option<Heartbeats>) -> Self {
        let n = count as usize;
        let hb = heartbeats.is_some();
        Self {
            state: vec![UNTRIED; n],
            times_us: vec![0; n],
            got: if hb { touched(n) } else { Vec::new() },
            skipped: if hb { touched(n) } else { Vec::new() },
            heartbeats,
            tls: false,
            ws: false,
            count,
            next: 0,
            pace: Pace::fixed(count),
            paused: false,
            frozen: false,
            targeted: false,
            oldest: 0,
            window: window.max(1),
            // Times are kept in u32 microseconds: a timeout past half
            // their range could never be told from a wrapped one.
            timeout_us: (timeout.as_micros() as u64).min(u32::MAX as u64 / 2),
            reconnect: None,
            sweep: 0,
            rng: fastrand::Rng::with_seed(count),
            stats: Stats {
                planned: count,
                behind: count,
                ..Stats::default()
            },
            latency: Latency::new(),
            sample: Vec::new(),
            sample_of: None,
            first_bytes: None,
        }
    }

    /// Reopens lost connections with `r`'s back-off, its jitter drawn
    /// from `seed` (give each worker its own).
    pub fn with_reconnect(mut self, r: Option<Reconnect>, seed: u64) -> Self {
        self.reconnect = r;
        self.rng = fastrand::Rng::with_seed(seed);
        self
    }

    /// The same table for connections that speak TLS.
    pub fn with_tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// The same table for connections that speak WebSocket.
    pub fn with_ws(mut self) -> Self {
        self.ws = true;
        self
    }

    fn state(&self, i: usize) -> u8 {
        self.state.get(i).map_or(DONE, |s| s & STATE)
    }

    /// Failed attempts in a row on `i` (while connecting or retrying).
    fn attempts(&self, i: usize) -> u8 {
        self.state[i] >> ATTEMPT_SHIFT
    }

    fn update_behind(&mut self) {
        self.stats.behind = if self.paused {
            0
        } else {
            self.pace.end().saturating_sub(self.next)
        };
    }

    /// Moves the target linearly from where the last one ends to `conns`
    /// (at most the slots) over `over`, from `now` (`--stages`).
    pub fn set_target(&mut self, conns: u64, over: Duration, now: Duration) {
        if self.paused {
            return;
        }
        self.frozen = false;
        // The line starts where the last one ends (not where the
        // connections are: a stage that could not keep up is not carried
        // into the next), or, the first time, from what is open.
        let from = match self.targeted {
            true => self.pace.end().min(self.count),
            false => self.next,
        };
        self.targeted = true;
        self.pace = Pace::toward(from, conns.min(self.count), now, over);
        self.update_behind();
    }

    /// When the target next changes, if it is still moving.
    pub fn next_change(&self, now: Duration) -> Option<Duration> {
        (!self.paused).then(|| self.pace.next_change(now)).flatten()
    }

    /// Slots in use beyond the target at `now`: connections to free.
    pub fn surplus(&self, now: Duration) -> u64 {
        if self.paused {
            return 0;
        }
        self.next.saturating_sub(self.pace.at(now))
    }

    /// Frees the most recently opened slot, as a stage going down asks;
    /// `None` when none is in use. The caller closes its socket as
    /// [`Off`] says.
    pub fn turn_off(&mut self, now: Duration) -> Option<(usize, Off)> {
        let i = self.next.checked_sub(1)? as usize;
        let off = match self.state(i) {
            CONNECTING | SECURING | UPGRADING => {
                self.stats.connecting -= 1;
                Off::Socket
            }
            WAITING => {
                self.give_up(i, now);
                self.stats.established -= 1;
                self.stats.shed += 1;
                Off::Held
            }
            HELD => {
                self.stats.established -= 1;
                self.stats.shed += 1;
                Off::Held
            }
            RETRY_FIN | RETRY_RST | RETRY_FAILED => {
                self.stats.retrying -= 1;
                Off::Nothing
            }
            _ => Off::Nothing,
        };
        self.state[i] = UNTRIED;
        if self.sample_of == Some(i) {
            self.sample_of = None;
        }
        self.next -= 1;
        self.oldest = self.oldest.min(self.next);
        self.update_behind();
        Some((i, off))
    }

    fn set(&mut self, i: usize, s: u8) {
        self.state[i] = (self.state[i] & !STATE) | s;
    }

    /// Whether connection `i` is established and held.
    pub fn is_held(&self, i: usize) -> bool {
        matches!(self.state(i), HELD | WAITING)
    }

    /// How many connections await a heartbeat's reply now (a walk over
    /// the table: for the end of a hold, not for every event).
    pub fn awaiting(&self) -> u64 {
        self.state.iter().filter(|&&s| s & STATE == WAITING).count() as u64
    }

    /// Whether connection `i`'s handshake is under way.
    pub fn is_connecting(&self, i: usize) -> bool {
        self.state(i) == CONNECTING
    }

    /// Whether connection `i`'s TLS handshake is under way.
    pub fn is_securing(&self, i: usize) -> bool {
        self.state(i) == SECURING
    }

    /// Whether connection `i`'s WebSocket upgrade is under way.
    pub fn is_upgrading(&self, i: usize) -> bool {
        self.state(i) == UPGRADING
    }

    /// Handshakes the window has room for now (0 once paused).
    pub fn window_room(&self) -> u64 {
        match self.paused || self.frozen {
            true => 0,
            false => self.window.saturating_sub(self.stats.connecting),
        }
    }

    /// How many connections may be started now: the window's room, and
    /// what the target at `now` leaves to open.
    pub fn room(&self, now: Duration) -> u64 {
        if self.paused || self.frozen {
            return 0;
        }
        self.window
            .saturating_sub(self.stats.connecting)
            .min(self.pace.at(now).min(self.count).saturating_sub(self.next))
    }

    /// Whether every connection has been tried and none is connecting.
    pub fn ramp_done(&self) -> bool {
        self.stats.ramp_done()
    }

    /// Takes the next free slot to open, counting the attempt.
    pub fn next_to_open(&mut self) -> Option<usize> {
        if self.next >= self.count {
            return None;
        }
        let i = self.next as usize;
        self.state[i] = UNTRIED;
        self.next += 1;
        self.stats.attempted += 1;
        self.update_behind();
        Some(i)
    }

    /// connect() on `i` is under way since `now`.
    pub fn connecting(&mut self, i: usize, now: Duration) {
        self.times_us[i] = micros(now);
        self.set(i, CONNECTING);
        self.stats.connecting += 1;
    }

    /// `i` is established: held, with its failed attempts forgotten.
    fn established(&mut self, i: usize) {
        self.state[i] = HELD;
        self.stats.opened += 1;
        self.stats.established += 1;
        self.stats.peak = self.stats.peak.max(self.stats.established);
    }

    /// connect() on `i` completed at once (loopback may), at `now`.
    /// With TLS, its TLS handshake begins.
    pub fn connected_at_once(&mut self, i: usize, now: Duration) {
        if self.tls || self.ws {
            self.times_us[i] = micros(now);
            self.set(i, if self.tls { SECURING } else { UPGRADING });
            self.stats.connecting += 1;
            return;
        }
        self.established(i);
    }

    /// Opening `i` failed at `now` before any handshake (socket, bind,
    /// connect).
    pub fn open_failed(&mut self, i: usize, now: Duration, cause: Cause) {
        self.stats.failed.add(cause);
        self.lose(i, now, Loss::Failed);
    }

    /// `i` is lost at `now`: with `--reconnect` (and the plan not ended)
    /// it waits out its back-off, else it stays lost. A failure counts
    /// one more failed attempt in a row; a close by the peer starts
    /// again from none.
    fn lose(&mut self, i: usize, now: Duration, why: Loss) {
        let Some(r) = self.reconnect.filter(|_| !self.paused) else {
            self.set(i, DONE);
            return;
        };
        let (state, failed) = match why {
            Loss::Fin => (RETRY_FIN, 0),
            Loss::Rst => (RETRY_RST, 0),
            Loss::Failed => (RETRY_FAILED, self.attempts(i)),
        };
        let wait = r.delay(u32::from(failed), self.rng.f64());
        let attempts = match why {
            Loss::Failed => (failed + 1).min(MAX_ATTEMPT as u8),
            _ => 0,
        };
        self.times_us[i] = micros(now + wait);
        self.state[i] = state | (attempts << ATTEMPT_SHIFT);
        self.stats.retrying += 1;
    }

    /// Looks at up to [`SWEEP_BATCH`] slots in use from where the last
    /// sweep stopped (wrapping), with `--reconnect`: puts in `reopen` the
    /// slots whose back-off is over, at most `budget` and what the
    /// window has room for (each counted as a reconnect by what ended
    /// it; the caller opens them), and in `expired` the handshakes older
    /// than the timeout (failed as timeouts; the caller closes them).
    /// Does nothing without `--reconnect`, or while no slot waits or
    /// connects.
    pub fn sweep(
        &mut self,
        now: Duration,
        budget: u64,
        reopen: &mut Vec<usize>,
        expired: &mut Vec<usize>,
    ) {
        if self.reconnect.is_none()
            || self.next == 0
            || (self.stats.retrying == 0 && self.stats.connecting == 0)
        {
            return;
        }
        let mut budget = budget;
        let now_us = micros(now);
        for _ in 0..SWEEP_BATCH.min(self.next) {
            if self.sweep >= self.next {
                self.sweep = 0;
            }
            let i = self.sweep as usize;
            self.sweep += 1;
            match self.state(i) {
                s @ (CONNECTING | SECURING | UPGRADING)
                    if since(now, self.times_us[i]) >= self.timeout_us =>
                {
                    self.stats.connecting -= 1;
                    self.stats.failed.add(timeout_cause(s));
                    self.lose(i, now, Loss::Failed);
                    expired.push(i);
                }
                s @ (RETRY_FIN | RETRY_RST | RETRY_FAILED)
                    if !self.paused
                        && budget > 0
                        && self.stats.connecting + (reopen.len() as u64) < self.window
                        && (now_us.wrapping_sub(self.times_us[i]) as i32) >= 0 =>
                {
                    let r = &mut self.stats.reconnects;
                    match s {
                        RETRY_FIN => r.fin += 1,
                        RETRY_RST => r.rst += 1,
                        _ => r.failed += 1,
                    }
                    self.stats.retrying -= 1;
                    // Free to open, its failed attempts kept.
                    self.state[i] &= !STATE;
                    budget -= 1;
                    reopen.push(i);
                }
                _ => {}
            }
        }
    }

    /// Whether a sweep has work: reopens to wait for or handshakes to
    /// time.
    pub fn sweeping(&self) -> bool {
        self.reconnect.is_some() && (self.stats.retrying > 0 || self.stats.connecting > 0)
    }

    /// The handshake of `i` ended at `now`. Returns whether `i` is held
    /// (with TLS: whether its TLS handshake is under way; with WebSocket,
    /// its upgrade); when not, the caller closes its socket.
    pub fn handshake(&mut self, i: usize, now: Duration, how: Handshake) -> bool {
        if self.state(i) != CONNECTING {
            return self.is_held(i) || self.is_securing(i) || self.is_upgrading(i);
        }
        if (self.tls || self.ws) && how == Handshake::Established {
            // Still in the window: the TLS handshake (or the upgrade)
            // comes next.
            Latency::record(&mut self.latency.connect, since(now, self.times_us[i]));
            self.times_us[i] = micros(now);
            self.set(i, if self.tls { SECURING } else { UPGRADING });
            return true;
        }
        self.stats.connecting -= 1;
        match how {
            Handshake::Established => {
                Latency::record(&mut self.latency.connect, since(now, self.times_us[i]));
                self.established(i);
                true
            }
            Handshake::Reset => {
                Latency::record(&mut self.latency.connect, since(now, self.times_us[i]));
                self.stats.opened += 1;
                self.stats.closed_rst += 1;
                self.lose(i, now, Loss::Rst);
                false
            }
            Handshake::Failed(cause) => {
                self.stats.failed.add(cause);
                self.lose(i, now, Loss::Failed);
                false
            }
        }
    }

    /// A PROXY protocol header of `bytes` went out whole.
    pub fn header_sent(&mut self, bytes: usize) {
        self.stats.proxy.headers += 1;
        self.stats.proxy.bytes += bytes as u64;
    }

    /// The PROXY protocol header of connection `i` (held, or with TLS
    /// about to begin its TLS handshake) could not be written at `now`
    /// (`cause`): c1m closes it, so it is neither held nor closed by the
    /// peer; the failure counts by cause, with the connections'
    /// (`failed`) and the headers' (`proxy.failed`), and with
    /// `--reconnect` as a failed attempt. The caller closes its socket.
    pub fn header_failed(&mut self, i: usize, now: Duration, cause: Cause) {
        match self.state(i) {
            SECURING | UPGRADING => self.stats.connecting -= 1,
            WAITING | HELD => self.stats.established -= 1,
            _ => return,
        }
        self.stats.failed.add(cause);
        self.stats.proxy.failed.add(cause);
        self.lose(i, now, Loss::Failed);
    }

    /// The TLS handshake of `i` ended well at `now` (`resumed`: an
    /// earlier session's); `i` is held from here.
    pub fn secured(&mut self, i: usize, now: Duration, resumed: bool) {
        if self.state(i) != SECURING {
            return;
        }
        Latency::record(
            &mut self.latency.tls_handshake,
            since(now, self.times_us[i]),
        );
        self.stats.tls_handshakes += 1;
        self.stats.tls_resumed += u64::from(resumed);
        if self.ws {
            // Still in the window: the upgrade comes next.
            self.times_us[i] = micros(now);
            self.set(i, UPGRADING);
            return;
        }
        self.stats.connecting -= 1;
        self.established(i);
    }

    /// The WebSocket upgrade of `i` ended well at `now` (its 101 read);
    /// `i` is held from here.
    pub fn upgraded(&mut self, i: usize, now: Duration) {
        if self.state(i) != UPGRADING {
            return;
        }
        Latency::record(&mut self.latency.ws_upgrade, since(now, self.times_us[i]));
        self.stats.connecting -= 1;
        self.stats.ws_upgrades += 1;
        self.established(i);
    }

    /// The TLS handshake (or the WebSocket upgrade) of `i` failed at
    /// `now`, by `cause` (with `--reconnect`, a failed attempt); the
    /// caller closes its socket.
    pub fn insecure(&mut self, i: usize, now: Duration, cause: Cause) {
        if self.state(i) != SECURING && self.state(i) != UPGRADING {
            return;
        }
        self.stats.connecting -= 1;
        self.stats.failed.add(cause);
        self.lose(i, now, Loss::Failed);
    }

    /// The peer sent `bytes` on `i` at `now`.
    pub fn data(&mut self, i: usize, now: Duration, bytes: &[u8]) {
        if !self.is_held(i) || bytes.is_empty() {
            return;
        }
        self.state[i] |= DATA_SEEN;
        if self.state(i) == WAITING {
            self.reply(i, now, bytes);
        } else if self.state[i] & OWED != 0 {
            // A reply given up on at the heartbeats' end: read, not
            // counted, and not the server's first bytes.
        } else if self.first_bytes.is_none() {
            // Unasked: a greeting, or the error line a server writes
            // before closing. Kept until a close with data claims it.
            self.sample.clear();
            self.sample
                .extend_from_slice(&bytes[..bytes.len().min(FIRST_BYTES)]);
            self.sample_of = Some(i);
        }
    }

    /// The peer ended `i` at `now`; the caller closes its socket.
    pub fn closed(&mut self, i: usize, now: Duration, how: PeerClose) {
        match self.state(i) {
            WAITING => self.give_up(i, now),
            HELD => {}
            SECURING | UPGRADING => {
                // The TCP connection existed: a close by the server, as
                // nginx's past its cap, never held.
                self.stats.connecting -= 1;
                self.stats.opened += 1;
                self.stats.established += 1;
            }
            _ => return,
        }
        self.stats.established -= 1;
        let data = self.state[i] & DATA_SEEN != 0;
        match (how, data) {
            (PeerClose::Rst, _) => self.stats.closed_rst += 1,
            (PeerClose::Fin, false) => self.stats.closed_fin += 1,
            (PeerClose::Fin, true) => {
                self.stats.closed_fin_data += 1;
                if self.first_bytes.is_none() && self.sample_of == Some(i) {
                    self.first_bytes = Some(std::mem::take(&mut self.sample));
                }
            }
        }
        if self.sample_of == Some(i) {
            self.sample_of = None;
        }
        let loss = match how {
            PeerClose::Fin => Loss::Fin,
            PeerClose::Rst => Loss::Rst,
        };
        self.lose(i, now, loss);
    }

    /// The first bytes a server sent on a connection it then closed, once.
    pub fn take_first_bytes(&mut self) -> Option<Vec<u8>> {
        let fb = self.first_bytes.as_mut()?;
        (!fb.is_empty()).then(|| std::mem::take(fb))
    }

    fn pipelined(&self) -> bool {
        self.heartbeats.as_ref().is_some_and(|h| h.pipelined)
    }

    /// A heartbeat on `i` is due.
    pub fn due(&mut self, i: usize) -> Due {
        match self.state(i) {
            HELD => Due::Send,
            WAITING if self.pipelined() && self.skipped[i] < u16::MAX => Due::Send,
            WAITING => {
                self.stats.late += 1;
                if let Some(s) = self.skipped.get_mut(i) {
                    *s = s.saturating_add(1);
                }
                Due::Skipped
            }
            _ => Due::Nothing,
        }
    }

    /// The heartbeat on `i` scheduled for `at` was handed to the kernel at
    /// `now`, with this result. A broken connection counts as reset; the
    /// caller closes its socket. Pipelined, a send stalled behind
    /// outstanding ones leaves a gap in their schedule: the replies after
    /// it are timed up to one interval late, never early.
    pub fn sent(&mut self, i: usize, at: Duration, now: Duration, how: Sent) {
        let waiting = self.state(i) == WAITING && self.pipelined();
        if self.state(i) != HELD && !waiting {
            return;
        }
        match how {
            Sent::Whole if waiting => {
                self.stats.sent += 1;
                self.skipped[i] = self.skipped[i].saturating_add(1);
            }
            Sent::Whole => {
                self.stats.sent += 1;
                self.times_us[i] = micros(at);
                if let Some(g) = self.got.get_mut(i) {
                    *g = 0;
                }
                if let Some(s) = self.skipped.get_mut(i) {
                    *s = 0;
                }
                self.set(i, WAITING);
            }
            Sent::Stalled => {
                self.stats.lost += 1;
                Latency::record(&mut self.latency.rtt, since(now, micros(at)));
            }
            Sent::Broken => {
                self.stats.lost += 1;
                Latency::record(&mut self.latency.rtt, since(now, micros(at)));
                self.closed(i, now, PeerClose::Rst);
            }
        }
    }

    /// The heartbeat on `i` scheduled for `at` was never sent: the end
    /// came, at `now`, with the worker behind its schedule. It is lost,
    /// timed from its schedule to the end as a send never answered; a
    /// connection no longer held owes nothing (as when it was due).
    pub fn unsent(&mut self, i: usize, at: Duration, now: Duration) {
        if matches!(self.state(i), HELD | WAITING) {
            self.stats.unsent += 1;
            self.stats.lost += 1;
            Latency::record(&mut self.latency.rtt, since(now, micros(at)));
        }
    }

    /// Matches reply bytes against what is expected; a whole reply (or a
    /// wrong one) ends the wait. Pipelined, the bytes after a whole reply
    /// answer the next send outstanding; otherwise bytes after the
    /// expected prefix (the rest of an HTTP response, say) are read and
    /// dropped.
    fn reply(&mut self, i: usize, now: Duration, mut bytes: &[u8]) {
        let pipelined = self.pipelined();
        loop {
            let waited = since(now, self.times_us[i]);
            let expect = self.heartbeats.as_ref().and_then(|h| h.expect.as_deref());
            let off = self.got.get(i).copied().unwrap_or(0) as usize;
            if off == 0 {
                Latency::record(&mut self.latency.first_byte, waited);
            }
            match expect {
                None => bytes = &[],
                Some(expect) => {
                    let take = (expect.len() - off).min(bytes.len());
                    if bytes[..take] != expect[off..off + take] {
                        self.stats.mismatched += 1;
                        self.end_wait(i, now);
                        return;
                    }
                    bytes = &bytes[take..];
                    if off + take < expect.len() {
                        self.got[i] = (off + take) as u16;
                        return;
                    }
                }
            }
            self.stats.replies += 1;
            if !pipelined || self.skipped[i] == 0 {
                self.end_wait(i, now);
                return;
            }
            // The next outstanding send, one interval after this one.
            Latency::record(&mut self.latency.rtt, waited);
            let interval = self.heartbeats.as_ref().map_or(0, |h| micros(h.interval));
            self.times_us[i] = self.times_us[i].wrapping_add(interval);
            self.skipped[i] -= 1;
            self.got[i] = 0;
            if bytes.is_empty() {
                return;
            }
        }
    }

    /// Records the send in flight on `i` and every send skipped behind it,
    /// each from its own scheduled time, and ends the wait.
    fn end_wait(&mut self, i: usize, now: Duration) {
        let waited = since(now, self.times_us[i]);
        Latency::record(&mut self.latency.rtt, waited);
        let skipped = self.skipped.get(i).copied().unwrap_or(0) as u64;
        let interval = self
            .heartbeats
            .as_ref()
            .map_or(0, |h| h.interval.as_micros() as u64);
        for k in 1..=skipped {
            Latency::record(&mut self.latency.rtt, waited.saturating_sub(k * interval));
        }
        if let Some(g) = self.got.get_mut(i) {
            *g = 0;
        }
        if let Some(s) = self.skipped.get_mut(i) {
            *s = 0;
        }
        self.set(i, HELD);
    }

    /// c1m gives up on the replies outstanding on `i` at `now`: each is
    /// lost and recorded as waited until now.
    fn give_up(&mut self, i: usize, now: Duration) {
        let skipped = self.skipped.get(i).copied().unwrap_or(0) as u64;
        self.stats.lost += 1 + skipped;
        self.end_wait(i, now);
    }

    /// Fails the handshakes older than the timeout, oldest first, and
    /// puts their numbers in `expired` (the caller closes them).
    pub fn expire(&mut self, now: Duration, expired: &mut Vec<usize>) {
        while self.oldest < self.next {
            let i = self.oldest as usize;
            let state = self.state(i);
            if state == CONNECTING || state == SECURING || state == UPGRADING {
                // A TLS handshake's time starts at its TCP's end, so
                // handshakes may expire a little out of order: one waits
                // at most for an older one's time to run out.
                if since(now, self.times_us[i]) < self.timeout_us {
                    return;
                }
                self.stats.connecting -= 1;
                self.stats.failed.add(timeout_cause(state));
                self.lose(i, now, Loss::Failed);
                expired.push(i);
            }
            self.oldest += 1;
        }
    }

    /// The supervisor ends the plan here: what is open stays held, and
    /// nothing more is opened, reopened or closed.
    pub fn pause(&mut self) {
        self.paused = true;
        self.pace = Pace::fixed(self.next);
        self.stats.planned = self.next;
        self.update_behind();
    }

    /// The supervisor reads the top: nothing more is opened or reopened
    /// (the handshakes under way end) until the next target
    /// ([`Conns::set_target`]), which goes on from where the plan is.
    pub fn freeze(&mut self) {
        self.frozen = true;
    }

    /// The heartbeats end at `now`: every reply still awaited is given up
    /// on, lost and timed to `now`, as the C reference times its own
    /// (not to the teardown's later close). The connections stay held; a
    /// reply that comes after is read and not counted.
    pub fn give_up_awaited(&mut self, now: Duration) {
        for i in 0..self.next as usize {
            if self.state(i) == WAITING {
                self.give_up(i, now);
                self.state[i] |= OWED;
            }
        }
    }

    /// Everything is being closed at `now` (teardown): outstanding replies
    /// are given up on, gauges go to zero.
    pub fn close_all(&mut self, now: Duration) {
        for i in 0..self.next as usize {
            match self.state(i) {
                WAITING => {
                    self.give_up(i, now);
                    self.stats.established -= 1;
                }
                HELD => self.stats.established -= 1,
                CONNECTING | SECURING | UPGRADING => self.stats.connecting -= 1,
                RETRY_FIN | RETRY_RST | RETRY_FAILED => self.stats.retrying -= 1,
                _ => continue,
            }
            self.set(i, DONE);
        }
    }
}

#[cfg(test)]
mod tests;
