//! Driving a fleet through one experiment: start, ramp, verify, hold,
//! tear down; sampling all along, reading the kernel at the top and at the
//! end of the hold, and reporting however it ends.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::bail;
use c1m_probe::diag::Families;

use crate::latency::{Latency, Percentiles};
use crate::plan::Plan;
use crate::plan::shard::Shard;
use crate::plan::thousands;
use crate::report::model::{
    self, Closes, CommandKind, End, FindLimit, KernelCount, KernelCounts, LatencyReport,
    ListenCounters, Origin, Phase, Report, RunNetnsReport, Sample, Seen, ServerSide, Stage,
    TrafficSummary, Workers,
};
use crate::report::{self, judge};
use crate::supervisor::fleet::{Event, Fleet, Life, Role};
use crate::supervisor::measure::{self, Reading, Snapshot};
use crate::supervisor::metrics::{MetricsServer, MetricsSnapshot};
use crate::supervisor::presses::Presses;
use crate::supervisor::search::Search;
use crate::threshold::Gate;
use crate::traffic::Traffic;
use crate::wire::{ClientSpec, ServerSpec, Stats, ToWorker, WorkerSpec};

mod capacity;
mod look;
use look::Look;

/// How often the timeline is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);
/// How often a progress line is printed when not on a terminal.
const LOG_EVERY: Duration = Duration::from_secs(1);
const START_TIMEOUT: Duration = Duration::from_secs(30);
const CLOSE_TIMEOUT: Duration = Duration::from_secs(60);

mod settle;
mod staged;
mod thresholds;

/// What a capacity search carries through the experiment.
struct SearchRun {
    search: Search,
    connect_timeout: Duration,
    /// The last reading of the server side during the ramp, and when the
    /// next may be taken (a reading at scale costs ~1 µs per socket).
    next_read: Instant,
    found: Option<FindLimit>,
}

/// Where an experiment's report goes besides the terminal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outputs {
    /// The JSON report (`c1m.report/3`).
    pub json: Option<PathBuf>,
    /// The HTML page.
    pub html: Option<PathBuf>,
    /// The timeline as CSV.
    pub csv: Option<PathBuf>,
    /// Serve Prometheus metrics here while the experiment runs.
    pub metrics: Option<std::net::SocketAddr>,
    /// Allow `metrics` on an address other than loopback.
    pub metrics_public: bool,
}

/// One experiment in progress.
pub struct Session {
    fleet: Fleet,
    plan: Plan,
    command: CommandKind,
    label: String,
    start: Instant,
    timeline: Vec<Sample>,
    last_log: Option<Instant>,
    tty: bool,
    end: Option<End>,
    /// Where the experiment is: what an interruption or a death came in.
    stage: Stage,
    /// Ctrl-C and SIGTERM so far, as presses: a second escalates.
    presses: Presses,
    dead: Vec<String>,
    json: Option<PathBuf>,
    html: Option<PathBuf>,
    csv: Option<PathBuf>,
    /// The `--fail-if` thresholds, and which tripped during the run.
    gate: Gate,
    traffic: Option<Traffic>,
    search: Option<SearchRun>,
    metrics: Option<MetricsServer>,
    /// Where the sockets live, for the kernel's count (a lab's hosts);
    /// empty: c1m's own namespace.
    namespaces: Vec<String>,
    /// Which socket tables hold the experiment's sockets.
    families: Families,
    /// The namespace whose listen counters are the experiment's (the
    /// run's own); `None`: c1m's.
    counters_netns: Option<String>,
    /// The listen counters before the ramp.
    counters_base: Option<ListenCounters>,
    /// Where and when: host, node, shard, the wall-clock `start`.
    origin: Origin,
    /// The wall-clock instant the ramp waits for (`--start-at`).
    start_at: Option<SystemTime>,
    /// Stages, reconnects, the servers' closes.
    shape: staged::Shape,
    /// TLS: how the clients and the servers were set up, in words.
    tls: Option<(Option<String>, Option<String>)>,
    /// WebSocket: how the clients and the servers spoke it, in words.
    ws: Option<(Option<String>, Option<String>)>,
}

impl Session {
    /// Records that this run is one shard of several ([`Origin::shard`]).
    pub fn set_shard(&mut self, shard: Option<Shard>) {
        self.origin.shard = shard;
    }

    /// Makes the ramp wait for the wall-clock instant `at` (`--start-at`),
    /// once every worker is started and ready; recorded as
    /// [`Origin::start_at`]. An instant already past when the workers are
    /// ready starts the ramp at once, with a warning. The wait follows the
    /// wall clock (a step of it moves the start), and Ctrl-C ends it as it
    /// ends any phase: workers torn down, the report written, exit 130.
    pub fn start_at(mut self, at: Option<SystemTime>) -> Self {
        self.start_at = at;
        self.origin.start_at = at.map(unix_seconds);
        self
    }

    /// An experiment of `command` on `plan`, shown as `label`.
    pub fn new(
        plan: Plan,
        command: CommandKind,
        label: &str,
        out: &Outputs,
    ) -> anyhow::Result<Self> {
        let metrics = match out.metrics {
            Some(addr) => {
                crate::supervisor::metrics::check_addr(addr, out.metrics_public)?;
                Some(crate::supervisor::metrics::serve(addr)?)
            }
            None => None,
        };
        // c1m's own servers listen on AF_INET sockets for IPv4 endpoints:
        // one table is enough. Any other server may serve an IPv4
        // endpoint from a dual-stack AF_INET6 socket.
        let own_servers = !plan.servers.is_empty() || plan.clients.is_empty();
        let families = match (own_servers, plan.endpoints.iter().all(|e| e.is_ipv4())) {
            (true, true) => Families::V4,
            _ => Families::Both,
        };
        Ok(Self {
            fleet: Fleet::new()?,
            plan,
            command,
            label: label.to_string(),
            start: Instant::now(),
            origin: Origin {
                version: env!("CARGO_PKG_VERSION").to_string(),
                node: node_name(),
                host: c1m_sys::process::host_name(),
                kernel: c1m_probe::sysctl::read(Path::new("/proc"), "kernel.random.boot_id").ok(),
                // The namespace's inode (namespaces(7)), as `stat -L` reads it.
                netns: std::fs::metadata("/proc/self/ns/net")
                    .ok()
                    .map(|m| std::os::unix::fs::MetadataExt::ino(&m)),
                shard: None,
                started_at: unix_seconds(SystemTime::now()),
                start_at: None,
                ramp_started_at: None,
                run_netns: None,
            },
            timeline: Vec::new(),
            last_log: None,
            tty: std::io::stderr().is_terminal(),
            end: None,
            stage: Stage::StartUp,
            presses: Presses::default(),
            dead: Vec::new(),
            json: out.json.clone(),
            html: out.html.clone(),
            csv: out.csv.clone(),
            gate: Gate::default(),
            traffic: None,
            search: None,
            metrics,
            namespaces: Vec::new(),
            families,
            counters_netns: None,
            counters_base: None,
            start_at: None,
            shape: staged::Shape::default(),
            tls: None,
            ws: None,
        })
    }

    /// Counts sockets in these network namespaces (a lab's hosts).
    pub fn in_namespaces(mut self, namespaces: Vec<String>) -> Self {
        self.namespaces = namespaces;
        self
    }

    /// Holds the experiment in the run's own network namespace `ns`
    /// (both fleets' specs name it): counts sockets and reads the listen
    /// counters there, and records it in the report's origin.
    pub fn in_run_netns(mut self, ns: RunNetnsReport) -> Self {
        self.namespaces = vec![ns.name.clone()];
        self.counters_netns = Some(ns.name.clone());
        // The namespace's own inode (its bind mount under /run/netns is
        // the nsfs file), as `origin.netns` says.
        self.origin.netns = std::fs::metadata(format!("/run/netns/{}", ns.name))
            .ok()
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .or(self.origin.netns);
        self.origin.run_netns = Some(ns);
        self
    }

    /// Makes this experiment a capacity search.
    pub fn search(mut self, s: Search, connect_timeout: Duration) -> Self {
        self.search = Some(SearchRun {
            search: s,
            connect_timeout,
            next_read: Instant::now(),
            found: None,
        });
        self
    }

    /// Reacts to what the fleet reported; true when the experiment must end.
    fn handle(&mut self, events: Vec<Event>) -> bool {
        for ev in events {
            match ev {
                Event::Interrupted(sig, at) => {
                    // One press sent twice (`timeout`'s kill of its
                    // child, then of its group) is one.
                    if !self.presses.signal(at) {
                        continue;
                    }
                    if self.presses.count() == 2 {
                        crate::say!("\nc1m: interrupted again; killing every worker now");
                        self.fleet.kill_all();
                    }
                    self.stop_opening();
                    self.end.get_or_insert(End::Interrupted {
                        signal: c1m_sys::process::signal_name(sig).to_string(),
                        during: Some(self.stage),
                    });
                }
                Event::WorkerDied { why, .. } => {
                    self.dead.push(why.clone());
                    self.stop_opening();
                    self.end.get_or_insert(End::WorkerDied {
                        why,
                        during: Some(self.stage),
                    });
                }
            }
        }
        self.end.is_some()
    }

    /// The experiment ends early: the clients stop opening connections at
    /// once, so that the end's count is of a fleet at rest, not of a ramp
    /// in motion (see `settle_stopped`). Once, and only while they could
    /// be opening.
    fn stop_opening(&mut self) {
        let opening = matches!(
            self.stage,
            Stage::Ramp | Stage::Verify | Stage::Hold | Stage::RampDown
        );
        if self.end.is_none() && opening {
            self.fleet.tell(Role::Client, &ToWorker::Pause);
        }
    }

    /// Enters `stage`, saying so on stderr for the stages that print no
    /// progress of their own (a line, or the terminal's progress line).
    fn enter(&mut self, stage: Stage, what: Option<String>) {
        self.stage = stage;
        let Some(what) = what else { return };
        let name = match stage {
            Stage::Verify => "verify",
            Stage::Teardown => "teardown",
            _ => "",
        };
        let line = format!(
            "{name} {:>6.1}s  {what}",
            self.start.elapsed().as_secs_f64()
        );
        if self.tty {
            crate::say_inline!("\r\x1b[2K{line}");
        } else {
            crate::say!("{line}");
        }
    }

    /// Waits until every worker of `role` is ready.
    fn await_ready(&mut self, role: Role) -> anyhow::Result<bool> {
        let deadline = Instant::now() + START_TIMEOUT;
        let ev = self
            .fleet
            .wait_for(deadline, |f| f.of(role).all(|w| w.life != Life::Starting))?;
        if self.handle(ev) {
            return Ok(false);
        }
        if let Some(w) = self.fleet.of(role).find(|w| w.life == Life::Starting) {
            bail!("{} did not start within {:?}", w.label(), START_TIMEOUT);
        }
        Ok(true)
    }

    fn snapshot(&self) -> Snapshot {
        let pids = |role| {
            let live = self.fleet.of(role).filter(|w| w.alive());
            live.map(|w| w.pid).collect::<Vec<_>>()
        };
        Snapshot::take(&pids(Role::Server), &pids(Role::Client))
    }

    fn client_side(&self) -> Stats {
        self.fleet.totals(Role::Client)
    }

    /// Failed connections so far, by cause, both sides together.
    fn failures(&self) -> crate::cause::CauseCounts {
        let mut failed = self.client_side().failed;
        failed.merge(&self.fleet.totals(Role::Server).failed);
        failed
    }

    /// Adds a point to the timeline; returns the latency recorded since
    /// the last one.
    fn sample(&mut self, phase: Phase) -> Latency {
        let t = report::micros(self.start.elapsed());
        let clients = self.fleet.totals(Role::Client);
        let servers = self.fleet.totals(Role::Server);
        let snap = measure::quick(&self.fleet.pids());
        let recent = self.fleet.take_recent();
        let rtt = Percentiles::of(&recent.rtt);
        self.timeline.push(Sample {
            t,
            phase,
            established: clients.established,
            server_established: self
                .fleet
                .of(Role::Server)
                .next()
                .is_some()
                .then_some(servers.established),
            connecting: clients.connecting,
            failed: clients.failed.total() + servers.failed.total(),
            closed: clients.peer_closed(),
            mem_available: snap.mem_available,
            slab: snap.slab,
            rss: snap.rss,
            sent: clients.sent,
            replies: clients.replies,
            rtt_p50_us: rtt.map(|p| p.p50),
            rtt_p99_us: rtt.map(|p| p.p99),
            rtt_max_us: rtt.map(|p| p.max),
            target: self.shape.target,
            reconnects: self.shape.reconnect.map(|_| clients.reconnects.total()),
            retrying: self.shape.reconnect.map(|_| clients.retrying),
        });
        if let Some(m) = &self.metrics {
            m.update(&MetricsSnapshot::of_fleet(&self.fleet));
        }
        recent
    }

    fn progress(&mut self, phase: Phase, ramp_start: Instant) {
        let now = Instant::now();
        if !self.tty && self.last_log.is_some_and(|t| now - t < LOG_EVERY) {
            return;
        }
        self.last_log = Some(now);
        let failed = self.failures();
        let line = report::text::progress_line(
            phase,
            &self.plan,
            &self.timeline,
            ramp_start.duration_since(self.start),
            &failed,
        );
        if self.tty {
            crate::say_inline!("\r\x1b[2K{line}");
        } else {
            crate::say!("{line}");
        }
    }

    /// Runs the whole experiment and prints its report.
    pub fn drive(
        mut self,
        servers: Vec<ServerSpec>,
        clients: Vec<ClientSpec>,
        hold: Option<Duration>,
    ) -> anyhow::Result<ExitCode> {
        for w in &self.plan.warnings {
            crate::say!("c1m: warning: {w}");
        }
        crate::say!(
            "{}",
            report::text::plan_line(&self.label, &self.plan, servers.len(), clients.len())
        );
        let has_clients = !clients.is_empty();
        self.traffic = clients.first().map(|c| c.traffic.clone());
        let client_tls = clients
            .first()
            .and_then(|c| c.tls.as_ref())
            .map(|t| t.words());
        let server_tls = servers
            .first()
            .and_then(|s| s.tls.as_ref())
            .map(|t| t.about.clone());
        if client_tls.is_some() || server_tls.is_some() {
            self.tls = Some((client_tls, server_tls));
        }
        let client_ws = clients
            .first()
            .and_then(|c| c.websocket.as_ref())
            .map(|w| w.words());
        let server_ws = servers.first().filter(|s| s.websocket).map(|_| {
            "answering upgrades on any path, echoing text and binary messages, answering pings and close frames".to_string()
        });
        if client_ws.is_some() || server_ws.is_some() {
            self.ws = Some((client_ws, server_ws));
        }
        // Clients start with the servers (they open nothing before
        // `Go`): their start-up overlaps the servers' instead of
        // following it, about 0.5 s of a 200k ramp's start-up on two
        // cores (bench/results/compare-200k.md).
        for s in servers {
            self.fleet.spawn(WorkerSpec::Server(s))?;
        }
        for c in clients {
            self.fleet.spawn(WorkerSpec::Client(c))?;
        }
        let mut ok = self.await_ready(Role::Server)?;
        if ok {
            ok = self.await_ready(Role::Client)?;
        }
        if !ok || !self.wait_for_start()? {
            return self.finish(None, None, None, None);
        }
        let baseline = self.snapshot();
        self.counters_base = measure::listen_counters(self.counters_netns.as_deref());
        // Ramp.
        self.stage = Stage::Ramp;
        let ramp_start = Instant::now();
        self.origin.ramp_started_at = Some(unix_seconds(SystemTime::now()));
        if has_clients && let Some(st) = self.shape.stages.clone() {
            return self.drive_stages(st, baseline, ramp_start);
        }
        self.fleet.tell(Role::Client, &ToWorker::Go);
        let timed_ramp = self.search.as_ref().is_some_and(|s| s.search.slo.is_some());
        if timed_ramp {
            self.fleet.tell(
                Role::Client,
                &ToWorker::Beat {
                    for_ms: None,
                    grace_ms: None,
                },
            );
        }
        let mut reached_at = None;
        let mut next_sample = Instant::now() + SAMPLE_EVERY;
        while has_clients && self.end.is_none() {
            let ev = self
                .fleet
                .poll(next_sample.saturating_duration_since(Instant::now()))?;
            if self.handle(ev) {
                break;
            }
            // The end of the ramp is seen at once (its time is a headline
            // figure); the timeline is sampled every SAMPLE_EVERY, however
            // often the workers report.
            let done = self.fleet.of(Role::Client).all(|w| w.stats.ramp_done());
            if !done && Instant::now() < next_sample {
                continue;
            }
            next_sample = Instant::now() + SAMPLE_EVERY;
            let recent = self.sample(Phase::Ramp);
            self.progress(Phase::Ramp, ramp_start);
            self.close_fractions_due(ramp_start);
            if self.tripped(ramp_start, None, false) {
                break;
            }
            if self.search.is_some() && self.search_broke(&recent) {
                self.stop_ramp()?;
                break;
            }
            if done {
                reached_at = Some(ramp_start.elapsed());
                self.tripped(ramp_start, reached_at, false);
                break;
            }
        }
        // Verify and measure at the top, once the servers have caught up.
        let mut top = None;
        if has_clients && self.end.is_none() {
            let est = thousands(self.client_side().established);
            let wait = match self.fleet.of(Role::Server).next() {
                Some(_) => "waiting for the servers to accept them, then ",
                None => "",
            };
            self.enter(
                Stage::Verify,
                Some(format!(
                    "{est} established: {wait}counting c1m's sockets by the kernel's state"
                )),
            );
            self.settle(Duration::from_secs(10))?;
            let look = self.look();
            top = (self.presses.count() < 2).then(|| (look, self.snapshot()));
            if self.search.is_some() {
                self.conclude_search()?;
            }
        }
        // Hold.
        self.enter(Stage::Hold, None);
        if !timed_ramp {
            // The workers schedule sends within the hold and no later:
            // one behind schedule at the end (an overloaded machine)
            // sends its backlog, not the next seconds' too. Each ends its
            // heartbeats itself at the hold's end and the grace's, in its
            // own clock: one starved of CPU would read `EndBeats` late.
            let for_ms = hold.map(|h| h.as_millis() as u64);
            let grace_ms = Some(settle::REPLY_GRACE.as_millis() as u64);
            self.fleet
                .tell(Role::Client, &ToWorker::Beat { for_ms, grace_ms });
        }
        let deadline = hold.map(|h| Instant::now() + h);
        // A server alone has no ramp of its own: its top is the highest
        // count that held still from one sample to the next, read by the
        // kernel once per new such plateau (its clients may be gone by
        // the end). The count is what its workers accepted; while they
        // have accepted none (`--no-accept`), the namespace's TCP sockets
        // in use, which connections waiting in its accept queues raise.
        let mut plateau = (0, 0);
        // Other sockets of the namespace are in use before any client
        // comes: a plateau of waiting connections is one above them.
        let inuse_base = (!has_clients)
            .then(measure::tcp_inuse)
            .flatten()
            .unwrap_or(0);
        let mut inuse_before = None;
        let mut next_sample = Instant::now() + SAMPLE_EVERY;
        while self.end.is_none() && deadline.is_none_or(|d| Instant::now() < d) {
            let until = deadline.map_or(next_sample, |d| d.min(next_sample));
            let ev = self
                .fleet
                .poll(until.saturating_duration_since(Instant::now()))?;
            if self.handle(ev) {
                break;
            }
            if Instant::now() < next_sample {
                continue;
            }
            next_sample = Instant::now() + SAMPLE_EVERY;
            self.sample(Phase::Hold);
            self.progress(Phase::Hold, ramp_start);
            self.close_fractions_due(ramp_start);
            if self.tripped(ramp_start, reached_at, true) {
                break;
            }
            // A capacity search ends on its own.
            let opened_all = self.client_side().ramp_done();
            if has_clients && self.search.is_none() && self.nothing_left(opened_all) {
                break;
            }
            if !has_clients && let [.., a, b] = self.timeline.as_slice() {
                let accepted = (b.servers() == a.servers()).then_some(b.servers());
                let inuse = measure::tcp_inuse();
                let queued = (accepted == Some(0) && inuse == inuse_before)
                    .then_some(inuse)
                    .flatten();
                inuse_before = inuse;
                let higher = match (accepted, queued) {
                    (Some(n), _) if n > plateau.0 => Some((n, plateau.1)),
                    (Some(0), Some(u)) if u > plateau.1.max(inuse_base) => Some((0, u)),
                    _ => None,
                };
                if let Some(p) = higher {
                    plateau = p;
                    top = Some((self.look(), self.snapshot()));
                }
            }
        }
        let at_end = self.settle_end()?;
        let top_held = top.as_ref().map_or(0, |(l, _)| l.server_own());
        let top = match (top, &at_end) {
            // A server alone whose hold ended while its clients were
            // still coming (no plateau since its top's reading): the end
            // held the most.
            (Some(_), Some(end)) if !has_clients && end.server_own() > top_held => {
                Some((end.clone(), self.snapshot()))
            }
            (Some(t), _) => Some(t),
            // A server that never held any (or a ramp that ended early)
            // has no top: the end is the top.
            (None, _) => at_end.clone().map(|l| (l, self.snapshot())),
        };
        self.finish(Some(baseline), top, at_end, reached_at)
    }

    /// Waits, the workers ready, until the wall clock reaches `--start-at`;
    /// false when the experiment must end first (Ctrl-C, a worker died).
    fn wait_for_start(&mut self) -> anyhow::Result<bool> {
        let Some(at) = self.start_at else {
            return Ok(true);
        };
        let shown = report::text::utc(unix_seconds(at));
        match at.duration_since(SystemTime::now()) {
            Ok(left) => crate::say!(
                "c1m: waiting {:.1} s for --start-at {shown}",
                left.as_secs_f64()
            ),
            Err(late) => {
                crate::say!(
                    "c1m: warning: the workers were ready {:.1} s after --start-at {shown}; starting now",
                    late.duration().as_secs_f64()
                );
                return Ok(true);
            }
        }
        // Re-read the wall clock each round: a step of it moves the start.
        while let Ok(left) = at.duration_since(SystemTime::now()) {
            if left.is_zero() {
                break;
            }
            let ev = self.fleet.poll(left.min(SAMPLE_EVERY))?;
            if self.handle(ev) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The listen counters' change since the ramp began.
    fn counters_since_base(&self) -> Option<ListenCounters> {
        Some(
            measure::listen_counters(self.counters_netns.as_deref())?
                .since(self.counters_base.as_ref()?),
        )
    }

    /// The server's closes, as the client saw them.
    fn closes(&self, c: &Stats) -> Closes {
        Closes {
            fin: c.closed_fin,
            fin_with_data: c.closed_fin_data,
            rst: c.closed_rst,
            first_bytes: self
                .fleet
                .first_bytes
                .as_deref()
                .map(|b| b.escape_ascii().to_string()),
        }
    }

    fn finish(
        mut self,
        baseline: Option<Snapshot>,
        top: Option<(Look, Snapshot)>,
        at_end: Option<Look>,
        reached_at: Option<Duration>,
    ) -> anyhow::Result<ExitCode> {
        let clients_at_top = self.client_side();
        let servers_at_top = self.fleet.totals(Role::Server);
        let counters = self.counters_since_base();
        // Tear down: clients first (their RSTs free the servers' sockets),
        // then servers; anything that does not close in time is killed.
        let live = self.fleet.workers.iter().filter(|w| w.alive()).count();
        // What the end's count found open (the workers' last counters may
        // be from before a stage's last closes).
        let open = match at_end.as_ref().and_then(|l| l.count.own()) {
            Some((server, client)) => server.max(client),
            None => (self.fleet.live_totals(Role::Client).established)
                .max(self.fleet.live_totals(Role::Server).established),
        };
        let held = thousands(open);
        self.enter(
            Stage::Teardown,
            (live > 0).then(|| format!("closing {held} connections and {live} workers")),
        );
        let teardown = Instant::now();
        let ev = self.fleet.close(Role::Client, CLOSE_TIMEOUT)?;
        self.handle(ev);
        let ev = self.fleet.close(Role::Server, CLOSE_TIMEOUT)?;
        self.handle(ev);
        let ev = self.fleet.reap(teardown + 2 * CLOSE_TIMEOUT)?;
        self.handle(ev);
        let teardown = teardown.elapsed();
        self.sample(Phase::Teardown);
        let closed_cleanly = self
            .fleet
            .workers
            .iter()
            .filter(|w| w.life == Life::Closed)
            .count() as u64;
        let started = self.fleet.workers.len() as u64;
        let final_clients = self.fleet.totals(Role::Client);
        let final_servers = self.fleet.totals(Role::Server);
        self.fleet.kill_all();
        let killed = self
            .fleet
            .workers
            .iter()
            .filter(|w| w.life == Life::Killed)
            .count() as u64;
        let not_taken = || KernelCount::NotTaken;
        let (at_top, top_snapshot, top_own) = match top {
            Some((look, snap)) => (look.count, Some(snap), look.own),
            None => (not_taken(), None, None),
        };
        let (end_count, end_reading) = match at_end {
            Some(l) => (l.count, l.reading),
            None => (not_taken(), None),
        };
        let workers_at_end = match self.command {
            CommandKind::Serve => servers_at_top.established,
            _ => clients_at_top.established,
        };
        let timeline = std::mem::take(&mut self.timeline);
        let mut held = judge::held(self.command, &timeline, &at_top, &end_count, workers_at_end);
        // A worker's own high-water mark is a count of one instant too,
        // which the samples may miss (trial 5, problem 5).
        held.reached = held.reached.max(match self.command {
            CommandKind::Serve => final_servers.peak,
            _ => final_clients.peak,
        });
        let server_side = server_side(end_reading.as_ref());
        let stages = self.stages_report(&held, &server_side);
        // With stages, what must be held at the end is the last stage's.
        let target = match &self.shape.stages {
            Some(st) => st.last(),
            None => self.plan.conns,
        };
        let phantoms = end_reading
            .as_ref()
            .filter(|r| r.counts.is_local())
            .map(|r| {
                let queue_full = server_side
                    .listeners
                    .iter()
                    .any(|l| l.accept_queue >= l.backlog);
                judge::phantoms(r.counts.phantoms(), counters.as_ref(), queue_full)
            });
        let memory = match (&baseline, &top_snapshot) {
            (Some(b), Some(t)) => {
                // Sockets the kernel holds for c1m's connections: its own,
                // and their other ends when those are on this machine too
                // (never another process's connections to the targets).
                let counted = [&at_top, &end_count].into_iter().find_map(|k| {
                    let (s, c) = k.own()?;
                    Some((s.max(c), k.own_sockets()?))
                });
                let (conns, sockets) = match counted {
                    Some(both) => both,
                    None => (held.reached, held.reached * self.sides()),
                };
                let mut m = measure::memory_report(&self.origin.node, b, t, conns, sockets);
                // The heap's growth by layer: WebSocket's as its code
                // counted it, TLS's the rest (nothing else a worker
                // allocates grows with its connections).
                if let Some(own) = &top_own {
                    for (u, o) in [(&mut m.clients, &own.client), (&mut m.servers, &own.server)] {
                        if o.ws > 0 && self.ws.is_some() {
                            (u.ws_heap, u.ws_conns) = (o.ws_heap, Some(o.ws));
                        }
                        if o.tls > 0 && self.tls.is_some() {
                            let ws = u.ws_heap.unwrap_or(0);
                            u.tls_heap = o.heap_growth.map(|g| g - ws);
                            u.tls_conns = Some(o.tls);
                        }
                    }
                }
                Some(m)
            }
            _ => None,
        };
        let latency = LatencyReport {
            lost: final_clients.lost,
            ..LatencyReport::of(&self.fleet.latency)
        };
        let mut report = Report {
            schema: model::SCHEMA.to_string(),
            command: self.command,
            label: self.label.clone(),
            origin: self.origin.clone(),
            merged: None,
            plan: self.plan.clone(),
            target,
            held,
            time_to_reach: reached_at.map(|d| d.as_secs_f64()),
            kernel: KernelCounts {
                at_top,
                at_end: end_count,
            },
            server_side,
            phantoms,
            listen_counters: counters,
            closes: self.closes(&final_clients),
            clients: final_clients,
            servers: final_servers,
            clients_at_top,
            servers_at_top,
            memory,
            // The clients' traffic (none without clients), scheduled over
            // every connection planned.
            traffic: (self.traffic.as_ref()).map(|t| TrafficSummary::offered(t, self.plan.conns)),
            latency,
            find_limit: self.search.as_mut().and_then(|s| s.found.take()),
            tls: self.tls_report(),
            websocket: self.ws_report(),
            timeline,
            teardown: teardown.as_secs_f64(),
            workers: Workers {
                started,
                closed_cleanly,
                lost: std::mem::take(&mut self.dead),
                killed,
            },
            end: self.end.clone().unwrap_or(End::Completed),
            thresholds: Vec::new(),
            stages,
            reconnect: self.shape.reconnect,
            server_closes: std::mem::take(&mut self.shape.closes),
            verdict: model::Verdict {
                ok: true,
                exit_code: 0,
                reason: None,
            },
        };
        report.thresholds = report::gate::judge(&self.gate, &report);
        report.verdict = judge::verdict(&report);
        if let Some(m) = &report.memory {
            remember_cost(m);
        }
        report::publish(
            &report,
            self.json.as_deref(),
            self.html.as_deref(),
            self.csv.as_deref(),
        )
    }

    /// The report's WebSocket part, when WebSocket was on.
    fn ws_report(&self) -> Option<crate::report::tls::WsReport> {
        let (clients, servers) = self.ws.clone()?;
        Some(crate::report::tls::WsReport {
            clients,
            servers,
            statuses: self
                .fleet
                .ws_statuses()
                .into_iter()
                .map(|(status, count)| crate::report::tls::WsStatus {
                    status,
                    reason: crate::ws::reason(status).to_string(),
                    count,
                    meaning: crate::ws::status_words(status).to_string(),
                })
                .collect(),
            examples: examples(&self.fleet.ws_failures),
        })
    }

    /// The report's TLS part, when TLS was on.
    fn tls_report(&mut self) -> Option<crate::report::tls::TlsReport> {
        let (clients, servers) = self.tls.clone()?;
        Some(crate::report::tls::TlsReport {
            clients,
            servers,
            agreed: self.fleet.tls_agreed.clone(),
            examples: examples(&self.fleet.tls_failures),
        })
    }

    /// How many ends of a connection are c1m's: 2 for `run`.
    fn sides(&self) -> u64 {
        let has_servers = self.fleet.of(Role::Server).next().is_some();
        let has_clients = self.fleet.of(Role::Client).next().is_some();
        u64::from(has_servers) + u64::from(has_clients)
    }
}

/// The workers' first failure of each cause on each side (the fleet's
/// `tls_failures` or `ws_failures`), as the report tells them.
fn examples(
    failures: &[(Role, crate::cause::Cause, String)],
) -> Vec<crate::report::tls::TlsExample> {
    failures
        .iter()
        .map(|(role, cause, detail)| crate::report::tls::TlsExample {
            side: match role {
                Role::Client => "client",
                Role::Server => "server",
            }
            .to_string(),
            cause: *cause,
            detail: detail.clone(),
        })
        .collect()
}

/// The listeners of a reading by address and port (the kernel's dump
/// comes in its hash table's order).
fn listeners_in_order(r: &Reading) -> Vec<model::Listener> {
    let mut out: Vec<model::Listener> = r
        .counts
        .listeners()
        .iter()
        .map(|l| model::Listener {
            addr: l.local,
            accept_queue: l.accept_queue,
            backlog: l.backlog,
        })
        .collect();
    // Several SO_REUSEPORT sockets on one address keep their dump order.
    out.sort_by_key(|l| l.addr);
    out
}

/// The server side of the end reading, for the report.
fn server_side(r: Option<&Reading>) -> ServerSide {
    match r {
        Some(r) if r.counts.is_local() => ServerSide {
            seen: Seen::Local,
            established: Some(r.counts.server().established()),
            accepted: Some(r.counts.accepted()),
            waiting: Some(r.counts.waiting()),
            listeners: listeners_in_order(r),
        },
        _ => ServerSide {
            seen: Seen::Remote,
            established: None,
            accepted: None,
            waiting: None,
            listeners: Vec::new(),
        },
    }
}

/// Records the measured kernel cost per socket for `c1m doctor`'s memory
/// estimate ([`judge::calibration`]). Best effort: a state directory that
/// cannot be written (not root) only means the doctor keeps its default
/// estimate.
fn remember_cost(m: &model::Memory) {
    let Some(per) = judge::calibration(m) else {
        return;
    };
    let cal = c1m_limits::calibration::Calibration {
        kernel_bytes_per_socket: per,
        sockets: m.sockets,
        kernel_release: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
        measured_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };
    let _ = cal.store(&c1m_limits::calibration::default_path());
}

/// The node the kernel readings are taken on: `NODE_NAME` when set
/// (Kubernetes' downward API, `spec.nodeName`), else this host's name.
fn node_name() -> String {
    std::env::var("NODE_NAME")
        .ok()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(c1m_sys::process::host_name)
}

/// Unix seconds of a wall-clock instant (negative before 1970).
pub fn unix_seconds(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}
