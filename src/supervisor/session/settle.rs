//! How a session brings the fleet to rest before a reading: the hold's
//! end (heartbeats stop, their replies come in), the servers catching up
//! with the clients, a Ctrl-C's settling, and a second look at phantoms.

use std::time::{Duration, Instant};

use super::Session;
use super::look::Look;
use crate::supervisor::fleet::Role;
use crate::traffic::Mode;
use crate::wire::ToWorker;

/// After the hold, how long the heartbeats' replies on their way may take
/// to come in before the end is read (what is still awaited then is
/// lost): as long as the C reference's (bench/ref) grace.
pub(super) const REPLY_GRACE: Duration = Duration::from_secs(5);
/// The same after a Ctrl-C.
pub(super) const REPLY_GRACE_INTERRUPTED: Duration = Duration::from_secs(1);
/// How long after an end reading with phantoms the endpoints are read
/// again ([`Session::look_twice_at_phantoms`]).
pub(super) const PHANTOM_RECHECK: Duration = Duration::from_millis(300);
/// How long the workers may take to count their sockets (about 20 ms
/// each at 20,000 sockets: see `worker::count_own`), unless
/// [`COUNT_TIMEOUT_ENV`] says otherwise.
const COUNT_TIMEOUT: Duration = Duration::from_secs(10);
/// `C1M_COUNT_TIMEOUT_MS=N`: the count's timeout in milliseconds, instead
/// of [`COUNT_TIMEOUT`]. For the fault matrix (tests/it/faults.rs), whose
/// teardown cells stop a worker (SIGSTOP) in the hold, so that it is
/// still there to be killed in teardown: it cannot answer the end's
/// count, which is then unavailable (held from the workers' counters),
/// as after any timeout, sooner.
pub(super) const COUNT_TIMEOUT_ENV: &str = "C1M_COUNT_TIMEOUT_MS";

/// [`COUNT_TIMEOUT`], or what [`COUNT_TIMEOUT_ENV`] says; a value that is
/// not a whole number of milliseconds is the count's failure, in words.
pub(super) fn count_timeout() -> Result<Duration, String> {
    match std::env::var(COUNT_TIMEOUT_ENV) {
        Err(_) => Ok(COUNT_TIMEOUT),
        Ok(v) => v.trim().parse().map(Duration::from_millis).map_err(|_| {
            format!("{COUNT_TIMEOUT_ENV}={v:?}: not a whole number of milliseconds; unset it for a normal run")
        }),
    }
}

impl Session {
    /// Polls the fleet for `d`, reacting to what it says.
    pub(super) fn quiet(&mut self, d: Duration) -> anyhow::Result<()> {
        let until = Instant::now() + d;
        while Instant::now() < until {
            let ev = self.fleet.poll(Duration::from_millis(100))?;
            if self.handle(ev) {
                break;
            }
        }
        Ok(())
    }

    /// The end of the hold, in order: the progress line closed, the
    /// heartbeats' replies given their grace, the fleet settled after an
    /// early end; then the end's reading ([`Self::look_twice_at_phantoms`]),
    /// `None` when a second Ctrl-C came before or during it (a count of
    /// a fleet being killed is not kept).
    pub(super) fn settle_end(&mut self) -> anyhow::Result<Option<Look>> {
        if self.tty {
            crate::say!();
        }
        if self.presses.count() < 2 {
            self.end_beats()?;
        }
        // What is held at the end, before anything is torn down; skipped
        // only when a second Ctrl-C asked to stop at once.
        if self.end.is_some() {
            self.settle_stopped()?;
        } else {
            // The hold's (or the last stage's) end: clients still opening
            // (a stage not met, reconnects) stop, as after a Ctrl-C.
            self.rest_before_reading(&ToWorker::Pause)?;
        }
        Ok((self.presses.count() < 2)
            .then(|| self.look_twice_at_phantoms())
            .filter(|_| self.presses.count() < 2))
    }

    /// The end's [`Session::look`]; connections only the client side has
    /// are looked at again a moment later, and the reading with fewer is
    /// kept: a real phantom (a SYN cookie the server never made a socket
    /// of) stays, while a pair another process tore down during the
    /// netlink walk (its server end read after the RST, its client end
    /// before) is gone.
    pub(super) fn look_twice_at_phantoms(&mut self) -> Look {
        fn phantoms(l: &Look) -> u64 {
            l.reading
                .as_ref()
                .filter(|r| r.counts.is_local())
                .map_or(0, |r| r.counts.phantoms())
        }
        let first = self.look();
        if phantoms(&first) == 0 || self.quiet(PHANTOM_RECHECK).is_err() {
            return first;
        }
        let second = self.look();
        if phantoms(&second) < phantoms(&first) {
            second
        } else {
            first
        }
    }

    /// Before the top's or the end's reading: the clients are told `stop`
    /// (`Pause` at the end, `Freeze` at a stage's top, which the next
    /// stage's target lifts), and, when their last counters say some
    /// were still opening (handshakes under way, a target not opened
    /// yet), the fleet settles as after an early end. Without it their
    /// own handshakes, completed between c1m's count and netlink's read
    /// of everyone's, passed for other processes' connections, and one
    /// still in the server's accept queue was taken off what c1m held
    /// (trial 5, problem 1).
    pub(super) fn rest_before_reading(&mut self, stop: &ToWorker) -> anyhow::Result<()> {
        if self.fleet.of(Role::Client).next().is_none() {
            return Ok(());
        }
        let c = self.fleet.live_totals(Role::Client);
        self.fleet.tell(Role::Client, stop);
        if c.connecting > 0 || c.behind > 0 {
            self.settle_stopped()?;
        }
        Ok(())
    }

    /// After an early end (Ctrl-C, a worker that died: the clients told
    /// to stop opening): waits at most 2 s, not at all after a second
    /// Ctrl-C, for the handshakes under way to end and the servers to
    /// accept what completed, so that the end's counts (c1m's own,
    /// everyone's, the accept queues) are read from a fleet at rest and
    /// agree with each other.
    pub(super) fn settle_stopped(&mut self) -> anyhow::Result<()> {
        let has_servers = self.fleet.of(Role::Server).next().is_some();
        let start = Instant::now();
        // The workers' counters come every REPORT_EVERY: two of them
        // after the pause before trusting that nothing moves.
        let fresh = 2 * crate::worker::REPORT_EVERY;
        let deadline = start + Duration::from_secs(2);
        while self.presses.count() < 2 && Instant::now() < deadline {
            // A dead worker's last counters say nothing of now.
            let c = self.fleet.live_totals(Role::Client);
            let s = self.fleet.live_totals(Role::Server).established;
            let still = c.connecting == 0 && (!has_servers || s >= c.established);
            if still && start.elapsed() >= fresh {
                break;
            }
            let ev = self.fleet.poll(Duration::from_millis(50))?;
            self.handle(ev);
        }
        Ok(())
    }

    /// Heartbeat mode, after the hold: no more heartbeats are sent, and
    /// the replies on their way get [`REPLY_GRACE`] to come in, so that
    /// the end's reading does not fall on replies in flight and a reply
    /// late by the end's own work is not called lost. A second Ctrl-C
    /// cuts the wait.
    pub(super) fn end_beats(&mut self) -> anyhow::Result<()> {
        if self
            .traffic
            .as_ref()
            .is_none_or(|t| t.mode != Mode::Heartbeat)
        {
            return Ok(());
        }
        let grace = match self.presses.count() {
            0 => REPLY_GRACE,
            _ => REPLY_GRACE_INTERRUPTED,
        };
        let grace_ms = grace.as_millis() as u64;
        self.fleet
            .tell(Role::Client, &ToWorker::EndBeats { grace_ms });
        // The workers keep the grace; this deadline only guards against
        // one that never answers.
        let deadline = Instant::now() + grace + Duration::from_secs(1);
        while self.presses.count() < 2 && Instant::now() < deadline {
            if self
                .fleet
                .of(Role::Client)
                .all(|w| !w.alive() || w.beats_ended)
            {
                break;
            }
            let ev = self.fleet.poll(Duration::from_millis(50))?;
            self.handle(ev);
        }
        Ok(())
    }

    /// Waits, at most `limit`, until the servers hold what the clients
    /// hold (their accepts come just after the clients' handshakes).
    pub(super) fn settle(&mut self, limit: Duration) -> anyhow::Result<()> {
        if self.fleet.of(Role::Server).next().is_none() {
            return Ok(());
        }
        let deadline = Instant::now() + limit;
        // With TLS on both sides, a server ends its handshake after the
        // client's (the client's Finished is its last message): the
        // reading at the top waits for those too, so what it measures is
        // held connections, not handshakes under way.
        let both_tls = self
            .tls
            .as_ref()
            .is_some_and(|(c, s)| c.is_some() && s.is_some());
        while Instant::now() < deadline {
            let (c, s) = (self.client_side(), self.fleet.totals(Role::Server));
            let tls_behind = both_tls && s.tls_handshakes < c.tls_handshakes;
            if (s.established >= c.established && !tls_behind) || c.planned == 0 {
                break;
            }
            let ev = self.fleet.poll(Duration::from_millis(100))?;
            if self.handle(ev) {
                break;
            }
        }
        Ok(())
    }
}
