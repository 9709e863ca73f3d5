//! The supervisor's side of the workers: start them, hear their counters,
//! send commands, notice deaths, and make sure none outlives us.
//!
//! **Invariant:** every worker is in the fleet's process group (a new
//! one only if every worker of the last had died), dies with the
//! supervisor (`PR_SET_PDEATHSIG`), and is killed and reaped when the
//! [`Fleet`] is dropped, whatever path led there.

use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use c1m_sys::poll::{self, Poller};
use c1m_sys::shm::SharedCounters;
use c1m_sys::signals::{SIGINT, SIGTERM};
use serde::Serialize;

use super::presses::Caught;
use crate::cap;
use crate::latency::Latency;
use crate::wire::{self, FromWorker, Lines, OwnStates, Stats, ToWorker, WorkerSpec};

/// Which side a worker is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Listens and holds what comes ([`crate::wire::ServerSpec`]).
    Server,
    /// Opens connections and holds them ([`crate::wire::ClientSpec`]).
    Client,
}

impl Role {
    /// `"server"` or `"client"`, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Client => "client",
        }
    }
}

/// Where a worker is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Life {
    /// Spawned and sent its spec; no [`FromWorker::Ready`] yet.
    Starting,
    /// Said [`FromWorker::Ready`]: listening, or ready to connect.
    Ready,
    /// Closed its connections and said so.
    Closed,
    /// Gone without closing: how it ended and what it said last.
    Dead(String),
    /// Killed by the supervisor itself before it closed ([`Fleet::kill_all`]:
    /// a second Ctrl-C, or a worker that did not close in time): not lost,
    /// stopped on purpose.
    Killed,
}

/// One worker process as the supervisor sees it.
pub struct Worker {
    /// Server or client.
    pub role: Role,
    /// Its number within its role.
    pub index: usize,
    /// Its process id.
    pub pid: u32,
    /// Where it is in its life, as its lines and its exit said.
    pub life: Life,
    /// Its latest counters ([`FromWorker::Stats`], or the final
    /// [`FromWorker::Closed`]); until the first, only `planned` is set.
    pub stats: Stats,
    /// Its own message when it gave up.
    pub fatal: Option<String>,
    /// Its answer to the last [`ToWorker::Count`]; `None` until it came.
    pub own: Option<OwnStates>,
    /// It was asked by the last [`Fleet::ask_count`] or
    /// [`Fleet::ask_count_of`]: [`Fleet::collect_count`] waits for it.
    asked: bool,
    /// It answered [`ToWorker::EndBeats`]: its replies are in.
    pub beats_ended: bool,
    /// The HTTP statuses its WebSocket upgrades were refused with, each
    /// with its count (its latest whole tally).
    pub ws_statuses: Vec<(u16, u64)>,
    /// Its slot in the server cap the fleet's server workers share
    /// ([`crate::cap`]), if it is one of them.
    cap_slot: Option<usize>,
    child: Child,
    /// Exited and waited for.
    reaped: bool,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    lines: Lines,
}

impl Worker {
    /// Still holding or about to.
    pub fn alive(&self) -> bool {
        matches!(self.life, Life::Starting | Life::Ready)
    }
    /// A name for messages: `client worker 3 (pid 1234)`.
    pub fn label(&self) -> String {
        format!(
            "{} worker {} (pid {})",
            self.role.name(),
            self.index,
            self.pid
        )
    }
}

/// The workers' sockets counted by the kernel's state of each, summed
/// per role ([`Fleet::collect_count`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OwnCount {
    /// The client workers' connection sockets.
    pub client: OwnStates,
    /// The server workers' accepted sockets (not their listeners).
    pub server: OwnStates,
}

/// Something the supervisor must react to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Ctrl-C or SIGTERM: the signal number, and when it arrived (to
    /// tell one press sent twice from two: [`super::presses::Presses`]).
    Interrupted(i32, Instant),
    /// A worker ended without being told to; the text says how.
    WorkerDied {
        /// Its index in [`Fleet::workers`] (not [`Worker::index`]).
        worker: usize,
        /// Its [`Worker::label`] and how it ended: the exit status or
        /// signal ([`describe_exit`]) and its fatal message, if any.
        why: String,
    },
}

const TOKEN_SIGNALS: u64 = u64::MAX;

/// The supervisor's nice value when it may raise its priority.
const SUPERVISOR_NICE: i32 = -10;

/// All workers of one experiment.
pub struct Fleet {
    poller: Poller,
    signals: Caught,
    /// Every worker spawned, in spawn order, the dead and closed included.
    pub workers: Vec<Worker>,
    /// Every latency recorded, merged.
    pub latency: Latency,
    /// Latency recorded since [`Fleet::take_recent`] last ran.
    recent: Latency,
    /// The first bytes a server sent on a connection it then closed, as
    /// the first client worker to see them told it.
    pub first_bytes: Option<Vec<u8>>,
    /// What the first TLS handshake to complete agreed on, as its worker
    /// told it.
    pub tls_agreed: Option<String>,
    /// The first TLS failure of each cause on each side, in rustls'
    /// words.
    pub tls_failures: Vec<(Role, crate::cause::Cause, String)>,
    /// The first WebSocket failure of each cause on each side, in words.
    pub ws_failures: Vec<(Role, crate::cause::Cause, String)>,
    group: u32,
    /// Groups the fleet's workers were in before [`Fleet::group`] (one
    /// left with no process: see [`Fleet::spawn`]).
    old_groups: Vec<u32>,
    /// The nice value workers run at: the supervisor's own before it
    /// raised its priority.
    worker_nice: i32,
    exe: std::path::PathBuf,
    /// The counters of the cap the server workers share (`serve
    /// --max-conns` over several workers), made at the first such
    /// worker's spawn and passed to each.
    shared_cap: Option<SharedCounters>,
}

impl Fleet {
    /// A fleet with no workers yet; catches Ctrl-C and SIGTERM from now on.
    pub fn new() -> anyhow::Result<Self> {
        let poller = Poller::new(256)?;
        // Under load a hundred busy workers would starve the supervisor, and
        // with it the samples, the progress line and Ctrl-C: it runs ahead
        // of them when allowed (CAP_SYS_NICE), and sleeps most of the time.
        let worker_nice = c1m_sys::process::nice().unwrap_or(0);
        let _ = c1m_sys::process::set_nice(SUPERVISOR_NICE.min(worker_nice));
        let signals = Caught::start(&[SIGINT, SIGTERM]).context("catching Ctrl-C")?;
        poller.add(signals.as_fd(), TOKEN_SIGNALS, poll::READ)?;
        Ok(Self {
            poller,
            signals,
            workers: Vec::new(),
            latency: Latency::new(),
            recent: Latency::new(),
            first_bytes: None,
            tls_agreed: None,
            tls_failures: Vec::new(),
            ws_failures: Vec::new(),
            group: 0,
            old_groups: Vec::new(),
            worker_nice,
            exe: std::env::current_exe().context("finding c1m's own executable")?,
            shared_cap: None,
        })
    }

    /// Starts a worker for `spec`.
    pub fn spawn(&mut self, spec: WorkerSpec) -> anyhow::Result<()> {
        let (role, planned) = match &spec {
            WorkerSpec::Client(c) => (Role::Client, c.count),
            WorkerSpec::Server(s) => (Role::Server, s.cap),
        };
        let index = self.workers.iter().filter(|w| w.role == role).count();
        let share = match &spec {
            WorkerSpec::Server(s) => s.shared_cap,
            WorkerSpec::Client(_) => None,
        };
        if let Some(c) = share
            && self.shared_cap.is_none()
        {
            let words = cap::words(c.members as usize);
            self.shared_cap = Some(
                SharedCounters::new("c1m-max-conns", words)
                    .context("making the count --max-conns's server workers share")?,
            );
        }
        let shared = share.and(self.shared_cap.as_ref());
        let command = |group| {
            let mut cmd = Command::new(&self.exe);
            cmd.arg("worker")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit());
            c1m_sys::process::make_worker(&mut cmd, group, self.worker_nice);
            if let Some(counters) = shared {
                counters.pass_to(&mut cmd);
            }
            cmd
        };
        let mut child = match command(self.group).spawn() {
            // The fleet's process group has no process left (every
            // worker in it died, or the first was killed before it made
            // the group: setpgid(2) says EPERM): this worker starts a new
            // one, and both are killed at the end.
            Err(e)
                if self.group != 0
                    && e.raw_os_error() == Some(c1m_sys::Errno::PERM.raw_os_error()) =>
            {
                self.old_groups.push(self.group);
                self.group = 0;
                command(0).spawn()
            }
            other => other,
        }
        .with_context(|| format!("starting {} worker {index}", role.name()))?;
        let pid = child.id();
        if self.group == 0 {
            self.group = pid;
        }
        let stdin = child.stdin.take().context("worker stdin")?;
        let stdout = child.stdout.take().context("worker stdout")?;
        poll::set_nonblocking(stdout.as_fd())?;
        self.poller
            .add(stdout.as_fd(), self.workers.len() as u64, poll::READ)?;
        let mut w = Worker {
            role,
            index,
            pid,
            life: Life::Starting,
            stats: Stats {
                planned,
                behind: planned,
                ..Stats::default()
            },
            fatal: None,
            own: None,
            asked: false,
            beats_ended: false,
            ws_statuses: Vec::new(),
            cap_slot: share.map(|c| c.slot as usize),
            child,
            reaped: false,
            stdin: Some(stdin),
            stdout,
            lines: Lines::default(),
        };
        send(&mut w, &ToWorker::Start(Box::new(spec)));
        self.workers.push(w);
        Ok(())
    }

    /// Sends a command to every live worker of `role`.
    pub fn tell(&mut self, role: Role, msg: &ToWorker) {
        for w in self
            .workers
            .iter_mut()
            .filter(|w| w.role == role && w.alive())
        {
            send(w, msg);
        }
    }

    /// Sends each live worker of `role` its own command: `msg(index)`,
    /// the worker's number within its role ([`Worker::index`]).
    pub fn tell_each(&mut self, role: Role, msg: impl Fn(usize) -> ToWorker) {
        for w in self
            .workers
            .iter_mut()
            .filter(|w| w.role == role && w.alive())
        {
            let m = msg(w.index);
            send(w, &m);
        }
    }

    /// Waits up to `timeout` for news and returns what needs a reaction.
    pub fn poll(&mut self, timeout: Duration) -> anyhow::Result<Vec<Event>> {
        let mut ready = Vec::new();
        for ev in self.poller.wait(timeout)? {
            ready.push(ev.token);
        }
        let mut out = Vec::new();
        for token in ready {
            if token == TOKEN_SIGNALS {
                out.extend(
                    self.signals
                        .take()
                        .into_iter()
                        .map(|(sig, at)| Event::Interrupted(sig, at)),
                );
                continue;
            }
            let i = token as usize;
            if let Some(why) = self.read_worker(i) {
                out.push(Event::WorkerDied { worker: i, why });
            }
        }
        Ok(out)
    }

    /// The HTTP statuses WebSocket upgrades were refused with, over every
    /// worker, each with its count, by status.
    pub fn ws_statuses(&self) -> Vec<(u16, u64)> {
        let mut all: Vec<(u16, u64)> = Vec::new();
        for (status, n) in self.workers.iter().flat_map(|w| &w.ws_statuses) {
            match all.iter_mut().find(|(s, _)| s == status) {
                Some((_, m)) => *m += n,
                None => all.push((*status, *n)),
            }
        }
        all.sort_unstable();
        all
    }

    /// Reads a worker's lines; returns how it died if it did.
    fn read_worker(&mut self, i: usize) -> Option<String> {
        let w = &mut self.workers[i];
        let stdout = &w.stdout;
        let eof = w.lines.fill(|buf| poll::read(stdout.as_fd(), buf));
        while let Some(msg) = w.lines.next_message::<FromWorker>() {
            match msg {
                Ok(FromWorker::Ready { .. }) => w.life = Life::Ready,
                Ok(FromWorker::Stats(s)) => w.stats = s,
                Ok(FromWorker::Closed(s)) => {
                    w.stats = s;
                    w.life = Life::Closed;
                }
                Ok(FromWorker::Fatal(msg)) => w.fatal = Some(msg),
                Ok(FromWorker::Count(own)) => w.own = Some(own),
                Ok(FromWorker::BeatsEnded) => w.beats_ended = true,
                Ok(FromWorker::FirstBytes(b)) => {
                    self.first_bytes.get_or_insert(b);
                }
                Ok(FromWorker::TlsAgreed(a)) => {
                    self.tls_agreed.get_or_insert(a);
                }
                Ok(FromWorker::TlsFailure { cause, detail }) => {
                    let role = w.role;
                    if !self
                        .tls_failures
                        .iter()
                        .any(|(r, c, _)| *r == role && *c == cause)
                    {
                        self.tls_failures.push((role, cause, detail));
                    }
                }
                Ok(FromWorker::WsStatuses(st)) => w.ws_statuses = st,
                Ok(FromWorker::WsFailure { cause, detail }) => {
                    let role = w.role;
                    if !self
                        .ws_failures
                        .iter()
                        .any(|(r, c, _)| *r == role && *c == cause)
                    {
                        self.ws_failures.push((role, cause, detail));
                    }
                }
                Ok(FromWorker::Latency(enc)) => {
                    if let Some(l) = Latency::decode(&enc) {
                        self.latency.merge(&l);
                        self.recent.merge(&l);
                    }
                }
                Err(_) => {}
            }
        }
        if !eof {
            return None;
        }
        let _ = self.poller.delete(w.stdout.as_fd());
        w.stdin = None;
        // Its stdout ends when it exits, and its connections close with
        // it: its places in the shared cap are free again (none left
        // after a clean close; all it held after a death).
        if let (Some(slot), Some(c)) = (w.cap_slot.take(), &self.shared_cap) {
            cap::release(c.counters(), slot);
        }
        if w.reaped {
            // Killed and reaped by `kill_all`: its end is known.
            return None;
        }
        if matches!(w.life, Life::Closed | Life::Killed) {
            // Its last word said, it exits, and exit(2) closes its
            // sockets as it goes: reaped by `reap` (or `kill_all`), not
            // waited for here one worker at a time.
            if let Ok(Some(_)) = w.child.try_wait() {
                w.reaped = true;
            }
            return None;
        }
        let status = w.child.wait().ok();
        w.reaped = true;
        let why = describe_exit(status, w.fatal.as_deref());
        w.life = Life::Dead(why.clone());
        Some(format!("{} {why}", w.label()))
    }

    /// The latency recorded since the last call.
    pub fn take_recent(&mut self) -> Latency {
        std::mem::take(&mut self.recent)
    }

    /// Polls until `done` holds, a deadline passes, or something needs a
    /// reaction; returns those events (empty when `done` or the deadline).
    pub fn wait_for(
        &mut self,
        deadline: Instant,
        mut done: impl FnMut(&Fleet) -> bool,
    ) -> anyhow::Result<Vec<Event>> {
        while !done(self) {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let ev = self.poll((deadline - now).min(Duration::from_millis(100)))?;
            if !ev.is_empty() {
                return Ok(ev);
            }
        }
        Ok(Vec::new())
    }

    /// Asks every live worker to count its sockets by the kernel's state
    /// of each ([`ToWorker::Count`]); [`Fleet::collect_count`] gathers the
    /// answers. The workers walk their sockets meanwhile, in parallel.
    pub fn ask_count(&mut self) {
        self.ask(|_| true);
    }

    /// [`Fleet::ask_count`] of the workers of one role only; the others'
    /// last answers are not collected.
    pub fn ask_count_of(&mut self, role: Role) {
        self.ask(|w| w.role == role);
    }

    fn ask(&mut self, which: impl Fn(&Worker) -> bool) {
        for w in &mut self.workers {
            w.asked = which(w);
            if w.asked {
                w.own = None;
                if w.alive() {
                    send(w, &ToWorker::Count);
                }
            }
        }
    }

    /// Waits until every worker asked by [`Fleet::ask_count`] answered,
    /// closed or died, or `deadline` passes. Returns what needs a reaction
    /// and the answers summed per role; a worker that closed or died
    /// holds no socket any more and counts nothing (the kernel closed its
    /// sockets with it). `Err`: which worker did not answer in time.
    pub fn collect_count(
        &mut self,
        deadline: Instant,
    ) -> anyhow::Result<(Vec<Event>, Result<OwnCount, String>)> {
        fn pending(f: &Fleet) -> Option<&Worker> {
            f.workers
                .iter()
                .find(|w| w.asked && w.alive() && w.own.is_none())
        }
        let mut events = Vec::new();
        while pending(self).is_some() && Instant::now() < deadline {
            let wait = deadline.saturating_duration_since(Instant::now());
            events.extend(self.poll(wait.min(Duration::from_millis(50)))?);
        }
        if let Some(w) = pending(self) {
            return Ok((
                events,
                Err(format!("{} did not answer the count in time", w.label())),
            ));
        }
        let mut own = OwnCount::default();
        for w in self.workers.iter().filter(|w| w.asked) {
            let Some(o) = &w.own else { continue };
            match w.role {
                Role::Client => own.client.merge(o),
                Role::Server => own.server.merge(o),
            }
        }
        Ok((events, Ok(own)))
    }

    /// The workers of one role.
    pub fn of(&self, role: Role) -> impl Iterator<Item = &Worker> {
        self.workers.iter().filter(move |w| w.role == role)
    }

    /// The summed counters of one role.
    pub fn totals(&self, role: Role) -> Stats {
        let mut t = Stats::default();
        for w in self.of(role) {
            t.merge(&w.stats);
        }
        t
    }

    /// The summed counters of the live workers of one role (starting or
    /// ready): what is held or opening now.
    pub fn live_totals(&self, role: Role) -> Stats {
        let mut t = Stats::default();
        for w in self.of(role).filter(|w| w.alive()) {
            t.merge(&w.stats);
        }
        t
    }

    /// Process ids of the workers not known dead: starting, ready, or
    /// closed (a closed worker may have exited already).
    pub fn pids(&self) -> Vec<u32> {
        self.workers
            .iter()
            .filter(|w| !matches!(w.life, Life::Dead(_) | Life::Killed))
            .map(|w| w.pid)
            .collect()
    }

    /// Tells every live worker of `role` to close, and waits up to
    /// `timeout` for each to give its final counters (or die). Their
    /// sockets close as they exit: [`Fleet::reap`] waits for that.
    pub fn close(&mut self, role: Role, timeout: Duration) -> anyhow::Result<Vec<Event>> {
        self.tell(role, &ToWorker::Close);
        let deadline = Instant::now() + timeout;
        let mut events = Vec::new();
        while self.of(role).any(Worker::alive) && Instant::now() < deadline {
            events.extend(self.poll(Duration::from_millis(50))?);
        }
        Ok(events)
    }

    /// Waits until every closed worker has exited (its sockets closed by
    /// exit(2)) or `deadline` passes; what is left is for
    /// [`Fleet::kill_all`]. Returns what the fleet said meanwhile.
    pub fn reap(&mut self, deadline: Instant) -> anyhow::Result<Vec<Event>> {
        let mut events = Vec::new();
        loop {
            for w in self.workers.iter_mut().filter(|w| !w.reaped) {
                if w.life == Life::Closed && matches!(w.child.try_wait(), Ok(Some(_))) {
                    w.reaped = true;
                }
            }
            let pending = self
                .workers
                .iter()
                .any(|w| !w.reaped && w.life == Life::Closed);
            if !pending || Instant::now() >= deadline {
                return Ok(events);
            }
            events.extend(self.poll(Duration::from_millis(5))?);
        }
    }

    /// Kills every worker still running and reaps it. A worker that had
    /// not closed is [`Life::Killed`]: stopped by c1m, not lost.
    pub fn kill_all(&mut self) {
        for &g in self.old_groups.iter().chain([&self.group]) {
            if g != 0 {
                let _ = c1m_sys::process::kill_group(g);
            }
        }
        for w in &mut self.workers {
            w.stdin = None;
            if w.alive() {
                w.life = Life::Killed;
            }
            if !w.reaped {
                let _ = w.child.kill();
                let _ = w.child.wait();
                w.reaped = true;
            }
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.kill_all();
    }
}

fn send(w: &mut Worker, msg: &ToWorker) {
    let Some(stdin) = w.stdin.as_mut() else {
        return;
    };
    let line = wire::line(msg);
    // A dead worker's pipe fails; its death is noticed on its stdout.
    if stdin.write_all(&line).and_then(|_| stdin.flush()).is_err() {
        w.stdin = None;
    }
}

/// How a process ended, in words.
pub fn describe_exit(status: Option<ExitStatus>, fatal: Option<&str>) -> String {
    let how = match status {
        Some(s) => match (s.code(), s.signal()) {
            (Some(0), _) => "exited".to_string(),
            (Some(c), _) => format!("exited with status {c}"),
            (None, Some(sig)) => format!(
                "was killed by {} ({sig})",
                c1m_sys::process::signal_name(sig)
            ),
            _ => "ended".to_string(),
        },
        None => "ended".to_string(),
    };
    match fatal {
        Some(msg) => format!("{how}: {msg}"),
        None => how,
    }
}
