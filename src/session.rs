//! Driving a fleet through one experiment: start, ramp, verify, hold,
//! tear down; sampling all along and reporting at the end, however it ends.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::bail;

use crate::cli::FleetOpts;
use crate::fleet::{Event, Fleet, Life, Role};
use crate::latency::{Latency, Percentiles};
use crate::limit::{self, Evidence, Slo};
use crate::measure::{self, Snapshot};
use crate::metrics::{MetricsServer, MetricsSnapshot};
use crate::plan::Plan;
use crate::plan::thousands;
use crate::report::{self, End, LatencyReport, Outcome, Sample, TrafficSummary};
use crate::traffic::Traffic;
use crate::wire::{Spec, Stats, ToWorker};

/// How often the timeline is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);
/// How often a progress line is printed when not on a terminal.
const LOG_EVERY: Duration = Duration::from_secs(1);

/// A capacity search in progress.
pub struct Search {
    pub slo: Option<Slo>,
    pub connect_timeout: Duration,
    netstat_base: Option<c1m_probe::netstat::Netstat>,
    seen_failures: u64,
    seen_closed: u64,
    broke: bool,
    slo_missed: Option<(Slo, u64)>,
    report: Option<FindLimitReport>,
}

impl Search {
    pub fn new(slo: Option<Slo>, connect_timeout: Duration) -> Self {
        Self {
            slo,
            connect_timeout,
            netstat_base: None,
            seen_failures: 0,
            seen_closed: 0,
            broke: false,
            slo_missed: None,
            report: None,
        }
    }
}

/// What a capacity search found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FindLimitReport {
    /// The most connections held at once (summed over client workers).
    pub break_point: u64,
    /// Connections still held once the ramp stopped and settled.
    pub held_after: u64,
    pub slo: Option<Slo>,
    pub diagnosis: limit::Diagnosis,
    pub evidence: Evidence,
}

/// What was held at the top of an experiment.
struct Top {
    verified: Result<measure::Verified, String>,
    snapshot: Snapshot,
    clients: Stats,
    servers: Stats,
}

/// One experiment in progress.
pub struct Session {
    fleet: Fleet,
    plan: Plan,
    label: &'static str,
    start: Instant,
    timeline: Vec<Sample>,
    last_log: Option<Instant>,
    tty: bool,
    end: Option<End>,
    interrupts: u32,
    dead: Vec<String>,
    json: Option<PathBuf>,
    traffic: Option<Traffic>,
    search: Option<Search>,
    metrics: Option<MetricsServer>,
    html: Option<PathBuf>,
    /// Where the sockets live, for the kernel's count (a lab's hosts);
    /// empty: c1m's own namespace.
    namespaces: Vec<String>,
}

impl Session {
    pub fn new(plan: Plan, label: &'static str, fleet: &FleetOpts) -> anyhow::Result<Self> {
        let metrics = match fleet.metrics {
            Some(addr) => {
                crate::metrics::check_addr(addr, fleet.metrics_public)?;
                Some(crate::metrics::serve(addr)?)
            }
            None => None,
        };
        let json = fleet.json.clone();
        let html = fleet.html.clone();
        Ok(Self {
            namespaces: Vec::new(),
            html,
            metrics,
            json,
            traffic: None,
            search: None,
            fleet: Fleet::new()?,
            plan,
            label,
            start: Instant::now(),
            timeline: Vec::new(),
            last_log: None,
            tty: std::io::stderr().is_terminal(),
            end: None,
            interrupts: 0,
            dead: Vec::new(),
        })
    }

    /// Counts sockets in these network namespaces (a lab's hosts).
    pub fn in_namespaces(mut self, namespaces: Vec<String>) -> Self {
        self.namespaces = namespaces;
        self
    }

    /// Makes this experiment a capacity search.
    pub fn search(mut self, s: Search) -> Self {
        self.search = Some(s);
        self
    }

    /// Reacts to what the fleet reported; true when the experiment must end.
    fn handle(&mut self, events: Vec<Event>) -> bool {
        for ev in events {
            match ev {
                Event::Interrupted(sig) => {
                    self.interrupts += 1;
                    if self.interrupts > 1 {
                        eprintln!("\nc1m: interrupted again; killing every worker now");
                        self.fleet.kill_all();
                    }
                    self.end.get_or_insert(End::Interrupted(sig));
                }
                Event::WorkerDied { why, .. } => {
                    self.dead.push(why.clone());
                    self.end.get_or_insert(End::WorkerDied(why));
                }
            }
        }
        self.end.is_some()
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
        let pids = |role| self.fleet.of(role).map(|w| w.pid).collect::<Vec<_>>();
        Snapshot::take(&pids(Role::Server), &pids(Role::Client))
    }

    fn client_side(&self) -> Stats {
        self.fleet.totals(Role::Client)
    }

    /// Adds a point to the timeline; returns the latency recorded since
    /// the last one.
    fn sample(&mut self, phase: &'static str) -> Latency {
        let t = self.start.elapsed().as_secs_f64();
        let clients = self.fleet.totals(Role::Client);
        let servers = self.fleet.totals(Role::Server);
        let snap = measure::quick(&self.fleet.pids());
        let recent = self.fleet.take_recent();
        let rtt = Percentiles::of(&recent.rtt);
        self.timeline.push(Sample {
            t,
            phase,
            established: clients.established,
            server_established: servers.established,
            connecting: clients.connecting,
            failed: clients.failed.total() + servers.failed.total(),
            mem_available: snap.mem_available,
            slab: snap.slab,
            rss: snap.rss,
            sent: clients.sent,
            replies: clients.replies,
            rtt_p50_us: rtt.map(|p| p.p50),
            rtt_p99_us: rtt.map(|p| p.p99),
            rtt_max_us: rtt.map(|p| p.max),
        });
        if let Some(m) = &self.metrics {
            m.update(&MetricsSnapshot::of_fleet(&self.fleet));
        }
        recent
    }

    fn progress(&mut self, phase: &'static str, ramp_start: Instant) {
        let now = Instant::now();
        if !self.tty && self.last_log.is_some_and(|t| now - t < LOG_EVERY) {
            return;
        }
        self.last_log = Some(now);
        let line = report::progress_line(
            phase,
            &self.plan,
            &self.timeline,
            ramp_start.duration_since(self.start),
        );
        if self.tty {
            eprint!("\r\x1b[2K{line}");
        } else {
            eprintln!("{line}");
        }
    }

    /// Runs the whole experiment and prints its report.
    pub fn drive(
        mut self,
        servers: Vec<Spec>,
        clients: Vec<Spec>,
        hold: Option<Duration>,
    ) -> anyhow::Result<ExitCode> {
        for w in &self.plan.warnings {
            eprintln!("c1m: warning: {w}");
        }
        eprintln!(
            "{}",
            report::plan_line(self.label, &self.plan, servers.len(), clients.len())
        );
        let has_clients = !clients.is_empty();
        self.traffic = clients.iter().find_map(|c| match c {
            Spec::Client { traffic, .. } => Some(traffic.clone()),
            Spec::Server { .. } => None,
        });
        for s in servers {
            self.fleet.spawn(Role::Server, s)?;
        }
        let mut ok = self.await_ready(Role::Server)?;
        if ok {
            for c in clients {
                self.fleet.spawn(Role::Client, c)?;
            }
            ok = self.await_ready(Role::Client)?;
        }
        if !ok {
            return self.finish(None, None, None);
        }
        let baseline = self.snapshot();
        if let Some(s) = self.search.as_mut() {
            s.netstat_base = c1m_probe::netstat::read(std::path::Path::new("/proc")).ok();
        }
        // Ramp.
        let ramp_start = Instant::now();
        self.fleet.tell(Role::Client, &ToWorker::Go);
        let timed_ramp = self.search.as_ref().is_some_and(|s| s.slo.is_some());
        if timed_ramp {
            self.fleet.tell(Role::Client, &ToWorker::Beat);
        }
        let mut reached_at = None;
        while has_clients && self.end.is_none() {
            let ev = self.fleet.poll(SAMPLE_EVERY)?;
            if self.handle(ev) {
                break;
            }
            let recent = self.sample("ramp");
            self.progress("ramp", ramp_start);
            if self.search.is_some() && self.search_broke(&recent) {
                self.stop_ramp()?;
                break;
            }
            if self.fleet.of(Role::Client).all(|w| w.stats.ramp_done()) {
                reached_at = Some(ramp_start.elapsed());
                break;
            }
        }
        // Verify and measure at the top (clients), or at the end of the
        // hold (a server alone has no top), or when interrupted: whatever
        // was held then.
        let mut top = None;
        if has_clients && self.end.is_none() {
            top = Some(self.measure_top()?);
            self.conclude_search(top.as_ref());
        }
        // Hold.
        if !timed_ramp {
            self.fleet.tell(Role::Client, &ToWorker::Beat);
        }
        let deadline = hold.map(|h| Instant::now() + h);
        while self.end.is_none() && deadline.is_none_or(|d| Instant::now() < d) {
            let ev = self.fleet.poll(SAMPLE_EVERY)?;
            if self.handle(ev) {
                break;
            }
            self.sample("hold");
            self.progress("hold", ramp_start);
        }
        if self.tty {
            eprintln!();
        }
        if top.is_none() && !matches!(self.end, Some(End::WorkerDied(_))) {
            top = Some(self.measure_top()?);
        }
        self.finish(Some(baseline), top, reached_at)
    }

    /// Whether the capacity search should stop: a failure, a peer closing,
    /// or the latency objective missed since the last sample.
    fn search_broke(&mut self, recent: &Latency) -> bool {
        let c = self.client_side();
        let Some(s) = self.search.as_mut() else {
            return false;
        };
        let (failures, closed) = (c.failed.total(), c.peer_closed);
        let (new_f, new_c) = (failures - s.seen_failures, closed - s.seen_closed);
        s.seen_failures = failures;
        s.seen_closed = closed;
        let slo = s.slo.map(|slo| {
            let v = if slo.quantile >= 1.0 {
                recent.rtt.max()
            } else {
                recent.rtt.value_at_quantile(slo.quantile)
            };
            (slo, v, recent.rtt.len())
        });
        let broke = limit::broke(new_f, new_c, slo);
        if broke
            && let Some((slo, v, _)) =
                slo.filter(|(s, v, n)| *n >= 20 && *v > s.max.as_micros() as u64)
        {
            s.slo_missed = Some((slo, v));
        }
        s.broke = s.broke || broke;
        broke
    }

    /// Stops opening connections and waits for the handshakes under way
    /// to end and the peer's closes to land.
    fn stop_ramp(&mut self) -> anyhow::Result<()> {
        self.fleet.tell(Role::Client, &ToWorker::Pause);
        let patience = self
            .search
            .as_ref()
            .map_or(Duration::ZERO, |s| s.connect_timeout);
        let deadline = Instant::now() + patience + Duration::from_secs(2);
        while Instant::now() < deadline {
            let ev = self.fleet.poll(Duration::from_millis(100))?;
            if self.handle(ev) {
                return Ok(());
            }
            if self.fleet.of(Role::Client).all(|w| w.stats.ramp_done()) {
                break;
            }
        }
        // Closes by the server come just after its accepts.
        let quiet = Instant::now() + Duration::from_secs(1);
        while Instant::now() < quiet {
            let ev = self.fleet.poll(Duration::from_millis(100))?;
            if self.handle(ev) {
                break;
            }
        }
        self.sample("ramp");
        Ok(())
    }

    /// Reads the evidence of a capacity search and diagnoses it.
    fn conclude_search(&mut self, top: Option<&Top>) {
        let c = self.client_side();
        let Some(s) = self.search.as_mut() else {
            return;
        };
        let held = match top.map(|t| &t.verified) {
            Some(Ok(v)) => v.client_side,
            _ => c.established,
        };
        // A server at its cap may close old connections to take new ones
        // (nginx drains idle ones): the most held at once is the limit.
        let peak = c.peak.max(held);
        let now = c1m_probe::netstat::read(std::path::Path::new("/proc")).ok();
        let delta = |key: &str| match (&now, &s.netstat_base) {
            (Some(a), Some(b)) => a
                .get("TcpExt", key)
                .unwrap_or(0)
                .saturating_sub(b.get("TcpExt", key).unwrap_or(0)),
            _ => 0,
        };
        let evidence = Evidence {
            held: peak,
            failed: c.failed,
            peer_closed: c.peer_closed,
            listen_overflows: delta("ListenOverflows"),
            listen_drops: delta("ListenDrops"),
            memory_pressures: delta("TCPMemoryPressures"),
            slo_missed: s.slo_missed,
        };
        let diagnosis = if s.broke {
            limit::diagnose(&evidence)
        } else {
            limit::Diagnosis {
                limit: limit::Limit::NotReached,
                explanation: format!("no limit reached: {} connections held", thousands(held)),
            }
        };
        s.report = Some(FindLimitReport {
            break_point: peak,
            held_after: held,
            slo: s.slo,
            diagnosis,
            evidence,
        });
    }

    /// The kernel's own count and a full snapshot, once the servers have
    /// caught up with the clients.
    fn measure_top(&mut self) -> anyhow::Result<Top> {
        self.settle(Duration::from_secs(10))?;
        let clients = self.client_side();
        let servers = self.fleet.totals(Role::Server);
        Ok(Top {
            verified: measure::count_established(&self.plan, &self.namespaces)
                .map_err(|e| format!("{e:#}")),
            snapshot: self.snapshot(),
            clients,
            servers,
        })
    }

    /// Waits (briefly) until the servers hold what the clients hold.
    fn settle(&mut self, limit: Duration) -> anyhow::Result<()> {
        if self.fleet.of(Role::Server).next().is_none() {
            return Ok(());
        }
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            let c = self.client_side().established;
            let s = self.fleet.totals(Role::Server).established;
            if s >= c || self.client_side().planned == 0 {
                break;
            }
            let ev = self.fleet.poll(Duration::from_millis(100))?;
            if self.handle(ev) {
                break;
            }
        }
        Ok(())
    }

    fn finish(
        mut self,
        baseline: Option<Snapshot>,
        top: Option<Top>,
        reached_at: Option<Duration>,
    ) -> anyhow::Result<ExitCode> {
        let at_top = match &top {
            Some(t) => (t.clients, t.servers),
            None => (self.client_side(), self.fleet.totals(Role::Server)),
        };
        let mut held = at_top.0.established.max(at_top.1.established);
        if self.plan.clients.is_empty() {
            // A server alone has no top: report the most it held.
            let peak = self.timeline.iter().map(|s| s.server_established).max();
            held = held.max(peak.unwrap_or(0));
        }
        // Tear down: clients first (their RSTs free the servers' sockets),
        // then servers; anything that does not close in time is killed.
        let teardown = Instant::now();
        let ev = self.fleet.close(Role::Client, CLOSE_TIMEOUT)?;
        self.handle(ev);
        let ev = self.fleet.close(Role::Server, CLOSE_TIMEOUT)?;
        self.handle(ev);
        let teardown = teardown.elapsed();
        self.sample("teardown");
        let workers_closed = self
            .fleet
            .workers
            .iter()
            .filter(|w| w.life == Life::Closed)
            .count();
        let workers = self.fleet.workers.len();
        let final_clients = self.fleet.totals(Role::Client);
        let final_servers = self.fleet.totals(Role::Server);
        self.fleet.kill_all();
        let memory = match (&baseline, &top) {
            (Some(b), Some(t)) => {
                // Sockets the kernel holds for us: both ends when they are
                // both on this machine, as the kernel's own count shows.
                let sockets = match &t.verified {
                    Ok(v) => v.server_side + v.client_side,
                    Err(_) => held * self.sides(),
                };
                Some(measure::memory_report(b, &t.snapshot, held, sockets))
            }
            _ => None,
        };
        let out = Outcome {
            label: self.label,
            plan: self.plan.clone(),
            target: self.plan.conns,
            reached: held,
            time_to_reach: reached_at,
            clients: final_clients,
            servers: final_servers,
            clients_at_top: at_top.0,
            servers_at_top: at_top.1,
            verified: top.map(|t| t.verified),
            memory,
            traffic: self.traffic.as_ref().map(TrafficSummary::of),
            find_limit: self.search.as_mut().and_then(|s| s.report.take()),
            latency: LatencyReport::of(&self.fleet.latency),
            timeline: std::mem::take(&mut self.timeline),
            teardown,
            workers,
            workers_closed,
            dead: std::mem::take(&mut self.dead),
            end: self.end.clone().unwrap_or(End::Completed),
        };
        println!("{}", report::summary(&out));
        if let Some(m) = &out.memory {
            remember_cost(m);
        }
        if let Some(path) = &self.json {
            report::write_json(path, &out)?;
        }
        if let Some(path) = &self.html {
            report::write_html(path, &out)?;
        }
        Ok(report::exit_code(&out))
    }

    /// How many ends of a connection are c1m's: 2 for `run`.
    fn sides(&self) -> u64 {
        let has_servers = self.fleet.of(Role::Server).next().is_some();
        let has_clients = self.fleet.of(Role::Client).next().is_some();
        u64::from(has_servers) + u64::from(has_clients)
    }
}

const START_TIMEOUT: Duration = Duration::from_secs(30);
const CLOSE_TIMEOUT: Duration = Duration::from_secs(60);

/// Sockets a run must have held for its per-socket cost to be remembered.
const CALIBRATION_MIN_SOCKETS: u64 = 10_000;

/// Records the measured kernel cost per socket for `c1m doctor`'s memory
/// estimate. Best effort: a state directory that cannot be written (not
/// root) only means the doctor keeps its default estimate.
fn remember_cost(m: &measure::MemoryReport) {
    let Some(per) = m.kernel_per_socket() else {
        return;
    };
    if m.sockets < CALIBRATION_MIN_SOCKETS || per <= 0.0 {
        return;
    }
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
