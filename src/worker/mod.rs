//! Worker processes: they hold connections, and nothing else.
//!
//! A worker is this same binary re-executed as `c1m worker`. It reads its
//! [`WorkerSpec`] from stdin (the first line, [`ToWorker::Start`]),
//! reports [`FromWorker`] lines on stdout, and obeys [`ToWorker`]
//! commands; when stdin closes (the supervisor is gone) it exits at once,
//! and the kernel kills it anyway if the supervisor dies
//! (`PR_SET_PDEATHSIG`).
//!
//! **Invariant:** no allocation per connection on the hot path. A worker
//! allocates its tables once, sized by its descriptor budget; a connection
//! costs a few bytes in them.

pub mod client;
pub mod conns;
pub mod ramp;
pub mod rules;
pub mod server;
pub mod tls;
pub mod transport;
pub mod ws;

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use c1m_sys::poll::{self, Poller};
use c1m_sys::signals::{SIGTERM, Signals};

use crate::wire::{self, FromWorker, Lines, OwnStates, Stats, ToWorker, WorkerSpec};

/// The causes whose first failure a worker has told the supervisor, in
/// words (TLS's and WebSocket's examples): each is told once.
#[derive(Debug, Default)]
pub struct Told(Vec<crate::cause::Cause>);

impl Told {
    /// Whether the first failure of `cause` is still to be told; true
    /// once per cause.
    pub fn first_of(&mut self, cause: crate::cause::Cause) -> bool {
        if self.0.contains(&cause) {
            return false;
        }
        self.0.push(cause);
        true
    }
}

/// How often a worker reports its counters.
pub const REPORT_EVERY: Duration = Duration::from_millis(250);

/// How long a worker with nothing to do sleeps: anything it must do
/// arrives as an event (a socket, a command, a signal), and every timer it
/// keeps shortens the wait.
const IDLE_WAIT: Duration = Duration::from_secs(60);

/// Tokens at or above this are not connections.
const CONTROL: u64 = 1 << 40;
/// The supervisor's command pipe.
const TOKEN_CMD: u64 = CONTROL;
/// SIGTERM.
const TOKEN_SIGNAL: u64 = CONTROL + 1;
/// Listener `i` is `TOKEN_LISTENER + i`.
const TOKEN_LISTENER: u64 = CONTROL + 16;

/// The worker's line to its supervisor: commands in, reports out.
pub struct Link {
    lines: Lines,
    start: Instant,
    last_report: Duration,
    /// The counters last sent: an unchanged worker sends nothing.
    last_sent: Option<Stats>,
    signals: Signals,
    /// Each message's line, written here and reused: a fresh buffer per
    /// message (four a second, up to ~10 KiB with latency) left the
    /// heap of a worker holding connections for hours fragmented.
    out: Vec<u8>,
}

/// What came from the supervisor.
#[derive(Debug, PartialEq)]
enum Command {
    Go,
    Pause,
    /// Open nothing until the next target (the top's reading).
    Freeze,
    /// Move toward this many connections over this long (`--stages`).
    Target {
        conns: u64,
        over: Duration,
    },
    /// Close this share of the connections held (`--close-fraction`).
    CloseSome(f64),
    /// Start the heartbeats, scheduled within `hold` if given, ended by
    /// the worker itself `grace` after it if given.
    Beat {
        hold: Option<Duration>,
        grace: Option<Duration>,
    },
    /// Count the sockets held by the kernel's state of each.
    Count,
    /// Send no more heartbeats; say so once the replies on their way
    /// are in, or this grace is over.
    EndBeats(Duration),
    Close,
    /// stdin closed: the supervisor is gone.
    Gone,
}

impl Link {
    fn new(poller: &Poller) -> anyhow::Result<Self> {
        let signals = Signals::catch(&[SIGTERM]).context("catching SIGTERM")?;
        poll::set_nonblocking(std::io::stdin().as_fd())?;
        poller.add(std::io::stdin().as_fd(), TOKEN_CMD, poll::READ)?;
        poller.add(signals.as_fd(), TOKEN_SIGNAL, poll::READ)?;
        Ok(Self {
            lines: Lines::default(),
            start: Instant::now(),
            last_report: Duration::ZERO,
            last_sent: None,
            signals,
            out: Vec::with_capacity(16 << 10),
        })
    }

    /// Time since the worker started.
    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// Reads what the supervisor sent.
    fn commands(&mut self) -> Vec<Command> {
        let mut out = Vec::new();
        let stdin = std::io::stdin();
        if self.lines.fill(|buf| poll::read(stdin.as_fd(), buf)) {
            out.push(Command::Gone);
        }
        while let Some(msg) = self.lines.next_message::<ToWorker>() {
            match msg {
                Ok(ToWorker::Go) => out.push(Command::Go),
                Ok(ToWorker::Pause) => out.push(Command::Pause),
                Ok(ToWorker::Freeze) => out.push(Command::Freeze),
                Ok(ToWorker::Target { conns, over_ms }) => out.push(Command::Target {
                    conns,
                    over: Duration::from_millis(over_ms),
                }),
                Ok(ToWorker::CloseSome { fraction }) => out.push(Command::CloseSome(fraction)),
                Ok(ToWorker::Beat { for_ms, grace_ms }) => out.push(Command::Beat {
                    hold: for_ms.map(Duration::from_millis),
                    grace: grace_ms.map(Duration::from_millis),
                }),
                Ok(ToWorker::Count) => out.push(Command::Count),
                Ok(ToWorker::EndBeats { grace_ms }) => {
                    out.push(Command::EndBeats(Duration::from_millis(grace_ms)))
                }
                Ok(ToWorker::Close) => out.push(Command::Close),
                // A second spec or garbage: the supervisor is confused; stop.
                _ => out.push(Command::Close),
            }
        }
        out
    }

    /// What the supervisor asked for since the last look, a SIGTERM
    /// counting as an orderly close.
    fn take_commands(&mut self) -> Vec<Command> {
        let mut cmds = self.commands();
        if !self.signals.take().is_empty() {
            cmds.push(Command::Close);
        }
        cmds
    }

    fn send(&mut self, msg: &FromWorker) {
        wire::line_into(msg, &mut self.out);
        let mut out = std::io::stdout().lock();
        // The supervisor gone means nobody to tell: stdin's EOF ends us.
        let _ = out.write_all(&self.out).and_then(|_| out.flush());
    }

    /// Reports the counters if they changed since the last report and one
    /// is due (at most one per [`REPORT_EVERY`]). Returns how long the
    /// caller may sleep before a change not yet reported is due, `None`
    /// when nothing is pending: a worker holding idle connections sends
    /// nothing and need not wake (its CPU at 1M held is the issue's ≤ 2%
    /// of a core, shared by 100+ workers).
    fn report(&mut self, stats: &Stats) -> Option<Duration> {
        let wait = self.report_wait(stats)?;
        if wait.is_zero() {
            self.send_stats(stats);
            return None;
        }
        Some(wait)
    }

    /// How long until a report of `stats` is due, if they changed since
    /// the last one (zero: due now); `None` when nothing is pending.
    fn report_wait(&self, stats: &Stats) -> Option<Duration> {
        if self.last_sent.as_ref() == Some(stats) {
            return None;
        }
        let since = self.now().saturating_sub(self.last_report);
        Some(REPORT_EVERY.saturating_sub(since))
    }

    /// Reports the counters now.
    fn send_stats(&mut self, stats: &Stats) {
        self.last_report = self.now();
        self.last_sent = Some(*stats);
        self.send(&FromWorker::Stats(*stats));
    }
}

/// Ends the worker with its connections still open, its last word said:
/// exit(2) closes every descriptor inside the kernel (`do_exit` →
/// `exit_files`), one close(2) system call per socket fewer at teardown,
/// and the supervisor reaps the workers all at once.
fn exit_closing_all() -> ! {
    std::process::exit(0)
}

/// Reads the first line of stdin a byte at a time, leaving every byte
/// after it in the pipe. A buffered read (`std::io::stdin().read_line`)
/// would take the commands the supervisor sent meanwhile too (a
/// `ToWorker::Close` sent while the worker was starting), keep them in a
/// buffer the worker's epoll never sees, and leave the worker deaf to
/// them: the supervisor then waited its whole close timeout (60 s) for a
/// worker it had told to close at start-up.
fn read_spec_line() -> anyhow::Result<Vec<u8>> {
    let stdin = std::io::stdin();
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match poll::read(stdin.as_fd(), &mut byte) {
            Ok(0) => return Ok(line),
            Ok(_) => {
                line.push(byte[0]);
                if byte[0] == b'\n' {
                    return Ok(line);
                }
            }
            Err(c1m_sys::Errno::INTR) => {}
            Err(e) => {
                return Err(std::io::Error::from(e)).context("reading the worker spec from stdin");
            }
        }
    }
}

/// The entry point of `c1m worker`: reads the spec and runs it.
pub fn main() -> anyhow::Result<()> {
    let line = read_spec_line()?;
    if line.is_empty() {
        bail!("`c1m worker` is started by c1m itself, with its job on stdin");
    }
    let spec = match serde_json::from_slice::<ToWorker>(&line) {
        Ok(ToWorker::Start(spec)) => *spec,
        _ => bail!("the first line on a worker's stdin must be its spec"),
    };
    if let Some(ns) = spec.netns() {
        // Before any socket: every socket of this worker lives there.
        c1m_sys::netns::enter(ns)?;
    }
    let result = match &spec {
        WorkerSpec::Server(s) => server::run(s),
        WorkerSpec::Client(c) => client::run(c),
    };
    if let Err(e) = &result {
        let line = wire::line(&FromWorker::Fatal(format!("{e:#}")));
        let _ = std::io::stdout().write_all(&line);
        let _ = std::io::stdout().flush();
    }
    result
}

/// Asks the kernel the state of every socket in `sockets` (getsockopt
/// `TCP_INFO`, one call each) and counts them: what the worker holds, in
/// the kernel's words. Allocates nothing; the sockets are the worker's
/// own table, walked in place.
///
/// Cost, measured in `c1m run -n 100000 --hold 1s` on a 2-core VM
/// (Linux 6.18, loaded by compilers: load average 8-9), 200,000 sockets
/// over 6 client and 6 server workers, four counts: 268-308 ms of the
/// workers' CPU per count, 1.3-1.5 µs per socket. The supervisor's whole
/// look (this walk in every worker at once with the netlink dump) took
/// 0.69-0.86 s of wall clock; the dump alone, with the workers walking,
/// 0.65-0.82 s. Done one after the other instead, the look took 0.95-1.17
/// s, so the two run together. Nothing is allocated; the answer is four
/// numbers.
fn count_own<'a>(sockets: impl Iterator<Item = &'a OwnedFd>) -> OwnStates {
    let started = c1m_sys::process::thread_cpu_time();
    let mut own = OwnStates::default();
    for fd in sockets {
        own.add(c1m_sys::socket::tcp_state(fd).ok());
    }
    own.took_us = (c1m_sys::process::thread_cpu_time() - started).as_micros() as u64;
    own
}

/// How much the heap grew since `base` (bytes in use, the allocator's
/// count); `None` when either reading is missing.
fn heap_growth(base: Option<u64>) -> Option<i64> {
    Some(c1m_sys::process::heap_in_use()? as i64 - base? as i64)
}

/// Raises this process's soft descriptor limit to `fd_limit` (at most the
/// hard limit) and returns what it is now.
fn set_fd_limit(fd_limit: u64) -> anyhow::Result<u64> {
    c1m_sys::limits::set_nofile_soft(fd_limit).context("setting RLIMIT_NOFILE")?;
    Ok(c1m_sys::limits::nofile().soft.unwrap_or(fd_limit))
}
